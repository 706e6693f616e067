/*
 * pcut_shim.c — preloaded (LD_PRELOAD) into s3files-syncd during a power-cut recording:
 * marks every syncfs(fd) for the recorder, which FUSE does not tell (pcut_fuse.c, "syncfs").
 * The mark is a getxattr of "user.pcut.syncfs" on fd, made right before the real syncfs:
 * everything the recorder logged before the mark was done before syncfs started, so it is
 * durable when syncfs returns.
 *
 * Only works for calls that go through the dynamic linker's global scope: not for code
 * that ganesha loads with RTLD_DEEPBIND (the FSAL and its liblmdb), checked by
 * test/integration/pcut.sh (deepbind_hides_calls).
 */
#include <dlfcn.h>
#include <errno.h>
#include <sys/xattr.h>
#include <unistd.h>

int syncfs(int fd)
{
	static int (*real)(int);
	int saved = errno;

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
	(void)fgetxattr(fd, "user.pcut.syncfs", NULL, 0);
	errno = saved;
	return real ? real(fd) : (errno = ENOSYS, -1);
}
