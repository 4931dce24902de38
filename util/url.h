/*
 * util/url.h - percent-encoding for one URL path segment or query value.
 *
 * Names and selectors from the API or the config go into request URLs (pod log
 * paths, labelSelector=...): everything but RFC 3986's unreserved characters is
 * escaped, so the same function serves a path segment and a query value.
 */
#ifndef KL_UTIL_URL_H
#define KL_UTIL_URL_H

#include <stddef.h>

/*
 * Writes s percent-encoded (A-Z a-z 0-9 - _ . ~ kept, every other byte %XX, upper
 * case) into dst of len bytes (len > 0), always NUL-terminated. Input that does not
 * fit is cut at a whole character (never half an escape). Returns the number of
 * input bytes written, so s[return] != '\0' means it was cut.
 */
size_t kl_url_escape(char *dst, size_t len, const char *s);

#endif
