/*
 * util/error.c - first-error-wins detail beside errno-style returns (see error.h).
 */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void kl_error_clear(struct kl_error *err)
{
	memset(err, 0, sizeof(*err));
}

int kl_error_isset(const struct kl_error *err)
{
	return err->msg[0] != '\0';
}

void kl_error_set(struct kl_error *err, const char *file, int line, int col, const char *fmt, ...)
{
	va_list ap;

	if (!err || kl_error_isset(err))
		return;
	snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
	err->line = line;
	err->col = col;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (!err->msg[0])
		snprintf(err->msg, sizeof(err->msg), "unknown error");
}

const char *kl_error_str(const struct kl_error *err, char *buf, size_t len)
{
	if (err->file[0] && err->line > 0)
		snprintf(buf, len, "%s:%d: %s", err->file, err->line, err->msg);
	else if (err->file[0])
		snprintf(buf, len, "%s: %s", err->file, err->msg);
	else
		snprintf(buf, len, "%s", err->msg);
	return buf;
}
