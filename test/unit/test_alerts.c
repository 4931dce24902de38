/*
 * test/unit/test_alerts.c - the alert state machine (controllers/alerts.c) driven by
 * a fake clock: every transition, repeat_interval, flapping around `for` while
 * pending and while resolving, and what each record persists.
 *
 * The engine runs on ctx->clock, a fake clock moved by kl_clock_advance(), so an
 * hour of alerting takes no time. Notices are recorded in the prepare hook, which
 * sees every batch before it is sent. The notifier set is the "log" notifier alone
 * (a config without notifiers); its deliveries come back from the loop, which
 * settle() runs. The state store is read-only (nothing is written to a cluster) and
 * has no API client: kl_state_get() shows what the engine persisted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "controllers/alerts.h"
#include "controllers/silences.h"
#include "controllers/state.h"
#include "util/clock.h"

#define WALL0 1764000000000LL /* 2025-11-24T16:00:00Z */
#define FOR_MS 30000
#define REPEAT_MS 3600000
#define FLUSH_MS 10
#define MAX_NOTICES 32

struct seen {
	char ns[32];
	bool resolved, repeat;
	int64_t starts_at, ends_at; /* Unix seconds, as the notice says */
	char summary[64];
	int64_t sent_ms; /* wall time of the flush */
};

struct env {
	uv_loop_t loop;
	struct kl_clock clock;
	struct kl_config config;
	struct kl_flags flags;
	struct kl_log log;
	FILE *logf;
	char *logbuf;
	size_t loglen;
	struct kl_ctx ctx;
	struct kl_alerts *alerts;
	struct seen seen[MAX_NOTICES];
	size_t n;
	bool hold; /* prepare keeps the batch in held */
	struct kl_alert_batch *held;
	int stopped;
};

/* ---------------------------------------------------------------- setup */

/*
 * The notifier set the engine sends through (ctx->notify, on the fake clock): a
 * config without notifiers, so "log" alone. Engines attach and detach; the set
 * outlives them, as it does in the process.
 */
static void notify_setup(struct env *e)
{
	struct kl_notify_opts o = { .clock = &e->clock };

	kl_config_init(&e->config);
	e->ctx.config = &e->config;
	e->ctx.notify = kl_notify_new(&e->loop, &e->config, &o, &e->log, NULL);
	assert_non_null(e->ctx.notify);
}

static void on_notify_closed(void *arg)
{
	((struct env *)arg)->ctx.notify = NULL;
}

/* Closes the set (before the loop closes), then frees the config. */
static void notify_teardown(struct env *e)
{
	kl_notify_close(e->ctx.notify, on_notify_closed, e);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_null(e->ctx.notify);
	kl_config_free(&e->config);
}

static void on_prepare(void *arg, struct kl_alert_batch *b)
{
	struct env *e = arg;
	size_t i;

	for (i = 0; i < b->n; i++) {
		const struct kl_notice *nt = &b->notices[i];
		struct seen *s;

		assert_true(e->n < MAX_NOTICES);
		s = &e->seen[e->n++];
		snprintf(s->ns, sizeof(s->ns), "%s", nt->ns);
		snprintf(s->summary, sizeof(s->summary), "%s", nt->summary);
		s->resolved = nt->resolved;
		s->repeat = nt->repeat;
		s->starts_at = nt->starts_at;
		s->ends_at = nt->ends_at;
		s->sent_ms = kl_clock_wall_ms(&e->clock);
	}
	if (e->hold) {
		assert_null(e->held);
		e->held = b;
		return;
	}
	kl_alerts_send(b);
}

/* A new engine over the state store (which outlives engines, as it does leaders). */
static void engine_new(struct env *e, uint64_t for_ms)
{
	const struct kl_alerts_opts o = { "crash-watcher", "KloompasPodCrashLooping", for_ms,
					  REPEAT_MS, FLUSH_MS, "PODS IN CRASH" };
	const struct kl_alerts_hooks hooks = { on_prepare, NULL };

	e->alerts = kl_alerts_new(&e->ctx, &o, &hooks, e);
	assert_non_null(e->alerts);
	assert_int_equal(kl_alerts_start(e->alerts), 0);
}

static void env_open(struct env *e, uint64_t for_ms)
{
	memset(e, 0, sizeof(*e));
	assert_int_equal(uv_loop_init(&e->loop), 0);
	kl_clock_init_fake(&e->clock, &e->loop, WALL0);
	e->logf = open_memstream(&e->logbuf, &e->loglen);
	assert_non_null(e->logf);
	kl_log_init(&e->log, KL_LOG_TEXT, 1, e->logf);
	kl_flags_init(&e->flags);
	e->ctx.loop = &e->loop;
	e->ctx.clock = &e->clock;
	e->ctx.log = &e->log;
	e->ctx.flags = &e->flags;
	notify_setup(e);
	e->ctx.state = kl_state_new(&e->clock, NULL, "kloompas", "kloompas-state", true, 1000,
				    &e->log);
	assert_non_null(e->ctx.state);
	e->ctx.silences = kl_silences_new(&e->ctx);
	assert_non_null(e->ctx.silences);
	assert_int_equal(kl_silences_start(e->ctx.silences), 0);
	engine_new(e, for_ms);
}

/* Runs what the loop has ready (notifier reports), at the fake clock's time. */
static void settle(struct env *e)
{
	int i;

	for (i = 0; i < 5; i++) {
		uv_run(&e->loop, UV_RUN_NOWAIT);
		kl_clock_advance(&e->clock, 0);
	}
}

/* Moves time by ms, then lets the notifiers answer. */
static void step(struct env *e, uint64_t ms)
{
	kl_clock_advance(&e->clock, ms);
	settle(e);
}

static void on_stopped(void *arg)
{
	((struct env *)arg)->stopped++;
}

static void engine_stop(struct env *e)
{
	int before = e->stopped;

	kl_alerts_stop(e->alerts, on_stopped, e);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(e->stopped, before + 1);
	e->alerts = NULL;
}

static void env_close(struct env *e)
{
	engine_stop(e);
	kl_silences_close(e->ctx.silences, on_stopped, e);
	kl_state_close(e->ctx.state, on_stopped, e);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	notify_teardown(e);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	fclose(e->logf);
	free(e->logbuf);
}

/* ---------------------------------------------------------------- checks */

static enum kl_alert_state state_of(const struct env *e, const char *ns)
{
	return kl_alerts_state(e->alerts, ns);
}

#define assert_state(e, ns, want)                                                          \
	assert_string_equal(kl_alert_state_name(state_of(e, ns)), kl_alert_state_name(want))

/* The persisted record of ns (NULL: none). */
static const char *record(const struct env *e, const char *ns)
{
	char key[64];

	snprintf(key, sizeof(key), "crash-watcher.%s", ns);
	return kl_state_get(e->ctx.state, key);
}

/* The record of ns holds the JSON fragment frag, e.g. "\"state\":\"firing\"". */
static void assert_record(const struct env *e, const char *ns, const char *frag)
{
	const char *r = record(e, ns);

	if (!r)
		fail_msg("no record for %s (wanted %s)", ns, frag);
	if (!strstr(r, frag))
		fail_msg("record of %s lacks %s: %s", ns, frag, r);
}

static void assert_record_num(const struct env *e, const char *ns, const char *key, int64_t v)
{
	char frag[64];

	snprintf(frag, sizeof(frag), "\"%s\":%lld", key, (long long)v);
	assert_record(e, ns, frag);
}

static int64_t wall(const struct env *e)
{
	return kl_clock_wall_ms(&e->clock);
}

/* The condition of ns is there (one pod) or gone, as a watcher reports it. */
static void up(struct env *e, const char *ns)
{
	kl_alerts_update(e->alerts, ns, true, "1 Pod(s) in CrashLoopBackOff");
}

static void down(struct env *e, const char *ns)
{
	kl_alerts_update(e->alerts, ns, false, "0 Pod(s) in CrashLoopBackOff");
}

/* ns starts and fires, and the log notifier is told: returns when it was told. */
static int64_t fire_told(struct env *e, const char *ns)
{
	size_t n = e->n;

	up(e, ns);
	step(e, FOR_MS + FLUSH_MS);
	assert_int_equal(e->n, n + 1);
	assert_record(e, ns, "\"notified\":\"firing\"");
	return wall(e);
}

/* ---------------------------------------------------------------- tests */

/* ok -> pending -> firing -> (repeat) -> resolving -> resolved -> ok, with the notices */
static void test_full_cycle(void **unused)
{
	struct env e;
	int64_t since, fired, told, cleared, resolved;

	(void)unused;
	env_open(&e, FOR_MS);
	assert_state(&e, "a", KL_ALERT_OK);
	assert_null(record(&e, "a"));

	up(&e, "a");
	since = wall(&e);
	assert_state(&e, "a", KL_ALERT_PENDING);
	assert_record(&e, "a", "\"state\":\"pending\"");
	assert_record_num(&e, "a", "since", since);
	assert_record(&e, "a", "\"notified\":\"none\"");
	assert_record(&e, "a", "\"summary\":\"1 Pod(s) in CrashLoopBackOff\"");
	assert_record(&e, "a", "\"to\":[{\"notifier\":\"log\",\"notified\":\"none\",\"at\":0}]");

	/* reported again, still active: nothing moves the deadline */
	step(&e, FOR_MS / 2);
	kl_alerts_update(e.alerts, "a", true, "2 Pod(s) in CrashLoopBackOff");
	step(&e, FOR_MS / 2 - 1);
	assert_state(&e, "a", KL_ALERT_PENDING);
	assert_int_equal(e.n, 0);

	step(&e, 1);
	fired = wall(&e);
	assert_int_equal(fired, since + FOR_MS);
	assert_state(&e, "a", KL_ALERT_FIRING);
	assert_record(&e, "a", "\"state\":\"firing\"");
	assert_record(&e, "a", "\"notified\":\"none\""); /* the notice waits for the flush */
	assert_int_equal(e.n, 0);

	step(&e, FLUSH_MS);
	told = wall(&e);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.seen[0].ns, "a");
	assert_false(e.seen[0].resolved);
	assert_false(e.seen[0].repeat);
	assert_int_equal(e.seen[0].starts_at, since / 1000);
	assert_int_equal(e.seen[0].ends_at, 0);
	assert_string_equal(e.seen[0].summary, "2 Pod(s) in CrashLoopBackOff");
	assert_record(&e, "a", "\"notified\":\"firing\"");
	assert_record_num(&e, "a", "notifiedAt", told);

	/* one repeat_interval after it was told, with the next flush */
	step(&e, REPEAT_MS + FLUSH_MS);
	assert_int_equal(e.n, 2);
	assert_true(e.seen[1].repeat);
	assert_false(e.seen[1].resolved);
	assert_int_equal(e.seen[1].starts_at, since / 1000);
	assert_int_equal(e.seen[1].sent_ms, told + REPEAT_MS + FLUSH_MS);

	down(&e, "a");
	cleared = wall(&e);
	assert_state(&e, "a", KL_ALERT_RESOLVING);
	assert_record(&e, "a", "\"state\":\"resolving\"");
	assert_record_num(&e, "a", "cleared", cleared);
	step(&e, FOR_MS - 1);
	assert_state(&e, "a", KL_ALERT_RESOLVING);
	assert_int_equal(e.n, 2);

	e.hold = true; /* keep the resolved notice in prepare to see RESOLVED */
	step(&e, 1);
	resolved = wall(&e);
	assert_state(&e, "a", KL_ALERT_RESOLVED);
	assert_record(&e, "a", "\"state\":\"resolved\"");
	assert_record_num(&e, "a", "cleared", resolved);
	step(&e, FLUSH_MS);
	assert_int_equal(e.n, 3);
	assert_true(e.seen[2].resolved);
	assert_false(e.seen[2].repeat);
	assert_int_equal(e.seen[2].starts_at, since / 1000);
	assert_int_equal(e.seen[2].ends_at, resolved / 1000);
	assert_string_equal(e.seen[2].summary, "0 Pod(s) in CrashLoopBackOff");
	assert_state(&e, "a", KL_ALERT_RESOLVED);

	e.hold = false;
	kl_alerts_send(e.held);
	e.held = NULL;
	settle(&e);
	/* told resolved: the alert is over and its record deleted */
	assert_state(&e, "a", KL_ALERT_OK);
	assert_null(record(&e, "a"));
	step(&e, 10 * REPEAT_MS);
	assert_int_equal(e.n, 3);
	env_close(&e);
}

/* Re-notified every repeat_interval while firing; never while resolving. */
static void test_repeat_interval(void **unused)
{
	struct env e;
	int64_t told;
	int i;

	(void)unused;
	env_open(&e, FOR_MS);
	told = fire_told(&e, "a");
	/* each repeat is due repeat_interval after the last was told, and goes with the
	 * flush that follows */
	for (i = 1; i <= 3; i++) {
		step(&e, REPEAT_MS + FLUSH_MS - 1);
		assert_int_equal(e.n, (size_t)i);
		step(&e, 1);
		assert_int_equal(e.n, (size_t)i + 1);
		assert_true(e.seen[i].repeat);
		assert_int_equal(e.seen[i].sent_ms, told + i * (int64_t)(REPEAT_MS + FLUSH_MS));
		assert_record_num(&e, "a", "notifiedAt",
				  told + i * (int64_t)(REPEAT_MS + FLUSH_MS));
	}
	/* gone just before the next repeat: no repeat while resolving */
	step(&e, REPEAT_MS - FOR_MS / 2);
	down(&e, "a");
	step(&e, FOR_MS - 1);
	assert_int_equal(e.n, 4);
	assert_state(&e, "a", KL_ALERT_RESOLVING);
	step(&e, 1 + FLUSH_MS);
	assert_int_equal(e.n, 5);
	assert_true(e.seen[4].resolved);
	assert_state(&e, "a", KL_ALERT_OK);
	env_close(&e);
}

/* Gone and back within `for` while pending: no alert, and `for` starts again. */
static void test_flapping_while_pending(void **unused)
{
	struct env e;
	int64_t since;

	(void)unused;
	env_open(&e, FOR_MS);
	up(&e, "a");
	step(&e, FOR_MS - 1000);
	down(&e, "a");
	assert_state(&e, "a", KL_ALERT_OK);
	assert_null(record(&e, "a")); /* pending -> ok forgets the record */
	step(&e, 500);
	up(&e, "a");
	since = wall(&e);
	assert_state(&e, "a", KL_ALERT_PENDING);
	assert_record_num(&e, "a", "since", since);
	/* the first start's deadline has passed: it must not fire the new one */
	step(&e, FOR_MS - 1);
	assert_state(&e, "a", KL_ALERT_PENDING);
	assert_int_equal(e.n, 0);
	step(&e, 1 + FLUSH_MS);
	assert_state(&e, "a", KL_ALERT_FIRING);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.seen[0].starts_at, since / 1000);
	env_close(&e);
}

/* Gone and back within `for` while resolving: still firing, nothing sent. */
static void test_flapping_while_resolving(void **unused)
{
	struct env e;
	int64_t told, cleared;

	(void)unused;
	env_open(&e, FOR_MS);
	told = fire_told(&e, "a");
	down(&e, "a");
	assert_state(&e, "a", KL_ALERT_RESOLVING);
	step(&e, FOR_MS - 1);
	up(&e, "a");
	assert_state(&e, "a", KL_ALERT_FIRING);
	assert_record(&e, "a", "\"state\":\"firing\"");
	assert_record_num(&e, "a", "cleared", 0);
	/* the resolving deadline passes harmlessly; no notice for the flap */
	step(&e, FOR_MS);
	assert_state(&e, "a", KL_ALERT_FIRING);
	assert_int_equal(e.n, 1);
	/* the repeat keeps its time, counted from when it was told */
	step(&e, (uint64_t)(told + REPEAT_MS - wall(&e)) - 1);
	assert_int_equal(e.n, 1);
	step(&e, 1 + FLUSH_MS);
	assert_int_equal(e.n, 2);
	assert_true(e.seen[1].repeat);
	/* gone again for a full `for`: resolved */
	down(&e, "a");
	cleared = wall(&e);
	step(&e, FOR_MS + FLUSH_MS);
	assert_int_equal(e.n, 3);
	assert_true(e.seen[2].resolved);
	assert_int_equal(e.seen[2].ends_at, (cleared + FOR_MS) / 1000);
	assert_state(&e, "a", KL_ALERT_OK);
	env_close(&e);
}

/* Back before the resolved notice went out: resolved -> pending, a new alert. */
static void test_back_while_resolved(void **unused)
{
	struct env e;
	int64_t since;

	(void)unused;
	env_open(&e, FOR_MS);
	fire_told(&e, "a");
	down(&e, "a");
	e.hold = true;
	step(&e, FOR_MS + FLUSH_MS);
	assert_int_equal(e.n, 2);
	assert_true(e.seen[1].resolved);
	assert_state(&e, "a", KL_ALERT_RESOLVED);

	kl_alerts_update(e.alerts, "a", true, "3 Pod(s) in CrashLoopBackOff");
	since = wall(&e);
	assert_state(&e, "a", KL_ALERT_PENDING);
	assert_record(&e, "a", "\"state\":\"pending\"");
	assert_record_num(&e, "a", "since", since);
	e.hold = false;
	kl_alerts_send(e.held); /* the resolved notice is delivered late */
	e.held = NULL;
	settle(&e);
	assert_state(&e, "a", KL_ALERT_PENDING);
	assert_record(&e, "a", "\"notified\":\"resolved\"");
	step(&e, FOR_MS + FLUSH_MS);
	assert_state(&e, "a", KL_ALERT_FIRING);
	assert_int_equal(e.n, 3);
	assert_false(e.seen[2].resolved);
	assert_false(e.seen[2].repeat);
	assert_int_equal(e.seen[2].starts_at, since / 1000);
	assert_string_equal(e.seen[2].summary, "3 Pod(s) in CrashLoopBackOff");
	env_close(&e);
}

/* Fired and gone before anyone was told: resolved with nothing to say, forgotten. */
static void test_resolve_untold(void **unused)
{
	struct env e;

	(void)unused;
	env_open(&e, 0);
	e.hold = true; /* the firing notice stays in prepare */
	up(&e, "a");
	assert_state(&e, "a", KL_ALERT_FIRING); /* for: 0 */
	step(&e, FLUSH_MS);
	assert_int_equal(e.n, 1);
	down(&e, "a");
	/* for: 0, resolved at once; the firing notice is still out, so it is kept */
	assert_state(&e, "a", KL_ALERT_RESOLVED);
	e.hold = false;
	kl_alerts_send(e.held);
	e.held = NULL;
	settle(&e); /* told firing: now it needs the resolved notice */
	step(&e, FLUSH_MS);
	assert_int_equal(e.n, 2);
	assert_true(e.seen[1].resolved);
	assert_state(&e, "a", KL_ALERT_OK);
	assert_null(record(&e, "a"));

	/* pending and gone with for > 0 is covered above; here firing and gone before
	 * the flush: nobody heard it, nobody hears it resolve */
	up(&e, "b");
	down(&e, "b");
	assert_state(&e, "b", KL_ALERT_OK);
	assert_null(record(&e, "b"));
	step(&e, FLUSH_MS);
	assert_int_equal(e.n, 2);
	env_close(&e);
}

/* A namespace not reported after the sync is inactive. */
static void test_synced(void **unused)
{
	struct env e;

	(void)unused;
	env_open(&e, FOR_MS);
	up(&e, "a");
	up(&e, "b");
	step(&e, FOR_MS + FLUSH_MS);
	assert_int_equal(e.n, 2);
	engine_stop(&e);
	/* the next leader reports only b: a is gone */
	engine_new(&e, FOR_MS);
	assert_state(&e, "a", KL_ALERT_FIRING);
	up(&e, "b");
	kl_alerts_synced(e.alerts);
	assert_state(&e, "a", KL_ALERT_RESOLVING);
	assert_state(&e, "b", KL_ALERT_FIRING);
	step(&e, FOR_MS + FLUSH_MS);
	assert_int_equal(e.n, 3);
	assert_string_equal(e.seen[2].ns, "a");
	assert_true(e.seen[2].resolved);
	env_close(&e);
}

/*
 * What is persisted is enough for the next engine (a restart, a new leader):
 * a delivered firing notice is not sent again and its repeat keeps its time; an
 * undelivered one is sent at once; pending keeps its `for` deadline.
 */
static void test_restore(void **unused)
{
	struct env e;
	int64_t told, since_b, since_d;

	(void)unused;
	env_open(&e, FOR_MS);
	told = fire_told(&e, "a");
	kl_alerts_update(e.alerts, "b", true, "2 Pod(s) in CrashLoopBackOff");
	since_b = wall(&e);
	e.hold = true;
	step(&e, FOR_MS + FLUSH_MS); /* b fires; its notice stays in prepare */
	assert_int_equal(e.n, 2);
	assert_string_equal(e.seen[1].ns, "b");
	assert_record(&e, "b", "\"state\":\"firing\"");
	assert_record(&e, "b", "\"notified\":\"none\"");
	kl_alerts_update(e.alerts, "d", true, "4 Pod(s) in CrashLoopBackOff");
	since_d = wall(&e);
	step(&e, FOR_MS / 2);

	/* the leader stops before b's delivery is reported: on record as untold */
	e.hold = false;
	kl_alerts_send(e.held);
	e.held = NULL;
	engine_stop(&e);
	step(&e, 1000);

	engine_new(&e, FOR_MS);
	assert_state(&e, "a", KL_ALERT_FIRING);
	assert_state(&e, "b", KL_ALERT_FIRING);
	assert_state(&e, "d", KL_ALERT_PENDING);
	step(&e, FLUSH_MS);
	/* b is told at once; a was told already */
	assert_int_equal(e.n, 3);
	assert_string_equal(e.seen[2].ns, "b");
	assert_false(e.seen[2].repeat);
	assert_int_equal(e.seen[2].starts_at, since_b / 1000);
	assert_record(&e, "b", "\"notified\":\"firing\"");
	/* d keeps its `for` deadline */
	step(&e, (uint64_t)(since_d + FOR_MS - wall(&e)) - 1);
	assert_state(&e, "d", KL_ALERT_PENDING);
	step(&e, 1 + FLUSH_MS);
	assert_state(&e, "d", KL_ALERT_FIRING);
	assert_int_equal(e.n, 4);
	assert_string_equal(e.seen[3].ns, "d");
	assert_int_equal(e.seen[3].starts_at, since_d / 1000);
	/* a's repeat comes one repeat_interval after it was first told */
	step(&e, (uint64_t)(told + REPEAT_MS - wall(&e)) - 1);
	assert_int_equal(e.n, 4);
	step(&e, 1 + FLUSH_MS);
	assert_int_equal(e.n, 5);
	assert_string_equal(e.seen[4].ns, "a");
	assert_true(e.seen[4].repeat);
	env_close(&e);
}


/* ---------------------------------------------------------------- silences */

#define HOUR_MS 3600000LL

static void silence(struct env *e, const char *ns, const char *controller, int64_t ms)
{
	assert_int_equal(kl_silences_set(e->ctx.silences, ns, controller, "alex", "fixing",
					 wall(e) + ms),
			 0);
}

/*
 * Told, then silenced across a due repeat: nothing while silenced; exactly one notice
 * when it ends, then the repeats go on from there.
 */
static void test_silence_holds_repeats(void **unused)
{
	struct env e;
	int64_t ended;

	(void)unused;
	env_open(&e, FOR_MS);
	fire_told(&e, "a");
	silence(&e, "a", NULL, 2 * HOUR_MS);
	assert_record(&e, "a", "\"held\":true");
	assert_non_null(kl_state_get(e.ctx.state, "silence.a"));
	step(&e, 2 * HOUR_MS - 1);
	assert_int_equal(e.n, 1);
	step(&e, 1);
	ended = wall(&e);
	step(&e, FLUSH_MS);
	assert_int_equal(e.n, 2);
	assert_true(e.seen[1].repeat);
	assert_null(kl_state_get(e.ctx.state, "silence.a"));
	assert_null(strstr(record(&e, "a"), "\"held\""));
	step(&e, 10 * FLUSH_MS);
	assert_int_equal(e.n, 2); /* once */
	step(&e, (uint64_t)(ended + REPEAT_MS - wall(&e)) + 2 * FLUSH_MS);
	assert_int_equal(e.n, 3);
	env_close(&e);
}

/* Silenced before it fires: the first notice waits for the end of the silence. */
static void test_silence_before_firing(void **unused)
{
	struct env e;

	(void)unused;
	env_open(&e, FOR_MS);
	silence(&e, "a", "crash-watcher", HOUR_MS);
	silence(&e, "b", "notready-watcher", HOUR_MS); /* another controller's: no effect */
	up(&e, "a");
	up(&e, "b");
	step(&e, FOR_MS + FLUSH_MS);
	assert_state(&e, "a", KL_ALERT_FIRING);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.seen[0].ns, "b");
	assert_record(&e, "a", "\"held\":true");
	assert_int_equal(kl_silences_end(e.ctx.silences, "a", NULL), 1);
	step(&e, FLUSH_MS);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.seen[1].ns, "a");
	assert_false(e.seen[1].repeat);
	assert_false(e.seen[1].resolved);
	env_close(&e);
}

/*
 * Resolved while silenced: a resolved notice at the end only for the alert whose firing
 * notice went out before the silence; one that fired and went within it says nothing.
 */
static void test_silence_resolved_meanwhile(void **unused)
{
	struct env e;

	(void)unused;
	env_open(&e, FOR_MS);
	fire_told(&e, "a");
	silence(&e, "a", NULL, HOUR_MS);
	silence(&e, "b", NULL, HOUR_MS);
	up(&e, "b");
	step(&e, FOR_MS + FLUSH_MS);
	assert_state(&e, "b", KL_ALERT_FIRING);
	down(&e, "a");
	down(&e, "b");
	step(&e, FOR_MS + FLUSH_MS);
	assert_state(&e, "a", KL_ALERT_RESOLVED); /* waits to say it */
	assert_state(&e, "b", KL_ALERT_OK);	   /* nobody heard of it */
	assert_null(record(&e, "b"));
	assert_int_equal(e.n, 1);
	step(&e, HOUR_MS);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.seen[1].ns, "a");
	assert_true(e.seen[1].resolved);
	assert_state(&e, "a", KL_ALERT_OK);
	env_close(&e);
}

/*
 * The silence is persisted; it ends while no engine (no replica) runs: the next start
 * drops it and tells what was held back, once.
 */
static void test_silence_expires_while_away(void **unused)
{
	struct env e;
	size_t n;

	(void)unused;
	env_open(&e, FOR_MS);
	fire_told(&e, "a");
	silence(&e, "a", NULL, HOUR_MS / 2);
	engine_stop(&e);
	kl_silences_close(e.ctx.silences, on_stopped, &e);
	uv_run(&e.loop, UV_RUN_DEFAULT);
	step(&e, HOUR_MS / 4);

	/* back within the silence: it is read again and still holds */
	e.ctx.silences = kl_silences_new(&e.ctx);
	assert_non_null(e.ctx.silences);
	assert_int_equal(kl_silences_start(e.ctx.silences), 0);
	assert_true(kl_silences_until(e.ctx.silences, "crash-watcher", "a") > wall(&e));
	engine_new(&e, FOR_MS);
	step(&e, FLUSH_MS);
	assert_int_equal(e.n, 1);
	engine_stop(&e);
	kl_silences_close(e.ctx.silences, on_stopped, &e);
	uv_run(&e.loop, UV_RUN_DEFAULT);
	step(&e, HOUR_MS / 2); /* it ends now, with nobody running */

	e.ctx.silences = kl_silences_new(&e.ctx);
	assert_non_null(e.ctx.silences);
	assert_int_equal(kl_silences_start(e.ctx.silences), 0);
	assert_null(kl_state_get(e.ctx.state, "silence.a"));
	engine_new(&e, FOR_MS);
	n = e.n;
	step(&e, FLUSH_MS);
	assert_int_equal(e.n, n + 1);
	assert_true(e.seen[n].repeat);
	step(&e, 10 * FLUSH_MS);
	assert_int_equal(e.n, n + 1);
	env_close(&e);
}

/* Setting again replaces; the bound; the "alerts" listing. */
static void test_silence_store(void **unused)
{
	struct env e;
	struct kl_buf b;
	char ns[16];
	int i;

	(void)unused;
	env_open(&e, FOR_MS);
	fire_told(&e, "a");
	silence(&e, "a", NULL, HOUR_MS);
	silence(&e, "a", NULL, 2 * HOUR_MS);
	assert_int_equal(kl_silences_until(e.ctx.silences, "crash-watcher", "a"),
			 wall(&e) + 2 * HOUR_MS);
	kl_buf_init(&b);
	kl_silences_list_alerts(e.ctx.silences, "a", &b);
	assert_non_null(kl_buf_str(&b));
	assert_non_null(strstr(b.p, "a KloompasPodCrashLooping firing since 2025-11-24T16:00"));
	assert_non_null(strstr(b.p, "1 Pod(s) in CrashLoopBackOff (silenced until "));
	kl_buf_free(&b);
	kl_buf_init(&b);
	kl_silences_list_alerts(e.ctx.silences, "other", &b);
	assert_true(!kl_buf_str(&b) || !b.len);
	kl_buf_free(&b);
	for (i = 1; i < KL_SILENCES_MAX; i++) {
		snprintf(ns, sizeof(ns), "n%d", i);
		silence(&e, ns, NULL, HOUR_MS);
	}
	assert_int_equal(kl_silences_set(e.ctx.silences, "full", NULL, "alex", "", wall(&e) + 1),
			 -ENOSPC);
	assert_int_equal(kl_silences_end(e.ctx.silences, "a", NULL), 1);
	assert_int_equal(kl_silences_end(e.ctx.silences, "a", NULL), 0);
	env_close(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_cycle),
		cmocka_unit_test(test_repeat_interval),
		cmocka_unit_test(test_flapping_while_pending),
		cmocka_unit_test(test_flapping_while_resolving),
		cmocka_unit_test(test_back_while_resolved),
		cmocka_unit_test(test_resolve_untold),
		cmocka_unit_test(test_synced),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_silence_holds_repeats),
		cmocka_unit_test(test_silence_before_firing),
		cmocka_unit_test(test_silence_resolved_meanwhile),
		cmocka_unit_test(test_silence_expires_while_away),
		cmocka_unit_test(test_silence_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
