/*
 * kubeclient/json.c - streaming JSON decoder for API server responses (see json.h).
 *
 * Why: a LIST of 10,000 pods is 85 MB and a WATCH never ends, so a response is
 * never held whole. yajl's push parser takes the bytes as curl hands them over,
 * chunked anywhere, and its callbacks build a small tree (struct kl_json) for the
 * one value being collected: one element of a LIST's "items", one WATCH event, or
 * a whole small document.
 *
 * Design: a "builder" owns the tree of one value: an arena private to this file
 * (bump allocation over a list of blocks), a stack of the open containers with
 * each one's last child so appending is O(1), and the member name waiting for its
 * value. When a value is delivered its arena is reset, not freed, so a steady
 * stream does no malloc at all. A LIST has two builders: one for the current item
 * and one for the envelope (kind, metadata, ...), where "items" stays an empty
 * array. Numbers come through yajl's yajl_number callback as their text, because
 * Kubernetes quantities and resource versions do not fit a double.
 *
 * Errors: a yajl callback that fails records a code and a message in the stream
 * and returns 0, which stops yajl; the public call returns the code. The stream
 * then refuses everything with that same code and message.
 */
#include "kubeclient/json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#define MAX_DEPTH 256
#define DEFAULT_MAX_VALUE (64u << 20)
#define BLOCK_SIZE (64u << 10)
/* an arena that grew beyond this for one huge value gives the memory back */
#define ARENA_KEEP (4u << 20)
#define ALIGN 8u

/* ---------------------------------------------------------------- arena */

struct block {
	struct block *next;
	size_t cap;
	size_t used;
	/* data follows, aligned to ALIGN by the size of this header */
};

struct arena {
	struct block *head; /* blocks kept across values, in order of use */
	struct block *cur;  /* block being carved; blocks after it are free */
	size_t cap;	    /* bytes held in all blocks */
	size_t used;	    /* bytes handed out for the current value */
};

_Static_assert(sizeof(struct block) % ALIGN == 0, "block header keeps data aligned");

static unsigned char *block_data(struct block *b)
{
	return (unsigned char *)(b + 1);
}

static void arena_free(struct arena *a)
{
	struct block *b = a->head, *next;

	while (b) {
		next = b->next;
		free(b);
		b = next;
	}
	memset(a, 0, sizeof(*a));
}

/* Forgets every allocation; the blocks stay for the next value. */
static void arena_reset(struct arena *a)
{
	if (a->cap > ARENA_KEEP) {
		arena_free(a);
		return;
	}
	a->cur = a->head;
	if (a->cur)
		a->cur->used = 0;
	a->used = 0;
}

/* Slow path: move to the next kept block, or insert a new one after cur. */
static void *arena_grow(struct arena *a, size_t size)
{
	struct block *b = a->cur ? a->cur->next : a->head;
	size_t cap;

	if (!b || b->cap < size) {
		cap = size > BLOCK_SIZE ? size : BLOCK_SIZE;
		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->cap = cap;
		a->cap += cap;
		if (a->cur) {
			b->next = a->cur->next;
			a->cur->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	b->used = size;
	a->cur = b;
	a->used += size;
	return block_data(b);
}

/* size is already a multiple of ALIGN; memory is not zeroed. */
static inline void *arena_alloc(struct arena *a, size_t size)
{
	struct block *b = a->cur;
	void *p;

	if (!b || b->cap - b->used < size)
		return arena_grow(a, size);
	p = block_data(b) + b->used;
	b->used += size;
	a->used += size;
	return p;
}

/* ---------------------------------------------------------------- stream */

struct frame {
	struct kl_json *node; /* open ARRAY or OBJECT */
	struct kl_json *last; /* its last child, NULL while empty */
};

/* The tree of one value under construction. */
struct builder {
	struct arena arena;
	struct kl_json *root;
	const char *key; /* member name for the next value, in arena */
	int depth;	 /* open containers of this value */
	struct frame stack[MAX_DEPTH];
};

struct kl_json_stream {
	yajl_handle yajl;
	enum kl_json_mode mode;
	size_t max_value;
	kl_json_cb cb;
	void *arg;

	int depth;	    /* open containers in the whole input */
	bool items_key;	    /* LIST: the last member name at depth 1 was "items" */
	bool in_items;	    /* LIST: inside the top-level "items" array */
	bool have_doc;	    /* DOCUMENT/LIST: the top-level value is complete */
	bool pending;	    /* non-blank bytes at depth 0 that yajl has not reported yet */
	bool finished;	    /* kl_json_stream_finish() ran */
	uint64_t base;	    /* offset of the chunk being parsed */
	uint64_t total;	    /* bytes fed */
	uint64_t value_end; /* offset just past the last complete top-level value */
	uint64_t values;    /* top-level values completed */

	int rc;	       /* first failure, returned from then on */
	char msg[256]; /* its message, "" when the callback stopped us */

	struct builder val; /* the item, event or document */
	struct builder env; /* LIST: the envelope around "items" */
};

static uint64_t offset_now(struct kl_json_stream *s)
{
	return s->base + yajl_get_bytes_consumed(s->yajl);
}

/* Records the first failure; returns 0 so that a yajl callback stops the parse. */
__attribute__((format(printf, 3, 4))) static int fail(struct kl_json_stream *s, int rc,
						      const char *fmt, ...)
{
	va_list ap;

	if (s->rc)
		return 0;
	s->rc = rc;
	va_start(ap, fmt);
	vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
	va_end(ap);
	return 0;
}

/* The callback said stop: its code, and no message of ours (it knows why). */
static int stopped(struct kl_json_stream *s, int rc)
{
	if (!s->rc)
		s->rc = rc;
	return 0;
}

static void *salloc(struct kl_json_stream *s, struct builder *b, size_t size)
{
	void *p;

	size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	if (size > s->max_value - b->arena.used) {
		fail(s, -EPROTO, "JSON value larger than %zu bytes at offset %" PRIu64,
		     s->max_value, offset_now(s));
		return NULL;
	}
	p = arena_alloc(&b->arena, size);
	if (!p)
		fail(s, -ENOMEM, "out of memory decoding JSON at offset %" PRIu64, offset_now(s));
	return p;
}

static char *scopy(struct kl_json_stream *s, struct builder *b, const void *text, size_t len)
{
	char *p;

	if (len >= s->max_value) {
		fail(s, -EPROTO, "JSON value larger than %zu bytes at offset %" PRIu64,
		     s->max_value, offset_now(s));
		return NULL;
	}
	p = salloc(s, b, len + 1);
	if (!p)
		return NULL;
	if (len)
		memcpy(p, text, len);
	p[len] = '\0';
	return p;
}

static void builder_reset(struct builder *b)
{
	arena_reset(&b->arena);
	b->root = NULL;
	b->key = NULL;
	b->depth = 0;
}

/* The builder the next value belongs to. */
static struct builder *target(struct kl_json_stream *s)
{
	return s->mode == KL_JSON_LIST && !s->in_items ? &s->env : &s->val;
}

/* Appends a new node to the open container of b (or makes it the root). */
static struct kl_json *add_node(struct kl_json_stream *s, struct builder *b, enum kl_json_type type)
{
	struct kl_json *v = salloc(s, b, sizeof(*v));
	struct frame *f;

	if (!v)
		return NULL;
	*v = (struct kl_json){.type = type, .key = b->key};
	b->key = NULL;
	if (!b->depth) {
		b->root = v;
		return v;
	}
	f = &b->stack[b->depth - 1];
	if (f->last)
		f->last->next = v;
	else
		f->node->child = v;
	f->last = v;
	f->node->n++;
	return v;
}

/* b's value is complete: deliver it now (items, events) or keep it for finish. */
static int complete(struct kl_json_stream *s, struct builder *b)
{
	int rc;

	if (!s->depth) {
		s->value_end = offset_now(s);
		s->values++;
	}
	if (b != &s->val || s->mode == KL_JSON_DOCUMENT) {
		s->have_doc = true;
		return 1;
	}
	rc = s->cb(s->arg, KL_JSON_ITEM, b->root);
	builder_reset(b);
	if (rc < 0)
		return stopped(s, rc);
	return 1;
}

static int not_object(struct kl_json_stream *s)
{
	return fail(s, -EPROTO, "JSON list is not an object at offset %" PRIu64, offset_now(s));
}

static int scalar(struct kl_json_stream *s, enum kl_json_type type, const void *text, size_t len,
		  bool boolean)
{
	struct builder *b = target(s);
	struct kl_json *v;

	if (s->mode == KL_JSON_LIST && !s->depth)
		return not_object(s);
	v = add_node(s, b, type);
	if (!v)
		return 0;
	v->boolean = boolean;
	if (type == KL_JSON_NUMBER || type == KL_JSON_STRING) {
		v->str = scopy(s, b, text, len);
		if (!v->str)
			return 0;
		v->len = len;
	}
	return b->depth ? 1 : complete(s, b);
}

static int on_null(void *ctx)
{
	return scalar(ctx, KL_JSON_NULL, NULL, 0, false);
}

static int on_boolean(void *ctx, int val)
{
	return scalar(ctx, KL_JSON_BOOL, NULL, 0, val != 0);
}

static int on_number(void *ctx, const char *text, size_t len)
{
	return scalar(ctx, KL_JSON_NUMBER, text, len, false);
}

static int on_string(void *ctx, const unsigned char *text, size_t len)
{
	return scalar(ctx, KL_JSON_STRING, text, len, false);
}

static int on_key(void *ctx, const unsigned char *key, size_t len)
{
	struct kl_json_stream *s = ctx;
	struct builder *b = target(s);

	if (s->mode == KL_JSON_LIST && s->depth == 1)
		s->items_key = len == 5 && !memcmp(key, "items", 5);
	b->key = scopy(s, b, key, len);
	return b->key != NULL;
}

static int on_start(struct kl_json_stream *s, enum kl_json_type type)
{
	struct builder *b;
	struct kl_json *v;

	if (s->depth >= MAX_DEPTH)
		return fail(s, -EPROTO, "JSON nested deeper than %d at offset %" PRIu64, MAX_DEPTH,
			    offset_now(s));
	if (s->mode == KL_JSON_LIST && s->depth < 2) {
		if (!s->depth && type != KL_JSON_OBJECT)
			return not_object(s);
		if (s->depth == 1 && s->items_key && type == KL_JSON_ARRAY) {
			/* the envelope keeps "items" as an empty array */
			if (!add_node(s, &s->env, KL_JSON_ARRAY))
				return 0;
			s->items_key = false;
			s->in_items = true;
			s->depth++;
			return 1;
		}
	}
	b = target(s);
	v = add_node(s, b, type);
	if (!v)
		return 0;
	b->stack[b->depth++] = (struct frame){.node = v};
	s->depth++;
	return 1;
}

static int on_end(struct kl_json_stream *s)
{
	struct builder *b;

	s->depth--;
	if (s->in_items && s->depth == 1) {
		s->in_items = false;
		return 1;
	}
	b = target(s);
	b->depth--;
	return b->depth ? 1 : complete(s, b);
}

static int on_start_map(void *ctx)
{
	return on_start(ctx, KL_JSON_OBJECT);
}

static int on_start_array(void *ctx)
{
	return on_start(ctx, KL_JSON_ARRAY);
}

static int on_end_container(void *ctx)
{
	return on_end(ctx);
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end_container,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end_container,
};

struct kl_json_stream *kl_json_stream_new(enum kl_json_mode mode, size_t max_value_bytes,
					  kl_json_cb cb, void *arg)
{
	struct kl_json_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->mode = mode;
	s->max_value = max_value_bytes ? max_value_bytes : DEFAULT_MAX_VALUE;
	s->cb = cb;
	s->arg = arg;
	s->yajl = yajl_alloc(&callbacks, NULL, s);
	if (!s->yajl) {
		free(s);
		return NULL;
	}
	if (mode == KL_JSON_EVENTS)
		yajl_config(s->yajl, yajl_allow_multiple_values, 1);
	return s;
}

void kl_json_stream_free(struct kl_json_stream *s)
{
	if (!s)
		return;
	yajl_free(s->yajl);
	arena_free(&s->val.arena);
	arena_free(&s->env.arena);
	free(s);
}

uint64_t kl_json_stream_offset(const struct kl_json_stream *s)
{
	return s->total;
}

/* The stored failure again, with its message for this caller's err. */
static int failed(struct kl_json_stream *s, struct kl_error *err)
{
	if (s->msg[0])
		kl_error_set(err, NULL, 0, 0, "%s", s->msg);
	return s->rc;
}

/* yajl's own complaint, without its trailing newline. */
static void yajl_reason(struct kl_json_stream *s, char *buf, size_t len)
{
	unsigned char *e = yajl_get_error(s->yajl, 0, NULL, 0);
	size_t n;

	snprintf(buf, len, "%s", e ? (const char *)e : "unknown error");
	if (e)
		yajl_free_error(s->yajl, e);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '.'))
		buf[--n] = '\0';
}

static bool blank(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		switch (p[i]) {
		case ' ':
		case '\t':
		case '\n':
		case '\r':
		case '\v':
		case '\f':
			break;
		default:
			return false;
		}
	}
	return true;
}

int kl_json_stream_feed(struct kl_json_stream *s, const char *buf, size_t len, struct kl_error *err)
{
	char reason[128];
	yajl_status st;
	size_t from;

	if (s->rc)
		return failed(s, err);
	if (s->finished) {
		kl_error_set(err, NULL, 0, 0, "JSON fed after the end of the stream");
		return -EINVAL;
	}
	if (!len)
		return 0;
	s->base = s->total;
	st = yajl_parse(s->yajl, (const unsigned char *)buf, len);
	s->total += len;
	if (st == yajl_status_client_canceled)
		return failed(s, err);
	if (st != yajl_status_ok) {
		yajl_reason(s, reason, sizeof(reason));
		fail(s, -EPROTO, "malformed JSON at offset %" PRIu64 ": %s", offset_now(s), reason);
		return failed(s, err);
	}
	/*
	 * yajl keeps a top-level scalar cut by the chunk end to itself, and in
	 * EVENTS mode would even accept a stream that ends there; remember that
	 * such bytes exist so that finish can tell a cut stream from a clean end.
	 */
	if (!s->depth) {
		if (s->value_end >= s->base) {
			from = s->value_end - s->base;
			s->pending = from < len && !blank(buf + from, len - from);
		} else if (!s->pending) {
			s->pending = !blank(buf, len);
		}
	}
	return 0;
}

int kl_json_stream_finish(struct kl_json_stream *s, struct kl_error *err)
{
	uint64_t values = s->values;
	char reason[128];
	yajl_status st;
	int rc;

	if (s->rc)
		return failed(s, err);
	if (s->finished) {
		kl_error_set(err, NULL, 0, 0, "JSON stream finished twice");
		return -EINVAL;
	}
	s->finished = true;
	s->base = s->total;
	st = yajl_complete_parse(s->yajl);
	if (st == yajl_status_client_canceled)
		return failed(s, err);
	/* a scalar that yajl held back has now been delivered */
	if (s->values != values)
		s->pending = false;
	if (st != yajl_status_ok) {
		yajl_reason(s, reason, sizeof(reason));
		if (!strstr(reason, "premature EOF"))
			fail(s, -EPROTO, "malformed JSON at offset %" PRIu64 ": %s", s->total,
			     reason);
	}
	if (!s->rc && (s->depth || s->pending))
		fail(s, -EPROTO, "stream ended inside a JSON value at offset %" PRIu64, s->total);
	if (!s->rc && s->mode != KL_JSON_EVENTS && !s->have_doc)
		fail(s, -EPROTO, "empty document");
	if (s->rc)
		return failed(s, err);
	if (s->mode == KL_JSON_EVENTS)
		return 0;
	rc = s->cb(s->arg, KL_JSON_DOC, s->mode == KL_JSON_LIST ? s->env.root : s->val.root);
	if (rc < 0) {
		stopped(s, rc);
		return rc;
	}
	return 0;
}

/* ---------------------------------------------------------------- access */

const struct kl_json *kl_json_get(const struct kl_json *obj, const char *key)
{
	const struct kl_json *c;

	if (!obj || obj->type != KL_JSON_OBJECT || !key)
		return NULL;
	for (c = obj->child; c; c = c->next)
		if (!strcmp(c->key, key))
			return c;
	return NULL;
}

const struct kl_json *kl_json_path(const struct kl_json *obj, ...)
{
	const char *key;
	va_list ap;

	va_start(ap, obj);
	while (obj && (key = va_arg(ap, const char *)))
		obj = kl_json_get(obj, key);
	va_end(ap);
	return obj;
}

const char *kl_json_str(const struct kl_json *v, const char *def)
{
	return v && v->type == KL_JSON_STRING ? v->str : def;
}

int kl_json_int(const struct kl_json *v, int64_t *out)
{
	const char *p;
	uint64_t acc = 0, limit;
	bool neg;

	if (!v || v->type != KL_JSON_NUMBER || !v->len)
		return -EINVAL;
	p = v->str;
	neg = *p == '-';
	if (neg)
		p++;
	if (p == v->str + v->len)
		return -EINVAL;
	/* the magnitude of INT64_MIN is one more than INT64_MAX */
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; p < v->str + v->len; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
	}
	p = v->str + neg;
	for (; p < v->str + v->len; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (acc > (limit - d) / 10)
			return -ERANGE;
		acc = acc * 10 + d;
	}
	/* negate after the cast, one short, so that INT64_MIN never overflows */
	*out = neg && acc ? -(int64_t)(acc - 1) - 1 : (int64_t)acc;
	return 0;
}
