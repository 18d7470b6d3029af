//! The Pareto front of a study with several objectives: each complete trial at its values of
//! two objectives, the non-dominated ones joined by the front's staircase, the dominated ones
//! muted and the infeasible ones (a constraint broken) grey; a log axis for an objective that
//! spans decades (a parameter count).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::style::{self, Scale};
use crate::{Chart, DrawResult, FAMILY, house_mesh};

pub use hypersearch_insight::pareto::{Objective, Point, Standing};

/// The Pareto chart of a study: two of its objectives and its complete trials.
pub struct ParetoChart<'a> {
    /// The study's name.
    pub study: &'a str,
    /// The objective along x.
    pub x: &'a Objective,
    /// The objective along y.
    pub y: &'a Objective,
    /// Objectives beyond the two drawn (their count, for the caption).
    pub more_objectives: usize,
    /// The complete trials.
    pub points: &'a [Point],
}

/// Whether `values` span at least three decades, all positive: drawn on a log axis.
fn spans_decades(values: impl Iterator<Item = f64>) -> bool {
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    low > 0.0 && high.is_finite() && high / low >= 1e3
}

/// An axis's description: the metric and which way is better.
fn describe(objective: &Objective) -> String {
    let way = if objective.maximize {
        "higher is better"
    } else {
        "lower is better"
    };
    format!("{} ({way})", objective.metric)
}

impl Chart for ParetoChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let mut title = format!("Pareto front: {}", self.study);
        if self.more_objectives > 0 {
            title.push_str(&format!(" (2 of {} objectives)", self.more_objectives + 2));
        }
        if self.points.is_empty() {
            return crate::nothing_yet(root, &title, "no complete trial yet");
        }
        let x_scale = Scale::of(spans_decades(self.points.iter().map(|p| p.x)));
        let y_scale = Scale::of(spans_decades(self.points.iter().map(|p| p.y)));
        let (x_low, x_high) = x_scale.range(self.points.iter().map(|p| p.x));
        let (y_low, y_high) = y_scale.range(self.points.iter().map(|p| p.y));
        let x_label = |v: &f64| x_scale.label(*v);
        let y_label = |v: &f64| y_scale.label(*v);
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FAMILY, 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(x_low..x_high, y_low..y_high)?;
        house_mesh(&mut chart.configure_mesh())
            .x_desc(describe(self.x))
            .y_desc(describe(self.y))
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .draw()?;
        let at = |p: &Point| Some((x_scale.to_axis(p.x)?, y_scale.to_axis(p.y)?));
        let kinds = [
            (Standing::Infeasible, style::MUTED.mix(0.5), "infeasible"),
            (Standing::Dominated, style::COMPLETE.mix(0.55), "dominated"),
            (Standing::Front, style::BEST.mix(1.0), "Pareto front"),
        ];
        for (standing, color, name) in kinds {
            let dot = color.filled();
            let drawn: Vec<(f64, f64)> = self
                .points
                .iter()
                .filter(|p| p.standing == standing)
                .filter_map(at)
                .collect();
            if drawn.is_empty() {
                continue;
            }
            let count = drawn.len();
            let radius = if standing == Standing::Front { 4 } else { 3 };
            chart
                .draw_series(drawn.into_iter().map(|xy| Circle::new(xy, radius, dot)))?
                .label(format!("{name} ({count})"))
                .legend(move |(x, y)| Circle::new((x + 10, y), radius, dot));
        }
        chart.draw_series(LineSeries::new(
            self.staircase(&at),
            style::BEST.mix(0.6).stroke_width(1),
        ))?;
        crate::legend(&mut chart, SeriesLabelPosition::UpperRight, 14)?;
        Ok(())
    }
}

impl ParetoChart<'_> {
    /// The front's points (in axis positions) joined by steps, from the best of x along: the
    /// region the front dominates lies on its far side. With more than two objectives the
    /// front's points need not form a staircase in these two, and none is drawn.
    fn staircase(&self, at: &impl Fn(&Point) -> Option<(f64, f64)>) -> Vec<(f64, f64)> {
        if self.more_objectives > 0 {
            return Vec::new();
        }
        let mut front: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter(|p| p.standing == Standing::Front)
            .filter_map(at)
            .collect();
        let x_better_first = |a: &(f64, f64), b: &(f64, f64)| {
            let order = a.0.total_cmp(&b.0);
            if self.x.maximize {
                order.reverse()
            } else {
                order
            }
        };
        front.sort_by(x_better_first);
        let mut steps = Vec::with_capacity(2 * front.len());
        for (x, y) in front {
            if let Some(&(_, previous)) = steps.last() {
                steps.push((x, previous));
            }
            steps.push((x, y));
        }
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_staircase_runs_from_the_best_x_and_steps_at_each_front_point() {
        let x = Objective {
            metric: "val_accuracy".into(),
            maximize: true,
        };
        let y = Objective {
            metric: "parameters".into(),
            maximize: false,
        };
        let point = |number, x, y, standing| Point {
            number,
            x,
            y,
            standing,
        };
        let points = [
            point(0, 0.90, 1e4, Standing::Front),
            point(1, 0.97, 2e5, Standing::Front),
            point(2, 0.85, 3e4, Standing::Dominated),
            point(3, 0.99, 9e7, Standing::Infeasible),
        ];
        let chart = ParetoChart {
            study: "s",
            x: &x,
            y: &y,
            more_objectives: 0,
            points: &points,
        };
        let steps = chart.staircase(&|p: &Point| Some((p.x, p.y)));
        assert_eq!(steps, vec![(0.97, 2e5), (0.90, 2e5), (0.90, 1e4)]);
        assert!(spans_decades(points.iter().map(|p| p.y)));
        assert!(!spans_decades(points.iter().map(|p| p.x)));
    }
}
