/*
 * s3f_sysck.c — test tool: system-call behaviour of a file system, as a transcript that
 * can be compared line by line with the same run on a local file system (the reference).
 *
 *   s3f_sysck DIR [--only SUBSTR] [--list]
 *
 * Runs every case in its own fresh directory DIR/<case> (DIR must exist and be empty of
 * those names), as the calling user (root in the suites), with umask 022. Each step
 * prints one line
 *
 *   CASE.STEP RESULT
 *
 * where RESULT is "OK", the errno name of a failed call (ENOENT, EEXIST, ...) or a value
 * that does not depend on when or where the run happened: sizes, modes, link counts,
 * contents as checks ("same"/"differs"), and times only as comparisons ("new" when a
 * time moved past the value it had before the call, "old" when it kept it, or an exact
 * value the case set itself). Nothing in a line names DIR, an inode number or a clock
 * reading, so two runs on two file systems give the same text where they behave alike.
 *
 * Cases (see the table in main): open flags and O_EXCL (also eight processes racing to
 * create one name), O_APPEND with two writer processes, rename over existing names of
 * every type, unlink and rename-over of an open file, rmdir, link counts, hard links,
 * symlinks, timestamps after each kind of change, utimensat, truncate and holes,
 * ENAMETOOLONG, mkdir over existing names, readdir after creates and removes.
 *
 * Exit: 0 when every case ran (whatever the results), 2 on usage or setup errors.
 */
/* _GNU_SOURCE (strerrorname_np) comes from the Makefile's CFLAGS */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *g_case;

static const char *sysck_errname(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

static void sysck_line(const char *step, const char *fmt, ...)
{
	va_list ap;

	printf("%s.%s ", g_case, step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* A call's outcome: OK or the errno name. */
static void sysck_rc(const char *step, int rc)
{
	if (rc < 0)
		sysck_line(step, "%s", sysck_errname(errno));
	else
		sysck_line(step, "OK");
}

/* A call the case needs done before its checks: a failure is a line of its own, so it
 * shows in the transcript instead of passing for a difference further on. */
#define S(call) sysck_setup((call), __LINE__)
static void sysck_setup(int rc, int line)
{
	char step[32];

	if (rc < 0) {
		snprintf(step, sizeof(step), "setup@%d", line);
		sysck_line(step, "%s", sysck_errname(errno));
	}
}

/* open(2) that closes what it opened: the outcome only. */
static void sysck_open_rc(const char *step, const char *path, int flags, mode_t mode)
{
	int fd = open(path, flags, mode);

	sysck_rc(step, fd);
	if (fd >= 0)
		close(fd);
}

static int sysck_put(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	if (close(fd) < 0 || n != (ssize_t)strlen(s))
		return -1;
	return 0;
}

/* The file's content, or "ENAME" when it cannot be read; at most 255 bytes shown. */
static void sysck_content(const char *step, const char *path)
{
	char buf[256];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		sysck_line(step, "%s", sysck_errname(errno));
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		sysck_line(step, "%s", sysck_errname(errno));
		return;
	}
	buf[n] = 0;
	sysck_line(step, "'%s'", buf);
}

static void sysck_stat(const char *step, const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		sysck_line(step, "%s", sysck_errname(errno));
		return;
	}
	sysck_line(step, "type=%c mode=%04o nlink=%lu size=%lld",
		   S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' :
		   S_ISREG(st.st_mode) ? 'f' : '?',
		   (unsigned)(st.st_mode & 07777), (unsigned long)st.st_nlink,
		   S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size);
}

static int sysck_names(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* ---- times ---- */

#define SYSCK_OLD 1000000000L	/* 2001-09-09, set before each change */

static void sysck_times_old(const char *path)
{
	struct timespec ts[2] = {{SYSCK_OLD, 0}, {SYSCK_OLD, 0}};

	utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}

struct sysck_t {
	struct timespec a, m, c;
};

static int sysck_times_get(const char *path, struct sysck_t *t)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return -1;
	t->a = st.st_atim;
	t->m = st.st_mtim;
	t->c = st.st_ctim;
	return 0;
}

static const char *sysck_cmp(struct timespec before, struct timespec after)
{
	if (after.tv_sec == before.tv_sec && after.tv_nsec == before.tv_nsec)
		return "old";
	if (after.tv_sec > before.tv_sec ||
	    (after.tv_sec == before.tv_sec && after.tv_nsec > before.tv_nsec))
		return "new";
	return "earlier";
}

/* Snapshot before a change: times set to SYSCK_OLD (atime, mtime), and the ctime that
 * this gave; then a pause, so a ctime set by the change is later than this one on any
 * clock granularity the file systems have. */
static void sysck_times_before(const char *path, struct sysck_t *t)
{
	sysck_times_old(path);
	sysck_times_get(path, t);
	usleep(30000);
}

static void sysck_times_after(const char *step, const char *path, const struct sysck_t *b,
			      bool with_atime)
{
	struct sysck_t a;

	if (sysck_times_get(path, &a) < 0) {
		sysck_line(step, "%s", sysck_errname(errno));
		return;
	}
	if (with_atime)
		sysck_line(step, "atime=%s mtime=%s ctime=%s", sysck_cmp(b->a, a.a),
			   sysck_cmp(b->m, a.m), sysck_cmp(b->c, a.c));
	else
		sysck_line(step, "mtime=%s ctime=%s", sysck_cmp(b->m, a.m), sysck_cmp(b->c, a.c));
}

/* ---- cases ---- */

static void case_open_flags(void)
{
	int fd;

	sysck_open_rc("create_new", "f", O_WRONLY | O_CREAT, 0644);
	sysck_open_rc("excl_existing", "f", O_WRONLY | O_CREAT | O_EXCL, 0644);
	sysck_open_rc("creat_existing", "f", O_WRONLY | O_CREAT, 0600);
	sysck_stat("creat_existing_keeps_mode", "f");
	sysck_open_rc("excl_new", "g", O_WRONLY | O_CREAT | O_EXCL, 0640);
	sysck_stat("excl_new_mode", "g");
	umask(027);
	sysck_open_rc("umask_027", "h", O_WRONLY | O_CREAT, 0777);
	sysck_stat("umask_027_mode", "h");
	umask(022);
	S(symlink("nowhere", "dangling"));
	sysck_open_rc("excl_on_dangling_symlink", "dangling", O_WRONLY | O_CREAT | O_EXCL, 0644);
	sysck_open_rc("creat_through_dangling_symlink", "dangling", O_WRONLY | O_CREAT, 0644);
	sysck_stat("dangling_target_made", "nowhere");
	sysck_open_rc("nofollow_symlink", "dangling", O_RDONLY | O_NOFOLLOW, 0);
	S(mkdir("d", 0755));
	sysck_open_rc("dir_wronly", "d", O_WRONLY, 0);
	sysck_open_rc("dir_rdwr", "d", O_RDWR, 0);
	sysck_open_rc("dir_creat", "d", O_WRONLY | O_CREAT, 0644);
	sysck_open_rc("dir_rdonly", "d", O_RDONLY, 0);
	sysck_open_rc("file_o_directory", "f", O_RDONLY | O_DIRECTORY, 0);
	sysck_open_rc("file_trailing_slash", "f/", O_RDONLY, 0);
	sysck_open_rc("missing", "missing", O_RDONLY, 0);
	sysck_open_rc("creat_in_missing_dir", "nodir/f", O_WRONLY | O_CREAT, 0644);
	sysck_open_rc("creat_under_file", "f/x", O_WRONLY | O_CREAT, 0644);
	sysck_put("t", "0123456789");
	sysck_open_rc("trunc", "t", O_WRONLY | O_TRUNC, 0);
	sysck_stat("trunc_size", "t");
	sysck_put("r", "abc");
	fd = open("r", O_RDONLY);
	sysck_line("write_on_rdonly_fd", "%s", write(fd, "x", 1) < 0 ? sysck_errname(errno) : "OK");
	close(fd);
	fd = open("r", O_WRONLY);
	{
		char c;

		sysck_line("read_on_wronly_fd", "%s", read(fd, &c, 1) < 0 ? sysck_errname(errno) : "OK");
	}
	close(fd);
	sysck_content("content_unchanged", "r");
}

/* Eight processes create one name with O_EXCL at once: exactly one wins. */
static void case_excl_race(void)
{
	int ok = 0, i, st;
	pid_t p[8];

	for (i = 0; i < 8; i++) {
		p[i] = fork();
		if (p[i] == 0) {
			int fd = open("one", O_WRONLY | O_CREAT | O_EXCL, 0644);

			_exit(fd >= 0 ? 0 : errno == EEXIST ? 1 : 2);
		}
	}
	for (i = 0; i < 8; i++) {
		waitpid(p[i], &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 1)
			ok += 100;
	}
	sysck_line("winners", "%d", ok);
}

/* Two processes append 10-byte records through O_APPEND descriptors: every record whole,
 * none lost, none overwritten. */
static void case_append_two_writers(void)
{
	enum { RECS = 200, LEN = 10 };
	int w, st, fd, bad = 0, count[2] = {0, 0};
	pid_t p[2];
	char buf[RECS * 2 * LEN + 16];
	ssize_t n, i;

	close(open("log", O_WRONLY | O_CREAT | O_TRUNC, 0644));
	for (w = 0; w < 2; w++) {
		p[w] = fork();
		if (p[w] == 0) {
			char rec[LEN + 1];
			int r, f = open("log", O_WRONLY | O_APPEND);

			if (f < 0)
				_exit(1);
			for (r = 0; r < RECS; r++) {
				snprintf(rec, sizeof(rec), "%c%07d\n", 'A' + w, r);
				rec[LEN - 1] = '\n';
				if (write(f, rec, LEN) != LEN)
					_exit(1);
			}
			_exit(close(f) < 0);
		}
	}
	for (w = 0; w < 2; w++) {
		waitpid(p[w], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	sysck_line("writers_ok", "%s", bad ? "no" : "yes");
	fd = open("log", O_RDONLY);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	sysck_line("size", "%zd", n);
	for (i = 0; i + LEN <= n; i += LEN) {
		if ((buf[i] != 'A' && buf[i] != 'B') || buf[i + LEN - 1] != '\n')
			bad++;
		else
			count[buf[i] - 'A']++;
	}
	sysck_line("records", "A=%d B=%d torn=%d", count[0], count[1], bad);
}

static void case_rename_over(void)
{
	int fd;
	char buf[16] = {0};

	sysck_put("a", "aaa");
	sysck_put("b", "bbb");
	sysck_rc("file_over_file", rename("a", "b"));
	sysck_content("target_has_source", "b");
	sysck_stat("source_gone", "a");
	sysck_stat("target_nlink", "b");
	sysck_rc("to_itself", rename("b", "b"));
	sysck_content("to_itself_content", "b");
	S(mkdir("d", 0755));
	S(mkdir("e", 0755));
	S(mkdir("full", 0755));
	sysck_put("full/x", "x");
	sysck_rc("file_over_dir", rename("b", "d"));
	sysck_rc("dir_over_file", rename("d", "b"));
	sysck_rc("dir_over_nonempty_dir", rename("d", "full"));
	sysck_rc("dir_over_empty_dir", rename("d", "e"));
	sysck_stat("dir_over_empty_dir_source", "d");
	S(mkdir("e/sub", 0755));
	sysck_rc("dir_into_own_subdir", rename("e", "e/sub/e"));
	sysck_rc("missing_source", rename("nothing", "z"));
	sysck_rc("into_missing_dir", rename("b", "nodir/b"));
	S(symlink("b", "ln"));
	sysck_put("c", "ccc");
	sysck_rc("symlink_over_file", rename("ln", "c"));
	sysck_stat("symlink_over_file_type", "c");
	/* replacing a file that is open: the descriptor keeps reading the old bytes */
	sysck_put("open", "old-bytes");
	sysck_put("new", "new-bytes");
	fd = open("open", O_RDONLY);
	sysck_rc("over_open_file", rename("new", "open"));
	sysck_line("open_fd_reads", "'%s'", fd < 0 || read(fd, buf, sizeof(buf) - 1) < 0 ? "?" : buf);
	if (fd >= 0)
		close(fd);
	sysck_content("name_reads_new", "open");
	sysck_line("entries", "%d", sysck_names("."));
}

static void case_unlink_open(void)
{
	int fd;
	char buf[32] = {0};
	struct stat st;

	sysck_put("f", "still-readable");
	fd = open("f", O_RDWR);
	sysck_rc("unlink", unlink("f"));
	sysck_stat("name_gone", "f");
	sysck_line("read_after_unlink", "'%s'",
		   pread(fd, buf, sizeof(buf) - 1, 0) < 0 ? sysck_errname(errno) : buf);
	sysck_line("write_after_unlink", "%s",
		   pwrite(fd, "X", 1, 0) == 1 ? "OK" : sysck_errname(errno));
	if (fstat(fd, &st) == 0)
		sysck_line("fstat_nlink", "%lu", (unsigned long)st.st_nlink);
	else
		sysck_line("fstat_nlink", "%s", sysck_errname(errno));
	sysck_line("entries_while_open", "%d", sysck_names("."));
	close(fd);
	/* The Linux NFS client removes its silly-renamed .nfsXXXX after the last close with
	 * an asynchronous REMOVE, which a READDIR sent right after may overtake: the entry
	 * must be gone within 2 s, not at once. */
	int left = sysck_names(".");

	for (int i = 0; i < 40 && left > 0; i++) {
		usleep(50000);
		left = sysck_names(".");
	}
	sysck_line("entries_after_close", "%d", left);
	sysck_rc("unlink_missing", unlink("f"));
	S(mkdir("d", 0755));
	sysck_rc("unlink_dir", unlink("d"));
}

static void case_rmdir(void)
{
	S(mkdir("full", 0755));
	sysck_put("full/x", "x");
	S(mkdir("empty", 0755));
	sysck_put("file", "x");
	sysck_rc("nonempty", rmdir("full"));
	sysck_rc("file", rmdir("file"));
	sysck_rc("missing", rmdir("missing"));
	sysck_rc("dot", rmdir("empty/."));
	sysck_rc("empty", rmdir("empty"));
	sysck_stat("empty_gone", "empty");
	S(unlink("full/x"));
	sysck_rc("after_emptying", rmdir("full"));
}

static void case_link_counts(void)
{
	S(mkdir("d", 0755));
	sysck_stat("empty_dir", "d");
	S(mkdir("d/a", 0755));
	S(mkdir("d/b", 0755));
	S(mkdir("d/c", 0755));
	sysck_put("d/f", "x");
	sysck_stat("three_subdirs", "d");
	S(rmdir("d/c"));
	sysck_stat("after_rmdir", "d");
	S(mkdir("e", 0755));
	S(rename("d/b", "e/b"));
	sysck_stat("after_move_out", "d");
	sysck_stat("after_move_in", "e");
	sysck_stat("file", "d/f");
	S(symlink("f", "d/l"));
	sysck_stat("symlink", "d/l");
	sysck_rc("hard_link", link("d/f", "d/g"));
	sysck_stat("file_after_link", "d/f");
}

static void case_symlinks(void)
{
	char buf[64];
	ssize_t n;
	struct stat st;

	S(mkdir("d", 0755));
	sysck_put("d/f", "through");
	sysck_rc("to_dir", symlink("d", "ld"));
	sysck_content("through_dir_link", "ld/f");
	sysck_rc("stat_follows", stat("ld", &st) < 0 ? -1 : (S_ISDIR(st.st_mode) ? 0 : (errno = EINVAL, -1)));
	n = readlink("ld", buf, sizeof(buf) - 1);
	sysck_line("readlink", "'%s'", n < 0 ? sysck_errname(errno) : (buf[n] = 0, buf));
	sysck_rc("existing_name", symlink("x", "ld"));
	sysck_rc("readlink_on_file", readlink("d/f", buf, sizeof(buf)) < 0 ? -1 : 0);
	S(symlink("loop2", "loop1"));
	S(symlink("loop1", "loop2"));
	sysck_open_rc("loop", "loop1", O_RDONLY, 0);
	sysck_rc("unlink_link_keeps_target", unlink("ld"));
	sysck_content("target_kept", "d/f");
	S(symlink("d", "ld2"));
	sysck_rc("rmdir_of_link_to_dir", rmdir("ld2"));
}

static void case_times(void)
{
	struct sysck_t b;
	int fd;
	char c;

	sysck_put("f", "0123456789");
	S(mkdir("d", 0755));
	S(mkdir("d2", 0755));

	sysck_times_before("f", &b);
	sysck_put("f", "changed!!!");
	sysck_times_after("write", "f", &b, false);

	sysck_times_before("f", &b);
	fd = open("f", O_RDONLY);
	if (read(fd, &c, 1) != 1)
		c = 0;
	close(fd);
	sysck_times_after("read", "f", &b, true);

	sysck_times_before("f", &b);
	S(truncate("f", 4));
	sysck_times_after("truncate_shrink", "f", &b, false);

	sysck_times_before("f", &b);
	S(truncate("f", 4));
	sysck_times_after("truncate_same_size", "f", &b, false);

	sysck_times_before("f", &b);
	fd = open("f", O_WRONLY | O_TRUNC);
	close(fd);
	sysck_times_after("open_trunc", "f", &b, false);

	sysck_times_before("f", &b);
	S(chmod("f", 0600));
	sysck_times_after("chmod", "f", &b, false);

	sysck_times_before("f", &b);
	S(chown("f", 1234, 5678));
	sysck_times_after("chown", "f", &b, false);

	sysck_times_before("f", &b);
	S(rename("f", "g"));
	sysck_times_after("rename_file_itself", "g", &b, false);

	sysck_times_before("d", &b);
	sysck_put("d/new", "x");
	sysck_times_after("dir_create", "d", &b, false);

	sysck_times_before("d", &b);
	S(mkdir("d/sub", 0755));
	sysck_times_after("dir_mkdir", "d", &b, false);

	sysck_times_before("d", &b);
	S(symlink("x", "d/sl"));
	sysck_times_after("dir_symlink", "d", &b, false);

	sysck_times_before("d", &b);
	S(unlink("d/new"));
	sysck_times_after("dir_unlink", "d", &b, false);

	sysck_times_before("d", &b);
	S(rmdir("d/sub"));
	sysck_times_after("dir_rmdir", "d", &b, false);

	sysck_put("d/mv", "x");
	{
		struct sysck_t b2;

		sysck_times_before("d", &b);
		sysck_times_before("d2", &b2);
		S(rename("d/mv", "d2/mv"));
		sysck_times_after("rename_source_dir", "d", &b, false);
		sysck_times_after("rename_target_dir", "d2", &b2, false);
	}

	sysck_times_before("d", &b);
	S(rename("d/sl", "d/sl2"));
	sysck_times_after("rename_within_dir", "d", &b, false);

	sysck_times_before("d", &b);
	S(chmod("d", 0700));
	sysck_times_after("dir_chmod", "d", &b, false);

	sysck_put("d/mv2", "x");
	sysck_times_before("d", &b);
	S(chmod("d/mv2", 0600));
	sysck_times_after("dir_untouched_by_child_chmod", "d", &b, false);
	(void)c;
}

static void case_utimensat(void)
{
	struct timespec ts[2] = {{1234567890, 123456789}, {987654321, 500}};
	struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
	struct timespec now_m[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
	struct stat st;
	struct sysck_t b;

	sysck_put("f", "x");
	sysck_rc("explicit", utimensat(AT_FDCWD, "f", ts, 0));
	stat("f", &st);
	sysck_line("explicit_values", "atime=%lld.%09ld mtime=%lld.%09ld",
		   (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
		   (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	sysck_times_get("f", &b);
	usleep(30000);
	sysck_rc("omit_both", utimensat(AT_FDCWD, "f", omit, 0));
	sysck_times_after("omit_both_times", "f", &b, true);
	sysck_times_get("f", &b);
	usleep(30000);
	sysck_rc("now_mtime", utimensat(AT_FDCWD, "f", now_m, 0));
	sysck_times_after("now_mtime_times", "f", &b, true);
	S(symlink("f", "l"));
	sysck_rc("symlink_nofollow", utimensat(AT_FDCWD, "l", ts, AT_SYMLINK_NOFOLLOW));
	lstat("l", &st);
	sysck_line("symlink_mtime", "%lld", (long long)st.st_mtim.tv_sec);
	sysck_rc("missing", utimensat(AT_FDCWD, "missing", ts, 0));
	{
		struct timespec pre[2] = {{-1000, 0}, {4102444800LL, 0}};	/* 1969, 2100 */

		sysck_rc("pre_epoch_and_2100", utimensat(AT_FDCWD, "f", pre, 0));
		stat("f", &st);
		sysck_line("pre_epoch_and_2100_values", "atime=%lld mtime=%lld",
			   (long long)st.st_atim.tv_sec, (long long)st.st_mtim.tv_sec);
	}
}

static void case_truncate(void)
{
	char buf[64];
	int fd, zeros = 0;
	ssize_t n, i;

	sysck_put("f", "0123456789");
	sysck_rc("shrink", truncate("f", 4));
	sysck_content("shrunk", "f");
	sysck_rc("grow", truncate("f", 8));
	fd = open("f", O_RDONLY);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	for (i = 4; i < n; i++)
		zeros += buf[i] == 0;
	sysck_line("grown", "size=%zd zeros=%d head=%.4s", n, zeros, buf);
	fd = open("f", O_WRONLY);
	sysck_line("write_past_end", "%s", pwrite(fd, "END", 3, 20) == 3 ? "OK" : sysck_errname(errno));
	sysck_rc("ftruncate_negative", ftruncate(fd, -1));
	close(fd);
	fd = open("f", O_RDONLY);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	zeros = 0;
	for (i = 8; i < 20 && i < n; i++)
		zeros += buf[i] == 0;
	sysck_line("hole_reads_zeros", "size=%zd zeros=%d tail=%.3s", n, zeros, n >= 23 ? buf + 20 : "?");
	S(mkdir("d", 0755));
	sysck_rc("dir", truncate("d", 0));
	sysck_rc("missing", truncate("missing", 0));
	fd = open("f", O_RDONLY);
	sysck_rc("ftruncate_rdonly_fd", ftruncate(fd, 0));
	close(fd);
	sysck_rc("to_zero", truncate("f", 0));
	sysck_stat("zero", "f");
}

static void case_names(void)
{
	char n255[256], n256[257], u255[256];
	int i;

	memset(n255, 'a', 255);
	n255[255] = 0;
	memset(n256, 'b', 256);
	n256[256] = 0;
	/* 85 three-byte characters: 255 bytes of UTF-8 */
	for (i = 0; i < 85; i++)
		memcpy(u255 + 3 * i, "\xe2\x82\xac", 3);
	u255[255] = 0;
	sysck_open_rc("create_255", n255, O_WRONLY | O_CREAT, 0644);
	sysck_open_rc("create_256", n256, O_WRONLY | O_CREAT, 0644);
	sysck_open_rc("create_utf8_255_bytes", u255, O_WRONLY | O_CREAT, 0644);
	sysck_rc("mkdir_256", mkdir(n256, 0755));
	sysck_rc("symlink_256", symlink("x", n256));
	sysck_rc("rename_to_256", rename(n255, n256));
	sysck_rc("stat_256", access(n256, F_OK));
	sysck_line("entries", "%d", sysck_names("."));
	sysck_open_rc("unicode_name", "donn\xc3\xa9" "es-\xe6\x97\xa5\xe6\x9c\xac-\xf0\x9f\x99\x82", O_WRONLY | O_CREAT, 0644);
	sysck_stat("unicode_name_stat", "donn\xc3\xa9" "es-\xe6\x97\xa5\xe6\x9c\xac-\xf0\x9f\x99\x82");
	sysck_open_rc("leading_dash_space", "- x ", O_WRONLY | O_CREAT, 0644);
	sysck_open_rc("backslash_and_percent", "a\\b%20c", O_WRONLY | O_CREAT, 0644);
	sysck_stat("backslash_and_percent_stat", "a\\b%20c");
}

static void case_mkdir(void)
{
	sysck_put("f", "x");
	sysck_rc("new", mkdir("d", 0750));
	sysck_stat("new_mode", "d");
	sysck_rc("existing_dir", mkdir("d", 0755));
	sysck_rc("existing_file", mkdir("f", 0755));
	sysck_rc("under_file", mkdir("f/d", 0755));
	sysck_rc("missing_parent", mkdir("x/y", 0755));
	sysck_rc("trailing_slash", mkdir("t/", 0755));
	sysck_stat("trailing_slash_made", "t");
	S(symlink("d", "l"));
	sysck_rc("over_symlink", mkdir("l", 0755));
	sysck_rc("sticky_setgid_modes", mkdir("s", 03777));
	sysck_stat("sticky_setgid_modes_kept", "s");
}

static void case_readdir(void)
{
	char name[32];
	int i;

	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "e%03d", i);
		sysck_put(name, "x");
	}
	sysck_line("after_create", "%d", sysck_names("."));
	for (i = 0; i < 300; i += 2) {
		snprintf(name, sizeof(name), "e%03d", i);
		S(unlink(name));
	}
	sysck_line("after_removing_half", "%d", sysck_names("."));
	for (i = 1; i < 300; i += 2) {
		char to[32];

		snprintf(name, sizeof(name), "e%03d", i);
		snprintf(to, sizeof(to), "r%03d", i);
		S(rename(name, to));
	}
	sysck_line("after_renames", "%d", sysck_names("."));
	{
		DIR *d = opendir(".");
		struct dirent *e;
		int r = 0, other = 0;

		while (d && (e = readdir(d)))
			if (e->d_name[0] == 'r')
				r++;
			else if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				other++;
		if (d)
			closedir(d);
		sysck_line("renamed_names", "r=%d other=%d", r, other);
	}
}

static void case_sync_calls(void)
{
	int fd = open("f", O_WRONLY | O_CREAT, 0644), e;

	sysck_line("write", "%s", write(fd, "data", 4) == 4 ? "OK" : sysck_errname(errno));
	sysck_rc("fsync", fsync(fd));
	sysck_rc("fdatasync", fdatasync(fd));
	close(fd);
	fd = open(".", O_RDONLY | O_DIRECTORY);
	sysck_rc("fsync_dir", fsync(fd));
	close(fd);
	fd = open("f", O_WRONLY | O_CREAT, 0644);
	e = posix_fallocate(fd, 0, 65536);
	errno = e;
	sysck_rc("posix_fallocate", e ? -1 : 0);
	close(fd);
	sysck_stat("after_fallocate", "f");
	sysck_content("content_kept", "f");
}

static const struct sysck_case {
	const char *name;
	void (*run)(void);
} sysck_cases[] = {
	{"open_flags", case_open_flags},
	{"excl_race", case_excl_race},
	{"append_two_writers", case_append_two_writers},
	{"rename_over", case_rename_over},
	{"unlink_open", case_unlink_open},
	{"rmdir", case_rmdir},
	{"link_counts", case_link_counts},
	{"symlinks", case_symlinks},
	{"times", case_times},
	{"utimensat", case_utimensat},
	{"truncate", case_truncate},
	{"names", case_names},
	{"mkdir", case_mkdir},
	{"readdir", case_readdir},
	{"sync_calls", case_sync_calls},
};

int main(int argc, char **argv)
{
	const char *only = NULL;
	bool list = false;
	size_t i;
	int a, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: s3f_sysck DIR [--only SUBSTR] [--list]\n");
		return 2;
	}
	for (a = 2; a < argc; a++) {
		if (!strcmp(argv[a], "--list"))
			list = true;
		else if (!strcmp(argv[a], "--only") && a + 1 < argc)
			only = argv[++a];
		else {
			fprintf(stderr, "s3f_sysck: unknown argument %s\n", argv[a]);
			return 2;
		}
	}
	umask(022);
	for (i = 0; i < sizeof(sysck_cases) / sizeof(sysck_cases[0]); i++) {
		const struct sysck_case *c = &sysck_cases[i];
		char dir[PATH_MAX];

		if (only && !strstr(c->name, only))
			continue;
		if (list) {
			printf("%s\n", c->name);
			continue;
		}
		snprintf(dir, sizeof(dir), "%s/%s", argv[1], c->name);
		if (mkdir(dir, 0755) < 0 || chdir(dir) < 0) {
			fprintf(stderr, "s3f_sysck: %s: %s\n", dir, strerror(errno));
			rc = 2;
			break;
		}
		g_case = c->name;
		c->run();
		printf("%s.END\n", c->name);
		fflush(stdout);
	}
	return rc;
}
