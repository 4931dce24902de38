/*
 * util/glob.c - glob checks and matching over fnmatch(3) (see glob.h).
 */
#include "util/glob.h"

#include <errno.h>
#include <fnmatch.h>

int kl_glob_check(const char *p)
{
	if (!*p)
		return -EINVAL;
	for (; *p; p++) {
		if (*p == '\\') {
			if (!p[1])
				return -EINVAL;
			p++;
		} else if (*p == '[') {
			const char *q = p + 1;

			if (*q == '!' || *q == '^')
				q++;
			if (*q == ']')
				q++;
			while (*q && *q != ']')
				q++;
			if (!*q)
				return -EINVAL;
			p = q;
		}
	}
	return 0;
}

bool kl_glob_match(const char *pattern, const char *s)
{
	return fnmatch(pattern, s, 0) == 0;
}
