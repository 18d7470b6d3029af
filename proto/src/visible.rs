//! Text a remote party controls (worker names, hostnames, error messages, metric names),
//! made safe to print: control characters and bidirectional overrides are shown as escapes
//! (`\n`, `\x1b`, `\u{202e}`), so such text can neither move the cursor, clear a screen,
//! set a terminal's title, nor forge a second log line. JSON output keeps the exact text.

use std::borrow::Cow;
use std::fmt;

/// Whether `c` would act on a terminal or a log rather than show: C0 and C1 controls,
/// DEL, and the Unicode bidirectional embeddings, overrides and isolates.
fn acts(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape(c: char, out: &mut impl fmt::Write) -> fmt::Result {
    match c {
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        c if (c as u32) < 0x80 => write!(out, "\\x{:02x}", c as u32),
        c => write!(out, "\\u{{{:x}}}", c as u32),
    }
}

/// `text` with every acting character escaped; borrowed when there is none.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if acts(c) {
            // Writing to a String cannot fail.
            let _ = escape(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` with every acting character but the line feed escaped: for a whole block of
/// output whose own lines are wanted, as a last guard after each remote string was
/// escaped with [`visible`].
pub fn visible_keeping_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && acts(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c != '\n' && acts(c) {
            let _ = escape(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Displays a remote party's text with its acting characters escaped (for logs:
/// `tracing::info!(name = %Visible(&name))`).
#[derive(Debug, Clone, Copy)]
pub struct Visible<'a>(pub &'a str);

impl fmt::Display for Visible<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if acts(c) {
                escape(c, f)?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bidi_overrides_are_shown_not_acted_on() {
        let hostile = "ok\x1b[2J\x1b]0;pwned\x07\nFAKE LOG\r\u{202e}txt.exe\u{9b}";
        let shown = visible(hostile);
        assert_eq!(
            shown,
            "ok\\x1b[2J\\x1b]0;pwned\\x07\\nFAKE LOG\\r\\u{202e}txt.exe\\u{9b}"
        );
        assert!(!shown.chars().any(acts));
        assert_eq!(Visible(hostile).to_string(), shown);
    }

    #[test]
    fn a_block_keeps_its_lines_but_nothing_else_acts() {
        assert_eq!(
            visible_keeping_lines("row 1\nrow 2\x1b[31m\r"),
            "row 1\nrow 2\\x1b[31m\\r"
        );
    }

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let plain = "val_accuracy ü 5 µs — 学習";
        assert!(matches!(visible(plain), Cow::Borrowed(p) if p == plain));
        assert_eq!(Visible(plain).to_string(), plain);
    }
}
