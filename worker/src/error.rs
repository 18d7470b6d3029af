//! The worker's one error type: what ends a worker (a refused token, an unreachable or
//! vanished coordinator, a bad address, a failed TLS handshake, a data set it cannot get).

use std::fmt;
use std::path::PathBuf;

/// A call the worker makes to the coordinator. `Display` gives its name as logs and errors
/// say it (`register`, `fetch data`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Joining the study.
    Register,
    /// Asking for trials.
    Lease,
    /// Reporting a trial's epochs.
    Report,
    /// Reporting how an attempt ended.
    Complete,
    /// Renewing the held leases.
    Heartbeat,
    /// Streaming a data file.
    FetchData,
    /// An operator's steer of one worker.
    SteerWorker,
    /// Sending a finished trial's trained network, or a running one's checkpoint.
    PutModel,
    /// Fetching the checkpoint a resumed attempt goes on from.
    GetCheckpoint,
    /// Telling the coordinator a resumed attempt's checkpoint cannot be used.
    RefuseCheckpoint,
}

impl Call {
    /// The call's name in logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Call::Register => "register",
            Call::Lease => "lease",
            Call::Report => "report",
            Call::Complete => "complete",
            Call::Heartbeat => "heartbeat",
            Call::FetchData => "fetch data",
            Call::SteerWorker => "steer worker",
            Call::PutModel => "put model",
            Call::GetCheckpoint => "get checkpoint",
            Call::RefuseCheckpoint => "refuse checkpoint",
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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
        /// The call.
        call: Call,
        /// Its reason.
        detail: String,
    },
    /// A slot's task panicked (a bug in the worker, not anything the coordinator said).
    #[error("a slot crashed: {detail}")]
    SlotPanicked {
        /// The panic, as the runtime reports it.
        detail: String,
    },
    /// A TLS certificate or key file cannot be used.
    #[error("{}: {problem}", path.display())]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The TLS handshake with the coordinator failed.
    #[error(
        "TLS handshake with the coordinator at {url} failed: {detail}{}",
        tls_hint(detail)
    )]
    Tls {
        /// The coordinator's address.
        url: String,
        /// What rustls said.
        detail: String,
    },
    /// A data file could not be fetched from the coordinator, or failed its checksum every
    /// time.
    #[error("cannot get the data file `{file}` from the coordinator: {detail}")]
    Data {
        /// The file's name.
        file: String,
        /// What went wrong.
        detail: String,
    },
    /// The data cache directory cannot be used.
    #[error("data cache {}: {detail}", path.display())]
    DataCache {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
}

/// What to check after a failed handshake.
fn tls_hint(detail: &str) -> &'static str {
    if detail.contains("CertificateRequired") {
        " (the coordinator requires a client certificate: pass --tls-cert and --tls-key)"
    } else if detail.contains("BadCertificate") || detail.contains("UnknownCA") {
        " (the coordinator does not accept this worker's certificate)"
    } else if detail.contains("invalid peer certificate") {
        " (is --tls-ca the CA that signed the coordinator's certificate, and does that \
         certificate name the host in --coordinator?)"
    } else {
        ""
    }
}
