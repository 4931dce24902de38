/*
 * util/intern.h - one copy of each string the caches hold, shared and counted.
 *
 * 50,000 pods repeat a few hundred namespaces, a handful of phases and reasons and
 * a few thousand owner and node names. The projected caches keep pointers into
 * this table instead of copies: equal strings are equal pointers (compare with ==),
 * and each string costs its bytes once. Each reference is counted; the last put
 * frees the string. Loop thread only.
 */
#ifndef KL_UTIL_INTERN_H
#define KL_UTIL_INTERN_H

#include <stddef.h>

struct kl_intern;

/* Returns a new table, free with kl_intern_free(); NULL on ENOMEM. */
struct kl_intern *kl_intern_new(void);
/* Frees the table and every string in it, referenced or not. */
void kl_intern_free(struct kl_intern *t);

/*
 * Returns the interned copy of s[0..len) (NUL-terminated) with one more reference,
 * or NULL on ENOMEM. len may be (size_t)-1 for strlen(s).
 */
const char *kl_intern_get(struct kl_intern *t, const char *s, size_t len);
/* Looks up without taking a reference; NULL when the string is not interned. */
const char *kl_intern_find(const struct kl_intern *t, const char *s, size_t len);
/* Takes another reference on an interned string (NULL is ignored); returns it. */
const char *kl_intern_ref(struct kl_intern *t, const char *s);
/* Drops a reference (NULL is ignored); the last one frees the string. */
void kl_intern_put(struct kl_intern *t, const char *s);

/* Distinct strings held and the bytes they take (headers included). */
size_t kl_intern_count(const struct kl_intern *t);
size_t kl_intern_bytes(const struct kl_intern *t);

#endif
