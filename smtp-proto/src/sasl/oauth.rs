//! XOAUTH2 (Google, Microsoft) and OAUTHBEARER (RFC 7628).

use super::error::OAuthError;
use super::{Rounds, SaslError, SaslMechanism, Secret};

/// The `kvsep` separator of both formats (0x01, `^A`).
const KVSEP: u8 = 0x01;

/// Checks a value carried between `^A` separators (RFC 7628 §3.1 `value`).
fn check_value(field: &'static str, value: &[u8]) -> Result<(), SaslError> {
    if value.is_empty() {
        return Err(SaslError::EmptyCredential { field });
    }
    if value.contains(&0) {
        return Err(SaslError::CredentialContainsNul { field });
    }
    if value.contains(&KVSEP) {
        return Err(SaslError::InvalidCredential {
            field,
            reason: "contains 0x01",
        });
    }
    Ok(())
}

/// Where an OAuth exchange is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Sent,
    ErrorReported,
}

/// The state shared by both OAuth mechanisms.
#[derive(Debug, Clone)]
struct OAuthCore {
    state: State,
    rounds: Rounds,
    error: Option<OAuthError>,
}

impl OAuthCore {
    fn new() -> Self {
        Self {
            state: State::Start,
            rounds: Rounds::default(),
            error: None,
        }
    }

    /// Handles a challenge: `Ok(true)` if the initial response is to be sent (empty
    /// challenge before it was sent), `Ok(false)` if this was the error report.
    fn step(&mut self, name: &'static str, challenge: &[u8]) -> Result<bool, SaslError> {
        self.rounds.next(challenge)?;
        match self.state {
            State::Start if challenge.is_empty() => Ok(true),
            State::Sent => {
                self.error = Some(parse_error_report(challenge));
                self.state = State::ErrorReported;
                Ok(false)
            }
            _ => Err(SaslError::unexpected(name)),
        }
    }

    fn take_error(&mut self) -> Option<SaslError> {
        self.error.take().map(|e| SaslError::OAuth(Box::new(e)))
    }
}

/// The XOAUTH2 mechanism of Google and Microsoft: the initial response
/// `user=<user>^Aauth=Bearer <token>^A^A`.
///
/// A challenge is the server's JSON error report: [`step`](SaslMechanism::step) answers it
/// with an empty response (after which the server sends its failure reply) and keeps it
/// for [`take_server_error`](SaslMechanism::take_server_error).
///
/// ```
/// use smtp_proto::sasl::{SaslMechanism, XOAuth2};
///
/// let mut m = XOAuth2::new("someuser@example.com", "ya29.token");
/// let ir = m.initial_response().unwrap().unwrap();
/// assert_eq!(ir.expose(), b"user=someuser@example.com\x01auth=Bearer ya29.token\x01\x01");
/// ```
#[derive(Debug, Clone)]
pub struct XOAuth2 {
    username: String,
    token: Secret,
    core: OAuthCore,
}

impl XOAuth2 {
    /// XOAUTH2 for `username` with the access `token`.
    pub fn new(username: impl Into<String>, token: impl Into<Secret>) -> Self {
        Self {
            username: username.into(),
            token: token.into(),
            core: OAuthCore::new(),
        }
    }

    fn response(&mut self) -> Result<Secret, SaslError> {
        let user = self.username.as_bytes();
        let token = self.token.expose();
        check_value("username", user)?;
        check_value("token", token)?;
        let mut out = Vec::with_capacity(user.len() + token.len() + 21);
        out.extend_from_slice(b"user=");
        out.extend_from_slice(user);
        out.extend_from_slice(b"\x01auth=Bearer ");
        out.extend_from_slice(token);
        out.extend_from_slice(b"\x01\x01");
        self.core.state = State::Sent;
        Ok(Secret::new(out))
    }
}

impl SaslMechanism for XOAuth2 {
    fn name(&self) -> &str {
        "XOAUTH2"
    }

    fn initial_response(&mut self) -> Result<Option<Secret>, SaslError> {
        self.response().map(Some)
    }

    fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError> {
        if self.core.step("XOAUTH2", challenge)? {
            self.response()
        } else {
            Ok(Secret::new(Vec::new()))
        }
    }

    fn finish(&mut self) -> Result<(), SaslError> {
        Ok(())
    }

    fn take_server_error(&mut self) -> Option<SaslError> {
        self.core.take_error()
    }
}

/// The OAUTHBEARER mechanism (RFC 7628) without channel binding: the initial response
/// `n,a=<user>,^A[host=<host>^A][port=<port>^A]auth=Bearer <token>^A^A`.
///
/// A challenge is the server's JSON error report: [`step`](SaslMechanism::step) answers it
/// with the single octet 0x01 (RFC 7628 §3.2.3) and keeps it for
/// [`take_server_error`](SaslMechanism::take_server_error).
#[derive(Debug, Clone)]
pub struct OAuthBearer {
    username: String,
    token: Secret,
    host: Option<String>,
    port: Option<u16>,
    core: OAuthCore,
}

impl OAuthBearer {
    /// OAUTHBEARER for `username` with the access `token`.
    pub fn new(username: impl Into<String>, token: impl Into<Secret>) -> Self {
        Self {
            username: username.into(),
            token: token.into(),
            host: None,
            port: None,
            core: OAuthCore::new(),
        }
    }

    /// Sends `host=` (the server's host name, as the client connected to it).
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Sends `port=` (the server's port).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    fn response(&mut self) -> Result<Secret, SaslError> {
        let user = self.username.as_bytes();
        let token = self.token.expose();
        check_value("username", user)?;
        check_value("token", token)?;
        let mut out = Vec::with_capacity(user.len() + token.len() + 64);
        out.extend_from_slice(b"n,a=");
        super::scram::escape_saslname(user, &mut out);
        out.extend_from_slice(b",\x01");
        if let Some(host) = &self.host {
            check_value("host", host.as_bytes())?;
            out.extend_from_slice(b"host=");
            out.extend_from_slice(host.as_bytes());
            out.push(KVSEP);
        }
        if let Some(port) = self.port {
            out.extend_from_slice(format!("port={port}\x01").as_bytes());
        }
        out.extend_from_slice(b"auth=Bearer ");
        out.extend_from_slice(token);
        out.extend_from_slice(b"\x01\x01");
        self.core.state = State::Sent;
        Ok(Secret::new(out))
    }
}

impl SaslMechanism for OAuthBearer {
    fn name(&self) -> &str {
        "OAUTHBEARER"
    }

    fn initial_response(&mut self) -> Result<Option<Secret>, SaslError> {
        self.response().map(Some)
    }

    fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError> {
        if self.core.step("OAUTHBEARER", challenge)? {
            self.response()
        } else {
            Ok(Secret::new(vec![KVSEP]))
        }
    }

    fn finish(&mut self) -> Result<(), SaslError> {
        Ok(())
    }

    fn take_server_error(&mut self) -> Option<SaslError> {
        self.core.take_error()
    }
}

/// Reads the JSON error report; tolerant: whatever is not understood is left `None`.
fn parse_error_report(challenge: &[u8]) -> OAuthError {
    let mut report = OAuthError {
        raw: String::from_utf8_lossy(challenge).into_owned(),
        ..OAuthError::default()
    };
    if let Some(members) = json::object(challenge) {
        for (key, value) in members {
            let slot = match key.as_str() {
                "status" => &mut report.status,
                "schemes" => &mut report.schemes,
                "scope" => &mut report.scope,
                "openid-configuration" => &mut report.openid_configuration,
                _ => continue,
            };
            *slot = value;
        }
    }
    report
}

/// Just enough JSON to read one flat object of string (or scalar) members.
mod json {
    /// Members of a JSON object: each key with its value if a string or number (as text),
    /// `None` for other values. `None` if `input` is not one JSON object.
    pub(super) fn object(input: &[u8]) -> Option<Vec<(String, Option<String>)>> {
        let mut p = Parser { input, pos: 0 };
        p.ws();
        p.eat(b'{')?;
        let mut members = Vec::new();
        p.ws();
        if p.eat(b'}').is_none() {
            loop {
                p.ws();
                let key = p.string()?;
                p.ws();
                p.eat(b':')?;
                p.ws();
                let value = p.value(0)?;
                members.push((key, value));
                p.ws();
                if p.eat(b',').is_some() {
                    continue;
                }
                p.eat(b'}')?;
                break;
            }
        }
        p.ws();
        (p.pos == input.len()).then_some(members)
    }

    /// Deepest nesting skipped inside a member value.
    const MAX_DEPTH: usize = 16;

    struct Parser<'a> {
        input: &'a [u8],
        pos: usize,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.input.get(self.pos).copied()
        }

        fn eat(&mut self, b: u8) -> Option<()> {
            (self.peek()? == b).then(|| self.pos += 1)
        }

        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                self.pos += 1;
            }
        }

        /// A value: strings and numbers are returned as text, others skipped.
        fn value(&mut self, depth: usize) -> Option<Option<String>> {
            match self.peek()? {
                b'"' => self.string().map(Some),
                b'-' | b'0'..=b'9' => {
                    let start = self.pos;
                    while matches!(
                        self.peek(),
                        Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                    ) {
                        self.pos += 1;
                    }
                    let text = std::str::from_utf8(&self.input[start..self.pos]).ok()?;
                    Some(Some(text.to_owned()))
                }
                b't' | b'f' | b'n' => {
                    let rest = &self.input[self.pos..];
                    let len = [&b"true"[..], b"false", b"null"]
                        .iter()
                        .find(|w| rest.starts_with(w))?
                        .len();
                    self.pos += len;
                    Some(None)
                }
                open @ (b'[' | b'{') if depth < MAX_DEPTH => {
                    let close = if open == b'[' { b']' } else { b'}' };
                    self.pos += 1;
                    self.ws();
                    if self.eat(close).is_some() {
                        return Some(None);
                    }
                    loop {
                        self.ws();
                        if open == b'{' {
                            self.string()?;
                            self.ws();
                            self.eat(b':')?;
                            self.ws();
                        }
                        self.value(depth + 1)?;
                        self.ws();
                        if self.eat(b',').is_some() {
                            continue;
                        }
                        self.eat(close)?;
                        return Some(None);
                    }
                }
                _ => None,
            }
        }

        fn string(&mut self) -> Option<String> {
            self.eat(b'"')?;
            let mut out = Vec::new();
            loop {
                let b = self.peek()?;
                self.pos += 1;
                match b {
                    b'"' => return String::from_utf8(out).ok(),
                    b'\\' => {
                        let e = self.peek()?;
                        self.pos += 1;
                        let c = match e {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => self.unicode_escape()?,
                            _ => return None,
                        };
                        let mut buf = [0; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    0..=0x1f => return None,
                    _ => out.push(b),
                }
            }
        }

        fn hex4(&mut self) -> Option<u32> {
            let digits = self.input.get(self.pos..self.pos + 4)?;
            let text = std::str::from_utf8(digits).ok()?;
            if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            self.pos += 4;
            u32::from_str_radix(text, 16).ok()
        }

        /// After `\u`: one code point, from a surrogate pair if need be.
        fn unicode_escape(&mut self) -> Option<char> {
            let hi = self.hex4()?;
            if (0xD800..0xDC00).contains(&hi) {
                self.eat(b'\\')?;
                self.eat(b'u')?;
                let lo = self.hex4()?;
                if !(0xDC00..0xE000).contains(&lo) {
                    return None;
                }
                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
            } else {
                char::from_u32(hi)
            }
        }
    }
}
