#!/usr/bin/env python3
"""credsrv.py — a local stand-in for the AWS credential endpoints that cannot exist on
this machine, speaking their documented protocols, for test/integration/credp.sh:

  container  GET <any path>: the ECS/EKS container credential endpoint. With --auth, the
             Authorization header must equal it (else 401).
  imds       EC2 instance metadata, IMDSv2: PUT /latest/api/token (needs
             X-aws-ec2-metadata-token-ttl-seconds) gives a session token; GETs of
             /latest/meta-data/iam/security-credentials/ (the role) and .../ROLE need it
             in X-aws-ec2-metadata-token (else 401).
  sts        POST / Action=AssumeRoleWithWebIdentity (form body): the WebIdentityToken must
             equal the current content of --jwt-file (read at every request, so a test can
             rotate it) and RoleArn --role-arn; answers the STS XML document, or an
             ErrorResponse (403).

Credentials served: --key/--secret (the test RGW's real ones), --token if given, and an
Expiration --lifetime seconds after each request. Control and observation go through
files in --dir: while DIR/down exists every request gets 500; every credential answer
appends a line "<kind> <pid-of-nothing> <time>" to DIR/fetches; IMDS session tokens
handed out are counted in DIR/tokens; refused requests in DIR/refused. The port
is written to DIR/port once listening (127.0.0.1, port chosen by the kernel).
"""
import argparse
import http.server
import json
import os
import secrets
import sys
import time
import urllib.parse


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["container", "imds", "sts"], required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--token", default="")
    ap.add_argument("--lifetime", type=int, default=3600)
    ap.add_argument("--auth", default=None)
    ap.add_argument("--jwt-file", default=None)
    ap.add_argument("--role-arn", default=None)
    a = ap.parse_args()
    imds_tokens = set()
    role = "s3files-test-role"

    def note(name, line):
        with open(os.path.join(a.dir, name), "a") as f:
            f.write(line + "\n")

    def creds():
        now = time.time()
        note("fetches", "%s %d" % (a.mode, int(now)))
        return now + a.lifetime

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            sys.stderr.write("credsrv %s: %s\n" % (a.mode, fmt % args))

        def answer(self, status, body, ctype="text/plain"):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def refuse(self, status, why):
            note("refused", "%d %s" % (status, why))
            self.answer(status, why)

        def down(self):
            if os.path.exists(os.path.join(a.dir, "down")):
                self.answer(500, "down")
                return True
            return False

        def json_creds(self):
            exp = creds()
            d = {"AccessKeyId": a.key, "SecretAccessKey": a.secret,
                 "Expiration": iso(exp)}
            if a.token:
                d["Token"] = a.token
            if a.mode == "imds":
                d.update({"Code": "Success", "Type": "AWS-HMAC",
                          "LastUpdated": iso(time.time())})
            self.answer(200, json.dumps(d), "application/json")

        def do_GET(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            if self.down():
                return
            if a.mode == "container":
                if a.auth is not None and self.headers.get("Authorization") != a.auth:
                    return self.refuse(401, "bad or missing Authorization")
                return self.json_creds()
            if a.mode != "imds":
                return self.refuse(405, "method")
            if self.headers.get("X-aws-ec2-metadata-token") not in imds_tokens:
                return self.refuse(401, "no IMDSv2 session token")
            base = "/latest/meta-data/iam/security-credentials/"
            if self.path == base:
                return self.answer(200, role + "\n")
            if self.path == base + role:
                return self.json_creds()
            return self.refuse(404, "not found")

        def do_PUT(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            if self.down():
                return
            if a.mode != "imds" or self.path != "/latest/api/token":
                return self.refuse(404, "not found")
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return self.refuse(400, "bad ttl")
            t = secrets.token_urlsafe(40)
            imds_tokens.add(t)
            note("tokens", t[:6])
            self.answer(200, t)

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode() if n else ""
            if self.down():
                return
            if a.mode != "sts":
                return self.refuse(405, "method")
            q = urllib.parse.parse_qs(body)
            want = open(a.jwt_file).read().strip()
            ok = (q.get("Action") == ["AssumeRoleWithWebIdentity"] and
                  q.get("Version") == ["2011-06-15"] and
                  q.get("RoleArn") == [a.role_arn] and
                  len(q.get("RoleSessionName", [""])[0]) >= 2 and
                  q.get("WebIdentityToken") == [want])
            if not ok:
                note("refused", "403 sts")
                return self.answer(403, (
                    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                    "<Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
                    "<Message>The web identity token is not the current one</Message>"
                    "</Error><RequestId>r-1</RequestId></ErrorResponse>"), "text/xml")
            exp = creds()
            self.answer(200, (
                '<AssumeRoleWithWebIdentityResponse '
                'xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                "<AssumeRoleWithWebIdentityResult>"
                "<SubjectFromWebIdentityToken>test</SubjectFromWebIdentityToken>"
                "<Credentials><SessionToken>%s</SessionToken>"
                "<SecretAccessKey>%s</SecretAccessKey><Expiration>%s</Expiration>"
                "<AccessKeyId>%s</AccessKeyId></Credentials>"
                "</AssumeRoleWithWebIdentityResult>"
                "<ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata>"
                "</AssumeRoleWithWebIdentityResponse>") %
                (a.token or "none", a.secret, iso(exp), a.key), "text/xml")

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    tmp = os.path.join(a.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, os.path.join(a.dir, "port"))
    srv.serve_forever()


if __name__ == "__main__":
    main()
