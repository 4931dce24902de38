/*
 * cmd/kubectl-kloompas/fetch.h - reading what a command shows from the API server.
 *
 * Kept apart from plugin.h so the model and renderers (and their unit tests) need no
 * API client.
 */
#ifndef KL_CMD_KUBECTL_KLOOMPAS_FETCH_H
#define KL_CMD_KUBECTL_KLOOMPAS_FETCH_H

#include <uv.h>

#include "cmd/kubectl-kloompas/plugin.h"
#include "kubeclient/client.h"

/*
 * Starts every read command a->cmd needs on kube (borrowed; closed when the last read
 * answers), runs loop until then and fills st. Returns 0, or the first failure as a
 * negative errno with msg saying what could not be read and why (403, 401, network).
 * server names the API server in messages.
 */
int kl_plugin_fetch(uv_loop_t *loop, struct kl_kube *kube, const char *server,
		    const struct kl_plugin_args *a, struct kl_plugin_status *st, char *msg,
		    size_t msg_len);

#endif
