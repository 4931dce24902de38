/*
 * test/unit/test_pb.c - the protobuf stream framer (kubeclient/pb.c) and the
 * protobuf projections (kubeclient/objects_pb.c).
 *
 * Framing runs on hand-built streams (what a server will not send on demand: cut
 * streams, garbage, objects over the bound, ListMeta after the items), each fed
 * whole, one byte at a time and in random splits. The projections are checked
 * differentially on captures from a real kube-apiserver 1.20 (test/data/pb/,
 * made by capture.py): the JSON and the protobuf of the same LIST and of the same
 * WATCH must project into equal structs, field by field, strings by content; plus
 * hand-built pods for what the server never sends (a uid that is not a UUID).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h> /* after the three above, which it needs */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeclient/json.h"
#include "kubeclient/objects.h"
#include "kubeclient/pb.h"
#include "util/intern.h"

#define MAXN 64

/* ---------------------------------------------------------------- a tiny encoder */

struct enc {
	uint8_t b[1 << 16];
	size_t n;
};

static void put(struct enc *e, const void *p, size_t n)
{
	assert_true(e->n + n <= sizeof(e->b));
	memcpy(e->b + e->n, p, n);
	e->n += n;
}

static void varint(struct enc *e, uint64_t v)
{
	uint8_t c;

	do {
		c = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			c |= 0x80;
		put(e, &c, 1);
	} while (v);
}

/* A length-delimited field. */
static void field(struct enc *e, unsigned num, const void *p, size_t n)
{
	varint(e, (uint64_t)num << 3 | 2);
	varint(e, n);
	put(e, p, n);
}

static void field_str(struct enc *e, unsigned num, const char *s)
{
	field(e, num, s, strlen(s));
}

static void field_enc(struct enc *e, unsigned num, const struct enc *sub)
{
	field(e, num, sub->b, sub->n);
}

static void field_varint(struct enc *e, unsigned num, uint64_t v)
{
	varint(e, (uint64_t)num << 3);
	varint(e, v);
}

/* magic + Unknown{typeMeta{v1, kind}, raw} */
static void envelope(struct enc *out, const char *kind, const struct enc *raw, bool meta_first)
{
	struct enc tm = { .n = 0 };

	field_str(&tm, 1, "v1");
	field_str(&tm, 2, kind);
	put(out, "k8s\0", 4);
	if (meta_first)
		field_enc(out, 1, &tm);
	field_enc(out, 2, raw);
	if (!meta_first)
		field_enc(out, 1, &tm);
	field_str(out, 4, "application/vnd.kubernetes.protobuf");
}

/* A List of n items "item-0".. with the ListMeta before or after them. */
static void list(struct enc *out, int n, bool meta_first, const char *rv, const char *cont)
{
	static struct enc raw, lm;
	char item[32];
	int i;

	raw.n = lm.n = 0;
	field_str(&lm, 2, rv);
	field_str(&lm, 3, cont);
	field_varint(&lm, 4, 7);
	if (meta_first)
		field_enc(&raw, 1, &lm);
	for (i = 0; i < n; i++) {
		snprintf(item, sizeof(item), "item-%d", i);
		field_str(&raw, 2, item);
	}
	if (!meta_first)
		field_enc(&raw, 1, &lm);
	field_varint(&raw, 9, 300); /* a field we do not know */
	envelope(out, "PodList", &raw, true);
}

/* ---------------------------------------------------------------- a collector */

struct got {
	int items, docs, fail_at;
	char item[MAXN][64];
	char type[MAXN][16];
	char kind[64], rv[64], cont[64];
	uint8_t doc[512];
	size_t doc_len;
};

static int on_msg(void *arg, enum kl_pb_what what, const struct kl_pb_msg *m)
{
	struct got *g = arg;

	if (what == KL_PB_DOC) {
		g->docs++;
		snprintf(g->rv, sizeof(g->rv), "%s", m->resource_version);
		snprintf(g->cont, sizeof(g->cont), "%s", m->cont);
		snprintf(g->kind, sizeof(g->kind), "%s", m->kind);
		assert_true(m->len <= sizeof(g->doc));
		memcpy(g->doc, m->data, m->len);
		g->doc_len = m->len;
		return 0;
	}
	if (g->fail_at && g->items + 1 == g->fail_at)
		return -ECANCELED;
	assert_true(g->items < MAXN);
	snprintf(g->item[g->items], sizeof(g->item[0]), "%.*s", (int)m->len, (const char *)m->data);
	snprintf(g->type[g->items], sizeof(g->type[0]), "%s", m->type ? m->type : "");
	snprintf(g->kind, sizeof(g->kind), "%s", m->kind);
	g->items++;
	return 0;
}

/* Feeds b in chunks: step 0 whole, 1 one byte at a time, else random splits (seed step). */
static int run(enum kl_pb_mode mode, size_t max, const uint8_t *b, size_t n, unsigned step,
	       struct got *g, int *finish_rc)
{
	struct kl_pb_stream *s = kl_pb_stream_new(mode, max, on_msg, g);
	struct kl_error err;
	unsigned seed = step;
	size_t off = 0;
	int rc = 0;

	assert_non_null(s);
	kl_error_clear(&err);
	while (off < n && !rc) {
		size_t k = step == 0 ? n : step == 1 ? 1 : 1 + (size_t)(rand_r(&seed) % 700);

		if (k > n - off)
			k = n - off;
		rc = kl_pb_stream_feed(s, (const char *)b + off, k, &err);
		off += k;
	}
	if (!rc)
		assert_int_equal(kl_pb_stream_offset(s), n);
	*finish_rc = rc ? rc : kl_pb_stream_finish(s, &err);
	if (rc || *finish_rc)
		assert_true(rc == -ECANCELED || kl_error_isset(&err));
	kl_pb_stream_free(s);
	return rc;
}

static const unsigned steps[] = { 0, 1, 2, 3, 17, 99 };
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))

static void check_list(int n, bool meta_first)
{
	static struct enc e;
	unsigned k;
	int i, frc;

	e.n = 0;
	list(&e, n, meta_first, "4711", "tok");
	for (k = 0; k < NSTEPS; k++) {
		struct got g = { 0 };

		assert_int_equal(run(KL_PB_LIST, 0, e.b, e.n, steps[k], &g, &frc), 0);
		assert_int_equal(frc, 0);
		assert_int_equal(g.items, n);
		for (i = 0; i < n; i++) {
			char want[32];

			snprintf(want, sizeof(want), "item-%d", i);
			assert_string_equal(g.item[i], want);
			assert_string_equal(g.type[i], "");
		}
		assert_int_equal(g.docs, 1);
		assert_string_equal(g.rv, "4711");
		assert_string_equal(g.cont, "tok");
		assert_string_equal(g.kind, "PodList");
	}
}

static void test_list_sizes(void **state)
{
	(void)state;
	check_list(0, true);
	check_list(1, true);
	check_list(40, true);
	check_list(0, false);
	check_list(1, false);
	check_list(40, false);
}

/* WATCH frames: WatchEvent{type, object{raw: magic + envelope}} */
static void frame(struct enc *out, const char *type, const char *kind, const char *obj)
{
	static struct enc raw, env, ro, ev;
	uint8_t len[4];

	raw.n = env.n = ro.n = ev.n = 0;
	put(&raw, obj, strlen(obj));
	envelope(&env, kind, &raw, true);
	field_enc(&ro, 1, &env);
	field_str(&ev, 1, type);
	field_enc(&ev, 2, &ro);
	len[0] = (uint8_t)(ev.n >> 24);
	len[1] = (uint8_t)(ev.n >> 16);
	len[2] = (uint8_t)(ev.n >> 8);
	len[3] = (uint8_t)ev.n;
	put(out, len, 4);
	put(out, ev.b, ev.n);
}

static void test_events(void **state)
{
	static struct enc e;
	unsigned k;
	int frc;

	(void)state;
	e.n = 0;
	frame(&e, "ADDED", "Pod", "pod-a");
	frame(&e, "MODIFIED", "Pod", "pod-b");
	frame(&e, "BOOKMARK", "Pod", "");
	frame(&e, "ERROR", "Status", "gone");
	for (k = 0; k < NSTEPS; k++) {
		struct got g = { 0 };

		assert_int_equal(run(KL_PB_EVENTS, 0, e.b, e.n, steps[k], &g, &frc), 0);
		assert_int_equal(frc, 0);
		assert_int_equal(g.items, 4);
		assert_string_equal(g.type[0], "ADDED");
		assert_string_equal(g.item[1], "pod-b");
		assert_string_equal(g.type[2], "BOOKMARK");
		assert_string_equal(g.item[2], "");
		assert_string_equal(g.type[3], "ERROR");
		assert_string_equal(g.kind, "Status");
		assert_int_equal(g.docs, 0);
	}
	/* cut inside the second frame, and inside the header of the second */
	{
		struct got g = { 0 };

		assert_int_equal(run(KL_PB_EVENTS, 0, e.b, 20, 1, &g, &frc), 0);
		assert_int_equal(frc, -EPROTO);
		assert_int_equal(g.items, 0);
	}
}

static void test_bounds(void **state)
{
	static struct enc e;
	struct got g = { 0 };
	int frc;

	(void)state;
	e.n = 0;
	list(&e, 3, true, "1", "");
	/* items are 6 bytes: a bound of 5 refuses the first one */
	assert_int_equal(run(KL_PB_LIST, 5, e.b, e.n, 1, &g, &frc), -EPROTO);
	assert_int_equal(g.items, 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(run(KL_PB_LIST, 8, e.b, e.n, 0, &g, &frc), 0); /* the ListMeta is 7 */
	assert_int_equal(g.items, 3);
	/* a frame over the bound */
	e.n = 0;
	frame(&e, "ADDED", "Pod", "a-long-object-of-more-than-sixty-four-bytes-in-all-its-frame");
	memset(&g, 0, sizeof(g));
	assert_int_equal(run(KL_PB_EVENTS, 64, e.b, e.n, 3, &g, &frc), -EPROTO);
	assert_int_equal(g.items, 0);
}

static void test_garbage(void **state)
{
	static struct enc e;
	static const uint8_t junk[][8] = {
		{ 'k', '8', 's', 1 },			  /* bad magic */
		{ '{', '"', 'k' },			  /* JSON */
		{ 'k', '8', 's', 0, 0x0b },		  /* wire type 3 (a group) */
		{ 'k', '8', 's', 0, 0x02, 0 },		  /* field 0 */
		{ 'k', '8', 's', 0, 0x12, 0xff, 0xff, 0xff }, /* raw cut in its length */
	};
	struct got g = { 0 };
	unsigned i;
	int frc, rc;

	(void)state;
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		memset(&g, 0, sizeof(g));
		rc = run(KL_PB_LIST, 0, junk[i], sizeof(junk[i]), 1, &g, &frc);
		assert_true(rc == -EPROTO || frc == -EPROTO);
		assert_int_equal(g.items + g.docs, 0);
	}
	/* an empty body, and a list cut in the middle of an item */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run(KL_PB_LIST, 0, junk[0], 0, 0, &g, &frc), 0);
	assert_int_equal(frc, -EPROTO);
	e.n = 0;
	list(&e, 3, true, "1", "");
	for (i = 0; i < 2; i++) {
		memset(&g, 0, sizeof(g));
		assert_int_equal(run(KL_PB_LIST, 0, e.b, 40, i, &g, &frc), 0);
		assert_int_equal(frc, -EPROTO);
		assert_int_equal(g.docs, 0);
	}
	/* an item whose length runs past the List */
	{
		static const uint8_t bad[] = { 'k', '8', 's', 0, 0x12, 4, 0x12, 9, 'a', 'b' };

		memset(&g, 0, sizeof(g));
		assert_int_equal(run(KL_PB_LIST, 0, bad, sizeof(bad), 0, &g, &frc), -EPROTO);
	}
	/* a tag that straddles the end of the List */
	{
		static const uint8_t bad[] = { 'k', '8', 's', 0, 0x12, 1, 0x92, 0x01, 0, 0x12, 0 };

		memset(&g, 0, sizeof(g));
		assert_int_equal(run(KL_PB_LIST, 0, bad, sizeof(bad), 0, &g, &frc), -EPROTO);
		assert_int_equal(g.items, 0);
	}
	/* a frame that is not a WatchEvent */
	{
		static const uint8_t bad[] = { 0, 0, 0, 3, 0x0a, 5, 'x' };

		memset(&g, 0, sizeof(g));
		assert_int_equal(run(KL_PB_EVENTS, 0, bad, sizeof(bad), 0, &g, &frc), -EPROTO);
	}
}

static void test_callback_stops(void **state)
{
	static struct enc e;
	struct kl_pb_stream *s;
	struct kl_error err;
	struct got g = { .fail_at = 2 };
	int frc;

	(void)state;
	e.n = 0;
	list(&e, 5, true, "1", "");
	assert_int_equal(run(KL_PB_LIST, 0, e.b, e.n, 1, &g, &frc), -ECANCELED);
	assert_int_equal(g.items, 1);
	/* and the stream only fails after */
	memset(&g, 0, sizeof(g));
	g.fail_at = 1;
	s = kl_pb_stream_new(KL_PB_LIST, 0, on_msg, &g);
	assert_non_null(s);
	kl_error_clear(&err);
	assert_int_equal(kl_pb_stream_feed(s, (const char *)e.b, e.n, &err), -ECANCELED);
	assert_int_equal(kl_pb_stream_feed(s, "x", 1, &err), -ECANCELED);
	assert_int_equal(kl_pb_stream_finish(s, &err), -ECANCELED);
	assert_int_equal(g.docs, 0);
	kl_pb_stream_free(s);
}

/* ---------------------------------------------------------------- captures */

static char *load(const char *name, size_t *len)
{
	const char *dir = getenv("KL_TEST_DATA");
	char path[512];
	FILE *f;
	char *b;
	long n;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/pb/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("%s: cannot open", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	b = malloc((size_t)n);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void test_status(void **state)
{
	struct got g = { 0 };
	char reason[32], message[16];
	size_t n;
	char *b = load("status-404.pb", &n);
	struct kl_pb_stream *s = kl_pb_stream_new(KL_PB_DOCUMENT, 0, on_msg, &g);
	struct kl_error err;
	int code = 0;

	(void)state;
	/* DOCUMENT: kept across chunks until finish */
	kl_error_clear(&err);
	assert_int_equal(kl_pb_stream_feed(s, b, 7, &err), 0);
	assert_int_equal(kl_pb_stream_feed(s, b + 7, n - 7, &err), 0);
	assert_int_equal(g.docs, 0);
	assert_int_equal(kl_pb_stream_finish(s, &err), 0);
	assert_int_equal(g.docs, 1);
	assert_string_equal(g.kind, "Status");
	kl_pb_stream_free(s);
	free(b);
	assert_int_equal(kl_pb_status(g.doc, g.doc_len, &code, reason, sizeof(reason), message,
				      sizeof(message)),
			 0);
	assert_int_equal(code, 404);
	assert_string_equal(reason, "NotFound");
	assert_string_equal(message, "pods \"missing\" "); /* cut to fit */
	assert_int_equal(kl_pb_status((const uint8_t *)"\x30", 1, &code, reason, sizeof(reason),
				      message, sizeof(message)),
			 -EINVAL);
}

/* ---------------------------------------------------------------- projections */

enum kind { POD, NS, DEPLOY };

struct objs {
	enum kind kind;
	struct kl_intern *t;
	const struct kl_objects_opts *o;
	void *v[MAXN];
	char type[MAXN][16];
	int n;
	char rv[32];
};

static int project_json(void *arg, enum kl_json_what what, const struct kl_json *j)
{
	struct objs *os = arg;
	const struct kl_json *obj = j;

	if (what == KL_JSON_DOC)
		return 0;
	if (kl_json_get(j, "type")) {
		snprintf(os->type[os->n], sizeof(os->type[0]), "%s",
			 kl_json_str(kl_json_get(j, "type"), ""));
		obj = kl_json_get(j, "object");
	}
	assert_true(os->n < MAXN);
	switch (os->kind) {
	case POD:
		return kl_pod_project(os->t, os->o, obj, (struct kl_pod **)&os->v[os->n++]);
	case NS:
		return kl_namespace_project(os->t, os->o, obj,
					    (struct kl_namespace **)&os->v[os->n++]);
	case DEPLOY:
		return kl_deployment_project(os->t, os->o, obj,
					     (struct kl_deployment **)&os->v[os->n++]);
	}
	return -EINVAL;
}

static int project_pb(void *arg, enum kl_pb_what what, const struct kl_pb_msg *m)
{
	struct objs *os = arg;

	if (what == KL_PB_DOC) {
		snprintf(os->rv, sizeof(os->rv), "%s", m->resource_version);
		return 0;
	}
	if (m->type)
		snprintf(os->type[os->n], sizeof(os->type[0]), "%s", m->type);
	assert_true(os->n < MAXN);
	switch (os->kind) {
	case POD:
		return kl_pod_project_pb(os->t, os->o, m->data, m->len,
					 (struct kl_pod **)&os->v[os->n++]);
	case NS:
		return kl_namespace_project_pb(os->t, os->o, m->data, m->len,
					       (struct kl_namespace **)&os->v[os->n++]);
	case DEPLOY:
		return kl_deployment_project_pb(os->t, os->o, m->data, m->len,
						(struct kl_deployment **)&os->v[os->n++]);
	}
	return -EINVAL;
}

static void objs_free(struct objs *os)
{
	int i;

	for (i = 0; i < os->n; i++) {
		if (os->kind == POD)
			kl_pod_free(os->t, os->v[i]);
		else if (os->kind == NS)
			kl_namespace_free(os->t, os->v[i]);
		else
			kl_deployment_free(os->t, os->v[i]);
	}
	assert_int_equal(kl_intern_count(os->t), 0); /* every string released */
	kl_intern_free(os->t);
}

static void str_eq(const char *a, const char *b, const char *what)
{
	if (!a || !b) {
		if (a != b)
			fail_msg("%s: \"%s\" vs \"%s\"", what, a ? a : "(null)", b ? b : "(null)");
		return;
	}
	if (strcmp(a, b))
		fail_msg("%s: \"%s\" vs \"%s\"", what, a, b);
}

static void meta_eq(const struct kl_meta *a, const struct kl_meta *b)
{
	char ua[KL_UID_MAX], ub[KL_UID_MAX];

	str_eq(a->ns, b->ns, "ns");
	assert_string_equal(kl_meta_name(a), kl_meta_name(b));
	assert_int_equal(a->rv, b->rv);
	assert_int_equal(a->uid_kind, b->uid_kind);
	assert_string_equal(kl_meta_uid(a, ua), kl_meta_uid(b, ub));
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->deleting, b->deleting);
}

static void pod_eq(const struct kl_pod *a, const struct kl_pod *b)
{
	uint16_t i;

	meta_eq(&a->meta, &b->meta);
	assert_int_equal(a->ready_changed, b->ready_changed);
	assert_int_equal(a->phase, b->phase);
	assert_int_equal(a->ready, b->ready);
	assert_int_equal(a->ncontainers, b->ncontainers);
	str_eq(a->owner_kind, b->owner_kind, "owner kind");
	str_eq(a->owner_name, b->owner_name, "owner name");
	str_eq(a->node, b->node, "node");
	for (i = 0; i < a->ncontainers; i++) {
		const struct kl_container *x = &a->containers[i], *y = &b->containers[i];

		str_eq(x->name, y->name, "container");
		str_eq(x->state.waiting_reason, y->state.waiting_reason, "waiting");
		str_eq(x->state.terminated_reason, y->state.terminated_reason, "terminated");
		assert_int_equal(x->state.running_since, y->state.running_since);
		assert_int_equal(x->state.finished, y->state.finished);
		assert_int_equal(x->state.exit_code, y->state.exit_code);
		str_eq(x->last.terminated_reason, y->last.terminated_reason, "last");
		assert_int_equal(x->last.finished, y->last.finished);
		assert_int_equal(x->last.exit_code, y->last.exit_code);
		assert_int_equal(x->restarts, y->restarts);
		assert_int_equal(x->ready, y->ready);
		assert_int_equal(x->init, y->init);
	}
}

static void ns_eq(const struct kl_namespace *a, const struct kl_namespace *b)
{
	meta_eq(&a->meta, &b->meta);
	str_eq(a->team, b->team, "team");
	assert_int_equal(a->terminating, b->terminating);
}

static void deploy_eq(const struct kl_deployment *a, const struct kl_deployment *b)
{
	meta_eq(&a->meta, &b->meta);
	assert_int_equal(a->generation, b->generation);
	assert_int_equal(a->observed_generation, b->observed_generation);
	assert_int_equal(a->spec_replicas, b->spec_replicas);
	assert_int_equal(a->replicas, b->replicas);
	assert_int_equal(a->ready_replicas, b->ready_replicas);
	assert_int_equal(a->available_replicas, b->available_replicas);
	assert_int_equal(a->updated_replicas, b->updated_replicas);
	str_eq(a->min_replicas, b->min_replicas, "min");
	str_eq(a->max_replicas, b->max_replicas, "max");
	str_eq(a->restore_replicas, b->restore_replicas, "restore");
	str_eq(a->restore_at, b->restore_at, "restore-at");
}

static const struct kl_objects_opts opts = { .team_annotation = "kloompas.io/team" };

/* Projects name.json and name.pb (LIST or WATCH) and compares them object by object. */
static void differ(const char *name, enum kind kind, bool watch, int min_objects,
		   struct objs *js, struct objs *ps)
{
	char file[64];
	char *jb, *pb;
	size_t jn, pn, i;
	struct kl_json_stream *j;
	struct kl_pb_stream *p;
	struct kl_error err;
	int k;

	js->kind = ps->kind = kind;
	js->o = ps->o = &opts;
	js->t = kl_intern_new();
	ps->t = kl_intern_new();
	assert_true(js->t && ps->t);
	snprintf(file, sizeof(file), "%s.json", name);
	jb = load(file, &jn);
	snprintf(file, sizeof(file), "%s.pb", name);
	pb = load(file, &pn);
	kl_error_clear(&err);
	j = kl_json_stream_new(watch ? KL_JSON_EVENTS : KL_JSON_LIST, 0, project_json, js);
	assert_int_equal(kl_json_stream_feed(j, jb, jn, &err), 0);
	assert_int_equal(kl_json_stream_finish(j, &err), 0);
	kl_json_stream_free(j);
	/* protobuf fed in 13-byte chunks: items straddle chunks */
	p = kl_pb_stream_new(watch ? KL_PB_EVENTS : KL_PB_LIST, 0, project_pb, ps);
	for (i = 0; i < pn; i += 13)
		assert_int_equal(kl_pb_stream_feed(p, pb + i, pn - i < 13 ? pn - i : 13, &err), 0);
	assert_int_equal(kl_pb_stream_finish(p, &err), 0);
	kl_pb_stream_free(p);
	free(jb);
	free(pb);
	assert_int_equal(js->n, ps->n);
	assert_true(js->n >= min_objects);
	if (!watch)
		assert_true(ps->rv[0] != '\0');
	for (k = 0; k < js->n; k++) {
		assert_string_equal(js->type[k], ps->type[k]);
		if (kind == POD)
			pod_eq(js->v[k], ps->v[k]);
		else if (kind == NS)
			ns_eq(js->v[k], ps->v[k]);
		else
			deploy_eq(js->v[k], ps->v[k]);
	}
}

static const void *find(const struct objs *os, const char *name)
{
	int i;

	for (i = 0; i < os->n; i++)
		if (!strcmp(kl_meta_name(os->v[i]), name))
			return os->v[i];
	fail_msg("no object %s", name);
	return NULL;
}

static void test_pods_list(void **state)
{
	struct objs js = { 0 }, ps = { 0 };
	const struct kl_pod *p;

	(void)state;
	differ("pods", POD, false, 12, &js, &ps);
	/* the shapes are there (not only equal, but what the capture meant) */
	p = find(&ps, "crash");
	assert_string_equal(p->containers[0].state.waiting_reason, "CrashLoopBackOff");
	assert_string_equal(p->containers[0].last.terminated_reason, "Error");
	assert_int_equal(p->containers[0].restarts, 5);
	assert_string_equal(p->owner_name, "ctrl"); /* the controller, not the first */
	p = find(&ps, "init-done");
	assert_int_equal(p->ncontainers, 4);
	assert_true(p->containers[0].init && p->containers[1].init && !p->containers[2].init);
	assert_string_equal(p->containers[1].state.terminated_reason, "Completed");
	assert_string_equal(p->containers[2].last.terminated_reason, "OOMKilled");
	p = find(&ps, "half");
	assert_int_equal(p->ncontainers, 2);
	assert_string_equal(p->containers[1].name, "late");
	assert_null(p->containers[1].state.waiting_reason);
	p = find(&ps, "bye");
	assert_true(p->meta.deleting != 0);
	p = find(&ps, "fresh");
	assert_null(p->node);
	assert_int_equal(p->phase, KL_POD_PENDING);
	assert_int_equal(find(&ps, "oom") ? ((const struct kl_pod *)find(&ps, "oom"))->phase : 0,
			 KL_POD_FAILED);
	objs_free(&js);
	objs_free(&ps);
}

static void test_pods_watch(void **state)
{
	struct objs js = { 0 }, ps = { 0 };

	(void)state;
	differ("watch-pods", POD, true, 5, &js, &ps);
	assert_string_equal(ps.type[ps.n - 1], "DELETED");
	objs_free(&js);
	objs_free(&ps);
}

static void test_namespaces(void **state)
{
	struct objs js = { 0 }, ps = { 0 };
	const struct kl_namespace *n;

	(void)state;
	differ("namespaces", NS, false, 8, &js, &ps);
	n = find(&ps, "pbcap");
	assert_string_equal(n->team, "growth");
	n = find(&ps, "pbcap-label");
	assert_string_equal(n->team, "platform");
	n = find(&ps, "pbcap-both");
	assert_string_equal(n->team, "growth"); /* the annotation wins */
	n = find(&ps, "pbcap-term");
	assert_true(n->terminating);
	assert_null(n->team);
	assert_string_equal(n->meta.ns, "");
	objs_free(&js);
	objs_free(&ps);
}

static void test_deployments(void **state)
{
	struct objs js = { 0 }, ps = { 0 };
	const struct kl_deployment *d;

	(void)state;
	differ("deployments", DEPLOY, false, 2, &js, &ps);
	d = find(&ps, "web");
	assert_string_equal(d->min_replicas, "2");
	assert_string_equal(d->max_replicas, "5");
	assert_string_equal(d->restore_replicas, "3");
	assert_non_null(d->restore_at);
	assert_int_equal(d->spec_replicas, 1);
	d = find(&ps, "plain");
	assert_null(d->min_replicas);
	assert_int_equal(d->spec_replicas, 2);
	assert_int_equal(d->replicas, 2);
	objs_free(&js);
	objs_free(&ps);
}

/* ---------------------------------------------------------------- hand-built objects */

static void test_hand_pod(void **state)
{
	static struct enc md, tm, pod, st, cs, state_, w, spec, c;
	struct kl_intern *t = kl_intern_new();
	struct kl_pod *p;
	char rv[8];

	(void)state;
	md.n = tm.n = pod.n = st.n = cs.n = state_.n = w.n = spec.n = c.n = 0;
	field_str(&md, 1, "odd");
	field_str(&md, 3, "ns");
	field_str(&md, 5, "not-a-uuid");
	field_str(&md, 6, "123");
	field_varint(&tm, 1, 1700000000);
	field_enc(&md, 8, &tm);
	field_str(&w, 1, ""); /* an empty waiting reason reads absent, as in JSON */
	field_enc(&state_, 1, &w);
	field_str(&cs, 1, "app");
	field_enc(&cs, 2, &state_);
	field_varint(&cs, 5, 3);
	field_str(&st, 1, "Weird");
	field_enc(&st, 8, &cs);
	field_str(&c, 1, "app");
	field_enc(&spec, 2, &c);
	field_str(&spec, 10, "");
	field_enc(&pod, 1, &md);
	field_enc(&pod, 2, &spec);
	field_enc(&pod, 3, &st);
	assert_int_equal(kl_pod_project_pb(t, &opts, pod.b, pod.n, &p), 0);
	assert_int_equal(p->meta.uid_kind, KL_UID_STRING);
	assert_string_equal(p->meta.uid.str, "not-a-uuid");
	assert_int_equal(p->meta.rv, 123);
	assert_int_equal(p->meta.created, 1700000000);
	assert_int_equal(p->phase, KL_POD_UNKNOWN);
	assert_int_equal(p->ncontainers, 1);
	assert_null(p->containers[0].state.waiting_reason);
	assert_int_equal(p->containers[0].restarts, 3);
	assert_null(p->node);
	kl_pod_free(t, p);
	assert_int_equal(kl_pb_meta_rv(pod.b, pod.n, rv, sizeof(rv)), 0);
	assert_string_equal(rv, "123");
	assert_int_equal(kl_pb_meta_rv(pod.b, pod.n, rv, 3), -EINVAL);
	assert_int_equal(kl_pb_meta_rv(spec.b, 0, rv, sizeof(rv)), -ENOENT);
	/* no name, and bytes that do not decode */
	assert_int_equal(kl_pod_project_pb(t, &opts, spec.b, spec.n, &p), -EINVAL);
	assert_null(p);
	assert_int_equal(kl_pod_project_pb(t, &opts, (const uint8_t *)"\x0a\x09x", 3, &p), -EINVAL);
	/* metadata.name sent as a varint: refused, not read from nanopb's stack copy */
	assert_int_equal(kl_pod_project_pb(t, &opts, (const uint8_t *)"\x0a\x02\x08\x61", 4, &p),
			 -EINVAL);
	assert_int_equal(kl_intern_count(t), 0);
	kl_intern_free(t);
}

/* A pod of name "p": metadata{name}, then what fill adds (the pod's own fields). */
static int wire_pod(struct kl_intern *t, void (*fill)(struct enc *pod), struct kl_pod **p)
{
	static struct enc md, pod;

	md.n = pod.n = 0;
	field_str(&md, 1, "p");
	field_enc(&pod, 1, &md);
	fill(&pod);
	return kl_pod_project_pb(t, &opts, pod.b, pod.n, p);
}

/* status{containerStatuses{name, state{terminated{exitCode}}, restartCount}} */
static void container_status(struct enc *pod, uint64_t exit_code, uint64_t restarts)
{
	static struct enc st, cs, state_, term;

	st.n = cs.n = state_.n = term.n = 0;
	field_varint(&term, 1, exit_code);
	field_enc(&state_, 3, &term);
	field_str(&cs, 1, "app");
	field_enc(&cs, 2, &state_);
	field_varint(&cs, 5, restarts);
	field_enc(&st, 8, &cs);
	field_enc(pod, 3, &st);
}

static void fill_negative_exit(struct enc *pod)
{
	container_status(pod, (uint64_t)-1, 2); /* Go sends a negative int32 in 10 bytes */
}

static void fill_restarts_over_int32(struct enc *pod)
{
	container_status(pod, 0, (uint64_t)1 << 31);
}

static void fill_fixed_unknown(struct enc *pod)
{
	varint(pod, 40 << 3 | 1); /* unknown fixed64 and fixed32 fields: skipped */
	put(pod, "12345678", 8);
	varint(pod, 41 << 3 | 5);
	put(pod, "1234", 4);
}

static void fill_group(struct enc *pod)
{
	varint(pod, 40 << 3 | 3); /* a group: a wire type neither Go nor we accept */
}

static void fill_field_zero(struct enc *pod)
{
	field_str(pod, 0, "x");
}

static void fill_long_varint(struct enc *pod)
{
	varint(pod, 40 << 3);
	put(pod, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10); /* over 64 bits */
}

static void fill_second_metadata(struct enc *pod)
{
	static struct enc md;

	md.n = 0;
	field_str(&md, 3, "ns"); /* a message sent twice is merged */
	field_enc(pod, 1, &md);
}

static void fill_node_as_varint(struct enc *pod)
{
	static struct enc spec;

	spec.n = 0;
	field_varint(&spec, 10, 7); /* nodeName, a string, as a varint */
	field_enc(pod, 2, &spec);
}

/* The field reader's rules (kubeclient/pbwire.h), each on an otherwise good pod. */
static void test_wire_rules(void **state)
{
	struct kl_intern *t = kl_intern_new();
	struct kl_pod *p;

	(void)state;
	assert_int_equal(wire_pod(t, fill_negative_exit, &p), 0);
	assert_int_equal(p->containers[0].state.exit_code, -1);
	assert_int_equal(p->containers[0].restarts, 2);
	kl_pod_free(t, p);
	assert_int_equal(wire_pod(t, fill_fixed_unknown, &p), 0);
	assert_string_equal(kl_meta_name(&p->meta), "p");
	kl_pod_free(t, p);
	assert_int_equal(wire_pod(t, fill_second_metadata, &p), 0);
	assert_string_equal(kl_meta_name(&p->meta), "p");
	assert_string_equal(p->meta.ns, "ns");
	kl_pod_free(t, p);
	assert_int_equal(wire_pod(t, fill_restarts_over_int32, &p), -EINVAL);
	assert_null(p);
	assert_int_equal(wire_pod(t, fill_group, &p), -EINVAL);
	assert_int_equal(wire_pod(t, fill_field_zero, &p), -EINVAL);
	assert_int_equal(wire_pod(t, fill_long_varint, &p), -EINVAL);
	assert_int_equal(wire_pod(t, fill_node_as_varint, &p), -EINVAL);
	assert_null(p);
	assert_int_equal(kl_intern_count(t), 0);
	kl_intern_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_sizes),   cmocka_unit_test(test_events),
		cmocka_unit_test(test_bounds),	     cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_callback_stops), cmocka_unit_test(test_status),
		cmocka_unit_test(test_pods_list),    cmocka_unit_test(test_pods_watch),
		cmocka_unit_test(test_namespaces),   cmocka_unit_test(test_deployments),
		cmocka_unit_test(test_hand_pod),     cmocka_unit_test(test_wire_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
