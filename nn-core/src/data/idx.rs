//! MNIST-style IDX files, gzipped or not: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`
//! and, when present, the `t10k-*` pair as the test set. Magic numbers, dimensions and counts
//! are checked; pixels stream straight into `f32` without a second copy of the data.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::Samples;
use crate::error::Error;

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
const LABELS_MAGIC: u32 = 0x0000_0801;
/// Refuse images larger than this many pixels (a corrupt header, not a real image).
const MAX_PIXELS: usize = 1 << 20;

/// Loads the training pair and, when both `t10k` files exist, the test pair from `dir`.
pub(super) fn load_dir(dir: &Path) -> Result<(Samples, Option<Samples>), Error> {
    if !dir.is_dir() {
        return Err(Error::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such directory (data.path of an idx source is the directory holding the IDX files)",
            ),
        });
    }
    let train_images = find(dir, "train-images", "idx3-ubyte")
        .ok_or_else(|| missing(dir, "train-images-idx3-ubyte"))?;
    let train_labels = find(dir, "train-labels", "idx1-ubyte")
        .ok_or_else(|| missing(dir, "train-labels-idx1-ubyte"))?;
    let train = load_pair(&train_images, &train_labels)?;
    let test = match (
        find(dir, "t10k-images", "idx3-ubyte"),
        find(dir, "t10k-labels", "idx1-ubyte"),
    ) {
        (Some(images), Some(labels)) => Some(load_pair(&images, &labels)?),
        _ => None,
    };
    Ok((train, test))
}

/// Finds `stem-kind`, `stem.kind` with or without `.gz` in `dir`.
fn find(dir: &Path, stem: &str, kind: &str) -> Option<PathBuf> {
    [
        format!("{stem}-{kind}.gz"),
        format!("{stem}-{kind}"),
        format!("{stem}.{kind}.gz"),
        format!("{stem}.{kind}"),
    ]
    .into_iter()
    .map(|name| dir.join(name))
    .find(|p| p.is_file())
}

fn missing(dir: &Path, name: &str) -> Error {
    Error::Data {
        path: dir.to_path_buf(),
        problem: format!("no {name} file (gzipped or not) in this directory"),
    }
}

/// Values reserved before any is read (16 Mi): beyond it, memory follows the data read.
const UPFRONT_VALUES: usize = 1 << 24;

/// Loads one images file and its labels file, checking that the counts agree.
pub(super) fn load_pair(images: &Path, labels: &Path) -> Result<Samples, Error> {
    let Images {
        pixels: x,
        count,
        shape,
    } = read_images(images)?;
    let y = read_labels(labels)?;
    if y.len() != count {
        return Err(Error::Data {
            path: labels.to_path_buf(),
            problem: format!(
                "{} labels, but {} holds {count} images",
                y.len(),
                images.display()
            ),
        });
    }
    let mut samples = Samples::from_flat(x, y, shape.0 * shape.1, images)?;
    samples.shape = Some(shape);
    Ok(samples)
}

/// Opens a file, transparently gunzipping it when it starts with the gzip magic bytes.
fn open(path: &Path) -> Result<Box<dyn Read>, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = BufReader::with_capacity(1 << 16, File::open(path).map_err(io)?);
    let mut head = [0u8; 2];
    let n = file.read(&mut head).map_err(io)?;
    let head = head[..n].to_vec();
    let rest = std::io::Cursor::new(head.clone()).chain(file);
    Ok(if head == [0x1f, 0x8b] {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::GzDecoder::new(rest),
        ))
    } else {
        Box::new(rest)
    })
}

fn read_u32s<const N: usize>(reader: &mut dyn Read, path: &Path) -> Result<[u32; N], Error> {
    let mut out = [0u32; N];
    for v in &mut out {
        let mut b = [0u8; 4];
        read_exact(reader, &mut b, path, "the header")?;
        *v = u32::from_be_bytes(b);
    }
    Ok(out)
}

fn read_exact(reader: &mut dyn Read, buf: &mut [u8], path: &Path, what: &str) -> Result<(), Error> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::Data {
            path: path.to_path_buf(),
            problem: format!("the file ends inside {what} (truncated?)"),
        },
        _ => Error::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })
}

fn check_magic(found: u32, expected: u32, path: &Path, what: &str) -> Result<(), Error> {
    if found == expected {
        return Ok(());
    }
    Err(Error::Data {
        path: path.to_path_buf(),
        problem: format!(
            "magic number {found:#010x}, expected {expected:#010x} for an IDX {what} file"
        ),
    })
}

/// An IDX images file's content.
struct Images {
    /// Every image's pixels, row-major, one image after the other.
    pixels: Vec<f32>,
    /// How many images.
    count: usize,
    /// Each image's `(rows, cols)`.
    shape: (usize, usize),
}

fn read_images(path: &Path) -> Result<Images, Error> {
    let mut r = open(path)?;
    let [magic] = read_u32s::<1>(&mut *r, path)?;
    check_magic(
        magic,
        IMAGES_MAGIC,
        path,
        "images (unsigned bytes, 3 dimensions)",
    )?;
    let [count, rows, cols] = read_u32s::<3>(&mut *r, path)?;
    let (count, features) = (count as usize, rows as usize * cols as usize);
    if features == 0 || features > MAX_PIXELS {
        return Err(Error::Data {
            path: path.to_path_buf(),
            problem: format!("images of {rows}×{cols} pixels: expected 1 to {MAX_PIXELS} pixels"),
        });
    }
    // The header's count is a claim: memory grows with the pixels actually read, so a
    // truncated or forged file cannot make us reserve what it does not hold.
    let mut x = Vec::new();
    x.try_reserve_exact(count.saturating_mul(features).min(UPFRONT_VALUES))
        .map_err(|_| Error::Data {
            path: path.to_path_buf(),
            problem: format!("{count} images of {features} pixels do not fit in memory"),
        })?;
    let mut chunk = vec![0u8; features * 64];
    let mut done = 0;
    while done < count {
        let n = (count - done).min(64);
        let buf = &mut chunk[..n * features];
        read_exact(
            &mut *r,
            buf,
            path,
            &format!("images {}..{} of {count}", done + 1, done + n),
        )?;
        x.extend(buf.iter().map(|&b| f32::from(b)));
        done += n;
    }
    Ok(Images {
        pixels: x,
        count,
        shape: (rows as usize, cols as usize),
    })
}

fn read_labels(path: &Path) -> Result<Vec<u32>, Error> {
    let mut r = open(path)?;
    let [magic] = read_u32s::<1>(&mut *r, path)?;
    check_magic(
        magic,
        LABELS_MAGIC,
        path,
        "labels (unsigned bytes, 1 dimension)",
    )?;
    let [count] = read_u32s::<1>(&mut *r, path)?;
    // As for images: only what the file holds is allocated, whatever its header claims.
    let mut bytes = Vec::with_capacity((count as usize).min(UPFRONT_VALUES));
    r.take(u64::from(count))
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() != count as usize {
        return Err(Error::Data {
            path: path.to_path_buf(),
            problem: format!(
                "the file ends inside the {count} labels (truncated?): it holds {}",
                bytes.len()
            ),
        });
    }
    Ok(bytes.into_iter().map(u32::from).collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// Writes an IDX images file of `count` images of `rows`×`cols` (pixel = index mod 256).
    pub(crate) fn write_images(
        path: &Path,
        magic: u32,
        count: u32,
        rows: u32,
        cols: u32,
        gz: bool,
    ) {
        let mut bytes = Vec::new();
        for v in [magic, count, rows, cols] {
            bytes.extend(v.to_be_bytes());
        }
        bytes.extend((0..count * rows * cols).map(|i| (i % 256) as u8));
        write(path, &bytes, gz);
    }

    /// Writes an IDX labels file.
    pub(crate) fn write_labels(path: &Path, magic: u32, labels: &[u8], gz: bool) {
        let mut bytes = Vec::new();
        bytes.extend(magic.to_be_bytes());
        bytes.extend((labels.len() as u32).to_be_bytes());
        bytes.extend(labels);
        write(path, &bytes, gz);
    }

    fn write(path: &Path, bytes: &[u8], gz: bool) {
        let file = File::create(path).unwrap_or_else(|e| panic!("{e}"));
        if gz {
            let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
            enc.write_all(bytes).unwrap_or_else(|e| panic!("{e}"));
            enc.finish().unwrap_or_else(|e| panic!("{e}"));
        } else {
            let mut file = file;
            file.write_all(bytes).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    fn err_of(dir: &Path) -> String {
        match load_dir(dir) {
            Ok(_) => String::from("loaded"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn reads_gzipped_and_plain_files_with_test_split() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path();
        write_images(
            &d.join("train-images-idx3-ubyte.gz"),
            IMAGES_MAGIC,
            5,
            2,
            3,
            true,
        );
        write_labels(
            &d.join("train-labels-idx1-ubyte.gz"),
            LABELS_MAGIC,
            &[0, 1, 2, 1, 0],
            true,
        );
        write_images(
            &d.join("t10k-images-idx3-ubyte"),
            IMAGES_MAGIC,
            2,
            2,
            3,
            false,
        );
        write_labels(
            &d.join("t10k-labels-idx1-ubyte"),
            LABELS_MAGIC,
            &[2, 0],
            false,
        );
        let (train, test) = load_dir(d).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((train.x.ncols(), train.len()), (6, 5));
        assert_eq!(train.x[[1, 1]], 7.0);
        assert_eq!(train.y, vec![0, 1, 2, 1, 0]);
        let test = test.unwrap_or_else(|| panic!("test split missing"));
        assert_eq!((test.len(), test.y[0]), (2, 2));
    }

    #[test]
    fn a_header_claiming_more_than_the_file_holds_allocates_nothing_for_it() {
        // Found by fuzzing (fuzz/ idx_files): 536,870,914 images of 2×2 pixels claimed by a
        // 24-byte file made the loader reserve 8 GiB; a label count of 4 billion, 4 GiB.
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path();
        let mut images = Vec::new();
        for v in [IMAGES_MAGIC, 0x2000_0002, 2, 2] {
            images.extend(v.to_be_bytes());
        }
        images.extend([0, 255, 128, 7, 1, 2, 3, 4]);
        write(&d.join("train-images-idx3-ubyte"), &images, false);
        write_labels(
            &d.join("train-labels-idx1-ubyte"),
            LABELS_MAGIC,
            &[3, 7],
            false,
        );
        let msg = err_of(d);
        assert!(
            msg.contains("the file ends inside images 1..64 of 536870914"),
            "{msg}"
        );

        write_images(
            &d.join("train-images-idx3-ubyte"),
            IMAGES_MAGIC,
            2,
            2,
            2,
            false,
        );
        let mut labels = Vec::new();
        for v in [LABELS_MAGIC, u32::MAX] {
            labels.extend(v.to_be_bytes());
        }
        labels.extend([3, 7]);
        write(&d.join("train-labels-idx1-ubyte"), &labels, false);
        let msg = err_of(d);
        assert!(
            msg.contains("the file ends inside the 4294967295 labels (truncated?): it holds 2"),
            "{msg}"
        );
    }

    #[test]
    fn bad_files_give_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path();
        assert!(err_of(&d.join("nope")).contains("no such directory"));
        assert!(err_of(d).contains("no train-images-idx3-ubyte file"));

        write_images(
            &d.join("train-images-idx3-ubyte"),
            0x0000_0801,
            5,
            2,
            3,
            false,
        );
        write_labels(
            &d.join("train-labels-idx1-ubyte"),
            LABELS_MAGIC,
            &[0; 5],
            false,
        );
        let msg = err_of(d);
        assert!(
            msg.contains("train-images-idx3-ubyte: magic number 0x00000801, expected 0x00000803"),
            "{msg}"
        );

        write_images(
            &d.join("train-images-idx3-ubyte"),
            IMAGES_MAGIC,
            5,
            2,
            3,
            false,
        );
        write_labels(
            &d.join("train-labels-idx1-ubyte"),
            LABELS_MAGIC,
            &[0; 4],
            false,
        );
        let msg = err_of(d);
        assert!(
            msg.contains("train-labels-idx1-ubyte: 4 labels, but")
                && msg.contains("holds 5 images"),
            "{msg}"
        );

        let images = d.join("train-images-idx3-ubyte");
        let bytes = std::fs::read(&images).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&images, &bytes[..bytes.len() - 3]).unwrap_or_else(|e| panic!("{e}"));
        let msg = err_of(d);
        assert!(msg.contains("ends inside images 1..5 of 5"), "{msg}");
    }
}
