//! The study's data set on this worker. The coordinator lists its data files by name, size
//! and SHA-256. A worker that holds the same bytes at the configured path uses them; any
//! other fetches the files from the coordinator into its cache directory, in a folder named
//! by the data set's checksum (reused by later runs, re-checked every time), and trains on
//! that copy. The built-in digits set needs nothing.
//!
//! Nothing from the coordinator becomes a path unchecked: file names are plain names
//! (checked on the way in), joined to the cache folder, and a local file is only read to
//! compare its checksum with the one announced.

mod fetch;

#[cfg(feature = "fuzzing")]
pub(crate) use fetch::check as check_chunk;

use std::path::{Path, PathBuf};

use hypersearch_proto::data_transfer::{Checksum, DataFile};
use hypersearch_proto::{Objective, StudyInfo};

use crate::Error;
use crate::client::Client;

/// Where fetched data sets go when no directory is given: `$XDG_CACHE_HOME/hypersearch/data`,
/// else `$HOME/.cache/hypersearch/data`, else `hypersearch-data` in the working directory.
pub fn default_data_dir() -> PathBuf {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(cache) = non_empty("XDG_CACHE_HOME") {
        return Path::new(&cache).join("hypersearch").join("data");
    }
    if let Some(home) = non_empty("HOME") {
        return Path::new(&home)
            .join(".cache")
            .join("hypersearch")
            .join("data");
    }
    PathBuf::from("hypersearch-data")
}

/// The source and path of the study's `[data]` table, if it reads files.
enum Files {
    /// An idx directory holding the files.
    Directory(PathBuf),
    /// A csv file.
    File(PathBuf),
}

/// Makes sure this worker holds the study's data set; returns the study with its training
/// config pointing at the copy to train on.
pub(crate) async fn prepare(
    client: &Client,
    worker_id: u64,
    cache: &Path,
    mut study: StudyInfo,
) -> Result<StudyInfo, Error> {
    if study.objective != Objective::Training || study.data_files.is_empty() {
        return Ok(study);
    }
    let mut config: toml::Table = toml::from_str(&study.base_config_toml).map_err(|err| {
        data_error(
            &study.data_files[0],
            format!("the study's training config is not TOML: {err}"),
        )
    })?;
    let Some(files) = configured_files(&config) else {
        return Ok(study);
    };
    let paths = local_paths(&files, &study.data_files);
    if blocking(cache, move || Ok(all_match(&paths))).await? {
        tracing::info!(path = %files.path().display(), "the data set is here already");
        return Ok(study);
    }
    let folder = cache.join(set_key(&study.data_files).hex());
    std::fs::create_dir_all(&folder).map_err(|err| Error::DataCache {
        path: folder.clone(),
        detail: format!("cannot create it: {err}"),
    })?;
    for file in &study.data_files {
        let target = folder.join(&file.name);
        let announced = file.clone();
        let cached = target.clone();
        if blocking(cache, move || Ok(matches(&cached, &announced))).await? {
            tracing::info!(file = %file.name, "using the cached copy");
            continue;
        }
        fetch::fetch(client, worker_id, file, &target).await?;
    }
    let local = match files {
        Files::File(_) => folder.join(&study.data_files[0].name),
        Files::Directory(_) => folder,
    };
    set_data_path(&mut config, &local);
    study.base_config_toml = toml::to_string(&config).map_err(|err| {
        data_error(
            &study.data_files[0],
            format!("cannot write the training config back: {err}"),
        )
    })?;
    Ok(study)
}

impl Files {
    fn path(&self) -> &Path {
        match self {
            Files::Directory(path) | Files::File(path) => path,
        }
    }
}

fn data_error(file: &DataFile, detail: String) -> Error {
    Error::Data {
        file: file.name.clone(),
        detail,
    }
}

/// Runs file work off the async runtime.
async fn blocking<T: Send + 'static>(
    cache: &Path,
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| Error::DataCache {
            path: cache.to_path_buf(),
            detail: format!("a file task failed: {err}"),
        })?
}

/// The `[data]` source and path, for the sources that read files.
fn configured_files(config: &toml::Table) -> Option<Files> {
    let data = config.get("data")?.as_table()?;
    let path = PathBuf::from(data.get("path")?.as_str()?);
    match data.get("source")?.as_str()? {
        "idx" => Some(Files::Directory(path)),
        "csv" => Some(Files::File(path)),
        _ => None,
    }
}

fn set_data_path(config: &mut toml::Table, path: &Path) {
    if let Some(toml::Value::Table(data)) = config.get_mut("data") {
        data.insert(
            "path".into(),
            toml::Value::String(path.display().to_string()),
        );
    }
}

/// Where the configured source would find each announced file on this machine.
fn local_paths(files: &Files, announced: &[DataFile]) -> Vec<(PathBuf, DataFile)> {
    match files {
        Files::File(path) => announced
            .iter()
            .take(1)
            .map(|file| (path.clone(), file.clone()))
            .collect(),
        Files::Directory(dir) => announced
            .iter()
            .map(|file| (dir.join(&file.name), file.clone()))
            .collect(),
    }
}

fn all_match(paths: &[(PathBuf, DataFile)]) -> bool {
    !paths.is_empty() && paths.iter().all(|(path, file)| matches(path, file))
}

/// Whether `path` holds exactly the bytes `file` announces.
fn matches(path: &Path, file: &DataFile) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else {
        return false;
    };
    if !metadata.is_file() || metadata.len() != file.size {
        return false;
    }
    match std::fs::File::open(path).map(Checksum::of_reader) {
        Ok(Ok((sha256, _))) if sha256 == file.sha256 => true,
        Ok(Ok(_)) => {
            tracing::warn!(path = %path.display(), "holds other bytes than the coordinator's copy");
            false
        }
        _ => false,
    }
}

/// The data set's identity: a digest over its files' names and digests.
fn set_key(files: &[DataFile]) -> Checksum {
    let mut listing: Vec<String> = files
        .iter()
        .map(|file| format!("{}\0{}\n", file.name, file.sha256))
        .collect();
    listing.sort();
    Checksum::of(listing.concat().as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file(name: &str, bytes: &[u8]) -> DataFile {
        DataFile {
            name: name.into(),
            size: bytes.len() as u64,
            sha256: Checksum::of(bytes),
        }
    }

    #[test]
    fn a_local_file_counts_only_with_the_announced_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.csv");
        std::fs::write(&path, b"label,x\n1,2\n").unwrap();
        assert!(matches(&path, &file("train.csv", b"label,x\n1,2\n")));
        assert!(!matches(&path, &file("train.csv", b"label,x\n1,3\n")));
        assert!(!matches(&dir.path().join("missing"), &file("missing", b"")));
    }

    #[test]
    fn the_cache_folder_depends_on_the_content_not_the_order() {
        let a = file("a", b"1");
        let b = file("b", b"2");
        assert_eq!(set_key(&[a.clone(), b.clone()]), set_key(&[b, a.clone()]));
        assert_ne!(set_key(&[a]), set_key(&[file("a", b"other")]));
    }

    #[test]
    fn the_training_config_is_pointed_at_the_local_copy() {
        let mut config: toml::Table =
            toml::from_str("[data]\nsource = \"csv\"\npath = \"/far/away.csv\"\n").unwrap();
        assert!(matches!(configured_files(&config), Some(Files::File(_))));
        set_data_path(&mut config, Path::new("/cache/abc/away.csv"));
        assert_eq!(config["data"]["path"].as_str(), Some("/cache/abc/away.csv"));
        let digits: toml::Table = toml::from_str("[data]\nsource = \"digits\"\n").unwrap();
        assert!(configured_files(&digits).is_none());
    }
}
