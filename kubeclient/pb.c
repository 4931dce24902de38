/*
 * kubeclient/pb.c - frames Kubernetes' protobuf LIST, WATCH and error bodies as they
 * stream in (see pb.h).
 *
 * Design: bytes are pushed in whatever chunks libcurl gives, and a LIST may be
 * 300 MB, so nothing above one item is ever held. The outer layers (the runtime.
 * Unknown envelope, the List inside its raw field, the 4-byte frame lengths of a
 * WATCH) are read by a small hand-written push reader of varint tags and lengths:
 * nanopb's decoder pulls from a stream that must be able to block, which a libuv
 * callback cannot, so the framing is ours. What it collects whole (the envelope's
 * TypeMeta, the ListMeta, one frame) is decoded with nanopb from the generated
 * k8s.pb.h; an item's own bytes are handed out as they are, from the caller's chunk
 * when the item lies in it whole, else from one buffer reused item after item.
 *
 * Wire (checked against Kubernetes 1.20's generated.proto): "k8s\0", then
 * Unknown{typeMeta=1 TypeMeta{apiVersion=1, kind=2}, raw=2, contentEncoding=3,
 * contentType=4}; a List's raw is XList{metadata=1 ListMeta, items=2 repeated}; a
 * WATCH frame is WatchEvent{type=1, object=2 RawExtension{raw=1}}, raw again magic
 * plus Unknown. Go writes fields in number order, but nothing here relies on it.
 */
#include "kubeclient/pb.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>

#include "kubeclient/k8s.pb.h"
#include "kubeclient/pbwire.h"

#define DEFAULT_MAX (64u << 20)
#define HEAD_MAX 4096 /* an envelope's TypeMeta */

enum rstate { R_MAGIC, R_TAG, R_LEN, R_VARINT, R_SKIP, R_COLLECT, R_FRAMELEN };
/* what collected bytes are */
enum target { T_TYPEMETA, T_DOCRAW, T_LISTMETA, T_ITEM, T_FRAME };

struct kl_pb_stream {
	enum kl_pb_mode mode;
	size_t max;
	kl_pb_cb cb;
	void *arg;
	uint64_t off;
	int rc; /* once an error: what every later call returns */
	bool finished;

	enum rstate st;
	uint64_t v; /* the varint or frame length being read */
	unsigned nv;
	uint32_t field;
	uint64_t need; /* bytes left to skip or collect */
	enum target target;
	bool in_list; /* inside the List (LIST's raw), which ends at list_end */
	uint64_t list_end;

	uint8_t *buf; /* the item or frame collected across chunks */
	size_t len, cap;
	uint8_t *doc; /* DOCUMENT: the raw, kept until finish */
	size_t doc_len;
	char kind[256];
	char *rv, *cont; /* LIST: the ListMeta, copied until finish */
};

/* ---------------------------------------------------------------- nanopb glue */

/*
 * Every message here is decoded from a buffer that stays put for the call
 * (pb_istream_from_buffer), so a string or bytes field need not be copied: its
 * callback records where its bytes are (a slice of the input) and skips them.
 */

/* The buffer being decoded. */
struct in_range {
	const uint8_t *lo, *hi;
};

/* A field's bytes inside the buffer being decoded; set false when absent. */
struct slice {
	const uint8_t *p;
	size_t len;
	bool set;
	const struct in_range *in;
};

/*
 * pb_callback_t decode function: arg points at a struct slice (the last one
 * wins). A string sent with a scalar wire type reaches it as a copy on nanopb's
 * stack, not in the buffer: that fails the decode (Go would refuse it too).
 */
static bool slice_cb(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct slice *sl = *arg;
	uintptr_t p = (uintptr_t)st->state;

	(void)f;
	/* a buffer stream's state is where it reads next */
	if (p < (uintptr_t)sl->in->lo || p > (uintptr_t)sl->in->hi ||
	    st->bytes_left > (uintptr_t)sl->in->hi - p)
		return false;
	sl->p = st->state;
	sl->len = st->bytes_left;
	sl->set = true;
	return pb_read(st, NULL, st->bytes_left);
}

/* Points cb at the slice, which lies in the buffer in. */
static void slice_bind(pb_callback_t *cb, struct slice *sl, const struct in_range *in)
{
	cb->funcs.decode = slice_cb;
	cb->arg = sl;
	sl->in = in;
}

/* Copies a slice into buf (size bytes, cut to fit, NUL-terminated). */
static void slice_copy(const struct slice *sl, char *buf, size_t size)
{
	kl__pbw_copy(sl->p, sl->set ? sl->len : 0, buf, size);
}

/* ---------------------------------------------------------------- errors */

static int fail(struct kl_pb_stream *s, struct kl_error *err, int rc, const char *what)
{
	if (rc == -EPROTO)
		kl_error_set(err, NULL, 0, 0, "protobuf stream: %s at byte %llu", what,
			     (unsigned long long)s->off);
	else if (rc == -ENOMEM)
		kl_error_set(err, NULL, 0, 0, "protobuf stream: out of memory");
	s->rc = rc;
	return rc;
}

/* ---------------------------------------------------------------- envelopes */

/* An envelope (no magic) into its kind and raw; false when it does not decode. */
static bool unknown_decode(const uint8_t *p, size_t n, char *kind, size_t kind_size,
			   struct slice *raw)
{
	k8s_Unknown u = k8s_Unknown_init_zero;
	struct slice k = { 0 };
	pb_istream_t is = pb_istream_from_buffer(p, n);
	struct in_range in = { p, p + n };

	slice_bind(&u.typeMeta.kind, &k, &in);
	slice_bind(&u.raw, raw, &in);
	if (!pb_decode(&is, k8s_Unknown_fields, &u))
		return false;
	slice_copy(&k, kind, kind_size);
	return true;
}

static const uint8_t magic[4] = { 'k', '8', 's', 0 };

/* One WATCH frame: WatchEvent{type, object{raw: magic + envelope}}. */
static int frame_deliver(struct kl_pb_stream *s, const uint8_t *p, size_t n,
			 struct kl_error *err)
{
	k8s_WatchEvent ev = k8s_WatchEvent_init_zero;
	struct slice type = { 0 }, obj = { 0 }, raw = { 0 };
	pb_istream_t is = pb_istream_from_buffer(p, n);
	struct in_range in = { p, p + n };
	struct kl_pb_msg m = { 0 };
	char tbuf[32];
	int rc;

	slice_bind(&ev.type, &type, &in);
	slice_bind(&ev.object.raw, &obj, &in);
	if (!pb_decode(&is, k8s_WatchEvent_fields, &ev))
		return fail(s, err, -EPROTO, "a watch event that does not decode");
	if (!obj.set || obj.len < 4 || memcmp(obj.p, magic, 4))
		return fail(s, err, -EPROTO, "a watch event object without the k8s magic");
	if (!unknown_decode(obj.p + 4, obj.len - 4, s->kind, sizeof(s->kind), &raw))
		return fail(s, err, -EPROTO, "a watch event envelope that does not decode");
	slice_copy(&type, tbuf, sizeof(tbuf));
	m.type = tbuf;
	m.kind = s->kind;
	m.data = raw.set ? raw.p : (const uint8_t *)"";
	m.len = raw.set ? raw.len : 0;
	m.resource_version = m.cont = "";
	rc = s->cb(s->arg, KL_PB_ITEM, &m);
	return rc < 0 ? fail(s, err, rc, "callback") : 0;
}

/* A copy of a slice, NUL-terminated; NULL on ENOMEM. */
static char *slice_dup(const struct slice *sl)
{
	size_t n = sl->set ? sl->len : 0;
	char *c = malloc(n + 1);

	if (c)
		slice_copy(sl, c, n + 1);
	return c;
}

static int listmeta_take(struct kl_pb_stream *s, const uint8_t *p, size_t n,
			 struct kl_error *err)
{
	k8s_ListMeta lm = k8s_ListMeta_init_zero;
	struct slice rv = { 0 }, cont = { 0 };
	pb_istream_t is = pb_istream_from_buffer(p, n);
	struct in_range in = { p, p + n };

	slice_bind(&lm.resourceVersion, &rv, &in);
	slice_bind(&lm.continue_, &cont, &in);
	if (!pb_decode(&is, k8s_ListMeta_fields, &lm))
		return fail(s, err, -EPROTO, "a ListMeta that does not decode");
	free(s->rv);
	free(s->cont);
	s->rv = slice_dup(&rv);
	s->cont = slice_dup(&cont);
	if (!s->rv || !s->cont)
		return fail(s, err, -ENOMEM, "");
	return 0;
}

/* Collected bytes of the current target, from the chunk or from buf. */
static int collected(struct kl_pb_stream *s, const uint8_t *p, size_t n, struct kl_error *err)
{
	struct slice raw = { 0 };
	struct in_range in = { p, p + n };
	struct kl_pb_msg m = { 0 };
	pb_istream_t is;
	k8s_TypeMeta tm = k8s_TypeMeta_init_zero;
	int rc;

	switch (s->target) {
	case T_TYPEMETA:
		is = pb_istream_from_buffer(p, n);
		slice_bind(&tm.kind, &raw, &in);
		if (!pb_decode(&is, k8s_TypeMeta_fields, &tm))
			return fail(s, err, -EPROTO, "a TypeMeta that does not decode");
		slice_copy(&raw, s->kind, sizeof(s->kind));
		return 0;
	case T_DOCRAW: /* kept until finish */
		free(s->doc);
		if (p == s->buf) { /* take the buffer over */
			s->doc = s->buf;
			s->buf = NULL;
			s->cap = 0;
		} else if ((s->doc = malloc(n ? n : 1)) && n) {
			memcpy(s->doc, p, n);
		}
		s->doc_len = n;
		return s->doc ? 0 : fail(s, err, -ENOMEM, "");
	case T_LISTMETA:
		return listmeta_take(s, p, n, err);
	case T_ITEM:
		m.kind = s->kind;
		m.data = p;
		m.len = n;
		m.resource_version = m.cont = "";
		rc = s->cb(s->arg, KL_PB_ITEM, &m);
		return rc < 0 ? fail(s, err, rc, "callback") : 0;
	case T_FRAME:
		return frame_deliver(s, p, n, err);
	}
	return 0;
}

/* ---------------------------------------------------------------- the reader */

/* What to do with a length-delimited field of length n, at the current level. */
static int on_len(struct kl_pb_stream *s, uint64_t n, struct kl_error *err)
{
	uint64_t bound = s->max;

	s->st = n ? R_SKIP : R_TAG;
	s->need = n;
	if (s->in_list) {
		if (s->off > s->list_end || n > s->list_end - s->off)
			return fail(s, err, -EPROTO, "a field past the end of the list");
		if (s->field == 1)
			s->target = T_LISTMETA;
		else if (s->field == 2)
			s->target = T_ITEM;
		else
			return 0;
	} else if (s->field == 1) {
		s->target = T_TYPEMETA;
		bound = HEAD_MAX;
	} else if (s->field == 2 && s->mode == KL_PB_LIST) {
		s->in_list = true;
		s->list_end = s->off + n;
		s->st = R_TAG;
		return 0;
	} else if (s->field == 2) {
		s->target = T_DOCRAW;
	} else {
		return 0;
	}
	if (n > bound)
		return fail(s, err, -EPROTO, "an object over the size bound");
	s->st = R_COLLECT;
	s->len = 0;
	if (n)
		return 0;
	s->st = R_TAG; /* an empty message: complete already */
	return collected(s, (const uint8_t *)"", 0, err);
}

static int on_tag(struct kl_pb_stream *s, uint64_t tag, struct kl_error *err)
{
	unsigned wire = (unsigned)(tag & 7);

	if (tag >> 3 == 0 || tag >> 3 > UINT32_MAX)
		return fail(s, err, -EPROTO, "a bad field number");
	if (s->in_list && s->off > s->list_end) /* the tag itself ran past the List */
		return fail(s, err, -EPROTO, "a field past the end of the list");
	s->field = (uint32_t)(tag >> 3);
	switch (wire) {
	case 0:
		s->st = R_VARINT;
		return 0;
	case 1:
		s->st = R_SKIP;
		s->need = 8;
		return 0;
	case 5:
		s->st = R_SKIP;
		s->need = 4;
		return 0;
	case 2:
		s->st = R_LEN;
		return 0;
	}
	return fail(s, err, -EPROTO, "a bad wire type");
}

/* Reads one varint byte; 1 when the varint is complete (in s->v). */
static int varint_byte(struct kl_pb_stream *s, uint8_t b, struct kl_error *err)
{
	if (s->nv == 9 && b > 1)
		return fail(s, err, -EPROTO, "a varint over 64 bits");
	s->v |= (uint64_t)(b & 0x7f) << (7 * s->nv);
	s->nv++;
	return b & 0x80 ? 0 : 1;
}

/* After a field of the List: it must not run past the List's end. */
static int field_done(struct kl_pb_stream *s, struct kl_error *err)
{
	s->st = R_TAG;
	if (s->in_list && s->off > s->list_end)
		return fail(s, err, -EPROTO, "a field past the end of the list");
	return 0;
}

/* Collects up to the need of the current target; delivers when complete. */
static int collect(struct kl_pb_stream *s, const uint8_t *p, size_t n, size_t *used,
		   struct kl_error *err)
{
	size_t take = s->need < n ? (size_t)s->need : n;
	int rc;

	/* after an object: the next field, or the next frame */
	enum rstate next = s->target == T_FRAME ? R_FRAMELEN : R_TAG;

	*used = take;
	if (s->len == 0 && take == s->need) { /* whole in the chunk: no copy */
		s->off += take;
		s->st = next;
		return collected(s, p, take, err);
	}
	if (s->len + s->need > s->cap) {
		size_t cap = s->len + (size_t)s->need;
		uint8_t *b = realloc(s->buf, cap);

		if (!b)
			return fail(s, err, -ENOMEM, "");
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, take);
	s->len += take;
	s->need -= take;
	s->off += take;
	if (s->need)
		return 0;
	s->st = next;
	rc = collected(s, s->buf, s->len, err);
	s->len = 0;
	return rc;
}

/* The next state after a complete frame length (EVENTS). */
static int on_frame_len(struct kl_pb_stream *s, struct kl_error *err)
{
	if (s->v > s->max)
		return fail(s, err, -EPROTO, "a watch frame over the size bound");
	s->need = s->v;
	s->v = 0;
	s->nv = 0;
	s->target = T_FRAME;
	s->len = 0;
	s->st = R_COLLECT;
	if (!s->need)
		return fail(s, err, -EPROTO, "an empty watch frame");
	return 0;
}

static int step(struct kl_pb_stream *s, const uint8_t *p, size_t n, size_t *used,
		struct kl_error *err)
{
	uint64_t skip;
	int rc;

	*used = 1;
	switch (s->st) {
	case R_MAGIC:
		if (p[0] != magic[s->nv])
			return fail(s, err, -EPROTO, "no k8s protobuf magic");
		s->off++;
		if (++s->nv == 4) {
			s->nv = 0;
			s->st = R_TAG;
		}
		return 0;
	case R_FRAMELEN:
		s->v = s->v << 8 | p[0];
		s->off++;
		return ++s->nv == 4 ? on_frame_len(s, err) : 0;
	case R_TAG:
	case R_LEN:
	case R_VARINT:
		s->off++;
		if ((rc = varint_byte(s, p[0], err)) <= 0)
			return rc;
		skip = s->v;
		s->v = 0;
		s->nv = 0;
		if (s->st == R_TAG)
			return on_tag(s, skip, err);
		if (s->st == R_LEN)
			return on_len(s, skip, err);
		return field_done(s, err);
	case R_SKIP:
		*used = s->need < n ? (size_t)s->need : n;
		s->need -= *used;
		s->off += *used;
		return s->need ? 0 : field_done(s, err);
	case R_COLLECT:
		return collect(s, p, n, used, err);
	}
	return 0;
}

/* ---------------------------------------------------------------- interface */

struct kl_pb_stream *kl_pb_stream_new(enum kl_pb_mode mode, size_t max_object_bytes,
				      kl_pb_cb cb, void *arg)
{
	struct kl_pb_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->mode = mode;
	s->max = max_object_bytes ? max_object_bytes : DEFAULT_MAX;
	s->cb = cb;
	s->arg = arg;
	s->st = mode == KL_PB_EVENTS ? R_FRAMELEN : R_MAGIC;
	return s;
}

void kl_pb_stream_free(struct kl_pb_stream *s)
{
	if (!s)
		return;
	free(s->buf);
	free(s->doc);
	free(s->rv);
	free(s->cont);
	free(s);
}

int kl_pb_stream_feed(struct kl_pb_stream *s, const char *buf, size_t len, struct kl_error *err)
{
	const uint8_t *p = (const uint8_t *)buf;
	size_t used;
	int rc;

	if (s->rc)
		return s->rc;
	if (s->finished)
		return fail(s, err, -EPROTO, "bytes after the end");
	while (len) {
		/* the List ends exactly at a field boundary */
		if (s->in_list && s->st == R_TAG && !s->nv && s->off == s->list_end)
			s->in_list = false;
		if ((rc = step(s, p, len, &used, err)))
			return rc;
		p += used;
		len -= used;
	}
	return 0;
}

int kl_pb_stream_finish(struct kl_pb_stream *s, struct kl_error *err)
{
	struct kl_pb_msg m = { 0 };
	int rc;

	if (s->rc)
		return s->rc;
	if (s->finished)
		return fail(s, err, -EPROTO, "finished twice");
	s->finished = true;
	if (s->in_list && s->st == R_TAG && !s->nv && s->off == s->list_end)
		s->in_list = false;
	if (s->mode == KL_PB_EVENTS) {
		if (s->st != R_FRAMELEN || s->nv)
			return fail(s, err, -EPROTO, "the stream ends inside a watch frame");
		return 0;
	}
	if (s->st != R_TAG || s->nv || s->in_list)
		return fail(s, err, -EPROTO, "the stream ends inside an object");
	m.kind = s->kind;
	m.resource_version = s->rv ? s->rv : "";
	m.cont = s->cont ? s->cont : "";
	m.data = s->doc ? s->doc : (const uint8_t *)"";
	m.len = s->doc_len;
	rc = s->cb(s->arg, KL_PB_DOC, &m);
	return rc < 0 ? fail(s, err, rc, "callback") : 0;
}

uint64_t kl_pb_stream_offset(const struct kl_pb_stream *s)
{
	return s->off;
}
