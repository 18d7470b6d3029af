//! The worker timeline: one lane per worker, each attempt a bar from its start to its end
//! coloured by how it ended (complete, pruned, failed, lost, preempted, running), a retry
//! (an attempt after the first) marked with a dot at its start. Idle gaps are the white
//! between bars.

use hypersearch_insight::timeline::{AttemptEnd, Timeline};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::style;
use crate::{Chart, DrawResult, FAMILY, house_mesh};

/// The worker-timeline chart of a study.
pub struct TimelineChart<'a>(pub &'a Timeline);

impl Chart for TimelineChart<'_> {
    fn size(&self) -> (u32, u32) {
        (
            1200,
            (180 + 30
                * self
                    .0
                    .lanes
                    .iter()
                    .map(|l| l.tracks.len() as u32)
                    .sum::<u32>())
            .clamp(320, 2400),
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let timeline = self.0;
        let title = "Worker timeline";
        if timeline.lanes.is_empty() {
            return crate::nothing_yet(root, title, "no trial has started yet");
        }
        // Rows from the top: each lane's tracks, the lane's name on its first.
        let mut rows: Vec<(Option<String>, &[hypersearch_insight::timeline::Bar])> = Vec::new();
        for lane in &timeline.lanes {
            for (at, track) in lane.tracks.iter().enumerate() {
                let name = (at == 0).then(|| {
                    format!(
                        "{} ({:.0}% busy)",
                        lane.worker,
                        lane.busy_share(timeline.span) * 100.0
                    )
                });
                rows.push((name, track));
            }
        }
        let count = rows.len();
        let widest = timeline
            .lanes
            .iter()
            .map(|l| l.worker.len())
            .max()
            .unwrap_or(6);
        let names =
            |y: &f64| crate::row_label(count, *y, |at| rows.get(at).and_then(|row| row.0.clone()));
        let seconds = |x: &f64| style::number(*x);
        let span = timeline.span.max(1e-3);
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FAMILY, 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size((widest as u32 * 8 + 110).clamp(120, 420))
            .build_cartesian_2d(0.0..span * 1.16, -0.6..count as f64 - 0.4)?;
        house_mesh(&mut chart.configure_mesh())
            .disable_y_mesh()
            .y_labels(count.min(60) * 2 + 1)
            .y_label_formatter(&names)
            .x_label_formatter(&seconds)
            .x_desc("seconds since the first trial started")
            .draw()?;
        for (at, (_, bars)) in rows.iter().enumerate() {
            let y = (count - 1 - at) as f64;
            let corners = |bar: &hypersearch_insight::timeline::Bar| {
                [
                    (bar.start, y - 0.32),
                    (bar.end.max(bar.start + span * 1e-4), y + 0.32),
                ]
            };
            chart.draw_series(bars.iter().map(|bar| {
                Rectangle::new(corners(bar), style::end_color(bar.end_state).filled())
            }))?;
            // A white edge, so back-to-back attempts stay two bars (where a bar is wide
            // enough to have one).
            chart.draw_series(
                bars.iter()
                    .filter(|bar| bar.end - bar.start > span / 300.0)
                    .map(|bar| Rectangle::new(corners(bar), WHITE)),
            )?;
            chart.draw_series(
                bars.iter()
                    .filter(|bar| bar.attempt > 1)
                    .map(|bar| Circle::new((bar.start, y + 0.42), 3, BLACK.filled())),
            )?;
        }
        for end in [
            AttemptEnd::Complete,
            AttemptEnd::Pruned,
            AttemptEnd::Failed,
            AttemptEnd::Lost,
            AttemptEnd::Preempted,
            AttemptEnd::Running,
        ] {
            let color = style::end_color(end);
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label(format!("{end:?}").to_lowercase())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.filled())
                });
        }
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label("retry")
            .legend(|(x, y)| Circle::new((x + 8, y), 3, BLACK.filled()));
        crate::legend(&mut chart, SeriesLabelPosition::UpperRight, 13)?;
        Ok(())
    }
}
