/*
 * controllers/replica_enforcer.c - the SRE chat-bot: scale Deployments from Slack or
 * the HTTP API, restore temporary scales on time, keep Deployments inside bounds.
 * This file holds its config (the row in controllers/table.c points here) and its
 * lifecycle; the work is in replica_scale.c (scale operations), replica_restore.c
 * (restores and bounds), replica_chatops.c and replica_reply.c (chat-ops requests).
 *
 * Only the leader enforces and restores (start is called on the leader); any
 * replica answers chat commands once the Deployments are synced, since the Service
 * in front may route to any of them. The routes hook puts the chat-ops paths on the
 * chat-ops listener when main has one.
 */
#include "controllers/replica_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---------------------------------------------------------------- shared helpers */

int kl__replica_ann_int(const char *v)
{
	char *end;
	long n;

	if (!v || !*v)
		return -1;
	n = strtol(v, &end, 10);
	return *end || n < 0 || n > 1000000 ? -1 : (int)n;
}

const struct kl_deployment *kl__replica_find(struct replica_enforcer *re, const char *ns,
					     const char *name)
{
	return kl_store_get(kl_informer_store(re->deployments), ns, name);
}

void kl__replica_stop_step(struct replica_enforcer *re)
{
	kl_done_cb done = re->done;
	void *arg = re->done_arg;

	if (!re->stopping || --re->stop_pending > 0)
		return;
	free(re);
	done(arg);
}

/* ---------------------------------------------------------------- lifecycle */

static int re_init(struct kl_ctx *ctx, const void *conf, void **state, struct kl_error *err)
{
	static const char *const cmd_labels[] = { "command", "result", NULL };
	static const char *const change_labels[] = { "reason", NULL };
	struct kl_informer_handler h;
	struct replica_enforcer *re = calloc(1, sizeof(*re));

	if (!re)
		return -ENOMEM;
	re->ctx = ctx;
	re->conf = conf;
	re->deployments = kl_informers_get(ctx->informers, KL_RES_DEPLOYMENTS, NULL);
	h = kl__replica_informer_handler(re);
	if (!re->deployments || kl_informer_add_handler(re->deployments, &h) < 0) {
		free(re);
		return -ENOMEM;
	}
	if (ctx->metrics) {
		re->m_commands = kl_metrics_counter(ctx->metrics, "kloompas_chatops_commands_total",
						    "Chat-ops commands by command and result.",
						    cmd_labels);
		re->m_changes = kl_metrics_counter(ctx->metrics, "kloompas_replica_changes_total",
						   "Replica changes made, by reason (chatops, "
						   "restore, bounds).",
						   change_labels);
	}
	*state = re;
	return 0;
}

static int re_routes(void *state, struct kl_httpd *chatops)
{
	struct replica_enforcer *re = state;
	int rc;

	rc = kl_httpd_route(chatops, "/slack/commands", KL_HTTP_POST, kl__replica_serve_slack, re);
	if (rc == 0)
		rc = kl_httpd_route(chatops, "/api/v1/replicas", KL_HTTP_POST,
				    kl__replica_serve_api, re);
	if (rc == 0)
		re->chatops = true;
	return rc;
}

static int re_start(void *state)
{
	struct replica_enforcer *re = state;
	char mt[32];

	re->started = true;
	/* the leader looks at every Deployment once: bounds, restores due while away */
	kl__replica_check_all(re);
	kl_duration_format(re->conf->max_temporary_ms, mt, sizeof(mt));
	kl_log_info(re->ctx->log, "replica-enforcer", "controller started", "max_temporary", mt,
		    "chatops", re->chatops ? "on" : "off");
	return 0;
}

static void re_stop(void *state, kl_done_cb done, void *arg)
{
	struct replica_enforcer *re = state;

	kl_informer_remove_handler(re->deployments, re);
	if (re->started)
		kl_log_info(re->ctx->log, "replica-enforcer", "controller stopped");
	re->stopping = true;
	re->started = false;
	re->done = done;
	re->done_arg = arg;
	re->stop_pending = 1;
	kl__replica_scale_stop(re);
	kl__replica_restore_stop(re);
	kl__replica_stop_step(re);
}

const struct kl_controller_ops kl_replica_enforcer_ops = {
	.init = re_init,
	.start = re_start,
	.stop = re_stop,
	.routes = re_routes,
};
