//! The batch loop allocates nothing (with `threads = 1`, the fast path): a counting global
//! allocator sees no allocation between the end of one epoch and the end of the next, over 45
//! training batches and the validation pass. (The allocator is the one `unsafe` of the crate:
//! the standard way to count allocations, forwarding every call to the system allocator.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use nn_core::{Control, Dataset, EpochMetrics, TrainConfig};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)]
// SAFETY: forwards to the system allocator unchanged; only counts the calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations counted during each epoch (from one observer call to the next).
fn allocations_per_epoch(data: &str, network: &str, batch_size: usize) -> Vec<usize> {
    let text = format!(
        "[data]\nsource = \"digits\"\n{data}\n[network]\n{network}\n[training]\nepochs = 4\nbatch_size = {batch_size}\n"
    );
    let config = TrainConfig::from_toml(&text, "test").unwrap_or_else(|e| panic!("{e}"));
    let data = Dataset::load(config.data()).unwrap_or_else(|e| panic!("{e}"));
    let mut marks = Vec::with_capacity(8);
    nn_core::train(&config, &data, &mut |_: &EpochMetrics| {
        marks.push(ALLOCATIONS.load(Ordering::Relaxed));
        Control::Continue
    })
    .unwrap_or_else(|e| panic!("{e}"));
    marks.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn epochs_after_the_first_allocate_nothing() {
    for (data, network) in [
        ("", "hidden = [64, 32]"),
        (
            "",
            "hidden = [64, 64]\nbatch_norm = true\ndropout = [0.3, 0.2]\nresidual = true",
        ),
        // Augmentation draws and warps every example into the batch buffer.
        ("augment = { shift = 1, rotate = 10 }", "hidden = [64, 32]"),
    ] {
        // 1,438 training rows: 45 batches of 32 per epoch.
        let counts = allocations_per_epoch(data, network, 32);
        assert!(counts.iter().all(|c| *c == 0), "{network}: {counts:?}");
    }
}
