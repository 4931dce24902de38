/*
 * test/unit/test_config.c - the Kloompas config file: defaults, the SPEC example,
 * and every check beyond types (notifiers, routes, chat-ops rules, API tokens).
 *
 * Each case writes its config (and secret files) into a fresh temporary folder,
 * loads it, and compares the whole "FILE:LINE: message" an operator would see.
 * Secret values are checked to stay out of those messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "notify/internal.h" /* the drivers' conf structs */
#include "notify/notify.h"

struct fx {
	struct kl_config c;
	struct kl_error err;
	char dir[64];
	char path[128]; /* dir/k.yaml */
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/kl-test-config-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/k.yaml", fx->dir);
	kl_config_init(&fx->c);
	*state = fx;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	kl_config_free(&fx->c);
	nftw(fx->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static void write_file(struct fx *fx, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Writes yaml as dir/k.yaml and loads it into fx->c. */
static int load(struct fx *fx, const char *yaml)
{
	int rc;

	write_file(fx, "k.yaml", yaml);
	kl_config_free(&fx->c);
	kl_error_clear(&fx->err);
	rc = kl_config_load(&fx->c, fx->path, &fx->err);
	/* the notifier types are notify/'s: checked right after the load, as main does */
	if (!rc)
		rc = kl_notifiers_configure(&fx->c, &fx->err);
	if (rc)
		kl_config_free(&fx->c);
	return rc;
}

static void assert_err(const struct kl_error *err, const char *want)
{
	char buf[1024];

	assert_true(kl_error_isset(err));
	assert_string_equal(kl_error_str(err, buf, sizeof(buf)), want);
}

/* Expects the load to fail with "DIR/k.yaml:" + want, and the config freed. */
static void assert_load_err(struct fx *fx, const char *yaml, int code, const char *want)
{
	char full[1024];

	assert_int_equal(load(fx, yaml), code);
	snprintf(full, sizeof(full), "%s:%s", fx->path, want);
	assert_err(&fx->err, full);
	assert_null(fx->c.path);
	assert_null(fx->c.arena.head);
	assert_int_equal(fx->c.notifiers.n, 0);
}

static const char base_notifiers[] = "notifiers:\n"
				     "  - name: slack-prod\n"
				     "    type: slack\n"
				     "    url: https://hooks.example/T/B/secretpart\n"
				     "  - name: am\n"
				     "    type: alertmanager\n"
				     "    url: http://alertmanager:9093\n";

/* ------------------------------------------------------------------------ */
/* Loading                                                                   */
/* ------------------------------------------------------------------------ */

static void test_defaults(void **state)
{
	struct kl_config c;

	kl_config_init(&c);
	assert_null(c.path);
	assert_string_equal(c.cluster, "kubernetes");
	assert_string_equal(c.team_annotation, "kloompas.io/team");
	assert_int_equal(c.notifiers.n, 0);
	assert_int_equal(c.routes.n, 0);
	assert_null(c.controllers);
	assert_null(c.chatops.slack_signing_secret);
	assert_null(c.chatops.api_tokens_text);
	assert_int_equal(c.chatops.ntokens, 0);
	assert_int_equal(c.chatops.allow.n, 0);
	assert_null(kl_config_notifier(&c, "x"));
	kl_config_free(&c);
	kl_config_free(&c);
}

static void test_empty_file(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(load(fx, "# nothing configured\n"), 0);
	assert_string_equal(fx->c.path, fx->path);
	assert_string_equal(fx->c.cluster, "kubernetes");
	assert_string_equal(fx->c.team_annotation, "kloompas.io/team");
	assert_null(fx->c.controllers);
	kl_config_free(&fx->c);
	kl_config_free(&fx->c);
}

static void test_missing_file(void **state)
{
	struct fx *fx = *state;
	char want[512];

	snprintf(want, sizeof(want), "%s/nope.yaml: cannot open: No such file or directory",
		 fx->dir);
	snprintf(fx->path, sizeof(fx->path), "%s/nope.yaml", fx->dir);
	kl_error_clear(&fx->err);
	assert_int_equal(kl_config_load(&fx->c, fx->path, &fx->err), -ENOENT);
	assert_err(&fx->err, want);
	assert_null(fx->c.cluster);
	kl_config_free(&fx->c);
}

static void check_example(const struct kl_config *c)
{
	const struct kl_notifier_conf *n;
	const struct kl_route_conf *r;
	const struct kl_allow_conf *a;
	const struct kl_conf_node *ctl;

	assert_string_equal(c->cluster, "PRODUCTION");
	assert_string_equal(c->team_annotation, "kloompas.io/team");

	assert_true(c->notifiers.n >= 2);
	n = kl_config_notifier(c, "slack-prod");
	assert_non_null(n);
	assert_string_equal(n->type_name, "slack");
	assert_string_equal(n->type_name, "slack");
	assert_true(strncmp(n->url, "https://hooks.slack.com/", 24) == 0);
	n = kl_config_notifier(c, "am");
	assert_non_null(n);
	assert_string_equal(n->type_name, "alertmanager");
	assert_string_equal(n->url, "http://alertmanager:9093");
	assert_null(kl_config_notifier(c, "nope"));

	assert_true(c->routes.n >= 1);
	r = c->routes.items;
	assert_int_equal(r[0].namespaces.n, 1);
	assert_string_equal(r[0].namespaces.v[0], "moc-*");
	assert_int_equal(r[0].notifiers.n, 2);
	assert_string_equal(r[0].notifiers.v[0], "slack-prod");
	assert_string_equal(r[0].notifiers.v[1], "am");

	ctl = c->controllers;
	assert_non_null(ctl);
	assert_int_equal(ctl->kind, KL_CONF_MAP);
	assert_int_equal(ctl->nkids, 3);
	assert_string_equal(kl_conf_get(kl_conf_get(ctl, "crash-watcher"), "for")->value, "30s");
	assert_string_equal(
		kl_conf_get(kl_conf_get(ctl, "notready-watcher"), "threshold_percent")->value,
		"30");
	assert_non_null(kl_conf_get(ctl, "replica-enforcer"));

	assert_non_null(c->chatops.slack_signing_secret);
	assert_non_null(c->chatops.api_tokens_text);
	assert_int_equal(c->chatops.allow.n, 1);
	a = c->chatops.allow.items;
	assert_int_equal(a->users.n, 1);
	assert_string_equal(a->users.v[0], "alex.guerra");
	assert_int_equal(a->namespaces.n, 1);
	assert_string_equal(a->namespaces.v[0], "moc-*");
	assert_int_equal(a->max_replicas, 20);
	assert_true(a->has_max);
}

/* The example exactly as SPEC.md prints it, with /etc/kloompas/ moved to a temp folder. */
static void test_spec_example(void **state)
{
	static const char spec[] =
		"cluster: PRODUCTION               # shown in every message\n"
		"team_annotation: kloompas.io/team # namespace annotation (or label) naming the "
		"owner, e.g. \"@squad-merchandise\"\n"
		"notifiers:\n"
		"  - name: slack-prod\n"
		"    type: slack                   # slack | webhook | alertmanager | log\n"
		"    url_file: /etc/kloompas/slack-url   # or url:\n"
		"  - name: am\n"
		"    type: alertmanager\n"
		"    url: http://alertmanager:9093\n"
		"routes:                            # first match wins; no route = the log only\n"
		"  - namespaces: [\"moc-*\"]\n"
		"    notifiers: [slack-prod, am]\n"
		"controllers:\n"
		"  crash-watcher:    { reasons: [CrashLoopBackOff], for: 30s, repeat_interval: 1h, "
		"log_lines: 20 }\n"
		"  notready-watcher: { threshold_percent: 30, min_pods: 3, min_age: 2m, for: 2m, "
		"repeat_interval: 1h }\n"
		"  replica-enforcer: { max_temporary: 24h }\n"
		"chatops:\n"
		"  slack_signing_secret_file: /etc/kloompas/slack-signing-secret\n"
		"  api_tokens_file: /etc/kloompas/api-tokens      # one \"token user\" per line\n"
		"  allow:\n"
		"    - users: [alex.guerra]\n"
		"      namespaces: [\"moc-*\"]\n"
		"      max_replicas: 20\n";
	struct fx *fx = *state;
	char *yaml, *p, *out;
	size_t dlen = strlen(fx->dir);

	/* replace each "/etc/kloompas" by the temporary folder */
	yaml = malloc(sizeof(spec) + 3 * dlen);
	assert_non_null(yaml);
	out = yaml;
	for (p = (char *)spec; *p;) {
		if (!strncmp(p, "/etc/kloompas", 13)) {
			memcpy(out, fx->dir, dlen);
			out += dlen;
			p += 13;
		} else {
			*out++ = *p++;
		}
	}
	*out = '\0';
	write_file(fx, "slack-url", "https://hooks.slack.com/services/T0/B0/abc\n");
	write_file(fx, "slack-signing-secret", "8f742231b10e8888abcd99yyyzzz85a5\n");
	write_file(fx, "api-tokens", "tok-1 alex.guerra\n");
	assert_int_equal(load(fx, yaml), 0);
	free(yaml);
	check_example(&fx->c);
	assert_int_equal(kl_config_notifier(&fx->c, "slack-prod")->line, 4);
	assert_int_equal(kl_config_notifier(&fx->c, "am")->line, 7);
	assert_int_equal(fx->c.notifiers.n, 2);
	assert_int_equal(fx->c.routes.n, 1);
	assert_string_equal(fx->c.chatops.slack_signing_secret, "8f742231b10e8888abcd99yyyzzz85a5");
	assert_int_equal(fx->c.chatops.ntokens, 1);
	assert_string_equal(fx->c.chatops.tokens[0].token, "tok-1");
	assert_string_equal(fx->c.chatops.tokens[0].user, "alex.guerra");
}

/* test/data/config/example.yaml: the same with relative secret paths. */
static void test_data_example(void **state)
{
	struct fx *fx = *state;
	const char *data = getenv("KL_TEST_DATA");
	const struct kl_notifier_conf *n;
	char path[512];

	assert_non_null(data);
	snprintf(path, sizeof(path), "%s/config/example.yaml", data);
	assert_int_equal(kl_config_load(&fx->c, path, &fx->err), 0);
	assert_int_equal(kl_notifiers_configure(&fx->c, &fx->err), 0);
	check_example(&fx->c);
	assert_int_equal(kl_config_notifier(&fx->c, "slack-prod")->line, 6);
	assert_int_equal(kl_config_notifier(&fx->c, "am")->line, 9);
	assert_int_equal(fx->c.notifiers.n, 3);
	n = kl_config_notifier(&fx->c, "audit");
	assert_non_null(n);
	assert_string_equal(n->type_name, "log");
	assert_null(n->url);
	assert_int_equal(fx->c.routes.n, 2);
	assert_string_equal(fx->c.chatops.slack_signing_secret, "test-signing-secret-not-real");
	assert_int_equal(fx->c.chatops.ntokens, 2);
	assert_string_equal(fx->c.chatops.tokens[0].token, "test-token-alex");
	assert_string_equal(fx->c.chatops.tokens[0].user, "alex.guerra");
	assert_string_equal(fx->c.chatops.tokens[1].token, "test-token-ci");
	assert_string_equal(fx->c.chatops.tokens[1].user, "ci-bot");
}

static void test_load_twice_and_free(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(load(fx, "cluster: a\n"), 0);
	assert_string_equal(fx->c.cluster, "a");
	assert_int_equal(load(fx, "cluster: b\n"), 0);
	assert_string_equal(fx->c.cluster, "b");
	kl_config_free(&fx->c);
	kl_config_free(&fx->c);
	assert_int_equal(load(fx, "cluster: [b]\n"), -EINVAL);
	kl_config_free(&fx->c);
}

/* ------------------------------------------------------------------------ */
/* Types and unknown keys at every level                                     */
/* ------------------------------------------------------------------------ */

static void test_unknown_keys(void **state)
{
	struct fx *fx = *state;

	assert_load_err(fx, "cluster: a\nclustr: b\n", -EINVAL, "2: clustr: unknown key");
	assert_load_err(fx,
			"notifiers:\n"
			"  - name: a\n"
			"    type: log\n"
			"    colour: red\n",
			-EINVAL, "4: notifiers[0].colour: unknown key");
	assert_load_err(fx,
			"routes:\n"
			"  - namespaces: [a]\n"
			"    notifier: [x]\n",
			-EINVAL, "3: routes[0].notifier: unknown key");
	assert_load_err(fx, "chatops:\n  alow: []\n", -EINVAL, "2: chatops.alow: unknown key");
	assert_load_err(fx,
			"chatops:\n"
			"  allow:\n"
			"    - users: [a]\n"
			"      namespaces: [b]\n"
			"      max_replica: 3\n",
			-EINVAL, "5: chatops.allow[0].max_replica: unknown key");
}

static void test_types(void **state)
{
	struct fx *fx = *state;

	assert_load_err(fx, "cluster: ~\n", -EINVAL, "1: cluster: expected a string, got null");
	assert_load_err(fx, "cluster: \"\"\n", -EINVAL, "1: cluster: must not be empty");
	assert_load_err(fx, "team_annotation: ''\n", -EINVAL,
			"1: team_annotation: must not be empty");
	assert_load_err(fx, "notifiers: {a: 1}\n", -EINVAL,
			"1: notifiers: expected a list of maps, got a map");
	assert_load_err(fx, "notifiers: [slack]\n", -EINVAL,
			"1: notifiers[0]: expected a map, got \"slack\"");
	assert_load_err(fx, "chatops: [1]\n", -EINVAL, "1: chatops: expected a map, got a list");
	assert_load_err(fx,
			"chatops:\n"
			"  allow:\n"
			"    - users: [a]\n"
			"      namespaces: [b]\n"
			"      max_replicas: -1\n",
			-EINVAL,
			"5: chatops.allow[0].max_replicas: expected a non-negative integer, "
			"got \"-1\"");
	assert_load_err(fx,
			"routes:\n"
			"  - namespaces: [moc-*, \"moc-[\"]\n"
			"    notifiers: [x]\n",
			-EINVAL,
			"2: routes[0].namespaces[1]: bad glob \"moc-[\": unclosed bracket");
	assert_load_err(fx, "routes:\n  - namespaces: moc-*\n", -EINVAL,
			"2: routes[0].namespaces: expected a list of globs, got \"moc-*\"");
}

static void test_controllers_section(void **state)
{
	struct fx *fx = *state;

	assert_load_err(fx, "controllers: [crash-watcher]\n", -EINVAL,
			"1: controllers: expected a map of controller names, got a list");
	assert_load_err(fx, "controllers: crash-watcher\n", -EINVAL,
			"1: controllers: expected a map of controller names, got a string");
	assert_int_equal(load(fx, "controllers:\n"), 0);
	assert_null(fx->c.controllers);
	assert_int_equal(load(fx, "controllers: {}\n"), 0);
	assert_non_null(fx->c.controllers);
	assert_int_equal(fx->c.controllers->nkids, 0);
	/* not bound here: the controllers check their own keys */
	assert_int_equal(load(fx, "controllers:\n  anything: {for: 30x}\n"), 0);
	assert_int_equal(fx->c.controllers->nkids, 1);
	assert_string_equal(fx->c.controllers->kids[0].key, "anything");
	assert_int_equal(fx->c.controllers->kids[0].key_line, 2);
	/* and it does not hide unknown keys next to it */
	assert_load_err(fx, "controllers: {}\ncontroler: {}\n", -EINVAL,
			"2: controler: unknown key");
}

/* ------------------------------------------------------------------------ */
/* Notifiers                                                                 */
/* ------------------------------------------------------------------------ */

static void test_notifier_name(void **state)
{
	struct fx *fx = *state;

	assert_load_err(fx,
			"notifiers:\n"
			"  - type: log\n",
			-EINVAL, "2: notifiers[0]: name is required");
	assert_load_err(fx,
			"notifiers:\n"
			"  - name: ''\n"
			"    type: log\n",
			-EINVAL, "2: notifiers[0]: name is required");
	assert_load_err(fx,
			"cluster: x\n"
			"notifiers:\n"
			"  - name: log\n"
			"    type: log\n"
			"  - name: slack-prod\n"
			"    type: log\n"
			"  - type: log\n"
			"    name: slack-prod\n",
			-EINVAL,
			"7: notifiers[2]: duplicate notifier name \"slack-prod\" "
			"(first at line 5)");
}

static void test_notifier_type(void **state)
{
	struct fx *fx = *state;

	assert_load_err(fx,
			"notifiers:\n"
			"  - name: a\n"
			"    url: https://x.example\n",
			-EINVAL,
			"2: notifiers[0]: type is required (slack, webhook, alertmanager, pagerduty, "
			"teams, email or log)");
	assert_load_err(fx,
			"notifiers:\n"
			"  - name: a\n"
			"    type: sms\n",
			-EINVAL,
			"3: notifiers[0].type: unknown notifier type \"sms\" "
			"(want slack, webhook, alertmanager, pagerduty, teams, email or log)");
	assert_int_equal(load(fx,
			      "notifiers:\n"
			      "  - {name: w, type: webhook, url: 'https://h.example/x'}\n"
			      "  - {name: l, type: log}\n"),
			 0);
	assert_string_equal(kl_config_notifier(&fx->c, "w")->type_name, "webhook");
	assert_int_equal(kl_config_notifier(&fx->c, "w")->line, 2);
	assert_string_equal(kl_config_notifier(&fx->c, "l")->type_name, "log");
	assert_int_equal(kl_config_notifier(&fx->c, "l")->line, 3);
}

static void test_notifier_url(void **state)
{
	struct fx *fx = *state;
	char want[512];

	assert_load_err(fx,
			"notifiers:\n"
			"  - name: a\n"
			"    type: slack\n",
			-EINVAL, "2: notifiers[0]: url or url_file is required for type slack");
	assert_load_err(fx,
			"notifiers:\n"
			"  - name: a\n"
			"    type: webhook\n"
			"    url: ftp://user:topsecret@x.example\n",
			-EINVAL, "4: notifiers[0].url: must be an http:// or https:// URL");
	assert_null(strstr(fx->err.msg, "topsecret"));
	assert_load_err(fx, "notifiers:\n  - {name: a, type: webhook, url: 'https://'}\n", -EINVAL,
			"2: notifiers[0].url: must be an http:// or https:// URL");
	assert_load_err(fx,
			"notifiers:\n  - {name: a, type: webhook, url: 'https://h.example/a b'}\n",
			-EINVAL, "2: notifiers[0].url: must be an http:// or https:// URL");

	/* from a file: the message names the key, never the content */
	write_file(fx, "bad-url", "hooks.example/topsecret\n");
	assert_load_err(fx,
			"notifiers:\n"
			"  - name: a\n"
			"    type: slack\n"
			"    url_file: bad-url\n",
			-EINVAL, "4: notifiers[0].url_file: must be an http:// or https:// URL");
	assert_null(strstr(fx->err.msg, "topsecret"));

	write_file(fx, "url", "HTTPS://hooks.example/T/B/x\r\n");
	assert_int_equal(load(fx, "notifiers:\n  - {name: a, type: slack, url_file: url}\n"), 0);
	assert_string_equal(kl_config_notifier(&fx->c, "a")->url, "HTTPS://hooks.example/T/B/x");

	assert_load_err(fx,
			"notifiers:\n"
			"  - name: a\n"
			"    type: slack\n"
			"    url: https://hooks.example/x\n"
			"    url_file: url\n",
			-EINVAL, "5: notifiers[0]: url and url_file are both set");

	snprintf(want, sizeof(want),
		 "4: notifiers[0].url_file: cannot read %s/missing: No such file or directory",
		 fx->dir);
	assert_load_err(fx,
			"notifiers:\n"
			"  - name: a\n"
			"    type: slack\n"
			"    url_file: missing\n",
			-ENOENT, want);
}

/* The type's own keys: bound by notify/ into the driver's conf, errors at FILE:LINE. */
/* An email notifier's first lines (line 2 to 4), and its addresses (lines 5 and 6). */
#define EMAIL_ENTRY                                                                                \
	"notifiers:\n"                                                                             \
	"  - name: m\n"                                                                            \
	"    type: email\n"                                                                        \
	"    url: smtp://h.example\n"
#define EMAIL_ADDRS                                                                                \
	"    from: a@x.example\n"                                                                  \
	"    to: [b@x.example]\n"

static void test_notifier_type_keys(void **state)
{
	struct fx *fx = *state;
	const struct kl__email_conf *ec;
	const struct kl__pd_conf *pc;
	char want[512];

	/* pagerduty: routing_key_file required; url defaults; keys of others refused */
	write_file(fx, "rk", "R0UTINGKEYtopsecret\n");
	assert_int_equal(load(fx, "notifiers:\n  - {name: pd, type: pagerduty, "
				  "routing_key_file: rk}\n"),
			 0);
	pc = kl_config_notifier(&fx->c, "pd")->conf;
	assert_non_null(pc);
	assert_string_equal(pc->routing_key, "R0UTINGKEYtopsecret");
	assert_null(kl_config_notifier(&fx->c, "pd")->url); /* notify/ uses the default */
	assert_load_err(fx,
			"notifiers:\n"
			"  - name: pd\n"
			"    type: pagerduty\n",
			-EINVAL, "2: notifiers[0]: routing_key_file is required for type pagerduty");
	write_file(fx, "empty", "\n");
	snprintf(want, sizeof(want), "4: notifiers[0].routing_key_file: %s/empty is empty",
		 fx->dir);
	assert_load_err(fx,
			"notifiers:\n"
			"  - name: pd\n"
			"    type: pagerduty\n"
			"    routing_key_file: empty\n",
			-EINVAL, want);
	assert_load_err(fx,
			"cluster: c\n"
			"notifiers:\n"
			"  - name: x\n"
			"    type: log\n"
			"  - name: pd\n"
			"    type: pagerduty\n"
			"    routing_key_file: rk\n"
			"    to: [a@b.example]\n",
			-EINVAL, "8: notifiers[1].to: unknown key");
	assert_load_err(fx,
			"notifiers:\n"
			"  - name: pd\n"
			"    type: pagerduty\n"
			"    routing_key_file: rk\n"
			"    url: smtp://x.example\n",
			-EINVAL, "5: notifiers[0].url: must be an http:// or https:// URL");
	snprintf(want, sizeof(want),
		 "4: notifiers[0].routing_key_file: cannot read %s/nokey: No such file or "
		 "directory",
		 fx->dir);
	assert_load_err(fx,
			"notifiers:\n"
			"  - name: pd\n"
			"    type: pagerduty\n"
			"    routing_key_file: nokey\n",
			-ENOENT, want);

	/* teams: url or url_file, no other key */
	assert_load_err(fx, "notifiers:\n  - {name: t, type: teams}\n", -EINVAL,
			"2: notifiers[0]: url or url_file is required for type teams");
	assert_load_err(fx,
			"notifiers:\n"
			"  - name: t\n"
			"    type: teams\n"
			"    url: https://x.example/w\n"
			"    starttls: true\n",
			-EINVAL, "5: notifiers[0].starttls: unknown key");

	/* email: smtp(s) URL, from, to; defaults; files */
	write_file(fx, "user", "mailer\n");
	write_file(fx, "pass", "pa55topsecret\n");
	assert_int_equal(load(fx, "notifiers:\n"
				  "  - name: mail\n"
				  "    type: email\n"
				  "    url: smtp://127.0.0.1:2525\n"
				  "    from: kloompas@x.example\n"
				  "    to: [ops@x.example, dev@x.example]\n"
				  "    username_file: user\n"
				  "    password_file: pass\n"
				  "    ca_file: /etc/ca.pem\n"),
			 0);
	ec = kl_config_notifier(&fx->c, "mail")->conf;
	assert_non_null(ec);
	assert_string_equal(ec->from, "kloompas@x.example");
	assert_int_equal(ec->to.n, 2);
	assert_string_equal(ec->to.v[1], "dev@x.example");
	assert_string_equal(ec->username, "mailer");
	assert_string_equal(ec->password, "pa55topsecret");
	assert_int_equal(ec->starttls, 1); /* the default */
	assert_string_equal(ec->ca_file, "/etc/ca.pem");
	assert_int_equal(load(fx, "notifiers:\n"
				  "  - {name: m, type: email, url: 'smtps://h.example', "
				  "from: a@x.example, to: [b@x.example]}\n"
				  "  - {name: p, type: email, url: 'smtp://h.example:25', "
				  "from: a@x.example, to: [b@x.example], starttls: false}\n"),
			 0);
	assert_int_equal(((const struct kl__email_conf *)kl_config_notifier(&fx->c, "p")->conf)
			     ->starttls,
			 0);
	assert_load_err(fx,
			"notifiers:\n"
			"  - name: m\n"
			"    type: email\n"
			"    url: https://h.example\n"
			"    from: a@x.example\n"
			"    to: [b@x.example]\n",
			-EINVAL, "4: notifiers[0].url: must be an smtp:// or smtps:// URL");
	assert_load_err(fx,
			EMAIL_ENTRY
			"    to: [b@x.example]\n",
			-EINVAL, "2: notifiers[0]: from is required for type email");
	assert_load_err(fx,
			EMAIL_ENTRY
			"    from: Kloompas <a@x.example>\n"
			"    to: [b@x.example]\n",
			-EINVAL,
			"5: notifiers[0].from: must be a mail address (name@host, no display name)");
	assert_load_err(fx,
			EMAIL_ENTRY
			"    from: a@x.example\n",
			-EINVAL, "2: notifiers[0]: to is required for type email");
	assert_load_err(fx,
			EMAIL_ENTRY
			"    from: a@x.example\n"
			"    to: [b@x.example, nobody]\n",
			-EINVAL, "6: notifiers[0].to: item 1 must be a mail address (name@host)");
	assert_load_err(fx,
			EMAIL_ENTRY
			"    from: a@x.example\n"
			"    to: b@x.example\n",
			-EINVAL, "6: notifiers[0].to: expected a list of strings, got \"b@x.example\"");
	assert_load_err(fx,
			EMAIL_ENTRY EMAIL_ADDRS
			"    starttls: maybe\n",
			-EINVAL, "7: notifiers[0].starttls: expected true or false, got \"maybe\"");
	assert_load_err(fx,
			EMAIL_ENTRY EMAIL_ADDRS
			"    password_file: pass\n",
			-EINVAL, "2: notifiers[0]: username_file is required for type email");
	assert_null(strstr(fx->err.msg, "topsecret"));
	assert_load_err(fx,
			EMAIL_ENTRY EMAIL_ADDRS
			"    routing_key_file: rk\n",
			-EINVAL, "7: notifiers[0].routing_key_file: unknown key");
}

/* ------------------------------------------------------------------------ */
/* Routes                                                                    */
/* ------------------------------------------------------------------------ */

static void test_routes(void **state)
{
	struct fx *fx = *state;
	char yaml[2048];

	snprintf(yaml, sizeof(yaml), "%sroutes:\n  - notifiers: [am]\n", base_notifiers);
	assert_load_err(fx, yaml, -EINVAL, "9: routes[0]: namespaces is required");
	snprintf(yaml, sizeof(yaml), "%sroutes:\n  - namespaces: []\n    notifiers: [am]\n",
		 base_notifiers);
	assert_load_err(fx, yaml, -EINVAL, "9: routes[0].namespaces: must not be empty");
	snprintf(yaml, sizeof(yaml), "%sroutes:\n  - namespaces: ['*']\n", base_notifiers);
	assert_load_err(fx, yaml, -EINVAL, "9: routes[0]: notifiers is required");
	snprintf(yaml, sizeof(yaml), "%sroutes:\n  - namespaces: ['*']\n    notifiers:\n",
		 base_notifiers);
	assert_load_err(fx, yaml, -EINVAL, "10: routes[0].notifiers: must not be empty");
	snprintf(yaml, sizeof(yaml),
		 "%sroutes:\n"
		 "  - namespaces: ['moc-*']\n"
		 "    notifiers: [am]\n"
		 "  - namespaces: ['*']\n"
		 "    notifiers:\n"
		 "      - slack-prod\n"
		 "      - slak-prod\n",
		 base_notifiers);
	assert_load_err(fx, yaml, -EINVAL,
			"14: routes[1].notifiers[1]: unknown notifier \"slak-prod\"");
	/* notifiers may come after the routes that name them */
	snprintf(yaml, sizeof(yaml), "routes:\n  - {namespaces: ['*'], notifiers: [am]}\n%s",
		 base_notifiers);
	assert_int_equal(load(fx, yaml), 0);
	assert_int_equal(fx->c.routes.n, 1);
}

/* ------------------------------------------------------------------------ */
/* Chat-ops                                                                  */
/* ------------------------------------------------------------------------ */

static void test_allow(void **state)
{
	struct fx *fx = *state;
	const struct kl_allow_conf *a;

	assert_load_err(fx, "chatops:\n  allow:\n    - {namespaces: [a], max_replicas: 1}\n",
			-EINVAL, "3: chatops.allow[0]: users is required");
	assert_load_err(fx,
			"chatops:\n  allow:\n    - {users: [], namespaces: [a], max_replicas: 1}\n",
			-EINVAL, "3: chatops.allow[0].users: must not be empty");
	assert_load_err(fx, "chatops:\n  allow:\n    - {users: [u], max_replicas: 1}\n", -EINVAL,
			"3: chatops.allow[0]: namespaces is required");
	assert_load_err(fx,
			"chatops:\n"
			"  allow:\n"
			"    - users: [u]\n"
			"      namespaces: []\n"
			"      max_replicas: 1\n",
			-EINVAL, "4: chatops.allow[0].namespaces: must not be empty");
	assert_load_err(fx,
			"chatops:\n"
			"  allow:\n"
			"    - {users: [u], namespaces: [a], max_replicas: 1}\n"
			"    - users: [u]\n"
			"      namespaces: [a]\n",
			-EINVAL, "4: chatops.allow[1]: max_replicas is required");
	assert_int_equal(load(fx,
			      "chatops:\n"
			      "  allow:\n"
			      "    - {users: [u], namespaces: [a], max_replicas: 0}\n"
			      "    - {users: [v, w], namespaces: ['moc-*', b], max_replicas: 5}\n"),
			 0);
	a = fx->c.chatops.allow.items;
	assert_int_equal(fx->c.chatops.allow.n, 2);
	assert_true(a[0].has_max);
	assert_int_equal(a[0].max_replicas, 0);
	assert_int_equal(a[1].users.n, 2);
	assert_int_equal(a[1].max_replicas, 5);
	assert_null(fx->c.chatops.tokens);
	assert_int_equal(fx->c.chatops.ntokens, 0);
	assert_false(a[0].silence);
	assert_int_equal(fx->c.chatops.max_silence_ms, 7 * 24 * 3600 * 1000ULL);
}

/* silence: true grants silences, and needs no max_replicas; max_silence above 0 */
static void test_allow_silence(void **state)
{
	struct fx *fx = *state;
	const struct kl_allow_conf *a;

	assert_int_equal(load(fx,
			      "chatops:\n"
			      "  max_silence: 48h\n"
			      "  response_url_hosts: [hooks.slack.com, 127.0.0.1]\n"
			      "  allow:\n"
			      "    - {users: [u], namespaces: [a], silence: true}\n"),
			 0);
	a = fx->c.chatops.allow.items;
	assert_true(a[0].silence);
	assert_false(a[0].has_max);
	assert_int_equal(a[0].max_replicas, 0);
	assert_int_equal(fx->c.chatops.max_silence_ms, 48 * 3600 * 1000ULL);
	assert_int_equal(fx->c.chatops.response_hosts.n, 2);
	assert_load_err(fx, "chatops:\n  max_silence: 0s\n", -EINVAL,
			"2: chatops.max_silence: must be above 0");
	assert_load_err(fx, "chatops:\n  allow:\n    - {users: [u], namespaces: [a], silence: 1}\n",
			-EINVAL, "3: chatops.allow[0].silence: expected true or false, got \"1\"");
}

static void test_signing_secret(void **state)
{
	struct fx *fx = *state;
	char want[512];

	write_file(fx, "sig", "abc123\n");
	assert_int_equal(load(fx, "chatops:\n  slack_signing_secret_file: sig\n"), 0);
	assert_string_equal(fx->c.chatops.slack_signing_secret, "abc123");

	snprintf(want, sizeof(want),
		 "2: chatops.slack_signing_secret_file: cannot read %s/nope: No such file or "
		 "directory",
		 fx->dir);
	assert_load_err(fx, "chatops:\n  slack_signing_secret_file: nope\n", -ENOENT, want);

	write_file(fx, "empty", "");
	snprintf(want, sizeof(want), "2: chatops.slack_signing_secret_file: %s/empty is empty",
		 fx->dir);
	assert_load_err(fx, "chatops:\n  slack_signing_secret_file: empty\n", -EINVAL, want);
}

static void test_api_tokens(void **state)
{
	struct fx *fx = *state;
	const struct kl_api_token *t;
	char want[512];

	write_file(fx, "api-tokens",
		   "# token user\n"
		   "\n"
		   "  tok-a   alice  \n"
		   "\ttok-b\tbob\r\n"
		   "   # indented comment\n"
		   "tok-c alice");
	assert_int_equal(load(fx, "chatops:\n  api_tokens_file: api-tokens\n"), 0);
	assert_int_equal(fx->c.chatops.ntokens, 3);
	t = fx->c.chatops.tokens;
	assert_string_equal(t[0].token, "tok-a");
	assert_string_equal(t[0].user, "alice");
	assert_string_equal(t[1].token, "tok-b");
	assert_string_equal(t[1].user, "bob");
	assert_string_equal(t[2].token, "tok-c");
	assert_string_equal(t[2].user, "alice");

	/* errors name the tokens file and its line, never a token */
	write_file(fx, "api-tokens", "tok-a alice\n\ntok-secret-b\n");
	snprintf(want, sizeof(want), "%s/api-tokens:3: expected \"TOKEN USER\"", fx->dir);
	assert_int_equal(load(fx, "chatops:\n  api_tokens_file: api-tokens\n"), -EINVAL);
	assert_err(&fx->err, want);
	assert_null(fx->c.chatops.tokens);

	write_file(fx, "api-tokens", "tok-a alice\ntok-secret-b bob extra\n");
	snprintf(want, sizeof(want), "%s/api-tokens:2: expected \"TOKEN USER\"", fx->dir);
	assert_int_equal(load(fx, "chatops:\n  api_tokens_file: api-tokens\n"), -EINVAL);
	assert_err(&fx->err, want);
	assert_null(strstr(fx->err.msg, "tok-"));

	write_file(fx, "api-tokens", "tok-a alice\ntok-b bob\n# x\ntok-a carol\n");
	snprintf(want, sizeof(want), "%s/api-tokens:4: duplicate token (first at line 1)",
		 fx->dir);
	assert_int_equal(load(fx, "chatops:\n  api_tokens_file: api-tokens\n"), -EINVAL);
	assert_err(&fx->err, want);
	assert_null(strstr(fx->err.msg, "tok-"));

	/* a prefix of another token is a different token */
	write_file(fx, "api-tokens", "tok-ab alice\ntok-a bob\n");
	assert_int_equal(load(fx, "chatops:\n  api_tokens_file: api-tokens\n"), 0);
	assert_int_equal(fx->c.chatops.ntokens, 2);

	/* an absolute path is used as is, and named as is */
	write_file(fx, "api-tokens", "just-one-field\n");
	{
		char yaml[256];

		snprintf(yaml, sizeof(yaml), "chatops:\n  api_tokens_file: %s/api-tokens\n",
			 fx->dir);
		assert_int_equal(load(fx, yaml), -EINVAL);
		snprintf(want, sizeof(want), "%s/api-tokens:1: expected \"TOKEN USER\"", fx->dir);
		assert_err(&fx->err, want);
	}

	/* only comments: no tokens, and that is fine */
	write_file(fx, "api-tokens", "# none yet\n");
	assert_int_equal(load(fx, "chatops:\n  api_tokens_file: api-tokens\n"), 0);
	assert_int_equal(fx->c.chatops.ntokens, 0);
}

static void test_first_error_wins(void **state)
{
	struct fx *fx = *state;

	/* a type error is reported before any later semantic check */
	assert_load_err(fx,
			"notifiers:\n"
			"  - name: a\n"
			"    type: slack\n"
			"routes:\n"
			"  - namespaces: [x]\n"
			"    notifiers: [a, {b: 1}]\n",
			-EINVAL, "6: routes[0].notifiers[1]: expected a string, got a map");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test_setup_teardown(test_empty_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spec_example, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_example, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_twice_and_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_controllers_section, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notifier_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notifier_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notifier_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notifier_type_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allow_silence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signing_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_error_wins, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
