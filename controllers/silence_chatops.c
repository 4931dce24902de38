/*
 * controllers/silence_chatops.c - the silence commands from chat: Slack slash commands
 * (handed over by the /slack/commands handler when the verb is one of ours), POST
 * /api/v1/silences (bearer tokens, {"command": "silence ..."}) and POST
 * /slack/interactive (the buttons of alert messages).
 *
 * All three become one command of the silence grammar (silence_cmd.h) run by
 * run_command as the user who sent it: authorized by the allow list (silence: true
 * to set or end, any entry for the namespace to read), then applied to the store.
 * Outcomes are logged and counted in kloompas_chatops_commands_total like the replica
 * commands. A button's answer goes to the payload's response_url, whose host must be
 * on chatops.response_url_hosts (default hooks.slack.com): a signed payload cannot make
 * Kloompas post anywhere else. A signature seen within Slack's five minutes is a
 * replay and refused.
 *
 * Only the leader holds the silences and the alerts: on a follower each handler
 * checks the request (signature or token) and then hands it, unchanged, to the leader
 * (chat_forward.h), whose answer is relayed; the leader checks it all again.
 */
#include "controllers/silences_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controllers/bearer.h"
#include "controllers/chat_forward.h"
#include "controllers/chat_reply.h"
#include "controllers/chatops.h"
#include "controllers/form.h"
#include "controllers/interactive.h"
#include "controllers/silence_cmd.h"
#include "controllers/slack.h"
#include "kubeclient/json.h"
#include "util/rfc3339.h"

enum result { R_SUCCESS, R_DENIED, R_INVALID, R_UNAUTH, R_ERROR };
static const char *const result_names[] = { "success", "denied", "invalid", "unauthenticated",
					    "error" };

void kl__silence_chat_init(struct kl_silences *s)
{
	size_t i, n = 0;

	for (i = 0; kl_controllers[i].name && n + 1 < 16; i++)
		s->chat.controllers[n++] = kl_controllers[i].name;
}

/*
 * The replica enforcer's counter when it runs (it registers it at its init, after the
 * store exists), else ours under the same name: looked up at the first command.
 */
static struct kl_metric *commands_metric(struct kl_silences *s)
{
	static const char *const labels[] = { "command", "result", NULL };
	struct kl_metrics *m = s->ctx->metrics;

	if (s->chat.m_commands || !m)
		return s->chat.m_commands;
	s->chat.m_commands = kl_metrics_find(m, "kloompas_chatops_commands_total");
	if (!s->chat.m_commands)
		s->chat.m_commands = kl_metrics_counter(m, "kloompas_chatops_commands_total",
							"Chat-ops commands by command and result.",
							labels);
	return s->chat.m_commands;
}

struct kl_http *kl__silences_http(struct kl_silences *s)
{
	if (!s->chat.http) /* no log: response_urls and notifier URLs are secrets */
		s->chat.http = kl_http_new(s->ctx->loop, NULL);
	return s->chat.http;
}

bool kl__silence_chat_close(struct kl_silences *s, void (*cb)(void *arg))
{
	if (!s->chat.http)
		return false;
	kl_http_close(s->chat.http, cb, s);
	s->chat.http = NULL;
	return true;
}

static void audit(struct kl_silences *s, const char *user, const char *cmd, enum result r,
		  const char *detail)
{
	const char *v[] = { cmd, result_names[r] };

	if (commands_metric(s))
		kl_metric_inc(s->chat.m_commands, v);
	kl_log_info(s->ctx->log, "chatops", "command", "user", user ? user : "-", "command", cmd,
		    "result", result_names[r], "detail", detail ? detail : "");
}

/* ---------------------------------------------------------------- commands */

/* What a command came to: the API's status and the text for the user. */
struct outcome {
	int status;
	bool in_channel; /* Slack: everyone sees it (a change), else the user alone */
	struct kl_buf text;
};

static enum result say(struct outcome *o, int status, enum result r, const char *text)
{
	o->status = status;
	kl_buf_puts(&o->text, text);
	return r;
}

struct listing {
	struct kl_silences *s;
	const char *user;
	struct kl_buf *out;
};

static bool may_read(struct kl_silences *s, const char *user, const char *ns)
{
	char why[256];

	return kl_chatops_authorize(&s->ctx->config->chatops, user, ns, -1, why, sizeof(why));
}

static void list_one(void *arg, const struct kl_silence *si)
{
	struct listing *l = arg;
	char until[KL_RFC3339_LEN], at[KL_RFC3339_LEN];

	if (!may_read(l->s, l->user, si->ns))
		return;
	kl_buf_printf(l->out, "%s %s until %s, by %s at %s%s%s\n", si->ns,
		      si->controller ? si->controller : "(all controllers)",
		      kl_rfc3339_format(si->until_ms / 1000, until), si->by,
		      kl_rfc3339_format(si->at_ms / 1000, at), *si->reason ? ": " : "",
		      si->reason);
}

/* The lines of all (one per alert, each starting with its namespace) the user may read. */
static void filter_lines(struct kl_silences *s, const char *user, const char *all,
			 struct kl_buf *out)
{
	char ns[64];

	while (all && *all) {
		const char *eol = strchr(all, '\n');
		size_t len = eol ? (size_t)(eol - all + 1) : strlen(all);
		size_t nl = strcspn(all, " \n");

		snprintf(ns, sizeof(ns), "%.*s", (int)(nl < sizeof(ns) ? nl : sizeof(ns) - 1), all);
		if (may_read(s, user, ns))
			kl_buf_add(out, all, len);
		all += len;
	}
}

static enum result run_list(struct kl_silences *s, const char *user, const struct kl_scmd *c,
			    struct outcome *o)
{
	struct listing l = { s, user, &o->text };
	const char *ns = c->ns[0] ? c->ns : NULL;
	struct kl_buf all;
	char why[300];

	if (ns && !may_read(s, user, ns)) {
		snprintf(why, sizeof(why), "%s may not read %s", user, ns);
		return say(o, 403, R_DENIED, why);
	}
	o->status = 200;
	if (c->verb == KL_SCMD_SILENCES) {
		kl_silences_foreach(s, ns, list_one, &l);
		if (!o->text.len)
			kl_buf_puts(&o->text, "No silences.");
		return R_SUCCESS;
	}
	kl_buf_init(&all);
	kl_silences_list_alerts(s, ns, &all);
	filter_lines(s, user, kl_buf_str(&all), &o->text);
	kl_buf_free(&all);
	if (!o->text.len)
		kl_buf_puts(&o->text, "No alerts firing.");
	return R_SUCCESS;
}

static enum result run_change(struct kl_silences *s, const char *user, const struct kl_scmd *c,
			      struct outcome *o)
{
	const char *ctl = c->controller[0] ? c->controller : NULL;
	char why[300], until[KL_RFC3339_LEN];
	int64_t until_ms = kl_clock_wall_ms(s->ctx->clock) + (int64_t)c->for_ms;
	int rc;

	if (!kl_chatops_authorize_silence(&s->ctx->config->chatops, user, c->ns, why,
					  sizeof(why)))
		return say(o, 403, R_DENIED, why);
	if (c->verb == KL_SCMD_UNSILENCE) {
		rc = kl_silences_end(s, c->ns, ctl);
		o->status = 200;
		o->in_channel = rc > 0;
		kl_buf_printf(&o->text, "%s ended %d silence(s) of %s%s%s", user, rc, c->ns,
			      ctl ? " " : "", ctl ? ctl : "");
		return R_SUCCESS;
	}
	rc = kl_silences_set(s, c->ns, ctl, user, c->reason, until_ms);
	if (rc == -ENOSPC)
		return say(o, 409, R_ERROR, "too many silences (at most 1000); end some first");
	if (rc < 0)
		return say(o, 500, R_ERROR, "cannot store the silence");
	o->status = 200;
	o->in_channel = true;
	kl_buf_printf(&o->text, "%s silenced %s (%s) until %s", user, c->ns,
		      ctl ? ctl : "all controllers", kl_rfc3339_format(until_ms / 1000, until));
	if (c->reason[0])
		kl_buf_printf(&o->text, ": %s", c->reason);
	return R_SUCCESS;
}

/* Parses and runs text as user; o says the outcome. Audited. */
static void run_command(struct kl_silences *s, const char *user, const char *text,
			struct outcome *o)
{
	struct kl_scmd c;
	char err[300];
	enum result r;

	kl_buf_init(&o->text);
	o->in_channel = false;
	if (kl_scmd_parse(text, s->chat.controllers, s->ctx->config->chatops.max_silence_ms, &c,
			  err, sizeof(err)) < 0) {
		r = say(o, 400, R_INVALID, err);
		audit(s, user, "unknown", r, err);
		return;
	}
	if (!s->started) /* a follower holds no silences and no alerts */
		r = say(o, 503, R_ERROR,
			"silences are kept by the leader, which has not read its state yet; "
			"try again");
	else if (c.verb == KL_SCMD_SILENCE || c.verb == KL_SCMD_UNSILENCE)
		r = run_change(s, user, &c, o);
	else
		r = run_list(s, user, &c, o);
	audit(s, user, kl_scmd_name(c.verb), r, kl_buf_str(&o->text));
}

/* ---------------------------------------------------------------- answers */

/* A follower holds no silences: the (verified) request goes to the leader. */
static bool forwarded(struct kl_silences *s, struct kl_httpd_req *req)
{
	if (!kl_chat_forward_wanted(s->ctx->forward))
		return false;
	kl_chat_forward(s->ctx->forward, req);
	return true;
}


static void api_answer(struct kl_httpd_req *req, int status, const char *key, const char *text)
{
	struct kl_buf b;

	kl_buf_init(&b);
	kl_buf_printf(&b, "{\"%s\":", key);
	kl_buf_json_string(&b, text ? text : "out of memory");
	kl_buf_puts(&b, "}");
	kl_chat_respond_json(req, status, &b);
}

void kl_silences_serve_slack_text(struct kl_silences *s, struct kl_httpd_req *req,
				  const char *user, const char *text)
{
	struct outcome o;

	if (!s) {
		kl_chat_slack_message(req, false, "silences are not available in this process");
		return;
	}
	if (forwarded(s, req))
		return;
	run_command(s, user, text, &o);
	kl_chat_slack_message(req, o.in_channel, kl_buf_str(&o.text));
	kl_buf_free(&o.text);
}

/* POST /api/v1/silences: {"command": "silence NS [CONTROLLER] DURATION [REASON...]"}. */
static int on_api_body(void *arg, enum kl_json_what what, const struct kl_json *v)
{
	char *cmd = arg;
	const char *c = kl_json_str(kl_json_get(v, "command"), NULL);

	if (c && strlen(c) < 512)
		snprintf(cmd, 512, "%s", c);
	return 0;
}

static void serve_api(struct kl_httpd_req *req, void *arg)
{
	struct kl_silences *s = arg;
	const char *user = kl_bearer_user(&s->ctx->config->chatops,
					  kl_httpd_req_header(req, "Authorization"));
	char cmd[512] = "";
	struct kl_json_stream *js;
	struct kl_error err;
	struct outcome o;
	size_t len;
	const char *body = kl_httpd_req_body(req, &len);

	if (!user) {
		audit(s, NULL, "unknown", R_UNAUTH, "no valid bearer token");
		api_answer(req, 401, "error", "a valid Authorization: Bearer token is required");
		return;
	}
	if (forwarded(s, req))
		return;
	js = kl_json_stream_new(KL_JSON_DOCUMENT, 4096, on_api_body, cmd);
	kl_error_clear(&err);
	if (!js || kl_json_stream_feed(js, body, len, &err) < 0 ||
	    kl_json_stream_finish(js, &err) < 0 || !cmd[0] || !kl_scmd_is_ours(cmd)) {
		kl_json_stream_free(js);
		audit(s, user, "unknown", R_INVALID, "bad body");
		api_answer(req, 400, "error",
			   "the body must be {\"command\": \"silence|unsilence|silences|alerts "
			   "...\"}");
		return;
	}
	kl_json_stream_free(js);
	run_command(s, user, cmd, &o);
	api_answer(req, o.status, o.status == 200 ? "result" : "error", kl_buf_str(&o.text));
	kl_buf_free(&o.text);
}

/* ---------------------------------------------------------------- Slack */

/* Verified and not seen before (a replay within the five minutes Slack allows): 0. */
static int verify(struct kl_silences *s, struct kl_httpd_req *req, const char *body, size_t len,
		  char *why, size_t whylen)
{
	const struct kl_chatops_conf *conf = &s->ctx->config->chatops;
	const char *ts = kl_httpd_req_header(req, "X-Slack-Request-Timestamp");
	const char *sig = kl_httpd_req_header(req, "X-Slack-Signature");
	int64_t now = kl_clock_wall_s(s->ctx->clock);
	struct kl__replay *r;
	size_t i;

	if (!conf->slack_signing_secret) {
		snprintf(why, whylen, "slack is not configured (chatops.slack_signing_secret_file)");
		return -EACCES;
	}
	if (kl_slack_verify(conf->slack_signing_secret, ts ? ts : "", sig ? sig : "", body, len,
			    now, why, whylen) < 0)
		return -EACCES;
	for (i = 0; i < KL__REPLAYS; i++) {
		r = &s->chat.replays[i];
		if (r->ts && now - r->ts <= 600 && strcmp(r->sig, sig) == 0) {
			snprintf(why, whylen, "replayed request (this signature was seen before)");
			return -EACCES;
		}
	}
	r = &s->chat.replays[s->chat.next_replay++ % KL__REPLAYS];
	snprintf(r->sig, sizeof(r->sig), "%s", sig);
	r->ts = now;
	return 0;
}

/* verify, or the request is answered 401 (audited): false. */
static bool verified(struct kl_silences *s, struct kl_httpd_req *req, const char *body,
		     size_t len)
{
	char why[300];

	if (verify(s, req, body, len, why, sizeof(why)) == 0)
		return true;
	audit(s, NULL, "unknown", R_UNAUTH, why);
	kl_httpd_respond(req, 401, NULL, NULL, why, strlen(why));
	return false;
}

/* Whether text is the word help alone, blanks around it allowed. */
static bool is_help(const char *text)
{
	text += strspn(text, " \t");
	if (strncmp(text, "help", 4) != 0)
		return false;
	text += 4;
	return !text[strspn(text, " \t")];
}

static void serve_slack(struct kl_httpd_req *req, void *arg)
{
	struct kl_silences *s = arg;
	char text[1024], user[128];
	size_t len;
	const char *body = kl_httpd_req_body(req, &len);

	if (!verified(s, req, body, len))
		return;
	if (forwarded(s, req))
		return;
	if (kl_form_get(body, len, "text", text, sizeof(text)) < 0 ||
	    kl_form_get(body, len, "user_name", user, sizeof(user)) < 0 || !user[0]) {
		audit(s, NULL, "unknown", R_INVALID, "not a slash command");
		kl_httpd_respond(req, 400, NULL, NULL, "not a slash command", 19);
		return;
	}
	if (is_help(text)) {
		struct kl_buf help;

		kl_buf_init(&help);
		kl_chat_help(&help, false, true);
		audit(s, user, "help", R_SUCCESS, NULL);
		kl_chat_slack_message(req, false, kl_buf_str(&help));
		kl_buf_free(&help);
		return;
	}
	kl_silences_serve_slack_text(s, req, user, text);
}

/* Whether url is http(s)://HOST[:PORT][/...] with HOST on the allow list. */
bool kl_silences_url_allowed(const struct kl_strv *hosts, const char *url)
{
	static const char *const def[] = { "hooks.slack.com" };
	const char *p = url, *end;
	size_t i, n, nh = hosts && hosts->n ? hosts->n : 1;

	if (strncmp(p, "https://", 8) == 0)
		p += 8;
	else if (strncmp(p, "http://", 7) == 0)
		p += 7;
	else
		return false;
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)) || memchr(p, '\\', (size_t)(end - p)))
		return false;
	n = strcspn(p, ":/?#");
	if (!n)
		return false;
	for (i = 0; i < nh; i++) {
		const char *h = hosts && hosts->n ? hosts->v[i] : def[i];

		if (h && strlen(h) == n && strncasecmp(h, p, n) == 0)
			return true;
	}
	return false;
}

static void posted(void *arg, int status, int code, int retry_after_s, const char *msg)
{
	struct kl_silences *s = arg;
	char c[16];

	snprintf(c, sizeof(c), "%d", code);
	if (status < 0 || code < 200 || code > 299)
		kl_log_warn(s->ctx->log, "chatops", "response_url post failed", "status", c,
			    "error", status < 0 ? strerror(-status) : "");
}

/* The answer to a click, posted to the payload's response_url. */
static void post_response(struct kl_silences *s, const char *url, bool replace, const char *text)
{
	static const char *const headers[] = { "Content-Type: application/json", NULL };
	struct kl_http_opts ho = { 0 };
	struct kl_buf b;

	if (!kl__silences_http(s))
		return;
	kl_buf_init(&b);
	kl_buf_printf(&b, "{\"replace_original\":%s,\"response_type\":\"%s\",\"text\":",
		      replace ? "true" : "false", replace ? "in_channel" : "ephemeral");
	kl_buf_json_string(&b, text ? text : "");
	kl_buf_puts(&b, "}");
	if (kl_buf_str(&b)) {
		ho.method = "POST";
		ho.url = url;
		ho.headers = headers;
		ho.body = b.p;
		ho.body_len = b.len;
		ho.timeout_ms = 10000;
		ho.user_agent = "kloompas";
		if (kl_http_request(s->chat.http, &ho, NULL, posted, s, NULL) < 0)
			kl_log_warn(s->ctx->log, "chatops", "cannot post to response_url");
	}
	kl_buf_free(&b);
}

static void serve_interactive(struct kl_httpd_req *req, void *arg)
{
	struct kl_silences *s = arg;
	struct kl_interactive in;
	struct outcome o;
	char why[300];
	size_t len;
	const char *body = kl_httpd_req_body(req, &len);

	if (!verified(s, req, body, len))
		return;
	if (forwarded(s, req))
		return;
	{
		char *json = malloc(65536);
		int rc = json ? kl_form_get(body, len, "payload", json, 65536) : -ENOMEM;

		if (rc == 0)
			rc = kl_interactive_parse(json, strlen(json), &in, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "no payload field");
		free(json);
		if (rc < 0) {
			audit(s, NULL, "unknown", R_INVALID, why);
			kl_httpd_respond(req, 400, NULL, NULL, why, strlen(why));
			return;
		}
	}
	if (!kl_silences_url_allowed(&s->ctx->config->chatops.response_hosts, in.response_url)) {
		snprintf(why, sizeof(why), "response_url host is not on chatops.response_url_hosts");
		audit(s, in.user, "unknown", R_DENIED, why);
		kl_httpd_respond(req, 400, NULL, NULL, why, strlen(why));
		return;
	}
	run_command(s, in.user, in.text, &o);
	post_response(s, in.response_url, o.status == 200 && o.in_channel, kl_buf_str(&o.text));
	kl_buf_free(&o.text);
	kl_httpd_respond(req, 200, NULL, NULL, "", 0);
}

int kl_silences_routes(struct kl_silences *s, struct kl_httpd *chatops)
{
	int rc = kl_httpd_route(chatops, "/api/v1/silences", KL_HTTP_POST, serve_api, s);

	if (rc == 0)
		rc = kl_httpd_route(chatops, "/slack/interactive", KL_HTTP_POST, serve_interactive,
				    s);
	/* the replica enforcer's handler hands our verbs over; without it, ours */
	if (rc == 0) {
		rc = kl_httpd_route(chatops, "/slack/commands", KL_HTTP_POST, serve_slack, s);
		if (rc == -EEXIST)
			rc = 0;
	}
	return rc;
}
