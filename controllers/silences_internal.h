/*
 * controllers/silences_internal.h - what silences.c (the store) and silence_chatops.c
 * (its chat commands, the API and Slack's buttons) share, and nothing else includes.
 */
#ifndef KL_CONTROLLERS_SILENCES_INTERNAL_H
#define KL_CONTROLLERS_SILENCES_INTERNAL_H

#include "controllers/silences.h"
#include "kubeclient/http.h"

#define KL__REPLAYS 256 /* interactive payloads remembered (signatures within Slack's 5 min) */

struct kl__replay {
	char sig[72];
	int64_t ts;
};

/* silence_chatops.c's part of the store: its HTTP client and what it remembers. */
struct kl__silence_chat {
	struct kl_http *http; /* response_url posts; NULL until the first */
	struct kl_metric *m_commands;
	const char *controllers[16]; /* the names a CONTROLLER may take, NULL-terminated */
	struct kl__replay replays[KL__REPLAYS];
	size_t next_replay;
};

#define MAX_WATCHES 8

struct entry {
	struct kl_silence s;
	struct entry *next;
};

struct watch {
	const struct kl_silences_watch_ops *ops;
	void *arg;
	const char *controller, *alertname;
};

struct kl_silences {
	struct kl_ctx *ctx;
	struct entry *list;
	size_t n;
	struct watch w[MAX_WATCHES];
	struct kl_timer timer;
	struct kl_metric *m_silences;
	bool started; /* the state was read: silences may be set */
	struct kl__silence_chat chat; /* silence_chatops.c's */
	int close_pending;
	void (*closed_cb)(void *arg);
	void *closed_arg;
};

/* silence_am.c: makes the Alertmanager silences of a new silence e (ids kept in e). */
void kl__silence_am_create(struct kl_silences *s, const struct kl_silence *e);
/* silence_am.c: expires the Alertmanager silences of e (unsilence). */
void kl__silence_am_expire(struct kl_silences *s, const struct kl_silence *e);
/* silences.c: e (found by ns, controller and at) gained an Alertmanager silence id. */
void kl__silences_am_add(struct kl_silences *s, const char *ns, const char *controller,
			 int64_t at_ms, const char *notifier, const char *id);
/* silence_am.c/silence_chatops.c: the shared HTTP client (made at first use), or NULL. */
struct kl_http *kl__silences_http(struct kl_silences *s);

/* silence_chatops.c: fills s->chat (at kl_silences_new). */
void kl__silence_chat_init(struct kl_silences *s);
/* Closes the HTTP client, if any, then cb(s); returns false when there was none. */
bool kl__silence_chat_close(struct kl_silences *s, void (*cb)(void *arg));

#endif
