/*
 * kubeclient/client.h - the Kubernetes API as Kloompas uses it: GET, LIST (paged),
 * WATCH (decoded as it streams), CREATE, UPDATE, PATCH, the scale subresource and
 * pods/log, with auth, client-side rate limiting and request metrics.
 *
 * Paths are API paths ("/api/v1/namespaces/default/pods"); the client adds the
 * server, auth and the user agent "kloompas/VERSION". Every call takes a callback
 * that runs exactly once, on the loop, unless the call itself fails (then never).
 * Errors from the server arrive as a struct kl_kube_status decoded from the
 * Kubernetes Status object, with an errno the caller can switch on.
 *
 * Rate limiting follows client-go: a token bucket of --kube-api-qps and
 * --kube-api-burst for every request but WATCH.
 */
#ifndef KL_KUBECLIENT_CLIENT_H
#define KL_KUBECLIENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "kubeclient/json.h"
#include "kubeclient/kubeconfig.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"

struct kl_kube;
struct kl_kube_req;
struct kl_http_stats;

/* The encoding of a LIST or WATCH body. */
enum kl_wire { KL_WIRE_JSON = 0, KL_WIRE_PROTOBUF };

/*
 * The outcome of a call. err is 0 on success, else a negative errno:
 *   -ENOENT 404, -EEXIST 409 AlreadyExists, -EBUSY 409 Conflict, -ESTALE 410 Gone
 *   (expired resourceVersion or continue token), -EACCES 401, -EPERM 403,
 *   -EINVAL 400/422, -EAGAIN 429 and 5xx (retry: see retry_after_s), -ETIMEDOUT,
 *   -ECONNREFUSED and other network errors, -EPROTO for an undecodable answer.
 * code is the HTTP status (0 for network errors); reason and message come from the
 * Status object (or libcurl); cause is "ResourceVersionTooLarge" when one of the
 * Status' details.causes says so (a LIST asked for a resourceVersion the server has
 * not seen yet: 504), else the first cause's reason, "" when none; all borrowed for
 * the callback.
 */
struct kl_kube_status {
	int err;
	int code;
	const char *reason;
	const char *message;
	int retry_after_s; /* -1 when absent */
	const char *cause;
};

/*
 * One object of a LIST or a WATCH as the server sent it: decoded JSON, or - when
 * the call asked for protobuf and the server answered it - the object's own
 * message bytes (kl_pb_msg.data of pb.h: no magic, no envelope). Exactly one of
 * json and pb is set; everything borrowed for the callback.
 */
struct kl_kobj {
	const struct kl_json *json;
	const uint8_t *pb;
	size_t len;
};

/* metadata.resourceVersion of o into rv (size bytes): 0, -ENOENT when absent, -EINVAL. */
int kl_kobj_rv(const struct kl_kobj *o, char *rv, size_t size);

struct kl_kube_opts {
	double qps;	/* 0: 20 */
	unsigned burst; /* 0: 30 */
	uint64_t token_reread_ms; /* token file re-read period; 0: 60 s */
	/*
	 * What LIST and WATCH ask for (--kube-api-content-type): KL_WIRE_PROTOBUF sends
	 * "Accept: application/vnd.kubernetes.protobuf, application/json" and decodes
	 * whichever the server answers; KL_WIRE_JSON (0) asks for JSON only. Other
	 * calls always speak JSON.
	 */
	enum kl_wire wire;
	/*
	 * Trickle mode for the client's connections (kl_http_coalesce_reads): a
	 * watch bringing small events is read every read_coalesce_ms, not once per
	 * event. 0: 20 ms; negative: off (every event read as it comes).
	 */
	int read_coalesce_ms;
};

/*
 * Returns a new client over cfg (borrowed until kl_kube_close's callback) and
 * registers kloompas_apiserver_requests_total{verb,code} and
 * kloompas_apiserver_request_duration_seconds{verb} in metrics (may be NULL).
 */
int kl_kube_new(uv_loop_t *loop, const struct kl_kube_config *cfg,
		const struct kl_kube_opts *opts, const struct kl_log *log,
		struct kl_metrics *metrics, struct kl_kube **out, struct kl_error *err);
/* Cancels every call (callbacks get -ECANCELED), frees the client, then cb(arg). */
void kl_kube_close(struct kl_kube *k, void (*cb)(void *arg), void *arg);

/* Cancels a call; its callback runs later with -ECANCELED. */
void kl_kube_cancel(struct kl_kube_req *r);

/* GET/CREATE/UPDATE/PATCH/DELETE: obj is the decoded answer, NULL on error. */
typedef void (*kl_kube_obj_cb)(void *arg, const struct kl_kube_status *st,
			       const struct kl_json *obj);

int kl_kube_get(struct kl_kube *k, const char *path, kl_kube_obj_cb cb, void *arg,
		struct kl_kube_req **out);
int kl_kube_create(struct kl_kube *k, const char *path, const char *json, size_t len,
		   kl_kube_obj_cb cb, void *arg, struct kl_kube_req **out);
int kl_kube_update(struct kl_kube *k, const char *path, const char *json, size_t len,
		   kl_kube_obj_cb cb, void *arg, struct kl_kube_req **out);
int kl_kube_delete(struct kl_kube *k, const char *path, kl_kube_obj_cb cb, void *arg,
		   struct kl_kube_req **out);

enum kl_kube_patch { KL_PATCH_MERGE, KL_PATCH_STRATEGIC, KL_PATCH_JSON };
int kl_kube_patch(struct kl_kube *k, const char *path, enum kl_kube_patch type,
		  const char *json, size_t len, kl_kube_obj_cb cb, void *arg,
		  struct kl_kube_req **out);

/* PUT/PATCH .../deployments/NAME/scale with {"spec":{"replicas":N}}: a merge patch. */
int kl_kube_scale(struct kl_kube *k, const char *ns, const char *deployment, int replicas,
		  kl_kube_obj_cb cb, void *arg, struct kl_kube_req **out);

/* What a LIST or a WATCH asks for; NULL or 0 fields mean the default. */
struct kl_kube_list_opts {
	const char *query; /* extra "labelSelector=...&fieldSelector=..." or NULL */
	unsigned limit;	   /* page size; 0: 500 */
	bool unpaged;	   /* no limit at all: one answer (a relist from the watch cache) */
	/*
	 * NULL or "": a consistent read (from etcd, paginated); "0": any state, which
	 * the API server serves whole from its watch cache (ignoring limit) unless that
	 * cache is off (then pages follow, with continue); any other: a state not older
	 * than this one (the watch cache when unpaged). Sent on the first page only:
	 * the server refuses resourceVersion with continue.
	 */
	const char *resource_version;
	/*
	 * The caller takes protobuf objects (kl_kobj.pb): with the client's wire
	 * KL_WIRE_PROTOBUF the call sends "Accept: application/vnd.kubernetes.protobuf,
	 * application/json" and decodes whichever the answer's Content-Type says.
	 */
	bool protobuf;
};

/*
 * LIST, paginated with limit and continue. Each item is handed to item_cb as it is
 * decoded; done_cb gets res (NULL on error). When a continue token expires (410)
 * the list restarts from the beginning (the first page as first asked) and item_cb
 * sees restart=true on the first item of the new pass, so the caller can drop what
 * it collected. The body is never held whole: items stream through the decoder.
 */
struct kl_kube_list_result {
	const char *resource_version; /* the List's */
	unsigned pages;		      /* answers the last pass took (1: one whole answer) */
	bool protobuf;		      /* the server answered protobuf */
};
typedef int (*kl_kube_item_cb)(void *arg, const struct kl_kobj *item, bool restart);
typedef void (*kl_kube_list_done_cb)(void *arg, const struct kl_kube_status *st,
				     const struct kl_kube_list_result *res);
int kl_kube_list(struct kl_kube *k, const char *path, const struct kl_kube_list_opts *o,
		 kl_kube_item_cb item_cb, kl_kube_list_done_cb done_cb, void *arg,
		 struct kl_kube_req **out);

struct kl_kube_watch_opts {
	const char *query;	      /* as kl_kube_list_opts */
	const char *resource_version; /* "" or NULL: from now */
	unsigned timeout_s;	      /* timeoutSeconds; 0: none */
	bool protobuf;		      /* as kl_kube_list_opts */
};

/*
 * WATCH from o->resource_version with allowWatchBookmarks. event_cb gets each
 * event as it arrives: type is "ADDED", "MODIFIED", "DELETED", "BOOKMARK" or
 * "ERROR" (then obj is a Status and the stream ends with st->err -ESTALE for a
 * 410). done_cb runs once when the stream ends: err 0 for a clean end (the
 * server's timeout), else as above; a stream cut mid-object is -ECONNRESET.
 */
typedef int (*kl_kube_event_cb)(void *arg, const char *type, const struct kl_kobj *obj);
typedef void (*kl_kube_done_cb)(void *arg, const struct kl_kube_status *st);
int kl_kube_watch(struct kl_kube *k, const char *path, const struct kl_kube_watch_opts *o,
		  kl_kube_event_cb event_cb, kl_kube_done_cb done_cb, void *arg,
		  struct kl_kube_req **out);

/*
 * GET .../pods/NAME/log?container=C&previous=true|false&tailLines=N; text is the
 * log (bounded by max_bytes, 0: 64 KiB; cut at the start so the tail stays).
 */
typedef void (*kl_kube_text_cb)(void *arg, const struct kl_kube_status *st, const char *text,
				size_t len);
int kl_kube_pod_log(struct kl_kube *k, const char *ns, const char *pod, const char *container,
		    bool previous, unsigned tail_lines, size_t max_bytes, kl_kube_text_cb cb,
		    void *arg, struct kl_kube_req **out);

/* HTTP version of the last finished request: 2 or 11 (tests, logs). */
int kl_kube_http_version(const struct kl_kube *k);
/* What the client's sockets did so far: wake-ups, trickle-mode rests (benchmarks). */
void kl_kube_http_stats(const struct kl_kube *k, struct kl_http_stats *out);

/* Decodes a Status object (or a non-Status error body) into st (tests, informers). */
void kl_kube_status_from(struct kl_kube_status *st, int http_code, const struct kl_json *obj);

#endif
