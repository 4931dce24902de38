/*
 * kubeclient/objects.h - the projected objects the caches keep.
 *
 * A pod as the API server sends it is about 8.5 KB of JSON; the controllers read a
 * few dozen fields of it. Each cached object is a small C struct with exactly those
 * fields, strings interned (util/intern.h), times as Unix seconds, built directly
 * from the decoded JSON of one LIST item or WATCH event (kl_*_project) and released
 * field by field (kl_*_release). Every struct starts with struct kl_meta so the
 * store can key and index any of them the same way.
 */
#ifndef KL_KUBECLIENT_OBJECTS_H
#define KL_KUBECLIENT_OBJECTS_H

#include <stdbool.h>
#include <stdint.h>

#include "kubeclient/json.h"
#include "util/intern.h"

/* Common to every cached object. Strings interned. */
struct kl_meta {
	const char *ns;	  /* "" for cluster-scoped objects (namespaces) */
	const char *name;
	const char *uid;
	uint64_t rv;	  /* metadata.resourceVersion as a number (0 if not numeric) */
	int64_t created;  /* creationTimestamp, Unix seconds */
	int64_t deleting; /* deletionTimestamp, 0 when not terminating */
	/* the store's own fields */
	uint32_t gen;
	void *store_next, *ns_prev, *ns_next;
};

enum kl_pod_phase { KL_POD_PENDING, KL_POD_RUNNING, KL_POD_SUCCEEDED, KL_POD_FAILED,
		    KL_POD_UNKNOWN };

struct kl_container_state {
	const char *waiting_reason;   /* NULL when not waiting */
	int64_t running_since;	      /* 0 when not running */
	const char *terminated_reason; /* NULL when not terminated */
	int32_t exit_code;
	int64_t finished;
};

struct kl_container {
	const char *name;
	bool ready;
	bool init; /* an init container */
	int32_t restarts;
	struct kl_container_state state; /* state */
	struct kl_container_state last;	 /* lastState (only terminated is kept) */
};

struct kl_pod {
	struct kl_meta meta;
	enum kl_pod_phase phase;
	bool ready;	       /* condition Ready == True */
	int64_t ready_changed; /* the Ready condition's lastTransitionTime */
	const char *owner_kind, *owner_name; /* the controller ownerReference, or NULL */
	const char *node;		      /* spec.nodeName, or NULL */
	uint16_t ncontainers;		      /* init containers first */
	struct kl_container *containers;      /* malloc'd array */
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
 * Fill a zeroed struct from one object's JSON. Return 0, -EINVAL when the JSON is
 * not such an object (no metadata.name), or -ENOMEM. On error everything taken is
 * released already.
 */
int kl_pod_project(struct kl_intern *t, const struct kl_objects_opts *o,
		   const struct kl_json *j, struct kl_pod *out);
int kl_namespace_project(struct kl_intern *t, const struct kl_objects_opts *o,
			 const struct kl_json *j, struct kl_namespace *out);
int kl_deployment_project(struct kl_intern *t, const struct kl_objects_opts *o,
			  const struct kl_json *j, struct kl_deployment *out);
/* Release what a projection took (interned strings, arrays); the struct itself stays. */
void kl_pod_release(struct kl_intern *t, struct kl_pod *p);
void kl_namespace_release(struct kl_intern *t, struct kl_namespace *n);
void kl_deployment_release(struct kl_intern *t, struct kl_deployment *d);

/* "Running" etc. */
const char *kl_pod_phase_name(enum kl_pod_phase p);

#endif
