/*
 * test/unit/harness.h - what the unit tests that talk to a local python server share.
 *
 * test_client, test_informer and test_lease script test/data/fakeapi/server.py;
 * test_http and test_notify start servers of their own. Each used to carry its own
 * copy of the same harness: start a python helper and read its port(s), stop it,
 * talk to the fake API's control paths (/_reset, /_script, /_log), build JSON
 * scripts with a string builder, capture the log in memory, and fail a test whose
 * loop does not finish with a watchdog timer. One copy lives here (harness.c); the
 * tests keep what is theirs (fixtures, scripted objects, checks).
 *
 * Every function asserts with cmocka: a failure here fails the calling test.
 * Include after <cmocka.h> (and the headers it needs).
 */
#ifndef KL_TEST_HARNESS_H
#define KL_TEST_HARNESS_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include <uv.h>

#include "kubeclient/client.h"
#include "kubeclient/json.h"
#include "util/log.h"

/* ---------------------------------------------------------------- strings */

/* A growing string; zero-initialise, append with th_sb_add(), free with th_sb_free(). */
struct th_sb {
	char *s;
	size_t len, cap;
};

void th_sb_add(struct th_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void th_sb_free(struct th_sb *b);

/* ---------------------------------------------------------------- python helpers */

/*
 * Starts "python3 $KL_TEST_DATA/<script> [args...]" (args end with NULL) with its
 * stdout on a pipe, reads the first line it prints ("PORT 1234") into line and
 * returns its pid. The helper gets SIGTERM when the test process dies. The *_proxy
 * variables are unset first: libcurl honours them, and these requests are local.
 */
pid_t th_python_start(char *line, size_t size, const char *script, ...) __attribute__((sentinel));

/* SIGTERM to a helper from th_python_start(), and waits for it. */
void th_python_stop(pid_t pid);

/* ---------------------------------------------------------------- the fake API server */

/* test/data/fakeapi/server.py */
struct th_fakeapi {
	pid_t pid;
	int port;
};

/* cmocka group setup/teardown: *state is a struct th_fakeapi *. */
int th_fakeapi_setup(void **state);
int th_fakeapi_teardown(void **state);

/* A blocking control request (before or after the loop runs); returns the body (free it). */
char *th_fakeapi_ctl(const struct th_fakeapi *s, const char *method, const char *path,
		     const char *body);

/* A client config for the server: url (written here, size bytes) and token "t". */
void th_fakeapi_config(const struct th_fakeapi *s, char *url, size_t size,
		       struct kl_kube_config *cfg);

/* Forgets the script and the log. */
void th_fakeapi_reset(const struct th_fakeapi *s);

/* Posts {'rules':[...]} written with ' for "; frees b. */
void th_fakeapi_script(const struct th_fakeapi *s, struct th_sb *b);

/* Fetches GET /_log and hands the parsed document (an array) to cb. */
void th_fakeapi_log_parse(const struct th_fakeapi *s, kl_json_cb cb, void *arg);

/* What the server was asked (method, path, query, auth, user agent, Accept, parameters). */
#define TH_NPARAMS 16

struct th_logent {
	char method[16], path[256], query[1024], auth[256], ua[128], accept[128];
	int nparams;
	struct {
		char name[64], value[512];
	} params[TH_NPARAMS];
};

struct th_log {
	struct th_logent *e;
	size_t n;
};

void th_log_fetch(const struct th_fakeapi *s, struct th_log *l);
void th_log_free(struct th_log *l);

/* A query parameter of a logged request (decoded), or NULL. */
const char *th_param(const struct th_logent *e, const char *name);

/* ---------------------------------------------------------------- log, watchdog */

/* A text log (verbosity 2) into memory: *buf and *len after fflush(*f); fclose, then free *buf. */
void th_memlog_open(struct kl_log *log, FILE **f, char **buf, size_t *len);

/*
 * Starts timer (unreferenced: it does not keep the loop alive) to fail the test
 * when it has not finished within ms. The caller closes it with uv_close().
 */
void th_watchdog_start(uv_loop_t *loop, uv_timer_t *timer, unsigned ms);

#endif
