/*
 * test/unit/test_informer.c - the pods informer (reflector, store, informer) against
 * a scripted fake API server.
 *
 * test/data/fakeapi/server.py answers the informer's LISTs and WATCHes as each test
 * scripts them: pages, events, ERROR events, 500s, cut streams - and records every
 * request, so a test can tell that a watch resumed from a resourceVersion rather
 * than relisting. The real-server tests are test/e2e/; these are on top of them.
 *
 * Each test resets the server, scripts it, and runs its own loop, client and
 * factory (short watch timeouts, 10-50 ms backoff) with a recording handler. The
 * handler checks the cache at every call (updated before handlers run; gone for a
 * delete) and writes each call down as one line ("add default/web-1 rv=10"), which
 * the test compares with what it expects, in order and exactly. A scenario ends
 * when its condition holds - usually a "marker" pod scripted last: once it is
 * added, everything before it has been applied. Then the factory is stopped and
 * the client closed; every test ends with uv_loop_close() == 0 and the sanitizer
 * build checks for leaks. A watchdog fails a scenario that does not finish; no
 * assertion depends on timing.
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
#include "kubeclient/informer.h"
#include "kubeclient/json.h"
#include "kubeclient/objects.h"
#include "kubeclient/store.h"
#include "util/metrics.h"

#include "harness.h"

#define WATCHDOG_MS 15000
#define MAXREC 64

/* ---------------------------------------------------------------- strings */

/* A small but realistic pod (' for "): one container, running or waiting. */
static void sb_pod(struct th_sb *b, const char *ns, const char *name, unsigned rv,
		   const char *phase, int restarts)
{
	bool running = strcmp(phase, "Running") == 0;

	th_sb_add(
	    b,
	    "{'apiVersion':'v1','kind':'Pod','metadata':{'name':'%s','namespace':'%s',"
	    "'uid':'uid-%s-%s','resourceVersion':'%u','creationTimestamp':'2026-11-20T10:00:00Z',"
	    "'labels':{'app':'%s'},'ownerReferences':[{'apiVersion':'apps/v1','kind':'ReplicaSet',"
	    "'name':'%s-rs','uid':'rs-1','controller':true}]},"
	    "'spec':{'nodeName':'node-1','containers':[{'name':'app',"
	    "'image':'registry.example/app:1.2'}]},'status':{'phase':'%s',"
	    "'conditions':[{'type':'Ready','status':'%s',"
	    "'lastTransitionTime':'2026-11-20T10:00:05Z'}],'containerStatuses':[{'name':'app',"
	    "'ready':%s,'restartCount':%d,'state':%s}]}}",
	    name, ns, ns, name, rv, name, name, phase, running ? "True" : "False",
	    running ? "true" : "false", restarts,
	    running ? "{'running':{'startedAt':'2026-11-20T10:00:04Z'}}"
		    : "{'waiting':{'reason':'ContainerCreating'}}");
}

/* "ns/name" pairs as they are written in lists below */
struct podref {
	const char *ns, *name;
	unsigned rv;
	const char *phase;
	int restarts;
};

/* clang-format off */
#define POD(ns, name, rv) { ns, name, rv, "Running", 0 }
/* clang-format on */

/* A PodList page; "" cont for the last one. */
static void sb_page(struct th_sb *b, const char *rv, const char *cont, const struct podref *pods,
		    size_t n)
{
	size_t i;

	th_sb_add(
	    b,
	    "{'json':{'kind':'PodList','apiVersion':'v1','metadata':{'resourceVersion':'%s'%s%s%s},"
	    "'items':[",
	    rv, cont[0] ? ",'continue':'" : "", cont, cont[0] ? "'" : "");
	for (i = 0; i < n; i++) {
		if (i)
			th_sb_add(b, ",");
		sb_pod(b, pods[i].ns, pods[i].name, pods[i].rv, pods[i].phase, pods[i].restarts);
	}
	th_sb_add(b, "]}}");
}

/* One watch event of a pod. */
static void sb_event(struct th_sb *b, const char *type, struct podref p)
{
	th_sb_add(b, "{'type':'%s','object':", type);
	sb_pod(b, p.ns, p.name, p.rv, p.phase ? p.phase : "Running", p.restarts);
	th_sb_add(b, "}");
}

static void sb_bookmark(struct th_sb *b, unsigned rv)
{
	th_sb_add(b,
		  "{'type':'BOOKMARK','object':{'kind':'Pod','apiVersion':'v1','metadata':"
		  "{'resourceVersion':'%u'}}}",
		  rv);
}

static void sb_error_410(struct th_sb *b)
{
	th_sb_add(b, "{'type':'ERROR','object':{'kind':'Status','apiVersion':'v1','metadata':{},"
		     "'status':'Failure','message':'too old resource version: 100 (150)',"
		     "'reason':'Expired','code':410}}");
}

/*
 * An HTTP error answer with a Status body; details is "" or the Status' details
 * object (its causes).
 */
static void sb_http_status(struct th_sb *b, int code, const char *reason, const char *message,
			   const char *details)
{
	th_sb_add(b,
		  "{'status':%d,'json':{'kind':'Status','apiVersion':'v1','metadata':{},"
		  "'status':'Failure','message':'%s','reason':'%s',%s%s'code':%d}}",
		  code, message, reason, details[0] ? "'details':" : "", details, code);
}

#define LIST_RULE "{'prefix':'/api/v1/pods','watch':false,'responses':["
#define WATCH_RULE "{'prefix':'/api/v1/pods','watch':true,'responses':["

/* ---------------------------------------------------------------- the server */

/* Requests of the informer's own kind. */
static size_t count_lists(const struct th_log *l)
{
	size_t i, n = 0;

	for (i = 0; i < l->n; i++)
		n += strcmp(l->e[i].path, "/api/v1/pods") == 0 && !th_param(&l->e[i], "watch");
	return n;
}

/* The n-th LIST request (0-based); fails when there are fewer. */
static const struct th_logent *nth_list(const struct th_log *l, size_t n)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->e[i].path, "/api/v1/pods") == 0 && !th_param(&l->e[i], "watch") &&
		    n-- == 0)
			return &l->e[i];
	fail_msg("fewer LIST requests than asked");
	return NULL;
}

/* The n-th watch request (0-based), NULL when there are fewer. */
static const struct th_logent *nth_watch(const struct th_log *l, size_t n)
{
	size_t i;
	const char *w;

	for (i = 0; i < l->n; i++) {
		w = th_param(&l->e[i], "watch");
		if (strcmp(l->e[i].path, "/api/v1/pods") == 0 && w && strcmp(w, "true") == 0 &&
		    n-- == 0)
			return &l->e[i];
	}
	return NULL;
}

/* A watch request as the reflector must send it, from rv. */
static void assert_watch(const struct th_logent *e, const char *rv)
{
	const char *timeout;

	assert_non_null(e);
	assert_string_equal(th_param(e, "resourceVersion"), rv);
	assert_string_equal(th_param(e, "allowWatchBookmarks"), "true");
	assert_string_equal(e->auth, "Bearer t");
	timeout = th_param(e, "timeoutSeconds");
	assert_non_null(timeout);
	assert_in_range(atoi(timeout), 1, 2); /* min_watch_s 1, max_watch_s 3 */
}

/* ---------------------------------------------------------------- the fixture */

struct tctx;
struct rec;

/* One handler's calls, one line each. */
struct rec {
	struct tctx *t;
	char lines[MAXREC][160];
	int n, synced;
	void (*on_add)(struct rec *r, const struct kl_pod *p);
	void (*on_synced)(struct rec *r);
};

struct tctx {
	uv_loop_t loop;
	uv_timer_t watchdog, poll, stop_timer;
	struct th_fakeapi *srv;
	char url[64];
	struct kl_kube_config cfg;
	struct kl_kube *k;
	struct kl_log log;
	FILE *logf;
	char *logbuf;
	size_t loglen;
	struct kl_metrics *metrics;
	struct kl_informers *f;
	struct kl_informer *pods;
	struct rec rec; /* the handler every test adds before the start */

	bool (*done)(struct tctx *t);	     /* the scenario's end */
	void (*before_stop)(struct tctx *t); /* checks of the cache, which dies with the stop */
	void *arg;
	bool stopping, stop_called;
	int stopped, closed;
	struct kl_reflector_stats stats; /* taken just before the stop */
	char *metrics_text;		 /* rendered just before the stop */
};

static void check_done(struct tctx *t);

static void rec_line(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void rec_line(struct rec *r, const char *fmt, ...)
{
	va_list ap;

	assert_true(r->n < MAXREC);
	va_start(ap, fmt);
	vsnprintf(r->lines[r->n++], sizeof(r->lines[0]), fmt, ap);
	va_end(ap);
}

static const struct kl_store *store_of(const struct rec *r)
{
	return kl_informer_store(r->t->pods);
}

static int restarts_of(const struct kl_pod *p)
{
	return p->ncontainers ? p->containers[0].restarts : -1;
}

static void h_add(void *arg, const void *obj)
{
	struct rec *r = arg;
	const struct kl_pod *p = obj;

	assert_false(r->t->stop_called);
	/* the cache holds the new state before handlers run */
	assert_ptr_equal(kl_store_get(store_of(r), p->meta.ns, kl_meta_name(&p->meta)), p);
	rec_line(r, "add %s/%s rv=%llu", p->meta.ns, kl_meta_name(&p->meta),
		 (unsigned long long)p->meta.rv);
	if (r->on_add)
		r->on_add(r, p);
	check_done(r->t);
}

static void h_update(void *arg, const void *old, const void *obj)
{
	struct rec *r = arg;
	const struct kl_pod *o = old, *p = obj;

	assert_false(r->t->stop_called);
	assert_ptr_equal(kl_store_get(store_of(r), p->meta.ns, kl_meta_name(&p->meta)), p);
	assert_ptr_not_equal(o, p);
	assert_string_equal(kl_meta_name(&o->meta), kl_meta_name(&p->meta));
	rec_line(r, "update %s/%s rv=%llu->%llu phase=%s->%s restarts=%d->%d", p->meta.ns,
		 kl_meta_name(&p->meta), (unsigned long long)o->meta.rv,
		 (unsigned long long)p->meta.rv, kl_pod_phase_name(o->phase),
		 kl_pod_phase_name(p->phase), restarts_of(o), restarts_of(p));
	check_done(r->t);
}

static void h_del(void *arg, const void *obj, bool final_state_unknown)
{
	struct rec *r = arg;
	const struct kl_pod *p = obj;

	assert_false(r->t->stop_called);
	assert_null(kl_store_get(store_of(r), p->meta.ns, kl_meta_name(&p->meta)));
	rec_line(r, "del %s/%s rv=%llu%s", p->meta.ns, kl_meta_name(&p->meta),
		 (unsigned long long)p->meta.rv, final_state_unknown ? " final-state-unknown" : "");
	check_done(r->t);
}

static void h_synced(void *arg)
{
	struct rec *r = arg;

	assert_false(r->t->stop_called);
	assert_true(kl_informer_synced(r->t->pods));
	r->synced++;
	rec_line(r, "synced");
	if (r->on_synced)
		r->on_synced(r);
	check_done(r->t);
}

static void add_handler(struct tctx *t, struct rec *r)
{
	struct kl_informer_handler h = {
	    .add = h_add, .update = h_update, .del = h_del, .synced = h_synced, .arg = r};

	r->t = t;
	assert_int_equal(kl_informer_add_handler(t->pods, &h), 0);
}

/* Exactly these lines, in this order. */
static void assert_rec(const struct rec *r, const char *const *want)
{
	int i, n = 0;
	bool same;

	while (want[n])
		n++;
	same = r->n == n;
	for (i = 0; same && i < n; i++)
		same = strcmp(r->lines[i], want[i]) == 0;
	if (same)
		return;
	for (i = 0; i < r->n; i++)
		print_message("got  %s\n", r->lines[i]);
	for (i = 0; i < n; i++)
		print_message("want %s\n", want[i]);
	fail_msg("the handler saw other calls than expected");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Lines [from, from + n) in any order. */
static void assert_rec_unordered(struct rec *r, int from, const char *const *want)
{
	int i, n = 0;

	while (want[n])
		n++;
	assert_true(r->n >= from + n);
	qsort(r->lines[from], (size_t)n, sizeof(r->lines[0]), cmp_str);
	for (i = 0; i < n; i++)
		assert_string_equal(r->lines[from + i], want[i]); /* want sorted */
}

static void on_kube_closed(void *arg)
{
	struct tctx *t = arg;

	t->closed++;
}

static void on_stopped(void *arg)
{
	struct tctx *t = arg;

	t->stopped++;
	kl_kube_close(t->k, on_kube_closed, t);
}

/* Takes the stats, runs the scenario's checks, renders the metrics, stops. */
static void stop_now(struct tctx *t)
{
	size_t len;

	t->stopping = true;
	uv_timer_stop(&t->poll);
	kl_informer_stats(t->pods, &t->stats);
	if (t->before_stop)
		t->before_stop(t);
	assert_int_equal(kl_metrics_render(t->metrics, &t->metrics_text, &len), 0);
	t->stop_called = true;
	kl_informers_stop(t->f, on_stopped, t);
	assert_int_equal(t->stopped, 0); /* the stop callback comes from the loop */
}

static void on_stop_timer(uv_timer_t *h)
{
	stop_now(h->data);
}

/* The end condition held: stop from the loop, not from inside a handler. */
static void check_done(struct tctx *t)
{
	if (t->stopping || !t->done || !t->done(t))
		return;
	t->stopping = true;
	uv_timer_stop(&t->poll);
	uv_timer_start(&t->stop_timer, on_stop_timer, 0, 0);
}

/* some conditions are not handler calls (a backoff under way): look now and then */
static void on_poll(uv_timer_t *h)
{
	check_done(h->data);
}

static bool marker_added(struct tctx *t)
{
	return t->rec.n && strncmp(t->rec.lines[t->rec.n - 1], "add default/marker ", 19) == 0;
}

static void ctx_init(struct tctx *t, void **state)
{
	memset(t, 0, sizeof(*t));
	t->srv = *state;
	th_fakeapi_reset(t->srv);
	th_fakeapi_config(t->srv, t->url, sizeof(t->url), &t->cfg);
	t->done = marker_added;
	assert_int_equal(uv_loop_init(&t->loop), 0);
	th_memlog_open(&t->log, &t->logf, &t->logbuf, &t->loglen);
	t->metrics = kl_metrics_new();
	assert_non_null(t->metrics);
}

/* The client, the factory, the pods informer with t->rec; not started. */
static void ctx_make(struct tctx *t)
{
	struct kl_informers_opts o = {
	    .min_watch_s = 1, .max_watch_s = 3, .backoff_initial_ms = 10, .backoff_max_ms = 50};
	struct kl_error err;

	kl_error_clear(&err);
	assert_int_equal(kl_kube_new(&t->loop, &t->cfg, NULL, &t->log, t->metrics, &t->k, &err), 0);
	t->f = kl_informers_new(&t->loop, t->k, &o, &t->log, t->metrics);
	assert_non_null(t->f);
	t->pods = kl_informers_get(t->f, KL_RES_PODS, NULL);
	assert_non_null(t->pods);
	/* shared: asking again gives the same informer */
	assert_ptr_equal(kl_informers_get(t->f, KL_RES_PODS, NULL), t->pods);
	add_handler(t, &t->rec);
	th_watchdog_start(&t->loop, &t->watchdog, WATCHDOG_MS);
	assert_int_equal(uv_timer_init(&t->loop, &t->stop_timer), 0);
	t->stop_timer.data = t;
	assert_int_equal(uv_timer_init(&t->loop, &t->poll), 0);
	t->poll.data = t;
}

static void ctx_start(struct tctx *t)
{
	if (!t->f)
		ctx_make(t);
	assert_false(kl_informers_synced(t->f));
	assert_int_equal(kl_informers_start(t->f), 0);
	assert_int_equal(uv_timer_start(&t->poll, on_poll, 5, 5), 0);
}

/* Runs the scenario until the factory is stopped and every handle is gone. */
static void ctx_run(struct tctx *t)
{
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(t->stopped, 1);
	assert_int_equal(t->closed, 1);
	uv_close((uv_handle_t *)&t->watchdog, NULL);
	uv_close((uv_handle_t *)&t->poll, NULL);
	uv_close((uv_handle_t *)&t->stop_timer, NULL);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	fflush(t->logf);
}

static void ctx_free(struct tctx *t)
{
	fclose(t->logf);
	free(t->logbuf);
	free(t->metrics_text);
	kl_metrics_free(t->metrics);
}

static void assert_metric(const struct tctx *t, const char *line)
{
	assert_non_null(t->metrics_text);
	if (!strstr(t->metrics_text, line))
		fail_msg("metric line missing: %s\n%s", line, t->metrics_text);
}

/* ---------------------------------------------------------------- scenarios */

/* 1. The initial LIST in two pages: an add each, synced once, the cache and its index. */
static void initial_checks(struct tctx *t)
{
	const struct kl_store *s = kl_informer_store(t->pods);
	const struct kl_pod *p;
	const struct kl_meta *m;
	int seen[4] = {0};
	size_t n = 0;

	assert_true(kl_informer_synced(t->pods));
	assert_true(kl_informers_synced(t->f));
	assert_int_equal(kl_store_len(s), 6);
	p = kl_store_get(s, "default", "web-2");
	assert_non_null(p);
	assert_string_equal(p->meta.ns, "default");
	assert_string_equal(kl_meta_name(&p->meta), "web-2");
	assert_int_equal(p->meta.uid_kind, KL_UID_STRING); /* not a UUID: interned */
	assert_string_equal(p->meta.uid.str, "uid-default-web-2");
	assert_int_equal(p->meta.rv, 11);
	assert_int_equal(p->meta.created, 1795168800); /* 2026-11-20T10:00:00Z */
	assert_int_equal(p->phase, KL_POD_RUNNING);
	assert_true(p->ready);
	assert_string_equal(p->owner_kind, "ReplicaSet");
	assert_string_equal(p->owner_name, "web-2-rs");
	assert_string_equal(p->node, "node-1");
	assert_int_equal(p->ncontainers, 1);
	assert_string_equal(p->containers[0].name, "app");
	assert_true(p->containers[0].ready);
	assert_int_equal(p->containers[0].restarts, 0);
	assert_true(p->containers[0].state.running_since > 0);
	p = kl_store_get(s, "kube-system", "dns-2");
	assert_non_null(p);
	assert_int_equal(p->phase, KL_POD_PENDING);
	assert_string_equal(p->containers[0].state.waiting_reason, "ContainerCreating");
	assert_null(kl_store_get(s, "default", "dns-2"));
	assert_null(kl_store_get(s, "default", "nope"));
	assert_null(kl_store_get(s, "nope", "web-1"));

	/* the namespace index */
	assert_int_equal(kl_store_ns_len(s, "default"), 4);
	assert_int_equal(kl_store_ns_len(s, "kube-system"), 2);
	assert_int_equal(kl_store_ns_len(s, "other"), 0);
	assert_null(kl_store_ns_first(s, "other"));
	for (m = kl_store_ns_first(s, "default"); m; m = kl_store_ns_next(s, m), n++) {
		const char *name = kl_meta_name(m);

		assert_string_equal(m->ns, "default");
		if (strcmp(name, "marker") == 0)
			seen[0]++;
		else if (strncmp(name, "web-", 4) == 0 && name[4] >= '1' && name[4] <= '3')
			seen[name[4] - '0']++;
		else
			fail_msg("unexpected pod %s in default", name);
	}
	assert_int_equal(n, 4);
	assert_int_equal(seen[0] + seen[1] + seen[2] + seen[3], 4);
	assert_true(seen[0] == 1 && seen[1] == 1 && seen[2] == 1 && seen[3] == 1);
	n = 0;
	for (m = kl_store_ns_first(s, "kube-system"); m; m = kl_store_ns_next(s, m), n++)
		assert_string_equal(m->ns, "kube-system");
	assert_int_equal(n, 2);
}

static void test_initial_list(void **state)
{
	static const struct podref p1[] = {POD("default", "web-1", 10), POD("default", "web-2", 11),
					   POD("kube-system", "dns-1", 12)};
	static const struct podref p2[] = {POD("default", "web-3", 13),
					   {"kube-system", "dns-2", 14, "Pending", 0}};
	static const char *const want[] = {
	    "add default/web-1 rv=10",	   "add default/web-2 rv=11",
	    "add kube-system/dns-1 rv=12", "add default/web-3 rv=13",
	    "add kube-system/dns-2 rv=14", "synced",
	    "add default/marker rv=101",   NULL,
	};
	struct tctx t;
	struct th_sb b = {0};
	struct th_log l;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[" LIST_RULE);
	sb_page(&b, "100", "c1", p1, 3);
	th_sb_add(&b, ",");
	sb_page(&b, "100", "", p2, 2);
	th_sb_add(&b, "]}," WATCH_RULE "{'hang':true,'events':[");
	sb_event(&b, "ADDED", (struct podref)POD("default", "marker", 101));
	th_sb_add(&b, "]}]}]}");
	th_fakeapi_script(t.srv, &b);
	t.before_stop = initial_checks;
	ctx_start(&t);
	ctx_run(&t);

	assert_rec(&t.rec, want);
	assert_int_equal(t.rec.synced, 1);
	assert_int_equal(t.stats.lists, 1);
	assert_int_equal(t.stats.relists, 0);
	th_log_fetch(t.srv, &l);
	assert_int_equal(count_lists(&l), 2);
	/* from the watch cache, as client-go; pages (no watch cache) go on with continue */
	assert_string_equal(th_param(&l.e[0], "resourceVersion"), "0");
	assert_string_equal(th_param(&l.e[0], "limit"), "500");
	assert_null(th_param(&l.e[0], "continue"));
	assert_string_equal(th_param(&l.e[1], "limit"), "500");
	assert_string_equal(th_param(&l.e[1], "continue"), "c1");
	assert_null(th_param(&l.e[1], "resourceVersion"));
	assert_watch(nth_watch(&l, 0), "100");
	assert_null(nth_watch(&l, 1));
	th_log_free(&l);
	ctx_free(&t);
}

/* 2. Watch events: add, update (old and new right), delete; an unchanged rv is nothing. */
static void events_checks(struct tctx *t)
{
	const struct kl_store *s = kl_informer_store(t->pods);
	const struct kl_pod *p = kl_store_get(s, "default", "web-1");

	assert_int_equal(kl_store_len(s), 3);
	assert_non_null(p);
	assert_int_equal(p->meta.rv, 102);
	assert_int_equal(p->phase, KL_POD_RUNNING);
	assert_int_equal(p->containers[0].restarts, 1);
	assert_null(kl_store_get(s, "default", "web-2"));
	assert_int_equal(kl_store_ns_len(s, "default"), 3);
}

static void test_watch_events(void **state)
{
	static const struct podref pods[] = {{"default", "web-1", 10, "Pending", 0},
					     POD("default", "web-2", 11)};
	static const char *const want[] = {
	    "add default/web-1 rv=10",
	    "add default/web-2 rv=11",
	    "synced",
	    "add default/web-3 rv=101",
	    "update default/web-1 rv=10->102 phase=Pending->Running restarts=0->1",
	    "del default/web-2 rv=11",
	    "add default/marker rv=105",
	    NULL,
	};
	struct tctx t;
	struct th_sb b = {0};

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[" LIST_RULE);
	sb_page(&b, "100", "", pods, 2);
	/* split anywhere: 64-byte chunks */
	th_sb_add(&b, "]}," WATCH_RULE "{'hang':true,'chunk_size':64,'events':[");
	sb_event(&b, "ADDED", (struct podref)POD("default", "web-3", 101));
	th_sb_add(&b, ",");
	sb_event(&b, "MODIFIED", (struct podref){"default", "web-1", 102, "Running", 1});
	th_sb_add(&b, ",");
	sb_event(&b, "DELETED", (struct podref)POD("default", "web-2", 103));
	th_sb_add(&b, ",");
	/* the same resourceVersion again: nothing changed, no update */
	sb_event(&b, "MODIFIED", (struct podref){"default", "web-1", 102, "Running", 1});
	th_sb_add(&b, ",");
	/* the delete of a pod never seen: nothing to tell */
	sb_event(&b, "DELETED", (struct podref)POD("default", "ghost", 104));
	th_sb_add(&b, ",");
	sb_event(&b, "ADDED", (struct podref)POD("default", "marker", 105));
	th_sb_add(&b, "]}]}]}");
	th_fakeapi_script(t.srv, &b);
	t.before_stop = events_checks;
	ctx_start(&t);
	ctx_run(&t);

	assert_rec(&t.rec, want);
	assert_string_equal(t.stats.last_rv, "105");
	ctx_free(&t);
}

/* 3. A watch that ends cleanly resumes from the last rv (a bookmark's too): no relist. */
static void test_watch_resume(void **state)
{
	static const struct podref pods[] = {POD("default", "web-1", 10)};
	static const char *const want[] = {
	    "add default/web-1 rv=10",	 "synced",
	    "add default/web-2 rv=101",	 "add default/web-3 rv=160",
	    "add default/marker rv=170", NULL,
	};
	struct tctx t;
	struct th_sb b = {0};
	struct th_log l;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[" LIST_RULE);
	sb_page(&b, "100", "", pods, 1);
	th_sb_add(&b, "]}," WATCH_RULE "{'events':[");
	sb_event(&b, "ADDED", (struct podref)POD("default", "web-2", 101));
	th_sb_add(&b, ",");
	sb_bookmark(&b, 150);
	th_sb_add(&b, "]},{'events':[");
	sb_event(&b, "ADDED", (struct podref)POD("default", "web-3", 160));
	th_sb_add(&b, "]},{'hang':true,'events':[");
	sb_event(&b, "ADDED", (struct podref)POD("default", "marker", 170));
	th_sb_add(&b, "]}]}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);
	ctx_run(&t);

	assert_rec(&t.rec, want);
	assert_int_equal(t.stats.lists, 1);
	assert_int_equal(t.stats.relists, 0);
	assert_int_equal(t.stats.watches, 3);
	assert_int_equal(t.stats.watch_restarts, 2);
	assert_int_equal(t.stats.errors, 0);
	assert_string_equal(t.stats.last_rv, "170");
	th_log_fetch(t.srv, &l);
	assert_int_equal(count_lists(&l), 1);
	assert_watch(nth_watch(&l, 0), "100");
	assert_watch(nth_watch(&l, 1), "150"); /* the bookmark's */
	assert_watch(nth_watch(&l, 2), "160"); /* the last event's */
	assert_null(nth_watch(&l, 3));
	th_log_free(&l);
	ctx_free(&t);
}

/*
 * 4. A watch ERROR 410 (or an HTTP 410) relists, and the relist reconciles: one pod
 * changed, one vanished, one new, one unchanged.
 */
static const char *const relist_want[] = {
    "add default/a rv=10",
    "add default/b rv=11",
    "add default/c rv=12",
    "synced",
    "update default/a rv=10->20 phase=Running->Failed restarts=0->3",
    "add default/d rv=21",
    "del default/b rv=11 final-state-unknown",
    "add default/marker rv=201",
    NULL,
};

static void script_relist(struct tctx *t, bool http_410)
{
	static const struct podref before[] = {POD("default", "a", 10), POD("default", "b", 11),
					       POD("default", "c", 12)};
	static const struct podref after[] = {
	    {"default", "a", 20, "Failed", 3}, POD("default", "c", 12), POD("default", "d", 21)};
	struct th_sb b = {0};

	th_sb_add(&b, "{'rules':[" LIST_RULE);
	sb_page(&b, "100", "", before, 3);
	th_sb_add(&b, ",");
	sb_page(&b, "200", "", after, 3);
	th_sb_add(&b, "]}," WATCH_RULE);
	if (http_410) {
		sb_http_status(&b, 410, "Expired", "too old resource version: 100 (150)", "");
	} else {
		/* the server would end the stream; it does not, the client must */
		th_sb_add(&b, "{'hang':true,'events':[");
		sb_error_410(&b);
		th_sb_add(&b, "]}");
	}
	th_sb_add(&b, ",{'hang':true,'events':[");
	sb_event(&b, "ADDED", (struct podref)POD("default", "marker", 201));
	th_sb_add(&b, "]}]}]}");
	th_fakeapi_script(t->srv, &b);
}

static void relist_checks(struct tctx *t)
{
	const struct kl_store *s = kl_informer_store(t->pods);

	assert_int_equal(kl_store_len(s), 4);
	assert_null(kl_store_get(s, "default", "b"));
	assert_int_equal(((const struct kl_pod *)kl_store_get(s, "default", "a"))->meta.rv, 20);
	assert_int_equal(((const struct kl_pod *)kl_store_get(s, "default", "c"))->meta.rv, 12);
	assert_int_equal(kl_store_ns_len(s, "default"), 4);
}

static void relist(void **state, bool http_410)
{
	struct tctx t;
	struct th_log l;

	ctx_init(&t, state);
	script_relist(&t, http_410);
	t.before_stop = relist_checks;
	ctx_start(&t);
	ctx_run(&t);

	assert_rec(&t.rec, relist_want);
	assert_int_equal(t.rec.synced, 1);
	assert_int_equal(t.stats.lists, 2);
	assert_int_equal(t.stats.relists, 1);
	assert_int_equal(t.stats.watch_restarts, 1);
	assert_int_equal(t.stats.fallbacks, 0);
	th_log_fetch(t.srv, &l);
	assert_int_equal(count_lists(&l), 2);
	/* the relist: not older than what was seen, unpaged so the watch cache answers */
	assert_string_equal(th_param(&l.e[0], "resourceVersion"), "0");
	assert_string_equal(th_param(nth_list(&l, 1), "resourceVersion"), "100");
	assert_null(th_param(nth_list(&l, 1), "limit"));
	assert_watch(nth_watch(&l, 0), "100");
	assert_watch(nth_watch(&l, 1), "200");
	assert_null(nth_watch(&l, 2));
	th_log_free(&l);
	assert_non_null(strstr(t.logbuf, "msg=listed resource=pods rv=100 from=watch-cache "
					 "content_type=application/json"));
	assert_non_null(strstr(t.logbuf, "msg=listed resource=pods rv=200 from=watch-cache"));
	ctx_free(&t);
}

static void test_relist_error_event(void **state)
{
	relist(state, false);
}

static void test_relist_http_410(void **state)
{
	relist(state, true);
}

/*
 * 4b. A relist whose continue token expires on page 2: the pass starts over, and
 * what only the aborted pass saw still counts as vanished.
 */
static void test_relist_restarted(void **state)
{
	static const struct podref both[] = {POD("default", "a", 10), POD("default", "b", 11)};
	static const struct podref only_a[] = {POD("default", "a", 10)};
	static const char *const want[] = {
	    "add default/a rv=10",
	    "add default/b rv=11",
	    "synced",
	    "del default/b rv=11 final-state-unknown",
	    "add default/marker rv=201",
	    NULL,
	};
	struct tctx t;
	struct th_sb b = {0};
	struct th_log l;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[" LIST_RULE);
	sb_page(&b, "100", "", both, 2);
	th_sb_add(&b, ",");
	sb_page(&b, "200", "c1", both, 2);
	th_sb_add(&b, ",");
	sb_http_status(&b, 410, "Expired", "continue token expired", "");
	th_sb_add(&b, ",");
	sb_page(&b, "210", "", only_a, 1);
	th_sb_add(&b, "]}," WATCH_RULE "{'hang':true,'events':[");
	sb_error_410(&b);
	th_sb_add(&b, "]},{'hang':true,'events':[");
	sb_event(&b, "ADDED", (struct podref)POD("default", "marker", 201));
	th_sb_add(&b, "]}]}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);
	ctx_run(&t);

	assert_rec(&t.rec, want);
	assert_int_equal(t.stats.lists, 2);
	assert_int_equal(t.stats.relists, 1);
	th_log_fetch(t.srv, &l);
	assert_int_equal(count_lists(&l), 4);
	assert_watch(nth_watch(&l, 1), "210");
	th_log_free(&l);
	ctx_free(&t);
}

/*
 * 4c. The server refuses the watch cache: the first LIST (resourceVersion=0) gets a
 * 410, the relist (not older than 100) a 504 "Too large resource version". Each is
 * made again at once as a consistent paginated LIST; nothing is lost or doubled,
 * the relist reconciles, and the fallbacks are counted and logged with the reason.
 */
static void fallback_checks(struct tctx *t)
{
	assert_int_equal(kl_store_len(kl_informer_store(t->pods)), 3);
	assert_string_equal(t->stats.list_from, "etcd");
	assert_string_equal(t->stats.content_type, "application/json");
}

static void test_list_fallback(void **state)
{
	static const struct podref p1[] = {POD("default", "a", 10), POD("default", "b", 11)};
	static const struct podref p2[] = {POD("default", "c", 12)};
	static const struct podref after[] = {{"default", "a", 20, "Failed", 3},
					      POD("default", "c", 12)};
	static const char *const want[] = {
	    "add default/a rv=10",
	    "add default/b rv=11",
	    "add default/c rv=12",
	    "synced",
	    "update default/a rv=10->20 phase=Running->Failed restarts=0->3",
	    "del default/b rv=11 final-state-unknown",
	    "add default/marker rv=201",
	    NULL,
	};
	struct tctx t;
	struct th_sb b = {0};
	struct th_log l;
	const struct th_logent *e;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[" LIST_RULE);
	sb_http_status(&b, 410, "Expired", "too old resource version: 0 (90)", "");
	th_sb_add(&b, ",");
	sb_page(&b, "100", "c1", p1, 2);
	th_sb_add(&b, ",");
	sb_page(&b, "100", "", p2, 1);
	th_sb_add(&b, ",");
	sb_http_status(&b, 504, "Timeout", "Too large resource version: 100, current: 90",
		       "{'causes':[{'reason':'ResourceVersionTooLarge',"
		       "'message':'Too large resource version'}],'retryAfterSeconds':1},");
	th_sb_add(&b, ",");
	sb_page(&b, "200", "", after, 2);
	th_sb_add(&b, "]}," WATCH_RULE "{'hang':true,'events':[");
	sb_error_410(&b);
	th_sb_add(&b, "]},{'hang':true,'events':[");
	sb_event(&b, "ADDED", (struct podref)POD("default", "marker", 201));
	th_sb_add(&b, "]}]}]}");
	th_fakeapi_script(t.srv, &b);
	t.before_stop = fallback_checks;
	ctx_start(&t);
	ctx_run(&t);

	assert_rec(&t.rec, want);
	assert_int_equal(t.rec.synced, 1);
	/* a fallback is part of its LIST: neither another LIST nor an error to back off */
	assert_int_equal(t.stats.lists, 2);
	assert_int_equal(t.stats.relists, 1);
	assert_int_equal(t.stats.errors, 0);
	assert_int_equal(t.stats.fallbacks, 2);
	assert_string_equal(t.stats.list_rv, "");
	th_log_fetch(t.srv, &l);
	assert_int_equal(count_lists(&l), 5);
	e = nth_list(&l, 0);
	assert_string_equal(th_param(e, "resourceVersion"), "0");
	e = nth_list(&l, 1); /* the fallback: consistent, paginated */
	assert_null(th_param(e, "resourceVersion"));
	assert_string_equal(th_param(e, "limit"), "500");
	assert_null(th_param(e, "continue"));
	e = nth_list(&l, 2);
	assert_null(th_param(e, "resourceVersion"));
	assert_string_equal(th_param(e, "continue"), "c1");
	e = nth_list(&l, 3); /* the relist asks the watch cache again */
	assert_string_equal(th_param(e, "resourceVersion"), "100");
	assert_null(th_param(e, "limit"));
	e = nth_list(&l, 4);
	assert_null(th_param(e, "resourceVersion"));
	assert_string_equal(th_param(e, "limit"), "500");
	assert_watch(nth_watch(&l, 0), "100");
	assert_watch(nth_watch(&l, 1), "200");
	th_log_free(&l);
	assert_non_null(strstr(t.logbuf, "list from the watch cache refused; listing from etcd"));
	assert_non_null(strstr(t.logbuf, "resource=pods rv=0 reason=expired"));
	assert_non_null(strstr(t.logbuf, "resource=pods rv=100 reason=too-large-resource-version"));
	assert_non_null(strstr(t.logbuf, "from=etcd content_type=application/json"));
	assert_metric(&t, "kloompas_informer_list_fallbacks_total{resource=\"pods\","
			  "reason=\"expired\"} 1\n");
	assert_metric(&t, "kloompas_informer_list_fallbacks_total{resource=\"pods\","
			  "reason=\"too-large-resource-version\"} 1\n");
	assert_metric(&t, "kloompas_informer_content_type{resource=\"pods\","
			  "content_type=\"application/json\"} 1\n");
	assert_metric(&t, "kloompas_informer_content_type{resource=\"pods\","
			  "content_type=\"application/vnd.kubernetes.protobuf\"} 0\n");
	ctx_free(&t);
}

/*
 * 4d. resourceVersion=0 answered in pages (the watch cache is off): the list goes on
 * with continue, and later relists keep the page size (client-go's paginatedResult).
 */
static void test_list_rv0_paginated(void **state)
{
	static const struct podref p1[] = {POD("default", "a", 10)};
	static const struct podref p2[] = {POD("default", "b", 11)};
	static const char *const want[] = {
	    "add default/a rv=10",
	    "add default/b rv=11",
	    "synced",
	    "del default/a rv=10 final-state-unknown",
	    "add default/marker rv=201",
	    NULL,
	};
	struct tctx t;
	struct th_sb b = {0};
	struct th_log l;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[" LIST_RULE);
	sb_page(&b, "100", "c1", p1, 1);
	th_sb_add(&b, ",");
	sb_page(&b, "100", "", p2, 1);
	th_sb_add(&b, ",");
	sb_page(&b, "200", "", p2, 1);
	th_sb_add(&b, "]}," WATCH_RULE "{'hang':true,'events':[");
	sb_error_410(&b);
	th_sb_add(&b, "]},{'hang':true,'events':[");
	sb_event(&b, "ADDED", (struct podref)POD("default", "marker", 201));
	th_sb_add(&b, "]}]}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);
	ctx_run(&t);

	assert_rec(&t.rec, want);
	assert_int_equal(t.stats.fallbacks, 0);
	assert_string_equal(t.stats.list_rv, "100");
	th_log_fetch(t.srv, &l);
	assert_int_equal(count_lists(&l), 3);
	assert_string_equal(th_param(nth_list(&l, 0), "resourceVersion"), "0");
	assert_null(th_param(nth_list(&l, 1), "resourceVersion"));
	assert_string_equal(th_param(nth_list(&l, 1), "continue"), "c1");
	assert_string_equal(th_param(nth_list(&l, 2), "resourceVersion"), "100");
	assert_string_equal(th_param(nth_list(&l, 2), "limit"), "500");
	th_log_free(&l);
	/* pages to "0": no watch cache; then a paginated LIST with a resourceVersion is etcd's */
	assert_non_null(strstr(t.logbuf, "msg=listed resource=pods rv=100 from=etcd"));
	assert_non_null(strstr(t.logbuf, "msg=listed resource=pods rv=200 from=etcd"));
	ctx_free(&t);
}

/* 5. A cut watch, a 500, a 503, an ERROR 500: backoff, then the watch resumes from the last rv. */
static void test_watch_backoff(void **state)
{
	static const struct podref pods[] = {POD("default", "web-1", 10)};
	static const char *const want[] = {
	    "add default/web-1 rv=10",	 "synced", "add default/web-2 rv=101",
	    "add default/marker rv=103", NULL,
	};
	struct tctx t;
	struct th_sb b = {0};
	struct th_log l;

	ctx_init(&t, state);
	th_sb_add(&b, "{'rules':[" LIST_RULE);
	sb_page(&b, "100", "", pods, 1);
	th_sb_add(&b, "]}," WATCH_RULE "{'truncate':30,'cut':true,'events':[");
	sb_event(&b, "ADDED", (struct podref)POD("default", "web-2", 101));
	th_sb_add(&b, ",");
	sb_event(&b, "ADDED", (struct podref)POD("default", "web-3", 102));
	th_sb_add(
	    &b, "]},{'status':500,'json':{'kind':'Status','apiVersion':'v1','metadata':{},"
		"'status':'Failure','message':'etcdserver: leader changed',"
		"'reason':'InternalError','code':500}},"
		"{'status':503,'body':'upstream connect error or disconnect/reset before headers'},"
		/* an ERROR event that is not an expiry: backed off, not relisted */
		"{'hang':true,'events':[{'type':'ERROR','object':{'kind':'Status',"
		"'apiVersion':'v1','metadata':{},'status':'Failure','message':'internal error',"
		"'reason':'InternalError','code':500}}]},"
		"{'hang':true,'events':[");
	sb_event(&b, "ADDED", (struct podref)POD("default", "marker", 103));
	th_sb_add(&b, "]}]}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);
	ctx_run(&t);

	assert_rec(&t.rec, want);
	assert_int_equal(t.stats.lists, 1);
	assert_int_equal(t.stats.relists, 0);
	assert_int_equal(t.stats.watches, 5);
	assert_int_equal(t.stats.errors, 4);
	th_log_fetch(t.srv, &l);
	assert_int_equal(count_lists(&l), 1);
	assert_watch(nth_watch(&l, 0), "100");
	assert_watch(nth_watch(&l, 1), "101");
	assert_watch(nth_watch(&l, 2), "101");
	assert_watch(nth_watch(&l, 3), "101");
	assert_watch(nth_watch(&l, 4), "101");
	assert_null(nth_watch(&l, 5));
	th_log_free(&l);
	ctx_free(&t);
}

/*
 * 5b. A server (or proxy) that closes every watch at once, empty: that is backed
 * off like an error, not resumed in a tight loop, and still resumed, not relisted.
 */
static bool three_errors(struct tctx *t)
{
	struct kl_reflector_stats st;

	kl_informer_stats(t->pods, &st);
	return st.errors >= 3;
}

static void test_very_short_watch(void **state)
{
	static const struct podref pods[] = {POD("default", "web-1", 10)};
	static const char *const want[] = {"add default/web-1 rv=10", "synced", NULL};
	struct tctx t;
	struct th_sb b = {0};
	struct th_log l;
	size_t i;

	ctx_init(&t, state);
	t.done = three_errors;
	th_sb_add(&b, "{'rules':[" LIST_RULE);
	sb_page(&b, "100", "", pods, 1);
	th_sb_add(&b, "]},{'prefix':'/api/v1/pods','watch':true,'then':{'events':[]}}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);
	ctx_run(&t);

	assert_rec(&t.rec, want);
	assert_int_equal(t.stats.lists, 1);
	assert_int_equal(t.stats.relists, 0);
	assert_int_equal(t.stats.errors, 3);
	assert_in_range(t.stats.watches, 3, 4);
	th_log_fetch(t.srv, &l);
	assert_int_equal(count_lists(&l), 1);
	for (i = 0; i < 3; i++)
		assert_watch(nth_watch(&l, i), "100");
	assert_null(nth_watch(&l, 4));
	th_log_free(&l);
	ctx_free(&t);
}

/*
 * 6. Handlers added late: one from inside another handler's synced callback, one
 * from the loop once the scenario is over. Each gets an add for every cached
 * object, then its synced callback - once.
 */
struct late_test {
	struct rec inner, late;
};

static void add_inner(struct rec *r)
{
	struct late_test *lt = r->t->arg;

	add_handler(r->t, &lt->inner);
	/* its adds and its synced came at once */
	assert_int_equal(lt->inner.n, 4);
	assert_int_equal(lt->inner.synced, 1);
}

static void add_late(struct tctx *t)
{
	struct late_test *lt = t->arg;

	add_handler(t, &lt->late);
	assert_int_equal(lt->late.n, 5);
	assert_int_equal(lt->late.synced, 1);
}

static void test_late_handler(void **state)
{
	static const struct podref pods[] = {POD("default", "web-1", 10),
					     POD("default", "web-2", 11),
					     POD("kube-system", "dns-1", 12)};
	static const char *const cached[] = {"add default/web-1 rv=10", "add default/web-2 rv=11",
					     "add kube-system/dns-1 rv=12", NULL};
	static const char *const cached_now[] = {
	    "add default/marker rv=102", "add default/web-1 rv=101", "add default/web-2 rv=11",
	    "add kube-system/dns-1 rv=12", NULL};
	static const char *const want[] = {
	    "add default/web-1 rv=10",
	    "add default/web-2 rv=11",
	    "add kube-system/dns-1 rv=12",
	    "synced",
	    "update default/web-1 rv=10->101 phase=Running->Running restarts=0->1",
	    "add default/marker rv=102",
	    NULL,
	};
	struct tctx t;
	struct late_test lt;
	struct th_sb b = {0};

	memset(&lt, 0, sizeof(lt));
	ctx_init(&t, state);
	t.arg = &lt;
	th_sb_add(&b, "{'rules':[" LIST_RULE);
	sb_page(&b, "100", "", pods, 3);
	th_sb_add(&b, "]}," WATCH_RULE "{'hang':true,'events':[");
	sb_event(&b, "MODIFIED", (struct podref){"default", "web-1", 101, "Running", 1});
	th_sb_add(&b, ",");
	sb_event(&b, "ADDED", (struct podref)POD("default", "marker", 102));
	th_sb_add(&b, "]}]}]}");
	th_fakeapi_script(t.srv, &b);
	t.rec.on_synced = add_inner;
	t.before_stop = add_late;
	ctx_start(&t);
	ctx_run(&t);

	assert_rec(&t.rec, want);
	/* the inner handler: the cache (any order), synced once, then what followed */
	assert_int_equal(lt.inner.synced, 1);
	assert_int_equal(lt.inner.n, 6);
	assert_rec_unordered(&lt.inner, 0, cached);
	assert_string_equal(lt.inner.lines[3], "synced");
	assert_string_equal(lt.inner.lines[4], want[4]);
	assert_string_equal(lt.inner.lines[5], want[5]);
	/* the late one: the cache as it is now, then synced */
	assert_int_equal(lt.late.synced, 1);
	assert_int_equal(lt.late.n, 5);
	assert_rec_unordered(&lt.late, 0, cached_now);
	assert_string_equal(lt.late.lines[4], "synced");
	ctx_free(&t);
}

/* 7. The informer metrics, before the start and after a relist. */
static void test_metrics(void **state)
{
	struct tctx t;
	char *text;
	size_t len;

	ctx_init(&t, state);
	script_relist(&t, false);
	ctx_make(&t);
	assert_int_equal(kl_metrics_render(t.metrics, &text, &len), 0);
	assert_non_null(strstr(text, "kloompas_informer_objects{resource=\"pods\"} 0\n"));
	assert_non_null(strstr(text, "kloompas_informer_synced{resource=\"pods\"} 0\n"));
	free(text);
	ctx_start(&t);
	ctx_run(&t);

	assert_rec(&t.rec, relist_want);
	assert_metric(&t, "# TYPE kloompas_informer_objects gauge\n");
	assert_metric(&t, "kloompas_informer_objects{resource=\"pods\"} 4\n");
	assert_metric(&t, "kloompas_informer_synced{resource=\"pods\"} 1\n");
	assert_metric(&t, "# TYPE kloompas_informer_events_total counter\n");
	assert_metric(&t, "kloompas_informer_events_total{resource=\"pods\",type=\"add\"} 5\n");
	assert_metric(&t, "kloompas_informer_events_total{resource=\"pods\",type=\"update\"} 1\n");
	assert_metric(&t, "kloompas_informer_events_total{resource=\"pods\",type=\"delete\"} 1\n");
	assert_metric(&t, "kloompas_informer_relists_total{resource=\"pods\"} 1\n");
	assert_metric(&t, "kloompas_informer_watch_restarts_total{resource=\"pods\"} 1\n");
	assert_metric(&t, "kloompas_apiserver_requests_total{verb=\"list\",code=\"200\"} 2\n");
	assert_metric(&t, "kloompas_apiserver_requests_total{verb=\"watch\",code=\"200\"} 1\n");
	ctx_free(&t);
}

/*
 * 8. Stops: from inside a handler while the watch is open (the rest of the chunk
 * must not reach the handlers), during a backoff (a 30 s Retry-After must not hold
 * the stop), and while the LIST is in flight.
 */
static void stop_on_marker(struct rec *r, const struct kl_pod *p)
{
	if (strcmp(kl_meta_name(&p->meta), "marker") == 0)
		stop_now(r->t);
}

static void test_stop_in_handler(void **state)
{
	static const struct podref pods[] = {POD("default", "web-1", 10)};
	static const char *const want[] = {"add default/web-1 rv=10", "synced",
					   "add default/marker rv=101", NULL};
	struct tctx t;
	struct th_sb b = {0};

	ctx_init(&t, state);
	t.done = NULL;
	th_sb_add(&b, "{'rules':[" LIST_RULE);
	sb_page(&b, "100", "", pods, 1);
	/* one chunk: the events after the marker are in the buffer when it stops */
	th_sb_add(&b, "]}," WATCH_RULE "{'hang':true,'chunk_size':100000,'events':[");
	sb_event(&b, "ADDED", (struct podref)POD("default", "marker", 101));
	th_sb_add(&b, ",");
	sb_event(&b, "ADDED", (struct podref)POD("default", "after-1", 102));
	th_sb_add(&b, ",");
	sb_event(&b, "ADDED", (struct podref)POD("default", "after-2", 103));
	th_sb_add(&b, "]}]}]}");
	th_fakeapi_script(t.srv, &b);
	t.rec.on_add = stop_on_marker;
	ctx_start(&t);
	ctx_run(&t);

	assert_rec(&t.rec, want);
	assert_int_equal(t.stats.watches, 1);
	ctx_free(&t);
}

static bool backing_off(struct tctx *t)
{
	struct kl_reflector_stats st;

	kl_informer_stats(t->pods, &st);
	return st.errors >= 1;
}

static void test_stop_while_backing_off(void **state)
{
	static const struct podref pods[] = {POD("default", "web-1", 10)};
	static const char *const want[] = {"add default/web-1 rv=10", "synced", NULL};
	struct tctx t;
	struct th_sb b = {0};

	ctx_init(&t, state);
	t.done = backing_off;
	th_sb_add(&b, "{'rules':[" LIST_RULE);
	sb_page(&b, "100", "", pods, 1);
	th_sb_add(&b, "]},{'prefix':'/api/v1/pods','watch':true,'then':{'status':429,"
		      "'headers':{'Retry-After':'30'},'json':{'kind':'Status','apiVersion':'v1',"
		      "'metadata':{},'status':'Failure','message':'slow down',"
		      "'reason':'TooManyRequests','code':429}}}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);
	ctx_run(&t);

	assert_rec(&t.rec, want);
	assert_int_equal(t.stats.watches, 1);
	assert_int_equal(t.stats.errors, 1);
	ctx_free(&t);
}

static bool listing(struct tctx *t)
{
	return true;
}

static void not_synced(struct tctx *t)
{
	assert_false(kl_informer_synced(t->pods));
	assert_false(kl_informers_synced(t->f));
	assert_int_equal(kl_store_len(kl_informer_store(t->pods)), 0);
}

static void test_stop_while_listing(void **state)
{
	struct tctx t;
	struct th_sb b = {0};

	ctx_init(&t, state);
	t.done = listing;
	t.before_stop = not_synced;
	th_sb_add(&b, "{'rules':[{'prefix':'/api/v1/pods','then':{'stall':true}}]}");
	th_fakeapi_script(t.srv, &b);
	ctx_start(&t);
	ctx_run(&t);

	assert_int_equal(t.rec.n, 0);
	assert_int_equal(t.stats.lists, 1);
	assert_int_equal(t.stats.watches, 0);
	ctx_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_initial_list),
	    cmocka_unit_test(test_watch_events),
	    cmocka_unit_test(test_watch_resume),
	    cmocka_unit_test(test_relist_error_event),
	    cmocka_unit_test(test_relist_http_410),
	    cmocka_unit_test(test_relist_restarted),
	    cmocka_unit_test(test_list_fallback),
	    cmocka_unit_test(test_list_rv0_paginated),
	    cmocka_unit_test(test_watch_backoff),
	    cmocka_unit_test(test_very_short_watch),
	    cmocka_unit_test(test_late_handler),
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_stop_in_handler),
	    cmocka_unit_test(test_stop_while_backing_off),
	    cmocka_unit_test(test_stop_while_listing),
	};

	/* a peer that goes away must not kill the test with SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, th_fakeapi_setup, th_fakeapi_teardown);
}
