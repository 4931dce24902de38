/*
 * controllers/form.c - application/x-www-form-urlencoded bodies (see form.h).
 *
 * DESIGN
 * - A body is validated whole on every lookup: a bad %-escape, %00 or a raw NUL
 *   anywhere makes the body malformed (-EINVAL), whichever key is asked for, so the
 *   answer for a body does not depend on the order of the caller's lookups.
 */
#include "controllers/form.h"

#include <errno.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes one byte at *p (< end) and advances; -EINVAL for a bad escape or a NUL. */
static int form_byte(const char **p, const char *end)
{
	const char *s = *p;
	int hi, lo, c;

	if (*s == '+') {
		*p = s + 1;
		return ' ';
	}
	if (*s != '%') {
		*p = s + 1;
		c = (unsigned char)*s;
		return c ? c : -EINVAL;
	}
	if (end - s < 3)
		return -EINVAL;
	hi = hexval(s[1]);
	lo = hexval(s[2]);
	if (hi < 0 || lo < 0)
		return -EINVAL;
	*p = s + 3;
	c = hi << 4 | lo;
	return c ? c : -EINVAL;
}

/* 1 when [p, end) decodes to key, 0 when not, -EINVAL when it does not decode. */
static int form_key_is(const char *p, const char *end, const char *key)
{
	int match = 1;

	while (p < end) {
		int c = form_byte(&p, end);

		if (c < 0)
			return c;
		if (match && *key && (unsigned char)*key == c)
			key++;
		else
			match = 0;
	}
	return match && !*key;
}

int kl_form_get(const char *body, size_t len, const char *key, char *out, size_t outlen)
{
	const char *p, *end, *val = NULL, *vend = NULL;
	size_t n = 0;
	int c;

	if (outlen)
		out[0] = '\0';
	if (!body || !len)
		return -ENOENT;
	p = body;
	end = body + len;
	while (p < end) {
		const char *pe = memchr(p, '&', (size_t)(end - p));
		const char *eq, *q;
		int match;

		if (!pe)
			pe = end;
		eq = memchr(p, '=', (size_t)(pe - p));
		if (pe > p) {
			match = form_key_is(p, eq ? eq : pe, key);
			if (match < 0)
				return match;
			for (q = eq ? eq + 1 : pe; q < pe;)
				if (form_byte(&q, pe) < 0)
					return -EINVAL;
			if (match && !val) {
				val = eq ? eq + 1 : pe;
				vend = pe;
			}
		}
		p = pe < end ? pe + 1 : end;
	}
	if (!val)
		return -ENOENT;
	while (val < vend) {
		c = form_byte(&val, vend);
		if (n + 1 >= outlen) {
			if (outlen)
				out[0] = '\0';
			return -E2BIG;
		}
		out[n++] = (char)c;
	}
	if (!outlen)
		return -E2BIG;
	out[n] = '\0';
	return 0;
}
