//! `hypersearch model`: the trained network of a stored trial, as the coordinator kept it
//! (`[study] keep_models`), written as an ONNX model in f32 or int8 (docs/MODELS.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use hypersearch_coordinator::store::query::{KeptModel, TrialDetail};
use nn_core::model::file::KeptModel as ModelFile;

use crate::cli::StudyArg;

/// `hypersearch model`'s command line.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  hypersearch model 12 --out best.onnx\n  \
    hypersearch model --db runs.db --study digits-search 12 --out best-int8.onnx --int8\n  \
    hypersearch model \"$(hypersearch best --top 1 --format json | jq '.[0].trial')\" --out best.onnx\n\n\
    The coordinator keeps the networks of the best [study] keep_models complete trials \
    (default 10). Any other trial is trained again with `hypersearch train --trial N --onnx FILE`: \
    the same seed gives the same network.")]
pub struct ModelArgs {
    #[command(flatten)]
    study: StudyArg,
    /// The trial whose network to write.
    trial: u64,
    /// Where to write the ONNX model.
    #[arg(long, value_name = "FILE.onnx")]
    out: PathBuf,
    /// Quantize to int8 (QDQ form), at the activation scales calibrated on training samples
    /// when the trial trained: the model `train --int8` writes for the same run.
    #[arg(long)]
    int8: bool,
}

/// What the database holds of the trial.
enum Found {
    /// Its kept network.
    Kept(KeptModel),
    /// No network: the trial, and the trials whose networks are kept.
    NotKept(Box<TrialDetail>, Vec<u64>),
}

/// Writes the kept network of the trial as ONNX; a trial without one is an error that says
/// why and how to train it again.
pub fn run(args: &ModelArgs) -> anyhow::Result<ExitCode> {
    let number = args.trial;
    let (study, found) = args.study.read(async |db, study| {
        let found = match db.kept_model(&study, number).await? {
            Some(kept) => Found::Kept(kept),
            None => {
                let detail = db.trial(&study, number).await?;
                Found::NotKept(Box::new(detail), db.kept_model_trials(&study).await?)
            }
        };
        Ok((study.name, found))
    })?;
    let kept = match found {
        Found::Kept(kept) => kept,
        Found::NotKept(detail, kept) => bail!("{}", not_kept(args, &study, &detail, &kept)),
    };
    let file = ModelFile::decode(&kept.model).with_context(|| {
        format!("the kept network of trial {number} of study `{study}` cannot be read")
    })?;
    let (bytes, precision) = if args.int8 {
        let int8 = file
            .int8()
            .with_context(|| format!("the kept network of trial {number} cannot be quantized"))?;
        (hypersearch_onnx::int8(&int8), "int8 QDQ")
    } else {
        (hypersearch_onnx::fp32(&file.model), "f32")
    };
    std::fs::write(&args.out, &bytes)
        .with_context(|| format!("cannot write the ONNX model {}", args.out.display()))?;
    eprintln!(
        "wrote {} (trial {number} of study `{study}`, attempt {}, {precision}, {} bytes)",
        args.out.display(),
        kept.attempt,
        bytes.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Why trial `detail` has no kept network, and the commands that train it again.
fn not_kept(args: &ModelArgs, study: &str, detail: &TrialDetail, kept: &[u64]) -> String {
    let number = args.trial;
    let state = detail.summary.state.as_str();
    let why = if state != "complete" {
        format!("it is {state}, and only complete trials keep their networks")
    } else if kept.is_empty() {
        "the study keeps none ([study] keep_models = 0, or the models were not sent)".to_string()
    } else {
        let list: Vec<String> = kept.iter().map(u64::to_string).collect();
        format!(
            "the study keeps the networks of its best [study] keep_models complete trials: {}",
            list.join(", ")
        )
    };
    let params = serde_json::to_string(&detail.summary.params).unwrap_or_default();
    let int8 = if args.int8 { " --int8" } else { "" };
    let out = args.out.display();
    format!(
        "trial {number} of study `{study}` has no kept network: {why}. Train it again (the \
         same seed gives the same network): `hypersearch train --trial {number} --db {} \
         --study {study}{int8} --onnx {out}`, or from the study file: `hypersearch train \
         STUDY.toml --params '{params}'{int8} --onnx {out}`",
        args.study.db.db.display()
    )
}
