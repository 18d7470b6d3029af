//! Invariants of every sampler over generated spaces (proptest): suggestions lie in the
//! space and respect its conditions, no duplicates until exhausted, grid completeness,
//! same seed and history → same suggestion (TPE, random, evolution).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use hypersearch_search::{
    Params, SampleContext, SearchSpace, StudyConfig, Suggestion, TrialRecord, TrialState,
    make_sampler,
};
use proptest::prelude::*;

/// One `[search.space]` line for parameter `p{i}`.
fn param_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (-10.0f64..10.0, 0.1f64..50.0, 0usize..4).prop_map(|(lo, w, k)| match k {
            0 => format!("{{ float = [{lo:?}, {:?}], grid = 3 }}", lo + w),
            1 => format!(
                "{{ float = [{:?}, {:?}], log = true, grid = 2 }}",
                lo.abs() + 0.01,
                lo.abs() + 0.01 + w
            ),
            _ => format!(
                "{{ float = [{lo:?}, {:?}], step = {:?} }}",
                lo + w,
                w / k as f64
            ),
        }),
        (-5i64..5, 1i64..12, 1i64..4, any::<bool>()).prop_map(|(lo, w, step, log)| if log {
            format!(
                "{{ int = [{}, {}], log = true }}",
                lo.abs() + 1,
                lo.abs() + 1 + w
            )
        } else {
            format!("{{ int = [{lo}, {}], step = {} }}", lo + w, step.min(w))
        }),
        prop_oneof![
            Just("{ choice = [\"a\", \"b\", \"c\"] }".to_string()),
            Just("{ choice = [true, false] }".to_string()),
            Just("{ choice = [1, 2.5, \"x\"] }".to_string()),
            Just("{ choice = [\"only\"] }".to_string()),
        ],
    ]
}

/// Conditional parameters: `q` exists for two of `mode`'s three values, `r` only when `q`
/// is 3 (a nested condition).
const CONDITIONAL: &str = "mode = { choice = [\"a\", \"b\", \"c\"] }\nq = { int = [1, 3], when = { mode = [\"a\", \"b\"] } }\nr = { choice = [true, false], when = { q = 3, mode = \"a\" } }\n";

/// A study text for `algorithm` over 1–3 generated parameters, maybe conditional ones, maybe
/// an architecture (with a `[search.space]` parameter that exists for one depth only).
fn study_text(algorithm: &'static str) -> impl Strategy<Value = String> {
    (prop::collection::vec(param_line(), 1..4), any::<bool>(), any::<bool>(), 0i64..2, 1i64..3, any::<u16>()).prop_map(
        move |(lines, arch, conditional, lo, extra, seed)| {
            let mut space: String = lines.iter().enumerate().map(|(i, l)| format!("p{i} = {l}\n")).collect();
            if conditional {
                space.push_str(CONDITIONAL);
            }
            let architecture = if arch {
                space.push_str(&format!("s = {{ choice = [1, 2], when = {{ \"arch.layers\" = {} }} }}\n", lo + 1));
                format!("[search.architecture]\nlayers = {{ int = [{lo}, {}] }}\nunits = {{ choice = [8, 16] }}\ndropout = {{ float = [0.0, 0.5], grid = 2 }}\nactivation = {{ choice = [\"relu\", \"elu\"] }}\n", lo + extra)
            } else {
                String::new()
            };
            format!(
                "[objective]\ncommand = \"./run\"\n[study]\nmetric = \"loss\"\n[search]\nalgorithm = \"{algorithm}\"\ntrials = 40\nseed = {seed}\nn_startup_trials = 5\n[search.space]\n{space}{architecture}"
            )
        },
    )
}

/// An evolution study text with a population small enough to evolve within 40 trials.
fn evolution(text: &str) -> String {
    format!("{text}[search.evolution]\npopulation = 8\nsample_size = 3\n")
}

/// A deterministic made-up objective value for a point.
fn value_of(params: &Params) -> f64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    SearchSpace::point_key(params).hash(&mut h);
    (h.finish() % 10_000) as f64 / 10_000.0
}

/// Runs `config` for up to `limit` trials; every third is left running. Returns the history
/// and whether the sampler said exhausted.
fn drive(config: &StudyConfig, limit: u64) -> (Vec<TrialRecord>, bool) {
    let mut sampler = make_sampler(config).unwrap();
    let mut trials: Vec<TrialRecord> = Vec::new();
    for number in 0..limit {
        let suggestion = sampler
            .suggest(&SampleContext::new(number, &trials))
            .unwrap();
        let Suggestion::Params(params) = suggestion else {
            return (trials, true);
        };
        let running = number % 3 == 2;
        trials.push(TrialRecord {
            judged: None,
            intermediate_objectives: Vec::new(),
            number,
            state: if running {
                TrialState::Running
            } else {
                TrialState::Complete
            },
            value: (!running).then(|| value_of(&params)),
            params,
            intermediate: vec![],
        });
    }
    (trials, false)
}

fn check_history(config: &StudyConfig, trials: &[TrialRecord]) -> Result<(), TestCaseError> {
    let mut seen = HashSet::new();
    for t in trials {
        let canonical = config.space.validate(&t.params);
        prop_assert!(
            canonical.is_ok(),
            "{:?} outside the space: {:?}",
            t.params,
            canonical
        );
        prop_assert_eq!(canonical.unwrap(), t.params.clone());
        prop_assert!(
            seen.insert(SearchSpace::point_key(&t.params)),
            "duplicate {:?}",
            t.params
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_suggestions_are_valid_and_new(text in study_text("random")) {
        let config = StudyConfig::from_toml_str(&text, "p.toml").unwrap();
        let (trials, exhausted) = drive(&config, 60);
        check_history(&config, &trials)?;
        if let Some(size) = config.space.size() {
            prop_assert_eq!(exhausted, size < 60, "size {}", size);
            prop_assert_eq!(trials.len() as u128, size.min(60));
        }
    }

    #[test]
    fn tpe_suggestions_are_valid_and_new(text in study_text("tpe")) {
        let config = StudyConfig::from_toml_str(&text, "p.toml").unwrap();
        let (trials, exhausted) = drive(&config, 40);
        check_history(&config, &trials)?;
        if let Some(size) = config.space.size() {
            prop_assert_eq!(exhausted, size < 40, "size {}", size);
        }
    }

    #[test]
    fn bayes_suggestions_are_valid_and_new(text in study_text("bayes")) {
        let config = StudyConfig::from_toml_str(&text, "p.toml").unwrap();
        let (trials, exhausted) = drive(&config, 16);
        check_history(&config, &trials)?;
        if let Some(size) = config.space.size() {
            prop_assert_eq!(exhausted, size < 16, "size {}", size);
        }
    }

    #[test]
    fn evolution_suggestions_are_valid_and_new(text in study_text("evolution")) {
        let config = StudyConfig::from_toml_str(&evolution(&text), "p.toml").unwrap();
        let (trials, exhausted) = drive(&config, 40);
        check_history(&config, &trials)?;
        if let Some(size) = config.space.size() {
            prop_assert_eq!(exhausted, size < 40, "size {}", size);
        }
    }

    #[test]
    fn evolution_gives_the_same_suggestion_for_the_same_seed_and_history(text in study_text("evolution")) {
        let config = StudyConfig::from_toml_str(&evolution(&text), "p.toml").unwrap();
        let (trials, _) = drive(&config, 25);
        let ask = |history: &[TrialRecord]| {
            let mut fresh = make_sampler(&config).unwrap();
            fresh.suggest(&SampleContext::new(history.len() as u64, history)).unwrap()
        };
        let mut reused = make_sampler(&config).unwrap();
        for n in 0..trials.len() {
            let _ = reused.suggest(&SampleContext::new(n as u64, &trials[..n])).unwrap();
        }
        let again = reused.suggest(&SampleContext::new(trials.len() as u64, &trials)).unwrap();
        prop_assert_eq!(again, ask(&trials));
    }

    #[test]
    fn grid_enumerates_exactly_the_product(text in study_text("grid")) {
        let config = StudyConfig::from_toml_str(&text, "p.toml").unwrap();
        let size = config.space.grid_size().unwrap();
        prop_assume!(size <= 600);
        let (trials, exhausted) = drive(&config, size as u64 + 1);
        prop_assert!(exhausted);
        check_history(&config, &trials)?;
        prop_assert_eq!(trials.len() as u128, size);
        prop_assert_eq!(size, independent_grid_size(&config));
    }

    #[test]
    fn same_seed_and_history_give_the_same_suggestion(text in study_text("tpe"), random in any::<bool>()) {
        let text = if random { text.replace("\"tpe\"", "\"random\"") } else { text };
        let config = StudyConfig::from_toml_str(&text, "p.toml").unwrap();
        let (trials, _) = drive(&config, 25);
        let ask = |history: &[TrialRecord]| {
            let mut fresh = make_sampler(&config).unwrap();
            fresh.suggest(&SampleContext::new(history.len() as u64, history)).unwrap()
        };
        prop_assert_eq!(ask(&trials), ask(&trials));
        let mut reused = make_sampler(&config).unwrap();
        for n in 0..trials.len() {
            let _ = reused.suggest(&SampleContext::new(n as u64, &trials[..n])).unwrap();
        }
        let again = reused.suggest(&SampleContext::new(trials.len() as u64, &trials)).unwrap();
        prop_assert_eq!(again, ask(&trials));
    }
}

/// The grid size counted without the library: per value of `arch.layers`, the product of
/// the grid counts of the parameters that exist; the conditional block's combinations
/// counted by hand (`mode` a: q 1, 2, or 3 with r true/false = 4; b: q = 3; c: 1).
fn independent_grid_size(config: &StudyConfig) -> u128 {
    let params = config.space.params();
    let grid_count = |name: &str| {
        params
            .iter()
            .find(|p| p.name == name)
            .unwrap()
            .domain
            .grid_count()
            .unwrap()
    };
    let conditional = ["mode", "q", "r", "s"];
    let mut base: u128 = params
        .iter()
        .filter(|p| !p.name.starts_with("arch.") && !conditional.contains(&p.name.as_str()))
        .map(|p| p.domain.grid_count().unwrap())
        .product();
    if config.space.get("mode").is_some() {
        base *= 4 + 3 + 1;
    }
    let Some(layers) = params.iter().find(|p| p.name == "arch.layers") else {
        return base;
    };
    let lowest = layers.domain.value_at(0).unwrap().as_i64().unwrap();
    let wide = grid_count("arch.activation");
    (0..layers.domain.count().unwrap())
        .map(|i| {
            let l = layers.domain.value_at(i).unwrap().as_i64().unwrap();
            let with_s = if l == lowest + 1 { 2 } else { 1 };
            (grid_count("arch.units_1") * grid_count("arch.dropout_1")).pow(l as u32) * with_s
        })
        .sum::<u128>()
        * base
        * wide
}
