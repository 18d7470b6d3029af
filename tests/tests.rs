//! End-to-end tests: real `hypersearch` processes talking real gRPC on port 0 and writing
//! real SQLite files in temporary directories; each ends with `PRAGMA integrity_check`.
//! The heavy ones (training, many processes) take [`harness::heavy`] so they run one at a
//! time on CI's two cores.

mod harness;

mod architecture_cost;
mod checkpoints;
mod cluster;
mod command_limits;
mod conditions;
mod damaged_database;
mod dashboard;
mod data_transfer;
mod deploy;
mod deterministic;
mod docs;
mod evolution;
mod faults;
mod hostile_clients;
mod hostile_models;
mod hostile_workers;
mod importance;
mod models;
mod objectives;
mod onnx;
mod operations;
mod plot;
mod postgres;
mod pruning;
mod pruning_objectives;
mod refusals;
mod replay;
mod rerun;
mod run;
mod terminal;
mod tls;
mod train_cli;
mod training_keys;
mod worker_limits;
