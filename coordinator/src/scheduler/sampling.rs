//! The sampler's own thread. Samplers are synchronous CPU work (a Gaussian process fit can
//! take tens of milliseconds), so they never run on the async runtime: the scheduler sends
//! this thread what happened (trials known, trials ended) and what it wants (a suggestion for
//! trial n), in order, and receives suggestions on a channel.
//!
//! In a deterministic search (`[search] deterministic`) the thread holds back what it shows
//! the sampler: trial n is proposed only once trials 0 … n − lag have all ended (lag = the
//! study's `parallel`), from a history in which exactly those have ended and the ones
//! between are running, whatever ended first in fact. Its answers then depend on the seed
//! alone.

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc;
use std::thread;

use hypersearch_proto::JsonObject;
use hypersearch_search::{
    SampleContext, Sampler, SearchSpace, Suggestion, TrialRecord, TrialState,
};
use tokio::sync::mpsc::UnboundedSender;

/// What the sampler thread is told, in the order things happened.
pub(crate) enum SamplerEvent {
    /// A trial that exists (at start, for a resumed study).
    Known(TrialRecord),
    /// A trial reached a terminal state.
    Ended(TrialRecord),
    /// Propose trial `number`.
    Suggest(u64),
}

/// A proposal for one trial, ready to store and run.
pub(crate) struct Proposal {
    /// The sampled point, as a JSON object (for the store and the worker).
    pub params_json: JsonObject,
    /// What the objective applies.
    pub overrides: JsonObject,
}

/// The sampler's answer for trial `number`.
pub(crate) struct Sampled {
    /// The trial number asked for.
    pub number: u64,
    /// The proposal; `Ok(None)` when the space is exhausted.
    pub outcome: Result<Option<Proposal>, String>,
}

/// Starts the sampler thread. It ends when the returned sender is dropped. `lag`: a
/// deterministic search's lag (its `parallel`), `None` for one that shows the sampler every
/// trial as soon as it ends.
pub(crate) fn spawn(
    sampler: Box<dyn Sampler>,
    space: SearchSpace,
    results: UnboundedSender<Sampled>,
    lag: Option<u64>,
) -> std::io::Result<mpsc::Sender<SamplerEvent>> {
    let (events, inbox) = mpsc::channel::<SamplerEvent>();
    thread::Builder::new()
        .name("sampler".into())
        .spawn(move || {
            let mut thread = SamplerThread {
                sampler,
                space,
                trials: Vec::new(),
                changed: Vec::new(),
                exhausted: false,
                gate: lag.map(Gate::new),
            };
            for event in inbox {
                if thread.take(event, &results).is_err() {
                    return;
                }
            }
        })?;
    Ok(events)
}

/// The sampler thread's state.
struct SamplerThread {
    sampler: Box<dyn Sampler>,
    space: SearchSpace,
    /// Every trial by number: what the sampler sees.
    trials: Vec<TrialRecord>,
    /// The trials shown ended since the last suggestion: all the sampler re-reads.
    changed: Vec<u64>,
    exhausted: bool,
    /// A deterministic search's held-back ends and waiting requests.
    gate: Option<Gate>,
}

/// What a deterministic search holds back.
struct Gate {
    lag: u64,
    /// Ends not shown yet, by trial number.
    held: BTreeMap<u64, TrialRecord>,
    /// Every trial below this number is shown ended.
    shown_below: u64,
    /// Requested proposals waiting for the trials they may see to end, in order.
    waiting: VecDeque<u64>,
}

impl Gate {
    fn new(lag: u64) -> Self {
        Gate {
            lag: lag.max(1),
            held: BTreeMap::new(),
            shown_below: 0,
            waiting: VecDeque::new(),
        }
    }
}

/// The results channel is gone: the scheduler stopped.
struct Closed;

impl SamplerThread {
    fn take(
        &mut self,
        event: SamplerEvent,
        results: &UnboundedSender<Sampled>,
    ) -> Result<(), Closed> {
        match (event, self.gate.as_mut()) {
            (SamplerEvent::Known(record), None) => self.trials.push(slim(record)),
            (SamplerEvent::Known(record), Some(gate)) => {
                // A resumed study's finished trials are shown as the gate allows, like any end.
                if record.state != TrialState::Running {
                    gate.held.insert(record.number, record.clone());
                }
                self.trials.push(TrialRecord {
                    state: TrialState::Running,
                    value: None,
                    intermediate: Vec::new(),
                    ..record
                });
            }
            (SamplerEvent::Ended(record), None) => self.show_ended(record),
            (SamplerEvent::Ended(record), Some(gate)) => {
                gate.held.insert(record.number, record);
                return self.serve_waiting(results);
            }
            (SamplerEvent::Suggest(number), None) => return self.answer(number, results),
            (SamplerEvent::Suggest(number), Some(gate)) => {
                gate.waiting.push_back(number);
                return self.serve_waiting(results);
            }
        }
        Ok(())
    }

    /// Shows the sampler that `record` ended.
    fn show_ended(&mut self, record: TrialRecord) {
        if let Some(slot) = usize::try_from(record.number)
            .ok()
            .and_then(|i| self.trials.get_mut(i))
        {
            slot.state = record.state;
            slot.value = record.value;
            slot.intermediate = slim(record).intermediate;
            self.changed.push(slot.number);
        }
    }

    /// Answers the waiting requests whose trials to see have all ended, in order.
    fn serve_waiting(&mut self, results: &UnboundedSender<Sampled>) -> Result<(), Closed> {
        loop {
            let Some(gate) = self.gate.as_mut() else {
                return Ok(());
            };
            let Some(&number) = gate.waiting.front() else {
                return Ok(());
            };
            // Trial `number` sees trials 0 … number − lag ended.
            let sees_below = (number + 1).saturating_sub(gate.lag);
            let mut now_shown = Vec::new();
            while gate.shown_below < sees_below {
                let Some(record) = gate.held.remove(&gate.shown_below) else {
                    break;
                };
                now_shown.push(record);
                gate.shown_below += 1;
            }
            let ready = gate.shown_below >= sees_below;
            if ready {
                gate.waiting.pop_front();
            }
            for record in now_shown {
                self.show_ended(record);
            }
            if !ready {
                return Ok(());
            }
            self.answer(number, results)?;
        }
    }

    /// Proposes trial `number` from what the sampler has been shown.
    fn answer(&mut self, number: u64, results: &UnboundedSender<Sampled>) -> Result<(), Closed> {
        let outcome = if self.exhausted {
            Ok(None)
        } else {
            suggest(
                &mut *self.sampler,
                &self.space,
                &mut self.trials,
                number,
                &self.changed,
                &mut self.exhausted,
            )
        };
        self.changed.clear();
        results
            .send(Sampled { number, outcome })
            .map_err(|_| Closed)
    }
}

/// A record as the sampler keeps it: samplers read a trial's state, value and last report
/// (how deep a pruned trial got), never its whole curve, so only that is kept.
fn slim(mut record: TrialRecord) -> TrialRecord {
    record.intermediate_objectives = Vec::new();
    if record.intermediate.len() > 1 {
        let last = record.intermediate[record.intermediate.len() - 1];
        record.intermediate = vec![last];
    }
    record
}

/// Trial `number`'s proposal; `changed` names the trials that ended since the last one.
fn suggest(
    sampler: &mut dyn Sampler,
    space: &SearchSpace,
    trials: &mut Vec<TrialRecord>,
    number: u64,
    changed: &[u64],
    exhausted: &mut bool,
) -> Result<Option<Proposal>, String> {
    let context = SampleContext::with_changes(number, trials, changed);
    match sampler.suggest(&context) {
        Ok(Suggestion::Params(params)) => {
            let params_json = params
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect();
            let overrides = space.overrides(&params);
            trials.push(TrialRecord {
                judged: None,
                intermediate_objectives: Vec::new(),
                number,
                params,
                state: TrialState::Running,
                value: None,
                intermediate: Vec::new(),
            });
            Ok(Some(Proposal {
                params_json,
                overrides,
            }))
        }
        Ok(Suggestion::Exhausted) => {
            *exhausted = true;
            Ok(None)
        }
        Err(err) => Err(format!("trial {number}: {err}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use hypersearch_search::{Params, SearchError, StudyConfig};

    use super::*;

    /// What the sampler was shown when asked for a trial: (number, state, value) per trial.
    type Shown = Vec<(u64, Vec<(u64, TrialState, Option<f64>)>)>;

    /// Proposes `x = n` for trial n, recording what it was shown.
    struct Showing(Arc<Mutex<Shown>>);

    impl Sampler for Showing {
        fn name(&self) -> &'static str {
            "showing"
        }

        fn suggest(&mut self, ctx: &SampleContext<'_>) -> Result<Suggestion, SearchError> {
            let view = ctx
                .trials
                .iter()
                .map(|t| (t.number, t.state, t.value))
                .collect();
            self.0.lock().unwrap().push((ctx.trial_number, view));
            let mut params = Params::new();
            params.insert(
                "x".into(),
                hypersearch_search::ParamValue::Float(ctx.trial_number as f64),
            );
            Ok(Suggestion::Params(params))
        }
    }

    fn ended(number: u64, value: f64) -> TrialRecord {
        TrialRecord {
            judged: None,
            intermediate_objectives: Vec::new(),
            number,
            params: Params::new(),
            state: TrialState::Complete,
            value: Some(value),
            intermediate: Vec::new(),
        }
    }

    /// Feeds `events` to a sampler thread with `lag`; returns what the sampler was shown and
    /// the order proposals came out in.
    fn run(lag: Option<u64>, events: Vec<SamplerEvent>) -> (Shown, Vec<u64>) {
        let config = StudyConfig::from_toml_str(
            "[objective]\nfunction = \"sphere\"\n[search]\ntrials = 10\n[search.space]\nx = { float = [0, 10] }\n",
            "t.toml",
        )
        .unwrap();
        let shown = Arc::new(Mutex::new(Vec::new()));
        let mut thread = SamplerThread {
            sampler: Box::new(Showing(shown.clone())),
            space: config.space.clone(),
            trials: Vec::new(),
            changed: Vec::new(),
            exhausted: false,
            gate: lag.map(Gate::new),
        };
        let (results, mut answers) = tokio::sync::mpsc::unbounded_channel();
        for event in events {
            assert!(thread.take(event, &results).is_ok());
        }
        let mut order = Vec::new();
        while let Ok(answer) = answers.try_recv() {
            order.push(answer.number);
        }
        let shown = shown.lock().unwrap().clone();
        (shown, order)
    }

    #[test]
    fn a_deterministic_search_shows_each_proposal_the_same_history_whatever_ended_first() {
        use SamplerEvent::{Ended, Suggest};
        // Two slots: trial n sees trials 0 … n − 2 ended and the one between running.
        let in_order = vec![
            Suggest(0),
            Suggest(1),
            Ended(ended(0, 5.0)),
            Suggest(2),
            Ended(ended(1, 4.0)),
            Suggest(3),
            Ended(ended(2, 3.0)),
            Suggest(4),
        ];
        let out_of_order = vec![
            Suggest(0),
            Suggest(1),
            Ended(ended(1, 4.0)),
            Suggest(2),
            Suggest(3),
            Ended(ended(2, 3.0)),
            Ended(ended(0, 5.0)),
            Suggest(4),
        ];
        let (first, first_order) = run(Some(2), in_order);
        let (second, second_order) = run(Some(2), out_of_order);
        assert_eq!(first, second);
        assert_eq!(first_order, vec![0, 1, 2, 3, 4]);
        assert_eq!(second_order, vec![0, 1, 2, 3, 4]);
        let (_, view_of_3) = &first[3];
        assert_eq!(
            view_of_3,
            &vec![
                (0, TrialState::Complete, Some(5.0)),
                (1, TrialState::Complete, Some(4.0)),
                (2, TrialState::Running, None),
            ],
            "trial 3 sees trial 2 running although it had ended"
        );
    }

    #[test]
    fn a_proposal_waits_for_the_trials_it_may_see_and_an_ordinary_search_does_not() {
        use SamplerEvent::{Ended, Suggest};
        let events = || vec![Suggest(0), Suggest(1), Ended(ended(1, 4.0)), Suggest(2)];
        let (_, deterministic) = run(Some(2), events());
        assert_eq!(deterministic, vec![0, 1], "trial 2 waits for trial 0");
        let (shown, ordinary) = run(None, events());
        assert_eq!(ordinary, vec![0, 1, 2]);
        assert_eq!(
            shown[2].1,
            vec![
                (0, TrialState::Running, None),
                (1, TrialState::Complete, Some(4.0)),
            ]
        );
    }

    #[test]
    fn a_resumed_deterministic_search_shows_earlier_ends_only_as_the_lag_allows() {
        use SamplerEvent::{Known, Suggest};
        let events = vec![
            Known(ended(0, 5.0)),
            Known(ended(1, 4.0)),
            Known(ended(2, 3.0)),
            Suggest(3),
        ];
        let (shown, order) = run(Some(2), events);
        assert_eq!(order, vec![3]);
        assert_eq!(
            shown[0].1,
            vec![
                (0, TrialState::Complete, Some(5.0)),
                (1, TrialState::Complete, Some(4.0)),
                (2, TrialState::Running, None),
            ]
        );
    }
}
