/*
 * kubeclient/reflector.c - the LIST/WATCH loop of one resource (see reflector.h).
 *
 * States: LISTING (a paginated LIST in flight), WATCHING (a watch in flight),
 * WAITING (a backoff timer before the next step). One call is in flight at most.
 * What the next step is after a wait is kept in next_is_list: a relist after an
 * expired resourceVersion, else a watch resumed from last_rv.
 *
 * Which LIST to ask is client-go's relistResourceVersion(): "0" before anything was
 * synced, last_rv after, "" (a consistent read from etcd) once the server refused a
 * resourceVersion (rv_unavailable, until a LIST succeeds). A LIST with a
 * resourceVersion other than "0" goes unpaged, so the watch cache may answer it,
 * unless "0" once came back in pages (paginated: the watch cache is off).
 */
#include "kubeclient/reflector.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/backoff.h"

enum state { R_IDLE, R_LISTING, R_WATCHING, R_WAITING, R_STOPPED };

struct kl_reflector {
	uv_loop_t *loop;
	struct kl_kube *kube;
	const struct kl_log *log;
	const struct kl_reflector_ops *ops;
	void *arg;
	const char *resource;
	char *path, *query;
	unsigned page_size, min_watch_s, max_watch_s;
	bool protobuf;
	struct kl_backoff backoff;

	enum state state;
	struct kl_kube_req *call;
	uv_timer_t timer;
	bool next_is_list;
	bool rv_unavailable; /* the server refused the last LIST's resourceVersion */
	bool paginated;	     /* resourceVersion=0 came in pages: no watch cache */
	char last_rv[32];
	unsigned events_this_watch;
	unsigned seen_this_watch; /* events and bookmarks */
	uint64_t watch_started;
	uint64_t seed;

	struct kl_metric *m_relists, *m_restarts, *m_fallbacks, *m_ctype;
	struct kl_reflector_stats stats;

	int stop_pending; /* the timer's close and the cancelled call's callback */
	void (*stop_cb)(void *arg);
	void *stop_arg;
};

static void stop_step(struct kl_reflector *r);

static void do_list(struct kl_reflector *r);
static void do_watch(struct kl_reflector *r);

/* xorshift: jitter only, no need for a good generator */
static uint64_t rnd(struct kl_reflector *r)
{
	r->seed ^= r->seed << 13;
	r->seed ^= r->seed >> 7;
	r->seed ^= r->seed << 17;
	return r->seed;
}

static void count(struct kl_metric *m, const char *resource)
{
	const char *v[] = { resource };

	if (m)
		kl_metric_inc(m, v);
}

static void on_timer(uv_timer_t *t)
{
	struct kl_reflector *r = t->data;

	if (r->state != R_WAITING)
		return;
	if (r->next_is_list)
		do_list(r);
	else
		do_watch(r);
}

/* Waits (exponential, with up to 50% jitter, at least retry_after_s), then goes on. */
static void backoff(struct kl_reflector *r, bool relist, int retry_after_s)
{
	uint64_t wait;

	r->stats.errors++;
	r->next_is_list = relist;
	wait = kl_backoff_next_jitter(&r->backoff, rnd(r), retry_after_s);
	r->state = R_WAITING;
	uv_timer_start(&r->timer, on_timer, wait, 0);
}

/* Content-Type label values of kloompas_informer_content_type. */
static const char ct_json[] = "application/json";
static const char ct_pb[] = "application/vnd.kubernetes.protobuf";

/* The gauge says 1 for the type of the last answer, 0 for the other. */
static void set_content_type(struct kl_reflector *r, bool protobuf)
{
	const char *on[] = { r->resource, protobuf ? ct_pb : ct_json };
	const char *off[] = { r->resource, protobuf ? ct_json : ct_pb };

	r->stats.content_type = on[1];
	if (!r->m_ctype)
		return;
	kl_metric_set(r->m_ctype, on, 1);
	kl_metric_set(r->m_ctype, off, 0);
}

/* ---------------------------------------------------------------- LIST */

static int on_list_item(void *arg, const struct kl_kobj *item, bool restart)
{
	struct kl_reflector *r = arg;

	if (restart) {
		/* the continue token expired and the list started over */
		r->ops->list_begin(r->arg);
	}
	return r->ops->list_item(r->arg, item);
}

static void list_start(struct kl_reflector *r);

/* Why the server refused a LIST's resourceVersion, or NULL when it did not. */
static const char *refused_why(const struct kl_reflector *r, const struct kl_kube_status *st)
{
	if (!r->stats.list_rv[0])
		return NULL; /* a consistent LIST: nothing to fall back to */
	if (strcmp(st->cause, "ResourceVersionTooLarge") == 0 ||
	    strstr(st->message, "Too large resource version"))
		return "too-large-resource-version";
	if (st->err == -ESTALE)
		return "expired";
	if (st->err == -ETIMEDOUT)
		return "timeout";
	return NULL;
}

/* The server refused the resourceVersion: the same LIST at once, consistent, from etcd. */
static void fall_back(struct kl_reflector *r, const char *why, const struct kl_kube_status *st)
{
	const char *v[] = { r->resource, why };
	char rv[sizeof(r->stats.list_rv)];

	snprintf(rv, sizeof(rv), "%s", r->stats.list_rv);
	r->rv_unavailable = true;
	r->stats.fallbacks++;
	if (r->m_fallbacks)
		kl_metric_inc(r->m_fallbacks, v);
	kl_log_info(r->log, "reflector", "list from the watch cache refused; listing from etcd",
		    "resource", r->resource, "rv", rv, "reason", why, "error",
		    st->message[0] ? st->message : strerror(-st->err));
	/* what the refused answer delivered is replaced by the new pass */
	r->ops->list_begin(r->arg);
	list_start(r);
}

static void on_list_done(void *arg, const struct kl_kube_status *st,
			 const struct kl_kube_list_result *res)
{
	struct kl_reflector *r = arg;
	const char *why;
	bool cache;

	r->call = NULL;
	if (r->state == R_STOPPED) {
		stop_step(r);
		return;
	}
	if (st->err) {
		why = refused_why(r, st);
		if (why) {
			fall_back(r, why, st);
			return;
		}
		snprintf(r->stats.last_error, sizeof(r->stats.last_error), "%s",
			 st->message[0] ? st->message : strerror(-st->err));
		kl_log_warn(r->log, "reflector", "list failed", "resource", r->resource, "error",
			    r->stats.last_error);
		backoff(r, true, st->retry_after_s);
		return;
	}
	/* client-go: only the answer to "0" tells whether the watch cache is on */
	if (strcmp(r->stats.list_rv, "0") == 0)
		r->paginated = res->pages > 1;
	/* one answer to a resourceVersion the watch cache serves ("0", or any unpaged) */
	cache = r->stats.list_rv[0] && res->pages == 1 &&
		(strcmp(r->stats.list_rv, "0") == 0 || !r->paginated);
	r->stats.list_from = cache ? "watch-cache" : "etcd";
	r->rv_unavailable = false;
	set_content_type(r, res->protobuf);
	snprintf(r->last_rv, sizeof(r->last_rv), "%s", res->resource_version);
	r->stats.last_error[0] = '\0';
	r->ops->list_done(r->arg, res->resource_version);
	kl_backoff_reset(&r->backoff);
	kl_log_info(r->log, "reflector", "listed", "resource", r->resource, "rv",
		    res->resource_version, "from", r->stats.list_from, "content_type",
		    r->stats.content_type);
	do_watch(r);
}

/* Sends the LIST relistResourceVersion() says (see the top of the file). */
static void list_start(struct kl_reflector *r)
{
	struct kl_kube_list_opts o = {
		.query = r->query,
		.limit = r->page_size,
		.protobuf = r->protobuf,
	};
	const char *rv = r->rv_unavailable ? "" : r->last_rv[0] ? r->last_rv : "0";
	int rc;

	snprintf(r->stats.list_rv, sizeof(r->stats.list_rv), "%s", rv);
	o.resource_version = rv;
	o.unpaged = rv[0] && strcmp(rv, "0") != 0 && !r->paginated;
	rc = kl_kube_list(r->kube, r->path, &o, on_list_item, on_list_done, r, &r->call);
	if (rc < 0) {
		r->call = NULL;
		backoff(r, true, -1);
	}
}

static void do_list(struct kl_reflector *r)
{
	r->state = R_LISTING;
	r->stats.lists++;
	if (r->last_rv[0]) { /* a cache exists: a retry of the first LIST is no relist */
		r->stats.relists++;
		count(r->m_relists, r->resource);
	}
	r->ops->list_begin(r->arg);
	list_start(r);
}

/* ---------------------------------------------------------------- WATCH */

static int on_event(void *arg, const char *type, const struct kl_kobj *obj)
{
	struct kl_reflector *r = arg;
	char rv[sizeof(r->last_rv)];

	if (strcmp(type, "ERROR") == 0)
		return 0; /* the done callback gets its status */
	if (kl_kobj_rv(obj, rv, sizeof(rv)) == 0 && rv[0])
		memcpy(r->last_rv, rv, sizeof(rv));
	if (!r->seen_this_watch)
		set_content_type(r, obj->pb != NULL);
	r->seen_this_watch++;
	if (strcmp(type, "BOOKMARK") == 0)
		return 0;
	r->events_this_watch++;
	return r->ops->event(r->arg, type, obj);
}

static void on_watch_done(void *arg, const struct kl_kube_status *st)
{
	struct kl_reflector *r = arg;

	r->call = NULL;
	if (r->state == R_STOPPED) {
		stop_step(r);
		return;
	}
	r->stats.watch_restarts++;
	count(r->m_restarts, r->resource);
	if (st->err == 0 && !r->seen_this_watch && uv_now(r->loop) - r->watch_started < 1000) {
		/* as client-go's "very short watch": resuming at once would hammer a server
		 * (or proxy) that closes every watch right away */
		kl_log_warn(r->log, "reflector", "watch closed at once", "resource", r->resource);
		backoff(r, false, -1);
		return;
	}
	if (st->err == 0) {
		/* the server's timeout: resume where we were, no relist */
		kl_log_v(r->log, 1, "reflector", "watch closed", "resource", r->resource, "rv",
			 r->last_rv);
		kl_backoff_reset(&r->backoff);
		do_watch(r);
		return;
	}
	if (st->err == -ESTALE) {
		kl_log_info(r->log, "reflector", "resourceVersion expired; relisting", "resource",
			    r->resource, "rv", r->last_rv);
		do_list(r);
		return;
	}
	kl_log_warn(r->log, "reflector", "watch failed", "resource", r->resource, "error",
		    st->message[0] ? st->message : strerror(-st->err));
	if (r->events_this_watch)
		kl_backoff_reset(&r->backoff);
	backoff(r, false, st->retry_after_s);
}

static void do_watch(struct kl_reflector *r)
{
	unsigned span = r->max_watch_s - r->min_watch_s;
	unsigned timeout = r->min_watch_s + (span ? (unsigned)(rnd(r) % span) : 0);
	struct kl_kube_watch_opts o = {
		.query = r->query,
		.resource_version = r->last_rv,
		.timeout_s = timeout,
		.protobuf = r->protobuf,
	};
	int rc;

	r->state = R_WATCHING;
	r->stats.watches++;
	r->events_this_watch = 0;
	r->seen_this_watch = 0;
	r->watch_started = uv_now(r->loop);
	rc = kl_kube_watch(r->kube, r->path, &o, on_event, on_watch_done, r, &r->call);
	if (rc < 0) {
		r->call = NULL;
		backoff(r, false, -1);
	}
}

/* ---------------------------------------------------------------- life */

/* Every reflector shares one series family: the first one registers it. */
static struct kl_metric *metric(struct kl_metrics *metrics, const char *name, const char *help,
				const char *const *labels, bool gauge)
{
	struct kl_metric *m = kl_metrics_find(metrics, name);

	if (m)
		return m;
	return gauge ? kl_metrics_gauge(metrics, name, help, labels)
		     : kl_metrics_counter(metrics, name, help, labels);
}

struct kl_reflector *kl_reflector_new(uv_loop_t *loop, struct kl_kube *kube,
				      const struct kl_reflector_opts *o,
				      const struct kl_reflector_ops *ops, void *arg,
				      const struct kl_log *log, struct kl_metrics *metrics)
{
	static const char *const labels[] = { "resource", NULL };
	static const char *const fb_labels[] = { "resource", "reason", NULL };
	static const char *const ct_labels[] = { "resource", "content_type", NULL };
	struct kl_reflector *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->path = strdup(o->path);
	r->query = o->query ? strdup(o->query) : NULL;
	if (!r->path || (o->query && !r->query)) {
		free(r->path);
		free(r->query);
		free(r);
		return NULL;
	}
	r->loop = loop;
	r->kube = kube;
	r->log = log;
	r->ops = ops;
	r->arg = arg;
	r->resource = o->resource;
	r->page_size = o->page_size ? o->page_size : 500;
	r->protobuf = o->protobuf;
	r->stats.list_from = "";
	r->stats.content_type = "";
	r->min_watch_s = o->min_watch_s ? o->min_watch_s : 300;
	r->max_watch_s = o->max_watch_s ? o->max_watch_s : 600;
	if (r->max_watch_s < r->min_watch_s)
		r->max_watch_s = r->min_watch_s;
	kl_backoff_init(&r->backoff, o->backoff_initial_ms ? o->backoff_initial_ms : 800,
			o->backoff_max_ms ? o->backoff_max_ms : 30000);
	r->seed = (uint64_t)(uintptr_t)r ^ uv_hrtime() ^ 0x9e3779b97f4a7c15ULL;
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	if (metrics) {
		r->m_relists = metric(
			metrics, "kloompas_informer_relists_total",
			"LISTs after the first, by resource (expired resourceVersions).", labels,
			false);
		r->m_restarts = metric(metrics, "kloompas_informer_watch_restarts_total",
				       "Watches that ended and were started again, by resource.",
				       labels, false);
		r->m_fallbacks = metric(
			metrics, "kloompas_informer_list_fallbacks_total",
			"LISTs from the watch cache the API server refused, made again from etcd.",
			fb_labels, false);
		r->m_ctype = metric(
			metrics, "kloompas_informer_content_type",
			"1 for the Content-Type of the informer's last LIST or WATCH answer.",
			ct_labels, true);
	}
	return r;
}

int kl_reflector_start(struct kl_reflector *r)
{
	if (r->state != R_IDLE)
		return -EALREADY;
	do_list(r);
	return 0;
}

static void stop_step(struct kl_reflector *r)
{
	void (*cb)(void *) = r->stop_cb;
	void *arg = r->stop_arg;

	if (--r->stop_pending > 0)
		return;
	free(r->path);
	free(r->query);
	free(r);
	if (cb)
		cb(arg);
}

static void timer_closed(uv_handle_t *h)
{
	stop_step(h->data);
}

void kl_reflector_stop(struct kl_reflector *r, void (*cb)(void *arg), void *arg)
{
	r->state = R_STOPPED;
	r->stop_cb = cb;
	r->stop_arg = arg;
	r->stop_pending = 1;
	if (r->call) {
		/* its callback runs later with -ECANCELED, sees R_STOPPED and counts down */
		r->stop_pending++;
		kl_kube_cancel(r->call);
	}
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, timer_closed);
}

void kl_reflector_stats(const struct kl_reflector *r, struct kl_reflector_stats *out)
{
	*out = r->stats;
	snprintf(out->last_rv, sizeof(out->last_rv), "%s", r->last_rv);
}
