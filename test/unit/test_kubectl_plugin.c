/*
 * test/unit/test_kubectl_plugin.c - kubectl-kloompas without a cluster: its command line,
 * the records and annotations it reads (hand-made objects in the shapes Kloompas and the
 * API server write), kubectl's ages, and the table, JSON and YAML it prints.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* after what it needs: cmocka.h includes nothing itself */
#include <cmocka.h>

#include "cmd/kubectl-kloompas/plugin.h"

/* 2026-12-07T12:00:00Z */
#define NOW 1796644800

/* ---------------------------------------------------------------- helpers */

typedef int (*add_fn)(struct kl_plugin_status *st, const struct kl_json *o);

struct feed {
	struct kl_plugin_status *st;
	add_fn add;
	const char *alerts_ns;
	bool state;
};

static int on_doc(void *arg, enum kl_json_what what, const struct kl_json *o)
{
	struct feed *f = arg;

	if (f->state)
		return kl_plugin_status_add_state(f->st, o, f->alerts_ns);
	return f->add(f->st, o);
}

/* Decodes json and hands it to add (or to add_state when add is NULL). */
static void feed(struct kl_plugin_status *st, add_fn add, const char *alerts_ns, const char *json)
{
	struct feed f = {st, add, alerts_ns, add == NULL};
	struct kl_json_stream *js = kl_json_stream_new(KL_JSON_DOCUMENT, 0, on_doc, &f);
	struct kl_error err;

	assert_non_null(js);
	kl_error_clear(&err);
	assert_int_equal(kl_json_stream_feed(js, json, strlen(json), &err), 0);
	assert_int_equal(kl_json_stream_finish(js, &err), 0);
	kl_json_stream_free(js);
}

static int parse(struct kl_plugin_args *a, struct kl_error *err, ...)
{
	char *argv[16] = {"kubectl-kloompas"};
	int argc = 1;
	va_list ap;
	char *s;

	va_start(ap, err);
	while ((s = va_arg(ap, char *)) && argc < 15)
		argv[argc++] = s;
	va_end(ap);
	kl_error_clear(err);
	return kl_plugin_args_parse(a, argc, argv, err);
}

/* What a renderer printed, as a new string (free it). */
static char *render(int (*fn)(FILE *, const struct kl_plugin_status *, void *),
		    const struct kl_plugin_status *st, void *arg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	assert_int_equal(fn(out, st, arg), 0);
	fclose(out);
	return text;
}

struct how {
	enum kl_plugin_cmd cmd;
	enum kl_plugin_output fmt;
};

static int render_how(FILE *out, const struct kl_plugin_status *st, void *arg)
{
	const struct how *h = arg;

	if (h->fmt == KL_PLUGIN_TABLE)
		return kl_plugin_render_table(out, h->cmd, st);
	return kl_plugin_render_data(out, h->cmd, h->fmt, st);
}

static char *output(const struct kl_plugin_status *st, enum kl_plugin_cmd cmd,
		    enum kl_plugin_output fmt)
{
	struct how h = {cmd, fmt};

	return render(render_how, st, &h);
}

static const char *const STATE =
    "{\"kind\":\"ConfigMap\",\"data\":{"
    "\"crash-watcher.team-b\":\"{\\\"state\\\":\\\"firing\\\",\\\"since\\\":1796644500123,"
    "\\\"cleared\\\":0,\\\"notified\\\":\\\"firing\\\",\\\"notifiedAt\\\":1796644501000,"
    "\\\"summary\\\":\\\"2 pods in CrashLoopBackOff\\\",\\\"to\\\":[]}\","
    "\"notready-watcher.team-a\":\"{\\\"state\\\":\\\"pending\\\",\\\"since\\\":1796637600000,"
    "\\\"summary\\\":\\\"40% not ready\\\"}\","
    "\"crash-watcher.team-a\":\"{\\\"state\\\":\\\"resolving\\\",\\\"since\\\":1796644795000}\","
    "\"silence.team-a\":\"{\\\"until\\\":1796648400000}\","
    "\"crash-watcher.team-c\":\"not json\","
    "\"nodot\":\"{\\\"state\\\":\\\"firing\\\",\\\"since\\\":1}\"}}";

static const char *const LEASE =
    "{\"kind\":\"Lease\",\"spec\":{\"holderIdentity\":\"kloompas-6d4f-x2b9_3f1c9a\","
    "\"leaseDurationSeconds\":15,\"acquireTime\":\"2026-12-07T11:55:00.000000Z\","
    "\"renewTime\":\"2026-12-07T11:59:58.123456Z\",\"leaseTransitions\":2}}";

#define DEPLOY(NS, NAME, ANN, REPLICAS)                                                            \
	"{\"metadata\":{\"namespace\":\"" NS "\",\"name\":\"" NAME "\",\"annotations\":{" ANN      \
	"}},\"spec\":{\"replicas\":" REPLICAS "}}"

/* A status as the e2e test sees one: a leader, two pods, three alerts, two restores. */
static void sample(struct kl_plugin_status *st)
{
	kl_plugin_status_init(st, "kloompas", NOW);
	feed(st, kl_plugin_status_add_lease, NULL, LEASE);
	feed(st, kl_plugin_status_add_kloompas, NULL,
	     "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"kloompas\","
	     "\"args\":[\"--config=/etc/kloompas/config.yaml\","
	     "\"--controllers=crash-watcher,notready-watcher\"]}]}}}}");
	feed(st, kl_plugin_status_add_pod, NULL,
	     "{\"metadata\":{\"name\":\"kloompas-6d4f-x2b9\"},\"status\":{\"phase\":\"Running\","
	     "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
	feed(st, kl_plugin_status_add_pod, NULL,
	     "{\"metadata\":{\"name\":\"kloompas-6d4f-q7c1\"},\"status\":{\"phase\":\"Pending\","
	     "\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}");
	feed(st, NULL, NULL, STATE);
	feed(st, kl_plugin_status_add_deployment, NULL,
	     DEPLOY("shop", "web",
		    "\"kloompas.io/restore-replicas\":\"2\","
		    "\"kloompas.io/restore-at\":\"2026-12-07T14:00:00Z\"",
		    "6"));
	feed(st, kl_plugin_status_add_deployment, NULL,
	     DEPLOY("shop", "api",
		    "\"kloompas.io/restore-replicas\":\"1\","
		    "\"kloompas.io/restore-at\":\"2026-12-07T12:05:30Z\"",
		    "3"));
	kl_plugin_status_sort(st);
}

/* ---------------------------------------------------------------- arguments */

static void test_args_defaults_and_commands(void **unused)
{
	struct kl_plugin_args a;
	struct kl_error err;

	assert_int_equal(parse(&a, &err, NULL), 0);
	assert_int_equal(a.cmd, KL_PLUGIN_STATUS);
	assert_int_equal(a.output, KL_PLUGIN_TABLE);
	assert_string_equal(a.namespace_, "kloompas");
	assert_string_equal(a.lease_name, "kloompas");
	assert_null(a.kubeconfig);
	assert_null(a.context);
	assert_null(a.alerts_ns);

	assert_int_equal(parse(&a, &err, "alerts", NULL), 0);
	assert_int_equal(a.cmd, KL_PLUGIN_ALERTS);
	assert_null(a.alerts_ns);
	assert_int_equal(parse(&a, &err, "alerts", "team-a", NULL), 0);
	assert_string_equal(a.alerts_ns, "team-a");
	assert_int_equal(parse(&a, &err, "restores", NULL), 0);
	assert_int_equal(a.cmd, KL_PLUGIN_RESTORES);
	assert_int_equal(parse(&a, &err, "version", NULL), 0);
	assert_true(a.version);
	assert_int_equal(parse(&a, &err, "help", NULL), 0);
	assert_int_equal(a.cmd, KL_PLUGIN_HELP);
	/* --help wins wherever it is, over anything else typed */
	assert_int_equal(parse(&a, &err, "status", "extra", "-h", NULL), -EINVAL);
	assert_int_equal(parse(&a, &err, "-h", "status", "extra", NULL), 0);
	assert_int_equal(a.cmd, KL_PLUGIN_HELP);
	assert_int_equal(parse(&a, &err, "alerts", "--help", NULL), 0);
	assert_int_equal(a.cmd, KL_PLUGIN_HELP);
}

static void test_args_flag_forms(void **unused)
{
	struct kl_plugin_args a;
	struct kl_error err;
	static const char *const ns_forms[][2] = {
	    {"-n", "ops"},	    {"-nops", NULL},	       {"-n=ops", NULL},
	    {"--namespace", "ops"}, {"--namespace=ops", NULL},
	};
	size_t i;

	for (i = 0; i < sizeof(ns_forms) / sizeof(ns_forms[0]); i++) {
		assert_int_equal(parse(&a, &err, "status", ns_forms[i][0], ns_forms[i][1], NULL),
				 0);
		assert_string_equal(a.namespace_, "ops");
	}
	/* flags before and after the command, kubectl's output names */
	assert_int_equal(parse(&a, &err, "-o", "json", "alerts", "team-a", "--context", "prod",
			       "--kubeconfig=/k", "--lease-name", "kl", NULL),
			 0);
	assert_int_equal(a.cmd, KL_PLUGIN_ALERTS);
	assert_int_equal(a.output, KL_PLUGIN_JSON);
	assert_string_equal(a.alerts_ns, "team-a");
	assert_string_equal(a.context, "prod");
	assert_string_equal(a.kubeconfig, "/k");
	assert_string_equal(a.lease_name, "kl");
	assert_int_equal(parse(&a, &err, "--output=yaml", NULL), 0);
	assert_int_equal(a.output, KL_PLUGIN_YAML);
	assert_int_equal(parse(&a, &err, "-oyaml", "-o", "table", NULL), 0);
	assert_int_equal(a.output, KL_PLUGIN_TABLE);
	/* after "--" a word that looks like a flag is a namespace */
	assert_int_equal(parse(&a, &err, "alerts", "--", "-odd", NULL), 0);
	assert_string_equal(a.alerts_ns, "-odd");
}

static void test_args_errors_name_the_problem(void **unused)
{
	static const struct {
		const char *args[4];
		const char *msg;
	} cases[] = {
	    {{"stauts"},
	     "unknown command \"stauts\" (want status, alerts, restores or "
	     "version)"},
	    {{"status", "--bogus"}, "unknown flag \"--bogus\" (see --help)"},
	    {{"status", "--bogus=1"}, "unknown flag \"--bogus\" (see --help)"},
	    {{"-x"}, "unknown shorthand flag 'x' in \"-x\""},
	    {{"-o", "xml"}, "--output: unknown format \"xml\" (want table, json or yaml)"},
	    {{"status", "-n"}, "--namespace: needs a value (NS)"},
	    {{"--namespace="}, "--namespace: needs a non-empty value"},
	    {{"alerts", "a", "b"}, "unexpected argument \"b\""},
	    {{"status", "team-a"}, "unexpected argument \"team-a\""},
	    {{"restores", "x"}, "unexpected argument \"x\""},
	    {{"--help=yes"}, "--help: takes no value"},
	    {{"alerts", "--", ""}, "alerts: the namespace must not be empty"},
	};
	struct kl_plugin_args a;
	struct kl_error err;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[6] = {"kubectl-kloompas"};
		int argc = 1, j;

		for (j = 0; j < 4 && cases[i].args[j]; j++)
			argv[argc++] = (char *)cases[i].args[j];
		kl_error_clear(&err);
		assert_int_equal(kl_plugin_args_parse(&a, argc, argv, &err), -EINVAL);
		assert_string_equal(err.msg, cases[i].msg);
	}
}

static void test_usage_lists_every_flag(void **unused)
{
	static const char *const want[] = {
	    "-n, --namespace NS", "-o, --output FORMAT", "--context NAME",
	    "--kubeconfig PATH",  "--lease-name NAME",	 "kubectl kloompas alerts [NAMESPACE]",
	};
	char *p, *nl;
	size_t i;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	kl_plugin_usage(out);
	fclose(out);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_non_null(strstr(text, want[i]));
	/* every line fits in 100 columns */
	for (p = text; (nl = strchr(p, '\n')); p = nl + 1)
		assert_true(nl - p <= 100);
	free(text);
}

/* ---------------------------------------------------------------- ages */

static void test_age_like_kubectl(void **unused)
{
	static const struct {
		int64_t s;
		const char *want;
	} cases[] = {
	    {-5, "<invalid>"}, {-1, "0s"},	 {0, "0s"},	     {59, "59s"},
	    {119, "119s"},     {120, "2m"},	 {330, "5m30s"},     {599, "9m59s"},
	    {600, "10m"},      {10799, "179m"},	 {10800, "3h"},	     {11100, "3h5m"},
	    {28800, "8h"},     {172799, "47h"},	 {172800, "2d"},     {190800, "2d5h"},
	    {691200, "8d"},    {63072000, "2y"}, {63158400, "2y1d"}, {252288000, "8y"},
	};
	char buf[32];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(kl_plugin_age(cases[i].s, buf, sizeof(buf)), cases[i].want);
}

/* ---------------------------------------------------------------- reading objects */

static void test_state_records(void **unused)
{
	struct kl_plugin_status st;

	kl_plugin_status_init(&st, "kloompas", NOW);
	feed(&st, NULL, NULL, STATE);
	/* sorted by namespace then controller; silences, bad JSON, keys without a dot skipped */
	assert_int_equal(st.nalerts, 3);
	assert_int_equal(st.skipped_records, 3);
	assert_string_equal(st.alerts[0].namespace_, "team-a");
	assert_string_equal(st.alerts[0].controller, "crash-watcher");
	assert_string_equal(st.alerts[0].state, "resolving");
	assert_string_equal(st.alerts[0].summary, "");
	assert_int_equal(st.alerts[0].since, 1796644795);
	assert_string_equal(st.alerts[1].controller, "notready-watcher");
	assert_string_equal(st.alerts[1].state, "pending");
	assert_string_equal(st.alerts[2].namespace_, "team-b");
	assert_string_equal(st.alerts[2].state, "firing");
	assert_string_equal(st.alerts[2].summary, "2 pods in CrashLoopBackOff");
	assert_int_equal(st.alerts[2].since, 1796644500); /* milliseconds in the record */
	kl_plugin_status_free(&st);

	kl_plugin_status_init(&st, "kloompas", NOW);
	feed(&st, NULL, "team-b", STATE);
	assert_int_equal(st.nalerts, 1);
	assert_string_equal(st.alerts[0].namespace_, "team-b");
	feed(&st, NULL, "team-b", "{\"kind\":\"ConfigMap\"}"); /* no data yet */
	assert_int_equal(st.nalerts, 1);
	kl_plugin_status_free(&st);
}

static void test_lease_pods_and_controllers(void **unused)
{
	struct kl_plugin_status st;

	sample(&st);
	assert_true(st.have_lease);
	assert_string_equal(st.holder, "kloompas-6d4f-x2b9_3f1c9a");
	assert_int_equal(st.renew_time, NOW - 2);
	assert_int_equal(st.acquire_time, NOW - 300);
	assert_int_equal(st.lease_duration_s, 15);
	assert_int_equal(st.npods, 2);
	assert_true(st.pods[0].ready);
	assert_false(st.pods[1].ready);
	assert_string_equal(st.pods[1].phase, "Pending");
	assert_true(st.have_deployment);
	assert_string_equal(st.controllers_arg, "crash-watcher,notready-watcher");
	/* a released Lease has no holder */
	feed(&st, kl_plugin_status_add_lease, NULL, "{\"spec\":{\"holderIdentity\":\"\"}}");
	assert_null(st.holder);
	assert_int_equal(st.renew_time, 0);
	/* "--controllers LIST" as two words, and the default when absent */
	feed(&st, kl_plugin_status_add_kloompas, NULL,
	     "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"args\":[\"--controllers\","
	     "\"*,-replica-enforcer\"]}]}}}}");
	assert_string_equal(st.controllers_arg, "*,-replica-enforcer");
	feed(&st, kl_plugin_status_add_kloompas, NULL,
	     "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"kloompas\"}]}}}}");
	assert_string_equal(st.controllers_arg, "*");
	kl_plugin_status_drop(&st, true);
	assert_int_equal(st.npods, 0);
	kl_plugin_status_free(&st);
}

static void test_restore_annotations(void **unused)
{
	struct kl_plugin_status st;

	sample(&st);
	/* sorted by due time */
	assert_int_equal(st.nrestores, 2);
	assert_string_equal(st.restores[0].deployment, "api");
	assert_int_equal(st.restores[0].replicas, 1);
	assert_int_equal(st.restores[0].current, 3);
	assert_int_equal(st.restores[0].at, NOW + 330);
	assert_string_equal(st.restores[1].namespace_, "shop");
	assert_string_equal(st.restores[1].at_text, "2026-12-07T14:00:00Z");
	/* not restores: no annotations, one of the two, a count that is not one */
	feed(&st, kl_plugin_status_add_deployment, NULL, DEPLOY("a", "b", "", "1"));
	feed(&st, kl_plugin_status_add_deployment, NULL,
	     DEPLOY("a", "b", "\"kloompas.io/restore-replicas\":\"2\"", "1"));
	feed(&st, kl_plugin_status_add_deployment, NULL,
	     DEPLOY("a", "b",
		    "\"kloompas.io/restore-replicas\":\"two\","
		    "\"kloompas.io/restore-at\":\"2026-12-07T14:00:00Z\"",
		    "1"));
	assert_int_equal(st.nrestores, 2);
	/* an unreadable time is kept as written */
	feed(&st, kl_plugin_status_add_deployment, NULL,
	     DEPLOY("a", "b",
		    "\"kloompas.io/restore-replicas\":\"2\",\"kloompas.io/restore-at\":\"soon\"",
		    "1"));
	assert_int_equal(st.nrestores, 3);
	assert_int_equal(st.restores[2].at, 0);
	kl_plugin_status_drop(&st, false);
	assert_int_equal(st.nrestores, 0);
	kl_plugin_status_free(&st);
}

/* ---------------------------------------------------------------- output */

static void test_table_status(void **unused)
{
	struct kl_plugin_status st;
	char *text;

	sample(&st);
	text = output(&st, KL_PLUGIN_STATUS, KL_PLUGIN_TABLE);
	assert_string_equal(
	    text, "Namespace:    kloompas\n"
		  "Leader:       kloompas-6d4f-x2b9_3f1c9a (leading for 5m, renewed 2s ago)\n"
		  "Replicas:     2 pods, 1 ready: kloompas-6d4f-x2b9 (leader), kloompas-6d4f-q7c1 "
		  "(not ready)\n"
		  "Controllers:  crash-watcher,notready-watcher (--controllers of deployment "
		  "kloompas/kloompas)\n"
		  "With alerts:  crash-watcher, notready-watcher\n"
		  "\n"
		  "Alerts:\n"
		  "NAMESPACE   CONTROLLER         STATE       AGE    SUMMARY\n"
		  "team-a      crash-watcher      resolving   5s     \n"
		  "team-a      notready-watcher   pending     120m   40% not ready\n"
		  "team-b      crash-watcher      firing      5m     2 pods in CrashLoopBackOff\n"
		  "\n"
		  "Pending restores:\n"
		  "NAMESPACE   DEPLOYMENT   REPLICAS   RESTORE-TO   AT                     IN\n"
		  "shop        api          3          1            2026-12-07T12:05:30Z   5m30s\n"
		  "shop        web          6          2            2026-12-07T14:00:00Z   120m\n");
	free(text);
	kl_plugin_status_free(&st);
}

static void test_table_empty_and_missing(void **unused)
{
	struct kl_plugin_status st;
	char *text;

	kl_plugin_status_init(&st, "ops", NOW);
	text = output(&st, KL_PLUGIN_STATUS, KL_PLUGIN_TABLE);
	assert_string_equal(text, "Namespace:    ops\n"
				  "Leader:       none (no Lease ops: is Kloompas running with "
				  "--leader-elect?)\n"
				  "Replicas:     0 pods, 0 ready (no pods labelled "
				  "app.kubernetes.io/name=kloompas)\n"
				  "Controllers:  unknown (no deployment ops/kloompas)\n"
				  "With alerts:  none\n"
				  "\n"
				  "Alerts:\n"
				  "No alerts.\n"
				  "\n"
				  "Pending restores:\n"
				  "No pending restores.\n");
	free(text);
	text = output(&st, KL_PLUGIN_ALERTS, KL_PLUGIN_TABLE);
	assert_string_equal(text, "No alerts.\n");
	free(text);
	/* an overdue restore (Kloompas down when it fell due) says so */
	feed(&st, kl_plugin_status_add_deployment, NULL,
	     DEPLOY("a", "b",
		    "\"kloompas.io/restore-replicas\":\"2\","
		    "\"kloompas.io/restore-at\":\"2026-12-07T11:59:00Z\"",
		    "4"));
	text = output(&st, KL_PLUGIN_RESTORES, KL_PLUGIN_TABLE);
	assert_non_null(strstr(text, "2026-12-07T11:59:00Z   overdue 60s\n"));
	free(text);
	kl_plugin_status_free(&st);
}

/* The JSON is parsed back; the fields scripts rely on are checked by value. */
struct json_check {
	int seen;
};

static int check_status_json(void *arg, enum kl_json_what what, const struct kl_json *o)
{
	struct json_check *c = arg;
	const struct kl_json *alerts = kl_json_get(o, "alerts"), *restores, *a, *r;

	assert_string_equal(kl_json_str(kl_json_get(o, "namespace"), ""), "kloompas");
	assert_string_equal(kl_json_str(kl_json_path(o, "leader", "identity", NULL), ""),
			    "kloompas-6d4f-x2b9_3f1c9a");
	assert_string_equal(kl_json_str(kl_json_path(o, "leader", "renewTime", NULL), ""),
			    "2026-12-07T11:59:58Z");
	assert_string_equal(kl_json_str(kl_json_path(o, "controllers", "enabled", NULL), ""),
			    "crash-watcher,notready-watcher");
	assert_int_equal(kl_json_path(o, "replicas", "items", NULL)->n, 2);
	assert_int_equal(alerts->n, 3);
	a = alerts->child->next->next;
	assert_string_equal(kl_json_str(kl_json_get(a, "controller"), ""), "crash-watcher");
	assert_string_equal(kl_json_str(kl_json_get(a, "namespace"), ""), "team-b");
	assert_string_equal(kl_json_str(kl_json_get(a, "state"), ""), "firing");
	assert_string_equal(kl_json_str(kl_json_get(a, "since"), ""), "2026-12-07T11:55:00Z");
	restores = kl_json_get(o, "restores");
	assert_int_equal(restores->n, 2);
	r = restores->child;
	assert_string_equal(kl_json_str(kl_json_get(r, "namespace"), ""), "shop");
	assert_string_equal(kl_json_str(kl_json_get(r, "deployment"), ""), "api");
	assert_string_equal(kl_json_get(r, "replicas")->str, "1");
	assert_string_equal(kl_json_get(r, "currentReplicas")->str, "3");
	assert_string_equal(kl_json_str(kl_json_get(r, "at"), ""), "2026-12-07T12:05:30Z");
	c->seen++;
	return 0;
}

static void test_json_status(void **unused)
{
	struct kl_plugin_status st;
	struct json_check c = {0};
	struct kl_json_stream *js;
	struct kl_error err;
	char *text;

	sample(&st);
	text = output(&st, KL_PLUGIN_STATUS, KL_PLUGIN_JSON);
	js = kl_json_stream_new(KL_JSON_DOCUMENT, 0, check_status_json, &c);
	assert_non_null(js);
	kl_error_clear(&err);
	assert_int_equal(kl_json_stream_feed(js, text, strlen(text), &err), 0);
	assert_int_equal(kl_json_stream_finish(js, &err), 0);
	assert_int_equal(c.seen, 1);
	assert_string_equal(text + strlen(text) - 4, "]\n}\n"); /* one newline at the end */
	kl_json_stream_free(js);
	free(text);
	/* alerts and restores carry only their own list */
	text = output(&st, KL_PLUGIN_ALERTS, KL_PLUGIN_JSON);
	assert_null(strstr(text, "\"restores\""));
	assert_null(strstr(text, "\"leader\""));
	assert_non_null(strstr(text, "\"alerts\": ["));
	free(text);
	text = output(&st, KL_PLUGIN_RESTORES, KL_PLUGIN_JSON);
	assert_null(strstr(text, "\"alerts\""));
	assert_non_null(strstr(text, "\"restores\": ["));
	free(text);
	kl_plugin_status_free(&st);
	/* no Lease: leader is null; no Deployment: controllers.enabled is null */
	kl_plugin_status_init(&st, "ops", NOW);
	text = output(&st, KL_PLUGIN_STATUS, KL_PLUGIN_JSON);
	assert_non_null(strstr(text, "\"leader\": null"));
	assert_non_null(strstr(text, "\"enabled\": null"));
	free(text);
	kl_plugin_status_free(&st);
}

static void test_yaml_restores_and_quoting(void **unused)
{
	struct kl_plugin_status st;
	char *text;

	kl_plugin_status_init(&st, "kloompas", NOW);
	feed(&st, kl_plugin_status_add_deployment, NULL,
	     DEPLOY("true", "123",
		    "\"kloompas.io/restore-replicas\":\"2\","
		    "\"kloompas.io/restore-at\":\"2026-12-07T14:00:00Z\"",
		    "5"));
	text = output(&st, KL_PLUGIN_RESTORES, KL_PLUGIN_YAML);
	/* strings a YAML reader would take for a bool, a number or a time are quoted */
	assert_string_equal(text, "namespace: kloompas\n"
				  "restores:\n"
				  "- namespace: \"true\"\n"
				  "  deployment: \"123\"\n"
				  "  replicas: 2\n"
				  "  currentReplicas: 5\n"
				  "  at: \"2026-12-07T14:00:00Z\"\n");
	free(text);
	kl_plugin_status_free(&st);

	sample(&st);
	text = output(&st, KL_PLUGIN_STATUS, KL_PLUGIN_YAML);
	assert_non_null(strstr(text, "leader:\n  identity: kloompas-6d4f-x2b9_3f1c9a\n"
				     "  renewTime: \"2026-12-07T11:59:58Z\"\n"));
	assert_non_null(strstr(text, "- controller: crash-watcher\n  namespace: team-b\n"
				     "  state: firing\n  since: \"2026-12-07T11:55:00Z\"\n"));
	assert_non_null(strstr(text, "  summary: \"40% not ready\"\n"));
	assert_non_null(strstr(text, "    ready: false\n"));
	assert_non_null(strstr(text, "  summary: \"\"\n")); /* empty: quoted, not null */
	free(text);
	kl_plugin_status_free(&st);
}

static void test_write_failure_is_reported(void **unused)
{
	struct kl_plugin_status st;
	FILE *full = fopen("/dev/full", "w");

	assert_non_null(full);
	sample(&st);
	assert_int_equal(kl_plugin_render_table(full, KL_PLUGIN_STATUS, &st), -EIO);
	clearerr(full);
	assert_int_equal(kl_plugin_render_data(full, KL_PLUGIN_STATUS, KL_PLUGIN_JSON, &st), -EIO);
	clearerr(full);
	assert_int_equal(kl_plugin_render_data(full, KL_PLUGIN_STATUS, KL_PLUGIN_YAML, &st), -EIO);
	fclose(full);
	kl_plugin_status_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_args_defaults_and_commands),
	    cmocka_unit_test(test_args_flag_forms),
	    cmocka_unit_test(test_args_errors_name_the_problem),
	    cmocka_unit_test(test_usage_lists_every_flag),
	    cmocka_unit_test(test_age_like_kubectl),
	    cmocka_unit_test(test_state_records),
	    cmocka_unit_test(test_lease_pods_and_controllers),
	    cmocka_unit_test(test_restore_annotations),
	    cmocka_unit_test(test_table_status),
	    cmocka_unit_test(test_table_empty_and_missing),
	    cmocka_unit_test(test_json_status),
	    cmocka_unit_test(test_yaml_restores_and_quoting),
	    cmocka_unit_test(test_write_failure_is_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
