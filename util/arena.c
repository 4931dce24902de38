/*
 * util/arena.c - bump allocator over a list of blocks (see arena.h).
 *
 * Large requests get a block of their own so a big secret file does not waste a
 * standard block; small ones are carved from the head block.
 */
#include "util/arena.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_SIZE 4096

struct kl_arena_block {
	struct kl_arena_block *next;
	size_t used;
	size_t cap;
	alignas(max_align_t) unsigned char data[];
};

void kl_arena_init(struct kl_arena *a)
{
	a->head = NULL;
	a->total = 0;
}

void kl_arena_free(struct kl_arena *a)
{
	struct kl_arena_block *b = a->head, *next;

	while (b) {
		next = b->next;
		free(b);
		b = next;
	}
	kl_arena_init(a);
}

static struct kl_arena_block *block_new(size_t cap)
{
	struct kl_arena_block *b = malloc(sizeof(*b) + cap);

	if (!b)
		return NULL;
	b->next = NULL;
	b->used = 0;
	b->cap = cap;
	return b;
}

void *kl_arena_alloc(struct kl_arena *a, size_t size)
{
	const size_t align = alignof(max_align_t);
	struct kl_arena_block *b = a->head;
	size_t need = (size + align - 1) & ~(align - 1);
	void *p;

	if (need < size)
		return NULL;
	if (need == 0)
		need = align;
	if (need > BLOCK_SIZE / 4) {
		b = block_new(need);
		if (!b)
			return NULL;
		/* keep the head block current for small allocations */
		if (a->head) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			a->head = b;
		}
	} else if (!b || b->cap - b->used < need) {
		b = block_new(BLOCK_SIZE);
		if (!b)
			return NULL;
		b->next = a->head;
		a->head = b;
	}
	p = b->data + b->used;
	b->used += need;
	a->total += need;
	memset(p, 0, size);
	return p;
}

char *kl_arena_strndup(struct kl_arena *a, const char *s, size_t n)
{
	char *p = kl_arena_alloc(a, n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *kl_arena_strdup(struct kl_arena *a, const char *s)
{
	return kl_arena_strndup(a, s, strlen(s));
}
