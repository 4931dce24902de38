/*
 * config/node.c - YAML to a line-marked tree, and table-driven binding (see node.h).
 *
 * Why a tree and not bind-while-parsing: every check after parsing (unknown keys,
 * types, "url and url_file are both set", notifier names) must say FILE:LINE, and
 * controller sections are bound later by their own tables. libyaml's event API
 * gives marks; we keep them in small nodes in the config's arena.
 *
 * Design: the parser is a short recursive descent over events, bounded by
 * KL_CONF_MAX_DEPTH so hostile input cannot recurse us off the stack; the input is
 * capped at KL_CONF_MAX_FILE. We refuse what makes YAML surprising in a config
 * file (anchors, aliases, tags, several documents, duplicate keys) instead of
 * giving it a meaning. Binding follows nginx's ngx_command_t: one generic setter
 * per type, so every key of every controller gets the same checks and messages.
 * Values of secret files never reach an error message.
 */
#include "config/node.h"

#include "util/duration.h"
#include "util/glob.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define KL_CONF_MAX_DEPTH 64	       /* maps and lists nested in each other */
#define KL_CONF_MAX_FILE (1024 * 1024) /* config file bytes */
#define KL_CONF_MAX_SECRET (64 * 1024) /* secret file bytes */
#define KL_CONF_MAX_ROWS 64	       /* rows in one key table */
#define KL_CONF_PATH_MAX 256	       /* "chatops.allow[3].namespaces" in messages */
#define KL_CONF_SHOW_MAX 64	       /* bytes of a bad value quoted in a message */

/* ------------------------------------------------------------------------ */
/* Reading files                                                             */
/* ------------------------------------------------------------------------ */

/*
 * Reads at most max bytes of path into a new malloc'd buffer (NUL-terminated,
 * free it with free()). Returns 0, a negative errno from open/read, or -EFBIG
 * when the file holds more than max bytes. The buffer is transient on purpose:
 * the config file text is not needed once the tree is built.
 */
static int read_capped(const char *path, size_t max, char **out, size_t *outlen)
{
	size_t cap = 4096, len = 0;
	char *buf, *nbuf;
	ssize_t r;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		if (len == cap) {
			if (cap > max) {
				ret = -EFBIG;
				goto out_free;
			}
			cap *= 2;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				ret = -ENOMEM;
				goto out_free;
			}
			buf = nbuf;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out_free;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > max) {
		ret = -EFBIG;
		goto out_free;
	}
	if (len == cap) {
		nbuf = realloc(buf, cap + 1);
		if (!nbuf) {
			ret = -ENOMEM;
			goto out_free;
		}
		buf = nbuf;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	close(fd);
	return 0;

out_free:
	free(buf);
out_close:
	close(fd);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */
/* ------------------------------------------------------------------------ */

struct parser {
	yaml_parser_t yp;
	yaml_event_t ev;
	int have_ev;
	struct kl_arena *arena;
	const char *name; /* file name for errors */
	const char *buf;
	size_t len;
	struct kl_error *err;
};

static int mark_line(const yaml_mark_t *m)
{
	return m->line >= INT_MAX ? INT_MAX : (int)m->line + 1;
}

static int mark_col(const yaml_mark_t *m)
{
	return m->column >= INT_MAX ? INT_MAX : (int)m->column + 1;
}

/* 1-based line of a byte offset, for reader errors that carry no mark */
static int offset_line(const struct parser *p, size_t off)
{
	size_t i;
	int line = 1;

	for (i = 0; i < off && i < p->len; i++)
		if (p->buf[i] == '\n' && line < INT_MAX)
			line++;
	return line;
}

static int libyaml_error(struct parser *p)
{
	const yaml_parser_t *yp = &p->yp;
	const char *problem = yp->problem ? yp->problem : "unknown YAML error";

	switch (yp->error) {
	case YAML_MEMORY_ERROR:
		kl_error_set(p->err, p->name, 0, 0, "out of memory");
		return -ENOMEM;
	case YAML_READER_ERROR:
		kl_error_set(p->err, p->name, offset_line(p, yp->problem_offset), 0, "%s", problem);
		return -EINVAL;
	default:
		if (yp->context)
			kl_error_set(p->err, p->name, mark_line(&yp->problem_mark),
				     mark_col(&yp->problem_mark), "%s (%s at line %d)", problem,
				     yp->context, mark_line(&yp->context_mark));
		else
			kl_error_set(p->err, p->name, mark_line(&yp->problem_mark),
				     mark_col(&yp->problem_mark), "%s", problem);
		return -EINVAL;
	}
}

static int parse_fail(struct parser *p, const yaml_mark_t *m, const char *msg)
{
	kl_error_set(p->err, p->name, mark_line(m), mark_col(m), "%s", msg);
	return -EINVAL;
}

/* Moves to the next event and refuses the YAML features we do not support. */
static int next_event(struct parser *p)
{
	const yaml_event_t *e = &p->ev;
	const yaml_char_t *anchor = NULL, *tag = NULL;

	if (p->have_ev) {
		yaml_event_delete(&p->ev);
		p->have_ev = 0;
	}
	if (!yaml_parser_parse(&p->yp, &p->ev))
		return libyaml_error(p);
	p->have_ev = 1;
	switch (e->type) {
	case YAML_ALIAS_EVENT:
		return parse_fail(p, &e->start_mark, "anchors and aliases are not supported");
	case YAML_SCALAR_EVENT:
		anchor = e->data.scalar.anchor;
		tag = e->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = e->data.sequence_start.anchor;
		tag = e->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = e->data.mapping_start.anchor;
		tag = e->data.mapping_start.tag;
		break;
	default:
		break;
	}
	if (anchor)
		return parse_fail(p, &e->start_mark, "anchors and aliases are not supported");
	if (tag)
		return parse_fail(p, &e->start_mark, "tags are not supported");
	return 0;
}

/* A growing array of children, in the arena (the old copy is simply left behind). */
struct kids {
	struct kl_conf_node *v;
	size_t n, cap;
};

static struct kl_conf_node *kids_push(struct parser *p, struct kids *k)
{
	struct kl_conf_node *nv;
	size_t ncap;

	if (k->n == k->cap) {
		ncap = k->cap ? k->cap * 2 : 4;
		if (ncap > SIZE_MAX / sizeof(*nv))
			return NULL;
		nv = kl_arena_alloc(p->arena, ncap * sizeof(*nv));
		if (!nv)
			return NULL;
		if (k->n)
			memcpy(nv, k->v, k->n * sizeof(*nv));
		k->v = nv;
		k->cap = ncap;
	}
	return &k->v[k->n++];
}

static int is_null_text(const char *s)
{
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

/* Copies the scalar of the current event; NULL with err set on failure. */
static const char *scalar_dup(struct parser *p, int *ret)
{
	const yaml_event_t *e = &p->ev;
	size_t len = e->data.scalar.length;
	const char *s = (const char *)e->data.scalar.value;
	char *v;

	if (memchr(s, '\0', len)) {
		*ret = parse_fail(p, &e->start_mark, "strings with NUL bytes are not supported");
		return NULL;
	}
	if (e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is_null_text(s))
		len = 0;
	v = kl_arena_strndup(p->arena, s, len);
	if (!v) {
		kl_error_set(p->err, p->name, 0, 0, "out of memory");
		*ret = -ENOMEM;
	}
	return v;
}

static int key_cmp(const void *a, const void *b)
{
	const struct kl_conf_node *x = *(const struct kl_conf_node *const *)a;
	const struct kl_conf_node *y = *(const struct kl_conf_node *const *)b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	/* document order among equal keys, so the first one really is the first */
	return x < y ? -1 : x > y;
}

/*
 * Refuses a key given twice. Sorting keeps this O(n log n) for the huge maps a
 * fuzzer writes; the reported pair is the earliest repeat in the document.
 */
static int check_dup_keys(struct parser *p, struct kl_conf_node *map)
{
	const struct kl_conf_node **v, *first = NULL, *second = NULL;
	size_t i;

	if (map->nkids < 2)
		return 0;
	v = kl_arena_alloc(p->arena, map->nkids * sizeof(*v));
	if (!v) {
		kl_error_set(p->err, p->name, 0, 0, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < map->nkids; i++)
		v[i] = &map->kids[i];
	qsort(v, map->nkids, sizeof(*v), key_cmp);
	for (i = 1; i < map->nkids; i++) {
		if (strcmp(v[i - 1]->key, v[i]->key))
			continue;
		if (i >= 2 && !strcmp(v[i - 2]->key, v[i]->key))
			continue; /* a third copy: the second one is already a candidate */
		if (!second || v[i] < second) {
			first = v[i - 1];
			second = v[i];
		}
	}
	if (!second)
		return 0;
	kl_error_set(p->err, p->name, second->key_line, 0,
		     "duplicate key \"%s\" (first at line %d)", second->key, first->key_line);
	return -EINVAL;
}

static int parse_node(struct parser *p, int depth, struct kl_conf_node *n);

static int parse_seq(struct parser *p, int depth, struct kl_conf_node *n)
{
	struct kids k = {0};
	struct kl_conf_node *kid;
	int ret;

	for (;;) {
		ret = next_event(p);
		if (ret)
			return ret;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		kid = kids_push(p, &k);
		if (!kid) {
			kl_error_set(p->err, p->name, 0, 0, "out of memory");
			return -ENOMEM;
		}
		ret = parse_node(p, depth + 1, kid);
		if (ret)
			return ret;
	}
	n->kids = k.v;
	n->nkids = k.n;
	return 0;
}

static int parse_map(struct parser *p, int depth, struct kl_conf_node *n)
{
	struct kids k = {0};
	struct kl_conf_node *kid;
	const char *key;
	int ret = 0, key_line;

	for (;;) {
		ret = next_event(p);
		if (ret)
			return ret;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (p->ev.type != YAML_SCALAR_EVENT)
			return parse_fail(p, &p->ev.start_mark, "map keys must be strings");
		key = scalar_dup(p, &ret);
		if (!key)
			return ret;
		if (!*key && p->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			return parse_fail(p, &p->ev.start_mark, "map key is empty");
		key_line = mark_line(&p->ev.start_mark);
		ret = next_event(p);
		if (ret)
			return ret;
		kid = kids_push(p, &k);
		if (!kid) {
			kl_error_set(p->err, p->name, 0, 0, "out of memory");
			return -ENOMEM;
		}
		ret = parse_node(p, depth + 1, kid);
		if (ret)
			return ret;
		kid->key = key;
		kid->key_line = key_line;
	}
	n->kids = k.v;
	n->nkids = k.n;
	return check_dup_keys(p, n);
}

/* Builds n from the current event (a scalar or the start of a list or map). */
static int parse_node(struct parser *p, int depth, struct kl_conf_node *n)
{
	const yaml_event_t *e = &p->ev;
	int ret = 0;

	memset(n, 0, sizeof(*n));
	n->line = mark_line(&e->start_mark);
	n->col = mark_col(&e->start_mark);
	switch (e->type) {
	case YAML_SCALAR_EVENT:
		n->kind = KL_CONF_SCALAR;
		n->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		n->value = scalar_dup(p, &ret);
		return n->value ? 0 : ret;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (depth > KL_CONF_MAX_DEPTH) {
			kl_error_set(p->err, p->name, n->line, n->col,
				     "nested deeper than %d levels", KL_CONF_MAX_DEPTH);
			return -EINVAL;
		}
		if (e->type == YAML_SEQUENCE_START_EVENT) {
			n->kind = KL_CONF_SEQ;
			return parse_seq(p, depth, n);
		}
		n->kind = KL_CONF_MAP;
		return parse_map(p, depth, n);
	default:
		/* libyaml only gives node events here; anything else is our bug */
		return parse_fail(p, &e->start_mark, "unexpected YAML event");
	}
}

static const char *kind_name(const struct kl_conf_node *n)
{
	switch (n->kind) {
	case KL_CONF_SEQ:
		return "a list";
	case KL_CONF_MAP:
		return "a map";
	default:
		return n->plain && !*n->value ? "null" : "a string";
	}
}

static int parse_stream(struct parser *p, struct kl_conf_node **root)
{
	struct kl_conf_node *n;
	int ret;

	n = kl_arena_alloc(p->arena, sizeof(*n));
	if (!n) {
		kl_error_set(p->err, p->name, 0, 0, "out of memory");
		return -ENOMEM;
	}
	n->kind = KL_CONF_MAP;
	n->line = 1;
	n->col = 1;
	ret = next_event(p); /* stream start */
	if (!ret)
		ret = next_event(p);
	if (ret)
		return ret;
	if (p->ev.type == YAML_STREAM_END_EVENT) {
		*root = n; /* an empty file */
		return 0;
	}
	ret = next_event(p); /* past the document start */
	if (!ret)
		ret = parse_node(p, 1, n);
	if (ret)
		return ret;
	if (n->kind == KL_CONF_SCALAR && n->plain && !*n->value) {
		/* an empty document ("---" alone, or comments only) */
		n->kind = KL_CONF_MAP;
		n->value = NULL;
		n->plain = 0;
	} else if (n->kind != KL_CONF_MAP) {
		kl_error_set(p->err, p->name, n->line, n->col,
			     "the top level must be a map of keys, got %s", kind_name(n));
		return -EINVAL;
	}
	ret = next_event(p); /* document end */
	if (!ret)
		ret = next_event(p);
	if (ret)
		return ret;
	if (p->ev.type != YAML_STREAM_END_EVENT)
		return parse_fail(p, &p->ev.start_mark, "multiple documents are not supported");
	*root = n;
	return 0;
}

int kl_conf_parse_buffer(struct kl_arena *arena, const char *name, const char *buf, size_t len,
			 struct kl_conf_node **root, struct kl_error *err)
{
	struct parser p = {.arena = arena, .name = name, .buf = buf, .len = len, .err = err};
	int ret;

	if (len > KL_CONF_MAX_FILE) {
		kl_error_set(err, name, 0, 0, "file is larger than %d KiB",
			     KL_CONF_MAX_FILE / 1024);
		return -EFBIG;
	}
	if (!yaml_parser_initialize(&p.yp)) {
		kl_error_set(err, name, 0, 0, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)buf, len);
	ret = parse_stream(&p, root);
	if (p.have_ev)
		yaml_event_delete(&p.ev);
	yaml_parser_delete(&p.yp);
	return ret;
}

int kl_conf_parse_file(struct kl_arena *arena, const char *path, struct kl_conf_node **root,
		       struct kl_error *err)
{
	char *buf;
	size_t len;
	int ret;

	ret = read_capped(path, KL_CONF_MAX_FILE, &buf, &len);
	if (ret == -EFBIG) {
		kl_error_set(err, path, 0, 0, "file is larger than %d KiB",
			     KL_CONF_MAX_FILE / 1024);
		return ret;
	}
	if (ret) {
		kl_error_set(err, path, 0, 0, "cannot open: %s", strerror(-ret));
		return ret;
	}
	ret = kl_conf_parse_buffer(arena, path, buf, len, root, err);
	free(buf);
	return ret;
}

const struct kl_conf_node *kl_conf_get(const struct kl_conf_node *map, const char *key)
{
	size_t i;

	if (!map || map->kind != KL_CONF_MAP)
		return NULL;
	for (i = 0; i < map->nkids; i++)
		if (!strcmp(map->kids[i].key, key))
			return &map->kids[i];
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Binding                                                                   */
/* ------------------------------------------------------------------------ */

struct binder {
	struct kl_arena *arena;
	const char *file;
	struct kl_error *err;
};

/* Where a message about n points: the key for a map value, else the node. */
static int node_line(const struct kl_conf_node *n)
{
	return n->key ? n->key_line : n->line;
}

static int is_null(const struct kl_conf_node *n)
{
	return n->kind == KL_CONF_SCALAR && n->plain && !*n->value;
}

/* "PATH: " or "" before a message; path may be empty at the top level */
#define PFX(path) (path)[0] ? (path) : "", (path)[0] ? ": " : ""

static int bind_want(struct binder *b, const struct kl_conf_node *n, const char *path,
		     const char *want)
{
	if (n->kind == KL_CONF_SCALAR && !is_null(n))
		kl_error_set(b->err, b->file, node_line(n), n->col,
			     "%s%sexpected %s, got \"%.*s%s\"", PFX(path), want, KL_CONF_SHOW_MAX,
			     n->value, strlen(n->value) > KL_CONF_SHOW_MAX ? "..." : "");
	else
		kl_error_set(b->err, b->file, node_line(n), n->col, "%s%sexpected %s, got %s",
			     PFX(path), want, kind_name(n));
	return -EINVAL;
}

/*
 * "a.b" and "a[3]" for messages. A path longer than the buffer is cut: it only
 * ever names a place in an error that has room for 512 bytes anyway.
 */
static void path_key(char *buf, size_t size, const char *prefix, const char *key)
{
	if (snprintf(buf, size, "%s%s%s", prefix, prefix[0] ? "." : "", key) >= (int)size)
		buf[size - 1] = '\0';
}

static void path_index(char *buf, size_t size, const char *path, size_t i)
{
	if (snprintf(buf, size, "%s[%zu]", path, i) >= (int)size)
		buf[size - 1] = '\0';
}

static int bind_nomem(struct binder *b)
{
	kl_error_set(b->err, b->file, 0, 0, "out of memory");
	return -ENOMEM;
}

static int bind_string(struct binder *b, const struct kl_conf_node *n, const char *path,
		       const char **out)
{
	if (n->kind != KL_CONF_SCALAR || is_null(n))
		return bind_want(b, n, path, "a string");
	*out = n->value;
	return 0;
}

static int bind_bool(struct binder *b, const struct kl_conf_node *n, const char *path, int *out)
{
	if (n->kind == KL_CONF_SCALAR && n->plain && !strcmp(n->value, "true"))
		*out = 1;
	else if (n->kind == KL_CONF_SCALAR && n->plain && !strcmp(n->value, "false"))
		*out = 0;
	else
		return bind_want(b, n, path, "true or false");
	return 0;
}

static int bind_uint(struct binder *b, const struct kl_conf_node *n, const char *path,
		     unsigned *out)
{
	unsigned long long v = 0;
	const char *s;

	if (n->kind != KL_CONF_SCALAR || !n->plain || !*n->value)
		return bind_want(b, n, path, "a non-negative integer");
	for (s = n->value; *s; s++) {
		if (*s < '0' || *s > '9')
			return bind_want(b, n, path, "a non-negative integer");
		v = v * 10 + (unsigned long long)(*s - '0');
		if (v > UINT_MAX) {
			kl_error_set(b->err, b->file, node_line(n), n->col,
				     "%s%s%.*s is out of range (max %u)", PFX(path),
				     KL_CONF_SHOW_MAX, n->value, UINT_MAX);
			return -EINVAL;
		}
	}
	*out = (unsigned)v;
	return 0;
}

static int bind_percent(struct binder *b, const struct kl_conf_node *n, const char *path,
			double *out)
{
	const char *s;
	int digits = 0, dot = 0;
	double v;

	if (n->kind != KL_CONF_SCALAR || !n->plain)
		return bind_want(b, n, path, "a percentage from 0 to 100");
	/* digits with at most one '.', so strtod never sees hex, exponents or "nan" */
	for (s = n->value; *s; s++) {
		if (*s >= '0' && *s <= '9')
			digits++;
		else if (*s == '.' && !dot)
			dot = 1;
		else
			return bind_want(b, n, path, "a percentage from 0 to 100");
	}
	if (!digits)
		return bind_want(b, n, path, "a percentage from 0 to 100");
	v = strtod(n->value, NULL);
	if (v > 100.0)
		return bind_want(b, n, path, "a percentage from 0 to 100");
	*out = v;
	return 0;
}

static int bind_duration(struct binder *b, const struct kl_conf_node *n, const char *path,
			 uint64_t *out)
{
	int ret;

	if (n->kind != KL_CONF_SCALAR || is_null(n))
		return bind_want(b, n, path, "a duration");
	ret = kl_duration_parse(n->value, out);
	if (ret == -ERANGE) {
		kl_error_set(b->err, b->file, node_line(n), n->col,
			     "%s%sduration \"%.*s\" is too long", PFX(path), KL_CONF_SHOW_MAX,
			     n->value);
		return -EINVAL;
	}
	if (ret) {
		kl_error_set(b->err, b->file, node_line(n), n->col,
			     "%s%sbad duration \"%.*s%s\" (want e.g. 30s, 2m, 1h)", PFX(path),
			     KL_CONF_SHOW_MAX, n->value,
			     strlen(n->value) > KL_CONF_SHOW_MAX ? "..." : "");
		return -EINVAL;
	}
	return 0;
}

/* Why kl_glob_check() refused p (it only says -EINVAL). */
static const char *glob_problem(const char *p)
{
	const char *q;

	if (!*p)
		return "empty pattern";
	for (; *p; p++) {
		if (*p == '\\') {
			if (!p[1])
				return "trailing backslash";
			p++;
		} else if (*p == '[') {
			q = p + 1;
			if (*q == '!' || *q == '^')
				q++;
			if (*q == ']')
				q++;
			while (*q && *q != ']')
				q++;
			if (!*q)
				return "unclosed bracket";
			p = q;
		}
	}
	return "malformed pattern";
}

static int bind_strings(struct binder *b, const struct kl_conf_node *n, const char *path, int globs,
			struct kl_strv *out)
{
	char ipath[KL_CONF_PATH_MAX];
	const char **v = NULL;
	size_t i;
	int ret;

	if (is_null(n)) {
		out->v = NULL;
		out->n = 0;
		return 0;
	}
	if (n->kind != KL_CONF_SEQ)
		return bind_want(b, n, path, globs ? "a list of globs" : "a list of strings");
	if (n->nkids) {
		v = kl_arena_alloc(b->arena, n->nkids * sizeof(*v));
		if (!v)
			return bind_nomem(b);
	}
	for (i = 0; i < n->nkids; i++) {
		const struct kl_conf_node *e = &n->kids[i];

		path_index(ipath, sizeof(ipath), path, i);
		ret = bind_string(b, e, ipath, &v[i]);
		if (ret)
			return ret;
		if (globs && kl_glob_check(e->value)) {
			kl_error_set(b->err, b->file, e->line, e->col,
				     "%s: bad glob \"%.*s%s\": %s", ipath, KL_CONF_SHOW_MAX,
				     e->value, strlen(e->value) > KL_CONF_SHOW_MAX ? "..." : "",
				     glob_problem(e->value));
			return -EINVAL;
		}
	}
	out->v = v;
	out->n = n->nkids;
	return 0;
}

/*
 * Reads a secret: path relative to the config file's folder unless absolute.
 * Messages name the path and the reason, never a byte of the content.
 */
static int bind_secret(struct binder *b, const struct kl_conf_node *n, const char *path,
		       const char **out)
{
	char full[PATH_MAX];
	const char *slash, *v = NULL;
	size_t len, rawlen;
	char *buf;
	int ret;

	ret = bind_string(b, n, path, &v);
	if (ret)
		return ret;
	slash = b->file ? strrchr(b->file, '/') : NULL;
	if (v[0] == '/' || !slash)
		ret = snprintf(full, sizeof(full), "%s", v);
	else
		ret = snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - b->file), b->file, v);
	if (ret < 0 || (size_t)ret >= sizeof(full)) {
		kl_error_set(b->err, b->file, node_line(n), n->col, "%s: path is too long", path);
		return -ENAMETOOLONG;
	}
	ret = read_capped(full, KL_CONF_MAX_SECRET, &buf, &rawlen);
	if (ret == -EFBIG) {
		kl_error_set(b->err, b->file, node_line(n), n->col, "%s: %s is larger than %d KiB",
			     path, full, KL_CONF_MAX_SECRET / 1024);
		return -EINVAL;
	}
	if (ret) {
		kl_error_set(b->err, b->file, node_line(n), n->col, "%s: cannot read %s: %s", path,
			     full, strerror(-ret));
		return ret;
	}
	len = rawlen;
	if (memchr(buf, '\0', len)) {
		kl_error_set(b->err, b->file, node_line(n), n->col, "%s: %s holds NUL bytes", path,
			     full);
		ret = -EINVAL;
		goto out_free;
	}
	if (len && buf[len - 1] == '\n')
		len--;
	if (len && buf[len - 1] == '\r')
		len--;
	if (!len) {
		kl_error_set(b->err, b->file, node_line(n), n->col, "%s: %s is empty", path, full);
		ret = -EINVAL;
		goto out_free;
	}
	*out = kl_arena_strndup(b->arena, buf, len);
	ret = *out ? 0 : bind_nomem(b);
out_free:
	/* the buffer held a secret: do not leave it in freed heap memory */
	memset(buf, 0, rawlen);
	free(buf);
	return ret;
}

static int bind_map(struct binder *b, const struct kl_conf_node *map,
		    const struct kl_conf_key *keys, void *out, const char *prefix);

static int bind_list(struct binder *b, const struct kl_conf_node *n, const char *path,
		     const struct kl_conf_key *row, struct kl_conf_list *out)
{
	char ipath[KL_CONF_PATH_MAX];
	unsigned char *items = NULL;
	size_t i;
	int ret;

	assert(row->sub && row->elem_size);
	if (is_null(n)) {
		out->items = NULL;
		out->n = 0;
		return 0;
	}
	if (n->kind != KL_CONF_SEQ)
		return bind_want(b, n, path, "a list of maps");
	if (n->nkids) {
		if (n->nkids > SIZE_MAX / row->elem_size)
			return bind_nomem(b);
		items = kl_arena_alloc(b->arena, n->nkids * row->elem_size);
		if (!items)
			return bind_nomem(b);
	}
	for (i = 0; i < n->nkids; i++) {
		const struct kl_conf_node *e = &n->kids[i];
		void *elem = items + i * row->elem_size;

		path_index(ipath, sizeof(ipath), path, i);
		if (row->elem_init)
			row->elem_init(elem);
		if (e->kind != KL_CONF_MAP)
			return bind_want(b, e, ipath, "a map");
		ret = bind_map(b, e, row->sub, elem, ipath);
		if (ret)
			return ret;
	}
	out->items = items;
	out->n = n->nkids;
	return 0;
}

static int bind_value(struct binder *b, const struct kl_conf_node *n, const char *path,
		      const struct kl_conf_key *row, void *out)
{
	void *field = (unsigned char *)out + row->offset;

	switch (row->type) {
	case KL_CONF_STRING:
		return bind_string(b, n, path, field);
	case KL_CONF_BOOL:
		return bind_bool(b, n, path, field);
	case KL_CONF_UINT:
		return bind_uint(b, n, path, field);
	case KL_CONF_PERCENT:
		return bind_percent(b, n, path, field);
	case KL_CONF_DURATION:
		return bind_duration(b, n, path, field);
	case KL_CONF_STRINGS:
		return bind_strings(b, n, path, 0, field);
	case KL_CONF_GLOBS:
		return bind_strings(b, n, path, 1, field);
	case KL_CONF_SECRET_FILE:
		return bind_secret(b, n, path, field);
	case KL_CONF_STRUCT:
		assert(row->sub);
		return bind_map(b, n, row->sub, field, path);
	case KL_CONF_LIST:
		return bind_list(b, n, path, row, field);
	case KL_CONF_OTHER:
		return 0;
	}
	assert(!"unknown kl_conf_type");
	return -EINVAL;
}

/* Whether the table lets keys it does not name through (a KL_CONF_OTHER row). */
static bool other_keys(const struct kl_conf_key *keys)
{
	for (; keys->name; keys++)
		if (keys->type == KL_CONF_OTHER)
			return true;
	return false;
}

static int bind_map(struct binder *b, const struct kl_conf_node *map,
		    const struct kl_conf_key *keys, void *out, const char *prefix)
{
	/* rows bound by this call, to catch two keys aiming at one field */
	const struct kl_conf_key *done[KL_CONF_MAX_ROWS];
	char path[KL_CONF_PATH_MAX];
	const struct kl_conf_key *row;
	size_t i, j, ndone = 0, nrows = 0;
	int ret;

	for (row = keys; row->name; row++)
		nrows++;
	assert(nrows <= KL_CONF_MAX_ROWS);
	if (!map || is_null(map))
		return 0; /* "crash-watcher:" with nothing under it: defaults */
	if (map->kind != KL_CONF_MAP)
		return bind_want(b, map, prefix, "a map");
	for (i = 0; i < map->nkids; i++) {
		const struct kl_conf_node *kid = &map->kids[i];

		path_key(path, sizeof(path), prefix, kid->key);
		for (row = keys; row->name; row++)
			if (row->type != KL_CONF_OTHER && !strcmp(row->name, kid->key))
				break;
		if (!row->name && other_keys(keys))
			continue; /* someone else's key */
		if (!row->name) {
			kl_error_set(b->err, b->file, kid->key_line, 0, "%.*s: unknown key",
				     KL_CONF_PATH_MAX, path);
			return -EINVAL;
		}
		for (j = 0; j < ndone; j++) {
			if (done[j]->offset != row->offset)
				continue;
			kl_error_set(b->err, b->file, kid->key_line, 0,
				     "%s%s%s and %s are both set", PFX(prefix), done[j]->name,
				     row->name);
			return -EINVAL;
		}
		done[ndone++] = row;
		ret = bind_value(b, kid, path, row, out);
		if (ret)
			return ret;
	}
	return 0;
}

int kl_conf_bind(struct kl_arena *arena, const char *file, const struct kl_conf_node *map,
		 const struct kl_conf_key *keys, void *out, const char *prefix,
		 struct kl_error *err)
{
	struct binder b = {.arena = arena, .file = file, .err = err};

	return bind_map(&b, map, keys, out, prefix ? prefix : "");
}
