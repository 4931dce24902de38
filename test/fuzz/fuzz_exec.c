/*
 * test/fuzz/fuzz_exec.c - exec credential plugin output (ExecCredential JSON) and
 * the RFC 3339 parser it relies on.
 *
 * kubeclient/auth.c decodes a plugin's stdout in a static callback reached only
 * after uv_spawn, too slow to fuzz through. This target runs the same decoding
 * the same way: the whole output fed at once to a DOCUMENT stream bounded like
 * auth.c's (1 MiB), and a callback that reads the fields auth.c reads - kind,
 * apiVersion, status.expirationTimestamp through kl_rfc3339_parse(), token and the
 * client certificate and key. Each line of the input is also given to
 * kl_rfc3339_parse() on its own, as a NUL-terminated string of exactly its bytes,
 * so a read past the end is caught.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "kubeclient/internal.h"
#include "kubeclient/json.h"
#include "test/fuzz/fuzz.h"
#include "util/error.h"
#include "util/rfc3339.h"

#define EXEC_MAX_OUTPUT (1 << 20)

struct cred {
	int err;
	int64_t expiry;
	size_t token_len, cert_len, key_len;
};

static int field(const struct kl_json *v, size_t *len)
{
	if (!v)
		return 0;
	if (v->type != KL_JSON_STRING)
		return -EINVAL;
	/* auth.c copies str for len bytes: both must describe the same string */
	if (strlen(v->str) > v->len)
		fuzz_fail("string shorter than its len");
	*len = v->len;
	return 0;
}

static int on_credential(void *arg, enum kl_json_what what, const struct kl_json *doc)
{
	struct cred *c = arg;
	const struct kl_json *st = kl_json_get(doc, "status");
	const char *api = kl_json_str(kl_json_get(doc, "apiVersion"), "");
	const char *exp;

	if (strcmp(kl_json_str(kl_json_get(doc, "kind"), ""), "ExecCredential") != 0)
		return c->err = -EPROTO;
	if (strcmp(api, "client.authentication.k8s.io/v1") != 0 &&
	    strcmp(api, "client.authentication.k8s.io/v1beta1") != 0)
		return c->err = -EPROTO;
	if (!st || st->type != KL_JSON_OBJECT)
		return c->err = -EPROTO;
	exp = kl_json_str(kl_json_get(st, "expirationTimestamp"), NULL);
	if (exp && kl_rfc3339_parse(exp, &c->expiry) < 0)
		return c->err = -EPROTO;
	if (field(kl_json_get(st, "token"), &c->token_len) < 0 ||
	    field(kl_json_get(st, "clientCertificateData"), &c->cert_len) < 0 ||
	    field(kl_json_get(st, "clientKeyData"), &c->key_len) < 0)
		return c->err = -EPROTO;
	return 0;
}

static int num(const char *s, int n)
{
	int v = 0;

	while (n--) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s++ - '0');
	}
	return v;
}

/* A well-formed "YYYY-MM-DDTHH:MM:SSZ" must come back as timegm says. */
static void check_time(const char *s, int rc, int64_t t)
{
	struct tm tm;

	if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != 'Z')
		return;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = num(s, 4);
	tm.tm_mon = num(s + 5, 2);
	tm.tm_mday = num(s + 8, 2);
	tm.tm_hour = num(s + 11, 2);
	tm.tm_min = num(s + 14, 2);
	tm.tm_sec = num(s + 17, 2);
	if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 28 || tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 ||
	    tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 59)
		return;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (rc != 0 || t != (int64_t)timegm(&tm))
		fuzz_fail("kl_rfc3339_parse(\"%s\") = %d, %lld", s, rc, (long long)t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cred c = {0};
	struct kl_json_stream *js;
	struct kl_error err;
	const uint8_t *p = data, *nl;
	int rc;

	kl_error_clear(&err);
	js = kl_json_stream_new(KL_JSON_DOCUMENT, EXEC_MAX_OUTPUT, on_credential, &c);
	if (!js)
		fuzz_fail("out of memory");
	rc = kl_json_stream_feed(js, size ? (const char *)data : "", size, &err);
	if (rc == 0)
		rc = kl_json_stream_finish(js, &err);
	kl_json_stream_free(js);
	if (rc < 0 && rc != c.err && !err.msg[0])
		fuzz_fail("decode failed with %d and no message", rc);

	/* every line on its own, in an allocation of exactly its size */
	while (p < data + size) {
		size_t len;
		int64_t t = 0;
		char *s;

		nl = memchr(p, '\n', (size_t)(data + size - p));
		len = nl ? (size_t)(nl - p) : (size_t)(data + size - p);
		if (len <= 64) {
			s = fuzz_strndup(p, len);
			rc = kl_rfc3339_parse(s, &t);
			check_time(s, rc, t);
			free(s);
		}
		p += len + 1;
	}
	return 0;
}
