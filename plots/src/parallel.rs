//! Parallel coordinates: one vertical axis per parameter and one for the value; each trial a
//! line across them, coloured from worst (pale) to best (dark), drawn best last so the
//! best lie on top. Log parameters on log axes, categorical ones with their categories.

use hypersearch_insight::params::{Axis, ParamTable};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::style::{self, Scale};
use crate::{Chart, DrawResult, FAMILY};

/// The parallel-coordinates chart of a study.
pub struct ParallelChart<'a>(pub &'a ParamTable);

/// An axis: its name, how values map to 0..1 and its labelled ticks (position, label).
struct Lane {
    name: String,
    place: Box<dyn Fn(f64) -> Option<f64> + 'static>,
    ticks: Vec<(f64, String)>,
}

impl Chart for ParallelChart<'_> {
    fn size(&self) -> (u32, u32) {
        (
            (220 + 150 * (self.0.columns.len() as u32 + 1)).clamp(800, 4000),
            640,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let table = self.0;
        let title = format!("Parallel coordinates: {}", table.metric);
        if table.values.is_empty() {
            return crate::nothing_yet(root, &title, "no complete trial yet");
        }
        let mut lanes: Vec<Lane> = table
            .columns
            .iter()
            .map(|c| lane(&c.name, &c.axis))
            .collect();
        let (low, high) = (
            table.values.iter().copied().fold(f64::INFINITY, f64::min),
            table
                .values
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max),
        );
        lanes.push(lane(
            &table.metric,
            &Axis::Numeric {
                low,
                high,
                log: false,
                integer: false,
            },
        ));
        let count = lanes.len();
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FAMILY, 24))
            .margin(24)
            .build_cartesian_2d(-0.3..count as f64 - 0.7, -0.16..1.1)?;
        let quality = |value: f64| {
            let t = if high > low {
                (value - low) / (high - low)
            } else {
                1.0
            };
            if table.maximize { t } else { 1.0 - t }
        };
        let mut order: Vec<usize> = (0..table.values.len()).collect();
        order.sort_by(|&a, &b| quality(table.values[a]).total_cmp(&quality(table.values[b])));
        for at in order {
            let mut points = Vec::with_capacity(count);
            for (x, column) in table.columns.iter().enumerate() {
                if let Some(y) = column.cells[at].and_then(|v| (lanes[x].place)(v)) {
                    points.push((x as f64, y));
                }
            }
            if let Some(y) = (lanes[count - 1].place)(table.values[at]) {
                points.push(((count - 1) as f64, y));
            }
            let color = style::ramp(quality(table.values[at]));
            chart.draw_series(std::iter::once(PathElement::new(points, color.mix(0.6))))?;
        }
        let text = (FAMILY, 14).into_font();
        for (x, lane) in lanes.iter().enumerate() {
            let x = x as f64;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x, 0.0), (x, 1.0)],
                BLACK.stroke_width(2),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                lane.name.clone(),
                (x - 0.15, -0.1),
                text.clone(),
            )))?;
            chart.draw_series(lane.ticks.iter().map(|(y, label)| {
                Text::new(
                    label.clone(),
                    (x + 0.03, y + 0.02),
                    text.clone().color(&style::MUTED),
                )
            }))?;
        }
        Ok(())
    }
}

/// The lane of a parameter on `axis`.
fn lane(name: &str, axis: &Axis) -> Lane {
    match axis {
        Axis::Numeric { low, high, log, .. } => {
            let scale = Scale::of(*log);
            let (from, to) = (
                scale.to_axis(*low).unwrap_or(0.0),
                scale.to_axis(*high).unwrap_or(1.0),
            );
            let span = if to > from { to - from } else { 1.0 };
            let middle = match scale {
                Scale::Log => 10f64.powf((from + to) / 2.0),
                Scale::Linear => (low + high) / 2.0,
            };
            Lane {
                name: name.to_string(),
                place: Box::new(move |v| scale.to_axis(v).map(|p| (p - from) / span)),
                ticks: vec![
                    (0.0, style::number(*low)),
                    (0.5, style::number(middle)),
                    (
                        1.0,
                        format!(
                            "{}{}",
                            style::number(*high),
                            if *log { " (log)" } else { "" }
                        ),
                    ),
                ],
            }
        }
        Axis::Categorical { categories } => {
            let steps = categories.len().saturating_sub(1).max(1) as f64;
            Lane {
                name: name.to_string(),
                place: Box::new(move |index| Some(index / steps)),
                ticks: categories
                    .iter()
                    .enumerate()
                    .map(|(at, category)| (at as f64 / steps, category.clone()))
                    .collect(),
            }
        }
    }
}
