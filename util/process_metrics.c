/*
 * util/process_metrics.c - the standard process_* families, read from /proc/self.
 *
 * Every Prometheus client exports these, and dashboards expect them under exactly
 * these names. The collector keeps no state of its own: it finds its families by
 * name in the registry it is handed, so nothing needs freeing beyond the registry.
 * process_cpu_seconds_total is a counter, which only takes increments, so each
 * collection adds the difference between the kernel's total and the current value.
 * When /proc cannot be read (not Linux, a sandbox), the values simply stay as they are.
 */
#include "util/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define CPU_NAME "process_cpu_seconds_total"
#define RSS_NAME "process_resident_memory_bytes"
#define VSIZE_NAME "process_virtual_memory_bytes"
#define OPEN_FDS_NAME "process_open_fds"
#define MAX_FDS_NAME "process_max_fds"
#define START_NAME "process_start_time_seconds"

/* The fields of /proc/self/stat we use (proc(5) numbering in the comments). */
struct proc_stat {
	unsigned long long utime;     /* 14, clock ticks */
	unsigned long long stime;     /* 15, clock ticks */
	unsigned long long starttime; /* 22, clock ticks after boot */
	unsigned long long vsize;     /* 23, bytes */
	long long rss;		      /* 24, pages */
};

/* Reads a small /proc file into buf as a string; 0 or a negative errno. */
static int read_small_file(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len + 1 < size) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return err;
}

static int read_proc_stat(struct proc_stat *st)
{
	char buf[2048];
	const char *p;
	int err, field;

	err = read_small_file("/proc/self/stat", buf, sizeof(buf));
	if (err < 0)
		return err;
	/* comm (field 2) may hold spaces and parentheses; fields resume after the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return -EPROTO;
	p++;
	for (field = 3; field <= 24; field++) {
		char *end;
		unsigned long long v;

		while (*p == ' ')
			p++;
		if (!*p)
			return -EPROTO;
		if (field == 3) { /* state, a letter */
			while (*p && *p != ' ')
				p++;
			continue;
		}
		errno = 0;
		v = strtoull(p, &end, 10);
		if (end == p || errno)
			return -EPROTO;
		p = end;
		if (field == 14)
			st->utime = v;
		else if (field == 15)
			st->stime = v;
		else if (field == 22)
			st->starttime = v;
		else if (field == 23)
			st->vsize = v;
		else if (field == 24)
			st->rss = (long long)v;
	}
	return 0;
}

/* The boot time (btime line of /proc/stat) in seconds since the epoch. */
static int read_boot_time(unsigned long long *btime)
{
	/* Line by line: the intr line before btime can be tens of kilobytes on big machines. */
	char *line = NULL;
	size_t cap = 0;
	int err = -EPROTO;
	FILE *fp;

	fp = fopen("/proc/stat", "re");
	if (!fp)
		return -errno;
	while (getline(&line, &cap, fp) > 0) {
		char *end;

		if (strncmp(line, "btime ", 6) != 0)
			continue;
		*btime = strtoull(line + 6, &end, 10);
		if (end != line + 6)
			err = 0;
		break;
	}
	free(line);
	fclose(fp);
	return err;
}

static int count_open_fds(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir("/proc/self/fd");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		/* Skip . and .. and the descriptor this listing itself holds open. */
		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		n++;
	}
	closedir(d);
	return n;
}

static void set_gauge(struct kl_metrics *m, const char *name, double v)
{
	struct kl_metric *f = kl_metrics_find(m, name);

	if (f)
		kl_metric_set(f, NULL, v);
}

static void collect(struct kl_metrics *m, void *arg)
{
	long ticks = sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);
	struct kl_metric *cpu, *start;
	struct proc_stat st = {0};
	unsigned long long btime = 0;
	struct rlimit rl;
	int fds;

	if (ticks <= 0)
		ticks = 100;
	if (page <= 0)
		page = 4096;

	if (read_proc_stat(&st) == 0) {
		double total = (double)(st.utime + st.stime) / (double)ticks;

		cpu = kl_metrics_find(m, CPU_NAME);
		if (cpu && total > kl_metric_get(cpu, NULL))
			kl_metric_add(cpu, NULL, total - kl_metric_get(cpu, NULL));
		set_gauge(m, RSS_NAME, (double)st.rss * (double)page);
		set_gauge(m, VSIZE_NAME, (double)st.vsize);
		/* Constant for the process' life: read /proc/stat only until it worked once. */
		start = kl_metrics_find(m, START_NAME);
		if (start && kl_metric_get(start, NULL) == 0 && read_boot_time(&btime) == 0)
			kl_metric_set(start, NULL,
				      (double)btime + (double)st.starttime / (double)ticks);
	}
	fds = count_open_fds();
	if (fds >= 0)
		set_gauge(m, OPEN_FDS_NAME, fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		set_gauge(m, MAX_FDS_NAME, (double)rl.rlim_cur);
}

int kl_process_metrics_register(struct kl_metrics *m)
{
	/* clang-format off */
	static const struct {
		const char *name;
		const char *help;
		bool counter;
	} families[] = {
		{ CPU_NAME, "Total user and system CPU time spent in seconds.", true },
		{ RSS_NAME, "Resident memory size in bytes.", false },
		{ VSIZE_NAME, "Virtual memory size in bytes.", false },
		{ OPEN_FDS_NAME, "Number of open file descriptors.", false },
		{ MAX_FDS_NAME, "Maximum number of open file descriptors.", false },
		{ START_NAME, "Start time of the process since unix epoch in seconds.", false },
	};
	/* clang-format on */
	size_t i;
	int err;

	if (!m)
		return -EINVAL;
	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		if (kl_metrics_find(m, families[i].name))
			return -EEXIST;
	}
	/* A failure below leaves the families registered so far; the caller frees m. */
	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		struct kl_metric *f;

		if (families[i].counter)
			f = kl_metrics_counter(m, families[i].name, families[i].help, NULL);
		else
			f = kl_metrics_gauge(m, families[i].name, families[i].help, NULL);
		if (!f)
			return -ENOMEM;
	}
	err = kl_metrics_add_collector(m, collect, NULL);
	if (err < 0)
		return err;
	/* Fill the values now, so they are right even before the first scrape. */
	collect(m, NULL);
	return 0;
}
