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
 *
 * Built by test/vm/build-guest.sh with gcc -static.
 */
#include <errno.h>
#include <fcntl.h>
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
			"       s3f-guest-util write-hold FILE SRC READY RELEASE [TIMEOUT_S]\n");
	return 2;
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
	if (strcmp(argv[1], "write-hold") == 0) {
		struct timespec nap = { 0, 50 * 1000000L }, ts;
		char buf[65536];
		long waits;
		ssize_t n;
		int fd, src, r, rc = 0;

		if (argc < 6)
			return usage();
		waits = (argc > 6 ? strtol(argv[6], NULL, 10) : 300) * 20;
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
		while (access(argv[5], F_OK) != 0) {
			if (waits-- <= 0) {
				fprintf(stderr, "write-hold: no %s\n", argv[5]);
				rc = 124;
				break;
			}
			nanosleep(&nap, NULL);
		}
		if (close(fd) != 0) {
			perror("close");
			return 1;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		printf("%lld\n", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		return rc;
	}
	return usage();
}
