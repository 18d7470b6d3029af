//! The worker's one error type: what ends a worker (a refused token, an unreachable or
//! vanished coordinator, a bad address).

/// What ends a worker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The coordinator address does not parse.
    #[error("invalid coordinator address `{url}`: {reason}")]
    InvalidUrl {
        /// The address given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The token cannot be sent (it must be printable ASCII).
    #[error("the token cannot be sent: it must be printable ASCII without spaces")]
    InvalidToken,
    /// The coordinator cannot be reached (or stopped answering for too long).
    #[error("cannot reach the coordinator at {url}: {detail}")]
    Unreachable {
        /// The coordinator's address.
        url: String,
        /// The last transport error.
        detail: String,
    },
    /// The coordinator refused the worker's token.
    #[error("the coordinator at {url} refused this worker: {detail}")]
    Refused {
        /// The coordinator's address.
        url: String,
        /// The coordinator's reason.
        detail: String,
    },
    /// The coordinator answered something the worker cannot use, or rejected a request.
    #[error("the coordinator at {url} rejected {call}: {detail}")]
    Rejected {
        /// The coordinator's address.
        url: String,
        /// The call (`register`, `lease`, ...).
        call: &'static str,
        /// Its reason.
        detail: String,
    },
}
