//! `[objective] command = "..."`: any program, run once per trial (SPEC §4.3).
//!
//! The program gets the trial's parameters as a JSON object in `HYPERSEARCH_PARAMS` (and the
//! trial number in `HYPERSEARCH_TRIAL`), and prints `key=value` pairs on stdout; a line with
//! `epoch=` is an intermediate report. A zero exit finishes the trial with the last value of
//! every key; a non-zero exit fails it with the tail of stderr. A stopped trial's process
//! group gets SIGTERM, then SIGKILL if it lingers.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use hypersearch_proto::{Assignment, FailureKind, Metrics, Outcome};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{Event, Events};
use crate::held::Cancel;

/// How much of stderr a failed trial keeps.
const STDERR_TAIL_BYTES: usize = 4096;
/// How long a stopped program may take to exit after SIGTERM.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// Runs `command` for `assignment` and sends its events.
pub(crate) async fn run(
    command: String,
    assignment: Assignment,
    cancel: Arc<Cancel>,
    events: Events,
) {
    let outcome = run_inner(&command, &assignment, &cancel, &events).await;
    let _ = events.send(Event::Done(outcome));
}

async fn run_inner(
    command: &str,
    assignment: &Assignment,
    cancel: &Cancel,
    events: &Events,
) -> Outcome {
    let params = serde_json::Value::Object(assignment.overrides.clone()).to_string();
    let mut child = match Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("HYPERSEARCH_PARAMS", params)
        .env("HYPERSEARCH_TRIAL", assignment.lease.trial.to_string())
        .env("HYPERSEARCH_ATTEMPT", assignment.lease.attempt.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            return Outcome::Failed {
                error: format!("cannot start `sh -c {command}`: {err}"),
                kind: FailureKind::Infrastructure,
            };
        }
    };
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Outcome::Failed {
            error: "the command's output pipes are missing".into(),
            kind: FailureKind::Infrastructure,
        };
    };
    let stderr_tail = tokio::spawn(tail(stderr));
    let mut lines = BufReader::new(stdout).lines();
    let mut last = Metrics::new();
    let mut last_epoch = 0u32;
    let mut problem = None;
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => match parse_line(&line, last_epoch) {
                    Ok(Some(parsed)) => {
                        for (key, value) in &parsed.metrics {
                            last.insert(key.clone(), *value);
                        }
                        if let Some(epoch) = parsed.epoch {
                            last_epoch = epoch;
                            let _ = events.send(Event::Epoch { epoch, metrics: parsed.metrics });
                        }
                    }
                    Ok(None) => {}
                    Err(err) => {
                        problem = Some(err);
                        break;
                    }
                },
                Ok(None) | Err(_) => break,
            },
            () = cancel.stopped() => break,
        }
    }
    if problem.is_some() || cancel.cause().is_some() {
        terminate(&mut child).await;
    }
    let status = child.wait().await;
    let stderr = stderr_tail.await.unwrap_or_default();
    if let Some(problem) = problem {
        return Outcome::Failed {
            error: problem,
            kind: FailureKind::User,
        };
    }
    match status {
        Ok(status) if status.success() => Outcome::Finished(super::finite(last)),
        Ok(status) => Outcome::Failed {
            error: if stderr.trim().is_empty() {
                format!("the command exited with {status}")
            } else {
                format!(
                    "the command exited with {status}; stderr ends with:\n{}",
                    stderr.trim_end()
                )
            },
            kind: FailureKind::User,
        },
        Err(err) => Outcome::Failed {
            error: format!("cannot wait for the command: {err}"),
            kind: FailureKind::Infrastructure,
        },
    }
}

/// Stops the program's whole process group: SIGTERM, then SIGKILL after a grace period.
async fn terminate(child: &mut Child) {
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(group) = group {
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
        if tokio::time::timeout(TERM_GRACE, child.wait()).await.is_ok() {
            return;
        }
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
    let _ = child.start_kill();
}

/// The last [`STDERR_TAIL_BYTES`] of a stream, as text.
async fn tail(stream: impl AsyncRead + Unpin) -> String {
    let mut reader = BufReader::new(stream);
    let mut kept: VecDeque<u8> = VecDeque::with_capacity(STDERR_TAIL_BYTES);
    let mut buffer = [0u8; 4096];
    while let Ok(n) = reader.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        kept.extend(&buffer[..n]);
        while kept.len() > STDERR_TAIL_BYTES {
            kept.pop_front();
        }
    }
    String::from_utf8_lossy(kept.make_contiguous()).into_owned()
}

/// The numeric `key=value` pairs of one stdout line.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    epoch: Option<u32>,
    metrics: Metrics,
}

/// Parses one line of the program's output: `None` if it has no `key=number` pair (any
/// other output is the program's own business); an error if its `epoch=` is not an integer
/// after `last_epoch`.
fn parse_line(line: &str, last_epoch: u32) -> Result<Option<Line>, String> {
    let mut epoch = None;
    let mut metrics = Metrics::new();
    for token in line.split_whitespace() {
        let Some((key, value)) = token.split_once('=') else {
            continue;
        };
        if key.is_empty() {
            continue;
        }
        if key == "epoch" {
            match value.parse::<u32>() {
                Ok(e) if e > last_epoch => epoch = Some(e),
                _ => {
                    return Err(format!(
                        "the command printed `epoch={value}` after epoch {last_epoch}: epochs are \
                         integers counting from 1 and increasing (line: {line:?})"
                    ));
                }
            }
        } else if let Ok(number) = value.parse::<f64>()
            && number.is_finite()
        {
            metrics.insert(key.to_string(), number);
        }
    }
    Ok((epoch.is_some() || !metrics.is_empty()).then_some(Line { epoch, metrics }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hypersearch_proto::LeaseId;

    #[test]
    fn lines_give_their_numeric_pairs() {
        let line = parse_line("epoch=3 val_loss=0.41 val_accuracy=0.88 note=hi", 2)
            .unwrap()
            .unwrap();
        assert_eq!(line.epoch, Some(3));
        assert_eq!(
            line.metrics,
            Metrics::from([("val_loss".into(), 0.41), ("val_accuracy".into(), 0.88)])
        );
        assert_eq!(parse_line("loading data...", 0).unwrap(), None);
        let last = parse_line("accuracy=0.9", 3).unwrap().unwrap();
        assert_eq!(last.epoch, None);
    }

    #[test]
    fn epochs_must_increase_from_one() {
        assert!(parse_line("epoch=0 loss=1", 0).is_err());
        assert!(parse_line("epoch=2 loss=1", 2).is_err());
        assert!(parse_line("epoch=two loss=1", 0).is_err());
    }

    fn assignment(params: serde_json::Value) -> Assignment {
        Assignment {
            lease: LeaseId {
                trial: 4,
                attempt: 1,
                token: 1,
            },
            params: params.as_object().unwrap().clone(),
            overrides: params.as_object().unwrap().clone(),
        }
    }

    async fn collect(command: &str, cancel: Arc<Cancel>) -> Vec<Event> {
        let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
        run(
            command.to_string(),
            assignment(serde_json::json!({"x": 2})),
            cancel,
            events,
        )
        .await;
        let mut out = Vec::new();
        while let Ok(event) = received.try_recv() {
            out.push(event);
        }
        out
    }

    #[tokio::test]
    async fn a_program_reports_epochs_and_its_last_values() {
        let events = collect(
            r#"echo "trial=$HYPERSEARCH_TRIAL"; echo "$HYPERSEARCH_PARAMS" >&2; for e in 1 2; do echo "epoch=$e loss=0.$e"; done; echo loss=0.05"#,
            Arc::default(),
        )
        .await;
        assert_eq!(events.len(), 3, "{events:?}");
        assert_eq!(
            events[0],
            Event::Epoch {
                epoch: 1,
                metrics: Metrics::from([("loss".into(), 0.1)])
            }
        );
        let Event::Done(Outcome::Finished(last)) = &events[2] else {
            panic!("{events:?}");
        };
        assert_eq!(last["loss"], 0.05);
        assert_eq!(last["trial"], 4.0);
    }

    #[tokio::test]
    async fn a_failing_program_fails_the_trial_with_its_stderr_tail() {
        let events = collect(
            r#"echo "bad param: $HYPERSEARCH_PARAMS" >&2; exit 3"#,
            Arc::default(),
        )
        .await;
        let Some(Event::Done(Outcome::Failed { error, kind })) = events.last() else {
            panic!("{events:?}");
        };
        assert_eq!(*kind, FailureKind::User);
        assert!(error.contains("exit status: 3"), "{error}");
        assert!(error.contains(r#"bad param: {"x":2}"#), "{error}");
    }

    #[tokio::test]
    async fn a_stopped_program_is_terminated() {
        let cancel = Arc::new(Cancel::default());
        let stopper = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            stopper.stop(crate::held::StopCause::Pruned);
        });
        let started = std::time::Instant::now();
        let events = collect("echo epoch=1 loss=1; sleep 30; echo epoch=2 loss=0", cancel).await;
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(events[1], Event::Done(_)));
    }
}
