/*
 * test/unit/test_json.c - the streaming JSON decoder: trees, chunking, modes, refusals.
 *
 * Every delivered value is re-serialised into a canonical compact form so that
 * "the same result" can be compared byte for byte whatever the chunking: whole,
 * every 2-way split, and one byte at a time. Timing of delivery is part of the
 * contract (an item or an event arrives as soon as its last byte is fed), so the
 * tests count deliveries after each feed rather than only at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h> /* after the three above, which it needs */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeclient/json.h"

/* ---------------------------------------------------------------- helpers */

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void put_string(struct buf *b, const char *s, size_t len)
{
	char esc[8];

	buf_add(b, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			buf_add(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			buf_add(b, esc, 6);
		} else {
			buf_add(b, (const char *)&c, 1);
		}
	}
	buf_add(b, "\"", 1);
}

/* Canonical compact JSON of a tree; also checks the tree's own invariants. */
static void put_value(struct buf *b, const struct kl_json *v)
{
	const struct kl_json *c;
	size_t n = 0;

	switch (v->type) {
	case KL_JSON_NULL:
		buf_str(b, "null");
		return;
	case KL_JSON_BOOL:
		buf_str(b, v->boolean ? "true" : "false");
		return;
	case KL_JSON_NUMBER:
		assert_int_equal(strlen(v->str), v->len);
		buf_add(b, v->str, v->len);
		return;
	case KL_JSON_STRING:
		assert_int_equal(v->str[v->len], '\0');
		put_string(b, v->str, v->len);
		return;
	case KL_JSON_ARRAY:
	case KL_JSON_OBJECT:
		buf_str(b, v->type == KL_JSON_ARRAY ? "[" : "{");
		for (c = v->child; c; c = c->next, n++) {
			if (n)
				buf_str(b, ",");
			if (v->type == KL_JSON_OBJECT) {
				assert_non_null(c->key);
				put_string(b, c->key, strlen(c->key));
				buf_str(b, ":");
			} else {
				assert_null(c->key);
			}
			put_value(b, c);
		}
		assert_int_equal(n, v->n);
		buf_str(b, v->type == KL_JSON_ARRAY ? "]" : "}");
		return;
	}
	fail_msg("bad node type %d", v->type);
}

static char *canon(const struct kl_json *v)
{
	struct buf b = {0};

	put_value(&b, v);
	return b.p;
}

#define MAX_SEEN 64

/* What a stream delivered, each value re-serialised while it was still valid. */
struct seen {
	char *items[MAX_SEEN];
	int nitems;
	char *doc;
	int ndocs;
	int stop_at; /* return stop_rc on this delivery (1-based); 0 never */
	int stop_rc;
	int calls;
	bool count_only; /* count items, keep none */
};

static int collect(void *arg, enum kl_json_what what, const struct kl_json *v)
{
	struct seen *s = arg;

	assert_non_null(v);
	s->calls++;
	if (what == KL_JSON_ITEM && s->count_only) {
		s->nitems++;
	} else if (what == KL_JSON_ITEM) {
		assert_true(s->nitems < MAX_SEEN);
		s->items[s->nitems++] = canon(v);
	} else {
		assert_int_equal(what, KL_JSON_DOC);
		assert_null(s->doc);
		s->doc = canon(v);
		s->ndocs++;
	}
	if (s->stop_at && s->calls == s->stop_at)
		return s->stop_rc;
	return 0;
}

static void seen_free(struct seen *s)
{
	for (int i = 0; i < s->nitems && !s->count_only; i++)
		free(s->items[i]);
	free(s->doc);
	memset(s, 0, sizeof(*s));
}

static void assert_seen_equal(const struct seen *a, const struct seen *b)
{
	assert_int_equal(a->nitems, b->nitems);
	for (int i = 0; i < a->nitems; i++)
		assert_string_equal(a->items[i], b->items[i]);
	assert_int_equal(a->ndocs, b->ndocs);
	if (a->doc || b->doc) {
		assert_non_null(a->doc);
		assert_non_null(b->doc);
		assert_string_equal(a->doc, b->doc);
	}
}

/* Feeds data in the given chunk size (0: whole) and finishes; returns the first failure. */
static int run(enum kl_json_mode mode, size_t max, const char *data, size_t len, size_t chunk,
	       struct seen *seen, struct kl_error *err)
{
	struct kl_json_stream *s = kl_json_stream_new(mode, max, collect, seen);
	size_t off = 0, n;
	int rc = 0;

	assert_non_null(s);
	kl_error_clear(err);
	if (!chunk)
		chunk = len ? len : 1;
	while (off < len && !rc) {
		n = len - off < chunk ? len - off : chunk;
		rc = kl_json_stream_feed(s, data + off, n, err);
		off += n;
	}
	if (!rc) {
		assert_int_equal(kl_json_stream_offset(s), len);
		rc = kl_json_stream_finish(s, err);
	}
	kl_json_stream_free(s);
	return rc;
}

static int run_str(enum kl_json_mode mode, const char *data, struct seen *seen,
		   struct kl_error *err)
{
	return run(mode, 0, data, strlen(data), 0, seen, err);
}

static char *load(const char *name, size_t *len)
{
	const char *dir = getenv("KL_TEST_DATA");
	char path[512];
	FILE *f;
	char *p;
	long n;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/json/%s", dir, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = '\0';
	fclose(f);
	/* the fixture ends with a newline; the tests want the bare value */
	while (n && p[n - 1] == '\n')
		p[--n] = '\0';
	*len = (size_t)n;
	return p;
}

/* The n-th (0-based) element of an array, NULL past the end. */
static const struct kl_json *at(const struct kl_json *arr, size_t n)
{
	const struct kl_json *c;

	if (!arr || arr->type != KL_JSON_ARRAY)
		return NULL;
	for (c = arr->child; c && n; c = c->next)
		n--;
	return c;
}

static int64_t int_of(const struct kl_json *v)
{
	int64_t x = -1;

	assert_int_equal(kl_json_int(v, &x), 0);
	return x;
}

/* ---------------------------------------------------------------- a pod */

static int check_pod(void *arg, enum kl_json_what what, const struct kl_json *pod)
{
	const struct kl_json *md, *owner, *cs, *conds, *mf, *v;
	int *called = arg;

	assert_int_equal(what, KL_JSON_DOC);
	(*called)++;
	assert_int_equal(pod->type, KL_JSON_OBJECT);
	assert_null(pod->key);
	assert_string_equal(kl_json_str(kl_json_get(pod, "kind"), NULL), "Pod");
	md = kl_json_get(pod, "metadata");
	assert_non_null(md);
	assert_string_equal(kl_json_str(kl_json_get(md, "name"), NULL), "web-7d4b9c8f6d-x2k9p");
	assert_string_equal(kl_json_str(kl_json_path(pod, "metadata", "namespace", NULL), NULL),
			    "shop");
	assert_string_equal(
	    kl_json_str(kl_json_path(pod, "metadata", "resourceVersion", NULL), NULL), "81234");
	assert_string_equal(
	    kl_json_str(kl_json_path(md, "labels", "app.kubernetes.io/name", NULL), NULL), "web");
	assert_string_equal(kl_json_str(kl_json_path(md, "annotations", "note", NULL), NULL),
			    "caf\xc3\xa9 \"quoted\" back\\slash");

	owner = at(kl_json_get(md, "ownerReferences"), 0);
	assert_non_null(owner);
	assert_string_equal(kl_json_str(kl_json_get(owner, "kind"), NULL), "ReplicaSet");
	v = kl_json_get(owner, "controller");
	assert_non_null(v);
	assert_int_equal(v->type, KL_JSON_BOOL);
	assert_true(v->boolean);
	assert_null(at(kl_json_get(md, "ownerReferences"), 1));

	mf = kl_json_get(md, "managedFields");
	assert_non_null(mf);
	assert_int_equal(mf->n, 2);
	assert_string_equal(kl_json_str(kl_json_get(at(mf, 1), "manager"), NULL), "kubelet");
	v = kl_json_path(at(mf, 0), "fieldsV1", "f:metadata", "f:ownerReferences",
			 "k:{\"uid\":\"0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0\"}", NULL);
	assert_non_null(v);
	assert_int_equal(v->type, KL_JSON_OBJECT);
	assert_int_equal(v->n, 0);
	assert_null(v->child);

	v = at(kl_json_path(pod, "spec", "containers", NULL), 0);
	assert_string_equal(kl_json_str(kl_json_get(v, "image"), NULL),
			    "registry.example.com/shop/web:1.4.2");
	assert_string_equal(
	    kl_json_str(kl_json_path(v, "resources", "limits", "memory", NULL), NULL), "128Mi");
	assert_string_equal(kl_json_str(kl_json_get(at(kl_json_get(v, "env"), 0), "value"), NULL),
			    "h\xc3\xa9llo \xf0\x9f\x98\x80");
	assert_int_equal(int_of(kl_json_get(at(kl_json_get(v, "ports"), 0), "containerPort")),
			 8080);
	assert_int_equal(int_of(kl_json_path(pod, "spec", "terminationGracePeriodSeconds", NULL)),
			 30);

	assert_string_equal(kl_json_str(kl_json_path(pod, "status", "phase", NULL), NULL),
			    "Running");
	conds = kl_json_path(pod, "status", "conditions", NULL);
	assert_non_null(conds);
	assert_int_equal(conds->n, 3);
	assert_string_equal(kl_json_str(kl_json_get(at(conds, 1), "reason"), NULL),
			    "ContainersNotReady");
	v = kl_json_get(at(conds, 0), "lastProbeTime");
	assert_non_null(v);
	assert_int_equal(v->type, KL_JSON_NULL);

	cs = at(kl_json_path(pod, "status", "containerStatuses", NULL), 0);
	assert_non_null(cs);
	assert_string_equal(kl_json_str(kl_json_path(cs, "state", "waiting", "reason", NULL), NULL),
			    "CrashLoopBackOff");
	assert_int_equal(int_of(kl_json_path(cs, "lastState", "terminated", "exitCode", NULL)),
			 137);
	assert_string_equal(
	    kl_json_str(kl_json_path(cs, "lastState", "terminated", "reason", NULL), NULL),
	    "OOMKilled");
	assert_int_equal(int_of(kl_json_get(cs, "restartCount")), 7);
	v = kl_json_get(cs, "ready");
	assert_int_equal(v->type, KL_JSON_BOOL);
	assert_false(v->boolean);

	/* absent members, wrong types and defaults */
	assert_null(kl_json_path(pod, "metadata", "nope", "deeper", NULL));
	assert_null(kl_json_path(pod, "kind", "x", NULL));
	assert_null(kl_json_get(NULL, "x"));
	assert_null(kl_json_get(conds, "0"));
	assert_ptr_equal(kl_json_path(pod, NULL), pod);
	assert_string_equal(kl_json_str(NULL, "dflt"), "dflt");
	assert_string_equal(kl_json_str(cs, "dflt"), "dflt");
	assert_null(kl_json_str(kl_json_get(cs, "restartCount"), NULL));
	return 0;
}

static void test_pod_document(void **unused)
{
	struct kl_json_stream *s;
	struct kl_error err;
	size_t len;
	char *pod = load("pod.json", &len);
	int called = 0;

	kl_error_clear(&err);
	s = kl_json_stream_new(KL_JSON_DOCUMENT, 0, check_pod, &called);
	assert_non_null(s);
	assert_int_equal(kl_json_stream_feed(s, pod, len, &err), 0);
	assert_int_equal(called, 0); /* a document is delivered at finish */
	assert_int_equal(kl_json_stream_offset(s), len);
	assert_int_equal(kl_json_stream_finish(s, &err), 0);
	assert_int_equal(called, 1);
	assert_false(kl_error_isset(&err));
	/* finishing twice, or feeding after the end, is a caller bug reported as such */
	assert_int_equal(kl_json_stream_finish(s, &err), -EINVAL);
	assert_int_equal(kl_json_stream_feed(s, "1", 1, NULL), -EINVAL);
	kl_json_stream_free(s);
	free(pod);
}

static void test_pod_every_split(void **unused)
{
	struct seen whole = {0}, part = {0};
	struct kl_json_stream *s;
	struct kl_error err;
	size_t len, i;
	char *pod = load("pod.json", &len);
	char *canon_text;

	assert_int_equal(run(KL_JSON_DOCUMENT, 0, pod, len, 0, &whole, &err), 0);
	assert_int_equal(whole.ndocs, 1);
	/* our canonical form of this fixture is the fixture itself, but with \u escapes decoded */
	assert_non_null(strstr(whole.doc, "\"note\":\"caf\xc3\xa9 \\\"quoted\\\" back\\\\slash\""));

	for (i = 0; i <= len; i++) {
		kl_error_clear(&err);
		s = kl_json_stream_new(KL_JSON_DOCUMENT, 0, collect, &part);
		assert_non_null(s);
		assert_int_equal(kl_json_stream_feed(s, pod, i, &err), 0);
		assert_int_equal(kl_json_stream_feed(s, pod + i, len - i, &err), 0);
		assert_int_equal(kl_json_stream_finish(s, &err), 0);
		kl_json_stream_free(s);
		assert_seen_equal(&whole, &part);
		seen_free(&part);
	}

	assert_int_equal(run(KL_JSON_DOCUMENT, 0, pod, len, 1, &part, &err), 0);
	assert_seen_equal(&whole, &part);
	seen_free(&part);

	/* the canonical text parses back to itself */
	canon_text = strdup(whole.doc);
	assert_int_equal(run(KL_JSON_DOCUMENT, 0, canon_text, strlen(canon_text), 7, &part, &err),
			 0);
	assert_string_equal(part.doc, canon_text);
	free(canon_text);
	seen_free(&part);
	seen_free(&whole);
	free(pod);
}

/* ---------------------------------------------------------------- LIST */

static const char list_head[] =
    "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"81300\","
    "\"continue\":\"eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6ODEzMDAsInN0YXJ0IjoiZGItMFx1MDAwMCJ9\","
    "\"remainingItemCount\":1197},\n\"items\":[";
static const char item2[] = "{\"metadata\":{\"name\":\"db-0\",\"namespace\":\"shop\","
			    "\"items\":[1,2]},\"status\":{\"phase\":\"Pending\"}}";
static const char item3[] = "{\"metadata\":{\"name\":\"db-1\"},\"spec\":{\"containers\":[]}}";
static const char list_tail[] = "],\"extra\":{\"after\":true}}";

static void test_list(void **unused)
{
	struct seen seen = {0}, bytes = {0};
	struct kl_json_stream *s;
	struct kl_error err;
	size_t len, off, n;
	char *pod = load("pod.json", &len);
	struct buf all = {0};

	kl_error_clear(&err);
	s = kl_json_stream_new(KL_JSON_LIST, 0, collect, &seen);
	assert_non_null(s);

	assert_int_equal(kl_json_stream_feed(s, list_head, strlen(list_head), &err), 0);
	assert_int_equal(seen.nitems, 0);
	/* item 1 arrives when its last byte does, before a byte of item 2 */
	assert_int_equal(kl_json_stream_feed(s, pod, len - 1, &err), 0);
	assert_int_equal(seen.nitems, 0);
	assert_int_equal(kl_json_stream_feed(s, pod + len - 1, 1, &err), 0);
	assert_int_equal(seen.nitems, 1);
	assert_non_null(strstr(seen.items[0], "\"name\":\"web-7d4b9c8f6d-x2k9p\""));
	assert_int_equal(kl_json_stream_feed(s, ",", 1, &err), 0);
	assert_int_equal(kl_json_stream_feed(s, item2, strlen(item2), &err), 0);
	assert_int_equal(seen.nitems, 2);
	assert_int_equal(kl_json_stream_feed(s, ",", 1, &err), 0);
	assert_int_equal(kl_json_stream_feed(s, item3, 10, &err), 0);
	assert_int_equal(seen.nitems, 2);
	assert_int_equal(kl_json_stream_feed(s, item3 + 10, strlen(item3) - 10, &err), 0);
	assert_int_equal(seen.nitems, 3);
	assert_int_equal(kl_json_stream_feed(s, list_tail, strlen(list_tail), &err), 0);
	assert_int_equal(seen.ndocs, 0);
	assert_int_equal(kl_json_stream_finish(s, &err), 0);
	assert_int_equal(seen.ndocs, 1);
	kl_json_stream_free(s);

	/* items are whole, nested "items" included; the envelope keeps an empty one */
	assert_string_equal(seen.items[1], item2);
	assert_string_equal(seen.items[2], item3);
	assert_string_equal(
	    seen.doc,
	    "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":"
	    "\"81300\",\"continue\":\"eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6ODEzMDAsInN0YXJ0"
	    "IjoiZGItMFx1MDAwMCJ9\",\"remainingItemCount\":1197},\"items\":[],\"extra\":{"
	    "\"after\":true}}");

	/* the same bytes, one at a time, and in every 2-way split */
	buf_str(&all, list_head);
	buf_add(&all, pod, len);
	buf_str(&all, ",");
	buf_str(&all, item2);
	buf_str(&all, ",");
	buf_str(&all, item3);
	buf_str(&all, list_tail);
	assert_int_equal(run(KL_JSON_LIST, 0, all.p, all.len, 1, &bytes, &err), 0);
	assert_seen_equal(&seen, &bytes);
	seen_free(&bytes);
	for (off = 0; off <= all.len; off += 97) {
		s = kl_json_stream_new(KL_JSON_LIST, 0, collect, &bytes);
		assert_non_null(s);
		assert_int_equal(kl_json_stream_feed(s, all.p, off, &err), 0);
		n = all.len - off;
		assert_int_equal(kl_json_stream_feed(s, all.p + off, n, &err), 0);
		assert_int_equal(kl_json_stream_finish(s, &err), 0);
		kl_json_stream_free(s);
		assert_seen_equal(&seen, &bytes);
		seen_free(&bytes);
	}
	free(all.p);
	seen_free(&seen);
	free(pod);
}

static void test_list_shapes(void **unused)
{
	struct seen seen = {0};
	struct kl_error err;

	/* scalars and arrays as items; "items" nested deeper is not streamed */
	assert_int_equal(run_str(KL_JSON_LIST,
				 " {\"metadata\":{\"items\":[9]},\"items\":[1,\"a\",null,true,"
				 "[2,[]],{}]} ",
				 &seen, &err),
			 0);
	assert_int_equal(seen.nitems, 6);
	assert_string_equal(seen.items[0], "1");
	assert_string_equal(seen.items[1], "\"a\"");
	assert_string_equal(seen.items[2], "null");
	assert_string_equal(seen.items[3], "true");
	assert_string_equal(seen.items[4], "[2,[]]");
	assert_string_equal(seen.items[5], "{}");
	assert_string_equal(seen.doc, "{\"metadata\":{\"items\":[9]},\"items\":[]}");
	seen_free(&seen);

	/* an empty list, and "items": null as an old server may send */
	assert_int_equal(run_str(KL_JSON_LIST, "{\"kind\":\"PodList\",\"items\":[]}", &seen, &err),
			 0);
	assert_int_equal(seen.nitems, 0);
	assert_string_equal(seen.doc, "{\"kind\":\"PodList\",\"items\":[]}");
	seen_free(&seen);
	assert_int_equal(run_str(KL_JSON_LIST, "{\"items\":null,\"kind\":\"X\"}", &seen, &err), 0);
	assert_int_equal(seen.nitems, 0);
	assert_string_equal(seen.doc, "{\"items\":null,\"kind\":\"X\"}");
	seen_free(&seen);

	/* a list must be an object */
	assert_int_equal(run_str(KL_JSON_LIST, "[1,2]", &seen, &err), -EPROTO);
	assert_string_equal(err.msg, "JSON list is not an object at offset 1");
	assert_int_equal(seen.calls, 0);
	assert_int_equal(run_str(KL_JSON_LIST, "\"PodList\"", &seen, &err), -EPROTO);
	assert_int_equal(seen.calls, 0);
	assert_int_equal(run_str(KL_JSON_LIST, "  ", &seen, &err), -EPROTO);
	assert_string_equal(err.msg, "empty document");
	/* cut after an item: the item was delivered, the envelope never is */
	assert_int_equal(run_str(KL_JSON_LIST, "{\"items\":[{\"a\":1},{\"b\"", &seen, &err),
			 -EPROTO);
	assert_int_equal(seen.nitems, 1);
	assert_int_equal(seen.ndocs, 0);
	assert_string_equal(err.msg, "stream ended inside a JSON value at offset 22");
	seen_free(&seen);
}

/* ---------------------------------------------------------------- EVENTS */

static void test_events(void **unused)
{
	struct seen seen = {0}, ref = {0};
	struct kl_json_stream *s;
	struct kl_error err;
	struct buf all = {0};
	size_t len, ends[5], i, e, n, off;
	char *pod = load("pod.json", &len);
	const char *ev[5] = {
	    NULL, /* ADDED with the pod, built below */
	    "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":"
	    "\"db-0\",\"resourceVersion\":\"81240\"}}}",
	    "{\"type\":\"DELETED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":"
	    "\"db-1\",\"resourceVersion\":\"81250\"}}}",
	    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
	    "\"metadata\":{\"resourceVersion\":\"81300\",\"annotations\":{"
	    "\"k8s.io/initial-events-end\":\"true\"}}}}",
	    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
	    "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version: "
	    "81234 (81300)\",\"reason\":\"Expired\",\"code\":410}}",
	};
	struct buf first = {0};

	buf_str(&first, "{\"type\":\"ADDED\",\"object\":");
	buf_add(&first, pod, len);
	buf_str(&first, "}");
	ev[0] = first.p;
	for (e = 0; e < 5; e++) {
		buf_str(&all, ev[e]);
		ends[e] = all.len;
		buf_str(&all, "\n");
	}

	/* reference: the whole stream at once */
	assert_int_equal(run(KL_JSON_EVENTS, 0, all.p, all.len, 0, &ref, &err), 0);
	assert_int_equal(ref.nitems, 5);
	assert_int_equal(ref.ndocs, 0);
	for (e = 1; e < 5; e++)
		assert_string_equal(ref.items[e], ev[e]);

	/* byte by byte: each event arrives with its own last byte, not later */
	kl_error_clear(&err);
	s = kl_json_stream_new(KL_JSON_EVENTS, 0, collect, &seen);
	assert_non_null(s);
	for (i = 0, e = 0; i < all.len; i++) {
		assert_int_equal(kl_json_stream_feed(s, all.p + i, 1, &err), 0);
		if (e < 5 && i + 1 == ends[e])
			e++;
		assert_int_equal(seen.nitems, (int)e);
	}
	assert_int_equal(kl_json_stream_finish(s, &err), 0);
	kl_json_stream_free(s);
	assert_seen_equal(&ref, &seen);
	seen_free(&seen);

	/* chunks that end exactly at event boundaries, then chunks cut mid-event */
	s = kl_json_stream_new(KL_JSON_EVENTS, 0, collect, &seen);
	assert_non_null(s);
	for (off = 0, e = 0; e < 5; e++) {
		assert_int_equal(kl_json_stream_feed(s, all.p + off, ends[e] - off, &err), 0);
		assert_int_equal(seen.nitems, (int)e + 1);
		off = ends[e];
	}
	assert_int_equal(kl_json_stream_feed(s, all.p + off, all.len - off, &err), 0);
	assert_int_equal(kl_json_stream_finish(s, &err), 0);
	kl_json_stream_free(s);
	assert_seen_equal(&ref, &seen);
	seen_free(&seen);

	s = kl_json_stream_new(KL_JSON_EVENTS, 0, collect, &seen);
	assert_non_null(s);
	for (off = 0, e = 0; e < 5; e++) {
		size_t mid = ends[e] - (ends[e] - (e ? ends[e - 1] : 0)) / 2;

		assert_int_equal(kl_json_stream_feed(s, all.p + off, mid - off, &err), 0);
		assert_int_equal(seen.nitems, (int)e);
		off = mid;
	}
	n = all.len - off;
	assert_int_equal(kl_json_stream_feed(s, all.p + off, n, &err), 0);
	assert_int_equal(seen.nitems, 5);
	assert_int_equal(kl_json_stream_finish(s, &err), 0);
	kl_json_stream_free(s);
	assert_seen_equal(&ref, &seen);
	seen_free(&seen);

	/* events back to back without a newline, and every 2-way split */
	for (off = 0; off <= all.len; off += 13) {
		s = kl_json_stream_new(KL_JSON_EVENTS, 0, collect, &seen);
		assert_non_null(s);
		assert_int_equal(kl_json_stream_feed(s, all.p, off, &err), 0);
		assert_int_equal(kl_json_stream_feed(s, all.p + off, all.len - off, &err), 0);
		assert_int_equal(kl_json_stream_finish(s, &err), 0);
		kl_json_stream_free(s);
		assert_seen_equal(&ref, &seen);
		seen_free(&seen);
	}
	assert_int_equal(run_str(KL_JSON_EVENTS, "{\"a\":1}{\"b\":2}[3] 4 \"five\"", &seen, &err),
			 0);
	assert_int_equal(seen.nitems, 5);
	assert_string_equal(seen.items[1], "{\"b\":2}");
	assert_string_equal(seen.items[3], "4");
	assert_string_equal(seen.items[4], "\"five\"");
	seen_free(&seen);

	/* nothing at all, or only blank lines, is a clean end of a watch */
	assert_int_equal(run_str(KL_JSON_EVENTS, "", &seen, &err), 0);
	assert_int_equal(run_str(KL_JSON_EVENTS, "\n\r\n  \t", &seen, &err), 0);
	assert_int_equal(seen.calls, 0);

	free(all.p);
	free(first.p);
	seen_free(&ref);
	free(pod);
}

struct error_event {
	int calls;
	int64_t code;
	char reason[32];
};

static int on_error_event(void *arg, enum kl_json_what what, const struct kl_json *ev)
{
	struct error_event *x = arg;
	const struct kl_json *obj = kl_json_get(ev, "object");

	assert_int_equal(what, KL_JSON_ITEM);
	x->calls++;
	if (strcmp(kl_json_str(kl_json_get(ev, "type"), ""), "ERROR"))
		return 0;
	assert_string_equal(kl_json_str(kl_json_get(obj, "kind"), NULL), "Status");
	assert_int_equal(kl_json_int(kl_json_get(obj, "code"), &x->code), 0);
	snprintf(x->reason, sizeof(x->reason), "%s", kl_json_str(kl_json_get(obj, "reason"), ""));
	return 0;
}

static void test_event_error_status(void **unused)
{
	static const char stream[] =
	    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}\n"
	    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
	    "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version\","
	    "\"reason\":\"Expired\",\"code\":410}}\n";
	struct error_event x = {0};
	struct kl_json_stream *s = kl_json_stream_new(KL_JSON_EVENTS, 0, on_error_event, &x);
	struct kl_error err;

	assert_non_null(s);
	kl_error_clear(&err);
	assert_int_equal(kl_json_stream_feed(s, stream, sizeof(stream) - 1, &err), 0);
	assert_int_equal(x.calls, 2);
	assert_int_equal(x.code, 410);
	assert_string_equal(x.reason, "Expired");
	assert_int_equal(kl_json_stream_finish(s, &err), 0);
	kl_json_stream_free(s);
}

/* ---------------------------------------------------------------- errors */

static void test_malformed(void **unused)
{
	struct seen seen = {0};
	struct kl_error err;
	struct kl_json_stream *s;

	assert_int_equal(run_str(KL_JSON_DOCUMENT, "{\"a\":1,]", &seen, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "malformed JSON at offset "));
	assert_non_null(strstr(err.msg, "parse error"));
	assert_null(strchr(err.msg, '\n'));
	assert_int_equal(run_str(KL_JSON_DOCUMENT, "hello", &seen, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "lexical error"));
	assert_int_equal(run_str(KL_JSON_DOCUMENT, "{\"a\" 1}", &seen, &err), -EPROTO);
	assert_int_equal(run_str(KL_JSON_DOCUMENT, "{} {}", &seen, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "trailing garbage"));
	assert_int_equal(run_str(KL_JSON_EVENTS, "{}\n}", &seen, &err), -EPROTO);
	assert_int_equal(seen.nitems, 1);
	seen_free(&seen);
	assert_int_equal(run_str(KL_JSON_DOCUMENT, "[1 2]", &seen, &err), -EPROTO);
	assert_int_equal(run_str(KL_JSON_DOCUMENT, "[01]", &seen, &err), -EPROTO);
	assert_int_equal(run_str(KL_JSON_DOCUMENT, "\"tab\there\"", &seen, &err), -EPROTO);
	assert_int_equal(run_str(KL_JSON_DOCUMENT, "{\"a\":1} // no comments", &seen, &err),
			 -EPROTO);
	assert_int_equal(seen.calls, 0);

	/* the offset counts the bytes up to the bad one, over all chunks */
	kl_error_clear(&err);
	s = kl_json_stream_new(KL_JSON_DOCUMENT, 0, collect, &seen);
	assert_non_null(s);
	assert_int_equal(kl_json_stream_feed(s, "[1,2,", 5, &err), 0);
	assert_int_equal(kl_json_stream_feed(s, "3,@]", 4, &err), -EPROTO);
	assert_string_equal(err.msg,
			    "malformed JSON at offset 8: lexical error: invalid char in json text");
	/* and from then on the stream only fails, with the same code and message */
	kl_error_clear(&err);
	assert_int_equal(kl_json_stream_feed(s, "]", 1, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "invalid char in json text"));
	assert_int_equal(kl_json_stream_finish(s, &err), -EPROTO);
	assert_int_equal(kl_json_stream_finish(s, NULL), -EPROTO);
	kl_json_stream_free(s);
	assert_int_equal(seen.calls, 0);
}

static void test_cut_stream(void **unused)
{
	struct seen seen = {0};
	struct kl_error err;

	assert_int_equal(run_str(KL_JSON_DOCUMENT, "{\"a\":[1,2", &seen, &err), -EPROTO);
	assert_string_equal(err.msg, "stream ended inside a JSON value at offset 9");
	assert_int_equal(run_str(KL_JSON_DOCUMENT, "\"abc", &seen, &err), -EPROTO);
	assert_string_equal(err.msg, "stream ended inside a JSON value at offset 4");
	assert_int_equal(run_str(KL_JSON_DOCUMENT, "{\"a\":\"b\\u00", &seen, &err), -EPROTO);
	assert_int_equal(run_str(KL_JSON_DOCUMENT, "", &seen, &err), -EPROTO);
	assert_string_equal(err.msg, "empty document");
	assert_int_equal(run_str(KL_JSON_DOCUMENT, " \n", &seen, &err), -EPROTO);
	assert_string_equal(err.msg, "empty document");
	assert_int_equal(seen.calls, 0);

	/* a top-level number is complete only once the input ends */
	assert_int_equal(run_str(KL_JSON_DOCUMENT, "-12.5e3", &seen, &err), 0);
	assert_string_equal(seen.doc, "-12.5e3");
	seen_free(&seen);

	/* a watch cut mid-event: earlier events were delivered, the end is refused */
	assert_int_equal(
	    run_str(KL_JSON_EVENTS, "{\"type\":\"ADDED\"}\n{\"type\":\"MOD", &seen, &err), -EPROTO);
	assert_int_equal(seen.nitems, 1);
	assert_string_equal(err.msg, "stream ended inside a JSON value at offset 29");
	seen_free(&seen);
	/* also when cut inside a top-level string or literal, which yajl itself would let pass */
	assert_int_equal(run_str(KL_JSON_EVENTS, "{}\n\"abc", &seen, &err), -EPROTO);
	assert_string_equal(err.msg, "stream ended inside a JSON value at offset 7");
	seen_free(&seen);
	assert_int_equal(run(KL_JSON_EVENTS, 0, "{} \"ab", 6, 1, &seen, &err), -EPROTO);
	seen_free(&seen);
	assert_int_equal(run_str(KL_JSON_EVENTS, "{}\ntru", &seen, &err), -EPROTO);
	seen_free(&seen);
	/* a number at the very end is complete */
	assert_int_equal(run(KL_JSON_EVENTS, 0, "{}\n42", 5, 1, &seen, &err), 0);
	assert_int_equal(seen.nitems, 2);
	assert_string_equal(seen.items[1], "42");
	seen_free(&seen);
}

static void test_invalid_utf8(void **unused)
{
	struct seen seen = {0};
	struct kl_error err;

	assert_int_equal(run_str(KL_JSON_DOCUMENT, "{\"a\":\"x\xff y\"}", &seen, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "invalid bytes in UTF8 string"));
	assert_int_equal(run_str(KL_JSON_DOCUMENT, "[\"\xc3\"]", &seen, &err), -EPROTO);
	assert_int_equal(run_str(KL_JSON_DOCUMENT, "{\"k\xfe\":1}", &seen, &err), -EPROTO);
	assert_int_equal(run(KL_JSON_EVENTS, 0, "{}\n[\"ab\xe2\x82\"]", 12, 1, &seen, &err),
			 -EPROTO);
	assert_int_equal(seen.nitems, 1);
	seen_free(&seen);
	/* valid multi-byte text survives any split */
	assert_int_equal(
	    run(KL_JSON_DOCUMENT, 0, "[\"\xe2\x82\xac\xf0\x9f\x98\x80\"]", 11, 1, &seen, &err), 0);
	assert_string_equal(seen.doc, "[\"\xe2\x82\xac\xf0\x9f\x98\x80\"]");
	seen_free(&seen);
}

static void test_depth(void **unused)
{
	struct seen seen = {0};
	struct kl_error err;
	char doc[700];
	size_t i;

	/* 256 levels are fine */
	for (i = 0; i < 256; i++) {
		doc[i] = '[';
		doc[256 + i] = ']';
	}
	assert_int_equal(run(KL_JSON_DOCUMENT, 0, doc, 512, 0, &seen, &err), 0);
	assert_int_equal(strlen(seen.doc), 512);
	seen_free(&seen);
	assert_int_equal(run(KL_JSON_EVENTS, 0, doc, 512, 1, &seen, &err), 0);
	assert_int_equal(seen.nitems, 1);
	seen_free(&seen);

	/* 257 are not, nor 300 */
	memset(doc, '[', 300);
	memset(doc + 300, ']', 300);
	assert_int_equal(run(KL_JSON_DOCUMENT, 0, doc, 600, 0, &seen, &err), -EPROTO);
	assert_string_equal(err.msg, "JSON nested deeper than 256 at offset 257");
	assert_int_equal(run(KL_JSON_EVENTS, 0, doc, 600, 64, &seen, &err), -EPROTO);
	memcpy(doc, "{\"items\":", 9);
	memset(doc + 9, '[', 300);
	assert_int_equal(run(KL_JSON_LIST, 0, doc, 309, 0, &seen, &err), -EPROTO);
	assert_string_equal(err.msg, "JSON nested deeper than 256 at offset 265");
	assert_int_equal(seen.calls, 0);
}

static void test_max_value_bytes(void **unused)
{
	struct seen seen = {0};
	struct kl_error err;
	struct buf big = {0};
	char line[64];
	int i;

	/* a 2 KB string in a stream capped at 1 KB per value */
	buf_str(&big, "{\"a\":1}\n{\"data\":\"");
	for (i = 0; i < 2048; i++)
		buf_str(&big, "x");
	buf_str(&big, "\"}");
	assert_int_equal(run(KL_JSON_EVENTS, 1024, big.p, big.len, 100, &seen, &err), -EPROTO);
	assert_int_equal(seen.nitems, 1);
	assert_string_equal(err.msg, "JSON value larger than 1024 bytes at offset 2066");
	seen_free(&seen);
	free(big.p);
	memset(&big, 0, sizeof(big));

	/* many nodes add up just the same */
	buf_str(&big, "[");
	for (i = 0; i < 100; i++)
		buf_str(&big, i ? ",0" : "0");
	buf_str(&big, "]");
	assert_int_equal(run(KL_JSON_DOCUMENT, 1024, big.p, big.len, 0, &seen, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "JSON value larger than 1024 bytes at offset "));
	assert_int_equal(run(KL_JSON_DOCUMENT, 16384, big.p, big.len, 0, &seen, &err), 0);
	seen_free(&seen);
	free(big.p);
	memset(&big, 0, sizeof(big));

	/* the cap is per value: a long watch of small events never hits it */
	for (i = 0; i < 2000; i++) {
		snprintf(line, sizeof(line), "{\"type\":\"ADDED\",\"n\":%d}\n", i);
		buf_str(&big, line);
	}
	seen.count_only = true;
	assert_int_equal(run(KL_JSON_EVENTS, 512, big.p, big.len, 4096, &seen, &err), 0);
	assert_int_equal(seen.nitems, 2000);
	seen_free(&seen);
	free(big.p);
	memset(&big, 0, sizeof(big));

	/* in a LIST, items and the envelope are each bounded, not their sum */
	buf_str(&big, "{\"kind\":\"List\",\"items\":[");
	for (i = 0; i < 40; i++) {
		snprintf(line, sizeof(line), "%s{\"name\":\"item-%d\"}", i ? "," : "", i);
		buf_str(&big, line);
	}
	buf_str(&big, "]}");
	assert_int_equal(run(KL_JSON_LIST, 512, big.p, big.len, 1, &seen, &err), 0);
	assert_int_equal(seen.nitems, 40);
	assert_string_equal(seen.items[39], "{\"name\":\"item-39\"}");
	seen_free(&seen);
	free(big.p);
}

/* Stops after a given number of values; records everything it saw. */
static void test_callback_abort(void **unused)
{
	struct seen seen = {.stop_at = 2, .stop_rc = -ECANCELED};
	struct kl_json_stream *s = kl_json_stream_new(KL_JSON_EVENTS, 0, collect, &seen);
	struct kl_error err;

	assert_non_null(s);
	kl_error_clear(&err);
	assert_int_equal(kl_json_stream_feed(s, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n", 24, &err),
			 -ECANCELED);
	assert_int_equal(seen.calls, 2);
	assert_false(kl_error_isset(&err)); /* the callback knows why it stopped */
	assert_int_equal(kl_json_stream_feed(s, "{\"n\":4}", 7, &err), -ECANCELED);
	assert_int_equal(kl_json_stream_finish(s, &err), -ECANCELED);
	assert_int_equal(seen.calls, 2);
	kl_json_stream_free(s);
	seen_free(&seen);

	/* a LIST stopped by its first item */
	seen = (struct seen){.stop_at = 1, .stop_rc = -ENOSPC};
	assert_int_equal(run_str(KL_JSON_LIST, "{\"items\":[1,2,3]}", &seen, &err), -ENOSPC);
	assert_int_equal(seen.calls, 1);
	seen_free(&seen);

	/* the DOC callback's code comes back from finish */
	seen = (struct seen){.stop_at = 1, .stop_rc = -EIO};
	s = kl_json_stream_new(KL_JSON_DOCUMENT, 0, collect, &seen);
	assert_non_null(s);
	assert_int_equal(kl_json_stream_feed(s, "{}", 2, &err), 0);
	assert_int_equal(kl_json_stream_finish(s, &err), -EIO);
	assert_int_equal(kl_json_stream_finish(s, &err), -EIO);
	assert_int_equal(kl_json_stream_feed(s, " ", 1, &err), -EIO);
	kl_json_stream_free(s);
	seen_free(&seen);

	/* freeing a stream in the middle of a value leaks nothing (ASan checks) */
	s = kl_json_stream_new(KL_JSON_LIST, 0, collect, &seen);
	assert_non_null(s);
	assert_int_equal(kl_json_stream_feed(s, "{\"a\":{\"b\":[\"c\",{\"items\":", 24, &err), 0);
	kl_json_stream_free(s);
	kl_json_stream_free(NULL);
	seen_free(&seen);
}

/* ---------------------------------------------------------------- strings */

static void test_unicode_and_escapes(void **unused)
{
	static const char doc[] = "{\"e\\u00e9\":\"caf\\u00e9\",\"smile\":\"\\ud83d\\ude00!\","
				  "\"q\":\"a\\\"b\\\\c\\/d\",\"ctl\":\"\\n\\t\\r\\b\\f\","
				  "\"nul\":\"x\\u0000y\",\"raw\":\"\xe2\x82\xac\","
				  "\"\":\"empty key\",\"es\":\"\"}";
	struct seen seen = {0}, bytes = {0};
	struct kl_error err;

	assert_int_equal(run_str(KL_JSON_DOCUMENT, doc, &seen, &err), 0);
	assert_string_equal(
	    seen.doc, "{\"e\xc3\xa9\":\"caf\xc3\xa9\",\"smile\":\"\xf0\x9f\x98\x80!\","
		      "\"q\":\"a\\\"b\\\\c/d\",\"ctl\":\"\\u000a\\u0009\\u000d\\u0008\\u000c\","
		      "\"nul\":\"x\\u0000y\",\"raw\":\"\xe2\x82\xac\",\"\":\"empty key\","
		      "\"es\":\"\"}");
	assert_int_equal(run(KL_JSON_DOCUMENT, 0, doc, sizeof(doc) - 1, 1, &bytes, &err), 0);
	assert_seen_equal(&seen, &bytes);
	seen_free(&bytes);
	assert_int_equal(run(KL_JSON_DOCUMENT, 0, doc, sizeof(doc) - 1, 3, &bytes, &err), 0);
	assert_seen_equal(&seen, &bytes);
	seen_free(&bytes);
	seen_free(&seen);
}

struct found {
	char key[16];
	char str[32];
	size_t len;
};

static int find_nul(void *arg, enum kl_json_what what, const struct kl_json *doc)
{
	struct found *f = arg;
	const struct kl_json *v = kl_json_get(doc, "e\xc3\xa9");

	assert_non_null(v);
	snprintf(f->key, sizeof(f->key), "%s", v->key);
	v = kl_json_get(doc, "nul");
	assert_non_null(v);
	assert_true(v->len < sizeof(f->str));
	memcpy(f->str, v->str, v->len + 1);
	f->len = v->len;
	v = kl_json_get(doc, "");
	assert_string_equal(kl_json_str(v, NULL), "empty key");
	v = kl_json_get(doc, "es");
	assert_non_null(v->str);
	assert_int_equal(v->len, 0);
	return 0;
}

static void test_string_lengths(void **unused)
{
	static const char doc[] = "{\"e\\u00e9\":1,\"nul\":\"x\\u0000y\",\"\":\"empty key\","
				  "\"es\":\"\"}";
	struct found f = {0};
	struct kl_json_stream *s = kl_json_stream_new(KL_JSON_DOCUMENT, 0, find_nul, &f);
	struct kl_error err;

	assert_non_null(s);
	kl_error_clear(&err);
	assert_int_equal(kl_json_stream_feed(s, doc, sizeof(doc) - 1, &err), 0);
	assert_int_equal(kl_json_stream_finish(s, &err), 0);
	kl_json_stream_free(s);
	assert_string_equal(f.key, "e\xc3\xa9");
	assert_int_equal(f.len, 3);
	assert_memory_equal(f.str, "x\0y", 4);
}

/* ---------------------------------------------------------------- numbers */

struct ints {
	int rc[16];
	int64_t val[16];
	char text[16][48];
	size_t n;
};

static int read_ints(void *arg, enum kl_json_what what, const struct kl_json *arr)
{
	struct ints *x = arg;
	const struct kl_json *c;

	for (c = arr->child; c && x->n < 16; c = c->next, x->n++) {
		x->val[x->n] = 12345;
		x->rc[x->n] = kl_json_int(c, &x->val[x->n]);
		snprintf(x->text[x->n], sizeof(x->text[0]), "%s", c->str ? c->str : "");
	}
	return 0;
}

static void test_int(void **unused)
{
	static const char doc[] = "[9223372036854775807,9223372036854775808,-9223372036854775808,"
				  "-9223372036854775809,-5,0,-0,1.5,1e3,"
				  "123456789012345678901234567890,\"7\",null,42,1E2,-1.0]";
	static const struct {
		int rc;
		int64_t val;
	} want[] = {
	    {0, INT64_MAX}, {-ERANGE, 0}, {0, INT64_MIN}, {-ERANGE, 0}, {0, -5},
	    {0, 0},	    {0, 0},	  {-EINVAL, 0},	  {-EINVAL, 0}, {-ERANGE, 0},
	    {-EINVAL, 0},   {-EINVAL, 0}, {0, 42},	  {-EINVAL, 0}, {-EINVAL, 0},
	};
	struct ints x = {0};
	struct kl_json_stream *s = kl_json_stream_new(KL_JSON_DOCUMENT, 0, read_ints, &x);
	struct kl_json fake = {.type = KL_JSON_NUMBER, .str = "", .len = 0};
	struct kl_error err;
	int64_t out = 99;
	size_t i;

	assert_non_null(s);
	kl_error_clear(&err);
	assert_int_equal(kl_json_stream_feed(s, doc, sizeof(doc) - 1, &err), 0);
	assert_int_equal(kl_json_stream_finish(s, &err), 0);
	kl_json_stream_free(s);
	assert_int_equal(x.n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < x.n; i++) {
		if (x.rc[i] != want[i].rc)
			fail_msg("element %zu (%s): rc %d, want %d", i, x.text[i], x.rc[i],
				 want[i].rc);
		if (!want[i].rc && x.val[i] != want[i].val)
			fail_msg("element %zu (%s): %jd", i, x.text[i], (intmax_t)x.val[i]);
		if (want[i].rc)
			assert_int_equal(x.val[i], 12345); /* untouched on failure */
	}
	/* the number text is kept as written */
	assert_string_equal(x.text[9], "123456789012345678901234567890");
	assert_string_equal(x.text[13], "1E2");

	assert_int_equal(kl_json_int(NULL, &out), -EINVAL);
	assert_int_equal(kl_json_int(&fake, &out), -EINVAL);
	fake.str = "-";
	fake.len = 1;
	assert_int_equal(kl_json_int(&fake, &out), -EINVAL);
	/* only the first len bytes count */
	fake.str = "1234";
	fake.len = 2;
	assert_int_equal(kl_json_int(&fake, &out), 0);
	assert_int_equal(out, 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pod_document),
	    cmocka_unit_test(test_pod_every_split),
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_list_shapes),
	    cmocka_unit_test(test_events),
	    cmocka_unit_test(test_event_error_status),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_cut_stream),
	    cmocka_unit_test(test_invalid_utf8),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_max_value_bytes),
	    cmocka_unit_test(test_callback_abort),
	    cmocka_unit_test(test_unicode_and_escapes),
	    cmocka_unit_test(test_string_lengths),
	    cmocka_unit_test(test_int),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
