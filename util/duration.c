/*
 * util/duration.c - Go-style duration parsing and formatting (see duration.h).
 */
#include "util/duration.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct unit {
	const char *name;
	uint64_t ms;
};

/* longest names first so "ms" is not read as "m" followed by garbage */
static const struct unit units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {NULL, 0},
};

int kl_duration_parse(const char *s, uint64_t *ms)
{
	uint64_t total = 0;

	if (!s || !*s)
		return -EINVAL;
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	while (*s) {
		uint64_t whole = 0, frac = 0, scale = 1, part;
		const struct unit *u;
		int digits = 0;

		while (*s >= '0' && *s <= '9') {
			if (whole > (UINT64_MAX - 9) / 10)
				return -ERANGE;
			whole = whole * 10 + (uint64_t)(*s++ - '0');
			digits++;
		}
		if (*s == '.') {
			s++;
			while (*s >= '0' && *s <= '9') {
				if (scale < 1000000000ULL) {
					frac = frac * 10 + (uint64_t)(*s - '0');
					scale *= 10;
				}
				s++;
				digits++;
			}
		}
		if (!digits)
			return -EINVAL;
		for (u = units; u->name; u++)
			if (strncmp(s, u->name, strlen(u->name)) == 0)
				break;
		if (!u->name)
			return -EINVAL;
		s += strlen(u->name);
		if (whole > UINT64_MAX / u->ms)
			return -ERANGE;
		part = whole * u->ms + frac * u->ms / scale;
		if (total > UINT64_MAX - part)
			return -ERANGE;
		total += part;
	}
	*ms = total;
	return 0;
}

const char *kl_duration_format(uint64_t ms, char *buf, size_t len)
{
	uint64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, rest = ms % 1000;
	size_t off = 0;

	if (ms == 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	buf[0] = '\0';
	if (h)
		off += (size_t)snprintf(buf + off, len > off ? len - off : 0, "%lluh",
					(unsigned long long)h);
	if (m && off < len)
		off += (size_t)snprintf(buf + off, len - off, "%llum", (unsigned long long)m);
	if (s && off < len)
		off += (size_t)snprintf(buf + off, len - off, "%llus", (unsigned long long)s);
	if (rest && off < len)
		snprintf(buf + off, len - off, "%llums", (unsigned long long)rest);
	return buf;
}
