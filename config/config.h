/*
 * config/config.h - the Kloompas config file (docs/configuration.md) as typed structs.
 *
 * Everything loaded lives in the config's own arena: a failed load frees it all,
 * and kl_config_free() is the one call that ends it. Controller sections
 * ("controllers: {crash-watcher: ...}") are kept as nodes and bound by each
 * controller's own key table (see controllers/controller.h), so config/ does not
 * know the controllers.
 */
#ifndef KL_CONFIG_CONFIG_H
#define KL_CONFIG_CONFIG_H

#include <stdbool.h>

#include "config/node.h"
#include "util/arena.h"
#include "util/error.h"

/*
 * What every notifier has. The type and its needs (a URL, keys) are notify/'s
 * business (kl_notifiers_configure, from its table of types), not config/'s.
 */
struct kl_notifier_conf {
	const char *name;
	const char *type_name; /* as written */
	const char *url;       /* secret: from url or url_file; never logged */
	int line;	       /* where the entry starts, for later messages */
	const struct kl_conf_node *node; /* the entry, for notify/'s checks (NULL in tests) */
	void *conf; /* the type's own keys, bound by notify/ in the arena (NULL: none, or not yet) */
};

struct kl_route_conf {
	struct kl_strv namespaces; /* globs */
	struct kl_strv notifiers;  /* names of notifiers, checked to exist */
};

struct kl_allow_conf {
	struct kl_strv users;
	struct kl_strv namespaces; /* globs */
	unsigned max_replicas;	   /* default 0: nothing above zero is allowed unless set */
	int has_max;
	int silence; /* its users may silence alerts in its namespaces (default false) */
};

struct kl_api_token {
	const char *token; /* secret */
	const char *user;
};

struct kl_chatops_conf {
	const char *slack_signing_secret; /* secret, from slack_signing_secret_file */
	const char *api_tokens_text;	  /* secret, raw content of api_tokens_file */
	struct kl_api_token *tokens;	  /* parsed from api_tokens_text */
	size_t ntokens;
	struct kl_conf_list allow; /* struct kl_allow_conf */
	uint64_t max_silence_ms;   /* longest chat silence; default 7d */
	struct kl_strv response_hosts; /* hosts Slack response_urls may name; default hooks.slack.com */
};

struct kl_config {
	struct kl_arena arena;
	const char *path;	       /* NULL when no --config was given (defaults only) */
	const char *cluster;	       /* default "kubernetes" */
	const char *team_annotation;   /* default "kloompas.io/team" */
	struct kl_conf_list notifiers; /* struct kl_notifier_conf */
	struct kl_conf_list routes;    /* struct kl_route_conf */
	struct kl_chatops_conf chatops;
	const struct kl_conf_node *controllers; /* the "controllers" map, or NULL */
};

/* Fills defaults; no file. Never fails. */
void kl_config_init(struct kl_config *c);
/*
 * kl_config_init() then loads path. On error returns a negative errno, sets err
 * ("FILE:LINE: what is wrong") and leaves c freed (kl_config_free() is still safe).
 * Checks beyond types: notifier names unique, routes name existing notifiers, api
 * tokens file lines "TOKEN USER" (errors name the tokens file and line, never the
 * token). Notifier types and URLs are checked by notify/'s kl_notifiers_configure().
 */
int kl_config_load(struct kl_config *c, const char *path, struct kl_error *err);
void kl_config_free(struct kl_config *c);
/* Whether key is one of the keys every notifier entry has (bound here, not by its type). */
bool kl_config_notifier_key(const char *key);
/* Finds a notifier by name; NULL when absent. */
const struct kl_notifier_conf *kl_config_notifier(const struct kl_config *c, const char *name);

#endif
