"""aiosmtpd listeners for the interop matrix (started by scripts/servers/interop/start).

Usage: python3 aiosmtpd_server.py STATE_DIR CERT KEY SMTP STARTTLS SMTPS LMTP SIZE_LIMIT

Four listeners on 127.0.0.1 (ports given), one process:
  SMTP      plain, STARTTLS offered (optional), AUTH PLAIN/LOGIN only after STARTTLS
  STARTTLS  STARTTLS required (530 before it), then AUTH
  SMTPS     implicit TLS, AUTH
  LMTP      LMTP (aiosmtpd.lmtp.LMTP): one reply per recipient after the data
Users: alice/alice-password, bob/bob-password. Recipients: alice@ and bob@test.example are
accepted, nobody@test.example is refused at RCPT with 550 5.1.1, anything else outside
test.example with 554 5.7.1 (no relaying). LMTP only: quota@test.example is accepted at
RCPT and refused after the data with 552 5.2.2 when the message is over 1 KiB.

The record: every accepted message is written, exactly as received after dot-unstuffing
(envelope.original_content: CRLF line ends, nothing prepended), to
STATE_DIR/store/<local part>/new/<unique> (a maildir-like folder), and its envelope to
<unique>.env beside it (MAIL FROM, RCPT TO lines and their parameters).
"""

import asyncio
import os
import signal
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

STATE, CERT, KEY = sys.argv[1], sys.argv[2], sys.argv[3]
P_SMTP, P_STARTTLS, P_SMTPS, P_LMTP = (int(p) for p in sys.argv[4:8])
LIMIT = int(sys.argv[8])
DOMAIN = "test.example"
USERS = {b"alice": b"alice-password", b"bob": b"bob-password"}
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
