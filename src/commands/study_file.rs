//! Loading a study config for `run` and `serve`: read, parse and check it (naming the file,
//! key and line of any problem), check its training part with nn-core, and decide where its
//! database is.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use hypersearch_search::{Objective, StudyConfig};

/// A study config, checked.
pub struct StudyFile {
    /// The file's text, as stored with the study (a resumed study must match it).
    pub text: String,
    /// The checked config.
    pub config: StudyConfig,
}

/// Reads and checks the study config at `path`.
pub fn load(path: &Path) -> anyhow::Result<StudyFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the study config {}", path.display()))?;
    let mut config = StudyConfig::from_toml_str(&text, &path.display().to_string())
        .map_err(|err| anyhow!("{err}"))?;
    if config.objective == Objective::NnCore {
        config.base_training_config = anchor_data_path(&config.base_training_config, path)?;
        let training = nn_core::TrainConfig::from_toml(
            &config.base_training_config,
            &path.display().to_string(),
        )
        .map_err(|err| anyhow!("{}: the training part is invalid: {err}", path.display()))?;
        // A missing or malformed data set is one clear error now, not a failure per trial.
        nn_core::Dataset::load(training.data())
            .map_err(|err| anyhow!("{}: cannot load the data set: {err}", path.display()))?;
    }
    Ok(StudyFile { text, config })
}

/// The database to use: `--db`, else the config's `[study] storage`, else `hypersearch.db`.
pub fn database(flag: Option<&Path>, config: &StudyConfig) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| config.storage.as_ref().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("hypersearch.db"))
}

/// The base training config with a relative `data.path` made relative to the study file's
/// directory (workers may run anywhere on this machine).
fn anchor_data_path(base: &str, study_path: &Path) -> anyhow::Result<String> {
    let mut table: toml::Table = toml::from_str(base).with_context(|| {
        format!(
            "{}: the training part is not valid TOML",
            study_path.display()
        )
    })?;
    let Some(toml::Value::Table(data)) = table.get_mut("data") else {
        return Ok(base.to_string());
    };
    let Some(toml::Value::String(data_path)) = data.get_mut("path") else {
        return Ok(base.to_string());
    };
    if Path::new(data_path.as_str()).is_absolute() {
        return Ok(base.to_string());
    }
    let dir = study_path.parent().unwrap_or(Path::new(""));
    let dir = if dir.as_os_str().is_empty() {
        std::env::current_dir().context("cannot read the current directory")?
    } else {
        std::fs::canonicalize(dir).with_context(|| format!("cannot resolve {}", dir.display()))?
    };
    *data_path = dir.join(&*data_path).display().to_string();
    toml::to_string(&table).context("cannot write the training config back")
}
