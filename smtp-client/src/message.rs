//! `send_message`: the envelope from an RFC 5322 message's headers, as smtplib does.

use mail_parser::{HeaderName, HeaderValue, Message, MessageParser};

use crate::error::Error;

/// The envelope taken from a message's headers, and the bytes to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractedEnvelope {
    /// The sender: `Sender` if present, else the first `From` address (or their
    /// `Resent-` counterparts).
    pub from: String,
    /// Every address of `To`, `Cc` and `Bcc` (or their `Resent-` counterparts), in order,
    /// duplicates removed.
    pub recipients: Vec<String>,
    /// The message with `Bcc`, `Resent-Bcc` and `Return-Path` removed.
    pub content: Vec<u8>,
}

/// Extracts the envelope of `raw` the way Python's `smtplib.send_message` does: when the
/// message has exactly one `Resent-Date` block, the `Resent-` headers are used; more than
/// one block is an error; `Bcc`/`Resent-Bcc` are stripped from the content, and so is any
/// `Return-Path` (RFC 5321 §4.4: the final delivery server adds it; a client originating
/// a message SHOULD NOT send one).
pub fn extract_envelope(raw: &[u8]) -> Result<ExtractedEnvelope, Error> {
    let bad = |m: &str| Error::InvalidInput(format!("message: {m}"));
    let msg = MessageParser::new()
        .parse_headers(raw)
        .ok_or_else(|| bad("no header could be parsed"))?;
    let resent = msg.header_values(HeaderName::ResentDate).count();
    if resent > 1 {
        return Err(bad("more than one Resent- block"));
    }
    let (sender, from, to, cc, bcc) = if resent == 1 {
        (
            HeaderName::ResentSender,
            HeaderName::ResentFrom,
            HeaderName::ResentTo,
            HeaderName::ResentCc,
            HeaderName::ResentBcc,
        )
    } else {
        (
            HeaderName::Sender,
            HeaderName::From,
            HeaderName::To,
            HeaderName::Cc,
            HeaderName::Bcc,
        )
    };
    let from = addresses(&msg, sender)
        .into_iter()
        .next()
        .or_else(|| addresses(&msg, from).into_iter().next())
        .ok_or_else(|| bad("no Sender or From address"))?;
    let mut recipients: Vec<String> = Vec::new();
    for name in [to, cc, bcc] {
        for a in addresses(&msg, name) {
            if !recipients.contains(&a) {
                recipients.push(a);
            }
        }
    }
    if recipients.is_empty() {
        return Err(bad("no To, Cc or Bcc address"));
    }
    Ok(ExtractedEnvelope {
        from,
        recipients,
        content: strip_headers(raw, &["bcc", "resent-bcc", "return-path"]),
    })
}

fn addresses(msg: &Message<'_>, name: HeaderName<'static>) -> Vec<String> {
    let mut out = Vec::new();
    for v in msg.header_values(name) {
        if let HeaderValue::Address(a) = v {
            out.extend(a.iter().filter_map(|x| x.address()).map(str::to_owned));
        }
    }
    out
}

/// `raw` without the header fields named in `names` (lower case), continuation lines
/// included. The body is untouched.
pub fn strip_headers(raw: &[u8], names: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    let mut skipping = false;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let line = &rest[..end];
        rest = &rest[end..];
        if line == b"\r\n" || line == b"\n" {
            out.extend_from_slice(line);
            out.extend_from_slice(rest);
            return out;
        }
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            let name = line.split(|&b| b == b':').next().unwrap_or(b"");
            skipping = names
                .iter()
                .any(|n| name.trim_ascii().eq_ignore_ascii_case(n.as_bytes()));
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5321 §4.4: an originated message carries no `Return-Path` (it is stripped like
    /// `Bcc`, continuation lines included); the other header fields and the body stay.
    #[test]
    fn return_path_and_bcc_are_stripped() {
        let raw = b"Return-Path: <old@example.org>\r\nFrom: a@example.org\r\n\
To: b@example.net\r\nBcc: c@example.net\r\nreturn-path:\r\n <x@example.org>\r\n\
Subject: t\r\n\r\nReturn-Path: <body@example.org>\r\n";
        let x = extract_envelope(raw).unwrap();
        assert_eq!(x.from, "a@example.org");
        assert_eq!(x.recipients, ["b@example.net", "c@example.net"]);
        assert_eq!(
            x.content,
            b"From: a@example.org\r\nTo: b@example.net\r\nSubject: t\r\n\r\n\
Return-Path: <body@example.org>\r\n"
        );
    }
}
