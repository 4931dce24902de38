/*
 * util/log.h - one line per event on stderr, as logfmt text or JSON.
 *
 * A fixed, greppable message plus key/value fields:
 *   time=2026-11-25T21:00:00Z level=info component=informer msg="watch closed" resource=pods
 * Fields are (key, value) string pairs ended by NULL; callers format numbers
 * themselves. Secrets and webhook URLs are never passed here: the log has no
 * redaction to fall back on, by design, so nothing secret is ever handed to it.
 */
#ifndef KL_UTIL_LOG_H
#define KL_UTIL_LOG_H

#include <stdio.h>

enum kl_log_format { KL_LOG_TEXT, KL_LOG_JSON };
enum kl_log_level { KL_LOG_ERROR, KL_LOG_WARN, KL_LOG_INFO, KL_LOG_DEBUG };

struct kl_log {
	enum kl_log_format format;
	int verbosity; /* -v N: debug lines of level <= N are written */
	FILE *out;     /* borrowed; stderr in the binary */
};

void kl_log_init(struct kl_log *log, enum kl_log_format format, int verbosity, FILE *out);
/* Parses "text" or "json"; -EINVAL otherwise. */
int kl_log_format_parse(const char *s, enum kl_log_format *out);

/* Writes one line; the variadic part is (const char *key, const char *value)... NULL. */
void kl_log_write(const struct kl_log *log, enum kl_log_level level, const char *component,
		  const char *msg, ...) __attribute__((sentinel));

/* Debug line written only when -v is at least v. */
#define kl_log_v(log, v, comp, ...)                                                                \
	do {                                                                                       \
		if ((log)->verbosity >= (v))                                                       \
			kl_log_write((log), KL_LOG_DEBUG, (comp), __VA_ARGS__, NULL);              \
	} while (0)
#define kl_log_info(log, comp, ...) kl_log_write((log), KL_LOG_INFO, (comp), __VA_ARGS__, NULL)
#define kl_log_warn(log, comp, ...) kl_log_write((log), KL_LOG_WARN, (comp), __VA_ARGS__, NULL)
#define kl_log_error(log, comp, ...) kl_log_write((log), KL_LOG_ERROR, (comp), __VA_ARGS__, NULL)

#endif
