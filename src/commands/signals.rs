//! Stopping on request: Ctrl-C (SIGINT) and SIGTERM (what Kubernetes, systemd, Slurm and
//! `timeout` send) both stop a command in order; which one came decides the exit code.

use tokio::sync::watch;

/// The signal that asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Ctrl-C: exit 130, as shells expect of an interrupted command.
    Interrupt,
    /// SIGTERM: an orderly stop asked for by a supervisor; exit 0 once done.
    Terminate,
}

impl Stop {
    /// The exit code of a command stopped this way before its work was done.
    pub fn exit_code(self) -> u8 {
        match self {
            Stop::Interrupt => 130,
            Stop::Terminate => 0,
        }
    }
}

/// Resolves when Ctrl-C or SIGTERM arrives; says which. Never resolves if neither can be
/// listened for.
pub async fn stop_requested() -> Stop {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        Ok(()) = tokio::signal::ctrl_c() => Stop::Interrupt,
        () = terminate => Stop::Terminate,
    }
}

/// Watches for Ctrl-C or SIGTERM in a task: the flag is raised when either arrives, and the
/// receiver of the second channel tells which.
pub fn watch_stop() -> (watch::Receiver<bool>, watch::Receiver<Option<Stop>>) {
    let (raise, raised) = watch::channel(false);
    let (tell, told) = watch::channel(None);
    tokio::spawn(async move {
        let stop = stop_requested().await;
        tell.send_replace(Some(stop));
        let _ = raise.send(true);
    });
    (raised, told)
}
