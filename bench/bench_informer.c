/*
 * bench/bench_informer.c - what the pods informer costs to sync: time and memory.
 *
 * Runs the shared pods informer exactly as kloompas does (kl_informers_new,
 * kl_informers_get(KL_RES_PODS), kl_informers_start, with a metrics registry)
 * against the cluster of a kubeconfig, until it has synced, then reports:
 *   - the sync time, from kl_informers_start() to the synced callback (the
 *     paginated LIST, decoded, projected and stored);
 *   - the heap the cache holds: mallinfo2().uordblks once the LIST call is
 *     released (a 0 ms timer after the synced callback) minus the same just
 *     before start, in total and per object; and the same with hblkhd added
 *     (the mmap()ed blocks, where the big arrays live), which is the figure to
 *     hold against a budget;
 *   - the intern table (strings, bytes) and the process RSS (VmRSS, VmHWM).
 * bench_informer.sh fills a cluster and times a curl LIST of the same pods as
 * the baseline: a time alone says nothing on a shared machine. bench_sync.sh
 * holds it against client-go's informer (../shared/anchor-clientgo's
 * anchor-watcher), so it also prints a "SYNC ..." line in anchor-watcher's
 * terms: hassynced_s from the start of main (as anchor-watcher's is from its
 * main), the CPU (getrusage, user+sys) the process used up to the synced
 * callback, RSS and its peak once the LIST is released.
 *
 * With --expect-updates N it keeps watching after the sync, counts pod update
 * events (a new resourceVersion) through an informer handler and, at the Nth,
 * prints "CHURN ... cpu_s=" with the CPU spent since the sync was measured and
 * the wall time from the first update to the Nth, as anchor-watcher
 * -expect-updates does, then stops. SIGTERM or SIGINT stop it earlier (exit 1
 * when the updates were expected and not all seen).
 *
 *   build-release/bench/bench_informer --kubeconfig F [--context C] [--no-metrics]
 *       [--content-type json|protobuf] [--expect-updates N] [--read-coalesce-ms MS]
 *
 * --content-type sets kl_kube_opts.wire (what LIST and WATCH ask for; JSON by
 * default here, as before). The lines "RESULT key=value ...", "SYNC ..." and
 * "CHURN ..." are machine-readable. --read-coalesce-ms sets
 * kl_kube_opts.read_coalesce_ms (0: off; the client's default when absent).
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "kubeclient/http.h"
#include "kubeclient/informer.h"
#include "kubeclient/kubeconfig.h"

#define DEADLINE_MS (20u * 60 * 1000)

struct bench {
	uv_loop_t loop;
	uv_timer_t timer;
	uv_timer_t deadline; /* a LIST that keeps failing would back off forever */
	uv_signal_t sigterm, sigint;
	struct kl_log log;
	struct kl_metrics *metrics;
	struct kl_kube *kube;
	struct kl_informers *informers;
	struct kl_informer *pods;
	size_t heap_start, heap_synced; /* uordblks + hblkhd */
	size_t arena_start;		/* uordblks alone */
	long rss_start;			/* VmRSS before start, KiB */
	uint64_t t_main, t_start, t_synced;
	uint64_t t_first_add; /* the first pod into the cache: the LIST's first item */
	double cpu_user_synced, cpu_sys_synced; /* getrusage at the synced callback */
	uint64_t wakeups_synced; /* the client's socket wake-ups when SYNC was printed */
	const char *variant;			/* "kloompas-json", "kloompas-protobuf" */
	/* --expect-updates: the pod updates counted once the sync is measured */
	unsigned long expect, updates;
	bool counting, stopping;
	uint64_t t_first, t_last;
	double cpu_base; /* user+sys when counting began */
	int exit_code;
};

/* User and system CPU seconds of this process (every thread). */
static void cpu_seconds(double *user, double *sys)
{
	struct rusage ru;

	*user = *sys = 0;
	if (getrusage(RUSAGE_SELF, &ru))
		return;
	*user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	*sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double cpu_total(void)
{
	double user, sys;

	cpu_seconds(&user, &sys);
	return user + sys;
}

/* VmRSS and VmHWM of this process, in KiB. */
static void rss_kib(long *rss, long *hwm)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	*rss = *hwm = -1;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "VmRSS:", 6))
			*rss = atol(line + 6);
		else if (!strncmp(line, "VmHWM:", 6))
			*hwm = atol(line + 6);
	}
	fclose(f);
}

/* Bytes allocated from the arena (uordblks) and in their own mmap()ed regions
 * (hblkhd): glibc serves requests of 128 KiB and more (the store's and the
 * intern table's arrays) by mmap(), which uordblks alone does not count. */
static void heap_in_use(size_t *arena, size_t *all)
{
	struct mallinfo2 mi = mallinfo2();

	*arena = mi.uordblks;
	*all = mi.uordblks + mi.hblkhd;
}

static void on_deadline(uv_timer_t *t)
{
	fprintf(stderr, "bench_informer: not synced after %u s\n", DEADLINE_MS / 1000);
	exit(1);
}

static void on_kube_closed(void *arg)
{
	(void)arg;
}

static void on_informers_stopped(void *arg)
{
	struct bench *b = arg;

	kl_kube_close(b->kube, on_kube_closed, b);
}

/* Stops the informers, the client and the signal watchers: the loop then ends. */
static void bench_stop(struct bench *b)
{
	if (b->stopping)
		return;
	b->stopping = true;
	uv_close((uv_handle_t *)&b->sigterm, NULL);
	uv_close((uv_handle_t *)&b->sigint, NULL);
	kl_informers_stop(b->informers, on_informers_stopped, b);
}

/*
 * A pod update: with --expect-updates, counted once the sync is measured when the
 * resourceVersion moved (kl_meta leads every projection), and reported at the Nth.
 */
static void on_update(void *arg, const void *old, const void *obj)
{
	struct bench *b = arg;
	const struct kl_meta *o = old, *m = obj;
	struct kl_http_stats st;
	uint64_t now;
	double cpu, w;
	long rss, hwm;

	if (!b->counting || o->rv == m->rv)
		return;
	now = uv_hrtime();
	if (!b->updates++)
		b->t_first = now;
	b->t_last = now;
	if (b->updates != b->expect)
		return;
	cpu = cpu_total() - b->cpu_base;
	rss_kib(&rss, &hwm);
	w = (double)(b->t_last - b->t_first) / 1e9;
	kl_kube_http_stats(b->kube, &st);
	printf("CHURN variant=%s updates=%lu window_s=%.3f events_per_s=%.1f cpu_s=%.3f "
	       "rss_mib=%.1f hwm_mib=%.1f wakeups=%llu\n",
	       b->variant, b->updates, w, w > 0 ? (double)b->updates / w : 0.0, cpu,
	       (double)rss / 1024, (double)hwm / 1024,
	       (unsigned long long)(st.wakeups - b->wakeups_synced));
	fflush(stdout);
	b->counting = false;
	bench_stop(b);
}

/* The first pod added: when the LIST's body began to arrive (its first item). */
static void on_add(void *arg, const void *obj)
{
	struct bench *b = arg;

	(void)obj;
	if (!b->t_first_add)
		b->t_first_add = uv_hrtime();
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct bench *b = h->data;

	(void)signum;
	if (b->expect && b->updates < b->expect) {
		fprintf(stderr, "bench_informer: stopped after %lu of %lu updates\n", b->updates,
			b->expect);
		b->exit_code = 1;
	}
	if (!b->t_synced)
		exit(1);
	b->counting = false;
	bench_stop(b);
}

/* The LIST call is released by now: measure, then stop everything (or count updates). */
static void on_measure(uv_timer_t *t)
{
	struct bench *b = t->data;
	struct kl_http_stats st;
	struct kl_intern *in;
	size_t n, arena, heap;
	double secs = (double)(b->t_synced - b->t_start) / 1e9;
	double per, arena_per;
	long rss, hwm;

	uv_close((uv_handle_t *)t, NULL);
	uv_close((uv_handle_t *)&b->deadline, NULL);
	if (b->stopping) /* a signal came first: the informers are going */
		return;
	in = kl_informers_intern(b->informers);
	n = kl_store_len(kl_informer_store(b->pods));
	heap_in_use(&arena, &heap);
	per = n ? (double)(heap - b->heap_start) / (double)n : 0;
	arena_per = n ? (double)(arena - b->arena_start) / (double)n : 0;
	rss_kib(&rss, &hwm);
	printf("objects:          %zu\n", n);
	printf("sync time:        %.3f s (%.0f objects/s)\n", secs, (double)n / secs);
	printf("heap in use:      uordblks %zu after sync - %zu before start = %zu (%.0f per "
	       "object)\n",
	       arena, b->arena_start, arena - b->arena_start, arena_per);
	printf("  with mmap()ed:  uordblks+hblkhd %zu - %zu = %zu (%.0f per object); %zu at the "
	       "synced callback\n",
	       heap, b->heap_start, heap - b->heap_start, per, b->heap_synced - b->heap_start);
	printf("interned:         %zu strings, %zu bytes (%.1f per object)\n", kl_intern_count(in),
	       kl_intern_bytes(in), n ? (double)kl_intern_bytes(in) / (double)n : 0.0);
	printf("RSS:              VmRSS %ld KiB, VmHWM %ld KiB (VmRSS %ld KiB before start)\n", rss,
	       hwm, b->rss_start);
	printf("struct sizes:     kl_pod %zu, kl_container %zu\n", sizeof(struct kl_pod),
	       sizeof(struct kl_container));
	printf("RESULT objects=%zu sync_s=%.3f heap_bytes=%zu heap_per_object=%.0f "
	       "uordblks_per_object=%.0f intern_count=%zu intern_bytes=%zu rss_kib=%ld "
	       "hwm_kib=%ld rss_start_kib=%ld\n",
	       n, secs, heap - b->heap_start, per, arena_per, kl_intern_count(in),
	       kl_intern_bytes(in), rss, hwm, b->rss_start);
	kl_kube_http_stats(b->kube, &st);
	printf("SYNC variant=%s pods=%zu hassynced_s=%.3f sync_s=%.3f first_item_s=%.3f "
	       "cpu_user_s=%.3f cpu_sys_s=%.3f cpu_s=%.3f rss_mib=%.1f hwm_mib=%.1f "
	       "heap_per_object=%.0f wakeups=%llu rests=%llu\n",
	       b->variant, n, (double)(b->t_synced - b->t_main) / 1e9, secs,
	       b->t_first_add ? (double)(b->t_first_add - b->t_main) / 1e9 : 0.0, b->cpu_user_synced,
	       b->cpu_sys_synced, b->cpu_user_synced + b->cpu_sys_synced, (double)rss / 1024,
	       (double)hwm / 1024, per, (unsigned long long)st.wakeups,
	       (unsigned long long)st.rests);
	b->wakeups_synced = st.wakeups;
	fflush(stdout);
	if (b->expect) {
		b->counting = true;
		b->cpu_base = cpu_total();
		return;
	}
	bench_stop(b);
}

static void on_synced(void *arg)
{
	struct bench *b = arg;
	size_t arena;

	b->t_synced = uv_hrtime();
	cpu_seconds(&b->cpu_user_synced, &b->cpu_sys_synced);
	heap_in_use(&arena, &b->heap_synced);
	/* the reflector frees the LIST call after this returns, then starts the watch */
	uv_timer_start(&b->timer, on_measure, 0, 0);
}

static const char usage[] = "usage: bench_informer --kubeconfig F [--context C] [--no-metrics] "
			    "[--content-type json|protobuf] [--expect-updates N] [--read-coalesce-ms MS]\n";

/* --content-type: what kl_kube_opts.wire asks LIST and WATCH for. */
static bool parse_wire(struct bench *b, struct kl_kube_opts *kopts, const char *s)
{
	if (!strcmp(s, "json")) {
		kopts->wire = KL_WIRE_JSON;
		b->variant = "kloompas-json";
	} else if (!strcmp(s, "protobuf")) {
		kopts->wire = KL_WIRE_PROTOBUF;
		b->variant = "kloompas-protobuf";
	} else {
		return false;
	}
	return true;
}

static bool parse_count(const char *s, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	*out = strtoul(s, &end, 10);
	return !*end;
}

int main(int argc, char **argv)
{
	struct bench b;
	struct kl_kube_config cfg;
	struct kl_kube_config_opts copts;
	struct kl_kube_opts kopts;
	struct kl_error err;
	struct kl_informer_handler h;
	bool metrics = true, ok = true;
	unsigned long coalesce = 0;
	char buf[1024];
	long hwm;
	int i, rc;

	memset(&b, 0, sizeof(b));
	memset(&cfg, 0, sizeof(cfg));
	memset(&copts, 0, sizeof(copts));
	memset(&kopts, 0, sizeof(kopts));
	b.t_main = uv_hrtime();
	b.variant = "kloompas-json";
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--kubeconfig") && i + 1 < argc)
			copts.kubeconfig = argv[++i];
		else if (!strcmp(argv[i], "--context") && i + 1 < argc)
			copts.context = argv[++i];
		else if (!strcmp(argv[i], "--no-metrics"))
			metrics = false;
		else if (!strcmp(argv[i], "--content-type") && i + 1 < argc)
			ok = parse_wire(&b, &kopts, argv[++i]);
		else if (!strcmp(argv[i], "--expect-updates") && i + 1 < argc)
			ok = parse_count(argv[++i], &b.expect);
		else if (!strcmp(argv[i], "--read-coalesce-ms") && i + 1 < argc) {
			ok = parse_count(argv[++i], &coalesce) && coalesce <= 1000;
			kopts.read_coalesce_ms = coalesce ? (int)coalesce : -1;
		}
		else
			ok = false;
		if (!ok)
			return fprintf(stderr, "%s", usage), 2;
	}
	kl_error_clear(&err);
	kl_log_init(&b.log, KL_LOG_TEXT, 0, stderr);
	if (kl_kube_config_load(&cfg, &copts, &err) < 0) {
		fprintf(stderr, "bench_informer: %s\n", kl_error_str(&err, buf, sizeof(buf)));
		kl_kube_config_free(&cfg);
		return 2;
	}
	uv_loop_init(&b.loop);
	uv_timer_init(&b.loop, &b.timer);
	b.timer.data = &b;
	uv_timer_init(&b.loop, &b.deadline);
	uv_timer_start(&b.deadline, on_deadline, DEADLINE_MS, 0);
	uv_unref((uv_handle_t *)&b.deadline);
	uv_signal_init(&b.loop, &b.sigterm);
	uv_signal_init(&b.loop, &b.sigint);
	b.sigterm.data = b.sigint.data = &b;
	uv_signal_start(&b.sigterm, on_signal, SIGTERM);
	uv_signal_start(&b.sigint, on_signal, SIGINT);
	b.metrics = metrics ? kl_metrics_new() : NULL;
	rc = kl_kube_new(&b.loop, &cfg, &kopts, &b.log, b.metrics, &b.kube, &err);
	if (rc < 0) {
		fprintf(stderr, "bench_informer: %s\n", kl_error_str(&err, buf, sizeof(buf)));
		return 1;
	}
	b.informers = kl_informers_new(&b.loop, b.kube, NULL, &b.log, b.metrics);
	b.pods = b.informers ? kl_informers_get(b.informers, KL_RES_PODS, NULL) : NULL;
	if (!b.pods) {
		fprintf(stderr, "bench_informer: out of memory\n");
		return 1;
	}
	memset(&h, 0, sizeof(h));
	h.synced = on_synced;
	h.update = on_update;
	h.add = on_add;
	h.arg = &b;
	kl_informer_add_handler(b.pods, &h);

	rss_kib(&b.rss_start, &hwm);
	heap_in_use(&b.arena_start, &b.heap_start);
	b.t_start = uv_hrtime();
	rc = kl_informers_start(b.informers);
	if (rc < 0) {
		fprintf(stderr, "bench_informer: start: %s\n", strerror(-rc));
		return 1;
	}
	uv_run(&b.loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&b.loop);
	kl_kube_config_free(&cfg);
	kl_metrics_free(b.metrics);
	if (!b.t_synced) {
		fprintf(stderr, "bench_informer: never synced\n");
		return 1;
	}
	if (rc < 0) {
		fprintf(stderr, "bench_informer: loop not closed cleanly: %s\n", uv_strerror(rc));
		return 1;
	}
	return b.exit_code;
}
