//! A CSV data file (gzipped or not): a clear error or a data set, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    let path = scratch::dir("csv").join("data.csv");
    std::fs::write(&path, data).expect("write");
    scratch::load(&format!(
        "source = \"csv\"\npath = {:?}",
        path.display().to_string()
    ));
});
