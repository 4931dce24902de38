/*
 * test/fuzz/fuzz_config.c - the config file: YAML to nodes, nodes to typed structs,
 * controller sections through their key tables, and the api tokens file.
 *
 * Input: a kloompas.yaml, optionally followed by a line "#--tokens--" and the
 * content of the api tokens file. The YAML is parsed from the buffer
 * (kl_conf_parse_buffer) and then loaded for real from a file in a private folder
 * (kl_config_load), whose secrets/ holds the files the SPEC example names
 * (slack-url, slack-signing-secret, api-tokens); a config that loads is bound to
 * every controller (kl_controllers_configure) and its chat-ops section is used
 * the way the chat-ops listener uses it. Every error must come with a message.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"
#include "config/node.h"
#include "controllers/chatops.h"
#include "controllers/controller.h"
#include "notify/notify.h"
#include "test/fuzz/fuzz.h"
#include "util/arena.h"
#include "util/error.h"

#define TOKENS_MARK "\n#--tokens--\n"

static char cfg_path[300], tokens_path[300];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char p[300];

	mkdir(fuzz_path(p, sizeof(p), "secrets"), 0700);
	fuzz_write_str(fuzz_path(p, sizeof(p), "secrets/slack-url"),
		       "https://hooks.slack.com/services/T000/B000/XXXXXXXX\n");
	fuzz_write_str(fuzz_path(p, sizeof(p), "secrets/slack-signing-secret"),
		       "8f742231b10e8888abcd99yyyzzz85a5\n");
	fuzz_path(tokens_path, sizeof(tokens_path), "secrets/api-tokens");
	fuzz_path(cfg_path, sizeof(cfg_path), "kloompas.yaml");
	return 0;
}

static void walk(const struct kl_conf_node *n, int depth)
{
	size_t i;

	if (depth > 1000)
		fuzz_fail("tree deeper than 1000");
	if (n->line < 1)
		fuzz_fail("node without a line");
	if (n->kind == KL_CONF_SCALAR && !n->value)
		fuzz_fail("scalar without a value");
	for (i = 0; i < n->nkids; i++) {
		if ((n->kind == KL_CONF_MAP) != (n->kids[i].key != NULL))
			fuzz_fail("map value without key, or sequence item with one");
		if (n->kind == KL_CONF_MAP && kl_conf_get(n, n->kids[i].key) != &n->kids[i])
			fuzz_fail("duplicate or unreachable key \"%s\"", n->kids[i].key);
		walk(&n->kids[i], depth + 1);
	}
}

static void use_chatops(const struct kl_config *c)
{
	const struct kl_chatops_conf *co = &c->chatops;
	char why[200];
	size_t i;

	for (i = 0; i < co->ntokens; i++) {
		char hdr[600];
		const char *user;

		if (!co->tokens[i].token || !co->tokens[i].user)
			fuzz_fail("api token %zu without token or user", i);
		if (strlen(co->tokens[i].token) > 500)
			continue;
		snprintf(hdr, sizeof(hdr), "Bearer %s", co->tokens[i].token);
		user = kl_bearer_user(co, hdr);
		/* a token that is a valid b64token finds a user (the first one that has it) */
		if (!user && !strpbrk(co->tokens[i].token, " \t") &&
		    strspn(co->tokens[i].token,
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789-._~+/=") == strlen(co->tokens[i].token))
			fuzz_fail("api token %zu does not authenticate", i);
		if (user)
			kl_chatops_authorize(co, user, "moc-pricing", 5, why, sizeof(why));
	}
	kl_bearer_user(co, "Bearer nope");
	kl_chatops_authorize(co, "alex.guerra", "moc-pricing", 20, why, sizeof(why));
	kl_chatops_authorize(co, "alex.guerra", "kube-system", -1, why, sizeof(why));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct kl_controller_desc *d;
	struct kl_conf_node *root = NULL;
	void *confs[16];
	struct kl_arena arena;
	struct kl_config c;
	struct kl_error err;
	const uint8_t *tokens;
	size_t yaml_len, tokens_len, i;
	int rc;

	if (kl_controllers_count() > sizeof(confs) / sizeof(confs[0]))
		fuzz_fail("more controllers than the fuzzer has room for");
	fuzz_split(data, size, TOKENS_MARK, &yaml_len, &tokens, &tokens_len);

	/* the tree, from the buffer */
	kl_arena_init(&arena);
	kl_error_clear(&err);
	rc = kl_conf_parse_buffer(&arena, "fuzz.yaml", (const char *)data, yaml_len, &root, &err);
	if (rc == 0) {
		if (!root || root->kind != KL_CONF_MAP)
			fuzz_fail("parse gave no map");
		walk(root, 0);
	} else if (!kl_error_isset(&err)) {
		fuzz_fail("parse failed with %d and no message", rc);
	}
	kl_arena_free(&arena);

	/* the whole load, from files */
	fuzz_write(cfg_path, data, yaml_len);
	if (tokens)
		fuzz_write(tokens_path, tokens, tokens_len);
	else
		fuzz_write_str(tokens_path, "s3cr3t-token-1 alex.guerra\ns3cr3t-token-2 ci-bot\n");
	kl_error_clear(&err);
	rc = kl_config_load(&c, cfg_path, &err);
	if (rc == 0)
		rc = kl_notifiers_configure(&c, &err);
	if (rc < 0) {
		if (!kl_error_isset(&err))
			fuzz_fail("load failed with %d and no message", rc);
		kl_config_free(&c);
		return 0;
	}
	for (i = 0; i < c.notifiers.n; i++) {
		const struct kl_notifier_conf *n =
		    (const struct kl_notifier_conf *)c.notifiers.items + i;

		if (!n->name || kl_config_notifier(&c, n->name) != n)
			fuzz_fail("notifier %zu not found by its name", i);
	}
	use_chatops(&c);
	rc = kl_controllers_configure(&c, confs, &err);
	if (rc < 0 && !kl_error_isset(&err))
		fuzz_fail("configure failed with %d and no message", rc);
	for (i = 0; rc == 0 && (d = &kl_controllers[i])->name; i++)
		if (!confs[i])
			fuzz_fail("controller %s has no config", d->name);
	kl_config_free(&c);
	return 0;
}
