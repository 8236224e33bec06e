//! The differential test: our reply and EHLO parsers against Stalwart's on the shared
//! corpus (`peer_bench::diff`). Fails on any disagreement that `DISAGREEMENTS.md` does not
//! list (with the same `ours` and `theirs` cells), and on a listed row that no longer
//! occurs, so the table is always exactly the set of known disagreements.

use std::collections::BTreeMap;
use std::path::Path;

use peer_bench::diff::{self, Disagreement};

/// A table row: `| id | input | ours | theirs | why ours is right |`.
struct Row {
    ours: String,
    theirs: String,
    why: String,
}

/// The rows of `DISAGREEMENTS.md`'s table, by id. Cells use `\|` for a literal `|`
/// (the comparison escapes `|` in inputs as `\x7c`, so none should need it).
fn table(text: &str) -> BTreeMap<String, Row> {
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<String> = line
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().trim_matches('`').replace("\\|", "|"))
            .collect();
        assert_eq!(cells.len(), 5, "a row needs 5 cells: {line}");
        let row = Row {
            ours: cells[2].clone(),
            theirs: cells[3].clone(),
            why: cells[4].clone(),
        };
        assert!(
            rows.insert(cells[0].clone(), row).is_none(),
            "row {} twice",
            cells[0]
        );
    }
    rows
}

fn render(d: &Disagreement) -> String {
    format!(
        "| `{}` | `{}` | `{}` | `{}` | (why ours is right) |",
        d.id, d.input, d.ours, d.theirs
    )
}

#[test]
fn our_parsers_agree_with_stalwarts_or_the_table_says_why_not() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = diff::corpus(&root.join("..")).expect("read the corpus");
    let report = diff::compare(&corpus);
    let table_text =
        std::fs::read_to_string(root.join("DISAGREEMENTS.md")).expect("DISAGREEMENTS.md");
    let rows = table(&table_text);

    eprintln!(
        "{} inputs, {} replies and {} EHLO replies compared ({} with lettre), {} disagreements, {} accepted by one parser only",
        corpus.len(),
        report.replies_compared,
        report.ehlo_compared,
        report.lettre_compared,
        report.disagreements.len(),
        report.one_sided.len()
    );
    for (id, what) in &report.one_sided {
        eprintln!("  one-sided: {id}: {what}");
    }
    // The corpus is what it claims: seeds and inline inputs were all read and compared.
    assert!(corpus.len() >= 40, "{} inputs", corpus.len());
    assert!(
        report.replies_compared >= 100,
        "{}",
        report.replies_compared
    );
    assert!(report.ehlo_compared >= 15, "{}", report.ehlo_compared);
    // lettre too (this fails if peer-bench's `lettre` feature is off).
    assert!(report.lettre_compared >= 120, "{}", report.lettre_compared);

    let mut problems = Vec::new();
    for d in &report.disagreements {
        match rows.get(&d.id) {
            None => problems.push(format!("not in DISAGREEMENTS.md:\n{}", render(d))),
            Some(r) if r.ours != d.ours || r.theirs != d.theirs => problems.push(format!(
                "DISAGREEMENTS.md row {} says ours `{}`, theirs `{}`; now:\n{}",
                d.id,
                r.ours,
                r.theirs,
                render(d)
            )),
            Some(r) => assert!(!r.why.is_empty() && !r.why.contains("(why"), "{}", d.id),
        }
    }
    for id in rows.keys() {
        if !report.disagreements.iter().any(|d| &d.id == id) {
            problems.push(format!("DISAGREEMENTS.md row {id} no longer occurs"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n\n"));
}

/// The comparison can fail: a reply the parsers read differently is reported.
#[test]
fn a_changed_expectation_is_a_disagreement() {
    let ours = diff::ours_reply(b"250 2.1.0 Ok\r\n").unwrap();
    let theirs = diff::theirs_reply(b"250 2.1.0 Ok\r\n").unwrap();
    assert_eq!(ours, theirs);
    let mut changed = theirs.clone();
    changed.lines[0].push('!');
    assert_ne!(ours, changed);
    let ours = diff::ours_ehlo(b"250-mx\r\n250-SIZE 100\r\n250 AUTH PLAIN\r\n").unwrap();
    let theirs = diff::theirs_ehlo(b"250-mx\r\n250-SIZE 100\r\n250 AUTH PLAIN\r\n").unwrap();
    assert_eq!(ours, theirs);
    assert_eq!(ours.size, Some(100));
    assert!(ours.auth.contains("PLAIN") && ours.keywords.contains("SIZE"));
}
