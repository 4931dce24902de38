/*
 * test/fuzz/fuzz_pb.c - the protobuf stream framer and projections (kubeclient/pb.c,
 * objects_pb.c).
 *
 * Input: a response body in Kubernetes' protobuf encoding (a WATCH stream of
 * length-prefixed WatchEvent frames, a List envelope, or a Status error body). Every
 * input is framed in the three modes (EVENTS, LIST, DOCUMENT), each once whole and
 * once split at boundaries drawn from a PRNG seeded by the first bytes: the split
 * run must hand out exactly what the whole one does (same messages, same result) -
 * chunks may be split anywhere. The split runs project every message handed out as
 * a pod, a namespace and a deployment, read its resourceVersion and decode it as a
 * Status; once all is freed every interned string must be released.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kubeclient/pb.h"
#include "test/fuzz/fuzz.h"
#include "util/error.h"
#include "util/intern.h"

struct run {
	bool project;
	uint64_t digest; /* of every message handed out, in order */
	unsigned items, docs;
	struct kl_intern *intern;
};

static uint64_t mix_str(uint64_t h, const char *s)
{
	return s ? fuzz_mix(h, s, strlen(s) + 1) : fuzz_mix(h, "\xff", 1);
}

static void project(struct run *r, const struct kl_pb_msg *m)
{
	static const struct kl_objects_opts opts = { .team_annotation = "kloompas.io/team" };
	struct kl_pod *p;
	struct kl_namespace *ns;
	struct kl_deployment *d;
	char rv[32], reason[64], message[64];
	int code, rc;

	rc = kl_pod_project_pb(r->intern, &opts, m->data, m->len, &p);
	if (rc && p)
		fuzz_fail("pod: error %d with an object", rc);
	/* the name follows the containers in its block (it may start with a NUL, as in JSON) */
	if (!rc && (p->meta.name_off != sizeof(*p) + p->ncontainers * sizeof(p->containers[0]) ||
		    !p->meta.ns))
		fuzz_fail("pod without a name or namespace");
	kl_pod_free(r->intern, p);
	rc = kl_namespace_project_pb(r->intern, &opts, m->data, m->len, &ns);
	if (rc && ns)
		fuzz_fail("namespace: error %d with an object", rc);
	kl_namespace_free(r->intern, ns);
	rc = kl_deployment_project_pb(r->intern, &opts, m->data, m->len, &d);
	if (rc && d)
		fuzz_fail("deployment: error %d with an object", rc);
	kl_deployment_free(r->intern, d);
	rc = kl_pb_meta_rv(m->data, m->len, rv, sizeof(rv));
	if (rc == 0 && strlen(rv) >= sizeof(rv))
		fuzz_fail("rv not terminated");
	if (kl_pb_status(m->data, m->len, &code, reason, sizeof(reason), message,
			 sizeof(message)) == 0 &&
	    (strlen(reason) >= sizeof(reason) || strlen(message) >= sizeof(message)))
		fuzz_fail("status strings not terminated");
}

static int on_msg(void *arg, enum kl_pb_what what, const struct kl_pb_msg *m)
{
	struct run *r = arg;

	if (what == KL_PB_DOC)
		r->docs++;
	else
		r->items++;
	if (!m->kind || (what == KL_PB_DOC && (!m->resource_version || !m->cont)))
		fuzz_fail("a NULL string handed out");
	r->digest = fuzz_mix(r->digest, &what, sizeof(what));
	r->digest = mix_str(r->digest, m->type);
	r->digest = mix_str(r->digest, m->kind);
	r->digest = fuzz_mix(r->digest, m->data, m->len);
	if (what == KL_PB_DOC) {
		r->digest = mix_str(r->digest, m->resource_version);
		r->digest = mix_str(r->digest, m->cont);
	}
	if (r->project)
		project(r, m);
	/* a callback error must stop the stream: say no to the 50th message */
	return r->items + r->docs == 50 ? -ECANCELED : 0;
}

/* Frames data in mode, whole (seed 0) or split; returns the final result. */
static int frame(enum kl_pb_mode mode, const uint8_t *data, size_t size, uint64_t seed,
		 struct run *r)
{
	struct kl_pb_stream *s = kl_pb_stream_new(mode, 1 << 16, on_msg, r);
	struct kl_error err;
	size_t off = 0, n;
	int rc = 0;

	if (!s)
		fuzz_fail("out of memory");
	kl_error_clear(&err);
	while (off < size && !rc) {
		n = seed ? fuzz_chunk(&seed, size - off) : size - off;
		rc = kl_pb_stream_feed(s, (const char *)data + off, n, &err);
		off += n;
	}
	if (!rc)
		rc = kl_pb_stream_finish(s, &err);
	if (rc == -EPROTO && !kl_error_isset(&err))
		fuzz_fail("-EPROTO without a message");
	if (rc && kl_pb_stream_feed(s, "x", 1, &err) != rc)
		fuzz_fail("a failed stream did not keep failing");
	kl_pb_stream_free(s);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum kl_pb_mode modes[] = { KL_PB_EVENTS, KL_PB_LIST, KL_PB_DOCUMENT };
	unsigned i;

	for (i = 0; i < 3; i++) {
		struct run whole = { 0 }, split = { .project = true };
		int a, b;

		split.intern = kl_intern_new();
		if (!split.intern)
			fuzz_fail("out of memory");
		a = frame(modes[i], data, size, 0, &whole);
		b = frame(modes[i], data, size, fuzz_seed(data, size) | 1, &split);
		if (a != b || whole.digest != split.digest || whole.items != split.items ||
		    whole.docs != split.docs)
			fuzz_fail("mode %u: whole and split differ (%d/%d, %u/%u items)", i, a, b,
				  whole.items, split.items);
		if (kl_intern_count(split.intern))
			fuzz_fail("%zu interned strings not released",
				  kl_intern_count(split.intern));
		kl_intern_free(split.intern);
	}
	return 0;
}
