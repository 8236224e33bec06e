//! Whether an initial response may go on the AUTH line (RFC 4954 §4).

use crate::command::{Command, MAX_LINE_LEN, Mechanism};

use super::Secret;

/// How to open an AUTH exchange, from [`initial_response_line`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthLine {
    /// Send this `AUTH` command: it carries the initial response, or the mechanism has
    /// none. Every `334` challenge then goes to
    /// [`step`](super::SaslMechanism::step).
    Inline(Command),
    /// The initial response would take the `AUTH` line past 512 octets, so RFC 4954 §4
    /// forbids it there: send `command` (`AUTH <mechanism>` alone); the server answers
    /// with an empty `334` challenge (RFC 4422 §5), to which the client sends `response`
    /// as an [`AuthResponse`](Command::AuthResponse) line (exempt from the 512-octet
    /// limit), without passing that challenge to
    /// [`step`](super::SaslMechanism::step); later challenges go to `step` as usual.
    /// A first `334` that is not empty is a server error: cancel with `*`.
    Deferred {
        /// `AUTH <mechanism>`, without an initial response.
        command: Command,
        /// The initial response, to send after the server's empty `334`.
        response: Secret,
    },
}

/// Length of `AUTH <mechanism>[ <base64(initial_response)>]\r\n`, in octets; an empty
/// initial response is written `=`.
#[must_use]
pub fn auth_line_len(mechanism: &Mechanism, initial_response: Option<&[u8]>) -> usize {
    let ir = match initial_response {
        None => 0,
        Some([]) => 2,
        Some(r) => 1 + r.len().div_ceil(3) * 4,
    };
    "AUTH ".len() + mechanism.as_str().len() + ir + 2
}

/// Puts the initial response of `mechanism` on the AUTH line if the line stays within
/// [`MAX_LINE_LEN`] (512 octets with CRLF, RFC 5321 §4.5.3.1.4), and defers it to the
/// server's first `334` otherwise, as RFC 4954 §4 requires for every mechanism.
///
/// `initial_response` is what [`initial_response`](super::SaslMechanism::initial_response)
/// returned (call it exactly once; the mechanism then expects the server's next
/// challenge, not the empty one).
///
/// ```
/// use smtp_proto::command::{Command, Mechanism, Secret};
/// use smtp_proto::sasl::{AuthLine, initial_response_line};
///
/// let short = initial_response_line(Mechanism::PLAIN, Some(Secret::new(b"\0u\0p".to_vec())));
/// let AuthLine::Inline(cmd) = short else { panic!() };
/// assert_eq!(cmd.to_bytes().unwrap(), b"AUTH PLAIN AHUAcA==\r\n");
///
/// let token = Secret::new(vec![b'x'; 2000]);
/// let long = initial_response_line(Mechanism::XOAUTH2, Some(token.clone()));
/// let AuthLine::Deferred { command, response } = long else { panic!() };
/// assert_eq!(command.to_bytes().unwrap(), b"AUTH XOAUTH2\r\n");
/// assert_eq!(response, token); // send as Command::AuthResponse after the empty 334
/// ```
#[must_use]
pub fn initial_response_line(mechanism: Mechanism, initial_response: Option<Secret>) -> AuthLine {
    let fits =
        auth_line_len(&mechanism, initial_response.as_ref().map(Secret::expose)) <= MAX_LINE_LEN;
    match initial_response {
        Some(response) if !fits => AuthLine::Deferred {
            command: Command::Auth {
                mechanism,
                initial_response: None,
            },
            response,
        },
        initial_response => AuthLine::Inline(Command::Auth {
            mechanism,
            initial_response,
        }),
    }
}
