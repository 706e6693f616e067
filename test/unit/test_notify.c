/* test_notify.c — the pure parts of S3 event notifications: the bounded JSON reader
 * (core/base/json.c), the event record parser (core/s3/s3_event.c) and the HTTP request head
 * parser of the daemon's endpoints (core/base/http_req.c). The daemon side (queue, re-lists,
 * the socket server) is covered by test/integration/notify.sh against the real RGW. */
#include "check.h"

#include "base/err.h"
#include "base/http_req.h"
#include "base/json.h"
#include "s3/s3_event.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

/* ---------------------------------------------------------------- JSON */

static int jparse(const char *s, struct json_doc *d)
{
	return json_parse(s, strlen(s), 32, 4096, d);
}

static void test_json_values(void)
{
	const char *s = " {\"a\": [1, -2.5e3, true, false, null, \"x\"], \"b\": {\"c\": \"d\"},"
			"\"\\u0062\": 2, \"e\": {}, \"f\": []} ";
	struct json_doc d;
	size_t a, b, c, e, k;
	char buf[16];
	uint64_t v;

	CHECK_OK(jparse(s, &d));
	CHECK_INT_EQ(d.tok[0].type, JSON_OBJECT);
	CHECK_INT_EQ(d.tok[0].count, 5);
	a = json_obj_get(&d, 0, "a");
	CHECK(a != 0);
	CHECK_INT_EQ(d.tok[a].type, JSON_ARRAY);
	CHECK_INT_EQ(d.tok[a].count, 6);
	k = json_arr_first(&d, a);
	CHECK_OK(json_u64_get(&d, k, &v));
	CHECK_U64_EQ(v, 1);
	k = json_arr_next(&d, a, k);
	CHECK_INT_EQ(d.tok[k].type, JSON_NUMBER);
	CHECK_INT_EQ(json_u64_get(&d, k, &v), EINVAL);	/* negative, fraction */
	k = json_arr_next(&d, a, k);
	CHECK_INT_EQ(d.tok[k].type, JSON_TRUE);
	k = json_arr_next(&d, a, k);
	CHECK_INT_EQ(d.tok[k].type, JSON_FALSE);
	k = json_arr_next(&d, a, k);
	CHECK_INT_EQ(d.tok[k].type, JSON_NULL);
	k = json_arr_next(&d, a, k);
	CHECK(json_str_eq(&d, k, "x"));
	CHECK_INT_EQ(json_arr_next(&d, a, k), 0);
	b = json_obj_get(&d, 0, "b");
	c = json_obj_get(&d, b, "c");
	CHECK_OK(json_str_get(&d, c, buf, sizeof buf, NULL));
	CHECK_STR_EQ(buf, "d");
	/* the key "\u0062" is "b" too; the first member of that name wins */
	CHECK_INT_EQ(json_obj_get(&d, 0, "b"), b);
	e = json_obj_get(&d, 0, "e");
	CHECK_INT_EQ(d.tok[e].type, JSON_OBJECT);
	CHECK_INT_EQ(json_obj_get(&d, e, "x"), 0);
	CHECK_INT_EQ(json_arr_first(&d, json_obj_get(&d, 0, "f")), 0);
	CHECK_INT_EQ(json_obj_get(&d, 0, "missing"), 0);
	CHECK_INT_EQ(json_obj_get(&d, a, "a"), 0);	/* not an object */
	json_doc_free(&d);
}

static void test_json_strings(void)
{
	const char *s = "[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u00e9\\u20ac\\ud83d\\ude00\","
			" \"x\\u0000y\", \"caf\xc3\xa9\"]";
	struct json_doc d;
	char buf[64];
	size_t len, k;

	CHECK_OK(jparse(s, &d));
	k = json_arr_first(&d, 0);
	CHECK_OK(json_str_get(&d, k, buf, sizeof buf, &len));
	CHECK_STR_EQ(buf, "a\"b\\c/d\b\f\n\r\t");
	k = json_arr_next(&d, 0, k);
	CHECK_OK(json_str_get(&d, k, buf, sizeof buf, &len));
	CHECK_STR_EQ(buf, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");	/* é € 😀 */
	CHECK_OK(json_str_len(&d, k, &len));
	CHECK_INT_EQ(len, 9);
	k = json_arr_next(&d, 0, k);
	CHECK_OK(json_str_get(&d, k, buf, sizeof buf, &len));
	CHECK_INT_EQ(len, 3);
	CHECK_MEM_EQ(buf, "x\0y", 3);
	CHECK(!json_str_eq(&d, k, "x"));
	k = json_arr_next(&d, 0, k);
	CHECK(json_str_eq(&d, k, "caf\xc3\xa9"));
	CHECK(!json_str_eq(&d, k, "caf"));
	CHECK(!json_str_eq(&d, k, "caf\xc3\xa9!"));
	/* too small a buffer: ENOSPC, never a cut string */
	CHECK_INT_EQ(json_str_get(&d, k, buf, 5, &len), ENOSPC);
	CHECK_STR_EQ(buf, "");
	CHECK_OK(json_str_get(&d, k, buf, 6, &len));
	CHECK_INT_EQ(json_str_get(&d, 0, buf, sizeof buf, &len), EINVAL);	/* an array */
	json_doc_free(&d);
}

static void test_json_numbers(void)
{
	struct json_doc d;
	uint64_t v = 7;

	CHECK_OK(jparse("18446744073709551615", &d));
	CHECK_OK(json_u64_get(&d, 0, &v));
	CHECK_U64_EQ(v, UINT64_MAX);
	json_doc_free(&d);
	CHECK_OK(jparse("18446744073709551616", &d));
	CHECK_INT_EQ(json_u64_get(&d, 0, &v), ERANGE);
	json_doc_free(&d);
	CHECK_OK(jparse("0", &d));
	CHECK_OK(json_u64_get(&d, 0, &v));
	CHECK_U64_EQ(v, 0);
	json_doc_free(&d);
	CHECK_OK(jparse("1e3", &d));
	CHECK_INT_EQ(json_u64_get(&d, 0, &v), EINVAL);
	json_doc_free(&d);
	CHECK_OK(jparse("\"12\"", &d));
	CHECK_INT_EQ(json_u64_get(&d, 0, &v), EINVAL);
	json_doc_free(&d);
}

static void test_json_malformed(void)
{
	static const char *const bad[] = {
		"", " ", "{", "}", "[", "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{\"a\" 1}",
		"{\"a\":1 \"b\":2}", "{a:1}", "{'a':1}", "{\"a\"}", "{1:2}", "01", "-01", "1.",
		".5", "-", "+1", "1e", "1e+", "0x10", "tru", "nul", "True", "NaN", "\"abc",
		"\"a\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\"", "\"\\udc00\"",
		"\"\\ud800\\u0041\"", "\"\\ud800x\"", "\"tab\there\"", "\"nl\nx\"", "[1] 2",
		"{} {}", "\"\\", "[\"a\",", "{\"a\":}", "[1,,2]", "nulll", "[true false]",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct json_doc d;
		int rc = jparse(bad[i], &d);

		CHECK_MSG(rc == EBADMSG, "input %zu '%s': rc %d, want EBADMSG", i, bad[i], rc);
		CHECK(d.tok == NULL && d.n == 0);
	}
	/* a NUL byte inside the text is not JSON whitespace */
	struct json_doc d;

	CHECK_INT_EQ(json_parse("[1]\0", 4, 32, 64, &d), EBADMSG);
	CHECK_INT_EQ(json_parse("\"a\0b\"", 5, 32, 64, &d), EBADMSG);
}

static void test_json_limits(void)
{
	char deep[200];
	struct json_doc d;
	size_t n = 0;

	for (int i = 0; i < 32; i++)
		deep[n++] = '[';
	for (int i = 0; i < 32; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	CHECK_OK(json_parse(deep, n, 32, 4096, &d));
	CHECK_INT_EQ(d.n, 32);
	json_doc_free(&d);
	CHECK_INT_EQ(json_parse(deep, n, 31, 4096, &d), E2BIG);
	CHECK(d.tok == NULL);
	CHECK_OK(json_parse("[1,2,3]", 7, 32, 4, &d));
	json_doc_free(&d);
	CHECK_INT_EQ(json_parse("[1,2,3]", 7, 32, 3, &d), E2BIG);
	CHECK_INT_EQ(json_parse("1", 1, 32, 0, &d), E2BIG);
	/* depth before syntax: a deep prefix of garbage is refused as too deep */
	memset(deep, '{', 100);
	CHECK_INT_EQ(json_parse(deep, 100, 32, 4096, &d), EBADMSG);	/* '{' needs a key */
	memset(deep, '[', 100);
	CHECK_INT_EQ(json_parse(deep, 100, 32, 4096, &d), E2BIG);
}

/* ---------------------------------------------------------------- S3 event records */

/* What RGW 16 POSTs to an HTTP-endpoint topic (captured from the test cluster): the key
 * is NOT percent-encoded, eTag is camel-case. */
static const char rgw_body[] =
	"{\"Records\":[{\"eventVersion\":\"2.2\",\"eventSource\":\"ceph:s3\",\"awsRegion\":\"\","
	"\"eventTime\":\"2026-11-22T08:07:46.735693Z\",\"eventName\":\"ObjectCreated:Put\","
	"\"userIdentity\":{\"principalId\":\"s3files\"},\"requestParameters\":"
	"{\"sourceIPAddress\":\"\"},\"responseElements\":{\"x-amz-request-id\":\"df62.4102.89\","
	"\"x-amz-id-2\":\"1006-default-default\"},\"s3\":{\"s3SchemaVersion\":\"1.0\","
	"\"configurationId\":\"n1\",\"bucket\":{\"name\":\"s3files-test\",\"ownerIdentity\":"
	"{\"principalId\":\"s3files\"},\"arn\":\"arn:aws:s3:::s3files-test\",\"id\":\"df.4105.1\"},"
	"\"object\":{\"key\":\"probe/a b+c%d \xc3\xa9.txt\",\"size\":6,"
	"\"eTag\":\"b1946ac92492d2347c6235b4d2611184\",\"versionId\":\"\",\"sequencer\":"
	"\"D2A2026BBF72572C\",\"metadata\":[{\"key\":\"x-amz-content-sha256\",\"val\":"
	"\"UNSIGNED-PAYLOAD\"}],\"tags\":[]}},\"eventId\":\"1795334866.743928.b19\","
	"\"opaqueData\":\"\"}]}";

/* AWS's record format (docs.aws.amazon.com, "Event message structure"): the key is
 * URL-encoded with '+' for space. */
#define AWS_RECORD(name, key, extra) \
	"{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"awsRegion\":\"us-west-2\"," \
	"\"eventTime\":\"1970-01-01T00:00:00.000Z\",\"eventName\":\"" name "\"," \
	"\"s3\":{\"s3SchemaVersion\":\"1.0\",\"configurationId\":\"cfg\"," \
	"\"bucket\":{\"name\":\"photos\",\"arn\":\"arn:aws:s3:::photos\"}," \
	"\"object\":{\"key\":\"" key "\"" extra ",\"sequencer\":\"0A1B2C3D4E5F678901\"}}}"

static void test_event_rgw(void)
{
	struct s3_event_batch b;
	char why[128];

	CHECK_OK(s3_event_parse(rgw_body, sizeof rgw_body - 1, &b, why, sizeof why));
	CHECK_INT_EQ(b.what, S3_EVENT_BODY_RECORDS);
	CHECK(!b.sns);
	CHECK_INT_EQ(b.n, 1);
	CHECK_INT_EQ(b.rec[0].kind, S3_EVENT_CREATED);
	CHECK_STR_EQ(b.rec[0].name, "ObjectCreated:Put");
	CHECK_STR_EQ(b.rec[0].bucket, "s3files-test");
	/* raw: '+' and '%' are the key's own characters */
	CHECK_STR_EQ(b.rec[0].key, "probe/a b+c%d \xc3\xa9.txt");
	CHECK_INT_EQ(b.rec[0].key_len, strlen("probe/a b+c%d \xc3\xa9.txt"));
	CHECK(b.rec[0].has_size);
	CHECK_U64_EQ(b.rec[0].size, 6);
	CHECK_STR_EQ(b.rec[0].etag, "b1946ac92492d2347c6235b4d2611184");
	CHECK(s3_event_matches(&b.rec[0], "s3files-test", "probe/"));
	CHECK(s3_event_matches(&b.rec[0], "s3files-test", ""));
	CHECK(!s3_event_matches(&b.rec[0], "s3files-test", "probe/a/"));
	CHECK(!s3_event_matches(&b.rec[0], "other", ""));
	s3_event_batch_free(&b);
}

static void test_event_aws_keys(void)
{
	const char *body = "{\"Records\":["
		AWS_RECORD("ObjectCreated:Put", "dir/a+b%2Bc%20d%C3%A9%25.txt",
			   ",\"size\":1024,\"eTag\":\"\\\"0123456789abcdef0123456789abcdef\\\"\"") ","
		AWS_RECORD("ObjectRemoved:Delete", "dir/%E6%97%A5%E6%9C%AC+x", "") ","
		AWS_RECORD("s3:ObjectRemoved:DeleteMarkerCreated", "k", "") ","
		AWS_RECORD("ObjectTagging:Put", "k", ",\"size\":3") ","
		AWS_RECORD("LifecycleExpiration:Delete", "old", "") ","
		AWS_RECORD("ObjectCreated:CompleteMultipartUpload", "big",
			   ",\"size\":5368709120,\"etag\":\"abc-3\"") "]}";
	struct s3_event_batch b;
	char why[128];

	CHECK_OK(s3_event_parse(body, strlen(body), &b, why, sizeof why));
	CHECK_INT_EQ(b.n, 6);
	CHECK_STR_EQ(b.rec[0].key, "dir/a b+c d\xc3\xa9%.txt");
	CHECK_U64_EQ(b.rec[0].size, 1024);
	CHECK_STR_EQ(b.rec[0].etag, "0123456789abcdef0123456789abcdef");	/* unquoted */
	CHECK_INT_EQ(b.rec[1].kind, S3_EVENT_REMOVED);
	CHECK_STR_EQ(b.rec[1].key, "dir/\xe6\x97\xa5\xe6\x9c\xac x");
	CHECK(!b.rec[1].has_size);
	CHECK_STR_EQ(b.rec[1].etag, "");
	CHECK_INT_EQ(b.rec[2].kind, S3_EVENT_REMOVED);
	CHECK_STR_EQ(b.rec[2].name, "ObjectRemoved:DeleteMarkerCreated");
	CHECK_INT_EQ(b.rec[3].kind, S3_EVENT_OTHER);	/* kept, for the caller to ignore */
	CHECK_INT_EQ(b.rec[4].kind, S3_EVENT_REMOVED);
	CHECK_INT_EQ(b.rec[5].kind, S3_EVENT_CREATED);
	CHECK_U64_EQ(b.rec[5].size, 5368709120ull);
	CHECK_STR_EQ(b.rec[5].etag, "abc-3");
	/* keys outside the export's prefix; a prefix matches whole components only because
	 * prefixes end with '/' */
	CHECK(s3_event_matches(&b.rec[0], "photos", "dir/"));
	CHECK(!s3_event_matches(&b.rec[0], "photos", "di/"));
	CHECK(!s3_event_matches(&b.rec[0], "photos", "dir/a b/"));
	CHECK(!s3_event_matches(&b.rec[2], "photos", "k/"));	/* "k" is not under "k/" */
	CHECK(!s3_event_matches(&b.rec[0], "photos2", "dir/"));
	s3_event_batch_free(&b);

	/* a NUL byte from %00 is kept, with the length */
	const char *nul = "{\"Records\":[" AWS_RECORD("ObjectCreated:Put", "a%00b", "") "]}";

	CHECK_OK(s3_event_parse(nul, strlen(nul), &b, why, sizeof why));
	CHECK_INT_EQ(b.rec[0].key_len, 3);
	CHECK_MEM_EQ(b.rec[0].key, "a\0b", 3);
	s3_event_batch_free(&b);
}

static void test_event_sns(void)
{
	const char *body =
		"{\"Type\":\"Notification\",\"MessageId\":\"22b80b92\",\"TopicArn\":"
		"\"arn:aws:sns:us-west-2:123456789012:MyTopic\",\"Subject\":\"Amazon S3 "
		"Notification\",\"Message\":\"{\\\"Records\\\":[{\\\"eventSource\\\":\\\"aws:s3\\\","
		"\\\"eventName\\\":\\\"ObjectCreated:Copy\\\",\\\"s3\\\":{\\\"bucket\\\":{\\\"name\\\":"
		"\\\"photos\\\"},\\\"object\\\":{\\\"key\\\":\\\"2024%2Fa+%2B.jpg\\\",\\\"size\\\":7,"
		"\\\"eTag\\\":\\\"e1\\\"}}}]}\",\"Timestamp\":\"2012-04-25T21:49:25.719Z\","
		"\"SignatureVersion\":\"1\",\"Signature\":\"EXAMPLE\",\"SigningCertURL\":"
		"\"https://sns.us-west-2.amazonaws.com/x.pem\",\"UnsubscribeURL\":\"https://u\"}";
	const char *sub =
		"{\"Type\":\"SubscriptionConfirmation\",\"MessageId\":\"165545c9\",\"Token\":\"2336\","
		"\"TopicArn\":\"arn:aws:sns:us-west-2:123456789012:MyTopic\",\"Message\":\"You have "
		"chosen to subscribe\",\"SubscribeURL\":\"https://sns.us-west-2.amazonaws.com/?Action="
		"ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336\","
		"\"Timestamp\":\"2012-04-26T20:45:04.751Z\"}";
	const char *unsub = "{\"Type\":\"UnsubscribeConfirmation\",\"TopicArn\":\"t\"}";
	const char *test = "{\"Type\":\"Notification\",\"Message\":\"{\\\"Service\\\":\\\"Amazon S3\\\","
			   "\\\"Event\\\":\\\"s3:TestEvent\\\",\\\"Bucket\\\":\\\"photos\\\"}\"}";
	struct s3_event_batch b;
	char why[128];

	CHECK_OK(s3_event_parse(body, strlen(body), &b, why, sizeof why));
	CHECK(b.sns);
	CHECK_INT_EQ(b.what, S3_EVENT_BODY_RECORDS);
	CHECK_STR_EQ(b.topic_arn, "arn:aws:sns:us-west-2:123456789012:MyTopic");
	CHECK_INT_EQ(b.n, 1);
	CHECK_INT_EQ(b.rec[0].kind, S3_EVENT_CREATED);
	CHECK_STR_EQ(b.rec[0].key, "2024/a +.jpg");
	CHECK_STR_EQ(b.rec[0].etag, "e1");
	s3_event_batch_free(&b);

	CHECK_OK(s3_event_parse(sub, strlen(sub), &b, why, sizeof why));
	CHECK_INT_EQ(b.what, S3_EVENT_BODY_SUBSCRIBE);
	CHECK_INT_EQ(b.n, 0);
	CHECK_STR_EQ(b.subscribe_url, "https://sns.us-west-2.amazonaws.com/?Action="
		     "ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&"
		     "Token=2336");
	s3_event_batch_free(&b);

	CHECK_OK(s3_event_parse(unsub, strlen(unsub), &b, why, sizeof why));
	CHECK_INT_EQ(b.what, S3_EVENT_BODY_UNSUBSCRIBE);
	s3_event_batch_free(&b);

	CHECK_OK(s3_event_parse(test, strlen(test), &b, why, sizeof why));
	CHECK_INT_EQ(b.what, S3_EVENT_BODY_TEST);
	CHECK_INT_EQ(b.n, 0);
	s3_event_batch_free(&b);
}

static void expect_refused(const char *body, size_t len, int want, const char *why_has)
{
	struct s3_event_batch b;
	char why[160] = "";
	int rc = s3_event_parse(body, len, &b, why, sizeof why);

	CHECK_MSG(rc == want, "'%.60s': rc %d, want %d (%s)", body, rc, want, why);
	CHECK_MSG(strstr(why, why_has) != NULL, "'%.60s': why '%s' lacks '%s'", body, why,
		  why_has);
	CHECK(b.rec == NULL && b.n == 0);
}

#define REFUSED(body, want, why) expect_refused(body, strlen(body), want, why)

static void test_event_malformed(void)
{
	REFUSED("", EBADMSG, "not valid JSON");
	REFUSED("{\"Records\":[}", EBADMSG, "not valid JSON");
	REFUSED("[]", EBADMSG, "not a JSON object");
	REFUSED("{}", EBADMSG, "no Records");
	REFUSED("{\"Records\":{}}", EBADMSG, "not an array");
	REFUSED("{\"Records\":[1]}", EBADMSG, "record 0 is not an object");
	REFUSED("{\"Records\":[{\"s3\":{}}]}", EBADMSG, "no eventName");
	REFUSED("{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"object\":"
		"{\"key\":\"k\"}}}]}", EBADMSG, "s3.bucket.name");
	REFUSED("{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":"
		"{\"name\":\"b\"},\"object\":{}}}]}", EBADMSG, "no s3.object.key");
	REFUSED("{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":"
		"{\"name\":\"b\"},\"object\":{\"key\":7}}}]}", EBADMSG, "no s3.object.key");
	REFUSED("{\"Records\":[" AWS_RECORD("ObjectCreated:Put", "a%zz", "") "]}", EBADMSG,
		"%-escape");
	REFUSED("{\"Records\":[" AWS_RECORD("ObjectCreated:Put", "a%4", "") "]}", EBADMSG,
		"%-escape");
	REFUSED("{\"Records\":[" AWS_RECORD("ObjectCreated:Put", "a", ",\"size\":\"12\"") "]}",
		EBADMSG, "s3.object.size");
	REFUSED("{\"Records\":[" AWS_RECORD("ObjectCreated:Put", "a", ",\"size\":-1") "]}",
		EBADMSG, "s3.object.size");
	/* the second record is bad: the whole body is refused, nothing leaks */
	REFUSED("{\"Records\":[" AWS_RECORD("ObjectCreated:Put", "a", "") ",{}]}", EBADMSG,
		"record 1");
	REFUSED("{\"Type\":\"Notification\"}", EBADMSG, "without a Message");
	REFUSED("{\"Type\":\"Notification\",\"Message\":{}}", EBADMSG, "without a Message");
	REFUSED("{\"Type\":\"Notification\",\"Message\":\"not json\"}", EBADMSG, "not valid JSON");
	REFUSED("{\"Type\":\"Notification\",\"Message\":\"{\\\"Type\\\":\\\"Notification\\\","
		"\\\"Message\\\":\\\"{}\\\"}\"}", EBADMSG, "another envelope");
	REFUSED("{\"Type\":\"Bogus\"}", EBADMSG, "unknown SNS message Type");
	REFUSED("{\"Event\":\"s3:Other\"}", EBADMSG, "no Records");
}

static void test_event_limits(void)
{
	size_t big = S3_EVENT_BODY_MAX + 1, n = 0;
	char *s = malloc(big + 64);
	struct s3_event_batch b;
	char why[160];

	CHECK(s != NULL);
	memset(s, ' ', big);
	memcpy(s, "{\"Records\":[]}", 14);
	expect_refused(s, big, EMSGSIZE, "body over");
	CHECK_OK(s3_event_parse(s, big - 1, &b, why, sizeof why));	/* at the limit: fine */
	CHECK_INT_EQ(b.n, 0);
	s3_event_batch_free(&b);

	/* nesting beyond S3_EVENT_DEPTH_MAX inside a record */
	n = (size_t)sprintf(s, "{\"Records\":[{\"eventName\":\"x\",\"opaqueData\":");
	for (int i = 0; i < S3_EVENT_DEPTH_MAX; i++)
		s[n++] = '[';
	for (int i = 0; i < S3_EVENT_DEPTH_MAX; i++)
		s[n++] = ']';
	n += (size_t)sprintf(s + n, "}]}");
	expect_refused(s, n, EMSGSIZE, "nested deeper");

	/* more records than S3_EVENT_RECORDS_MAX */
	n = (size_t)sprintf(s, "{\"Records\":[");
	for (int i = 0; i <= S3_EVENT_RECORDS_MAX; i++)
		n += (size_t)sprintf(s + n, "%s{}", i ? "," : "");
	n += (size_t)sprintf(s + n, "]}");
	expect_refused(s, n, EMSGSIZE, "more than");

	/* an over-long key is kept as an event to ignore, not a malformed body */
	n = (size_t)sprintf(s, "{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":"
			    "{\"name\":\"b\"},\"object\":{\"key\":\"");
	memset(s + n, 'k', 5000);
	n += 5000;
	n += (size_t)sprintf(s + n, "\"}}}]}");
	CHECK_OK(s3_event_parse(s, n, &b, why, sizeof why));
	CHECK_INT_EQ(b.n, 1);
	CHECK_INT_EQ(b.rec[0].kind, S3_EVENT_OTHER);
	CHECK_INT_EQ(b.rec[0].key_len, 0);
	s3_event_batch_free(&b);
	free(s);
}

static void test_event_key_decode(void)
{
	char out[16];
	size_t n = 99;

	CHECK_OK(s3_event_key_decode("a+b%2B%2fc", 10, out, sizeof out, &n));
	CHECK_STR_EQ(out, "a b+/c");
	CHECK_INT_EQ(n, 6);
	CHECK_OK(s3_event_key_decode("", 0, out, sizeof out, &n));
	CHECK_INT_EQ(n, 0);
	CHECK_INT_EQ(s3_event_key_decode("%", 1, out, sizeof out, &n), EINVAL);
	CHECK_INT_EQ(s3_event_key_decode("%4", 2, out, sizeof out, &n), EINVAL);
	CHECK_INT_EQ(s3_event_key_decode("%g1", 3, out, sizeof out, &n), EINVAL);
	CHECK_INT_EQ(s3_event_key_decode("abcdef", 6, out, 6, &n), ENAMETOOLONG);
	CHECK_OK(s3_event_key_decode("abcdef", 6, out, 7, &n));
	CHECK_INT_EQ(s3_event_kind_of("ObjectCreated:Post"), S3_EVENT_CREATED);
	CHECK_INT_EQ(s3_event_kind_of("s3:ObjectCreated:Put"), S3_EVENT_CREATED);
	CHECK_INT_EQ(s3_event_kind_of("ObjectRemoved:Delete"), S3_EVENT_REMOVED);
	CHECK_INT_EQ(s3_event_kind_of("ObjectLifecycle:Expiration:Current"), S3_EVENT_REMOVED);
	CHECK_INT_EQ(s3_event_kind_of("ObjectSynced:Create"), S3_EVENT_CREATED);
	CHECK_INT_EQ(s3_event_kind_of("ObjectRestore:Completed"), S3_EVENT_OTHER);
	CHECK_INT_EQ(s3_event_kind_of("ObjectCreated"), S3_EVENT_OTHER);
	CHECK_INT_EQ(s3_event_kind_of(""), S3_EVENT_OTHER);
}

/* ---------------------------------------------------------------- HTTP request heads */

static int hparse(const char *s, struct http_req *r)
{
	return http_req_parse(s, strlen(s), r);
}

static void test_http_basic(void)
{
	const char *get = "GET /metrics?name%5B%5D=x HTTP/1.1\r\nHost: 127.0.0.1:9100\r\n"
			  "User-Agent: Prometheus/2.45\r\nAccept: text/plain\r\n\r\n";
	const char *post = "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
			   "Content-Length: 5\r\n\r\n{\"a\"}GET /next";
	struct http_req r;

	CHECK_OK(hparse(get, &r));
	CHECK_STR_EQ(r.method, "GET");
	CHECK_STR_EQ(r.path, "/metrics");
	CHECK_INT_EQ(r.minor, 1);
	CHECK(r.keep_alive);
	CHECK(!r.has_length);
	CHECK_U64_EQ(r.content_length, 0);
	CHECK_INT_EQ(r.head_len, strlen(get));

	CHECK_OK(hparse(post, &r));
	CHECK_STR_EQ(r.method, "POST");
	CHECK_STR_EQ(r.path, "/");
	CHECK(r.has_length);
	CHECK_U64_EQ(r.content_length, 5);
	CHECK_MEM_EQ(post + r.head_len, "{\"a\"}", 5);

	/* every proper prefix is incomplete */
	for (size_t n = 0; n < strlen(get); n++)
		CHECK_MSG(http_req_parse(get, n, &r) == EAGAIN, "prefix of %zu bytes", n);

	/* HTTP/1.0: close unless asked; 1.1: keep-alive unless asked */
	CHECK_OK(hparse("GET /health HTTP/1.0\r\n\r\n", &r));
	CHECK_INT_EQ(r.minor, 0);
	CHECK(!r.keep_alive);
	CHECK_OK(hparse("GET /health HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r));
	CHECK(r.keep_alive);
	CHECK_OK(hparse("GET /health HTTP/1.1\r\nConnection: foo, close\r\n\r\n", &r));
	CHECK(!r.keep_alive);
	/* bare LF, empty lines before the request line, repeated equal lengths */
	CHECK_OK(hparse("\r\n\nPOST /x HTTP/1.1\nContent-Length: 2\ncontent-length:2\n\nab", &r));
	CHECK_U64_EQ(r.content_length, 2);
	CHECK_STR_EQ(r.path, "/x");
	CHECK_OK(hparse("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
			&r));
	CHECK(r.expect_continue);
	CHECK_OK(hparse("OPTIONS * HTTP/1.1\r\n\r\n", &r));
	CHECK_STR_EQ(r.path, "*");
	CHECK_STR_EQ(http_status_text(411), "Length Required");
	CHECK_STR_EQ(http_status_text(299), "");
}

static void expect_status(const char *head, int status)
{
	struct http_req r;
	int rc = hparse(head, &r);

	CHECK_MSG(rc == EPROTO && r.status == status, "'%.50s': rc %d status %d, want %d",
		  head, rc, r.status, status);
}

static void test_http_refused(void)
{
	char *big;
	size_t n;

	expect_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411);
	expect_status("POST / HTTP/1.1\r\n\r\n", 411);
	expect_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		      400);
	expect_status("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400);
	expect_status("POST / HTTP/1.1\r\nContent-Length: 5a\r\n\r\n", 400);
	expect_status("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
	expect_status("POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", 400);
	expect_status("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nno colon\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\n: empty name\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n", 400);
	expect_status("GET /\r\n\r\n", 400);
	expect_status("GET  / HTTP/1.1\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1 \r\n\r\n", 400);
	expect_status("GET http://h/ HTTP/1.1\r\n\r\n", 400);
	expect_status("GET /a\x7f HTTP/1.1\r\n\r\n", 400);
	expect_status("GET / HTTP/2.0\r\n\r\n", 505);
	expect_status("GET / HTTP/1.2\r\n\r\n", 505);
	expect_status("GET / FTP/1.1\r\n\r\n", 400);
	expect_status("BREW / HTTP/1.1\r\n\r\n", 501);
	expect_status("get / HTTP/1.1\r\n\r\n", 501);
	expect_status("VERYLONGMETHODNAME / HTTP/1.1\r\n\r\n", 501);

	big = malloc(HTTP_REQ_HEAD_MAX * 2);
	CHECK(big != NULL);
	/* target over HTTP_REQ_PATH_MAX */
	n = (size_t)sprintf(big, "GET /");
	memset(big + n, 'a', HTTP_REQ_PATH_MAX);
	n += HTTP_REQ_PATH_MAX;
	sprintf(big + n, " HTTP/1.1\r\n\r\n");
	expect_status(big, 414);
	/* a head that never ends within the limit: 431 once the limit is reached */
	n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nX: ");
	memset(big + n, 'x', HTTP_REQ_HEAD_MAX);
	struct http_req r;

	CHECK_INT_EQ(http_req_parse(big, HTTP_REQ_HEAD_MAX - 1, &r), EAGAIN);
	CHECK_INT_EQ(http_req_parse(big, HTTP_REQ_HEAD_MAX, &r), EPROTO);
	CHECK_INT_EQ(r.status, 431);
	/* too many header lines */
	n = (size_t)sprintf(big, "GET / HTTP/1.1\r\n");
	for (int i = 0; i <= HTTP_REQ_HEADERS_MAX; i++)
		n += (size_t)sprintf(big + n, "X%d: y\r\n", i);
	sprintf(big + n, "\r\n");
	expect_status(big, 431);
	free(big);
}

int main(void)
{
	CHECK_RUN(test_json_values);
	CHECK_RUN(test_json_strings);
	CHECK_RUN(test_json_numbers);
	CHECK_RUN(test_json_malformed);
	CHECK_RUN(test_json_limits);
	CHECK_RUN(test_event_rgw);
	CHECK_RUN(test_event_aws_keys);
	CHECK_RUN(test_event_sns);
	CHECK_RUN(test_event_malformed);
	CHECK_RUN(test_event_limits);
	CHECK_RUN(test_event_key_decode);
	CHECK_RUN(test_http_basic);
	CHECK_RUN(test_http_refused);
	return check_done();
}
