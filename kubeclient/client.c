/*
 * kubeclient/client.c - Kubernetes API calls over kubeclient/http.c (see client.h).
 *
 * A call becomes a struct kl_kube_req that goes through three gates before its
 * HTTP request starts: the client-side rate limiter (a token bucket, as client-go;
 * watches skip it), then credentials (an exec plugin may have to run), then the
 * HTTP layer. Successful bodies stream into a decoder in the mode the call needs
 * (LIST items one by one, WATCH events one by one, a single object); error bodies
 * are collected (bounded) and decoded as a Status. A 401 is retried once with
 * refreshed credentials when they can change (token file, exec plugin).
 *
 * Content negotiation: a LIST or WATCH whose caller takes protobuf, on a client
 * whose wire is KL_WIRE_PROTOBUF, accepts protobuf first and JSON second; the
 * answer's Content-Type, seen with the first bytes of the body, picks the decoder
 * (kl_pb_stream of pb.h or kl_json_stream), so a server or a resource that only
 * speaks JSON just works. Every other call asks for JSON only.
 */
#include "kubeclient/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kl_version.h"
#include "kubeclient/http.h"
#include "kubeclient/internal.h"
#include "kubeclient/pb.h"
#include "util/url.h"

#define ERRBODY_MAX 65536
#define URL_MAX 4096
#define LIST_RESTARTS_MAX 5
#define MAX_OBJECT_BYTES (16u << 20)
#define TOKEN_HDR_MAX 8192
#define STATUS_TEXT_MAX 1024
/* trickle mode's period: a watch event waits at most this long to be read */
#define READ_COALESCE_MS 20

static const char accept_json[] = "Accept: application/json";
static const char accept_pb[] =
	"Accept: application/vnd.kubernetes.protobuf, application/json";
static const char pb_type[] = "application/vnd.kubernetes.protobuf";

enum kind { K_OBJ, K_LIST, K_WATCH, K_TEXT };

/* verb label values of kloompas_apiserver_* */
enum verb { V_GET, V_LIST, V_WATCH, V_CREATE, V_UPDATE, V_PATCH, V_DELETE };
static const char *const verb_names[] = { "get",    "list",  "watch", "create",
					  "update", "patch", "delete" };
static const char *const verb_methods[] = { "GET", "GET",   "GET",   "POST",
					    "PUT", "PATCH", "DELETE" };

struct kl_kube {
	uv_loop_t *loop;
	const struct kl_kube_config *cfg;
	const struct kl_log *log;
	struct kl_http *http;
	struct kl__auth *auth;
	char user_agent[64];

	/* token bucket */
	double qps, tokens;
	unsigned burst;
	uint64_t refill_at;
	uv_timer_t limiter;
	struct kl_kube_req *queue_head, *queue_tail;

	struct kl_kube_req *reqs; /* every live call, for close */
	struct kl_metric *m_requests, *m_duration;
	enum kl_wire wire;

	bool closing;
	int pending_closes;
	void (*close_cb)(void *arg);
	void *close_arg;
};

struct kl_kube_req {
	struct kl_kube *k;
	struct kl_kube_req *next, *prev; /* k->reqs */
	struct kl_kube_req *qnext;	  /* k->queue */
	enum kind kind;
	enum verb verb;
	char *path;  /* with query, without server */
	char *body;
	size_t body_len;
	const char *content_type;
	unsigned timeout_s; /* request timeout; 0 none */

	void *arg;
	kl_kube_obj_cb obj_cb;
	kl_kube_item_cb item_cb;
	kl_kube_list_done_cb list_cb;
	kl_kube_event_cb event_cb;
	kl_kube_done_cb done_cb;
	kl_kube_text_cb text_cb;

	struct kl_http_req *http;
	struct kl_json_stream *js;
	struct kl_pb_stream *ps; /* instead of js when the answer is protobuf */
	bool want_pb;		 /* LIST/WATCH: accept protobuf */
	bool body_seen;		 /* the decoder is chosen: the body's first bytes came */
	bool body_pb;		 /* this answer's Content-Type is protobuf */
	char *decode_err;	 /* why the decoder stopped the body, for done */
	int code;
	char *errbody; /* or text for K_TEXT */
	size_t errlen, errcap, text_max;
	bool text_cut;
	bool retried_401;
	bool waiting_auth;
	bool cancelled;
	bool cancel_pending;
	bool finished; /* its callback is running or ran: nothing may end it again */
	bool queued;
	uint64_t started_ms;

	/* LIST */
	char *list_base; /* path?query without limit/continue/resourceVersion */
	unsigned limit;	 /* 0: none */
	char *list_rv;	 /* resourceVersion of the first page, or NULL */
	char *cont;
	char *rv;
	unsigned restarts, pages;
	bool restart_pending;

	/* WATCH */
	struct kl_kube_status werr; /* an ERROR event's status, kept for done */
	char *werr_reason, *werr_message;
	bool got_error_event;

	/* what to tell the callback after an object answer */
	const struct kl_json *answer;
	int cb_rc;
};

/* ---------------------------------------------------------------- Status */

static int errno_for(int code, const char *reason)
{
	switch (code) {
	case 400:
	case 422:
		return -EINVAL;
	case 401:
		return -EACCES;
	case 403:
		return -EPERM;
	case 404:
		return -ENOENT;
	case 409:
		return reason && strcmp(reason, "AlreadyExists") == 0 ? -EEXIST : -EBUSY;
	case 410:
		return -ESTALE;
	case 429:
		return -EAGAIN;
	case 504:
		return -ETIMEDOUT;
	}
	if (code >= 500)
		return -EAGAIN;
	if (code >= 400)
		return -EIO;
	return 0;
}

/* details.causes: ResourceVersionTooLarge when one says so, else the first's reason. */
static const char *status_cause(const struct kl_json *obj)
{
	static const char too_large[] = "ResourceVersionTooLarge";
	const struct kl_json *causes = kl_json_path(obj, "details", "causes", NULL), *c;

	if (!causes || causes->type != KL_JSON_ARRAY || !causes->child)
		return "";
	for (c = causes->child; c; c = c->next)
		if (strcmp(kl_json_str(kl_json_get(c, "reason"), ""), too_large) == 0)
			return too_large;
	return kl_json_str(kl_json_get(causes->child, "reason"), "");
}

void kl_kube_status_from(struct kl_kube_status *st, int http_code, const struct kl_json *obj)
{
	int64_t c = 0;

	memset(st, 0, sizeof(*st));
	st->retry_after_s = -1;
	st->code = http_code;
	st->reason = "";
	st->message = "";
	st->cause = "";
	if (obj && strcmp(kl_json_str(kl_json_get(obj, "kind"), ""), "Status") == 0) {
		if (kl_json_int(kl_json_get(obj, "code"), &c) == 0 && c > 0 && c < 1000)
			st->code = (int)c;
		st->reason = kl_json_str(kl_json_get(obj, "reason"), "");
		st->message = kl_json_str(kl_json_get(obj, "message"), "");
		st->cause = status_cause(obj);
		/* a successful Status (DELETE answers) carries no error */
		if (strcmp(kl_json_str(kl_json_get(obj, "status"), ""), "Success") == 0) {
			st->err = 0;
			return;
		}
	}
	st->err = errno_for(st->code, st->reason);
}

/* ---------------------------------------------------------------- bookkeeping */

static void req_free(struct kl_kube_req *r)
{
	struct kl_kube *k = r->k;

	if (r->prev)
		r->prev->next = r->next;
	else
		k->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (r->js)
		kl_json_stream_free(r->js);
	if (r->ps)
		kl_pb_stream_free(r->ps);
	free(r->path);
	free(r->body);
	free(r->errbody);
	free(r->list_base);
	free(r->list_rv);
	free(r->cont);
	free(r->rv);
	free(r->werr_reason);
	free(r->werr_message);
	free(r->decode_err);
	free(r);
}

static void observe(struct kl_kube_req *r, int code)
{
	struct kl_kube *k = r->k;
	char c[16];
	const char *v[] = { verb_names[r->verb], c };
	const char *dv[] = { verb_names[r->verb] };

	if (code > 0)
		snprintf(c, sizeof(c), "%d", code);
	else
		snprintf(c, sizeof(c), "<error>");
	if (k->m_requests)
		kl_metric_inc(k->m_requests, v);
	if (k->m_duration && r->verb != V_WATCH)
		kl_metric_observe(k->m_duration, dv,
				  (double)(uv_now(k->loop) - r->started_ms) / 1000.0);
}

/* Ends a call with an error status: the callback of its kind, once, then free. */
static void finish_error(struct kl_kube_req *r, const struct kl_kube_status *st)
{
	r->finished = true;
	switch (r->kind) {
	case K_OBJ:
		r->obj_cb(r->arg, st, NULL);
		break;
	case K_LIST:
		r->list_cb(r->arg, st, NULL);
		break;
	case K_WATCH:
		r->done_cb(r->arg, st);
		break;
	case K_TEXT:
		r->text_cb(r->arg, st, NULL, 0);
		break;
	}
	req_free(r);
}

static void fail(struct kl_kube_req *r, int err, int code, const char *msg)
{
	struct kl_kube_status st = { .err = err,
				     .code = code,
				     .reason = "",
				     .message = msg,
				     .retry_after_s = -1,
				     .cause = "" };

	finish_error(r, &st);
}

/* ---------------------------------------------------------------- streaming */

/* A List's metadata: continue and resourceVersion, kept for the next page and done. */
static int list_meta(struct kl_kube_req *r, const char *cont, const char *rv)
{
	free(r->cont);
	free(r->rv);
	r->cont = strdup(cont ? cont : "");
	r->rv = strdup(rv ? rv : "");
	return r->cont && r->rv ? 0 : -ENOMEM;
}

static int deliver_item(struct kl_kube_req *r, const struct kl_kobj *o)
{
	int rc = r->item_cb(r->arg, o, r->restart_pending);

	r->restart_pending = false;
	return rc;
}

/* An ERROR event: r->werr filled from its Status; kept for done. */
static int keep_error_event(struct kl_kube_req *r)
{
	if (r->werr.code == 0)
		r->werr.code = 500;
	if (!r->werr.err)
		r->werr.err = errno_for(r->werr.code, r->werr.reason);
	r->werr_reason = strdup(r->werr.reason);
	r->werr_message = strdup(r->werr.message);
	r->got_error_event = true;
	return r->werr_reason && r->werr_message ? 0 : -ENOMEM;
}

static int deliver_event(struct kl_kube_req *r, const char *type, const struct kl_kobj *o)
{
	int rc = r->event_cb(r->arg, type, o);

	if (rc < 0)
		return rc;
	/* the server ends the stream after an ERROR; do not wait for it */
	return r->got_error_event ? -ECONNABORTED : 0;
}

static int on_item(void *arg, enum kl_json_what what, const struct kl_json *v)
{
	struct kl_kube_req *r = arg;
	const struct kl_json *md;
	int rc;

	/* cancelled from a callback: the rest of the chunk at hand is not delivered */
	if (r->cancelled)
		return -ECANCELED;
	switch (r->kind) {
	case K_OBJ:
		r->answer = v;
		r->cb_rc = 0;
		return 0;
	case K_LIST:
		if (what == KL_JSON_ITEM)
			return deliver_item(r, &(struct kl_kobj){ .json = v });
		md = kl_json_get(v, "metadata");
		return list_meta(r, kl_json_str(kl_json_get(md, "continue"), ""),
				 kl_json_str(kl_json_get(md, "resourceVersion"), ""));
	case K_WATCH: {
		const char *type = kl_json_str(kl_json_get(v, "type"), "");
		const struct kl_json *obj = kl_json_get(v, "object");

		if (!*type || !obj)
			return -EPROTO;
		if (strcmp(type, "ERROR") == 0) {
			kl_kube_status_from(&r->werr, 0, obj);
			rc = keep_error_event(r);
			if (rc < 0)
				return rc;
		}
		return deliver_event(r, type, &(struct kl_kobj){ .json = obj });
	}
	case K_TEXT:
		break;
	}
	return 0;
}

/* The protobuf twin of on_item, for LIST and WATCH answers. */
static int on_pb(void *arg, enum kl_pb_what what, const struct kl_pb_msg *m)
{
	struct kl_kube_req *r = arg;
	struct kl_kobj o = { .pb = m->data, .len = m->len };
	char reason[STATUS_TEXT_MAX], message[STATUS_TEXT_MAX];
	int code = 0, rc;

	if (r->cancelled)
		return -ECANCELED;
	if (r->kind == K_LIST) {
		if (what == KL_PB_ITEM)
			return deliver_item(r, &o);
		return list_meta(r, m->cont, m->resource_version);
	}
	if (r->kind != K_WATCH || !m->type || !*m->type)
		return -EPROTO;
	if (strcmp(m->type, "ERROR") == 0) {
		reason[0] = message[0] = '\0';
		kl_pb_status(m->data, m->len, &code, reason, sizeof(reason), message,
			     sizeof(message));
		memset(&r->werr, 0, sizeof(r->werr));
		r->werr.code = code > 0 && code < 1000 ? code : 0;
		r->werr.retry_after_s = -1;
		r->werr.reason = reason;
		r->werr.message = message;
		r->werr.cause = "";
		rc = keep_error_event(r);
		r->werr.reason = r->werr.message = ""; /* the copies are kept for done */
		if (rc < 0)
			return rc;
	}
	return deliver_event(r, m->type, &o);
}

static int text_append(struct kl_kube_req *r, const char *buf, size_t len, size_t max)
{
	if (len >= max) {
		buf += len - max;
		len = max;
		r->errlen = 0;
		r->text_cut = true;
	} else if (r->errlen + len > max) {
		size_t drop = r->errlen + len - max;

		memmove(r->errbody, r->errbody + drop, r->errlen - drop);
		r->errlen -= drop;
		r->text_cut = true;
	}
	if (r->errlen + len + 1 > r->errcap) {
		size_t cap = r->errlen + len + 1 > 4096 ? r->errlen + len + 1 : 4096;
		char *p = realloc(r->errbody, cap);

		if (!p)
			return -ENOMEM;
		r->errbody = p;
		r->errcap = cap;
	}
	memcpy(r->errbody + r->errlen, buf, len);
	r->errlen += len;
	r->errbody[r->errlen] = '\0';
	return 0;
}

/*
 * Picks the decoder once per answer, from its Content-Type: protobuf only for a
 * call that asked for it (a server does not send it otherwise), JSON for the rest -
 * whatever else it says, so a proxy's HTML fails as bad JSON, as it always did.
 */
static int stream_open(struct kl_kube_req *r)
{
	enum kl_json_mode jm = r->kind == K_LIST    ? KL_JSON_LIST
			       : r->kind == K_WATCH ? KL_JSON_EVENTS
						    : KL_JSON_DOCUMENT;
	const char *ct = r->http ? kl_http_content_type(r->http) : "";

	r->body_seen = true;
	r->body_pb = r->want_pb && strncasecmp(ct, pb_type, sizeof(pb_type) - 1) == 0;
	if (r->code < 200 || r->code >= 300 || r->kind == K_TEXT)
		return 0;
	if (r->body_pb) {
		r->ps = kl_pb_stream_new(r->kind == K_LIST ? KL_PB_LIST : KL_PB_EVENTS,
					 MAX_OBJECT_BYTES, on_pb, r);
		return r->ps ? 0 : -ENOMEM;
	}
	r->js = kl_json_stream_new(jm, MAX_OBJECT_BYTES, on_item, r);
	return r->js ? 0 : -ENOMEM;
}

static int on_data(void *arg, int code, const char *buf, size_t len)
{
	struct kl_kube_req *r = arg;
	struct kl_error err;
	int rc;

	r->code = code;
	if (!r->body_seen) {
		rc = stream_open(r);
		if (rc < 0)
			return rc;
	}
	if (code < 200 || code >= 300)
		return text_append(r, buf, len, ERRBODY_MAX);
	if (r->kind == K_TEXT)
		return text_append(r, buf, len, r->text_max);
	kl_error_clear(&err);
	if (r->ps)
		rc = kl_pb_stream_feed(r->ps, buf, len, &err);
	else
		rc = kl_json_stream_feed(r->js, buf, len, &err);
	/* the decoder's words, not libcurl's "Failure writing output to destination" */
	if (rc < 0 && err.msg[0] && !r->decode_err)
		r->decode_err = strdup(err.msg);
	return rc;
}

/* ---------------------------------------------------------------- request start */

static void start_http(struct kl_kube_req *r);

/* Before each attempt: no decoder until the answer's first bytes say which. */
static void stream_reset(struct kl_kube_req *r)
{
	if (r->js)
		kl_json_stream_free(r->js);
	if (r->ps)
		kl_pb_stream_free(r->ps);
	r->js = NULL;
	r->ps = NULL;
	r->body_seen = false;
	r->body_pb = false;
	free(r->decode_err);
	r->decode_err = NULL;
	r->errlen = 0;
	r->code = 0;
}

static void send_http(struct kl_kube_req *r);

/* the exec plugin ran: send with what it gave, even if it expires soon */
static void on_auth(void *arg, int err, const char *msg)
{
	struct kl_kube_req *r = arg;

	r->waiting_auth = false;
	if (err < 0) {
		fail(r, err == -ECANCELED ? -ECANCELED : -EACCES, 0, msg);
		return;
	}
	send_http(r);
}

static void on_done(void *arg, int status, int code, int retry_after, const char *msg);

static void start_http(struct kl_kube_req *r)
{
	struct kl_kube *k = r->k;
	char msg[256] = "";
	int rc;

	if (r->cancelled) {
		fail(r, -ECANCELED, 0, "cancelled");
		return;
	}
	rc = kl__auth_ready(k->auth, on_auth, r, msg, sizeof(msg));
	if (rc == 0) {
		r->waiting_auth = true;
		return;
	}
	if (rc < 0) {
		fail(r, rc == -ECANCELED ? rc : -EACCES, 0, msg);
		return;
	}
	send_http(r);
}

static void send_http(struct kl_kube_req *r)
{
	struct kl_kube *k = r->k;
	struct kl_http_tls tls;
	struct kl_http_opts o;
	char url[URL_MAX], auth[TOKEN_HDR_MAX], ctype[128];
	const char *headers[4];
	size_t nh = 0;
	int rc;

	stream_reset(r);
	memset(&tls, 0, sizeof(tls));
	tls.ca_file = k->cfg->ca_file;
	tls.ca_data = k->cfg->ca_data;
	tls.ca_data_len = k->cfg->ca_data_len;
	tls.insecure = k->cfg->insecure_skip_tls_verify;
	tls.tls_server_name = k->cfg->tls_server_name;
	tls.proxy_url = k->cfg->proxy_url;
	kl__auth_apply(k->auth, auth, sizeof(auth), &tls);
	if (snprintf(url, sizeof(url), "%s%s", k->cfg->server, r->path) >= (int)sizeof(url)) {
		fail(r, -ENAMETOOLONG, 0, "URL too long");
		return;
	}
	headers[nh++] = r->kind == K_TEXT ? "Accept: */*" : r->want_pb ? accept_pb : accept_json;
	if (auth[0])
		headers[nh++] = auth;
	if (r->content_type) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", r->content_type);
		headers[nh++] = ctype;
	}
	headers[nh] = NULL;
	memset(&o, 0, sizeof(o));
	o.method = verb_methods[r->verb];
	o.url = url;
	o.headers = headers;
	o.body = r->body;
	o.body_len = r->body_len;
	o.tls = &tls;
	o.user_agent = k->user_agent;
	o.timeout_ms = (uint64_t)r->timeout_s * 1000;
	o.basic_user = k->cfg->username;
	o.basic_password = k->cfg->password;
	r->started_ms = uv_now(k->loop);
	kl_log_v(k->log, 2, "kubeclient", "request", "verb", verb_names[r->verb], "path",
		 r->path);
	rc = kl_http_request(k->http, &o, on_data, on_done, r, &r->http);
	memset(auth, 0, sizeof(auth));
	if (rc < 0)
		fail(r, rc, 0, "cannot start the HTTP request");
}

/* ---------------------------------------------------------------- rate limiter */

static void refill(struct kl_kube *k)
{
	uint64_t now = uv_now(k->loop);

	k->tokens += (double)(now - k->refill_at) * k->qps / 1000.0;
	if (k->tokens > k->burst)
		k->tokens = k->burst;
	k->refill_at = now;
}

static void on_limiter(uv_timer_t *t);

static void drain_queue(struct kl_kube *k)
{
	struct kl_kube_req *r, **pp;

	refill(k);
	/* watches are not rate limited (client-go neither) and wait behind nobody */
	for (pp = &k->queue_head; (r = *pp);) {
		if (r->verb != V_WATCH) {
			pp = &r->qnext;
			continue;
		}
		*pp = r->qnext;
		r->queued = false;
		start_http(r);
	}
	k->queue_tail = NULL;
	for (r = k->queue_head; r; r = r->qnext)
		k->queue_tail = r;
	while ((r = k->queue_head) && k->tokens >= 1.0) {
		k->queue_head = r->qnext;
		if (!k->queue_head)
			k->queue_tail = NULL;
		r->queued = false;
		k->tokens -= 1.0;
		start_http(r);
	}
	if (k->queue_head) {
		uint64_t wait = (uint64_t)((1.0 - k->tokens) * 1000.0 / k->qps) + 1;

		uv_timer_start(&k->limiter, on_limiter, wait, 0);
	}
}

static void on_limiter(uv_timer_t *t)
{
	struct kl_kube *k = t->data;
	struct kl_kube_req *r, *next;

	/* calls cancelled before they reached the HTTP layer end here */
	for (r = k->reqs; r; r = next) {
		next = r->next;
		if (r->cancel_pending)
			fail(r, -ECANCELED, 0, "cancelled");
	}
	drain_queue(k);
}

/* Queues a call; it starts from the loop, so its callback never runs inside the
 * caller's own call (even when credentials fail at once). */
static void submit(struct kl_kube_req *r)
{
	struct kl_kube *k = r->k;

	r->queued = true;
	r->qnext = NULL;
	if (k->queue_tail)
		k->queue_tail->qnext = r;
	else
		k->queue_head = r;
	k->queue_tail = r;
	if (!uv_is_active((uv_handle_t *)&k->limiter) || k->queue_head == r ||
	    r->verb == V_WATCH)
		uv_timer_start(&k->limiter, on_limiter, 0, 0);
}

/* ---------------------------------------------------------------- completion */

static void list_next_page(struct kl_kube_req *r);

static void finish_list_page(struct kl_kube_req *r)
{
	struct kl_kube_status ok = { .err = 0, .code = r->code, .reason = "", .message = "",
				     .retry_after_s = -1, .cause = "" };
	struct kl_kube_list_result res;

	r->pages++;
	if (r->cont && r->cont[0]) {
		list_next_page(r);
		return;
	}
	res.resource_version = r->rv ? r->rv : "";
	res.pages = r->pages;
	res.protobuf = r->body_pb;
	r->finished = true;
	r->list_cb(r->arg, &ok, &res);
	req_free(r);
}

/* Ends the body's decoder: DOCUMENT and LIST deliver their document here. */
static int stream_finish(struct kl_kube_req *r, struct kl_error *err)
{
	int rc;

	if (!r->body_seen) { /* an empty body */
		rc = stream_open(r);
		if (rc < 0)
			return rc;
	}
	if (r->ps)
		return kl_pb_stream_finish(r->ps, err);
	return kl_json_stream_finish(r->js, err);
}

static void finish_success(struct kl_kube_req *r)
{
	struct kl_kube_status ok = { .err = 0, .code = r->code, .reason = "", .message = "",
				     .retry_after_s = -1, .cause = "" };
	struct kl_error err;
	int rc = 0;

	kl_error_clear(&err);
	if (r->kind == K_TEXT) {
		r->finished = true;
		r->text_cb(r->arg, &ok, r->errbody ? r->errbody : "", r->errlen);
		req_free(r);
		return;
	}
	r->answer = NULL;
	rc = stream_finish(r, &err);
	/* for OBJ the document is delivered (and must be used) inside finish */
	if (r->kind == K_OBJ) {
		if (rc < 0) {
			fail(r, -EPROTO, r->code, err.msg);
			return;
		}
		/* on_item kept a pointer valid until the stream is freed or fed again */
		r->finished = true;
		r->obj_cb(r->arg, &ok, r->answer);
		req_free(r);
		return;
	}
	if (r->kind == K_LIST) {
		if (rc < 0) {
			fail(r, rc == -ENOMEM ? rc : -EPROTO, r->code,
			     err.msg[0] ? err.msg : "bad list");
			return;
		}
		finish_list_page(r);
		return;
	}
	/* WATCH: a clean end by the server's timeout, unless the body was cut */
	if (rc < 0) {
		fail(r, -ECONNRESET, r->code, "watch stream ended inside an event");
		return;
	}
	r->finished = true;
	r->done_cb(r->arg, &ok);
	req_free(r);
}

/* A protobuf error body's Status, into the caller's buffers. */
struct pb_status {
	int code;
	char reason[STATUS_TEXT_MAX], message[STATUS_TEXT_MAX];
	bool found;
};

static int on_pb_status(void *arg, enum kl_pb_what what, const struct kl_pb_msg *m)
{
	struct pb_status *ps = arg;

	if (what == KL_PB_DOC && strcmp(m->kind ? m->kind : "", "Status") == 0)
		ps->found = kl_pb_status(m->data, m->len, &ps->code, ps->reason,
					 sizeof(ps->reason), ps->message,
					 sizeof(ps->message)) == 0;
	return 0;
}

/* Decodes a protobuf Status body into st (strings in ps); false when it is none. */
static bool status_from_pb(struct kl_kube_req *r, struct pb_status *ps, struct kl_kube_status *st)
{
	struct kl_pb_stream *s;
	struct kl_error err;

	memset(ps, 0, sizeof(*ps));
	s = kl_pb_stream_new(KL_PB_DOCUMENT, ERRBODY_MAX * 2, on_pb_status, ps);
	if (!s)
		return false;
	kl_error_clear(&err);
	if (kl_pb_stream_feed(s, r->errbody ? r->errbody : "", r->errlen, &err) == 0)
		kl_pb_stream_finish(s, &err);
	kl_pb_stream_free(s);
	if (!ps->found)
		return false;
	memset(st, 0, sizeof(*st));
	st->code = ps->code > 0 && ps->code < 1000 ? ps->code : r->code;
	st->reason = ps->reason;
	st->message = ps->message;
	st->cause = "";
	st->err = errno_for(st->code, st->reason);
	return true;
}

static void finish_http_error(struct kl_kube_req *r, int retry_after)
{
	struct kl_kube_status st;
	struct kl_json_stream *js;
	struct kl_error err;
	struct pb_status ps;
	const struct kl_json *doc = NULL;

	kl_error_clear(&err);
	r->answer = NULL;
	if (r->body_pb && status_from_pb(r, &ps, &st)) {
		st.retry_after_s = retry_after;
		if (!st.err)
			st.err = -EIO;
		observe(r, r->code);
		finish_error(r, &st);
		return;
	}
	/* decode the Status body with a fresh DOCUMENT stream */
	if (r->js)
		kl_json_stream_free(r->js);
	r->js = NULL;
	js = kl_json_stream_new(KL_JSON_DOCUMENT, ERRBODY_MAX * 2, on_item, r);
	if (js) {
		enum kind saved = r->kind;

		r->kind = K_OBJ; /* on_item stores the document in r->answer */
		if (kl_json_stream_feed(js, r->errbody ? r->errbody : "", r->errlen, &err) == 0 &&
		    kl_json_stream_finish(js, &err) == 0)
			doc = r->answer;
		r->kind = saved;
	}
	kl_kube_status_from(&st, r->code, doc);
	st.retry_after_s = retry_after;
	if (!st.message[0] && r->errbody && r->errlen && !doc && !r->body_pb)
		st.message = r->errbody; /* a plain-text error (a proxy's) */
	if (!st.err)
		st.err = -EIO;
	observe(r, r->code);
	finish_error(r, &st);
	if (js)
		kl_json_stream_free(js);
}

static void on_done(void *arg, int status, int code, int retry_after, const char *msg)
{
	struct kl_kube_req *r = arg;
	struct kl_kube *k = r->k;

	r->http = NULL;
	if (status == 0)
		r->code = code;
	if (r->kind == K_WATCH && r->got_error_event) {
		struct kl_kube_status st = r->werr;

		st.reason = r->werr_reason ? r->werr_reason : "";
		st.message = r->werr_message ? r->werr_message : "";
		observe(r, r->code);
		finish_error(r, &st);
		return;
	}
	if (status < 0) {
		if (status != -ECANCELED)
			kl_log_v(k->log, 1, "kubeclient", "request failed", "verb",
				 verb_names[r->verb], "path", r->path, "error", msg);
		observe(r, 0);
		/* an item callback's own error comes back as status: pass it on */
		fail(r, status, code,
		     r->decode_err ? r->decode_err : msg && *msg ? msg : strerror(-status));
		return;
	}
	if (code == 401 && !r->retried_401 && kl__auth_refreshable(k->auth) && !k->closing) {
		observe(r, code);
		r->retried_401 = true;
		kl__auth_invalidate(k->auth);
		start_http(r);
		return;
	}
	if (code == 410 && r->kind == K_LIST && r->cont && r->cont[0] &&
	    r->restarts < LIST_RESTARTS_MAX) {
		/* the continue token expired: the list starts over, and says so */
		observe(r, code);
		r->restarts++;
		free(r->cont);
		r->cont = NULL;
		r->pages = 0;
		r->restart_pending = true;
		list_next_page(r);
		return;
	}
	if (code < 200 || code >= 300) {
		finish_http_error(r, retry_after);
		return;
	}
	observe(r, code);
	finish_success(r);
}

/* ---------------------------------------------------------------- calls */

static struct kl_kube_req *req_new(struct kl_kube *k, enum kind kind, enum verb verb,
				   const char *path, const char *query)
{
	struct kl_kube_req *r;
	size_t len;

	if (k->closing || !path || path[0] != '/')
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	len = strlen(path) + (query && *query ? strlen(query) + 1 : 0) + 1;
	r->path = malloc(len);
	if (!r->path) {
		free(r);
		return NULL;
	}
	snprintf(r->path, len, "%s%s%s", path, query && *query ? (strchr(path, '?') ? "&" : "?") : "",
		 query && *query ? query : "");
	r->k = k;
	r->kind = kind;
	r->verb = verb;
	r->next = k->reqs;
	if (k->reqs)
		k->reqs->prev = r;
	k->reqs = r;
	return r;
}

static int set_body(struct kl_kube_req *r, const char *json, size_t len, const char *ctype)
{
	r->body = malloc(len + 1);
	if (!r->body)
		return -ENOMEM;
	memcpy(r->body, json, len);
	r->body[len] = '\0';
	r->body_len = len;
	r->content_type = ctype;
	return 0;
}

static int obj_call(struct kl_kube *k, enum verb verb, const char *path, const char *json,
		    size_t len, const char *ctype, kl_kube_obj_cb cb, void *arg,
		    struct kl_kube_req **out)
{
	struct kl_kube_req *r = req_new(k, K_OBJ, verb, path, NULL);

	if (!r)
		return k->closing ? -ECANCELED : (path && path[0] == '/') ? -ENOMEM : -EINVAL;
	r->obj_cb = cb;
	r->arg = arg;
	r->timeout_s = 60;
	if (json && set_body(r, json, len, ctype) < 0) {
		req_free(r);
		return -ENOMEM;
	}
	if (out)
		*out = r;
	submit(r);
	return 0;
}

int kl_kube_get(struct kl_kube *k, const char *path, kl_kube_obj_cb cb, void *arg,
		struct kl_kube_req **out)
{
	return obj_call(k, V_GET, path, NULL, 0, NULL, cb, arg, out);
}

int kl_kube_create(struct kl_kube *k, const char *path, const char *json, size_t len,
		   kl_kube_obj_cb cb, void *arg, struct kl_kube_req **out)
{
	return obj_call(k, V_CREATE, path, json, len, "application/json", cb, arg, out);
}

int kl_kube_update(struct kl_kube *k, const char *path, const char *json, size_t len,
		   kl_kube_obj_cb cb, void *arg, struct kl_kube_req **out)
{
	return obj_call(k, V_UPDATE, path, json, len, "application/json", cb, arg, out);
}

int kl_kube_delete(struct kl_kube *k, const char *path, kl_kube_obj_cb cb, void *arg,
		   struct kl_kube_req **out)
{
	return obj_call(k, V_DELETE, path, NULL, 0, NULL, cb, arg, out);
}

int kl_kube_patch(struct kl_kube *k, const char *path, enum kl_kube_patch type,
		  const char *json, size_t len, kl_kube_obj_cb cb, void *arg,
		  struct kl_kube_req **out)
{
	static const char *const types[] = { "application/merge-patch+json",
					     "application/strategic-merge-patch+json",
					     "application/json-patch+json" };

	if ((unsigned)type > KL_PATCH_JSON)
		return -EINVAL;
	return obj_call(k, V_PATCH, path, json, len, types[type], cb, arg, out);
}

int kl_kube_scale(struct kl_kube *k, const char *ns, const char *deployment, int replicas,
		  kl_kube_obj_cb cb, void *arg, struct kl_kube_req **out)
{
	char path[512], body[64];
	int n;

	if (replicas < 0)
		return -EINVAL;
	n = snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments/%s/scale", ns,
		     deployment);
	if (n < 0 || n >= (int)sizeof(path))
		return -ENAMETOOLONG;
	n = snprintf(body, sizeof(body), "{\"spec\":{\"replicas\":%d}}", replicas);
	return kl_kube_patch(k, path, KL_PATCH_MERGE, body, (size_t)n, cb, arg, out);
}

static void list_next_page(struct kl_kube_req *r)
{
	bool first = !r->cont || !r->cont[0];
	size_t len = strlen(r->list_base) + 64 + (r->cont ? strlen(r->cont) * 3 : 0) +
		     (r->list_rv ? strlen(r->list_rv) * 3 : 0);
	char *p = malloc(len), *q;
	const char *sep = strchr(r->list_base, '?') ? "&" : "?";

	if (!p) {
		fail(r, -ENOMEM, 0, "out of memory");
		return;
	}
	q = p + snprintf(p, len, "%s", r->list_base);
	if (r->limit) {
		q += sprintf(q, "%slimit=%u", sep, r->limit);
		sep = "&";
	}
	/* len has room for every byte of the tokens escaped, so nothing is cut */
	if (first && r->list_rv) {
		q += sprintf(q, "%sresourceVersion=", sep);
		kl_url_escape(q, len - (size_t)(q - p), r->list_rv);
	} else if (!first) {
		/* continue tokens are base64: escape what a query cannot carry */
		q += sprintf(q, "%scontinue=", sep);
		kl_url_escape(q, len - (size_t)(q - p), r->cont);
	}
	free(r->path);
	r->path = p;
	r->retried_401 = false;
	submit(r);
}

/* Whether a LIST or WATCH asks for protobuf: the caller takes it and so does the client. */
static bool wants_pb(const struct kl_kube *k, bool caller)
{
	return caller && k->wire == KL_WIRE_PROTOBUF;
}

int kl_kube_list(struct kl_kube *k, const char *path, const struct kl_kube_list_opts *o,
		 kl_kube_item_cb item_cb, kl_kube_list_done_cb done_cb, void *arg,
		 struct kl_kube_req **out)
{
	static const struct kl_kube_list_opts none;
	struct kl_kube_req *r;

	if (!o)
		o = &none;
	r = req_new(k, K_LIST, V_LIST, path, o->query);
	if (!r)
		return k->closing ? -ECANCELED : -EINVAL;
	r->list_base = strdup(r->path);
	r->list_rv = o->resource_version && *o->resource_version ? strdup(o->resource_version)
								  : NULL;
	if (!r->list_base || (o->resource_version && *o->resource_version && !r->list_rv)) {
		req_free(r);
		return -ENOMEM;
	}
	r->item_cb = item_cb;
	r->list_cb = done_cb;
	r->arg = arg;
	r->limit = o->unpaged ? 0 : o->limit ? o->limit : 500;
	r->want_pb = wants_pb(k, o->protobuf);
	r->timeout_s = 300;
	if (out)
		*out = r;
	list_next_page(r);
	return 0;
}

int kl_kube_watch(struct kl_kube *k, const char *path, const struct kl_kube_watch_opts *o,
		  kl_kube_event_cb event_cb, kl_kube_done_cb done_cb, void *arg,
		  struct kl_kube_req **out)
{
	static const struct kl_kube_watch_opts none;
	const char *rv, *query;
	char q[1024];
	struct kl_kube_req *r;
	int n;

	if (!o)
		o = &none;
	rv = o->resource_version;
	query = o->query;
	n = snprintf(q, sizeof(q), "watch=true&allowWatchBookmarks=true%s%s%s%s",
		     rv && *rv ? "&resourceVersion=" : "", rv ? rv : "", query && *query ? "&" : "",
		     query ? query : "");
	if (n < 0 || n >= (int)sizeof(q) - 32)
		return -ENAMETOOLONG;
	if (o->timeout_s)
		snprintf(q + n, sizeof(q) - (size_t)n, "&timeoutSeconds=%u", o->timeout_s);
	r = req_new(k, K_WATCH, V_WATCH, path, q);
	if (!r)
		return k->closing ? -ECANCELED : -EINVAL;
	r->event_cb = event_cb;
	r->done_cb = done_cb;
	r->arg = arg;
	r->want_pb = wants_pb(k, o->protobuf);
	if (out)
		*out = r;
	submit(r);
	return 0;
}

int kl_kube_pod_log(struct kl_kube *k, const char *ns, const char *pod, const char *container,
		    bool previous, unsigned tail_lines, size_t max_bytes, kl_kube_text_cb cb,
		    void *arg, struct kl_kube_req **out)
{
	char path[1024], e_ns[256], e_pod[512], e_c[512];
	struct kl_kube_req *r;
	int n;

	kl_url_escape(e_ns, sizeof(e_ns), ns);
	kl_url_escape(e_pod, sizeof(e_pod), pod);
	kl_url_escape(e_c, sizeof(e_c), container);
	n = snprintf(path, sizeof(path),
		     "/api/v1/namespaces/%s/pods/%s/log?container=%s&previous=%s&tailLines=%u",
		     e_ns, e_pod, e_c, previous ? "true" : "false", tail_lines);
	if (n < 0 || n >= (int)sizeof(path))
		return -ENAMETOOLONG;
	r = req_new(k, K_TEXT, V_GET, path, NULL);
	if (!r)
		return k->closing ? -ECANCELED : -ENOMEM;
	r->text_cb = cb;
	r->arg = arg;
	r->text_max = max_bytes ? max_bytes : 65536;
	r->timeout_s = 30;
	if (out)
		*out = r;
	submit(r);
	return 0;
}

/* ---------------------------------------------------------------- cancel, life */

void kl_kube_cancel(struct kl_kube_req *r)
{
	struct kl_kube *k = r->k;
	struct kl_kube_req **pp;

	if (r->cancelled)
		return;
	r->cancelled = true;
	if (r->http) {
		kl_http_cancel(r->http); /* on_done follows with -ECANCELED */
		return;
	}
	if (r->waiting_auth) {
		kl__auth_forget(k->auth, r);
		r->waiting_auth = false;
	}
	if (r->queued) {
		for (pp = &k->queue_head; *pp; pp = &(*pp)->qnext) {
			if (*pp == r) {
				*pp = r->qnext;
				break;
			}
		}
		k->queue_tail = NULL;
		for (pp = &k->queue_head; *pp; pp = &(*pp)->qnext)
			k->queue_tail = *pp;
		r->queued = false;
	}
	/* not started: answer from the loop, never inside the caller's stack */
	r->cancel_pending = true;
	uv_timer_start(&k->limiter, on_limiter, 0, 0);
}

int kl_kobj_rv(const struct kl_kobj *o, char *rv, size_t size)
{
	const struct kl_json *v;

	if (o->pb)
		return kl_pb_meta_rv(o->pb, o->len, rv, size);
	v = kl_json_path(o->json, "metadata", "resourceVersion", NULL);
	if (!v)
		return -ENOENT;
	if (v->type != KL_JSON_STRING || v->len >= size)
		return -EINVAL;
	memcpy(rv, v->str, v->len + 1);
	return 0;
}

int kl_kube_http_version(const struct kl_kube *k)
{
	return kl_http_last_version(k->http);
}

void kl_kube_http_stats(const struct kl_kube *k, struct kl_http_stats *out)
{
	kl_http_stats(k->http, out);
}

int kl_kube_new(uv_loop_t *loop, const struct kl_kube_config *cfg,
		const struct kl_kube_opts *opts, const struct kl_log *log,
		struct kl_metrics *metrics, struct kl_kube **out, struct kl_error *err)
{
	static const char *const req_labels[] = { "verb", "code", NULL };
	static const char *const dur_labels[] = { "verb", NULL };
	static const double buckets[] = { 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60 };
	struct kl_kube *k = calloc(1, sizeof(*k));
	uint64_t coalesce_ms = READ_COALESCE_MS;

	if (!k)
		return -ENOMEM;
	k->loop = loop;
	k->cfg = cfg;
	k->log = log;
	k->qps = opts && opts->qps > 0 ? opts->qps : 20;
	k->burst = opts && opts->burst ? opts->burst : 30;
	k->wire = opts ? opts->wire : KL_WIRE_JSON;
	k->tokens = k->burst;
	k->refill_at = uv_now(loop);
	snprintf(k->user_agent, sizeof(k->user_agent), "kloompas/%s", KL_VERSION);
	k->http = kl_http_new(loop, log);
	if (opts && opts->read_coalesce_ms)
		coalesce_ms = opts->read_coalesce_ms > 0 ? (uint64_t)opts->read_coalesce_ms : 0;
	if (k->http)
		kl_http_coalesce_reads(k->http, coalesce_ms);
	k->auth = kl__auth_new(loop, cfg, opts ? opts->token_reread_ms : 0, log);
	if (!k->http || !k->auth) {
		kl_error_set(err, NULL, 0, 0, "kubeclient: cannot initialise the HTTP client");
		if (k->auth)
			kl__auth_close(k->auth, NULL, NULL);
		if (k->http)
			kl_http_close(k->http, NULL, NULL);
		free(k);
		return -ENOMEM;
	}
	uv_timer_init(loop, &k->limiter);
	k->limiter.data = k;
	if (metrics) {
		k->m_requests = kl_metrics_find(metrics, "kloompas_apiserver_requests_total");
		if (!k->m_requests)
			k->m_requests = kl_metrics_counter(
				metrics, "kloompas_apiserver_requests_total",
				"Requests to the Kubernetes API server by verb and HTTP code.",
				req_labels);
		k->m_duration = kl_metrics_find(metrics, "kloompas_apiserver_request_duration_seconds");
		if (!k->m_duration)
			k->m_duration = kl_metrics_histogram(
				metrics, "kloompas_apiserver_request_duration_seconds",
				"Latency of requests to the Kubernetes API server (watches excluded).",
				dur_labels, buckets, sizeof(buckets) / sizeof(buckets[0]));
	}
	*out = k;
	return 0;
}

static void close_step(void *arg)
{
	struct kl_kube *k = arg;
	void (*cb)(void *) = k->close_cb;
	void *cb_arg = k->close_arg;

	if (--k->pending_closes > 0)
		return;
	free(k);
	if (cb)
		cb(cb_arg);
}

static void limiter_closed(uv_handle_t *h)
{
	close_step(h->data);
}

void kl_kube_close(struct kl_kube *k, void (*cb)(void *arg), void *arg)
{
	struct kl_kube_req *r, *next;

	k->closing = true;
	k->close_cb = cb;
	k->close_arg = arg;
	/* calls not yet at the HTTP layer end here; the HTTP layer ends the others */
	for (r = k->reqs; r; r = next) {
		next = r->next;
		if (r->http || r->finished)
			continue;
		/* a waiter left with the auth would be answered again when it closes */
		if (r->waiting_auth)
			kl__auth_forget(k->auth, r);
		fail(r, -ECANCELED, 0, "client closing");
	}
	k->queue_head = k->queue_tail = NULL;
	k->pending_closes = 3;
	kl_http_close(k->http, close_step, k); /* remaining calls get -ECANCELED */
	kl__auth_close(k->auth, close_step, k);
	uv_close((uv_handle_t *)&k->limiter, limiter_closed);
}
