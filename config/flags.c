/*
 * config/flags.c - command-line parsing over one flag table (see flags.h).
 *
 * Conventions follow kube-controller-manager (pflag): "--name=value" or
 * "--name value"; booleans take "--name" or "--name=true|false" and never eat the
 * next argument; "-v N", "-v=N" and "--v=N" all set verbosity. Cross-flag rules
 * (renew deadline below lease duration, ...) are checked after the table.
 */
#include "config/flags.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/duration.h"

enum flag_type {
	F_STRING,
	F_BOOL,
	F_DURATION,
	F_INT,
	F_UINT,
	F_FLOAT,
	F_LOGFMT,
	F_CONTENT_TYPE,
	F_ACTION
};

/* --kube-api-content-type's values, as kube-controller-manager's */
static const char ct_protobuf[] = "application/vnd.kubernetes.protobuf";
static const char ct_json[] = "application/json";

struct flag {
	const char *name; /* without dashes */
	const char *group;
	enum flag_type type;
	size_t offset;
	const char *def; /* shown in --help; NULL: no default shown */
	const char *meta;
	const char *help;
};

#define OFF(field) offsetof(struct kl_flags, field)

/* clang-format off */
static const struct flag flags[] = {
	{ "config", "Generic", F_STRING, OFF(config), NULL, "path",
	  "Path to the YAML config file (cluster name, notifiers, routes, controller settings, "
	  "chat-ops)." },
	{ "controllers", "Generic", F_STRING, OFF(controllers), "*", "list",
	  "Comma list of controllers to run. '*' enables all on-by-default controllers, 'foo' "
	  "enables foo, '-foo' disables foo." },
	{ "dry-run", "Generic", F_BOOL, OFF(dry_run), "false", NULL,
	  "Write nothing to the cluster and send no notification; log what would have been done." },
	{ "kubeconfig", "Kubernetes client", F_STRING, OFF(kubeconfig), NULL, "path",
	  "Path to a kubeconfig. Else $KUBECONFIG (a colon list, merged as kubectl does), else the "
	  "in-cluster service account, else ~/.kube/config." },
	{ "context", "Kubernetes client", F_STRING, OFF(context), NULL, "name",
	  "The kubeconfig context to use instead of its current-context." },
	{ "master", "Kubernetes client", F_STRING, OFF(master), NULL, "url",
	  "The address of the Kubernetes API server (overrides the kubeconfig's server)." },
	{ "kube-api-qps", "Kubernetes client", F_FLOAT, OFF(kube_api_qps), "20", "float",
	  "Client-side rate limit: requests per second to the API server (watches excluded)." },
	{ "kube-api-burst", "Kubernetes client", F_UINT, OFF(kube_api_burst), "30", "int",
	  "Burst allowed above --kube-api-qps." },
	{ "kube-api-content-type", "Kubernetes client", F_CONTENT_TYPE, OFF(kube_api_protobuf),
	  "application/vnd.kubernetes.protobuf", "type",
	  "What LISTs and WATCHes of pods, namespaces and deployments ask for: "
	  "application/vnd.kubernetes.protobuf (JSON still accepted where the server answers it) "
	  "or application/json. Every other request speaks JSON." },
	{ "bind-address", "Serving", F_STRING, OFF(bind_address), "0.0.0.0:9090", "host:port",
	  "Where /metrics, /healthz, /livez and /readyz are served." },
	{ "chatops-bind-address", "Serving", F_STRING, OFF(chatops_bind_address), NULL,
	  "host:port",
	  "Where /slack/commands and /api/v1/replicas are served. Off when not set." },
	{ "chatops-advertise-address", "Serving", F_STRING, OFF(chatops_advertise_address), NULL,
	  "ip:port",
	  "The chat-ops address the leader publishes on its Lease, where followers forward "
	  "leader-only requests. Default: the bind address' IP, else $POD_IP, with the bound "
	  "port." },
	{ "leader-elect", "Leader election", F_BOOL, OFF(leader_elect), "true", NULL,
	  "Elect a leader through a coordination.k8s.io Lease before acting; only the leader "
	  "notifies and scales." },
	{ "leader-elect-lease-duration", "Leader election", F_DURATION, OFF(lease_duration_ms),
	  "15s", "duration",
	  "How long non-leaders wait after the last renewal before taking over." },
	{ "leader-elect-renew-deadline", "Leader election", F_DURATION, OFF(renew_deadline_ms),
	  "10s", "duration",
	  "How long the leader keeps retrying a renewal before it gives up leadership. Must be "
	  "less than the lease duration." },
	{ "leader-elect-retry-period", "Leader election", F_DURATION, OFF(retry_period_ms), "2s",
	  "duration", "How long to wait between attempts to acquire or renew the Lease." },
	{ "leader-elect-resource-namespace", "Leader election", F_STRING,
	  OFF(leader_elect_namespace), NULL, "namespace",
	  "Namespace of the Lease and of the kloompas-state ConfigMap. Else $POD_NAMESPACE, "
	  "else the service account's namespace, else the kubeconfig context's, else default." },
	{ "leader-elect-resource-name", "Leader election", F_STRING, OFF(leader_elect_name),
	  "kloompas", "name", "Name of the Lease." },
	{ "log-format", "Logging", F_LOGFMT, OFF(log_format), "text", "text|json",
	  "Log line format on stderr." },
	{ "v", "Logging", F_INT, OFF(verbosity), "0", "N",
	  "Log verbosity: 0 events, 1 decisions, 2 requests, 3+ protocol detail. Also -v N." },
	{ "help", "Other", F_ACTION, OFF(help), NULL, NULL, "Print this help and exit." },
	{ "version", "Other", F_ACTION, OFF(version), NULL, NULL, "Print the version and exit." },
};
/* clang-format on */

#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

void kl_flags_init(struct kl_flags *f)
{
	memset(f, 0, sizeof(*f));
	f->controllers = "*";
	f->bind_address = "0.0.0.0:9090";
	f->leader_elect = 1;
	f->lease_duration_ms = 15000;
	f->renew_deadline_ms = 10000;
	f->retry_period_ms = 2000;
	f->leader_elect_name = "kloompas";
	f->log_format = KL_LOG_TEXT;
	f->kube_api_qps = 20;
	f->kube_api_burst = 30;
	f->kube_api_protobuf = 1;
}

static const struct flag *find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NFLAGS; i++)
		if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0)
			return &flags[i];
	return NULL;
}

int kl_hostport_check(const char *s)
{
	const char *colon;
	char *end;
	long port;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close == s + 1 || close[1] != ':')
			return -EINVAL;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || colon == s || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
	}
	if (!colon[1])
		return -EINVAL;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end || errno || port < 0 || port > 65535 || colon[1] == '-' || colon[1] == '+')
		return -EINVAL;
	return 0;
}

static int set_value(struct kl_flags *f, const struct flag *fl, const char *val,
		     struct kl_error *err)
{
	char *base = (char *)f + fl->offset;
	char *end;

	switch (fl->type) {
	case F_STRING:
		if (!*val) {
			kl_error_set(err, NULL, 0, 0, "--%s: needs a non-empty value", fl->name);
			return -EINVAL;
		}
		*(const char **)base = val;
		return 0;
	case F_BOOL:
		if (strcmp(val, "true") == 0 || strcmp(val, "1") == 0) {
			*(int *)base = 1;
		} else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0) {
			*(int *)base = 0;
		} else {
			kl_error_set(err, NULL, 0, 0, "--%s: expected true or false, got \"%s\"",
				     fl->name, val);
			return -EINVAL;
		}
		return 0;
	case F_DURATION: {
		int rc = kl_duration_parse(val, (uint64_t *)base);

		if (rc < 0) {
			kl_error_set(err, NULL, 0, 0,
				     "--%s: bad duration \"%s\" (want e.g. 500ms, 15s, 2m, 1h)",
				     fl->name, val);
			return -EINVAL;
		}
		return 0;
	}
	case F_INT:
	case F_UINT: {
		long v;

		errno = 0;
		v = strtol(val, &end, 10);
		if (!*val || *end || errno || v < 0 || v > INT_MAX) {
			kl_error_set(err, NULL, 0, 0,
				     "--%s: expected a non-negative integer, got \"%s\"", fl->name,
				     val);
			return -EINVAL;
		}
		if (fl->type == F_INT)
			*(int *)base = (int)v;
		else
			*(unsigned *)base = (unsigned)v;
		return 0;
	}
	case F_FLOAT: {
		double v;

		errno = 0;
		v = strtod(val, &end);
		if (!*val || *end || errno || !(v > 0) || v > 1e6) {
			kl_error_set(err, NULL, 0, 0,
				     "--%s: expected a positive number, got \"%s\"", fl->name, val);
			return -EINVAL;
		}
		*(double *)base = v;
		return 0;
	}
	case F_LOGFMT:
		if (kl_log_format_parse(val, (enum kl_log_format *)base) < 0) {
			kl_error_set(err, NULL, 0, 0, "--%s: expected text or json, got \"%s\"",
				     fl->name, val);
			return -EINVAL;
		}
		return 0;
	case F_CONTENT_TYPE:
		if (strcmp(val, ct_protobuf) && strcmp(val, ct_json)) {
			kl_error_set(err, NULL, 0, 0, "--%s: expected %s or %s, got \"%s\"",
				     fl->name, ct_protobuf, ct_json, val);
			return -EINVAL;
		}
		*(int *)base = strcmp(val, ct_protobuf) == 0;
		return 0;
	case F_ACTION:
		*(int *)base = 1;
		return 0;
	}
	return -EINVAL;
}

static int check_rules(const struct kl_flags *f, struct kl_error *err)
{
	if (kl_hostport_check(f->bind_address) < 0) {
		kl_error_set(err, NULL, 0, 0,
			     "--bind-address: expected HOST:PORT (port 0-65535), got \"%s\"",
			     f->bind_address);
		return -EINVAL;
	}
	if (f->chatops_bind_address && kl_hostport_check(f->chatops_bind_address) < 0) {
		kl_error_set(
		    err, NULL, 0, 0,
		    "--chatops-bind-address: expected HOST:PORT (port 0-65535), got \"%s\"",
		    f->chatops_bind_address);
		return -EINVAL;
	}
	/* client-go's leaderelection refuses the same combinations */
	if (f->leader_elect) {
		if (f->retry_period_ms == 0 || f->renew_deadline_ms == 0) {
			kl_error_set(
			    err, NULL, 0, 0,
			    "--leader-elect-retry-period and --leader-elect-renew-deadline "
			    "must be greater than zero");
			return -EINVAL;
		}
		if (f->lease_duration_ms <= f->renew_deadline_ms) {
			kl_error_set(err, NULL, 0, 0,
				     "--leader-elect-lease-duration must be greater than "
				     "--leader-elect-renew-deadline");
			return -EINVAL;
		}
		if (f->renew_deadline_ms <= f->retry_period_ms * 6 / 5) {
			kl_error_set(err, NULL, 0, 0,
				     "--leader-elect-renew-deadline must be greater than 1.2 x "
				     "--leader-elect-retry-period");
			return -EINVAL;
		}
	}
	return 0;
}

int kl_flags_parse(struct kl_flags *f, int argc, char **argv, struct kl_error *err)
{
	int i, rc;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i], *name, *eq, *val;
		const struct flag *fl;
		size_t len;

		if (strcmp(arg, "--") == 0) {
			if (i + 1 < argc) {
				kl_error_set(err, NULL, 0, 0, "unexpected argument \"%s\"",
					     argv[i + 1]);
				return -EINVAL;
			}
			break;
		}
		if (arg[0] != '-' || arg[1] == '\0') {
			kl_error_set(err, NULL, 0, 0,
				     "unexpected argument \"%s\" (flags start with --)", arg);
			return -EINVAL;
		}
		name = arg + 1 + (arg[1] == '-');
		/* single-dash long flags are pflag errors; -v and -h are the shorthands */
		if (arg[1] != '-' && !(name[0] == 'v' || name[0] == 'h')) {
			kl_error_set(err, NULL, 0, 0, "unknown flag \"%s\"", arg);
			return -EINVAL;
		}
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		if (arg[1] != '-' && len != 1) {
			kl_error_set(err, NULL, 0, 0, "unknown flag \"%s\"", arg);
			return -EINVAL;
		}
		if (len == 1 && name[0] == 'h')
			fl = find("help", 4);
		else
			fl = find(name, len);
		if (!fl) {
			kl_error_set(err, NULL, 0, 0, "unknown flag \"--%.*s\" (see --help)",
				     (int)len, name);
			return -EINVAL;
		}
		if (fl->type == F_ACTION) {
			if (eq) {
				kl_error_set(err, NULL, 0, 0, "--%s: takes no value", fl->name);
				return -EINVAL;
			}
			set_value(f, fl, "", err);
			return 0;
		}
		if (eq) {
			val = eq + 1;
		} else if (fl->type == F_BOOL) {
			val = "true";
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			kl_error_set(err, NULL, 0, 0, "--%s: needs a value (%s)", fl->name,
				     fl->meta ? fl->meta : "value");
			return -EINVAL;
		}
		rc = set_value(f, fl, val, err);
		if (rc < 0)
			return rc;
	}
	return check_rules(f, err);
}

static void print_wrapped(FILE *out, const char *text, int indent, int width)
{
	int col = indent;
	const char *p = text;

	while (*p) {
		const char *sp = strchr(p, ' ');
		int wlen = sp ? (int)(sp - p) : (int)strlen(p);

		if (col > indent && col + 1 + wlen > width) {
			fprintf(out, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', out);
			col++;
		}
		fprintf(out, "%.*s", wlen, p);
		col += wlen;
		p += wlen;
		while (*p == ' ')
			p++;
	}
	fputc('\n', out);
}

void kl_flags_usage(FILE *out, const char *prog, const char *controllers_help)
{
	static const char *const groups[] = {
	    "Generic", "Kubernetes client", "Serving", "Leader election", "Logging", "Other", NULL};
	const char *const *g;
	size_t i;

	fprintf(out,
		"Kloompas watches a Kubernetes cluster through shared informers and runs\n"
		"controllers that tell teams when their pods crash or are not ready, and\n"
		"let allowed people scale Deployments from chat.\n\n"
		"Usage:\n  %s [flags]\n",
		prog);
	for (g = groups; *g; g++) {
		fprintf(out, "\n%s flags:\n\n", *g);
		for (i = 0; i < NFLAGS; i++) {
			const struct flag *fl = &flags[i];
			char head[128];
			char help[1024];
			const char *extra;

			if (strcmp(fl->group, *g) != 0)
				continue;
			snprintf(head, sizeof(head), "      --%s%s%s", fl->name,
				 fl->meta ? " " : "", fl->meta ? fl->meta : "");
			fprintf(out, "%s\n", head);
			extra = strcmp(fl->name, "controllers") == 0 ? controllers_help : NULL;
			snprintf(help, sizeof(help), "%s%s%s%s%s", fl->help, extra ? " " : "",
				 extra ? extra : "", fl->def ? " (default " : "",
				 fl->def ? fl->def : "");
			if (fl->def)
				strncat(help, ")", sizeof(help) - strlen(help) - 1);
			fprintf(out, "%*s", 16, "");
			print_wrapped(out, help, 16, 100);
		}
	}
	fprintf(out, "\nExit codes: 0 clean shutdown (SIGTERM/SIGINT), 1 fatal runtime error, "
		     "2 usage or config error.\n");
}
