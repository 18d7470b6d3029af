//! Where an example is warped from: its pixel values inside a border of zeros wide enough that
//! every source point of every transform the augmentation can draw falls inside it, so the
//! warp reads its neighbours with no clamping and no test for the image's edge; and the
//! inverse map from output pixels to source points.

use crate::config::Augmentation;

use super::Transform;

/// Pixels the SIMD warp handles at once; the canvas keeps this many spare rows below the
/// image and spare values at its end, which a window of rows may read but never uses.
pub(super) const LANES: usize = 8;

/// A sine or cosine this close to 0 or ±1 is taken as exactly that, so quarter turns copy
/// pixels exactly instead of blending in a 1e-16 of a neighbour.
const SNAP: f64 = 1e-12;

/// The zero border, in pixels, that holds every source point of a `height × width` image
/// under any transform `augment` draws: a rotation by θ moves a point at distance r from the
/// centre by 2·sin(θ/2)·r, a shift moves it by at most √2·shift; one pixel more for the
/// bilinear neighbour and one for rounding.
pub(super) fn margin(augment: &Augmentation, (height, width): (usize, usize)) -> usize {
    let half_diagonal = 0.5 * ((height as f64 - 1.0).hypot(width as f64 - 1.0));
    let turn = augment.rotate.clamp(0.0, 180.0).to_radians();
    let reach = 2.0 * (turn / 2.0).sin() * half_diagonal + std::f64::consts::SQRT_2 * augment.shift;
    reach.ceil() as usize + 2
}

/// One example's pixels in their zero border.
#[derive(Debug)]
pub(crate) struct Canvas {
    values: Vec<f32>,
    height: usize,
    width: usize,
    margin: usize,
    stride: usize,
}

impl Canvas {
    /// A zero `height × width` image inside a border of `margin` pixels.
    pub(crate) fn new((height, width): (usize, usize), margin: usize) -> Self {
        let stride = width + 2 * margin;
        Canvas {
            values: vec![0.0; (height + 2 * margin + LANES) * stride + LANES],
            height,
            width,
            margin,
            stride,
        }
    }

    /// Values from one row of the canvas to the next.
    pub(super) fn stride(&self) -> usize {
        self.stride
    }

    /// The whole canvas, border included, row-major with [`Canvas::stride`].
    pub(super) fn values(&self) -> &[f32] {
        &self.values
    }

    /// The image's `height × width`.
    pub(super) fn shape(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// Image row `y` (without the border), to write pixel values into; the border is never
    /// written, so it stays zero.
    #[inline(always)]
    pub(super) fn image_row_mut(&mut self, y: usize) -> &mut [f32] {
        let start = (y + self.margin) * self.stride + self.margin;
        &mut self.values[start..start + self.width]
    }
}

/// One example's inverse map in canvas coordinates: output pixel (x, y) takes the source
/// point (cos·x + bx(y), by(y) − sin·x), c the image's centre, where bx and by hold the row's
/// terms of c + R(−angle)(p − c − shift) plus the margin.
#[derive(Debug, Clone, Copy)]
pub(super) struct InverseMap {
    /// cos(angle), in f32 as every pixel uses it.
    pub cos: f32,
    /// sin(angle), in f32 as every pixel uses it.
    pub sin: f32,
    cos_f64: f64,
    sin_f64: f64,
    /// Column term of the first output column: −cx − dx.
    ox0: f64,
    /// Row term of the first output row: −cy − dy.
    oy0: f64,
    /// The centre in canvas coordinates (cx + margin, cy + margin).
    centre: (f64, f64),
}

impl InverseMap {
    /// The inverse of `transform` for a `height × width` image inside `margin` pixels.
    pub(super) fn new(
        transform: &Transform,
        (height, width): (usize, usize),
        margin: usize,
    ) -> Self {
        let snap = |v: f64| {
            let r = v.round();
            if (v - r).abs() < SNAP { r } else { v }
        };
        let (sin, cos) = transform.angle.sin_cos();
        let (sin, cos) = (snap(sin), snap(cos));
        let (cx, cy) = ((width as f64 - 1.0) / 2.0, (height as f64 - 1.0) / 2.0);
        InverseMap {
            cos: cos as f32,
            sin: sin as f32,
            cos_f64: cos,
            sin_f64: sin,
            ox0: -cx - transform.dx,
            oy0: -cy - transform.dy,
            centre: (cx + margin as f64, cy + margin as f64),
        }
    }

    /// Output row `y`'s terms (bx, by), exact for whole shifts and quarter turns.
    #[inline(always)]
    pub(super) fn row(&self, y: usize) -> (f32, f32) {
        let oy = y as f64 + self.oy0;
        let bx = self.cos_f64 * self.ox0 + self.sin_f64 * oy + self.centre.0;
        let by = -self.sin_f64 * self.ox0 + self.cos_f64 * oy + self.centre.1;
        (bx as f32, by as f32)
    }
}
