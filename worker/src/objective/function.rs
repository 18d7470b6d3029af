//! The built-in test functions (`[objective] function = "branin"`): zero-cost objectives
//! reporting one metric, `value`, from numeric parameters `x1`, `x2`, ...

use hypersearch_proto::{FailureKind, JsonObject, Outcome};

/// Evaluates the function `name` at the trial's parameters.
pub(crate) fn evaluate(name: &str, params: &JsonObject) -> Outcome {
    let mut inputs = Vec::with_capacity(params.len());
    for (key, value) in params {
        let Some(x) = value.as_f64() else {
            return Outcome::Failed {
                error: format!("function `{name}`: parameter `{key}` = {value} is not a number"),
                kind: FailureKind::User,
            };
        };
        inputs.push((key.as_str(), x));
    }
    match hypersearch_testfns::evaluate_metrics(name, &inputs) {
        Ok(values) => match values.iter().find(|(_, v)| !v.is_finite()) {
            Some((metric, value)) => Outcome::Failed {
                error: format!("function `{name}` gave {metric} = {value}"),
                kind: FailureKind::User,
            },
            None => Outcome::Finished(
                values
                    .into_iter()
                    .map(|(metric, v)| (metric.to_string(), v))
                    .collect(),
            ),
        },
        Err(err) => Outcome::Failed {
            error: format!("function `{name}`: {err}"),
            kind: FailureKind::User,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn params(json: serde_json::Value) -> JsonObject {
        json.as_object().unwrap().clone()
    }

    #[test]
    fn branin_at_a_known_minimizer_reports_its_minimum() {
        let outcome = evaluate(
            "branin",
            &params(serde_json::json!({"x1": std::f64::consts::PI, "x2": 2.275})),
        );
        let Outcome::Finished(metrics) = outcome else {
            panic!("expected a value, got {outcome:?}");
        };
        assert!((metrics["value"] - 0.397887).abs() < 1e-4, "{metrics:?}");
    }

    #[test]
    fn a_two_objective_function_reports_one_metric_per_objective() {
        let outcome = evaluate(
            "branin_currin",
            &params(serde_json::json!({"x1": 0.0, "x2": 0.0})),
        );
        let Outcome::Finished(metrics) = outcome else {
            panic!("expected values, got {outcome:?}");
        };
        assert_eq!(metrics.keys().collect::<Vec<_>>(), ["f1", "f2"]);
        assert!((metrics["f2"] - 3.0).abs() < 1e-12, "{metrics:?}");
    }

    #[test]
    fn non_numeric_parameters_fail_the_trial_naming_them() {
        let outcome = evaluate("branin", &params(serde_json::json!({"x1": "a", "x2": 1.0})));
        let Outcome::Failed { error, kind } = outcome else {
            panic!("expected a failure");
        };
        assert_eq!(kind, FailureKind::User);
        assert!(error.contains("`x1`"), "{error}");
    }
}
