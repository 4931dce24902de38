/*
 * controllers/interactive.h - Slack's interactive payloads (a click on a button of an
 * alert message, issue 15): the form field "payload" holding JSON of type
 * "block_actions", read into the one thing Kloompas acts on.
 *
 * A pure function over bytes, unit-tested and fuzzed (test/fuzz/fuzz_interactive.c).
 * The buttons Kloompas sends (notify/slack.c) carry action_id "kl_silence_1h",
 * "kl_silence_1d" or "kl_alerts" and value "NAMESPACE CONTROLLER"; the value is trusted
 * no further than the signature: the command it makes is parsed by the silence grammar
 * and the clicking user is authorized again.
 */
#ifndef KL_CONTROLLERS_INTERACTIVE_H
#define KL_CONTROLLERS_INTERACTIVE_H

#include <stddef.h>

struct kl_interactive {
	char user[128];		/* user.username, else user.name */
	char text[200];		/* the command the click means: "silence NS CONTROLLER 1h" */
	char response_url[512]; /* where the answer goes (to be checked by the caller) */
};

/*
 * Parses the JSON of a payload (not the form around it). Returns 0; -EBADMSG with
 * err saying why when it is not a block_actions payload with a user, a response_url
 * and one known action; or -ENOMEM.
 */
int kl_interactive_parse(const char *json, size_t len, struct kl_interactive *out, char *err,
			 size_t errlen);

#endif
