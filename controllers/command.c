/*
 * controllers/command.c - the chat command grammar (see command.h).
 *
 * DESIGN
 * - Commands are split into at most a handful of words (any ASCII white space
 *   separates them; no quoting, as no valid argument contains a space) and checked
 *   in reading order: the verb, the number of words, then each value. Every message
 *   names the command as typed and, for arity errors, its usage; words the user
 *   typed are echoed sanitized (printable ASCII, no quotes, at most 40 characters),
 *   because the text goes back to a chat.
 * - "!CLUSTER-set-replicas" is set-replicas under another name, "for DURATION"
 *   included; a CLUSTER other than ours is an error that names both.
 * - The HTTP API's JSON body is checked for its shape only, then rebuilt as a
 *   command line and parsed as one, so the API and Slack obey one grammar.
 */
#include "controllers/command.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kubeclient/json.h"
#include "util/duration.h"

#define REPLICAS_MAX 100000
#define NS_MAX 63		   /* a namespace is a DNS label */
#define SHOWN_MAX 40		   /* longest echo of a user's word in a message */
#define SHOWN_SIZE (SHOWN_MAX + 4) /* plus "..." and NUL */
#define MAX_WORDS 7		   /* one more than the longest command: a surplus is seen */

static const char set_usage[] = "NAMESPACE DEPLOYMENT N [for DURATION]";
static const char get_usage[] = "NAMESPACE DEPLOYMENT";
static const char bang_suffix[] = "-set-replicas";
static const char label_rule[] =
    "lowercase letters, digits and '-', starting and ending with a letter or digit";
static const char subdomain_rule[] =
    "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit";

static const char help_text[] =
    "Commands:\n"
    "  set-replicas NAMESPACE DEPLOYMENT N [for DURATION]  set a Deployment's replicas;"
    " with \"for\" (e.g. for 2h) the old count comes back after that time\n"
    "  get-replicas NAMESPACE DEPLOYMENT  show a Deployment's replicas\n"
    "  !CLUSTER-set-replicas NAMESPACE DEPLOYMENT N  the same as set-replicas\n"
    "  help  this text\n"
    "Durations: 30m, 2h, 1h30m.";

__attribute__((format(printf, 3, 4))) static void say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

struct words {
	const char *w[MAX_WORDS];
	size_t len[MAX_WORDS];
	size_t n; /* all words, including those beyond MAX_WORDS */
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void split_words(const char *s, struct words *ws)
{
	ws->n = 0;
	for (;;) {
		const char *start;

		while (is_space(*s))
			s++;
		if (!*s)
			return;
		start = s;
		while (*s && !is_space(*s))
			s++;
		if (ws->n < MAX_WORDS) {
			ws->w[ws->n] = start;
			ws->len[ws->n] = (size_t)(s - start);
		}
		ws->n++;
	}
}

static bool word_is(const struct words *ws, size_t i, const char *lit)
{
	return ws->len[i] == strlen(lit) && memcmp(ws->w[i], lit, ws->len[i]) == 0;
}

/* A user's word made safe to quote back: printable ASCII without quotes, truncated. */
static const char *shown(const char *w, size_t len, char buf[SHOWN_SIZE])
{
	size_t i, n = len > SHOWN_MAX ? SHOWN_MAX : len;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];

		buf[i] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\') ? '?' : (char)c;
	}
	if (len > SHOWN_MAX) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/*
 * RFC 1123 as Kubernetes checks it: a label is [a-z0-9]([-a-z0-9]*[a-z0-9])?; a
 * subdomain is labels joined by '.', at most 253 characters in all.
 */
static bool valid_name(const char *w, size_t len, size_t max, bool dots)
{
	size_t i;

	if (len == 0 || len > max)
		return false;
	for (i = 0; i < len; i++) {
		char c = w[i];

		if (is_alnum_lower(c))
			continue;
		if (c == '-' && i > 0 && i < len - 1)
			continue;
		if (c == '.' && dots && i > 0 && i < len - 1 && is_alnum_lower(w[i - 1]) &&
		    is_alnum_lower(w[i + 1]))
			continue;
		return false;
	}
	return true;
}

/* Plain digits only: no sign, no space, no suffix. Leading zeros are fine. */
static int parse_count(const char *w, size_t len, int *n)
{
	unsigned v = 0;
	size_t i;

	if (len == 0)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (w[i] < '0' || w[i] > '9')
			return -EINVAL;
		if (v <= REPLICAS_MAX) /* stays small: no overflow on long inputs */
			v = v * 10 + (unsigned)(w[i] - '0');
	}
	if (v > REPLICAS_MAX)
		return -ERANGE;
	*n = (int)v;
	return 0;
}

static int copy_name(const struct words *ws, size_t i, char *dst, size_t max, bool dots,
		     const char *verb, const char *what, char *err, size_t errlen)
{
	char sb[SHOWN_SIZE];

	if (!valid_name(ws->w[i], ws->len[i], max, dots)) {
		say(err, errlen, "%s: invalid %s \"%s\" (%s, at most %zu characters)", verb, what,
		    shown(ws->w[i], ws->len[i], sb), dots ? subdomain_rule : label_rule, max);
		return -EINVAL;
	}
	memcpy(dst, ws->w[i], ws->len[i]);
	dst[ws->len[i]] = '\0';
	return 0;
}

static int parse_target(const struct words *ws, const char *verb, struct kl_cmd *out, char *err,
			size_t errlen)
{
	int ret;

	ret = copy_name(ws, 1, out->ns, NS_MAX, false, verb, "namespace", err, errlen);
	if (ret)
		return ret;
	return copy_name(ws, 2, out->deployment, KL_NAME_MAX, true, verb, "deployment name", err,
			 errlen);
}

static int arity(const struct words *ws, size_t min, size_t max, const char *verb,
		 const char *usage, const char *const *names, char *err, size_t errlen)
{
	/* ws->n counts the verb: argument k is word k */
	if (ws->n - 1 < min) {
		say(err, errlen, "%s: missing %s; usage: %s %s", verb, names[ws->n - 1], verb,
		    usage);
		return -EINVAL;
	}
	if (ws->n - 1 > max) {
		say(err, errlen, "%s: too many arguments; usage: %s %s", verb, verb, usage);
		return -EINVAL;
	}
	return 0;
}

static int parse_for(const struct words *ws, uint64_t max_ms, const char *verb, struct kl_cmd *out,
		     char *err, size_t errlen)
{
	char sb[SHOWN_SIZE], buf[64], got[32], lim[32];
	uint64_t ms;
	int ret;

	if (!word_is(ws, 4, "for")) {
		say(err, errlen, "%s: expected \"for DURATION\" after N, got \"%s\"", verb,
		    shown(ws->w[4], ws->len[4], sb));
		return -EINVAL;
	}
	if (ws->n == 5) {
		say(err, errlen, "%s: \"for\" needs a duration, e.g. for 2h; usage: %s %s", verb,
		    verb, set_usage);
		return -EINVAL;
	}
	ret = -EINVAL;
	if (ws->len[5] < sizeof(buf)) {
		memcpy(buf, ws->w[5], ws->len[5]);
		buf[ws->len[5]] = '\0';
		ret = kl_duration_parse(buf, &ms);
	}
	if (ret == -ERANGE) {
		say(err, errlen, "%s: for %s is longer than the allowed %s", verb,
		    shown(ws->w[5], ws->len[5], sb), kl_duration_format(max_ms, lim, sizeof(lim)));
		return -EINVAL;
	}
	if (ret) {
		say(err, errlen, "%s: bad duration \"%s\" (examples: 30m, 2h, 1h30m)", verb,
		    shown(ws->w[5], ws->len[5], sb));
		return -EINVAL;
	}
	if (max_ms == 0) {
		say(err, errlen, "%s: temporary changes are disabled here (max_temporary is 0)",
		    verb);
		return -EINVAL;
	}
	if (ms == 0) {
		say(err, errlen, "%s: for must be longer than 0, got \"%s\"", verb,
		    shown(ws->w[5], ws->len[5], sb));
		return -EINVAL;
	}
	if (ms > max_ms) {
		say(err, errlen, "%s: for %s is longer than the allowed %s", verb,
		    kl_duration_format(ms, got, sizeof(got)),
		    kl_duration_format(max_ms, lim, sizeof(lim)));
		return -EINVAL;
	}
	out->for_ms = ms;
	return 0;
}

static int parse_set(const struct words *ws, const char *verb, uint64_t max_ms, struct kl_cmd *out,
		     char *err, size_t errlen)
{
	static const char *const names[] = {"NAMESPACE", "DEPLOYMENT", "N"};
	char sb[SHOWN_SIZE];
	int ret;

	ret = arity(ws, 3, 5, verb, set_usage, names, err, errlen);
	if (ret)
		return ret;
	ret = parse_target(ws, verb, out, err, errlen);
	if (ret)
		return ret;
	ret = parse_count(ws->w[3], ws->len[3], &out->replicas);
	if (ret == -ERANGE) {
		say(err, errlen, "%s: N must be at most %d, got \"%s\"", verb, REPLICAS_MAX,
		    shown(ws->w[3], ws->len[3], sb));
		return -EINVAL;
	}
	if (ret) {
		say(err, errlen, "%s: N must be a non-negative integer, got \"%s\"", verb,
		    shown(ws->w[3], ws->len[3], sb));
		return -EINVAL;
	}
	out->verb = KL_CMD_SET;
	if (ws->n > 4)
		return parse_for(ws, max_ms, verb, out, err, errlen);
	return 0;
}

static int parse_get(const struct words *ws, struct kl_cmd *out, char *err, size_t errlen)
{
	static const char *const names[] = {"NAMESPACE", "DEPLOYMENT"};
	int ret;

	ret = arity(ws, 2, 2, "get-replicas", get_usage, names, err, errlen);
	if (ret)
		return ret;
	ret = parse_target(ws, "get-replicas", out, err, errlen);
	if (ret)
		return ret;
	out->verb = KL_CMD_GET;
	return 0;
}

/*
 * "!CLUSTER-set-replicas": 1 when word is that form for our cluster, 0 when it is
 * not that form at all, -EINVAL (message set) when it names another cluster.
 */
static int check_bang(const struct words *ws, const char *cluster, char *err, size_t errlen)
{
	size_t sl = sizeof(bang_suffix) - 1, len = ws->len[0], cl;
	const char *w = ws->w[0];
	char sb[SHOWN_SIZE];

	if (len < 1 + 1 + sl || w[0] != '!' || memcmp(w + len - sl, bang_suffix, sl) != 0)
		return 0;
	cl = len - 1 - sl;
	if (!cluster)
		cluster = "";
	if (strlen(cluster) == cl && strncasecmp(w + 1, cluster, cl) == 0)
		return 1;
	say(err, errlen, "this is cluster %s, not %s", cluster, shown(w + 1, cl, sb));
	return -EINVAL;
}

int kl_cmd_parse(const char *text, const char *cluster, uint64_t max_temporary_ms,
		 struct kl_cmd *out, char *err, size_t errlen)
{
	char sb[SHOWN_SIZE];
	struct words ws;
	int ret;

	memset(out, 0, sizeof(*out));
	out->replicas = -1;
	say(err, errlen, "%s", "");
	split_words(text ? text : "", &ws);
	if (ws.n == 0) {
		say(err, errlen, "empty command; try help");
		return -EINVAL;
	}
	if (word_is(&ws, 0, "set-replicas"))
		return parse_set(&ws, "set-replicas", max_temporary_ms, out, err, errlen);
	if (word_is(&ws, 0, "get-replicas"))
		return parse_get(&ws, out, err, errlen);
	if (word_is(&ws, 0, "help")) {
		if (ws.n > 1) {
			say(err, errlen, "help: too many arguments; usage: help");
			return -EINVAL;
		}
		out->verb = KL_CMD_HELP;
		return 0;
	}
	ret = check_bang(&ws, cluster, err, errlen);
	if (ret < 0)
		return ret;
	if (ret > 0)
		return parse_set(&ws, shown(ws.w[0], ws.len[0], sb), max_temporary_ms, out, err,
				 errlen);
	say(err, errlen, "unknown command \"%s\"; try help", shown(ws.w[0], ws.len[0], sb));
	return -EINVAL;
}

const char *kl_cmd_help(void)
{
	return help_text;
}

/* ----------------------------------------------------------------------------
 * The HTTP API's JSON body
 */

struct json_body {
	char line[700]; /* the command it makes */
	char err[200];	/* why it is no command at all, "" when it is one */
	bool set;
};

static int on_json_body(void *arg, enum kl_json_what what, const struct kl_json *o)
{
	struct json_body *b = arg;
	const char *ns = kl_json_str(kl_json_get(o, "namespace"), NULL);
	const char *dep = kl_json_str(kl_json_get(o, "deployment"), NULL);
	const struct kl_json *n = kl_json_get(o, "replicas");
	const struct kl_json *f = kl_json_get(o, "for");
	int64_t v;

	if (o->type != KL_JSON_OBJECT || !ns || !dep || strpbrk(ns, " \t\r\n\v\f") ||
	    strpbrk(dep, " \t\r\n\v\f")) {
		say(b->err, sizeof(b->err),
		    "expected {\"namespace\",\"deployment\",\"replicas\"[,\"for\"]}");
		return 0;
	}
	if (n && (kl_json_int(n, &v) < 0 || v < 0 || v > 100000)) {
		say(b->err, sizeof(b->err), "replicas must be a non-negative integer");
		return 0;
	}
	if (f && f->type != KL_JSON_STRING && f->type != KL_JSON_NULL) {
		say(b->err, sizeof(b->err), "for must be a duration string such as \"2h\"");
		return 0;
	}
	b->err[0] = '\0';
	b->set = n != NULL;
	if (!n)
		say(b->line, sizeof(b->line), "get-replicas %.253s %.253s", ns, dep);
	else
		say(b->line, sizeof(b->line), "set-replicas %.253s %.253s %d%s%.63s", ns, dep,
		    (int)v, f && f->str && f->str[0] ? " for " : "", f && f->str ? f->str : "");
	return 0;
}

int kl_cmd_parse_json(const char *body, size_t len, const char *cluster,
		      uint64_t max_temporary_ms, struct kl_cmd *out, char *err, size_t errlen)
{
	struct json_body b = { "", "the body must be a JSON object", false };
	struct kl_json_stream *js;
	struct kl_error jerr;
	int rc;

	memset(out, 0, sizeof(*out));
	out->replicas = -1;
	kl_error_clear(&jerr);
	js = kl_json_stream_new(KL_JSON_DOCUMENT, 65536, on_json_body, &b);
	rc = js ? kl_json_stream_feed(js, body ? body : "", len, &jerr) : -ENOMEM;
	if (rc == 0)
		rc = kl_json_stream_finish(js, &jerr);
	kl_json_stream_free(js);
	if (rc < 0 || b.err[0]) {
		say(err, errlen, "%s", b.err[0] ? b.err : "the body must be a JSON object");
		return rc < 0 ? rc : -EBADMSG;
	}
	rc = kl_cmd_parse(b.line, cluster, max_temporary_ms, out, err, errlen);
	if (rc < 0)
		out->verb = b.set ? KL_CMD_SET : KL_CMD_GET;
	return rc;
}
