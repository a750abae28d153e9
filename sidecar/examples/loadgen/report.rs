//! Turns the JSON lines of one benchmark run into `reports/bench-sidecar.json` (every line, grouped)
//! and `reports/bench-sidecar.md` (the tables a person reads, with the targets checked).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde_json::{Value, json};

use crate::error::Error;

/// The target that is judged against the others; `stdio` is the lower bound, the rest are peers.
const SUBJECT: &str = "sidecar";
const LOWER_BOUND: &str = "stdio";
const SHAPES: [&str; 4] = ["1x1", "1x16", "16x4", "64x1"];

pub fn write(input: &Path, json_out: &Path, md_out: &Path) -> Result<(), Error> {
    let text = fs::read_to_string(input)?;
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let lines = one_per_cell(lines);
    let group = |kind: &str| Value::Array(of_kind(&lines, kind).cloned().collect());
    let report = json!({
        "meta": group("meta"),
        "throughput": group("shape"),
        "unsupported": group("unsupported"),
        "session_create": group("session_create"),
        "rss": group("rss"),
        "probes": group("probe"),
        "leftover_processes": group("leftover"),
        "targets": judge(&lines),
    });
    fs::write(json_out, serde_json::to_vec_pretty(&report)?)?;
    fs::write(md_out, markdown(&lines, &report["targets"]))?;
    Ok(())
}

/// With several rounds (`BENCH_ROUNDS`), one line per measurement: for throughput the round with
/// the median requests/s (its latencies and CPU figures come with it), carrying every round's rate in
/// `rps_rounds`; for the others the first round. Run facts (`meta`, `leftover`) are all kept.
fn one_per_cell(lines: Vec<Value>) -> Vec<Value> {
    let key = |l: &Value| {
        [
            "kind",
            "target",
            "tool",
            "framing",
            "shape",
            "label",
            "accept_variant",
        ]
        .map(|k| l[k].to_string())
        .join("|")
    };
    let mut cells: Vec<(String, Vec<Value>)> = Vec::new();
    for line in lines {
        let k = key(&line);
        let kept = matches!(str_of(&line, "kind"), "meta" | "leftover");
        match cells.iter_mut().find(|(other, _)| *other == k) {
            Some((_, runs)) if !kept => runs.push(line),
            _ => cells.push((k, vec![line])),
        }
    }
    cells
        .into_iter()
        .filter_map(|(_, mut runs)| {
            if runs.len() == 1 || runs[0]["kind"] != "shape" {
                return runs.into_iter().next();
            }
            let rps = |l: &Value| l["rps"].as_f64().unwrap_or(0.0);
            runs.sort_by(|a, b| rps(a).total_cmp(&rps(b)));
            let all: Vec<f64> = runs.iter().map(rps).collect();
            let mut median = runs.swap_remove((runs.len() - 1) / 2);
            median["rps_rounds"] = json!(all);
            Some(median)
        })
        .collect()
}

pub fn str_of<'a>(line: &'a Value, key: &str) -> &'a str {
    line[key].as_str().unwrap_or("")
}

pub fn tools(lines: &[Value]) -> Vec<String> {
    let mut tools: Vec<String> = Vec::new();
    for line in lines {
        let tool = str_of(line, "tool");
        if !tool.is_empty() && !tools.iter().any(|t| t == tool) {
            tools.push(tool.into());
        }
    }
    tools
}

/// Best requests/s of the targets `pick` accepts, over every framing, for one tool and shape.
pub fn best_rps(
    lines: &[Value],
    tool: &str,
    shape: &str,
    pick: impl Fn(&str) -> bool,
) -> Option<f64> {
    lines
        .iter()
        .filter(|l| l["kind"] == "shape" && l["tool"] == tool && l["shape"] == shape)
        .filter(|l| l["errors"].as_u64() == Some(0) && pick(str_of(l, "target")))
        .filter_map(|l| l["rps"].as_f64())
        .reduce(f64::max)
}

/// The performance targets, each with the measured figures and whether it is met.
fn judge(lines: &[Value]) -> Value {
    let mut verdicts = Vec::new();
    // The sidecar's other measurements (stateless, shared mode) are no peers.
    let is_peer = |t: &str| !t.starts_with(SUBJECT) && t != LOWER_BOUND;
    for tool in tools(lines) {
        for shape in SHAPES {
            let subject = best_rps(lines, &tool, shape, |t| t == SUBJECT);
            let peer = best_rps(lines, &tool, shape, is_peer);
            let stdio = best_rps(lines, &tool, shape, |t| t == LOWER_BOUND);
            let mut check = |goal: &str, factor: f64, against: Option<f64>| {
                let met = match (subject, against) {
                    (Some(s), Some(a)) => Some(s >= factor * a),
                    (Some(_), None) => Some(true),
                    _ => None,
                };
                // A goal above what the server reaches over its own stdio cannot be met by any
                // bridge: say so rather than blame the bridge.
                let attainable = match (against, stdio) {
                    (Some(a), Some(lower)) => lower >= factor * a,
                    _ => true,
                };
                verdicts.push(json!({"tool": tool, "shape": shape, "goal": goal,
                    "sidecar_rps": subject, "reference_rps": against, "met": met,
                    "attainable": attainable, "stdio_rps": stdio}));
            };
            match shape {
                "1x1" => {
                    check(">= 3x best peer", 3.0, peer);
                    check(">= 0.5x direct stdio", 0.5, stdio);
                }
                "1x16" => check(">= 3x best peer", 3.0, peer),
                _ => {
                    check("ahead of every peer", 1.0, peer);
                    check(">= 0.8x direct stdio", 0.8, stdio);
                }
            }
        }
    }
    for line in of_kind(lines, "session_create") {
        if str_of(line, "target") == SUBJECT && str_of(line, "label").starts_with("warm") {
            let p50 = line["p50_ms"].as_f64();
            verdicts.push(
                json!({"tool": line["tool"], "goal": "warm-pool session creation p50 < 10 ms",
                "p50_ms": p50, "met": p50.map(|p| p < 10.0)}),
            );
        }
    }
    verdicts.extend(crate::eras::judge(lines));
    Value::Array(verdicts)
}

fn ms(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

/// One row per (target, framing) of `tool`, one column per shape, cells from `cell_of`.
fn shape_table(md: &mut String, lines: &[Value], tool: &str, cell_of: impl Fn(&Value) -> String) {
    md.push_str("| target | framing | 1x1 | 1x16 | 16x4 | 64x1 |\n|---|---|---|---|---|---|\n");
    let mut rows: Vec<(&str, &str)> = Vec::new();
    for line in lines.iter().filter(|l| l["tool"] == tool) {
        if line["kind"] == "shape" || (line["kind"] == "unsupported" && line["framing"].is_string())
        {
            let row = (str_of(line, "target"), str_of(line, "framing"));
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
    }
    for (target, framing) in rows {
        let _ = write!(md, "| {target} | {framing} |");
        for shape in SHAPES {
            let found = lines.iter().find(|l| {
                l["tool"] == tool
                    && str_of(l, "target") == target
                    && str_of(l, "framing") == framing
                    && l["shape"] == shape
            });
            let text = match found {
                Some(l) if l["kind"] == "shape" => cell_of(l),
                Some(l) => format!("not served: {}", str_of(l, "reason")),
                None => "-".into(),
            };
            let _ = write!(md, " {text} |");
        }
        md.push('\n');
    }
}

/// Lines of one kind.
pub fn of_kind<'a>(lines: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    lines.iter().filter(move |l| l["kind"] == kind)
}

/// A Markdown section with a table; "None." when there are no rows.
fn table(md: &mut String, title: &str, header: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let _ = write!(md, "\n## {title}\n\n| {} |\n|", header.join(" | "));
    md.push_str(&"---|".repeat(header.len()));
    md.push('\n');
    let mut any = false;
    for row in rows {
        any = true;
        let _ = writeln!(md, "| {} |", row.join(" | "));
    }
    if !any {
        md.push_str("\nNone.\n");
    }
}

fn or_dash(value: &Value) -> String {
    if value.is_null() {
        "-".into()
    } else {
        value.to_string()
    }
}

pub fn cell(line: &Value) -> String {
    let mut text = format!(
        "{:.0} ({} / {})",
        line["rps"].as_f64().unwrap_or(0.0),
        ms(&line["p50_ms"]),
        ms(&line["p99_ms"])
    );
    if let Some(rounds) = line["rps_rounds"].as_array() {
        let rate = |v: Option<&Value>| v.and_then(Value::as_f64).unwrap_or(0.0);
        let _ = write!(
            text,
            " [{:.0}-{:.0}]",
            rate(rounds.first()),
            rate(rounds.last())
        );
    }
    let errors = line["errors"].as_u64().unwrap_or(0);
    if errors > 0 {
        let _ = write!(text, " **{errors} errors**");
    }
    text
}

fn markdown(lines: &[Value], verdicts: &Value) -> String {
    let mut md = String::from("# Sidecar benchmark\n\n");
    for meta in of_kind(lines, "meta") {
        if let Value::Object(map) = meta {
            for (key, value) in map.iter().filter(|(k, _)| *k != "kind") {
                let value = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                let _ = writeln!(md, "- {key}: {value}");
            }
        }
    }
    md.push_str("\nTargets:\n\n");
    let mut noted: Vec<&str> = Vec::new();
    for line in of_kind(lines, "shape") {
        let target = str_of(line, "target");
        if !noted.contains(&target) {
            noted.push(target);
            let _ = writeln!(md, "- {target}: {}", str_of(line, "note"));
        }
    }
    md.push_str("\nCells: checked requests/s (p50 / p99 latency in ms) [lowest-highest round, when several]. Every answer is checked (id, echoed text or a valid UTC time); errors are shown when not zero.\n");
    for tool in tools(lines) {
        let _ = writeln!(md, "\n## Throughput, tool `{tool}`\n");
        shape_table(&mut md, lines, &tool, cell);
        for line in lines.iter().filter(|l| {
            l["tool"] == tool.as_str() && l["kind"] == "unsupported" && !l["framing"].is_string()
        }) {
            let _ = writeln!(
                md,
                "\n{} could not be measured: {}",
                str_of(line, "target"),
                line["reason"]
            );
        }
    }
    for tool in tools(lines) {
        let _ = writeln!(
            md,
            "\n## CPU per request, tool `{tool}`\n\nMicroseconds of CPU per checked request during the measured window: bridge process / its children (+ the other replica's sidecar process, for replicas).\n"
        );
        shape_table(&mut md, lines, &tool, |l| {
            let peer = l["peer_cpu_us_per_request"]
                .as_f64()
                .map_or_else(String::new, |us| format!(" (+{us} peer)"));
            format!(
                "{} / {}{peer}",
                or_dash(&l["bridge_cpu_us_per_request"]),
                or_dash(&l["children_cpu_us_per_request"])
            )
        });
    }
    crate::eras::markdown(&mut md, lines);
    let rows = verdicts.as_array().map(Vec::as_slice).unwrap_or_default();
    table(
        &mut md,
        "Targets of the issue",
        &["tool", "shape", "goal", "sidecar", "reference", "met"],
        rows.iter().map(|v| {
            let measured = if v["p50_ms"].is_null() {
                or_dash(&v["sidecar_rps"])
            } else {
                format!("p50 {} ms", ms(&v["p50_ms"]))
            };
            let (tool, shape, goal) = (str_of(v, "tool"), str_of(v, "shape"), str_of(v, "goal"));
            let met = match (v["met"].as_bool(), v["attainable"].as_bool()) {
                (Some(false), Some(false)) => {
                    "false (unattainable: direct stdio is below the goal)".into()
                }
                _ => or_dash(&v["met"]),
            };
            vec![
                tool.into(),
                shape.into(),
                goal.into(),
                measured,
                or_dash(&v["reference_rps"]),
                met,
            ]
        }),
    );
    table(
        &mut md,
        "Session creation (initialize round trip, sessions opened one after another)",
        &[
            "target", "tool", "how", "sessions", "p50 ms", "p99 ms", "max ms", "failure",
        ],
        of_kind(lines, "session_create").map(|l| {
            let failure = l["failure"].as_str().unwrap_or("");
            vec![
                str_of(l, "target").into(),
                str_of(l, "tool").into(),
                str_of(l, "label").into(),
                l["sessions"].to_string(),
                ms(&l["p50_ms"]),
                ms(&l["p99_ms"]),
                ms(&l["max_ms"]),
                failure.into(),
            ]
        }),
    );
    table(
        &mut md,
        "Memory (RSS of the bridge process tree)",
        &[
            "target",
            "tool",
            "sessions open",
            "processes",
            "bridge KiB idle",
            "bridge KiB, sessions opened",
            "bridge KiB per session, opened",
            "bridge KiB after the load",
            "bridge KiB per session, after the load",
            "tree KiB open",
        ],
        of_kind(lines, "rss").map(|l| {
            let open = l["sessions_open"].as_u64().unwrap_or(0);
            // Growth over the idle bridge, per session: right after opening (what an open session
            // holds), and after the load (plus what the allocator kept from the busiest moment).
            let per = |phase: &str| match (
                l["idle"]["root_kib"].as_u64(),
                l[phase]["root_kib"].as_u64(),
            ) {
                (Some(idle), Some(full)) if open > 0 && full > 0 => {
                    format!("{:.1}", (full as f64 - idle as f64) / open as f64)
                }
                _ => "-".into(),
            };
            vec![
                str_of(l, "target").into(),
                str_of(l, "tool").into(),
                open.to_string(),
                or_dash(&l["open"]["processes"]),
                or_dash(&l["idle"]["root_kib"]),
                or_dash(&l["opened"]["root_kib"]),
                per("opened"),
                or_dash(&l["open"]["root_kib"]),
                per("open"),
                or_dash(&l["open"]["tree_kib"]),
            ]
        }),
    );
    table(
        &mut md,
        "Answer framing by Accept header (one checked call each)",
        &["target", "tool", "variant", "Accept", "framing", "error"],
        of_kind(lines, "probe").map(|l| {
            let error = l["error"].as_str().unwrap_or("").replace('|', "\\|");
            vec![
                str_of(l, "target").into(),
                str_of(l, "tool").into(),
                str_of(l, "accept_variant").into(),
                format!("`{}`", str_of(l, "accept")),
                str_of(l, "framing").into(),
                error,
            ]
        }),
    );
    table(
        &mut md,
        "Processes left behind after the bridge exited on SIGTERM",
        &["target", "phase", "pids"],
        of_kind(lines, "leftover").map(|l| {
            vec![
                str_of(l, "target").into(),
                str_of(l, "phase").into(),
                str_of(l, "pids").into(),
            ]
        }),
    );
    let errors: Vec<&Value> = lines
        .iter()
        .filter(|l| l["errors"].as_u64().unwrap_or(0) > 0)
        .collect();
    if !errors.is_empty() {
        md.push_str("\n## Error samples\n\n");
        for l in errors {
            let _ = writeln!(
                md,
                "- {} {} {} {}: {} {}",
                str_of(l, "target"),
                str_of(l, "tool"),
                str_of(l, "framing"),
                str_of(l, "shape"),
                l["error_classes"],
                l["error_samples"]
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_collapse_to_the_median_cell_and_first_other_measurements() {
        let shape = |rps: f64, p50: f64| {
            json!({"kind": "shape", "target": "sidecar", "tool": "echo", "framing": "json",
                   "shape": "1x1", "rps": rps, "p50_ms": p50})
        };
        let rss =
            |kib: u64| json!({"kind": "rss", "target": "sidecar", "tool": "echo", "open": kib});
        let meta = |key: &str| json!({"kind": "meta", key: 1});
        let lines = vec![
            meta("start"),
            shape(300.0, 3.0),
            rss(10),
            shape(100.0, 1.0),
            rss(20),
            shape(200.0, 2.0),
            meta("end"),
        ];
        let out = one_per_cell(lines);
        assert_eq!(out.len(), 4, "{out:?}");
        let median = out.iter().find(|l| l["kind"] == "shape").unwrap();
        assert_eq!(median["rps"], 200.0);
        assert_eq!(
            median["p50_ms"], 2.0,
            "latencies come from the median round"
        );
        assert_eq!(median["rps_rounds"], json!([100.0, 200.0, 300.0]));
        assert_eq!(out.iter().find(|l| l["kind"] == "rss").unwrap()["open"], 10);
        assert_eq!(of_kind(&out, "meta").count(), 2);
        assert_eq!(cell(median), "200 (2.00 / -) [100-300]");
    }
}
