/*
 * test/tools/kllease.c - one leader-election candidate as a command, for the e2e tests.
 *
 * Runs kubeclient/lease.c against a real API server and prints each leadership
 * change on its own line, flushed at once, so a test can run several candidates,
 * kill or stop them and watch who leads:
 *
 *   kllease --kubeconfig KC --ns NS --name N [--identity ID]
 *           [--lease 2s] [--renew 1500ms] [--retry 300ms]
 *   STARTED id | LEADER id | FOLLOWER id | STOPPED id
 *
 * On SIGTERM/SIGINT it stops the elector (which releases a Lease it holds), closes
 * the client and exits 0 once the loop is empty. Log lines (KLLEASE_V=N for debug)
 * go to stderr.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "kubeclient/client.h"
#include "kubeclient/kubeconfig.h"
#include "kubeclient/lease.h"
#include "util/duration.h"

struct app {
	uv_loop_t loop;
	struct kl_log log;
	struct kl_kube *kube;
	struct kl_lease *lease;
	uv_signal_t sigterm, sigint;
	char identity[128];
	int stopping;
};

static void on_leader(void *arg, bool leader)
{
	struct app *app = arg;

	printf("%s %s\n", leader ? "LEADER" : "FOLLOWER", app->identity);
	fflush(stdout);
}

static void stopped(void *arg)
{
	struct app *app = arg;

	printf("STOPPED %s\n", app->identity);
	fflush(stdout);
	kl_kube_close(app->kube, NULL, NULL);
}

static void on_signal(uv_signal_t *h, int sig)
{
	struct app *app = h->data;

	if (app->stopping++)
		return;
	uv_close((uv_handle_t *)&app->sigterm, NULL);
	uv_close((uv_handle_t *)&app->sigint, NULL);
	kl_lease_stop(app->lease, stopped, app);
}

static int duration(const char *flag, const char *v, uint64_t *ms)
{
	if (kl_duration_parse(v, ms) < 0 || *ms == 0) {
		fprintf(stderr, "kllease: %s: bad duration \"%s\"\n", flag, v);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct app app;
	struct kl_kube_config cfg;
	struct kl_kube_config_opts copts = {0};
	struct kl_lease_opts lo = {0};
	struct kl_error err;
	char buf[1024];
	int i;

	memset(&app, 0, sizeof(app));
	memset(&cfg, 0, sizeof(cfg));
	lo.lease_ms = 15000;
	lo.renew_deadline_ms = 10000;
	lo.retry_ms = 2000;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
		if (OPT("--kubeconfig")) {
			copts.kubeconfig = v;
		} else if (OPT("--ns")) {
			lo.ns = v;
		} else if (OPT("--name")) {
			lo.name = v;
		} else if (OPT("--identity")) {
			snprintf(app.identity, sizeof(app.identity), "%s", v);
		} else if (OPT("--lease")) {
			if (duration(a, v, &lo.lease_ms) < 0)
				return 2;
		} else if (OPT("--renew")) {
			if (duration(a, v, &lo.renew_deadline_ms) < 0)
				return 2;
		} else if (OPT("--retry")) {
			if (duration(a, v, &lo.retry_ms) < 0)
				return 2;
		} else {
			fprintf(stderr, "kllease: bad option %s\n", a);
			return 2;
		}
#undef OPT
	}
	if (!lo.ns || !lo.name) {
		fprintf(stderr, "kllease: --ns and --name are required\n");
		return 2;
	}
	if (!app.identity[0])
		kl_lease_default_identity(app.identity, sizeof(app.identity));
	lo.identity = app.identity;
	kl_error_clear(&err);
	kl_log_init(&app.log, KL_LOG_TEXT, getenv("KLLEASE_V") ? atoi(getenv("KLLEASE_V")) : 0,
		    stderr);
	if (kl_kube_config_load(&cfg, &copts, &err) < 0) {
		fprintf(stderr, "kllease: %s\n", kl_error_str(&err, buf, sizeof(buf)));
		return 2;
	}
	uv_loop_init(&app.loop);
	if (kl_kube_new(&app.loop, &cfg, NULL, &app.log, NULL, &app.kube, &err) < 0) {
		fprintf(stderr, "kllease: %s\n", kl_error_str(&err, buf, sizeof(buf)));
		return 1;
	}
	app.lease = kl_lease_new(&app.loop, app.kube, &lo, &app.log, NULL, on_leader, &app);
	if (!app.lease) {
		fprintf(stderr, "kllease: cannot create the elector\n");
		return 1;
	}
	uv_signal_init(&app.loop, &app.sigterm);
	uv_signal_init(&app.loop, &app.sigint);
	app.sigterm.data = app.sigint.data = &app;
	uv_signal_start(&app.sigterm, on_signal, SIGTERM);
	uv_signal_start(&app.sigint, on_signal, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	printf("STARTED %s\n", app.identity);
	fflush(stdout);
	if (kl_lease_start(app.lease) < 0) {
		fprintf(stderr, "kllease: cannot start the elector\n");
		return 1;
	}
	uv_run(&app.loop, UV_RUN_DEFAULT);
	i = uv_loop_close(&app.loop);
	kl_kube_config_free(&cfg);
	if (i < 0) {
		fprintf(stderr, "kllease: loop not closed: %s\n", uv_strerror(i));
		return 1;
	}
	return 0;
}
