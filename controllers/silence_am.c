/*
 * controllers/silence_am.c - a chat silence also made in Alertmanager (issue 15): for
 * each "alertmanager" notifier the namespace routes to and each alert engine the
 * silence covers, POST /api/v2/silences with matchers alertname, cluster and namespace
 * (what Kloompas' alerts carry, docs/alerts.md), from now until the silence's end; the
 * id Alertmanager answers is kept with the silence (and persisted). unsilence (or a
 * replacement) DELETEs /api/v2/silence/ID; at its end Alertmanager expires it itself.
 *
 * No notify/ code is involved: the notifier's URL comes from the config, the route from
 * kl_notify_route, and the requests go through the silences' own HTTP client, so the
 * notification queues are not held up by a silence. Failures are logged, never retried:
 * the chat silence holds regardless (nothing is sent to Alertmanager while it lasts).
 */
#include "controllers/silences_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeclient/json.h"
#include "notify/notify.h"
#include "util/buf.h"
#include "util/rfc3339.h"

#define MAX_ROUTED 32

/* One POST on its way: what to file its answer under. */
struct am_req {
	struct kl_silences *s;
	char ns[64], controller[64], notifier[64];
	bool has_controller;
	int64_t at_ms;
	struct kl_buf body; /* the answer */
};

/* The base URL of notifier name when it is an alertmanager, else NULL. */
static const char *am_url(struct kl_silences *s, const char *name)
{
	const struct kl_notifier_conf *nc = kl_config_notifier(s->ctx->config, name);

	return nc && nc->url && strcmp(nc->type_name, "alertmanager") == 0 ? nc->url : NULL;
}

/* base (trailing slashes dropped) + path into out. */
static void join(struct kl_buf *out, const char *base, const char *path)
{
	size_t n = strlen(base);

	while (n && base[n - 1] == '/')
		n--;
	kl_buf_add(out, base, n);
	kl_buf_puts(out, path);
}

static int on_data(void *arg, int code, const char *buf, size_t len)
{
	struct am_req *r = arg;

	if (r->body.len + len > 4096)
		return -E2BIG;
	kl_buf_add(&r->body, buf, len);
	return 0;
}

static int on_answer(void *arg, enum kl_json_what what, const struct kl_json *v)
{
	struct am_req *r = arg;
	const char *id = kl_json_str(kl_json_get(v, "silenceID"), "");

	if (*id && strlen(id) < 64)
		kl__silences_am_add(r->s, r->ns, r->has_controller ? r->controller : NULL,
				    r->at_ms, r->notifier, id);
	else
		kl_log_warn(r->s->ctx->log, "silences", "alertmanager gave no silenceID",
			    "notifier", r->notifier);
	return 0;
}

static void created(void *arg, int status, int code, int retry_after_s, const char *msg)
{
	struct am_req *r = arg;
	struct kl_json_stream *js;
	struct kl_error err;
	char c[16];

	snprintf(c, sizeof(c), "%d", code);
	if (status < 0 || code != 200) {
		kl_log_warn(r->s->ctx->log, "silences", "cannot create the alertmanager silence",
			    "notifier", r->notifier, "namespace", r->ns, "status", c, "error",
			    status < 0 ? strerror(-status) : "");
	} else if (status == 0) {
		kl_error_clear(&err);
		js = kl_json_stream_new(KL_JSON_DOCUMENT, 8192, on_answer, r);
		if (!js || kl_json_stream_feed(js, r->body.p ? r->body.p : "", r->body.len, &err) < 0 ||
		    kl_json_stream_finish(js, &err) < 0)
			kl_log_warn(r->s->ctx->log, "silences", "unreadable alertmanager answer",
				    "notifier", r->notifier);
		kl_json_stream_free(js);
	}
	kl_buf_free(&r->body);
	free(r);
}

static void matcher(struct kl_buf *b, const char *name, const char *value, bool first)
{
	kl_buf_printf(b, "%s{\"name\":\"%s\",\"value\":", first ? "" : ",", name);
	kl_buf_json_string(b, value);
	kl_buf_puts(b, ",\"isRegex\":false,\"isEqual\":true}");
}

static void post_one(struct kl_silences *s, const struct kl_silence *e, const char *notifier,
		     const char *base, const char *alertname)
{
	static const char *const headers[] = { "Content-Type: application/json", NULL };
	char from[KL_RFC3339_LEN], to[KL_RFC3339_LEN];
	struct kl_http_opts ho = { 0 };
	struct kl_buf url, b;
	struct am_req *r;

	if (!kl__silences_http(s))
		return;
	r = calloc(1, sizeof(*r));
	if (!r)
		return;
	r->s = s;
	snprintf(r->ns, sizeof(r->ns), "%s", e->ns);
	snprintf(r->controller, sizeof(r->controller), "%s", e->controller ? e->controller : "");
	snprintf(r->notifier, sizeof(r->notifier), "%s", notifier);
	r->has_controller = e->controller != NULL;
	r->at_ms = e->at_ms;
	kl_buf_init(&r->body);
	kl_buf_init(&url);
	kl_buf_init(&b);
	join(&url, base, "/api/v2/silences");
	kl_buf_puts(&b, "{\"matchers\":[");
	matcher(&b, "alertname", alertname, true);
	matcher(&b, "cluster", s->ctx->config->cluster, false);
	matcher(&b, "namespace", e->ns, false);
	kl_buf_printf(&b, "],\"startsAt\":\"%s\",\"endsAt\":\"%s\",\"createdBy\":",
		      kl_rfc3339_format(e->at_ms / 1000, from),
		      kl_rfc3339_format((e->until_ms + 999) / 1000, to));
	kl_buf_json_string(&b, e->by);
	kl_buf_puts(&b, ",\"comment\":");
	kl_buf_json_string(&b, *e->reason ? e->reason : "silenced from chat (kloompas)");
	kl_buf_puts(&b, "}");
	ho.method = "POST";
	ho.url = kl_buf_str(&url);
	ho.headers = headers;
	ho.body = kl_buf_str(&b);
	ho.body_len = b.len;
	ho.timeout_ms = 10000;
	ho.user_agent = "kloompas";
	if (!ho.url || !ho.body || kl_http_request(s->chat.http, &ho, on_data, created, r, NULL) < 0) {
		kl_log_warn(s->ctx->log, "silences", "cannot create the alertmanager silence",
			    "notifier", notifier);
		kl_buf_free(&r->body);
		free(r);
	}
	kl_buf_free(&url);
	kl_buf_free(&b);
}

void kl__silence_am_create(struct kl_silences *s, const struct kl_silence *e)
{
	const char *names[MAX_ROUTED], *base;
	size_t n, i, k;

	if (!s->ctx->notify || s->ctx->flags->dry_run)
		return;
	n = kl_notify_route(s->ctx->notify, e->ns, names, MAX_ROUTED);
	for (i = 0; i < n; i++) {
		base = am_url(s, names[i]);
		if (!base)
			continue;
		for (k = 0; k < MAX_WATCHES; k++) {
			const struct watch *w = &s->w[k];

			if (w->ops && w->alertname &&
			    (!e->controller || strcmp(e->controller, w->controller) == 0))
				post_one(s, e, names[i], base, w->alertname);
		}
	}
}

static void expired(void *arg, int status, int code, int retry_after_s, const char *msg)
{
	struct kl_silences *s = arg;
	char c[16];

	snprintf(c, sizeof(c), "%d", code);
	if (status < 0 || code < 200 || code > 299)
		kl_log_warn(s->ctx->log, "silences", "cannot expire the alertmanager silence",
			    "status", c, "error", status < 0 ? strerror(-status) : "");
}

void kl__silence_am_expire(struct kl_silences *s, const struct kl_silence *e)
{
	struct kl_http_opts ho = { 0 };
	struct kl_buf url;
	const char *base;
	size_t i;

	for (i = 0; i < e->nam; i++) {
		base = am_url(s, e->am_notifier[i]);
		if (!base || !kl__silences_http(s))
			continue;
		kl_buf_init(&url);
		join(&url, base, "/api/v2/silence/");
		kl_buf_puts(&url, e->am_id[i]);
		ho.method = "DELETE";
		ho.url = kl_buf_str(&url);
		ho.timeout_ms = 10000;
		ho.user_agent = "kloompas";
		if (!ho.url || kl_http_request(s->chat.http, &ho, NULL, expired, s, NULL) < 0)
			kl_log_warn(s->ctx->log, "silences", "cannot expire the alertmanager silence",
				    "notifier", e->am_notifier[i]);
		kl_buf_free(&url);
	}
}
