/*
 * test/fuzz/fuzz_status.c - the Status error decoder and the JSON accessors.
 *
 * Input: an error body from the API server (normally a Status object), decoded as
 * a DOCUMENT the way client.c does, then handed to kl_kube_status_from() with an
 * HTTP code picked by the first byte. Every number in the document goes through
 * kl_json_int() and is checked against strtoll(), every string through
 * kl_json_str(), and the usual Status paths through kl_json_path().
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kubeclient/client.h"
#include "kubeclient/json.h"
#include "test/fuzz/fuzz.h"
#include "util/error.h"

static const int codes[] = {0,	 200, 201, 400, 401, 403, 404, 405, 409, 410,
			    422, 429, 500, 502, 503, 504, 302, 499, 599, 999};

struct doc {
	int code;
	int seen;
};

/* kl_json_int against strtoll on the same text: they must agree. */
static void check_int(const struct kl_json *v)
{
	char *end;
	int64_t got = 0;
	long long want;
	int rc = kl_json_int(v, &got);
	const char *p = v->str;
	size_t i = *p == '-';
	bool digits = v->len > i;

	for (; i < v->len; i++)
		if (v->str[i] < '0' || v->str[i] > '9')
			digits = false;
	if (!digits) {
		if (rc != -EINVAL)
			fuzz_fail("kl_json_int(\"%s\") = %d, want -EINVAL", v->str, rc);
		return;
	}
	errno = 0;
	want = strtoll(v->str, &end, 10);
	if (errno == ERANGE) {
		if (rc != -ERANGE)
			fuzz_fail("kl_json_int(\"%s\") = %d, want -ERANGE", v->str, rc);
		return;
	}
	if (rc != 0 || got != want)
		fuzz_fail("kl_json_int(\"%s\") = %d/%lld, want %lld", v->str, rc, (long long)got,
			  want);
}

static void walk(const struct kl_json *v, int depth)
{
	const struct kl_json *c;

	if (v->type == KL_JSON_NUMBER)
		check_int(v);
	else if (kl_json_int(v, &(int64_t){0}) != -EINVAL)
		fuzz_fail("kl_json_int accepted a non-number");
	if (v->type == KL_JSON_STRING) {
		if (kl_json_str(v, NULL) != v->str)
			fuzz_fail("kl_json_str lost a string");
	} else if (kl_json_str(v, "def")[0] != 'd') {
		fuzz_fail("kl_json_str of a non-string");
	}
	if (v->type == KL_JSON_OBJECT) {
		for (c = v->child; c; c = c->next) {
			/* the first member of a name is the one kl_json_get finds */
			const struct kl_json *g = kl_json_get(v, c->key);

			if (!g || strcmp(g->key, c->key) != 0)
				fuzz_fail("kl_json_get misses member \"%s\"", c->key);
		}
	}
	if (v->type == KL_JSON_ARRAY || v->type == KL_JSON_OBJECT)
		for (c = v->child; c; c = c->next)
			walk(c, depth + 1);
}

static int on_doc(void *arg, enum kl_json_what what, const struct kl_json *v)
{
	struct doc *d = arg;
	struct kl_kube_status st;
	const struct kl_json *causes, *c;

	d->seen++;
	walk(v, 0);
	kl_kube_status_from(&st, d->code, v);
	if (!st.reason || !st.message)
		fuzz_fail("status without reason or message");
	if (st.err > 0 || st.retry_after_s != -1)
		fuzz_fail("status err %d retry %d", st.err, st.retry_after_s);
	if (st.code >= 400 && st.err == 0 &&
	    strcmp(kl_json_str(kl_json_get(v, "status"), ""), "Success") != 0)
		fuzz_fail("HTTP %d decoded as success", st.code);
	/* what the informers and logs read out of a Status */
	kl_json_str(kl_json_path(v, "details", "name", NULL), "");
	kl_json_str(kl_json_path(v, "details", "kind", NULL), "");
	kl_json_int(kl_json_path(v, "details", "retryAfterSeconds", NULL), &(int64_t){0});
	causes = kl_json_path(v, "details", "causes", NULL);
	for (c = causes && causes->type == KL_JSON_ARRAY ? causes->child : NULL; c; c = c->next) {
		kl_json_str(kl_json_get(c, "reason"), "");
		kl_json_str(kl_json_get(c, "message"), "");
		kl_json_str(kl_json_get(c, "field"), "");
	}
	/* an ERROR watch event wraps the Status in "object" */
	if (kl_json_get(v, "object"))
		kl_kube_status_from(&st, 0, kl_json_get(v, "object"));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct doc d = {.code = size ? codes[data[0] % (sizeof(codes) / sizeof(codes[0]))] : 0};
	struct kl_json_stream *js;
	struct kl_kube_status st;
	struct kl_error err;
	int rc;

	/* no body at all (a bare 503 from a proxy) */
	kl_kube_status_from(&st, d.code, NULL);
	kl_error_clear(&err);
	js = kl_json_stream_new(KL_JSON_DOCUMENT, 1 << 20, on_doc, &d);
	if (!js)
		fuzz_fail("out of memory");
	rc = kl_json_stream_feed(js, (const char *)data, size, &err);
	if (rc == 0)
		rc = kl_json_stream_finish(js, &err);
	kl_json_stream_free(js);
	if (rc == 0 && d.seen != 1)
		fuzz_fail("a document was delivered %d times", d.seen);
	if (rc < 0 && !err.msg[0])
		fuzz_fail("decode failed with %d and no message", rc);
	return 0;
}
