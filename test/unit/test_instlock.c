/* test_instlock.c — single-instance locks (core/store/instlock.c): held across processes, freed
 * by the holder's death (kill -9 included), the holder named, network file systems told
 * apart. Other processes are real ones (fork), the lock is the kernel's. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "base/err.h"
#include "store/instlock.h"

static char dir[4096];

static void fresh_dir(void)
{
	snprintf(dir, sizeof dir, "%s", check_tmpdir());
}

/* A child that takes dir/name, tells the parent (one byte on the pipe: 'L' locked, 'B'
 * busy, 'E' error) and then sleeps until killed. Returns its pid; *answer gets the byte. */
static pid_t child_holding(const char *name, char *answer)
{
	int p[2];
	pid_t pid;

	CHECK(pipe(p) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct instlock *l = NULL;
		int rc = instlock_acquire(dir, name, "test-child", &l, NULL);
		char c = rc == 0 ? 'L' : rc == EWOULDBLOCK ? 'B' : 'E';

		close(p[0]);
		if (write(p[1], &c, 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	close(p[1]);
	CHECK(read(p[0], answer, 1) == 1);
	close(p[0]);
	return pid;
}

static void reap(pid_t pid, int sig)
{
	int st;

	kill(pid, sig);
	CHECK(waitpid(pid, &st, 0) == pid);
}

static void test_held_by_self(void)
{
	struct instlock *l = NULL, *l2 = NULL;
	struct instlock_holder h;
	char host[256] = "", buf[512];

	fresh_dir();
	CHECK_OK(instlock_acquire(dir, "syncd.lock", "s3files-syncd", &l, &h));
	CHECK(l != NULL);
	CHECK(!h.known);	/* nothing to report on success */
	/* A second acquisition in the same process conflicts too (its own open). */
	CHECK_INT_EQ(instlock_acquire(dir, "syncd.lock", "again", &l2, &h), EWOULDBLOCK);
	CHECK(l2 == NULL);
	CHECK(h.known);
	CHECK_INT_EQ(h.pid, getpid());
	CHECK_STR_EQ(h.prog, "s3files-syncd");
	CHECK(gethostname(host, sizeof host) == 0);
	CHECK_STR_EQ(h.host, host);
	CHECK(strlen(h.start) == 20 && h.start[19] == 'Z');
	instlock_holder_str(&h, buf, sizeof buf);
	CHECK_MSG(strstr(buf, "s3files-syncd") && strstr(buf, host), "%s", buf);
	/* A query sees it held and names us. */
	CHECK_INT_EQ(instlock_query(dir, "syncd.lock", &h), EWOULDBLOCK);
	CHECK_INT_EQ(h.pid, getpid());
	/* Another name in the same directory is independent (the FSAL's next to the daemon's). */
	CHECK_OK(instlock_acquire(dir, "fsal.lock", "ganesha", &l2, NULL));
	instlock_release(l2);
	instlock_release(l);
	CHECK_OK(instlock_query(dir, "syncd.lock", NULL));
	/* Released, the file stays (never unlinked) and can be taken again. */
	struct stat st;
	char path[4200];

	snprintf(path, sizeof path, "%s/syncd.lock", dir);
	CHECK(stat(path, &st) == 0);
	CHECK_INT_EQ(st.st_mode & 0777, 0600);
	CHECK_OK(instlock_acquire(dir, "syncd.lock", "s3files-syncd", &l, NULL));
	instlock_release(l);
	instlock_release(NULL);
	CHECK_INT_EQ(instlock_query(dir, "nothing.lock", NULL), ENOENT);
}

static void test_other_process(void)
{
	struct instlock *l = NULL;
	struct instlock_holder h;
	char c = 0, buf[512];
	pid_t pid;

	fresh_dir();
	pid = child_holding("syncd.lock", &c);
	CHECK_MSG(c == 'L', "child answered %c", c);
	CHECK_INT_EQ(instlock_acquire(dir, "syncd.lock", "second", &l, &h), EWOULDBLOCK);
	CHECK(l == NULL);
	CHECK(h.known);
	CHECK_INT_EQ(h.pid, pid);
	CHECK_STR_EQ(h.prog, "test-child");
	instlock_holder_str(&h, buf, sizeof buf);
	char want[32];

	snprintf(want, sizeof want, "pid %d ", (int)pid);
	CHECK_MSG(strstr(buf, want) != NULL, "%s", buf);
	/* And the other way round: a child cannot take what we hold. */
	reap(pid, SIGTERM);
	CHECK_OK(instlock_acquire(dir, "syncd.lock", "parent", &l, NULL));
	pid = child_holding("syncd.lock", &c);
	CHECK_MSG(c == 'B', "child answered %c while the parent held the lock", c);
	reap(pid, SIGKILL);
	instlock_release(l);
}

/* kill -9 of the holder: the kernel drops the lock; the stale line in the file does not
 * block the next process, which replaces it with its own. */
static void test_kill9_then_restart(void)
{
	struct instlock *l = NULL;
	struct instlock_holder h;
	char c = 0;
	pid_t pid;

	fresh_dir();
	pid = child_holding("syncd.lock", &c);
	CHECK(c == 'L');
	CHECK_INT_EQ(instlock_query(dir, "syncd.lock", &h), EWOULDBLOCK);
	CHECK_INT_EQ(h.pid, pid);
	reap(pid, SIGKILL);
	CHECK_OK(instlock_query(dir, "syncd.lock", NULL));
	CHECK_OK(instlock_acquire(dir, "syncd.lock", "restarted", &l, NULL));
	/* The file now names us, not the dead process. */
	CHECK_INT_EQ(instlock_query(dir, "syncd.lock", &h), EWOULDBLOCK);
	CHECK_INT_EQ(h.pid, getpid());
	CHECK_STR_EQ(h.prog, "restarted");
	instlock_release(l);
}

/* The lock is not inherited by a program the holder execs (O_CLOEXEC): a helper process
 * that outlives the holder must not keep the State_Dir locked. The holder (a child) takes
 * the lock, starts `sleep` and dies without releasing anything. */
static void test_not_inherited_by_exec(void)
{
	struct instlock *l = NULL;
	int p[2], st;
	pid_t holder, sleeper = 0;

	fresh_dir();
	CHECK(pipe(p) == 0);
	holder = fork();
	CHECK(holder >= 0);
	if (holder == 0) {
		char path[64], comm[32] = "";
		pid_t gc;

		close(p[0]);
		if (instlock_acquire(dir, "syncd.lock", "holder", &l, NULL) != 0)
			_exit(2);
		gc = fork();
		if (gc == 0) {
			execl("/bin/sleep", "sleep", "30", (char *)NULL);
			_exit(127);
		}
		/* Until the grandchild has exec'd (its comm is "sleep"). */
		snprintf(path, sizeof path, "/proc/%d/comm", (int)gc);
		for (int i = 0; i < 400 && strncmp(comm, "sleep", 5) != 0; i++) {
			FILE *f = fopen(path, "r");

			if (f) {
				if (!fgets(comm, sizeof comm, f))
					comm[0] = '\0';
				fclose(f);
			}
			usleep(5000);
		}
		if (write(p[1], &gc, sizeof gc) != sizeof gc)
			_exit(3);
		_exit(strncmp(comm, "sleep", 5) == 0 ? 0 : 4);	/* no release */
	}
	close(p[1]);
	CHECK(read(p[0], &sleeper, sizeof sleeper) == sizeof sleeper);
	close(p[0]);
	CHECK(waitpid(holder, &st, 0) == holder);
	int rc = instlock_acquire(dir, "syncd.lock", "next", &l, NULL);

	kill(sleeper, SIGKILL);	/* the grandchild is init's now: no wait for it */
	CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "holder status %#x", st);
	CHECK_MSG(rc == 0, "lock still held after its holder died (rc %d): inherited by exec", rc);
	instlock_release(l);
}

static void test_refuses_symlink(void)
{
	struct instlock *l = NULL;
	char path[4200], target[4200];

	fresh_dir();
	snprintf(target, sizeof target, "%s/elsewhere", dir);
	snprintf(path, sizeof path, "%s/syncd.lock", dir);
	CHECK(symlink(target, path) == 0);
	CHECK_INT_EQ(instlock_acquire(dir, "syncd.lock", "x", &l, NULL), ELOOP);
	CHECK(l == NULL);
	CHECK(access(target, F_OK) != 0);	/* nothing created through the link */
	/* A State_Dir not made yet is made (0700), under a file it cannot be. */
	char sub[4200];
	struct stat st;

	snprintf(sub, sizeof sub, "%s/new/state", dir);
	CHECK_OK(instlock_acquire(sub, "syncd.lock", "x", &l, NULL));
	CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK_INT_EQ(st.st_mode & 0777, 0700);
	instlock_release(l);
	l = NULL;
	snprintf(sub, sizeof sub, "%s/new/state/syncd.lock/below", dir);
	CHECK_INT_EQ(instlock_acquire(sub, "syncd.lock", "x", &l, NULL), ENOTDIR);
	CHECK(l == NULL);
}

/* A garbled lock file (someone wrote into it) gives "unknown", never garbage. */
static void test_garbled_file(void)
{
	struct instlock *l = NULL;
	struct instlock_holder h;
	char path[4200], c = 0, buf[512];
	pid_t pid;

	fresh_dir();
	pid = child_holding("syncd.lock", &c);
	CHECK(c == 'L');
	snprintf(path, sizeof path, "%s/syncd.lock", dir);
	int fd = open(path, O_WRONLY | O_TRUNC);

	CHECK(fd >= 0);
	CHECK(write(fd, "pid=abc host=\n\x01", 15) == 15);
	close(fd);
	CHECK_INT_EQ(instlock_acquire(dir, "syncd.lock", "x", &l, &h), EWOULDBLOCK);
	CHECK(!h.known);
	instlock_holder_str(&h, buf, sizeof buf);
	CHECK(strstr(buf, "unknown") != NULL);
	reap(pid, SIGKILL);
}

static void test_fs_names(void)
{
	const char *name = "x";

	CHECK_STR_EQ(instlock_fs_remote_name(0x6969), "nfs");
	CHECK_STR_EQ(instlock_fs_remote_name((long)0xFF534D42UL), "cifs");
	CHECK_STR_EQ(instlock_fs_remote_name((long)0xFE534D42UL), "smb2");
	CHECK_STR_EQ(instlock_fs_remote_name(0x65735546), "fuse");
	CHECK_STR_EQ(instlock_fs_remote_name(0x01021997), "9p");
	CHECK_STR_EQ(instlock_fs_remote_name(0x00C36400), "ceph");
	/* Local ones: ext4, tmpfs, xfs, btrfs, overlayfs. */
	CHECK(instlock_fs_remote_name(0xEF53) == NULL);
	CHECK(instlock_fs_remote_name(0x01021994) == NULL);
	CHECK(instlock_fs_remote_name(0x58465342) == NULL);
	CHECK(instlock_fs_remote_name(0x9123683E) == NULL);
	CHECK(instlock_fs_remote_name(0x794C7630) == NULL);
	/* The test's own directory and /dev/shm are local. */
	fresh_dir();
	CHECK_OK(instlock_fs_check(dir, &name));
	CHECK(name == NULL);
	CHECK_OK(instlock_fs_check("/dev/shm", NULL));
	/* Not made yet: judged by where it will be made. A relative path is refused. */
	CHECK_OK(instlock_fs_check("/nonexistent-dir-s3f/a/b/", NULL));
	char sub[4200];

	snprintf(sub, sizeof sub, "%s/not/yet", dir);
	CHECK_OK(instlock_fs_check(sub, NULL));
	CHECK_INT_EQ(instlock_fs_check("relative-dir-s3f", NULL), ENOENT);
	CHECK_INT_EQ(instlock_fs_check("", NULL), EINVAL);
	/* /proc/sys/fs/binfmt_misc or a FUSE mount would be remote; only check one if this
	 * machine has it (a test that cannot fail is no test: say so). */
	FILE *m = fopen("/proc/self/mounts", "r");
	char line[1024];
	bool seen = false;

	while (m && fgets(line, sizeof line, m)) {
		char dev[256], mnt[512], type[64];

		if (sscanf(line, "%255s %511s %63s", dev, mnt, type) != 3)
			continue;
		if (strcmp(type, "nfs") == 0 || strcmp(type, "nfs4") == 0 ||
		    strncmp(type, "fuse", 4) == 0 || strcmp(type, "9p") == 0 ||
		    strcmp(type, "cifs") == 0) {
			int rc = instlock_fs_check(mnt, &name);

			if (rc == EACCES || rc == ENOTCONN)
				continue;
			CHECK_MSG(rc == EREMOTE, "%s (%s): %d", mnt, type, rc);
			seen = true;
			printf("# %s (%s) detected as remote: %s\n", mnt, type, name);
		}
	}
	if (m)
		fclose(m);
	if (!seen)
		printf("# no network or FUSE mount on this machine: detection checked by f_type only\n");
}

int main(void)
{
	CHECK_RUN(test_held_by_self);
	CHECK_RUN(test_other_process);
	CHECK_RUN(test_kill9_then_restart);
	CHECK_RUN(test_not_inherited_by_exec);
	CHECK_RUN(test_refuses_symlink);
	CHECK_RUN(test_garbled_file);
	CHECK_RUN(test_fs_names);
	return check_done();
}
