/*
 * controllers/alerts.c - the per-namespace alert state machine (see alerts.h).
 *
 * Each alert record owns one uv_timer_t for its next deadline (pending -> firing,
 * the next repeat, resolving -> resolved), so a thousand quiet namespaces cost
 * nothing and a deadline costs one heap entry in libuv. Deadlines are wall-clock
 * Unix milliseconds because they are persisted and must mean the same after a
 * restart. A notice in flight carries an id; the notifiers report each delivery
 * and the record is persisted as notified once all of them answered.
 */
#include "controllers/alerts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubeclient/json.h"
#include "util/buf.h"

enum astate { A_PENDING, A_FIRING, A_RESOLVING, A_RESOLVED };
static const char *const astate_names[] = { "pending", "firing", "resolving", "resolved" };

enum notified { N_NONE, N_FIRING, N_RESOLVED };
static const char *const notified_names[] = { "none", "firing", "resolved" };

struct alert {
	struct kl_alerts *a;
	struct alert *next;
	char *ns;
	char *summary;
	enum astate state;
	bool active, reported;
	int64_t since_ms;   /* condition start (startsAt) */
	int64_t cleared_ms; /* condition gone (RESOLVING), resolved time (RESOLVED) */
	enum notified notified;
	int64_t notified_ms;
	bool queued;	      /* in the next flush */
	uint64_t inflight_id; /* notice in flight, 0 if none */
	bool inflight_resolved;
	int deliveries;
	uv_timer_t timer;
	bool closing;
};

struct kl_alerts {
	struct kl_ctx *ctx;
	struct kl_alerts_opts o;
	struct kl_alerts_hooks hooks;
	void *arg;
	struct kl_notify *notify;
	struct alert *alerts;
	uv_timer_t flush;
	uint64_t next_id;
	bool started, stopping;
	int batches_out;   /* batches in prepare */
	int closing_count; /* records whose timer is closing */
	int stop_pending;
	void (*stop_cb)(void *arg);
	void *stop_arg;
	struct kl_metric *m_alerts;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- metrics */

static void recount(struct kl_alerts *a)
{
	unsigned n[4] = { 0 };
	struct alert *al;
	int i;

	if (!a->m_alerts)
		return;
	for (al = a->alerts; al; al = al->next)
		n[al->state]++;
	for (i = A_PENDING; i <= A_RESOLVING; i++) {
		const char *v[] = { a->o.controller, astate_names[i] };

		kl_metric_set(a->m_alerts, v, n[i]);
	}
}

/* ---------------------------------------------------------------- persistence */

static void key_of(const struct alert *al, char *buf, size_t len)
{
	snprintf(buf, len, "%s.%s", al->a->o.controller, al->ns);
}

static void persist(struct alert *al)
{
	struct kl_buf b;
	char key[320];

	if (!al->a->ctx->state)
		return;
	key_of(al, key, sizeof(key));
	kl_buf_init(&b);
	kl_buf_printf(&b,
		      "{\"state\":\"%s\",\"since\":%lld,\"cleared\":%lld,\"notified\":\"%s\","
		      "\"notifiedAt\":%lld,\"summary\":",
		      astate_names[al->state], (long long)al->since_ms, (long long)al->cleared_ms,
		      notified_names[al->notified], (long long)al->notified_ms);
	kl_buf_json_string(&b, al->summary ? al->summary : "");
	kl_buf_puts(&b, "}");
	if (kl_buf_str(&b))
		kl_state_set(al->a->ctx->state, key, kl_buf_str(&b));
	kl_buf_free(&b);
}

static void unpersist(struct alert *al)
{
	char key[320];

	if (!al->a->ctx->state)
		return;
	key_of(al, key, sizeof(key));
	kl_state_set(al->a->ctx->state, key, NULL);
}

/* ---------------------------------------------------------------- records */

static void schedule(struct alert *al);
static void queue_notice(struct alert *al);

static struct alert *find(struct kl_alerts *a, const char *ns)
{
	struct alert *al;

	for (al = a->alerts; al; al = al->next)
		if (strcmp(al->ns, ns) == 0)
			return al;
	return NULL;
}

static void on_timer(uv_timer_t *t);

static struct alert *alert_new(struct kl_alerts *a, const char *ns)
{
	struct alert *al = calloc(1, sizeof(*al));

	if (!al)
		return NULL;
	al->ns = strdup(ns);
	if (!al->ns) {
		free(al);
		return NULL;
	}
	al->a = a;
	uv_timer_init(a->ctx->loop, &al->timer);
	al->timer.data = al;
	al->next = a->alerts;
	a->alerts = al;
	return al;
}

/* One of the things kl_alerts_stop waits for is done; the last frees the engine. */
static void stop_step(struct kl_alerts *a)
{
	void (*cb)(void *) = a->stop_cb;
	void *arg = a->stop_arg;

	if (--a->stop_pending > 0)
		return;
	free(a);
	if (cb)
		cb(arg);
}

static void alert_closed(uv_handle_t *h)
{
	struct alert *al = h->data;
	struct kl_alerts *a = al->a;

	free(al->ns);
	free(al->summary);
	free(al);
	a->closing_count--;
	if (a->stopping)
		stop_step(a);
}

/* Takes the record out and frees it once its timer is closed. */
static void alert_free(struct alert *al)
{
	struct kl_alerts *a = al->a;
	struct alert **pp;

	for (pp = &a->alerts; *pp != al; pp = &(*pp)->next)
		;
	*pp = al->next;
	al->closing = true;
	a->closing_count++;
	uv_close((uv_handle_t *)&al->timer, alert_closed);
}

static void set_summary(struct alert *al, const char *summary)
{
	if (!summary || (al->summary && strcmp(al->summary, summary) == 0))
		return;
	free(al->summary);
	al->summary = strdup(summary);
}

/* The next deadline of a record, from its state; none for some states. */
static void schedule(struct alert *al)
{
	struct kl_alerts *a = al->a;
	int64_t at = 0, now = now_ms();

	uv_timer_stop(&al->timer);
	switch (al->state) {
	case A_PENDING:
		at = al->since_ms + (int64_t)a->o.for_ms;
		break;
	case A_FIRING:
		if (al->notified == N_FIRING && !al->inflight_id)
			at = al->notified_ms + (int64_t)a->o.repeat_ms;
		break;
	case A_RESOLVING:
		at = al->cleared_ms + (int64_t)a->o.for_ms;
		break;
	case A_RESOLVED:
		break;
	}
	if (at)
		uv_timer_start(&al->timer, on_timer, at > now ? (uint64_t)(at - now) : 0, 0);
}

static void fire(struct alert *al)
{
	al->state = A_FIRING;
	persist(al);
	queue_notice(al);
	recount(al->a);
}

static void resolve(struct alert *al)
{
	al->state = A_RESOLVED;
	al->cleared_ms = now_ms();
	persist(al);
	if (al->notified == N_NONE && !al->inflight_id) {
		/* nobody ever heard it fire: nothing to resolve */
		unpersist(al);
		alert_free(al);
		recount(al->a);
		return;
	}
	queue_notice(al);
	recount(al->a);
}

static void on_timer(uv_timer_t *t)
{
	struct alert *al = t->data;

	switch (al->state) {
	case A_PENDING:
		fire(al);
		break;
	case A_FIRING:
		queue_notice(al); /* repeat */
		break;
	case A_RESOLVING:
		resolve(al);
		break;
	case A_RESOLVED:
		break;
	}
}

/* ---------------------------------------------------------------- updates */

void kl_alerts_update(struct kl_alerts *a, const char *ns, bool active, const char *summary)
{
	struct alert *al = find(a, ns);

	if (a->stopping)
		return;
	if (!al) {
		if (!active)
			return;
		al = alert_new(a, ns);
		if (!al)
			return;
		al->state = A_PENDING;
		al->since_ms = now_ms();
		al->reported = true;
		al->active = true;
		set_summary(al, summary);
		persist(al);
		if (a->o.for_ms == 0)
			fire(al);
		else
			schedule(al);
		recount(a);
		return;
	}
	al->reported = true;
	al->active = active;
	/* the current figure, also once it is over: a resolved notice says how it is now */
	set_summary(al, summary);
	switch (al->state) {
	case A_PENDING:
		if (!active) {
			unpersist(al);
			alert_free(al);
			recount(a);
		}
		return;
	case A_FIRING:
		if (active)
			return;
		al->state = A_RESOLVING;
		al->cleared_ms = now_ms();
		persist(al);
		if (a->o.for_ms == 0)
			resolve(al);
		else
			schedule(al);
		recount(a);
		return;
	case A_RESOLVING:
		if (!active)
			return;
		al->state = A_FIRING;
		al->cleared_ms = 0;
		persist(al);
		schedule(al);
		recount(a);
		return;
	case A_RESOLVED:
		if (!active)
			return;
		/* it came back before the resolved notice went out: a new alert */
		al->state = A_PENDING;
		al->since_ms = now_ms();
		al->cleared_ms = 0;
		persist(al);
		if (a->o.for_ms == 0)
			fire(al);
		else
			schedule(al);
		recount(a);
		return;
	}
}

void kl_alerts_synced(struct kl_alerts *a)
{
	struct alert *al, *next;

	for (al = a->alerts; al; al = next) {
		next = al->next;
		if (!al->reported)
			kl_alerts_update(a, al->ns, false, NULL);
	}
}

/* ---------------------------------------------------------------- flush */

static void on_flush(uv_timer_t *t);

static void queue_notice(struct alert *al)
{
	struct kl_alerts *a = al->a;

	if (al->inflight_id || al->queued)
		return; /* the one in flight or queued says it; a later one follows */
	al->queued = true;
	if (!uv_is_active((uv_handle_t *)&a->flush))
		uv_timer_start(&a->flush, on_flush, a->o.flush_ms, 0);
}

static void on_flush(uv_timer_t *t)
{
	struct kl_alerts *a = t->data;
	struct kl_alert_batch *b;
	struct alert *al;
	size_t n = 0;

	if (a->stopping)
		return;
	for (al = a->alerts; al; al = al->next)
		n += al->queued;
	if (!n)
		return;
	b = calloc(1, sizeof(*b));
	if (!b)
		return;
	kl_arena_init(&b->arena);
	b->owner = a;
	b->notices = kl_arena_alloc(&b->arena, n * sizeof(*b->notices));
	if (!b->notices) {
		kl_arena_free(&b->arena);
		free(b);
		return;
	}
	for (al = a->alerts; al; al = al->next) {
		struct kl_notice *nt;

		if (!al->queued)
			continue;
		al->queued = false;
		nt = &b->notices[b->n++];
		nt->id = ++a->next_id;
		nt->controller = a->o.controller;
		nt->alertname = a->o.alertname;
		nt->ns = kl_arena_strdup(&b->arena, al->ns);
		nt->team = a->hooks.team ? a->hooks.team(a->arg, al->ns) : NULL;
		if (nt->team)
			nt->team = kl_arena_strdup(&b->arena, nt->team);
		nt->resolved = al->state == A_RESOLVED;
		nt->repeat = !nt->resolved && al->notified == N_FIRING;
		nt->starts_at = al->since_ms / 1000;
		nt->ends_at = nt->resolved ? al->cleared_ms / 1000 : 0;
		nt->summary = kl_arena_strdup(&b->arena, al->summary ? al->summary : "");
		al->inflight_id = nt->id;
		al->inflight_resolved = nt->resolved;
		al->deliveries = 0;
		uv_timer_stop(&al->timer);
	}
	a->batches_out++;
	if (a->hooks.prepare)
		a->hooks.prepare(a->arg, b);
	else
		kl_alerts_send(b);
}

static struct alert *by_id(struct kl_alerts *a, uint64_t id)
{
	struct alert *al;

	for (al = a->alerts; al; al = al->next)
		if (al->inflight_id == id)
			return al;
	return NULL;
}

void kl_alerts_send(struct kl_alert_batch *b)
{
	struct kl_alerts *a = b->owner;
	size_t i;
	int n;

	a->batches_out--;
	if (!a->stopping) {
		/* count the deliveries per notice before any can complete */
		for (i = 0; i < b->n; i++) {
			const char *names[32];
			struct alert *al = by_id(a, b->notices[i].id);

			if (al)
				al->deliveries = (int)kl_notify_route(a->notify, b->notices[i].ns,
								      names, 32);
		}
		n = kl_notify_send(a->notify, b->notices, b->n);
		if (n < 0) {
			kl_log_error(a->ctx->log, "alerts", "cannot send notifications",
				     "controller", a->o.controller, "error", strerror(-n));
			for (i = 0; i < b->n; i++) {
				struct alert *al = by_id(a, b->notices[i].id);

				if (al) {
					al->inflight_id = 0;
					schedule(al);
				}
			}
		}
	}
	kl_arena_free(&b->arena);
	free(b);
	if (a->stopping && a->batches_out == 0)
		stop_step(a);
}

static void on_delivered(void *arg, uint64_t id, const char *notifier, bool delivered)
{
	struct kl_alerts *a = arg;
	struct alert *al = by_id(a, id);

	if (!al || a->stopping)
		return;
	if (!delivered)
		kl_log_warn(a->ctx->log, "alerts", "notification not delivered", "controller",
			    a->o.controller, "namespace", al->ns, "notifier", notifier);
	if (--al->deliveries > 0)
		return;
	/* every notifier answered: what people were told is now on record */
	al->inflight_id = 0;
	al->notified = al->inflight_resolved ? N_RESOLVED : N_FIRING;
	al->notified_ms = now_ms();
	if (al->state == A_RESOLVED) {
		if (al->notified == N_RESOLVED) {
			unpersist(al);
			alert_free(al);
			recount(a);
			return;
		}
		queue_notice(al); /* resolved while the firing notice was out */
	} else if (al->inflight_resolved) {
		/* fired again while the resolved notice was out: tell it again */
		queue_notice(al);
	}
	persist(al);
	schedule(al);
}

/* ---------------------------------------------------------------- life */

struct kl_alerts *kl_alerts_new(struct kl_ctx *ctx, const struct kl_alerts_opts *o,
				const struct kl_alerts_hooks *hooks, void *arg)
{
	static const char *const labels[] = { "controller", "state", NULL };
	struct kl_notify_opts no = { 0 };
	struct kl_alerts *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->ctx = ctx;
	a->o = *o;
	if (!a->o.flush_ms)
		a->o.flush_ms = 50;
	if (hooks)
		a->hooks = *hooks;
	a->arg = arg;
	no.cluster = ctx->config->cluster;
	no.dry_run = ctx->flags->dry_run;
	a->notify = kl_notify_new(ctx->loop, ctx->config, &no, ctx->log, ctx->metrics,
				  on_delivered, a);
	if (!a->notify) {
		free(a);
		return NULL;
	}
	uv_timer_init(ctx->loop, &a->flush);
	a->flush.data = a;
	if (ctx->metrics) {
		a->m_alerts = kl_metrics_find(ctx->metrics, "kloompas_alerts");
		if (!a->m_alerts)
			a->m_alerts = kl_metrics_gauge(ctx->metrics, "kloompas_alerts",
						       "Alerts by controller and state.", labels);
	}
	recount(a);
	return a;
}

struct restore {
	struct kl_alerts *a;
	size_t prefix;
};

static int64_t num(const struct kl_json *o, const char *key)
{
	int64_t v = 0;

	kl_json_int(kl_json_get(o, key), &v);
	return v;
}

static int on_record(void *arg, enum kl_json_what what, const struct kl_json *o)
{
	struct alert *al = arg;
	const char *st = kl_json_str(kl_json_get(o, "state"), "");
	const char *nt = kl_json_str(kl_json_get(o, "notified"), "none");
	int i;

	for (i = A_PENDING; i <= A_RESOLVED; i++)
		if (strcmp(st, astate_names[i]) == 0)
			al->state = (enum astate)i;
	for (i = N_NONE; i <= N_RESOLVED; i++)
		if (strcmp(nt, notified_names[i]) == 0)
			al->notified = (enum notified)i;
	al->since_ms = num(o, "since");
	al->cleared_ms = num(o, "cleared");
	al->notified_ms = num(o, "notifiedAt");
	set_summary(al, kl_json_str(kl_json_get(o, "summary"), ""));
	return 0;
}

static void restore_one(void *arg, const char *key, const char *value)
{
	struct restore *r = arg;
	struct kl_json_stream *js;
	struct kl_error err;
	struct alert *al = alert_new(r->a, key + r->prefix);

	if (!al)
		return;
	kl_error_clear(&err);
	js = kl_json_stream_new(KL_JSON_DOCUMENT, 65536, on_record, al);
	if (!js || kl_json_stream_feed(js, value, strlen(value), &err) < 0 ||
	    kl_json_stream_finish(js, &err) < 0 || !al->since_ms) {
		kl_log_warn(r->a->ctx->log, "alerts", "ignoring an unreadable state record", "key",
			    key);
		unpersist(al);
		alert_free(al);
	}
	kl_json_stream_free(js);
}

int kl_alerts_start(struct kl_alerts *a)
{
	struct restore r = { a, strlen(a->o.controller) + 1 };
	char prefix[96];
	struct alert *al;
	char n[16];
	unsigned count = 0;

	a->started = true;
	if (!a->ctx->state)
		return 0;
	snprintf(prefix, sizeof(prefix), "%s.", a->o.controller);
	kl_state_foreach(a->ctx->state, prefix, restore_one, &r);
	for (al = a->alerts; al; al = al->next) {
		count++;
		/* undelivered at the last stop: say it now; else go on from the record */
		if ((al->state == A_FIRING || al->state == A_RESOLVING) &&
		    al->notified != N_FIRING)
			queue_notice(al);
		else if (al->state == A_RESOLVED && al->notified != N_RESOLVED)
			queue_notice(al);
		else
			schedule(al);
	}
	snprintf(n, sizeof(n), "%u", count);
	if (count)
		kl_log_info(a->ctx->log, "alerts", "restored alert state", "controller",
			    a->o.controller, "alerts", n);
	recount(a);
	return 0;
}

static void notify_closed(void *arg)
{
	stop_step(arg);
}

static void flush_closed(uv_handle_t *h)
{
	notify_closed(h->data);
}

void kl_alerts_stop(struct kl_alerts *a, void (*cb)(void *arg), void *arg)
{
	struct alert *al, *next;

	a->stopping = true;
	a->stop_cb = cb;
	a->stop_arg = arg;
	/* the flush timer, the notifiers, batches still in prepare, and every record */
	a->stop_pending = 2 + (a->batches_out > 0) + a->closing_count;
	for (al = a->alerts; al; al = next) {
		next = al->next;
		a->stop_pending++;
		alert_free(al);
	}
	uv_timer_stop(&a->flush);
	uv_close((uv_handle_t *)&a->flush, flush_closed);
	kl_notify_close(a->notify, notify_closed, a);
}
