/*
 * cmd/kloompas/main.c - wiring: flags, config, the loop, signals, the controllers.
 *
 * Everything the process owns hangs off one struct app on main's stack; nothing is
 * global. Start-up errors that are the user's (a flag, the config) exit 2 with a
 * message naming the flag or FILE:LINE; errors of the runtime (a port in use, no
 * memory) exit 1. SIGTERM/SIGINT stop the controllers, close both HTTP servers and
 * the signal handles, and let uv_run return with nothing left: the loop must then
 * close cleanly, or the exit code says it did not.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config/config.h"
#include "config/flags.h"
#include "controllers/chat_forward.h"
#include "controllers/controller.h"
#include "controllers/silences.h"
#include "controllers/state.h"
#include "kl_version.h"
#include "kubeclient/client.h"
#include "kubeclient/informer.h"
#include "kubeclient/kubeconfig.h"
#include "kubeclient/lease.h"
#include "notify/notify.h"
#include "util/error.h"
#include "util/health.h"
#include "util/httpd.h"
#include "util/log.h"
#include "util/metrics.h"

#define MAX_CONTROLLERS 32

struct app {
	uv_loop_t loop;
	struct kl_clock clock;
	struct kl_log log;
	struct kl_flags flags;
	struct kl_config config;
	struct kl_kube_config kubeconfig;
	struct kl_kube *kube;
	struct kl_informers *informers;
	struct kl_metrics *metrics;
	struct kl_health health;
	struct kl_ctx ctx;
	struct kl_httpd *httpd;
	struct kl_httpd *chatops;
	uv_signal_t sigterm;
	uv_signal_t sigint;

	size_t ncontrollers;
	bool enabled[MAX_CONTROLLERS];
	void *confs[MAX_CONTROLLERS];
	void *states[MAX_CONTROLLERS]; /* non-NULL once init succeeded, until stopped */
	bool started;

	struct kl_state *state;
	struct kl_lease *lease; /* NULL with --leader-elect=false */
	bool leader;
	char own_ns[256];
	int ctl_pending;
	bool signals_ready;
	bool stopping;
	int pending; /* stops and closes not yet done */
	int exit_code;
};

/* ---------------------------------------------------------------- HTTP endpoints */

static void serve_metrics(struct kl_httpd_req *req, void *arg)
{
	struct app *app = arg;
	char *text = NULL;
	size_t len = 0;

	if (kl_metrics_render(app->metrics, &text, &len) < 0) {
		kl_httpd_respond(req, 500, NULL, NULL, "out of memory\n", 14);
		return;
	}
	kl_httpd_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, text, len);
	free(text);
}

static void serve_ok(struct kl_httpd_req *req, void *arg)
{
	kl_httpd_respond(req, 200, NULL, NULL, "ok\n", 3);
}

/* kube-apiserver style: "ok" when ready (the list with ?verbose), else the list + 503 */
static void serve_readyz(struct kl_httpd_req *req, void *arg)
{
	struct app *app = arg;
	char report[2048];
	bool ready = kl_health_run(&app->health, report, sizeof(report));
	const char *q = kl_httpd_req_query(req);

	if (ready && !strstr(q, "verbose")) {
		kl_httpd_respond(req, 200, NULL, NULL, "ok\n", 3);
		return;
	}
	if (ready)
		strncat(report, "readyz check passed\n", sizeof(report) - strlen(report) - 1);
	else
		strncat(report, "readyz check failed\n", sizeof(report) - strlen(report) - 1);
	kl_httpd_respond(req, ready ? 200 : 503, NULL, NULL, report, strlen(report));
}

/* A follower is ready (its caches are synced: it can take over at once and serve
 * chat-ops); a leader is ready once its controllers run, and until then says what
 * they wait for: the state ConfigMap's read (with its last error), the informers. */
static bool check_controllers(void *arg, char *why, size_t len)
{
	struct app *app = arg;
	char wait[400] = "";
	bool state_ok;

	if ((!app->leader && app->lease) || app->started)
		return true;
	state_ok = !app->state || kl_state_ready(app->state, wait, sizeof(wait));
	if (state_ok && app->informers && !kl_informers_synced(app->informers))
		snprintf(wait, sizeof(wait), "waiting for the informers to sync");
	snprintf(why, len, "controllers not started%s%s", wait[0] ? ": " : "", wait);
	return false;
}

static bool check_shutdown(void *arg, char *why, size_t len)
{
	struct app *app = arg;

	if (app->stopping)
		snprintf(why, len, "shutting down");
	return !app->stopping;
}

static int open_servers(struct app *app, struct kl_error *err)
{
	struct kl_httpd_limits lim;
	int rc;

	kl_httpd_limits_default(&lim);
	app->httpd = kl_httpd_new(&app->loop, "metrics", &lim, &app->log);
	if (!app->httpd)
		return -ENOMEM;
	if ((rc = kl_httpd_route(app->httpd, "/metrics", KL_HTTP_GET, serve_metrics, app)) < 0 ||
	    (rc = kl_httpd_route(app->httpd, "/healthz", KL_HTTP_GET, serve_ok, app)) < 0 ||
	    (rc = kl_httpd_route(app->httpd, "/livez", KL_HTTP_GET, serve_ok, app)) < 0 ||
	    (rc = kl_httpd_route(app->httpd, "/readyz", KL_HTTP_GET, serve_readyz, app)) < 0)
		return rc;
	rc = kl_httpd_listen(app->httpd, app->flags.bind_address, err);
	if (rc < 0)
		return rc;

	if (app->flags.chatops_bind_address) {
		/* the controllers add their routes after init (their ops' routes hook) */
		app->chatops = kl_httpd_new(&app->loop, "chatops", &lim, &app->log);
		if (!app->chatops)
			return -ENOMEM;
		rc = kl_httpd_listen(app->chatops, app->flags.chatops_bind_address, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---------------------------------------------------------------- metrics */

static int register_metrics(struct app *app)
{
	static const char *const version_labels[] = {"version", NULL};
	static const char *const ctl_labels[] = {"controller", NULL};
	const char *version[] = {KL_VERSION};
	struct kl_metric *build, *enabled, *leader;
	size_t i;
	int rc;

	rc = kl_process_metrics_register(app->metrics);
	if (rc < 0)
		return rc;
	build = kl_metrics_gauge(app->metrics, "kloompas_build_info",
				 "Kloompas build; the value is always 1.", version_labels);
	enabled = kl_metrics_gauge(app->metrics, "kloompas_controller_enabled",
				   "1 when the controller is enabled by --controllers, else 0.",
				   ctl_labels);
	/* the Lease may have registered it already */
	leader = kl_metrics_find(app->metrics, "kloompas_leader");
	if (!leader)
		leader = kl_metrics_gauge(app->metrics, "kloompas_leader",
					  "1 when this replica is the leader and acts, else 0.",
					  NULL);
	if (!build || !enabled || !leader)
		return -ENOMEM;
	if ((rc = kl_metric_set(build, version, 1)) < 0)
		return rc;
	for (i = 0; i < app->ncontrollers; i++) {
		const char *name[] = {kl_controllers[i].name};

		if ((rc = kl_metric_set(enabled, name, app->enabled[i] ? 1 : 0)) < 0)
			return rc;
	}
	/* with leader election the Lease sets it; without, this replica always acts;
	 * a dry run never acts on anything, so it is never counted as a leader */
	if (app->flags.leader_elect || app->flags.dry_run)
		return 0;
	return kl_metric_set(leader, NULL, 1);
}

/* ---------------------------------------------------------------- shutdown */

static void pending_done(void *arg)
{
	struct app *app = arg;

	app->pending--;
}

/* the caches are gone: now the client they used can go */
static void informers_stopped(void *arg)
{
	struct app *app = arg;

	if (app->kube) {
		kl_kube_close(app->kube, pending_done, app);
		app->kube = NULL;
		return; /* still pending: pending_done comes from kl_kube_close */
	}
	pending_done(app);
}

static void lease_released(void *arg)
{
	struct app *app = arg;

	if (app->informers) {
		kl_informers_stop(app->informers, informers_stopped, app);
		app->informers = NULL;
		return;
	}
	informers_stopped(app);
}

/* the state is written: hand the Lease over at once, then close the caches */
static void state_closed(void *arg)
{
	struct app *app = arg;

	if (app->lease) {
		kl_lease_stop(app->lease, lease_released, app);
		app->lease = NULL;
		return;
	}
	if (app->informers) {
		kl_informers_stop(app->informers, informers_stopped, app);
		app->informers = NULL;
		return;
	}
	informers_stopped(app);
}

static void state_flushed(void *arg)
{
	struct app *app = arg;

	kl_state_close(app->state, state_closed, app);
	app->state = NULL;
}

/* every controller stopped: persist what they left, then close the client side */
static void controller_stopped(void *arg)
{
	struct app *app = arg;

	if (--app->ctl_pending > 0)
		return;
	if (app->ctx.silences) {
		app->pending++; /* after every alert engine stopped watching it */
		kl_silences_close(app->ctx.silences, pending_done, app);
		app->ctx.silences = NULL;
	}
	if (app->ctx.notify) {
		app->pending++; /* after every controller detached from it */
		kl_notify_close(app->ctx.notify, pending_done, app);
		app->ctx.notify = NULL;
	}
	if (app->state)
		kl_state_flush(app->state, state_flushed, app);
	else
		state_closed(app);
}

static void signal_closed(uv_handle_t *h)
{
	pending_done(h->data);
}

static void shutdown_app(struct app *app)
{
	size_t i;

	if (app->stopping)
		return;
	app->stopping = true;
	/* controllers first; once all are stopped, the state is written and the
	 * client side (state, informers, API client) is closed in that order */
	app->pending++; /* the client side, ended in client_side_closed */
	app->ctl_pending = 1;
	for (i = 0; i < app->ncontrollers; i++) {
		if (!app->states[i])
			continue;
		app->ctl_pending++;
		kl_controllers[i].ops->stop(app->states[i], controller_stopped, app);
		app->states[i] = NULL;
	}
	controller_stopped(app);
	if (app->httpd) {
		app->pending++;
		kl_httpd_close(app->httpd, pending_done, app);
		app->httpd = NULL;
	}
	if (app->ctx.forward) {
		/* forwards in flight are answered 503 before the listener goes */
		app->pending++;
		kl_chat_forward_close(app->ctx.forward, pending_done, app);
		app->ctx.forward = NULL;
	}
	if (app->chatops) {
		app->pending++;
		kl_httpd_close(app->chatops, pending_done, app);
		app->chatops = NULL;
	}
	if (app->signals_ready) {
		app->pending += 2;
		uv_close((uv_handle_t *)&app->sigterm, signal_closed);
		uv_close((uv_handle_t *)&app->sigint, signal_closed);
	}
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct app *app = h->data;

	kl_log_info(&app->log, "main", "shutting down", "signal",
		    signum == SIGTERM ? "SIGTERM" : "SIGINT");
	shutdown_app(app);
}

/* ---------------------------------------------------------------- start-up */

static int usage_error(const char *prog, const struct kl_error *err)
{
	char buf[1024];

	fprintf(stderr, "%s: %s\n", prog, kl_error_str(err, buf, sizeof(buf)));
	return 2;
}

/* Leader (always, for now) and every informer synced: the controllers act. */
static void start_controllers(struct app *app)
{
	size_t i;
	int rc;

	if (app->started || app->stopping || !app->leader || !app->state ||
	    !kl_informers_synced(app->informers) || !kl_state_loaded(app->state))
		return;
	/* before the alert engines, which ask it what is silenced as they restore */
	kl_silences_start(app->ctx.silences);
	for (i = 0; i < app->ncontrollers; i++) {
		if (!app->states[i])
			continue;
		rc = kl_controllers[i].ops->start(app->states[i]);
		if (rc < 0) {
			kl_log_error(&app->log, "main", "controller failed to start", "controller",
				     kl_controllers[i].name, "error", strerror(-rc));
			app->exit_code = 1;
			shutdown_app(app);
			return;
		}
	}
	app->started = true;
	kl_log_info(&app->log, "main", "controllers started");
}

static void on_informer_synced(void *arg)
{
	start_controllers(arg);
}

static void on_state_loaded(void *arg, int err)
{
	start_controllers(arg);
}

/*
 * Leader now (or always, without leader election): read the alert state as the
 * last leader left it, then start the controllers once the caches are synced too.
 */
static int become_leader(struct app *app)
{
	app->leader = true;
	app->state = kl_state_new(&app->clock, app->kube, app->own_ns, "kloompas-state",
				  app->flags.dry_run, 1000, &app->log);
	if (!app->state)
		return -ENOMEM;
	app->ctx.state = app->state;
	return kl_state_load(app->state, on_state_loaded, app);
}

static void shutdown_app(struct app *app);

static void on_leadership(void *arg, bool leader)
{
	struct app *app = arg;

	if (leader && !app->leader && !app->stopping) {
		if (become_leader(app) < 0) {
			app->exit_code = 1;
			shutdown_app(app);
		}
		return;
	}
	if (!leader && app->leader) {
		/* as kube-controller-manager: a replica that lost the Lease exits and is
		 * restarted as a follower, rather than risk acting beside the new leader */
		kl_log_error(&app->log, "main", "leadership lost; stopping");
		app->exit_code = 1;
		shutdown_app(app);
	}
}

/* Returns 0, or an exit code. */
static int init_controllers(struct app *app, struct kl_error *err)
{
	struct kl_informer_handler sync = { .synced = on_informer_synced, .arg = app };
	size_t i;
	unsigned bit;
	int rc;

	for (i = 0; i < app->ncontrollers; i++) {
		if (!app->enabled[i])
			continue;
		/* the informers a controller reads exist before it starts; shared by all */
		for (bit = 1; bit <= KL_RES_ALL; bit <<= 1) {
			struct kl_informer *inf;

			if (!(kl_controllers[i].informers & bit))
				continue;
			inf = kl_informers_get(app->informers, (enum kl_resource)bit, NULL);
			if (!inf || kl_informer_add_handler(inf, &sync) < 0)
				return 1;
		}
		rc = kl_controllers[i].ops->init(&app->ctx, app->confs[i], &app->states[i], err);
		if (rc < 0)
			app->states[i] = NULL;
		else if (app->chatops && kl_controllers[i].ops->routes)
			rc = kl_controllers[i].ops->routes(app->states[i], app->chatops);
		if (rc < 0) {
			kl_error_set(err, NULL, 0, 0, "controller %s: %s", kl_controllers[i].name,
				     strerror(-rc));
			return rc == -EINVAL ? 2 : 1;
		}
	}
	/* the silence commands, after the controllers' routes (silences.h) */
	rc = app->chatops ? kl_silences_routes(app->ctx.silences, app->chatops) : 0;
	if (rc < 0) {
		kl_error_set(err, NULL, 0, 0, "silences: %s", strerror(-rc));
		return 1;
	}
	rc = kl_informers_start(app->informers);
	if (rc < 0) {
		kl_error_set(err, NULL, 0, 0, "informers: %s", strerror(-rc));
		return 1;
	}
	rc = app->lease ? kl_lease_start(app->lease) : become_leader(app);
	if (rc < 0) {
		kl_error_set(err, NULL, 0, 0, "leader election: %s", strerror(-rc));
		return 1;
	}
	start_controllers(app); /* at once when no informer is needed */
	return 0;
}

/* One notifier set for every controller; a 50 ms window joins their flushes. */
static struct kl_notify *new_notify(struct app *app)
{
	struct kl_notify_opts no = { 0 };

	no.cluster = app->config.cluster;
	no.dry_run = app->flags.dry_run;
	no.window_ms = 50;
	no.clock = &app->clock;
	return kl_notify_new(&app->loop, &app->config, &no, &app->log, app->metrics);
}

/*
 * The chat-ops address this replica publishes on the Lease as leader, into buf:
 * --chatops-advertise-address, else the bind address' IP, else $POD_IP (deploy/ sets
 * it from the downward API), with the bound port. "" when there is none to give.
 */
static void advertise_address(struct app *app, char *buf, size_t len)
{
	const char *bind = app->flags.chatops_bind_address, *ip = NULL;
	char host[64] = "", probe[128];
	unsigned char a[16];
	size_t n;

	buf[0] = '\0';
	if (!app->chatops)
		return;
	if (app->flags.chatops_advertise_address) {
		snprintf(buf, len, "%s", app->flags.chatops_advertise_address);
		return;
	}
	/* HOST of HOST:PORT, [v6] brackets dropped */
	n = strrchr(bind, ':') ? (size_t)(strrchr(bind, ':') - bind) : 0;
	if (n >= 2 && bind[0] == '[' && n < sizeof(host) + 1)
		snprintf(host, sizeof(host), "%.*s", (int)(n - 2), bind + 1);
	else if (n < sizeof(host))
		snprintf(host, sizeof(host), "%.*s", (int)n, bind);
	if ((inet_pton(AF_INET, host, a) == 1 && strcmp(host, "0.0.0.0") != 0) ||
	    (inet_pton(AF_INET6, host, a) == 1 && strcmp(host, "::") != 0))
		ip = host;
	else
		ip = getenv("POD_IP");
	if (!ip || !*ip)
		return;
	snprintf(buf, len, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, kl_httpd_port(app->chatops));
	if (kl_chat_forward_url(buf, "/", "", probe, sizeof(probe)) < 0)
		buf[0] = '\0';
}

/*
 * Leader election, publishing our chat-ops address on the Lease; a follower forwards
 * its leader-only chat-ops requests to the address the leader published.
 */
static int start_election(struct app *app)
{
	char identity[160], address[128];

	if (!app->flags.leader_elect)
		return 0;
	advertise_address(app, address, sizeof(address));
	if (app->chatops && !address[0])
		kl_log_warn(&app->log, "main",
			    "no chat-ops address to publish: followers cannot forward to this "
			    "replica (set --chatops-advertise-address or POD_IP)");
	{
		struct kl_lease_opts lo = {
			.ns = app->own_ns,
			.name = app->flags.leader_elect_name,
			.identity = identity,
			.lease_ms = app->flags.lease_duration_ms,
			.renew_deadline_ms = app->flags.renew_deadline_ms,
			.retry_ms = app->flags.retry_period_ms,
			.annotation_key = address[0] ? KL_CHAT_FORWARD_ANNOTATION : NULL,
			.annotation_value = address[0] ? address : NULL,
		};

		kl_lease_default_identity(identity, sizeof(identity));
		app->lease = kl_lease_new(&app->loop, app->kube, &lo, &app->log, app->metrics,
					  on_leadership, app);
		if (!app->lease)
			return -ENOMEM;
	}
	if (app->chatops) {
		app->ctx.forward = kl_chat_forward_new(&app->loop, app->lease, &app->log,
						       app->metrics);
		if (!app->ctx.forward)
			return -ENOMEM;
	}
	return 0;
}

static int start_loop_parts(struct app *app, struct kl_error *err)
{
	struct kl_kube_opts kopts = { 0 };
	struct kl_informers_opts iopts = { 0 };
	const char *own;
	int rc;

	app->metrics = kl_metrics_new();
	if (!app->metrics)
		return -ENOMEM;
	kl_health_init(&app->health);
	kl_health_add(&app->health, "shutdown", check_shutdown, app);
	kl_health_add(&app->health, "controllers", check_controllers, app);
	kl_clock_init(&app->clock, &app->loop);
	app->ctx.loop = &app->loop;
	app->ctx.clock = &app->clock;
	app->ctx.log = &app->log;
	app->ctx.flags = &app->flags;
	app->ctx.config = &app->config;
	app->ctx.metrics = app->metrics;
	app->ctx.health = &app->health;
	app->ctx.controllers_enabled = app->enabled;
	app->ctx.controller_confs = app->confs;
	app->ctx.notify = new_notify(app);
	if (!app->ctx.notify)
		return -ENOMEM;
	app->ctx.silences = kl_silences_new(&app->ctx);
	if (!app->ctx.silences)
		return -ENOMEM;

	kopts.qps = app->flags.kube_api_qps;
	kopts.burst = app->flags.kube_api_burst;
	kopts.wire = app->flags.kube_api_protobuf ? KL_WIRE_PROTOBUF : KL_WIRE_JSON;
	rc = kl_kube_new(&app->loop, &app->kubeconfig, &kopts, &app->log, app->metrics, &app->kube,
			 err);
	if (rc < 0)
		return rc;
	iopts.objects.team_annotation = app->config.team_annotation;
	app->informers = kl_informers_new(&app->loop, app->kube, &iopts, &app->log, app->metrics);
	if (!app->informers)
		return -ENOMEM;
	kl_informers_add_health(app->informers, &app->health);
	app->ctx.kube = app->kube;
	app->ctx.informers = app->informers;

	/* where the Lease and the state live (docs/operations.md) */
	own = app->flags.leader_elect_namespace;
	if (!own || !*own)
		own = getenv("POD_NAMESPACE");
	if (!own || !*own)
		own = app->kubeconfig.namespace_;
	if (!own || !*own)
		own = "default";
	snprintf(app->own_ns, sizeof(app->own_ns), "%s", own);
	app->ctx.own_namespace = app->own_ns;
	if (app->flags.dry_run && app->flags.leader_elect) {
		/* a dry run writes nothing to the cluster, the Lease included: one that took
		 * the Lease would leave the real replicas idle as followers */
		kl_log_info(&app->log, "main", "dry run: leader election off, the Lease is not taken",
			    "lease", app->flags.leader_elect_name);
		app->flags.leader_elect = false;
	}
	rc = register_metrics(app);
	if (rc < 0)
		return rc;
	uv_signal_init(&app->loop, &app->sigterm);
	uv_signal_init(&app->loop, &app->sigint);
	app->sigterm.data = app;
	app->sigint.data = app;
	uv_signal_start(&app->sigterm, on_signal, SIGTERM);
	uv_signal_start(&app->sigint, on_signal, SIGINT);
	app->signals_ready = true;
	rc = open_servers(app, err);
	if (rc < 0)
		return rc;
	return start_election(app);
}

static void log_start(struct app *app)
{
	char enabled[256] = "";
	size_t i;

	for (i = 0; i < app->ncontrollers; i++) {
		if (!app->enabled[i])
			continue;
		if (enabled[0])
			strncat(enabled, ",", sizeof(enabled) - strlen(enabled) - 1);
		strncat(enabled, kl_controllers[i].name, sizeof(enabled) - strlen(enabled) - 1);
	}
	kl_log_info(&app->log, "main", "starting", "version", KL_VERSION, "controllers",
		    enabled[0] ? enabled : "none", "server", app->kubeconfig.server, "kubeconfig",
		    app->kubeconfig.source, "config",
		    app->config.path ? app->config.path : "(defaults)", "cluster",
		    app->config.cluster, "bind_address", app->flags.bind_address, "dry_run",
		    app->flags.dry_run ? "true" : "false");
}

static int run(struct app *app, const char *prog)
{
	struct kl_error err;
	char buf[1024];
	int rc, code;

	kl_error_clear(&err);
	rc = uv_loop_init(&app->loop);
	if (rc < 0) {
		fprintf(stderr, "%s: uv_loop_init: %s\n", prog, uv_strerror(rc));
		return 1;
	}
	log_start(app);
	rc = start_loop_parts(app, &err);
	code = rc < 0 ? 1 : init_controllers(app, &err);
	if (rc < 0 || code) {
		if (!kl_error_isset(&err))
			kl_error_set(&err, NULL, 0, 0, "start-up: %s", strerror(-rc));
		kl_log_error(&app->log, "main", "cannot start", "error",
			     kl_error_str(&err, buf, sizeof(buf)));
		app->exit_code = code ? code : 1;
		shutdown_app(app);
	} else {
		kl_log_info(&app->log, "main", "started", "bind_address", app->flags.bind_address);
	}
	uv_run(&app->loop, UV_RUN_DEFAULT);
	if (app->pending != 0) {
		kl_log_error(&app->log, "main", "loop ended with work pending");
		app->exit_code = 1;
	}
	rc = uv_loop_close(&app->loop);
	if (rc < 0) {
		kl_log_error(&app->log, "main", "loop did not close cleanly", "error",
			     uv_strerror(rc));
		app->exit_code = 1;
	}
	kl_metrics_free(app->metrics);
	if (app->exit_code == 0)
		kl_log_info(&app->log, "main", "stopped");
	return app->exit_code;
}

int main(int argc, char **argv)
{
	const char *prog = "kloompas";
	struct app app;
	struct kl_kube_config_opts kopts = { 0 };
	struct kl_error err;
	char help[512];
	int rc, code;

	memset(&app, 0, sizeof(app));
	kl_error_clear(&err);
	signal(SIGPIPE, SIG_IGN);
	app.ncontrollers = kl_controllers_count();
	kl_flags_init(&app.flags);
	kl_config_init(&app.config);

	if (kl_flags_parse(&app.flags, argc, argv, &err) < 0)
		return usage_error(prog, &err);
	if (app.flags.help) {
		char ctl[400];

		kl_controllers_help(ctl, sizeof(ctl));
		snprintf(help, sizeof(help), "Known controllers: %s.", ctl);
		kl_flags_usage(stdout, prog, help);
		return 0;
	}
	if (app.flags.version) {
		printf("kloompas %s\n", KL_VERSION);
		return 0;
	}
	if (kl_controllers_select(app.flags.controllers, app.enabled, &err) < 0)
		return usage_error(prog, &err);
	if (app.flags.chatops_advertise_address &&
	    kl_chat_forward_url(app.flags.chatops_advertise_address, "/", "", help,
				sizeof(help)) < 0) {
		kl_error_set(&err, NULL, 0, 0,
			     "--chatops-advertise-address: expected IP:PORT (a literal IPv4 or "
			     "[IPv6] address, port 1-65535), got \"%s\"",
			     app.flags.chatops_advertise_address);
		return usage_error(prog, &err);
	}
	if (app.flags.config && kl_config_load(&app.config, app.flags.config, &err) < 0) {
		kl_config_free(&app.config);
		return usage_error(prog, &err);
	}
	rc = kl_notifiers_configure(&app.config, &err);
	if (rc == 0)
		rc = kl_controllers_configure(&app.config, app.confs, &err);
	if (rc < 0) {
		kl_config_free(&app.config);
		if (rc == -ENOMEM)
			kl_error_set(&err, NULL, 0, 0, "out of memory");
		return rc == -ENOMEM ? 1 : usage_error(prog, &err);
	}
	kopts.kubeconfig = app.flags.kubeconfig;
	kopts.context = app.flags.context;
	kopts.master = app.flags.master;
	if (kl_kube_config_load(&app.kubeconfig, &kopts, &err) < 0) {
		kl_config_free(&app.config);
		kl_kube_config_free(&app.kubeconfig);
		return usage_error(prog, &err);
	}
	kl_log_init(&app.log, app.flags.log_format, app.flags.verbosity, stderr);
	code = run(&app, prog);
	kl_kube_config_free(&app.kubeconfig);
	kl_config_free(&app.config);
	return code;
}
