/*
 * util/backoff.c - exponential backoff (see backoff.h), the one copy of what the
 * reflector, the state store and the notifiers each wrote.
 */
#include "util/backoff.h"

void kl_backoff_init(struct kl_backoff *b, uint64_t initial_ms, uint64_t max_ms)
{
	b->initial_ms = initial_ms < max_ms ? initial_ms : max_ms;
	b->max_ms = max_ms;
	b->step_ms = b->initial_ms;
}

void kl_backoff_reset(struct kl_backoff *b)
{
	b->step_ms = b->initial_ms;
}

static uint64_t take(struct kl_backoff *b, uint64_t wait, int retry_after_s)
{
	if (retry_after_s > 0 && (uint64_t)retry_after_s * 1000 > wait)
		wait = (uint64_t)retry_after_s * 1000;
	b->step_ms = b->step_ms > b->max_ms / 2 ? b->max_ms : b->step_ms * 2;
	return wait;
}

uint64_t kl_backoff_next(struct kl_backoff *b, int retry_after_s)
{
	return take(b, b->step_ms, retry_after_s);
}

uint64_t kl_backoff_next_jitter(struct kl_backoff *b, uint64_t rnd, int retry_after_s)
{
	return take(b, b->step_ms + rnd % (b->step_ms / 2 + 1), retry_after_s);
}
