/*
 * notify/slack.c - the "slack" notifier type: one incoming-webhook text per flush.
 *
 * The text groups notices by (controller, resolved), firing groups first, each
 * under its notice's title, separated by one blank line and none inside a group
 * (a blank line of a log tail is sent as " "), so readers may split a message
 * into sections at blank lines. It is cut at SLACK_TEXT_MAX with "(N more ...)"
 * lines. Text is escaped as Slack wants (&, <, >), and ` becomes ' inside code so
 * nothing ends a span or block early. The same text goes as Block Kit sections, with
 * buttons under it for each firing namespace (silence 1h / 1d, show alerts), which
 * come back to POST /slack/interactive (controllers/silence_chatops.c).
 */
#include "notify/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLACK_TEXT_MAX 35000 /* Slack cuts text at 40,000 characters */
#define TRAILER_RESERVE 200  /* room kept for the "(N more ...)" lines */

/* Appends n bytes of s as valid UTF-8, Slack-escaped; ` becomes ' when no_ticks. */
static void esc(struct kl_buf *b, const char *s, size_t n, bool no_ticks)
{
	size_t k;

	while (n) {
		k = kl_utf8_seq(s, n);
		if (!k) {
			kl_buf_puts(b, "\xef\xbf\xbd");
			k = 1;
		} else if (*s == '&') {
			kl_buf_puts(b, "&amp;");
		} else if (*s == '<') {
			kl_buf_puts(b, "&lt;");
		} else if (*s == '>') {
			kl_buf_puts(b, "&gt;");
		} else if (no_ticks && *s == '`') {
			kl_buf_puts(b, "'");
		} else {
			kl_buf_add(b, s, k);
		}
		s += k;
		n -= k;
	}
}

static void put(struct kl_buf *b, const char *s)
{
	if (s)
		esc(b, s, strlen(s), false);
}

static void put_code(struct kl_buf *b, const char *s)
{
	esc(b, s, strlen(s), true);
}

/* A log tail inside a code block, each line ended by a newline; a blank line is " ". */
static void code_lines(struct kl_buf *b, const char *s, size_t n)
{
	const char *nl;
	size_t k;

	while (n) {
		nl = memchr(s, '\n', n);
		k = nl ? (size_t)(nl - s) : n;
		if (k && s[k - 1] == '\r')
			k--;
		if (k)
			esc(b, s, k, true);
		else
			kl_buf_puts(b, " ");
		kl_buf_puts(b, "\n");
		if (!nl)
			break;
		n -= (size_t)(nl - s) + 1;
		s = nl + 1;
	}
}

static void code_block(struct kl_buf *b, const char *tail, size_t len, bool cut)
{
	kl_buf_puts(b, "```\n");
	if (cut)
		kl_buf_puts(b, "\xe2\x80\xa6\n");
	code_lines(b, tail, len);
	kl_buf_puts(b, "```\n");
}

/* "• `pod` container `c`: STATE", the log tail in a code block */
static const struct kl__pod_style pod_style = {
    "\xe2\x80\xa2 `", "` container `", "`: ", put, put_code, code_block,
};

/* Room left in a text being cut at SLACK_TEXT_MAX. */
struct budget {
	bool pods_full;	   /* no more pod evidence fits */
	size_t skipped_ns; /* namespace lines left out */
};

/* "ns: (@team) SUMMARY" with its pods, or nothing when it does not fit. */
static void namespace_lines(struct kl_buf *b, const struct kl_notice *x, struct budget *bu)
{
	struct kl_buf line = {0}, pod = {0};
	size_t i, skipped = 0;

	put(&line, x->ns);
	kl_buf_puts(&line, ": (");
	put(&line, kl__str_or(x->team, "no team"));
	kl_buf_puts(&line, ") ");
	put(&line, x->summary);
	if (x->repeat && !x->resolved)
		kl_buf_puts(&line, " (still)");
	kl_buf_puts(&line, "\n");
	if (line.oom) {
		b->oom = true;
		goto out;
	}
	/* the line and, should its pods not fit, the "(N more pods)" after it */
	if (b->len + line.len + 32 + TRAILER_RESERVE > SLACK_TEXT_MAX) {
		bu->skipped_ns++;
		goto out;
	}
	kl_buf_add(b, line.p, line.len);
	for (i = 0; i < x->npods; i++) {
		if (!bu->pods_full) {
			pod.len = 0;
			kl__pod_lines(&pod, &x->pods[i], &pod_style);
			if (pod.oom) {
				b->oom = true;
				goto out;
			}
			if (b->len + pod.len + TRAILER_RESERVE <= SLACK_TEXT_MAX) {
				kl_buf_add(b, pod.p, pod.len);
				continue;
			}
			bu->pods_full = true;
		}
		skipped++;
	}
	if (skipped)
		kl_buf_printf(b, "(%zu more pod%s)\n", skipped, skipped == 1 ? "" : "s");
out:
	kl_buf_free(&line);
	kl_buf_free(&pod);
}

static bool same_group(const struct kl_notice *a, const struct kl_notice *b)
{
	return a->resolved == b->resolved && !strcmp(a->controller, b->controller);
}

/* "RESOLVED — TITLE on *CLUSTER*:" */
static void heading(struct kl_buf *b, const struct kl_notice *x, const char *cluster)
{
	if (x->resolved)
		kl_buf_puts(b, "RESOLVED \xe2\x80\x94 ");
	if (x->title) {
		put(b, x->title);
	} else {
		kl_buf_puts(b, "ALERTS FROM ");
		put(b, x->controller);
	}
	kl_buf_puts(b, " on *");
	put(b, cluster);
	kl_buf_puts(b, "*:\n");
}

/* Groups by (controller, resolved), firing groups first, each where it first appears. */
static void text_of(const struct kl__plan *p, const char *cluster, struct kl_buf *b)
{
	const struct kl_notice *const *v = p->v;
	struct budget bu = {0};
	size_t i, j, k;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < p->cnt; i++) {
			if (v[i]->resolved != (pass == 1))
				continue;
			for (k = 0; k < i && !same_group(v[k], v[i]); k++)
				;
			if (k < i)
				continue; /* the group was written at its first notice */
			if (b->len)
				kl_buf_puts(b, "\n");
			heading(b, v[i], cluster);
			for (j = i; j < p->cnt; j++)
				if (same_group(v[j], v[i]))
					namespace_lines(b, v[j], &bu);
		}
	}
	if (bu.skipped_ns)
		kl_buf_printf(b, "(%zu more namespace%s)\n", bu.skipped_ns,
			      bu.skipped_ns == 1 ? "" : "s");
	kl_buf_chomp(b);
}

#define SECTION_MAX 2900 /* Slack refuses a section's text above 3000 characters */
#define SECTIONS_MAX 20	 /* and a message above 50 blocks */
#define BUTTONS_MAX 10	 /* namespaces with buttons in one message */

/* {"type": "section", "text": {"type": "mrkdwn", "text": s[0..n)}} */
static void section(struct kl__jw *w, const char *s, size_t n)
{
	char *t = strndup(s, n);

	kl__jmap_open(w);
	kl__jkv(w, "type", "section");
	kl__jstr(w, "text");
	kl__jmap_open(w);
	kl__jkv(w, "type", "mrkdwn");
	kl__jkv(w, "text", t ? t : "");
	kl__jmap_close(w);
	kl__jmap_close(w);
	free(t);
}

/*
 * The text as sections, split where it has blank lines (its groups); a group longer
 * than a section is cut at its last line that fits.
 */
static void sections(struct kl__jw *w, const char *text)
{
	const char *s = text;
	size_t n, k = 0;

	while (*s && k < SECTIONS_MAX) {
		const char *blank = strstr(s, "\n\n");

		n = blank ? (size_t)(blank - s) : strlen(s);
		if (n > SECTION_MAX) {
			const char *nl = memrchr(s, '\n', SECTION_MAX);

			n = nl && nl > s ? (size_t)(nl - s) : SECTION_MAX;
			while (n && (s[n] & 0xc0) == 0x80) /* not inside a UTF-8 sequence */
				n--;
		}
		if (n)
			section(w, s, n), k++;
		s += n;
		while (*s == '\n')
			s++;
	}
}

static void button(struct kl__jw *w, const char *label, const char *action, const char *value)
{
	kl__jmap_open(w);
	kl__jkv(w, "type", "button");
	kl__jstr(w, "text");
	kl__jmap_open(w);
	kl__jkv(w, "type", "plain_text");
	kl__jkv(w, "text", label);
	kl__jmap_close(w);
	kl__jkv(w, "action_id", action);
	kl__jkv(w, "value", value);
	kl__jmap_close(w);
}

/*
 * Under the text, for each firing namespace (at most BUTTONS_MAX): a context line
 * naming it and the buttons "Silence 1h", "Silence 1d", "Show alerts", whose value
 * is "NAMESPACE CONTROLLER" (controllers/interactive.h reads them back).
 */
static void buttons(struct kl__jw *w, const struct kl__plan *p)
{
	char value[160];
	size_t i, n = 0;

	for (i = 0; i < p->cnt && n < BUTTONS_MAX; i++) {
		const struct kl_notice *x = p->v[i];

		if (x->resolved)
			continue;
		n++;
		snprintf(value, sizeof(value), "%s %s", x->ns, x->controller);
		kl__jmap_open(w);
		kl__jkv(w, "type", "context");
		kl__jstr(w, "elements");
		kl__jarr_open(w);
		kl__jmap_open(w);
		kl__jkv(w, "type", "plain_text");
		kl__jkv(w, "text", value);
		kl__jmap_close(w);
		kl__jarr_close(w);
		kl__jmap_close(w);
		kl__jmap_open(w);
		kl__jkv(w, "type", "actions");
		kl__jstr(w, "elements");
		kl__jarr_open(w);
		button(w, "Silence 1h", "kl_silence_1h", value);
		button(w, "Silence 1d", "kl_silence_1d", value);
		button(w, "Show alerts", "kl_alerts", value);
		kl__jarr_close(w);
		kl__jmap_close(w);
	}
}

/*
 * {"text": TEXT, "blocks": [...]}: the text (the fallback, and what dry-run logs)
 * also as Block Kit sections, then the buttons of the firing namespaces.
 */
int kl__slack_build(struct kl__notifier *nt, struct kl__plan *p)
{
	struct kl_buf text = {0};
	struct kl__jw w;
	char *body = NULL;
	size_t len = 0;
	int rc;

	text_of(p, nt->n->cluster, &text);
	if (text.oom) {
		kl_buf_free(&text);
		return -ENOMEM;
	}
	rc = kl__jw_init(&w);
	if (rc) {
		kl_buf_free(&text);
		return rc;
	}
	kl__jmap_open(&w);
	kl__jkv(&w, "text", text.p ? text.p : "");
	kl__jstr(&w, "blocks");
	kl__jarr_open(&w);
	sections(&w, text.p ? text.p : "");
	buttons(&w, p);
	kl__jarr_close(&w);
	kl__jmap_close(&w);
	rc = kl__jw_finish(&w, &body, &len);
	if (rc) {
		kl_buf_free(&text);
		return rc;
	}
	if (!text.p)
		text.p = strdup("");
	return kl__plan_msg(p, -1, body, len, text.p) ? 0 : -ENOMEM;
}
