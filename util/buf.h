/*
 * util/buf.h - a growable byte buffer, and JSON strings written into it.
 *
 * Several places write small JSON documents (the state ConfigMap, chat-ops
 * answers, Events) and log-friendly text; one buffer type with sticky out-of-
 * memory (check once at the end) keeps each of them short and leak-free.
 */
#ifndef KL_UTIL_BUF_H
#define KL_UTIL_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct kl_buf {
	char *p; /* NUL-terminated when len > 0; owned: free with kl_buf_free() */
	size_t len, cap;
	bool oom; /* an append failed: the content is incomplete */
};

void kl_buf_init(struct kl_buf *b);
void kl_buf_free(struct kl_buf *b);
void kl_buf_add(struct kl_buf *b, const char *s, size_t n);
void kl_buf_puts(struct kl_buf *b, const char *s);
void kl_buf_printf(struct kl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a quoted, escaped JSON string. */
void kl_buf_json_string(struct kl_buf *b, const char *s);
/* The text ("" when empty), or NULL after an allocation failure. */
const char *kl_buf_str(const struct kl_buf *b);

#endif
