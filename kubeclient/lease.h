/*
 * kubeclient/lease.h - leader election on a coordination.k8s.io/v1 Lease.
 *
 * The rules are client-go's leaderelection: a candidate takes the Lease when it is
 * free or when its holder has not renewed it for leaseDurationSeconds, measured on
 * the candidate's own clock from the moment it last saw the Lease change (observed
 * time, so clock skew between replicas does not matter); the leader renews every
 * retry period and gives up leadership when it could not renew for renew_deadline;
 * on release it clears holderIdentity so the next candidate takes over at once.
 * Writes are optimistic (resourceVersion in the update), so two candidates never
 * both win.
 */
#ifndef KL_KUBECLIENT_LEASE_H
#define KL_KUBECLIENT_LEASE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "kubeclient/client.h"
#include "util/log.h"
#include "util/metrics.h"

struct kl_lease;

struct kl_lease_opts {
	const char *ns, *name; /* the Lease; copied */
	const char *identity;  /* this replica (hostname + random suffix); copied */
	uint64_t lease_ms, renew_deadline_ms, retry_ms;
	/*
	 * An annotation written on the Lease with every acquire and renew and dropped at
	 * release (the holder's word to the others: its chat-ops address); the Lease's
	 * other annotations are kept. Both copied; NULL: none.
	 */
	const char *annotation_key, *annotation_value;
};

/* Leadership changed: true when this replica became leader, false when it lost it. */
typedef void (*kl_lease_cb)(void *arg, bool leader);

/*
 * Returns a new elector (not started), NULL on ENOMEM. kube, log borrowed. Sets the
 * gauge kloompas_leader (0/1) in metrics (may be NULL).
 */
struct kl_lease *kl_lease_new(uv_loop_t *loop, struct kl_kube *kube,
			      const struct kl_lease_opts *o, const struct kl_log *log,
			      struct kl_metrics *metrics, kl_lease_cb cb, void *arg);
/* Starts trying to acquire (creating the Lease when missing). 0 or a negative errno. */
int kl_lease_start(struct kl_lease *l);
bool kl_lease_is_leader(const struct kl_lease *l);
const char *kl_lease_identity(const struct kl_lease *l);
/*
 * The value of annotation_key the holder wrote, as last read, while the Lease is held
 * by another replica that is not silent for its lease duration; NULL when it is free,
 * ours, expired, or carries no such annotation. Valid until the next loop turn.
 */
const char *kl_lease_holder_annotation(const struct kl_lease *l);
/*
 * Stops trying; if leader, releases the Lease (clears holderIdentity, best effort,
 * bounded by the client's request timeout), frees, then cb(arg). No leadership
 * callback is made after this call.
 */
void kl_lease_stop(struct kl_lease *l, void (*cb)(void *arg), void *arg);

/* "HOSTNAME_RANDOM": client-go's default identity shape. buf >= 128 bytes. */
void kl_lease_default_identity(char *buf, size_t len);

#endif
