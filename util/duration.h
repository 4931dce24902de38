/*
 * util/duration.h - Go-style durations ("30s", "2m", "1h30m", "500ms") as milliseconds.
 *
 * Flags (--leader-elect-lease-duration=15s) and the config file (for: 2m) use the
 * same syntax as Kubernetes tools, so people can paste what they know.
 */
#ifndef KL_UTIL_DURATION_H
#define KL_UTIL_DURATION_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parses one or more NUMBER UNIT pairs (units ms, s, m, h; NUMBER may have a
 * fraction: "1.5h"). "0" alone is accepted. Returns 0, or -EINVAL for anything
 * else (no unit, unknown unit, sign, empty) and -ERANGE on overflow.
 */
int kl_duration_parse(const char *s, uint64_t *ms);
/* Formats as the shortest exact form ("90s" -> "1m30s"); returns buf. */
const char *kl_duration_format(uint64_t ms, char *buf, size_t len);

#endif
