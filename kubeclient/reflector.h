/*
 * kubeclient/reflector.h - keeps one resource's objects flowing from the API server:
 * LIST, then WATCH from the list's resourceVersion, forever.
 *
 * The contract is client-go's reflector (README: How it talks to Kubernetes): the first LIST
 * asks resourceVersion=0, which the API server answers whole from its watch cache (or,
 * with that cache off, in pages of 500 from etcd: then continue tokens follow); a relist
 * asks for a state not older than the last resourceVersion seen, also from the watch
 * cache. When the server refuses either (410 Expired/Gone, 504 "Too large resource
 * version", a timeout) the LIST is made again at once as a consistent paginated read
 * from etcd (no resourceVersion, limit 500, the list restarts when a continue token
 * expires), and the next relist does the same until one succeeds. WATCH with
 * allowWatchBookmarks and a random timeoutSeconds in [300, 600); a watch that ends
 * cleanly resumes from the last resourceVersion seen (bookmarks count); an ERROR
 * event or HTTP 410 relists; network errors, 429 and 5xx back off exponentially
 * with jitter (honouring Retry-After) and then resume the watch.
 *
 * The reflector does not keep objects: it tells its owner (the store) what to do.
 * A relist is list_begin, list_item for each object, list_done - after which the
 * owner replaces its contents with exactly the listed set (deleting what is gone).
 * Everything runs on the loop thread; the json objects are borrowed for the call.
 */
#ifndef KL_KUBECLIENT_REFLECTOR_H
#define KL_KUBECLIENT_REFLECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "kubeclient/client.h"
#include "util/log.h"
#include "util/metrics.h"

struct kl_reflector;

struct kl_reflector_ops {
	void (*list_begin)(void *arg);
	int (*list_item)(void *arg, const struct kl_kobj *obj);
	void (*list_done)(void *arg, const char *resource_version);
	/* type is ADDED, MODIFIED or DELETED (bookmarks and errors stay inside) */
	int (*event)(void *arg, const char *type, const struct kl_kobj *obj);
};

struct kl_reflector_opts {
	const char *resource; /* "pods": logs and metric labels; borrowed */
	const char *path;     /* "/api/v1/pods"; copied */
	const char *query;    /* "labelSelector=..." or NULL; copied */
	unsigned page_size;   /* 0: 500 */
	bool protobuf;	      /* the ops take protobuf objects (kl_kube_list_opts.protobuf) */
	unsigned min_watch_s, max_watch_s; /* 0: 300 and 600 */
	uint64_t backoff_initial_ms, backoff_max_ms; /* 0: 800 ms and 30 s */
};

/*
 * Returns a new reflector (not started) or NULL on ENOMEM. kube, log, metrics
 * (may be NULL) and ops are borrowed for the reflector's life. Registers
 * kloompas_informer_relists_total{resource},
 * kloompas_informer_watch_restarts_total{resource},
 * kloompas_informer_list_fallbacks_total{resource,reason} and
 * kloompas_informer_content_type{resource,content_type} (1 for the type of the last
 * LIST or WATCH answer, 0 for the other).
 */
struct kl_reflector *kl_reflector_new(uv_loop_t *loop, struct kl_kube *kube,
				      const struct kl_reflector_opts *o,
				      const struct kl_reflector_ops *ops, void *arg,
				      const struct kl_log *log, struct kl_metrics *metrics);
/* Starts with a LIST. 0 or a negative errno. */
int kl_reflector_start(struct kl_reflector *r);
/* Stops (cancels the call in flight), frees once its handles are closed, then cb(arg). */
void kl_reflector_stop(struct kl_reflector *r, void (*cb)(void *arg), void *arg);

/* Counters for tests and logs. */
struct kl_reflector_stats {
	unsigned lists, relists, watches, watch_restarts, errors;
	unsigned fallbacks;	  /* LISTs from the watch cache refused, made from etcd */
	char list_rv[32];	  /* resourceVersion the last LIST asked ("" consistent) */
	const char *list_from;	  /* "watch-cache", "etcd", "" before the first LIST */
	const char *content_type; /* of the last LIST or WATCH answer, "" before one */
	char last_rv[32];
	char last_error[128]; /* why the last LIST failed; "" once one succeeded */
};
void kl_reflector_stats(const struct kl_reflector *r, struct kl_reflector_stats *out);

#endif
