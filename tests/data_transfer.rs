//! The data set reaches workers that lack it: a worker whose machine does not have the
//! study's IDX files receives them from the coordinator in checksummed chunks (a chunk the
//! coordinator damages on purpose is detected and sent again), trains on them, and keeps
//! them in its cache, where the next run reuses what is intact and fetches again what is
//! not. The built-in digits need no transfer; a data path outside the data root is refused
//! by `serve` (which streams it) and read where it is by `run` (which does not).

use std::path::{Path, PathBuf};
use std::time::Duration;

use hypersearch_proto::data_transfer::Checksum;

use crate::harness::{
    Proc, Scratch, assert_integrity, assert_ok, assert_one_clear_error, heavy, sql_count, stderr,
};

/// Images in the synthetic IDX set: 3,000 of 28×28 bytes is 2.3 MB, three 1 MiB chunks.
const IMAGES: usize = 3_000;
const SIDE: usize = 28;

/// A study of `name` training on the IDX files in `path`.
pub fn study(name: &str, path: &str) -> String {
    format!(
        r#"
[study]
name = "{name}"
metric = "val_accuracy"

[data]
source = "idx"
path = "{path}"
validation_fraction = 0.2

[network]
hidden = [16]

[training]
epochs = 2
batch_size = 128
seed = 1

[search]
algorithm = "random"
trials = 3
parallel = 2
seed = 7

[search.space]
"training.learning_rate" = {{ float = [1e-3, 1e-2], log = true }}
"#
    )
}

/// Writes MNIST-style IDX files (uncompressed) of three learnable classes into `dir`.
fn write_idx(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    write_idx_of(dir, IMAGES)
}

/// [`write_idx`] with `count` images (784 bytes each).
pub fn write_idx_of(dir: &Path, count: usize) -> (Vec<u8>, Vec<u8>) {
    std::fs::create_dir_all(dir).expect("create the data directory");
    let mut images = Vec::with_capacity(16 + count * SIDE * SIDE);
    for word in [0x0000_0803u32, count as u32, SIDE as u32, SIDE as u32] {
        images.extend_from_slice(&word.to_be_bytes());
    }
    let mut labels = Vec::with_capacity(8 + count);
    for word in [0x0000_0801u32, count as u32] {
        labels.extend_from_slice(&word.to_be_bytes());
    }
    for i in 0..count {
        let class = i % 3;
        labels.push(class as u8);
        for pixel in 0..SIDE * SIDE {
            // A bright band whose place depends on the class, over a varying background.
            let row = pixel / SIDE;
            let band = row / 10 == class;
            let background = ((i * 31 + pixel * 7) % 64) as u8;
            images.push(if band {
                200 + background / 2
            } else {
                background
            });
        }
    }
    std::fs::write(dir.join("train-images-idx3-ubyte"), &images).expect("write images");
    std::fs::write(dir.join("train-labels-idx1-ubyte"), &labels).expect("write labels");
    (images, labels)
}

/// The one folder inside the worker's cache.
fn cached_set(cache: &Path) -> PathBuf {
    let folders: Vec<PathBuf> = std::fs::read_dir(cache)
        .expect("the cache exists")
        .map(|entry| entry.expect("a cache entry").path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    folders[0].clone()
}

/// Runs a worker from its own directory with its own cache until the study ends.
fn worker(dir: &Scratch, address: &str, token: &Path, cache: &Path) -> String {
    let output = dir.hs(
        &[
            "worker",
            "--coordinator",
            address,
            "--token-file",
            token.to_str().expect("utf-8"),
            "--slots",
            "2",
            "--data-dir",
            cache.to_str().expect("utf-8"),
        ],
        Duration::from_secs(120),
    );
    assert_ok(&output);
    stderr(&output)
}

/// Waits for the study to end; `complete` trials in the database by then (3 per study).
fn finish(serve: &mut Proc, db: &Path, complete: i64) {
    let status = serve.wait(Duration::from_secs(60));
    assert!(status.success(), "serve failed{}", serve.log_text());
    assert_eq!(
        sql_count(db, "SELECT count(*) FROM trials WHERE state = 'complete'"),
        complete
    );
    assert_integrity(db);
}

#[test]
fn a_worker_without_the_data_set_receives_it_checksummed_and_reuses_its_cache() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let study_dir = dir.path("study");
    let data = study_dir.join("data");
    let (images, labels) = write_idx(&data);
    let config = dir.write("study/first.toml", &study("first", "data"));
    let token = dir.write("token", "data-secret");
    let db = dir.path("trials.db");
    let cache = dir.path("machine-b/cache");
    let token_args = ["--token-file", token.to_str().expect("utf-8")];

    // The coordinator damages chunk 1 of its first transfer once.
    let (mut serve, address) = dir.serve_with_env(
        &config,
        &db,
        &token_args,
        &[("HYPERSEARCH_TEST_CORRUPT_CHUNK", "1")],
    );
    // From here on the data set is not where the config says: as on another machine.
    let away = dir.path("away");
    std::fs::rename(&data, &away).expect("move the data set away");
    let log = worker(&dir, &address, &token, &cache);
    finish(&mut serve, &db, 3);
    assert!(
        log.contains("the chunk at byte 1048576 failed its checksum"),
        "{log}"
    );
    assert_eq!(
        log.matches("asking the coordinator again").count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("fetched from the coordinator").count(),
        2,
        "{log}"
    );
    let set = cached_set(&cache);
    let cached_images = std::fs::read(set.join("train-images-idx3-ubyte")).expect("cached");
    let cached_labels = std::fs::read(set.join("train-labels-idx1-ubyte")).expect("cached");
    assert!(cached_images == images, "the cached images differ");
    assert_eq!(cached_labels, labels);
    assert_eq!(
        set.file_name().and_then(|n| n.to_str()).map(str::len),
        Some(64),
        "the folder is named by a SHA-256"
    );

    // The next study on the same data: the worker reuses its intact images and fetches the
    // labels again, since their cached copy was damaged meanwhile.
    let mut damaged = labels.clone();
    damaged[100] ^= 1;
    std::fs::write(set.join("train-labels-idx1-ubyte"), &damaged).expect("damage the cache");
    std::fs::rename(&away, &data).expect("put the data set back");
    let config = dir.write("study/second.toml", &study("second", "data"));
    let (mut serve, address) = dir.serve(&config, &db, &token_args);
    std::fs::rename(&data, &away).expect("move the data set away");
    let log = worker(&dir, &address, &token, &cache);
    finish(&mut serve, &db, 6);
    assert!(
        log.contains("using the cached copy file=train-images-idx3-ubyte"),
        "{log}"
    );
    assert!(
        log.contains("fetched from the coordinator file=train-labels-idx1-ubyte"),
        "{log}"
    );
    assert_eq!(
        log.matches("fetched from the coordinator").count(),
        1,
        "{log}"
    );
    assert_eq!(
        Checksum::of(&std::fs::read(set.join("train-labels-idx1-ubyte")).expect("cached")),
        Checksum::of(&labels)
    );
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM studies WHERE state = 'finished'"),
        2
    );
}

#[test]
fn a_worker_that_has_the_data_set_or_uses_the_built_in_digits_fetches_nothing() {
    let _heavy = heavy();
    let dir = Scratch::new();
    write_idx(&dir.path("study/data"));
    let config = dir.write("study/local.toml", &study("local", "data"));
    let digits = dir.write(
        "study/digits.toml",
        &study("digits", "unused")
            .replace("source = \"idx\"\npath = \"unused\"", "source = \"digits\""),
    );
    let token = dir.write("token", "data-secret");
    let token_args = ["--token-file", token.to_str().expect("utf-8")];
    let cache = dir.path("cache");
    for (config, db) in [(config, "local.db"), (digits, "digits.db")] {
        let db = dir.path(db);
        let (mut serve, address) = dir.serve(&config, &db, &token_args);
        let log = worker(&dir, &address, &token, &cache);
        finish(&mut serve, &db, 3);
        assert!(!log.contains("fetched"), "{log}");
        assert!(!cache.exists(), "the cache was created:\n{log}");
    }
}

#[test]
fn a_data_path_outside_the_data_root_is_refused() {
    let dir = Scratch::new();
    write_idx(&dir.path("outside"));
    std::fs::create_dir(dir.path("study")).expect("a study directory");
    let inside = dir.write("study/inside.toml", &study("s", "../outside"));
    let absolute = dir.path("outside");
    let absolute = dir.write(
        "study/absolute.toml",
        &study("s", absolute.to_str().expect("utf-8")),
    );
    for config in [&inside, &absolute] {
        let output = dir.hs(
            &[
                "serve",
                config.to_str().expect("utf-8"),
                "--listen",
                "127.0.0.1:0",
            ],
            Duration::from_secs(30),
        );
        assert_one_clear_error(
            &output,
            &["data.path", "outside the data root", "--data-root"],
        );
    }
    assert!(!dir.path("study/hypersearch.db").exists());
    assert!(!dir.path("hypersearch.db").exists());
    // `run` streams nothing to other machines: its own workers read the data where it is.
    let local = dir.path("local.db");
    let ran = dir.hs(
        &[
            "run",
            absolute.to_str().expect("utf-8"),
            "--db",
            local.to_str().expect("utf-8"),
        ],
        Duration::from_secs(60),
    );
    crate::harness::assert_ok(&ran);
    assert_integrity(&local);
    // A data root that holds it lets the study start.
    let db = dir.path("trials.db");
    let root = dir.path("");
    let (mut serve, _) = dir.serve(
        &inside,
        &db,
        &["--data-root", root.to_str().expect("utf-8")],
    );
    serve.interrupt();
    serve.wait(Duration::from_secs(30));
    assert_integrity(&db);
}
