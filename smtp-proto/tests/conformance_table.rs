//! Keeps `docs/conformance.md` from rotting: every test it names exists, every row has a
//! known status with what that status needs (a test, or a reason), every gap is listed
//! under "Gaps still open", and the summary adds up.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const STATUSES: [&str; 4] = ["tested", "n/a", "deviates", "gap"];

/// One row of a requirement table.
struct Row {
    line: usize,
    id: String,
    section: String,
    requirement: String,
    status: String,
    tests: Vec<String>,
    notes: String,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

/// Splits a table line into trimmed cells (`\|` is a literal bar inside a cell).
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut out = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                out.last_mut().unwrap().push('|');
                chars.next();
            }
            '|' => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out.iter().map(|c| c.trim().to_owned()).collect()
}

/// The rows of every table whose header starts with `| ID |`.
fn rows(doc: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut in_table = false;
    for (i, line) in doc.lines().enumerate() {
        let t = line.trim();
        if t.starts_with("| ID |") {
            in_table = true;
            continue;
        }
        if !t.starts_with('|') {
            in_table = false;
            continue;
        }
        if !in_table || t.starts_with("|--") || t.starts_with("| --") {
            continue;
        }
        let c = cells(t);
        assert_eq!(c.len(), 7, "line {}: expected 7 cells: {t}", i + 1);
        let tests = c[5]
            .split(", ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        rows.push(Row {
            line: i + 1,
            id: c[0].clone(),
            section: c[1].clone(),
            requirement: c[3].clone(),
            status: c[4].clone(),
            tests,
            notes: c[6].clone(),
        });
    }
    rows
}

/// Whether `text` defines a function `name`.
fn defines(text: &str, name: &str) -> bool {
    text.contains(&format!("fn {name}(")) || text.contains(&format!("fn {name}<"))
}

/// `.rs` files under `dir`, skipping build output and hidden directories.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

/// Finds the test `path::name`: in the named file, else (the file was split or moved)
/// anywhere under the directory that held it, within its crate. `Ok(None)` when it is in
/// the named file, `Ok(Some(file))` when it was found elsewhere.
fn locate(root: &Path, entry: &str) -> Result<Option<PathBuf>, String> {
    let (path, name) = entry
        .rsplit_once("::")
        .ok_or_else(|| format!("`{entry}` is not `path::name`"))?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`{entry}`: `{name}` is not a function name"));
    }
    let file = root.join(path);
    if let Ok(text) = fs::read_to_string(&file)
        && defines(&text, name)
    {
        return Ok(None);
    }
    let krate = root.join(path.split('/').next().unwrap_or(path));
    let mut dir = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(krate.clone());
    while !dir.is_dir() && dir.starts_with(&krate) && dir != krate {
        dir = dir.parent().map(Path::to_path_buf).unwrap_or(krate.clone());
    }
    if !dir.starts_with(&krate) || !dir.is_dir() {
        return Err(format!("`{entry}`: no such crate directory"));
    }
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    files.sort();
    for f in files {
        if let Ok(text) = fs::read_to_string(&f)
            && defines(&text, name)
        {
            return Ok(Some(f));
        }
    }
    Err(format!(
        "`{entry}`: no `fn {name}(` in {path} nor under {}",
        dir.strip_prefix(root).unwrap_or(&dir).display()
    ))
}

fn doc() -> String {
    let path = root().join("docs/conformance.md");
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_row_is_complete_and_every_named_test_exists() {
    let root = root();
    let doc = doc();
    let rows = rows(&doc);
    assert!(rows.len() > 100, "only {} rows parsed", rows.len());
    let mut problems = Vec::new();
    let mut ids = BTreeMap::new();
    for r in &rows {
        let at = format!("docs/conformance.md:{} ({})", r.line, r.id);
        if r.id.is_empty() || ids.insert(r.id.clone(), r.line).is_some() {
            problems.push(format!("{at}: missing or duplicate ID"));
        }
        if r.section.is_empty() || r.requirement.is_empty() {
            problems.push(format!("{at}: empty section or requirement"));
        }
        if !STATUSES.contains(&r.status.as_str()) {
            problems.push(format!(
                "{at}: status {:?} is not one of {STATUSES:?}",
                r.status
            ));
        }
        if r.status == "tested" && r.tests.is_empty() {
            problems.push(format!("{at}: `tested` but no test named"));
        }
        if r.status != "tested" && r.notes.is_empty() {
            problems.push(format!("{at}: `{}` needs a reason in Notes", r.status));
        }
        for t in &r.tests {
            match locate(&root, t) {
                Ok(None) => {}
                Ok(Some(found)) => eprintln!(
                    "{at}: `{t}` moved to {} (update the table)",
                    found.strip_prefix(&root).unwrap_or(&found).display()
                ),
                Err(e) => problems.push(format!("{at}: {e}")),
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn gaps_are_listed_at_the_end_and_the_summary_adds_up() {
    let doc = doc();
    let rows = rows(&doc);
    let (_, gaps) = doc
        .split_once("## Gaps still open")
        .expect("a \"Gaps still open\" section");
    let mut problems = Vec::new();
    for r in rows.iter().filter(|r| r.status == "gap") {
        if !gaps.contains(&format!("{},", r.id))
            && !gaps.contains(&format!("{}*", r.id))
            && !gaps.contains(&format!("{} ", r.id))
        {
            problems.push(format!("gap {} is not under \"Gaps still open\"", r.id));
        }
    }
    // Every ID named there is a gap row (no stale entries).
    for word in gaps.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        if let Some(r) = rows.iter().find(|r| r.id == word)
            && r.status != "gap"
        {
            problems.push(format!("{word} is listed as a gap but is `{}`", r.status));
        }
    }
    // The "all" summary row matches the tables.
    let mut count = BTreeMap::new();
    for r in &rows {
        *count.entry(r.status.as_str()).or_insert(0usize) += 1;
    }
    let want = format!(
        "| all | {} | {} | {} | {} | {} |",
        rows.len(),
        count.get("tested").unwrap_or(&0),
        count.get("n/a").unwrap_or(&0),
        count.get("deviates").unwrap_or(&0),
        count.get("gap").unwrap_or(&0)
    );
    if !doc.contains(&want) {
        problems.push(format!("summary row should be `{want}`"));
    }
    let mut per_rfc: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for r in &rows {
        let rfc = r.id.split('-').next().unwrap_or("");
        let k = STATUSES.iter().position(|s| *s == r.status).unwrap_or(0);
        per_rfc.entry(rfc).or_default()[k] += 1;
    }
    for (rfc, [t, na, d, g]) in per_rfc {
        eprintln!(
            "RFC {rfc}: {} rows: {t} tested, {na} n/a, {d} deviates, {g} gap",
            t + na + d + g
        );
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_checker_catches_rot() {
    let doc = "| ID | Section | Level | Requirement | Status | Tests | Notes |\n\
               |----|---------|-------|-------------|--------|-------|-------|\n\
               | X-1 | 1 | MUST | a | | smtp-proto/tests/reply.rs::no_such_test | |\n\
               | X-2 | 2 | MUST | b \\| c | tested | smtp-proto/tests/reply.rs::slice_parse | |\n";
    let rows = rows(doc);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].status, "");
    assert_eq!(rows[1].requirement, "b | c");
    let root = root();
    assert!(locate(&root, &rows[0].tests[0]).is_err());
    assert_eq!(locate(&root, &rows[1].tests[0]), Ok(None));
    // A test whose file moved within its directory tree is still found, and reported.
    let moved = locate(&root, "smtp-proto/tests/no_such_file.rs::slice_parse").unwrap();
    assert!(moved.unwrap().ends_with("smtp-proto/tests/reply.rs"));
    assert!(locate(&root, "smtp-proto/tests/reply.rs::").is_err());
}
