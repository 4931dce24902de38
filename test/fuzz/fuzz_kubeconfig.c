/*
 * test/fuzz/fuzz_kubeconfig.c - kubeconfig files, resolved the way kubectl does.
 *
 * Input: a kubeconfig, optionally followed by a line "#--second--" and a second
 * file; with two files they are given as $KUBECONFIG "first:second" (the merge
 * rules), with one as --kubeconfig. Lines "#context: NAME" and "#master: URL"
 * anywhere in the input set --context and --master. The files live in a private
 * folder with pki/ca.crt, pki/client.crt, pki/client.key and pki/token, so that
 * relative paths in the file resolve. $HOME, the service-account folder and the
 * service env are empty, so nothing outside that folder is read.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kubeclient/kubeconfig.h"
#include "test/fuzz/fuzz.h"
#include "util/error.h"

#define SECOND_MARK "\n#--second--\n"

static char first_path[300], second_path[300], both[700], home[300], sa_dir[300];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char pem[] = "-----BEGIN CERTIFICATE-----\nZnV6eg==\n"
				  "-----END CERTIFICATE-----\n";
	char p[300];

	mkdir(fuzz_path(p, sizeof(p), "pki"), 0700);
	fuzz_write_str(fuzz_path(p, sizeof(p), "pki/ca.crt"), pem);
	fuzz_write_str(fuzz_path(p, sizeof(p), "pki/client.crt"), pem);
	fuzz_write_str(fuzz_path(p, sizeof(p), "pki/client.key"),
		       "-----BEGIN PRIVATE KEY-----\nZnV6eg==\n-----END PRIVATE KEY-----\n");
	fuzz_write_str(fuzz_path(p, sizeof(p), "pki/token"), "fuzz-token-from-file\n");
	/* empty folders: no ~/.kube/config, no service account */
	mkdir(fuzz_path(home, sizeof(home), "home"), 0700);
	mkdir(fuzz_path(sa_dir, sizeof(sa_dir), "sa"), 0700);
	fuzz_path(first_path, sizeof(first_path), "config");
	fuzz_path(second_path, sizeof(second_path), "config2");
	snprintf(both, sizeof(both), "%s:%s", first_path, second_path);
	return 0;
}

/* The value of a "#NAME: value" line, copied into buf; NULL when absent. */
static const char *directive(const uint8_t *data, size_t size, const char *name, char *buf,
			     size_t len)
{
	size_t nl = strlen(name);
	const uint8_t *p = data, *end = data + size, *eol;

	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nl && !memcmp(p, name, nl)) {
			size_t n = (size_t)(eol - p) - nl;

			if (n >= len)
				n = len - 1;
			memcpy(buf, p + nl, n);
			buf[n] = '\0';
			if (memchr(buf, '\0', n))
				return NULL;
			return buf;
		}
		p = eol + 1;
	}
	return NULL;
}

static void check(const struct kl_kube_config *c)
{
	const char **a;

	if (!c->server || strncmp(c->server, "http", 4) != 0)
		fuzz_fail("loaded without an http(s) server: %s", c->server ? c->server : "(null)");
	if (c->server[strlen(c->server) - 1] == '/')
		fuzz_fail("server keeps a trailing slash: %s", c->server);
	if (!c->source || !c->context)
		fuzz_fail("loaded without source or context");
	if (c->ca_data && strlen(c->ca_data) > c->ca_data_len)
		fuzz_fail("ca_data longer than ca_data_len");
	if (c->exec) {
		if (!c->exec->command || !c->exec->api_version || !c->exec->args || !c->exec->env)
			fuzz_fail("exec without command, apiVersion, args or env");
		for (a = c->exec->args; *a; a++)
			;
		for (a = c->exec->env; *a; a++)
			if (!strchr(*a, '='))
				fuzz_fail("exec env entry without '=': %s", *a);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_kube_config_opts o = {.home = home,
					.sa_dir = sa_dir,
					.env_kubeconfig = "",
					.service_host = "",
					.service_port = ""};
	struct kl_kube_config cfg;
	struct kl_error err;
	const uint8_t *second;
	size_t first_len, second_len;
	char ctx[128], master[256];
	int rc;

	fuzz_split(data, size, SECOND_MARK, &first_len, &second, &second_len);
	fuzz_write(first_path, data, first_len);
	if (second) {
		fuzz_write(second_path, second, second_len);
		o.env_kubeconfig = both;
	} else {
		o.kubeconfig = first_path;
	}
	o.context = directive(data, size, "#context: ", ctx, sizeof(ctx));
	o.master = directive(data, size, "#master: ", master, sizeof(master));

	kl_error_clear(&err);
	rc = kl_kube_config_load(&cfg, &o, &err);
	if (rc == 0)
		check(&cfg);
	else if (!kl_error_isset(&err))
		fuzz_fail("load failed with %d and no message", rc);
	kl_kube_config_free(&cfg);
	return 0;
}
