/*
 * util/health.c - the readiness check list (see health.h).
 */
#include "util/health.h"

#include <errno.h>
#include <stdio.h>

void kl_health_init(struct kl_health *h)
{
	h->n = 0;
}

int kl_health_add(struct kl_health *h, const char *name, kl_health_check_cb cb, void *arg)
{
	if (h->n == KL_HEALTH_MAX_CHECKS)
		return -ENOSPC;
	h->checks[h->n].name = name;
	h->checks[h->n].cb = cb;
	h->checks[h->n].arg = arg;
	h->n++;
	return 0;
}

bool kl_health_run(const struct kl_health *h, char *buf, size_t len)
{
	bool all = true;
	size_t off = 0, i;
	int n;

	if (len)
		buf[0] = '\0';
	for (i = 0; i < h->n; i++) {
		char why[512] = ""; /* room for an API server's message (a 403 is long) */
		bool ok = h->checks[i].cb(h->checks[i].arg, why, sizeof(why));

		all = all && ok;
		if (off >= len)
			continue;
		if (ok)
			n = snprintf(buf + off, len - off, "[+]%s ok\n", h->checks[i].name);
		else
			n = snprintf(buf + off, len - off, "[-]%s failed: %s\n", h->checks[i].name,
				     why[0] ? why : "not ready");
		if (n > 0)
			off += (size_t)n;
	}
	return all;
}
