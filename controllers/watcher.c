/*
 * controllers/watcher.c - the watchers' base: dirty namespaces evaluated once per loop
 * turn, the alert engine, the team lookup, start and stop (see watcher.h).
 *
 * The dirty set is a list of interned namespace strings (a reference each, so a
 * namespace whose last pod went away can still be evaluated - and found empty);
 * a per-string flag is kept in a small open hash to de-duplicate. A uv_check runs
 * after each round of I/O callbacks, so every change of the round is in the cache
 * when the namespaces are evaluated. Wake-ups are a short list under one timer;
 * times are ctx->clock's wall time (Unix ms), as the alert engine's deadlines.
 * Stopping counts what it waits for in one reference count: the base's own (dropped
 * at the end of kl_watcher_stop), the three handles, the alert engine and the
 * watcher's holds; the last one frees.
 */
#include "controllers/watcher.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kubeclient/objects.h"
#include "util/container_of.h"

struct wake {
	const char *ns; /* interned, one reference */
	int64_t at;
	struct wake *next;
};

struct kl_watcher {
	struct kl_ctx *ctx;
	const char *name; /* the controller's (borrowed from its alert options) */
	struct kl_watcher_hooks hooks;
	void *state; /* the watcher's own, freed with the base */
	struct kl_alerts *alerts;
	struct kl_intern *intern;
	struct kl_informer *pods, *namespaces;
	bool started, stopping;

	const char **dirty; /* interned, one reference each */
	size_t ndirty, cap;
	const char **set; /* open hash of the dirty ones (pointers) */
	size_t setcap;

	struct wake *wakes;
	uv_check_t check;
	uv_idle_t idle; /* active while namespaces are dirty: the loop must not block */
	struct kl_timer timer; /* on ctx->clock */
	int refs; /* see the top of the file */
	kl_done_cb done;
	void *done_arg;
};

/* ---------------------------------------------------------------- dirty set */

/* nothing to do: the idle handle only keeps the loop from blocking (see mark) */
static void on_idle(uv_idle_t *h)
{
	(void)h;
}

static size_t slot_of(const struct kl_watcher *w, const char *ns)
{
	return ((uintptr_t)ns >> 4) * 0x9e3779b97f4a7c15ULL % w->setcap;
}

static bool set_has(const struct kl_watcher *w, const char *ns)
{
	size_t i;

	if (!w->setcap)
		return false;
	for (i = slot_of(w, ns); w->set[i]; i = (i + 1) % w->setcap)
		if (w->set[i] == ns)
			return true;
	return false;
}

static int set_grow(struct kl_watcher *w)
{
	size_t cap = w->setcap ? w->setcap * 2 : 64, i, j;
	const char **old = w->set, **set = calloc(cap, sizeof(*set));
	size_t oldcap = w->setcap;

	if (!set)
		return -ENOMEM;
	w->set = set;
	w->setcap = cap;
	for (i = 0; i < oldcap; i++) {
		if (!old[i])
			continue;
		for (j = slot_of(w, old[i]); set[j]; j = (j + 1) % cap)
			;
		set[j] = old[i];
	}
	free(old);
	return 0;
}

static void mark(struct kl_watcher *w, const char *ns)
{
	size_t i;

	if (set_has(w, ns))
		return;
	if (w->ndirty + 1 > w->setcap / 2 && set_grow(w) < 0)
		return;
	if (w->ndirty == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		const char **d = realloc(w->dirty, cap * sizeof(*d));

		if (!d)
			return;
		w->dirty = d;
		w->cap = cap;
	}
	for (i = slot_of(w, ns); w->set[i]; i = (i + 1) % w->setcap)
		;
	w->set[i] = ns;
	w->dirty[w->ndirty++] = kl_intern_ref(w->intern, ns);
	/* a change applied from a timer (libcurl's) must not wait for the next I/O:
	 * an active idle handle makes the loop poll without blocking, so the check
	 * handle runs in this turn */
	if (w->started && !w->stopping)
		uv_idle_start(&w->idle, on_idle);
}

static void run_dirty(struct kl_watcher *w)
{
	int64_t now = kl_watcher_now_ms(w);
	size_t i, n = w->ndirty;

	if (!n || !w->started)
		return;
	/* evaluations may mark more namespaces: those go to the next turn */
	memset(w->set, 0, w->setcap * sizeof(*w->set));
	w->ndirty = 0;
	{
		const char **batch = malloc(n * sizeof(*batch));

		if (!batch) {
			for (i = 0; i < n; i++)
				kl_intern_put(w->intern, w->dirty[i]);
			return;
		}
		memcpy(batch, w->dirty, n * sizeof(*batch));
		for (i = 0; i < n; i++) {
			w->hooks.eval(w->state, batch[i], now);
			kl_intern_put(w->intern, batch[i]);
		}
		free(batch);
	}
}

static void on_check(uv_check_t *c)
{
	struct kl_watcher *w = c->data;

	run_dirty(w);
	if (!w->ndirty)
		uv_idle_stop(&w->idle);
}

/* ---------------------------------------------------------------- handlers */

static void pod_add(void *arg, const void *obj)
{
	mark(arg, ((const struct kl_meta *)obj)->ns);
}

/* An update that changed nothing the cache keeps (most often an annotation or label
 * written by some controller) cannot change a verdict: no evaluation. */
static void pod_update(void *arg, const void *old, const void *obj)
{
	if (!kl_pod_same(old, obj))
		mark(arg, ((const struct kl_meta *)obj)->ns);
}

static void pod_del(void *arg, const void *obj, bool unknown)
{
	mark(arg, ((const struct kl_meta *)obj)->ns);
}

/* ---------------------------------------------------------------- wake-ups */

static void on_wake(struct kl_timer *t);

/* one timer for the earliest wake-up */
static void arm(struct kl_watcher *w)
{
	struct wake *k;
	int64_t first = 0, now = kl_watcher_now_ms(w);

	for (k = w->wakes; k; k = k->next)
		if (!first || k->at < first)
			first = k->at;
	kl_timer_stop(&w->timer);
	if (first)
		kl_timer_start(&w->timer, on_wake, first > now ? (uint64_t)(first - now) : 0, 0);
}

static void on_wake(struct kl_timer *t)
{
	struct kl_watcher *w = container_of(t, struct kl_watcher, timer);
	struct wake **pp = &w->wakes, *k;
	int64_t now = kl_watcher_now_ms(w);

	while ((k = *pp)) {
		if (k->at <= now) {
			*pp = k->next;
			mark(w, k->ns);
			kl_intern_put(w->intern, k->ns);
			free(k);
			continue;
		}
		pp = &k->next;
	}
	arm(w);
}

void kl_watcher_wake_at(struct kl_watcher *w, const char *ns, int64_t at_ms)
{
	const char *in = kl_intern_find(w->intern, ns, (size_t)-1);
	struct wake *k;

	if (!in || w->stopping)
		return;
	for (k = w->wakes; k; k = k->next) {
		if (k->ns == in) {
			if (at_ms < k->at) {
				k->at = at_ms;
				arm(w);
			}
			return;
		}
	}
	k = malloc(sizeof(*k));
	if (!k)
		return;
	k->ns = kl_intern_ref(w->intern, in);
	k->at = at_ms;
	k->next = w->wakes;
	w->wakes = k;
	arm(w);
}

/* ---------------------------------------------------------------- alert engine hooks */

static void prepare(void *arg, struct kl_alert_batch *b)
{
	struct kl_watcher *w = arg;

	w->hooks.prepare(w->state, b);
}

/* The team of ns from the namespace cache (annotation or label), or NULL. */
static const char *team(void *arg, const char *ns)
{
	struct kl_watcher *w = arg;
	const struct kl_namespace *n = kl_store_get(kl_informer_store(w->namespaces), "", ns);

	return n ? n->team : NULL;
}

/* ---------------------------------------------------------------- life */

struct kl_watcher *kl_watcher_new(struct kl_ctx *ctx, const struct kl_alerts_opts *ao,
				  const struct kl_watcher_hooks *hooks, void *state,
				  struct kl_error *err)
{
	struct kl_watcher *w = calloc(1, sizeof(*w));
	struct kl_informer_handler h = { pod_add, pod_update, pod_del, NULL, NULL };
	struct kl_alerts_hooks ah = { hooks->prepare ? prepare : NULL, team };

	if (!w)
		goto out_err;
	w->ctx = ctx;
	w->name = ao->controller;
	w->hooks = *hooks;
	w->state = state;
	w->intern = kl_informers_intern(ctx->informers);
	w->pods = kl_informers_get(ctx->informers, KL_RES_PODS, NULL);
	w->namespaces = kl_informers_get(ctx->informers, KL_RES_NAMESPACES, NULL);
	h.arg = w;
	if (!w->pods || !w->namespaces || kl_informer_add_handler(w->pods, &h) < 0)
		goto out_free;
	w->alerts = kl_alerts_new(ctx, ao, &ah, w);
	if (!w->alerts)
		goto out_handler;
	uv_check_init(ctx->loop, &w->check);
	uv_idle_init(ctx->loop, &w->idle);
	kl_timer_init(ctx->clock, &w->timer);
	w->check.data = w->idle.data = w;
	w->refs = 1;
	return w;

out_handler:
	kl_informer_remove_handler(w->pods, w);
out_free:
	free(w);
out_err:
	kl_error_set(err, NULL, 0, 0, "%s: out of memory", ao->controller);
	return NULL;
}

static void mark_meta(void *arg, const void *obj)
{
	struct kl_watcher *w = arg;
	const struct kl_meta *m = obj;

	/* a namespace object's own name is its namespace */
	mark(w, m->ns[0] ? m->ns : kl_intern_find(w->intern, kl_meta_name(m), (size_t)-1));
}

int kl_watcher_start(void *base)
{
	struct kl_watcher *w = base;

	kl_alerts_start(w->alerts);
	w->started = true;
	kl_store_foreach(kl_informer_store(w->namespaces), mark_meta, w);
	kl_store_foreach(kl_informer_store(w->pods), mark_meta, w);
	run_dirty(w);
	uv_check_start(&w->check, on_check);
	kl_alerts_synced(w->alerts);
	w->hooks.started(w->state);
	return 0;
}

const struct kl_store *kl_watcher_pods(const struct kl_watcher *w)
{
	return kl_informer_store(w->pods);
}

struct kl_alerts *kl_watcher_alerts(const struct kl_watcher *w)
{
	return w->alerts;
}

int64_t kl_watcher_now_ms(const struct kl_watcher *w)
{
	return kl_clock_wall_ms(w->ctx->clock);
}

bool kl_watcher_stopping(const struct kl_watcher *w)
{
	return w->stopping;
}

void kl_watcher_hold(struct kl_watcher *w)
{
	w->refs++;
}

void kl_watcher_release(struct kl_watcher *w)
{
	kl_done_cb done = w->done;
	void *arg = w->done_arg;
	struct wake *k, *next;
	size_t i;

	if (--w->refs > 0)
		return;
	assert(w->stopping); /* the base's own reference goes only in kl_watcher_stop */
	for (i = 0; i < w->ndirty; i++)
		kl_intern_put(w->intern, w->dirty[i]);
	for (k = w->wakes; k; k = next) {
		next = k->next;
		kl_intern_put(w->intern, k->ns);
		free(k);
	}
	if (w->started)
		kl_log_info(w->ctx->log, w->name, "controller stopped");
	free(w->dirty);
	free(w->set);
	free(w->state);
	free(w);
	done(arg);
}

static void closed(uv_handle_t *h)
{
	kl_watcher_release(h->data);
}

static void timer_closed(struct kl_timer *t)
{
	kl_watcher_release(container_of(t, struct kl_watcher, timer));
}

static void part_stopped(void *arg)
{
	kl_watcher_release(arg);
}

void kl_watcher_stop(void *base, kl_done_cb done, void *arg)
{
	struct kl_watcher *w = base;

	w->stopping = true;
	w->done = done;
	w->done_arg = arg;
	w->refs += 4; /* the three handles and the alert engine */
	if (w->hooks.stop)
		w->hooks.stop(w->state);
	kl_informer_remove_handler(w->pods, w);
	uv_close((uv_handle_t *)&w->idle, closed);
	uv_close((uv_handle_t *)&w->check, closed);
	kl_timer_close(&w->timer, timer_closed);
	kl_alerts_stop(w->alerts, part_stopped, w);
	kl_watcher_release(w);
}
