/*
 * test/fuzz/fuzz.h - what the libFuzzer targets share: a private scratch folder,
 * file writing, splitting an input at a marker, and a small deterministic PRNG
 * for chunk boundaries.
 *
 * Each target is one process that runs millions of inputs, so the helpers keep
 * state in statics (a fuzzer is not the daemon: the "no globals" rule is for
 * the product) and never print. A broken invariant calls fuzz_fail(), which
 * aborts so libFuzzer saves the input as a crasher.
 */
#ifndef KL_TEST_FUZZ_H
#define KL_TEST_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define fuzz_fail(...)                                                                             \
	do {                                                                                       \
		fprintf(stderr, "fuzz invariant broken: " __VA_ARGS__);                            \
		fputc('\n', stderr);                                                               \
		abort();                                                                           \
	} while (0)

static char fuzz_dir_path[256];

static inline int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static inline void fuzz_dir_cleanup(void)
{
	/* only ever our own mkdtemp folder */
	if (strncmp(fuzz_dir_path, "/tmp/kl-fuzz.", 13) == 0)
		nftw(fuzz_dir_path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A folder private to this process, removed at exit. */
static inline const char *fuzz_dir(void)
{
	if (!fuzz_dir_path[0]) {
		snprintf(fuzz_dir_path, sizeof(fuzz_dir_path), "/tmp/kl-fuzz.XXXXXX");
		if (!mkdtemp(fuzz_dir_path))
			fuzz_fail("mkdtemp: %s", strerror(errno));
		atexit(fuzz_dir_cleanup);
	}
	return fuzz_dir_path;
}

/* dir/name, in a static buffer per call site's choice (buf). */
static inline const char *fuzz_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", fuzz_dir(), name);
	return buf;
}

static inline void fuzz_write(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const char *p = data;

	if (fd < 0)
		fuzz_fail("open %s: %s", path, strerror(errno));
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fuzz_fail("write %s: %s", path, strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

static inline void fuzz_write_str(const char *path, const char *s)
{
	fuzz_write(path, s, strlen(s));
}

/*
 * Splits data at the first occurrence of marker: *head_len is the part before,
 * tail/tail_len the part after (NULL/0 when the marker is absent).
 */
static inline void fuzz_split(const uint8_t *data, size_t size, const char *marker,
			      size_t *head_len, const uint8_t **tail, size_t *tail_len)
{
	size_t ml = strlen(marker);
	const uint8_t *m = ml <= size ? memmem(data, size, marker, ml) : NULL;

	if (!m) {
		*head_len = size;
		*tail = NULL;
		*tail_len = 0;
		return;
	}
	*head_len = (size_t)(m - data);
	*tail = m + ml;
	*tail_len = size - *head_len - ml;
}

/* A NUL-terminated malloc'd copy; free it. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		fuzz_fail("out of memory");
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* FNV-1a over len bytes, continuing h: a digest of what a decoder hands out. */
static inline uint64_t fuzz_mix(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* xorshift64*: chunk boundaries that depend only on the seed, so crashes reproduce. */
static inline uint64_t fuzz_rand(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* A seed from the first bytes of the input (fewer when it is short). */
static inline uint64_t fuzz_seed(const uint8_t *data, size_t size)
{
	uint64_t s = 0x1234567;
	size_t i;

	for (i = 0; i < size && i < 8; i++)
		s = s * 131 + data[i];
	return s;
}

/* Next chunk length in [1, left]: mostly small, sometimes large, never 0. */
static inline size_t fuzz_chunk(uint64_t *state, size_t left)
{
	uint64_t r = fuzz_rand(state);
	size_t n = (size_t)((r >> 8) % ((size_t)1 << (r % 13))) + 1;

	return n < left ? n : left;
}

#endif
