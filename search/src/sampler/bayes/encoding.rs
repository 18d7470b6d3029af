//! The search space as columns of the unit cube the GP engine works in, and back.
//!
//! - float: linear, or log of the value for log scales, mapped onto `[0, 1]`;
//! - int and stepped float: bounds widened by half a step each side (log of the widened
//!   bounds for log scales), each allowed value at the centre of its cell: a grid column;
//!   ranges with more than [`GRID_LIMIT`] values are modelled as continuous and rounded;
//! - categorical: one column holding the choice's index, compared by equality (Hamming);
//! - a conditional parameter that does not exist in a point is neutralized: fixed at the
//!   column's value nearest 0.5, the same for every point where it is absent.

use hypersearch_bo::Column;

use crate::params::{ParamValue, Params};
use crate::space::{Domain, SearchSpace};

/// Discrete ranges with at most this many values become grid columns.
pub const GRID_LIMIT: u128 = 4096;

/// How one parameter maps to its column.
#[derive(Debug, Clone)]
enum Codec {
    /// `u = (t(v) - a) / (b - a)`, `t = ln` on log scales; `step` rounds on decode
    /// (`None`: continuous float).
    Numeric {
        a: f64,
        b: f64,
        log: bool,
        low: f64,
        high: f64,
        step: Option<f64>,
        count: u128,
        int: bool,
    },
    /// Index of the choice.
    Categorical(Vec<ParamValue>),
}

/// The encoding of one search space.
#[derive(Debug, Clone)]
pub struct Encoding {
    space: SearchSpace,
    codecs: Vec<Codec>,
    columns: Vec<Column>,
}

impl Encoding {
    /// The encoding of `space`.
    pub fn new(space: &SearchSpace) -> Self {
        let mut codecs = Vec::new();
        let mut columns = Vec::new();
        for spec in space.params() {
            let (codec, column) = match &spec.domain {
                Domain::Float(d) => match d.step {
                    None => {
                        let t = |v: f64| if d.log { v.ln() } else { v };
                        let codec = Codec::Numeric {
                            a: t(d.low),
                            b: t(d.high),
                            log: d.log,
                            low: d.low,
                            high: d.high,
                            step: None,
                            count: 0,
                            int: false,
                        };
                        (codec, Column::Continuous)
                    }
                    Some(step) => stepped(d.low, d.effective_high(), step, d.log, false),
                },
                Domain::Int(d) => stepped(
                    d.low as f64,
                    d.effective_high() as f64,
                    d.step as f64,
                    d.log,
                    true,
                ),
                Domain::Categorical(choices) => (
                    Codec::Categorical(choices.clone()),
                    Column::Categorical(choices.len().max(1)),
                ),
            };
            codecs.push(codec);
            columns.push(column);
        }
        Self {
            space: space.clone(),
            codecs,
            columns,
        }
    }

    /// The columns, one per parameter of the space, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The point `params` (canonical, see [`SearchSpace::validate`]) in the unit cube.
    pub fn encode(&self, params: &Params) -> Vec<f64> {
        self.space
            .params()
            .iter()
            .zip(&self.codecs)
            .zip(&self.columns)
            .map(|((spec, codec), column)| {
                let u = params.get(&spec.name).and_then(|v| match codec {
                    Codec::Numeric { a, b, log, .. } => {
                        let x = v.as_f64()?;
                        let t = if *log { x.ln() } else { x };
                        Some(if b > a { (t - a) / (b - a) } else { 0.5 })
                    }
                    Codec::Categorical(choices) => {
                        let i = choices.iter().position(|c| c.same_as(v))?;
                        Some(Column::category_position(i, choices.len()))
                    }
                });
                column.snap(u.unwrap_or(0.5).clamp(0.0, 1.0))
            })
            .collect()
    }

    /// The params of a unit-cube point: parameters whose condition does not hold are left
    /// out, the others decoded onto their domains.
    pub fn decode(&self, u: &[f64]) -> Params {
        let mut out = Params::new();
        for ((spec, codec), &x) in self.space.params().iter().zip(&self.codecs).zip(u) {
            if !self.space.is_active(spec, &out) {
                continue;
            }
            let value = match codec {
                Codec::Categorical(choices) => {
                    choices[Column::category_index(x, choices.len())].clone()
                }
                Codec::Numeric {
                    a,
                    b,
                    log,
                    low,
                    high,
                    step,
                    count,
                    int,
                } => {
                    let t = a + x.clamp(0.0, 1.0) * (b - a);
                    let v = if *log { t.exp() } else { t };
                    match step {
                        // Clamped to the domain's own bounds: exp(ln(low)) need not be low.
                        None => ParamValue::Float(v.clamp(*low, *high)),
                        Some(s) => {
                            let k = ((v - low) / s).round().clamp(0.0, (*count - 1) as f64);
                            if *int {
                                ParamValue::Int((low + k * s).round() as i64)
                            } else {
                                ParamValue::Float(low + k * s)
                            }
                        }
                    }
                }
            };
            out.insert(spec.name.clone(), value);
        }
        out
    }
}

/// Codec and column of a stepped range `low, low + step, …, high`.
fn stepped(low: f64, high: f64, step: f64, log: bool, int: bool) -> (Codec, Column) {
    let count = ((high - low) / step).round() as u128 + 1;
    let t = |v: f64| if log { v.ln() } else { v };
    let (a, b) = (t(low - step / 2.0), t(high + step / 2.0));
    let codec = Codec::Numeric {
        a,
        b,
        log,
        low,
        high,
        step: Some(step),
        count,
        int,
    };
    let column = if count <= GRID_LIMIT && b > a {
        let values: Vec<f64> = (0..count)
            .map(|k| ((t(low + k as f64 * step) - a) / (b - a)).clamp(0.0, 1.0))
            .collect();
        let strictly_increasing = values.windows(2).all(|w| w[0] < w[1]);
        if strictly_increasing {
            Column::Grid(values)
        } else {
            Column::Continuous
        }
    } else {
        Column::Continuous
    };
    (codec, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StudyConfig;

    fn space(text: &str) -> SearchSpace {
        let toml = format!(
            "[study]\nmetric = \"loss\"\n[objective]\ncommand = \"train.sh\"\n[search]\nalgorithm = \"random\"\ntrials = 5\n[search.space]\n{text}"
        );
        StudyConfig::from_toml_str(&toml, "t.toml").unwrap().space
    }

    #[test]
    fn encode_then_decode_returns_the_point() {
        let s = space(
            "lr = { float = [1e-4, 1e-1], log = true }\nunits = { int = [16, 256], step = 16 }\nk = { int = [1, 1000], log = true }\nact = { choice = [\"relu\", \"tanh\", \"elu\"] }\nx = { float = [-2.0, 3.0] }\n",
        );
        let enc = Encoding::new(&s);
        assert!(matches!(enc.columns()[1], Column::Grid(ref v) if v.len() == 16));
        let mut p = Params::new();
        p.insert("lr".into(), ParamValue::Float(3e-3));
        p.insert("units".into(), ParamValue::Int(48));
        p.insert("k".into(), ParamValue::Int(37));
        p.insert("act".into(), ParamValue::Str("elu".into()));
        p.insert("x".into(), ParamValue::Float(0.25));
        let u = enc.encode(&p);
        assert!(u.iter().all(|v| (0.0..=1.0).contains(v)));
        // The log float sits where its logarithm does.
        assert!(
            (u[0] - ((3e-3f64).ln() - (1e-4f64).ln()) / ((1e-1f64).ln() - (1e-4f64).ln())).abs()
                < 1e-12
        );
        let back = enc.decode(&u);
        assert_eq!(back.get("units"), Some(&ParamValue::Int(48)));
        assert_eq!(back.get("k"), Some(&ParamValue::Int(37)));
        assert_eq!(back.get("act"), Some(&ParamValue::Str("elu".into())));
        assert!((back.get("lr").and_then(ParamValue::as_f64).unwrap() - 3e-3).abs() < 1e-12);
        assert!((back.get("x").and_then(ParamValue::as_f64).unwrap() - 0.25).abs() < 1e-12);
        assert!(s.validate(&back).is_ok());
    }

    #[test]
    fn log_floats_decode_to_their_exact_bounds_at_the_ends() {
        let s = space("p = { float = [7.264591810599361, 7.364591810599361], log = true }\n");
        let enc = Encoding::new(&s);
        for (u, want) in [(0.0, 7.264591810599361), (1.0, 7.364591810599361)] {
            let p = enc.decode(&[u]);
            assert_eq!(p.get("p"), Some(&ParamValue::Float(want)));
            assert_eq!(s.validate(&p).unwrap(), p);
        }
    }

    #[test]
    fn int_cells_are_equally_wide_and_decode_to_the_nearest_value() {
        let s = space("n = { int = [0, 3] }\n");
        let enc = Encoding::new(&s);
        assert_eq!(
            enc.columns()[0],
            Column::Grid(vec![0.125, 0.375, 0.625, 0.875])
        );
        for (u, want) in [(0.0, 0), (0.24, 0), (0.26, 1), (0.74, 2), (1.0, 3)] {
            assert_eq!(
                enc.decode(&[u]).get("n"),
                Some(&ParamValue::Int(want)),
                "u = {u}"
            );
        }
    }
}
