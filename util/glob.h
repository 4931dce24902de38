/*
 * util/glob.h - namespace and user globs ("moc-*") as the config writes them.
 *
 * fnmatch(3) without FNM_PATHNAME: '*', '?' and bracket classes. Validation is
 * separate so a bad pattern is a config error at load, not a silent non-match.
 */
#ifndef KL_UTIL_GLOB_H
#define KL_UTIL_GLOB_H

#include <stdbool.h>

/* 0 when pattern is well formed (brackets closed, no trailing backslash), else -EINVAL. */
int kl_glob_check(const char *pattern);
bool kl_glob_match(const char *pattern, const char *s);

#endif
