//! What a network costs to run: its size and flops, known from the config before training,
//! and its inference time for one example, measured after.

use std::time::{Duration, Instant};

use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::error::Error;
use crate::linalg::{Threads, flat, flat_mut};
use crate::network::Network;
use crate::network::pass::{self, Mode, Workspace};

/// The most time spent measuring, so a large network does not slow every trial down much.
const BUDGET: Duration = Duration::from_millis(50);
/// The most passes timed (a small network reaches this long before the budget).
const MAX_REPEATS: usize = 201;
/// The fewest passes timed, whatever the budget says.
const MIN_REPEATS: usize = 3;

/// The architecture's cost, known before training: the network's trainable parameters and
/// the flops of one forward pass for one example, what [`super::TrainReport`]'s `parameters`
/// and `flops` will say. (A worker sends them with the first epoch, so that early stopping
/// can weigh them while the trial runs.)
///
/// # Errors
/// As [`super::train`] for a network the config cannot build.
pub fn architecture_cost(config: &TrainConfig, data: &Dataset) -> Result<(usize, u64), Error> {
    let net = Network::new(
        config.network(),
        data.features(),
        data.classes(),
        config.training().seed,
    )?;
    Ok((net.parameter_count(), net.flops()))
}

/// Milliseconds of one forward pass of `net` in inference mode for a batch of one example
/// (the data set's first), on one thread: the median of up to 201 timed passes, stopping
/// once 50 ms have been spent (after at least 3), after one untimed pass.
pub(crate) fn inference_ms(net: &mut Network, data: &Dataset) -> f64 {
    let mut ws = Workspace::new(net, 1);
    flat_mut(ws.input.row_mut(0)).copy_from_slice(flat(data.samples().row(0)));
    pass::forward(net, &mut ws, 1, Mode::Eval, Threads::One);
    let mut times = Vec::with_capacity(MAX_REPEATS);
    let started = Instant::now();
    while times.len() < MAX_REPEATS && (times.len() < MIN_REPEATS || started.elapsed() < BUDGET) {
        let t = Instant::now();
        pass::forward(net, &mut ws, 1, Mode::Eval, Threads::One);
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
