/*
 * controllers/chat_reply.c - the chat-ops answers shared by the replica enforcer and
 * the silences (see chat_reply.h).
 */
#include "controllers/chat_reply.h"

#include <string.h>

#include "controllers/command.h"
#include "controllers/silence_cmd.h"

void kl_chat_respond_json(struct kl_httpd_req *req, int status, struct kl_buf *b)
{
	if (kl_buf_str(b))
		kl_httpd_respond(req, status, "application/json", NULL, b->p, b->len);
	else
		kl_httpd_respond(req, 500, NULL, NULL, "out of memory\n", 14);
	kl_buf_free(b);
}

void kl_chat_slack_message(struct kl_httpd_req *req, bool in_channel, const char *text)
{
	struct kl_buf b;

	kl_buf_init(&b);
	kl_buf_printf(&b, "{\"response_type\":\"%s\",\"text\":",
		      in_channel ? "in_channel" : "ephemeral");
	kl_buf_json_string(&b, text ? text : "out of memory");
	kl_buf_puts(&b, "}");
	kl_chat_respond_json(req, 200, &b);
}

void kl_chat_help(struct kl_buf *out, bool replicas, bool silences)
{
	static const char help_line[] = "  help  this text\n";
	const char *r = kl_cmd_help(), *h = strstr(r, help_line);

	/* kl_cmd_help(): "Commands:\n" its lines, the help line, the durations */
	if (!h)
		return;
	kl_buf_puts(out, "Commands:\n");
	if (replicas)
		kl_buf_add(out, r + strlen("Commands:\n"), (size_t)(h - r) - strlen("Commands:\n"));
	if (silences) {
		kl_buf_puts(out, kl_scmd_help());
		kl_buf_puts(out, "\n");
	}
	kl_buf_puts(out, help_line);
	kl_buf_puts(out, silences ? "Durations: 30m, 2h, 1h30m; silences also take days (1d, 7d)."
				  : h + strlen(help_line));
}
