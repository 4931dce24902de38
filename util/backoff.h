/*
 * util/backoff.h - exponential backoff: initial, doubling, capped, reset on success.
 *
 * The reflector (LIST/WATCH), the state store (loading its ConfigMap) and the
 * notifiers (failed posts) wait the same way before the next attempt: the current
 * step, at least the server's Retry-After, and the step doubles up to a cap. The
 * reflector adds jitter (up to half a step) so that many watches failing together
 * do not come back together. Plain data in the caller's memory; no timers here.
 */
#ifndef KL_UTIL_BACKOFF_H
#define KL_UTIL_BACKOFF_H

#include <stdint.h>

struct kl_backoff {
	uint64_t initial_ms, max_ms;
	uint64_t step_ms; /* the next wait before jitter and Retry-After */
};

/* Starts at initial_ms (capped at max_ms); steps double up to max_ms. */
void kl_backoff_init(struct kl_backoff *b, uint64_t initial_ms, uint64_t max_ms);

/*
 * Returns the wait before the next attempt: the current step, raised to
 * retry_after_s seconds when that is longer (<= 0: none), and doubles the step.
 */
uint64_t kl_backoff_next(struct kl_backoff *b, int retry_after_s);

/*
 * As kl_backoff_next, with jitter: the step plus rnd % (step / 2 + 1) ms (rnd: a
 * random number from the caller's generator), then the Retry-After floor.
 */
uint64_t kl_backoff_next_jitter(struct kl_backoff *b, uint64_t rnd, int retry_after_s);

/* Success: the next wait is initial_ms again. */
void kl_backoff_reset(struct kl_backoff *b);

#endif
