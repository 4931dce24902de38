/*
 * kubeclient/informer.h - shared informers: one LIST+WATCH per resource for the
 * whole process, a projected cache, and handlers.
 *
 * Controllers never watch on their own: they ask the factory for the informer of
 * a resource (optionally scoped by namespace, label or field selector) and get the
 * shared one; the factory starts each once. As client-go's shared informer: the
 * cache is updated before handlers run, handlers run on the loop thread, a handler
 * added after the informer synced first gets an add for every cached object.
 *
 * A relist reconciles: updates for objects that changed, adds for new ones, and
 * deletes with final_state_unknown for objects that vanished while the watch was
 * down - never a second add for an object already known.
 *
 * Objects passed to handlers are borrowed for the call; keep keys, not pointers.
 */
#ifndef KL_KUBECLIENT_INFORMER_H
#define KL_KUBECLIENT_INFORMER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "kubeclient/client.h"
#include "kubeclient/objects.h"
#include "kubeclient/reflector.h"
#include "kubeclient/resource.h"
#include "kubeclient/store.h"
#include "util/health.h"
#include "util/intern.h"
#include "util/log.h"
#include "util/metrics.h"

struct kl_informer;
struct kl_informers;

struct kl_informer_handler {
	void (*add)(void *arg, const void *obj);
	void (*update)(void *arg, const void *old, const void *obj);
	void (*del)(void *arg, const void *obj, bool final_state_unknown);
	/* called once when the informer has synced (after the adds of the first list) */
	void (*synced)(void *arg);
	void *arg;
};

/* Optional scope of an informer; NULL or "" fields mean none. */
struct kl_informer_scope {
	const char *ns;
	const char *label_selector;
	const char *field_selector;
};

struct kl_informers_opts {
	struct kl_objects_opts objects;
	/* watch timeout range and backoff, 0 for the reflector's defaults (tests shorten) */
	unsigned min_watch_s, max_watch_s;
	uint64_t backoff_initial_ms, backoff_max_ms;
};

/*
 * Returns a new factory, or NULL on ENOMEM. Everything passed is borrowed for the
 * factory's life. Registers kloompas_informer_objects{resource},
 * kloompas_informer_synced{resource}, kloompas_informer_events_total{resource,type}.
 */
struct kl_informers *kl_informers_new(uv_loop_t *loop, struct kl_kube *kube,
				      const struct kl_informers_opts *o, const struct kl_log *log,
				      struct kl_metrics *metrics);
/* Stops every informer, frees the caches and the factory, then cb(arg). */
void kl_informers_stop(struct kl_informers *f, void (*cb)(void *arg), void *arg);

/*
 * The shared informer of a resource (scope may be NULL), made on first use and
 * started by kl_informers_start (or at once if the factory started already).
 * NULL on ENOMEM.
 */
struct kl_informer *kl_informers_get(struct kl_informers *f, enum kl_resource res,
				     const struct kl_informer_scope *scope);
/* Starts every informer made so far. 0 or a negative errno. */
int kl_informers_start(struct kl_informers *f);
/* True when every started informer has synced. */
bool kl_informers_synced(const struct kl_informers *f);
/* A /readyz check: "informers-synced", failing with the resources not synced yet. */
int kl_informers_add_health(struct kl_informers *f, struct kl_health *h);
/* The factory's intern table (shared by every cache). */
struct kl_intern *kl_informers_intern(struct kl_informers *f);

/* Adds a handler (copied). Returns 0 or -ENOMEM. */
int kl_informer_add_handler(struct kl_informer *i, const struct kl_informer_handler *h);
/* Removes every handler whose arg is arg (a controller stopping before the informers). */
void kl_informer_remove_handler(struct kl_informer *i, void *arg);
bool kl_informer_synced(const struct kl_informer *i);
/* The cache; valid for the informer's life. */
const struct kl_store *kl_informer_store(const struct kl_informer *i);
/* Reflector counters (tests, logs). */
void kl_informer_stats(const struct kl_informer *i, struct kl_reflector_stats *out);

#endif
