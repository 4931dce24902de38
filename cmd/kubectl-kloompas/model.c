/*
 * cmd/kubectl-kloompas/model.c - API objects in, struct kl_plugin_status out.
 *
 * The plugin reads what Kloompas writes and nothing else: alert records in the
 * kloompas-state ConfigMap (controllers/alerts.c persist(): a key "CONTROLLER.NAMESPACE"
 * whose value is {"state", "since" in milliseconds, "summary", ...}), the restore
 * annotations the replica-enforcer puts on Deployments, the Lease and the pods. A value
 * of another shape (a newer record kind, silences) is counted and skipped, never an
 * error: the plugin must not fail on a state written by a newer Kloompas.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/kubectl-kloompas/plugin.h"
#include "util/rfc3339.h"

#define ANN_RESTORE "kloompas.io/restore-replicas"
#define ANN_RESTORE_AT "kloompas.io/restore-at"

void kl_plugin_status_init(struct kl_plugin_status *st, const char *ns, int64_t now)
{
	memset(st, 0, sizeof(*st));
	st->namespace_ = strdup(ns);
	st->now = now;
}

void kl_plugin_status_drop(struct kl_plugin_status *st, bool pods)
{
	size_t i;

	if (pods) {
		for (i = 0; i < st->npods; i++) {
			free(st->pods[i].name);
			free(st->pods[i].phase);
		}
		free(st->pods);
		st->pods = NULL;
		st->npods = 0;
		return;
	}
	for (i = 0; i < st->nrestores; i++) {
		free(st->restores[i].namespace_);
		free(st->restores[i].deployment);
		free(st->restores[i].at_text);
	}
	free(st->restores);
	st->restores = NULL;
	st->nrestores = 0;
}

void kl_plugin_status_free(struct kl_plugin_status *st)
{
	size_t i;

	for (i = 0; i < st->nalerts; i++) {
		free(st->alerts[i].controller);
		free(st->alerts[i].namespace_);
		free(st->alerts[i].state);
		free(st->alerts[i].summary);
	}
	kl_plugin_status_drop(st, true);
	kl_plugin_status_drop(st, false);
	free(st->alerts);
	free(st->holder);
	free(st->controllers_arg);
	free(st->namespace_);
	memset(st, 0, sizeof(*st));
}

/* Grows *arr by one element of size sz; returns the new (zeroed) element or NULL. */
static void *push(void **arr, size_t *n, size_t sz)
{
	char *p = realloc(*arr, (*n + 1) * sz);

	if (!p)
		return NULL;
	*arr = p;
	memset(p + *n * sz, 0, sz);
	return p + (*n)++ * sz;
}

static int64_t time_of(const struct kl_json *v)
{
	int64_t t = 0;

	if (kl_rfc3339_parse(kl_json_str(v, NULL), &t) < 0)
		return 0;
	return t;
}

int kl_plugin_status_add_lease(struct kl_plugin_status *st, const struct kl_json *lease)
{
	const struct kl_json *spec = kl_json_get(lease, "spec");
	const char *holder = kl_json_str(kl_json_get(spec, "holderIdentity"), "");
	int64_t d = 0;

	st->have_lease = true;
	free(st->holder);
	st->holder = NULL;
	if (*holder && !(st->holder = strdup(holder)))
		return -ENOMEM;
	st->renew_time = time_of(kl_json_get(spec, "renewTime"));
	st->acquire_time = time_of(kl_json_get(spec, "acquireTime"));
	kl_json_int(kl_json_get(spec, "leaseDurationSeconds"), &d);
	st->lease_duration_s = d;
	return 0;
}

/* ---------------------------------------------------------------- alert records */

struct record {
	const char *state, *summary;
	int64_t since_ms;
	char *state_copy, *summary_copy;
};

static int on_record(void *arg, enum kl_json_what what, const struct kl_json *o)
{
	struct record *r = arg;
	const struct kl_json *state = kl_json_get(o, "state");

	if (!state || state->type != KL_JSON_STRING ||
	    kl_json_int(kl_json_get(o, "since"), &r->since_ms) < 0 || r->since_ms <= 0)
		return 0; /* not an alert record */
	r->state_copy = strdup(state->str);
	r->summary_copy = strdup(kl_json_str(kl_json_get(o, "summary"), ""));
	return r->state_copy && r->summary_copy ? 0 : -ENOMEM;
}

/* 1: an alert record, 0: something else, -ENOMEM. */
static int record_parse(const char *value, struct record *r)
{
	struct kl_json_stream *js = kl_json_stream_new(KL_JSON_DOCUMENT, 65536, on_record, r);
	struct kl_error err;
	int rc;

	if (!js)
		return -ENOMEM;
	kl_error_clear(&err);
	rc = kl_json_stream_feed(js, value, strlen(value), &err);
	if (rc == 0)
		rc = kl_json_stream_finish(js, &err);
	kl_json_stream_free(js);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0 || !r->state_copy) {
		free(r->state_copy);
		free(r->summary_copy);
		return 0;
	}
	return 1;
}

static int alert_cmp(const struct kl_plugin_alert *a, const char *ns, const char *ctl)
{
	int c = strcmp(a->namespace_, ns);

	return c ? c : strcmp(a->controller, ctl);
}

/* Inserts in (namespace, controller) order; takes ownership of r's copies. */
static int alert_insert(struct kl_plugin_status *st, const char *key, size_t dot, struct record *r)
{
	struct kl_plugin_alert *al, tmp;
	size_t i;

	memset(&tmp, 0, sizeof(tmp));
	tmp.controller = strndup(key, dot);
	tmp.namespace_ = strdup(key + dot + 1);
	tmp.state = r->state_copy;
	tmp.summary = r->summary_copy;
	tmp.since = r->since_ms / 1000;
	al = tmp.controller && tmp.namespace_
		 ? push((void **)&st->alerts, &st->nalerts, sizeof(*al))
		 : NULL;
	if (!al) {
		free(tmp.controller);
		free(tmp.namespace_);
		free(tmp.state);
		free(tmp.summary);
		return -ENOMEM;
	}
	for (i = st->nalerts - 1;
	     i > 0 && alert_cmp(&st->alerts[i - 1], tmp.namespace_, tmp.controller) > 0; i--)
		st->alerts[i] = st->alerts[i - 1];
	st->alerts[i] = tmp;
	return 0;
}

int kl_plugin_status_add_state(struct kl_plugin_status *st, const struct kl_json *configmap,
			       const char *alerts_ns)
{
	const struct kl_json *data = kl_json_get(configmap, "data"), *e;
	int rc;

	for (e = data && data->type == KL_JSON_OBJECT ? data->child : NULL; e; e = e->next) {
		const char *dot = strchr(e->key, '.');
		struct record r;

		memset(&r, 0, sizeof(r));
		if (!dot || dot == e->key || !dot[1] || e->type != KL_JSON_STRING) {
			st->skipped_records++;
			continue;
		}
		if (alerts_ns && strcmp(dot + 1, alerts_ns) != 0)
			continue;
		rc = record_parse(e->str, &r);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			st->skipped_records++;
			continue;
		}
		rc = alert_insert(st, e->key, (size_t)(dot - e->key), &r);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---------------------------------------------------------------- Deployments, pods */

int kl_plugin_status_add_deployment(struct kl_plugin_status *st, const struct kl_json *deploy)
{
	const struct kl_json *md = kl_json_get(deploy, "metadata");
	const struct kl_json *ann = kl_json_get(md, "annotations");
	const char *to = kl_json_str(kl_json_get(ann, ANN_RESTORE), NULL);
	const char *at = kl_json_str(kl_json_get(ann, ANN_RESTORE_AT), NULL);
	struct kl_plugin_restore *r;
	char *end;
	long n;

	if (!to || !at)
		return 0;
	n = strtol(to, &end, 10);
	if (!*to || *end || n < 0)
		return 0; /* the replica-enforcer ignores it too */
	r = push((void **)&st->restores, &st->nrestores, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->namespace_ = strdup(kl_json_str(kl_json_get(md, "namespace"), ""));
	r->deployment = strdup(kl_json_str(kl_json_get(md, "name"), ""));
	r->at_text = strdup(at);
	r->replicas = n;
	r->current = -1;
	kl_json_int(kl_json_path(deploy, "spec", "replicas", NULL), &r->current);
	r->at = time_of(kl_json_get(ann, ANN_RESTORE_AT));
	return r->namespace_ && r->deployment && r->at_text ? 0 : -ENOMEM;
}

static int restore_cmp(const void *pa, const void *pb)
{
	const struct kl_plugin_restore *a = pa, *b = pb;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	if (strcmp(a->namespace_, b->namespace_))
		return strcmp(a->namespace_, b->namespace_);
	return strcmp(a->deployment, b->deployment);
}

void kl_plugin_status_sort(struct kl_plugin_status *st)
{
	if (st->nrestores > 1)
		qsort(st->restores, st->nrestores, sizeof(*st->restores), restore_cmp);
}

/* "--controllers=LIST" or "--controllers LIST" among the args; "*" (the default) if none */
static const char *controllers_of(const struct kl_json *args)
{
	const struct kl_json *a;

	for (a = args && args->type == KL_JSON_ARRAY ? args->child : NULL; a; a = a->next) {
		const char *s = kl_json_str(a, "");

		if (strncmp(s, "--controllers=", 14) == 0)
			return s + 14;
		if (strcmp(s, "--controllers") == 0 && a->next)
			return kl_json_str(a->next, "*");
	}
	return "*";
}

int kl_plugin_status_add_kloompas(struct kl_plugin_status *st, const struct kl_json *deploy)
{
	const struct kl_json *c =
	    kl_json_path(deploy, "spec", "template", "spec", "containers", NULL);
	const struct kl_json *first = c && c->type == KL_JSON_ARRAY ? c->child : NULL;

	st->have_deployment = true;
	free(st->controllers_arg);
	st->controllers_arg = strdup(controllers_of(kl_json_get(first, "args")));
	return st->controllers_arg ? 0 : -ENOMEM;
}

static bool pod_ready(const struct kl_json *pod)
{
	const struct kl_json *c = kl_json_path(pod, "status", "conditions", NULL);

	for (c = c && c->type == KL_JSON_ARRAY ? c->child : NULL; c; c = c->next)
		if (strcmp(kl_json_str(kl_json_get(c, "type"), ""), "Ready") == 0)
			return strcmp(kl_json_str(kl_json_get(c, "status"), ""), "True") == 0;
	return false;
}

int kl_plugin_status_add_pod(struct kl_plugin_status *st, const struct kl_json *pod)
{
	struct kl_plugin_pod *p = push((void **)&st->pods, &st->npods, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->name = strdup(kl_json_str(kl_json_path(pod, "metadata", "name", NULL), ""));
	p->phase = strdup(kl_json_str(kl_json_path(pod, "status", "phase", NULL), "Unknown"));
	p->ready = pod_ready(pod);
	return p->name && p->phase ? 0 : -ENOMEM;
}

/* ---------------------------------------------------------------- ages */

/* k8s.io/apimachinery/pkg/util/duration.HumanDuration, which kubectl's AGE column uses */
const char *kl_plugin_age(int64_t s, char *buf, size_t len)
{
	int64_t m = s / 60, h = s / 3600, d = s / 86400, y = d / 365;

	if (s < -1)
		snprintf(buf, len, "<invalid>");
	else if (s < 0)
		snprintf(buf, len, "0s");
	else if (s < 120)
		snprintf(buf, len, "%llds", (long long)s);
	else if (m < 10 && s % 60)
		snprintf(buf, len, "%lldm%llds", (long long)m, (long long)(s % 60));
	else if (m < 180)
		snprintf(buf, len, "%lldm", (long long)m);
	else if (h < 8 && m % 60)
		snprintf(buf, len, "%lldh%lldm", (long long)h, (long long)(m % 60));
	else if (h < 48)
		snprintf(buf, len, "%lldh", (long long)h);
	else if (h < 24 * 8 && h % 24)
		snprintf(buf, len, "%lldd%lldh", (long long)d, (long long)(h % 24));
	else if (h < 24 * 365 * 2)
		snprintf(buf, len, "%lldd", (long long)d);
	else if (h < 24 * 365 * 8 && d % 365)
		snprintf(buf, len, "%lldy%lldd", (long long)y, (long long)(d % 365));
	else
		snprintf(buf, len, "%lldy", (long long)y);
	return buf;
}
