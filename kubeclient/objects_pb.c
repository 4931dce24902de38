/*
 * kubeclient/objects_pb.c - project protobuf Pods, Namespaces and Deployments into
 * the same structs as objects.c does from JSON (see pb.h, objects.h).
 *
 * Design: each object's message is read once, field by field, with pbwire.h (why
 * not nanopb: see there); every field we do not keep is skipped by its length.
 * Strings are recorded as slices of the input, maps keep only the keys we look
 * for, repeated messages are read one at a time into a small scratch. Then the
 * object is allocated once (a pod's container count now known) and filled,
 * interning only the strings it keeps. The field numbers are those of
 * Kubernetes 1.20's generated.proto (k8s.io/api/core/v1, apps/v1, apimachinery's
 * meta/v1), named beside each case.
 *
 * The results equal the JSON projection's for what the API server sends. Where the
 * encodings differ the JSON rules are kept: Go writes a protobuf string even when
 * empty, where JSON omits an `omitempty` field, so an empty waiting or terminated
 * reason, nodeName, uid or phase reads as absent, as in JSON.
 */
#include "kubeclient/pb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kubeclient/internal.h"
#include "kubeclient/pbwire.h"

/* As in objects.c: more containers than this is not a pod we believe. */
#define MAX_CONTAINERS 1000
#define LOCAL_CONTAINERS 8

/* A string field's bytes inside the object's message; set false when absent. */
typedef struct {
	const uint8_t *p;
	size_t len;
	bool set;
} slice_t;

typedef struct kl__pbw_field field_t;

/* ---------------------------------------------------------------- reading */

/* Called for each field of a message: 0 to go on, a negative errno to stop. */
typedef int (*field_fn)(const field_t *f, void *arg);

/* Every field of the message r: 0, fn's error, or -EINVAL when malformed. */
static int each_in(struct kl__pbw r, field_fn fn, void *arg)
{
	field_t f;
	int rc;

	while ((rc = kl__pbw_next(&r, &f)) > 0)
		if ((rc = fn(&f, arg)) < 0)
			return rc;
	return rc < 0 ? -EINVAL : 0;
}

/* The same for a field holding a message. */
static int each_field(const field_t *m, field_fn fn, void *arg)
{
	if (!kl__pbw_want(m, KL_PBW_BYTES))
		return -EINVAL;
	return each_in(kl__pbw_sub(m), fn, arg);
}

static int str_read(const field_t *f, slice_t *s)
{
	if (!kl__pbw_want(f, KL_PBW_BYTES))
		return -EINVAL;
	s->p = f->p;
	s->len = f->len;
	s->set = true;
	return 0;
}

static int int32_read(const field_t *f, int32_t *v)
{
	return kl__pbw_want(f, KL_PBW_VARINT) && kl__pbw_int32(f, v) ? 0 : -EINVAL;
}

static int int64_read(const field_t *f, int64_t *v)
{
	if (!kl__pbw_want(f, KL_PBW_VARINT))
		return -EINVAL;
	*v = (int64_t)f->v;
	return 0;
}

static int bool_read(const field_t *f, bool *v)
{
	if (!kl__pbw_want(f, KL_PBW_VARINT))
		return -EINVAL;
	*v = f->v != 0;
	return 0;
}

/* meta.v1.Time{seconds = 1}: the seconds into *arg (int64_t), kept when absent. */
static int time_field(const field_t *f, void *arg)
{
	return f->num == 1 ? int64_read(f, arg) : 0;
}

static int time_read(const field_t *f, int64_t *secs)
{
	return each_field(f, time_field, secs);
}

/*
 * A message of which we keep the string field 1 (into *arg, a slice_t):
 * ContainerStateWaiting{reason = 1}, Container{name = 1}, NamespaceStatus{phase = 1}.
 */
static int str1_field(const field_t *f, void *arg)
{
	return f->num == 1 ? str_read(f, arg) : 0;
}

/* ---------------------------------------------------------------- scalars */

static bool slice_is(const slice_t *s, const char *str)
{
	size_t n = strlen(str);

	return s->set && s->len == n && !memcmp(s->p, str, n);
}

static bool slice_eq(const slice_t *a, const slice_t *b)
{
	return a->len == b->len && !memcmp(a->p, b->p, a->len);
}

/* A Time's seconds as 32-bit Unix seconds, with parse_time()'s rules in objects.c. */
static uint32_t time_of(int64_t secs)
{
	if (secs <= 0)
		return 0;
	return secs > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)secs;
}

/*
 * Interns a slice into *out (NULL when absent; also when empty if omitempty, the
 * JSON of such a field having no key then). -ENOMEM with *out NULL.
 */
static int take(struct kl_intern *t, const slice_t *s, bool omitempty, const char **out)
{
	*out = NULL;
	if (!s->set || (omitempty && !s->len))
		return 0;
	/* a field set without bytes (a map value Go left out) has no pointer */
	*out = kl_intern_get(t, s->len ? (const char *)s->p : "", s->len);
	return *out ? 0 : -ENOMEM;
}

/* ---------------------------------------------------------------- metadata */

/* Map keys looked for in labels/annotations, and what they hold. */
#define META_KEYS 4
struct meta_keys {
	const char *key[META_KEYS];
	slice_t val[META_KEYS];
};

struct meta_scratch {
	bool has; /* the object had metadata */
	bool owners; /* read ownerReferences (pods) */
	slice_t name, ns, uid, rv;
	int64_t generation, created, deleting;
	struct meta_keys labels, annotations;
	slice_t owner_kind, owner_name;
	bool owner, owner_controller;
};

/* A map<string, string> entry{key = 1, value = 2}. */
struct map_entry {
	slice_t key, val;
};

static int map_entry_field(const field_t *f, void *arg)
{
	struct map_entry *e = arg;

	if (f->num == 1)
		return str_read(f, &e->key);
	if (f->num == 2)
		return str_read(f, &e->val);
	return 0;
}

static int map_entry_read(const field_t *f, struct meta_keys *mk)
{
	struct map_entry e = { 0 };
	unsigned i;
	int rc;

	if (!mk->key[0]) /* none looked for: not even read */
		return 0;
	if ((rc = each_field(f, map_entry_field, &e)))
		return rc;
	for (i = 0; i < META_KEYS && mk->key[i]; i++) {
		if (e.key.set && slice_is(&e.key, mk->key[i])) {
			mk->val[i] = e.val;
			mk->val[i].set = true; /* a value Go left out is "" */
		}
	}
	return 0;
}

/* OwnerReference{kind = 1, name = 3, controller = 6}. */
struct owner_ref {
	slice_t kind, name;
	bool controller;
};

static int owner_field(const field_t *f, void *arg)
{
	struct owner_ref *o = arg;

	switch (f->num) {
	case 1:
		return str_read(f, &o->kind);
	case 3:
		return str_read(f, &o->name);
	case 6:
		return bool_read(f, &o->controller);
	}
	return 0;
}

/* The controller ownerReference, else the first one. */
static int owner_read(const field_t *f, struct meta_scratch *ms)
{
	struct owner_ref o = { 0 };
	int rc;

	if (!ms->owners)
		return 0;
	if ((rc = each_field(f, owner_field, &o)))
		return rc;
	if (ms->owner_controller || (ms->owner && !o.controller))
		return 0;
	ms->owner = true;
	ms->owner_controller = o.controller;
	/* JSON always has kind and name: a missing one reads "" */
	ms->owner_kind = o.kind;
	ms->owner_kind.set = true;
	ms->owner_name = o.name;
	ms->owner_name.set = true;
	return 0;
}

/*
 * ObjectMeta{name = 1, namespace = 3, uid = 5, resourceVersion = 6, generation = 7,
 * creationTimestamp = 8, deletionTimestamp = 9, labels = 11, annotations = 12,
 * ownerReferences = 13}.
 */
static int meta_field(const field_t *f, void *arg)
{
	struct meta_scratch *ms = arg;

	switch (f->num) {
	case 1:
		return str_read(f, &ms->name);
	case 3:
		return str_read(f, &ms->ns);
	case 5:
		return str_read(f, &ms->uid);
	case 6:
		return str_read(f, &ms->rv);
	case 7:
		return int64_read(f, &ms->generation);
	case 8:
		return time_read(f, &ms->created);
	case 9:
		return time_read(f, &ms->deleting);
	case 11:
		return map_entry_read(f, &ms->labels);
	case 12:
		return map_entry_read(f, &ms->annotations);
	case 13:
		return owner_read(f, ms);
	}
	return 0;
}

/* Field 1 of every object. */
static int meta_read(const field_t *f, struct meta_scratch *ms)
{
	ms->has = true;
	return each_field(f, meta_field, ms);
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" in lower-case hex, as objects.c reads it. */
static bool uuid_of(const slice_t *s, uint8_t out[16])
{
	static const char hex[] = "0123456789abcdef";
	size_t i, k = 0;

	if (s->len != 36)
		return false;
	for (i = 0; i < 36; i++) {
		const char *hi, *lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s->p[i] != '-')
				return false;
			continue;
		}
		hi = s->p[i] ? memchr(hex, s->p[i], 16) : NULL;
		lo = s->p[i + 1] ? memchr(hex, s->p[i + 1], 16) : NULL;
		i++;
		if (!hi || !lo)
			return false;
		out[k++] = (uint8_t)((hi - hex) << 4 | (lo - hex));
	}
	return k == 16;
}

/* object_new() of objects.c: fixed zeroed bytes, then the name. -EINVAL or -ENOMEM. */
static int object_new(const struct meta_scratch *ms, size_t fixed, void **out)
{
	*out = NULL;
	if (!ms->has || !ms->name.set || !ms->name.len)
		return -EINVAL;
	*out = kl__object_new(fixed, (const char *)ms->name.p, ms->name.len);
	return *out ? 0 : -ENOMEM;
}

/* meta_project() of objects.c from the metadata read (the name is in place). */
static int meta_fill(struct kl_intern *t, const struct meta_scratch *ms, struct kl_meta *m)
{
	int rc;

	m->ns = kl_intern_get(t, ms->ns.set ? (const char *)ms->ns.p : "", ms->ns.set ? ms->ns.len : 0);
	if (!m->ns)
		return -ENOMEM;
	if (ms->uid.set && uuid_of(&ms->uid, m->uid.bytes)) {
		m->uid_kind = KL_UID_UUID;
	} else if (ms->uid.set && ms->uid.len) {
		if ((rc = take(t, &ms->uid, false, &m->uid.str)))
			return rc;
		m->uid_kind = KL_UID_STRING;
	}
	m->rv = ms->rv.set ? kl_rv_parse((const char *)ms->rv.p, ms->rv.len) : 0;
	m->created = time_of(ms->created);
	m->deleting = time_of(ms->deleting);
	return 0;
}

/* ---------------------------------------------------------------- pods */

/* ContainerState{waiting = 1 {reason = 1}, running = 2 {startedAt = 1},
 * terminated = 3 {exitCode = 1, reason = 3, finishedAt = 6}}: what we keep. */
struct cstate {
	slice_t waiting, terminated;
	int64_t running_since, finished;
	int32_t exit_code;
};

static int running_field(const field_t *f, void *arg)
{
	return f->num == 1 ? time_read(f, arg) : 0;
}

static int terminated_field(const field_t *f, void *arg)
{
	struct cstate *cs = arg;

	switch (f->num) {
	case 1:
		return int32_read(f, &cs->exit_code);
	case 3:
		return str_read(f, &cs->terminated);
	case 6:
		return time_read(f, &cs->finished);
	}
	return 0;
}

static int state_field(const field_t *f, void *arg)
{
	struct cstate *cs = arg;

	switch (f->num) {
	case 1:
		return each_field(f, str1_field, &cs->waiting);
	case 2:
		return each_field(f, running_field, &cs->running_since);
	case 3:
		return each_field(f, terminated_field, cs);
	}
	return 0;
}

/* One container: a status entry, or a spec entry's name alone. */
struct centry {
	slice_t name;
	struct cstate now, last;
	int32_t restarts;
	bool ready, status;
};

/* A growing array of entries: on the stack up to LOCAL_CONTAINERS, then the heap. */
struct cvec {
	struct centry *v;
	size_t n, cap;
	struct centry local[LOCAL_CONTAINERS];
};

/* A new zeroed entry; NULL with *rc set (-EINVAL: too many, as in JSON; -ENOMEM). */
static struct centry *cvec_add(struct cvec *cv, int *rc)
{
	if (cv->n == cv->cap) {
		size_t cap = cv->cap * 2 < MAX_CONTAINERS ? cv->cap * 2 : MAX_CONTAINERS;
		struct centry *v;

		*rc = -EINVAL;
		if (cv->n >= MAX_CONTAINERS)
			return NULL;
		*rc = -ENOMEM;
		if (cv->v == cv->local) {
			v = malloc(cap * sizeof(*v));
			if (v)
				memcpy(v, cv->local, sizeof(cv->local));
		} else {
			v = realloc(cv->v, cap * sizeof(*v));
		}
		if (!v)
			return NULL;
		cv->v = v;
		cv->cap = cap;
	}
	memset(&cv->v[cv->n], 0, sizeof(cv->v[0]));
	return &cv->v[cv->n++];
}

static void cvec_init(struct cvec *cv)
{
	cv->v = cv->local;
	cv->n = 0;
	cv->cap = LOCAL_CONTAINERS;
}

static void cvec_fini(struct cvec *cv)
{
	if (cv->v != cv->local)
		free(cv->v);
}

/* ContainerStatus{name = 1, state = 2, lastState = 3, ready = 4, restartCount = 5}. */
static int status_field(const field_t *f, void *arg)
{
	struct centry *e = arg;

	switch (f->num) {
	case 1:
		return str_read(f, &e->name);
	case 2:
		return each_field(f, state_field, &e->now);
	case 3:
		return each_field(f, state_field, &e->last);
	case 4:
		return bool_read(f, &e->ready);
	case 5:
		return int32_read(f, &e->restarts);
	}
	return 0;
}

static int status_read(const field_t *f, struct cvec *cv)
{
	int rc;
	struct centry *e = cvec_add(cv, &rc);

	if (!e)
		return rc;
	e->status = true;
	return each_field(f, status_field, e);
}

static int spec_container_read(const field_t *f, struct cvec *cv)
{
	int rc;
	struct centry *e = cvec_add(cv, &rc);

	if (!e)
		return rc;
	return each_field(f, str1_field, &e->name); /* Container{name = 1} */
}

struct pod_scratch {
	struct meta_scratch meta;
	struct cvec ist, isp, cst, csp; /* init and regular: statuses and spec entries */
	slice_t phase, node;
	bool ready_seen, ready;
	uint32_t ready_changed;
};

/* PodCondition{type = 1, status = 2, lastTransitionTime = 4}. */
struct condition {
	slice_t type, status;
	int64_t changed;
};

static int condition_field(const field_t *f, void *arg)
{
	struct condition *c = arg;

	switch (f->num) {
	case 1:
		return str_read(f, &c->type);
	case 2:
		return str_read(f, &c->status);
	case 4:
		return time_read(f, &c->changed);
	}
	return 0;
}

/* The first Ready condition. */
static int condition_read(const field_t *f, struct pod_scratch *ps)
{
	struct condition c = { 0 };
	int rc;

	if ((rc = each_field(f, condition_field, &c)))
		return rc;
	if (ps->ready_seen || !slice_is(&c.type, "Ready"))
		return 0;
	ps->ready_seen = true;
	ps->ready = slice_is(&c.status, "True");
	ps->ready_changed = time_of(c.changed);
	return 0;
}

/* PodSpec{containers = 2, nodeName = 10, initContainers = 20}. */
static int spec_field(const field_t *f, void *arg)
{
	struct pod_scratch *ps = arg;

	switch (f->num) {
	case 2:
		return spec_container_read(f, &ps->csp);
	case 10:
		return str_read(f, &ps->node);
	case 20:
		return spec_container_read(f, &ps->isp);
	}
	return 0;
}

/* PodStatus{phase = 1, conditions = 2, containerStatuses = 8, initContainerStatuses = 10}. */
static int pod_status_field(const field_t *f, void *arg)
{
	struct pod_scratch *ps = arg;

	switch (f->num) {
	case 1:
		return str_read(f, &ps->phase);
	case 2:
		return condition_read(f, ps);
	case 8:
		return status_read(f, &ps->cst);
	case 10:
		return status_read(f, &ps->ist);
	}
	return 0;
}

/* Pod{metadata = 1, spec = 2, status = 3}. */
static int pod_field(const field_t *f, void *arg)
{
	struct pod_scratch *ps = arg;

	switch (f->num) {
	case 1:
		return meta_read(f, &ps->meta);
	case 2:
		return each_field(f, spec_field, ps);
	case 3:
		return each_field(f, pod_status_field, ps);
	}
	return 0;
}

static enum kl_pod_phase phase_of(const slice_t *s)
{
	int i;

	if (!s->set || !s->len)
		return KL_POD_PENDING;
	for (i = KL_POD_PENDING; i <= KL_POD_UNKNOWN; i++)
		if (slice_is(s, kl_pod_phase_name((enum kl_pod_phase)i)))
			return (enum kl_pod_phase)i;
	return KL_POD_UNKNOWN;
}

static bool has_status(const struct cvec *statuses, const slice_t *name)
{
	size_t i;

	for (i = 0; i < statuses->n; i++)
		if (statuses->v[i].name.set && slice_eq(&statuses->v[i].name, name))
			return true;
	return false;
}

/* Fills c from an entry (a status, or a spec name alone). */
static int container_fill(struct kl_intern *t, const struct centry *e, bool init,
			  struct kl_container *c)
{
	const char *r;
	int rc;

	c->init = init;
	if ((rc = take(t, &e->name, false, &c->name)) || !e->status)
		return rc;
	c->ready = e->ready;
	c->restarts = kl_restarts(e->restarts);
	/* through r: the state is packed (objects.h) */
	rc = take(t, &e->now.waiting, true, &r);
	c->state.waiting_reason = r;
	if (rc)
		return rc;
	c->state.running_since = time_of(e->now.running_since);
	rc = take(t, &e->now.terminated, true, &r);
	c->state.terminated_reason = r;
	if (rc)
		return rc;
	c->state.exit_code = e->now.exit_code;
	c->state.finished = time_of(e->now.finished);
	c->last.exit_code = e->last.exit_code;
	c->last.finished = time_of(e->last.finished);
	return take(t, &e->last.terminated, true, &c->last.terminated_reason);
}

/*
 * containers_walk() of objects.c: every named status entry in order, then each
 * named spec entry without a status. With p NULL it only counts.
 */
static int containers_walk(struct kl_intern *t, const struct cvec *statuses,
			   const struct cvec *specs, bool init, struct kl_pod *p, size_t *n)
{
	size_t i;
	int rc;

	for (i = 0; i < statuses->n + specs->n; i++) {
		const struct centry *e = i < statuses->n ? &statuses->v[i]
							 : &specs->v[i - statuses->n];

		if (!e->name.set || (!e->status && has_status(statuses, &e->name)))
			continue;
		if (p) {
			p->ncontainers = (uint16_t)(*n + 1);
			if ((rc = container_fill(t, e, init, &p->containers[*n])))
				return rc;
		}
		if (++*n > MAX_CONTAINERS)
			return -EINVAL;
	}
	return 0;
}

static int containers_fill(struct kl_intern *t, const struct pod_scratch *ps, struct kl_pod *p,
			   size_t *n)
{
	int rc;

	*n = 0;
	if ((rc = containers_walk(t, &ps->ist, &ps->isp, true, p, n)))
		return rc;
	return containers_walk(t, &ps->cst, &ps->csp, false, p, n);
}

static int pod_build(struct kl_intern *t, const struct pod_scratch *ps, struct kl_pod **out)
{
	const struct meta_scratch *ms = &ps->meta;
	struct kl_pod *p;
	size_t n;
	int rc;

	/* count, then fill one block of exactly that size */
	if ((rc = containers_fill(t, ps, NULL, &n)))
		return rc;
	if ((rc = object_new(ms, sizeof(*p) + n * sizeof(p->containers[0]), (void **)&p)))
		return rc;
	if ((rc = meta_fill(t, ms, &p->meta)))
		goto out_free;
	p->phase = (uint8_t)phase_of(&ps->phase);
	p->ready = ps->ready;
	p->ready_changed = ps->ready_changed;
	if (ms->owner && ((rc = take(t, &ms->owner_kind, false, &p->owner_kind)) ||
			  (rc = take(t, &ms->owner_name, false, &p->owner_name))))
		goto out_free;
	if ((rc = take(t, &ps->node, true, &p->node)))
		goto out_free;
	if ((rc = containers_fill(t, ps, p, &n)))
		goto out_free;
	*out = p;
	return 0;

out_free:
	kl_pod_free(t, p);
	return rc;
}

int kl_pod_project_pb(struct kl_intern *t, const struct kl_objects_opts *o, const uint8_t *data,
		      size_t len, struct kl_pod **out)
{
	struct pod_scratch ps = { 0 };
	int rc;

	(void)o;
	*out = NULL;
	ps.meta.owners = true;
	cvec_init(&ps.ist);
	cvec_init(&ps.isp);
	cvec_init(&ps.cst);
	cvec_init(&ps.csp);
	rc = each_in(kl__pbw_of(data, len), pod_field, &ps);
	if (!rc)
		rc = pod_build(t, &ps, out);
	cvec_fini(&ps.ist);
	cvec_fini(&ps.isp);
	cvec_fini(&ps.cst);
	cvec_fini(&ps.csp);
	return rc;
}

/* ---------------------------------------------------------------- namespaces */

struct ns_scratch {
	struct meta_scratch meta;
	slice_t phase;
};

/* Namespace{metadata = 1, status = 3}. */
static int ns_field(const field_t *f, void *arg)
{
	struct ns_scratch *s = arg;

	if (f->num == 1)
		return meta_read(f, &s->meta);
	if (f->num == 3)
		return each_field(f, str1_field, &s->phase); /* NamespaceStatus */
	return 0;
}

int kl_namespace_project_pb(struct kl_intern *t, const struct kl_objects_opts *o,
			    const uint8_t *data, size_t len, struct kl_namespace **res)
{
	struct ns_scratch s = { 0 };
	const struct meta_scratch *ms = &s.meta;
	const slice_t *team = NULL;
	struct kl_namespace *out;
	int rc;

	*res = NULL;
	if (o && o->team_annotation) {
		s.meta.labels.key[0] = o->team_annotation;
		s.meta.annotations.key[0] = o->team_annotation;
	}
	if ((rc = each_in(kl__pbw_of(data, len), ns_field, &s)))
		return rc;
	if ((rc = object_new(ms, sizeof(*out), (void **)&out)))
		return rc;
	if ((rc = meta_fill(t, ms, &out->meta)) || (rc = take(t, &ms->name, false, &out->interned)))
		goto out_release;
	/* the annotation, else the label */
	if (ms->annotations.val[0].set)
		team = &ms->annotations.val[0];
	else if (ms->labels.val[0].set)
		team = &ms->labels.val[0];
	if (team && (rc = take(t, team, false, &out->team)))
		goto out_release;
	out->terminating = slice_is(&s.phase, "Terminating");
	*res = out;
	return 0;

out_release:
	kl_namespace_free(t, out);
	return rc;
}

/* ---------------------------------------------------------------- deployments */

static const char *const deploy_keys[META_KEYS] = {
	"kloompas.io/min-replicas",
	"kloompas.io/max-replicas",
	"kloompas.io/restore-replicas",
	"kloompas.io/restore-at",
};

struct deploy_scratch {
	struct meta_scratch meta;
	bool has_replicas;
	int32_t spec_replicas, replicas, updated, available, ready;
	int64_t observed;
};

/* DeploymentSpec{replicas = 1}. */
static int deploy_spec_field(const field_t *f, void *arg)
{
	struct deploy_scratch *s = arg;

	if (f->num != 1)
		return 0;
	s->has_replicas = true;
	return int32_read(f, &s->spec_replicas);
}

/* DeploymentStatus{observedGeneration = 1, replicas = 2, updatedReplicas = 3,
 * availableReplicas = 4, readyReplicas = 7}. */
static int deploy_status_field(const field_t *f, void *arg)
{
	struct deploy_scratch *s = arg;

	switch (f->num) {
	case 1:
		return int64_read(f, &s->observed);
	case 2:
		return int32_read(f, &s->replicas);
	case 3:
		return int32_read(f, &s->updated);
	case 4:
		return int32_read(f, &s->available);
	case 7:
		return int32_read(f, &s->ready);
	}
	return 0;
}

/* Deployment{metadata = 1, spec = 2, status = 3}. */
static int deploy_field(const field_t *f, void *arg)
{
	struct deploy_scratch *s = arg;

	switch (f->num) {
	case 1:
		return meta_read(f, &s->meta);
	case 2:
		return each_field(f, deploy_spec_field, s);
	case 3:
		return each_field(f, deploy_status_field, s);
	}
	return 0;
}

int kl_deployment_project_pb(struct kl_intern *t, const struct kl_objects_opts *o,
			     const uint8_t *data, size_t len, struct kl_deployment **res)
{
	struct deploy_scratch s = { 0 };
	const struct meta_scratch *ms = &s.meta;
	const slice_t *v = ms->annotations.val;
	struct kl_deployment *out;
	int rc;

	(void)o;
	*res = NULL;
	memcpy(s.meta.annotations.key, deploy_keys, sizeof(deploy_keys));
	if ((rc = each_in(kl__pbw_of(data, len), deploy_field, &s)))
		return rc;
	if ((rc = object_new(ms, sizeof(*out), (void **)&out)))
		return rc;
	if ((rc = meta_fill(t, ms, &out->meta)))
		goto out_release;
	out->generation = ms->generation;
	out->observed_generation = s.observed;
	out->spec_replicas = s.has_replicas ? s.spec_replicas : -1;
	out->replicas = s.replicas;
	out->ready_replicas = s.ready;
	out->available_replicas = s.available;
	out->updated_replicas = s.updated;
	if ((rc = take(t, &v[0], false, &out->min_replicas)) ||
	    (rc = take(t, &v[1], false, &out->max_replicas)) ||
	    (rc = take(t, &v[2], false, &out->restore_replicas)) ||
	    (rc = take(t, &v[3], false, &out->restore_at)))
		goto out_release;
	*res = out;
	return 0;

out_release:
	kl_deployment_free(t, out);
	return rc;
}

/* ---------------------------------------------------------------- rv, Status */

/* Any object's metadata (field 1): its resourceVersion alone. */
static int rv_field(const field_t *f, void *arg)
{
	return f->num == 6 ? str_read(f, arg) : 0;
}

static int object_rv_field(const field_t *f, void *arg)
{
	return f->num == 1 ? each_field(f, rv_field, arg) : 0;
}

int kl_pb_meta_rv(const uint8_t *data, size_t len, char *rv, size_t size)
{
	slice_t s = { 0 };

	if (each_in(kl__pbw_of(data, len), object_rv_field, &s))
		return -EINVAL;
	if (!s.set || !s.len)
		return -ENOENT;
	if (s.len >= size)
		return -EINVAL;
	kl__pbw_copy(s.p, s.len, rv, size);
	return 0;
}

/* meta.v1.Status{message = 3, reason = 4, code = 6}. */
struct status_scratch {
	slice_t message, reason;
	int32_t code;
};

static int status_msg_field(const field_t *f, void *arg)
{
	struct status_scratch *s = arg;

	switch (f->num) {
	case 3:
		return str_read(f, &s->message);
	case 4:
		return str_read(f, &s->reason);
	case 6:
		return int32_read(f, &s->code);
	}
	return 0;
}

int kl_pb_status(const uint8_t *data, size_t len, int *code, char *reason, size_t reason_size,
		 char *message, size_t message_size)
{
	struct status_scratch s = { 0 };

	if (each_in(kl__pbw_of(data, len), status_msg_field, &s))
		return -EINVAL;
	*code = s.code;
	kl__pbw_copy(s.reason.p, s.reason.len, reason, reason_size);
	kl__pbw_copy(s.message.p, s.message.len, message, message_size);
	return 0;
}
