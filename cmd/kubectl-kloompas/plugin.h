/*
 * cmd/kubectl-kloompas/plugin.h - `kubectl kloompas`: what Kloompas thinks, without
 * reading a ConfigMap's JSON by hand.
 *
 * The plugin is three steps, one file each: args.c turns argv into struct kl_plugin_args;
 * fetch.c reads the cluster (the Lease, the kloompas-state ConfigMap, the Kloompas pods
 * and Deployment, every Deployment's kloompas.io/restore-* annotations) into a struct
 * kl_plugin_status; render_table.c and render_data.c print it as a table, JSON or YAML.
 * model.c builds the status from API objects, so the renderers and the record parsing
 * are tested on hand-made objects without a cluster.
 *
 * Ownership: every string in a struct kl_plugin_status is its own copy, freed by
 * kl_plugin_status_free(); objects passed to the kl_plugin_status_add_* functions are
 * borrowed for the call.
 */
#ifndef KL_CMD_KUBECTL_KLOOMPAS_PLUGIN_H
#define KL_CMD_KUBECTL_KLOOMPAS_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kubeclient/json.h"
#include "util/error.h"

/* ---------------------------------------------------------------- arguments */

enum kl_plugin_cmd { KL_PLUGIN_STATUS, KL_PLUGIN_ALERTS, KL_PLUGIN_RESTORES, KL_PLUGIN_HELP };
enum kl_plugin_output { KL_PLUGIN_TABLE, KL_PLUGIN_JSON, KL_PLUGIN_YAML };

/* Strings point into argv or at constants: nothing here allocates. */
struct kl_plugin_args {
	enum kl_plugin_cmd cmd;
	enum kl_plugin_output output;
	const char *kubeconfig; /* NULL: $KUBECONFIG, in-cluster, ~/.kube/config */
	const char *context;
	const char *namespace_; /* Kloompas' namespace; default "kloompas" */
	const char *lease_name; /* kloompas' --leader-elect-resource-name; default "kloompas" */
	const char *alerts_ns;	/* `alerts NAMESPACE`, or NULL for every namespace */
	bool version;
};

/* The Deployment, pod label and ConfigMap Kloompas runs as (deploy/). */
#define KL_PLUGIN_DEFAULT_NS "kloompas"
#define KL_PLUGIN_DEPLOYMENT "kloompas"
#define KL_PLUGIN_POD_SELECTOR "app.kubernetes.io/name=kloompas"
#define KL_PLUGIN_STATE_CONFIGMAP "kloompas-state"

/*
 * Parses argv[1..] (what kubectl passes after "kloompas"). Returns 0, or -EINVAL with
 * err naming the flag or command ("unknown command \"stauts\""): the caller exits 2.
 */
int kl_plugin_args_parse(struct kl_plugin_args *a, int argc, char **argv, struct kl_error *err);
void kl_plugin_usage(FILE *out);

/* ---------------------------------------------------------------- the model */

struct kl_plugin_alert {
	char *controller, *namespace_, *state, *summary;
	int64_t since; /* Unix seconds: when the condition started */
};

struct kl_plugin_restore {
	char *namespace_, *deployment;
	int64_t replicas; /* what it goes back to (kloompas.io/restore-replicas) */
	int64_t current;  /* spec.replicas now, -1 when unknown */
	int64_t at;	  /* Unix seconds (kloompas.io/restore-at); 0 when unreadable */
	char *at_text;	  /* the annotation as written */
};

struct kl_plugin_pod {
	char *name, *phase;
	bool ready;
};

struct kl_plugin_status {
	char *namespace_;
	int64_t now; /* Unix seconds, for ages */

	bool have_lease;
	char *holder;			  /* NULL: the Lease has no holder (released) */
	int64_t renew_time, acquire_time; /* 0 when absent */
	int64_t lease_duration_s;

	bool have_deployment;
	char *controllers_arg; /* the container's --controllers, "*" when not given */
	struct kl_plugin_pod *pods;
	size_t npods;

	struct kl_plugin_alert *alerts;
	size_t nalerts;
	size_t skipped_records; /* state keys that are not alert records */
	struct kl_plugin_restore *restores;
	size_t nrestores;
};

void kl_plugin_status_init(struct kl_plugin_status *st, const char *ns, int64_t now);
void kl_plugin_status_free(struct kl_plugin_status *st);

/* Each returns 0 or -ENOMEM; an object of the wrong shape is skipped, not an error. */
int kl_plugin_status_add_lease(struct kl_plugin_status *st, const struct kl_json *lease);
/* Every "CONTROLLER.NAMESPACE" key of .data whose value is an alert record (see
 * controllers/alerts.c persist()); alerts_ns filters (NULL: all). Sorted by namespace. */
int kl_plugin_status_add_state(struct kl_plugin_status *st, const struct kl_json *configmap,
			       const char *alerts_ns);
/* A Deployment: a restore when it has kloompas.io/restore-replicas and /restore-at. */
int kl_plugin_status_add_deployment(struct kl_plugin_status *st, const struct kl_json *deploy);
/* The Kloompas Deployment itself: the --controllers of its first container. */
int kl_plugin_status_add_kloompas(struct kl_plugin_status *st, const struct kl_json *deploy);
int kl_plugin_status_add_pod(struct kl_plugin_status *st, const struct kl_json *pod);
/* Forgets the pods (pods true) or the restores collected so far: a LIST starts over. */
void kl_plugin_status_drop(struct kl_plugin_status *st, bool pods);
/* Sorts restores by due time (alerts are kept sorted as they come). */
void kl_plugin_status_sort(struct kl_plugin_status *st);

/* kubectl's ages (HumanDuration): "45s", "5m30s", "25m", "2h5m", "30h", "3d4h", "40d". */
const char *kl_plugin_age(int64_t seconds, char *buf, size_t len);

/* ---------------------------------------------------------------- output */

/* Every renderer returns 0, or -EIO when out fails (a closed pipe). */
int kl_plugin_render_table(FILE *out, enum kl_plugin_cmd cmd, const struct kl_plugin_status *st);
int kl_plugin_render_data(FILE *out, enum kl_plugin_cmd cmd, enum kl_plugin_output fmt,
			  const struct kl_plugin_status *st);

#endif
