/*
 * test/fuzz/fuzz_watch.c - the WATCH/LIST stream decoder and the cache behind it.
 *
 * Input: the bytes of a response body from the API server (a watch stream of
 * {"type":...,"object":{...}} events, or a List). Every input is decoded four
 * times: as EVENTS and as LIST, each once in a single chunk and once split at
 * boundaries drawn from a PRNG seeded by the first bytes. The split decode must
 * deliver exactly what the whole one does (same values, same result, same error)
 * - the decoder's contract is that chunks may be split anywhere.
 *
 * The split passes also drive what the reflector does with the values: each
 * object is projected into a pod, a namespace and a deployment store (upsert,
 * or remove for DELETED), an ERROR event's Status is decoded, and a LIST ends
 * with a relist sync. Afterwards the stores' namespace index must agree with
 * their lookups, and once the stores are freed every interned string must be
 * released (a leaked reference is a bug the leak checker cannot see).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kubeclient/client.h"
#include "kubeclient/json.h"
#include "kubeclient/objects.h"
#include "kubeclient/store.h"
#include "test/fuzz/fuzz.h"
#include "util/error.h"
#include "util/intern.h"

#define NSTORES 3

struct run {
	enum kl_json_mode mode;
	bool project;
	uint64_t digest; /* of every value delivered, in order */
	unsigned items, docs;
	struct kl_intern *intern;
	struct kl_store *stores[NSTORES];
};

static uint64_t digest(uint64_t h, const struct kl_json *v)
{
	const struct kl_json *c;

	for (; v; v = v->next) {
		h = fuzz_mix(h, &v->type, sizeof(v->type));
		if (v->key)
			h = fuzz_mix(h, v->key, strlen(v->key) + 1);
		if (v->str) {
			if (strlen(v->str) > v->len)
				fuzz_fail("string longer than its len");
			h = fuzz_mix(h, v->str, v->len);
		}
		h = fuzz_mix(h, &v->boolean, sizeof(v->boolean));
		h = fuzz_mix(h, &v->n, sizeof(v->n));
		if (v->type == KL_JSON_ARRAY || v->type == KL_JSON_OBJECT) {
			size_t n = 0;

			for (c = v->child; c; c = c->next) {
				n++;
				if ((v->type == KL_JSON_OBJECT) != (c->key != NULL))
					fuzz_fail(
					    "member key presence does not match the container");
			}
			if (n != v->n)
				fuzz_fail("container says %zu children, has %zu", v->n, n);
			h = digest(h, v->child);
		}
		/* the root's siblings are not part of the value */
		break;
	}
	return h;
}

/* Walks a namespace's index and checks it against the store's lookups. */
static void check_ns(const struct kl_store *s, const struct kl_meta *m)
{
	const struct kl_meta *o;
	size_t n = 0;

	if (kl_store_get(s, m->ns, kl_meta_name(m)) != m)
		fuzz_fail("kl_store_get does not find %s/%s", m->ns, kl_meta_name(m));
	for (o = kl_store_ns_first(s, m->ns); o; o = kl_store_ns_next(s, o)) {
		if (o->ns != m->ns)
			fuzz_fail("namespace index mixes %s and %s", o->ns, m->ns);
		if (++n > kl_store_len(s))
			fuzz_fail("namespace index loops");
	}
	if (n != kl_store_ns_len(s, m->ns))
		fuzz_fail("namespace %s: index walks %zu, ns_len says %zu", m->ns, n,
			  kl_store_ns_len(s, m->ns));
}

static void apply(struct run *r, const char *type, const struct kl_json *obj)
{
	struct kl_store_delta d;
	size_t i;
	int rc;

	for (i = 0; i < NSTORES; i++) {
		struct kl_store *s = r->stores[i];

		if (type && strcmp(type, "DELETED") == 0)
			rc = kl_store_remove(s, obj, &d);
		else
			rc = kl_store_upsert(s, obj, &d);
		if (rc < 0)
			continue;
		if (d.obj)
			check_ns(s, d.obj);
		if (d.old)
			kl_store_dispose(s, d.old);
	}
}

static int on_value(void *arg, enum kl_json_what what, const struct kl_json *v)
{
	struct run *r = arg;
	struct kl_kube_status st;
	const char *type;

	if (!v)
		fuzz_fail("NULL value delivered");
	r->digest = digest(fuzz_mix(r->digest, &what, sizeof(what)), v);
	if (what == KL_JSON_DOC) {
		r->docs++;
		if (r->mode == KL_JSON_LIST) {
			const struct kl_json *items = kl_json_get(v, "items");

			if (items && items->type == KL_JSON_ARRAY && items->n)
				fuzz_fail("LIST envelope kept items");
			kl_json_str(kl_json_path(v, "metadata", "resourceVersion", NULL), "");
			kl_json_str(kl_json_path(v, "metadata", "continue", NULL), "");
		}
		return 0;
	}
	r->items++;
	type = kl_json_str(kl_json_get(v, "type"), "");
	/* a callback may stop the stream: exercise that path on a made-up type */
	if (r->mode == KL_JSON_EVENTS && strcmp(type, "STOP") == 0)
		return -ECANCELED;
	if (!r->project)
		return 0;
	if (r->mode == KL_JSON_LIST) {
		apply(r, NULL, v);
		return 0;
	}
	if (strcmp(type, "ERROR") == 0) {
		kl_kube_status_from(&st, 0, kl_json_get(v, "object"));
		if (!st.reason || !st.message)
			fuzz_fail("status without reason/message strings");
		return 0;
	}
	if (strcmp(type, "BOOKMARK") == 0) {
		kl_json_str(kl_json_path(v, "object", "metadata", "resourceVersion", NULL), "");
		return 0;
	}
	apply(r, type, kl_json_get(v, "object"));
	return 0;
}

static int decode(struct run *r, const uint8_t *data, size_t size, size_t max_value, uint64_t *seed,
		  struct kl_error *err)
{
	struct kl_json_stream *js = kl_json_stream_new(r->mode, max_value, on_value, r);
	size_t off = 0, n;
	int rc = 0;

	if (!js)
		fuzz_fail("out of memory");
	kl_error_clear(err);
	while (off < size) {
		n = seed ? fuzz_chunk(seed, size - off) : size - off;
		rc = kl_json_stream_feed(js, (const char *)data + off, n, err);
		off += n;
		if (rc < 0)
			break;
	}
	if (rc == 0)
		rc = kl_json_stream_finish(js, err);
	if (rc < 0 && kl_json_stream_feed(js, "{}", 2, err) != rc)
		fuzz_fail("a failed stream did not keep failing with %d", rc);
	if (kl_json_stream_offset(js) != off)
		fuzz_fail("offset %llu after %zu bytes fed",
			  (unsigned long long)kl_json_stream_offset(js), off);
	kl_json_stream_free(js);
	return rc;
}

/*
 * yajl's own errors carry an offset it only estimates ("try to restore error
 * offset" in yajl_parser.c): after a token that arrived in pieces it differs from
 * the whole-input one. The decoder's own offsets (too big, too deep, cut) do not.
 */
static char *yajl_offset_cut(char *msg)
{
	static const char pre[] = "malformed JSON at offset ";
	char *p, *q;

	if (strncmp(msg, pre, sizeof(pre) - 1) != 0)
		return msg;
	p = q = msg + sizeof(pre) - 1;
	while (*q >= '0' && *q <= '9')
		q++;
	memmove(p, q, strlen(q) + 1);
	return msg;
}

static void relist_end(struct run *r)
{
	struct kl_store_delta d;
	size_t i;

	for (i = 0; i < NSTORES; i++) {
		while (kl_store_take_unseen(r->stores[i], &d)) {
			if (d.change != KL_STORE_DELETE || !d.old)
				fuzz_fail("take_unseen gave no deleted object");
			kl_store_dispose(r->stores[i], d.old);
		}
	}
}

static void one_mode(enum kl_json_mode mode, const uint8_t *data, size_t size, size_t max_value)
{
	static const struct kl_store_type *const types[NSTORES] = {
	    &kl_store_pods, &kl_store_namespaces, &kl_store_deployments};
	static const struct kl_objects_opts opts = {.team_annotation = "kloompas.io/team"};
	struct run whole = {.mode = mode}, split = {.mode = mode, .project = true};
	struct kl_error ew, es;
	uint64_t seed = fuzz_seed(data, size);
	int rw, rs;
	size_t i;

	split.intern = kl_intern_new();
	if (!split.intern)
		fuzz_fail("out of memory");
	for (i = 0; i < NSTORES; i++) {
		split.stores[i] = kl_store_new(types[i], split.intern, &opts);
		if (!split.stores[i])
			fuzz_fail("out of memory");
		if (mode == KL_JSON_LIST)
			kl_store_sync_begin(split.stores[i]);
	}

	rw = decode(&whole, data, size, max_value, NULL, &ew);
	rs = decode(&split, data, size, max_value, &seed, &es);
	if (rw != rs)
		fuzz_fail("mode %d: whole input gives %d (%s), split gives %d (%s)", mode, rw,
			  ew.msg, rs, es.msg);
	if ((whole.items != split.items || whole.docs != split.docs ||
	     whole.digest != split.digest))
		fuzz_fail("mode %d: split delivery differs: %u/%u items, %u/%u docs", mode,
			  whole.items, split.items, whole.docs, split.docs);
	if (strcmp(yajl_offset_cut(ew.msg), yajl_offset_cut(es.msg)) != 0)
		fuzz_fail("mode %d: error \"%s\" whole, \"%s\" split", mode, ew.msg, es.msg);

	if (mode == KL_JSON_LIST) {
		relist_end(&split);
	} else {
		/* a relist that sees nothing empties the stores */
		for (i = 0; i < NSTORES; i++)
			kl_store_sync_begin(split.stores[i]);
		relist_end(&split);
		for (i = 0; i < NSTORES; i++)
			if (kl_store_len(split.stores[i]))
				fuzz_fail("store not empty after an empty relist");
	}
	for (i = 0; i < NSTORES; i++)
		kl_store_free(split.stores[i]);
	if (kl_intern_count(split.intern))
		fuzz_fail("%zu interned strings still referenced after the stores were freed",
			  kl_intern_count(split.intern));
	kl_intern_free(split.intern);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a small value limit sometimes, to exercise "value too big" mid-stream */
	size_t max_value = size && (data[size - 1] & 0x0f) == 0x0f ? 512 : 0;

	one_mode(KL_JSON_EVENTS, data, size, max_value);
	one_mode(KL_JSON_LIST, data, size, max_value);
	return 0;
}
