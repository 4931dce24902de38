/*
 * kubeclient/http.h - asynchronous HTTP(S) on the loop: libcurl's multi-socket API
 * driven by libuv.
 *
 * One struct kl_http per process owns one CURLM. libcurl tells us which sockets to
 * poll (CURLMOPT_SOCKETFUNCTION -> one uv_poll_t per socket) and when to wake
 * (CURLMOPT_TIMERFUNCTION -> one uv_timer_t); each wake-up calls
 * curl_multi_socket_action() and then drains curl_multi_info_read(). HTTP/2 is
 * negotiated where the server offers it and requests to the same server are
 * multiplexed on one connection (all watches share it). TLS is verified unless the
 * request's TLS settings say otherwise.
 *
 * A request streams its body to data_cb as it arrives and ends with exactly one
 * done_cb call - also when cancelled (status -ECANCELED) - after which the request
 * is freed. A call that fails returns an error and never calls done_cb.
 */
#ifndef KL_KUBECLIENT_HTTP_H
#define KL_KUBECLIENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "util/log.h"

struct kl_http;
struct kl_http_req;

/* TLS and proxy settings, borrowed by each request until it is done. */
struct kl_http_tls {
	const char *ca_file;
	const char *ca_data; /* PEM blob */
	size_t ca_data_len;
	bool insecure; /* no verification at all */
	const char *cert_file, *key_file;
	const char *cert_data, *key_data; /* PEM blobs */
	size_t cert_data_len, key_data_len;
	const char *tls_server_name; /* verify and send SNI for this name instead of the URL's */
	const char *proxy_url;
};

struct kl_http_opts {
	const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *url;
	const char *const *headers; /* NULL-terminated "Name: value"; copied */
	const char *body;	    /* copied; may be NULL */
	size_t body_len;
	const struct kl_http_tls *tls; /* may be NULL: system CAs, verified */
	const char *user_agent;	       /* copied */
	uint64_t timeout_ms;	       /* whole request; 0 = none (watches) */
	uint64_t connect_timeout_ms;   /* 0 = 10 s */
	const char *basic_user, *basic_password; /* HTTP basic auth, or NULL */
};

/*
 * status_code: the HTTP status once headers are in (0 before). Return 0 to go
 * on, a negative errno to abort the request (done_cb then gets that errno).
 */
typedef int (*kl_http_data_cb)(void *arg, int status_code, const char *buf, size_t len);
/*
 * status: 0 when a complete HTTP response arrived (any HTTP status code), else a
 * negative errno: -ECANCELED, -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH, -EPROTO
 * (TLS or protocol failure), -ECONNRESET (stream cut). msg is libcurl's first
 * message for errors ("" otherwise). retry_after_s is Retry-After in seconds, or
 * -1 when absent.
 */
typedef void (*kl_http_done_cb)(void *arg, int status, int status_code, int retry_after_s,
				const char *msg);

/*
 * Returns a new client, NULL on failure (curl could not be initialised, ENOMEM).
 * log (may be NULL) gets each request's method and URL path at -v 2: pass NULL for
 * a client whose URLs are secrets (webhooks).
 */
struct kl_http *kl_http_new(uv_loop_t *loop, const struct kl_log *log);
/*
 * Cancels every request (their done_cb run with -ECANCELED), closes the handles
 * and frees the client once the last one is closed; then cb(arg).
 */
void kl_http_close(struct kl_http *h, void (*cb)(void *arg), void *arg);

/* Starts a request. Returns 0 and *out (may be NULL), or a negative errno. */
int kl_http_request(struct kl_http *h, const struct kl_http_opts *o, kl_http_data_cb data_cb,
		    kl_http_done_cb done_cb, void *arg, struct kl_http_req **out);
/* One mail to send over SMTP (smtp:// or smtps:// URL), on the same client. */
struct kl_http_mail_opts {
	const char *url;		/* smtp://HOST:PORT or smtps://HOST:PORT; a secret */
	const char *from;		/* envelope sender, an address */
	const char *const *rcpt;	/* NULL-terminated envelope recipients */
	const char *msg;		/* the RFC 5322 message, CRLF lines; copied */
	size_t msg_len;
	bool starttls;			/* smtp://: STARTTLS is required (else plain) */
	const char *ca_file;		/* may be NULL: system CAs; TLS is always verified */
	const char *user, *password;	/* SMTP AUTH, or NULL; secrets */
	uint64_t timeout_ms;		/* whole transaction; 0 = none */
};

/*
 * Starts sending one mail, with kl_http_request's contract: done_cb once, its
 * status_code the server's last SMTP reply code (250 when accepted; 0 when none
 * came), status 0 when the server accepted the message, else a negative errno.
 * Returns 0 and *out (may be NULL), or a negative errno (-EINVAL: not smtp(s)://).
 */
int kl_http_mail(struct kl_http *h, const struct kl_http_mail_opts *o, kl_http_done_cb done_cb,
		 void *arg, struct kl_http_req **out);
/*
 * The response's Content-Type as sent ("application/json"), "" before its headers
 * are in or when it has none. For a data_cb deciding how to decode the body.
 */
const char *kl_http_content_type(const struct kl_http_req *r);
/* Cancels a running request: done_cb runs (later, from the loop) with -ECANCELED. */
void kl_http_cancel(struct kl_http_req *r);

/* HTTP version of the last completed transfer on this client: 11 or 2 (tests). */
int kl_http_last_version(const struct kl_http *h);

/*
 * Trickle mode: after a read that brought a little body (under 64 KiB), the socket
 * is not polled but read again ms later, all that came meanwhile at once; a read of
 * nothing or of more polls it again. For a client whose streams carry many small
 * pieces (watches): one wake-up per ms instead of one per piece, each piece delayed
 * by at most ms. 0 (the default) turns it off.
 */
void kl_http_coalesce_reads(struct kl_http *h, uint64_t ms);

/* What the client's sockets did so far (tests, benchmarks). */
struct kl_http_stats {
	uint64_t wakeups; /* reads, writes or errors handed to libcurl for a socket */
	uint64_t rests;	  /* times a socket went into trickle mode */
};
void kl_http_stats(const struct kl_http *h, struct kl_http_stats *out);

#endif
