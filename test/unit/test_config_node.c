/*
 * test/unit/test_config_node.c - the YAML tree (marks, refusals, limits) and
 * kl_conf_bind() for every key type, with the exact messages people will read.
 *
 * Messages are compared whole, "FILE:LINE: PATH: what", because they are the
 * interface: a config error is all an operator gets. Secret files are written to
 * a temporary folder so relative paths and missing files are tested for real.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/node.h"

struct fx {
	struct kl_arena arena;
	struct kl_error err;
	char dir[64];	/* temporary folder for secret files */
	char file[128]; /* a config path inside dir, for relative secrets */
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	kl_arena_init(&fx->arena);
	kl_error_clear(&fx->err);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/kl-test-node-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->file, sizeof(fx->file), "%s/conf.yaml", fx->dir);
	*state = fx;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	kl_arena_free(&fx->arena);
	nftw(fx->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int parse(struct fx *fx, const char *yaml, struct kl_conf_node **root)
{
	kl_error_clear(&fx->err);
	return kl_conf_parse_buffer(&fx->arena, "t.yaml", yaml, strlen(yaml), root, &fx->err);
}

static void assert_err(const struct kl_error *err, const char *want)
{
	char buf[1024];

	assert_true(kl_error_isset(err));
	assert_string_equal(kl_error_str(err, buf, sizeof(buf)), want);
}

static void assert_parse_err(struct fx *fx, const char *yaml, const char *want)
{
	struct kl_conf_node *root = NULL;

	assert_int_equal(parse(fx, yaml, &root), -EINVAL);
	assert_err(&fx->err, want);
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */
/* ------------------------------------------------------------------------ */

static void test_tree_marks(void **state)
{
	struct fx *fx = *state;
	struct kl_conf_node *root;
	const struct kl_conf_node *n, *l;

	assert_int_equal(parse(fx,
			       "cluster: PRODUCTION\n"
			       "# a comment\n"
			       "count: \"30\"\n"
			       "list:\n"
			       "  - a\n"
			       "  -   'b c'\n"
			       "map: {x: 1, y: ~, z: }\n"
			       "empty:\n",
			       &root),
			 0);
	assert_int_equal(root->kind, KL_CONF_MAP);
	assert_int_equal(root->nkids, 5);

	n = kl_conf_get(root, "cluster");
	assert_non_null(n);
	assert_int_equal(n->kind, KL_CONF_SCALAR);
	assert_string_equal(n->key, "cluster");
	assert_string_equal(n->value, "PRODUCTION");
	assert_int_equal(n->key_line, 1);
	assert_int_equal(n->line, 1);
	assert_int_equal(n->col, 10);
	assert_true(n->plain);

	n = kl_conf_get(root, "count");
	assert_string_equal(n->value, "30");
	assert_false(n->plain);
	assert_int_equal(n->line, 3);
	assert_int_equal(n->col, 8);

	l = kl_conf_get(root, "list");
	assert_int_equal(l->kind, KL_CONF_SEQ);
	assert_int_equal(l->key_line, 4);
	assert_int_equal(l->nkids, 2);
	assert_null(l->kids[0].key);
	assert_string_equal(l->kids[0].value, "a");
	assert_int_equal(l->kids[0].line, 5);
	assert_int_equal(l->kids[0].col, 5);
	assert_string_equal(l->kids[1].value, "b c");
	assert_int_equal(l->kids[1].line, 6);
	assert_int_equal(l->kids[1].col, 7);
	assert_false(l->kids[1].plain);

	n = kl_conf_get(root, "map");
	assert_int_equal(n->kind, KL_CONF_MAP);
	assert_int_equal(n->line, 7);
	assert_int_equal(n->col, 6);
	assert_int_equal(n->nkids, 3);
	assert_string_equal(kl_conf_get(n, "x")->value, "1");
	assert_int_equal(kl_conf_get(n, "x")->col, 10);
	/* nulls read as "" and plain */
	assert_string_equal(kl_conf_get(n, "y")->value, "");
	assert_true(kl_conf_get(n, "y")->plain);
	assert_string_equal(kl_conf_get(n, "z")->value, "");

	n = kl_conf_get(root, "empty");
	assert_int_equal(n->kind, KL_CONF_SCALAR);
	assert_string_equal(n->value, "");
	assert_int_equal(n->key_line, 8);

	assert_null(kl_conf_get(root, "nope"));
	assert_null(kl_conf_get(l, "a"));
	assert_null(kl_conf_get(NULL, "a"));
}

static void test_null_words(void **state)
{
	struct fx *fx = *state;
	struct kl_conf_node *root;

	assert_int_equal(parse(fx, "a: null\nb: NULL\nc: 'null'\nd: \"\"\ne: nulls\n", &root), 0);
	assert_string_equal(kl_conf_get(root, "a")->value, "");
	assert_string_equal(kl_conf_get(root, "b")->value, "");
	assert_string_equal(kl_conf_get(root, "c")->value, "null");
	assert_string_equal(kl_conf_get(root, "d")->value, "");
	assert_false(kl_conf_get(root, "d")->plain);
	assert_string_equal(kl_conf_get(root, "e")->value, "nulls");
}

static void test_empty_documents(void **state)
{
	static const char *const empties[] = { "", "\n\n", "# only a comment\n", "---\n",
					       "--- # c\n...\n", "~\n" };
	struct fx *fx = *state;
	struct kl_conf_node *root;
	size_t i;

	for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		root = NULL;
		assert_int_equal(parse(fx, empties[i], &root), 0);
		assert_non_null(root);
		assert_int_equal(root->kind, KL_CONF_MAP);
		assert_int_equal(root->nkids, 0);
	}
	assert_int_equal(parse(fx, "---\na: 1\n...\n", &root), 0);
	assert_int_equal(root->nkids, 1);
}

static void test_top_level_not_map(void **state)
{
	struct fx *fx = *state;

	assert_parse_err(fx, "- a\n- b\n",
			 "t.yaml:1: the top level must be a map of keys, got a list");
	assert_parse_err(fx, "\n\nhello\n",
			 "t.yaml:3: the top level must be a map of keys, got a string");
}

static void test_duplicate_keys(void **state)
{
	struct fx *fx = *state;

	assert_parse_err(fx, "a: 1\nb: 2\na: 3\n",
			 "t.yaml:3: duplicate key \"a\" (first at line 1)");
	assert_parse_err(fx, "top:\n  x: 1\n  y: 2\n  x: 3\n",
			 "t.yaml:4: duplicate key \"x\" (first at line 2)");
	/* the earliest repeat is reported, even when another key sorts first */
	assert_parse_err(fx, "z: 1\nz: 2\na: 1\na: 2\n",
			 "t.yaml:2: duplicate key \"z\" (first at line 1)");
	assert_parse_err(fx, "k: 1\nk: 2\nk: 3\n",
			 "t.yaml:2: duplicate key \"k\" (first at line 1)");
	assert_parse_err(fx, "m: {a: 1, a: 2}\n",
			 "t.yaml:1: duplicate key \"a\" (first at line 1)");
	/* the same key in two different maps is fine */
	{
		struct kl_conf_node *root;

		assert_int_equal(parse(fx, "a: {x: 1}\nb: {x: 2}\n", &root), 0);
	}
}

static void test_duplicate_keys_many(void **state)
{
	struct fx *fx = *state;
	struct kl_conf_node *root;
	size_t i, n = 20000, off = 0, cap = n * 16;
	char *buf = malloc(cap);

	assert_non_null(buf);
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(buf + off, cap - off, "k%zu: %zu\n", i, i);
	assert_int_equal(kl_conf_parse_buffer(&fx->arena, "t.yaml", buf, off, &root, &fx->err), 0);
	assert_int_equal(root->nkids, n);
	assert_string_equal(root->kids[n - 1].key, "k19999");
	off += (size_t)snprintf(buf + off, cap - off, "k7: again\n");
	kl_error_clear(&fx->err);
	assert_int_equal(kl_conf_parse_buffer(&fx->arena, "t.yaml", buf, off, &root, &fx->err),
			 -EINVAL);
	assert_err(&fx->err, "t.yaml:20001: duplicate key \"k7\" (first at line 8)");
	free(buf);
}

static void test_anchors_tags_refused(void **state)
{
	struct fx *fx = *state;

	assert_parse_err(fx, "a: &x 1\nb: *x\n", "t.yaml:1: anchors and aliases are not supported");
	assert_parse_err(fx, "a: 1\nb: *x\n", "t.yaml:2: anchors and aliases are not supported");
	assert_parse_err(fx, "base: &b {x: 1}\n",
			 "t.yaml:1: anchors and aliases are not supported");
	assert_parse_err(fx, "a:\n  <<: *b\n", "t.yaml:2: anchors and aliases are not supported");
	assert_parse_err(fx, "a: !!str 1\n", "t.yaml:1: tags are not supported");
	assert_parse_err(fx, "a: !custom [1]\n", "t.yaml:1: tags are not supported");
}

static void test_multiple_documents(void **state)
{
	struct fx *fx = *state;

	assert_parse_err(fx, "a: 1\n---\nb: 2\n", "t.yaml:2: multiple documents are not supported");
	assert_parse_err(fx, "---\na: 1\n...\n---\n",
			 "t.yaml:4: multiple documents are not supported");
}

static void test_keys_must_be_strings(void **state)
{
	struct fx *fx = *state;

	assert_parse_err(fx, "ok: 1\n? [a, b]\n: 1\n", "t.yaml:2: map keys must be strings");
	assert_parse_err(fx, "{a: 1}: 2\n", "t.yaml:1: map keys must be strings");
	assert_parse_err(fx, "? \n: 1\n", "t.yaml:1: map key is empty");
}

static void test_syntax_errors(void **state)
{
	struct fx *fx = *state;

	assert_parse_err(fx, "a: 1\n  b: 2\n",
			 "t.yaml:2: mapping values are not allowed in this context");
	assert_parse_err(fx, "a: 1\nb: [1, 2\nc: 3\n",
			 "t.yaml:3: did not find expected ',' or ']' "
			 "(while parsing a flow sequence at line 2)");
	assert_parse_err(fx, "a: 1\nb: \"open\n",
			 "t.yaml:3: found unexpected end of stream "
			 "(while scanning a quoted scalar at line 2)");
	assert_parse_err(fx, "a:\n\t- x\n",
			 "t.yaml:2: found character that cannot start any token "
			 "(while scanning for the next token at line 2)");
	assert_int_equal(fx->err.col, 1);
}

static void test_garbage_bytes(void **state)
{
	struct fx *fx = *state;
	struct kl_conf_node *root;
	unsigned char buf[256];
	uint32_t seed = 12345;
	size_t i, j, len;
	int ret;

	assert_parse_err(fx, "a: b\nc: \x01\x02\n", "t.yaml:2: control characters are not allowed");
	assert_parse_err(fx, "a: b\nc: d\ne: \xc3\x28\n", "t.yaml:3: invalid trailing UTF-8 octet");
	assert_parse_err(fx, "a: \"x\\0y\"\n",
			 "t.yaml:1: strings with NUL bytes are not supported");
	{
		static const char nul[] = "a: b\0c: d\n";

		kl_error_clear(&fx->err);
		assert_int_equal(kl_conf_parse_buffer(&fx->arena, "t.yaml", nul, sizeof(nul) - 1,
						      &root, &fx->err),
				 -EINVAL);
		assert_err(&fx->err, "t.yaml:1: control characters are not allowed");
	}
	/* random bytes, some YAML-ish: never a crash, always 0 or an error with a message */
	for (i = 0; i < 3000; i++) {
		static const char alphabet[] = "ab: -[]{},'\"\n#&*!?|>%@`\\\t\x01\xc3\xff";

		len = (seed >> 8) % sizeof(buf);
		for (j = 0; j < len; j++) {
			seed = seed * 1103515245u + 12345u;
			buf[j] = (i & 1) ? (unsigned char)(seed >> 16)
					 : (unsigned char)alphabet[(seed >> 16) %
								   (sizeof(alphabet) - 1)];
		}
		kl_error_clear(&fx->err);
		root = NULL;
		ret = kl_conf_parse_buffer(&fx->arena, "t.yaml", (const char *)buf, len, &root,
					   &fx->err);
		if (ret == 0) {
			assert_non_null(root);
			assert_int_equal(root->kind, KL_CONF_MAP);
		} else {
			assert_int_equal(ret, -EINVAL);
			assert_true(kl_error_isset(&fx->err));
		}
		kl_arena_free(&fx->arena);
	}
}

static char *nested(const char *open, const char *close, size_t depth, size_t *len)
{
	size_t i, off = 0;
	char *buf = malloc(3 + depth * (strlen(open) + strlen(close)) + 2);

	assert_non_null(buf);
	memcpy(buf, "a: ", 3);
	off = 3;
	for (i = 0; i < depth; i++) {
		memcpy(buf + off, open, strlen(open));
		off += strlen(open);
	}
	for (i = 0; i < depth; i++) {
		memcpy(buf + off, close, strlen(close));
		off += strlen(close);
	}
	buf[off++] = '\n';
	buf[off] = '\0';
	*len = off;
	return buf;
}

static void test_depth_limit(void **state)
{
	struct fx *fx = *state;
	struct kl_conf_node *root;
	size_t len;
	char *buf;

	/* the root map is level 1: 63 more levels are allowed */
	buf = nested("[", "]", 63, &len);
	assert_int_equal(kl_conf_parse_buffer(&fx->arena, "t.yaml", buf, len, &root, &fx->err), 0);
	free(buf);

	buf = nested("[", "]", 64, &len);
	assert_int_equal(kl_conf_parse_buffer(&fx->arena, "t.yaml", buf, len, &root, &fx->err),
			 -EINVAL);
	assert_err(&fx->err, "t.yaml:1: nested deeper than 64 levels");
	assert_int_equal(fx->err.col, 67);
	free(buf);

	/* deep enough to hurt a naive recursive reader */
	buf = nested("{a: ", "}", 100000, &len);
	kl_error_clear(&fx->err);
	assert_int_equal(kl_conf_parse_buffer(&fx->arena, "t.yaml", buf, len, &root, &fx->err),
			 -EINVAL);
	assert_err(&fx->err, "t.yaml:1: nested deeper than 64 levels");
	free(buf);
}

static void test_parse_file(void **state)
{
	struct fx *fx = *state;
	struct kl_conf_node *root;
	char path[256], want[512];
	size_t big = 1024 * 1024 + 1;
	char *buf;

	snprintf(path, sizeof(path), "%s/missing.yaml", fx->dir);
	assert_int_equal(kl_conf_parse_file(&fx->arena, path, &root, &fx->err), -ENOENT);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	assert_err(&fx->err, want);

	write_file(fx->dir, "ok.yaml", "a: 1\nb: [x]\n", 12);
	snprintf(path, sizeof(path), "%s/ok.yaml", fx->dir);
	kl_error_clear(&fx->err);
	assert_int_equal(kl_conf_parse_file(&fx->arena, path, &root, &fx->err), 0);
	assert_int_equal(kl_conf_get(root, "b")->line, 2);

	write_file(fx->dir, "bad.yaml", "a: 1\na: 2\n", 10);
	snprintf(path, sizeof(path), "%s/bad.yaml", fx->dir);
	assert_int_equal(kl_conf_parse_file(&fx->arena, path, &root, &fx->err), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: duplicate key \"a\" (first at line 1)", path);
	assert_err(&fx->err, want);

	/* a comment just over 1 MiB: refused by size, before YAML sees it */
	buf = malloc(big);
	assert_non_null(buf);
	memset(buf, '#', big);
	buf[big - 1] = '\n';
	write_file(fx->dir, "big.yaml", buf, big);
	snprintf(path, sizeof(path), "%s/big.yaml", fx->dir);
	kl_error_clear(&fx->err);
	assert_int_equal(kl_conf_parse_file(&fx->arena, path, &root, &fx->err), -EFBIG);
	snprintf(want, sizeof(want), "%s: file is larger than 1024 KiB", path);
	assert_err(&fx->err, want);
	kl_error_clear(&fx->err);
	assert_int_equal(kl_conf_parse_buffer(&fx->arena, "t.yaml", buf, big, &root, &fx->err),
			 -EFBIG);
	/* exactly 1 MiB is fine */
	assert_int_equal(kl_conf_parse_buffer(&fx->arena, "t.yaml", buf, big - 1, &root, &fx->err),
			 0);
	free(buf);

	/* a folder is not a config file */
	kl_error_clear(&fx->err);
	assert_int_equal(kl_conf_parse_file(&fx->arena, fx->dir, &root, &fx->err), -EISDIR);
}

static void test_data_fixture(void **state)
{
	struct fx *fx = *state;
	const char *data = getenv("KL_TEST_DATA");
	struct kl_conf_node *root;
	char path[512];

	assert_non_null(data);
	snprintf(path, sizeof(path), "%s/config/example.yaml", data);
	assert_int_equal(kl_conf_parse_file(&fx->arena, path, &root, &fx->err), 0);
	assert_string_equal(kl_conf_get(root, "cluster")->value, "PRODUCTION");
	assert_int_equal(kl_conf_get(root, "notifiers")->nkids, 3);
}

/* ------------------------------------------------------------------------ */
/* Binding                                                                   */
/* ------------------------------------------------------------------------ */

struct item {
	const char *x;
	unsigned y;
};

struct sub {
	const char *x;
	uint64_t d;
};

struct all {
	const char *s;
	int b;
	unsigned u;
	double pct;
	uint64_t d;
	struct kl_strv sv;
	struct kl_strv g;
	const char *secret;
	struct sub sub;
	struct kl_conf_list list;
};

static void item_init(void *p)
{
	struct item *it = p;

	it->y = 7;
}

#define I(f) offsetof(struct item, f)
static const struct kl_conf_key item_keys[] = {
	{ "x", KL_CONF_STRING, I(x), NULL, 0, NULL },
	{ "y", KL_CONF_UINT, I(y), NULL, 0, NULL },
	{ NULL, 0, 0, NULL, 0, NULL },
};

#define S(f) offsetof(struct sub, f)
static const struct kl_conf_key sub_keys[] = {
	{ "x", KL_CONF_STRING, S(x), NULL, 0, NULL },
	{ "d", KL_CONF_DURATION, S(d), NULL, 0, NULL },
	{ NULL, 0, 0, NULL, 0, NULL },
};

#define A(f) offsetof(struct all, f)
static const struct kl_conf_key all_keys[] = {
	{ "s", KL_CONF_STRING, A(s), NULL, 0, NULL },
	{ "b", KL_CONF_BOOL, A(b), NULL, 0, NULL },
	{ "u", KL_CONF_UINT, A(u), NULL, 0, NULL },
	{ "pct", KL_CONF_PERCENT, A(pct), NULL, 0, NULL },
	{ "d", KL_CONF_DURATION, A(d), NULL, 0, NULL },
	{ "sv", KL_CONF_STRINGS, A(sv), NULL, 0, NULL },
	{ "g", KL_CONF_GLOBS, A(g), NULL, 0, NULL },
	{ "url", KL_CONF_STRING, A(secret), NULL, 0, NULL },
	{ "url_file", KL_CONF_SECRET_FILE, A(secret), NULL, 0, NULL },
	{ "sub", KL_CONF_STRUCT, A(sub), sub_keys, 0, NULL },
	{ "list", KL_CONF_LIST, A(list), item_keys, sizeof(struct item), item_init },
	{ NULL, 0, 0, NULL, 0, NULL },
};

static void all_defaults(struct all *a)
{
	memset(a, 0, sizeof(*a));
	a->s = "default";
	a->secret = "default-secret";
	a->u = 99;
}

/* Parses yaml and binds it into out (after defaults) as file fx->file. */
static int bind(struct fx *fx, const char *yaml, struct all *out, const char *prefix)
{
	struct kl_conf_node *root;
	int ret;

	all_defaults(out);
	kl_error_clear(&fx->err);
	ret = kl_conf_parse_buffer(&fx->arena, fx->file, yaml, strlen(yaml), &root, &fx->err);
	assert_int_equal(ret, 0);
	return kl_conf_bind(&fx->arena, fx->file, root, all_keys, out, prefix, &fx->err);
}

/* Expects bind to fail with "FILE:" + want. */
static void assert_bind_err(struct fx *fx, const char *yaml, const char *prefix, int code,
			    const char *want)
{
	char full[1024];
	struct all out;

	assert_int_equal(bind(fx, yaml, &out, prefix), code);
	snprintf(full, sizeof(full), "%s:%s", fx->file, want);
	assert_err(&fx->err, full);
}

static void test_bind_good(void **state)
{
	struct fx *fx = *state;
	struct item *it;
	struct all out;

	assert_int_equal(bind(fx,
			      "s: hello\n"
			      "b: true\n"
			      "u: 4294967295\n"
			      "pct: 33.5\n"
			      "d: 1h30m\n"
			      "sv: [CrashLoopBackOff, \"ImagePullBackOff\"]\n"
			      "g: [\"moc-*\", 'team-[a-c]?']\n"
			      "url: https://hooks.example/x\n"
			      "sub: {x: inner, d: 500ms}\n"
			      "list:\n"
			      "  - x: one\n"
			      "  - x: two\n"
			      "    y: 3\n",
			      &out, ""),
			 0);
	assert_string_equal(out.s, "hello");
	assert_int_equal(out.b, 1);
	assert_int_equal(out.u, 4294967295u);
	assert_true(out.pct > 33.49 && out.pct < 33.51);
	assert_int_equal(out.d, 5400000);
	assert_int_equal(out.sv.n, 2);
	assert_string_equal(out.sv.v[0], "CrashLoopBackOff");
	assert_string_equal(out.sv.v[1], "ImagePullBackOff");
	assert_int_equal(out.g.n, 2);
	assert_string_equal(out.g.v[1], "team-[a-c]?");
	assert_string_equal(out.secret, "https://hooks.example/x");
	assert_string_equal(out.sub.x, "inner");
	assert_int_equal(out.sub.d, 500);
	assert_int_equal(out.list.n, 2);
	it = out.list.items;
	assert_string_equal(it[0].x, "one");
	assert_int_equal(it[0].y, 7); /* elem_init default */
	assert_string_equal(it[1].x, "two");
	assert_int_equal(it[1].y, 3);
}

static void test_bind_absent_keeps_defaults(void **state)
{
	struct fx *fx = *state;
	struct all out;

	assert_int_equal(bind(fx, "b: false\n", &out, ""), 0);
	assert_string_equal(out.s, "default");
	assert_string_equal(out.secret, "default-secret");
	assert_int_equal(out.u, 99);
	assert_int_equal(out.b, 0);

	/* a null map or list means "nothing here": defaults and empty lists */
	assert_int_equal(bind(fx, "sub:\nlist: ~\nsv:\n", &out, ""), 0);
	assert_null(out.sub.x);
	assert_int_equal(out.list.n, 0);
	assert_int_equal(out.sv.n, 0);

	/* no node at all (a section that is not in the file) */
	all_defaults(&out);
	assert_int_equal(kl_conf_bind(&fx->arena, fx->file, NULL, all_keys, &out, "x", &fx->err),
			 0);
	assert_string_equal(out.s, "default");
	assert_false(kl_error_isset(&fx->err));
}

static void test_bind_string(void **state)
{
	struct fx *fx = *state;
	struct all out;

	assert_int_equal(bind(fx, "s: \"\"\n", &out, ""), 0);
	assert_string_equal(out.s, "");
	assert_int_equal(bind(fx, "s: 30\n", &out, ""), 0);
	assert_string_equal(out.s, "30");
	assert_bind_err(fx, "s: ~\n", "", -EINVAL, "1: s: expected a string, got null");
	assert_bind_err(fx, "\ns:\n", "", -EINVAL, "2: s: expected a string, got null");
	assert_bind_err(fx, "s: [a]\n", "", -EINVAL, "1: s: expected a string, got a list");
	assert_bind_err(fx, "s:\n  a: 1\n", "", -EINVAL, "1: s: expected a string, got a map");
}

static void test_bind_bool(void **state)
{
	struct fx *fx = *state;
	struct all out;

	assert_int_equal(bind(fx, "b: true\n", &out, ""), 0);
	assert_int_equal(out.b, 1);
	assert_bind_err(fx, "b: yes\n", "", -EINVAL, "1: b: expected true or false, got \"yes\"");
	assert_bind_err(fx, "b: \"true\"\n", "", -EINVAL,
			"1: b: expected true or false, got \"true\"");
	assert_bind_err(fx, "b: True\n", "", -EINVAL, "1: b: expected true or false, got \"True\"");
	assert_bind_err(fx, "b:\n", "", -EINVAL, "1: b: expected true or false, got null");
}

static void test_bind_uint(void **state)
{
	struct fx *fx = *state;
	struct all out;

	assert_int_equal(bind(fx, "u: 0\n", &out, ""), 0);
	assert_int_equal(out.u, 0);
	assert_int_equal(bind(fx, "u: 007\n", &out, ""), 0);
	assert_int_equal(out.u, 7);
	assert_bind_err(fx, "u: -3\n", "controllers.notready-watcher", -EINVAL,
			"1: controllers.notready-watcher.u: expected a non-negative integer, "
			"got \"-3\"");
	assert_bind_err(fx, "u: \"3\"\n", "", -EINVAL,
			"1: u: expected a non-negative integer, got \"3\"");
	assert_bind_err(fx, "u: 3.5\n", "", -EINVAL,
			"1: u: expected a non-negative integer, got \"3.5\"");
	assert_bind_err(fx, "u: +3\n", "", -EINVAL,
			"1: u: expected a non-negative integer, got \"+3\"");
	assert_bind_err(fx, "u: 0x10\n", "", -EINVAL,
			"1: u: expected a non-negative integer, got \"0x10\"");
	assert_bind_err(fx, "u: 4294967296\n", "", -EINVAL,
			"1: u: 4294967296 is out of range (max 4294967295)");
	assert_bind_err(fx, "u: 99999999999999999999999999\n", "", -EINVAL,
			"1: u: 99999999999999999999999999 is out of range (max 4294967295)");
	assert_bind_err(fx, "u: ~\n", "", -EINVAL,
			"1: u: expected a non-negative integer, got null");
	assert_bind_err(fx, "u: [1]\n", "", -EINVAL,
			"1: u: expected a non-negative integer, got a list");
}

static void test_bind_percent(void **state)
{
	struct fx *fx = *state;
	struct all out;

	assert_int_equal(bind(fx, "pct: 0\n", &out, ""), 0);
	assert_true(out.pct == 0.0);
	assert_int_equal(bind(fx, "pct: 100\n", &out, ""), 0);
	assert_true(out.pct == 100.0);
	assert_int_equal(bind(fx, "pct: .5\n", &out, ""), 0);
	assert_true(out.pct == 0.5);
	assert_bind_err(fx, "pct: 100.5\n", "", -EINVAL,
			"1: pct: expected a percentage from 0 to 100, got \"100.5\"");
	assert_bind_err(fx, "pct: -1\n", "", -EINVAL,
			"1: pct: expected a percentage from 0 to 100, got \"-1\"");
	assert_bind_err(fx, "pct: 30%\n", "", -EINVAL,
			"1: pct: expected a percentage from 0 to 100, got \"30%\"");
	assert_bind_err(fx, "pct: 1e2\n", "", -EINVAL,
			"1: pct: expected a percentage from 0 to 100, got \"1e2\"");
	assert_bind_err(fx, "pct: nan\n", "", -EINVAL,
			"1: pct: expected a percentage from 0 to 100, got \"nan\"");
	assert_bind_err(fx, "pct: .\n", "", -EINVAL,
			"1: pct: expected a percentage from 0 to 100, got \".\"");
	assert_bind_err(fx, "pct: 1.2.3\n", "", -EINVAL,
			"1: pct: expected a percentage from 0 to 100, got \"1.2.3\"");
	assert_bind_err(fx, "pct: '30'\n", "", -EINVAL,
			"1: pct: expected a percentage from 0 to 100, got \"30\"");
}

static void test_bind_duration(void **state)
{
	struct fx *fx = *state;
	struct all out;

	assert_int_equal(bind(fx, "d: 30s\n", &out, ""), 0);
	assert_int_equal(out.d, 30000);
	assert_int_equal(bind(fx, "d: \"2m\"\n", &out, ""), 0);
	assert_int_equal(out.d, 120000);
	assert_int_equal(bind(fx, "d: 0\n", &out, ""), 0);
	assert_int_equal(out.d, 0);
	assert_bind_err(fx, "s: x\nd: 30x\n", "controllers.crash-watcher", -EINVAL,
			"2: controllers.crash-watcher.d: bad duration \"30x\" "
			"(want e.g. 30s, 2m, 1h)");
	assert_bind_err(fx, "d: 30\n", "", -EINVAL,
			"1: d: bad duration \"30\" (want e.g. 30s, 2m, 1h)");
	assert_bind_err(fx, "d: -5s\n", "", -EINVAL,
			"1: d: bad duration \"-5s\" (want e.g. 30s, 2m, 1h)");
	assert_bind_err(fx, "d: 99999999999999999999h\n", "", -EINVAL,
			"1: d: duration \"99999999999999999999h\" is too long");
	assert_bind_err(fx, "d:\n", "", -EINVAL, "1: d: expected a duration, got null");
	assert_bind_err(fx, "d: {a: 1}\n", "", -EINVAL, "1: d: expected a duration, got a map");
}

static void test_bind_strings(void **state)
{
	struct fx *fx = *state;
	struct all out;

	assert_int_equal(bind(fx, "sv: []\n", &out, ""), 0);
	assert_int_equal(out.sv.n, 0);
	assert_bind_err(fx, "sv: {a: 1}\n", "controllers.crash-watcher", -EINVAL,
			"1: controllers.crash-watcher.sv: expected a list of strings, got a map");
	assert_bind_err(fx, "sv: CrashLoopBackOff\n", "", -EINVAL,
			"1: sv: expected a list of strings, got \"CrashLoopBackOff\"");
	assert_bind_err(fx, "sv:\n  - a\n  - [b]\n", "", -EINVAL,
			"3: sv[1]: expected a string, got a list");
	assert_bind_err(fx, "sv: [a, ~]\n", "", -EINVAL, "1: sv[1]: expected a string, got null");
}

static void test_bind_globs(void **state)
{
	struct fx *fx = *state;
	struct all out;

	assert_int_equal(bind(fx, "g: ['*', 'moc-\\*', '[!x]y']\n", &out, ""), 0);
	assert_int_equal(out.g.n, 3);
	assert_bind_err(fx, "g: [moc-*, \"moc-[\"]\n", "routes[0]", -EINVAL,
			"1: routes[0].g[1]: bad glob \"moc-[\": unclosed bracket");
	assert_bind_err(fx, "g:\n  - ok\n  - 'x\\'\n", "", -EINVAL,
			"3: g[1]: bad glob \"x\\\": trailing backslash");
	assert_bind_err(fx, "g: ['']\n", "", -EINVAL, "1: g[0]: bad glob \"\": empty pattern");
	assert_bind_err(fx, "g: moc-*\n", "", -EINVAL,
			"1: g: expected a list of globs, got \"moc-*\"");
}

static void test_bind_long_value_cut(void **state)
{
	struct fx *fx = *state;
	char yaml[256], want[256];

	snprintf(yaml, sizeof(yaml), "d: %0100d\n", 7);
	snprintf(want, sizeof(want), "1: d: bad duration \"%064d...\" (want e.g. 30s, 2m, 1h)", 0);
	assert_bind_err(fx, yaml, "", -EINVAL, want);
}

static void test_bind_unknown_keys(void **state)
{
	struct fx *fx = *state;

	assert_bind_err(fx, "s: a\nzzz: 1\n", "", -EINVAL, "2: zzz: unknown key");
	assert_bind_err(fx, "zzz: 1\n", "controllers.crash-watcher", -EINVAL,
			"1: controllers.crash-watcher.zzz: unknown key");
	assert_bind_err(fx, "sub:\n  x: a\n  q: 1\n", "", -EINVAL, "3: sub.q: unknown key");
	assert_bind_err(fx, "sub: {x: a, q: 1}\n", "top", -EINVAL, "1: top.sub.q: unknown key");
	assert_bind_err(fx,
			"list:\n"
			"  - x: a\n"
			"  - x: b\n"
			"    q: 1\n",
			"", -EINVAL, "4: list[1].q: unknown key");
	assert_bind_err(fx, "list: [{x: a, y: -1}]\n", "chatops", -EINVAL,
			"1: chatops.list[0].y: expected a non-negative integer, got \"-1\"");
	/* the first bad key wins, in document order */
	assert_bind_err(fx, "u: x\nzzz: 1\n", "", -EINVAL,
			"1: u: expected a non-negative integer, got \"x\"");
}

static void test_bind_wrong_containers(void **state)
{
	struct fx *fx = *state;

	assert_bind_err(fx, "sub: [1]\n", "", -EINVAL, "1: sub: expected a map, got a list");
	assert_bind_err(fx, "sub: text\n", "", -EINVAL, "1: sub: expected a map, got \"text\"");
	assert_bind_err(fx, "list: {x: 1}\n", "", -EINVAL,
			"1: list: expected a list of maps, got a map");
	assert_bind_err(fx, "list:\n  - x: a\n  - b\n", "", -EINVAL,
			"3: list[1]: expected a map, got \"b\"");
	assert_bind_err(fx, "list:\n  - [a]\n", "", -EINVAL,
			"2: list[0]: expected a map, got a list");
	/* a section that is not a map at all */
	{
		const struct kl_conf_node *sec;
		struct kl_conf_node *root;
		struct all out;
		char want[512];

		assert_int_equal(parse(fx, "crash-watcher: [1]\n", &root), 0);
		sec = kl_conf_get(root, "crash-watcher");
		assert_int_equal(kl_conf_bind(&fx->arena, "k.yaml", sec, all_keys, &out,
					      "controllers.crash-watcher", &fx->err),
				 -EINVAL);
		snprintf(want, sizeof(want),
			 "k.yaml:1: controllers.crash-watcher: expected a map, got a list");
		assert_err(&fx->err, want);
	}
}

static void test_bind_secret_file(void **state)
{
	struct fx *fx = *state;
	char yaml[512], want[512];
	struct all out;

	write_file(fx->dir, "url", "https://hooks.slack.com/T/B/x\n", 30);
	assert_int_equal(bind(fx, "url_file: url\n", &out, ""), 0);
	assert_string_equal(out.secret, "https://hooks.slack.com/T/B/x");

	/* relative to the config file's folder, not to the working directory */
	assert_int_equal(chdir("/"), 0);
	write_file(fx->dir, "crlf", "s3cret\r\n", 8);
	assert_int_equal(bind(fx, "url_file: crlf\n", &out, ""), 0);
	assert_string_equal(out.secret, "s3cret");

	/* one newline cut, no more; no newline at all is fine */
	write_file(fx->dir, "two", "a\n\n", 3);
	assert_int_equal(bind(fx, "url_file: two\n", &out, ""), 0);
	assert_string_equal(out.secret, "a\n");
	write_file(fx->dir, "bare", "tok", 3);
	snprintf(yaml, sizeof(yaml), "url_file: %s/bare\n", fx->dir);
	assert_int_equal(bind(fx, yaml, &out, ""), 0);
	assert_string_equal(out.secret, "tok");

	snprintf(want, sizeof(want),
		 "1: notifiers[0].url_file: cannot read %s/nope: No such file or directory",
		 fx->dir);
	assert_bind_err(fx, "url_file: nope\n", "notifiers[0]", -ENOENT, want);

	assert_bind_err(fx, "url_file: /nonexistent/x\n", "", -ENOENT,
			"1: url_file: cannot read /nonexistent/x: No such file or directory");

	write_file(fx->dir, "empty", "", 0);
	snprintf(want, sizeof(want), "1: url_file: %s/empty is empty", fx->dir);
	assert_bind_err(fx, "url_file: empty\n", "", -EINVAL, want);
	write_file(fx->dir, "nl", "\n", 1);
	snprintf(want, sizeof(want), "1: url_file: %s/nl is empty", fx->dir);
	assert_bind_err(fx, "url_file: nl\n", "", -EINVAL, want);

	assert_bind_err(fx, "url_file: ~\n", "", -EINVAL,
			"1: url_file: expected a string, got null");
}

static void test_bind_secret_never_shown(void **state)
{
	struct fx *fx = *state;
	size_t big = 64 * 1024 + 1;
	char want[512];
	char *buf;

	buf = malloc(big);
	assert_non_null(buf);
	memset(buf, 'S', big);
	write_file(fx->dir, "big", buf, big);
	snprintf(want, sizeof(want), "1: url_file: %s/big is larger than 64 KiB", fx->dir);
	assert_bind_err(fx, "url_file: big\n", "", -EINVAL, want);
	assert_null(strstr(fx->err.msg, "SSS"));
	/* exactly 64 KiB is accepted */
	{
		struct all out;

		write_file(fx->dir, "max", buf, big - 1);
		assert_int_equal(bind(fx, "url_file: max\n", &out, ""), 0);
		assert_int_equal(strlen(out.secret), big - 1);
	}
	free(buf);

	write_file(fx->dir, "nul", "hunter2\0x", 9);
	snprintf(want, sizeof(want), "1: url_file: %s/nul holds NUL bytes", fx->dir);
	assert_bind_err(fx, "url_file: nul\n", "", -EINVAL, want);
	assert_null(strstr(fx->err.msg, "hunter2"));

	/* a folder */
	snprintf(want, sizeof(want), "1: url_file: cannot read %s: Is a directory", fx->dir);
	{
		char yaml[256];

		snprintf(yaml, sizeof(yaml), "url_file: %s\n", fx->dir);
		assert_bind_err(fx, yaml, "", -EISDIR, want);
	}
}

static void test_bind_set_twice(void **state)
{
	struct fx *fx = *state;
	struct all out;

	write_file(fx->dir, "url", "https://x.example\n", 18);
	assert_bind_err(fx, "url: https://a.example\nurl_file: url\n", "notifiers[0]", -EINVAL,
			"2: notifiers[0]: url and url_file are both set");
	assert_bind_err(fx, "url_file: url\nurl: https://a.example\n", "", -EINVAL,
			"2: url_file and url are both set");
	/* a default already in the field is not "set twice" */
	assert_int_equal(bind(fx, "url_file: url\n", &out, ""), 0);
	assert_string_equal(out.secret, "https://x.example");
	/* nor is a field set by an earlier bind of another element */
	assert_int_equal(bind(fx, "list: [{x: a}, {x: b}]\n", &out, ""), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tree_marks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_words, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_documents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_top_level_not_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_keys_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchors_tags_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiple_documents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_must_be_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syntax_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_fixture, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_absent_keeps_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_string, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_bool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_uint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_percent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_duration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_globs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_long_value_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_unknown_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_wrong_containers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_secret_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_secret_never_shown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_set_twice, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
