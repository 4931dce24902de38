/*
 * test/unit/test_kubeconfig.c - kubeconfig resolution, merging and fields, checked
 * against what kubectl does with the same files.
 *
 * full.yaml (test/data/kubeconfig) holds every field form; cases about several
 * files, relative paths across folders, $HOME and the service account write their
 * files into a fresh temporary folder. Every case sets all of opts' environment
 * stand-ins, so the real $KUBECONFIG, $HOME or a real pod cannot leak in. Errors
 * are compared whole (file, line and message), as an operator would read them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kubeclient/kubeconfig.h"

#define CA_PEM "-----BEGIN CERTIFICATE-----\nY2EtZml4dHVyZQ==\n-----END CERTIFICATE-----\n"
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nY2xpZW50LWZpeHR1cmU=\n-----END CERTIFICATE-----\n"
#define KEY_PEM "-----BEGIN PRIVATE KEY-----\nbm90LWEtcmVhbC1rZXk=\n-----END PRIVATE KEY-----\n"

struct fx {
	struct kl_kube_config cfg;
	struct kl_kube_config_opts opts;
	struct kl_error err;
	char dir[64];	    /* the temporary folder */
	char path[128];	    /* dir/config, where load_yaml writes */
	char nosa[128];	    /* a service-account folder that does not exist */
	char full[512];	    /* test/data/kubeconfig/full.yaml */
	char pki[512];	    /* test/data/kubeconfig/pki */
	char scratch[1024]; /* for building expected strings and paths */
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const char *data = getenv("KL_TEST_DATA");

	assert_non_null(fx);
	assert_non_null(data);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/kl-test-kubeconfig-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/config", fx->dir);
	snprintf(fx->nosa, sizeof(fx->nosa), "%s/no-sa", fx->dir);
	snprintf(fx->full, sizeof(fx->full), "%s/kubeconfig/full.yaml", data);
	snprintf(fx->pki, sizeof(fx->pki), "%s/kubeconfig/pki", data);
	/* hermetic: nothing from the real environment */
	fx->opts.env_kubeconfig = "";
	fx->opts.home = fx->dir; /* no .kube/ in it unless a case writes one */
	fx->opts.sa_dir = fx->nosa;
	fx->opts.service_host = "";
	fx->opts.service_port = "";
	kl_error_clear(&fx->err);
	*state = fx;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	kl_kube_config_free(&fx->cfg);
	nftw(fx->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* Writes text to dir/name, making the folders on the way. */
static void write_file(struct fx *fx, const char *name, const char *text)
{
	char path[512], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	for (slash = strchr(path + strlen(fx->dir) + 1, '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
		*slash = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* dir/name in fx->scratch */
static const char *in_dir(struct fx *fx, const char *name)
{
	snprintf(fx->scratch, sizeof(fx->scratch), "%s/%s", fx->dir, name);
	return fx->scratch;
}

static int load(struct fx *fx)
{
	kl_kube_config_free(&fx->cfg);
	kl_error_clear(&fx->err);
	return kl_kube_config_load(&fx->cfg, &fx->opts, &fx->err);
}

/* Loads full.yaml with the given context (NULL: its current-context). */
static void load_full(struct fx *fx, const char *context)
{
	fx->opts.kubeconfig = fx->full;
	fx->opts.context = context;
	assert_int_equal(load(fx), 0);
	assert_string_equal(fx->cfg.source, fx->full);
}

/* Writes yaml as dir/config and loads it with --kubeconfig. */
static int load_yaml(struct fx *fx, const char *yaml)
{
	write_file(fx, "config", yaml);
	fx->opts.kubeconfig = fx->path;
	return load(fx);
}

static void assert_err(struct fx *fx, const char *file, int line, const char *msg)
{
	assert_true(kl_error_isset(&fx->err));
	assert_string_equal(fx->err.msg, msg);
	assert_string_equal(fx->err.file, file ? file : "");
	assert_int_equal(fx->err.line, line);
}

/* Every load failure must leave a struct that is all zero (freed). */
static void assert_freed(const struct kl_kube_config *cfg)
{
	assert_null(cfg->arena.head);
	assert_null(cfg->server);
	assert_null(cfg->source);
}

static void assert_pki(struct fx *fx, const char *got, const char *name)
{
	char want[600];

	snprintf(want, sizeof(want), "%s/%s", fx->pki, name);
	assert_non_null(got);
	assert_string_equal(got, want);
}

/* ------------------------------------------------------------------------ */
/* One file, every field form                                                */
/* ------------------------------------------------------------------------ */

static void test_full_inline_data(void **state)
{
	struct fx *fx = *state;
	const struct kl_kube_config *c = &fx->cfg;

	load_full(fx, NULL); /* current-context: data */
	assert_string_equal(c->context, "data");
	assert_string_equal(c->namespace_, "team-a");
	assert_string_equal(c->server, "https://data.example:6443");
	assert_null(c->ca_file);
	assert_int_equal(c->ca_data_len, strlen(CA_PEM));
	assert_memory_equal(c->ca_data, CA_PEM, c->ca_data_len);
	assert_int_equal(c->ca_data[c->ca_data_len], '\0');
	assert_false(c->insecure_skip_tls_verify);
	assert_string_equal(c->tls_server_name, "api.internal");
	assert_string_equal(c->proxy_url, "socks5://proxy.example:1080");
	/* split over two lines with an escaped line break in the YAML */
	assert_int_equal(c->client_cert_data_len, strlen(CERT_PEM));
	assert_string_equal(c->client_cert_data, CERT_PEM);
	assert_int_equal(c->client_key_data_len, strlen(KEY_PEM));
	assert_string_equal(c->client_key_data, KEY_PEM);
	assert_null(c->client_cert_file);
	assert_null(c->client_key_file);
	assert_null(c->token);
	assert_null(c->token_file);
	assert_null(c->username);
	assert_null(c->exec);
}

static void test_full_relative_files(void **state)
{
	struct fx *fx = *state;
	const struct kl_kube_config *c = &fx->cfg;

	load_full(fx, "files");
	assert_string_equal(c->context, "files");
	assert_null(c->namespace_);
	assert_string_equal(c->server, "https://files.example:6443");
	assert_pki(fx, c->ca_file, "ca.crt"); /* written "./pki/ca.crt" */
	assert_null(c->ca_data);
	assert_pki(fx, c->client_cert_file, "client.crt");
	assert_pki(fx, c->client_key_file, "client.key");
	assert_null(c->client_cert_data);
}

static void test_full_token_vs_token_file(void **state)
{
	struct fx *fx = *state;

	load_full(fx, "token");
	assert_string_equal(fx->cfg.token, "fixture-static-token");
	assert_null(fx->cfg.token_file);

	load_full(fx, "tokenfile");
	assert_null(fx->cfg.token); /* the file is read by the HTTP layer, and re-read */
	assert_pki(fx, fx->cfg.token_file, "token");
}

static void test_full_basic_and_anonymous(void **state)
{
	struct fx *fx = *state;
	const struct kl_kube_config *c = &fx->cfg;

	load_full(fx, "basic");
	assert_string_equal(c->username, "admin");
	assert_string_equal(c->password, "fixture-password");
	assert_null(c->token);

	/* no user: anonymous; "localhost:8080" with TLS settings gets https like client-go */
	load_full(fx, "anonymous");
	assert_string_equal(c->server, "https://localhost:8080");
	assert_true(c->insecure_skip_tls_verify);
	assert_null(c->token);
	assert_null(c->token_file);
	assert_null(c->client_cert_file);
	assert_null(c->client_cert_data);
	assert_null(c->username);
	assert_null(c->exec);
}

static void test_full_exec(void **state)
{
	struct fx *fx = *state;
	const struct kl_kube_exec *e;
	char want[600];

	load_full(fx, "exec");
	e = fx->cfg.exec;
	assert_non_null(e);
	/* "./bin/get-token" has a slash: it resolves against the kubeconfig's folder */
	snprintf(want, sizeof(want), "%.*s/bin/get-token", (int)(strlen(fx->pki) - 4), fx->pki);
	assert_string_equal(e->command, want);
	assert_string_equal(e->args[0], "--region");
	assert_string_equal(e->args[1], "eu-1");
	assert_string_equal(e->args[2], "--verbose");
	assert_null(e->args[3]);
	assert_string_equal(e->env[0], "B=2");
	assert_string_equal(e->env[1], "A=1");
	assert_string_equal(e->env[2], "EMPTY=");
	assert_null(e->env[3]);
	assert_string_equal(e->api_version, "client.authentication.k8s.io/v1beta1");
	assert_string_equal(e->interactive_mode, "IfAvailable"); /* v1beta1's default */
	assert_true(e->provide_cluster_info);

	load_full(fx, "exec-v1");
	e = fx->cfg.exec;
	assert_non_null(e);
	assert_string_equal(e->command, "kubelogin"); /* bare: left for PATH */
	assert_non_null(e->args);
	assert_null(e->args[0]);
	assert_non_null(e->env);
	assert_null(e->env[0]);
	assert_string_equal(e->api_version, "client.authentication.k8s.io/v1");
	assert_string_equal(e->interactive_mode, "Never");
	assert_false(e->provide_cluster_info);
}

/* ------------------------------------------------------------------------ */
/* $KUBECONFIG merging                                                       */
/* ------------------------------------------------------------------------ */

/*
 * a/ and b/ both define cluster "shared", user "ua" and context "ctx-a"; a/ comes
 * first, so its versions win. Relative paths resolve in each file's own folder.
 */
static void write_two(struct fx *fx, const char *a_current, const char *b_current)
{
	char text[2048];

	write_file(fx, "a/ca.crt", CA_PEM);
	write_file(fx, "a/token", "token-a\n");
	write_file(fx, "b/ca.crt", CA_PEM);
	write_file(fx, "b/certs/c.crt", CERT_PEM);
	write_file(fx, "b/certs/c.key", KEY_PEM);
	snprintf(text, sizeof(text),
		 "current-context: \"%s\"\n"
		 "clusters:\n"
		 "- name: shared\n"
		 "  cluster: {server: https://a.example, certificate-authority: ca.crt}\n"
		 "users:\n"
		 "- name: ua\n"
		 "  user: {tokenFile: token}\n"
		 "contexts:\n"
		 "- name: ctx-a\n"
		 "  context: {cluster: shared, user: ua, namespace: from-a}\n",
		 a_current);
	write_file(fx, "a/config", text);
	snprintf(text, sizeof(text),
		 "apiVersion: v1\n"
		 "kind: Config\n"
		 "current-context: \"%s\"\n"
		 "clusters:\n"
		 "- name: shared\n"
		 "  cluster: {server: https://b.example}\n"
		 "- name: only-b\n"
		 "  cluster: {server: https://only-b.example/, certificate-authority: ca.crt}\n"
		 "users:\n"
		 "- name: ua\n"
		 "  user: {token: token-b}\n"
		 "- name: ub\n"
		 "  user: {client-certificate: certs/c.crt, client-key: certs/c.key}\n"
		 "contexts:\n"
		 "- name: ctx-a\n"
		 "  context: {cluster: only-b, user: ub}\n"
		 "- name: ctx-b\n"
		 "  context: {cluster: only-b, user: ub}\n"
		 "- name: ctx-b-shared\n"
		 "  context: {cluster: shared, user: ua}\n",
		 b_current);
	write_file(fx, "b/config", text);
}

static void test_merge_first_wins(void **state)
{
	struct fx *fx = *state;
	const struct kl_kube_config *c = &fx->cfg;
	char list[1024], a[256], b[256], want[600];

	write_two(fx, "", "ctx-b");
	snprintf(a, sizeof(a), "%s/a/config", fx->dir);
	snprintf(b, sizeof(b), "%s/b/config", fx->dir);
	/* missing files and empty entries are skipped; a repeat is read once */
	snprintf(list, sizeof(list), "%s/missing/config::%s:%s:%s:", fx->dir, a, b, a);
	fx->opts.env_kubeconfig = list;

	/* a/ sets no current-context ("" counts as unset): b/'s is used */
	assert_int_equal(load(fx), 0);
	snprintf(want, sizeof(want), "%s:%s", a, b);
	assert_string_equal(c->source, want);
	assert_string_equal(c->context, "ctx-b");
	assert_string_equal(c->server, "https://only-b.example");
	assert_string_equal(c->ca_file, in_dir(fx, "b/ca.crt"));
	assert_string_equal(c->client_cert_file, in_dir(fx, "b/certs/c.crt"));
	assert_string_equal(c->client_key_file, in_dir(fx, "b/certs/c.key"));

	/* ctx-a, cluster "shared" and user "ua" all come from a/, paths in a/ */
	fx->opts.context = "ctx-a";
	assert_int_equal(load(fx), 0);
	assert_string_equal(c->context, "ctx-a");
	assert_string_equal(c->namespace_, "from-a");
	assert_string_equal(c->server, "https://a.example");
	assert_string_equal(c->ca_file, in_dir(fx, "a/ca.crt"));
	assert_string_equal(c->token_file, in_dir(fx, "a/token"));
	assert_null(c->token);
	assert_null(c->client_cert_file);

	/* a context in b/ naming entries that a/ defines too gets a/'s */
	fx->opts.context = "ctx-b-shared";
	assert_int_equal(load(fx), 0);
	assert_string_equal(c->server, "https://a.example");
	assert_string_equal(c->token_file, in_dir(fx, "a/token"));
	assert_null(c->token);
}

static void test_merge_current_context(void **state)
{
	struct fx *fx = *state;
	char list[512];

	write_two(fx, "ctx-a", "ctx-b");
	snprintf(list, sizeof(list), "%s/a/config:%s/b/config", fx->dir, fx->dir);
	fx->opts.env_kubeconfig = list;
	assert_int_equal(load(fx), 0);
	assert_string_equal(fx->cfg.context, "ctx-a");
	assert_string_equal(fx->cfg.server, "https://a.example");

	/* the other order: b/ first, so its ctx-b, its "shared" and its "ua" */
	snprintf(list, sizeof(list), "%s/b/config:%s/a/config", fx->dir, fx->dir);
	fx->opts.context = "ctx-b-shared";
	assert_int_equal(load(fx), 0);
	assert_string_equal(fx->cfg.server, "https://b.example");
	assert_string_equal(fx->cfg.token, "token-b");
	assert_null(fx->cfg.token_file);
}

/* Relative $KUBECONFIG entries resolve against the working folder, then the file's. */
static void test_merge_relative_env_paths(void **state)
{
	struct fx *fx = *state;
	char *cwd = getcwd(NULL, 0);

	assert_non_null(cwd);
	write_two(fx, "ctx-a", "");
	assert_int_equal(chdir(fx->dir), 0);
	fx->opts.env_kubeconfig = "./a/config:b/config";
	assert_int_equal(load(fx), 0);
	assert_int_equal(chdir(cwd), 0);
	free(cwd);
	assert_string_equal(fx->cfg.source, "./a/config:b/config");
	assert_string_equal(fx->cfg.ca_file, in_dir(fx, "a/ca.crt"));
	assert_string_equal(fx->cfg.token_file, in_dir(fx, "a/token"));
}

/* ------------------------------------------------------------------------ */
/* --context, --master                                                       */
/* ------------------------------------------------------------------------ */

static void test_context_override_and_errors(void **state)
{
	struct fx *fx = *state;
	char want[1024];

	fx->opts.kubeconfig = fx->full;
	fx->opts.context = "nope";
	assert_int_equal(load(fx), -EINVAL);
	snprintf(want, sizeof(want), "kubeconfig %s: context \"nope\" not found", fx->full);
	assert_err(fx, NULL, 0, want);
	assert_freed(&fx->cfg);

	/* no current-context and no --context */
	fx->opts.context = NULL;
	assert_int_equal(load_yaml(fx, "clusters: []\ncontexts:\n- name: x\n  context: {}\n"),
			 -EINVAL);
	snprintf(want, sizeof(want), "kubeconfig %s: no current-context; use --context", fx->path);
	assert_err(fx, NULL, 0, want);

	/* an empty file is an empty config */
	assert_int_equal(load_yaml(fx, ""), -EINVAL);
	assert_err(fx, NULL, 0, want);
}

static void test_master_override(void **state)
{
	struct fx *fx = *state;

	fx->opts.master = "https://override.example:6443/";
	load_full(fx, "files");
	assert_string_equal(fx->cfg.server, "https://override.example:6443");
	assert_pki(fx, fx->cfg.ca_file, "ca.crt"); /* the rest of the cluster stays */

	/* with --master a cluster needs no server, and may even be missing */
	fx->opts.context = NULL;
	assert_int_equal(load_yaml(fx, "current-context: c\n"
				       "clusters:\n"
				       "- name: bare\n"
				       "  cluster: {insecure-skip-tls-verify: true}\n"
				       "contexts:\n"
				       "- {name: c, context: {cluster: bare}}\n"
				       "- {name: d, context: {cluster: gone}}\n"),
			 0);
	assert_string_equal(fx->cfg.server, "https://override.example:6443");
	assert_true(fx->cfg.insecure_skip_tls_verify);
	fx->opts.context = "d";
	assert_int_equal(load(fx), 0);
	assert_string_equal(fx->cfg.server, "https://override.example:6443");

	fx->opts.master = "ftp://x";
	assert_int_equal(load(fx), -EINVAL);
	assert_err(fx, NULL, 0, "--master: expected an http:// or https:// URL, got \"ftp://x\"");
}

/* ------------------------------------------------------------------------ */
/* In-cluster, home, nothing                                                 */
/* ------------------------------------------------------------------------ */

static void write_sa(struct fx *fx)
{
	write_file(fx, "sa/token", "sa-token\n");
	write_file(fx, "sa/ca.crt", CA_PEM);
	write_file(fx, "sa/namespace", "  kube-system\n");
	snprintf(fx->nosa, sizeof(fx->nosa), "%s/sa", fx->dir);
}

static void test_in_cluster(void **state)
{
	struct fx *fx = *state;
	const struct kl_kube_config *c = &fx->cfg;

	write_sa(fx);
	fx->opts.service_host = "10.96.0.1";
	fx->opts.service_port = "443";
	assert_int_equal(load(fx), 0);
	assert_string_equal(c->source, "in-cluster");
	assert_string_equal(c->context, "");
	assert_string_equal(c->server, "https://10.96.0.1:443");
	assert_string_equal(c->token_file, in_dir(fx, "sa/token"));
	assert_string_equal(c->ca_file, in_dir(fx, "sa/ca.crt"));
	assert_string_equal(c->namespace_, "kube-system");
	assert_null(c->token);
	assert_null(c->exec);

	fx->opts.service_host = "fd00:10:96::1";
	assert_int_equal(load(fx), 0);
	assert_string_equal(c->server, "https://[fd00:10:96::1]:443");

	fx->opts.master = "https://override:6443";
	assert_int_equal(load(fx), 0);
	assert_string_equal(c->server, "https://override:6443");
	assert_string_equal(c->source, "in-cluster");
}

static void test_in_cluster_precedence(void **state)
{
	struct fx *fx = *state;
	char list[256], home[256];

	write_sa(fx);
	write_file(fx, "home/.kube/config",
		   "current-context: h\n"
		   "clusters: [{name: h, cluster: {server: https://home}}]\n"
		   "contexts: [{name: h, context: {cluster: h}}]\n");
	write_two(fx, "ctx-a", "");
	snprintf(home, sizeof(home), "%s/home", fx->dir);
	fx->opts.home = home;
	fx->opts.service_host = "10.96.0.1";
	fx->opts.service_port = "443";

	/* $KUBECONFIG beats in-cluster */
	snprintf(list, sizeof(list), "%s/a/config", fx->dir);
	fx->opts.env_kubeconfig = list;
	assert_int_equal(load(fx), 0);
	assert_string_equal(fx->cfg.server, "https://a.example");

	/* ...unless none of its files exists; in-cluster beats ~/.kube/config */
	snprintf(list, sizeof(list), "%s/nope:%s/nope2", fx->dir, fx->dir);
	assert_int_equal(load(fx), 0);
	assert_string_equal(fx->cfg.source, "in-cluster");

	/* half the service env: not in a cluster */
	fx->opts.service_port = "";
	assert_int_equal(load(fx), 0);
	assert_string_equal(fx->cfg.server, "https://home");
	assert_string_equal(fx->cfg.source, in_dir(fx, "home/.kube/config"));

	/* no token file: not in a cluster either */
	fx->opts.service_port = "443";
	assert_int_equal(remove(in_dir(fx, "sa/token")), 0);
	assert_int_equal(load(fx), 0);
	assert_string_equal(fx->cfg.server, "https://home");

	/* a named context can only come from a kubeconfig */
	write_file(fx, "sa/token", "sa-token\n");
	fx->opts.context = "h";
	assert_int_equal(load(fx), 0);
	assert_string_equal(fx->cfg.server, "https://home");
}

static void test_home_and_nothing(void **state)
{
	struct fx *fx = *state;
	char want[sizeof(fx->scratch)];

	assert_int_equal(load(fx), -ENOENT);
	assert_err(fx, NULL, 0,
		   "no kubeconfig: use --kubeconfig, set KUBECONFIG, or run in a cluster");
	assert_freed(&fx->cfg);

	write_file(fx, ".kube/config",
		   "current-context: h\n"
		   "clusters: [{name: h, cluster: {server: https://home}}]\n"
		   "contexts: [{name: h, context: {cluster: h}}]\n");
	assert_int_equal(load(fx), 0);
	assert_string_equal(fx->cfg.server, "https://home");

	/* --kubeconfig names one file: missing is an error, home is not tried */
	fx->opts.kubeconfig = in_dir(fx, "nope");
	snprintf(want, sizeof(want), "%s", fx->scratch);
	assert_int_equal(load(fx), -ENOENT);
	assert_err(fx, want, 0, "cannot open: No such file or directory");
	assert_freed(&fx->cfg);
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

struct bad {
	const char *yaml;
	const char *context;
	int ret, line;
	const char *msg;
};

#define CTX "current-context: c\ncontexts:\n- {name: c, context: {cluster: k, user: u}}\n"
#define CLUSTER "clusters:\n- {name: k, cluster: {server: https://k}}\n"

/* clang-format off */
static const struct bad bad[] = {
	/* config/node.h's parser refuses it, naming the file */
	{"- just\n- a list\n", NULL, -EINVAL, 1, "the top level must be a map of keys, got a list"},
	{"kind: Pod\n", NULL, -EINVAL, 1, "kind: expected Config, got \"Pod\""},
	{"apiVersion: v2\n", NULL, -EINVAL, 1, "apiVersion: expected v1, got \"v2\""},
	{"clusters: {}\n", NULL, -EINVAL, 1, "clusters: expected a list, got a map"},
	{CTX CLUSTER "users:\n"
		     "- name: u\n"
		     "  user:\n"
		     "    client-certificate-data: bm90IGJhc2U2NA=\n"
		     "    client-key-data: a2V5\n",
	 NULL, -EINVAL, 9, "users[0].user.client-certificate-data: invalid base64"},
	/* kubectl decodes every entry, chosen or not */
	{CTX CLUSTER "users:\n"
		     "- {name: u, user: {token: t}}\n"
		     "- name: other\n"
		     "  user: {client-key-data: \"not base64!\"}\n",
	 NULL, -EINVAL, 9, "users[1].user.client-key-data: invalid base64"},
	{CTX "clusters:\n"
	     "- name: first\n"
	     "  cluster: {server: https://x}\n"
	     "- name: k\n"
	     "  cluster:\n"
	     "    certificate-authority-data: Y2E=\n",
	 NULL, -EINVAL, 8, "clusters[1].cluster.server is required"},
	{CTX "clusters:\n- name: k\n", NULL, -EINVAL, 5, "clusters[0].cluster.server is required"},
	{CTX "clusters:\n- {name: k, cluster: {server: \"ftp://k\"}}\nusers: [{name: u}]\n",
	 NULL, -EINVAL, 5,
	 "clusters[0].cluster.server: expected an http:// or https:// URL, got \"ftp://k\""},
	{CTX "clusters:\n"
	     "- {name: k, cluster: {server: https://k, insecure-skip-tls-verify: maybe}}\n",
	 NULL, -EINVAL, 5,
	 "clusters[0].cluster.insecure-skip-tls-verify: expected true or false, got \"maybe\""},
	{CTX "clusters:\n"
	     "- {name: k, cluster: {server: https://k, certificate-authority-data: Y2E=, "
	     "insecure-skip-tls-verify: true}}\n",
	 NULL, -EINVAL, 5,
	 "clusters[0].cluster: insecure-skip-tls-verify cannot be used with a "
	 "certificate-authority"},
	{CTX "clusters:\n- {name: k, cluster: {server: https://k, proxy-url: \"ftp://p\"}}\n", NULL,
	 -EINVAL, 5,
	 "clusters[0].cluster.proxy-url: expected an http://, https:// or socks5:// URL"},
	{CTX CLUSTER, NULL, -EINVAL, 3, "contexts[0].context.user: user \"u\" not found"},
	{"current-context: c\ncontexts:\n- {name: c, context: {cluster: gone}}\n", NULL, -EINVAL, 3,
	 "contexts[0].context.cluster: cluster \"gone\" not found"},
	{"current-context: c\ncontexts:\n- name: c\n", NULL, -EINVAL, 3,
	 "contexts[0].context.cluster is required"},
	{CTX CLUSTER "users:\n"
		     "- name: u\n"
		     "  user:\n"
		     "    auth-provider:\n"
		     "      name: gcp\n"
		     "      config: {}\n",
	 NULL, -ENOTSUP, 9,
	 "users[0].user.auth-provider: auth-provider \"gcp\" is not supported; use an exec plugin"},
	{CTX CLUSTER "users:\n- {name: u, user: {token: t, as: admin}}\n", NULL, -ENOTSUP, 7,
	 "users[0].user.as: impersonation is not supported; give this user its own credentials"},
	{CTX CLUSTER "users:\n"
		     "- name: u\n"
		     "  user:\n"
		     "    exec:\n"
		     "      command: x\n"
		     "      apiVersion: client.authentication.k8s.io/v1alpha1\n",
	 NULL, -EINVAL, 11,
	 "users[0].user.exec.apiVersion: \"client.authentication.k8s.io/v1alpha1\" is not "
	 "supported (want client.authentication.k8s.io/v1 or "
	 "client.authentication.k8s.io/v1beta1)"},
	{CTX CLUSTER "users:\n- {name: u, user: {exec: {command: x}}}\n", NULL, -EINVAL, 7,
	 "users[0].user.exec.apiVersion is required"},
	{CTX CLUSTER "users:\n"
		     "- name: u\n"
		     "  user:\n"
		     "    exec:\n"
		     "      command: x\n"
		     "      apiVersion: client.authentication.k8s.io/v1\n",
	 NULL, -EINVAL, 9,
	 "users[0].user.exec.interactiveMode is required with client.authentication.k8s.io/v1 "
	 "(Never, IfAvailable or Always)"},
	{CTX CLUSTER "users:\n"
		     "- name: u\n"
		     "  user:\n"
		     "    exec:\n"
		     "      command: x\n"
		     "      apiVersion: client.authentication.k8s.io/v1\n"
		     "      interactiveMode: Sometimes\n",
	 NULL, -EINVAL, 12,
	 "users[0].user.exec.interactiveMode: expected Never, IfAvailable or Always, got "
	 "\"Sometimes\""},
	{CTX CLUSTER "users:\n"
		     "- name: u\n"
		     "  user:\n"
		     "    exec:\n"
		     "      command: x\n"
		     "      apiVersion: client.authentication.k8s.io/v1beta1\n"
		     "      env:\n"
		     "      - {value: v}\n",
	 NULL, -EINVAL, 13, "users[0].user.exec.env[0].name is required"},
	{CTX CLUSTER "users:\n- {name: u, user: {exec: {command: x, args: [a, [b]]}}}\n", NULL,
	 -EINVAL, 7, "users[0].user.exec.args[1]: expected a string, got a list"},
	{CTX CLUSTER "users:\n- {name: u, user: {token: t, username: a, password: b}}\n", NULL,
	 -EINVAL, 7, "users[0].user: token and username/password are both set; use one"},
	{CTX CLUSTER "users:\n- {name: u, user: {client-certificate-data: Y2VydA==}}\n", NULL,
	 -EINVAL, 7,
	 "users[0].user: a client certificate needs a client key and the other way round"},
	{CTX CLUSTER "users:\n- {name: u, user: {token: [t]}}\n", NULL, -EINVAL, 7,
	 "users[0].user.token: expected a string, got a list"},
	{CTX CLUSTER "users:\n"
		     "- {name: u, user: {token: t}}\n"
		     "- {name: v, user: {token: t}}\n"
		     "- {name: u, user: {token: t2}}\n",
	 NULL, -EINVAL, 9, "users[2].name: duplicate name \"u\" (first at users[0])"},
};
/* clang-format on */

static void test_errors(void **state)
{
	struct fx *fx = *state;
	size_t i, failed = 0;
	int ret;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fx->opts.context = bad[i].context;
		ret = load_yaml(fx, bad[i].yaml);
		if (ret != bad[i].ret || strcmp(fx->err.msg, bad[i].msg) ||
		    fx->err.line != bad[i].line || strcmp(fx->err.file, fx->path)) {
			print_error("case %zu: ret %d line %d msg \"%s\"\n", i, ret, fx->err.line,
				    fx->err.msg);
			failed++;
		}
		assert_freed(&fx->cfg);
	}
	assert_int_equal(failed, 0);
}

static void test_error_unreadable_paths(void **state)
{
	struct fx *fx = *state;
	char want[1024];

	assert_int_equal(load_yaml(fx, CTX CLUSTER "users:\n"
						   "- name: u\n"
						   "  user:\n"
						   "    client-certificate: certs/nope.crt\n"
						   "    client-key: certs/nope.key\n"),
			 -ENOENT);
	snprintf(want, sizeof(want),
		 "users[0].user.client-certificate: cannot read %s/certs/nope.crt: No such file or "
		 "directory",
		 fx->dir);
	assert_err(fx, fx->path, 9, want);
	assert_freed(&fx->cfg);

	assert_int_equal(load_yaml(fx, CTX "clusters:\n"
					   "- name: k\n"
					   "  cluster:\n"
					   "    server: https://k\n"
					   "    certificate-authority: /nonexistent/ca.crt\n"
					   "users: [{name: u}]\n"),
			 -ENOENT);
	assert_err(fx, fx->path, 8,
		   "clusters[0].cluster.certificate-authority: cannot read /nonexistent/ca.crt: No "
		   "such file or directory");

	/* only the chosen user is checked for meaning, as kubectl does */
	assert_int_equal(load_yaml(fx,
				   CTX CLUSTER "users:\n"
					       "- {name: u, user: {token: t}}\n"
					       "- {name: v, user: {client-certificate: nope.crt}}\n"
					       "- {name: w, user: {auth-provider: {name: gcp}}}\n"),
			 0);
	assert_string_equal(fx->cfg.token, "t");
}

/* Secrets stay out of messages, even when their YAML is wrong. */
static void test_errors_hide_secrets(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(load_yaml(fx, CTX CLUSTER "users:\n"
						   "- {name: u, user: {client-key-data: "
						   "c2VjcmV0LXZhbHVl$}}\n"),
			 -EINVAL);
	assert_null(strstr(fx->err.msg, "c2VjcmV0"));
	assert_int_equal(load_yaml(fx, CTX CLUSTER "users:\n"
						   "- {name: u, user: {password: {secret: pw}}}\n"),
			 -EINVAL);
	assert_string_equal(fx->err.msg, "users[0].user.password: expected a string, got a map");
}

/* A server without a scheme gets one as in client-go: https only with TLS settings. */
static void test_server_scheme_default(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(load_yaml(fx, CTX "clusters: [{name: k, cluster: {server: \"k:6443/\"}}]\n"
					   "users:\n"
					   "- name: u\n"
					   "  user: {client-certificate-data: Y2VydA==, "
					   "client-key-data: a2V5}\n"),
			 0);
	assert_string_equal(fx->cfg.server, "https://k:6443");
	assert_int_equal(fx->cfg.client_cert_data_len, 4);
	assert_string_equal(fx->cfg.client_key_data, "key");

	assert_int_equal(load_yaml(fx, CTX "clusters: [{name: k, cluster: {server: k:8080}}]\n"
					   "users: [{name: u, user: {token: t}}]\n"),
			 0);
	assert_string_equal(fx->cfg.server, "http://k:8080");
}

static void test_lenient_and_free(void **state)
{
	struct fx *fx = *state;

	/* unknown keys at every level are ignored; null values are unset */
	assert_int_equal(
	    load_yaml(fx, "current-context: c\n"
			  "preferences: {}\n"
			  "whatever: [1, 2]\n"
			  "clusters:\n"
			  "- name: k\n"
			  "  future-field: x\n"
			  "  cluster:\n"
			  "    server: http://plain:8080\n"
			  "    tls-server-name: ~\n"
			  "    disable-compression: true\n"
			  "users:\n"
			  "- name: u\n"
			  "  user:\n"
			  "    token: \"\"\n"
			  "    as-groups: []\n"
			  "    exec: null\n"
			  "contexts:\n"
			  "- name: c\n"
			  "  context: {cluster: k, user: u, namespace: null, extensions: []}\n"),
	    0);
	assert_string_equal(fx->cfg.server, "http://plain:8080");
	assert_null(fx->cfg.tls_server_name);
	assert_null(fx->cfg.token);
	assert_null(fx->cfg.exec);
	assert_null(fx->cfg.namespace_);

	/* free is safe twice, and on a never-loaded (zeroed) struct */
	kl_kube_config_free(&fx->cfg);
	kl_kube_config_free(&fx->cfg);
	assert_freed(&fx->cfg);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_inline_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_relative_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_token_vs_token_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_basic_and_anonymous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_exec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_first_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_current_context, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_relative_env_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_context_override_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_master_override, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_cluster, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_cluster_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_home_and_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_unreadable_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_hide_secrets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_scheme_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lenient_and_free, setup, teardown),
	};
	/* clang-format on */

	return cmocka_run_group_tests(tests, NULL, NULL);
}
