/*
 * test/unit/test_watcher.c - the watchers' base (controllers/watcher.h) on a real loop
 * and a fake clock, with a real (unreachable, never started) API client and informer
 * factory and a notifier set (only its log notifier): start evaluates every namespace it knows (none here), a wake-up evaluates
 * its namespace once, at its time exactly, and a hold keeps the base and the
 * watcher's state through a stop until it is released, as the crash-watcher's log
 * fetches do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "controllers/watcher.h"

#define WALL0 1764000000000LL /* the fake clock's wall time at the start, Unix ms */

/* What the hooks saw; outlives the watcher's state, which the base frees. */
struct seen {
	struct kl_watcher *w;
	int evals, started, stops, done;
	const char *ns; /* the last evaluated namespace (interned) */
	int64_t now_ms; /* its evaluation's now */
};

/* The watcher's own state, owned by the base once kl_watcher_new succeeded. */
struct probe {
	struct seen *seen;
};

static void eval(void *state, const char *ns, int64_t now_ms)
{
	struct seen *s = ((struct probe *)state)->seen;

	s->evals++;
	s->ns = ns;
	s->now_ms = now_ms;
	kl_alerts_update(kl_watcher_alerts(s->w), ns, false, "0 things");
}

static void started(void *state)
{
	((struct probe *)state)->seen->started++;
}

static void stop(void *state)
{
	struct seen *s = ((struct probe *)state)->seen;

	assert_true(kl_watcher_stopping(s->w));
	s->stops++;
}

static void done(void *arg)
{
	((struct seen *)arg)->done++;
}

static void closed(void *arg)
{
	(*(int *)arg)++;
}

static void test_wake_and_hold(void **unused)
{
	static const struct kl_watcher_hooks hooks = {
		.eval = eval,
		.stop = stop,
		.started = started,
	};
	struct kl_alerts_opts ao = {
		.controller = "test-watcher",
		.alertname = "KloompasTest",
		.for_ms = 1000,
		.repeat_ms = 3600 * 1000,
	};
	struct kl_config c;
	struct kl_flags flags;
	struct kl_log log;
	struct kl_ctx ctx;
	struct kl_error err;
	struct kl_kube_config kc;
	struct kl_notify_opts no = { 0 };
	struct seen seen = { 0 };
	struct probe *p = calloc(1, sizeof(*p));
	uv_loop_t loop;
	struct kl_clock clock;
	const char *ns;
	int nclosed = 0;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);

	assert_non_null(p);
	p->seen = &seen;
	kl_error_clear(&err);
	kl_config_init(&c);
	kl_flags_init(&flags);
	kl_log_init(&log, KL_LOG_TEXT, 0, f);
	memset(&kc, 0, sizeof(kc));
	kc.server = "http://127.0.0.1:1";
	assert_int_equal(uv_loop_init(&loop), 0);
	memset(&ctx, 0, sizeof(ctx));
	ctx.loop = &loop;
	kl_clock_init_fake(&clock, &loop, WALL0);
	ctx.clock = &clock;
	ctx.log = &log;
	ctx.flags = &flags;
	ctx.config = &c;
	assert_int_equal(kl_kube_new(&loop, &kc, NULL, &log, NULL, &ctx.kube, &err), 0);
	ctx.informers = kl_informers_new(&loop, ctx.kube, NULL, &log, NULL);
	assert_non_null(ctx.informers);
	no.clock = &clock;
	ctx.notify = kl_notify_new(&loop, &c, &no, &log, NULL);
	assert_non_null(ctx.notify);

	seen.w = kl_watcher_new(&ctx, &ao, &hooks, p, &err);
	assert_non_null(seen.w);
	assert_int_equal(kl_watcher_start(seen.w), 0);
	assert_int_equal(seen.started, 1);
	assert_int_equal(seen.evals, 0); /* empty caches: nothing to judge */

	/* a namespace the caches know of (interned), to be looked at again in 20 ms; the
	 * evaluation runs in the loop turn after the wake-up (the check handle) */
	ns = kl_intern_get(kl_informers_intern(ctx.informers), "team-a", (size_t)-1);
	assert_non_null(ns);
	assert_int_equal(kl_watcher_now_ms(seen.w), WALL0);
	kl_watcher_wake_at(seen.w, "team-a", WALL0 + 1020);
	kl_watcher_wake_at(seen.w, "team-a", WALL0 + 20); /* the earlier time wins */
	kl_watcher_wake_at(seen.w, "unknown", WALL0 + 20); /* not interned: nothing to wake */
	kl_clock_advance(&clock, 19);
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(seen.evals, 0);
	kl_clock_advance(&clock, 1);
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(seen.evals, 1);
	assert_ptr_equal(seen.ns, ns);
	assert_int_equal(seen.now_ms, WALL0 + 20);
	kl_clock_advance(&clock, 2000); /* the later time was replaced, not added */
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(seen.evals, 1);

	/* a hold outlasts the stop: done only at the release */
	kl_watcher_hold(seen.w);
	kl_watcher_stop(seen.w, done, &seen);
	assert_int_equal(seen.stops, 1);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(seen.done, 0);
	kl_watcher_release(seen.w); /* frees p */
	assert_int_equal(seen.done, 1);
	assert_int_equal(seen.evals, 1);

	kl_intern_put(kl_informers_intern(ctx.informers), ns);
	kl_informers_stop(ctx.informers, closed, &nclosed);
	kl_kube_close(ctx.kube, closed, &nclosed);
	kl_notify_close(ctx.notify, closed, &nclosed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(nclosed, 3);
	assert_int_equal(uv_loop_close(&loop), 0);
	fclose(f);
	assert_non_null(strstr(out, "component=test-watcher msg=\"controller stopped\""));
	free(out);
	kl_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wake_and_hold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
