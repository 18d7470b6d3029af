//! The worker timeline: one lane per worker, each attempt a bar from its start to its end
//! coloured by how it ended, so idle gaps, failures and retries show. Past a few tens of
//! thousands of attempts, neighbouring bars of a lane with the same ending merge (a bar then
//! counts the attempts it holds).

use serde::Serialize;

/// Bars drawn at most before neighbours merge.
pub const TIMELINE_BARS: usize = 20_000;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptEnd {
    /// Still running.
    Running,
    /// Finished with a value.
    Complete,
    /// Stopped early.
    Pruned,
    /// The objective failed.
    Failed,
    /// Its worker was lost (lease expired): retried elsewhere.
    Lost,
    /// Its worker shut down and handed it back: re-queued.
    Preempted,
}

impl AttemptEnd {
    /// The store's name (`attempts.state`); `None` for one it does not know.
    pub fn from_name(name: &str) -> Option<AttemptEnd> {
        Some(match name {
            "running" => AttemptEnd::Running,
            "complete" => AttemptEnd::Complete,
            "pruned" => AttemptEnd::Pruned,
            "failed" => AttemptEnd::Failed,
            "lost" => AttemptEnd::Lost,
            "preempted" => AttemptEnd::Preempted,
            _ => return None,
        })
    }
}

/// One attempt as the store has it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptSpan {
    /// The trial.
    pub number: u64,
    /// The attempt, from 1 (above 1: a retry).
    pub attempt: u32,
    /// The worker that ran it.
    pub worker: String,
    /// How it ended.
    pub end: AttemptEnd,
    /// Start, in seconds since the Unix epoch.
    pub started: f64,
    /// End, in seconds since the Unix epoch (`None` while running).
    pub finished: Option<f64>,
}

/// One bar of a lane (times in seconds since the study's first start).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    /// The trial (the first one, when bars merged).
    pub number: u64,
    /// Its attempt number.
    pub attempt: u32,
    /// Start.
    pub start: f64,
    /// End.
    pub end: f64,
    /// How it ended.
    pub end_state: AttemptEnd,
    /// Attempts this bar holds (1 unless neighbours merged).
    pub attempts: usize,
}

/// One worker's lane: one track per attempt it ran at the same time (its slots).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lane {
    /// The worker's name.
    pub worker: String,
    /// Its tracks, each a list of bars by start that do not overlap.
    pub tracks: Vec<Vec<Bar>>,
    /// Seconds its tracks spent running attempts, summed.
    pub busy: f64,
}

impl Lane {
    /// The share of its tracks' time (over `span` seconds) spent running attempts.
    pub fn busy_share(&self, span: f64) -> f64 {
        let capacity = span * self.tracks.len().max(1) as f64;
        if capacity > 0.0 {
            (self.busy / capacity).min(1.0)
        } else {
            0.0
        }
    }
}

/// The whole timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// The study's first start, in seconds since the Unix epoch (bars count from it).
    pub origin: f64,
    /// The last end, in seconds after `origin`.
    pub span: f64,
    /// One per worker, by name.
    pub lanes: Vec<Lane>,
    /// Attempts drawn (before merging).
    pub attempts: usize,
}

/// The timeline of `spans`; a running attempt ends at `now` (seconds since the Unix epoch).
pub fn timeline(spans: &[AttemptSpan], now: f64) -> Timeline {
    let origin = spans
        .iter()
        .map(|span| span.started)
        .fold(f64::INFINITY, f64::min);
    let origin = if origin.is_finite() { origin } else { now };
    let mut lanes: std::collections::BTreeMap<&str, Vec<Bar>> = Default::default();
    let mut span_end: f64 = 0.0;
    for span in spans {
        let end = span.finished.unwrap_or(now).max(span.started) - origin;
        span_end = span_end.max(end);
        lanes.entry(&span.worker).or_default().push(Bar {
            number: span.number,
            attempt: span.attempt,
            start: span.started - origin,
            end,
            end_state: span.end,
            attempts: 1,
        });
    }
    let merge_gap = if spans.len() > TIMELINE_BARS {
        span_end / (TIMELINE_BARS as f64 / lanes.len().max(1) as f64)
    } else {
        0.0
    };
    let lanes = lanes
        .into_iter()
        .map(|(worker, mut bars)| {
            bars.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.number.cmp(&b.number)));
            let busy = bars.iter().map(|bar| bar.end - bar.start).sum();
            let tracks = tracks(bars)
                .into_iter()
                .map(|track| {
                    if merge_gap > 0.0 {
                        merged(track, merge_gap)
                    } else {
                        track
                    }
                })
                .collect();
            Lane {
                worker: worker.to_string(),
                tracks,
                busy,
            }
        })
        .collect();
    Timeline {
        origin,
        span: span_end,
        lanes,
        attempts: spans.len(),
    }
}

/// `bars` (by start) laid on as few tracks as keep them apart: each bar goes on the first
/// track free at its start.
fn tracks(bars: Vec<Bar>) -> Vec<Vec<Bar>> {
    let mut tracks: Vec<Vec<Bar>> = Vec::new();
    for bar in bars {
        let free = tracks
            .iter()
            .position(|track| track.last().is_none_or(|last| last.end <= bar.start));
        match free {
            Some(at) => tracks[at].push(bar),
            None => tracks.push(vec![bar]),
        }
    }
    tracks
}

/// `bars` (by start) with each run of same-ending neighbours closer than `gap` merged.
fn merged(bars: Vec<Bar>, gap: f64) -> Vec<Bar> {
    let mut out: Vec<Bar> = Vec::new();
    for bar in bars {
        match out.last_mut() {
            Some(last)
                if last.end_state == bar.end_state
                    && bar.start - last.end <= gap
                    && bar.end - last.start <= 4.0 * gap =>
            {
                last.end = last.end.max(bar.end);
                last.attempts += bar.attempts;
            }
            _ => out.push(bar),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(
        number: u64,
        attempt: u32,
        worker: &str,
        end: AttemptEnd,
        t: (f64, f64),
    ) -> AttemptSpan {
        AttemptSpan {
            number,
            attempt,
            worker: worker.into(),
            end,
            started: 100.0 + t.0,
            finished: Some(100.0 + t.1),
        }
    }

    #[test]
    fn each_worker_gets_a_lane_with_its_attempts_from_the_first_start() {
        let spans = [
            span(0, 1, "b", AttemptEnd::Lost, (0.0, 5.0)),
            span(0, 2, "a", AttemptEnd::Complete, (6.0, 9.0)),
            span(1, 1, "a", AttemptEnd::Pruned, (1.0, 2.0)),
        ];
        let timeline = timeline(&spans, 200.0);
        assert_eq!(timeline.origin, 100.0);
        assert_eq!(timeline.span, 9.0);
        assert_eq!(timeline.lanes[0].worker, "a");
        assert_eq!(timeline.lanes[0].tracks.len(), 1);
        assert_eq!(timeline.lanes[0].tracks[0][0].number, 1);
        assert_eq!(timeline.lanes[0].tracks[0][1].attempt, 2);
        assert_eq!(timeline.lanes[0].busy, 4.0);
        assert_eq!(timeline.lanes[1].tracks[0][0].end_state, AttemptEnd::Lost);
    }

    #[test]
    fn attempts_a_worker_ran_at_once_go_on_tracks_of_their_own() {
        let spans = [
            span(0, 1, "a", AttemptEnd::Complete, (0.0, 5.0)),
            span(1, 1, "a", AttemptEnd::Complete, (1.0, 3.0)),
            span(2, 1, "a", AttemptEnd::Complete, (3.0, 4.0)),
            span(3, 1, "a", AttemptEnd::Complete, (5.0, 6.0)),
        ];
        let timeline = timeline(&spans, 0.0);
        let numbers: Vec<Vec<u64>> = timeline.lanes[0]
            .tracks
            .iter()
            .map(|track| track.iter().map(|bar| bar.number).collect())
            .collect();
        assert_eq!(numbers, vec![vec![0, 3], vec![1, 2]]);
        assert!((timeline.lanes[0].busy_share(6.0) - 9.0 / 12.0).abs() < 1e-12);
    }

    #[test]
    fn a_huge_timeline_merges_neighbours_but_counts_every_attempt() {
        let spans: Vec<AttemptSpan> = (0..100_000u64)
            .map(|i| {
                let worker = ["a", "b"][(i % 2) as usize];
                let end = if i % 1000 == 7 {
                    AttemptEnd::Failed
                } else {
                    AttemptEnd::Complete
                };
                span(i, 1, worker, end, (i as f64, i as f64 + 1.5))
            })
            .collect();
        let timeline = timeline(&spans, 0.0);
        let bars = || timeline.lanes.iter().flat_map(|l| &l.tracks).flatten();
        assert!(bars().count() <= TIMELINE_BARS, "{}", bars().count());
        assert_eq!(bars().map(|b| b.attempts).sum::<usize>(), 100_000);
        let failed = bars();
        assert_eq!(
            failed.filter(|b| b.end_state == AttemptEnd::Failed).count(),
            100
        );
    }
}
