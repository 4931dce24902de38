/*
 * controllers/replica_reply.c - how the replica enforcer answers chat-ops requests:
 * Slack slash commands and the HTTP API (see struct kl__replica_reply).
 *
 * Slack shows the user nothing but a 200's body, so everything a user should read
 * (a refusal included) is a 200 with a message: in_channel for what happened,
 * ephemeral for refusals and help. Only a request that is not Slack's at all (bad
 * signature, not a slash command) gets an error status. The API answers JSON with
 * the status saying what happened.
 */
#include "controllers/replica_internal.h"

#include <string.h>

#include "controllers/chat_reply.h"
#include "util/buf.h"

/* ---------------------------------------------------------------- Slack */

static void slack_reject(struct kl_httpd_req *req, int status, const char *why)
{
	kl_httpd_respond(req, status, NULL, NULL, why, strlen(why));
}

static void slack_refuse(struct kl_httpd_req *req, int status, const char *why)
{
	kl_chat_slack_message(req, false, why);
}

static void slack_help(struct kl_httpd_req *req, const char *text)
{
	kl_chat_slack_message(req, false, text);
}

static void slack_replicas(struct kl_httpd_req *req, const struct kl_cmd *cmd, int replicas,
			   int ready, const char *text)
{
	kl_chat_slack_message(req, true, text);
}

static void slack_scaled(struct kl_httpd_req *req, const struct kl_cmd *cmd, int old, int replicas,
			 const char *restore_at, bool dry_run, const char *text)
{
	kl_chat_slack_message(req, true, text);
}

const struct kl__replica_reply kl__replica_reply_slack = {
	.reject = slack_reject,
	.refuse = slack_refuse,
	.help = slack_help,
	.replicas = slack_replicas,
	.scaled = slack_scaled,
};

/* ---------------------------------------------------------------- the HTTP API */

static void api_error(struct kl_httpd_req *req, int status, const char *why)
{
	struct kl_buf b;

	kl_buf_init(&b);
	kl_buf_puts(&b, "{\"error\":");
	kl_buf_json_string(&b, why);
	kl_buf_puts(&b, "}");
	kl_httpd_respond(req, status, "application/json", NULL, kl_buf_str(&b) ? b.p : "{}",
			 kl_buf_str(&b) ? b.len : 2);
	kl_buf_free(&b);
}

/* The API has no help command (its body is a get or a set); answered as JSON anyway. */
static void api_help(struct kl_httpd_req *req, const char *text)
{
	struct kl_buf b;

	kl_buf_init(&b);
	kl_buf_puts(&b, "{\"help\":");
	kl_buf_json_string(&b, text);
	kl_buf_puts(&b, "}");
	kl_chat_respond_json(req, 200, &b);
}

/* {"namespace":..,"deployment":.. - the start of every answer about one Deployment */
static void api_target(struct kl_buf *b, const struct kl_cmd *cmd)
{
	kl_buf_puts(b, "{\"namespace\":");
	kl_buf_json_string(b, cmd->ns);
	kl_buf_puts(b, ",\"deployment\":");
	kl_buf_json_string(b, cmd->deployment);
}

static void api_replicas(struct kl_httpd_req *req, const struct kl_cmd *cmd, int replicas,
			 int ready, const char *text)
{
	struct kl_buf b;

	kl_buf_init(&b);
	api_target(&b, cmd);
	kl_buf_printf(&b, ",\"replicas\":%d,\"ready_replicas\":%d}", replicas, ready);
	kl_chat_respond_json(req, 200, &b);
}

static void api_scaled(struct kl_httpd_req *req, const struct kl_cmd *cmd, int old, int replicas,
		       const char *restore_at, bool dry_run, const char *text)
{
	struct kl_buf b;

	kl_buf_init(&b);
	api_target(&b, cmd);
	kl_buf_printf(&b, ",\"old_replicas\":%d,\"replicas\":%d,\"restore_at\":", old, replicas);
	if (restore_at[0])
		kl_buf_json_string(&b, restore_at);
	else
		kl_buf_puts(&b, "null");
	kl_buf_printf(&b, ",\"dry_run\":%s}", dry_run ? "true" : "false");
	kl_chat_respond_json(req, 200, &b);
}

const struct kl__replica_reply kl__replica_reply_api = {
	.reject = api_error,
	.refuse = api_error,
	.help = api_help,
	.replicas = api_replicas,
	.scaled = api_scaled,
};
