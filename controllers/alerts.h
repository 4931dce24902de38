/*
 * controllers/alerts.h - the alert state machine both watchers share (docs/alerts.md).
 *
 * Per (controller, namespace): ok -> pending when the condition starts; pending ->
 * firing once it held for `for`; a firing alert is notified once, re-notified every
 * repeat_interval, and resolved is notified when the condition has been gone for
 * `for`. The watcher reports the condition of a namespace whenever it may have
 * changed (kl_alerts_update); the engine keeps one timer per alert for `for` and
 * repeat_interval - nothing polls. Notices due within one flush window are sent
 * together. Each record is persisted (controllers/state.h) on transitions and
 * deliveries, so a restart neither repeats a delivered notification nor forgets
 * an undelivered one. Every state change is logged at -v 1 with the controller, the
 * namespace, the old and new state, why, and the summary.
 */
#ifndef KL_CONTROLLERS_ALERTS_H
#define KL_CONTROLLERS_ALERTS_H

#include <stdbool.h>
#include <stdint.h>

#include "controllers/controller.h"
#include "controllers/state.h"
#include "notify/notify.h"
#include "util/arena.h"

/* One flush on its way out; the watcher may add evidence to the notices. */
struct kl_alert_batch {
	struct kl_notice *notices;
	size_t n;
	struct kl_arena arena; /* evidence memory: freed with the batch */
	struct kl_alerts *owner;
};

struct kl_alerts_hooks {
	/*
	 * Called with each batch before it is sent; adds evidence (from batch->arena)
	 * to firing notices, possibly asynchronously, then calls kl_alerts_send(b).
	 * NULL: sent as is.
	 */
	void (*prepare)(void *arg, struct kl_alert_batch *b);
	/* The namespace's team, or NULL. */
	const char *(*team)(void *arg, const char *ns);
};

struct kl_alerts_opts {
	const char *controller; /* "crash-watcher" */
	const char *alertname;	/* "KloompasPodCrashLooping" */
	uint64_t for_ms, repeat_ms;
	uint64_t flush_ms; /* 0: 50 ms */
	const char *title; /* its notices' chat heading ("PODS IN CRASH"); NULL: none */
};

struct kl_alerts;

/* Where a namespace's alert stands (KL_ALERT_OK: there is none); the engine's records
 * hold the other four. */
enum kl_alert_state {
	KL_ALERT_OK,
	KL_ALERT_PENDING,
	KL_ALERT_FIRING,
	KL_ALERT_RESOLVING,
	KL_ALERT_RESOLVED, /* its resolved notice is on its way */
};

/*
 * Returns a new engine or NULL on ENOMEM. ctx (its clock, log, metrics, config,
 * state, flags and notify) and hooks are borrowed. Attaches to ctx->notify, the
 * process' notifier set.
 */
struct kl_alerts *kl_alerts_new(struct kl_ctx *ctx, const struct kl_alerts_opts *o,
				const struct kl_alerts_hooks *hooks, void *arg);
/*
 * Reads the persisted records of this controller (ctx->state must be loaded).
 * Then the watcher reports every namespace and calls kl_alerts_synced().
 */
int kl_alerts_start(struct kl_alerts *a);
/* The condition of ns now, with its summary ("2 Pod(s) in CrashLoopBackOff"). */
void kl_alerts_update(struct kl_alerts *a, const char *ns, bool active, const char *summary);
/*
 * The state of ns's alert now. A watcher whose condition gates only the start of an
 * alert (min_age, min_pods) asks before judging: KL_ALERT_OK and KL_ALERT_RESOLVED
 * mean that an active report starts a new alert.
 */
enum kl_alert_state kl_alerts_state(const struct kl_alerts *a, const char *ns);
/* "ok", "pending", "firing", "resolving", "resolved". */
const char *kl_alert_state_name(enum kl_alert_state s);
/* Every namespace was reported once: records not reported are inactive. */
void kl_alerts_synced(struct kl_alerts *a);
/* Sends a prepared batch (from the prepare hook) and frees it. */
void kl_alerts_send(struct kl_alert_batch *b);
/* Stops timers, detaches from the notifier set, frees everything, then cb(arg). */
void kl_alerts_stop(struct kl_alerts *a, void (*cb)(void *arg), void *arg);

#endif
