#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/seeds/<target>/.

Run from anywhere: `python3 fuzz/seeds/make_seeds.py`. The files it writes are committed;
re-run it after changing a transcript or an input format. Each target's input format is
documented in fuzz/src/ (ReplyConfig, ChunkedInput, CommandInput, FuzzStr, FuzzBytes).
"""

import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------------------
# Server transcripts (what a client reads). CRLF everywhere unless the name says otherwise.

def crlf(*lines):
    return b"".join(l.encode("utf-8") + b"\r\n" for l in lines)

TRANSCRIPTS = {
    # Postfix 3.x, EHLO through QUIT.
    "postfix": crlf(
        "220 mail.example.com ESMTP Postfix (Debian/GNU)",
        "250-mail.example.com",
        "250-PIPELINING",
        "250-SIZE 10240000",
        "250-VRFY",
        "250-ETRN",
        "250-STARTTLS",
        "250-ENHANCEDSTATUSCODES",
        "250-8BITMIME",
        "250-DSN",
        "250-SMTPUTF8",
        "250 CHUNKING",
        "250 2.1.0 Ok",
        "250 2.1.5 Ok",
        "554 5.7.1 <spam@example.net>: Relay access denied",
        "354 End data with <CR><LF>.<CR><LF>",
        "250 2.0.0 Ok: queued as 4BQ2Xk6Gz3z9sW1",
        "221 2.0.0 Bye",
    ),
    # Exim 4.9x.
    "exim": crlf(
        "220 mx.example.org ESMTP Exim 4.96 Mon, 01 Jan 2024 12:00:00 +0000",
        "250-mx.example.org Hello client.example.net [192.0.2.10]",
        "250-SIZE 52428800",
        "250-8BITMIME",
        "250-PIPELINING",
        "250-PIPECONNECT",
        "250-AUTH PLAIN LOGIN",
        "250-CHUNKING",
        "250-STARTTLS",
        "250-PRDR",
        "250 HELP",
        "250 OK",
        "250 Accepted",
        "550-Verification failed for <nobody@example.net>",
        "550-Unrouteable address",
        "550 Sender verify failed",
        "354 Enter message, ending with \".\" on a line by itself",
        "250 OK id=1rKxyz-000ABC-12",
        "221 mx.example.org closing connection",
    ),
    # Gmail-style submission server.
    "gmail": crlf(
        "220 smtp.gmail.com ESMTP a1b2c3d4e5f6-12345v6sm1234567abc.12 - gsmtp",
        "250-smtp.gmail.com at your service, [203.0.113.5]",
        "250-SIZE 35882577",
        "250-8BITMIME",
        "250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH",
        "250-ENHANCEDSTATUSCODES",
        "250-PIPELINING",
        "250-CHUNKING",
        "250 SMTPUTF8",
        "334 VXNlcm5hbWU6",
        "334 UGFzc3dvcmQ6",
        "535-5.7.8 Username and Password not accepted. For more information, go to",
        "535 5.7.8  https://support.google.com/mail/?p=BadCredentials a1-20020a17090 - gsmtp",
        "421-4.7.0 Try again later, closing connection. (EHLO)",
        "421-4.7.0  For more information, go to",
        "421 4.7.0  https://support.google.com/a/answer/3221692 - gsmtp",
    ),
    # LMTP (Dovecot): one reply per accepted recipient after the data.
    "lmtp": crlf(
        "220 lmtp.example.com Dovecot ready.",
        "250-lmtp.example.com",
        "250-8BITMIME",
        "250-CHUNKING",
        "250-ENHANCEDSTATUSCODES",
        "250-PIPELINING",
        "250 STARTTLS",
        "250 2.1.0 Sender OK",
        "250 2.1.5 OK",
        "250 2.1.5 OK",
        "550 5.1.1 <nouser@example.com> User doesn't exist: nouser@example.com",
        "354 OK",
        "250 2.0.0 <alice@example.com> Ylx6CqXoZGX+MQAA0J78UA Saved",
        "452 4.2.2 <bob@example.com> Mailbox is full",
        "221 2.0.0 Bye",
    ),
    # RFC 5321 Appendix D.1, D.2, D.3 (server side).
    "rfc5321-d1": crlf(
        "220 foo.com Simple Mail Transfer Service Ready",
        "250-foo.com greets bar.com",
        "250-8BITMIME",
        "250-SIZE",
        "250-DSN",
        "250 HELP",
        "250 OK",
        "250 OK",
        "550 No such user here",
        "250 OK",
        "354 Start mail input; end with <CRLF>.<CRLF>",
        "250 OK",
        "221 foo.com Service closing transmission channel",
    ),
    "rfc5321-d2": crlf(
        "220 foo.com Simple Mail Transfer Service Ready",
        "250 foo.com greets bar.com",
        "250 OK",
        "250 OK",
        "354 Start mail input; end with <CRLF>.<CRLF>",
        "250 OK",
        "221 foo.com Service closing transmission channel",
        "220 xyz.com Simple Mail Transfer Service Ready",
        "250 xyz.com is on the air",
        "250 OK",
        "251 User not local; will forward to <Brown@Remote.com>",
        "354 Start mail input; end with <CRLF>.<CRLF>",
        "250 OK",
        "221 xyz.com Service closing transmission channel",
    ),
    "rfc5321-d3": crlf(
        "220 foo.com Simple Mail Transfer Service Ready",
        "250 foo.com greets bar.com",
        "553 User ambiguous",
        "252 Cannot VRFY user, but will accept message and attempt delivery",
        "503 Bad sequence of commands",
        "554 No SMTP service here",
    ),
    # Replies a client must refuse or handle with care.
    "bare-lf": b"220 lenient.example ESMTP\n250-lenient.example\n250 PIPELINING\n250 Ok\r\n",
    "code-change": crlf("250-first", "251 second"),
    "bare-cr": b"250 a\rb\r\n250 ok\r\n",
    "empty-texts": crlf("220", "250 ", "250-", "250-", "250", "354-", "354 go"),
    "bad-codes": crlf("199 no", "650 no"),
    "bad-separator": crlf("250x no"),
    "enhanced": crlf("250 2.1.0 Ok", "550 5.123.999 x", "550 2.1.0 wrong class",
                     "250 2.1234.0 bad", "451 4.7.1 Greylisted", "354 3.0.0 no class 3"),
    "binary": b"220 \xff\xfe\x00\x01 binary text\r\n250 \xc3\xa9t\xc3\xa9\r\n",
    "long-line": b"250 " + b"x" * 2100 + b"\r\n",
    "many-lines": b"".join(b"250-l%d\r\n" % i for i in range(70)) + b"250 end\r\n",
    "partial": b"250-mail.example.com\r\n250-PIPELI",
    "cr-at-end": b"250 ok\r",
}

# Bodies for the DATA/BDAT encoders (targets added when smtp_proto::body lands).
SMUGGLING = {
    "lf-dot-lf": b"a\n.\nMAIL FROM:<x@evil.example>\n",
    "lf-dot-crlf": b"a\n.\r\nRCPT TO:<x@evil.example>\r\n",
    "cr-dot-lf": b"a\r.\nX",
    "cr-dot-cr-lf": b"a\r.\r\nX",
    "crlf-dot-cr-cr-lf": b"a\r\n.\r\r\nX",
    "cr-cr-lf-dot-cr-cr-lf": b"a\r\r\n.\r\r\nX",
    "crlf-nul-dot-crlf": b"a\r\n\x00.\r\nX",
    "crlf-crlf-dot-crlf": b"a\r\n\r\n.\r\nX",
    "leading-dot": b".\r\n..\r\n...x\r\n",
    "no-final-newline": b"Subject: x\r\n\r\nbody without newline",
    "lone-dot": b".",
    "empty": b"",
    "mixed": b"line1\nline2\rline3\r\n.\n\r\n.\r\r.\r\n",
    "message": crlf("From: a@example.com", "To: b@example.com", "Subject: hi", "",
                    "Hello,", ".", "..leading dots", "Bye."),
}

# EHLO/LHLO replies, as text lines (greeting first).
EHLO = {
    "postfix": ["mail.example.com", "PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "STARTTLS",
                "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"],
    "exim": ["mx.example.org Hello client.example.net [192.0.2.10]", "SIZE 52428800", "8BITMIME",
             "PIPELINING", "PIPECONNECT", "AUTH PLAIN LOGIN", "CHUNKING", "STARTTLS", "PRDR", "HELP"],
    "gmail": ["smtp.gmail.com at your service, [203.0.113.5]", "SIZE 35882577", "8BITMIME",
              "AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH",
              "ENHANCEDSTATUSCODES", "PIPELINING", "CHUNKING", "SMTPUTF8"],
    "lmtp": ["lmtp.example.com", "8BITMIME", "CHUNKING", "ENHANCEDSTATUSCODES", "PIPELINING",
             "STARTTLS"],
    "rfc5321-d1": ["foo.com greets bar.com", "8BITMIME", "SIZE", "DSN", "HELP"],
    "exchange": ["outlook.example.com Hello [198.51.100.7]", "SIZE 37748736", "PIPELINING", "DSN",
                 "ENHANCEDSTATUSCODES", "STARTTLS", "AUTH GSSAPI NTLM", "AUTH=LOGIN", "8BITMIME",
                 "BINARYMIME", "CHUNKING", "SMTPUTF8", "XRDST"],
    "extensions": ["mx.example", "DELIVERBY 240", "MT-PRIORITY MIXER",
                   "FUTURERELEASE 604800 2025-06-01T12:00:00Z",
                   "LIMITS RCPTMAX=100 MAILMAX=1000 RCPTDOMAINMAX=5 X=1", "REQUIRETLS", "EXPN",
                   "XCLIENT NAME ADDR", "SIZE 0", "size abc", "SIZEX 1", "X-STARTTLS",
                   "auth=cram-md5 plain", "AUTH plain", "SIZE 18446744073709551616"],
    "malformed": ["", " ", "\t", "PIPELINING ", "-X", "\x7f", "8bitmime", "SIZE  10", "AUTH"],
}

# ---------------------------------------------------------------------------------------
# Input encoders (must match fuzz/src/).

def reply_seed(cfg, data, caps=None):
    return bytes([cfg]) + (bytes(caps) if caps is not None else b"") + data

def chunks_seed(cfg, splits, data, caps=None):
    out = bytearray([cfg])
    if caps is not None:
        out += bytes(caps)
    for s in splits:
        out += bytes([1, s])
    out += b"\x00"
    return bytes(out) + data

VOCAB = {"example.com": 0, "mail.example.com": 1, "[192.0.2.1]": 2, "[IPv6:2001:db8::1]": 3,
         "user@example.com": 6, "<user@example.com>": 7, "<>": 8, "<Postmaster>": 10,
         "\"quoted local\"@example.com": 11, "用户@例子.广告": 13, "PLAIN": 16, "XOAUTH2": 18,
         "rfc822": 20, "2025-06-01T12:00:00Z": 22, "XFOO": 24, "bar": 25, "Smith": 28,
         "John \"J\" Smith": 29, "a.b.c.d.e": 40, "local.part+tag@sub.example.org": 46,
         "<@a.example,@b.example:user@example.com>": 48}

def word(w):
    return bytes([VOCAB[w] << 2 | 1])

def raw(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    assert len(b) < 256
    return bytes([0, len(b)]) + b

def insert(w, pos, s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return bytes([VOCAB[w] << 2 | 2, pos, len(b)]) + b

def repeat(w, n, sep):
    return bytes([VOCAB[w] << 2 | 3, n, sep])

def num(n):
    if n < 200:
        return bytes([n])
    return bytes([250]) + struct.pack("<Q", n)

def fbytes(b):
    assert len(b) < 240
    return bytes([len(b)]) + b

NO, YES = b"\x00", b"\x01"

def mail(frm, size=None, body=None, utf8=False, envid=None, auth=None, extra=()):
    out = bytes([3]) + frm
    out += (YES + num(size)) if size is not None else NO
    out += (YES + bytes([body])) if body is not None else NO
    out += YES if utf8 else NO
    out += NO  # ret
    out += (YES + envid) if envid is not None else NO
    out += (YES + auth) if auth is not None else NO
    out += NO + NO + NO + NO + NO  # requiretls, mt-priority, holdfor, holduntil, by
    for k, v in extra:
        out += YES + k + ((YES + v) if v is not None else NO)
    return out + NO

def rcpt(to, notify=None, orcpt=None, utf8=False):
    out = bytes([4]) + to
    out += (YES + bytes([notify])) if notify is not None else NO
    out += (YES + orcpt[0] + orcpt[1]) if orcpt is not None else NO
    out += NO  # extras
    return out + (YES if utf8 else NO)

COMMANDS = {
    "ehlo": bytes([0]) + word("mail.example.com"),
    "ehlo-literal": bytes([0]) + word("[IPv6:2001:db8::1]"),
    "ehlo-crlf-injection": bytes([0]) + insert("mail.example.com", 4, "\r\nQUIT"),
    "helo-long": bytes([1]) + repeat("a.b.c.d.e", 60, 1),
    "lhlo": bytes([2]) + word("example.com"),
    "mail-size": mail(word("<user@example.com>"), size=10240000, body=1),
    "mail-null": mail(word("<>"), envid=raw("QQ314159 a+b"), auth=word("<>")),
    "mail-utf8": mail(word("用户@例子.广告"), utf8=True, auth=word("user@example.com")),
    "mail-extra": mail(word("local.part+tag@sub.example.org"), extra=[(word("XFOO"), word("bar"))]),
    "mail-route": mail(word("<@a.example,@b.example:user@example.com>")),
    "rcpt": rcpt(word("<Postmaster>"), notify=3, orcpt=(word("rfc822"), word("user@example.com"))),
    "rcpt-quoted": rcpt(word("\"quoted local\"@example.com"), notify=8),
    "bdat": bytes([6]) + num(4294967296000) + YES,
    "vrfy": bytes([8]) + word("Smith") + NO,
    "expn-quoted": bytes([9]) + word("John \"J\" Smith") + YES,
    "help": bytes([10]) + YES + raw("MAIL"),
    "noop-nul": bytes([11]) + YES + raw("a\x00b"),
    "auth-plain": bytes([14]) + word("PLAIN") + YES + fbytes(b"\x00user\x00hunter2"),
    "auth-empty": bytes([14]) + word("XOAUTH2") + YES + fbytes(b""),
    "auth-long": bytes([14]) + word("PLAIN") + YES + bytes([250, 0x41]) + struct.pack("<H", 400),
    "auth-response": bytes([15]) + bytes([250, 0x42]) + struct.pack("<H", 12000),
    "raw": bytes([17]) + raw("XCLIENT NAME=spike.porcupine.org"),
    "raw-crlf": bytes([17]) + raw("NOOP\r\nQUIT"),
    "xtext": bytes([18]) + fbytes(b"a+b=c d\x00\xff"),
    "xtext-decode": bytes([19]) + raw("a+2Bb+3Dc+20d"),
}

# ---------------------------------------------------------------------------------------

def write(target, files):
    d = os.path.join(HERE, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in sorted(files.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)

def main():
    reply = {}
    chunks = {}
    for name, data in TRANSCRIPTS.items():
        reply[name] = reply_seed(0x00, data)                 # defaults, one push
        reply[name + ".lf"] = reply_seed(0x01, data)         # bare LF allowed
        reply[name + ".bytewise"] = reply_seed(0x08, data)   # one byte per push
        reply[name + ".small"] = reply_seed(0x02 | 3 << 3, data)  # (64, 8, 256), 3 per push
        reply[name + ".tight"] = reply_seed(0x04 | 5 << 3, data)  # (16, 4, 48), 40 per push
        reply[name + ".custom"] = reply_seed(0x06, data, caps=[40, 3, 30])
        chunks[name] = chunks_seed(0x00, [1, 3, 7], data)
        chunks[name + ".lf"] = chunks_seed(0x01, [5], data)
        chunks[name + ".tight"] = chunks_seed(0x04, [2, 0, 11], data)
        chunks[name + ".custom"] = chunks_seed(0x06, [13], data, caps=[40, 3, 30])
    write("reply", reply)
    # differential: a byte (ignored), then server bytes: the transcripts as `reply` has them.
    write("differential", {n: d for n, d in reply.items() if "." not in n})
    write("reply_chunks", chunks)
    write("command", COMMANDS)
    # ehlo: mode 1 = the EHLO reply as wire bytes; mode 0 = its text lines split at LF.
    ehlo = {}
    for name, lines in EHLO.items():
        wire = crlf(*("250-" + l for l in lines[:-1]), "250 " + lines[-1])
        ehlo[name] = b"\x01" + wire
        ehlo[name + ".lines"] = b"\x00" + "\n".join(lines).encode("utf-8")
    write("ehlo", ehlo)
    # data_encoder: DATA whole, DATA mixed forms split [1, 2, 3], BDAT 8-octet frames split
    # [5], BDAT binary 1-octet frames.
    body = {}
    for name, data in SMUGGLING.items():
        body[name + ".data"] = bytes([0, 0]) + data
        body[name + ".data-split"] = bytes([4, 1, 1, 1, 2, 1, 3, 0]) + data
        body[name + ".bdat"] = bytes([1, 7, 1, 5, 0]) + data
        body[name + ".bdat-binary"] = bytes([2, 0, 0]) + data
    write("data_encoder", body)
    shutil.rmtree(os.path.join(HERE, "bodies"), ignore_errors=True)

if __name__ == "__main__":
    main()
