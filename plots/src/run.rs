//! One training run's history (`hypersearch train --plot`): loss on the left and accuracy on
//! the right, training against validation, by epoch.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::style;
use crate::{Chart, DrawResult, FAMILY, house_mesh};

/// A metric's values by epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its name (`train_loss`, `val_accuracy`, ...).
    pub name: String,
    /// `(epoch, value)`.
    pub points: Vec<(u32, f64)>,
}

/// The history chart of one run: every `*loss` series on the left panel, every `*accuracy`
/// series on the right.
pub struct RunChart<'a> {
    /// What the run was (the config file's name).
    pub title: &'a str,
    /// The series.
    pub series: &'a [Series],
}

impl Chart for RunChart<'_> {
    fn size(&self) -> (u32, u32) {
        (1200, 520)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let root = root.titled(self.title, (FAMILY, 24))?;
        let (left, right) = root.split_horizontally(600);
        self.panel(&left, "loss", |name| name.ends_with("loss"))?;
        self.panel(&right, "accuracy", |name| name.ends_with("accuracy"))?;
        Ok(())
    }
}

impl RunChart<'_> {
    /// One panel with the series whose name `wanted` accepts.
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        what: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let series: Vec<&Series> = self.series.iter().filter(|s| wanted(&s.name)).collect();
        let points = || series.iter().flat_map(|s| s.points.iter());
        if points().next().is_none() {
            return crate::nothing_yet(area, what, "not reported");
        }
        let last = points().map(|p| p.0).max().unwrap_or(1) as f64;
        let (low, high) = style::Scale::Linear.range(points().map(|p| p.1));
        let mut chart = ChartBuilder::on(area)
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0.5..last + 0.5, low..high)?;
        let label = |y: &f64| style::number(*y);
        house_mesh(&mut chart.configure_mesh())
            .x_desc("epoch")
            .y_desc(what)
            .y_label_formatter(&label)
            .draw()?;
        for series in series {
            let color = if series.name.starts_with("train") {
                style::COMPLETE
            } else if series.name.starts_with("val") {
                style::PRUNED
            } else {
                style::RUNNING
            };
            let line = color.stroke_width(2);
            chart
                .draw_series(LineSeries::new(
                    series.points.iter().map(|&(e, v)| (e as f64, v)),
                    line,
                ))?
                .label(series.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line));
        }
        crate::legend(&mut chart, SeriesLabelPosition::UpperRight, 14)?;
        Ok(())
    }
}
