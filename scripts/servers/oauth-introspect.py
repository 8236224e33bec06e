#!/usr/bin/env python3
"""A tiny OAuth 2.0 token-introspection endpoint (RFC 7662) for Dovecot's oauth2 passdb in
the test servers (scripts/servers/start). Listens on 127.0.0.1:PORT only.

Usage: oauth-introspect.py PORT LOG

Tokens (fixed, test data): `alice-oauth-token` is active for user `alice`,
`bob-oauth-token` for `bob`; every other token (`alice-oauth-expired`, ...) is inactive.
The token comes as `token=` in a POST form (introspection_mode = post), in the query string
(get) or as `Authorization: Bearer` (auth).
"""
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACTIVE = {"alice-oauth-token": "alice", "bob-oauth-token": "bob"}
LOG = open(sys.argv[2], "a", buffering=1)


class Handler(BaseHTTPRequestHandler):
    def token(self, body):
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        query = urllib.parse.urlsplit(self.path).query
        for source in (body, query):
            found = urllib.parse.parse_qs(source).get("token")
            if found:
                return found[0]
        return ""

    def answer(self, body=""):
        token = self.token(body)
        user = ACTIVE.get(token)
        reply = {"active": True, "username": user, "scope": "mail"} if user else {"active": False}
        # The log shows whether a token was active, never the token itself.
        LOG.write(f"{self.command} {urllib.parse.urlsplit(self.path).path} -> {reply}\n")
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.answer()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.answer(self.rfile.read(n).decode("utf-8", "replace"))

    def log_message(self, fmt, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
