/*
 * controllers/replica_enforcer.h - the SRE chat-bot: scale Deployments from chat,
 * restore temporary scales on time, keep Deployments inside annotated bounds.
 */
#ifndef KL_CONTROLLERS_REPLICA_ENFORCER_H
#define KL_CONTROLLERS_REPLICA_ENFORCER_H

#include <stdint.h>

#include "controllers/controller.h"

struct kl_replica_enforcer_conf {
	uint64_t max_temporary_ms; /* longest "for DURATION" a command may ask */
};

extern const struct kl_conf_key kl_replica_enforcer_keys[];
void kl_replica_enforcer_defaults(void *conf);
int kl_replica_enforcer_check(const void *conf, const struct kl_conf_node *section,
			      const char *file, struct kl_error *err);
extern const struct kl_controller_ops kl_replica_enforcer_ops;

#endif
