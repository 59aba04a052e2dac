"""moto in server mode, plus exact per-operation call counts.

Runs moto's own WSGI application (what `moto_server` runs) behind a small
middleware that:

* counts every AWS call by (access key id, operation), where the operation is
  the X-Amz-Target suffix (JSON protocol, e.g. ``BatchGetSecretValue``) or the
  ``Action`` query parameter (query protocol);
* maps access key ids of the form ``KSEAL<12 digits>...`` to the AWS account
  with those digits, so a test that uses its own key id gets its own moto
  account (its own secrets) and its own counts;
* serves ``GET /_kseal/calls`` (JSON: ``{access_key_id: {operation: n}}``),
  ``GET /_kseal/calls?key=ID`` (``{operation: n}``) and ``POST
  /_kseal/calls/reset``;
* records the parameters of every STS ``AssumeRole`` and
  ``AssumeRoleWithWebIdentity`` call (moto itself ignores session tags and
  keeps no token): ``GET /_kseal/sts`` answers a JSON list of ``{"action",
  "role_arn", "session_name", "external_id", "tags": {key: value},
  "transitive_tag_keys": [...], "audiences": [...]}`` in call order, where
  ``audiences`` is the ``aud`` claim of the web identity token;
* serves ``POST /_kseal/iam/user`` (JSON body ``{"user": NAME, "policy":
  DOCUMENT}``): creates that IAM user in moto's default account with the
  policy inline and an access key, switches moto's IAM access control on for
  every later request (moto's ``INITIAL_NO_AUTH_ACTION_COUNT``; for the rest of
  this process), and answers ``{"AccessKeyId", "SecretAccessKey"}``. Only a
  private moto (a test's own environment) may be switched;
* answers moto's access-control refusals of JSON-protocol calls as AWS does
  (HTTP 400, ``{"__type": "AccessDeniedException", "Message": ...}``): moto
  writes them as the query protocol's XML, which an SDK cannot read for a JSON
  service;
* answers moto's access-control refusals of query-protocol calls (STS) as AWS
  does: moto wraps the error in ``<Errors>``, which AWS's ``ErrorResponse``
  does not have and the Rust SDK does not read.

Usage: python moto_server.py --port PORT [--port-file FILE] [--host ADDRESS]   (port 0: any free)
"""

import argparse
import base64
import io
import json
import os
import re
import signal
import sys
import threading
from collections import defaultdict
from urllib.parse import parse_qs

from werkzeug.serving import make_server

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
ACCOUNT_KEY = re.compile(r"^KSEAL(\d{12})")


class CountingMiddleware:
    """Counts calls per access key id and operation before moto handles them."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.counts = defaultdict(lambda: defaultdict(int))
        self.sts = []

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_kseal/"):
            return self.control(environ, start_response, path)
        key = self.access_key(environ)
        form = self.form(environ)
        operation = self.operation(environ) or (form.get("Action") or [None])[0]
        if operation in ("AssumeRole", "AssumeRoleWithWebIdentity"):
            with self.lock:
                self.sts.append(self.sts_call(operation, form))
        if operation:
            with self.lock:
                self.counts[key][operation] += 1
        account = ACCOUNT_KEY.match(key)
        if account and "HTTP_X_MOTO_ACCOUNT_ID" not in environ:
            environ["HTTP_X_MOTO_ACCOUNT_ID"] = account.group(1)
        if "HTTP_X_AMZ_TARGET" not in environ:
            if form:
                return self.query_refusals(environ, start_response)
            return self.app(environ, start_response)
        return self.json_refusals(environ, start_response)

    def answer(self, environ):
        """moto's answer to one request: (status, headers, body)."""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        return captured["status"], captured["headers"], body

    def query_refusals(self, environ, start_response):
        status, headers, body = self.answer(environ)
        if status.startswith("403") and b"<ErrorResponse><Errors><Error>" in body:
            body = body.replace(b"<ErrorResponse><Errors><Error>", b"<ErrorResponse><Error>")
            body = body.replace(b"</Error></Errors></ErrorResponse>", b"</Error></ErrorResponse>")
            headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "content-type")]
            headers += [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))]
        start_response(status, headers)
        return [body]

    def json_refusals(self, environ, start_response):
        status, headers, body = self.answer(environ)
        if status.startswith("403") and b"<ErrorResponse>" in body:
            text = body.decode("utf-8", "replace")
            code = re.search(r"<Code>([^<]*)</Code>", text)
            message = re.search(r"<Message>([^<]*)</Message>", text)
            code = code.group(1) if code else "AccessDenied"
            if code == "AccessDenied":
                code = "AccessDeniedException"
            error = {"__type": code, "Message": message.group(1) if message else ""}
            data = json.dumps(error).encode()
            start_response("400 Bad Request", [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("Content-Length", str(len(data))),
                ("x-amzn-ErrorType", code),
            ])
            return [data]
        start_response(status, headers)
        return [body]

    @staticmethod
    def form(environ):
        """The form-encoded body of a query-protocol call (put back for moto)."""
        if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            return {}
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)

    @staticmethod
    def sts_call(operation, form):
        one = lambda name: (form.get(name) or [None])[0]
        members = lambda prefix: sorted(
            (int(k[len(prefix):].split(".")[0]), k) for k in form if k.startswith(prefix)
        )
        tags = {}
        for index, _ in members("Tags.member."):
            key = one(f"Tags.member.{index}.Key")
            if key is not None:
                tags[key] = one(f"Tags.member.{index}.Value") or ""
        transitive = [one(k) for _, k in members("TransitiveTagKeys.member.")]
        audiences = []
        token = one("WebIdentityToken")
        if token and token.count(".") == 2:
            payload = token.split(".")[1]
            try:
                claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
                aud = claims.get("aud", [])
                audiences = aud if isinstance(aud, list) else [aud]
            except ValueError:
                audiences = []
        return {
            "action": operation,
            "role_arn": one("RoleArn"),
            "session_name": one("RoleSessionName"),
            "external_id": one("ExternalId"),
            "tags": tags,
            "transitive_tag_keys": sorted(set(transitive)),
            "audiences": audiences,
        }

    @staticmethod
    def access_key(environ):
        match = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        return match.group(1) if match else ""

    @staticmethod
    def operation(environ):
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return target.rsplit(".", 1)[-1]
        action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
        return action[0] if action else None

    def control(self, environ, start_response, path):
        method = environ.get("REQUEST_METHOD")
        if path == "/_kseal/calls" and method == "GET":
            key = parse_qs(environ.get("QUERY_STRING", "")).get("key")
            with self.lock:
                if key:
                    body = dict(self.counts.get(key[0], {}))
                else:
                    body = {k: dict(v) for k, v in self.counts.items()}
            return self.reply(start_response, "200 OK", body)
        if path == "/_kseal/sts" and method == "GET":
            with self.lock:
                body = list(self.sts)
            return self.reply(start_response, "200 OK", body)
        if path == "/_kseal/calls/reset" and method == "POST":
            with self.lock:
                self.counts.clear()
            return self.reply(start_response, "200 OK", {})
        if path == "/_kseal/iam/user" and method == "POST":
            return self.iam_user(environ, start_response)
        if path == "/_kseal/health":
            return self.reply(start_response, "200 OK", {"ok": True})
        return self.reply(start_response, "404 Not Found", {"error": "unknown"})

    def iam_user(self, environ, start_response):
        from moto import settings
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.iam.models import iam_backends

        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}")
        iam = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
        iam.create_user("us-east-1", request["user"])
        iam.put_user_policy(request["user"], "policy", json.dumps(request["policy"]))
        key = iam.create_access_key(request["user"])
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0
        body = {"AccessKeyId": key.access_key_id, "SecretAccessKey": key.secret_access_key}
        return self.reply(start_response, "200 OK", body)

    @staticmethod
    def reply(start_response, status, body):
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        args.host,
        args.port,
        CountingMiddleware(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    os.environ["MOTO_PORT"] = str(server.port)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{server.port}\n")
        os.replace(tmp, args.port_file)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
