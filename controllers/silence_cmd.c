/*
 * controllers/silence_cmd.c - the silence commands' grammar (see silence_cmd.h).
 *
 * Words are split on white space; NAMESPACE is a DNS label, CONTROLLER one of the
 * known names, DURATION as util/duration.h. Whatever the user typed is echoed back
 * only sanitized (printable ASCII, at most 40 bytes), as the answer goes to a chat.
 */
#include "controllers/silence_cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/duration.h"

#define SHOWN_MAX 40

static const char *const verbs[] = { "silence", "unsilence", "silences", "alerts" };

static const char help_text[] =
    "  silence NAMESPACE [CONTROLLER] DURATION [REASON...]  send nothing about NAMESPACE's"
    " alerts (of CONTROLLER) for DURATION\n"
    "  unsilence NAMESPACE [CONTROLLER]  end those silences now\n"
    "  silences [NAMESPACE]  list the silences\n"
    "  alerts [NAMESPACE]  list the alerts firing now";

__attribute__((format(printf, 3, 4))) static int say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf && len) {
		va_start(ap, fmt);
		vsnprintf(buf, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The next word of *s into w (at most size-1 bytes, else -E2BIG); 0 when none is left. */
static int next_word(const char **s, char *w, size_t size)
{
	size_t n = 0;

	while (is_space(**s))
		(*s)++;
	while (**s && !is_space(**s)) {
		if (n + 1 >= size)
			return -E2BIG;
		w[n++] = *(*s)++;
	}
	w[n] = '\0';
	return (int)n;
}

/* w, sanitized for an answer: printable ASCII but quotes, at most SHOWN_MAX bytes. */
static const char *shown(const char *w, char *buf, size_t len)
{
	size_t i, n = 0;

	for (i = 0; w[i] && n + 4 < len && i < SHOWN_MAX; i++)
		buf[n++] = (w[i] > 32 && w[i] < 127 && w[i] != '"') ? w[i] : '?';
	if (w[i] && n + 4 <= len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static bool is_label(const char *s)
{
	size_t i, n = strlen(s);

	if (!n || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

bool kl_scmd_is_ours(const char *text)
{
	char w[16];
	size_t i;

	if (!text || next_word(&text, w, sizeof(w)) <= 0)
		return false;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(w, verbs[i]) == 0)
			return true;
	return false;
}

const char *kl_scmd_name(enum kl_scmd_verb v)
{
	return (unsigned)v <= KL_SCMD_ALERTS ? verbs[v] : "unknown";
}

const char *kl_scmd_help(void)
{
	return help_text;
}

static bool known(const char *const *controllers, const char *w)
{
	for (; controllers && *controllers; controllers++)
		if (strcmp(*controllers, w) == 0)
			return true;
	return false;
}

/* The rest of the line as the reason: trimmed, control bytes as spaces, shortened. */
static void take_reason(const char *s, char *out, size_t size)
{
	size_t n = 0, end;

	while (is_space(*s))
		s++;
	for (; *s && n + 1 < size; s++)
		out[n++] = ((unsigned char)*s < 32 || *s == 127) ? ' ' : *s;
	for (end = n; end > 0 && out[end - 1] == ' '; end--)
		;
	out[end] = '\0';
}

/* NAMESPACE (required or not) and an optional CONTROLLER; *s past them. */
static int take_target(const char **s, const char *verb, bool required,
		       const char *const *controllers, bool controller_ok, struct kl_scmd *out,
		       char *err, size_t errlen)
{
	char w[80], sh[SHOWN_MAX + 4];
	const char *at;
	int n = next_word(s, w, sizeof(w));

	if (n == 0 && !required)
		return 0;
	if (n == 0)
		return say(err, errlen, "%s: usage: %s NAMESPACE%s", verb, verb,
			   controller_ok ? " [CONTROLLER]" : "");
	if (n < 0 || !is_label(w))
		return say(err, errlen, "%s: \"%s\" is not a namespace name", verb,
			   shown(n < 0 ? "(too long)" : w, sh, sizeof(sh)));
	memcpy(out->ns, w, strlen(w) + 1); /* a label: at most 63 bytes */
	at = *s;
	n = next_word(s, w, sizeof(w));
	if (n > 0 && (size_t)n < sizeof(out->controller) && controller_ok && known(controllers, w)) {
		memcpy(out->controller, w, (size_t)n + 1);
		return 0;
	}
	*s = at;
	return 0;
}

/* util/duration.h's syntax, and whole days ("1d", "7d"), which chat users type. */
static int parse_duration(const char *w, uint64_t *ms)
{
	size_t i, n = strlen(w);
	uint64_t days = 0;

	if (n < 2 || n > 4 || w[n - 1] != 'd')
		return kl_duration_parse(w, ms);
	for (i = 0; i + 1 < n; i++) {
		if (w[i] < '0' || w[i] > '9')
			return -EINVAL;
		days = days * 10 + (uint64_t)(w[i] - '0');
	}
	*ms = days * 24 * 3600 * 1000;
	return 0;
}

static int parse_silence(const char *s, const char *const *controllers, uint64_t max_ms,
			 struct kl_scmd *out, char *err, size_t errlen)
{
	char w[80], sh[SHOWN_MAX + 4], d1[32], d2[32];
	int n, rc;

	rc = take_target(&s, "silence", true, controllers, true, out, err, errlen);
	if (rc < 0)
		return rc;
	n = next_word(&s, w, sizeof(w));
	if (n == 0)
		return say(err, errlen,
			   "silence: usage: silence NAMESPACE [CONTROLLER] DURATION [REASON...]");
	if (n < 0 || parse_duration(w, &out->for_ms) < 0 || !out->for_ms)
		return say(err, errlen,
			   "silence: \"%s\" is neither a controller nor a duration (30m, 2h, 1d)",
			   shown(n < 0 ? "(too long)" : w, sh, sizeof(sh)));
	if (out->for_ms > max_ms)
		return say(err, errlen, "silence: %s is longer than the allowed %s",
			   kl_duration_format(out->for_ms, d1, sizeof(d1)),
			   kl_duration_format(max_ms, d2, sizeof(d2)));
	take_reason(s, out->reason, sizeof(out->reason));
	return 0;
}

int kl_scmd_parse(const char *text, const char *const *controllers, uint64_t max_ms,
		  struct kl_scmd *out, char *err, size_t errlen)
{
	const char *s = text ? text : "";
	char w[16], rest[2], sh[SHOWN_MAX + 4];
	int rc = -EINVAL;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	if (next_word(&s, w, sizeof(w)) <= 0)
		return say(err, errlen, "no command; try help");
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(w, verbs[i]) == 0)
			break;
	if (i == sizeof(verbs) / sizeof(verbs[0]))
		return say(err, errlen, "unknown command \"%s\"; try help", shown(w, sh, sizeof(sh)));
	out->verb = (enum kl_scmd_verb)i;
	switch (out->verb) {
	case KL_SCMD_SILENCE:
		return parse_silence(s, controllers, max_ms, out, err, errlen);
	case KL_SCMD_UNSILENCE:
		rc = take_target(&s, "unsilence", true, controllers, true, out, err, errlen);
		break;
	case KL_SCMD_SILENCES:
	case KL_SCMD_ALERTS:
		rc = take_target(&s, verbs[i], false, controllers, false, out, err, errlen);
		break;
	}
	if (rc == 0 && next_word(&s, rest, sizeof(rest)) != 0)
		return say(err, errlen, "%s: too many words; try help", verbs[i]);
	return rc;
}
