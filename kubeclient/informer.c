/*
 * kubeclient/informer.c - the informer factory and each informer's glue between
 * reflector, store and handlers (see informer.h).
 *
 * The reflector reports; the store applies and says what changed; handlers run
 * after the store holds the new state; old objects are disposed of after the
 * handlers returned. During a relist the deletes of vanished objects are emitted
 * at list_done, once the whole new list has been applied.
 */
#include "kubeclient/informer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/url.h"

#define MAX_HANDLERS 16

struct kl_informer {
	struct kl_informers *f;
	struct kl_informer *next;
	enum kl_resource res;
	char *ns, *label, *field;
	char path[256];
	char *query;
	struct kl_store *store;
	struct kl_reflector *refl;
	struct kl_informer_handler handlers[MAX_HANDLERS];
	size_t nhandlers;
	bool started, synced, listing;
};

struct kl_informers {
	uv_loop_t *loop;
	struct kl_kube *kube;
	struct kl_informers_opts opts;
	const struct kl_log *log;
	struct kl_metrics *metrics;
	struct kl_intern *intern;
	struct kl_informer *list;
	bool started;
	struct kl_metric *m_objects, *m_synced, *m_events;
	int stop_pending;
	void (*stop_cb)(void *arg);
	void *stop_arg;
};

/* ---------------------------------------------------------------- metrics */

static void gauge_objects(struct kl_informer *i)
{
	const char *v[] = { kl_resource_name(i->res) };

	if (i->f->m_objects)
		kl_metric_set(i->f->m_objects, v, (double)kl_store_len(i->store));
}

static void count_event(struct kl_informer *i, const char *type)
{
	const char *v[] = { kl_resource_name(i->res), type };

	if (i->f->m_events)
		kl_metric_inc(i->f->m_events, v);
}

/* ---------------------------------------------------------------- dispatch */

static void log_change(struct kl_informer *i, const char *what, const struct kl_meta *m)
{
	char key[512];

	if (!i->f->log || i->f->log->verbosity < 2)
		return; /* every event of a 50,000-pod cluster comes here: format nothing */
	snprintf(key, sizeof(key), "%s%s%s", m->ns, m->ns[0] ? "/" : "", kl_meta_name(m));
	kl_log_v(i->f->log, 2, "informer", what, "resource", kl_resource_name(i->res), "object",
		 key);
}

static void dispatch(struct kl_informer *i, struct kl_store_delta *d, bool unknown)
{
	size_t k;

	if (d->change != KL_STORE_NONE)
		log_change(i, d->change == KL_STORE_ADD	     ? "add"
			      : d->change == KL_STORE_UPDATE ? "update"
			      : unknown			     ? "delete (final state unknown)"
							     : "delete",
			   d->change == KL_STORE_DELETE ? d->old : d->obj);

	switch (d->change) {
	case KL_STORE_NONE:
		return;
	case KL_STORE_ADD:
		count_event(i, "add");
		for (k = 0; k < i->nhandlers; k++)
			if (i->handlers[k].add)
				i->handlers[k].add(i->handlers[k].arg, d->obj);
		break;
	case KL_STORE_UPDATE:
		count_event(i, "update");
		for (k = 0; k < i->nhandlers; k++)
			if (i->handlers[k].update)
				i->handlers[k].update(i->handlers[k].arg, d->old, d->obj);
		break;
	case KL_STORE_DELETE:
		count_event(i, "delete");
		for (k = 0; k < i->nhandlers; k++)
			if (i->handlers[k].del)
				i->handlers[k].del(i->handlers[k].arg, d->old, unknown);
		break;
	}
	kl_store_dispose(i->store, d->old);
	gauge_objects(i);
}

static void list_begin(void *arg)
{
	struct kl_informer *i = arg;

	i->listing = true;
	kl_store_sync_begin(i->store);
}

/* Applies one object as the server sent it: JSON or protobuf bytes. */
static int upsert(struct kl_informer *i, const struct kl_kobj *obj, struct kl_store_delta *d)
{
	if (obj->pb)
		return kl_store_upsert_pb(i->store, obj->pb, obj->len, d);
	return kl_store_upsert(i->store, obj->json, d);
}

static int list_item(void *arg, const struct kl_kobj *obj)
{
	struct kl_informer *i = arg;
	struct kl_store_delta d;
	int rc = upsert(i, obj, &d);

	if (rc == -EINVAL) {
		kl_log_warn(i->f->log, "informer", "object skipped: not decodable", "resource",
			    kl_resource_name(i->res));
		return 0;
	}
	if (rc < 0)
		return rc;
	dispatch(i, &d, false);
	return 0;
}

static void list_done(void *arg, const char *rv)
{
	struct kl_informer *i = arg;
	struct kl_store_delta d;
	const char *v[] = { kl_resource_name(i->res) };
	size_t k, nh;
	char n[24];

	while (kl_store_take_unseen(i->store, &d))
		dispatch(i, &d, true);
	i->listing = false;
	gauge_objects(i);
	if (i->synced)
		return;
	i->synced = true;
	if (i->f->m_synced)
		kl_metric_set(i->f->m_synced, v, 1);
	snprintf(n, sizeof(n), "%zu", kl_store_len(i->store));
	kl_log_info(i->f->log, "informer", "synced", "resource", kl_resource_name(i->res),
		    "objects", n, "rv", rv);
	/* a handler added by one of these callbacks got its synced call on adding */
	nh = i->nhandlers;
	for (k = 0; k < nh && k < i->nhandlers; k++)
		if (i->handlers[k].synced)
			i->handlers[k].synced(i->handlers[k].arg);
}

static int on_event(void *arg, const char *type, const struct kl_kobj *obj)
{
	struct kl_informer *i = arg;
	struct kl_store_delta d;
	int rc;

	if (strcmp(type, "DELETED") != 0)
		rc = upsert(i, obj, &d);
	else if (obj->pb)
		rc = kl_store_remove_pb(i->store, obj->pb, obj->len, &d);
	else
		rc = kl_store_remove(i->store, obj->json, &d);
	if (rc == -EINVAL)
		return 0;
	if (rc < 0)
		return rc;
	dispatch(i, &d, false);
	return 0;
}

static const struct kl_reflector_ops reflector_ops = {
	.list_begin = list_begin,
	.list_item = list_item,
	.list_done = list_done,
	.event = on_event,
};

/* ---------------------------------------------------------------- informers */

static const struct kl_store_type *store_type(enum kl_resource res)
{
	switch (res) {
	case KL_RES_PODS:
		return &kl_store_pods;
	case KL_RES_NAMESPACES:
		return &kl_store_namespaces;
	case KL_RES_DEPLOYMENTS:
		return &kl_store_deployments;
	}
	return NULL;
}

static const char *api_prefix(enum kl_resource res)
{
	return res == KL_RES_DEPLOYMENTS ? "/apis/apps/v1" : "/api/v1";
}

static bool same(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

static int build_query(struct kl_informer *i)
{
	char q[2048] = "", esc[900];

	if (i->label) {
		kl_url_escape(esc, sizeof(esc), i->label);
		snprintf(q, sizeof(q), "labelSelector=%s", esc);
	}
	if (i->field) {
		kl_url_escape(esc, sizeof(esc), i->field);
		snprintf(q + strlen(q), sizeof(q) - strlen(q), "%sfieldSelector=%s",
			 q[0] ? "&" : "", esc);
	}
	if (q[0]) {
		i->query = strdup(q);
		if (!i->query)
			return -ENOMEM;
	}
	if (i->ns)
		snprintf(i->path, sizeof(i->path), "%s/namespaces/%s/%s", api_prefix(i->res),
			 i->ns, kl_resource_name(i->res));
	else
		snprintf(i->path, sizeof(i->path), "%s/%s", api_prefix(i->res),
			 kl_resource_name(i->res));
	return 0;
}

static void informer_free(struct kl_informer *i)
{
	kl_store_free(i->store);
	free(i->ns);
	free(i->label);
	free(i->field);
	free(i->query);
	free(i);
}

static int informer_start(struct kl_informer *i)
{
	struct kl_informers *f = i->f;
	struct kl_reflector_opts ro = {
		.resource = kl_resource_name(i->res),
		.path = i->path,
		.query = i->query,
		.protobuf = true, /* pods, namespaces, deployments: built-in, pb.h projects them */
		.min_watch_s = f->opts.min_watch_s,
		.max_watch_s = f->opts.max_watch_s,
		.backoff_initial_ms = f->opts.backoff_initial_ms,
		.backoff_max_ms = f->opts.backoff_max_ms,
	};

	if (i->started)
		return 0;
	i->refl = kl_reflector_new(f->loop, f->kube, &ro, &reflector_ops, i, f->log, f->metrics);
	if (!i->refl)
		return -ENOMEM;
	i->started = true;
	return kl_reflector_start(i->refl);
}

struct kl_informer *kl_informers_get(struct kl_informers *f, enum kl_resource res,
				     const struct kl_informer_scope *scope)
{
	const struct kl_store_type *type = store_type(res);
	struct kl_informer *i;
	const char *v[] = { kl_resource_name(res) };

	if (!type)
		return NULL;
	for (i = f->list; i; i = i->next)
		if (i->res == res && same(i->ns, scope ? scope->ns : NULL) &&
		    same(i->label, scope ? scope->label_selector : NULL) &&
		    same(i->field, scope ? scope->field_selector : NULL))
			return i;
	i = calloc(1, sizeof(*i));
	if (!i)
		return NULL;
	i->f = f;
	i->res = res;
	if (scope) {
		i->ns = dup_or_null(scope->ns);
		i->label = dup_or_null(scope->label_selector);
		i->field = dup_or_null(scope->field_selector);
	}
	i->store = kl_store_new(type, f->intern, &f->opts.objects);
	if (!i->store || build_query(i) < 0) {
		informer_free(i);
		return NULL;
	}
	i->next = f->list;
	f->list = i;
	if (f->m_synced)
		kl_metric_set(f->m_synced, v, 0);
	gauge_objects(i);
	if (f->started && informer_start(i) < 0)
		return NULL; /* stays in the list, freed at stop */
	return i;
}

int kl_informer_add_handler(struct kl_informer *i, const struct kl_informer_handler *h)
{
	if (i->nhandlers == MAX_HANDLERS)
		return -ENOMEM;
	i->handlers[i->nhandlers++] = *h;
	if (!i->synced)
		return 0;
	/* a late handler sees what everybody saw: an add for each cached object */
	if (h->add)
		kl_store_foreach(i->store, h->add, h->arg);
	if (h->synced)
		h->synced(h->arg);
	return 0;
}

void kl_informer_remove_handler(struct kl_informer *i, void *arg)
{
	size_t k, n = 0;

	for (k = 0; k < i->nhandlers; k++)
		if (i->handlers[k].arg != arg)
			i->handlers[n++] = i->handlers[k];
	i->nhandlers = n;
}

bool kl_informer_synced(const struct kl_informer *i)
{
	return i->synced;
}

const struct kl_store *kl_informer_store(const struct kl_informer *i)
{
	return i->store;
}

void kl_informer_stats(const struct kl_informer *i, struct kl_reflector_stats *out)
{
	if (i->refl)
		kl_reflector_stats(i->refl, out);
	else
		memset(out, 0, sizeof(*out));
}

/* ---------------------------------------------------------------- factory */

struct kl_informers *kl_informers_new(uv_loop_t *loop, struct kl_kube *kube,
				      const struct kl_informers_opts *o, const struct kl_log *log,
				      struct kl_metrics *metrics)
{
	static const char *const res_labels[] = { "resource", NULL };
	static const char *const ev_labels[] = { "resource", "type", NULL };
	struct kl_informers *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->intern = kl_intern_new();
	if (!f->intern) {
		free(f);
		return NULL;
	}
	f->loop = loop;
	f->kube = kube;
	if (o)
		f->opts = *o;
	f->log = log;
	f->metrics = metrics;
	if (metrics) {
		f->m_objects = kl_metrics_gauge(metrics, "kloompas_informer_objects",
						"Objects in the informer's cache.", res_labels);
		f->m_synced = kl_metrics_gauge(metrics, "kloompas_informer_synced",
					       "1 once the informer's first LIST is applied.",
					       res_labels);
		f->m_events = kl_metrics_counter(metrics, "kloompas_informer_events_total",
						 "Changes applied to the cache, by type "
						 "(add, update, delete).",
						 ev_labels);
	}
	return f;
}

int kl_informers_start(struct kl_informers *f)
{
	struct kl_informer *i;
	int rc;

	f->started = true;
	for (i = f->list; i; i = i->next) {
		rc = informer_start(i);
		if (rc < 0)
			return rc;
	}
	return 0;
}

bool kl_informers_synced(const struct kl_informers *f)
{
	const struct kl_informer *i;

	for (i = f->list; i; i = i->next)
		if (i->started && !i->synced)
			return false;
	return f->started;
}

static bool health_synced(void *arg, char *why, size_t len)
{
	struct kl_informers *f = arg;
	const struct kl_informer *i;
	size_t off = 0;

	if (!f->started) {
		snprintf(why, len, "informers not started");
		return false;
	}
	if (kl_informers_synced(f))
		return true;
	off = (size_t)snprintf(why, len, "not synced:");
	for (i = f->list; i && off < len; i = i->next) {
		struct kl_reflector_stats st;

		if (!i->started || i->synced)
			continue;
		kl_reflector_stats(i->refl, &st);
		/* the reason people look at /readyz for: "Could not resolve host: ..." */
		off += (size_t)snprintf(why + off, len - off, st.last_error[0] ? " %s (%s)" : " %s",
					kl_resource_name(i->res), st.last_error);
	}
	return false;
}

int kl_informers_add_health(struct kl_informers *f, struct kl_health *h)
{
	return kl_health_add(h, "informers-synced", health_synced, f);
}

struct kl_intern *kl_informers_intern(struct kl_informers *f)
{
	return f->intern;
}

static void stopped_one(void *arg)
{
	struct kl_informers *f = arg;
	struct kl_informer *i, *next;
	void (*cb)(void *) = f->stop_cb;
	void *cb_arg = f->stop_arg;

	if (--f->stop_pending > 0)
		return;
	for (i = f->list; i; i = next) {
		next = i->next;
		informer_free(i);
	}
	kl_intern_free(f->intern);
	free(f);
	if (cb)
		cb(cb_arg);
}

void kl_informers_stop(struct kl_informers *f, void (*cb)(void *arg), void *arg)
{
	struct kl_informer *i;

	f->stop_cb = cb;
	f->stop_arg = arg;
	f->stop_pending = 1;
	for (i = f->list; i; i = i->next) {
		if (!i->refl)
			continue;
		f->stop_pending++;
		kl_reflector_stop(i->refl, stopped_one, f);
		i->refl = NULL;
	}
	stopped_one(f);
}
