/*
 * test/unit/test_notify.c - notifier routing, message formats, queues and retries.
 *
 * The group setup starts test/data/notify/receiver.py, a local HTTP receiver that
 * records every request (arrival time, status answered, content type, body) and
 * answers as the first segment of the request path scripts it ("500,500,200",
 * "429r1", "slow3"), so each test programs the receiver through the URLs it puts in
 * its config; a test's paths carry its name, so tests never see each other's
 * requests. Tests read the records back with a blocking GET /_requests between loop
 * runs.
 *
 * Every test runs its own loop, log (captured with open_memstream) and metrics
 * registry, closes the notifier set, checks that no done_cb came after the close,
 * that uv_loop_close() returns 0 and that no configured URL - nor the receiver's
 * host:port - ever reached the log. The sanitizer build catches leaks and misuse.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <uv.h>
#include <yajl/yajl_tree.h>

#include "notify/internal.h"
#include "notify/notify.h"

#include "harness.h"

#define WATCHDOG_MS 30000
#define MAX_NOTIFIERS 8
#define MAX_ROUTES 4
#define MAX_DONE 64
#define MAX_REQS 64

/* --------------------------------------------------------------- receiver */

struct receiver {
	pid_t pid;
	int port;
};

static int group_setup(void **state)
{
	struct receiver *r = calloc(1, sizeof(*r));
	char line[64];

	assert_non_null(r);
	r->pid = th_python_start(line, sizeof(line), "notify/receiver.py", (char *)NULL);
	assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	assert_int_equal(sscanf(line, "PORT %d", &r->port), 1);
	*state = r;
	return 0;
}

static int group_teardown(void **state)
{
	struct receiver *r = *state;

	if (!r)
		return 0;
	th_python_stop(r->pid);
	curl_global_cleanup();
	free(r);
	return 0;
}

/* One request the receiver recorded. */
struct req {
	double ms; /* arrival, receiver's monotonic clock */
	int status;
	char ctype[64];
	char *body;
	size_t len;
};

struct reqs {
	struct req v[MAX_REQS];
	size_t n;
	char *raw;
	size_t rawlen;
};

static size_t on_curl_data(char *p, size_t size, size_t n, void *arg)
{
	struct reqs *q = arg;
	size_t len = size * n;
	char *nb = realloc(q->raw, q->rawlen + len + 1);

	assert_non_null(nb);
	q->raw = nb;
	memcpy(q->raw + q->rawlen, p, len);
	q->rawlen += len;
	q->raw[q->rawlen] = '\0';
	return len;
}

/* The requests whose path starts with prefix, in arrival order. Free with reqs_free(). */
static void fetch(const struct receiver *r, const char *prefix, struct reqs *q)
{
	char url[512], *p, *end, *body;
	CURL *e = curl_easy_init();
	long code = 0;
	size_t len;
	int used;

	memset(q, 0, sizeof(*q));
	assert_non_null(e);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_requests?path=%s", r->port, prefix);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_curl_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	assert_int_equal(code, 200);
	curl_easy_cleanup(e);

	p = q->raw;
	end = q->raw + q->rawlen;
	while (p && p < end) {
		struct req *x = &q->v[q->n];

		assert_true(q->n < MAX_REQS);
		assert_int_equal(
		    sscanf(p, "REQ %lf %d %63s %zu%n", &x->ms, &x->status, x->ctype, &len, &used),
		    4);
		body = strchr(p, '\n');
		assert_non_null(body);
		body++;
		assert_true(body + len < end);
		x->body = body;
		x->len = len;
		body[len] = '\0'; /* was the record's closing newline */
		p = body + len + 1;
		q->n++;
	}
}

static void reqs_free(struct reqs *q)
{
	free(q->raw);
	q->raw = NULL;
}

static size_t nreq(const struct receiver *r, const char *prefix)
{
	struct reqs q;
	size_t n;

	fetch(r, prefix, &q);
	n = q.n;
	reqs_free(&q);
	return n;
}

/* ----------------------------------------------------------------- fixture */

struct done {
	uint64_t id;
	char notifier[32];
	bool delivered;
	uint64_t at; /* uv_now */
	int client;  /* 0: the fixture's t->c, 2: a second client (on_done_b) */
};

struct tctx {
	uv_loop_t loop;
	uv_timer_t tick, watchdog;
	const struct receiver *rcv;
	const char *name;
	struct kl_log log;
	FILE *logf;
	char *logbuf;
	size_t loglen;
	struct kl_metrics *metrics;
	struct kl_config cfg;
	struct kl_notifier_conf nots[MAX_NOTIFIERS];
	char urls[MAX_NOTIFIERS][256];
	char paths[MAX_NOTIFIERS][128];
	size_t nnots;
	struct kl_route_conf routes[MAX_ROUTES];
	const char *globs[MAX_ROUTES][4];
	const char *rnames[MAX_ROUTES][4];
	size_t nroutes;
	struct kl_notify_opts opts;
	struct kl_notify *n;
	struct kl_notify_client *c;
	struct done done[MAX_DONE];
	size_t ndone;
	bool in_send; /* done_cb must never run inside kl_notify_send */
	bool close_in_done;
	bool closing, closed;
	uint64_t sent_at;
};

static void on_tick(uv_timer_t *h)
{
	/* only wakes uv_run(UV_RUN_ONCE) so that run_until() sees the time pass */
}

static void on_closed(void *arg)
{
	struct tctx *t = arg;

	assert_false(t->closed);
	t->closed = true;
}

static void on_done(void *arg, uint64_t id, const char *notifier, bool delivered)
{
	struct tctx *t = arg;
	struct done *d;

	assert_false(t->in_send);
	assert_false(t->closing);
	assert_non_null(notifier);
	assert_true(t->ndone < MAX_DONE);
	d = &t->done[t->ndone++];
	d->id = id;
	snprintf(d->notifier, sizeof(d->notifier), "%s", notifier);
	d->delivered = delivered;
	d->at = uv_now(&t->loop);
	if (t->close_in_done) {
		t->closing = true;
		kl_notify_close(t->n, on_closed, t);
	}
}

/* The second client's done_cb: the same checks, entries marked client 2. */
static void on_done_b(void *arg, uint64_t id, const char *notifier, bool delivered)
{
	struct tctx *t = arg;

	on_done(t, id, notifier, delivered);
	t->done[t->ndone - 1].client = 2;
}

static struct tctx *t_new(void **state, const char *name)
{
	struct tctx *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->rcv = *state;
	t->name = name;
	assert_int_equal(uv_loop_init(&t->loop), 0);
	th_memlog_open(&t->log, &t->logf, &t->logbuf, &t->loglen);
	t->metrics = kl_metrics_new();
	assert_non_null(t->metrics);
	kl_config_init(&t->cfg);
	t->cfg.cluster = "PRODUCTION";
	t->opts.cluster = "PRODUCTION";
	t->opts.retry_initial_ms = 50;
	t->opts.retry_max_ms = 400;
	t->opts.give_up_ms = 10000;
	t->opts.timeout_ms = 5000;
	assert_int_equal(uv_timer_init(&t->loop, &t->tick), 0);
	th_watchdog_start(&t->loop, &t->watchdog, WATCHDOG_MS);
	return t;
}

/*
 * Adds a notifier; HTTP ones post to the receiver at /SCRIPT/TEST/NAME (suffix
 * appended as is). Returns its index, for path().
 */
static size_t add_notifier_url(struct tctx *t, const char *name, const char *type,
			       const char *script, const char *suffix)
{
	struct kl_notifier_conf *nc = &t->nots[t->nnots];

	assert_true(t->nnots < MAX_NOTIFIERS);
	nc->name = name;
	nc->type_name = type;
	if (strcmp(type, "log")) {
		char path[sizeof(t->paths[0])];

		snprintf(path, sizeof(path), "/%s/%s/%s", script, t->name, name);
		memcpy(t->paths[t->nnots], path, sizeof(path));
		snprintf(t->urls[t->nnots], sizeof(t->urls[0]), "http://127.0.0.1:%d%s%s",
			 t->rcv->port, path, suffix);
		nc->url = t->urls[t->nnots];
	}
	return t->nnots++;
}

static size_t add_notifier(struct tctx *t, const char *name, const char *type,
			   const char *script)
{
	return add_notifier_url(t, name, type, script, "");
}

/* Adds a route; globs and names are NULL-terminated lists of string literals. */
static void add_route(struct tctx *t, const char *const *globs, const char *const *names)
{
	struct kl_route_conf *r = &t->routes[t->nroutes];
	size_t i;

	assert_true(t->nroutes < MAX_ROUTES);
	for (i = 0; globs[i]; i++)
		t->globs[t->nroutes][i] = globs[i];
	r->namespaces.v = t->globs[t->nroutes];
	r->namespaces.n = i;
	for (i = 0; names[i]; i++)
		t->rnames[t->nroutes][i] = names[i];
	r->notifiers.v = t->rnames[t->nroutes];
	r->notifiers.n = i;
	t->nroutes++;
}

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

static void start(struct tctx *t)
{
	t->cfg.notifiers.items = t->nots;
	t->cfg.notifiers.n = t->nnots;
	t->cfg.routes.items = t->routes;
	t->cfg.routes.n = t->nroutes;
	t->n = kl_notify_new(&t->loop, &t->cfg, &t->opts, &t->log, t->metrics);
	assert_non_null(t->n);
	t->c = kl_notify_attach(t->n, on_done, t);
	assert_non_null(t->c);
}

static int send_as(struct tctx *t, struct kl_notify_client *c, const struct kl_notice *v,
		   size_t cnt)
{
	int rc;

	uv_update_time(&t->loop);
	t->sent_at = uv_now(&t->loop);
	t->in_send = true;
	rc = kl_notify_send(c, v, cnt);
	t->in_send = false;
	return rc;
}

static int do_send(struct tctx *t, const struct kl_notice *v, size_t cnt)
{
	return send_as(t, t->c, v, cnt);
}

/* Runs the loop until cond holds or ms pass; then asserts cond. */
#define run_until(t, cond, ms)                                                                     \
	do {                                                                                       \
		uint64_t end_;                                                                     \
		uv_update_time(&(t)->loop);                                                        \
		end_ = uv_now(&(t)->loop) + (ms);                                                  \
		uv_timer_start(&(t)->tick, on_tick, 10, 10);                                       \
		while (!(cond) && uv_now(&(t)->loop) < end_)                                       \
			uv_run(&(t)->loop, UV_RUN_ONCE);                                           \
		uv_timer_stop(&(t)->tick);                                                         \
		assert_true(cond);                                                                 \
	} while (0)

static void run_for(struct tctx *t, uint64_t ms)
{
	uint64_t end;

	uv_update_time(&t->loop);
	end = uv_now(&t->loop) + ms;
	uv_timer_start(&t->tick, on_tick, 10, 10);
	while (uv_now(&t->loop) < end)
		uv_run(&t->loop, UV_RUN_ONCE);
	uv_timer_stop(&t->tick);
}

static const char *logtext(struct tctx *t)
{
	fflush(t->logf);
	return t->logbuf ? t->logbuf : "";
}

static bool log_has(struct tctx *t, const char *needle)
{
	return strstr(logtext(t), needle) != NULL;
}

static double metric(struct tctx *t, const char *notifier, const char *result)
{
	struct kl_metric *f = kl_metrics_find(t->metrics, "kloompas_notifications_total");
	const char *v[] = {notifier, result};

	assert_non_null(f);
	return kl_metric_get(f, v);
}

static double queue_len(struct tctx *t, const char *notifier)
{
	struct kl_metric *f = kl_metrics_find(t->metrics, "kloompas_notification_queue_length");
	const char *v[] = {notifier};

	assert_non_null(f);
	return kl_metric_get(f, v);
}

/* The report of notice id at notifier to client (0 or 2). */
static const struct done *done_of_client(struct tctx *t, int client, uint64_t id,
					 const char *notifier)
{
	size_t i;

	for (i = 0; i < t->ndone; i++)
		if (t->done[i].id == id && !strcmp(t->done[i].notifier, notifier) &&
		    t->done[i].client == client)
			return &t->done[i];
	fail_msg("no done_cb for notice %llu at %s (client %d)", (unsigned long long)id,
		 notifier, client);
	return NULL;
}

static const struct done *done_of(struct tctx *t, uint64_t id, const char *notifier)
{
	return done_of_client(t, 0, id, notifier);
}

/* Closes the set, checks the close contract and the log, frees t. */
static void finish(struct tctx *t)
{
	size_t before, i;
	char hostport[64];
	const char *log;

	before = t->ndone;
	if (!t->closing) {
		t->closing = true;
		kl_notify_close(t->n, on_closed, t);
	}
	run_until(t, t->closed, 5000);
	assert_int_equal(t->ndone, before);
	uv_close((uv_handle_t *)&t->tick, NULL);
	uv_close((uv_handle_t *)&t->watchdog, NULL);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&t->loop), 0);

	/* secrets: no URL, no path of one, not even the receiver's address */
	log = logtext(t);
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", t->rcv->port);
	assert_null(strstr(log, hostport));
	for (i = 0; i < t->nnots; i++) {
		if (!t->nots[i].url)
			continue;
		assert_null(strstr(log, t->urls[i]));
		assert_null(strstr(log, t->paths[i]));
	}
	fclose(t->logf);
	free(t->logbuf);
	kl_metrics_free(t->metrics);
	kl_config_free(&t->cfg);
	free(t);
}

/* ------------------------------------------------------------------ JSON */

static yajl_val parse(const char *body)
{
	char err[256];
	yajl_val v = yajl_tree_parse(body, err, sizeof(err));

	if (!v)
		fail_msg("bad JSON (%s): %s", err, body);
	return v;
}

/* The string at a path of keys, or NULL when absent or not a string. */
static const char *jstr_at(yajl_val v, const char *const *path)
{
	yajl_val s = yajl_tree_get(v, (const char **)path, yajl_t_string);

	return s ? YAJL_GET_STRING(s) : NULL;
}

#define JSTR(v, ...) jstr_at((v), LIST(__VA_ARGS__))

static yajl_val jget(yajl_val v, const char *const *path, yajl_type type)
{
	return yajl_tree_get(v, (const char **)path, type);
}

static void rfc3339(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* --------------------------------------------------------------- notices */

#define T0 1700000000 /* 2023-11-14T22:13:20Z */

static const struct kl_notice_pod apigee_pods[] = {
    {.pod = "apigee-5c7d8",
     .container = "proxy",
     .reason = "CrashLoopBackOff",
     .restarts = 5,
     .last_reason = "Error",
     .exit_code = 1,
     .log = "starting\nfatal: cannot bind :8080\n"},
};

static const struct kl_notice_pod pricing_pods[] = {
    {.pod = "pricing-1",
     .container = "app",
     .reason = "CrashLoopBackOff",
     .restarts = 1,
     .last_reason = "OOMKilled",
     .exit_code = 137,
     .log_error = "previous container not found"},
    {.pod = "pricing-2",
     .container = "app",
     .reason = "CrashLoopBackOff",
     .restarts = 12,
     .log = "a < b && c > d\n\nuse `x`\r\n"},
};

/* One crash-looping pod with a log: the evidence the JSON payloads carry. */
static const struct kl_notice_pod api_pod[] = {
    {.pod = "api-1",
     .container = "app",
     .reason = "CrashLoopBackOff",
     .restarts = 3,
     .last_reason = "Error",
     .exit_code = 3,
     .log = "starting app pod=api-1\npanic: boom\n"},
};

static struct kl_notice crash(uint64_t id, const char *ns, const char *team, const char *summary)
{
	struct kl_notice x = {
	    .id = id,
	    .controller = "crash-watcher",
	    .title = "PODS IN CRASH",
	    .alertname = "KloompasPodCrashLooping",
	    .ns = ns,
	    .team = team,
	    .starts_at = T0,
	    .summary = summary,
	};
	return x;
}

static struct kl_notice notready(uint64_t id, const char *ns, const char *team, const char *summary)
{
	struct kl_notice x = {
	    .id = id,
	    .controller = "notready-watcher",
	    .title = "NAMESPACES WITH HIGH NUMBER OF PODS NOT READY",
	    .alertname = "KloompasNamespacePodsNotReady",
	    .ns = ns,
	    .team = team,
	    .starts_at = T0,
	    .summary = summary,
	};
	return x;
}

static struct kl_notice resolved(struct kl_notice x, int64_t ends_at)
{
	x.resolved = true;
	x.ends_at = ends_at;
	return x;
}

/* The Slack text of the only request at path. */
static char *slack_text_at(struct tctx *t, size_t idx, size_t which)
{
	struct reqs q;
	yajl_val v;
	char *text;

	fetch(t->rcv, t->paths[idx], &q);
	assert_true(q.n > which);
	assert_string_equal(q.v[which].ctype, "application/json");
	v = parse(q.v[which].body);
	assert_true(YAJL_IS_OBJECT(v));
	assert_int_equal(v->u.object.len, 2); /* text (the fallback) and blocks */
	assert_non_null(JSTR(v, "text"));
	{
		const char *path[] = { "blocks", NULL };
		yajl_val blocks = yajl_tree_get(v, path, yajl_t_array);

		assert_non_null(blocks);
		assert_true(blocks->u.array.len >= 1);
	}
	text = strdup(JSTR(v, "text"));
	assert_non_null(text);
	yajl_tree_free(v);
	reqs_free(&q);
	return text;
}

/* The raw body of request which at notifier idx (freed by the caller). */
static char *body_at(struct tctx *t, size_t idx, size_t which)
{
	struct reqs q;
	char *body;

	fetch(t->rcv, t->paths[idx], &q);
	assert_true(q.n > which);
	body = strdup(q.v[which].body);
	assert_non_null(body);
	reqs_free(&q);
	return body;
}

/* ----------------------------------------------------------------- tests */

static void test_slack_crash_text(void **state)
{
	struct tctx *t = t_new(state, "slack_crash");
	size_t slack = add_notifier(t, "slack", "slack", "200");
	struct kl_notice v[2];
	char *text, *metrics;
	size_t mlen;

	add_route(t, LIST("m*"), LIST("slack"));
	start(t);
	v[0] = crash(1, "mon-apigee", "@arquitectura", "1 Pod(s) in CrashLoopBackOff");
	v[0].pods = apigee_pods;
	v[0].npods = 1;
	v[1] = crash(2, "moc-pricing-arquimedes", NULL, "2 Pod(s) in CrashLoopBackOff");
	v[1].pods = pricing_pods;
	v[1].npods = 2;

	assert_int_equal(do_send(t, v, 2), 2);
	assert_int_equal(t->ndone, 0);
	run_until(t, t->ndone == 2, 5000);
	assert_true(done_of(t, 1, "slack")->delivered);
	assert_true(done_of(t, 2, "slack")->delivered);

	text = slack_text_at(t, slack, 0);
	assert_string_equal(
	    text, "PODS IN CRASH on *PRODUCTION*:\n"
		  "mon-apigee: (@arquitectura) 1 Pod(s) in CrashLoopBackOff\n"
		  "\xe2\x80\xa2 `apigee-5c7d8` container `proxy`: CrashLoopBackOff, 5 "
		  "restarts, last exit 1 (Error)\n"
		  "```\n"
		  "starting\n"
		  "fatal: cannot bind :8080\n"
		  "```\n"
		  "moc-pricing-arquimedes: (no team) 2 Pod(s) in CrashLoopBackOff\n"
		  "\xe2\x80\xa2 `pricing-1` container `app`: CrashLoopBackOff, 1 restart, "
		  "last exit 137 (OOMKilled)\n"
		  "(no log: previous container not found)\n"
		  "\xe2\x80\xa2 `pricing-2` container `app`: CrashLoopBackOff, 12 "
		  "restarts\n"
		  "```\n"
		  "a &lt; b &amp;&amp; c &gt; d\n"
		  " \n"
		  "use 'x'\n"
		  "```");
	free(text);
	assert_int_equal(nreq(t->rcv, t->paths[slack]), 1);
	assert_true(metric(t, "slack", "success") == 1);
	assert_true(metric(t, "slack", "failure") == 0);
	assert_true(metric(t, "slack", "dropped") == 0);
	assert_true(queue_len(t, "slack") == 0);
	/* every series exists from the start, the built-in log notifier's too */
	assert_int_equal(kl_metrics_render(t->metrics, &metrics, &mlen), 0);
	assert_non_null(
	    strstr(metrics, "kloompas_notification_queue_length{notifier=\"slack\"} 0"));
	assert_non_null(
	    strstr(metrics, "kloompas_notifications_total{notifier=\"log\",result=\"dropped\"} 0"));
	free(metrics);
	finish(t);
}

static void test_slack_resolved_and_notready(void **state)
{
	struct tctx *t = t_new(state, "slack_resolved");
	size_t slack = add_notifier(t, "slack", "slack", "200");
	struct kl_notice v[4], r;
	char *text;

	add_route(t, LIST("*"), LIST("slack"));
	start(t);
	v[0] =
	    notready(10, "moc-pricing-arquimedes", "@squad-merchandise", "33 % of pods Not Ready");
	v[1] = resolved(crash(11, "mon-apigee", "@arquitectura", "0 Pod(s) in CrashLoopBackOff"),
			T0 + 600);
	v[2] = crash(12, "mon-x", "@t", "1 Pod(s) in CrashLoopBackOff");
	v[2].repeat = true;
	v[3] = resolved(notready(13, "moc-b", NULL, "5 % of pods Not Ready"), T0 + 600);
	assert_int_equal(do_send(t, v, 4), 4);
	run_until(t, t->ndone == 4, 5000);
	text = slack_text_at(t, slack, 0);
	assert_string_equal(
	    text, "NAMESPACES WITH HIGH NUMBER OF PODS NOT READY on *PRODUCTION*:\n"
		  "moc-pricing-arquimedes: (@squad-merchandise) 33 % of pods Not Ready\n"
		  "\n"
		  "PODS IN CRASH on *PRODUCTION*:\n"
		  "mon-x: (@t) 1 Pod(s) in CrashLoopBackOff (still)\n"
		  "\n"
		  "RESOLVED \xe2\x80\x94 PODS IN CRASH on *PRODUCTION*:\n"
		  "mon-apigee: (@arquitectura) 0 Pod(s) in CrashLoopBackOff\n"
		  "\n"
		  "RESOLVED \xe2\x80\x94 NAMESPACES WITH HIGH NUMBER OF PODS NOT READY on "
		  "*PRODUCTION*:\n"
		  "moc-b: (no team) 5 % of pods Not Ready");
	free(text);
	/* buttons for the firing namespaces only, their value "NAMESPACE CONTROLLER" */
	text = body_at(t, slack, 0);
	assert_non_null(strstr(text, "\"action_id\":\"kl_silence_1h\",\"value\":"
				     "\"moc-pricing-arquimedes notready-watcher\""));
	assert_non_null(strstr(text, "\"action_id\":\"kl_silence_1d\",\"value\":"
				     "\"mon-x crash-watcher\""));
	assert_non_null(strstr(text, "\"action_id\":\"kl_alerts\",\"value\":"
				     "\"mon-x crash-watcher\""));
	assert_null(strstr(text, "\"value\":\"mon-apigee"));
	assert_null(strstr(text, "\"value\":\"moc-b"));
	assert_non_null(strstr(text, "\"text\":\"Silence 1h\""));
	free(text);

	/* a flush of one resolved notice: the text starts with RESOLVED */
	r = resolved(crash(14, "mon-apigee", "@arquitectura", "0 Pod(s) in CrashLoopBackOff"),
		     T0 + 700);
	assert_int_equal(do_send(t, &r, 1), 1);
	run_until(t, t->ndone == 5, 5000);
	text = slack_text_at(t, slack, 1);
	assert_string_equal(text, "RESOLVED \xe2\x80\x94 PODS IN CRASH on *PRODUCTION*:\n"
				  "mon-apigee: (@arquitectura) 0 Pod(s) in CrashLoopBackOff");
	free(text);
	assert_true(metric(t, "slack", "success") == 2);
	finish(t);
}

static void test_slack_cut(void **state)
{
	struct tctx *t = t_new(state, "slack_cut");
	size_t slack = add_notifier(t, "slack", "slack", "200");
	struct kl_notice_pod pods[40];
	char names[40][16], logs[40][4096], *text, *more;
	struct kl_notice x;
	size_t i, len;
	unsigned shown = 0, more_pods = 0;

	add_route(t, LIST("*"), LIST("slack"));
	start(t);
	for (i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "web-%02zu", i);
		len = 0;
		while (len < 3000)
			len += (size_t)snprintf(logs[i] + len, sizeof(logs[i]) - len,
						"line %04zu of pod %02zu\n", len, i);
		memset(&pods[i], 0, sizeof(pods[i]));
		pods[i].pod = names[i];
		pods[i].container = "web";
		pods[i].reason = "CrashLoopBackOff";
		pods[i].restarts = 3;
		pods[i].log = logs[i];
	}
	x = crash(1, "moc-web", "@web", "40 Pod(s) in CrashLoopBackOff");
	x.pods = pods;
	x.npods = 40;
	assert_int_equal(do_send(t, &x, 1), 1);
	run_until(t, t->ndone == 1, 5000);
	assert_true(t->done[0].delivered);
	text = slack_text_at(t, slack, 0);
	assert_true(strlen(text) <= 35000);
	assert_true(strlen(text) > 20000);
	/* each tail is its last ~1500 bytes, starting on a line, marked as cut */
	assert_null(strstr(text, "line 0000 of pod 00\n"));
	assert_non_null(strstr(text, "```\n\xe2\x80\xa6\nline "));
	assert_null(strstr(text, "\n\n"));
	for (i = 0; i < 40; i++) {
		char last[64];

		snprintf(last, sizeof(last), "`web-%02zu`", i);
		if (strstr(text, last))
			shown++;
	}
	more = strstr(text, "more pods)");
	assert_non_null(more);
	while (more > text && more[-1] != '(')
		more--;
	assert_int_equal(sscanf(more, "%u more pods)", &more_pods), 1);
	assert_true(shown >= 10);
	assert_int_equal(shown + more_pods, 40);
	free(text);
	finish(t);
}

static void test_webhook_payload(void **state)
{
	struct tctx *t = t_new(state, "webhook");
	size_t hook = add_notifier(t, "hook", "webhook", "200");
	struct kl_notice v[3];
	yajl_val f = NULL, r = NULL, a, alerts;
	struct reqs q;
	char ts[32];
	size_t i;

	add_route(t, LIST("*"), LIST("hook"));
	start(t);
	v[0] = crash(1, "mon-apigee", "@arquitectura", "1 Pod(s) in CrashLoopBackOff");
	v[0].pods = api_pod;
	v[0].npods = 1;
	v[1] = notready(2, "moc-b", NULL, "33 % of pods Not Ready");
	v[2] = resolved(crash(3, "mon-c", "@x", "0 Pod(s) in CrashLoopBackOff"), T0 + 600);
	assert_int_equal(do_send(t, v, 3), 3);
	run_until(t, t->ndone == 3, 5000);
	for (i = 0; i < 3; i++)
		assert_true(t->done[i].delivered);

	fetch(t->rcv, t->paths[hook], &q);
	assert_int_equal(q.n, 2); /* one payload per status */
	for (i = 0; i < 2; i++) {
		yajl_val v2 = parse(q.v[i].body);

		assert_string_equal(q.v[i].ctype, "application/json");
		if (!strcmp(JSTR(v2, "status"), "firing"))
			f = v2;
		else
			r = v2;
	}
	assert_non_null(f);
	assert_non_null(r);

	/* firing: two alertnames, so no group label */
	assert_string_equal(JSTR(f, "version"), "4");
	assert_string_equal(JSTR(f, "receiver"), "hook");
	assert_string_equal(JSTR(f, "groupKey"), "{}:{}");
	assert_string_equal(JSTR(f, "externalURL"), "");
	assert_non_null(jget(f, LIST("truncatedAlerts"), yajl_t_number));
	assert_int_equal(YAJL_GET_INTEGER(jget(f, LIST("truncatedAlerts"), yajl_t_number)), 0);
	assert_int_equal(jget(f, LIST("groupLabels"), yajl_t_object)->u.object.len, 0);
	assert_string_equal(JSTR(f, "commonLabels", "cluster"), "PRODUCTION");
	assert_null(JSTR(f, "commonLabels", "namespace"));
	assert_null(JSTR(f, "commonLabels", "alertname"));
	assert_non_null(jget(f, LIST("commonAnnotations"), yajl_t_object));
	alerts = jget(f, LIST("alerts"), yajl_t_array);
	assert_non_null(alerts);
	assert_int_equal(alerts->u.array.len, 2);
	a = alerts->u.array.values[0];
	assert_string_equal(JSTR(a, "status"), "firing");
	assert_int_equal(jget(a, LIST("labels"), yajl_t_object)->u.object.len, 5);
	assert_string_equal(JSTR(a, "labels", "alertname"), "KloompasPodCrashLooping");
	assert_string_equal(JSTR(a, "labels", "cluster"), "PRODUCTION");
	assert_string_equal(JSTR(a, "labels", "namespace"), "mon-apigee");
	assert_string_equal(JSTR(a, "labels", "team"), "@arquitectura");
	assert_string_equal(JSTR(a, "labels", "controller"), "crash-watcher");
	assert_string_equal(JSTR(a, "annotations", "summary"), "1 Pod(s) in CrashLoopBackOff");
	assert_string_equal(JSTR(a, "annotations", "description"),
			    "pod api-1 container app: CrashLoopBackOff, 3 restarts, last exit 3 "
			    "(Error)\nstarting app pod=api-1\npanic: boom");
	assert_string_equal(JSTR(a, "startsAt"), "2023-11-14T22:13:20Z");
	assert_string_equal(JSTR(a, "endsAt"), "0001-01-01T00:00:00Z");
	assert_string_equal(JSTR(a, "generatorURL"), "");
	/* Prometheus' LabelSet fingerprint, as Alertmanager computes it */
	assert_string_equal(JSTR(a, "fingerprint"), "caf3c58be005173f");
	a = alerts->u.array.values[1];
	assert_string_equal(JSTR(a, "labels", "alertname"), "KloompasNamespacePodsNotReady");
	assert_string_equal(JSTR(a, "labels", "namespace"), "moc-b");
	assert_null(JSTR(a, "labels", "team")); /* no team: no label */
	assert_int_equal(jget(a, LIST("labels"), yajl_t_object)->u.object.len, 4);
	assert_string_equal(JSTR(a, "annotations", "summary"), "33 % of pods Not Ready");
	assert_int_equal(strlen(JSTR(a, "fingerprint")), 16);

	/* resolved: one alertname, grouped by it; endsAt in the past */
	assert_string_equal(JSTR(r, "groupKey"), "{}:{alertname=\"KloompasPodCrashLooping\"}");
	assert_string_equal(JSTR(r, "groupLabels", "alertname"), "KloompasPodCrashLooping");
	assert_string_equal(JSTR(r, "commonLabels", "namespace"), "mon-c");
	assert_string_equal(JSTR(r, "commonLabels", "team"), "@x");
	assert_string_equal(JSTR(r, "commonAnnotations", "summary"),
			    "0 Pod(s) in CrashLoopBackOff");
	alerts = jget(r, LIST("alerts"), yajl_t_array);
	assert_int_equal(alerts->u.array.len, 1);
	a = alerts->u.array.values[0];
	assert_string_equal(JSTR(a, "status"), "resolved");
	assert_string_equal(JSTR(a, "endsAt"), "2023-11-14T22:23:20Z");
	rfc3339((int64_t)time(NULL), ts);
	assert_true(strcmp(JSTR(a, "endsAt"), ts) <= 0);

	yajl_tree_free(f);
	yajl_tree_free(r);
	reqs_free(&q);
	assert_true(metric(t, "hook", "success") == 2);
	finish(t);
}

/* The alerts of an /api/v2/alerts body. */
static yajl_val am_alerts(const struct req *x)
{
	yajl_val v = parse(x->body);

	assert_true(YAJL_IS_ARRAY(v));
	return v;
}

static void test_alertmanager(void **state)
{
	struct tctx *t = t_new(state, "alertmanager");
	/* a trailing slash on the base URL is fine */
	size_t am = add_notifier_url(t, "am", "alertmanager", "200", "/");
	char prefix[160], now_s[32], later_s[32], ts[32];
	struct kl_notice x, rep, res;
	size_t n0, n1, i;
	yajl_val v, a;
	struct reqs q;
	int64_t now;

	t->opts.am_resend_ms = 200; /* firing alerts end 4 x 200 ms after each post */
	add_route(t, LIST("*"), LIST("am"));
	start(t);
	snprintf(prefix, sizeof(prefix), "%s/api/v2/alerts", t->paths[am]);

	x = crash(1, "mon-apigee", "@arquitectura", "1 Pod(s) in CrashLoopBackOff");
	now = (int64_t)time(NULL);
	assert_int_equal(do_send(t, &x, 1), 1);
	run_until(t, t->ndone == 1, 5000);
	assert_true(t->done[0].delivered);
	fetch(t->rcv, prefix, &q);
	assert_true(q.n >= 1);
	assert_int_equal(nreq(t->rcv, t->paths[am]), q.n); /* every post went to /api/v2/alerts */
	assert_string_equal(q.v[0].ctype, "application/json");
	v = am_alerts(&q.v[0]);
	assert_int_equal(v->u.array.len, 1);
	a = v->u.array.values[0];
	assert_string_equal(JSTR(a, "labels", "alertname"), "KloompasPodCrashLooping");
	assert_string_equal(JSTR(a, "labels", "namespace"), "mon-apigee");
	assert_string_equal(JSTR(a, "labels", "team"), "@arquitectura");
	assert_string_equal(JSTR(a, "labels", "cluster"), "PRODUCTION");
	assert_string_equal(JSTR(a, "labels", "controller"), "crash-watcher");
	assert_string_equal(JSTR(a, "annotations", "summary"), "1 Pod(s) in CrashLoopBackOff");
	assert_string_equal(JSTR(a, "startsAt"), "2023-11-14T22:13:20Z");
	assert_string_equal(JSTR(a, "generatorURL"), "");
	assert_null(JSTR(a, "status")); /* not part of a posted alert */
	/* endsAt: in the future, about 4 x am_resend_ms away */
	rfc3339(now, now_s);
	rfc3339(now + 3, later_s);
	assert_true(strcmp(JSTR(a, "endsAt"), now_s) > 0);
	assert_true(strcmp(JSTR(a, "endsAt"), later_s) <= 0);
	yajl_tree_free(v);
	reqs_free(&q);

	/* re-posted every am_resend_ms while firing; no done_cb for re-posts */
	run_until(t, nreq(t->rcv, prefix) >= 3, 3000);
	fetch(t->rcv, prefix, &q);
	for (i = 1; i < q.n; i++) {
		assert_true(q.v[i].ms - q.v[i - 1].ms >= 120);
		v = am_alerts(&q.v[i]);
		assert_int_equal(v->u.array.len, 1);
		assert_string_equal(JSTR(v->u.array.values[0], "labels", "namespace"),
				    "mon-apigee");
		yajl_tree_free(v);
	}
	reqs_free(&q);
	assert_int_equal(t->ndone, 1);

	/* a repeat of the same alert replaces it in the set: still one alert */
	rep = x;
	rep.id = 2;
	rep.repeat = true;
	rep.summary = "2 Pod(s) in CrashLoopBackOff";
	assert_int_equal(do_send(t, &rep, 1), 1);
	run_until(t, t->ndone == 2, 5000);
	n0 = nreq(t->rcv, prefix);
	run_until(t, nreq(t->rcv, prefix) >= n0 + 1, 3000);
	fetch(t->rcv, prefix, &q);
	v = am_alerts(&q.v[q.n - 1]);
	assert_int_equal(v->u.array.len, 1);
	assert_string_equal(JSTR(v->u.array.values[0], "annotations", "summary"),
			    "2 Pod(s) in CrashLoopBackOff");
	yajl_tree_free(v);
	reqs_free(&q);

	/* resolve: endsAt is when it ended; the re-posts stop */
	now = (int64_t)time(NULL);
	res = resolved(x, now - 5);
	res.id = 3;
	assert_int_equal(do_send(t, &res, 1), 1);
	run_until(t, t->ndone == 3, 5000);
	assert_true(done_of(t, 3, "am")->delivered);
	fetch(t->rcv, prefix, &q);
	v = am_alerts(&q.v[q.n - 1]);
	assert_int_equal(v->u.array.len, 1);
	rfc3339(now - 5, ts);
	assert_string_equal(JSTR(v->u.array.values[0], "endsAt"), ts);
	yajl_tree_free(v);
	n1 = q.n;
	reqs_free(&q);
	run_for(t, 600);
	assert_int_equal(nreq(t->rcv, prefix), n1);
	assert_int_equal(t->ndone, 3);
	assert_true(metric(t, "am", "success") >= 4);
	assert_true(metric(t, "am", "failure") == 0);
	finish(t);
}

/*
 * After a restart: a firing alert read back from the state goes back into the
 * alertmanager set (re-posted at once, then every am_resend_ms) without a notice to
 * anyone else and without a done_cb; a resolved one or a dry run restores nothing.
 */
static void test_alertmanager_restore(void **state)
{
	struct tctx *t = t_new(state, "am_restore");
	size_t am = add_notifier(t, "am", "alertmanager", "200");
	size_t slack = add_notifier(t, "slack", "slack", "200");
	struct kl_notice x = crash(0, "mon-apigee", "@arquitectura", "1 Pod(s) in CrashLoopBackOff");
	struct kl_notice r = resolved(x, (int64_t)time(NULL));
	char prefix[160];
	struct reqs q;
	yajl_val v;

	t->opts.am_resend_ms = 200;
	add_route(t, LIST("*"), LIST("am", "slack"));
	start(t);
	snprintf(prefix, sizeof(prefix), "%s/api/v2/alerts", t->paths[am]);
	kl_notify_restore(t->n, &r);
	run_for(t, 300);
	assert_int_equal(nreq(t->rcv, prefix), 0);
	kl_notify_restore(t->n, &x);
	run_until(t, nreq(t->rcv, prefix) >= 1, 150); /* at once, not after am_resend_ms */
	run_until(t, nreq(t->rcv, prefix) >= 3, 3000);
	fetch(t->rcv, prefix, &q);
	v = am_alerts(&q.v[0]);
	assert_int_equal(v->u.array.len, 1);
	assert_string_equal(JSTR(v->u.array.values[0], "labels", "namespace"), "mon-apigee");
	assert_string_equal(JSTR(v->u.array.values[0], "labels", "team"), "@arquitectura");
	assert_string_equal(JSTR(v->u.array.values[0], "startsAt"), "2023-11-14T22:13:20Z");
	yajl_tree_free(v);
	reqs_free(&q);
	assert_int_equal(nreq(t->rcv, t->paths[slack]), 0);
	assert_int_equal(t->ndone, 0);
	finish(t);
}

/* A retried alertmanager post carries a fresh endsAt: the first one may have passed. */
static void test_alertmanager_retry(void **state)
{
	struct tctx *t = t_new(state, "am_retry");
	size_t am = add_notifier(t, "am", "alertmanager", "429r2,200");
	struct kl_notice x = crash(1, "mon-a", "@a", "1 Pod(s) in CrashLoopBackOff");
	char prefix[160];
	const char *e1, *e2;
	yajl_val v1, v2;
	struct reqs q;

	t->opts.am_resend_ms = 200;
	add_route(t, LIST("*"), LIST("am"));
	start(t);
	snprintf(prefix, sizeof(prefix), "%s/api/v2/alerts", t->paths[am]);
	assert_int_equal(do_send(t, &x, 1), 1);
	run_until(t, t->ndone == 1, 6000);
	assert_true(t->done[0].delivered);
	fetch(t->rcv, prefix, &q);
	assert_true(q.n >= 2);
	assert_int_equal(q.v[0].status, 429);
	assert_true(q.v[1].ms - q.v[0].ms >= 1950);
	v1 = am_alerts(&q.v[0]);
	v2 = am_alerts(&q.v[1]);
	e1 = JSTR(v1->u.array.values[0], "endsAt");
	e2 = JSTR(v2->u.array.values[0], "endsAt");
	assert_non_null(e1);
	assert_non_null(e2);
	assert_true(strcmp(e2, e1) > 0);
	assert_string_equal(JSTR(v1->u.array.values[0], "startsAt"),
			    JSTR(v2->u.array.values[0], "startsAt"));
	yajl_tree_free(v1);
	yajl_tree_free(v2);
	reqs_free(&q);
	finish(t);
}

/* A re-post in flight does not take a notice's place in a full queue. */
static void test_alertmanager_repost_not_counted(void **state)
{
	struct tctx *t = t_new(state, "am_repost_queue");
	size_t am = add_notifier(t, "am", "alertmanager", "200,slow1");
	struct kl_notice x = crash(1, "mon-a", "@a", "1 Pod(s) in CrashLoopBackOff");
	struct kl_notice y = crash(2, "mon-b", "@b", "1 Pod(s) in CrashLoopBackOff");

	t->opts.am_resend_ms = 200;
	t->opts.queue_max = 1;
	add_route(t, LIST("*"), LIST("am"));
	start(t);
	assert_int_equal(do_send(t, &x, 1), 1);
	run_until(t, t->ndone == 1, 5000);
	run_until(t, nreq(t->rcv, t->paths[am]) >= 2, 3000); /* a slow re-post in flight */
	assert_int_equal(do_send(t, &y, 1), 1);
	run_until(t, t->ndone == 2, 5000);
	assert_true(done_of(t, 2, "am")->delivered);
	assert_true(metric(t, "am", "dropped") == 0);
	finish(t);
}

static void test_routing(void **state)
{
	struct tctx *t = t_new(state, "routing");
	size_t h1 = add_notifier(t, "hook1", "webhook", "200");
	size_t h2 = add_notifier(t, "hook2", "webhook", "200");
	static const struct kl_notice_pod pod = {.pod = "p1",
						 .container = "c",
						 .reason = "CrashLoopBackOff",
						 .restarts = 2,
						 .log = "oops"};
	const char *names[4];
	struct kl_notice v[3];
	struct reqs q;
	yajl_val j;

	add_notifier(t, "audit", "log", NULL);
	add_route(t, LIST("moc-*"), LIST("hook1"));
	add_route(t, LIST("moc-pricing-*", "mon-*"), LIST("hook2", "audit", "hook2"));
	start(t);

	/* first match wins; duplicates collapse; no match: the log only */
	assert_int_equal(kl_notify_route(t->n, "moc-pricing-a", names, 4), 1);
	assert_string_equal(names[0], "hook1");
	assert_int_equal(kl_notify_route(t->n, "mon-a", names, 4), 2);
	assert_string_equal(names[0], "hook2");
	assert_string_equal(names[1], "audit");
	assert_int_equal(kl_notify_route(t->n, "mon-a", names, 1), 1);
	assert_int_equal(kl_notify_route(t->n, "kube-system", names, 4), 1);
	assert_string_equal(names[0], "log");

	v[0] = crash(1, "moc-pricing-a", "@p", "1 Pod(s) in CrashLoopBackOff");
	v[1] = crash(2, "mon-a", "@m", "1 Pod(s) in CrashLoopBackOff");
	v[2] = crash(3, "kube-system", NULL, "1 Pod(s) in CrashLoopBackOff");
	v[2].pods = &pod;
	v[2].npods = 1;
	assert_int_equal(do_send(t, v, 3), 4);
	assert_int_equal(t->ndone, 0); /* the log is written now, reported from the loop */
	run_until(t, t->ndone == 4, 5000);
	assert_true(done_of(t, 1, "hook1")->delivered);
	assert_true(done_of(t, 2, "hook2")->delivered);
	assert_true(done_of(t, 2, "audit")->delivered);
	assert_true(done_of(t, 3, "log")->delivered);

	fetch(t->rcv, t->paths[h1], &q);
	assert_int_equal(q.n, 1);
	j = parse(q.v[0].body);
	assert_string_equal(JSTR(j, "commonLabels", "namespace"), "moc-pricing-a");
	yajl_tree_free(j);
	reqs_free(&q);
	fetch(t->rcv, t->paths[h2], &q);
	assert_int_equal(q.n, 1);
	j = parse(q.v[0].body);
	assert_string_equal(JSTR(j, "commonLabels", "namespace"), "mon-a");
	yajl_tree_free(j);
	reqs_free(&q);

	assert_true(log_has(t, "msg=notification notifier=log controller=crash-watcher "
			       "namespace=kube-system team=\"\" status=firing"));
	assert_true(log_has(t, "summary=\"1 Pod(s) in CrashLoopBackOff\""));
	assert_true(log_has(t, "msg=evidence notifier=log namespace=kube-system pod=p1 "
			       "container=c reason=CrashLoopBackOff restarts=2"));
	assert_true(log_has(t, "msg=notification notifier=audit controller=crash-watcher "
			       "namespace=mon-a team=@m status=firing"));
	assert_false(log_has(t, "namespace=moc-pricing-a team"));
	assert_true(metric(t, "log", "success") == 1);
	assert_true(metric(t, "audit", "success") == 1);
	finish(t);
}

static void test_retry_5xx(void **state)
{
	struct tctx *t = t_new(state, "retry_5xx");
	size_t hook = add_notifier(t, "hook", "webhook", "500,500,200");
	struct kl_notice x = crash(7, "mon-a", "@a", "1 Pod(s) in CrashLoopBackOff");
	struct reqs q;

	add_route(t, LIST("*"), LIST("hook"));
	start(t);
	assert_int_equal(do_send(t, &x, 1), 1);
	run_until(t, t->ndone == 1, 5000);
	assert_int_equal(t->done[0].id, 7);
	assert_true(t->done[0].delivered);
	fetch(t->rcv, t->paths[hook], &q);
	assert_int_equal(q.n, 3);
	assert_int_equal(q.v[2].status, 200);
	/* 50 ms, then 100 ms */
	assert_true(q.v[1].ms - q.v[0].ms >= 40);
	assert_true(q.v[2].ms - q.v[1].ms >= 90);
	assert_string_equal(q.v[0].body, q.v[2].body); /* the same message again */
	reqs_free(&q);
	assert_true(metric(t, "hook", "failure") == 2);
	assert_true(metric(t, "hook", "success") == 1);
	assert_true(metric(t, "hook", "dropped") == 0);
	assert_true(queue_len(t, "hook") == 0);
	assert_true(log_has(t, "msg=\"notification failed\" notifier=hook code=500"));
	run_for(t, 200);
	assert_int_equal(t->ndone, 1);
	assert_int_equal(nreq(t->rcv, t->paths[hook]), 3);
	finish(t);
}

static void test_retry_after(void **state)
{
	struct tctx *t = t_new(state, "retry_after");
	size_t hook = add_notifier(t, "hook", "slack", "429r1,200");
	struct kl_notice x = crash(1, "mon-a", "@a", "1 Pod(s) in CrashLoopBackOff");
	struct reqs q;

	add_route(t, LIST("*"), LIST("hook"));
	start(t);
	assert_int_equal(do_send(t, &x, 1), 1);
	run_until(t, t->ndone == 1, 6000);
	assert_true(t->done[0].delivered);
	assert_true(t->done[0].at - t->sent_at >= 950);
	fetch(t->rcv, t->paths[hook], &q);
	assert_int_equal(q.n, 2);
	assert_int_equal(q.v[0].status, 429);
	/* Retry-After: 1 beats the 50 ms backoff */
	assert_true(q.v[1].ms - q.v[0].ms >= 950);
	assert_true(q.v[1].ms - q.v[0].ms < 4000);
	reqs_free(&q);
	assert_true(metric(t, "hook", "failure") == 1);
	assert_true(metric(t, "hook", "success") == 1);
	finish(t);
}

static void test_bad_request_drops(void **state)
{
	struct tctx *t = t_new(state, "bad_request");
	size_t hook = add_notifier(t, "hook", "webhook", "400");
	struct kl_notice x = crash(1, "mon-a", "@a", "1 Pod(s) in CrashLoopBackOff");

	add_route(t, LIST("*"), LIST("hook"));
	start(t);
	assert_int_equal(do_send(t, &x, 1), 1);
	run_until(t, t->ndone == 1, 5000);
	assert_false(t->done[0].delivered);
	assert_true(t->done[0].at - t->sent_at < 1000);
	run_for(t, 300);
	assert_int_equal(nreq(t->rcv, t->paths[hook]), 1); /* not retried */
	assert_true(metric(t, "hook", "failure") == 1);
	assert_true(metric(t, "hook", "dropped") == 1);
	assert_true(metric(t, "hook", "success") == 0);
	assert_true(log_has(t, "code=400"));
	assert_true(log_has(t, "msg=\"notification dropped\" notifier=hook"));
	finish(t);
}

static void test_give_up(void **state)
{
	struct tctx *t = t_new(state, "give_up");
	size_t hook = add_notifier(t, "hook", "webhook", "500");
	struct kl_notice x = crash(1, "mon-a", "@a", "1 Pod(s) in CrashLoopBackOff");
	size_t n;

	t->opts.give_up_ms = 300;
	add_route(t, LIST("*"), LIST("hook"));
	start(t);
	assert_int_equal(do_send(t, &x, 1), 1);
	run_until(t, t->ndone == 1, 5000);
	assert_false(t->done[0].delivered);
	assert_true(t->done[0].at - t->sent_at < 1500);
	n = nreq(t->rcv, t->paths[hook]);
	assert_true(n >= 2 && n <= 5);
	run_for(t, 300);
	assert_int_equal(nreq(t->rcv, t->paths[hook]), n);
	assert_true(metric(t, "hook", "failure") == (double)n);
	assert_true(metric(t, "hook", "dropped") == 1);
	assert_true(queue_len(t, "hook") == 0);
	finish(t);
}

static void test_queue_overflow(void **state)
{
	struct tctx *t = t_new(state, "overflow");
	size_t hook = add_notifier(t, "hook", "webhook", "slow1,200");
	struct kl_notice a = crash(1, "mon-a", "@a", "1 Pod(s) in CrashLoopBackOff");
	struct kl_notice b[2] = {crash(2, "mon-b", "@b", "1 Pod(s) in CrashLoopBackOff"),
				 notready(3, "mon-c", "@c", "50 % of pods Not Ready")};

	t->opts.queue_max = 1;
	add_route(t, LIST("*"), LIST("hook"));
	start(t);
	assert_int_equal(do_send(t, &a, 1), 1);
	assert_true(queue_len(t, "hook") == 1);
	/* the queue holds one message, in flight: the next flush is refused */
	assert_int_equal(do_send(t, b, 2), 2);
	assert_int_equal(t->ndone, 0);
	run_until(t, t->ndone == 2, 5000);
	assert_false(done_of(t, 2, "hook")->delivered);
	assert_false(done_of(t, 3, "hook")->delivered);
	assert_true(metric(t, "hook", "dropped") == 1);
	run_until(t, t->ndone == 3, 5000);
	assert_int_equal(t->done[2].id, 1);
	assert_true(t->done[2].delivered);
	assert_int_equal(nreq(t->rcv, t->paths[hook]), 1);
	assert_true(metric(t, "hook", "success") == 1);
	assert_true(queue_len(t, "hook") == 0);
	assert_true(log_has(t, "reason=\"queue full\""));
	finish(t);
}

static void test_dry_run(void **state)
{
	struct tctx *t = t_new(state, "dry_run");
	struct kl_notice x =
	    crash(1, "mon-apigee", "@arquitectura", "1 Pod(s) in CrashLoopBackOff");
	char prefix[64];

	t->opts.dry_run = true;
	add_notifier(t, "slack", "slack", "200");
	add_notifier(t, "hook", "webhook", "200");
	add_notifier(t, "am", "alertmanager", "200");
	add_route(t, LIST("*"), LIST("slack", "hook", "am"));
	start(t);
	x.pods = apigee_pods;
	x.npods = 1;
	assert_int_equal(do_send(t, &x, 1), 3);
	assert_int_equal(t->ndone, 0);
	run_until(t, t->ndone == 3, 5000);
	assert_true(done_of(t, 1, "slack")->delivered);
	assert_true(done_of(t, 1, "hook")->delivered);
	assert_true(done_of(t, 1, "am")->delivered);
	run_for(t, 300);
	snprintf(prefix, sizeof(prefix), "/200/%s/", t->name);
	assert_int_equal(nreq(t->rcv, prefix), 0);
	assert_true(log_has(t, "msg=\"would notify\" notifier=slack type=slack status=firing "
			       "namespaces=mon-apigee text=\"PODS IN CRASH on *PRODUCTION*:\\n"
			       "mon-apigee: (@arquitectura) 1 Pod(s) in CrashLoopBackOff\\n"));
	assert_true(log_has(t, "msg=\"would notify\" notifier=hook type=webhook status=firing "
			       "namespaces=mon-apigee text=\"{\\\"version\\\":\\\"4\\\""));
	assert_true(log_has(t, "msg=\"would notify\" notifier=am type=alertmanager"));
	assert_true(metric(t, "slack", "success") == 1);
	finish(t);
}

static void test_close_in_flight(void **state)
{
	struct tctx *t = t_new(state, "close");
	size_t hook = add_notifier(t, "hook", "webhook", "slow3");
	struct kl_notice v[3] = {crash(1, "mon-a", "@a", "1 Pod(s) in CrashLoopBackOff"),
				 crash(2, "mon-b", "@b", "1 Pod(s) in CrashLoopBackOff"),
				 crash(3, "mon-c", "@c", "1 Pod(s) in CrashLoopBackOff")};
	struct kl_notice unrouted = crash(4, "kube-system", NULL, "1 Pod(s) in CrashLoopBackOff");
	uint64_t t0;

	add_route(t, LIST("mon-*"), LIST("hook"));
	start(t);
	assert_int_equal(do_send(t, &v[0], 1), 1);
	assert_int_equal(do_send(t, &v[1], 1), 1);
	assert_int_equal(do_send(t, &v[2], 1), 1);
	assert_true(queue_len(t, "hook") == 3);
	run_until(t, nreq(t->rcv, t->paths[hook]) == 1, 3000); /* the first is in flight */
	assert_int_equal(do_send(t, &unrouted, 1), 1);	       /* a log report pending */
	uv_update_time(&t->loop);
	t0 = uv_now(&t->loop);
	t->closing = true;
	kl_notify_close(t->n, on_closed, t);
	run_until(t, t->closed, 2000);
	assert_true(uv_now(&t->loop) - t0 < 1000); /* the slow answer was not waited for */
	assert_int_equal(t->ndone, 0);
	finish(t);
}

static void test_close_from_done_cb(void **state)
{
	struct tctx *t = t_new(state, "close_in_done");
	struct kl_notice v[3] = {crash(1, "a", NULL, "1 Pod(s) in CrashLoopBackOff"),
				 crash(2, "b", NULL, "1 Pod(s) in CrashLoopBackOff"),
				 crash(3, "c", NULL, "1 Pod(s) in CrashLoopBackOff")};

	start(t);
	t->close_in_done = true;
	assert_int_equal(do_send(t, v, 3), 3);
	run_until(t, t->closed, 2000);
	assert_int_equal(t->ndone, 1);
	finish(t);
}

static void test_send_errors(void **state)
{
	struct tctx *t = t_new(state, "send_errors");
	struct kl_notice x = crash(1, "mon-a", "@a", "1 Pod(s) in CrashLoopBackOff");

	start(t);
	assert_int_equal(do_send(t, &x, 0), 0);
	x.ns = NULL;
	assert_int_equal(do_send(t, &x, 1), -EINVAL);
	x.ns = "mon-a";
	x.npods = 1; /* and no pods */
	assert_int_equal(do_send(t, &x, 1), -EINVAL);
	run_for(t, 50);
	assert_int_equal(t->ndone, 0);
	assert_false(log_has(t, "msg=notification"));
	finish(t);
}

/* ----------------------------------------------- one set, several clients (issue 13) */

/*
 * Two clients (the two watchers) flushing within one window: one Slack message with
 * both groups; each client hears of its own notice (both use id 1); the notices
 * were copied (the caller's strings change right after the send).
 */
static void test_window_one_message_two_clients(void **state)
{
	struct tctx *t = t_new(state, "window");
	size_t slack = add_notifier(t, "slack", "slack", "200");
	char ns_a[] = "mon-a", ns_b[] = "mon-b";
	struct kl_notice a = crash(1, ns_a, "@a", "1 Pod(s) in CrashLoopBackOff");
	struct kl_notice b = notready(1, ns_b, "@b", "50 % of pods Not Ready");
	struct kl_notify_client *c2;
	char *text;

	a.pods = apigee_pods;
	a.npods = 1;
	t->opts.window_ms = 30;
	add_route(t, LIST("*"), LIST("slack"));
	start(t);
	c2 = kl_notify_attach(t->n, on_done_b, t);
	assert_non_null(c2);
	assert_int_equal(do_send(t, &a, 1), 1);
	assert_int_equal(send_as(t, c2, &b, 1), 1);
	memcpy(ns_a, "XXXXX", 5);
	memcpy(ns_b, "YYYYY", 5);
	assert_true(queue_len(t, "slack") == 0); /* still in the window */
	run_until(t, t->ndone == 2, 5000);
	assert_true(done_of_client(t, 0, 1, "slack")->delivered);
	assert_true(done_of_client(t, 2, 1, "slack")->delivered);
	assert_int_equal(nreq(t->rcv, t->paths[slack]), 1);
	text = slack_text_at(t, slack, 0);
	assert_string_equal(text, "PODS IN CRASH on *PRODUCTION*:\n"
				  "mon-a: (@a) 1 Pod(s) in CrashLoopBackOff\n"
				  "\xe2\x80\xa2 `apigee-5c7d8` container `proxy`: CrashLoopBackOff, "
				  "5 restarts, last exit 1 (Error)\n"
				  "```\n"
				  "starting\n"
				  "fatal: cannot bind :8080\n"
				  "```\n"
				  "\n"
				  "NAMESPACES WITH HIGH NUMBER OF PODS NOT READY on *PRODUCTION*:\n"
				  "mon-b: (@b) 50 % of pods Not Ready");
	free(text);
	assert_true(metric(t, "slack", "success") == 1);
	finish(t);
}

/*
 * Two clients queueing to one notifier: one queue, one gauge (it counts both
 * clients' messages), one bound (queue_max across both), each refusal reported to
 * the client whose notice it was.
 */
static void test_two_clients_one_queue(void **state)
{
	struct tctx *t = t_new(state, "one_queue");
	size_t hook = add_notifier(t, "hook", "webhook", "slow1,200");
	struct kl_notice a = crash(1, "mon-a", "@a", "1 Pod(s) in CrashLoopBackOff");
	struct kl_notice b = notready(1, "mon-b", "@b", "50 % of pods Not Ready");
	struct kl_notice c = notready(2, "mon-c", "@c", "60 % of pods Not Ready");
	struct kl_notify_client *c2;

	t->opts.queue_max = 2;
	add_route(t, LIST("*"), LIST("hook"));
	start(t);
	c2 = kl_notify_attach(t->n, on_done_b, t);
	assert_non_null(c2);
	assert_int_equal(do_send(t, &a, 1), 1);
	assert_true(queue_len(t, "hook") == 1);
	assert_int_equal(send_as(t, c2, &b, 1), 1);
	assert_true(queue_len(t, "hook") == 2);
	/* the bound is the notifier's, not a client's: c2's second flush is refused */
	assert_int_equal(send_as(t, c2, &c, 1), 1);
	run_until(t, t->ndone == 1, 5000);
	assert_int_equal(t->done[0].client, 2);
	assert_int_equal(t->done[0].id, 2);
	assert_false(t->done[0].delivered);
	assert_true(metric(t, "hook", "dropped") == 1);
	assert_true(log_has(t, "reason=\"queue full\""));
	run_until(t, t->ndone == 3, 5000);
	assert_true(done_of_client(t, 0, 1, "hook")->delivered);
	assert_true(done_of_client(t, 2, 1, "hook")->delivered);
	assert_int_equal(nreq(t->rcv, t->paths[hook]), 2);
	assert_true(queue_len(t, "hook") == 0);
	finish(t);
}

/* The default bound, 1000 messages, holds across both clients together. */
static void test_two_clients_default_bound(void **state)
{
	struct tctx *t = t_new(state, "bound_1000");
	struct kl_notice x = crash(1, "mon-a", "@a", "1 Pod(s) in CrashLoopBackOff");
	struct kl_notify_client *c2;
	size_t i;

	add_notifier(t, "hook", "webhook", "slow3");
	add_route(t, LIST("*"), LIST("hook"));
	start(t);
	c2 = kl_notify_attach(t->n, on_done_b, t);
	assert_non_null(c2);
	for (i = 0; i < 1000; i++) {
		x.id = i + 1;
		assert_int_equal(send_as(t, i % 2 ? c2 : t->c, &x, 1), 1);
	}
	assert_true(queue_len(t, "hook") == 1000);
	x.id = 5000;
	assert_int_equal(send_as(t, c2, &x, 1), 1);
	assert_true(queue_len(t, "hook") == 1000);
	run_until(t, t->ndone == 1, 5000);
	assert_int_equal(t->done[0].client, 2);
	assert_int_equal(t->done[0].id, 5000);
	assert_false(t->done[0].delivered);
	assert_true(metric(t, "hook", "dropped") == 1);
	finish(t); /* abandons the queue: nobody is told */
}

/* A detached client hears nothing more; its queued message still goes out. */
static void test_detach(void **state)
{
	struct tctx *t = t_new(state, "detach");
	size_t hook = add_notifier(t, "hook", "webhook", "200");
	struct kl_notice a = crash(1, "mon-a", "@a", "1 Pod(s) in CrashLoopBackOff");
	struct kl_notice b = notready(2, "mon-b", "@b", "50 % of pods Not Ready");
	struct kl_notify_client *c2;
	size_t i;

	add_route(t, LIST("*"), LIST("hook"));
	start(t);
	c2 = kl_notify_attach(t->n, on_done_b, t);
	assert_non_null(c2);
	assert_int_equal(send_as(t, c2, &b, 1), 1);
	kl_notify_detach(c2);
	assert_int_equal(do_send(t, &a, 1), 1);
	run_until(t, t->ndone == 1 && nreq(t->rcv, t->paths[hook]) == 2, 5000);
	run_for(t, 100);
	assert_int_equal(t->ndone, 1);
	for (i = 0; i < t->ndone; i++)
		assert_int_equal(t->done[i].client, 0);
	assert_true(done_of(t, 1, "hook")->delivered);
	finish(t);
}

/* The type table: unique names, each found by name, a build hook; HTTP types read answers. */
static void test_type_table(void **state)
{
	const struct kl__notifier_type *t, *u;
	size_t n = 0;

	for (t = kl__notifier_types; t->name; t++, n++) {
		assert_ptr_equal(kl__notifier_type_find(t->name), t);
		assert_non_null(t->build);
		if (!t->deliver)
			assert_non_null(t->answer);
		if (t->needs_url)
			assert_null(t->deliver);
		for (u = kl__notifier_types; u < t; u++)
			assert_string_not_equal(u->name, t->name);
	}
	assert_int_equal(n, 7);
	assert_non_null(kl__notifier_type_find("teams"));
	assert_non_null(kl__notifier_type_find("pagerduty"));
	assert_non_null(kl__notifier_type_find("email"));
	/* a type with its own keys has a struct to bind them into */
	for (t = kl__notifier_types; t->name; t++)
		assert_true(!t->conf_keys == !t->conf_size);
	assert_null(kl__notifier_type_find("sms"));
	assert_null(kl__notifier_type_find(NULL));
}

/* --------------------------------------------------------------- new sinks */

static void test_pagerduty(void **state)
{
	struct tctx *t = t_new(state, "pagerduty");
	/* the first event meets a 500 and a 429 (retried), then every one is accepted */
	size_t pd = add_notifier(t, "pd", "pagerduty", "500,429,202");
	static const struct kl__pd_conf pc = {.routing_key = "R0UTINGtopsecret"};
	struct kl_notice v[3];
	yajl_val e[3];
	struct reqs q;
	size_t i;

	t->nots[pd].conf = (void *)&pc;
	add_route(t, LIST("*"), LIST("pd"));
	start(t);
	v[0] = crash(1, "mon-apigee", "@arquitectura", "1 Pod(s) in CrashLoopBackOff");
	v[0].pods = api_pod;
	v[0].npods = 1;
	v[1] = notready(2, "moc-b", NULL, "33 % of pods Not Ready");
	/* the same labels as v[0]: its resolve shares the dedup_key */
	v[2] = resolved(crash(3, "mon-apigee", "@arquitectura", "0 Pod(s) in CrashLoopBackOff"),
			T0 + 600);
	assert_int_equal(do_send(t, v, 3), 3);
	run_until(t, t->ndone == 3, 8000);
	for (i = 0; i < 3; i++)
		assert_true(t->done[i].delivered);

	fetch(t->rcv, t->paths[pd], &q);
	assert_int_equal(q.n, 5); /* one event per notice, the first one tried three times */
	assert_int_equal(q.v[0].status, 500);
	assert_int_equal(q.v[1].status, 429);
	assert_string_equal(q.v[0].body, q.v[2].body);
	for (i = 0; i < 3; i++) {
		assert_int_equal(q.v[2 + i].status, 202);
		assert_string_equal(q.v[2 + i].ctype, "application/json");
		e[i] = parse(q.v[2 + i].body);
		assert_string_equal(JSTR(e[i], "routing_key"), "R0UTINGtopsecret");
	}
	assert_string_equal(JSTR(e[0], "event_action"), "trigger");
	assert_string_equal(JSTR(e[0], "dedup_key"), "caf3c58be005173f"); /* the webhook's */
	assert_string_equal(JSTR(e[0], "client"), "kloompas");
	assert_string_equal(JSTR(e[0], "payload", "summary"),
			    "mon-apigee: 1 Pod(s) in CrashLoopBackOff (PRODUCTION)");
	assert_string_equal(JSTR(e[0], "payload", "source"), "PRODUCTION");
	assert_string_equal(JSTR(e[0], "payload", "severity"), "error");
	assert_string_equal(JSTR(e[0], "payload", "timestamp"), "2023-11-14T22:13:20Z");
	assert_string_equal(JSTR(e[0], "payload", "component"), "mon-apigee");
	assert_string_equal(JSTR(e[0], "payload", "group"), "crash-watcher");
	assert_string_equal(JSTR(e[0], "payload", "class"), "KloompasPodCrashLooping");
	assert_string_equal(JSTR(e[0], "payload", "custom_details", "team"), "@arquitectura");
	assert_string_equal(JSTR(e[0], "payload", "custom_details", "namespace"), "mon-apigee");
	assert_string_equal(JSTR(e[0], "payload", "custom_details", "evidence"),
			    "pod api-1 container app: CrashLoopBackOff, 3 restarts, last exit 3 "
			    "(Error)\nstarting app pod=api-1\npanic: boom");
	assert_string_equal(JSTR(e[1], "event_action"), "trigger");
	assert_null(JSTR(e[1], "payload", "custom_details", "team"));
	assert_null(JSTR(e[1], "payload", "custom_details", "evidence"));
	assert_string_not_equal(JSTR(e[1], "dedup_key"), "caf3c58be005173f");
	assert_string_equal(JSTR(e[2], "event_action"), "resolve");
	assert_string_equal(JSTR(e[2], "dedup_key"), "caf3c58be005173f");
	assert_null(jget(e[2], LIST("payload"), yajl_t_object));
	for (i = 0; i < 3; i++)
		yajl_tree_free(e[i]);
	reqs_free(&q);
	assert_true(metric(t, "pd", "success") == 3);
	assert_true(metric(t, "pd", "failure") == 2);
	assert_null(strstr(logtext(t), "R0UTING"));
	finish(t);
}

static void test_pagerduty_dry_run_hides_key(void **state)
{
	struct tctx *t = t_new(state, "pagerduty-dry");
	size_t pd = add_notifier(t, "pd", "pagerduty", "202");
	static const struct kl__pd_conf pc = {.routing_key = "R0UTINGtopsecret"};
	struct kl_notice v = crash(1, "ns-a", NULL, "1 Pod(s) in CrashLoopBackOff");

	t->nots[pd].conf = (void *)&pc;
	t->opts.dry_run = true;
	add_route(t, LIST("*"), LIST("pd"));
	start(t);
	assert_int_equal(do_send(t, &v, 1), 1);
	run_until(t, t->ndone == 1, 2000);
	assert_true(log_has(t, "trigger"));
	assert_true(log_has(t, "ns-a: 1 Pod(s) in CrashLoopBackOff"));
	assert_null(strstr(logtext(t), "R0UTING"));
	assert_int_equal(nreq(t->rcv, t->paths[pd]), 0);
	finish(t);
}

static void test_teams(void **state)
{
	struct tctx *t = t_new(state, "teams");
	size_t tm = add_notifier(t, "tm", "teams", "202");
	struct kl_notice_pod pod = {.pod = "api-1", .container = "app", .reason = "Error",
				    .restarts = 1, .log = "a *bold* _claim_\n"};
	struct kl_notice v[2];
	yajl_val f, r, att, body, b;
	struct reqs q;

	add_route(t, LIST("*"), LIST("tm"));
	start(t);
	v[0] = crash(1, "mon-apigee", "@arquitectura", "1 Pod(s) in CrashLoopBackOff");
	v[0].pods = &pod;
	v[0].npods = 1;
	v[1] = resolved(notready(2, "moc-b", NULL, "0 % of pods Not Ready"), T0 + 600);
	assert_int_equal(do_send(t, v, 2), 2);
	run_until(t, t->ndone == 2, 5000);
	assert_true(t->done[0].delivered && t->done[1].delivered);
	fetch(t->rcv, t->paths[tm], &q);
	assert_int_equal(q.n, 2); /* firing, then resolved */
	f = parse(q.v[0].body);
	r = parse(q.v[1].body);
	assert_string_equal(q.v[0].ctype, "application/json");
	assert_string_equal(JSTR(f, "type"), "message");
	att = jget(f, LIST("attachments"), yajl_t_array);
	assert_non_null(att);
	assert_int_equal(att->u.array.len, 1);
	att = att->u.array.values[0];
	assert_string_equal(JSTR(att, "contentType"), "application/vnd.microsoft.card.adaptive");
	assert_string_equal(JSTR(att, "content", "type"), "AdaptiveCard");
	assert_string_equal(JSTR(att, "content", "version"), "1.4");
	assert_string_equal(JSTR(att, "content", "$schema"),
			    "http://adaptivecards.io/schemas/adaptive-card.json");
	body = jget(att, LIST("content", "body"), yajl_t_array);
	assert_non_null(body);
	assert_int_equal(body->u.array.len, 4); /* heading; line, facts, evidence */
	b = body->u.array.values[0];
	assert_string_equal(JSTR(b, "type"), "TextBlock");
	assert_string_equal(JSTR(b, "text"), "FIRING: 1 alert firing in cluster PRODUCTION");
	b = body->u.array.values[1];
	assert_string_equal(JSTR(b, "text"),
			    "1 Pod\\(s\\) in CrashLoopBackOff \xe2\x80\x94 mon\\-apigee");
	b = body->u.array.values[2];
	assert_string_equal(JSTR(b, "type"), "FactSet");
	b = jget(b, LIST("facts"), yajl_t_array);
	assert_int_equal(b->u.array.len, 5);
	assert_string_equal(JSTR(b->u.array.values[1], "title"), "Team");
	assert_string_equal(JSTR(b->u.array.values[1], "value"), "@arquitectura");
	assert_string_equal(JSTR(b->u.array.values[4], "title"), "Since");
	assert_string_equal(JSTR(b->u.array.values[4], "value"), "2023-11-14T22:13:20Z");
	b = body->u.array.values[3];
	assert_string_equal(JSTR(b, "fontType"), "Monospace");
	assert_string_equal(JSTR(b, "text"), "pod api\\-1 container app: Error, 1 restart\n"
					     "a \\*bold\\* \\_claim\\_");
	att = jget(r, LIST("attachments"), yajl_t_array)->u.array.values[0];
	body = jget(att, LIST("content", "body"), yajl_t_array);
	assert_int_equal(body->u.array.len, 3); /* no evidence */
	assert_string_equal(JSTR(body->u.array.values[0], "text"),
			    "RESOLVED: 1 alert resolved in cluster PRODUCTION");
	b = jget(body->u.array.values[2], LIST("facts"), yajl_t_array);
	assert_int_equal(b->u.array.len, 4); /* no team */
	assert_string_equal(JSTR(b->u.array.values[3], "title"), "Ended");
	assert_string_equal(JSTR(b->u.array.values[3], "value"), "2023-11-14T22:23:20Z");
	yajl_tree_free(f);
	yajl_tree_free(r);
	reqs_free(&q);
	finish(t);
}

/* The mail a flush makes, built by the driver (the SMTP exchange is test_k8s_sinks.py's). */
static void test_email_message(void **state)
{
	struct tctx *t = t_new(state, "email");
	static const char *to[] = {"ops@x.example", "dev@x.example"};
	static const struct kl__email_conf ec = {
	    .from = "kloompas@x.example", .to = {to, 2}, .starttls = 1};
	struct kl_notice_pod pod = {.pod = "api-1", .container = "app", .reason = "Error",
				    .restarts = 1, .log = ".\nline\r\n"};
	const struct kl_notice *pv[2];
	struct kl_notify_client *who[2];
	struct kl__plan p = {0};
	struct kl_notice v[2];
	char big[2000];
	const char *m;
	size_t i;

	t->nots[t->nnots].name = "mail";
	t->nots[t->nnots].type_name = "email";
	snprintf(t->urls[0], sizeof(t->urls[0]), "smtp://127.0.0.1:1/email-test");
	snprintf(t->paths[0], sizeof(t->paths[0]), "/email-test");
	t->nots[t->nnots].url = t->urls[0];
	t->nots[t->nnots++].conf = (void *)&ec;
	start(t);
	v[0] = crash(1, "mon-apigee", "@arquitectura", "1 Pod(s) in CrashLoopBackOff");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	pod.log_error = NULL;
	v[0].pods = &pod;
	v[0].npods = 1;
	v[1] = resolved(notready(2, "moc-b", NULL, "0 % of pods Not Ready"), T0 + 600);
	for (i = 0; i < 2; i++) {
		pv[i] = &v[i];
		who[i] = t->c;
	}
	p.nt = &t->n->nv[0];
	p.v = pv;
	p.who = who;
	p.cnt = 2;
	assert_int_equal(kl__email_build(p.nt, &p), 0);
	assert_int_equal(p.nmsgs, 1); /* one mail per flush */
	assert_int_equal(p.msgs[0]->nids, 2);
	m = p.msgs[0]->body;
	assert_int_equal(strlen(m), p.msgs[0]->len);
	assert_non_null(strstr(m, "\r\nFrom: kloompas@x.example\r\n"));
	assert_non_null(strstr(m, "\r\nTo: ops@x.example, dev@x.example\r\n"));
	assert_non_null(strstr(m, "\r\nSubject: [kloompas PRODUCTION] 1 firing, 1 resolved\r\n"));
	assert_non_null(strstr(m, "\r\nMessage-ID: <"));
	assert_non_null(strstr(m, "\r\nMIME-Version: 1.0\r\n"));
	assert_non_null(strstr(m, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
	assert_int_equal(strncmp(m, "Date: ", 6), 0);
	assert_non_null(strstr(m, "\r\n\r\nKloompas, cluster PRODUCTION: 1 firing, 1 resolved\r\n"
				  "\r\n[FIRING] mon-apigee: 1 Pod(s) in CrashLoopBackOff\r\n"
				  "alert: KloompasPodCrashLooping, team: @arquitectura, "
				  "controller: crash-watcher, since: 2023-11-14T22:13:20Z\r\n"
				  "\r\npod api-1 container app: Error, 1 restart\r\n.\r\nline\r\n"
				  "\r\n[RESOLVED] moc-b: 0 % of pods Not Ready\r\n"
				  "alert: KloompasNamespacePodsNotReady, controller: "
				  "notready-watcher, since: 2023-11-14T22:13:20Z, ended: "
				  "2023-11-14T22:23:20Z\r\n"));
	/* no bare LF anywhere */
	for (i = 0; m[i]; i++)
		if (m[i] == '\n')
			assert_int_equal(m[i - 1], '\r');
	kl__msg_free(p.msgs[0]);
	free(p.msgs);

	/* one notice: its status and namespace in the subject; long lines are broken */
	pod.log = big;
	v[0].pods = &pod;
	memset(&p, 0, sizeof(p));
	p.nt = &t->n->nv[0];
	p.v = pv;
	p.who = who;
	p.cnt = 1;
	assert_int_equal(kl__email_build(p.nt, &p), 0);
	m = p.msgs[0]->body;
	assert_non_null(strstr(m, "\r\nSubject: [kloompas PRODUCTION] FIRING mon-apigee: 1 Pod(s) "
				  "in CrashLoopBackOff\r\n"));
	for (i = 0; m[i]; i += strspn(m + i, "\r\n")) {
		size_t k = strcspn(m + i, "\r\n");

		assert_true(k <= 998);
		i += k;
	}
	assert_non_null(strstr(m, "\r\nxxxx"));
	kl__msg_free(p.msgs[0]);
	free(p.msgs);
	finish(t);
}

static void test_smtp_answers(void **state)
{
	assert_int_equal(kl__answer_smtp(0, 250), KL__DELIVERED);
	assert_int_equal(kl__answer_smtp(-ECONNRESET, 421), KL__RETRY);
	assert_int_equal(kl__answer_smtp(-ECONNRESET, 451), KL__RETRY);
	assert_int_equal(kl__answer_smtp(-EPROTO, 450), KL__RETRY);
	assert_int_equal(kl__answer_smtp(-ECONNREFUSED, 0), KL__RETRY);
	assert_int_equal(kl__answer_smtp(-ETIMEDOUT, 0), KL__RETRY);
	assert_int_equal(kl__answer_smtp(-ECONNRESET, 550), KL__REJECT);
	assert_int_equal(kl__answer_smtp(-EIO, 535), KL__REJECT);
	assert_int_equal(kl__answer_smtp(-EINVAL, 0), KL__REJECT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slack_crash_text),
	    cmocka_unit_test(test_slack_resolved_and_notready),
	    cmocka_unit_test(test_slack_cut),
	    cmocka_unit_test(test_webhook_payload),
	    cmocka_unit_test(test_alertmanager),
	    cmocka_unit_test(test_alertmanager_retry),
	    cmocka_unit_test(test_alertmanager_repost_not_counted),
	    cmocka_unit_test(test_alertmanager_restore),
	    cmocka_unit_test(test_routing),
	    cmocka_unit_test(test_retry_5xx),
	    cmocka_unit_test(test_retry_after),
	    cmocka_unit_test(test_bad_request_drops),
	    cmocka_unit_test(test_give_up),
	    cmocka_unit_test(test_queue_overflow),
	    cmocka_unit_test(test_dry_run),
	    cmocka_unit_test(test_close_in_flight),
	    cmocka_unit_test(test_close_from_done_cb),
	    cmocka_unit_test(test_send_errors),
	    cmocka_unit_test(test_window_one_message_two_clients),
	    cmocka_unit_test(test_two_clients_one_queue),
	    cmocka_unit_test(test_two_clients_default_bound),
	    cmocka_unit_test(test_detach),
	    cmocka_unit_test(test_pagerduty),
	    cmocka_unit_test(test_pagerduty_dry_run_hides_key),
	    cmocka_unit_test(test_teams),
	    cmocka_unit_test(test_email_message),
	    cmocka_unit_test(test_smtp_answers),
	    cmocka_unit_test(test_type_table),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
