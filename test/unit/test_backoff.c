/*
 * test/unit/test_backoff.c - doubling up to the cap, reset, the Retry-After floor
 * and the jitter bound, as the reflector, state store and notifiers used them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/backoff.h"

static void test_doubling_cap_reset(void **unused)
{
	static const uint64_t want[] = { 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000 };
	struct kl_backoff b;
	size_t i;

	(void)unused;
	kl_backoff_init(&b, 800, 30000);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(kl_backoff_next(&b, -1), want[i]);
	kl_backoff_reset(&b);
	assert_int_equal(kl_backoff_next(&b, 0), 800);
	assert_int_equal(kl_backoff_next(&b, 0), 1600);
}

static void test_initial_above_max(void **unused)
{
	struct kl_backoff b;

	(void)unused;
	kl_backoff_init(&b, 5000, 2000);
	assert_int_equal(kl_backoff_next(&b, -1), 2000);
	assert_int_equal(kl_backoff_next(&b, -1), 2000);
}

static void test_no_overflow(void **unused)
{
	struct kl_backoff b;
	int i;

	(void)unused;
	kl_backoff_init(&b, 1, UINT64_MAX);
	for (i = 0; i < 70; i++)
		kl_backoff_next(&b, -1);
	assert_int_equal(kl_backoff_next(&b, -1), UINT64_MAX);
}

static void test_retry_after_floor(void **unused)
{
	struct kl_backoff b;

	(void)unused;
	kl_backoff_init(&b, 1000, 8000);
	/* the floor raises this wait only; the step still doubles from 1000 */
	assert_int_equal(kl_backoff_next(&b, 5), 5000);
	assert_int_equal(kl_backoff_next(&b, 1), 2000);
	assert_int_equal(kl_backoff_next(&b, -1), 4000);
	assert_int_equal(kl_backoff_next_jitter(&b, 0, 30), 30000);
	assert_int_equal(b.step_ms, 8000);
}

static void test_jitter(void **unused)
{
	struct kl_backoff b;

	(void)unused;
	kl_backoff_init(&b, 800, 30000);
	assert_int_equal(kl_backoff_next_jitter(&b, 0, -1), 800);
	assert_int_equal(kl_backoff_next_jitter(&b, 800, -1), 1600 + 800 % 801);
	assert_int_equal(kl_backoff_next_jitter(&b, 801, -1), 3200 + 801);
	assert_int_equal(kl_backoff_next_jitter(&b, 3201, -1), 6400); /* 3201 % 3201 */
	assert_int_equal(kl_backoff_next_jitter(&b, UINT64_MAX, -1), 12800 + UINT64_MAX % 6401);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doubling_cap_reset),
		cmocka_unit_test(test_initial_above_max),
		cmocka_unit_test(test_no_overflow),
		cmocka_unit_test(test_retry_after_floor),
		cmocka_unit_test(test_jitter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
