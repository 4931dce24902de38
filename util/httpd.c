/*
 * util/httpd.c - the small HTTP/1.1 server of httpd.h, on libuv and http-parser.
 *
 * Why it is built this way: it faces the network, so every resource a client can make
 * us hold is bounded, and the lifetime rules of libuv are followed to the letter.
 *
 * DESIGN
 * - One struct conn per accepted socket, with its uv_tcp_t, uv_timer_t and uv_shutdown_t
 *   embedded; it is freed in the last of its two close callbacks. The server counts those
 *   structs plus its listener in `handles` and frees itself when that count reaches zero
 *   after kl_httpd_close().
 * - Input goes into a fixed per-connection buffer (IN_BUF_SIZE), allocated at the first
 *   read, so that a socket that never sends costs about 1 KiB. The parser is paused at
 *   every message end, so exactly one request per connection is with a handler at a time;
 *   bytes after it (pipelined requests) stay in the buffer, and reading stops once the
 *   buffer is full. Parsing resumes only after the response left the write queue, so a
 *   client that pipelines without reading cannot grow our memory.
 * - A request owns one growing buffer with every string it exposes (URL, headers, body,
 *   peer) and an offset table for the headers. When its connection goes away the request
 *   is detached (conn = NULL) and kl_httpd_respond() then just frees it: a request never
 *   points at the server, so it may outlive it.
 * - One timer per connection, whose meaning follows the state: idle (waiting for a
 *   request), request (first byte to last, 408), write (response not drained), linger
 *   (after our FIN, reading and discarding so that unread input does not turn our close
 *   into a reset that destroys the error response), kick (resume parsing on the next loop
 *   turn, so that a handler never runs nested inside kl_httpd_respond()).
 * - At max_connections a new connection first reclaims a slot, as nginx reclaims keep-alive
 *   connections: the connection that has waited longest for a request (no request byte since
 *   its last answer, nothing being written, no handler holding a request) is closed. Those
 *   connections sit on an intrusive list in the order they became idle, so the choice is
 *   O(1). Only when every held connection is busy is the new one refused (503). Without this,
 *   256 sockets that never send a byte would refuse every /healthz probe for the idle
 *   timeout, and a client reconnecting would keep it so.
 * - The linger after an error answer is bounded in bytes as well as in time
 *   (LINGER_MAX_BYTES): a client that ignores the answer and keeps streaming is cut off
 *   after that much, with a reset then, since its answer and our FIN went out first.
 * - Refusals under attack are logged at -v 2 only; request bodies, queries and header
 *   values (Authorization) are never logged.
 * - libuv writes with write(2): the process must ignore SIGPIPE (cmd/kloompas does), or a
 *   client resetting its connection kills it.
 */
#include "util/httpd.h"
#include "util/container_of.h"
#include "util/list.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#define COMP "httpd"
#define IN_BUF_SIZE (16 * 1024)
#define LINGER_MAX_MS 2000
/* input discarded after an error answer before we stop being polite and close */
#define LINGER_MAX_BYTES (64 * 1024)
#define LISTEN_BACKLOG 511
#define DEFAULT_CONTENT_TYPE "text/plain; charset=utf-8"
#define NO_OFFSET SIZE_MAX

struct route {
	char *path; /* owned */
	unsigned methods;
	kl_httpd_handler_cb cb;
	void *arg;
};

struct kl_httpd {
	uv_loop_t *loop;
	uv_tcp_t listener;
	const char *name;	  /* borrowed */
	const struct kl_log *log; /* borrowed */
	struct kl_httpd_limits lim;
	struct route *routes; /* owned array */
	size_t nroutes;
	struct conn *conns;  /* every conn not yet freed */
	struct kl_link idle; /* conns waiting for a request, longest waiting first */
	unsigned nopen;	     /* conns not yet closed (close_hard), against max_connections */
	unsigned handles;    /* listener + conns + refused sockets not yet freed */
	int listening;
	int closing;
	int port;
	kl_httpd_closed_cb closed_cb;
	void *closed_arg;
};

enum conn_state {
	ST_READ,       /* idle, or reading a request */
	ST_HANDLING,   /* the request is with its handler (conn->pending) */
	ST_WAIT_WRITE, /* answered; the next request waits for the write queue to drain */
	ST_CLOSING,    /* last response queued, shutdown requested */
	ST_LINGER,     /* FIN sent; discarding input until EOF or the timer */
	ST_CLOSED,     /* uv_close() called on both handles */
};

enum timer_kind { T_NONE, T_IDLE, T_REQUEST, T_WRITE, T_LINGER, T_KICK };

enum last_cb { CB_NONE, CB_URL, CB_FIELD, CB_VALUE };

struct hdr {
	size_t name;  /* offset of the lower-cased, NUL-terminated name */
	size_t value; /* offset of the value; NO_OFFSET when the parser gave none */
};

struct kl_httpd_req {
	struct conn *conn; /* NULL once the connection is gone */
	unsigned method;   /* KL_HTTP_* bit, 0 for any other method */
	const char *method_name; /* static string from http-parser, for logs */
	int keep_alive;
	int http10;
	int status;	/* nonzero: answer this instead of calling a handler */
	unsigned allow; /* methods of the path, for 405 */
	kl_httpd_handler_cb cb;
	void *arg;
	size_t url, path, query, body, peer; /* offsets into buf; NO_OFFSET when absent */
	size_t body_len;
	struct hdr *hdrs; /* owned */
	size_t nhdrs, hdrs_cap;
	char *buf; /* owned: every string of the request */
	size_t len, cap;
};

struct conn {
	struct kl_httpd *srv;
	struct conn *prev, *next;
	struct kl_link idle_link; /* on srv->idle while waiting for a request, else alone */
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_shutdown_t shut;
	int closes; /* close callbacks still to come */
	enum conn_state state;
	enum timer_kind timer_kind;
	http_parser parser;
	struct kl_httpd_req *cur;     /* being parsed; owned */
	struct kl_httpd_req *pending; /* with the handler; owned by the handler */
	int fail;		      /* status set by a parser callback to reject */
	int in_process;
	int reading;
	int eof;
	int headers_done;
	enum last_cb last;
	const char *exec_base; /* start of the bytes given to http_parser_execute */
	size_t head_seen;      /* head bytes consumed by earlier executes */
	size_t trailer_bytes;
	size_t discarded; /* input dropped since enter_closing(), against LINGER_MAX_BYTES */
	char peer[64];
	size_t in_pos, in_len;
	char *in; /* owned, IN_BUF_SIZE bytes; NULL until the first read */
};

struct wbuf {
	uv_write_t req;
	struct conn *conn;
	char data[];
};

struct refused {
	struct kl_httpd *srv;
	uv_tcp_t tcp;
};

static void process(struct conn *c);
static void update_reading(struct conn *c);
static void close_hard(struct conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

/* ---------------------------------------------------------------- small helpers */

static const char *reason(int status)
{
	const char *s = http_status_str((enum http_status)status);

	if (!s || s[0] == '<')
		return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
	return s;
}

static void log_conn(const struct conn *c, const char *msg, int status)
{
	char st[16];

	snprintf(st, sizeof(st), "%d", status);
	kl_log_v(c->srv->log, 2, COMP, msg, "server", c->srv->name, "peer", c->peer, "status", st);
}

static void srv_unref(struct kl_httpd *s)
{
	kl_httpd_closed_cb cb;
	void *arg;
	size_t i;

	assert(s->handles > 0);
	if (--s->handles > 0 || !s->closing)
		return;
	cb = s->closed_cb;
	arg = s->closed_arg;
	for (i = 0; i < s->nroutes; i++)
		free(s->routes[i].path);
	free(s->routes);
	free(s);
	if (cb)
		cb(arg);
}

static void on_timer(uv_timer_t *t);

static void timer_set(struct conn *c, enum timer_kind kind, uint64_t ms)
{
	/* a limit of 0 means "no limit" for the idle, request and write timers */
	if (ms == 0 && kind != T_KICK) {
		c->timer_kind = T_NONE;
		uv_timer_stop(&c->timer);
		return;
	}
	c->timer_kind = kind;
	uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void timer_clear(struct conn *c)
{
	c->timer_kind = T_NONE;
	uv_timer_stop(&c->timer);
}

/* ---------------------------------------------------------------- requests */

static struct kl_httpd_req *req_new(struct conn *c)
{
	struct kl_httpd_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cap = 512;
	r->buf = malloc(r->cap);
	if (!r->buf) {
		free(r);
		return NULL;
	}
	r->conn = c;
	r->url = r->path = r->query = r->body = r->peer = NO_OFFSET;
	return r;
}

static void req_free(struct kl_httpd_req *r)
{
	if (!r)
		return;
	free(r->hdrs);
	free(r->buf);
	free(r);
}

static int req_reserve(struct kl_httpd_req *r, size_t n)
{
	size_t cap = r->cap;
	char *p;

	if (n <= r->cap - r->len)
		return 0;
	while (cap - r->len < n) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	p = realloc(r->buf, cap);
	if (!p)
		return -ENOMEM;
	r->buf = p;
	r->cap = cap;
	return 0;
}

static int req_append(struct kl_httpd_req *r, const char *data, size_t n, int lower)
{
	size_t i;

	if (req_reserve(r, n) < 0)
		return -ENOMEM;
	if (lower) {
		for (i = 0; i < n; i++) {
			char ch = data[i];

			r->buf[r->len + i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
		}
	} else {
		memcpy(r->buf + r->len, data, n);
	}
	r->len += n;
	return 0;
}

static int req_add_header(struct kl_httpd_req *r)
{
	struct hdr *h;

	if (r->nhdrs == r->hdrs_cap) {
		size_t cap = r->hdrs_cap ? r->hdrs_cap * 2 : 16;

		h = realloc(r->hdrs, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		r->hdrs = h;
		r->hdrs_cap = cap;
	}
	h = &r->hdrs[r->nhdrs++];
	h->name = r->len;
	h->value = NO_OFFSET;
	return 0;
}

static const char *req_str(const struct kl_httpd_req *r, size_t off, const char *absent)
{
	return off == NO_OFFSET ? absent : r->buf + off;
}

/* ---------------------------------------------------------------- writing */

static void on_write(uv_write_t *w, int status)
{
	struct wbuf *b = container_of(w, struct wbuf, req);
	struct conn *c = b->conn;

	free(b);
	if (c->state == ST_CLOSED)
		return;
	if (status < 0) {
		kl_log_v(c->srv->log, 3, COMP, "write failed", "server", c->srv->name, "peer",
			 c->peer, "error", uv_strerror(status));
		close_hard(c);
		return;
	}
	if (c->state == ST_WAIT_WRITE &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0)
		process(c);
}

/* Queues len bytes of b->data; takes ownership of b (freed in on_write or here). */
static int queue_write(struct conn *c, struct wbuf *b, size_t len)
{
	uv_buf_t buf;
	int rc;

	if (len > UINT_MAX) {
		free(b);
		return -E2BIG;
	}
	b->conn = c;
	buf = uv_buf_init(b->data, (unsigned)len);
	rc = uv_write(&b->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
	if (rc < 0)
		free(b);
	return rc;
}

struct resp {
	int status;
	const char *content_type;
	const char *extra_headers;
	const char *body;
	size_t len;
	int head;	     /* HEAD: Content-Length of the body, no body */
	int close;	     /* "Connection: close" */
	int keep_alive_10;   /* HTTP/1.0 keep-alive: say so, or the client closes */
};

/* Builds the response into one buffer and queues it; the body is copied. */
static int send_response(struct conn *c, const struct resp *p)
{
	int nobody = p->status < 200 || p->status == 204 || p->status == 304;
	const char *conn_hdr = p->close		 ? "Connection: close\r\n"
			       : p->keep_alive_10 ? "Connection: keep-alive\r\n"
						  : "";
	const char *ctype = p->content_type ? p->content_type : DEFAULT_CONTENT_TYPE;
	const char *extra = p->extra_headers ? p->extra_headers : "";
	size_t blen = (nobody || p->head) ? 0 : p->len;
	char clen[48] = "";
	struct wbuf *b;
	int hlen;

	if (!nobody)
		snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", p->len);
	hlen = snprintf(NULL, 0, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s%s%s\r\n", p->status,
			reason(p->status), ctype, clen, conn_hdr, extra);
	if (hlen < 0)
		return -EINVAL;
	if (blen > SIZE_MAX - sizeof(*b) - (size_t)hlen - 1)
		return -ENOMEM;
	b = malloc(sizeof(*b) + (size_t)hlen + 1 + blen);
	if (!b)
		return -ENOMEM;
	snprintf(b->data, (size_t)hlen + 1, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s%s%s\r\n",
		 p->status, reason(p->status), ctype, clen, conn_hdr, extra);
	if (blen)
		memcpy(b->data + hlen, p->body, blen);
	return queue_write(c, b, (size_t)hlen + blen);
}

static int send_raw(struct conn *c, const char *s)
{
	size_t n = strlen(s);
	struct wbuf *b = malloc(sizeof(*b) + n);

	if (!b)
		return -ENOMEM;
	memcpy(b->data, s, n);
	return queue_write(c, b, n);
}

/* ---------------------------------------------------------------- closing */

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct kl_httpd *s = c->srv;

	if (--c->closes > 0)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->in);
	free(c);
	srv_unref(s);
}

/*
 * Closes at once: queued writes are cancelled. A request with its handler is detached
 * and stays valid; kl_httpd_respond() will just free it.
 */
static void close_hard(struct conn *c)
{
	if (c->state == ST_CLOSED)
		return;
	c->state = ST_CLOSED;
	kl_list_del(&c->idle_link);
	if (c->pending) {
		c->pending->conn = NULL;
		c->pending = NULL;
	}
	req_free(c->cur);
	c->cur = NULL;
	c->srv->nopen--;
	c->closes = 2;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static uint64_t write_timeout(const struct conn *c)
{
	return c->srv->lim.idle_timeout_ms;
}

static void on_shutdown(uv_shutdown_t *sr, int status)
{
	struct conn *c = container_of(sr, struct conn, shut);
	uint64_t ms = c->srv->lim.request_timeout_ms;

	if (c->state == ST_CLOSED)
		return;
	if (status < 0 || c->eof || c->discarded >= LINGER_MAX_BYTES) {
		close_hard(c);
		return;
	}
	c->state = ST_LINGER;
	if (ms == 0 || ms > LINGER_MAX_MS)
		ms = LINGER_MAX_MS;
	timer_set(c, T_LINGER, ms);
}

/*
 * The response queued last is the final one: FIN once it is written (uv_shutdown waits
 * for the write queue), then linger. Input from now on is read and dropped.
 */
static void enter_closing(struct conn *c)
{
	c->state = ST_CLOSING;
	kl_list_del(&c->idle_link);
	c->discarded = 0;
	c->in_pos = c->in_len = 0;
	req_free(c->cur);
	c->cur = NULL;
	timer_set(c, T_WRITE, write_timeout(c));
	if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
		close_hard(c);
		return;
	}
	update_reading(c);
}

/* Answers an error found while reading a request and closes the connection. */
static void reject(struct conn *c, int status)
{
	char body[64];
	struct resp p = { .status = status, .close = 1 };

	log_conn(c, "request refused", status);
	snprintf(body, sizeof(body), "%s\n", reason(status));
	p.body = body;
	p.len = strlen(body);
	if (send_response(c, &p) < 0) {
		close_hard(c);
		return;
	}
	enter_closing(c);
}

/* ---------------------------------------------------------------- parsing */

static int fail(struct conn *c, int status)
{
	c->fail = status;
	return -1;
}

/* Request line + headers so far, up to the end of the data at..at+len, within the limit? */
static int head_check(struct conn *c, const char *at, size_t len)
{
	size_t used = c->head_seen + (size_t)(at + len - c->exec_base);

	if (used > c->srv->lim.max_header_bytes)
		return fail(c, 431);
	return 0;
}

/* Trailers after a chunked body are counted against the header limit and dropped. */
static int trailer_check(struct conn *c, size_t len)
{
	c->trailer_bytes += len;
	if (c->trailer_bytes > c->srv->lim.max_header_bytes)
		return fail(c, 431);
	return 0;
}

static int end_string(struct conn *c)
{
	if (c->last == CB_NONE)
		return 0;
	c->last = CB_NONE;
	return req_append(c->cur, "", 1, 0);
}

static int on_message_begin(http_parser *p)
{
	struct conn *c = p->data;

	assert(!c->cur);
	/* a request byte: no longer a connection that may be closed to make room */
	kl_list_del(&c->idle_link);
	c->cur = req_new(c);
	if (!c->cur)
		return fail(c, 503);
	c->headers_done = 0;
	c->last = CB_NONE;
	c->trailer_bytes = 0;
	timer_set(c, T_REQUEST, c->srv->lim.request_timeout_ms);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	struct kl_httpd_req *r = c->cur;

	if (head_check(c, at, len))
		return -1;
	if (c->last != CB_URL) {
		if (end_string(c) < 0)
			return fail(c, 503);
		r->url = r->len;
		c->last = CB_URL;
	}
	if (req_append(r, at, len, 0) < 0)
		return fail(c, 503);
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	struct kl_httpd_req *r = c->cur;

	if (c->headers_done)
		return trailer_check(c, len);
	if (head_check(c, at, len))
		return -1;
	if (c->last != CB_FIELD) {
		if (end_string(c) < 0 || req_add_header(r) < 0)
			return fail(c, 503);
		c->last = CB_FIELD;
	}
	if (req_append(r, at, len, 1) < 0)
		return fail(c, 503);
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	struct kl_httpd_req *r = c->cur;

	if (c->headers_done)
		return trailer_check(c, len);
	if (head_check(c, at, len))
		return -1;
	if (c->last != CB_VALUE) {
		if (c->last != CB_FIELD)
			return fail(c, 400);
		if (end_string(c) < 0)
			return fail(c, 503);
		r->hdrs[r->nhdrs - 1].value = r->len;
		c->last = CB_VALUE;
	}
	if (req_append(r, at, len, 0) < 0)
		return fail(c, 503);
	return 0;
}

static unsigned method_bit(unsigned m)
{
	switch (m) {
	case HTTP_GET:
		return KL_HTTP_GET;
	case HTTP_HEAD:
		return KL_HTTP_HEAD;
	case HTTP_POST:
		return KL_HTTP_POST;
	case HTTP_PUT:
		return KL_HTTP_PUT;
	case HTTP_DELETE:
		return KL_HTTP_DELETE;
	default:
		return 0;
	}
}

/* GET implies HEAD. */
static unsigned route_allows(unsigned methods)
{
	return (methods & KL_HTTP_GET) ? methods | KL_HTTP_HEAD : methods;
}

/* Splits the request target into path and query, in place in the request buffer. */
static int split_url(struct kl_httpd_req *r, int is_connect)
{
	struct http_parser_url u;
	char *url = r->buf + r->url;
	size_t n = strlen(url);

	http_parser_url_init(&u);
	if (n > UINT16_MAX || http_parser_parse_url(url, n, is_connect, &u) != 0)
		return -EINVAL;
	if (u.field_set & (1 << UF_QUERY)) {
		url[u.field_data[UF_QUERY].off + u.field_data[UF_QUERY].len] = '\0';
		r->query = r->url + u.field_data[UF_QUERY].off;
	}
	if (u.field_set & (1 << UF_PATH)) {
		url[u.field_data[UF_PATH].off + u.field_data[UF_PATH].len] = '\0';
		r->path = r->url + u.field_data[UF_PATH].off;
	}
	return 0;
}

static void find_route(struct conn *c, struct kl_httpd_req *r)
{
	const struct kl_httpd *s = c->srv;
	const char *path = kl_httpd_req_path(r);
	size_t i;

	for (i = 0; i < s->nroutes; i++) {
		const struct route *rt = &s->routes[i];

		if (strcmp(rt->path, path) != 0)
			continue;
		if (!(r->method & route_allows(rt->methods))) {
			r->status = 405;
			r->allow = route_allows(rt->methods);
			return;
		}
		r->cb = rt->cb;
		r->arg = rt->arg;
		return;
	}
	r->status = 404;
}

static int on_headers_complete(http_parser *p)
{
	struct conn *c = p->data;
	struct kl_httpd_req *r = c->cur;
	const char *expect;
	int has_body;

	if (end_string(c) < 0)
		return fail(c, 503);
	c->headers_done = 1;
	if (r->url == NO_OFFSET || split_url(r, p->method == HTTP_CONNECT) < 0)
		return fail(c, 400);
	r->method = method_bit(p->method);
	r->method_name = http_method_str((enum http_method)p->method);
	r->http10 = p->http_major == 1 && p->http_minor == 0;
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->srv->lim.max_body_bytes)
		return fail(c, 413);
	find_route(c, r);
	r->body = r->len;

	has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length);
	expect = kl_httpd_req_header(r, "expect");
	if (has_body && !r->status && !r->http10 && expect && !strcasecmp(expect, "100-continue"))
		send_raw(c, "HTTP/1.1 100 Continue\r\n\r\n");
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	struct kl_httpd_req *r = c->cur;

	if (len > c->srv->lim.max_body_bytes - r->body_len)
		return fail(c, 413);
	if (req_append(r, at, len, 0) < 0)
		return fail(c, 503);
	r->body_len += len;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct conn *c = p->data;
	struct kl_httpd_req *r = c->cur;

	/* the body is NUL-terminated for convenience; then the peer, which outlives c */
	if (req_append(r, "", 1, 0) < 0)
		return fail(c, 503);
	r->peer = r->len;
	if (req_append(r, c->peer, strlen(c->peer) + 1, 0) < 0)
		return fail(c, 503);
	r->keep_alive = http_should_keep_alive(p) && !p->upgrade && !c->srv->closing;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

static void answer_error(struct kl_httpd_req *r)
{
	char body[64], allow[80] = "";
	unsigned m = r->allow;

	snprintf(body, sizeof(body), "%s\n", reason(r->status));
	if (r->status == 405) {
		/* "Allow: GET, HEAD, POST, PUT, DELETE\r\n" at most */
		strcpy(allow, "Allow:");
		if (m & KL_HTTP_GET)
			strcat(allow, " GET,");
		if (m & KL_HTTP_HEAD)
			strcat(allow, " HEAD,");
		if (m & KL_HTTP_POST)
			strcat(allow, " POST,");
		if (m & KL_HTTP_PUT)
			strcat(allow, " PUT,");
		if (m & KL_HTTP_DELETE)
			strcat(allow, " DELETE,");
		if (allow[strlen(allow) - 1] == ',')
			allow[strlen(allow) - 1] = '\0';
		strcat(allow, "\r\n");
	}
	kl_httpd_respond(r, r->status, NULL, allow, body, strlen(body));
}

/* The parser paused at a message end: hand the request over. */
static void dispatch(struct conn *c)
{
	struct kl_httpd_req *r = c->cur;

	c->cur = NULL;
	timer_clear(c);
	c->state = ST_HANDLING;
	c->pending = r;
	if (r->status) {
		answer_error(r); /* logged at -v 3 with the other requests */
		return;
	}
	r->cb(r, r->arg);
}

/* Runs the parser over buffered bytes; may dispatch a request or reject the connection. */
static void parse_some(struct conn *c)
{
	const char *p = c->in + c->in_pos;
	size_t n = c->in_len - c->in_pos, done;
	enum http_errno e;

	c->exec_base = p;
	done = http_parser_execute(&c->parser, &parser_settings, p, n);
	c->exec_base = NULL;
	c->in_pos += done;
	e = HTTP_PARSER_ERRNO(&c->parser);
	if (c->fail) {
		reject(c, c->fail);
		return;
	}
	if (e == HPE_PAUSED) {
		http_parser_pause(&c->parser, 0);
		dispatch(c);
		return;
	}
	if (e != HPE_OK || done != n) {
		reject(c, e == HPE_HEADER_OVERFLOW ? 431 : 400);
		return;
	}
	if (!c->headers_done) {
		/* bytes no callback saw (padding, blank lines) still count */
		c->head_seen += done;
		if (c->head_seen > c->srv->lim.max_header_bytes)
			reject(c, 431);
	}
}

/* Between requests: wait for the next one. */
static void enter_read(struct conn *c)
{
	c->state = ST_READ;
	c->head_seen = 0;
	c->headers_done = 0;
	kl_list_del(&c->idle_link);
	kl_list_add_tail(&c->srv->idle, &c->idle_link);
	timer_set(c, T_IDLE, c->srv->lim.idle_timeout_ms);
}

/*
 * Parses what is buffered while the connection is ready for a request. Never nested:
 * a handler answering at once makes the loop here go on with the next request.
 */
static void process(struct conn *c)
{
	if (c->in_process)
		return;
	c->in_process = 1;
	for (;;) {
		if (c->state == ST_WAIT_WRITE) {
			if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > 0) {
				if (c->timer_kind != T_WRITE)
					timer_set(c, T_WRITE, write_timeout(c));
				break;
			}
			enter_read(c);
		}
		if (c->state != ST_READ || c->in_pos == c->in_len)
			break;
		parse_some(c);
	}
	c->in_process = 0;
	if (c->in_pos == c->in_len)
		c->in_pos = c->in_len = 0;
	update_reading(c);
}

/* ---------------------------------------------------------------- reading */

static void update_reading(struct conn *c)
{
	int want;

	switch (c->state) {
	case ST_READ:
		want = 1;
		break;
	case ST_CLOSING:
	case ST_LINGER:
		want = c->discarded < LINGER_MAX_BYTES;
		break;
	case ST_HANDLING:
	case ST_WAIT_WRITE:
		/* hold pipelined bytes, but only as many as the buffer takes */
		want = c->in_len - c->in_pos < IN_BUF_SIZE;
		break;
	default:
		return;
	}
	if (c->eof)
		want = 0;
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
			close_hard(c);
			return;
		}
		c->reading = 1;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	if (!c->in && !(c->in = malloc(IN_BUF_SIZE))) {
		*buf = uv_buf_init(NULL, 0); /* UV_ENOBUFS: on_read closes */
		return;
	}
	if (c->in_pos > 0 && c->in_len == IN_BUF_SIZE) {
		memmove(c->in, c->in + c->in_pos, c->in_len - c->in_pos);
		c->in_len -= c->in_pos;
		c->in_pos = 0;
	}
	/* a zero-length buffer makes libuv report UV_ENOBUFS, handled in on_read */
	*buf = uv_buf_init(c->in + c->in_len, (unsigned)(IN_BUF_SIZE - c->in_len));
}

/* EOF or a read error. A client that half-closes has gone, as far as we are concerned. */
static void on_read_end(struct conn *c, ssize_t err)
{
	c->eof = 1;
	update_reading(c);
	if (err != UV_EOF) {
		kl_log_v(c->srv->log, 3, COMP, "read failed", "server", c->srv->name, "peer",
			 c->peer, "error", uv_strerror((int)err));
		close_hard(c);
		return;
	}
	switch (c->state) {
	case ST_WAIT_WRITE:
		/* the answer is queued: let it go out, then close */
		enter_closing(c);
		break;
	case ST_CLOSING:
		if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0)
			close_hard(c);
		break;
	default:
		close_hard(c);
		break;
	}
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;

	(void)buf;
	if (c->state == ST_CLOSED || nread == 0)
		return;
	if (nread == UV_ENOBUFS && !c->in) {
		kl_log_warn(c->srv->log, COMP, "out of memory reading", "server", c->srv->name);
		close_hard(c);
		return;
	}
	if (nread == UV_ENOBUFS) {
		c->reading = 0;
		uv_read_stop(st);
		return;
	}
	if (nread < 0) {
		on_read_end(c, nread);
		return;
	}
	switch (c->state) {
	case ST_READ:
		c->in_len += (size_t)nread;
		process(c);
		break;
	case ST_HANDLING:
	case ST_WAIT_WRITE:
		c->in_len += (size_t)nread;
		update_reading(c);
		break;
	default:
		/* closing: dropped, up to LINGER_MAX_BYTES */
		c->discarded += (size_t)nread;
		if (c->discarded < LINGER_MAX_BYTES)
			break;
		kl_log_v(c->srv->log, 2, COMP, "input after the answer cut off", "server",
			 c->srv->name, "peer", c->peer);
		if (c->state == ST_LINGER)
			close_hard(c); /* answer and FIN are out: a reset cannot destroy them */
		else
			update_reading(c); /* stops; on_shutdown() closes once the FIN is out */
		break;
	}
}

static void on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;
	enum timer_kind kind = c->timer_kind;

	c->timer_kind = T_NONE;
	switch (kind) {
	case T_IDLE:
		kl_log_v(c->srv->log, 3, COMP, "idle connection closed", "server", c->srv->name,
			 "peer", c->peer);
		close_hard(c);
		break;
	case T_REQUEST:
		reject(c, 408);
		break;
	case T_WRITE:
		log_conn(c, "response not read in time", 0);
		close_hard(c);
		break;
	case T_LINGER:
		close_hard(c);
		break;
	case T_KICK:
		process(c);
		break;
	case T_NONE:
		break;
	}
}

/* ---------------------------------------------------------------- accepting */

static void on_refused_closed(uv_handle_t *h)
{
	struct refused *r = h->data;
	struct kl_httpd *s = r->srv;

	free(r);
	srv_unref(s);
}

/* Over max_connections: accept, try a 503 without waiting, close. */
static void refuse(struct kl_httpd *s)
{
	static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
				  "Content-Type: " DEFAULT_CONTENT_TYPE "\r\n"
				  "Content-Length: 20\r\n"
				  "Connection: close\r\n\r\n"
				  "Service Unavailable\n";
	struct refused *r = malloc(sizeof(*r));
	uv_buf_t buf = uv_buf_init((char *)msg, sizeof(msg) - 1);

	if (!r || uv_tcp_init(s->loop, &r->tcp) < 0) {
		/* the pending socket stays in the backlog; nothing else to do without memory */
		free(r);
		kl_log_warn(s->log, COMP, "out of memory accepting", "server", s->name);
		return;
	}
	r->srv = s;
	r->tcp.data = r;
	s->handles++;
	if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&r->tcp) == 0) {
		uv_try_write((uv_stream_t *)&r->tcp, &buf, 1);
		kl_log_v(s->log, 2, COMP, "connection refused", "server", s->name, "reason",
			 "max connections");
	}
	uv_close((uv_handle_t *)&r->tcp, on_refused_closed);
}

static void peer_name(uv_tcp_t *tcp, char *out, size_t len)
{
	struct sockaddr_storage ss;
	int n = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "?";

	snprintf(out, len, "unknown");
	if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &n) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

		uv_ip4_name(a, ip, sizeof(ip));
		snprintf(out, len, "%s:%u", ip, ntohs(a->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

		uv_ip6_name(a, ip, sizeof(ip));
		snprintf(out, len, "[%s]:%u", ip, ntohs(a->sin6_port));
	}
}

static void on_connection(uv_stream_t *ls, int status)
{
	struct kl_httpd *s = ls->data;
	struct conn *c;

	if (status < 0) {
		kl_log_v(s->log, 2, COMP, "accept failed", "server", s->name, "error",
			 uv_strerror(status));
		return;
	}
	if (s->nopen >= s->lim.max_connections && !kl_list_empty(&s->idle)) {
		struct conn *old = container_of(s->idle.next, struct conn, idle_link);

		kl_log_v(s->log, 2, COMP, "idle connection closed to make room", "server", s->name,
			 "peer", old->peer);
		close_hard(old);
	}
	if (s->nopen >= s->lim.max_connections) {
		refuse(s);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		refuse(s);
		return;
	}
	c->srv = s;
	kl_list_init(&c->idle_link);
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->handles++;
	s->nopen++;
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
		close_hard(c);
		return;
	}
	peer_name(&c->tcp, c->peer, sizeof(c->peer));
	uv_tcp_nodelay(&c->tcp, 1);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	kl_log_v(s->log, 3, COMP, "connection accepted", "server", s->name, "peer", c->peer);
	enter_read(c);
	update_reading(c);
}

/* ---------------------------------------------------------------- public API */

void kl_httpd_limits_default(struct kl_httpd_limits *l)
{
	l->max_header_bytes = 8 * 1024;
	l->max_body_bytes = 64 * 1024;
	l->max_connections = 256;
	l->idle_timeout_ms = 60 * 1000;
	l->request_timeout_ms = 10 * 1000;
}

struct kl_httpd *kl_httpd_new(uv_loop_t *loop, const char *name, const struct kl_httpd_limits *l,
			      const struct kl_log *log)
{
	struct kl_httpd *s = calloc(1, sizeof(*s));

	assert(log);
	if (!s)
		return NULL;
	s->loop = loop;
	s->name = name ? name : "httpd";
	s->log = log;
	if (l)
		s->lim = *l;
	else
		kl_httpd_limits_default(&s->lim);
	if (uv_tcp_init(loop, &s->listener) < 0) {
		free(s);
		return NULL;
	}
	s->listener.data = s;
	s->handles = 1;
	kl_list_init(&s->idle);
	return s;
}

int kl_httpd_route(struct kl_httpd *s, const char *path, unsigned methods, kl_httpd_handler_cb cb,
		   void *arg)
{
	struct route *rt;
	char *p;
	size_t i;

	if (!path || !cb || !methods)
		return -EINVAL;
	for (i = 0; i < s->nroutes; i++)
		if (strcmp(s->routes[i].path, path) == 0)
			return -EEXIST;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	rt = realloc(s->routes, (s->nroutes + 1) * sizeof(*rt));
	if (!rt) {
		free(p);
		return -ENOMEM;
	}
	s->routes = rt;
	rt[s->nroutes++] = (struct route){ .path = p, .methods = methods, .cb = cb, .arg = arg };
	return 0;
}

/* "HOST:PORT" or "[V6]:PORT" into addr; an empty HOST is every IPv4 address. */
static int parse_hostport(const char *hp, struct sockaddr_storage *addr, struct kl_error *err)
{
	char host[INET6_ADDRSTRLEN + 32];
	const char *h, *hend, *port;
	unsigned long pn = 0;
	int v6 = 0, rc;

	if (hp[0] == '[') {
		h = hp + 1;
		hend = strchr(h, ']');
		if (!hend || hend[1] != ':')
			goto bad_address;
		port = hend + 2;
		v6 = 1;
	} else {
		h = hp;
		hend = strrchr(hp, ':');
		if (!hend) {
			kl_error_set(err, NULL, 0, 0, "listen on %s: missing port", hp);
			return -EINVAL;
		}
		port = hend + 1;
		if (memchr(h, ':', (size_t)(hend - h)))
			goto bad_address; /* IPv6 needs brackets */
	}
	if (!*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port) ||
	    (pn = strtoul(port, NULL, 10)) > 65535) {
		kl_error_set(err, NULL, 0, 0, "listen on %s: invalid port", hp);
		return -EINVAL;
	}
	if ((size_t)(hend - h) >= sizeof(host))
		goto bad_address;
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	if (v6)
		rc = uv_ip6_addr(host, (int)pn, (struct sockaddr_in6 *)addr);
	else if (!host[0])
		rc = uv_ip4_addr("0.0.0.0", (int)pn, (struct sockaddr_in *)addr);
	else if (!strcmp(host, "localhost"))
		rc = uv_ip4_addr("127.0.0.1", (int)pn, (struct sockaddr_in *)addr);
	else
		rc = uv_ip4_addr(host, (int)pn, (struct sockaddr_in *)addr);
	if (rc == 0)
		return 0;
bad_address:
	kl_error_set(err, NULL, 0, 0, "listen on %s: invalid address", hp);
	return -EINVAL;
}

int kl_httpd_listen(struct kl_httpd *s, const char *hostport, struct kl_error *err)
{
	struct sockaddr_storage ss;
	int n = sizeof(ss), rc;
	char port[16];

	if (s->closing || s->listening) {
		kl_error_set(err, NULL, 0, 0, "listen on %s: server %s", hostport,
			     s->closing ? "closing" : "already listening");
		return -EBUSY;
	}
	memset(&ss, 0, sizeof(ss));
	rc = parse_hostport(hostport, &ss, err);
	if (rc < 0)
		return rc;
	rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->listener, LISTEN_BACKLOG, on_connection);
	if (rc < 0) {
		kl_error_set(err, NULL, 0, 0, "listen on %s: %s", hostport, uv_strerror(rc));
		return rc;
	}
	if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &n) == 0)
		s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	s->listening = 1;
	snprintf(port, sizeof(port), "%d", s->port);
	kl_log_info(s->log, COMP, "listening", "server", s->name, "address", hostport, "port",
		    port);
	return 0;
}

int kl_httpd_port(const struct kl_httpd *s)
{
	return s->port;
}

static void on_listener_closed(uv_handle_t *h)
{
	srv_unref(h->data);
}

void kl_httpd_close(struct kl_httpd *s, kl_httpd_closed_cb cb, void *arg)
{
	struct conn *c, *next;

	assert(!s->closing);
	s->closing = 1;
	s->closed_cb = cb;
	s->closed_arg = arg;
	uv_close((uv_handle_t *)&s->listener, on_listener_closed);
	for (c = s->conns; c; c = next) {
		next = c->next;
		close_hard(c);
	}
}

unsigned kl_httpd_req_method(const struct kl_httpd_req *r)
{
	return r->method;
}

const char *kl_httpd_req_path(const struct kl_httpd_req *r)
{
	return req_str(r, r->path, "/");
}

const char *kl_httpd_req_query(const struct kl_httpd_req *r)
{
	return req_str(r, r->query, "");
}

const char *kl_httpd_req_header(const struct kl_httpd_req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nhdrs; i++)
		if (strcasecmp(r->buf + r->hdrs[i].name, name) == 0)
			return req_str(r, r->hdrs[i].value, "");
	return NULL;
}

const char *kl_httpd_req_body(const struct kl_httpd_req *r, size_t *len)
{
	if (len)
		*len = r->body_len;
	return req_str(r, r->body, "");
}

const char *kl_httpd_req_peer(const struct kl_httpd_req *r)
{
	return req_str(r, r->peer, "unknown");
}

/* A header value or header lines must not smuggle in a line of their own. */
static int bad_header_text(const char *s, int lines)
{
	size_t n;

	if (!s)
		return 0;
	if (!lines)
		return strpbrk(s, "\r\n") != NULL;
	n = strlen(s);
	if (n && (n < 2 || strcmp(s + n - 2, "\r\n") != 0))
		return 1;
	return strstr(s, "\r\n\r\n") != NULL || s[0] == '\r';
}

static void log_request(const struct conn *c, const struct kl_httpd_req *r, int status)
{
	char st[16];

	if (c->srv->log->verbosity < 3)
		return;
	snprintf(st, sizeof(st), "%d", status);
	/* the path only: queries may carry tokens */
	kl_log_v(c->srv->log, 3, COMP, "request", "server", c->srv->name, "peer", c->peer,
		 "method", r->method_name ? r->method_name : "?", "path", kl_httpd_req_path(r),
		 "status", st);
}

int kl_httpd_respond(struct kl_httpd_req *r, int status, const char *content_type,
		     const char *extra_headers, const char *body, size_t len)
{
	struct conn *c = r->conn;
	struct resp p;
	int rc, err = 0;

	if (!c) {
		req_free(r);
		return -ENOTCONN;
	}
	assert(c->pending == r && c->state == ST_HANDLING);
	c->pending = NULL;
	p = (struct resp){ .status = status,
			   .content_type = content_type,
			   .extra_headers = extra_headers,
			   .body = body ? body : "",
			   .len = body ? len : 0,
			   .head = r->method == KL_HTTP_HEAD,
			   .close = !r->keep_alive,
			   .keep_alive_10 = r->keep_alive && r->http10 };
	if (status < 200 || status > 599 || bad_header_text(content_type, 0) ||
	    bad_header_text(extra_headers, 1) || (!body && len)) {
		err = -EINVAL;
		p.status = 500;
		p.content_type = NULL;
		p.extra_headers = NULL;
		p.body = "Internal Server Error\n";
		p.len = strlen(p.body);
	}
	rc = send_response(c, &p);
	log_request(c, r, p.status);
	req_free(r);
	if (rc < 0) {
		close_hard(c);
		return rc;
	}
	if (p.close) {
		enter_closing(c);
		return err;
	}
	c->state = ST_WAIT_WRITE;
	if (!c->in_process) {
		/* go on with the next request on a later loop turn, never nested in here */
		if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0)
			timer_set(c, T_KICK, 0);
		else
			timer_set(c, T_WRITE, write_timeout(c));
		update_reading(c);
	}
	return err;
}
