//! Conversions of the data-set transfer: file list, fetch requests, chunks. A file name that
//! is not a plain name, a digest that is not 32 bytes, an oversized chunk: a [`ConvertError`].

use super::ConvertError;
use crate::data_transfer::{
    CHUNK_BYTES, Checksum, DataChunk, DataFile, DataRequest, MAX_FILE_NAME_BYTES,
    is_plain_file_name,
};
use crate::pb;

/// Most files a data set may list.
const MAX_DATA_FILES: usize = 64;

pub(super) fn checksum(field: &str, bytes: &[u8]) -> Result<Checksum, ConvertError> {
    <[u8; 32]>::try_from(bytes).map(Checksum).map_err(|_| {
        ConvertError::new(
            field,
            format!("{} bytes, a SHA-256 digest has 32", bytes.len()),
        )
    })
}

impl From<DataFile> for pb::DataFile {
    fn from(file: DataFile) -> Self {
        pb::DataFile {
            name: file.name,
            size: file.size,
            sha256: file.sha256.0.to_vec(),
        }
    }
}

/// The data files of a study, validated.
pub(crate) fn data_files_from_pb(files: Vec<pb::DataFile>) -> Result<Vec<DataFile>, ConvertError> {
    if files.len() > MAX_DATA_FILES {
        return Err(ConvertError::new(
            "study.data_files",
            format!("{} files, at most {MAX_DATA_FILES} allowed", files.len()),
        ));
    }
    let mut out: Vec<DataFile> = Vec::with_capacity(files.len());
    for file in files {
        let field = format!("study.data_files[{}]", file.name);
        if !is_plain_file_name(&file.name) {
            return Err(ConvertError::new(
                field,
                format!(
                    "not a plain file name (1 to {MAX_FILE_NAME_BYTES} bytes, no `/`, `\\`, \
                     `.` or `..`)"
                ),
            ));
        }
        if out.iter().any(|f| f.name == file.name) {
            return Err(ConvertError::new(field, "listed twice"));
        }
        out.push(DataFile {
            sha256: checksum(&format!("{field}.sha256"), &file.sha256)?,
            name: file.name,
            size: file.size,
        });
    }
    Ok(out)
}

impl From<DataRequest> for pb::FetchDataRequest {
    fn from(request: DataRequest) -> Self {
        pb::FetchDataRequest {
            worker_id: request.worker_id,
            sha256: request.sha256.0.to_vec(),
            offset: request.offset,
        }
    }
}

impl TryFrom<pb::FetchDataRequest> for DataRequest {
    type Error = ConvertError;
    fn try_from(request: pb::FetchDataRequest) -> Result<Self, ConvertError> {
        Ok(DataRequest {
            worker_id: request.worker_id,
            sha256: checksum("sha256", &request.sha256)?,
            offset: request.offset,
        })
    }
}

impl From<DataChunk> for pb::DataChunk {
    fn from(chunk: DataChunk) -> Self {
        pb::DataChunk {
            offset: chunk.offset,
            data: chunk.data,
            sha256: chunk.sha256.0.to_vec(),
        }
    }
}

impl TryFrom<pb::DataChunk> for DataChunk {
    type Error = ConvertError;
    /// Checks the chunk's shape; whether its bytes match its digest is the receiver's call
    /// ([`DataChunk::is_intact`]), since a bad chunk is asked for again rather than fatal.
    fn try_from(chunk: pb::DataChunk) -> Result<Self, ConvertError> {
        if chunk.data.len() > CHUNK_BYTES {
            return Err(ConvertError::new(
                "data",
                format!("{} bytes, at most {CHUNK_BYTES} allowed", chunk.data.len()),
            ));
        }
        Ok(DataChunk {
            offset: chunk.offset,
            sha256: checksum("sha256", &chunk.sha256)?,
            data: chunk.data,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn wire_file(name: &str) -> pb::DataFile {
        pb::DataFile {
            name: name.into(),
            size: 3,
            sha256: Checksum::of(b"abc").0.to_vec(),
        }
    }

    #[test]
    fn data_files_round_trip() {
        let files = data_files_from_pb(vec![wire_file("train.csv")]).unwrap();
        assert_eq!(files[0].sha256, Checksum::of(b"abc"));
        assert_eq!(pb::DataFile::from(files[0].clone()), wire_file("train.csv"));
    }

    #[test]
    fn names_that_leave_the_cache_directory_are_refused() {
        for name in ["../../.bashrc", "/etc/passwd", "a/b", ".."] {
            let err = data_files_from_pb(vec![wire_file(name)]).unwrap_err();
            assert!(err.problem.contains("plain file name"), "{err}");
        }
        let err = data_files_from_pb(vec![wire_file("a"), wire_file("a")]).unwrap_err();
        assert!(err.problem.contains("twice"), "{err}");
    }

    #[test]
    fn digests_must_have_32_bytes() {
        let mut file = wire_file("a");
        file.sha256.pop();
        let err = data_files_from_pb(vec![file]).unwrap_err();
        assert_eq!(err.field, "study.data_files[a].sha256");
        let request = pb::FetchDataRequest {
            worker_id: 1,
            sha256: vec![0; 31],
            offset: 0,
        };
        assert_eq!(DataRequest::try_from(request).unwrap_err().field, "sha256");
    }

    #[test]
    fn a_chunk_keeps_its_digest_for_the_receiver_to_check() {
        let mut wire = pb::DataChunk::from(DataChunk::new(5, vec![1, 2, 3]));
        wire.data[0] = 9;
        let chunk = DataChunk::try_from(wire).unwrap();
        assert_eq!(chunk.offset, 5);
        assert!(!chunk.is_intact());
        let oversized = pb::DataChunk {
            offset: 0,
            data: vec![0; CHUNK_BYTES + 1],
            sha256: vec![0; 32],
        };
        assert_eq!(DataChunk::try_from(oversized).unwrap_err().field, "data");
    }
}
