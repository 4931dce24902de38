/*
 * notify/internal.h - what the notifier core and the drivers share inside notify/.
 *
 * The core (notify.c: the set, clients, routing and the window; plan.c: a flush
 * into messages; queue.c: queues, retries and reports) knows no notifier type by
 * name: everything a type does differently is a row of kl__notifier_types
 * (types.c) pointing into its driver file (slack.c, webhook.c, alertmanager.c,
 * pagerduty.c, teams.c, email.c, log.c), its own config keys included (conf_keys,
 * bound by kl_notifiers_configure). Adding a type is one driver file, one row, its
 * tests.
 */
#ifndef KL_NOTIFY_INTERNAL_H
#define KL_NOTIFY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "kubeclient/http.h"
#include "notify/notify.h"
#include "util/arena.h"
#include "util/backoff.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/container_of.h"
#include "util/list.h"
#include "util/rfc3339.h"

#define KL__COMPONENT "notify"

struct kl__notifier;
struct kl__plan;
struct kl__msg;

/* How a notifier type answers for an attempt's outcome. */
enum kl__answer { KL__DELIVERED, KL__RETRY, KL__REJECT };

/*
 * One notifier type. Only name and build are required; a NULL hook takes the
 * core's default (noted per hook).
 */
struct kl__notifier_type {
	const char *name;
	bool needs_url;
	/* appended to the configured URL once its trailing '/'s are cut; NULL: URL as is */
	const char *url_path;
	/* the URL when url and url_file are absent; NULL: none */
	const char *default_url;
	/* the URL schemes taken, "smtp" etc. (NULL-ended); NULL: http and https */
	const char *const *schemes;
	/*
	 * The type's own keys in a notifier entry (those config/ lets through), bound
	 * by kl_notifiers_configure into a conf_size struct in the config's arena
	 * (nt->conf), after conf_defaults; then conf_check (err at FILE:LINE, the
	 * entry's prefix "notifiers[i]"). NULL keys: the type has none, any is refused.
	 */
	const struct kl_conf_key *conf_keys;
	size_t conf_size;
	void (*conf_defaults)(void *conf);
	int (*conf_check)(const struct kl_notifier_conf *nc, const void *conf, const char *file,
			  const char *prefix, struct kl_error *err);
	/*
	 * Starts one attempt of m, like kl_http_request (done(arg, ...) exactly once
	 * unless it fails); NULL: an HTTP POST of m->body as JSON to nt->url.
	 */
	int (*send)(struct kl__notifier *nt, struct kl__msg *m, kl_http_done_cb done, void *arg,
		    struct kl_http_req **out);
	/*
	 * The messages of one flush at nt: p->v holds the notices routed there; add
	 * each message with kl__plan_msg(). Nothing is sent or kept yet: a failure
	 * (negative errno) drops the whole flush.
	 */
	int (*build)(struct kl__notifier *nt, struct kl__plan *p);
	/* Delivers a built flush at once, without HTTP (the log); NULL: queue and POST. */
	void (*deliver)(struct kl__notifier *nt, struct kl__plan *p);
	/* An attempt's outcome (status 0 and an HTTP code, or an errno); NULL: kl__answer_http. */
	enum kl__answer (*answer)(int status, int code);
	/* Per-notifier state in nt->priv; NULL: none. */
	int (*init)(struct kl__notifier *nt);
	void (*free)(struct kl__notifier *nt);
	/* After a built flush is committed to the queue (not in dry-run). */
	void (*commit)(struct kl__notifier *nt, struct kl__plan *p);
	/*
	 * A fresh body for m before a retry, or before a re-post (kl__repost) goes
	 * out; non-zero keeps the old body (a re-post without body is dropped).
	 */
	int (*refresh)(struct kl__notifier *nt, struct kl__msg *m);
	/* Frees m->priv and p->priv. */
	void (*msg_free)(struct kl__msg *m);
	void (*plan_free)(struct kl__plan *p);
	/*
	 * x (firing) was delivered here by an earlier process: take it back into what
	 * the type keeps in memory (alertmanager: the re-post set). No message, no
	 * report. NULL: the type keeps nothing.
	 */
	void (*restore)(struct kl__notifier *nt, const struct kl_notice *x);
};

/* The table, ended by a row with name NULL; and a row by name (NULL: none). */
extern const struct kl__notifier_type kl__notifier_types[];
const struct kl__notifier_type *kl__notifier_type_find(const char *name);

/* A client of the set (notify.h); lives until the set is freed. */
struct kl_notify_client {
	struct kl_link link; /* in n->clients */
	struct kl_notify *n;
	kl_notify_done_cb done_cb; /* NULL once detached */
	void *arg;
};

/* One notice id of a message and whom to tell. */
struct kl__id {
	struct kl_notify_client *c;
	uint64_t id;
};

/*
 * One message: a body to POST and the notices it covers. Later a report: the same
 * struct on n->reports with delivered set, body freed.
 */
struct kl__msg {
	struct kl_link link; /* in a notifier's queue, or in n->reports */
	struct kl__notifier *nt;
	char *body; /* NULL for re-posts until they are sent */
	size_t len;
	char *text; /* what dry-run logs instead of the body (Slack text), or NULL */
	int only;   /* the status it covers: -1 both, 0 firing, 1 resolved */
	struct kl__id *ids;
	size_t nids;
	bool resend; /* a re-post: no ids, no retries, not counted in the bound */
	void *priv;  /* the driver's (freed by its msg_free) */
	bool delivered;
	int attempts;
	uint64_t first_try_ms;	   /* uv_now() of the first attempt */
	struct kl_backoff backoff; /* the waits between attempts */
};

struct kl__notifier {
	struct kl_notify *n;
	const struct kl__notifier_type *type;
	const char *name; /* borrowed from the config, or "log" */
	char *url;	  /* where to POST; a secret, never logged */
	struct kl_link queue;
	size_t nqueued;
	struct kl__msg *cur;	 /* being sent or waiting for its retry */
	struct kl_http_req *req; /* cur's attempt in flight */
	bool has_timers;
	uv_timer_t retry;
	uv_timer_t timer; /* the driver's, data = n (alertmanager: re-posts) */
	bool resend_queued;
	const void *conf; /* the type's keys (kl__notifier_type.conf_keys), or NULL */
	void *priv;	  /* the driver's */
};

/* What one flush does at one notifier, built before anything is committed. */
struct kl__plan {
	struct kl__notifier *nt;
	const struct kl_notice **v; /* the notices routed here */
	struct kl_notify_client **who;
	size_t cnt;
	struct kl__msg **msgs; /* nmsgs of cap, in the order built */
	size_t nmsgs, cap;
	void *priv; /* the driver's (freed by its plan_free) */
};

struct kl__route {
	size_t *idx; /* notifier indices */
	size_t n;
};

/* A flush waiting for the window to end: a copy of the notices and their clients. */
struct kl__pending {
	struct kl_arena arena;
	const struct kl_notice **v;
	struct kl_notify_client **who;
	size_t cnt, cap;
};

struct kl_notify {
	uv_loop_t *loop;
	const struct kl_config *config;
	const struct kl_log *log;
	struct kl_log quiet; /* used when no log was given */
	struct kl_notify_opts o;
	struct kl_clock real_clock; /* o.clock when none was given */
	const char *cluster;
	struct kl_metric *m_total, *m_queue;
	struct kl_http *http; /* NULL in dry-run or without HTTP notifiers */
	struct kl__notifier *nv;
	size_t nn;
	size_t log_idx; /* the notifier unrouted namespaces go to */
	struct kl__route *routes;
	size_t nroutes;
	struct kl_link clients;
	struct kl__pending pending;
	uv_timer_t window;
	uv_timer_t report;
	struct kl_link reports; /* struct kl__msg with delivered set */
	int pending_closes;
	bool closing;
	void (*close_cb)(void *arg);
	void *close_arg;
};

/* ---- plan.c */

/* Notifier indices for ns: *idx points into its route, or at n->log_idx. */
size_t kl__targets(const struct kl_notify *n, const char *ns, const size_t **idx);
/* Whether notice x goes to notifier name (its `only` list, when set). */
bool kl__wanted(const struct kl_notice *x, const char *name);
/* Builds and commits one flush (v[i] from client who[i]); all or nothing. */
int kl__flush(struct kl_notify *n, const struct kl_notice *const *v,
	      struct kl_notify_client *const *who, size_t count);
/*
 * Adds a message covering p's notices of status only (-1 every one) to p. Takes
 * ownership of body and text (free()) even on failure. Returns it, or NULL on ENOMEM.
 */
struct kl__msg *kl__plan_msg(struct kl__plan *p, int only, char *body, size_t len, char *text);
/* The same for the one notice p->v[i] (drivers that send one message per notice). */
struct kl__msg *kl__plan_msg_one(struct kl__plan *p, size_t i, char *body, size_t len, char *text);

/* ---- queue.c */

void kl__msg_free(struct kl__msg *m);
/* Hands m's fate to its clients' done_cb, from the loop. Takes ownership of m. */
void kl__report(struct kl_notify *n, struct kl__msg *m, bool delivered);
void kl__count(struct kl__notifier *nt, const char *result);
void kl__gauge(struct kl__notifier *nt);
/* Queues m, or refuses (reports) it when nt's queue is full. Takes ownership of m. */
void kl__enqueue(struct kl__notifier *nt, struct kl__msg *m);
/* Queues a re-post (see kl__notifier_type.refresh) unless one is queued already. */
void kl__repost(struct kl__notifier *nt);
/* 2xx delivered; network errors (but EINVAL, ENOTSUP), 5xx, 408, 429 retry. */
enum kl__answer kl__answer_http(int status, int code);
/* Drops every queued message and report (the set is closing). */
void kl__queues_free(struct kl_notify *n);

/* ---- text.c: evidence as text, shared by the drivers */

/* s, or dflt when s is NULL. */
const char *kl__str_or(const char *s, const char *dflt);
/* Appends s (may be NULL) as valid UTF-8. */
void kl__put_text(struct kl_buf *b, const char *s);
/*
 * The last bytes of a log kept in a message, trailing newlines cut; starts on a
 * line (when one begins in the kept part) and on a character. *cut: bytes left out.
 */
const char *kl__log_tail(const char *log, size_t *len, bool *cut);
/* "REASON, N restarts, last exit E (LAST)", strings appended by put. */
void kl__pod_state(struct kl_buf *b, const struct kl_notice_pod *p,
		   void (*put)(struct kl_buf *b, const char *s));
/* How a driver writes a pod's evidence: "LEAD pod MID container END state". */
struct kl__pod_style {
	const char *lead, *mid, *end;
	void (*put)(struct kl_buf *b, const char *s);	   /* state and error text */
	void (*put_name)(struct kl_buf *b, const char *s); /* pod and container names */
	/* the log tail (len > 0; cut: its start was left out), lines ended by a newline */
	void (*put_log)(struct kl_buf *b, const char *tail, size_t len, bool cut);
};

/* One pod's evidence, each line ended by a newline. */
void kl__pod_lines(struct kl_buf *b, const struct kl_notice_pod *p, const struct kl__pod_style *st);
/* Every pod's evidence as plain text, blank-line separated and cut (annotations). */
void kl__plain_evidence(struct kl_buf *b, const struct kl_notice *x);

/* ---- json.c: a yajl generator whose first failure sticks */

struct kl__jw {
	void *g; /* yajl_gen */
	int err;
};

int kl__jw_init(struct kl__jw *w);
/* Ends w: on success *out is a new copy of the document (free()), *len its length. */
int kl__jw_finish(struct kl__jw *w, char **out, size_t *len);
/* Strings reach yajl as valid UTF-8: invalid bytes become U+FFFD first. */
void kl__jstr(struct kl__jw *w, const char *s);
void kl__jkv(struct kl__jw *w, const char *k, const char *v);
void kl__jint(struct kl__jw *w, long long v);
void kl__jbool(struct kl__jw *w, bool v);
void kl__jnull(struct kl__jw *w);
void kl__jmap_open(struct kl__jw *w);
void kl__jmap_close(struct kl__jw *w);
void kl__jarr_open(struct kl__jw *w);
void kl__jarr_close(struct kl__jw *w);

/* ---- alert.c: a notice as a Prometheus-style alert (webhook, alertmanager) */

/* One alert as the JSON payloads see it; strings borrowed. */
struct kl__alert {
	const char *labels[5][2]; /* alertname, cluster, namespace, team, controller */
	const char *summary;
	const char *description; /* NULL when there is no evidence */
	int64_t starts_at, ends_at;
	bool resolved;
};

/* Prometheus' LabelSet fingerprint, so ours match what Alertmanager computes. */
uint64_t kl__fingerprint(const struct kl__alert *a);
/* a's labels from the notice x; the rest of a is left alone. */
void kl__notice_labels(const struct kl_notify *n, const struct kl_notice *x, struct kl__alert *a);
/*
 * The alerts for p's notices of status only (-1: all): fills a (p->cnt rooms) and
 * descs (their description texts, p->cnt rooms, freed by the caller); returns how
 * many, or a negative errno.
 */
long kl__alerts_of(struct kl__notifier *nt, const struct kl__plan *p, int only, struct kl__alert *a,
		   struct kl_buf *descs);
/* A resolved alert's endsAt: when it ended, never in the future. */
int64_t kl__resolved_end(int64_t ends_at, int64_t now);
/* How a driver turns p's notices into alert messages (kl__alerts_build). */
struct kl__alerts_render {
	int status[2]; /* one message per entry: 0 firing, 1 resolved, -1 every notice */
	size_t nstatus;
	/* the body for cnt alerts: a new string (free()) in *out */
	int (*body)(struct kl__notifier *nt, const struct kl__alert *a, size_t cnt, char **out,
		    size_t *len);
	/* called with each message made and its alerts; NULL: nothing */
	int (*made)(struct kl__notifier *nt, struct kl__plan *p, struct kl__msg *m,
		    const struct kl__alert *a, size_t cnt);
};

/* Adds r's messages to p (none for a status without notices). */
int kl__alerts_build(struct kl__notifier *nt, struct kl__plan *p,
		     const struct kl__alerts_render *r);
void kl__gen_labels(struct kl__jw *w, const struct kl__alert *a);
void kl__gen_annotations(struct kl__jw *w, const struct kl__alert *a);

/* ---- the drivers' hooks, named by the rows of types.c */

int kl__slack_build(struct kl__notifier *nt, struct kl__plan *p);
int kl__webhook_build(struct kl__notifier *nt, struct kl__plan *p);
int kl__am_build(struct kl__notifier *nt, struct kl__plan *p);
void kl__am_commit(struct kl__notifier *nt, struct kl__plan *p);
int kl__am_refresh(struct kl__notifier *nt, struct kl__msg *m);
void kl__am_msg_free(struct kl__msg *m);
void kl__am_plan_free(struct kl__plan *p);
int kl__am_init(struct kl__notifier *nt);
void kl__am_free(struct kl__notifier *nt);
void kl__am_restore(struct kl__notifier *nt, const struct kl_notice *x);
int kl__log_build(struct kl__notifier *nt, struct kl__plan *p);
int kl__teams_build(struct kl__notifier *nt, struct kl__plan *p);

/* pagerduty.c: routing_key_file */
struct kl__pd_conf {
	const char *routing_key; /* secret: the file's content */
};
extern const struct kl_conf_key kl__pd_keys[];
int kl__pd_check(const struct kl_notifier_conf *nc, const void *conf, const char *file,
		 const char *prefix, struct kl_error *err);
int kl__pd_build(struct kl__notifier *nt, struct kl__plan *p);

/* email.c */
struct kl__email_conf {
	const char *from;
	struct kl_strv to;
	const char *username; /* secret: username_file's content, or NULL */
	const char *password; /* secret: password_file's content, or NULL */
	int starttls;	      /* default true */
	const char *ca_file;  /* relative to the config file's folder when not absolute */
};
extern const struct kl_conf_key kl__email_keys[];
void kl__email_defaults(void *conf);
int kl__email_check(const struct kl_notifier_conf *nc, const void *conf, const char *file,
		    const char *prefix, struct kl_error *err);
int kl__email_build(struct kl__notifier *nt, struct kl__plan *p);
int kl__email_send(struct kl__notifier *nt, struct kl__msg *m, kl_http_done_cb done, void *arg,
		   struct kl_http_req **out);
enum kl__answer kl__answer_smtp(int status, int code);
void kl__log_deliver(struct kl__notifier *nt, struct kl__plan *p);

#endif
