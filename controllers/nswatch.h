/*
 * controllers/nswatch.h - "re-evaluate a namespace when its pods change", shared by
 * the crash and not-ready watchers.
 *
 * Both watchers judge a namespace from the pods in it. nswatch takes the shared
 * pods and namespaces informers, marks a namespace dirty on every pod add or
 * delete and on every update that changed a field the pod cache keeps (one that
 * only touched annotations, labels or the like changes no verdict), and evaluates
 * each dirty namespace once per loop turn (a burst of
 * 10,000 updates to one namespace costs one evaluation per turn, not 10,000).
 * A watcher that needs a later look (a pod becomes old enough to count) asks for
 * a wake-up at a time. Nothing polls.
 */
#ifndef KL_CONTROLLERS_NSWATCH_H
#define KL_CONTROLLERS_NSWATCH_H

#include <stdint.h>

#include "controllers/controller.h"

struct kl_nswatch;

/* Evaluate ns (its pods: kl_store_ns_first(kl_nswatch_pods(w), ns)). now in Unix ms. */
typedef void (*kl_nswatch_eval_cb)(void *arg, const char *ns, int64_t now_ms);

/* Returns a new watcher over ctx's informers (pods, namespaces), or NULL. */
struct kl_nswatch *kl_nswatch_new(struct kl_ctx *ctx, kl_nswatch_eval_cb eval, void *arg);
/* Evaluates every namespace (those with pods and those in the namespace cache), then
 * keeps evaluating dirty ones. Before start, changes are only remembered. */
void kl_nswatch_start(struct kl_nswatch *w);
/* Evaluate ns again at at_ms (Unix ms) unless it is evaluated earlier anyway. */
void kl_nswatch_wake_at(struct kl_nswatch *w, const char *ns, int64_t at_ms);
/* The pods cache. */
const struct kl_store *kl_nswatch_pods(const struct kl_nswatch *w);
/* The team of ns from the namespace cache (annotation or label), or NULL. */
const char *kl_nswatch_team(const struct kl_nswatch *w, const char *ns);
/* Stops, frees once its handles are closed, then cb(arg). */
void kl_nswatch_stop(struct kl_nswatch *w, void (*cb)(void *arg), void *arg);

int64_t kl_now_ms(void);

#endif
