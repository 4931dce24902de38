/*
 * test/unit/test_lease.c - kubeclient/lease.c against a scripted fake API server.
 *
 * Leader election is about what other replicas did to the Lease, and when: a holder
 * that died with a renewTime in the future, a holder that keeps renewing, a write
 * that loses a race (409), an API server that answers 500 while we lead, a call
 * that never returns. test/data/fakeapi/server.py plays all of them as each test
 * scripts (POST /_script), and tells afterwards what the elector sent (GET /_log),
 * bodies included. test/e2e/test_k8s_lease.py runs the same elector against the
 * real API server; these tests are on top of it.
 *
 * Each test runs its own loop, client and elector with short durations (lease 1 s,
 * renew deadline 600 ms, retry 200 ms), stops the elector at a scripted moment,
 * closes the client in the stop callback, and ends with uv_loop_close() == 0. The
 * leadership callback records when it ran (ms of loop time after start) and fails
 * the test if it runs after kl_lease_stop(). Timing bounds are one-sided where the
 * contract is ("not before the lease duration") and generous on the other side.
 *
 * Scripts are written as JSON with ' for " (see th_fakeapi_script()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h> /* after the three above, which it needs */

#include <ctype.h>
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
#include "kubeclient/lease.h"
#include "util/metrics.h"

#include "harness.h"

#define WATCHDOG_MS 15000
#define LEASE_MS 1000
#define RENEW_MS 600
#define RETRY_MS 200
#define MAXCB 16

#define ME "me_00000000000000aa"
#define LEASES "/apis/coordination.k8s.io/v1/namespaces/kl/leases"
#define LEASE LEASES "/kloompas"
#define FUTURE "2999-12-31T23:59:59.000000Z"
#define ADDR_KEY "kloompas.io/chatops-address"

/* ---------------------------------------------------------------- strings */

/* A Lease answer carrying the annotation ADDR_KEY: addr (NULL: none). */
static void sb_lease_addr(struct th_sb *b, int status, const char *holder, unsigned rv,
			  const char *renew, int transitions, int duration_s, const char *addr)
{
	th_sb_add(b,
		  "{'status':%d,'json':{'apiVersion':'coordination.k8s.io/v1','kind':'Lease',"
		  "'metadata':{'name':'kloompas','namespace':'kl','uid':'uid-lease',"
		  "'resourceVersion':'%u','labels':{'app':'kloompas'},"
		  "'annotations':{%s%s%s'note':'a \\\"quoted\\\" \\\\ value'}},"
		  "'spec':{'holderIdentity':'%s','leaseDurationSeconds':%d,"
		  "'acquireTime':'2020-01-01T00:00:00.000000Z','renewTime':'%s',"
		  "'leaseTransitions':%d}}}",
		  status, rv, addr ? "'" ADDR_KEY "':'" : "", addr ? addr : "", addr ? "'," : "",
		  holder, duration_s, renew, transitions);
}

/* A Lease answer (a RESP of the fake server), written with ' for ". */
static void sb_lease(struct th_sb *b, int status, const char *holder, unsigned rv,
		     const char *renew, int transitions, int duration_s)
{
	sb_lease_addr(b, status, holder, rv, renew, transitions, duration_s, NULL);
}

/* A Status answer. */
static void sb_status(struct th_sb *b, int code, const char *reason)
{
	th_sb_add(b,
		  "{'status':%d,'json':{'kind':'Status','apiVersion':'v1','metadata':{},"
		  "'status':'Failure','message':'scripted %s','reason':'%s','code':%d}}",
		  code, reason, reason, code);
}

/* n answers of a holder that renews before every read: rv and renewTime change. */
static void sb_renewing(struct th_sb *b, const char *holder, unsigned rv0, int n)
{
	char renew[64];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(renew, sizeof(renew), "2020-01-01T00:00:%02d.000000Z", i % 60);
		if (i)
			th_sb_add(b, ",");
		sb_lease(b, 200, holder, rv0 + (unsigned)i, renew, 5, 1);
	}
}

/* ---------------------------------------------------------------- the server */

/* What the server was asked, with the Lease fields of each request body. */
struct logent {
	char method[16], path[256];
	bool has_body;
	char holder[128], rv[32], renew[64], acquire[64], label[64], note[64], name[64];
	char addr[64]; /* the ADDR_KEY annotation, "(none)" when absent */
	long long duration, transitions;
};

struct slog {
	struct logent *e;
	size_t n;
};

static int on_body(void *arg, enum kl_json_what what, const struct kl_json *v)
{
	struct logent *x = arg;
	const struct kl_json *spec = kl_json_get(v, "spec"), *meta = kl_json_get(v, "metadata");
	int64_t n;

	assert_non_null(spec);
	assert_non_null(meta);
	assert_string_equal(kl_json_str(kl_json_get(v, "kind"), ""), "Lease");
	assert_string_equal(kl_json_str(kl_json_get(v, "apiVersion"), ""),
			    "coordination.k8s.io/v1");
	x->has_body = true;
	snprintf(x->holder, sizeof(x->holder), "%s",
		 kl_json_str(kl_json_get(spec, "holderIdentity"), "(none)"));
	snprintf(x->rv, sizeof(x->rv), "%s", kl_json_str(kl_json_get(meta, "resourceVersion"), ""));
	snprintf(x->name, sizeof(x->name), "%s", kl_json_str(kl_json_get(meta, "name"), ""));
	snprintf(x->label, sizeof(x->label), "%s",
		 kl_json_str(kl_json_path(meta, "labels", "app", NULL), ""));
	snprintf(x->note, sizeof(x->note), "%s",
		 kl_json_str(kl_json_path(meta, "annotations", "note", NULL), ""));
	snprintf(x->addr, sizeof(x->addr), "%s",
		 kl_json_str(kl_json_path(meta, "annotations", ADDR_KEY, NULL), "(none)"));
	snprintf(x->renew, sizeof(x->renew), "%s", kl_json_str(kl_json_get(spec, "renewTime"), ""));
	snprintf(x->acquire, sizeof(x->acquire), "%s",
		 kl_json_str(kl_json_get(spec, "acquireTime"), ""));
	x->duration = kl_json_int(kl_json_get(spec, "leaseDurationSeconds"), &n) == 0 ? n : -1;
	x->transitions = kl_json_int(kl_json_get(spec, "leaseTransitions"), &n) == 0 ? n : -1;
	return 0;
}

static int on_log(void *arg, enum kl_json_what what, const struct kl_json *v)
{
	struct slog *l = arg;
	const struct kl_json *e;

	assert_int_equal(v->type, KL_JSON_ARRAY);
	l->e = calloc(v->n + 1, sizeof(*l->e));
	assert_non_null(l->e);
	for (e = v->child; e; e = e->next) {
		struct logent *x = &l->e[l->n++];
		const char *body = kl_json_str(kl_json_get(e, "body"), "");
		struct kl_json_stream *js;
		struct kl_error err;

		snprintf(x->method, sizeof(x->method), "%s",
			 kl_json_str(kl_json_get(e, "method"), ""));
		snprintf(x->path, sizeof(x->path), "%s", kl_json_str(kl_json_get(e, "path"), ""));
		if (!body[0])
			continue;
		js = kl_json_stream_new(KL_JSON_DOCUMENT, 0, on_body, x);
		assert_non_null(js);
		kl_error_clear(&err);
		assert_int_equal(kl_json_stream_feed(js, body, strlen(body), &err), 0);
		assert_int_equal(kl_json_stream_finish(js, &err), 0);
		kl_json_stream_free(js);
	}
	return 0;
}

static void log_fetch(const struct th_fakeapi *s, struct slog *l)
{
	memset(l, 0, sizeof(*l));
	th_fakeapi_log_parse(s, on_log, l);
	assert_non_null(l->e);
}

static void log_free(struct slog *l)
{
	free(l->e);
	memset(l, 0, sizeof(*l));
}

static size_t log_count(const struct slog *l, const char *method, const char *path)
{
	size_t i, n = 0;

	for (i = 0; i < l->n; i++)
		n += strcmp(l->e[i].method, method) == 0 && strcmp(l->e[i].path, path) == 0;
	return n;
}

/* The k-th request with this method (0-based), or NULL. */
static const struct logent *log_nth(const struct slog *l, const char *method, size_t k)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->e[i].method, method) == 0 && k-- == 0)
			return &l->e[i];
	return NULL;
}

static const struct logent *log_last(const struct slog *l, const char *method)
{
	size_t i;

	for (i = l->n; i-- > 0;)
		if (strcmp(l->e[i].method, method) == 0)
			return &l->e[i];
	return NULL;
}

/* "2006-01-02T15:04:05.000000Z" */
static void assert_micro_time(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	size_t i;

	assert_int_equal(strlen(s), strlen(shape));
	for (i = 0; shape[i]; i++) {
		if (shape[i] == 'd')
			assert_true(isdigit((unsigned char)s[i]));
		else
			assert_int_equal(s[i], shape[i]);
	}
}

/* ---------------------------------------------------------------- loop fixture */

struct tctx {
	uv_loop_t loop;
	uv_timer_t watchdog, stopper;
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
	struct kl_lease *lease;
	uint64_t t0; /* loop time at start */

	/* when to stop (ms; -1: not on this event) */
	int64_t stop_after, stop_after_leader, stop_after_lost;
	bool stop_in_cb; /* stop inside the "became leader" callback */
	const char *addr; /* the ADDR_KEY annotation we write as holder, or NULL */
	char holder_addr[64]; /* kl_lease_holder_annotation() when stopping ("(null)") */

	int ncb;
	bool cb[MAXCB];
	uint64_t cb_at[MAXCB];
	bool stop_called;
	uint64_t stop_at, stopped_at;
	int stopped, closed;
};

static uint64_t elapsed(struct tctx *t)
{
	return uv_now(&t->loop) - t->t0;
}

static double gauge(struct tctx *t)
{
	struct kl_metric *m = kl_metrics_find(t->metrics, "kloompas_leader");

	assert_non_null(m);
	return kl_metric_get(m, NULL);
}

static void on_closed(void *arg)
{
	struct tctx *t = arg;

	t->closed++;
}

static void on_stopped(void *arg)
{
	struct tctx *t = arg;

	t->stopped++;
	t->stopped_at = elapsed(t);
	t->lease = NULL;
	assert_int_equal(gauge(t), 0);
	kl_kube_close(t->k, on_closed, t);
}

static void do_stop(struct tctx *t)
{
	assert_false(t->stop_called);
	t->stop_called = true;
	t->stop_at = elapsed(t);
	snprintf(t->holder_addr, sizeof(t->holder_addr), "%s",
		 kl_lease_holder_annotation(t->lease) ? kl_lease_holder_annotation(t->lease)
						      : "(null)");
	uv_timer_stop(&t->stopper);
	kl_lease_stop(t->lease, on_stopped, t);
}

static void on_stopper(uv_timer_t *h)
{
	do_stop(h->data);
}

static void stop_later(struct tctx *t, int64_t ms)
{
	if (ms >= 0)
		assert_int_equal(uv_timer_start(&t->stopper, on_stopper, (uint64_t)ms, 0), 0);
}

static void on_leader(void *arg, bool leader)
{
	struct tctx *t = arg;

	assert_false(t->stop_called); /* never after kl_lease_stop() */
	assert_true(t->ncb < MAXCB);
	/* alternating: true, false, true... */
	assert_int_equal(leader, t->ncb % 2 == 0);
	t->cb[t->ncb] = leader;
	t->cb_at[t->ncb++] = elapsed(t);
	assert_int_equal(kl_lease_is_leader(t->lease), leader);
	assert_int_equal(gauge(t), leader ? 1 : 0);
	if (leader && t->stop_in_cb)
		do_stop(t);
	else
		stop_later(t, leader ? t->stop_after_leader : t->stop_after_lost);
}

/* Resets the server; the test then scripts it, adjusts t, and calls ctx_run. */
static void ctx_init(struct tctx *t, void **state)
{
	memset(t, 0, sizeof(*t));
	t->srv = *state;
	t->stop_after = t->stop_after_leader = t->stop_after_lost = -1;
	th_fakeapi_reset(t->srv);
	th_fakeapi_config(t->srv, t->url, sizeof(t->url), &t->cfg);
	assert_int_equal(uv_loop_init(&t->loop), 0);
	th_memlog_open(&t->log, &t->logf, &t->logbuf, &t->loglen);
	t->metrics = kl_metrics_new();
	assert_non_null(t->metrics);
}

/* Starts client and elector, runs until both are closed, checks the loop closes. */
static void ctx_run(struct tctx *t)
{
	struct kl_lease_opts o = {.ns = "kl",
				  .name = "kloompas",
				  .identity = ME,
				  .lease_ms = LEASE_MS,
				  .renew_deadline_ms = RENEW_MS,
				  .retry_ms = RETRY_MS,
				  .annotation_key = t->addr ? ADDR_KEY : NULL,
				  .annotation_value = t->addr};
	struct kl_error err;

	kl_error_clear(&err);
	assert_int_equal(kl_kube_new(&t->loop, &t->cfg, &t->opts, &t->log, t->metrics, &t->k, &err),
			 0);
	t->lease = kl_lease_new(&t->loop, t->k, &o, &t->log, t->metrics, on_leader, t);
	assert_non_null(t->lease);
	assert_string_equal(kl_lease_identity(t->lease), ME);
	assert_false(kl_lease_is_leader(t->lease));
	assert_int_equal(gauge(t), 0);
	th_watchdog_start(&t->loop, &t->watchdog, WATCHDOG_MS);
	assert_int_equal(uv_timer_init(&t->loop, &t->stopper), 0);
	t->stopper.data = t;
	uv_update_time(&t->loop);
	t->t0 = uv_now(&t->loop);
	assert_int_equal(kl_lease_start(t->lease), 0);
	assert_int_equal(kl_lease_start(t->lease), -EINVAL); /* once */
	stop_later(t, t->stop_after);

	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(t->stopped, 1);
	assert_int_equal(t->closed, 1);
	uv_close((uv_handle_t *)&t->watchdog, NULL);
	uv_close((uv_handle_t *)&t->stopper, NULL);
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

static bool logged(const struct tctx *t, const char *s)
{
	return t->logbuf && strstr(t->logbuf, s);
}

/* ---------------------------------------------------------------- tests */

/* No Lease: create it with us as holder, renew by UPDATE alone, release on stop. */
static void test_create_renew_release(void **state)
{
	struct tctx t;
	struct th_sb b = {0};
	struct slog l;
	const struct logent *e;
	size_t i, nput;

	ctx_init(&t, state);
	/* main may have registered the gauge (and set it for --leader-elect=false): reused */
	assert_int_equal(
	    kl_metric_set(kl_metrics_gauge(t.metrics, "kloompas_leader", "x", NULL), NULL, 1), 0);
	th_sb_add(&b, "{'rules':[{'prefix':'" LEASE "','method':'GET','responses':[");
	sb_status(&b, 404, "NotFound");
	th_sb_add(&b, "]},{'prefix':'" LEASES "','method':'POST','responses':[");
	sb_lease(&b, 201, ME, 1, "2020-01-01T00:00:00.000000Z", 0, 1);
	th_sb_add(&b, "]},{'prefix':'" LEASE "','method':'PUT','then':");
	sb_lease(&b, 200, ME, 2, "2020-01-01T00:00:01.000000Z", 0, 1);
	th_sb_add(&b, "}]}");
	th_fakeapi_script(t.srv, &b);
	t.stop_after_leader = 3 * RETRY_MS + RETRY_MS / 2;
	ctx_run(&t);

	assert_int_equal(t.ncb, 1); /* no "false" for the stop */
	assert_true(t.cb[0]);
	assert_true(t.cb_at[0] < LEASE_MS); /* nobody held it: no wait */
	log_fetch(t.srv, &l);
	assert_string_equal(l.e[0].method, "GET");
	assert_string_equal(l.e[0].path, LEASE);
	assert_int_equal(log_count(&l, "GET", LEASE), 1); /* the leader renews without reading */
	assert_int_equal(log_count(&l, "POST", LEASES), 1);
	e = log_nth(&l, "POST", 0);
	assert_string_equal(e->holder, ME);
	assert_string_equal(e->name, "kloompas");
	assert_string_equal(e->rv, "");
	assert_int_equal(e->duration, 1);
	assert_int_equal(e->transitions, 0);
	assert_micro_time(e->renew);
	assert_string_equal(e->acquire, e->renew);
	/* renewals: ours, on the resourceVersion of our last write, then the release */
	nput = log_count(&l, "PUT", LEASE);
	assert_true(nput >= 3);
	for (i = 0; i + 1 < nput; i++) {
		e = log_nth(&l, "PUT", i);
		assert_string_equal(e->holder, ME);
		assert_string_equal(e->rv, i == 0 ? "1" : "2");
		assert_int_equal(e->duration, 1);
		assert_int_equal(e->transitions, 0);
		assert_micro_time(e->renew);
		/* acquireTime is kept from the record while we hold it */
		assert_string_equal(e->acquire, "2020-01-01T00:00:00.000000Z");
		assert_string_equal(e->label, "kloompas"); /* metadata sent back */
		assert_string_equal(e->note, "a \"quoted\" \\ value");
	}
	e = log_last(&l, "PUT");
	assert_string_equal(e->holder, "");
	assert_int_equal(e->duration, 1);
	assert_string_equal(e->rv, "2");
	assert_micro_time(e->renew);
	log_free(&l);
	assert_true(
	    logged(&t, "component=lease msg=\"became leader\" identity=" ME " lease=kl/kloompas"));
	assert_true(logged(&t, "msg=\"released lease\""));
	ctx_free(&t);
}

/*
 * A holder that died with a renewTime far in the future: taken once the record has
 * not changed for leaseDurationSeconds on our clock, whatever renewTime says.
 */
static void test_take_expired(void **state)
{
	struct tctx t;
	struct th_sb b = {0};
	struct slog l;
	const struct logent *e;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'" LEASE "','method':'GET','then':");
	sb_lease(&b, 200, "dead-1", 5, FUTURE, 3, 1);
	th_sb_add(&b, "},{'prefix':'" LEASE "','method':'PUT','then':");
	sb_lease(&b, 200, ME, 6, "2020-01-01T00:00:01.000000Z", 4, 1);
	th_sb_add(&b, "}]}");
	th_fakeapi_script(t.srv, &b);
	t.stop_in_cb = true;
	ctx_run(&t);

	assert_int_equal(t.ncb, 1);
	assert_true(t.cb_at[0] >= LEASE_MS);
	assert_true(t.cb_at[0] < LEASE_MS + 2000);
	log_fetch(t.srv, &l);
	assert_true(log_count(&l, "GET", LEASE) >= 3); /* it kept looking meanwhile */
	assert_int_equal(log_count(&l, "PUT", LEASE), 2);
	e = log_nth(&l, "PUT", 0);
	assert_string_equal(e->holder, ME);
	assert_string_equal(e->rv, "5");
	assert_int_equal(e->transitions, 4); /* a new holder */
	assert_int_equal(e->duration, 1);
	assert_string_equal(e->acquire, e->renew); /* acquired now */
	assert_micro_time(e->acquire);
	assert_string_equal(e->label, "kloompas");
	e = log_nth(&l, "PUT", 1); /* stopped in the callback: released at once */
	assert_string_equal(e->holder, "");
	assert_string_equal(e->rv, "6");
	assert_int_equal(e->transitions, 4);
	log_free(&l);
	assert_true(logged(&t, "msg=\"leader is\" identity=dead-1 lease=kl/kloompas"));
	ctx_free(&t);
}

/* A holder that keeps renewing is never taken, however long we look. */
static void test_holder_renewing(void **state)
{
	struct tctx t;
	struct th_sb b = {0};
	struct slog l;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'" LEASE "','method':'GET','responses':[");
	sb_renewing(&b, "other-1", 100, 40);
	th_sb_add(&b, "]},{'prefix':'" LEASE "','method':'PUT','then':");
	sb_lease(&b, 200, ME, 999, "2020-01-01T00:00:01.000000Z", 6, 1);
	th_sb_add(&b, "}]}");
	th_fakeapi_script(t.srv, &b);
	t.stop_after = 2500;
	ctx_run(&t);

	assert_int_equal(t.ncb, 0);
	log_fetch(t.srv, &l);
	assert_true(log_count(&l, "GET", LEASE) >= 5);
	assert_int_equal(log_count(&l, "PUT", LEASE), 0);
	assert_int_equal(log_count(&l, "POST", LEASES), 0);
	log_free(&l);
	assert_true(logged(&t, "msg=\"leader is\" identity=other-1"));
	ctx_free(&t);
}

/* Released (holderIdentity ""): taken at once, even with a long leaseDurationSeconds. */
static void test_take_released(void **state)
{
	struct tctx t;
	struct th_sb b = {0};
	struct slog l;
	const struct logent *e;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'" LEASE "','method':'GET','then':");
	sb_lease(&b, 200, "", 7, FUTURE, 2, 15);
	th_sb_add(&b, "},{'prefix':'" LEASE "','method':'PUT','then':");
	sb_lease(&b, 200, ME, 8, "2020-01-01T00:00:01.000000Z", 3, 1);
	th_sb_add(&b, "}]}");
	th_fakeapi_script(t.srv, &b);
	t.stop_in_cb = true;
	ctx_run(&t);

	assert_int_equal(t.ncb, 1);
	assert_true(t.cb_at[0] < LEASE_MS);
	log_fetch(t.srv, &l);
	assert_int_equal(log_count(&l, "GET", LEASE), 1);
	e = log_nth(&l, "PUT", 0);
	assert_string_equal(e->holder, ME);
	assert_string_equal(e->rv, "7");
	assert_int_equal(e->transitions, 3);
	e = log_nth(&l, "PUT", 1);
	assert_string_equal(e->holder, "");
	assert_string_equal(e->rv, "8");
	assert_null(log_nth(&l, "PUT", 2));
	log_free(&l);
	ctx_free(&t);
}

/*
 * Ends script b with the write that makes us holder (resourceVersion rv, our address),
 * runs the elector with that address, stopping as soon as it leads.
 */
static void take_with_addr(struct tctx *t, struct th_sb *b, unsigned rv)
{
	sb_lease_addr(b, rv == 1 ? 201 : 200, ME, rv, "2020-01-01T00:00:01.000000Z", 3, 1,
		      "127.0.0.1:4321");
	th_sb_add(b, "}]}");
	th_fakeapi_script(t->srv, b);
	t->addr = "127.0.0.1:4321";
	t->stop_in_cb = true;
	ctx_run(t);
}

/*
 * The holder's address annotation: a follower reads the holder's; taking over writes
 * ours in its place, every other annotation kept; the release drops ours.
 */
static void test_address_annotation(void **state)
{
	struct tctx t;
	struct th_sb b = {0};
	struct slog l;
	const struct logent *e;
	int i;

	/* a follower: the live holder's address */
	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'" LEASE "','method':'GET','responses':[");
	for (i = 0; i < 20; i++) {
		char renew[64];

		snprintf(renew, sizeof(renew), "2020-01-01T00:00:%02d.000000Z", i);
		th_sb_add(&b, i ? "," : "");
		sb_lease_addr(&b, 200, "other-1", 100 + (unsigned)i, renew, 5, 1, "10.0.0.9:8080");
	}
	th_sb_add(&b, "]}]}");
	th_fakeapi_script(t.srv, &b);
	t.addr = "127.0.0.1:4321";
	t.stop_after = 700;
	ctx_run(&t);
	assert_int_equal(t.ncb, 0);
	assert_string_equal(t.holder_addr, "10.0.0.9:8080");
	ctx_free(&t);

	/* released by the old holder, its address still there: ours replaces it */
	ctx_init(&t, state);
	memset(&b, 0, sizeof(b));
	th_sb_add(&b, "{'rules':[{'prefix':'" LEASE "','method':'GET','then':");
	sb_lease_addr(&b, 200, "", 7, FUTURE, 2, 15, "10.0.0.9:8080");
	th_sb_add(&b, "},{'prefix':'" LEASE "','method':'PUT','then':");
	take_with_addr(&t, &b, 8);
	assert_int_equal(t.ncb, 1);
	assert_string_equal(t.holder_addr, "(null)"); /* ours: nobody to forward to */
	log_fetch(t.srv, &l);
	e = log_nth(&l, "PUT", 0);
	assert_string_equal(e->holder, ME);
	assert_string_equal(e->addr, "127.0.0.1:4321");
	assert_string_equal(e->note, "a \"quoted\" \\ value");
	assert_string_equal(e->label, "kloompas");
	e = log_nth(&l, "PUT", 1);
	assert_string_equal(e->holder, "");
	assert_string_equal(e->addr, "(none)");
	assert_string_equal(e->note, "a \"quoted\" \\ value");
	log_free(&l);
	ctx_free(&t);

	/* a created Lease carries it from the start */
	ctx_init(&t, state);
	memset(&b, 0, sizeof(b));
	th_sb_add(&b, "{'rules':[{'prefix':'" LEASE "','method':'GET','then':");
	sb_status(&b, 404, "NotFound");
	th_sb_add(&b, "},{'prefix':'" LEASES "','method':'POST','then':");
	take_with_addr(&t, &b, 1);
	log_fetch(t.srv, &l);
	e = log_nth(&l, "POST", 0);
	assert_non_null(e);
	assert_string_equal(e->addr, "127.0.0.1:4321");
	assert_string_equal(e->name, "kloompas");
	log_free(&l);
	ctx_free(&t);
}

/* The API server fails every renewal: leadership ends renew_deadline after the last write. */
static void test_renew_fails(void **state)
{
	struct tctx t;
	struct th_sb b = {0};
	struct slog l;
	size_t i;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'" LEASE "','method':'GET','responses':[");
	sb_status(&b, 404, "NotFound");
	th_sb_add(&b, "],'then':");
	sb_status(&b, 500, "InternalError");
	th_sb_add(&b, "},{'prefix':'" LEASES "','method':'POST','responses':[");
	sb_lease(&b, 201, ME, 1, "2020-01-01T00:00:00.000000Z", 0, 1);
	th_sb_add(&b, "]},{'prefix':'" LEASE "','method':'PUT','then':");
	sb_status(&b, 500, "InternalError");
	th_sb_add(&b, "}]}");
	th_fakeapi_script(t.srv, &b);
	t.stop_after_lost = 3 * RETRY_MS;
	ctx_run(&t);

	assert_int_equal(t.ncb, 2);
	assert_true(t.cb[0]);
	assert_false(t.cb[1]);
	assert_true(t.cb_at[1] - t.cb_at[0] >= RENEW_MS);
	assert_true(t.cb_at[1] - t.cb_at[0] < RENEW_MS + 1000);
	log_fetch(t.srv, &l);
	/* a failed renewal reads the Lease at once (client-go's slow path) */
	assert_true(log_count(&l, "PUT", LEASE) >= 2);
	for (i = 0; i + 1 < l.n; i++)
		if (strcmp(l.e[i].method, "PUT") == 0)
			assert_string_equal(l.e[i + 1].method, "GET");
	/* renewals while leading, then reads as a candidate for 3 retry periods */
	assert_true(log_count(&l, "GET", LEASE) >= 4);
	/* the record still names us: release is tried (best effort, it fails) */
	assert_string_equal(log_last(&l, "PUT")->holder, "");
	assert_string_equal(l.e[l.n - 1].method, "PUT");
	log_free(&l);
	assert_true(logged(&t, "msg=\"lost leadership\" identity=" ME));
	assert_true(logged(&t, "msg=\"renew failed\""));
	assert_true(logged(&t, "msg=\"release failed\""));
	ctx_free(&t);
}

/* A candidate's takeover loses the race (409): it reads again and leaves the winner be. */
static void test_conflict_candidate(void **state)
{
	struct tctx t;
	struct th_sb b = {0};
	struct slog l;
	const struct logent *e;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'" LEASE "','method':'GET','responses':[");
	sb_lease(&b, 200, "", 7, FUTURE, 2, 1);
	th_sb_add(&b, ",");
	sb_renewing(&b, "winner", 8, 40);
	th_sb_add(&b, "]},{'prefix':'" LEASE "','method':'PUT','responses':[");
	sb_status(&b, 409, "Conflict");
	th_sb_add(&b, "],'then':");
	sb_lease(&b, 200, ME, 999, "2020-01-01T00:00:01.000000Z", 9, 1);
	th_sb_add(&b, "}]}");
	th_fakeapi_script(t.srv, &b);
	t.stop_after = 1500;
	ctx_run(&t);

	assert_int_equal(t.ncb, 0);
	log_fetch(t.srv, &l);
	assert_string_equal(l.e[0].method, "GET");
	assert_string_equal(l.e[1].method, "PUT"); /* released: taken at once */
	e = log_nth(&l, "PUT", 0);
	assert_string_equal(e->holder, ME);
	assert_string_equal(e->rv, "7");
	assert_int_equal(e->transitions, 3);
	assert_int_equal(log_count(&l, "PUT", LEASE), 1);
	assert_true(log_count(&l, "GET", LEASE) >= 3);
	log_free(&l);
	assert_true(logged(&t, "msg=\"leader is\" identity=winner"));
	ctx_free(&t);
}

/*
 * The leader's renewal gets a 409 and the Lease now names a live holder: leadership
 * ends at once, not at the renew deadline, and the Lease is not released (not ours).
 */
static void test_conflict_leader(void **state)
{
	struct tctx t;
	struct th_sb b = {0};
	struct slog l;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'" LEASE "','method':'GET','responses':[");
	sb_status(&b, 404, "NotFound");
	th_sb_add(&b, ",");
	sb_renewing(&b, "usurper", 10, 40);
	th_sb_add(&b, "]},{'prefix':'" LEASES "','method':'POST','responses':[");
	sb_lease(&b, 201, ME, 1, "2020-01-01T00:00:00.000000Z", 0, 1);
	th_sb_add(&b, "]},{'prefix':'" LEASE "','method':'PUT','responses':[");
	sb_lease(&b, 200, ME, 2, "2020-01-01T00:00:01.000000Z", 0, 1);
	th_sb_add(&b, "],'then':");
	sb_status(&b, 409, "Conflict");
	th_sb_add(&b, "}]}");
	th_fakeapi_script(t.srv, &b);
	t.stop_after_lost = 3 * RETRY_MS;
	ctx_run(&t);

	assert_int_equal(t.ncb, 2);
	assert_true(t.cb[0]);
	assert_false(t.cb[1]);
	/* two renewals, one retry period apart; the second lost */
	assert_true(t.cb_at[1] - t.cb_at[0] < RENEW_MS);
	log_fetch(t.srv, &l);
	assert_int_equal(log_count(&l, "PUT", LEASE), 2);
	assert_string_equal(log_nth(&l, "PUT", 1)->rv, "2");
	assert_true(log_count(&l, "GET", LEASE) >= 3);
	log_free(&l);
	assert_true(logged(&t, "msg=\"leader is\" identity=usurper"));
	ctx_free(&t);
}

/* A read that never answers is cancelled after renew_deadline and the next round goes on. */
static void test_call_timeout(void **state)
{
	struct tctx t;
	struct th_sb b = {0};
	struct slog l;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'" LEASE "','method':'GET','responses':["
		      "{'stall':true}],'then':");
	sb_lease(&b, 200, "", 7, FUTURE, 2, 1);
	th_sb_add(&b, "},{'prefix':'" LEASE "','method':'PUT','then':");
	sb_lease(&b, 200, ME, 8, "2020-01-01T00:00:01.000000Z", 3, 1);
	th_sb_add(&b, "}]}");
	th_fakeapi_script(t.srv, &b);
	t.stop_in_cb = true;
	ctx_run(&t);

	assert_int_equal(t.ncb, 1);
	assert_true(t.cb_at[0] >= RENEW_MS);
	assert_true(t.cb_at[0] < RENEW_MS + 2000);
	log_fetch(t.srv, &l);
	assert_int_equal(log_count(&l, "GET", LEASE), 2);
	assert_int_equal(log_count(&l, "PUT", LEASE), 2);
	log_free(&l);
	ctx_free(&t);
}

/* Stop while a read hangs: the read is cancelled, nothing is written, no callback. */
static void test_stop_during_get(void **state)
{
	struct tctx t;
	struct th_sb b = {0};
	struct slog l;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[{'prefix':'" LEASE "','method':'GET','then':{'stall':true}}]}");
	th_fakeapi_script(t.srv, &b);
	t.stop_after = RETRY_MS;
	ctx_run(&t);

	assert_int_equal(t.ncb, 0);
	assert_true(t.stopped_at - t.stop_at < RENEW_MS); /* not waiting for the bound */
	log_fetch(t.srv, &l);
	assert_int_equal(l.n, 1);
	log_free(&l);
	ctx_free(&t);
}

/* Stop before start, and stop while leading without a request in flight. */
static void test_stop_unstarted(void **state)
{
	struct tctx t;
	struct kl_lease_opts o = {.ns = "kl",
				  .name = "kloompas",
				  .identity = ME,
				  .lease_ms = LEASE_MS,
				  .renew_deadline_ms = RENEW_MS,
				  .retry_ms = RETRY_MS};
	struct kl_lease_opts bad = o;
	struct kl_lease *lease;

	ctx_init(&t, state);
	bad.identity = "";
	assert_null(kl_lease_new(&t.loop, NULL, &bad, &t.log, t.metrics, on_leader, &t));
	lease = kl_lease_new(&t.loop, NULL, &o, &t.log, NULL, on_leader, &t);
	assert_non_null(lease);
	kl_lease_stop(lease, on_closed, &t);
	assert_int_equal(t.closed, 0); /* from the loop, after the close callbacks */
	uv_run(&t.loop, UV_RUN_DEFAULT);
	assert_int_equal(t.closed, 1);
	assert_int_equal(uv_loop_close(&t.loop), 0);
	ctx_free(&t);
}

static void test_default_identity(void **state)
{
	char a[128], b[128], host[256];
	const char *p;
	size_t i;

	assert_int_equal(gethostname(host, sizeof(host)), 0);
	kl_lease_default_identity(a, sizeof(a));
	kl_lease_default_identity(b, sizeof(b));
	assert_string_not_equal(a, b);
	p = strrchr(a, '_');
	assert_non_null(p);
	assert_int_equal(strncmp(a, host, (size_t)(p - a)), 0);
	assert_int_equal(strlen(p + 1), 16);
	for (i = 0; p[1 + i]; i++)
		assert_true(isxdigit((unsigned char)p[1 + i]) && !isupper((unsigned char)p[1 + i]));
	kl_lease_default_identity(a, 8); /* truncated, still terminated */
	assert_int_equal(strlen(a), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_renew_release),   cmocka_unit_test(test_take_expired),
	    cmocka_unit_test(test_holder_renewing),  cmocka_unit_test(test_take_released),
	    cmocka_unit_test(test_renew_fails),	     cmocka_unit_test(test_conflict_candidate),
	    cmocka_unit_test(test_conflict_leader),  cmocka_unit_test(test_call_timeout),
	    cmocka_unit_test(test_stop_during_get),  cmocka_unit_test(test_stop_unstarted),
	    cmocka_unit_test(test_default_identity), cmocka_unit_test(test_address_annotation),
	};

	/* a peer that goes away must not kill the test with SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, th_fakeapi_setup, th_fakeapi_teardown);
}
