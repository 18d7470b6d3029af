//! The files in `deploy/`, used for real where this machine allows it: the image built from
//! `deploy/docker` and run by `deploy/compose` in a Docker engine the test starts, the Slurm
//! scripts in a one-node cluster the test starts, the systemd units checked by
//! `systemd-analyze`, and the Kubernetes manifests rendered by `kubectl kustomize`, validated
//! against the API's schemas and their command lines run against the real binary. The tools
//! come from `./test.sh` (Debian packages, and a Python virtual environment for `kubectl`
//! and `kubernetes-validate` named by `HYPERSEARCH_TEST_TOOLS`); a missing tool fails the
//! test, naming what installs it.

pub use crate::harness::tool;
use crate::harness::{Proc, Scratch};

mod compose;
mod kubernetes;
mod slurm;
mod systemd;

/// Starts `hypersearch ARGS` (a command line taken from a deploy file) with `env` from
/// `dir`, its stderr in the file `log` there.
pub fn start(dir: &Scratch, args: &[String], env: &[(String, String)], log: &str) -> Proc {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    dir.spawn_logged_with_env(&args, log, &env)
}
