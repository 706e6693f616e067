/*
 * nodeepbind.c — LD_PRELOAD shim for running ganesha.nfsd with the AddressSanitizer build
 * of the FSAL (build/asan/lib/libfsals3files.so; test/integration/proto.sh).
 *
 * Ganesha loads FSALs with dlopen(RTLD_LOCAL | RTLD_DEEPBIND). The sanitizer runtime
 * refuses RTLD_DEEPBIND outright ("You are trying to dlopen a ... shared library with
 * RTLD_DEEPBIND flag which is incompatible with sanitizer runtime", google/sanitizers
 * issue 611): a DEEPBIND'ed library would call its own malloc/free instead of ASan's.
 * This shim's dlopen drops the flag and hands the call on (to ASan's dlopen, then the
 * real one). Our FSAL needs no DEEPBIND: it is built with hidden visibility and its
 * static core is bound at link time (-Wl,--exclude-libs,ALL), so nothing of ganesha's
 * can interpose on it.
 *
 *   LD_PRELOAD="libnodeepbind.so libasan.so.8 libubsan.so.1" \
 *   ASAN_OPTIONS=verify_asan_link_order=0:... ganesha.nfsd ...
 * (verify_asan_link_order=0: ASan then is not the first library of the process.)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stddef.h>

void *dlopen(const char *file, int mode);

void *dlopen(const char *file, int mode)
{
	static void *(*next)(const char *, int);

	if (!next)
		next = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
	return next ? next(file, mode & ~RTLD_DEEPBIND) : NULL;
}
