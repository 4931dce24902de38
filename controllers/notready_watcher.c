/*
 * controllers/notready_watcher.c - namespaces with a high share of pods not Ready.
 *
 * Eligible pods are those not Succeeded/Failed, not terminating and older than
 * min_age; the condition holds when at least min_pods are eligible and the share
 * not Ready is at least threshold_percent. min_age and min_pods gate only the start
 * of an alert: the engine is asked where the namespace's alert stands, and while it
 * is pending, firing or resolving every live pod counts (a rollout's young pods
 * must neither hide the problem nor resolve it falsely). When the crash-watcher
 * runs (its config reaches us through ctx), a pod crash-looping by its rule
 * (kl_crash_pod) is its message, not ours: not counted as not Ready. A pod younger
 * than min_age, or a crash-looping container reaching its settle time, changes the
 * count with no event to say so: the namespace asks the watcher base (watcher.h,
 * which also evaluates a namespace when its pods change and owns the alert engine)
 * to look again then. This file is the config and the count; the count itself
 * (kl_notready_tally) is a pure function of the pods and a clock.
 */
#include "controllers/notready_watcher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/crash_watcher.h"
#include "controllers/watcher.h"
#include "util/duration.h"

#define K(f) offsetof(struct kl_notready_watcher_conf, f)
/* clang-format off */
const struct kl_conf_key kl_notready_watcher_keys[] = {
	{ "threshold_percent", KL_CONF_PERCENT, K(threshold_percent), NULL, 0, NULL },
	{ "min_pods", KL_CONF_UINT, K(min_pods), NULL, 0, NULL },
	{ "min_age", KL_CONF_DURATION, K(min_age_ms), NULL, 0, NULL },
	{ "for", KL_CONF_DURATION, K(for_ms), NULL, 0, NULL },
	{ "repeat_interval", KL_CONF_DURATION, K(repeat_interval_ms), NULL, 0, NULL },
	{ NULL, 0, 0, NULL, 0, NULL },
};
/* clang-format on */

void kl_notready_watcher_defaults(void *p)
{
	struct kl_notready_watcher_conf *c = p;

	c->threshold_percent = 30;
	c->min_pods = 3;
	c->min_age_ms = 2 * 60 * 1000;
	c->for_ms = 2 * 60 * 1000;
	c->repeat_interval_ms = 3600 * 1000;
}

int kl_notready_watcher_check(const void *conf, const struct kl_conf_node *sec, const char *file,
			      struct kl_error *err)
{
	const struct kl_notready_watcher_conf *c = conf;

	/* a 0% threshold would fire on every healthy namespace */
	if (c->threshold_percent <= 0)
		return kl_controller_conf_error(err, file, "notready-watcher", sec,
						"threshold_percent", "must be above 0");
	if (c->min_pods == 0)
		return kl_controller_conf_error(err, file, "notready-watcher", sec, "min_pods",
						"must be at least 1");
	if (c->repeat_interval_ms == 0)
		return kl_controller_conf_error(err, file, "notready-watcher", sec,
						"repeat_interval", "must be greater than 0");
	return 0;
}

struct notready_watcher {
	struct kl_ctx *ctx;
	const struct kl_notready_watcher_conf *conf;
	struct kl_watcher *w;
	struct kl_metric *m_ratio;
	const struct kl_strv *crash_reasons; /* the crash-watcher's when it runs, else NULL */
};

/* ---------------------------------------------------------------- the count */

static void wake_min(int64_t *wake, int64_t at)
{
	if (at && (!*wake || at < *wake))
		*wake = at;
}

void kl_notready_tally_add(struct kl_notready_tally *t, const struct kl_pod *p)
{
	int64_t old_at = ((int64_t)p->meta.created * 1000) + (int64_t)t->conf->min_age_ms;
	struct kl_crash_hit h;

	if (p->phase == KL_POD_SUCCEEDED || p->phase == KL_POD_FAILED || p->meta.deleting)
		return;
	t->live++;
	if (old_at > t->now_ms) {
		/* too young to start an alert: look again when it is not (also while
		 * ongoing: the alert may end before, and the pod gate a new one) */
		wake_min(&t->wake_ms, old_at + 1);
		if (!t->ongoing)
			return;
	}
	t->counted++;
	if (p->ready)
		return;
	if (t->crash_reasons && kl_crash_pod(p, t->crash_reasons, t->now_ms, &h)) {
		/* a container that runs long enough stops counting as a crash */
		wake_min(&t->wake_ms, h.recheck_ms);
		t->crashing++;
		return;
	}
	t->notready++;
}

bool kl_notready_tally_active(const struct kl_notready_tally *t, double *ratio)
{
	bool gated = !t->ongoing && t->counted < t->conf->min_pods;

	*ratio = t->counted && !gated ? (double)t->notready / t->counted : 0;
	return t->counted && !gated && *ratio * 100.0 >= t->conf->threshold_percent;
}

static void eval(void *arg, const char *ns, int64_t now_ms)
{
	struct notready_watcher *nw = arg;
	struct kl_notready_tally t = { 0 };
	const struct kl_store *pods = kl_watcher_pods(nw->w);
	const struct kl_pod *p;
	const char *labels[] = { ns };
	struct kl_alerts *alerts = kl_watcher_alerts(nw->w);
	enum kl_alert_state st = kl_alerts_state(alerts, ns);
	char summary[128];
	double ratio;
	bool active;

	t.conf = nw->conf;
	t.crash_reasons = nw->crash_reasons;
	t.ongoing = st == KL_ALERT_PENDING || st == KL_ALERT_FIRING || st == KL_ALERT_RESOLVING;
	t.now_ms = now_ms;
	for (p = kl_store_ns_first(pods, ns); p; p = kl_store_ns_next(pods, p))
		kl_notready_tally_add(&t, p);
	if (t.wake_ms)
		kl_watcher_wake_at(nw->w, ns, t.wake_ms);
	active = kl_notready_tally_active(&t, &ratio);
	if (nw->m_ratio) {
		/* the share the condition used; a namespace with no live pod has no series */
		if (t.live)
			kl_metric_set(nw->m_ratio, labels, ratio);
		else
			kl_metric_remove(nw->m_ratio, labels);
	}
	snprintf(summary, sizeof(summary), "%u %% of pods Not Ready",
		 ratio > 0 ? t.notready * 100 / t.counted : 0);
	kl_alerts_update(alerts, ns, active, summary);
}

static void started(void *arg)
{
	struct notready_watcher *nw = arg;
	char th[32], mp[16], age[32];

	snprintf(th, sizeof(th), "%g", nw->conf->threshold_percent);
	snprintf(mp, sizeof(mp), "%u", nw->conf->min_pods);
	kl_duration_format(nw->conf->min_age_ms, age, sizeof(age));
	kl_log_info(nw->ctx->log, "notready-watcher", "controller started", "threshold_percent",
		    th, "min_pods", mp, "min_age", age);
}

static int nw_init(struct kl_ctx *ctx, const void *conf, void **state, struct kl_error *err)
{
	static const char *const labels[] = { "namespace", NULL };
	static const struct kl_watcher_hooks hooks = { .eval = eval, .started = started };
	const struct kl_notready_watcher_conf *c = conf;
	const struct kl_crash_watcher_conf *cc;
	struct kl_alerts_opts ao = {
		.controller = "notready-watcher",
		.alertname = "KloompasNamespacePodsNotReady",
		.for_ms = c->for_ms,
		.repeat_ms = c->repeat_interval_ms,
		.title = "NAMESPACES WITH HIGH NUMBER OF PODS NOT READY",
	};
	struct notready_watcher *nw = calloc(1, sizeof(*nw));

	if (!nw)
		return -ENOMEM;
	nw->ctx = ctx;
	nw->conf = c;
	cc = kl_ctx_controller_conf(ctx, "crash-watcher");
	nw->crash_reasons = cc ? &cc->reasons : NULL;
	nw->w = kl_watcher_new(ctx, &ao, &hooks, nw, err);
	if (!nw->w) {
		free(nw);
		return -ENOMEM;
	}
	if (ctx->metrics)
		nw->m_ratio = kl_metrics_gauge(ctx->metrics, "kloompas_namespace_notready_ratio",
					       "Share (0..1) of the namespace's pods not Ready, as "
					       "the condition counts them (0 when gated out).",
					       labels);
	*state = nw->w;
	return 0;
}

const struct kl_controller_ops kl_notready_watcher_ops = {
	.init = nw_init,
	.start = kl_watcher_start,
	.stop = kl_watcher_stop,
};
