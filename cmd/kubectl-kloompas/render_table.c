/*
 * cmd/kubectl-kloompas/render_table.c - the human output, laid out like `kubectl get`.
 *
 * Columns are upper-case headers padded to the widest cell plus three spaces, times are
 * ages ("5m", "2h") as kubectl shows them; the exact times are in -o json/yaml. A table
 * is built whole (cells copied) before it is printed, since widths depend on every row.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/kubectl-kloompas/plugin.h"

#define MAX_COLS 8

struct table {
	size_t ncols, nrows;
	char **cells; /* nrows * ncols, row 0 the header; owned */
	bool oom;
};

static void table_init(struct table *t, size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
}

static void table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* Adds a row of t->ncols strings (copied). */
static void table_row(struct table *t, ...)
{
	char **cells = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*cells));
	va_list ap;
	size_t i;

	if (!cells) {
		t->oom = true;
		return;
	}
	t->cells = cells;
	va_start(ap, t);
	for (i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);

		cells[t->nrows * t->ncols + i] = strdup(s ? s : "");
		if (!cells[t->nrows * t->ncols + i])
			t->oom = true;
	}
	va_end(ap);
	t->nrows++;
}

static int table_print(FILE *out, const struct table *t)
{
	size_t w[MAX_COLS] = {0}, r, c;

	if (t->oom)
		return -ENOMEM;
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++)
			if (strlen(t->cells[r * t->ncols + c]) > w[c])
				w[c] = strlen(t->cells[r * t->ncols + c]);
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			if (c + 1 == t->ncols)
				fprintf(out, "%s\n", s);
			else
				fprintf(out, "%-*s   ", (int)w[c], s);
		}
	}
	return 0;
}

static int print_alerts(FILE *out, const struct kl_plugin_status *st)
{
	struct table t;
	size_t i;
	int rc;

	if (!st->nalerts) {
		fprintf(out, "No alerts.\n");
		return 0;
	}
	table_init(&t, 5);
	table_row(&t, "NAMESPACE", "CONTROLLER", "STATE", "AGE", "SUMMARY");
	for (i = 0; i < st->nalerts; i++) {
		const struct kl_plugin_alert *a = &st->alerts[i];
		char age[32];

		table_row(&t, a->namespace_, a->controller, a->state,
			  kl_plugin_age(st->now - a->since, age, sizeof(age)), a->summary);
	}
	rc = table_print(out, &t);
	table_free(&t);
	return rc;
}

static int print_restores(FILE *out, const struct kl_plugin_status *st)
{
	struct table t;
	size_t i;
	int rc;

	if (!st->nrestores) {
		fprintf(out, "No pending restores.\n");
		return 0;
	}
	table_init(&t, 6);
	table_row(&t, "NAMESPACE", "DEPLOYMENT", "REPLICAS", "RESTORE-TO", "AT", "IN");
	for (i = 0; i < st->nrestores; i++) {
		const struct kl_plugin_restore *r = &st->restores[i];
		char cur[24], to[24], in[40], age[32];

		snprintf(cur, sizeof(cur), "%lld", (long long)r->current);
		snprintf(to, sizeof(to), "%lld", (long long)r->replicas);
		if (!r->at)
			snprintf(in, sizeof(in), "unreadable time");
		else if (r->at >= st->now)
			snprintf(in, sizeof(in), "%s",
				 kl_plugin_age(r->at - st->now, age, sizeof(age)));
		else
			snprintf(in, sizeof(in), "overdue %s",
				 kl_plugin_age(st->now - r->at, age, sizeof(age)));
		table_row(&t, r->namespace_, r->deployment, r->current < 0 ? "?" : cur, to,
			  r->at_text, in);
	}
	rc = table_print(out, &t);
	table_free(&t);
	return rc;
}

/* "kloompas-6d4f-x2b9_3f1c..." is the pod kloompas-6d4f-x2b9 (kl_lease_default_identity) */
static bool is_holder(const struct kl_plugin_status *st, const char *pod)
{
	size_t n = strlen(pod);

	return st->holder && strncmp(st->holder, pod, n) == 0 &&
	       (st->holder[n] == '_' || st->holder[n] == '\0');
}

static void print_leader(FILE *out, const struct kl_plugin_status *st)
{
	char a1[32], a2[32];

	if (!st->have_lease) {
		fprintf(out,
			"Leader:       none (no Lease %s: is Kloompas running with "
			"--leader-elect?)\n",
			st->namespace_);
		return;
	}
	if (!st->holder) {
		fprintf(out, "Leader:       none (the Lease was released)\n");
		return;
	}
	fprintf(out, "Leader:       %s (leading for %s, renewed %s ago)\n", st->holder,
		st->acquire_time ? kl_plugin_age(st->now - st->acquire_time, a1, sizeof(a1)) : "?",
		st->renew_time ? kl_plugin_age(st->now - st->renew_time, a2, sizeof(a2)) : "?");
}

static void print_replicas(FILE *out, const struct kl_plugin_status *st)
{
	size_t i, ready = 0;

	for (i = 0; i < st->npods; i++)
		ready += st->pods[i].ready;
	fprintf(out, "Replicas:     %zu pods, %zu ready", st->npods, ready);
	for (i = 0; i < st->npods; i++)
		fprintf(out, "%s%s%s%s", i ? ", " : ": ", st->pods[i].name,
			st->pods[i].ready ? "" : " (not ready)",
			is_holder(st, st->pods[i].name) ? " (leader)" : "");
	fprintf(out, "%s\n", st->npods ? "" : " (no pods labelled " KL_PLUGIN_POD_SELECTOR ")");
}

static void print_controllers(FILE *out, const struct kl_plugin_status *st)
{
	size_t i;

	if (st->have_deployment)
		fprintf(out, "Controllers:  %s (--controllers of deployment %s/%s)\n",
			st->controllers_arg, st->namespace_, KL_PLUGIN_DEPLOYMENT);
	else
		fprintf(out, "Controllers:  unknown (no deployment %s/%s)\n", st->namespace_,
			KL_PLUGIN_DEPLOYMENT);
	fprintf(out, "With alerts:  ");
	for (i = 0; i < st->nalerts; i++) {
		size_t j;

		for (j = 0; j < i; j++)
			if (strcmp(st->alerts[j].controller, st->alerts[i].controller) == 0)
				break;
		if (j == i)
			fprintf(out, "%s%s", i ? ", " : "", st->alerts[i].controller);
	}
	fprintf(out, "%s\n", st->nalerts ? "" : "none");
}

int kl_plugin_render_table(FILE *out, enum kl_plugin_cmd cmd, const struct kl_plugin_status *st)
{
	int rc = 0;

	switch (cmd) {
	case KL_PLUGIN_ALERTS:
		rc = print_alerts(out, st);
		break;
	case KL_PLUGIN_RESTORES:
		rc = print_restores(out, st);
		break;
	default:
		fprintf(out, "Namespace:    %s\n", st->namespace_);
		print_leader(out, st);
		print_replicas(out, st);
		print_controllers(out, st);
		fprintf(out, "\nAlerts:\n");
		rc = print_alerts(out, st);
		fprintf(out, "\nPending restores:\n");
		if (rc == 0)
			rc = print_restores(out, st);
		break;
	}
	if (rc == 0 && (fflush(out) != 0 || ferror(out)))
		rc = -EIO;
	return rc;
}
