//! `xtext` (RFC 3461 §4), used by ENVID, ORCPT and AUTH=.
//!
//! ```text
//! xtext = *( xchar / hexchar )
//! xchar = any ASCII CHAR between "!" (33) and "~" (126) inclusive,
//!         except for "+" and "=".
//! hexchar = ASCII "+" immediately followed by two upper case
//!           hexadecimal digits
//! ```
//!
//! ```
//! use smtp_proto::command::xtext;
//!
//! assert_eq!(xtext::encode(b"a+b=c d"), "a+2Bb+3Dc+20d");
//! assert_eq!(xtext::decode("a+2Bb+3Dc+20d").unwrap(), b"a+b=c d");
//! assert!(xtext::decode("+2b").is_err()); // lower-case hex is not xtext
//! ```

use super::abnf::unexpected;
use super::error::CommandError;
use super::wire::Sink;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `xchar`: `!`..=`~` except `+` and `=`.
pub(crate) fn is_xchar(b: u8) -> bool {
    matches!(b, 33..=126) && b != b'+' && b != b'='
}

/// Encodes arbitrary octets as xtext.
pub fn encode(data: &[u8]) -> String {
    let mut out = Vec::with_capacity(encoded_len(data));
    write(&mut out, data);
    // Every byte written is ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// Length of [`encode`]`(data)` without allocating.
pub fn encoded_len(data: &[u8]) -> usize {
    data.iter().map(|&b| if is_xchar(b) { 1 } else { 3 }).sum()
}

pub(crate) fn write<S: Sink>(sink: &mut S, data: &[u8]) {
    let mut start = 0;
    for (i, &b) in data.iter().enumerate() {
        if !is_xchar(b) {
            sink.put(&data[start..i]);
            sink.put(&[b'+', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
            start = i + 1;
        }
    }
    sink.put(&data[start..]);
}

/// `hexchar` digit: upper-case hexadecimal only.
fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes xtext, refusing anything that is not `xchar` or `hexchar`.
pub fn decode(s: &str) -> Result<Vec<u8>, CommandError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+' {
            let hi = b.get(i + 1).copied().and_then(hex_val);
            let lo = b.get(i + 2).copied().and_then(hex_val);
            match (hi, lo) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                (None, _) => return Err(unexpected(s, "xtext", i + 1, "upper-case hex digit")),
                (_, None) => return Err(unexpected(s, "xtext", i + 2, "upper-case hex digit")),
            }
            i += 3;
        } else if is_xchar(b[i]) {
            out.push(b[i]);
            i += 1;
        } else {
            return Err(unexpected(s, "xtext", i, "xchar or \"+\" hexchar"));
        }
    }
    Ok(out)
}
