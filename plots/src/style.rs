//! What every chart shares: colours by outcome, a colour ramp for values, the value scale
//! (linear, or log10 with labels in the original unit) and compact number labels.

use hypersearch_insight::Outcome;
use hypersearch_insight::timeline::AttemptEnd;
use plotters::style::RGBColor;

/// Complete trials.
pub const COMPLETE: RGBColor = RGBColor(31, 119, 180);
/// Pruned trials and stop markers.
pub const PRUNED: RGBColor = RGBColor(255, 127, 14);
/// Failed trials.
pub const FAILED: RGBColor = RGBColor(214, 39, 40);
/// Lost attempts (retried elsewhere).
pub const LOST: RGBColor = RGBColor(148, 103, 189);
/// Preempted attempts and notes.
pub const MUTED: RGBColor = RGBColor(127, 127, 127);
/// Running attempts.
pub const RUNNING: RGBColor = RGBColor(44, 160, 44);
/// The best-so-far line and best curves.
pub const BEST: RGBColor = RGBColor(200, 30, 30);

/// The colour of a trial's outcome.
pub fn outcome_color(outcome: Outcome) -> RGBColor {
    match outcome {
        Outcome::Complete => COMPLETE,
        Outcome::Pruned => PRUNED,
        Outcome::Failed => FAILED,
        Outcome::Running => RUNNING,
        Outcome::Queued => MUTED,
    }
}

/// The colour of an attempt's end.
pub fn end_color(end: AttemptEnd) -> RGBColor {
    match end {
        AttemptEnd::Complete => COMPLETE,
        AttemptEnd::Pruned => PRUNED,
        AttemptEnd::Failed => FAILED,
        AttemptEnd::Lost => LOST,
        AttemptEnd::Preempted => MUTED,
        AttemptEnd::Running => RUNNING,
    }
}

/// A colour from a ramp of blues that stays visible on white: 0 pale (worst, earliest) to 1
/// dark (best, latest).
pub fn ramp(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (190.0, 210.0, 232.0),
        (130.0, 180.0, 220.0),
        (66.0, 146.0, 198.0),
        (24.0, 100.0, 170.0),
        (8.0, 40.0, 100.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let position = t * (STOPS.len() - 1) as f64;
    let at = (position.floor() as usize).min(STOPS.len() - 2);
    let f = position - at as f64;
    let (a, b) = (STOPS[at], STOPS[at + 1]);
    let mix = |x: f64, y: f64| (x + f * (y - x)).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// How values map onto an axis: as they are, or as their log10 (labels stay in the unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Linear.
    Linear,
    /// Log10; values must be positive.
    Log,
}

impl Scale {
    /// `log` as a scale.
    pub fn of(log: bool) -> Scale {
        if log { Scale::Log } else { Scale::Linear }
    }

    /// A value's position on the axis (`None` for a non-positive value on a log axis).
    pub fn to_axis(self, value: f64) -> Option<f64> {
        match self {
            Scale::Linear => value.is_finite().then_some(value),
            Scale::Log => (value > 0.0 && value.is_finite()).then(|| value.log10()),
        }
    }

    /// A tick's label: the value in its unit.
    pub fn label(self, position: f64) -> String {
        match self {
            Scale::Linear => number(position),
            Scale::Log => number(10f64.powf(position)),
        }
    }

    /// The axis range covering `values` (in axis positions), with a margin; `(0, 1)` when
    /// there is nothing.
    pub fn range(self, values: impl IntoIterator<Item = f64>) -> (f64, f64) {
        let (low, high) = values
            .into_iter()
            .filter_map(|v| self.to_axis(v))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                (l.min(v), h.max(v))
            });
        if !low.is_finite() {
            return (0.0, 1.0);
        }
        let margin = if high > low {
            (high - low) * 0.05
        } else {
            low.abs().max(1.0) * 0.05
        };
        (low - margin, high + margin)
    }
}

/// A number in at most 4 significant figures, exponent form outside 1e-3 to 1e5.
pub fn number(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let magnitude = value.abs();
    if !(1e-3..1e5).contains(&magnitude) {
        let text = format!("{value:.2e}");
        return match text.split_once('e') {
            Some((mantissa, exponent)) if mantissa.contains('.') => {
                let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
                format!("{mantissa}e{exponent}")
            }
            _ => text,
        };
    }
    let decimals = (3 - magnitude.log10().floor() as i32).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(0.98765), "0.9877");
        assert_eq!(number(1234.6), "1235");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(0.00001234), "1.23e-5");
        assert_eq!(number(0.0001), "1e-4");
    }

    #[test]
    fn a_log_scale_labels_in_the_unit() {
        assert_eq!(Scale::Log.to_axis(100.0), Some(2.0));
        assert_eq!(Scale::Log.to_axis(-1.0), None);
        assert_eq!(Scale::Log.label(-2.0), "0.01");
    }

    #[test]
    fn the_ramp_runs_from_pale_to_dark() {
        assert_eq!(ramp(0.0), RGBColor(190, 210, 232));
        assert_eq!(ramp(1.0), RGBColor(8, 40, 100));
    }
}
