/*
 * controllers/bearer.c - "Authorization: Bearer TOKEN" to a user (see bearer.h).
 *
 * DESIGN
 * - Tokens are compared as SHA-256 digests with CRYPTO_memcmp against every
 *   configured token, with no early exit: the time taken depends on neither the
 *   presented token's content or length nor on which token (if any) matched.
 */
#include "controllers/bearer.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

static int sha256(const void *p, size_t len, unsigned char out[32])
{
	unsigned int outl = 0;

	if (!EVP_Digest(p, len, out, &outl, EVP_sha256(), NULL) || outl != 32)
		return -EIO;
	return 0;
}

const char *kl_bearer_user(const struct kl_chatops_conf *c, const char *authorization)
{
	unsigned char got[32], want[32];
	const char *p, *tok, *user = NULL;
	size_t toklen, i;

	if (!c || !authorization)
		return NULL;
	p = authorization;
	while (*p == ' ' || *p == '\t')
		p++;
	/* RFC 6750: "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 9110) */
	if (strncasecmp(p, "bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return NULL;
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	tok = p;
	while (*p > 0x20 && *p < 0x7f)
		p++;
	toklen = (size_t)(p - tok);
	while (*p == ' ' || *p == '\t')
		p++;
	if (!toklen || *p)
		return NULL;
	if (sha256(tok, toklen, got))
		return NULL;
	/* every token is hashed and compared: no exit before the last one */
	for (i = 0; i < c->ntokens; i++) {
		const char *t = c->tokens[i].token;

		if (!t || sha256(t, strlen(t), want))
			continue;
		if (CRYPTO_memcmp(got, want, sizeof(got)) == 0 && !user)
			user = c->tokens[i].user;
	}
	OPENSSL_cleanse(got, sizeof(got));
	OPENSSL_cleanse(want, sizeof(want));
	return user;
}
