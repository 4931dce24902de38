/*
 * notify/alertmanager.c - the "alertmanager" notifier type: POST /api/v2/alerts.
 *
 * Alertmanager forgets an alert whose endsAt passes, so a firing alert is posted
 * with endsAt 4 x am_resend_ms ahead and the notifier keeps the firing alerts it
 * posted (keyed by the label fingerprint) to re-post them all every am_resend_ms
 * (a re-post is a message without notices that is not retried: the next one
 * follows). A resolved notice is posted with its endsAt and leaves the set. Each
 * message keeps copies of its alerts, so a retry posts a fresh endsAt.
 */
#include "notify/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A copy of an alert: in the set of firing alerts to re-post, or in a message. */
struct am_alert {
	struct kl_link link;
	uint64_t fp;
	char *labels[5][2]; /* (name, value); name NULL when absent */
	char *summary, *description;
	int64_t starts_at, ends_at;
	bool resolved;
};

/* A list of struct am_alert: nt->priv (the set), a message's, a plan's (new firing ones). */
struct am_list {
	struct kl_link head;
};

static void alert_free(struct am_alert *a)
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
static struct am_alert *alert_copy(const struct kl__alert *a)
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
	c->fp = kl__fingerprint(a);
	if (oom) {
		alert_free(c);
		return NULL;
	}
	return c;
}

static void alert_view(const struct am_alert *c, struct kl__alert *a)
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

static struct am_list *list_new(void)
{
	struct am_list *l = malloc(sizeof(*l));

	if (l)
		kl_list_init(&l->head);
	return l;
}

static void list_free(struct am_list *l)
{
	struct am_alert *a;

	if (!l)
		return;
	while (!kl_list_empty(&l->head)) {
		a = container_of(l->head.next, struct am_alert, link);
		kl_list_del(&a->link);
		alert_free(a);
	}
	free(l);
}

/* Copies a into l; -ENOMEM. */
static int list_add(struct am_list *l, const struct kl__alert *a)
{
	struct am_alert *c = alert_copy(a);

	if (!c)
		return -ENOMEM;
	kl_list_add_tail(&l->head, &c->link);
	return 0;
}

/* The body for alerts: firing ones end at now + 4 x resend, unless re-posted. */
static int body_of(struct kl__notifier *nt, const struct kl__alert *a, size_t cnt, char **out,
		   size_t *len)
{
	struct kl_notify *n = nt->n;
	int64_t now = kl_clock_wall_s(nt->n->o.clock);
	int64_t end = now + (int64_t)((4 * n->o.am_resend_ms + 999) / 1000);
	struct kl__jw w;
	char ts[32];
	size_t i;
	int rc;

	rc = kl__jw_init(&w);
	if (rc)
		return rc;
	kl__jarr_open(&w);
	for (i = 0; i < cnt; i++) {
		kl__jmap_open(&w);
		kl__jstr(&w, "labels");
		kl__gen_labels(&w, &a[i]);
		kl__jstr(&w, "annotations");
		kl__gen_annotations(&w, &a[i]);
		kl_rfc3339_format(a[i].starts_at > 0 ? a[i].starts_at : now, ts);
		kl__jkv(&w, "startsAt", ts);
		kl_rfc3339_format(a[i].resolved ? kl__resolved_end(a[i].ends_at, now) : end, ts);
		kl__jkv(&w, "endsAt", ts);
		kl__jkv(&w, "generatorURL", "");
		kl__jmap_close(&w);
	}
	kl__jarr_close(&w);
	return kl__jw_finish(&w, out, len);
}

/* The body for a list; -ENOENT when it is empty. */
static int list_body(struct kl__notifier *nt, const struct am_list *l, char **out, size_t *len)
{
	struct kl__alert *v;
	struct kl_link *k;
	size_t cnt = 0, i = 0;
	int rc;

	for (k = l ? l->head.next : NULL; k && k != &l->head; k = k->next)
		cnt++;
	if (!cnt)
		return -ENOENT;
	v = calloc(cnt, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (k = l->head.next; k != &l->head; k = k->next)
		alert_view(container_of(k, struct am_alert, link), &v[i++]);
	rc = body_of(nt, v, cnt, out, len);
	free(v);
	return rc;
}

static void forget(struct am_list *set, uint64_t fp)
{
	struct kl_link *l, *next;
	struct am_alert *a;

	for (l = set->head.next; l != &set->head; l = next) {
		next = l->next;
		a = container_of(l, struct am_alert, link);
		if (a->fp == fp) {
			kl_list_del(&a->link);
			alert_free(a);
		}
	}
}

/* The message's copies of its alerts, and the plan's new firing ones (not in dry-run). */
static int keep_copies(struct kl__notifier *nt, struct kl__plan *p, struct kl__msg *m,
		       const struct kl__alert *a, size_t k)
{
	struct am_list *mine = list_new(), *firing;
	size_t i;

	if (!mine)
		return -ENOMEM;
	m->priv = mine;
	if (nt->n->o.dry_run)
		return 0;
	firing = list_new();
	if (!firing)
		return -ENOMEM;
	p->priv = firing;
	for (i = 0; i < k; i++) {
		if (list_add(mine, &a[i]) || (!a[i].resolved && list_add(firing, &a[i])))
			return -ENOMEM;
	}
	return 0;
}

/* One message for the whole flush. */
int kl__am_build(struct kl__notifier *nt, struct kl__plan *p)
{
	static const struct kl__alerts_render r = {{-1}, 1, body_of, keep_copies};

	return kl__alerts_build(nt, p, &r);
}

static void on_resend(uv_timer_t *t)
{
	struct kl__notifier *nt = container_of(t, struct kl__notifier, timer);
	struct am_list *set = nt->priv;

	if (kl_list_empty(&set->head)) {
		uv_timer_stop(&nt->timer);
		return;
	}
	kl__repost(nt);
}

/* The set: the firing alerts of p in, resolved ones out; re-posts run while it has any. */
void kl__am_commit(struct kl__notifier *nt, struct kl__plan *p)
{
	struct am_list *set = nt->priv, *firing = p->priv;
	struct kl__alert a = {0};
	struct am_alert *c;
	size_t i;

	for (i = 0; i < p->cnt; i++) {
		if (!p->v[i]->resolved)
			continue;
		kl__notice_labels(nt->n, p->v[i], &a);
		forget(set, kl__fingerprint(&a));
	}
	while (firing && !kl_list_empty(&firing->head)) {
		c = container_of(firing->head.next, struct am_alert, link);
		kl_list_del(&c->link);
		forget(set, c->fp);
		kl_list_add_tail(&set->head, &c->link);
	}
	if (kl_list_empty(&set->head))
		uv_timer_stop(&nt->timer);
	else if (!uv_is_active((uv_handle_t *)&nt->timer))
		uv_timer_start(&nt->timer, on_resend, nt->n->o.am_resend_ms, nt->n->o.am_resend_ms);
}

/*
 * A re-post is built from the set when it goes out; a retried message gets a fresh
 * body: firing alerts end 4 x am_resend after this attempt (else Alertmanager
 * would resolve them).
 */
int kl__am_refresh(struct kl__notifier *nt, struct kl__msg *m)
{
	char *body;
	size_t len;
	int rc;

	rc = list_body(nt, m->resend ? nt->priv : m->priv, &body, &len);
	if (rc)
		return rc;
	free(m->body);
	m->body = body;
	m->len = len;
	return 0;
}

void kl__am_msg_free(struct kl__msg *m)
{
	list_free(m->priv);
}

void kl__am_plan_free(struct kl__plan *p)
{
	list_free(p->priv);
}

/*
 * Into the set, re-posted at once (the next loop turn; several restores make one
 * re-post), then every am_resend_ms: Alertmanager may have resolved it while no
 * process posted it. Without memory it is simply not restored: the next repeat
 * posts it again.
 */
void kl__am_restore(struct kl__notifier *nt, const struct kl_notice *x)
{
	struct am_list *set = nt->priv;
	struct kl__alert a = {0};
	struct am_alert *c;

	kl__notice_labels(nt->n, x, &a);
	a.summary = x->summary;
	a.starts_at = x->starts_at > 0 ? x->starts_at : kl_clock_wall_s(nt->n->o.clock);
	c = alert_copy(&a);
	if (!c)
		return;
	forget(set, c->fp);
	kl_list_add_tail(&set->head, &c->link);
	uv_timer_start(&nt->timer, on_resend, 0, nt->n->o.am_resend_ms);
}

int kl__am_init(struct kl__notifier *nt)
{
	nt->priv = list_new();
	return nt->priv ? 0 : -ENOMEM;
}

void kl__am_free(struct kl__notifier *nt)
{
	list_free(nt->priv);
	nt->priv = NULL;
}
