/*
 * kubeclient/resource.c - names of the watchable resources (see resource.h).
 */
#include "kubeclient/resource.h"

#include <stddef.h>

const char *kl_resource_name(enum kl_resource r)
{
	switch (r) {
	case KL_RES_PODS:
		return "pods";
	case KL_RES_NAMESPACES:
		return "namespaces";
	case KL_RES_DEPLOYMENTS:
		return "deployments";
	}
	return NULL;
}
