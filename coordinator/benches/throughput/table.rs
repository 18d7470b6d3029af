//! One row per measured configuration, and the markdown tables (ours, then ours against the
//! peer's figures from the same run).

use std::path::Path;

use serde_json::{Value, json};

/// One measured configuration.
#[derive(Debug, Clone)]
pub struct Row {
    /// `trials`, `reports` or `best`.
    pub mode: &'static str,
    /// Worker slots (concurrent trial streams).
    pub slots: u32,
    /// Worker processes (or protocol clients).
    pub processes: u32,
    /// Trials asked for.
    pub requested: u64,
    /// Trials recorded complete or pruned.
    pub recorded: u64,
    /// Seconds from the first attempt's start to the last attempt's end (database clock).
    pub seconds: f64,
    /// Seconds from starting the processes to their exit.
    pub wall_seconds: f64,
    /// Epochs reported (each checked by the early-stopping rule).
    pub reports: u64,
    /// Report calls that carried them.
    pub report_calls: u64,
    /// CPU of every process involved (coordinator, workers) per recorded trial.
    pub cpu_ms_per_trial: Option<f64>,
    /// Errors of any kind: failed or missing trials, failed processes, warnings logged.
    pub errors: u64,
    /// What they were.
    pub error_kinds: Vec<String>,
    /// The 1-minute load average when the row started.
    pub load: f64,
    /// For `best`: median and slowest wall milliseconds of the command.
    pub best_ms: Option<(f64, f64)>,
}

impl Row {
    /// Trials per second.
    pub fn trials_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.recorded as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Epoch reports per second, if the row reports.
    pub fn reports_per_s(&self) -> Option<f64> {
        (self.reports > 0 && self.seconds > 0.0).then(|| self.reports as f64 / self.seconds)
    }

    /// One line for the progress log.
    pub fn summary(&self) -> String {
        match self.best_ms {
            Some((median, worst)) => format!(
                "best on {} trials: median {median:.1} ms, slowest {worst:.1} ms, {} errors",
                self.recorded, self.errors
            ),
            None => format!(
                "{} x{}: {:.0} trials/s{}, {} errors{}",
                self.mode,
                self.slots,
                self.trials_per_s(),
                self.reports_per_s()
                    .map_or(String::new(), |r| format!(", {r:.0} reports/s")),
                self.errors,
                self.error_kinds
                    .first()
                    .map_or(String::new(), |e| format!(" (first: {e})"))
            ),
        }
    }
}

/// The load average (1, 5, 15 minutes).
pub fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut out = [0.0; 3];
    for (slot, field) in out.iter_mut().zip(text.split_whitespace()) {
        *slot = field.parse().unwrap_or(0.0);
    }
    out
}

/// The peer's results (`optuna_throughput.py --json`).
pub fn read_peer(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    serde_json::from_str(&text).map_err(|err| format!("{}: not JSON: {err}", path.display()))
}

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or("-".to_string(), |v| format!("{v:.digits$}"))
}

/// Our rows, then (with `peer`) the comparison.
pub fn markdown(rows: &[Row], peer: Option<&Value>, load: [f64; 3], dir: &Path) -> String {
    let mut out = vec![
        "| mode | slots (processes) | trials requested / recorded | seconds (wall) | trials/s \
         | reports/s (report calls) | CPU ms/trial | errors | load (1 min) |"
            .to_string(),
        "|---|---|---|---|---|---|---|---|---|".to_string(),
    ];
    for r in rows.iter().filter(|r| r.best_ms.is_none()) {
        out.push(format!(
            "| {} | {} ({}) | {} / {} | {:.2} ({:.1}) | {:.0} | {} | {} | {} | {:.1} |",
            r.mode,
            r.slots,
            r.processes,
            r.requested,
            r.recorded,
            r.seconds,
            r.wall_seconds,
            r.trials_per_s(),
            r.reports_per_s()
                .map_or("-".to_string(), |v| format!("{v:.0} ({})", r.report_calls)),
            opt(r.cpu_ms_per_trial, 2),
            r.errors,
            r.load
        ));
    }
    for r in rows {
        if let Some((median, worst)) = r.best_ms {
            out.push(format!(
                "\n`hypersearch best --top 10` on a {}-trial study: median {median:.1} ms, \
                 slowest {worst:.1} ms (whole process, {} runs); errors {}; load {:.1}",
                r.recorded, r.processes, r.errors, r.load
            ));
        }
    }
    out.push(format!(
        "\nload average (1, 5, 15 min) at start: {:.2}, {:.2}, {:.2}; databases under {}",
        load[0],
        load[1],
        load[2],
        dir.display()
    ));
    for r in rows {
        for kind in &r.error_kinds {
            out.push(format!("{} x{}: {kind}", r.mode, r.slots));
        }
    }
    if let Some(peer) = peer {
        out.push(String::new());
        out.push(comparison(rows, peer));
    }
    out.join("\n")
}

/// The peer's row of `mode` with `processes` processes.
fn peer_row<'a>(peer: &'a Value, mode: &str, processes: u32) -> Option<&'a Value> {
    peer["rows"].as_array()?.iter().find(|r| {
        r["mode"].as_str() == Some(mode) && r["processes"].as_u64() == Some(u64::from(processes))
    })
}

fn ratio(ours: f64, theirs: Option<f64>) -> String {
    match theirs {
        Some(t) if t > 0.0 => format!("{:.0} / {:.1}×", t, ours / t),
        _ => "-".to_string(),
    }
}

/// Ours against the peer: trials/s per slot count, and reports/s.
fn comparison(rows: &[Row], peer: &Value) -> String {
    let mut out = vec![
        "| workload | hypersearch | Optuna + SQLite (ratio) | Optuna journal file (ratio) \
         | Optuna gRPC proxy (ratio) |"
            .to_string(),
        "|---|---|---|---|---|".to_string(),
    ];
    let figure =
        |mode: &str, n: u32, key: &str| peer_row(peer, mode, n).and_then(|r| r[key].as_f64());
    for r in rows.iter().filter(|r| r.mode == "trials") {
        let ours = r.trials_per_s();
        out.push(format!(
            "| trials/s, {} slots | {ours:.0} | {} | {} | {} |",
            r.slots,
            ratio(ours, figure("sqlite", r.slots, "trials_per_s")),
            ratio(ours, figure("journal", r.slots, "trials_per_s")),
            ratio(ours, figure("grpc", r.slots, "trials_per_s")),
        ));
    }
    for r in rows.iter().filter(|r| r.mode == "reports") {
        let ours = r.reports_per_s().unwrap_or(0.0);
        out.push(format!(
            "| reports/s, {} slots | {ours:.0} | {} | {} | - |",
            r.slots,
            ratio(ours, figure("sqlite-reports", r.slots, "reports_per_s")),
            ratio(ours, figure("journal-reports", r.slots, "reports_per_s")),
        ));
    }
    let load = &peer["load_average"];
    out.push(format!(
        "\npeer: Optuna {} (its load average at start: {}), storage under {}",
        peer["version"].as_str().unwrap_or("?"),
        load,
        peer["dir"].as_str().unwrap_or("?")
    ));
    out.join("\n")
}

/// The rows as one JSON object.
pub fn json(rows: &[Row], load: [f64; 3], dir: &Path) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "mode": r.mode, "slots": r.slots, "processes": r.processes,
                "requested": r.requested, "recorded": r.recorded, "seconds": r.seconds,
                "wall_seconds": r.wall_seconds, "trials_per_s": r.trials_per_s(),
                "reports": r.reports, "report_calls": r.report_calls,
                "reports_per_s": r.reports_per_s(), "cpu_ms_per_trial": r.cpu_ms_per_trial,
                "errors": r.errors, "error_kinds": r.error_kinds, "load_1min": r.load,
                "best_ms": r.best_ms.map(|(m, w)| json!({"median": m, "slowest": w})),
            })
        })
        .collect();
    json!({"impl": "hypersearch", "load_average": load, "dir": dir, "rows": rows})
}
