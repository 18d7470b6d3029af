//! A command objective's standard output, line by line as the worker reads it: each line a
//! report, nothing, or a refusal; epochs only ever increase.
#![no_main]

use hypersearch_worker::fuzzing::parse_command_line;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut last_epoch = 0;
    for line in text.lines() {
        match parse_command_line(line, last_epoch) {
            Ok(Some((Some(epoch), _))) => {
                assert!(epoch > last_epoch, "epoch {epoch} after {last_epoch}");
                last_epoch = epoch;
            }
            Ok(_) | Err(_) => {}
        }
    }
});
