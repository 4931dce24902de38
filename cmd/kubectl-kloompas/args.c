/*
 * cmd/kubectl-kloompas/args.c - the plugin's command line, shaped like kubectl's.
 *
 * kubectl hands a plugin everything after its name, so the flags a kubectl user types
 * must work as kubectl spells them: "--flag=value" and "--flag value", the shorthands
 * "-n NS", "-nNS", "-n=NS" and "-o json", flags before or after the command. One table
 * holds the flags; parsing and --help read it. Nothing allocates: values point into argv.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "cmd/kubectl-kloompas/plugin.h"

struct flag {
	const char *name;
	char shorthand; /* 0: none */
	size_t offset;	/* of a const char * in struct kl_plugin_args; SIZE_MAX: a boolean */
	const char *meta, *help;
};

#define OFF(f) offsetof(struct kl_plugin_args, f)
#define BOOL_FLAG ((size_t)-1)

/* clang-format off */
static const struct flag flags[] = {
	{ "namespace", 'n', OFF(namespace_), "NS",
	  "Kloompas' own namespace (default \"" KL_PLUGIN_DEFAULT_NS "\")" },
	{ "output", 'o', 0, "FORMAT", "Output format: table (default), json or yaml" },
	{ "context", 0, OFF(context), "NAME", "The kubeconfig context to use" },
	{ "kubeconfig", 0, OFF(kubeconfig), "PATH",
	  "A kubeconfig (else $KUBECONFIG, in-cluster, ~/.kube/config)" },
	{ "lease-name", 0, OFF(lease_name), "NAME",
	  "Kloompas' --leader-elect-resource-name (default \"kloompas\")" },
	{ "help", 'h', BOOL_FLAG, NULL, "Print this help" },
};
/* clang-format on */

#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

/* clang-format off */
static const struct {
	const char *name;
	enum kl_plugin_cmd cmd;
} commands[] = {
	{ "status",   KL_PLUGIN_STATUS },
	{ "alerts",   KL_PLUGIN_ALERTS },
	{ "restores", KL_PLUGIN_RESTORES },
	{ "help",     KL_PLUGIN_HELP },
};
/* clang-format on */

void kl_plugin_usage(FILE *out)
{
	size_t i;

	fprintf(out, "What Kloompas thinks: who leads, what fires, what will be restored when.\n\n"
		     "Usage:\n"
		     "  kubectl kloompas status [flags]              the leader, replicas, "
		     "controllers, alerts, restores\n"
		     "  kubectl kloompas alerts [NAMESPACE] [flags]  the alerts Kloompas holds\n"
		     "  kubectl kloompas restores [flags]            temporary scales and when "
		     "they are undone\n"
		     "  kubectl kloompas version                     the plugin's version\n\n"
		     "Flags:\n");
	for (i = 0; i < NFLAGS; i++) {
		char head[64];

		if (flags[i].shorthand)
			snprintf(head, sizeof(head), "-%c, --%s %s", flags[i].shorthand,
				 flags[i].name, flags[i].meta ? flags[i].meta : "");
		else
			snprintf(head, sizeof(head), "    --%s %s", flags[i].name,
				 flags[i].meta ? flags[i].meta : "");
		fprintf(out, "  %-26s %s\n", head, flags[i].help);
	}
	fprintf(out, "\nExit codes: 0 done, 1 the API server failed or refused a read, "
		     "2 usage error.\n");
}

static const struct flag *find_long(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NFLAGS; i++)
		if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0)
			return &flags[i];
	return NULL;
}

static const struct flag *find_short(char c)
{
	size_t i;

	for (i = 0; i < NFLAGS; i++)
		if (flags[i].shorthand && flags[i].shorthand == c)
			return &flags[i];
	return NULL;
}

static int set_flag(struct kl_plugin_args *a, const struct flag *fl, const char *val,
		    struct kl_error *err)
{
	if (fl->offset == BOOL_FLAG) {
		a->cmd = KL_PLUGIN_HELP;
		return 0;
	}
	if (!*val) {
		kl_error_set(err, NULL, 0, 0, "--%s: needs a non-empty value", fl->name);
		return -EINVAL;
	}
	if (strcmp(fl->name, "output") == 0) {
		if (strcmp(val, "json") == 0)
			a->output = KL_PLUGIN_JSON;
		else if (strcmp(val, "yaml") == 0)
			a->output = KL_PLUGIN_YAML;
		else if (strcmp(val, "table") == 0)
			a->output = KL_PLUGIN_TABLE;
		else {
			kl_error_set(err, NULL, 0, 0,
				     "--output: unknown format \"%s\" (want table, json or yaml)",
				     val);
			return -EINVAL;
		}
		return 0;
	}
	*(const char **)((char *)a + fl->offset) = val;
	return 0;
}

/* One flag at argv[*i]; may consume the next argument as its value. */
static int parse_flag(struct kl_plugin_args *a, int argc, char **argv, int *i, struct kl_error *err)
{
	const char *arg = argv[*i], *val = NULL;
	const struct flag *fl;

	if (arg[1] == '-') {
		const char *name = arg + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);

		fl = find_long(name, len);
		if (!fl) {
			kl_error_set(err, NULL, 0, 0, "unknown flag \"--%.*s\" (see --help)",
				     (int)len, name);
			return -EINVAL;
		}
		if (eq)
			val = eq + 1;
	} else {
		fl = find_short(arg[1]);
		if (!fl) {
			kl_error_set(err, NULL, 0, 0, "unknown shorthand flag '%c' in \"%s\"",
				     arg[1], arg);
			return -EINVAL;
		}
		if (arg[2])
			val = arg + 2 + (arg[2] == '=');
	}
	if (fl->offset == BOOL_FLAG) {
		if (val) {
			kl_error_set(err, NULL, 0, 0, "--%s: takes no value", fl->name);
			return -EINVAL;
		}
		return set_flag(a, fl, "", err);
	}
	if (!val) {
		if (*i + 1 >= argc) {
			kl_error_set(err, NULL, 0, 0, "--%s: needs a value (%s)", fl->name,
				     fl->meta);
			return -EINVAL;
		}
		val = argv[++*i];
	}
	return set_flag(a, fl, val, err);
}

static int parse_word(struct kl_plugin_args *a, const char *word, int *nwords, struct kl_error *err)
{
	size_t i;

	if (a->cmd == KL_PLUGIN_HELP)
		return 0; /* help wins over whatever else was typed */
	if (*nwords == 0) {
		(*nwords)++;
		if (strcmp(word, "version") == 0) {
			a->version = true;
			return 0;
		}
		for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (strcmp(word, commands[i].name) == 0) {
				a->cmd = commands[i].cmd;
				return 0;
			}
		kl_error_set(err, NULL, 0, 0,
			     "unknown command \"%s\" (want status, alerts, restores or version)",
			     word);
		return -EINVAL;
	}
	if (*nwords == 1 && a->cmd == KL_PLUGIN_ALERTS && !a->alerts_ns) {
		(*nwords)++;
		a->alerts_ns = word;
		return 0;
	}
	kl_error_set(err, NULL, 0, 0, "unexpected argument \"%s\"", word);
	return -EINVAL;
}

int kl_plugin_args_parse(struct kl_plugin_args *a, int argc, char **argv, struct kl_error *err)
{
	int i, rc, nwords = 0;
	bool words_only = false;

	memset(a, 0, sizeof(*a));
	a->cmd = KL_PLUGIN_STATUS;
	a->namespace_ = KL_PLUGIN_DEFAULT_NS;
	a->lease_name = "kloompas";
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (!words_only && strcmp(arg, "--") == 0) {
			words_only = true;
			continue;
		}
		if (!words_only && arg[0] == '-' && arg[1])
			rc = parse_flag(a, argc, argv, &i, err);
		else
			rc = parse_word(a, arg, &nwords, err);
		if (rc < 0)
			return rc;
	}
	if (a->alerts_ns && !*a->alerts_ns) {
		kl_error_set(err, NULL, 0, 0, "alerts: the namespace must not be empty");
		return -EINVAL;
	}
	return 0;
}
