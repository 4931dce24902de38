/*
 * kubeclient/auth.c - credentials for the API server: static and file tokens,
 * client certificates, and exec credential plugins (see internal.h).
 *
 * Token files are re-read every token_reread_ms and after a 401, because projected
 * service-account tokens rotate under a running pod. Exec plugins
 * (client.authentication.k8s.io/v1 and v1beta1) run through uv_spawn with
 * KUBERNETES_EXEC_INFO set; their token or client certificate is cached until
 * expirationTimestamp (minus a margin) or until the server answers 401. Requests
 * that need credentials while the plugin runs wait in a list and are all answered
 * when it ends. A plugin that hangs is killed after EXEC_TIMEOUT_MS.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubeclient/internal.h"
#include "kubeclient/json.h"
#include "util/rfc3339.h"

#define EXEC_TIMEOUT_MS 60000
#define EXEC_MAX_OUTPUT (1 << 20)
#define EXPIRY_MARGIN_S 10
#define TOKEN_MAX 65536

extern char **environ;

struct waiter {
	kl__auth_cb cb;
	void *arg;
	struct waiter *next;
};

/* one plugin run; freed after its three handles are closed */
struct exec_run {
	struct kl__auth *auth; /* NULL once the auth is gone */
	uv_process_t proc;
	uv_pipe_t out;
	uv_timer_t timer;
	char *buf;
	size_t len;
	int exited, eof, closing, timed_out;
	int64_t exit_status;
	int term_signal;
};

struct kl__auth {
	uv_loop_t *loop;
	const struct kl_kube_config *cfg;
	const struct kl_log *log;
	uint64_t reread_ms;

	char *token; /* current bearer token: static, from the file, or from exec */
	uint64_t token_read_at;

	/* exec plugin's answer */
	char *exec_cert, *exec_key;
	size_t exec_cert_len, exec_key_len;
	int64_t exec_expiry; /* Unix seconds; 0 = none */
	bool exec_valid;
	unsigned exec_runs;
	struct exec_run *run;
	struct waiter *waiters;

	bool closing;
};

/* ---------------------------------------------------------------- tokens */

static void set_str(char **dst, const char *s, size_t len)
{
	char *p = NULL;

	if (s) {
		p = malloc(len + 1);
		if (p) {
			memcpy(p, s, len);
			p[len] = '\0';
		}
	}
	if (*dst) {
		memset(*dst, 0, strlen(*dst));
		free(*dst);
	}
	*dst = p;
}

static int read_token_file(struct kl__auth *a)
{
	char buf[TOKEN_MAX];
	FILE *f = fopen(a->cfg->token_file, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	if (n == 0)
		return -ENODATA;
	set_str(&a->token, buf, n);
	memset(buf, 0, sizeof(buf));
	a->token_read_at = uv_now(a->loop);
	return a->token ? 0 : -ENOMEM;
}

static void maybe_reread(struct kl__auth *a, bool force)
{
	int rc;

	if (!a->cfg->token_file)
		return;
	if (!force && a->token && uv_now(a->loop) - a->token_read_at < a->reread_ms)
		return;
	rc = read_token_file(a);
	if (rc < 0)
		kl_log_warn(a->log, "auth", "cannot read token file; keeping the last token",
			    "file", a->cfg->token_file, "error", strerror(-rc));
}

struct kl__auth *kl__auth_new(uv_loop_t *loop, const struct kl_kube_config *cfg,
			      uint64_t token_reread_ms, const struct kl_log *log)
{
	struct kl__auth *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->loop = loop;
	a->cfg = cfg;
	a->log = log;
	a->reread_ms = token_reread_ms ? token_reread_ms : 60000;
	/* as client-go: a token file, re-read, wins over a static token */
	if (cfg->token && !cfg->token_file) {
		set_str(&a->token, cfg->token, strlen(cfg->token));
		if (!a->token) {
			free(a);
			return NULL;
		}
	}
	return a;
}

/* ---------------------------------------------------------------- exec plugin */

static void finish_waiters(struct kl__auth *a, int err, const char *msg)
{
	struct waiter *w = a->waiters, *next;

	a->waiters = NULL;
	for (; w; w = next) {
		next = w->next;
		w->cb(w->arg, err, msg);
		free(w);
	}
}

/* a run outlives nothing: the auth detaches from it before closing it */
static void run_closed(uv_handle_t *h)
{
	struct exec_run *run = h->data;

	if (--run->closing > 0)
		return;
	free(run->buf);
	free(run);
}

static void run_close(struct exec_run *run)
{
	if (run->closing)
		return;
	run->closing = 3;
	uv_close((uv_handle_t *)&run->proc, run_closed);
	uv_close((uv_handle_t *)&run->out, run_closed);
	uv_close((uv_handle_t *)&run->timer, run_closed);
}

struct cred {
	struct kl__auth *a;
	char msg[256];
	int err;
};

static int dup_field(const struct kl_json *v, char **dst, size_t *len)
{
	if (!v)
		return 0;
	if (v->type != KL_JSON_STRING)
		return -EINVAL;
	set_str(dst, v->str, v->len);
	if (len)
		*len = v->len;
	return *dst ? 0 : -ENOMEM;
}

static int on_credential(void *arg, enum kl_json_what what, const struct kl_json *doc)
{
	struct cred *c = arg;
	struct kl__auth *a = c->a;
	const struct kl_json *st = kl_json_get(doc, "status");
	const char *api = kl_json_str(kl_json_get(doc, "apiVersion"), "");
	const char *exp;
	int64_t t = 0;

	if (strcmp(kl_json_str(kl_json_get(doc, "kind"), ""), "ExecCredential") != 0) {
		snprintf(c->msg, sizeof(c->msg), "exec plugin output is not an ExecCredential");
		return c->err = -EPROTO;
	}
	if (strcmp(api, a->cfg->exec->api_version) != 0) {
		snprintf(c->msg, sizeof(c->msg), "exec plugin answered apiVersion \"%.80s\", want %s",
			 api, a->cfg->exec->api_version);
		return c->err = -EPROTO;
	}
	if (!st || st->type != KL_JSON_OBJECT) {
		snprintf(c->msg, sizeof(c->msg), "exec plugin output has no status");
		return c->err = -EPROTO;
	}
	exp = kl_json_str(kl_json_get(st, "expirationTimestamp"), NULL);
	if (exp && kl_rfc3339_parse(exp, &t) < 0) {
		snprintf(c->msg, sizeof(c->msg), "exec plugin: bad expirationTimestamp \"%.40s\"",
			 exp);
		return c->err = -EPROTO;
	}
	set_str(&a->token, NULL, 0);
	set_str(&a->exec_cert, NULL, 0);
	set_str(&a->exec_key, NULL, 0);
	if (dup_field(kl_json_get(st, "token"), &a->token, NULL) < 0 ||
	    dup_field(kl_json_get(st, "clientCertificateData"), &a->exec_cert,
		      &a->exec_cert_len) < 0 ||
	    dup_field(kl_json_get(st, "clientKeyData"), &a->exec_key, &a->exec_key_len) < 0) {
		snprintf(c->msg, sizeof(c->msg), "exec plugin: bad status fields");
		return c->err = -EPROTO;
	}
	if (!a->token && !(a->exec_cert && a->exec_key)) {
		snprintf(c->msg, sizeof(c->msg),
			 "exec plugin returned neither a token nor a client certificate and key");
		return c->err = -EPROTO;
	}
	a->exec_expiry = t;
	a->exec_valid = true;
	return 0;
}

static void run_done(struct exec_run *run)
{
	struct kl__auth *a = run->auth;
	struct cred c = { .a = a, .err = 0 };
	struct kl_json_stream *js;
	struct kl_error err;
	char runs[16];

	if (!a)
		return;
	kl_error_clear(&err);
	if (run->timed_out) {
		c.err = -ETIMEDOUT;
		snprintf(c.msg, sizeof(c.msg), "exec plugin %s timed out", a->cfg->exec->command);
	} else if (run->exit_status != 0 || run->term_signal) {
		c.err = -EPERM;
		snprintf(c.msg, sizeof(c.msg), "exec plugin %s failed: exit %lld signal %d",
			 a->cfg->exec->command, (long long)run->exit_status, run->term_signal);
	} else {
		js = kl_json_stream_new(KL_JSON_DOCUMENT, EXEC_MAX_OUTPUT, on_credential, &c);
		if (!js) {
			c.err = -ENOMEM;
		} else {
			int rc = kl_json_stream_feed(js, run->buf ? run->buf : "", run->len, &err);

			if (rc == 0)
				rc = kl_json_stream_finish(js, &err);
			kl_json_stream_free(js);
			if (rc < 0 && !c.err) {
				c.err = rc;
				snprintf(c.msg, sizeof(c.msg), "exec plugin output: %.200s", err.msg);
			}
		}
	}
	if (run->buf)
		memset(run->buf, 0, run->len);
	a->run = NULL;
	run->auth = NULL;
	snprintf(runs, sizeof(runs), "%u", a->exec_runs);
	if (c.err)
		kl_log_warn(a->log, "auth", "exec credential plugin failed", "error", c.msg);
	else
		kl_log_v(a->log, 1, "auth", "exec credential plugin ran", "runs", runs);
	run_close(run);
	finish_waiters(a, c.err, c.msg);
}

static void on_exit_(uv_process_t *p, int64_t status, int sig)
{
	struct exec_run *run = p->data;

	run->exited = 1;
	run->exit_status = status;
	run->term_signal = sig;
	uv_timer_stop(&run->timer);
	if (run->eof)
		run_done(run);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct exec_run *run = h->data;
	size_t want = run->len + 65536;
	char *p = run->len + 65536 <= EXEC_MAX_OUTPUT ? realloc(run->buf, want) : NULL;

	if (!p) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	run->buf = p;
	buf->base = p + run->len;
	buf->len = 65536;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct exec_run *run = s->data;

	if (n > 0) {
		run->len += (size_t)n;
		return;
	}
	if (n == 0)
		return;
	/* EOF, an error, or ENOBUFS (output too big: the parse will fail) */
	uv_read_stop(s);
	run->eof = 1;
	if (run->exited)
		run_done(run);
}

static void on_timeout(uv_timer_t *t)
{
	struct exec_run *run = t->data;

	run->timed_out = 1;
	uv_process_kill(&run->proc, SIGKILL);
}

/* frees what exec_env made: the array and its one string of our own */
static void free_env(char **env)
{
	size_t i;

	if (!env)
		return;
	for (i = 0; env[i]; i++)
		if (strncmp(env[i], "KUBERNETES_EXEC_INFO=", 21) == 0)
			free(env[i]);
	free(env);
}

static char **exec_env(const struct kl__auth *a)
{
	const struct kl_kube_exec *x = a->cfg->exec;
	size_t n = 0, m = 0, i;
	char **env;
	char info[256];

	while (environ[n])
		n++;
	while (x->env && x->env[m])
		m++;
	env = calloc(n + m + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++)
		env[i] = environ[i];
	for (i = 0; i < m; i++)
		env[n + i] = (char *)x->env[i];
	snprintf(info, sizeof(info),
		 "KUBERNETES_EXEC_INFO={\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
		 "\"spec\":{\"interactive\":false}}",
		 x->api_version);
	env[n + m] = strdup(info);
	if (!env[n + m]) {
		free(env);
		return NULL;
	}
	return env;
}

static int exec_start(struct kl__auth *a, char *msg, size_t len)
{
	const struct kl_kube_exec *x = a->cfg->exec;
	struct exec_run *run;
	uv_process_options_t o;
	uv_stdio_container_t stdio[3];
	char **args, **env;
	size_t nargs = 0, i;
	int rc;

	if (x->interactive_mode && strcmp(x->interactive_mode, "Always") == 0) {
		snprintf(msg, len, "exec plugin %s needs an interactive terminal (interactiveMode "
				   "Always); kloompas runs unattended",
			 x->command);
		return -EPERM;
	}
	while (x->args && x->args[nargs])
		nargs++;
	args = calloc(nargs + 2, sizeof(*args));
	run = calloc(1, sizeof(*run));
	env = exec_env(a);
	if (!args || !run || !env) {
		free(args);
		free(run);
		free_env(env);
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	args[0] = (char *)x->command;
	for (i = 0; i < nargs; i++)
		args[i + 1] = (char *)x->args[i];
	run->auth = a;
	uv_pipe_init(a->loop, &run->out, 0);
	uv_timer_init(a->loop, &run->timer);
	run->out.data = run->timer.data = run->proc.data = run;
	memset(&o, 0, sizeof(o));
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&run->out;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = 2;
	o.file = x->command;
	o.args = args;
	o.env = env;
	o.exit_cb = on_exit_;
	o.stdio = stdio;
	o.stdio_count = 3;
	rc = uv_spawn(a->loop, &run->proc, &o);
	free_env(env);
	free(args);
	if (rc < 0) {
		snprintf(msg, len, "exec plugin %s: %s", x->command, uv_strerror(rc));
		/* uv_spawn failed: the process handle still needs closing */
		run->auth = NULL;
		run_close(run);
		return rc;
	}
	a->run = run;
	a->exec_runs++;
	uv_read_start((uv_stream_t *)&run->out, on_alloc, on_read);
	uv_timer_start(&run->timer, on_timeout, EXEC_TIMEOUT_MS, 0);
	return 0;
}

/* ---------------------------------------------------------------- the interface */

static bool exec_fresh(const struct kl__auth *a)
{
	if (!a->exec_valid)
		return false;
	return a->exec_expiry == 0 || (int64_t)time(NULL) + EXPIRY_MARGIN_S < a->exec_expiry;
}

int kl__auth_ready(struct kl__auth *a, kl__auth_cb cb, void *arg, char *msg, size_t len)
{
	struct waiter *w;
	int rc;

	if (a->closing) {
		snprintf(msg, len, "client closing");
		return -ECANCELED;
	}
	if (!a->cfg->exec) {
		maybe_reread(a, false);
		if (a->cfg->token_file && !a->token) {
			snprintf(msg, len, "cannot read token file %s", a->cfg->token_file);
			return -EACCES;
		}
		return 1;
	}
	if (exec_fresh(a))
		return 1;
	a->exec_valid = false;
	if (!a->run) {
		rc = exec_start(a, msg, len);
		if (rc < 0)
			return rc;
	}
	w = malloc(sizeof(*w));
	if (!w) {
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	w->cb = cb;
	w->arg = arg;
	w->next = a->waiters;
	a->waiters = w;
	return 0;
}

void kl__auth_forget(struct kl__auth *a, void *arg)
{
	struct waiter **pp = &a->waiters, *w;

	while ((w = *pp)) {
		if (w->arg == arg) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

void kl__auth_invalidate(struct kl__auth *a)
{
	if (a->cfg->exec)
		a->exec_valid = false;
	else
		maybe_reread(a, true);
}

bool kl__auth_refreshable(const struct kl__auth *a)
{
	return a->cfg->exec || a->cfg->token_file;
}

void kl__auth_apply(const struct kl__auth *a, char *hdr, size_t len, struct kl_http_tls *tls)
{
	const struct kl_kube_config *c = a->cfg;

	if (a->token)
		snprintf(hdr, len, "Authorization: Bearer %s", a->token);
	else
		hdr[0] = '\0';
	tls->cert_file = c->client_cert_file;
	tls->key_file = c->client_key_file;
	tls->cert_data = c->client_cert_data;
	tls->cert_data_len = c->client_cert_data_len;
	tls->key_data = c->client_key_data;
	tls->key_data_len = c->client_key_data_len;
	if (a->exec_cert && a->exec_key) {
		tls->cert_file = tls->key_file = NULL;
		tls->cert_data = a->exec_cert;
		tls->cert_data_len = a->exec_cert_len;
		tls->key_data = a->exec_key;
		tls->key_data_len = a->exec_key_len;
	}
}

unsigned kl__auth_exec_runs(const struct kl__auth *a)
{
	return a->exec_runs;
}

void kl__auth_close(struct kl__auth *a, void (*cb)(void *arg), void *arg)
{
	struct exec_run *run = a->run;

	a->closing = true;
	finish_waiters(a, -ECANCELED, "client closing");
	if (run) {
		/* detach: once closed, no callback of the run can reach us */
		run->auth = NULL;
		if (!run->exited)
			uv_process_kill(&run->proc, SIGKILL);
		run_close(run);
	}
	set_str(&a->token, NULL, 0);
	set_str(&a->exec_cert, NULL, 0);
	set_str(&a->exec_key, NULL, 0);
	free(a);
	if (cb)
		cb(arg);
}
