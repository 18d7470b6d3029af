//! `hypersearch plot`: a study's charts as PNG and SVG files, one file per chart.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use hypersearch_coordinator::store::TrialState;
use hypersearch_coordinator::store::query::{TrialOrder, TrialSummary};
use hypersearch_insight::{curves, history, params, timeline};
use hypersearch_plots::pareto::{Objective as ParetoObjective, Point as ParetoPoint};
use hypersearch_plots::{Chart, ImageFormat};
use hypersearch_search::StudyConfig;

use crate::cli::StudyArg;

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
    It writes history, curves, importance, parallel, timeline and one slice-PARAM chart\n    per parameter; a study with several objectives also gets pareto (its first two).")]
pub struct PlotArgs {
    #[command(flatten)]
    study: StudyArg,
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
    let (trials, spans, config, complete) = args.study.read(async |db, study| {
        let trials = db.study_trials(&study).await?;
        let spans = db.attempt_spans(&study).await?;
        let config = db.study_config(&study).await?;
        let parsed = StudyConfig::from_toml_str(&config, &trials.study).ok();
        // Only a study with several objectives has a Pareto chart, which needs every
        // complete trial's metrics.
        let complete = match parsed.as_ref().filter(|c| c.objectives.is_multi()) {
            Some(_) => Some(
                db.trials(&study, Some(TrialState::Complete), TrialOrder::Number)
                    .await?,
            ),
            None => None,
        };
        Ok((trials, spans, parsed, complete))
    })?;
    let space = config.as_ref().map(|config| config.space.clone());
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
    let history = history::history(&trials);
    let curves = curves::curves(&trials);
    // Too few trials to rank the parameters is a chart that says so, not an error.
    let importance = hypersearch_insight::importance(&trials, space.as_ref()).unwrap_or_default();
    let table = params::param_table(&trials, space.as_ref());
    let timeline = timeline::timeline(&spans, now);
    let pareto = pareto_chart(config.as_ref(), complete);
    let mut jobs: Vec<(String, Job<'_>)> = vec![
        (
            "history".into(),
            job(hypersearch_plots::history::HistoryChart(&history)),
        ),
        (
            "curves".into(),
            job(hypersearch_plots::curves::CurvesChart(&curves)),
        ),
        (
            "importance".into(),
            job(hypersearch_plots::importance::ImportanceChart {
                metric: &trials.metric,
                bars: &importance,
            }),
        ),
        (
            "parallel".into(),
            job(hypersearch_plots::parallel::ParallelChart(&table)),
        ),
    ];
    for column in &table.columns {
        let chart = hypersearch_plots::slices::SliceChart {
            table: &table,
            column,
        };
        jobs.push((format!("slice-{}", file_stem(&column.name)), job(chart)));
    }
    jobs.push((
        "timeline".into(),
        job(hypersearch_plots::timeline::TimelineChart(&timeline)),
    ));
    if let Some((axes, points)) = &pareto {
        jobs.push((
            "pareto".into(),
            job(hypersearch_plots::pareto::ParetoChart {
                study: &trials.study,
                x: &axes[0],
                y: &axes[1],
                more_objectives: axes.len() - 2,
                points,
            }),
        ));
    }
    let out = args.out.as_path();
    let files: Vec<(PathBuf, &Job<'_>, ImageFormat)> = jobs
        .iter()
        .flat_map(|(stem, draw)| {
            formats.iter().map(move |&format| {
                (
                    out.join(format!("{stem}.{}", format.extension())),
                    draw,
                    format,
                )
            })
        })
        .collect();
    write_all(&files)?;
    let written: Vec<&PathBuf> = files.iter().map(|(path, _, _)| path).collect();
    println!(
        "wrote {} charts of study `{}` ({} trials) to {} in {:.2} s:",
        written.len(),
        trials.study,
        trials.rows.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    for path in written {
        println!("  {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// One chart, ready to be drawn into a file of a format.
type Job<'a> =
    Box<dyn Fn(&Path, ImageFormat) -> Result<(), hypersearch_plots::PlotError> + Sync + 'a>;

/// `chart` as a [`Job`].
fn job<'a>(chart: impl Chart + Sync + 'a) -> Job<'a> {
    Box::new(move |path, format| hypersearch_plots::save(&chart, path, format))
}

/// Draws every file, on as many threads as there are cores (rasterizing and encoding the
/// PNGs is most of the command's time); the first error is returned.
fn write_all(files: &[(PathBuf, &Job<'_>, ImageFormat)]) -> anyhow::Result<()> {
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    while let Some((path, draw, format)) =
                        files.get(next.fetch_add(1, Ordering::Relaxed))
                    {
                        draw(path, *format)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a chart's drawing thread panicked"))??;
        }
        Ok(())
    })
}

/// The Pareto chart's objectives and points, for a study with several objectives.
fn pareto_chart(
    config: Option<&StudyConfig>,
    complete: Option<Vec<TrialSummary>>,
) -> Option<(Vec<ParetoObjective>, Vec<ParetoPoint>)> {
    let objectives = &config?.objectives;
    let judged = super::pareto::judge_all(objectives, complete?);
    Some((
        hypersearch_insight::pareto::axes(objectives),
        super::pareto::chart_points(objectives, &judged),
    ))
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
