/*
 * test/tools/klctl.c - a tiny kubectl over kubeclient, for tests and benchmarks.
 *
 * The end-to-end tests drive kubeclient against a real API server through this
 * program and read its line-oriented output; the LIST benchmark times it against
 * curl. It is not installed and not part of the product.
 *
 *   klctl [--kubeconfig F] [--context C] [--master URL] [--qps Q] [--burst B] CMD ARGS
 *   get PATH [--repeat N --interval-ms MS]   -> "OK CODE KIND NAME RV" | "ERR ..."
 *   list PATH [--limit N|--unpaged] [--rv RV] [--query Q] [--names]
 *                                            -> "ITEM ns/name rv" (with --names),
 *                                               "ANSWER pages=P content_type=json|protobuf",
 *                                               "LIST items=N rv=RV" (last)
 *   watch PATH [--rv RV] [--timeout S] [--max N] [--query Q]
 *                                            -> "EVENT TYPE ns/name rv", "END ..."
 *   create|update PATH JSON, patch PATH JSON [--type merge|strategic|json], delete PATH
 *   scale NS DEPLOYMENT N, log NS POD CONTAINER [--previous] [--tail N]
 * A protobuf item or event prints "pb" for its name (klctl projects nothing) and its rv.
 * Also: --content-type json|protobuf (what LIST and WATCH ask for; json by default),
 * --sa-dir D (in-cluster files), --token-reread-ms MS, --http-version (prints
 * "HTTP 2" at the end), --metrics (prints the kloompas_apiserver_* metrics at the end).
 * Errors print "ERR errno=-E code=C reason=R message=M"; exit 1 on any error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "kubeclient/client.h"
#include "kubeclient/kubeconfig.h"
#include "kubeclient/pb.h"

struct app {
	uv_loop_t loop;
	struct kl_kube *kube;
	struct kl_log log;
	const char *cmd;
	char **args;
	int nargs;
	/* options */
	unsigned limit, timeout, max, repeat, interval_ms, tail;
	const char *query, *rv, *patch_type;
	int names, previous, show_version, show_metrics, unpaged;
	struct kl_metrics *metrics;
	/* state */
	unsigned items, events, done_count;
	struct kl_kube_req *req;
	uv_timer_t timer;
	int exit_code;
};

static void print_status(const struct kl_kube_status *st)
{
	printf("ERR errno=%d code=%d reason=%s message=%s\n", st->err, st->code,
	       st->reason[0] ? st->reason : "-", st->message[0] ? st->message : "-");
}

static void print_obj(const char *prefix, const struct kl_kobj *o)
{
	const struct kl_json *md = kl_json_get(o->json, "metadata");
	const char *ns = kl_json_str(kl_json_get(md, "namespace"), "");
	char rv[64];

	if (o->pb) {
		printf("%s pb %s\n", prefix, kl_kobj_rv(o, rv, sizeof(rv)) == 0 ? rv : "-");
		return;
	}
	printf("%s %s%s%s %s\n", prefix, ns, *ns ? "/" : "",
	       kl_json_str(kl_json_get(md, "name"), "-"),
	       kl_json_str(kl_json_get(md, "resourceVersion"), "-"));
}

static void finish(struct app *app)
{
	char *text;
	size_t len;

	if (app->show_version)
		printf("HTTP %d\n", kl_kube_http_version(app->kube));
	if (app->show_metrics && kl_metrics_render(app->metrics, &text, &len) == 0) {
		fwrite(text, 1, len, stdout);
		free(text);
	}
	fflush(stdout);
	kl_kube_close(app->kube, NULL, NULL);
	if (!uv_is_closing((uv_handle_t *)&app->timer))
		uv_close((uv_handle_t *)&app->timer, NULL);
}

static void start_get(struct app *app);
static void timer_get(uv_timer_t *t);

static void on_obj(void *arg, const struct kl_kube_status *st, const struct kl_json *obj)
{
	struct app *app = arg;

	if (st->err) {
		print_status(st);
		app->exit_code = 1;
	} else if (!obj) {
		printf("OK %d -\n", st->code);
	} else {
		const struct kl_json *md = kl_json_get(obj, "metadata");
		const struct kl_json *spec = kl_json_get(obj, "spec");
		int64_t replicas = -1;

		kl_json_int(kl_json_get(spec, "replicas"), &replicas);
		printf("OK %d %s %s %s replicas=%lld\n", st->code,
		       kl_json_str(kl_json_get(obj, "kind"), "-"),
		       kl_json_str(kl_json_get(md, "name"), "-"),
		       kl_json_str(kl_json_get(md, "resourceVersion"), "-"), (long long)replicas);
	}
	fflush(stdout);
	if (strcmp(app->cmd, "get") == 0 && ++app->done_count < app->repeat) {
		uv_timer_start(&app->timer, timer_get, app->interval_ms, 0);
		return;
	}
	finish(app);
}

static void start_get(struct app *app)
{
	int rc = kl_kube_get(app->kube, app->args[0], on_obj, app, NULL);

	if (rc < 0) {
		printf("ERR start %s\n", strerror(-rc));
		app->exit_code = 1;
		finish(app);
	}
}

static void timer_get(uv_timer_t *t)
{
	start_get(t->data);
}

static int on_item(void *arg, const struct kl_kobj *item, bool restart)
{
	struct app *app = arg;

	if (restart) {
		printf("RESTART after %u items\n", app->items);
		app->items = 0;
	}
	app->items++;
	if (app->names)
		print_obj("ITEM", item);
	return 0;
}

static void on_list(void *arg, const struct kl_kube_status *st,
		    const struct kl_kube_list_result *res)
{
	struct app *app = arg;

	if (st->err) {
		print_status(st);
		app->exit_code = 1;
	} else {
		printf("ANSWER pages=%u content_type=%s\n", res->pages,
		       res->protobuf ? "protobuf" : "json");
		printf("LIST items=%u rv=%s\n", app->items, res->resource_version);
	}
	finish(app);
}

static int on_event(void *arg, const char *type, const struct kl_kobj *obj)
{
	struct app *app = arg;
	char prefix[64], reason[64], message[256];
	int code = 0;

	if (strcmp(type, "ERROR") == 0 && obj->pb) {
		kl_pb_status(obj->pb, obj->len, &code, reason, sizeof(reason), message,
			     sizeof(message));
		printf("EVENT ERROR code=%d\n", code);
	} else if (strcmp(type, "ERROR") == 0) {
		printf("EVENT ERROR code=%s\n", kl_json_get(obj->json, "code") ?
		       kl_json_get(obj->json, "code")->str : "-");
	} else {
		snprintf(prefix, sizeof(prefix), "EVENT %s", type);
		print_obj(prefix, obj);
	}
	fflush(stdout);
	if (app->max && ++app->events >= app->max && app->req) {
		kl_kube_cancel(app->req);
		app->req = NULL;
	}
	return 0;
}

static void on_watch_done(void *arg, const struct kl_kube_status *st)
{
	struct app *app = arg;

	printf("END errno=%d code=%d reason=%s\n", st->err, st->code,
	       st->reason[0] ? st->reason : "-");
	if (st->err && st->err != -ECANCELED)
		app->exit_code = 1;
	finish(app);
}

static void on_text(void *arg, const struct kl_kube_status *st, const char *text, size_t len)
{
	struct app *app = arg;

	if (st->err) {
		print_status(st);
		app->exit_code = 1;
	} else {
		fwrite(text, 1, len, stdout);
	}
	finish(app);
}

static int need(struct app *app, int n)
{
	if (app->nargs < n) {
		fprintf(stderr, "klctl: %s needs %d arguments\n", app->cmd, n);
		return -EINVAL;
	}
	return 0;
}

static int start(struct app *app)
{
	const char *c = app->cmd;
	enum kl_kube_patch pt = KL_PATCH_MERGE;
	struct kl_kube_list_opts lo = { .query = app->query,
					.limit = app->limit,
					.unpaged = app->unpaged,
					.resource_version = app->rv,
					.protobuf = true };
	struct kl_kube_watch_opts wo = { .query = app->query,
					 .resource_version = app->rv,
					 .timeout_s = app->timeout,
					 .protobuf = true };

	if (strcmp(c, "get") == 0) {
		if (need(app, 1))
			return -EINVAL;
		start_get(app);
		return 0;
	}
	if (strcmp(c, "list") == 0)
		return need(app, 1) ?: kl_kube_list(app->kube, app->args[0], &lo, on_item, on_list,
						    app, &app->req);
	if (strcmp(c, "watch") == 0)
		return need(app, 1) ?: kl_kube_watch(app->kube, app->args[0], &wo, on_event,
						     on_watch_done, app, &app->req);
	if (strcmp(c, "create") == 0 || strcmp(c, "update") == 0) {
		if (need(app, 2))
			return -EINVAL;
		return (c[0] == 'c' ? kl_kube_create : kl_kube_update)(
			app->kube, app->args[0], app->args[1], strlen(app->args[1]), on_obj, app,
			NULL);
	}
	if (strcmp(c, "patch") == 0) {
		if (need(app, 2))
			return -EINVAL;
		if (app->patch_type && strcmp(app->patch_type, "strategic") == 0)
			pt = KL_PATCH_STRATEGIC;
		else if (app->patch_type && strcmp(app->patch_type, "json") == 0)
			pt = KL_PATCH_JSON;
		return kl_kube_patch(app->kube, app->args[0], pt, app->args[1],
				     strlen(app->args[1]), on_obj, app, NULL);
	}
	if (strcmp(c, "delete") == 0)
		return need(app, 1) ?: kl_kube_delete(app->kube, app->args[0], on_obj, app, NULL);
	if (strcmp(c, "scale") == 0)
		return need(app, 3) ?: kl_kube_scale(app->kube, app->args[0], app->args[1],
						     atoi(app->args[2]), on_obj, app, NULL);
	if (strcmp(c, "log") == 0)
		return need(app, 3) ?: kl_kube_pod_log(app->kube, app->args[0], app->args[1],
						       app->args[2], app->previous, app->tail, 0,
						       on_text, app, NULL);
	fprintf(stderr, "klctl: unknown command %s\n", c);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct app app;
	struct kl_kube_config cfg;
	struct kl_kube_config_opts copts;
	struct kl_kube_opts kopts;
	struct kl_error err;
	char buf[1024];
	char *pos[8];
	int i, rc, npos = 0;

	memset(&app, 0, sizeof(app));
	memset(&copts, 0, sizeof(copts));
	memset(&kopts, 0, sizeof(kopts));
	memset(&cfg, 0, sizeof(cfg));
	app.repeat = 1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
		if (OPT("--kubeconfig"))
			copts.kubeconfig = v;
		else if (OPT("--context"))
			copts.context = v;
		else if (OPT("--master"))
			copts.master = v;
		else if (OPT("--qps"))
			kopts.qps = atof(v);
		else if (OPT("--burst"))
			kopts.burst = (unsigned)atoi(v);
		else if (OPT("--limit"))
			app.limit = (unsigned)atoi(v);
		else if (OPT("--query"))
			app.query = v;
		else if (OPT("--rv"))
			app.rv = v;
		else if (OPT("--timeout"))
			app.timeout = (unsigned)atoi(v);
		else if (OPT("--max"))
			app.max = (unsigned)atoi(v);
		else if (OPT("--repeat"))
			app.repeat = (unsigned)atoi(v);
		else if (OPT("--interval-ms"))
			app.interval_ms = (unsigned)atoi(v);
		else if (OPT("--type"))
			app.patch_type = v;
		else if (OPT("--tail"))
			app.tail = (unsigned)atoi(v);
		else if (OPT("--sa-dir"))
			copts.sa_dir = v;
		else if (OPT("--content-type")) {
			if (strcmp(v, "json") && strcmp(v, "protobuf"))
				return fprintf(stderr, "klctl: --content-type json|protobuf\n"), 2;
			kopts.wire = strcmp(v, "protobuf") == 0 ? KL_WIRE_PROTOBUF : KL_WIRE_JSON;
		} else if (OPT("--token-reread-ms"))
			kopts.token_reread_ms = (uint64_t)atoll(v);
		else if (strcmp(a, "--http-version") == 0)
			app.show_version = 1;
		else if (strcmp(a, "--metrics") == 0)
			app.show_metrics = 1;
		else if (strcmp(a, "--unpaged") == 0)
			app.unpaged = 1;
		else if (strcmp(a, "--names") == 0)
			app.names = 1;
		else if (strcmp(a, "--previous") == 0)
			app.previous = 1;
		else if (a[0] == '-' && a[1] == '-')
			return fprintf(stderr, "klctl: bad option %s\n", a), 2;
		else if (npos < 8)
			pos[npos++] = argv[i];
#undef OPT
	}
	if (npos < 1)
		return fprintf(stderr, "klctl: no command\n"), 2;
	app.cmd = pos[0];
	app.args = pos + 1;
	app.nargs = npos - 1;
	kl_error_clear(&err);
	kl_log_init(&app.log, KL_LOG_TEXT, getenv("KLCTL_V") ? atoi(getenv("KLCTL_V")) : 0,
		    stderr);
	rc = kl_kube_config_load(&cfg, &copts, &err);
	if (rc < 0) {
		fprintf(stderr, "klctl: %s\n", kl_error_str(&err, buf, sizeof(buf)));
		kl_kube_config_free(&cfg);
		return 2;
	}
	uv_loop_init(&app.loop);
	uv_timer_init(&app.loop, &app.timer);
	app.timer.data = &app;
	app.metrics = kl_metrics_new();
	rc = kl_kube_new(&app.loop, &cfg, &kopts, &app.log, app.metrics, &app.kube, &err);
	if (rc < 0) {
		fprintf(stderr, "klctl: %s\n", kl_error_str(&err, buf, sizeof(buf)));
		return 1;
	}
	rc = start(&app);
	if (rc < 0) {
		printf("ERR start %s\n", strerror(-rc));
		app.exit_code = 1;
		finish(&app);
	}
	uv_run(&app.loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&app.loop);
	kl_kube_config_free(&cfg);
	kl_metrics_free(app.metrics);
	if (rc < 0) {
		fprintf(stderr, "klctl: loop not closed cleanly: %s\n", uv_strerror(rc));
		return 1;
	}
	return app.exit_code;
}
