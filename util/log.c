/*
 * util/log.c - logfmt/JSON line writer (see log.h).
 *
 * Each line is built in a local buffer and written with one fwrite, so a line is
 * never interleaved with another process sharing stderr. Values are quoted and
 * escaped; control bytes never reach the terminal raw.
 */
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define LINE_MAX_BYTES 8192

struct line {
	char buf[LINE_MAX_BYTES];
	size_t len;
};

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void kl_log_init(struct kl_log *log, enum kl_log_format format, int verbosity, FILE *out)
{
	log->format = format;
	log->verbosity = verbosity;
	log->out = out;
}

int kl_log_format_parse(const char *s, enum kl_log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = KL_LOG_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = KL_LOG_JSON;
	else
		return -EINVAL;
	return 0;
}

static void put(struct line *l, const char *s, size_t n)
{
	/* keep room for "...\n" so a cut line is visibly cut and still ends */
	size_t room = sizeof(l->buf) - 5 - l->len;

	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static void put_escaped(struct line *l, const char *s, int json)
{
	char tmp[8];

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			put(l, tmp, 2);
		} else if (c == '\n') {
			put(l, "\\n", 2);
		} else if (c == '\t') {
			put(l, "\\t", 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(tmp, sizeof(tmp), json ? "\\u%04x" : "\\x%02x", c);
			puts_(l, tmp);
		} else {
			put(l, s, 1);
		}
	}
}

static int needs_quotes(const char *s)
{
	if (!*s)
		return 1;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
			return 1;
	}
	return 0;
}

static void put_field(struct line *l, int json, int first, const char *key, const char *val)
{
	if (!val)
		val = "";
	if (json) {
		if (!first)
			puts_(l, ",");
		puts_(l, "\"");
		put_escaped(l, key, 1);
		puts_(l, "\":\"");
		put_escaped(l, val, 1);
		puts_(l, "\"");
		return;
	}
	if (!first)
		puts_(l, " ");
	puts_(l, key);
	puts_(l, "=");
	if (needs_quotes(val)) {
		puts_(l, "\"");
		put_escaped(l, val, 0);
		puts_(l, "\"");
	} else {
		puts_(l, val);
	}
}

void kl_log_write(const struct kl_log *log, enum kl_log_level level, const char *component,
		  const char *msg, ...)
{
	struct line l;
	struct timeval tv;
	struct tm tm;
	char ts[96];
	const char *key, *val;
	int json = log->format == KL_LOG_JSON;
	va_list ap;

	if (!log->out)
		return;
	l.len = 0;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(tv.tv_usec / 1000));
	if (json)
		puts_(&l, "{");
	put_field(&l, json, 1, "time", ts);
	put_field(&l, json, 0, "level", level_names[level]);
	put_field(&l, json, 0, "component", component);
	put_field(&l, json, 0, "msg", msg);
	va_start(ap, msg);
	while ((key = va_arg(ap, const char *)) != NULL) {
		val = va_arg(ap, const char *);
		put_field(&l, json, 0, key, val);
	}
	va_end(ap);
	if (json)
		puts_(&l, "}");
	if (l.len >= sizeof(l.buf) - 5)
		memcpy(l.buf + l.len, "...", 3), l.len += 3;
	l.buf[l.len++] = '\n';
	fwrite(l.buf, 1, l.len, log->out);
	fflush(log->out);
}
