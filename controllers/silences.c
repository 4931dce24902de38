/*
 * controllers/silences.c - the process' chat silences (see silences.h).
 *
 * A short list (bounded by KL_SILENCES_MAX), kept oldest first; every change is
 * written to the state ConfigMap at once and told to the watchers. One kl_timer on
 * ctx->clock is armed for the earliest end; when it fires, every silence that ended
 * is dropped and its namespace's watchers are told.
 */
#include "controllers/silences_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/state.h"
#include "kubeclient/json.h"
#include "util/container_of.h"

#define PREFIX "silence."

static int64_t now_ms(const struct kl_silences *s)
{
	return kl_clock_wall_ms(s->ctx->clock);
}

static void entry_free(struct entry *e)
{
	free((char *)e->s.ns);
	free((char *)e->s.controller);
	free((char *)e->s.by);
	free((char *)e->s.reason);
	free(e);
}

static void key_of(const struct kl_silence *si, char *buf, size_t len)
{
	snprintf(buf, len, PREFIX "%s%s%s", si->ns, si->controller ? "." : "",
		 si->controller ? si->controller : "");
}

static void persist(struct kl_silences *s, const struct kl_silence *si, bool gone)
{
	struct kl_buf b;
	char key[160];
	size_t i;

	if (!s->ctx->state)
		return;
	key_of(si, key, sizeof(key));
	if (gone) {
		kl_state_set(s->ctx->state, key, NULL);
		return;
	}
	kl_buf_init(&b);
	kl_buf_puts(&b, "{\"namespace\":");
	kl_buf_json_string(&b, si->ns);
	kl_buf_puts(&b, ",\"controller\":");
	kl_buf_json_string(&b, si->controller ? si->controller : "");
	kl_buf_puts(&b, ",\"by\":");
	kl_buf_json_string(&b, si->by);
	kl_buf_printf(&b, ",\"at\":%lld,\"until\":%lld,\"reason\":", (long long)si->at_ms,
		      (long long)si->until_ms);
	kl_buf_json_string(&b, si->reason);
	kl_buf_puts(&b, ",\"am\":[");
	for (i = 0; i < si->nam; i++) {
		kl_buf_puts(&b, i ? ",{\"notifier\":" : "{\"notifier\":");
		kl_buf_json_string(&b, si->am_notifier[i]);
		kl_buf_puts(&b, ",\"id\":");
		kl_buf_json_string(&b, si->am_id[i]);
		kl_buf_puts(&b, "}");
	}
	kl_buf_puts(&b, "]}");
	if (kl_buf_str(&b))
		kl_state_set(s->ctx->state, key, kl_buf_str(&b));
	kl_buf_free(&b);
}

static void recount(struct kl_silences *s)
{
	if (s->m_silences)
		kl_metric_set(s->m_silences, NULL, (double)s->n);
}

static void tell(struct kl_silences *s, const char *ns)
{
	size_t i;

	for (i = 0; i < MAX_WATCHES; i++)
		if (s->w[i].ops && s->w[i].ops->changed)
			s->w[i].ops->changed(s->w[i].arg, ns);
}

/* ---------------------------------------------------------------- expiry */

static void on_timer(struct kl_timer *t);

static void arm(struct kl_silences *s)
{
	int64_t at = 0, now = now_ms(s);
	struct entry *e;

	kl_timer_stop(&s->timer);
	for (e = s->list; e; e = e->next)
		if (!at || e->s.until_ms < at)
			at = e->s.until_ms;
	if (at)
		kl_timer_start(&s->timer, on_timer, at > now ? (uint64_t)(at - now) : 0, 0);
}

/* Unlinks *pp (persisted as gone), tells the watchers, frees it. */
static void drop(struct kl_silences *s, struct entry **pp, bool expired)
{
	struct entry *e = *pp;

	*pp = e->next;
	s->n--;
	persist(s, &e->s, true);
	recount(s);
	kl_log_info(s->ctx->log, "silences", expired ? "silence expired" : "silence ended",
		    "namespace", e->s.ns, "controller", e->s.controller ? e->s.controller : "*");
	if (!expired) /* Alertmanager ends its own on time */
		kl__silence_am_expire(s, &e->s);
	tell(s, e->s.ns);
	entry_free(e);
}

static void on_timer(struct kl_timer *t)
{
	struct kl_silences *s = container_of(t, struct kl_silences, timer);
	int64_t now = now_ms(s);
	struct entry **pp = &s->list;

	while (*pp) {
		if ((*pp)->s.until_ms <= now)
			drop(s, pp, true);
		else
			pp = &(*pp)->next;
	}
	arm(s);
}

/* ---------------------------------------------------------------- the store */

static struct entry **find(struct kl_silences *s, const char *ns, const char *controller)
{
	struct entry **pp;

	for (pp = &s->list; *pp; pp = &(*pp)->next) {
		const struct kl_silence *si = &(*pp)->s;

		if (strcmp(si->ns, ns) == 0 &&
		    (controller ? si->controller && strcmp(si->controller, controller) == 0
				: !si->controller))
			return pp;
	}
	return NULL;
}

/* Appends a new entry (oldest first) without persisting or telling. */
static struct entry *insert(struct kl_silences *s, const struct kl_silence *si)
{
	struct entry *e = calloc(1, sizeof(*e)), **pp;

	if (!e)
		return NULL;
	e->s = *si;
	e->s.ns = strdup(si->ns);
	e->s.controller = si->controller && *si->controller ? strdup(si->controller) : NULL;
	e->s.by = strdup(si->by ? si->by : "");
	e->s.reason = strdup(si->reason ? si->reason : "");
	if (!e->s.ns || !e->s.by || !e->s.reason ||
	    (si->controller && *si->controller && !e->s.controller)) {
		entry_free(e);
		return NULL;
	}
	for (pp = &s->list; *pp; pp = &(*pp)->next)
		;
	*pp = e;
	s->n++;
	return e;
}

int kl_silences_set(struct kl_silences *s, const char *ns, const char *controller,
		    const char *by, const char *reason, int64_t until_ms)
{
	struct kl_silence si = { .ns = ns, .controller = controller, .by = by, .reason = reason,
				 .at_ms = now_ms(s), .until_ms = until_ms };
	struct entry **old, *e;
	char until[32];

	if (!s->started)
		return -EAGAIN;
	old = find(s, ns, controller);
	if (!old && s->n >= KL_SILENCES_MAX)
		return -ENOSPC;
	e = insert(s, &si);
	if (!e)
		return -ENOMEM;
	if (old) { /* replaced: the old one goes without an "ended" to the engines */
		struct entry *o = *old;

		kl__silence_am_expire(s, &o->s);
		*old = o->next;
		s->n--;
		entry_free(o);
	}
	persist(s, &e->s, false);
	recount(s);
	snprintf(until, sizeof(until), "%lld", (long long)until_ms);
	kl_log_info(s->ctx->log, "silences", "silence set", "namespace", ns, "controller",
		    controller ? controller : "*", "by", by, "until_ms", until, "reason", reason);
	kl__silence_am_create(s, &e->s);
	tell(s, e->s.ns);
	arm(s);
	return 0;
}

int kl_silences_end(struct kl_silences *s, const char *ns, const char *controller)
{
	struct entry **pp = &s->list;
	int n = 0;

	while (*pp) {
		const struct kl_silence *si = &(*pp)->s;

		if (strcmp(si->ns, ns) == 0 &&
		    (!controller || (si->controller && strcmp(si->controller, controller) == 0))) {
			drop(s, pp, false);
			n++;
		} else {
			pp = &(*pp)->next;
		}
	}
	arm(s);
	return n;
}

int64_t kl_silences_until(const struct kl_silences *s, const char *controller, const char *ns)
{
	const struct entry *e;
	int64_t until = 0, now;

	if (!s)
		return 0;
	now = now_ms(s);
	for (e = s->list; e; e = e->next)
		if (e->s.until_ms > now && e->s.until_ms > until && strcmp(e->s.ns, ns) == 0 &&
		    (!e->s.controller || strcmp(e->s.controller, controller) == 0))
			until = e->s.until_ms;
	return until;
}

void kl_silences_foreach(const struct kl_silences *s, const char *ns,
			 void (*cb)(void *arg, const struct kl_silence *si), void *arg)
{
	const struct entry *e;

	for (e = s->list; e; e = e->next)
		if (!ns || strcmp(e->s.ns, ns) == 0)
			cb(arg, &e->s);
}

void kl_silences_list_alerts(const struct kl_silences *s, const char *ns, struct kl_buf *out)
{
	size_t i;

	for (i = 0; i < MAX_WATCHES; i++)
		if (s->w[i].ops && s->w[i].ops->list)
			s->w[i].ops->list(s->w[i].arg, ns, out);
}

int kl_silences_watch(struct kl_silences *s, const struct kl_silences_watch_ops *ops, void *arg,
		      const char *controller, const char *alertname)
{
	size_t i;

	for (i = 0; i < MAX_WATCHES; i++)
		if (!s->w[i].ops) {
			s->w[i].ops = ops;
			s->w[i].arg = arg;
			s->w[i].controller = controller;
			s->w[i].alertname = alertname;
			return 0;
		}
	return -ENOSPC;
}

int kl_silences_unwatch(struct kl_silences *s, void *arg)
{
	size_t i;

	for (i = 0; i < MAX_WATCHES; i++)
		if (s->w[i].ops && s->w[i].arg == arg) {
			s->w[i].ops = NULL;
			return 0;
		}
	return -ENOENT;
}

void kl__silences_am_add(struct kl_silences *s, const char *ns, const char *controller,
			 int64_t at_ms, const char *notifier, const char *id)
{
	struct entry **pp = find(s, ns, controller);
	struct kl_silence *si = pp ? &(*pp)->s : NULL;

	if (!si || si->at_ms != at_ms || si->nam >= KL_SILENCE_AM_MAX) {
		/* ended or replaced while Alertmanager answered: its silence goes too */
		struct kl_silence gone = { .ns = ns, .controller = controller, .nam = 1 };

		snprintf(gone.am_notifier[0], sizeof(gone.am_notifier[0]), "%s", notifier);
		snprintf(gone.am_id[0], sizeof(gone.am_id[0]), "%s", id);
		kl__silence_am_expire(s, &gone);
		return;
	}
	snprintf(si->am_notifier[si->nam], sizeof(si->am_notifier[0]), "%s", notifier);
	snprintf(si->am_id[si->nam], sizeof(si->am_id[0]), "%s", id);
	si->nam++;
	persist(s, si, false);
}

/* ---------------------------------------------------------------- life */

struct kl_silences *kl_silences_new(struct kl_ctx *ctx)
{
	struct kl_silences *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->ctx = ctx;
	kl__silence_chat_init(s);
	kl_timer_init(ctx->clock, &s->timer);
	if (ctx->metrics) {
		s->m_silences = kl_metrics_find(ctx->metrics, "kloompas_silences");
		if (!s->m_silences)
			s->m_silences = kl_metrics_gauge(ctx->metrics, "kloompas_silences",
							 "Chat silences in force.", NULL);
	}
	recount(s);
	return s;
}

struct load {
	struct kl_silences *s;
	struct kl_silence si;
	int64_t now;
	bool ok;
};

static int on_record(void *arg, enum kl_json_what what, const struct kl_json *o)
{
	struct load *l = arg;
	const char *c = kl_json_str(kl_json_get(o, "controller"), "");
	const struct kl_json *am;

	l->si.ns = kl_json_str(kl_json_get(o, "namespace"), "");
	l->si.controller = *c ? c : NULL;
	l->si.by = kl_json_str(kl_json_get(o, "by"), "");
	l->si.reason = kl_json_str(kl_json_get(o, "reason"), "");
	kl_json_int(kl_json_get(o, "at"), &l->si.at_ms);
	kl_json_int(kl_json_get(o, "until"), &l->si.until_ms);
	l->si.nam = 0;
	for (am = kl_json_get(o, "am"), am = am && am->type == KL_JSON_ARRAY ? am->child : NULL;
	     am && l->si.nam < KL_SILENCE_AM_MAX; am = am->next) {
		snprintf(l->si.am_notifier[l->si.nam], sizeof(l->si.am_notifier[0]), "%s",
			 kl_json_str(kl_json_get(am, "notifier"), ""));
		snprintf(l->si.am_id[l->si.nam], sizeof(l->si.am_id[0]), "%s",
			 kl_json_str(kl_json_get(am, "id"), ""));
		l->si.nam++;
	}
	l->ok = *l->si.ns && l->si.until_ms > 0;
	if (l->ok && l->si.until_ms > l->now && l->s->n < KL_SILENCES_MAX &&
	    !find(l->s, l->si.ns, l->si.controller) && !insert(l->s, &l->si))
		return -ENOMEM;
	return 0;
}

static void load_one(void *arg, const char *key, const char *value)
{
	struct load *l = arg;
	struct kl_json_stream *js = kl_json_stream_new(KL_JSON_DOCUMENT, 16384, on_record, l);
	struct kl_error err;
	size_t before = l->s->n;

	l->ok = false;
	kl_error_clear(&err);
	if (js && kl_json_stream_feed(js, value, strlen(value), &err) == 0)
		kl_json_stream_finish(js, &err);
	kl_json_stream_free(js);
	if (l->s->n == before) /* ended while no replica ran, unreadable, or over the bound */
		kl_state_set(l->s->ctx->state, key, NULL);
	if (!l->ok)
		kl_log_warn(l->s->ctx->log, "silences", "ignoring an unreadable silence", "key",
			    key);
}

int kl_silences_start(struct kl_silences *s)
{
	struct load l = { s, { 0 }, now_ms(s), false };
	char n[16];

	if (!s->ctx->state)
		return 0;
	s->started = true;
	kl_state_foreach(s->ctx->state, PREFIX, load_one, &l);
	snprintf(n, sizeof(n), "%zu", s->n);
	if (s->n)
		kl_log_info(s->ctx->log, "silences", "restored silences", "silences", n);
	recount(s);
	arm(s);
	return 0;
}

/* One of the timer and the HTTP client is closed; the last frees everything. */
static void close_step(void *arg)
{
	struct kl_silences *s = arg;
	void (*cb)(void *) = s->closed_cb;
	void *cb_arg = s->closed_arg;
	struct entry *e, *next;

	if (--s->close_pending > 0)
		return;
	for (e = s->list; e; e = next) {
		next = e->next;
		entry_free(e);
	}
	free(s);
	if (cb)
		cb(cb_arg);
}

static void timer_closed(struct kl_timer *t)
{
	close_step(container_of(t, struct kl_silences, timer));
}

void kl_silences_close(struct kl_silences *s, void (*cb)(void *arg), void *arg)
{
	s->closed_cb = cb;
	s->closed_arg = arg;
	s->close_pending = 2;
	kl_timer_close(&s->timer, timer_closed);
	if (!kl__silence_chat_close(s, close_step))
		close_step(s);
}
