/*
 * controllers/notready_watcher.h - tells a namespace's team when a large share of
 * its pods is not Ready, and when it recovers.
 */
#ifndef KL_CONTROLLERS_NOTREADY_WATCHER_H
#define KL_CONTROLLERS_NOTREADY_WATCHER_H

#include <stdint.h>

#include "controllers/controller.h"

struct kl_notready_watcher_conf {
	double threshold_percent; /* share of not-Ready pods that fires, 0..100 */
	unsigned min_pods;	  /* fewer eligible pods never fire */
	uint64_t min_age_ms;	  /* younger pods are not counted */
	uint64_t for_ms;
	uint64_t repeat_interval_ms;
};

extern const struct kl_conf_key kl_notready_watcher_keys[];
void kl_notready_watcher_defaults(void *conf);
int kl_notready_watcher_check(const void *conf, const struct kl_conf_node *section,
			      const char *file, struct kl_error *err);
extern const struct kl_controller_ops kl_notready_watcher_ops;

#endif
