/*
 * controllers/chatops.c - the chat-ops front door (see chatops.h): the command
 * grammar, Slack request signatures, bearer tokens, form bodies, the allow list.
 *
 * Everything is a pure function over bytes with a caller-owned result, so the
 * replica enforcer keeps the I/O and these stay easy to test and fuzz.
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
 * - Slack signatures are computed with EVP_MAC (HMAC-SHA256) over the three parts
 *   without copying the body, rendered as lowercase hex and compared with
 *   CRYPTO_memcmp; Slack sends lowercase, so anything else does not match.
 * - Bearer tokens are compared as SHA-256 digests with CRYPTO_memcmp against every
 *   configured token, with no early exit: the time taken depends on neither the
 *   presented token's content or length nor on which token (if any) matched.
 * - Form bodies are validated whole on every lookup: a bad %-escape, %00 or a raw
 *   NUL anywhere makes the body malformed (-EINVAL), whichever key is asked for, so
 *   the answer for a body does not depend on the order of the caller's lookups.
 * - The allow list: any entry matching user, namespace and bound authorizes (the
 *   first such entry is returned); order in the file does not take rights away.
 */
#include "controllers/chatops.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "util/duration.h"
#include "util/glob.h"

#define REPLICAS_MAX 100000
#define NS_MAX 63		   /* a namespace is a DNS label */
#define SLACK_SKEW_S 300	   /* Slack: refuse requests older than five minutes */
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

/* ----------------------------------------------------------------------------
 * Command grammar
 */

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
 * Slack request signatures
 */

static int hmac_sha256(const char *key, const void *const *parts, const size_t *lens, size_t nparts,
		       unsigned char out[32])
{
	char digest[] = "SHA256";
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;
	EVP_MAC *mac;
	size_t i, outl = 0;
	int ret = -EIO;

	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!mac)
		return -EIO;
	ctx = EVP_MAC_CTX_new(mac);
	if (!ctx)
		goto out_free_mac;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), params))
		goto out_free_ctx;
	for (i = 0; i < nparts; i++)
		if (lens[i] && !EVP_MAC_update(ctx, parts[i], lens[i]))
			goto out_free_ctx;
	if (!EVP_MAC_final(ctx, out, &outl, 32) || outl != 32)
		goto out_free_ctx;
	ret = 0;
out_free_ctx:
	EVP_MAC_CTX_free(ctx);
out_free_mac:
	EVP_MAC_free(mac);
	return ret;
}

/* All digits, at most 18 of them (no overflow); -EINVAL otherwise. */
static int parse_timestamp(const char *s, int64_t *ts)
{
	int64_t v = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 18)
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (i == 0)
		return -EINVAL;
	*ts = v;
	return 0;
}

int kl_slack_verify(const char *secret, const char *timestamp, const char *signature,
		    const char *body, size_t len, int64_t now_s, char *err, size_t errlen)
{
	static const char hexdig[] = "0123456789abcdef";
	const void *parts[4];
	size_t lens[4], i;
	unsigned char mac[32];
	char hex[64];
	int64_t ts, age;
	int ret;

	say(err, errlen, "%s", "");
	if (!secret || !*secret) {
		say(err, errlen, "no Slack signing secret is configured");
		return -EACCES;
	}
	if (!signature || !*signature) {
		say(err, errlen, "missing X-Slack-Signature");
		return -EACCES;
	}
	if (!timestamp || !*timestamp) {
		say(err, errlen, "missing X-Slack-Request-Timestamp");
		return -ETIME;
	}
	if (parse_timestamp(timestamp, &ts)) {
		say(err, errlen, "X-Slack-Request-Timestamp is not a number of seconds");
		return -ETIME;
	}
	if (__builtin_sub_overflow(now_s, ts, &age) || age > SLACK_SKEW_S || age < -SLACK_SKEW_S) {
		if (ts > now_s)
			say(err, errlen, "request timestamp is in the future by more than %d s",
			    SLACK_SKEW_S);
		else
			say(err, errlen, "request timestamp is more than %d s old", SLACK_SKEW_S);
		return -ETIME;
	}
	if (strlen(signature) != 3 + sizeof(hex) || memcmp(signature, "v0=", 3) != 0) {
		say(err, errlen, "X-Slack-Signature is not \"v0=\" and 64 hex digits");
		return -EACCES;
	}
	parts[0] = "v0:";
	lens[0] = 3;
	parts[1] = timestamp;
	lens[1] = strlen(timestamp);
	parts[2] = ":";
	lens[2] = 1;
	parts[3] = body;
	lens[3] = body ? len : 0;
	ret = hmac_sha256(secret, parts, lens, 4, mac);
	if (ret) {
		say(err, errlen, "cannot compute HMAC-SHA256 (OpenSSL)");
		return ret;
	}
	for (i = 0; i < sizeof(mac); i++) {
		hex[2 * i] = hexdig[mac[i] >> 4];
		hex[2 * i + 1] = hexdig[mac[i] & 15];
	}
	ret = CRYPTO_memcmp(hex, signature + 3, sizeof(hex)) == 0 ? 0 : -EACCES;
	OPENSSL_cleanse(mac, sizeof(mac));
	OPENSSL_cleanse(hex, sizeof(hex));
	if (ret)
		say(err, errlen, "X-Slack-Signature does not match the request");
	return ret;
}

/* ----------------------------------------------------------------------------
 * application/x-www-form-urlencoded
 */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes one byte at *p (< end) and advances; -EINVAL for a bad escape or a NUL. */
static int form_byte(const char **p, const char *end)
{
	const char *s = *p;
	int hi, lo, c;

	if (*s == '+') {
		*p = s + 1;
		return ' ';
	}
	if (*s != '%') {
		*p = s + 1;
		c = (unsigned char)*s;
		return c ? c : -EINVAL;
	}
	if (end - s < 3)
		return -EINVAL;
	hi = hexval(s[1]);
	lo = hexval(s[2]);
	if (hi < 0 || lo < 0)
		return -EINVAL;
	*p = s + 3;
	c = hi << 4 | lo;
	return c ? c : -EINVAL;
}

/* 1 when [p, end) decodes to key, 0 when not, -EINVAL when it does not decode. */
static int form_key_is(const char *p, const char *end, const char *key)
{
	int match = 1;

	while (p < end) {
		int c = form_byte(&p, end);

		if (c < 0)
			return c;
		if (match && *key && (unsigned char)*key == c)
			key++;
		else
			match = 0;
	}
	return match && !*key;
}

int kl_form_get(const char *body, size_t len, const char *key, char *out, size_t outlen)
{
	const char *p, *end, *val = NULL, *vend = NULL;
	size_t n = 0;
	int c;

	if (outlen)
		out[0] = '\0';
	if (!body || !len)
		return -ENOENT;
	p = body;
	end = body + len;
	while (p < end) {
		const char *pe = memchr(p, '&', (size_t)(end - p));
		const char *eq, *q;
		int match;

		if (!pe)
			pe = end;
		eq = memchr(p, '=', (size_t)(pe - p));
		if (pe > p) {
			match = form_key_is(p, eq ? eq : pe, key);
			if (match < 0)
				return match;
			for (q = eq ? eq + 1 : pe; q < pe;)
				if (form_byte(&q, pe) < 0)
					return -EINVAL;
			if (match && !val) {
				val = eq ? eq + 1 : pe;
				vend = pe;
			}
		}
		p = pe < end ? pe + 1 : end;
	}
	if (!val)
		return -ENOENT;
	while (val < vend) {
		c = form_byte(&val, vend);
		if (n + 1 >= outlen) {
			if (outlen)
				out[0] = '\0';
			return -E2BIG;
		}
		out[n++] = (char)c;
	}
	if (!outlen)
		return -E2BIG;
	out[n] = '\0';
	return 0;
}

/* ----------------------------------------------------------------------------
 * Bearer tokens
 */

static int sha256(const void *p, size_t len, unsigned char out[32])
{
	unsigned int outl = 0;

	if (!EVP_Digest(p, len, out, &outl, EVP_sha256(), NULL) || outl != 32)
		return -EIO;
	return 0;
}

const char *kl_bearer_user(const struct kl_chatops_conf *c, const char *authorization)
{
	unsigned char got[32], want[32];
	const char *p, *tok, *user = NULL;
	size_t toklen, i;

	if (!c || !authorization)
		return NULL;
	p = authorization;
	while (*p == ' ' || *p == '\t')
		p++;
	/* RFC 6750: "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 9110) */
	if (strncasecmp(p, "bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return NULL;
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	tok = p;
	while (*p > 0x20 && *p < 0x7f)
		p++;
	toklen = (size_t)(p - tok);
	while (*p == ' ' || *p == '\t')
		p++;
	if (!toklen || *p)
		return NULL;
	if (sha256(tok, toklen, got))
		return NULL;
	/* every token is hashed and compared: no exit before the last one */
	for (i = 0; i < c->ntokens; i++) {
		const char *t = c->tokens[i].token;

		if (!t || sha256(t, strlen(t), want))
			continue;
		if (CRYPTO_memcmp(got, want, sizeof(got)) == 0 && !user)
			user = c->tokens[i].user;
	}
	OPENSSL_cleanse(got, sizeof(got));
	OPENSSL_cleanse(want, sizeof(want));
	return user;
}

/* ----------------------------------------------------------------------------
 * The allow list
 */

static bool strv_has(const struct kl_strv *v, const char *s)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (v->v[i] && strcmp(v->v[i], s) == 0)
			return true;
	return false;
}

static bool strv_glob(const struct kl_strv *v, const char *s)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (v->v[i] && kl_glob_match(v->v[i], s))
			return true;
	return false;
}

const struct kl_allow_conf *kl_chatops_authorize(const struct kl_chatops_conf *c, const char *user,
						 const char *ns, int replicas, char *why,
						 size_t len)
{
	const struct kl_allow_conf *items, *a;
	bool in_scope = false;
	unsigned best = 0;
	size_t i;

	say(why, len, "%s", "");
	if (!user || !*user || !ns || !*ns) {
		say(why, len, "no user or namespace to authorize");
		return NULL;
	}
	items = c ? c->allow.items : NULL;
	for (i = 0; items && i < c->allow.n; i++) {
		a = &items[i];
		if (!strv_has(&a->users, user) || !strv_glob(&a->namespaces, ns))
			continue;
		if (replicas < 0 || (unsigned)replicas <= a->max_replicas)
			return a;
		if (!in_scope || a->max_replicas > best)
			best = a->max_replicas;
		in_scope = true;
	}
	if (in_scope)
		say(why, len, "at most %u replicas for %s in %s", best, user, ns);
	else
		say(why, len, "%s may not %s in %s", user, replicas < 0 ? "read replicas" : "scale",
		    ns);
	return NULL;
}
