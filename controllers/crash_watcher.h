/*
 * controllers/crash_watcher.h - tells a namespace's team when its pods are stuck
 * in CrashLoopBackOff (or another configured waiting reason), with the evidence;
 * and the crash rule itself (kl_crash_pod), which the not-ready watcher shares so
 * that a crash-looping pod is told about once, by the crash notice.
 */
#ifndef KL_CONTROLLERS_CRASH_WATCHER_H
#define KL_CONTROLLERS_CRASH_WATCHER_H

#include <stdbool.h>
#include <stdint.h>

#include "controllers/controller.h"
#include "kubeclient/objects.h"

struct kl_crash_watcher_conf {
	struct kl_strv reasons;	     /* waiting reasons that count as a crash */
	uint64_t for_ms;	     /* how long before pending turns firing */
	uint64_t repeat_interval_ms; /* re-notify a firing alert this often */
	unsigned log_lines;	     /* tail of the previous container's log */
};

/*
 * How long a restarted container must run before it no longer counts as crash-looping:
 * the kubelet's own back-off reset (2 x its 5 min maximum back-off).
 */
#define KL_CRASHLOOP_SETTLE_MS (10 * 60 * 1000)

/*
 * The shortest pause between an exit and the next start that is a back-off: the
 * kubelet's first back-off is 10 s (and its status shows the exit for 12-16 s); a
 * restart without back-off (a first exit, or the first after a reset) follows the
 * exit within a second or two. A container running again after a shorter pause was
 * restarted at once, not after a back-off: it is not in a crash loop (one OOM kill of
 * a pod with old restarts must not page anyone).
 */
#define KL_CRASHLOOP_BACKOFF_MIN_S 6

/* The moment of its loop in which a counted container was seen. */
enum kl_crash_moment {
	KL_CRASH_WAITING,    /* waiting with a configured reason */
	KL_CRASH_RUNNING,    /* running again after a back-off, for less than the settle time */
	KL_CRASH_TERMINATED, /* just exited with an error, its restart not yet begun */
};

/* What kl_crash_pod found in a pod. */
struct kl_crash_hit {
	const struct kl_container *c; /* the container counted (borrowed from the pod) */
	enum kl_crash_moment moment;
	/*
	 * 0, or the Unix ms at which a container counted only because it started less
	 * than KL_CRASHLOOP_SETTLE_MS ago stops counting: no event will say so, the
	 * caller must evaluate again then.
	 */
	int64_t recheck_ms;
};

/*
 * The crash rule (docs/alerts.md), from the pod status alone
 * so that it holds the same after a restart or a change of leader. A pod that is not
 * terminating counts when one of its init or app containers
 * - is waiting with one of reasons; or, when CrashLoopBackOff is one of reasons and
 *   the container has restarted at least twice (it has been through a back-off: the
 *   kubelet restarts a first exit at once),
 * - is terminated with a non-zero exit code or a reason other than Completed in a pod
 *   that is not Succeeded/Failed (the gap between an exit and the next back-off), or
 * - is running, started at least KL_CRASHLOOP_BACKOFF_MIN_S after its last exit (it
 *   came out of a back-off) and less than KL_CRASHLOOP_SETTLE_MS before now_ms (a
 *   container that ran that long has its back-off reset).
 * Returns whether p counts; *hit (when not NULL) gets the container (a waiting one
 * first, then a terminated one, then a running one) and when to look again.
 */
bool kl_crash_pod(const struct kl_pod *p, const struct kl_strv *reasons, int64_t now_ms,
		  struct kl_crash_hit *hit);

/* "CrashLoopBackOff (running between back-offs)" and the like, for evidence and logs. */
const char *kl_crash_moment_reason(const struct kl_crash_hit *hit);

extern const struct kl_conf_key kl_crash_watcher_keys[];
void kl_crash_watcher_defaults(void *conf);
int kl_crash_watcher_check(const void *conf, const struct kl_conf_node *section, const char *file,
			   struct kl_error *err);
extern const struct kl_controller_ops kl_crash_watcher_ops;

#endif
