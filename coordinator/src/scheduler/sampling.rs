//! The sampler's own thread. Samplers are synchronous CPU work (a Gaussian process fit can
//! take tens of milliseconds), so they never run on the async runtime: the scheduler sends
//! this thread what happened (trials known, trials ended) and what it wants (a suggestion for
//! trial n), in order, and receives suggestions on a channel.

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

/// Starts the sampler thread. It ends when the returned sender is dropped.
pub(crate) fn spawn(
    mut sampler: Box<dyn Sampler>,
    space: SearchSpace,
    results: UnboundedSender<Sampled>,
) -> std::io::Result<mpsc::Sender<SamplerEvent>> {
    let (events, inbox) = mpsc::channel::<SamplerEvent>();
    thread::Builder::new()
        .name("sampler".into())
        .spawn(move || {
            // Every trial by number: what the sampler sees.
            let mut trials: Vec<TrialRecord> = Vec::new();
            // The trials that ended since the last suggestion: all the sampler re-reads.
            let mut changed: Vec<u64> = Vec::new();
            let mut exhausted = false;
            for event in inbox {
                match event {
                    SamplerEvent::Known(record) => trials.push(slim(record)),
                    SamplerEvent::Ended(record) => {
                        if let Some(slot) = usize::try_from(record.number)
                            .ok()
                            .and_then(|i| trials.get_mut(i))
                        {
                            slot.state = record.state;
                            slot.value = record.value;
                            slot.intermediate = slim(record).intermediate;
                            changed.push(slot.number);
                        }
                    }
                    SamplerEvent::Suggest(number) => {
                        let outcome = if exhausted {
                            Ok(None)
                        } else {
                            let ended = changed.as_slice();
                            suggest(
                                &mut *sampler,
                                &space,
                                &mut trials,
                                number,
                                ended,
                                &mut exhausted,
                            )
                        };
                        changed.clear();
                        if results.send(Sampled { number, outcome }).is_err() {
                            return;
                        }
                    }
                }
            }
        })?;
    Ok(events)
}

/// A record as the sampler keeps it: samplers read a trial's state, value and last report
/// (how deep a pruned trial got), never its whole curve, so only that is kept.
fn slim(mut record: TrialRecord) -> TrialRecord {
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
