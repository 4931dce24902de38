/*
 * util/rfc3339.h - RFC 3339 timestamps ("2006-01-02T15:04:05Z") to and from Unix seconds.
 *
 * Kubernetes writes every time as RFC 3339 (creationTimestamp, lastTransitionTime,
 * an exec plugin's expirationTimestamp); Kloompas writes its own annotations and
 * notices in the same form. One parser and one formatter for all of them.
 */
#ifndef KL_UTIL_RFC3339_H
#define KL_UTIL_RFC3339_H

#include <stdint.h>

/* "2006-01-02T15:04:05Z" and its NUL */
#define KL_RFC3339_LEN 21

/*
 * Parses YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM) into Unix seconds in *out
 * (the fraction is dropped; T and Z may be lower case, T may be a space; second 60,
 * a leap second, is accepted and folds into the next minute). Digits are exact: no
 * signs, spaces or short fields. Returns 0, or -EINVAL (s NULL, anything else;
 * *out untouched).
 */
int kl_rfc3339_parse(const char *s, int64_t *out);

/*
 * Formats t (Unix seconds, UTC) as "2006-01-02T15:04:05Z" into buf; a time that
 * cannot be shown in four-digit years becomes "1970-01-01T00:00:00Z". Returns buf.
 */
char *kl_rfc3339_format(int64_t t, char buf[KL_RFC3339_LEN]);

#endif
