/*
 * kubeclient/http.c - libcurl's multi-socket API driven by the uv loop (see http.h).
 *
 * The wiring is curl's docs/examples/multi-uv.c: CURLMOPT_SOCKETFUNCTION gets one
 * uv_poll_t per socket (made on CURL_POLL_IN/OUT, kept with curl_multi_assign(),
 * closed on CURL_POLL_REMOVE, freed in its close callback); CURLMOPT_TIMERFUNCTION
 * drives one uv_timer_t. Every wake-up calls curl_multi_socket_action() and then
 * drains curl_multi_info_read(), where finished requests get their done_cb - never
 * inside a libcurl callback, so a done_cb may do anything.
 *
 * DESIGN: libcurl refuses curl_multi_add_handle() and curl_multi_remove_handle() from
 * inside its callbacks, and data_cb runs inside one (the write callback). So starting
 * and cancelling are both deferred: kl_http_request() and kl_http_cancel() only move
 * the request between lists and arm a 0 ms "kick" timer, whose callback adds new easy
 * handles, removes cancelled ones and reports them. One path for every caller - a
 * data_cb, a done_cb or plain loop code - and done_cb never runs in the caller's
 * stack. A cancelled request still attached to the multi returns 0 from the write
 * callback, so its data_cb is not called again.
 *
 * Each request is on exactly one list: to_add (not yet attached), active (attached),
 * cancelled (waiting for the kick). kl_http_close() moves every request to cancelled;
 * once the kick has reported them all it cleans up the multi and closes the handles.
 * The client is freed in the last close callback.
 */
#include "kubeclient/http.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "util/container_of.h"
#include "util/list.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define KEEPALIVE_IDLE_S 30L
#define KEEPALIVE_INTVL_S 10L


struct kl_http {
	uv_loop_t *loop;
	const struct kl_log *log; /* borrowed; may be NULL */
	CURLM *multi;		  /* NULL once cleaned up during close */
	uv_timer_t timer;	  /* libcurl's timeout */
	uv_timer_t kick;	  /* 0 ms: attach, cancel, finish closing */
	uv_timer_t trickle;	  /* reads the sockets resting in trickle mode */
	uint64_t trickle_ms;	  /* 0: never rest (see kl_http_coalesce_reads) */
	size_t delivered;	  /* body bytes handed to write callbacks, ever */
	struct kl_http_stats stats;
	struct kl_link to_add, active, cancelled;
	struct kl_link socks; /* every struct sock not yet closed */
	int open_handles;  /* uv handles whose close callback has not run */
	int last_version;
	bool closing;
	void (*close_cb)(void *arg);
	void *close_arg;
};

/* One socket libcurl asked us to watch. Freed in its close callback. */
struct sock {
	uv_poll_t poll;
	curl_socket_t fd;
	int events;	     /* what libcurl asked us to poll for */
	bool resting;	     /* trickle mode: not polled, read on h->trickle */
	uint64_t due;	     /* when resting: loop time of the next read */
	uint64_t win_at;     /* start of the current trickle_ms window */
	size_t win_bytes;    /* body bytes read in it */
	size_t prev_bytes;   /* and in the window before, if adjacent */
	struct kl_http *h;
	struct kl_link link; /* in h->socks until closed */
};

struct kl_http_req {
	struct kl_http *h;
	struct kl_link link; /* in h->to_add, h->active or h->cancelled */
	CURL *easy;
	struct curl_slist *headers;
	struct curl_slist *connect_to;
	struct curl_slist *rcpt; /* a mail's recipients */
	char *upload;		 /* a mail's message, sent by on_read */
	size_t upload_len, upload_off;
	char *url;  /* as sent (host rewritten for tls_server_name) */
	char *path; /* for the log: the URL path, no query */
	char method[16];
	bool https;
	kl_http_data_cb data_cb;
	kl_http_done_cb done_cb;
	void *arg;
	int status_code;
	int retry_after_s;
	int abort_err; /* data_cb's errno when it aborted the transfer */
	bool cancelled;
	char content_type[128]; /* the response's, "" until its headers are in */
	char errbuf[CURL_ERROR_SIZE];
};

/*
 * curl_global_init() is not ours to call per client and must run once before any
 * other libcurl call; this once-flag and its result are the only process-wide state.
 * Never undone: other clients may live in the same process.
 */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---------------------------------------------------------------- errors */

static int errno_from_curl(CURLcode c)
{
	switch (c) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_USE_SSL_FAILED:
	case CURLE_HTTP2:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTO;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2_STREAM:
	case CURLE_GOT_NOTHING:
		return -ECONNRESET;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_URL_MALFORMAT:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
		return -EINVAL;
	case CURLE_NOT_BUILT_IN:
		return -ENOTSUP;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* ------------------------------------------------------------- requests */

static void log_done(const struct kl_http_req *r, int status, int code)
{
	char st[16], cd[16];

	if (!r->h->log)
		return;
	snprintf(st, sizeof(st), "%d", status);
	snprintf(cd, sizeof(cd), "%d", code);
	kl_log_v(r->h->log, 2, "http", "request done", "method", r->method, "path", r->path,
		 "status", st, "code", cd);
}

/* Frees a request that is on no list and attached to no multi. */
static void req_free(struct kl_http_req *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	curl_slist_free_all(r->connect_to);
	curl_slist_free_all(r->rcpt);
	free(r->upload);
	free(r->url);
	free(r->path);
	free(r);
}

/* Reports r (already detached and off every list) and frees it. */
static void req_report(struct kl_http_req *r, int status, const char *msg)
{
	log_done(r, status, r->status_code);
	if (r->done_cb)
		r->done_cb(r->arg, status, r->status_code, r->retry_after_s, msg);
	req_free(r);
}

/* A transfer libcurl reported done, from the info_read drain. */
static void req_finish(struct kl_http_req *r, CURLcode res)
{
	struct kl_http *h = r->h;
	long code = 0, version = 0;
	int status;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(r->easy, CURLINFO_HTTP_VERSION, &version);
	r->status_code = (int)code;
	if (version == CURL_HTTP_VERSION_2_0)
		h->last_version = 2;
	else if (version == CURL_HTTP_VERSION_1_1)
		h->last_version = 11;
	else if (version == CURL_HTTP_VERSION_1_0)
		h->last_version = 10;
	else if (version == CURL_HTTP_VERSION_3)
		h->last_version = 3;

	curl_multi_remove_handle(h->multi, r->easy);
	kl_list_del(&r->link);

	if (res == CURLE_WRITE_ERROR && r->abort_err)
		status = r->abort_err;
	else
		status = errno_from_curl(res);
	if (status && !r->errbuf[0])
		snprintf(r->errbuf, sizeof(r->errbuf), "%s", curl_easy_strerror(res));
	req_report(r, status, status ? r->errbuf : "");
}

static void drain(struct kl_http *h)
{
	struct kl_http_req *r;
	char *priv;
	CURLMsg *m;
	int left;

	while (h->multi && (m = curl_multi_info_read(h->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		priv = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		r = (struct kl_http_req *)(void *)priv;
		/* a cancelled request is the kick's to report */
		if (r && !r->cancelled)
			req_finish(r, m->data.result);
	}
}

/* ---------------------------------------------------- sockets and timers */

static void on_handle_closed(struct kl_http *h);
static void on_poll(uv_poll_t *p, int status, int events);
static void on_trickle(uv_timer_t *t);

static void on_sock_closed(uv_handle_t *handle)
{
	struct sock *s = container_of((uv_poll_t *)handle, struct sock, poll);
	struct kl_http *h = s->h;

	free(s);
	on_handle_closed(h);
}

static void sock_close(struct sock *s)
{
	kl_list_del(&s->link);
	uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/*
 * Trickle mode (kl_http_coalesce_reads). A read that brought some body while the
 * socket's last two trickle_ms windows brought under TRICKLE_BYTES - watch events,
 * say - rests its socket: no polling, one read trickle_ms later of all that came
 * meanwhile. A read of nothing, or a faster stream (a LIST: megabytes a window),
 * polls again. So a watch at hundreds of events a second wakes the process once per
 * trickle_ms instead of once per event, and a large or idle stream is read as before
 * (TRICKLE_BYTES over two 20 ms windows is about 6 MB/s). A socket libcurl also
 * wants to write on is never rested.
 */
#define TRICKLE_BYTES (256 * 1024)

static void arm_trickle(struct kl_http *h)
{
	uint64_t now = uv_now(h->loop), first = UINT64_MAX;
	struct kl_link *l;
	struct sock *s;

	for (l = h->socks.next; l != &h->socks; l = l->next) {
		s = container_of(l, struct sock, link);
		if (s->resting && s->due < first)
			first = s->due;
	}
	if (first == UINT64_MAX)
		uv_timer_stop(&h->trickle);
	else
		uv_timer_start(&h->trickle, on_trickle, first > now ? first - now : 0, 0);
}

/* After a read of s that handed over `got` body bytes: rest s, or poll it. */
static void after_read(struct sock *s, size_t got)
{
	struct kl_http *h = s->h;
	uint64_t now = uv_now(h->loop);
	bool rest;

	if (!h->trickle_ms)
		return;
	if (now - s->win_at >= h->trickle_ms) {
		s->prev_bytes = now - s->win_at < 2 * h->trickle_ms ? s->win_bytes : 0;
		s->win_bytes = 0;
		s->win_at = now;
	}
	s->win_bytes += got;
	rest = got > 0 && s->win_bytes + s->prev_bytes < TRICKLE_BYTES &&
	       s->events == UV_READABLE;
	if (!rest && !s->resting)
		return;
	if (rest && !s->resting) {
		uv_poll_stop(&s->poll);
		h->stats.rests++;
	} else if (!rest) {
		uv_poll_start(&s->poll, s->events, on_poll);
	}
	s->resting = rest;
	s->due = now + h->trickle_ms; /* read only while resting */
	arm_trickle(h);
}

/*
 * One read (or write, or error) of s. libcurl may close s meanwhile
 * (CURL_POLL_REMOVE): it is then closing, and freed only in its close callback,
 * which the loop runs later.
 */
static void sock_action(struct sock *s, int flags)
{
	struct kl_http *h = s->h;
	size_t before = h->delivered;
	int running;

	h->stats.wakeups++;
	curl_multi_socket_action(h->multi, s->fd, flags, &running);
	if (!uv_is_closing((uv_handle_t *)&s->poll))
		after_read(s, h->delivered - before);
	drain(h);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sock *s = container_of(p, struct sock, poll);
	int flags = 0;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	sock_action(s, flags);
}

/* The resting sockets whose time came: read each once. */
static void on_trickle(uv_timer_t *t)
{
	struct kl_http *h = container_of(t, struct kl_http, trickle);
	uint64_t now = uv_now(h->loop);
	struct kl_link *l;
	struct sock *s;

	/* a read may close sockets or rest them again: rescan after each */
	for (;;) {
		s = NULL;
		for (l = h->socks.next; l != &h->socks; l = l->next) {
			s = container_of(l, struct sock, link);
			if (s->resting && s->due <= now)
				break;
			s = NULL;
		}
		if (!s || !h->multi)
			break;
		s->due = UINT64_MAX; /* read once in this pass */
		sock_action(s, CURL_CSELECT_IN);
	}
	arm_trickle(h);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct kl_http *h = userp;
	struct sock *s = socketp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		/*
		 * libcurl forgets the socket (and s) after this call. During close the
		 * poll may be closing already: see shutdown_multi().
		 */
		if (s && !uv_is_closing((uv_handle_t *)&s->poll))
			sock_close(s);
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		if (uv_poll_init_socket(h->loop, &s->poll, fd) < 0) {
			free(s);
			return -1;
		}
		s->fd = fd;
		s->h = h;
		h->open_handles++;
		kl_list_add_tail(&h->socks, &s->link);
		curl_multi_assign(h->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	s->events = events;
	if (s->resting && events == UV_READABLE)
		return 0; /* still read on h->trickle */
	if (s->resting) {
		s->resting = false;
		arm_trickle(h);
	}
	return uv_poll_start(&s->poll, events, on_poll) < 0 ? -1 : 0;
}

static void on_timeout(uv_timer_t *t)
{
	struct kl_http *h = container_of(t, struct kl_http, timer);
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	drain(h);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct kl_http *h = userp;

	if (timeout_ms < 0) {
		uv_timer_stop(&h->timer);
		return 0;
	}
	/* 0 means "now", but libcurl must not be re-entered from its own callback */
	uv_timer_start(&h->timer, on_timeout, timeout_ms ? (uint64_t)timeout_ms : 1, 0);
	return 0;
}

/* ----------------------------------------------------------------- kick */

static void shutdown_multi(struct kl_http *h);

/* Attaches new requests, reports cancelled ones, finishes a close. */
static void on_kick(uv_timer_t *t)
{
	struct kl_http *h = container_of(t, struct kl_http, kick);
	struct kl_http_req *r;
	CURLMcode mc;

	/* callbacks below may start or cancel requests: take one at a time */
	for (;;) {
		if (!kl_list_empty(&h->cancelled)) {
			r = container_of(h->cancelled.next, struct kl_http_req, link);
			kl_list_del(&r->link);
			/* attached or not: removing an unattached handle is a no-op */
			if (h->multi)
				curl_multi_remove_handle(h->multi, r->easy);
			req_report(r, -ECANCELED, "cancelled");
			continue;
		}
		if (!kl_list_empty(&h->to_add)) {
			r = container_of(h->to_add.next, struct kl_http_req, link);
			kl_list_del(&r->link);
			mc = curl_multi_add_handle(h->multi, r->easy);
			if (mc != CURLM_OK) {
				req_report(r, mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO,
					   curl_multi_strerror(mc));
				continue;
			}
			kl_list_add_tail(&h->active, &r->link);
			continue;
		}
		break;
	}
	if (h->closing && h->multi)
		shutdown_multi(h);
}

static void kick(struct kl_http *h)
{
	if (!uv_is_active((uv_handle_t *)&h->kick))
		uv_timer_start(&h->kick, on_kick, 0, 0);
}

/* ---------------------------------------------------------------- close */

static void on_handle_closed(struct kl_http *h)
{
	void (*cb)(void *arg);
	void *arg;

	h->open_handles--;
	if (!h->closing || h->multi || h->open_handles)
		return;
	cb = h->close_cb;
	arg = h->close_arg;
	free(h);
	if (cb)
		cb(arg);
}

static void on_timer_closed(uv_handle_t *handle)
{
	on_handle_closed(handle->data);
}

/* Every request is reported: drop the multi, close every handle. */
static void shutdown_multi(struct kl_http *h)
{
	struct sock *s;

	/* stop polling before libcurl closes the sockets it still caches */
	while (!kl_list_empty(&h->socks)) {
		s = container_of(h->socks.next, struct sock, link);
		sock_close(s);
	}
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	uv_close((uv_handle_t *)&h->timer, on_timer_closed);
	uv_close((uv_handle_t *)&h->kick, on_timer_closed);
	uv_close((uv_handle_t *)&h->trickle, on_timer_closed);
}

static void cancel_list(struct kl_link *head, struct kl_http *h)
{
	struct kl_http_req *r;

	while (!kl_list_empty(head)) {
		r = container_of(head->next, struct kl_http_req, link);
		kl_list_del(&r->link);
		r->cancelled = true;
		kl_list_add_tail(&h->cancelled, &r->link);
	}
}

void kl_http_close(struct kl_http *h, void (*cb)(void *arg), void *arg)
{
	if (h->closing)
		return;
	h->closing = true;
	h->close_cb = cb;
	h->close_arg = arg;
	cancel_list(&h->to_add, h);
	cancel_list(&h->active, h);
	kick(h);
}

struct kl_http *kl_http_new(uv_loop_t *loop, const struct kl_log *log)
{
	struct kl_http *h;

	if (pthread_once(&curl_once, curl_init_once) || curl_init_result != CURLE_OK)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->multi = curl_multi_init();
	if (!h->multi)
		goto out_free;
	if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) ||
	    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) ||
	    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX))
		goto out_cleanup;
	h->loop = loop;
	h->log = log;
	kl_list_init(&h->to_add);
	kl_list_init(&h->active);
	kl_list_init(&h->cancelled);
	kl_list_init(&h->socks);
	/* timers cannot fail to init; from here on h is freed by kl_http_close() */
	uv_timer_init(loop, &h->timer);
	uv_timer_init(loop, &h->kick);
	uv_timer_init(loop, &h->trickle);
	h->timer.data = h;
	h->kick.data = h;
	h->trickle.data = h;
	h->open_handles = 3;
	return h;

out_cleanup:
	curl_multi_cleanup(h->multi);
out_free:
	free(h);
	return NULL;
}

int kl_http_last_version(const struct kl_http *h)
{
	return h->last_version;
}

void kl_http_coalesce_reads(struct kl_http *h, uint64_t ms)
{
	h->trickle_ms = ms;
}

void kl_http_stats(const struct kl_http *h, struct kl_http_stats *out)
{
	*out = h->stats;
}

/* ------------------------------------------------------- easy handle setup */

/* A header's value without the blanks around it, cut to fit. */
static void header_value(char *out, size_t size, const char *v, size_t n)
{
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static int parse_retry_after(const char *v, size_t n)
{
	char buf[64];
	char *end;
	long s;
	time_t when, now;

	header_value(buf, sizeof(buf), v, n);
	if (!buf[0])
		return -1;
	if (buf[0] >= '0' && buf[0] <= '9') {
		errno = 0;
		s = strtol(buf, &end, 10);
		if (*end || errno || s > 86400L * 365)
			return -1;
		return (int)s;
	}
	when = curl_getdate(buf, NULL);
	if (when == -1)
		return -1;
	now = time(NULL);
	return when > now ? (int)(when - now) : 0;
}

/* One header line at a time, status lines included; each response starts afresh. */
static size_t on_header(char *buf, size_t size, size_t n, void *userp)
{
	struct kl_http_req *r = userp;
	size_t len = size * n;
	static const char name[] = "retry-after:";
	static const char ctype[] = "content-type:";

	if (r->cancelled)
		return 0;
	if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		r->retry_after_s = -1;
		r->content_type[0] = '\0';
	} else if (len >= sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
		r->retry_after_s =
		    parse_retry_after(buf + sizeof(name) - 1, len - (sizeof(name) - 1));
	} else if (len >= sizeof(ctype) - 1 && strncasecmp(buf, ctype, sizeof(ctype) - 1) == 0) {
		header_value(r->content_type, sizeof(r->content_type), buf + sizeof(ctype) - 1,
			     len - (sizeof(ctype) - 1));
	}
	return len;
}

static size_t on_write(char *buf, size_t size, size_t n, void *userp)
{
	struct kl_http_req *r = userp;
	size_t len = size * n;
	long code = 0;
	int rc;

	if (r->cancelled)
		return 0;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	r->status_code = (int)code;
	if (!r->data_cb)
		return len;
	r->h->delivered += len;
	rc = r->data_cb(r->arg, r->status_code, buf, len);
	if (rc < 0) {
		r->abort_err = rc;
		return 0; /* CURLE_WRITE_ERROR; req_finish() reports rc */
	}
	/* data_cb may have cancelled this very request */
	return r->cancelled ? 0 : len;
}

/*
 * tls_server_name: the URL's host becomes the name (so SNI and certificate checks use
 * it) and CURLOPT_CONNECT_TO sends the socket to the real host and port.
 */
static int rewrite_host(struct kl_http_req *r, CURLU *u, const char *name)
{
	char *host = NULL, *port = NULL, *url = NULL, *spec = NULL;
	struct curl_slist *l;
	int rc = -EINVAL;

	if (curl_url_get(u, CURLUPART_HOST, &host, 0) ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT))
		goto out;
	if (asprintf(&spec, "%s:%s:%s:%s", name, port, host, port) < 0) {
		spec = NULL;
		rc = -ENOMEM;
		goto out;
	}
	if (curl_url_set(u, CURLUPART_HOST, name, 0) || curl_url_get(u, CURLUPART_URL, &url, 0))
		goto out;
	l = curl_slist_append(NULL, spec);
	r->url = strdup(url);
	if (!l || !r->url) {
		curl_slist_free_all(l);
		rc = -ENOMEM;
		goto out;
	}
	r->connect_to = l;
	rc = 0;
out:
	curl_free(host);
	curl_free(port);
	curl_free(url);
	free(spec);
	return rc;
}

/* Parses the URL: r->url (to send) and r->path (to log). */
static int set_url(struct kl_http_req *r, const struct kl_http_opts *o)
{
	const char *name = o->tls ? o->tls->tls_server_name : NULL;
	CURLU *u = curl_url();
	char *scheme = NULL, *path = NULL;
	int rc = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, o->url, 0) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0))
		goto out;
	if (strcmp(scheme, "http") && strcmp(scheme, "https"))
		goto out;
	r->https = !strcmp(scheme, "https");
	r->path = strdup(path);
	if (!r->path) {
		rc = -ENOMEM;
		goto out;
	}
	if (name && *name)
		rc = rewrite_host(r, u, name);
	else
		rc = (r->url = strdup(o->url)) ? 0 : -ENOMEM;
out:
	curl_free(scheme);
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

/* Appends the NULL-terminated v (may be NULL) to *l. */
static int slist_add(struct curl_slist **l, const char *const *v)
{
	struct curl_slist *n;

	for (; v && *v; v++) {
		n = curl_slist_append(*l, *v);
		if (!n)
			return -ENOMEM;
		*l = n;
	}
	return 0;
}

static CURLcode set_blob(CURL *e, CURLoption opt, const char *data, size_t len)
{
	struct curl_blob b = {.data = (void *)data, .len = len, .flags = CURL_BLOB_COPY};

	return curl_easy_setopt(e, opt, &b);
}

/* Stops at the first failing option, keeping its code. */
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (c == CURLE_OK)                                                                 \
			c = curl_easy_setopt(e, (opt), (val));                                     \
	} while (0)

static CURLcode set_tls(CURL *e, const struct kl_http_tls *t)
{
	CURLcode c = CURLE_OK;

	if (!t)
		return CURLE_OK;
	/* a given CA replaces the system roots, as in kubeconfig semantics */
	if (t->ca_data && t->ca_data_len) {
		SET(CURLOPT_CAINFO, (char *)NULL);
		SET(CURLOPT_CAPATH, (char *)NULL);
		if (c == CURLE_OK)
			c = set_blob(e, CURLOPT_CAINFO_BLOB, t->ca_data, t->ca_data_len);
	} else if (t->ca_file) {
		SET(CURLOPT_CAINFO, t->ca_file);
		SET(CURLOPT_CAPATH, (char *)NULL);
	}
	if (t->insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (t->cert_data && t->cert_data_len) {
		SET(CURLOPT_SSLCERTTYPE, "PEM");
		if (c == CURLE_OK)
			c = set_blob(e, CURLOPT_SSLCERT_BLOB, t->cert_data, t->cert_data_len);
	} else if (t->cert_file) {
		SET(CURLOPT_SSLCERT, t->cert_file);
	}
	if (t->key_data && t->key_data_len) {
		SET(CURLOPT_SSLKEYTYPE, "PEM");
		if (c == CURLE_OK)
			c = set_blob(e, CURLOPT_SSLKEY_BLOB, t->key_data, t->key_data_len);
	} else if (t->key_file) {
		SET(CURLOPT_SSLKEY, t->key_file);
	}
	if (t->proxy_url)
		SET(CURLOPT_PROXY, t->proxy_url);
	return c;
}

static bool method_sends_body(const char *m)
{
	return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
}

static CURLcode set_options(struct kl_http_req *r, const struct kl_http_opts *o)
{
	CURL *e = r->easy;
	CURLcode c = CURLE_OK;
	long ct = o->connect_timeout_ms ? (long)o->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;

	SET(CURLOPT_PRIVATE, r);
	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/*
	 * Wait for a connection being set up rather than open a second one, to find out
	 * whether it multiplexes: TLS says so in its handshake (ALPN). Plain http is
	 * HTTP/1.1 here and would only be known from a response's headers, so one slow
	 * request would hold back every other request to that server.
	 */
	SET(CURLOPT_PIPEWAIT, r->https ? 1L : 0L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_TCP_KEEPIDLE, KEEPALIVE_IDLE_S);
	SET(CURLOPT_TCP_KEEPINTVL, KEEPALIVE_INTVL_S);
	/* no Accept-Encoding: the API server streams plain JSON, watches included */
	SET(CURLOPT_ACCEPT_ENCODING, (char *)NULL);
	SET(CURLOPT_CONNECTTIMEOUT_MS, ct);
	SET(CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, r);
	if (!strcmp(r->method, "HEAD"))
		SET(CURLOPT_NOBODY, 1L);
	else
		SET(CURLOPT_CUSTOMREQUEST, r->method);
	if (o->body || method_sends_body(r->method)) {
		/* the size first, so COPYPOSTFIELDS copies that many bytes, NULs included */
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(o->body ? o->body_len : 0));
		SET(CURLOPT_COPYPOSTFIELDS, o->body ? o->body : "");
	}
	if (r->headers)
		SET(CURLOPT_HTTPHEADER, r->headers);
	if (r->connect_to)
		SET(CURLOPT_CONNECT_TO, r->connect_to);
	if (o->user_agent)
		SET(CURLOPT_USERAGENT, o->user_agent);
	if (o->basic_user) {
		SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SET(CURLOPT_USERNAME, o->basic_user);
		SET(CURLOPT_PASSWORD, o->basic_password ? o->basic_password : "");
	}
	if (c == CURLE_OK)
		c = set_tls(e, o->tls);
	return c;
}

#undef SET

/* A new request of h (not yet queued), or NULL on ENOMEM. */
static struct kl_http_req *req_new(struct kl_http *h, const char *method, kl_http_done_cb done_cb,
				   void *arg)
{
	struct kl_http_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->h = h;
	kl_list_init(&r->link);
	strcpy(r->method, method);
	r->done_cb = done_cb;
	r->arg = arg;
	r->retry_after_s = -1;
	r->easy = curl_easy_init();
	if (!r->easy) {
		free(r);
		return NULL;
	}
	return r;
}

/* Queues r with its options set (c), or frees it and returns the error. */
static int req_submit(struct kl_http_req *r, CURLcode c, struct kl_http_req **out)
{
	struct kl_http *h = r->h;

	if (c != CURLE_OK) {
		req_free(r);
		return errno_from_curl(c);
	}
	if (h->log)
		kl_log_v(h->log, 2, "http", "request", "method", r->method, "path", r->path);
	/* attached from the kick: libcurl refuses it inside its callbacks (data_cb) */
	kl_list_add_tail(&h->to_add, &r->link);
	kick(h);
	if (out)
		*out = r;
	return 0;
}

int kl_http_request(struct kl_http *h, const struct kl_http_opts *o, kl_http_data_cb data_cb,
		    kl_http_done_cb done_cb, void *arg, struct kl_http_req **out)
{
	struct kl_http_req *r;
	int rc;

	if (!h || !o || !o->url || !o->method || !*o->method)
		return -EINVAL;
	if (strlen(o->method) >= sizeof(r->method))
		return -EINVAL;
	if (h->closing)
		return -ESHUTDOWN;
	r = req_new(h, o->method, done_cb, arg);
	if (!r)
		return -ENOMEM;
	r->data_cb = data_cb;
	rc = set_url(r, o);
	if (!rc)
		rc = slist_add(&r->headers, o->headers);
	if (rc) {
		req_free(r);
		return rc;
	}
	return req_submit(r, set_options(r, o), out);
}

/* ------------------------------------------------------------------ mail */

static size_t on_read(char *buf, size_t size, size_t n, void *userp)
{
	struct kl_http_req *r = userp;
	size_t len = r->upload_len - r->upload_off;

	if (r->cancelled)
		return CURL_READFUNC_ABORT;
	if (len > size * n)
		len = size * n;
	memcpy(buf, r->upload + r->upload_off, len);
	r->upload_off += len;
	return len;
}

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (c == CURLE_OK)                                                                 \
			c = curl_easy_setopt(e, opt, val);                                         \
	} while (0)

static CURLcode set_mail_options(struct kl_http_req *r, const struct kl_http_mail_opts *o)
{
	CURL *e = r->easy;
	CURLcode c = CURLE_OK;

	SET(CURLOPT_PRIVATE, r);
	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS);
	SET(CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	SET(CURLOPT_MAIL_FROM, o->from);
	SET(CURLOPT_MAIL_RCPT, r->rcpt);
	SET(CURLOPT_UPLOAD, 1L);
	SET(CURLOPT_READFUNCTION, on_read);
	SET(CURLOPT_READDATA, r);
	SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->upload_len);
	if (o->starttls)
		SET(CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (o->ca_file) {
		SET(CURLOPT_CAINFO, o->ca_file);
		SET(CURLOPT_CAPATH, (char *)NULL);
	}
	if (o->user) {
		SET(CURLOPT_USERNAME, o->user);
		SET(CURLOPT_PASSWORD, o->password ? o->password : "");
	}
	return c;
}

#undef SET

int kl_http_mail(struct kl_http *h, const struct kl_http_mail_opts *o, kl_http_done_cb done_cb,
		 void *arg, struct kl_http_req **out)
{
	struct kl_http_req *r;

	if (!h || !o || !o->url || !o->from || !o->rcpt || !o->rcpt[0] || !o->msg)
		return -EINVAL;
	if (strncasecmp(o->url, "smtp://", 7) && strncasecmp(o->url, "smtps://", 8))
		return -EINVAL;
	if (h->closing)
		return -ESHUTDOWN;
	r = req_new(h, "MAIL", done_cb, arg);
	if (!r)
		return -ENOMEM;
	r->url = strdup(o->url);
	r->path = strdup(""); /* the log names no part of a mail URL */
	r->upload = malloc(o->msg_len ? o->msg_len : 1);
	if (!r->url || !r->path || !r->upload || slist_add(&r->rcpt, o->rcpt)) {
		req_free(r);
		return -ENOMEM;
	}
	memcpy(r->upload, o->msg, o->msg_len);
	r->upload_len = o->msg_len;
	return req_submit(r, set_mail_options(r, o), out);
}

const char *kl_http_content_type(const struct kl_http_req *r)
{
	return r->content_type;
}

void kl_http_cancel(struct kl_http_req *r)
{
	struct kl_http *h;

	if (!r || r->cancelled)
		return;
	h = r->h;
	r->cancelled = true;
	kl_list_del(&r->link);
	kl_list_add_tail(&h->cancelled, &r->link);
	kick(h);
}
