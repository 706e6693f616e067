/*
 * status.c — the single mapping of core return codes (0 / errno / module codes, see
 * core/base/err.h) to ganesha's fsal_status_t. Nothing else in the FSAL builds a status
 * from a core code.
 */
#include "s3f_fsal.h"

#include <errno.h>
#include <lmdb.h>

#include "base/err.h"
#include "base/log.h"

fsal_status_t s3f_status(int rc)
{
	if (rc == 0)
		return fsalstat(ERR_FSAL_NO_ERROR, 0);
	if (rc > 0)
		return fsalstat(posix2fsal_error(rc), rc);

	switch (rc) {
	case S3F_E_S3_NET:
	case S3F_E_S3_SERVER:
	case S3F_E_S3_CANCELED:
		/* S3 unreachable: the client should retry later, not see an error. */
		return fsalstat(ERR_FSAL_DELAY, EAGAIN);
	case S3F_E_S3_PRECOND:
		/* The object changed under a fetch: the client retries after the change
		 * is imported. */
		return fsalstat(ERR_FSAL_DELAY, EAGAIN);
	case S3F_E_S3_AUTH:
		return fsalstat(ERR_FSAL_ACCESS, EACCES);
	case MDB_MAP_FULL:
		return fsalstat(ERR_FSAL_NOSPC, ENOSPC);
	case S3F_E_KEY_UNREPRESENTABLE:
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	default:
		break;
	}
	LOG_ERROR(LOG_C_FSAL, "operation failed: %s (%d)", s3f_strerror(rc), rc);
	return fsalstat(ERR_FSAL_IO, EIO);
}
