/*
 * config/node.h - YAML read into a tree that remembers lines, and table-driven
 * binding of that tree into typed structs.
 *
 * libyaml gives events with marks; we keep them as a small tree (in the config's
 * arena) so every later check can say FILE:LINE. Binding follows nginx's
 * ngx_command_t: a table of {key, type, offsetof} rows per struct, generic setters
 * per type, so a controller declares its keys as data and config/ does the parsing,
 * the type checks and the error messages for everyone.
 */
#ifndef KL_CONFIG_NODE_H
#define KL_CONFIG_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/error.h"

enum kl_conf_kind { KL_CONF_SCALAR, KL_CONF_SEQ, KL_CONF_MAP };

struct kl_conf_node {
	enum kl_conf_kind kind;
	int line, col;		   /* 1-based mark of the node's start */
	const char *key;	   /* the key when this node is a map value, else NULL */
	int key_line;		   /* line of the key */
	const char *value;	   /* scalar text ("" for an empty/null scalar) */
	int plain;		   /* scalar was unquoted (so "30" quoted is a string) */
	struct kl_conf_node *kids; /* map values (with key set) or sequence items */
	size_t nkids;
};

/*
 * Parses one YAML document from a file (or from a buffer, for tests: name is the
 * file name used in errors). Aliases, anchors, tags, multiple documents and
 * duplicate keys are errors. The tree lives in arena. An empty file gives an empty
 * map. Returns 0, -ENOENT/-EACCES (err: "FILE: cannot open: REASON") or -EINVAL
 * (err: FILE:LINE: what is wrong).
 */
int kl_conf_parse_file(struct kl_arena *arena, const char *path, struct kl_conf_node **root,
		       struct kl_error *err);
int kl_conf_parse_buffer(struct kl_arena *arena, const char *name, const char *buf, size_t len,
			 struct kl_conf_node **root, struct kl_error *err);

/* Value of key in a map node; NULL when absent or when map is not a map. */
const struct kl_conf_node *kl_conf_get(const struct kl_conf_node *map, const char *key);

/* A list of strings in the arena. */
struct kl_strv {
	const char **v;
	size_t n;
};

/* A list of bound structs (elements of a sub-table) in the arena. */
struct kl_conf_list {
	void *items; /* n elements of the row's elem_size */
	size_t n;
};

enum kl_conf_type {
	KL_CONF_STRING,	     /* const char * */
	KL_CONF_BOOL,	     /* int: true/false */
	KL_CONF_UINT,	     /* unsigned: 0..UINT_MAX, plain digits */
	KL_CONF_PERCENT,     /* double: 0..100, fraction allowed */
	KL_CONF_DURATION,    /* uint64_t milliseconds, "30s" (util/duration.h) */
	KL_CONF_STRINGS,     /* struct kl_strv: a sequence of scalars */
	KL_CONF_GLOBS,	     /* struct kl_strv: sequence of fnmatch globs, syntax checked */
	KL_CONF_SECRET_FILE, /* const char *: the named file's content, one trailing newline
				cut. The path is relative to the config file's folder when not
				absolute. The content never appears in an error. */
	KL_CONF_STRUCT,	     /* nested struct at offset, bound with sub (a map in YAML) */
	KL_CONF_LIST,	     /* struct kl_conf_list of elem_size structs, each bound with sub */
	KL_CONF_OTHER,	     /* a row named "*": keys no other row names are let through
				unbound, for a later bind with another table */
};

struct kl_conf_key {
	const char *name;
	enum kl_conf_type type;
	size_t offset;
	const struct kl_conf_key *sub; /* KL_CONF_STRUCT, KL_CONF_LIST */
	size_t elem_size;	       /* KL_CONF_LIST */
	/* KL_CONF_LIST: called on each new element before binding (defaults); may be NULL */
	void (*elem_init)(void *elem);
};

/*
 * Binds a map node into out with keys (a table ended by a row with name NULL).
 * Unknown keys, wrong kinds, bad values and a field set twice (url and url_file
 * both point at the same offset: giving both is an error) fail with
 * "FILE:LINE: PATH.KEY: what is wrong", PATH being prefix ("controllers.crash-watcher").
 * Keys absent from the node leave out untouched (defaults stay). file is the
 * config path, used in errors and to resolve SECRET_FILE paths.
 * Returns 0 or -EINVAL/-ENOMEM/-ENOENT.
 */
int kl_conf_bind(struct kl_arena *arena, const char *file, const struct kl_conf_node *map,
		 const struct kl_conf_key *keys, void *out, const char *prefix,
		 struct kl_error *err);

#endif
