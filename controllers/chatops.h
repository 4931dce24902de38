/*
 * controllers/chatops.h - chat-ops authorization: the allow list of the config's
 * chatops section (docs/chatops.md) says who may read or scale
 * which namespaces, and up to how many replicas.
 *
 * The rest of the chat-ops front door has one header per noun, each a pure function
 * over bytes: controllers/command.h (the grammar), slack.h (request signatures),
 * form.h (form bodies), bearer.h (API tokens). The replica enforcer does the I/O.
 */
#ifndef KL_CONTROLLERS_CHATOPS_H
#define KL_CONTROLLERS_CHATOPS_H

#include <stddef.h>

#include "config/config.h"

/*
 * Deny unless an allow entry matches user (exactly) and ns (glob) and replicas <=
 * its max_replicas (replicas < 0: a read, no bound). Returns the entry (borrowed
 * from c), or NULL with why ("alex.guerra may not scale in kube-system", "at most
 * 20 replicas for alex.guerra in moc-pricing").
 */
const struct kl_allow_conf *kl_chatops_authorize(const struct kl_chatops_conf *c,
						 const char *user, const char *ns, int replicas,
						 char *why, size_t len);

/*
 * Deny unless an allow entry with silence: true matches user (exactly) and ns (glob):
 * who may silence (and unsilence) ns's alerts. Returns the entry, or NULL with why
 * ("alex.guerra may not silence alerts in kube-system").
 */
const struct kl_allow_conf *kl_chatops_authorize_silence(const struct kl_chatops_conf *c,
							 const char *user, const char *ns,
							 char *why, size_t len);

#endif
