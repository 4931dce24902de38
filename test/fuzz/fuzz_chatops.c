/*
 * test/fuzz/fuzz_chatops.c - the chat-ops front door: Slack form bodies, request
 * signatures, bearer tokens, the API's JSON body and the command grammar.
 *
 * Input: fields separated by NUL bytes, the last taking the rest (NULs included):
 *   FLAGS \0 COMMAND \0 AUTHORIZATION \0 TIMESTAMP \0 SIGNATURE \0 SECRET \0 BODY
 * FLAGS' first byte picks output buffer sizes, the clock skew and the allowed
 * "for" maximum. BODY is used as a Slack form (what serve_slack reads: text,
 * user_name) and as the API's JSON body (kl_cmd_parse_json, what serve_api runs);
 * COMMAND goes to kl_cmd_parse directly.
 * Properties checked beyond "no crash": a signature computed here for the body
 * verifies, a parsed command holds valid names, and kl_form_get's answer does
 * not depend on the size of the output buffer except for -E2BIG.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/hmac.h>

#include "config/config.h"
#include "controllers/bearer.h"
#include "controllers/chatops.h"
#include "controllers/command.h"
#include "controllers/form.h"
#include "controllers/slack.h"
#include "test/fuzz/fuzz.h"
#include "util/error.h"

#define NFIELDS 7

static const char *const form_keys[] = {"text",		"user_name", "command", "user_id",
					"response_url", "",	     "te%78t"};

static struct kl_api_token tokens[] = {
    {"s3cr3t-token-1", "alex.guerra"},
    {"s3cr3t-token-2", "ci-bot"},
    {"s3cr3t-token-1", "shadowed"},
};

static const char *users_alex[] = {"alex.guerra"};
static const char *ns_moc[] = {"moc-*", "[a-c]*"};

static struct kl_allow_conf allow[] = {
    {{users_alex, 1}, {ns_moc, 2}, 20, 1, 0},
    {{users_alex, 1}, {ns_moc, 1}, 3, 1, 0},
};

static struct kl_chatops_conf conf = {
    .slack_signing_secret = "8f742231b10e8888abcd99yyyzzz85a5",
    .tokens = tokens,
    .ntokens = sizeof(tokens) / sizeof(tokens[0]),
    .allow = {allow, sizeof(allow) / sizeof(allow[0])},
};

static bool valid_name(const char *s, size_t max, bool dots)
{
	size_t i, n = strlen(s);

	if (!n || n > max)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];
		bool an = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (an)
			continue;
		if ((c == '-' || (dots && c == '.')) && i > 0 && i < n - 1)
			continue;
		return false;
	}
	return true;
}

static void check_cmd(int rc, const struct kl_cmd *cmd, const char *err, uint64_t max_ms)
{
	if (rc < 0) {
		if (!err[0])
			fuzz_fail("command refused without a message");
		return;
	}
	if (rc != 0)
		fuzz_fail("kl_cmd_parse returned %d", rc);
	if (cmd->verb == KL_CMD_HELP)
		return;
	if (!valid_name(cmd->ns, 63, false) || !valid_name(cmd->deployment, KL_NAME_MAX, true))
		fuzz_fail("accepted bad names \"%s\" \"%s\"", cmd->ns, cmd->deployment);
	if (cmd->verb == KL_CMD_SET && (cmd->replicas < 0 || cmd->replicas > 100000))
		fuzz_fail("accepted replicas %d", cmd->replicas);
	if (cmd->for_ms > max_ms)
		fuzz_fail("accepted for %llu ms over %llu", (unsigned long long)cmd->for_ms,
			  (unsigned long long)max_ms);
}

static void parse(const char *text, uint64_t max_ms)
{
	struct kl_cmd cmd;
	char err[300];
	int rc;

	rc = kl_cmd_parse(text, "PRODUCTION", max_ms, &cmd, err, sizeof(err));
	check_cmd(rc, &cmd, err, max_ms);
	/* a tiny message buffer must still be terminated */
	rc = kl_cmd_parse(text, NULL, max_ms, &cmd, err, 8);
	if (strnlen(err, 8) == 8)
		fuzz_fail("error message not terminated in 8 bytes");
	kl_cmd_parse(text, "", max_ms, &cmd, NULL, 0);
}

static void form(const char *body, size_t len, size_t small)
{
	char big[2048], *tiny = malloc(small ? small : 1);
	size_t i;

	if (!tiny)
		fuzz_fail("out of memory");
	for (i = 0; i < sizeof(form_keys) / sizeof(form_keys[0]); i++) {
		int rb = kl_form_get(body, len, form_keys[i], big, sizeof(big));
		int rt = kl_form_get(body, len, form_keys[i], tiny, small);

		if (rb == 0 && strlen(big) >= sizeof(big))
			fuzz_fail("form value not terminated");
		if (rb != rt && !(rt == -E2BIG && (rb == 0 || rb == -E2BIG)))
			fuzz_fail("form key %s: %d with 2048 bytes, %d with %zu", form_keys[i], rb,
				  rt, small);
		if (rb == 0 && rt == 0 && strcmp(big, tiny) != 0)
			fuzz_fail("form key %s decodes differently by buffer size", form_keys[i]);
	}
	free(tiny);
}

/* What serve_slack does with a verified request. */
static void slack(const char *body, size_t len, uint64_t max_ms)
{
	char text[1024], user[128], why[300];
	struct kl_cmd cmd;
	int rc;

	if (kl_form_get(body, len, "text", text, sizeof(text)) < 0 ||
	    kl_form_get(body, len, "user_name", user, sizeof(user)) < 0 || !user[0])
		return;
	rc = kl_cmd_parse(text, "PRODUCTION", max_ms, &cmd, why, sizeof(why));
	check_cmd(rc, &cmd, why, max_ms);
	if (rc == 0 && cmd.verb != KL_CMD_HELP)
		kl_chatops_authorize(&conf, user, cmd.ns,
				     cmd.verb == KL_CMD_SET ? cmd.replicas : -1, why, sizeof(why));
}

/* What serve_api does with the JSON body: the API's own parser, then the grammar's checks. */
static void api(const char *body, size_t len, uint64_t max_ms)
{
	struct kl_cmd cmd;
	char why[400];
	int rc = kl_cmd_parse_json(body, len, "PRODUCTION", max_ms, &cmd, why, sizeof(why));

	if (rc < 0 && !why[0])
		fuzz_fail("API body refused without a message");
	if (rc == -EINVAL || rc == 0) {
		if (cmd.verb != KL_CMD_SET && cmd.verb != KL_CMD_GET)
			fuzz_fail("the API body made command %d", cmd.verb);
		check_cmd(rc, &cmd, why, max_ms);
	}
}

static void verify(const char *secret, const char *ts, const char *sig, const char *body,
		   size_t len, int64_t skew)
{
	unsigned char mac[32];
	unsigned int maclen = 0;
	char good[3 + 64 + 1], err[200], *msg;
	int64_t now = 1531420618;
	size_t i, mlen;
	int rc;

	/* the clock near the request's own timestamp when it is a number */
	if (ts[0] >= '0' && ts[0] <= '9' && strlen(ts) < 19)
		now = strtoll(ts, NULL, 10) + skew;
	rc = kl_slack_verify(secret, ts, sig, body, len, now, err, sizeof(err));
	if (rc != 0 && rc != -EACCES && rc != -ETIME && rc != -EIO)
		fuzz_fail("kl_slack_verify returned %d", rc);
	if (rc != 0 && !err[0])
		fuzz_fail("signature refused without a message");
	/* (checked for the configured secret only: a fuzzed one may be any word) */
	if (secret == conf.slack_signing_secret && strstr(err, secret))
		fuzz_fail("the secret reached the message");
	if (rc == -ETIME || !secret[0])
		return;

	/* the signature Slack would send must verify */
	mlen = 3 + strlen(ts) + 1 + len;
	msg = malloc(mlen ? mlen : 1);
	if (!msg)
		fuzz_fail("out of memory");
	memcpy(msg, "v0:", 3);
	memcpy(msg + 3, ts, strlen(ts));
	msg[3 + strlen(ts)] = ':';
	if (len)
		memcpy(msg + 4 + strlen(ts), body, len);
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg, mlen, mac,
		  &maclen) ||
	    maclen != 32)
		fuzz_fail("HMAC failed");
	free(msg);
	memcpy(good, "v0=", 3);
	for (i = 0; i < 32; i++)
		snprintf(good + 3 + 2 * i, 3, "%02x", mac[i]);
	rc = kl_slack_verify(secret, ts, good, body, len, now, err, sizeof(err));
	if (rc == -ETIME)
		return;
	if (rc != 0)
		fuzz_fail("a correct signature was refused: %d %s", rc, err);
	if (strcmp(sig, good) != 0 &&
	    kl_slack_verify(secret, ts, sig, body, len, now, err, sizeof(err)) == 0)
		fuzz_fail("a wrong signature was accepted");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *f[NFIELDS];
	size_t flen[NFIELDS], i, small;
	char *copy = fuzz_strndup(data, size), *p = copy, *end = copy + size;
	uint64_t max_ms;
	unsigned flags;
	const char *user;
	char *body;

	for (i = 0; i < NFIELDS; i++) {
		char *z = i < NFIELDS - 1 ? memchr(p, '\0', (size_t)(end - p)) : NULL;

		f[i] = p;
		flen[i] = z ? (size_t)(z - p) : (size_t)(end - p);
		p = z ? z + 1 : end;
	}
	flags = flen[0] ? (unsigned char)f[0][0] : 0;
	small = (size_t[]){0, 1, 2, 8, 16, 64, 200, 1024}[flags & 7];
	max_ms = (uint64_t[]){86400000, 0, 1, 7200000}[(flags >> 3) & 3];

	/* the body in an allocation of exactly its size: a read past len is caught */
	body = malloc(flen[6] ? flen[6] : 1);
	if (!body)
		fuzz_fail("out of memory");
	memcpy(body, f[6], flen[6]);

	parse(f[1], max_ms);
	user = kl_bearer_user(&conf, f[2]);
	if (user && strcmp(user, "alex.guerra") != 0 && strcmp(user, "ci-bot") != 0)
		fuzz_fail("bearer gave user %s", user);
	verify(f[5][0] ? f[5] : conf.slack_signing_secret, f[3], f[4], body, flen[6],
	       (int64_t)(flags >> 5) * 100 - 350);
	form(body, flen[6], small);
	slack(body, flen[6], max_ms);
	api(body, flen[6], max_ms);
	free(body);
	free(copy);
	return 0;
}
