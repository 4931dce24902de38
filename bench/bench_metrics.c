/*
 * bench/bench_metrics.c - how much a /metrics scrape costs with many label values.
 *
 * Renders a registry holding one gauge per namespace (the shape of
 * kloompas_namespace_notready_ratio on a large cluster) and compares the time with
 * a baseline that only snprintf()s the same lines into a buffer, in the same run:
 * the ratio says what the registry (hashing, escaping, ordering) adds on top of
 * formatting, independent of how loaded the machine is.
 *
 *   build/bench/bench_metrics [SERIES] [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/metrics.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const char *const labels[] = { "namespace", NULL };
	int series = argc > 1 ? atoi(argv[1]) : 10000;
	int rounds = argc > 2 ? atoi(argv[2]) : 200;
	struct kl_metrics *m = kl_metrics_new();
	struct kl_metric *g;
	size_t cap = (size_t)series * 96 + 4096, len = 0, total = 0;
	char *base = malloc(cap), *out;
	double t0, t_reg, t_base;
	int i, r;

	if (!m || !base || series <= 0 || rounds <= 0)
		return 1;
	g = kl_metrics_gauge(m, "kloompas_namespace_notready_ratio",
			     "Share of not-Ready pods.", labels);
	for (i = 0; i < series; i++) {
		char ns[64];
		const char *v[] = { ns };

		snprintf(ns, sizeof(ns), "team-%d-production", i);
		kl_metric_set(g, v, (double)(i % 100) / 100.0);
	}
	t0 = now();
	for (r = 0; r < rounds; r++) {
		if (kl_metrics_render(m, &out, &len) < 0)
			return 1;
		total += len;
		free(out);
	}
	t_reg = (now() - t0) / rounds;
	t0 = now();
	for (r = 0; r < rounds; r++) {
		size_t off = 0;

		off += (size_t)snprintf(base + off, cap - off,
					"# HELP kloompas_namespace_notready_ratio Share.\n"
					"# TYPE kloompas_namespace_notready_ratio gauge\n");
		for (i = 0; i < series; i++)
			off += (size_t)snprintf(base + off, cap - off,
						"kloompas_namespace_notready_ratio{namespace=\"team-"
						"%d-production\"} %g\n",
						i, (double)(i % 100) / 100.0);
		total += off;
	}
	t_base = (now() - t0) / rounds;
	printf("series=%d rounds=%d bytes=%zu\n", series, rounds, len);
	printf("registry render: %.3f ms   snprintf baseline: %.3f ms   ratio: %.2fx\n",
	       t_reg * 1e3, t_base * 1e3, t_reg / t_base);
	free(base);
	kl_metrics_free(m);
	return total == 0;
}
