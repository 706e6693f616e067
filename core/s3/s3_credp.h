/*
 * s3_credp.h — credential providers of the S3 client: where the key, secret and session
 * token come from, and the refresh of temporary credentials before they expire.
 *
 * Providers (enum s3_credp_kind), and the chain that picks one when none is forced
 * (S3_CREDP_AUTO), in this order; the first that applies is chosen once, at open, and
 * logged with the key id (never a secret or a token):
 *   config        explicit keys (s3_creds_source.access_key_id, ...; static)
 *   env           AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN; static)
 *   web_identity  AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME):
 *                 STS AssumeRoleWithWebIdentity, an unsigned POST to the STS endpoint
 *                 (opts.sts_endpoint, else AWS_ENDPOINT_URL_STS, else
 *                 https://sts.<region>.amazonaws.com); the token file is read again at
 *                 every refresh (Kubernetes rotates it)
 *   file          the credentials file and profile (s3_creds_load_file; static). A file
 *                 that was named and cannot be used is an error, not a reason to go on
 *   container     AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on http://169.254.170.2) or
 *                 AWS_CONTAINER_CREDENTIALS_FULL_URI — over http only to a loopback
 *                 address, localhost, 169.254.170.2, 169.254.170.23 or fd00:ec2::23;
 *                 https to anywhere. Authorization header from
 *                 AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at every fetch) or
 *                 AWS_CONTAINER_AUTHORIZATION_TOKEN
 *   imds          EC2 instance metadata, IMDSv2 only: PUT /latest/api/token (a 6 h
 *                 session token, reused until a minute before its end), then
 *                 GET /latest/meta-data/iam/security-credentials/ (the role) and .../ROLE.
 *                 Endpoint http://169.254.169.254 or AWS_EC2_METADATA_SERVICE_ENDPOINT;
 *                 AWS_EC2_METADATA_DISABLED=true turns it off. 1 s to connect, 2 s per
 *                 request: the chain reaches it last and a machine outside EC2 must not
 *                 hang at start.
 * The answers of container and imds are JSON with AccessKeyId, SecretAccessKey, Token and
 * Expiration (ISO 8601).
 *
 * Start. A static provider has its credentials at open. A temporary one (web_identity,
 * container, imds) fetches once at open; if that fails, open still succeeds when the
 * provider was configured (its variables are set, or it was forced), logs the reason at
 * error level and keeps retrying in the background; until it gets an answer
 * s3_credp_get fails with S3F_E_S3_CREDS. Only imds reached by the chain (nothing
 * configured at all) must answer at open, else the chain found no credentials (ENOENT).
 *
 * Refresh (temporary providers only): a thread of the provider fetches again at
 * s3_credp_refresh_at (5 minutes before Expiration, or half-way through a lifetime
 * shorter than 10 minutes). A failed fetch is retried after s3_credp_backoff (1 s,
 * doubling, at most 30 s); meanwhile the old credentials are used until they expire, then
 * s3_credp_get fails with S3F_E_S3_CREDS until a fetch succeeds. A fetch that gives
 * credentials already expired counts as failed.
 *
 * Threads and locks. Any number of threads may call s3_credp_get at once (the S3 client's
 * I/O thread for every request attempt, presigning callers). p->mu, internal, protects the
 * current credentials and their expiration: s3_credp_get copies the whole triple under
 * it, so a request always signs with a key, secret and token of the same fetch. mu is a
 * leaf lock held only for that copy or the swap; no network I/O happens under it, and a
 * caller may hold any lock of its own when calling s3_credp_get (it never calls out).
 * The refresh thread's fetch state (the IMDS session token and role) is its own.
 *
 * Ownership: s3_credp_open copies every string of opts; the provider owns its thread and
 * stops it in s3_credp_close, which must come after every user (the S3 client borrows it
 * through s3_config.credp) is closed.
 */
#ifndef S3F_S3_CREDP_H
#define S3F_S3_CREDP_H

#include "s3/s3.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum s3_credp_kind {
	S3_CREDP_AUTO = 0,		/* the chain above */
	S3_CREDP_CONFIG,
	S3_CREDP_ENV,
	S3_CREDP_WEB_IDENTITY,
	S3_CREDP_FILE,
	S3_CREDP_CONTAINER,
	S3_CREDP_IMDS,
};

/* "auto", "config", "env", "web_identity", "file", "container", "imds" (the names of the
 * Credentials_Provider setting). parse: 0 or EINVAL. */
const char *s3_credp_kind_name(enum s3_credp_kind k);
int s3_credp_kind_parse(const char *name, enum s3_credp_kind *out);

struct s3_credp_opts {
	struct s3_creds_source src;	/* keys, credentials file, profile, use_env; use_env
					   false also hides every AWS_* variable above */
	enum s3_credp_kind kind;	/* S3_CREDP_AUTO: the chain */
	const char *sts_endpoint;	/* NULL: AWS_ENDPOINT_URL_STS, else by region */
	const char *region;		/* NULL: us-east-1 */
	const char *ca_file;		/* trusted CAs for https endpoints; NULL: system store */
};

struct s3_credp;

/* 0; ENOENT (the chain found nothing; err names what was tried); EINVAL (a forced
 * provider that is not configured, a FULL_URI to a host it may not use, half-set keys);
 * EACCES / other errors of the credentials file; ENOMEM. err gets one line without
 * secrets. */
int s3_credp_open(const struct s3_credp_opts *opts, struct s3_credp **out, char *err,
		  size_t errlen);
void s3_credp_close(struct s3_credp *p);

/* Copy the current credentials: 0, or S3F_E_S3_CREDS (none yet, or expired). */
int s3_credp_get(struct s3_credp *p, struct s3_creds *out);

struct s3_credp_info {
	enum s3_credp_kind kind;
	bool valid;			/* credentials present and not expired */
	int64_t expiration;		/* Unix seconds; 0: static, never expire */
	uint64_t fetches;		/* successful fetches (temporary providers) */
	uint64_t failures;		/* failed fetches */
	char access_key_id[128];	/* of the current credentials ("" if none) */
};
void s3_credp_info_get(struct s3_credp *p, struct s3_credp_info *out);

/* ---- pure helpers (exposed for the unit tests) ---- */

/* The JSON answer of the container endpoint and of IMDS. Required: AccessKeyId,
 * SecretAccessKey; Token and Expiration optional (none: static credentials, *expiration
 * 0). A "Code" member other than "Success" (IMDS) is an error. 0 or EBADMSG (err says why,
 * without values). */
int s3_credp_parse_json(const char *body, size_t len, struct s3_creds *out,
			int64_t *expiration, char *err, size_t errlen);

/* When to fetch again credentials fetched at `fetched` that expire at `expiration`
 * (Unix seconds): INT64_MAX for expiration 0 (never). */
int64_t s3_credp_refresh_at(int64_t fetched, int64_t expiration);

/* Seconds to wait after the n-th failed fetch in a row (n >= 1). */
unsigned s3_credp_backoff(unsigned n);

/* May AWS_CONTAINER_CREDENTIALS_FULL_URI be used: https, or http to an allowed host. */
bool s3_credp_full_uri_ok(const char *uri);

#endif
