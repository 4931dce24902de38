/*
 * notify/text.c - a pod's evidence as text, for every driver (see internal.h).
 *
 * Slack, the webhook and Alertmanager annotations all show the same facts about a
 * crashing pod - its state line and the tail of its last log - and must cut the
 * log the same way (on a line, never inside a character), so that part lives
 * once here; each driver only escapes the strings its way.
 */
#include "notify/internal.h"

#include <string.h>

#define TAIL_MAX 1500	     /* bytes of one log tail in a message */
#define DESCRIPTION_MAX 8000 /* one alert's description annotation */
#define TRAILER_RESERVE 200  /* room kept for the "(N more ...)" line */

const char *kl__str_or(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

void kl__put_text(struct kl_buf *b, const char *s)
{
	if (s)
		kl_buf_utf8(b, s, strlen(s));
}

const char *kl__log_tail(const char *log, size_t *len, bool *cut)
{
	size_t n = strlen(log);
	const char *start = log, *nl;

	while (n && (log[n - 1] == '\n' || log[n - 1] == '\r'))
		n--;
	*cut = n > TAIL_MAX;
	if (*cut) {
		start = log + n - TAIL_MAX;
		while (start < log + n && ((unsigned char)*start & 0xc0) == 0x80)
			start++;
		nl = memchr(start, '\n', (size_t)(log + n - start));
		if (nl && nl + 1 < log + n)
			start = nl + 1;
	}
	*len = (size_t)(log + n - start);
	return start;
}

void kl__pod_state(struct kl_buf *b, const struct kl_notice_pod *p,
		   void (*put)(struct kl_buf *b, const char *s))
{
	put(b, kl__str_or(p->reason, "Waiting"));
	kl_buf_printf(b, ", %d restart%s", p->restarts, p->restarts == 1 ? "" : "s");
	if (p->last_reason) {
		kl_buf_printf(b, ", last exit %d (", p->exit_code);
		put(b, p->last_reason);
		kl_buf_puts(b, ")");
	}
}

void kl__pod_lines(struct kl_buf *b, const struct kl_notice_pod *p, const struct kl__pod_style *st)
{
	const char *tail;
	size_t len;
	bool cut;

	kl_buf_puts(b, st->lead);
	st->put_name(b, kl__str_or(p->pod, "?"));
	kl_buf_puts(b, st->mid);
	st->put_name(b, kl__str_or(p->container, "?"));
	kl_buf_puts(b, st->end);
	kl__pod_state(b, p, st->put);
	kl_buf_puts(b, "\n");
	if (p->log_error) {
		kl_buf_puts(b, "(no log: ");
		st->put(b, p->log_error);
		kl_buf_puts(b, ")\n");
	} else if (p->log) {
		tail = kl__log_tail(p->log, &len, &cut);
		if (len)
			st->put_log(b, tail, len, cut);
	}
}

static void plain_log(struct kl_buf *b, const char *tail, size_t len, bool cut)
{
	if (cut)
		kl_buf_puts(b, "\xe2\x80\xa6\n");
	kl_buf_utf8(b, tail, len);
	kl_buf_puts(b, "\n");
}

/* "pod P container C: STATE", then the log tail as is */
static const struct kl__pod_style plain = {
    "pod ", " container ", ": ", kl__put_text, kl__put_text, plain_log,
};

/* Cut at DESCRIPTION_MAX with "(N more pods)"; empty (len 0) when x has no pods. */
void kl__plain_evidence(struct kl_buf *b, const struct kl_notice *x)
{
	struct kl_buf one = {0};
	size_t i, left;

	for (i = 0; i < x->npods; i++) {
		one.len = 0;
		kl__pod_lines(&one, &x->pods[i], &plain);
		if (one.oom) {
			b->oom = true;
			break;
		}
		if (b->len + one.len + TRAILER_RESERVE > DESCRIPTION_MAX) {
			left = x->npods - i;
			kl_buf_printf(b, "(%zu more pod%s)\n", left, left == 1 ? "" : "s");
			break;
		}
		if (i)
			kl_buf_puts(b, "\n");
		kl_buf_add(b, one.p, one.len);
	}
	kl_buf_free(&one);
	kl_buf_chomp(b);
}
