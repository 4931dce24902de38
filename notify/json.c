/*
 * notify/json.c - the JSON writer the HTTP drivers share (see internal.h).
 *
 * A yajl generator whose first failure sticks, so a driver writes a whole payload
 * and checks once at the end; strings that are not valid UTF-8 (container logs)
 * are mended to U+FFFD instead of failing the message.
 */
#include "notify/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

static void jcheck(struct kl__jw *w, yajl_gen_status st)
{
	if (st != yajl_gen_status_ok && !w->err)
		w->err = st == yajl_gen_invalid_string ? -EINVAL : -ENOMEM;
}

void kl__jstr(struct kl__jw *w, const char *s)
{
	struct kl_buf tmp = {0};

	if (w->err)
		return;
	if (kl_utf8_valid(s)) {
		jcheck(w, yajl_gen_string(w->g, (const unsigned char *)s, strlen(s)));
		return;
	}
	kl__put_text(&tmp, s);
	if (tmp.oom)
		w->err = -ENOMEM;
	else
		jcheck(w, yajl_gen_string(w->g, (const unsigned char *)tmp.p, tmp.len));
	kl_buf_free(&tmp);
}

void kl__jkv(struct kl__jw *w, const char *k, const char *v)
{
	kl__jstr(w, k);
	kl__jstr(w, v);
}

void kl__jmap_open(struct kl__jw *w)
{
	if (!w->err)
		jcheck(w, yajl_gen_map_open(w->g));
}

void kl__jmap_close(struct kl__jw *w)
{
	if (!w->err)
		jcheck(w, yajl_gen_map_close(w->g));
}

void kl__jarr_open(struct kl__jw *w)
{
	if (!w->err)
		jcheck(w, yajl_gen_array_open(w->g));
}

void kl__jarr_close(struct kl__jw *w)
{
	if (!w->err)
		jcheck(w, yajl_gen_array_close(w->g));
}

void kl__jint(struct kl__jw *w, long long v)
{
	if (!w->err)
		jcheck(w, yajl_gen_integer(w->g, v));
}

void kl__jbool(struct kl__jw *w, bool v)
{
	if (!w->err)
		jcheck(w, yajl_gen_bool(w->g, v));
}

void kl__jnull(struct kl__jw *w)
{
	if (!w->err)
		jcheck(w, yajl_gen_null(w->g));
}

int kl__jw_init(struct kl__jw *w)
{
	w->err = 0;
	w->g = yajl_gen_alloc(NULL);
	return w->g ? 0 : -ENOMEM;
}

int kl__jw_finish(struct kl__jw *w, char **out, size_t *len)
{
	const unsigned char *buf;
	size_t n;
	int rc = w->err;

	if (!rc && yajl_gen_get_buf(w->g, &buf, &n) != yajl_gen_status_ok)
		rc = -ENOMEM;
	if (!rc) {
		*out = malloc(n + 1);
		if (*out) {
			memcpy(*out, buf, n);
			(*out)[n] = '\0';
			*len = n;
		} else {
			rc = -ENOMEM;
		}
	}
	yajl_gen_free(w->g);
	w->g = NULL;
	return rc;
}
