/*
 * util/metrics.c - the Prometheus registry (see metrics.h).
 *
 * Design: a family is a node in the registry's registration-ordered list. Its series
 * live twice: in a chained hash table keyed by the label values (a controller may keep
 * one series per namespace, thousands of them, and every update looks one up), and in
 * a doubly linked insertion-order list, so the exposition is stable from scrape to
 * scrape and a removal is O(1). Each series is one allocation: the struct, its bucket
 * counts and its copied label values.
 *
 * The output is checked against what `promtool check metrics` accepts: counters end in
 * _total, every family has non-empty HELP, names that would collide in the text format
 * (a histogram's _bucket/_sum/_count) are refused at registration, and label values
 * must be valid UTF-8 because the format requires it.
 */
#include "util/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MIN 16
#define RENDER_MIN 4096

struct series {
	struct series *hnext;	    /* hash chain */
	struct series *prev, *next; /* family's insertion order */
	uint64_t hash;
	double value;	   /* counter, gauge */
	double sum;	   /* histogram */
	uint64_t count;	   /* histogram: observations, i.e. the +Inf bucket */
	uint64_t *buckets; /* histogram: per-bucket (not cumulative) counts, in this block */
	char **values;	   /* nlabels copies, in this block */
};

struct kl_metric {
	struct kl_metric *next;	   /* registration order */
	const char *name;	   /* borrowed */
	const char *help;	   /* borrowed */
	const char *const *labels; /* borrowed */
	size_t nlabels;
	enum kl_metric_type type;
	double *bounds; /* histogram upper bounds, owned */
	size_t nbounds;
	struct series **table;
	size_t table_size; /* power of two, or 0 before the first series */
	size_t nseries;
	struct series *head, *tail;
};

struct collector {
	kl_metrics_collect_cb cb;
	void *arg;
};

struct kl_metrics {
	struct kl_metric *head, *tail;
	struct collector *collectors;
	size_t ncollectors, collectors_cap;
};

/* clang-format off */
static const char *const type_names[] = {
	[KL_METRIC_COUNTER] = "counter",
	[KL_METRIC_GAUGE] = "gauge",
	[KL_METRIC_HISTOGRAM] = "histogram",
};
/* clang-format on */

/* Names the text format derives from a histogram's family name. */
static const char *const histogram_suffixes[] = {"_bucket", "_sum", "_count"};

/* ---------------------------------------------------------------- registry ---- */

struct kl_metrics *kl_metrics_new(void)
{
	return calloc(1, sizeof(struct kl_metrics));
}

static void series_free_all(struct kl_metric *f)
{
	struct series *s = f->head;

	while (s) {
		struct series *next = s->next;

		free(s);
		s = next;
	}
	free(f->table);
}

void kl_metrics_free(struct kl_metrics *m)
{
	struct kl_metric *f;

	if (!m)
		return;
	f = m->head;
	while (f) {
		struct kl_metric *next = f->next;

		series_free_all(f);
		free(f->bounds);
		free(f);
		f = next;
	}
	free(m->collectors);
	free(m);
}

/* ---------------------------------------------------------- name checking ---- */

static bool valid_metric_name(const char *s)
{
	if (!s || !*s)
		return false;
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' || *s == ':'))
		return false;
	for (s++; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == ':'))
			return false;
	}
	return true;
}

static bool valid_label_name(const char *s, enum kl_metric_type type)
{
	const char *p;

	if (!s || !*s)
		return false;
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (p = s + 1; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	/* __ is reserved for Prometheus itself; le is the histogram's bucket label. */
	if (s[0] == '_' && s[1] == '_')
		return false;
	if (type == KL_METRIC_HISTOGRAM && strcmp(s, "le") == 0)
		return false;
	return true;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Whether full == base followed by suffix. */
static bool is_base_plus(const char *full, const char *base, const char *suffix)
{
	size_t n = strlen(base);

	return strncmp(full, base, n) == 0 && strcmp(full + n, suffix) == 0;
}

/* Whether a family of this name and type would produce a sample name f already owns. */
static bool name_clashes(const struct kl_metric *f, const char *name, enum kl_metric_type type)
{
	size_t i;

	if (strcmp(f->name, name) == 0)
		return true;
	for (i = 0; i < sizeof(histogram_suffixes) / sizeof(histogram_suffixes[0]); i++) {
		if (f->type == KL_METRIC_HISTOGRAM &&
		    is_base_plus(name, f->name, histogram_suffixes[i]))
			return true;
		if (type == KL_METRIC_HISTOGRAM &&
		    is_base_plus(f->name, name, histogram_suffixes[i]))
			return true;
	}
	return false;
}

/* Returns the label count, or -1 when a label name is invalid or repeated. */
static long count_labels(const char *const *labels, enum kl_metric_type type)
{
	size_t i, j;

	if (!labels)
		return 0;
	for (i = 0; labels[i]; i++) {
		if (!valid_label_name(labels[i], type))
			return -1;
		for (j = 0; j < i; j++) {
			if (strcmp(labels[i], labels[j]) == 0)
				return -1;
		}
	}
	return (long)i;
}

/* ------------------------------------------------------------ registration ---- */

static struct series *series_get(struct kl_metric *f, const char *const *values, int *err);

static struct kl_metric *family_register(struct kl_metrics *m, const char *name, const char *help,
					 const char *const *labels, enum kl_metric_type type,
					 const double *bounds, size_t nbounds)
{
	struct kl_metric *f, *it;
	long nlabels;
	size_t i;
	int err;

	if (!m || !valid_metric_name(name) || !help || !*help)
		return NULL;
	if (type == KL_METRIC_COUNTER && !has_suffix(name, "_total"))
		return NULL;
	nlabels = count_labels(labels, type);
	if (nlabels < 0)
		return NULL;
	for (it = m->head; it; it = it->next) {
		if (name_clashes(it, name, type))
			return NULL;
	}
	if (nbounds && !bounds)
		return NULL;
	for (i = 0; i < nbounds; i++) {
		if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
			return NULL;
	}

	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->name = name;
	f->help = help;
	f->labels = labels;
	f->nlabels = (size_t)nlabels;
	f->type = type;
	if (nbounds) {
		f->bounds = malloc(nbounds * sizeof(*f->bounds));
		if (!f->bounds)
			goto out_free_family;
		memcpy(f->bounds, bounds, nbounds * sizeof(*f->bounds));
		f->nbounds = nbounds;
	}
	/*
	 * A family without labels has exactly one series; expose it from the start so
	 * a scrape shows `kloompas_leader 0` rather than nothing before the first update.
	 */
	if (f->nlabels == 0 && !series_get(f, NULL, &err))
		goto out_free_bounds;

	if (m->tail)
		m->tail->next = f;
	else
		m->head = f;
	m->tail = f;
	return f;

out_free_bounds:
	free(f->bounds);
out_free_family:
	free(f);
	return NULL;
}

struct kl_metric *kl_metrics_counter(struct kl_metrics *m, const char *name, const char *help,
				     const char *const *labels)
{
	return family_register(m, name, help, labels, KL_METRIC_COUNTER, NULL, 0);
}

struct kl_metric *kl_metrics_gauge(struct kl_metrics *m, const char *name, const char *help,
				   const char *const *labels)
{
	return family_register(m, name, help, labels, KL_METRIC_GAUGE, NULL, 0);
}

struct kl_metric *kl_metrics_histogram(struct kl_metrics *m, const char *name, const char *help,
				       const char *const *labels, const double *buckets,
				       size_t nbuckets)
{
	return family_register(m, name, help, labels, KL_METRIC_HISTOGRAM, buckets, nbuckets);
}

struct kl_metric *kl_metrics_find(struct kl_metrics *m, const char *name)
{
	struct kl_metric *f;

	if (!m || !name)
		return NULL;
	for (f = m->head; f; f = f->next) {
		if (strcmp(f->name, name) == 0)
			return f;
	}
	return NULL;
}

int kl_metrics_add_collector(struct kl_metrics *m, kl_metrics_collect_cb cb, void *arg)
{
	if (!m || !cb)
		return -EINVAL;
	if (m->ncollectors == m->collectors_cap) {
		size_t cap = m->collectors_cap ? m->collectors_cap * 2 : 4;
		struct collector *c = realloc(m->collectors, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		m->collectors = c;
		m->collectors_cap = cap;
	}
	m->collectors[m->ncollectors].cb = cb;
	m->collectors[m->ncollectors].arg = arg;
	m->ncollectors++;
	return 0;
}

/* ------------------------------------------------------------------ series ---- */

/* Strict UTF-8: no overlongs, no surrogates, nothing past U+10FFFF. */
static bool valid_utf8(const unsigned char *s)
{
	while (*s) {
		unsigned char c = *s;
		size_t n, i;
		uint32_t cp;

		if (c < 0x80) {
			s++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		s += n + 1;
	}
	return true;
}

/* values must match the family's label count; every value must be present and UTF-8. */
static bool values_ok(const struct kl_metric *f, const char *const *values)
{
	size_t i;

	if (f->nlabels == 0)
		return true; /* values is ignored */
	if (!values)
		return false;
	for (i = 0; i < f->nlabels; i++) {
		if (!values[i] || !valid_utf8((const unsigned char *)values[i]))
			return false;
	}
	return true;
}

/* FNV-1a over the values, each terminated by its NUL so ("ab","c") != ("a","bc"). */
static uint64_t values_hash(const struct kl_metric *f, const char *const *values)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < f->nlabels; i++) {
		const unsigned char *p = (const unsigned char *)values[i];

		do {
			h ^= *p;
			h *= 0x100000001b3ULL;
		} while (*p++);
	}
	return h;
}

static bool values_equal(const struct kl_metric *f, const struct series *s,
			 const char *const *values)
{
	size_t i;

	for (i = 0; i < f->nlabels; i++) {
		if (strcmp(s->values[i], values[i]) != 0)
			return false;
	}
	return true;
}

/* Returns the link pointing at the series with these values, or at the chain's NULL end. */
static struct series **series_slot(struct kl_metric *f, const char *const *values, uint64_t hash)
{
	struct series **p;

	if (!f->table_size)
		return NULL;
	p = &f->table[hash & (f->table_size - 1)];
	while (*p && !((*p)->hash == hash && values_equal(f, *p, values)))
		p = &(*p)->hnext;
	return p;
}

static struct series *series_find(struct kl_metric *f, const char *const *values)
{
	struct series **p = series_slot(f, values, values_hash(f, values));

	return p ? *p : NULL;
}

/* Doubles the table (or makes the first one); on ENOMEM the old table keeps working. */
static int table_grow(struct kl_metric *f)
{
	size_t size = f->table_size ? f->table_size * 2 : TABLE_MIN;
	struct series **table = calloc(size, sizeof(*table));
	struct series *s;

	if (!table)
		return -ENOMEM;
	for (s = f->head; s; s = s->next) {
		struct series **b = &table[s->hash & (size - 1)];

		s->hnext = *b;
		*b = s;
	}
	free(f->table);
	f->table = table;
	f->table_size = size;
	return 0;
}

static struct series *series_new(const struct kl_metric *f, const char *const *values,
				 uint64_t hash)
{
	size_t nb = f->type == KL_METRIC_HISTOGRAM ? f->nbounds : 0;
	size_t size = sizeof(struct series) + nb * sizeof(uint64_t) + f->nlabels * sizeof(char *);
	size_t i;
	struct series *s;
	char *str;

	for (i = 0; i < f->nlabels; i++)
		size += strlen(values[i]) + 1;
	s = calloc(1, size);
	if (!s)
		return NULL;
	s->hash = hash;
	/* Layout: struct, bucket counts, value pointers, value bytes (alignment descends). */
	s->buckets = (uint64_t *)(s + 1);
	s->values = (char **)(s->buckets + nb);
	str = (char *)(s->values + f->nlabels);
	for (i = 0; i < f->nlabels; i++) {
		size_t n = strlen(values[i]) + 1;

		memcpy(str, values[i], n);
		s->values[i] = str;
		str += n;
	}
	return s;
}

/* Finds or creates the series; NULL with *err set to -EINVAL or -ENOMEM. */
static struct series *series_get(struct kl_metric *f, const char *const *values, int *err)
{
	struct series **p, *s;
	uint64_t hash;

	if (!values_ok(f, values)) {
		*err = -EINVAL;
		return NULL;
	}
	hash = values_hash(f, values);
	p = series_slot(f, values, hash);
	if (p && *p)
		return *p;

	s = series_new(f, values, hash);
	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	/* Keep the load factor at most 1; a failed grow just means longer chains. */
	if (f->nseries >= f->table_size && table_grow(f) < 0 && !f->table_size) {
		free(s);
		*err = -ENOMEM;
		return NULL;
	}
	p = &f->table[hash & (f->table_size - 1)];
	s->hnext = *p;
	*p = s;
	s->prev = f->tail;
	if (f->tail)
		f->tail->next = s;
	else
		f->head = s;
	f->tail = s;
	f->nseries++;
	return s;
}

int kl_metric_inc(struct kl_metric *f, const char *const *values)
{
	return kl_metric_add(f, values, 1);
}

int kl_metric_add(struct kl_metric *f, const char *const *values, double v)
{
	struct series *s;
	int err;

	if (!f || f->type == KL_METRIC_HISTOGRAM)
		return -EINVAL;
	/* A counter only goes up; NaN would poison it for good. */
	if (f->type == KL_METRIC_COUNTER && !(v >= 0))
		return -EINVAL;
	s = series_get(f, values, &err);
	if (!s)
		return err;
	s->value += v;
	return 0;
}

int kl_metric_set(struct kl_metric *f, const char *const *values, double v)
{
	struct series *s;
	int err;

	if (!f || f->type != KL_METRIC_GAUGE)
		return -EINVAL;
	s = series_get(f, values, &err);
	if (!s)
		return err;
	s->value = v;
	return 0;
}

int kl_metric_observe(struct kl_metric *f, const char *const *values, double v)
{
	struct series *s;
	size_t i;
	int err;

	if (!f || f->type != KL_METRIC_HISTOGRAM)
		return -EINVAL;
	s = series_get(f, values, &err);
	if (!s)
		return err;
	/* NaN fits no finite bucket and lands in +Inf only, as in client_golang. */
	for (i = 0; i < f->nbounds; i++) {
		if (v <= f->bounds[i]) {
			s->buckets[i]++;
			break;
		}
	}
	s->count++;
	s->sum += v;
	return 0;
}

double kl_metric_get(struct kl_metric *f, const char *const *values)
{
	struct series *s;

	if (!f || f->type == KL_METRIC_HISTOGRAM || !values_ok(f, values))
		return 0;
	s = series_find(f, values);
	return s ? s->value : 0;
}

int kl_metric_remove(struct kl_metric *f, const char *const *values)
{
	struct series **p, *s;

	if (!f || !values_ok(f, values))
		return -ENOENT;
	p = series_slot(f, values, values_hash(f, values));
	if (!p || !*p)
		return -ENOENT;
	s = *p;
	*p = s->hnext;
	if (s->prev)
		s->prev->next = s->next;
	else
		f->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		f->tail = s->prev;
	f->nseries--;
	free(s);
	return 0;
}

/* ---------------------------------------------------------------- rendering ---- */

struct buf {
	char *p;
	size_t len, cap;
	int err;
};

/* Makes room for n more bytes plus a NUL; once an allocation failed, everything is a no-op. */
static bool buf_reserve(struct buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->err)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : RENDER_MIN;
	while (cap < b->len + n + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->err = -ENOMEM;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void buf_put(struct buf *b, const char *s, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

/* Escapes backslash and newline, plus the double quote when quote is set (label values). */
static void buf_escaped(struct buf *b, const char *s, bool quote)
{
	const char *run = s;

	for (; *s; s++) {
		const char *rep = NULL;

		if (*s == '\\')
			rep = "\\\\";
		else if (*s == '\n')
			rep = "\\n";
		else if (*s == '"' && quote)
			rep = "\\\"";
		if (rep) {
			buf_put(b, run, (size_t)(s - run));
			buf_puts(b, rep);
			run = s + 1;
		}
	}
	buf_put(b, run, (size_t)(s - run));
}

/*
 * Formats v as Prometheus does: +Inf, -Inf, NaN; integers without a fraction
 * ("3", "1024"); anything else in the shortest %g form that reads back as the same
 * double ("0.005", "2.5", "0.1" rather than "0.10000000000000001").
 */
static void format_value(char *out, size_t size, double v)
{
	int prec;

	if (isnan(v)) {
		snprintf(out, size, "NaN");
	} else if (isinf(v)) {
		snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
	} else if (v == 0) {
		snprintf(out, size, "0"); /* also -0 */
	} else if (fabs(v) < 9007199254740992.0 && v == trunc(v)) {
		snprintf(out, size, "%.0f", v);
	} else {
		for (prec = 15; prec < 17; prec++) {
			snprintf(out, size, "%.*g", prec, v);
			if (strtod(out, NULL) == v)
				return;
		}
		snprintf(out, size, "%.17g", v);
	}
}

static void buf_value(struct buf *b, double v)
{
	char tmp[32];

	format_value(tmp, sizeof(tmp), v);
	buf_puts(b, tmp);
}

/* Writes `name{l1="v1",...,extra="ev"} value\n`; extra may be NULL. */
static void put_sample(struct buf *b, const struct kl_metric *f, const char *suffix,
		       const struct series *s, const char *extra, const char *extra_value, double v)
{
	size_t i;
	bool any = f->nlabels > 0 || extra;

	buf_puts(b, f->name);
	buf_puts(b, suffix);
	if (any)
		buf_puts(b, "{");
	for (i = 0; i < f->nlabels; i++) {
		if (i)
			buf_puts(b, ",");
		buf_puts(b, f->labels[i]);
		buf_puts(b, "=\"");
		buf_escaped(b, s->values[i], true);
		buf_puts(b, "\"");
	}
	if (extra) {
		if (f->nlabels)
			buf_puts(b, ",");
		buf_puts(b, extra);
		buf_puts(b, "=\"");
		buf_puts(b, extra_value);
		buf_puts(b, "\"");
	}
	if (any)
		buf_puts(b, "}");
	buf_puts(b, " ");
	buf_value(b, v);
	buf_puts(b, "\n");
}

static void render_histogram_series(struct buf *b, const struct kl_metric *f,
				    const struct series *s)
{
	uint64_t cum = 0;
	char le[32];
	size_t i;

	for (i = 0; i < f->nbounds; i++) {
		cum += s->buckets[i];
		format_value(le, sizeof(le), f->bounds[i]);
		put_sample(b, f, "_bucket", s, "le", le, (double)cum);
	}
	put_sample(b, f, "_bucket", s, "le", "+Inf", (double)s->count);
	put_sample(b, f, "_sum", s, NULL, NULL, s->sum);
	put_sample(b, f, "_count", s, NULL, NULL, (double)s->count);
}

static void render_family(struct buf *b, const struct kl_metric *f)
{
	const struct series *s;

	buf_puts(b, "# HELP ");
	buf_puts(b, f->name);
	buf_puts(b, " ");
	buf_escaped(b, f->help, false);
	buf_puts(b, "\n# TYPE ");
	buf_puts(b, f->name);
	buf_puts(b, " ");
	buf_puts(b, type_names[f->type]);
	buf_puts(b, "\n");
	for (s = f->head; s; s = s->next) {
		if (f->type == KL_METRIC_HISTOGRAM)
			render_histogram_series(b, f, s);
		else
			put_sample(b, f, "", s, NULL, NULL, s->value);
	}
}

int kl_metrics_render(struct kl_metrics *m, char **out, size_t *len)
{
	struct buf b = {0};
	const struct kl_metric *f;
	size_t i;

	if (!m || !out || !len)
		return -EINVAL;
	for (i = 0; i < m->ncollectors; i++)
		m->collectors[i].cb(m, m->collectors[i].arg);

	if (buf_reserve(&b, 0)) /* an empty registry still yields "" */
		b.p[0] = '\0';
	for (f = m->head; f; f = f->next)
		render_family(&b, f);
	if (b.err) {
		free(b.p);
		return b.err;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
