/*
 * util/error.h - the first error, with where it happened.
 *
 * Functions return 0 or a negative errno; the human detail travels separately in a
 * struct kl_error that the caller owns. The first error set wins, so a low-level
 * message ("bad duration") is not overwritten by a vaguer one further up.
 */
#ifndef KL_UTIL_ERROR_H
#define KL_UTIL_ERROR_H

#include <stddef.h>

struct kl_error {
	char file[256]; /* "" when the error is not about a file */
	int line;	/* 1-based; 0 when unknown */
	int col;	/* 1-based; 0 when unknown */
	char msg[512];
};

void kl_error_clear(struct kl_error *err);
/* true once a message is set */
int kl_error_isset(const struct kl_error *err);
/* Sets the error unless one is set already. file may be NULL. */
void kl_error_set(struct kl_error *err, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* "FILE:LINE: MSG" (or "MSG" without a file) into buf; returns buf. */
const char *kl_error_str(const struct kl_error *err, char *buf, size_t len);

#endif
