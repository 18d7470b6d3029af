//! The optimization history: each complete trial's value by trial number, and the
//! best-so-far line (a step at each trial that improved it); a log axis when the values
//! span decades.

use hypersearch_insight::history::History;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::style::{self, Scale};
use crate::{Chart, DrawResult, FAMILY, house_mesh};

/// The history chart of a study.
pub struct HistoryChart<'a>(pub &'a History);

impl Chart for HistoryChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let history = self.0;
        let title = format!("Optimization history: {}", history.metric);
        if history.values.is_empty() {
            return crate::nothing_yet(root, &title, "no complete trial yet");
        }
        let scale = Scale::of(history.log_scale);
        let (low, high) = scale.range(history.values.iter().copied());
        let last = history.numbers.iter().copied().max().unwrap_or(0) as f64;
        let label = |y: &f64| scale.label(*y);
        let whole = |x: &f64| style::number(*x);
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FAMILY, 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(-0.5..last + 0.5, low..high)?;
        let direction = if history.maximize {
            "higher is better"
        } else {
            "lower is better"
        };
        house_mesh(&mut chart.configure_mesh())
            .x_desc("trial")
            .y_desc(format!("{} ({direction})", history.metric))
            .y_label_formatter(&label)
            .x_label_formatter(&whole)
            .draw()?;
        let dot = style::COMPLETE.mix(0.55).filled();
        chart
            .draw_series(
                history
                    .numbers
                    .iter()
                    .zip(&history.values)
                    .filter_map(|(&n, &v)| {
                        Some(Circle::new((n as f64, scale.to_axis(v)?), 2, dot))
                    }),
            )?
            .label(format!(
                "complete trials ({} drawn of {})",
                history.values.len(),
                history.complete
            ))
            .legend(move |(x, y)| Circle::new((x + 10, y), 3, dot));
        let mut steps = Vec::with_capacity(2 * history.best.len() + 1);
        for &(number, value) in &history.best {
            let Some(y) = scale.to_axis(value) else {
                continue;
            };
            if let Some(&(_, previous)) = steps.last() {
                steps.push((number as f64, previous));
            }
            steps.push((number as f64, y));
        }
        if let Some(&(_, y)) = steps.last() {
            steps.push((last + 0.5, y));
        }
        chart
            .draw_series(LineSeries::new(steps, style::BEST.stroke_width(2)))?
            .label("best so far")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], style::BEST.stroke_width(2))
            });
        crate::legend(&mut chart, crate::away_from_the_best(history.maximize), 14)?;
        Ok(())
    }
}
