/*
 * controllers/slack.c - Slack request signatures (see slack.h).
 *
 * DESIGN
 * - Signatures are computed with EVP_MAC (HMAC-SHA256) over the three parts
 *   without copying the body, rendered as lowercase hex and compared with
 *   CRYPTO_memcmp; Slack sends lowercase, so anything else does not match.
 * - The timestamp is checked before the MAC: a stale request costs no HMAC.
 */
#include "controllers/slack.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define SLACK_SKEW_S 300 /* Slack: refuse requests older than five minutes */

static int hmac_sha256(const char *key, const void *const *parts, const size_t *lens, size_t nparts,
		       unsigned char out[32])
{
	char digest[] = "SHA256";
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;
	EVP_MAC *mac;
	size_t i, outl = 0;
	int ret = -EIO;

	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!mac)
		return -EIO;
	ctx = EVP_MAC_CTX_new(mac);
	if (!ctx)
		goto out_free_mac;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), params))
		goto out_free_ctx;
	for (i = 0; i < nparts; i++)
		if (lens[i] && !EVP_MAC_update(ctx, parts[i], lens[i]))
			goto out_free_ctx;
	if (!EVP_MAC_final(ctx, out, &outl, 32) || outl != 32)
		goto out_free_ctx;
	ret = 0;
out_free_ctx:
	EVP_MAC_CTX_free(ctx);
out_free_mac:
	EVP_MAC_free(mac);
	return ret;
}

/* All digits, at most 18 of them (no overflow); -EINVAL otherwise. */
static int parse_timestamp(const char *s, int64_t *ts)
{
	int64_t v = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 18)
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (i == 0)
		return -EINVAL;
	*ts = v;
	return 0;
}

int kl_slack_verify(const char *secret, const char *timestamp, const char *signature,
		    const char *body, size_t len, int64_t now_s, char *err, size_t errlen)
{
	static const char hexdig[] = "0123456789abcdef";
	const void *parts[4];
	size_t lens[4], i;
	unsigned char mac[32];
	char hex[64];
	int64_t ts, age;
	int ret;

	snprintf(err, errlen, "%s", "");
	if (!secret || !*secret) {
		snprintf(err, errlen, "no Slack signing secret is configured");
		return -EACCES;
	}
	if (!signature || !*signature) {
		snprintf(err, errlen, "missing X-Slack-Signature");
		return -EACCES;
	}
	if (!timestamp || !*timestamp) {
		snprintf(err, errlen, "missing X-Slack-Request-Timestamp");
		return -ETIME;
	}
	if (parse_timestamp(timestamp, &ts)) {
		snprintf(err, errlen, "X-Slack-Request-Timestamp is not a number of seconds");
		return -ETIME;
	}
	if (__builtin_sub_overflow(now_s, ts, &age) || age > SLACK_SKEW_S || age < -SLACK_SKEW_S) {
		if (ts > now_s)
			snprintf(err, errlen,
				 "request timestamp is in the future by more than %d s",
				 SLACK_SKEW_S);
		else
			snprintf(err, errlen, "request timestamp is more than %d s old",
				 SLACK_SKEW_S);
		return -ETIME;
	}
	if (strlen(signature) != 3 + sizeof(hex) || memcmp(signature, "v0=", 3) != 0) {
		snprintf(err, errlen, "X-Slack-Signature is not \"v0=\" and 64 hex digits");
		return -EACCES;
	}
	parts[0] = "v0:";
	lens[0] = 3;
	parts[1] = timestamp;
	lens[1] = strlen(timestamp);
	parts[2] = ":";
	lens[2] = 1;
	parts[3] = body;
	lens[3] = body ? len : 0;
	ret = hmac_sha256(secret, parts, lens, 4, mac);
	if (ret) {
		snprintf(err, errlen, "cannot compute HMAC-SHA256 (OpenSSL)");
		return ret;
	}
	for (i = 0; i < sizeof(mac); i++) {
		hex[2 * i] = hexdig[mac[i] >> 4];
		hex[2 * i + 1] = hexdig[mac[i] & 15];
	}
	ret = CRYPTO_memcmp(hex, signature + 3, sizeof(hex)) == 0 ? 0 : -EACCES;
	OPENSSL_cleanse(mac, sizeof(mac));
	OPENSSL_cleanse(hex, sizeof(hex));
	if (ret)
		snprintf(err, errlen, "X-Slack-Signature does not match the request");
	return ret;
}
