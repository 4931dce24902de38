/*
 * test/unit/test_state.c - controllers/state.c's load against a scripted fake API
 * server: what /readyz says while the controllers wait for the kloompas-state
 * ConfigMap (kl_state_ready), through a refused read and its retry.
 *
 * A real API server refuses the read only when RBAC says so; test/e2e/test_readyz.py
 * runs that against one. This test scripts the answers: a 403 Status, then the
 * ConfigMap. Its loop ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h> /* after the three above, which it needs */

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "controllers/state.h"
#include "kubeclient/client.h"
#include "util/clock.h"

#include "harness.h"

#define CM "/api/v1/namespaces/kl/configmaps/kloompas-state"
#define FORBIDDEN                                                                                  \
	"configmaps \\\"kloompas-state\\\" is forbidden: User \\\"u\\\" cannot get resource "     \
	"\\\"configmaps\\\" in API group \\\"\\\" in the namespace \\\"kl\\\""

struct run {
	uv_loop_t loop;
	struct kl_clock clock;
	uv_timer_t watchdog;
	struct kl_log log;
	FILE *logf;
	char *logbuf;
	size_t loglen;
	struct kl_kube_config cfg;
	char url[64];
	struct kl_kube *kube;
	struct kl_state *state;
	int loaded, closed;
};

static void on_loaded(void *arg, int err)
{
	struct run *r = arg;

	assert_int_equal(err, 0);
	r->loaded++;
}

static void on_closed(void *arg)
{
	((struct run *)arg)->closed++;
}

/* Runs the loop until why (from kl_state_ready) contains want, or the watchdog fires. */
static void run_until_why(struct run *r, const char *want, char *why, size_t len)
{
	while (!kl_state_ready(r->state, why, len) && !strstr(why, want))
		uv_run(&r->loop, UV_RUN_ONCE);
}

static void test_ready_names_the_refused_read(void **state)
{
	const struct th_fakeapi *srv = *state;
	struct th_sb b = { 0 };
	struct kl_error err;
	struct run r;
	char why[600];

	memset(&r, 0, sizeof(r));
	th_fakeapi_reset(srv);
	th_sb_add(&b, "{'rules':[{'prefix':'" CM "','method':'GET','responses':[");
	th_sb_add(&b, "{'status':403,'json':{'kind':'Status','apiVersion':'v1','metadata':{},"
		      "'status':'Failure','message':'" FORBIDDEN "','reason':'Forbidden',"
		      "'details':{'name':'kloompas-state','kind':'configmaps'},'code':403}}],");
	th_sb_add(&b, "'then':{'status':200,'json':{'kind':'ConfigMap','apiVersion':'v1',"
		      "'metadata':{'name':'kloompas-state','namespace':'kl'},"
		      "'data':{'crash-watcher.a':'{}'}}}}]}");
	th_fakeapi_script(srv, &b);
	th_fakeapi_config(srv, r.url, sizeof(r.url), &r.cfg);
	th_memlog_open(&r.log, &r.logf, &r.logbuf, &r.loglen);
	assert_int_equal(uv_loop_init(&r.loop), 0);
	th_watchdog_start(&r.loop, &r.watchdog, 15000);
	kl_error_clear(&err);
	assert_int_equal(kl_kube_new(&r.loop, &r.cfg, NULL, &r.log, NULL, &r.kube, &err), 0);
	kl_clock_init(&r.clock, &r.loop);
	r.state = kl_state_new(&r.clock, r.kube, "kl", "kloompas-state", false, 1000, &r.log);
	assert_non_null(r.state);

	/* the read is on its way: nothing failed yet */
	assert_false(kl_state_ready(r.state, why, sizeof(why)));
	assert_string_equal(why, "waiting for state ConfigMap kl/kloompas-state");
	assert_int_equal(kl_state_load(r.state, on_loaded, &r), 0);
	assert_false(kl_state_ready(r.state, why, sizeof(why)));
	assert_string_equal(why, "waiting for state ConfigMap kl/kloompas-state");

	/* refused: the API's code, reason and message, until the retry reads it */
	run_until_why(&r, "403", why, sizeof(why));
	assert_string_equal(why, "waiting for state ConfigMap kl/kloompas-state: 403 Forbidden: "
				 "configmaps \"kloompas-state\" is forbidden: User \"u\" cannot get "
				 "resource \"configmaps\" in API group \"\" in the namespace \"kl\"");
	assert_int_equal(r.loaded, 0);
	/* a short buffer is cut, never overrun */
	assert_false(kl_state_ready(r.state, why, 12));
	assert_string_equal(why, "waiting for");

	while (!r.loaded)
		uv_run(&r.loop, UV_RUN_ONCE);
	strcpy(why, "untouched");
	assert_true(kl_state_ready(r.state, why, sizeof(why)));
	assert_string_equal(why, "untouched");
	assert_string_equal(kl_state_get(r.state, "crash-watcher.a"), "{}");

	kl_state_close(r.state, on_closed, &r);
	kl_kube_close(r.kube, on_closed, &r);
	uv_close((uv_handle_t *)&r.watchdog, NULL);
	uv_run(&r.loop, UV_RUN_DEFAULT);
	assert_int_equal(r.closed, 2);
	assert_int_equal(uv_loop_close(&r.loop), 0);
	fflush(r.logf);
	assert_non_null(strstr(r.logbuf, "msg=\"cannot read the state ConfigMap; will retry\""));
	fclose(r.logf);
	free(r.logbuf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready_names_the_refused_read),
	};

	/* a peer that goes away must not kill the test with SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, th_fakeapi_setup, th_fakeapi_teardown);
}
