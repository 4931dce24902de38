/*
 * util/arena.h - allocations that share one lifetime, freed by one call.
 *
 * The config (and later each HTTP response) is built from many small strings and
 * arrays; giving them one arena means a failed load or a shutdown frees everything
 * with kl_arena_free() and no path can leak a piece.
 */
#ifndef KL_UTIL_ARENA_H
#define KL_UTIL_ARENA_H

#include <stddef.h>

struct kl_arena_block;

struct kl_arena {
	struct kl_arena_block *head;
	size_t total; /* bytes handed out, for tests and metrics */
};

void kl_arena_init(struct kl_arena *a);
/* Frees every block; the arena can be used again afterwards. */
void kl_arena_free(struct kl_arena *a);
/* Zeroed memory aligned for any type, valid until kl_arena_free(); NULL on ENOMEM. */
void *kl_arena_alloc(struct kl_arena *a, size_t size);
char *kl_arena_strdup(struct kl_arena *a, const char *s);
char *kl_arena_strndup(struct kl_arena *a, const char *s, size_t n);

#endif
