//! What `run` says of failing trials while the study runs: the first failure's reason as soon
//! as it happens, and a stop when the first trials all fail the same way (a misspelt metric,
//! a missing file) instead of spending the whole budget on one mistake.

use std::path::PathBuf;
use std::time::Duration;

use hypersearch_coordinator::Progress;
use tokio::sync::{mpsc, watch};

use super::query;

/// Failures in a row, with no trial complete or pruned, after which a run stops when they
/// all failed for the same reason.
pub const FAIL_FAST: usize = 5;

/// Follows `progress` of study `name` in `db`: sends the first failure's reason to `notes`;
/// returns the first failed trial and its reason when the first [`FAIL_FAST`] trials all
/// failed the same way (the run should stop), `None` once the study ends or a trial
/// succeeds first.
pub async fn watch(
    mut progress: watch::Receiver<Progress>,
    db: PathBuf,
    shown_db: String,
    name: String,
    notes: mpsc::UnboundedSender<String>,
) -> Option<(u64, String)> {
    let mut said_first = false;
    loop {
        let p = *progress.borrow_and_update();
        let succeeded = p.complete + p.pruned > 0;
        if p.failed > 0
            && !said_first
            && let Some((number, error)) = failures(&db, &name, 1).await.into_iter().next()
        {
            let _ = notes.send(format!(
                "trial {number} failed: {}\n  (hypersearch show {number} --db {shown_db} tells more)",
                indented(&error)
            ));
            said_first = true;
        }
        if succeeded || p.finished {
            return None;
        }
        if p.failed >= FAIL_FAST as u64 {
            let first = failures(&db, &name, FAIL_FAST).await;
            if first.len() == FAIL_FAST && first.iter().all(|(_, e)| same_way(e, &first[0].1)) {
                return Some(first[0].clone());
            }
            if first.len() == FAIL_FAST {
                return None;
            }
        }
        if progress.changed().await.is_err() {
            return None;
        }
    }
}

/// A failure reason made safe to print, its own lines kept and indented under the first.
pub fn indented(reason: &str) -> String {
    hypersearch_proto::visible::visible_keeping_lines(reason).replace('\n', "\n    ")
}

/// The first `limit` failed trials, read once their failures are committed (the figures
/// can run ahead of the database by a moment).
async fn failures(db: &std::path::Path, name: &str, limit: usize) -> Vec<(u64, String)> {
    for _ in 0..20 {
        let (db, name) = (db.to_path_buf(), name.to_string());
        let read = tokio::task::spawn_blocking(move || query::failures(&db, &name, limit)).await;
        if let Ok(Ok(found)) = read
            && found.len() >= limit
        {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Vec::new()
}

/// Whether two failure reasons say the same thing, trial numbers and other figures aside.
fn same_way(a: &str, b: &str) -> bool {
    // Each run of digits (a trial number, a figure) reads as one `#`.
    let shape = |text: &str| -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if !c.is_ascii_digit() {
                out.push(c);
            } else if !out.ends_with('#') {
                out.push('#');
            }
        }
        out
    };
    shape(a) == shape(b)
}

#[cfg(test)]
mod tests {
    use super::same_way;

    #[test]
    fn reasons_that_differ_only_in_figures_are_the_same_way() {
        assert!(same_way(
            "cannot open train.csv for trial 0",
            "cannot open train.csv for trial 13"
        ));
        assert!(!same_way("exit status: 1", "out of memory"));
    }
}
