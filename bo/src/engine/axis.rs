//! The axis steps (see [`Settings::axis_every`](super::Settings::axis_every)): once the trust
//! region has refined one basin, log-EI on the global GP along the lines through the
//! incumbent parallel to each continuous axis, for as long as such steps keep improving.

use rand_chacha::ChaCha8Rng;

use super::Engine;
use crate::acquisition::Acquisition;
use crate::gp::Gp;
use crate::optimize::{Ranked, Region, maximize};

impl Engine {
    /// The best point of `acquisition` (log-EI, under constraints weighted by feasibility) on
    /// `gp` along the lines through `incumbent` parallel to each continuous axis (one
    /// coordinate free over its whole range, the others fixed) that is not `known` yet: on a
    /// function with several basins per coordinate, a search that has refined one basin
    /// finds where the others are, one coordinate at a time.
    pub(super) fn axis_step(
        &self,
        gp: &Gp,
        acquisition: &Acquisition,
        incumbent: &[f64],
        known: &[Vec<f64>],
        rng: &mut ChaCha8Rng,
    ) -> Option<Vec<f64>> {
        let settings = crate::optimize::SearchSettings {
            candidates: 128,
            starts: 4,
            ..self.settings.search.clone()
        };
        let mut found: Ranked = Vec::new();
        for &i in self.columns.continuous() {
            let mut region = Region::cube(self.columns.len());
            for &j in self.columns.continuous() {
                if j != i {
                    region.lower[j] = incumbent[j];
                    region.upper[j] = incumbent[j];
                }
            }
            found.extend(maximize(
                gp,
                acquisition,
                &self.columns,
                Some(incumbent),
                &region,
                &settings,
                rng,
            ));
        }
        found.sort_by(|a, b| b.1.total_cmp(&a.1));
        found
            .into_iter()
            .map(|(x, _)| x)
            .find(|x| !Self::is_known(known, x))
    }

    /// Whether the axis steps still pay: fewer than one failure per continuous column since
    /// the last one that improved the best value (by more than 1e-3 of its magnitude),
    /// replayed over the newest observations. A point is an axis step's when it differs from
    /// an observation shortly before it in one continuous coordinate only.
    pub(super) fn axis_steps_pay(&self, rows: &[Vec<f64>], values: &[f64]) -> bool {
        const LOOKBACK: usize = 200;
        const WINDOW: usize = 64;
        let cont = self.columns.continuous();
        let limit = cont.len().max(1);
        let same = |a: f64, b: f64| (a - b).abs() <= 1e-9;
        let is_axis = |k: usize| {
            rows[k.saturating_sub(WINDOW)..k].iter().any(|earlier| {
                let moved = cont
                    .iter()
                    .filter(|&&j| !same(earlier[j], rows[k][j]))
                    .count();
                moved == 1
                    && self
                        .columns
                        .discrete()
                        .iter()
                        .all(|&j| same(earlier[j], rows[k][j]))
            })
        };
        let mut failures = 0;
        for k in (rows.len().saturating_sub(LOOKBACK)..rows.len()).rev() {
            if !is_axis(k) {
                continue;
            }
            let before = values[..k].iter().copied().fold(f64::INFINITY, f64::min);
            if values[k] < before - 1e-3 * before.abs() {
                return true;
            }
            failures += 1;
            if failures >= limit {
                return false;
            }
        }
        true
    }
}
