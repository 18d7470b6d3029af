//! The data-set transfer's plain types: a worker that lacks a study's data files fetches them
//! from the coordinator in chunks, each chunk and each whole file checked against its SHA-256.

use std::fmt;
use std::io::Read;

use sha2::Digest as _;

/// Largest chunk the coordinator sends (bytes): well under the message limit.
pub const CHUNK_BYTES: usize = 1024 * 1024;

/// Longest data file name accepted, in bytes (a common file-system limit).
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// A SHA-256 digest: what names a data file, and what checks it and each of its chunks.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Checksum(pub [u8; 32]);

impl Checksum {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Checksum {
        Checksum(sha2::Sha256::digest(bytes).into())
    }

    /// The digest of everything `reader` yields, and how many bytes that was.
    ///
    /// # Errors
    /// The reader's error.
    pub fn of_reader(mut reader: impl Read) -> std::io::Result<(Checksum, u64)> {
        let mut hasher = sha2::Sha256::new();
        let mut buffer = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            hasher.update(&buffer[..n]);
            total += n as u64;
        }
        Ok((Checksum(hasher.finalize().into()), total))
    }

    /// The digest as 64 lower-case hexadecimal digits.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({})", self.hex())
    }
}

/// One file of a study's data set, as the coordinator announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// A plain file name: no directory part, not `.` or `..` (checked on the way in, so a
    /// worker can join it to its cache directory safely).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its content's digest.
    pub sha256: Checksum,
}

/// Whether `name` is a plain file name a worker may create in its cache directory.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FILE_NAME_BYTES
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
}

/// A worker asking for (the rest of) a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataRequest {
    /// The asking worker.
    pub worker_id: u64,
    /// The file, by its digest.
    pub sha256: Checksum,
    /// The first byte wanted.
    pub offset: u64,
}

/// A piece of a data file.
#[derive(Clone, PartialEq, Eq)]
pub struct DataChunk {
    /// Where `data` starts in the file.
    pub offset: u64,
    /// The bytes.
    pub data: Vec<u8>,
    /// The digest the sender computed over `data`.
    pub sha256: Checksum,
}

impl DataChunk {
    /// A chunk of `data` at `offset`, with its digest.
    pub fn new(offset: u64, data: Vec<u8>) -> DataChunk {
        let sha256 = Checksum::of(&data);
        DataChunk {
            offset,
            data,
            sha256,
        }
    }

    /// Whether the bytes match the digest they came with.
    pub fn is_intact(&self) -> bool {
        Checksum::of(&self.data) == self.sha256
    }
}

impl fmt::Debug for DataChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataChunk")
            .field("offset", &self.offset)
            .field("len", &self.data.len())
            .field("sha256", &self.sha256)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_sha256() {
        // The SHA-256 of "abc" from FIPS 180-2.
        assert_eq!(
            Checksum::of(b"abc").hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (streamed, len) = Checksum::of_reader(&b"abc"[..]).unwrap();
        assert_eq!(streamed, Checksum::of(b"abc"));
        assert_eq!(len, 3);
    }

    #[test]
    fn a_flipped_byte_breaks_a_chunk() {
        let mut chunk = DataChunk::new(0, vec![1, 2, 3]);
        assert!(chunk.is_intact());
        chunk.data[1] ^= 0xff;
        assert!(!chunk.is_intact());
    }

    #[test]
    fn only_plain_names_are_accepted() {
        assert!(is_plain_file_name("train-images-idx3-ubyte.gz"));
        for bad in [
            "",
            ".",
            "..",
            "../etc/passwd",
            "a/b",
            "/abs",
            "a\\b",
            "nul\0",
        ] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
        assert!(!is_plain_file_name(&"x".repeat(256)));
    }
}
