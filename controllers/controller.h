/*
 * controllers/controller.h - what a controller is, and the context it runs in.
 *
 * Controllers are plugged in as rows of one static table (controllers/table.c),
 * after kube-controller-manager's descriptors and nginx's module hooks: a name,
 * whether it runs by default, the shared informers it reads, its config keys and
 * its init/start/stop hooks. --controllers, --help, the config loader and the
 * metrics all read that table.
 */
#ifndef KL_CONTROLLERS_CONTROLLER_H
#define KL_CONTROLLERS_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "config/config.h"
#include "config/flags.h"
#include "config/node.h"
#include "kubeclient/client.h"
#include "kubeclient/informer.h"
#include "kubeclient/resource.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/health.h"
#include "util/httpd.h"
#include "util/log.h"
#include "util/metrics.h"

struct kl_notify;	     /* notify/notify.h */
struct kl_silences;	     /* controllers/silences.h */
struct kl_chat_forward; /* controllers/chat_forward.h */

/*
 * Everything a controller may use, passed explicitly (no globals). Owned by main;
 * valid from init until the controller's stop has called done.
 */
struct kl_ctx {
	uv_loop_t *loop;
	struct kl_clock *clock; /* time and timers: the real clock on loop (tests: a fake one) */
	const struct kl_log *log;
	const struct kl_flags *flags;
	const struct kl_config *config;
	struct kl_metrics *metrics;
	struct kl_health *health;
	struct kl_kube *kube;		/* the API client */
	struct kl_informers *informers; /* the shared informers (take, never watch yourself) */
	struct kl_state *state;		/* kloompas-state, loaded before controllers start */
	struct kl_notify *notify;	/* the process' one notifier set (notify/notify.h) */
	struct kl_silences *silences;	/* chat silences (controllers/silences.h); NULL: none */
	/*
	 * Sends a follower's leader-only chat-ops requests to the leader
	 * (controllers/chat_forward.h); NULL without leader election (this replica
	 * always leads) or without the chat-ops listener.
	 */
	struct kl_chat_forward *forward;
	const char *own_namespace;	/* Kloompas' namespace (Lease, state ConfigMap) */
	/*
	 * The controller table as configured, one slot per row of kl_controllers: whether
	 * the controller runs, and its bound config. Either may be NULL (tests): then no
	 * controller is known to run. Read through kl_ctx_controller_conf().
	 */
	const bool *controllers_enabled;
	void *const *controller_confs;
};

struct kl_state;

typedef void (*kl_done_cb)(void *arg);

struct kl_controller_ops {
	/*
	 * conf is the controller's bound config struct (desc->conf_size bytes, defaults
	 * applied, then the config file's section), borrowed for the process' life.
	 * On success *state is the controller's own, released by stop. Returns 0 or a
	 * negative errno (with err set); then stop is not called.
	 */
	int (*init)(struct kl_ctx *ctx, const void *conf, void **state, struct kl_error *err);
	/* Leader elected and informers synced: act. 0 or a negative errno. */
	int (*start)(void *state);
	/*
	 * Stops acting, closes the controller's handles and frees state; calls
	 * done(arg) once the last handle is closed (possibly before returning).
	 * Called for every controller whose init succeeded, started or not.
	 */
	void (*stop)(void *state, kl_done_cb done, void *arg);
	/*
	 * Optional (NULL when the controller serves no HTTP): puts its routes on the
	 * chat-ops listener (borrowed until stop). Called once after init, and only
	 * when --chatops-bind-address is set. 0 or a negative errno; then main stops.
	 */
	int (*routes)(void *state, struct kl_httpd *chatops);
};

struct kl_controller_desc {
	const char *name;
	bool enabled_by_default;
	unsigned informers;		     /* KL_RES_* the controller reads */
	const struct kl_conf_key *conf_keys; /* its section under "controllers:" */
	size_t conf_size;
	void (*conf_defaults)(void *conf);
	/*
	 * Checks beyond types (ranges, non-empty lists) on the bound config, at load,
	 * for every controller whether enabled or not. section is the controller's map
	 * in the file (NULL when absent), for kl_controller_conf_error(). 0 or -EINVAL.
	 */
	int (*conf_check)(const void *conf, const struct kl_conf_node *section, const char *file,
			  struct kl_error *err);
	const struct kl_controller_ops *ops;
};

/* The table, ended by a row with name NULL. */
extern const struct kl_controller_desc kl_controllers[];
/* Number of rows (without the terminator). */
size_t kl_controllers_count(void);
/* Row index of name, or -ENOENT. */
int kl_controllers_find(const char *name);

/*
 * Applies the --controllers grammar: '*' enables the on-by-default ones, 'name'
 * enables, '-name' disables; an explicit entry beats '*'. enabled[] has one slot
 * per table row. Unknown names, empty entries and a name both enabled and
 * disabled are errors naming the entry. Returns 0 or -EINVAL.
 */
int kl_controllers_select(const char *list, bool *enabled, struct kl_error *err);

/*
 * Binds every controller's section of the config ("controllers: {name: {...}}")
 * into a new struct from the config's arena (defaults first), runs conf_check,
 * and stores it in confs[row]. A section naming an unknown controller is an
 * error at its line. Returns 0 or -EINVAL/-ENOMEM with err as FILE:LINE: ...
 */
int kl_controllers_configure(struct kl_config *config, void **confs, struct kl_error *err);

/*
 * Sets err to "FILE:LINE: controllers.NAME.KEY: MSG", the line being the key's in
 * section (or the section's, or none). Returns -EINVAL, for "return kl_...(...)".
 */
int kl_controller_conf_error(struct kl_error *err, const char *file, const char *name,
			     const struct kl_conf_node *section, const char *key, const char *fmt,
			     ...) __attribute__((format(printf, 6, 7)));

/*
 * The bound config of controller name when it is enabled in ctx (a controller that
 * shapes its verdict on another's, as the not-ready watcher leaves crash-looping pods
 * to the crash-watcher), else NULL. Borrowed for the process' life.
 */
const void *kl_ctx_controller_conf(const struct kl_ctx *ctx, const char *name);

/* "crash-watcher, notready-watcher, ... Disabled by default: ..." for --help. */
void kl_controllers_help(char *buf, size_t len);

#endif
