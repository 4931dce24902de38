/*
 * cmd/kubectl-kloompas/main.c - `kubectl kloompas`: arguments, kubeconfig, reads, output.
 *
 * kubectl runs any executable named kubectl-kloompas on PATH for `kubectl kloompas`,
 * passing what follows. The kubeconfig is resolved exactly as kloompas resolves its own
 * (kubeclient/kubeconfig.h: --kubeconfig, $KUBECONFIG, in-cluster, ~/.kube/config, then
 * --context). Exit codes: 0 done, 1 the API server could not be read (403, 401,
 * unreachable, a kubeconfig that does not load), 2 usage; messages go to stderr and name
 * what failed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "cmd/kubectl-kloompas/fetch.h"
#include "cmd/kubectl-kloompas/plugin.h"
#include "kl_version.h"
#include "kubeclient/kubeconfig.h"

#define PROG "kubectl-kloompas"

static int run(const struct kl_plugin_args *a, struct kl_kube_config *cfg)
{
	struct kl_plugin_status st;
	struct kl_log log;
	struct kl_kube *kube = NULL;
	struct kl_kube_opts kopts = {0};
	struct kl_error err;
	uv_loop_t loop;
	char msg[1024];
	int rc, exit_code = 0;

	kl_error_clear(&err);
	/* kubeclient's own warnings (a retry) go to stderr as kloompas writes them */
	kl_log_init(&log, KL_LOG_TEXT, 0, stderr);
	rc = uv_loop_init(&loop);
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", uv_strerror(rc));
		return 1;
	}
	kl_plugin_status_init(&st, a->namespace_, (int64_t)time(NULL));
	rc = kl_kube_new(&loop, cfg, &kopts, &log, NULL, &kube, &err);
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", kl_error_str(&err, msg, sizeof(msg)));
		exit_code = 1;
		goto out_loop;
	}
	rc = kl_plugin_fetch(&loop, kube, cfg->server, a, &st, msg, sizeof(msg));
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", msg);
		exit_code = 1;
		goto out_loop;
	}
	if (a->output == KL_PLUGIN_TABLE)
		rc = kl_plugin_render_table(stdout, a->cmd, &st);
	else
		rc = kl_plugin_render_data(stdout, a->cmd, a->output, &st);
	if (rc < 0) {
		fprintf(stderr, PROG ": cannot write the output: %s\n", strerror(-rc));
		exit_code = 1;
	}
out_loop:
	uv_run(&loop, UV_RUN_DEFAULT); /* the client's close, after a failed start */
	if (uv_loop_close(&loop) < 0 && exit_code == 0) {
		fprintf(stderr, PROG ": internal error: the loop did not close\n");
		exit_code = 1;
	}
	kl_plugin_status_free(&st);
	return exit_code;
}

int main(int argc, char **argv)
{
	struct kl_plugin_args a;
	struct kl_kube_config cfg;
	struct kl_kube_config_opts copts;
	struct kl_error err;
	char buf[1024];
	int rc;

	kl_error_clear(&err);
	if (kl_plugin_args_parse(&a, argc, argv, &err) < 0) {
		fprintf(stderr, PROG ": error: %s\nSee 'kubectl kloompas --help' for usage.\n",
			err.msg);
		return 2;
	}
	if (a.cmd == KL_PLUGIN_HELP) {
		kl_plugin_usage(stdout);
		return 0;
	}
	if (a.version) {
		printf("kubectl-kloompas %s\n", KL_VERSION);
		return 0;
	}
	memset(&cfg, 0, sizeof(cfg));
	memset(&copts, 0, sizeof(copts));
	copts.kubeconfig = a.kubeconfig;
	copts.context = a.context;
	rc = kl_kube_config_load(&cfg, &copts, &err);
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", kl_error_str(&err, buf, sizeof(buf)));
		kl_kube_config_free(&cfg);
		return 1;
	}
	rc = run(&a, &cfg);
	kl_kube_config_free(&cfg);
	return rc;
}
