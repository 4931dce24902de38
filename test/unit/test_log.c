/*
 * test/unit/test_log.c - log lines: logfmt quoting, JSON escaping, verbosity, one line each.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/log.h"

struct capture {
	char *buf;
	size_t len;
	FILE *f;
	struct kl_log log;
};

static void cap_open(struct capture *c, enum kl_log_format fmt, int v)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
	kl_log_init(&c->log, fmt, v, c->f);
}

static void cap_close(struct capture *c)
{
	fclose(c->f);
	free(c->buf);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_text(void **unused)
{
	struct capture c;

	cap_open(&c, KL_LOG_TEXT, 0);
	kl_log_info(&c.log, "informer", "watch closed", "resource", "pods", "why",
		    "eof \"x\"\nnext", "empty", "");
	fflush(c.f);
	assert_non_null(strstr(c.buf, " level=info component=informer msg=\"watch closed\" "
				      "resource=pods why=\"eof \\\"x\\\"\\nnext\" empty=\"\"\n"));
	assert_int_equal(strncmp(c.buf, "time=", 5), 0);
	assert_int_equal(count_lines(c.buf), 1);
	cap_close(&c);
}

static void test_json(void **unused)
{
	struct capture c;

	cap_open(&c, KL_LOG_JSON, 0);
	kl_log_error(&c.log, "main", "cannot start", "error", "a\"b\\c\x01");
	fflush(c.f);
	assert_int_equal(c.buf[0], '{');
	assert_non_null(strstr(c.buf, "\"level\":\"error\",\"component\":\"main\","
				      "\"msg\":\"cannot start\",\"error\":\"a\\\"b\\\\c\\u0001\"}\n"));
	assert_int_equal(count_lines(c.buf), 1);
	cap_close(&c);
}

static void test_verbosity(void **unused)
{
	struct capture c;

	cap_open(&c, KL_LOG_TEXT, 1);
	kl_log_v(&c.log, 1, "x", "shown");
	kl_log_v(&c.log, 2, "x", "hidden");
	fflush(c.f);
	assert_non_null(strstr(c.buf, "msg=shown"));
	assert_null(strstr(c.buf, "hidden"));
	assert_non_null(strstr(c.buf, "level=debug"));
	cap_close(&c);
}

static void test_long_line_is_cut_but_ends(void **unused)
{
	struct capture c;
	char *big = malloc(20000);

	memset(big, 'y', 19999);
	big[19999] = '\0';
	cap_open(&c, KL_LOG_TEXT, 0);
	kl_log_info(&c.log, "x", "big", "v", big);
	fflush(c.f);
	assert_true(c.len < 8200);
	assert_int_equal(c.buf[c.len - 1], '\n');
	assert_non_null(strstr(c.buf, "...\n"));
	assert_int_equal(count_lines(c.buf), 1);
	cap_close(&c);
	free(big);
}

static void test_format_parse(void **unused)
{
	enum kl_log_format f;

	assert_int_equal(kl_log_format_parse("json", &f), 0);
	assert_int_equal(f, KL_LOG_JSON);
	assert_int_equal(kl_log_format_parse("text", &f), 0);
	assert_int_equal(f, KL_LOG_TEXT);
	assert_true(kl_log_format_parse("xml", &f) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_verbosity),
		cmocka_unit_test(test_long_line_is_cut_but_ends),
		cmocka_unit_test(test_format_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
