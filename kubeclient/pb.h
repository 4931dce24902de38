/*
 * kubeclient/pb.h - Kubernetes' protobuf wire format, decoded as it streams.
 *
 * With "Accept: application/vnd.kubernetes.protobuf" the API server answers a
 * LIST with the 4-byte magic "k8s\0" and a runtime.Unknown envelope whose raw
 * field holds the List (ListMeta, then each item); a WATCH with 4-byte big-endian
 * length-prefixed frames, each a WatchEvent{type, object} whose object is again
 * magic + envelope. This file frames those streams (nothing is buffered beyond
 * the item or frame being read) and hands out each object's own message bytes;
 * objects_pb.c projects those bytes into the cached structs (objects.h), so a
 * protobuf pod and a JSON pod give the same kl_pod.
 */
#ifndef KL_KUBECLIENT_PB_H
#define KL_KUBECLIENT_PB_H

#include <stddef.h>
#include <stdint.h>

#include "kubeclient/objects.h"
#include "util/error.h"
#include "util/intern.h"

enum kl_pb_mode {
	KL_PB_DOCUMENT, /* one envelope (an error body: a Status); delivered at finish */
	KL_PB_LIST,	/* a List envelope: each item as KL_PB_ITEM, the ListMeta at finish */
	KL_PB_EVENTS,	/* a WATCH stream: each event as KL_PB_ITEM as soon as its frame is in */
};

enum kl_pb_what { KL_PB_ITEM, KL_PB_DOC };

/* What a stream hands out; everything borrowed for the callback. */
struct kl_pb_msg {
	const char *type;     /* KL_PB_EVENTS: "ADDED", ..., "BOOKMARK", "ERROR"; else NULL */
	const char *kind;     /* the envelope's kind ("Pod", "Status", "PodList"), "" if absent */
	const uint8_t *data;  /* the object's own message (e.g. a Pod), no magic, no envelope */
	size_t len;
	/* KL_PB_DOC of KL_PB_LIST: the ListMeta ("" when absent) */
	const char *resource_version;
	const char *cont;
};

/* Return 0 to go on, a negative errno to stop the stream (feed returns it). */
typedef int (*kl_pb_cb)(void *arg, enum kl_pb_what what, const struct kl_pb_msg *m);

struct kl_pb_stream;

/*
 * Returns a new stream decoder, free with kl_pb_stream_free(); NULL on ENOMEM.
 * max_object_bytes bounds one item or frame; 0 means 64 MiB.
 */
struct kl_pb_stream *kl_pb_stream_new(enum kl_pb_mode mode, size_t max_object_bytes,
				      kl_pb_cb cb, void *arg);
void kl_pb_stream_free(struct kl_pb_stream *s);
/*
 * Feeds bytes; callbacks run from inside. Returns 0, the callback's negative
 * return, -EPROTO for a malformed stream (bad magic, a bad tag, an object over
 * the bound; err says what and at which byte offset), or -ENOMEM. After an error
 * the stream only fails.
 */
int kl_pb_stream_feed(struct kl_pb_stream *s, const char *buf, size_t len,
		      struct kl_error *err);
/* Ends the input: DOCUMENT/LIST deliver their KL_PB_DOC here; -EPROTO for a cut stream. */
int kl_pb_stream_finish(struct kl_pb_stream *s, struct kl_error *err);
/* Bytes fed so far. */
uint64_t kl_pb_stream_offset(const struct kl_pb_stream *s);

/*
 * Projections from an object's message bytes (kl_pb_msg.data), with the same
 * results and errors as the JSON ones in objects.h: 0, -EINVAL (not such an
 * object: no metadata.name, or bytes that do not decode), -ENOMEM.
 */
int kl_pod_project_pb(struct kl_intern *t, const struct kl_objects_opts *o, const uint8_t *data,
		      size_t len, struct kl_pod **out);
int kl_namespace_project_pb(struct kl_intern *t, const struct kl_objects_opts *o,
			    const uint8_t *data, size_t len, struct kl_namespace **out);
int kl_deployment_project_pb(struct kl_intern *t, const struct kl_objects_opts *o,
			     const uint8_t *data, size_t len, struct kl_deployment **out);

/*
 * metadata.resourceVersion of any object's message bytes (a bookmark's) into rv
 * (size bytes): 0, -ENOENT when absent, -EINVAL when the bytes do not decode or
 * it does not fit.
 */
int kl_pb_meta_rv(const uint8_t *data, size_t len, char *rv, size_t size);

/*
 * A Status message (an ERROR event's object, or a protobuf error body): its code,
 * reason and message into the buffers (cut to fit). 0 or -EINVAL.
 */
int kl_pb_status(const uint8_t *data, size_t len, int *code, char *reason, size_t reason_size,
		 char *message, size_t message_size);

#endif
