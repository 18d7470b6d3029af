//! A training config and `--params` overrides (the bytes before and after the first NUL): a
//! clear error or a valid config, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, params) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{}"[..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(serde_json::Value::Object(overrides)) = serde_json::from_slice(params) else {
        return;
    };
    if let Err(e) = nn_core::TrainConfig::from_toml_with_overrides(text, "fuzz.toml", &overrides) {
        let _ = e.to_string();
    }
});
