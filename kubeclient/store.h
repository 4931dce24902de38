/*
 * kubeclient/store.h - the cache of one resource: projected objects keyed by
 * namespace/name, indexed by namespace.
 *
 * The store applies what the reflector says and reports what changed, so the
 * informer can run handlers after the cache is updated (old objects stay alive
 * until the caller disposes of them). A relist is a sync: begin, upsert every
 * listed object (each marked seen), then take the unseen ones out - they vanished
 * while the watch was down. An upsert whose resourceVersion equals the cached
 * one changes nothing and projects nothing, so a relist of an unchanged cluster
 * costs a decode and a lookup per object.
 *
 * Keys are interned pointers (equal strings, equal pointers): lookups hash two
 * pointers, never strings.
 */
#ifndef KL_KUBECLIENT_STORE_H
#define KL_KUBECLIENT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "kubeclient/json.h"
#include "kubeclient/objects.h"
#include "util/intern.h"

/* A projected struct starts with struct kl_meta; project allocates it, free frees it. */
struct kl_store_type {
	const char *resource;
	int (*project)(struct kl_intern *t, const struct kl_objects_opts *o,
		       const struct kl_json *j, void **out);
	/* the same from an object's protobuf message bytes (pb.h) */
	int (*project_pb)(struct kl_intern *t, const struct kl_objects_opts *o,
			  const uint8_t *data, size_t len, void **out);
	void (*free)(struct kl_intern *t, void *obj);
};

extern const struct kl_store_type kl_store_pods, kl_store_namespaces, kl_store_deployments;

enum kl_store_change { KL_STORE_NONE, KL_STORE_ADD, KL_STORE_UPDATE, KL_STORE_DELETE };

/*
 * One change. ADD: obj is new (in the store). UPDATE: obj is new, old was replaced
 * and is detached. DELETE: old was removed and is detached. The caller runs its
 * handlers, then must call kl_store_dispose(old) for UPDATE and DELETE.
 */
struct kl_store_delta {
	enum kl_store_change change;
	const void *obj;
	void *old;
};

struct kl_store;

/* Returns a new empty store (type, t and o borrowed); NULL on ENOMEM. */
struct kl_store *kl_store_new(const struct kl_store_type *type, struct kl_intern *t,
			      const struct kl_objects_opts *o);
/* Frees the store and every object in it. */
void kl_store_free(struct kl_store *s);

/* Adds or replaces from JSON. 0 (d filled), -EINVAL (not an object of the type), -ENOMEM. */
int kl_store_upsert(struct kl_store *s, const struct kl_json *j, struct kl_store_delta *d);
/* Removes the object the JSON names (a DELETED event). d->change NONE when unknown. */
int kl_store_remove(struct kl_store *s, const struct kl_json *j, struct kl_store_delta *d);
/*
 * The same from an object's protobuf message bytes (pb.h). The object is projected
 * first (its name is not known before), so an unchanged one costs a projection.
 */
int kl_store_upsert_pb(struct kl_store *s, const uint8_t *data, size_t len,
		       struct kl_store_delta *d);
int kl_store_remove_pb(struct kl_store *s, const uint8_t *data, size_t len,
		       struct kl_store_delta *d);
/* Releases a detached object from a delta. */
void kl_store_dispose(struct kl_store *s, void *old);

/* A relist: begin, upserts (which mark objects seen), then take_unseen until it returns 0. */
void kl_store_sync_begin(struct kl_store *s);
/* Detaches one object not seen since sync_begin into d (DELETE); 1 while there was one. */
int kl_store_take_unseen(struct kl_store *s, struct kl_store_delta *d);

/* Lookup; NULL when absent. ns "" for cluster-scoped objects. */
const void *kl_store_get(const struct kl_store *s, const char *ns, const char *name);
size_t kl_store_len(const struct kl_store *s);

/* Every object (any order). The callback must not change the store. */
void kl_store_foreach(const struct kl_store *s, void (*cb)(void *arg, const void *obj),
		      void *arg);
/*
 * One namespace's objects: first, then next until NULL. The store must not change
 * between. next finds obj again by its name (a hash and a probe).
 */
const void *kl_store_ns_first(const struct kl_store *s, const char *ns);
const void *kl_store_ns_next(const struct kl_store *s, const void *obj);
size_t kl_store_ns_len(const struct kl_store *s, const char *ns);

#endif
