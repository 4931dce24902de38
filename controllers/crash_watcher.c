/*
 * controllers/crash_watcher.c - the crash watcher's config, checks and lifecycle.
 *
 * The alerting logic arrives with the watchers issue; this module already owns
 * its config keys (validated at load, whether or not it is enabled) and is
 * started and stopped by main like any controller, so the wiring is exercised.
 */
#include "controllers/crash_watcher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/duration.h"

#define MAX_LOG_LINES 1000

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

struct crash_watcher {
	struct kl_ctx *ctx;
	const struct kl_crash_watcher_conf *conf;
	int started;
};

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

static int cw_init(struct kl_ctx *ctx, const void *conf, void **state, struct kl_error *err)
{
	struct crash_watcher *cw;

	cw = calloc(1, sizeof(*cw));
	if (!cw)
		return -ENOMEM;
	cw->ctx = ctx;
	cw->conf = conf;
	*state = cw;
	return 0;
}

static int cw_start(void *state)
{
	struct crash_watcher *cw = state;
	char f[32], r[32], lines[16];

	kl_duration_format(cw->conf->for_ms, f, sizeof(f));
	kl_duration_format(cw->conf->repeat_interval_ms, r, sizeof(r));
	snprintf(lines, sizeof(lines), "%u", cw->conf->log_lines);
	kl_log_info(cw->ctx->log, "crash-watcher", "controller started", "for", f,
		    "repeat_interval", r, "log_lines", lines);
	cw->started = 1;
	return 0;
}

static void cw_stop(void *state, kl_done_cb done, void *arg)
{
	struct crash_watcher *cw = state;

	if (cw->started)
		kl_log_info(cw->ctx->log, "crash-watcher", "controller stopped");
	free(cw);
	done(arg);
}

const struct kl_controller_ops kl_crash_watcher_ops = {
    .init = cw_init,
    .start = cw_start,
    .stop = cw_stop,
};
