//! What the coordinator accepts from a worker (the protocol crate's conversion limits), so
//! that an objective fails a trial with a clear user error instead of sending a message the
//! coordinator must refuse: a refused message is fatal to the worker.
//!
//! The numbers are `hypersearch_proto`'s own limits; the tests below check that the
//! coordinator's side of the conversion accepts a message at each limit and refuses one past it.

use hypersearch_proto::Outcome;
pub(crate) use hypersearch_proto::{
    MAX_ERROR_BYTES, MAX_METRICS, MAX_NAME_BYTES as MAX_METRIC_NAME_BYTES,
};

/// `outcome` with its failure text cut to [`MAX_ERROR_BYTES`] (keeping its start, which says
/// what went wrong, and saying how much was cut).
pub(crate) fn within_limits(outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Failed { error, kind } if error.len() > MAX_ERROR_BYTES => Outcome::Failed {
            error: excerpt(&error, MAX_ERROR_BYTES - 64),
            kind,
        },
        other => other,
    }
}

/// `text` if it is at most `max` bytes; else its first `max` bytes (cut on a character
/// boundary) followed by `… (N bytes in all)`.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    format!("{}… ({} bytes in all)", head(text, max), text.len())
}

/// The first `max` bytes of `text`, or fewer to end on a character boundary.
pub(crate) fn head(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hypersearch_proto::{Completion, FailureKind, LeaseId, Metrics, pb};

    /// Whether the coordinator's side of the conversion accepts a completion with `outcome`.
    fn accepted(outcome: Outcome) -> bool {
        let completion = Completion {
            worker_id: 1,
            lease: LeaseId {
                trial: 0,
                attempt: 1,
                token: 1,
            },
            outcome,
            next_max_trials: 0,
        };
        Completion::try_from(pb::CompleteRequest::from(completion)).is_ok()
    }

    fn metrics(count: usize, name_bytes: usize) -> Outcome {
        Outcome::Finished(
            (0..count)
                .map(|i| (format!("{i:0>name_bytes$}"), 1.0))
                .collect(),
        )
    }

    fn failure(error: String) -> Outcome {
        Outcome::Failed {
            error,
            kind: FailureKind::User,
        }
    }

    /// The limits here are the coordinator's: at the limit a message is accepted, one past
    /// it is refused.
    #[test]
    fn the_limits_are_the_coordinators() {
        assert!(accepted(metrics(MAX_METRICS, MAX_METRIC_NAME_BYTES)));
        assert!(!accepted(metrics(MAX_METRICS + 1, 4)));
        assert!(!accepted(metrics(1, MAX_METRIC_NAME_BYTES + 1)));
        assert!(accepted(failure("x".repeat(MAX_ERROR_BYTES))));
        assert!(!accepted(failure("x".repeat(MAX_ERROR_BYTES + 1))));
    }

    #[test]
    fn failure_texts_are_cut_to_the_limit() {
        let cut = within_limits(failure("é".repeat(50_000)));
        assert!(accepted(cut.clone()));
        let Outcome::Failed { error, kind } = cut else {
            panic!("still a failure");
        };
        assert!(error.starts_with("éé"), "{error}");
        assert!(error.ends_with("(100000 bytes in all)"), "{error}");
        assert_eq!(kind, FailureKind::User);
        let short = failure("exit status: 3".into());
        assert_eq!(within_limits(short.clone()), short);
        let finished = Outcome::Finished(Metrics::from([("loss".into(), 0.5)]));
        assert_eq!(within_limits(finished.clone()), finished);
    }

    #[test]
    fn excerpts_cut_on_character_boundaries() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("ééééé", 3), "é… (10 bytes in all)");
        assert_eq!(head("ééééé", 3), "é");
        assert_eq!(head("ab", 3), "ab");
    }
}
