/*
 * controllers/chat_reply.h - the two answers every chat-ops handler gives the same way:
 * a JSON body (or a 500 when building it ran out of memory) and Slack's message
 * ({"response_type": "in_channel"|"ephemeral", "text": TEXT}, always a 200, as Slack
 * shows the user nothing else). Shared by the replica enforcer (replica_reply.c) and
 * the silences (silence_chatops.c) so both say things byte for byte alike.
 */
#ifndef KL_CONTROLLERS_CHAT_REPLY_H
#define KL_CONTROLLERS_CHAT_REPLY_H

#include <stdbool.h>

#include "util/buf.h"
#include "util/httpd.h"

/* Answers b as JSON with status, or 500 when building it ran out of memory; frees b. */
void kl_chat_respond_json(struct kl_httpd_req *req, int status, struct kl_buf *b);
/* Slack's 200 with text, seen by the channel (in_channel) or the user alone. */
void kl_chat_slack_message(struct kl_httpd_req *req, bool in_channel, const char *text);
/*
 * The answer to help into out: the replica commands (replicas) and the silence
 * commands (silences) this process serves, then help itself and the durations.
 */
void kl_chat_help(struct kl_buf *out, bool replicas, bool silences);

#endif
