//! The distributed system under faults (issue 5), each with real processes and a real
//! database file: workers killed mid-trial, a worker paused past its lease, the coordinator
//! killed at random points and restarted on the same file (and on a new one), and many
//! workers racing for zero-cost trials. Each ends with `PRAGMA integrity_check`.

mod hand;
mod killed_coordinator;
mod killed_workers;
mod lease_race;
mod paused_worker;
mod retries;
pub(crate) mod support;
mod terminated_worker;
