/*
 * util/buf.h - a growable byte buffer, and JSON strings written into it.
 *
 * Several places write small JSON documents (the state ConfigMap, chat-ops
 * answers, Events) and log-friendly text; one buffer type with sticky out-of-
 * memory (check once at the end) keeps each of them short and leak-free. The
 * UTF-8 helpers serve the notifiers, which cut and escape text from logs.
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
/*
 * UTF-8: text from the outside (container logs, names) reaches JSON and chat
 * messages only as valid UTF-8, and cuts must not split a character.
 * kl_utf8_seq: the length of the valid sequence at s (n > 0 bytes left), or 0
 * when the byte at s starts none (overlong forms and surrogates are invalid).
 */
size_t kl_utf8_seq(const char *s, size_t n);
bool kl_utf8_valid(const char *s);
/* Appends n bytes of s as valid UTF-8: each invalid byte becomes U+FFFD. */
void kl_buf_utf8(struct kl_buf *b, const char *s, size_t n);
/* Drops trailing newlines. */
void kl_buf_chomp(struct kl_buf *b);
/* The text ("" when empty), or NULL after an allocation failure. */
const char *kl_buf_str(const struct kl_buf *b);

#endif
