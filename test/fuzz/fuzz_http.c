/*
 * test/fuzz/fuzz_http.c - the HTTP/1.1 server of both listeners (util/httpd.c), from
 * the socket in.
 *
 * Input: the bytes a client sends. httpd.c has no parser entry point of its own:
 * its parsing is tied to its connection state machine (buffering, pausing at each
 * message end, limits, pipelining, lingering close), and that machine is what faces
 * the network. So each input gets a fresh server on 127.0.0.1:0 with the routes of
 * the two listeners (metrics: /metrics /healthz /livez /readyz; chat-ops:
 * /slack/commands and /api/v1/replicas, whose handlers run what the replica
 * enforcer runs on a request), plus /later, answered on a later loop turn so that
 * requests outlive their connection. A client on the same loop writes the input in
 * chunks drawn from the first bytes, running the loop between chunks so the server
 * sees separate reads, reading the answers; then it resets the connection once
 * nothing moves, or (one input in eight) half-closes and reads until the server
 * closes. The server is then closed; no handle may be left open.
 *
 * Limits are small (2 KiB of head, 4 KiB of body) so that 431 and 413 are reachable.
 * The server logs at -v 3 to /dev/null, in text or JSON by the first byte, so the
 * log escaping sees the hostile strings too.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "controllers/bearer.h"
#include "controllers/chatops.h"
#include "controllers/command.h"
#include "controllers/form.h"
#include "controllers/slack.h"
#include "test/fuzz/fuzz.h"
#include "util/error.h"
#include "util/httpd.h"
#include "util/log.h"

#define MAX_LATER 64
#define MAX_STEPS 64
#define GUARD_MS 20000

struct client {
	uv_tcp_t tcp;
	uv_connect_t conn;
	uv_write_t wr;
	uv_shutdown_t shut;
	bool connected, closing, closed;
	char rbuf[4096];
};

static uv_loop_t loop;
static uv_timer_t later_timer, guard;
static struct kl_log log_text, log_json;
static struct kl_httpd_req *later[MAX_LATER];
static size_t nlater;
static unsigned long progress; /* handler calls and bytes the client read */

static const char secret[] = "8f742231b10e8888abcd99yyyzzz85a5";
static struct kl_api_token tokens[] = {{"s3cr3t-token-1", "alex.guerra"}};
static struct kl_chatops_conf chatops = {
    .slack_signing_secret = secret, .tokens = tokens, .ntokens = 1};

static void on_guard(uv_timer_t *t)
{
	fuzz_fail("the connection did not end within %d ms", GUARD_MS);
}

static void on_later(uv_timer_t *t)
{
	size_t i, n = nlater;

	nlater = 0;
	progress++;
	for (i = 0; i < n; i++)
		kl_httpd_respond(later[i], 200, NULL, NULL, "later\n", 6);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FILE *devnull = fopen("/dev/null", "w");

	if (!devnull)
		fuzz_fail("cannot open /dev/null");
	signal(SIGPIPE, SIG_IGN);
	kl_log_init(&log_text, KL_LOG_TEXT, 3, devnull);
	kl_log_init(&log_json, KL_LOG_JSON, 3, devnull);
	if (uv_loop_init(&loop) || uv_timer_init(&loop, &later_timer) ||
	    uv_timer_init(&loop, &guard))
		fuzz_fail("uv init");
	return 0;
}

/* Reads what every handler may read, checking the accessors' contracts. */
static void look(struct kl_httpd_req *r)
{
	static const char *const names[] = {"host",
					    "Content-Type",
					    "AUTHORIZATION",
					    "x-slack-signature",
					    "Transfer-Encoding",
					    "content-length",
					    ""};
	const char *body, *v;
	size_t len, i;
	unsigned m = kl_httpd_req_method(r);

	progress++;
	if (m & (m - 1))
		fuzz_fail("method %u is more than one bit", m);
	if (!kl_httpd_req_path(r) || !kl_httpd_req_query(r) || !kl_httpd_req_peer(r))
		fuzz_fail("request without path, query or peer");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		v = kl_httpd_req_header(r, names[i]);
		if (v)
			(void)strlen(v);
	}
	body = kl_httpd_req_body(r, &len);
	if (len && !body)
		fuzz_fail("body of %zu bytes at NULL", len);
	if (len > 4096)
		fuzz_fail("body of %zu bytes over the 4096 limit", len);
	for (i = 0; i < len; i++)
		(void)*(volatile const char *)&body[i];
}

static void serve_plain(struct kl_httpd_req *r, void *arg)
{
	look(r);
	kl_httpd_respond(r, 200, "text/plain; version=0.0.4", "Cache-Control: no-store\r\n",
			 "# HELP x y\nx 1\n", 16);
}

static void serve_slack(struct kl_httpd_req *r, void *arg)
{
	const char *ts = kl_httpd_req_header(r, "X-Slack-Request-Timestamp");
	const char *sig = kl_httpd_req_header(r, "X-Slack-Signature");
	char why[300], text[1024], user[128];
	struct kl_cmd cmd;
	size_t len;
	const char *body;

	look(r);
	body = kl_httpd_req_body(r, &len);
	/* a fuzzer cannot forge the HMAC: whatever the verdict, go on to the form, as
	 * serve_slack does for a verified request */
	kl_slack_verify(secret, ts ? ts : "", sig ? sig : "", body, len, 1531420618, why,
			sizeof(why));
	if (kl_form_get(body, len, "text", text, sizeof(text)) < 0 ||
	    kl_form_get(body, len, "user_name", user, sizeof(user)) < 0) {
		kl_httpd_respond(r, 400, NULL, NULL, "bad form\n", 9);
		return;
	}
	kl_cmd_parse(text, "PRODUCTION", 86400000, &cmd, why, sizeof(why));
	kl_httpd_respond(r, 200, "application/json", NULL, "{\"text\":\"ok\"}", 13);
}

static void serve_api(struct kl_httpd_req *r, void *arg)
{
	const char *user = kl_bearer_user(&chatops, kl_httpd_req_header(r, "Authorization"));

	look(r);
	if (!user) {
		kl_httpd_respond(r, 401, NULL, "WWW-Authenticate: Bearer\r\n", "no\n", 3);
		return;
	}
	kl_httpd_respond(r, 200, "application/json", NULL, "{}", 2);
}

static void serve_later(struct kl_httpd_req *r, void *arg)
{
	look(r);
	if (nlater == MAX_LATER) {
		kl_httpd_respond(r, 503, NULL, "Retry-After: 1\r\n", "", 0);
		return;
	}
	later[nlater++] = r;
	uv_timer_start(&later_timer, on_later, 0, 0);
}

/* ------------------------------------------------------------------ client */

static void on_client_closed(uv_handle_t *h)
{
	struct client *c = h->data;

	c->closed = true;
}

/* Closes with a reset, so that no TIME_WAIT is left for each input. */
static void client_close(struct client *c)
{
	struct linger l = {1, 0};
	uv_os_fd_t fd;

	if (c->closing)
		return;
	c->closing = true;
	if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct client *c = h->data;

	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	if (n > 0)
		progress += (unsigned long)n;
	if (n < 0)
		client_close(s->data);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct client *c = req->handle->data;

	if (status < 0) {
		client_close(c);
		return;
	}
	c->connected = true;
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
		client_close(c);
}

static void on_written(uv_write_t *w, int status)
{
}

static void on_shut(uv_shutdown_t *s, int status)
{
	if (status < 0 && status != UV_ECANCELED)
		client_close(s->handle->data);
}

static void on_server_closed(void *arg)
{
	*(bool *)arg = true;
}

/*
 * Writes the input in chunks, the loop running between them. Then either half-closes
 * and waits for the server to close (its EOF handling), or - most of the time - waits
 * until nothing moves any more and resets the connection. A client that sends FIN
 * first and then gets the server's FIN is left in TIME_WAIT, holding a port for a
 * minute: at hundreds of inputs a second that would starve the machine of ports.
 */
static void send_input(struct client *c, const uint8_t *data, size_t size, bool half_close)
{
	uint64_t seed = fuzz_seed(data, size);
	size_t off = 0, n, steps = 0;
	uv_buf_t b;
	int r;

	while (off < size && !c->closing) {
		n = ++steps < MAX_STEPS ? fuzz_chunk(&seed, size - off) : size - off;
		b = uv_buf_init((char *)data + off, (unsigned)n);
		r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (r == UV_EAGAIN)
			r = 0;
		if (r < 0) {
			client_close(c);
			return;
		}
		off += (size_t)r;
		if ((size_t)r < n) {
			/* the server holds back: queue the rest, shutdown waits for it */
			b = uv_buf_init((char *)data + off, (unsigned)(size - off));
			if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
				client_close(c);
			off = size;
			break;
		}
		uv_run(&loop, UV_RUN_NOWAIT);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	if (c->closing)
		return;
	if (half_close) {
		if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shut) < 0)
			client_close(c);
		return;
	}
	for (steps = 0; !c->closing && steps < 4;) {
		unsigned long before = progress;

		uv_run(&loop, UV_RUN_NOWAIT);
		if (progress == before && !nlater &&
		    !uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp))
			steps++;
		else
			steps = 0;
	}
	client_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_httpd_limits lim;
	struct sockaddr_in addr;
	struct client c;
	struct kl_httpd *s;
	struct kl_error err;
	bool srv_closed = false;

	kl_httpd_limits_default(&lim);
	lim.max_header_bytes = 2048;
	lim.max_body_bytes = 4096;
	lim.max_connections = 4;
	lim.idle_timeout_ms = 1000;
	lim.request_timeout_ms = 1000;
	s = kl_httpd_new(&loop, size && data[0] & 1 ? "chatops" : "metrics", &lim,
			 size && data[0] & 1 ? &log_json : &log_text);
	if (!s)
		fuzz_fail("out of memory");
	if (kl_httpd_route(s, "/metrics", KL_HTTP_GET, serve_plain, NULL) ||
	    kl_httpd_route(s, "/healthz", KL_HTTP_GET | KL_HTTP_HEAD, serve_plain, NULL) ||
	    kl_httpd_route(s, "/livez", KL_HTTP_GET, serve_plain, NULL) ||
	    kl_httpd_route(s, "/readyz", KL_HTTP_GET, serve_plain, NULL) ||
	    kl_httpd_route(s, "/slack/commands", KL_HTTP_POST, serve_slack, NULL) ||
	    kl_httpd_route(s, "/api/v1/replicas", KL_HTTP_POST, serve_api, NULL) ||
	    kl_httpd_route(s, "/later", KL_HTTP_GET | KL_HTTP_POST | KL_HTTP_PUT | KL_HTTP_DELETE,
			   serve_later, NULL))
		fuzz_fail("routes");
	kl_error_clear(&err);
	if (kl_httpd_listen(s, "127.0.0.1:0", &err) < 0)
		fuzz_fail("listen: %s", err.msg);

	memset(&c, 0, sizeof(c));
	uv_tcp_init(&loop, &c.tcp);
	c.tcp.data = &c;
	uv_ip4_addr("127.0.0.1", kl_httpd_port(s), &addr);
	if (uv_tcp_connect(&c.conn, &c.tcp, (const struct sockaddr *)&addr, on_connect) < 0)
		fuzz_fail("connect");
	uv_timer_start(&guard, on_guard, GUARD_MS, 0);
	while (!c.connected && !c.closing)
		uv_run(&loop, UV_RUN_ONCE);
	if (c.connected)
		send_input(&c, data, size, size && (data[0] & 0x70) == 0x70);
	while (!c.closed || nlater)
		uv_run(&loop, UV_RUN_ONCE);
	uv_timer_stop(&guard);

	kl_httpd_close(s, on_server_closed, &srv_closed);
	while (!srv_closed)
		uv_run(&loop, UV_RUN_ONCE);
	uv_run(&loop, UV_RUN_NOWAIT);
	if (uv_loop_alive(&loop))
		fuzz_fail("handles left open after the server closed");
	return 0;
}
