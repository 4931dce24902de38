/*
 * controllers/silences.h - chat silences (issue 15): "stop telling me about this
 * namespace while we fix it", shared by every alert engine of the process.
 *
 * A silence covers one namespace and one controller's alerts (or all controllers'),
 * says who set it, when, until when and why, and lives in the state ConfigMap (key
 * "silence.NAMESPACE" or "silence.NAMESPACE.CONTROLLER", controllers/state.h) so it
 * survives restarts and failovers; one on the context rather than one per watcher,
 * because a silence without CONTROLLER covers both watchers' engines and the chat
 * commands must not depend on which controllers run. Alert engines watch it: they
 * are told when a namespace's silences change or end, and list their alerts for the
 * "alerts" command. One timer ends the earliest silence; a silence that ended while
 * no replica ran is dropped at load and the engines find their held-back alerts
 * unsilenced when they start.
 *
 * Bounds: one silence per (namespace, controller) - setting it again replaces it - so
 * at most 1 + the number of controllers per namespace, and KL_SILENCES_MAX in all.
 */
#ifndef KL_CONTROLLERS_SILENCES_H
#define KL_CONTROLLERS_SILENCES_H

#include <stdbool.h>
#include <stdint.h>

#include "controllers/controller.h"
#include "util/buf.h"

#define KL_SILENCES_MAX 1000

struct kl_silences;

#define KL_SILENCE_AM_MAX 8

struct kl_silence {
	const char *ns;
	const char *controller; /* NULL: every controller */
	const char *by, *reason;
	int64_t at_ms, until_ms; /* wall-clock Unix ms */
	/* the silences made in Alertmanager for it: notifier name and silence id */
	char am_notifier[KL_SILENCE_AM_MAX][64], am_id[KL_SILENCE_AM_MAX][64];
	size_t nam;
};

/* What a silence watcher (an alert engine) is asked; arg is the watch's. */
struct kl_silences_watch_ops {
	/* The silences covering ns changed (set, ended, expired). */
	void (*changed)(void *arg, const char *ns);
	/* Appends its firing alerts in ns (NULL: all) to out, one line each. */
	void (*list)(void *arg, const char *ns, struct kl_buf *out);
};

/* Returns a new store (empty until kl_silences_start) or NULL on ENOMEM. ctx borrowed. */
struct kl_silences *kl_silences_new(struct kl_ctx *ctx);
/* Reads the silences from ctx->state (loaded), dropping the ended ones. 0 or -ENOMEM. */
int kl_silences_start(struct kl_silences *s);
/*
 * Sets (or replaces) the silence of ns and controller (NULL: all) until until_ms.
 * Returns 0, -ENOSPC at KL_SILENCES_MAX, -EAGAIN before kl_silences_start read the
 * state (a replica that is not the leader holds none), or -ENOMEM.
 */
int kl_silences_set(struct kl_silences *s, const char *ns, const char *controller,
		    const char *by, const char *reason, int64_t until_ms);
/* Ends the silence of ns and controller (NULL: every silence of ns). Returns how many. */
int kl_silences_end(struct kl_silences *s, const char *ns, const char *controller);
/* Until when an alert of controller in ns is silenced (the latest), or 0. */
int64_t kl_silences_until(const struct kl_silences *s, const char *controller, const char *ns);
/* Calls cb for each silence of ns (NULL: all), oldest first. */
void kl_silences_foreach(const struct kl_silences *s, const char *ns,
			 void (*cb)(void *arg, const struct kl_silence *si), void *arg);
/* Every watcher's list of alerts in ns (NULL: all) into out. */
void kl_silences_list_alerts(const struct kl_silences *s, const char *ns, struct kl_buf *out);
/*
 * Adds / removes a watcher: the engine of controller, whose alerts are named alertname
 * (both borrowed until unwatched, like ops) - the matchers of the Alertmanager silences
 * made for its alerts. 0, -ENOSPC or -ENOENT.
 */
int kl_silences_watch(struct kl_silences *s, const struct kl_silences_watch_ops *ops, void *arg,
		      const char *controller, const char *alertname);
int kl_silences_unwatch(struct kl_silences *s, void *arg);
/*
 * The chat side (silence_chatops.c). Puts POST /api/v1/silences, POST /slack/interactive
 * and, when no controller took it, POST /slack/commands on the chat-ops listener.
 */
int kl_silences_routes(struct kl_silences *s, struct kl_httpd *chatops);
/* Runs a verified slash command's text (one of ours: kl_scmd_is_ours) as user, answers. */
void kl_silences_serve_slack_text(struct kl_silences *s, struct kl_httpd_req *req,
				  const char *user, const char *text);
/* Whether url is http(s) to a host of hosts (empty: hooks.slack.com alone). */
bool kl_silences_url_allowed(const struct kl_strv *hosts, const char *url);
/* Stops the expiry timer and frees everything, then cb(arg) (from the loop). */
void kl_silences_close(struct kl_silences *s, void (*cb)(void *arg), void *arg);

#endif
