/*
 * notify/plan.c - one flush into messages (see internal.h).
 *
 * A flush routes every notice by namespace (first route whose glob matches; none:
 * the log notifier), then each notifier's type builds the messages for the
 * notices it got. Everything is built first and committed only when all of it
 * was built, so a failed flush (ENOMEM) starts nothing and reports nothing.
 * Committing hands the messages to the type's deliver hook (the log), to the
 * dry-run log, or to the notifier's queue.
 */
#include "notify/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/glob.h"

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

size_t kl__targets(const struct kl_notify *n, const char *ns, const size_t **idx)
{
	long r = route_of(n, ns);

	if (r < 0 || !n->routes[r].n) {
		*idx = &n->log_idx;
		return 1;
	}
	*idx = n->routes[r].idx;
	return n->routes[r].n;
}

bool kl__wanted(const struct kl_notice *x, const char *name)
{
	size_t i;

	if (!x->only)
		return true;
	for (i = 0; i < x->nonly; i++)
		if (strcmp(x->only[i], name) == 0)
			return true;
	return false;
}

/* Room for one more message in p. */
static int plan_grow(struct kl__plan *p)
{
	size_t cap = p->cap ? p->cap * 2 : 2;
	struct kl__msg **v;

	if (p->nmsgs < p->cap)
		return 0;
	v = realloc(p->msgs, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	p->msgs = v;
	p->cap = cap;
	return 0;
}

/* A message for the notices of status only (-1 any), or for p->v[one] alone (one >= 0). */
static struct kl__msg *plan_add(struct kl__plan *p, int only, long one, char *body, size_t len,
				char *text)
{
	struct kl__msg *m = calloc(1, sizeof(*m));
	size_t i;

	if (!m || plan_grow(p))
		goto out_free;
	m->ids = calloc(p->cnt ? p->cnt : 1, sizeof(*m->ids));
	if (!m->ids)
		goto out_free;
	kl_list_init(&m->link);
	m->nt = p->nt;
	m->body = body;
	m->len = len;
	m->text = text;
	m->only = only;
	for (i = 0; i < p->cnt; i++) {
		if (one >= 0 ? i != (size_t)one : only >= 0 && p->v[i]->resolved != (only == 1))
			continue;
		m->ids[m->nids].c = p->who[i];
		m->ids[m->nids++].id = p->v[i]->id;
	}
	p->msgs[p->nmsgs++] = m;
	return m;

out_free:
	if (m)
		free(m->ids);
	free(m);
	free(body);
	free(text);
	return NULL;
}

struct kl__msg *kl__plan_msg(struct kl__plan *p, int only, char *body, size_t len, char *text)
{
	return plan_add(p, only, -1, body, len, text);
}

struct kl__msg *kl__plan_msg_one(struct kl__plan *p, size_t i, char *body, size_t len, char *text)
{
	return plan_add(p, p->v[i]->resolved ? 1 : 0, (long)i, body, len, text);
}

static void plan_free(struct kl__plan *p)
{
	size_t i;

	for (i = 0; i < p->nmsgs; i++)
		if (p->msgs[i])
			kl__msg_free(p->msgs[i]);
	if (p->nt->type->plan_free)
		p->nt->type->plan_free(p);
	free(p->msgs);
	free(p->v);
	free(p->who);
}

/* Comma-separated distinct namespaces of the notices of status only (dry-run log). */
static void namespaces_of(const struct kl__plan *p, int only, struct kl_buf *b)
{
	const struct kl_notice *const *v = p->v;
	size_t i, k;

	for (i = 0; i < p->cnt; i++) {
		if (only >= 0 && v[i]->resolved != (only == 1))
			continue;
		for (k = 0; k < i && strcmp(v[k]->ns, v[i]->ns); k++)
			;
		if (k < i)
			continue;
		if (b->len)
			kl_buf_puts(b, ",");
		kl_buf_puts(b, v[i]->ns);
	}
}

static const char *status_of(const struct kl__plan *p, int only)
{
	bool firing = false, resolved = false;
	size_t i;

	if (only >= 0)
		return only ? "resolved" : "firing";
	for (i = 0; i < p->cnt; i++) {
		if (p->v[i]->resolved)
			resolved = true;
		else
			firing = true;
	}
	return firing && resolved ? "firing,resolved" : resolved ? "resolved" : "firing";
}

static void commit_dry_run(struct kl__notifier *nt, struct kl__plan *p)
{
	struct kl_buf ns = {0};
	struct kl__msg *m;
	size_t i;

	for (i = 0; i < p->nmsgs; i++) {
		m = p->msgs[i];
		ns.len = 0;
		namespaces_of(p, m->only, &ns);
		kl_log_info(nt->n->log, KL__COMPONENT, "would notify", "notifier", nt->name, "type",
			    nt->type->name, "status", status_of(p, m->only), "namespaces",
			    ns.p ? ns.p : "", "text", m->text ? m->text : m->body);
		kl__count(nt, "success");
		kl__report(nt->n, m, true);
		p->msgs[i] = NULL;
	}
	kl_buf_free(&ns);
}

static void commit(struct kl__notifier *nt, struct kl__plan *p)
{
	size_t i;

	if (nt->type->deliver) {
		nt->type->deliver(nt, p);
		return;
	}
	if (nt->n->o.dry_run) {
		commit_dry_run(nt, p);
		return;
	}
	if (nt->type->commit)
		nt->type->commit(nt, p);
	for (i = 0; i < p->nmsgs; i++) {
		kl__enqueue(nt, p->msgs[i]);
		p->msgs[i] = NULL;
	}
}

/* Adds v[i] of who[i] to the plans of the notifiers it goes to. */
static int route(struct kl_notify *n, struct kl__plan *plans, const struct kl_notice *x,
		 struct kl_notify_client *who, size_t count)
{
	const size_t *idx;
	struct kl__plan *p;
	size_t j, k;

	k = kl__targets(n, x->ns, &idx);
	for (j = 0; j < k; j++) {
		p = &plans[idx[j]];
		if (!kl__wanted(x, n->nv[idx[j]].name))
			continue;
		if (!p->v) {
			p->v = calloc(count, sizeof(*p->v));
			p->who = calloc(count, sizeof(*p->who));
			if (!p->v || !p->who)
				return -ENOMEM;
		}
		p->who[p->cnt] = who;
		p->v[p->cnt++] = x;
	}
	return 0;
}

int kl__flush(struct kl_notify *n, const struct kl_notice *const *v,
	      struct kl_notify_client *const *who, size_t count)
{
	struct kl__plan *plans = calloc(n->nn, sizeof(*plans));
	size_t i;
	int rc = 0;

	if (!plans)
		return -ENOMEM;
	for (i = 0; i < n->nn; i++)
		plans[i].nt = &n->nv[i];
	for (i = 0; i < count && !rc; i++)
		rc = route(n, plans, v[i], who[i], count);
	for (i = 0; i < n->nn && !rc; i++)
		if (plans[i].cnt)
			rc = n->nv[i].type->build(&n->nv[i], &plans[i]);
	for (i = 0; i < n->nn; i++) {
		if (!rc && plans[i].cnt)
			commit(&n->nv[i], &plans[i]);
		plan_free(&plans[i]);
	}
	free(plans);
	return rc;
}
