//! Learning curves: the band between the 10th and 90th percentile of the study metric at each
//! epoch, its median, the best few trials' own curves, and a mark where each pruned trial
//! was stopped.

use hypersearch_insight::curves::Curves;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::style::{self, Scale};
use crate::{Chart, DrawResult, FAMILY, house_mesh};

/// The learning-curves chart of a study.
pub struct CurvesChart<'a>(pub &'a Curves);

impl Chart for CurvesChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let curves = self.0;
        let title = format!("Learning curves: {}", curves.metric);
        if curves.bands.is_empty() {
            return crate::nothing_yet(root, &title, "no epoch reported yet");
        }
        let scale = Scale::Linear;
        let values = curves
            .bands
            .iter()
            .flat_map(|band| [band.p10, band.p90])
            .chain(
                curves
                    .highlighted
                    .iter()
                    .flat_map(|c| c.points.iter().map(|p| p.1)),
            )
            .chain(curves.stops.iter().map(|stop| stop.value));
        let (low, high) = scale.range(values);
        let last = curves
            .bands
            .iter()
            .map(|band| band.epoch)
            .max()
            .unwrap_or(1) as f64;
        let whole = |x: &f64| style::number(*x);
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FAMILY, 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(0.5..last + 0.5, low..high)?;
        let label = |y: &f64| scale.label(*y);
        house_mesh(&mut chart.configure_mesh())
            .x_desc("epoch")
            .y_desc(&curves.metric)
            .y_label_formatter(&label)
            .x_label_formatter(&whole)
            .draw()?;
        let mut outline: Vec<(f64, f64)> = curves
            .bands
            .iter()
            .map(|b| (b.epoch as f64, b.p90))
            .collect();
        outline.extend(curves.bands.iter().rev().map(|b| (b.epoch as f64, b.p10)));
        let band = style::COMPLETE.mix(0.18).filled();
        chart
            .draw_series(std::iter::once(Polygon::new(outline, band)))?
            .label(format!(
                "10th to 90th percentile of {} trials",
                curves.curves
            ))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], band));
        chart
            .draw_series(LineSeries::new(
                curves.bands.iter().map(|b| (b.epoch as f64, b.p50)),
                style::COMPLETE.stroke_width(2),
            ))?
            .label("median")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], style::COMPLETE.stroke_width(2))
            });
        for (rank, curve) in curves.highlighted.iter().enumerate() {
            let color = style::BEST.mix(1.0 - rank as f64 * 0.15);
            let series = chart.draw_series(LineSeries::new(
                curve.points.iter().map(|&(e, v)| (e as f64, v)),
                color.stroke_width(if rank == 0 { 2 } else { 1 }),
            ))?;
            if rank == 0 {
                series
                    .label(format!("best trials (trial {} first)", curve.number))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
        }
        if !curves.stops.is_empty() {
            let mark = style::PRUNED.stroke_width(2);
            chart
                .draw_series(
                    curves
                        .stops
                        .iter()
                        .map(|stop| Cross::new((stop.epoch as f64, stop.value), 4, mark)),
                )?
                .label(format!("stopped early ({} trials)", curves.pruned))
                .legend(move |(x, y)| Cross::new((x + 10, y), 4, mark));
        }
        crate::legend(&mut chart, crate::away_from_the_best(curves.maximize), 14)?;
        Ok(())
    }
}
