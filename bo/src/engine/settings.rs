//! The engine's settings: what fills in pending points, output warping, the trust region,
//! the acquisition function, and the tuned defaults.

use crate::gp::FitSettings;
use crate::optimize::SearchSettings;

/// The value pending points are assumed to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liar {
    /// The best observed value (Optuna's "best" constant liar). Poor while the pending
    /// points are design points in bad regions: the lie makes those regions look good.
    Best,
    /// The posterior mean at the point, but never better than the best observed value
    /// (kriging believer clipped at the incumbent). It removes the uncertainty
    /// at the point without making a bad region look good, and a point predicted to improve
    /// counts as merely matching the incumbent, so the next point goes elsewhere.
    KrigingBeliever,
    /// The posterior mean at the point, unclipped (the plain kriging believer): the mean
    /// stays as it was and only the uncertainty at the point is removed (GP-BUCB's
    /// hallucinated observations).
    Mean,
    /// The posterior mean at the point, unclipped, and the pending point whose mean is
    /// lowest, when below the best observation, becomes the incumbent (the trust region's
    /// centre and the posterior-mean step's start): the default. The batch proceeds as if the
    /// improvements it expects had happened, so each point builds on the ones in flight as a
    /// sequential search builds on its last result, instead of all of them refining the
    /// last observed incumbent. Under constraints it is [`Liar::KrigingBeliever`]. With 8 in
    /// flight (ablation, 40 seeds, median / geometric mean) hartmann6 1.1e-5 / 1.2e-4 →
    /// 3.2e-6 / 4.3e-5, ackley5 0.52 / 0.45 → 0.38 / 0.41, rosenbrock4 3.19 / 4.26 → 3.00 /
    /// 3.53; 20 seeds: rastrigin3 4.87 → 1.99, styblinski_tang5 26 → 15, levy4 6.7e-3 →
    /// 4.7e-3, branin even.
    Believed,
    /// Not a lie: log-EI averaged over this many joint posterior samples of the pending
    /// points' values ([`crate::pending`]); the Kriging believer fills in for other
    /// acquisition functions.
    Fantasies(usize),
}

/// Whether the observed values are power-transformed (Box-Cox / Yeo-Johnson) first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputWarping {
    /// Only standardized (Optuna).
    Off,
    /// Always power-transformed by HEBO's rule.
    Always,
    /// A GP is fitted both to the standardized and to the power-transformed values; the one
    /// whose fit explains the *observed* values better (log posterior plus the transform's
    /// log Jacobian) is used.
    Select,
}

/// Whether the acquisition search is confined to a trust region around the incumbent
/// (TuRBO's side-length rule, replayed from the observations in order so that it is a
/// function of the history).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustRegion {
    /// Search the whole cube.
    Off,
    /// Always search the trust region.
    Always,
    /// Alternate: even-numbered suggestions search the whole cube, odd ones the region.
    Alternate,
}

/// Which acquisition function proposes each point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquisitionChoice {
    /// Log expected improvement (Optuna).
    LogEi,
    /// Each suggestion maximizes one of log-EI, log-PI and LCB drawn at random (a cheap form
    /// of HEBO's MACE ensemble, whose suggestion is a random point of the three functions'
    /// Pareto set).
    Hedge,
}

/// Engine settings. `Settings::default()` is the tuned configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Number of finite observations before the GP takes over; `None`: `d + 1` clamped to
    /// `[5, 10]`.
    pub initial_design: Option<usize>,
    /// Whether and how the observed values are power-transformed before fitting.
    pub output_warping: OutputWarping,
    /// How pending points are filled in.
    pub liar: Liar,
    /// Which acquisition function proposes each point.
    pub acquisition: AcquisitionChoice,
    /// Trust-region confinement of the acquisition search.
    pub trust_region: TrustRegion,
    /// Once the trust region has shrunk, refit the GP on the observations near the
    /// incumbent only (within twice the region), so that length scales and noise are
    /// estimated where the search now is.
    pub local_model: bool,
    /// Whether the local model's fit measures each column in units of the neighbourhood's
    /// extent, so that the length-scale prior (made for the unit cube) is relative to the
    /// neighbourhood. In cube units the prior makes every length scale well below the
    /// cube's side cost tens of nats, and a fit on a small neighbourhood flips to a flat
    /// function plus noise, whose minimizer is arbitrary. Ablation (20 seeds, median /
    /// geometric mean): ackley5 0.063 / 0.067 → 0.014 / 0.016, rosenbrock4 2.61 / 4.04 →
    /// 2.16 / 2.28; with 8 in flight ackley5 0.81 → 0.55, rosenbrock4 4.20 → 3.32.
    pub local_model_scaled: bool,
    /// Hyperparameter fitting.
    pub fit: FitSettings,
    /// Acquisition maximization.
    pub search: SearchSettings,
    /// Seed of the scrambled Sobol initial design (a study-level seed, so that the design
    /// continues across calls).
    pub design_seed: u64,
    /// Whether pending points count towards the initial design: the model takes over once
    /// observed plus pending points fill the design and at least half of it is observed
    /// (otherwise parallel workers keep drawing design points until the design is fully
    /// observed, up to `q - 1` more than the design size).
    pub design_counts_pending: bool,
    /// Every this many suggestions (counting observed and pending points; with `q` points
    /// in flight, every `max(this, q)`), the point is the minimizer of the posterior mean
    /// in the trust region instead of the acquisition's maximizer; 0: never. Pure
    /// exploitation converges where log-EI keeps probing the ripples the model took for
    /// noise (ackley) and places one refined point per round of parallel suggestions.
    /// Every 2nd beat every 3rd, 6th, never and always while the local model fitted in
    /// cube units (see [`Settings::local_model_scaled`]); with the local model fitting its
    /// neighbourhood, every 3rd leaves log-EI more room to find the better basins: ablation
    /// (20 seeds, median) ackley5 0.0125 → 0.009, rosenbrock4 2.61 → 2.01, rastrigin3 3.48
    /// → 1.99, styblinski_tang5 28.3 → 14.1; `mixed_mlp` (40 seeds) 1.40e-3 → 1.16e-3.
    pub exploit_every: usize,
    /// Below this side length (in units of the weighted cube) the trust region starts
    /// again at 0.8 around the incumbent. TuRBO restarts at 2⁻⁷; here a restart keeps the
    /// same incumbent, so an early one throws away the precision that cone-shaped minima
    /// need: 2⁻¹⁰ took ackley5 from 0.34 to 0.18 (geometric mean over 20 seeds) and held
    /// the other functions.
    pub trust_region_min_side: f64,
    /// The local model (see [`Settings::local_model`]) is fitted on at least this many
    /// observations per dimension, the nearest to the incumbent, when fewer lie within
    /// twice the region…
    pub local_points_per_dimension: usize,
    /// …and on at least this fraction of all observations. Without such a floor a small
    /// region holds too few points and the search inside it follows the global fit, which
    /// smooths fine structure away as noise. Chosen by the ablation (20 seeds): 8 per
    /// dimension and half took hartmann6's median from 3.4e-5 to 5.8e-7, ackley5's
    /// geometric mean from 0.18 to 0.11 and rosenbrock4's from 4.7 to 3.4 (4, 12 and 16 per
    /// dimension were worse on one function or another).
    pub local_fraction: f64,
    /// With `q` points in flight, the posterior-mean step comes every
    /// `max(exploit_every, min(q, this))` suggestions: `usize::MAX` gives one per round of
    /// `q`, smaller values keep more of each round exploiting (the lies at the round's
    /// earlier points spread the exploiting points apart).
    pub exploit_in_flight_cap: usize,
    /// With `q` points in flight, the trust region halves after `max(d, ⌈this·q⌉)` failures
    /// in a row instead of `d` (0: as without points in flight). A result arrives `q − 1`
    /// results after its point was suggested, so the points in flight when the best value
    /// improved look like failures although they were chosen without it. TuRBO's batch rule
    /// waits for a whole round (1); default ¾, which shrinks the region a little sooner.
    /// Over 100 seeds with 8 in flight (median final regret), against a whole round:
    /// branin 1.27e-6 → 9.6e-7, hartmann6 3.3e-6 → 2.9e-6, ackley5 0.374 → 0.285,
    /// rosenbrock4 3.04 → 2.76, levy4 1.9e-3 → 2.5e-4, rastrigin3 3.98 → 3.12,
    /// styblinski_tang5 15.2 → 14.8; `d` alone (0) traps ackley5 in its ripples twice as
    /// often (30 runs of 100 end above 1, against 15). In a space that takes the global
    /// steps (a categorical column, [`Settings::categorical_global_every`] not 0) the region
    /// waits for the whole round: there every
    /// [`Settings::categorical_global_every`]-th point is a global step, drawn outside the
    /// region, whose failures count too; with ¾ all three mixed spaces got worse (40 seeds):
    /// `mixed_mlp` 1.05e-3 → 1.47e-3, `mixed_train` 1.5e-4 → 2.0e-4, `mixed_schedule`
    /// 1.8e-8 → 1.5e-7.
    pub region_failures_in_flight: f64,
    /// The κ of the lower confidence bound `μ − κ·σ` that the suggestions which do not
    /// exploit minimize instead of maximizing log-EI; `None`: always log-EI. With points in
    /// flight it is minimized on the posterior extended by the lies (GP-BUCB, Desautels et
    /// al. 2014); without, where [`Settings::sequential_lcb`] says.
    /// A lie removes the uncertainty at its point, so the round's points spread over the
    /// region instead of piling up where log-EI peaks. Default κ = 2: over 20 seeds with 8
    /// in flight (geometric mean of final regrets) it took branin from 1.7e-5 to 5.7e-6,
    /// hartmann6 from 1.3e-3 to 6.0e-4 and ackley5 from 0.96 to 0.79, rosenbrock4 even.
    pub lcb_kappa: Option<f64>,
    /// Whether that lower confidence bound also replaces log-EI without points in flight,
    /// in a space that takes no global steps (no categorical column, or
    /// [`Settings::categorical_global_every`] 0) and without constraints. With one point in
    /// flight the batch rule beat the sequential one on three of four functions although it
    /// knew one result less. Default true. Median final regret, sequential, ablation over 40
    /// seeds: branin 1.3e-8 → 5.8e-10, hartmann6 2.2e-8 → 1.1e-9, ackley5 9.0e-3 → 7.4e-3,
    /// rosenbrock4 2.02 → 1.64, levy4 4.9e-7 → 7.5e-8, styblinski_tang5 14.1 → 14.1
    /// (geometric mean 1.07 → 0.54), rastrigin3 2.99 → 3.48; the sampler benchmark over 20
    /// seeds: branin 1.2e-8 → 5.2e-10, hartmann6 3.7e-7 → 3.8e-7, ackley5 0.0115 → 0.0107,
    /// rosenbrock4 1.74 → 1.55, levy4 1.8e-5 → 1.5e-7, rastrigin3 4.98 → 1.99,
    /// styblinski_tang5 28.3 → 14.1, sphere8 7.5e-5 → 1.8e-5, levy2 1.6e-7 → 6.0e-8. In
    /// spaces with a categorical column it was mixed (40 seeds: `mixed_mlp` 9.6e-4 →
    /// 1.19e-3, `mixed_train` 1.9e-6 → 3.3e-8, `mixed_schedule` 3.9e-9 → 8.4e-9), so they
    /// keep log-EI; under constraints, log-EI times the probability of feasibility stays.
    pub sequential_lcb: bool,
    /// In a space with a categorical column, every this-many-th suggestion (0: never)
    /// maximizes log-EI on the global GP over the whole cube instead of searching the trust
    /// region with the local model. A categorical choice interacts with the other columns
    /// (an activation with its best learning rate): inside a region centred on one choice's
    /// optimum, the others are only tried at that choice's values and look worse than they
    /// are, so the search stays with the first good choice it found. Default 3: on
    /// `mixed_mlp` (40 seeds) the median final regret went from 2.1e-3 to 1.3e-3 (2: 1.2e-3,
    /// 4: 1.3e-3, 6: 1.8e-3), on the architecture surrogate (20 seeds) from 6.2e-3 to 5.5e-3
    /// sequentially and 4.1e-3 to 4.1e-3 with 8 in flight. Spaces without a categorical
    /// column are unaffected.
    pub categorical_global_every: usize,
    /// Whether those global steps use the GP fitted on the standardized values even when
    /// the output warping chose the power transform. The transform stretches the values
    /// near the best one, so a choice whose few observations are all worse than the
    /// incumbent's looks hopeless on the warped scale and is never tried at its own best
    /// values; unwarped, its unexplored values keep their uncertainty. Default true: on
    /// `mixed_train` (40 seeds) the runs that ended on the second-best optimizer fell from
    /// 15 to 1 (median final regret 1.4e-4 to 4.5e-5; 8 in flight: 14 to 9, 4.1e-4 to
    /// 2.7e-4), `mixed_mlp` 1.27e-3 to 1.37e-3 (geometric mean 1.22e-3 to 1.25e-3), the
    /// architecture surrogate (20 seeds) 5.5e-3 to 5.5e-3 and 4.1e-3 to 3.7e-3 with 8 in flight.
    pub unwarped_global_steps: bool,
    /// In a space that takes no global steps (no categorical column, or
    /// [`Settings::categorical_global_every`] 0), once the trust region's side is below
    /// [`Settings::axis_below`], every this-many-th suggestion (0: never) maximizes log-EI on
    /// the global GP along the lines through the incumbent parallel to each continuous axis
    /// (one coordinate free over its whole range, the others at the incumbent's values), for
    /// as long as such steps pay: after one failure per continuous column since the last
    /// axis step that improved the best value, they stop (replayed from the history). On a
    /// function with several basins per coordinate the trust region refines the first
    /// combination of basins it finds; an axis step finds a better basin of one coordinate.
    /// Default 3. Over 20 seeds (median final regret, sequential): levy4 0.45 → 2.7e-5,
    /// styblinski_tang5 28 → 14, rastrigin3 5.0 → 4.2, branin 3.4e-7 → 2.3e-7, hartmann6,
    /// sphere8 and levy2 even; over 40 seeds ackley5 0.118 → 0.089 and rosenbrock4 3.3 →
    /// 3.0 (geometric means 0.114 → 0.116 and 4.1 → 4.8). Without the stopping rule, ackley5
    /// went to 0.32.
    pub axis_every: usize,
    /// The trust-region side below which the axis steps start (see [`Settings::axis_every`]).
    /// Default 0.2 (a quarter of the starting side).
    pub axis_below: f64,
    /// Whether the trust region confines the grid columns (integers, stepped floats) as it
    /// does the continuous ones, and the local model's neighbourhood is measured in them
    /// too; otherwise the acquisition search ranges over every value of a grid column and
    /// the local model is fitted on points near the incumbent in the continuous columns
    /// only, whatever their integers. Default true: over 40 seeds (median final regret)
    /// `mixed_mlp` 1.16e-3 → 9.6e-4, `mixed_train` 3.8e-6 → 1.9e-6, `mixed_schedule` 1.05e-7
    /// → 3.9e-9. Spaces without an integer range are unaffected.
    pub trust_region_integers: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            initial_design: None,
            output_warping: OutputWarping::Select,
            liar: Liar::Believed,
            acquisition: AcquisitionChoice::LogEi,
            trust_region: TrustRegion::Always,
            local_model: true,
            local_model_scaled: true,
            fit: FitSettings::default(),
            search: SearchSettings::default(),
            design_seed: 0,
            design_counts_pending: true,
            exploit_every: 3,
            trust_region_min_side: 1.0 / 1024.0,
            local_points_per_dimension: 8,
            local_fraction: 0.5,
            exploit_in_flight_cap: usize::MAX,
            region_failures_in_flight: 0.75,
            lcb_kappa: Some(2.0),
            sequential_lcb: true,
            categorical_global_every: 3,
            unwarped_global_steps: true,
            axis_every: 3,
            axis_below: 0.2,
            trust_region_integers: true,
        }
    }
}
