/*
 * controllers/watcher.h - the base the crash and not-ready watchers share: a namespace
 * is judged from its pods, and the verdict goes to an alert engine.
 *
 * A watcher is its config, its evaluation (which pods count, the summary) and, for the
 * crash-watcher, its evidence; everything else is here. The base takes the shared
 * pods and namespaces informers, marks a namespace dirty on every pod add or delete
 * and on every update that changed a field the pod cache keeps (one that only
 * touched annotations, labels or the like changes no verdict), and evaluates each
 * dirty namespace once per loop turn (a burst of 10,000 updates to one namespace
 * costs one evaluation per turn, not 10,000). A watcher that needs a later look (a
 * pod becomes old enough to count) asks for a wake-up at a time. Nothing polls. The
 * base also owns the watcher's alert engine (controllers/alerts.h), gives it the
 * namespace's team from the namespace cache, and runs the start and stop sequence.
 */
#ifndef KL_CONTROLLERS_WATCHER_H
#define KL_CONTROLLERS_WATCHER_H

#include <stdbool.h>
#include <stdint.h>

#include "controllers/alerts.h"
#include "controllers/controller.h"

struct kl_watcher;

/*
 * What a watcher adds to the base, after nginx's module hooks; state is the watcher's
 * own (kl_watcher_new). eval and started are required.
 */
struct kl_watcher_hooks {
	/*
	 * Judge ns now (now_ms in Unix ms): its pods are
	 * kl_store_ns_first(kl_watcher_pods(w), ns) and kl_store_ns_next(); report with
	 * kl_alerts_update(kl_watcher_alerts(w), ...). Called from kl_watcher_start on.
	 */
	void (*eval)(void *state, const char *ns, int64_t now_ms);
	/* The alert engine's prepare hook (alerts.h: evidence), or NULL: sent as is. */
	void (*prepare)(void *state, struct kl_alert_batch *b);
	/*
	 * Called first in kl_watcher_stop: end work in flight (its kl_watcher_hold
	 * ends with kl_watcher_release, possibly later). NULL: nothing to end.
	 */
	void (*stop)(void *state);
	/* Started: log "controller started" with the watcher's settings. */
	void (*started)(void *state);
};

/*
 * Returns a new base over ctx's informers (pods, namespaces) with an alert engine
 * made from ao (its controller name is also the log component), or NULL with err
 * set ("NAME: out of memory"). ctx is borrowed; ao and hooks are copied. On success
 * the base owns state (from malloc): freed with free() once stopped, before done.
 */
struct kl_watcher *kl_watcher_new(struct kl_ctx *ctx, const struct kl_alerts_opts *ao,
				  const struct kl_watcher_hooks *hooks, void *state,
				  struct kl_error *err);
/*
 * The watcher's kl_controller_ops.start and .stop: its init sets *state to the base.
 *
 * start: starts the alert engine, evaluates every namespace (those with pods and those
 * in the namespace cache), then keeps evaluating dirty ones (before start, changes
 * are only remembered); calls hooks->started. Returns 0.
 * stop: calls hooks->stop, stops evaluating, closes its handles and the alert engine,
 * waits for every hold, logs "controller stopped" (when started), frees state and
 * the base, then done(arg).
 */
int kl_watcher_start(void *w);
void kl_watcher_stop(void *w, kl_done_cb done, void *arg);
/* Keeps the base (and state) alive through a stop until kl_watcher_release. */
void kl_watcher_hold(struct kl_watcher *w);
void kl_watcher_release(struct kl_watcher *w);
/* Whether kl_watcher_stop was called: start no new work. */
bool kl_watcher_stopping(const struct kl_watcher *w);

/* Evaluate ns again at at_ms (Unix ms) unless it is evaluated earlier anyway. */
void kl_watcher_wake_at(struct kl_watcher *w, const char *ns, int64_t at_ms);
/* The pods cache. */
const struct kl_store *kl_watcher_pods(const struct kl_watcher *w);
/* The watcher's alert engine. */
struct kl_alerts *kl_watcher_alerts(const struct kl_watcher *w);
/* ctx->clock's wall time in Unix ms: the now evaluations are given. */
int64_t kl_watcher_now_ms(const struct kl_watcher *w);

#endif
