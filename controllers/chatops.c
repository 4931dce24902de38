/*
 * controllers/chatops.c - who may do what from chat: the allow list (see chatops.h).
 *
 * DESIGN
 * - Any entry matching user, namespace and bound authorizes (the first such entry
 *   is returned); order in the file does not take rights away.
 */
#include "controllers/chatops.h"

#include <stdio.h>
#include <string.h>

#include "util/glob.h"

static bool strv_has(const struct kl_strv *v, const char *s)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (v->v[i] && strcmp(v->v[i], s) == 0)
			return true;
	return false;
}

static bool strv_glob(const struct kl_strv *v, const char *s)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (v->v[i] && kl_glob_match(v->v[i], s))
			return true;
	return false;
}

const struct kl_allow_conf *kl_chatops_authorize(const struct kl_chatops_conf *c, const char *user,
						 const char *ns, int replicas, char *why,
						 size_t len)
{
	const struct kl_allow_conf *items, *a;
	bool in_scope = false;
	unsigned best = 0;
	size_t i;

	snprintf(why, len, "%s", "");
	if (!user || !*user || !ns || !*ns) {
		snprintf(why, len, "no user or namespace to authorize");
		return NULL;
	}
	items = c ? c->allow.items : NULL;
	for (i = 0; items && i < c->allow.n; i++) {
		a = &items[i];
		if (!strv_has(&a->users, user) || !strv_glob(&a->namespaces, ns))
			continue;
		if (replicas < 0 || (unsigned)replicas <= a->max_replicas)
			return a;
		if (!in_scope || a->max_replicas > best)
			best = a->max_replicas;
		in_scope = true;
	}
	if (in_scope)
		snprintf(why, len, "at most %u replicas for %s in %s", best, user, ns);
	else
		snprintf(why, len, "%s may not %s in %s", user,
			 replicas < 0 ? "read replicas" : "scale", ns);
	return NULL;
}

const struct kl_allow_conf *kl_chatops_authorize_silence(const struct kl_chatops_conf *c,
							 const char *user, const char *ns,
							 char *why, size_t len)
{
	const struct kl_allow_conf *items;
	size_t i;

	snprintf(why, len, "%s may not silence alerts in %s", user ? user : "-", ns ? ns : "-");
	if (!c || !user || !*user || !ns || !*ns)
		return NULL;
	items = c->allow.items;
	for (i = 0; items && i < c->allow.n; i++)
		if (items[i].silence && strv_has(&items[i].users, user) &&
		    strv_glob(&items[i].namespaces, ns))
			return &items[i];
	return NULL;
}
