//! Side-by-side benchmarks of `smtp-proto` against peer parsers, on the inputs of
//! `../shared/bench`. Not a default workspace member, so `cargo test` never builds the peers.
//!
//! Run: `cargo bench -p peer-bench`.
//!
//! [`diff`] compares our reply and EHLO parsers with Stalwart's on a shared corpus
//! (`tests/differential.rs`, `DISAGREEMENTS.md`).

pub mod diff;

/// The 10-line EHLO reply of `../shared/bench/rust/src/bin/microbench.rs` (199 octets).
pub const EHLO: &[u8] = b"250-smtp.example.test Hello bench.example.test [127.0.0.1]\r\n\
250-PIPELINING\r\n250-SIZE 52428800\r\n250-VRFY\r\n250-ETRN\r\n250-AUTH PLAIN LOGIN\r\n\
250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n";

/// A single-line reply with an enhanced status code (14 octets).
pub const SINGLE: &[u8] = b"250 2.1.0 Ok\r\n";

/// Stalwart `smtp-proto` 0.2: `ResponseReceiver::parse`, as the shared microbench calls it.
pub fn stalwart(input: &[u8]) -> usize {
    let mut rx = stalwart_smtp_proto::response::parser::ResponseReceiver::default();
    let r = rx.parse(&mut input.iter()).expect("stalwart parse");
    r.message.len() + r.code as usize
}

/// Ours, slice entry point.
pub fn ours_slice(input: &[u8]) -> usize {
    let (used, r) =
        smtp_proto::reply::parse(input, &smtp_proto::ReplyLimits::DEFAULT).expect("parse");
    used + usize::from(r.code().get())
}

/// Ours, incremental reader: push the bytes, drain the replies.
pub fn ours_reader(reader: &mut smtp_proto::ReplyReader, input: &[u8]) -> usize {
    reader.push(input);
    let mut n = 0;
    while let Some(r) = reader.next_reply() {
        let r = r.expect("reply");
        n += r.as_bytes().len() + usize::from(r.code().get());
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_parsers_agree_on_the_inputs() {
        assert_eq!(EHLO.len(), 199);
        let mut reader = smtp_proto::ReplyReader::new();
        for input in [EHLO, SINGLE] {
            assert_eq!(ours_slice(input), ours_reader(&mut reader, input));
            assert!(stalwart(input) > 0);
            // Stalwart reads the same code, enhanced status code and lines.
            assert_eq!(diff::ours_reply(input), diff::theirs_reply(input));
        }
    }
}
