//! Built-in test functions for the `function` objective (`[objective] function = "branin"`): zero-cost trials with a
//! known minimum, to run and benchmark searches.
//!
//! Layout: `functions` holds the formulas; [`multi`] the functions with several
//! objectives (`branin_currin`, `dtlz2`, `dtlz2_3`: [`MULTI_OBJECTIVE_FUNCTIONS`]); this
//! file holds the catalogue ([`FUNCTIONS`], [`find`]), the bounds and known minima,
//! [`evaluate`] / [`evaluate_named`], and [`metric_names`] / [`evaluate_metrics`] for
//! either kind.
//!
//! ```
//! let v = hypersearch_testfns::evaluate("branin", &[std::f64::consts::PI, 2.275]).unwrap();
//! assert!((v - 0.397887).abs() < 1e-5);
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod functions;
pub mod multi;

pub use multi::{MULTI_OBJECTIVE_FUNCTIONS, MultiObjectiveFunction, find_multi};

/// Why a function could not be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// No built-in function has this name.
    #[error("unknown test function `{name}`; known: {known}")]
    UnknownFunction {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// The input has a dimension the function is not defined in.
    #[error("`{name}` takes {expected} inputs, got {got}")]
    WrongDimension {
        /// The function.
        name: String,
        /// What it takes, in words (`2`, `at least 2`).
        expected: String,
        /// The number of inputs given.
        got: usize,
    },
    /// An input is NaN or infinite.
    #[error("input `{input}` is {value}, not a finite number")]
    NotFinite {
        /// The input's name (or index).
        input: String,
        /// The value.
        value: f64,
    },
}

/// In which dimensions a function is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// Exactly this many inputs.
    Fixed(usize),
    /// Any number of inputs from this many up.
    AtLeast(usize),
}

impl Dimension {
    /// Whether `d` inputs are accepted.
    pub fn accepts(self, d: usize) -> bool {
        match self {
            Dimension::Fixed(n) => d == n,
            Dimension::AtLeast(n) => d >= n,
        }
    }

    fn describe(self) -> String {
        match self {
            Dimension::Fixed(n) => n.to_string(),
            Dimension::AtLeast(n) => format!("at least {n}"),
        }
    }

    /// Checks the input `x` of the function `name`: an accepted dimension, finite values.
    pub(crate) fn check(self, name: &str, x: &[f64]) -> Result<(), Error> {
        if !self.accepts(x.len()) {
            return Err(Error::WrongDimension {
                name: name.to_string(),
                expected: self.describe(),
                got: x.len(),
            });
        }
        if let Some((i, &v)) = x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::NotFinite {
                input: format!("x{}", i + 1),
                value: v,
            });
        }
        Ok(())
    }
}

/// A built-in test function and what is known about it.
#[derive(Debug, Clone, Copy)]
pub struct TestFunction {
    /// Its name in `[objective] function = "..."`.
    pub name: &'static str,
    /// Accepted dimensions.
    pub dimension: Dimension,
    bounds: Bounds,
    minimum: Minimum,
    eval: fn(&[f64]) -> f64,
}

#[derive(Debug, Clone, Copy)]
enum Bounds {
    PerInput(&'static [(f64, f64)]),
    Every(f64, f64),
}

#[derive(Debug, Clone, Copy)]
enum Minimum {
    /// Value and one minimizer (fixed dimension).
    At(f64, &'static [f64]),
    /// Value per input and the coordinate repeated in every input.
    PerInput(f64, f64),
    /// Value and the coordinate repeated in every input.
    Repeated(f64, f64),
}

impl TestFunction {
    /// The usual search domain in dimension `d`: `(low, high)` per input.
    pub fn bounds(&self, d: usize) -> Vec<(f64, f64)> {
        match self.bounds {
            Bounds::PerInput(b) => b.to_vec(),
            Bounds::Every(lo, hi) => vec![(lo, hi); d],
        }
    }

    /// The global minimum value in dimension `d`.
    pub fn minimum(&self, d: usize) -> f64 {
        match self.minimum {
            Minimum::At(v, _) | Minimum::Repeated(v, _) => v,
            Minimum::PerInput(v, _) => v * d as f64,
        }
    }

    /// A point where the minimum is attained, in dimension `d`.
    pub fn minimizer(&self, d: usize) -> Vec<f64> {
        match self.minimum {
            Minimum::At(_, x) => x.to_vec(),
            Minimum::PerInput(_, c) | Minimum::Repeated(_, c) => vec![c; d],
        }
    }

    /// The function's value at `x` (checked: dimension and finiteness).
    pub fn evaluate(&self, x: &[f64]) -> Result<f64, Error> {
        self.dimension.check(self.name, x)?;
        Ok((self.eval)(x))
    }
}

/// Every built-in function.
pub const FUNCTIONS: &[TestFunction] = &[
    TestFunction {
        name: "branin",
        dimension: Dimension::Fixed(2),
        bounds: Bounds::PerInput(&[(-5.0, 10.0), (0.0, 15.0)]),
        minimum: Minimum::At(0.397_887_357_729_738, &[std::f64::consts::PI, 2.275]),
        eval: functions::branin,
    },
    TestFunction {
        name: "hartmann6",
        dimension: Dimension::Fixed(6),
        bounds: Bounds::Every(0.0, 1.0),
        minimum: Minimum::At(
            -3.322_368_011_415_51,
            &[
                0.201_69, 0.150_011, 0.476_874, 0.275_332, 0.311_652, 0.657_3,
            ],
        ),
        eval: functions::hartmann6,
    },
    TestFunction {
        name: "ackley",
        dimension: Dimension::AtLeast(1),
        bounds: Bounds::Every(-32.768, 32.768),
        minimum: Minimum::Repeated(0.0, 0.0),
        eval: functions::ackley,
    },
    TestFunction {
        name: "rosenbrock",
        dimension: Dimension::AtLeast(2),
        bounds: Bounds::Every(-5.0, 10.0),
        minimum: Minimum::Repeated(0.0, 1.0),
        eval: functions::rosenbrock,
    },
    TestFunction {
        name: "sphere",
        dimension: Dimension::AtLeast(1),
        bounds: Bounds::Every(-5.12, 5.12),
        minimum: Minimum::Repeated(0.0, 0.0),
        eval: functions::sphere,
    },
    TestFunction {
        name: "rastrigin",
        dimension: Dimension::AtLeast(1),
        bounds: Bounds::Every(-5.12, 5.12),
        minimum: Minimum::Repeated(0.0, 0.0),
        eval: functions::rastrigin,
    },
    TestFunction {
        name: "levy",
        dimension: Dimension::AtLeast(1),
        bounds: Bounds::Every(-10.0, 10.0),
        minimum: Minimum::Repeated(0.0, 1.0),
        eval: functions::levy,
    },
    TestFunction {
        name: "styblinski_tang",
        dimension: Dimension::AtLeast(1),
        bounds: Bounds::Every(-5.0, 5.0),
        minimum: Minimum::PerInput(-39.166_165_703_771_42, -2.903_534_027_771_178),
        eval: functions::styblinski_tang,
    },
];

/// The single-objective function called `name` (see [`find_multi`] for the others).
pub fn find(name: &str) -> Result<&'static TestFunction, Error> {
    FUNCTIONS
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| Error::UnknownFunction {
            name: name.to_string(),
            known: known_names(),
        })
}

/// The metrics function `name` reports: `value` for a single objective, one per objective
/// (`f1`, `f2`, …) otherwise.
pub fn metric_names(name: &str) -> Result<&'static [&'static str], Error> {
    match find_multi(name) {
        Some(f) => Ok(f.metrics),
        None => find(name).map(|_| &["value"][..]),
    }
}

/// The names of every built-in function, single- and multi-objective, comma-separated.
fn known_names() -> String {
    FUNCTIONS
        .iter()
        .map(|f| f.name)
        .chain(MULTI_OBJECTIVE_FUNCTIONS.iter().map(|f| f.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Function `name` (single- or multi-objective) at named inputs (ordered as in
/// [`evaluate_named`]): each reported metric with its value.
pub fn evaluate_metrics(
    name: &str,
    inputs: &[(&str, f64)],
) -> Result<Vec<(&'static str, f64)>, Error> {
    match find_multi(name) {
        Some(f) => {
            let values = f.evaluate(&multi::ordered(inputs)?)?;
            Ok(f.metrics.iter().copied().zip(values).collect())
        }
        None => Ok(vec![("value", evaluate_named(name, inputs)?)]),
    }
}

/// `name` evaluated at `x`.
pub fn evaluate(name: &str, x: &[f64]) -> Result<f64, Error> {
    find(name)?.evaluate(x)
}

/// `name` evaluated at named inputs: the input vector is the values ordered by name in
/// natural order (`x2` before `x10`: digit runs compare as numbers), so a trial's params
/// (a JSON object) map to the same vector everywhere.
pub fn evaluate_named(name: &str, inputs: &[(&str, f64)]) -> Result<f64, Error> {
    let f = find(name)?;
    f.evaluate(&multi::ordered(inputs)?)
}

/// Natural order of names: digit runs compare as numbers (`x2` < `x10`).
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for ((da, sa), (db, sb)) in ca.iter().zip(cb.iter()) {
        let ord = if *da && *db {
            let (ta, tb) = (sa.trim_start_matches('0'), sb.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then(ta.cmp(tb))
        } else {
            sa.cmp(sb)
        };
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len()).then(a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_attains_its_minimum() {
        for f in FUNCTIONS {
            let dims: Vec<usize> = match f.dimension {
                Dimension::Fixed(n) => vec![n],
                Dimension::AtLeast(n) => vec![n.max(2), 5],
            };
            for d in dims {
                let x = f.minimizer(d);
                let v = f.evaluate(&x).unwrap();
                let tol = 1e-5 * f.minimum(d).abs().max(1.0);
                assert!(
                    (v - f.minimum(d)).abs() < tol,
                    "{} d={d}: {v} vs {}",
                    f.name,
                    f.minimum(d)
                );
            }
        }
    }

    #[test]
    fn minimum_is_below_random_points_of_the_domain() {
        // A fixed low-discrepancy walk over the domain: no point may beat the known minimum.
        for f in FUNCTIONS {
            let d = match f.dimension {
                Dimension::Fixed(n) => n,
                Dimension::AtLeast(n) => n.max(3),
            };
            let b = f.bounds(d);
            for k in 1..2000u32 {
                let x: Vec<f64> = b
                    .iter()
                    .enumerate()
                    .map(|(j, &(lo, hi))| {
                        let u =
                            (k as f64 * (0.618_033_988_75 + 0.414_213_562_37 * j as f64)).fract();
                        lo + u * (hi - lo)
                    })
                    .collect();
                let v = f.evaluate(&x).unwrap();
                assert!(
                    v >= f.minimum(d) - 1e-9,
                    "{} beats its minimum at {x:?}: {v}",
                    f.name
                );
            }
        }
    }

    #[test]
    fn branin_has_three_minimizers() {
        for x in [
            [-std::f64::consts::PI, 12.275],
            [std::f64::consts::PI, 2.275],
            [9.424_78, 2.475],
        ] {
            assert!((evaluate("branin", &x).unwrap() - 0.397_887).abs() < 1e-5);
        }
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            evaluate("branin", &[1.0]).unwrap_err().to_string(),
            "`branin` takes 2 inputs, got 1"
        );
        assert!(
            evaluate("nope", &[1.0])
                .unwrap_err()
                .to_string()
                .contains("known: branin")
        );
        assert_eq!(
            evaluate_named("sphere", &[("x1", 1.0), ("x2", f64::NAN)])
                .unwrap_err()
                .to_string(),
            "input `x2` is NaN, not a finite number"
        );
        assert!(matches!(
            evaluate("rosenbrock", &[1.0]),
            Err(Error::WrongDimension { .. })
        ));
    }

    #[test]
    fn named_inputs_follow_natural_order() {
        let named: Vec<(String, f64)> = (1..=10).map(|i| (format!("x{i}"), i as f64)).collect();
        let refs: Vec<(&str, f64)> = named.iter().rev().map(|(n, v)| (n.as_str(), *v)).collect();
        let direct = evaluate(
            "rosenbrock",
            &(1..=10).map(|i| i as f64).collect::<Vec<_>>(),
        )
        .unwrap();
        assert_eq!(evaluate_named("rosenbrock", &refs).unwrap(), direct);
    }
}
