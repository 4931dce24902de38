/*
 * kubeclient/store.c - projected objects by namespace/name, with a namespace index
 * (see store.h).
 *
 * Two levels, and no link in the objects (a pointer in every cached pod costs 1.2
 * MB at 150,000 pods): a small hash of namespace entries by their interned string
 * pointer, and per namespace an open-addressing table (linear probing, a power of
 * two, at most 3/4 full, backward-shift removal: no tombstones) of object pointers
 * keyed by name. A slot costs 8 bytes, 11-21 per object with the load. The name is
 * the object's own copy (kl_meta_name()), so a probe compares strings; the name
 * hash is recomputed when the table grows or an entry is shifted back. An entry
 * lives while it has objects and borrows the namespace string from them; walking a
 * namespace is walking its table, so the namespace index comes for free.
 */
#include "kubeclient/store.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kubeclient/pb.h"

#define NS_BUCKETS 1024
#define MIN_SLOTS 8

/* One namespace: its objects in an open-addressing table keyed by name. */
struct ns_entry {
	const char *ns;		/* interned, borrowed from its objects */
	struct kl_meta **slots; /* cap entries, NULL when free */
	uint32_t cap, n;	/* cap a power of two; n <= 3/4 cap */
	struct ns_entry *next;	/* in its kl_store.ns bucket */
};

struct kl_store {
	const struct kl_store_type *type;
	struct kl_intern *intern;
	const struct kl_objects_opts *opts;
	size_t len;
	struct ns_entry *ns[NS_BUCKETS];
	uint32_t gen;
	/* take_unseen's position: a bucket, an entry in it (NULL: its first), a slot */
	size_t cur_bucket;
	struct ns_entry *cur_e;
	uint32_t cur_slot;
};

/* ---------------------------------------------------------------- types */

#define TYPE(name, st, proj, fr)                                                           \
	static int proj##_any(struct kl_intern *t, const struct kl_objects_opts *o,           \
			      const struct kl_json *j, void **out)                          \
	{                                                                                  \
		struct st *obj;                                                            \
		int rc = proj(t, o, j, &obj);                                              \
                                                                                           \
		*out = obj;                                                                \
		return rc;                                                                 \
	}                                                                                  \
	static int proj##_pb_any(struct kl_intern *t, const struct kl_objects_opts *o,        \
				 const uint8_t *data, size_t len, void **out)               \
	{                                                                                  \
		struct st *obj;                                                            \
		int rc = proj##_pb(t, o, data, len, &obj);                                 \
                                                                                           \
		*out = obj;                                                                \
		return rc;                                                                 \
	}                                                                                  \
	static void fr##_any(struct kl_intern *t, void *obj)                                  \
	{                                                                                  \
		fr(t, obj);                                                                \
	}                                                                                  \
	const struct kl_store_type name = { #name, proj##_any, proj##_pb_any, fr##_any }

TYPE(kl_store_pods, kl_pod, kl_pod_project, kl_pod_free);
TYPE(kl_store_namespaces, kl_namespace, kl_namespace_project, kl_namespace_free);
TYPE(kl_store_deployments, kl_deployment, kl_deployment_project, kl_deployment_free);

/* ---------------------------------------------------------------- hashing */

static size_t hash_ptr(const void *a)
{
	uint64_t x = (uint64_t)(uintptr_t)a * 0x9e3779b97f4a7c15ULL;

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	return (size_t)x;
}

/* FNV-1a with a final mix (the low bits pick the slot). */
static uint32_t hash_name(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h;
}

static uint32_t hash_obj(const struct kl_meta *m)
{
	const char *name = kl_meta_name(m);

	return hash_name(name, strlen(name));
}

static bool name_is(const struct kl_meta *m, const char *name, size_t len)
{
	const char *own = kl_meta_name(m);

	return !strncmp(own, name, len) && own[len] == '\0';
}

/* ---------------------------------------------------------------- namespaces */

static struct ns_entry **ns_bucket(const struct kl_store *s, const char *ns)
{
	return (struct ns_entry **)&s->ns[hash_ptr(ns) & (NS_BUCKETS - 1)];
}

static struct ns_entry *ns_get(const struct kl_store *s, const char *ns)
{
	struct ns_entry *e;

	for (e = *ns_bucket(s, ns); e && e->ns != ns; e = e->next)
		;
	return e;
}

/* The slot holding the object named name[0..len), or the free slot ending its run. */
static uint32_t slot_of(const struct ns_entry *e, const char *name, size_t len, uint32_t h)
{
	uint32_t mask = e->cap - 1, i = h & mask;

	for (; e->slots[i]; i = (i + 1) & mask)
		if (name_is(e->slots[i], name, len))
			break;
	return i;
}

/* The slot of m itself (it is in the table). */
static uint32_t slot_of_obj(const struct ns_entry *e, const struct kl_meta *m)
{
	uint32_t mask = e->cap - 1, i = hash_obj(m) & mask;

	while (e->slots[i] != m)
		i = (i + 1) & mask;
	return i;
}

static int ns_grow(struct kl_store *s, struct ns_entry *e)
{
	uint32_t ncap = e->cap ? e->cap * 2 : MIN_SLOTS, mask = ncap - 1, i, j;
	struct kl_meta **ns;

	if (ncap < e->cap)
		return -ENOMEM;
	ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (i = 0; i < e->cap; i++) {
		if (!e->slots[i])
			continue;
		for (j = hash_obj(e->slots[i]) & mask; ns[j]; j = (j + 1) & mask)
			;
		ns[j] = e->slots[i];
	}
	free(e->slots);
	e->slots = ns;
	e->cap = ncap;
	if (s->cur_e == e)
		s->cur_slot = 0; /* a take_unseen scan sees this table again */
	return 0;
}

/* Whether the home slot k lies cyclically in (i, j]: then the entry at j stays. */
static bool stays(uint32_t i, uint32_t j, uint32_t k)
{
	return i <= j ? i < k && k <= j : i < k || k <= j;
}

/* Empties slot i and pulls later entries of its run back over the gap. */
static void slot_clear(struct ns_entry *e, uint32_t i)
{
	uint32_t mask = e->cap - 1, j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (!e->slots[j])
			break;
		if (stays(i, j, hash_obj(e->slots[j]) & mask))
			continue;
		e->slots[i] = e->slots[j];
		i = j;
	}
	e->slots[i] = NULL;
}

/* ---------------------------------------------------------------- link/unlink */

/* Adds m, which is not in the store. */
static int link_obj(struct kl_store *s, struct kl_meta *m)
{
	struct ns_entry **pe = ns_bucket(s, m->ns), *e = ns_get(s, m->ns);
	const char *name = kl_meta_name(m);
	size_t len = strlen(name);
	int rc;

	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		if ((rc = ns_grow(s, e))) {
			free(e);
			return rc;
		}
		e->ns = m->ns;
		e->next = *pe;
		*pe = e;
	} else if (((uint64_t)e->n + 1) * 4 > (uint64_t)e->cap * 3 && (rc = ns_grow(s, e))) {
		return rc;
	}
	e->slots[slot_of(e, name, len, hash_name(name, len))] = m;
	e->n++;
	s->len++;
	return 0;
}

static void unlink_obj(struct kl_store *s, struct kl_meta *m)
{
	struct ns_entry **pe = ns_bucket(s, m->ns), *e;

	for (; (e = *pe)->ns != m->ns; pe = &e->next)
		;
	slot_clear(e, slot_of_obj(e, m));
	s->len--;
	if (--e->n)
		return;
	*pe = e->next;
	if (s->cur_e == e) {
		s->cur_e = e->next; /* NULL: its bucket again, from the start */
		s->cur_slot = 0;
	}
	free(e->slots);
	free(e);
}

static struct kl_meta *lookup(const struct kl_store *s, const char *ns, const char *name,
			      size_t len)
{
	const struct ns_entry *e;

	if (!ns || !name || !(e = ns_get(s, ns)))
		return NULL;
	len = strnlen(name, len); /* a name is a C string: the object's copy ends at a NUL */
	return e->slots[slot_of(e, name, len, hash_name(name, len))];
}

/* The cached object the JSON names, found without interning anything. */
static struct kl_meta *lookup_json(const struct kl_store *s, const struct kl_json *j)
{
	const struct kl_json *md = kl_json_get(j, "metadata");
	const struct kl_json *ns = kl_json_get(md, "namespace");
	const struct kl_json *name = kl_json_get(md, "name");

	if (!name || name->type != KL_JSON_STRING)
		return NULL;
	return lookup(s, kl_intern_find(s->intern, ns && ns->type == KL_JSON_STRING ? ns->str : "",
					ns && ns->type == KL_JSON_STRING ? ns->len : 0),
		      name->str, name->len);
}

/* The resourceVersion as the projection reads it (kl_meta.rv), without projecting. */
static uint64_t json_rv(const struct kl_json *j)
{
	const struct kl_json *v = kl_json_path(j, "metadata", "resourceVersion", NULL);

	return v && v->type == KL_JSON_STRING ? kl_rv_parse(v->str, v->len) : 0;
}

/* ---------------------------------------------------------------- interface */

struct kl_store *kl_store_new(const struct kl_store_type *type, struct kl_intern *t,
			      const struct kl_objects_opts *o)
{
	struct kl_store *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->type = type;
	s->intern = t;
	s->opts = o;
	return s;
}

void kl_store_dispose(struct kl_store *s, void *old)
{
	if (!old)
		return;
	s->type->free(s->intern, old);
}

void kl_store_free(struct kl_store *s)
{
	size_t i;
	uint32_t k;

	if (!s)
		return;
	for (i = 0; i < NS_BUCKETS; i++) {
		struct ns_entry *e = s->ns[i], *next;

		for (; e; e = next) {
			next = e->next;
			for (k = 0; k < e->cap; k++)
				kl_store_dispose(s, e->slots[k]);
			free(e->slots);
			free(e);
		}
	}
	free(s);
}

/* Puts the projected m in place of cur (may be NULL) and says so in d. */
static int replace(struct kl_store *s, struct kl_meta *cur, struct kl_meta *m,
		   struct kl_store_delta *d)
{
	int rc;

	m->gen = s->gen;
	if (cur) {
		/* same namespace, same name: m takes cur's slot, nothing can fail */
		struct ns_entry *e = ns_get(s, cur->ns);

		e->slots[slot_of_obj(e, cur)] = m;
	} else if ((rc = link_obj(s, m)) < 0) {
		kl_store_dispose(s, m);
		return rc;
	}
	d->change = cur ? KL_STORE_UPDATE : KL_STORE_ADD;
	d->obj = m;
	d->old = cur;
	return 0;
}

/* An upsert of an unchanged object: marked seen, nothing else. */
static bool unchanged(struct kl_store *s, struct kl_meta *cur, uint64_t rv,
		      struct kl_store_delta *d)
{
	if (!cur || !rv || cur->rv != rv)
		return false;
	cur->gen = s->gen;
	d->obj = cur;
	return true; /* KL_STORE_NONE */
}

int kl_store_upsert(struct kl_store *s, const struct kl_json *j, struct kl_store_delta *d)
{
	struct kl_meta *cur = lookup_json(s, j);
	void *obj;
	int rc;

	memset(d, 0, sizeof(*d));
	if (unchanged(s, cur, json_rv(j), d))
		return 0;
	rc = s->type->project(s->intern, s->opts, j, &obj);
	if (rc < 0)
		return rc;
	return replace(s, cur, obj, d);
}

/* The cached object with m's namespace and name. */
static struct kl_meta *lookup_obj(const struct kl_store *s, const struct kl_meta *m)
{
	const char *name = kl_meta_name(m);

	return lookup(s, m->ns, name, strlen(name));
}

int kl_store_upsert_pb(struct kl_store *s, const uint8_t *data, size_t len,
		       struct kl_store_delta *d)
{
	struct kl_meta *cur, *m;
	void *obj;
	int rc;

	memset(d, 0, sizeof(*d));
	rc = s->type->project_pb(s->intern, s->opts, data, len, &obj);
	if (rc < 0)
		return rc;
	m = obj;
	cur = lookup_obj(s, m);
	if (unchanged(s, cur, m->rv, d)) {
		kl_store_dispose(s, m);
		return 0;
	}
	return replace(s, cur, m, d);
}

/* Takes cur (may be NULL: nothing to remove) out of the store and says so in d. */
static int detach(struct kl_store *s, struct kl_meta *cur, struct kl_store_delta *d)
{
	if (!cur)
		return 0;
	unlink_obj(s, cur);
	d->change = KL_STORE_DELETE;
	d->old = cur;
	return 0;
}

int kl_store_remove(struct kl_store *s, const struct kl_json *j, struct kl_store_delta *d)
{
	memset(d, 0, sizeof(*d));
	return detach(s, lookup_json(s, j), d);
}

int kl_store_remove_pb(struct kl_store *s, const uint8_t *data, size_t len,
		       struct kl_store_delta *d)
{
	struct kl_meta *m, *cur;
	void *obj;
	int rc = s->type->project_pb(s->intern, s->opts, data, len, &obj);

	memset(d, 0, sizeof(*d));
	if (rc < 0)
		return rc;
	m = obj;
	cur = lookup_obj(s, m);
	kl_store_dispose(s, m);
	return detach(s, cur, d);
}

void kl_store_sync_begin(struct kl_store *s)
{
	s->gen++;
	s->cur_bucket = 0;
	s->cur_e = NULL;
	s->cur_slot = 0;
}

/*
 * The scan resumes where it stopped. After a removal it stays on the same slot:
 * the backward shift only moves entries into the gap from later in their run, so
 * an entry not yet scanned never lands before the cursor (one already scanned may
 * land after it, and is looked at twice).
 */
int kl_store_take_unseen(struct kl_store *s, struct kl_store_delta *d)
{
	memset(d, 0, sizeof(*d));
	for (; s->cur_bucket < NS_BUCKETS; s->cur_bucket++, s->cur_e = NULL, s->cur_slot = 0) {
		if (!s->cur_e)
			s->cur_e = s->ns[s->cur_bucket];
		for (; s->cur_e; s->cur_e = s->cur_e->next, s->cur_slot = 0) {
			struct ns_entry *e = s->cur_e;

			for (; s->cur_slot < e->cap; s->cur_slot++) {
				struct kl_meta *m = e->slots[s->cur_slot];

				if (!m || m->gen == s->gen)
					continue;
				unlink_obj(s, m);
				d->change = KL_STORE_DELETE;
				d->old = m;
				return 1;
			}
		}
	}
	return 0;
}

const void *kl_store_get(const struct kl_store *s, const char *ns, const char *name)
{
	return lookup(s, kl_intern_find(s->intern, ns, (size_t)-1), name, strlen(name));
}

size_t kl_store_len(const struct kl_store *s)
{
	return s->len;
}

void kl_store_foreach(const struct kl_store *s, void (*cb)(void *arg, const void *obj),
		      void *arg)
{
	const struct ns_entry *e;
	size_t i;
	uint32_t k;

	for (i = 0; i < NS_BUCKETS; i++)
		for (e = s->ns[i]; e; e = e->next)
			for (k = 0; k < e->cap; k++)
				if (e->slots[k])
					cb(arg, e->slots[k]);
}

static const struct ns_entry *ns_find(const struct kl_store *s, const char *ns)
{
	const char *in = kl_intern_find(s->intern, ns, (size_t)-1);

	return in ? ns_get(s, in) : NULL;
}

/* The first object of e from slot k on, or NULL. */
static const void *ns_from(const struct ns_entry *e, uint32_t k)
{
	for (; e && k < e->cap; k++)
		if (e->slots[k])
			return e->slots[k];
	return NULL;
}

const void *kl_store_ns_first(const struct kl_store *s, const char *ns)
{
	return ns_from(ns_find(s, ns), 0);
}

const void *kl_store_ns_next(const struct kl_store *s, const void *obj)
{
	const struct kl_meta *m = obj;
	const struct ns_entry *e = ns_get(s, m->ns);

	return ns_from(e, slot_of_obj(e, m) + 1);
}

size_t kl_store_ns_len(const struct kl_store *s, const char *ns)
{
	const struct ns_entry *e = ns_find(s, ns);

	return e ? e->n : 0;
}
