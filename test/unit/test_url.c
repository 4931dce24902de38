/*
 * test/unit/test_url.c - percent-encoding: what is kept, what is escaped, and a
 * cut at a whole character when the buffer is short.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/url.h"

static void test_escape(void **unused)
{
	char buf[128];

	(void)unused;
	assert_int_equal(kl_url_escape(buf, sizeof(buf), "AZaz09-_.~"), 10);
	assert_string_equal(buf, "AZaz09-_.~");
	kl_url_escape(buf, sizeof(buf), "app in (a,b),tier!=x/y z%");
	assert_string_equal(buf, "app%20in%20%28a%2Cb%29%2Ctier%21%3Dx%2Fy%20z%25");
	kl_url_escape(buf, sizeof(buf), "\xc3\xa9\x7f\x01");
	assert_string_equal(buf, "%C3%A9%7F%01");
	assert_int_equal(kl_url_escape(buf, sizeof(buf), ""), 0);
	assert_string_equal(buf, "");
}

static void test_cut(void **unused)
{
	char buf[8];

	(void)unused;
	/* room for "%XX" and the NUL is kept free at every step */
	assert_int_equal(kl_url_escape(buf, sizeof(buf), "abcdefgh"), 4);
	assert_string_equal(buf, "abcd");
	assert_int_equal(kl_url_escape(buf, sizeof(buf), "a b c"), 2);
	assert_string_equal(buf, "a%20");
	assert_int_equal(kl_url_escape(buf, 4, "   "), 0);
	assert_string_equal(buf, "");
	assert_int_equal(kl_url_escape(buf, 1, "x"), 0);
	assert_string_equal(buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
