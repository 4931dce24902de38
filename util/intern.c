/*
 * util/intern.c - the string intern table (see intern.h).
 *
 * Design: each string lives in one malloc'd block, a 12-byte header followed by
 * its NUL-terminated bytes:
 *
 *	[ refs | hash | len ][ b y t e s \0 ]
 *	                     ^ the pointer callers hold
 *
 * Callers only ever see the bytes, so kl_intern_put() and kl_intern_ref() step
 * back from the string to its header by offsetof() (str_hdr()). That is only
 * valid for pointers this table returned; passing any other string is a bug of
 * the caller and is not detected.
 *
 * The table itself is open addressing with linear probing over a power-of-two
 * array of header pointers, grown (doubled) before the load passes 3/4. Removal
 * shifts the following entries of the run back (no tombstones), so a table that
 * churns through pods does not degrade. The hash (FNV-1a with a final mix so the
 * low bits that pick the slot are well spread) is kept in the header: growing
 * never rehashes the bytes, and most failed comparisons stop at the hash. A
 * slot costs 8 bytes, so at 3/4 load the index adds 11-21 bytes per string.
 */
#include "util/intern.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SLOTS 64

struct istr {
	uint32_t refs;
	uint32_t hash;
	uint32_t len;
	char s[]; /* len bytes and a NUL */
};

struct kl_intern {
	struct istr **slots; /* cap entries, NULL when free */
	size_t cap;	     /* a power of two */
	size_t count;	     /* strings held */
	size_t bytes;	     /* their blocks: header + len + 1 each */
};

/* The header of a string this table returned (see the file-top comment). */
static struct istr *str_hdr(const char *s)
{
	return (struct istr *)(void *)(s - offsetof(struct istr, s));
}

static uint32_t hash_bytes(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	/* murmur3's finaliser: FNV leaves the low bits weak, and they pick the slot */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

struct kl_intern *kl_intern_new(void)
{
	struct kl_intern *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->slots = calloc(MIN_SLOTS, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return NULL;
	}
	t->cap = MIN_SLOTS;
	return t;
}

void kl_intern_free(struct kl_intern *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->cap; i++)
		free(t->slots[i]);
	free(t->slots);
	free(t);
}

/* The slot holding s[0..len) with hash h, or the free slot that ends its run. */
static size_t slot_for(const struct kl_intern *t, const char *s, size_t len, uint32_t h)
{
	size_t mask = t->cap - 1, i = h & mask;
	const struct istr *e;

	while ((e = t->slots[i])) {
		if (e->hash == h && e->len == len && !memcmp(e->s, s, len))
			return i;
		i = (i + 1) & mask;
	}
	return i;
}

/* Doubles the slot array; the stored hashes place every entry again. */
static int grow(struct kl_intern *t)
{
	size_t ncap = t->cap * 2, mask = ncap - 1;
	struct istr **ns;

	if (ncap < t->cap || ncap > SIZE_MAX / sizeof(*ns))
		return -1;
	ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -1;
	for (size_t i = 0; i < t->cap; i++) {
		struct istr *e = t->slots[i];
		size_t j;

		if (!e)
			continue;
		for (j = e->hash & mask; ns[j]; j = (j + 1) & mask)
			;
		ns[j] = e;
	}
	free(t->slots);
	t->slots = ns;
	t->cap = ncap;
	return 0;
}

const char *kl_intern_get(struct kl_intern *t, const char *s, size_t len)
{
	struct istr *e;
	uint32_t h;
	size_t i;

	if (len == (size_t)-1)
		len = strlen(s);
	/* the header counts in 32 bits; a 4 GiB "string" is refused like an ENOMEM */
	if (len >= UINT32_MAX - sizeof(*e))
		return NULL;
	h = hash_bytes(s, len);
	i = slot_for(t, s, len, h);
	if ((e = t->slots[i])) {
		assert(e->refs < UINT32_MAX);
		e->refs++;
		return e->s;
	}
	/* keep the load at or under 3/4 after this insert */
	if ((t->count + 1) * 4 > t->cap * 3) {
		if (grow(t))
			return NULL;
		i = slot_for(t, s, len, h);
	}
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	e->refs = 1;
	e->hash = h;
	e->len = (uint32_t)len;
	if (len)
		memcpy(e->s, s, len);
	e->s[len] = '\0';
	t->slots[i] = e;
	t->count++;
	t->bytes += sizeof(*e) + len + 1;
	return e->s;
}

const char *kl_intern_find(const struct kl_intern *t, const char *s, size_t len)
{
	const struct istr *e;

	if (len == (size_t)-1)
		len = strlen(s);
	if (len >= UINT32_MAX - sizeof(*e))
		return NULL;
	e = t->slots[slot_for(t, s, len, hash_bytes(s, len))];
	return e ? e->s : NULL;
}

const char *kl_intern_ref(struct kl_intern *t, const char *s)
{
	struct istr *e;

	(void)t;
	if (!s)
		return NULL;
	e = str_hdr(s);
	assert(e->refs > 0 && e->refs < UINT32_MAX);
	e->refs++;
	return s;
}

/* Whether the home slot k lies cyclically in (i, j]: then the entry at j stays. */
static bool stays(size_t i, size_t j, size_t k)
{
	return i <= j ? i < k && k <= j : i < k || k <= j;
}

/* Empties slot i and pulls later entries of its run back over the gap. */
static void remove_slot(struct kl_intern *t, size_t i)
{
	size_t mask = t->cap - 1, j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (!t->slots[j])
			break;
		if (stays(i, j, t->slots[j]->hash & mask))
			continue;
		t->slots[i] = t->slots[j];
		i = j;
	}
	t->slots[i] = NULL;
}

void kl_intern_put(struct kl_intern *t, const char *s)
{
	struct istr *e;
	size_t mask, i;

	if (!s)
		return;
	e = str_hdr(s);
	assert(e->refs > 0);
	if (--e->refs)
		return;
	/* the entry is in the run from its home slot: find it by identity */
	mask = t->cap - 1;
	for (i = e->hash & mask; t->slots[i] != e; i = (i + 1) & mask)
		assert(t->slots[i]);
	remove_slot(t, i);
	t->count--;
	t->bytes -= sizeof(*e) + e->len + 1;
	free(e);
}

size_t kl_intern_count(const struct kl_intern *t)
{
	return t->count;
}

size_t kl_intern_bytes(const struct kl_intern *t)
{
	return t->bytes;
}
