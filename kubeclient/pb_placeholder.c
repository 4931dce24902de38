/*
 * kubeclient/pb_placeholder.c - PLACEHOLDER for kubeclient/pb.c and objects_pb.c.
 *
 * *** Drop this file when branch pb (the real protobuf decoder) is merged. ***
 *
 * Branch negotiate (content negotiation in client.c, reflector.c, informer.c) was
 * written in parallel with branch pb, which implements pb.h. So that negotiate
 * builds and its JSON paths can be tested on their own, every function here
 * refuses with -ENOTSUP: kl_kube_protobuf_supported() then says false and
 * kloompas keeps to JSON whatever --kube-api-content-type says.
 */
#include "kubeclient/pb.h"

#include <errno.h>
#include <stdlib.h>

struct kl_pb_stream {
	uint64_t offset;
};

struct kl_pb_stream *kl_pb_stream_new(enum kl_pb_mode mode, size_t max_object_bytes,
				      kl_pb_cb cb, void *arg)
{
	return calloc(1, sizeof(struct kl_pb_stream));
}

void kl_pb_stream_free(struct kl_pb_stream *s)
{
	free(s);
}

int kl_pb_stream_feed(struct kl_pb_stream *s, const char *buf, size_t len,
		      struct kl_error *err)
{
	kl_error_set(err, NULL, 0, 0, "protobuf decoding is not built (pb_placeholder.c)");
	return -ENOTSUP;
}

int kl_pb_stream_finish(struct kl_pb_stream *s, struct kl_error *err)
{
	kl_error_set(err, NULL, 0, 0, "protobuf decoding is not built (pb_placeholder.c)");
	return -ENOTSUP;
}

uint64_t kl_pb_stream_offset(const struct kl_pb_stream *s)
{
	return s->offset;
}

int kl_pod_project_pb(struct kl_intern *t, const struct kl_objects_opts *o, const uint8_t *data,
		      size_t len, struct kl_pod **out)
{
	*out = NULL;
	return -ENOTSUP;
}

int kl_namespace_project_pb(struct kl_intern *t, const struct kl_objects_opts *o,
			    const uint8_t *data, size_t len, struct kl_namespace **out)
{
	*out = NULL;
	return -ENOTSUP;
}

int kl_deployment_project_pb(struct kl_intern *t, const struct kl_objects_opts *o,
			     const uint8_t *data, size_t len, struct kl_deployment **out)
{
	*out = NULL;
	return -ENOTSUP;
}

int kl_pb_meta_rv(const uint8_t *data, size_t len, char *rv, size_t size)
{
	return -ENOTSUP;
}

int kl_pb_status(const uint8_t *data, size_t len, int *code, char *reason, size_t reason_size,
		 char *message, size_t message_size)
{
	return -ENOTSUP;
}
