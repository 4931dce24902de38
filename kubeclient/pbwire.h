/*
 * kubeclient/pbwire.h - a protobuf message read field by field, in place.
 *
 * Why not nanopb here: a LIST of 50,000 pods is ~6 KB of protobuf a pod, of which
 * the projection keeps a few dozen fields. nanopb's table-driven decoder
 * looks every field up in its descriptor (an unknown one twice: as a field, then
 * as an extension) and reads each varint byte through a stream callback: with the
 * projection and the store that was 0.27-0.31 CPU s of a sync's ~0.85 (curl
 * spends 0.49 on the whole LIST), and the client fell behind the API server's send
 * rate. Read this way the same LIST projects and stores in 0.08-0.12 CPU s
 * (bench/README.md). A message is a loop over kl__pbw_next() with a switch on the
 * field number: a skipped field costs its tag and its length, nothing else. The
 * framing of LIST and WATCH streams and the envelopes around each object
 * (TypeMeta, Unknown, ListMeta, WatchEvent: a few fields per object or per list)
 * stay with nanopb (pb.c).
 *
 * Rules, which are nanopb's and Go's: a field number of 0, a wire type other than
 * varint, 64-bit, length-delimited or 32-bit, a varint over 64 bits and a length
 * past the message's end are malformed; so is a field we read sent with another
 * wire type than its declared one (kl__pbw_want). A field that appears twice is
 * read twice: the last scalar or string wins, a message is merged.
 */
#ifndef KL_KUBECLIENT_PBWIRE_H
#define KL_KUBECLIENT_PBWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The rest of a message. */
struct kl__pbw {
	const uint8_t *p, *end;
};

enum { KL_PBW_VARINT = 0, KL_PBW_FIXED64 = 1, KL_PBW_BYTES = 2, KL_PBW_FIXED32 = 5 };

/* One field: its number, wire type, and value (a varint, or where its bytes lie). */
struct kl__pbw_field {
	uint32_t num;
	unsigned wire;
	uint64_t v;	  /* KL_PBW_VARINT */
	const uint8_t *p; /* the others: the field's bytes */
	size_t len;
};

static inline struct kl__pbw kl__pbw_of(const uint8_t *p, size_t len)
{
	struct kl__pbw r = { p, p + len };

	return r;
}

/* A varint into *v: 0, or -1 when cut or over 64 bits. */
static inline int kl__pbw_varint(struct kl__pbw *r, uint64_t *v)
{
	uint64_t x = 0;
	unsigned shift;

	for (shift = 0; shift < 64 && r->p < r->end; shift += 7) {
		uint8_t b = *r->p++;

		if (shift == 63 && b > 1)
			return -1;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* The next field into *f: 1, 0 at the message's end, -1 when malformed. */
static inline int kl__pbw_next(struct kl__pbw *r, struct kl__pbw_field *f)
{
	uint64_t tag, n;

	if (r->p == r->end)
		return 0;
	if (kl__pbw_varint(r, &tag) || tag >> 3 == 0 || tag >> 3 > UINT32_MAX)
		return -1;
	f->num = (uint32_t)(tag >> 3);
	f->wire = (unsigned)(tag & 7);
	f->v = 0;
	f->p = NULL;
	f->len = 0;
	switch (f->wire) {
	case KL_PBW_VARINT:
		return kl__pbw_varint(r, &f->v) ? -1 : 1;
	case KL_PBW_FIXED64:
		n = 8;
		break;
	case KL_PBW_FIXED32:
		n = 4;
		break;
	case KL_PBW_BYTES:
		if (kl__pbw_varint(r, &n))
			return -1;
		break;
	default:
		return -1;
	}
	if (n > (uint64_t)(r->end - r->p))
		return -1;
	f->p = r->p;
	f->len = (size_t)n;
	r->p += n;
	return 1;
}

/* Whether a field we read came with its declared wire type. */
static inline bool kl__pbw_want(const struct kl__pbw_field *f, unsigned wire)
{
	return f->wire == wire;
}

/* A length-delimited field's bytes as a message to read. */
static inline struct kl__pbw kl__pbw_sub(const struct kl__pbw_field *f)
{
	return kl__pbw_of(f->p, f->len);
}

/* An int32 field (Go sends a negative one as 10 bytes): false when out of range. */
static inline bool kl__pbw_int32(const struct kl__pbw_field *f, int32_t *out)
{
	int64_t v = (int64_t)f->v;

	if (v < INT32_MIN || v > INT32_MAX)
		return false;
	*out = (int32_t)v;
	return true;
}

/* Bytes (e.g. a string field's) into buf (size bytes, cut to fit, NUL-terminated). */
static inline void kl__pbw_copy(const uint8_t *p, size_t n, char *buf, size_t size)
{
	if (n >= size)
		n = size - 1;
	if (n)
		memcpy(buf, p, n);
	buf[n] = '\0';
}

#endif
