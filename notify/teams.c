/*
 * notify/teams.c - the "teams" notifier type: a Microsoft Teams message with an
 * Adaptive Card, posted to a Workflows (Power Automate) or incoming webhook URL.
 *
 * One message per status per flush - firing, then resolved - like the webhook
 * type: {"type":"message","attachments":[{"contentType":
 * "application/vnd.microsoft.card.adaptive","content":{AdaptiveCard 1.4}}]}. The
 * card is a heading, then per notice a bold line and its facts (namespace, team,
 * controller, since/ended) and the evidence as monospace text. Adaptive Card
 * TextBlocks take a Markdown subset, so evidence is sent with its Markdown
 * characters escaped; both webhook kinds answer 200 or 202.
 */
#include "notify/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CARD_SCHEMA "http://adaptivecards.io/schemas/adaptive-card.json"
#define CARD_TYPE "application/vnd.microsoft.card.adaptive"

/* s with the Markdown characters Teams interprets escaped by a backslash. */
static void md_escape(struct kl_buf *b, const char *s)
{
	struct kl_buf t = {0};
	size_t i;

	kl__put_text(&t, s);
	for (i = 0; t.p && i < t.len; i++) {
		if (strchr("\\`*_[]()#+-.!>~|", t.p[i]))
			kl_buf_add(b, "\\", 1);
		kl_buf_add(b, &t.p[i], 1);
	}
	if (t.oom)
		b->oom = true;
	kl_buf_free(&t);
}

static void text_block(struct kl__jw *w, const char *text, const char *weight, bool mono)
{
	kl__jmap_open(w);
	kl__jkv(w, "type", "TextBlock");
	kl__jkv(w, "text", text);
	kl__jstr(w, "wrap");
	kl__jbool(w, true);
	if (weight)
		kl__jkv(w, "weight", weight);
	if (mono)
		kl__jkv(w, "fontType", "Monospace");
	kl__jmap_close(w);
}

static void fact(struct kl__jw *w, const char *title, const char *value)
{
	kl__jmap_open(w);
	kl__jkv(w, "title", title);
	kl__jkv(w, "value", value);
	kl__jmap_close(w);
}

/* One notice: its line, its facts, its evidence. */
static void gen_alert(struct kl__jw *w, const struct kl__alert *a, struct kl_buf *tmp, int64_t now)
{
	char ts[32];

	tmp->len = 0;
	md_escape(tmp, a->summary);
	kl_buf_puts(tmp, " \xe2\x80\x94 ");
	md_escape(tmp, a->labels[2][1]);
	if (tmp->oom)
		w->err = -ENOMEM;
	text_block(w, tmp->p, "Bolder", false);
	kl__jmap_open(w);
	kl__jkv(w, "type", "FactSet");
	kl__jstr(w, "facts");
	kl__jarr_open(w);
	fact(w, "Namespace", a->labels[2][1]);
	if (a->labels[3][0])
		fact(w, "Team", a->labels[3][1]);
	fact(w, "Alert", a->labels[0][1]);
	fact(w, "Controller", a->labels[4][1]);
	kl_rfc3339_format(a->resolved ? kl__resolved_end(a->ends_at, now) : a->starts_at, ts);
	fact(w, a->resolved ? "Ended" : "Since", ts);
	kl__jarr_close(w);
	kl__jmap_close(w);
	if (!a->description)
		return;
	tmp->len = 0;
	md_escape(tmp, a->description);
	if (tmp->oom)
		w->err = -ENOMEM;
	text_block(w, tmp->p, NULL, true);
}

static int body_of(struct kl__notifier *nt, const struct kl__alert *a, size_t cnt, char **out,
		   size_t *len)
{
	struct kl_buf tmp = {0};
	struct kl__jw w;
	char head[160];
	size_t i;
	int rc;

	rc = kl__jw_init(&w);
	if (rc)
		return rc;
	snprintf(head, sizeof(head), "%s: %zu alert%s %s in cluster ",
		 a[0].resolved ? "RESOLVED" : "FIRING", cnt, cnt == 1 ? "" : "s",
		 a[0].resolved ? "resolved" : "firing");
	kl_buf_puts(&tmp, head);
	md_escape(&tmp, nt->n->cluster);
	if (tmp.oom)
		w.err = -ENOMEM;
	kl__jmap_open(&w);
	kl__jkv(&w, "type", "message");
	kl__jstr(&w, "attachments");
	kl__jarr_open(&w);
	kl__jmap_open(&w);
	kl__jkv(&w, "contentType", CARD_TYPE);
	kl__jstr(&w, "contentUrl");
	kl__jnull(&w);
	kl__jstr(&w, "content");
	kl__jmap_open(&w);
	kl__jkv(&w, "$schema", CARD_SCHEMA);
	kl__jkv(&w, "type", "AdaptiveCard");
	kl__jkv(&w, "version", "1.4");
	kl__jstr(&w, "body");
	kl__jarr_open(&w);
	text_block(&w, tmp.p, "Bolder", false);
	for (i = 0; i < cnt; i++)
		gen_alert(&w, &a[i], &tmp, kl_clock_wall_s(nt->n->o.clock));
	kl__jarr_close(&w);
	kl__jmap_close(&w);
	kl__jmap_close(&w);
	kl__jarr_close(&w);
	kl__jmap_close(&w);
	kl_buf_free(&tmp);
	return kl__jw_finish(&w, out, len);
}

/* One message per status: firing, then resolved. */
int kl__teams_build(struct kl__notifier *nt, struct kl__plan *p)
{
	static const struct kl__alerts_render r = {{0, 1}, 2, body_of, NULL};

	return kl__alerts_build(nt, p, &r);
}
