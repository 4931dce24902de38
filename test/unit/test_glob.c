/*
 * test/unit/test_glob.c - namespace globs: syntax check and matching.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "util/glob.h"

static void test_check(void **unused)
{
	assert_int_equal(kl_glob_check("moc-*"), 0);
	assert_int_equal(kl_glob_check("team-[a-c]?"), 0);
	assert_int_equal(kl_glob_check("[]]x"), 0);
	assert_true(kl_glob_check("moc-[") < 0);
	assert_true(kl_glob_check("x\\") < 0);
	assert_true(kl_glob_check("") < 0);
}

static void test_match(void **unused)
{
	assert_true(kl_glob_match("moc-*", "moc-pricing"));
	assert_false(kl_glob_match("moc-*", "mon-apigee"));
	assert_true(kl_glob_match("*", "anything"));
	assert_true(kl_glob_match("team-[a-c]", "team-b"));
	assert_false(kl_glob_match("team-[a-c]", "team-d"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
