/*
 * notify/notify.h - getting alerts to people: Slack, webhooks, Alertmanager, the log.
 *
 * The watchers decide what changed; this layer decides who hears it and makes
 * sure they do. One notifier set serves the whole process (it hangs off the
 * controllers' context): one HTTP client, one queue and one bound per notifier,
 * one queue gauge. Each alert engine attaches as a client with its own done_cb.
 *
 * A flush hands over a batch of notices; each is routed by its namespace (config
 * routes: first glob match wins; no match means the log only) and, per notifier,
 * the batch becomes messages - how is the notifier type's business (one driver
 * file per type, rows of notify/types.c). With a window (opts.window_ms), flushes
 * of every client made within it are built together, so one Slack message can
 * carry both watchers' notices. Each notifier has its own bounded FIFO queue
 * with one message in flight; failures retry with exponential backoff
 * (honouring Retry-After) for up to an hour, then the message is dropped and
 * counted. The client learns the fate of each of its notices at each notifier
 * through its done_cb, so it can persist what was delivered.
 *
 * Layers: controllers/ -> notify/ -> kubeclient/, config/, util/.
 * Webhook URLs are secrets: they never reach a log line or a metric.
 */
#ifndef KL_NOTIFY_NOTIFY_H
#define KL_NOTIFY_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "util/clock.h"
#include "util/error.h"
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
	uint64_t id;		/* the client's, echoed in its done_cb */
	const char *controller; /* "crash-watcher", "notready-watcher" */
	const char *title;	/* chat heading ("PODS IN CRASH"); NULL: "ALERTS FROM <controller>" */
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
	/*
	 * 0: each kl_notify_send builds its messages at once. Else the notices of every
	 * client sent within window_ms of the first are built together (copied: the
	 * caller's strings are still borrowed for the call only).
	 */
	uint64_t window_ms;
	struct kl_clock *clock; /* wall time (borrowed); NULL: the real clock on the loop */
};

struct kl_notify;
struct kl_notify_client;

/*
 * Checks config's notifiers against the notifier types (type known, its URL given
 * and of the type's schemes) and binds each type's own keys into the entry's conf
 * (in the config's arena): config/ keeps only the fields every notifier has. Call
 * right after kl_config_load, before kl_notify_new. Returns 0, or -EINVAL (-ENOMEM,
 * -ENOENT for a missing key file) with err at "FILE:LINE: ...".
 */
int kl_notifiers_configure(struct kl_config *config, struct kl_error *err);

/*
 * Returns a new notifier set for config's notifiers and routes (borrowed for the
 * set's life), or NULL on ENOMEM (or -EINVAL: an unknown type, a URL missing).
 * Registers kloompas_notifications_total{notifier,result} (result: success,
 * failure, dropped) and kloompas_notification_queue_length{notifier}. The log
 * notifier "log" always exists (it is where unrouted namespaces go).
 */
struct kl_notify *kl_notify_new(uv_loop_t *loop, const struct kl_config *config,
				const struct kl_notify_opts *o, const struct kl_log *log,
				struct kl_metrics *metrics);
/*
 * A client of the set: its sends report to done_cb(arg, ...). Returns NULL on
 * ENOMEM. The set owns the client; kl_notify_detach() ends it.
 */
struct kl_notify_client *kl_notify_attach(struct kl_notify *n, kl_notify_done_cb done_cb,
					  void *arg);
/*
 * No done_cb reaches the client after this (call it before freeing arg). Its
 * messages already queued are still sent; nobody is told (the client persisted
 * its notices as undelivered). Call before kl_notify_close(), or not at all.
 */
void kl_notify_detach(struct kl_notify_client *c);
/*
 * Sends one flush. Returns the number of (notice, notifier) deliveries started -
 * done_cb will be called that many times, never from inside this call - or a
 * negative errno (then none).
 */
int kl_notify_send(struct kl_notify_client *c, const struct kl_notice *notices, size_t count);
/*
 * The notifiers a namespace routes to: fills names (up to max; valid for the
 * set's life) and returns how many ("log" alone when no route matches).
 */
size_t kl_notify_route(const struct kl_notify *n, const char *ns, const char **names, size_t max);
/*
 * A firing notice that an earlier process delivered (read back from the state
 * after a restart or a failover): the notifiers of x (its `only`, else its route)
 * that keep delivered alerts in memory take it back - Alertmanager's re-post set,
 * which would otherwise forget the alert until its next repeat, letting
 * Alertmanager resolve it meanwhile. Nothing else is sent; no done_cb. Strings
 * borrowed for the call.
 */
void kl_notify_restore(struct kl_notify *n, const struct kl_notice *x);
/*
 * Stops: abandons queued messages and flushes still in their window (no done_cb
 * for them: the clients persisted them as undelivered), cancels requests in
 * flight, frees every client, frees, then cb(arg).
 */
void kl_notify_close(struct kl_notify *n, void (*cb)(void *arg), void *arg);

#endif
