/*
 * controllers/chatops.h - the chat-ops front door: command grammar, Slack request
 * verification, bearer tokens, form bodies and the allow list (SPEC: Replica
 * enforcer and chat-ops).
 *
 * Everything here is a pure function over bytes, so each can be unit-tested and
 * fuzzed on its own; the replica enforcer does the I/O. Secrets are compared in
 * constant time and never copied into an error message.
 */
#ifndef KL_CONTROLLERS_CHATOPS_H
#define KL_CONTROLLERS_CHATOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

enum kl_cmd_verb { KL_CMD_SET, KL_CMD_GET, KL_CMD_HELP };

#define KL_NAME_MAX 253 /* a DNS subdomain: namespaces and Deployment names */

struct kl_cmd {
	enum kl_cmd_verb verb;
	char ns[KL_NAME_MAX + 1];
	char deployment[KL_NAME_MAX + 1];
	int replicas;	 /* KL_CMD_SET */
	uint64_t for_ms; /* KL_CMD_SET with "for DURATION"; 0 otherwise */
};

/*
 * Parses a command:  set-replicas NS DEPLOY N [for DURATION] | get-replicas NS DEPLOY
 * | help | !CLUSTER-set-replicas NS DEPLOY N (CLUSTER matched case-insensitively
 * with cluster). Words are separated by spaces/tabs; a leading "/kloompas"-style
 * slash command name is not part of text. N is a non-negative integer (at most
 * 100000); DURATION as util/duration.h, above 0 and at most max_temporary_ms.
 * Names must be valid Kubernetes names (lowercase RFC 1123 labels/subdomains).
 * Returns 0, or -EINVAL with a message for the user in err (e.g. "unknown command
 * \"scale\"; try help", "set-replicas: N must be a non-negative integer, got \"-1\"",
 * "set-replicas: for 48h is longer than the allowed 24h").
 */
int kl_cmd_parse(const char *text, const char *cluster, uint64_t max_temporary_ms,
		 struct kl_cmd *out, char *err, size_t errlen);
/* The help text listing the grammar (for "help" and for errors). */
const char *kl_cmd_help(void);

/*
 * Verifies a Slack request: signature must be "v0=" + hex HMAC-SHA256(secret,
 * "v0:" TIMESTAMP ":" BODY), compared in constant time; TIMESTAMP must be within
 * 300 s of now_s. Returns 0, -EACCES (bad or missing signature) or -ETIME (stale or
 * bad timestamp), with a reason in err that contains no secret.
 */
int kl_slack_verify(const char *secret, const char *timestamp, const char *signature,
		    const char *body, size_t len, int64_t now_s, char *err, size_t errlen);

/*
 * Finds key in an application/x-www-form-urlencoded body and URL-decodes its value
 * ('+' is a space) into out (NUL-terminated). Returns 0, -ENOENT when absent,
 * -EINVAL for a bad %-escape, -E2BIG when out is too small.
 */
int kl_form_get(const char *body, size_t len, const char *key, char *out, size_t outlen);

/*
 * The user an "Authorization: Bearer TOKEN" header belongs to (tokens from
 * api_tokens_file), compared in constant time; NULL when none matches or the
 * header is malformed.
 */
const char *kl_bearer_user(const struct kl_chatops_conf *c, const char *authorization);

/*
 * Deny unless an allow entry matches user (exactly) and ns (glob) and replicas <=
 * its max_replicas (replicas < 0: a read, no bound). Returns the entry, or NULL with
 * why ("alex.guerra may not scale in kube-system", "at most 20 replicas for
 * alex.guerra in moc-pricing").
 */
const struct kl_allow_conf *kl_chatops_authorize(const struct kl_chatops_conf *c,
						 const char *user, const char *ns, int replicas,
						 char *why, size_t len);

#endif
