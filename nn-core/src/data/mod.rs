//! Data sets: loaded once from `[data]`, standardized with statistics of the training split
//! only, split into training and validation rows by a seeded permutation, and shared
//! read-only (e.g. in an `Arc`) between any number of concurrent trainings.

mod csv;
mod idx;
mod split;

use std::io::Read;
use std::path::Path;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::config::{DataConfig, DataSource};
use crate::error::Error;

/// The built-in digits set: 1,797 images of 8×8 pixels, label last (see `data/README.md`).
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");

/// The largest label accepted (labels are class indices 0..classes).
const MAX_CLASSES: usize = 10_000;

/// Samples as read from a source, before standardization: one row of features per sample,
/// and the labels.
pub(crate) struct Samples {
    pub x: Array2<f32>,
    pub y: Vec<u32>,
    /// Each image's `(height, width)`, when the source says (IDX files, digits).
    pub shape: Option<(usize, usize)>,
}

impl Samples {
    /// Takes over a flat row-major buffer of `features` values per sample (no copy).
    fn from_flat(x: Vec<f32>, y: Vec<u32>, features: usize, path: &Path) -> Result<Self, Error> {
        let (values, count) = (x.len(), y.len());
        let x = Array2::from_shape_vec((count, features), x).map_err(|_| Error::Data {
            path: path.to_path_buf(),
            problem: format!("{values} values for {count} samples of {features} features"),
        })?;
        Ok(Self { x, y, shape: None })
    }

    fn len(&self) -> usize {
        self.y.len()
    }
}

/// A loaded, standardized data set with its train/validation split and optional test set.
#[derive(Debug)]
pub struct Dataset {
    classes: usize,
    /// Each image's `(height, width)` as the source gave it (IDX files, digits).
    source_shape: Option<(usize, usize)>,
    /// Each sample's `(height, width)` as an image, when known.
    image_shape: Option<(usize, usize)>,
    /// Each standardized feature's range over the training rows.
    ranges: FeatureRanges,
    /// Every sample of the training file, standardized: one row per sample.
    x: Array2<f32>,
    y: Vec<u32>,
    train_rows: Vec<u32>,
    val_rows: Vec<u32>,
    test: Option<(Array2<f32>, Vec<u32>)>,
    standardization: Standardization,
}

/// The per-feature standardization fitted on the training rows: a raw sample `x` becomes
/// `(x − mean) · scale`, in f32, in that order (an exported model repeats it exactly).
#[derive(Debug, Clone, PartialEq)]
pub struct Standardization {
    /// The mean of each feature over the training rows.
    pub mean: Array1<f32>,
    /// 1 / the standard deviation of each feature (1 for features that barely vary).
    pub scale: Array1<f32>,
}

/// The smallest and largest standardized value of each feature over the training rows
/// (what an augmented pixel is clipped to).
#[derive(Debug, Clone)]
pub(crate) struct FeatureRanges {
    /// The smallest value of each feature.
    pub low: Array1<f32>,
    /// The largest value of each feature.
    pub high: Array1<f32>,
}

/// A read-only view of some rows of a data set.
#[derive(Debug, Clone, Copy)]
pub struct Split<'a> {
    /// All samples the rows index into, one row per sample.
    pub x: ArrayView2<'a, f32>,
    /// Their labels.
    pub y: &'a [u32],
    /// The rows of this split (`None`: every row in order).
    pub rows: Option<&'a [u32]>,
}

impl<'a> Split<'a> {
    /// The number of samples in the split.
    pub fn len(&self) -> usize {
        self.rows.map_or(self.y.len(), <[u32]>::len)
    }

    /// Whether the split has no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Features per sample.
    pub fn features(&self) -> usize {
        self.x.ncols()
    }

    /// The index into `x`/`y` of the split's `i`-th sample.
    #[inline]
    pub fn row(&self, i: usize) -> usize {
        self.rows.map_or(i, |r| r[i] as usize)
    }

    /// The features and label of the split's `i`-th sample.
    pub fn sample(&self, i: usize) -> (ArrayView1<'a, f32>, u32) {
        let r = self.row(i);
        (self.x.index_axis_move(Axis(0), r), self.y[r])
    }
}

/// How errors name a source.
fn source_name(source: &DataSource) -> String {
    match source {
        DataSource::Idx(path) | DataSource::Csv(path) => path.display().to_string(),
        DataSource::Digits => "built-in digits".to_string(),
    }
}

impl Dataset {
    /// Loads the source `config` names, splits it and standardizes it.
    ///
    /// # Errors
    /// [`Error::Io`] when a file is missing or unreadable; [`Error::Data`] when its content is
    /// malformed (wrong IDX magic number, image and label counts that differ, a CSV without a
    /// `label` column or with a non-numeric cell), naming the file and what is wrong.
    pub fn load(config: &DataConfig) -> Result<Self, Error> {
        let (train, test) = match &config.source {
            DataSource::Idx(dir) => idx::load_dir(dir)?,
            DataSource::Csv(path) => (csv::load_file(path)?, None),
            DataSource::Digits => {
                let mut text = Vec::new();
                flate2::read::GzDecoder::new(DIGITS_CSV_GZ)
                    .read_to_end(&mut text)
                    .map_err(|source| Error::Io {
                        path: "built-in digits".into(),
                        source,
                    })?;
                let mut digits = csv::parse(
                    &text[..],
                    Path::new("built-in digits"),
                    csv::Label::LastColumn,
                )?;
                digits.shape = Some((8, 8));
                (digits, None)
            }
        };
        let mut data =
            Self::from_samples(train, test, config.validation_fraction, config.split_seed)?;
        if let Some((h, w)) = config.image_shape {
            data = data.with_image_shape(h, w).map_err(|e| match e {
                Error::Data { problem, .. } => Error::Data {
                    path: source_name(&config.source).into(),
                    problem: format!("data.image_shape: {problem}"),
                },
                other => other,
            })?;
        }
        Ok(data)
    }

    /// Declares every sample an image of `height × width` pixels (row-major), as
    /// augmentation needs.
    ///
    /// # Errors
    /// [`Error::Data`] when `height × width` is not the number of features, or the source
    /// gave its images another shape.
    pub fn with_image_shape(mut self, height: usize, width: usize) -> Result<Self, Error> {
        let bad = |problem: String| Error::Data {
            path: "data set".into(),
            problem,
        };
        if height.checked_mul(width) != Some(self.features()) {
            return Err(bad(format!(
                "images of {height}×{width} pixels need {} features; the samples have {}",
                height.saturating_mul(width),
                self.features()
            )));
        }
        if let Some((h, w)) = self.source_shape
            && (h, w) != (height, width)
        {
            return Err(bad(format!(
                "the source's images are {h}×{w} pixels, not {height}×{width}"
            )));
        }
        self.image_shape = Some((height, width));
        Ok(self)
    }

    /// Each sample's `(height, width)` as an image: the source's (IDX files, digits), the
    /// one [`Dataset::with_image_shape`] set (`data.image_shape`), or a square when the
    /// number of features is a square; `None` otherwise.
    pub fn image_shape(&self) -> Option<(usize, usize)> {
        self.image_shape
    }

    /// Each standardized feature's range over the training rows.
    pub(crate) fn feature_ranges(&self) -> &FeatureRanges {
        &self.ranges
    }

    /// Builds a data set from samples in memory (e.g. generated ones in tests): `x` holds one
    /// sample per row, `y` their labels; `test` the same for a test set.
    ///
    /// # Errors
    /// [`Error::Data`] when `x` has no columns or its row count differs from the label count,
    /// the test set's width differs, there are too few samples for the split, or a label is
    /// too large.
    pub fn from_arrays(
        x: Array2<f32>,
        y: Vec<u32>,
        test: Option<(Array2<f32>, Vec<u32>)>,
        validation_fraction: f64,
        split_seed: u64,
    ) -> Result<Self, Error> {
        let bad = |problem: String| Error::Data {
            path: "in-memory samples".into(),
            problem,
        };
        let samples = |x: Array2<f32>, y: Vec<u32>, what: &str| {
            if x.ncols() == 0 || x.nrows() != y.len() {
                return Err(bad(format!(
                    "{what}: {} samples of {} features for {} labels",
                    x.nrows(),
                    x.ncols(),
                    y.len()
                )));
            }
            // Training reads whole rows: keep them contiguous (a copy only if they are not).
            let x = if x.is_standard_layout() {
                x
            } else {
                x.as_standard_layout().into_owned()
            };
            Ok(Samples { x, y, shape: None })
        };
        let train = samples(x, y, "training set")?;
        let test = test.map(|(x, y)| samples(x, y, "test set")).transpose()?;
        Self::from_samples(train, test, validation_fraction, split_seed)
    }

    fn from_samples(
        train: Samples,
        test: Option<Samples>,
        validation_fraction: f64,
        split_seed: u64,
    ) -> Result<Self, Error> {
        split::build(train, test, validation_fraction, split_seed)
    }

    /// Features per sample (784 for MNIST).
    pub fn features(&self) -> usize {
        self.x.ncols()
    }

    /// Number of classes (the largest label plus one).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The training split.
    pub fn train(&self) -> Split<'_> {
        Split {
            x: self.x.view(),
            y: &self.y,
            rows: Some(&self.train_rows),
        }
    }

    /// The validation split (empty when `validation_fraction` is 0).
    pub fn validation(&self) -> Split<'_> {
        Split {
            x: self.x.view(),
            y: &self.y,
            rows: Some(&self.val_rows),
        }
    }

    /// The test split, when the source has one (the IDX `t10k` files).
    pub fn test(&self) -> Option<Split<'_>> {
        self.test.as_ref().map(|(x, y)| Split {
            x: x.view(),
            y,
            rows: None,
        })
    }

    /// How raw samples were standardized (fitted on the training rows).
    pub fn standardization(&self) -> &Standardization {
        &self.standardization
    }

    /// Every standardized sample of the training file (training and validation rows), one row
    /// per sample.
    pub fn samples(&self) -> ArrayView2<'_, f32> {
        self.x.view()
    }

    /// Bytes of sample memory held (features and labels of every split).
    pub fn bytes(&self) -> usize {
        let test = self
            .test
            .as_ref()
            .map_or(0, |(x, y)| x.len() * 4 + y.len() * 4);
        self.x.len() * 4
            + self.y.len() * 4
            + test
            + (self.train_rows.len() + self.val_rows.len()) * 4
    }
}
