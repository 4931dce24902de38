/*
 * controllers/interactive.c - Slack's block_actions payloads (see interactive.h).
 *
 * The payload is decoded whole (at most 64 KiB, as Slack's are a few KiB) and only
 * the fields below are read; the first action decides. The button's value must be
 * "NAMESPACE" or "NAMESPACE CONTROLLER" in printable ASCII without quotes, as it becomes
 * the words of a command.
 */
#include "controllers/interactive.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kubeclient/json.h"
#include "util/error.h"

#define MAX_PAYLOAD 65536

struct parse {
	struct kl_interactive *out;
	char *err;
	size_t errlen;
	int rc;
};

static int bad(struct parse *p, const char *why)
{
	if (p->err && p->errlen)
		snprintf(p->err, p->errlen, "not a block_actions payload: %s", why);
	p->rc = -EBADMSG;
	return 0;
}

/* value as command words: printable ASCII and single spaces between at most two words */
static bool plain_words(const char *v)
{
	int spaces = 0;
	size_t i;

	if (!*v || *v == ' ')
		return false;
	for (i = 0; v[i]; i++) {
		if (v[i] == ' ' && (v[i + 1] == ' ' || !v[i + 1] || ++spaces > 1))
			return false;
		if (v[i] < ' ' || v[i] > '~' || v[i] == '"')
			return false;
	}
	return true;
}

static bool copy(char *dst, size_t size, const char *src)
{
	return (size_t)snprintf(dst, size, "%s", src) < size;
}

static int on_doc(void *arg, enum kl_json_what what, const struct kl_json *o)
{
	struct parse *p = arg;
	const struct kl_json *user = kl_json_get(o, "user"), *acts = kl_json_get(o, "actions");
	const char *name, *id, *value, *dur = NULL;
	int n;

	if (strcmp(kl_json_str(kl_json_get(o, "type"), ""), "block_actions") != 0)
		return bad(p, "type is not block_actions");
	name = kl_json_str(kl_json_get(user, "username"), "");
	if (!*name)
		name = kl_json_str(kl_json_get(user, "name"), "");
	if (!*name || !copy(p->out->user, sizeof(p->out->user), name))
		return bad(p, "no user.username");
	if (!copy(p->out->response_url, sizeof(p->out->response_url),
		  kl_json_str(kl_json_get(o, "response_url"), "")) ||
	    !p->out->response_url[0])
		return bad(p, "no response_url");
	if (!acts || acts->type != KL_JSON_ARRAY || !acts->child)
		return bad(p, "no actions");
	id = kl_json_str(kl_json_get(acts->child, "action_id"), "");
	value = kl_json_str(kl_json_get(acts->child, "value"), "");
	if (!plain_words(value) || strlen(value) > 120)
		return bad(p, "the action's value is not NAMESPACE [CONTROLLER]");
	if (strcmp(id, "kl_silence_1h") == 0)
		dur = "1h";
	else if (strcmp(id, "kl_silence_1d") == 0)
		dur = "1d";
	else if (strcmp(id, "kl_alerts") != 0)
		return bad(p, "unknown action_id");
	if (dur)
		n = snprintf(p->out->text, sizeof(p->out->text), "silence %s %s", value, dur);
	else /* alerts takes the namespace alone */
		n = snprintf(p->out->text, sizeof(p->out->text), "alerts %.*s",
			     (int)strcspn(value, " "), value);
	if (n < 0 || (size_t)n >= sizeof(p->out->text))
		return bad(p, "the action's value is too long");
	p->rc = 0;
	return 0;
}

int kl_interactive_parse(const char *json, size_t len, struct kl_interactive *out, char *err,
			 size_t errlen)
{
	struct parse p = { out, err, errlen, -EBADMSG };
	struct kl_json_stream *js;
	struct kl_error e;
	int rc;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	if (len > MAX_PAYLOAD) {
		bad(&p, "too big");
		return p.rc;
	}
	js = kl_json_stream_new(KL_JSON_DOCUMENT, MAX_PAYLOAD, on_doc, &p);
	if (!js)
		return -ENOMEM;
	kl_error_clear(&e);
	rc = kl_json_stream_feed(js, json, len, &e);
	if (rc == 0)
		rc = kl_json_stream_finish(js, &e);
	kl_json_stream_free(js);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		bad(&p, "not JSON");
		return p.rc;
	}
	if (p.rc < 0 && err && errlen && !err[0])
		bad(&p, "empty");
	if (p.rc < 0)
		memset(out, 0, sizeof(*out));
	return p.rc;
}
