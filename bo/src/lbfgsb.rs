//! Bound-constrained limited-memory BFGS as an ask/tell state machine, so that several
//! local searches can advance in lockstep and share one batched evaluation per step.
//!
//! It is a projected quasi-Newton method: coordinates at a bound whose gradient points
//! outward are frozen, the L-BFGS direction is computed on the others, and a backtracking
//! (Armijo) search runs along the path projected onto the box.

use std::collections::VecDeque;

/// Stopping rules and memory of [`Lbfgsb`].
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Number of correction pairs kept.
    pub memory: usize,
    /// Maximum number of accepted steps.
    pub max_iterations: usize,
    /// Stop when the projected gradient's largest entry is at most this.
    pub pgtol: f64,
    /// Stop when a step lowers `f` by at most `ftol·max(|f|, 1)`.
    pub ftol: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            memory: 10,
            max_iterations: 200,
            pgtol: 1e-5,
            ftol: 2.2e-9,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Waiting for the value at the starting point.
    Start,
    /// Waiting for the value at a trial point of the line search.
    Search {
        step: f64,
        backtracks: u32,
    },
    Done,
}

/// One bound-constrained minimization in progress.
#[derive(Debug, Clone)]
pub struct Lbfgsb {
    settings: Settings,
    lower: Vec<f64>,
    upper: Vec<f64>,
    x: Vec<f64>,
    f: f64,
    g: Vec<f64>,
    direction: Vec<f64>,
    trial: Vec<f64>,
    s_hist: VecDeque<Vec<f64>>,
    y_hist: VecDeque<Vec<f64>>,
    iterations: usize,
    evaluations: usize,
    state: State,
}

impl Lbfgsb {
    /// Starts at `x0` (projected onto `[lower, upper]`).
    pub fn new(x0: &[f64], lower: Vec<f64>, upper: Vec<f64>, settings: Settings) -> Self {
        let x: Vec<f64> = x0
            .iter()
            .zip(lower.iter().zip(&upper))
            .map(|(v, (l, u))| v.clamp(*l, *u))
            .collect();
        Self {
            settings,
            lower,
            upper,
            trial: x.clone(),
            g: vec![0.0; x.len()],
            direction: vec![0.0; x.len()],
            x,
            f: f64::INFINITY,
            s_hist: VecDeque::new(),
            y_hist: VecDeque::new(),
            iterations: 0,
            evaluations: 0,
            state: State::Start,
        }
    }

    /// The point to evaluate next, or `None` when finished.
    pub fn point(&self) -> Option<&[f64]> {
        (self.state != State::Done).then_some(self.trial.as_slice())
    }

    /// Whether the minimization has finished.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The best point accepted so far and its value (`+inf` if the start was not finite).
    pub fn best(&self) -> (&[f64], f64) {
        (&self.x, self.f)
    }

    /// Number of function evaluations consumed.
    pub fn evaluations(&self) -> usize {
        self.evaluations
    }

    /// Reports `f` and its gradient at the point last returned by [`Lbfgsb::point`].
    pub fn tell(&mut self, f: f64, g: &[f64]) {
        self.evaluations += 1;
        match self.state {
            State::Done => {}
            State::Start => {
                if !f.is_finite() || g.iter().any(|v| !v.is_finite()) {
                    self.state = State::Done;
                    return;
                }
                self.f = f;
                self.g.copy_from_slice(g);
                self.next_direction();
            }
            State::Search { step, backtracks } => {
                let decrease: f64 = self
                    .g
                    .iter()
                    .zip(self.trial.iter().zip(&self.x))
                    .map(|(gi, (t, x))| gi * (t - x))
                    .sum();
                let finite = f.is_finite() && g.iter().all(|v| v.is_finite());
                if finite && decrease < 0.0 && f <= self.f + 1e-4 * decrease {
                    self.accept(f, g);
                } else if backtracks < 30 && step > 1e-20 {
                    self.set_trial(step * 0.5, backtracks + 1);
                } else if !self.s_hist.is_empty() {
                    // The quasi-Newton model misled the search: restart as steepest descent.
                    self.s_hist.clear();
                    self.y_hist.clear();
                    self.next_direction();
                } else {
                    self.state = State::Done;
                }
            }
        }
    }

    fn accept(&mut self, f: f64, g: &[f64]) {
        let s: Vec<f64> = self.trial.iter().zip(&self.x).map(|(t, x)| t - x).collect();
        let y: Vec<f64> = g.iter().zip(&self.g).map(|(a, b)| a - b).collect();
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        let yy: f64 = y.iter().map(|v| v * v).sum();
        if sy > 1e-10 * yy && sy > 0.0 {
            if self.s_hist.len() == self.settings.memory {
                self.s_hist.pop_front();
                self.y_hist.pop_front();
            }
            self.s_hist.push_back(s);
            self.y_hist.push_back(y);
        }
        let old_f = self.f;
        self.x.copy_from_slice(&self.trial);
        self.f = f;
        self.g.copy_from_slice(g);
        self.iterations += 1;
        if self.iterations >= self.settings.max_iterations
            || old_f - f <= self.settings.ftol * old_f.abs().max(f.abs()).max(1.0)
        {
            self.state = State::Done;
            return;
        }
        self.next_direction();
    }

    fn is_free(&self, i: usize) -> bool {
        !((self.x[i] <= self.lower[i] && self.g[i] > 0.0)
            || (self.x[i] >= self.upper[i] && self.g[i] < 0.0))
    }

    /// Computes the search direction from the current iterate, or finishes on convergence.
    fn next_direction(&mut self) {
        let n = self.x.len();
        let free: Vec<bool> = (0..n).map(|i| self.is_free(i)).collect();
        let pg = (0..n)
            .filter(|&i| free[i])
            .map(|i| self.g[i].abs())
            .fold(0.0, f64::max);
        if pg <= self.settings.pgtol {
            self.state = State::Done;
            return;
        }
        let mut q: Vec<f64> = (0..n)
            .map(|i| if free[i] { self.g[i] } else { 0.0 })
            .collect();
        let k = self.s_hist.len();
        let mut alphas = vec![0.0; k];
        for idx in (0..k).rev() {
            let (s, y) = (&self.s_hist[idx], &self.y_hist[idx]);
            let rho = 1.0 / dot(s, y);
            alphas[idx] = rho * dot(s, &q);
            q.iter_mut()
                .zip(y)
                .for_each(|(qi, yi)| *qi -= alphas[idx] * yi);
        }
        if let (Some(s), Some(y)) = (self.s_hist.back(), self.y_hist.back()) {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for (idx, alpha) in alphas.iter().enumerate() {
            let (s, y) = (&self.s_hist[idx], &self.y_hist[idx]);
            let rho = 1.0 / dot(s, y);
            let beta = rho * dot(y, &q);
            q.iter_mut()
                .zip(s)
                .for_each(|(qi, si)| *qi += (alpha - beta) * si);
        }
        for ((dir, &f), qi) in self.direction.iter_mut().zip(&free).zip(&q) {
            *dir = if f { -qi } else { 0.0 };
        }
        let slope: f64 = dot(&self.direction, &self.g);
        let descent = slope < 0.0 && self.direction.iter().all(|v| v.is_finite());
        if !descent {
            self.s_hist.clear();
            self.y_hist.clear();
            for ((dir, &f), gi) in self.direction.iter_mut().zip(&free).zip(&self.g) {
                *dir = if f { -gi } else { 0.0 };
            }
        }
        let step = if self.s_hist.is_empty() {
            let norm = dot(&self.direction, &self.direction).sqrt();
            (1.0 / norm).min(1.0)
        } else {
            1.0
        };
        self.set_trial(step, 0);
    }

    fn set_trial(&mut self, step: f64, backtracks: u32) {
        for i in 0..self.x.len() {
            self.trial[i] =
                (self.x[i] + step * self.direction[i]).clamp(self.lower[i], self.upper[i]);
        }
        self.state = State::Search { step, backtracks };
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimizes `f` (which writes its gradient into the second argument) over the box from
/// `x0`; returns the best point and value.
pub fn minimize(
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
    x0: &[f64],
    lower: Vec<f64>,
    upper: Vec<f64>,
    settings: Settings,
) -> (Vec<f64>, f64) {
    let mut opt = Lbfgsb::new(x0, lower, upper, settings);
    let mut g = vec![0.0; x0.len()];
    while let Some(x) = opt.point() {
        let x = x.to_vec();
        let v = f(&x, &mut g);
        opt.tell(v, &g);
    }
    let (x, v) = opt.best();
    (x.to_vec(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rosenbrock(x: &[f64], g: &mut [f64]) -> f64 {
        let (a, b) = (x[0], x[1]);
        g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
        g[1] = 200.0 * (b - a * a);
        (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
    }

    #[test]
    fn finds_the_unconstrained_rosenbrock_minimum() {
        let settings = Settings {
            max_iterations: 500,
            pgtol: 1e-8,
            ftol: 0.0,
            ..Settings::default()
        };
        let (x, v) = minimize(
            rosenbrock,
            &[-1.2, 1.0],
            vec![-5.0; 2],
            vec![5.0; 2],
            settings,
        );
        assert!(v < 1e-10, "value {v} at {x:?}");
        assert!((x[0] - 1.0).abs() < 1e-4 && (x[1] - 1.0).abs() < 1e-4);
    }

    #[test]
    fn stops_on_an_active_bound() {
        // Minimum of the bowl is at (2, -3); the box [-1, 1]² puts it at the corner (1, -1).
        let bowl = |x: &[f64], g: &mut [f64]| {
            g[0] = 2.0 * (x[0] - 2.0);
            g[1] = 2.0 * (x[1] + 3.0);
            (x[0] - 2.0).powi(2) + (x[1] + 3.0).powi(2)
        };
        let (x, _) = minimize(
            bowl,
            &[0.0, 0.0],
            vec![-1.0; 2],
            vec![1.0; 2],
            Settings::default(),
        );
        assert_eq!(x, vec![1.0, -1.0]);
    }

    #[test]
    fn a_non_finite_start_ends_at_once() {
        let mut opt = Lbfgsb::new(&[0.5], vec![0.0], vec![1.0], Settings::default());
        opt.tell(f64::NAN, &[0.0]);
        assert!(opt.is_done());
        assert_eq!(opt.best().1, f64::INFINITY);
    }
}
