/*
 * kubeclient/lease.c - leader election on a coordination.k8s.io/v1 Lease (see lease.h).
 *
 * DESIGN
 * One elector is a small state machine with at most one API call in flight and two
 * timers:
 *   - tick: while idle it starts the next round; while a call is in flight it bounds
 *     that call (cancelled after renew_deadline, as client-go bounds its calls with a
 *     RenewDeadline context), so one hung request cannot stall the elector;
 *   - deadline: armed while we lead, renew_deadline after the last successful write;
 *     when it fires we stop leading, whatever is in flight.
 * A round is client-go's tryAcquireOrRenew. The leader first renews optimistically
 * (an UPDATE carrying the resourceVersion of its own last write) and falls back to a
 * GET on any error. A candidate GETs: a missing Lease is CREATEd with us as holder; a
 * Lease held by another is left alone until it has not changed, as we saw it, for
 * its leaseDurationSeconds on our monotonic clock (observed time: renewTime is never
 * compared with our wall clock, so skew between replicas does not matter); a free
 * (released) or expired one is taken with an UPDATE. Every write is optimistic, so a
 * 409 means someone else wrote first: the next round reads again. Candidates wait
 * retry * [1, 2.2) between rounds (client-go's JitterUntil with factor 1.2), so
 * replicas started together drift apart; the leader renews every retry period.
 *
 * Unlike client-go, a leader that reads the Lease and finds another live holder
 * stops leading at once instead of waiting for its renew deadline: it already knows
 * it lost.
 *
 * Updates send back the metadata of the Lease as last read or written (kept as JSON
 * text), as client-go sends back the object it read: labels, annotations and the
 * resourceVersion, which is the optimistic lock, survive our writes.
 */
#include "kubeclient/lease.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define COMP "lease"
#define LEASE_API "/apis/coordination.k8s.io/v1/namespaces/"
#define JITTER_FACTOR 1.2
#define TIME_LEN 64

enum op { OP_NONE, OP_GET, OP_CREATE, OP_UPDATE, OP_RELEASE };

/* The Lease as we last read or wrote it. */
struct record {
	char *holder; /* "" when free */
	/*
	 * Its metadata object as JSON without "annotations", sent back on UPDATE; NULL:
	 * never seen. anns: the members of its annotations but ours (annotation_key), as
	 * JSON members ("" when none); note: the value of ours as read, or NULL.
	 */
	char *meta, *anns, *note;
	char rv[64], renew[TIME_LEN], acquire[TIME_LEN];
	int64_t duration_s, transitions;
};

struct kl_lease {
	uv_loop_t *loop;
	struct kl_kube *kube;
	const struct kl_log *log;
	struct kl_metric *gauge;
	kl_lease_cb cb;
	void *arg;
	char *ns, *name, *identity, *path, *coll, *desc;
	char *ann_key, *ann_value; /* the annotation we write as holder; NULL: none */
	uint64_t lease_ms, renew_deadline_ms, retry_ms;
	int64_t lease_s; /* leaseDurationSeconds we write */
	uint64_t rng;

	uv_timer_t tick, deadline;
	struct kl_kube_req *req; /* the call in flight, or NULL */
	enum op op;
	bool fast; /* the UPDATE in flight is the leader's optimistic renewal */

	struct record obs;
	uint64_t observed_at; /* uv_now() when obs last changed */
	char *reported;	      /* holder last logged with "leader is" */

	bool started, leader, stopping;
	uint64_t last_renew; /* uv_now() of the last successful write */
	int closing;
	void (*stop_cb)(void *arg);
	void *stop_arg;
};

static void on_tick(uv_timer_t *t);
static void on_reply(void *arg, const struct kl_kube_status *st, const struct kl_json *obj);

/* ---------------------------------------------------------------- JSON text */

/* A growable string; oom is sticky, checked once at the end. */
struct out {
	char *p;
	size_t len, cap;
	bool oom;
};

static void out_add(struct out *o, const char *s, size_t n)
{
	char *p;
	size_t cap;

	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		cap = (o->len + n + 1) * 2;
		p = realloc(o->p, cap);
		if (!p) {
			o->oom = true;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void out_puts(struct out *o, const char *s)
{
	out_add(o, s, strlen(s));
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert(n >= 0 && (size_t)n < sizeof(buf)); /* only numbers go through here */
	out_add(o, buf, (size_t)n);
}

static void out_string(struct out *o, const char *s, size_t len)
{
	char esc[8];
	size_t i, from = 0;

	out_add(o, "\"", 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		out_add(o, s + from, i - from);
		if (c == '"' || c == '\\')
			snprintf(esc, sizeof(esc), "\\%c", c);
		else
			snprintf(esc, sizeof(esc), "\\u%04x", c);
		out_puts(o, esc);
		from = i + 1;
	}
	out_add(o, s + from, len - from);
	out_add(o, "\"", 1);
}

static void out_str(struct out *o, const char *s)
{
	out_string(o, s, strlen(s));
}

/* Writes a decoded value back as JSON (depth is bounded by the decoder). */
static void out_json(struct out *o, const struct kl_json *v)
{
	const struct kl_json *c;

	switch (v->type) {
	case KL_JSON_NULL:
		out_puts(o, "null");
		break;
	case KL_JSON_BOOL:
		out_puts(o, v->boolean ? "true" : "false");
		break;
	case KL_JSON_NUMBER:
		out_add(o, v->str, v->len);
		break;
	case KL_JSON_STRING:
		out_string(o, v->str, v->len);
		break;
	case KL_JSON_ARRAY:
	case KL_JSON_OBJECT:
		out_puts(o, v->type == KL_JSON_ARRAY ? "[" : "{");
		for (c = v->child; c; c = c->next) {
			if (c != v->child)
				out_puts(o, ",");
			if (v->type == KL_JSON_OBJECT) {
				out_str(o, c->key ? c->key : "");
				out_puts(o, ":");
			}
			out_json(o, c);
		}
		out_puts(o, v->type == KL_JSON_ARRAY ? "]" : "}");
		break;
	}
}

/*
 * meta as JSON without its "annotations" into o; the members of its annotations but
 * skip (may be NULL) into anns; the value of skip, when a string, into *note.
 */
static void out_meta(struct out *o, struct out *anns, const struct kl_json *meta,
		     const char *skip, char **note)
{
	const struct kl_json *c, *a;
	bool first = true;

	out_puts(o, "{");
	for (c = meta->child; c; c = c->next) {
		if (c->key && strcmp(c->key, "annotations") == 0 && c->type == KL_JSON_OBJECT) {
			for (a = c->child; a; a = a->next) {
				if (skip && a->key && strcmp(a->key, skip) == 0) {
					if (a->type == KL_JSON_STRING && !*note)
						*note = strndup(a->str, a->len);
					continue;
				}
				if (anns->len)
					out_puts(anns, ",");
				out_str(anns, a->key ? a->key : "");
				out_puts(anns, ":");
				out_json(anns, a);
			}
			continue;
		}
		if (!first)
			out_puts(o, ",");
		first = false;
		out_str(o, c->key ? c->key : "");
		out_puts(o, ":");
		out_json(o, c);
	}
	out_puts(o, "}");
}

/* RFC 3339 with microseconds, UTC: a Kubernetes MicroTime. */
static void micro_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char day[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06uZ", day, (unsigned)(ts.tv_nsec / 1000));
}

/*
 * A Lease document: the metadata last seen (with its resourceVersion) when there is
 * one and with_meta, else a fresh one; then the spec. Returns new text or NULL.
 */
static char *lease_doc(const struct kl_lease *l, bool with_meta, const char *holder,
		       int64_t duration_s, const char *acquire, const char *renew,
		       int64_t transitions, size_t *len)
{
	struct out o = {0};

	bool ours = l->ann_key && holder[0] && strcmp(holder, l->identity) == 0;
	const char *anns = with_meta && l->obs.meta ? l->obs.anns : "";

	out_puts(&o, "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":");
	if (with_meta && l->obs.meta) {
		/* the object without its closing brace: the annotations follow */
		out_add(&o, l->obs.meta, strlen(l->obs.meta) - 1);
		if ((anns[0] || ours) && strcmp(l->obs.meta, "{}") != 0)
			out_puts(&o, ",");
	} else {
		out_puts(&o, "{\"name\":");
		out_str(&o, l->name);
		out_puts(&o, ",\"namespace\":");
		out_str(&o, l->ns);
		if (ours)
			out_puts(&o, ",");
	}
	if (anns[0] || ours) {
		/* ours as holder (never in a release), with every other annotation kept */
		out_puts(&o, "\"annotations\":{");
		out_puts(&o, anns);
		if (ours) {
			out_puts(&o, anns[0] ? "," : "");
			out_str(&o, l->ann_key);
			out_puts(&o, ":");
			out_str(&o, l->ann_value);
		}
		out_puts(&o, "}");
	}
	out_puts(&o, "}");
	out_puts(&o, ",\"spec\":{\"holderIdentity\":");
	out_str(&o, holder);
	out_printf(&o, ",\"leaseDurationSeconds\":%lld,\"acquireTime\":", (long long)duration_s);
	out_str(&o, acquire);
	out_puts(&o, ",\"renewTime\":");
	out_str(&o, renew);
	out_printf(&o, ",\"leaseTransitions\":%lld}}", (long long)transitions);
	if (o.oom) {
		free(o.p);
		return NULL;
	}
	*len = o.len;
	return o.p;
}

/* ---------------------------------------------------------------- the record */

static bool record_same(const struct record *a, const struct record *b)
{
	return strcmp(a->holder, b->holder) == 0 && strcmp(a->rv, b->rv) == 0 &&
	       strcmp(a->renew, b->renew) == 0 && strcmp(a->acquire, b->acquire) == 0 &&
	       a->duration_s == b->duration_s && a->transitions == b->transitions;
}

static void record_free(struct record *r)
{
	free(r->holder);
	free(r->meta);
	free(r->anns);
	free(r->note);
	memset(r, 0, sizeof(*r));
}

/*
 * Takes a Lease from the server as what we know now; the observed time restarts when
 * it differs from what we knew. 0 or -ENOMEM (then nothing changes).
 */
static int observe(struct kl_lease *l, const struct kl_json *obj)
{
	const struct kl_json *spec = kl_json_get(obj, "spec"), *meta = kl_json_get(obj, "metadata");
	struct record r = {0};
	struct out o = {0}, anns = {0};

	r.holder = strdup(kl_json_str(kl_json_get(spec, "holderIdentity"), ""));
	if (meta && meta->type == KL_JSON_OBJECT)
		out_meta(&o, &anns, meta, l->ann_key, &r.note);
	out_puts(&anns, "");
	if (!r.holder || o.oom || !o.p || anns.oom || !anns.p) {
		free(r.holder);
		free(r.note);
		free(o.p);
		free(anns.p);
		return -ENOMEM;
	}
	r.meta = o.p;
	r.anns = anns.p;
	snprintf(r.rv, sizeof(r.rv), "%s", kl_json_str(kl_json_get(meta, "resourceVersion"), ""));
	snprintf(r.renew, sizeof(r.renew), "%s", kl_json_str(kl_json_get(spec, "renewTime"), ""));
	snprintf(r.acquire, sizeof(r.acquire), "%s",
		 kl_json_str(kl_json_get(spec, "acquireTime"), ""));
	if (kl_json_int(kl_json_get(spec, "leaseDurationSeconds"), &r.duration_s) < 0)
		r.duration_s = 0;
	if (kl_json_int(kl_json_get(spec, "leaseTransitions"), &r.transitions) < 0)
		r.transitions = 0;
	if (!l->obs.holder || !record_same(&l->obs, &r))
		l->observed_at = uv_now(l->loop);
	record_free(&l->obs);
	l->obs = r;
	return 0;
}

static bool held_by_me(const struct kl_lease *l)
{
	return l->obs.holder && strcmp(l->obs.holder, l->identity) == 0;
}

/* The holder we saw may still be renewing: it has not been silent for its lease duration. */
static bool holder_alive(const struct kl_lease *l)
{
	uint64_t ms = l->obs.duration_s > 0 ? (uint64_t)l->obs.duration_s * 1000 : l->lease_ms;

	return l->observed_at + ms > uv_now(l->loop);
}

/* Logs each new holder other than us once (again after a release). */
static void report(struct kl_lease *l)
{
	const char *h = l->obs.holder;
	char *copy;

	if (h && !h[0]) {
		free(l->reported);
		l->reported = NULL;
	}
	if (!h || !h[0] || (l->reported && strcmp(l->reported, h) == 0))
		return;
	copy = strdup(h);
	if (!copy)
		return;
	free(l->reported);
	l->reported = copy;
	if (strcmp(h, l->identity) != 0)
		kl_log_info(l->log, COMP, "leader is", "identity", h, "lease", l->desc);
}

/* ---------------------------------------------------------------- rounds */

static uint64_t next_random(struct kl_lease *l)
{
	/* xorshift64*: jitter needs spread, not secrecy */
	l->rng ^= l->rng >> 12;
	l->rng ^= l->rng << 25;
	l->rng ^= l->rng >> 27;
	return l->rng * 0x2545F4914F6CDD1DULL;
}

/* retry + [0, 1.2 * retry): wait.JitterUntil(..., RetryPeriod, 1.2, ...). */
static uint64_t jittered(struct kl_lease *l)
{
	double f = (double)(next_random(l) >> 11) / (double)(1ULL << 53);

	return l->retry_ms + (uint64_t)(f * JITTER_FACTOR * (double)l->retry_ms);
}

static void set_leader(struct kl_lease *l, bool leader)
{
	l->leader = leader;
	if (!leader)
		uv_timer_stop(&l->deadline);
	if (l->gauge)
		kl_metric_set(l->gauge, NULL, leader ? 1 : 0);
	kl_log_info(l->log, COMP, leader ? "became leader" : "lost leadership", "identity",
		    l->identity, "lease", l->desc);
	if (leader)
		report(l);
	if (l->cb && !l->stopping)
		l->cb(l->arg, leader); /* may call kl_lease_stop() */
}

static void on_deadline(uv_timer_t *t)
{
	struct kl_lease *l = t->data;

	if (l->leader && !l->stopping) {
		kl_log_warn(l->log, COMP, "renew deadline passed", "identity", l->identity, "lease",
			    l->desc);
		set_leader(l, false);
	}
}

/* A round ended: ok when we wrote the Lease as its holder. Schedules the next one. */
static void round_done(struct kl_lease *l, bool ok)
{
	uint64_t now = uv_now(l->loop);

	if (ok) {
		l->last_renew = now;
		uv_timer_start(&l->deadline, on_deadline, l->renew_deadline_ms, 0);
		if (!l->leader) {
			set_leader(l, true);
			if (l->stopping)
				return;
		}
	} else if (l->leader && now - l->last_renew >= l->renew_deadline_ms) {
		set_leader(l, false);
		if (l->stopping)
			return;
	}
	uv_timer_start(&l->tick, on_tick, l->leader ? l->retry_ms : jittered(l), 0);
}

static void on_call_timeout(uv_timer_t *t)
{
	struct kl_lease *l = t->data;

	if (l->req)
		kl_kube_cancel(l->req); /* on_reply follows with -ECANCELED */
}

/* Starts a call; takes ownership of body. 0 or a negative errno (then no reply comes). */
static int call(struct kl_lease *l, enum op op, char *body, size_t len)
{
	int rc;

	if (op == OP_GET)
		rc = kl_kube_get(l->kube, l->path, on_reply, l, &l->req);
	else if (!body)
		rc = -ENOMEM;
	else if (op == OP_CREATE)
		rc = kl_kube_create(l->kube, l->coll, body, len, on_reply, l, &l->req);
	else
		rc = kl_kube_update(l->kube, l->path, body, len, on_reply, l, &l->req);
	free(body);
	if (rc < 0) {
		l->req = NULL;
		return rc;
	}
	l->op = op;
	uv_timer_start(&l->tick, on_call_timeout, l->renew_deadline_ms, 0);
	return 0;
}

/* UPDATE with us as holder: a renewal when the record is ours, else a takeover. */
static int write_mine(struct kl_lease *l)
{
	bool mine = held_by_me(l);
	char now[TIME_LEN];
	size_t len = 0;
	char *body;

	micro_time(now, sizeof(now));
	body = lease_doc(l, true, l->identity, l->lease_s,
			 mine && l->obs.acquire[0] ? l->obs.acquire : now, now,
			 mine ? l->obs.transitions : l->obs.transitions + 1, &len);
	return call(l, OP_UPDATE, body, len);
}

static int create(struct kl_lease *l)
{
	char now[TIME_LEN];
	size_t len = 0;
	char *body;

	micro_time(now, sizeof(now));
	body = lease_doc(l, false, l->identity, l->lease_s, now, now, 0, &len);
	return call(l, OP_CREATE, body, len);
}

static void round_start(struct kl_lease *l)
{
	int rc;

	l->fast = l->leader && l->obs.meta;
	rc = l->fast ? write_mine(l) : call(l, OP_GET, NULL, 0);
	if (rc < 0) {
		l->fast = false;
		round_done(l, false);
	}
}

static void on_tick(uv_timer_t *t)
{
	round_start(t->data);
}

static void failed(struct kl_lease *l, const char *what, const struct kl_kube_status *st)
{
	char code[16];

	snprintf(code, sizeof(code), "%d", st->code);
	if (l->leader)
		kl_log_warn(l->log, COMP, what, "lease", l->desc, "code", code, "reason",
			    st->reason, "message", st->message);
	else
		kl_log_v(l->log, 2, COMP, what, "lease", l->desc, "code", code, "reason",
			 st->reason, "message", st->message);
}

static void got(struct kl_lease *l, const struct kl_kube_status *st, const struct kl_json *obj)
{
	int rc;

	if (st->err == -ENOENT) {
		rc = create(l);
	} else if (st->err < 0) {
		failed(l, "get failed", st);
		rc = st->err;
	} else if ((rc = observe(l, obj)) == 0) {
		report(l);
		if (l->obs.holder[0] && !held_by_me(l) && holder_alive(l)) {
			/* held by another, alive: not ours (any more) */
			if (l->leader) {
				set_leader(l, false);
				if (l->stopping)
					return;
			}
			rc = -EBUSY;
		} else {
			rc = write_mine(l); /* free, expired, or ours */
		}
	}
	if (rc < 0)
		round_done(l, false);
}

static void wrote(struct kl_lease *l, enum op op, const struct kl_kube_status *st,
		  const struct kl_json *obj)
{
	bool fast = l->fast;

	l->fast = false;
	if (st->err == 0 && observe(l, obj) == 0) {
		round_done(l, true);
		return;
	}
	if (st->err < 0 && op == OP_CREATE)
		failed(l, "create failed", st);
	else if (st->err < 0)
		failed(l, fast ? "renew failed" : "update failed", st);
	/* the optimistic renewal failed: read the Lease at once (client-go's slow path) */
	if (fast && call(l, OP_GET, NULL, 0) == 0)
		return;
	round_done(l, false);
}

/* ---------------------------------------------------------------- stop */

static void lease_free(struct kl_lease *l)
{
	record_free(&l->obs);
	free(l->reported);
	free(l->ns);
	free(l->name);
	free(l->identity);
	free(l->path);
	free(l->coll);
	free(l->desc);
	free(l->ann_key);
	free(l->ann_value);
	free(l);
}

static void on_close(uv_handle_t *h)
{
	struct kl_lease *l = h->data;
	void (*cb)(void *arg) = l->stop_cb;
	void *arg = l->stop_arg;

	if (--l->closing)
		return;
	lease_free(l);
	if (cb)
		cb(arg);
}

static void finish(struct kl_lease *l)
{
	l->closing = 2;
	uv_close((uv_handle_t *)&l->tick, on_close);
	uv_close((uv_handle_t *)&l->deadline, on_close);
}

/* Clears holderIdentity when the Lease is ours, as client-go's release(); then finishes. */
static void release(struct kl_lease *l)
{
	char now[TIME_LEN];
	size_t len = 0;
	char *body;

	if (l->started && l->obs.meta && held_by_me(l)) {
		micro_time(now, sizeof(now));
		body = lease_doc(l, true, "", 1, now, now, l->obs.transitions, &len);
		if (call(l, OP_RELEASE, body, len) == 0)
			return;
	}
	finish(l);
}

static void stopping_reply(struct kl_lease *l, enum op op, const struct kl_kube_status *st,
			   const struct kl_json *obj)
{
	if (op != OP_RELEASE) {
		/* a write that was in flight may have made us the holder: release it then */
		if (st->err == 0)
			observe(l, obj);
		release(l);
		return;
	}
	if (st->err == 0)
		kl_log_info(l->log, COMP, "released lease", "identity", l->identity, "lease",
			    l->desc);
	else
		failed(l, "release failed", st);
	finish(l);
}

static void on_reply(void *arg, const struct kl_kube_status *st, const struct kl_json *obj)
{
	struct kl_lease *l = arg;
	enum op op = l->op;

	l->req = NULL;
	l->op = OP_NONE;
	uv_timer_stop(&l->tick);
	if (l->stopping)
		stopping_reply(l, op, st, obj);
	else if (op == OP_GET)
		got(l, st, obj);
	else
		wrote(l, op, st, obj);
}

void kl_lease_stop(struct kl_lease *l, void (*cb)(void *arg), void *arg)
{
	assert(!l->stopping);
	l->stopping = true;
	l->stop_cb = cb;
	l->stop_arg = arg;
	uv_timer_stop(&l->deadline);
	if (l->leader) {
		l->leader = false;
		if (l->gauge)
			kl_metric_set(l->gauge, NULL, 0);
	}
	if (l->req) {
		/* a read can go; a write may change who holds the Lease: let it finish */
		if (l->op == OP_GET)
			kl_kube_cancel(l->req);
		return; /* stopping_reply() goes on */
	}
	uv_timer_stop(&l->tick);
	release(l);
}

/* ---------------------------------------------------------------- setup */

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *dup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* Fills buf from getrandom(2), else /dev/urandom, else the clock and pid. */
static void random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	uint64_t x;
	size_t i;
	int fd;

	if (getrandom(buf, len, GRND_NONBLOCK) == (ssize_t)len)
		return;
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, len);

		close(fd);
		if (n == (ssize_t)len)
			return;
	}
	x = uv_hrtime() ^ ((uint64_t)getpid() << 32);
	for (i = 0; i < len; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		p[i] = (unsigned char)(x >> 56);
	}
}

void kl_lease_default_identity(char *buf, size_t len)
{
	unsigned char r[8];
	char host[256];

	if (gethostname(host, sizeof(host)) < 0 || !host[0])
		snprintf(host, sizeof(host), "kloompas");
	host[sizeof(host) - 1] = '\0';
	random_bytes(r, sizeof(r));
	snprintf(buf, len, "%s_%02x%02x%02x%02x%02x%02x%02x%02x", host, r[0], r[1], r[2], r[3],
		 r[4], r[5], r[6], r[7]);
}

struct kl_lease *kl_lease_new(uv_loop_t *loop, struct kl_kube *kube, const struct kl_lease_opts *o,
			      const struct kl_log *log, struct kl_metrics *metrics, kl_lease_cb cb,
			      void *arg)
{
	struct kl_lease *l;

	if (!o->ns || !o->ns[0] || !o->name || !o->name[0] || !o->identity || !o->identity[0] ||
	    !o->lease_ms || !o->renew_deadline_ms || !o->retry_ms)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->loop = loop;
	l->kube = kube;
	l->log = log;
	l->cb = cb;
	l->arg = arg;
	l->lease_ms = o->lease_ms;
	l->renew_deadline_ms = o->renew_deadline_ms;
	l->retry_ms = o->retry_ms;
	l->lease_s = (int64_t)((o->lease_ms + 999) / 1000);
	l->ns = strdup(o->ns);
	l->name = strdup(o->name);
	l->identity = strdup(o->identity);
	l->path = dup_printf(LEASE_API "%s/leases/%s", o->ns, o->name);
	l->coll = dup_printf(LEASE_API "%s/leases", o->ns);
	l->desc = dup_printf("%s/%s", o->ns, o->name);
	if (!l->ns || !l->name || !l->identity || !l->path || !l->coll || !l->desc)
		goto out_free;
	if (o->annotation_key && o->annotation_value) {
		l->ann_key = strdup(o->annotation_key);
		l->ann_value = strdup(o->annotation_value);
		if (!l->ann_key || !l->ann_value)
			goto out_free;
	}
	if (metrics) {
		l->gauge = kl_metrics_find(metrics, "kloompas_leader");
		if (!l->gauge)
			l->gauge = kl_metrics_gauge(metrics, "kloompas_leader",
						    "1 when this replica is the leader and acts, "
						    "else 0.",
						    NULL);
		if (!l->gauge)
			goto out_free;
		kl_metric_set(l->gauge, NULL, 0);
	}
	random_bytes(&l->rng, sizeof(l->rng));
	l->rng |= 1; /* xorshift must not start at 0 */
	uv_timer_init(loop, &l->tick);
	uv_timer_init(loop, &l->deadline);
	l->tick.data = l->deadline.data = l;
	return l;

out_free:
	lease_free(l);
	return NULL;
}

int kl_lease_start(struct kl_lease *l)
{
	if (l->started || l->stopping)
		return -EINVAL;
	l->started = true;
	kl_log_info(l->log, COMP, "attempting to acquire lease", "identity", l->identity, "lease",
		    l->desc);
	/* the first round runs from the loop, never inside the caller */
	return uv_timer_start(&l->tick, on_tick, 0, 0);
}

bool kl_lease_is_leader(const struct kl_lease *l)
{
	return l->leader;
}

const char *kl_lease_identity(const struct kl_lease *l)
{
	return l->identity;
}

const char *kl_lease_holder_annotation(const struct kl_lease *l)
{
	if (!l->obs.holder || !l->obs.holder[0] || held_by_me(l) || !holder_alive(l))
		return NULL;
	return l->obs.note;
}
