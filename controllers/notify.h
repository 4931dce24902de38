/*
 * controllers/notify.h - getting alerts to people: Slack, webhooks, Alertmanager, the log.
 *
 * The watchers decide what changed; this module decides who hears it and makes
 * sure they do. A flush hands over a batch of notices; each is routed by its
 * namespace (config routes: first glob match wins; no match means the log only)
 * and, per notifier, the batch becomes one message: one Slack text in the talk's
 * format listing every namespace, one Alertmanager webhook payload per status, one
 * POST /api/v2/alerts. Each notifier has its own bounded FIFO queue with one
 * message in flight; failures retry with exponential backoff (honouring
 * Retry-After) for up to an hour, then the message is dropped and counted. The
 * caller learns the fate of each notice at each notifier through done_cb, so it
 * can persist what was delivered. The alertmanager notifier also re-posts firing
 * alerts every resend interval (Alertmanager forgets alerts that stop arriving)
 * and posts endsAt on resolve.
 *
 * Webhook URLs are secrets: they never reach a log line or a metric.
 */
#ifndef KL_CONTROLLERS_NOTIFY_H
#define KL_CONTROLLERS_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "util/log.h"
#include "util/metrics.h"

/* Evidence about one pod of a crash notice. Strings borrowed for the call. */
struct kl_notice_pod {
	const char *pod;
	const char *container;
	const char *reason;	 /* the waiting reason, e.g. CrashLoopBackOff */
	int restarts;
	const char *last_reason; /* last termination reason, or NULL */
	int exit_code;		 /* last exit code; meaningful when last_reason is set */
	const char *log;	 /* tail of the previous instance's log, or NULL */
	const char *log_error;	 /* why there is no log ("previous container not found"), or NULL */
};

/* One namespace's alert state change. Strings and arrays borrowed for the call. */
struct kl_notice {
	uint64_t id;		/* the caller's, echoed in done_cb */
	const char *controller; /* "crash-watcher", "notready-watcher" */
	const char *alertname;	/* KloompasPodCrashLooping, KloompasNamespacePodsNotReady */
	const char *ns;
	const char *team; /* may be NULL */
	bool resolved;
	bool repeat;	   /* a re-notification of a firing alert */
	int64_t starts_at; /* Unix seconds: when the condition started */
	int64_t ends_at;   /* Unix seconds: when it was resolved; 0 while firing */
	const char *summary; /* "2 Pod(s) in CrashLoopBackOff", "33 % of pods Not Ready" */
	const struct kl_notice_pod *pods;
	size_t npods;
	/* Only these of the namespace's notifiers (names); NULL: all it routes to. */
	const char *const *only;
	size_t nonly;
};

/*
 * The fate of notice id at one notifier: delivered (2xx, or written to the log,
 * or dry-run), or not (dropped after retries, or refused by the queue).
 */
typedef void (*kl_notify_done_cb)(void *arg, uint64_t id, const char *notifier,
				  bool delivered);

struct kl_notify_opts {
	const char *cluster;	    /* shown in every message, a label everywhere */
	bool dry_run;		    /* log what would be sent; send nothing */
	size_t queue_max;	    /* messages per notifier queue; 0: 1000 */
	uint64_t retry_initial_ms;  /* 0: 1 s */
	uint64_t retry_max_ms;	    /* one wait at most; 0: 5 min */
	uint64_t give_up_ms;	    /* 0: 1 h */
	uint64_t am_resend_ms;	    /* alertmanager re-post of firing alerts; 0: 60 s */
	uint64_t timeout_ms;	    /* one HTTP attempt; 0: 10 s */
};

struct kl_notify;

/*
 * Returns a new notifier set for config's notifiers and routes (borrowed for the
 * set's life), or NULL on ENOMEM. Registers kloompas_notifications_total
 * {notifier,result} (result: success, failure, dropped) and
 * kloompas_notification_queue_length{notifier}. The log notifier "log" always
 * exists (it is where unrouted namespaces go).
 */
struct kl_notify *kl_notify_new(uv_loop_t *loop, const struct kl_config *config,
				const struct kl_notify_opts *o, const struct kl_log *log,
				struct kl_metrics *metrics, kl_notify_done_cb done_cb, void *arg);
/*
 * Sends one flush. Returns the number of (notice, notifier) deliveries started -
 * done_cb will be called that many times, never from inside this call - or a
 * negative errno (then none).
 */
int kl_notify_send(struct kl_notify *n, const struct kl_notice *notices, size_t count);
/*
 * The notifiers a namespace routes to: fills names (up to max) and returns how
 * many ("log" alone when no route matches).
 */
size_t kl_notify_route(const struct kl_notify *n, const char *ns, const char **names, size_t max);
/*
 * Stops: abandons queued messages (no done_cb for them: the caller persisted them
 * as undelivered), cancels requests in flight, frees, then cb(arg).
 */
void kl_notify_close(struct kl_notify *n, void (*cb)(void *arg), void *arg);

#endif
