//! Moving one parameter's value to another value of its domain: the local steps mutations
//! are made of. Every function returns a value of the domain that differs from the current
//! one, or `None` when the domain has no other value.

use rand::{Rng, RngExt};

use crate::params::ParamValue;
use crate::space::{Domain, FloatDomain, IntDomain};

/// The standard deviation of a Gaussian step, as a fraction of the (log-)scaled range.
const STEP_SCALE: f64 = 0.1;
/// Gaussian steps tried before a continuous float falls back to a uniform draw.
const FLOAT_TRIES: usize = 16;
/// A layer's width is multiplied or divided by this.
const WIDTH_FACTOR: f64 = 2.0;

/// A standard normal draw (Box–Muller).
fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = rng.random();
    let u2: f64 = rng.random();
    (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A different value of `domain`, near `current`: floats take a Gaussian step in the
/// (log-)scaled unit interval, clipped to the bounds; integers and stepped floats the same,
/// rounded to their grid and at least one step; a choice any other choice, uniformly.
pub(super) fn nearby<R: Rng + ?Sized>(
    domain: &Domain,
    current: &ParamValue,
    rng: &mut R,
) -> Option<ParamValue> {
    match domain {
        Domain::Float(d) if d.step.is_some() => grid_step(domain, current, rng),
        Domain::Float(d) => float_step(d, current.as_f64()?, rng),
        Domain::Int(d) if d.log => log_int_step(d, current.as_i64()?, rng),
        Domain::Int(_) => grid_step(domain, current, rng),
        Domain::Categorical(choices) => other_choice(choices, current, rng),
    }
}

/// A layer width's move: multiplied or divided by two (the other way at a bound), snapped
/// to the domain; among numeric choices, the next larger or smaller one. Otherwise as
/// [`nearby`].
pub(super) fn wider_or_narrower<R: Rng + ?Sized>(
    domain: &Domain,
    current: &ParamValue,
    rng: &mut R,
) -> Option<ParamValue> {
    let values = ordered_values(domain)?;
    let v = current.as_f64()?;
    let up = rng.random_bool(0.5);
    let target = |up: bool| {
        if up {
            v * WIDTH_FACTOR
        } else {
            v / WIDTH_FACTOR
        }
    };
    for direction in [up, !up] {
        // The value nearest the target on the move's side of the current one.
        let goal = target(direction);
        let best = values
            .iter()
            .filter(|c| if direction { **c > v } else { **c < v })
            .min_by(|a, b| (**a - goal).abs().total_cmp(&(**b - goal).abs()));
        if let Some(&w) = best {
            return domain.canonical(&ParamValue::Float(w));
        }
    }
    None
}

/// The values of an enumerable numeric domain, or `None` for a float range, a non-numeric
/// choice or a domain too large to list.
fn ordered_values(domain: &Domain) -> Option<Vec<f64>> {
    const LISTABLE: u128 = 100_000;
    if matches!(domain, Domain::Float(FloatDomain { step: None, .. })) {
        return None;
    }
    let count = domain.count().filter(|&n| n <= LISTABLE)?;
    (0..count)
        .map(|i| domain.value_at(i).and_then(|v| v.as_f64()))
        .collect()
}

fn float_step<R: Rng + ?Sized>(d: &FloatDomain, current: f64, rng: &mut R) -> Option<ParamValue> {
    let scale = |x: f64| if d.log { x.ln() } else { x };
    let (low, high) = (scale(d.low), scale(d.high));
    let unit = ((scale(current) - low) / (high - low)).clamp(0.0, 1.0);
    for _ in 0..FLOAT_TRIES {
        let moved = (unit + STEP_SCALE * standard_normal(rng)).clamp(0.0, 1.0);
        let x = low + moved * (high - low);
        let v = if d.log { x.exp() } else { x }.clamp(d.low, d.high);
        if v != current {
            return Some(ParamValue::Float(v));
        }
    }
    let domain = Domain::Float(d.clone());
    (0..FLOAT_TRIES)
        .map(|_| domain.sample(rng))
        .find(|v| v.as_f64() != Some(current))
}

/// A Gaussian step over the domain's grid of values (an int range or a stepped float),
/// rounded to the grid, at least one step.
fn grid_step<R: Rng + ?Sized>(
    domain: &Domain,
    current: &ParamValue,
    rng: &mut R,
) -> Option<ParamValue> {
    let count = domain.count()?;
    if count < 2 {
        return None;
    }
    let last = (count - 1) as f64;
    let index = grid_index(domain, current)?;
    let mut next = (index + STEP_SCALE * last * standard_normal(rng))
        .round()
        .clamp(0.0, last);
    if next == index {
        let up = if index == 0.0 {
            true
        } else if index == last {
            false
        } else {
            rng.random_bool(0.5)
        };
        next = if up { index + 1.0 } else { index - 1.0 };
    }
    domain.value_at(next as u128)
}

/// Where `current` sits on the grid of an int range or a stepped float.
fn grid_index(domain: &Domain, current: &ParamValue) -> Option<f64> {
    match domain {
        Domain::Int(d) => Some(((current.as_i64()? - d.low) / d.step) as f64),
        Domain::Float(FloatDomain {
            low,
            step: Some(step),
            ..
        }) => Some(((current.as_f64()? - low) / step).round()),
        _ => None,
    }
}

/// A log-scaled integer: a Gaussian step on the log scale, rounded, at least one.
fn log_int_step<R: Rng + ?Sized>(d: &IntDomain, current: i64, rng: &mut R) -> Option<ParamValue> {
    if d.low == d.high {
        return None;
    }
    let (low, high) = ((d.low as f64).ln(), (d.high as f64).ln());
    let log = (current as f64).ln() + STEP_SCALE * (high - low) * standard_normal(rng);
    let mut next = (log.exp().round() as i64).clamp(d.low, d.high);
    if next == current {
        let up = current == d.low || (current != d.high && rng.random_bool(0.5));
        next = if up { current + 1 } else { current - 1 };
    }
    Some(ParamValue::Int(next))
}

fn other_choice<R: Rng + ?Sized>(
    choices: &[ParamValue],
    current: &ParamValue,
    rng: &mut R,
) -> Option<ParamValue> {
    let others: Vec<&ParamValue> = choices.iter().filter(|c| !c.same_as(current)).collect();
    if others.is_empty() {
        return None;
    }
    Some(others[rng.random_range(0..others.len())].clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::trial_rng;

    fn int(low: i64, high: i64, step: i64, log: bool) -> Domain {
        Domain::Int(IntDomain {
            low,
            high,
            log,
            step,
        })
    }

    fn float(low: f64, high: f64, log: bool, step: Option<f64>) -> Domain {
        Domain::Float(FloatDomain {
            low,
            high,
            log,
            step,
            grid_points: None,
        })
    }

    #[test]
    fn every_move_lands_on_another_value_of_the_domain() {
        let domains = [
            int(1, 3, 1, false),
            int(32, 256, 32, false),
            int(1, 1000, 1, true),
            float(0.0, 0.5, false, None),
            float(1e-5, 1e-1, true, None),
            float(0.0, 1.0, false, Some(0.25)),
            Domain::Categorical(vec![true.into(), false.into()]),
            Domain::Categorical(vec!["relu".into(), "elu".into(), "gelu".into()]),
        ];
        let mut rng = trial_rng(3, 0);
        for domain in &domains {
            for _ in 0..200 {
                let current = domain.sample(&mut rng);
                for moved in [
                    nearby(domain, &current, &mut rng),
                    wider_or_narrower(domain, &current, &mut rng)
                        .or_else(|| nearby(domain, &current, &mut rng)),
                ] {
                    let moved = moved.unwrap();
                    assert!(domain.contains(&moved), "{moved} not in {domain:?}");
                    assert!(
                        !moved.same_as(&current),
                        "{moved} did not move in {domain:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_width_doubles_or_halves_within_its_bounds() {
        let domain = int(16, 256, 16, false);
        let mut rng = trial_rng(0, 1);
        for _ in 0..50 {
            let moved = wider_or_narrower(&domain, &ParamValue::Int(64), &mut rng).unwrap();
            assert!(moved == ParamValue::Int(128) || moved == ParamValue::Int(32));
            let top = wider_or_narrower(&domain, &ParamValue::Int(256), &mut rng).unwrap();
            assert_eq!(top, ParamValue::Int(128));
        }
        let choices = Domain::Categorical(vec![64.into(), 128.into(), 256.into()]);
        let low = wider_or_narrower(&choices, &ParamValue::Int(64), &mut rng).unwrap();
        assert_eq!(low, ParamValue::Int(128));
    }

    #[test]
    fn a_single_value_cannot_move() {
        let mut rng = trial_rng(0, 0);
        let one = Domain::Categorical(vec!["relu".into()]);
        assert_eq!(nearby(&one, &"relu".into(), &mut rng), None);
        assert_eq!(wider_or_narrower(&one, &"relu".into(), &mut rng), None);
    }
}
