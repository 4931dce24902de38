/*
 * kubeclient/resource.h - the Kubernetes resources Kloompas can watch.
 *
 * Controllers declare the informers they need as a bit mask of these in the
 * controller table; the informer factory starts one shared informer per bit that
 * some enabled controller asked for, so the process never watches what no one reads.
 */
#ifndef KL_KUBECLIENT_RESOURCE_H
#define KL_KUBECLIENT_RESOURCE_H

enum kl_resource {
	KL_RES_PODS = 1 << 0,
	KL_RES_NAMESPACES = 1 << 1,
	KL_RES_DEPLOYMENTS = 1 << 2,
};

#define KL_RES_ALL (KL_RES_PODS | KL_RES_NAMESPACES | KL_RES_DEPLOYMENTS)

/* "pods", "namespaces", "deployments"; NULL for anything else. */
const char *kl_resource_name(enum kl_resource r);

#endif
