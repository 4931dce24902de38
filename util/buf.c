/*
 * util/buf.c - growable buffer and JSON string escaping (see buf.h).
 */
#include "util/buf.h"

#include <stdarg.h>
#include <stdint.h>
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

size_t kl_utf8_seq(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool kl_utf8_valid(const char *s)
{
	size_t n = strlen(s), k;

	while (n) {
		k = kl_utf8_seq(s, n);
		if (!k)
			return false;
		s += k;
		n -= k;
	}
	return true;
}

void kl_buf_utf8(struct kl_buf *b, const char *s, size_t n)
{
	size_t k;

	while (n) {
		k = kl_utf8_seq(s, n);
		if (!k) {
			kl_buf_add(b, "\xef\xbf\xbd", 3);
			k = 1;
		} else {
			kl_buf_add(b, s, k);
		}
		s += k;
		n -= k;
	}
}

void kl_buf_chomp(struct kl_buf *b)
{
	while (b->len && b->p[b->len - 1] == '\n')
		b->p[--b->len] = '\0';
}

const char *kl_buf_str(const struct kl_buf *b)
{
	if (b->oom)
		return NULL;
	return b->p ? b->p : "";
}
