/*
 * test/unit/test_intern.c - the string intern table: identity, counting, growth.
 *
 * The caches compare interned strings with ==, so "same bytes, same pointer" is
 * the contract checked first; then that references are counted exactly (the last
 * put frees, visible in kl_intern_count/bytes), and that the table stays correct
 * through growth and through the backward-shift removals of a big churn. Run
 * under the sanitize build, a miscounted put shows as a use-after-free or leak.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h> /* after the three above, which it needs */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/intern.h"

/* header (refs, hash, len: 3 x uint32_t) + bytes + NUL, as intern.c allocates */
#define STR_BYTES(len) (12 + (len) + 1)

static void test_same_pointer(void **state)
{
	struct kl_intern *t = kl_intern_new();
	char buf[16];
	const char *a, *b, *c;

	assert_non_null(t);
	strcpy(buf, "shop");
	a = kl_intern_get(t, "shop", (size_t)-1);
	b = kl_intern_get(t, buf, (size_t)-1);
	c = kl_intern_get(t, "web", (size_t)-1);
	assert_non_null(a);
	assert_ptr_equal(a, b);
	assert_ptr_not_equal(a, buf);
	assert_ptr_not_equal(a, c);
	assert_string_equal(a, "shop");
	assert_string_equal(c, "web");
	assert_int_equal(kl_intern_count(t), 2);
	assert_int_equal(kl_intern_bytes(t), STR_BYTES(4) + STR_BYTES(3));
	/* find takes no reference */
	assert_ptr_equal(kl_intern_find(t, "shop", (size_t)-1), a);
	assert_null(kl_intern_find(t, "shoe", (size_t)-1));
	kl_intern_put(t, a);
	kl_intern_put(t, b);
	kl_intern_put(t, c);
	assert_int_equal(kl_intern_count(t), 0);
	assert_int_equal(kl_intern_bytes(t), 0);
	assert_null(kl_intern_find(t, "shop", (size_t)-1));
	kl_intern_free(t);
}

static void test_refcounts(void **state)
{
	struct kl_intern *t = kl_intern_new();
	const char *a, *b;

	assert_non_null(t);
	a = kl_intern_get(t, "CrashLoopBackOff", (size_t)-1);
	assert_ptr_equal(kl_intern_ref(t, a), a);
	assert_ptr_equal(kl_intern_ref(t, a), a);
	assert_null(kl_intern_ref(t, NULL));
	kl_intern_put(t, NULL);
	/* three references: two puts leave it alive */
	kl_intern_put(t, a);
	kl_intern_put(t, a);
	assert_int_equal(kl_intern_count(t), 1);
	assert_ptr_equal(kl_intern_find(t, "CrashLoopBackOff", (size_t)-1), a);
	assert_string_equal(a, "CrashLoopBackOff");
	kl_intern_put(t, a);
	assert_int_equal(kl_intern_count(t), 0);
	assert_null(kl_intern_find(t, "CrashLoopBackOff", (size_t)-1));
	/* interning it again makes a fresh string */
	b = kl_intern_get(t, "CrashLoopBackOff", (size_t)-1);
	assert_non_null(b);
	assert_int_equal(kl_intern_count(t), 1);
	kl_intern_put(t, b);
	kl_intern_free(t);
}

static void test_lengths(void **state)
{
	struct kl_intern *t = kl_intern_new();
	const char *whole, *pre, *pre2, *empty, *empty2, *nul;
	static const char with_nul[] = {'a', '\0', 'b'};

	assert_non_null(t);
	whole = kl_intern_get(t, "kube-system", (size_t)-1);
	pre = kl_intern_get(t, "kube-system", 4);
	assert_ptr_not_equal(whole, pre);
	assert_string_equal(pre, "kube");
	pre2 = kl_intern_get(t, "kube", (size_t)-1);
	assert_ptr_equal(pre, pre2);
	assert_ptr_equal(kl_intern_find(t, "kubelet", 4), pre);
	empty = kl_intern_get(t, "xyz", 0);
	empty2 = kl_intern_get(t, "", (size_t)-1);
	assert_ptr_equal(empty, empty2);
	assert_string_equal(empty, "");
	/* bytes after a NUL count when len says so */
	nul = kl_intern_get(t, with_nul, sizeof(with_nul));
	assert_ptr_not_equal(nul, kl_intern_find(t, "a", (size_t)-1));
	assert_memory_equal(nul, with_nul, sizeof(with_nul));
	assert_int_equal(nul[3], '\0');
	assert_int_equal(kl_intern_count(t), 4);
	assert_int_equal(kl_intern_bytes(t),
			 STR_BYTES(11) + STR_BYTES(4) + STR_BYTES(0) + STR_BYTES(3));
	kl_intern_put(t, whole);
	kl_intern_put(t, pre);
	kl_intern_put(t, pre2);
	kl_intern_put(t, empty);
	kl_intern_put(t, empty2);
	kl_intern_put(t, nul);
	assert_int_equal(kl_intern_count(t), 0);
	kl_intern_free(t);
}

#define MANY 100000

static void name_of(char *buf, size_t size, int i)
{
	snprintf(buf, size, "web-%x-pod-%d", (unsigned)i * 2654435761u, i);
}

/* 100,000 distinct strings: growth from the first 64 slots, then all put in a churn order. */
static void test_many(void **state)
{
	struct kl_intern *t = kl_intern_new();
	const char **s = calloc(MANY, sizeof(*s));
	size_t bytes = 0;
	char buf[64];
	int i;

	assert_non_null(t);
	assert_non_null(s);
	for (i = 0; i < MANY; i++) {
		name_of(buf, sizeof(buf), i);
		s[i] = kl_intern_get(t, buf, (size_t)-1);
		assert_non_null(s[i]);
		bytes += STR_BYTES(strlen(buf));
	}
	assert_int_equal(kl_intern_count(t), MANY);
	assert_int_equal(kl_intern_bytes(t), bytes);
	/* after growth every string is found again, as itself */
	for (i = 0; i < MANY; i++) {
		name_of(buf, sizeof(buf), i);
		assert_ptr_equal(kl_intern_find(t, buf, (size_t)-1), s[i]);
		assert_ptr_equal(kl_intern_get(t, buf, (size_t)-1), s[i]);
	}
	assert_int_equal(kl_intern_count(t), MANY);
	/* drop the extra references, then every odd string */
	for (i = 0; i < MANY; i++)
		kl_intern_put(t, s[i]);
	for (i = 1; i < MANY; i += 2)
		kl_intern_put(t, s[i]);
	assert_int_equal(kl_intern_count(t), MANY / 2);
	/* removals shifted runs back: the survivors are still found, the others not */
	for (i = 0; i < MANY; i++) {
		name_of(buf, sizeof(buf), i);
		if (i % 2)
			assert_null(kl_intern_find(t, buf, (size_t)-1));
		else
			assert_ptr_equal(kl_intern_find(t, buf, (size_t)-1), s[i]);
	}
	for (i = 0; i < MANY; i += 2)
		kl_intern_put(t, s[i]);
	assert_int_equal(kl_intern_count(t), 0);
	assert_int_equal(kl_intern_bytes(t), 0);
	free(s);
	kl_intern_free(t);
}

/* Interleaved gets and puts keep the table consistent (a churning pod cache). */
static void test_churn(void **state)
{
	struct kl_intern *t = kl_intern_new();
	const char *live[512] = {0};
	char buf[32];
	uint32_t x = 12345;

	assert_non_null(t);
	for (int round = 0; round < 200000; round++) {
		unsigned k;

		x = x * 1103515245u + 12345u;
		k = (x >> 8) % 512;
		snprintf(buf, sizeof(buf), "ns-%u", k);
		if (live[k]) {
			assert_ptr_equal(kl_intern_find(t, buf, (size_t)-1), live[k]);
			kl_intern_put(t, live[k]);
			live[k] = NULL;
			assert_null(kl_intern_find(t, buf, (size_t)-1));
		} else {
			assert_null(kl_intern_find(t, buf, (size_t)-1));
			live[k] = kl_intern_get(t, buf, (size_t)-1);
			assert_non_null(live[k]);
			assert_string_equal(live[k], buf);
		}
	}
	for (unsigned k = 0; k < 512; k++)
		kl_intern_put(t, live[k]);
	assert_int_equal(kl_intern_count(t), 0);
	kl_intern_free(t);
}

/* kl_intern_free releases strings still referenced (the sanitize build checks). */
static void test_free_with_refs(void **state)
{
	struct kl_intern *t = kl_intern_new();

	assert_non_null(t);
	assert_non_null(kl_intern_get(t, "left", (size_t)-1));
	assert_non_null(kl_intern_get(t, "behind", (size_t)-1));
	kl_intern_free(t);
	kl_intern_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_pointer),
		cmocka_unit_test(test_refcounts),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_churn),
		cmocka_unit_test(test_free_with_refs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
