/*
 * test/unit/test_httpd.c - the HTTP server against a real client over loopback.
 *
 * The server runs in a real uv loop on the main thread; the client is a thread with plain
 * blocking sockets, so the bytes on the wire are exactly what each test writes (split to
 * single bytes, pipelined, oversized, garbage, or left unfinished). The client thread only
 * records what it saw; the cmocka assertions run on the main thread after the join, as
 * cmocka is not thread-safe. Every test ends with kl_httpd_close() and asserts that the
 * closed callback ran and uv_loop_close() returns 0, so a leaked handle fails the test;
 * the sanitizer build catches leaked or misused memory.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "util/httpd.h"

#define NRESP 12
#define BIG_BODY (4 * 1024 * 1024)

struct fx;
typedef void (*client_fn)(struct fx *f);

struct fx {
	uv_loop_t loop;
	uv_async_t done;
	uv_thread_t thread;
	struct kl_httpd *s;
	struct kl_log log;
	FILE *logf;
	int port;
	client_fn client;
	int closing;
	int closed;
	int done_sent; /* the client closed the server itself */

	/* written by the client thread, read after the join */
	char *resp[NRESP];
	int shut[NRESP]; /* 1: server closed the connection, 0: still open, -1: timeout */
	uint64_t ms[NRESP];
	uint64_t sent;	/* bytes a streaming client got into its socket */
	int send_errno; /* why its sending ended */

	/* written on the loop thread */
	int hits;
	unsigned method;
	char path[64], query[64], hdr[64], peer[64], body[4096];
	int missing_hdr_null;
	char order[16];
	int async_rc;
	int async_done;
	int closed_at_respond;
	uint64_t slow_ms;
	char *big;
};

/* ---------------------------------------------------------------- client side */

struct cli {
	int fd;
	char *buf;
	size_t len, cap;
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000;
}

static int cli_open_buf(struct cli *c, int port, int rcvbuf)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 5 };
	int one = 1;

	memset(c, 0, sizeof(*c));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (rcvbuf)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

static int cli_open(struct cli *c, int port)
{
	return cli_open_buf(c, port, 0);
}

static void cli_close(struct cli *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

static void cli_sendn(struct cli *c, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);

		if (w <= 0)
			return; /* the server may have closed already: that is what tests check */
		s += w;
		n -= (size_t)w;
	}
}

static void cli_send(struct cli *c, const char *s)
{
	cli_sendn(c, s, strlen(s));
}

/* 1: got bytes, 0: EOF, -1: error or timeout (errno set) */
static int cli_fill(struct cli *c)
{
	ssize_t n;

	if (c->cap - c->len < 65536) {
		size_t cap = c->cap ? c->cap * 2 : 131072;
		char *p = realloc(c->buf, cap);

		if (!p)
			return -1;
		c->buf = p;
		c->cap = cap;
	}
	n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
	if (n < 0)
		return -1;
	if (n == 0)
		return 0;
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	return 1;
}

/* One response, NUL-terminated and malloc'd; NULL when the connection ended first. */
static char *cli_response(struct cli *c, int head)
{
	const char *end, *cl;
	size_t hlen, blen = 0, total;
	char *out;

	for (;;) {
		if (c->len && (end = strstr(c->buf, "\r\n\r\n")))
			break;
		if (cli_fill(c) <= 0)
			return NULL;
	}
	hlen = (size_t)(end - c->buf) + 4;
	cl = strcasestr(c->buf, "\r\nContent-Length:");
	if (cl && cl < end && !head)
		blen = strtoul(cl + 17, NULL, 10);
	total = hlen + blen;
	while (c->len < total)
		if (cli_fill(c) <= 0)
			return NULL;
	out = malloc(total + 1);
	if (!out)
		return NULL;
	memcpy(out, c->buf, total);
	out[total] = '\0';
	memmove(c->buf, c->buf + total, c->len - total);
	c->len -= total;
	c->buf[c->len] = '\0';
	return out;
}

/* 1: the server closed (EOF or reset) with nothing more; 0: bytes came; -1: timeout. */
static int cli_closed(struct cli *c)
{
	int rc;

	if (c->len)
		return 0;
	rc = cli_fill(c);
	if (rc == 0 || (rc < 0 && errno == ECONNRESET))
		return 1;
	return rc > 0 ? 0 : -1;
}

/* Everything until the server closes. */
static char *cli_read_all(struct cli *c)
{
	char *out;

	while (cli_fill(c) > 0)
		;
	out = strdup(c->len ? c->buf : "");
	c->len = 0;
	return out;
}

static void client_main(void *arg)
{
	struct fx *f = arg;

	f->client(f);
	if (!f->done_sent)
		uv_async_send(&f->done);
}

/* ---------------------------------------------------------------- server side */

static void on_closed(void *arg)
{
	struct fx *f = arg;

	f->closed++;
}

static void on_done(uv_async_t *a)
{
	struct fx *f = a->data;

	uv_close((uv_handle_t *)a, NULL);
	if (!f->closing) {
		f->closing = 1;
		kl_httpd_close(f->s, on_closed, f);
	}
}

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "(null)");
}

static void h_hello(struct kl_httpd_req *req, void *arg)
{
	struct fx *f = arg;

	f->hits++;
	f->method = kl_httpd_req_method(req);
	copy(f->path, sizeof(f->path), kl_httpd_req_path(req));
	copy(f->query, sizeof(f->query), kl_httpd_req_query(req));
	copy(f->hdr, sizeof(f->hdr), kl_httpd_req_header(req, "x-TEST"));
	copy(f->peer, sizeof(f->peer), kl_httpd_req_peer(req));
	f->missing_hdr_null = kl_httpd_req_header(req, "x-missing") == NULL;
	assert_int_equal(kl_httpd_respond(req, 200, NULL, "X-Hello: 1\r\n", "hello", 5), 0);
}

static void h_echo(struct kl_httpd_req *req, void *arg)
{
	struct fx *f = arg;
	size_t len;
	const char *body = kl_httpd_req_body(req, &len);

	f->hits++;
	copy(f->hdr, sizeof(f->hdr), kl_httpd_req_header(req, "X-Test"));
	snprintf(f->body, sizeof(f->body), "%.*s", (int)len, body);
	/* the body handed back lives in req: respond copies it before releasing req */
	assert_int_equal(kl_httpd_respond(req, 200, "application/octet-stream", NULL, body, len),
			 0);
}

struct delayed {
	uv_timer_t timer;
	struct kl_httpd_req *req;
	struct fx *f;
	const char *body;
	char mark;
};

static void on_delayed_closed(uv_handle_t *h)
{
	free(h->data);
}

static void on_delayed(uv_timer_t *t)
{
	struct delayed *d = t->data;
	struct fx *f = d->f;
	size_t n = strlen(f->order);

	if (d->mark && n + 1 < sizeof(f->order))
		f->order[n] = d->mark;
	f->closed_at_respond = f->closed;
	f->async_rc = kl_httpd_respond(d->req, 200, NULL, NULL, d->body, strlen(d->body));
	f->async_done++;
	uv_close((uv_handle_t *)&d->timer, on_delayed_closed);
}

static void respond_later(struct fx *f, struct kl_httpd_req *req, uint64_t ms, const char *body,
			  char mark)
{
	struct delayed *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	d->req = req;
	d->f = f;
	d->body = body;
	d->mark = mark;
	uv_timer_init(&f->loop, &d->timer);
	d->timer.data = d;
	uv_timer_start(&d->timer, on_delayed, ms, 0);
}

static void h_slow(struct kl_httpd_req *req, void *arg)
{
	struct fx *f = arg;

	f->hits++;
	respond_later(f, req, f->slow_ms, "slow", 0);
}

static void mark(struct fx *f, char ch)
{
	size_t n = strlen(f->order);

	if (n + 1 < sizeof(f->order))
		f->order[n] = ch;
}

static void h_a(struct kl_httpd_req *req, void *arg)
{
	struct fx *f = arg;

	mark(f, 'a');
	respond_later(f, req, 80, "A", 'A');
}

static void h_b(struct kl_httpd_req *req, void *arg)
{
	mark(arg, 'b');
	kl_httpd_respond(req, 200, NULL, NULL, "B", 1);
}

static void h_c(struct kl_httpd_req *req, void *arg)
{
	mark(arg, 'c');
	kl_httpd_respond(req, 200, NULL, NULL, "C", 1);
}

static void h_big(struct kl_httpd_req *req, void *arg)
{
	struct fx *f = arg;

	if (f->hits < NRESP)
		f->ms[f->hits] = now_ms();
	f->hits++;
	kl_httpd_respond(req, 200, NULL, NULL, f->big, BIG_BODY);
}

static void fx_init(struct fx *f, const struct kl_httpd_limits *lim)
{
	struct kl_httpd_limits def;

	memset(f, 0, sizeof(*f));
	if (!lim) {
		kl_httpd_limits_default(&def);
		lim = &def;
	}
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->logf = tmpfile();
	assert_non_null(f->logf);
	/* -v 3: every log line of the server is written, and checked for secrets */
	kl_log_init(&f->log, KL_LOG_TEXT, 3, f->logf);
	f->s = kl_httpd_new(&f->loop, "test", lim, &f->log);
	assert_non_null(f->s);
	f->slow_ms = 100;
	assert_int_equal(kl_httpd_route(f->s, "/hello", KL_HTTP_GET, h_hello, f), 0);
	assert_int_equal(kl_httpd_route(f->s, "/echo", KL_HTTP_POST | KL_HTTP_PUT, h_echo, f), 0);
	assert_int_equal(kl_httpd_route(f->s, "/post-only", KL_HTTP_POST, h_echo, f), 0);
	assert_int_equal(kl_httpd_route(f->s, "/slow", KL_HTTP_GET, h_slow, f), 0);
	assert_int_equal(kl_httpd_route(f->s, "/a", KL_HTTP_GET, h_a, f), 0);
	assert_int_equal(kl_httpd_route(f->s, "/b", KL_HTTP_GET, h_b, f), 0);
	assert_int_equal(kl_httpd_route(f->s, "/c", KL_HTTP_GET, h_c, f), 0);
	assert_int_equal(kl_httpd_route(f->s, "/big", KL_HTTP_GET, h_big, f), 0);
}

/* Serves until the client function returns, closes the server, checks nothing leaked. */
static void fx_run(struct fx *f, client_fn client)
{
	struct kl_error err;

	kl_error_clear(&err);
	assert_int_equal(kl_httpd_listen(f->s, "127.0.0.1:0", &err), 0);
	f->port = kl_httpd_port(f->s);
	assert_true(f->port > 0);
	f->client = client;
	assert_int_equal(uv_async_init(&f->loop, &f->done, on_done), 0);
	f->done.data = f;
	assert_int_equal(uv_thread_create(&f->thread, client_main, f), 0);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_thread_join(&f->thread), 0);
	assert_int_equal(f->closed, 1);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* The whole log; no test may find a secret, a body or a query in it. */
static char *fx_log(struct fx *f)
{
	long n;
	char *s;

	fflush(f->logf);
	n = ftell(f->logf);
	assert_true(n >= 0);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	rewind(f->logf);
	assert_int_equal(fread(s, 1, (size_t)n, f->logf), (size_t)n);
	return s;
}

static void fx_end(struct fx *f)
{
	char *log = fx_log(f);
	int i;

	if (getenv("KL_TEST_LOG"))
		fputs(log, stderr);

	assert_null(strstr(log, "secret-token"));
	assert_null(strstr(log, "body-secret"));
	assert_null(strstr(log, "q=secret"));
	free(log);
	fclose(f->logf);
	for (i = 0; i < NRESP; i++)
		free(f->resp[i]);
	free(f->big);
}

static int status_of(const char *resp)
{
	int st = -1;

	assert_non_null(resp);
	assert_int_equal(sscanf(resp, "HTTP/1.1 %d ", &st), 1);
	return st;
}

static const char *body_of(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");

	assert_non_null(p);
	return p + 4;
}

static int has_header(const char *resp, const char *line)
{
	const char *end = strstr(resp, "\r\n\r\n");
	const char *p = strstr(resp, line);

	return p && end && p < end;
}

/* ---------------------------------------------------------------- tests */

static void c_get(struct fx *f)
{
	struct cli c;

	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "GET /hello?x=1&q=secret HTTP/1.1\r\nHost: t\r\nX-Test: Value\r\n"
		     "Authorization: Bearer secret-token\r\n\r\n");
	f->resp[0] = cli_response(&c, 0);
	cli_close(&c);
}

static void test_get_200(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, NULL);
	fx_run(&f, c_get);
	assert_int_equal(status_of(f.resp[0]), 200);
	assert_true(strncmp(f.resp[0], "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_true(has_header(f.resp[0], "\r\nContent-Type: text/plain"));
	assert_true(has_header(f.resp[0], "\r\nContent-Length: 5\r\n"));
	assert_true(has_header(f.resp[0], "\r\nX-Hello: 1\r\n"));
	assert_false(has_header(f.resp[0], "Connection: close"));
	assert_string_equal(body_of(f.resp[0]), "hello");
	assert_int_equal(f.hits, 1);
	assert_int_equal(f.method, KL_HTTP_GET);
	assert_string_equal(f.path, "/hello");
	assert_string_equal(f.query, "x=1&q=secret");
	assert_string_equal(f.hdr, "Value");
	assert_true(f.missing_hdr_null);
	assert_true(strncmp(f.peer, "127.0.0.1:", 10) == 0);
	assert_true(atoi(f.peer + 10) > 0);
	fx_end(&f);
}

static void c_head(struct fx *f)
{
	struct cli c;

	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "HEAD /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	f->resp[0] = cli_read_all(&c);
	cli_close(&c);
}

static void test_head(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, NULL);
	fx_run(&f, c_head);
	assert_int_equal(status_of(f.resp[0]), 200);
	assert_true(has_header(f.resp[0], "\r\nContent-Length: 5\r\n"));
	assert_true(has_header(f.resp[0], "\r\nConnection: close\r\n"));
	/* nothing after the head: the body was dropped */
	assert_string_equal(body_of(f.resp[0]), "");
	assert_int_equal(f.method, KL_HTTP_HEAD);
	fx_end(&f);
}

static void c_404_405(struct fx *f)
{
	struct cli c;

	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
	f->resp[0] = cli_response(&c, 0);
	cli_send(&c, "DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	f->resp[1] = cli_response(&c, 0);
	cli_send(&c, "GET /post-only HTTP/1.1\r\nHost: t\r\n\r\n");
	f->resp[2] = cli_response(&c, 0);
	cli_send(&c, "PATCH /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
	f->resp[3] = cli_response(&c, 0);
	/* the connection survived all of them */
	cli_send(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	f->resp[4] = cli_response(&c, 0);
	cli_close(&c);
}

static void test_404_405(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, NULL);
	fx_run(&f, c_404_405);
	assert_int_equal(status_of(f.resp[0]), 404);
	assert_false(has_header(f.resp[0], "Connection: close"));
	assert_int_equal(status_of(f.resp[1]), 405);
	assert_true(has_header(f.resp[1], "\r\nAllow: GET, HEAD\r\n"));
	assert_int_equal(status_of(f.resp[2]), 405);
	assert_true(has_header(f.resp[2], "\r\nAllow: POST\r\n"));
	assert_int_equal(status_of(f.resp[3]), 405);
	assert_true(has_header(f.resp[3], "\r\nAllow: POST, PUT\r\n"));
	assert_int_equal(status_of(f.resp[4]), 200);
	assert_int_equal(f.hits, 1);
	fx_end(&f);
}

static void c_431(struct fx *f)
{
	struct cli c;
	char *big = malloc(20000);

	if (!big || cli_open(&c, f->port)) {
		free(big);
		return;
	}
	memset(big, 'a', 19999);
	big[19999] = '\0';
	cli_send(&c, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: ");
	cli_send(&c, big);
	cli_send(&c, "\r\n\r\n");
	f->resp[0] = cli_response(&c, 0);
	f->shut[0] = cli_closed(&c);
	cli_close(&c);

	/* a URL alone past the limit */
	if (cli_open(&c, f->port) == 0) {
		cli_send(&c, "GET /");
		cli_send(&c, big);
		f->resp[1] = cli_response(&c, 0);
		f->shut[1] = cli_closed(&c);
		cli_close(&c);
	}
	free(big);
}

static void test_431(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, NULL);
	fx_run(&f, c_431);
	assert_int_equal(status_of(f.resp[0]), 431);
	assert_true(has_header(f.resp[0], "\r\nConnection: close\r\n"));
	assert_int_equal(f.shut[0], 1);
	assert_int_equal(status_of(f.resp[1]), 431);
	assert_int_equal(f.shut[1], 1);
	assert_int_equal(f.hits, 0);
	fx_end(&f);
}

static void c_413(struct fx *f)
{
	struct cli c;
	char chunk[512];
	int i;

	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n");
	f->resp[0] = cli_response(&c, 0);
	f->shut[0] = cli_closed(&c);
	cli_close(&c);

	/* chunked, within the limit (1000): echoed */
	memset(chunk, 'b', sizeof(chunk));
	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (i = 0; i < 2; i++) {
		cli_send(&c, "12c\r\n"); /* 300 */
		cli_sendn(&c, chunk, 300);
		cli_send(&c, "\r\n");
	}
	cli_send(&c, "0\r\n\r\n");
	f->resp[1] = cli_response(&c, 0);

	/* chunked past the limit on the same connection: 413 and closed */
	cli_send(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (i = 0; i < 4; i++) {
		cli_send(&c, "200\r\n"); /* 512 */
		cli_sendn(&c, chunk, 512);
		cli_send(&c, "\r\n");
	}
	cli_send(&c, "0\r\n\r\n");
	f->resp[2] = cli_response(&c, 0);
	f->shut[2] = cli_closed(&c);
	cli_close(&c);
}

static void test_413(void **state)
{
	struct fx f;
	struct kl_httpd_limits lim;

	(void)state;
	kl_httpd_limits_default(&lim);
	lim.max_body_bytes = 1000;
	fx_init(&f, &lim);
	fx_run(&f, c_413);
	assert_int_equal(status_of(f.resp[0]), 413);
	assert_true(has_header(f.resp[0], "\r\nConnection: close\r\n"));
	assert_int_equal(f.shut[0], 1);
	assert_int_equal(status_of(f.resp[1]), 200);
	assert_int_equal(strlen(body_of(f.resp[1])), 600);
	assert_int_equal(strspn(body_of(f.resp[1]), "b"), 600);
	assert_int_equal(status_of(f.resp[2]), 413);
	assert_int_equal(f.shut[2], 1);
	assert_int_equal(f.hits, 1);
	fx_end(&f);
}

static void c_400(struct fx *f)
{
	static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n";
	struct cli c;

	if (cli_open(&c, f->port))
		return;
	cli_sendn(&c, tls, sizeof(tls) - 1);
	f->resp[0] = cli_response(&c, 0);
	f->shut[0] = cli_closed(&c);
	cli_close(&c);

	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "GET /hello HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n");
	f->resp[1] = cli_response(&c, 0);
	f->shut[1] = cli_closed(&c);
	cli_close(&c);

	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
		     "Content-Length: 3\r\n\r\nabc");
	f->resp[2] = cli_response(&c, 0);
	f->shut[2] = cli_closed(&c);
	cli_close(&c);
}

static void test_400(void **state)
{
	struct fx f;
	int i;

	(void)state;
	fx_init(&f, NULL);
	fx_run(&f, c_400);
	for (i = 0; i < 3; i++) {
		assert_int_equal(status_of(f.resp[i]), 400);
		assert_true(has_header(f.resp[i], "\r\nConnection: close\r\n"));
		assert_int_equal(f.shut[i], 1);
	}
	assert_int_equal(f.hits, 0);
	fx_end(&f);
}

static void c_keep_alive(struct fx *f)
{
	struct cli c;

	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	f->resp[0] = cli_response(&c, 0);
	cli_send(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nping");
	f->resp[1] = cli_response(&c, 0);
	cli_send(&c, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	f->resp[2] = cli_response(&c, 0);
	f->shut[2] = cli_closed(&c);
	cli_close(&c);

	/* HTTP/1.0 closes unless asked otherwise */
	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "GET /hello HTTP/1.0\r\n\r\n");
	f->resp[3] = cli_response(&c, 0);
	f->shut[3] = cli_closed(&c);
	cli_close(&c);

	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	f->resp[4] = cli_response(&c, 0);
	cli_send(&c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	f->resp[5] = cli_response(&c, 0);
	cli_close(&c);
}

static void test_keep_alive(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, NULL);
	fx_run(&f, c_keep_alive);
	assert_int_equal(status_of(f.resp[0]), 200);
	assert_int_equal(status_of(f.resp[1]), 200);
	assert_string_equal(body_of(f.resp[1]), "ping");
	assert_false(has_header(f.resp[1], "Connection: close"));
	assert_int_equal(status_of(f.resp[2]), 200);
	assert_true(has_header(f.resp[2], "\r\nConnection: close\r\n"));
	assert_int_equal(f.shut[2], 1);
	assert_int_equal(status_of(f.resp[3]), 200);
	assert_true(has_header(f.resp[3], "\r\nConnection: close\r\n"));
	assert_int_equal(f.shut[3], 1);
	assert_int_equal(status_of(f.resp[4]), 200);
	assert_true(has_header(f.resp[4], "\r\nConnection: keep-alive\r\n"));
	assert_int_equal(status_of(f.resp[5]), 200);
	assert_int_equal(f.hits, 6);
	fx_end(&f);
}

static void c_pipelined(struct fx *f)
{
	struct cli c;
	int i;

	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
		     "GET /b HTTP/1.1\r\nHost: t\r\n\r\n"
		     "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
		     "GET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	for (i = 0; i < 4; i++)
		f->resp[i] = cli_response(&c, 0);
	f->shut[4] = cli_closed(&c);
	cli_close(&c);
}

static void test_pipelined(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, NULL);
	fx_run(&f, c_pipelined);
	assert_string_equal(body_of(f.resp[0]), "A");
	assert_string_equal(body_of(f.resp[1]), "B");
	assert_int_equal(status_of(f.resp[2]), 404);
	assert_string_equal(body_of(f.resp[3]), "C");
	assert_true(has_header(f.resp[3], "\r\nConnection: close\r\n"));
	assert_int_equal(f.shut[4], 1);
	/* /b was not handled before /a was answered (A = the delayed answer) */
	assert_string_equal(f.order, "aAbc");
	fx_end(&f);
}

static void c_async(struct fx *f)
{
	struct cli c;
	uint64_t t0 = now_ms();

	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	f->resp[0] = cli_response(&c, 0);
	f->ms[0] = now_ms() - t0;
	cli_send(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	f->resp[1] = cli_response(&c, 0);
	cli_close(&c);
}

static void test_async_respond(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, NULL);
	fx_run(&f, c_async);
	assert_int_equal(status_of(f.resp[0]), 200);
	assert_string_equal(body_of(f.resp[0]), "slow");
	assert_true(f.ms[0] >= 90);
	assert_int_equal(f.async_done, 1);
	assert_int_equal(f.async_rc, 0);
	assert_int_equal(status_of(f.resp[1]), 200);
	fx_end(&f);
}

static void c_disconnect(struct fx *f)
{
	struct cli c;

	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	sleep_ms(50);
	cli_close(&c);
	/* stay until the delayed answer was attempted */
	sleep_ms(500);
}

static void test_disconnect_before_respond(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, NULL);
	f.slow_ms = 300;
	fx_run(&f, c_disconnect);
	assert_int_equal(f.hits, 1);
	assert_int_equal(f.async_done, 1);
	/* the server saw the client go, kept the request, and the late answer freed it */
	assert_int_equal(f.async_rc, -ENOTCONN);
	assert_int_equal(f.closed_at_respond, 0);
	fx_end(&f);
}

static void c_close_pending_outer(struct fx *f)
{
	/* the server closes while the client waits for an answer */
	struct cli c;

	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	sleep_ms(50);
	f->done_sent = 1;
	uv_async_send(&f->done);
	f->shut[0] = cli_closed(&c);
	cli_close(&c);
}

static void test_close_with_pending(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, NULL);
	f.slow_ms = 300;
	fx_run(&f, c_close_pending_outer);
	assert_int_equal(f.hits, 1);
	/* the connection went with the server */
	assert_int_equal(f.shut[0], 1);
	/* the server was freed before the handler answered; the answer just freed req */
	assert_int_equal(f.closed_at_respond, 1);
	assert_int_equal(f.async_done, 1);
	assert_int_equal(f.async_rc, -ENOTCONN);
	fx_end(&f);
}

#define HELLO "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"

static void cli_init(struct cli *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].fd = -1;
	}
}

/*
 * Limit 4: one connection that never sends and three answered once (keep-alive), idle in
 * that order. A fifth and a sixth connection are served, each closing the connection
 * idle longest; the others are kept and still serve.
 */
static void c_evict_idle(struct fx *f)
{
	struct cli c[6];
	int i;

	cli_init(c, 6);
	if (cli_open(&c[0], f->port))
		goto out;
	for (i = 1; i <= 3; i++) {
		if (cli_open(&c[i], f->port))
			goto out;
		cli_send(&c[i], HELLO);
		f->resp[i - 1] = cli_response(&c[i], 0);
	}
	/* c0 was accepted before c1 was answered, so it is the longest idle */
	if (cli_open(&c[4], f->port))
		goto out;
	cli_send(&c[4], HELLO);
	f->resp[3] = cli_response(&c[4], 0);
	f->shut[0] = cli_closed(&c[0]);
	/* now c1, idle since its answer */
	if (cli_open(&c[5], f->port))
		goto out;
	cli_send(&c[5], HELLO);
	f->resp[4] = cli_response(&c[5], 0);
	f->shut[1] = cli_closed(&c[1]);
	/* held and untouched: c2, c3 (and c4, c5) */
	cli_send(&c[2], HELLO);
	f->resp[5] = cli_response(&c[2], 0);
	cli_send(&c[3], HELLO);
	f->resp[6] = cli_response(&c[3], 0);
out:
	for (i = 0; i < 6; i++)
		cli_close(&c[i]);
}

static void test_max_connections_reclaims_idle(void **state)
{
	struct fx f;
	struct kl_httpd_limits lim;
	char *log;
	int i;

	(void)state;
	kl_httpd_limits_default(&lim);
	lim.max_connections = 4;
	fx_init(&f, &lim);
	fx_run(&f, c_evict_idle);
	for (i = 0; i < 7; i++)
		assert_int_equal(status_of(f.resp[i]), 200);
	/* closed with nothing sent: no answer to a request that was never made */
	assert_int_equal(f.shut[0], 1);
	assert_int_equal(f.shut[1], 1);
	assert_int_equal(f.hits, 7);
	log = fx_log(&f);
	assert_non_null(strstr(log, "idle connection closed to make room"));
	assert_null(strstr(log, "connection refused"));
	free(log);
	fx_end(&f);
}

#define POST_EXPECT                                                                                \
	"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"

/*
 * Limit 4: four connections each in the middle of a request (headers read, as the
 * 100 Continue shows, body awaited). Nothing may be reclaimed, so a fifth is refused with
 * a 503; the four then finish their requests, and once they are idle a sixth is served.
 */
static void c_busy(struct fx *f)
{
	struct cli c[6];
	int i;

	cli_init(c, 6);
	for (i = 0; i < 4; i++) {
		if (cli_open(&c[i], f->port))
			goto out;
		cli_send(&c[i], POST_EXPECT);
		f->resp[i] = cli_response(&c[i], 0);
	}
	if (cli_open(&c[4], f->port) == 0) {
		f->resp[4] = cli_response(&c[4], 0);
		f->shut[4] = cli_closed(&c[4]);
	}
	for (i = 0; i < 4; i++) {
		cli_send(&c[i], "ping");
		f->resp[5 + i] = cli_response(&c[i], 0);
	}
	if (cli_open(&c[5], f->port) == 0) {
		cli_send(&c[5], HELLO);
		f->resp[9] = cli_response(&c[5], 0);
	}
	f->shut[0] = cli_closed(&c[0]);
out:
	for (i = 0; i < 6; i++)
		cli_close(&c[i]);
}

static void test_max_connections_all_busy_503(void **state)
{
	struct fx f;
	struct kl_httpd_limits lim;
	int i;

	(void)state;
	kl_httpd_limits_default(&lim);
	lim.max_connections = 4;
	fx_init(&f, &lim);
	fx_run(&f, c_busy);
	for (i = 0; i < 4; i++)
		assert_int_equal(status_of(f.resp[i]), 100);
	assert_int_equal(status_of(f.resp[4]), 503);
	assert_true(has_header(f.resp[4], "\r\nConnection: close\r\n"));
	assert_int_equal(f.shut[4], 1);
	for (i = 5; i < 9; i++) {
		assert_int_equal(status_of(f.resp[i]), 200);
		assert_string_equal(body_of(f.resp[i]), "ping");
	}
	assert_int_equal(status_of(f.resp[9]), 200);
	/* the sixth took the slot of the longest idle */
	assert_int_equal(f.shut[0], 1);
	assert_int_equal(f.hits, 5);
	fx_end(&f);
}

/* 1: a clean EOF after what was read; 0: a reset, bytes or a timeout. */
static int cli_eof(struct cli *c)
{
	return c->len == 0 && cli_fill(c) == 0;
}

/*
 * After a 413: a client that streams on without reading is cut off once the server has
 * discarded its budget, but the 413 and the FIN went out first; a client that sends a
 * little more and then reads gets the 413 and a clean EOF.
 */
static void c_linger_cap(struct fx *f)
{
	static const char head[] = "POST /echo HTTP/1.1\r\nHost: t\r\n"
				   "Content-Length: 1000000000\r\n\r\n";
	struct timeval tv = { .tv_sec = 5 };
	size_t chunk = 64 * 1024;
	char *buf = malloc(chunk);
	struct cli c;

	if (!buf)
		return;
	memset(buf, 'x', chunk);
	if (cli_open(&c, f->port) == 0) {
		setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		cli_send(&c, head);
		/* up to 256 MiB: a server that reads for its whole 2 s linger takes all */
		f->send_errno = 0;
		while (f->sent < 256u * 1024 * 1024) {
			ssize_t w = send(c.fd, buf, chunk, MSG_NOSIGNAL);

			if (w <= 0) {
				f->send_errno = errno;
				break;
			}
			f->sent += (uint64_t)w;
		}
		f->resp[0] = cli_response(&c, 0);
		f->shut[0] = cli_closed(&c);
		cli_close(&c);
	}
	if (cli_open(&c, f->port) == 0) {
		cli_send(&c, head);
		cli_sendn(&c, buf, 32 * 1024);
		f->resp[1] = cli_response(&c, 0);
		f->shut[1] = cli_eof(&c);
		cli_close(&c);
	}
	free(buf);
}

static void test_linger_byte_cap(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, NULL);
	fx_run(&f, c_linger_cap);
	/* socket buffers on both sides hold a few MiB; the linger budget is 64 KiB */
	assert_true(f.sent < 32u * 1024 * 1024);
	assert_true(f.send_errno == EPIPE || f.send_errno == ECONNRESET);
	assert_int_equal(status_of(f.resp[0]), 413);
	assert_int_equal(f.shut[0], 1);
	assert_int_equal(status_of(f.resp[1]), 413);
	assert_int_equal(f.shut[1], 1);
	assert_int_equal(f.hits, 0);
	fx_end(&f);
}

static void c_idle(struct fx *f)
{
	struct cli c;
	uint64_t t0;

	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	f->resp[0] = cli_response(&c, 0);
	t0 = now_ms();
	f->shut[0] = cli_closed(&c);
	f->ms[0] = now_ms() - t0;
	cli_close(&c);

	/* a connection that never sends anything */
	if (cli_open(&c, f->port))
		return;
	t0 = now_ms();
	f->shut[1] = cli_closed(&c);
	f->ms[1] = now_ms() - t0;
	cli_close(&c);
}

static void test_idle_timeout(void **state)
{
	struct fx f;
	struct kl_httpd_limits lim;

	(void)state;
	kl_httpd_limits_default(&lim);
	lim.idle_timeout_ms = 100;
	fx_init(&f, &lim);
	fx_run(&f, c_idle);
	assert_int_equal(status_of(f.resp[0]), 200);
	assert_int_equal(f.shut[0], 1);
	assert_true(f.ms[0] >= 70 && f.ms[0] < 3000);
	assert_int_equal(f.shut[1], 1);
	assert_true(f.ms[1] >= 70 && f.ms[1] < 3000);
	fx_end(&f);
}

static void c_request_timeout(struct fx *f)
{
	struct cli c;
	uint64_t t0;
	const char *p;

	if (cli_open(&c, f->port))
		return;
	t0 = now_ms();
	cli_send(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n");
	f->resp[0] = cli_response(&c, 0);
	f->ms[0] = now_ms() - t0;
	f->shut[0] = cli_closed(&c);
	cli_close(&c);

	/* slowloris: a byte every 30 ms keeps a connection busy, not alive */
	if (cli_open(&c, f->port))
		return;
	t0 = now_ms();
	for (p = "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: b\r\n"; *p; p++) {
		cli_sendn(&c, p, 1);
		sleep_ms(30);
	}
	f->ms[1] = now_ms() - t0;
	f->resp[1] = cli_response(&c, 0);
	f->shut[1] = cli_closed(&c);
	cli_close(&c);
}

static void test_request_timeout(void **state)
{
	struct fx f;
	struct kl_httpd_limits lim;

	(void)state;
	kl_httpd_limits_default(&lim);
	lim.request_timeout_ms = 150;
	lim.idle_timeout_ms = 5000;
	fx_init(&f, &lim);
	fx_run(&f, c_request_timeout);
	assert_int_equal(status_of(f.resp[0]), 408);
	assert_true(has_header(f.resp[0], "\r\nConnection: close\r\n"));
	assert_true(f.ms[0] >= 120 && f.ms[0] < 3000);
	assert_int_equal(f.shut[0], 1);
	assert_true(f.ms[1] > 500); /* it really trickled past the limit */
	assert_int_equal(status_of(f.resp[1]), 408);
	assert_int_equal(f.shut[1], 1);
	assert_int_equal(f.hits, 0);
	fx_end(&f);
}

static void c_split(struct fx *f)
{
	static const char req[] = "POST /echo?x=1 HTTP/1.1\r\nHost: t\r\nX-Test: Split Value\r\n"
				  "X-Empty:\r\nContent-Length: 16\r\n\r\nping-body-secret";
	struct cli c;
	size_t i;

	if (cli_open(&c, f->port))
		return;
	for (i = 0; i < sizeof(req) - 1; i++) {
		cli_sendn(&c, req + i, 1);
		sleep_ms(1);
	}
	f->resp[0] = cli_response(&c, 0);
	cli_close(&c);
}

static void test_split_bytes(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, NULL);
	fx_run(&f, c_split);
	assert_int_equal(status_of(f.resp[0]), 200);
	assert_true(has_header(f.resp[0], "\r\nContent-Type: application/octet-stream\r\n"));
	assert_string_equal(body_of(f.resp[0]), "ping-body-secret");
	assert_string_equal(f.hdr, "Split Value");
	assert_string_equal(f.body, "ping-body-secret");
	fx_end(&f);
}

static void c_big(struct fx *f)
{
	struct cli c;

	/* a small window, so that the answer cannot all go into socket buffers at once */
	if (cli_open_buf(&c, f->port, 16384))
		return;
	cli_send(&c, "GET /big HTTP/1.1\r\nHost: t\r\n\r\nGET /big HTTP/1.1\r\nHost: t\r\n\r\n"
		     "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	/* a slow reader: the first answer waits in the write queue */
	sleep_ms(300);
	f->ms[NRESP - 1] = now_ms();
	f->resp[0] = cli_response(&c, 0);
	f->resp[1] = cli_response(&c, 0);
	f->resp[2] = cli_response(&c, 0);
	cli_close(&c);
}

static void test_big_slow_reader(void **state)
{
	struct fx f;
	int i;

	(void)state;
	fx_init(&f, NULL);
	f.big = malloc(BIG_BODY);
	assert_non_null(f.big);
	memset(f.big, 'x', BIG_BODY);
	fx_run(&f, c_big);
	for (i = 0; i < 2; i++) {
		assert_int_equal(status_of(f.resp[i]), 200);
		assert_int_equal(strlen(body_of(f.resp[i])), BIG_BODY);
		assert_int_equal(strspn(body_of(f.resp[i]), "x"), BIG_BODY);
	}
	assert_string_equal(body_of(f.resp[2]), "hello");
	assert_int_equal(f.hits, 3);
	/* the second request waited until the first answer had been read */
	assert_true(f.ms[1] >= f.ms[NRESP - 1]);
	fx_end(&f);
}

static void c_expect(struct fx *f)
{
	struct cli c;

	if (cli_open(&c, f->port))
		return;
	cli_send(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
		     "Expect: 100-continue\r\n\r\n");
	f->resp[0] = cli_response(&c, 0);
	cli_send(&c, "hello");
	f->resp[1] = cli_response(&c, 0);
	cli_close(&c);
}

static void test_expect_continue(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, NULL);
	fx_run(&f, c_expect);
	assert_int_equal(status_of(f.resp[0]), 100);
	assert_int_equal(status_of(f.resp[1]), 200);
	assert_string_equal(body_of(f.resp[1]), "hello");
	fx_end(&f);
}

static void h_never(struct kl_httpd_req *req, void *arg)
{
	(void)arg;
	kl_httpd_respond(req, 500, NULL, NULL, NULL, 0);
	fail();
}

static void on_plain_closed(void *arg)
{
	(*(int *)arg)++;
}

static void test_listen_and_routes(void **state)
{
	uv_loop_t loop;
	struct kl_log log;
	struct kl_error err;
	struct kl_httpd *a, *b;
	char addr[64];
	int closed = 0, rc;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	kl_log_init(&log, KL_LOG_TEXT, 0, stderr);
	a = kl_httpd_new(&loop, "a", NULL, &log);
	b = kl_httpd_new(&loop, "b", NULL, &log);
	assert_non_null(a);
	assert_non_null(b);

	assert_int_equal(kl_httpd_route(a, "/x", KL_HTTP_GET, h_never, NULL), 0);
	assert_int_equal(kl_httpd_route(a, "/x", KL_HTTP_POST, h_never, NULL), -EEXIST);
	assert_int_equal(kl_httpd_route(a, "/y", 0, h_never, NULL), -EINVAL);

	kl_error_clear(&err);
	assert_int_equal(kl_httpd_listen(b, "127.0.0.1:99999", &err), -EINVAL);
	assert_string_equal(err.msg, "listen on 127.0.0.1:99999: invalid port");
	kl_error_clear(&err);
	assert_int_equal(kl_httpd_listen(b, "127.0.0.1", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "127.0.0.1"));
	kl_error_clear(&err);
	assert_int_equal(kl_httpd_listen(b, "no.such.host:80", &err), -EINVAL);
	assert_string_equal(err.msg, "listen on no.such.host:80: invalid address");
	kl_error_clear(&err);
	assert_int_equal(kl_httpd_listen(b, "::1:80", &err), -EINVAL);
	kl_error_clear(&err);
	assert_int_equal(kl_httpd_listen(b, "127.0.0.1:8x", &err), -EINVAL);

	kl_error_clear(&err);
	assert_int_equal(kl_httpd_listen(a, "127.0.0.1:0", &err), 0);
	assert_true(kl_httpd_port(a) > 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", kl_httpd_port(a));
	kl_error_clear(&err);
	rc = kl_httpd_listen(b, addr, &err);
	assert_int_equal(rc, UV_EADDRINUSE);
	snprintf(addr + strlen(addr), sizeof(addr) - strlen(addr), ": address already in use");
	assert_true(strncmp(err.msg, "listen on ", 10) == 0);
	assert_string_equal(err.msg + 10, addr);

	kl_httpd_close(a, on_plain_closed, &closed);
	kl_httpd_close(b, on_plain_closed, &closed);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(closed, 2);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_listen_v6(void **state)
{
	uv_loop_t loop;
	struct kl_log log;
	struct kl_error err;
	struct kl_httpd *s;
	int closed = 0, rc;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	kl_log_init(&log, KL_LOG_TEXT, 0, stderr);
	s = kl_httpd_new(&loop, "v6", NULL, &log);
	assert_non_null(s);
	kl_error_clear(&err);
	rc = kl_httpd_listen(s, "[::1]:0", &err);
	/* hosts without IPv6 loopback say so; the address itself must have parsed */
	if (rc == 0)
		assert_true(kl_httpd_port(s) > 0);
	else
		assert_true(rc == UV_EADDRNOTAVAIL || rc == UV_EAFNOSUPPORT);
	kl_httpd_close(s, on_plain_closed, &closed);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(closed, 1);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_limits_default(void **state)
{
	struct kl_httpd_limits l;

	(void)state;
	kl_httpd_limits_default(&l);
	assert_int_equal(l.max_header_bytes, 8192);
	assert_int_equal(l.max_body_bytes, 65536);
	assert_int_equal(l.max_connections, 256);
	assert_int_equal(l.idle_timeout_ms, 60000);
	assert_int_equal(l.request_timeout_ms, 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits_default),
		cmocka_unit_test(test_listen_and_routes),
		cmocka_unit_test(test_listen_v6),
		cmocka_unit_test(test_get_200),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_404_405),
		cmocka_unit_test(test_431),
		cmocka_unit_test(test_413),
		cmocka_unit_test(test_400),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_async_respond),
		cmocka_unit_test(test_disconnect_before_respond),
		cmocka_unit_test(test_close_with_pending),
		cmocka_unit_test(test_max_connections_reclaims_idle),
		cmocka_unit_test(test_max_connections_all_busy_503),
		cmocka_unit_test(test_linger_byte_cap),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_request_timeout),
		cmocka_unit_test(test_split_bytes),
		cmocka_unit_test(test_big_slow_reader),
		cmocka_unit_test(test_expect_continue),
	};

	/* as in cmd/kloompas: a write to a reset socket must be an error, not a signal */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
