/*
 * controllers/crash_watcher.c - pods stuck in CrashLoopBackOff (or another configured
 * waiting reason), per namespace, with the evidence.
 *
 * A namespace's condition is "at least one pod has a crash-looping container" by
 * kl_crash_pod: waiting with a configured reason, or - a real kubelet shows a
 * looping container running and terminated for seconds between back-offs - after
 * two restarts, terminated with an error or, once out of a real back-off, running
 * for less than KL_CRASHLOOP_SETTLE_MS. The rule reads the pod status only (no memory of what was
 * seen before), so the verdict, the `for` timer and the gauge are the same after a
 * restart or a change of leader, and stay steady while a container keeps
 * restarting. The end of a running container's settle window comes with no event:
 * the namespace asks the watcher base (watcher.h) for a wake-up then. The base
 * re-evaluates a namespace when its pods change and owns the alert engine (alerts.c),
 * which turns the condition into pending/firing/resolved notices; this file is the
 * config, the rule and the evidence. The not-ready watcher calls the same rule.
 * Before a firing notice leaves (the engine's prepare hook), the evidence is
 * gathered: per pod the container, reason, restarts, last termination and the
 * tail of the previous instance's log, fetched concurrently (at most
 * LOG_FETCH_MAX in flight, each with the client's timeout). A log that cannot be
 * had is said in the notice, never fatal.
 */
#include "controllers/crash_watcher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/watcher.h"
#include "util/duration.h"

#define MAX_LOG_LINES 1000
#define EVIDENCE_PODS 10  /* pods with evidence per namespace; the count covers all */
#define LOG_FETCH_MAX 16  /* log requests in flight per flush */
#define LOG_BYTES 16384

static const char *default_reasons[] = {"CrashLoopBackOff"};

#define K(f) offsetof(struct kl_crash_watcher_conf, f)
/* clang-format off */
const struct kl_conf_key kl_crash_watcher_keys[] = {
	{ "reasons", KL_CONF_STRINGS, K(reasons), NULL, 0, NULL },
	{ "for", KL_CONF_DURATION, K(for_ms), NULL, 0, NULL },
	{ "repeat_interval", KL_CONF_DURATION, K(repeat_interval_ms), NULL, 0, NULL },
	{ "log_lines", KL_CONF_UINT, K(log_lines), NULL, 0, NULL },
	{ NULL, 0, 0, NULL, 0, NULL },
};
/* clang-format on */

void kl_crash_watcher_defaults(void *p)
{
	struct kl_crash_watcher_conf *c = p;

	c->reasons.v = default_reasons;
	c->reasons.n = 1;
	c->for_ms = 30 * 1000;
	c->repeat_interval_ms = 3600 * 1000;
	c->log_lines = 20;
}

int kl_crash_watcher_check(const void *conf, const struct kl_conf_node *sec, const char *file,
			   struct kl_error *err)
{
	const struct kl_crash_watcher_conf *c = conf;

	if (c->reasons.n == 0)
		return kl_controller_conf_error(err, file, "crash-watcher", sec, "reasons",
						"must name at least one reason");
	if (c->log_lines > MAX_LOG_LINES)
		return kl_controller_conf_error(err, file, "crash-watcher", sec, "log_lines",
						"at most %d, got %u", MAX_LOG_LINES, c->log_lines);
	if (c->repeat_interval_ms == 0)
		return kl_controller_conf_error(err, file, "crash-watcher", sec, "repeat_interval",
						"must be greater than 0");
	return 0;
}

struct fetch;

/* One pod's log to fetch for a notice. */
struct want {
	struct fetch *f;
	struct kl_notice_pod *ev; /* in the batch's arena */
	const char *ns;
	bool previous; /* the previous instance's log (not the current one's) */
	struct kl_kube_req *req;
};

/* A batch waiting for its log tails. */
struct fetch {
	struct crash_watcher *cw;
	struct kl_alert_batch *b;
	struct fetch *next;
	struct want *wants;
	size_t nwants, next_want, in_flight;
};

struct crash_watcher {
	struct kl_ctx *ctx;
	const struct kl_crash_watcher_conf *conf;
	struct kl_watcher *w;
	struct kl_metric *m_pods;
	struct fetch *fetches; /* each holds w */
};

/* ---------------------------------------------------------------- the rule */

static bool has_reason(const struct kl_strv *reasons, const char *r)
{
	size_t i;

	for (i = 0; i < reasons->n; i++)
		if (strcmp(r, reasons->v[i]) == 0)
			return true;
	return false;
}

/* Exited with an error (a container that ends with no reason and code 0 completed). */
static bool failed_exit(const struct kl_container_state *s)
{
	return s->exit_code != 0 || (s->terminated_reason && strcmp(s->terminated_reason,
								       "Completed") != 0);
}

/* A better moment to show than the one held: waiting, then terminated, then running. */
static int moment_rank(enum kl_crash_moment m)
{
	return m == KL_CRASH_WAITING ? 0 : m == KL_CRASH_TERMINATED ? 1 : 2;
}

bool kl_crash_pod(const struct kl_pod *p, const struct kl_strv *reasons, int64_t now_ms,
		  struct kl_crash_hit *hit)
{
	struct kl_crash_hit h = { NULL, KL_CRASH_WAITING, 0 };
	bool loop = has_reason(reasons, "CrashLoopBackOff");
	bool done = p->phase == KL_POD_SUCCEEDED || p->phase == KL_POD_FAILED;
	uint16_t i;

	if (p->meta.deleting)
		return false; /* going away: not a crash of the namespace */
	for (i = 0; i < p->ncontainers; i++) {
		const struct kl_container *c = &p->containers[i];
		const struct kl_container_state *s = &c->state;
		enum kl_crash_moment m;

		if (s->waiting_reason && has_reason(reasons, s->waiting_reason)) {
			m = KL_CRASH_WAITING;
		} else if (!loop || c->restarts < 2 || s->waiting_reason) {
			continue;
		} else if (s->running_since) {
			int64_t end = (int64_t)s->running_since * 1000 + KL_CRASHLOOP_SETTLE_MS;

			if (now_ms >= end || !c->last.finished ||
			    (int64_t)s->running_since - c->last.finished < KL_CRASHLOOP_BACKOFF_MIN_S)
				continue; /* settled, or restarted at once: no back-off */
			if (!h.recheck_ms || end < h.recheck_ms)
				h.recheck_ms = end;
			m = KL_CRASH_RUNNING;
		} else if (failed_exit(s) && !done) {
			m = KL_CRASH_TERMINATED;
		} else {
			continue;
		}
		if (!h.c || moment_rank(m) < moment_rank(h.moment)) {
			h.c = c;
			h.moment = m;
		}
	}
	if (hit)
		*hit = h;
	return h.c != NULL;
}

const char *kl_crash_moment_reason(const struct kl_crash_hit *hit)
{
	switch (hit->moment) {
	case KL_CRASH_RUNNING:
		return "CrashLoopBackOff (running between back-offs)";
	case KL_CRASH_TERMINATED:
		return "CrashLoopBackOff (terminated between back-offs)";
	case KL_CRASH_WAITING:
		break;
	}
	return hit->c->state.waiting_reason;
}

/* The waiting reason a counted container stands for ("CrashLoopBackOff" between back-offs). */
static const char *summary_reason(const struct kl_crash_hit *h)
{
	return h->moment == KL_CRASH_WAITING ? h->c->state.waiting_reason : "CrashLoopBackOff";
}

static void eval(void *arg, const char *ns, int64_t now_ms)
{
	struct crash_watcher *cw = arg;
	const struct kl_store *pods = kl_watcher_pods(cw->w);
	const struct kl_pod *p;
	const char *labels[] = { ns };
	const char *reasons[8];
	size_t nreasons = 0, r;
	unsigned n = 0;
	int64_t recheck = 0;
	char summary[256], joined[160] = "";

	for (p = kl_store_ns_first(pods, ns); p; p = kl_store_ns_next(pods, p)) {
		struct kl_crash_hit h;
		const char *why;

		if (!kl_crash_pod(p, &cw->conf->reasons, now_ms, &h))
			continue;
		n++;
		if (h.recheck_ms && (!recheck || h.recheck_ms < recheck))
			recheck = h.recheck_ms;
		why = summary_reason(&h);
		for (r = 0; r < nreasons && strcmp(reasons[r], why); r++)
			;
		if (r == nreasons && nreasons < 8)
			reasons[nreasons++] = why;
	}
	/* a container that keeps running stops counting with no event to say so */
	if (recheck)
		kl_watcher_wake_at(cw->w, ns, recheck);
	if (cw->m_pods) {
		if (n)
			kl_metric_set(cw->m_pods, labels, n);
		else
			kl_metric_remove(cw->m_pods, labels);
	}
	if (!nreasons) /* nothing stuck: name what is watched ("0 Pod(s) in CrashLoopBackOff") */
		for (r = 0; r < cw->conf->reasons.n && nreasons < 8; r++)
			reasons[nreasons++] = cw->conf->reasons.v[r];
	for (r = 0; r < nreasons; r++)
		snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s",
			 r ? "/" : "", reasons[r]);
	snprintf(summary, sizeof(summary), "%u Pod(s) in %s", n, joined);
	/* a namespace with no alert and nothing stuck needs no record at all */
	kl_alerts_update(kl_watcher_alerts(cw->w), ns, n > 0, summary);
}

/* ---------------------------------------------------------------- evidence */

static void fetch_done(struct fetch *f)
{
	struct crash_watcher *cw = f->cw;
	struct fetch **pp;

	for (pp = &cw->fetches; *pp != f; pp = &(*pp)->next)
		;
	*pp = f->next;
	kl_alerts_send(f->b);
	free(f->wants);
	free(f);
	kl_watcher_release(cw->w);
}

static void fetch_more(struct fetch *f);

static void on_log(void *arg, const struct kl_kube_status *st, const char *text, size_t len)
{
	struct want *w = arg;
	struct fetch *f = w->f;
	struct kl_arena *arena = &f->b->arena;

	w->req = NULL;
	f->in_flight--;
	if (st->err == 0) {
		w->ev->log = kl_arena_strndup(arena, text, len);
	} else {
		char why[300];

		/* the kubelet's reason is worth showing ("previous terminated container
		 * ... not found"); a network error is said plainly */
		snprintf(why, sizeof(why), "%s", st->message && st->message[0] ? st->message
							  : strerror(-st->err));
		w->ev->log_error = kl_arena_strdup(arena, why);
	}
	fetch_more(f);
}

static void fetch_more(struct fetch *f)
{
	struct crash_watcher *cw = f->cw;

	while (!kl_watcher_stopping(cw->w) && f->next_want < f->nwants &&
	       f->in_flight < LOG_FETCH_MAX) {
		struct want *w = &f->wants[f->next_want++];
		int rc = kl_kube_pod_log(cw->ctx->kube, w->ns, w->ev->pod, w->ev->container, w->previous,
					 cw->conf->log_lines, LOG_BYTES, on_log, w, &w->req);

		if (rc < 0) {
			w->ev->log_error = kl_arena_strdup(&f->b->arena, strerror(-rc));
			continue;
		}
		f->in_flight++;
	}
	if (f->in_flight == 0 && (f->next_want == f->nwants || kl_watcher_stopping(cw->w)))
		fetch_done(f);
}

/*
 * One counted container as evidence. Between back-offs it says so in its reason; in
 * the terminated moment the exit shown is the one just seen, and the log is that
 * instance's (the kubelet has already removed the one before: previous=true fails).
 */
static void fill_evidence(struct kl_arena *arena, const struct kl_pod *p,
			  const struct kl_crash_hit *h, struct kl_notice_pod *ev, bool *previous)
{
	const struct kl_container *c = h->c;

	ev->pod = kl_arena_strdup(arena, kl_meta_name(&p->meta));
	ev->container = kl_arena_strdup(arena, c->name);
	ev->reason = kl_arena_strdup(arena, kl_crash_moment_reason(h));
	ev->restarts = c->restarts;
	*previous = h->moment != KL_CRASH_TERMINATED;
	if (!*previous) {
		ev->last_reason =
			kl_arena_strdup(arena, c->state.terminated_reason ? c->state.terminated_reason
									  : "Error");
		ev->exit_code = c->state.exit_code;
	} else if (c->last.terminated_reason) {
		ev->last_reason = kl_arena_strdup(arena, c->last.terminated_reason);
		ev->exit_code = c->last.exit_code;
	}
}

/* Evidence for one firing notice: the stuck pods of its namespace (at most EVIDENCE_PODS). */
static size_t add_evidence(struct crash_watcher *cw, struct kl_alert_batch *b,
			   struct kl_notice *n, struct want *wants)
{
	const struct kl_pod *p;
	struct kl_notice_pod *ev;
	int64_t now = kl_watcher_now_ms(cw->w);
	size_t k = 0, nw = 0;

	ev = kl_arena_alloc(&b->arena, EVIDENCE_PODS * sizeof(*ev));
	if (!ev)
		return 0;
	for (p = kl_store_ns_first(kl_watcher_pods(cw->w), n->ns); p && k < EVIDENCE_PODS;
	     p = kl_store_ns_next(kl_watcher_pods(cw->w), p)) {
		struct kl_crash_hit h;
		bool previous;

		if (!kl_crash_pod(p, &cw->conf->reasons, now, &h))
			continue;
		memset(&ev[k], 0, sizeof(ev[k]));
		fill_evidence(&b->arena, p, &h, &ev[k], &previous);
		if (cw->conf->log_lines && wants) {
			wants[nw].ev = &ev[k];
			wants[nw].ns = n->ns;
			wants[nw].previous = previous;
			nw++;
		}
		k++;
	}
	n->pods = ev;
	n->npods = k;
	return nw;
}

static void prepare(void *arg, struct kl_alert_batch *b)
{
	struct crash_watcher *cw = arg;
	struct fetch *f = calloc(1, sizeof(*f));
	size_t i, firing = 0;

	for (i = 0; i < b->n; i++)
		firing += !b->notices[i].resolved;
	if (f && firing)
		f->wants = calloc(firing * EVIDENCE_PODS, sizeof(*f->wants));
	if (!f || (firing && !f->wants)) {
		/* no memory for evidence: the notice still goes out */
		free(f);
		kl_alerts_send(b);
		return;
	}
	f->cw = cw;
	f->b = b;
	for (i = 0; i < b->n; i++)
		if (!b->notices[i].resolved)
			f->nwants += add_evidence(cw, b, &b->notices[i], f->wants + f->nwants);
	for (i = 0; i < f->nwants; i++)
		f->wants[i].f = f;
	f->next = cw->fetches;
	cw->fetches = f;
	kl_watcher_hold(cw->w);
	fetch_more(f);
}

/* Stopping: cancel the log requests of batches gathering them; each ends through fetch_done. */
static void cancel_fetches(void *arg)
{
	struct crash_watcher *cw = arg;
	struct fetch *f;
	size_t i;

	for (f = cw->fetches; f; f = f->next)
		for (i = 0; i < f->next_want; i++)
			if (f->wants[i].req)
				kl_kube_cancel(f->wants[i].req);
}

/* ---------------------------------------------------------------- lifecycle */

static void started(void *arg)
{
	struct crash_watcher *cw = arg;
	char f[32], r[32], lines[16];

	kl_duration_format(cw->conf->for_ms, f, sizeof(f));
	kl_duration_format(cw->conf->repeat_interval_ms, r, sizeof(r));
	snprintf(lines, sizeof(lines), "%u", cw->conf->log_lines);
	kl_log_info(cw->ctx->log, "crash-watcher", "controller started", "for", f,
		    "repeat_interval", r, "log_lines", lines);
}

static int cw_init(struct kl_ctx *ctx, const void *conf, void **state, struct kl_error *err)
{
	static const char *const labels[] = { "namespace", NULL };
	static const struct kl_watcher_hooks hooks = {
		.eval = eval,
		.prepare = prepare,
		.stop = cancel_fetches,
		.started = started,
	};
	const struct kl_crash_watcher_conf *c = conf;
	struct kl_alerts_opts ao = {
		.controller = "crash-watcher",
		.alertname = "KloompasPodCrashLooping",
		.for_ms = c->for_ms,
		.repeat_ms = c->repeat_interval_ms,
		.title = "PODS IN CRASH",
	};
	struct crash_watcher *cw = calloc(1, sizeof(*cw));

	if (!cw)
		return -ENOMEM;
	cw->ctx = ctx;
	cw->conf = c;
	cw->w = kl_watcher_new(ctx, &ao, &hooks, cw, err);
	if (!cw->w) {
		free(cw);
		return -ENOMEM;
	}
	if (ctx->metrics)
		cw->m_pods = kl_metrics_gauge(ctx->metrics, "kloompas_namespace_crashloop_pods",
					      "Pods of the namespace crash-looping: waiting with a "
					      "configured reason, or between back-offs.",
					      labels);
	*state = cw->w;
	return 0;
}

const struct kl_controller_ops kl_crash_watcher_ops = {
	.init = cw_init,
	.start = kl_watcher_start,
	.stop = kl_watcher_stop,
};
