"""aiosmtpd listeners for the interop matrix (started by scripts/servers/interop/start).

Usage: python3 aiosmtpd_server.py STATE_DIR CERT KEY SMTP STARTTLS SMTPS LMTP SIZE_LIMIT

Four listeners on 127.0.0.1 (ports given), one process:
  SMTP      plain, STARTTLS offered (optional), AUTH only after STARTTLS
  STARTTLS  STARTTLS required (530 before it), then AUTH
  SMTPS     implicit TLS, AUTH
  LMTP      LMTP (aiosmtpd.lmtp.LMTP): one reply per recipient after the data
AUTH: PLAIN and LOGIN (aiosmtpd's own), CRAM-MD5, SCRAM-SHA-256, XOAUTH2 and OAUTHBEARER
(this file's handler methods: aiosmtpd 1.4 has none of them). Users: alice/alice-password,
bob/bob-password; OAuth tokens as in ../oauth-introspect.py (alice-oauth-token is active for
alice, every other token is refused with the mechanism's JSON error challenge, then 535).
Recipients: alice@ and bob@test.example are
accepted, nobody@test.example is refused at RCPT with 550 5.1.1, anything else outside
test.example with 554 5.7.1 (no relaying). LMTP only: quota@test.example is accepted at
RCPT and refused after the data with 552 5.2.2 when the message is over 1 KiB.

The record: every accepted message is written, exactly as received after dot-unstuffing
(envelope.original_content: CRLF line ends, nothing prepended), to
STATE_DIR/store/<local part>/new/<unique> (a maildir-like folder), and its envelope to
<unique>.env beside it (MAIL FROM, RCPT TO lines and their parameters).
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import signal
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword

STATE, CERT, KEY = sys.argv[1], sys.argv[2], sys.argv[3]
P_SMTP, P_STARTTLS, P_SMTPS, P_LMTP = (int(p) for p in sys.argv[4:8])
LIMIT = int(sys.argv[8])
DOMAIN = "test.example"
USERS = {b"alice": b"alice-password", b"bob": b"bob-password"}
# The same test tokens as ../oauth-introspect.py.
TOKENS = {b"alice-oauth-token": b"alice", b"bob-oauth-token": b"bob"}
LOCAL = {"alice", "bob"}
counter = 0
lock = threading.Lock()


def store(user, envelope):
    global counter
    with lock:
        counter += 1
        n = counter
    d = os.path.join(STATE, "store", user, "new")
    os.makedirs(d, exist_ok=True)
    name = f"{time.time():.6f}.{os.getpid()}.{n}"
    tmp = os.path.join(STATE, "store", user, name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(envelope.original_content)
    with open(os.path.join(d, name + ".env"), "w") as f:
        f.write(f"MAIL FROM:<{envelope.mail_from}> {' '.join(envelope.mail_options)}\n")
        for r, o in zip(envelope.rcpt_tos, envelope.rcpt_options):
            f.write(f"RCPT TO:<{r}> {' '.join(o)}\n")
    os.rename(tmp, os.path.join(d, name))


def split(addr):
    local, _, domain = addr.rpartition("@")
    return local.lower(), domain.lower()


class Handler:
    def __init__(self, lmtp=False):
        self.lmtp = lmtp

    # ------------------------------------------------------------ AUTH mechanisms
    # aiosmtpd calls handler methods named auth_<MECH> ("__" for "-") with the server and
    # the AUTH arguments; an AuthResult with handled=False makes it send 235 or 535.

    async def auth_CRAM__MD5(self, server, args):
        if len(args) > 1:
            return AuthResult(success=False, handled=False)
        challenge = f"<{os.urandom(8).hex()}@aiosmtpd.test.example>".encode()
        resp = await server.challenge_auth(challenge)
        if resp is MISSING:
            return AuthResult(success=False, handled=True)
        user, _, digest = resp.partition(b" ")
        pw = USERS.get(user)
        ok = pw is not None and hmac.compare_digest(
            hmac.new(pw, challenge, "md5").hexdigest().encode(), digest)
        return AuthResult(success=ok, handled=False)

    async def auth_SCRAM__SHA__256(self, server, args):
        first = base64.b64decode(args[1]) if len(args) > 1 else await server.challenge_auth(b"")
        if first is MISSING:
            return AuthResult(success=False, handled=True)
        if not first.startswith(b"n,,"):
            return AuthResult(success=False, handled=False)
        bare = first[3:]
        attrs = dict(a.split(b"=", 1) for a in bare.split(b",") if b"=" in a)
        user, cnonce = attrs.get(b"n"), attrs.get(b"r")
        pw = USERS.get(user or b"")
        if cnonce is None:
            return AuthResult(success=False, handled=False)
        salt, iters = os.urandom(16), 4096
        nonce = cnonce + base64.b64encode(os.urandom(12))
        server_first = b"r=" + nonce + b",s=" + base64.b64encode(salt) + b",i=" + str(iters).encode()
        final = await server.challenge_auth(server_first)
        if final is MISSING:
            return AuthResult(success=False, handled=True)
        without_proof, _, proof = final.rpartition(b",p=")
        fattrs = dict(a.split(b"=", 1) for a in without_proof.split(b",") if b"=" in a)
        if pw is None or fattrs.get(b"c") != b"biws" or fattrs.get(b"r") != nonce:
            return AuthResult(success=False, handled=False)
        salted = hashlib.pbkdf2_hmac("sha256", pw, salt, iters)
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored_key = hashlib.sha256(client_key).digest()
        auth_message = bare + b"," + server_first + b"," + without_proof
        signature = hmac.new(stored_key, auth_message, "sha256").digest()
        expected = bytes(a ^ b for a, b in zip(client_key, signature))
        try:
            ok = hmac.compare_digest(base64.b64decode(proof, validate=True), expected)
        except ValueError:
            ok = False
        if not ok:
            return AuthResult(success=False, handled=False)
        server_key = hmac.new(salted, b"Server Key", "sha256").digest()
        verifier = b"v=" + base64.b64encode(hmac.new(server_key, auth_message, "sha256").digest())
        # The server's signature as the last 334 (as Dovecot sends it); the client answers
        # it with an empty line.
        if await server.challenge_auth(verifier) is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=True, handled=False)

    async def _oauth(self, server, args, parse, error):
        data = base64.b64decode(args[1]) if len(args) > 1 else await server.challenge_auth(b"")
        if data is MISSING:
            return AuthResult(success=False, handled=True)
        user, token = parse(data)
        if user is not None and TOKENS.get(token) == user:
            return AuthResult(success=True, handled=False)
        # The JSON error challenge (RFC 7628 3.2.2); the client's dummy reply, then 535.
        if await server.challenge_auth(json.dumps(error).encode()) is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False)

    async def auth_XOAUTH2(self, server, args):
        def parse(data):
            kv = dict(p.split(b"=", 1) for p in data.split(b"\x01") if b"=" in p)
            auth = kv.get(b"auth", b"")
            return kv.get(b"user"), auth[7:] if auth[:7].lower() == b"bearer " else None
        return await self._oauth(server, args, parse,
                                 {"status": "401", "schemes": "bearer", "scope": "mail"})

    async def auth_OAUTHBEARER(self, server, args):
        def parse(data):
            gs2, _, rest = data.partition(b"\x01")
            user = next((a[2:] for a in gs2.split(b",") if a.startswith(b"a=")), None)
            kv = dict(p.split(b"=", 1) for p in rest.split(b"\x01") if b"=" in p)
            auth = kv.get(b"auth", b"")
            return user, auth[7:] if auth[:7].lower() == b"bearer " else None
        return await self._oauth(server, args, parse,
                                 {"status": "invalid_token", "schemes": "bearer", "scope": "mail"})

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local, domain = split(address)
        if domain != DOMAIN:
            return "554 5.7.1 Relay access denied"
        if local in LOCAL or (self.lmtp and local == "quota"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.append(rcpt_options)
            return "250 2.1.5 OK"
        return f"550 5.1.1 <{address}>: User unknown"

    async def handle_VRFY(self, server, session, envelope, address):
        local, domain = split(address.strip("<>"))
        if domain == DOMAIN and local in LOCAL:
            return f"250 2.1.5 <{local}@{domain}>"
        return f"550 5.1.1 <{address}>: User unknown"

    async def handle_DATA(self, server, session, envelope):
        replies = []
        for rcpt in envelope.rcpt_tos:
            local, _ = split(rcpt)
            if local == "quota" and len(envelope.original_content) > 1024:
                replies.append(f"552 5.2.2 <{rcpt}> Quota exceeded")
                continue
            store(local, envelope)
            replies.append(f"250 2.0.0 <{rcpt}> delivered")
        if self.lmtp:
            return "\r\n".join(replies)
        return "250 2.0.0 OK queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and USERS.get(auth_data.login) == auth_data.password:
        return AuthResult(success=True)
    # handled=False: aiosmtpd sends the 535 itself (with handled=True it sends nothing).
    return AuthResult(success=False, handled=False)


tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(CERT, KEY)


class Ctl(Controller):
    """A controller whose SMTP class is chosen per listener (SMTP or LMTP)."""

    def __init__(self, handler, port, cls=SMTP, **kw):
        self.cls = cls
        super().__init__(handler, hostname="127.0.0.1", port=port, **kw)

    def factory(self):
        return self.cls(self.handler, **self.SMTP_kwargs)


common = dict(
    server_hostname="aiosmtpd.test.example",
    enable_SMTPUTF8=True,
    data_size_limit=LIMIT,
    authenticator=authenticator,
    ident="aiosmtpd test",
)
controllers = [
    Ctl(Handler(), P_SMTP, tls_context=tls, require_starttls=False, auth_require_tls=True,
        **common),
    Ctl(Handler(), P_STARTTLS, tls_context=tls, require_starttls=True, auth_require_tls=True,
        **common),
    # Implicit TLS: the controller wraps the listening socket; AUTH is allowed at once.
    Ctl(Handler(), P_SMTPS, ssl_context=tls, auth_require_tls=False, **common),
    Ctl(Handler(lmtp=True), P_LMTP, cls=LMTP, server_hostname="lmtp.aiosmtpd.test.example",
        enable_SMTPUTF8=True, data_size_limit=LIMIT, ident="aiosmtpd lmtp test"),
]
for c in controllers:
    c.start()
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
signal.signal(signal.SIGINT, lambda *_: done.set())
print("aiosmtpd: listening", flush=True)
done.wait()
for c in controllers:
    c.stop()
