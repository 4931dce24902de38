/*
 * kubeclient/internal.h - declarations shared between kubeclient's files only.
 *
 * Credentials (auth.c) are kept apart from the request machinery (client.c): a
 * request asks for credentials that are ready, and says when the server refused
 * them (401) so the next request gets fresh ones. Exec plugins run asynchronously
 * through uv_spawn; nothing here blocks the loop but the read of a small token file.
 */
#ifndef KL_KUBECLIENT_INTERNAL_H
#define KL_KUBECLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "kubeclient/http.h"
#include "kubeclient/kubeconfig.h"
#include "util/error.h"
#include "util/log.h"

struct kl__auth;

/* err: 0 when credentials are ready, else why not (message in msg). */
typedef void (*kl__auth_cb)(void *arg, int err, const char *msg);

/* Returns a new credential source over cfg (borrowed), NULL on ENOMEM. */
struct kl__auth *kl__auth_new(uv_loop_t *loop, const struct kl_kube_config *cfg,
			      uint64_t token_reread_ms, const struct kl_log *log);
/* Kills a running exec plugin (its handles close on their own), fails the waiters
 * with -ECANCELED, frees the auth and calls cb(arg) before returning. */
void kl__auth_close(struct kl__auth *a, void (*cb)(void *arg), void *arg);

/*
 * Makes credentials ready: returns 1 when they are ready now (cb not called), 0
 * when cb will be called once they are (an exec plugin runs), or a negative errno
 * with msg set (cb not called). A waiter can be withdrawn with kl__auth_forget.
 */
int kl__auth_ready(struct kl__auth *a, kl__auth_cb cb, void *arg, char *msg, size_t len);
void kl__auth_forget(struct kl__auth *a, void *arg);
/* The server answered 401: drop cached exec credentials, re-read the token file. */
void kl__auth_invalidate(struct kl__auth *a);
/* Whether an invalidate could bring different credentials (exec plugin, token file). */
bool kl__auth_refreshable(const struct kl__auth *a);

/*
 * Writes "Authorization: Bearer ..." into hdr (or "" when no token) and fills the
 * client-certificate part of tls from the config or the exec plugin's answer.
 * Pointers stay valid until the next kl__auth_invalidate/ready.
 */
void kl__auth_apply(const struct kl__auth *a, char *hdr, size_t len, struct kl_http_tls *tls);
/* How many times the exec plugin ran (tests and logs). */
unsigned kl__auth_exec_runs(const struct kl__auth *a);

/*
 * A zeroed object of fixed bytes (its struct, a pod's containers) followed by its
 * name[0..len) and a NUL, meta->name_off set (objects.c and objects_pb.c). NULL on
 * ENOMEM or when fixed does not fit name_off.
 */
struct kl_meta;
struct kl_meta *kl__object_new(size_t fixed, const char *name, size_t len);

#endif
