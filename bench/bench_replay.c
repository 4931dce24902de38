/*
 * bench/bench_replay.c - how fast a WATCH stream of pod updates goes into the cache.
 *
 * Once synced, an informer's cost is its watch: every MODIFIED event is ~8.5 KB of
 * JSON to decode (kl_json_stream, KL_JSON_EVENTS), project (kl_pod_project via
 * kl_store_upsert, strings interned) and swap into the store, disposing of the old
 * object. This replays such a stream from memory, so the figure is the decoder and
 * the cache alone, with no server and no network, and compares it in the same run
 * with the floor: yajl parsing the same bytes with callbacks that do nothing.
 *
 * The stream: N events "{"type":"MODIFIED","object":POD}\n", each an update to one
 * of M pods (event i updates pod i*7919 mod M). POD is test/data/json/pod.json
 * (3.9 KB) grown to a realistic ~8.5 KB the way real pods are (more labels and
 * annotations, env and probes, a metrics sidecar with its status, a third
 * managedFields entry), with per event: namespace, name and uid of its pod, a new
 * resourceVersion, restartCount, readiness, container ids and times.
 *
 * Each round, interleaved, measures:
 *   (a) kl_json_stream + kl_store_upsert + kl_store_dispose into a kl_store of pods
 *       (kl_store_pods, its own kl_intern), fed in 16 KB chunks; the store is made
 *       and filled with the M pods (ADDED, not timed) before each round, so every
 *       timed event is a real update;
 *   (b) yajl_parse of the same chunks, callbacks that return 1 and do nothing,
 *       yajl_allow_multiple_values;
 *   (c) kl_json_stream alone (a callback that does nothing): (a) minus (c) is the
 *       projection and the store, (c) minus (b) the tree building.
 * and prints the medians: MB/s, events/s, and the ratio (a)/(b) in time. Each run
 * is timed twice: this thread's CPU time, which the targets are held against
 * because the machine is shared (a busy neighbour stretches wall time, not CPU
 * time), and wall time, shown beside it.
 * Targets (the issue): (a) >= 150 MB/s and within 2x of (b).
 *
 *   build-release/bench/bench_replay [N] [M] [ROUNDS] [TEMPLATE]
 *   defaults: N 20000, M 5000, ROUNDS 5, TEMPLATE test/data/json/pod.json
 *   BENCH_REPLAY_DUMP=FILE writes the MODIFIED stream there (to look at it).
 *
 *   build-release/bench/bench_replay mem [N]
 * is the memory probe instead (mem_probe): N pods (default 150,000) into a store,
 * the heap each cached pod costs.
 */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_parse.h>

#include "kubeclient/json.h"
#include "kubeclient/pb.h"
#include "kubeclient/store.h"
#include "util/intern.h"

#ifndef KL_SOURCE_ROOT
#define KL_SOURCE_ROOT "."
#endif

#define CHUNK (16u << 10)
#define MAX_ROUNDS 64

/* ---------------------------------------------------------------- buffer */

struct buf {
	char *p;
	size_t len, cap;
};

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench_replay: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (b->len + n + 1 > cap)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			die("out of memory");
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void buf_fmt(struct buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		die("buf_fmt: too long");
	buf_add(b, tmp, (size_t)n);
}

/* ---------------------------------------------------------------- template */

/*
 * Slots: the template holds SLOT followed by one letter where an event puts its
 * own value. pod.json is first grown (insert_after), then its varying values are
 * turned into slots (to_slot).
 */
#define SLOT '\x01'

/* Inserts text right after the first occurrence of anchor. */
static void insert_after(struct buf *t, const char *anchor, const char *text)
{
	char *at = strstr(t->p, anchor);
	struct buf out = { 0 };

	if (!at)
		die("template: \"%s\" not found (test/data/json/pod.json changed?)", anchor);
	at += strlen(anchor);
	buf_add(&out, t->p, (size_t)(at - t->p));
	buf_str(&out, text);
	buf_str(&out, at);
	free(t->p);
	*t = out;
}

/* Replaces every occurrence of what (at least once) by the slot letter. */
static void to_slot(struct buf *t, const char *what, char letter)
{
	struct buf out = { 0 };
	const char *p = t->p, *at;
	char slot[2] = { SLOT, letter };
	int n = 0;

	while ((at = strstr(p, what))) {
		buf_add(&out, p, (size_t)(at - p));
		buf_add(&out, slot, 2);
		p = at + strlen(what);
		n++;
	}
	if (!n)
		die("template: \"%s\" not found (test/data/json/pod.json changed?)", what);
	buf_str(&out, p);
	free(t->p);
	*t = out;
}

/* What real pods carry beyond pod.json (see bench/make_pods.py for the cluster's). */
static const char labels_extra[] =
	",\"app.kubernetes.io/instance\":\"web-production\",\"app.kubernetes.io/version\":"
	"\"1.4.2\",\"app.kubernetes.io/component\":\"server\",\"app.kubernetes.io/managed-by\":"
	"\"Helm\",\"helm.sh/chart\":\"web-3.2.1\",\"team\":\"core\"";
static const char annotations_extra[] =
	",\"prometheus.io/scrape\":\"true\",\"prometheus.io/port\":\"9090\",\"prometheus.io/"
	"path\":\"/metrics\",\"checksum/config\":\"13bf27657e4262d1eb39f381b826350ac99d991996cf83"
	"cd6d6548550ac7cd53\",\"kloompas.io/team\":\"core\"";
static const char env_extra[] =
	",{\"name\":\"APP_NAME\",\"value\":\"web\"},{\"name\":\"APP_ENV\",\"value\":\"production\"},"
	"{\"name\":\"LOG_FORMAT\",\"value\":\"json\"},{\"name\":\"POD_NAME\",\"valueFrom\":{"
	"\"fieldRef\":{\"apiVersion\":\"v1\",\"fieldPath\":\"metadata.name\"}}},{\"name\":"
	"\"POD_IP\",\"valueFrom\":{\"fieldRef\":{\"apiVersion\":\"v1\",\"fieldPath\":\"status."
	"podIP\"}}}";
static const char probes_extra[] =
	",\"livenessProbe\":{\"httpGet\":{\"path\":\"/healthz\",\"port\":8080,\"scheme\":\"HTTP\"},"
	"\"initialDelaySeconds\":10,\"timeoutSeconds\":1,\"periodSeconds\":10,\"successThreshold\":"
	"1,\"failureThreshold\":3},\"readinessProbe\":{\"httpGet\":{\"path\":\"/ready\",\"port\":"
	"8080,\"scheme\":\"HTTP\"},\"timeoutSeconds\":1,\"periodSeconds\":10,\"successThreshold\":"
	"1,\"failureThreshold\":3}";
static const char sidecar_extra[] =
	",{\"name\":\"metrics-exporter\",\"image\":\"registry.example.com/infra/exporter:0.9.1\","
	"\"args\":[\"--port=9090\",\"--log-level=info\",\"--service-name=web\"],\"ports\":[{"
	"\"name\":\"metrics\",\"containerPort\":9090,\"protocol\":\"TCP\"}],\"resources\":{"
	"\"limits\":{\"cpu\":\"500m\",\"memory\":\"256Mi\"},\"requests\":{\"cpu\":\"100m\","
	"\"memory\":\"128Mi\"}},\"volumeMounts\":[{\"name\":\"kube-api-access-9zq7w\",\"readOnly\":"
	"true,\"mountPath\":\"/var/run/secrets/kubernetes.io/serviceaccount\"}],"
	"\"terminationMessagePath\":\"/dev/termination-log\",\"terminationMessagePolicy\":\"File\","
	"\"imagePullPolicy\":\"IfNotPresent\"}";
static const char sidecar_status_extra[] =
	",{\"name\":\"metrics-exporter\",\"state\":{\"running\":{\"startedAt\":"
	"\"2024-05-14T09:12:35Z\"}},\"lastState\":{},\"ready\":true,\"restartCount\":0,\"image\":"
	"\"registry.example.com/infra/exporter:0.9.1\",\"imageID\":\"registry.example.com/infra/"
	"exporter@sha256:f26e0591908e46ad51393daae50433333e2c62927cea7021ba482d38dcd835ee\","
	"\"containerID\":\"containerd://d0350dfb31e889204bc3845476ddd14895951801f343a49a709d752e9d"
	"c4683b\",\"started\":true}";
static const char tolerations_extra[] =
	",{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\",\"effect\":"
	"\"NoExecute\",\"tolerationSeconds\":300}";
static const char volumes_extra[] =
	"{\"name\":\"config\",\"configMap\":{\"name\":\"web-config\",\"defaultMode\":420}},";
/* The field set of the chart's writer: many short keys and empty objects. */
static const char managed_extra[] =
	",{\"manager\":\"helm\",\"operation\":\"Update\",\"apiVersion\":\"v1\",\"time\":"
	"\"2024-05-14T09:12:33Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":{"
	"\"f:annotations\":{\".\":{},\"f:checksum/config\":{},\"f:kloompas.io/team\":{},"
	"\"f:kubectl.kubernetes.io/restartedAt\":{},\"f:note\":{},\"f:prometheus.io/path\":{},"
	"\"f:prometheus.io/port\":{},\"f:prometheus.io/scrape\":{}},\"f:labels\":{"
	"\"f:app.kubernetes.io/component\":{},\"f:app.kubernetes.io/instance\":{},"
	"\"f:app.kubernetes.io/managed-by\":{},\"f:app.kubernetes.io/part-of\":{},"
	"\"f:app.kubernetes.io/version\":{},\"f:helm.sh/chart\":{},\"f:team\":{}}},\"f:spec\":{"
	"\"f:containers\":{\"k:{\\\"name\\\":\\\"web\\\"}\":{\"f:args\":{},\"f:env\":{\".\":{},"
	"\"k:{\\\"name\\\":\\\"APP_ENV\\\"}\":{\".\":{},\"f:name\":{},\"f:value\":{}},"
	"\"k:{\\\"name\\\":\\\"APP_NAME\\\"}\":{\".\":{},\"f:name\":{},\"f:value\":{}},"
	"\"k:{\\\"name\\\":\\\"GREETING\\\"}\":{\".\":{},\"f:name\":{},\"f:value\":{}},"
	"\"k:{\\\"name\\\":\\\"LOG_FORMAT\\\"}\":{\".\":{},\"f:name\":{},\"f:value\":{}},"
	"\"k:{\\\"name\\\":\\\"POD_IP\\\"}\":{\".\":{},\"f:name\":{},\"f:valueFrom\":{\".\":{},"
	"\"f:fieldRef\":{\".\":{},\"f:apiVersion\":{},\"f:fieldPath\":{}}}},"
	"\"k:{\\\"name\\\":\\\"POD_NAME\\\"}\":{\".\":{},\"f:name\":{},\"f:valueFrom\":{\".\":{},"
	"\"f:fieldRef\":{\".\":{},\"f:apiVersion\":{},\"f:fieldPath\":{}}}}},"
	"\"f:imagePullPolicy\":{},\"f:livenessProbe\":{\".\":{},\"f:failureThreshold\":{},"
	"\"f:httpGet\":{\".\":{},\"f:path\":{},\"f:port\":{},\"f:scheme\":{}},"
	"\"f:initialDelaySeconds\":{},\"f:periodSeconds\":{},\"f:successThreshold\":{},"
	"\"f:timeoutSeconds\":{}},\"f:ports\":{\".\":{},"
	"\"k:{\\\"containerPort\\\":8080,\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},"
	"\"f:containerPort\":{},\"f:name\":{},\"f:protocol\":{}}},\"f:readinessProbe\":{\".\":{},"
	"\"f:failureThreshold\":{},\"f:httpGet\":{\".\":{},\"f:path\":{},\"f:port\":{},"
	"\"f:scheme\":{}},\"f:periodSeconds\":{},\"f:successThreshold\":{},\"f:timeoutSeconds\":{}},"
	"\"f:resources\":{\".\":{},\"f:limits\":{\".\":{},\"f:cpu\":{},\"f:memory\":{}},"
	"\"f:requests\":{\".\":{},\"f:cpu\":{},\"f:memory\":{}}},\"f:terminationMessagePath\":{},"
	"\"f:terminationMessagePolicy\":{}},\"k:{\\\"name\\\":\\\"metrics-exporter\\\"}\":{\".\":{},"
	"\"f:args\":{},\"f:image\":{},\"f:imagePullPolicy\":{},\"f:name\":{},\"f:ports\":{\".\":{},"
	"\"k:{\\\"containerPort\\\":9090,\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},"
	"\"f:containerPort\":{},\"f:name\":{},\"f:protocol\":{}}},\"f:resources\":{\".\":{},"
	"\"f:limits\":{\".\":{},\"f:cpu\":{},\"f:memory\":{}},\"f:requests\":{\".\":{},\"f:cpu\":{},"
	"\"f:memory\":{}}},\"f:terminationMessagePath\":{},\"f:terminationMessagePolicy\":{}}},"
	"\"f:dnsPolicy\":{},\"f:enableServiceLinks\":{},\"f:restartPolicy\":{},"
	"\"f:schedulerName\":{},\"f:securityContext\":{},\"f:terminationGracePeriodSeconds\":{},"
	"\"f:tolerations\":{}}}}";

static void buf_load(struct buf *t, const char *path)
{
	FILE *f = fopen(path, "rb");
	char chunk[4096];
	size_t n;

	if (!f)
		die("%s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(t, chunk, n);
	fclose(f);
	while (t->len && (t->p[t->len - 1] == '\n' || t->p[t->len - 1] == ' '))
		t->p[--t->len] = '\0';
}

/* The captured pod's name, uid and resourceVersion (test/data/pb/bench-pod.json) into slots. */
static void template_ids(struct buf *t)
{
	static const char *const keys[] = { "\"name\":\"", "\"uid\":\"", "\"resourceVersion\":\"" };
	static const char letters[] = "PUR";
	char what[128];
	unsigned i;

	for (i = 0; i < 3; i++) {
		const char *k = strstr(t->p, keys[i]), *v = k ? k + strlen(keys[i]) : NULL;
		const char *e = v ? strchr(v, '"') : NULL;

		if (!e || e - k > 100)
			die("template: no %s", keys[i]);
		/* the rv slot holds the key too, the others the value alone */
		if (i == 2)
			snprintf(what, sizeof(what), "%.*s", (int)(e + 1 - k), k);
		else
			snprintf(what, sizeof(what), "%.*s", (int)(e - v), v);
		to_slot(t, what, letters[i]);
	}
}

static void template_load(struct buf *t, const char *path)
{
	buf_load(t, path);

	insert_after(t, "\"pod-template-hash\":\"7d4b9c8f6d\"", labels_extra);
	insert_after(t, "back\\\\slash\"", annotations_extra);
	insert_after(t, "\"subresource\":\"status\"}", managed_extra);
	insert_after(t, "\"value\":\"h\\u00e9llo \\ud83d\\ude00\"}", env_extra);
	insert_after(t, "\"imagePullPolicy\":\"IfNotPresent\"", probes_extra);
	/* the sidecar after the app container, its status after the app's */
	insert_after(t, "\"failureThreshold\":3}}", sidecar_extra);
	insert_after(t, "\"started\":false}", sidecar_status_extra);
	insert_after(t, "\"tolerationSeconds\":300}", tolerations_extra);
	insert_after(t, "\"volumes\":[", volumes_extra);

	to_slot(t, "\"namespace\":\"shop\"", 'N');
	to_slot(t, "_shop(", 'n');
	to_slot(t, "web-7d4b9c8f6d-x2k9p", 'P');
	to_slot(t, "4f6c2a1e-9b3d-4e8a-a7c2-5d1f0e9b8c7a", 'U');
	to_slot(t, "\"resourceVersion\":\"81234\"", 'R');
	to_slot(t, "\"restartCount\":7", 'C');
	to_slot(t, "\"ready\":false", 'r');
	to_slot(t, "\"type\":\"Ready\",\"status\":\"False\"", 'S');
	to_slot(t, "9f8e7d6c5b4a39281706f5e4d3c2b1a0", 'I');
	to_slot(t, "2024-05-14T09:20:01Z", 'T');
	to_slot(t, "2024-05-14T09:19:40Z", 'a');
	to_slot(t, "2024-05-14T09:20:00Z", 'f');
}

/* ---------------------------------------------------------------- stream */

static void rfc3339(char *out, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Pod k's name, namespace and uid (the JSON and the protobuf streams share them). */
static void pod_ids(unsigned k, char name[32], char ns[16], char uid[40])
{
	static const char sfx[] = "bcdfghjklmnpqrstvwxz2456789";
	/* k times a prime modulo 27^5: a distinct 5-letter suffix for each pod */
	unsigned x = (unsigned)(((uint64_t)k * 7919) % 14348907);
	int i;

	snprintf(ns, 16, "shop-%u", k % 8);
	snprintf(name, 32, "web-7d4b9c8f6d-");
	for (i = 0; i < 5; i++, x /= 27)
		name[15 + i] = sfx[x % 27];
	name[20] = '\0';
	snprintf(uid, 40, "%08x-9b3d-4e8a-a7c2-%012x", k * 2246822519u, k);
}

/* Appends one event: pod k's update number seq, with resourceVersion rv. */
static void emit(struct buf *out, const struct buf *t, const char *type, unsigned k,
		 unsigned seq, uint64_t rv)
{
	char name[32], ns[16], uid[40], v[96];
	const char *p = t->p, *end = t->p + t->len, *s;
	int64_t when = 1715677953 + (int64_t)seq * 60;

	pod_ids(k, name, ns, uid);
	buf_fmt(out, "{\"type\":\"%s\",\"object\":", type);
	while (p < end) {
		s = memchr(p, SLOT, (size_t)(end - p));
		if (!s) {
			buf_add(out, p, (size_t)(end - p));
			break;
		}
		buf_add(out, p, (size_t)(s - p));
		switch (s[1]) {
		case 'N':
			buf_fmt(out, "\"namespace\":\"%s\"", ns);
			break;
		case 'n':
			buf_fmt(out, "_%s(", ns);
			break;
		case 'P':
			buf_str(out, name);
			break;
		case 'U':
			buf_str(out, uid);
			break;
		case 'R':
			buf_fmt(out, "\"resourceVersion\":\"%llu\"", (unsigned long long)rv);
			break;
		case 'C':
			buf_fmt(out, "\"restartCount\":%u", seq);
			break;
		case 'r':
			buf_str(out, seq % 2 ? "\"ready\":true" : "\"ready\":false");
			break;
		case 'S':
			buf_fmt(out, "\"type\":\"Ready\",\"status\":\"%s\"", seq % 2 ? "True" : "False");
			break;
		case 'I':
			buf_fmt(out, "%08x%08x%08x%08x", k, seq, k * 2654435761u, seq * 2246822519u);
			break;
		case 'T':
			rfc3339(v, sizeof(v), when);
			buf_str(out, v);
			break;
		case 'a':
			rfc3339(v, sizeof(v), when - 21);
			buf_str(out, v);
			break;
		case 'f':
			rfc3339(v, sizeof(v), when - 1);
			buf_str(out, v);
			break;
		default:
			die("template: bad slot");
		}
		p = s + 2;
	}
	buf_str(out, "}\n");
}

/* ---------------------------------------------------------------- runs */

struct apply {
	struct kl_store *store;
	struct kl_intern *intern; /* the store's (protobuf projections) */
	const struct kl_objects_opts *opts;
	uint64_t events, updates;
};

/* Counts one applied event (rc from the store) and frees what it replaced. */
static int applied(struct apply *a, int rc, struct kl_store_delta *d)
{
	if (rc < 0)
		return rc;
	a->events++;
	a->updates += d->change == KL_STORE_UPDATE;
	kl_store_dispose(a->store, d->old);
	return 0;
}

static int on_event(void *arg, enum kl_json_what what, const struct kl_json *ev)
{
	struct apply *a = arg;
	const struct kl_json *obj = kl_json_get(ev, "object");
	const char *type = kl_json_str(kl_json_get(ev, "type"), "");
	struct kl_store_delta d;
	int rc;

	(void)what;
	if (!obj)
		return -EPROTO;
	if (strcmp(type, "DELETED") == 0)
		rc = kl_store_remove(a->store, obj, &d);
	else
		rc = kl_store_upsert(a->store, obj, &d);
	return applied(a, rc, &d);
}

static int on_nothing(void *arg, enum kl_json_what what, const struct kl_json *ev)
{
	uint64_t *n = arg;

	(void)what;
	(void)ev;
	++*n;
	return 0;
}

/* The length of the CHUNK piece of data at off. */
static size_t chunk_len(const struct buf *data, size_t off)
{
	return data->len - off < CHUNK ? data->len - off : CHUNK;
}

/* Feeds data in CHUNK pieces to a fresh kl_json_stream (EVENTS) with cb. */
static void feed_stream(const struct buf *data, kl_json_cb cb, void *arg)
{
	struct kl_json_stream *s = kl_json_stream_new(KL_JSON_EVENTS, 0, cb, arg);
	struct kl_error err;
	char msg[256];
	size_t off;

	if (!s)
		die("out of memory");
	kl_error_clear(&err);
	for (off = 0; off < data->len; off += CHUNK)
		if (kl_json_stream_feed(s, data->p + off, chunk_len(data, off), &err) < 0)
			die("decode: %s", kl_error_str(&err, msg, sizeof(msg)));
	if (kl_json_stream_finish(s, &err) < 0)
		die("decode: %s", kl_error_str(&err, msg, sizeof(msg)));
	kl_json_stream_free(s);
}

static int y_null(void *c)
{
	(void)c;
	return 1;
}

static int y_bool(void *c, int v)
{
	(void)c;
	(void)v;
	return 1;
}

static int y_number(void *c, const char *s, size_t n)
{
	(void)c;
	(void)s;
	(void)n;
	return 1;
}

static int y_string(void *c, const unsigned char *s, size_t n)
{
	(void)c;
	(void)s;
	(void)n;
	return 1;
}

static int y_mark(void *c)
{
	(void)c;
	return 1;
}

static const yajl_callbacks nothing = {
	.yajl_null = y_null,
	.yajl_boolean = y_bool,
	.yajl_number = y_number,
	.yajl_string = y_string,
	.yajl_start_map = y_mark,
	.yajl_map_key = y_string,
	.yajl_end_map = y_mark,
	.yajl_start_array = y_mark,
	.yajl_end_array = y_mark,
};

static void run_yajl(const struct buf *data)
{
	yajl_handle y = yajl_alloc(&nothing, NULL, NULL);
	size_t off, n;

	if (!y)
		die("out of memory");
	yajl_config(y, yajl_allow_multiple_values, 1);
	for (off = 0; off < data->len; off += n) {
		n = data->len - off < CHUNK ? data->len - off : CHUNK;
		if (yajl_parse(y, (const unsigned char *)data->p + off, n) != yajl_status_ok)
			die("yajl: parse error at %zu", off);
	}
	if (yajl_complete_parse(y) != yajl_status_ok)
		die("yajl: parse error at the end");
	yajl_free(y);
}

/*
 * The three measured runs, never inlined, so that a profiler can tell them apart:
 *   valgrind --tool=callgrind build-release/bench/bench_replay 2000 500 1
 *   callgrind_annotate --inclusive=yes callgrind.out.PID | grep run_
 * gives instructions per run, which a busy shared machine does not blur.
 */
__attribute__((noinline)) static void run_a(const struct buf *mods, struct apply *ap)
{
	feed_stream(mods, on_event, ap);
}

__attribute__((noinline)) static void run_b(const struct buf *mods)
{
	run_yajl(mods);
}

__attribute__((noinline)) static void run_c(const struct buf *mods, uint64_t *count)
{
	feed_stream(mods, on_nothing, count);
}

/* Seconds on a clock: CLOCK_MONOTONIC (wall) or CLOCK_THREAD_CPUTIME_ID (CPU). */
static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One timed run: wall and CPU seconds of this thread. */
struct span {
	double wall0, cpu0;
};

static void span_start(struct span *s)
{
	s->wall0 = clock_s(CLOCK_MONOTONIC);
	s->cpu0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
}

static void span_end(const struct span *s, double *wall, double *cpu)
{
	*cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - s->cpu0;
	*wall = clock_s(CLOCK_MONOTONIC) - s->wall0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void report(const char *what, double cpu, double wall, size_t bytes, unsigned events)
{
	printf("%-44s CPU %6.3f s %6.1f MB/s %6.0f events/s | wall %6.3f s %6.1f MB/s\n", what,
	       cpu, (double)bytes / cpu / 1e6, (double)events / cpu, wall,
	       (double)bytes / wall / 1e6);
}

/* ---------------------------------------------------------------- protobuf */

/*
 * (d) and (e), the "watch replay of protobuf pod updates: events/s at least
 * 2x the JSON replay's": one realistic pod captured from the test cluster in both
 * encodings (test/data/pb/bench-pod.{json,pb}, bench/make_pods.py's shape, made by
 * test/data/pb/capture.py), replayed as the same N MODIFIED events to M pods, each
 * with its pod's namespace, name, uid (pod_ids) and a new resourceVersion:
 *   (d) JSON: kl_json_stream + kl_store_upsert, as (a);
 *   (e) protobuf watch frames: kl_pb_stream (KL_PB_EVENTS) +
 *       kl_store_upsert_pb (which projects with kl_pod_project_pb);
 *   (f) kl_pb_stream alone, a callback doing nothing: (e) minus (f) is nanopb's
 *       decode, the projection and the store.
 * The protobuf pod is rewritten by hand here: its ObjectMeta fields name (1),
 * namespace (3), uid (5) and resourceVersion (6) replaced, every other byte as the
 * server sent it.
 */
#define PB_DATA KL_SOURCE_ROOT "/test/data/pb/"

static void pb_varint(struct buf *b, uint64_t v)
{
	char c;

	do {
		c = (char)(v & 0x7f);
		v >>= 7;
		if (v)
			c = (char)(c | 0x80);
		buf_add(b, &c, 1);
	} while (v);
}

static void pb_field(struct buf *b, unsigned num, const char *p, size_t n)
{
	pb_varint(b, (uint64_t)num << 3 | 2);
	pb_varint(b, n);
	buf_add(b, p, n);
}

static uint64_t pb_get_varint(const uint8_t **p, const uint8_t *end)
{
	uint64_t v = 0;
	unsigned sh = 0;

	while (*p < end && sh < 64) {
		uint8_t c = *(*p)++;

		v |= (uint64_t)(c & 0x7f) << sh;
		if (!(c & 0x80))
			return v;
		sh += 7;
	}
	die("template: a bad varint");
}

/* The next field of [*p, end): its number, and where it starts and ends (tag included). */
static unsigned pb_next(const uint8_t **p, const uint8_t *end, const uint8_t **val,
			size_t *len)
{
	uint64_t tag = pb_get_varint(p, end);

	*val = *p;
	switch (tag & 7) {
	case 0:
		pb_get_varint(p, end);
		break;
	case 1:
		*p += 8;
		break;
	case 5:
		*p += 4;
		break;
	case 2:
		*len = (size_t)pb_get_varint(p, end);
		*val = *p;
		*p += *len;
		break;
	default:
		die("template: wire type %u", (unsigned)(tag & 7));
	}
	if (*p > end)
		die("template: a field past the end");
	return (unsigned)(tag >> 3);
}

/* Appends pod (raw Pod bytes) with its metadata's name, namespace, uid and rv replaced. */
static void pb_pod(struct buf *out, const struct buf *pod, unsigned k, uint64_t rv)
{
	const uint8_t *p = (const uint8_t *)pod->p, *end = p + pod->len, *q, *qe, *v, *f;
	char name[32], ns[16], uid[40], rvs[24];
	struct buf md = { 0 };
	size_t len = 0;
	unsigned num;

	pod_ids(k, name, ns, uid);
	snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)rv);
	while (p < end) {
		f = p;
		if (pb_next(&p, end, &v, &len) != 1) {
			buf_add(out, (const char *)f, (size_t)(p - f));
			continue;
		}
		md.len = 0;
		for (q = v, qe = v + len; q < qe;) {
			const uint8_t *g = q, *w;
			size_t wl = 0;

			switch ((num = pb_next(&q, qe, &w, &wl))) {
			case 1:
				pb_field(&md, 1, name, strlen(name));
				break;
			case 3:
				pb_field(&md, 3, ns, strlen(ns));
				break;
			case 5:
				pb_field(&md, 5, uid, strlen(uid));
				break;
			case 6:
				pb_field(&md, 6, rvs, strlen(rvs));
				break;
			default:
				buf_add(&md, (const char *)g, (size_t)(q - g));
			}
		}
		pb_field(out, 1, md.p, md.len);
	}
	free(md.p);
}

/* One WATCH frame: length, WatchEvent{type, object{raw: magic + Unknown{typeMeta, raw}}}. */
static void pb_emit(struct buf *out, const struct buf *pod, const char *type, unsigned k,
		    uint64_t rv)
{
	struct buf obj = { 0 }, env = { 0 }, ext = { 0 }, ev = { 0 };
	static const char tm[] = "\x0a\x02v1\x12\x03Pod";
	char len[4];

	pb_pod(&obj, pod, k, rv);
	buf_add(&env, "k8s\0", 4);
	pb_field(&env, 1, tm, sizeof(tm) - 1);
	pb_field(&env, 2, obj.p, obj.len);
	pb_field(&env, 3, "", 0);
	pb_field(&env, 4, "", 0);
	pb_field(&ext, 1, env.p, env.len);
	pb_field(&ev, 1, type, strlen(type));
	pb_field(&ev, 2, ext.p, ext.len);
	len[0] = (char)(ev.len >> 24);
	len[1] = (char)(ev.len >> 16);
	len[2] = (char)(ev.len >> 8);
	len[3] = (char)ev.len;
	buf_add(out, len, 4);
	buf_add(out, ev.p, ev.len);
	free(obj.p);
	free(env.p);
	free(ext.p);
	free(ev.p);
}

static int on_doc_keep(void *arg, enum kl_pb_what what, const struct kl_pb_msg *m)
{
	struct buf *pod = arg;

	if (what == KL_PB_DOC)
		buf_add(pod, (const char *)m->data, m->len);
	return 0;
}

/* Feeds data in CHUNK pieces to a fresh kl_pb_stream of mode with cb. */
static void feed_pb(const struct buf *data, enum kl_pb_mode mode, kl_pb_cb cb, void *arg)
{
	struct kl_pb_stream *s = kl_pb_stream_new(mode, 0, cb, arg);
	struct kl_error err;
	char msg[256];
	int rc = s ? 0 : -ENOMEM;
	size_t off;

	kl_error_clear(&err);
	for (off = 0; off < data->len && !rc; off += CHUNK)
		rc = kl_pb_stream_feed(s, data->p + off, chunk_len(data, off), &err);
	if (rc || (rc = kl_pb_stream_finish(s, &err)))
		die("pb decode: %d %s", rc, kl_error_str(&err, msg, sizeof(msg)));
	kl_pb_stream_free(s);
}

static int on_pb_event(void *arg, enum kl_pb_what what, const struct kl_pb_msg *m)
{
	struct apply *a = arg;
	struct kl_store_delta d;
	int rc;

	(void)what;
	rc = kl_store_upsert_pb(a->store, m->data, m->len, &d);
	return applied(a, rc, &d);
}

static int on_pb_nothing(void *arg, enum kl_pb_what what, const struct kl_pb_msg *m)
{
	uint64_t *n = arg;

	(void)what;
	(void)m;
	++*n;
	return 0;
}

__attribute__((noinline)) static void run_d(const struct buf *mods, struct apply *ap)
{
	feed_stream(mods, on_event, ap);
}

__attribute__((noinline)) static void run_e(const struct buf *mods, struct apply *ap)
{
	feed_pb(mods, KL_PB_EVENTS, on_pb_event, ap);
}

__attribute__((noinline)) static void run_f(const struct buf *mods, uint64_t *count)
{
	feed_pb(mods, KL_PB_EVENTS, on_pb_nothing, count);
}

/* A store of the m pods, filled from adds (JSON or protobuf), for a timed round. */
static void store_fill(struct apply *ap, const struct kl_objects_opts *oo, const struct buf *adds,
		       bool pb, unsigned m)
{
	memset(ap, 0, sizeof(*ap));
	ap->intern = kl_intern_new();
	ap->opts = oo;
	ap->store = ap->intern ? kl_store_new(&kl_store_pods, ap->intern, oo) : NULL;
	if (!ap->store)
		die("out of memory");
	if (pb)
		feed_pb(adds, KL_PB_EVENTS, on_pb_event, ap);
	else
		feed_stream(adds, on_event, ap);
	if (kl_store_len(ap->store) != m)
		die("store holds %zu pods after the adds, not %u", kl_store_len(ap->store), m);
	ap->events = ap->updates = 0;
}

static void store_done(struct apply *ap, unsigned n)
{
	if (ap->updates != n)
		die("%llu of %u events were updates", (unsigned long long)ap->updates, n);
	kl_store_free(ap->store);
	kl_intern_free(ap->intern);
}

static void replay_pb(unsigned n, unsigned m, int rounds)
{
	struct buf jt = { 0 }, pbt = { 0 }, pod = { 0 }, jadds = { 0 }, jmods = { 0 };
	struct buf padds = { 0 }, pmods = { 0 };
	double td[2][MAX_ROUNDS], te[2][MAX_ROUNDS], tf[2][MAX_ROUNDS], d, e, f;
	struct kl_objects_opts oo = { 0 };
	uint64_t rv = 100000, count;
	struct span sp;
	unsigned i, k;
	int r;

	buf_load(&jt, PB_DATA "bench-pod.json");
	to_slot(&jt, "\"namespace\":\"pbcap\"", 'N');
	template_ids(&jt);
	buf_load(&pbt, PB_DATA "bench-pod.pb");
	feed_pb(&pbt, KL_PB_DOCUMENT, on_doc_keep, &pod);
	for (i = 0; i < m; i++, rv++) {
		emit(&jadds, &jt, "ADDED", i, 0, rv);
		pb_emit(&padds, &pod, "ADDED", i, rv);
	}
	for (i = 0; i < n; i++, rv++) {
		k = (unsigned)(((uint64_t)i * 7919) % m);
		emit(&jmods, &jt, "MODIFIED", k, i / m + 1, rv);
		pb_emit(&pmods, &pod, "MODIFIED", k, rv);
	}
	printf("\nprotobuf: the captured pod (%zu bytes JSON, %zu protobuf) as %u MODIFIED "
	       "events to %u pods: %zu bytes JSON, %zu protobuf\n",
	       jt.len, pod.len, n, m, jmods.len, pmods.len);
	for (r = 0; r < rounds; r++) {
		struct apply ap;

		store_fill(&ap, &oo, &jadds, false, m);
		span_start(&sp);
		run_d(&jmods, &ap);
		span_end(&sp, &td[1][r], &td[0][r]);
		store_done(&ap, n);

		store_fill(&ap, &oo, &padds, true, m);
		span_start(&sp);
		run_e(&pmods, &ap);
		span_end(&sp, &te[1][r], &te[0][r]);
		store_done(&ap, n);

		count = 0;
		span_start(&sp);
		run_f(&pmods, &count);
		span_end(&sp, &tf[1][r], &tf[0][r]);
		if (count != n)
			die("kl_pb_stream delivered %llu events, not %u", (unsigned long long)count,
			    n);
	}
	report("(d) JSON: kl_json_stream + kl_store_upsert", median(td[0], rounds),
	       median(td[1], rounds), jmods.len, n);
	report("(e) protobuf: kl_pb_stream + project_pb + store", median(te[0], rounds),
	       median(te[1], rounds), pmods.len, n);
	report("(f) kl_pb_stream alone", median(tf[0], rounds), median(tf[1], rounds), pmods.len,
	       n);
	d = median(td[0], rounds);
	e = median(te[0], rounds);
	f = median(tf[0], rounds);
	printf("ratio (e)/(d) in events/s of CPU: %.2f (target >= 2.0); wall %.2f; framing is "
	       "%.0f%% of (e)\n",
	       d / e, median(td[1], rounds) / median(te[1], rounds), 100 * f / e);
	free(jt.p);
	free(pbt.p);
	free(pod.p);
	free(jadds.p);
	free(jmods.p);
	free(padds.p);
	free(pmods.p);
}

/* ---------------------------------------------------------------- memory */

/* The heap in use: small blocks and the big ones glibc serves with mmap(). */
static size_t heap_now(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/*
 * N pods (bench-pod.{json,pb} with pod_ids' 20-character names over 8 namespaces)
 * added one by one to a fresh store, in one encoding: what the store, its pods and
 * the intern table grew by, per pod. Each pod's event is made into one reused buffer
 * (sized first, before the measurement), so the heap that grows is the cache's.
 */
static void mem_one(const struct buf *jt, const struct buf *pod, bool pb, unsigned n)
{
	struct kl_objects_opts oo = { 0 };
	struct buf one = { 0 };
	struct apply ap = { 0 };
	size_t before, after;
	unsigned k;

	ap.intern = kl_intern_new();
	ap.opts = &oo;
	ap.store = ap.intern ? kl_store_new(&kl_store_pods, ap.intern, &oo) : NULL;
	if (!ap.store)
		die("out of memory");
	if (pb)
		pb_emit(&one, pod, "ADDED", 0, 1);
	else
		emit(&one, jt, "ADDED", 0, 0, 1);
	malloc_trim(0);
	before = heap_now();
	for (k = 0; k < n; k++) {
		one.len = 0;
		if (pb) {
			pb_emit(&one, pod, "ADDED", k, 100000 + k);
			feed_pb(&one, KL_PB_EVENTS, on_pb_event, &ap);
		} else {
			emit(&one, jt, "ADDED", k, 0, 100000 + k);
			feed_stream(&one, on_event, &ap);
		}
	}
	after = heap_now();
	if (kl_store_len(ap.store) != n)
		die("store holds %zu pods, not %u", kl_store_len(ap.store), n);
	printf("%-8s %u pods: heap +%zu bytes, %.1f B/pod; interned %zu strings, %zu bytes\n",
	       pb ? "protobuf" : "JSON", n, after - before, (double)(after - before) / n,
	       kl_intern_count(ap.intern), kl_intern_bytes(ap.intern));
	kl_store_free(ap.store);
	kl_intern_free(ap.intern);
	free(one.p);
}

static void mem_probe(unsigned n)
{
	struct buf jt = { 0 }, pbt = { 0 }, pod = { 0 };

	buf_load(&jt, PB_DATA "bench-pod.json");
	to_slot(&jt, "\"namespace\":\"pbcap\"", 'N');
	template_ids(&jt);
	buf_load(&pbt, PB_DATA "bench-pod.pb");
	feed_pb(&pbt, KL_PB_DOCUMENT, on_doc_keep, &pod);
	printf("heap per cached pod (mallinfo2 uordblks + hblkhd); struct kl_pod %zu bytes, "
	       "struct kl_container %zu\n",
	       sizeof(struct kl_pod), sizeof(struct kl_container));
	mem_one(&jt, &pod, false, n);
	mem_one(&jt, &pod, true, n);
	free(jt.p);
	free(pbt.p);
	free(pod.p);
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 20000;
	unsigned m = argc > 2 ? (unsigned)atoi(argv[2]) : 5000;
	int rounds = argc > 3 ? atoi(argv[3]) : 5;
	const char *path = argc > 4 ? argv[4] : KL_SOURCE_ROOT "/test/data/json/pod.json";
	const char *dump;
	/* [0] CPU, [1] wall seconds of each round */
	double ta[2][MAX_ROUNDS], tb[2][MAX_ROUNDS], tc[2][MAX_ROUNDS], a, b, c;
	struct span sp;
	struct buf tmpl = { 0 }, adds = { 0 }, mods = { 0 };
	struct kl_objects_opts oo = { 0 };
	uint64_t rv = 100000, nothing_count;
	unsigned i, seq;
	int r;

	if (argc > 1 && !strcmp(argv[1], "mem")) {
		n = argc > 2 ? (unsigned)atoi(argv[2]) : 150000;
		if (!n)
			die("usage: bench_replay mem [N]");
		mem_probe(n);
		return 0;
	}

	if (!n || !m || rounds < 1 || rounds > MAX_ROUNDS)
		die("usage: bench_replay [N] [M] [ROUNDS 1..%d] [TEMPLATE]", MAX_ROUNDS);
	template_load(&tmpl, path);
	for (i = 0; i < m; i++)
		emit(&adds, &tmpl, "ADDED", i, 0, rv++);
	for (i = 0; i < n; i++) {
		seq = i / m + 1;
		emit(&mods, &tmpl, "MODIFIED", (unsigned)(((uint64_t)i * 7919) % m), seq, rv++);
	}
	dump = getenv("BENCH_REPLAY_DUMP");
	if (dump) {
		FILE *f = fopen(dump, "wb");

		if (!f || fwrite(mods.p, 1, mods.len, f) != mods.len || fclose(f))
			die("%s: cannot write the stream", dump);
	}
	printf("stream: %u MODIFIED events to %u pods, %zu bytes (%.0f bytes/event), "
	       "fed in %u KiB chunks, %d rounds\n",
	       n, m, mods.len, (double)mods.len / n, CHUNK >> 10, rounds);

	for (r = 0; r < rounds; r++) {
		struct kl_intern *in = kl_intern_new();
		struct apply ap = { 0 };

		if (!in)
			die("out of memory");
		ap.store = kl_store_new(&kl_store_pods, in, &oo);
		if (!ap.store)
			die("out of memory");
		feed_stream(&adds, on_event, &ap);
		if (kl_store_len(ap.store) != m)
			die("store holds %zu pods after the adds, not %u", kl_store_len(ap.store), m);
		ap.events = ap.updates = 0;
		span_start(&sp);
		run_a(&mods, &ap);
		span_end(&sp, &ta[1][r], &ta[0][r]);
		if (ap.updates != n)
			die("%llu of %u events were updates", (unsigned long long)ap.updates, n);
		kl_store_free(ap.store);
		kl_intern_free(in);

		span_start(&sp);
		run_b(&mods);
		span_end(&sp, &tb[1][r], &tb[0][r]);

		nothing_count = 0;
		span_start(&sp);
		run_c(&mods, &nothing_count);
		span_end(&sp, &tc[1][r], &tc[0][r]);
		if (nothing_count != n)
			die("kl_json_stream delivered %llu events, not %u",
			    (unsigned long long)nothing_count, n);
		printf("round %d: CPU (a) %.3f s (b) %.3f s (c) %.3f s | wall (a) %.3f s (b) %.3f s "
		       "(c) %.3f s\n",
		       r + 1, ta[0][r], tb[0][r], tc[0][r], ta[1][r], tb[1][r], tc[1][r]);
	}
	printf("medians:\n");
	report("(a) kl_json_stream + kl_store_upsert/dispose", median(ta[0], rounds),
	       median(ta[1], rounds), mods.len, n);
	report("(b) yajl, callbacks doing nothing", median(tb[0], rounds), median(tb[1], rounds),
	       mods.len, n);
	report("(c) kl_json_stream alone", median(tc[0], rounds), median(tc[1], rounds), mods.len,
	       n);
	/* CPU time: on a shared machine wall time also counts the other tenants */
	a = median(ta[0], rounds);
	b = median(tb[0], rounds);
	c = median(tc[0], rounds);
	printf("ratio (a)/(b) in CPU time: %.2f (target <= 2.0); (a) %.0f MB/s of CPU "
	       "(target >= 150); wall ratio %.2f\n",
	       a / b, (double)mods.len / a / 1e6, median(ta[1], rounds) / median(tb[1], rounds));
	printf("split of (a): yajl %.0f%%, tree building %.0f%%, projection + store %.0f%%\n",
	       100 * b / a, 100 * (c - b) / a, 100 * (a - c) / a);
	free(tmpl.p);
	free(adds.p);
	free(mods.p);
	replay_pb(n, m, rounds);
	return 0;
}
