/*
 * kubeclient/json.h - JSON from the API server, decoded as it streams in.
 *
 * A LIST of 10,000 pods is 85 MB and a WATCH never ends, so nothing here holds a
 * whole response. yajl's push parser takes chunks split anywhere; we build a small
 * tree (struct kl_json) for one value at a time - one item of a LIST's "items",
 * one event of a WATCH, or a whole small document - hand it to the caller, and
 * reset that value's arena. Memory is bounded by the largest single object, and
 * each object is parsed exactly once.
 *
 * Ownership: every struct kl_json handed to a callback is borrowed for the call.
 */
#ifndef KL_KUBECLIENT_JSON_H
#define KL_KUBECLIENT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum kl_json_type {
	KL_JSON_NULL,
	KL_JSON_BOOL,
	KL_JSON_NUMBER, /* text kept as written: Kubernetes quantities overflow doubles */
	KL_JSON_STRING,
	KL_JSON_ARRAY,
	KL_JSON_OBJECT,
};

struct kl_json {
	enum kl_json_type type;
	const char *key;  /* member name inside an object, else NULL */
	const char *str;  /* STRING (unescaped, NUL-terminated) or NUMBER text */
	size_t len;	  /* bytes of str */
	bool boolean;	  /* BOOL */
	struct kl_json *child; /* ARRAY/OBJECT: first element or member */
	struct kl_json *next;  /* next sibling */
	size_t n;	       /* ARRAY/OBJECT: number of children */
};

/* Member of an object by name; NULL when absent or obj is not an object. */
const struct kl_json *kl_json_get(const struct kl_json *obj, const char *key);
/* Walks object members: kl_json_path(pod, "metadata", "name", NULL). */
const struct kl_json *kl_json_path(const struct kl_json *obj, ...) __attribute__((sentinel));
/* The string value, or def when v is NULL or not a string. */
const char *kl_json_str(const struct kl_json *v, const char *def);
/* Integer value of a NUMBER; -EINVAL when not an integer, -ERANGE when too big. */
int kl_json_int(const struct kl_json *v, int64_t *out);

enum kl_json_mode {
	KL_JSON_DOCUMENT, /* one value; delivered whole at kl_json_stream_finish() */
	KL_JSON_LIST,	  /* a List object: each element of its top-level "items" is
			     delivered as KL_JSON_ITEM when complete; the rest of the object
			     (kind, metadata, ...) as KL_JSON_DOC at finish, "items" empty */
	KL_JSON_EVENTS,	  /* a sequence of top-level values (a WATCH): each delivered as
			     KL_JSON_ITEM as soon as its last byte arrives */
};

enum kl_json_what { KL_JSON_ITEM, KL_JSON_DOC };

/* Return 0 to go on, a negative errno to stop the stream (feed returns it). */
typedef int (*kl_json_cb)(void *arg, enum kl_json_what what, const struct kl_json *v);

struct kl_json_stream;

/*
 * Returns a new stream decoder, free with kl_json_stream_free(); NULL on ENOMEM.
 * max_value_bytes bounds the memory of one delivered value (and of the LIST
 * envelope); 0 means 64 MiB. Nesting deeper than 256 is refused.
 */
struct kl_json_stream *kl_json_stream_new(enum kl_json_mode mode, size_t max_value_bytes,
					  kl_json_cb cb, void *arg);
void kl_json_stream_free(struct kl_json_stream *s);
/*
 * Feeds bytes; callbacks run from inside. Returns 0, the callback's negative
 * return, -EPROTO for malformed JSON or a value too deep or too big (err says what
 * and at which byte offset), or -ENOMEM. After an error the stream only fails.
 */
int kl_json_stream_feed(struct kl_json_stream *s, const char *buf, size_t len,
			struct kl_error *err);
/*
 * Ends the input. DOCUMENT/LIST deliver their KL_JSON_DOC here. Returns -EPROTO
 * when the input stopped inside a value (a cut stream), else as feed.
 */
int kl_json_stream_finish(struct kl_json_stream *s, struct kl_error *err);
/* Bytes fed so far. */
uint64_t kl_json_stream_offset(const struct kl_json_stream *s);

#endif
