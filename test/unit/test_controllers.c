/*
 * test/unit/test_controllers.c - the controller table's rows, the --controllers
 * grammar, each controller's init/start/stop through its ops, the crash rule and
 * the not-ready count on hand-made pod projections (the clock is the now they are
 * given), and the alert engine's states and their -v 1 log lines on a real loop.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "controllers/alerts.h"
#include "controllers/controller.h"
#include "controllers/crash_watcher.h"
#include "controllers/notready_watcher.h"

/* Room for every row in the tests' per-row arrays (main has the same bound). */
#define MAX_ROWS 32

/* The controllers the tests below configure by name, and what they read. */
static const struct {
	const char *name;
	unsigned informers;
} known[] = {
	{ "crash-watcher", KL_RES_PODS | KL_RES_NAMESPACES },
	{ "notready-watcher", KL_RES_PODS | KL_RES_NAMESPACES },
	{ "replica-enforcer", KL_RES_DEPLOYMENTS },
};

/* Row index of name, failing the test when there is none. */
static size_t row(const char *name)
{
	int i = kl_controllers_find(name);

	if (i < 0)
		fail_msg("no controller \"%s\" in the table", name);
	return (size_t)i;
}

static void test_rows(void **unused)
{
	size_t i, j, n = kl_controllers_count();

	assert_true(n > 0 && n <= MAX_ROWS);
	assert_null(kl_controllers[n].name);
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		assert_int_equal(kl_controllers[row(known[i].name)].informers, known[i].informers);
	for (i = 0; i < n; i++) {
		const struct kl_controller_desc *d = &kl_controllers[i];

		assert_non_null(d->ops);
		assert_non_null(d->ops->init);
		assert_non_null(d->ops->start);
		assert_non_null(d->ops->stop);
		assert_non_null(d->conf_keys);
		assert_non_null(d->conf_defaults);
		assert_true(d->conf_size > 0);
		assert_true(d->enabled_by_default);
		/* names unique, lowercase with dashes (they are flag and config keys) */
		assert_int_equal(strspn(d->name, "abcdefghijklmnopqrstuvwxyz-"), strlen(d->name));
		for (j = 0; j < i; j++)
			assert_string_not_equal(d->name, kl_controllers[j].name);
		assert_int_equal(kl_controllers_find(d->name), (int)i);
	}
	assert_int_equal(kl_controllers_find("nope"), -ENOENT);
}

/*
 * list selects exactly the rows named in want (comma-separated, "*" for every row
 * enabled by default); minus, when not NULL, names one row to leave out of "*".
 */
static void expect_select(const char *list, const char *want, const char *minus)
{
	bool en[MAX_ROWS];
	struct kl_error err;
	size_t i, n = kl_controllers_count();

	kl_error_clear(&err);
	if (kl_controllers_select(list, en, &err) != 0)
		fail_msg("%s: %s", list, err.msg);
	for (i = 0; i < n; i++) {
		const char *name = kl_controllers[i].name;
		const char *at = strstr(want, name);
		bool named = at && (at == want || at[-1] == ',') &&
			     (at[strlen(name)] == '\0' || at[strlen(name)] == ',');
		bool on = strcmp(want, "*") == 0
				  ? kl_controllers[i].enabled_by_default &&
					    !(minus && strcmp(minus, name) == 0)
				  : named;

		if (en[i] != on)
			fail_msg("%s: %s is %s", list, name, en[i] ? "on" : "off");
	}
}

static void expect_select_error(const char *list, const char *want)
{
	bool en[MAX_ROWS];
	struct kl_error err;

	kl_error_clear(&err);
	assert_int_equal(kl_controllers_select(list, en, &err), -EINVAL);
	if (!strstr(err.msg, want))
		fail_msg("%s: got \"%s\", want \"%s\"", list, err.msg, want);
}

static void test_select(void **unused)
{
	expect_select("*", "*", NULL);
	expect_select("*,-replica-enforcer", "*", "replica-enforcer");
	expect_select("-replica-enforcer,*", "*", "replica-enforcer");
	expect_select("crash-watcher", "crash-watcher", NULL);
	expect_select("crash-watcher, notready-watcher", "crash-watcher,notready-watcher", NULL);
	expect_select("-crash-watcher", "", NULL);
	expect_select_error("*,bogus", "unknown controller \"bogus\"");
	expect_select_error("-bogus", "unknown controller \"bogus\"");
	expect_select_error("*,,crash-watcher", "empty entry");
	expect_select_error("", "empty list");
	expect_select_error("crash-watcher,-crash-watcher", "both enabled and disabled");
}

/* "a, b, c" and, when some are off by default, ". Off by default: c" */
static void table_help(char *buf, size_t len)
{
	size_t i, off = 0, n = kl_controllers_count();
	bool any_off = false;

	for (i = 0; i < n; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
					kl_controllers[i].name);
	for (i = 0; i < n; i++) {
		if (kl_controllers[i].enabled_by_default)
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					any_off ? ", " : ". Off by default: ",
					kl_controllers[i].name);
		any_off = true;
	}
	assert_true(off < len);
}

static void test_help(void **unused)
{
	char buf[512], want[512];

	kl_controllers_help(buf, sizeof(buf));
	table_help(want, sizeof(want));
	assert_string_equal(buf, want);
	assert_non_null(strstr(buf, "crash-watcher, notready-watcher, replica-enforcer"));
}

static void test_configure_defaults_and_section(void **unused)
{
	struct kl_config c;
	struct kl_error err;
	void *confs[MAX_ROWS];
	const char *yaml = "controllers:\n"
			   "  crash-watcher: { reasons: [CrashLoopBackOff, ImagePullBackOff], "
			   "for: 1m, log_lines: 5 }\n";
	const struct kl_crash_watcher_conf *cw;
	const struct kl_notready_watcher_conf *nw;
	struct kl_conf_node *root;

	kl_error_clear(&err);
	kl_config_init(&c);
	assert_int_equal(kl_conf_parse_buffer(&c.arena, "k.yaml", yaml, strlen(yaml), &root, &err),
			 0);
	c.path = "k.yaml";
	c.controllers = kl_conf_get(root, "controllers");
	assert_int_equal(kl_controllers_configure(&c, confs, &err), 0);
	cw = confs[row("crash-watcher")];
	nw = confs[row("notready-watcher")];
	assert_int_equal(cw->reasons.n, 2);
	assert_string_equal(cw->reasons.v[1], "ImagePullBackOff");
	assert_int_equal(cw->for_ms, 60000);
	assert_int_equal(cw->repeat_interval_ms, 3600000); /* default kept */
	assert_int_equal(cw->log_lines, 5);
	assert_int_equal(nw->min_pods, 3);
	assert_int_equal(nw->min_age_ms, 120000);
	kl_config_free(&c);
}

static void expect_configure_error(const char *yaml, const char *want)
{
	struct kl_config c;
	struct kl_error err;
	void *confs[MAX_ROWS];
	struct kl_conf_node *root;
	char buf[700];

	kl_error_clear(&err);
	kl_config_init(&c);
	assert_int_equal(kl_conf_parse_buffer(&c.arena, "k.yaml", yaml, strlen(yaml), &root, &err),
			 0);
	c.path = "k.yaml";
	c.controllers = kl_conf_get(root, "controllers");
	assert_int_equal(kl_controllers_configure(&c, confs, &err), -EINVAL);
	kl_error_str(&err, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("got \"%s\", want \"%s\"", buf, want);
	kl_config_free(&c);
}

static void test_configure_errors(void **unused)
{
	char known_names[400], want[600];

	table_help(known_names, sizeof(known_names));
	snprintf(want, sizeof(want),
		 "k.yaml:2: controllers.crash-wacher: unknown controller (known: %s)", known_names);
	expect_configure_error("controllers:\n  crash-wacher: {}\n", want);
	expect_configure_error("controllers:\n  notready-watcher:\n    min_pods: 0\n",
			       "k.yaml:3: controllers.notready-watcher.min_pods: must be at least 1");
	expect_configure_error("controllers:\n  crash-watcher:\n    reasons: []\n",
			       "k.yaml:3: controllers.crash-watcher.reasons: must name at least "
			       "one reason");
	expect_configure_error("controllers:\n  crash-watcher:\n\n    log_lines: 5000\n",
			       "k.yaml:4: controllers.crash-watcher.log_lines: at most 1000, got 5000");
	expect_configure_error("controllers:\n  replica-enforcer: 3\n",
			       "k.yaml:2: controllers.replica-enforcer: expected a map of settings");
}

struct lifecycle {
	int done;
};

static void on_done(void *arg)
{
	((struct lifecycle *)arg)->done++;
}

static void closed_cb(void *arg)
{
	((struct lifecycle *)arg)->done++;
}

static void ignore_request(struct kl_httpd_req *req, void *arg)
{
}

/*
 * every controller's ops run on a real loop with a real (unreachable) API client
 * and informer factory: init, routes (on a chat-ops server that never listens),
 * start, stop; done called, the loop closes, nothing leaks under ASan
 */
static void test_lifecycle(void **unused)
{
	struct kl_config c;
	struct kl_flags flags;
	struct kl_log log;
	struct kl_health health;
	struct kl_ctx ctx;
	struct kl_error err;
	struct kl_kube_config kc;
	struct lifecycle lc = { 0 }, closed = { 0 };
	struct kl_httpd_limits lim;
	struct kl_httpd *chatops;
	uv_loop_t loop;
	struct kl_clock clock;
	void *confs[MAX_ROWS], *state;
	char *out = NULL;
	size_t outlen = 0, i;
	FILE *f = open_memstream(&out, &outlen);

	kl_error_clear(&err);
	kl_config_init(&c);
	kl_flags_init(&flags);
	kl_log_init(&log, KL_LOG_TEXT, 0, f);
	kl_health_init(&health);
	memset(&kc, 0, sizeof(kc));
	kc.server = "http://127.0.0.1:1";
	assert_int_equal(uv_loop_init(&loop), 0);
	memset(&ctx, 0, sizeof(ctx));
	ctx.loop = &loop;
	kl_clock_init(&clock, &loop);
	ctx.clock = &clock;
	ctx.log = &log;
	ctx.flags = &flags;
	ctx.config = &c;
	ctx.health = &health;
	ctx.metrics = kl_metrics_new();
	assert_int_equal(kl_kube_new(&loop, &kc, NULL, &log, ctx.metrics, &ctx.kube, &err), 0);
	ctx.informers = kl_informers_new(&loop, ctx.kube, NULL, &log, ctx.metrics);
	assert_non_null(ctx.informers);
	kl_httpd_limits_default(&lim);
	chatops = kl_httpd_new(&loop, "chatops", &lim, &log);
	assert_non_null(chatops);
	ctx.notify = kl_notify_new(&loop, &c, NULL, &log, ctx.metrics);
	assert_non_null(ctx.notify);
	assert_int_equal(kl_controllers_configure(&c, confs, &err), 0);
	for (i = 0; i < kl_controllers_count(); i++) {
		const struct kl_controller_ops *ops = kl_controllers[i].ops;

		assert_int_equal(ops->init(&ctx, confs[i], &state, &err), 0);
		if (ops->routes)
			assert_int_equal(ops->routes(state, chatops), 0);
		assert_int_equal(ops->start(state), 0);
		ops->stop(state, on_done, &lc);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(lc.done, (int)kl_controllers_count());
	/* the replica enforcer's paths are taken */
	assert_int_equal(kl_httpd_route(chatops, "/slack/commands", KL_HTTP_POST, ignore_request,
					NULL),
			 -EEXIST);
	assert_int_equal(kl_httpd_route(chatops, "/api/v1/replicas", KL_HTTP_POST, ignore_request,
					NULL),
			 -EEXIST);
	kl_httpd_close(chatops, closed_cb, &closed);
	kl_informers_stop(ctx.informers, closed_cb, &closed);
	kl_kube_close(ctx.kube, closed_cb, &closed);
	kl_notify_close(ctx.notify, closed_cb, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed.done, 4);
	assert_int_equal(uv_loop_close(&loop), 0);
	fclose(f);
	assert_non_null(strstr(out, "component=crash-watcher msg=\"controller started\""));
	assert_non_null(strstr(out, "component=notready-watcher msg=\"controller stopped\""));
	assert_non_null(strstr(out, "component=replica-enforcer msg=\"controller stopped\""));
	assert_non_null(strstr(out, "max_temporary=24h chatops=on"));
	free(out);
	kl_metrics_free(ctx.metrics);
	kl_config_free(&c);
}

/* ---------------------------------------------------------------- the crash rule */

#define T0 1800000000LL /* a Unix second; times below are seconds after it */
#define MS(sec) ((T0 * 1000) + (int64_t)((sec) * 1000))

static const char *loop_reasons_v[] = { "CrashLoopBackOff" };
static const struct kl_strv loop_reasons = { loop_reasons_v, 1 };

/* A Running pod "name" of namespace ns, created at T0 + created_s, with n containers
 * named c0, c1... (the first ninit of them init containers), all running and ready. */
static struct kl_pod *pod_new(const char *name, int64_t created_s, uint16_t n, uint16_t ninit)
{
	static const char *names[] = { "c0", "c1", "c2", "c3" };
	size_t fixed = sizeof(struct kl_pod) + n * sizeof(struct kl_container);
	struct kl_pod *p = calloc(1, fixed + strlen(name) + 1);
	uint16_t i;

	assert_non_null(p);
	assert_true(n <= 4);
	p->meta.ns = "ns";
	p->meta.name_off = (uint16_t)fixed; /* the name after the containers, as projected */
	strcpy((char *)p + fixed, name);
	p->meta.created = (uint32_t)(T0 + created_s);
	p->phase = KL_POD_RUNNING;
	p->ready = true;
	p->ncontainers = n;
	for (i = 0; i < n; i++) {
		p->containers[i].name = names[i];
		p->containers[i].init = i < ninit;
		p->containers[i].ready = true;
		p->containers[i].state.running_since = (uint32_t)(T0 + created_s);
	}
	return p;
}

static void c_running(struct kl_container *c, double since_s, int restarts)
{
	memset(&c->state, 0, sizeof(c->state));
	c->state.running_since = (uint32_t)(T0 + since_s);
	c->restarts = restarts;
}

static void c_terminated(struct kl_container *c, const char *reason, int code, double at_s,
			 int restarts)
{
	memset(&c->state, 0, sizeof(c->state));
	c->state.terminated_reason = reason;
	c->state.exit_code = code;
	c->state.finished = (uint32_t)(T0 + at_s);
	c->restarts = restarts;
	/* what the next instance's lastState will say */
	c->last.terminated_reason = reason;
	c->last.exit_code = code;
	c->last.finished = c->state.finished;
}

/* lastState.terminated: the instance before this one ended at at_s */
static void c_last(struct kl_container *c, double at_s)
{
	c->last.terminated_reason = "Error";
	c->last.exit_code = 1;
	c->last.finished = (uint32_t)(T0 + at_s);
}

static void c_waiting(struct kl_container *c, const char *reason, int restarts)
{
	memset(&c->state, 0, sizeof(c->state));
	c->state.waiting_reason = reason;
	c->restarts = restarts;
}

/*
 * What a real kubelet writes for a container that runs 5 s and exits 3
 * (recorded by test_real_node.py), from its start at T0: the first exit restarted at once;
 * then each exit terminated for 13 s, CrashLoopBackOff for the rest of the back-off
 * (10 s, 20 s, 40 s, 80 s), running again with restartCount + 1; from t=300 it stops
 * crashing and runs on. The rule counts it from the first CrashLoopBackOff (t=24)
 * without a gap until it has run KL_CRASHLOOP_SETTLE_MS (t=900), and says when to look
 * again.
 */
struct step {
	double at;	  /* seconds after T0 */
	char what;	  /* r running, t terminated (Error, 3), w CrashLoopBackOff */
	int restarts;
};

static const struct step kubelet_loop[] = {
	{ 0, 'r', 0 },	  { 5, 't', 0 },    { 6, 'r', 1 },    { 11, 't', 1 },   { 24, 'w', 1 },
	{ 34, 'r', 2 },	  { 39, 't', 2 },   { 52, 'w', 2 },   { 59, 'r', 3 },   { 64, 't', 3 },
	{ 77, 'w', 3 },	  { 104, 'r', 4 },  { 109, 't', 4 },  { 122, 'w', 4 },  { 189, 'r', 5 },
	{ 194, 't', 5 },  { 207, 'w', 5 },  { 300, 'r', 6 },
};

static void test_crash_rule_kubelet_loop(void **unused)
{
	struct kl_pod *p = pod_new("web-1", 0, 1, 0);
	struct kl_container *c = &p->containers[0];
	size_t i = 0, n = sizeof(kubelet_loop) / sizeof(kubelet_loop[0]);
	double t;

	for (t = 0; t < 1000; t += 0.5) {
		struct kl_crash_hit h;
		bool counted, want = t >= 24 && t < 900;

		while (i < n && kubelet_loop[i].at <= t) {
			const struct step *s = &kubelet_loop[i++];

			if (s->what == 'r')
				c_running(c, s->at, s->restarts);
			else if (s->what == 't')
				c_terminated(c, "Error", 3, s->at, s->restarts);
			else
				c_waiting(c, "CrashLoopBackOff", s->restarts);
			p->ready = c->ready = s->what == 'r';
		}
		counted = kl_crash_pod(p, &loop_reasons, MS(t), &h);
		if (counted != want)
			fail_msg("t=%.1f: counted %d, want %d", t, counted, want);
		if (!counted)
			continue;
		assert_ptr_equal(h.c, c);
		switch (c->state.waiting_reason ? 'w' : c->state.running_since ? 'r' : 't') {
		case 'w':
			assert_int_equal(h.moment, KL_CRASH_WAITING);
			assert_string_equal(kl_crash_moment_reason(&h), "CrashLoopBackOff");
			assert_int_equal(h.recheck_ms, 0);
			break;
		case 'r':
			assert_int_equal(h.moment, KL_CRASH_RUNNING);
			assert_string_equal(kl_crash_moment_reason(&h),
					    "CrashLoopBackOff (running between back-offs)");
			/* no event comes when the settle window ends: look again then */
			assert_int_equal(h.recheck_ms,
					 MS(c->state.running_since - T0) + KL_CRASHLOOP_SETTLE_MS);
			break;
		default:
			assert_int_equal(h.moment, KL_CRASH_TERMINATED);
			assert_string_equal(kl_crash_moment_reason(&h),
					    "CrashLoopBackOff (terminated between back-offs)");
			break;
		}
	}
	free(p);
}

/* OOMKilled is an error exit; init containers loop too; the waiting reason is preferred */
static void test_crash_rule_moments(void **unused)
{
	struct kl_pod *p = pod_new("job-1", 0, 3, 1);
	struct kl_crash_hit h;

	c_terminated(&p->containers[1], "OOMKilled", 137, 50, 2);
	assert_true(kl_crash_pod(p, &loop_reasons, MS(60), &h));
	assert_ptr_equal(h.c, &p->containers[1]);
	assert_int_equal(h.moment, KL_CRASH_TERMINATED);
	/* another container waiting in CrashLoopBackOff is the better evidence */
	c_waiting(&p->containers[2], "CrashLoopBackOff", 3);
	assert_true(kl_crash_pod(p, &loop_reasons, MS(60), &h));
	assert_ptr_equal(h.c, &p->containers[2]);
	assert_int_equal(h.moment, KL_CRASH_WAITING);
	free(p);

	/* an init container crash-looping (the pod stays Pending) */
	p = pod_new("init-1", 0, 2, 1);
	p->phase = KL_POD_PENDING;
	c_last(&p->containers[0], 20);
	c_running(&p->containers[0], 40, 2);
	c_waiting(&p->containers[1], "PodInitializing", 0);
	assert_true(kl_crash_pod(p, &loop_reasons, MS(45), &h));
	assert_ptr_equal(h.c, &p->containers[0]);
	assert_int_equal(h.moment, KL_CRASH_RUNNING);
	/* ... that finally completes: no longer a crash */
	c_terminated(&p->containers[0], "Completed", 0, 50, 2);
	assert_false(kl_crash_pod(p, &loop_reasons, MS(51), NULL));
	/* an exit without a reason: its code decides */
	c_terminated(&p->containers[0], NULL, 2, 50, 2);
	assert_true(kl_crash_pod(p, &loop_reasons, MS(51), NULL));
	c_terminated(&p->containers[0], NULL, 0, 50, 2);
	assert_false(kl_crash_pod(p, &loop_reasons, MS(51), NULL));
	free(p);
}

static void test_crash_rule_not_counted(void **unused)
{
	static const char *pull_v[] = { "ImagePullBackOff", "ErrImageNeverPull" };
	const struct kl_strv pull = { pull_v, 2 };
	struct kl_pod *p = pod_new("web-1", 0, 1, 0);
	struct kl_container *c = &p->containers[0];

	/* one restart is not a loop: the kubelet restarts a first exit at once */
	c_terminated(c, "Error", 1, 10, 1);
	assert_false(kl_crash_pod(p, &loop_reasons, MS(11), NULL));
	c_running(c, 10, 1);
	assert_false(kl_crash_pod(p, &loop_reasons, MS(11), NULL));
	/* waiting for another reason, even after restarts */
	c_waiting(c, "ContainerCreating", 4);
	assert_false(kl_crash_pod(p, &loop_reasons, MS(11), NULL));
	/* restarted at once after an exit, with old restarts (one OOM kill of a pod that
	 * crashed last week): no back-off, no loop */
	c_terminated(c, "OOMKilled", 137, 8, 6);
	assert_true(kl_crash_pod(p, &loop_reasons, MS(8), NULL)); /* the moment of the exit */
	c_running(c, 8 + KL_CRASHLOOP_BACKOFF_MIN_S - 1, 7);
	assert_false(kl_crash_pod(p, &loop_reasons, MS(14), NULL));
	/* out of a back-off it counts; ran the settle time: the kubelet has reset its
	 * back-off */
	c_last(c, 0);
	c_running(c, 10, 7);
	assert_true(kl_crash_pod(p, &loop_reasons, MS(10) + KL_CRASHLOOP_SETTLE_MS - 1, NULL));
	assert_false(kl_crash_pod(p, &loop_reasons, MS(10) + KL_CRASHLOOP_SETTLE_MS, NULL));
	/* a pod that is over (Succeeded/Failed) does not restart */
	c_terminated(c, "Error", 1, 10, 3);
	p->phase = KL_POD_FAILED;
	assert_false(kl_crash_pod(p, &loop_reasons, MS(11), NULL));
	p->phase = KL_POD_SUCCEEDED;
	assert_false(kl_crash_pod(p, &loop_reasons, MS(11), NULL));
	/* a terminating pod is going away */
	p->phase = KL_POD_RUNNING;
	c_waiting(c, "CrashLoopBackOff", 3);
	p->meta.deleting = (uint32_t)(T0 + 5);
	assert_false(kl_crash_pod(p, &loop_reasons, MS(11), NULL));
	p->meta.deleting = 0;
	/* without CrashLoopBackOff among the reasons only the waiting reasons count */
	assert_false(kl_crash_pod(p, &pull, MS(11), NULL));
	c_running(c, 10, 5);
	assert_false(kl_crash_pod(p, &pull, MS(11), NULL));
	c_terminated(c, "Error", 1, 10, 5);
	assert_false(kl_crash_pod(p, &pull, MS(11), NULL));
	c_waiting(c, "ErrImageNeverPull", 0);
	assert_true(kl_crash_pod(p, &pull, MS(11), NULL));
	free(p);
}

/* ---------------------------------------------------------------- the not-ready count */

static const struct kl_notready_watcher_conf nr_conf = {
	.threshold_percent = 30, .min_pods = 2, .min_age_ms = 30000, .for_ms = 30000,
	.repeat_interval_ms = 3600000,
};

/* Tallies pods at now (seconds after T0); returns whether the condition holds. */
static bool tally(struct kl_notready_tally *t, bool ongoing, const struct kl_strv *crash,
		  double now, struct kl_pod **pods, size_t n, double *ratio)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	t->conf = &nr_conf;
	t->crash_reasons = crash;
	t->ongoing = ongoing;
	t->now_ms = MS(now);
	for (i = 0; i < n; i++)
		kl_notready_tally_add(t, pods[i]);
	return kl_notready_tally_active(t, ratio);
}

/*
 * The rollout of issue 3: the alert fires for the old pod (crash-watcher off, so it
 * counts as not ready); the new pods are younger than min_age. Gating only the start,
 * the alert stays on; a new alert would still be held back.
 */
static void test_notready_gates_only_the_start(void **unused)
{
	struct kl_pod *pods[4];
	struct kl_notready_tally t;
	double ratio;

	pods[0] = pod_new("old", -600, 1, 0);
	c_waiting(&pods[0]->containers[0], "CrashLoopBackOff", 5);
	pods[0]->ready = false;
	pods[1] = pod_new("new-1", 90, 1, 0);
	pods[2] = pod_new("new-2", 95, 1, 0);
	pods[2]->ready = false;
	pods[3] = pod_new("done", -600, 1, 0);
	pods[3]->phase = KL_POD_SUCCEEDED;

	/* starting: one pod old enough, fewer than min_pods: gated out, ratio 0 */
	assert_false(tally(&t, false, NULL, 100, pods, 4, &ratio));
	assert_int_equal(t.live, 3);
	assert_int_equal(t.counted, 1);
	assert_true(ratio == 0);
	assert_int_equal(t.wake_ms, MS(90 + 30) + 1); /* when new-1 is old enough */
	/* ongoing: every live pod counts, whatever its age; 2 of 3 not ready */
	assert_true(tally(&t, true, NULL, 100, pods, 4, &ratio));
	assert_int_equal(t.counted, 3);
	assert_int_equal(t.notready, 2);
	assert_true(ratio > 0.66 && ratio < 0.67);
	assert_int_equal(t.wake_ms, MS(90 + 30) + 1);
	/* once the young pods are old, min_pods is met either way */
	assert_true(tally(&t, false, NULL, 200, pods, 4, &ratio));
	assert_int_equal(t.counted, 3);
	assert_int_equal(t.wake_ms, 0);
	/* an ongoing alert over a namespace with no live pod: nothing is not ready */
	assert_false(tally(&t, true, NULL, 200, pods + 3, 1, &ratio));
	assert_int_equal(t.live, 0);
	assert_true(ratio == 0);
	free(pods[0]);
	free(pods[1]);
	free(pods[2]);
	free(pods[3]);
}

/* Issue 2: with the crash-watcher on, its pods are its message; they stay counted. */
static void test_notready_leaves_crashes_to_crash_watcher(void **unused)
{
	struct kl_pod *pods[3];
	struct kl_notready_tally t;
	double ratio;
	size_t i;

	for (i = 0; i < 3; i++)
		pods[i] = pod_new(i ? "ok" : "crash", -600, 1, 0);
	pods[0]->ready = false;
	c_waiting(&pods[0]->containers[0], "CrashLoopBackOff", 4);

	assert_true(tally(&t, false, NULL, 0, pods, 3, &ratio)); /* crash-watcher off */
	assert_int_equal(t.notready, 1);
	assert_false(tally(&t, false, &loop_reasons, 0, pods, 3, &ratio));
	assert_int_equal(t.counted, 3);
	assert_int_equal(t.notready, 0);
	assert_int_equal(t.crashing, 1);
	assert_true(ratio == 0);
	/* running between back-offs, not ready yet: still the crash-watcher's, until it
	 * has run the settle time (a wake-up then) */
	c_last(&pods[0]->containers[0], -20);
	c_running(&pods[0]->containers[0], -5, 5);
	assert_false(tally(&t, false, &loop_reasons, 0, pods, 3, &ratio));
	assert_int_equal(t.crashing, 1);
	assert_int_equal(t.wake_ms, MS(-5) + KL_CRASHLOOP_SETTLE_MS);
	assert_true(tally(&t, false, &loop_reasons, 600, pods, 3, &ratio));
	assert_int_equal(t.notready, 1);
	/* a crash-looping pod that happens to be Ready is just Ready */
	pods[0]->ready = true;
	assert_false(tally(&t, false, &loop_reasons, 0, pods, 3, &ratio));
	assert_int_equal(t.crashing, 0);
	for (i = 0; i < 3; i++)
		free(pods[i]);
}

/* ---------------------------------------------------------------- the alert engine */

struct engine {
	uv_loop_t loop;
	struct kl_clock clock;
	struct kl_config config;
	struct kl_flags flags;
	struct kl_log log;
	struct kl_ctx ctx;
	struct kl_alerts *alerts;
	FILE *f;
	char *out;
	size_t outlen;
	int stopped;
};

static void engine_open(struct engine *e, uint64_t for_ms)
{
	struct kl_alerts_opts o = { "notready-watcher", "KloompasNamespacePodsNotReady", for_ms,
				    3600000, 10, NULL };

	memset(e, 0, sizeof(*e));
	e->f = open_memstream(&e->out, &e->outlen);
	assert_non_null(e->f);
	kl_config_init(&e->config);
	kl_flags_init(&e->flags);
	kl_log_init(&e->log, KL_LOG_TEXT, 1, e->f);
	assert_int_equal(uv_loop_init(&e->loop), 0);
	e->ctx.loop = &e->loop;
	kl_clock_init(&e->clock, &e->loop);
	e->ctx.clock = &e->clock;
	e->ctx.log = &e->log;
	e->ctx.flags = &e->flags;
	e->ctx.config = &e->config;
	e->ctx.notify = kl_notify_new(&e->loop, &e->config, NULL, &e->log, NULL);
	assert_non_null(e->ctx.notify);
	e->alerts = kl_alerts_new(&e->ctx, &o, NULL, NULL);
	assert_non_null(e->alerts);
	assert_int_equal(kl_alerts_start(e->alerts), 0);
	kl_alerts_synced(e->alerts);
}

/* Runs the loop until ns's alert is in state want (at most 5 s). */
static void engine_wait(struct engine *e, const char *ns, enum kl_alert_state want)
{
	int i;

	for (i = 0; i < 500 && kl_alerts_state(e->alerts, ns) != want; i++) {
		uv_sleep(10);
		uv_run(&e->loop, UV_RUN_NOWAIT);
	}
	assert_string_equal(kl_alert_state_name(kl_alerts_state(e->alerts, ns)),
			    kl_alert_state_name(want));
}

static void engine_stopped(void *arg)
{
	((struct engine *)arg)->stopped++;
}

static void engine_close(struct engine *e)
{
	kl_alerts_stop(e->alerts, engine_stopped, e);
	kl_notify_close(e->ctx.notify, engine_stopped, e);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(e->stopped, 2);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	fclose(e->f);
	kl_config_free(&e->config);
}

/* the log holds line (a substring), with controller and namespace fields */
static void expect_change(const struct engine *e, const char *ns, const char *from,
			  const char *to, const char *why)
{
	char want[300];

	snprintf(want, sizeof(want),
		 "component=alerts msg=\"alert state changed\" controller=notready-watcher "
		 "namespace=%s from=%s to=%s why=\"%s\"",
		 ns, from, to, why);
	if (!strstr(e->out, want))
		fail_msg("no \"%s\" in:\n%s", want, e->out);
}

/* Issue 5: every change of state, logged at -v 1 with why and the figure. */
static void test_alerts_state_changes(void **unused)
{
	struct engine e;

	engine_open(&e, 100);
	assert_int_equal(kl_alerts_state(e.alerts, "a"), KL_ALERT_OK);
	kl_alerts_update(e.alerts, "a", true, "50 % of pods Not Ready");
	assert_int_equal(kl_alerts_state(e.alerts, "a"), KL_ALERT_PENDING);
	engine_wait(&e, "a", KL_ALERT_FIRING);
	kl_alerts_update(e.alerts, "a", false, "0 % of pods Not Ready");
	assert_int_equal(kl_alerts_state(e.alerts, "a"), KL_ALERT_RESOLVING);
	kl_alerts_update(e.alerts, "a", true, "40 % of pods Not Ready");
	assert_int_equal(kl_alerts_state(e.alerts, "a"), KL_ALERT_FIRING);
	kl_alerts_update(e.alerts, "a", false, "10 % of pods Not Ready");
	engine_wait(&e, "a", KL_ALERT_OK); /* resolved, told to the log, forgotten */
	kl_alerts_update(e.alerts, "b", true, "30 % of pods Not Ready");
	kl_alerts_update(e.alerts, "b", false, "0 % of pods Not Ready");
	assert_int_equal(kl_alerts_state(e.alerts, "b"), KL_ALERT_OK);
	fflush(e.f);
	expect_change(&e, "a", "ok", "pending", "condition started");
	expect_change(&e, "a", "pending", "firing", "held for 100ms");
	expect_change(&e, "a", "firing", "resolving", "condition gone");
	expect_change(&e, "a", "resolving", "firing", "condition back");
	expect_change(&e, "a", "resolving", "resolved", "gone for 100ms");
	expect_change(&e, "b", "ok", "pending", "condition started");
	expect_change(&e, "b", "pending", "ok", "gone within 100ms");
	assert_non_null(strstr(e.out, "why=\"condition back\" summary=\"40 % of pods Not Ready\""));
	engine_close(&e);
	free(e.out);
}

/* At -v 0 the changes are not logged. */
static void test_alerts_state_changes_quiet(void **unused)
{
	struct engine e;

	engine_open(&e, 0);
	e.log.verbosity = 0;
	kl_alerts_update(e.alerts, "a", true, "1 Pod(s) in CrashLoopBackOff");
	assert_int_equal(kl_alerts_state(e.alerts, "a"), KL_ALERT_FIRING); /* for: 0 */
	fflush(e.f);
	assert_null(strstr(e.out, "alert state changed"));
	engine_close(&e);
	free(e.out);
}

/* The crash-watcher's config reaches the not-ready watcher through ctx, when enabled. */
static void test_ctx_controller_conf(void **unused)
{
	struct kl_ctx ctx;
	bool enabled[MAX_ROWS] = { false };
	int a = 1, c = 3;
	void *confs[MAX_ROWS] = { NULL };

	enabled[row("crash-watcher")] = true;
	enabled[row("notready-watcher")] = true;
	confs[row("crash-watcher")] = &a;
	confs[row("replica-enforcer")] = &c; /* bound, but not enabled */
	memset(&ctx, 0, sizeof(ctx));
	assert_null(kl_ctx_controller_conf(&ctx, "crash-watcher"));
	ctx.controllers_enabled = enabled;
	ctx.controller_confs = confs;
	assert_ptr_equal(kl_ctx_controller_conf(&ctx, "crash-watcher"), &a);
	assert_null(kl_ctx_controller_conf(&ctx, "replica-enforcer"));
	assert_null(kl_ctx_controller_conf(&ctx, "nope"));
	enabled[row("crash-watcher")] = false;
	assert_null(kl_ctx_controller_conf(&ctx, "crash-watcher"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_configure_defaults_and_section),
		cmocka_unit_test(test_configure_errors),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_crash_rule_kubelet_loop),
		cmocka_unit_test(test_crash_rule_moments),
		cmocka_unit_test(test_crash_rule_not_counted),
		cmocka_unit_test(test_notready_gates_only_the_start),
		cmocka_unit_test(test_notready_leaves_crashes_to_crash_watcher),
		cmocka_unit_test(test_alerts_state_changes),
		cmocka_unit_test(test_alerts_state_changes_quiet),
		cmocka_unit_test(test_ctx_controller_conf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
