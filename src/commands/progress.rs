//! The live progress of `hypersearch run`: an indicatif bar on a terminal (done/total,
//! running, pruned, failed, best value, ETA), plain lines at most once a second otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use hypersearch_coordinator::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::{mpsc, watch};

use super::output::number;

fn summary(p: &Progress) -> String {
    let best = p.best.map_or_else(
        || "-".to_string(),
        |(trial, value)| format!("{} (trial {trial})", number(value)),
    );
    format!(
        "running {} · pruned {} · failed {} · best {best}",
        p.running, p.pruned, p.failed
    )
}

/// Shows `progress` until the study is finished or the sender goes away.
pub async fn show(
    mut progress: watch::Receiver<Progress>,
    metric: String,
    mut notes: mpsc::UnboundedReceiver<String>,
) {
    if std::io::stderr().is_terminal() {
        bar(&mut progress, &metric, &mut notes).await;
    } else {
        plain_lines(&mut progress, &metric, &mut notes).await;
    }
}

/// Narrowest bar worth drawing; a line that leaves less drops detail from its text instead.
const MIN_BAR: usize = 10;

/// The text after the bar, as detailed as `width` columns allow with a bar of at least
/// [`MIN_BAR`] (spinner and spaces included): everything, then the counts without the
/// elapsed time and metric name, then only the best value and the ETA.
fn bar_text(p: &Progress, metric: &str, elapsed: Duration, eta: Duration, width: usize) -> String {
    let eta = if p.done() == 0 {
        "?".to_string()
    } else {
        format!("{:#}", indicatif::HumanDuration(eta))
    };
    let best = p.best.map_or_else(
        || "-".to_string(),
        |(trial, value)| format!("{} (trial {trial})", number(value)),
    );
    let best_value = p
        .best
        .map_or_else(|| "-".to_string(), |(_, value)| number(value));
    let done = format!("{}/{}", p.done(), p.budget);
    let candidates = [
        format!(
            "[{}] {done} trials · {metric}: {} · ETA {eta}",
            indicatif::FormattedDuration(elapsed),
            summary(p)
        ),
        format!(
            "{done} · best {best} · running {} · pruned {} · failed {} · ETA {eta}",
            p.running, p.pruned, p.failed
        ),
        format!("{done} · best {best_value} · ETA {eta}"),
    ];
    let fits = |text: &String| text.chars().count() + MIN_BAR + 3 <= width;
    candidates
        .iter()
        .find(|text| fits(text))
        .unwrap_or(&candidates[2])
        .clone()
}

/// The terminal's width in columns (80 when it cannot be read).
fn terminal_width() -> usize {
    console::Term::stderr()
        .size_checked()
        .map_or(80, |(_, columns)| usize::from(columns))
}

async fn bar(
    progress: &mut watch::Receiver<Progress>,
    metric: &str,
    notes: &mut mpsc::UnboundedReceiver<String>,
) {
    let first = *progress.borrow_and_update();
    let bar = ProgressBar::new(first.budget).with_position(first.done());
    let style = ProgressStyle::with_template("{spinner} {wide_bar} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.reset_eta();
    bar.enable_steady_tick(Duration::from_millis(200));
    let text = |p: &Progress| bar_text(p, metric, bar.elapsed(), bar.eta(), terminal_width());
    bar.set_message(text(&first));
    loop {
        let p = *progress.borrow_and_update();
        bar.set_length(p.budget);
        bar.set_position(p.done());
        bar.set_message(text(&p));
        if p.finished {
            break;
        }
        tokio::select! {
            changed = progress.changed() => if changed.is_err() {
                break;
            },
            Some(note) = notes.recv() => bar.println(note),
            // The elapsed time, ETA and a resized terminal show without a trial ending.
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    bar.finish_and_clear();
    while let Ok(note) = notes.try_recv() {
        eprintln!("{note}");
    }
    let p = *progress.borrow();
    eprintln!(
        "{}/{} trials done in {} · {metric}: {}",
        p.done(),
        p.budget,
        indicatif::HumanDuration(bar.elapsed()),
        summary(&p)
    );
}

/// The remaining time at the rate trials finished since `start` (when `first_done` were done).
fn eta(p: &Progress, start: Instant, first_done: u64) -> String {
    let finished_here = p.done().saturating_sub(first_done);
    if p.finished {
        return "0s".into();
    }
    if finished_here == 0 {
        return "?".into();
    }
    let per_trial = start.elapsed().as_secs_f64() / finished_here as f64;
    let left = per_trial * p.budget.saturating_sub(p.done()) as f64;
    format!("{}s", left.ceil())
}

/// Plain progress lines (at most one a second, when trials ended) and `notes`, until the
/// study is finished: what `serve` prints, and `run` when stderr is not a terminal.
pub async fn lines(
    mut progress: watch::Receiver<Progress>,
    metric: String,
    mut notes: mpsc::UnboundedReceiver<String>,
) {
    plain_lines(&mut progress, &metric, &mut notes).await;
}

async fn plain_lines(
    progress: &mut watch::Receiver<Progress>,
    metric: &str,
    notes: &mut mpsc::UnboundedReceiver<String>,
) {
    let start = Instant::now();
    let first_done = progress.borrow().done();
    let mut last_done = None;
    let mut last_print = Instant::now() - Duration::from_secs(10);
    loop {
        while let Ok(note) = notes.try_recv() {
            eprintln!("{note}");
        }
        let p = *progress.borrow_and_update();
        let due = last_print.elapsed() >= Duration::from_secs(1);
        if p.finished || (last_done != Some(p.done()) && due) {
            eprintln!(
                "{}/{} trials done · {metric}: {} · ETA {}",
                p.done(),
                p.budget,
                summary(&p),
                eta(&p, start, first_done)
            );
            last_done = Some(p.done());
            last_print = Instant::now();
        }
        if p.finished {
            break;
        }
        // Wake for a change, or after a second to print what changed meanwhile.
        if let Ok(Err(_)) = tokio::time::timeout(Duration::from_secs(1), progress.changed()).await {
            break;
        }
    }
    while let Ok(note) = notes.try_recv() {
        eprintln!("{note}");
    }
}
