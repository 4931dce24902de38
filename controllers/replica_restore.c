/*
 * controllers/replica_restore.c - the replica enforcer's view of the Deployments:
 * temporary scales restored on time, and the kloompas.io/min-replicas and
 * /max-replicas bounds kept.
 *
 * Restores are driven by the deployments informer's view of the restore annotations
 * (written by a temporary scale, see replica_scale.c) - a timer per Deployment with
 * a pending restore - so a restart or a failover in between loses nothing. Bounds
 * are checked on every Deployment update. Only the leader acts (started); a
 * follower keeps its timers so it can take over at once.
 */
#include "controllers/replica_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rfc3339.h"

/* A Deployment with a pending restore: one timer until restore-at. */
struct kl__replica_restore {
	struct replica_enforcer *re;
	struct kl__replica_restore *next;
	char ns[KL_NAME_MAX + 1], name[KL_NAME_MAX + 1];
	int64_t at;
	bool busy; /* its restore operation is running */
	struct kl_timer timer; /* on ctx->clock */
};

static void restore_closed(struct kl_timer *t)
{
	struct kl__replica_restore *r = t->data;
	struct replica_enforcer *re = r->re;

	free(r);
	kl__replica_stop_step(re);
}

static void restore_remove(struct kl__replica_restore *r)
{
	struct kl__replica_restore **pp;

	for (pp = &r->re->restores; *pp != r; pp = &(*pp)->next)
		;
	*pp = r->next;
	kl_timer_close(&r->timer, restore_closed);
}

static void on_restore_due(struct kl_timer *t);

static void restore_done(void *arg, int err, const char *msg, int old, int new_replicas,
			 int64_t at)
{
	struct kl__replica_restore *r = arg;

	r->busy = false;
	if (r->re->stopping) {
		/* re_stop left this one to us: it was busy */
		kl_timer_close(&r->timer, restore_closed);
		return;
	}
	if (err)
		kl_log_warn(r->re->ctx->log, "replica-enforcer", "restore failed; will retry",
			    "namespace", r->ns, "deployment", r->name, "error", msg);
	/* on success the informer sees the annotations go and removes r; else retry */
	if (err && !r->re->stopping)
		kl_timer_start(&r->timer, on_restore_due, 10000, 0);
}

static void on_restore_due(struct kl_timer *t)
{
	struct kl__replica_restore *r = t->data;
	struct replica_enforcer *re = r->re;
	const struct kl_deployment *d = kl__replica_find(re, r->ns, r->name);
	int to, lo, hi;

	if (!d || r->busy || !re->started)
		return;
	to = kl__replica_ann_int(d->restore_replicas);
	if (to < 0) {
		kl_log_warn(re->ctx->log, "replica-enforcer", "bad restore-replicas annotation",
			    "namespace", r->ns, "deployment", r->name);
		return;
	}
	lo = kl__replica_ann_int(d->min_replicas);
	hi = kl__replica_ann_int(d->max_replicas);
	if (lo >= 0 && to < lo)
		to = lo;
	if (hi >= 0 && to > hi)
		to = hi;
	r->busy = true;
	if (kl__replica_scale(re, d, to, 0, 0, "kloompas", "restore", restore_done, r) < 0)
		r->busy = false;
}

static struct kl__replica_restore *restore_find(struct replica_enforcer *re,
						const struct kl_meta *m)
{
	struct kl__replica_restore *r;

	for (r = re->restores; r; r = r->next)
		if (strcmp(r->ns, m->ns) == 0 && strcmp(r->name, kl_meta_name(m)) == 0)
			return r;
	return NULL;
}

/* The informer's view of one Deployment: pending restore timers, bounds. */
static void check_deployment(struct replica_enforcer *re, const struct kl_deployment *d)
{
	struct kl__replica_restore *r = restore_find(re, &d->meta);
	int64_t at = 0;
	int lo, hi, target;

	/* a bad restore-at is no restore, as a missing one */
	if (d->restore_at && kl_rfc3339_parse(d->restore_at, &at) < 0)
		at = 0;
	if (!at && r && !r->busy) {
		restore_remove(r);
		r = NULL;
	}
	if (at && !r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return;
		r->re = re;
		snprintf(r->ns, sizeof(r->ns), "%s", d->meta.ns);
		snprintf(r->name, sizeof(r->name), "%s", kl_meta_name(&d->meta));
		if (kl_timer_init(re->ctx->clock, &r->timer) < 0) {
			free(r);
			return;
		}
		r->timer.data = r;
		r->next = re->restores;
		re->restores = r;
	}
	if (at && r && !r->busy) {
		int64_t now = kl_clock_wall_s(re->ctx->clock);

		r->at = at;
		kl_timer_start(&r->timer, on_restore_due,
			       at > now ? (uint64_t)(at - now) * 1000 : 0, 0);
	}
	if (!re->started || d->spec_replicas < 0)
		return;
	lo = kl__replica_ann_int(d->min_replicas);
	hi = kl__replica_ann_int(d->max_replicas);
	target = d->spec_replicas;
	if (lo >= 0 && target < lo)
		target = lo;
	if (hi >= 0 && target > hi)
		target = hi;
	/* unless a change is on its way already */
	if (target != d->spec_replicas &&
	    !kl__replica_scaling(re, d->meta.ns, kl_meta_name(&d->meta)))
		kl__replica_scale(re, d, target, 0, 0, "kloompas", "bounds", NULL, NULL);
}

static void dep_add(void *arg, const void *obj)
{
	check_deployment(arg, obj);
}

static void dep_update(void *arg, const void *old, const void *obj)
{
	check_deployment(arg, obj);
}

static void dep_del(void *arg, const void *obj, bool unknown)
{
	struct replica_enforcer *re = arg;
	struct kl__replica_restore *r = restore_find(re, obj);

	if (r && !r->busy)
		restore_remove(r);
}

static void check_one(void *arg, const void *obj)
{
	check_deployment(arg, obj);
}

void kl__replica_check_all(struct replica_enforcer *re)
{
	kl_store_foreach(kl_informer_store(re->deployments), check_one, re);
}

struct kl_informer_handler kl__replica_informer_handler(struct replica_enforcer *re)
{
	struct kl_informer_handler h = { dep_add, dep_update, dep_del, NULL, re };

	return h;
}

void kl__replica_restore_stop(struct replica_enforcer *re)
{
	struct kl__replica_restore *r, *next;

	for (r = re->restores; r; r = next) {
		next = r->next;
		re->stop_pending++;
		kl_timer_stop(&r->timer);
		if (!r->busy) /* a busy one is closed by restore_done */
			kl_timer_close(&r->timer, restore_closed);
	}
	re->restores = NULL;
}
