//! What `run` and the queries show on a real terminal 80 columns wide (a tmux pane): the
//! progress bar keeps a bar and its ETA on one line, and tables fit the width instead of
//! spilling over it.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Scratch, bin, run_program, stdout, tool};

const STUDY: &str = r#"
[study]
name = "narrow"
metric = "loss"

[objective]
command = "sleep 0.25; echo loss=$HYPERSEARCH_TRIAL epoch=1"

[search]
algorithm = "random"
trials = 24
parallel = 2
seed = 3

[search.space]
learning_rate = { float = [1e-4, 1e-1], log = true }
optimizer = { choice = ["sgd", "momentum", "adam"] }
momentum = { float = [0.5, 0.99], when = { optimizer = "momentum" } }
"#;

const WIDTH: usize = 80;

/// A tmux server of the test's own (its own socket), killed when dropped.
struct Tmux {
    program: PathBuf,
    socket: String,
}

impl Tmux {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command.arg("-L").arg(&self.socket).args(args);
        command
    }

    /// The visible screen of the session's pane.
    fn screen(&self) -> String {
        stdout(&run_program(
            &mut self.command(&["capture-pane", "-p", "-t", "hs"]),
            Duration::from_secs(10),
        ))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command(&["kill-server"]).output();
    }
}

#[test]
fn the_progress_bar_and_the_tables_fit_an_80_column_terminal() {
    let dir = Scratch::new();
    dir.write("study.toml", STUDY);
    let tmux = Tmux {
        program: tool("tmux", "Debian's `tmux`"),
        socket: format!("hypersearch-test-{}", std::process::id()),
    };
    let script = format!(
        "{bin} run study.toml --db t.db; {bin} best --db t.db --top 3; echo END-OF-TEST; sleep 60",
        bin = bin()
    );
    let started = run_program(
        &mut tmux.command(&[
            "new-session",
            "-d",
            "-x",
            &WIDTH.to_string(),
            "-y",
            "40",
            "-s",
            "hs",
            "-c",
            dir.path("").to_str().expect("utf-8 path"),
            &script,
        ]),
        Duration::from_secs(10),
    );
    assert!(started.status.success(), "{started:?}");

    let deadline = Instant::now() + Duration::from_secs(90);
    let mut bar_lines = Vec::new();
    let screen = loop {
        let screen = tmux.screen();
        bar_lines.extend(
            screen
                .lines()
                .filter(|l| l.contains("/24 ·"))
                .map(str::to_string),
        );
        if screen.contains("END-OF-TEST") {
            break screen;
        }
        assert!(
            Instant::now() < deadline,
            "the study did not end:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    assert!(!bar_lines.is_empty(), "no progress bar was seen");
    for line in &bar_lines {
        let bar = line.chars().filter(|c| matches!(c, '█' | '░')).count();
        assert!(bar >= 10, "the bar lost its bar: {line:?}");
        assert!(
            line.contains("ETA") && line.contains("best"),
            "the bar line was cut: {line:?}"
        );
        assert!(line.chars().count() <= WIDTH, "{line:?}");
    }
    // A row of the table that overflowed would continue on the next line without a border.
    let rows: Vec<&str> = screen
        .lines()
        .map(str::trim_end)
        .skip_while(|l| !l.starts_with("best trials of study"))
        .take_while(|l| !l.starts_with("more:") && !l.starts_with("(hidden"))
        .skip(1)
        .collect();
    let note = screen
        .lines()
        .find(|l| l.starts_with("(hidden to fit 80 columns: worker"))
        .unwrap_or_else(|| panic!("the columns left out are named:\n{screen}"));
    assert!(
        note.trim_end().ends_with(')'),
        "the note fits one line: {note:?}"
    );
    assert!(rows.len() >= 6, "the best table:\n{screen}");
    for row in &rows {
        let first = row.chars().next().unwrap_or(' ');
        let last = row.chars().last().unwrap_or(' ');
        assert!(
            "┌│╞└".contains(first) && "┐│╡┘".contains(last),
            "a table row does not fit 80 columns: {row:?}\n{screen}"
        );
    }
    assert!(
        rows.iter().any(|r| r.contains("loss (min)")),
        "the value column is kept:\n{screen}"
    );
    // Cells wrap between words: no parameter is cut in two.
    for row in &rows {
        for part in ["learning_rate", "optimizer", "momentum"] {
            let cut =
                (3..part.len()).any(|k| row.trim_end_matches('│').trim_end().ends_with(&part[..k]));
            assert!(!cut, "`{part}` cut at the end of {row:?}\n{screen}");
        }
    }
}
