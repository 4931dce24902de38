/*
 * notify/queue.c - per-notifier FIFO, retries and delivery reports (see internal.h).
 *
 * Each HTTP notifier has a FIFO of messages and one current message (being sent,
 * or waiting in its retry timer); the bound, queue_max, counts both (but not a
 * re-post), and so does the queue-length gauge. Every fate - delivered, dropped,
 * refused, written to the log - becomes a "report" (the message itself, body
 * freed) on one list drained by a 0 ms timer, so no done_cb runs inside
 * kl_notify_send, inside a kl_http callback, and a done_cb that closes the set
 * stops the drain cleanly. A message's ids name their clients: one message may
 * carry notices of several.
 *
 * Counting: kloompas_notifications_total counts messages - result="success" once
 * per message delivered (a 2xx, re-posts included; a dry-run message; a notice's
 * log line), "failure" once per failed attempt, "dropped" once per message given
 * up, refused by a full queue or rejected (which also counts its attempt as a
 * failure).
 *
 * Retries: what the type's answer hook calls retryable waits retry_initial_ms,
 * doubling up to retry_max_ms, and at least Retry-After; an attempt that would
 * start later than give_up_ms after the first one is not made: the message is
 * dropped instead.
 *
 * Secrets: URLs are only handed to kl_http, whose client has no log. Failures
 * are logged with the notifier name, the HTTP status or strerror() of the errno -
 * never libcurl's message, which may name the host.
 */
#include "notify/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kl_version.h"

/* ---------------------------------------------------------------- metrics */

void kl__count(struct kl__notifier *nt, const char *result)
{
	const char *v[] = {nt->name, result};

	if (nt->n->m_total)
		kl_metric_inc(nt->n->m_total, v);
}

void kl__gauge(struct kl__notifier *nt)
{
	const char *v[] = {nt->name};

	if (nt->n->m_queue)
		kl_metric_set(nt->n->m_queue, v, (double)(nt->nqueued + (nt->cur ? 1 : 0)));
}

/* --------------------------------------------------------------- reports */

void kl__msg_free(struct kl__msg *m)
{
	if (m->nt->type->msg_free)
		m->nt->type->msg_free(m);
	free(m->body);
	free(m->text);
	free(m->ids);
	free(m);
}

static void on_report(uv_timer_t *t)
{
	struct kl_notify *n = container_of(t, struct kl_notify, report);
	struct kl_notify_client *c;
	struct kl__msg *m;
	size_t i;

	while (!n->closing && !kl_list_empty(&n->reports)) {
		m = container_of(n->reports.next, struct kl__msg, link);
		kl_list_del(&m->link);
		/* done_cb may send (appending here) or close (then we stop) */
		for (i = 0; i < m->nids && !n->closing; i++) {
			c = m->ids[i].c;
			if (c->done_cb)
				c->done_cb(c->arg, m->ids[i].id, m->nt->name, m->delivered);
		}
		kl__msg_free(m);
	}
}

void kl__report(struct kl_notify *n, struct kl__msg *m, bool delivered)
{
	free(m->body);
	m->body = NULL;
	m->delivered = delivered;
	if (!m->nids) {
		kl__msg_free(m);
		return;
	}
	kl_list_add_tail(&n->reports, &m->link);
	if (!uv_is_active((uv_handle_t *)&n->report))
		uv_timer_start(&n->report, on_report, 0, 0);
}

/* -------------------------------------------------------------- delivery */

static void pump(struct kl__notifier *nt);

static void log_failure(struct kl__notifier *nt, int status, int code, int attempts)
{
	const char *msg = "notification failed";
	char c[16], a[16];

	snprintf(a, sizeof(a), "%d", attempts);
	if (status < 0) {
		kl_log_warn(nt->n->log, KL__COMPONENT, msg, "notifier", nt->name, "error",
			    strerror(-status), "attempts", a);
	} else {
		snprintf(c, sizeof(c), "%d", code);
		kl_log_warn(nt->n->log, KL__COMPONENT, msg, "notifier", nt->name, "code", c,
			    "attempts", a);
	}
}

/* The current message is done: delivered, dropped or (re-post) over. */
static void finish(struct kl__notifier *nt, bool delivered)
{
	struct kl__msg *m = nt->cur;

	nt->cur = NULL;
	if (m->resend) {
		nt->resend_queued = false;
		kl__msg_free(m);
	} else {
		kl__report(nt->n, m, delivered);
	}
	kl__gauge(nt);
}

static void log_dropped(struct kl__notifier *nt, const char *why, size_t nids)
{
	char ids[16];

	snprintf(ids, sizeof(ids), "%zu", nids);
	kl_log_error(nt->n->log, KL__COMPONENT, "notification dropped", "notifier", nt->name,
		     "reason", why, "notices", ids);
	kl__count(nt, "dropped");
}

static void drop(struct kl__notifier *nt, const char *why)
{
	log_dropped(nt, why, nt->cur->nids);
	finish(nt, false);
}

enum kl__answer kl__answer_http(int status, int code)
{
	if (status == 0 && code >= 200 && code < 300)
		return KL__DELIVERED;
	if (status < 0)
		return status != -EINVAL && status != -ENOTSUP ? KL__RETRY : KL__REJECT;
	return code >= 500 || code == 429 || code == 408 ? KL__RETRY : KL__REJECT;
}

static void on_retry(uv_timer_t *t);

/* When to try again (ms from now), or 0 to give up. */
static uint64_t next_wait(struct kl__notifier *nt, struct kl__msg *m, int retry_after_s)
{
	uint64_t wait = kl_backoff_next(&m->backoff, retry_after_s);
	uint64_t elapsed = uv_now(nt->n->loop) - m->first_try_ms;

	return elapsed + wait > nt->n->o.give_up_ms ? 0 : wait;
}

/* The outcome of one attempt of nt->cur: status 0 and an HTTP code, or an errno. */
static void attempt_done(struct kl__notifier *nt, int status, int code, int retry_after_s)
{
	enum kl__answer (*answer)(int, int) = nt->type->answer ? nt->type->answer : kl__answer_http;
	enum kl__answer verdict = answer(status, code);
	struct kl__msg *m = nt->cur;
	uint64_t wait;
	char tmp[32];

	if (verdict == KL__DELIVERED) {
		kl__count(nt, "success");
		snprintf(tmp, sizeof(tmp), "%d", code);
		kl_log_v(nt->n->log, 1, KL__COMPONENT, "notification sent", "notifier", nt->name,
			 "code", tmp);
		finish(nt, true);
		return;
	}
	kl__count(nt, "failure");
	log_failure(nt, status, code, m->attempts);
	if (m->resend) {
		finish(nt, false); /* the next re-post follows anyway */
		return;
	}
	if (verdict == KL__REJECT) {
		drop(nt, status < 0 ? "request refused" : "rejected by the receiver");
		return;
	}
	wait = next_wait(nt, m, retry_after_s);
	if (!wait) {
		drop(nt, "gave up retrying");
		return;
	}
	uv_timer_start(&nt->retry, on_retry, wait, 0);
}

static void on_http_done(void *arg, int status, int code, int retry_after_s, const char *msg)
{
	struct kl__notifier *nt = arg;

	nt->req = NULL;
	if (nt->n->closing || !nt->cur)
		return; /* cancelled by kl_notify_close: nobody is told */
	attempt_done(nt, status, code, retry_after_s);
	pump(nt);
}

/* Starts one attempt of nt->cur. On a synchronous failure the outcome is handled here. */
static void attempt(struct kl__notifier *nt)
{
	static const char *const headers[] = {"Content-Type: application/json", "Expect:", NULL};
	struct kl_notify *n = nt->n;
	struct kl__msg *m = nt->cur;
	struct kl_http_opts o = {
	    .method = "POST",
	    .headers = headers,
	    .user_agent = "kloompas/" KL_VERSION,
	    .timeout_ms = n->o.timeout_ms,
	};
	int rc;

	if (!m->attempts) {
		m->first_try_ms = uv_now(n->loop);
		kl_backoff_init(&m->backoff, n->o.retry_initial_ms, n->o.retry_max_ms);
	} else if (nt->type->refresh)
		nt->type->refresh(nt, m); /* on failure the old body goes again */
	m->attempts++;
	o.url = nt->url;
	o.body = m->body;
	o.body_len = m->len;
	if (nt->type->send)
		rc = nt->type->send(nt, m, on_http_done, nt, &nt->req);
	else
		rc = kl_http_request(n->http, &o, NULL, on_http_done, nt, &nt->req);
	if (rc < 0) {
		nt->req = NULL;
		attempt_done(nt, rc, 0, -1);
	}
}

static void on_retry(uv_timer_t *t)
{
	struct kl__notifier *nt = container_of(t, struct kl__notifier, retry);

	if (nt->cur)
		attempt(nt);
	pump(nt);
}

/* Starts the next queued message when none is current. */
static void pump(struct kl__notifier *nt)
{
	struct kl__msg *m;

	while (!nt->n->closing && !nt->cur && !kl_list_empty(&nt->queue)) {
		m = container_of(nt->queue.next, struct kl__msg, link);
		kl_list_del(&m->link);
		nt->nqueued--;
		nt->cur = m;
		if (m->resend && (!nt->type->refresh || nt->type->refresh(nt, m) != 0)) {
			finish(nt, false); /* nothing to re-post, or no memory for it */
			continue;
		}
		attempt(nt);
	}
	kl__gauge(nt);
}

void kl__enqueue(struct kl__notifier *nt, struct kl__msg *m)
{
	/* a re-post (at most one) does not take a notice's place */
	if (!m->resend &&
	    nt->nqueued + (nt->cur ? 1 : 0) - (nt->resend_queued ? 1 : 0) >= nt->n->o.queue_max) {
		log_dropped(nt, "queue full", m->nids);
		kl__report(nt->n, m, false);
		return;
	}
	if (m->resend)
		nt->resend_queued = true;
	kl_list_add_tail(&nt->queue, &m->link);
	nt->nqueued++;
	pump(nt);
}

void kl__repost(struct kl__notifier *nt)
{
	struct kl__msg *m;

	if (nt->resend_queued)
		return; /* the last one has not gone yet */
	m = calloc(1, sizeof(*m));
	if (!m)
		return;
	kl_list_init(&m->link);
	m->nt = nt;
	m->only = -1;
	m->resend = true;
	kl__enqueue(nt, m);
}

void kl__queues_free(struct kl_notify *n)
{
	struct kl__notifier *nt;
	struct kl__msg *m;
	size_t i;

	while (!kl_list_empty(&n->reports)) {
		m = container_of(n->reports.next, struct kl__msg, link);
		kl_list_del(&m->link);
		kl__msg_free(m);
	}
	for (i = 0; i < n->nn; i++) {
		nt = &n->nv[i];
		while (!kl_list_empty(&nt->queue)) {
			m = container_of(nt->queue.next, struct kl__msg, link);
			kl_list_del(&m->link);
			kl__msg_free(m);
		}
		if (nt->cur)
			kl__msg_free(nt->cur);
		nt->cur = NULL;
	}
}
