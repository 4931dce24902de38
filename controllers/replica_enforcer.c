/*
 * controllers/replica_enforcer.c - the replica enforcer's config and lifecycle.
 * Commands, restores and bounds come with the replica-enforcer issue; the chat-ops
 * listener it will serve is already opened by main when --chatops-bind-address is set.
 */
#include "controllers/replica_enforcer.h"

#include <errno.h>
#include <stdlib.h>

#include "util/duration.h"

#define K(f) offsetof(struct kl_replica_enforcer_conf, f)
/* clang-format off */
const struct kl_conf_key kl_replica_enforcer_keys[] = {
	{ "max_temporary", KL_CONF_DURATION, K(max_temporary_ms), NULL, 0, NULL },
	{ NULL, 0, 0, NULL, 0, NULL },
};
/* clang-format on */

void kl_replica_enforcer_defaults(void *p)
{
	struct kl_replica_enforcer_conf *c = p;

	c->max_temporary_ms = 24ULL * 3600 * 1000;
}

int kl_replica_enforcer_check(const void *conf, const struct kl_conf_node *sec, const char *file,
			      struct kl_error *err)
{
	const struct kl_replica_enforcer_conf *c = conf;

	if (c->max_temporary_ms == 0)
		return kl_controller_conf_error(err, file, "replica-enforcer", sec, "max_temporary",
						"must be greater than 0");
	return 0;
}

struct replica_enforcer {
	struct kl_ctx *ctx;
	const struct kl_replica_enforcer_conf *conf;
	int started;
};

static int re_init(struct kl_ctx *ctx, const void *conf, void **state, struct kl_error *err)
{
	struct replica_enforcer *re;

	re = calloc(1, sizeof(*re));
	if (!re)
		return -ENOMEM;
	re->ctx = ctx;
	re->conf = conf;
	*state = re;
	return 0;
}

static int re_start(void *state)
{
	struct replica_enforcer *re = state;
	char mt[32];

	kl_duration_format(re->conf->max_temporary_ms, mt, sizeof(mt));
	kl_log_info(re->ctx->log, "replica-enforcer", "controller started", "max_temporary", mt,
		    "chatops", re->ctx->flags->chatops_bind_address ? "on" : "off");
	re->started = 1;
	return 0;
}

static void re_stop(void *state, kl_done_cb done, void *arg)
{
	struct replica_enforcer *re = state;

	if (re->started)
		kl_log_info(re->ctx->log, "replica-enforcer", "controller stopped");
	free(re);
	done(arg);
}

const struct kl_controller_ops kl_replica_enforcer_ops = {
    .init = re_init,
    .start = re_start,
    .stop = re_stop,
};
