/*
 * notify/email.c - the "email" notifier type: one plain-text mail per flush, over
 * SMTP with libcurl (kl_http_mail, on the set's one kl_http client).
 *
 * A flush at an email notifier is one message whose body is the whole RFC 5322
 * mail (headers and a text/plain UTF-8 body, CRLF line ends; libcurl does the
 * dot-stuffing). Every notice is a section: a line "[FIRING] NS: SUMMARY", a line
 * of facts, then its evidence, as the other types send it. Lines are kept under
 * RFC 5322's 998 bytes by breaking longer ones.
 *
 * smtp:// requires STARTTLS unless starttls: false; smtps:// is TLS from the
 * start; TLS is always verified (ca_file or the system CAs). The SMTP answer
 * decides like an HTTP code: an accepted mail (2xx/3xx final reply) is
 * delivered, a 5xx reply rejects it, a 4xx reply or no reply (connection, TLS)
 * retries. The username and password come from files; they, the URL and the
 * envelope are never logged.
 */
#include "notify/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LINE_MAX_BYTES 900 /* RFC 5322: 998 at most, CRLF excluded */

#define E(f) offsetof(struct kl__email_conf, f)
/* clang-format off */
const struct kl_conf_key kl__email_keys[] = {
	{ "from", KL_CONF_STRING, E(from), NULL, 0, NULL },
	{ "to", KL_CONF_STRINGS, E(to), NULL, 0, NULL },
	{ "username_file", KL_CONF_SECRET_FILE, E(username), NULL, 0, NULL },
	{ "password_file", KL_CONF_SECRET_FILE, E(password), NULL, 0, NULL },
	{ "starttls", KL_CONF_BOOL, E(starttls), NULL, 0, NULL },
	{ "ca_file", KL_CONF_STRING, E(ca_file), NULL, 0, NULL },
	{ NULL, 0, 0, NULL, 0, NULL },
};
/* clang-format on */
#undef E

void kl__email_defaults(void *conf)
{
	struct kl__email_conf *ec = conf;

	ec->starttls = 1;
}

/* An address as the envelope and the headers take it: no blanks, brackets, controls. */
static bool address_ok(const char *s)
{
	const char *at = strchr(s, '@');

	if (!at || at == s || !at[1])
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || strchr("<>,;\"()", *s))
			return false;
	return true;
}

static int conf_fail(struct kl_error *err, const char *file, const struct kl_notifier_conf *nc,
		     const char *prefix, const char *key, const char *what)
{
	const struct kl_conf_node *k = nc->node ? kl_conf_get(nc->node, key) : NULL;

	if (k)
		kl_error_set(err, file, k->key_line, 0, "%s.%s: %s", prefix, key, what);
	else
		kl_error_set(err, file, nc->line, 0, "%s: %s is required for type email", prefix,
			     key);
	return -EINVAL;
}

int kl__email_check(const struct kl_notifier_conf *nc, const void *conf, const char *file,
		    const char *prefix, struct kl_error *err)
{
	const struct kl__email_conf *ec = conf;
	char what[64];
	size_t i;

	if (!ec->from || !address_ok(ec->from))
		return conf_fail(err, file, nc, prefix, "from",
				 "must be a mail address (name@host, no display name)");
	if (!ec->to.n)
		return conf_fail(err, file, nc, prefix, "to",
				 "must be a non-empty list of mail addresses");
	for (i = 0; i < ec->to.n; i++) {
		if (address_ok(ec->to.v[i]))
			continue;
		snprintf(what, sizeof(what), "item %zu must be a mail address (name@host)", i);
		return conf_fail(err, file, nc, prefix, "to", what);
	}
	if (ec->password && !ec->username)
		return conf_fail(err, file, nc, prefix, "username_file", "");
	return 0;
}

/* Appends s as header text: ASCII only (others become '?'), no line breaks. */
static void put_header_text(struct kl_buf *b, const char *s)
{
	for (; s && *s; s++)
		kl_buf_add(b, (unsigned char)*s < ' ' || (unsigned char)*s > '~' ? "?" : s, 1);
}

/* Appends text (valid UTF-8 made), '\n' becoming CRLF, '\r' dropped, long lines broken. */
static void put_lines(struct kl_buf *b, const char *s)
{
	struct kl_buf t = {0};
	size_t i, col = 0, k;

	kl__put_text(&t, s);
	for (i = 0; t.p && i < t.len; i += k) {
		k = 1;
		if (t.p[i] == '\r')
			continue;
		if (t.p[i] == '\n' || col >= LINE_MAX_BYTES) {
			kl_buf_puts(b, "\r\n");
			col = 0;
			if (t.p[i] == '\n')
				continue;
		}
		/* a whole UTF-8 character: its continuation bytes follow */
		while (i + k < t.len && ((unsigned char)t.p[i + k] & 0xc0) == 0x80)
			k++;
		kl_buf_add(b, &t.p[i], k);
		col += k;
	}
	if (t.oom)
		b->oom = true;
	kl_buf_free(&t);
}

static void put_notice(struct kl_buf *b, const struct kl__alert *a, int64_t now)
{
	char ts[32];

	kl_buf_puts(b, a->resolved ? "[RESOLVED] " : "[FIRING] ");
	put_lines(b, a->labels[2][1]);
	kl_buf_puts(b, ": ");
	put_lines(b, a->summary);
	kl_buf_puts(b, "\r\nalert: ");
	put_lines(b, a->labels[0][1]);
	if (a->labels[3][0]) {
		kl_buf_puts(b, ", team: ");
		put_lines(b, a->labels[3][1]);
	}
	kl_buf_puts(b, ", controller: ");
	put_lines(b, a->labels[4][1]);
	kl_rfc3339_format(a->starts_at, ts);
	kl_buf_printf(b, ", since: %s", ts);
	if (a->resolved) {
		kl_rfc3339_format(kl__resolved_end(a->ends_at, now), ts);
		kl_buf_printf(b, ", ended: %s", ts);
	}
	kl_buf_puts(b, "\r\n");
	if (a->description) {
		kl_buf_puts(b, "\r\n");
		put_lines(b, a->description);
		kl_buf_puts(b, "\r\n");
	}
}

static void put_subject(struct kl_buf *b, const char *cluster, const struct kl__alert *a,
			size_t cnt)
{
	size_t i, firing = 0;

	for (i = 0; i < cnt; i++)
		firing += !a[i].resolved;
	kl_buf_puts(b, "Subject: [kloompas ");
	put_header_text(b, cluster);
	kl_buf_puts(b, "] ");
	if (cnt == 1) {
		kl_buf_puts(b, a[0].resolved ? "RESOLVED " : "FIRING ");
		put_header_text(b, a[0].labels[2][1]);
		kl_buf_puts(b, ": ");
		put_header_text(b, a[0].summary);
	} else {
		kl_buf_printf(b, "%zu firing, %zu resolved", firing, cnt - firing);
	}
	kl_buf_puts(b, "\r\n");
}

/* The headers of the mail; id makes the Message-ID unique. */
static void put_headers(struct kl_buf *b, struct kl__notifier *nt, const struct kl__alert *a,
			size_t cnt, int64_t now, uint64_t id)
{
	const struct kl__email_conf *ec = nt->conf;
	time_t t = (time_t)now;
	struct tm tm;
	char date[64];
	size_t i;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	kl_buf_printf(b, "Date: %s\r\n", date);
	kl_buf_printf(b, "From: %s\r\n", ec->from);
	kl_buf_puts(b, "To: ");
	for (i = 0; i < ec->to.n; i++)
		kl_buf_printf(b, "%s%s", i ? ", " : "", ec->to.v[i]);
	kl_buf_puts(b, "\r\n");
	put_subject(b, nt->n->cluster, a, cnt);
	kl_buf_printf(b, "Message-ID: <%016" PRIx64 ".%" PRId64 "@kloompas>\r\n", id, now);
	kl_buf_puts(b, "MIME-Version: 1.0\r\n"
		       "Content-Type: text/plain; charset=utf-8\r\n"
		       "Content-Transfer-Encoding: 8bit\r\n"
		       "Auto-Submitted: auto-generated\r\n"
		       "\r\n");
}

/* FNV-1a of the body: with the time, the Message-ID's unique part. */
static uint64_t hash_of(const struct kl_buf *b)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < b->len; i++)
		h = (h ^ (unsigned char)b->p[i]) * 1099511628211ULL;
	return h;
}

static int mail_of(struct kl__notifier *nt, const struct kl__alert *a, size_t cnt, char **out,
		   size_t *len)
{
	int64_t now = kl_clock_wall_s(nt->n->o.clock);
	struct kl_buf body = {0}, mail = {0};
	size_t i, firing = 0;

	for (i = 0; i < cnt; i++)
		firing += !a[i].resolved;
	kl_buf_puts(&body, "Kloompas, cluster ");
	put_lines(&body, nt->n->cluster);
	kl_buf_printf(&body, ": %zu firing, %zu resolved\r\n", firing, cnt - firing);
	for (i = 0; i < cnt; i++) {
		kl_buf_puts(&body, "\r\n");
		put_notice(&body, &a[i], now);
	}
	put_headers(&mail, nt, a, cnt, now, hash_of(&body));
	kl_buf_add(&mail, body.p ? body.p : "", body.len);
	kl_buf_free(&body);
	if (mail.oom) {
		kl_buf_free(&mail);
		return -ENOMEM;
	}
	*out = mail.p;
	*len = mail.len;
	return 0;
}

/* One mail per flush, both statuses together. */
int kl__email_build(struct kl__notifier *nt, struct kl__plan *p)
{
	static const struct kl__alerts_render r = {{-1}, 1, mail_of, NULL};

	return kl__alerts_build(nt, p, &r);
}

int kl__email_send(struct kl__notifier *nt, struct kl__msg *m, kl_http_done_cb done, void *arg,
		   struct kl_http_req **out)
{
	const struct kl__email_conf *ec = nt->conf;
	const char **rcpt = calloc(ec->to.n + 1, sizeof(*rcpt));
	struct kl_http_mail_opts o = {
	    .url = nt->url,
	    .from = ec->from,
	    .msg = m->body,
	    .msg_len = m->len,
	    .starttls = ec->starttls && strncasecmp(nt->url, "smtps://", 8),
	    .ca_file = ec->ca_file,
	    .user = ec->username,
	    .password = ec->password,
	    .timeout_ms = nt->n->o.timeout_ms,
	};
	int rc;

	if (!rcpt)
		return -ENOMEM;
	memcpy(rcpt, ec->to.v, ec->to.n * sizeof(*rcpt));
	o.rcpt = rcpt;
	rc = kl_http_mail(nt->n->http, &o, done, arg, out);
	free(rcpt);
	return rc;
}

enum kl__answer kl__answer_smtp(int status, int code)
{
	if (status == 0)
		return KL__DELIVERED; /* libcurl saw the final reply accept the mail */
	if (code >= 500 && code < 600)
		return KL__REJECT;
	if (status == -EINVAL || status == -ENOTSUP)
		return KL__REJECT;
	return KL__RETRY;
}
