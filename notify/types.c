/*
 * notify/types.c - the notifier types: one row each (see internal.h).
 *
 * kl_notifiers_configure() checks the config against these rows and the core
 * calls their hooks; nothing else in notify/ names a type. Adding a type: its
 * driver file, a row here, its tests.
 */
#include "notify/internal.h"

#include <string.h>

static const char *const smtp_schemes[] = {"smtp", "smtps", NULL};

/* clang-format off */
const struct kl__notifier_type kl__notifier_types[] = {
	{
		.name = "slack", .needs_url = true,
		.build = kl__slack_build, .answer = kl__answer_http,
	},
	{
		.name = "webhook", .needs_url = true,
		.build = kl__webhook_build, .answer = kl__answer_http,
	},
	{
		.name = "alertmanager", .needs_url = true, .url_path = "/api/v2/alerts",
		.build = kl__am_build, .answer = kl__answer_http,
		.init = kl__am_init, .free = kl__am_free,
		.commit = kl__am_commit, .refresh = kl__am_refresh,
		.msg_free = kl__am_msg_free, .plan_free = kl__am_plan_free,
		.restore = kl__am_restore,
	},
	{
		.name = "pagerduty", .needs_url = true,
		.default_url = "https://events.pagerduty.com/v2/enqueue",
		.conf_keys = kl__pd_keys, .conf_size = sizeof(struct kl__pd_conf),
		.conf_check = kl__pd_check,
		.build = kl__pd_build, .answer = kl__answer_http,
	},
	{
		.name = "teams", .needs_url = true,
		.build = kl__teams_build, .answer = kl__answer_http,
	},
	{
		.name = "email", .needs_url = true, .schemes = smtp_schemes,
		.conf_keys = kl__email_keys, .conf_size = sizeof(struct kl__email_conf),
		.conf_defaults = kl__email_defaults, .conf_check = kl__email_check,
		.build = kl__email_build, .send = kl__email_send, .answer = kl__answer_smtp,
	},
	{
		.name = "log",
		.build = kl__log_build, .deliver = kl__log_deliver,
	},
	{ .name = NULL },
};
/* clang-format on */

const struct kl__notifier_type *kl__notifier_type_find(const char *name)
{
	const struct kl__notifier_type *t;

	for (t = kl__notifier_types; name && t->name; t++)
		if (!strcmp(t->name, name))
			return t;
	return NULL;
}
