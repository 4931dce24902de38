/*
 * kubeclient/kubeconfig.h - where the API server is and who we are to it.
 *
 * Resolved the way kubectl resolves it: --kubeconfig, else $KUBECONFIG as a colon
 * list merged with kubectl's rules (for maps - clusters, users, contexts - the
 * first file that defines a name wins; current-context from the first file that
 * sets it), else the in-cluster service account, else ~/.kube/config. Then
 * --context picks the context (else current-context) and --master overrides the
 * server. Relative paths in a file resolve against that file's folder.
 *
 * The result is a flat struct kl_kube_config with everything in one arena:
 * the HTTP layer never reads YAML. Secrets (token, key data, password) are held
 * here and never logged.
 */
#ifndef KL_KUBECLIENT_KUBECONFIG_H
#define KL_KUBECLIENT_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/error.h"

struct kl_kube_exec {
	const char *command;	 /* absolute, or looked up in PATH at run time */
	const char **args;	 /* NULL-terminated */
	const char **env;	 /* NULL-terminated "NAME=value" added to our environment */
	const char *api_version; /* client.authentication.k8s.io/v1 or v1beta1 */
	const char *interactive_mode; /* Never, IfAvailable, Always (we run as Never) */
	bool provide_cluster_info;
};

struct kl_kube_config {
	struct kl_arena arena;
	const char *source;  /* the file(s) it came from, or "in-cluster", for messages */
	const char *context; /* the chosen context's name ("" for in-cluster) */
	const char *namespace_; /* the context's namespace, or the SA namespace; NULL if none */

	/* cluster */
	const char *server; /* "https://host:port", no trailing slash */
	const char *ca_file; /* path, or NULL */
	const char *ca_data; /* PEM, or NULL (decoded from certificate-authority-data) */
	size_t ca_data_len;
	bool insecure_skip_tls_verify;
	const char *tls_server_name;
	const char *proxy_url;

	/* user: at most one of token/token_file, client cert, basic, exec is used */
	const char *token;	/* static bearer token */
	const char *token_file; /* re-read periodically (projected SA tokens rotate) */
	const char *client_cert_file, *client_key_file;
	const char *client_cert_data, *client_key_data; /* PEM */
	size_t client_cert_data_len, client_key_data_len;
	const char *username, *password;
	struct kl_kube_exec *exec; /* NULL when none */
};

struct kl_kube_config_opts {
	const char *kubeconfig; /* --kubeconfig, or NULL */
	const char *context;	/* --context, or NULL */
	const char *master;	/* --master, or NULL */
	/* For tests: NULL means the real ones. */
	const char *env_kubeconfig;	/* $KUBECONFIG */
	const char *home;		/* $HOME */
	const char *sa_dir;		/* /var/run/secrets/kubernetes.io/serviceaccount */
	const char *service_host, *service_port; /* KUBERNETES_SERVICE_HOST/PORT */
};

/*
 * Resolves and loads. Returns 0, or a negative errno with err naming the file
 * (and line where there is one) and what is wrong:
 *   "/home/a/.kube/config:12: users[0].user.client-key: cannot read key.pem: No such file"
 *   "kubeconfig: context \"prod\" not found in /home/a/.kube/config"
 * On error cfg is freed. kl_kube_config_free() is safe after either result.
 */
int kl_kube_config_load(struct kl_kube_config *cfg, const struct kl_kube_config_opts *opts,
			struct kl_error *err);
void kl_kube_config_free(struct kl_kube_config *cfg);

#endif
