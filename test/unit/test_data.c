/* test_data.c — the local data tier (core/store/data.c): sparse files, locks, eviction, usage. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "store/data.h"
#include "base/err.h"
#include "base/log.h"

#define GIB (1024ull * 1024 * 1024)

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static struct data_tier *tier_open(const char *dir)
{
	struct data_tier *t = NULL;
	struct data_opts o = { .quota_bytes = 123456789 };

	CHECK_OK(data_tier_open(dir, &o, &t));
	CHECK(t != NULL);
	return t;
}

static void path_of(const char *dir, uint64_t ino, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%02x/%016" PRIx64, dir, (unsigned)(ino & 0xff), ino);
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_open_create_layout(void)
{
	const char *dir = check_tmpdir();
	struct data_tier *t = tier_open(dir);
	char path[4200];
	struct stat st;
	int fd = -1, flags;

	CHECK_U64_EQ(data_tier_quota(t), 123456789);
	CHECK_U64_EQ(data_tier_usage(t), 0);
	/* Missing without DATA_CREATE; no fan-out directory is created for it. */
	CHECK_INT_EQ(data_file_open(t, 0x1234, 0, &fd), ENOENT);
	CHECK_INT_EQ(fd, -1);
	snprintf(path, sizeof path, "%s/34", dir);
	CHECK(stat(path, &st) != 0 && errno == ENOENT);
	CHECK_OK(data_file_open(t, 0x1234, DATA_CREATE, &fd));
	CHECK(fd >= 0);
	flags = fcntl(fd, F_GETFD);
	CHECK(flags >= 0 && (flags & FD_CLOEXEC));
	CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
	path_of(dir, 0x1234, path, sizeof path);
	CHECK_STR_EQ(strrchr(path, '/') + 1, "0000000000001234");
	CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode));
	CHECK_INT_EQ(st.st_mode & 0777, 0600);
	data_file_close(t, fd);
	/* Existing now. */
	CHECK_OK(data_file_open(t, 0x1234, 0, &fd));
	data_file_close(t, fd);
	/* Large inode numbers use all 16 digits. */
	CHECK_OK(data_file_open(t, UINT64_MAX, DATA_CREATE, &fd));
	data_file_close(t, fd);
	path_of(dir, UINT64_MAX, path, sizeof path);
	CHECK(stat(path, &st) == 0);
	CHECK(strstr(path, "/ff/ffffffffffffffff") != NULL);
	data_tier_close(t);
	data_tier_close(NULL);
}

static void test_sparse_1gib(void)
{
	const char *dir = check_tmpdir();
	struct data_tier *t = tier_open(dir);
	static unsigned char wbuf[8192], rbuf[3 * 8192];
	uint64_t offs[64], alloc = 0;
	size_t got;
	int fd;

	rng_state = 0x5a5a5a5aull;
	CHECK_OK(data_file_open(t, 42, DATA_CREATE, &fd));
	CHECK_OK(data_file_truncate(fd, GIB));
	CHECK_OK(data_file_allocated(fd, &alloc));
	CHECK_MSG(alloc < 64 * 1024, "a 1 GiB truncate allocated %" PRIu64 " bytes", alloc);
	for (int i = 0; i < 64; i++) {
		/* Random, unaligned, at least 3 buffers apart so each has holes around it. */
		offs[i] = (uint64_t)i * (GIB / 64) + 8192 + rng() % (GIB / 64 - 4 * 8192);
		for (size_t j = 0; j < sizeof wbuf; j++)
			wbuf[j] = (unsigned char)(i * 31 + j * 7 + 1) | 1;	/* never zero */
		CHECK_OK(data_file_write(fd, wbuf, sizeof wbuf, offs[i]));
	}
	CHECK_OK(data_file_allocated(fd, &alloc));
	/* 64 x 8 KiB written, each touching at most 3 pages... allow generous fs overhead. */
	CHECK_MSG(alloc <= 64 * 3 * 8192 + 1024 * 1024, "allocated %" PRIu64 " bytes", alloc);
	for (int i = 0; i < 64; i++) {
		/* Hole, data, hole: read straddling both edges. */
		CHECK_OK(data_file_read(fd, rbuf, sizeof rbuf, offs[i] - 8192, &got));
		CHECK_INT_EQ(got, sizeof rbuf);
		CHECK(all_zero(rbuf, 8192));
		for (size_t j = 0; j < sizeof wbuf; j++)
			CHECK((unsigned char)((unsigned char)(i * 31 + j * 7 + 1) | 1) == rbuf[8192 + j]);
		CHECK(all_zero(rbuf + 16384, 8192));
	}
	/* Holes far from any write. */
	CHECK_OK(data_file_read(fd, rbuf, sizeof rbuf, 0, &got));
	CHECK(got == sizeof rbuf && all_zero(rbuf, sizeof rbuf));
	/* End of file: a short count, the rest of the buffer untouched. */
	memset(rbuf, 0xee, sizeof rbuf);
	CHECK_OK(data_file_read(fd, rbuf, sizeof rbuf, GIB - 100, &got));
	CHECK_INT_EQ(got, 100);
	CHECK(all_zero(rbuf, 100) && rbuf[100] == 0xee);
	CHECK_OK(data_file_read(fd, rbuf, sizeof rbuf, GIB + 5, NULL));
	CHECK_OK(data_file_read(fd, rbuf, 0, 0, &got));
	CHECK_INT_EQ(got, 0);
	/* Offsets that do not fit off_t. */
	CHECK_INT_EQ(data_file_read(fd, rbuf, 10, UINT64_MAX - 5, &got), EINVAL);
	CHECK_INT_EQ(data_file_write(fd, rbuf, 10, (uint64_t)INT64_MAX - 5), EINVAL);
	CHECK_INT_EQ(data_file_truncate(fd, (uint64_t)INT64_MAX + 1), EFBIG);
	CHECK_OK(data_file_sync(fd));
	data_file_close(t, fd);
	CHECK_OK(data_file_remove(t, 42));
	data_tier_close(t);
}

static void test_punch_and_truncate(void)
{
	const char *dir = check_tmpdir();
	struct data_tier *t = tier_open(dir);
	static unsigned char buf[1 << 20];
	uint64_t before, after;
	struct stat st;
	size_t got;
	int fd, rc;

	CHECK_OK(data_file_open(t, 7, DATA_CREATE, &fd));
	memset(buf, 0xab, sizeof buf);
	CHECK_OK(data_file_write(fd, buf, sizeof buf, 0));
	CHECK_OK(data_file_sync(fd));
	CHECK_OK(data_file_allocated(fd, &before));
	CHECK(before >= sizeof buf);
	rc = data_file_punch(fd, 4096, 512 * 1024);
	if (rc == EOPNOTSUPP) {
		printf("# data tier file system cannot punch holes; punch checks skipped\n");
	} else {
		CHECK_OK(rc);
		CHECK_OK(data_file_allocated(fd, &after));
		CHECK_MSG(after + 512 * 1024 <= before, "punch freed %" PRIu64 " bytes",
			  before - after);
		CHECK(fstat(fd, &st) == 0);
		CHECK_INT_EQ(st.st_size, sizeof buf);	/* size kept */
		CHECK_OK(data_file_read(fd, buf, sizeof buf, 0, &got));
		CHECK_INT_EQ(got, sizeof buf);
		CHECK(buf[4095] == 0xab && all_zero(buf + 4096, 512 * 1024) &&
		      buf[4096 + 512 * 1024] == 0xab);
		/* Past end of file and empty: fine, nothing changes. */
		CHECK_OK(data_file_punch(fd, 10 * sizeof buf, 4096));
		CHECK_OK(data_file_punch(fd, 0, 0));
		CHECK(fstat(fd, &st) == 0 && st.st_size == (off_t)sizeof buf);
	}
	CHECK_INT_EQ(data_file_punch(fd, UINT64_MAX - 1, 10), EINVAL);
	/* Truncate down and up: the regrown part is a hole. */
	CHECK_OK(data_file_truncate(fd, 1000));
	CHECK(fstat(fd, &st) == 0 && st.st_size == 1000);
	CHECK_OK(data_file_truncate(fd, 5000));
	CHECK_OK(data_file_read(fd, buf, 5000, 0, &got));
	CHECK_INT_EQ(got, 5000);
	CHECK(buf[999] == 0xab && all_zero(buf + 1000, 4000));
	data_file_close(t, fd);
	data_tier_close(t);
}

static void test_remove_enoent_tolerant(void)
{
	const char *dir = check_tmpdir();
	struct data_tier *t = tier_open(dir);
	char path[4200];
	struct stat st;
	int fd;

	CHECK_OK(data_file_remove(t, 99));	/* never existed, not even its directory */
	CHECK_OK(data_file_open(t, 99, DATA_CREATE, &fd));
	CHECK_OK(data_file_write(fd, "x", 1, 0));
	data_file_close(t, fd);
	CHECK_OK(data_file_remove(t, 99));
	path_of(dir, 99, path, sizeof path);
	CHECK(stat(path, &st) != 0 && errno == ENOENT);
	CHECK_OK(data_file_remove(t, 99));	/* twice */
	CHECK_OK(data_file_evict(t, 99));	/* gone: nothing to evict */
	data_tier_close(t);
}

static void test_evict_busy_in_process(void)
{
	const char *dir = check_tmpdir();
	struct data_tier *t = tier_open(dir);
	char path[4200];
	struct stat st;
	int fd, fd2;

	CHECK_OK(data_file_open(t, 5, DATA_CREATE, &fd));
	CHECK_OK(data_file_write(fd, "hello", 5, 0));
	CHECK_OK(data_file_lock(fd, false));
	/* flock belongs to the open file description: the evictor's own open conflicts. */
	CHECK_INT_EQ(data_file_evict(t, 5), EBUSY);
	path_of(dir, 5, path, sizeof path);
	CHECK(stat(path, &st) == 0);
	/* Two readers share. */
	CHECK_OK(data_file_open(t, 5, 0, &fd2));
	CHECK_OK(data_file_lock(fd2, false));
	data_file_unlock(fd2);
	data_file_close(t, fd2);
	/* An exclusive holder blocks eviction too. */
	data_file_unlock(fd);
	CHECK_OK(data_file_lock(fd, true));
	CHECK_INT_EQ(data_file_evict(t, 5), EBUSY);
	data_file_unlock(fd);
	/* Unlocked (fd still open): eviction proceeds. */
	CHECK_OK(data_file_evict(t, 5));
	CHECK(stat(path, &st) != 0 && errno == ENOENT);
	/* The late locker learns that its file is gone, and reopens a fresh one. */
	CHECK_INT_EQ(data_file_lock(fd, false), ENOENT);
	CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0);	/* the failed lock was released */
	data_file_close(t, fd);
	CHECK_INT_EQ(data_file_open(t, 5, 0, &fd), ENOENT);
	CHECK_OK(data_file_open(t, 5, DATA_CREATE, &fd));
	CHECK_OK(data_file_lock(fd, false));
	CHECK(fstat(fd, &st) == 0 && st.st_size == 0);
	data_file_close(t, fd);	/* closing drops the lock */
	CHECK_OK(data_file_evict(t, 5));
	data_tier_close(t);
}

/* still_ok callback: records the call and whether the file was still there, answers *arg. */
static int evict_ok_calls;
static int evict_ok_file_present;
static const char *evict_ok_path;

static int evict_ok(void *arg, uint64_t ino)
{
	struct stat st;

	(void)ino;
	evict_ok_calls++;
	evict_ok_file_present = stat(evict_ok_path, &st) == 0;
	return *(int *)arg;
}

/* data_file_evict_if: the check runs under the lock, before the unlink; a refusal keeps
 * the file and is returned; a held lock means the check never runs. */
static void test_evict_if(void)
{
	const char *dir = check_tmpdir();
	struct data_tier *t = tier_open(dir);
	char path[4200];
	struct stat st;
	int fd, answer;

	path_of(dir, 9, path, sizeof path);
	evict_ok_path = path;
	CHECK_OK(data_file_open(t, 9, DATA_CREATE, &fd));
	CHECK_OK(data_file_write(fd, "data", 4, 0));
	CHECK_OK(data_file_lock(fd, false));
	answer = 0;
	evict_ok_calls = 0;
	CHECK_INT_EQ(data_file_evict_if(t, 9, evict_ok, &answer), EBUSY);
	CHECK_INT_EQ(evict_ok_calls, 0);	/* in use: not even asked */
	data_file_unlock(fd);
	answer = EBUSY;
	CHECK_INT_EQ(data_file_evict_if(t, 9, evict_ok, &answer), EBUSY);
	CHECK_INT_EQ(evict_ok_calls, 1);
	CHECK(stat(path, &st) == 0);		/* refused: kept */
	answer = 0;
	CHECK_OK(data_file_evict_if(t, 9, evict_ok, &answer));
	CHECK_INT_EQ(evict_ok_calls, 2);
	CHECK_INT_EQ(evict_ok_file_present, 1);	/* asked before the unlink */
	CHECK(stat(path, &st) != 0 && errno == ENOENT);
	data_file_close(t, fd);
	/* no file: nothing to ask */
	CHECK_OK(data_file_evict_if(t, 9, evict_ok, &answer));
	CHECK_INT_EQ(evict_ok_calls, 2);
	data_tier_close(t);
}

struct files_seen {
	uint64_t ino[8];
	int64_t used[8];
	uint64_t bytes[8];
	int n;
};

static int files_cb(void *arg, const struct data_file_info *fi)
{
	struct files_seen *s = arg;

	if (s->n < 8) {
		s->ino[s->n] = fi->ino;
		s->used[s->n] = fi->used_ns;
		s->bytes[s->n] = fi->bytes;
		s->n++;
	}
	return 0;
}

/* data_tier_files reports each file with its last use (later of atime and mtime);
 * data_file_touch moves atime forward, but not more often than the granularity. */
static void test_files_and_touch(void)
{
	const char *dir = check_tmpdir();
	struct data_tier *t = tier_open(dir);
	struct files_seen s = { .n = 0 };
	struct timespec old[2] = { { 1000000, 0 }, { 1000000, 0 } };	/* 1970-01-12 */
	char junk[4300];
	uint64_t total = 0;
	int fd, fd2;
	int64_t now = 2000000000LL * 1000000000LL;

	CHECK_OK(data_file_open(t, 0x1234, DATA_CREATE, &fd));
	CHECK_OK(data_file_write(fd, "x", 1, 0));
	CHECK_OK(data_file_sync(fd));
	CHECK(futimens(fd, old) == 0);
	CHECK_OK(data_file_open(t, 0x99, DATA_CREATE, &fd2));
	CHECK_OK(data_file_write(fd2, "yy", 2, 0));
	/* a stray file in the tier is counted but never reported as an inode */
	snprintf(junk, sizeof junk, "%s/34/not-an-inode", dir);	/* beside ino 0x1234 */
	{
		int j = open(junk, O_CREAT | O_WRONLY, 0600);

		CHECK(j >= 0);
		CHECK(write(j, "zzzz", 4) == 4);
		close(j);
	}
	CHECK_OK(data_tier_files(t, files_cb, &s, &total));
	CHECK_INT_EQ(s.n, 2);
	for (int i = 0; i < s.n; i++) {
		if (s.ino[i] == 0x1234)
			CHECK_INT_EQ(s.used[i], 1000000LL * 1000000000LL);
		else
			CHECK_U64_EQ(s.ino[i], 0x99);
		CHECK(s.bytes[i] > 0);
	}
	CHECK(total >= s.bytes[0] + s.bytes[1]);
	CHECK_U64_EQ(data_tier_usage(t), total);

	/* touch: moves atime to now; a second touch within the granularity does nothing */
	CHECK_OK(data_file_touch(fd, now, 3600LL * 1000000000LL));
	CHECK_OK(data_file_touch(fd, now + 60LL * 1000000000LL, 3600LL * 1000000000LL));
	s.n = 0;
	CHECK_OK(data_tier_files(t, files_cb, &s, NULL));
	for (int i = 0; i < s.n; i++)
		if (s.ino[i] == 0x1234)
			CHECK_INT_EQ(s.used[i], now);
	data_file_close(t, fd);
	data_file_close(t, fd2);
	data_tier_close(t);
}

/* The lock holder is another process: evict must see it (EBUSY), then succeed. */
static void test_evict_busy_across_fork(void)
{
	const char *dir = check_tmpdir();
	struct data_tier *t = tier_open(dir);
	int ready[2], go[2], fd, status = 0;
	char c = 0;
	pid_t pid;

	CHECK_OK(data_file_open(t, 0xabc, DATA_CREATE, &fd));
	CHECK_OK(data_file_write(fd, "data", 4, 0));
	data_file_close(t, fd);
	CHECK(pipe(ready) == 0 && pipe(go) == 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* Child: its own open + shared lock, then wait for the parent. */
		int cfd = -1, ok;

		close(ready[0]);
		close(go[1]);
		ok = data_file_open(t, 0xabc, 0, &cfd) == 0 && data_file_lock(cfd, false) == 0;
		c = ok ? 'L' : 'E';
		if (write(ready[1], &c, 1) != 1)
			_exit(3);
		if (read(go[0], &c, 1) != 1)
			_exit(4);
		_exit(ok ? 0 : 2);	/* exit closes cfd: lock released */
	}
	close(ready[1]);
	close(go[0]);
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK_MSG(c == 'L', "child could not lock");
	CHECK_INT_EQ(data_file_evict(t, 0xabc), EBUSY);
	/* Still there for the child. */
	CHECK_OK(data_file_open(t, 0xabc, 0, &fd));
	data_file_close(t, fd);
	c = 'g';
	CHECK(write(go[1], &c, 1) == 1);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(ready[0]);
	close(go[1]);
	CHECK_OK(data_file_evict(t, 0xabc));
	CHECK_INT_EQ(data_file_open(t, 0xabc, 0, &fd), ENOENT);
	data_tier_close(t);
}

/* Sum of st_blocks * 512 of every regular file under dir/xx/. */
static uint64_t du(const char *dir)
{
	uint64_t sum = 0;

	for (unsigned b = 0; b < 256; b++) {
		char sub[4200], p[4200 + 300];
		DIR *d;
		struct dirent *e;

		snprintf(sub, sizeof sub, "%s/%02x", dir, b);
		d = opendir(sub);
		if (!d)
			continue;
		while ((e = readdir(d))) {
			struct stat st;

			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof p, "%s/%s", sub, e->d_name);
			if (lstat(p, &st) == 0 && S_ISREG(st.st_mode))
				sum += (uint64_t)st.st_blocks * 512;
		}
		closedir(d);
	}
	return sum;
}

static void test_usage_accounting(void)
{
	const char *dir = check_tmpdir();
	struct data_tier *t = tier_open(dir);
	static unsigned char buf[100000];
	uint64_t scanned = 0, a0, a1, expect;
	int fd;

	memset(buf, 1, sizeof buf);
	rng_state = 0x77ull;
	for (uint64_t ino = 1; ino <= 50; ino++) {
		CHECK_OK(data_file_open(t, ino * 977, DATA_CREATE, &fd));
		CHECK_OK(data_file_allocated(fd, &a0));
		CHECK_OK(data_file_write(fd, buf, 1 + rng() % sizeof buf, rng() % (1 << 22)));
		CHECK_OK(data_file_allocated(fd, &a1));
		data_tier_usage_adjust(t, (int64_t)a1 - (int64_t)a0);	/* the caller reports */
		data_file_close(t, fd);
	}
	expect = du(dir);
	CHECK(expect > 0);
	CHECK_U64_EQ(data_tier_usage(t), expect);
	CHECK_OK(data_tier_scan(t, &scanned));
	CHECK_U64_EQ(scanned, expect);
	CHECK_U64_EQ(data_tier_usage(t), expect);
	/* Stray files outside the fan-out directories are not ours and not counted. */
	{
		char p[4200];
		int sfd;

		snprintf(p, sizeof p, "%s/stray", dir);
		sfd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		CHECK(sfd >= 0 && write(sfd, buf, 50000) == 50000);
		close(sfd);
	}
	/* Remove and evict subtract what the file held. */
	CHECK_OK(data_file_remove(t, 1 * 977));
	CHECK_OK(data_file_evict(t, 2 * 977));
	expect = du(dir);
	CHECK_U64_EQ(data_tier_usage(t), expect);
	/* A fresh open scans. */
	data_tier_close(t);
	t = tier_open(dir);
	CHECK_U64_EQ(data_tier_usage(t), expect);
	/* The counter never reads negative; a scan resets it. */
	data_tier_usage_adjust(t, -(int64_t)expect - 4096);
	CHECK_U64_EQ(data_tier_usage(t), 0);
	CHECK_OK(data_tier_scan(t, NULL));
	CHECK_U64_EQ(data_tier_usage(t), expect);
	data_tier_close(t);
}

static void test_fanout_10k_files(void)
{
	const char *dir = check_tmpdir();
	struct data_tier *t = tier_open(dir);
	uint64_t scanned = 0;
	unsigned per_dir[256] = { 0 };
	int fd;

	for (uint64_t i = 0; i < 10000; i++) {
		uint64_t ino = 1000 + i * 3;
		unsigned char b = (unsigned char)ino;

		CHECK_OK(data_file_open(t, ino, DATA_CREATE, &fd));
		CHECK_OK(data_file_write(fd, &b, 1, ino % 8192));
		data_file_close(t, fd);
	}
	for (unsigned b = 0; b < 256; b++) {
		char sub[4200];
		DIR *d;
		struct dirent *e;

		snprintf(sub, sizeof sub, "%s/%02x", dir, b);
		d = opendir(sub);
		CHECK_MSG(d != NULL, "no fan-out directory %02x", b);
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				per_dir[b]++;
		closedir(d);
	}
	/* 10,000 consecutive-ish inodes spread evenly: 39 or 40 per directory. */
	for (unsigned b = 0; b < 256; b++)
		CHECK_MSG(per_dir[b] >= 38 && per_dir[b] <= 41, "dir %02x holds %u", b, per_dir[b]);
	CHECK_OK(data_tier_scan(t, &scanned));
	CHECK_U64_EQ(scanned, du(dir));
	for (uint64_t i = 0; i < 10000; i++) {
		uint64_t ino = 1000 + i * 3;
		unsigned char b = 0;
		size_t got = 0;

		if (i % 101)
			continue;
		CHECK_OK(data_file_open(t, ino, 0, &fd));
		CHECK_OK(data_file_read(fd, &b, 1, ino % 8192, &got));
		CHECK(got == 1 && b == (unsigned char)ino);
		data_file_close(t, fd);
	}
	for (uint64_t i = 0; i < 10000; i++)
		CHECK_OK(i % 2 ? data_file_remove(t, 1000 + i * 3) : data_file_evict(t, 1000 + i * 3));
	CHECK_U64_EQ(du(dir), 0);
	CHECK_U64_EQ(data_tier_usage(t), 0);
	data_tier_close(t);
}

static void test_open_errors(void)
{
	const char *dir = check_tmpdir();
	char path[4200];
	struct data_tier *t = NULL;
	int fd;

	/* A file where the tier directory should be. */
	snprintf(path, sizeof path, "%s/notadir", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK_INT_EQ(data_tier_open(path, NULL, &t), ENOTDIR);
	CHECK(t == NULL);
	/* Missing parent. */
	snprintf(path, sizeof path, "%s/no/such", dir);
	CHECK_INT_EQ(data_tier_open(path, NULL, &t), ENOENT);
	/* Created when missing (one level), quota 0 without opts. */
	snprintf(path, sizeof path, "%s/tier", dir);
	CHECK_OK(data_tier_open(path, NULL, &t));
	CHECK_U64_EQ(data_tier_quota(t), 0);
	data_tier_close(t);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_level_set(LOG_LVL_WARN);	/* keep the tier's INFO lines out of the test log */
	CHECK_RUN(test_open_create_layout);
	CHECK_RUN(test_sparse_1gib);
	CHECK_RUN(test_punch_and_truncate);
	CHECK_RUN(test_remove_enoent_tolerant);
	CHECK_RUN(test_evict_busy_in_process);
	CHECK_RUN(test_evict_busy_across_fork);
	CHECK_RUN(test_evict_if);
	CHECK_RUN(test_files_and_touch);
	CHECK_RUN(test_usage_accounting);
	CHECK_RUN(test_fanout_10k_files);
	CHECK_RUN(test_open_errors);
	return check_done();
}
