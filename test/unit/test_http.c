/*
 * test/unit/test_http.c - the libcurl/libuv HTTP client against a real local server.
 *
 * The group setup makes three self-signed certificates with openssl (one for
 * localhost and 127.0.0.1, one for DNS names only, one unrelated "wrong" CA) in a
 * temporary directory and starts test/data/http/server.py, which listens with plain
 * HTTP and with HTTPS for each served certificate and prints its ports. Every test
 * runs its own uv loop and client, closes the client (usually from the last done_cb)
 * and asserts that the close callback ran and uv_loop_close() returns 0, so a leaked
 * handle fails the test; the sanitizer build catches leaked or misused memory. The
 * server is python's http.server: HTTP/1.1 only, which is what is tested here.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "kubeclient/http.h"

#include "harness.h"

#define WATCHDOG_MS 20000
#define DNS_ONLY_NAME "apiserver.kloompas.invalid" /* on the DNS-only certificate */
#define BIG_LEN (1 << 20)

/* --------------------------------------------------------------- server */

#define DIR_MAX 1024
#define FILE_MAX (DIR_MAX + 16)

struct server {
	char dir[DIR_MAX];
	char cert[FILE_MAX], key[FILE_MAX];	    /* localhost + 127.0.0.1 */
	char dns_cert[FILE_MAX], dns_key[FILE_MAX]; /* DNS names only, no IP */
	char wrong_ca[FILE_MAX];		    /* signs nothing the server has */
	char *ca_pem;
	size_t ca_pem_len;
	pid_t pid;
	int http_port, https_port, dns_port;
};

static int make_cert(const char *dir, const char *name, const char *san)
{
	char cmd[3 * PATH_MAX];

	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
		 "-addext subjectAltName=%s -keyout '%s/%s.key' -out '%s/%s.crt' 2>/dev/null",
		 san, dir, name, dir, name);
	return system(cmd);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int group_setup(void **state)
{
	struct server *s = calloc(1, sizeof(*s));
	char line[128];

	assert_non_null(s);
	snprintf(s->dir, sizeof(s->dir), "%s/kl-test-http-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(s->dir));
	assert_int_equal(make_cert(s->dir, "srv", "DNS:localhost,IP:127.0.0.1"), 0);
	assert_int_equal(make_cert(s->dir, "dns", "DNS:localhost,DNS:" DNS_ONLY_NAME), 0);
	assert_int_equal(make_cert(s->dir, "wrong", "DNS:localhost,IP:127.0.0.1"), 0);
	snprintf(s->cert, sizeof(s->cert), "%s/srv.crt", s->dir);
	snprintf(s->key, sizeof(s->key), "%s/srv.key", s->dir);
	snprintf(s->dns_cert, sizeof(s->dns_cert), "%s/dns.crt", s->dir);
	snprintf(s->dns_key, sizeof(s->dns_key), "%s/dns.key", s->dir);
	snprintf(s->wrong_ca, sizeof(s->wrong_ca), "%s/wrong.crt", s->dir);
	s->ca_pem = read_file(s->cert, &s->ca_pem_len);

	s->pid = th_python_start(line, sizeof(line), "http/server.py", s->cert, s->key, s->dns_cert,
				 s->dns_key, (char *)NULL);
	assert_int_equal(
	    sscanf(line, "PORTS %d %d %d", &s->http_port, &s->https_port, &s->dns_port), 3);
	*state = s;
	return 0;
}

static int group_teardown(void **state)
{
	struct server *s = *state;
	char cmd[DIR_MAX + 16];

	if (!s)
		return 0; /* the setup failed before starting anything */
	th_python_stop(s->pid);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", s->dir);
	free(s->ca_pem);
	free(s);
	return 0;
}

/* ---------------------------------------------------------- loop fixture */

struct tctx {
	uv_loop_t loop;
	uv_timer_t watchdog;
	struct kl_http *h;
	struct kl_log log;
	FILE *logf;
	char *logbuf;
	size_t loglen;
	struct server *srv;
	struct kl_http_tls tls; /* see tls_srv() */
	int pending;		/* requests started and not yet done */
	bool auto_close;	/* close the client when pending drops to 0 */
	bool closed;
	struct kl_http_stats st; /* the client's, at the last done_cb */
};

struct rec;
typedef void (*rec_hook)(struct rec *r);

/* What one request saw. */
struct rec {
	struct tctx *t;
	struct kl_http_req *req;
	char *body;
	size_t len;
	int ndata, ndone;
	int data_code; /* status_code at the last data_cb */
	int bad_data_code;
	int status, code, retry;
	int version; /* kl_http_last_version() in done_cb */
	char msg[256];
	int abort_with; /* data_cb returns this on its first call */
	rec_hook on_data, on_done;
	void *hook_arg;
	uint64_t started, finished; /* uv_now */
	uint64_t wakeups;	    /* the client's socket wake-ups at a hook */
	bool close_client;	    /* act_while_resting closes the client */
};

static void on_closed(void *arg)
{
	struct tctx *t = arg;

	assert_false(t->closed);
	t->closed = true;
}

static void ctx_init(struct tctx *t, void **state)
{
	memset(t, 0, sizeof(*t));
	t->srv = *state;
	t->auto_close = true;
	assert_int_equal(uv_loop_init(&t->loop), 0);
	th_memlog_open(&t->log, &t->logf, &t->logbuf, &t->loglen);
	t->h = kl_http_new(&t->loop, &t->log);
	assert_non_null(t->h);
	th_watchdog_start(&t->loop, &t->watchdog, WATCHDOG_MS);
}

/* Runs until the client is closed and every handle is gone. */
static void ctx_run(struct tctx *t)
{
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_true(t->closed);
	assert_int_equal(t->pending, 0);
	uv_close((uv_handle_t *)&t->watchdog, NULL);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	fflush(t->logf);
}

static void ctx_free(struct tctx *t)
{
	fclose(t->logf);
	free(t->logbuf);
}

static void rec_free(struct rec *r)
{
	free(r->body);
	r->body = NULL;
}

static int on_data(void *arg, int status_code, const char *buf, size_t len)
{
	struct rec *r = arg;
	char *nb;

	assert_int_equal(r->ndone, 0);
	r->ndata++;
	if (status_code < 100)
		r->bad_data_code++;
	r->data_code = status_code;
	nb = realloc(r->body, r->len + len + 1);
	assert_non_null(nb);
	r->body = nb;
	memcpy(r->body + r->len, buf, len);
	r->len += len;
	r->body[r->len] = '\0';
	if (r->on_data)
		r->on_data(r);
	if (r->abort_with && r->ndata == 1)
		return r->abort_with;
	return 0;
}

static void on_done(void *arg, int status, int status_code, int retry_after_s, const char *msg)
{
	struct rec *r = arg;
	struct tctx *t = r->t;

	r->ndone++;
	r->status = status;
	r->code = status_code;
	r->retry = retry_after_s;
	r->version = kl_http_last_version(t->h);
	kl_http_stats(t->h, &t->st);
	assert_non_null(msg);
	snprintf(r->msg, sizeof(r->msg), "%s", msg);
	r->finished = uv_now(&t->loop);
	r->req = NULL;
	if (r->on_done)
		r->on_done(r);
	t->pending--;
	if (t->pending == 0 && t->auto_close)
		kl_http_close(t->h, on_closed, t);
}

/* "scheme://127.0.0.1:port/path" on the plain, verified or DNS-only-cert server */
enum target { PLAIN, TLS, TLS_DNS };

static void url(const struct tctx *t, enum target to, const char *path, char *buf, size_t n)
{
	const struct server *s = t->srv;
	int port = to == PLAIN ? s->http_port : to == TLS ? s->https_port : s->dns_port;

	snprintf(buf, n, "%s://127.0.0.1:%d%s", to == PLAIN ? "http" : "https", port, path);
}

/* TLS settings are borrowed until done: this one lives as long as the test */
static const struct kl_http_tls *tls_srv(struct tctx *t)
{
	memset(&t->tls, 0, sizeof(t->tls));
	t->tls.ca_file = t->srv->cert;
	return &t->tls;
}

/* Starts a request with o (method, tls, ... filled in by the caller) to target/path. */
static void start_opts(struct tctx *t, struct rec *r, struct kl_http_opts *o, enum target to,
		       const char *path)
{
	char u[256];
	int rc;

	r->t = t;
	r->started = uv_now(&t->loop);
	url(t, to, path, u, sizeof(u));
	o->url = u;
	if (!o->method)
		o->method = "GET";
	rc = kl_http_request(t->h, o, on_data, on_done, r, &r->req);
	assert_int_equal(rc, 0);
	assert_non_null(r->req);
	t->pending++;
}

static void start(struct tctx *t, struct rec *r, const char *method, enum target to,
		  const char *path)
{
	struct kl_http_opts o = {.method = method};

	if (to == TLS)
		o.tls = tls_srv(t);
	start_opts(t, r, &o, to, path);
}

static void assert_ok(const struct rec *r, int code, const char *body)
{
	assert_int_equal(r->ndone, 1);
	assert_string_equal(r->msg, "");
	assert_int_equal(r->status, 0);
	assert_int_equal(r->code, code);
	if (body) {
		assert_non_null(r->body);
		assert_string_equal(r->body, body);
	}
	assert_int_equal(r->bad_data_code, 0);
}

static void assert_failed(const struct rec *r, int status)
{
	assert_int_equal(r->ndone, 1);
	assert_int_equal(r->status, status);
	assert_true(r->msg[0] != '\0');
}

/* ----------------------------------------------------------------- tests */

static void test_get_plain(void **state)
{
	struct tctx t;
	struct rec r = {0};

	ctx_init(&t, state);
	assert_int_equal(kl_http_last_version(t.h), 0);
	start(&t, &r, "GET", PLAIN, "/hello?labelSelector=app%3Dx");
	/* never synchronous: nothing can have happened before the loop runs */
	assert_int_equal(r.ndata + r.ndone, 0);
	ctx_run(&t);
	assert_int_equal(r.version, 11);

	assert_ok(&r, 200, "hello\n");
	assert_int_equal(r.retry, -1);
	assert_int_equal(r.data_code, 200);
	/* one line when started, one when done; the path without the query */
	assert_non_null(strstr(t.logbuf, "component=http msg=request method=GET path=/hello\n"));
	assert_non_null(strstr(t.logbuf, "msg=\"request done\" method=GET path=/hello status=0 "
					 "code=200\n"));
	assert_null(strstr(t.logbuf, "labelSelector"));
	rec_free(&r);
	ctx_free(&t);
}

/* Methods, bodies (binary too), headers, user agent - and no header in the log. */
static void test_methods_echo(void **state)
{
	static const char *const hdrs[] = {"X-Test: one", "Content-Type: application/json",
					   "Authorization: Bearer sekrit-token", NULL};
	static const char bin[] = {'a', '\0', 'b'};
	struct tctx t;
	struct rec post = {0}, patch = {0}, put = {0}, del = {0}, nul = {0};
	struct kl_http_opts o;
	const char *p;

	ctx_init(&t, state);
	o = (struct kl_http_opts){.method = "POST",
				  .headers = hdrs,
				  .body = "{\"a\":1}",
				  .body_len = 7,
				  .user_agent = "kloompas-test/1",
				  .tls = tls_srv(&t)};
	start_opts(&t, &post, &o, TLS, "/echo");
	o = (struct kl_http_opts){
	    .method = "PATCH", .headers = hdrs, .body = "[1,2]", .body_len = 5, .tls = &t.tls};
	start_opts(&t, &patch, &o, TLS, "/echo");
	/* PUT without a body still says Content-Length: 0 */
	o = (struct kl_http_opts){.method = "PUT", .tls = &t.tls};
	start_opts(&t, &put, &o, TLS, "/echo");
	o = (struct kl_http_opts){.method = "DELETE", .tls = &t.tls};
	start_opts(&t, &del, &o, TLS, "/echo");
	o = (struct kl_http_opts){
	    .method = "POST", .body = bin, .body_len = sizeof(bin), .tls = &t.tls};
	start_opts(&t, &nul, &o, TLS, "/echo");
	ctx_run(&t);

	assert_ok(&post, 200, NULL);
	assert_non_null(strstr(post.body, "method=POST\n"));
	assert_non_null(strstr(post.body, "x-test=one\n"));
	assert_non_null(strstr(post.body, "content-type=application/json\n"));
	assert_non_null(strstr(post.body, "authorization=Bearer sekrit-token\n"));
	assert_non_null(strstr(post.body, "user-agent=kloompas-test/1\n"));
	assert_non_null(strstr(post.body, "body-length=7\n\n{\"a\":1}"));
	assert_ok(&patch, 200, NULL);
	assert_non_null(strstr(patch.body, "method=PATCH\n"));
	assert_non_null(strstr(patch.body, "body-length=5\n\n[1,2]"));
	assert_ok(&put, 200, NULL);
	assert_non_null(strstr(put.body, "method=PUT\n"));
	assert_non_null(strstr(put.body, "body-length=0\n\n"));
	assert_ok(&del, 200, NULL);
	assert_non_null(strstr(del.body, "method=DELETE\n"));
	assert_ok(&nul, 200, NULL);
	p = strstr(nul.body, "body-length=3\n\n");
	assert_non_null(p);
	p += strlen("body-length=3\n\n");
	assert_int_equal(nul.len, (size_t)(p - nul.body) + sizeof(bin)); /* "a\0b" whole */
	assert_memory_equal(p, bin, sizeof(bin));

	assert_non_null(strstr(t.logbuf, "method=PATCH path=/echo"));
	assert_null(strstr(t.logbuf, "sekrit"));
	assert_null(strstr(t.logbuf, "X-Test"));
	rec_free(&post);
	rec_free(&patch);
	rec_free(&put);
	rec_free(&del);
	rec_free(&nul);
	ctx_free(&t);
}

static void test_basic_auth(void **state)
{
	struct tctx t;
	struct rec r = {0};
	struct kl_http_opts o;

	ctx_init(&t, state);
	o = (struct kl_http_opts){
	    .method = "GET", .basic_user = "alice", .basic_password = "s3cret", .tls = tls_srv(&t)};
	start_opts(&t, &r, &o, TLS, "/echo");
	ctx_run(&t);
	assert_ok(&r, 200, NULL);
	/* base64("alice:s3cret") */
	assert_non_null(strstr(r.body, "authorization=Basic YWxpY2U6czNjcmV0\n"));
	assert_null(strstr(t.logbuf, "s3cret"));
	rec_free(&r);
	ctx_free(&t);
}

/* The server sends five pieces 100 ms apart: they must arrive as they come. */
static void test_stream(void **state)
{
	struct tctx t;
	struct rec r = {0};

	ctx_init(&t, state);
	start(&t, &r, "GET", TLS, "/stream");
	ctx_run(&t);
	assert_ok(&r, 200, "piece-0\npiece-1\npiece-2\npiece-3\npiece-4\n");
	assert_true(r.ndata >= 4);
	assert_true(r.finished - r.started >= 350);
	rec_free(&r);
	ctx_free(&t);
}

static void test_retry_after(void **state)
{
	struct tctx t;
	struct rec r429 = {0}, r503 = {0}, r200 = {0};

	ctx_init(&t, state);
	start(&t, &r429, "GET", PLAIN, "/status/429");
	start(&t, &r503, "GET", PLAIN, "/retry-date");
	start(&t, &r200, "GET", PLAIN, "/hello");
	ctx_run(&t);
	/* an HTTP error status is a complete response: status 0 */
	assert_ok(&r429, 429, "status 429\n");
	assert_int_equal(r429.retry, 7);
	assert_ok(&r503, 503, "later\n");
	assert_in_range(r503.retry, 25, 31);
	assert_int_equal(r200.retry, -1);
	rec_free(&r429);
	rec_free(&r503);
	rec_free(&r200);
	ctx_free(&t);
}

static void test_big(void **state)
{
	struct tctx t;
	struct rec r = {0};
	size_t i, bad = 0;

	ctx_init(&t, state);
	start(&t, &r, "GET", TLS, "/big");
	ctx_run(&t);
	assert_ok(&r, 200, NULL);
	assert_int_equal(r.len, BIG_LEN);
	for (i = 0; i < r.len; i++)
		bad += (unsigned char)r.body[i] != i % 251;
	assert_int_equal(bad, 0);
	assert_true(r.ndata > 1);
	rec_free(&r);
	ctx_free(&t);
}

static void test_tls(void **state)
{
	struct tctx t;
	struct rec file = {0}, blob = {0}, wrong = {0}, sys = {0}, insecure = {0};
	struct rec bad_blob = {0};
	struct kl_http_tls tb, tw, ti, tbb;
	struct kl_http_opts o;

	ctx_init(&t, state);
	o = (struct kl_http_opts){.method = "GET", .tls = tls_srv(&t)};
	start_opts(&t, &file, &o, TLS, "/hello");
	tb = (struct kl_http_tls){.ca_data = t.srv->ca_pem, .ca_data_len = t.srv->ca_pem_len};
	o = (struct kl_http_opts){.method = "GET", .tls = &tb};
	start_opts(&t, &blob, &o, TLS, "/hello");
	tw = (struct kl_http_tls){.ca_file = t.srv->wrong_ca};
	o = (struct kl_http_opts){.method = "GET", .tls = &tw};
	start_opts(&t, &wrong, &o, TLS, "/hello");
	/* the system roots do not know a self-signed test certificate */
	o = (struct kl_http_opts){.method = "GET"};
	start_opts(&t, &sys, &o, TLS, "/hello");
	ti = (struct kl_http_tls){.insecure = true};
	o = (struct kl_http_opts){.method = "GET", .tls = &ti};
	start_opts(&t, &insecure, &o, TLS, "/hello");
	/* a blob is used only for its length: a cut one is no CA */
	tbb = (struct kl_http_tls){.ca_data = t.srv->ca_pem, .ca_data_len = 100};
	o = (struct kl_http_opts){.method = "GET", .tls = &tbb};
	start_opts(&t, &bad_blob, &o, TLS, "/hello");
	ctx_run(&t);

	assert_ok(&file, 200, "hello\n");
	assert_ok(&blob, 200, "hello\n");
	assert_failed(&wrong, -EPROTO);
	assert_int_equal(wrong.ndata, 0);
	assert_failed(&sys, -EPROTO);
	assert_ok(&insecure, 200, "hello\n");
	assert_failed(&bad_blob, -EPROTO);
	rec_free(&file);
	rec_free(&blob);
	rec_free(&wrong);
	rec_free(&sys);
	rec_free(&insecure);
	rec_free(&bad_blob);
	ctx_free(&t);
}

/*
 * The DNS-only certificate fails for 127.0.0.1 unless tls_server_name names it. The
 * .invalid name resolves nowhere: only CURLOPT_CONNECT_TO gets the socket to the server.
 */
static void test_tls_server_name(void **state)
{
	static const char *const names[] = {"localhost", DNS_ONLY_NAME};
	struct tctx t;
	struct rec plain = {0}, named[2] = {{0}};
	struct kl_http_tls tp, tn[2];
	struct kl_http_opts o;
	char host[128];
	int i;

	ctx_init(&t, state);
	tp = (struct kl_http_tls){.ca_file = t.srv->dns_cert};
	o = (struct kl_http_opts){.method = "GET", .tls = &tp};
	start_opts(&t, &plain, &o, TLS_DNS, "/echo");
	for (i = 0; i < 2; i++) {
		tn[i] =
		    (struct kl_http_tls){.ca_file = t.srv->dns_cert, .tls_server_name = names[i]};
		o = (struct kl_http_opts){.method = "GET", .tls = &tn[i]};
		start_opts(&t, &named[i], &o, TLS_DNS, "/echo");
	}
	ctx_run(&t);

	assert_failed(&plain, -EPROTO);
	rec_free(&plain);
	for (i = 0; i < 2; i++) {
		assert_ok(&named[i], 200, NULL);
		snprintf(host, sizeof(host), "host=%s:%d\n", names[i], t.srv->dns_port);
		assert_non_null(strstr(named[i].body, host));
		rec_free(&named[i]);
	}
	ctx_free(&t);
}

/* A port that was just bound and closed again refuses connections. */
static int closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void test_errors(void **state)
{
	struct tctx t;
	struct rec refused = {0}, timeout = {0}, cut = {0}, cut_tls = {0};
	struct kl_http_opts o = {.method = "GET"};
	struct kl_http_tls tls;
	char u[64];
	struct kl_http_req *req = NULL;

	ctx_init(&t, state);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/hello", closed_port());
	o.url = u;
	refused.t = &t;
	assert_int_equal(kl_http_request(t.h, &o, on_data, on_done, &refused, NULL), 0);
	t.pending++;
	o = (struct kl_http_opts){.method = "GET", .timeout_ms = 300};
	start_opts(&t, &timeout, &o, PLAIN, "/hang");
	start(&t, &cut, "GET", PLAIN, "/cut");
	start(&t, &cut_tls, "GET", TLS, "/cut");

	/* failed calls return an error and never call done_cb */
	o = (struct kl_http_opts){.method = "GET", .url = "no scheme here"};
	assert_int_equal(kl_http_request(t.h, &o, on_data, on_done, NULL, &req), -EINVAL);
	o = (struct kl_http_opts){.method = "GET", .url = "ftp://127.0.0.1/x"};
	assert_int_equal(kl_http_request(t.h, &o, on_data, on_done, NULL, &req), -EINVAL);
	o = (struct kl_http_opts){.url = "http://127.0.0.1/x"};
	assert_int_equal(kl_http_request(t.h, &o, on_data, on_done, NULL, &req), -EINVAL);
	tls = (struct kl_http_tls){.tls_server_name = "localhost"};
	o = (struct kl_http_opts){.method = "GET", .url = "http://", .tls = &tls};
	assert_int_equal(kl_http_request(t.h, &o, on_data, on_done, NULL, &req), -EINVAL);
	assert_null(req);
	ctx_run(&t);

	assert_failed(&refused, -ECONNREFUSED);
	assert_failed(&timeout, -ETIMEDOUT);
	assert_in_range(timeout.finished - timeout.started, 250, 5000);
	assert_failed(&cut, -ECONNRESET);
	assert_int_equal(cut.code, 200);
	assert_string_equal(cut.body, "0123456789");
	assert_failed(&cut_tls, -ECONNRESET);
	rec_free(&refused);
	rec_free(&timeout);
	rec_free(&cut);
	rec_free(&cut_tls);
	ctx_free(&t);
}

static void on_cancel_timer(uv_timer_t *timer)
{
	struct rec *r = timer->data;

	assert_non_null(r->req);
	kl_http_cancel(r->req);
	kl_http_cancel(r->req); /* twice is once */
	/* done_cb comes later, from the loop, not from inside kl_http_cancel() */
	assert_int_equal(r->ndone, 0);
	uv_close((uv_handle_t *)timer, NULL);
}

static void test_cancel(void **state)
{
	struct tctx t;
	struct rec hang = {0}, early = {0};
	uv_timer_t timer;

	ctx_init(&t, state);
	start(&t, &hang, "GET", TLS, "/hang");
	assert_int_equal(uv_timer_init(&t.loop, &timer), 0);
	timer.data = &hang;
	assert_int_equal(uv_timer_start(&timer, on_cancel_timer, 300, 0), 0);
	/* cancelled before the loop ever ran it */
	start(&t, &early, "GET", TLS, "/hello");
	kl_http_cancel(early.req);
	assert_int_equal(early.ndone, 0);
	ctx_run(&t);

	assert_failed(&hang, -ECANCELED);
	assert_in_range(hang.finished - hang.started, 250, 5000);
	assert_int_equal(hang.ndata, 0);
	assert_failed(&early, -ECANCELED);
	assert_int_equal(early.ndata, 0);
	assert_int_equal(early.code, 0);
	rec_free(&hang);
	rec_free(&early);
	ctx_free(&t);
}

/* From data_cb: cancel itself and another request, start a new one. */
struct cb_test {
	struct rec stream, hang, started_in_data, hello, hang2, big;
	int start_rc;
};

/* 1 MiB arrives in many writes per wake-up: none may follow the cancel */
static void big_on_data(struct rec *r)
{
	if (r->ndata == 1)
		kl_http_cancel(r->req);
}

static void stream_on_data(struct rec *r)
{
	struct cb_test *c = r->hook_arg;
	struct kl_http_opts o = {.method = "GET"};
	char u[128];

	if (r->ndata != 1)
		return;
	kl_http_cancel(r->req);
	kl_http_cancel(c->hang.req);
	url(r->t, PLAIN, "/hello", u, sizeof(u));
	o.url = u;
	c->started_in_data.t = r->t;
	c->start_rc = kl_http_request(r->t->h, &o, on_data, on_done, &c->started_in_data, NULL);
	if (c->start_rc == 0)
		r->t->pending++;
	assert_int_equal(r->ndone + c->hang.ndone, 0);
}

static void hello_on_done(struct rec *r)
{
	struct cb_test *c = r->hook_arg;

	kl_http_cancel(c->hang2.req);
	assert_int_equal(c->hang2.ndone, 0);
}

static void test_cancel_from_callbacks(void **state)
{
	struct tctx t;
	struct cb_test c = {0};

	ctx_init(&t, state);
	c.stream.on_data = stream_on_data;
	c.stream.hook_arg = &c;
	c.hello.on_done = hello_on_done;
	c.hello.hook_arg = &c;
	c.big.on_data = big_on_data;
	start(&t, &c.big, "GET", PLAIN, "/big");
	start(&t, &c.hang, "GET", PLAIN, "/hang");
	start(&t, &c.hang2, "GET", PLAIN, "/hang");
	start(&t, &c.stream, "GET", PLAIN, "/stream");
	start(&t, &c.hello, "GET", PLAIN, "/hello");
	ctx_run(&t);

	assert_failed(&c.stream, -ECANCELED);
	assert_int_equal(c.stream.ndata, 1); /* no data after the cancel */
	assert_failed(&c.hang, -ECANCELED);
	assert_int_equal(c.start_rc, 0);
	assert_ok(&c.started_in_data, 200, "hello\n");
	assert_ok(&c.hello, 200, "hello\n");
	assert_failed(&c.hang2, -ECANCELED);
	assert_failed(&c.big, -ECANCELED);
	assert_int_equal(c.big.ndata, 1);
	rec_free(&c.big);
	rec_free(&c.stream);
	rec_free(&c.hang);
	rec_free(&c.started_in_data);
	rec_free(&c.hello);
	rec_free(&c.hang2);
	ctx_free(&t);
}

static void test_data_abort(void **state)
{
	struct tctx t;
	struct rec r = {0};

	ctx_init(&t, state);
	r.abort_with = -EBADMSG;
	start(&t, &r, "GET", TLS, "/stream");
	ctx_run(&t);
	assert_failed(&r, -EBADMSG);
	assert_int_equal(r.ndata, 1);
	assert_int_equal(r.code, 200);
	rec_free(&r);
	ctx_free(&t);
}

#define NCONC 20

static void test_concurrent(void **state)
{
	static const char *const x[NCONC][2] = {
	    {"X-Test: r0", NULL},  {"X-Test: r1", NULL},  {"X-Test: r2", NULL},
	    {"X-Test: r3", NULL},  {"X-Test: r4", NULL},  {"X-Test: r5", NULL},
	    {"X-Test: r6", NULL},  {"X-Test: r7", NULL},  {"X-Test: r8", NULL},
	    {"X-Test: r9", NULL},  {"X-Test: r10", NULL}, {"X-Test: r11", NULL},
	    {"X-Test: r12", NULL}, {"X-Test: r13", NULL}, {"X-Test: r14", NULL},
	    {"X-Test: r15", NULL}, {"X-Test: r16", NULL}, {"X-Test: r17", NULL},
	    {"X-Test: r18", NULL}, {"X-Test: r19", NULL},
	};
	struct tctx t;
	struct rec r[NCONC] = {{0}};
	struct kl_http_opts o;
	char want[32];
	int i;

	ctx_init(&t, state);
	for (i = 0; i < NCONC; i++) {
		o = (struct kl_http_opts){
		    .method = i % 2 ? "POST" : "GET", .headers = x[i], .tls = tls_srv(&t)};
		start_opts(&t, &r[i], &o, i % 4 == 3 ? PLAIN : TLS, i % 5 ? "/echo" : "/stream");
	}
	ctx_run(&t);
	for (i = 0; i < NCONC; i++) {
		assert_ok(&r[i], 200, NULL);
		if (i % 5) {
			snprintf(want, sizeof(want), "x-test=r%d\n", i);
			assert_non_null(strstr(r[i].body, want));
		} else {
			assert_string_equal(r[i].body,
					    "piece-0\npiece-1\npiece-2\npiece-3\npiece-4\n");
		}
		rec_free(&r[i]);
	}
	ctx_free(&t);
}

#define NHANG 5

struct close_test {
	struct tctx *t;
	struct rec hang[NHANG], stream, unattached;
	int after_close_rc;
};

static void on_close_timer(uv_timer_t *timer)
{
	struct close_test *c = timer->data;
	struct tctx *t = c->t;
	struct kl_http_opts o = {.method = "GET", .url = "http://127.0.0.1:1/"};
	int i;

	/* one more that the loop never gets to attach */
	start(t, &c->unattached, "GET", PLAIN, "/hello");
	kl_http_close(t->h, on_closed, t);
	c->after_close_rc = kl_http_request(t->h, &o, on_data, on_done, NULL, NULL);
	for (i = 0; i < NHANG; i++)
		assert_int_equal(c->hang[i].ndone, 0);
	assert_false(t->closed);
	uv_close((uv_handle_t *)timer, NULL);
}

static void test_close_in_flight(void **state)
{
	struct tctx t;
	struct close_test c = {.t = &t};
	uv_timer_t timer;
	int i;

	ctx_init(&t, state);
	t.auto_close = false;
	for (i = 0; i < NHANG; i++)
		start(&t, &c.hang[i], "GET", i % 2 ? PLAIN : TLS, "/hang");
	start(&t, &c.stream, "GET", TLS, "/stream");
	assert_int_equal(uv_timer_init(&t.loop, &timer), 0);
	timer.data = &c;
	assert_int_equal(uv_timer_start(&timer, on_close_timer, 250, 0), 0);
	ctx_run(&t);

	assert_int_equal(c.after_close_rc, -ESHUTDOWN);
	for (i = 0; i < NHANG; i++) {
		assert_failed(&c.hang[i], -ECANCELED);
		rec_free(&c.hang[i]);
	}
	assert_failed(&c.stream, -ECANCELED);
	assert_true(c.stream.ndata >= 1); /* it was streaming when closed */
	assert_failed(&c.unattached, -ECANCELED);
	assert_int_equal(c.unattached.ndata, 0);
	rec_free(&c.stream);
	rec_free(&c.unattached);
	ctx_free(&t);
}

/* Closing from inside a data_cb, and a client closed without any request. */
static void close_on_data(struct rec *r)
{
	if (r->ndata == 1)
		kl_http_close(r->t->h, on_closed, r->t);
}

static void test_close_from_data_cb(void **state)
{
	struct tctx t, idle;
	struct rec r = {0}, other = {0};

	ctx_init(&t, state);
	t.auto_close = false;
	r.on_data = close_on_data;
	start(&t, &r, "GET", TLS, "/stream");
	start(&t, &other, "GET", PLAIN, "/hang");
	ctx_run(&t);
	assert_failed(&r, -ECANCELED);
	assert_int_equal(r.ndata, 1);
	assert_failed(&other, -ECANCELED);
	rec_free(&r);
	rec_free(&other);
	ctx_free(&t);

	ctx_init(&idle, state);
	kl_http_close(idle.h, on_closed, &idle);
	ctx_run(&idle);
	ctx_free(&idle);
}

/*
 * Trickle mode: /stream's pieces come 100 ms apart; the first small read rests the
 * socket, and the body still arrives whole and in order. Without trickle mode
 * nothing ever rests. (How soon a rested socket is read is not asserted: libcurl's
 * own timers may read it earlier, e.g. its 200 ms connect timer.)
 */
static void test_trickle(void **state)
{
	struct tctx t, plain;
	struct rec r = {0}, p = {0};

	ctx_init(&t, state);
	kl_http_coalesce_reads(t.h, 300);
	start(&t, &r, "GET", TLS, "/stream");
	ctx_run(&t);
	assert_ok(&r, 200, "piece-0\npiece-1\npiece-2\npiece-3\npiece-4\n");
	assert_true(t.st.rests >= 1);
	assert_true(t.st.wakeups >= 2);
	rec_free(&r);
	ctx_free(&t);

	ctx_init(&plain, state);
	start(&plain, &p, "GET", TLS, "/stream");
	ctx_run(&plain);
	assert_ok(&p, 200, "piece-0\npiece-1\npiece-2\npiece-3\npiece-4\n");
	assert_true(plain.st.wakeups >= 2);
	assert_int_equal(plain.st.rests, 0);
	rec_free(&p);
	ctx_free(&plain);
}

/*
 * A request cancelled, or its client closed (r->close_client), while the socket
 * rests: 250 ms after the first piece, two more have come and nothing was polled.
 */
static void act_while_resting(uv_timer_t *timer)
{
	struct rec *r = timer->data;
	struct kl_http_stats st;

	kl_http_stats(r->t->h, &st);
	assert_int_equal(st.rests, 1);
	assert_int_equal(st.wakeups, r->wakeups);
	if (r->close_client)
		kl_http_close(r->t->h, on_closed, r->t);
	else
		kl_http_cancel(r->req);
	uv_close((uv_handle_t *)timer, NULL);
}

static void act_after_first(struct rec *r)
{
	uv_timer_t *timer = r->hook_arg;
	struct kl_http_stats st;

	if (r->ndata != 1)
		return;
	kl_http_stats(r->t->h, &st);
	r->wakeups = st.wakeups;
	assert_int_equal(uv_timer_init(&r->t->loop, timer), 0);
	timer->data = r;
	assert_int_equal(uv_timer_start(timer, act_while_resting, 250, 0), 0);
}

static void test_trickle_cancel_close(void **state)
{
	struct tctx t, c;
	struct rec r = {0}, q = {0};
	uv_timer_t t1, t2;

	ctx_init(&t, state);
	kl_http_coalesce_reads(t.h, 5000);
	r.on_data = act_after_first;
	r.hook_arg = &t1;
	start(&t, &r, "GET", TLS, "/stream");
	ctx_run(&t);
	assert_failed(&r, -ECANCELED);
	assert_int_equal(t.st.rests, 1);
	rec_free(&r);
	ctx_free(&t);

	ctx_init(&c, state);
	c.auto_close = false;
	kl_http_coalesce_reads(c.h, 5000);
	q.on_data = act_after_first;
	q.close_client = true;
	q.hook_arg = &t2;
	start(&c, &q, "GET", TLS, "/stream");
	ctx_run(&c);
	assert_failed(&q, -ECANCELED);
	rec_free(&q);
	ctx_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_plain),
	    cmocka_unit_test(test_methods_echo),
	    cmocka_unit_test(test_basic_auth),
	    cmocka_unit_test(test_stream),
	    cmocka_unit_test(test_retry_after),
	    cmocka_unit_test(test_big),
	    cmocka_unit_test(test_tls),
	    cmocka_unit_test(test_tls_server_name),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_cancel),
	    cmocka_unit_test(test_cancel_from_callbacks),
	    cmocka_unit_test(test_data_abort),
	    cmocka_unit_test(test_concurrent),
	    cmocka_unit_test(test_close_in_flight),
	    cmocka_unit_test(test_close_from_data_cb),
	    cmocka_unit_test(test_trickle),
	    cmocka_unit_test(test_trickle_cancel_close),
	};

	/* a peer that goes away must not kill the test with SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

