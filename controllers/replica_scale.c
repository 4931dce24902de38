/*
 * controllers/replica_scale.c - the replica enforcer's scale operations: every change
 * of a Deployment's replicas, whoever asks (chat, a due restore, the bounds).
 *
 * One operation is a short chain of API calls run on the loop: (1) for a temporary
 * scale, write kloompas.io/restore-replicas and kloompas.io/restore-at on the
 * Deployment first, so a crash right after still restores; (2) PATCH
 * deployments/NAME/scale; (3) drop a pending restore that a permanent scale
 * replaces; (4) record a Kubernetes Event naming who changed what. A failed step
 * ends the operation with the API's message; a failed Event fails nothing.
 */
#include "controllers/replica_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/rfc3339.h"

/* One scale operation (see the top of the file); in re->ops while it runs. */
struct kl__replica_op {
	struct replica_enforcer *re;
	struct kl__replica_op *next;
	char ns[KL_NAME_MAX + 1], name[KL_NAME_MAX + 1], uid[KL_UID_MAX];
	char user[128];
	const char *reason; /* chatops, restore, bounds: the metric label */
	int old, target;
	int64_t restore_at; /* set restore annotations first (chat with "for") */
	int restore_to;	    /* the count restore-replicas keeps */
	bool clear_restore; /* remove the restore annotations after scaling */
	int step;
	struct kl_kube_req *req;
	kl__replica_op_cb cb;
	void *arg;
};

static void count_change(struct replica_enforcer *re, const char *reason)
{
	const char *v[] = { reason };

	if (re->m_changes)
		kl_metric_inc(re->m_changes, v);
}

static void op_step(struct kl__replica_op *o);

static void op_finish(struct kl__replica_op *o, int err, const char *msg)
{
	struct replica_enforcer *re = o->re;
	struct kl__replica_op **pp;

	for (pp = &re->ops; *pp != o; pp = &(*pp)->next)
		;
	*pp = o->next;
	if (!err)
		count_change(re, o->reason);
	if (o->cb)
		o->cb(o->arg, err, msg, o->old, o->target, o->restore_at);
	free(o);
	kl__replica_stop_step(re);
}

static void op_answer(void *arg, const struct kl_kube_status *st, const struct kl_json *obj)
{
	struct kl__replica_op *o = arg;

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

static int patch_annotations(struct kl__replica_op *o, bool set)
{
	struct kl_buf b;
	char path[600], at[KL_RFC3339_LEN], n[16];
	int rc;

	kl_buf_init(&b);
	if (set) {
		kl_rfc3339_format(o->restore_at, at);
		snprintf(n, sizeof(n), "%d", o->restore_to);
		kl_buf_puts(&b, "{\"metadata\":{\"annotations\":{\"" KL__ANN_RESTORE "\":");
		kl_buf_json_string(&b, n);
		kl_buf_puts(&b, ",\"" KL__ANN_RESTORE_AT "\":");
		kl_buf_json_string(&b, at);
		kl_buf_puts(&b, "}}}");
	} else {
		kl_buf_puts(&b, "{\"metadata\":{\"annotations\":{\"" KL__ANN_RESTORE
				"\":null,\"" KL__ANN_RESTORE_AT "\":null}}}");
	}
	snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments/%s", o->ns, o->name);
	rc = kl_buf_str(&b) ? kl_kube_patch(o->re->ctx->kube, path, KL_PATCH_MERGE, b.p, b.len,
					    op_answer, o, &o->req)
			    : -ENOMEM;
	kl_buf_free(&b);
	return rc;
}

static int record_event(struct kl__replica_op *o)
{
	struct kl_buf b, msg;
	char path[400], ts[KL_RFC3339_LEN];
	int rc;

	kl_buf_init(&b);
	kl_buf_init(&msg);
	kl_buf_printf(&msg, "%s changed replicas from %d to %d", o->user, o->old, o->target);
	if (strcmp(o->reason, "chatops") == 0 && o->restore_at) {
		kl_rfc3339_format(o->restore_at, ts);
		kl_buf_printf(&msg, " until %s (then back to %d)", ts, o->restore_to);
	} else if (strcmp(o->reason, "restore") == 0) {
		kl_buf_puts(&msg, ": temporary scale over, restored");
	} else if (strcmp(o->reason, "bounds") == 0) {
		kl_buf_puts(&msg, ": outside the kloompas.io/min-replicas..max-replicas bounds");
	}
	kl_rfc3339_format(kl_clock_wall_s(o->re->ctx->clock), ts);
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
static void op_step(struct kl__replica_op *o)
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
			rc = kl_kube_scale(o->re->ctx->kube, o->ns, o->name, o->target, op_answer,
					   o, &o->req);
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

int kl__replica_scale(struct replica_enforcer *re, const struct kl_deployment *d, int target,
		      int64_t restore_at, int restore_to, const char *user, const char *reason,
		      kl__replica_op_cb cb, void *arg)
{
	struct kl__replica_op *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	o->re = re;
	snprintf(o->ns, sizeof(o->ns), "%s", d->meta.ns);
	snprintf(o->name, sizeof(o->name), "%s", kl_meta_name(&d->meta));
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

bool kl__replica_scaling(const struct replica_enforcer *re, const char *ns, const char *name)
{
	const struct kl__replica_op *o;

	for (o = re->ops; o; o = o->next)
		if (strcmp(o->ns, ns) == 0 && strcmp(o->name, name) == 0)
			return true;
	return false;
}

void kl__replica_scale_stop(struct replica_enforcer *re)
{
	struct kl__replica_op *o;

	for (o = re->ops; o; o = o->next) {
		re->stop_pending++;
		if (o->req)
			kl_kube_cancel(o->req); /* op_finish follows with -ECANCELED */
	}
}
