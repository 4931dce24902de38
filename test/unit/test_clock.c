/*
 * test/unit/test_clock.c - the fake clock runs timers in due order, callbacks may
 * start and stop timers, close callbacks come from the loop; the real clock fires.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "util/clock.h"
#include "util/container_of.h"

#define WALL0 1764000000000LL

struct rec {
	struct kl_timer t[4];
	char log[64];
	size_t n;
	uint64_t at[16];
	int closed;
};

static void on_fire(struct kl_timer *t)
{
	struct rec *r = t->data;

	r->at[r->n] = kl_clock_now_ms(t->clock);
	r->log[r->n++] = (char)('a' + (t - r->t));
}

static void timers_init(struct kl_clock *c, struct rec *r)
{
	int i;

	for (i = 0; i < 4; i++) {
		r->t[i].data = r;
		assert_int_equal(kl_timer_init(c, &r->t[i]), 0);
	}
}

/* a loop, a fake clock on it at WALL0, and r's four timers on that clock */
static void fake_open(uv_loop_t *loop, struct kl_clock *c, struct rec *r)
{
	assert_int_equal(uv_loop_init(loop), 0);
	kl_clock_init_fake(c, loop, WALL0);
	timers_init(c, r);
}

static void on_closed(struct kl_timer *t)
{
	((struct rec *)t->data)->closed++;
}

/* closes every timer and checks the callbacks come from the loop, then closes it */
static void close_all(uv_loop_t *loop, struct rec *r)
{
	int i;

	for (i = 0; i < 4; i++)
		kl_timer_close(&r->t[i], on_closed);
	assert_int_equal(r->closed, 0);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(r->closed, 4);
	assert_int_equal(uv_loop_close(loop), 0);
}

static void test_fake_times(void **unused)
{
	uv_loop_t loop;
	struct kl_clock c;
	uint64_t t0;

	(void)unused;
	assert_int_equal(uv_loop_init(&loop), 0);
	kl_clock_init_fake(&c, &loop, WALL0 + 999);
	t0 = kl_clock_now_ms(&c);
	assert_true(t0 > 0);
	assert_int_equal(kl_clock_wall_ms(&c), WALL0 + 999);
	assert_int_equal(kl_clock_wall_s(&c), WALL0 / 1000);
	kl_clock_advance(&c, 1);
	assert_int_equal(kl_clock_now_ms(&c), t0 + 1);
	assert_int_equal(kl_clock_wall_s(&c), WALL0 / 1000 + 1);
	kl_clock_advance(&c, 3600000);
	assert_int_equal(kl_clock_wall_ms(&c), WALL0 + 1000 + 3600000);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_fake_order(void **unused)
{
	uv_loop_t loop;
	struct kl_clock c;
	struct rec r = { 0 };
	uint64_t t0;

	(void)unused;
	fake_open(&loop, &c, &r);
	t0 = kl_clock_now_ms(&c);
	kl_timer_start(&r.t[0], on_fire, 300, 0);
	kl_timer_start(&r.t[1], on_fire, 100, 0);
	kl_timer_start(&r.t[2], on_fire, 200, 0);
	kl_timer_start(&r.t[3], on_fire, 200, 0); /* same deadline: start order */
	assert_true(kl_timer_is_active(&r.t[0]));
	kl_clock_advance(&c, 199);
	assert_int_equal(r.n, 1);
	kl_clock_advance(&c, 1000);
	r.log[r.n] = '\0';
	assert_string_equal(r.log, "bcda");
	assert_int_equal(r.at[0], t0 + 100);
	assert_int_equal(r.at[1], t0 + 200);
	assert_int_equal(r.at[2], t0 + 200);
	assert_int_equal(r.at[3], t0 + 300);
	assert_false(kl_timer_is_active(&r.t[0]));
	assert_int_equal(kl_clock_now_ms(&c), t0 + 1199);
	assert_int_equal(kl_clock_wall_ms(&c), WALL0 + 1199);
	close_all(&loop, &r);
}

static void test_fake_restart_stop_repeat(void **unused)
{
	uv_loop_t loop;
	struct kl_clock c;
	struct rec r = { 0 };

	(void)unused;
	fake_open(&loop, &c, &r);
	kl_timer_start(&r.t[0], on_fire, 100, 0);
	kl_timer_start(&r.t[0], on_fire, 500, 0); /* restart replaces */
	kl_timer_start(&r.t[1], on_fire, 50, 0);
	kl_timer_stop(&r.t[1]);
	kl_timer_stop(&r.t[1]); /* twice is harmless */
	kl_timer_start(&r.t[2], on_fire, 10, 200); /* 10, 210, 410, 610 */
	kl_clock_advance(&c, 620);
	r.log[r.n] = '\0';
	assert_string_equal(r.log, "cccac");
	assert_true(kl_timer_is_active(&r.t[2]));
	kl_timer_stop(&r.t[2]);
	kl_clock_advance(&c, 10000);
	assert_int_equal(r.n, 5);
	close_all(&loop, &r);
}

/* t[0] starts t[1] (due within the same advance) and stops t[2] */
static void on_chain(struct kl_timer *t)
{
	struct rec *r = t->data;

	on_fire(t);
	kl_timer_start(&r->t[1], on_fire, 5, 0);
	kl_timer_stop(&r->t[2]);
}

/* a callback that closes its own timer: the close callback still waits for the loop */
static void on_self_close(struct kl_timer *t)
{
	struct rec *r = t->data;

	on_fire(t);
	kl_timer_close(t, on_closed);
	assert_int_equal(r->closed, 0);
	assert_int_equal(kl_timer_start(t, on_fire, 1, 0), -EINVAL);
}

static void test_fake_callbacks_change_timers(void **unused)
{
	uv_loop_t loop;
	struct kl_clock c;
	struct rec r = { 0 };
	int i;

	(void)unused;
	fake_open(&loop, &c, &r);
	kl_timer_start(&r.t[0], on_chain, 10, 0);
	kl_timer_start(&r.t[2], on_fire, 12, 0);
	kl_timer_start(&r.t[3], on_self_close, 20, 0);
	kl_clock_advance(&c, 100);
	r.log[r.n] = '\0';
	assert_string_equal(r.log, "abd");
	assert_int_equal(r.closed, 0);
	for (i = 0; i < 3; i++)
		kl_timer_close(&r.t[i], on_closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(r.closed, 4);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* the owner frees itself in the close callback (run under ASan) */
struct owner {
	int x;
	struct kl_timer timer;
};

static void owner_free(struct kl_timer *t)
{
	free(container_of(t, struct owner, timer));
}

static void test_close_frees_owner(void **unused)
{
	uv_loop_t loop;
	struct kl_clock fake, real;
	struct owner *o1 = calloc(1, sizeof(*o1)), *o2 = calloc(1, sizeof(*o2));

	(void)unused;
	assert_non_null(o1);
	assert_non_null(o2);
	assert_int_equal(uv_loop_init(&loop), 0);
	kl_clock_init_fake(&fake, &loop, WALL0);
	kl_clock_init(&real, &loop);
	assert_int_equal(kl_timer_init(&fake, &o1->timer), 0);
	assert_int_equal(kl_timer_init(&real, &o2->timer), 0);
	kl_timer_start(&o1->timer, NULL, 10, 0);
	kl_timer_start(&o2->timer, NULL, 100000, 0);
	kl_timer_close(&o1->timer, owner_free);
	kl_timer_close(&o2->timer, owner_free);
	kl_clock_advance(&fake, 100); /* a closed timer never fires */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void on_real(struct kl_timer *t)
{
	struct rec *r = t->data;

	on_fire(t);
	if (r->n == 3)
		kl_timer_stop(t);
}

static void test_real(void **unused)
{
	uv_loop_t loop;
	struct kl_clock c;
	struct rec r = { 0 };
	uint64_t t0;
	int64_t w0;

	(void)unused;
	assert_int_equal(uv_loop_init(&loop), 0);
	kl_clock_init(&c, &loop);
	timers_init(&c, &r);
	t0 = kl_clock_now_ms(&c);
	w0 = kl_clock_wall_ms(&c);
	assert_true(w0 > WALL0 - 86400000LL * 3650);
	kl_timer_start(&r.t[0], on_real, 5, 5);
	assert_true(kl_timer_is_active(&r.t[0]));
	uv_run(&loop, UV_RUN_DEFAULT); /* ends when t[0] stops after three */
	assert_int_equal(r.n, 3);
	assert_true(r.at[0] >= t0 + 5);
	assert_true(kl_clock_wall_ms(&c) >= w0 + 10);
	assert_false(kl_timer_is_active(&r.t[0]));
	close_all(&loop, &r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fake_times),
		cmocka_unit_test(test_fake_order),
		cmocka_unit_test(test_fake_restart_stop_repeat),
		cmocka_unit_test(test_fake_callbacks_change_timers),
		cmocka_unit_test(test_close_frees_owner),
		cmocka_unit_test(test_real),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
