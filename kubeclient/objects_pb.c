/*
 * kubeclient/objects_pb.c - project protobuf Pods, Namespaces and Deployments into
 * the same structs as objects.c does from JSON (see pb.h, objects.h).
 *
 * Design: nanopb decodes each object with the messages of proto/k8s.proto (a
 * trimmed copy of Kubernetes' generated.proto: every field we do not keep is
 * skipped as unknown). Every string, map and repeated field is a callback: strings
 * are recorded as slices of the input (pb_internal.h), maps keep only the keys we
 * look for, repeated messages are decoded one at a time into a small scratch. So
 * one pass over the bytes collects what is kept, with nothing allocated for the
 * rest; then the pod is allocated once (its container count now known) and
 * filled, interning only the strings it keeps.
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
#include "kubeclient/k8s.pb.h"
#include "kubeclient/pb_internal.h"

/* As in objects.c: more containers than this is not a pod we believe. */
#define MAX_CONTAINERS 1000
#define LOCAL_CONTAINERS 8

typedef struct kl__pb_slice slice_t;

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

/* A Time as 32-bit Unix seconds, with parse_time()'s rules in objects.c. */
static uint32_t time_of(bool has, const k8s_Time *t)
{
	if (!has || !t->has_seconds || t->seconds <= 0)
		return 0;
	return t->seconds > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)t->seconds;
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
	const struct kl__pb_in *in;
	const char *key[META_KEYS];
	slice_t val[META_KEYS];
};

struct meta_scratch {
	const struct kl__pb_in *in; /* the object's bytes */
	slice_t name, ns, uid, rv;
	struct meta_keys labels, annotations;
	slice_t owner_kind, owner_name;
	bool owner, owner_controller;
};

static bool map_entry_cb(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct meta_keys *mk = *arg;
	k8s_ObjectMeta_LabelsEntry e = k8s_ObjectMeta_LabelsEntry_init_zero;
	slice_t key = { 0 }, val = { 0 };
	unsigned i;

	(void)f;
	kl__pb_slice_bind(&e.key, &key, mk->in);
	kl__pb_slice_bind(&e.value, &val, mk->in);
	if (!pb_decode(st, k8s_ObjectMeta_LabelsEntry_fields, &e))
		return false;
	for (i = 0; i < META_KEYS && mk->key[i]; i++) {
		if (key.set && slice_is(&key, mk->key[i])) {
			mk->val[i] = val;
			mk->val[i].set = true; /* a value Go left out is "" */
		}
	}
	return true;
}

/* The controller ownerReference, else the first one. */
static bool owner_cb(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct meta_scratch *ms = *arg;
	k8s_OwnerReference r = k8s_OwnerReference_init_zero;
	slice_t kind = { 0 }, name = { 0 };

	(void)f;
	kl__pb_slice_bind(&r.kind, &kind, ms->in);
	kl__pb_slice_bind(&r.name, &name, ms->in);
	if (!pb_decode(st, k8s_OwnerReference_fields, &r))
		return false;
	if (ms->owner_controller || (ms->owner && !r.controller))
		return true;
	ms->owner = true;
	ms->owner_controller = r.controller;
	/* JSON always has kind and name: a missing one reads "" */
	ms->owner_kind = kind;
	ms->owner_kind.set = true;
	ms->owner_name = name;
	ms->owner_name.set = true;
	return true;
}

static void meta_bind(k8s_ObjectMeta *m, struct meta_scratch *ms)
{
	kl__pb_slice_bind(&m->name, &ms->name, ms->in);
	kl__pb_slice_bind(&m->namespace, &ms->ns, ms->in);
	kl__pb_slice_bind(&m->uid, &ms->uid, ms->in);
	kl__pb_slice_bind(&m->resourceVersion, &ms->rv, ms->in);
	ms->labels.in = ms->annotations.in = ms->in;
	if (ms->labels.key[0]) {
		m->labels.funcs.decode = map_entry_cb;
		m->labels.arg = &ms->labels;
	}
	if (ms->annotations.key[0]) {
		m->annotations.funcs.decode = map_entry_cb;
		m->annotations.arg = &ms->annotations;
	}
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
static int object_new(const struct meta_scratch *ms, bool has_md, size_t fixed, void **out)
{
	*out = NULL;
	if (!has_md || !ms->name.set || !ms->name.len)
		return -EINVAL;
	*out = kl__object_new(fixed, (const char *)ms->name.p, ms->name.len);
	return *out ? 0 : -ENOMEM;
}

/* meta_project() of objects.c from the decoded metadata (the name is in place). */
static int meta_fill(struct kl_intern *t, const struct meta_scratch *ms, const k8s_ObjectMeta *md,
		     struct kl_meta *m)
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
	m->created = time_of(md->has_creationTimestamp, &md->creationTimestamp);
	m->deleting = time_of(md->has_deletionTimestamp, &md->deletionTimestamp);
	return 0;
}

/* ---------------------------------------------------------------- pods */

/* One container: a status entry, or a spec entry's name alone. */
struct centry {
	slice_t name, waiting, terminated, last_terminated;
	k8s_ContainerStatus st; /* its scalars */
	bool status;
};

/* A growing array of entries: on the stack up to LOCAL_CONTAINERS, then the heap. */
struct cvec {
	const struct kl__pb_in *in;
	struct centry *v;
	size_t n, cap;
	struct centry local[LOCAL_CONTAINERS];
};

static struct centry *cvec_add(struct cvec *cv)
{
	if (cv->n == cv->cap) {
		size_t cap = cv->cap * 2 < MAX_CONTAINERS ? cv->cap * 2 : MAX_CONTAINERS;
		struct centry *v;

		if (cv->n >= MAX_CONTAINERS)
			return NULL; /* the decode fails: -EINVAL, as in JSON */
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

static void cvec_init(struct cvec *cv, const struct kl__pb_in *in)
{
	cv->in = in;
	cv->v = cv->local;
	cv->n = 0;
	cv->cap = LOCAL_CONTAINERS;
}

static void cvec_fini(struct cvec *cv)
{
	if (cv->v != cv->local)
		free(cv->v);
}

static bool status_cb(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct cvec *cv = *arg;
	struct centry *e = cvec_add(cv);

	(void)f;
	if (!e)
		return false;
	e->status = true;
	kl__pb_slice_bind(&e->st.name, &e->name, cv->in);
	kl__pb_slice_bind(&e->st.state.waiting.reason, &e->waiting, cv->in);
	kl__pb_slice_bind(&e->st.state.terminated.reason, &e->terminated, cv->in);
	kl__pb_slice_bind(&e->st.lastState.terminated.reason, &e->last_terminated, cv->in);
	return pb_decode(st, k8s_ContainerStatus_fields, &e->st);
}

static bool spec_container_cb(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct cvec *cv = *arg;
	struct centry *e = cvec_add(cv);
	k8s_Container c = k8s_Container_init_zero;

	(void)f;
	if (!e)
		return false;
	kl__pb_slice_bind(&c.name, &e->name, cv->in);
	return pb_decode(st, k8s_Container_fields, &c);
}

struct pod_scratch {
	struct meta_scratch meta;
	struct cvec ist, isp, cst, csp; /* init and regular: statuses and spec entries */
	slice_t phase, node;
	bool ready_seen, ready;
	uint32_t ready_changed;
};

/* The first Ready condition. */
static bool condition_cb(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct pod_scratch *ps = *arg;
	k8s_PodCondition c = k8s_PodCondition_init_zero;
	slice_t type = { 0 }, status = { 0 };

	(void)f;
	kl__pb_slice_bind(&c.type, &type, ps->meta.in);
	kl__pb_slice_bind(&c.status, &status, ps->meta.in);
	if (!pb_decode(st, k8s_PodCondition_fields, &c))
		return false;
	if (ps->ready_seen || !slice_is(&type, "Ready"))
		return true;
	ps->ready_seen = true;
	ps->ready = slice_is(&status, "True");
	ps->ready_changed = time_of(c.has_lastTransitionTime, &c.lastTransitionTime);
	return true;
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
	const k8s_ContainerStatus *s = &e->st;
	const char *r;
	int rc;

	c->init = init;
	if ((rc = take(t, &e->name, false, &c->name)) || !e->status)
		return rc;
	c->ready = s->ready;
	c->restarts = kl_restarts(s->restartCount);
	/* through r: the state is packed (objects.h) */
	rc = take(t, &e->waiting, true, &r);
	c->state.waiting_reason = r;
	if (rc)
		return rc;
	c->state.running_since =
		time_of(s->state.has_running && s->state.running.has_startedAt,
			&s->state.running.startedAt);
	rc = take(t, &e->terminated, true, &r);
	c->state.terminated_reason = r;
	if (rc)
		return rc;
	c->state.exit_code = s->state.terminated.exitCode;
	c->state.finished = time_of(s->state.terminated.has_finishedAt,
				    &s->state.terminated.finishedAt);
	c->last.exit_code = s->lastState.terminated.exitCode;
	c->last.finished = time_of(s->lastState.terminated.has_finishedAt,
				   &s->lastState.terminated.finishedAt);
	return take(t, &e->last_terminated, true, &c->last.terminated_reason);
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

/* Decodes a Pod into the scratch (its slices point into data). */
static bool pod_decode(const uint8_t *data, size_t len, struct pod_scratch *ps, k8s_Pod *pod)
{
	pb_istream_t is = pb_istream_from_buffer(data, len);

	meta_bind(&pod->metadata, &ps->meta);
	pod->metadata.ownerReferences.funcs.decode = owner_cb;
	pod->metadata.ownerReferences.arg = &ps->meta;
	pod->spec.initContainers.funcs.decode = spec_container_cb;
	pod->spec.initContainers.arg = &ps->isp;
	pod->spec.containers.funcs.decode = spec_container_cb;
	pod->spec.containers.arg = &ps->csp;
	kl__pb_slice_bind(&pod->spec.nodeName, &ps->node, ps->meta.in);
	kl__pb_slice_bind(&pod->status.phase, &ps->phase, ps->meta.in);
	pod->status.conditions.funcs.decode = condition_cb;
	pod->status.conditions.arg = ps;
	pod->status.initContainerStatuses.funcs.decode = status_cb;
	pod->status.initContainerStatuses.arg = &ps->ist;
	pod->status.containerStatuses.funcs.decode = status_cb;
	pod->status.containerStatuses.arg = &ps->cst;
	return pb_decode(&is, k8s_Pod_fields, pod);
}

static int pod_build(struct kl_intern *t, const struct pod_scratch *ps, const k8s_Pod *pod,
		     struct kl_pod **out)
{
	const struct meta_scratch *ms = &ps->meta;
	struct kl_pod *p;
	size_t n;
	int rc;

	/* count, then fill one block of exactly that size */
	if ((rc = containers_fill(t, ps, NULL, &n)))
		return rc;
	if ((rc = object_new(ms, pod->has_metadata, sizeof(*p) + n * sizeof(p->containers[0]),
			     (void **)&p)))
		return rc;
	if ((rc = meta_fill(t, ms, &pod->metadata, &p->meta)))
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
	struct kl__pb_in in = { data, data + len };
	k8s_Pod pod = k8s_Pod_init_zero;
	int rc = -EINVAL;

	(void)o;
	*out = NULL;
	ps.meta.in = &in;
	cvec_init(&ps.ist, &in);
	cvec_init(&ps.isp, &in);
	cvec_init(&ps.cst, &in);
	cvec_init(&ps.csp, &in);
	if (pod_decode(data, len, &ps, &pod))
		rc = pod_build(t, &ps, &pod, out);
	cvec_fini(&ps.ist);
	cvec_fini(&ps.isp);
	cvec_fini(&ps.cst);
	cvec_fini(&ps.csp);
	return rc;
}

/* ---------------------------------------------------------------- namespaces */

int kl_namespace_project_pb(struct kl_intern *t, const struct kl_objects_opts *o,
			    const uint8_t *data, size_t len, struct kl_namespace **res)
{
	k8s_Namespace ns = k8s_Namespace_init_zero;
	struct meta_scratch ms = { 0 };
	slice_t phase = { 0 };
	const slice_t *team = NULL;
	pb_istream_t is = pb_istream_from_buffer(data, len);
	struct kl__pb_in in = { data, data + len };
	struct kl_namespace *out;
	int rc;

	*res = NULL;
	ms.in = &in;
	if (o && o->team_annotation) {
		ms.labels.key[0] = o->team_annotation;
		ms.annotations.key[0] = o->team_annotation;
	}
	meta_bind(&ns.metadata, &ms);
	kl__pb_slice_bind(&ns.status.phase, &phase, &in);
	if (!pb_decode(&is, k8s_Namespace_fields, &ns))
		return -EINVAL;
	if ((rc = object_new(&ms, ns.has_metadata, sizeof(*out), (void **)&out)))
		return rc;
	if ((rc = meta_fill(t, &ms, &ns.metadata, &out->meta)) ||
	    (rc = take(t, &ms.name, false, &out->interned)))
		goto out_release;
	/* the annotation, else the label */
	if (ms.annotations.val[0].set)
		team = &ms.annotations.val[0];
	else if (ms.labels.val[0].set)
		team = &ms.labels.val[0];
	if (team && (rc = take(t, team, false, &out->team)))
		goto out_release;
	out->terminating = slice_is(&phase, "Terminating");
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

int kl_deployment_project_pb(struct kl_intern *t, const struct kl_objects_opts *o,
			     const uint8_t *data, size_t len, struct kl_deployment **res)
{
	k8s_Deployment d = k8s_Deployment_init_zero;
	struct meta_scratch ms = { 0 };
	pb_istream_t is = pb_istream_from_buffer(data, len);
	struct kl__pb_in in = { data, data + len };
	const slice_t *v = ms.annotations.val;
	struct kl_deployment *out;
	int rc;

	(void)o;
	*res = NULL;
	ms.in = &in;
	memcpy(ms.annotations.key, deploy_keys, sizeof(deploy_keys));
	meta_bind(&d.metadata, &ms);
	if (!pb_decode(&is, k8s_Deployment_fields, &d))
		return -EINVAL;
	if ((rc = object_new(&ms, d.has_metadata, sizeof(*out), (void **)&out)))
		return rc;
	if ((rc = meta_fill(t, &ms, &d.metadata, &out->meta)))
		goto out_release;
	out->generation = d.metadata.generation;
	out->observed_generation = d.status.observedGeneration;
	out->spec_replicas = d.spec.has_replicas ? d.spec.replicas : -1;
	out->replicas = d.status.replicas;
	out->ready_replicas = d.status.readyReplicas;
	out->available_replicas = d.status.availableReplicas;
	out->updated_replicas = d.status.updatedReplicas;
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

int kl_pb_meta_rv(const uint8_t *data, size_t len, char *rv, size_t size)
{
	k8s_Namespace obj = k8s_Namespace_init_zero; /* any object: metadata is field 1 */
	slice_t s = { 0 };
	pb_istream_t is = pb_istream_from_buffer(data, len);
	struct kl__pb_in in = { data, data + len };

	kl__pb_slice_bind(&obj.metadata.resourceVersion, &s, &in);
	if (!pb_decode(&is, k8s_Namespace_fields, &obj))
		return -EINVAL;
	if (!s.set || !s.len)
		return -ENOENT;
	if (s.len >= size)
		return -EINVAL;
	kl__pb_slice_copy(&s, rv, size);
	return 0;
}

int kl_pb_status(const uint8_t *data, size_t len, int *code, char *reason, size_t reason_size,
		 char *message, size_t message_size)
{
	k8s_Status st = k8s_Status_init_zero;
	slice_t r = { 0 }, m = { 0 };
	pb_istream_t is = pb_istream_from_buffer(data, len);
	struct kl__pb_in in = { data, data + len };

	kl__pb_slice_bind(&st.reason, &r, &in);
	kl__pb_slice_bind(&st.message, &m, &in);
	if (!pb_decode(&is, k8s_Status_fields, &st))
		return -EINVAL;
	*code = st.code;
	kl__pb_slice_copy(&r, reason, reason_size);
	kl__pb_slice_copy(&m, message, message_size);
	return 0;
}
