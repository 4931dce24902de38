/*
 * controllers/notify.c - routing, formatting and delivery of alert notices (see notify.h).
 *
 * A flush (kl_notify_send) routes every notice by namespace, then turns the notices
 * each notifier got into messages: one Slack text, one Alertmanager webhook payload
 * per status, one POST /api/v2/alerts, or log lines. Everything a flush needs is
 * built first and committed only when all of it was built, so a failed flush
 * (ENOMEM) starts nothing and reports nothing, as the header promises.
 *
 * DESIGN: each HTTP notifier has a FIFO of messages and one current message (being
 * sent, or waiting in its retry timer); the bound, queue_max, counts both (but not
 * an alertmanager re-post), and so does the queue-length gauge. A message carries
 * the ids of the notices it covers.
 * Every fate - delivered, dropped, refused, written to the log - becomes a "report"
 * (the message itself, body freed) on one list drained by a 0 ms timer, so done_cb
 * never runs inside kl_notify_send, never inside a kl_http callback, and a done_cb
 * that closes the set stops the drain cleanly.
 *
 * Counting: kloompas_notifications_total counts messages - result="success" once per
 * message delivered (a 2xx, re-posts included; a dry-run message; a notice's log
 * line), "failure" once per failed attempt, "dropped" once per message given up,
 * refused by a full queue or rejected with a 4xx (which also counts its attempt as a
 * failure).
 *
 * Retries: network errors, 5xx, 408 and 429 wait retry_initial_ms, doubling up to
 * retry_max_ms, and at least Retry-After; an attempt that would start later than
 * give_up_ms after the first one is not made: the message is dropped instead.
 *
 * The alertmanager notifier keeps the firing alerts it posted (keyed by the label
 * fingerprint) and re-posts them all every am_resend_ms with endsAt pushed forward;
 * a re-post is a message without ids that is not retried (the next one follows).
 * Its messages keep their alerts, so a retry posts a fresh endsAt.
 *
 * Slack text: groups of (controller, resolved), firing ones first, separated by one
 * blank line and none inside a group (a blank line of a log tail is sent as " "), so
 * readers may split a message into sections at blank lines.
 *
 * The built-in notifier "log" exists unless the config names one "log" itself; then
 * that one takes the unrouted namespaces.
 *
 * Secrets: notifier URLs are only handed to kl_http, whose own client is created
 * without a log (its debug lines name URL paths, and a Slack webhook's path is the
 * secret). Failures are logged with the notifier name, the HTTP status or strerror()
 * of the errno - never libcurl's message, which may name the host.
 */
#include "controllers/notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_gen.h>

#include "kl_version.h"
#include "kubeclient/http.h"
#include "util/glob.h"
#include "util/list.h"

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define DEFAULT_QUEUE_MAX 1000
#define DEFAULT_RETRY_INITIAL_MS 1000
#define DEFAULT_RETRY_MAX_MS (5 * 60 * 1000)
#define DEFAULT_GIVE_UP_MS (60 * 60 * 1000)
#define DEFAULT_AM_RESEND_MS (60 * 1000)
#define DEFAULT_TIMEOUT_MS 10000

#define TAIL_MAX 1500	     /* bytes of one log tail in a message */
#define SLACK_TEXT_MAX 35000 /* Slack cuts text at 40,000 characters */
#define DESCRIPTION_MAX 8000 /* one alert's description annotation */
#define TRAILER_RESERVE 200  /* room kept for the "(N more ...)" lines */
#define LOG_NOTIFIER "log"
#define FIRING_ENDS_AT "0001-01-01T00:00:00Z"
#define COMPONENT "notify"

/* ------------------------------------------------------------------ lists */


/* ------------------------------------------------------------- structures */

struct notifier;

/*
 * One message: a body to POST and the notice ids it covers. Later a report: the
 * same struct on n->reports with delivered set, body freed.
 */
struct msg {
	struct kl_link link; /* in a notifier's queue, or in n->reports */
	struct notifier *nt;
	char *body; /* NULL for re-posts until they are sent */
	size_t len;
	uint64_t *ids;
	size_t nids;
	bool resend;	    /* alertmanager re-post: no ids, no retries */
	struct kl_link alerts; /* alertmanager: struct am_alert, to rebuild the body on retries */
	bool delivered;
	int attempts;
	uint64_t first_try_ms; /* uv_now() of the first attempt */
	uint64_t backoff_ms;   /* the next wait before the Retry-After floor */
};

/*
 * A copy of an alert for the alertmanager notifier: in its set of firing alerts to
 * re-post, or in a message (whose firing endsAt is recomputed on every attempt).
 */
struct am_alert {
	struct kl_link link;
	uint64_t fp;
	char *labels[5][2]; /* (name, value); name NULL when absent */
	char *summary, *description;
	int64_t starts_at, ends_at;
	bool resolved;
};

struct notifier {
	struct kl_notify *n;
	const char *name;      /* borrowed from the config, or "log" */
	const char *type_name; /* for the dry-run log */
	enum kl_notifier_type type;
	char *url; /* where to POST; a secret, never logged */
	struct kl_link queue;
	size_t nqueued;
	struct msg *cur;	 /* being sent or waiting for its retry */
	struct kl_http_req *req; /* cur's attempt in flight */
	bool has_timers;
	uv_timer_t retry;
	uv_timer_t resend;  /* alertmanager */
	struct kl_link alerts; /* alertmanager: struct am_alert, firing */
	bool resend_queued;
};

struct route {
	size_t *idx; /* notifier indices */
	size_t n;
};

struct kl_notify {
	uv_loop_t *loop;
	const struct kl_config *config;
	const struct kl_log *log;
	struct kl_log quiet; /* used when no log was given */
	struct kl_notify_opts o;
	const char *cluster;
	kl_notify_done_cb done_cb;
	void *arg;
	struct kl_metric *m_total, *m_queue;
	struct kl_http *http; /* NULL in dry-run or without HTTP notifiers */
	bool need_http;
	struct notifier *nv;
	size_t nn;
	size_t log_idx; /* the notifier unrouted namespaces go to */
	struct route *routes;
	size_t nroutes;
	uv_timer_t report;
	struct kl_link reports; /* struct msg with delivered set */
	int pending_closes;
	bool closing;
	void (*close_cb)(void *arg);
	void *close_arg;
};

/* --------------------------------------------------------------- buffers */

/* A growing NUL-terminated string; oom sticks. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static __attribute__((format(printf, 2, 3))) void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (k > 0)
		sb_putn(b, tmp, (size_t)k < sizeof(tmp) ? (size_t)k : sizeof(tmp) - 1);
}

static void sb_free(struct sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Drops trailing newlines. */
static void sb_chomp(struct sbuf *b)
{
	while (b->len && b->p[b->len - 1] == '\n')
		b->p[--b->len] = '\0';
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), k;

	while (n) {
		k = utf8_seq(p, n);
		if (!k)
			return false;
		p += k;
		n -= k;
	}
	return true;
}

enum {
	TXT_SLACK = 1,	 /* escape &, <, > as Slack wants */
	TXT_NO_TICKS = 2 /* ` becomes ' so nothing ends a code span or block early */
};

/* Appends n bytes of s as valid UTF-8 (invalid bytes become U+FFFD), escaped per flags. */
static void sb_text(struct sbuf *b, const char *s, size_t n, int flags)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t k;

	while (n) {
		k = utf8_seq(p, n);
		if (!k) {
			sb_puts(b, "\xef\xbf\xbd");
			k = 1;
		} else if ((flags & TXT_SLACK) && *p == '&') {
			sb_puts(b, "&amp;");
		} else if ((flags & TXT_SLACK) && *p == '<') {
			sb_puts(b, "&lt;");
		} else if ((flags & TXT_SLACK) && *p == '>') {
			sb_puts(b, "&gt;");
		} else if ((flags & TXT_NO_TICKS) && *p == '`') {
			sb_puts(b, "'");
		} else {
			sb_putn(b, (const char *)p, k);
		}
		p += k;
		n -= k;
	}
}

static void sb_str(struct sbuf *b, const char *s, int flags)
{
	if (s)
		sb_text(b, s, strlen(s), flags);
}

/* ------------------------------------------------------------ formatting */

static void rfc3339(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, 32, "%s", "1970-01-01T00:00:00Z");
}

static const char *str_or(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

/*
 * The last TAIL_MAX bytes of a log, trailing newlines cut; starts on a line (when
 * one begins in the kept part) and on a character. *cut says whether bytes were left out.
 */
static const char *log_tail(const char *log, size_t *len, bool *cut)
{
	size_t n = strlen(log);
	const char *start = log, *nl;

	while (n && (log[n - 1] == '\n' || log[n - 1] == '\r'))
		n--;
	*cut = n > TAIL_MAX;
	if (*cut) {
		start = log + n - TAIL_MAX;
		while (start < log + n && ((unsigned char)*start & 0xc0) == 0x80)
			start++;
		nl = memchr(start, '\n', (size_t)(log + n - start));
		if (nl && nl + 1 < log + n)
			start = nl + 1;
	}
	*len = (size_t)(log + n - start);
	return start;
}

/* "REASON, N restarts, last exit E (LAST)" */
static void pod_state(struct sbuf *b, const struct kl_notice_pod *p, int flags)
{
	sb_str(b, str_or(p->reason, "Waiting"), flags);
	sb_printf(b, ", %d restart%s", p->restarts, p->restarts == 1 ? "" : "s");
	if (p->last_reason) {
		sb_printf(b, ", last exit %d (", p->exit_code);
		sb_str(b, p->last_reason, flags);
		sb_puts(b, ")");
	}
}

/*
 * A log tail inside a Slack code block, each line ended by a newline. A blank line
 * becomes " ": readers (and tests) split a message into sections at blank lines.
 */
static void slack_lines(struct sbuf *b, const char *s, size_t n)
{
	const char *nl;
	size_t k;

	while (n) {
		nl = memchr(s, '\n', n);
		k = nl ? (size_t)(nl - s) : n;
		if (k && s[k - 1] == '\r')
			k--;
		if (k)
			sb_text(b, s, k, TXT_SLACK | TXT_NO_TICKS);
		else
			sb_puts(b, " ");
		sb_puts(b, "\n");
		if (!nl)
			break;
		n -= (size_t)(nl - s) + 1;
		s = nl + 1;
	}
}

/* One pod's evidence for Slack, each line ended by a newline. */
static void slack_pod(struct sbuf *b, const struct kl_notice_pod *p)
{
	const char *tail;
	size_t len;
	bool cut;

	sb_puts(b, "\xe2\x80\xa2 `");
	sb_str(b, str_or(p->pod, "?"), TXT_SLACK | TXT_NO_TICKS);
	sb_puts(b, "` container `");
	sb_str(b, str_or(p->container, "?"), TXT_SLACK | TXT_NO_TICKS);
	sb_puts(b, "`: ");
	pod_state(b, p, TXT_SLACK);
	sb_puts(b, "\n");
	if (p->log_error) {
		sb_puts(b, "(no log: ");
		sb_str(b, p->log_error, TXT_SLACK);
		sb_puts(b, ")\n");
	} else if (p->log) {
		tail = log_tail(p->log, &len, &cut);
		if (!len)
			return;
		sb_puts(b, "```\n");
		if (cut)
			sb_puts(b, "\xe2\x80\xa6\n");
		slack_lines(b, tail, len);
		sb_puts(b, "```\n");
	}
}

/* One pod's evidence as plain text (annotations), each line ended by a newline. */
static void plain_pod(struct sbuf *b, const struct kl_notice_pod *p)
{
	const char *tail;
	size_t len;
	bool cut;

	sb_puts(b, "pod ");
	sb_str(b, str_or(p->pod, "?"), 0);
	sb_puts(b, " container ");
	sb_str(b, str_or(p->container, "?"), 0);
	sb_puts(b, ": ");
	pod_state(b, p, 0);
	sb_puts(b, "\n");
	if (p->log_error) {
		sb_puts(b, "(no log: ");
		sb_str(b, p->log_error, 0);
		sb_puts(b, ")\n");
	} else if (p->log) {
		tail = log_tail(p->log, &len, &cut);
		if (!len)
			return;
		if (cut)
			sb_puts(b, "\xe2\x80\xa6\n");
		sb_text(b, tail, len, 0);
		sb_puts(b, "\n");
	}
}

/*
 * The description annotation: every pod's evidence, blank-line separated, cut at
 * DESCRIPTION_MAX with "(N more pods)". Empty (len 0) when the notice has no pods.
 */
static void plain_evidence(struct sbuf *b, const struct kl_notice *x)
{
	struct sbuf one = {0};
	size_t i, left;

	for (i = 0; i < x->npods; i++) {
		one.len = 0;
		plain_pod(&one, &x->pods[i]);
		if (one.oom) {
			b->oom = true;
			break;
		}
		if (b->len + one.len + TRAILER_RESERVE > DESCRIPTION_MAX) {
			left = x->npods - i;
			sb_printf(b, "(%zu more pod%s)\n", left, left == 1 ? "" : "s");
			break;
		}
		if (i)
			sb_puts(b, "\n");
		sb_putn(b, one.p, one.len);
	}
	sb_free(&one);
	sb_chomp(b);
}

static const char *slack_header(const char *controller)
{
	if (!strcmp(controller, "crash-watcher"))
		return "PODS IN CRASH";
	if (!strcmp(controller, "notready-watcher"))
		return "NAMESPACES WITH HIGH NUMBER OF PODS NOT READY";
	return NULL;
}

/* Room left in a Slack text being cut at SLACK_TEXT_MAX. */
struct budget {
	bool pods_full;	   /* no more pod evidence fits */
	size_t skipped_ns; /* namespace lines left out */
};

/* "ns: (@team) SUMMARY" with its pods, or nothing when it does not fit. */
static void slack_namespace(struct sbuf *b, const struct kl_notice *x, struct budget *bu)
{
	struct sbuf line = {0}, pod = {0};
	size_t i, skipped = 0;

	sb_str(&line, x->ns, TXT_SLACK);
	sb_puts(&line, ": (");
	sb_str(&line, str_or(x->team, "no team"), TXT_SLACK);
	sb_puts(&line, ") ");
	sb_str(&line, x->summary, TXT_SLACK);
	if (x->repeat && !x->resolved)
		sb_puts(&line, " (still)");
	sb_puts(&line, "\n");
	if (line.oom) {
		b->oom = true;
		goto out;
	}
	/* the line and, should its pods not fit, the "(N more pods)" after it */
	if (b->len + line.len + 32 + TRAILER_RESERVE > SLACK_TEXT_MAX) {
		bu->skipped_ns++;
		goto out;
	}
	sb_putn(b, line.p, line.len);
	for (i = 0; i < x->npods; i++) {
		if (!bu->pods_full) {
			pod.len = 0;
			slack_pod(&pod, &x->pods[i]);
			if (pod.oom) {
				b->oom = true;
				goto out;
			}
			if (b->len + pod.len + TRAILER_RESERVE <= SLACK_TEXT_MAX) {
				sb_putn(b, pod.p, pod.len);
				continue;
			}
			bu->pods_full = true;
		}
		skipped++;
	}
	if (skipped)
		sb_printf(b, "(%zu more pod%s)\n", skipped, skipped == 1 ? "" : "s");
out:
	sb_free(&line);
	sb_free(&pod);
}

static bool same_group(const struct kl_notice *a, const struct kl_notice *b)
{
	return a->resolved == b->resolved && !strcmp(a->controller, b->controller);
}

/*
 * The Slack text for the notices routed to one notifier: groups by (controller,
 * resolved), firing groups first, each in the order it first appears.
 */
static void slack_text(struct kl_notify *n, const struct kl_notice *const *v, size_t cnt,
		       struct sbuf *b)
{
	struct budget bu = {0};
	const char *h;
	size_t i, j, k;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < cnt; i++) {
			if (v[i]->resolved != (pass == 1))
				continue;
			for (k = 0; k < i && !same_group(v[k], v[i]); k++)
				;
			if (k < i)
				continue; /* the group was written at its first notice */
			if (b->len)
				sb_puts(b, "\n");
			if (v[i]->resolved)
				sb_puts(b, "RESOLVED \xe2\x80\x94 ");
			h = slack_header(v[i]->controller);
			if (h) {
				sb_puts(b, h);
			} else {
				sb_puts(b, "ALERTS FROM ");
				sb_str(b, v[i]->controller, TXT_SLACK);
			}
			sb_puts(b, " on *");
			sb_str(b, n->cluster, TXT_SLACK);
			sb_puts(b, "*:\n");
			for (j = i; j < cnt; j++)
				if (same_group(v[j], v[i]))
					slack_namespace(b, v[j], &bu);
		}
	}
	if (bu.skipped_ns)
		sb_printf(b, "(%zu more namespace%s)\n", bu.skipped_ns,
			  bu.skipped_ns == 1 ? "" : "s");
	sb_chomp(b);
}

/* ------------------------------------------------------------------ JSON */

/* A yajl generator whose first failure sticks. */
struct jw {
	yajl_gen g;
	int err;
};

static void jcheck(struct jw *w, yajl_gen_status st)
{
	if (st != yajl_gen_status_ok && !w->err)
		w->err = st == yajl_gen_invalid_string ? -EINVAL : -ENOMEM;
}

/* Strings reach yajl as valid UTF-8: invalid bytes become U+FFFD first. */
static void jstr(struct jw *w, const char *s)
{
	struct sbuf tmp = {0};

	if (w->err)
		return;
	if (utf8_valid(s)) {
		jcheck(w, yajl_gen_string(w->g, (const unsigned char *)s, strlen(s)));
		return;
	}
	sb_str(&tmp, s, 0);
	if (tmp.oom)
		w->err = -ENOMEM;
	else
		jcheck(w, yajl_gen_string(w->g, (const unsigned char *)tmp.p, tmp.len));
	sb_free(&tmp);
}

static void jkv(struct jw *w, const char *k, const char *v)
{
	jstr(w, k);
	jstr(w, v);
}

static void jmap_open(struct jw *w)
{
	if (!w->err)
		jcheck(w, yajl_gen_map_open(w->g));
}

static void jmap_close(struct jw *w)
{
	if (!w->err)
		jcheck(w, yajl_gen_map_close(w->g));
}

static void jarr_open(struct jw *w)
{
	if (!w->err)
		jcheck(w, yajl_gen_array_open(w->g));
}

static void jarr_close(struct jw *w)
{
	if (!w->err)
		jcheck(w, yajl_gen_array_close(w->g));
}

static void jint(struct jw *w, long long v)
{
	if (!w->err)
		jcheck(w, yajl_gen_integer(w->g, v));
}

static int jw_init(struct jw *w)
{
	w->err = 0;
	w->g = yajl_gen_alloc(NULL);
	return w->g ? 0 : -ENOMEM;
}

/* Ends w: on success *out is a new copy of the document (free()), *len its length. */
static int jw_finish(struct jw *w, char **out, size_t *len)
{
	const unsigned char *buf;
	size_t n;
	int rc = w->err;

	if (!rc && yajl_gen_get_buf(w->g, &buf, &n) != yajl_gen_status_ok)
		rc = -ENOMEM;
	if (!rc) {
		*out = malloc(n + 1);
		if (*out) {
			memcpy(*out, buf, n);
			(*out)[n] = '\0';
			*len = n;
		} else {
			rc = -ENOMEM;
		}
	}
	yajl_gen_free(w->g);
	w->g = NULL;
	return rc;
}

/* ---------------------------------------------------------------- alerts */

/* One alert as the JSON payloads see it; strings borrowed. */
struct alert {
	const char *labels[5][2]; /* alertname, cluster, namespace, team, controller */
	const char *summary;
	const char *description; /* NULL when there is no evidence */
	int64_t starts_at, ends_at;
	bool resolved;
};

/*
 * Prometheus' LabelSet fingerprint (FNV-1a 64 over the sorted names and values, each
 * followed by 0xff), so our fingerprints match what Alertmanager computes.
 */
static uint64_t fingerprint(const struct alert *a)
{
	const char *names[5], *vals[5], *t;
	uint64_t h = 14695981039346656037ULL;
	size_t i, j, k = 0;
	const char *s;

	for (i = 0; i < 5; i++) {
		if (!a->labels[i][0])
			continue;
		names[k] = a->labels[i][0];
		vals[k++] = a->labels[i][1];
	}
	for (i = 1; i < k; i++)
		for (j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
			t = vals[j];
			vals[j] = vals[j - 1];
			vals[j - 1] = t;
		}
	for (i = 0; i < k; i++) {
		for (s = names[i]; *s; s++)
			h = (h ^ (unsigned char)*s) * 1099511628211ULL;
		h = (h ^ 0xffu) * 1099511628211ULL;
		for (s = vals[i]; *s; s++)
			h = (h ^ (unsigned char)*s) * 1099511628211ULL;
		h = (h ^ 0xffu) * 1099511628211ULL;
	}
	return h;
}

/* a's labels from the notice x; the rest of a is left alone. */
static void notice_labels(const struct kl_notify *n, const struct kl_notice *x, struct alert *a)
{
	a->labels[0][0] = "alertname";
	a->labels[0][1] = x->alertname;
	a->labels[1][0] = "cluster";
	a->labels[1][1] = n->cluster;
	a->labels[2][0] = "namespace";
	a->labels[2][1] = x->ns;
	a->labels[3][0] = x->team ? "team" : NULL;
	a->labels[3][1] = x->team;
	a->labels[4][0] = "controller";
	a->labels[4][1] = x->controller;
}

static int64_t wall_now(void)
{
	return (int64_t)time(NULL);
}

/* A resolved alert's endsAt: when it ended, never in the future. */
static int64_t resolved_end(int64_t ends_at, int64_t now)
{
	return ends_at > 0 && ends_at <= now ? ends_at : now;
}

static void gen_labels(struct jw *w, const struct alert *a)
{
	size_t i;

	jmap_open(w);
	for (i = 0; i < 5; i++)
		if (a->labels[i][0])
			jkv(w, a->labels[i][0], a->labels[i][1]);
	jmap_close(w);
}

static void gen_annotations(struct jw *w, const struct alert *a)
{
	jmap_open(w);
	jkv(w, "summary", a->summary);
	if (a->description)
		jkv(w, "description", a->description);
	jmap_close(w);
}

/* One alert of /api/v2/alerts; firing alerts end at am_end unless re-posted. */
static void gen_am_alert(struct jw *w, const struct alert *a, int64_t now, int64_t am_end)
{
	char ts[32];

	jmap_open(w);
	jstr(w, "labels");
	gen_labels(w, a);
	jstr(w, "annotations");
	gen_annotations(w, a);
	rfc3339(a->starts_at > 0 ? a->starts_at : now, ts);
	jkv(w, "startsAt", ts);
	rfc3339(a->resolved ? resolved_end(a->ends_at, now) : am_end, ts);
	jkv(w, "endsAt", ts);
	jkv(w, "generatorURL", "");
	jmap_close(w);
}

/* One alert of the webhook payload. */
static void gen_hook_alert(struct jw *w, const struct alert *a, int64_t now)
{
	char ts[32];

	jmap_open(w);
	jkv(w, "status", a->resolved ? "resolved" : "firing");
	jstr(w, "labels");
	gen_labels(w, a);
	jstr(w, "annotations");
	gen_annotations(w, a);
	rfc3339(a->starts_at > 0 ? a->starts_at : now, ts);
	jkv(w, "startsAt", ts);
	if (a->resolved)
		rfc3339(resolved_end(a->ends_at, now), ts);
	jkv(w, "endsAt", a->resolved ? ts : FIRING_ENDS_AT);
	jkv(w, "generatorURL", "");
	snprintf(ts, sizeof(ts), "%016" PRIx64, fingerprint(a));
	jkv(w, "fingerprint", ts);
	jmap_close(w);
}

/* The value of label name when every alert has it with the same value, else NULL. */
static const char *common_label(const struct alert *a, size_t cnt, size_t li)
{
	size_t i;

	for (i = 0; i < cnt; i++)
		if (!a[i].labels[li][0] || strcmp(a[i].labels[li][1], a[0].labels[li][1]))
			return NULL;
	return cnt ? a[0].labels[li][1] : NULL;
}

/* The annotation (0 summary, 1 description) when every alert has the same, else NULL. */
static const char *common_annotation(const struct alert *a, size_t cnt, int which)
{
	const char *first = cnt ? (which ? a[0].description : a[0].summary) : NULL, *s;
	size_t i;

	for (i = 0; i < cnt && first; i++) {
		s = which ? a[i].description : a[i].summary;
		if (!s || strcmp(s, first))
			return NULL;
	}
	return first;
}

/* The Alertmanager webhook payload (version 4) for alerts of one status. */
static int webhook_body(const char *receiver, const struct alert *a, size_t cnt, char **out,
			size_t *len)
{
	const char *alertname = common_label(a, cnt, 0), *v;
	struct sbuf key = {0};
	struct jw w;
	int64_t now = wall_now();
	size_t i;
	int rc;

	sb_puts(&key, "{}:{");
	if (alertname) {
		sb_puts(&key, "alertname=\"");
		sb_puts(&key, alertname);
		sb_puts(&key, "\"");
	}
	sb_puts(&key, "}");
	if (key.oom)
		return -ENOMEM;
	rc = jw_init(&w);
	if (rc) {
		sb_free(&key);
		return rc;
	}
	jmap_open(&w);
	jkv(&w, "version", "4");
	jkv(&w, "groupKey", key.p);
	jstr(&w, "truncatedAlerts");
	jint(&w, 0);
	jkv(&w, "status", a[0].resolved ? "resolved" : "firing");
	jkv(&w, "receiver", receiver);
	jstr(&w, "groupLabels");
	jmap_open(&w);
	if (alertname)
		jkv(&w, "alertname", alertname);
	jmap_close(&w);
	jstr(&w, "commonLabels");
	jmap_open(&w);
	for (i = 0; i < 5; i++) {
		v = common_label(a, cnt, i);
		if (v)
			jkv(&w, a[0].labels[i][0], v);
	}
	jmap_close(&w);
	jstr(&w, "commonAnnotations");
	jmap_open(&w);
	v = common_annotation(a, cnt, 0);
	if (v)
		jkv(&w, "summary", v);
	v = common_annotation(a, cnt, 1);
	if (v)
		jkv(&w, "description", v);
	jmap_close(&w);
	jkv(&w, "externalURL", "");
	jstr(&w, "alerts");
	jarr_open(&w);
	for (i = 0; i < cnt; i++)
		gen_hook_alert(&w, &a[i], now);
	jarr_close(&w);
	jmap_close(&w);
	sb_free(&key);
	return jw_finish(&w, out, len);
}

static int64_t am_end(const struct kl_notify *n, int64_t now)
{
	return now + (int64_t)((4 * n->o.am_resend_ms + 999) / 1000);
}

/* POST /api/v2/alerts body for alerts (firing end at now + 4 x resend). */
static int am_body(struct kl_notify *n, const struct alert *a, size_t cnt, char **out, size_t *len)
{
	int64_t now = wall_now();
	struct jw w;
	size_t i;
	int rc;

	rc = jw_init(&w);
	if (rc)
		return rc;
	jarr_open(&w);
	for (i = 0; i < cnt; i++)
		gen_am_alert(&w, &a[i], now, am_end(n, now));
	jarr_close(&w);
	return jw_finish(&w, out, len);
}

static int slack_body(const char *text, char **out, size_t *len)
{
	struct jw w;
	int rc;

	rc = jw_init(&w);
	if (rc)
		return rc;
	jmap_open(&w);
	jkv(&w, "text", text);
	jmap_close(&w);
	return jw_finish(&w, out, len);
}

/* ------------------------------------------------------------- AM alerts */

static void am_alert_free(struct am_alert *a)
{
	size_t i;

	for (i = 0; i < 5; i++) {
		free(a->labels[i][0]);
		free(a->labels[i][1]);
	}
	free(a->summary);
	free(a->description);
	free(a);
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

/* A copy of a; NULL on ENOMEM. */
static struct am_alert *am_alert_new(const struct alert *a)
{
	struct am_alert *c = calloc(1, sizeof(*c));
	bool oom = false;
	size_t i;

	if (!c)
		return NULL;
	kl_list_init(&c->link);
	for (i = 0; i < 5; i++) {
		if (!a->labels[i][0])
			continue;
		c->labels[i][0] = dup_or_null(a->labels[i][0], &oom);
		c->labels[i][1] = dup_or_null(a->labels[i][1], &oom);
	}
	c->summary = dup_or_null(a->summary, &oom);
	c->description = dup_or_null(a->description, &oom);
	c->starts_at = a->starts_at;
	c->ends_at = a->ends_at;
	c->resolved = a->resolved;
	c->fp = fingerprint(a);
	if (oom) {
		am_alert_free(c);
		return NULL;
	}
	return c;
}

static void am_alert_view(const struct am_alert *c, struct alert *a)
{
	size_t i;

	memset(a, 0, sizeof(*a));
	for (i = 0; i < 5; i++) {
		a->labels[i][0] = c->labels[i][0];
		a->labels[i][1] = c->labels[i][1];
	}
	a->summary = c->summary;
	a->description = c->description;
	a->starts_at = c->starts_at;
	a->ends_at = c->ends_at;
	a->resolved = c->resolved;
}

static void am_alerts_free(struct kl_link *head)
{
	struct am_alert *a;

	while (!kl_list_empty(head)) {
		a = container_of(head->next, struct am_alert, link);
		kl_list_del(&a->link);
		am_alert_free(a);
	}
}

/* POST /api/v2/alerts body for a list of struct am_alert. */
static int am_list_body(struct kl_notify *n, struct kl_link *head, char **out, size_t *len)
{
	struct alert *v;
	struct kl_link *l;
	size_t cnt = 0, i = 0;
	int rc;

	for (l = head->next; l != head; l = l->next)
		cnt++;
	if (!cnt)
		return -ENOENT;
	v = calloc(cnt, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (l = head->next; l != head; l = l->next)
		am_alert_view(container_of(l, struct am_alert, link), &v[i++]);
	rc = am_body(n, v, cnt, out, len);
	free(v);
	return rc;
}

static void am_forget(struct notifier *nt, uint64_t fp)
{
	struct kl_link *l, *next;
	struct am_alert *a;

	for (l = nt->alerts.next; l != &nt->alerts; l = next) {
		next = l->next;
		a = container_of(l, struct am_alert, link);
		if (a->fp == fp) {
			kl_list_del(&a->link);
			am_alert_free(a);
		}
	}
}

/* ---------------------------------------------------------------- metrics */

static void count_result(struct notifier *nt, const char *result)
{
	const char *v[] = {nt->name, result};

	if (nt->n->m_total)
		kl_metric_inc(nt->n->m_total, v);
}

static void gauge(struct notifier *nt)
{
	const char *v[] = {nt->name};

	if (nt->n->m_queue)
		kl_metric_set(nt->n->m_queue, v, (double)(nt->nqueued + (nt->cur ? 1 : 0)));
}

/* --------------------------------------------------------------- reports */

static void msg_free(struct msg *m)
{
	am_alerts_free(&m->alerts);
	free(m->body);
	free(m->ids);
	free(m);
}

static void on_report(uv_timer_t *t)
{
	struct kl_notify *n = container_of(t, struct kl_notify, report);
	struct msg *m;
	size_t i;

	while (!n->closing && !kl_list_empty(&n->reports)) {
		m = container_of(n->reports.next, struct msg, link);
		kl_list_del(&m->link);
		/* done_cb may send (appending here) or close (then we stop) */
		for (i = 0; i < m->nids && !n->closing; i++)
			n->done_cb(n->arg, m->ids[i], m->nt->name, m->delivered);
		msg_free(m);
	}
}

/* Hands m's fate to done_cb, from the loop. Takes ownership of m. */
static void report(struct kl_notify *n, struct msg *m, bool delivered)
{
	free(m->body);
	m->body = NULL;
	m->delivered = delivered;
	if (!m->nids || !n->done_cb) {
		msg_free(m);
		return;
	}
	kl_list_add_tail(&n->reports, &m->link);
	if (!uv_is_active((uv_handle_t *)&n->report))
		uv_timer_start(&n->report, on_report, 0, 0);
}

/* -------------------------------------------------------------- delivery */

static void pump(struct notifier *nt);
static int build_resend(struct notifier *nt, struct msg *m);

static void log_errno(struct notifier *nt, const char *msg, int status, int code, int attempts)
{
	char c[16], a[16];

	snprintf(a, sizeof(a), "%d", attempts);
	if (status < 0) {
		kl_log_warn(nt->n->log, COMPONENT, msg, "notifier", nt->name, "error",
			    strerror(-status), "attempts", a);
	} else {
		snprintf(c, sizeof(c), "%d", code);
		kl_log_warn(nt->n->log, COMPONENT, msg, "notifier", nt->name, "code", c, "attempts",
			    a);
	}
}

/* The current message is done: delivered, dropped or (re-post) over. */
static void finish(struct notifier *nt, bool delivered)
{
	struct msg *m = nt->cur;

	nt->cur = NULL;
	if (m->resend) {
		nt->resend_queued = false;
		msg_free(m);
	} else {
		report(nt->n, m, delivered);
	}
	gauge(nt);
}

static void drop(struct notifier *nt, const char *why)
{
	char ids[16];

	snprintf(ids, sizeof(ids), "%zu", nt->cur->nids);
	kl_log_error(nt->n->log, COMPONENT, "notification dropped", "notifier", nt->name, "reason",
		     why, "notices", ids);
	count_result(nt, "dropped");
	finish(nt, false);
}

static void on_retry(uv_timer_t *t);

/* The outcome of one attempt of nt->cur: status 0 and an HTTP code, or an errno. */
static void attempt_done(struct notifier *nt, int status, int code, int retry_after_s)
{
	struct kl_notify *n = nt->n;
	struct msg *m = nt->cur;
	uint64_t wait, floor_ms, elapsed;
	bool retryable;
	char tmp[32];

	if (status == 0 && code >= 200 && code < 300) {
		count_result(nt, "success");
		snprintf(tmp, sizeof(tmp), "%d", code);
		kl_log_v(n->log, 1, COMPONENT, "notification sent", "notifier", nt->name, "code",
			 tmp);
		finish(nt, true);
		return;
	}
	count_result(nt, "failure");
	log_errno(nt, "notification failed", status, code, m->attempts);
	if (status < 0)
		retryable = status != -EINVAL && status != -ENOTSUP;
	else
		retryable = code >= 500 || code == 429 || code == 408;
	if (m->resend) {
		finish(nt, false); /* the next re-post follows anyway */
		return;
	}
	if (!retryable) {
		drop(nt, status < 0 ? "request refused" : "rejected by the receiver");
		return;
	}
	wait = m->backoff_ms ? m->backoff_ms : n->o.retry_initial_ms;
	if (wait > n->o.retry_max_ms)
		wait = n->o.retry_max_ms;
	m->backoff_ms = wait * 2 > n->o.retry_max_ms ? n->o.retry_max_ms : wait * 2;
	floor_ms = retry_after_s > 0 ? (uint64_t)retry_after_s * 1000 : 0;
	if (wait < floor_ms)
		wait = floor_ms;
	elapsed = uv_now(n->loop) - m->first_try_ms;
	if (elapsed + wait > n->o.give_up_ms) {
		drop(nt, "gave up retrying");
		return;
	}
	uv_timer_start(&nt->retry, on_retry, wait, 0);
}

static void on_http_done(void *arg, int status, int code, int retry_after_s, const char *msg)
{
	struct notifier *nt = arg;

	nt->req = NULL;
	if (nt->n->closing || !nt->cur)
		return; /* cancelled by kl_notify_close: nobody is told */
	attempt_done(nt, status, code, retry_after_s);
	pump(nt);
}

/*
 * A retried alertmanager message gets a fresh body: firing alerts end 4 x am_resend
 * after this attempt, not after the first (Alertmanager would resolve them).
 */
static void rebuild(struct notifier *nt, struct msg *m)
{
	char *body;
	size_t len;

	if (am_list_body(nt->n, &m->alerts, &body, &len))
		return; /* keep the old body */
	free(m->body);
	m->body = body;
	m->len = len;
}

/* Starts one attempt of nt->cur. On a synchronous failure the outcome is handled here. */
static void attempt(struct notifier *nt)
{
	static const char *const headers[] = {"Content-Type: application/json", "Expect:", NULL};
	struct kl_notify *n = nt->n;
	struct msg *m = nt->cur;
	struct kl_http_opts o = {
	    .method = "POST",
	    .headers = headers,
	    .user_agent = "kloompas/" KL_VERSION,
	    .timeout_ms = n->o.timeout_ms,
	};
	int rc;

	if (!m->attempts)
		m->first_try_ms = uv_now(n->loop);
	else if (!kl_list_empty(&m->alerts))
		rebuild(nt, m);
	m->attempts++;
	o.url = nt->url;
	o.body = m->body;
	o.body_len = m->len;
	rc = kl_http_request(n->http, &o, NULL, on_http_done, nt, &nt->req);
	if (rc < 0) {
		nt->req = NULL;
		attempt_done(nt, rc, 0, -1);
	}
}

static void on_retry(uv_timer_t *t)
{
	struct notifier *nt = container_of(t, struct notifier, retry);

	if (nt->cur)
		attempt(nt);
	pump(nt);
}

/* Starts the next queued message when none is current. */
static void pump(struct notifier *nt)
{
	struct msg *m;

	while (!nt->n->closing && !nt->cur && !kl_list_empty(&nt->queue)) {
		m = container_of(nt->queue.next, struct msg, link);
		kl_list_del(&m->link);
		nt->nqueued--;
		nt->cur = m;
		if (m->resend && build_resend(nt, m) != 0) {
			finish(nt, false); /* nothing to re-post, or no memory for it */
			continue;
		}
		attempt(nt);
	}
	gauge(nt);
}

/* Queues m, or refuses it when the queue is full. Takes ownership of m. */
static void enqueue(struct notifier *nt, struct msg *m)
{
	struct kl_notify *n = nt->n;
	char ids[16];

	if (m->resend) {
		kl_list_add_tail(&nt->queue, &m->link);
		nt->nqueued++;
		nt->resend_queued = true;
		pump(nt);
		return;
	}
	/* a re-post (at most one) does not take a notice's place */
	if (nt->nqueued + (nt->cur ? 1 : 0) - (nt->resend_queued ? 1 : 0) >= n->o.queue_max) {
		snprintf(ids, sizeof(ids), "%zu", m->nids);
		kl_log_error(n->log, COMPONENT, "notification dropped", "notifier", nt->name,
			     "reason", "queue full", "notices", ids);
		count_result(nt, "dropped");
		report(n, m, false);
		return;
	}
	kl_list_add_tail(&nt->queue, &m->link);
	nt->nqueued++;
	pump(nt);
}

/* Builds a re-post of every alert in the set; -ENOENT when the set is empty. */
static int build_resend(struct notifier *nt, struct msg *m)
{
	return am_list_body(nt->n, &nt->alerts, &m->body, &m->len);
}

static void on_resend(uv_timer_t *t)
{
	struct notifier *nt = container_of(t, struct notifier, resend);
	struct msg *m;

	if (kl_list_empty(&nt->alerts)) {
		uv_timer_stop(&nt->resend);
		return;
	}
	if (nt->resend_queued)
		return; /* the last one has not gone yet */
	m = calloc(1, sizeof(*m));
	if (!m)
		return;
	kl_list_init(&m->alerts);
	m->nt = nt;
	m->resend = true;
	enqueue(nt, m);
}

/* ------------------------------------------------------------------ flush */

/* What one flush does at one notifier, built before anything is committed. */
struct plan {
	const struct kl_notice **v; /* the notices routed here */
	size_t cnt;
	struct msg *msgs[2];
	size_t nmsgs;
	char *texts[2];	    /* what dry-run logs: Slack text, else the body */
	struct kl_link am_new; /* alertmanager: firing alerts to keep */
};

static struct msg *msg_new(struct notifier *nt, const struct kl_notice *const *v, size_t cnt,
			   int only) /* only: -1 every notice, 0 firing, 1 resolved */
{
	struct msg *m = calloc(1, sizeof(*m));
	size_t i;

	if (!m)
		return NULL;
	kl_list_init(&m->link);
	kl_list_init(&m->alerts);
	m->nt = nt;
	m->ids = calloc(cnt ? cnt : 1, sizeof(*m->ids));
	if (!m->ids) {
		free(m);
		return NULL;
	}
	for (i = 0; i < cnt; i++)
		if (only < 0 || v[i]->resolved == (only == 1))
			m->ids[m->nids++] = v[i]->id;
	return m;
}

/* Alerts for the notices of v (of one status when only >= 0), descriptions in descs. */
static size_t alerts_of(struct kl_notify *n, const struct kl_notice *const *v, size_t cnt, int only,
			struct alert *a, struct sbuf *descs, bool *oom)
{
	size_t i, k = 0;

	for (i = 0; i < cnt; i++) {
		if (only >= 0 && v[i]->resolved != (only == 1))
			continue;
		memset(&a[k], 0, sizeof(a[k]));
		notice_labels(n, v[i], &a[k]);
		a[k].summary = v[i]->summary;
		plain_evidence(&descs[k], v[i]);
		if (descs[k].oom)
			*oom = true;
		a[k].description = descs[k].len ? descs[k].p : NULL;
		/* fixed now, so that re-posts of an alert agree on when it started */
		a[k].starts_at = v[i]->starts_at > 0 ? v[i]->starts_at : wall_now();
		a[k].ends_at = v[i]->ends_at;
		a[k].resolved = v[i]->resolved;
		k++;
	}
	return k;
}

static int plan_slack(struct kl_notify *n, struct notifier *nt, struct plan *p)
{
	struct sbuf text = {0};
	struct msg *m;

	slack_text(n, p->v, p->cnt, &text);
	if (text.oom) {
		sb_free(&text);
		return -ENOMEM;
	}
	m = msg_new(nt, p->v, p->cnt, -1);
	if (!m) {
		sb_free(&text);
		return -ENOMEM;
	}
	p->msgs[p->nmsgs] = m;
	p->texts[p->nmsgs++] = text.p;
	return slack_body(text.p ? text.p : "", &m->body, &m->len);
}

/* The webhook message for one status (only 0/1), or the alertmanager one (only -1). */
static int plan_status(struct kl_notify *n, struct notifier *nt, struct plan *p, int only,
		       struct alert *a, struct sbuf *descs)
{
	struct am_alert *c;
	struct msg *m;
	bool oom = false;
	size_t i, k;
	int rc;

	for (i = 0; i < p->cnt; i++)
		sb_free(&descs[i]);
	k = alerts_of(n, p->v, p->cnt, only, a, descs, &oom);
	if (oom)
		return -ENOMEM;
	if (!k)
		return 0;
	m = msg_new(nt, p->v, p->cnt, only);
	if (!m)
		return -ENOMEM;
	p->msgs[p->nmsgs++] = m;
	if (nt->type == KL_NOTIFIER_WEBHOOK)
		rc = webhook_body(nt->name, a, k, &m->body, &m->len);
	else
		rc = am_body(n, a, k, &m->body, &m->len);
	if (rc || n->o.dry_run || nt->type != KL_NOTIFIER_ALERTMANAGER)
		return rc;
	for (i = 0; i < k; i++) {
		c = am_alert_new(&a[i]);
		if (!c)
			return -ENOMEM;
		kl_list_add_tail(&m->alerts, &c->link);
		if (a[i].resolved)
			continue;
		c = am_alert_new(&a[i]);
		if (!c)
			return -ENOMEM;
		kl_list_add_tail(&p->am_new, &c->link);
	}
	return 0;
}

static int plan_json(struct kl_notify *n, struct notifier *nt, struct plan *p)
{
	struct sbuf *descs;
	struct alert *a;
	size_t i;
	int rc;

	a = calloc(p->cnt, sizeof(*a));
	descs = calloc(p->cnt, sizeof(*descs));
	if (!a || !descs) {
		rc = -ENOMEM;
		goto out;
	}
	if (nt->type == KL_NOTIFIER_ALERTMANAGER) {
		rc = plan_status(n, nt, p, -1, a, descs);
	} else {
		rc = plan_status(n, nt, p, 0, a, descs);
		if (!rc)
			rc = plan_status(n, nt, p, 1, a, descs);
	}
out:
	for (i = 0; descs && i < p->cnt; i++)
		sb_free(&descs[i]);
	free(descs);
	free(a);
	return rc;
}

static int plan_build(struct kl_notify *n, struct notifier *nt, struct plan *p)
{
	switch (nt->type) {
	case KL_NOTIFIER_LOG:
		p->msgs[p->nmsgs] = msg_new(nt, p->v, p->cnt, -1);
		return p->msgs[p->nmsgs++] ? 0 : -ENOMEM;
	case KL_NOTIFIER_SLACK:
		return plan_slack(n, nt, p);
	case KL_NOTIFIER_WEBHOOK:
	case KL_NOTIFIER_ALERTMANAGER:
		return plan_json(n, nt, p);
	}
	return -EINVAL;
}

static void plan_free(struct plan *p)
{
	size_t i;

	for (i = 0; i < p->nmsgs; i++) {
		if (p->msgs[i])
			msg_free(p->msgs[i]);
		free(p->texts[i]);
	}
	am_alerts_free(&p->am_new);
	free(p->v);
}

/* The log notifier's lines for one notice. */
static void log_notice(struct kl_notify *n, struct notifier *nt, const struct kl_notice *x)
{
	const struct kl_notice_pod *p;
	char restarts[16], code[16], *tail;
	const char *t;
	size_t i, len;
	bool cut;

	kl_log_info(n->log, COMPONENT, "notification", "notifier", nt->name, "controller",
		    x->controller, "namespace", x->ns, "team", str_or(x->team, ""), "status",
		    x->resolved ? "resolved" : "firing", "repeat", x->repeat ? "true" : "false",
		    "summary", x->summary);
	if (n->log->verbosity < 1)
		return;
	for (i = 0; i < x->npods; i++) {
		p = &x->pods[i];
		snprintf(restarts, sizeof(restarts), "%d", p->restarts);
		snprintf(code, sizeof(code), "%d", p->exit_code);
		tail = NULL;
		if (p->log) {
			t = log_tail(p->log, &len, &cut);
			tail = strndup(t, len);
		}
		kl_log_v(n->log, 1, COMPONENT, "evidence", "notifier", nt->name, "namespace", x->ns,
			 "pod", str_or(p->pod, ""), "container", str_or(p->container, ""), "reason",
			 str_or(p->reason, ""), "restarts", restarts, "last_reason",
			 str_or(p->last_reason, ""), "exit_code", p->last_reason ? code : "", "log",
			 str_or(tail, ""), "log_error", str_or(p->log_error, ""));
		free(tail);
	}
}

/* Comma-separated distinct namespaces of the notices (for the dry-run log). */
static void namespaces_of(const struct kl_notice *const *v, size_t cnt, int only, struct sbuf *b)
{
	size_t i, k;

	for (i = 0; i < cnt; i++) {
		if (only >= 0 && v[i]->resolved != (only == 1))
			continue;
		for (k = 0; k < i && strcmp(v[k]->ns, v[i]->ns); k++)
			;
		if (k < i)
			continue;
		if (b->len)
			sb_puts(b, ",");
		sb_puts(b, v[i]->ns);
	}
}

static const char *status_of(const struct kl_notice *const *v, size_t cnt, int only)
{
	bool firing = false, resolved = false;
	size_t i;

	if (only >= 0)
		return only ? "resolved" : "firing";
	for (i = 0; i < cnt; i++) {
		if (v[i]->resolved)
			resolved = true;
		else
			firing = true;
	}
	return firing && resolved ? "firing,resolved" : resolved ? "resolved" : "firing";
}

/* The status a planned message covers: webhooks split by status, the others do not. */
static int msg_only(const struct notifier *nt, const struct plan *p, size_t i)
{
	size_t k;

	if (nt->type != KL_NOTIFIER_WEBHOOK)
		return -1;
	if (p->nmsgs == 2)
		return (int)i;
	for (k = 0; k < p->cnt; k++)
		if (!p->v[k]->resolved)
			return 0;
	return 1;
}

static void commit_dry_run(struct kl_notify *n, struct notifier *nt, struct plan *p)
{
	struct sbuf ns = {0};
	size_t i;
	int only;

	for (i = 0; i < p->nmsgs; i++) {
		only = msg_only(nt, p, i);
		ns.len = 0;
		namespaces_of(p->v, p->cnt, only, &ns);
		kl_log_info(n->log, COMPONENT, "would notify", "notifier", nt->name, "type",
			    nt->type_name, "status", status_of(p->v, p->cnt, only), "namespaces",
			    ns.p ? ns.p : "", "text", p->texts[i] ? p->texts[i] : p->msgs[i]->body);
		count_result(nt, "success");
		report(n, p->msgs[i], true);
		p->msgs[i] = NULL;
	}
	sb_free(&ns);
}

/* Updates the alertmanager re-post set: the firing alerts of p in, resolved ones out. */
static void commit_am_set(struct kl_notify *n, struct notifier *nt, struct plan *p)
{
	struct alert a = {0};
	struct am_alert *c;
	size_t i;

	for (i = 0; i < p->cnt; i++) {
		if (!p->v[i]->resolved)
			continue;
		notice_labels(n, p->v[i], &a);
		am_forget(nt, fingerprint(&a));
	}
	while (!kl_list_empty(&p->am_new)) {
		c = container_of(p->am_new.next, struct am_alert, link);
		kl_list_del(&c->link);
		am_forget(nt, c->fp);
		kl_list_add_tail(&nt->alerts, &c->link);
	}
	if (kl_list_empty(&nt->alerts))
		uv_timer_stop(&nt->resend);
	else if (!uv_is_active((uv_handle_t *)&nt->resend))
		uv_timer_start(&nt->resend, on_resend, n->o.am_resend_ms, n->o.am_resend_ms);
}

static void commit(struct kl_notify *n, struct notifier *nt, struct plan *p)
{
	size_t i;

	if (nt->type == KL_NOTIFIER_LOG) {
		for (i = 0; i < p->cnt; i++) {
			log_notice(n, nt, p->v[i]);
			count_result(nt, "success");
		}
		report(n, p->msgs[0], true);
		p->msgs[0] = NULL;
		return;
	}
	if (n->o.dry_run) {
		commit_dry_run(n, nt, p);
		return;
	}
	if (nt->type == KL_NOTIFIER_ALERTMANAGER)
		commit_am_set(n, nt, p);
	for (i = 0; i < p->nmsgs; i++) {
		enqueue(nt, p->msgs[i]);
		p->msgs[i] = NULL;
	}
}

/* The route index namespace ns takes, or -1 for none. */
static long route_of(const struct kl_notify *n, const char *ns)
{
	const struct kl_route_conf *rc = n->config->routes.items;
	size_t i, j;

	for (i = 0; i < n->nroutes; i++)
		for (j = 0; j < rc[i].namespaces.n; j++)
			if (kl_glob_match(rc[i].namespaces.v[j], ns))
				return (long)i;
	return -1;
}

/* Whether notice x goes to notifier name (its `only` list, when set). */
static bool wanted(const struct kl_notice *x, const char *name)
{
	size_t i;

	if (!x->only)
		return true;
	for (i = 0; i < x->nonly; i++)
		if (strcmp(x->only[i], name) == 0)
			return true;
	return false;
}

/* Notifier indices for ns: *idx points into the route, or at n->log_idx. */
static size_t targets(const struct kl_notify *n, const char *ns, const size_t **idx)
{
	long r = route_of(n, ns);

	if (r < 0 || !n->routes[r].n) {
		*idx = &n->log_idx;
		return 1;
	}
	*idx = n->routes[r].idx;
	return n->routes[r].n;
}

int kl_notify_send(struct kl_notify *n, const struct kl_notice *notices, size_t count)
{
	struct plan *plans;
	const size_t *idx;
	size_t i, j, k, total = 0;
	int rc = 0;

	if (n->closing)
		return -ESHUTDOWN;
	for (i = 0; i < count; i++)
		if (!notices[i].ns || !notices[i].controller || !notices[i].alertname ||
		    !notices[i].summary || (notices[i].npods && !notices[i].pods))
			return -EINVAL;
	if (!count)
		return 0;
	plans = calloc(n->nn, sizeof(*plans));
	if (!plans)
		return -ENOMEM;
	for (i = 0; i < n->nn; i++)
		kl_list_init(&plans[i].am_new);
	/* route: every plan gets room for every notice, then the ones routed to it */
	for (i = 0; i < count && !rc; i++) {
		k = targets(n, notices[i].ns, &idx);
		for (j = 0; j < k; j++) {
			struct plan *p = &plans[idx[j]];

			if (!wanted(&notices[i], n->nv[idx[j]].name))
				continue;
			if (!p->v) {
				p->v = calloc(count, sizeof(*p->v));
				if (!p->v) {
					rc = -ENOMEM;
					break;
				}
			}
			p->v[p->cnt++] = &notices[i];
			total++;
		}
	}
	for (i = 0; i < n->nn && !rc; i++)
		if (plans[i].cnt)
			rc = plan_build(n, &n->nv[i], &plans[i]);
	if (!rc)
		for (i = 0; i < n->nn; i++)
			if (plans[i].cnt)
				commit(n, &n->nv[i], &plans[i]);
	for (i = 0; i < n->nn; i++)
		plan_free(&plans[i]);
	free(plans);
	return rc ? rc : (int)total;
}

size_t kl_notify_route(const struct kl_notify *n, const char *ns, const char **names, size_t max)
{
	const size_t *idx;
	size_t k, i;

	k = targets(n, ns, &idx);
	for (i = 0; i < k && i < max; i++)
		names[i] = n->nv[idx[i]].name;
	return i;
}

/* ------------------------------------------------------------ lifecycle */

static void free_all(struct kl_notify *n)
{
	struct notifier *nt;
	struct msg *m;
	size_t i;

	while (!kl_list_empty(&n->reports)) {
		m = container_of(n->reports.next, struct msg, link);
		kl_list_del(&m->link);
		msg_free(m);
	}
	for (i = 0; i < n->nn; i++) {
		nt = &n->nv[i];
		while (!kl_list_empty(&nt->queue)) {
			m = container_of(nt->queue.next, struct msg, link);
			kl_list_del(&m->link);
			msg_free(m);
		}
		if (nt->cur)
			msg_free(nt->cur);
		am_alerts_free(&nt->alerts);
		free(nt->url);
	}
	for (i = 0; i < n->nroutes; i++)
		free(n->routes[i].idx);
	free(n->routes);
	free(n->nv);
	free(n);
}

static void closed_one(struct kl_notify *n)
{
	void (*cb)(void *arg) = n->close_cb;
	void *arg = n->close_arg;

	if (--n->pending_closes)
		return;
	free_all(n);
	if (cb)
		cb(arg);
}

static void on_handle_closed(uv_handle_t *h)
{
	closed_one(h->data);
}

static void on_http_closed(void *arg)
{
	closed_one(arg);
}

void kl_notify_close(struct kl_notify *n, void (*cb)(void *arg), void *arg)
{
	struct notifier *nt;
	size_t i;

	if (n->closing)
		return;
	n->closing = true;
	n->close_cb = cb;
	n->close_arg = arg;
	n->pending_closes = 1; /* held until every close below is under way */
	n->pending_closes++;
	uv_close((uv_handle_t *)&n->report, on_handle_closed);
	for (i = 0; i < n->nn; i++) {
		nt = &n->nv[i];
		if (!nt->has_timers)
			continue;
		n->pending_closes += 2;
		uv_close((uv_handle_t *)&nt->retry, on_handle_closed);
		uv_close((uv_handle_t *)&nt->resend, on_handle_closed);
	}
	/* requests in flight end with -ECANCELED, which on_http_done ignores */
	if (n->http) {
		n->pending_closes++;
		kl_http_close(n->http, on_http_closed, n);
	}
	closed_one(n);
}

static int make_url(struct notifier *nt, const char *url)
{
	size_t len = strlen(url);

	if (nt->type != KL_NOTIFIER_ALERTMANAGER) {
		nt->url = strdup(url);
		return nt->url ? 0 : -ENOMEM;
	}
	while (len && url[len - 1] == '/')
		len--;
	nt->url = malloc(len + sizeof("/api/v2/alerts"));
	if (!nt->url)
		return -ENOMEM;
	memcpy(nt->url, url, len);
	strcpy(nt->url + len, "/api/v2/alerts");
	return 0;
}

static long find_notifier(const struct kl_notify *n, const char *name)
{
	size_t i;

	for (i = 0; i < n->nn; i++)
		if (!strcmp(n->nv[i].name, name))
			return (long)i;
	return -1;
}

/* Resolves every route's notifier names to indices, without duplicates. */
static int make_routes(struct kl_notify *n)
{
	const struct kl_route_conf *rc = n->config->routes.items;
	struct route *r;
	size_t i, j, k;
	long x;

	n->nroutes = n->config->routes.n;
	if (!n->nroutes)
		return 0;
	n->routes = calloc(n->nroutes, sizeof(*n->routes));
	if (!n->routes)
		return -ENOMEM;
	for (i = 0; i < n->nroutes; i++) {
		r = &n->routes[i];
		r->idx = calloc(rc[i].notifiers.n ? rc[i].notifiers.n : 1, sizeof(*r->idx));
		if (!r->idx)
			return -ENOMEM;
		for (j = 0; j < rc[i].notifiers.n; j++) {
			x = find_notifier(n, rc[i].notifiers.v[j]);
			/* config/ checks the names; a route left with none goes to the log */
			if (x < 0)
				continue;
			for (k = 0; k < r->n && r->idx[k] != (size_t)x; k++)
				;
			if (k == r->n)
				r->idx[r->n++] = (size_t)x;
		}
	}
	return 0;
}

static void register_metrics(struct kl_notify *n, struct kl_metrics *metrics)
{
	static const char *const total_labels[] = {"notifier", "result", NULL};
	static const char *const queue_labels[] = {"notifier", NULL};
	static const char *const results[] = {"success", "failure", "dropped"};
	const char *v[2];
	size_t i, r;

	if (!metrics)
		return;
	n->m_total =
	    kl_metrics_counter(metrics, "kloompas_notifications_total",
			       "Notification messages by notifier and result.", total_labels);
	if (!n->m_total)
		n->m_total = kl_metrics_find(metrics, "kloompas_notifications_total");
	n->m_queue = kl_metrics_gauge(metrics, "kloompas_notification_queue_length",
				      "Messages queued or in flight per notifier.", queue_labels);
	if (!n->m_queue)
		n->m_queue = kl_metrics_find(metrics, "kloompas_notification_queue_length");
	/* every series exists from the start, at 0 */
	for (i = 0; i < n->nn; i++) {
		v[0] = n->nv[i].name;
		for (r = 0; r < 3 && n->m_total; r++) {
			v[1] = results[r];
			kl_metric_add(n->m_total, v, 0);
		}
		if (n->m_queue)
			kl_metric_set(n->m_queue, v, 0);
	}
}

static void apply_defaults(struct kl_notify_opts *o)
{
	if (!o->queue_max)
		o->queue_max = DEFAULT_QUEUE_MAX;
	if (!o->retry_initial_ms)
		o->retry_initial_ms = DEFAULT_RETRY_INITIAL_MS;
	if (!o->retry_max_ms)
		o->retry_max_ms = DEFAULT_RETRY_MAX_MS;
	if (o->retry_max_ms < o->retry_initial_ms)
		o->retry_max_ms = o->retry_initial_ms;
	if (!o->give_up_ms)
		o->give_up_ms = DEFAULT_GIVE_UP_MS;
	if (!o->am_resend_ms)
		o->am_resend_ms = DEFAULT_AM_RESEND_MS;
	if (!o->timeout_ms)
		o->timeout_ms = DEFAULT_TIMEOUT_MS;
}

/*
 * The notifiers: the configured ones, then the built-in "log" unless one is
 * configured under that name (then unrouted namespaces go to that one).
 */
static int make_notifiers(struct kl_notify *n)
{
	const struct kl_notifier_conf *nc = n->config->notifiers.items;
	size_t cnt = n->config->notifiers.n, i;
	struct notifier *nt;
	bool need_http = false;
	long li;

	n->nv = calloc(cnt + 1, sizeof(*n->nv));
	if (!n->nv)
		return -ENOMEM;
	for (i = 0; i < cnt; i++) {
		nt = &n->nv[n->nn++];
		nt->n = n;
		nt->name = nc[i].name;
		nt->type_name = nc[i].type_name ? nc[i].type_name : "";
		nt->type = nc[i].type;
		kl_list_init(&nt->queue);
		kl_list_init(&nt->alerts);
		if (nt->type == KL_NOTIFIER_LOG)
			continue;
		if (!nc[i].url || make_url(nt, nc[i].url))
			return nc[i].url ? -ENOMEM : -EINVAL;
		need_http = true;
	}
	li = find_notifier(n, LOG_NOTIFIER);
	if (li < 0) {
		nt = &n->nv[n->nn];
		nt->n = n;
		nt->name = LOG_NOTIFIER;
		nt->type_name = "log";
		nt->type = KL_NOTIFIER_LOG;
		kl_list_init(&nt->queue);
		kl_list_init(&nt->alerts);
		li = (long)n->nn++;
	}
	n->log_idx = (size_t)li;
	n->need_http = need_http && !n->o.dry_run;
	return 0;
}

struct kl_notify *kl_notify_new(uv_loop_t *loop, const struct kl_config *config,
				const struct kl_notify_opts *o, const struct kl_log *log,
				struct kl_metrics *metrics, kl_notify_done_cb done_cb, void *arg)
{
	struct kl_notify *n = calloc(1, sizeof(*n));
	struct notifier *nt;
	size_t i;

	if (!n)
		return NULL;
	n->loop = loop;
	n->config = config;
	if (o)
		n->o = *o;
	apply_defaults(&n->o);
	kl_log_init(&n->quiet, KL_LOG_TEXT, 0, NULL);
	n->log = log ? log : &n->quiet;
	n->cluster = n->o.cluster ? n->o.cluster : config->cluster ? config->cluster : "kubernetes";
	n->done_cb = done_cb;
	n->arg = arg;
	kl_list_init(&n->reports);
	if (make_notifiers(n) || make_routes(n))
		goto out_free;
	if (n->need_http) {
		/* no log: kl_http's debug lines name URL paths, and those are secret here */
		n->http = kl_http_new(loop, NULL);
		if (!n->http)
			goto out_free;
	}
	register_metrics(n, metrics);
	/* nothing fails from here on: kl_notify_close() undoes the rest */
	uv_timer_init(loop, &n->report);
	n->report.data = n;
	for (i = 0; i < n->nn; i++) {
		nt = &n->nv[i];
		if (nt->type == KL_NOTIFIER_LOG)
			continue;
		uv_timer_init(loop, &nt->retry);
		uv_timer_init(loop, &nt->resend);
		nt->retry.data = n;
		nt->resend.data = n;
		nt->has_timers = true;
	}
	return n;

out_free:
	for (i = 0; i < n->nroutes && n->routes; i++)
		free(n->routes[i].idx);
	free(n->routes);
	for (i = 0; i < n->nn; i++)
		free(n->nv[i].url);
	free(n->nv);
	free(n);
	return NULL;
}
