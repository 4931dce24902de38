/*
 * kubeclient/objects.c - project decoded Pods, Namespaces and Deployments into the
 * small structs the caches keep (see objects.h).
 *
 * Design: a projection reads a borrowed struct kl_json tree once, copies the name
 * into the object's block and interns every other string it keeps (so the tree can
 * be dropped as soon as we return), and parses
 * times and numbers on the spot. Everything it takes is recorded in the output
 * struct as it goes, so the single error path is "release the output": the
 * release functions accept a half-filled struct (NULL strings, a zeroed tail of
 * the containers array).
 *
 * Absent or mistyped fields read as their zero value (documented per field in
 * objects.h); only a missing metadata.name makes an object unusable (-EINVAL),
 * since the store keys on namespace/name.
 */
#include "kubeclient/objects.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeclient/internal.h"
#include "util/rfc3339.h"

/* More than this many containers in one pod is not a pod we believe. */
#define MAX_CONTAINERS 1000

/* ---------------------------------------------------------------- scalars */

static bool is_str(const struct kl_json *v, const char *s)
{
	return v && v->type == KL_JSON_STRING && !strcmp(v->str, s);
}

static bool is_true(const struct kl_json *v)
{
	return v && v->type == KL_JSON_BOOL && v->boolean;
}

/* An integer field, def when absent or not an integer. */
static int64_t get_i64(const struct kl_json *v, int64_t def)
{
	int64_t x;

	return kl_json_int(v, &x) ? def : x;
}

/* As get_i64, clamped into int32_t (counts and exit codes). */
static int32_t get_i32(const struct kl_json *v, int32_t def)
{
	int64_t x = get_i64(v, def);

	if (x > INT32_MAX)
		return INT32_MAX;
	if (x < INT32_MIN)
		return INT32_MIN;
	return (int32_t)x;
}

uint64_t kl_rv_parse(const char *s, size_t len)
{
	uint64_t acc = 0;
	size_t i;

	if (!len)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d > 9 || acc > (UINT64_MAX - d) / 10)
			return 0;
		acc = acc * 10 + d;
	}
	return acc;
}

static uint64_t parse_rv(const struct kl_json *v)
{
	return v && v->type == KL_JSON_STRING ? kl_rv_parse(v->str, v->len) : 0;
}

/*
 * RFC 3339 "2026-11-25T21:00:00Z", with optional fractional seconds (dropped) and
 * a numeric offset instead of Z. Returns Unix seconds, 0 when absent or malformed:
 * the API server always writes the Z form, so 0 ("unknown") is only ever seen
 * for an object written by hand. Before 1970 reads as 0 too, after 2106 as the
 * last second 32 bits hold.
 */
static uint32_t parse_time(const struct kl_json *v)
{
	int64_t t;

	if (!v || v->type != KL_JSON_STRING || kl_rfc3339_parse(v->str, &t) < 0 || t <= 0)
		return 0;
	return t > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* ---------------------------------------------------------------- strings */

/*
 * Interns a string field into *out (NULL when absent or not a string). Returns
 * -ENOMEM with *out NULL when the table cannot take it.
 */
static int take(struct kl_intern *t, const struct kl_json *v, const char **out)
{
	*out = NULL;
	if (!v || v->type != KL_JSON_STRING)
		return 0;
	*out = kl_intern_get(t, v->str, v->len);
	return *out ? 0 : -ENOMEM;
}

static void drop(struct kl_intern *t, const char **s)
{
	kl_intern_put(t, *s);
	*s = NULL;
}

/* ---------------------------------------------------------------- uid */

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* upper case would not print back the same */
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" in lower-case hex into 16 bytes. */
static bool parse_uuid(const char *s, size_t len, uint8_t out[16])
{
	size_t i, k = 0;

	if (len != 36)
		return false;
	for (i = 0; i < 36; i++) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
			continue;
		}
		hi = hex_val(s[i]);
		lo = hex_val(s[++i]); /* pairs never straddle a dash */
		if (hi < 0 || lo < 0)
			return false;
		out[k++] = (uint8_t)(hi << 4 | lo);
	}
	return k == 16;
}

const char *kl_meta_uid(const struct kl_meta *m, char *buf)
{
	const uint8_t *b = m->uid.bytes;

	switch (m->uid_kind) {
	case KL_UID_UUID:
		snprintf(buf, KL_UID_MAX,
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
			 b[11], b[12], b[13], b[14], b[15]);
		break;
	case KL_UID_STRING:
		snprintf(buf, KL_UID_MAX, "%s", m->uid.str);
		break;
	default:
		buf[0] = '\0';
	}
	return buf;
}

/* ---------------------------------------------------------------- metadata */

struct kl_meta *kl__object_new(size_t fixed, const char *name, size_t len)
{
	struct kl_meta *m;

	if (fixed > UINT16_MAX || len > SIZE_MAX - fixed - 1)
		return NULL;
	m = calloc(1, fixed + len + 1);
	if (!m)
		return NULL;
	m->name_off = (uint16_t)fixed;
	memcpy((char *)m + fixed, name, len);
	return m;
}

/* metadata.name when it is a non-empty string (the store keys on it), else NULL. */
static const struct kl_json *name_of(const struct kl_json *j)
{
	const struct kl_json *name = kl_json_path(j, "metadata", "name", NULL);

	return name && name->type == KL_JSON_STRING && name->len ? name : NULL;
}

/* A zeroed object of fixed bytes with the JSON's name after them: -EINVAL or -ENOMEM. */
static int object_new(const struct kl_json *j, size_t fixed, void **out)
{
	const struct kl_json *name = name_of(j);

	*out = NULL;
	if (!name)
		return -EINVAL;
	*out = kl__object_new(fixed, name->str, name->len);
	return *out ? 0 : -ENOMEM;
}

/* Every object: namespace ("" when cluster-scoped), uid, times (the name is in place). */
static int meta_project(struct kl_intern *t, const struct kl_json *j, struct kl_meta *m)
{
	const struct kl_json *md = kl_json_get(j, "metadata"), *uid;
	const char *ns, *str;
	int rc;

	ns = kl_json_str(kl_json_get(md, "namespace"), "");
	m->ns = kl_intern_get(t, ns, (size_t)-1);
	if (!m->ns)
		return -ENOMEM;
	uid = kl_json_get(md, "uid");
	if (uid && uid->type == KL_JSON_STRING && parse_uuid(uid->str, uid->len, m->uid.bytes)) {
		m->uid_kind = KL_UID_UUID;
	} else if (uid && uid->type == KL_JSON_STRING) {
		if ((rc = take(t, uid, &str)))
			return rc;
		m->uid.str = str;
		m->uid_kind = KL_UID_STRING;
	}
	m->rv = parse_rv(kl_json_get(md, "resourceVersion"));
	m->created = parse_time(kl_json_get(md, "creationTimestamp"));
	m->deleting = parse_time(kl_json_get(md, "deletionTimestamp"));
	return 0;
}

static void meta_release(struct kl_intern *t, struct kl_meta *m)
{
	drop(t, &m->ns);
	if (m->uid_kind == KL_UID_STRING)
		drop(t, &m->uid.str);
	m->uid_kind = KL_UID_NONE;
}

/* ---------------------------------------------------------------- pods */

static const char *const phase_names[] = {
	[KL_POD_PENDING] = "Pending",	  [KL_POD_RUNNING] = "Running",
	[KL_POD_SUCCEEDED] = "Succeeded", [KL_POD_FAILED] = "Failed",
	[KL_POD_UNKNOWN] = "Unknown",
};

const char *kl_pod_phase_name(enum kl_pod_phase p)
{
	if ((unsigned)p >= sizeof(phase_names) / sizeof(phase_names[0]))
		return "Unknown";
	return phase_names[p];
}

static enum kl_pod_phase parse_phase(const struct kl_json *v)
{
	unsigned i;

	if (!v || v->type != KL_JSON_STRING)
		return KL_POD_PENDING;
	for (i = 0; i < sizeof(phase_names) / sizeof(phase_names[0]); i++)
		if (!strcmp(v->str, phase_names[i]))
			return (enum kl_pod_phase)i;
	return KL_POD_UNKNOWN;
}

/* The name of a container (spec or status entry); NULL makes us skip the entry. */
static const struct kl_json *container_name(const struct kl_json *c)
{
	const struct kl_json *n = kl_json_get(c, "name");

	return n && n->type == KL_JSON_STRING ? n : NULL;
}

/* Whether the status array holds an entry named like the spec entry name. */
static bool has_status(const struct kl_json *statuses, const struct kl_json *name)
{
	const struct kl_json *s, *n;

	for (s = statuses ? statuses->child : NULL; s; s = s->next) {
		n = container_name(s);
		if (n && n->len == name->len && !memcmp(n->str, name->str, name->len))
			return true;
	}
	return false;
}

static const struct kl_json *array_of(const struct kl_json *v)
{
	return v && v->type == KL_JSON_ARRAY ? v : NULL;
}

/* A container's state object. */
static int state_project(struct kl_intern *t, const struct kl_json *st,
			 struct kl_container_state *s)
{
	const struct kl_json *x = kl_json_get(st, "terminated");
	const char *r;
	int rc;

	/* through r: s is packed (objects.h), its members have no pointer of their own */
	rc = take(t, kl_json_path(st, "waiting", "reason", NULL), &r);
	s->waiting_reason = r;
	if (rc)
		return rc;
	s->running_since = parse_time(kl_json_path(st, "running", "startedAt", NULL));
	rc = take(t, kl_json_get(x, "reason"), &r);
	s->terminated_reason = r;
	if (rc)
		return rc;
	s->exit_code = get_i32(kl_json_get(x, "exitCode"), 0);
	s->finished = parse_time(kl_json_get(x, "finishedAt"));
	return 0;
}

/* A container's lastState object: its terminated part. */
static int last_project(struct kl_intern *t, const struct kl_json *st,
			struct kl_container_last *l)
{
	const struct kl_json *x = kl_json_get(st, "terminated");

	l->exit_code = get_i32(kl_json_get(x, "exitCode"), 0);
	l->finished = parse_time(kl_json_get(x, "finishedAt"));
	return take(t, kl_json_get(x, "reason"), &l->terminated_reason);
}

/* Fills c from a status entry, or from the spec entry's name alone (st NULL). */
static int container_project(struct kl_intern *t, const struct kl_json *st,
			     const struct kl_json *name, bool init, struct kl_container *c)
{
	int rc;

	c->init = init;
	if ((rc = take(t, name, &c->name)))
		return rc;
	if (!st)
		return 0;
	c->ready = is_true(kl_json_get(st, "ready"));
	c->restarts = kl_restarts(get_i32(kl_json_get(st, "restartCount"), 0));
	if ((rc = state_project(t, kl_json_get(st, "state"), &c->state)))
		return rc;
	return last_project(t, kl_json_get(st, "lastState"), &c->last);
}

/*
 * Walks one kind of container (init or regular): every named status entry in
 * order, then each named spec entry that has no status yet (a pod just created),
 * so that the count is the pod's. With p NULL it only counts; else it fills
 * p->containers from index *n on, keeping p->ncontainers the number touched so
 * far (what kl_pod_free must release).
 */
static int containers_walk(struct kl_intern *t, const struct kl_json *statuses,
			   const struct kl_json *specs, bool init, struct kl_pod *p, size_t *n)
{
	const struct kl_json *c, *name;
	int rc;

	for (c = statuses ? statuses->child : NULL; c; c = c->next) {
		if (!(name = container_name(c)))
			continue;
		if (p) {
			p->ncontainers = (uint16_t)(*n + 1);
			if ((rc = container_project(t, c, name, init, &p->containers[*n])))
				return rc;
		}
		if (++*n > MAX_CONTAINERS)
			return -EINVAL;
	}
	for (c = specs ? specs->child : NULL; c; c = c->next) {
		if (!(name = container_name(c)) || has_status(statuses, name))
			continue;
		if (p) {
			p->ncontainers = (uint16_t)(*n + 1);
			if ((rc = container_project(t, NULL, name, init, &p->containers[*n])))
				return rc;
		}
		if (++*n > MAX_CONTAINERS)
			return -EINVAL;
	}
	return 0;
}

/* The container arrays of status and spec, init containers first. */
struct pod_arrays {
	const struct kl_json *ist, *isp, *cst, *csp;
};

/* Counts (p NULL) or fills (p allocated for *n of them) the containers. */
static int containers_project(struct kl_intern *t, const struct pod_arrays *a,
			      struct kl_pod *p, size_t *n)
{
	int rc;

	*n = 0;
	if ((rc = containers_walk(t, a->ist, a->isp, true, p, n)))
		return rc;
	return containers_walk(t, a->cst, a->csp, false, p, n);
}

/* The Ready condition: status and when it last changed. */
static void ready_project(const struct kl_json *j, struct kl_pod *p)
{
	const struct kl_json *c;

	c = array_of(kl_json_path(j, "status", "conditions", NULL));
	for (c = c ? c->child : NULL; c; c = c->next) {
		if (!is_str(kl_json_get(c, "type"), "Ready"))
			continue;
		p->ready = is_str(kl_json_get(c, "status"), "True");
		p->ready_changed = parse_time(kl_json_get(c, "lastTransitionTime"));
		return;
	}
}

/* The controller ownerReference, else the first one. */
static int owner_project(struct kl_intern *t, const struct kl_json *j, struct kl_pod *p)
{
	const struct kl_json *refs, *r, *owner;
	int rc;

	refs = array_of(kl_json_path(j, "metadata", "ownerReferences", NULL));
	if (!refs || !refs->child)
		return 0;
	owner = refs->child;
	for (r = refs->child; r; r = r->next) {
		if (is_true(kl_json_get(r, "controller"))) {
			owner = r;
			break;
		}
	}
	if ((rc = take(t, kl_json_get(owner, "kind"), &p->owner_kind)))
		return rc;
	return take(t, kl_json_get(owner, "name"), &p->owner_name);
}

int kl_pod_project(struct kl_intern *t, const struct kl_objects_opts *o,
		   const struct kl_json *j, struct kl_pod **out)
{
	const struct kl_json *status = kl_json_get(j, "status"), *spec = kl_json_get(j, "spec");
	struct pod_arrays a = {
		.ist = array_of(kl_json_get(status, "initContainerStatuses")),
		.isp = array_of(kl_json_get(spec, "initContainers")),
		.cst = array_of(kl_json_get(status, "containerStatuses")),
		.csp = array_of(kl_json_get(spec, "containers")),
	};
	struct kl_pod *p;
	size_t n;
	int rc;

	(void)o;
	*out = NULL;
	/*
	 * Refuse huge arrays before the name matching, which is quadratic; past the
	 * cap the merged count is over it anyway unless names repeat.
	 */
	if ((a.ist && a.ist->n > MAX_CONTAINERS) || (a.cst && a.cst->n > MAX_CONTAINERS) ||
	    (a.isp && a.isp->n > MAX_CONTAINERS) || (a.csp && a.csp->n > MAX_CONTAINERS))
		return -EINVAL;
	/* count, then fill one block of exactly that size */
	if ((rc = containers_project(t, &a, NULL, &n)))
		return rc;
	if ((rc = object_new(j, sizeof(*p) + n * sizeof(p->containers[0]), (void **)&p)))
		return rc;
	if ((rc = meta_project(t, j, &p->meta)))
		goto out_free;
	p->phase = (uint8_t)parse_phase(kl_json_get(status, "phase"));
	ready_project(j, p);
	if ((rc = owner_project(t, j, p)))
		goto out_free;
	if ((rc = take(t, kl_json_get(spec, "nodeName"), &p->node)))
		goto out_free;
	if ((rc = containers_project(t, &a, p, &n)))
		goto out_free;
	*out = p;
	return 0;

out_free:
	kl_pod_free(t, p);
	return rc;
}

void kl_pod_free(struct kl_intern *t, struct kl_pod *p)
{
	uint16_t i;

	if (!p)
		return;
	meta_release(t, &p->meta);
	drop(t, &p->owner_kind);
	drop(t, &p->owner_name);
	drop(t, &p->node);
	for (i = 0; i < p->ncontainers; i++) {
		struct kl_container *c = &p->containers[i];

		drop(t, &c->name);
		kl_intern_put(t, c->state.waiting_reason); /* packed: no drop() */
		kl_intern_put(t, c->state.terminated_reason);
		drop(t, &c->last.terminated_reason);
	}
	free(p);
}

bool kl_pod_same(const struct kl_pod *a, const struct kl_pod *b)
{
	const size_t from = offsetof(struct kl_pod, ready_changed);

	/*
	 * Strings but the name are interned (equal strings, equal pointers) and every
	 * block is calloc'd, so padding is zero and the fields after the metadata
	 * compare as bytes, containers included.
	 */
	if (a->meta.ns != b->meta.ns || strcmp(kl_meta_name(&a->meta), kl_meta_name(&b->meta)) ||
	    a->meta.created != b->meta.created || a->meta.deleting != b->meta.deleting ||
	    a->meta.uid_kind != b->meta.uid_kind || a->ncontainers != b->ncontainers)
		return false;
	if (a->meta.uid_kind == KL_UID_UUID &&
	    memcmp(a->meta.uid.bytes, b->meta.uid.bytes, sizeof(a->meta.uid.bytes)))
		return false;
	if (a->meta.uid_kind == KL_UID_STRING && a->meta.uid.str != b->meta.uid.str)
		return false;
	return !memcmp((const char *)a + from, (const char *)b + from,
		       sizeof(*a) - from + a->ncontainers * sizeof(a->containers[0]));
}

/* ---------------------------------------------------------------- namespaces */

int kl_namespace_project(struct kl_intern *t, const struct kl_objects_opts *o,
			 const struct kl_json *j, struct kl_namespace **res)
{
	const struct kl_json *md = kl_json_get(j, "metadata"), *team = NULL;
	struct kl_namespace *out;
	int rc;

	*res = NULL;
	if ((rc = object_new(j, sizeof(*out), (void **)&out)))
		return rc;
	if ((rc = meta_project(t, j, &out->meta)) || (rc = take(t, name_of(j), &out->interned)))
		goto out_release;
	if (o && o->team_annotation) {
		team = kl_json_get(kl_json_get(md, "annotations"), o->team_annotation);
		if (!team || team->type != KL_JSON_STRING)
			team = kl_json_get(kl_json_get(md, "labels"), o->team_annotation);
	}
	if ((rc = take(t, team, &out->team)))
		goto out_release;
	out->terminating = is_str(kl_json_path(j, "status", "phase", NULL), "Terminating");
	*res = out;
	return 0;

out_release:
	kl_namespace_free(t, out);
	return rc;
}

void kl_namespace_free(struct kl_intern *t, struct kl_namespace *n)
{
	if (!n)
		return;
	meta_release(t, &n->meta);
	drop(t, &n->interned);
	drop(t, &n->team);
	free(n);
}

/* ---------------------------------------------------------------- deployments */

int kl_deployment_project(struct kl_intern *t, const struct kl_objects_opts *o,
			  const struct kl_json *j, struct kl_deployment **res)
{
	const struct kl_json *ann = kl_json_path(j, "metadata", "annotations", NULL);
	const struct kl_json *status = kl_json_get(j, "status");
	struct kl_deployment *out;
	int rc;

	(void)o;
	*res = NULL;
	if ((rc = object_new(j, sizeof(*out), (void **)&out)))
		return rc;
	if ((rc = meta_project(t, j, &out->meta)))
		goto out_release;
	out->generation = get_i64(kl_json_path(j, "metadata", "generation", NULL), 0);
	out->observed_generation = get_i64(kl_json_get(status, "observedGeneration"), 0);
	out->spec_replicas = get_i32(kl_json_path(j, "spec", "replicas", NULL), -1);
	out->replicas = get_i32(kl_json_get(status, "replicas"), 0);
	out->ready_replicas = get_i32(kl_json_get(status, "readyReplicas"), 0);
	out->available_replicas = get_i32(kl_json_get(status, "availableReplicas"), 0);
	out->updated_replicas = get_i32(kl_json_get(status, "updatedReplicas"), 0);
	if ((rc = take(t, kl_json_get(ann, "kloompas.io/min-replicas"), &out->min_replicas)) ||
	    (rc = take(t, kl_json_get(ann, "kloompas.io/max-replicas"), &out->max_replicas)) ||
	    (rc = take(t, kl_json_get(ann, "kloompas.io/restore-replicas"),
		       &out->restore_replicas)) ||
	    (rc = take(t, kl_json_get(ann, "kloompas.io/restore-at"), &out->restore_at)))
		goto out_release;
	*res = out;
	return 0;

out_release:
	kl_deployment_free(t, out);
	return rc;
}

void kl_deployment_free(struct kl_intern *t, struct kl_deployment *d)
{
	if (!d)
		return;
	meta_release(t, &d->meta);
	drop(t, &d->min_replicas);
	drop(t, &d->max_replicas);
	drop(t, &d->restore_replicas);
	drop(t, &d->restore_at);
	free(d);
}
