/*
 * test/unit/test_controllers.c - the controller table's rows, the --controllers
 * grammar, and each controller's init/start/stop through its ops.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "controllers/controller.h"
#include "controllers/crash_watcher.h"
#include "controllers/notready_watcher.h"

static void test_rows(void **unused)
{
	size_t i, j, n = kl_controllers_count();

	assert_int_equal(n, 3);
	assert_string_equal(kl_controllers[0].name, "crash-watcher");
	assert_string_equal(kl_controllers[1].name, "notready-watcher");
	assert_string_equal(kl_controllers[2].name, "replica-enforcer");
	assert_int_equal(kl_controllers[0].informers, KL_RES_PODS | KL_RES_NAMESPACES);
	assert_int_equal(kl_controllers[1].informers, KL_RES_PODS | KL_RES_NAMESPACES);
	assert_int_equal(kl_controllers[2].informers, KL_RES_DEPLOYMENTS);
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

static void expect_select(const char *list, int a, int b, int c)
{
	bool en[3] = { false, false, false };
	struct kl_error err;

	kl_error_clear(&err);
	if (kl_controllers_select(list, en, &err) != 0)
		fail_msg("%s: %s", list, err.msg);
	if (en[0] != a || en[1] != b || en[2] != c)
		fail_msg("%s: got %d%d%d", list, en[0], en[1], en[2]);
}

static void expect_select_error(const char *list, const char *want)
{
	bool en[3];
	struct kl_error err;

	kl_error_clear(&err);
	assert_int_equal(kl_controllers_select(list, en, &err), -EINVAL);
	if (!strstr(err.msg, want))
		fail_msg("%s: got \"%s\", want \"%s\"", list, err.msg, want);
}

static void test_select(void **unused)
{
	expect_select("*", 1, 1, 1);
	expect_select("*,-replica-enforcer", 1, 1, 0);
	expect_select("-replica-enforcer,*", 1, 1, 0);
	expect_select("crash-watcher", 1, 0, 0);
	expect_select("crash-watcher, notready-watcher", 1, 1, 0);
	expect_select("-crash-watcher", 0, 0, 0);
	expect_select_error("*,bogus", "unknown controller \"bogus\"");
	expect_select_error("-bogus", "unknown controller \"bogus\"");
	expect_select_error("*,,crash-watcher", "empty entry");
	expect_select_error("", "empty list");
	expect_select_error("crash-watcher,-crash-watcher", "both enabled and disabled");
}

static void test_help(void **unused)
{
	char buf[256];

	kl_controllers_help(buf, sizeof(buf));
	assert_string_equal(buf, "crash-watcher, notready-watcher, replica-enforcer");
}

static void test_configure_defaults_and_section(void **unused)
{
	struct kl_config c;
	struct kl_error err;
	void *confs[3];
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
	cw = confs[0];
	nw = confs[1];
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
	void *confs[3];
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
	expect_configure_error("controllers:\n  crash-wacher: {}\n",
			       "k.yaml:2: controllers.crash-wacher: unknown controller (known: "
			       "crash-watcher, notready-watcher, replica-enforcer)");
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

/*
 * every controller's ops run on a real loop with a real (unreachable) API client
 * and informer factory: init, start, stop; done called, the loop closes, nothing
 * leaks under ASan
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
	uv_loop_t loop;
	void *confs[3], *state;
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
	ctx.log = &log;
	ctx.flags = &flags;
	ctx.config = &c;
	ctx.health = &health;
	ctx.metrics = kl_metrics_new();
	assert_int_equal(kl_kube_new(&loop, &kc, NULL, &log, ctx.metrics, &ctx.kube, &err), 0);
	ctx.informers = kl_informers_new(&loop, ctx.kube, NULL, &log, ctx.metrics);
	assert_non_null(ctx.informers);
	assert_int_equal(kl_controllers_configure(&c, confs, &err), 0);
	for (i = 0; i < kl_controllers_count(); i++) {
		assert_int_equal(kl_controllers[i].ops->init(&ctx, confs[i], &state, &err), 0);
		assert_int_equal(kl_controllers[i].ops->start(state), 0);
		kl_controllers[i].ops->stop(state, on_done, &lc);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(lc.done, 3);
	kl_informers_stop(ctx.informers, closed_cb, &closed);
	kl_kube_close(ctx.kube, closed_cb, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed.done, 2);
	assert_int_equal(uv_loop_close(&loop), 0);
	fclose(f);
	assert_non_null(strstr(out, "component=crash-watcher msg=\"controller started\""));
	assert_non_null(strstr(out, "component=notready-watcher msg=\"controller stopped\""));
	assert_non_null(strstr(out, "component=replica-enforcer msg=\"controller stopped\""));
	free(out);
	kl_metrics_free(ctx.metrics);
	kl_config_free(&c);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
