//! Parameter importance: one horizontal bar per parameter, most important on top, with its
//! share in percent and the sign of its correlation with the value.

use hypersearch_insight::Importance;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::style;
use crate::{Chart, DrawResult, FAMILY, house_mesh};

/// The importance chart; `bars` most important first (as `insight::importance` gives them).
pub struct ImportanceChart<'a> {
    /// The study metric.
    pub metric: &'a str,
    /// The bars: each parameter's importance.
    pub bars: &'a [Importance],
}

impl Chart for ImportanceChart<'_> {
    fn size(&self) -> (u32, u32) {
        (1000, (160 + 34 * self.bars.len() as u32).clamp(320, 2400))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let title = format!("Parameter importance (PED-ANOVA): {}", self.metric);
        if self.bars.is_empty() {
            return crate::nothing_yet(root, &title, "not enough complete trials yet");
        }
        let count = self.bars.len();
        let widest = self
            .bars
            .iter()
            .map(|bar| bar.parameter.len())
            .max()
            .unwrap_or(8);
        let names = |y: &f64| {
            crate::row_label(count, *y, |at| {
                self.bars.get(at).map(|bar| bar.parameter.clone())
            })
        };
        let percent = |x: &f64| format!("{:.0}%", x * 100.0);
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FAMILY, 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size((widest as u32 * 8 + 16).clamp(80, 360))
            .build_cartesian_2d(0.0..1.08, -0.6..count as f64 - 0.4)?;
        house_mesh(&mut chart.configure_mesh())
            .disable_y_mesh()
            .y_labels(count.min(60) * 2 + 1)
            .y_label_formatter(&names)
            .x_label_formatter(&percent)
            .x_desc("share of the importance")
            .draw()?;
        for (at, bar) in self.bars.iter().enumerate() {
            let y = (count - 1 - at) as f64;
            let share = bar.importance.clamp(0.0, 1.0);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, y - 0.35), (share, y + 0.35)],
                style::COMPLETE.filled(),
            )))?;
            let sign = match bar.correlation {
                Some(c) if c > 0.0 => "  (+: higher is better)",
                Some(c) if c < 0.0 => "  (-: lower is better)",
                _ => "",
            };
            chart.draw_series(std::iter::once(Text::new(
                format!("{:.1}%{sign}", share * 100.0),
                (share + 0.01, y + 0.15),
                (FAMILY, 14),
            )))?;
        }
        Ok(())
    }
}
