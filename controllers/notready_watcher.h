/*
 * controllers/notready_watcher.h - tells a namespace's team when a large share of
 * its pods is not Ready, and when it recovers; and the count its condition uses
 * (kl_notready_tally), which a test can feed with hand-made pods and a clock.
 */
#ifndef KL_CONTROLLERS_NOTREADY_WATCHER_H
#define KL_CONTROLLERS_NOTREADY_WATCHER_H

#include <stdint.h>

#include "controllers/controller.h"
#include "kubeclient/objects.h"

struct kl_notready_watcher_conf {
	double threshold_percent; /* share of not-Ready pods that fires, 0..100 */
	unsigned min_pods;	  /* fewer eligible pods never fire */
	uint64_t min_age_ms;	  /* younger pods are not counted */
	uint64_t for_ms;
	uint64_t repeat_interval_ms;
};

/*
 * One namespace's count as the condition sees it (docs/alerts.md).
 * Set the inputs (the rest zero), add every pod of the namespace, then ask
 * kl_notready_tally_active().
 * - live: pods not Succeeded/Failed and not terminating;
 * - counted: the live pods the share is taken over. min_age and min_pods gate only
 *   the start of an alert: while it is pending, firing or resolving (ongoing) every
 *   live pod counts, whatever its age, and min_pods does not apply;
 * - notready: counted pods not Ready, except those crash-looping by the crash-watcher's
 *   rule (kl_crash_pod) when it runs (crash_reasons): its notice is the one message
 *   about them; they stay in counted.
 */
struct kl_notready_tally {
	/* in */
	const struct kl_notready_watcher_conf *conf;
	const struct kl_strv *crash_reasons; /* the crash-watcher's, NULL when it is off */
	bool ongoing;			     /* the alert is pending, firing or resolving */
	int64_t now_ms;
	/* out */
	unsigned live, counted, notready;
	unsigned crashing; /* not Ready, counted, left to the crash-watcher */
	int64_t wake_ms;   /* 0, or when the count may change with no event (Unix ms) */
};

void kl_notready_tally_add(struct kl_notready_tally *t, const struct kl_pod *p);
/*
 * Whether the condition holds. *ratio gets the share of not Ready pods it used: 0
 * when no pod counts or fewer than min_pods do while min_pods applies.
 */
bool kl_notready_tally_active(const struct kl_notready_tally *t, double *ratio);

extern const struct kl_conf_key kl_notready_watcher_keys[];
void kl_notready_watcher_defaults(void *conf);
int kl_notready_watcher_check(const void *conf, const struct kl_conf_node *section,
			      const char *file, struct kl_error *err);
extern const struct kl_controller_ops kl_notready_watcher_ops;

#endif
