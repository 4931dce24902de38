/*
 * controllers/replica_chatops.c - the replica enforcer's chat-ops requests: POST
 * /slack/commands (a Slack slash command) and POST /api/v1/replicas (the HTTP API).
 *
 * Both are turned into one command of the chat grammar (controllers/command.h), so
 * Slack and the API obey the same rules, and run by run_command: authorized (the
 * allow list), in bounds, then a scale operation (replica_scale.c). What differs is
 * only how the answer is said, behind struct kl__replica_reply (replica_reply.c).
 * Every outcome is logged and counted (kloompas_chatops_commands_total). Any replica
 * answers once the Deployments are synced, since the Service in front may route to
 * any of them.
 */
#include "controllers/replica_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/bearer.h"
#include "controllers/chat_reply.h"
#include "controllers/chatops.h"
#include "controllers/form.h"
#include "controllers/silence_cmd.h"
#include "controllers/silences.h"
#include "controllers/slack.h"
#include "util/rfc3339.h"

enum result { R_SUCCESS, R_DENIED, R_INVALID, R_UNAUTH, R_ERROR };
static const char *const result_names[] = { "success", "denied", "invalid", "unauthenticated",
					    "error" };

/* One chat command in flight, answered when its scale operation ends. */
struct pending {
	struct replica_enforcer *re;
	struct kl_httpd_req *req;
	const struct kl__replica_reply *reply;
	struct kl_cmd cmd;
	char user[128];
};

static const char *cmd_name(const struct kl_cmd *c)
{
	return c->verb == KL_CMD_SET ? "set-replicas" : c->verb == KL_CMD_GET ? "get-replicas"
									      : "help";
}

/* Every command's outcome, logged (never a secret) and counted. */
static void audit(struct replica_enforcer *re, const char *user, const char *cmd, enum result r,
		  const char *detail)
{
	const char *v[] = { cmd, result_names[r] };

	if (re->m_commands)
		kl_metric_inc(re->m_commands, v);
	kl_log_info(re->ctx->log, "chatops", "command", "user", user ? user : "-", "command", cmd,
		    "result", result_names[r], "detail", detail ? detail : "");
}

/* Not a request to act on: unauthenticated, or not a command at all. */
static void reject(struct replica_enforcer *re, const struct kl__replica_reply *reply,
		   struct kl_httpd_req *req, const char *user, enum result r, int status,
		   const char *why)
{
	audit(re, user, "unknown", r, why);
	reply->reject(req, status, why);
}

/* A command refused or failed; status is what the API answers. */
static void refuse(struct replica_enforcer *re, const struct kl__replica_reply *reply,
		   struct kl_httpd_req *req, const char *user, const char *cmd, enum result r,
		   int status, const char *why)
{
	audit(re, user, cmd, r, why);
	reply->refuse(req, status, why);
}

static void scaled(void *arg, int err, const char *msg, int old, int new_replicas,
		   int64_t restore_at)
{
	struct pending *p = arg;
	struct replica_enforcer *re = p->re;
	bool dry_run = re->ctx->flags->dry_run;
	char text[1024], at[KL_RFC3339_LEN] = "";

	if (err) {
		refuse(re, p->reply, p->req, p->user, "set-replicas", R_ERROR,
		       err == -ENOENT ? 404 : 502, msg ? msg : strerror(-err));
		free(p);
		return;
	}
	if (restore_at)
		kl_rfc3339_format(restore_at, at);
	snprintf(text, sizeof(text), "Replicas of %s set to %d (was %d)%s%s%s", p->cmd.deployment,
		 new_replicas, old, at[0] ? "; back to the old count at " : "", at,
		 dry_run ? " [dry-run: nothing changed]" : "");
	audit(re, p->user, "set-replicas", R_SUCCESS, text);
	p->reply->scaled(p->req, &p->cmd, old, new_replicas, at, dry_run, text);
	free(p);
}

/* set-replicas, authorized: in bounds, then the scale. */
static void run_set(struct replica_enforcer *re, const struct kl__replica_reply *reply,
		    struct kl_httpd_req *req, const char *user, const struct kl_cmd *cmd,
		    const struct kl_deployment *d)
{
	int lo = kl__replica_ann_int(d->min_replicas), hi = kl__replica_ann_int(d->max_replicas);
	int old = d->spec_replicas < 0 ? 1 : d->spec_replicas;
	int pending_to = kl__replica_ann_int(d->restore_replicas);
	int64_t for_s = (int64_t)((cmd->for_ms + 999) / 1000);
	int64_t restore_at = cmd->for_ms ? kl_clock_wall_s(re->ctx->clock) + for_s : 0;
	struct pending *p;
	char why[1024];

	if ((lo >= 0 && cmd->replicas < lo) || (hi >= 0 && cmd->replicas > hi)) {
		/* name only the bounds that are set: "within 2..-1" read as nonsense */
		if (lo >= 0 && hi >= 0)
			snprintf(why, sizeof(why),
				 "%s/%s must stay within %d..%d replicas (its %s/%s annotations)",
				 cmd->ns, cmd->deployment, lo, hi, KL__ANN_MIN, KL__ANN_MAX);
		else if (lo >= 0)
			snprintf(why, sizeof(why),
				 "%s/%s must keep at least %d replicas (its %s annotation)", cmd->ns,
				 cmd->deployment, lo, KL__ANN_MIN);
		else
			snprintf(why, sizeof(why),
				 "%s/%s must keep at most %d replicas (its %s annotation)", cmd->ns,
				 cmd->deployment, hi, KL__ANN_MAX);
		refuse(re, reply, req, user, "set-replicas", R_DENIED, 403, why);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		refuse(re, reply, req, user, "set-replicas", R_ERROR, 500, "out of memory");
		return;
	}
	p->re = re;
	p->req = req;
	p->reply = reply;
	p->cmd = *cmd;
	snprintf(p->user, sizeof(p->user), "%s", user);
	/* a pending restore keeps the count from before the first temporary scale */
	if (kl__replica_scale(re, d, cmd->replicas, restore_at, pending_to >= 0 ? pending_to : old,
			      user, "chatops", scaled, p) < 0) {
		free(p);
		refuse(re, reply, req, user, "set-replicas", R_ERROR, 500,
		       "cannot start the change");
	}
}

/* Authorized or not, found or not, then the answer or the scale: Slack's and the API's. */
static void run_command(struct replica_enforcer *re, const struct kl__replica_reply *reply,
			struct kl_httpd_req *req, const char *user, const struct kl_cmd *cmd)
{
	const struct kl_deployment *d;
	char why[1024];
	int old;

	if (cmd->verb == KL_CMD_HELP) {
		struct kl_buf help;

		/* the silence verbs too when this process serves them (silences.h) */
		kl_buf_init(&help);
		kl_chat_help(&help, true, re->ctx->silences && re->chatops);
		audit(re, user, "help", R_SUCCESS, NULL);
		reply->help(req, kl_buf_str(&help) ? kl_buf_str(&help) : kl_cmd_help());
		kl_buf_free(&help);
		return;
	}
	if (!kl_chatops_authorize(&re->ctx->config->chatops, user, cmd->ns,
				  cmd->verb == KL_CMD_SET ? cmd->replicas : -1, why, sizeof(why))) {
		refuse(re, reply, req, user, cmd_name(cmd), R_DENIED, 403, why);
		return;
	}
	if (!kl_informer_synced(re->deployments)) {
		refuse(re, reply, req, user, cmd_name(cmd), R_ERROR, 503,
		       "not ready yet: the Deployments are still being listed; try again");
		return;
	}
	d = kl__replica_find(re, cmd->ns, cmd->deployment);
	if (!d) {
		snprintf(why, sizeof(why), "Deployment %s not found in namespace %s",
			 cmd->deployment, cmd->ns);
		refuse(re, reply, req, user, cmd_name(cmd), R_INVALID, 404, why);
		return;
	}
	if (cmd->verb == KL_CMD_SET) {
		run_set(re, reply, req, user, cmd, d);
		return;
	}
	old = d->spec_replicas < 0 ? 1 : d->spec_replicas;
	snprintf(why, sizeof(why), "Replicas of %s in %s: %d (ready %d)", cmd->deployment, cmd->ns,
		 old, d->ready_replicas);
	audit(re, user, "get-replicas", R_SUCCESS, why);
	reply->replicas(req, cmd, old, d->ready_replicas, why);
}

/* ---------------------------------------------------------------- Slack */

void kl__replica_serve_slack(struct kl_httpd_req *req, void *arg)
{
	const struct kl__replica_reply *reply = &kl__replica_reply_slack;
	struct replica_enforcer *re = arg;
	const struct kl_chatops_conf *conf = &re->ctx->config->chatops;
	const char *ts = kl_httpd_req_header(req, "X-Slack-Request-Timestamp");
	const char *sig = kl_httpd_req_header(req, "X-Slack-Signature");
	char why[300], text[1024], user[128];
	struct kl_cmd cmd;
	size_t len;
	const char *body = kl_httpd_req_body(req, &len);

	if (!conf->slack_signing_secret) {
		reject(re, reply, req, NULL, R_UNAUTH, 401,
		       "slack commands are not configured (chatops.slack_signing_secret_file)");
		return;
	}
	if (kl_slack_verify(conf->slack_signing_secret, ts ? ts : "", sig ? sig : "", body, len,
			    kl_clock_wall_s(re->ctx->clock), why, sizeof(why)) < 0) {
		reject(re, reply, req, NULL, R_UNAUTH, 401, why);
		return;
	}
	if (kl_form_get(body, len, "text", text, sizeof(text)) < 0 ||
	    kl_form_get(body, len, "user_name", user, sizeof(user)) < 0 || !user[0]) {
		reject(re, reply, req, NULL, R_INVALID, 400,
		       "not a slash command: text and user_name are required");
		return;
	}
	/* the silence commands are not the enforcer's: controllers/silences.h runs them */
	if (kl_scmd_is_ours(text)) {
		kl_silences_serve_slack_text(re->ctx->silences, req, user, text);
		return;
	}
	if (kl_cmd_parse(text, re->ctx->config->cluster, re->conf->max_temporary_ms, &cmd, why,
			 sizeof(why)) < 0) {
		refuse(re, reply, req, user, "unknown", R_INVALID, 400, why);
		return;
	}
	run_command(re, reply, req, user, &cmd);
}

/* ---------------------------------------------------------------- the HTTP API */

void kl__replica_serve_api(struct kl_httpd_req *req, void *arg)
{
	const struct kl__replica_reply *reply = &kl__replica_reply_api;
	struct replica_enforcer *re = arg;
	const char *user = kl_bearer_user(&re->ctx->config->chatops,
					  kl_httpd_req_header(req, "Authorization"));
	struct kl_cmd cmd;
	char why[400];
	size_t len;
	const char *body = kl_httpd_req_body(req, &len);
	int rc;

	if (!user) {
		reject(re, reply, req, NULL, R_UNAUTH, 401,
		       "a valid Authorization: Bearer token is required");
		return;
	}
	rc = kl_cmd_parse_json(body, len, re->ctx->config->cluster, re->conf->max_temporary_ms,
			       &cmd, why, sizeof(why));
	if (rc == -EINVAL) {
		refuse(re, reply, req, user, cmd_name(&cmd), R_INVALID, 400, why);
		return;
	}
	if (rc < 0) {
		reject(re, reply, req, user, R_INVALID, 400, why);
		return;
	}
	run_command(re, reply, req, user, &cmd);
}
