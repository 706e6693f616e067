/* s3f-guest-util: tiny static helper for the test guest's busybox userland.
 *
 *   s3f-guest-util mount SOURCE TARGET FSTYPE [DATA [ro]]
 *       mount(2) with DATA passed to the kernel verbatim (busybox mount rewrites/parses
 *       nfs options; the kernel's nfs4 text-option parser wants them untouched).
 *   s3f-guest-util clock FILE
 *       set CLOCK_REALTIME to FILE's mtime (nanoseconds). The init creates FILE on the
 *       host's 9p share, so its mtime is the host's clock at that moment.
 *   s3f-guest-util now
 *       print CLOCK_REALTIME as seconds.nanoseconds.
 *   s3f-guest-util now-ms
 *       print CLOCK_REALTIME in milliseconds (busybox date has no %N).
 *   s3f-guest-util mtime-ms FILE
 *       print FILE's mtime in milliseconds (busybox stat has seconds only).
 *   s3f-guest-util lock FILE r|w START LEN wait|try HOLD_MS [READY_FILE]
 *       take a POSIX byte-range lock (fcntl F_SETLKW / F_SETLK; LEN 0 = to the end) on
 *       FILE, create READY_FILE once it is held, keep it HOLD_MS, release. Exit 0 when the
 *       lock was held, 3 when `try` found it taken (EAGAIN/EACCES), 1 on other errors.
 *       (busybox has no flock/fcntl-lock applet in Debian's build.)
 *   s3f-guest-util write-hold FILE SRC READY_FILE RELEASE_FILE [TIMEOUT_S]
 *       open FILE for writing (created, truncated), copy SRC into it, create READY_FILE,
 *       keep FILE open until RELEASE_FILE exists (TIMEOUT_S, default 300), close it and
 *       print the time close(2) returned (ms). A shell cannot do this: the NFS client
 *       flushes (WRITE + COMMIT) on every close(2) of a descriptor, so every child process
 *       that inherits an open descriptor flushes the file when it exits. Exit 0; 124 when
 *       RELEASE_FILE never came (FILE is closed anyway); 1 on errors.
 *   s3f-guest-util as UID GID[,GID...] OP ARGS...
 *       become UID with primary group GID (the further GIDs are the supplementary groups:
 *       setgroups, setgid, setuid: every capability is gone for UID != 0), do one system
 *       call and print its outcome: "OK" or the errno name (EACCES, EPERM, ...). Exit 0
 *       when the call was made (whatever it answered), 1 when becoming UID failed, 2 on
 *       usage errors. OP: unlink PATH | rmdir PATH | rename OLD NEW | mkdir PATH MODE |
 *       create PATH MODE (O_CREAT|O_EXCL) | symlink TARGET PATH | truncate PATH SIZE |
 *       open-trunc PATH (O_WRONLY|O_TRUNC) | write PATH (appends one byte) |
 *       chown PATH UID GID (-1: unchanged) | chmod PATH MODE (modes in octal).
 *   s3f-guest-util runas UID GID[,GID...] CMD ARGS...
 *       the same change of identity, then exec CMD.
 *   s3f-guest-util mode PATH
 *       print "MODE UID GID" of PATH (lstat; MODE in octal with the set-id and sticky
 *       bits: busybox stat's %a drops them).
 *   s3f-guest-util hold FILE SRC1 SRC2 LOCK_LEN DIR [TIMEOUT_S]
 *       one open file and one lock across a server takeover, in file-driven phases (the
 *       guest script and the host test see only files in DIR):
 *         open FILE O_RDWR|O_CREAT|O_TRUNC, write SRC1, fsync, take a write lock on
 *         [0, LOCK_LEN) (F_SETLK), write FILE's handle (name_to_handle_at, hex) to
 *         DIR/fh.before, create DIR/held;
 *         wait for DIR/go; on the *same* descriptor: append SRC2 (pwrite), fsync, read
 *         the whole file back and compare with SRC1+SRC2, DIR/fh.after, then DIR/written
 *         holding the ms time the fsync returned;
 *         wait for DIR/unlock; F_UNLCK, create DIR/unlocked;
 *         wait for DIR/close; close(2), create DIR/closed.
 *       A failing step writes "STEP: why" to DIR/error and exits 1; a missing DIR/... file
 *       after TIMEOUT_S (default 600) per phase exits 124.
 *
 * Built by test/vm/build-guest.sh with gcc -static.
 */
#define _GNU_SOURCE	/* strerrorname_np */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

static int usage(void)
{
	fprintf(stderr, "usage: s3f-guest-util mount SRC DST TYPE [DATA [ro]]\n"
			"       s3f-guest-util clock FILE\n"
			"       s3f-guest-util now|now-ms\n"
			"       s3f-guest-util mtime-ms FILE\n"
			"       s3f-guest-util lock FILE r|w START LEN wait|try HOLD_MS [READY]\n"
			"       s3f-guest-util write-hold FILE SRC READY RELEASE [TIMEOUT_S]\n"
			"       s3f-guest-util as UID GID[,GID...] OP ARGS...\n"
			"       s3f-guest-util runas UID GID[,GID...] CMD ARGS...\n"
			"       s3f-guest-util mode PATH\n"
			"       s3f-guest-util hold FILE SRC1 SRC2 LOCK_LEN DIR [TIMEOUT_S]\n");
	return 2;
}

/* Become uid with the groups "gid[,gid...]" (the first is the primary one). */
static int become(const char *uid_s, const char *gids_s)
{
	gid_t groups[32];
	size_t n = 0;
	const char *p = gids_s;
	uid_t uid = (uid_t)strtoul(uid_s, NULL, 10);

	while (*p && n < sizeof groups / sizeof groups[0]) {
		char *end;

		groups[n++] = (gid_t)strtoul(p, &end, 10);
		if (end == p)
			return -1;
		p = *end == ',' ? end + 1 : end;
	}
	if (n == 0)
		return -1;
	if (setgroups(n - 1, groups + 1) != 0 || setgid(groups[0]) != 0 || setuid(uid) != 0) {
		perror("become");
		return -1;
	}
	return 0;
}

static long octal(const char *s)
{
	return strtol(s, NULL, 8);
}

/* One system call as the current identity; prints OK or the errno name. */
static int sys_op(int argc, char **argv)
{
	const char *op = argv[0];
	int rc, fd;

	if (argc < 2)
		return usage();
	errno = 0;
	if (strcmp(op, "unlink") == 0) {
		rc = unlink(argv[1]);
	} else if (strcmp(op, "rmdir") == 0) {
		rc = rmdir(argv[1]);
	} else if (strcmp(op, "rename") == 0 && argc > 2) {
		rc = rename(argv[1], argv[2]);
	} else if (strcmp(op, "mkdir") == 0 && argc > 2) {
		rc = mkdir(argv[1], (mode_t)octal(argv[2]));
	} else if (strcmp(op, "create") == 0 && argc > 2) {
		fd = open(argv[1], O_CREAT | O_EXCL | O_WRONLY, (mode_t)octal(argv[2]));
		rc = fd < 0 ? -1 : close(fd);
	} else if (strcmp(op, "symlink") == 0 && argc > 2) {
		rc = symlink(argv[1], argv[2]);
	} else if (strcmp(op, "truncate") == 0 && argc > 2) {
		rc = truncate(argv[1], (off_t)strtoll(argv[2], NULL, 10));
	} else if (strcmp(op, "open-trunc") == 0) {
		fd = open(argv[1], O_WRONLY | O_TRUNC);
		rc = fd < 0 ? -1 : close(fd);
	} else if (strcmp(op, "write") == 0) {
		fd = open(argv[1], O_WRONLY | O_APPEND);
		rc = fd < 0 ? -1 : 0;
		if (fd >= 0) {
			if (write(fd, "x", 1) != 1)
				rc = -1;
			if (close(fd) != 0)
				rc = -1;
		}
	} else if (strcmp(op, "chown") == 0 && argc > 3) {
		rc = chown(argv[1], (uid_t)strtol(argv[2], NULL, 10), (gid_t)strtol(argv[3], NULL, 10));
	} else if (strcmp(op, "chmod") == 0 && argc > 2) {
		rc = chmod(argv[1], (mode_t)octal(argv[2]));
	} else {
		return usage();
	}
	if (rc == 0)
		printf("OK\n");
	else
		printf("%s\n", strerrorname_np(errno) ? strerrorname_np(errno) : "E?");
	return 0;
}

/* Wall-clock time in ms (what the host compares with its own clock). */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until path exists (polled every 50 ms): 0, or 124 after timeout_s seconds, said on
 * stderr as "who: no PATH after N s". */
static int wait_file(const char *who, const char *path, long timeout_s)
{
	struct timespec nap = { 0, 50 * 1000000L };
	long waits = timeout_s * 20;

	while (access(path, F_OK) != 0) {
		if (waits-- <= 0) {
			fprintf(stderr, "%s: no %s after %ld s\n", who, path, timeout_s);
			return 124;
		}
		nanosleep(&nap, NULL);
	}
	return 0;
}

/* ---- hold ---- */

static const char *hold_dir;
static long hold_timeout_s = 600;

/* DIR/name with TEXT in it (written to a temporary name, then renamed: a reader never
 * sees it half written). */
static int hold_put(const char *name, const char *text)
{
	char path[4096], tmp[4200];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", hold_dir, name);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fputs(text, f);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

static int hold_fail(const char *step, int err)
{
	char msg[512];

	snprintf(msg, sizeof msg, "%s: %s\n", step, strerror(err));
	fputs(msg, stderr);
	hold_put("error", msg);
	return 1;
}

/* Wait until DIR/name exists: 0, or 124 after the timeout (DIR/error says so). */
static int hold_wait(const char *name)
{
	char path[4096];
	int rc;

	snprintf(path, sizeof path, "%s/%s", hold_dir, name);
	rc = wait_file("hold", path, hold_timeout_s);
	if (rc)
		hold_put("error", "timeout\n");
	return rc;
}

/* FILE's NFS file handle as the kernel client holds it, in hex, into DIR/name. */
static int hold_handle(const char *file, const char *name)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	char hex[2 * MAX_HANDLE_SZ + 32];
	int mnt, n;

	u.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, file, &u.fh, &mnt, 0) != 0)
		return -1;
	n = snprintf(hex, sizeof hex, "%d:", u.fh.handle_type);
	for (unsigned i = 0; i < u.fh.handle_bytes; i++)
		n += snprintf(hex + n, sizeof hex - (size_t)n, "%02x",
			      (unsigned char)u.fh.f_handle[i]);
	snprintf(hex + n, sizeof hex - (size_t)n, "\n");
	return hold_put(name, hex);
}

/* All of PATH into a new buffer (*len bytes); NULL on error (errno). */
static char *slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !(buf = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return NULL;
	}
	while (got < (size_t)st.st_size && (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	*len = got;
	return buf;
}

static int write_all(int fd, const char *buf, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t w = pwrite(fd, buf, len, off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
		off += w;
	}
	return 0;
}

static int hold(int argc, char **argv)
{
	struct flock fl = { 0 };
	char *a = NULL, *b = NULL, *back = NULL, when[32];
	size_t alen = 0, blen = 0, got = 0;
	int fd = -1, rc = 1;
	ssize_t n;

	if (argc < 7)
		return usage();
	hold_dir = argv[6];
	if (argc > 7)
		hold_timeout_s = strtol(argv[7], NULL, 10);
	if (!(a = slurp(argv[3], &alen)) || !(b = slurp(argv[4], &blen))) {
		rc = hold_fail("read sources", errno);
		goto out;
	}
	fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		rc = hold_fail("open", errno);
		goto out;
	}
	if (write_all(fd, a, alen, 0) != 0) {
		rc = hold_fail("write", errno);
		goto out;
	}
	if (fsync(fd) != 0) {
		rc = hold_fail("fsync", errno);
		goto out;
	}
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = strtoll(argv[5], NULL, 10);
	if (fcntl(fd, F_SETLK, &fl) != 0) {
		rc = hold_fail("lock", errno);
		goto out;
	}
	if (hold_handle(argv[2], "fh.before") != 0) {
		rc = hold_fail("name_to_handle_at before", errno);
		goto out;
	}
	hold_put("held", "");
	if ((rc = hold_wait("go")) != 0)
		goto out;
	/* After the takeover: the same descriptor, so the same open state and handle. */
	if (write_all(fd, b, blen, (off_t)alen) != 0) {
		rc = hold_fail("write after takeover", errno);
		goto out;
	}
	if (fsync(fd) != 0) {
		rc = hold_fail("fsync after takeover", errno);
		goto out;
	}
	snprintf(when, sizeof when, "%lld\n", now_ms());
	if (!(back = malloc(alen + blen + 1))) {
		rc = hold_fail("malloc", ENOMEM);
		goto out;
	}
	while (got < alen + blen + 1 &&
	       (n = pread(fd, back + got, alen + blen + 1 - got, (off_t)got)) > 0)
		got += (size_t)n;
	if (got != alen + blen || memcmp(back, a, alen) != 0 || memcmp(back + alen, b, blen) != 0) {
		rc = hold_fail("read back after takeover", EIO);
		goto out;
	}
	if (hold_handle(argv[2], "fh.after") != 0) {
		rc = hold_fail("name_to_handle_at after", errno);
		goto out;
	}
	hold_put("written", when);
	if ((rc = hold_wait("unlock")) != 0)
		goto out;
	fl.l_type = F_UNLCK;
	if (fcntl(fd, F_SETLK, &fl) != 0) {
		rc = hold_fail("unlock", errno);
		goto out;
	}
	hold_put("unlocked", "");
	if ((rc = hold_wait("close")) != 0)
		goto out;
	rc = close(fd);
	fd = -1;
	if (rc != 0) {
		rc = hold_fail("close", errno);
		goto out;
	}
	hold_put("closed", "");
out:
	if (fd >= 0)
		close(fd);
	free(back);
	free(b);
	free(a);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "mount") == 0) {
		unsigned long flags = 0;
		const char *data = argc > 5 ? argv[5] : NULL;

		if (argc < 5)
			return usage();
		if (argc > 6 && strcmp(argv[6], "ro") == 0)
			flags |= MS_RDONLY;
		if (mount(argv[2], argv[3], argv[4], flags, data) != 0) {
			fprintf(stderr, "mount %s on %s (%s, %s): %s\n", argv[2], argv[3], argv[4],
				data ? data : "", strerror(errno));
			return 32; /* like mount(8): mount failure */
		}
		return 0;
	}
	if (strcmp(argv[1], "clock") == 0) {
		struct stat st;

		if (argc < 3)
			return usage();
		if (stat(argv[2], &st) != 0) {
			perror(argv[2]);
			return 1;
		}
		if (clock_settime(CLOCK_REALTIME, &st.st_mtim) != 0) {
			perror("clock_settime");
			return 1;
		}
		return 0;
	}
	if (strcmp(argv[1], "now") == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		printf("%lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
		return 0;
	}
	if (strcmp(argv[1], "mtime-ms") == 0) {
		struct stat st;

		if (argc < 3)
			return usage();
		if (stat(argv[2], &st) != 0) {
			perror(argv[2]);
			return 1;
		}
		printf("%lld\n", (long long)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000);
		return 0;
	}
	if (strcmp(argv[1], "now-ms") == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		printf("%lld\n", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		return 0;
	}
	if (strcmp(argv[1], "lock") == 0) {
		struct flock fl = { 0 };
		struct timespec hold;
		long ms;
		int fd;

		if (argc < 8 || (strcmp(argv[3], "r") && strcmp(argv[3], "w")) ||
		    (strcmp(argv[6], "wait") && strcmp(argv[6], "try")))
			return usage();
		fd = open(argv[2], argv[3][0] == 'r' ? O_RDONLY : O_RDWR);
		if (fd < 0) {
			perror(argv[2]);
			return 1;
		}
		fl.l_type = argv[3][0] == 'r' ? F_RDLCK : F_WRLCK;
		fl.l_whence = SEEK_SET;
		fl.l_start = strtoll(argv[4], NULL, 10);
		fl.l_len = strtoll(argv[5], NULL, 10);
		if (fcntl(fd, argv[6][0] == 'w' ? F_SETLKW : F_SETLK, &fl) != 0) {
			if (errno == EAGAIN || errno == EACCES) {
				fprintf(stderr, "lock %s: taken\n", argv[2]);
				return 3;
			}
			perror("fcntl");
			return 1;
		}
		if (argc > 8) {
			int r = open(argv[8], O_CREAT | O_WRONLY, 0644);

			if (r >= 0)
				close(r);
		}
		ms = strtol(argv[7], NULL, 10);
		hold.tv_sec = ms / 1000;
		hold.tv_nsec = (ms % 1000) * 1000000L;
		while (nanosleep(&hold, &hold) != 0 && errno == EINTR)
			;
		fl.l_type = F_UNLCK;
		if (fcntl(fd, F_SETLK, &fl) != 0) {
			perror("unlock");
			return 1;
		}
		close(fd);
		return 0;
	}
	if (strcmp(argv[1], "as") == 0) {
		if (argc < 6)
			return usage();
		if (become(argv[2], argv[3]) != 0)
			return 1;
		fflush(stdout);
		return sys_op(argc - 4, argv + 4);
	}
	if (strcmp(argv[1], "runas") == 0) {
		if (argc < 5)
			return usage();
		if (become(argv[2], argv[3]) != 0)
			return 1;
		execvp(argv[4], argv + 4);
		perror(argv[4]);
		return 127;
	}
	if (strcmp(argv[1], "mode") == 0) {
		struct stat st;

		if (argc < 3)
			return usage();
		if (lstat(argv[2], &st) != 0) {
			printf("%s\n", strerrorname_np(errno) ? strerrorname_np(errno) : "E?");
			return 0;
		}
		printf("%o %u %u\n", (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
		       (unsigned)st.st_gid);
		return 0;
	}
	if (strcmp(argv[1], "write-hold") == 0) {
		char buf[65536];
		ssize_t n;
		int fd, src, r, rc;

		if (argc < 6)
			return usage();
		src = open(argv[3], O_RDONLY);
		if (src < 0) {
			perror(argv[3]);
			return 1;
		}
		fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			perror(argv[2]);
			return 1;
		}
		while ((n = read(src, buf, sizeof buf)) > 0) {
			for (ssize_t off = 0; off < n;) {
				ssize_t w = write(fd, buf + off, (size_t)(n - off));

				if (w < 0) {
					perror("write");
					return 1;
				}
				off += w;
			}
		}
		if (n < 0) {
			perror("read");
			return 1;
		}
		close(src);
		r = open(argv[4], O_CREAT | O_WRONLY, 0644);
		if (r >= 0)
			close(r);
		rc = wait_file("write-hold", argv[5], argc > 6 ? strtol(argv[6], NULL, 10) : 300);
		if (close(fd) != 0) {
			perror("close");
			return 1;
		}
		printf("%lld\n", now_ms());
		return rc;
	}
	if (strcmp(argv[1], "hold") == 0)
		return hold(argc, argv);
	return usage();
}
