//! What has been tried: the keys of every running or finished point, and the fallback that
//! keeps samplers from proposing a point twice.

use std::collections::HashSet;

use rand::Rng;

use crate::params::Params;
use crate::sampler::Suggestion;
use crate::space::SearchSpace;
use crate::trial::TrialRecord;

/// Spaces up to this many points are enumerated to find the unvisited ones.
const ENUMERABLE: u128 = 1_000_000;
/// Random redraws before enumerating.
const REDRAWS: usize = 64;

/// The points already proposed (running or finished, any state).
#[derive(Debug, Default)]
pub struct Visited {
    keys: HashSet<String>,
}

impl Visited {
    /// The points of `trials`, canonicalized by `space` when they fit it.
    pub fn new(space: &SearchSpace, trials: &[TrialRecord]) -> Self {
        let keys = trials
            .iter()
            .map(|t| {
                let p = space
                    .validate(&t.params)
                    .unwrap_or_else(|_| t.params.clone());
                SearchSpace::point_key(&p)
            })
            .collect();
        Visited { keys }
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
