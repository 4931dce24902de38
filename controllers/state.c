/*
 * controllers/state.c - the kloompas-state ConfigMap (see state.h).
 *
 * Entries live in a list (only namespaces with an alert have one, so it stays
 * short). Each entry remembers whether it changed since the last write; a flush
 * sends those as one JSON merge patch of .data (null deletes a key). A write that
 * fails stays dirty and is tried again at the next flush.
 */
#include "controllers/state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/backoff.h"
#include "util/buf.h"
#include "util/container_of.h"

struct entry {
	char *key, *value; /* value NULL: deleted, to be written as null */
	bool dirty;	   /* changed since the last write was sent */
	bool sending;	   /* part of the write in flight */
	struct entry *next;
};

struct kl_state {
	struct kl_clock *clock;
	struct kl_kube *kube;
	const struct kl_log *log;
	char *ns, *name;
	bool read_only, loaded, exists, writing;
	uint64_t flush_ms;
	struct entry *entries;
	struct kl_timer timer; /* the next flush */
	struct kl_timer retry; /* the next attempt to load */
	struct kl_backoff load_backoff;
	kl_state_loaded_cb loaded_cb;
	void *loaded_arg;
	struct kl_kube_req *call;
	void (*flush_cb)(void *arg);
	void *flush_arg;
	bool closing;
	void (*close_cb)(void *arg);
	void *close_arg;
	int close_pending;
};

/* ---------------------------------------------------------------- entries */

static struct entry *find(const struct kl_state *s, const char *key)
{
	struct entry *e;

	for (e = s->entries; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

const char *kl_state_get(const struct kl_state *s, const char *key)
{
	const struct entry *e = find(s, key);

	return e ? e->value : NULL;
}

static void on_timer(struct kl_timer *t);

/* the first change after a write starts the batch window */
static void arm(struct kl_state *s)
{
	if (!s->read_only && !s->closing && !kl_timer_is_active(&s->timer))
		kl_timer_start(&s->timer, on_timer, s->flush_ms, 0);
}

int kl_state_set(struct kl_state *s, const char *key, const char *value)
{
	struct entry *e = find(s, key);
	char *v = value ? strdup(value) : NULL;

	if (value && !v)
		return -ENOMEM;
	if (!e) {
		if (!value)
			return 0;
		e = calloc(1, sizeof(*e));
		if (!e || !(e->key = strdup(key))) {
			free(e);
			free(v);
			return -ENOMEM;
		}
		e->next = s->entries;
		s->entries = e;
	} else if ((!e->value && !value) || (e->value && value && strcmp(e->value, value) == 0)) {
		free(v);
		return 0;
	}
	free(e->value);
	e->value = v;
	e->dirty = true;
	arm(s);
	return 0;
}

void kl_state_foreach(const struct kl_state *s, const char *prefix,
		      void (*cb)(void *arg, const char *key, const char *value), void *arg)
{
	const struct entry *e;
	size_t n = strlen(prefix);

	for (e = s->entries; e; e = e->next)
		if (e->value && strncmp(e->key, prefix, n) == 0)
			cb(arg, e->key, e->value);
}

/* ---------------------------------------------------------------- load */

#define LOAD_RETRY_FIRST_MS 500
#define LOAD_RETRY_MAX_MS 30000

static void close_step(struct kl_state *s);
static int load_now(struct kl_state *s);

static void on_retry(struct kl_timer *t)
{
	struct kl_state *s = container_of(t, struct kl_state, retry);
	int rc = load_now(s);

	/* cannot even start the GET: try again after the current step, not a longer one */
	if (rc < 0)
		kl_timer_start(&s->retry, on_retry, s->load_backoff.step_ms, 0);
}

static void on_loaded(void *arg, const struct kl_kube_status *st, const struct kl_json *obj)
{
	struct kl_state *s = arg;
	const struct kl_json *data, *m;
	int err = 0;

	s->call = NULL;
	if (s->closing) {
		close_step(s);
		return;
	}
	if (st->err == 0) {
		s->exists = true;
		data = kl_json_get(obj, "data");
		for (m = data ? data->child : NULL; m; m = m->next) {
			if (m->type != KL_JSON_STRING || find(s, m->key))
				continue; /* a set() made before the load wins */
			if (kl_state_set(s, m->key, m->str) < 0) {
				err = -ENOMEM;
				break;
			}
			find(s, m->key)->dirty = false;
		}
	} else if (st->err != -ENOENT) {
		/*
		 * Starting empty would send again every notice already delivered: wait
		 * for the real state instead (controllers start once it is loaded).
		 */
		uint64_t wait = kl_backoff_next(&s->load_backoff, st->retry_after_s);

		kl_log_warn(s->log, "state", "cannot read the state ConfigMap; will retry",
			    "namespace", s->ns, "name", s->name, "error", st->message);
		kl_timer_start(&s->retry, on_retry, wait, 0);
		return;
	}
	s->loaded = true;
	if (s->loaded_cb)
		s->loaded_cb(s->loaded_arg, err);
}

static int load_now(struct kl_state *s)
{
	char path[512];

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps/%s", s->ns, s->name);
	return kl_kube_get(s->kube, path, on_loaded, s, &s->call);
}

int kl_state_load(struct kl_state *s, kl_state_loaded_cb cb, void *arg)
{
	s->loaded_cb = cb;
	s->loaded_arg = arg;
	kl_backoff_init(&s->load_backoff, LOAD_RETRY_FIRST_MS, LOAD_RETRY_MAX_MS);
	return load_now(s);
}

bool kl_state_loaded(const struct kl_state *s)
{
	return s->loaded;
}

/* ---------------------------------------------------------------- write */

static void write_now(struct kl_state *s);

static void finish_flush(struct kl_state *s)
{
	void (*cb)(void *) = s->flush_cb;

	s->flush_cb = NULL;
	if (cb)
		cb(s->flush_arg);
}

static void on_written(void *arg, const struct kl_kube_status *st, const struct kl_json *obj)
{
	struct kl_state *s = arg;
	struct entry **pp, *e;

	s->call = NULL;
	s->writing = false;
	if (s->closing) {
		close_step(s);
		return;
	}
	if (st->err == -EEXIST && !s->exists) {
		s->exists = true; /* another replica created it: patch instead */
		write_now(s);
		return;
	}
	if (st->err == -ENOENT && s->exists) {
		s->exists = false; /* deleted under us: create it again */
		write_now(s);
		return;
	}
	if (st->err) {
		kl_log_warn(s->log, "state", "cannot write the state ConfigMap; will retry",
			    "namespace", s->ns, "name", s->name, "error", st->message);
		for (e = s->entries; e; e = e->next) {
			e->dirty = e->dirty || e->sending;
			e->sending = false;
		}
		kl_timer_start(&s->timer, on_timer, s->flush_ms * 5, 0);
		finish_flush(s);
		return;
	}
	s->exists = true;
	/* written: deletions that were sent and not set again are gone for good */
	for (pp = &s->entries; (e = *pp);) {
		if (e->sending && !e->dirty && !e->value) {
			*pp = e->next;
			free(e->key);
			free(e);
			continue;
		}
		e->sending = false;
		pp = &e->next;
	}
	if (s->entries && !s->closing)
		for (e = s->entries; e; e = e->next)
			if (e->dirty) {
				arm(s);
				break;
			}
	finish_flush(s);
}

static void write_now(struct kl_state *s)
{
	struct kl_buf b;
	struct entry *e;
	char path[512];
	bool any = false;
	int rc;

	if (s->read_only || s->writing || s->closing)
		return;
	kl_buf_init(&b);
	for (e = s->entries; e; e = e->next)
		any = any || e->dirty;
	if (!any) {
		finish_flush(s);
		return;
	}
	if (s->exists) {
		kl_buf_puts(&b, "{\"data\":{");
	} else {
		kl_buf_puts(&b, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":");
		kl_buf_json_string(&b, s->name);
		kl_buf_puts(&b, ",\"labels\":{\"app.kubernetes.io/name\":\"kloompas\"}},\"data\":{");
	}
	any = false;
	for (e = s->entries; e; e = e->next) {
		if (!s->exists && !e->value) {
			e->dirty = false;
			e->sending = true; /* nothing to delete in a new ConfigMap */
			continue;
		}
		if (!e->dirty && s->exists)
			continue;
		if (any)
			kl_buf_puts(&b, ",");
		kl_buf_json_string(&b, e->key);
		kl_buf_puts(&b, ":");
		if (e->value)
			kl_buf_json_string(&b, e->value);
		else
			kl_buf_puts(&b, "null");
		any = true;
		e->dirty = false; /* sent; set back to dirty when the write fails */
		e->sending = true;
	}
	kl_buf_puts(&b, "}}");
	if (b.oom) {
		kl_buf_free(&b);
		return;
	}
	if (s->exists) {
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps/%s", s->ns, s->name);
		rc = kl_kube_patch(s->kube, path, KL_PATCH_MERGE, b.p, b.len, on_written, s,
				   &s->call);
	} else {
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", s->ns);
		rc = kl_kube_create(s->kube, path, b.p, b.len, on_written, s, &s->call);
	}
	kl_buf_free(&b);
	if (rc == 0)
		s->writing = true;
}

static void on_timer(struct kl_timer *t)
{
	write_now(container_of(t, struct kl_state, timer));
}

void kl_state_flush(struct kl_state *s, void (*cb)(void *arg), void *arg)
{
	s->flush_cb = cb;
	s->flush_arg = arg;
	if (s->read_only || s->writing) {
		if (s->read_only)
			finish_flush(s);
		return; /* the write in flight calls back */
	}
	kl_timer_stop(&s->timer);
	write_now(s);
}

/* ---------------------------------------------------------------- life */

struct kl_state *kl_state_new(struct kl_clock *clock, struct kl_kube *kube, const char *ns,
			      const char *name, bool read_only, uint64_t flush_ms,
			      const struct kl_log *log)
{
	struct kl_state *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->ns = strdup(ns);
	s->name = strdup(name);
	if (!s->ns || !s->name) {
		free(s->ns);
		free(s->name);
		free(s);
		return NULL;
	}
	s->clock = clock;
	s->kube = kube;
	s->log = log;
	s->read_only = read_only;
	s->flush_ms = flush_ms ? flush_ms : 1000;
	kl_timer_init(clock, &s->timer);
	s->timer.data = s;
	kl_timer_init(clock, &s->retry);
	s->retry.data = s;
	return s;
}

static void close_step(struct kl_state *s)
{
	struct entry *e, *next;
	void (*cb)(void *) = s->close_cb;
	void *arg = s->close_arg;

	if (--s->close_pending > 0)
		return;

	for (e = s->entries; e; e = next) {
		next = e->next;
		free(e->key);
		free(e->value);
		free(e);
	}
	free(s->ns);
	free(s->name);
	free(s);
	if (cb)
		cb(arg);
}

static void timer_closed(struct kl_timer *t)
{
	close_step(t->data);
}

void kl_state_close(struct kl_state *s, void (*cb)(void *arg), void *arg)
{
	s->closing = true;
	s->close_cb = cb;
	s->close_arg = arg;
	s->close_pending = 2;
	if (s->call) {
		/* its callback comes (-ECANCELED), sees closing and counts down */
		s->close_pending++;
		kl_kube_cancel(s->call);
	}
	kl_timer_close(&s->timer, timer_closed);
	kl_timer_close(&s->retry, timer_closed);
}
