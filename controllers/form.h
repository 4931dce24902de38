/*
 * controllers/form.h - application/x-www-form-urlencoded bodies (what Slack posts
 * for a slash command), one key at a time.
 *
 * A pure function over bytes, unit-tested with every malformed escape and fuzzed.
 */
#ifndef KL_CONTROLLERS_FORM_H
#define KL_CONTROLLERS_FORM_H

#include <stddef.h>

/*
 * Finds key in an application/x-www-form-urlencoded body and URL-decodes its value
 * ('+' is a space) into out (NUL-terminated). Returns 0, -ENOENT when absent,
 * -EINVAL for a bad %-escape (anywhere in the body), -E2BIG when out is too small.
 */
int kl_form_get(const char *body, size_t len, const char *key, char *out, size_t outlen);

#endif
