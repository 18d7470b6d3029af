//! One slice plot per parameter: the value of each complete trial against that parameter
//! (log axis for a log parameter, one column per category for a categorical one), coloured
//! by trial number (pale early, dark late) so it shows where the search went as it learned.

use hypersearch_insight::params::{Axis, ParamColumn, ParamTable};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::style::{self, Scale};
use crate::{Chart, DrawResult, FAMILY, house_mesh};

/// The slice plot of one parameter of a study.
pub struct SliceChart<'a> {
    /// The study's parameter table.
    pub table: &'a ParamTable,
    /// The parameter (one of `table.columns`).
    pub column: &'a ParamColumn,
}

impl Chart for SliceChart<'_> {
    fn size(&self) -> (u32, u32) {
        (800, 520)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let (table, column) = (self.table, self.column);
        let title = format!("{} against {}", table.metric, column.name);
        let points: Vec<(f64, f64, u64)> = column
            .cells
            .iter()
            .zip(&table.values)
            .zip(&table.numbers)
            .filter_map(|((cell, &value), &number)| Some(((*cell)?, value, number)))
            .collect();
        if points.is_empty() {
            return crate::nothing_yet(root, &title, "no complete trial has this parameter yet");
        }
        let (scale, categories) = match &column.axis {
            Axis::Numeric { log, .. } => (Scale::of(*log), None),
            Axis::Categorical { categories } => (Scale::Linear, Some(categories)),
        };
        let (x_low, x_high) = match (&column.axis, categories) {
            (_, Some(categories)) => (-0.5, categories.len() as f64 - 0.5),
            (Axis::Numeric { low, high, .. }, None) => scale.range([*low, *high]),
            _ => (0.0, 1.0),
        };
        let (y_low, y_high) = Scale::Linear.range(points.iter().map(|p| p.1));
        let x_label = |x: &f64| match categories {
            Some(categories) if x.fract().abs() < 1e-9 && *x >= 0.0 => {
                categories.get(*x as usize).cloned().unwrap_or_default()
            }
            Some(_) => String::new(),
            None => scale.label(*x),
        };
        let y_label = |y: &f64| style::number(*y);
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FAMILY, 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(x_low..x_high, y_low..y_high)?;
        let mut mesh = chart.configure_mesh();
        house_mesh(&mut mesh)
            .x_desc(format!(
                "{}{}",
                column.name,
                if scale == Scale::Log {
                    " (log scale)"
                } else {
                    ""
                }
            ))
            .y_desc(&table.metric)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label);
        if let Some(categories) = categories {
            mesh.x_labels(categories.len() * 2 + 1);
        }
        mesh.draw()?;
        let last = table.numbers.iter().copied().max().unwrap_or(1).max(1) as f64;
        chart.draw_series(points.iter().filter_map(|&(x, y, number)| {
            let x = match categories {
                Some(_) => x + jitter(number),
                None => scale.to_axis(x)?,
            };
            let color = style::ramp(number as f64 / last);
            Some(Circle::new((x, y), 3, color.mix(0.75).filled()))
        }))?;
        Ok(())
    }
}

/// A trial's fixed sideways offset inside its category's column (-0.3 to 0.3), so the points
/// of one category do not hide each other.
fn jitter(number: u64) -> f64 {
    let hash = number.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    (hash as f64 / (1u64 << 24) as f64 - 0.5) * 0.6
}
