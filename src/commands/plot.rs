//! `hypersearch plot`: a study's charts as PNG and SVG files, one file per chart.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use hypersearch_insight::{curves, history, params, timeline};
use hypersearch_plots::{Chart, ImageFormat};
use hypersearch_search::{SearchSpace, StudyConfig};

use super::query::with_database;
use crate::cli::DbArg;

/// The image formats `plot --format` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlotFormat {
    /// PNG bitmaps.
    Png,
    /// SVG drawings.
    Svg,
    /// Both, side by side.
    Both,
}

/// `hypersearch plot`'s arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  hypersearch plot --out charts\n  \
    hypersearch plot --db runs.db --study digits-search --out charts --format both\n\n\
    It writes history, curves, importance, parallel, timeline and one slice-PARAM chart\n    per parameter.")]
pub struct PlotArgs {
    #[command(flatten)]
    db: DbArg,
    /// The study; may be left out when the database holds one.
    #[arg(long)]
    study: Option<String>,
    /// The directory to write the charts in (made when missing).
    #[arg(long)]
    out: PathBuf,
    /// Image format.
    #[arg(long, value_enum, default_value_t = PlotFormat::Png)]
    format: PlotFormat,
}

/// `hypersearch plot`.
pub fn run(args: PlotArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (trials, spans, config) = with_database(&args.db.db, async |db| {
        let study = db.study(args.study.as_deref()).await?;
        let trials = db.study_trials(&study).await?;
        let spans = db.attempt_spans(&study).await?;
        let config = db.study_config(&study).await?;
        Ok((trials, spans, config))
    })?;
    let space = study_space(&config, &trials.study);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot make the output directory {}", args.out.display()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs_f64())
        .unwrap_or(0.0);
    let formats: &[ImageFormat] = match args.format {
        PlotFormat::Png => &[ImageFormat::Png],
        PlotFormat::Svg => &[ImageFormat::Svg],
        PlotFormat::Both => &[ImageFormat::Png, ImageFormat::Svg],
    };
    let mut out = Charts {
        dir: &args.out,
        formats,
        written: Vec::new(),
    };
    let history = history::history(&trials);
    out.write(
        "history",
        &hypersearch_plots::history::HistoryChart(&history),
    )?;
    let curves = curves::curves(&trials);
    out.write("curves", &hypersearch_plots::curves::CurvesChart(&curves))?;
    // Too few trials to rank the parameters is a chart that says so, not an error.
    let importance = hypersearch_insight::importance(&trials, space.as_ref()).unwrap_or_default();
    let chart = hypersearch_plots::importance::ImportanceChart {
        metric: &trials.metric,
        bars: &importance,
    };
    out.write("importance", &chart)?;
    let table = params::param_table(&trials, space.as_ref());
    out.write(
        "parallel",
        &hypersearch_plots::parallel::ParallelChart(&table),
    )?;
    for column in &table.columns {
        let chart = hypersearch_plots::slices::SliceChart {
            table: &table,
            column,
        };
        out.write(&format!("slice-{}", file_stem(&column.name)), &chart)?;
    }
    let timeline = timeline::timeline(&spans, now);
    out.write(
        "timeline",
        &hypersearch_plots::timeline::TimelineChart(&timeline),
    )?;
    println!(
        "wrote {} charts of study `{}` ({} trials) to {} in {:.2} s:",
        out.written.len(),
        trials.study,
        trials.rows.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    for path in &out.written {
        println!("  {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Where charts go and in which formats; what has been written.
struct Charts<'a> {
    dir: &'a Path,
    formats: &'a [ImageFormat],
    written: Vec<PathBuf>,
}

impl Charts<'_> {
    /// Writes `chart` as `stem.png` and/or `stem.svg`.
    fn write(&mut self, stem: &str, chart: &impl Chart) -> anyhow::Result<()> {
        for &format in self.formats {
            let path = self.dir.join(format!("{stem}.{}", format.extension()));
            hypersearch_plots::save(chart, &path, format)?;
            self.written.push(path);
        }
        Ok(())
    }
}

/// The search space of the study's stored config, when it still parses (axes then follow
/// the space's ranges and scales; without it they follow the values).
fn study_space(config: &str, study: &str) -> Option<SearchSpace> {
    StudyConfig::from_toml_str(config, study)
        .ok()
        .map(|config| config.space)
}

/// A parameter name as part of a file name: letters, digits, `-` and `_` kept, the rest `_`.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
