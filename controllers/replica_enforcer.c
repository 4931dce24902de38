/*
 * controllers/replica_enforcer.c - the SRE chat-bot: scale Deployments from Slack or
 * the HTTP API, restore temporary scales on time, keep Deployments inside bounds.
 *
 * Every change is one "scale operation", a short chain of API calls run on the
 * loop: (1) for a temporary scale, write kloompas.io/restore-replicas and
 * kloompas.io/restore-at on the Deployment first, so a crash right after still
 * restores; (2) PATCH deployments/NAME/scale; (3) drop a pending restore that a
 * permanent scale replaces; (4) record a Kubernetes Event naming who changed what.
 * Restores are driven by the deployments informer's view of those annotations - a
 * timer per Deployment with a pending restore - so a restart or a failover in
 * between loses nothing. Bounds (kloompas.io/min-replicas, /max-replicas) are
 * checked on every Deployment update. Only the leader enforces and restores
 * (start is called on the leader); any replica answers chat commands once the
 * Deployments are synced, since the Service in front may route to any of them.
 */
#include "controllers/replica_enforcer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controllers/bearer.h"
#include "controllers/chatops.h"
#include "controllers/command.h"
#include "controllers/form.h"
#include "controllers/slack.h"
#include "util/buf.h"
#include "util/duration.h"

#define K(f) offsetof(struct kl_replica_enforcer_conf, f)
/* clang-format off */
const struct kl_conf_key kl_replica_enforcer_keys[] = {
	{ "max_temporary", KL_CONF_DURATION, K(max_temporary_ms), NULL, 0, NULL },
	{ NULL, 0, 0, NULL, 0, NULL },
};
/* clang-format on */

void kl_replica_enforcer_defaults(void *p)
{
	struct kl_replica_enforcer_conf *c = p;

	c->max_temporary_ms = 24ULL * 3600 * 1000;
}

int kl_replica_enforcer_check(const void *conf, const struct kl_conf_node *sec, const char *file,
			      struct kl_error *err)
{
	const struct kl_replica_enforcer_conf *c = conf;

	if (c->max_temporary_ms == 0)
		return kl_controller_conf_error(err, file, "replica-enforcer", sec, "max_temporary",
						"must be greater than 0");
	return 0;
}


#define ANN_MIN "kloompas.io/min-replicas"
#define ANN_MAX "kloompas.io/max-replicas"
#define ANN_RESTORE "kloompas.io/restore-replicas"
#define ANN_RESTORE_AT "kloompas.io/restore-at"

struct op;

/* A Deployment with a pending restore: one timer until restore-at. */
struct restore {
	struct replica_enforcer *re;
	struct restore *next;
	char ns[KL_NAME_MAX + 1], name[KL_NAME_MAX + 1];
	int64_t at;
	bool busy; /* its restore operation is running */
	uv_timer_t timer;
};

struct replica_enforcer {
	struct kl_ctx *ctx;
	const struct kl_replica_enforcer_conf *conf;
	struct kl_informer *deployments;
	struct kl_metric *m_commands, *m_changes;
	bool started, stopping;
	struct op *ops;
	struct restore *restores;
	int stop_pending;
	kl_done_cb done;
	void *done_arg;
};

typedef void (*op_cb)(void *arg, int err, const char *msg, int old, int new_replicas,
		      int64_t restore_at);

/* One scale operation (see the top of the file). */
struct op {
	struct replica_enforcer *re;
	struct op *next;
	char ns[KL_NAME_MAX + 1], name[KL_NAME_MAX + 1], uid[KL_UID_MAX];
	char user[128];
	const char *reason; /* chatops, restore, bounds: the metric label */
	int old, target;
	int64_t restore_at;	   /* set restore annotations first (chat with "for") */
	int restore_to;		   /* the count restore-replicas keeps */
	bool clear_restore;	   /* remove the restore annotations after scaling */
	int step;
	struct kl_kube_req *req;
	op_cb cb;
	void *arg;
};

/* ---------------------------------------------------------------- helpers */

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static void rfc3339(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int64_t parse_rfc3339(const char *s)
{
	struct tm tm;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!p)
		return 0;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (strcmp(p, "Z") != 0 && strcmp(p, "z") != 0)
		return 0;
	return (int64_t)timegm(&tm);
}

/* A non-negative integer annotation, or -1 when absent or not a number. */
static int ann_int(const char *v)
{
	char *end;
	long n;

	if (!v || !*v)
		return -1;
	n = strtol(v, &end, 10);
	return *end || n < 0 || n > 1000000 ? -1 : (int)n;
}

static const struct kl_deployment *find_deployment(struct replica_enforcer *re, const char *ns,
						    const char *name)
{
	return kl_store_get(kl_informer_store(re->deployments), ns, name);
}

static void count_change(struct replica_enforcer *re, const char *reason)
{
	const char *v[] = { reason };

	if (re->m_changes)
		kl_metric_inc(re->m_changes, v);
}

/* ---------------------------------------------------------------- scale operations */

static void op_step(struct op *o);

static void op_finish(struct op *o, int err, const char *msg)
{
	struct replica_enforcer *re = o->re;
	struct op **pp;

	for (pp = &re->ops; *pp != o; pp = &(*pp)->next)
		;
	*pp = o->next;
	if (!err)
		count_change(re, o->reason);
	if (o->cb)
		o->cb(o->arg, err, msg, o->old, o->target, o->restore_at);
	free(o);
	if (re->stopping && --re->stop_pending == 0) {
		kl_done_cb done = re->done;
		void *arg = re->done_arg;

		free(re);
		done(arg);
	}
}

static void op_answer(void *arg, const struct kl_kube_status *st, const struct kl_json *obj)
{
	struct op *o = arg;

	o->req = NULL;
	if (st->err && o->step != 4) {
		char msg[512];

		snprintf(msg, sizeof(msg), "Kubernetes refused: %s",
			 st->message[0] ? st->message : strerror(-st->err));
		kl_log_warn(o->re->ctx->log, "replica-enforcer", "scale failed", "namespace", o->ns,
			    "deployment", o->name, "error", msg);
		op_finish(o, st->err, msg);
		return;
	}
	if (st->err)
		kl_log_warn(o->re->ctx->log, "replica-enforcer", "cannot record the event",
			    "namespace", o->ns, "deployment", o->name, "error", st->message);
	o->step++;
	op_step(o);
}

static int patch_annotations(struct op *o, bool set)
{
	struct kl_buf b;
	char path[600], at[40], n[16];
	int rc;

	kl_buf_init(&b);
	if (set) {
		rfc3339(o->restore_at, at, sizeof(at));
		snprintf(n, sizeof(n), "%d", o->restore_to);
		kl_buf_puts(&b, "{\"metadata\":{\"annotations\":{\"" ANN_RESTORE "\":");
		kl_buf_json_string(&b, n);
		kl_buf_puts(&b, ",\"" ANN_RESTORE_AT "\":");
		kl_buf_json_string(&b, at);
		kl_buf_puts(&b, "}}}");
	} else {
		kl_buf_puts(&b, "{\"metadata\":{\"annotations\":{\"" ANN_RESTORE "\":null,\"" ANN_RESTORE_AT
				"\":null}}}");
	}
	snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments/%s", o->ns, o->name);
	rc = kl_buf_str(&b) ? kl_kube_patch(o->re->ctx->kube, path, KL_PATCH_MERGE, b.p, b.len,
					    op_answer, o, &o->req)
			    : -ENOMEM;
	kl_buf_free(&b);
	return rc;
}

static int record_event(struct op *o)
{
	struct kl_buf b, msg;
	char path[400], ts[40];
	int rc;

	kl_buf_init(&b);
	kl_buf_init(&msg);
	kl_buf_printf(&msg, "%s changed replicas from %d to %d", o->user, o->old, o->target);
	if (strcmp(o->reason, "chatops") == 0 && o->restore_at) {
		rfc3339(o->restore_at, ts, sizeof(ts));
		kl_buf_printf(&msg, " until %s (then back to %d)", ts, o->restore_to);
	} else if (strcmp(o->reason, "restore") == 0) {
		kl_buf_puts(&msg, ": temporary scale over, restored");
	} else if (strcmp(o->reason, "bounds") == 0) {
		kl_buf_puts(&msg, ": outside the kloompas.io/min-replicas..max-replicas bounds");
	}
	rfc3339(now_s(), ts, sizeof(ts));
	kl_buf_puts(&b, "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"generateName\":");
	kl_buf_printf(&b, "\"%s.\"", o->name);
	kl_buf_puts(&b, "},\"involvedObject\":{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
			"\"name\":");
	kl_buf_json_string(&b, o->name);
	kl_buf_puts(&b, ",\"namespace\":");
	kl_buf_json_string(&b, o->ns);
	if (o->uid[0]) {
		kl_buf_puts(&b, ",\"uid\":");
		kl_buf_json_string(&b, o->uid);
	}
	kl_buf_printf(&b, "},\"reason\":\"%s\",\"message\":",
		      strcmp(o->reason, "chatops") == 0	  ? "ScaledByChatOps"
		      : strcmp(o->reason, "restore") == 0 ? "TemporaryScaleRestored"
							  : "ReplicasOutOfBounds");
	kl_buf_json_string(&b, kl_buf_str(&msg) ? kl_buf_str(&msg) : "");
	kl_buf_printf(&b, ",\"type\":\"Normal\",\"source\":{\"component\":\"kloompas\"},"
			  "\"firstTimestamp\":\"%s\",\"lastTimestamp\":\"%s\",\"count\":1}",
		      ts, ts);
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", o->ns);
	rc = kl_buf_str(&b) ? kl_kube_create(o->re->ctx->kube, path, b.p, b.len, op_answer, o,
					     &o->req)
			    : -ENOMEM;
	kl_log_info(o->re->ctx->log, "replica-enforcer", "replicas changed", "namespace", o->ns,
		    "deployment", o->name, "reason", o->reason, "detail",
		    kl_buf_str(&msg) ? kl_buf_str(&msg) : "");
	kl_buf_free(&b);
	kl_buf_free(&msg);
	return rc;
}

/* Steps: 0 restore annotations, 1 scale, 2 clear annotations, 3 event, 4 done. */
static void op_step(struct op *o)
{
	int rc = 0;

	for (;;) {
		switch (o->step) {
		case 0:
			if (!o->restore_at) {
				o->step++;
				continue;
			}
			rc = patch_annotations(o, true);
			break;
		case 1:
			rc = kl_kube_scale(o->re->ctx->kube, o->ns, o->name, o->target, op_answer, o,
					   &o->req);
			break;
		case 2:
			if (!o->clear_restore) {
				o->step++;
				continue;
			}
			rc = patch_annotations(o, false);
			break;
		case 3:
			o->step = 4; /* an Event that cannot be written fails nothing */
			rc = record_event(o);
			if (rc < 0) {
				op_finish(o, 0, NULL);
				return;
			}
			return;
		default:
			op_finish(o, 0, NULL);
			return;
		}
		break;
	}
	if (rc < 0)
		op_finish(o, rc, "cannot start the request");
}

/*
 * Starts a scale of ns/name to target. restore_at > 0: temporary, back to restore_to
 * then. Returns 0 (cb follows) or a negative errno (cb never called).
 */
static int scale(struct replica_enforcer *re, const struct kl_deployment *d, int target,
		 int64_t restore_at, int restore_to, const char *user, const char *reason,
		 op_cb cb, void *arg)
{
	struct op *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	o->re = re;
	snprintf(o->ns, sizeof(o->ns), "%s", d->meta.ns);
	snprintf(o->name, sizeof(o->name), "%s", d->meta.name);
	kl_meta_uid(&d->meta, o->uid);
	snprintf(o->user, sizeof(o->user), "%s", user);
	o->reason = reason;
	o->old = d->spec_replicas < 0 ? 1 : d->spec_replicas;
	o->target = target;
	o->restore_at = restore_at;
	o->restore_to = restore_to;
	/* a permanent change replaces a pending restore (and a restore ends one) */
	o->clear_restore = !restore_at && (d->restore_at || d->restore_replicas);
	o->cb = cb;
	o->arg = arg;
	o->next = re->ops;
	re->ops = o;
	if (re->ctx->flags->dry_run) {
		kl_log_info(re->ctx->log, "replica-enforcer", "dry-run: would scale", "namespace",
			    o->ns, "deployment", o->name, "reason", reason);
		o->step = 4;
	}
	op_step(o);
	return 0;
}

/* ---------------------------------------------------------------- restores and bounds */

static void restore_closed(uv_handle_t *h)
{
	struct restore *r = h->data;
	struct replica_enforcer *re = r->re;

	free(r);
	if (re->stopping && --re->stop_pending == 0) {
		kl_done_cb done = re->done;
		void *arg = re->done_arg;

		free(re);
		done(arg);
	}
}

static void restore_remove(struct restore *r)
{
	struct restore **pp;

	for (pp = &r->re->restores; *pp != r; pp = &(*pp)->next)
		;
	*pp = r->next;
	uv_close((uv_handle_t *)&r->timer, restore_closed);
}

static void on_restore_due(uv_timer_t *t);

static void restore_done(void *arg, int err, const char *msg, int old, int new_replicas,
			 int64_t at)
{
	struct restore *r = arg;

	r->busy = false;
	if (r->re->stopping) {
		/* re_stop left this one to us: it was busy */
		uv_close((uv_handle_t *)&r->timer, restore_closed);
		return;
	}
	if (err)
		kl_log_warn(r->re->ctx->log, "replica-enforcer", "restore failed; will retry",
			    "namespace", r->ns, "deployment", r->name, "error", msg);
	/* on success the informer sees the annotations go and removes r; else retry */
	if (err && !r->re->stopping)
		uv_timer_start(&r->timer, on_restore_due, 10000, 0);
}

static void on_restore_due(uv_timer_t *t)
{
	struct restore *r = t->data;
	struct replica_enforcer *re = r->re;
	const struct kl_deployment *d = find_deployment(re, r->ns, r->name);
	int to, lo, hi;

	if (!d || r->busy || !re->started)
		return;
	to = ann_int(d->restore_replicas);
	if (to < 0) {
		kl_log_warn(re->ctx->log, "replica-enforcer", "bad restore-replicas annotation",
			    "namespace", r->ns, "deployment", r->name);
		return;
	}
	lo = ann_int(d->min_replicas);
	hi = ann_int(d->max_replicas);
	if (lo >= 0 && to < lo)
		to = lo;
	if (hi >= 0 && to > hi)
		to = hi;
	r->busy = true;
	if (scale(re, d, to, 0, 0, "kloompas", "restore", restore_done, r) < 0)
		r->busy = false;
}

static struct restore *restore_find(struct replica_enforcer *re, const struct kl_meta *m)
{
	struct restore *r;

	for (r = re->restores; r; r = r->next)
		if (strcmp(r->ns, m->ns) == 0 && strcmp(r->name, m->name) == 0)
			return r;
	return NULL;
}

/* The informer's view of one Deployment: pending restore timers, bounds. */
static void check_deployment(struct replica_enforcer *re, const struct kl_deployment *d)
{
	struct restore *r = restore_find(re, &d->meta);
	int64_t at = d->restore_at ? parse_rfc3339(d->restore_at) : 0;
	int lo, hi, target;

	if (!at && r && !r->busy) {
		restore_remove(r);
		r = NULL;
	}
	if (at && !r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return;
		r->re = re;
		snprintf(r->ns, sizeof(r->ns), "%s", d->meta.ns);
		snprintf(r->name, sizeof(r->name), "%s", d->meta.name);
		uv_timer_init(re->ctx->loop, &r->timer);
		r->timer.data = r;
		r->next = re->restores;
		re->restores = r;
	}
	if (at && r && !r->busy) {
		int64_t now = now_s();

		r->at = at;
		uv_timer_start(&r->timer, on_restore_due,
			       at > now ? (uint64_t)(at - now) * 1000 : 0, 0);
	}
	if (!re->started || d->spec_replicas < 0)
		return;
	lo = ann_int(d->min_replicas);
	hi = ann_int(d->max_replicas);
	target = d->spec_replicas;
	if (lo >= 0 && target < lo)
		target = lo;
	if (hi >= 0 && target > hi)
		target = hi;
	if (target != d->spec_replicas) {
		struct op *o;

		for (o = re->ops; o; o = o->next)
			if (strcmp(o->ns, d->meta.ns) == 0 && strcmp(o->name, d->meta.name) == 0)
				return; /* a change is on its way already */
		scale(re, d, target, 0, 0, "kloompas", "bounds", NULL, NULL);
	}
}

static void dep_add(void *arg, const void *obj)
{
	check_deployment(arg, obj);
}

static void dep_update(void *arg, const void *old, const void *obj)
{
	check_deployment(arg, obj);
}

static void dep_del(void *arg, const void *obj, bool unknown)
{
	struct replica_enforcer *re = arg;
	struct restore *r = restore_find(re, obj);

	if (r && !r->busy)
		restore_remove(r);
}

static void check_all(void *arg, const void *obj)
{
	check_deployment(arg, obj);
}

/* ---------------------------------------------------------------- chat-ops */

enum result { R_SUCCESS, R_DENIED, R_INVALID, R_UNAUTH, R_ERROR };
static const char *const result_names[] = { "success", "denied", "invalid", "unauthenticated",
					    "error" };

/* One chat command in flight, answered when its scale operation ends. */
struct pending {
	struct replica_enforcer *re;
	struct kl_httpd_req *req;
	bool slack;
	struct kl_cmd cmd;
	char user[128];
};

static void count_command(struct replica_enforcer *re, const char *cmd, enum result r)
{
	const char *v[] = { cmd, result_names[r] };

	if (re->m_commands)
		kl_metric_inc(re->m_commands, v);
}

static const char *cmd_name(const struct kl_cmd *c)
{
	return c->verb == KL_CMD_SET ? "set-replicas" : c->verb == KL_CMD_GET ? "get-replicas"
									      : "help";
}

/* Slack answers: in_channel for what happened, ephemeral for refusals (Slack shows
 * nothing else to the user, so a refusal is a 200 that says why). */
static void slack_reply(struct kl_httpd_req *req, bool in_channel, const char *text)
{
	struct kl_buf b;

	kl_buf_init(&b);
	kl_buf_printf(&b, "{\"response_type\":\"%s\",\"text\":",
		      in_channel ? "in_channel" : "ephemeral");
	kl_buf_json_string(&b, text);
	kl_buf_puts(&b, "}");
	if (kl_buf_str(&b))
		kl_httpd_respond(req, 200, "application/json", NULL, b.p, b.len);
	else
		kl_httpd_respond(req, 500, NULL, NULL, "out of memory\n", 14);
	kl_buf_free(&b);
}

static void api_error(struct kl_httpd_req *req, int status, const char *msg)
{
	struct kl_buf b;

	kl_buf_init(&b);
	kl_buf_puts(&b, "{\"error\":");
	kl_buf_json_string(&b, msg);
	kl_buf_puts(&b, "}");
	kl_httpd_respond(req, status, "application/json", NULL, kl_buf_str(&b) ? b.p : "{}",
			 kl_buf_str(&b) ? b.len : 2);
	kl_buf_free(&b);
}

/* Every command's outcome, logged (never a secret) and counted. */
static void audit(struct replica_enforcer *re, const char *user, const char *cmd,
		  enum result r, const char *detail)
{
	count_command(re, cmd, r);
	kl_log_info(re->ctx->log, "chatops", "command", "user", user ? user : "-", "command", cmd,
		    "result", result_names[r], "detail", detail ? detail : "");
}

static void refuse(struct replica_enforcer *re, struct kl_httpd_req *req, bool slack,
		   const char *user, const char *cmd, enum result r, int api_status,
		   const char *why)
{
	audit(re, user, cmd, r, why);
	if (slack && r != R_UNAUTH && api_status != 400)
		slack_reply(req, false, why);
	else if (slack)
		kl_httpd_respond(req, api_status, NULL, NULL, why, strlen(why));
	else
		api_error(req, api_status, why);
}

static void scaled(void *arg, int err, const char *msg, int old, int new_replicas,
		   int64_t restore_at)
{
	struct pending *p = arg;
	struct replica_enforcer *re = p->re;
	char text[1024], at[40] = "";

	if (err) {
		refuse(re, p->req, p->slack, p->user, "set-replicas", R_ERROR,
		       err == -ENOENT ? 404 : 502, msg ? msg : strerror(-err));
		free(p);
		return;
	}
	if (restore_at)
		rfc3339(restore_at, at, sizeof(at));
	snprintf(text, sizeof(text), "Replicas of %s set to %d (was %d)%s%s%s", p->cmd.deployment,
		 new_replicas, old, at[0] ? "; back to the old count at " : "", at,
		 re->ctx->flags->dry_run ? " [dry-run: nothing changed]" : "");
	audit(re, p->user, "set-replicas", R_SUCCESS, text);
	if (p->slack) {
		slack_reply(p->req, true, text);
	} else {
		struct kl_buf b;

		kl_buf_init(&b);
		kl_buf_puts(&b, "{\"namespace\":");
		kl_buf_json_string(&b, p->cmd.ns);
		kl_buf_puts(&b, ",\"deployment\":");
		kl_buf_json_string(&b, p->cmd.deployment);
		kl_buf_printf(&b, ",\"old_replicas\":%d,\"replicas\":%d,\"restore_at\":", old,
			      new_replicas);
		if (at[0])
			kl_buf_json_string(&b, at);
		else
			kl_buf_puts(&b, "null");
		kl_buf_printf(&b, ",\"dry_run\":%s}", re->ctx->flags->dry_run ? "true" : "false");
		if (kl_buf_str(&b))
			kl_httpd_respond(p->req, 200, "application/json", NULL, b.p, b.len);
		else
			kl_httpd_respond(p->req, 500, NULL, NULL, "out of memory\n", 14);
		kl_buf_free(&b);
	}
	free(p);
}

/* Authorized or not, in bounds or not, then the scale: shared by Slack and the API. */
static void run_command(struct replica_enforcer *re, struct kl_httpd_req *req, bool slack,
			const char *user, const struct kl_cmd *cmd)
{
	const struct kl_chatops_conf *conf = &re->ctx->config->chatops;
	const struct kl_deployment *d;
	struct pending *p;
	char why[1024];
	int lo, hi, old;

	if (cmd->verb == KL_CMD_HELP) {
		audit(re, user, "help", R_SUCCESS, NULL);
		slack_reply(req, false, kl_cmd_help());
		return;
	}
	if (!kl_chatops_authorize(conf, user, cmd->ns,
				  cmd->verb == KL_CMD_SET ? cmd->replicas : -1, why, sizeof(why))) {
		refuse(re, req, slack, user, cmd_name(cmd), R_DENIED, 403, why);
		return;
	}
	if (!kl_informer_synced(re->deployments)) {
		refuse(re, req, slack, user, cmd_name(cmd), R_ERROR, 503,
		       "not ready yet: the Deployments are still being listed; try again");
		return;
	}
	d = find_deployment(re, cmd->ns, cmd->deployment);
	if (!d) {
		snprintf(why, sizeof(why), "Deployment %s not found in namespace %s",
			 cmd->deployment, cmd->ns);
		refuse(re, req, slack, user, cmd_name(cmd), R_INVALID, 404, why);
		return;
	}
	old = d->spec_replicas < 0 ? 1 : d->spec_replicas;
	if (cmd->verb == KL_CMD_GET) {
		snprintf(why, sizeof(why), "Replicas of %s in %s: %d (ready %d)", cmd->deployment,
			 cmd->ns, old, d->ready_replicas);
		audit(re, user, "get-replicas", R_SUCCESS, why);
		if (slack) {
			slack_reply(req, true, why);
		} else {
			struct kl_buf b;

			kl_buf_init(&b);
			kl_buf_puts(&b, "{\"namespace\":");
			kl_buf_json_string(&b, cmd->ns);
			kl_buf_puts(&b, ",\"deployment\":");
			kl_buf_json_string(&b, cmd->deployment);
			kl_buf_printf(&b, ",\"replicas\":%d,\"ready_replicas\":%d}", old,
				      d->ready_replicas);
			kl_httpd_respond(req, kl_buf_str(&b) ? 200 : 500, "application/json", NULL,
					 kl_buf_str(&b) ? b.p : "{}", kl_buf_str(&b) ? b.len : 2);
			kl_buf_free(&b);
		}
		return;
	}
	lo = ann_int(d->min_replicas);
	hi = ann_int(d->max_replicas);
	if ((lo >= 0 && cmd->replicas < lo) || (hi >= 0 && cmd->replicas > hi)) {
		snprintf(why, sizeof(why), "%s/%s must stay within %d..%d replicas (its %s/%s "
					   "annotations)",
			 cmd->ns, cmd->deployment, lo < 0 ? 0 : lo, hi, ANN_MIN, ANN_MAX);
		refuse(re, req, slack, user, "set-replicas", R_DENIED, 403, why);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		refuse(re, req, slack, user, "set-replicas", R_ERROR, 500, "out of memory");
		return;
	}
	p->re = re;
	p->req = req;
	p->slack = slack;
	p->cmd = *cmd;
	snprintf(p->user, sizeof(p->user), "%s", user);
	/* a pending restore keeps the count from before the first temporary scale */
	if (scale(re, d, cmd->replicas,
		  cmd->for_ms ? now_s() + (int64_t)((cmd->for_ms + 999) / 1000) : 0,
		  ann_int(d->restore_replicas) >= 0 ? ann_int(d->restore_replicas) : old, user,
		  "chatops", scaled, p) < 0) {
		free(p);
		refuse(re, req, slack, user, "set-replicas", R_ERROR, 500, "cannot start the change");
	}
}

static void serve_slack(struct kl_httpd_req *req, void *arg)
{
	struct replica_enforcer *re = arg;
	const struct kl_chatops_conf *conf = &re->ctx->config->chatops;
	const char *ts = kl_httpd_req_header(req, "X-Slack-Request-Timestamp");
	const char *sig = kl_httpd_req_header(req, "X-Slack-Signature");
	char why[300], text[1024], user[128];
	struct kl_cmd cmd;
	size_t len;
	const char *body = kl_httpd_req_body(req, &len);
	int rc;

	if (!conf->slack_signing_secret) {
		refuse(re, req, true, NULL, "unknown", R_UNAUTH, 401,
		       "slack commands are not configured (chatops.slack_signing_secret_file)");
		return;
	}
	rc = kl_slack_verify(conf->slack_signing_secret, ts ? ts : "", sig ? sig : "", body, len,
			     now_s(), why, sizeof(why));
	if (rc < 0) {
		refuse(re, req, true, NULL, "unknown", R_UNAUTH, 401, why);
		return;
	}
	if (kl_form_get(body, len, "text", text, sizeof(text)) < 0 ||
	    kl_form_get(body, len, "user_name", user, sizeof(user)) < 0 || !user[0]) {
		refuse(re, req, true, NULL, "unknown", R_INVALID, 400,
		       "not a slash command: text and user_name are required");
		return;
	}
	if (kl_cmd_parse(text, re->ctx->config->cluster, re->conf->max_temporary_ms, &cmd, why,
			 sizeof(why)) < 0) {
		audit(re, user, "unknown", R_INVALID, why);
		slack_reply(req, false, why);
		return;
	}
	run_command(re, req, true, user, &cmd);
}

struct api_body {
	struct kl_cmd cmd;
	char for_[64];
	bool has_replicas;
	char err[200];
};

static int on_api_json(void *arg, enum kl_json_what what, const struct kl_json *o)
{
	struct api_body *b = arg;
	const char *ns = kl_json_str(kl_json_get(o, "namespace"), NULL);
	const char *dep = kl_json_str(kl_json_get(o, "deployment"), NULL);
	const struct kl_json *n = kl_json_get(o, "replicas");
	const struct kl_json *f = kl_json_get(o, "for");
	int64_t v;

	if (o->type != KL_JSON_OBJECT || !ns || !dep || strpbrk(ns, " \t\r\n\v\f") ||
	    strpbrk(dep, " \t\r\n\v\f")) {
		snprintf(b->err, sizeof(b->err),
			 "expected {\"namespace\",\"deployment\",\"replicas\"[,\"for\"]}");
		return 0;
	}
	if (n && (kl_json_int(n, &v) < 0 || v < 0 || v > 100000)) {
		snprintf(b->err, sizeof(b->err), "replicas must be a non-negative integer");
		return 0;
	}
	if (f && f->type != KL_JSON_STRING && f->type != KL_JSON_NULL) {
		snprintf(b->err, sizeof(b->err), "for must be a duration string such as \"2h\"");
		return 0;
	}
	/* rebuilt as a command, so the API and Slack obey one grammar */
	if (n)
		snprintf(b->for_, sizeof(b->for_), "%s", f && f->str ? f->str : "");
	snprintf(b->err, sizeof(b->err), "%s", "");
	snprintf(b->cmd.ns, sizeof(b->cmd.ns), "%.253s", ns);
	snprintf(b->cmd.deployment, sizeof(b->cmd.deployment), "%.253s", dep);
	b->has_replicas = n != NULL;
	b->cmd.replicas = n ? (int)v : -1;
	return 0;
}

static void serve_api(struct kl_httpd_req *req, void *arg)
{
	struct replica_enforcer *re = arg;
	const char *user = kl_bearer_user(&re->ctx->config->chatops,
					  kl_httpd_req_header(req, "Authorization"));
	struct api_body b;
	struct kl_json_stream *js;
	struct kl_error err;
	char line[700], why[400];
	size_t len;
	const char *body = kl_httpd_req_body(req, &len);
	int rc;

	if (!user) {
		refuse(re, req, false, NULL, "unknown", R_UNAUTH, 401,
		       "a valid Authorization: Bearer token is required");
		return;
	}
	memset(&b, 0, sizeof(b));
	snprintf(b.err, sizeof(b.err), "the body must be a JSON object");
	kl_error_clear(&err);
	js = kl_json_stream_new(KL_JSON_DOCUMENT, 65536, on_api_json, &b);
	rc = js ? kl_json_stream_feed(js, body ? body : "", len, &err) : -ENOMEM;
	if (rc == 0)
		rc = kl_json_stream_finish(js, &err);
	kl_json_stream_free(js);
	if (rc < 0 || b.err[0]) {
		refuse(re, req, false, user, "unknown", R_INVALID, 400,
		       b.err[0] ? b.err : "the body must be a JSON object");
		return;
	}
	if (!b.has_replicas) {
		snprintf(line, sizeof(line), "get-replicas %s %s", b.cmd.ns, b.cmd.deployment);
	} else {
		snprintf(line, sizeof(line), "set-replicas %s %s %d%s%s", b.cmd.ns,
			 b.cmd.deployment, b.cmd.replicas, b.for_[0] ? " for " : "", b.for_);
	}
	if (kl_cmd_parse(line, re->ctx->config->cluster, re->conf->max_temporary_ms, &b.cmd, why,
			 sizeof(why)) < 0) {
		refuse(re, req, false, user, b.has_replicas ? "set-replicas" : "get-replicas",
		       R_INVALID, 400, why);
		return;
	}
	run_command(re, req, false, user, &b.cmd);
}

/* ---------------------------------------------------------------- lifecycle */

static int re_init(struct kl_ctx *ctx, const void *conf, void **state, struct kl_error *err)
{
	static const char *const cmd_labels[] = { "command", "result", NULL };
	static const char *const change_labels[] = { "reason", NULL };
	struct kl_informer_handler h = { dep_add, dep_update, dep_del, NULL, NULL };
	struct replica_enforcer *re = calloc(1, sizeof(*re));
	int rc;

	if (!re)
		return -ENOMEM;
	re->ctx = ctx;
	re->conf = conf;
	re->deployments = kl_informers_get(ctx->informers, KL_RES_DEPLOYMENTS, NULL);
	h.arg = re;
	if (!re->deployments || kl_informer_add_handler(re->deployments, &h) < 0) {
		free(re);
		return -ENOMEM;
	}
	if (ctx->metrics) {
		re->m_commands = kl_metrics_counter(ctx->metrics, "kloompas_chatops_commands_total",
						    "Chat-ops commands by command and result.",
						    cmd_labels);
		re->m_changes = kl_metrics_counter(ctx->metrics, "kloompas_replica_changes_total",
						   "Replica changes made, by reason (chatops, "
						   "restore, bounds).",
						   change_labels);
	}
	if (ctx->chatops) {
		rc = kl_httpd_route(ctx->chatops, "/slack/commands", KL_HTTP_POST, serve_slack, re);
		if (rc == 0)
			rc = kl_httpd_route(ctx->chatops, "/api/v1/replicas", KL_HTTP_POST,
					    serve_api, re);
		if (rc < 0) {
			kl_error_set(err, NULL, 0, 0, "replica-enforcer: chat-ops routes: %s",
				     strerror(-rc));
			kl_informer_remove_handler(re->deployments, re);
			free(re);
			return rc;
		}
	}
	*state = re;
	return 0;
}

static int re_start(void *state)
{
	struct replica_enforcer *re = state;
	char mt[32];

	re->started = true;
	/* the leader looks at every Deployment once: bounds, restores due while away */
	kl_store_foreach(kl_informer_store(re->deployments), check_all, re);
	kl_duration_format(re->conf->max_temporary_ms, mt, sizeof(mt));
	kl_log_info(re->ctx->log, "replica-enforcer", "controller started", "max_temporary", mt,
		    "chatops", re->ctx->chatops ? "on" : "off");
	return 0;
}

static void re_stop(void *state, kl_done_cb done, void *arg)
{
	struct replica_enforcer *re = state;
	struct restore *r, *rnext;
	struct op *o;

	kl_informer_remove_handler(re->deployments, re);
	if (re->started)
		kl_log_info(re->ctx->log, "replica-enforcer", "controller stopped");
	re->stopping = true;
	re->started = false;
	re->done = done;
	re->done_arg = arg;
	re->stop_pending = 1;
	for (o = re->ops; o; o = o->next) {
		re->stop_pending++;
		if (o->req)
			kl_kube_cancel(o->req); /* op_finish follows with -ECANCELED */
	}
	for (r = re->restores; r; r = rnext) {
		rnext = r->next;
		re->stop_pending++;
		uv_timer_stop(&r->timer);
		if (!r->busy) /* a busy one is closed by restore_done */
			uv_close((uv_handle_t *)&r->timer, restore_closed);
	}
	re->restores = NULL;
	if (--re->stop_pending == 0) {
		free(re);
		done(arg);
	}
}

const struct kl_controller_ops kl_replica_enforcer_ops = {
	.init = re_init,
	.start = re_start,
	.stop = re_stop,
};
