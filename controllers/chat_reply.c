/*
 * controllers/chat_reply.c - the chat-ops answers shared by the replica enforcer and
 * the silences (see chat_reply.h).
 */
#include "controllers/chat_reply.h"

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
