/*
 * util/httpd.h - a small HTTP/1.1 server inside the libuv loop (http-parser).
 *
 * It serves the operational endpoints (/metrics, /healthz, /livez, /readyz) and, in a
 * second instance on its own address, the chat-ops endpoints. It is exposed to
 * whatever can reach the pod, so every resource is bounded: header bytes (431),
 * body bytes (413), open connections, idle time between requests, the time a request
 * may take to arrive (slowloris) and the input read after an error answer. Garbage gets
 * 400 and the connection is closed; an unknown path 404; a known path with another
 * method 405 with Allow.
 * Keep-alive and pipelined requests are served in order.
 *
 * Handlers may answer at once or later (after an API call): the request stays valid
 * until kl_httpd_respond() is called on it, exactly once. If the client goes away
 * first, the respond call still must be made and then just frees the request.
 */
#ifndef KL_UTIL_HTTPD_H
#define KL_UTIL_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "util/error.h"
#include "util/log.h"

struct kl_httpd;
struct kl_httpd_req;

enum {
	KL_HTTP_GET = 1 << 0,
	KL_HTTP_HEAD = 1 << 1, /* served by GET handlers, body dropped */
	KL_HTTP_POST = 1 << 2,
	KL_HTTP_PUT = 1 << 3,
	KL_HTTP_DELETE = 1 << 4,
};

struct kl_httpd_limits {
	size_t max_header_bytes;     /* request line + headers; 431 past it (default 8 KiB) */
	size_t max_body_bytes;	     /* 413 past it (default 64 KiB) */
	/*
	 * Connections held at once (default 256). At the limit a new connection closes the
	 * one that has waited longest for a request (idle, keep-alive or never used); when
	 * every held connection is busy, the new one is sent a 503 and closed.
	 */
	unsigned max_connections;
	uint64_t idle_timeout_ms;    /* keep-alive connection with no request (default 60 s) */
	uint64_t request_timeout_ms; /* first byte to complete request (default 10 s) */
};

/* Default limits, documented above. */
void kl_httpd_limits_default(struct kl_httpd_limits *l);

/* Called on the loop thread for a complete request on a matching route. */
typedef void (*kl_httpd_handler_cb)(struct kl_httpd_req *req, void *arg);
typedef void (*kl_httpd_closed_cb)(void *arg);

/*
 * Returns a new server (not listening yet); NULL on ENOMEM. name is used in logs
 * ("metrics", "chatops") and borrowed. log is borrowed for the server's life.
 */
struct kl_httpd *kl_httpd_new(uv_loop_t *loop, const char *name, const struct kl_httpd_limits *l,
			      const struct kl_log *log);
/* Adds a route for an exact path; methods is a KL_HTTP_* mask. 0 or -ENOMEM/-EEXIST. */
int kl_httpd_route(struct kl_httpd *s, const char *path, unsigned methods, kl_httpd_handler_cb cb,
		   void *arg);
/*
 * Binds and listens on "HOST:PORT" ("0.0.0.0:9090", "127.0.0.1:0", "[::1]:8080").
 * Port 0 picks a free port (see kl_httpd_port). Returns 0 or a negative errno with
 * err naming the address and the reason.
 */
int kl_httpd_listen(struct kl_httpd *s, const char *hostport, struct kl_error *err);
/* The bound port, after kl_httpd_listen. */
int kl_httpd_port(const struct kl_httpd *s);
/*
 * Stops listening, closes every connection and frees the server once the last
 * handle is closed; then calls cb(arg) (cb may be NULL). Pending requests stay
 * valid until they are responded to.
 */
void kl_httpd_close(struct kl_httpd *s, kl_httpd_closed_cb cb, void *arg);

/* Request accessors: strings are valid until kl_httpd_respond(). */
unsigned kl_httpd_req_method(const struct kl_httpd_req *r);   /* one KL_HTTP_* bit */
const char *kl_httpd_req_path(const struct kl_httpd_req *r);  /* without the query */
const char *kl_httpd_req_query(const struct kl_httpd_req *r); /* "" when none */
/* Case-insensitive header lookup; NULL when absent. */
const char *kl_httpd_req_header(const struct kl_httpd_req *r, const char *name);
const char *kl_httpd_req_body(const struct kl_httpd_req *r, size_t *len);
const char *kl_httpd_req_peer(const struct kl_httpd_req *r); /* "IP:PORT" */

/*
 * Answers and releases the request. content_type may be NULL (text/plain). body is
 * copied. extra_headers is NULL or "Name: value\r\n..." lines. Returns 0 or a
 * negative errno; the request is released either way.
 */
int kl_httpd_respond(struct kl_httpd_req *r, int status, const char *content_type,
		     const char *extra_headers, const char *body, size_t len);

#endif
