/*
 * notify/notify.c - the notifier set: its life, its clients, routing and the window.
 *
 * One set per process (see notify.h). The set is data plus the rows of
 * notify/types.c: building the notifiers, checking their config, and routing
 * never name a type. A flush either goes to kl__flush (plan.c) at once or, with a
 * window, is copied into the pending flush that every client's sends join until
 * the window ends - so two watchers' notices due together share one message per
 * notifier, while every message still knows each notice's client.
 *
 * The built-in notifier "log" exists unless the config names one "log" itself;
 * then that one takes the unrouted namespaces.
 *
 * Secrets: notifier URLs are only handed to kl_http, whose own client is created
 * without a log (its debug lines name URL paths, and a Slack webhook's path is the
 * secret).
 */
#include "notify/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_QUEUE_MAX 1000
#define DEFAULT_RETRY_INITIAL_MS 1000
#define DEFAULT_RETRY_MAX_MS (5 * 60 * 1000)
#define DEFAULT_GIVE_UP_MS (60 * 60 * 1000)
#define DEFAULT_AM_RESEND_MS (60 * 1000)
#define DEFAULT_TIMEOUT_MS 10000
#define LOG_NOTIFIER "log"

/* --------------------------------------------------------------- config */

/* "slack, webhook, alertmanager or log", from the table. */
static void type_names(char *buf, size_t len)
{
	const struct kl__notifier_type *t;
	const char *sep;
	size_t k = 0;

	buf[0] = '\0';
	for (t = kl__notifier_types; t->name && k < len; t++) {
		sep = t == kl__notifier_types ? "" : t[1].name ? ", " : " or ";
		k += (size_t)snprintf(buf + k, len - k, "%s%s", sep, t->name);
	}
}

/* A URL of one of schemes (NULL: http, https). Only the shape is checked; never printed. */
static bool url_ok(const char *u, const char *const *schemes)
{
	static const char *const http[] = {"http", "https", NULL};
	const char *rest = NULL;
	size_t k;

	for (schemes = schemes ? schemes : http; *schemes && !rest; schemes++) {
		k = strlen(*schemes);
		if (!strncasecmp(u, *schemes, k) && !strncmp(u + k, "://", 3))
			rest = u + k + 3;
	}
	if (!rest || !*rest || *rest == '/')
		return false;
	for (; *u; u++)
		if ((unsigned char)*u <= ' ' || *u == 0x7f)
			return false;
	return true;
}

/* "an http:// or https://" for the schemes (NULL: http, https); all of ours take "an". */
static void scheme_names(char *buf, size_t len, const char *const *schemes)
{
	static const char *const http[] = {"http", "https", NULL};
	size_t i, k = 0;

	schemes = schemes ? schemes : http;
	buf[0] = '\0';
	for (i = 0; schemes[i] && k < len; i++)
		k += (size_t)snprintf(buf + k, len - k, "%s%s://",
				      i ? schemes[i + 1] ? ", " : " or " : "an ", schemes[i]);
}

/* The line of the entry's key, or of the entry when it is absent (or no node). */
static int key_line(const struct kl_notifier_conf *nc, const char *key)
{
	const struct kl_conf_node *k = nc->node ? kl_conf_get(nc->node, key) : NULL;

	return k ? k->key_line : nc->line;
}

static int check_one(const struct kl_config *c, const struct kl_notifier_conf *nc, size_t i,
		     struct kl_error *err)
{
	const struct kl__notifier_type *t = kl__notifier_type_find(nc->type_name);
	const char *key;
	char names[128];

	type_names(names, sizeof(names));
	if (!nc->type_name) {
		kl_error_set(err, c->path, nc->line, 0, "notifiers[%zu]: type is required (%s)", i,
			     names);
		return -EINVAL;
	}
	if (!t) {
		kl_error_set(err, c->path, key_line(nc, "type"), 0,
			     "notifiers[%zu].type: unknown notifier type \"%s\" (want %s)", i,
			     nc->type_name, names);
		return -EINVAL;
	}
	if (!nc->url) {
		if (!t->needs_url || t->default_url)
			return 0;
		kl_error_set(err, c->path, nc->line, 0,
			     "notifiers[%zu]: url or url_file is required for type %s", i,
			     nc->type_name);
		return -EINVAL;
	}
	if (url_ok(nc->url, t->schemes))
		return 0;
	key = nc->node && kl_conf_get(nc->node, "url") ? "url" : "url_file";
	scheme_names(names, sizeof(names), t->schemes);
	kl_error_set(err, c->path, key_line(nc, key), 0, "notifiers[%zu].%s: must be %s URL", i,
		     key, names);
	return -EINVAL;
}

/*
 * Binds the type's own keys of entry nc (the keys config/ did not bind) into a new
 * conf in the config's arena; unknown keys are refused as config/ refuses them.
 */
static int bind_type_keys(struct kl_config *c, struct kl_notifier_conf *nc, size_t i,
			  struct kl_error *err)
{
	static const struct kl_conf_key none[] = {{NULL, 0, 0, NULL, 0, NULL}};
	const struct kl__notifier_type *t = kl__notifier_type_find(nc->type_name);
	struct kl_conf_node *own;
	char prefix[32];
	void *conf = NULL;
	size_t k;
	int rc;

	snprintf(prefix, sizeof(prefix), "notifiers[%zu]", i);
	if (t->conf_size) {
		conf = kl_arena_alloc(&c->arena, t->conf_size);
		if (!conf)
			return -ENOMEM;
		memset(conf, 0, t->conf_size);
		if (t->conf_defaults)
			t->conf_defaults(conf);
	}
	if (nc->node && nc->node->kind == KL_CONF_MAP) {
		own = kl_arena_alloc(&c->arena, sizeof(*own));
		if (!own)
			return -ENOMEM;
		*own = *nc->node;
		own->nkids = 0;
		own->kids = nc->node->nkids
				? kl_arena_alloc(&c->arena, nc->node->nkids * sizeof(*own->kids))
				: NULL;
		if (nc->node->nkids && !own->kids)
			return -ENOMEM;
		for (k = 0; k < nc->node->nkids; k++)
			if (!kl_config_notifier_key(nc->node->kids[k].key))
				own->kids[own->nkids++] = nc->node->kids[k];
		rc = kl_conf_bind(&c->arena, c->path, own, t->conf_keys ? t->conf_keys : none,
				  conf ? conf : (void *)none, prefix, err);
		if (rc)
			return rc;
	}
	if (t->conf_check) {
		rc = t->conf_check(nc, conf, c->path, prefix, err);
		if (rc)
			return rc;
	}
	nc->conf = conf;
	return 0;
}

int kl_notifiers_configure(struct kl_config *config, struct kl_error *err)
{
	struct kl_notifier_conf *nc = config->notifiers.items;
	size_t i;
	int rc;

	for (i = 0; i < config->notifiers.n; i++) {
		rc = check_one(config, &nc[i], i, err);
		if (!rc)
			rc = bind_type_keys(config, &nc[i], i, err);
		if (rc == -ENOMEM)
			kl_error_set(err, config->path, 0, 0, "out of memory");
		if (rc)
			return rc;
	}
	return 0;
}

/* --------------------------------------------------------------- clients */

struct kl_notify_client *kl_notify_attach(struct kl_notify *n, kl_notify_done_cb done_cb, void *arg)
{
	struct kl_notify_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->n = n;
	c->done_cb = done_cb;
	c->arg = arg;
	kl_list_add_tail(&n->clients, &c->link);
	return c;
}

void kl_notify_detach(struct kl_notify_client *c)
{
	/* messages and the pending flush may still name c: it lives until the set */
	c->done_cb = NULL;
	c->arg = NULL;
}

/* ------------------------------------------------------------------ send */

static size_t count_targets(const struct kl_notify *n, const struct kl_notice *x)
{
	const size_t *idx;
	size_t j, k, total = 0;

	k = kl__targets(n, x->ns, &idx);
	for (j = 0; j < k; j++)
		if (kl__wanted(x, n->nv[idx[j]].name))
			total++;
	return total;
}

static const char *copy_str(struct kl_arena *a, const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = kl_arena_strdup(a, s);
	if (!d)
		*oom = true;
	return d;
}

/* A deep copy of x in a; NULL on ENOMEM. */
static const struct kl_notice *copy_notice(struct kl_arena *a, const struct kl_notice *x)
{
	struct kl_notice *c = kl_arena_alloc(a, sizeof(*c));
	struct kl_notice_pod *pods = NULL;
	const char **only = NULL;
	bool oom = false;
	size_t i;

	if (!c)
		return NULL;
	*c = *x;
	if (x->npods && !(pods = kl_arena_alloc(a, x->npods * sizeof(*pods))))
		return NULL;
	if (x->only && !(only = kl_arena_alloc(a, (x->nonly ? x->nonly : 1) * sizeof(*only))))
		return NULL;
	c->controller = copy_str(a, x->controller, &oom);
	c->title = copy_str(a, x->title, &oom);
	c->alertname = copy_str(a, x->alertname, &oom);
	c->ns = copy_str(a, x->ns, &oom);
	c->team = copy_str(a, x->team, &oom);
	c->summary = copy_str(a, x->summary, &oom);
	for (i = 0; i < x->npods; i++) {
		pods[i] = x->pods[i];
		pods[i].pod = copy_str(a, x->pods[i].pod, &oom);
		pods[i].container = copy_str(a, x->pods[i].container, &oom);
		pods[i].reason = copy_str(a, x->pods[i].reason, &oom);
		pods[i].last_reason = copy_str(a, x->pods[i].last_reason, &oom);
		pods[i].log = copy_str(a, x->pods[i].log, &oom);
		pods[i].log_error = copy_str(a, x->pods[i].log_error, &oom);
	}
	for (i = 0; x->only && i < x->nonly; i++)
		only[i] = copy_str(a, x->only[i], &oom);
	c->pods = pods;
	c->only = only;
	return oom ? NULL : c;
}

static void pending_reset(struct kl__pending *p)
{
	kl_arena_free(&p->arena);
	free(p->v);
	free(p->who);
	memset(p, 0, sizeof(*p));
	kl_arena_init(&p->arena);
}

static void on_window(uv_timer_t *t)
{
	struct kl_notify *n = container_of(t, struct kl_notify, window);
	int rc;

	rc = kl__flush(n, n->pending.v, n->pending.who, n->pending.cnt);
	if (rc) {
		/* nothing was started: the same flush is tried again */
		kl_log_error(n->log, KL__COMPONENT, "cannot build notifications", "error",
			     strerror(-rc));
		uv_timer_start(&n->window, on_window, n->o.retry_initial_ms, 0);
		return;
	}
	pending_reset(&n->pending);
}

/* Joins the pending flush (copies); starts the window at the first. All or nothing. */
static int join_window(struct kl_notify_client *c, const struct kl_notice *notices, size_t count)
{
	struct kl_notify *n = c->n;
	struct kl__pending *p = &n->pending;
	size_t i, old = p->cnt, cap;
	void *nv, *nw;

	if (p->cnt + count > p->cap) {
		cap = p->cap ? p->cap * 2 : 16;
		while (cap < p->cnt + count)
			cap *= 2;
		nv = realloc(p->v, cap * sizeof(*p->v));
		if (nv)
			p->v = nv;
		nw = nv ? realloc(p->who, cap * sizeof(*p->who)) : NULL;
		if (!nw)
			return -ENOMEM;
		p->who = nw;
		p->cap = cap;
	}
	for (i = 0; i < count; i++) {
		p->v[p->cnt] = copy_notice(&p->arena, &notices[i]);
		if (!p->v[p->cnt]) {
			p->cnt = old; /* the copies made stay in the arena until the flush */
			return -ENOMEM;
		}
		p->who[p->cnt++] = c;
	}
	if (!uv_is_active((uv_handle_t *)&n->window))
		uv_timer_start(&n->window, on_window, n->o.window_ms, 0);
	return 0;
}

/* Builds at once: the caller's notices are borrowed for the call. */
static int flush_now(struct kl_notify_client *c, const struct kl_notice *notices, size_t count)
{
	const struct kl_notice **v = calloc(count, sizeof(*v));
	struct kl_notify_client **who = calloc(count, sizeof(*who));
	size_t i;
	int rc = -ENOMEM;

	if (v && who) {
		for (i = 0; i < count; i++) {
			v[i] = &notices[i];
			who[i] = c;
		}
		rc = kl__flush(c->n, v, who, count);
	}
	free(v);
	free(who);
	return rc;
}

int kl_notify_send(struct kl_notify_client *c, const struct kl_notice *notices, size_t count)
{
	struct kl_notify *n = c->n;
	size_t i, total = 0;
	int rc;

	if (n->closing)
		return -ESHUTDOWN;
	for (i = 0; i < count; i++)
		if (!notices[i].ns || !notices[i].controller || !notices[i].alertname ||
		    !notices[i].summary || (notices[i].npods && !notices[i].pods))
			return -EINVAL;
	if (!count)
		return 0;
	for (i = 0; i < count; i++)
		total += count_targets(n, &notices[i]);
	rc = n->o.window_ms ? join_window(c, notices, count) : flush_now(c, notices, count);
	return rc ? rc : (int)total;
}

size_t kl_notify_route(const struct kl_notify *n, const char *ns, const char **names, size_t max)
{
	const size_t *idx;
	size_t k, i;

	k = kl__targets(n, ns, &idx);
	for (i = 0; i < k && i < max; i++)
		names[i] = n->nv[idx[i]].name;
	return i;
}

void kl_notify_restore(struct kl_notify *n, const struct kl_notice *x)
{
	const size_t *idx;
	struct kl__notifier *nt;
	size_t k, j;

	if (n->closing || n->o.dry_run || x->resolved)
		return;
	k = kl__targets(n, x->ns, &idx);
	for (j = 0; j < k; j++) {
		nt = &n->nv[idx[j]];
		if (nt->type->restore && kl__wanted(x, nt->name))
			nt->type->restore(nt, x);
	}
}

/* ------------------------------------------------------------ lifecycle */

/* Frees what kl_notify_new made; the handles are closed already (or never started). */
static void free_all(struct kl_notify *n)
{
	struct kl_notify_client *c;
	size_t i;

	kl__queues_free(n);
	pending_reset(&n->pending);
	kl_arena_free(&n->pending.arena);
	for (i = 0; i < n->nn; i++) {
		if (n->nv[i].type && n->nv[i].type->free && n->nv[i].priv)
			n->nv[i].type->free(&n->nv[i]);
		free(n->nv[i].url);
	}
	while (!kl_list_empty(&n->clients)) {
		c = container_of(n->clients.next, struct kl_notify_client, link);
		kl_list_del(&c->link);
		free(c);
	}
	for (i = 0; i < n->nroutes && n->routes; i++)
		free(n->routes[i].idx);
	free(n->routes);
	free(n->nv);
	free(n);
}

static void closed_one(struct kl_notify *n)
{
	void (*cb)(void *arg) = n->close_cb;
	void *arg = n->close_arg;

	if (--n->pending_closes)
		return;
	free_all(n);
	if (cb)
		cb(arg);
}

static void on_handle_closed(uv_handle_t *h)
{
	closed_one(h->data);
}

static void on_http_closed(void *arg)
{
	closed_one(arg);
}

static void close_handle(struct kl_notify *n, uv_timer_t *t)
{
	n->pending_closes++;
	uv_close((uv_handle_t *)t, on_handle_closed);
}

void kl_notify_close(struct kl_notify *n, void (*cb)(void *arg), void *arg)
{
	struct kl__notifier *nt;
	size_t i;

	if (n->closing)
		return;
	n->closing = true;
	n->close_cb = cb;
	n->close_arg = arg;
	n->pending_closes = 1; /* held until every close below is under way */
	close_handle(n, &n->report);
	close_handle(n, &n->window);
	for (i = 0; i < n->nn; i++) {
		nt = &n->nv[i];
		if (!nt->has_timers)
			continue;
		close_handle(n, &nt->retry);
		close_handle(n, &nt->timer);
	}
	/* requests in flight end with -ECANCELED, which on_http_done ignores */
	if (n->http) {
		n->pending_closes++;
		kl_http_close(n->http, on_http_closed, n);
	}
	closed_one(n);
}

/* nt->url: the configured one, with the type's path when it has one. */
static int make_url(struct kl__notifier *nt, const char *url)
{
	const char *path = nt->type->url_path;
	size_t len = strlen(url);

	if (!path) {
		nt->url = strdup(url);
		return nt->url ? 0 : -ENOMEM;
	}
	while (len && url[len - 1] == '/')
		len--;
	nt->url = malloc(len + strlen(path) + 1);
	if (!nt->url)
		return -ENOMEM;
	memcpy(nt->url, url, len);
	strcpy(nt->url + len, path);
	return 0;
}

static long find_notifier(const struct kl_notify *n, const char *name)
{
	size_t i;

	for (i = 0; i < n->nn; i++)
		if (!strcmp(n->nv[i].name, name))
			return (long)i;
	return -1;
}

/* Resolves every route's notifier names to indices, without duplicates. */
static int make_routes(struct kl_notify *n)
{
	const struct kl_route_conf *rc = n->config->routes.items;
	struct kl__route *r;
	size_t i, j, k;
	long x;

	n->nroutes = n->config->routes.n;
	if (!n->nroutes)
		return 0;
	n->routes = calloc(n->nroutes, sizeof(*n->routes));
	if (!n->routes)
		return -ENOMEM;
	for (i = 0; i < n->nroutes; i++) {
		r = &n->routes[i];
		r->idx = calloc(rc[i].notifiers.n ? rc[i].notifiers.n : 1, sizeof(*r->idx));
		if (!r->idx)
			return -ENOMEM;
		for (j = 0; j < rc[i].notifiers.n; j++) {
			x = find_notifier(n, rc[i].notifiers.v[j]);
			/* config/ checks the names; a route left with none goes to the log */
			if (x < 0)
				continue;
			for (k = 0; k < r->n && r->idx[k] != (size_t)x; k++)
				;
			if (k == r->n)
				r->idx[r->n++] = (size_t)x;
		}
	}
	return 0;
}

static void register_metrics(struct kl_notify *n, struct kl_metrics *metrics)
{
	static const char *const total_labels[] = {"notifier", "result", NULL};
	static const char *const queue_labels[] = {"notifier", NULL};
	static const char *const results[] = {"success", "failure", "dropped"};
	const char *v[2];
	size_t i, r;

	if (!metrics)
		return;
	n->m_total =
	    kl_metrics_counter(metrics, "kloompas_notifications_total",
			       "Notification messages by notifier and result.", total_labels);
	if (!n->m_total)
		n->m_total = kl_metrics_find(metrics, "kloompas_notifications_total");
	n->m_queue = kl_metrics_gauge(metrics, "kloompas_notification_queue_length",
				      "Messages queued or in flight per notifier.", queue_labels);
	if (!n->m_queue)
		n->m_queue = kl_metrics_find(metrics, "kloompas_notification_queue_length");
	/* every series exists from the start, at 0 */
	for (i = 0; i < n->nn; i++) {
		v[0] = n->nv[i].name;
		for (r = 0; r < 3 && n->m_total; r++) {
			v[1] = results[r];
			kl_metric_add(n->m_total, v, 0);
		}
		if (n->m_queue)
			kl_metric_set(n->m_queue, v, 0);
	}
}

static void apply_defaults(struct kl_notify_opts *o)
{
	if (!o->queue_max)
		o->queue_max = DEFAULT_QUEUE_MAX;
	if (!o->retry_initial_ms)
		o->retry_initial_ms = DEFAULT_RETRY_INITIAL_MS;
	if (!o->retry_max_ms)
		o->retry_max_ms = DEFAULT_RETRY_MAX_MS;
	if (o->retry_max_ms < o->retry_initial_ms)
		o->retry_max_ms = o->retry_initial_ms;
	if (!o->give_up_ms)
		o->give_up_ms = DEFAULT_GIVE_UP_MS;
	if (!o->am_resend_ms)
		o->am_resend_ms = DEFAULT_AM_RESEND_MS;
	if (!o->timeout_ms)
		o->timeout_ms = DEFAULT_TIMEOUT_MS;
}

static int add_notifier(struct kl_notify *n, const char *name, const char *type_name,
			const char *url, const void *conf)
{
	struct kl__notifier *nt = &n->nv[n->nn];

	nt->n = n;
	nt->name = name;
	nt->type = kl__notifier_type_find(type_name);
	nt->conf = conf;
	kl_list_init(&nt->queue);
	if (!nt->type || (nt->type->conf_size && !conf))
		return -EINVAL; /* kl_notifiers_configure was not called */
	n->nn++;
	if (!url)
		url = nt->type->default_url;
	if (nt->type->init && nt->type->init(nt))
		return -ENOMEM;
	if (nt->type->deliver)
		return 0;
	if (!url)
		return -EINVAL;
	return make_url(nt, url);
}

/*
 * The notifiers: the configured ones, then the built-in "log" unless one is
 * configured under that name (then unrouted namespaces go to that one).
 */
static int make_notifiers(struct kl_notify *n)
{
	const struct kl_notifier_conf *nc = n->config->notifiers.items;
	size_t cnt = n->config->notifiers.n, i;
	long li;
	int rc;

	n->nv = calloc(cnt + 1, sizeof(*n->nv));
	if (!n->nv)
		return -ENOMEM;
	for (i = 0; i < cnt; i++) {
		rc = add_notifier(n, nc[i].name, nc[i].type_name, nc[i].url, nc[i].conf);
		if (rc)
			return rc;
	}
	li = find_notifier(n, LOG_NOTIFIER);
	if (li < 0) {
		rc = add_notifier(n, LOG_NOTIFIER, "log", NULL, NULL);
		if (rc)
			return rc;
		li = (long)n->nn - 1;
	}
	n->log_idx = (size_t)li;
	return 0;
}

static bool need_http(const struct kl_notify *n)
{
	size_t i;

	for (i = 0; i < n->nn && !n->o.dry_run; i++)
		if (!n->nv[i].type->deliver)
			return true;
	return false;
}

struct kl_notify *kl_notify_new(uv_loop_t *loop, const struct kl_config *config,
				const struct kl_notify_opts *o, const struct kl_log *log,
				struct kl_metrics *metrics)
{
	struct kl_notify *n = calloc(1, sizeof(*n));
	struct kl__notifier *nt;
	size_t i;

	if (!n)
		return NULL;
	n->loop = loop;
	n->config = config;
	if (o)
		n->o = *o;
	apply_defaults(&n->o);
	if (!n->o.clock) {
		kl_clock_init(&n->real_clock, loop);
		n->o.clock = &n->real_clock;
	}
	kl_log_init(&n->quiet, KL_LOG_TEXT, 0, NULL);
	n->log = log ? log : &n->quiet;
	n->cluster = n->o.cluster ? n->o.cluster : config->cluster ? config->cluster : "kubernetes";
	kl_list_init(&n->reports);
	kl_list_init(&n->clients);
	kl_arena_init(&n->pending.arena);
	if (make_notifiers(n) || make_routes(n))
		goto out_free;
	if (need_http(n)) {
		/* no log: kl_http's debug lines name URL paths, and those are secret here */
		n->http = kl_http_new(loop, NULL);
		if (!n->http)
			goto out_free;
	}
	register_metrics(n, metrics);
	/* nothing fails from here on: kl_notify_close() undoes the rest */
	uv_timer_init(loop, &n->report);
	uv_timer_init(loop, &n->window);
	n->report.data = n;
	n->window.data = n;
	for (i = 0; i < n->nn; i++) {
		nt = &n->nv[i];
		if (nt->type->deliver)
			continue;
		uv_timer_init(loop, &nt->retry);
		uv_timer_init(loop, &nt->timer);
		nt->retry.data = n;
		nt->timer.data = n;
		nt->has_timers = true;
	}
	return n;

out_free:
	free_all(n);
	return NULL;
}
