/*
 * util/metrics.h - the process' Prometheus registry: counters, gauges, histograms
 * with labels, rendered in text exposition format 0.0.4.
 *
 * One registry lives in the loop's context; every layer registers its families at
 * start and updates series by label values afterwards. Everything runs on the loop
 * thread, so nothing here locks. Families are rendered in registration order, each
 * with HELP and TYPE; label values are escaped (\\, \", \n) as the format requires.
 *
 * Ownership: the registry owns families and series. Names, help texts and the
 * label-name arrays passed at registration are borrowed for the registry's life
 * (use string literals and static arrays). Label values are copied.
 */
#ifndef KL_UTIL_METRICS_H
#define KL_UTIL_METRICS_H

#include <stddef.h>

struct kl_metrics;
struct kl_metric; /* a family: one name, one type, one label-name set */

enum kl_metric_type { KL_METRIC_COUNTER, KL_METRIC_GAUGE, KL_METRIC_HISTOGRAM };

/* Called at the start of every render, to refresh gauges read from elsewhere (/proc). */
typedef void (*kl_metrics_collect_cb)(struct kl_metrics *m, void *arg);

/* Returns a new registry, free with kl_metrics_free(); NULL on ENOMEM. */
struct kl_metrics *kl_metrics_new(void);
void kl_metrics_free(struct kl_metrics *m);

/*
 * Registers a family. labels is a NULL-terminated array of label names (NULL for
 * none). Returns the family, owned by the registry, or NULL when the name or a
 * label name is invalid, the name is taken, or memory runs out.
 */
struct kl_metric *kl_metrics_counter(struct kl_metrics *m, const char *name, const char *help,
				     const char *const *labels);
struct kl_metric *kl_metrics_gauge(struct kl_metrics *m, const char *name, const char *help,
				   const char *const *labels);
/* buckets: strictly increasing upper bounds, copied; +Inf is implied. */
struct kl_metric *kl_metrics_histogram(struct kl_metrics *m, const char *name, const char *help,
				       const char *const *labels, const double *buckets,
				       size_t nbuckets);
/* Looks a family up by name; NULL when absent. */
struct kl_metric *kl_metrics_find(struct kl_metrics *m, const char *name);

/*
 * Series updates. values has one entry per label name of the family (NULL when the
 * family has no labels). A series is created on first use. Return 0, -EINVAL (wrong
 * type for the family, a negative counter increment) or -ENOMEM.
 */
int kl_metric_inc(struct kl_metric *f, const char *const *values);	     /* counter, gauge */
int kl_metric_add(struct kl_metric *f, const char *const *values, double v); /* counter, gauge */
int kl_metric_set(struct kl_metric *f, const char *const *values, double v); /* gauge */
int kl_metric_observe(struct kl_metric *f, const char *const *values, double v); /* histogram */
/* Current value of a counter or gauge series; 0 when the series does not exist. */
double kl_metric_get(struct kl_metric *f, const char *const *values);
/* Drops one series (e.g. a namespace that went away); 0 or -ENOENT. */
int kl_metric_remove(struct kl_metric *f, const char *const *values);

/* Adds a collector run before each render; 0 or -ENOMEM. arg is borrowed. */
int kl_metrics_add_collector(struct kl_metrics *m, kl_metrics_collect_cb cb, void *arg);

/*
 * Renders every family. On success *out is a new NUL-terminated buffer (free with
 * free()) of *len bytes. Returns 0 or -ENOMEM.
 */
int kl_metrics_render(struct kl_metrics *m, char **out, size_t *len);

/*
 * Registers the standard process_* family (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
 * process_max_fds, process_start_time_seconds) with a collector reading /proc/self.
 * Returns 0 or a negative errno.
 */
int kl_process_metrics_register(struct kl_metrics *m);

#endif
