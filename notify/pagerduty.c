/*
 * notify/pagerduty.c - the "pagerduty" notifier type: PagerDuty Events API v2.
 *
 * The Events API takes one event per request (POST /v2/enqueue, 202 Accepted), so
 * a flush is one message per notice: "trigger" for a firing notice, "resolve" for
 * a resolved one. The dedup_key is the alert's fingerprint (alert.c, the one the
 * webhook and alertmanager types send), a function of its labels only: a trigger
 * and its resolve share it across restarts, and a repeated trigger updates the
 * open incident rather than opening another. The routing key comes from
 * routing_key_file and travels only in the body; like URLs it is never logged.
 */
#include "notify/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PD_SUMMARY_MAX 1024 /* the API cuts payload.summary at 1024 characters */

/* clang-format off */
const struct kl_conf_key kl__pd_keys[] = {
	{ "routing_key_file", KL_CONF_SECRET_FILE, offsetof(struct kl__pd_conf, routing_key),
	  NULL, 0, NULL },
	{ NULL, 0, 0, NULL, 0, NULL },
};
/* clang-format on */

int kl__pd_check(const struct kl_notifier_conf *nc, const void *conf, const char *file,
		 const char *prefix, struct kl_error *err)
{
	const struct kl__pd_conf *pc = conf;

	/* config/ refuses an empty key file already */
	if (pc->routing_key)
		return 0;
	kl_error_set(err, file, nc->line, 0, "%s: routing_key_file is required for type pagerduty",
		     prefix);
	return -EINVAL;
}

/* "mon-apigee: 1 Pod(s) in CrashLoopBackOff (PRODUCTION)", cut on a character. */
static void summary_of(struct kl_buf *b, const struct kl__alert *a)
{
	size_t k;

	kl__put_text(b, a->labels[2][1]);
	kl_buf_puts(b, ": ");
	kl__put_text(b, a->summary);
	kl_buf_puts(b, " (");
	kl__put_text(b, a->labels[1][1]);
	kl_buf_puts(b, ")");
	if (b->len <= PD_SUMMARY_MAX)
		return;
	for (k = PD_SUMMARY_MAX; k && ((unsigned char)b->p[k] & 0xc0) == 0x80; k--)
		;
	b->len = k;
	b->p[k] = '\0';
}

static void gen_payload(struct kl__jw *w, const struct kl__alert *a, const struct kl_buf *sum)
{
	char ts[32];
	size_t i;

	kl__jstr(w, "payload");
	kl__jmap_open(w);
	kl__jkv(w, "summary", sum->p);
	kl__jkv(w, "source", a->labels[1][1]); /* the cluster */
	kl__jkv(w, "severity", "error");
	kl_rfc3339_format(a->starts_at, ts);
	kl__jkv(w, "timestamp", ts);
	kl__jkv(w, "component", a->labels[2][1]); /* the namespace */
	kl__jkv(w, "group", a->labels[4][1]);	  /* the controller */
	kl__jkv(w, "class", a->labels[0][1]);	  /* the alertname */
	kl__jstr(w, "custom_details");
	kl__jmap_open(w);
	for (i = 0; i < 5; i++)
		if (a->labels[i][0])
			kl__jkv(w, a->labels[i][0], a->labels[i][1]);
	kl__jkv(w, "summary", a->summary);
	if (a->description)
		kl__jkv(w, "evidence", a->description);
	kl__jmap_close(w);
	kl__jmap_close(w);
}

/*
 * One event: a trigger with its payload, or a resolve (which needs none); *text is
 * what dry-run logs instead of the body, which holds the routing key.
 */
static int event_of(struct kl__notifier *nt, const struct kl__alert *a, char **out, size_t *len,
		    char **text)
{
	const struct kl__pd_conf *pc = nt->conf;
	struct kl_buf sum = {0};
	struct kl__jw w;
	char key[20];
	int rc;

	summary_of(&sum, a);
	if (sum.oom)
		return -ENOMEM;
	rc = kl__jw_init(&w);
	if (rc) {
		kl_buf_free(&sum);
		return rc;
	}
	snprintf(key, sizeof(key), "%016" PRIx64, kl__fingerprint(a));
	kl__jmap_open(&w);
	kl__jkv(&w, "routing_key", pc->routing_key);
	kl__jkv(&w, "event_action", a->resolved ? "resolve" : "trigger");
	kl__jkv(&w, "dedup_key", key);
	if (!a->resolved) {
		gen_payload(&w, a, &sum);
		kl__jkv(&w, "client", "kloompas");
	}
	kl__jmap_close(&w);
	*text = NULL;
	if (asprintf(text, "%s %s %s", a->resolved ? "resolve" : "trigger", key, sum.p) < 0)
		w.err = -ENOMEM;
	kl_buf_free(&sum);
	rc = kl__jw_finish(&w, out, len);
	if (rc) {
		free(*text);
		*text = NULL;
	}
	return rc;
}

/* One message per notice, in the flush's order. */
int kl__pd_build(struct kl__notifier *nt, struct kl__plan *p)
{
	struct kl__alert *a = calloc(p->cnt, sizeof(*a));
	struct kl_buf *descs = calloc(p->cnt, sizeof(*descs));
	char *body = NULL, *text = NULL;
	size_t i, len;
	long k;
	int rc = -ENOMEM;

	if (!a || !descs)
		goto out_free;
	k = kl__alerts_of(nt, p, -1, a, descs);
	rc = k < 0 ? (int)k : 0;
	for (i = 0; i < (size_t)(k > 0 ? k : 0) && !rc; i++) {
		rc = event_of(nt, &a[i], &body, &len, &text);
		if (!rc && !kl__plan_msg_one(p, i, body, len, text))
			rc = -ENOMEM;
	}
out_free:
	for (i = 0; descs && i < p->cnt; i++)
		kl_buf_free(&descs[i]);
	free(descs);
	free(a);
	return rc;
}
