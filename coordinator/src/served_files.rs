//! The study's data set as the coordinator serves it to workers that lack it: each file
//! opened and hashed once at start, then streamed in checksummed chunks on request.
//!
//! Only the files listed at start can be fetched, and only by their SHA-256: a worker cannot
//! name a path. The files stay open, so a transfer reads the bytes that were hashed even if
//! the path is renamed meanwhile.
//!
//! Testing hook, compiled only with the `test-hooks` feature (which the test suite turns on
//! and no release build does): with `HYPERSEARCH_TEST_CORRUPT_CHUNK=N` in its environment,
//! the coordinator damages chunk `N` (counting from 0) of the first transfer that sends it,
//! once, after computing its digest, so that tests can watch a worker detect the bad chunk
//! and ask again.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hypersearch_proto::data_transfer::{CHUNK_BYTES, Checksum, DataChunk, DataFile, DataRequest};

use crate::Error;

/// The environment variable of the corruption testing hook.
#[cfg(feature = "test-hooks")]
pub const CORRUPT_CHUNK_ENV: &str = "HYPERSEARCH_TEST_CORRUPT_CHUNK";

/// One served file.
struct Served {
    file: Arc<File>,
    path: PathBuf,
    size: u64,
}

/// The data files of a study, opened and hashed once, ready to stream to workers.
#[derive(Default)]
pub(crate) struct ServedFiles {
    listed: Vec<DataFile>,
    by_checksum: HashMap<Checksum, Served>,
    /// The chunk index the testing hook damages, until it has (then `u64::MAX`).
    corrupt_chunk: Option<Arc<AtomicU64>>,
}

impl ServedFiles {
    /// Opens and hashes `paths` (blocking: call it off the async runtime).
    pub fn open(paths: &[PathBuf]) -> Result<ServedFiles, Error> {
        let mut set = ServedFiles::default();
        for path in paths {
            let bad = |problem: String| Error::DataFile {
                path: path.clone(),
                problem,
            };
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .filter(|name| hypersearch_proto::data_transfer::is_plain_file_name(name))
                .ok_or_else(|| bad("its file name is not valid UTF-8".into()))?
                .to_string();
            if set.listed.iter().any(|f| f.name == name) {
                return Err(bad(format!("two data files are named `{name}`")));
            }
            let file = File::open(path).map_err(|err| bad(format!("cannot open it: {err}")))?;
            let (sha256, size) =
                Checksum::of_reader(&file).map_err(|err| bad(format!("cannot read it: {err}")))?;
            set.listed.push(DataFile { name, size, sha256 });
            set.by_checksum.insert(
                sha256,
                Served {
                    file: Arc::new(file),
                    path: path.clone(),
                    size,
                },
            );
        }
        #[cfg(feature = "test-hooks")]
        {
            set.corrupt_chunk = std::env::var(CORRUPT_CHUNK_ENV)
                .ok()
                .and_then(|n| n.trim().parse::<u64>().ok())
                .map(|n| Arc::new(AtomicU64::new(n)));
        }
        Ok(set)
    }

    /// The files, as workers are told about them.
    pub fn files(&self) -> Vec<DataFile> {
        self.listed.clone()
    }

    /// The chunks answering `request`, read lazily (blocking reads: iterate off the async
    /// runtime).
    pub fn chunks(
        &self,
        request: DataRequest,
    ) -> Result<impl Iterator<Item = Result<DataChunk, Error>> + Send + 'static, Error> {
        let served = self
            .by_checksum
            .get(&request.sha256)
            .ok_or(Error::UnknownDataFile(request.sha256))?;
        if request.offset > served.size {
            return Err(Error::BadDataRequest(format!(
                "offset {} asked for, but file {} has {} bytes",
                request.offset, request.sha256, served.size
            )));
        }
        let (file, path, size) = (served.file.clone(), served.path.clone(), served.size);
        let corrupt = self.corrupt_chunk.clone();
        let mut offset = request.offset;
        Ok(std::iter::from_fn(move || {
            if offset >= size {
                return None;
            }
            let len = (size - offset).min(CHUNK_BYTES as u64) as usize;
            let mut data = vec![0u8; len];
            if let Err(err) = file.read_exact_at(&mut data, offset) {
                offset = size;
                return Some(Err(Error::DataFile {
                    path: path.clone(),
                    problem: format!("cannot read it: {err}"),
                }));
            }
            let mut chunk = DataChunk::new(offset, data);
            if let Some(corrupt) = &corrupt {
                damage_once(&mut chunk, corrupt);
            }
            offset += len as u64;
            Some(Ok(chunk))
        }))
    }
}

/// The testing hook: flips a byte of the chunk whose index `corrupt` holds, the first time
/// it is sent.
fn damage_once(chunk: &mut DataChunk, corrupt: &AtomicU64) {
    let index = chunk.offset / CHUNK_BYTES as u64;
    if corrupt
        .compare_exchange(index, u64::MAX, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
        && let Some(byte) = chunk.data.first_mut()
    {
        *byte ^= 0xff;
        tracing::warn!(
            offset = chunk.offset,
            "testing hook: sending a damaged chunk"
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn chunks_cover_the_file_from_the_offset_and_carry_their_digests() {
        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..CHUNK_BYTES * 2 + 10).map(|i| (i % 251) as u8).collect();
        let path = write(dir.path(), "train.csv", &bytes);
        let set = ServedFiles::open(&[path]).unwrap();
        let file = &set.files()[0];
        assert_eq!(file.name, "train.csv");
        assert_eq!(file.size, bytes.len() as u64);
        assert_eq!(file.sha256, Checksum::of(&bytes));
        let request = DataRequest {
            worker_id: 1,
            sha256: file.sha256,
            offset: 5,
        };
        let chunks: Vec<DataChunk> = set.chunks(request).unwrap().map(Result::unwrap).collect();
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(DataChunk::is_intact));
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
        assert_eq!(joined, bytes[5..]);
    }

    #[test]
    fn only_listed_files_are_served() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "a.csv", b"label\n1\n");
        let set = ServedFiles::open(&[path]).unwrap();
        let request = DataRequest {
            worker_id: 1,
            sha256: Checksum::of(b"something else"),
            offset: 0,
        };
        assert!(matches!(
            set.chunks(request).err(),
            Some(Error::UnknownDataFile(_))
        ));
        let past_the_end = DataRequest {
            sha256: set.files()[0].sha256,
            offset: 100,
            ..request
        };
        assert!(matches!(
            set.chunks(past_the_end).err(),
            Some(Error::BadDataRequest(_))
        ));
    }

    #[test]
    fn the_testing_hook_damages_one_chunk_once() {
        let corrupt = AtomicU64::new(1);
        let mut first = DataChunk::new(0, vec![1; 4]);
        damage_once(&mut first, &corrupt);
        assert!(first.is_intact());
        let mut second = DataChunk::new(CHUNK_BYTES as u64, vec![1; 4]);
        damage_once(&mut second, &corrupt);
        assert!(!second.is_intact());
        let mut again = DataChunk::new(CHUNK_BYTES as u64, vec![1; 4]);
        damage_once(&mut again, &corrupt);
        assert!(again.is_intact());
    }
}
