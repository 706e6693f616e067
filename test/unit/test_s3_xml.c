/*
 * test_s3_xml.c — the S3 response parsers: the documents AWS and RGW send (shapes taken
 * from the AWS API reference and from RGW 16 answers), url-decoding of keys, and
 * malformed or hostile inputs, which must give S3F_E_S3_PROTO and never crash or leak.
 */
#include "check.h"
#include "base/err.h"
#include "s3/s3.h"
#include "s3/s3_xml.h"

#define XS(s) (s), strlen(s)

static const char list_aws[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	"<Name>bucket</Name><Prefix>dir%2F</Prefix><KeyCount>5</KeyCount><MaxKeys>1000</MaxKeys>"
	"<Delimiter>%2F</Delimiter><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
	"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
	"<Contents><Key>dir/my+file.txt</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>"
	"<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>"
	"<StorageClass>STANDARD</StorageClass></Contents>"
	"<Contents><Key>dir/a%2Bb%3Dc%25d~e</Key><LastModified>2009-10-12T17:50:31Z</LastModified>"
	"<ETag>\"0123456789abcdef0123456789abcdef-3\"</ETag><Size>0</Size></Contents>"
	"<Contents><Key>dir/%01ctl%09tab%0Anl%0D</Key><Size>18446744073709551615</Size></Contents>"
	"<Contents><Key>dir/caf%C3%A9%20%E1%88%B4</Key><Size>1</Size>"
	"<Owner><ID>x</ID><DisplayName>y</DisplayName></Owner></Contents>"
	"<Contents><Key>dir/a//b/./c/../d/</Key><Size>2</Size></Contents>"
	"<CommonPrefixes><Prefix>dir/sub%20dir/</Prefix></CommonPrefixes>"
	"<CommonPrefixes><Prefix>dir/%2B/</Prefix></CommonPrefixes>"
	"</ListBucketResult>";

static void test_list_aws_url(void)
{
	struct s3_list_page pg;

	CHECK_OK(s3_xml_parse_list(XS(list_aws), &pg));
	int ok = pg.n_entries == 5 && pg.n_prefixes == 2 && pg.truncated &&
		 pg.next_token && strcmp(pg.next_token,
					 "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=") == 0 &&
		 strcmp(pg.entries[0].key, "dir/my file.txt") == 0 &&
		 pg.entries[0].size == 434234 && pg.entries[0].last_modified == 1255369830 &&
		 strcmp(pg.entries[0].etag, "fba9dede5f27731c9771645a39863328") == 0 &&
		 strcmp(pg.entries[1].key, "dir/a+b=c%d~e") == 0 &&
		 strcmp(pg.entries[1].etag, "0123456789abcdef0123456789abcdef-3") == 0 &&
		 pg.entries[1].last_modified == 1255369831 &&
		 strcmp(pg.entries[2].key, "dir/\x01" "ctl\ttab\nnl\r") == 0 &&
		 pg.entries[2].size == UINT64_MAX &&
		 strcmp(pg.entries[3].key, "dir/caf\xc3\xa9 \xe1\x88\xb4") == 0 &&
		 strcmp(pg.entries[4].key, "dir/a//b/./c/../d/") == 0 &&
		 strcmp(pg.prefixes[0], "dir/sub dir/") == 0 && strcmp(pg.prefixes[1], "dir/+/") == 0;
	s3_list_page_free(&pg);
	CHECK(ok);
	CHECK(pg.entries == NULL && pg.n_entries == 0);
}

/* RGW 16 encodes with %20 (never '+'), and puts EncodingType after the contents. */
static void test_list_rgw_url(void)
{
	const char *xml =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult "
		"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix></Prefix>"
		"<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
		"<Contents><Key>a%20b</Key><LastModified>2024-05-01T10:00:00.123Z</LastModified>"
		"<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size>"
		"<StorageClass>STANDARD</StorageClass><Owner><ID>u</ID></Owner>"
		"<Type>Normal</Type></Contents><KeyCount>1</KeyCount>"
		"<EncodingType>url</EncodingType></ListBucketResult>";
	struct s3_list_page pg;

	CHECK_OK(s3_xml_parse_list(XS(xml), &pg));
	int ok = pg.n_entries == 1 && !pg.truncated && pg.next_token == NULL &&
		 strcmp(pg.entries[0].key, "a b") == 0 &&
		 strcmp(pg.entries[0].etag, "d41d8cd98f00b204e9800998ecf8427e") == 0;
	s3_list_page_free(&pg);
	CHECK(ok);
}

/* Without EncodingType the text is taken literally ('+' and '%' stay). */
static void test_list_plain(void)
{
	const char *xml = "<ListBucketResult><IsTruncated>false</IsTruncated>"
			  "<Contents><Key>a+b%20&amp;&lt;</Key><Size>7</Size></Contents>"
			  "</ListBucketResult>";
	struct s3_list_page pg;

	CHECK_OK(s3_xml_parse_list(XS(xml), &pg));
	int ok = pg.n_entries == 1 && strcmp(pg.entries[0].key, "a+b%20&<") == 0 &&
		 pg.entries[0].size == 7;
	s3_list_page_free(&pg);
	CHECK(ok);
}

static void test_list_empty(void)
{
	const char *xml = "<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount>"
			  "<IsTruncated>false</IsTruncated></ListBucketResult>";
	struct s3_list_page pg;

	CHECK_OK(s3_xml_parse_list(XS(xml), &pg));
	CHECK(pg.n_entries == 0 && pg.n_prefixes == 0 && !pg.truncated);
	s3_list_page_free(&pg);
}

static void test_list_malformed(void)
{
	static const char *const bad[] = {
		"",
		"not xml",
		"<ListBucketResult>",					/* unterminated */
		"<ListBucketResult></ListBucketResult>",		/* no IsTruncated */
		"<Error><Code>x</Code></Error>",			/* wrong root */
		"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", /* no token */
		"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Size>1</Size>"
		"</Contents></ListBucketResult>",			/* no Key */
		"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key>"
		"<Size>-1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key>"
		"<Size>18446744073709551616</Size></Contents></ListBucketResult>", /* overflow */
		"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key>"
		"<LastModified>yesterday</LastModified></Contents></ListBucketResult>",
		"<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
		"<Contents><Key>a%zz</Key></Contents></ListBucketResult>",	/* bad escape */
		"<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
		"<Contents><Key>a%00b</Key></Contents></ListBucketResult>",	/* NUL in a key */
		"<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
		"<Contents><Key>a%</Key></Contents></ListBucketResult>",
		"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>&#x0;</Key>"
		"</Contents></ListBucketResult>",		/* NUL: not even carried */
		"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>\x01</Key>"
		"</Contents></ListBucketResult>",
		"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>\xff</Key>"
		"</Contents></ListBucketResult>",		/* not UTF-8 */
		"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><ETag>\"0123456789"
		"0123456789012345678901234567890123456789012345678901234567890123456789012\"</ETag>"
		"<Key>k</Key></Contents></ListBucketResult>",	/* ETag too long */
		"<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;\">]>"
		"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>&b;</Key>"
		"</Contents></ListBucketResult>",		/* entity expansion */
		"<!DOCTYPE x SYSTEM \"file:///etc/passwd\"><ListBucketResult/>",
		"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult><x/>",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct s3_list_page pg;
		int rc = s3_xml_parse_list(XS(bad[i]), &pg);

		CHECK_MSG(rc == S3F_E_S3_PROTO, "input %zu: rc %d", i, rc);
		CHECK(pg.entries == NULL && pg.prefixes == NULL && pg.next_token == NULL);
	}
}

static void test_list_deep_and_big(void)
{
	struct s3_list_page pg;
	char *xml = malloc(3 << 20);
	size_t n = 0;

	CHECK(xml != NULL);
	n += (size_t)sprintf(xml + n, "<ListBucketResult><IsTruncated>false</IsTruncated>");
	for (int i = 0; i < 40; i++)
		n += (size_t)sprintf(xml + n, "<a>");
	for (int i = 0; i < 40; i++)
		n += (size_t)sprintf(xml + n, "</a>");
	n += (size_t)sprintf(xml + n, "</ListBucketResult>");
	int rc = s3_xml_parse_list(xml, n, &pg);
	/* a text node above the 1 MiB limit */
	n = (size_t)sprintf(xml, "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>");
	memset(xml + n, 'k', 2 << 20);
	n += 2 << 20;
	n += (size_t)sprintf(xml + n, "</Key></Contents></ListBucketResult>");
	int rc2 = s3_xml_parse_list(xml, n, &pg);
	/* but many entries are fine */
	n = (size_t)sprintf(xml, "<ListBucketResult><IsTruncated>false</IsTruncated>");
	for (int i = 0; i < 1000; i++)
		n += (size_t)sprintf(xml + n, "<Contents><Key>k%04d</Key><Size>%d</Size></Contents>",
				     i, i);
	n += (size_t)sprintf(xml + n, "</ListBucketResult>");
	int rc3 = s3_xml_parse_list(xml, n, &pg);
	free(xml);
	CHECK_INT_EQ(rc, S3F_E_S3_PROTO);
	CHECK_INT_EQ(rc2, S3F_E_S3_PROTO);
	CHECK_OK(rc3);
	int ok = pg.n_entries == 1000 && strcmp(pg.entries[999].key, "k0999") == 0 &&
		 pg.entries[999].size == 999;
	s3_list_page_free(&pg);
	CHECK(ok);
}

static void test_error(void)
{
	struct s3_xml_error e;
	const char *aws = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
			  "<Message>The resource you requested does not exist</Message>"
			  "<Resource>/mybucket/myfoto.jpg</Resource><RequestId>4442587FB7D0A2F9"
			  "</RequestId></Error>";
	const char *rgw = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
			  "<BucketName>b</BucketName><RequestId>tx0000-rgw</RequestId>"
			  "<HostId>x-default</HostId></Error>";

	CHECK_OK(s3_xml_parse_error(XS(aws), &e));
	CHECK_STR_EQ(e.code, "NoSuchKey");
	CHECK_STR_EQ(e.message, "The resource you requested does not exist");
	CHECK_STR_EQ(e.request_id, "4442587FB7D0A2F9");
	CHECK_OK(s3_xml_parse_error(XS(rgw), &e));
	CHECK_STR_EQ(e.code, "SlowDown");
	CHECK_STR_EQ(e.message, "");
	CHECK_INT_EQ(s3_xml_parse_error(XS("<Error><Message>m</Message></Error>"), &e),
		     S3F_E_S3_PROTO);
	CHECK_INT_EQ(s3_xml_parse_error(XS("<Error><Code>x</Code>"), &e), S3F_E_S3_PROTO);
	CHECK_INT_EQ(s3_xml_parse_error(XS("<NotError><Code>x</Code></NotError>"), &e),
		     S3F_E_S3_PROTO);
	CHECK_INT_EQ(s3_xml_parse_error(XS("<Error><Code>0123456789012345678901234567890123456789"
					   "012345678901234567890123456789</Code></Error>"), &e),
		     S3F_E_S3_PROTO);
	CHECK_INT_EQ(s3_xml_parse_error("", 0, &e), S3F_E_S3_PROTO);
	CHECK_INT_EQ(s3_xml_parse_error(NULL, 0, &e), S3F_E_S3_PROTO);
}

static void test_mpu_init(void)
{
	char id[S3_UPLOAD_ID_MAX];
	char big[600];

	CHECK_OK(s3_xml_parse_mpu_init(XS("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
		"<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Bucket>b</Bucket><Key>a%20b</Key><UploadId>2~pOKPaU1Ju7lMrMQ7sSoAf6f6HfcaaBx"
		"</UploadId></InitiateMultipartUploadResult>"), id));
	CHECK_STR_EQ(id, "2~pOKPaU1Ju7lMrMQ7sSoAf6f6HfcaaBx");
	CHECK_INT_EQ(s3_xml_parse_mpu_init(XS("<InitiateMultipartUploadResult><Bucket>b</Bucket>"
					      "</InitiateMultipartUploadResult>"), id),
		     S3F_E_S3_PROTO);
	CHECK_INT_EQ(s3_xml_parse_mpu_init(XS("<InitiateMultipartUploadResult><UploadId></UploadId>"
					      "</InitiateMultipartUploadResult>"), id),
		     S3F_E_S3_PROTO);
	snprintf(big, sizeof big, "<InitiateMultipartUploadResult><UploadId>%0300d</UploadId>"
		 "</InitiateMultipartUploadResult>", 7);
	CHECK_INT_EQ(s3_xml_parse_mpu_init(XS(big), id), S3F_E_S3_PROTO);
	CHECK_STR_EQ(id, "");
}

static void test_mpu_complete(void)
{
	char etag[S3_ETAG_MAX];

	CHECK_OK(s3_xml_parse_mpu_complete(XS(
		"<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Location>http://b.s3.amazonaws.com/k</Location><Bucket>b</Bucket><Key>k</Key>"
		"<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
		"</CompleteMultipartUploadResult>"), etag));
	CHECK_STR_EQ(etag, "3858f62230ac3c915f300c664312c11f-9");
	/* RGW 16: an empty element */
	CHECK_OK(s3_xml_parse_mpu_complete(XS(
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUploadResult "
		"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Location>l</Location>"
		"<Bucket>b</Bucket><Key>k</Key><ETag/></CompleteMultipartUploadResult>"), etag));
	CHECK_STR_EQ(etag, "");
	CHECK_OK(s3_xml_parse_mpu_complete(XS("<CompleteMultipartUploadResult>"
					      "</CompleteMultipartUploadResult>"), etag));
	CHECK_STR_EQ(etag, "");
	/* a 200 carrying an error is not a result */
	CHECK_INT_EQ(s3_xml_parse_mpu_complete(XS("<Error><Code>InternalError</Code></Error>"), etag),
		     S3F_E_S3_PROTO);
	CHECK_INT_EQ(s3_xml_parse_mpu_complete(XS("<CompleteMultipartUploadResult>"), etag),
		     S3F_E_S3_PROTO);
}

static void test_copy(void)
{
	char etag[S3_ETAG_MAX];
	int64_t lm = -1;

	CHECK_OK(s3_xml_parse_copy(XS("<CopyObjectResult><LastModified>2009-10-28T22:32:00.000Z"
				      "</LastModified><ETag>\"9b2cf535f27731c974343645a3985328\""
				      "</ETag></CopyObjectResult>"), etag, &lm));
	CHECK_STR_EQ(etag, "9b2cf535f27731c974343645a3985328");
	CHECK_INT_EQ(lm, 1256769120);
	CHECK_OK(s3_xml_parse_copy(XS("<CopyPartResult><ETag>&quot;ab&quot;</ETag>"
				      "</CopyPartResult>"), etag, &lm));
	CHECK_STR_EQ(etag, "ab");
	CHECK_INT_EQ(lm, 0);
	CHECK_INT_EQ(s3_xml_parse_copy(XS("<Error><Code>SlowDown</Code></Error>"), etag, &lm),
		     S3F_E_S3_PROTO);
	CHECK_INT_EQ(s3_xml_parse_copy(XS("<CopyObjectResult><LastModified>x</LastModified>"
					  "</CopyObjectResult>"), etag, &lm), S3F_E_S3_PROTO);
}

static void test_delete_result(void)
{
	struct s3_xml_delete_item *it = NULL;
	size_t n = 0;
	const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
			  "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			  "<Deleted><Key>sample1.txt</Key></Deleted>"
			  "<Error><Key>sample2.txt</Key><Code>AccessDenied</Code>"
			  "<Message>Access Denied</Message></Error>"
			  "<Deleted><Key>tab\there&amp;</Key><DeleteMarker>true</DeleteMarker>"
			  "<DeleteMarkerVersionId>v</DeleteMarkerVersionId></Deleted>"
			  "</DeleteResult>";

	CHECK_OK(s3_xml_parse_delete(XS(xml), &it, &n));
	int ok = n == 3 && it[0].deleted && strcmp(it[0].key, "sample1.txt") == 0 &&
		 !it[1].deleted && strcmp(it[1].key, "sample2.txt") == 0 &&
		 strcmp(it[1].code, "AccessDenied") == 0 && it[2].deleted &&
		 strcmp(it[2].key, "tab\there&") == 0;
	s3_xml_delete_free(it, n);
	CHECK(ok);
	CHECK_OK(s3_xml_parse_delete(XS("<DeleteResult/>"), &it, &n));
	CHECK(n == 0);
	s3_xml_delete_free(it, n);
	CHECK_INT_EQ(s3_xml_parse_delete(XS("<DeleteResult><Deleted></Deleted></DeleteResult>"),
					 &it, &n), S3F_E_S3_PROTO);
	CHECK_INT_EQ(s3_xml_parse_delete(XS("<DeleteResult><Error><Key>k</Key></Error>"
					    "</DeleteResult>"), &it, &n), S3F_E_S3_PROTO);
	CHECK(it == NULL && n == 0);
}

static void test_uploads(void)
{
	struct s3_xml_uploads u;
	const char *xml =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListMultipartUploadsResult "
		"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket>"
		"<KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>"
		"<NextKeyMarker>p/k%202</NextKeyMarker><NextUploadIdMarker>id2</NextUploadIdMarker>"
		"<EncodingType>url</EncodingType><MaxUploads>2</MaxUploads>"
		"<IsTruncated>true</IsTruncated>"
		"<Upload><Key>p/k%201</Key><UploadId>id1</UploadId><Initiator><ID>x</ID></Initiator>"
		"<StorageClass>STANDARD</StorageClass><Initiated>2010-11-10T20:48:33.000Z</Initiated>"
		"</Upload><Upload><Key>p/k%202</Key><UploadId>id2</UploadId>"
		"<Initiated>2010-11-10T20:49:33.000Z</Initiated></Upload>"
		"</ListMultipartUploadsResult>";

	CHECK_OK(s3_xml_parse_uploads(XS(xml), false, &u));
	int ok = u.n == 2 && u.truncated && strcmp(u.uploads[0].key, "p/k 1") == 0 &&
		 strcmp(u.uploads[0].upload_id, "id1") == 0 && u.uploads[0].initiated == 1289422113 &&
		 strcmp(u.uploads[1].key, "p/k 2") == 0 && strcmp(u.next_key_marker, "p/k%202") == 0 &&
		 strcmp(u.next_upload_id_marker, "id2") == 0;
	s3_xml_uploads_free(&u);
	CHECK(ok);
	CHECK_OK(s3_xml_parse_uploads(XS("<ListMultipartUploadsResult><IsTruncated>false"
					 "</IsTruncated></ListMultipartUploadsResult>"), false, &u));
	CHECK(u.n == 0 && !u.truncated);
	s3_xml_uploads_free(&u);
	CHECK_INT_EQ(s3_xml_parse_uploads(XS("<ListMultipartUploadsResult><IsTruncated>false"
					     "</IsTruncated><Upload><Key>k</Key></Upload>"
					     "</ListMultipartUploadsResult>"), false, &u), S3F_E_S3_PROTO);
	CHECK_INT_EQ(s3_xml_parse_uploads(XS("<ListMultipartUploadsResult><IsTruncated>true"
					     "</IsTruncated></ListMultipartUploadsResult>"), false, &u),
		     S3F_E_S3_PROTO);
	CHECK(u.uploads == NULL && u.next_key_marker == NULL);
}

/* RGW 16 encodes Upload/Key when asked but does not say so; its NextKeyMarker is raw. */
static void test_uploads_rgw(void)
{
	struct s3_xml_uploads u;
	const char *xml =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListMultipartUploadsResult "
		"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket>"
		"<Prefix>dl/</Prefix><NextKeyMarker>dl/p+q/1</NextKeyMarker><NextUploadIdMarker>"
		"2~za0q</NextUploadIdMarker><MaxUploads>1000</MaxUploads><IsTruncated>false"
		"</IsTruncated><Upload><Key>dl/p%2Bq/1%20x</Key><UploadId>2~za0q</UploadId>"
		"<Initiated>2026-11-22T05:25:14.102Z</Initiated></Upload>"
		"</ListMultipartUploadsResult>";

	CHECK_OK(s3_xml_parse_uploads(XS(xml), true, &u));
	int ok = u.n == 1 && strcmp(u.uploads[0].key, "dl/p+q/1 x") == 0 &&
		 strcmp(u.next_key_marker, "dl/p+q/1") == 0;
	s3_xml_uploads_free(&u);
	CHECK(ok);
	/* not requested, not declared: taken literally */
	CHECK_OK(s3_xml_parse_uploads(XS(xml), false, &u));
	ok = u.n == 1 && strcmp(u.uploads[0].key, "dl/p%2Bq/1%20x") == 0;
	s3_xml_uploads_free(&u);
	CHECK(ok);
}

/* RGW 16 writes a 0x01 byte in unencoded fields as "&#x01;", which XML 1.0 forbids. */
static void test_list_forbidden_refs(void)
{
	const char *xml =
		"<ListBucketResult><EncodingType>url</EncodingType><Prefix>dl/c&#x01;</Prefix>"
		"<IsTruncated>true</IsTruncated><Contents><Key>dl%2Fc%01%2F1</Key><Size>1</Size>"
		"</Contents><NextContinuationToken>dl/c&#x01;/1&#1;&#x1f;&amp;#x01;</NextContinuationToken>"
		"</ListBucketResult>";
	/* the same, with raw U+E001 and a reference to U+E002 in the document: another
	 * private-use block must be chosen so that those survive unchanged */
	const char *xml2 =
		"<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>pua\xee\x80\x81"
		"&#xE002;</Key><Size>1</Size></Contents><NextContinuationToken>t&#x01;\xee\x80\x81"
		"</NextContinuationToken></ListBucketResult>";
	struct s3_list_page pg;

	CHECK_OK(s3_xml_parse_list(XS(xml), &pg));
	int ok = pg.n_entries == 1 && strcmp(pg.entries[0].key, "dl/c\x01/1") == 0 &&
		 strcmp(pg.next_token, "dl/c\x01/1\x01\x1f&#x01;") == 0;
	s3_list_page_free(&pg);
	CHECK(ok);
	CHECK_OK(s3_xml_parse_list(XS(xml2), &pg));
	ok = pg.n_entries == 1 && strcmp(pg.entries[0].key, "pua\xee\x80\x81\xee\x80\x82") == 0 &&
	     strcmp(pg.next_token, "t\x01\xee\x80\x81") == 0;
	s3_list_page_free(&pg);
	CHECK(ok);
	/* NUL cannot be carried; a bad reference stays an error */
	CHECK_INT_EQ(s3_xml_parse_list(XS("<ListBucketResult><IsTruncated>true</IsTruncated>"
					  "<NextContinuationToken>a&#x0;</NextContinuationToken>"
					  "</ListBucketResult>"), &pg), S3F_E_S3_PROTO);
	CHECK_INT_EQ(s3_xml_parse_list(XS("<ListBucketResult><IsTruncated>true</IsTruncated>"
					  "<NextContinuationToken>a&#x01</NextContinuationToken>"
					  "</ListBucketResult>"), &pg), S3F_E_S3_PROTO);
	CHECK_INT_EQ(s3_xml_parse_list(XS("<ListBucketResult><IsTruncated>true</IsTruncated>"
					  "<NextContinuationToken>a&#xFFFE;</NextContinuationToken>"
					  "</ListBucketResult>"), &pg), S3F_E_S3_PROTO);
}

/* Every prefix of a valid document is rejected cleanly (truncated bodies). */
static void test_truncations(void)
{
	size_t len = strlen(list_aws);

	for (size_t i = 0; i < len; i++) {
		struct s3_list_page pg;
		int rc = s3_xml_parse_list(list_aws, i, &pg);

		CHECK_MSG(rc == S3F_E_S3_PROTO, "prefix %zu: rc %d", i, rc);
	}
}

int main(void)
{
	CHECK_RUN(test_list_aws_url);
	CHECK_RUN(test_list_rgw_url);
	CHECK_RUN(test_list_plain);
	CHECK_RUN(test_list_empty);
	CHECK_RUN(test_list_malformed);
	CHECK_RUN(test_list_deep_and_big);
	CHECK_RUN(test_error);
	CHECK_RUN(test_mpu_init);
	CHECK_RUN(test_mpu_complete);
	CHECK_RUN(test_copy);
	CHECK_RUN(test_delete_result);
	CHECK_RUN(test_uploads);
	CHECK_RUN(test_uploads_rgw);
	CHECK_RUN(test_list_forbidden_refs);
	CHECK_RUN(test_truncations);
	return check_done();
}
