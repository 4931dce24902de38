/*
 * controllers/chat_forward.h - a follower's leader-only chat-ops requests go to the
 * leader (issue 15).
 *
 * Only the leader holds the silences and the alerts, yet the chat-ops Service sends a
 * request to any replica. A follower that has verified a request (Slack's signature
 * or a bearer token) hands it here: it is sent unchanged - method, path, body, the
 * Slack signature and timestamp or the bearer header - to the chat-ops listener of
 * the replica holding the Lease, and the leader's answer (status, Content-Type, body)
 * is relayed. The leader verifies everything again as if the request came from Slack:
 * forwarding adds no trust. The leader's address is the annotation
 * KL_CHAT_FORWARD_ANNOTATION ("IP:PORT") it writes on the Lease with every acquire and
 * renew; the follower reads it from the Lease it polls anyway.
 *
 * Bounded: one try, KL_CHAT_FORWARD_TIMEOUT_MS in all, plain http to a literal IP (no
 * name lookup, no proxy, no redirect), the answer at most KL_CHAT_FORWARD_MAX_ANSWER
 * bytes. A forwarded request carries KL_CHAT_FORWARD_HEADER; one that reaches a
 * replica that does not lead is refused (503), never forwarded again, so a stale view
 * of the Lease cannot make requests go round. Every outcome is counted in
 * kloompas_chatops_forwarded_total{result}: ok, no_leader, unreachable, loop.
 */
#ifndef KL_CONTROLLERS_CHAT_FORWARD_H
#define KL_CONTROLLERS_CHAT_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "kubeclient/lease.h"
#include "util/httpd.h"
#include "util/log.h"
#include "util/metrics.h"

#define KL_CHAT_FORWARD_ANNOTATION "kloompas.io/chatops-address"
#define KL_CHAT_FORWARD_HEADER "X-Kloompas-Forwarded"
#define KL_CHAT_FORWARD_TIMEOUT_MS 5000
#define KL_CHAT_FORWARD_MAX_ANSWER (1024 * 1024)

struct kl_chat_forward;

/*
 * Returns a new forwarder reading the leader's address from lease (borrowed until
 * kl_chat_forward_close), or NULL on ENOMEM. Registers the counter in metrics (may be
 * NULL).
 */
struct kl_chat_forward *kl_chat_forward_new(uv_loop_t *loop, struct kl_lease *lease,
					    const struct kl_log *log, struct kl_metrics *metrics);
/* Whether a leader-only request should go to the leader: f exists and we do not lead. */
bool kl_chat_forward_wanted(const struct kl_chat_forward *f);
/*
 * Forwards req (verified by the caller) to the leader and answers it with the leader's
 * answer; or answers 503 (a forwarded request reaching us, no leader known, the leader
 * unreachable) naming why. req is answered exactly once, possibly before this returns.
 */
void kl_chat_forward(struct kl_chat_forward *f, struct kl_httpd_req *req);
/* Cancels what is in flight (answered 503), frees f, then cb(arg) (possibly at once). */
void kl_chat_forward_close(struct kl_chat_forward *f, void (*cb)(void *arg), void *arg);

/* ---------------------------------------------------------------- pure parts (tests) */

/*
 * The URL "http://ADDRESS" PATH ["?" QUERY] of a forward to address, which must be a
 * literal "IPv4:PORT" or "[IPv6]:PORT" (port 1..65535) and neither an unspecified,
 * multicast nor broadcast address. Returns 0, -EINVAL (with nothing useful in url) or
 * -ENOSPC.
 */
int kl_chat_forward_url(const char *address, const char *path, const char *query, char *url,
			size_t len);

/* A request's header by name (case-insensitive), or NULL: kl_httpd_req_header's shape. */
typedef const char *(*kl_chat_forward_header_cb)(const void *arg, const char *name);

/*
 * The header lines of the forwarded request: Content-Type, Authorization and Slack's
 * X-Slack-Request-Timestamp and X-Slack-Signature as get(arg) finds them, then
 * KL_CHAT_FORWARD_HEADER and an empty Expect (no 100-continue wait). Written as
 * "Name: value" strings into buf, with out[] (nout >= 8) pointing at them, NULL
 * terminated. Returns how many, -EINVAL when a value holds a control byte, or -ENOSPC.
 */
int kl_chat_forward_headers(kl_chat_forward_header_cb get, const void *arg, char *buf,
			    size_t len, const char **out, size_t nout);

#endif
