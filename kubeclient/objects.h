/*
 * kubeclient/objects.h - the projected objects the caches keep.
 *
 * A pod as the API server sends it is about 8.5 KB of JSON; the controllers read a
 * few dozen fields of it. Each cached object is a small C struct with exactly those
 * fields, shared strings interned (util/intern.h), times as 32-bit Unix seconds, the
 * uid as 16 bytes, allocated and built directly from the decoded JSON of one LIST
 * item or WATCH event (kl_*_project) and freed with what it holds (kl_*_free). An
 * object is one allocation: the struct, a pod's containers, then the object's own
 * name (unique per object, so interning it would buy nothing and cost a table entry
 * and a slot; kl_meta_name() finds it). Every struct starts with struct kl_meta so
 * the store can key and index any of them the same way; the store keeps its links in
 * its own tables, not in the objects. Sizes matter: the cache of 150,000 pods is most
 * of the process (bench/README.md, "where the pod bytes go"): a pod with two
 * containers and a 20-character name is one 213-byte block (malloc chunk 224).
 */
#ifndef KL_KUBECLIENT_OBJECTS_H
#define KL_KUBECLIENT_OBJECTS_H

#include <stdbool.h>
#include <stdint.h>

#include "kubeclient/json.h"
#include "util/intern.h"

/*
 * Times are Unix seconds in 32 bits (0: absent or unknown): the API server writes
 * times between 1970 and 2106, and at 50,000 pods with two containers each every
 * 64-bit time costs 400 KB.
 */

/* metadata.uid: the API server makes it an RFC 4122 UUID, kept as its 16 bytes. */
enum kl_uid_kind { KL_UID_NONE, KL_UID_UUID, KL_UID_STRING };
#define KL_UID_MAX 64 /* buffer size for kl_meta_uid(); longer uids are cut */

/* Common to every cached object (48 bytes, no padding but one byte). */
struct kl_meta {
	const char *ns;	  /* interned; "" for cluster-scoped objects (namespaces) */
	uint64_t rv;	  /* metadata.resourceVersion as a number (0 if not numeric) */
	union {
		uint8_t bytes[16]; /* KL_UID_UUID */
		const char *str;   /* KL_UID_STRING: interned, for a uid that is not a UUID */
	} uid;
	uint32_t created;  /* creationTimestamp */
	uint32_t deleting; /* deletionTimestamp, 0 when not terminating */
	uint32_t gen;	   /* the store's: the relist that last saw the object */
	uint16_t name_off; /* where the name is, from the start of the object */
	uint8_t uid_kind;  /* enum kl_uid_kind */
};

/* metadata.name, kept in the object's own block (not interned). */
static inline const char *kl_meta_name(const struct kl_meta *m)
{
	return (const char *)m + m->name_off;
}

/* The uid as text into buf (KL_UID_MAX bytes): buf, or "" when the object has none. */
const char *kl_meta_uid(const struct kl_meta *m, char *buf);

/*
 * metadata.resourceVersion (len bytes at s) as kl_meta.rv keeps it: an opaque
 * string that etcd makes a decimal number; 0 when empty, not decimal or too big.
 */
uint64_t kl_rv_parse(const char *s, size_t len);

enum kl_pod_phase { KL_POD_PENDING, KL_POD_RUNNING, KL_POD_SUCCEEDED, KL_POD_FAILED,
		    KL_POD_UNKNOWN };

/*
 * state: the container's current state. Packed to 4-byte alignment (28 bytes, not
 * 32) so that kl_container has no padding; kl_container keeps it 8-aligned.
 */
struct __attribute__((packed, aligned(4))) kl_container_state {
	const char *waiting_reason;    /* NULL when not waiting */
	const char *terminated_reason; /* NULL when not terminated */
	uint32_t running_since;	       /* 0 when not running */
	uint32_t finished;
	int32_t exit_code;
};

/* lastState: only terminated is kept (the previous instance's end). */
struct kl_container_last {
	const char *terminated_reason; /* NULL when the container never ended */
	uint32_t finished;
	int32_t exit_code;
};

/*
 * restartCount saturates at KL_RESTARTS_MAX (and KL_RESTARTS_MIN): 30 bits, so that
 * the count and the two flags share 4 bytes. At the kubelet's fastest restart pace
 * (10 s) that is 170 years of restarts.
 */
#define KL_RESTARTS_MAX ((1 << 29) - 1)
#define KL_RESTARTS_MIN (-(1 << 29))

static inline int kl_restarts(int64_t n)
{
	if (n > KL_RESTARTS_MAX)
		return KL_RESTARTS_MAX;
	return n < KL_RESTARTS_MIN ? KL_RESTARTS_MIN : (int)n;
}

/* 56 bytes: name, state (28), restarts and flags (4), last (16). */
struct kl_container {
	const char *name;
	struct kl_container_state state;
	signed int restarts : 30; /* signed: plain int bit-fields may not be */
	bool ready : 1;
	bool init : 1; /* an init container */
	struct kl_container_last last;
};

/*
 * One allocation: the struct (80 bytes), its containers (init containers first),
 * then its name (kl_meta_name()).
 */
struct kl_pod {
	struct kl_meta meta;
	uint32_t ready_changed; /* the Ready condition's lastTransitionTime */
	uint8_t phase;		/* enum kl_pod_phase */
	bool ready;		/* condition Ready == True */
	uint16_t ncontainers;
	/* the controller ownerReference, else the first one (evidence), or NULL */
	const char *owner_kind, *owner_name;
	const char *node;		      /* spec.nodeName, or NULL */
	struct kl_container containers[];
};

/* Like every object, a namespace keeps its name in its block; it holds it interned too. */
struct kl_namespace {
	struct kl_meta meta;
	const char *interned; /* the name interned: the ns of the objects in it */
	const char *team;  /* the team annotation or label (see kl_objects_opts) */
	bool terminating; /* status.phase == Terminating */
};

struct kl_deployment {
	struct kl_meta meta;
	int64_t generation, observed_generation;
	int32_t spec_replicas; /* -1 when absent */
	int32_t replicas, ready_replicas, available_replicas, updated_replicas;
	const char *min_replicas, *max_replicas; /* kloompas.io/min-replicas, /max-replicas */
	const char *restore_replicas, *restore_at; /* kloompas.io/restore-* */
};

/* What projections need to know beyond the JSON. */
struct kl_objects_opts {
	const char *team_annotation; /* e.g. "kloompas.io/team": annotation, else label */
};

/*
 * Allocate *out and fill it from one object's JSON. Return 0, -EINVAL when the
 * JSON is not such an object (no metadata.name), or -ENOMEM; on error *out is
 * NULL and nothing is held.
 */
int kl_pod_project(struct kl_intern *t, const struct kl_objects_opts *o,
		   const struct kl_json *j, struct kl_pod **out);
int kl_namespace_project(struct kl_intern *t, const struct kl_objects_opts *o,
			 const struct kl_json *j, struct kl_namespace **out);
int kl_deployment_project(struct kl_intern *t, const struct kl_objects_opts *o,
			  const struct kl_json *j, struct kl_deployment **out);
/* Release what a projection took (interned strings) and free it; NULL is fine. */
void kl_pod_free(struct kl_intern *t, struct kl_pod *p);
void kl_namespace_free(struct kl_intern *t, struct kl_namespace *n);
void kl_deployment_free(struct kl_intern *t, struct kl_deployment *d);

/*
 * Whether two projections of a pod differ only in metadata.resourceVersion: a change
 * to a field the cache does not keep (an annotation, a label, a managedFields
 * timestamp) reaches the informer as an update with nothing new to the controllers.
 */
bool kl_pod_same(const struct kl_pod *a, const struct kl_pod *b);

/* "Running" etc. */
const char *kl_pod_phase_name(enum kl_pod_phase p);

#endif
