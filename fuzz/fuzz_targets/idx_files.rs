//! MNIST-style IDX files: the first 4 bytes (little-endian) give the images file's length,
//! the images come next, the labels after them. Loaded as a data set: a clear error or a
//! data set, never a panic or an allocation the files do not justify.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let split = (u32::from_le_bytes(*head) as usize).min(rest.len());
    let (images, labels) = rest.split_at(split);
    let dir = scratch::dir("idx");
    std::fs::write(dir.join("train-images-idx3-ubyte"), images).expect("write");
    std::fs::write(dir.join("train-labels-idx1-ubyte"), labels).expect("write");
    scratch::load(&format!(
        "source = \"idx\"\npath = {:?}",
        dir.display().to_string()
    ));
});
