/*
 * controllers/bearer.h - who an "Authorization: Bearer TOKEN" header belongs to
 * (the HTTP API's users, from chatops.api_tokens_file).
 *
 * A pure function over bytes: unit-tested and fuzzed. Tokens are compared in
 * constant time and never copied anywhere.
 */
#ifndef KL_CONTROLLERS_BEARER_H
#define KL_CONTROLLERS_BEARER_H

#include "config/config.h"

/*
 * The user an "Authorization: Bearer TOKEN" header belongs to (tokens from
 * api_tokens_file), compared in constant time; NULL when none matches or the
 * header is malformed. Borrowed from c.
 */
const char *kl_bearer_user(const struct kl_chatops_conf *c, const char *authorization);

#endif
