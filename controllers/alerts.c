/*
 * controllers/alerts.c - the per-namespace alert state machine (see alerts.h).
 *
 * Each alert record owns one kl_timer for its next deadline (pending -> firing,
 * the next repeat, resolving -> resolved), so a thousand quiet namespaces cost
 * nothing and a deadline costs one heap entry in libuv. Deadlines are wall-clock
 * Unix milliseconds because they are persisted and must mean the same after a
 * restart. Times and timers come from ctx->clock, so a test drives the engine with
 * a fake clock (test/unit/test_alerts.c). Delivery is tracked per notifier the namespace routes to (a target):
 * what it was last told, and the notice on its way to it (an id the notifiers
 * echo back). A notifier that keeps failing holds back nothing but itself: the
 * others get the next notice as soon as it is due, and each target's FIFO keeps
 * its own notices in order. The record is persisted with every target's state.
 */
#include "controllers/alerts.h"
#include "controllers/silences.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeclient/json.h"
#include "util/buf.h"
#include "util/container_of.h"
#include "util/duration.h"
#include "util/rfc3339.h"

/* indexed by enum kl_alert_state (alerts.h); a record is never KL_ALERT_OK */
static const char *const astate_names[] = { "ok", "pending", "firing", "resolving", "resolved" };

enum notified { N_NONE, N_FIRING, N_RESOLVED };
static const char *const notified_names[] = { "none", "firing", "resolved" };

/* One notifier the namespace routes to, and what it knows of the alert. */
struct target {
	const char *name; /* the notifier's (borrowed from the notify set) */
	enum notified got; /* what it was last told */
	int64_t got_ms;
	uint64_t inflight_id;	 /* the notice on its way to it, 0 if none */
	enum notified inflight; /* what that notice says */
};

#define MAX_TARGETS 32

struct alert {
	struct kl_alerts *a;
	struct alert *next;
	char *ns;
	char *summary;
	enum kl_alert_state state;
	bool active, reported;
	int64_t since_ms;   /* condition start (startsAt) */
	int64_t cleared_ms; /* condition gone (RESOLVING), resolved time (RESOLVED) */
	struct target *t;
	size_t nt;
	bool queued; /* in the next flush */
	bool held;   /* a notice was held back by a silence: one is due when it ends */
	struct kl_timer timer;
	bool closing;
};

struct kl_alerts {
	struct kl_ctx *ctx;
	struct kl_alerts_opts o;
	struct kl_alerts_hooks hooks;
	void *arg;
	struct kl_notify_client *notify; /* our client of ctx->notify */
	struct alert *alerts;
	struct kl_timer flush;
	uint64_t next_id;
	bool started, stopping;
	int batches_out;   /* batches in prepare */
	int closing_count; /* records whose timer is closing */
	int stop_pending;
	void (*stop_cb)(void *arg);
	void *stop_arg;
	struct kl_metric *m_alerts;
};

/* Wall-clock Unix ms: deadlines are persisted (see the top of the file). */
static int64_t now_ms(const struct kl_alerts *a)
{
	return kl_clock_wall_ms(a->ctx->clock);
}

/* ---------------------------------------------------------------- metrics */

static void recount(struct kl_alerts *a)
{
	unsigned n[KL_ALERT_RESOLVED + 1] = { 0 };
	struct alert *al;
	int i;

	if (!a->m_alerts)
		return;
	for (al = a->alerts; al; al = al->next)
		n[al->state]++;
	for (i = KL_ALERT_PENDING; i <= KL_ALERT_RESOLVING; i++) {
		const char *v[] = { a->o.controller, astate_names[i] };

		kl_metric_set(a->m_alerts, v, n[i]);
	}
}

/* ---------------------------------------------------------------- persistence */

static void key_of(const struct alert *al, char *buf, size_t len)
{
	snprintf(buf, len, "%s.%s", al->a->o.controller, al->ns);
}

/* What every target was told (the least of them), and when the last was told. */
static enum notified notified_all(const struct alert *al, int64_t *at)
{
	enum notified n = N_RESOLVED;
	size_t i;

	*at = 0;
	for (i = 0; i < al->nt; i++) {
		if (al->t[i].got < n)
			n = al->t[i].got;
		if (al->t[i].got_ms > *at)
			*at = al->t[i].got_ms;
	}
	return al->nt ? n : N_NONE;
}

/*
 * The record: {"state", "since", "cleared", "notified" (what every notifier was
 * told), "notifiedAt", "summary", "to": [{"notifier", "notified", "at"}...]}.
 */
static void persist(struct alert *al)
{
	struct kl_buf b;
	char key[320];
	int64_t at;
	enum notified all = notified_all(al, &at);
	size_t i;

	if (!al->a->ctx->state)
		return;
	key_of(al, key, sizeof(key));
	kl_buf_init(&b);
	kl_buf_printf(&b,
		      "{\"state\":\"%s\",\"since\":%lld,\"cleared\":%lld,\"notified\":\"%s\","
		      "\"notifiedAt\":%lld,%s\"summary\":",
		      astate_names[al->state], (long long)al->since_ms, (long long)al->cleared_ms,
		      notified_names[all], (long long)at, al->held ? "\"held\":true," : "");
	kl_buf_json_string(&b, al->summary ? al->summary : "");
	kl_buf_puts(&b, ",\"to\":[");
	for (i = 0; i < al->nt; i++) {
		kl_buf_puts(&b, i ? ",{\"notifier\":" : "{\"notifier\":");
		kl_buf_json_string(&b, al->t[i].name);
		kl_buf_printf(&b, ",\"notified\":\"%s\",\"at\":%lld}",
			      notified_names[al->t[i].got], (long long)al->t[i].got_ms);
	}
	kl_buf_puts(&b, "]}");
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

/* ---------------------------------------------------------------- state changes */

const char *kl_alert_state_name(enum kl_alert_state s)
{
	return (unsigned)s <= KL_ALERT_RESOLVED ? astate_names[s] : "unknown";
}

/*
 * One line per state change at -v 1 (docs/alerts.md): from and to ("ok" for no alert),
 * why (what the engine saw: "condition started", "held for 30s"), and the summary,
 * the figure that made it ("2 Pod(s) in CrashLoopBackOff", "33 % of pods Not Ready").
 */
static void log_change(const struct alert *al, const char *from, const char *to,
		       const char *why)
{
	const struct kl_alerts *a = al->a;

	kl_log_v(a->ctx->log, 1, "alerts", "alert state changed", "controller", a->o.controller,
		 "namespace", al->ns, "from", from, "to", to, "why", why, "summary",
		 al->summary ? al->summary : "");
}

/* "held for 30s", "gone for 2m" and the like, into buf. */
static const char *for_why(const struct alert *al, const char *what, char *buf, size_t len)
{
	char d[32];

	snprintf(buf, len, "%s %s", what, kl_duration_format(al->a->o.for_ms, d, sizeof(d)));
	return buf;
}

/* Moves al to state to, logging the change. */
static void set_state(struct alert *al, enum kl_alert_state to, const char *why)
{
	const char *from = astate_names[al->state];

	al->state = to;
	log_change(al, from, astate_names[to], why);
}

static struct alert *find(const struct kl_alerts *a, const char *ns)
{
	struct alert *al;

	for (al = a->alerts; al; al = al->next)
		if (strcmp(al->ns, ns) == 0)
			return al;
	return NULL;
}

static void on_timer(struct kl_timer *t);

static struct alert *alert_new(struct kl_alerts *a, const char *ns)
{
	struct alert *al = calloc(1, sizeof(*al));
	const char *names[MAX_TARGETS];
	size_t i;

	if (!al)
		return NULL;
	al->ns = strdup(ns);
	al->nt = kl_notify_route(a->ctx->notify, ns, names, MAX_TARGETS);
	al->t = calloc(al->nt ? al->nt : 1, sizeof(*al->t));
	if (!al->ns || !al->t) {
		free(al->ns);
		free(al->t);
		free(al);
		return NULL;
	}
	for (i = 0; i < al->nt; i++)
		al->t[i].name = names[i];
	al->state = KL_ALERT_PENDING; /* also a record whose state cannot be read */
	al->a = a;
	kl_timer_init(a->ctx->clock, &al->timer);
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

static void alert_closed(struct kl_timer *t)
{
	struct alert *al = container_of(t, struct alert, timer);
	struct kl_alerts *a = al->a;

	free(al->ns);
	free(al->summary);
	free(al->t);
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
	kl_timer_close(&al->timer, alert_closed);
}

static void set_summary(struct alert *al, const char *summary)
{
	if (!summary || (al->summary && strcmp(al->summary, summary) == 0))
		return;
	free(al->summary);
	al->summary = strdup(summary);
}

/* A repeat this close to its time is due (timers and the wall clock drift apart). */
#define REPEAT_SLACK_MS 100

/*
 * What target t must be told now, N_NONE for nothing: the firing notice (*repeat
 * false) or its repeat (*repeat true) while the alert fires, the resolved notice
 * once it is resolved - if it ever heard it fire. Never while a notice is on its
 * way to it: that one's answer decides.
 */
static enum notified need(const struct alert *al, const struct target *t, int64_t now,
			  bool *repeat)
{
	*repeat = false;
	if (t->inflight_id)
		return N_NONE;
	switch (al->state) {
	case KL_ALERT_FIRING:
	case KL_ALERT_RESOLVING:
		if (t->got != N_FIRING)
			return N_FIRING;
		if (al->held) { /* a silence ended: told once more */
			*repeat = true;
			return N_FIRING;
		}
		if (al->state == KL_ALERT_FIRING &&
		    now + REPEAT_SLACK_MS >= t->got_ms + (int64_t)al->a->o.repeat_ms) {
			*repeat = true;
			return N_FIRING;
		}
		return N_NONE;
	case KL_ALERT_RESOLVED:
		return t->got == N_FIRING ? N_RESOLVED : N_NONE;
	case KL_ALERT_OK: /* never a record's */
	case KL_ALERT_PENDING:
		break;
	}
	return N_NONE;
}

static bool any_need(const struct alert *al, int64_t now)
{
	bool repeat;
	size_t i;

	for (i = 0; i < al->nt; i++)
		if (need(al, &al->t[i], now, &repeat) != N_NONE)
			return true;
	return false;
}

static bool any_inflight(const struct alert *al)
{
	size_t i;

	for (i = 0; i < al->nt; i++)
		if (al->t[i].inflight_id)
			return true;
	return false;
}

/* A resolved alert is over once no target waits for a notice or is being told one. */
static bool resolved_done(const struct alert *al, int64_t now)
{
	return al->state == KL_ALERT_RESOLVED && !any_inflight(al) && !any_need(al, now);
}

/* The next deadline of a record, from its state; none for some states. */
static void schedule(struct alert *al)
{
	struct kl_alerts *a = al->a;
	int64_t at = 0, now = now_ms(a);
	size_t i;

	kl_timer_stop(&al->timer);
	switch (al->state) {
	case KL_ALERT_PENDING:
		at = al->since_ms + (int64_t)a->o.for_ms;
		break;
	case KL_ALERT_FIRING:
		/* the earliest repeat of a target told and not being told again */
		for (i = 0; i < al->nt; i++) {
			const struct target *t = &al->t[i];
			int64_t due = t->got_ms + (int64_t)a->o.repeat_ms;

			if (t->got == N_FIRING && !t->inflight_id && (!at || due < at))
				at = due;
		}
		break;
	case KL_ALERT_RESOLVING:
		at = al->cleared_ms + (int64_t)a->o.for_ms;
		break;
	case KL_ALERT_OK: /* never a record's */
	case KL_ALERT_RESOLVED:
		break;
	}
	if (at)
		kl_timer_start(&al->timer, on_timer, at > now ? (uint64_t)(at - now) : 0, 0);
}

static void fire(struct alert *al)
{
	char why[64];

	set_state(al, KL_ALERT_FIRING, for_why(al, "held for", why, sizeof(why)));
	persist(al);
	queue_notice(al);
	recount(al->a);
}

static void resolve(struct alert *al)
{
	char why[64];

	set_state(al, KL_ALERT_RESOLVED, for_why(al, "gone for", why, sizeof(why)));
	al->cleared_ms = now_ms(al->a);
	persist(al);
	if (resolved_done(al, al->cleared_ms)) {
		/* nobody heard it fire (or is hearing it now): nothing to resolve */
		unpersist(al);
		alert_free(al);
		recount(al->a);
		return;
	}
	queue_notice(al);
	recount(al->a);
}

static void on_timer(struct kl_timer *t)
{
	struct alert *al = container_of(t, struct alert, timer);

	switch (al->state) {
	case KL_ALERT_PENDING:
		fire(al);
		break;
	case KL_ALERT_FIRING:
		queue_notice(al); /* repeat */
		break;
	case KL_ALERT_RESOLVING:
		resolve(al);
		break;
	case KL_ALERT_OK: /* never a record's */
	case KL_ALERT_RESOLVED:
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
		al->state = KL_ALERT_PENDING;
		al->since_ms = now_ms(a);
		al->reported = true;
		al->active = true;
		set_summary(al, summary);
		log_change(al, astate_names[KL_ALERT_OK], astate_names[KL_ALERT_PENDING],
			   "condition started");
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
	case KL_ALERT_PENDING:
		if (!active) {
			char why[64];

			log_change(al, astate_names[KL_ALERT_PENDING], astate_names[KL_ALERT_OK],
				   for_why(al, "gone within", why, sizeof(why)));
			unpersist(al);
			alert_free(al);
			recount(a);
		}
		return;
	case KL_ALERT_FIRING:
		if (active)
			return;
		set_state(al, KL_ALERT_RESOLVING, "condition gone");
		al->cleared_ms = now_ms(a);
		persist(al);
		if (a->o.for_ms == 0)
			resolve(al);
		else
			schedule(al);
		recount(a);
		return;
	case KL_ALERT_RESOLVING:
		if (!active)
			return;
		set_state(al, KL_ALERT_FIRING, "condition back");
		al->cleared_ms = 0;
		persist(al);
		schedule(al);
		recount(a);
		return;
	case KL_ALERT_RESOLVED:
		if (!active)
			return;
		/* it came back before the resolved notice went out: a new alert */
		set_state(al, KL_ALERT_PENDING, "condition started again");
		al->since_ms = now_ms(a);
		al->cleared_ms = 0;
		persist(al);
		if (a->o.for_ms == 0)
			fire(al);
		else
			schedule(al);
		recount(a);
		return;
	case KL_ALERT_OK: /* never a record's */
		return;
	}
}

enum kl_alert_state kl_alerts_state(const struct kl_alerts *a, const char *ns)
{
	const struct alert *al = find(a, ns);

	return al ? al->state : KL_ALERT_OK;
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

static void on_flush(struct kl_timer *t);

/* The next flush looks at what each of the alert's targets needs (need()). */
static void queue_notice(struct alert *al)
{
	struct kl_alerts *a = al->a;

	if (al->queued)
		return;
	al->queued = true;
	if (!kl_timer_is_active(&a->flush))
		kl_timer_start(&a->flush, on_flush, a->o.flush_ms, 0);
}

/* Fills one notice of alert al for the targets in who (names from the batch arena). */
static int make_notice(struct kl_alerts *a, struct kl_alert_batch *b, struct alert *al,
		       enum notified what, bool repeat, const char **who, size_t n)
{
	struct kl_notice *nt = &b->notices[b->n];
	const char **only = kl_arena_alloc(&b->arena, n * sizeof(*only));
	size_t i, k;

	if (!only)
		return -ENOMEM;
	memcpy(only, who, n * sizeof(*only));
	b->n++;
	nt->id = ++a->next_id;
	nt->controller = a->o.controller;
	nt->title = a->o.title;
	nt->alertname = a->o.alertname;
	nt->ns = kl_arena_strdup(&b->arena, al->ns);
	nt->team = a->hooks.team ? a->hooks.team(a->arg, al->ns) : NULL;
	if (nt->team)
		nt->team = kl_arena_strdup(&b->arena, nt->team);
	nt->resolved = what == N_RESOLVED;
	nt->repeat = repeat;
	nt->starts_at = al->since_ms / 1000;
	nt->ends_at = nt->resolved ? al->cleared_ms / 1000 : 0;
	nt->summary = kl_arena_strdup(&b->arena, al->summary ? al->summary : "");
	nt->only = only;
	nt->nonly = n;
	for (i = 0; i < n; i++)
		for (k = 0; k < al->nt; k++)
			if (al->t[k].name == who[i]) {
				al->t[k].inflight_id = nt->id;
				al->t[k].inflight = what;
			}
	return 0;
}

/*
 * Whether a silence covers al now: then what it needs is held back (al->held, persisted)
 * and its timer left stopped until the silence ends (silence_changed).
 */
static bool hold(struct alert *al, int64_t now)
{
	if (!kl_silences_until(al->a->ctx->silences, al->a->o.controller, al->ns))
		return false;
	if (!al->held && any_need(al, now)) {
		al->held = true;
		persist(al);
	}
	return true;
}

/*
 * One notice per alert and kind of message its targets need: the first firing
 * notice (or the resolved one) and the repeat, each to just those targets.
 */
static void on_flush(struct kl_timer *t)
{
	struct kl_alerts *a = container_of(t, struct kl_alerts, flush);
	struct kl_alert_batch *b;
	struct alert *al;
	int64_t now = now_ms(a);
	size_t n = 0;

	if (a->stopping)
		return;
	for (al = a->alerts; al; al = al->next)
		n += al->queued ? 2 : 0;
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
		const char *first[MAX_TARGETS], *again[MAX_TARGETS];
		size_t i, nfirst = 0, nagain = 0;
		enum notified what = N_NONE;

		if (!al->queued)
			continue;
		al->queued = false;
		if (hold(al, now))
			continue;
		for (i = 0; i < al->nt; i++) {
			bool repeat;
			enum notified w = need(al, &al->t[i], now, &repeat);

			if (w == N_NONE)
				continue;
			what = w;
			if (repeat)
				again[nagain++] = al->t[i].name;
			else
				first[nfirst++] = al->t[i].name;
		}
		if ((nfirst && make_notice(a, b, al, what, false, first, nfirst) < 0) ||
		    (nagain && make_notice(a, b, al, N_FIRING, true, again, nagain) < 0))
			kl_log_error(a->ctx->log, "alerts", "out of memory for a notice", "namespace",
				     al->ns);
		if (nfirst || nagain) {
			kl_timer_stop(&al->timer);
			al->held = false;
		}
	}
	if (!b->n) {
		kl_arena_free(&b->arena);
		free(b);
		return;
	}
	a->batches_out++;
	if (a->hooks.prepare)
		a->hooks.prepare(a->arg, b);
	else
		kl_alerts_send(b);
}

/* The target notice id is on its way to at notifier (NULL: any), and its alert. */
static struct target *by_id(struct kl_alerts *a, uint64_t id, const char *notifier,
			    struct alert **alp)
{
	struct alert *al;
	size_t i;

	for (al = a->alerts; al; al = al->next)
		for (i = 0; i < al->nt; i++)
			if (al->t[i].inflight_id == id &&
			    (!notifier || strcmp(al->t[i].name, notifier) == 0)) {
				*alp = al;
				return &al->t[i];
			}
	return NULL;
}

void kl_alerts_send(struct kl_alert_batch *b)
{
	struct kl_alerts *a = b->owner;
	struct alert *al;
	struct target *t;
	size_t i;
	int n;

	a->batches_out--;
	if (!a->stopping) {
		n = kl_notify_send(a->notify, b->notices, b->n);
		if (n < 0) {
			kl_log_error(a->ctx->log, "alerts", "cannot send notifications",
				     "controller", a->o.controller, "error", strerror(-n));
			for (i = 0; i < b->n; i++) {
				while ((t = by_id(a, b->notices[i].id, NULL, &al))) {
					t->inflight_id = 0;
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
	struct alert *al = NULL;
	struct target *t = a->stopping ? NULL : by_id(a, id, notifier, &al);
	int64_t now = now_ms(a);

	if (!t)
		return;
	if (!delivered)
		kl_log_warn(a->ctx->log, "alerts", "notification not delivered", "controller",
			    a->o.controller, "namespace", al->ns, "notifier", notifier);
	/* answered (or given up on, which is counted as dropped): on record as told */
	t->inflight_id = 0;
	t->got = t->inflight;
	t->got_ms = now;
	if (resolved_done(al, now)) {
		unpersist(al);
		alert_free(al);
		recount(a);
		return;
	}
	/* it changed while the notice was out (resolved, or fired again): tell it now */
	if (any_need(al, now))
		queue_notice(al);
	persist(al);
	schedule(al);
}

/* ---------------------------------------------------------------- silences */

/*
 * ns's silences changed. Set: a firing alert is marked held, so one notice goes out
 * when the silence ends even if no repeat fell due meanwhile. Ended: what was held
 * back (or is needed now) is sent once, or a resolved alert nobody heard of goes.
 */
static void silence_changed(void *arg, const char *ns)
{
	struct kl_alerts *a = arg;
	struct alert *al = find(a, ns);
	int64_t now = now_ms(a);

	if (!al || a->stopping || !a->started)
		return;
	if (kl_silences_until(a->ctx->silences, a->o.controller, ns)) {
		if (!al->held &&
		    (al->state == KL_ALERT_FIRING || al->state == KL_ALERT_RESOLVING)) {
			al->held = true;
			persist(al);
		}
		return;
	}
	if (resolved_done(al, now)) {
		unpersist(al);
		alert_free(al);
		recount(a);
		return;
	}
	if (al->held || any_need(al, now))
		queue_notice(al);
	else
		schedule(al);
}

/* One line per alert firing now (or resolving), for the "alerts" command. */
static void silence_list(void *arg, const char *ns, struct kl_buf *out)
{
	struct kl_alerts *a = arg;
	char since[KL_RFC3339_LEN], until[KL_RFC3339_LEN];
	const struct alert *al;
	int64_t u;

	for (al = a->alerts; al; al = al->next) {
		if ((ns && strcmp(al->ns, ns) != 0) ||
		    (al->state != KL_ALERT_FIRING && al->state != KL_ALERT_RESOLVING))
			continue;
		u = kl_silences_until(a->ctx->silences, a->o.controller, al->ns);
		kl_buf_printf(out, "%s %s %s since %s: %s", al->ns, a->o.alertname,
			      astate_names[al->state],
			      kl_rfc3339_format(al->since_ms / 1000, since),
			      al->summary ? al->summary : "");
		if (u)
			kl_buf_printf(out, " (silenced until %s)",
				      kl_rfc3339_format(u / 1000, until));
		kl_buf_puts(out, "\n");
	}
}

static const struct kl_silences_watch_ops silence_ops = {
	.changed = silence_changed,
	.list = silence_list,
};

/* ---------------------------------------------------------------- life */

struct kl_alerts *kl_alerts_new(struct kl_ctx *ctx, const struct kl_alerts_opts *o,
				const struct kl_alerts_hooks *hooks, void *arg)
{
	static const char *const labels[] = { "controller", "state", NULL };
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
	a->notify = kl_notify_attach(ctx->notify, on_delivered, a);
	if (!a->notify) {
		free(a);
		return NULL;
	}
	if (ctx->silences && kl_silences_watch(ctx->silences, &silence_ops, a, a->o.controller,
						 a->o.alertname) < 0) {
		kl_notify_detach(a->notify);
		free(a);
		return NULL;
	}
	kl_timer_init(ctx->clock, &a->flush);
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

static enum notified notified_of(const struct kl_json *v)
{
	const char *s = kl_json_str(v, "none");
	int i;

	for (i = N_NONE; i <= N_RESOLVED; i++)
		if (strcmp(s, notified_names[i]) == 0)
			return (enum notified)i;
	return N_NONE;
}

/*
 * A record (see persist). A target the record does not name (a record written
 * before per-notifier state, or a route added since) takes the record's
 * "notified"; a notifier no longer routed to is forgotten.
 */
static int on_record(void *arg, enum kl_json_what what, const struct kl_json *o)
{
	struct alert *al = arg;
	const char *st = kl_json_str(kl_json_get(o, "state"), "");
	const struct kl_json *to = kl_json_get(o, "to"), *e;
	enum notified all = notified_of(kl_json_get(o, "notified"));
	int64_t all_ms = num(o, "notifiedAt");
	size_t k;
	int i;

	for (i = KL_ALERT_PENDING; i <= KL_ALERT_RESOLVED; i++)
		if (strcmp(st, astate_names[i]) == 0)
			al->state = (enum kl_alert_state)i;
	for (k = 0; k < al->nt; k++) {
		al->t[k].got = all;
		al->t[k].got_ms = all_ms;
	}
	for (e = to && to->type == KL_JSON_ARRAY ? to->child : NULL; e; e = e->next) {
		const char *name = kl_json_str(kl_json_get(e, "notifier"), "");

		for (k = 0; k < al->nt; k++)
			if (strcmp(al->t[k].name, name) == 0) {
				al->t[k].got = notified_of(kl_json_get(e, "notified"));
				al->t[k].got_ms = num(e, "at");
			}
	}
	al->since_ms = num(o, "since");
	al->cleared_ms = num(o, "cleared");
	al->held = kl_json_get(o, "held") != NULL;
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

/*
 * A firing alert read back from the state: the notifiers that were told it get it
 * back into their memory (Alertmanager's re-post set), without a new notice.
 */
static void restore_told(struct kl_alerts *a, const struct alert *al)
{
	const char *who[MAX_TARGETS];
	struct kl_notice x = {0};
	size_t i, n = 0;

	if (al->state != KL_ALERT_FIRING && al->state != KL_ALERT_RESOLVING)
		return;
	for (i = 0; i < al->nt && n < MAX_TARGETS; i++)
		if (al->t[i].got == N_FIRING)
			who[n++] = al->t[i].name;
	if (!n)
		return;
	x.controller = a->o.controller;
	x.title = a->o.title;
	x.alertname = a->o.alertname;
	x.ns = al->ns;
	x.team = a->hooks.team ? a->hooks.team(a->arg, al->ns) : NULL;
	x.starts_at = al->since_ms / 1000;
	x.summary = al->summary ? al->summary : "";
	x.only = who;
	x.nonly = n;
	kl_notify_restore(a->ctx->notify, &x);
}

int kl_alerts_start(struct kl_alerts *a)
{
	struct restore r = { a, strlen(a->o.controller) + 1 };
	char prefix[96];
	struct alert *al, *next;
	char n[16];
	unsigned count = 0;

	a->started = true;
	if (!a->ctx->state)
		return 0;
	snprintf(prefix, sizeof(prefix), "%s.", a->o.controller);
	kl_state_foreach(a->ctx->state, prefix, restore_one, &r);
	for (al = a->alerts; al; al = next) {
		next = al->next;
		count++;
		/* undelivered at the last stop: say it now; else go on from the record */
		if (resolved_done(al, now_ms(a))) {
			unpersist(al); /* stopped between the last answer and the delete */
			alert_free(al);
		} else if (any_need(al, now_ms(a))) {
			restore_told(a, al);
			queue_notice(al);
		} else {
			restore_told(a, al);
			schedule(al);
		}
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

static void flush_closed(struct kl_timer *t)
{
	notify_closed(container_of(t, struct kl_alerts, flush));
}

void kl_alerts_stop(struct kl_alerts *a, void (*cb)(void *arg), void *arg)
{
	struct alert *al, *next;

	a->stopping = true;
	if (a->ctx->silences)
		kl_silences_unwatch(a->ctx->silences, a);
	a->stop_cb = cb;
	a->stop_arg = arg;
	/* the flush timer, the notifier client, batches still in prepare, and every record */
	a->stop_pending = 2 + (a->batches_out > 0) + a->closing_count;
	for (al = a->alerts; al; al = next) {
		next = al->next;
		a->stop_pending++;
		alert_free(al);
	}
	kl_timer_close(&a->flush, flush_closed);
	/* no done_cb after this; messages already queued go on (the records were persisted) */
	kl_notify_detach(a->notify);
	notify_closed(a);
}
