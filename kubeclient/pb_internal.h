/*
 * kubeclient/pb_internal.h - what pb.c and objects_pb.c share around nanopb.
 *
 * Every message is decoded from a buffer that stays put for the call
 * (pb_istream_from_buffer), so a string or bytes field need not be copied: its
 * callback records where its bytes are (a slice of the input) and skips them.
 * Interning or copying happens afterwards, only for what is kept.
 */
#ifndef KL_KUBECLIENT_PB_INTERNAL_H
#define KL_KUBECLIENT_PB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pb_decode.h>

/* The buffer being decoded. */
struct kl__pb_in {
	const uint8_t *lo, *hi;
};

/* A field's bytes inside the buffer being decoded; set false when absent. */
struct kl__pb_slice {
	const uint8_t *p;
	size_t len;
	bool set;
	const struct kl__pb_in *in;
};

/*
 * pb_callback_t decode function: arg points at a struct kl__pb_slice (the last one
 * wins). A string sent with a scalar wire type reaches it as a copy on nanopb's
 * stack, not in the buffer: that fails the decode (Go would refuse it too).
 */
bool kl__pb_slice_cb(pb_istream_t *st, const pb_field_t *f, void **arg);

/* Points cb at the slice, which lies in the buffer in. */
static inline void kl__pb_slice_bind(pb_callback_t *cb, struct kl__pb_slice *sl,
				     const struct kl__pb_in *in)
{
	cb->funcs.decode = kl__pb_slice_cb;
	cb->arg = sl;
	sl->in = in;
}

/* Copies a slice into buf (size bytes, cut to fit, NUL-terminated). */
void kl__pb_slice_copy(const struct kl__pb_slice *sl, char *buf, size_t size);

#endif
