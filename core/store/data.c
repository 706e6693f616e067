/*
 * data.c — see data.h.
 *
 * Every path operation is relative to a directory fd opened once (openat & co), so the
 * tier keeps working if its directory is renamed and no path is ever longer than
 * "xx/0123456789abcdef".
 *
 * Eviction vs. writers, across processes: flock locks belong to the open file
 * description, so two opens of the same file conflict even inside one process. A writer
 * that opened the file just before an evictor unlinked it would otherwise lock and write
 * into an orphan; data_file_lock therefore checks st_nlink after acquiring the lock and
 * reports ENOENT, and the caller reopens (creating a fresh, empty file).
 *
 * Space accounting is a signed atomic counter: callers add what their writes allocated
 * (they know it from data_file_allocated before/after), remove/evict subtract what the
 * file held, and a scan replaces the estimate by a recount.
 */
#include "store/data.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/tp.h"

#define DATA_NAME_MAX 24	/* "xx/" + 16 hex digits + NUL */
#define DATA_FANOUT 256

struct data_tier {
	char *dir;		/* for log lines only */
	int dirfd;
	uint64_t quota;
	_Atomic int64_t usage;	/* may dip below 0 transiently; read clamps */
	/* Fan-out directories opened for fsync (-1: not yet); set once, closed at close. */
	_Atomic int subfd[DATA_FANOUT];
	/* data_tier_on_exclusive: set once, before any lock is taken; read only after. */
	data_excl_fn before_excl, on_excl;
	void *on_excl_arg;
};

static atomic_bool data_punch_warned;

/* "xx/<ino as 16 hex digits>", xx = low byte of ino. */
static void data_name(uint64_t ino, char name[DATA_NAME_MAX])
{
	snprintf(name, DATA_NAME_MAX, "%02x/%016" PRIx64, (unsigned)(ino & 0xff), ino);
}

static int data_check_range(uint64_t off, uint64_t len)
{
	if (off > INT64_MAX || len > INT64_MAX - off)
		return EINVAL;
	return 0;
}

int data_tier_open(const char *dir, const struct data_opts *opts, struct data_tier **out)
{
	struct data_tier *t;
	uint64_t bytes;
	int rc;

	*out = NULL;
	t = calloc(1, sizeof *t);
	if (!t)
		return ENOMEM;
	t->dirfd = -1;
	for (unsigned i = 0; i < DATA_FANOUT; i++)
		atomic_init(&t->subfd[i], -1);
	t->quota = opts ? opts->quota_bytes : 0;
	atomic_init(&t->usage, 0);
	t->dir = strdup(dir);
	if (!t->dir) {
		rc = ENOMEM;
		goto fail;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rc = errno;
		LOG_ERROR(LOG_C_DATA, "cannot create data tier directory %s: %s", dir, strerror(rc));
		goto fail;
	}
	t->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd < 0) {
		rc = errno;
		LOG_ERROR(LOG_C_DATA, "cannot open data tier directory %s: %s", dir, strerror(rc));
		goto fail;
	}
	rc = data_tier_scan(t, &bytes);
	if (rc) {
		LOG_ERROR(LOG_C_DATA, "cannot scan data tier %s: %s", dir, strerror(rc));
		goto fail;
	}
	LOG_INFO(LOG_C_DATA, "data tier %s: %" PRIu64 " bytes allocated, quota %" PRIu64, dir,
		 bytes, t->quota);
	*out = t;
	return 0;
fail:
	data_tier_close(t);
	return rc;
}

void data_tier_close(struct data_tier *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < DATA_FANOUT; i++) {
		int fd = atomic_load(&t->subfd[i]);

		if (fd >= 0)
			close(fd);
	}
	if (t->dirfd >= 0)
		close(t->dirfd);
	free(t->dir);
	free(t);
}

int data_file_open(struct data_tier *t, uint64_t ino, int flags, int *fd)
{
	char name[DATA_NAME_MAX];
	int oflags = O_RDWR | O_CLOEXEC | ((flags & DATA_CREATE) ? O_CREAT : 0);
	int f;

	*fd = -1;
	data_name(ino, name);
	f = openat(t->dirfd, name, oflags, 0600);
	if (f < 0 && errno == ENOENT && (flags & DATA_CREATE)) {
		/* Fan-out directories are created on first use, and made durable in the tier's
		 * directory at once (256 times in the tier's life), so that data_file_durable
		 * only ever has to sync the fan-out directory. */
		name[2] = '\0';
		if (mkdirat(t->dirfd, name, 0700) == 0) {
			if (fsync(t->dirfd) != 0)
				return errno;
		} else if (errno != EEXIST) {
			return errno;
		}
		name[2] = '/';
		f = openat(t->dirfd, name, oflags, 0600);
	}
	if (f < 0)
		return errno;
	*fd = f;
	return 0;
}

void data_file_close(struct data_tier *t, int fd)
{
	(void)t;
	if (fd >= 0)
		close(fd);	/* releases the flock if this was the last fd of the open */
}

int data_file_lock(int fd, bool exclusive)
{
	struct stat st;
	int rc;

	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
		if (errno != EINTR)
			return errno;
	}
	if (fstat(fd, &st) != 0) {
		rc = errno;
		goto unlock;
	}
	if (st.st_nlink == 0) {	/* evicted or removed between open and lock */
		rc = ENOENT;
		goto unlock;
	}
	return 0;
unlock:
	(void)flock(fd, LOCK_UN);
	return rc;
}

void data_tier_on_exclusive(struct data_tier *t, data_excl_fn before, data_excl_fn after,
			    void *arg)
{
	t->before_excl = before;
	t->on_excl = after;
	t->on_excl_arg = arg;
}

int data_file_open_locked(struct data_tier *t, uint64_t ino, int flags, bool exclusive, int *fd)
{
	int rc = ENOENT;

	/* Each retry means an eviction won a race; a handful is plenty. */
	for (int tries = 0; tries < 8 && rc == ENOENT; tries++) {
		rc = data_file_open(t, ino, flags, fd);
		if (rc)
			return rc;
		TP("data.open_locked.opened");
		if (exclusive && t->before_excl)
			rc = t->before_excl(t->on_excl_arg, ino);
		if (rc == 0)
			rc = data_file_lock(*fd, exclusive);
		if (rc == 0 && exclusive && t->on_excl && (rc = t->on_excl(t->on_excl_arg, ino)))
			data_file_unlock(*fd);
		if (rc) {
			data_file_close(t, *fd);
			*fd = -1;
		}
	}
	return rc;
}

void data_file_unlock(int fd)
{
	(void)flock(fd, LOCK_UN);
}

int data_file_read(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	size_t done = 0;
	int rc;

	if (got)
		*got = 0;
	rc = data_check_range(off, len);
	if (rc)
		return rc;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (n == 0)	/* end of file */
			break;
		done += (size_t)n;
	}
	if (got)
		*got = done;
	return 0;
}

int data_file_write(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	int rc;

	rc = data_check_range(off, len);
	if (rc)
		return rc;
	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (n == 0)
			return EIO;
		done += (size_t)n;
	}
	return 0;
}

int data_file_sync(int fd)
{
	while (fdatasync(fd) != 0) {
		if (errno != EINTR)
			return errno;
	}
	return 0;
}

/* The fan-out directory of ino, opened once per tier and kept for fsync. */
static int data_subdir_fd(struct data_tier *t, uint64_t ino, int *out)
{
	unsigned b = (unsigned)(ino & 0xff);
	char sub[3];
	int fd = atomic_load(&t->subfd[b]), expect = -1;

	if (fd >= 0) {
		*out = fd;
		return 0;
	}
	snprintf(sub, sizeof sub, "%02x", b);
	fd = openat(t->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (!atomic_compare_exchange_strong(&t->subfd[b], &expect, fd)) {
		close(fd);	/* another thread was first */
		fd = expect;
	}
	*out = fd;
	return 0;
}

int data_file_durable(struct data_tier *t, uint64_t ino, int fd)
{
	int dfd = -1, rc;

	rc = data_file_sync(fd);
	if (rc)
		return rc;
	/* The file's name, which a power cut may otherwise lose with the file (whoever made
	 * it: this process, the other one, or one that crashed before it synced). A clean
	 * directory costs about as much as a clean fdatasync. */
	rc = data_subdir_fd(t, ino, &dfd);
	if (rc)
		return rc;
	while (fsync(dfd) != 0) {
		if (errno != EINTR)
			return errno;
	}
	return 0;
}

int data_file_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

int data_stage_open(struct data_tier *t, int *fd)
{
	int f;

	/* Unnamed, in the tier's file system (so copy_file_range stays in one file system
	 * and can share blocks where it supports that), gone with its last descriptor. */
	f = openat(t->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (f < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		char name[40];

		/* Fallback for a file system without O_TMPFILE: a named file removed at once. */
		for (int tries = 0; tries < 16 && f < 0; tries++) {
			snprintf(name, sizeof name, ".stage-%ld-%08x", (long)getpid(),
				 (unsigned)rand());
			f = openat(t->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (f >= 0)
				(void)unlinkat(t->dirfd, name, 0);
			else if (errno != EEXIST)
				break;
		}
	}
	if (f < 0)
		return errno;
	*fd = f;
	return 0;
}

int data_file_copy(int dst, int src, uint64_t off, uint64_t len)
{
	char *buf = NULL;
	int rc;

	rc = data_check_range(off, len);
	if (rc)
		return rc;
	while (len > 0) {
		loff_t in = (loff_t)off, out = (loff_t)off;
		ssize_t n = copy_file_range(src, &in, dst, &out, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS ||
			      errno == EINVAL))
			break;	/* copied by hand below */
		if (n < 0)
			return errno;
		if (n == 0)
			return EIO;	/* the source is shorter than the range it promised */
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	if (len == 0)
		return 0;
	buf = malloc(1 << 20);
	if (!buf)
		return ENOMEM;
	while (len > 0) {
		size_t want = len < (1u << 20) ? (size_t)len : (1u << 20), got = 0;

		rc = data_file_read(src, buf, want, off, &got);
		if (rc == 0 && got < want)
			rc = EIO;
		if (rc == 0)
			rc = data_file_write(dst, buf, want, off);
		if (rc)
			break;
		off += want;
		len -= want;
	}
	free(buf);
	return rc;
}

int data_file_truncate(int fd, uint64_t size)
{
	if (size > INT64_MAX)
		return EFBIG;
	while (ftruncate(fd, (off_t)size) != 0) {
		if (errno != EINTR)
			return errno;
	}
	return 0;
}

int data_file_punch(int fd, uint64_t off, uint64_t len)
{
	int rc;

	if (len == 0)
		return 0;
	rc = data_check_range(off, len);
	if (rc)
		return rc;
	while (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			 (off_t)len) != 0) {
		rc = errno;
		if (rc == EINTR)
			continue;
		if (rc == EOPNOTSUPP && !atomic_exchange(&data_punch_warned, true))
			LOG_WARN(LOG_C_DATA, "the data tier's file system cannot punch holes: "
				 "evicting part of a file frees no space (whole files still can)");
		return rc;
	}
	return 0;
}

int data_file_allocated(int fd, uint64_t *bytes)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return errno;
	*bytes = (uint64_t)st.st_blocks * 512;
	return 0;
}

int data_file_remove(struct data_tier *t, uint64_t ino)
{
	char name[DATA_NAME_MAX];
	struct stat st;

	data_name(ino, name);
	if (fstatat(t->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : errno;
	if (unlinkat(t->dirfd, name, 0) != 0)
		return errno == ENOENT ? 0 : errno;
	data_tier_usage_adjust(t, -(int64_t)((uint64_t)st.st_blocks * 512));
	return 0;
}

int data_file_evict(struct data_tier *t, uint64_t ino)
{
	return data_file_evict_if(t, ino, NULL, NULL);
}

int data_file_evict_if(struct data_tier *t, uint64_t ino, int (*still_ok)(void *arg, uint64_t ino),
		       void *arg)
{
	char name[DATA_NAME_MAX];
	struct stat st, cur;
	int fd, rc = 0;

	data_name(ino, name);
	fd = openat(t->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : errno;
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno;
		if (rc == EINTR)
			continue;
		if (rc == EWOULDBLOCK)
			rc = EBUSY;
		goto out;
	}
	rc = 0;
	if (fstat(fd, &st) != 0) {
		rc = errno;
		goto out;
	}
	if (st.st_nlink == 0)	/* someone removed it meanwhile */
		goto out;
	/* The name must still be the file we locked (not a new one created after a remove). */
	if (fstatat(t->dirfd, name, &cur, AT_SYMLINK_NOFOLLOW) != 0) {
		rc = errno == ENOENT ? 0 : errno;
		goto out;
	}
	if (cur.st_ino != st.st_ino || cur.st_dev != st.st_dev) {
		rc = EBUSY;
		goto out;
	}
	/* Under the exclusive lock no reader or writer of this process or another is inside
	 * the file, and a new one must wait for us: the caller's check (and its metadata
	 * update, "no data local") and the unlink are one step for them. */
	if (t->on_excl && (rc = t->on_excl(t->on_excl_arg, ino)) != 0)
		goto out;
	if (still_ok && (rc = still_ok(arg, ino)) != 0)
		goto out;
	if (unlinkat(t->dirfd, name, 0) != 0) {
		rc = errno == ENOENT ? 0 : errno;
		goto out;
	}
	data_tier_usage_adjust(t, -(int64_t)((uint64_t)st.st_blocks * 512));
	LOG_DEBUG(LOG_C_DATA, "evicted ino %" PRIu64 " (%" PRIu64 " bytes)", ino,
		  (uint64_t)st.st_blocks * 512);
out:
	close(fd);	/* drops the exclusive lock */
	return rc;
}

int data_file_touch(int fd, int64_t now_ns, int64_t granularity_ns)
{
	struct timespec ts[2];
	struct stat st;
	int64_t last;

	if (fstat(fd, &st) != 0)
		return errno;
	last = (int64_t)st.st_atim.tv_sec * 1000000000LL + st.st_atim.tv_nsec;
	if (now_ns - last < granularity_ns)
		return 0;
	ts[0].tv_sec = now_ns / 1000000000LL;
	ts[0].tv_nsec = now_ns % 1000000000LL;
	ts[1].tv_sec = 0;
	ts[1].tv_nsec = UTIME_OMIT;
	return futimens(fd, ts) == 0 ? 0 : errno;
}

static int data_files_dir(struct data_tier *t, const char *sub, data_file_fn fn, void *arg,
			  uint64_t *bytes)
{
	DIR *d = NULL;
	int fd, rc = 0;

	fd = openat(t->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : errno;
	d = fdopendir(fd);
	if (!d) {
		rc = errno;
		close(fd);
		return rc;
	}
	for (;;) {
		struct data_file_info fi;
		struct dirent *e;
		struct stat st;
		char *end;
		int64_t a, m;

		errno = 0;
		e = readdir(d);
		if (!e) {
			rc = errno;
			break;
		}
		if (e->d_name[0] == '.')
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				continue;
			rc = errno;
			break;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		*bytes += (uint64_t)st.st_blocks * 512;
		errno = 0;
		fi.ino = strtoull(e->d_name, &end, 16);
		if (errno || *end || strlen(e->d_name) != 16)
			continue;	/* not one of ours: counted, never evicted */
		a = (int64_t)st.st_atim.tv_sec * 1000000000LL + st.st_atim.tv_nsec;
		m = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
		fi.used_ns = a > m ? a : m;
		fi.bytes = (uint64_t)st.st_blocks * 512;
		if (fn && (rc = fn(arg, &fi)) != 0)
			break;
	}
	closedir(d);
	return rc;
}

int data_tier_files(struct data_tier *t, data_file_fn fn, void *arg, uint64_t *bytes)
{
	uint64_t total = 0;
	int rc;

	for (unsigned b = 0; b < DATA_FANOUT; b++) {
		char sub[3];

		snprintf(sub, sizeof sub, "%02x", b);
		rc = data_files_dir(t, sub, fn, arg, &total);
		if (rc)
			return rc;
	}
	atomic_store(&t->usage, total > INT64_MAX ? INT64_MAX : (int64_t)total);
	if (bytes)
		*bytes = total;
	return 0;
}

uint64_t data_tier_usage(struct data_tier *t)
{
	int64_t v = atomic_load(&t->usage);

	return v > 0 ? (uint64_t)v : 0;
}

void data_tier_usage_adjust(struct data_tier *t, int64_t delta)
{
	atomic_fetch_add(&t->usage, delta);
}

int data_tier_scan(struct data_tier *t, uint64_t *bytes)
{
	/* Adjustments racing with the walk are lost or doubled; the next scan fixes them. */
	return data_tier_files(t, NULL, NULL, bytes);
}

uint64_t data_tier_quota(struct data_tier *t)
{
	return t->quota;
}
