/*
 * controllers/replica_internal.h - what the replica enforcer's files share, and
 * nothing else includes.
 *
 * The enforcer is one controller in five files: replica_enforcer.c (its config row
 * and lifecycle), replica_scale.c (scale operations: the chain of API calls behind
 * every change), replica_restore.c (temporary-scale restores and bounds, driven by
 * the deployments informer), replica_chatops.c (the chat-ops request handlers) and
 * replica_reply.c (how those answer: Slack or the HTTP API). Its own header rather
 * than the folder's internal.h: these declarations are one controller's, not the
 * folder's.
 */
#ifndef KL_CONTROLLERS_REPLICA_INTERNAL_H
#define KL_CONTROLLERS_REPLICA_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "controllers/command.h"
#include "controllers/replica_enforcer.h"

#define KL__ANN_MIN "kloompas.io/min-replicas"
#define KL__ANN_MAX "kloompas.io/max-replicas"
#define KL__ANN_RESTORE "kloompas.io/restore-replicas"
#define KL__ANN_RESTORE_AT "kloompas.io/restore-at"

struct kl__replica_op;
struct kl__replica_restore;

struct replica_enforcer {
	struct kl_ctx *ctx;
	const struct kl_replica_enforcer_conf *conf;
	struct kl_informer *deployments;
	struct kl_metric *m_commands, *m_changes;
	bool started, stopping;
	bool chatops; /* its routes are on the chat-ops listener */
	struct kl__replica_op *ops;
	struct kl__replica_restore *restores;
	int stop_pending;
	kl_done_cb done;
	void *done_arg;
};

/* ---------------------------------------------------------------- replica_enforcer.c */

/* The Deployment ns/name in the informer's cache, or NULL. Valid for the callback. */
const struct kl_deployment *kl__replica_find(struct replica_enforcer *re, const char *ns,
					     const char *name);
/* A non-negative integer annotation, or -1 when absent or not a number. */
int kl__replica_ann_int(const char *v);
/*
 * One close or operation that re_stop waits for has ended: the last one frees re
 * and calls done. Harmless before stopping.
 */
void kl__replica_stop_step(struct replica_enforcer *re);

/* ---------------------------------------------------------------- replica_scale.c */

/*
 * The end of a scale operation: err 0 or a negative errno with msg for the user;
 * old and new_replicas the counts; restore_at (> 0) when it is temporary. Called
 * once, possibly before kl__replica_scale returns (dry-run, a request that cannot
 * start).
 */
typedef void (*kl__replica_op_cb)(void *arg, int err, const char *msg, int old, int new_replicas,
				  int64_t restore_at);

/*
 * Starts a scale of d to target, as user for reason (a literal: chatops, restore,
 * bounds). restore_at > 0: temporary, back to restore_to then. Returns 0 (cb
 * follows, may be NULL) or a negative errno (cb never called).
 */
int kl__replica_scale(struct replica_enforcer *re, const struct kl_deployment *d, int target,
		      int64_t restore_at, int restore_to, const char *user, const char *reason,
		      kl__replica_op_cb cb, void *arg);
/* Whether a scale operation on ns/name is running. */
bool kl__replica_scaling(const struct replica_enforcer *re, const char *ns, const char *name);
/* re_stop: cancels every operation; each ends with -ECANCELED and a stop step. */
void kl__replica_scale_stop(struct replica_enforcer *re);

/* ---------------------------------------------------------------- replica_restore.c */

/* The deployments informer's handler for re: restore timers and bounds. */
struct kl_informer_handler kl__replica_informer_handler(struct replica_enforcer *re);
/* The leader looks at every Deployment once: bounds, restores due while away. */
void kl__replica_check_all(struct replica_enforcer *re);
/* re_stop: stops and closes every restore timer (a busy one when its scale ends). */
void kl__replica_restore_stop(struct replica_enforcer *re);

/* ---------------------------------------------------------------- replica_chatops.c */

/* POST /slack/commands and POST /api/v1/replicas (arg re). */
void kl__replica_serve_slack(struct kl_httpd_req *req, void *arg);
void kl__replica_serve_api(struct kl_httpd_req *req, void *arg);

/* ---------------------------------------------------------------- replica_reply.c */

/*
 * How a chat-ops request is answered: one implementation for Slack slash commands,
 * one for the HTTP API. The handlers decide what happened; these say it. Each
 * answers req once.
 */
struct kl__replica_reply {
	/*
	 * The request is not one to act on (not authenticated, not a command at all):
	 * status (401, 400) with why, for Slack as plain text.
	 */
	void (*reject)(struct kl_httpd_req *req, int status, const char *why);
	/*
	 * The command is refused or failed (denied, not found, not ready, bad
	 * argument): the API answers status; Slack tells the user only, with a 200.
	 */
	void (*refuse)(struct kl_httpd_req *req, int status, const char *why);
	/* The help text. */
	void (*help)(struct kl_httpd_req *req, const char *text);
	/* get-replicas: the counts, and text saying them. */
	void (*replicas)(struct kl_httpd_req *req, const struct kl_cmd *cmd, int replicas,
			 int ready, const char *text);
	/*
	 * set-replicas done: old and new counts, restore_at ("" when permanent), and
	 * text saying it all.
	 */
	void (*scaled)(struct kl_httpd_req *req, const struct kl_cmd *cmd, int old, int replicas,
		       const char *restore_at, bool dry_run, const char *text);
};

extern const struct kl__replica_reply kl__replica_reply_slack;
extern const struct kl__replica_reply kl__replica_reply_api;

#endif
