//! What the views refuse to compute, with the study and the numbers that were wrong.

/// Why a view cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Too few complete trials to tell the parameters apart.
    #[error("importance needs at least {needed} complete trials, study `{study}` has {found}")]
    TooFewTrials {
        /// The study's name.
        study: String,
        /// The fewest complete trials the view needs.
        needed: usize,
        /// The complete trials (with a finite value) the study has.
        found: usize,
    },
    /// A rule to replay, or one of its options, is wrong.
    #[error("{}{problem}", option.as_ref().map(|o| format!("`{o}`: ")).unwrap_or_default())]
    Rule {
        /// The option (`percentile`, `rule`), when one is to blame.
        option: Option<String>,
        /// What is wrong.
        problem: String,
    },
}
