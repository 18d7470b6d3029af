//! `[objective] command = "..."`: any program, run once per trial.
//!
//! The program gets the trial's parameters as a JSON object in `HYPERSEARCH_PARAMS` (and the
//! trial number in `HYPERSEARCH_TRIAL`), and prints `key=value` pairs on stdout; a line with
//! `epoch=` is an intermediate report. A zero exit finishes the trial with the last value of
//! every key; a non-zero exit fails it with the tail of stderr. A stopped trial's process
//! group gets SIGTERM, then SIGKILL if it lingers.
//!
//! What the program prints is held to the protocol's limits here (metric names of at most
//! 256 bytes, at most 256 distinct names): going past them fails the trial as a user error
//! naming the key, rather than sending a message the coordinator would refuse. Lines are read
//! up to [`MAX_LINE_BYTES`]; a longer line is skipped (no metric line is that long), so a
//! program cannot make the worker hold unbounded output.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use hypersearch_proto::{Assignment, FailureKind, Metrics, Outcome};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use super::limits::{MAX_METRIC_NAME_BYTES, MAX_METRICS, excerpt, head, within_limits};
use super::{Event, Events};
use crate::held::Cancel;

/// How much of stderr a failed trial keeps.
const STDERR_TAIL_BYTES: usize = 4096;
/// Longest stdout line read; longer ones are skipped. (The longest valid metric line, 256
/// names of 256 bytes with their values, is under 80 KiB.)
const MAX_LINE_BYTES: usize = 1024 * 1024;
/// How much of an offending line or key an error quotes, in bytes.
const QUOTE_BYTES: usize = 120;
/// How long a stopped program may take to exit after SIGTERM.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// What to run for each trial.
pub(crate) struct Program {
    /// The shell command.
    pub command: String,
    /// The study's metric, which a program that exits 0 must have printed.
    pub metric: String,
    /// Where it runs, if not in the worker's working directory.
    pub workdir: Option<Arc<std::path::Path>>,
}

/// Runs `program` for `assignment` and sends its events.
pub(crate) async fn run(
    program: Program,
    assignment: Assignment,
    cancel: Arc<Cancel>,
    events: Events,
) {
    let outcome = run_inner(&program, &assignment, &cancel, &events).await;
    let _ = events.send(Event::Done(within_limits(outcome)));
}

async fn run_inner(
    program: &Program,
    assignment: &Assignment,
    cancel: &Cancel,
    events: &Events,
) -> Outcome {
    let (command, metric) = (program.command.as_str(), program.metric.as_str());
    let params = serde_json::Value::Object(assignment.overrides.clone()).to_string();
    let mut shell = Command::new("sh");
    if let Some(dir) = &program.workdir {
        shell.current_dir(dir);
    }
    let mut child = match shell
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
                error: format!("cannot start `sh -c {}`: {err}", excerpt(command, 1024)),
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
    let mut lines = LineReader::new(BufReader::new(stdout));
    let mut last = Metrics::new();
    let mut last_epoch = 0u32;
    let mut problem = None;
    // The last line printed, to show when no line reported the study metric.
    let mut last_line: Option<String> = None;
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(Some(line))) => {
                    if !line.trim().is_empty() {
                        last_line = Some(excerpt(line.trim(), QUOTE_BYTES));
                    }
                    match parse_line(&line, last_epoch).and_then(|parsed| {
                        merge(&mut last, parsed.as_ref())?;
                        Ok(parsed)
                    }) {
                        Ok(Some(Line { epoch: Some(epoch), metrics })) => {
                            last_epoch = epoch;
                            let _ = events.send(Event::Epoch { epoch, metrics });
                        }
                        Ok(_) => {}
                        Err(err) => {
                            problem = Some((err, FailureKind::User));
                            break;
                        }
                    }
                }
                Ok(Some(None)) => {}
                Ok(None) => break,
                Err(err) => {
                    problem = Some((
                        format!("cannot read the command's output: {err}"),
                        FailureKind::Infrastructure,
                    ));
                    break;
                }
            },
            () = cancel.stopped() => break,
        }
    }
    if problem.is_some() || cancel.cause().is_some() {
        terminate(&mut child).await;
    }
    let status = child.wait().await;
    let stderr = stderr_tail.await.unwrap_or_default();
    if let Some((error, kind)) = problem {
        return Outcome::Failed { error, kind };
    }
    if let Ok(status) = &status
        && interrupted(status)
        && cancel.cause().is_none()
    {
        // Ctrl-C, or a supervisor stopping the whole process group, reaches the command
        // and the worker at once: if the worker is stopping too, the trial is handed back
        // (its slot sees the cause), not failed by its own interrupted program.
        let _ = tokio::time::timeout(INTERRUPT_GRACE, cancel.stopped()).await;
    }
    match status {
        Ok(status) if status.success() && !last.contains_key(metric) => Outcome::Failed {
            error: format!(
                "the command exited 0 without printing the study metric as `{metric}=NUMBER` \
                 (lines of `key=value` pairs separated by spaces, e.g. `epoch=3 {metric}=0.91`); {}{}",
                match &last_line {
                    Some(line) => format!("the last line it printed: {line:?}"),
                    None => "it printed nothing".to_string(),
                },
                match nearest(metric, last.keys()) {
                    Some(near) => format!("; did you mean `metric = \"{near}\"` in [study]?"),
                    None => String::new(),
                }
            ),
            kind: FailureKind::User,
        },
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

/// How long a command killed by an interrupt signal waits to learn whether its worker is
/// stopping too.
const INTERRUPT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether the command (or the shell running it) ended by SIGHUP, SIGINT or SIGTERM.
fn interrupted(status: &std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    const INTERRUPTS: [i32; 3] = [1, 2, 15];
    status.signal().is_some_and(|s| INTERRUPTS.contains(&s))
        || status
            .code()
            .is_some_and(|code| INTERRUPTS.iter().any(|s| code == 128 + s))
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

/// Reads lines of at most [`MAX_LINE_BYTES`] (lossily decoded: a stray invalid byte must not
/// stop the reading, which would leave the program blocked on a full pipe). Its state lives
/// in the reader, so a call dropped by `select!` loses nothing.
struct LineReader<R> {
    reader: R,
    line: Vec<u8>,
    overlong: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    fn new(reader: R) -> Self {
        LineReader {
            reader,
            line: Vec::new(),
            overlong: false,
        }
    }

    /// The next line without its newline: `Some(None)` for a line longer than
    /// [`MAX_LINE_BYTES`] (skipped), `None` at the end of the output.
    async fn next_line(&mut self) -> std::io::Result<Option<Option<String>>> {
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                if self.line.is_empty() && !self.overlong {
                    return Ok(None);
                }
                return Ok(Some(self.take()));
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let chunk = &available[..newline.unwrap_or(available.len())];
            let room = MAX_LINE_BYTES.saturating_sub(self.line.len());
            if chunk.len() > room {
                self.overlong = true;
                self.line.clear();
            } else if !self.overlong {
                self.line.extend_from_slice(chunk);
            }
            let used = chunk.len() + usize::from(newline.is_some());
            self.reader.consume(used);
            if newline.is_some() {
                return Ok(Some(self.take()));
            }
        }
    }

    fn take(&mut self) -> Option<String> {
        let line = (!self.overlong).then(|| String::from_utf8_lossy(&self.line).into_owned());
        self.line.clear();
        self.overlong = false;
        line
    }
}

/// Adds `line`'s metrics to the last values of every key, refusing a new key past the
/// protocol's [`MAX_METRICS`].
fn merge(last: &mut Metrics, line: Option<&Line>) -> Result<(), String> {
    for (key, value) in line.map(|l| &l.metrics).into_iter().flatten() {
        if last.len() >= MAX_METRICS && !last.contains_key(key) {
            return Err(format!(
                "the command printed more than {MAX_METRICS} distinct metric names (the {}th: \
                 `{}`): a trial reports at most {MAX_METRICS} metrics",
                MAX_METRICS + 1,
                head(key, QUOTE_BYTES)
            ));
        }
        last.insert(key.clone(), *value);
    }
    Ok(())
}

/// The name among `printed` nearest to the study's `metric` when it is a likely misspelling
/// of it (at most two edits, and fewer than a third of its letters).
fn nearest<'a>(metric: &str, printed: impl Iterator<Item = &'a String>) -> Option<&'a str> {
    let limit = 2.min(metric.chars().count() / 3);
    printed
        .map(|name| (edits(metric, name), name))
        .filter(|&(d, _)| d > 0 && d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, name)| name.as_str())
}

/// Levenshtein distance between `a` and `b`, in characters.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// The numeric `key=value` pairs of one stdout line.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Line {
    pub(super) epoch: Option<u32>,
    pub(super) metrics: Metrics,
}

/// Parses one line of the program's output: `None` if it has no `key=number` pair (any
/// other output is the program's own business); an error if its `epoch=` is not an integer
/// after `last_epoch`, or if the name of a number is longer than the protocol's
/// [`MAX_METRIC_NAME_BYTES`].
pub(super) fn parse_line(line: &str, last_epoch: u32) -> Result<Option<Line>, String> {
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
                        "the command printed `epoch={}` after epoch {last_epoch}: epochs are \
                         integers counting from 1 and increasing (line: {:?})",
                        excerpt(value, QUOTE_BYTES),
                        excerpt(line, QUOTE_BYTES)
                    ));
                }
            }
        } else if let Ok(number) = value.parse::<f64>()
            && number.is_finite()
        {
            if key.len() > MAX_METRIC_NAME_BYTES {
                return Err(format!(
                    "the command printed a metric name of {} bytes, `{}…`: metric names are at \
                     most {MAX_METRIC_NAME_BYTES} bytes",
                    key.len(),
                    head(key, QUOTE_BYTES)
                ));
            }
            metrics.insert(key.to_string(), number);
        }
    }
    Ok((epoch.is_some() || !metrics.is_empty()).then_some(Line { epoch, metrics }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn a_misspelt_metric_is_matched_to_what_the_command_printed() {
        assert_eq!(edits("val_los", "val_loss"), 1);
        assert_eq!(edits("kitten", "sitting"), 3);
        let printed = [
            "epoch".to_string(),
            "val_loss".to_string(),
            "acc".to_string(),
        ];
        assert_eq!(nearest("val_los", printed.iter()), Some("val_loss"));
        assert_eq!(nearest("accuracy", printed.iter()), None);
        assert_eq!(nearest("val_loss", printed.iter()), None);
    }

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
            resume: None,
        }
    }

    async fn collect(command: &str, cancel: Arc<Cancel>) -> Vec<Event> {
        let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
        run(
            Program {
                command: command.to_string(),
                metric: "loss".to_string(),
                workdir: None,
            },
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

    #[test]
    fn metric_names_past_the_protocols_limit_are_refused() {
        let name = "k".repeat(MAX_METRIC_NAME_BYTES);
        let line = parse_line(&format!("{name}=1"), 0).unwrap().unwrap();
        assert_eq!(line.metrics.len(), 1);
        let long = "k".repeat(MAX_METRIC_NAME_BYTES + 44);
        let err = parse_line(&format!("epoch=1 {long}=1"), 0).unwrap_err();
        assert!(
            err.contains("a metric name of 300 bytes") && err.contains("at most 256 bytes"),
            "{err}"
        );
        assert!(err.len() < 400, "{err}");
        // A long name whose value is not a number is not a metric: the program's business.
        assert_eq!(parse_line(&format!("{long}=yes"), 0).unwrap(), None);
    }

    #[test]
    fn at_most_the_protocols_number_of_distinct_metrics() {
        let mut last = Metrics::new();
        let line = |text: String| parse_line(&text, 0).unwrap();
        let first: Vec<String> = (0..MAX_METRICS).map(|i| format!("m{i}=1")).collect();
        merge(&mut last, line(first.join(" ")).as_ref()).unwrap();
        merge(&mut last, line("m0=2 m255=3".into()).as_ref()).unwrap();
        assert_eq!((last.len(), last["m0"]), (MAX_METRICS, 2.0));
        let err = merge(&mut last, line("m0=4 extra=1".into()).as_ref()).unwrap_err();
        assert!(
            err.contains("more than 256 distinct metric names (the 257th: `extra`)"),
            "{err}"
        );
    }

    #[test]
    fn an_offending_line_is_quoted_short() {
        let line = format!("epoch=0 {}", "x".repeat(100_000));
        let err = parse_line(&line, 0).unwrap_err();
        assert!(err.contains("(100008 bytes in all)"), "{err}");
        assert!(err.len() < 500, "{}", err.len());
    }

    #[tokio::test]
    async fn lines_are_read_bounded_and_lossily() {
        let mut output = b"loss=1\n".to_vec();
        output.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 1));
        output.extend(b"\nbad\xffbyte loss=2\nlast=3");
        // A tiny buffer, so lines arrive in many pieces.
        let mut reader = LineReader::new(BufReader::with_capacity(7, &output[..]));
        let mut lines = Vec::new();
        while let Some(line) = reader.next_line().await.unwrap() {
            lines.push(line);
        }
        assert_eq!(
            lines,
            [
                Some("loss=1".to_string()),
                None,
                Some("bad\u{fffd}byte loss=2".to_string()),
                Some("last=3".to_string())
            ]
        );
    }

    #[tokio::test]
    async fn a_program_past_the_limits_fails_as_a_user_error() {
        let started = std::time::Instant::now();
        let events = collect(
            "for i in $(seq 1 300); do echo \"epoch=$i k$i=1\"; done; sleep 30",
            Arc::default(),
        )
        .await;
        assert_eq!(events.len(), MAX_METRICS + 1, "{:?}", events.last());
        let Some(Event::Done(Outcome::Failed { error, kind })) = events.last() else {
            panic!("{:?}", events.last());
        };
        assert_eq!(*kind, FailureKind::User);
        assert!(error.contains("the 257th: `k257`"), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "it was stopped"
        );
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

    #[tokio::test]
    async fn an_exit_0_without_the_study_metric_fails_naming_the_last_line() {
        let events = collect(
            r#"echo '{"epoch": 1, "loss": 0.8}'; echo 'epoch 2: loss 0.7'"#,
            Arc::new(Cancel::default()),
        )
        .await;
        let Some(Event::Done(Outcome::Failed { error, kind })) = events.last() else {
            panic!("{events:?}");
        };
        assert_eq!(*kind, FailureKind::User);
        assert!(error.contains("`loss=NUMBER`"), "{error}");
        assert!(error.contains("epoch 2: loss 0.7"), "{error}");
        let silent = collect("true", Arc::new(Cancel::default())).await;
        let Some(Event::Done(Outcome::Failed { error, .. })) = silent.last() else {
            panic!("{silent:?}");
        };
        assert!(error.contains("it printed nothing"), "{error}");
    }
}
