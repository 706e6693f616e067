/* err.c — see err.h. */
#include "base/err.h"

#include <lmdb.h>
#include <string.h>

const char *s3f_strerror(int rc)
{
	if (rc == 0)
		return "success";
	if (rc > 0)
		return strerror(rc);
	if (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE)
		return mdb_strerror(rc);
	switch ((enum s3f_err)rc) {
	case S3F_E_S3_NET: return "S3: network error (connection failed, reset or timed out)";
	case S3F_E_S3_SERVER: return "S3: server error (5xx or SlowDown) after retries";
	case S3F_E_S3_PRECOND: return "S3: precondition failed (object changed)";
	case S3F_E_S3_CLIENT: return "S3: request rejected (4xx)";
	case S3F_E_S3_PROTO: return "S3: malformed or unexpected response";
	case S3F_E_S3_CREDS: return "S3: no valid credentials (the credential provider has none "
				    "yet, or they expired and could not be refreshed)";
	case S3F_E_S3_AUTH: return "S3: authentication or authorization failed";
	case S3F_E_S3_NOBUCKET: return "S3: no such bucket";
	case S3F_E_S3_NOUPLOAD: return "S3: no such multipart upload";
	case S3F_E_S3_CONFLICT: return "S3: conflicting operation (409)";
	case S3F_E_S3_FAULT: return "S3: injected fault";
	case S3F_E_S3_CANCELED: return "S3: request canceled";
	case S3F_E_S3_DIGEST: return "S3: upload refused, body does not match its Content-MD5 (BadDigest)";
	case S3F_E_S3_CORRUPT: return "S3: downloaded bytes do not match the object's ETag (MD5)";
	case S3F_E_META_CORRUPT: return "metadata: corrupt record";
	case S3F_E_META_VERSION: return "metadata: incompatible store version";
	case S3F_E_DATA_ABSENT: return "data: range not present locally";
	case S3F_E_KEY_UNREPRESENTABLE: return "key has no POSIX path";
	case S3F_E_CONFIG: return "invalid configuration";
	case S3F_E_JOURNAL_CORRUPT: return "journal: corrupt line";
	}
	return "unknown error";
}
