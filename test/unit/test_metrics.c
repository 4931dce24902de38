/*
 * test/unit/test_metrics.c - the Prometheus registry and the process_* collector.
 *
 * The exposition is checked byte for byte, since scrapers parse it, and once end to
 * end by promtool: a registry with every kind of family must lint clean. promtool is
 * a build requirement here, so a missing promtool fails the test instead of skipping.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/metrics.h"

#define PROMTOOL "/usr/bin/promtool"

/* Renders m; the result is freed by the caller. */
static char *render(struct kl_metrics *m)
{
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(kl_metrics_render(m, &out, &len), 0);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	return out;
}

static void assert_render(struct kl_metrics *m, const char *expected)
{
	char *out = render(m);

	assert_string_equal(out, expected);
	free(out);
}

/* Value of the unlabelled sample `name value` in a render, or NAN when absent. */
static double sample_value(const char *text, const char *name)
{
	size_t n = strlen(name);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NAN;
}

static size_t count_lines_with(const char *text, const char *needle)
{
	size_t n = 0;
	const char *p = text;

	while ((p = strstr(p, needle))) {
		n++;
		p += strlen(needle);
	}
	return n;
}

static void test_empty_registry(void **state)
{
	struct kl_metrics *m = kl_metrics_new();

	assert_non_null(m);
	assert_render(m, "");
	kl_metrics_free(m);
	kl_metrics_free(NULL);
}

static void test_counter_no_labels(void **state)
{
	struct kl_metrics *m = kl_metrics_new();
	struct kl_metric *c;

	c = kl_metrics_counter(m, "kloompas_restarts_total", "Restarts seen.", NULL);
	assert_non_null(c);
	assert_ptr_equal(kl_metrics_find(m, "kloompas_restarts_total"), c);
	assert_null(kl_metrics_find(m, "kloompas_nope_total"));
	assert_render(m, "# HELP kloompas_restarts_total Restarts seen.\n"
			 "# TYPE kloompas_restarts_total counter\n"
			 "kloompas_restarts_total 0\n");
	assert_int_equal(kl_metric_inc(c, NULL), 0);
	assert_int_equal(kl_metric_add(c, NULL, 2), 0);
	assert_true(kl_metric_get(c, NULL) == 3);
	assert_render(m, "# HELP kloompas_restarts_total Restarts seen.\n"
			 "# TYPE kloompas_restarts_total counter\n"
			 "kloompas_restarts_total 3\n");
	assert_int_equal(kl_metric_add(c, NULL, 0.5), 0);
	assert_render(m, "# HELP kloompas_restarts_total Restarts seen.\n"
			 "# TYPE kloompas_restarts_total counter\n"
			 "kloompas_restarts_total 3.5\n");
	kl_metrics_free(m);
}

static void test_counter_labels(void **state)
{
	static const char *const labels[] = {"namespace", "reason", NULL};
	struct kl_metrics *m = kl_metrics_new();
	struct kl_metric *c;

	c = kl_metrics_counter(m, "kloompas_crashes_total", "Crashes by namespace.", labels);
	assert_non_null(c);
	/* Labelled and no series yet: HELP and TYPE only. */
	assert_render(m, "# HELP kloompas_crashes_total Crashes by namespace.\n"
			 "# TYPE kloompas_crashes_total counter\n");
	assert_int_equal(kl_metric_inc(c, (const char *[]){"prod", "OOMKilled"}), 0);
	assert_int_equal(kl_metric_inc(c, (const char *[]){"dev", "Error"}), 0);
	assert_int_equal(kl_metric_add(c, (const char *[]){"prod", "OOMKilled"}, 4), 0);
	assert_true(kl_metric_get(c, (const char *[]){"prod", "OOMKilled"}) == 5);
	assert_true(kl_metric_get(c, (const char *[]){"prod", "Error"}) == 0);
	assert_render(m, "# HELP kloompas_crashes_total Crashes by namespace.\n"
			 "# TYPE kloompas_crashes_total counter\n"
			 "kloompas_crashes_total{namespace=\"prod\",reason=\"OOMKilled\"} 5\n"
			 "kloompas_crashes_total{namespace=\"dev\",reason=\"Error\"} 1\n");
	/* Label values are required for a labelled family. */
	assert_int_equal(kl_metric_inc(c, NULL), -EINVAL);
	assert_int_equal(kl_metric_inc(c, (const char *[]){"prod", NULL}), -EINVAL);
	kl_metrics_free(m);
}

static void test_gauge(void **state)
{
	static const char *const labels[] = {"resource", NULL};
	struct kl_metrics *m = kl_metrics_new();
	struct kl_metric *leader, *g;

	leader = kl_metrics_gauge(m, "kloompas_leader", "1 while this replica leads.", NULL);
	g = kl_metrics_gauge(m, "kloompas_cache_objects", "Objects in the informer cache.", labels);
	assert_non_null(leader);
	assert_non_null(g);
	assert_render(m, "# HELP kloompas_leader 1 while this replica leads.\n"
			 "# TYPE kloompas_leader gauge\n"
			 "kloompas_leader 0\n"
			 "# HELP kloompas_cache_objects Objects in the informer cache.\n"
			 "# TYPE kloompas_cache_objects gauge\n");
	assert_int_equal(kl_metric_set(leader, NULL, 1), 0);
	assert_int_equal(kl_metric_set(g, (const char *[]){"pods"}, 120), 0);
	assert_int_equal(kl_metric_set(g, (const char *[]){"namespaces"}, 7), 0);
	assert_int_equal(kl_metric_add(g, (const char *[]){"pods"}, -20), 0);
	assert_int_equal(kl_metric_inc(g, (const char *[]){"namespaces"}), 0);
	assert_true(kl_metric_get(g, (const char *[]){"pods"}) == 100);
	assert_render(m, "# HELP kloompas_leader 1 while this replica leads.\n"
			 "# TYPE kloompas_leader gauge\n"
			 "kloompas_leader 1\n"
			 "# HELP kloompas_cache_objects Objects in the informer cache.\n"
			 "# TYPE kloompas_cache_objects gauge\n"
			 "kloompas_cache_objects{resource=\"pods\"} 100\n"
			 "kloompas_cache_objects{resource=\"namespaces\"} 8\n");
	kl_metrics_free(m);
}

static void test_value_format(void **state)
{
	static const char *const labels[] = {"v", NULL};
	struct kl_metrics *m = kl_metrics_new();
	struct kl_metric *g = kl_metrics_gauge(m, "x", "Values.", labels);

	assert_non_null(g);
	kl_metric_set(g, (const char *[]){"a"}, 3);
	kl_metric_set(g, (const char *[]){"b"}, 0.1);
	kl_metric_set(g, (const char *[]){"c"}, -2.5);
	kl_metric_set(g, (const char *[]){"d"}, INFINITY);
	kl_metric_set(g, (const char *[]){"e"}, -INFINITY);
	kl_metric_set(g, (const char *[]){"f"}, NAN);
	kl_metric_set(g, (const char *[]){"g"}, -0.0);
	kl_metric_set(g, (const char *[]){"h"}, 8589934592.0);
	kl_metric_set(g, (const char *[]){"i"}, 1e300);
	kl_metric_set(g, (const char *[]){"j"}, 1.0 / 3);
	kl_metric_set(g, (const char *[]){"k"}, 1e-9);
	assert_render(m, "# HELP x Values.\n"
			 "# TYPE x gauge\n"
			 "x{v=\"a\"} 3\n"
			 "x{v=\"b\"} 0.1\n"
			 "x{v=\"c\"} -2.5\n"
			 "x{v=\"d\"} +Inf\n"
			 "x{v=\"e\"} -Inf\n"
			 "x{v=\"f\"} NaN\n"
			 "x{v=\"g\"} 0\n"
			 "x{v=\"h\"} 8589934592\n"
			 "x{v=\"i\"} 1e+300\n"
			 "x{v=\"j\"} 0.3333333333333333\n"
			 "x{v=\"k\"} 1e-09\n");
	kl_metrics_free(m);
}

static void test_histogram(void **state)
{
	static const double bounds[] = {0.005, 1, 2.5};
	struct kl_metrics *m = kl_metrics_new();
	struct kl_metric *h;

	h = kl_metrics_histogram(m, "kloompas_sync_seconds", "Sync duration.", NULL, bounds, 3);
	assert_non_null(h);
	assert_render(m, "# HELP kloompas_sync_seconds Sync duration.\n"
			 "# TYPE kloompas_sync_seconds histogram\n"
			 "kloompas_sync_seconds_bucket{le=\"0.005\"} 0\n"
			 "kloompas_sync_seconds_bucket{le=\"1\"} 0\n"
			 "kloompas_sync_seconds_bucket{le=\"2.5\"} 0\n"
			 "kloompas_sync_seconds_bucket{le=\"+Inf\"} 0\n"
			 "kloompas_sync_seconds_sum 0\n"
			 "kloompas_sync_seconds_count 0\n");
	assert_int_equal(kl_metric_observe(h, NULL, 0.001), 0);
	assert_int_equal(kl_metric_observe(h, NULL, 0.005), 0); /* le is inclusive */
	assert_int_equal(kl_metric_observe(h, NULL, 2), 0);
	assert_int_equal(kl_metric_observe(h, NULL, 10), 0);
	assert_int_equal(kl_metric_observe(h, NULL, 0.494), 0);
	assert_render(m, "# HELP kloompas_sync_seconds Sync duration.\n"
			 "# TYPE kloompas_sync_seconds histogram\n"
			 "kloompas_sync_seconds_bucket{le=\"0.005\"} 2\n"
			 "kloompas_sync_seconds_bucket{le=\"1\"} 3\n"
			 "kloompas_sync_seconds_bucket{le=\"2.5\"} 4\n"
			 "kloompas_sync_seconds_bucket{le=\"+Inf\"} 5\n"
			 "kloompas_sync_seconds_sum 12.5\n"
			 "kloompas_sync_seconds_count 5\n");
	/* Wrong operations for a histogram. */
	assert_int_equal(kl_metric_inc(h, NULL), -EINVAL);
	assert_int_equal(kl_metric_set(h, NULL, 1), -EINVAL);
	kl_metrics_free(m);
}

static void test_histogram_labels(void **state)
{
	static const char *const labels[] = {"ctl", NULL};
	static const double bounds[] = {0.1, 10};
	struct kl_metrics *m = kl_metrics_new();
	struct kl_metric *h;

	h = kl_metrics_histogram(m, "reconcile_seconds", "Reconcile time.", labels, bounds, 2);
	assert_non_null(h);
	assert_render(m, "# HELP reconcile_seconds Reconcile time.\n"
			 "# TYPE reconcile_seconds histogram\n");
	assert_int_equal(kl_metric_observe(h, (const char *[]){"crash"}, 0.05), 0);
	assert_int_equal(kl_metric_observe(h, (const char *[]){"crash"}, 20), 0);
	assert_int_equal(kl_metric_observe(h, (const char *[]){"replica"}, 1), 0);
	assert_render(m, "# HELP reconcile_seconds Reconcile time.\n"
			 "# TYPE reconcile_seconds histogram\n"
			 "reconcile_seconds_bucket{ctl=\"crash\",le=\"0.1\"} 1\n"
			 "reconcile_seconds_bucket{ctl=\"crash\",le=\"10\"} 1\n"
			 "reconcile_seconds_bucket{ctl=\"crash\",le=\"+Inf\"} 2\n"
			 "reconcile_seconds_sum{ctl=\"crash\"} 20.05\n"
			 "reconcile_seconds_count{ctl=\"crash\"} 2\n"
			 "reconcile_seconds_bucket{ctl=\"replica\",le=\"0.1\"} 0\n"
			 "reconcile_seconds_bucket{ctl=\"replica\",le=\"10\"} 1\n"
			 "reconcile_seconds_bucket{ctl=\"replica\",le=\"+Inf\"} 1\n"
			 "reconcile_seconds_sum{ctl=\"replica\"} 1\n"
			 "reconcile_seconds_count{ctl=\"replica\"} 1\n");
	assert_int_equal(kl_metric_remove(h, (const char *[]){"crash"}), 0);
	assert_render(m, "# HELP reconcile_seconds Reconcile time.\n"
			 "# TYPE reconcile_seconds histogram\n"
			 "reconcile_seconds_bucket{ctl=\"replica\",le=\"0.1\"} 0\n"
			 "reconcile_seconds_bucket{ctl=\"replica\",le=\"10\"} 1\n"
			 "reconcile_seconds_bucket{ctl=\"replica\",le=\"+Inf\"} 1\n"
			 "reconcile_seconds_sum{ctl=\"replica\"} 1\n"
			 "reconcile_seconds_count{ctl=\"replica\"} 1\n");
	kl_metrics_free(m);
}

static void test_escaping(void **state)
{
	static const char *const labels[] = {"msg", NULL};
	struct kl_metrics *m = kl_metrics_new();
	struct kl_metric *g;

	g = kl_metrics_gauge(m, "kloompas_esc", "Help with \\ backslash\nand \"quotes\".", labels);
	assert_non_null(g);
	assert_int_equal(kl_metric_set(g, (const char *[]){"a\\b\"c\nd"}, 1), 0);
	assert_int_equal(kl_metric_set(g, (const char *[]){""}, 2), 0);
	assert_int_equal(kl_metric_set(g, (const char *[]){"\xc3\xa9t\xc3\xa9"}, 3), 0);
	/* The HELP line escapes only backslash and newline; label values also the quote. */
	assert_render(m, "# HELP kloompas_esc Help with \\\\ backslash\\nand \"quotes\".\n"
			 "# TYPE kloompas_esc gauge\n"
			 "kloompas_esc{msg=\"a\\\\b\\\"c\\nd\"} 1\n"
			 "kloompas_esc{msg=\"\"} 2\n"
			 "kloompas_esc{msg=\"\xc3\xa9t\xc3\xa9\"} 3\n");
	/* The stored series is keyed by the raw value, not the escaped one. */
	assert_true(kl_metric_get(g, (const char *[]){"a\\b\"c\nd"}) == 1);
	/* The format requires UTF-8 label values. */
	assert_int_equal(kl_metric_set(g, (const char *[]){"\xff"}, 1), -EINVAL);
	assert_int_equal(kl_metric_set(g, (const char *[]){"\xc3"}, 1), -EINVAL);
	assert_int_equal(kl_metric_set(g, (const char *[]){"\xc0\xaf"}, 1), -EINVAL);
	assert_int_equal(kl_metric_set(g, (const char *[]){"\xed\xa0\x80"}, 1), -EINVAL);
	kl_metrics_free(m);
}

static void test_invalid_names(void **state)
{
	static const char *const bad_label[] = {"1abc", NULL};
	static const char *const dash_label[] = {"a-b", NULL};
	static const char *const reserved[] = {"__name", NULL};
	static const char *const empty[] = {"", NULL};
	static const char *const dup[] = {"a", "b", "a", NULL};
	static const char *const le[] = {"le", NULL};
	static const char *const ok[] = {"_a", "B9", NULL};
	static const double bounds[] = {1, 2};
	static const double unsorted[] = {1, 1};
	static const double inf[] = {1, INFINITY};
	static const double nan[] = {NAN};
	struct kl_metrics *m = kl_metrics_new();

	assert_null(kl_metrics_gauge(m, "", "h", NULL));
	assert_null(kl_metrics_gauge(m, NULL, "h", NULL));
	assert_null(kl_metrics_gauge(m, "1abc", "h", NULL));
	assert_null(kl_metrics_gauge(m, "a-b", "h", NULL));
	assert_null(kl_metrics_gauge(m, "a b", "h", NULL));
	assert_null(kl_metrics_gauge(m, "caf\xc3\xa9", "h", NULL));
	/* Missing or empty help would fail promtool's lint. */
	assert_null(kl_metrics_gauge(m, "no_help", NULL, NULL));
	assert_null(kl_metrics_gauge(m, "no_help", "", NULL));
	/* Counters must end in _total. */
	assert_null(kl_metrics_counter(m, "requests", "h", NULL));
	assert_null(kl_metrics_counter(m, "requests_totals", "h", NULL));
	assert_null(kl_metrics_gauge(m, "g1", "h", bad_label));
	assert_null(kl_metrics_gauge(m, "g2", "h", dash_label));
	assert_null(kl_metrics_gauge(m, "g3", "h", reserved));
	assert_null(kl_metrics_gauge(m, "g4", "h", empty));
	assert_null(kl_metrics_gauge(m, "g5", "h", dup));
	assert_null(kl_metrics_histogram(m, "h1", "h", le, bounds, 2));
	assert_null(kl_metrics_histogram(m, "h2", "h", NULL, unsorted, 2));
	assert_null(kl_metrics_histogram(m, "h3", "h", NULL, inf, 2));
	assert_null(kl_metrics_histogram(m, "h4", "h", NULL, nan, 1));
	assert_null(kl_metrics_histogram(m, "h5", "h", NULL, NULL, 2));
	assert_render(m, "");

	/* The valid corners. */
	assert_non_null(kl_metrics_gauge(m, "ns:sub_system:x", "h", NULL));
	assert_non_null(kl_metrics_gauge(m, "_x9", "h", ok));
	/* le is only reserved in histograms. */
	assert_non_null(kl_metrics_gauge(m, "le_ok", "h", le));
	assert_non_null(kl_metrics_counter(m, "a_total", "h", NULL));
	assert_non_null(kl_metrics_histogram(m, "no_buckets", "h", NULL, NULL, 0));
	kl_metrics_free(m);
}

static void test_duplicates(void **state)
{
	static const double bounds[] = {1};
	struct kl_metrics *m = kl_metrics_new();

	assert_non_null(kl_metrics_gauge(m, "dup", "h", NULL));
	assert_null(kl_metrics_gauge(m, "dup", "h", NULL));
	assert_null(kl_metrics_histogram(m, "dup", "h", NULL, bounds, 1));
	assert_non_null(kl_metrics_counter(m, "dup_total", "h", NULL));
	assert_null(kl_metrics_counter(m, "dup_total", "other help", NULL));

	/* A histogram's derived sample names are taken too, both ways round. */
	assert_non_null(kl_metrics_histogram(m, "lat", "h", NULL, bounds, 1));
	assert_null(kl_metrics_gauge(m, "lat_count", "h", NULL));
	assert_null(kl_metrics_gauge(m, "lat_sum", "h", NULL));
	assert_null(kl_metrics_gauge(m, "lat_bucket", "h", NULL));
	assert_non_null(kl_metrics_gauge(m, "lat_other", "h", NULL));
	assert_non_null(kl_metrics_gauge(m, "req_count", "h", NULL));
	assert_null(kl_metrics_histogram(m, "req", "h", NULL, bounds, 1));
	kl_metrics_free(m);
}

static void test_wrong_ops(void **state)
{
	struct kl_metrics *m = kl_metrics_new();
	struct kl_metric *c = kl_metrics_counter(m, "c_total", "h", NULL);
	struct kl_metric *g = kl_metrics_gauge(m, "g", "h", NULL);

	assert_int_equal(kl_metric_add(c, NULL, -1), -EINVAL);
	assert_int_equal(kl_metric_add(c, NULL, NAN), -EINVAL);
	assert_int_equal(kl_metric_set(c, NULL, 5), -EINVAL);
	assert_int_equal(kl_metric_observe(c, NULL, 5), -EINVAL);
	assert_int_equal(kl_metric_observe(g, NULL, 5), -EINVAL);
	assert_true(kl_metric_get(c, NULL) == 0);
	assert_int_equal(kl_metric_add(c, NULL, 0), 0);
	assert_int_equal(kl_metric_add(g, NULL, -1), 0);
	assert_true(kl_metric_get(g, NULL) == -1);
	assert_int_equal(kl_metric_inc(NULL, NULL), -EINVAL);
	kl_metrics_free(m);
}

static void test_remove(void **state)
{
	static const char *const labels[] = {"namespace", NULL};
	struct kl_metrics *m = kl_metrics_new();
	struct kl_metric *g = kl_metrics_gauge(m, "pods", "Pods.", labels);

	kl_metric_set(g, (const char *[]){"a"}, 1);
	kl_metric_set(g, (const char *[]){"b"}, 2);
	kl_metric_set(g, (const char *[]){"c"}, 3);
	assert_int_equal(kl_metric_remove(g, (const char *[]){"b"}), 0);
	assert_int_equal(kl_metric_remove(g, (const char *[]){"b"}), -ENOENT);
	assert_int_equal(kl_metric_remove(g, (const char *[]){"zz"}), -ENOENT);
	assert_true(kl_metric_get(g, (const char *[]){"b"}) == 0);
	assert_render(m, "# HELP pods Pods.\n"
			 "# TYPE pods gauge\n"
			 "pods{namespace=\"a\"} 1\n"
			 "pods{namespace=\"c\"} 3\n");
	/* Head and tail removals keep the order intact; a re-added series goes last. */
	assert_int_equal(kl_metric_remove(g, (const char *[]){"a"}), 0);
	assert_int_equal(kl_metric_remove(g, (const char *[]){"c"}), 0);
	assert_render(m, "# HELP pods Pods.\n"
			 "# TYPE pods gauge\n");
	kl_metric_set(g, (const char *[]){"c"}, 4);
	kl_metric_set(g, (const char *[]){"a"}, 5);
	assert_render(m, "# HELP pods Pods.\n"
			 "# TYPE pods gauge\n"
			 "pods{namespace=\"c\"} 4\n"
			 "pods{namespace=\"a\"} 5\n");
	kl_metrics_free(m);
}

static void test_many_series(void **state)
{
	static const char *const labels[] = {"namespace", "kind", NULL};
	struct kl_metrics *m = kl_metrics_new();
	struct kl_metric *g = kl_metrics_gauge(m, "objects", "Objects.", labels);
	char ns[32], line[96], *out;
	int i;

	assert_non_null(g);
	for (i = 0; i < 10000; i++) {
		snprintf(ns, sizeof(ns), "ns-%d", i);
		assert_int_equal(kl_metric_set(g, (const char *[]){ns, "pod"}, i), 0);
	}
	for (i = 0; i < 10000; i++) {
		snprintf(ns, sizeof(ns), "ns-%d", i);
		assert_int_equal(kl_metric_inc(g, (const char *[]){ns, "pod"}), 0);
	}
	for (i = 0; i < 10000; i++) {
		snprintf(ns, sizeof(ns), "ns-%d", i);
		assert_true(kl_metric_get(g, (const char *[]){ns, "pod"}) == i + 1);
		assert_true(kl_metric_get(g, (const char *[]){ns, "svc"}) == 0);
	}
	for (i = 0; i < 10000; i += 2) {
		snprintf(ns, sizeof(ns), "ns-%d", i);
		assert_int_equal(kl_metric_remove(g, (const char *[]){ns, "pod"}), 0);
	}
	out = render(m);
	assert_int_equal(count_lines_with(out, "\nobjects{"), 5000);
	/* Insertion order survives the removals. */
	assert_non_null(strstr(out, "# TYPE objects gauge\n"
				    "objects{namespace=\"ns-1\",kind=\"pod\"} 2\n"
				    "objects{namespace=\"ns-3\",kind=\"pod\"} 4\n"));
	snprintf(line, sizeof(line), "objects{namespace=\"ns-9999\",kind=\"pod\"} 10000\n");
	assert_string_equal(out + strlen(out) - strlen(line), line);
	assert_null(strstr(out, "namespace=\"ns-4242\""));
	free(out);
	kl_metrics_free(m);
}

struct collect_state {
	int calls;
	struct kl_metric *gauge;
};

static void collect(struct kl_metrics *m, void *arg)
{
	struct collect_state *cs = arg;

	cs->calls++;
	assert_ptr_equal(kl_metrics_find(m, "collected"), cs->gauge);
	kl_metric_set(cs->gauge, NULL, cs->calls * 10);
}

static void test_collector(void **state)
{
	struct kl_metrics *m = kl_metrics_new();
	struct collect_state cs = {0};

	cs.gauge = kl_metrics_gauge(m, "collected", "Set by a collector.", NULL);
	assert_non_null(cs.gauge);
	assert_int_equal(kl_metrics_add_collector(m, collect, &cs), 0);
	assert_int_equal(cs.calls, 0);
	assert_render(m, "# HELP collected Set by a collector.\n"
			 "# TYPE collected gauge\n"
			 "collected 10\n");
	assert_render(m, "# HELP collected Set by a collector.\n"
			 "# TYPE collected gauge\n"
			 "collected 20\n");
	assert_int_equal(cs.calls, 2);
	assert_int_equal(kl_metrics_add_collector(m, NULL, NULL), -EINVAL);
	kl_metrics_free(m);
}

static void test_process_metrics(void **state)
{
	struct kl_metrics *m = kl_metrics_new();
	double now = (double)time(NULL), cpu, start, fds, rss, vsize, maxfds;
	char *out;
	volatile double spin = 0;
	int i;

	assert_int_equal(kl_process_metrics_register(m), 0);
	assert_int_equal(kl_process_metrics_register(m), -EEXIST);
	/* Burn a little CPU so the counter has something to show. */
	for (i = 0; i < 30000000; i++)
		spin += i;
	assert_true(spin > 0);
	out = render(m);
	cpu = sample_value(out, "process_cpu_seconds_total");
	rss = sample_value(out, "process_resident_memory_bytes");
	vsize = sample_value(out, "process_virtual_memory_bytes");
	fds = sample_value(out, "process_open_fds");
	maxfds = sample_value(out, "process_max_fds");
	start = sample_value(out, "process_start_time_seconds");
	free(out);

	assert_true(cpu >= 0 && cpu < 3600);
	assert_true(rss > 0);
	assert_true(vsize >= rss);
	assert_true(fds >= 3); /* stdin, stdout, stderr at least */
	assert_true(maxfds >= fds);
	assert_true(start > now - 86400 && start <= now + 1);
	/* The counter follows the kernel's total without ever going down. */
	out = render(m);
	assert_true(sample_value(out, "process_cpu_seconds_total") >= cpu);
	free(out);
	assert_true(kl_metric_get(kl_metrics_find(m, "process_open_fds"), NULL) == fds);
	kl_metrics_free(m);
}

/*
 * Runs promtool check metrics on text; returns its wait status and leaves whatever it
 * printed (lint findings or errors) in lint.
 */
static int promtool_check(const char *text, char *lint, size_t size)
{
	char path[] = "/tmp/kl_test_metrics_XXXXXX";
	size_t len = strlen(text), n;
	char cmd[256];
	FILE *fp;
	int fd, status;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);

	snprintf(cmd, sizeof(cmd), PROMTOOL " check metrics < %s 2>&1", path);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	n = fread(lint, 1, size - 1, fp);
	lint[n] = '\0';
	status = pclose(fp);
	unlink(path);
	return status;
}

/* A registry with every kind of family, labelled and not, plus process_*, lints clean. */
static void test_promtool(void **state)
{
	static const char *const ns[] = {"namespace", NULL};
	static const char *const two[] = {"namespace", "reason", NULL};
	static const double bounds[] = {0.005, 0.01, 0.1, 1, 2.5, 10};
	struct kl_metrics *m = kl_metrics_new();
	struct kl_metric *c, *g, *h, *hl;
	char lint[4096], *out;
	int status;

	assert_int_equal(access(PROMTOOL, X_OK), 0); /* missing promtool fails, never skips */

	/* First prove promtool really runs and lints: a bare counter draws two findings. */
	status = promtool_check("# TYPE foo counter\nfoo 1\n", lint, sizeof(lint));
	assert_true(WIFEXITED(status));
	assert_int_not_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(lint, "_total"));

	c = kl_metrics_counter(m, "kloompas_pod_crashes_total", "Crashes seen.", two);
	g = kl_metrics_gauge(m, "kloompas_namespace_pods", "Pods per namespace.", ns);
	assert_non_null(kl_metrics_gauge(m, "kloompas_leader", "1 while leading.", NULL));
	assert_non_null(kl_metrics_counter(m, "kloompas_watch_restarts_total", "Restarts.", NULL));
	assert_non_null(kl_metrics_gauge(m, "kloompas_unused", "Labelled, no series.", ns));
	h = kl_metrics_histogram(m, "kloompas_http_request_duration_seconds", "HTTP latency.", NULL,
				 bounds, 6);
	hl = kl_metrics_histogram(m, "kloompas_reconcile_duration_seconds", "Reconcile latency.",
				  ns, bounds, 6);
	assert_non_null(
	    kl_metrics_histogram(m, "kloompas_unused_seconds", "No series yet.", ns, bounds, 6));
	assert_non_null(c);
	assert_non_null(g);
	assert_non_null(h);
	assert_non_null(hl);
	kl_metric_inc(c, (const char *[]){"prod", "OOMKilled"});
	kl_metric_add(c, (const char *[]){"we\"ird\\ns\n", "Error"}, 2);
	kl_metric_set(g, (const char *[]){"prod"}, 12);
	kl_metric_set(g, (const char *[]){"dev"}, 0.25);
	kl_metric_observe(h, NULL, 0.003);
	kl_metric_observe(h, NULL, 4);
	kl_metric_observe(hl, (const char *[]){"prod"}, 0.2);
	assert_int_equal(kl_process_metrics_register(m), 0);
	out = render(m);

	status = promtool_check(out, lint, sizeof(lint));
	if (lint[0] || status != 0)
		fprintf(stderr, "promtool said (status %d):\n%s\non:\n%s", status, lint, out);
	free(out);
	kl_metrics_free(m);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(lint, ""); /* no lint output at all */
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_registry),
		cmocka_unit_test(test_counter_no_labels),
		cmocka_unit_test(test_counter_labels),
		cmocka_unit_test(test_gauge),
		cmocka_unit_test(test_value_format),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_histogram_labels),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_invalid_names),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_wrong_ops),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_many_series),
		cmocka_unit_test(test_collector),
		cmocka_unit_test(test_process_metrics),
		cmocka_unit_test(test_promtool),
	};
	/* clang-format on */

	return cmocka_run_group_tests(tests, NULL, NULL);
}
