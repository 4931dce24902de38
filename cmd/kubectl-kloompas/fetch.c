/*
 * cmd/kubectl-kloompas/fetch.c - the reads, all at once, on one loop.
 *
 * A command needs at most five reads (the Lease, the kloompas-state ConfigMap, the
 * Kloompas Deployment and its pods, every Deployment for restore annotations); they are
 * started together through kubeclient and the loop runs until the last answers. A 404 is
 * an answer ("no Lease": Kloompas runs without leader election or not at all; "no
 * ConfigMap": no alert was ever recorded); any other failure is the command's failure
 * and the first one is reported, in words that say what was read and why it failed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "cmd/kubectl-kloompas/fetch.h"

struct fetch {
	struct kl_kube *kube;
	const struct kl_plugin_args *args;
	struct kl_plugin_status *st;
	const char *server;
	int pending;
	int err; /* the first failure; 0 when none */
	char msg[1024];
};

struct read {
	struct fetch *f;
	char what[256]; /* "the Lease kloompas/kloompas", for messages */
	int (*add)(struct kl_plugin_status *st, const struct kl_json *obj);
};

static int add_lease(struct kl_plugin_status *st, const struct kl_json *o)
{
	return kl_plugin_status_add_lease(st, o);
}

static int add_kloompas(struct kl_plugin_status *st, const struct kl_json *o)
{
	return kl_plugin_status_add_kloompas(st, o);
}

static int add_pod(struct kl_plugin_status *st, const struct kl_json *o)
{
	return kl_plugin_status_add_pod(st, o);
}

static int add_deployment(struct kl_plugin_status *st, const struct kl_json *o)
{
	return kl_plugin_status_add_deployment(st, o);
}

static void fail(struct fetch *f, const char *what, const struct kl_kube_status *s)
{
	const char *msg = s->message && *s->message ? s->message : s->reason;

	if (f->err)
		return;
	f->err = s->err ? s->err : -EPROTO;
	if (s->code == 403)
		snprintf(f->msg, sizeof(f->msg),
			 "cannot read %s: forbidden (403): %s\n"
			 "The plugin needs read access to Kloompas' objects: see the Role and "
			 "ClusterRole in docs/kubectl-plugin.md (deploy/plugin-rbac.yaml).",
			 what, msg && *msg ? msg : "no reason given");
	else if (s->code == 401)
		snprintf(f->msg, sizeof(f->msg),
			 "cannot read %s: unauthorized (401): the API server did not accept "
			 "the kubeconfig's credentials",
			 what);
	else if (s->code)
		snprintf(f->msg, sizeof(f->msg), "cannot read %s: the API server answered %d: %s",
			 what, s->code, msg && *msg ? msg : "no reason given");
	else
		snprintf(f->msg, sizeof(f->msg), "cannot read %s: the API server at %s: %s (%s)",
			 what, f->server, msg && *msg ? msg : "unreachable", strerror(-f->err));
}

static void done(struct fetch *f)
{
	if (--f->pending == 0)
		kl_kube_close(f->kube, NULL, NULL);
}

static void on_obj(void *arg, const struct kl_kube_status *s, const struct kl_json *obj)
{
	struct read *r = arg;
	struct fetch *f = r->f;
	int rc;

	if (s->err == -ENOENT) {
		/* absent is an answer, see the top of the file */
	} else if (s->err) {
		fail(f, r->what, s);
	} else if (obj) {
		rc = r->add ? r->add(f->st, obj)
			    : kl_plugin_status_add_state(f->st, obj, f->args->alerts_ns);
		if (rc < 0 && !f->err) {
			f->err = rc;
			snprintf(f->msg, sizeof(f->msg), "cannot take in %s: %s", r->what,
				 strerror(-rc));
		}
	}
	done(f);
}

static int on_item(void *arg, const struct kl_kobj *item, bool restart)
{
	struct read *r = arg;

	if (restart) /* a continue token expired: the list starts over */
		kl_plugin_status_drop(r->f->st, r->add == add_pod);
	/* the plugin's LISTs do not ask for protobuf: items are JSON */
	return item->json ? r->add(r->f->st, item->json) : -EPROTO;
}

static void on_list(void *arg, const struct kl_kube_status *s,
		    const struct kl_kube_list_result *res)
{
	struct read *r = arg;

	if (s->err)
		fail(r->f, r->what, s);
	done(r->f);
}

static int start_get(struct fetch *f, struct read *r, const char *path)
{
	int rc = kl_kube_get(f->kube, path, on_obj, r, NULL);

	if (rc == 0)
		f->pending++;
	return rc;
}

static int start_list(struct fetch *f, struct read *r, const char *path, const char *query)
{
	struct kl_kube_list_opts o = { .query = query };
	int rc = kl_kube_list(f->kube, path, &o, on_item, on_list, r, NULL);

	if (rc == 0)
		f->pending++;
	return rc;
}

int kl_plugin_fetch(uv_loop_t *loop, struct kl_kube *kube, const char *server,
		    const struct kl_plugin_args *a, struct kl_plugin_status *st, char *msg,
		    size_t msg_len)
{
	struct fetch f = {kube, a, st, server, 0, 0, ""};
	struct read reads[5];
	const char *ns = a->namespace_;
	char path[512];
	int rc = 0;

	memset(reads, 0, sizeof(reads));
	for (size_t i = 0; i < 5; i++)
		reads[i].f = &f;
	/* one pending count of our own, so no answer closes the client before all start */
	f.pending = 1;
	if (a->cmd == KL_PLUGIN_STATUS) {
		snprintf(reads[0].what, sizeof(reads[0].what), "the Lease %s/%s", ns,
			 a->lease_name);
		reads[0].add = add_lease;
		snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s",
			 ns, a->lease_name);
		rc = start_get(&f, &reads[0], path);

		snprintf(reads[1].what, sizeof(reads[1].what), "the Deployment %s/%s", ns,
			 KL_PLUGIN_DEPLOYMENT);
		reads[1].add = add_kloompas;
		snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments/%s", ns,
			 KL_PLUGIN_DEPLOYMENT);
		if (rc == 0)
			rc = start_get(&f, &reads[1], path);

		snprintf(reads[2].what, sizeof(reads[2].what), "the pods of %s (%s)", ns,
			 KL_PLUGIN_POD_SELECTOR);
		reads[2].add = add_pod;
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", ns);
		if (rc == 0)
			rc = start_list(&f, &reads[2], path,
					"labelSelector=app.kubernetes.io%2Fname%3Dkloompas");
	}
	if (rc == 0 && a->cmd != KL_PLUGIN_RESTORES) {
		snprintf(reads[3].what, sizeof(reads[3].what), "the ConfigMap %s/%s", ns,
			 KL_PLUGIN_STATE_CONFIGMAP);
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps/%s", ns,
			 KL_PLUGIN_STATE_CONFIGMAP);
		rc = start_get(&f, &reads[3], path);
	}
	if (rc == 0 && a->cmd != KL_PLUGIN_ALERTS) {
		snprintf(reads[4].what, sizeof(reads[4].what),
			 "Deployments in all namespaces (their kloompas.io/restore-* annotations)");
		reads[4].add = add_deployment;
		rc = start_list(&f, &reads[4], "/apis/apps/v1/deployments", NULL);
	}
	if (rc < 0 && !f.err) {
		f.err = rc;
		snprintf(f.msg, sizeof(f.msg), "cannot start a request: %s", strerror(-rc));
	}
	done(&f);
	uv_run(loop, UV_RUN_DEFAULT);
	kl_plugin_status_sort(st);
	snprintf(msg, msg_len, "%s", f.msg);
	return f.err;
}
