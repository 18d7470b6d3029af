//! What has been tried: the keys of every running or finished point, and the fallback that
//! keeps samplers from proposing a point twice.

use std::collections::{HashMap, HashSet};

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
/// is canonicalized and keyed once.
#[derive(Debug, Default, Clone)]
pub struct Visited {
    keys: HashSet<String>,
    canonical: HashMap<u64, Option<Params>>,
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
        for t in trials {
            if self.canonical.contains_key(&t.number) {
                continue;
            }
            let canonical = space.validate(&t.params).ok();
            self.keys.insert(SearchSpace::point_key(
                canonical.as_ref().unwrap_or(&t.params),
            ));
            self.canonical.insert(t.number, canonical);
        }
    }

    /// Trial `number`'s params in canonical form, if they fit the space.
    pub fn canonical(&self, number: u64) -> Option<&Params> {
        self.canonical.get(&number)?.as_ref()
    }

    /// Whether `params` was already proposed.
    pub fn contains(&self, params: &Params) -> bool {
        self.keys.contains(&SearchSpace::point_key(params))
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
