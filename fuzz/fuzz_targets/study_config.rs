//! A study file: parsed and checked; when accepted, a point sampled from its space must be a
//! point of that space, and its overrides and grid size computable.
#![no_main]

use hypersearch_search::StudyConfig;
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match StudyConfig::from_toml_str(text, "fuzz.toml") {
        Ok(config) => {
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            let point = config.space.sample(&mut rng);
            if let Err(e) = config.space.validate(&point) {
                panic!("a sampled point is outside its own space: {e}: {point:?}");
            }
            let _ = config.space.overrides(&point);
            let _ = config.space.grid_size();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
