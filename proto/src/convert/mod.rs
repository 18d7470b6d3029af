//! Conversions between the generated messages ([`crate::pb`]) and the domain types. Incoming
//! messages are validated on the way in: a missing field, an unknown enum value, a non-finite
//! metric or an oversized string is a [`ConvertError`] naming the field.

mod checkpoint_transfer;
mod data_transfer;
mod model_transfer;

use crate::domain::*;
use crate::pb;

/// Longest metric name, worker label or stop explanation accepted, in bytes; a message with a
/// longer one is refused as a whole.
pub const MAX_NAME_BYTES: usize = 256;
/// Most metrics accepted in one epoch or one result; a message with more is refused.
pub const MAX_METRICS: usize = 256;
/// Most slots a worker may claim (and so leases it may hold at once).
const MAX_SLOTS: u32 = 4096;
/// Most epochs accepted in one report; a report with more is refused.
pub const MAX_EPOCHS: usize = 1024;
/// Longest failure text accepted (the tail of a command's stderr), in bytes; a completion with
/// a longer one is refused.
pub const MAX_ERROR_BYTES: usize = 16 * 1024;

/// A message that does not make sense: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{field}`: {problem}")]
pub struct ConvertError {
    /// The offending field, dotted from the message (`lease.token`, `metrics[val_loss]`).
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ConvertError {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ConvertError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl From<ConvertError> for tonic::Status {
    fn from(err: ConvertError) -> Self {
        tonic::Status::invalid_argument(err.to_string())
    }
}

fn bounded(field: &str, text: String, max: usize) -> Result<String, ConvertError> {
    if text.len() > max {
        return Err(ConvertError::new(
            field,
            format!("{} bytes, at most {max} allowed", text.len()),
        ));
    }
    Ok(text)
}

fn json_object(field: &str, text: &str) -> Result<JsonObject, ConvertError> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(other) => Err(ConvertError::new(
            field,
            format!("expected a JSON object, got {other}"),
        )),
        Err(err) => Err(ConvertError::new(field, format!("not JSON: {err}"))),
    }
}

// ---- leases ----

impl From<LeaseId> for pb::LeaseRef {
    fn from(lease: LeaseId) -> Self {
        pb::LeaseRef {
            trial: lease.trial,
            attempt: lease.attempt,
            token: lease.token,
        }
    }
}

impl TryFrom<Option<pb::LeaseRef>> for LeaseId {
    type Error = ConvertError;
    fn try_from(lease: Option<pb::LeaseRef>) -> Result<Self, ConvertError> {
        let lease = lease.ok_or_else(|| ConvertError::new("lease", "missing"))?;
        if lease.attempt == 0 {
            return Err(ConvertError::new("lease.attempt", "attempts count from 1"));
        }
        Ok(LeaseId {
            trial: lease.trial,
            attempt: lease.attempt,
            token: lease.token,
        })
    }
}

// ---- metrics ----

fn metrics_to_pb(metrics: &Metrics) -> Vec<pb::Metric> {
    metrics
        .iter()
        .map(|(name, value)| pb::Metric {
            name: name.clone(),
            value: *value,
        })
        .collect()
}

fn metrics_from_pb(metrics: Vec<pb::Metric>) -> Result<Metrics, ConvertError> {
    if metrics.len() > MAX_METRICS {
        return Err(ConvertError::new(
            "metrics",
            format!("{} metrics, at most {MAX_METRICS} allowed", metrics.len()),
        ));
    }
    let mut out = Metrics::new();
    for metric in metrics {
        let field = format!("metrics[{}]", metric.name);
        if metric.name.is_empty() || metric.name.len() > MAX_NAME_BYTES {
            return Err(ConvertError::new(
                field,
                "a metric name is 1 to 256 bytes long",
            ));
        }
        if !metric.value.is_finite() {
            return Err(ConvertError::new(
                field,
                format!("{} is not a finite number", metric.value),
            ));
        }
        if out.insert(metric.name, metric.value).is_some() {
            return Err(ConvertError::new(field, "given twice"));
        }
    }
    Ok(out)
}

// ---- register ----

impl From<WorkerHello> for pb::RegisterRequest {
    fn from(hello: WorkerHello) -> Self {
        pb::RegisterRequest {
            name: hello.name,
            hostname: hello.hostname,
            slots: hello.slots,
            version: hello.version,
        }
    }
}

impl TryFrom<pb::RegisterRequest> for WorkerHello {
    type Error = ConvertError;
    fn try_from(req: pb::RegisterRequest) -> Result<Self, ConvertError> {
        if req.slots == 0 || req.slots > MAX_SLOTS {
            return Err(ConvertError::new(
                "slots",
                format!("{}: a worker has 1 to {MAX_SLOTS} slots", req.slots),
            ));
        }
        Ok(WorkerHello {
            name: bounded("name", req.name, MAX_NAME_BYTES)?,
            hostname: bounded("hostname", req.hostname, MAX_NAME_BYTES)?,
            slots: req.slots,
            version: bounded("version", req.version, MAX_NAME_BYTES)?,
        })
    }
}

impl From<Direction> for pb::Direction {
    fn from(direction: Direction) -> Self {
        match direction {
            Direction::Minimize => pb::Direction::Minimize,
            Direction::Maximize => pb::Direction::Maximize,
        }
    }
}

impl From<Objective> for pb::Objective {
    fn from(objective: Objective) -> Self {
        use pb::objective::Kind;
        let kind = match objective {
            Objective::Training => Kind::Training(pb::TrainingObjective {}),
            Objective::Command(command) => Kind::Command(command),
            Objective::Function(name) => Kind::Function(name),
        };
        pb::Objective { kind: Some(kind) }
    }
}

impl From<StudyInfo> for pb::StudyInfo {
    fn from(study: StudyInfo) -> Self {
        pb::StudyInfo {
            name: study.name,
            metric: study.metric,
            direction: pb::Direction::from(study.direction).into(),
            objective: Some(study.objective.into()),
            base_config_toml: study.base_config_toml,
            data_files: study.data_files.into_iter().map(Into::into).collect(),
            keep_models: study.keep_models,
            checkpoints: study.checkpoints,
        }
    }
}

impl TryFrom<pb::StudyInfo> for StudyInfo {
    type Error = ConvertError;
    fn try_from(study: pb::StudyInfo) -> Result<Self, ConvertError> {
        use pb::objective::Kind;
        let direction = match pb::Direction::try_from(study.direction) {
            Ok(pb::Direction::Minimize) => Direction::Minimize,
            Ok(pb::Direction::Maximize) => Direction::Maximize,
            _ => {
                return Err(ConvertError::new(
                    "study.direction",
                    format!("unknown value {}", study.direction),
                ));
            }
        };
        let objective = match study.objective.and_then(|o| o.kind) {
            Some(Kind::Training(_)) => Objective::Training,
            Some(Kind::Command(command)) => Objective::Command(command),
            Some(Kind::Function(name)) => Objective::Function(name),
            None => return Err(ConvertError::new("study.objective", "missing")),
        };
        Ok(StudyInfo {
            name: study.name,
            metric: study.metric,
            direction,
            objective,
            base_config_toml: study.base_config_toml,
            data_files: data_transfer::data_files_from_pb(study.data_files)?,
            keep_models: study.keep_models,
            checkpoints: study.checkpoints,
        })
    }
}

impl From<Welcome> for pb::RegisterReply {
    fn from(welcome: Welcome) -> Self {
        pb::RegisterReply {
            worker_id: welcome.worker_id,
            study: Some(welcome.study.into()),
            heartbeat_interval_ms: welcome.heartbeat_interval_ms,
            credential: welcome.credential,
        }
    }
}

impl TryFrom<pb::RegisterReply> for Welcome {
    type Error = ConvertError;
    fn try_from(reply: pb::RegisterReply) -> Result<Self, ConvertError> {
        let study = reply
            .study
            .ok_or_else(|| ConvertError::new("study", "missing"))?;
        if !crate::auth::is_credential(&reply.credential) {
            return Err(ConvertError::new(
                "credential",
                "expected 64 lower-case hex digits",
            ));
        }
        Ok(Welcome {
            worker_id: reply.worker_id,
            study: study.try_into()?,
            heartbeat_interval_ms: reply.heartbeat_interval_ms.max(1),
            credential: reply.credential,
        })
    }
}

// ---- lease ----

impl From<LeaseRequest> for pb::LeaseRequest {
    fn from(req: LeaseRequest) -> Self {
        pb::LeaseRequest {
            worker_id: req.worker_id,
            max_trials: req.max_trials,
            wait_ms: req.wait_ms,
        }
    }
}

impl From<pb::LeaseRequest> for LeaseRequest {
    fn from(req: pb::LeaseRequest) -> Self {
        LeaseRequest {
            worker_id: req.worker_id,
            max_trials: req.max_trials,
            wait_ms: req.wait_ms,
        }
    }
}

impl From<Assignment> for pb::TrialAssignment {
    fn from(assignment: Assignment) -> Self {
        pb::TrialAssignment {
            lease: Some(assignment.lease.into()),
            params_json: serde_json::Value::Object(assignment.params).to_string(),
            overrides_json: serde_json::Value::Object(assignment.overrides).to_string(),
            resume: assignment.resume.map(Into::into),
        }
    }
}

impl TryFrom<pb::TrialAssignment> for Assignment {
    type Error = ConvertError;
    fn try_from(assignment: pb::TrialAssignment) -> Result<Self, ConvertError> {
        Ok(Assignment {
            lease: assignment.lease.try_into()?,
            params: json_object("params_json", &assignment.params_json)?,
            overrides: json_object("overrides_json", &assignment.overrides_json)?,
            resume: assignment
                .resume
                .map(crate::model_transfer::Resume::try_from)
                .transpose()?,
        })
    }
}

impl From<LeaseGrant> for pb::LeaseReply {
    fn from(grant: LeaseGrant) -> Self {
        match grant {
            LeaseGrant::Trials(trials) => pb::LeaseReply {
                trials: trials.into_iter().map(Into::into).collect(),
                study_finished: false,
            },
            LeaseGrant::StudyFinished => pb::LeaseReply {
                trials: Vec::new(),
                study_finished: true,
            },
        }
    }
}

impl TryFrom<pb::LeaseReply> for LeaseGrant {
    type Error = ConvertError;
    fn try_from(reply: pb::LeaseReply) -> Result<Self, ConvertError> {
        if reply.study_finished {
            return Ok(LeaseGrant::StudyFinished);
        }
        let trials = reply
            .trials
            .into_iter()
            .map(Assignment::try_from)
            .collect::<Result<_, _>>()?;
        Ok(LeaseGrant::Trials(trials))
    }
}

// ---- report ----

impl Report {
    /// How many bytes this report takes as a message on the wire (to check it against
    /// [`crate::MAX_MESSAGE_BYTES`]).
    pub fn encoded_len(&self) -> usize {
        prost::Message::encoded_len(&pb::ReportRequest::from(self.clone()))
    }
}

impl From<Report> for pb::ReportRequest {
    fn from(report: Report) -> Self {
        pb::ReportRequest {
            worker_id: report.worker_id,
            lease: Some(report.lease.into()),
            epochs: report
                .epochs
                .iter()
                .map(|e| pb::EpochMetrics {
                    epoch: e.epoch,
                    metrics: metrics_to_pb(&e.metrics),
                })
                .collect(),
        }
    }
}

impl TryFrom<pb::ReportRequest> for Report {
    type Error = ConvertError;
    fn try_from(req: pb::ReportRequest) -> Result<Self, ConvertError> {
        if req.epochs.is_empty() || req.epochs.len() > MAX_EPOCHS {
            return Err(ConvertError::new(
                "epochs",
                format!("{} epochs, expected 1 to {MAX_EPOCHS}", req.epochs.len()),
            ));
        }
        let mut epochs: Vec<Epoch> = Vec::with_capacity(req.epochs.len());
        for e in req.epochs {
            let previous = epochs.last().map_or(0, |p| p.epoch);
            if e.epoch <= previous {
                return Err(ConvertError::new(
                    "epochs",
                    if previous == 0 {
                        "epochs count from 1".to_string()
                    } else {
                        format!(
                            "epoch {} follows epoch {previous}: epochs must increase",
                            e.epoch
                        )
                    },
                ));
            }
            epochs.push(Epoch {
                epoch: e.epoch,
                metrics: metrics_from_pb(e.metrics)?,
            });
        }
        Ok(Report {
            worker_id: req.worker_id,
            lease: req.lease.try_into()?,
            epochs,
        })
    }
}

impl From<StopDecision> for pb::StopDecision {
    fn from(stop: StopDecision) -> Self {
        pb::StopDecision {
            rule: stop.rule,
            epoch: stop.epoch,
            value: stop.value,
            threshold: stop.threshold,
            explanation: stop.explanation,
        }
    }
}

impl From<pb::StopDecision> for StopDecision {
    fn from(stop: pb::StopDecision) -> Self {
        StopDecision {
            rule: stop.rule,
            epoch: stop.epoch,
            value: stop.value,
            threshold: stop.threshold,
            explanation: stop.explanation,
        }
    }
}

// ---- complete ----

impl From<Completion> for pb::CompleteRequest {
    fn from(completion: Completion) -> Self {
        use pb::complete_request::Outcome as Wire;
        let outcome = match completion.outcome {
            Outcome::Finished(metrics) => Wire::Finished(pb::Finished {
                metrics: metrics_to_pb(&metrics),
            }),
            Outcome::Pruned => Wire::Pruned(pb::Pruned {}),
            Outcome::Failed { error, kind } => Wire::Failed(pb::Failed {
                error,
                kind: match kind {
                    FailureKind::User => pb::FailureKind::User,
                    FailureKind::Infrastructure => pb::FailureKind::Infrastructure,
                    FailureKind::Preempted => pb::FailureKind::Preempted,
                }
                .into(),
            }),
        };
        pb::CompleteRequest {
            worker_id: completion.worker_id,
            lease: Some(completion.lease.into()),
            outcome: Some(outcome),
            next_max_trials: completion.next_max_trials,
        }
    }
}

impl TryFrom<pb::CompleteRequest> for Completion {
    type Error = ConvertError;
    fn try_from(req: pb::CompleteRequest) -> Result<Self, ConvertError> {
        use pb::complete_request::Outcome as Wire;
        let outcome = match req.outcome {
            Some(Wire::Finished(finished)) => Outcome::Finished(metrics_from_pb(finished.metrics)?),
            Some(Wire::Pruned(_)) => Outcome::Pruned,
            Some(Wire::Failed(failed)) => {
                let kind = match pb::FailureKind::try_from(failed.kind) {
                    Ok(pb::FailureKind::User) => FailureKind::User,
                    Ok(pb::FailureKind::Infrastructure) => FailureKind::Infrastructure,
                    Ok(pb::FailureKind::Preempted) => FailureKind::Preempted,
                    _ => {
                        return Err(ConvertError::new(
                            "failed.kind",
                            format!("unknown value {}", failed.kind),
                        ));
                    }
                };
                Outcome::Failed {
                    error: bounded("failed.error", failed.error, MAX_ERROR_BYTES)?,
                    kind,
                }
            }
            None => return Err(ConvertError::new("outcome", "missing")),
        };
        Ok(Completion {
            worker_id: req.worker_id,
            lease: req.lease.try_into()?,
            outcome,
            next_max_trials: req.next_max_trials,
        })
    }
}

impl From<LeaseGrant> for pb::CompleteReply {
    fn from(next: LeaseGrant) -> Self {
        pb::CompleteReply {
            next: Some(next.into()),
        }
    }
}

impl TryFrom<pb::CompleteReply> for LeaseGrant {
    type Error = ConvertError;
    fn try_from(reply: pb::CompleteReply) -> Result<Self, ConvertError> {
        match reply.next {
            Some(next) => next.try_into(),
            None => Ok(LeaseGrant::Trials(Vec::new())),
        }
    }
}

// ---- heartbeat ----

impl From<Heartbeat> for pb::HeartbeatRequest {
    fn from(heartbeat: Heartbeat) -> Self {
        pb::HeartbeatRequest {
            worker_id: heartbeat.worker_id,
            leases: heartbeat.leases.into_iter().map(Into::into).collect(),
        }
    }
}

impl TryFrom<pb::HeartbeatRequest> for Heartbeat {
    type Error = ConvertError;
    fn try_from(req: pb::HeartbeatRequest) -> Result<Self, ConvertError> {
        Ok(Heartbeat {
            worker_id: req.worker_id,
            leases: leases_from_pb(req.leases)?,
        })
    }
}

/// The leases of a heartbeat reply (or request), validated.
pub(crate) fn leases_from_pb(leases: Vec<pb::LeaseRef>) -> Result<Vec<LeaseId>, ConvertError> {
    leases
        .into_iter()
        .map(|lease| LeaseId::try_from(Some(lease)))
        .collect()
}

impl From<Vec<LeaseId>> for pb::HeartbeatReply {
    fn from(lost: Vec<LeaseId>) -> Self {
        pb::HeartbeatReply {
            lost: lost.into_iter().map(Into::into).collect(),
        }
    }
}

impl TryFrom<pb::HeartbeatReply> for Vec<LeaseId> {
    type Error = ConvertError;
    fn try_from(reply: pb::HeartbeatReply) -> Result<Self, ConvertError> {
        leases_from_pb(reply.lost)
    }
}

#[cfg(test)]
mod tests;
