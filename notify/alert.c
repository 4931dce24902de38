/*
 * notify/alert.c - a notice as a Prometheus-style alert (see internal.h).
 *
 * The webhook (Alertmanager's webhook payload) and the alertmanager notifier
 * (POST /api/v2/alerts) describe a notice the same way: five labels, a summary
 * and a description annotation, startsAt/endsAt. Both drivers build their payload
 * from these views, so the labels and the fingerprint cannot drift apart.
 */
#include "notify/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a 64 over the sorted names and values, each followed by 0xff. */
uint64_t kl__fingerprint(const struct kl__alert *a)
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

void kl__notice_labels(const struct kl_notify *n, const struct kl_notice *x, struct kl__alert *a)
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

long kl__alerts_of(struct kl__notifier *nt, const struct kl__plan *p, int only, struct kl__alert *a,
		   struct kl_buf *descs)
{
	const struct kl_notice *x;
	size_t i, k = 0;

	for (i = 0; i < p->cnt; i++) {
		x = p->v[i];
		if (only >= 0 && x->resolved != (only == 1))
			continue;
		memset(&a[k], 0, sizeof(a[k]));
		kl__notice_labels(nt->n, x, &a[k]);
		a[k].summary = x->summary;
		kl_buf_free(&descs[k]);
		kl__plain_evidence(&descs[k], x);
		if (descs[k].oom)
			return -ENOMEM;
		a[k].description = descs[k].len ? descs[k].p : NULL;
		/* fixed now, so that re-posts of an alert agree on when it started */
		a[k].starts_at = x->starts_at > 0 ? x->starts_at : kl_clock_wall_s(nt->n->o.clock);
		a[k].ends_at = x->ends_at;
		a[k].resolved = x->resolved;
		k++;
	}
	return (long)k;
}

int64_t kl__resolved_end(int64_t ends_at, int64_t now)
{
	return ends_at > 0 && ends_at <= now ? ends_at : now;
}

void kl__gen_labels(struct kl__jw *w, const struct kl__alert *a)
{
	size_t i;

	kl__jmap_open(w);
	for (i = 0; i < 5; i++)
		if (a->labels[i][0])
			kl__jkv(w, a->labels[i][0], a->labels[i][1]);
	kl__jmap_close(w);
}

void kl__gen_annotations(struct kl__jw *w, const struct kl__alert *a)
{
	kl__jmap_open(w);
	kl__jkv(w, "summary", a->summary);
	if (a->description)
		kl__jkv(w, "description", a->description);
	kl__jmap_close(w);
}

/* The message for p's notices of status only; none when it has no such notice. */
static int build_one(struct kl__notifier *nt, struct kl__plan *p, int only,
		     const struct kl__alerts_render *r, struct kl__alert *a, struct kl_buf *descs)
{
	long k = kl__alerts_of(nt, p, only, a, descs);
	struct kl__msg *m;
	char *body = NULL;
	size_t len = 0;
	int rc;

	if (k <= 0)
		return (int)k;
	rc = r->body(nt, a, (size_t)k, &body, &len);
	if (rc)
		return rc;
	m = kl__plan_msg(p, only, body, len, NULL);
	if (!m)
		return -ENOMEM;
	return r->made ? r->made(nt, p, m, a, (size_t)k) : 0;
}

int kl__alerts_build(struct kl__notifier *nt, struct kl__plan *p, const struct kl__alerts_render *r)
{
	struct kl__alert *a = calloc(p->cnt, sizeof(*a));
	struct kl_buf *descs = calloc(p->cnt, sizeof(*descs));
	size_t i;
	int rc = -ENOMEM;

	if (a && descs) {
		rc = 0;
		for (i = 0; i < r->nstatus && !rc; i++)
			rc = build_one(nt, p, r->status[i], r, a, descs);
	}
	for (i = 0; descs && i < p->cnt; i++)
		kl_buf_free(&descs[i]);
	free(descs);
	free(a);
	return rc;
}
