/*
 * util/health.h - named readiness checks behind /readyz.
 *
 * Each layer that can make the process unready (informers not synced, controllers
 * not started, shutting down) registers a check; /readyz runs them all and says
 * which fail, in the style of kube-apiserver's "[+]name ok" / "[-]name failed: why".
 */
#ifndef KL_UTIL_HEALTH_H
#define KL_UTIL_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

/* Returns true when healthy; on false may write a short reason into why. */
typedef bool (*kl_health_check_cb)(void *arg, char *why, size_t len);

#define KL_HEALTH_MAX_CHECKS 16

struct kl_health_check {
	const char *name; /* borrowed: a literal */
	kl_health_check_cb cb;
	void *arg;
};

struct kl_health {
	struct kl_health_check checks[KL_HEALTH_MAX_CHECKS];
	size_t n;
};

void kl_health_init(struct kl_health *h);
/* 0, or -ENOSPC when the table is full. */
int kl_health_add(struct kl_health *h, const char *name, kl_health_check_cb cb, void *arg);
/*
 * Runs every check. Writes a report ("[+]name ok\n[-]name failed: why\n") into buf
 * (always NUL-terminated, cut if small) and returns true when all pass.
 */
bool kl_health_run(const struct kl_health *h, char *buf, size_t len);

#endif
