/*
 * kubeclient/kubeconfig.c - kubectl's kubeconfig rules, read into one flat struct
 * (see kubeconfig.h).
 *
 * Why this file: however Kloompas is pointed at a cluster (a laptop kubeconfig, a
 * merged $KUBECONFIG, the pod's service account), the HTTP layer wants the same flat
 * struct kl_kube_config, and an operator wants kubectl's behaviour and FILE:LINE
 * errors.
 *
 * Design, after client-go's clientcmd:
 * - Each file is parsed into a scratch arena as a line-marked tree (config/node.h)
 *   and checked whole for shape (types, base64, duplicate names), as client-go
 *   refuses to decode a bad file whatever context is used.
 * - Merging is a lookup, not a copy: a name is searched file by file, so the first
 *   file defining it wins, and an entry keeps its own file for relative paths and
 *   messages.
 * - Only the chosen context, cluster and user are checked for meaning (server set,
 *   files readable, exec version), as kubectl's ConfirmUsable does, and only they
 *   are copied into cfg->arena; the scratch arena goes when loading ends.
 * - What a key is lives in one table per section (nginx-style rows), used both by
 *   the shape check (out == NULL) and by the copy, so the two cannot disagree.
 *   Unknown keys are ignored: kubeconfigs carry preferences and extensions.
 * Secret values (tokens, passwords, key data) never appear in a message.
 */
#include "kubeclient/kubeconfig.h"

#include "config/node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KC_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define KC_PATH_MAX 256 /* "users[3].user.exec.env[2].name" in messages */
#define KC_SHOW_MAX 64	/* bytes of a bad (non-secret) value quoted in a message */
#define KC_NS_MAX 1024	/* bytes read from the service account's namespace file */
#define KC_EXEC_V1 "client.authentication.k8s.io/v1"
#define KC_EXEC_V1BETA1 "client.authentication.k8s.io/v1beta1"

/* ------------------------------------------------------------------------ */
/* Loader state and messages                                                 */
/* ------------------------------------------------------------------------ */

struct kfile {
	const char *path; /* as given, for messages */
	const char *dir;  /* absolute folder of path: relative paths inside resolve here */
	const struct kl_conf_node *root;
};

struct loader {
	struct kl_kube_config *cfg;
	const struct kl_kube_config_opts *opts;
	struct kl_arena scratch; /* trees and temporaries; freed when loading ends */
	struct kfile *files;	 /* in precedence order */
	size_t nfiles, cap;
	struct kl_error *err;
};

/* Sets the (first) error and returns ret, so callers can "return fail(...)". */
static __attribute__((format(printf, 5, 6))) int fail(struct loader *ld, const char *file, int line,
						      int ret, const char *fmt, ...)
{
	char msg[sizeof(ld->err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kl_error_set(ld->err, file, line, 0, "%s", msg);
	return ret;
}

static int nomem(struct loader *ld)
{
	return fail(ld, NULL, 0, -ENOMEM, "out of memory");
}

/* A formatted string in a; NULL on ENOMEM. */
static __attribute__((format(printf, 2, 3))) char *arena_printf(struct kl_arena *a, const char *fmt,
								...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	s = kl_arena_alloc(a, (size_t)n + 1);
	if (!s)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* "a.b" and "a[3]" for messages; a path longer than the buffer is cut. */
static void path_key(char *buf, size_t size, const char *prefix, const char *key)
{
	if (snprintf(buf, size, "%s.%s", prefix, key) >= (int)size)
		buf[size - 1] = '\0';
}

static void path_index(char *buf, size_t size, const char *prefix, size_t i)
{
	if (snprintf(buf, size, "%s[%zu]", prefix, i) >= (int)size)
		buf[size - 1] = '\0';
}

/* Where a message about n points: the key for a map value, else the node. */
static int node_line(const struct kl_conf_node *n)
{
	return n->key ? n->key_line : n->line;
}

/*
 * Absent in Go's eyes: null, or an empty string quoted or not. client-go treats
 * an empty field as unset, so do we.
 */
static int is_empty(const struct kl_conf_node *n)
{
	return !n || (n->kind == KL_CONF_SCALAR && !*n->value);
}

static const char *kind_name(const struct kl_conf_node *n)
{
	switch (n->kind) {
	case KL_CONF_SCALAR:
		return "a string";
	case KL_CONF_SEQ:
		return "a list";
	case KL_CONF_MAP:
		return "a map";
	}
	return "something else";
}

/* "PATH: expected WANT, got a list"; the value itself is left out (it may be a secret). */
static int want(struct loader *ld, const struct kfile *f, const struct kl_conf_node *n,
		const char *path, const char *what)
{
	return fail(ld, f->path, node_line(n), -EINVAL, "%s: expected %s, got %s", path, what,
		    kind_name(n));
}

/* ------------------------------------------------------------------------ */
/* Values: base64, booleans, paths                                           */
/* ------------------------------------------------------------------------ */

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decodes standard base64 with padding, as Go's base64.StdEncoding does for
 * kubectl: line breaks are skipped, anything else outside the alphabet (spaces
 * too) is refused. out may be NULL to only check; otherwise it needs room for
 * strlen(in) / 4 * 3 bytes. Returns 0 with *outlen set, or -EINVAL.
 */
static int b64_decode(const char *in, unsigned char *out, size_t *outlen)
{
	uint32_t acc = 0;
	size_t o = 0;
	int q = 0, pad = 0, done = 0, v, k;

	for (; *in; in++) {
		if (*in == '\r' || *in == '\n')
			continue;
		if (done)
			return -EINVAL; /* data after the padded last quantum */
		if (*in == '=') {
			if (q < 2)
				return -EINVAL;
			pad++;
		} else {
			v = b64_value(*in);
			if (v < 0 || pad)
				return -EINVAL;
			acc = acc << 6 | (uint32_t)v;
		}
		if (++q < 4)
			continue;
		acc <<= 6 * pad;
		for (k = 0; k < 3 - pad; k++)
			if (out)
				out[o + (size_t)k] = (unsigned char)(acc >> (16 - 8 * k));
		o += (size_t)(3 - pad);
		done = pad > 0;
		acc = 0;
		q = 0;
	}
	if (q)
		return -EINVAL;
	*outlen = o;
	return 0;
}

/* YAML 1.1 booleans, as sigs.k8s.io/yaml reads them; only unquoted. */
static int parse_bool(const struct kl_conf_node *n, bool *out)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
					  "on",	  "On",	  "ON",	  "y",	 "Y",	NULL};
	static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO",
					 "off",	  "Off",   "OFF",   "n",  "N",	NULL};
	size_t i;

	if (n->kind != KL_CONF_SCALAR || !n->plain)
		return -EINVAL;
	for (i = 0; yes[i]; i++) {
		if (!strcmp(n->value, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(n->value, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* p against the folder dir unless absolute, in the config arena ("./x" as "x"). */
static const char *resolve(struct loader *ld, const char *dir, const char *p)
{
	if (p[0] == '/')
		return kl_arena_strdup(&ld->cfg->arena, p);
	while (p[0] == '.' && p[1] == '/')
		for (p += 2; *p == '/'; p++)
			;
	if (!*p)
		return kl_arena_strdup(&ld->cfg->arena, dir);
	return arena_printf(&ld->cfg->arena, "%s/%s", dir, p);
}

/*
 * The absolute folder of a kubeconfig file, as client-go's filepath.Abs(Dir(f)):
 * "config" and "./config" give the working folder, "a/config" gives CWD/a.
 */
static int file_dir(struct loader *ld, const char *path, const char **out)
{
	const char *slash;
	char *cwd, *dir;
	size_t len;
	int e;

	while (path[0] == '.' && path[1] == '/')
		for (path += 2; *path == '/'; path++)
			;
	slash = strrchr(path, '/');
	if (path[0] == '/') {
		len = slash == path ? 1 : (size_t)(slash - path);
		dir = kl_arena_strndup(&ld->scratch, path, len);
		goto out;
	}
	cwd = getcwd(NULL, 0);
	if (!cwd) {
		e = errno;
		return fail(ld, path, 0, -e, "cannot find the working folder: %s", strerror(e));
	}
	if (!slash)
		dir = kl_arena_strdup(&ld->scratch, cwd);
	else
		dir = arena_printf(&ld->scratch, "%s/%.*s", cwd, (int)(slash - path), path);
	free(cwd);
out:
	if (!dir)
		return nomem(ld);
	*out = dir;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Key tables                                                                */
/* ------------------------------------------------------------------------ */

enum ftype {
	F_STRING,	 /* const char *; empty is absent */
	F_PATH,		 /* const char *: file path, relative to the kubeconfig; readable */
	F_COMMAND,	 /* const char *: relative with a '/' resolves like F_PATH, else PATH */
	F_DATA,		 /* const char * + size_t: base64 in YAML, bytes (NUL-ended) here */
	F_BOOL,		 /* bool */
	F_ARGS,		 /* const char **: a list of strings, NULL-terminated */
	F_ENV,		 /* const char **: a list of {name, value}, as "NAME=value" */
	F_EXEC,		 /* struct kl_kube_exec *, bound with exec_fields */
	F_AUTH_PROVIDER, /* refused: the legacy in-tree auth plugins */
	F_REFUSED,	 /* refused: a feature we do not have; why says which */
};

struct field {
	const char *key;
	enum ftype type;
	size_t off;	 /* into the struct being filled */
	size_t len_off;	 /* F_DATA: the size_t length */
	const char *why; /* F_REFUSED */
};

/* The key tables, kept as tables. */
/* clang-format off */
#define CFG(m) offsetof(struct kl_kube_config, m)
#define EXEC(m) offsetof(struct kl_kube_exec, m)
#define REF(m) offsetof(struct ctxref, m)
#define IMPERSONATION "impersonation is not supported; give this user its own credentials"

/* A context's references, before they are looked up. */
struct ctxref {
	const char *cluster, *user, *namespace_;
};

static const struct field context_fields[] = {
	{ "cluster",   F_STRING, REF(cluster),    0, NULL },
	{ "user",      F_STRING, REF(user),       0, NULL },
	{ "namespace", F_STRING, REF(namespace_), 0, NULL },
	{ NULL,        F_STRING, 0,               0, NULL },
};

static const struct field cluster_fields[] = {
	{ "server",                     F_STRING, CFG(server),                   0, NULL },
	{ "certificate-authority",      F_PATH,   CFG(ca_file),                  0, NULL },
	{ "certificate-authority-data", F_DATA,   CFG(ca_data),   CFG(ca_data_len), NULL },
	{ "insecure-skip-tls-verify",   F_BOOL,   CFG(insecure_skip_tls_verify), 0, NULL },
	{ "tls-server-name",            F_STRING, CFG(tls_server_name),          0, NULL },
	{ "proxy-url",                  F_STRING, CFG(proxy_url),                0, NULL },
	{ NULL,                         F_STRING, 0,                             0, NULL },
};

static const struct field exec_fields[] = {
	{ "command",            F_COMMAND, EXEC(command),              0, NULL },
	{ "args",               F_ARGS,    EXEC(args),                 0, NULL },
	{ "env",                F_ENV,     EXEC(env),                  0, NULL },
	{ "apiVersion",         F_STRING,  EXEC(api_version),          0, NULL },
	{ "interactiveMode",    F_STRING,  EXEC(interactive_mode),     0, NULL },
	{ "provideClusterInfo", F_BOOL,    EXEC(provide_cluster_info), 0, NULL },
	{ NULL,                 F_STRING,  0,                          0, NULL },
};

static const struct field user_fields[] = {
	{ "token",                   F_STRING,        CFG(token),            0, NULL },
	{ "tokenFile",               F_PATH,          CFG(token_file),       0, NULL },
	{ "client-certificate",      F_PATH,          CFG(client_cert_file), 0, NULL },
	{ "client-key",              F_PATH,          CFG(client_key_file),  0, NULL },
	{ "client-certificate-data", F_DATA,          CFG(client_cert_data),
	  CFG(client_cert_data_len), NULL },
	{ "client-key-data",         F_DATA,          CFG(client_key_data),
	  CFG(client_key_data_len), NULL },
	{ "username",                F_STRING,        CFG(username),         0, NULL },
	{ "password",                F_STRING,        CFG(password),         0, NULL },
	{ "exec",                    F_EXEC,          CFG(exec),             0, NULL },
	{ "auth-provider",           F_AUTH_PROVIDER, 0,                     0, NULL },
	{ "as",                      F_REFUSED,       0,                     0, IMPERSONATION },
	{ "as-uid",                  F_REFUSED,       0,                     0, IMPERSONATION },
	{ "as-groups",               F_REFUSED,       0,                     0, IMPERSONATION },
	{ "as-user-extra",           F_REFUSED,       0,                     0, IMPERSONATION },
	{ NULL,                      F_STRING,        0,                     0, NULL },
};
#undef CFG
#undef EXEC
#undef REF
#undef IMPERSONATION
/* clang-format on */

/* One named list of a kubeconfig: clusters: [{name, cluster: {...}}]. */
struct section {
	const char *list; /* "clusters" */
	const char *body; /* "cluster" */
	const struct field *fields;
};

static const struct section sec_clusters = {"clusters", "cluster", cluster_fields};
static const struct section sec_users = {"users", "user", user_fields};
static const struct section sec_contexts = {"contexts", "context", context_fields};

/* ------------------------------------------------------------------------ */
/* Binding                                                                   */
/* ------------------------------------------------------------------------ */

static int bind_fields(struct loader *ld, const struct kfile *f, const struct kl_conf_node *map,
		       const struct field *fields, void *out, const char *path);

#define AT(out, off, type) ((type *)(void *)((char *)(out) + (off)))

static int bind_string(struct loader *ld, const struct kfile *f, const struct kl_conf_node *n,
		       const struct field *fd, void *out, const char *path)
{
	const char *s;
	int e;

	if (n->kind != KL_CONF_SCALAR)
		return want(ld, f, n, path, "a string");
	if (!out)
		return 0;
	if (fd->type == F_STRING || (fd->type == F_COMMAND && !strchr(n->value, '/')))
		s = kl_arena_strdup(&ld->cfg->arena, n->value);
	else
		s = resolve(ld, f->dir, n->value);
	if (!s)
		return nomem(ld);
	/* client-go reads these at load (tokenFile) or checks them (certs, CA) */
	if (fd->type == F_PATH && access(s, R_OK)) {
		e = errno;
		return fail(ld, f->path, node_line(n), -e, "%s: cannot read %s: %s", path, s,
			    strerror(e));
	}
	*AT(out, fd->off, const char *) = s;
	return 0;
}

static int bind_data(struct loader *ld, const struct kfile *f, const struct kl_conf_node *n,
		     const struct field *fd, void *out, const char *path)
{
	unsigned char *buf = NULL;
	size_t len;

	if (n->kind != KL_CONF_SCALAR)
		return want(ld, f, n, path, "a string");
	if (out) {
		buf = kl_arena_alloc(&ld->cfg->arena, strlen(n->value) / 4 * 3 + 1);
		if (!buf)
			return nomem(ld);
	}
	if (b64_decode(n->value, buf, &len))
		return fail(ld, f->path, node_line(n), -EINVAL, "%s: invalid base64", path);
	if (!out || !len)
		return 0;
	buf[len] = '\0'; /* PEM is text: let it be used as a C string too */
	*AT(out, fd->off, const char *) = (const char *)buf;
	*AT(out, fd->len_off, size_t) = len;
	return 0;
}

static int bind_args(struct loader *ld, const struct kfile *f, const struct kl_conf_node *n,
		     const struct field *fd, void *out, const char *path)
{
	char ipath[KC_PATH_MAX];
	const char **v = NULL;
	size_t i;

	if (n->kind != KL_CONF_SEQ)
		return want(ld, f, n, path, "a list of strings");
	if (out) {
		v = kl_arena_alloc(&ld->cfg->arena, (n->nkids + 1) * sizeof(*v));
		if (!v)
			return nomem(ld);
	}
	for (i = 0; i < n->nkids; i++) {
		if (n->kids[i].kind != KL_CONF_SCALAR) {
			path_index(ipath, sizeof(ipath), path, i);
			return want(ld, f, &n->kids[i], ipath, "a string");
		}
		if (!out)
			continue;
		v[i] = kl_arena_strdup(&ld->cfg->arena, n->kids[i].value);
		if (!v[i])
			return nomem(ld);
	}
	if (out)
		*AT(out, fd->off, const char **) = v;
	return 0;
}

/* One env: item {name, value}; *out is "NAME=value" when binding. */
static int bind_env_item(struct loader *ld, const struct kfile *f, const struct kl_conf_node *n,
			 const char **out, const char *path)
{
	const struct kl_conf_node *name = kl_conf_get(n, "name"), *value = kl_conf_get(n, "value");
	char kpath[KC_PATH_MAX];

	if (n->kind != KL_CONF_MAP)
		return want(ld, f, n, path, "a map with name and value");
	path_key(kpath, sizeof(kpath), path, "name");
	if (name && name->kind != KL_CONF_SCALAR)
		return want(ld, f, name, kpath, "a string");
	path_key(kpath, sizeof(kpath), path, "value");
	if (value && value->kind != KL_CONF_SCALAR)
		return want(ld, f, value, kpath, "a string");
	if (!out)
		return 0;
	if (is_empty(name))
		return fail(ld, f->path, n->line, -EINVAL, "%s.name is required", path);
	if (strchr(name->value, '='))
		return fail(ld, f->path, node_line(name), -EINVAL, "%s.name: \"%.*s\" contains '='",
			    path, KC_SHOW_MAX, name->value);
	*out = arena_printf(&ld->cfg->arena, "%s=%s", name->value, value ? value->value : "");
	return *out ? 0 : nomem(ld);
}

static int bind_env(struct loader *ld, const struct kfile *f, const struct kl_conf_node *n,
		    const struct field *fd, void *out, const char *path)
{
	char ipath[KC_PATH_MAX];
	const char **v = NULL;
	size_t i;
	int ret;

	if (n->kind != KL_CONF_SEQ)
		return want(ld, f, n, path, "a list of {name, value}");
	if (out) {
		v = kl_arena_alloc(&ld->cfg->arena, (n->nkids + 1) * sizeof(*v));
		if (!v)
			return nomem(ld);
	}
	for (i = 0; i < n->nkids; i++) {
		path_index(ipath, sizeof(ipath), path, i);
		ret = bind_env_item(ld, f, &n->kids[i], v ? &v[i] : NULL, ipath);
		if (ret)
			return ret;
	}
	if (out)
		*AT(out, fd->off, const char **) = v;
	return 0;
}

/* The checks client-go makes on an exec plugin it is about to run. */
static int check_exec(struct loader *ld, const struct kfile *f, const struct kl_conf_node *n,
		      struct kl_kube_exec *e, const char *path)
{
	static const char *const modes[] = {"Never", "IfAvailable", "Always", NULL};
	const struct kl_conf_node *av = kl_conf_get(n, "apiVersion");
	const struct kl_conf_node *im = kl_conf_get(n, "interactiveMode");
	size_t i;

	if (!e->command)
		return fail(ld, f->path, node_line(n), -EINVAL, "%s.command is required", path);
	if (!e->api_version)
		return fail(ld, f->path, node_line(n), -EINVAL, "%s.apiVersion is required", path);
	if (strcmp(e->api_version, KC_EXEC_V1) && strcmp(e->api_version, KC_EXEC_V1BETA1))
		return fail(ld, f->path, node_line(av), -EINVAL,
			    "%s.apiVersion: \"%.*s\" is not supported (want %s or %s)", path,
			    KC_SHOW_MAX, e->api_version, KC_EXEC_V1, KC_EXEC_V1BETA1);
	if (!e->interactive_mode) {
		/* client-go defaults v1beta1 for old kubeconfigs; v1 must say */
		if (strcmp(e->api_version, KC_EXEC_V1BETA1))
			return fail(ld, f->path, node_line(n), -EINVAL,
				    "%s.interactiveMode is required with %s (Never, IfAvailable "
				    "or Always)",
				    path, KC_EXEC_V1);
		e->interactive_mode = "IfAvailable";
	}
	for (i = 0; modes[i]; i++)
		if (!strcmp(e->interactive_mode, modes[i]))
			break;
	if (!modes[i])
		return fail(
		    ld, f->path, node_line(im), -EINVAL,
		    "%s.interactiveMode: expected Never, IfAvailable or Always, got \"%.*s\"", path,
		    KC_SHOW_MAX, e->interactive_mode);
	return 0;
}

static int bind_exec(struct loader *ld, const struct kfile *f, const struct kl_conf_node *n,
		     const struct field *fd, void *out, const char *path)
{
	static const char *const none[] = {NULL};
	struct kl_kube_exec *e = NULL;
	int ret;

	if (n->kind != KL_CONF_MAP)
		return want(ld, f, n, path, "a map");
	if (out) {
		e = kl_arena_alloc(&ld->cfg->arena, sizeof(*e));
		if (!e)
			return nomem(ld);
	}
	ret = bind_fields(ld, f, n, exec_fields, e, path);
	if (ret || !out)
		return ret;
	/* never NULL, so a caller can walk them without checking */
	if (!e->args)
		e->args = (const char **)none;
	if (!e->env)
		e->env = (const char **)none;
	ret = check_exec(ld, f, n, e, path);
	if (ret)
		return ret;
	*AT(out, fd->off, struct kl_kube_exec *) = e;
	return 0;
}

static int bind_auth_provider(struct loader *ld, const struct kfile *f,
			      const struct kl_conf_node *n, void *out, const char *path)
{
	const struct kl_conf_node *name = kl_conf_get(n, "name");

	if (n->kind != KL_CONF_MAP)
		return want(ld, f, n, path, "a map");
	if (!out)
		return 0;
	return fail(ld, f->path, node_line(n), -ENOTSUP,
		    "%s: auth-provider \"%.*s\" is not supported; use an exec plugin", path,
		    KC_SHOW_MAX, name && name->kind == KL_CONF_SCALAR ? name->value : "");
}

/* An empty list or map counts as unset too: "as-groups: []" impersonates nobody. */
static int is_unset(const struct kl_conf_node *n)
{
	return is_empty(n) || (n->kind != KL_CONF_SCALAR && !n->nkids);
}

static int bind_one(struct loader *ld, const struct kfile *f, const struct kl_conf_node *n,
		    const struct field *fd, void *out, const char *prefix)
{
	char path[KC_PATH_MAX];
	bool b;

	if (is_empty(n))
		return 0;
	path_key(path, sizeof(path), prefix, fd->key);
	switch (fd->type) {
	case F_STRING:
	case F_PATH:
	case F_COMMAND:
		return bind_string(ld, f, n, fd, out, path);
	case F_DATA:
		return bind_data(ld, f, n, fd, out, path);
	case F_BOOL:
		if (parse_bool(n, &b))
			return fail(ld, f->path, node_line(n), -EINVAL,
				    "%s: expected true or false, got %s%.*s%s", path,
				    n->kind == KL_CONF_SCALAR ? "\"" : "", KC_SHOW_MAX,
				    n->kind == KL_CONF_SCALAR ? n->value : kind_name(n),
				    n->kind == KL_CONF_SCALAR ? "\"" : "");
		if (out)
			*AT(out, fd->off, bool) = b;
		return 0;
	case F_ARGS:
		return bind_args(ld, f, n, fd, out, path);
	case F_ENV:
		return bind_env(ld, f, n, fd, out, path);
	case F_EXEC:
		return bind_exec(ld, f, n, fd, out, path);
	case F_AUTH_PROVIDER:
		return bind_auth_provider(ld, f, n, out, path);
	case F_REFUSED:
		if (!out || is_unset(n))
			return 0;
		return fail(ld, f->path, node_line(n), -ENOTSUP, "%s: %s", path, fd->why);
	}
	return fail(ld, f->path, node_line(n), -EINVAL, "%s: unknown field type", path);
}

/*
 * Binds the known keys of map into out with fields, or only checks their shape
 * when out is NULL. Unknown keys are ignored, as kubectl ignores them; a NULL or
 * null map binds nothing. path is "users[0].user", for messages.
 */
static int bind_fields(struct loader *ld, const struct kfile *f, const struct kl_conf_node *map,
		       const struct field *fields, void *out, const char *path)
{
	const struct field *fd;
	size_t i;
	int ret;

	if (is_empty(map))
		return 0;
	if (map->kind != KL_CONF_MAP)
		return want(ld, f, map, path, "a map");
	for (i = 0; i < map->nkids; i++) {
		for (fd = fields; fd->key; fd++)
			if (!strcmp(fd->key, map->kids[i].key))
				break;
		if (!fd->key)
			continue;
		ret = bind_one(ld, f, &map->kids[i], fd, out, path);
		if (ret)
			return ret;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Files: shape checks and first-wins lookups                                */
/* ------------------------------------------------------------------------ */

/* A list entry's name; "" when it has none (client-go keys it as ""). */
static const char *entry_name(const struct kl_conf_node *item)
{
	const struct kl_conf_node *n = kl_conf_get(item, "name");

	return n && n->kind == KL_CONF_SCALAR ? n->value : "";
}

struct named {
	const char *name;
	size_t idx;
};

static int named_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* client-go refuses a name given twice in one file's list; name the earliest repeat. */
static int check_dups(struct loader *ld, const struct kfile *f, const struct section *sec,
		      const struct kl_conf_node *list)
{
	const struct kl_conf_node *item, *name;
	struct named *v, *first = NULL, *second = NULL;
	size_t i;

	if (list->nkids < 2)
		return 0;
	v = kl_arena_alloc(&ld->scratch, list->nkids * sizeof(*v));
	if (!v)
		return nomem(ld);
	for (i = 0; i < list->nkids; i++) {
		v[i].name = entry_name(&list->kids[i]);
		v[i].idx = i;
	}
	qsort(v, list->nkids, sizeof(*v), named_cmp);
	for (i = 1; i < list->nkids; i++) {
		if (strcmp(v[i - 1].name, v[i].name))
			continue;
		if (i >= 2 && !strcmp(v[i - 2].name, v[i].name))
			continue; /* a third copy: the second is already a candidate */
		if (!second || v[i].idx < second->idx) {
			first = &v[i - 1];
			second = &v[i];
		}
	}
	if (!second)
		return 0;
	item = &list->kids[second->idx];
	name = kl_conf_get(item, "name");
	return fail(ld, f->path, name ? node_line(name) : item->line, -EINVAL,
		    "%s[%zu].name: duplicate name \"%.*s\" (first at %s[%zu])", sec->list,
		    second->idx, KC_SHOW_MAX, second->name, sec->list, first->idx);
}

static int check_list(struct loader *ld, const struct kfile *f, const struct section *sec)
{
	const struct kl_conf_node *list = kl_conf_get(f->root, sec->list), *item, *n;
	char ipath[KC_PATH_MAX], path[KC_PATH_MAX];
	size_t i;
	int ret;

	if (is_empty(list))
		return 0;
	if (list->kind != KL_CONF_SEQ)
		return want(ld, f, list, sec->list, "a list");
	for (i = 0; i < list->nkids; i++) {
		item = &list->kids[i];
		path_index(ipath, sizeof(ipath), sec->list, i);
		if (item->kind != KL_CONF_MAP)
			return want(ld, f, item, ipath, "a map");
		n = kl_conf_get(item, "name");
		path_key(path, sizeof(path), ipath, "name");
		if (n && n->kind != KL_CONF_SCALAR)
			return want(ld, f, n, path, "a string");
		path_key(path, sizeof(path), ipath, sec->body);
		ret = bind_fields(ld, f, kl_conf_get(item, sec->body), sec->fields, NULL, path);
		if (ret)
			return ret;
	}
	return check_dups(ld, f, sec, list);
}

/* A top-level string that must be empty or want. */
static int check_fixed(struct loader *ld, const struct kfile *f, const char *key,
		       const char *wanted)
{
	const struct kl_conf_node *n = kl_conf_get(f->root, key);

	if (is_empty(n))
		return 0;
	if (n->kind != KL_CONF_SCALAR || strcmp(n->value, wanted))
		return fail(ld, f->path, node_line(n), -EINVAL, "%s: expected %s, got %s%.*s%s",
			    key, wanted, n->kind == KL_CONF_SCALAR ? "\"" : "", KC_SHOW_MAX,
			    n->kind == KL_CONF_SCALAR ? n->value : kind_name(n),
			    n->kind == KL_CONF_SCALAR ? "\"" : "");
	return 0;
}

/* The shape of a whole file, whichever entries end up used. */
static int check_file(struct loader *ld, const struct kfile *f)
{
	const struct kl_conf_node *cc = kl_conf_get(f->root, "current-context");
	int ret;

	/* the parser has made sure the top level is a map */
	ret = check_fixed(ld, f, "kind", "Config");
	if (!ret)
		ret = check_fixed(ld, f, "apiVersion", "v1");
	if (ret)
		return ret;
	if (cc && cc->kind != KL_CONF_SCALAR)
		return want(ld, f, cc, "current-context", "a string");
	ret = check_list(ld, f, &sec_clusters);
	if (!ret)
		ret = check_list(ld, f, &sec_users);
	if (!ret)
		ret = check_list(ld, f, &sec_contexts);
	return ret;
}

/* Room for n more files. */
static int files_reserve(struct loader *ld, size_t n)
{
	struct kfile *v;

	if (ld->nfiles + n <= ld->cap)
		return 0;
	v = kl_arena_alloc(&ld->scratch, (ld->nfiles + n) * sizeof(*v));
	if (!v)
		return nomem(ld);
	if (ld->nfiles)
		memcpy(v, ld->files, ld->nfiles * sizeof(*v));
	ld->files = v;
	ld->cap = ld->nfiles + n;
	return 0;
}

/*
 * Parses and shape-checks path as the next file in precedence order. A missing
 * file is skipped when skip_missing (entries of $KUBECONFIG, ~/.kube/config), as
 * kubectl skips it; any other failure to read is an error.
 */
static int add_file(struct loader *ld, const char *path, bool skip_missing)
{
	struct kl_conf_node *root;
	struct kl_error perr;
	struct kfile *f;
	int ret;

	ret = files_reserve(ld, 1);
	if (ret)
		return ret;
	kl_error_clear(&perr);
	ret = kl_conf_parse_file(&ld->scratch, path, &root, &perr);
	if (ret == -ENOENT && skip_missing)
		return 0;
	if (ret) {
		kl_error_set(ld->err, perr.file, perr.line, perr.col, "%s", perr.msg);
		return ret;
	}
	f = &ld->files[ld->nfiles];
	f->path = kl_arena_strdup(&ld->scratch, path);
	if (!f->path)
		return nomem(ld);
	f->root = root;
	ret = file_dir(ld, path, &f->dir);
	if (ret)
		return ret;
	ret = check_file(ld, f);
	if (ret)
		return ret;
	ld->nfiles++;
	return 0;
}

/* $KUBECONFIG: a colon list; empty entries and repeats are skipped as client-go does. */
static int add_list(struct loader *ld, const char *list)
{
	const char *p, *end;
	char *path;
	size_t i, n = 1;
	int ret;

	for (p = list; *p; p++)
		n += *p == ':';
	ret = files_reserve(ld, n);
	if (ret)
		return ret;
	for (p = list; *p; p = *end ? end + 1 : end) {
		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		if (end == p)
			continue;
		path = kl_arena_strndup(&ld->scratch, p, (size_t)(end - p));
		if (!path)
			return nomem(ld);
		for (i = 0; i < ld->nfiles; i++)
			if (!strcmp(ld->files[i].path, path))
				break;
		if (i < ld->nfiles)
			continue;
		ret = add_file(ld, path, true);
		if (ret)
			return ret;
	}
	return 0;
}

/* A name's entry in the merged view: the first file that defines it wins. */
struct entry {
	const struct kfile *f;
	size_t idx;			 /* in its file's list, for "users[2]" */
	const struct kl_conf_node *item; /* {name, user: {...}} */
	const struct kl_conf_node *body; /* the user: map; NULL when absent */
	char path[KC_PATH_MAX];		 /* "users[2].user" */
};

static int find_entry(struct loader *ld, const struct section *sec, const char *name,
		      struct entry *e)
{
	const struct kl_conf_node *list;
	size_t i, j;

	for (i = 0; i < ld->nfiles; i++) {
		list = kl_conf_get(ld->files[i].root, sec->list);
		if (!list || list->kind != KL_CONF_SEQ)
			continue;
		for (j = 0; j < list->nkids; j++) {
			if (strcmp(entry_name(&list->kids[j]), name))
				continue;
			e->f = &ld->files[i];
			e->idx = j;
			e->item = &list->kids[j];
			e->body = kl_conf_get(e->item, sec->body);
			snprintf(e->path, sizeof(e->path), "%s[%zu].%s", sec->list, j, sec->body);
			return 1;
		}
	}
	return 0;
}

/* Where a message about an entry as a whole points. */
static int entry_line(const struct entry *e)
{
	return e->body ? node_line(e->body) : e->item->line;
}

/* ------------------------------------------------------------------------ */
/* The chosen context, cluster and user                                      */
/* ------------------------------------------------------------------------ */

static int has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/*
 * The server URL as the HTTP layer wants it: http(s)://host[:port][/path] without
 * trailing slashes. A bare "host:port" gets a scheme the way client-go's
 * DefaultServerURL gives one: https when any TLS setting is present, else http.
 * Returns NULL with *ret set (-EINVAL for a bad URL, -ENOMEM).
 */
static const char *norm_server(struct loader *ld, const char *s, int *ret)
{
	const struct kl_kube_config *c = ld->cfg;
	const char *sep = strstr(s, "://"), *scheme = "";
	size_t len;
	char *v;

	*ret = -EINVAL;
	if (!sep)
		scheme = c->ca_file || c->ca_data || c->client_cert_file || c->client_cert_data ||
				 c->insecure_skip_tls_verify
			     ? "https://"
			     : "http://";
	else if (!has_prefix(s, "https://") && !has_prefix(s, "http://"))
		return NULL;
	else if (!sep[3] || sep[3] == '/')
		return NULL; /* no host */
	v = arena_printf(&ld->cfg->arena, "%s%s", scheme, s);
	if (!v) {
		*ret = -ENOMEM;
		return NULL;
	}
	len = strlen(v);
	while (len && v[len - 1] == '/')
		v[--len] = '\0';
	if (!len || !strcmp(v, "http:") || !strcmp(v, "https:"))
		return NULL;
	*ret = 0;
	return v;
}

static int apply_cluster(struct loader *ld, const struct entry *e)
{
	struct kl_kube_config *c = ld->cfg;
	const struct kl_conf_node *n;
	int ret;

	ret = bind_fields(ld, e->f, e->body, cluster_fields, c, e->path);
	if (ret)
		return ret;
	if (c->ca_file && c->ca_data)
		return fail(ld, e->f->path, entry_line(e), -EINVAL,
			    "%s: certificate-authority and certificate-authority-data are both set",
			    e->path);
	if (c->insecure_skip_tls_verify && (c->ca_file || c->ca_data))
		return fail(ld, e->f->path, entry_line(e), -EINVAL,
			    "%s: insecure-skip-tls-verify cannot be used with a "
			    "certificate-authority",
			    e->path);
	if (c->proxy_url && !has_prefix(c->proxy_url, "http://") &&
	    !has_prefix(c->proxy_url, "https://") && !has_prefix(c->proxy_url, "socks5://")) {
		n = kl_conf_get(e->body, "proxy-url");
		return fail(ld, e->f->path, node_line(n), -EINVAL,
			    "%s.proxy-url: expected an http://, https:// or socks5:// URL",
			    e->path);
	}
	/* --master replaces the server, so it need not be set here */
	if (!c->server && !(ld->opts->master && *ld->opts->master))
		return fail(ld, e->f->path, entry_line(e), -EINVAL, "%s.server is required",
			    e->path);
	return 0;
}

/*
 * --master, else the cluster's server (cl, NULL when --master stands in for a
 * missing cluster), normalized. Last, as a scheme-less server's default depends
 * on the user's TLS settings too.
 */
static int set_server(struct loader *ld, const struct entry *cl)
{
	const char *m = ld->opts->master, *s;
	char path[KC_PATH_MAX];
	int ret;

	if (m && *m) {
		s = norm_server(ld, m, &ret);
		if (!s && ret != -ENOMEM)
			return fail(ld, NULL, 0, ret,
				    "--master: expected an http:// or https:// URL, got \"%.*s\"",
				    KC_SHOW_MAX, m);
	} else {
		s = norm_server(ld, ld->cfg->server, &ret);
		if (!s && ret != -ENOMEM) {
			path_key(path, sizeof(path), cl->path, "server");
			return fail(ld, cl->f->path, node_line(kl_conf_get(cl->body, "server")),
				    ret, "%s: expected an http:// or https:// URL, got \"%.*s\"",
				    path, KC_SHOW_MAX, ld->cfg->server);
		}
	}
	if (!s)
		return nomem(ld);
	ld->cfg->server = s;
	return 0;
}

static int apply_user(struct loader *ld, const struct entry *e)
{
	struct kl_kube_config *c = ld->cfg;
	int ret;

	ret = bind_fields(ld, e->f, e->body, user_fields, c, e->path);
	if (ret)
		return ret;
	if (c->client_cert_file && c->client_cert_data)
		return fail(ld, e->f->path, entry_line(e), -EINVAL,
			    "%s: client-certificate and client-certificate-data are both set",
			    e->path);
	if (c->client_key_file && c->client_key_data)
		return fail(ld, e->f->path, entry_line(e), -EINVAL,
			    "%s: client-key and client-key-data are both set", e->path);
	if (!(c->client_cert_file || c->client_cert_data) !=
	    !(c->client_key_file || c->client_key_data))
		return fail(ld, e->f->path, entry_line(e), -EINVAL,
			    "%s: a client certificate needs a client key and the other way round",
			    e->path);
	if (c->token && (c->username || c->password))
		return fail(ld, e->f->path, entry_line(e), -EINVAL,
			    "%s: token and username/password are both set; use one", e->path);
	return 0;
}

/* The merged current-context: from the first file that sets a non-empty one. */
static const char *current_context(const struct loader *ld)
{
	const struct kl_conf_node *n;
	size_t i;

	for (i = 0; i < ld->nfiles; i++) {
		n = kl_conf_get(ld->files[i].root, "current-context");
		if (!is_empty(n))
			return n->value;
	}
	return "";
}

/* "a:b" of the files actually read, for messages. */
static int set_source(struct loader *ld)
{
	size_t i, len = 1;
	char *s;

	for (i = 0; i < ld->nfiles; i++)
		len += strlen(ld->files[i].path) + 1;
	s = kl_arena_alloc(&ld->cfg->arena, len);
	if (!s)
		return nomem(ld);
	for (i = 0; i < ld->nfiles; i++) {
		if (i)
			strcat(s, ":");
		strcat(s, ld->files[i].path);
	}
	ld->cfg->source = s;
	return 0;
}

/* With the files read: pick the context, then its cluster and user. */
static int from_files(struct loader *ld)
{
	const struct kl_kube_config_opts *o = ld->opts;
	struct kl_kube_config *c = ld->cfg;
	bool master = o->master && *o->master, have_cluster;
	struct ctxref ref = {0};
	struct entry ec, ecl, eu;
	const char *name;
	int ret;

	ret = set_source(ld);
	if (ret)
		return ret;
	name = o->context && *o->context ? o->context : current_context(ld);
	if (!*name)
		return fail(ld, NULL, 0, -EINVAL,
			    "kubeconfig %s: no current-context; use --context", c->source);
	if (!find_entry(ld, &sec_contexts, name, &ec))
		return fail(ld, NULL, 0, -EINVAL, "kubeconfig %s: context \"%.*s\" not found",
			    c->source, KC_SHOW_MAX, name);
	ret = bind_fields(ld, ec.f, ec.body, context_fields, &ref, ec.path);
	if (ret)
		return ret;
	c->context = kl_arena_strdup(&c->arena, name);
	if (!c->context)
		return nomem(ld);
	c->namespace_ = ref.namespace_;

	if (!ref.cluster && !master)
		return fail(ld, ec.f->path, entry_line(&ec), -EINVAL, "%s.cluster is required",
			    ec.path);
	have_cluster = ref.cluster && find_entry(ld, &sec_clusters, ref.cluster, &ecl);
	if (have_cluster)
		ret = apply_cluster(ld, &ecl);
	else if (ref.cluster && !master)
		ret = fail(ld, ec.f->path, node_line(kl_conf_get(ec.body, "cluster")), -EINVAL,
			   "%s.cluster: cluster \"%.*s\" not found", ec.path, KC_SHOW_MAX,
			   ref.cluster);
	if (ret)
		return ret;

	/* no user: anonymous; a user named but missing is a typo, not anonymity */
	if (ref.user && find_entry(ld, &sec_users, ref.user, &eu))
		ret = apply_user(ld, &eu);
	else if (ref.user)
		ret = fail(ld, ec.f->path, node_line(kl_conf_get(ec.body, "user")), -EINVAL,
			   "%s.user: user \"%.*s\" not found", ec.path, KC_SHOW_MAX, ref.user);
	if (ret)
		return ret;
	return set_server(ld, have_cluster ? &ecl : NULL);
}

/* ------------------------------------------------------------------------ */
/* In-cluster                                                                */
/* ------------------------------------------------------------------------ */

/* The service account's namespace file, trimmed; NULL when absent or empty. */
static const char *read_namespace(struct loader *ld, const char *path)
{
	char buf[KC_NS_MAX + 1];
	size_t len = 0;
	ssize_t r;
	char *s;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return NULL;
	while (len < KC_NS_MAX) {
		r = read(fd, buf + len, KC_NS_MAX - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	s = buf;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' ||
		       s[len - 1] == '\n'))
		len--;
	return len ? kl_arena_strndup(&ld->cfg->arena, s, len) : NULL;
}

/*
 * The pod's service account, as client-go's InClusterConfig: possible when the
 * service env is set and the token file exists. Returns 0 when used, 1 when not
 * possible, or a negative errno.
 */
static int in_cluster(struct loader *ld)
{
	const struct kl_kube_config_opts *o = ld->opts;
	const char *host = o->service_host ? o->service_host : getenv("KUBERNETES_SERVICE_HOST");
	const char *port = o->service_port ? o->service_port : getenv("KUBERNETES_SERVICE_PORT");
	const char *dir = o->sa_dir ? o->sa_dir : KC_SA_DIR;
	struct kl_kube_config *c = ld->cfg;
	const char *ca, *server, *ns;
	struct stat st;
	bool v6;
	int ret;

	if (!host || !*host || !port || !*port)
		return 1;
	/* a named context can only come from a kubeconfig */
	if (o->context && *o->context)
		return 1;
	c->token_file = arena_printf(&c->arena, "%s/token", dir);
	if (!c->token_file)
		return nomem(ld);
	if (stat(c->token_file, &st) || S_ISDIR(st.st_mode)) {
		c->token_file = NULL;
		return 1;
	}
	if (access(c->token_file, R_OK)) {
		ret = errno;
		return fail(ld, c->token_file, 0, -ret, "cannot read: %s", strerror(ret));
	}
	v6 = strchr(host, ':') && host[0] != '[';
	server = o->master && *o->master ? o->master
					 : arena_printf(&c->arena, "https://%s%s%s:%s",
							v6 ? "[" : "", host, v6 ? "]" : "", port);
	if (!server)
		return nomem(ld);
	ca = arena_printf(&c->arena, "%s/ca.crt", dir);
	if (!ca)
		return nomem(ld);
	/* client-go carries on without the CA file (system roots) when it is missing */
	c->ca_file = access(ca, F_OK) ? NULL : ca;
	c->server = norm_server(ld, server, &ret);
	if (!c->server)
		return ret == -ENOMEM ? nomem(ld)
				      : fail(ld, NULL, 0, ret,
					     "in-cluster: server \"%.*s\" is not an http(s) URL",
					     KC_SHOW_MAX, server);
	ns = arena_printf(&ld->scratch, "%s/namespace", dir);
	if (!ns)
		return nomem(ld);
	c->namespace_ = read_namespace(ld, ns);
	c->source = "in-cluster";
	c->context = "";
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Resolution                                                                */
/* ------------------------------------------------------------------------ */

static int resolve_all(struct loader *ld)
{
	const struct kl_kube_config_opts *o = ld->opts;
	const char *env, *home;
	char *path;
	int ret;

	if (o->kubeconfig && *o->kubeconfig) {
		ret = add_file(ld, o->kubeconfig, false);
		return ret ? ret : from_files(ld);
	}
	env = o->env_kubeconfig ? o->env_kubeconfig : getenv("KUBECONFIG");
	if (env && *env) {
		ret = add_list(ld, env);
		if (ret)
			return ret;
		if (ld->nfiles)
			return from_files(ld);
	}
	ret = in_cluster(ld);
	if (ret <= 0)
		return ret;
	home = o->home ? o->home : getenv("HOME");
	if (home && *home) {
		path = arena_printf(&ld->scratch, "%s/.kube/config", home);
		if (!path)
			return nomem(ld);
		ret = add_file(ld, path, true);
		if (ret)
			return ret;
		if (ld->nfiles)
			return from_files(ld);
	}
	return fail(ld, NULL, 0, -ENOENT,
		    "no kubeconfig: use --kubeconfig, set KUBECONFIG, or run in a cluster");
}

int kl_kube_config_load(struct kl_kube_config *cfg, const struct kl_kube_config_opts *opts,
			struct kl_error *err)
{
	static const struct kl_kube_config_opts defaults;
	struct loader ld;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	kl_arena_init(&cfg->arena);
	memset(&ld, 0, sizeof(ld));
	ld.cfg = cfg;
	ld.opts = opts ? opts : &defaults;
	ld.err = err;
	kl_arena_init(&ld.scratch);
	ret = resolve_all(&ld);
	kl_arena_free(&ld.scratch);
	if (ret)
		kl_kube_config_free(cfg);
	return ret;
}

void kl_kube_config_free(struct kl_kube_config *cfg)
{
	if (!cfg)
		return;
	kl_arena_free(&cfg->arena);
	memset(cfg, 0, sizeof(*cfg));
}
