//! The comparisons of the two protocol eras (issue 10 "Performance"): stateless requests
//! (`sidecar-stateless`: MCP 2026-07-28, no session) against legacy sessions (`sidecar`) on the
//! same sidecar build and settings, and the memory of 64 legacy sessions in isolated mode
//! (`sidecar`) and shared mode (`sidecar-shared`) against one session's.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::report::{best_rps, cell, of_kind, str_of, tools};

pub const STATELESS: &str = "sidecar-stateless";
pub const SHARED: &str = "sidecar-shared";
const LEGACY: &str = "sidecar";
const SHAPES: [&str; 3] = ["1x1", "1x16", "64x1"];
/// Shared mode: 64 sessions within this factor of one session's total memory.
const SHARED_MEMORY_FACTOR: f64 = 1.5;

/// Total RSS (KiB) of a target's process tree with one session open and with all of them open.
fn tree_kib(lines: &[Value], target: &str, tool: &str) -> Option<(u64, u64, u64)> {
    let line =
        of_kind(lines, "rss").find(|l| str_of(l, "target") == target && l["tool"] == tool)?;
    Some((
        line["one"]["tree_kib"].as_u64()?,
        line["opened"]["tree_kib"].as_u64()?,
        line["sessions_open"].as_u64()?,
    ))
}

/// The goals: stateless at least as fast as legacy sessions at every shape; shared mode with 64
/// sessions within 1.5x of one session's total memory.
pub fn judge(lines: &[Value]) -> Vec<Value> {
    let mut verdicts = Vec::new();
    for tool in tools(lines) {
        for shape in SHAPES {
            let stateless = best_rps(lines, &tool, shape, |t| t == STATELESS);
            let legacy = best_rps(lines, &tool, shape, |t| t == LEGACY);
            let met = stateless.zip(legacy).map(|(s, l)| s >= l);
            verdicts.push(json!({"tool": tool, "shape": shape,
                "goal": "stateless requests >= legacy sessions", "sidecar_rps": stateless,
                "reference_rps": legacy, "met": met}));
        }
        if let Some((one, all, open)) = tree_kib(lines, SHARED, &tool) {
            verdicts.push(json!({"tool": tool, "shape": format!("{open}x1"),
                "goal": "shared mode: total memory with 64 sessions <= 1.5x one session's",
                "sidecar_rps": all, "reference_rps": one,
                "met": all as f64 <= SHARED_MEMORY_FACTOR * one as f64}));
        }
    }
    verdicts
}

/// The two tables of this comparison.
pub fn markdown(md: &mut String, lines: &[Value]) {
    for tool in tools(lines) {
        let _ = write!(
            md,
            "\n## Stateless requests against legacy sessions, tool `{tool}`\n\nSame sidecar settings (isolated mode; the stateless clients are one user, served by that user's child). Cells as above, best framing of each.\n\n| shape | stateless (2026-07-28) | legacy sessions | stateless / legacy |\n|---|---|---|---|\n"
        );
        for shape in SHAPES {
            let best = |target: &str| {
                lines
                    .iter()
                    .filter(|l| l["kind"] == "shape" && l["tool"] == tool.as_str())
                    .filter(|l| l["shape"] == shape && str_of(l, "target") == target)
                    .max_by(|a, b| {
                        let rps = |l: &Value| l["rps"].as_f64().unwrap_or(0.0);
                        rps(a).total_cmp(&rps(b))
                    })
            };
            let (stateless, legacy) = (best(STATELESS), best(LEGACY));
            let ratio = match (stateless, legacy) {
                (Some(s), Some(l)) => {
                    let (s, l) = (
                        s["rps"].as_f64().unwrap_or(0.0),
                        l["rps"].as_f64().unwrap_or(0.0),
                    );
                    if l > 0.0 {
                        format!("{:.2}", s / l)
                    } else {
                        "-".into()
                    }
                }
                _ => "-".into(),
            };
            let show = |l: Option<&Value>| {
                l.map_or_else(
                    || "-".into(),
                    |l| format!("{} {}", cell(l), str_of(l, "framing")),
                )
            };
            let _ = writeln!(
                md,
                "| {shape} | {} | {} | {ratio} |",
                show(stateless),
                show(legacy)
            );
        }
        let _ = write!(
            md,
            "\n## Memory with legacy sessions, tool `{tool}`\n\nTotal RSS of the sidecar and all its children (KiB), with one session open and with all of them open.\n\n| mode | one session | sessions open | all open | all / one |\n|---|---|---|---|---|\n"
        );
        for (mode, target) in [("isolated", LEGACY), ("shared", SHARED)] {
            match tree_kib(lines, target, &tool) {
                Some((one, all, open)) => {
                    let _ = writeln!(
                        md,
                        "| {mode} | {one} | {open} | {all} | {:.2} |",
                        all as f64 / one.max(1) as f64
                    );
                }
                None => {
                    let _ = writeln!(md, "| {mode} | - | - | - | - |");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stateless_is_judged_against_legacy_and_shared_memory_against_one_session() {
        let shape = |target: &str, rps: f64| {
            json!({"kind": "shape", "target": target, "tool": "echo", "shape": "1x1",
                   "framing": "json", "rps": rps, "errors": 0})
        };
        let rss = json!({"kind": "rss", "target": SHARED, "tool": "echo", "sessions_open": 64,
            "one": {"tree_kib": 1000}, "opened": {"tree_kib": 1400}});
        let lines = vec![shape(STATELESS, 900.0), shape(LEGACY, 800.0), rss];
        let verdicts = judge(&lines);
        let first = &verdicts[0];
        assert_eq!(
            (first["shape"].as_str(), first["met"].as_bool()),
            (Some("1x1"), Some(true))
        );
        assert_eq!(verdicts[1]["met"], Value::Null, "1x16 not measured");
        let memory = verdicts.last().unwrap();
        assert_eq!(memory["met"], true);
        let mut md = String::new();
        markdown(&mut md, &lines);
        assert!(md.contains("| 1x1 | 900 ("), "{md}");
        assert!(md.contains("| shared | 1000 | 64 | 1400 | 1.40 |"), "{md}");
    }
}
