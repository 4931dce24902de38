/*
 * test/unit/test_arena.c - the arena hands out aligned, zeroed memory and frees it all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/arena.h"

static void test_alloc_aligned_zeroed(void **unused)
{
	struct kl_arena a;
	size_t i;

	kl_arena_init(&a);
	for (i = 1; i < 3000; i += 7) {
		unsigned char *p = kl_arena_alloc(&a, i);

		assert_non_null(p);
		assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
		for (size_t j = 0; j < i; j++)
			assert_int_equal(p[j], 0);
		memset(p, 0xab, i);
	}
	kl_arena_free(&a);
	assert_null(a.head);
	assert_int_equal(a.total, 0);
}

static void test_strdup_and_big_blocks(void **unused)
{
	struct kl_arena a;
	char big[20000];
	char *s, *b, *t;

	kl_arena_init(&a);
	s = kl_arena_strdup(&a, "kloompas");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	b = kl_arena_strdup(&a, big);
	t = kl_arena_strndup(&a, "abcdef", 3);
	assert_string_equal(s, "kloompas");
	assert_int_equal(strlen(b), sizeof(big) - 1);
	assert_string_equal(t, "abc");
	/* small allocations after a big one still share the head block */
	assert_ptr_not_equal(kl_arena_alloc(&a, 8), NULL);
	assert_true(a.total >= sizeof(big));
	kl_arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_aligned_zeroed),
		cmocka_unit_test(test_strdup_and_big_blocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
