/*
 * test/unit/test_chatops.c - the chat-ops front door: command grammar (good and bad
 * commands with their exact messages), Slack signatures (Slack's own worked example
 * and every way a request can fail), form bodies, bearer tokens and the allow list.
 *
 * Tables first: each row is one input and everything expected of it, so a new case
 * is one line. The chat-ops config is built by hand (tokens array, allow list).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "controllers/bearer.h"
#include "controllers/chat_forward.h"
#include "controllers/chat_reply.h"
#include "controllers/chatops.h"
#include "controllers/command.h"
#include "controllers/form.h"
#include "controllers/interactive.h"
#include "controllers/silence_cmd.h"
#include "controllers/silences.h"
#include "controllers/slack.h"

#define H24 (24ULL * 3600 * 1000)

/* ----------------------------------------------------------------------------
 * Command grammar
 */

struct good_cmd {
	const char *text;
	enum kl_cmd_verb verb;
	const char *ns;
	const char *deployment;
	int replicas;
	uint64_t for_ms;
};

/* A name of len characters in buf: 'a's, or labels of 62 'b's joined by dots. */
static char *long_name(char *buf, size_t len, int dots)
{
	size_t i;

	memset(buf, dots ? 'b' : 'a', len);
	buf[len] = '\0';
	for (i = 62; dots && i < len - 1; i += 63)
		buf[i] = '.';
	return buf;
}

static void check_good(const struct good_cmd *g, const char *cluster, uint64_t max_ms)
{
	struct kl_cmd cmd;
	char err[256] = "untouched";
	int ret;

	ret = kl_cmd_parse(g->text, cluster, max_ms, &cmd, err, sizeof(err));
	if (ret != 0)
		fail_msg("\"%s\": got %d (%s), want 0", g->text, ret, err);
	if (cmd.verb != g->verb)
		fail_msg("\"%s\": verb %d, want %d", g->text, cmd.verb, g->verb);
	if (strcmp(cmd.ns, g->ns) || strcmp(cmd.deployment, g->deployment))
		fail_msg("\"%s\": target %s/%s, want %s/%s", g->text, cmd.ns, cmd.deployment,
			 g->ns, g->deployment);
	if (cmd.replicas != g->replicas || cmd.for_ms != g->for_ms)
		fail_msg("\"%s\": replicas %d for %llu, want %d for %llu", g->text, cmd.replicas,
			 (unsigned long long)cmd.for_ms, g->replicas,
			 (unsigned long long)g->for_ms);
	assert_string_equal(err, "");
}

static void test_cmd_good(void **unused)
{
	static const struct good_cmd cases[] = {
		{ "set-replicas moc-pricing-arquimedes moc-pricing-arquimedes 0", KL_CMD_SET,
		  "moc-pricing-arquimedes", "moc-pricing-arquimedes", 0, 0 },
		{ "  set-replicas\tmoc-pricing \t api   3  ", KL_CMD_SET, "moc-pricing", "api", 3,
		  0 },
		{ "set-replicas ns d 1\r\n", KL_CMD_SET, "ns", "d", 1, 0 },
		{ "set-replicas ns d 03", KL_CMD_SET, "ns", "d", 3, 0 },
		{ "set-replicas ns d 100000", KL_CMD_SET, "ns", "d", 100000, 0 },
		{ "set-replicas ns d 0000000000000000000007", KL_CMD_SET, "ns", "d", 7, 0 },
		{ "set-replicas ns d 5 for 2h", KL_CMD_SET, "ns", "d", 5, 7200000 },
		{ "set-replicas ns d 5 for 24h", KL_CMD_SET, "ns", "d", 5, H24 },
		{ "set-replicas ns d 5 for 1440m", KL_CMD_SET, "ns", "d", 5, H24 },
		{ "set-replicas ns d 5 for 1h30m", KL_CMD_SET, "ns", "d", 5, 5400000 },
		{ "set-replicas ns d 5 for 1.5h", KL_CMD_SET, "ns", "d", 5, 5400000 },
		{ "set-replicas ns d 5 for 500ms", KL_CMD_SET, "ns", "d", 5, 500 },
		{ "set-replicas\tns\td\t5\tfor\t30s", KL_CMD_SET, "ns", "d", 5, 30000 },
		{ "set-replicas 0ns a--b 1", KL_CMD_SET, "0ns", "a--b", 1, 0 },
		{ "set-replicas a web.v2.api-x 1", KL_CMD_SET, "a", "web.v2.api-x", 1, 0 },
		{ "get-replicas moc-pricing api", KL_CMD_GET, "moc-pricing", "api", -1, 0 },
		{ " get-replicas  kube-system  coredns ", KL_CMD_GET, "kube-system", "coredns", -1,
		  0 },
		{ "help", KL_CMD_HELP, "", "", -1, 0 },
		{ "\t help \n", KL_CMD_HELP, "", "", -1, 0 },
		/* the talk's form, cluster matched case-insensitively */
		{ "!production-set-replicas moc-pricing-arquimedes moc-pricing-arquimedes 0",
		  KL_CMD_SET, "moc-pricing-arquimedes", "moc-pricing-arquimedes", 0, 0 },
		{ "!PRODUCTION-set-replicas ns d 4", KL_CMD_SET, "ns", "d", 4, 0 },
		{ "!Production-set-replicas ns d 4 for 1h", KL_CMD_SET, "ns", "d", 4, 3600000 },
	};
	struct good_cmd g = { NULL, KL_CMD_SET, NULL, NULL, 2, 0 };
	char text[600], n63[64], d253[254];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_good(&cases[i], "PRODUCTION", H24);

	/* a cluster name with dashes; the longest names */
	g.text = "!prod-eu-1-set-replicas ns d 2";
	g.ns = "ns";
	g.deployment = "d";
	check_good(&g, "Prod-EU-1", H24);

	snprintf(text, sizeof(text), "set-replicas %s %s 2", long_name(n63, 63, 0),
		 long_name(d253, 253, 1));
	g.text = text;
	g.ns = n63;
	g.deployment = d253;
	check_good(&g, "PRODUCTION", H24);
}

struct bad_cmd {
	const char *text;
	const char *msg;
};

static void check_bad(const struct bad_cmd *cases, size_t n, const char *cluster,
		      uint64_t max_ms)
{
	struct kl_cmd cmd;
	char err[512];
	size_t i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = kl_cmd_parse(cases[i].text, cluster, max_ms, &cmd, err, sizeof(err));
		if (ret != -EINVAL)
			fail_msg("\"%s\": got %d, want -EINVAL", cases[i].text, ret);
		if (strcmp(err, cases[i].msg) != 0)
			fail_msg("\"%s\":\n got  \"%s\"\n want \"%s\"", cases[i].text, err,
				 cases[i].msg);
	}
}

#define SET_USAGE "usage: set-replicas NAMESPACE DEPLOYMENT N [for DURATION]"
#define GET_USAGE "usage: get-replicas NAMESPACE DEPLOYMENT"
#define NS_RULE                                                                                    \
	" (lowercase letters, digits and '-', starting and ending with a letter or digit, at "    \
	"most 63 characters)"
#define DEP_RULE                                                                                   \
	" (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, "  \
	"at most 253 characters)"

static void test_cmd_bad(void **unused)
{
	static const struct bad_cmd cases[] = {
		/* nothing, or an unknown verb */
		{ "", "empty command; try help" },
		{ " \t \r\n ", "empty command; try help" },
		{ "scale ns d 3", "unknown command \"scale\"; try help" },
		{ "Set-Replicas ns d 3", "unknown command \"Set-Replicas\"; try help" },
		{ "SET-REPLICAS ns d 3", "unknown command \"SET-REPLICAS\"; try help" },
		{ "HELP", "unknown command \"HELP\"; try help" },
		{ "set-replica ns d 3", "unknown command \"set-replica\"; try help" },
		{ "/kloompas set-replicas ns d 3", "unknown command \"/kloompas\"; try help" },
		{ "!production-get-replicas ns d",
		  "unknown command \"!production-get-replicas\"; try help" },
		{ "!production-Set-Replicas ns d 1",
		  "unknown command \"!production-Set-Replicas\"; try help" },
		{ "!-set-replicas ns d 1", "unknown command \"!-set-replicas\"; try help" },
		{ "!set-replicas ns d 1", "unknown command \"!set-replicas\"; try help" },
		{ "production-set-replicas ns d 1",
		  "unknown command \"production-set-replicas\"; try help" },
		/* echoes are sanitized and bounded */
		{ "sc\"a\\le", "unknown command \"sc?a?le\"; try help" },
		{ "\xc3\xa9" "chelle", "unknown command \"??chelle\"; try help" },
		{ "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
		  "unknown command \"abcdefghijklmnopqrstuvwxyzabcdefghijklmn...\"; try help" },
		/* another cluster */
		{ "!staging-set-replicas moc-pricing-arquimedes moc-pricing-arquimedes 0",
		  "this is cluster PRODUCTION, not staging" },
		{ "!PRODUCTIO-set-replicas ns d 1", "this is cluster PRODUCTION, not PRODUCTIO" },
		{ "!production2-set-replicas ns d 1",
		  "this is cluster PRODUCTION, not production2" },
		{ "!staging-set-replicas", "this is cluster PRODUCTION, not staging" },
		/* arity */
		{ "set-replicas", "set-replicas: missing NAMESPACE; " SET_USAGE },
		{ "set-replicas ns", "set-replicas: missing DEPLOYMENT; " SET_USAGE },
		{ "set-replicas ns d", "set-replicas: missing N; " SET_USAGE },
		{ "set-replicas ns d 3 for 1h extra",
		  "set-replicas: too many arguments; " SET_USAGE },
		{ "set-replicas ns d 3 for 1h a b c d e f",
		  "set-replicas: too many arguments; " SET_USAGE },
		{ "!production-set-replicas ns d",
		  "!production-set-replicas: missing N; usage: !production-set-replicas "
		  "NAMESPACE DEPLOYMENT N [for DURATION]" },
		{ "get-replicas", "get-replicas: missing NAMESPACE; " GET_USAGE },
		{ "get-replicas ns", "get-replicas: missing DEPLOYMENT; " GET_USAGE },
		{ "get-replicas ns d 3", "get-replicas: too many arguments; " GET_USAGE },
		{ "help me", "help: too many arguments; usage: help" },
		/* N */
		{ "set-replicas ns d -1",
		  "set-replicas: N must be a non-negative integer, got \"-1\"" },
		{ "set-replicas ns d +3",
		  "set-replicas: N must be a non-negative integer, got \"+3\"" },
		{ "set-replicas ns d 3x",
		  "set-replicas: N must be a non-negative integer, got \"3x\"" },
		{ "set-replicas ns d 3.0",
		  "set-replicas: N must be a non-negative integer, got \"3.0\"" },
		{ "set-replicas ns d 1e3",
		  "set-replicas: N must be a non-negative integer, got \"1e3\"" },
		{ "set-replicas ns d 0x10",
		  "set-replicas: N must be a non-negative integer, got \"0x10\"" },
		{ "set-replicas ns d three",
		  "set-replicas: N must be a non-negative integer, got \"three\"" },
		{ "set-replicas ns d \xd9\xa3",
		  "set-replicas: N must be a non-negative integer, got \"??\"" },
		{ "set-replicas ns d 100001",
		  "set-replicas: N must be at most 100000, got \"100001\"" },
		{ "set-replicas ns d 99999999999999999999999",
		  "set-replicas: N must be at most 100000, got \"99999999999999999999999\"" },
		{ "set-replicas ns d 4294967299",
		  "set-replicas: N must be at most 100000, got \"4294967299\"" },
		/* for DURATION */
		{ "set-replicas ns d 3 during 1h",
		  "set-replicas: expected \"for DURATION\" after N, got \"during\"" },
		{ "set-replicas ns d 3 4",
		  "set-replicas: expected \"for DURATION\" after N, got \"4\"" },
		{ "set-replicas ns d 3 FOR 1h",
		  "set-replicas: expected \"for DURATION\" after N, got \"FOR\"" },
		{ "set-replicas ns d 3 for",
		  "set-replicas: \"for\" needs a duration, e.g. for 2h; " SET_USAGE },
		{ "set-replicas ns d 3 for 2x",
		  "set-replicas: bad duration \"2x\" (examples: 30m, 2h, 1h30m)" },
		{ "set-replicas ns d 3 for 1",
		  "set-replicas: bad duration \"1\" (examples: 30m, 2h, 1h30m)" },
		{ "set-replicas ns d 3 for -1h",
		  "set-replicas: bad duration \"-1h\" (examples: 30m, 2h, 1h30m)" },
		{ "set-replicas ns d 3 for 2 h", "set-replicas: too many arguments; " SET_USAGE },
		{ "set-replicas ns d 3 for h",
		  "set-replicas: bad duration \"h\" (examples: 30m, 2h, 1h30m)" },
		{ "set-replicas ns d 3 for 0",
		  "set-replicas: for must be longer than 0, got \"0\"" },
		{ "set-replicas ns d 3 for 0s",
		  "set-replicas: for must be longer than 0, got \"0s\"" },
		{ "set-replicas ns d 3 for 0h0m",
		  "set-replicas: for must be longer than 0, got \"0h0m\"" },
		{ "set-replicas ns d 3 for 48h",
		  "set-replicas: for 48h is longer than the allowed 24h" },
		{ "set-replicas ns d 3 for 2880m",
		  "set-replicas: for 48h is longer than the allowed 24h" },
		{ "set-replicas ns d 3 for 24h1ms",
		  "set-replicas: for 24h1ms is longer than the allowed 24h" },
		{ "set-replicas ns d 3 for 99999999999999999999h",
		  "set-replicas: for 99999999999999999999h is longer than the allowed 24h" },
		{ "!production-set-replicas ns d 3 for 25h",
		  "!production-set-replicas: for 25h is longer than the allowed 24h" },
		/* names */
		{ "set-replicas Moc d 1", "set-replicas: invalid namespace \"Moc\"" NS_RULE },
		{ "set-replicas -moc d 1", "set-replicas: invalid namespace \"-moc\"" NS_RULE },
		{ "set-replicas moc- d 1", "set-replicas: invalid namespace \"moc-\"" NS_RULE },
		{ "set-replicas moc.x d 1", "set-replicas: invalid namespace \"moc.x\"" NS_RULE },
		{ "set-replicas moc_x d 1", "set-replicas: invalid namespace \"moc_x\"" NS_RULE },
		{ "set-replicas moc* d 1", "set-replicas: invalid namespace \"moc*\"" NS_RULE },
		{ "get-replicas Moc d", "get-replicas: invalid namespace \"Moc\"" NS_RULE },
		{ "set-replicas ns D 1", "set-replicas: invalid deployment name \"D\"" DEP_RULE },
		{ "set-replicas ns d_x 1",
		  "set-replicas: invalid deployment name \"d_x\"" DEP_RULE },
		{ "set-replicas ns a..b 1",
		  "set-replicas: invalid deployment name \"a..b\"" DEP_RULE },
		{ "set-replicas ns a.-b 1",
		  "set-replicas: invalid deployment name \"a.-b\"" DEP_RULE },
		{ "set-replicas ns a-.b 1",
		  "set-replicas: invalid deployment name \"a-.b\"" DEP_RULE },
		{ "set-replicas ns .a 1", "set-replicas: invalid deployment name \".a\"" DEP_RULE },
		{ "set-replicas ns a. 1", "set-replicas: invalid deployment name \"a.\"" DEP_RULE },
		{ "set-replicas ns a/b 1",
		  "set-replicas: invalid deployment name \"a/b\"" DEP_RULE },
		{ "get-replicas ns -d", "get-replicas: invalid deployment name \"-d\"" DEP_RULE },
		/* checked in reading order: the namespace before N */
		{ "set-replicas NS d -1", "set-replicas: invalid namespace \"NS\"" NS_RULE },
		{ "set-replicas ns d -1 for 48h",
		  "set-replicas: N must be a non-negative integer, got \"-1\"" },
	};

	check_bad(cases, sizeof(cases) / sizeof(cases[0]), "PRODUCTION", H24);
}

static void test_cmd_edges(void **unused)
{
	static const struct bad_cmd no_temp[] = {
		{ "set-replicas ns d 3 for 1h",
		  "set-replicas: temporary changes are disabled here (max_temporary is 0)" },
	};
	static const struct bad_cmd short_max[] = {
		{ "set-replicas ns d 3 for 2h",
		  "set-replicas: for 2h is longer than the allowed 1h30m" },
	};
	char text[700], err[512], small[8], name[256], name2[256];
	struct kl_cmd cmd;

	check_bad(no_temp, 1, "PRODUCTION", 0);
	check_bad(short_max, 1, "PRODUCTION", 5400000);

	/* NULL text is empty; NULL or tiny err buffers are safe */
	assert_int_equal(kl_cmd_parse(NULL, "x", H24, &cmd, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "empty command; try help");
	assert_int_equal(kl_cmd_parse("scale", "x", H24, &cmd, NULL, 0), -EINVAL);
	assert_int_equal(kl_cmd_parse("scale", "x", H24, &cmd, small, sizeof(small)), -EINVAL);
	assert_string_equal(small, "unknown");
	assert_int_equal(kl_cmd_parse("help", "x", H24, &cmd, NULL, 0), 0);

	/* names at and over their limits */
	snprintf(text, sizeof(text), "set-replicas %s d 1", long_name(name, 64, 0));
	assert_int_equal(kl_cmd_parse(text, "x", H24, &cmd, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid namespace \"aaaaaaaaaa"));
	snprintf(text, sizeof(text), "set-replicas ns %s 1", long_name(name, 254, 1));
	assert_int_equal(kl_cmd_parse(text, "x", H24, &cmd, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid deployment name \"bbbbbbbbbb"));
	assert_non_null(strstr(err, "...\""));
	snprintf(text, sizeof(text), "get-replicas %s %s", long_name(name, 63, 0),
		 long_name(name2, 253, 1));
	assert_int_equal(kl_cmd_parse(text, "x", H24, &cmd, err, sizeof(err)), 0);
	assert_int_equal(strlen(cmd.ns), 63);
	assert_int_equal(strlen(cmd.deployment), 253);

	/* an unset cluster never matches the talk's form */
	assert_int_equal(kl_cmd_parse("!x-set-replicas ns d 1", NULL, H24, &cmd, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "this is cluster , not x");

	/* a long flood of words is just too many arguments */
	memset(text, 0, sizeof(text));
	strcpy(text, "set-replicas");
	while (strlen(text) < sizeof(text) - 3)
		strcat(text, " a");
	assert_int_equal(kl_cmd_parse(text, "x", H24, &cmd, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "set-replicas: too many arguments; " SET_USAGE);
}

static void test_cmd_help(void **unused)
{
	const char *h = kl_cmd_help();

	assert_non_null(strstr(h, "set-replicas NAMESPACE DEPLOYMENT N [for DURATION]"));
	assert_non_null(strstr(h, "get-replicas NAMESPACE DEPLOYMENT"));
	assert_non_null(strstr(h, "!CLUSTER-set-replicas"));
	assert_non_null(strstr(h, "help"));
}

/* The HTTP API's JSON body: its shape, then the grammar of the command it makes. */
static const struct {
	const char *body;
	int ret;
	enum kl_cmd_verb verb;
	int replicas;
	uint64_t for_ms;
	const char *err; /* the whole message when ret < 0 */
} json_cases[] = {
	{ "{\"namespace\":\"moc-pricing\",\"deployment\":\"web\"}", 0, KL_CMD_GET, -1, 0,
	  NULL },
	{ "{\"namespace\":\"moc-pricing\",\"deployment\":\"web\",\"replicas\":3}", 0,
	  KL_CMD_SET, 3, 0, NULL },
	{ "{\"namespace\":\"moc-pricing\",\"deployment\":\"web\",\"replicas\":3,"
	  "\"for\":\"2h\"}",
	  0, KL_CMD_SET, 3, 7200000, NULL },
	/* "for" null or empty: a permanent change */
	{ "{\"namespace\":\"a\",\"deployment\":\"b\",\"replicas\":0,\"for\":null}", 0,
	  KL_CMD_SET, 0, 0, NULL },
	{ "{\"namespace\":\"a\",\"deployment\":\"b\",\"replicas\":1,\"for\":\"\"}", 0,
	  KL_CMD_SET, 1, 0, NULL },
	/* not the object the API takes */
	{ "[1]", -EBADMSG, 0, -1, 0,
	  "expected {\"namespace\",\"deployment\",\"replicas\"[,\"for\"]}" },
	{ "{\"namespace\":\"a b\",\"deployment\":\"b\"}", -EBADMSG, 0, -1, 0,
	  "expected {\"namespace\",\"deployment\",\"replicas\"[,\"for\"]}" },
	{ "{\"namespace\":\"a\",\"deployment\":\"b\",\"replicas\":-1}", -EBADMSG, 0, -1, 0,
	  "replicas must be a non-negative integer" },
	{ "{\"namespace\":\"a\",\"deployment\":\"b\",\"replicas\":1,\"for\":7}", -EBADMSG, 0,
	  -1, 0, "for must be a duration string such as \"2h\"" },
	{ "", -1, 0, -1, 0, "the body must be a JSON object" },
	{ "{\"namespace\":", -1, 0, -1, 0, "the body must be a JSON object" },
	/* an object of the right shape, refused by the grammar: which command says why */
	{ "{\"namespace\":\"Moc\",\"deployment\":\"web\"}", -EINVAL, KL_CMD_GET, -1, 0,
	  "get-replicas: invalid namespace \"Moc\" (lowercase letters, digits and '-', "
	  "starting and ending with a letter or digit, at most 63 characters)" },
	{ "{\"namespace\":\"a\",\"deployment\":\"b\",\"replicas\":1,\"for\":\"48h\"}",
	  -EINVAL, KL_CMD_SET, -1, 0, "set-replicas: for 48h is longer than the allowed 24h" },
};

static void test_cmd_json(void **unused)
{
	struct kl_cmd cmd;
	char err[300];
	size_t i;
	int ret;

	for (i = 0; i < sizeof(json_cases) / sizeof(json_cases[0]); i++) {
		const char *body = json_cases[i].body;

		strcpy(err, "untouched");
		ret = kl_cmd_parse_json(body, strlen(body), "x", H24, &cmd, err, sizeof(err));
		/* -1: any error of the JSON parser's own (not one of ours) */
		if (json_cases[i].ret == -1 ? ret >= 0 || ret == -EINVAL || ret == -EBADMSG
					    : ret != json_cases[i].ret)
			fail_msg("%s: got %d (%s), want %d", body, ret, err, json_cases[i].ret);
		if (ret < 0) {
			assert_string_equal(err, json_cases[i].err);
			if (ret == -EINVAL)
				assert_int_equal(cmd.verb, json_cases[i].verb);
			continue;
		}
		assert_int_equal(cmd.verb, json_cases[i].verb);
		assert_int_equal(cmd.replicas, json_cases[i].replicas);
		assert_int_equal(cmd.for_ms, json_cases[i].for_ms);
		assert_string_equal(cmd.ns, strstr(body, "moc") ? "moc-pricing" : "a");
	}
}

/* ----------------------------------------------------------------------------
 * Slack signatures
 */

/* Slack's worked example ("Verifying requests from Slack") */
static const char slack_secret[] = "8f742231b10e8888abcd99yyyzzz85a5";
static const char slack_ts[] = "1531420618";
static const int64_t slack_now = 1531420618;
static const char slack_body[] =
	"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
	"G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
	"collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%"
	"2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121."
	"803a0bc887a14d10d2c447fce8b6703c";
static const char slack_sig[] =
	"v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

static int verify(const char *secret, const char *ts, const char *sig, const char *body,
		  size_t len, int64_t now, char *err, size_t errlen)
{
	int ret = kl_slack_verify(secret, ts, sig, body, len, now, err, errlen);

	/* whatever happens, the secret never reaches the message */
	if (secret && *secret)
		assert_null(strstr(err, secret));
	if (ret)
		assert_true(err[0] != '\0');
	return ret;
}

static void test_slack_example(void **unused)
{
	char err[256];

	assert_int_equal(verify(slack_secret, slack_ts, slack_sig, slack_body,
				strlen(slack_body), slack_now, err, sizeof(err)),
			 0);
	assert_string_equal(err, "");
	/* the window is 300 s either way, inclusive */
	assert_int_equal(verify(slack_secret, slack_ts, slack_sig, slack_body,
				strlen(slack_body), slack_now + 300, err, sizeof(err)),
			 0);
	assert_int_equal(verify(slack_secret, slack_ts, slack_sig, slack_body,
				strlen(slack_body), slack_now - 300, err, sizeof(err)),
			 0);
	/* the body is taken by length, not up to a NUL */
	{
		char buf[sizeof(slack_body) + 8];

		memcpy(buf, slack_body, sizeof(slack_body));
		memcpy(buf + strlen(slack_body), "&extra=1", 8);
		assert_int_equal(verify(slack_secret, slack_ts, slack_sig, buf,
					strlen(slack_body), slack_now, err, sizeof(err)),
				 0);
	}
}

static void test_slack_failures(void **unused)
{
	size_t len = strlen(slack_body);
	char sig[128], body[sizeof(slack_body)], err[256];
	size_t i;

	/* stale or future */
	assert_int_equal(verify(slack_secret, slack_ts, slack_sig, slack_body, len, slack_now + 301,
				err, sizeof(err)),
			 -ETIME);
	assert_string_equal(err, "request timestamp is more than 300 s old");
	assert_int_equal(verify(slack_secret, slack_ts, slack_sig, slack_body, len, slack_now - 301,
				err, sizeof(err)),
			 -ETIME);
	assert_string_equal(err, "request timestamp is in the future by more than 300 s");
	assert_int_equal(verify(slack_secret, slack_ts, slack_sig, slack_body, len, INT64_MIN, err,
				sizeof(err)),
			 -ETIME);
	assert_int_equal(verify(slack_secret, slack_ts, slack_sig, slack_body, len, INT64_MAX, err,
				sizeof(err)),
			 -ETIME);

	/* a signed body replayed with a fresh timestamp */
	assert_int_equal(verify(slack_secret, "1531420919", slack_sig, slack_body, len,
				1531420919, err, sizeof(err)),
			 -EACCES);
	assert_string_equal(err, "X-Slack-Signature does not match the request");
	assert_int_equal(verify(slack_secret, "1531420619", slack_sig, slack_body, len, slack_now,
				err, sizeof(err)),
			 -EACCES);

	/* wrong signature: every hex digit position matters */
	for (i = 3; i < strlen(slack_sig); i++) {
		strcpy(sig, slack_sig);
		sig[i] = sig[i] == '0' ? '1' : '0';
		assert_int_equal(verify(slack_secret, slack_ts, sig, slack_body, len, slack_now,
					err, sizeof(err)),
				 -EACCES);
	}
	/* uppercase hex: Slack sends lowercase, anything else is refused */
	strcpy(sig, slack_sig);
	for (i = 3; sig[i]; i++)
		if (sig[i] >= 'a' && sig[i] <= 'f')
			sig[i] = (char)(sig[i] - 'a' + 'A');
	assert_int_equal(verify(slack_secret, slack_ts, sig, slack_body, len, slack_now, err,
				sizeof(err)),
			 -EACCES);
	/* prefix and length */
	strcpy(sig, slack_sig);
	sig[1] = '1';
	assert_int_equal(verify(slack_secret, slack_ts, sig, slack_body, len, slack_now, err,
				sizeof(err)),
			 -EACCES);
	assert_string_equal(err, "X-Slack-Signature is not \"v0=\" and 64 hex digits");
	assert_int_equal(verify(slack_secret, slack_ts, slack_sig + 3, slack_body, len, slack_now,
				err, sizeof(err)),
			 -EACCES);
	strcpy(sig, slack_sig);
	sig[strlen(sig) - 1] = '\0';
	assert_int_equal(verify(slack_secret, slack_ts, sig, slack_body, len, slack_now, err,
				sizeof(err)),
			 -EACCES);
	assert_string_equal(err, "X-Slack-Signature is not \"v0=\" and 64 hex digits");
	snprintf(sig, sizeof(sig), "%s0", slack_sig);
	assert_int_equal(verify(slack_secret, slack_ts, sig, slack_body, len, slack_now, err,
				sizeof(err)),
			 -EACCES);
	snprintf(sig, sizeof(sig), "%s,v1=abc", slack_sig);
	assert_int_equal(verify(slack_secret, slack_ts, sig, slack_body, len, slack_now, err,
				sizeof(err)),
			 -EACCES);

	/* body tampered, cut, or extended */
	memcpy(body, slack_body, sizeof(body));
	body[strlen("token=")] ^= 1;
	assert_int_equal(verify(slack_secret, slack_ts, slack_sig, body, len, slack_now, err,
				sizeof(err)),
			 -EACCES);
	assert_int_equal(verify(slack_secret, slack_ts, slack_sig, slack_body, len - 1, slack_now,
				err, sizeof(err)),
			 -EACCES);
	assert_int_equal(verify(slack_secret, slack_ts, slack_sig, slack_body, len + 1, slack_now,
				err, sizeof(err)),
			 -EACCES);
	assert_int_equal(verify(slack_secret, slack_ts, slack_sig, NULL, 0, slack_now, err,
				sizeof(err)),
			 -EACCES);

	/* wrong secret */
	assert_int_equal(verify("8f742231b10e8888abcd99yyyzzz85a6", slack_ts, slack_sig,
				slack_body, len, slack_now, err, sizeof(err)),
			 -EACCES);

	/* missing pieces */
	assert_int_equal(verify(slack_secret, slack_ts, NULL, slack_body, len, slack_now, err,
				sizeof(err)),
			 -EACCES);
	assert_string_equal(err, "missing X-Slack-Signature");
	assert_int_equal(verify(slack_secret, slack_ts, "", slack_body, len, slack_now, err,
				sizeof(err)),
			 -EACCES);
	assert_int_equal(verify(slack_secret, NULL, slack_sig, slack_body, len, slack_now, err,
				sizeof(err)),
			 -ETIME);
	assert_string_equal(err, "missing X-Slack-Request-Timestamp");
	assert_int_equal(verify(slack_secret, "", slack_sig, slack_body, len, slack_now, err,
				sizeof(err)),
			 -ETIME);
	assert_int_equal(verify(NULL, slack_ts, slack_sig, slack_body, len, slack_now, err,
				sizeof(err)),
			 -EACCES);
	assert_string_equal(err, "no Slack signing secret is configured");
	assert_int_equal(verify("", slack_ts, slack_sig, slack_body, len, slack_now, err,
				sizeof(err)),
			 -EACCES);

	/* timestamps that are not plain seconds */
	{
		static const char *const bad_ts[] = {
			"abc", "-1531420618", "+1531420618", " 1531420618", "1531420618 ",
			"1531420618.5", "0x5b4797ca", "1531420618000000000000", "1e9",
		};

		for (i = 0; i < sizeof(bad_ts) / sizeof(bad_ts[0]); i++) {
			if (verify(slack_secret, bad_ts[i], slack_sig, slack_body, len, slack_now,
				   err, sizeof(err)) != -ETIME)
				fail_msg("timestamp \"%s\" accepted", bad_ts[i]);
		}
		assert_string_equal(err, "X-Slack-Request-Timestamp is not a number of seconds");
	}
	/* err may be NULL */
	assert_int_equal(kl_slack_verify(slack_secret, slack_ts, slack_sig, slack_body, len,
					 slack_now + 301, NULL, 0),
			 -ETIME);
}

/* Bodies with any bytes (NULs included), checked against OpenSSL's one-shot HMAC(). */
static void test_slack_reference(void **unused)
{
	static const unsigned char raw[] = { 'a', 0, 'b', 0xff, '\n', 0, '=' };
	char sig[3 + 64 + 1], msg[64], err[256];
	unsigned char mac[32];
	unsigned int maclen = 0;
	size_t i, n;

	n = (size_t)snprintf(msg, sizeof(msg), "v0:%s:", "1700000000");
	memcpy(msg + n, raw, sizeof(raw));
	n += sizeof(raw);
	assert_non_null(
		HMAC(EVP_sha256(), "ref-secret", 10, (const unsigned char *)msg, n, mac, &maclen));
	assert_int_equal(maclen, 32);
	strcpy(sig, "v0=");
	for (i = 0; i < 32; i++)
		snprintf(sig + 3 + 2 * i, 3, "%02x", mac[i]);
	assert_int_equal(verify("ref-secret", "1700000000", sig, (const char *)raw, sizeof(raw),
				1700000000, err, sizeof(err)),
			 0);
	assert_int_equal(verify("ref-secret", "1700000000", sig, (const char *)raw, sizeof(raw) - 1,
				1700000000, err, sizeof(err)),
			 -EACCES);
}

/* ----------------------------------------------------------------------------
 * Form bodies
 */

struct form_case {
	const char *body;
	const char *key;
	int ret;
	const char *want; /* when ret == 0 */
};

static void test_form(void **unused)
{
	static const struct form_case cases[] = {
		{ "a=1&b=2", "a", 0, "1" },
		{ "a=1&b=2", "b", 0, "2" },
		{ "a=1&b=2", "c", -ENOENT, NULL },
		{ "", "a", -ENOENT, NULL },
		{ "text=set-replicas+ns+d+3", "text", 0, "set-replicas ns d 3" },
		{ "text=set-replicas%20ns%09d%203", "text", 0, "set-replicas ns\td 3" },
		{ "a=%2f%2F%3a%3A", "a", 0, "//::" },
		{ "a=%e2%82%ac", "a", 0, "\xe2\x82\xac" },
		{ "a=100%25", "a", 0, "100%" },
		{ "a=%2B+", "a", 0, "+ " },
		{ "a=", "a", 0, "" },
		{ "a", "a", 0, "" },
		{ "a&b=2", "b", 0, "2" },
		{ "a=1&a=2", "a", 0, "1" },
		{ "a=&a=2", "a", 0, "" },
		{ "&&a=1&", "a", 0, "1" },
		{ "a=b=c", "a", 0, "b=c" },
		{ "=x", "", 0, "x" },
		{ "a=1", "", -ENOENT, NULL },
		{ "ab=1", "a", -ENOENT, NULL },
		{ "a=1", "ab", -ENOENT, NULL },
		{ "A=1", "a", -ENOENT, NULL },
		/* keys are compared decoded */
		{ "%74ext=hi", "text", 0, "hi" },
		{ "%74%45xt=hi", "tExt", 0, "hi" },
		{ "a+b=1", "a b", 0, "1" },
		{ "a%2Bb=1&a+b=2", "a+b", 0, "1" },
		{ "a%3Db=1", "a=b", 0, "1" },
		{ "a%26b=1", "a&b", 0, "1" },
		/* bad escapes and NULs, wherever they are */
		{ "a=%", "a", -EINVAL, NULL },
		{ "a=%4", "a", -EINVAL, NULL },
		{ "a=%4&b=1", "b", -EINVAL, NULL },
		{ "a=%zz", "a", -EINVAL, NULL },
		{ "a=%g0", "a", -EINVAL, NULL },
		{ "a=%-1", "a", -EINVAL, NULL },
		{ "a=% 1", "a", -EINVAL, NULL },
		{ "a=%00", "a", -EINVAL, NULL },
		{ "a=x%00y", "a", -EINVAL, NULL },
		{ "b=%zz&a=1", "a", -EINVAL, NULL },
		{ "a=1&b=%00", "a", -EINVAL, NULL },
		{ "%zz=1&a=1", "a", -EINVAL, NULL },
		{ "%00=1", "a", -EINVAL, NULL },
		{ "a=1&%", "c", -EINVAL, NULL },
	};
	char out[64];
	size_t i;
	int ret;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct form_case *c = &cases[i];

		memset(out, 'X', sizeof(out));
		ret = kl_form_get(c->body, strlen(c->body), c->key, out, sizeof(out));
		if (ret != c->ret)
			fail_msg("\"%s\" [%s]: got %d, want %d", c->body, c->key, ret, c->ret);
		if (ret == 0 && strcmp(out, c->want) != 0)
			fail_msg("\"%s\" [%s]: got \"%s\", want \"%s\"", c->body, c->key, out,
				 c->want);
		if (ret != 0 && out[0] != '\0')
			fail_msg("\"%s\" [%s]: out not emptied on error", c->body, c->key);
	}
}

static void test_form_edges(void **unused)
{
	static const char raw_nul[] = "a=1\0&b=2";
	char out[8], big[300];

	/* the body is bounded by len, not by a NUL */
	assert_int_equal(kl_form_get("a=1&b=2", 3, "a", out, sizeof(out)), 0);
	assert_string_equal(out, "1");
	assert_int_equal(kl_form_get("a=1&b=2", 3, "b", out, sizeof(out)), -ENOENT);
	assert_int_equal(kl_form_get("a=12", 3, "a", out, sizeof(out)), 0);
	assert_string_equal(out, "1");
	assert_int_equal(kl_form_get("a=%41", 4, "a", out, sizeof(out)), -EINVAL);
	assert_int_equal(kl_form_get(raw_nul, sizeof(raw_nul) - 1, "b", out, sizeof(out)),
			 -EINVAL);
	assert_int_equal(kl_form_get(NULL, 0, "a", out, sizeof(out)), -ENOENT);

	/* out: value plus NUL must fit */
	assert_int_equal(kl_form_get("a=1234567", 9, "a", out, sizeof(out)), 0);
	assert_string_equal(out, "1234567");
	assert_int_equal(kl_form_get("a=12345678", 10, "a", out, sizeof(out)), -E2BIG);
	assert_string_equal(out, "");
	assert_int_equal(kl_form_get("a=%41%41%41%41%41%41%41", 23, "a", out, sizeof(out)), 0);
	assert_string_equal(out, "AAAAAAA");
	assert_int_equal(kl_form_get("a=", 2, "a", out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(kl_form_get("a=1", 3, "a", out, 1), -E2BIG);
	assert_int_equal(kl_form_get("a=", 2, "a", NULL, 0), -E2BIG);

	/* the Slack example body */
	assert_int_equal(kl_form_get(slack_body, strlen(slack_body), "text", big, sizeof(big)), 0);
	assert_string_equal(big, "");
	assert_int_equal(
		kl_form_get(slack_body, strlen(slack_body), "user_name", big, sizeof(big)), 0);
	assert_string_equal(big, "roadrunner");
	assert_int_equal(kl_form_get(slack_body, strlen(slack_body), "command", big, sizeof(big)),
			 0);
	assert_string_equal(big, "/webhook-collect");
	assert_int_equal(
		kl_form_get(slack_body, strlen(slack_body), "response_url", big, sizeof(big)), 0);
	assert_string_equal(big, "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/"
				 "96rGlfmibIGlgcZRskXaIFfN");
	assert_int_equal(
		kl_form_get(slack_body, strlen(slack_body), "trigger_id", big, sizeof(big)), 0);
	assert_string_equal(big, "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c");
	assert_int_equal(kl_form_get(slack_body, strlen(slack_body), "user", big, sizeof(big)),
			 -ENOENT);
}

/* ----------------------------------------------------------------------------
 * Bearer tokens
 */

static void test_bearer(void **unused)
{
	static const struct {
		const char *header;
		const char *user; /* NULL: refused */
	} cases[] = {
		{ "Bearer s3cr3t-token-alex", "alex.guerra" },
		{ "Bearer tok-bob", "bob" }, /* first of two entries with one token */
		{ "bearer tok-bob", "bob" },
		{ "BEARER tok-bob-longer", "carol" },
		{ "BeArEr tok-bob", "bob" },
		{ "Bearer   tok-bob", "bob" },
		{ "Bearer\ttok-bob", "bob" },
		{ "  Bearer tok-bob  ", "bob" },
		{ "Bearer a/b+c=", "dave" },
		{ "Bearer tok-bo", NULL },
		{ "Bearer tok-bobx", NULL },
		{ "Bearer tok-bob-longe", NULL },
		{ "Bearer TOK-BOB", NULL },
		{ "Bearer", NULL },
		{ "Bearer ", NULL },
		{ "Bearer  ", NULL },
		{ "Bearertok-bob", NULL },
		{ "Bearer:tok-bob", NULL },
		{ "Basic dG9rLWJvYg==", NULL },
		{ "Token tok-bob", NULL },
		{ "tok-bob", NULL },
		{ "", NULL },
		{ "Bearer tok-bob extra", NULL },
		{ "Bearer tok-bob\n", NULL },
		{ "Bearer tok-bob\r\nX: y", NULL },
		{ "Bearer \xc3\xa9", NULL },
		{ "Bearer s3cr3t-token-alex,tok-bob", NULL },
	};
	struct kl_api_token tokens[] = {
		{ "s3cr3t-token-alex", "alex.guerra" },
		{ "tok-bob", "bob" },
		{ "tok-bob-longer", "carol" },
		{ NULL, "nobody" },
		{ "", "empty" },
		{ "tok-bob", "bob-again" },
		{ "a/b+c=", "dave" },
	};
	struct kl_chatops_conf c = { 0 };
	const char *user;
	size_t i;

	c.tokens = tokens;
	c.ntokens = sizeof(tokens) / sizeof(tokens[0]);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		user = kl_bearer_user(&c, cases[i].header);
		if (cases[i].user && (!user || strcmp(user, cases[i].user) != 0))
			fail_msg("\"%s\": got %s, want %s", cases[i].header, user ? user : "NULL",
				 cases[i].user);
		if (!cases[i].user && user)
			fail_msg("\"%s\": accepted as %s", cases[i].header, user);
	}
	/* the user is the config's own string */
	assert_ptr_equal(kl_bearer_user(&c, "Bearer tok-bob"), tokens[1].user);
	assert_null(kl_bearer_user(&c, NULL));
	assert_null(kl_bearer_user(NULL, "Bearer tok-bob"));
	c.ntokens = 0;
	assert_null(kl_bearer_user(&c, "Bearer tok-bob"));
}

/* ----------------------------------------------------------------------------
 * The allow list
 */

static void test_authorize(void **unused)
{
	static const struct {
		const char *user;
		const char *ns;
		int replicas;
		int entry; /* index into allow[], -1 when refused */
		const char *why;
	} cases[] = {
		{ "alex.guerra", "moc-x", 20, 0, "" },
		{ "alex.guerra", "moc-x", 0, 0, "" },
		{ "alex.guerra", "moc-x", -1, 0, "" },
		{ "alex.guerra", "moc-x", 21, -1, "at most 20 replicas for alex.guerra in moc-x" },
		/* any matching entry authorizes; the first that does is returned */
		{ "alex.guerra", "moc-pricing-a", 20, 0, "" },
		{ "alex.guerra", "moc-pricing-a", 21, 1, "" },
		{ "alex.guerra", "moc-pricing-a", 50, 1, "" },
		{ "alex.guerra", "moc-pricing-a", 51, -1,
		  "at most 50 replicas for alex.guerra in moc-pricing-a" },
		{ "alex.guerra", "team-b", 50, 1, "" },
		{ "alex.guerra", "kube-system", 1, -1, "alex.guerra may not scale in kube-system" },
		{ "alex.guerra", "kube-system", 0, -1, "alex.guerra may not scale in kube-system" },
		{ "alex.guerra", "kube-system", -1, -1,
		  "alex.guerra may not read replicas in kube-system" },
		{ "bob", "team-a", 3, 1, "" },
		{ "bob", "team-d", 3, -1, "bob may not scale in team-d" },
		{ "bob", "moc-x", 3, -1, "bob may not scale in moc-x" },
		{ "bob", "moc-pricing-z", 51, -1, "at most 50 replicas for bob in moc-pricing-z" },
		/* max_replicas 0: scale to zero only */
		{ "carol", "default", 0, 2, "" },
		{ "carol", "kube-system", -1, 2, "" },
		{ "carol", "default", 1, -1, "at most 0 replicas for carol in default" },
		/* users are exact, not globs nor case-insensitive */
		{ "Alex.Guerra", "moc-x", 1, -1, "Alex.Guerra may not scale in moc-x" },
		{ "alex.guerra2", "moc-x", 1, -1, "alex.guerra2 may not scale in moc-x" },
		{ "alex*", "moc-x", 1, 3, "" },
		{ "dave", "moc-x", -1, -1, "dave may not read replicas in moc-x" },
	};
	const char *u_alex[] = { "alex.guerra" };
	const char *u_alex_bob[] = { "alex.guerra", "bob" };
	const char *u_carol[] = { "carol" };
	const char *u_glob[] = { "alex*" }; /* users are not globs */
	const char *ns_moc[] = { "moc-*" };
	const char *ns_pricing[] = { "moc-pricing-*", "team-[a-c]" };
	const char *ns_all[] = { "*" };
	struct kl_allow_conf allow[] = {
		{ { u_alex, 1 }, { ns_moc, 1 }, 20, 1, 0 },
		{ { u_alex_bob, 2 }, { ns_pricing, 2 }, 50, 1, 0 },
		{ { u_carol, 1 }, { ns_all, 1 }, 0, 1, 0 },
		{ { u_glob, 1 }, { ns_all, 1 }, 100, 1, 0 },
	};
	struct kl_chatops_conf c = { 0 };
	const struct kl_allow_conf *a;
	char why[128];
	size_t i;

	c.allow.items = allow;
	c.allow.n = sizeof(allow) / sizeof(allow[0]);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strcpy(why, "untouched");
		a = kl_chatops_authorize(&c, cases[i].user, cases[i].ns, cases[i].replicas, why,
					 sizeof(why));
		if (a != (cases[i].entry < 0 ? NULL : &allow[cases[i].entry]))
			fail_msg("%s %s %d: got entry %td, want %d", cases[i].user, cases[i].ns,
				 cases[i].replicas, a ? a - allow : -1, cases[i].entry);
		if (strcmp(why, cases[i].why) != 0)
			fail_msg("%s %s %d: why \"%s\", want \"%s\"", cases[i].user, cases[i].ns,
				 cases[i].replicas, why, cases[i].why);
	}

	/* why may be NULL; an empty list, user or namespace denies */
	assert_ptr_equal(kl_chatops_authorize(&c, "alex.guerra", "moc-x", 1, NULL, 0), &allow[0]);
	assert_null(kl_chatops_authorize(&c, "", "moc-x", 1, why, sizeof(why)));
	assert_null(kl_chatops_authorize(&c, NULL, "moc-x", -1, why, sizeof(why)));
	assert_null(kl_chatops_authorize(&c, "alex.guerra", "", -1, why, sizeof(why)));
	c.allow.n = 0;
	assert_null(kl_chatops_authorize(&c, "alex.guerra", "moc-x", 0, why, sizeof(why)));
	assert_string_equal(why, "alex.guerra may not scale in moc-x");
	assert_null(kl_chatops_authorize(NULL, "alex.guerra", "moc-x", 0, why, sizeof(why)));
}


/* ---------------------------------------------------------------- silences */

static const char *const ctls[] = { "crash-watcher", "notready-watcher", NULL };
#define DAY_MS (24 * 3600 * 1000ULL)

static void scmd_ok(const char *text, enum kl_scmd_verb verb, const char *ns, const char *ctl,
		    uint64_t for_ms, const char *reason)
{
	struct kl_scmd c;
	char err[256];

	if (kl_scmd_parse(text, ctls, 7 * DAY_MS, &c, err, sizeof(err)) != 0)
		fail_msg("%s: %s", text, err);
	assert_int_equal(c.verb, verb);
	assert_string_equal(c.ns, ns);
	assert_string_equal(c.controller, ctl);
	assert_int_equal(c.for_ms, for_ms);
	assert_string_equal(c.reason, reason);
}

static void scmd_bad(const char *text, const char *want)
{
	struct kl_scmd c;
	char err[256];

	assert_int_equal(kl_scmd_parse(text, ctls, 7 * DAY_MS, &c, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("%s: got %s, want %s", text, err, want);
}

static void test_silence_grammar(void **unused)
{
	(void)unused;
	scmd_ok("silence moc-pricing 2h deploy broke it", KL_SCMD_SILENCE, "moc-pricing", "",
		2 * 3600000, "deploy broke it");
	scmd_ok("  silence moc crash-watcher 1d", KL_SCMD_SILENCE, "moc", "crash-watcher", DAY_MS,
		"");
	scmd_ok("silence moc 7d \t x\ny ", KL_SCMD_SILENCE, "moc", "", 7 * DAY_MS, "x y");
	scmd_ok("unsilence moc", KL_SCMD_UNSILENCE, "moc", "", 0, "");
	scmd_ok("unsilence moc notready-watcher", KL_SCMD_UNSILENCE, "moc", "notready-watcher",
		0, "");
	scmd_ok("silences", KL_SCMD_SILENCES, "", "", 0, "");
	scmd_ok("alerts moc", KL_SCMD_ALERTS, "moc", "", 0, "");
	scmd_bad("silence moc 8d", "silence: 192h is longer than the allowed 168h");
	scmd_bad("silence moc", "usage: silence NAMESPACE [CONTROLLER] DURATION");
	scmd_bad("silence moc nobody-watcher 1h", "\"nobody-watcher\" is neither");
	scmd_bad("silence Moc 1h", "\"Moc\" is not a namespace name");
	scmd_bad("silence moc 0s", "is neither");
	scmd_bad("unsilence", "usage: unsilence NAMESPACE [CONTROLLER]");
	scmd_bad("unsilence moc crash-watcher more", "unsilence: too many words");
	scmd_bad("alerts a b", "alerts: too many words");
	scmd_bad("silencio moc", "unknown command \"silencio\"");
	assert_true(kl_scmd_is_ours("  alerts"));
	assert_false(kl_scmd_is_ours("set-replicas a b 1"));
	assert_false(kl_scmd_is_ours(""));
}

static void inter_ok(const char *json, const char *user, const char *text)
{
	struct kl_interactive in;
	char err[256];

	if (kl_interactive_parse(json, strlen(json), &in, err, sizeof(err)) != 0)
		fail_msg("%s: %s", json, err);
	assert_string_equal(in.user, user);
	assert_string_equal(in.text, text);
	assert_string_equal(in.response_url, "https://hooks.slack.com/actions/T1/2/x");
}

static void inter_bad(const char *json, const char *want)
{
	struct kl_interactive in;
	char err[256];

	assert_int_equal(kl_interactive_parse(json, strlen(json), &in, err, sizeof(err)),
			 -EBADMSG);
	if (!strstr(err, want))
		fail_msg("%s: got %s, want %s", json, err, want);
	assert_string_equal(in.text, "");
}

#define RU "\"response_url\":\"https://hooks.slack.com/actions/T1/2/x\""

static void test_interactive(void **unused)
{
	(void)unused;
	inter_ok("{\"type\":\"block_actions\",\"user\":{\"id\":\"U1\",\"username\":\"alex\"}," RU
		 ",\"actions\":[{\"action_id\":\"kl_silence_1h\",\"value\":\"moc crash-watcher\"}]}",
		 "alex", "silence moc crash-watcher 1h");
	inter_ok("{\"type\":\"block_actions\",\"user\":{\"name\":\"bo\"}," RU
		 ",\"actions\":[{\"action_id\":\"kl_silence_1d\",\"value\":\"moc\"}]}",
		 "bo", "silence moc 1d");
	inter_ok("{\"type\":\"block_actions\",\"user\":{\"name\":\"bo\"}," RU
		 ",\"actions\":[{\"action_id\":\"kl_alerts\",\"value\":\"moc crash-watcher\"}]}",
		 "bo", "alerts moc");
	inter_bad("{\"type\":\"view_submission\"}", "type is not block_actions");
	inter_bad("{\"type\":\"block_actions\"," RU ",\"actions\":[]}", "no user");
	inter_bad("{\"type\":\"block_actions\",\"user\":{\"name\":\"bo\"},\"actions\":[]}",
		  "no response_url");
	inter_bad("{\"type\":\"block_actions\",\"user\":{\"name\":\"bo\"}," RU ",\"actions\":[]}",
		  "no actions");
	inter_bad("{\"type\":\"block_actions\",\"user\":{\"name\":\"bo\"}," RU
		  ",\"actions\":[{\"action_id\":\"kl_silence_1h\",\"value\":\"moc 9d\\\"x\"}]}",
		  "value is not");
	inter_bad("{\"type\":\"block_actions\",\"user\":{\"name\":\"bo\"}," RU
		  ",\"actions\":[{\"action_id\":\"kl_silence_1h\",\"value\":\"a b c\"}]}",
		  "value is not");
	inter_bad("{\"type\":\"block_actions\",\"user\":{\"name\":\"bo\"}," RU
		  ",\"actions\":[{\"action_id\":\"delete_all\",\"value\":\"moc\"}]}",
		  "unknown action_id");
	inter_bad("{\"type\":", "not JSON");
	inter_bad("", "not");
}

static void test_response_url(void **unused)
{
	const char *local[] = { "127.0.0.1", "Hooks.Example.org" };
	struct kl_strv def = { NULL, 0 }, mine = { local, 2 };

	(void)unused;
	assert_true(kl_silences_url_allowed(&def, "https://hooks.slack.com/actions/x"));
	assert_true(kl_silences_url_allowed(NULL, "https://HOOKS.slack.com:443/a"));
	assert_false(kl_silences_url_allowed(&def, "https://hooks.slack.com.evil.io/a"));
	assert_false(kl_silences_url_allowed(&def, "https://hooks.slack.com@evil.io/a"));
	assert_false(kl_silences_url_allowed(&def, "https://evil.io/hooks.slack.com"));
	assert_false(kl_silences_url_allowed(&def, "ftp://hooks.slack.com/a"));
	assert_false(kl_silences_url_allowed(&def, "https://"));
	assert_true(kl_silences_url_allowed(&mine, "http://127.0.0.1:8080/r"));
	assert_true(kl_silences_url_allowed(&mine, "https://hooks.example.org"));
	assert_false(kl_silences_url_allowed(&mine, "https://hooks.slack.com/a"));
	assert_false(kl_silences_url_allowed(&mine, "http://127.0.0.2/r"));
}

static void test_authorize_silence(void **unused)
{
	const char *u_alex[] = { "alex" };
	const char *ns_moc[] = { "moc-*" };
	struct kl_allow_conf allow[] = {
		{ { u_alex, 1 }, { ns_moc, 1 }, 5, 1, 0 },
		{ { u_alex, 1 }, { ns_moc, 1 }, 0, 0, 1 },
	};
	struct kl_chatops_conf c = { 0 };
	char why[128];

	(void)unused;
	c.allow.items = allow;
	c.allow.n = 1;
	assert_null(kl_chatops_authorize_silence(&c, "alex", "moc-a", why, sizeof(why)));
	assert_string_equal(why, "alex may not silence alerts in moc-a");
	c.allow.n = 2;
	assert_ptr_equal(kl_chatops_authorize_silence(&c, "alex", "moc-a", why, sizeof(why)),
			 &allow[1]);
	assert_null(kl_chatops_authorize_silence(&c, "alex", "kube-system", why, sizeof(why)));
	assert_null(kl_chatops_authorize_silence(&c, "bob", "moc-a", why, sizeof(why)));
}

/* The leader's address from the Lease: literal IPs and a port, nothing else. */
static void test_forward_url(void **unused)
{
	static const char *const bad[] = {
		"", "10.0.0.1", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:+80",
		"10.0.0.1:-1", "10.0.0.1:80x", "10.0.0.1:080", "kloompas:8080",
		"localhost:8080", "10.0.0.1:80:80", "0.0.0.0:8080", "0.1.2.3:8080",
		"224.0.0.1:8080", "255.255.255.255:8080", "[::]:8080", "[ff02::1]:8080",
		"[::1]8080", "[::1]", "::1:8080", "[10.0.0.1]:8080", "10.0.0.1 :8080",
		"user@10.0.0.1:80", "10.0.0.1:80/x", "10.0.0.1:80?x", "[fe80::1%eth0]:80",
		"1.2.3:80", "01.2.3.4.5:80",
	};
	char url[64];
	size_t i;

	(void)unused;
	assert_int_equal(kl_chat_forward_url("10.244.1.7:8080", "/slack/interactive", "", url,
					     sizeof(url)),
			 0);
	assert_string_equal(url, "http://10.244.1.7:8080/slack/interactive");
	assert_int_equal(kl_chat_forward_url("127.0.0.1:1", "/api/v1/silences", "a=b", url,
					     sizeof(url)),
			 0);
	assert_string_equal(url, "http://127.0.0.1:1/api/v1/silences?a=b");
	assert_int_equal(kl_chat_forward_url("[fd00::7]:65535", "/x", NULL, url, sizeof(url)), 0);
	assert_string_equal(url, "http://[fd00::7]:65535/x");
	assert_int_equal(kl_chat_forward_url("[::1]:8080", "/x", "", url, sizeof(url)), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (kl_chat_forward_url(bad[i], "/x", "", url, sizeof(url)) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(kl_chat_forward_url(NULL, "/x", "", url, sizeof(url)), -EINVAL);
	assert_int_equal(kl_chat_forward_url("10.0.0.1:80", "x", "", url, sizeof(url)), -EINVAL);
	assert_int_equal(kl_chat_forward_url("10.0.0.1:80", "/0123456789012345678901234567890123"
					     "4567890123456789", "", url, sizeof(url)),
			 -ENOSPC);
}

struct fake_headers {
	const char *names[8], *values[8];
};

static const char *fake_header(const void *arg, const char *name)
{
	const struct fake_headers *h = arg;
	size_t i;

	for (i = 0; i < 8 && h->names[i]; i++)
		if (strcasecmp(h->names[i], name) == 0)
			return h->values[i];
	return NULL;
}

/* What a forwarded request carries: the checked headers as they came, and the guard. */
static void test_forward_headers(void **unused)
{
	struct fake_headers h = {
		{ "content-type", "X-Slack-Signature", "x-slack-request-timestamp", "Cookie",
		  "Host", "X-Kloompas-Forwarded" },
		{ "application/x-www-form-urlencoded", "v0=abc", "1700000000", "c=1", "x", "0" },
	};
	struct fake_headers api = { { "Authorization" }, { "Bearer t0k\t" } };
	struct fake_headers crlf = { { "Authorization" }, { "Bearer a\r\nX-Evil: 1" } };
	const char *out[8];
	char buf[512];

	(void)unused;
	assert_int_equal(kl_chat_forward_headers(fake_header, &h, buf, sizeof(buf), out, 8), 5);
	assert_string_equal(out[0], "Content-Type: application/x-www-form-urlencoded");
	assert_string_equal(out[1], "X-Slack-Request-Timestamp: 1700000000");
	assert_string_equal(out[2], "X-Slack-Signature: v0=abc");
	assert_string_equal(out[3], "X-Kloompas-Forwarded: 1");
	assert_string_equal(out[4], "Expect:");
	assert_null(out[5]);
	assert_int_equal(kl_chat_forward_headers(fake_header, &api, buf, sizeof(buf), out, 8), 3);
	assert_string_equal(out[0], "Authorization: Bearer t0k\t");
	assert_string_equal(out[1], "X-Kloompas-Forwarded: 1");
	assert_int_equal(kl_chat_forward_headers(fake_header, &crlf, buf, sizeof(buf), out, 8),
			 -EINVAL);
	assert_int_equal(kl_chat_forward_headers(fake_header, &h, buf, 40, out, 8), -ENOSPC);
	assert_int_equal(kl_chat_forward_headers(fake_header, &h, buf, sizeof(buf), out, 6),
			 -ENOSPC);
}

/* help: the replica commands, the silence commands when served, help, the durations. */
static void test_chat_help(void **unused)
{
	struct kl_buf b;
	const char *t;

	(void)unused;
	kl_buf_init(&b);
	kl_chat_help(&b, true, false);
	assert_string_equal(kl_buf_str(&b), kl_cmd_help());
	kl_buf_free(&b);

	kl_buf_init(&b);
	kl_chat_help(&b, true, true);
	t = kl_buf_str(&b);
	assert_non_null(strstr(t, "Commands:\n  set-replicas NAMESPACE DEPLOYMENT N"));
	assert_non_null(strstr(t, "  get-replicas NAMESPACE DEPLOYMENT"));
	assert_non_null(strstr(t, "\n  silence NAMESPACE [CONTROLLER] DURATION [REASON...]  "));
	assert_non_null(strstr(t, "\n  unsilence NAMESPACE [CONTROLLER]  "));
	assert_non_null(strstr(t, "\n  silences [NAMESPACE]  "));
	assert_non_null(strstr(t, "\n  alerts [NAMESPACE]  list the alerts firing now\n"
				  "  help  this text\n"));
	assert_true(strstr(t, "set-replicas") < strstr(t, "silence NAMESPACE"));
	assert_non_null(strstr(t, "\nDurations: 30m, 2h, 1h30m; silences also take days"));
	kl_buf_free(&b);

	kl_buf_init(&b);
	kl_chat_help(&b, false, true);
	t = kl_buf_str(&b);
	assert_null(strstr(t, "replicas"));
	assert_true(strncmp(t, "Commands:\n  silence NAMESPACE", 29) == 0);
	kl_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_good),
		cmocka_unit_test(test_cmd_bad),
		cmocka_unit_test(test_cmd_edges),
		cmocka_unit_test(test_cmd_help),
		cmocka_unit_test(test_cmd_json),
		cmocka_unit_test(test_slack_example),
		cmocka_unit_test(test_slack_failures),
		cmocka_unit_test(test_slack_reference),
		cmocka_unit_test(test_form),
		cmocka_unit_test(test_form_edges),
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_authorize),
		cmocka_unit_test(test_silence_grammar),
		cmocka_unit_test(test_interactive),
		cmocka_unit_test(test_response_url),
		cmocka_unit_test(test_authorize_silence),
		cmocka_unit_test(test_forward_url),
		cmocka_unit_test(test_forward_headers),
		cmocka_unit_test(test_chat_help),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
