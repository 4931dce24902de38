/*
 * controllers/crash_watcher.h - tells a namespace's team when its pods are stuck
 * in CrashLoopBackOff (or another configured waiting reason), with the evidence.
 */
#ifndef KL_CONTROLLERS_CRASH_WATCHER_H
#define KL_CONTROLLERS_CRASH_WATCHER_H

#include <stdint.h>

#include "controllers/controller.h"

struct kl_crash_watcher_conf {
	struct kl_strv reasons;	     /* waiting reasons that count as a crash */
	uint64_t for_ms;	     /* how long before pending turns firing */
	uint64_t repeat_interval_ms; /* re-notify a firing alert this often */
	unsigned log_lines;	     /* tail of the previous container's log */
};

extern const struct kl_conf_key kl_crash_watcher_keys[];
void kl_crash_watcher_defaults(void *conf);
int kl_crash_watcher_check(const void *conf, const struct kl_conf_node *section, const char *file,
			   struct kl_error *err);
extern const struct kl_controller_ops kl_crash_watcher_ops;

#endif
