//! The dashboard's query parameters: the trial table's (`state`, `sort`, `order`, `offset`,
//! `limit`, `jump`, `min`, `max`, `q`), the what-if replay's (`rule`, its options, `top`) and
//! the Pareto panel's axes (`x`, `y`) and the comparison's two studies (`a`, `b`), parsed as the server parses them and answered on a
//! small made-up study. The first byte picks the endpoint; the rest is the query string.

#![no_main]

use hypersearch_dashboard::fuzzing;
use hypersearch_insight::replay::{AttemptLog, Report};
use hypersearch_insight::{Outcome, StudyTrials, TrialRow};
use hypersearch_search::{ParamValue, Params};
use libfuzzer_sys::fuzz_target;

/// The made-up study's config: a float, a choice, the median rule.
const CONFIG: &str = r#"
[study]
name = "fuzzed"
metric = "loss"
direction = "minimize"

[objective]
function = "branin"

[search]
algorithm = "random"
trials = 12
seed = 1

[search.space]
x = { float = [0, 1] }
mode = { choice = ["fast", "slow"] }

[early_stopping]
rule = "median"
"#;

/// Twelve trials of every state, with curves of up to six epochs, and their attempts' logs.
fn study() -> (StudyTrials, Vec<AttemptLog>) {
    let outcomes = [Outcome::Complete, Outcome::Pruned, Outcome::Failed, Outcome::Running];
    let mut rows = Vec::new();
    let mut logs = Vec::new();
    for number in 0..12u64 {
        let x = (number as f64 * 0.37).fract();
        let outcome = outcomes[number as usize % outcomes.len()];
        let epochs = if outcome == Outcome::Complete { 6 } else { 1 + number as u32 % 4 };
        let curve: Vec<(u32, f64)> =
            (1..=epochs).map(|e| (e, (1.0 + 4.0 * x) / f64::from(e))).collect();
        let mut params = Params::new();
        params.insert("x".into(), ParamValue::Float(x));
        params.insert("mode".into(), ParamValue::Str(["fast", "slow"][number as usize % 2].into()));
        rows.push(TrialRow {
            number,
            outcome,
            value: curve.last().map(|&(_, v)| v),
            params,
            worker: Some(format!("w{}", number % 3)),
            attempts: 1,
            started: Some(number as f64),
            finished: Some(number as f64 + 6.0),
            curve: curve.clone(),
        });
        logs.push(AttemptLog {
            trial: number,
            attempt: 1,
            started_seq: Some(number as i64 * 10),
            finished_seq: Some(number as i64 * 10 + 9),
            started: Some(number as f64),
            finished: Some(number as f64 + 6.0),
            reports: curve
                .iter()
                .map(|&(epoch, value)| Report {
                    epoch,
                    value,
                    seconds: Some(1.0),
                    seq: Some(number as i64 * 10 + i64::from(epoch)),
                    objectives: Vec::new(),
                })
                .collect(),
        });
    }
    let trials = StudyTrials {
        study: "fuzzed".into(),
        metric: "loss".into(),
        maximize: false,
        rows,
    };
    (trials, logs)
}

fuzz_target!(|data: &[u8]| {
    let Some((&endpoint, query)) = data.split_first() else {
        return;
    };
    let query = String::from_utf8_lossy(query);
    let (trials, logs) = study();
    match endpoint % 4 {
        0 => {
            let _ = fuzzing::trial_table(&query, trials, CONFIG);
        }
        1 => {
            let _ = fuzzing::replay(&query, CONFIG, &trials, &logs);
        }
        3 => {
            if let Ok((a, b)) = fuzzing::compare_names(&query) {
                assert!(query.contains('a') && query.contains('b'), "{a}, {b} from {query}");
            }
        }
        _ => {
            let count = 2 + usize::from(endpoint / 4 % 4);
            if let Ok((x, y)) = fuzzing::pareto_axes(&query, count) {
                assert!(x < count && y < count, "axes ({x}, {y}) of {count} objectives");
            }
        }
    }
});
