/*
 * config/config.c - the Kloompas config file into struct kl_config (see config.h).
 *
 * The types and the generic checks (unknown keys, wrong kinds, secret files) come
 * from the key tables below and kl_conf_bind(); this file adds what a table cannot
 * say: notifier names unique and known to routes, chat-ops rules complete, and the API tokens file read as "TOKEN USER"
 * lines. The "controllers" section is not bound here: it is kept as a node for
 * each controller's own table, so config/ does not know the controllers; nor
 * does it know the notifier types: each entry keeps its node for notify/, and
 * keys other than the common ones are let through for the type's own table.
 *
 * Everything lives in c->arena; a failed load frees the arena, so no error path
 * has anything else to undo. Secrets (URLs, signing secret, tokens) are never put
 * in an error message.
 */
#include "config/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The key tables, kept as tables. */
/* clang-format off */
#define N(f) offsetof(struct kl_notifier_conf, f)
static const struct kl_conf_key notifier_keys[] = {
	{ "name", KL_CONF_STRING, N(name), NULL, 0, NULL },
	{ "type", KL_CONF_STRING, N(type_name), NULL, 0, NULL },
	{ "url", KL_CONF_STRING, N(url), NULL, 0, NULL },
	{ "url_file", KL_CONF_SECRET_FILE, N(url), NULL, 0, NULL },
	/* the type's own keys: notify/ binds them with the type's table */
	{ "*", KL_CONF_OTHER, 0, NULL, 0, NULL },
	{ NULL, 0, 0, NULL, 0, NULL },
};
#undef N

#define R(f) offsetof(struct kl_route_conf, f)
static const struct kl_conf_key route_keys[] = {
	{ "namespaces", KL_CONF_GLOBS, R(namespaces), NULL, 0, NULL },
	{ "notifiers", KL_CONF_STRINGS, R(notifiers), NULL, 0, NULL },
	{ NULL, 0, 0, NULL, 0, NULL },
};
#undef R

#define A(f) offsetof(struct kl_allow_conf, f)
static const struct kl_conf_key allow_keys[] = {
	{ "users", KL_CONF_STRINGS, A(users), NULL, 0, NULL },
	{ "namespaces", KL_CONF_GLOBS, A(namespaces), NULL, 0, NULL },
	{ "max_replicas", KL_CONF_UINT, A(max_replicas), NULL, 0, NULL },
	{ "silence", KL_CONF_BOOL, A(silence), NULL, 0, NULL },
	{ NULL, 0, 0, NULL, 0, NULL },
};
#undef A

#define C(f) offsetof(struct kl_chatops_conf, f)
static const struct kl_conf_key chatops_keys[] = {
	{ "slack_signing_secret_file", KL_CONF_SECRET_FILE, C(slack_signing_secret), NULL, 0,
	  NULL },
	{ "api_tokens_file", KL_CONF_SECRET_FILE, C(api_tokens_text), NULL, 0, NULL },
	{ "allow", KL_CONF_LIST, C(allow), allow_keys, sizeof(struct kl_allow_conf), NULL },
	{ "max_silence", KL_CONF_DURATION, C(max_silence_ms), NULL, 0, NULL },
	{ "response_url_hosts", KL_CONF_STRINGS, C(response_hosts), NULL, 0, NULL },
	{ NULL, 0, 0, NULL, 0, NULL },
};
#undef C

/* "controllers" is taken out of the root before binding: see bind_top() */
#define T(f) offsetof(struct kl_config, f)
static const struct kl_conf_key top_keys[] = {
	{ "cluster", KL_CONF_STRING, T(cluster), NULL, 0, NULL },
	{ "team_annotation", KL_CONF_STRING, T(team_annotation), NULL, 0, NULL },
	{ "notifiers", KL_CONF_LIST, T(notifiers), notifier_keys, sizeof(struct kl_notifier_conf),
	  NULL },
	{ "routes", KL_CONF_LIST, T(routes), route_keys, sizeof(struct kl_route_conf), NULL },
	{ "chatops", KL_CONF_STRUCT, T(chatops), chatops_keys, 0, NULL },
	{ NULL, 0, 0, NULL, 0, NULL },
};
#undef T

/* clang-format on */

void kl_config_init(struct kl_config *c)
{
	memset(c, 0, sizeof(*c));
	kl_arena_init(&c->arena);
	c->cluster = "kubernetes";
	c->team_annotation = "kloompas.io/team";
	c->chatops.max_silence_ms = 7 * 24 * 3600 * 1000ULL;
}

void kl_config_free(struct kl_config *c)
{
	kl_arena_free(&c->arena);
	memset(c, 0, sizeof(*c));
	kl_arena_init(&c->arena);
}

bool kl_config_notifier_key(const char *key)
{
	const struct kl_conf_key *k;

	for (k = notifier_keys; k->name; k++)
		if (k->type != KL_CONF_OTHER && !strcmp(k->name, key))
			return true;
	return false;
}

const struct kl_notifier_conf *kl_config_notifier(const struct kl_config *c, const char *name)
{
	const struct kl_notifier_conf *v = c->notifiers.items;
	size_t i;

	for (i = 0; i < c->notifiers.n; i++)
		if (v[i].name && !strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

/* Sets err at c->path:line (first error wins) and returns -EINVAL. */
static __attribute__((format(printf, 4, 5))) int fail(struct kl_config *c, struct kl_error *err,
						      int line, const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kl_error_set(err, c->path, line, 0, "%s", msg);
	return -EINVAL;
}

/* The item nodes of a top-level list, or NULL when the key is absent or null. */
static const struct kl_conf_node *items_of(const struct kl_conf_node *map, const char *key)
{
	const struct kl_conf_node *n = kl_conf_get(map, key);

	return n && n->kind == KL_CONF_SEQ ? n->kids : NULL;
}

/*
 * Binds the root without "controllers", which is kept as a node. Binding a copy
 * of the root minus that one key keeps "unknown key" errors for everything else.
 */
static int bind_top(struct kl_config *c, const struct kl_conf_node *root, struct kl_error *err)
{
	struct kl_conf_node *copy;
	const struct kl_conf_node *ctl = NULL;
	size_t i;

	copy = kl_arena_alloc(&c->arena, sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	*copy = *root;
	copy->nkids = 0;
	if (root->nkids) {
		copy->kids = kl_arena_alloc(&c->arena, root->nkids * sizeof(*copy->kids));
		if (!copy->kids)
			return -ENOMEM;
	}
	for (i = 0; i < root->nkids; i++) {
		if (!strcmp(root->kids[i].key, "controllers"))
			ctl = &root->kids[i];
		else
			copy->kids[copy->nkids++] = root->kids[i];
	}
	if (ctl && ctl->kind == KL_CONF_MAP) {
		c->controllers = ctl;
	} else if (ctl && !(ctl->kind == KL_CONF_SCALAR && ctl->plain && !*ctl->value)) {
		return fail(c, err, ctl->key_line,
			    "controllers: expected a map of controller names, got %s",
			    ctl->kind == KL_CONF_SEQ ? "a list" : "a string");
	}
	return kl_conf_bind(&c->arena, c->path, copy, top_keys, c, "", err);
}

static int check_notifier(struct kl_config *c, struct kl_notifier_conf *nc, size_t i,
			  const struct kl_conf_node *node, struct kl_error *err)
{
	const struct kl_notifier_conf *v = c->notifiers.items;
	size_t j;

	nc->line = node->line;
	if (!nc->name || !*nc->name)
		return fail(c, err, node->line, "notifiers[%zu]: name is required", i);
	for (j = 0; j < i; j++)
		if (!strcmp(v[j].name, nc->name))
			return fail(
			    c, err, node->line,
			    "notifiers[%zu]: duplicate notifier name \"%s\" (first at line %d)", i,
			    nc->name, v[j].line);
	nc->node = node;
	return 0;
}

static int check_route(struct kl_config *c, const struct kl_route_conf *r, size_t i,
		       const struct kl_conf_node *node, struct kl_error *err)
{
	const struct kl_conf_node *nn;
	size_t j;

	if (!kl_conf_get(node, "namespaces"))
		return fail(c, err, node->line, "routes[%zu]: namespaces is required", i);
	if (!r->namespaces.n)
		return fail(c, err, kl_conf_get(node, "namespaces")->key_line,
			    "routes[%zu].namespaces: must not be empty", i);
	nn = kl_conf_get(node, "notifiers");
	if (!nn)
		return fail(c, err, node->line, "routes[%zu]: notifiers is required", i);
	if (!r->notifiers.n)
		return fail(c, err, nn->key_line, "routes[%zu].notifiers: must not be empty", i);
	for (j = 0; j < r->notifiers.n; j++)
		if (!kl_config_notifier(c, r->notifiers.v[j]))
			return fail(c, err, nn->kids[j].line,
				    "routes[%zu].notifiers[%zu]: unknown notifier \"%s\"", i, j,
				    r->notifiers.v[j]);
	return 0;
}

static int check_allow(struct kl_config *c, struct kl_allow_conf *a, size_t i,
		       const struct kl_conf_node *node, struct kl_error *err)
{
	static const char *const lists[] = {"users", "namespaces"};
	const struct kl_strv *v[] = {&a->users, &a->namespaces};
	const struct kl_conf_node *n;
	size_t k;

	for (k = 0; k < 2; k++) {
		n = kl_conf_get(node, lists[k]);
		if (!n)
			return fail(c, err, node->line, "chatops.allow[%zu]: %s is required", i,
				    lists[k]);
		if (!v[k]->n)
			return fail(c, err, n->key_line, "chatops.allow[%zu].%s: must not be empty",
				    i, lists[k]);
	}
	a->has_max = kl_conf_get(node, "max_replicas") != NULL;
	/* an entry that only grants silences needs no replica bound */
	if (!a->has_max && !kl_conf_get(node, "silence"))
		return fail(c, err, node->line, "chatops.allow[%zu]: max_replicas is required", i);
	return 0;
}

/* The tokens file as named in errors: relative to the config file like the bind did. */
static const char *tokens_path(struct kl_config *c, const struct kl_conf_node *chatops)
{
	const char *rel = kl_conf_get(chatops, "api_tokens_file")->value;
	const char *slash = strrchr(c->path, '/');
	size_t dlen, len;
	char *p;

	if (rel[0] == '/' || !slash)
		return rel;
	dlen = (size_t)(slash - c->path);
	len = dlen + 1 + strlen(rel);
	p = kl_arena_alloc(&c->arena, len + 1);
	if (!p)
		return rel;
	memcpy(p, c->path, dlen);
	p[dlen] = '/';
	strcpy(p + dlen + 1, rel);
	return p;
}

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/*
 * api_tokens_text as lines of "TOKEN USER"; blank lines and '#' comments are
 * skipped. Errors name the tokens file and line, never a token.
 */
static int parse_tokens(struct kl_config *c, const char *file, struct kl_error *err)
{
	struct kl_chatops_conf *co = &c->chatops;
	const char *s = co->api_tokens_text, *end, *f[3], *fe[3];
	size_t max = 1, i, nf, n = 0;
	int *lines, lineno = 0;

	for (end = s; *end; end++)
		if (*end == '\n')
			max++;
	co->tokens = kl_arena_alloc(&c->arena, max * sizeof(*co->tokens));
	lines = kl_arena_alloc(&c->arena, max * sizeof(*lines));
	if (!co->tokens || !lines)
		return -ENOMEM;
	for (; *s; s = *end ? end + 1 : end) {
		const char *p;

		end = strchr(s, '\n');
		if (!end)
			end = s + strlen(s);
		lineno++;
		p = s;
		nf = 0;
		while (p < end) {
			while (p < end && (is_blank(*p) || *p == '\r'))
				p++;
			if (p == end)
				break;
			if (nf == 0 && *p == '#')
				break;
			if (nf < 3)
				f[nf] = p;
			while (p < end && !is_blank(*p) && *p != '\r')
				p++;
			if (nf < 3)
				fe[nf] = p;
			nf++;
		}
		if (nf == 0)
			continue;
		if (nf != 2) {
			kl_error_set(err, file, lineno, 0, "expected \"TOKEN USER\"");
			return -EINVAL;
		}
		for (i = 0; i < n; i++) {
			if (strlen(co->tokens[i].token) == (size_t)(fe[0] - f[0]) &&
			    !memcmp(co->tokens[i].token, f[0], (size_t)(fe[0] - f[0]))) {
				kl_error_set(err, file, lineno, 0,
					     "duplicate token (first at line %d)", lines[i]);
				return -EINVAL;
			}
		}
		co->tokens[n].token = kl_arena_strndup(&c->arena, f[0], (size_t)(fe[0] - f[0]));
		co->tokens[n].user = kl_arena_strndup(&c->arena, f[1], (size_t)(fe[1] - f[1]));
		if (!co->tokens[n].token || !co->tokens[n].user)
			return -ENOMEM;
		lines[n++] = lineno;
	}
	co->ntokens = n;
	return 0;
}

static int check(struct kl_config *c, const struct kl_conf_node *root, struct kl_error *err)
{
	const struct kl_conf_node *items, *chatops = kl_conf_get(root, "chatops");
	struct kl_notifier_conf *nv = c->notifiers.items;
	struct kl_route_conf *rv = c->routes.items;
	struct kl_allow_conf *av = c->chatops.allow.items;
	size_t i;
	int ret;

	if (!*c->cluster)
		return fail(c, err, kl_conf_get(root, "cluster")->key_line,
			    "cluster: must not be empty");
	if (!*c->team_annotation)
		return fail(c, err, kl_conf_get(root, "team_annotation")->key_line,
			    "team_annotation: must not be empty");
	items = items_of(root, "notifiers");
	for (i = 0; i < c->notifiers.n; i++) {
		ret = check_notifier(c, &nv[i], i, &items[i], err);
		if (ret)
			return ret;
	}
	items = items_of(root, "routes");
	for (i = 0; i < c->routes.n; i++) {
		ret = check_route(c, &rv[i], i, &items[i], err);
		if (ret)
			return ret;
	}
	items = items_of(chatops, "allow");
	for (i = 0; i < c->chatops.allow.n; i++) {
		ret = check_allow(c, &av[i], i, &items[i], err);
		if (ret)
			return ret;
	}
	if (!c->chatops.max_silence_ms)
		return fail(c, err, kl_conf_get(chatops, "max_silence")->key_line,
			    "chatops.max_silence: must be above 0");
	if (c->chatops.api_tokens_text)
		return parse_tokens(c, tokens_path(c, chatops), err);
	return 0;
}

int kl_config_load(struct kl_config *c, const char *path, struct kl_error *err)
{
	struct kl_conf_node *root;
	int ret;

	kl_config_init(c);
	c->path = kl_arena_strdup(&c->arena, path);
	if (!c->path) {
		ret = -ENOMEM;
		goto out_free;
	}
	ret = kl_conf_parse_file(&c->arena, c->path, &root, err);
	if (!ret)
		ret = bind_top(c, root, err);
	if (!ret)
		ret = check(c, root, err);
	if (!ret)
		return 0;
out_free:
	if (ret == -ENOMEM)
		kl_error_set(err, path, 0, 0, "out of memory");
	kl_config_free(c);
	return ret;
}
