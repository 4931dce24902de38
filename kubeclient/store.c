/*
 * kubeclient/store.c - projected objects by namespace/name, with a namespace index
 * (see store.h).
 *
 * Objects are chained through kl_meta.store_next in a power-of-two bucket array
 * that doubles past one object per bucket; the hash mixes the two interned key
 * pointers. The namespace index is a second small hash of namespace entries, each
 * heading a doubly linked list through kl_meta.ns_prev/ns_next; an entry lives
 * while it has objects and borrows the namespace string from them.
 */
#include "kubeclient/store.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kubeclient/pb.h"

#define NS_BUCKETS 1024

struct ns_entry {
	const char *ns;
	struct kl_meta *head;
	size_t n;
	struct ns_entry *next;
};

struct kl_store {
	const struct kl_store_type *type;
	struct kl_intern *intern;
	const struct kl_objects_opts *opts;
	struct kl_meta **buckets;
	size_t nbuckets, len;
	struct ns_entry *ns[NS_BUCKETS];
	uint32_t gen;
	size_t cursor; /* take_unseen's scan position */
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

static size_t hash2(const void *a, const void *b)
{
	uint64_t x = (uint64_t)(uintptr_t)a * 0x9e3779b97f4a7c15ULL;

	x ^= (uint64_t)(uintptr_t)b + 0x7f4a7c159e3779b9ULL + (x << 6) + (x >> 2);
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	return (size_t)x;
}

static struct kl_meta **slot(const struct kl_store *s, const char *ns, const char *name)
{
	return &s->buckets[hash2(ns, name) & (s->nbuckets - 1)];
}

static struct ns_entry **ns_slot(struct kl_store *s, const char *ns)
{
	return &s->ns[hash2(ns, NULL) & (NS_BUCKETS - 1)];
}

static int grow(struct kl_store *s)
{
	size_t n = s->nbuckets * 2, i;
	struct kl_meta **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (i = 0; i < s->nbuckets; i++) {
		struct kl_meta *m = s->buckets[i], *next;

		for (; m; m = next) {
			size_t h = hash2(m->ns, m->name) & (n - 1);

			next = m->store_next;
			m->store_next = b[h];
			b[h] = m;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
	s->cursor = 0;
	return 0;
}

/* ---------------------------------------------------------------- link/unlink */

static int link_obj(struct kl_store *s, struct kl_meta *m)
{
	struct kl_meta **b;
	struct ns_entry **pe = ns_slot(s, m->ns), *e;

	for (e = *pe; e && e->ns != m->ns; e = e->next)
		;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->ns = m->ns;
		e->next = *pe;
		*pe = e;
	}
	m->ns_prev = NULL;
	m->ns_next = e->head;
	if (e->head)
		e->head->ns_prev = m;
	e->head = m;
	e->n++;
	b = slot(s, m->ns, m->name);
	m->store_next = *b;
	*b = m;
	s->len++;
	return 0;
}

static void unlink_obj(struct kl_store *s, struct kl_meta *m)
{
	struct kl_meta **pp = slot(s, m->ns, m->name);
	struct ns_entry **pe = ns_slot(s, m->ns), *e;

	while (*pp != m)
		pp = (struct kl_meta **)&(*pp)->store_next;
	*pp = m->store_next;
	m->store_next = NULL;
	for (; (e = *pe)->ns != m->ns; pe = &e->next)
		;
	if (m->ns_prev)
		((struct kl_meta *)m->ns_prev)->ns_next = m->ns_next;
	else
		e->head = m->ns_next;
	if (m->ns_next)
		((struct kl_meta *)m->ns_next)->ns_prev = m->ns_prev;
	m->ns_prev = m->ns_next = NULL;
	if (--e->n == 0) {
		*pe = e->next;
		free(e);
	}
	s->len--;
}

static struct kl_meta *lookup(const struct kl_store *s, const char *ns, const char *name)
{
	struct kl_meta *m;

	if (!ns || !name)
		return NULL;
	for (m = *slot(s, ns, name); m; m = m->store_next)
		if (m->ns == ns && m->name == name)
			return m;
	return NULL;
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
		      kl_intern_find(s->intern, name->str, name->len));
}

static uint64_t json_rv(const struct kl_json *j)
{
	const char *rv = kl_json_str(kl_json_path(j, "metadata", "resourceVersion", NULL), "");
	char *end;
	uint64_t v;

	if (!*rv)
		return 0;
	v = strtoull(rv, &end, 10);
	return *end ? 0 : v;
}

/* ---------------------------------------------------------------- interface */

struct kl_store *kl_store_new(const struct kl_store_type *type, struct kl_intern *t,
			      const struct kl_objects_opts *o)
{
	struct kl_store *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->nbuckets = 256;
	s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
	if (!s->buckets) {
		free(s);
		return NULL;
	}
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

	if (!s)
		return;
	for (i = 0; i < s->nbuckets; i++) {
		struct kl_meta *m = s->buckets[i], *next;

		for (; m; m = next) {
			next = m->store_next;
			kl_store_dispose(s, m);
		}
	}
	for (i = 0; i < NS_BUCKETS; i++) {
		struct ns_entry *e = s->ns[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(s->buckets);
	free(s);
}

/* Puts the projected m in place of cur (may be NULL) and says so in d. */
static int replace(struct kl_store *s, struct kl_meta *cur, struct kl_meta *m,
		   struct kl_store_delta *d)
{
	int rc;

	/* link the new one first: with cur present its namespace entry exists, so
	 * linking cannot fail, and unlinking finds cur by identity */
	m->gen = s->gen;
	rc = link_obj(s, m);
	if (rc < 0) {
		kl_store_dispose(s, m);
		return rc;
	}
	if (cur)
		unlink_obj(s, cur);
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
	if (s->len >= s->nbuckets && grow(s) < 0)
		return -ENOMEM;
	rc = s->type->project(s->intern, s->opts, j, &obj);
	if (rc < 0)
		return rc;
	return replace(s, cur, obj, d);
}

int kl_store_upsert_pb(struct kl_store *s, const uint8_t *data, size_t len,
		       struct kl_store_delta *d)
{
	struct kl_meta *cur, *m;
	void *obj;
	int rc;

	memset(d, 0, sizeof(*d));
	if (s->len >= s->nbuckets && grow(s) < 0)
		return -ENOMEM;
	rc = s->type->project_pb(s->intern, s->opts, data, len, &obj);
	if (rc < 0)
		return rc;
	m = obj;
	cur = lookup(s, m->ns, m->name);
	if (unchanged(s, cur, m->rv, d)) {
		kl_store_dispose(s, m);
		return 0;
	}
	return replace(s, cur, m, d);
}

int kl_store_remove(struct kl_store *s, const struct kl_json *j, struct kl_store_delta *d)
{
	struct kl_meta *cur = lookup_json(s, j);

	memset(d, 0, sizeof(*d));
	if (!cur)
		return 0;
	unlink_obj(s, cur);
	d->change = KL_STORE_DELETE;
	d->old = cur;
	return 0;
}

int kl_store_remove_pb(struct kl_store *s, const uint8_t *data, size_t len,
		       struct kl_store_delta *d)
{
	struct kl_meta *m;
	void *obj;
	int rc = s->type->project_pb(s->intern, s->opts, data, len, &obj);

	memset(d, 0, sizeof(*d));
	if (rc < 0)
		return rc;
	m = obj;
	d->old = lookup(s, m->ns, m->name);
	kl_store_dispose(s, m);
	if (!d->old)
		return 0;
	unlink_obj(s, d->old);
	d->change = KL_STORE_DELETE;
	return 0;
}

void kl_store_sync_begin(struct kl_store *s)
{
	s->gen++;
	s->cursor = 0;
}

int kl_store_take_unseen(struct kl_store *s, struct kl_store_delta *d)
{
	memset(d, 0, sizeof(*d));
	for (; s->cursor < s->nbuckets; s->cursor++) {
		struct kl_meta *m;

		for (m = s->buckets[s->cursor]; m; m = m->store_next) {
			if (m->gen == s->gen)
				continue;
			unlink_obj(s, m);
			d->change = KL_STORE_DELETE;
			d->old = m;
			return 1;
		}
	}
	return 0;
}

const void *kl_store_get(const struct kl_store *s, const char *ns, const char *name)
{
	return lookup(s, kl_intern_find(s->intern, ns, (size_t)-1),
		      kl_intern_find(s->intern, name, (size_t)-1));
}

size_t kl_store_len(const struct kl_store *s)
{
	return s->len;
}

void kl_store_foreach(const struct kl_store *s, void (*cb)(void *arg, const void *obj),
		      void *arg)
{
	size_t i;

	for (i = 0; i < s->nbuckets; i++) {
		const struct kl_meta *m;

		for (m = s->buckets[i]; m; m = m->store_next)
			cb(arg, m);
	}
}

static const struct ns_entry *ns_find(const struct kl_store *s, const char *ns)
{
	const char *in = kl_intern_find(s->intern, ns, (size_t)-1);
	const struct ns_entry *e;

	if (!in)
		return NULL;
	for (e = s->ns[hash2(in, NULL) & (NS_BUCKETS - 1)]; e; e = e->next)
		if (e->ns == in)
			return e;
	return NULL;
}

const void *kl_store_ns_first(const struct kl_store *s, const char *ns)
{
	const struct ns_entry *e = ns_find(s, ns);

	return e ? e->head : NULL;
}

const void *kl_store_ns_next(const void *obj)
{
	return ((const struct kl_meta *)obj)->ns_next;
}

size_t kl_store_ns_len(const struct kl_store *s, const char *ns)
{
	const struct ns_entry *e = ns_find(s, ns);

	return e ? e->n : 0;
}
