/*
 * kubeclient/objects.h - the projected objects the caches keep.
 *
 * A pod as the API server sends it is about 8.5 KB of JSON; the controllers read a
 * few dozen fields of it. Each cached object is a small C struct with exactly those
 * fields, strings interned (util/intern.h), times as 32-bit Unix seconds, the uid
 * as 16 bytes, allocated and built directly from the decoded JSON of one LIST item
 * or WATCH event (kl_*_project) and freed with what it holds (kl_*_free). A pod and
 * its containers are one allocation. Every struct starts with struct kl_meta so the
 * store can key and index any of them the same way. Sizes matter: the cache of
 * 50,000 pods is most of the process (bench/README.md, "where the pod bytes go").
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

/* Common to every cached object. Strings interned. */
struct kl_meta {
	const char *ns;	  /* "" for cluster-scoped objects (namespaces) */
	const char *name;
	uint64_t rv;	  /* metadata.resourceVersion as a number (0 if not numeric) */
	union {
		uint8_t bytes[16]; /* KL_UID_UUID */
		const char *str;   /* KL_UID_STRING: interned, for a uid that is not a UUID */
	} uid;
	uint32_t created;  /* creationTimestamp */
	uint32_t deleting; /* deletionTimestamp, 0 when not terminating */
	/* the store's own fields */
	uint32_t gen;
	uint8_t uid_kind; /* enum kl_uid_kind */
	void *store_next, *ns_prev, *ns_next;
};

/* The uid as text into buf (KL_UID_MAX bytes): buf, or "" when the object has none. */
const char *kl_meta_uid(const struct kl_meta *m, char *buf);

enum kl_pod_phase { KL_POD_PENDING, KL_POD_RUNNING, KL_POD_SUCCEEDED, KL_POD_FAILED,
		    KL_POD_UNKNOWN };

/* state: the container's current state. */
struct kl_container_state {
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

struct kl_container {
	const char *name;
	struct kl_container_state state;
	struct kl_container_last last;
	int32_t restarts;
	bool ready;
	bool init; /* an init container */
};

/* One allocation: the struct and its containers (init containers first). */
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

struct kl_namespace {
	struct kl_meta meta;
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
