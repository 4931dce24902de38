/*
 * test/fuzz/fuzz_interactive.c - Slack's interactive payloads (POST /slack/interactive):
 * the form body's payload field, the block_actions JSON in it, the command a click makes
 * and the response_url allow list.
 *
 * Input: FLAGS \0 BODY. BODY is read as the form (kl_form_get "payload") and, when that
 * fails, as the JSON itself. Properties checked beyond "no crash": a parsed payload has
 * a user and a response_url, and its command parses by the silence grammar or is
 * refused with a message; an allowed response_url starts with http:// or https:// and
 * names no userinfo.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "controllers/form.h"
#include "controllers/interactive.h"
#include "controllers/silence_cmd.h"
#include "controllers/silences.h"
#include "test/fuzz/fuzz.h"

static const char *const ctls[] = { "crash-watcher", "notready-watcher", NULL };
static const char *hosts_v[] = { "hooks.slack.com", "127.0.0.1" };

static void check_one(const char *json, size_t len, uint8_t flags)
{
	struct kl_strv hosts = { hosts_v, (flags & 1) ? 2 : 0 };
	struct kl_interactive in;
	struct kl_scmd c;
	char err[256], cerr[256];
	int rc = kl_interactive_parse(json, len, &in, (flags & 2) ? NULL : err,
				      (flags & 2) ? 0 : sizeof(err));

	if (rc == -ENOMEM)
		return;
	if (rc != 0 && rc != -EBADMSG)
		fuzz_fail("kl_interactive_parse returned %d", rc);
	if (rc != 0) {
		if (in.text[0] || in.user[0])
			fuzz_fail("a refused payload left output behind");
		return;
	}
	if (!in.user[0] || !in.response_url[0] || !kl_scmd_is_ours(in.text))
		fuzz_fail("a parsed payload lacks user, response_url or command");
	rc = kl_scmd_parse(in.text, ctls, 7 * 24 * 3600 * 1000ULL, &c, cerr, sizeof(cerr));
	if (rc != 0 && (rc != -EINVAL || !cerr[0]))
		fuzz_fail("command %s: %d without a message", in.text, rc);
	if (kl_silences_url_allowed(&hosts, in.response_url) &&
	    ((strncmp(in.response_url, "http://", 7) && strncmp(in.response_url, "https://", 8)) ||
	     memchr(in.response_url, '@', strcspn(in.response_url + 8, "/?#") + 8)))
		fuzz_fail("allowed a response_url it should not: %s", in.response_url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nul = memchr(data, 0, size);
	const char *body;
	size_t blen;
	uint8_t flags;
	char *payload;

	if (!nul)
		return 0;
	flags = nul > (const char *)data ? data[0] : 0;
	body = nul + 1;
	blen = size - (size_t)(body - (const char *)data);
	payload = malloc(65536);
	if (!payload)
		return 0;
	if (kl_form_get(body, blen, "payload", payload, 65536) == 0)
		check_one(payload, strlen(payload), flags);
	else
		check_one(body, blen, flags);
	free(payload);
	return 0;
}
