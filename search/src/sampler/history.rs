//! What has been tried: the keys of every running or finished point, and the fallback that
//! keeps samplers from proposing a point twice.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use rand::Rng;

use crate::params::Params;
use crate::sampler::Suggestion;
use crate::space::SearchSpace;
use crate::trial::TrialRecord;

/// Spaces up to this many points are enumerated to find the unvisited ones.
const ENUMERABLE: u128 = 1_000_000;
/// Random redraws before enumerating.
const REDRAWS: usize = 64;

/// The points already proposed (running or finished, any state), kept across calls: a
/// trial's params never change once assigned and trials are never removed, so each trial
/// is canonicalized and keyed once, and a call looks only at the trials added since the
/// previous one (the history is append-only: the cost per call does not grow with it).
/// A point is kept as a 64-bit hash of its canonical key (a collision only makes a sampler
/// draw again).
#[derive(Debug, Default, Clone)]
pub struct Visited {
    keys: HashSet<u64>,
    /// How many trials of the history (a prefix) were taken in.
    seen: usize,
}

fn key_hash(params: &Params) -> u64 {
    let mut hasher = DefaultHasher::new();
    SearchSpace::point_key(params).hash(&mut hasher);
    hasher.finish()
}

impl Visited {
    /// The points of `trials`, canonicalized by `space` when they fit it.
    pub fn new(space: &SearchSpace, trials: &[TrialRecord]) -> Self {
        let mut v = Visited::default();
        v.update(space, trials);
        v
    }

    /// Adds the trials not seen by an earlier call.
    pub fn update(&mut self, space: &SearchSpace, trials: &[TrialRecord]) {
        self.update_with(space, trials, |_, _| {});
    }

    /// Adds the trials not seen by an earlier call: those past the prefix taken in so far
    /// (all of them if the history is shorter than that prefix, i.e. another history), and
    /// calls `each` with every new trial's index in `trials` and its params in canonical
    /// form (`None` when they do not fit the space).
    pub fn update_with(
        &mut self,
        space: &SearchSpace,
        trials: &[TrialRecord],
        mut each: impl FnMut(usize, Option<&Params>),
    ) {
        let start = if self.seen <= trials.len() {
            self.seen
        } else {
            0
        };
        self.seen = trials.len();
        for (index, t) in trials.iter().enumerate().skip(start) {
            let canonical = space.validate(&t.params).ok();
            self.keys
                .insert(key_hash(canonical.as_ref().unwrap_or(&t.params)));
            each(index, canonical.as_ref());
        }
    }

    /// How many trials of the history were taken in (a prefix).
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// Whether `params` was already proposed.
    pub fn contains(&self, params: &Params) -> bool {
        self.keys.contains(&key_hash(params))
    }

    /// How many distinct points were proposed.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing was proposed yet.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// `candidate` if it is new; otherwise a new point drawn at random (uniformly among the
/// unvisited ones when the space is small enough to enumerate), or `Exhausted` when every
/// point of a finite space was proposed.
pub fn ensure_new<R: Rng + ?Sized>(
    space: &SearchSpace,
    visited: &Visited,
    candidate: Params,
    rng: &mut R,
) -> Suggestion {
    if !visited.contains(&candidate) {
        return Suggestion::Params(candidate);
    }
    let size = space.size();
    if let Some(n) = size
        && n <= visited.len() as u128
    {
        return Suggestion::Exhausted;
    }
    for _ in 0..REDRAWS {
        let p = space.sample(rng);
        if !visited.contains(&p) {
            return Suggestion::Params(p);
        }
    }
    match size {
        Some(n) if n <= ENUMERABLE => {
            let blocks = space.blocks();
            let fresh: Vec<Params> = (0..n)
                .filter_map(|i| space.nth_point(&blocks, i, false))
                .filter(|p| !visited.contains(p))
                .collect();
            if fresh.is_empty() {
                Suggestion::Exhausted
            } else {
                let i = rand::RngExt::random_range(rng, 0..fresh.len());
                Suggestion::Params(fresh[i].clone())
            }
        }
        // A huge or continuous space where 64 draws all collided: keep drawing.
        _ => loop {
            let p = space.sample(rng);
            if !visited.contains(&p) {
                return Suggestion::Params(p);
            }
        },
    }
}
