/*
 * test/tools/klinform.c - one shared informer as a command, for the e2e tests.
 *
 * Runs the informer of a resource against a real API server and prints what its
 * handlers see, one line per call, flushed at once; on SIGTERM/SIGINT it prints the
 * cache and the reflector's counters and exits 0 once everything is closed. The
 * tests compare these lines with what they did to the cluster and with a fresh LIST.
 *
 *   klinform --kubeconfig KC [--ns NS] [--label SEL] [--field SEL]
 *            [--min-watch S --max-watch S] [--backoff-ms MS]
 *            [--content-type json|protobuf] [--full] pods|namespaces|deployments
 *   SYNCED n | ADD key rv | UPDATE key oldrv newrv | DELETE key rv unknown=0|1
 *   CACHE key rv ... (see dump; --full adds every projected field, for the JSON and
 *   protobuf differential test) | STATS lists=.. relists=.. watches=.. restarts=..
 *   fallbacks=.. list_rv=.. from=watch-cache|etcd content_type=..
 * --content-type sets the client's wire (kl_kube_opts.wire); json is the default.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "kubeclient/client.h"
#include "kubeclient/informer.h"
#include "kubeclient/kubeconfig.h"

struct app {
	uv_loop_t loop;
	struct kl_log log;
	struct kl_kube *kube;
	struct kl_informers *f;
	struct kl_informer *inf;
	enum kl_resource res;
	int full;
	uv_signal_t sigterm, sigint;
	int stopping;
};

static const char *key(const void *obj, char *buf, size_t len)
{
	const struct kl_meta *m = obj;

	snprintf(buf, len, "%s%s%s", m->ns, m->ns[0] ? "/" : "", kl_meta_name(m));
	return buf;
}

static void on_add(void *arg, const void *obj)
{
	char k[512];

	printf("ADD %s %llu\n", key(obj, k, sizeof(k)),
	       (unsigned long long)((const struct kl_meta *)obj)->rv);
	fflush(stdout);
}

static void on_update(void *arg, const void *old, const void *obj)
{
	char k[512];

	printf("UPDATE %s %llu %llu\n", key(obj, k, sizeof(k)),
	       (unsigned long long)((const struct kl_meta *)old)->rv,
	       (unsigned long long)((const struct kl_meta *)obj)->rv);
	fflush(stdout);
}

static void on_del(void *arg, const void *obj, bool unknown)
{
	char k[512];

	printf("DELETE %s %llu unknown=%d\n", key(obj, k, sizeof(k)),
	       (unsigned long long)((const struct kl_meta *)obj)->rv, unknown);
	fflush(stdout);
}

static void on_synced(void *arg)
{
	struct app *app = arg;

	printf("SYNCED %zu\n", kl_store_len(kl_informer_store(app->inf)));
	fflush(stdout);
}

static const char *s(const char *v)
{
	return v ? v : "-";
}

/* Every projected field beyond dump's (the --full form), one k=v each. */
static void dump_full(const struct app *app, const void *obj)
{
	const struct kl_meta *m = obj;
	char uid[KL_UID_MAX];
	unsigned i;

	printf(" uid=%s created=%u deleting_at=%u", kl_meta_uid(m, uid), m->created, m->deleting);
	if (app->res == KL_RES_PODS) {
		const struct kl_pod *p = obj;

		printf(" ready_changed=%u states=", p->ready_changed);
		for (i = 0; i < p->ncontainers; i++) {
			const struct kl_container *c = &p->containers[i];

			printf("%s%s:%s:%u:%u:%d:%s:%u:%d", i ? "," : "", c->name,
			       s(c->state.terminated_reason), c->state.running_since,
			       c->state.finished, c->state.exit_code, s(c->last.terminated_reason),
			       c->last.finished, c->last.exit_code);
		}
	} else if (app->res == KL_RES_DEPLOYMENTS) {
		const struct kl_deployment *d = obj;

		printf(" generation=%lld observed=%lld status=%d/%d/%d/%d min=%s max=%s"
		       " restore=%s restore_at=%s",
		       (long long)d->generation, (long long)d->observed_generation, d->replicas,
		       d->ready_replicas, d->available_replicas, d->updated_replicas,
		       s(d->min_replicas), s(d->max_replicas), s(d->restore_replicas),
		       s(d->restore_at));
	}
}

static void dump(void *arg, const void *obj)
{
	struct app *app = arg;
	char k[512];

	printf("CACHE %s %llu", key(obj, k, sizeof(k)),
	       (unsigned long long)((const struct kl_meta *)obj)->rv);
	if (app->res == KL_RES_PODS) {
		const struct kl_pod *p = obj;
		unsigned i;

		printf(" phase=%s ready=%d node=%s owner=%s/%s deleting=%d containers=",
		       kl_pod_phase_name(p->phase), p->ready, s(p->node), s(p->owner_kind),
		       s(p->owner_name), p->meta.deleting != 0);
		for (i = 0; i < p->ncontainers; i++) {
			const struct kl_container *c = &p->containers[i];

			printf("%s%s%s:%d:%d:%s:%d", i ? "," : "", c->init ? "init:" : "", c->name,
			       c->ready, c->restarts, s(c->state.waiting_reason),
			       c->last.terminated_reason ? c->last.exit_code : -1);
		}
	} else if (app->res == KL_RES_NAMESPACES) {
		const struct kl_namespace *n = obj;

		printf(" team=%s terminating=%d", s(n->team), n->terminating);
	} else {
		const struct kl_deployment *d = obj;

		printf(" replicas=%d ready=%d", d->spec_replicas, d->ready_replicas);
	}
	if (app->full)
		dump_full(app, obj);
	printf("\n");
}

static void stopped(void *arg)
{
	struct app *app = arg;

	kl_kube_close(app->kube, NULL, NULL);
}

static void on_signal(uv_signal_t *h, int sig)
{
	struct app *app = h->data;
	struct kl_reflector_stats st;

	if (app->stopping++)
		return;
	kl_store_foreach(kl_informer_store(app->inf), dump, app);
	kl_informer_stats(app->inf, &st);
	printf("STATS lists=%u relists=%u watches=%u restarts=%u errors=%u rv=%s fallbacks=%u "
	       "list_rv=%s from=%s content_type=%s\n",
	       st.lists, st.relists, st.watches, st.watch_restarts, st.errors, st.last_rv,
	       st.fallbacks, st.list_rv[0] ? st.list_rv : "-", s(st.list_from),
	       st.content_type && st.content_type[0] ? st.content_type : "-");
	fflush(stdout);
	uv_close((uv_handle_t *)&app->sigterm, NULL);
	uv_close((uv_handle_t *)&app->sigint, NULL);
	kl_informers_stop(app->f, stopped, app);
}

int main(int argc, char **argv)
{
	struct app app;
	struct kl_kube_config cfg;
	struct kl_kube_config_opts copts = { 0 };
	struct kl_informers_opts iopts = { 0 };
	struct kl_kube_opts kopts = { 0 };
	struct kl_informer_scope scope = { 0 };
	struct kl_informer_handler h = { on_add, on_update, on_del, on_synced, NULL };
	struct kl_error err;
	const char *what = NULL;
	char buf[1024];
	int i;

	memset(&app, 0, sizeof(app));
	memset(&cfg, 0, sizeof(cfg));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
		if (OPT("--kubeconfig"))
			copts.kubeconfig = v;
		else if (OPT("--ns"))
			scope.ns = v;
		else if (OPT("--label"))
			scope.label_selector = v;
		else if (OPT("--field"))
			scope.field_selector = v;
		else if (OPT("--min-watch"))
			iopts.min_watch_s = (unsigned)atoi(v);
		else if (OPT("--max-watch"))
			iopts.max_watch_s = (unsigned)atoi(v);
		else if (OPT("--backoff-ms"))
			iopts.backoff_initial_ms = iopts.backoff_max_ms = (uint64_t)atoll(v);
		else if (OPT("--team-annotation"))
			iopts.objects.team_annotation = v;
		else if (OPT("--content-type")) {
			if (strcmp(v, "json") && strcmp(v, "protobuf"))
				return fprintf(stderr, "klinform: json|protobuf\n"), 2;
			kopts.wire = strcmp(v, "protobuf") == 0 ? KL_WIRE_PROTOBUF : KL_WIRE_JSON;
		}
		else if (strcmp(a, "--full") == 0)
			app.full = 1;
		else if (a[0] != '-')
			what = a;
		else
			return fprintf(stderr, "klinform: bad option %s\n", a), 2;
#undef OPT
	}
	if (!what)
		return fprintf(stderr, "klinform: which resource?\n"), 2;
	app.res = strcmp(what, "pods") == 0	    ? KL_RES_PODS
		  : strcmp(what, "namespaces") == 0 ? KL_RES_NAMESPACES
		  : strcmp(what, "deployments") == 0 ? KL_RES_DEPLOYMENTS
						    : 0;
	if (!app.res)
		return fprintf(stderr, "klinform: unknown resource %s\n", what), 2;
	kl_error_clear(&err);
	kl_log_init(&app.log, KL_LOG_TEXT, getenv("KLINFORM_V") ? atoi(getenv("KLINFORM_V")) : 0,
		    stderr);
	if (kl_kube_config_load(&cfg, &copts, &err) < 0) {
		fprintf(stderr, "klinform: %s\n", kl_error_str(&err, buf, sizeof(buf)));
		return 2;
	}
	uv_loop_init(&app.loop);
	if (kl_kube_new(&app.loop, &cfg, &kopts, &app.log, NULL, &app.kube, &err) < 0)
		return fprintf(stderr, "klinform: %s\n", kl_error_str(&err, buf, sizeof(buf))), 1;
	app.f = kl_informers_new(&app.loop, app.kube, &iopts, &app.log, NULL);
	app.inf = app.f ? kl_informers_get(app.f, app.res, &scope) : NULL;
	if (!app.inf)
		return fprintf(stderr, "klinform: out of memory\n"), 1;
	h.arg = &app;
	kl_informer_add_handler(app.inf, &h);
	uv_signal_init(&app.loop, &app.sigterm);
	uv_signal_init(&app.loop, &app.sigint);
	app.sigterm.data = app.sigint.data = &app;
	uv_signal_start(&app.sigterm, on_signal, SIGTERM);
	uv_signal_start(&app.sigint, on_signal, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	kl_informers_start(app.f);
	uv_run(&app.loop, UV_RUN_DEFAULT);
	i = uv_loop_close(&app.loop);
	kl_kube_config_free(&cfg);
	if (i < 0)
		return fprintf(stderr, "klinform: loop not closed: %s\n", uv_strerror(i)), 1;
	return 0;
}
