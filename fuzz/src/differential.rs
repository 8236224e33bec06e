//! The differential target: our reply parser against Stalwart's (`smtp-proto` 0.2 on
//! crates.io), through the views of `peer-bench` (`peer_bench::diff`).
//!
//! Where both parsers accept the front of the input as a reply, they must agree on where
//! it ends, its code and its number of lines. Text and enhanced status codes may differ in
//! the ways `peer-bench/DISAGREEMENTS.md` lists (Stalwart keeps a CR as the text of an
//! empty line, reads invalid UTF-8 lossily, takes enhanced codes of another class, from
//! any line, and wraps their parts at 255), so they are left to the differential test
//! over the shared corpus, which lists every one.

/// The first byte is ignored (the `reply` seeds' config byte), the rest is server bytes.
pub fn differential(data: &[u8]) {
    let Some((_, bytes)) = data.split_first() else {
        return;
    };
    let (Ok(ours), Ok(theirs)) = (
        peer_bench::diff::ours_reply(bytes),
        peer_bench::diff::theirs_reply(bytes),
    ) else {
        return;
    };
    assert_eq!(
        (ours.used, ours.code, ours.lines.len()),
        (theirs.used, theirs.code, theirs.lines.len()),
        "ours {ours}, theirs {theirs}, input {:?}",
        bytes.escape_ascii().to_string()
    );
}
