//! The soak binary end to end, small: against the faulty sink (plain `cargo test`) and
//! through Postfix with a reload and a stop + start (`#[ignore]`: needs the servers of
//! scripts/servers/start; scripts/test-all runs it in its real-servers stage).

use std::process::Command;

fn soak(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(args)
        .output()
        .expect("the soak binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn small_soak_against_the_faulty_sink_loses_and_duplicates_nothing() {
    let (ok, out) = soak(&["--async", "1500", "--blocking", "500", "--seed", "7"]);
    assert!(ok, "{out}");
    assert!(out.contains("\n11 passed, 0 failed"), "{out}");
}

#[test]
#[ignore = "needs the real servers (scripts/servers/start; run by scripts/test-all)"]
fn postfix_soak_with_a_reload_and_a_restart() {
    let (ok, out) = soak(&[
        "postfix",
        "--messages",
        "2000",
        "--restart",
        "0.3:reload",
        "--restart",
        "0.6:restart",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("\n9 passed, 0 failed"), "{out}");
}
