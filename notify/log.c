/*
 * notify/log.c - the "log" notifier type: one log line per notice, at once.
 *
 * Where unrouted namespaces go (the built-in notifier "log"), and a type users may
 * configure. No HTTP, no queue: a flush is delivered while it is committed; -v 1
 * adds a line per pod with its evidence.
 */
#include "notify/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kl__log_build(struct kl__notifier *nt, struct kl__plan *p)
{
	return kl__plan_msg(p, -1, NULL, 0, NULL) ? 0 : -ENOMEM;
}

static void pod_line(struct kl__notifier *nt, const struct kl_notice *x,
		     const struct kl_notice_pod *p)
{
	char restarts[16], code[16], *tail = NULL;
	const char *t;
	size_t len;
	bool cut;

	snprintf(restarts, sizeof(restarts), "%d", p->restarts);
	snprintf(code, sizeof(code), "%d", p->exit_code);
	if (p->log) {
		t = kl__log_tail(p->log, &len, &cut);
		tail = strndup(t, len);
	}
	kl_log_v(nt->n->log, 1, KL__COMPONENT, "evidence", "notifier", nt->name, "namespace", x->ns,
		 "pod", kl__str_or(p->pod, ""), "container", kl__str_or(p->container, ""), "reason",
		 kl__str_or(p->reason, ""), "restarts", restarts, "last_reason",
		 kl__str_or(p->last_reason, ""), "exit_code", p->last_reason ? code : "", "log",
		 kl__str_or(tail, ""), "log_error", kl__str_or(p->log_error, ""));
	free(tail);
}

static void notice_lines(struct kl__notifier *nt, const struct kl_notice *x)
{
	const struct kl_log *log = nt->n->log;
	size_t i;

	kl_log_info(log, KL__COMPONENT, "notification", "notifier", nt->name, "controller",
		    x->controller, "namespace", x->ns, "team", kl__str_or(x->team, ""), "status",
		    x->resolved ? "resolved" : "firing", "repeat", x->repeat ? "true" : "false",
		    "summary", x->summary);
	if (log->verbosity < 1)
		return;
	for (i = 0; i < x->npods; i++)
		pod_line(nt, x, &x->pods[i]);
}

void kl__log_deliver(struct kl__notifier *nt, struct kl__plan *p)
{
	size_t i;

	for (i = 0; i < p->cnt; i++) {
		notice_lines(nt, p->v[i]);
		kl__count(nt, "success");
	}
	kl__report(nt->n, p->msgs[0], true);
	p->msgs[0] = NULL;
}
