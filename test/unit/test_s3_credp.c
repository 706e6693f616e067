/*
 * test_s3_credp.c — credential providers (core/s3/s3_credp.h): the JSON answers of the
 * container endpoint and IMDS, the STS XML answer, the refresh and backoff times, which
 * FULL_URI hosts are allowed, the order of the chain, and — against a small HTTP server in
 * this process speaking the container endpoint's protocol — the authorization token,
 * refreshes that swap credentials under concurrent readers without ever mixing two
 * fetches, and a refresh that fails (old credentials kept until they expire, then
 * S3F_E_S3_CREDS, then recovery); and that a metadata endpoint that never answers costs
 * the chain about 2 s, not a hang.
 */
#include "check.h"
#include "base/err.h"
#include "s3/s3_credp.h"
#include "s3/s3_xml.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const env_names[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
	"AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL_STS",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
};

static void env_clear(void)
{
	for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++)
		unsetenv(env_names[i]);
	/* HOME somewhere without .aws/: the default credentials file is absent */
	setenv("HOME", check_tmpdir(), 1);
}

static void iso(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- parsers ---- */

static void test_json(void)
{
	static const char ok[] =
		"{\"Code\":\"Success\",\"LastUpdated\":\"2026-01-01T00:00:00Z\",\"Type\":"
		"\"AWS-HMAC\",\"AccessKeyId\":\"ASIAEXAMPLE\",\"SecretAccessKey\":\"se/cr+et\","
		"\"Token\":\"tok\\u002Fen\",\"Expiration\":\"2026-12-06T21:00:00Z\"}";
	struct s3_creds cr;
	int64_t exp;
	char err[200];

	CHECK_OK(s3_credp_parse_json(ok, strlen(ok), &cr, &exp, err, sizeof err));
	CHECK_STR_EQ(cr.access_key_id, "ASIAEXAMPLE");
	CHECK_STR_EQ(cr.secret_access_key, "se/cr+et");
	CHECK_STR_EQ(cr.session_token, "tok/en");
	CHECK_INT_EQ(exp, 1796590800);	/* 2026-12-06T21:00:00Z */
	/* the container endpoint's form: no Code; fractional seconds */
	static const char ecs[] = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":"
				  "\"T\",\"Expiration\":\"2026-12-06T21:00:00.123Z\",\"RoleArn\":\"x\"}";
	CHECK_OK(s3_credp_parse_json(ecs, strlen(ecs), &cr, &exp, err, sizeof err));
	CHECK_INT_EQ(exp, 1796590800);
	/* static: no token, no expiration (or null ones) */
	static const char st[] = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":null}";
	CHECK_OK(s3_credp_parse_json(st, strlen(st), &cr, &exp, err, sizeof err));
	CHECK_INT_EQ(exp, 0);
	CHECK_STR_EQ(cr.session_token, "");

	static const char *const bad[] = {
		"",
		"[]",
		"{\"AccessKeyId\":\"A\"}",
		"{\"SecretAccessKey\":\"S\"}",
		"{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"S\"}",
		"{\"AccessKeyId\":1,\"SecretAccessKey\":\"S\"}",
		"{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"AccessKeyId\":\"A\","
		"\"SecretAccessKey\":\"S\"}",
		"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"tomorrow\"}",
		"{\"AccessKeyId\":\"A\\u0000B\",\"SecretAccessKey\":\"S\"}",
		"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"} x",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&cr, 'x', sizeof cr);
		CHECK_MSG(s3_credp_parse_json(bad[i], strlen(bad[i]), &cr, &exp, err,
					      sizeof err) == EBADMSG, "accepted: %s", bad[i]);
		CHECK(cr.access_key_id[0] == '\0' && cr.secret_access_key[0] == '\0');
	}
	/* a token longer than struct s3_creds holds is refused, not cut */
	char *big = malloc(8192);
	CHECK(big);
	int n = snprintf(big, 8192, "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"");
	memset(big + n, 'T', sizeof cr.session_token);
	strcpy(big + n + sizeof cr.session_token, "\"}");
	CHECK_INT_EQ(s3_credp_parse_json(big, strlen(big), &cr, &exp, err, sizeof err), EBADMSG);
	CHECK(strstr(err, "TTTT") == NULL);
	free(big);
	/* messages never carry the values */
	static const char sec[] = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"SECRETVALUE\","
				  "\"Expiration\":\"SECRETVALUE\"}";
	CHECK_INT_EQ(s3_credp_parse_json(sec, strlen(sec), &cr, &exp, err, sizeof err), EBADMSG);
	CHECK(strstr(err, "SECRETVALUE") == NULL);
}

static void test_sts_xml(void)
{
	static const char ok[] =
		"<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
		"  <AssumeRoleWithWebIdentityResult>\n"
		"    <SubjectFromWebIdentityToken>system:serviceaccount:ns:sa</SubjectFromWebIdentityToken>\n"
		"    <Audience>sts.amazonaws.com</Audience>\n"
		"    <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn>"
		"<AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>\n"
		"    <Credentials>\n"
		"      <SessionToken>FQoG&amp;token</SessionToken>\n"
		"      <SecretAccessKey>wJalr/secret</SecretAccessKey>\n"
		"      <Expiration>2026-12-06T21:00:00Z</Expiration>\n"
		"      <AccessKeyId>ASIASTS</AccessKeyId>\n"
		"    </Credentials>\n"
		"    <Provider>www.example.com</Provider>\n"
		"  </AssumeRoleWithWebIdentityResult>\n"
		"  <ResponseMetadata><RequestId>ad4156e9</RequestId></ResponseMetadata>\n"
		"</AssumeRoleWithWebIdentityResponse>\n";
	struct s3_creds cr;
	struct s3_xml_error xe;
	int64_t exp;

	CHECK_OK(s3_xml_parse_sts_creds(ok, strlen(ok), &cr, &exp));
	CHECK_STR_EQ(cr.access_key_id, "ASIASTS");
	CHECK_STR_EQ(cr.secret_access_key, "wJalr/secret");
	CHECK_STR_EQ(cr.session_token, "FQoG&token");
	CHECK_INT_EQ(exp, 1796590800);
	/* credentials elsewhere than Result/Credentials do not count; a missing token fails */
	static const char *const bad[] = {
		"<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
		"<SecretAccessKey>s</SecretAccessKey><Expiration>2026-12-06T21:00:00Z</Expiration>"
		"<AccessKeyId>A</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult>"
		"</AssumeRoleWithWebIdentityResponse>",
		"<AssumeRoleWithWebIdentityResponse><Credentials><SessionToken>t</SessionToken>"
		"<SecretAccessKey>s</SecretAccessKey><Expiration>2026-12-06T21:00:00Z</Expiration>"
		"<AccessKeyId>A</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResponse>",
		"<AssumeRoleResponse><AssumeRoleWithWebIdentityResult><Credentials><SessionToken>t"
		"</SessionToken><SecretAccessKey>s</SecretAccessKey><Expiration>2026-12-06T21:00:00Z"
		"</Expiration><AccessKeyId>A</AccessKeyId></Credentials>"
		"</AssumeRoleWithWebIdentityResult></AssumeRoleResponse>",
		"<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
		"<SessionToken>t</SessionToken><SecretAccessKey>s</SecretAccessKey><Expiration>soon"
		"</Expiration><AccessKeyId>A</AccessKeyId></Credentials>"
		"</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
		"<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_MSG(s3_xml_parse_sts_creds(bad[i], strlen(bad[i]), &cr, &exp) ==
			  S3F_E_S3_PROTO, "accepted #%zu", i);
	static const char er[] =
		"<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
		"<Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>No OpenIDConnect "
		"provider found</Message></Error><RequestId>r1</RequestId></ErrorResponse>";
	CHECK_OK(s3_xml_parse_sts_error(er, strlen(er), &xe));
	CHECK_STR_EQ(xe.code, "InvalidIdentityToken");
	CHECK_STR_EQ(xe.message, "No OpenIDConnect provider found");
	CHECK_STR_EQ(xe.request_id, "r1");
}

static void test_times(void)
{
	/* hourly credentials: 5 minutes before the end */
	CHECK_INT_EQ(s3_credp_refresh_at(1000, 1000 + 3600), 1000 + 3600 - 300);
	CHECK_INT_EQ(s3_credp_refresh_at(1000, 1000 + 6 * 3600), 1000 + 6 * 3600 - 300);
	/* short lifetimes: half-way */
	CHECK_INT_EQ(s3_credp_refresh_at(1000, 1000 + 30), 1015);
	CHECK_INT_EQ(s3_credp_refresh_at(1000, 1000 + 600), 1300);
	CHECK_INT_EQ(s3_credp_refresh_at(1000, 1000 + 2), 1001);
	CHECK_INT_EQ(s3_credp_refresh_at(1000, 1001), 1000);
	/* static: never */
	CHECK(s3_credp_refresh_at(1000, 0) == INT64_MAX);
	/* backoff: 1, 2, 4, ... capped at 30 s */
	CHECK_INT_EQ(s3_credp_backoff(1), 1);
	CHECK_INT_EQ(s3_credp_backoff(2), 2);
	CHECK_INT_EQ(s3_credp_backoff(3), 4);
	CHECK_INT_EQ(s3_credp_backoff(5), 16);
	CHECK_INT_EQ(s3_credp_backoff(6), 30);
	CHECK_INT_EQ(s3_credp_backoff(1000), 30);
}

static void test_full_uri(void)
{
	static const char *const ok[] = {
		"http://127.0.0.1:8080/creds", "http://127.1.2.3/x", "http://localhost/x",
		"http://LOCALHOST:1/", "http://169.254.170.2/v2/credentials/abc",
		"http://169.254.170.23/v1/credentials", "http://[::1]:99/x",
		"http://[fd00:ec2::23]/v1/credentials", "https://creds.example.com/x",
		"HTTPS://10.0.0.1/x",
	};
	static const char *const no[] = {
		"http://10.0.0.1/x", "http://169.254.169.254/latest", "http://example.com/",
		"http://127.0.0.1.evil.com/", "http://user@127.0.0.1/", "http://[::2]/",
		"http://[fd00:ec2::24]/", "ftp://127.0.0.1/", "http:///x", "https://", "",
		"http://0x7f000001/", "http://[::1/",
	};

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		CHECK_MSG(s3_credp_full_uri_ok(ok[i]), "refused %s", ok[i]);
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		CHECK_MSG(!s3_credp_full_uri_ok(no[i]), "allowed %s", no[i]);
}

/* ---- the chain ---- */

static enum s3_credp_kind chain_pick(const struct s3_credp_opts *o, int *rc_out, char *err,
				     size_t errlen)
{
	struct s3_credp *p = NULL;
	struct s3_credp_info in;
	int rc = s3_credp_open(o, &p, err, errlen);

	*rc_out = rc;
	if (rc)
		return S3_CREDP_AUTO;
	s3_credp_info_get(p, &in);
	s3_credp_close(p);
	return in.kind;
}

static void test_chain_order(void)
{
	char tokpath[4200], credpath[4200], err[512];
	struct s3_credp_opts o = { .src = { .use_env = true } };
	struct s3_credp *p;
	struct s3_creds cr;
	int fd, rc;

	env_clear();
	/* nothing anywhere, IMDS off: ENOENT naming what was tried */
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	CHECK_INT_EQ(chain_pick(&o, &rc, err, sizeof err), S3_CREDP_AUTO);
	CHECK_INT_EQ(rc, ENOENT);
	CHECK_MSG(strstr(err, "no credentials") && strstr(err, "instance metadata"), "%s", err);

	/* every source present (temporary ones point at a closed port): each removal in turn
	 * exposes the next one */
	snprintf(tokpath, sizeof tokpath, "%s/token", check_tmpdir());
	snprintf(credpath, sizeof credpath, "%s/credentials", check_tmpdir());
	fd = open(tokpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, "jwt\n", 4) == 4);
	close(fd);
	fd = open(credpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	dprintf(fd, "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = sf\n");
	close(fd);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "se", 1);
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tokpath, 1);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/r", 1);
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", credpath, 1);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds", 1);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1", 1);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	o.src.access_key_id = "AKIDCONF";
	o.src.secret_access_key = "sc";
	CHECK_INT_EQ(chain_pick(&o, &rc, err, sizeof err), S3_CREDP_CONFIG);
	o.src.access_key_id = o.src.secret_access_key = NULL;
	CHECK_INT_EQ(chain_pick(&o, &rc, err, sizeof err), S3_CREDP_ENV);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	/* web identity: chosen although STS does not answer (it retries in the background) */
	CHECK_INT_EQ(chain_pick(&o, &rc, err, sizeof err), S3_CREDP_WEB_IDENTITY);
	CHECK_OK(rc);
	unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
	CHECK_INT_EQ(chain_pick(&o, &rc, err, sizeof err), S3_CREDP_FILE);
	CHECK_OK(s3_credp_open(&o, &p, err, sizeof err));
	CHECK_OK(s3_credp_get(p, &cr));
	CHECK_STR_EQ(cr.access_key_id, "AKIDFILE");
	s3_credp_close(p);
	/* a named file that is unusable stops the chain: no falling through to the network */
	CHECK(chmod(credpath, 0644) == 0);
	CHECK_INT_EQ(chain_pick(&o, &rc, err, sizeof err), S3_CREDP_AUTO);
	CHECK_INT_EQ(rc, EACCES);
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	/* the default file is absent: on to the container endpoint, which does not answer
	 * yet: chosen anyway, no credentials until it does */
	CHECK_OK(s3_credp_open(&o, &p, err, sizeof err));
	struct s3_credp_info in;
	s3_credp_info_get(p, &in);
	CHECK_INT_EQ(in.kind, S3_CREDP_CONTAINER);
	CHECK(!in.valid);
	CHECK_INT_EQ(s3_credp_get(p, &cr), S3F_E_S3_CREDS);
	s3_credp_close(p);
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	/* IMDS reached by the chain must answer at open */
	CHECK_INT_EQ(chain_pick(&o, &rc, err, sizeof err), S3_CREDP_AUTO);
	CHECK_INT_EQ(rc, ENOENT);
	CHECK_MSG(strstr(err, "instance metadata does not answer"), "%s", err);

	/* forcing */
	o.kind = S3_CREDP_CONFIG;
	CHECK_INT_EQ(chain_pick(&o, &rc, err, sizeof err), S3_CREDP_AUTO);
	CHECK_INT_EQ(rc, EINVAL);
	o.kind = S3_CREDP_CONTAINER;
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/creds", 1);
	CHECK_INT_EQ(chain_pick(&o, &rc, err, sizeof err), S3_CREDP_AUTO);
	CHECK_INT_EQ(rc, EINVAL);
	CHECK_MSG(strstr(err, "FULL_URI"), "%s", err);
	/* RELATIVE_URI wins over FULL_URI; forced IMDS off is an error */
	o.kind = S3_CREDP_IMDS;
	setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
	CHECK_INT_EQ(chain_pick(&o, &rc, err, sizeof err), S3_CREDP_AUTO);
	CHECK_INT_EQ(rc, EINVAL);
	/* use_env false hides the environment entirely */
	o.kind = S3_CREDP_AUTO;
	o.src.use_env = false;
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "se", 1);
	o.src.credentials_file = credpath;
	CHECK(chmod(credpath, 0600) == 0);
	CHECK_INT_EQ(chain_pick(&o, &rc, err, sizeof err), S3_CREDP_FILE);

	enum s3_credp_kind k;
	CHECK_OK(s3_credp_kind_parse("Web_Identity", &k));
	CHECK_INT_EQ(k, S3_CREDP_WEB_IDENTITY);
	CHECK_INT_EQ(s3_credp_kind_parse("instance", &k), EINVAL);
	CHECK_STR_EQ(s3_credp_kind_name(S3_CREDP_IMDS), "imds");
	env_clear();
}

/* ---- a container endpoint in this process ---- */

struct srv {
	int fd;
	int port;
	pthread_t th;
	atomic_bool stop;
	atomic_int fetches;		/* answered with credentials */
	atomic_int refused;		/* 401 answers */
	atomic_bool down;		/* answer 500 */
	int lifetime;			/* seconds of each answer's Expiration */
	const char *want_auth;		/* required Authorization value, or NULL */
};

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	while (!atomic_load(&s->stop)) {
		char req[8192], body[512], resp[1024], exp[32], auth[256] = "";
		size_t len = 0;
		ssize_t n;
		int c = accept(s->fd, NULL, NULL);

		if (c < 0)
			continue;
		while (len < sizeof req - 1 && (n = read(c, req + len, sizeof req - 1 - len)) > 0) {
			len += (size_t)n;
			req[len] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[len] = '\0';
		char *a = strcasestr(req, "\r\nAuthorization: ");
		if (a)
			sscanf(a + 17, "%255[^\r]", auth);
		if (atomic_load(&s->down)) {
			snprintf(resp, sizeof resp, "HTTP/1.1 500 Internal Server Error\r\n"
				 "Content-Length: 0\r\nConnection: close\r\n\r\n");
		} else if (s->want_auth && strcmp(auth, s->want_auth) != 0) {
			atomic_fetch_add(&s->refused, 1);
			snprintf(resp, sizeof resp, "HTTP/1.1 401 Unauthorized\r\n"
				 "Content-Length: 0\r\nConnection: close\r\n\r\n");
		} else {
			/* each fetch gives a new triple; all three carry its number */
			int k = atomic_fetch_add(&s->fetches, 1) + 1;

			iso((int64_t)time(NULL) + s->lifetime, exp);
			snprintf(body, sizeof body, "{\"AccessKeyId\":\"AK%d\",\"SecretAccessKey\":"
				 "\"SK%d\",\"Token\":\"TK%d\",\"Expiration\":\"%s\"}", k, k, k, exp);
			snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Type: "
				 "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
				 strlen(body), body);
		}
		if (write(c, resp, strlen(resp)) < 0)
			(void)0;
		close(c);
	}
	return NULL;
}

static void srv_start(struct srv *s, int lifetime, const char *want_auth)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };

	memset(s, 0, sizeof *s);
	s->lifetime = lifetime;
	s->want_auth = want_auth;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(s->fd >= 0);
	CHECK(bind(s->fd, (struct sockaddr *)&a, sizeof a) == 0);
	CHECK(listen(s->fd, 16) == 0);
	CHECK(getsockname(s->fd, (struct sockaddr *)&a, &al) == 0);
	/* accept wakes up now and then to see stop */
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	s->port = ntohs(a.sin_port);
	CHECK(pthread_create(&s->th, NULL, srv_main, s) == 0);
}

static void srv_stop(struct srv *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->th, NULL);
	close(s->fd);
}

static void test_container_auth(void)
{
	char url[128], tokpath[4200], err[512];
	struct s3_credp_opts o = { .src = { .use_env = true }, .kind = S3_CREDP_CONTAINER };
	struct s3_credp *p;
	struct s3_creds cr;
	struct srv s;
	int fd;

	env_clear();
	srv_start(&s, 3600, "Bearer tok-123");
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v2/credentials/x", s.port);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
	/* no token: 401, no credentials (open succeeds; the provider keeps trying) */
	CHECK_OK(s3_credp_open(&o, &p, err, sizeof err));
	CHECK_INT_EQ(s3_credp_get(p, &cr), S3F_E_S3_CREDS);
	CHECK(atomic_load(&s.refused) >= 1);
	s3_credp_close(p);
	/* the token from the environment */
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer tok-123", 1);
	CHECK_OK(s3_credp_open(&o, &p, err, sizeof err));
	CHECK_OK(s3_credp_get(p, &cr));
	CHECK_STR_EQ(cr.access_key_id, "AK1");
	CHECK_STR_EQ(cr.session_token, "TK1");
	s3_credp_close(p);
	/* the token file wins over the value, and is read at each fetch */
	snprintf(tokpath, sizeof tokpath, "%s/auth", check_tmpdir());
	fd = open(tokpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, "wrong\n", 6) == 6);
	close(fd);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokpath, 1);
	int refused = atomic_load(&s.refused);
	CHECK_OK(s3_credp_open(&o, &p, err, sizeof err));
	CHECK_INT_EQ(s3_credp_get(p, &cr), S3F_E_S3_CREDS);
	CHECK_INT_EQ(atomic_load(&s.refused), refused + 1);
	fd = open(tokpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, "Bearer tok-123\n", 15) == 15);
	close(fd);
	/* the retry after 1 s reads the new file */
	for (int i = 0; i < 50 && s3_credp_get(p, &cr) != 0; i++)
		usleep(100000);
	CHECK_OK(s3_credp_get(p, &cr));
	CHECK_STR_EQ(cr.access_key_id, "AK2");
	s3_credp_close(p);
	srv_stop(&s);
	env_clear();
}

struct reader {
	struct s3_credp *p;
	atomic_bool *stop;
	unsigned long reads, distinct;
	int bad;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	char last[128] = "";

	while (!atomic_load(r->stop)) {
		struct s3_creds cr;
		int k;

		if (s3_credp_get(r->p, &cr) != 0) {
			r->bad++;
			continue;
		}
		r->reads++;
		/* the three fields must come from one fetch */
		if (sscanf(cr.access_key_id, "AK%d", &k) != 1 ||
		    strcmp(cr.secret_access_key + 2, cr.access_key_id + 2) != 0 ||
		    strcmp(cr.session_token + 2, cr.access_key_id + 2) != 0)
			r->bad++;
		if (strcmp(last, cr.access_key_id) != 0) {
			r->distinct++;
			strcpy(last, cr.access_key_id);
		}
	}
	return NULL;
}

static void test_refresh_concurrent(void)
{
	char url[128], err[512];
	struct s3_credp_opts o = { .src = { .use_env = true } };
	struct s3_credp *p;
	struct s3_credp_info in;
	struct reader rd[4];
	pthread_t th[4];
	atomic_bool stop = false;
	struct srv s;

	env_clear();
	/* 2 s credentials: refreshed every second */
	srv_start(&s, 2, NULL);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/creds", s.port);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
	CHECK_OK(s3_credp_open(&o, &p, err, sizeof err));
	s3_credp_info_get(p, &in);
	CHECK_INT_EQ(in.kind, S3_CREDP_CONTAINER);
	for (int i = 0; i < 4; i++) {
		rd[i] = (struct reader){ .p = p, .stop = &stop };
		CHECK(pthread_create(&th[i], NULL, reader_main, &rd[i]) == 0);
	}
	sleep(4);
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	s3_credp_info_get(p, &in);
	s3_credp_close(p);
	srv_stop(&s);
	printf("# refresh: %d fetches in 4 s, reader 0: %lu reads, %lu distinct triples\n",
	       atomic_load(&s.fetches), rd[0].reads, rd[0].distinct);
	CHECK_MSG(atomic_load(&s.fetches) >= 3, "%d fetches", atomic_load(&s.fetches));
	CHECK_U64_EQ(in.fetches, (uint64_t)atomic_load(&s.fetches));
	for (int i = 0; i < 4; i++) {
		CHECK_MSG(rd[i].bad == 0, "reader %d: %d mixed or missing triples", i, rd[i].bad);
		CHECK(rd[i].reads > 0 && rd[i].distinct >= 3);
	}
	env_clear();
}

static void test_refresh_failure(void)
{
	char url[128], err[512];
	struct s3_credp_opts o = { .src = { .use_env = true }, .kind = S3_CREDP_CONTAINER };
	struct s3_credp *p;
	struct s3_creds cr;
	struct s3_credp_info in;
	struct srv s;
	time_t t0;

	env_clear();
	srv_start(&s, 4, NULL);
	snprintf(url, sizeof url, "http://localhost:%d/creds", s.port);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
	CHECK_OK(s3_credp_open(&o, &p, err, sizeof err));
	t0 = time(NULL);
	CHECK_OK(s3_credp_get(p, &cr));
	CHECK_STR_EQ(cr.access_key_id, "AK1");
	/* the endpoint fails from now on: AK1 stays in use until it expires (t0 + 4 s) */
	atomic_store(&s.down, true);
	while (time(NULL) < t0 + 3) {
		CHECK_OK(s3_credp_get(p, &cr));
		CHECK_STR_EQ(cr.access_key_id, "AK1");
		usleep(50000);
	}
	while (time(NULL) < t0 + 5)
		usleep(50000);
	CHECK_INT_EQ(s3_credp_get(p, &cr), S3F_E_S3_CREDS);
	s3_credp_info_get(p, &in);
	CHECK(!in.valid && in.failures >= 1);
	/* back: the next retry (backoff at most a few seconds here) brings AK2 */
	atomic_store(&s.down, false);
	for (int i = 0; i < 100 && s3_credp_get(p, &cr) != 0; i++)
		usleep(100000);
	CHECK_OK(s3_credp_get(p, &cr));
	CHECK_STR_EQ(cr.access_key_id, "AK2");
	s3_credp_close(p);
	srv_stop(&s);
	env_clear();
}

/* A metadata endpoint that accepts connections and never answers (what a firewall that
 * drops packets looks like once connected): the chain gives up after IMDS's short
 * timeouts instead of hanging the start. */
static void test_imds_silent(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	struct s3_credp_opts o = { .src = { .use_env = true } };
	struct s3_credp *p = NULL;
	struct timespec t0, t1;
	char url[64], err[512];
	double secs;
	int fd, rc;

	env_clear();
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
	CHECK(listen(fd, 16) == 0);	/* the kernel completes handshakes; nobody reads */
	CHECK(getsockname(fd, (struct sockaddr *)&a, &al) == 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = s3_credp_open(&o, &p, err, sizeof err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(fd);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("# silent IMDS: the chain gave up after %.2f s\n", secs);
	if (rc == 0)
		s3_credp_close(p);
	CHECK_INT_EQ(rc, ENOENT);
	CHECK_MSG(strstr(err, "instance metadata does not answer") && strstr(err, "imeout"),
		  "%s", err);
	CHECK_MSG(secs >= 1.5 && secs < 5.0, "%.2f s", secs);
	env_clear();
}

int main(void)
{
	CHECK_RUN(test_json);
	CHECK_RUN(test_sts_xml);
	CHECK_RUN(test_times);
	CHECK_RUN(test_full_uri);
	CHECK_RUN(test_chain_order);
	CHECK_RUN(test_container_auth);
	CHECK_RUN(test_refresh_concurrent);
	CHECK_RUN(test_refresh_failure);
	CHECK_RUN(test_imds_silent);
	return check_done();
}
