//! What `train` keeps of the trained network: the ONNX model (`--onnx`) and the predictions
//! on the held-out split (`--predictions`), the file a comparison with another runtime reads.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nn_core::model::predictions;
use nn_core::ndarray::Array2;
use nn_core::{Dataset, Split, Trained};

/// `train`'s flags for the trained network itself (docs/MODELS.md).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ArtifactArgs {
    /// Quantize the trained network to int8 (as `[training] quantize = "int8"`) and report
    /// its accuracy and size next to f32's.
    #[arg(long)]
    pub int8: bool,
    /// Write the trained network as an ONNX model to FILE (int8 in QDQ form when quantizing).
    #[arg(long, value_name = "FILE")]
    pub onnx: Option<PathBuf>,
    /// Write the predictions on the test split (else the validation split) to FILE as CSV:
    /// split, row in its file, label, predicted class, each class's probability, and the
    /// int8 model's predicted class when quantizing.
    #[arg(long, value_name = "FILE")]
    pub predictions: Option<PathBuf>,
}

/// The split `--predictions` covers: the test split, else the validation split.
fn held_out(data: &Dataset) -> Option<(&'static str, Split<'_>)> {
    match data.test() {
        Some(test) => Some(("test", test)),
        None => Some(("validation", data.validation())).filter(|(_, s)| !s.is_empty()),
    }
}

/// Refuses, before training, flags the data set cannot satisfy.
pub fn check(data: &Dataset, artifacts: &ArtifactArgs) -> anyhow::Result<()> {
    if let Some(path) = &artifacts.predictions
        && held_out(data).is_none()
    {
        bail!(
            "--predictions {}: the data set has no test split and data.validation_fraction is 0, \
             so there is no held-out sample to predict",
            path.display()
        );
    }
    Ok(())
}

/// Writes the files `artifacts` asks for.
pub fn write(trained: &Trained, data: &Dataset, artifacts: &ArtifactArgs) -> anyhow::Result<()> {
    if let Some(path) = &artifacts.onnx {
        let (bytes, precision) = match &trained.int8 {
            Some(int8) => (hypersearch_onnx::int8(int8), "int8 QDQ"),
            None => (hypersearch_onnx::fp32(&trained.model), "f32"),
        };
        std::fs::write(path, &bytes)
            .with_context(|| format!("cannot write the ONNX model {}", path.display()))?;
        eprintln!(
            "wrote {} ({precision}, {} bytes)",
            path.display(),
            bytes.len()
        );
    }
    if let Some(path) = &artifacts.predictions {
        write_predictions(trained, data, path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// `split,row,label,predicted,p_0..p_{k-1}[,int8_predicted]`, one line per held-out sample;
/// `row` is the sample's index in its file (the test file, or the training file for the
/// validation split), probabilities as the f32 model computes them (shortest exact decimal).
fn write_predictions(trained: &Trained, data: &Dataset, path: &Path) -> anyhow::Result<()> {
    let Some((name, split)) = held_out(data) else {
        bail!("no held-out split to predict");
    };
    let mut x = Array2::zeros((split.len(), split.features()));
    for (i, mut row) in x.rows_mut().into_iter().enumerate() {
        row.assign(&split.sample(i).0);
    }
    let logits = trained.model.logits(x.view());
    let predicted = predictions(logits.view());
    let probabilities = nn_core::model::softmax(logits);
    let int8 = trained.int8.as_ref().map(|q| q.predict(&split));
    let context = || format!("cannot write the predictions {}", path.display());
    let mut out = BufWriter::new(std::fs::File::create(path).with_context(context)?);
    let classes: Vec<String> = (0..probabilities.ncols())
        .map(|c| format!("p_{c}"))
        .collect();
    let int8_column = if int8.is_some() {
        ",int8_predicted"
    } else {
        ""
    };
    writeln!(
        out,
        "split,row,label,predicted,{}{int8_column}",
        classes.join(",")
    )
    .with_context(context)?;
    for (i, p) in probabilities.rows().into_iter().enumerate() {
        let (_, label) = split.sample(i);
        write!(out, "{name},{},{label},{}", split.row(i), predicted[i]).with_context(context)?;
        for v in p {
            write!(out, ",{v}").with_context(context)?;
        }
        if let Some(int8) = &int8 {
            write!(out, ",{}", int8[i]).with_context(context)?;
        }
        writeln!(out).with_context(context)?;
    }
    out.flush().with_context(context)
}
