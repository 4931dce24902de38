/*
 * util/clock.c - the real and the fake clock (see clock.h).
 *
 * One struct for both, with a flag rather than an ops table: there are exactly two
 * kinds and each function is a two-way branch. The real clock is a thin layer over
 * uv_timer_t; the fake one keeps its active timers in a list sorted by deadline
 * (tests have a handful). Both close a timer through its uv handle, so the close
 * callback always comes from the loop, as libuv promises.
 */
#include "util/clock.h"

#include <assert.h>
#include <errno.h>
#include <time.h>

#include "util/container_of.h"

#define FAKE_START_MS 1000000

void kl_clock_init(struct kl_clock *c, uv_loop_t *loop)
{
	*c = (struct kl_clock){ .loop = loop };
	kl_list_init(&c->timers);
}

void kl_clock_init_fake(struct kl_clock *c, uv_loop_t *loop, int64_t wall_ms)
{
	kl_clock_init(c, loop);
	c->fake = true;
	c->mono_ms = FAKE_START_MS;
	c->wall_ms = wall_ms;
}

uint64_t kl_clock_now_ms(const struct kl_clock *c)
{
	return c->fake ? c->mono_ms : uv_now(c->loop);
}

int64_t kl_clock_wall_ms(const struct kl_clock *c)
{
	struct timespec ts;

	if (c->fake)
		return c->wall_ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kl_clock_wall_s(const struct kl_clock *c)
{
	int64_t ms = kl_clock_wall_ms(c);

	/* floor, so that a time before 1970 does not round up */
	return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

/* ---------------------------------------------------------------- fake timers */

/* Links t after every timer due no later than it: equal deadlines run in start order. */
static void fake_insert(struct kl_clock *c, struct kl_timer *t)
{
	struct kl_link *l;

	for (l = c->timers.next; l != &c->timers; l = l->next)
		if (container_of(l, struct kl_timer, link)->due_ms > t->due_ms)
			break;
	/* add before l: l's tail is the part after t */
	kl_list_add_tail(l, &t->link);
}

void kl_clock_advance(struct kl_clock *c, uint64_t ms)
{
	uint64_t end = c->mono_ms + ms;
	struct kl_timer *t;

	assert(c->fake);
	while (!kl_list_empty(&c->timers)) {
		t = container_of(c->timers.next, struct kl_timer, link);
		if (t->due_ms > end)
			break;
		c->wall_ms += (int64_t)(t->due_ms - c->mono_ms);
		c->mono_ms = t->due_ms;
		kl_list_del(&t->link);
		t->active = false;
		if (t->repeat_ms) {
			t->due_ms = c->mono_ms + t->repeat_ms;
			t->active = true;
			fake_insert(c, t);
		}
		t->cb(t);
	}
	c->wall_ms += (int64_t)(end - c->mono_ms);
	c->mono_ms = end;
}

/* ---------------------------------------------------------------- timers */

static void on_uv_timer(uv_timer_t *h)
{
	struct kl_timer *t = container_of(h, struct kl_timer, uv);

	t->cb(t);
}

static void on_uv_close(uv_handle_t *h)
{
	struct kl_timer *t = container_of((uv_timer_t *)h, struct kl_timer, uv);

	if (t->close_cb)
		t->close_cb(t);
}

int kl_timer_init(struct kl_clock *c, struct kl_timer *t)
{
	void *data = t->data; /* the caller's, as uv_timer_init leaves data */

	*t = (struct kl_timer){ .data = data, .clock = c };
	kl_list_init(&t->link);
	return uv_timer_init(c->loop, &t->uv);
}

int kl_timer_start(struct kl_timer *t, kl_timer_cb cb, uint64_t timeout_ms, uint64_t repeat_ms)
{
	struct kl_clock *c = t->clock;

	if (t->closing)
		return -EINVAL;
	t->cb = cb;
	if (!c->fake)
		return uv_timer_start(&t->uv, on_uv_timer, timeout_ms, repeat_ms);
	kl_list_del(&t->link);
	t->due_ms = c->mono_ms + timeout_ms;
	t->repeat_ms = repeat_ms;
	t->active = true;
	fake_insert(c, t);
	return 0;
}

void kl_timer_stop(struct kl_timer *t)
{
	if (!t->clock->fake) {
		uv_timer_stop(&t->uv);
		return;
	}
	kl_list_del(&t->link);
	t->active = false;
}

bool kl_timer_is_active(const struct kl_timer *t)
{
	if (!t->clock->fake)
		return uv_is_active((const uv_handle_t *)&t->uv);
	return t->active;
}

void kl_timer_close(struct kl_timer *t, kl_timer_close_cb cb)
{
	assert(!t->closing);
	kl_timer_stop(t);
	t->closing = true;
	t->close_cb = cb;
	uv_close((uv_handle_t *)&t->uv, on_uv_close);
}
