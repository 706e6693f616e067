/*
 * s3_int.h — internals of the S3 client shared by s3.c (operations) and s3_io.c (the I/O
 * thread), and the hooks the unit tests use. Not part of the public API (s3.h).
 *
 * Life of a request
 *   1. A caller thread builds a struct s3_req (s3_req_new + s3_req_header...), points it
 *      at a completion group and calls s3_io_submit. From then on the request belongs to
 *      the I/O thread until it is finished; the caller only waits on the group.
 *   2. The I/O thread signs and runs each attempt on its CURLM, classifies the outcome,
 *      and either schedules a retry on its timer list or finishes the request: result
 *      fields written, observer called, r->finished set and the group signalled — in
 *      that order, under the group's mutex, after which the I/O thread never touches r.
 *   3. The caller reads the results and frees the request (s3_req_free).
 */
#ifndef S3F_S3_INT_H
#define S3F_S3_INT_H

#include "s3/s3.h"
#include "s3/s3_ops.h"
#include "s3/s3_util.h"
#include "s3/s3_xml.h"

#include <curl/curl.h>
#include <pthread.h>

#define S3_REQ_HDR_MAX (24 + S3_META_MAX)
#define S3_RESP_XML_MAX (64u << 20)	/* list pages of 1,000 long encoded keys fit */
#define S3_RESP_ERR_MAX (64u << 10)	/* error documents are small; the rest is dropped */

/* The requests of one call (or one batch) report here. */
struct s3_group {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned pending;	/* protected by mu: submitted and not finished */
};
void s3_group_init(struct s3_group *g);
void s3_group_destroy(struct s3_group *g);
/* Block until at most `limit` requests of the group are pending. */
void s3_group_wait(struct s3_group *g, unsigned limit);

enum s3_src_kind { S3_SRC_NONE, S3_SRC_MEM, S3_SRC_FD };
enum s3_sink_kind { S3_SINK_DISCARD, S3_SINK_BUF, S3_SINK_FD };

struct s3_req_hdr {
	char *name;
	char *value;
};

struct s3_req {
	/* ---- set by the submitter, read-only once submitted ---- */
	struct s3_client *c;
	enum s3_op op;
	const char *method;		/* "GET", "PUT", ... (static) */
	char *key;			/* NULL: bucket-level request */
	char *query;			/* wire query string (encoded), NULL if none */
	struct s3_req_hdr hdrs[S3_REQ_HDR_MAX];	/* signed and sent as given */
	size_t n_hdrs;
	char payload_hash[65];		/* hex SHA-256 or "UNSIGNED-PAYLOAD" */
	enum s3_src_kind src;
	const void *src_data;
	void *src_owned;		/* heap body the request owns (freed with it), or NULL */
	int src_fd;
	uint64_t src_off, src_len;
	enum s3_sink_kind sink;
	struct s3_buf *sink_buf;	/* S3_SINK_BUF: caller's buffer, len reset per attempt */
	size_t sink_buf_base;		/* its len when the request started */
	int sink_fd;
	uint64_t sink_off;
	uint64_t sink_max;		/* bytes the caller asked for (UINT64_MAX: any) */
	uint64_t range_off;		/* a Range header was sent starting here */
	bool range_sent;
	bool xml_body;			/* a 2xx body is an XML document: into resp */
	bool no_retry;			/* one attempt only (s3_list_req.once) */
	struct s3_group *group;
	void *tag;			/* for the operation that built the request */
	char *url;			/* built at submit */
	char *path;			/* the signed path */

	/* ---- results: written by the I/O thread, read after finished ---- */
	int rc;
	int http_status;
	bool finished;			/* protected by group->mu */
	struct s3_object_info info;	/* response headers */
	bool have_size;			/* info.size came from Content-Length or Content-Range */
	uint64_t cr_start;		/* first byte of Content-Range, UINT64_MAX if none */
	struct s3_buf resp;		/* XML body (2xx with xml_body) or error body */
	char err_code[64];		/* <Code> of an error document, "" if none */
	char request_id[128];
	uint64_t got;			/* bytes given to the sink by the final attempt */
	bool etag_not_md5;		/* the answer names SSE-KMS or SSE-C: its ETag is no MD5 */
	struct s3_call_stats stats;

	/* ---- I/O thread private ---- */
	struct s3_req *next;		/* link in the submit queue, ready list or timer list */
	CURL *easy;
	struct curl_slist *slist;
	unsigned attempt;		/* attempts started, the current one included */
	uint64_t due_ns;		/* timer list: when to (re)start */
	bool delay_served;		/* a DELAY fault already held this attempt */
	uint64_t t_start_ns;
	uint64_t rx;			/* body bytes of this attempt (any destination) */
	uint64_t src_pos;
	int local_err;			/* errno/module code raised inside a callback */
	bool early_stop;		/* we stopped the body on purpose (enough bytes) */
	bool range_checked;
	bool fault_reset;		/* RESET armed for this attempt */
	uint64_t fault_after;
	bool fault_fired_reset;
	bool fault_corrupt;		/* CORRUPT armed for this attempt (at fault_after) */
	size_t meta_seen;
	void *md5;			/* EVP_MD_CTX of the body when this attempt verifies it */
	bool verify;			/* this attempt's body may be the whole object: MD5 it */
	unsigned corrupt_seen;		/* attempts whose body did not match the ETag */
};

struct s3_fault_slot {
	struct s3_fault_rule rule;
	char *prefix;			/* owned copy of rule.key_prefix */
	unsigned seen;			/* matching attempts so far */
	unsigned fired;
};

/* Every implementation's client starts with ops (s3_ops.h): s3_client.c dispatches
 * through it. The other fields are the libcurl implementation's; another one leaves
 * them zero and keeps its own state at impl. */
struct s3_client {
	const struct s3_ops *ops;
	void *impl;			/* state of an implementation other than libcurl's */
	struct s3_config cfg;		/* copied; string fields point into the copies below */
	char *endpoint, *region, *bucket, *ca_file;
	char *scheme_host;		/* "http://127.0.0.1:7480" (path style) */
	char *host_hdr;			/* Host header value */
	char *path_prefix;		/* "/bucket" (path style) or "" */

	pthread_t io_thread;
	CURLM *multi;			/* I/O thread only (curl_multi_wakeup from anywhere) */

	pthread_mutex_t mu;		/* protects the two fields below */
	struct s3_req *queue_head, *queue_tail;	/* submitted, not yet seen by the I/O thread */
	bool closing;

	/* I/O thread only */
	bool io_closing;			/* copy of closing taken each loop */
	struct s3_req *ready_head, *ready_tail;	/* waiting for a transfer slot */
	struct s3_req *timers;			/* sorted by due_ns */
	unsigned active;			/* transfers on the multi handle */
	CURL **easy_pool;
	unsigned n_easy;
	uint64_t rng;

	pthread_mutex_t fault_mu;	/* protects faults and n_faults */
	struct s3_fault_slot *faults;
	size_t n_faults;

	pthread_mutex_t caps_mu;	/* protects caps */
	struct s3_caps caps;
	bool single_deletes;		/* (atomic) s3_client_single_deletes_set */

	uint64_t copy_single_max;	/* CopyObject above this uses UploadPartCopy (5 GiB) */
};

/* ---- requests (s3_io.c) ---- */
struct s3_req *s3_req_new(struct s3_client *c, enum s3_op op, const char *method, const char *key);
void s3_req_free(struct s3_req *r);
int s3_req_header(struct s3_req *r, const char *name, const char *value);
/* Queue r (r->group set). Never fails: a closing client finishes r with S3F_E_S3_CANCELED. */
void s3_io_submit(struct s3_req *r);
/* Submit and wait: the usual synchronous call. Returns r->rc. */
int s3_req_run(struct s3_req *r);

int s3_io_start(struct s3_client *c);
void s3_io_stop(struct s3_client *c);

/* Fault rules of the libcurl implementation (s3_fault_set, s3_fault_fired). */
int s3_curl_fault_set(struct s3_client *c, const struct s3_fault_rule *rules, size_t n);
void s3_curl_fault_fired(struct s3_client *c, unsigned *counts, size_t n);

/* Map a final HTTP status and error code to an err.h code. */
int s3_status_to_rc(int status, const char *code);

/* ---- test hooks ---- */
/* CopyObject of a source above `bytes` goes through UploadPartCopy (default 5 GiB). */
void s3_client_copy_limit_set(struct s3_client *c, uint64_t bytes);

#endif
