//! Fetching one data file from the coordinator: a stream of chunks from an offset, each
//! checked against its digest. A bad chunk (or a broken stream) is asked for again from
//! where the good bytes end, a bounded number of times; the whole file is checked before it
//! takes its place in the cache, under a temporary name until then so that a crash or a
//! second worker sharing the cache never sees half a file.

use std::path::Path;

use hypersearch_proto::data_transfer::{Checksum, DataChunk, DataFile, DataRequest};
use hypersearch_proto::pb;
use tokio::io::AsyncWriteExt as _;

use crate::Error;
use crate::client::{CallError, Client};

/// Bad chunks and broken streams tolerated per file before giving up.
const MAX_RETRIES: u32 = 5;
/// Whole downloads tried when the assembled file fails its checksum.
const WHOLE_FILE_ATTEMPTS: u32 = 2;

/// Fetches `file` into `target` (replacing whatever is there), checked.
pub(super) async fn fetch(
    client: &Client,
    worker_id: u64,
    file: &DataFile,
    target: &Path,
) -> Result<(), Error> {
    let part = target.with_file_name(format!(".{}.{}.part", file.name, std::process::id()));
    let mut last = String::new();
    for _ in 0..WHOLE_FILE_ATTEMPTS {
        if let Err(err) = download(client, worker_id, file, &part).await {
            let _ = std::fs::remove_file(&part);
            return Err(err);
        }
        let path = part.clone();
        let assembled = tokio::task::spawn_blocking(move || {
            std::fs::File::open(&path).and_then(Checksum::of_reader)
        })
        .await
        .unwrap_or_else(|err| Err(std::io::Error::other(err)));
        match assembled {
            Ok((sha256, size)) if sha256 == file.sha256 && size == file.size => {
                std::fs::rename(&part, target).map_err(|err| Error::DataCache {
                    path: target.to_path_buf(),
                    detail: format!("cannot move the fetched file into place: {err}"),
                })?;
                tracing::info!(file = %file.name, bytes = file.size, "fetched from the coordinator");
                return Ok(());
            }
            Ok((sha256, size)) => {
                last = format!(
                    "the assembled file has {size} bytes with SHA-256 {sha256}; the \
                     coordinator announced {} bytes with SHA-256 {}",
                    file.size, file.sha256
                );
                tracing::warn!(file = %file.name, %last, "fetching it again");
            }
            Err(err) => {
                let _ = std::fs::remove_file(&part);
                return Err(Error::DataCache {
                    path: part,
                    detail: format!("cannot read the fetched file back: {err}"),
                });
            }
        }
    }
    let _ = std::fs::remove_file(&part);
    Err(Error::Data {
        file: file.name.clone(),
        detail: format!("failed its checksum {WHOLE_FILE_ATTEMPTS} times; last: {last}"),
    })
}

/// Streams `file` into `part`, asking again from the last good byte after a bad chunk.
async fn download(
    client: &Client,
    worker_id: u64,
    file: &DataFile,
    part: &Path,
) -> Result<(), Error> {
    let cache_error = |detail: String| Error::DataCache {
        path: part.to_path_buf(),
        detail,
    };
    let mut out = tokio::fs::File::create(part)
        .await
        .map_err(|err| cache_error(format!("cannot create it: {err}")))?;
    let mut offset = 0u64;
    let mut retries = 0;
    while offset < file.size {
        let request = DataRequest {
            worker_id,
            sha256: file.sha256,
            offset,
        };
        let mut stream = match client.fetch_data(request).await {
            Ok(stream) => stream,
            Err(CallError::Fatal(err)) => return Err(err),
            Err(
                CallError::LeaseLost(detail)
                | CallError::Unregistered(detail)
                | CallError::TrialRefused(detail),
            ) => {
                return Err(Error::Data {
                    file: file.name.clone(),
                    detail,
                });
            }
        };
        let problem = loop {
            match stream.message().await {
                Ok(Some(chunk)) => match check(chunk, offset, file) {
                    Ok(data) => {
                        out.write_all(&data)
                            .await
                            .map_err(|err| cache_error(format!("cannot write it: {err}")))?;
                        offset += data.len() as u64;
                    }
                    Err(problem) => break Some(problem),
                },
                Ok(None) if offset < file.size => {
                    break Some(format!("the stream ended at byte {offset}"));
                }
                Ok(None) => break None,
                Err(status) => break Some(format!("the stream broke: {}", status.message())),
            }
        };
        // Dropping the stream tells the coordinator to stop sending.
        drop(stream);
        if let Some(problem) = problem {
            retries += 1;
            if retries > MAX_RETRIES {
                return Err(Error::Data {
                    file: file.name.clone(),
                    detail: format!(
                        "gave up after {MAX_RETRIES} bad chunks or broken streams; last: {problem}"
                    ),
                });
            }
            tracing::warn!(file = %file.name, offset, %problem, "asking the coordinator again");
        }
    }
    out.sync_all()
        .await
        .map_err(|err| cache_error(format!("cannot write it: {err}")))?;
    Ok(())
}

/// The bytes of `chunk` if it is the intact next piece of `file` at `offset`; else what is
/// wrong with it.
pub(crate) fn check(chunk: pb::DataChunk, offset: u64, file: &DataFile) -> Result<Vec<u8>, String> {
    let chunk = DataChunk::try_from(chunk).map_err(|err| format!("a malformed chunk: {err}"))?;
    if chunk.offset != offset {
        return Err(format!(
            "a chunk at byte {} where byte {offset} was expected",
            chunk.offset
        ));
    }
    let remaining = file.size - offset;
    if chunk.data.is_empty() || chunk.data.len() as u64 > remaining {
        return Err(format!(
            "a chunk of {} bytes at byte {offset} of a {}-byte file",
            chunk.data.len(),
            file.size
        ));
    }
    if !chunk.is_intact() {
        return Err(format!("the chunk at byte {offset} failed its checksum"));
    }
    Ok(chunk.data)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file(size: u64) -> DataFile {
        DataFile {
            name: "f".into(),
            size,
            sha256: Checksum::of(b""),
        }
    }

    #[test]
    fn only_the_intact_next_piece_is_accepted() {
        let good = pb::DataChunk::from(DataChunk::new(4, vec![1, 2, 3]));
        assert_eq!(check(good.clone(), 4, &file(10)).unwrap(), vec![1, 2, 3]);
        let err = check(good.clone(), 0, &file(10)).unwrap_err();
        assert!(err.contains("where byte 0 was expected"), "{err}");
        let err = check(good.clone(), 4, &file(6)).unwrap_err();
        assert!(err.contains("3 bytes at byte 4 of a 6-byte file"), "{err}");
        let mut damaged = good;
        damaged.data[2] ^= 1;
        let err = check(damaged, 4, &file(10)).unwrap_err();
        assert!(err.contains("failed its checksum"), "{err}");
    }
}
