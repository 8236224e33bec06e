//! Byte-level decoders for structured inputs.
//!
//! The derived `Arbitrary` encodings take lengths from the end of the input, which makes
//! hand-written seeds impractical. These types read everything front to back, one tag byte
//! at a time, so `seeds/make_seeds.py` can write seeds for the structured targets and a
//! crash input can be read with a hex dump.

use arbitrary::{Arbitrary, Result, Unstructured};

/// Fragments that take the fuzzer straight to valid (and nearly valid) arguments.
///
/// Indexed by `tag >> 2` (64 entries at most). Keep the order: seeds refer to indices.
pub const VOCAB: &[&str] = &[
    "example.com",                              // 0
    "mail.example.com",                         // 1
    "[192.0.2.1]",                              // 2
    "[IPv6:2001:db8::1]",                       // 3
    "[IPv6:::ffff:192.0.2.1]",                  // 4
    "[tag:content]",                            // 5
    "user@example.com",                         // 6
    "<user@example.com>",                       // 7
    "<>",                                       // 8
    "Postmaster",                               // 9
    "<Postmaster>",                             // 10
    "\"quoted local\"@example.com",             // 11
    "\"a\\\"b\"@example.com",                   // 12
    "用户@例子.广告",                           // 13
    "δοκιμή@παράδειγμα.δοκιμή",                 // 14
    "xn--bcher-kva.example",                    // 15
    "PLAIN",                                    // 16
    "LOGIN",                                    // 17
    "XOAUTH2",                                  // 18
    "SCRAM-SHA-256",                            // 19
    "rfc822",                                   // 20
    "utf-8",                                    // 21
    "2025-06-01T12:00:00Z",                     // 22
    "2025-06-01T12:00:00.5+02:00",              // 23
    "XFOO",                                     // 24
    "bar",                                      // 25
    "SIZE",                                     // 26
    "NOTIFY",                                   // 27
    "Smith",                                    // 28
    "John \"J\" Smith",                         // 29
    "a b",                                      // 30
    "a+b=c",                                    // 31
    "\r\n",                                     // 32
    "\n",                                       // 33
    "\r",                                       // 34
    "\0",                                       // 35
    "\t",                                       // 36
    " ",                                        // 37
    "\x7f",                                     // 38
    "é",                                        // 39
    "a.b.c.d.e",                                // 40
    "-leading.example",                         // 41
    "x",                                        // 42
    "QUIT",                                     // 43
    "\r\nRSET\r\n",                             // 44
    "user@[192.0.2.1]",                         // 45
    "local.part+tag@sub.example.org",           // 46
    "@",                                        // 47
    "<@a.example,@b.example:user@example.com>", // 48
    "",                                         // 49
    "postmaster@example.com",                   // 50
    "user@[IPv6:2001:db8::1]",                  // 51
    "a\\b",                                     // 52
    "\"\"@example.com",                         // 53
    "0123456789",                               // 54
    "ORCPT",                                    // 55
    "=",                                        // 56
    "<user@example.com",                        // 57
    "user@example.com>",                        // 58
    "\u{2028}",                                 // 59
    "\u{feff}",                                 // 60
    "\u{85}",                                   // 61
    "ÿ",                                        // 62
    "user@localhost",                           // 63
];

/// Up to `len` bytes from the front (fewer at the end of the input).
fn take<'a>(u: &mut Unstructured<'a>, len: usize) -> Result<&'a [u8]> {
    let n = len.min(u.len());
    u.bytes(n)
}

fn byte(u: &mut Unstructured<'_>) -> Result<u8> {
    u8::arbitrary(u)
}

/// A string argument, decoded from one tag byte `t` and what follows it:
///
/// - `t % 4 == 0`: raw: a length byte `L`, then `L` bytes (invalid UTF-8 is replaced by
///   U+FFFD, CR/LF/NUL and every other byte pass through);
/// - `t % 4 == 1`: `VOCAB[t >> 2]`;
/// - `t % 4 == 2`: `VOCAB[t >> 2]` with a raw string (as above) inserted at the char boundary
///   at or before the position given by the next byte;
/// - `t % 4 == 3`: `VOCAB[t >> 2]` repeated `n` times (next byte), joined by the separator
///   picked by the byte after (`""`, `"."`, `"-"`, `"a"`), to reach length limits.
#[derive(Clone, PartialEq, Eq)]
pub struct FuzzStr(pub String);

impl std::fmt::Debug for FuzzStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl FuzzStr {
    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn raw_str(u: &mut Unstructured<'_>) -> Result<String> {
    let len = usize::from(byte(u)?);
    Ok(String::from_utf8_lossy(take(u, len)?).into_owned())
}

impl<'a> Arbitrary<'a> for FuzzStr {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let tag = byte(u)?;
        let word = VOCAB[usize::from(tag >> 2) % VOCAB.len()];
        let s = match tag % 4 {
            0 => raw_str(u)?,
            1 => word.to_owned(),
            2 => {
                let mut pos = usize::from(byte(u)?).min(word.len());
                while !word.is_char_boundary(pos) {
                    pos -= 1;
                }
                let ins = raw_str(u)?;
                let mut s = String::with_capacity(word.len() + ins.len());
                s.push_str(&word[..pos]);
                s.push_str(&ins);
                s.push_str(&word[pos..]);
                s
            }
            _ => {
                let n = usize::from(byte(u)?);
                let sep = ["", ".", "-", "a"][usize::from(byte(u)? % 4)];
                let mut s = String::new();
                for i in 0..n {
                    if i > 0 {
                        s.push_str(sep);
                    }
                    s.push_str(word);
                }
                s
            }
        };
        Ok(FuzzStr(s))
    }
}

/// Bytes (SASL responses, xtext input): a tag byte `t`; `t < 240`: `t` raw bytes;
/// otherwise a fill byte repeated `u16` (two more bytes, little-endian) times, so that
/// lengths past the 512-octet line and the 16 KiB AUTH-line caps are reachable.
#[derive(Clone, PartialEq, Eq)]
pub struct FuzzBytes(pub Vec<u8>);

impl std::fmt::Debug for FuzzBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

impl<'a> Arbitrary<'a> for FuzzBytes {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let tag = byte(u)?;
        if tag < 240 {
            return Ok(FuzzBytes(take(u, usize::from(tag))?.to_vec()));
        }
        let fill = byte(u)?;
        let n = usize::from(u16::from_le_bytes([byte(u)?, byte(u)?]));
        Ok(FuzzBytes(vec![fill; n]))
    }
}

/// `Option<T>`: a presence byte (odd: present) then `T`.
pub(crate) fn opt<'a, T: Arbitrary<'a>>(u: &mut Unstructured<'a>) -> Result<Option<T>> {
    Ok(if byte(u)? & 1 == 1 {
        Some(T::arbitrary(u)?)
    } else {
        None
    })
}

/// A `u64` from a tag byte: `< 200` is the value itself, `200..=249` a boundary value,
/// `250..` eight little-endian bytes.
pub(crate) fn num(u: &mut Unstructured<'_>) -> Result<u64> {
    const EDGES: [u64; 10] = [
        999_999_999,
        1_000_000_000,
        u32::MAX as u64,
        u32::MAX as u64 + 1,
        i64::MAX as u64,
        u64::MAX,
        10_240_000,
        52_428_800,
        4_294_967_296_000,
        99_999_999_999,
    ];
    let tag = byte(u)?;
    Ok(match tag {
        0..200 => u64::from(tag),
        200..250 => EDGES[usize::from(tag - 200) % EDGES.len()],
        _ => {
            let mut b = [0u8; 8];
            for x in &mut b {
                *x = byte(u)?;
            }
            u64::from_le_bytes(b)
        }
    })
}

pub(crate) fn flag(u: &mut Unstructured<'_>) -> Result<bool> {
    Ok(byte(u)? & 1 == 1)
}

pub(crate) fn small(u: &mut Unstructured<'_>) -> Result<u8> {
    byte(u)
}
