/*
 * test/unit/test_flags.c - the command line: both value forms, booleans, defaults,
 * cross-flag rules, and an error that names the flag for each kind of mistake.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/flags.h"

#define ARGV(...) ((char *[]){ "kloompas", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "kloompas", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(f, err, ...) kl_flags_parse((f), ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (err))

static void test_defaults(void **unused)
{
	struct kl_flags f;
	struct kl_error err;
	char *argv[] = { "kloompas", NULL };

	kl_error_clear(&err);
	kl_flags_init(&f);
	assert_int_equal(kl_flags_parse(&f, 1, argv, &err), 0);
	assert_string_equal(f.bind_address, "0.0.0.0:9090");
	assert_string_equal(f.controllers, "*");
	assert_null(f.chatops_bind_address);
	assert_int_equal(f.leader_elect, 1);
	assert_int_equal(f.lease_duration_ms, 15000);
	assert_int_equal(f.renew_deadline_ms, 10000);
	assert_int_equal(f.retry_period_ms, 2000);
	assert_string_equal(f.leader_elect_name, "kloompas");
	assert_int_equal(f.log_format, KL_LOG_TEXT);
	assert_int_equal(f.verbosity, 0);
	assert_int_equal(f.dry_run, 0);
	assert_int_equal(f.kube_api_protobuf, 1); /* as kube-controller-manager */
}

static void test_both_forms(void **unused)
{
	struct kl_flags f;
	struct kl_error err;

	kl_error_clear(&err);
	kl_flags_init(&f);
	assert_int_equal(PARSE(&f, &err, "--config=/a.yaml", "--kubeconfig", "/k", "--dry-run",
			       "--leader-elect=false", "--log-format", "json", "-v", "3",
			       "--controllers=*,-replica-enforcer", "--bind-address",
			       "127.0.0.1:0", "--chatops-bind-address=[::1]:8080",
			       "--leader-elect-lease-duration", "1m", "--kube-api-qps=5.5",
			       "--kube-api-burst", "7", "--kube-api-content-type",
			       "application/json"),
			 0);
	assert_string_equal(f.config, "/a.yaml");
	assert_string_equal(f.kubeconfig, "/k");
	assert_int_equal(f.dry_run, 1);
	assert_int_equal(f.leader_elect, 0);
	assert_int_equal(f.log_format, KL_LOG_JSON);
	assert_int_equal(f.verbosity, 3);
	assert_string_equal(f.controllers, "*,-replica-enforcer");
	assert_string_equal(f.bind_address, "127.0.0.1:0");
	assert_string_equal(f.chatops_bind_address, "[::1]:8080");
	assert_int_equal(f.lease_duration_ms, 60000);
	assert_true(f.kube_api_qps > 5.4 && f.kube_api_qps < 5.6);
	assert_int_equal(f.kube_api_burst, 7);
	assert_int_equal(f.kube_api_protobuf, 0);
	assert_int_equal(
	    PARSE(&f, &err, "--kube-api-content-type=application/vnd.kubernetes.protobuf"), 0);
	assert_int_equal(f.kube_api_protobuf, 1);

	kl_flags_init(&f);
	assert_int_equal(PARSE(&f, &err, "--v=2"), 0);
	assert_int_equal(f.verbosity, 2);
	assert_int_equal(PARSE(&f, &err, "-v=4"), 0);
	assert_int_equal(f.verbosity, 4);
}

static void test_help_version(void **unused)
{
	struct kl_flags f;
	struct kl_error err;

	kl_error_clear(&err);
	kl_flags_init(&f);
	assert_int_equal(PARSE(&f, &err, "--controllers=x", "--help"), 0);
	assert_int_equal(f.help, 1);
	kl_flags_init(&f);
	assert_int_equal(PARSE(&f, &err, "-h"), 0);
	assert_int_equal(f.help, 1);
	kl_flags_init(&f);
	assert_int_equal(PARSE(&f, &err, "--version"), 0);
	assert_int_equal(f.version, 1);
}

/* each bad command line fails with a message containing the expected text */
static void test_errors(void **unused)
{
	static const struct {
		char *argv[4];
		const char *want;
	} cases[] = {
		{ { "--nope" }, "unknown flag \"--nope\"" },
		{ { "--config" }, "--config: needs a value" },
		{ { "--config=" }, "--config: needs a non-empty value" },
		{ { "stray" }, "unexpected argument \"stray\"" },
		{ { "-config=x" }, "unknown flag \"-config=x\"" },
		{ { "--dry-run=maybe" }, "--dry-run: expected true or false, got \"maybe\"" },
		{ { "--leader-elect-lease-duration=15" }, "--leader-elect-lease-duration: bad duration \"15\"" },
		{ { "--log-format=xml" }, "--log-format: expected text or json, got \"xml\"" },
		{ { "--kube-api-content-type=protobuf" },
		  "--kube-api-content-type: expected application/vnd.kubernetes.protobuf or "
		  "application/json, got \"protobuf\"" },
		{ { "-v", "x" }, "--v: expected a non-negative integer, got \"x\"" },
		{ { "-v", "-1" }, "--v: expected a non-negative integer" },
		{ { "--kube-api-qps=0" }, "--kube-api-qps: expected a positive number" },
		{ { "--bind-address=9090" }, "--bind-address: expected HOST:PORT" },
		{ { "--bind-address=1.2.3.4:70000" }, "--bind-address: expected HOST:PORT" },
		{ { "--chatops-bind-address=[::1]" }, "--chatops-bind-address: expected HOST:PORT" },
		{ { "--leader-elect-renew-deadline=20s" }, "must be greater than --leader-elect-renew-deadline" },
		{ { "--leader-elect-retry-period=9s" }, "greater than 1.2 x --leader-elect-retry-period" },
		{ { "--help=yes" }, "--help: takes no value" },
		{ { "--", "x" }, "unexpected argument \"x\"" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kl_flags f;
		struct kl_error err;
		char *argv[6] = { "kloompas" };
		int argc = 1;
		char buf[600];

		while (argc < 5 && cases[i].argv[argc - 1])
			argv[argc] = cases[i].argv[argc - 1], argc++;
		kl_error_clear(&err);
		kl_flags_init(&f);
		assert_int_equal(kl_flags_parse(&f, argc, argv, &err), -EINVAL);
		kl_error_str(&err, buf, sizeof(buf));
		if (!strstr(buf, cases[i].want))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, buf, cases[i].want);
	}
}

static void test_rules_off_without_election(void **unused)
{
	struct kl_flags f;
	struct kl_error err;

	kl_error_clear(&err);
	kl_flags_init(&f);
	assert_int_equal(PARSE(&f, &err, "--leader-elect=false", "--leader-elect-renew-deadline=20s"),
			 0);
}

static void test_hostport(void **unused)
{
	assert_int_equal(kl_hostport_check("0.0.0.0:9090"), 0);
	assert_int_equal(kl_hostport_check("localhost:0"), 0);
	assert_int_equal(kl_hostport_check("[::]:80"), 0);
	assert_true(kl_hostport_check(":80") < 0);
	assert_true(kl_hostport_check("::1:80") < 0);
	assert_true(kl_hostport_check("h:") < 0);
	assert_true(kl_hostport_check("h:-1") < 0);
	assert_true(kl_hostport_check("h:12ab") < 0);
	assert_true(kl_hostport_check("[]:80") < 0);
}

static void test_usage_grouped(void **unused)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	kl_flags_usage(f, "kloompas", "Known controllers: a, b.");
	fclose(f);
	assert_non_null(strstr(buf, "Generic flags:"));
	assert_non_null(strstr(buf, "Leader election flags:"));
	assert_non_null(strstr(buf, "--leader-elect-lease-duration duration"));
	assert_non_null(strstr(buf, "(default 15s)"));
	assert_non_null(strstr(buf, "(default 0.0.0.0:9090)"));
	assert_non_null(strstr(buf, "Known controllers: a, b."));
	/* every line fits in 100 columns */
	for (char *p = buf, *nl; (nl = strchr(p, '\n')); p = nl + 1)
		assert_true(nl - p <= 100);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_both_forms),
		cmocka_unit_test(test_help_version),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_rules_off_without_election),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_usage_grouped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
