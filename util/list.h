/*
 * util/list.h - an intrusive doubly linked list (the kernel's list_head, reduced).
 *
 * Queues of requests and messages (kubeclient/http.c, notify/queue.c) need
 * O(1) removal from the middle when something is cancelled; embedding the link in
 * the element needs no allocation. An empty head points at itself.
 */
#ifndef KL_UTIL_LIST_H
#define KL_UTIL_LIST_H

#include <stdbool.h>

struct kl_link {
	struct kl_link *prev, *next;
};

static inline void kl_list_init(struct kl_link *head)
{
	head->prev = head->next = head;
}

static inline bool kl_list_empty(const struct kl_link *head)
{
	return head->next == head;
}

/* Unlinks l and leaves it pointing at itself (so a second del is harmless). */
static inline void kl_list_del(struct kl_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->prev = l->next = l;
}

static inline void kl_list_add_tail(struct kl_link *head, struct kl_link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

#endif
