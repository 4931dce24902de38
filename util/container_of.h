/*
 * util/container_of.h - the owner of an embedded member, from a pointer to it.
 *
 * uv handles, kl_timers and list links are embedded in the structs that own them
 * (STYLE.md, "Memory and handles"); callbacks get the member and find the owner
 * with this macro. One definition for every layer.
 */
#ifndef KL_UTIL_CONTAINER_OF_H
#define KL_UTIL_CONTAINER_OF_H

#include <stddef.h>

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
