/*
 * instlock.c — see instlock.h.
 *
 * Why flock and not fcntl (POSIX) locks: a POSIX lock belongs to the process, so any
 * close() of any descriptor of the file in that process (a library reading the file to
 * print the holder, say) would drop it silently; a flock belongs to the open file
 * description and lives exactly as long as our descriptor.
 *
 * Why the holder line is written after the lock, with pwrite at offset 0 and a truncate:
 * the file must say who holds it now, not who held it before; a reader racing with a new
 * holder may see an empty or half-old line, which only makes its message vaguer ("an
 * unknown process"), never wrong about whether the lock is held.
 */
#include "store/instlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

struct instlock {
	int fd;
};

static int instlock_path(const char *dir, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/",
			 name);

	return n < 0 || (size_t)n >= len ? ENAMETOOLONG : 0;
}

/* Copy the value of "key=" from line (up to the next blank) into out. */
static bool instlock_field(const char *line, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);

	for (const char *p = line; (p = strstr(p, key)) != NULL; p += kl) {
		if ((p != line && p[-1] != ' ') || p[kl] != '=')
			continue;
		p += kl + 1;
		size_t n = strcspn(p, " \n");

		if (n >= len)
			n = len - 1;
		memcpy(out, p, n);
		out[n] = '\0';
		return true;
	}
	return false;
}

static void instlock_read_holder(int fd, struct instlock_holder *h)
{
	char line[512], pid[16];
	ssize_t n;

	memset(h, 0, sizeof *h);
	n = pread(fd, line, sizeof line - 1, 0);
	if (n <= 0)
		return;
	line[n] = '\0';
	/* Bytes from a file anyone with access to State_Dir could write: printable only. */
	for (ssize_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\n') || c >= 0x7f)
			line[i] = '?';
	}
	if (!instlock_field(line, "pid", pid, sizeof pid))
		return;
	char *end;
	long v = strtol(pid, &end, 10);

	if (*end || v <= 0)
		return;
	h->pid = (pid_t)v;
	if (!instlock_field(line, "host", h->host, sizeof h->host))
		snprintf(h->host, sizeof h->host, "?");
	if (!instlock_field(line, "start", h->start, sizeof h->start))
		snprintf(h->start, sizeof h->start, "?");
	if (!instlock_field(line, "prog", h->prog, sizeof h->prog))
		snprintf(h->prog, sizeof h->prog, "?");
	h->known = true;
}

static int instlock_write_holder(int fd, const char *prog)
{
	char line[512], host[256] = "?", when[32] = "?";
	struct timespec ts;
	struct tm tm;
	int n;

	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "?");
	host[sizeof host - 1] = '\0';
	for (char *p = host; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	clock_gettime(CLOCK_REALTIME, &ts);
	if (gmtime_r(&ts.tv_sec, &tm))
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof line, "pid=%d host=%s start=%s prog=%s\n", (int)getpid(), host,
		     when, prog && *prog ? prog : "?");
	if (n < 0 || (size_t)n >= sizeof line)
		return ENAMETOOLONG;
	if (ftruncate(fd, 0) != 0)
		return errno;
	if (pwrite(fd, line, (size_t)n, 0) != n)
		return errno ? errno : EIO;
	return 0;
}

/* mkdir -p, mode 0700 for what it makes (as the store and the data tier make theirs). */
static int instlock_mkdir_p(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof path)
		return n ? ENAMETOOLONG : EINVAL;
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return errno;
	return 0;
}

int instlock_acquire(const char *dir, const char *name, const char *prog, struct instlock **out,
		     struct instlock_holder *holder)
{
	char path[4096];
	struct instlock *l;
	int fd, rc;

	if (holder)
		memset(holder, 0, sizeof *holder);
	rc = instlock_path(dir, name, path, sizeof path);
	if (rc)
		return rc;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno == ENOENT) {
		/* A first start: the lock comes before anything else is made in dir. */
		rc = instlock_mkdir_p(dir);
		if (rc)
			return rc;
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	}
	if (fd < 0)
		return errno;
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		rc = errno == EWOULDBLOCK ? EWOULDBLOCK : errno;
		if (rc == EWOULDBLOCK && holder) {
			/* The holder writes its line right after locking: give it a moment. */
			for (int i = 0; i < 20; i++) {
				instlock_read_holder(fd, holder);
				if (holder->known)
					break;
				usleep(5000);
			}
		}
		close(fd);
		return rc;
	}
	l = malloc(sizeof *l);
	if (!l) {
		close(fd);
		return ENOMEM;
	}
	l->fd = fd;
	/* The line only improves a later error message: a failure to write it is not one. */
	(void)instlock_write_holder(fd, prog);
	*out = l;
	return 0;
}

void instlock_release(struct instlock *l)
{
	if (!l)
		return;
	(void)flock(l->fd, LOCK_UN);
	close(l->fd);
	free(l);
}

int instlock_query(const char *dir, const char *name, struct instlock_holder *holder)
{
	char path[4096];
	int fd, rc;

	if (holder)
		memset(holder, 0, sizeof *holder);
	rc = instlock_path(dir, name, path, sizeof path);
	if (rc)
		return rc;
	/* Read-only: flock does not care about the open mode, and a query creates nothing. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno;
	while (flock(fd, LOCK_SH | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		rc = errno == EWOULDBLOCK ? EWOULDBLOCK : errno;
		if (rc == EWOULDBLOCK && holder)
			instlock_read_holder(fd, holder);
		close(fd);
		return rc;
	}
	(void)flock(fd, LOCK_UN);
	close(fd);
	return 0;
}

const char *instlock_holder_str(const struct instlock_holder *h, char *buf, size_t len)
{
	if (!len)
		return buf;
	if (!h || !h->known)
		snprintf(buf, len, "an unknown process (it has not written the lock file yet)");
	else
		snprintf(buf, len, "pid %d on host %s (%s, started %s)", (int)h->pid, h->host,
			 h->prog, h->start);
	return buf;
}

/* statfs f_type values (linux/magic.h and the file systems' own sources). */
static const struct {
	unsigned long magic;
	const char *name;
} instlock_remote_fs[] = {
	{ 0x6969, "nfs" },
	{ 0x517B, "smb" },
	{ 0xFF534D42, "cifs" },
	{ 0xFE534D42, "smb2" },
	{ 0x65735546, "fuse" },
	{ 0x01021997, "9p" },
	{ 0x00C36400, "ceph" },
	{ 0x5346414F, "afs" },
	{ 0x6B414653, "afs" },
	{ 0x73757245, "coda" },
	{ 0x564C, "ncp" },
	{ 0x01161970, "gfs2" },
	{ 0x7461636F, "ocfs2" },
	{ 0x0BD00BD0, "lustre" },
	{ 0x47504653, "gpfs" },
	{ 0x20030528, "orangefs" },
};

const char *instlock_fs_remote_name(long f_type)
{
	unsigned long t = (unsigned long)f_type & 0xffffffffUL;

	for (size_t i = 0; i < sizeof instlock_remote_fs / sizeof instlock_remote_fs[0]; i++)
		if (instlock_remote_fs[i].magic == t)
			return instlock_remote_fs[i].name;
	return NULL;
}

int instlock_fs_check(const char *path, const char **fsname)
{
	char buf[4096];
	struct statfs sf;
	const char *name;
	size_t n;

	if (fsname)
		*fsname = NULL;
	n = strlen(path);
	if (n == 0 || n >= sizeof buf)
		return n ? ENAMETOOLONG : EINVAL;
	memcpy(buf, path, n + 1);
	/* A directory not made yet will be made on its nearest existing ancestor's. */
	while (statfs(buf, &sf) != 0) {
		char *slash;

		if (errno != ENOENT)
			return errno;
		while (n > 1 && buf[n - 1] == '/')
			buf[--n] = '\0';
		slash = strrchr(buf, '/');
		if (!slash)
			return ENOENT;
		n = slash == buf ? 1 : (size_t)(slash - buf);
		buf[n] = '\0';
	}
	name = instlock_fs_remote_name((long)sf.f_type);
	if (!name)
		return 0;
	if (fsname)
		*fsname = name;
	return EREMOTE;
}
