/*
 * test/unit/test_duration.c - Go-style durations: what parses, what does not, round trips.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/duration.h"

static void test_parse_good(void **unused)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} cases[] = {
		{ "0", 0 },	    { "30s", 30000 },	     { "2m", 120000 },
		{ "1h", 3600000 }, { "1h30m", 5400000 },    { "500ms", 500 },
		{ "1.5h", 5400000 }, { "2m3s4ms", 123004 }, { "0s", 0 },
		{ "24h", 86400000 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = 12345;

		assert_int_equal(kl_duration_parse(cases[i].s, &ms), 0);
		assert_int_equal(ms, cases[i].ms);
	}
}

static void test_parse_bad(void **unused)
{
	static const char *const bad[] = { "", "30", "30x", "s", "-5s", "+5s", "1h 30m", "5 s",
					   "1.s.", "m5", "10d", ".s" };
	size_t i;
	uint64_t ms = 77;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(kl_duration_parse(bad[i], &ms), -EINVAL);
		assert_int_equal(ms, 77);
	}
	assert_int_equal(kl_duration_parse("99999999999999999999h", &ms), -ERANGE);
	assert_int_equal(kl_duration_parse(NULL, &ms), -EINVAL);
}

static void test_format(void **unused)
{
	char buf[32];
	uint64_t ms;

	assert_string_equal(kl_duration_format(0, buf, sizeof(buf)), "0s");
	assert_string_equal(kl_duration_format(90000, buf, sizeof(buf)), "1m30s");
	assert_string_equal(kl_duration_format(86400000, buf, sizeof(buf)), "24h");
	assert_string_equal(kl_duration_format(3723004, buf, sizeof(buf)), "1h2m3s4ms");
	assert_int_equal(kl_duration_parse(kl_duration_format(3723004, buf, sizeof(buf)), &ms), 0);
	assert_int_equal(ms, 3723004);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
