//! Running every scenario x server x adapter, and the markdown matrix of the results.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use crate::spec::ServerSpec;
use crate::{Adapter, Outcome, Scenario};

/// One cell: scenario x server x adapter.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Row.
    pub scenario: &'static str,
    /// Column.
    pub server: &'static str,
    /// Adapter.
    pub adapter: &'static str,
    /// Result.
    pub outcome: Outcome,
    /// Wall time, seconds.
    pub secs: f64,
}

/// Runs every cell; one thread per server (the servers are independent; the scenarios of
/// one server run one after the other). `on_cell` sees each cell as it completes.
pub fn run(
    adapters: &[Box<dyn Adapter>],
    servers: &[ServerSpec],
    scenarios: &[Scenario],
    on_cell: &(dyn Fn(&Cell) + Sync),
) -> Vec<Cell> {
    let mut cells: Vec<Cell> = std::thread::scope(|sc| {
        let handles: Vec<_> = servers
            .iter()
            .map(|spec| {
                sc.spawn(move || {
                    let mut out = Vec::new();
                    for s in scenarios {
                        for a in adapters {
                            let t = Instant::now();
                            let outcome = catch_unwind(AssertUnwindSafe(|| (s.run)(&**a, spec)))
                                .unwrap_or_else(|p| {
                                    let msg = p
                                        .downcast_ref::<String>()
                                        .cloned()
                                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                        .unwrap_or_default();
                                    Outcome::Fail(format!("panicked: {msg}"))
                                });
                            let cell = Cell {
                                scenario: s.name,
                                server: spec.name,
                                adapter: a.name(),
                                outcome,
                                secs: t.elapsed().as_secs_f64(),
                            };
                            on_cell(&cell);
                            out.push(cell);
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("the runner threads catch panics"))
            .collect()
    });
    // Row order, then column order, then adapter order.
    let pos = |c: &Cell| {
        (
            scenarios.iter().position(|s| s.name == c.scenario),
            servers.iter().position(|s| s.name == c.server),
            adapters.iter().position(|a| a.name() == c.adapter),
        )
    };
    cells.sort_by_key(pos);
    cells
}

/// The README section: one table (rows scenarios, columns servers; a cell lists the
/// adapters when they disagree), then the n/a reasons as numbered notes. Deterministic:
/// only labels and the static n/a reasons, no timings or reply texts.
pub fn render(
    adapters: &[Box<dyn Adapter>],
    servers: &[ServerSpec],
    scenarios: &[Scenario],
    cells: &[Cell],
) -> String {
    let mut notes: Vec<&'static str> = Vec::new();
    let mut note = |why: &'static str| {
        let i = notes.iter().position(|n| *n == why).unwrap_or_else(|| {
            notes.push(why);
            notes.len() - 1
        });
        i + 1
    };
    let by: BTreeMap<(&str, &str, &str), &Outcome> = cells
        .iter()
        .map(|c| ((c.scenario, c.server, c.adapter), &c.outcome))
        .collect();
    let names: Vec<&str> = adapters.iter().map(|a| a.name()).collect();
    let mut out = String::new();
    out.push_str(&format!(
        "Adapters: {} (a cell names the adapter when they differ). Servers: see \
         `scripts/servers/README.md`.\n\n",
        names.join(", ")
    ));
    out.push_str("| scenario |");
    for s in servers {
        out.push_str(&format!(" {} |", s.name));
    }
    out.push_str("\n|---|");
    for _ in servers {
        out.push_str("---|");
    }
    out.push('\n');
    for sc in scenarios {
        out.push_str(&format!("| {} |", sc.name));
        for sv in servers {
            let labels: Vec<String> = names
                .iter()
                .map(|a| match by.get(&(sc.name, sv.name, *a)) {
                    Some(Outcome::NotApplicable(why)) => format!("n/a [{}]", note(why)),
                    Some(o) => o.label().to_string(),
                    None => "not run".to_string(),
                })
                .collect();
            let cell = if labels.iter().all(|l| *l == labels[0]) {
                labels[0].clone()
            } else {
                names
                    .iter()
                    .zip(&labels)
                    .map(|(a, l)| format!("{a}: {l}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out.push_str("\nn/a:\n\n");
    for (i, n) in notes.iter().enumerate() {
        out.push_str(&format!("{}. {n}\n", i + 1));
    }
    out
}

/// The markers around the generated section in the README.
pub const BEGIN: &str = "<!-- interop-matrix begin: generated by `cargo test -p smtp-interop -- --ignored` (SMTP_INTEROP_BLESS=1 rewrites it); CI fails if it differs -->";
/// End marker.
pub const END: &str = "<!-- interop-matrix end -->";

/// The section of `readme` between the markers, if present.
pub fn section(readme: &str) -> Option<&str> {
    let b = readme.find(BEGIN)? + BEGIN.len();
    let e = readme[b..].find(END)? + b;
    Some(readme[b..e].trim_matches('\n'))
}

/// `readme` with its section replaced by `matrix`.
pub fn replace_section(readme: &str, matrix: &str) -> Option<String> {
    let b = readme.find(BEGIN)? + BEGIN.len();
    let e = readme[b..].find(END)? + b;
    Some(format!(
        "{}\n{}\n{}",
        &readme[..b],
        matrix.trim_end(),
        &readme[e..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_round_trip() {
        let r = format!("# x\n\n{BEGIN}\nold\n{END}\nrest\n");
        assert_eq!(section(&r), Some("old"));
        let r2 = replace_section(&r, "new\n").unwrap();
        assert_eq!(section(&r2), Some("new"));
        assert!(r2.ends_with(&format!("{END}\nrest\n")));
    }
}
