/*
 * controllers/command.h - the chat command grammar (docs/chatops.md): "set-replicas NS DEPLOY N [for DURATION]" and its kin, from text.
 *
 * Pure functions over bytes, so they can be unit-tested and fuzzed on their own;
 * Slack's text and the HTTP API's JSON body both become this one grammar.
 */
#ifndef KL_CONTROLLERS_COMMAND_H
#define KL_CONTROLLERS_COMMAND_H

#include <stddef.h>
#include <stdint.h>

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
 * "set-replicas: for 48h is longer than the allowed 24h"). err may be NULL with
 * errlen 0.
 */
int kl_cmd_parse(const char *text, const char *cluster, uint64_t max_temporary_ms,
		 struct kl_cmd *out, char *err, size_t errlen);
/*
 * The HTTP API's body, {"namespace": NS, "deployment": DEPLOY[, "replicas": N[, "for":
 * DURATION]]}: a get-replicas without replicas, else a set-replicas, parsed as that
 * command (cluster and max_temporary_ms as kl_cmd_parse). Returns 0; -EINVAL when the
 * command it makes is refused by the grammar (out->verb says which command, err
 * why); or, when the body is no such object, -EBADMSG (-ENOMEM, or the JSON
 * parser's error) with err saying what is expected.
 */
int kl_cmd_parse_json(const char *body, size_t len, const char *cluster,
		      uint64_t max_temporary_ms, struct kl_cmd *out, char *err, size_t errlen);
/* The help text listing the grammar (for "help" and for errors). */
const char *kl_cmd_help(void);

#endif
