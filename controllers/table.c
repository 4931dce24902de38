/*
 * controllers/table.c - the one table of controllers, and the --controllers grammar.
 *
 * Adding a controller is one file and one row here. Data lives in the row;
 * behaviour in the controller's ops (STYLE.md, "Adding a controller").
 */
#include "controllers/controller.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/crash_watcher.h"
#include "controllers/notready_watcher.h"
#include "controllers/replica_enforcer.h"

#define CONF(prefix) prefix##_keys, sizeof(struct prefix##_conf), prefix##_defaults, prefix##_check

/* clang-format off */
const struct kl_controller_desc kl_controllers[] = {
	/* name               default  informers                         config, ops */
	{ "crash-watcher", true, KL_RES_PODS | KL_RES_NAMESPACES,
	  CONF(kl_crash_watcher),
	  &kl_crash_watcher_ops },
	{ "notready-watcher", true, KL_RES_PODS | KL_RES_NAMESPACES,
	  CONF(kl_notready_watcher),
	  &kl_notready_watcher_ops },
	{ "replica-enforcer", true, KL_RES_DEPLOYMENTS,
	  CONF(kl_replica_enforcer),
	  &kl_replica_enforcer_ops },
	{ NULL, false, 0, NULL, 0, NULL, NULL, NULL },
};
/* clang-format on */

size_t kl_controllers_count(void)
{
	size_t n = 0;

	while (kl_controllers[n].name)
		n++;
	return n;
}

int kl_controllers_find(const char *name)
{
	size_t i;

	for (i = 0; kl_controllers[i].name; i++)
		if (strcmp(kl_controllers[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

/* explicit[] per row: 0 untouched, 1 enabled by name, -1 disabled by name */
int kl_controllers_select(const char *list, bool *enabled, struct kl_error *err)
{
	size_t n = kl_controllers_count(), i;
	signed char explicit_[32] = {0};
	bool star = false;
	const char *p = list, *end;

	if (n > sizeof(explicit_))
		return -EINVAL;
	if (!list || !*list) {
		kl_error_set(err, NULL, 0, 0,
			     "--controllers: empty list (use '*' for the defaults)");
		return -EINVAL;
	}
	for (;;) {
		char item[64];
		size_t len;
		bool neg;
		int idx;

		end = strchr(p, ',');
		len = end ? (size_t)(end - p) : strlen(p);
		while (len && (*p == ' ' || *p == '\t'))
			p++, len--;
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= sizeof(item)) {
			kl_error_set(err, NULL, 0, 0, "--controllers: %s entry in \"%s\"",
				     len ? "overlong" : "empty", list);
			return -EINVAL;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (strcmp(item, "*") == 0) {
			star = true;
		} else {
			neg = item[0] == '-';
			idx = kl_controllers_find(item + neg);
			if (idx < 0) {
				char names[256];

				kl_controllers_help(names, sizeof(names));
				kl_error_set(err, NULL, 0, 0,
					     "--controllers: unknown controller \"%s\" (known: %s)",
					     item + neg, names);
				return -EINVAL;
			}
			if (explicit_[idx] == (neg ? 1 : -1)) {
				kl_error_set(err, NULL, 0, 0,
					     "--controllers: \"%s\" is both enabled and disabled",
					     item + neg);
				return -EINVAL;
			}
			explicit_[idx] = neg ? -1 : 1;
		}
		if (!end)
			break;
		p = end + 1;
	}
	for (i = 0; i < n; i++) {
		if (explicit_[i])
			enabled[i] = explicit_[i] > 0;
		else
			enabled[i] = star && kl_controllers[i].enabled_by_default;
	}
	return 0;
}

const void *kl_ctx_controller_conf(const struct kl_ctx *ctx, const char *name)
{
	int i = kl_controllers_find(name);

	if (i < 0 || !ctx->controllers_enabled || !ctx->controller_confs ||
	    !ctx->controllers_enabled[i])
		return NULL;
	return ctx->controller_confs[i];
}

void kl_controllers_help(char *buf, size_t len)
{
	size_t i, off = 0;
	int any_off = 0, k;

	buf[0] = '\0';
	for (i = 0; kl_controllers[i].name && off < len; i++) {
		k = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", kl_controllers[i].name);
		if (k > 0)
			off += (size_t)k;
	}
	for (i = 0; kl_controllers[i].name && off < len; i++) {
		if (kl_controllers[i].enabled_by_default)
			continue;
		k = snprintf(buf + off, len - off, "%s%s",
			     any_off++ ? ", " : ". Off by default: ", kl_controllers[i].name);
		if (k > 0)
			off += (size_t)k;
	}
}

int kl_controller_conf_error(struct kl_error *err, const char *file, const char *name,
			     const struct kl_conf_node *section, const char *key, const char *fmt,
			     ...)
{
	const struct kl_conf_node *n = section ? kl_conf_get(section, key) : NULL;
	int line = n ? n->key_line : section ? section->key_line : 0;
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kl_error_set(err, line ? file : NULL, line, 0, "controllers.%s.%s: %s", name, key, msg);
	return -EINVAL;
}

int kl_controllers_configure(struct kl_config *config, void **confs, struct kl_error *err)
{
	const struct kl_conf_node *ctl = config->controllers;
	size_t i;
	int rc, idx;

	for (i = 0; kl_controllers[i].name; i++) {
		const struct kl_controller_desc *d = &kl_controllers[i];

		confs[i] = kl_arena_alloc(&config->arena, d->conf_size);
		if (!confs[i])
			return -ENOMEM;
		d->conf_defaults(confs[i]);
	}
	for (i = 0; ctl && i < ctl->nkids; i++) {
		const struct kl_conf_node *sec = &ctl->kids[i];
		char prefix[96];

		idx = kl_controllers_find(sec->key);
		if (idx < 0) {
			char names[256];

			kl_controllers_help(names, sizeof(names));
			kl_error_set(err, config->path, sec->key_line, 0,
				     "controllers.%s: unknown controller (known: %s)", sec->key,
				     names);
			return -EINVAL;
		}
		if (sec->kind != KL_CONF_MAP) {
			kl_error_set(err, config->path, sec->line, 0,
				     "controllers.%s: expected a map of settings", sec->key);
			return -EINVAL;
		}
		snprintf(prefix, sizeof(prefix), "controllers.%s", sec->key);
		rc = kl_conf_bind(&config->arena, config->path, sec, kl_controllers[idx].conf_keys,
				  confs[idx], prefix, err);
		if (rc < 0)
			return rc;
	}
	for (i = 0; kl_controllers[i].name; i++) {
		const struct kl_controller_desc *d = &kl_controllers[i];

		if (!d->conf_check)
			continue;
		rc = d->conf_check(confs[i], ctl ? kl_conf_get(ctl, d->name) : NULL, config->path,
				   err);
		if (rc < 0)
			return rc;
	}
	return 0;
}
