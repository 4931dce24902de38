/*
 * notify/webhook.c - the "webhook" notifier type: Alertmanager's webhook payload.
 *
 * Receivers written for Alertmanager (version 4 of its webhook JSON) take our
 * notices unchanged: one message per status per flush - firing, then resolved -
 * with group, common labels and annotations computed as Alertmanager would.
 */
#include "notify/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRING_ENDS_AT "0001-01-01T00:00:00Z"

/* One alert of the payload. */
static void gen_alert(struct kl__jw *w, const struct kl__alert *a, int64_t now)
{
	char ts[32];

	kl__jmap_open(w);
	kl__jkv(w, "status", a->resolved ? "resolved" : "firing");
	kl__jstr(w, "labels");
	kl__gen_labels(w, a);
	kl__jstr(w, "annotations");
	kl__gen_annotations(w, a);
	kl_rfc3339_format(a->starts_at > 0 ? a->starts_at : now, ts);
	kl__jkv(w, "startsAt", ts);
	if (a->resolved)
		kl_rfc3339_format(kl__resolved_end(a->ends_at, now), ts);
	kl__jkv(w, "endsAt", a->resolved ? ts : FIRING_ENDS_AT);
	kl__jkv(w, "generatorURL", "");
	snprintf(ts, sizeof(ts), "%016" PRIx64, kl__fingerprint(a));
	kl__jkv(w, "fingerprint", ts);
	kl__jmap_close(w);
}

/* The value of label li when every alert has it with the same value, else NULL. */
static const char *common_label(const struct kl__alert *a, size_t cnt, size_t li)
{
	size_t i;

	for (i = 0; i < cnt; i++)
		if (!a[i].labels[li][0] || strcmp(a[i].labels[li][1], a[0].labels[li][1]))
			return NULL;
	return cnt ? a[0].labels[li][1] : NULL;
}

/* The annotation (0 summary, 1 description) when every alert has the same, else NULL. */
static const char *common_annotation(const struct kl__alert *a, size_t cnt, int which)
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

static void gen_common(struct kl__jw *w, const struct kl__alert *a, size_t cnt)
{
	const char *v;
	size_t i;

	kl__jstr(w, "commonLabels");
	kl__jmap_open(w);
	for (i = 0; i < 5; i++) {
		v = common_label(a, cnt, i);
		if (v)
			kl__jkv(w, a[0].labels[i][0], v);
	}
	kl__jmap_close(w);
	kl__jstr(w, "commonAnnotations");
	kl__jmap_open(w);
	v = common_annotation(a, cnt, 0);
	if (v)
		kl__jkv(w, "summary", v);
	v = common_annotation(a, cnt, 1);
	if (v)
		kl__jkv(w, "description", v);
	kl__jmap_close(w);
}

/* The payload (version 4) for alerts of one status. */
static int body_of(struct kl__notifier *nt, const struct kl__alert *a, size_t cnt, char **out,
		   size_t *len)
{
	const char *receiver = nt->name;
	const char *alertname = common_label(a, cnt, 0);
	struct kl_buf key = {0};
	struct kl__jw w;
	int64_t now = kl_clock_wall_s(nt->n->o.clock);
	size_t i;
	int rc;

	kl_buf_puts(&key, "{}:{");
	if (alertname) {
		kl_buf_puts(&key, "alertname=\"");
		kl_buf_puts(&key, alertname);
		kl_buf_puts(&key, "\"");
	}
	kl_buf_puts(&key, "}");
	if (key.oom)
		return -ENOMEM;
	rc = kl__jw_init(&w);
	if (rc) {
		kl_buf_free(&key);
		return rc;
	}
	kl__jmap_open(&w);
	kl__jkv(&w, "version", "4");
	kl__jkv(&w, "groupKey", key.p);
	kl__jstr(&w, "truncatedAlerts");
	kl__jint(&w, 0);
	kl__jkv(&w, "status", a[0].resolved ? "resolved" : "firing");
	kl__jkv(&w, "receiver", receiver);
	kl__jstr(&w, "groupLabels");
	kl__jmap_open(&w);
	if (alertname)
		kl__jkv(&w, "alertname", alertname);
	kl__jmap_close(&w);
	gen_common(&w, a, cnt);
	kl__jkv(&w, "externalURL", "");
	kl__jstr(&w, "alerts");
	kl__jarr_open(&w);
	for (i = 0; i < cnt; i++)
		gen_alert(&w, &a[i], now);
	kl__jarr_close(&w);
	kl__jmap_close(&w);
	kl_buf_free(&key);
	return kl__jw_finish(&w, out, len);
}

/* One message per status: firing, then resolved. */
int kl__webhook_build(struct kl__notifier *nt, struct kl__plan *p)
{
	static const struct kl__alerts_render r = {{0, 1}, 2, body_of, NULL};

	return kl__alerts_build(nt, p, &r);
}
