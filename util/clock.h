/*
 * util/clock.h - time for the loop thread: monotonic and wall time, and timers,
 * from a real clock (a uv loop) or a fake one that tests move by hand.
 *
 * Code that waits (alert deadlines, repeats, retries) takes its times and its
 * timers from a struct kl_clock (ctx->clock) instead of time() and uv_timer_t, so a
 * unit test can run an hour of it in a millisecond: kl_clock_advance() moves both
 * times and runs the timers that became due, in due order, as the loop would.
 *
 * struct kl_timer works like uv_timer_t: embedded in its owner (find the owner with
 * container_of or data), init/start/stop, and kl_timer_close() whose callback runs
 * later, from the loop, never inside kl_timer_close(). The owner frees the memory
 * holding the timer only in or after that callback. Both clocks need a uv loop:
 * a fake clock's timers still close through it, so a test that forgets one fails
 * its uv_loop_close() check.
 */
#ifndef KL_UTIL_CLOCK_H
#define KL_UTIL_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "util/list.h"

/* The clock's fields are private: use the functions. */
struct kl_clock {
	uv_loop_t *loop;
	bool fake;
	uint64_t mono_ms;      /* fake: monotonic now */
	int64_t wall_ms;       /* fake: Unix ms now */
	struct kl_link timers; /* fake: the active timers by deadline, then start order */
};

struct kl_timer;
/* A due timer; it may start, stop or close any timer, itself included. */
typedef void (*kl_timer_cb)(struct kl_timer *t);
/* The timer is closed; its memory may be freed now. */
typedef void (*kl_timer_close_cb)(struct kl_timer *t);

struct kl_timer {
	void *data; /* the owner's; untouched by the clock */
	/* private */
	struct kl_clock *clock;
	uv_timer_t uv; /* real: the timer; fake: never started, carries the close */
	kl_timer_cb cb;
	kl_timer_close_cb close_cb;
	struct kl_link link; /* fake: in clock->timers while active */
	uint64_t due_ms, repeat_ms;
	bool active, closing;
};

/* The real clock on loop (borrowed, must outlive the clock): uv_now() and the system time. */
void kl_clock_init(struct kl_clock *c, uv_loop_t *loop);

/*
 * A fake clock for tests: time stands still until kl_clock_advance(). Monotonic
 * time starts at 1,000,000 ms (never 0, which code may take for "never"); wall time
 * at wall_ms (Unix ms). Timers close through loop (borrowed).
 */
void kl_clock_init_fake(struct kl_clock *c, uv_loop_t *loop, int64_t wall_ms);

/* Monotonic milliseconds (real: uv_now(), the loop's time of this iteration). */
uint64_t kl_clock_now_ms(const struct kl_clock *c);
/* Wall time, Unix milliseconds and seconds (real: the system clock, read now). */
int64_t kl_clock_wall_ms(const struct kl_clock *c);
int64_t kl_clock_wall_s(const struct kl_clock *c);

/*
 * Fake clock only: moves both times forward by ms, stopping at every timer that
 * becomes due on the way (earliest first; equal deadlines in start order) to set
 * the times to its deadline and run its callback. A timer started by a callback
 * runs in the same call if it becomes due by the end (one started with 0 and
 * restarting itself with 0 forever never returns, as it would spin the loop).
 */
void kl_clock_advance(struct kl_clock *c, uint64_t ms);

/* Initialises t on clock c (borrowed until t's close callback). 0 or a uv error. */
int kl_timer_init(struct kl_clock *c, struct kl_timer *t);
/*
 * Calls cb timeout_ms from now, then every repeat_ms (0: once). Restarts an active
 * timer. 0, or -EINVAL when t is closing.
 */
int kl_timer_start(struct kl_timer *t, kl_timer_cb cb, uint64_t timeout_ms, uint64_t repeat_ms);
/* Stops t (harmless when inactive). */
void kl_timer_stop(struct kl_timer *t);
bool kl_timer_is_active(const struct kl_timer *t);
/*
 * Stops t and closes it: cb (may be NULL) runs later from the loop, once; free
 * the memory holding t only then. t must not be used again.
 */
void kl_timer_close(struct kl_timer *t, kl_timer_close_cb cb);

#endif
