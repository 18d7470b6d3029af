//! A directory of this fuzzing process's own for the targets that load files.

use std::path::PathBuf;

/// `$TMPDIR/hypersearch-fuzz-PID/NAME`, created empty on first use.
pub fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("hypersearch-fuzz-{}", std::process::id()))
        .join(name);
    if !dir.exists() {
        std::fs::create_dir_all(&dir).expect("a scratch directory");
    }
    dir
}

/// Loads the data set a training config with `data` (a `[data]` table's body) names.
pub fn load(data: &str) {
    let text = format!("[data]\n{data}\n");
    let config = nn_core::TrainConfig::from_toml(&text, "fuzz.toml").expect("a valid config");
    match nn_core::Dataset::load(config.data()) {
        Ok(set) => {
            assert!(set.features() > 0, "a data set without features");
            let _ = set.train();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
