/*
 * util/buf.c - growable buffer and JSON string escaping (see buf.h).
 */
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kl_buf_init(struct kl_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void kl_buf_free(struct kl_buf *b)
{
	free(b->p);
	kl_buf_init(b);
}

static bool reserve(struct kl_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void kl_buf_add(struct kl_buf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void kl_buf_puts(struct kl_buf *b, const char *s)
{
	kl_buf_add(b, s, strlen(s));
}

void kl_buf_printf(struct kl_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void kl_buf_json_string(struct kl_buf *b, const char *s)
{
	char tmp[8];

	kl_buf_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			kl_buf_add(b, tmp, 2);
		} else if (c == '\n') {
			kl_buf_add(b, "\\n", 2);
		} else if (c < 0x20) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", c);
			kl_buf_puts(b, tmp);
		} else {
			kl_buf_add(b, s, 1);
		}
	}
	kl_buf_add(b, "\"", 1);
}

const char *kl_buf_str(const struct kl_buf *b)
{
	if (b->oom)
		return NULL;
	return b->p ? b->p : "";
}
