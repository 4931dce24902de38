/*
 * util/rfc3339.c - RFC 3339 parse and format (see rfc3339.h).
 *
 * The grammar is checked by hand, digit by digit: strptime() skips spaces and takes
 * short fields, which would let "2024-1-2T3:4:5Z" through. timegm() turns the UTC
 * fields into seconds.
 */
#include "util/rfc3339.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* n decimal digits at *p (advanced), or -1 */
static int digits(const char **p, int n)
{
	int v = 0;

	while (n--) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (*(*p)++ - '0');
	}
	return v;
}

/* "Z" or "+HH:MM"/"-HH:MM" at p, then the end: the offset ahead of UTC, in seconds */
static int zone(const char *p, int *off)
{
	int sign, oh, om;

	if (*p == 'Z' || *p == 'z')
		return p[1] ? -EINVAL : 0;
	if (*p != '+' && *p != '-')
		return -EINVAL;
	sign = *p++ == '-' ? -1 : 1;
	oh = digits(&p, 2);
	if (oh < 0 || oh > 23 || *p++ != ':')
		return -EINVAL;
	om = digits(&p, 2);
	if (om < 0 || om > 59 || *p)
		return -EINVAL;
	*off = sign * (oh * 3600 + om * 60);
	return 0;
}

int kl_rfc3339_parse(const char *s, int64_t *out)
{
	struct tm tm = { 0 };
	const char *p = s;
	int year, mon, day, hour, min, sec, off = 0;
	time_t t;

	if (!s)
		return -EINVAL;
	year = digits(&p, 4);
	if (year < 0 || *p++ != '-')
		return -EINVAL;
	mon = digits(&p, 2);
	if (mon < 1 || mon > 12 || *p++ != '-')
		return -EINVAL;
	day = digits(&p, 2);
	if (day < 1 || day > 31 || (*p != 'T' && *p != 't' && *p != ' '))
		return -EINVAL;
	p++;
	hour = digits(&p, 2);
	if (hour < 0 || hour > 23 || *p++ != ':')
		return -EINVAL;
	min = digits(&p, 2);
	if (min < 0 || min > 59 || *p++ != ':')
		return -EINVAL;
	sec = digits(&p, 2);
	if (sec < 0 || sec > 60)
		return -EINVAL;
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return -EINVAL;
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	}
	if (zone(p, &off) < 0)
		return -EINVAL;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm); /* cannot fail: four-digit years, fields in range */
	*out = (int64_t)t - off;
	return 0;
}

char *kl_rfc3339_format(int64_t t, char buf[KL_RFC3339_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900 ||
	    !strftime(buf, KL_RFC3339_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, KL_RFC3339_LEN, "%s", "1970-01-01T00:00:00Z");
	return buf;
}
