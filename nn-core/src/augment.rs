//! Data augmentation (`[data] augment`): each training image is shifted and rotated at random
//! as it is copied into the batch, by a bilinear inverse map with zero fill. The transform of
//! an example is a pure function of (seed, epoch, example), so a run is bit-reproducible and
//! independent of the thread count; nothing is allocated per batch.
//!
//! The warp works on pixel values (a background pixel is 0), not on standardized features:
//! an example is un-standardized into a scratch row, warped into the batch row, and
//! standardized there again. Each standardized value is then clipped to the range its feature
//! spans over the training rows: a stroke moved onto a pixel that is almost always blank
//! would otherwise become an outlier of hundreds of standard deviations (its scale is
//! 1 / a tiny spread), which wrecks training.

use crate::config::Augmentation;
use crate::data::Dataset;
use crate::error::Error;
use crate::network::dropout::mix;

/// A sine or cosine this close to 0 or ±1 is taken as exactly that, so quarter turns copy
/// pixels exactly instead of blending in a 1e-16 of a neighbour.
const SNAP: f64 = 1e-12;

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

/// An image with a border of zeros (one pixel before, two after, on both axes), so the
/// warp reads its four neighbours without a bounds test per pixel.
#[derive(Debug)]
pub(crate) struct Padded {
    values: Vec<f32>,
    height: usize,
    width: usize,
}

impl Padded {
    /// A zero image of `height × width` pixels with its border.
    pub(crate) fn new(height: usize, width: usize) -> Self {
        Padded {
            values: vec![0.0; (height + 3) * (width + 3)],
            height,
            width,
        }
    }

    /// Row `y` of the image (without its border), to write pixels into.
    #[inline(always)]
    fn row_mut(&mut self, y: usize) -> &mut [f32] {
        let start = (y + 1) * (self.width + 3) + 1;
        &mut self.values[start..start + self.width]
    }
}

/// Writes into `dst` the image `src` (`height × width` pixels, row-major) moved by
/// `transform`: each output pixel p takes the source value at c + R(−angle)(p − c − shift),
/// c the image's centre, interpolated bilinearly, pixels outside the image counting as 0.
#[cfg(test)]
pub(crate) fn warp(
    src: &[f32],
    dst: &mut [f32],
    (height, width): (usize, usize),
    transform: &Transform,
) {
    let mut padded = Padded::new(height, width);
    for (y, row) in src.chunks_exact(width).enumerate() {
        padded.row_mut(y).copy_from_slice(row);
    }
    crate::linalg::vectorized(
        #[inline(always)]
        || warp_padded(&padded, dst, transform),
    );
}

/// [`warp`] from an image already in its zero border.
#[inline(always)]
fn warp_padded(src: &Padded, dst: &mut [f32], transform: &Transform) {
    let (height, width) = (src.height, src.width);
    debug_assert_eq!(dst.len(), height * width);
    let snap = |v: f64| {
        let r = v.round();
        if (v - r).abs() < SNAP { r } else { v }
    };
    let (sin, cos) = transform.angle.sin_cos();
    let (sin, cos) = (snap(sin), snap(cos));
    let (cx, cy) = ((width as f64 - 1.0) / 2.0, (height as f64 - 1.0) / 2.0);
    let pw = width + 3;
    let (right, bottom) = (width as f32, height as f32);
    let values = &src.values[..];
    // Source column and row of output pixel (x, y): sx = cos·x + bx, sy = by − sin·x, where
    // bx and by hold the row's terms (exact for whole shifts and quarter turns).
    let (c, s) = (cos as f32, sin as f32);
    for (y, row) in dst.chunks_exact_mut(width).enumerate() {
        let oy = y as f64 - cy - transform.dy;
        let ox0 = -cx - transform.dx;
        let bx = (cos * ox0 + sin * oy + cx) as f32;
        let by = (-sin * ox0 + cos * oy + cy) as f32;
        for (x, out) in row.iter_mut().enumerate() {
            let xf = x as f32;
            // Clamped to [-1, side]: beyond, all four neighbours are border zeros anyway.
            // Shifted by one into the padded grid, the coordinates are ≥ 0, so truncation is
            // the floor.
            let sx = (c * xf + bx).clamp(-1.0, right) + 1.0;
            let sy = (by - s * xf).clamp(-1.0, bottom) + 1.0;
            let (ix, iy) = (sx as usize, sy as usize);
            let (fx, fy) = (sx - ix as f32, sy - iy as f32);
            let i = iy * pw + ix;
            let (a, b) = (values[i], values[i + 1]);
            let (d, e) = (values[i + pw], values[i + pw + 1]);
            let top = a + fx * (b - a);
            let low = d + fx * (e - d);
            *out = top + fy * (low - top);
        }
    }
}

/// Augments training examples as they are copied into a batch; its buffers are allocated
/// once, in [`Augmenter::new`].
#[derive(Debug)]
pub(crate) struct Augmenter {
    augment: Augmentation,
    seed: u64,
    shape: (usize, usize),
    mean: Vec<f32>,
    std: Vec<f32>,
    scale: Vec<f32>,
    low: Vec<f32>,
    high: Vec<f32>,
    /// One example's pixel values, in a zero border.
    pixels: Padded,
}

impl Augmenter {
    /// An augmenter for `data`'s training images, or `None` when `augment` changes nothing.
    ///
    /// # Errors
    /// [`Error::Setup`] when the data set's samples have no known image shape.
    pub(crate) fn new(
        augment: &Augmentation,
        seed: u64,
        data: &Dataset,
    ) -> Result<Option<Self>, Error> {
        if !augment.is_active() {
            return Ok(None);
        }
        let Some(shape) = data.image_shape() else {
            return Err(Error::Setup(format!(
                "data.augment needs to know the images' shape: {} features per sample is not a \
                 square number of pixels; set data.image_shape = [height, width]",
                data.features()
            )));
        };
        let standardization = data.standardization();
        Ok(Some(Augmenter {
            augment: *augment,
            seed,
            shape,
            mean: standardization.mean.to_vec(),
            std: standardization.scale.iter().map(|s| 1.0 / s).collect(),
            scale: standardization.scale.to_vec(),
            low: data.feature_ranges().low.to_vec(),
            high: data.feature_ranges().high.to_vec(),
            pixels: Padded::new(shape.0, shape.1),
        }))
    }

    /// Writes into `dst` the standardized example `src` (row `example` of the data set),
    /// transformed as epoch `epoch` draws it, each feature clipped to its training range.
    pub(crate) fn apply(&mut self, src: &[f32], dst: &mut [f32], epoch: usize, example: usize) {
        let transform = Transform::draw(&self.augment, self.seed, epoch, example);
        let width = self.shape.1;
        crate::linalg::vectorized(
            #[inline(always)]
            || {
                let rows = src.chunks_exact(width).zip(self.std.chunks_exact(width));
                for (y, (row, std)) in rows.enumerate() {
                    let mean = &self.mean[y * width..(y + 1) * width];
                    let pixels = self.pixels.row_mut(y);
                    for (((p, &v), &s), &m) in pixels.iter_mut().zip(row).zip(std).zip(mean) {
                        *p = v * s + m;
                    }
                }
                warp_padded(&self.pixels, dst, &transform);
                let ranges = self.low.iter().zip(&self.high);
                for (((v, &m), &s), (&low, &high)) in
                    dst.iter_mut().zip(&self.mean).zip(&self.scale).zip(ranges)
                {
                    *v = ((*v - m) * s).clamp(low, high);
                }
            },
        );
    }
}

#[cfg(test)]
mod tests;
