//! Grid search: the product of every parameter's listed or discretized values, in a fixed
//! order (blocks per `arch.layers` value, then parameters in file order, the first varying
//! slowest). Resumable: it proposes the first grid point not yet running or finished.

use super::history::Visited;
use super::{SampleContext, Sampler, Suggestion};
use crate::config::StudyConfig;
use crate::error::SearchError;
use crate::params::Params;
use crate::space::{Block, SearchSpace};

/// Enumerates the grid.
#[derive(Debug, Clone)]
pub struct GridSampler {
    space: SearchSpace,
    blocks: Vec<Block>,
    size: u128,
    /// Every grid index below this was visited at the last call (history only grows).
    cursor: u128,
    visited: Visited,
}

impl GridSampler {
    /// A grid sampler over the study's space (checked enumerable by the config).
    pub fn new(config: &StudyConfig) -> Self {
        Self::with_space(config.space.clone())
    }

    /// A grid sampler over `space`; a space without a grid has size 0.
    pub fn with_space(space: SearchSpace) -> Self {
        let blocks = space.blocks();
        let size = space.grid_size().unwrap_or(0);
        GridSampler {
            space,
            blocks,
            size,
            cursor: 0,
            visited: Visited::default(),
        }
    }

    /// The number of grid points.
    pub fn size(&self) -> u128 {
        self.size
    }

    /// The `index`-th grid point.
    pub fn point(&self, index: u128) -> Option<Params> {
        self.space.nth_point(&self.blocks, index, true)
    }
}

impl Sampler for GridSampler {
    fn name(&self) -> &'static str {
        "grid"
    }

    fn suggest(&mut self, ctx: &SampleContext<'_>) -> Result<Suggestion, SearchError> {
        self.visited.update(&self.space, ctx.trials);
        while self.cursor < self.size {
            let Some(point) = self.point(self.cursor) else {
                break;
            };
            if !self.visited.contains(&point) {
                return Ok(Suggestion::Params(point));
            }
            self.cursor += 1;
        }
        Ok(Suggestion::Exhausted)
    }
}
