//! Loading a study config for `run` and `serve`: read, parse and check it (naming the file,
//! key and line of any problem), keep its data path inside the data root, check its training
//! part with nn-core, list the data files workers may fetch, and decide where its database
//! is.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use hypersearch_search::{Objective, StudyConfig};

/// A study config, checked.
pub struct StudyFile {
    /// The file's text, as stored with the study (a resumed study must match it).
    pub text: String,
    /// The checked config; its `data.path` is absolute and inside the data root.
    pub config: StudyConfig,
    /// The files of its data set (for an idx or csv source): what workers that lack them
    /// fetch from the coordinator.
    pub data_files: Vec<PathBuf>,
}

/// Reads and checks the study config at `path`. Its `data.path` must lie inside
/// `data_root`, by default the config file's directory.
pub fn load(path: &Path, data_root: Option<&Path>) -> anyhow::Result<StudyFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the study config {}", path.display()))?;
    let mut config = StudyConfig::from_toml_str(&text, &path.display().to_string())
        .map_err(|err| anyhow!("{err}"))?;
    let mut data_files = Vec::new();
    if config.objective == Objective::NnCore {
        let (base, data_path) = confine_data_path(&config.base_training_config, path, data_root)?;
        config.base_training_config = base;
        let training = nn_core::TrainConfig::from_toml(
            &config.base_training_config,
            &path.display().to_string(),
        )
        .map_err(|err| {
            training_error(path, &config.base_training_config, &text, &err.to_string())
        })?;
        // A missing or malformed data set is one clear error now, not a failure per trial.
        nn_core::Dataset::load(training.data())
            .map_err(|err| anyhow!("{}: cannot load the data set: {err}", path.display()))?;
        if let Some((data_path, root)) = data_path {
            data_files = files_of(&training.data().source, &root)
                .with_context(|| format!("{}: data.path {}", path.display(), data_path))?;
        }
    }
    Ok(StudyFile {
        text,
        config,
        data_files,
    })
}

/// The database to use: `--db`, else the config's `[study] storage`, else `hypersearch.db`.
pub fn database(flag: Option<&Path>, config: &StudyConfig) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| config.storage.as_ref().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("hypersearch.db"))
}

/// The directory of `study_path`, absolute and without symbolic links.
pub fn study_dir(study_path: &Path) -> anyhow::Result<PathBuf> {
    let dir = study_path.parent().unwrap_or(Path::new(""));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::canonicalize(dir).with_context(|| format!("cannot resolve {}", dir.display()))
}

/// The base training config with `data.path` resolved (relative to the study file's
/// directory) to an absolute path without symbolic links, which must lie inside the data
/// root. Returns the new config text and, when there is a data path, the path as written and
/// the data root.
fn confine_data_path(
    base: &str,
    study_path: &Path,
    data_root: Option<&Path>,
) -> anyhow::Result<(String, Option<(String, PathBuf)>)> {
    let study = study_path.display();
    let mut table: toml::Table = toml::from_str(base)
        .with_context(|| format!("{study}: the training part is not valid TOML"))?;
    let Some(toml::Value::Table(data)) = table.get_mut("data") else {
        return Ok((base.to_string(), None));
    };
    let Some(toml::Value::String(data_path)) = data.get_mut("path") else {
        return Ok((base.to_string(), None));
    };
    let written = data_path.clone();
    let dir = study_dir(study_path)?;
    let (root, root_is) = match data_root {
        Some(root) => (
            std::fs::canonicalize(root)
                .with_context(|| format!("--data-root {}", root.display()))?,
            "--data-root",
        ),
        None => (dir.clone(), "the study file's directory"),
    };
    let resolved = std::fs::canonicalize(dir.join(&written)).with_context(|| {
        format!(
            "{study}: data.path `{written}` cannot be resolved from {}",
            dir.display()
        )
    })?;
    if !resolved.starts_with(&root) {
        bail!(
            "{study}: data.path `{written}` resolves to {}, outside the data root {} ({root_is}); \
             move the data under it or pass --data-root DIR",
            resolved.display(),
            root.display()
        );
    }
    *data_path = resolved.display().to_string();
    let text = toml::to_string(&table).context("cannot write the training config back")?;
    Ok((text, Some((written, root))))
}

/// The files nn-core reads for `source`, each inside `root` (a symbolic link out of it is
/// refused).
fn files_of(source: &nn_core::config::DataSource, root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    use nn_core::config::DataSource;
    let files = match source {
        DataSource::Digits => Vec::new(),
        DataSource::Csv(file) => vec![file.clone()],
        DataSource::Idx(dir) => idx_files(dir),
    };
    for file in &files {
        let resolved = std::fs::canonicalize(file)
            .with_context(|| format!("cannot resolve {}", file.display()))?;
        if !resolved.starts_with(root) {
            bail!(
                "{} links to {}, outside the data root {}",
                file.display(),
                resolved.display(),
                root.display()
            );
        }
    }
    Ok(files)
}

/// The IDX files in `dir` that nn-core loads: for each of the training and test images and
/// labels, the first of `NAME-KIND.gz`, `NAME-KIND`, `NAME.KIND.gz`, `NAME.KIND` present.
fn idx_files(dir: &Path) -> Vec<PathBuf> {
    [
        ("train-images", "idx3-ubyte"),
        ("train-labels", "idx1-ubyte"),
        ("t10k-images", "idx3-ubyte"),
        ("t10k-labels", "idx1-ubyte"),
    ]
    .into_iter()
    .filter_map(|(stem, kind)| {
        [
            format!("{stem}-{kind}.gz"),
            format!("{stem}-{kind}"),
            format!("{stem}.{kind}.gz"),
            format!("{stem}.{kind}"),
        ]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
    })
    .collect()
}

/// An error nn-core found in the training part of a study, which it read as re-written from
/// the study's `[data]`, `[network]` and `[training]` tables (`base`): said once, at the line
/// of the study file (`original`) where the offending key is, in the words of the study
/// file's other errors.
fn training_error(path: &Path, base: &str, original: &str, message: &str) -> anyhow::Error {
    let origin = path.display().to_string();
    // nn-core's own checks say `ORIGIN:LINE: ...`; TOML's parser `... at line LINE, ...`.
    if let Some((line, rest)) = message
        .strip_prefix(&format!("{origin}:"))
        .and_then(|rest| rest.split_once(": "))
        .and_then(|(line, rest)| Some((line.parse::<usize>().ok()?, rest)))
    {
        return match relocate(base, original, line) {
            Some((at, _, _)) => anyhow!("{origin}:{at}: {rest}"),
            None => anyhow!("{origin}: in the training part: {rest}"),
        };
    }
    let parsed_line = message
        .split("at line ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<usize>().ok());
    let message = message
        .strip_prefix(&format!("{origin}: "))
        .unwrap_or(message);
    let Some((at, table, key)) = parsed_line.and_then(|line| relocate(base, original, line)) else {
        return anyhow!("{origin}: in the training part: {message}");
    };
    // The description is the message's last line; its Rust type names read as TOML's.
    let what = message.lines().last().unwrap_or(message).trim();
    let what = what
        .replace("expected i64", "expected an integer")
        .replace("expected u64", "expected a non-negative integer")
        .replace("expected u32", "expected a non-negative integer")
        .replace("expected usize", "expected a non-negative integer")
        .replace("expected f64", "expected a number")
        .replace("expected f32", "expected a number");
    anyhow!("{origin}:{at}: `{table}.{key}`: {what}")
}

/// The line of `original` that line `line` of `base` (the training part as re-written)
/// came from, with its table and key.
fn relocate(base: &str, original: &str, line: usize) -> Option<(usize, String, String)> {
    let (_, table, key) = keyed_lines(base).find(|(number, ..)| *number == line)?;
    let (at, ..) = keyed_lines(original).find(|(_, t, k)| *t == table && *k == key)?;
    Some((at, table, key.to_string()))
}

/// The `key = value` lines of TOML `text` under `[table]` headers, as (line from 1, table,
/// key).
fn keyed_lines(text: &str) -> impl Iterator<Item = (usize, String, &str)> {
    let mut table: Option<String> = None;
    text.lines()
        .enumerate()
        .filter_map(move |(number, content)| {
            let content = content.trim();
            if let Some(header) = content.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                table = Some(header.trim().to_string());
                return None;
            }
            let (name, _) = content.split_once('=')?;
            Some((number + 1, table.clone()?, name.trim().trim_matches('"')))
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("study/data")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::fs::write(dir.path().join("study/data/train.csv"), "label\n1\n").unwrap();
        std::fs::write(dir.path().join("outside/secret.csv"), "label\n1\n").unwrap();
        let study = dir.path().join("study/study.toml");
        (dir, study)
    }

    fn base(path: &str) -> String {
        format!("[data]\nsource = \"csv\"\npath = \"{path}\"\n")
    }

    #[test]
    fn a_path_inside_the_study_directory_is_made_absolute() {
        let (_dir, study) = setup();
        let (text, found) = confine_data_path(&base("data/train.csv"), &study, None).unwrap();
        let (written, root) = found.unwrap();
        assert_eq!(written, "data/train.csv");
        let resolved = std::fs::canonicalize(study.parent().unwrap().join("data/train.csv"));
        assert!(
            text.contains(&resolved.unwrap().display().to_string()),
            "{text}"
        );
        assert_eq!(
            root,
            std::fs::canonicalize(study.parent().unwrap()).unwrap()
        );
    }

    #[test]
    fn dot_dot_and_absolute_paths_out_of_the_root_are_refused() {
        let (dir, study) = setup();
        let err = confine_data_path(&base("../outside/secret.csv"), &study, None).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("outside the data root"), "{message}");
        assert!(message.contains("--data-root"), "{message}");
        let absolute = dir.path().join("outside/secret.csv");
        let err = confine_data_path(&base(absolute.to_str().unwrap()), &study, None).unwrap_err();
        assert!(format!("{err:#}").contains("outside the data root"));
        // A wider root lets it in.
        let root = dir.path().to_path_buf();
        confine_data_path(&base("../outside/secret.csv"), &study, Some(&root)).unwrap();
    }

    #[test]
    fn a_symbolic_link_out_of_the_root_is_refused() {
        let (dir, study) = setup();
        let link = dir.path().join("study/data/link.csv");
        std::os::unix::fs::symlink(dir.path().join("outside/secret.csv"), &link).unwrap();
        let err = confine_data_path(&base("data/link.csv"), &study, None).unwrap_err();
        assert!(format!("{err:#}").contains("outside the data root"));
    }

    #[test]
    fn idx_files_are_the_ones_nn_core_reads() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "train-images-idx3-ubyte.gz",
            "train-images-idx3-ubyte",
            "train-labels.idx1-ubyte",
            "README",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let names: Vec<String> = idx_files(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["train-images-idx3-ubyte.gz", "train-labels.idx1-ubyte"]
        );
    }
}
