//! Data augmentation (`[data] augment`): each training image is shifted and rotated at random
//! as it is copied into the batch, by a bilinear inverse map with zero fill. The transform of
//! an example is a pure function of (seed, epoch, example), so a run is bit-reproducible and
//! independent of the thread count; nothing is allocated per batch.
//!
//! The warp works on pixel values (a background pixel is 0), not on standardized features:
//! an example is un-standardized into its canvas (the image in a zero border), warped into
//! the batch row and standardized there in the same pass. Each standardized value is then
//! clipped to the range its feature spans over the training rows: a stroke moved onto a pixel
//! that is almost always blank would otherwise become an outlier of hundreds of standard
//! deviations (its scale is 1 / a tiny spread), which wrecks training.
//!
//! Layout: `canvas` (the zero-bordered image and the inverse map), `warp` (the bilinear warp,
//! AVX2 and portable). A batch is augmented in chunks of [`CHUNK`] examples, each with a
//! canvas of its own, over the training's thread pool when it has one.

use rayon::prelude::*;

use crate::config::Augmentation;
use crate::data::{Dataset, Split};
use crate::error::Error;
use crate::linalg::{Threads, flat};
use crate::network::dropout::mix;

mod canvas;
mod warp;

use canvas::{Canvas, InverseMap, margin};
use warp::Features;

/// Examples augmented together on one thread, with one canvas.
const CHUNK: usize = 16;

/// One image's transform: a rotation about the image's centre, then a shift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Transform {
    /// Shift along the columns, in pixels (positive: content moves right).
    pub dx: f64,
    /// Shift along the rows, in pixels (positive: content moves down).
    pub dy: f64,
    /// Rotation in radians (positive: clockwise on screen, rows growing downwards).
    pub angle: f64,
}

impl Transform {
    /// The transform of `example` (its row in the data set) in `epoch`: shifts uniform in
    /// ±`shift`, an angle uniform in ±`rotate` degrees, drawn from a hash of the three keys.
    pub(crate) fn draw(augment: &Augmentation, seed: u64, epoch: usize, example: usize) -> Self {
        let key = mix(mix(mix(seed, 0xa06_3e47), epoch as u64), example as u64);
        // A uniform in [-1, 1) from 53 bits of the hash of (key, k).
        let uniform = |k: u64| (mix(key, k) >> 11) as f64 / (1u64 << 52) as f64 - 1.0;
        Transform {
            dx: augment.shift * uniform(1),
            dy: augment.shift * uniform(2),
            angle: augment.rotate.to_radians() * uniform(3),
        }
    }
}

/// Augments training examples as they are copied into a batch; its canvases are allocated
/// once, in [`Augmenter::new`].
#[derive(Debug)]
pub(crate) struct Augmenter {
    examples: Examples,
    /// One canvas per chunk of a batch.
    canvases: Vec<Canvas>,
}

/// What augmenting an example needs besides its canvas: the draw, the image's shape and the
/// data set's standardization and ranges.
#[derive(Debug)]
struct Examples {
    augment: Augmentation,
    seed: u64,
    shape: (usize, usize),
    margin: usize,
    mean: Vec<f32>,
    /// 1 / the standardization's scale: what un-standardizes.
    std: Vec<f32>,
    scale: Vec<f32>,
    low: Vec<f32>,
    high: Vec<f32>,
}

/// Refuses `augment` on `data` when it cannot be applied: the samples' image shape is
/// unknown. `train` checks the same at its start; this lets a caller refuse before it prints
/// anything.
///
/// # Errors
/// [`Error::Setup`] naming `data.image_shape`.
pub(crate) fn check(augment: &Augmentation, data: &Dataset) -> Result<(), Error> {
    if augment.is_active() {
        image_shape(data)?;
    }
    Ok(())
}

/// The shape augmentation warps `data`'s samples as.
fn image_shape(data: &Dataset) -> Result<(usize, usize), Error> {
    data.image_shape().ok_or_else(|| {
        Error::Setup(format!(
            "data.augment needs to know the images' shape: {} features per sample is not a \
             square number of pixels; set data.image_shape = [height, width]",
            data.features()
        ))
    })
}

impl Augmenter {
    /// An augmenter for `data`'s training images in batches of up to `batch` examples, or
    /// `None` when `augment` changes nothing.
    ///
    /// # Errors
    /// [`Error::Setup`] when the data set's samples have no known image shape.
    pub(crate) fn new(
        augment: &Augmentation,
        seed: u64,
        data: &Dataset,
        batch: usize,
    ) -> Result<Option<Self>, Error> {
        if !augment.is_active() {
            return Ok(None);
        }
        let shape = image_shape(data)?;
        let standardization = data.standardization();
        let margin = margin(augment, shape);
        let canvases = (0..batch.div_ceil(CHUNK).max(1))
            .map(|_| Canvas::new(shape, margin))
            .collect();
        Ok(Some(Augmenter {
            examples: Examples {
                augment: *augment,
                seed,
                shape,
                margin,
                mean: standardization.mean.to_vec(),
                std: standardization.scale.iter().map(|s| 1.0 / s).collect(),
                scale: standardization.scale.to_vec(),
                low: data.feature_ranges().low.to_vec(),
                high: data.feature_ranges().high.to_vec(),
            },
            canvases,
        }))
    }

    /// Writes the examples at `positions` of `split` into `out` (one row of features each),
    /// each transformed as epoch `epoch` draws it for its row of the data set; in chunks of
    /// [`CHUNK`] examples over the pool of `threads` if there is one.
    ///
    /// # Panics
    /// When `positions` holds more examples than the batch size given to [`Augmenter::new`].
    pub(crate) fn fill(
        &mut self,
        split: &Split<'_>,
        positions: &[u32],
        out: &mut [f32],
        epoch: usize,
        threads: Threads<'_>,
    ) {
        assert!(
            positions.len().div_ceil(CHUNK) <= self.canvases.len(),
            "{} examples in a batch of at most {}",
            positions.len(),
            self.canvases.len() * CHUNK
        );
        let size = CHUNK * split.x.ncols();
        let examples = &self.examples;
        match threads {
            Threads::Pool(pool) if pool.current_num_threads() > 1 => pool.install(|| {
                out.par_chunks_mut(size)
                    .zip(positions.par_chunks(CHUNK))
                    .zip(self.canvases.par_iter_mut())
                    .for_each(|((out, positions), canvas)| {
                        examples.chunk(canvas, split, positions, out, epoch);
                    });
            }),
            _ => {
                let chunks = out.chunks_mut(size).zip(positions.chunks(CHUNK));
                for ((out, positions), canvas) in chunks.zip(self.canvases.iter_mut()) {
                    examples.chunk(canvas, split, positions, out, epoch);
                }
            }
        }
    }

    /// Writes into `dst` the standardized example `src` (row `example` of the data set),
    /// transformed as epoch `epoch` draws it, each feature clipped to its training range.
    #[cfg(test)]
    pub(crate) fn apply(&mut self, src: &[f32], dst: &mut [f32], epoch: usize, example: usize) {
        self.examples
            .one(&mut self.canvases[0], src, dst, epoch, example);
    }
}

impl Examples {
    /// The examples at `positions` of `split` into `out`, one after the other on `canvas`.
    fn chunk(
        &self,
        canvas: &mut Canvas,
        split: &Split<'_>,
        positions: &[u32],
        out: &mut [f32],
        epoch: usize,
    ) {
        let rows = positions.iter().map(|&p| split.row(p as usize));
        for (row, dst) in rows.zip(out.chunks_exact_mut(self.mean.len())) {
            self.one(canvas, flat(split.x.row(row)), dst, epoch, row);
        }
    }

    /// One example: `src` (row `example` of the data set, standardized) into `dst`.
    fn one(&self, canvas: &mut Canvas, src: &[f32], dst: &mut [f32], epoch: usize, example: usize) {
        let transform = Transform::draw(&self.augment, self.seed, epoch, example);
        let map = InverseMap::new(&transform, self.shape, self.margin);
        let features = Features {
            mean: &self.mean,
            std: &self.std,
            scale: &self.scale,
            low: &self.low,
            high: &self.high,
        };
        warp::augment(canvas, src, &map, dst, features);
    }
}

/// The signature of a path ([`warp::augment`], [`warp::augment_portable`]).
#[cfg(test)]
type WarpPath = fn(&mut Canvas, &[f32], &InverseMap, &mut [f32], Features<'_>);

/// Writes into `dst` the image `src` (`height × width` pixels, row-major) moved by
/// `transform`: each output pixel p takes the source value at c + R(−angle)(p − c − shift),
/// c the image's centre, interpolated bilinearly, pixels outside the image counting as 0.
#[cfg(test)]
pub(crate) fn warp(src: &[f32], dst: &mut [f32], shape: (usize, usize), transform: &Transform) {
    warp_with(src, dst, shape, transform, warp::augment);
}

/// [`warp`] through the given path.
#[cfg(test)]
fn warp_with(
    src: &[f32],
    dst: &mut [f32],
    shape: (usize, usize),
    transform: &Transform,
    path: WarpPath,
) {
    let reach = Augmentation {
        shift: transform.dx.abs().max(transform.dy.abs()),
        rotate: transform.angle.abs().to_degrees(),
    };
    let margin = margin(&reach, shape);
    let mut canvas = Canvas::new(shape, margin);
    let n = src.len();
    let (zeros, ones) = (vec![0.0; n], vec![1.0; n]);
    let (low, high) = (vec![f32::NEG_INFINITY; n], vec![f32::INFINITY; n]);
    let features = Features {
        mean: &zeros,
        std: &ones,
        scale: &ones,
        low: &low,
        high: &high,
    };
    let map = InverseMap::new(transform, shape, margin);
    path(&mut canvas, src, &map, dst, features);
}

#[cfg(test)]
mod tests;
