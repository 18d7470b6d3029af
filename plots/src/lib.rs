//! A study's charts as PNG and SVG files, drawn with plotters from the aggregates of
//! `hypersearch-insight` (so a chart's cost is bounded by what it draws, not by the study's
//! size). PNG text is rendered from the bundled DejaVu Sans: no system font is needed.
//!
//! Layout:
//! - this file: [`ImageFormat`], [`PlotError`], [`save`] (one chart to one file);
//! - [`style`]: colours, the value scale (linear or log), number labels;
//! - [`history`], [`curves`], [`importance`], [`parallel`], [`slices`], [`timeline`],
//!   [`pareto`] (several objectives): the study charts; [`run`]: one training run's loss and accuracy.
//!
//! ```no_run
//! # let trials: hypersearch_insight::StudyTrials = unimplemented!();
//! let history = hypersearch_insight::history::history(&trials);
//! let chart = hypersearch_plots::history::HistoryChart(&history);
//! hypersearch_plots::save(&chart, "history.png".as_ref(), hypersearch_plots::ImageFormat::Png)?;
//! # Ok::<(), hypersearch_plots::PlotError>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

pub mod curves;
pub mod history;
pub mod importance;
pub mod parallel;
pub mod pareto;
pub mod run;
pub mod slices;
pub mod style;
pub mod timeline;

/// The text font of every chart (regular weight), registered with plotters once.
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// The family name charts ask for.
pub(crate) const FAMILY: &str = "sans-serif";

/// A chart file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// A PNG bitmap.
    Png,
    /// An SVG drawing (text stays text).
    Svg,
}

impl ImageFormat {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Svg => "svg",
        }
    }
}

/// Why a chart was not written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Drawing or writing the file failed.
    #[error("cannot write the chart {path}: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What plotters or the file system said.
        message: String,
    },
    /// The bundled font did not load (a broken build).
    #[error("the bundled font does not load")]
    Font,
}

/// The error a chart's drawing returns: plotters' own, whatever the backend.
pub type DrawResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A chart that draws itself on any plotters backend.
pub trait Chart {
    /// Its size in pixels (width, height).
    fn size(&self) -> (u32, u32) {
        (1000, 600)
    }

    /// Draws it on `root` (already filled white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// Writes `chart` to `path` as `format`.
pub fn save(chart: &impl Chart, path: &Path, format: ImageFormat) -> Result<(), PlotError> {
    register_font()?;
    let failed = |message: String| PlotError::Write {
        path: path.to_path_buf(),
        message,
    };
    let size = chart.size();
    match format {
        ImageFormat::Png => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            finish(chart, &root).map_err(failed)
        }
        ImageFormat::Svg => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            finish(chart, &root).map_err(failed)
        }
    }
}

/// Fills `root`, draws `chart` on it and writes the file.
fn finish<DB: DrawingBackend>(
    chart: &impl Chart,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|err| err.to_string())?;
    chart.draw(root).map_err(|err| err.to_string())?;
    root.present().map_err(|err| err.to_string())
}

/// The axes every chart shares: tick labels and axis titles in the bundled font, no light
/// grid lines. Each chart adds its own titles and formatters.
pub(crate) fn house_mesh<'m, 'a, 'b, X, Y, XT, YT, DB>(
    mesh: &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>
where
    X: plotters::coord::ranged1d::Ranged<ValueType = XT>
        + plotters::coord::ranged1d::ValueFormatter<XT>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = YT>
        + plotters::coord::ranged1d::ValueFormatter<YT>,
    DB: DrawingBackend,
{
    mesh.label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .light_line_style(WHITE.mix(0.0))
}

/// Registers the bundled font under [`FAMILY`] (once per process).
fn register_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok { Ok(()) } else { Err(PlotError::Font) }
}

/// A message in the middle of an empty chart ("no complete trial yet").
pub(crate) fn nothing_yet<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    message: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (width, height) = root.dim_in_pixel();
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let center =
        TextStyle::from((FAMILY, 22).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    root.draw_text(title, &center, (width as i32 / 2, height as i32 / 3))?;
    root.draw_text(
        message,
        &center.color(&style::MUTED),
        (width as i32 / 2, height as i32 / 2),
    )?;
    Ok(())
}

/// A chart of two float axes, as every chart here draws on.
pub(crate) type FloatChart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Draws the series' legend at `position` in the house style (`size`-point text on a
/// translucent white box with a grey border).
pub(crate) fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut FloatChart<'a, DB>,
    position: SeriesLabelPosition,
    size: u32,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FAMILY, size))
        .background_style(WHITE.mix(0.85))
        .border_style(style::MUTED)
        .draw()?;
    Ok(())
}

/// Where a legend goes when the values climb towards the top (`maximize`: low right) or fall
/// towards the bottom (up right): away from where the best values lie.
pub(crate) fn away_from_the_best(maximize: bool) -> SeriesLabelPosition {
    if maximize {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperRight
    }
}

/// The label of a row axis whose rows sit at whole positions `count - 1` (the first row, on
/// top) down to 0: `label(row index)` at a whole position, nothing between rows.
pub(crate) fn row_label(count: usize, y: f64, label: impl Fn(usize) -> Option<String>) -> String {
    let at = count as f64 - 1.0 - y.round();
    if y.fract().abs() < 1e-9 && at >= 0.0 {
        label(at as usize).unwrap_or_default()
    } else {
        String::new()
    }
}
