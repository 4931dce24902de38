/*
 * controllers/slack.h - is this request from Slack? Slack's signed-request check
 * (https://api.slack.com/authentication/verifying-requests-from-slack).
 *
 * A pure function over bytes, unit-tested against Slack's worked example and
 * fuzzed. The secret is compared in constant time and never copied into a message.
 */
#ifndef KL_CONTROLLERS_SLACK_H
#define KL_CONTROLLERS_SLACK_H

#include <stddef.h>
#include <stdint.h>

/*
 * Verifies a Slack request: signature must be "v0=" + hex HMAC-SHA256(secret,
 * "v0:" TIMESTAMP ":" BODY), compared in constant time; TIMESTAMP must be within
 * 300 s of now_s. Returns 0, -EACCES (bad or missing signature) or -ETIME (stale or
 * bad timestamp), with a reason in err that contains no secret.
 */
int kl_slack_verify(const char *secret, const char *timestamp, const char *signature,
		    const char *body, size_t len, int64_t now_s, char *err, size_t errlen);

#endif
