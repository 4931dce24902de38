/*
 * controllers/silence_cmd.h - the grammar of the silence commands (issue 15): "silence
 * NAMESPACE [CONTROLLER] DURATION [REASON...]", "unsilence NAMESPACE [CONTROLLER]",
 * "silences [NAMESPACE]" and "alerts [NAMESPACE]".
 *
 * Pure functions over bytes like controllers/command.h, so they are unit-tested and
 * fuzzed on their own; Slack's text, the API's JSON body and a button's value all
 * become this one grammar. Kept apart from command.h so the replica commands' grammar
 * and help answer stay as they are.
 */
#ifndef KL_CONTROLLERS_SILENCE_CMD_H
#define KL_CONTROLLERS_SILENCE_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kl_scmd_verb { KL_SCMD_SILENCE, KL_SCMD_UNSILENCE, KL_SCMD_SILENCES, KL_SCMD_ALERTS };

#define KL_SCMD_REASON_MAX 200

struct kl_scmd {
	enum kl_scmd_verb verb;
	char ns[64];	     /* "" for silences/alerts without NAMESPACE */
	char controller[64]; /* "" for every controller */
	uint64_t for_ms;     /* KL_SCMD_SILENCE */
	char reason[KL_SCMD_REASON_MAX + 1];
};

/* Whether text's first word is one of the verbs above (the dispatch's question). */
bool kl_scmd_is_ours(const char *text);
/*
 * Parses text. controllers (NULL-terminated) are the names a CONTROLLER may take; the
 * word after NAMESPACE is a controller when it is not a duration. DURATION is above 0
 * and at most max_ms. REASON is the rest of the line (printable, shortened to
 * KL_SCMD_REASON_MAX bytes). Returns 0, or -EINVAL with a message for the user in err.
 */
int kl_scmd_parse(const char *text, const char *const *controllers, uint64_t max_ms,
		  struct kl_scmd *out, char *err, size_t errlen);
/* The verb's name ("silence"...), for the audit log and the metric. */
const char *kl_scmd_name(enum kl_scmd_verb v);
/* The help lines of these commands. */
const char *kl_scmd_help(void);

#endif
