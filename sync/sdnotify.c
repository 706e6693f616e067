/*
 * sdnotify.c — READY=1 / STOPPING=1 for a Type=notify unit without libsystemd.
 *
 * The protocol is small and stable (sd_notify(3), "NOTIFY_SOCKET"): the service manager
 * passes the address of a datagram socket in $NOTIFY_SOCKET; the service sends newline-
 * separated assignments in one datagram. An address starting with '@' is in Linux's
 * abstract namespace (the '@' becomes a NUL byte). Linking libsystemd for this one call
 * would add a dependency the package and the container image do not otherwise need.
 *
 * Sent once the daemon's stores are open, its control socket serves and its workers run
 * (main.c): systemd then starts units ordered After= it (s3files-ganesha.service), so the
 * FSAL never serves an export whose daemon is not ready.
 */
#include "syncd.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"

int sync_sdnotify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t plen;
	socklen_t salen;
	ssize_t n;
	int fd, rc = 0;

	if (!path || !*path)
		return 0;
	plen = strlen(path);
	/* Only paths and abstract names: systemd also documents vsock addresses, which a
	 * Linux service manager running us in a VM guest does not use. */
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof sa.sun_path) {
		LOG_WARN(LOG_C_SYNC, "NOTIFY_SOCKET %s: not a unix socket address; not notifying",
			 path);
		return EAFNOSUPPORT;
	}
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen +
			    (path[0] == '/' ? 1 : 0));

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = errno;
		goto fail;
	}
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	if (n < 0)
		rc = errno;
	else if ((size_t)n != strlen(state))
		rc = EMSGSIZE;
	close(fd);
	if (rc)
		goto fail;
	LOG_DEBUG(LOG_C_SYNC, "sd_notify %s: sent", path);
	return 0;
fail:
	LOG_WARN(LOG_C_SYNC, "sd_notify %s: %s", path, strerror(rc));
	return rc;
}
