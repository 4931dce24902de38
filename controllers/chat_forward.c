/*
 * controllers/chat_forward.c - a follower's leader-only chat-ops requests go to the
 * leader (see chat_forward.h).
 *
 * DESIGN
 * - One kl_http client, made at the first forward (most followers never forward), with
 *   no log: the requests carry signatures and tokens. Each forward is one struct fwd
 *   holding the request being answered and the leader's answer as it arrives.
 * - No name lookup, proxy or redirect: the address is a literal IP checked here, an
 *   empty proxy turns off libcurl's *_proxy environment variables, and libcurl follows
 *   no Location unless told to.
 * - How an error is said follows the path: Slack's slash commands get the usual 200
 *   with an ephemeral message (Slack shows the user nothing else), the rest a 503 with
 *   Retry-After, as JSON on the API paths.
 */
#include "controllers/chat_forward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/chat_reply.h"
#include "kubeclient/http.h"
#include "util/buf.h"

#define COMP "chatops"
#define CONNECT_TIMEOUT_MS 2000

enum result { FW_OK, FW_NO_LEADER, FW_UNREACHABLE, FW_LOOP };
static const char *const result_names[] = { "ok", "no_leader", "unreachable", "loop" };

struct kl_chat_forward {
	uv_loop_t *loop;
	struct kl_lease *lease;
	const struct kl_log *log;
	struct kl_metric *m;
	struct kl_http *http; /* NULL until the first forward */
	bool closing;
	void (*closed_cb)(void *arg);
	void *closed_arg;
};

/* One forward in flight. */
struct fwd {
	struct kl_chat_forward *f;
	struct kl_httpd_req *req;
	struct kl_http_req *hreq;
	struct kl_buf answer;
	char ctype[128];
	char address[64];
};

/* ---------------------------------------------------------------- pure parts */

int kl_chat_forward_url(const char *address, const char *path, const char *query, char *url,
			size_t len)
{
	unsigned char a[16];
	char host[48], *end;
	const char *colon, *h;
	size_t hl;
	long port;
	int n;

	if (!address || !path || path[0] != '/')
		return -EINVAL;
	if (address[0] == '[') {
		h = address + 1;
		colon = strchr(address, ']');
		if (!colon || colon[1] != ':')
			return -EINVAL;
		hl = (size_t)(colon - h);
		colon++;
	} else {
		h = address;
		colon = strchr(address, ':');
		if (!colon || strchr(colon + 1, ':'))
			return -EINVAL;
		hl = (size_t)(colon - h);
	}
	if (!hl || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (colon[1] < '1' || colon[1] > '9')
		return -EINVAL;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || port < 1 || port > 65535)
		return -EINVAL;
	if (address[0] == '[') {
		static const unsigned char zero[16];

		/* unspecified (::) and multicast (ff00::/8) lead nowhere */
		if (inet_pton(AF_INET6, host, a) != 1 || !memcmp(a, zero, 16) || a[0] == 0xff)
			return -EINVAL;
	} else {
		/* 0.0.0.0/8, multicast 224.0.0.0/4 and up, broadcast: not a pod */
		if (inet_pton(AF_INET, host, a) != 1 || a[0] == 0 || a[0] >= 224)
			return -EINVAL;
	}
	n = snprintf(url, len, "http://%s%s%s%s", address, path, query && *query ? "?" : "",
		     query && *query ? query : "");
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int kl_chat_forward_headers(kl_chat_forward_header_cb get, const void *arg, char *buf,
			    size_t len, const char **out, size_t nout)
{
	static const char *const names[] = { "Content-Type", "Authorization",
					     "X-Slack-Request-Timestamp", "X-Slack-Signature" };
	static const char *const fixed[] = { KL_CHAT_FORWARD_HEADER ": 1", "Expect:" };
	const size_t nnames = sizeof(names) / sizeof(names[0]);
	const size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	size_t i, k = 0, used = 0;
	const char *v, *p;
	int n;

	if (nout < nnames + nfixed + 1)
		return -ENOSPC;
	for (i = 0; i < nnames + nfixed; i++) {
		if (i < nnames) {
			v = get(arg, names[i]);
			if (!v)
				continue;
			for (p = v; *p; p++)
				if ((unsigned char)*p < 0x20 && *p != '\t')
					return -EINVAL;
			n = snprintf(buf + used, len - used, "%s: %s", names[i], v);
		} else {
			n = snprintf(buf + used, len - used, "%s", fixed[i - nnames]);
		}
		if (n < 0 || (size_t)n >= len - used)
			return -ENOSPC;
		out[k++] = buf + used;
		used += (size_t)n + 1;
	}
	out[k] = NULL;
	return (int)k;
}

/* ---------------------------------------------------------------- answers */

static void count(struct kl_chat_forward *f, enum result r)
{
	const char *v[] = { result_names[r] };

	if (f->m)
		kl_metric_inc(f->m, v);
}

/* A forward that did not reach the leader: said the way req's path expects. */
static void refuse(struct kl_chat_forward *f, struct kl_httpd_req *req, enum result r,
		   const char *why)
{
	const char *path = kl_httpd_req_path(req);
	struct kl_buf b;

	count(f, r);
	kl_log_warn(f->log, COMP, "not forwarded to the leader", "path", path, "result",
		    result_names[r], "reason", why);
	if (strcmp(path, "/slack/commands") == 0) {
		kl_chat_slack_message(req, false, why);
		return;
	}
	if (strncmp(path, "/api/", 5) != 0) {
		kl_httpd_respond(req, 503, NULL, "Retry-After: 1\r\n", why, strlen(why));
		return;
	}
	kl_buf_init(&b);
	kl_buf_puts(&b, "{\"error\":");
	kl_buf_json_string(&b, why);
	kl_buf_puts(&b, "}");
	if (kl_buf_str(&b))
		kl_httpd_respond(req, 503, "application/json", "Retry-After: 1\r\n", b.p, b.len);
	else
		kl_httpd_respond(req, 503, NULL, NULL, "out of memory\n", 14);
	kl_buf_free(&b);
}

static void fwd_free(struct fwd *w)
{
	kl_buf_free(&w->answer);
	free(w);
}

static void take_ctype(struct fwd *w)
{
	const char *ct;

	if (w->ctype[0] || !w->hreq)
		return;
	ct = kl_http_content_type(w->hreq);
	if (ct[0] && strlen(ct) < sizeof(w->ctype) && !strpbrk(ct, "\r\n"))
		snprintf(w->ctype, sizeof(w->ctype), "%s", ct);
}

static int on_data(void *arg, int status_code, const char *buf, size_t len)
{
	struct fwd *w = arg;

	take_ctype(w);
	if (w->answer.len + len > KL_CHAT_FORWARD_MAX_ANSWER)
		return -EMSGSIZE;
	kl_buf_add(&w->answer, buf, len);
	return w->answer.oom ? -ENOMEM : 0;
}

static void on_done(void *arg, int status, int status_code, int retry_after_s, const char *msg)
{
	struct fwd *w = arg;
	struct kl_chat_forward *f = w->f;
	char why[400], code[16];

	take_ctype(w);
	w->hreq = NULL;
	if (status == 0 && status_code >= 200 && status_code <= 599) {
		count(f, FW_OK);
		snprintf(code, sizeof(code), "%d", status_code);
		kl_log_info(f->log, COMP, "forwarded to the leader", "path",
			    kl_httpd_req_path(w->req), "leader", w->address, "status", code);
		kl_httpd_respond(w->req, status_code, w->ctype[0] ? w->ctype : NULL, NULL,
				 w->answer.len ? w->answer.p : "", w->answer.len);
	} else {
		if (status == -EMSGSIZE)
			snprintf(why, sizeof(why), "the leader's answer is larger than %d bytes",
				 KL_CHAT_FORWARD_MAX_ANSWER);
		else if (status == -ECANCELED)
			snprintf(why, sizeof(why), "this replica is shutting down");
		else if (status == 0)
			snprintf(why, sizeof(why), "the leader answered HTTP %d", status_code);
		else
			snprintf(why, sizeof(why), "%s", msg && *msg ? msg : strerror(-status));
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 "; no leader reachable at %s, try again", w->address);
		refuse(f, w->req, FW_UNREACHABLE, why);
	}
	fwd_free(w);
}

/* ---------------------------------------------------------------- forwarding */

bool kl_chat_forward_wanted(const struct kl_chat_forward *f)
{
	return f && !f->closing && !kl_lease_is_leader(f->lease);
}

static const char *req_header(const void *arg, const char *name)
{
	return kl_httpd_req_header(arg, name);
}

void kl_chat_forward(struct kl_chat_forward *f, struct kl_httpd_req *req)
{
	static const struct kl_http_tls no_proxy = { .proxy_url = "" };
	struct kl_http_opts ho = { 0 };
	const char *address, *headers[8];
	char url[512], hbuf[4096], why[300];
	struct fwd *w;
	size_t len;
	int rc;

	if (kl_httpd_req_header(req, KL_CHAT_FORWARD_HEADER)) {
		refuse(f, req, FW_LOOP,
		       "a forwarded request reached a replica that does not lead (the Lease "
		       "changed hands); try again");
		return;
	}
	address = kl_lease_holder_annotation(f->lease);
	if (!address) {
		refuse(f, req, FW_NO_LEADER,
		       "no leader now (the Lease is free or expired, or its holder gave no "
		       "chat-ops address); try again");
		return;
	}
	if (kl_chat_forward_url(address, kl_httpd_req_path(req), kl_httpd_req_query(req), url,
				sizeof(url)) < 0) {
		snprintf(why, sizeof(why),
			 "the Lease's chat-ops address \"%.64s\" is not IP:PORT; no leader "
			 "reachable, try again",
			 address);
		refuse(f, req, FW_NO_LEADER, why);
		return;
	}
	rc = kl_chat_forward_headers(req_header, req, hbuf, sizeof(hbuf), headers, 8);
	w = calloc(1, sizeof(*w));
	if (!f->http && !f->closing)
		f->http = kl_http_new(f->loop, NULL);
	if (rc < 0 || !w || !f->http) {
		free(w);
		refuse(f, req, FW_UNREACHABLE,
		       rc == -EINVAL ? "a header holds a control byte"
				     : "out of memory; no leader reachable, try again");
		return;
	}
	w->f = f;
	w->req = req;
	kl_buf_init(&w->answer);
	snprintf(w->address, sizeof(w->address), "%s", address);
	ho.method = kl_httpd_req_method(req) == KL_HTTP_GET ? "GET" : "POST";
	ho.url = url;
	ho.headers = headers;
	ho.body = kl_httpd_req_body(req, &len);
	ho.body_len = len;
	ho.tls = &no_proxy;
	ho.user_agent = "kloompas-forward";
	ho.timeout_ms = KL_CHAT_FORWARD_TIMEOUT_MS;
	ho.connect_timeout_ms = CONNECT_TIMEOUT_MS;
	rc = kl_http_request(f->http, &ho, on_data, on_done, w, &w->hreq);
	if (rc < 0) {
		fwd_free(w);
		snprintf(why, sizeof(why), "cannot start the request (%s); no leader reachable, "
			 "try again", strerror(-rc));
		refuse(f, req, FW_UNREACHABLE, why);
	}
}

/* ---------------------------------------------------------------- lifecycle */

struct kl_chat_forward *kl_chat_forward_new(uv_loop_t *loop, struct kl_lease *lease,
					    const struct kl_log *log, struct kl_metrics *metrics)
{
	static const char *const labels[] = { "result", NULL };
	struct kl_chat_forward *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->loop = loop;
	f->lease = lease;
	f->log = log;
	if (metrics) {
		f->m = kl_metrics_counter(metrics, "kloompas_chatops_forwarded_total",
					  "Chat-ops requests a follower sent to the leader, by "
					  "result (ok, no_leader, unreachable, loop).",
					  labels);
		if (!f->m) {
			free(f);
			return NULL;
		}
	}
	return f;
}

static void http_closed(void *arg)
{
	struct kl_chat_forward *f = arg;
	void (*cb)(void *arg) = f->closed_cb;
	void *cb_arg = f->closed_arg;

	free(f);
	if (cb)
		cb(cb_arg);
}

void kl_chat_forward_close(struct kl_chat_forward *f, void (*cb)(void *arg), void *arg)
{
	f->closing = true;
	f->closed_cb = cb;
	f->closed_arg = arg;
	if (f->http) {
		/* every forward in flight ends in on_done with -ECANCELED, answered 503 */
		kl_http_close(f->http, http_closed, f);
		return;
	}
	http_closed(f);
}
