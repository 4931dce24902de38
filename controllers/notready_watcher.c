/*
 * controllers/notready_watcher.c - the not-ready watcher's config, checks and
 * lifecycle. Its evaluation of namespaces comes with the watchers issue; the
 * module is wired and started like every controller already.
 */
#include "controllers/notready_watcher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

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

struct notready_watcher {
	struct kl_ctx *ctx;
	const struct kl_notready_watcher_conf *conf;
	int started;
};

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

static int nw_init(struct kl_ctx *ctx, const void *conf, void **state, struct kl_error *err)
{
	struct notready_watcher *nw;

	nw = calloc(1, sizeof(*nw));
	if (!nw)
		return -ENOMEM;
	nw->ctx = ctx;
	nw->conf = conf;
	*state = nw;
	return 0;
}

static int nw_start(void *state)
{
	struct notready_watcher *nw = state;
	char th[32], mp[16], age[32];

	snprintf(th, sizeof(th), "%g", nw->conf->threshold_percent);
	snprintf(mp, sizeof(mp), "%u", nw->conf->min_pods);
	kl_duration_format(nw->conf->min_age_ms, age, sizeof(age));
	kl_log_info(nw->ctx->log, "notready-watcher", "controller started", "threshold_percent", th,
		    "min_pods", mp, "min_age", age);
	nw->started = 1;
	return 0;
}

static void nw_stop(void *state, kl_done_cb done, void *arg)
{
	struct notready_watcher *nw = state;

	if (nw->started)
		kl_log_info(nw->ctx->log, "notready-watcher", "controller stopped");
	free(nw);
	done(arg);
}

const struct kl_controller_ops kl_notready_watcher_ops = {
    .init = nw_init,
    .start = nw_start,
    .stop = nw_stop,
};
