/*
 * controllers/state.h - alert state that survives restarts and failovers: the
 * ConfigMap kloompas-state in Kloompas' own namespace.
 *
 * One key per (controller, namespace) alert, "crash-watcher.NAMESPACE", holding a
 * small JSON record. Loaded once at start (a missing ConfigMap is empty state; a
 * failed read is retried until it succeeds);
 * changes are batched and written as one merge PATCH per flush interval (the
 * ConfigMap is created on the first write). With --dry-run nothing is written.
 */
#ifndef KL_CONTROLLERS_STATE_H
#define KL_CONTROLLERS_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "kubeclient/client.h"
#include "util/clock.h"
#include "util/log.h"

struct kl_state;

/*
 * Called once when the state is loaded (err 0; a missing ConfigMap is empty state)
 * or could not be taken in (-ENOMEM). A failed read (429, 5xx, 403, network) is
 * retried with backoff and Retry-After until it succeeds: starting empty would
 * repeat every notification already delivered.
 */
typedef void (*kl_state_loaded_cb)(void *arg, int err);

/*
 * Returns a new state store over namespace/name (copied), or NULL on ENOMEM.
 * read_only: never write (dry-run). clock (its timers: the flush window, load
 * retries), kube and log borrowed. Nothing is read or written through kube until
 * kl_state_load or a flush, so a read-only store needs no kube (tests).
 */
struct kl_state *kl_state_new(struct kl_clock *clock, struct kl_kube *kube, const char *ns,
			      const char *name, bool read_only, uint64_t flush_ms,
			      const struct kl_log *log);
/* Loads (GET); cb once. Calls made before loading completes see an empty store. */
int kl_state_load(struct kl_state *s, kl_state_loaded_cb cb, void *arg);
bool kl_state_loaded(const struct kl_state *s);
/* The stored value of key, or NULL. Valid until the next kl_state_set of that key. */
const char *kl_state_get(const struct kl_state *s, const char *key);
/* Sets (value NULL: deletes) key; written with the next flush. 0 or -ENOMEM. */
int kl_state_set(struct kl_state *s, const char *key, const char *value);
/* Calls cb for every key starting with prefix. */
void kl_state_foreach(const struct kl_state *s, const char *prefix,
		      void (*cb)(void *arg, const char *key, const char *value), void *arg);
/* Writes pending changes now (shutdown); cb when written or failed. */
void kl_state_flush(struct kl_state *s, void (*cb)(void *arg), void *arg);
/* Frees (pending changes not yet flushed are lost: flush first), then cb. */
void kl_state_close(struct kl_state *s, void (*cb)(void *arg), void *arg);

#endif
