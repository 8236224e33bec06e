//! The interop matrix against the real servers started by `scripts/servers/start` and
//! `scripts/servers/interop/start` (`scripts/test-all` runs it with `--ignored`).
//!
//! Prints one line per scenario x server x adapter, fails on any failure, and fails if the
//! README's matrix section differs from this run's (`SMTP_INTEROP_BLESS=1` rewrites it).
//! The generated section is also written to `target/interop-matrix.md`.

use std::io::Write;
use std::path::Path;

use smtp_interop::{Outcome, adapters, matrix, scenarios, spec};

/// Writes to stderr directly: unlike `eprintln!`, not captured by the test harness, so
/// CI logs show every cell even when the test passes.
fn say(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(line.as_bytes());
    let _ = e.write_all(b"\n");
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn interop_matrix() {
    let servers = spec::servers().unwrap_or_else(|e| panic!("{e}"));
    let adapters = adapters::all();
    let scenarios = scenarios::all();
    let print = |c: &matrix::Cell| {
        let detail = match &c.outcome {
            Outcome::Pass(d) | Outcome::Fail(d) => d.as_str(),
            Outcome::NotApplicable(why) => why,
        };
        // One line per cell, written at once (the server threads interleave).
        say(&format!(
            "interop: {} | {} | {}: {} ({:.2} s) {detail}",
            c.server,
            c.scenario,
            c.adapter,
            c.outcome.label(),
            c.secs
        ));
    };
    let cells = matrix::run(&adapters, &servers, &scenarios, &print);
    let failed: Vec<_> = cells
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Fail(_)))
        .collect();
    let counts = |l: &str| cells.iter().filter(|c| c.outcome.label() == l).count();
    say(&format!(
        "interop: {} cells: {} pass, {} n/a, {} FAIL",
        cells.len(),
        counts("pass"),
        counts("n/a"),
        counts("FAIL")
    ));

    let md = matrix::render(&adapters, &servers, &scenarios, &cells);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let _ = std::fs::create_dir_all(root.join("target"));
    let _ = std::fs::write(root.join("target/interop-matrix.md"), &md);
    let readme_path = root.join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README.md");
    let bless = std::env::var_os("SMTP_INTEROP_BLESS").is_some_and(|v| v == "1");
    let current = matrix::section(&readme).expect("README.md has the interop-matrix markers");
    if current != md.trim_matches('\n') {
        if bless {
            let new = matrix::replace_section(&readme, &md).expect("markers present");
            std::fs::write(&readme_path, new).expect("write README.md");
            say("interop: README.md matrix rewritten");
        } else {
            say(&format!(
                "interop: README.md's matrix differs; this run's (target/interop-matrix.md):\n{md}"
            ));
        }
    }

    for c in &failed {
        if let Outcome::Fail(why) = &c.outcome {
            say(&format!(
                "FAILED: {} | {} | {}: {why}",
                c.server, c.scenario, c.adapter
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} interop cells failed (see above)",
        failed.len()
    );
    assert!(
        bless || current == md.trim_matches('\n'),
        "README.md's interop matrix differs from this run's: see target/interop-matrix.md \
         (SMTP_INTEROP_BLESS=1 rewrites it; commit the change)"
    );
}
