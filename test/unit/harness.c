/*
 * test/unit/harness.c - the harness shared by the unit tests that talk to a local
 * python server (see harness.h for why it exists and who uses it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h> /* after the three above, which it needs */

#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* ---------------------------------------------------------------- strings */

void th_sb_add(struct th_sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void th_sb_free(struct th_sb *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

/* ---------------------------------------------------------------- python helpers */

#define TH_MAXARGS 16

pid_t th_python_start(char *line, size_t size, const char *script, ...)
{
	const char *data = getenv("KL_TEST_DATA");
	const char *argv[TH_MAXARGS + 3];
	char path[PATH_MAX];
	int fds[2], argc = 0;
	va_list ap;
	pid_t pid;
	FILE *out;

	assert_non_null(data);
	snprintf(path, sizeof(path), "%s/%s", data, script);
	argv[argc++] = "python3";
	argv[argc++] = path;
	va_start(ap, script);
	for (;;) {
		const char *a = va_arg(ap, const char *);

		if (!a)
			break;
		assert_true(argc < TH_MAXARGS + 2);
		argv[argc++] = a;
	}
	va_end(ap);
	argv[argc] = NULL;
	/* libcurl honours *_proxy from the environment; these requests are local */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the helper dies with us, even when a sanitizer aborts the test */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execvp("python3", (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	out = fdopen(fds[0], "r");
	assert_non_null(out);
	assert_non_null(fgets(line, (int)size, out));
	fclose(out);
	return pid;
}

void th_python_stop(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
}

/* ---------------------------------------------------------------- the fake API server */

int th_fakeapi_setup(void **state)
{
	struct th_fakeapi *s = calloc(1, sizeof(*s));
	char line[128];

	assert_non_null(s);
	s->pid = th_python_start(line, sizeof(line), "fakeapi/server.py", (char *)NULL);
	assert_int_equal(sscanf(line, "PORT %d", &s->port), 1);
	*state = s;
	return 0;
}

int th_fakeapi_teardown(void **state)
{
	struct th_fakeapi *s = *state;

	if (!s)
		return 0;
	th_python_stop(s->pid);
	free(s);
	return 0;
}

static void write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

char *th_fakeapi_ctl(const struct th_fakeapi *s, const char *method, const char *path,
		     const char *body)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)s->port),
				.sin_addr.s_addr = htonl(0x7f000001)};
	size_t blen = body ? strlen(body) : 0, len = 0, cap = 4096;
	char hdr[256], *buf = malloc(cap), *p;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n;

	assert_non_null(buf);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	snprintf(hdr, sizeof(hdr),
		 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n",
		 method, path, blen);
	write_all(fd, hdr, strlen(hdr));
	if (blen)
		write_all(fd, body, blen);
	for (;;) {
		if (len + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	assert_true(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	p = strstr(buf, "\r\n\r\n");
	assert_non_null(p);
	memmove(buf, p + 4, strlen(p + 4) + 1);
	return buf;
}

void th_fakeapi_config(const struct th_fakeapi *s, char *url, size_t size,
		       struct kl_kube_config *cfg)
{
	snprintf(url, size, "http://127.0.0.1:%d", s->port);
	cfg->source = "test";
	cfg->context = "test";
	cfg->server = url;
	cfg->token = "t";
}

void th_fakeapi_reset(const struct th_fakeapi *s)
{
	free(th_fakeapi_ctl(s, "POST", "/_reset", NULL));
}

void th_fakeapi_script(const struct th_fakeapi *s, struct th_sb *b)
{
	char *p;

	for (p = b->s; *p; p++)
		if (*p == '\'')
			*p = '"';
	free(th_fakeapi_ctl(s, "POST", "/_script", b->s));
	th_sb_free(b);
}

void th_fakeapi_log_parse(const struct th_fakeapi *s, kl_json_cb cb, void *arg)
{
	char *body = th_fakeapi_ctl(s, "GET", "/_log", NULL);
	struct kl_json_stream *js = kl_json_stream_new(KL_JSON_DOCUMENT, 0, cb, arg);
	struct kl_error err;

	assert_non_null(js);
	kl_error_clear(&err);
	assert_int_equal(kl_json_stream_feed(js, body, strlen(body), &err), 0);
	assert_int_equal(kl_json_stream_finish(js, &err), 0);
	kl_json_stream_free(js);
	free(body);
}

static int on_log(void *arg, enum kl_json_what what, const struct kl_json *v)
{
	struct th_log *l = arg;
	const struct kl_json *e, *p;

	assert_int_equal(v->type, KL_JSON_ARRAY);
	l->e = calloc(v->n + 1, sizeof(*l->e));
	assert_non_null(l->e);
	for (e = v->child; e; e = e->next) {
		struct th_logent *x = &l->e[l->n++];

		snprintf(x->method, sizeof(x->method), "%s",
			 kl_json_str(kl_json_get(e, "method"), ""));
		snprintf(x->path, sizeof(x->path), "%s", kl_json_str(kl_json_get(e, "path"), ""));
		snprintf(x->query, sizeof(x->query), "%s",
			 kl_json_str(kl_json_get(e, "query"), ""));
		snprintf(x->auth, sizeof(x->auth), "%s", kl_json_str(kl_json_get(e, "auth"), ""));
		snprintf(x->ua, sizeof(x->ua), "%s", kl_json_str(kl_json_get(e, "ua"), ""));
		snprintf(x->accept, sizeof(x->accept), "%s",
			 kl_json_str(kl_json_get(e, "accept"), ""));
		for (p = kl_json_get(e, "params")->child; p && x->nparams < TH_NPARAMS;
		     p = p->next) {
			snprintf(x->params[x->nparams].name, sizeof(x->params[0].name), "%s",
				 p->key);
			snprintf(x->params[x->nparams].value, sizeof(x->params[0].value), "%s",
				 kl_json_str(p, ""));
			x->nparams++;
		}
	}
	return 0;
}

void th_log_fetch(const struct th_fakeapi *s, struct th_log *l)
{
	memset(l, 0, sizeof(*l));
	th_fakeapi_log_parse(s, on_log, l);
	assert_non_null(l->e);
}

void th_log_free(struct th_log *l)
{
	free(l->e);
	memset(l, 0, sizeof(*l));
}

const char *th_param(const struct th_logent *e, const char *name)
{
	int i;

	for (i = 0; i < e->nparams; i++)
		if (strcmp(e->params[i].name, name) == 0)
			return e->params[i].value;
	return NULL;
}

/* ---------------------------------------------------------------- log, watchdog */

void th_memlog_open(struct kl_log *log, FILE **f, char **buf, size_t *len)
{
	*f = open_memstream(buf, len);
	assert_non_null(*f);
	kl_log_init(log, KL_LOG_TEXT, 2, *f);
}

static void on_watchdog(uv_timer_t *t)
{
	fail_msg("test did not finish within %u ms", (unsigned)(uintptr_t)t->data);
}

void th_watchdog_start(uv_loop_t *loop, uv_timer_t *timer, unsigned ms)
{
	assert_int_equal(uv_timer_init(loop, timer), 0);
	timer->data = (void *)(uintptr_t)ms;
	assert_int_equal(uv_timer_start(timer, on_watchdog, ms, 0), 0);
	uv_unref((uv_handle_t *)timer);
}
