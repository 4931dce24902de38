/*
 * util/url.c - percent-encoding (see url.h). One escaper for kubeclient's paths
 * and queries, which had two identical copies.
 */
#include "util/url.h"

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

size_t kl_url_escape(char *dst, size_t len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0, i;

	/* o + 4 < len: room for "%XX" and the NUL, as the two copies this replaces had */
	for (i = 0; s[i] && o + 4 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (unreserved(c)) {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '%';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return i;
}
