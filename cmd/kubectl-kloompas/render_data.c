/*
 * cmd/kubectl-kloompas/render_data.c - -o json and -o yaml, for scripts.
 *
 * The document is walked once, through a tiny writer with two back ends: yajl's
 * generator for JSON and libyaml's emitter for YAML, so both formats always carry the
 * same fields (the names are a contract: docs/kubectl-plugin.md). Times are RFC 3339,
 * never ages. YAML strings that a YAML 1.1 reader would take for something else
 * ("true", "1", a timestamp) are double-quoted.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_gen.h>
#include <yaml.h>

#include "cmd/kubectl-kloompas/plugin.h"
#include "util/rfc3339.h"

struct writer {
	enum kl_plugin_output fmt;
	FILE *out;
	yajl_gen g;
	yaml_emitter_t e;
	char last; /* the last byte written */
	bool failed;
};

static void json_print(void *arg, const char *s, size_t len)
{
	struct writer *w = arg;

	if (fwrite(s, 1, len, w->out) != len)
		w->failed = true;
	if (len)
		w->last = s[len - 1];
}

static int yaml_write(void *arg, unsigned char *buf, size_t len)
{
	struct writer *w = arg;

	if (fwrite(buf, 1, len, w->out) != len) {
		w->failed = true;
		return 0;
	}
	return 1;
}

static void yaml_event(struct writer *w, yaml_event_t *ev, int ok)
{
	if (!ok || !yaml_emitter_emit(&w->e, ev))
		w->failed = true;
}

static int writer_open(struct writer *w, FILE *out, enum kl_plugin_output fmt)
{
	yaml_event_t ev;

	memset(w, 0, sizeof(*w));
	w->fmt = fmt;
	w->out = out;
	if (fmt == KL_PLUGIN_JSON) {
		w->g = yajl_gen_alloc(NULL);
		if (!w->g)
			return -ENOMEM;
		yajl_gen_config(w->g, yajl_gen_beautify, 1);
		yajl_gen_config(w->g, yajl_gen_indent_string, "  ");
		yajl_gen_config(w->g, yajl_gen_print_callback, json_print, w);
		return 0;
	}
	if (!yaml_emitter_initialize(&w->e))
		return -ENOMEM;
	yaml_emitter_set_output(&w->e, yaml_write, w);
	yaml_emitter_set_unicode(&w->e, 1);
	yaml_event(w, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
	yaml_event(w, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
	return 0;
}

static int writer_close(struct writer *w)
{
	yaml_event_t ev;

	if (w->fmt == KL_PLUGIN_JSON) {
		yajl_gen_free(w->g);
		/* one newline at the end, as kubectl -o json; yajl's beautify may add it */
		if (w->last != '\n' && fputc('\n', w->out) == EOF)
			w->failed = true;
	} else {
		yaml_event(w, &ev, yaml_document_end_event_initialize(&ev, 1));
		yaml_event(w, &ev, yaml_stream_end_event_initialize(&ev));
		yaml_emitter_delete(&w->e);
	}
	if (fflush(w->out) != 0 || ferror(w->out))
		w->failed = true;
	return w->failed ? -EIO : 0;
}

static void gen_status(struct writer *w, yajl_gen_status s)
{
	if (s != yajl_gen_status_ok)
		w->failed = true;
}

enum nest { MAP_OPEN, MAP_CLOSE, LIST_OPEN, LIST_CLOSE };

/* Opens or closes a mapping (JSON object) or a sequence (JSON array). */
static void nest(struct writer *w, enum nest what)
{
	static yajl_gen_status (*const gen[])(yajl_gen) = {
		[MAP_OPEN] = yajl_gen_map_open,
		[MAP_CLOSE] = yajl_gen_map_close,
		[LIST_OPEN] = yajl_gen_array_open,
		[LIST_CLOSE] = yajl_gen_array_close,
	};
	yaml_event_t ev;
	int ok;

	if (w->fmt == KL_PLUGIN_JSON) {
		gen_status(w, gen[what](w->g));
		return;
	}
	if (what == MAP_OPEN)
		ok = yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
							 YAML_BLOCK_MAPPING_STYLE);
	else if (what == LIST_OPEN)
		ok = yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
							  YAML_BLOCK_SEQUENCE_STYLE);
	else if (what == MAP_CLOSE)
		ok = yaml_mapping_end_event_initialize(&ev);
	else
		ok = yaml_sequence_end_event_initialize(&ev);
	yaml_event(w, &ev, ok);
}

/* Would a YAML 1.1 reader resolve this plain scalar to something other than a string? */
static bool yaml_ambiguous(const char *s)
{
	static const char *const words[] = {"true", "false", "yes",  "no", "on", "off",
					    "y",    "n",     "null", "~",  NULL};
	const char *const *wd;

	if (!*s || isdigit((unsigned char)s[0]) || strchr("-+.", s[0]))
		return true;
	for (wd = words; *wd; wd++)
		if (strcasecmp(s, *wd) == 0)
			return true;
	return false;
}

/* plain: a number, bool or null, written as is; else a string, quoted when ambiguous */
static void scalar(struct writer *w, const char *s, bool plain)
{
	yaml_event_t ev;
	bool quote = !plain && yaml_ambiguous(s);

	yaml_event(w, &ev,
		   yaml_scalar_event_initialize(
		       &ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), !quote, quote,
		       quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE));
}

static void str(struct writer *w, const char *s)
{
	if (w->fmt == KL_PLUGIN_JSON) {
		gen_status(w, yajl_gen_string(w->g, (const unsigned char *)s, strlen(s)));
		return;
	}
	scalar(w, s, false);
}

static void null(struct writer *w)
{
	if (w->fmt == KL_PLUGIN_JSON) {
		gen_status(w, yajl_gen_null(w->g));
		return;
	}
	scalar(w, "null", true);
}

static void num(struct writer *w, int64_t v)
{
	char buf[24];

	if (w->fmt == KL_PLUGIN_JSON) {
		gen_status(w, yajl_gen_integer(w->g, v));
		return;
	}
	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	scalar(w, buf, true);
}

static void boolean(struct writer *w, bool v)
{
	if (w->fmt == KL_PLUGIN_JSON) {
		gen_status(w, yajl_gen_bool(w->g, v));
		return;
	}
	scalar(w, v ? "true" : "false", true);
}

/* ---------------------------------------------------------------- members */

static void key_str(struct writer *w, const char *key, const char *s)
{
	str(w, key);
	if (s)
		str(w, s);
	else
		null(w);
}

static void key_time(struct writer *w, const char *key, int64_t t)
{
	char buf[KL_RFC3339_LEN];

	key_str(w, key, t ? kl_rfc3339_format(t, buf) : NULL);
}

static void key_num(struct writer *w, const char *key, int64_t v)
{
	str(w, key);
	num(w, v);
}

static void write_leader(struct writer *w, const struct kl_plugin_status *st)
{
	str(w, "leader");
	if (!st->have_lease) {
		null(w);
		return;
	}
	nest(w, MAP_OPEN);
	key_str(w, "identity", st->holder);
	key_time(w, "renewTime", st->renew_time);
	key_time(w, "acquireTime", st->acquire_time);
	key_num(w, "leaseDurationSeconds", st->lease_duration_s);
	nest(w, MAP_CLOSE);
}

static void write_replicas(struct writer *w, const struct kl_plugin_status *st)
{
	size_t i, ready = 0;

	for (i = 0; i < st->npods; i++)
		ready += st->pods[i].ready;
	str(w, "replicas");
	nest(w, MAP_OPEN);
	key_num(w, "pods", (int64_t)st->npods);
	key_num(w, "ready", (int64_t)ready);
	str(w, "items");
	nest(w, LIST_OPEN);
	for (i = 0; i < st->npods; i++) {
		nest(w, MAP_OPEN);
		key_str(w, "name", st->pods[i].name);
		key_str(w, "phase", st->pods[i].phase);
		str(w, "ready");
		boolean(w, st->pods[i].ready);
		nest(w, MAP_CLOSE);
	}
	nest(w, LIST_CLOSE);
	nest(w, MAP_CLOSE);
}

static void write_controllers(struct writer *w, const struct kl_plugin_status *st)
{
	size_t i, j;

	str(w, "controllers");
	nest(w, MAP_OPEN);
	key_str(w, "enabled", st->have_deployment ? st->controllers_arg : NULL);
	str(w, "withAlerts");
	nest(w, LIST_OPEN);
	for (i = 0; i < st->nalerts; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(st->alerts[j].controller, st->alerts[i].controller) == 0)
				break;
		if (j == i)
			str(w, st->alerts[i].controller);
	}
	nest(w, LIST_CLOSE);
	nest(w, MAP_CLOSE);
}

static void write_alerts(struct writer *w, const struct kl_plugin_status *st)
{
	size_t i;

	str(w, "alerts");
	nest(w, LIST_OPEN);
	for (i = 0; i < st->nalerts; i++) {
		const struct kl_plugin_alert *a = &st->alerts[i];

		nest(w, MAP_OPEN);
		key_str(w, "controller", a->controller);
		key_str(w, "namespace", a->namespace_);
		key_str(w, "state", a->state);
		key_time(w, "since", a->since);
		key_str(w, "summary", a->summary);
		nest(w, MAP_CLOSE);
	}
	nest(w, LIST_CLOSE);
}

static void write_restores(struct writer *w, const struct kl_plugin_status *st)
{
	size_t i;

	str(w, "restores");
	nest(w, LIST_OPEN);
	for (i = 0; i < st->nrestores; i++) {
		const struct kl_plugin_restore *r = &st->restores[i];

		nest(w, MAP_OPEN);
		key_str(w, "namespace", r->namespace_);
		key_str(w, "deployment", r->deployment);
		key_num(w, "replicas", r->replicas);
		str(w, "currentReplicas");
		if (r->current < 0)
			null(w);
		else
			num(w, r->current);
		/* as written when it does not parse, so a script sees what Kloompas sees */
		if (r->at)
			key_time(w, "at", r->at);
		else
			key_str(w, "at", r->at_text);
		nest(w, MAP_CLOSE);
	}
	nest(w, LIST_CLOSE);
}

int kl_plugin_render_data(FILE *out, enum kl_plugin_cmd cmd, enum kl_plugin_output fmt,
			  const struct kl_plugin_status *st)
{
	struct writer w;
	int rc = writer_open(&w, out, fmt);

	if (rc < 0)
		return rc;
	nest(&w, MAP_OPEN);
	key_str(&w, "namespace", st->namespace_);
	if (cmd == KL_PLUGIN_STATUS) {
		write_leader(&w, st);
		write_replicas(&w, st);
		write_controllers(&w, st);
	}
	if (cmd != KL_PLUGIN_RESTORES)
		write_alerts(&w, st);
	if (cmd != KL_PLUGIN_ALERTS)
		write_restores(&w, st);
	nest(&w, MAP_CLOSE);
	return writer_close(&w);
}
