/*
 * test/unit/test_client.c - kubeclient/client.c against a scripted fake API server.
 *
 * What a real API server will not do on demand - expire a continue token on page 2,
 * cut a watch inside an object, send an ERROR event, answer 429 with Retry-After,
 * refuse a token until the token file changes - test/data/fakeapi/server.py does as
 * each test scripts it (POST /_script), and tells afterwards what it was asked
 * (GET /_log). The real-server tests are test/e2e/; these are on top of them.
 *
 * The group setup starts the server; each test resets it, scripts it, runs its own
 * uv loop and client (a struct kl_kube_config made by hand: server and token), and
 * closes the client once the last callback ran - or on purpose while calls are in
 * flight. Every test ends with the close callback seen once and uv_loop_close() == 0;
 * every call's callback must have run exactly once. A watchdog timer fails a test
 * that does not finish; nothing here asserts on timing.
 *
 * Scripts are written as JSON with ' for " to stay readable (see th_fakeapi_script()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h> /* after the three above, which it needs */

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "kubeclient/client.h"
#include "kubeclient/json.h"
#include "util/metrics.h"

#include "harness.h"

#define WATCHDOG_MS 15000
#define MAXREC 32

/* ---------------------------------------------------------------- strings */

/* A small but realistic pod, written with ' for ". */
static void sb_pod(struct th_sb *b, const char *ns, const char *name, unsigned rv)
{
	th_sb_add(
	    b,
	    "{'apiVersion':'v1','kind':'Pod','metadata':{'name':'%s','namespace':'%s',"
	    "'uid':'uid-%s','resourceVersion':'%u','creationTimestamp':'2026-11-20T10:00:00Z',"
	    "'labels':{'app':'web'}},'spec':{'nodeName':'node-1','containers':[{'name':'app',"
	    "'image':'registry.example/web:1.2'}]},'status':{'phase':'Running',"
	    "'conditions':[{'type':'Ready','status':'True',"
	    "'lastTransitionTime':'2026-11-20T10:00:05Z'}],'containerStatuses':[{'name':'app',"
	    "'ready':true,'restartCount':0,'state':{'running':"
	    "{'startedAt':'2026-11-20T10:00:04Z'}}}]}}",
	    name, ns, name, rv);
}

/* A Status object (' for "). */
static void sb_status(struct th_sb *b, int code, const char *reason, const char *message)
{
	th_sb_add(b,
		  "{'kind':'Status','apiVersion':'v1','metadata':{},'status':'Failure',"
		  "'message':'%s','reason':'%s','code':%d}",
		  message, reason, code);
}

/* A PodList page of the named pods (rv = 10 + index), "" cont for the last page. */
static void sb_page(struct th_sb *b, const char *rv, const char *cont, const char *const *names)
{
	size_t i;

	th_sb_add(b,
		  "{'kind':'PodList','apiVersion':'v1','metadata':{'resourceVersion':'%s'%s%s%s},"
		  "'items':[",
		  rv, cont[0] ? ",'continue':'" : "", cont, cont[0] ? "'" : "");
	for (i = 0; names[i]; i++) {
		if (i)
			th_sb_add(b, ",");
		sb_pod(b, "default", names[i], 10 + (unsigned)i);
	}
	th_sb_add(b, "]}");
}

/* ---------------------------------------------------------------- the server */

/* Requests to exactly this path. */
static size_t log_count(const struct th_log *l, const char *path)
{
	size_t i, n = 0;

	for (i = 0; i < l->n; i++)
		n += strcmp(l->e[i].path, path) == 0;
	return n;
}

/* ---------------------------------------------------------------- loop fixture */

struct tctx {
	uv_loop_t loop;
	uv_timer_t watchdog;
	struct th_fakeapi *srv;
	char url[64];
	struct kl_kube_config cfg;
	struct kl_kube_opts opts;
	struct kl_kube *k;
	struct kl_log log;
	FILE *logf;
	char *logbuf;
	size_t loglen;
	struct kl_metrics *metrics;
	int pending;	 /* calls started whose callback has not run */
	bool auto_close; /* close the client when pending drops to 0 */
	int closed;
};

static void on_closed(void *arg)
{
	struct tctx *t = arg;

	t->closed++;
}

/* Resets the server and prepares a config; tests adjust t->cfg/t->opts, then ctx_start. */
static void ctx_init(struct tctx *t, void **state)
{
	memset(t, 0, sizeof(*t));
	t->srv = *state;
	t->auto_close = true;
	th_fakeapi_reset(t->srv);
	th_fakeapi_config(t->srv, t->url, sizeof(t->url), &t->cfg);
	assert_int_equal(uv_loop_init(&t->loop), 0);
	th_memlog_open(&t->log, &t->logf, &t->logbuf, &t->loglen);
	t->metrics = kl_metrics_new();
	assert_non_null(t->metrics);
}

static void ctx_start(struct tctx *t)
{
	struct kl_error err;

	kl_error_clear(&err);
	assert_int_equal(kl_kube_new(&t->loop, &t->cfg, &t->opts, &t->log, t->metrics, &t->k, &err),
			 0);
	th_watchdog_start(&t->loop, &t->watchdog, WATCHDOG_MS);
}

/* Runs until the client is closed and every handle is gone. */
static void ctx_run(struct tctx *t)
{
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(t->closed, 1);
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
	kl_metrics_free(t->metrics);
}

/* A counter series of kloompas_apiserver_requests_total. */
static double requests(struct tctx *t, const char *verb, const char *code)
{
	const char *v[] = {verb, code};
	struct kl_metric *m = kl_metrics_find(t->metrics, "kloompas_apiserver_requests_total");

	assert_non_null(m);
	return kl_metric_get(m, v);
}

/* ---------------------------------------------------------------- calls */

struct call;
typedef void (*call_hook)(struct call *c);

/* What one call saw. */
struct call {
	struct tctx *t;
	struct kl_kube_req *req;
	int ncb; /* the final callback */
	int err, code, retry;
	char reason[64], message[512], rv[32], name[64], cause[64];
	/* LIST */
	unsigned pages;
	int nitems;
	char items[MAXREC][32];
	bool restart[MAXREC];
	/* WATCH */
	int nevents;
	char types[MAXREC][16], names[MAXREC][32], rvs[MAXREC][16];
	int event_code[MAXREC]; /* an ERROR event's Status code */
	call_hook on_event, on_end;
	void *hook_arg;
};

static void record_status(struct call *c, const struct kl_kube_status *st)
{
	assert_int_equal(c->ncb, 0);
	c->ncb++;
	assert_non_null(st->reason);
	assert_non_null(st->message);
	c->err = st->err;
	c->code = st->code;
	c->retry = st->retry_after_s;
	snprintf(c->reason, sizeof(c->reason), "%s", st->reason);
	snprintf(c->message, sizeof(c->message), "%s", st->message);
}

static void call_end(struct call *c)
{
	struct tctx *t = c->t;

	c->req = NULL;
	if (c->on_end)
		c->on_end(c);
	t->pending--;
	if (t->pending == 0 && t->auto_close)
		kl_kube_close(t->k, on_closed, t);
}

static void obj_cb(void *arg, const struct kl_kube_status *st, const struct kl_json *obj)
{
	struct call *c = arg;

	record_status(c, st);
	assert_true((st->err == 0) == (obj != NULL));
	if (obj)
		snprintf(c->name, sizeof(c->name), "%s",
			 kl_json_str(kl_json_path(obj, "metadata", "name", NULL), ""));
	call_end(c);
}

static int item_cb(void *arg, const struct kl_kobj *item, bool restart)
{
	struct call *c = arg;

	assert_int_equal(c->ncb, 0);
	assert_true(c->nitems < MAXREC);
	assert_non_null(item->json); /* the fake server speaks JSON only */
	assert_null(item->pb);
	snprintf(c->items[c->nitems], sizeof(c->items[0]), "%s",
		 kl_json_str(kl_json_path(item->json, "metadata", "name", NULL), ""));
	c->restart[c->nitems++] = restart;
	return 0;
}

static void list_cb(void *arg, const struct kl_kube_status *st,
		    const struct kl_kube_list_result *res)
{
	struct call *c = arg;

	record_status(c, st);
	assert_true((st->err == 0) == (res != NULL));
	snprintf(c->rv, sizeof(c->rv), "%s", res ? res->resource_version : "(null)");
	snprintf(c->cause, sizeof(c->cause), "%s", st->cause);
	if (res) {
		c->pages = res->pages;
		assert_false(res->protobuf);
	}
	call_end(c);
}

static int event_cb(void *arg, const char *type, const struct kl_kobj *o)
{
	struct call *c = arg;
	const struct kl_json *obj = o->json;
	char rv[16];
	int64_t code = 0;
	int i = c->nevents;

	assert_int_equal(c->ncb, 0);
	assert_true(i < MAXREC);
	assert_non_null(obj);
	assert_null(o->pb);
	snprintf(c->types[i], sizeof(c->types[0]), "%s", type);
	snprintf(c->names[i], sizeof(c->names[0]), "%s",
		 kl_json_str(kl_json_path(obj, "metadata", "name", NULL), ""));
	snprintf(c->rvs[i], sizeof(c->rvs[0]), "%s",
		 kl_json_str(kl_json_path(obj, "metadata", "resourceVersion", NULL), ""));
	if (strcmp(type, "ERROR") != 0) {
		assert_int_equal(kl_kobj_rv(o, rv, sizeof(rv)), 0);
		assert_string_equal(rv, c->rvs[i]);
	}
	if (kl_json_int(kl_json_get(obj, "code"), &code) == 0)
		c->event_code[i] = (int)code;
	c->nevents++;
	if (c->on_event)
		c->on_event(c);
	return 0;
}

static void done_cb(void *arg, const struct kl_kube_status *st)
{
	struct call *c = arg;

	record_status(c, st);
	call_end(c);
}

static void get(struct tctx *t, struct call *c, const char *path)
{
	c->t = t;
	t->pending++;
	assert_int_equal(kl_kube_get(t->k, path, obj_cb, c, &c->req), 0);
}

static void list_opts(struct tctx *t, struct call *c, const char *path,
		      const struct kl_kube_list_opts *o)
{
	c->t = t;
	t->pending++;
	assert_int_equal(kl_kube_list(t->k, path, o, item_cb, list_cb, c, &c->req), 0);
}

static void list(struct tctx *t, struct call *c, const char *path, const char *query,
		 unsigned limit)
{
	struct kl_kube_list_opts o = { .query = query, .limit = limit };

	list_opts(t, c, path, &o);
}

static void watch_pb(struct tctx *t, struct call *c, const char *path, const char *rv,
		     unsigned timeout_s, bool protobuf)
{
	struct kl_kube_watch_opts o = { .resource_version = rv,
					.timeout_s = timeout_s,
					.protobuf = protobuf };

	c->t = t;
	t->pending++;
	assert_int_equal(kl_kube_watch(t->k, path, &o, event_cb, done_cb, c, &c->req), 0);
}

static void watch(struct tctx *t, struct call *c, const char *path, const char *rv,
		  unsigned timeout_s)
{
	watch_pb(t, c, path, rv, timeout_s, false);
}

static void assert_ok(const struct call *c)
{
	assert_int_equal(c->ncb, 1);
	assert_int_equal(c->err, 0);
	assert_int_equal(c->code, 200);
}

static void assert_cancelled(const struct call *c)
{
	assert_int_equal(c->ncb, 1);
	assert_int_equal(c->err, -ECANCELED);
}

/* The watch events every watch test streams, with the rv of each. */
static void sb_events(struct th_sb *b)
{
	th_sb_add(b, "[{'type':'ADDED','object':");
	sb_pod(b, "default", "web-1", 11);
	th_sb_add(b, "},{'type':'MODIFIED','object':");
	sb_pod(b, "default", "web-1", 12);
	th_sb_add(b, "},{'type':'DELETED','object':");
	sb_pod(b, "default", "web-1", 13);
	th_sb_add(b, "},{'type':'BOOKMARK','object':{'kind':'Pod','apiVersion':'v1',"
		     "'metadata':{'resourceVersion':'14','annotations':"
		     "{'k8s.io/initial-events-end':'true'}}}}]");
}

static void assert_events(const struct call *c)
{
	static const char *const types[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK"};
	static const char *const rvs[] = {"11", "12", "13", "14"};
	int i;

	assert_int_equal(c->nevents, 4);
	for (i = 0; i < 4; i++) {
		assert_string_equal(c->types[i], types[i]);
		assert_string_equal(c->rvs[i], rvs[i]);
		assert_string_equal(c->names[i], i < 3 ? "web-1" : "");
	}
}

/* ---------------------------------------------------------------- tests */

#define POD_PATH "/api/v1/namespaces/default/pods/"

/* GET: an object; Status errors decoded; a proxy's HTML; 429 with Retry-After. */
static void test_get(void **state)
{
	struct tctx t;
	struct call ok = {0}, missing = {0}, bad = {0}, busy = {0}, denied = {0};
	struct th_sb b = {0};
	struct th_log l;
	size_t i;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'" POD_PATH "web-1','then':{'json':");
	sb_pod(&b, "default", "web-1", 11);
	th_sb_add(&b, "}},{'prefix':'" POD_PATH "missing','then':{'status':404,'json':");
	sb_status(&b, 404, "NotFound", "pods \\\"missing\\\" not found");
	th_sb_add(&b,
		  "}},{'prefix':'" POD_PATH "bad','then':{'status':502,'content_type':'text/html',"
		  "'body':'<html><body><h1>502 Bad Gateway</h1></body></html>'}},"
		  "{'prefix':'" POD_PATH "busy','then':{'status':429,"
		  "'headers':{'Retry-After':'3'},'json':");
	sb_status(&b, 429, "TooManyRequests", "the server has received too many requests");
	th_sb_add(&b, "}},{'prefix':'" POD_PATH "denied','then':{'status':401,'json':");
	sb_status(&b, 401, "Unauthorized", "Unauthorized");
	th_sb_add(&b, "}}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);

	get(&t, &ok, POD_PATH "web-1");
	get(&t, &missing, POD_PATH "missing");
	get(&t, &bad, POD_PATH "bad");
	get(&t, &busy, POD_PATH "busy");
	get(&t, &denied, POD_PATH "denied");
	/* a call that fails returns an error and never calls back */
	assert_int_equal(kl_kube_get(t.k, "api/v1/pods", obj_cb, NULL, NULL), -EINVAL);
	/* never synchronous */
	assert_int_equal(ok.ncb + missing.ncb + bad.ncb + busy.ncb + denied.ncb, 0);
	ctx_run(&t);

	assert_ok(&ok);
	assert_string_equal(ok.name, "web-1");
	assert_int_equal(ok.retry, -1);

	assert_int_equal(missing.ncb, 1);
	assert_int_equal(missing.err, -ENOENT);
	assert_int_equal(missing.code, 404);
	assert_string_equal(missing.reason, "NotFound");
	assert_string_equal(missing.message, "pods \"missing\" not found");

	assert_int_equal(bad.ncb, 1);
	assert_int_equal(bad.err, -EAGAIN);
	assert_int_equal(bad.code, 502);
	assert_string_equal(bad.reason, "");
	assert_non_null(strstr(bad.message, "502 Bad Gateway"));

	assert_int_equal(busy.ncb, 1);
	assert_int_equal(busy.err, -EAGAIN);
	assert_int_equal(busy.code, 429);
	assert_int_equal(busy.retry, 3);
	assert_string_equal(busy.reason, "TooManyRequests");

	/* a static token cannot change: a 401 is not retried */
	assert_int_equal(denied.ncb, 1);
	assert_int_equal(denied.err, -EACCES);
	assert_int_equal(denied.code, 401);

	th_log_fetch(t.srv, &l);
	assert_int_equal(l.n, 5);
	assert_int_equal(log_count(&l, POD_PATH "denied"), 1);
	for (i = 0; i < l.n; i++) {
		assert_string_equal(l.e[i].method, "GET");
		assert_string_equal(l.e[i].auth, "Bearer t");
		assert_string_equal(l.e[i].query, "");
		assert_true(strncmp(l.e[i].ua, "kloompas/", 9) == 0);
	}
	th_log_free(&l);
	/* the token never reaches the log */
	assert_null(strstr(t.logbuf, "Bearer"));
	ctx_free(&t);
}

/* LIST over three pages: items in order, limit and continue on each request. */
static void test_list_pages(void **state)
{
	static const char *const p1[] = {"web-1", "web-2", NULL};
	static const char *const p2[] = {"web-3", "web-4", NULL};
	static const char *const p3[] = {"web-5", NULL};
	static const char *const want[] = {"web-1", "web-2", "web-3", "web-4", "web-5"};
	struct tctx t;
	struct call c = {0};
	struct th_sb b = {0};
	struct th_log l;
	size_t i;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'/api/v1/namespaces/default/pods','watch':false,"
		      "'responses':[{'json':");
	sb_page(&b, "100", "c1", p1);
	th_sb_add(&b, "},{'json':");
	/* a base64 token: +, / and = must be escaped in the query */
	sb_page(&b, "200", "Zm9v+/=", p2);
	th_sb_add(&b, "},{'json':");
	sb_page(&b, "300", "", p3);
	th_sb_add(&b, "}]}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);

	list(&t, &c, "/api/v1/namespaces/default/pods", "labelSelector=app%3Dweb", 2);
	ctx_run(&t);

	assert_ok(&c);
	assert_string_equal(c.rv, "300");
	assert_int_equal(c.nitems, 5);
	for (i = 0; i < 5; i++) {
		assert_string_equal(c.items[i], want[i]);
		assert_false(c.restart[i]);
	}
	th_log_fetch(t.srv, &l);
	assert_int_equal(l.n, 3);
	for (i = 0; i < 3; i++) {
		assert_string_equal(l.e[i].path, "/api/v1/namespaces/default/pods");
		assert_string_equal(th_param(&l.e[i], "limit"), "2");
		assert_string_equal(th_param(&l.e[i], "labelSelector"), "app=web");
		assert_null(th_param(&l.e[i], "watch"));
	}
	assert_null(th_param(&l.e[0], "continue"));
	assert_string_equal(th_param(&l.e[1], "continue"), "c1");
	assert_string_equal(th_param(&l.e[2], "continue"), "Zm9v+/=");
	th_log_free(&l);
	assert_int_equal(requests(&t, "list", "200"), 3);
	ctx_free(&t);
}

/*
 * LIST whose continue token expires on page 2: the list starts over and says so on
 * the first item of the new pass. One that keeps expiring gives up with -ESTALE.
 */
static void test_list_expired(void **state)
{
	static const char *const p1[] = {"web-1", "web-2", NULL};
	static const char *const p2[] = {"web-3", NULL};
	static const char *const want[] = {"web-1", "web-2", "web-1", "web-2", "web-3"};
	static const bool want_restart[] = {false, false, true, false, false};
	struct tctx t;
	struct call c = {0}, gone = {0};
	struct th_sb b = {0};
	struct th_log l;
	size_t i;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'/api/v1/namespaces/default/pods','watch':false,"
		      "'responses':[{'json':");
	sb_page(&b, "100", "c1", p1);
	th_sb_add(&b, "},{'status':410,'json':");
	sb_status(&b, 410, "Expired",
		  "The provided continue parameter is too old to display a consistent list "
		  "result. You can start a new list without the continue parameter.");
	th_sb_add(&b, "},{'json':");
	sb_page(&b, "150", "c2", p1);
	th_sb_add(&b, "},{'json':");
	sb_page(&b, "150", "", p2);
	th_sb_add(&b, "}]},{'prefix':'/api/v1/namespaces/flaky/pods','responses':[");
	for (i = 0; i < 6; i++) {
		th_sb_add(&b, "%s{'json':", i ? "," : "");
		sb_page(&b, "100", "c1", p2);
		th_sb_add(&b, "},{'status':410,'json':");
		sb_status(&b, 410, "Expired", "continue token expired");
		th_sb_add(&b, "}");
	}
	th_sb_add(&b, "]}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);

	list(&t, &c, "/api/v1/namespaces/default/pods", NULL, 2);
	list(&t, &gone, "/api/v1/namespaces/flaky/pods", NULL, 1);
	ctx_run(&t);

	assert_ok(&c);
	assert_string_equal(c.rv, "150");
	assert_int_equal(c.nitems, 5);
	for (i = 0; i < 5; i++) {
		assert_string_equal(c.items[i], want[i]);
		assert_int_equal(c.restart[i], want_restart[i]);
	}
	/* five restarts, then the sixth expiry is the answer */
	assert_int_equal(gone.ncb, 1);
	assert_int_equal(gone.err, -ESTALE);
	assert_int_equal(gone.code, 410);
	assert_string_equal(gone.reason, "Expired");
	assert_int_equal(gone.nitems, 6);
	assert_false(gone.restart[0]);
	for (i = 1; i < 6; i++)
		assert_true(gone.restart[i]);

	th_log_fetch(t.srv, &l);
	assert_int_equal(log_count(&l, "/api/v1/namespaces/default/pods"), 4);
	assert_int_equal(log_count(&l, "/api/v1/namespaces/flaky/pods"), 12);
	{
		const char *conts[4];
		size_t n = 0;

		for (i = 0; i < l.n; i++)
			if (strcmp(l.e[i].path, "/api/v1/namespaces/default/pods") == 0)
				conts[n++] = th_param(&l.e[i], "continue");
		assert_null(conts[0]);
		assert_string_equal(conts[1], "c1");
		assert_null(conts[2]); /* started over */
		assert_string_equal(conts[3], "c2");
	}
	th_log_free(&l);
	assert_int_equal(requests(&t, "list", "410"), 7);
	ctx_free(&t);
}

/*
 * LIST from the watch cache: resourceVersion=0 goes on the first page only (with
 * limit, which the watch cache ignores); an answer with a continue token (the cache
 * is off) goes on with continue and no resourceVersion. An unpaged LIST not older
 * than a resourceVersion sends no limit. A consistent LIST sends no resourceVersion.
 */
static void test_list_resource_version(void **state)
{
	static const char *const p1[] = {"web-1", NULL};
	static const char *const p2[] = {"web-2", NULL};
	struct tctx t;
	struct call any = {0}, newer = {0}, consistent = {0};
	struct kl_kube_list_opts o_any = {.resource_version = "0"};
	struct kl_kube_list_opts o_newer = {.resource_version = "120", .unpaged = true};
	struct kl_kube_list_opts o_cons = {.resource_version = "", .limit = 7};
	struct th_sb b = {0};
	struct th_log l;
	const struct th_logent *e;
	size_t i;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'/api/v1/namespaces/a/pods','watch':false,"
		      "'responses':[{'json':");
	sb_page(&b, "100", "c1", p1);
	th_sb_add(&b, "},{'json':");
	sb_page(&b, "100", "", p2);
	th_sb_add(&b, "}]},{'prefix':'/api/v1/namespaces/b/pods','watch':false,'then':{'json':");
	sb_page(&b, "130", "", p1);
	th_sb_add(&b, "}},{'prefix':'/api/v1/namespaces/c/pods','watch':false,'then':{'json':");
	sb_page(&b, "140", "", p2);
	th_sb_add(&b, "}}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);

	list_opts(&t, &any, "/api/v1/namespaces/a/pods", &o_any);
	list_opts(&t, &newer, "/api/v1/namespaces/b/pods", &o_newer);
	list_opts(&t, &consistent, "/api/v1/namespaces/c/pods", &o_cons);
	ctx_run(&t);

	assert_ok(&any);
	assert_string_equal(any.rv, "100");
	assert_int_equal(any.pages, 2);
	assert_int_equal(any.nitems, 2);
	assert_ok(&newer);
	assert_int_equal(newer.pages, 1);
	assert_string_equal(newer.items[0], "web-1");
	assert_ok(&consistent);
	assert_int_equal(consistent.pages, 1);

	th_log_fetch(t.srv, &l);
	assert_int_equal(l.n, 4);
	for (i = 0; i < l.n; i++) {
		e = &l.e[i];
		/* nobody asked for protobuf */
		assert_string_equal(e->accept, "application/json");
		if (strcmp(e->path, "/api/v1/namespaces/a/pods") == 0) {
			assert_string_equal(th_param(e, "limit"), "500");
			if (th_param(e, "continue")) {
				assert_string_equal(th_param(e, "continue"), "c1");
				assert_null(th_param(e, "resourceVersion"));
			} else {
				assert_string_equal(th_param(e, "resourceVersion"), "0");
			}
		} else if (strcmp(e->path, "/api/v1/namespaces/b/pods") == 0) {
			assert_null(th_param(e, "limit"));
			assert_string_equal(th_param(e, "resourceVersion"), "120");
		} else {
			assert_string_equal(th_param(e, "limit"), "7");
			assert_null(th_param(e, "resourceVersion"));
		}
	}
	assert_int_equal(log_count(&l, "/api/v1/namespaces/a/pods"), 2);
	th_log_free(&l);
	ctx_free(&t);
}

/*
 * What a server that refuses a resourceVersion says: 410 Expired, and 504 with the
 * cause ResourceVersionTooLarge (1.20's watch cache after waiting 3 s). The caller
 * (the reflector) falls back; the client reports err, code, reason and cause.
 */
static void test_list_rv_refused(void **state)
{
	struct tctx t;
	struct call gone = {0}, large = {0};
	struct kl_kube_list_opts o_gone = {.resource_version = "0"};
	struct kl_kube_list_opts o_large = {.resource_version = "999999", .unpaged = true};
	struct th_sb b = {0};

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'/api/v1/namespaces/a/pods','then':{'status':410,"
		      "'json':");
	sb_status(&b, 410, "Expired", "too old resource version: 1 (50)");
	th_sb_add(&b, "}},{'prefix':'/api/v1/namespaces/b/pods','then':{'status':504,'json':"
		      "{'kind':'Status','apiVersion':'v1','metadata':{},'status':'Failure',"
		      "'message':'Too large resource version: 999999, current: 160',"
		      "'reason':'Timeout','details':{'causes':[{'reason':'ResourceVersionTooLarge',"
		      "'message':'Too large resource version'}],'retryAfterSeconds':1},"
		      "'code':504}}}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);

	list_opts(&t, &gone, "/api/v1/namespaces/a/pods", &o_gone);
	list_opts(&t, &large, "/api/v1/namespaces/b/pods", &o_large);
	ctx_run(&t);

	assert_int_equal(gone.ncb, 1);
	assert_int_equal(gone.err, -ESTALE);
	assert_int_equal(gone.code, 410);
	assert_string_equal(gone.reason, "Expired");
	assert_string_equal(gone.cause, "");
	assert_int_equal(large.ncb, 1);
	assert_int_equal(large.err, -ETIMEDOUT);
	assert_int_equal(large.code, 504);
	assert_string_equal(large.reason, "Timeout");
	assert_string_equal(large.cause, "ResourceVersionTooLarge");
	ctx_free(&t);
}

/*
 * Content negotiation. With wire protobuf, a LIST or WATCH whose caller takes
 * protobuf accepts it first; GETs and callers that do not take it ask for JSON only;
 * with wire JSON nothing asks for protobuf. A server that answers JSON anyway (this
 * one always does) is decoded as JSON: items and events arrive as kl_kobj.json.
 */
static void run_negotiation(void **state, enum kl_wire wire)
{
	static const char *const p1[] = {"web-1", "web-2", NULL};
	static const char *const pb_accept =
	    "application/vnd.kubernetes.protobuf, application/json";
	struct tctx t;
	struct call g = {0}, lpb = {0}, ljson = {0}, wpb = {0}, wjson = {0};
	struct kl_kube_list_opts o_pb = {.protobuf = true, .resource_version = "0"};
	struct kl_kube_list_opts o_json = {.protobuf = false};
	struct th_sb b = {0};
	struct th_log l;
	size_t i;

	ctx_init(&t, state);
	t.opts.wire = wire;
	th_sb_add(&b, "{'rules':[{'prefix':'" POD_PATH "web-1','then':{'json':");
	sb_pod(&b, "default", "web-1", 11);
	th_sb_add(&b, "}},{'prefix':'/api/v1/namespaces/a/pods','watch':false,'then':{'json':");
	sb_page(&b, "100", "", p1);
	th_sb_add(&b, "}},{'prefix':'/api/v1/namespaces/b/pods','watch':false,'then':{'json':");
	sb_page(&b, "100", "", p1);
	th_sb_add(&b, "}},{'prefix':'/api/v1/namespaces/a/pods','watch':true,"
		      "'then':{'chunk_size':5,'events':");
	sb_events(&b);
	th_sb_add(&b, "}},{'prefix':'/api/v1/namespaces/b/pods','watch':true,'then':{'events':");
	sb_events(&b);
	th_sb_add(&b, "}}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);

	get(&t, &g, POD_PATH "web-1");
	list_opts(&t, &lpb, "/api/v1/namespaces/a/pods", &o_pb);
	list_opts(&t, &ljson, "/api/v1/namespaces/b/pods", &o_json);
	watch_pb(&t, &wpb, "/api/v1/namespaces/a/pods", "10", 30, true);
	watch_pb(&t, &wjson, "/api/v1/namespaces/b/pods", "10", 30, false);
	ctx_run(&t);

	assert_ok(&g);
	assert_string_equal(g.name, "web-1");
	assert_ok(&lpb);
	assert_int_equal(lpb.nitems, 2); /* item_cb asserts JSON items */
	assert_string_equal(lpb.items[1], "web-2");
	assert_ok(&ljson);
	assert_int_equal(ljson.nitems, 2);
	assert_ok(&wpb);
	assert_events(&wpb); /* event_cb asserts JSON objects */
	assert_ok(&wjson);
	assert_events(&wjson);

	th_log_fetch(t.srv, &l);
	assert_int_equal(l.n, 5);
	for (i = 0; i < l.n; i++) {
		const struct th_logent *e = &l.e[i];
		bool asked_pb = wire == KL_WIRE_PROTOBUF &&
				strcmp(e->path, "/api/v1/namespaces/a/pods") == 0;

		assert_string_equal(e->accept, asked_pb ? pb_accept : "application/json");
	}
	th_log_free(&l);
	ctx_free(&t);
}

static void test_negotiation_protobuf(void **state)
{
	run_negotiation(state, KL_WIRE_PROTOBUF);
}

static void test_negotiation_json(void **state)
{
	run_negotiation(state, KL_WIRE_JSON);
}

/* WATCH events split across chunks (7 bytes, 1 byte, whole) and a clean end. */
static void test_watch_events(void **state)
{
	struct tctx t;
	struct call w7 = {0}, w1 = {0}, whole = {0};
	struct th_sb b = {0};
	struct th_log l;
	size_t i;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'/api/v1/namespaces/a/pods','watch':true,"
		      "'then':{'chunk_size':7,'delay_ms':1,'events':");
	sb_events(&b);
	th_sb_add(&b, "}},{'prefix':'/api/v1/namespaces/b/pods','watch':true,"
		      "'then':{'chunk_size':1,'events':");
	sb_events(&b);
	th_sb_add(&b, "}},{'prefix':'/api/v1/namespaces/c/pods','watch':true,"
		      "'then':{'events':");
	sb_events(&b);
	th_sb_add(&b, "}}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);

	watch(&t, &w7, "/api/v1/namespaces/a/pods", "10", 30);
	watch(&t, &w1, "/api/v1/namespaces/b/pods", "10", 30);
	watch(&t, &whole, "/api/v1/namespaces/c/pods", NULL, 0);
	ctx_run(&t);

	assert_ok(&w7);
	assert_events(&w7);
	assert_ok(&w1);
	assert_events(&w1);
	assert_ok(&whole);
	assert_events(&whole);

	th_log_fetch(t.srv, &l);
	assert_int_equal(l.n, 3);
	for (i = 0; i < 3; i++) {
		const struct th_logent *e = &l.e[i];

		assert_string_equal(th_param(e, "watch"), "true");
		assert_string_equal(th_param(e, "allowWatchBookmarks"), "true");
		assert_null(th_param(e, "limit"));
		if (strcmp(e->path, "/api/v1/namespaces/c/pods") == 0) {
			assert_null(th_param(e, "resourceVersion"));
			assert_null(th_param(e, "timeoutSeconds"));
		} else {
			assert_string_equal(th_param(e, "resourceVersion"), "10");
			assert_string_equal(th_param(e, "timeoutSeconds"), "30");
		}
	}
	th_log_free(&l);
	assert_int_equal(requests(&t, "watch", "200"), 3);
	ctx_free(&t);
}

/*
 * A watch cut inside an object, by a closed connection or by a clean end; and
 * streams that are not watch events (no type, not JSON).
 */
static void test_watch_cut(void **state)
{
	struct tctx t;
	struct call cut = {0}, ended = {0}, untyped = {0}, garbage = {0};
	struct th_sb b = {0}, ev = {0};

	ctx_init(&t, state);
	th_sb_add(&ev, "[{'type':'ADDED','object':");
	sb_pod(&ev, "default", "web-1", 11);
	th_sb_add(&ev, "},{'type':'ADDED','object':");
	sb_pod(&ev, "default", "web-2", 12);
	th_sb_add(&ev, "}]");
	th_sb_add(&b,
		  "{'rules':[{'prefix':'/api/v1/namespaces/a/pods','watch':true,"
		  "'then':{'chunk_size':50,'truncate':40,'cut':true,'events':%s}},"
		  "{'prefix':'/api/v1/namespaces/b/pods','watch':true,"
		  "'then':{'truncate':40,'events':%s}},"
		  "{'prefix':'/api/v1/namespaces/c/pods','watch':true,"
		  "'then':{'events':[{'kind':'Status','apiVersion':'v1'}]}},"
		  "{'prefix':'/api/v1/namespaces/d/pods','watch':true,"
		  "'then':{'chunks':['<html>gateway timeout</html>']}}]}",
		  ev.s, ev.s);
	th_sb_free(&ev);
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);

	watch(&t, &cut, "/api/v1/namespaces/a/pods", "10", 30);
	watch(&t, &ended, "/api/v1/namespaces/b/pods", "10", 30);
	watch(&t, &untyped, "/api/v1/namespaces/c/pods", "10", 30);
	watch(&t, &garbage, "/api/v1/namespaces/d/pods", "10", 30);
	ctx_run(&t);

	assert_int_equal(cut.ncb, 1);
	assert_int_equal(cut.err, -ECONNRESET);
	assert_int_equal(cut.nevents, 1);
	assert_string_equal(cut.names[0], "web-1");
	assert_int_equal(ended.ncb, 1);
	assert_int_equal(ended.err, -ECONNRESET);
	assert_int_equal(ended.nevents, 1);
	assert_string_equal(ended.names[0], "web-1");
	assert_int_equal(untyped.ncb, 1);
	assert_int_equal(untyped.err, -EPROTO);
	assert_int_equal(untyped.nevents, 0);
	assert_int_equal(garbage.ncb, 1);
	assert_int_equal(garbage.err, -EPROTO);
	assert_int_equal(garbage.nevents, 0);
	/* the decoder says what was wrong, not libcurl that the write was refused */
	assert_null(strstr(garbage.message, "Failure writing"));
	assert_non_null(strstr(garbage.message, "malformed JSON at offset"));
	ctx_free(&t);
}

/* An ERROR event with a 410 Status: the event is seen, then done with -ESTALE. */
static void test_watch_error_event(void **state)
{
	struct tctx t;
	struct call c = {0};
	struct th_sb b = {0};

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'/api/v1/pods','watch':true,"
		      "'then':{'hang':true,'delay_ms':5,'events':[{'type':'ADDED','object':");
	sb_pod(&b, "default", "web-1", 11);
	th_sb_add(&b, "},{'type':'ERROR','object':");
	sb_status(&b, 410, "Expired", "too old resource version: 5 (11)");
	/* the server keeps the stream open: the client must end it itself */
	th_sb_add(&b, "}]}}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);

	watch(&t, &c, "/api/v1/pods", "5", 30);
	ctx_run(&t);

	assert_int_equal(c.nevents, 2);
	assert_string_equal(c.types[0], "ADDED");
	assert_string_equal(c.types[1], "ERROR");
	assert_int_equal(c.event_code[1], 410);
	assert_int_equal(c.ncb, 1);
	assert_int_equal(c.err, -ESTALE);
	assert_int_equal(c.code, 410);
	assert_string_equal(c.reason, "Expired");
	assert_string_equal(c.message, "too old resource version: 5 (11)");
	ctx_free(&t);
}

/* A token file rotated under us: the 401 makes the client re-read it and retry once. */
struct token_test {
	struct tctx *t;
	char file[PATH_MAX];
	struct call version, pod, locked;
};

static void write_token(const char *file, const char *token)
{
	FILE *f = fopen(file, "w");

	assert_non_null(f);
	assert_true(fprintf(f, "%s\n", token) > 0);
	assert_int_equal(fclose(f), 0);
}

static void after_version(struct call *c)
{
	struct token_test *tt = c->hook_arg;

	/* the client cached the old token and would keep it for an hour */
	write_token(tt->file, "new-token");
	get(tt->t, &tt->pod, POD_PATH "web-1");
}

static void after_pod(struct call *c)
{
	struct token_test *tt = c->hook_arg;

	get(tt->t, &tt->locked, POD_PATH "locked");
}

static void test_token_file_401(void **state)
{
	struct tctx t;
	struct token_test tt = {.t = &t};
	struct th_sb b = {0};
	struct th_log l;
	int fd;

	ctx_init(&t, state);
	snprintf(tt.file, sizeof(tt.file), "%s/kl-test-token-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	fd = mkstemp(tt.file);
	assert_true(fd >= 0);
	close(fd);
	write_token(tt.file, "old-token");
	t.cfg.token = NULL;
	t.cfg.token_file = tt.file;
	t.opts.token_reread_ms = 3600 * 1000;

	th_sb_add(&b, "{'rules':[{'prefix':'/version','then':{'json':{'major':'1','minor':'30'}}},"
		      "{'prefix':'" POD_PATH "web-1','auth':'Bearer new-token','then':{'json':");
	sb_pod(&b, "default", "web-1", 11);
	th_sb_add(&b, "}},{'prefix':'" POD_PATH "web-1','auth':'Bearer old-token','then':"
		      "{'status':401,'json':");
	sb_status(&b, 401, "Unauthorized", "Unauthorized");
	th_sb_add(&b, "}},{'prefix':'" POD_PATH "locked','then':{'status':401,'json':");
	sb_status(&b, 401, "Unauthorized", "Unauthorized");
	th_sb_add(&b, "}}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);

	tt.version.on_end = after_version;
	tt.version.hook_arg = &tt;
	tt.pod.on_end = after_pod;
	tt.pod.hook_arg = &tt;
	get(&t, &tt.version, "/version");
	ctx_run(&t);

	assert_ok(&tt.version);
	assert_ok(&tt.pod);
	assert_string_equal(tt.pod.name, "web-1");
	/* refused with fresh credentials too: retried once only */
	assert_int_equal(tt.locked.ncb, 1);
	assert_int_equal(tt.locked.err, -EACCES);
	assert_int_equal(tt.locked.code, 401);

	th_log_fetch(t.srv, &l);
	assert_int_equal(l.n, 5);
	assert_string_equal(l.e[0].path, "/version");
	assert_string_equal(l.e[0].auth, "Bearer old-token");
	assert_string_equal(l.e[1].path, POD_PATH "web-1");
	assert_string_equal(l.e[1].auth, "Bearer old-token");
	assert_string_equal(l.e[2].path, POD_PATH "web-1");
	assert_string_equal(l.e[2].auth, "Bearer new-token");
	assert_string_equal(l.e[3].path, POD_PATH "locked");
	assert_string_equal(l.e[4].path, POD_PATH "locked");
	assert_string_equal(l.e[4].auth, "Bearer new-token");
	th_log_free(&l);
	assert_int_equal(requests(&t, "get", "401"), 3);
	assert_null(strstr(t.logbuf, "old-token"));
	assert_null(strstr(t.logbuf, "new-token"));
	unlink(tt.file);
	ctx_free(&t);
}

/* qps 1000, burst 2: five GETs go through the bucket and all complete. */
static void test_rate_limiter(void **state)
{
	struct tctx t;
	struct call c[5] = {{0}};
	struct th_sb b = {0};
	struct th_log l;
	int i;

	ctx_init(&t, state);
	t.opts.qps = 1000;
	t.opts.burst = 2;
	th_sb_add(&b, "{'rules':[{'prefix':'" POD_PATH "web-1','then':{'json':");
	sb_pod(&b, "default", "web-1", 11);
	th_sb_add(&b, "}}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);

	for (i = 0; i < 5; i++)
		get(&t, &c[i], POD_PATH "web-1");
	ctx_run(&t);

	for (i = 0; i < 5; i++) {
		assert_ok(&c[i]);
		assert_string_equal(c[i].name, "web-1");
	}
	th_log_fetch(t.srv, &l);
	assert_int_equal(l.n, 5);
	th_log_free(&l);
	assert_int_equal(requests(&t, "get", "200"), 5);
	ctx_free(&t);
}

/*
 * kl_kube_cancel: a call queued behind the rate limiter, one in flight, and a watch
 * that cancels itself (and the in-flight call) from its first event while more
 * events sit in the same chunk. Each callback runs once, later, with -ECANCELED.
 */
struct cancel_test {
	struct call stalled, queued, w;
};

static void cancel_on_first_event(struct call *c)
{
	struct cancel_test *ct = c->hook_arg;

	if (c->nevents != 1)
		return;
	kl_kube_cancel(c->req);
	kl_kube_cancel(ct->stalled.req);
	assert_int_equal(c->ncb + ct->stalled.ncb, 0);
}

static void test_cancel(void **state)
{
	struct tctx t;
	struct cancel_test ct = {0};
	struct th_sb b = {0};
	struct th_log l;

	ctx_init(&t, state);
	t.opts.qps = 0.5; /* one call now, the next in two seconds */
	t.opts.burst = 1;
	th_sb_add(&b, "{'rules':[{'prefix':'/api/v1/namespaces/default/pods/stall',"
		      "'then':{'stall':true}},"
		      "{'prefix':'/api/v1/pods','watch':true,'then':{'hang':true,'events':["
		      "{'type':'ADDED','object':");
	sb_pod(&b, "default", "web-1", 11);
	th_sb_add(&b, "},{'type':'ADDED','object':");
	sb_pod(&b, "default", "web-2", 12);
	th_sb_add(&b, "},{'type':'ADDED','object':");
	sb_pod(&b, "default", "web-3", 13);
	/* the three events go out in one chunk */
	th_sb_add(&b, "}],'chunk_size':100000}},"
		      "{'prefix':'" POD_PATH "web-1','then':{'json':{}}}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);

	get(&t, &ct.stalled, POD_PATH "stall");
	get(&t, &ct.queued, POD_PATH "web-1");
	kl_kube_cancel(ct.queued.req);
	kl_kube_cancel(ct.queued.req); /* twice is once */
	assert_int_equal(ct.queued.ncb, 0);
	ct.w.on_event = cancel_on_first_event;
	ct.w.hook_arg = &ct;
	watch(&t, &ct.w, "/api/v1/pods", "10", 30);
	ctx_run(&t);

	assert_cancelled(&ct.queued);
	assert_cancelled(&ct.stalled);
	assert_cancelled(&ct.w);
	/* nothing is delivered after the cancel, not even from the chunk at hand */
	assert_int_equal(ct.w.nevents, 1);
	th_log_fetch(t.srv, &l);
	assert_int_equal(log_count(&l, POD_PATH "web-1"), 0); /* never sent */
	assert_int_equal(log_count(&l, POD_PATH "stall"), 1);
	th_log_free(&l);
	ctx_free(&t);
}

/*
 * kl_kube_close with calls everywhere: a GET and a LIST queued behind the limiter,
 * a GET and a WATCH in flight. The client closes from the watch's first event.
 */
struct close_test {
	struct tctx *t;
	struct call stalled, queued, listed, w;
	int after_close_rc;
};

static void close_on_first_event(struct call *c)
{
	struct close_test *ct = c->hook_arg;

	if (c->nevents != 1)
		return;
	kl_kube_close(ct->t->k, on_closed, ct->t);
	ct->after_close_rc = kl_kube_get(ct->t->k, POD_PATH "web-1", obj_cb, NULL, NULL);
	assert_int_equal(ct->t->closed, 0);
}

static void test_close_in_flight(void **state)
{
	struct tctx t;
	struct close_test ct = {.t = &t};
	struct th_sb b = {0};

	ctx_init(&t, state);
	t.auto_close = false;
	t.opts.qps = 0.5;
	t.opts.burst = 1;
	th_sb_add(&b, "{'rules':[{'prefix':'/api/v1/namespaces/default/pods/stall',"
		      "'then':{'stall':true}},"
		      "{'prefix':'/api/v1/pods','watch':true,'then':{'hang':true,'events':["
		      "{'type':'ADDED','object':");
	sb_pod(&b, "default", "web-1", 11);
	th_sb_add(&b, "}]}}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);

	get(&t, &ct.stalled, POD_PATH "stall");
	get(&t, &ct.queued, POD_PATH "web-1");
	list(&t, &ct.listed, "/api/v1/pods", NULL, 0);
	ct.w.on_event = close_on_first_event;
	ct.w.hook_arg = &ct;
	watch(&t, &ct.w, "/api/v1/pods", NULL, 0);
	ctx_run(&t);

	assert_int_equal(ct.after_close_rc, -ECANCELED);
	assert_cancelled(&ct.stalled);
	assert_cancelled(&ct.queued);
	assert_cancelled(&ct.listed);
	assert_int_equal(ct.listed.nitems, 0);
	assert_cancelled(&ct.w);
	assert_int_equal(ct.w.nevents, 1);
	ctx_free(&t);
}

/*
 * Calls waiting for an exec credential plugin (one that never answers): one is
 * cancelled, then the client closes with the other still waiting.
 */
struct exec_test {
	struct tctx *t;
	struct call a, b;
	uv_timer_t timer;
};

static void exec_close(uv_timer_t *timer)
{
	struct exec_test *et = timer->data;

	assert_cancelled(&et->a);
	assert_int_equal(et->b.ncb, 0);
	kl_kube_close(et->t->k, on_closed, et->t);
	uv_close((uv_handle_t *)timer, NULL);
}

static void exec_cancel(uv_timer_t *timer)
{
	struct exec_test *et = timer->data;

	assert_int_equal(et->a.ncb + et->b.ncb, 0);
	kl_kube_cancel(et->a.req);
	uv_timer_start(timer, exec_close, 50, 0);
}

static void test_close_waiting_for_exec(void **state)
{
	static const char *const args[] = {"-c", "exec sleep 30", NULL};
	struct kl_kube_exec exec = {.command = "/bin/sh",
				    .args = (const char **)args,
				    .api_version = "client.authentication.k8s.io/v1",
				    .interactive_mode = "Never"};
	struct tctx t;
	struct exec_test et = {.t = &t};
	struct th_log l;

	ctx_init(&t, state);
	t.auto_close = false;
	t.cfg.token = NULL;
	t.cfg.exec = &exec;
	ctx_start(&t);

	get(&t, &et.a, POD_PATH "web-1");
	get(&t, &et.b, POD_PATH "web-2");
	assert_int_equal(uv_timer_init(&t.loop, &et.timer), 0);
	et.timer.data = &et;
	assert_int_equal(uv_timer_start(&et.timer, exec_cancel, 50, 0), 0);
	ctx_run(&t);

	assert_cancelled(&et.a);
	assert_cancelled(&et.b);
	th_log_fetch(t.srv, &l);
	assert_int_equal(l.n, 0);
	th_log_free(&l);
	ctx_free(&t);
}

/* kloompas_apiserver_requests_total and the duration histogram, rendered. */
static void test_metrics(void **state)
{
	static const char *const p1[] = {"web-1", NULL};
	static const char *const p2[] = {"web-2", NULL};
	struct tctx t;
	struct call g1 = {0}, g2 = {0}, missing = {0}, ls = {0}, w = {0};
	struct th_sb b = {0};
	char *text;
	size_t len;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'" POD_PATH "web-1','then':{'json':");
	sb_pod(&b, "default", "web-1", 11);
	th_sb_add(&b, "}},{'prefix':'" POD_PATH "missing','then':{'status':404,'json':");
	sb_status(&b, 404, "NotFound", "not found");
	th_sb_add(&b, "}},{'prefix':'/api/v1/pods','watch':false,'responses':[{'json':");
	sb_page(&b, "100", "c1", p1);
	th_sb_add(&b, "},{'json':");
	sb_page(&b, "100", "", p2);
	th_sb_add(&b, "}]},{'prefix':'/api/v1/pods','watch':true,'then':{'events':"
		      "[{'type':'ADDED','object':");
	sb_pod(&b, "default", "web-1", 11);
	th_sb_add(&b, "}]}}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);

	get(&t, &g1, POD_PATH "web-1");
	get(&t, &g2, POD_PATH "web-1");
	get(&t, &missing, POD_PATH "missing");
	list(&t, &ls, "/api/v1/pods", NULL, 1);
	watch(&t, &w, "/api/v1/pods", "100", 30);
	ctx_run(&t);

	assert_ok(&g1);
	assert_ok(&g2);
	assert_int_equal(missing.err, -ENOENT);
	assert_ok(&ls);
	assert_int_equal(ls.nitems, 2);
	assert_ok(&w);
	assert_int_equal(kl_metrics_render(t.metrics, &text, &len), 0);
	assert_non_null(strstr(text, "# TYPE kloompas_apiserver_requests_total counter\n"));
	assert_non_null(
	    strstr(text, "kloompas_apiserver_requests_total{verb=\"get\",code=\"200\"} 2\n"));
	assert_non_null(
	    strstr(text, "kloompas_apiserver_requests_total{verb=\"get\",code=\"404\"} 1\n"));
	assert_non_null(
	    strstr(text, "kloompas_apiserver_requests_total{verb=\"list\",code=\"200\"} 2\n"));
	assert_non_null(
	    strstr(text, "kloompas_apiserver_requests_total{verb=\"watch\",code=\"200\"} 1\n"));
	assert_non_null(
	    strstr(text, "# TYPE kloompas_apiserver_request_duration_seconds histogram\n"));
	assert_non_null(
	    strstr(text, "kloompas_apiserver_request_duration_seconds_count{verb=\"get\"} 3\n"));
	assert_non_null(
	    strstr(text, "kloompas_apiserver_request_duration_seconds_count{verb=\"list\"} 2\n"));
	/* watches last as long as the server lets them: not a latency */
	assert_null(
	    strstr(text, "kloompas_apiserver_request_duration_seconds_count{verb=\"watch\""));
	free(text);
	ctx_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get),
	    cmocka_unit_test(test_list_pages),
	    cmocka_unit_test(test_list_expired),
	    cmocka_unit_test(test_list_resource_version),
	    cmocka_unit_test(test_list_rv_refused),
	    cmocka_unit_test(test_negotiation_protobuf),
	    cmocka_unit_test(test_negotiation_json),
	    cmocka_unit_test(test_watch_events),
	    cmocka_unit_test(test_watch_cut),
	    cmocka_unit_test(test_watch_error_event),
	    cmocka_unit_test(test_token_file_401),
	    cmocka_unit_test(test_rate_limiter),
	    cmocka_unit_test(test_cancel),
	    cmocka_unit_test(test_close_in_flight),
	    cmocka_unit_test(test_close_waiting_for_exec),
	    cmocka_unit_test(test_metrics),
	};

	/* a peer that goes away must not kill the test with SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, th_fakeapi_setup, th_fakeapi_teardown);
}
