/*
 * err.h — the one error convention of core/.
 *
 * Every core function that can fail returns an int:
 *     0        success
 *   > 0        an errno value (ENOENT, EIO, ENOSPC, ...), meaning what POSIX says
 *   < 0        a module code below, or an LMDB code (MDB_*, -30799..-30780) passed
 *              through unchanged from the metadata store
 * The FSAL maps these to fsal_status_t in exactly one place (fsal_s3files/status.c);
 * the daemon and the CLI print them with s3f_strerror().
 */
#ifndef S3F_ERR_H
#define S3F_ERR_H

enum s3f_err {
	/* S3 client (-100..-199) */
	S3F_E_S3_NET = -100,		/* connection failed, reset, or timed out (after retries) */
	S3F_E_S3_SERVER = -101,		/* 5xx / SlowDown after every retry */
	S3F_E_S3_PRECOND = -102,	/* 412: If-Match / If-None-Match did not hold */
	S3F_E_S3_CLIENT = -103,		/* other 4xx (bad request, invalid argument, ...) */
	S3F_E_S3_PROTO = -104,		/* response we cannot parse or that breaks the protocol */
	S3F_E_S3_AUTH = -105,		/* 403 SignatureDoesNotMatch, InvalidAccessKeyId, ... */
	S3F_E_S3_NOBUCKET = -106,	/* NoSuchBucket */
	S3F_E_S3_NOUPLOAD = -107,	/* NoSuchUpload (multipart id unknown or finished) */
	S3F_E_S3_CONFLICT = -108,	/* 409 (e.g. concurrent conditional write) */
	S3F_E_S3_FAULT = -109,		/* failure injected by the fault layer (tests) */
	S3F_E_S3_CANCELED = -110,	/* client closing */
	S3F_E_S3_DIGEST = -111,		/* 400 BadDigest: the server received other bytes than the
					   Content-MD5 we sent (corrupted on the way, or a source file
					   that changed while it was read): nothing was stored; transient,
					   try again later */
	S3F_E_S3_CORRUPT = -112,	/* a whole-object GET whose bytes do not match the ETag (the
					   MD5 of a single-part object), twice in a row */
	S3F_E_S3_CREDS = -113,		/* no valid credentials to sign with: the provider has not
					   got any yet, or they expired and every refresh since
					   failed (core/s3/s3_credp.h); transient, the provider retries */
	/* metadata store (-200..-299); LMDB's own codes are passed through as they are */
	S3F_E_META_CORRUPT = -200,	/* record with an unknown version or bad length */
	S3F_E_META_VERSION = -201,	/* store written by an incompatible schema version */
	/* data tier (-300..-399) */
	S3F_E_DATA_ABSENT = -300,	/* the range is not (or no longer) in the local tier */
	/* key mapping (-400..-499) */
	S3F_E_KEY_UNREPRESENTABLE = -400, /* S3 key has no POSIX path (see doc/SEMANTICS.md) */
	/* config (-500..-599) */
	S3F_E_CONFIG = -500,		/* invalid configuration; details were logged */
	/* journal (-600..-699) */
	S3F_E_JOURNAL_CORRUPT = -600,	/* a journal line that does not parse */
};

/* Static string for any return code of core (0, errno, module or LMDB code). */
const char *s3f_strerror(int rc);

#endif
