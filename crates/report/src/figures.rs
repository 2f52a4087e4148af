//! Figures as SVG and PNG. Text is laid out with a TrueType font found at run time
//! (`GEOBATCH_FONT`, else DejaVu Sans or Liberation Sans in the usual places); without one no
//! figure is drawn and the report says so.

use crate::ResultsError;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Pixel size of every figure.
pub const SIZE: (u32, u32) = (800, 500);

/// Line and bar colours, one per series (the 12 of ColorBrewer's "Paired", dark first).
const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 120, 180),
    RGBColor(51, 160, 44),
    RGBColor(227, 26, 28),
    RGBColor(255, 127, 0),
    RGBColor(106, 61, 154),
    RGBColor(177, 89, 40),
    RGBColor(166, 206, 227),
    RGBColor(178, 223, 138),
    RGBColor(251, 154, 153),
    RGBColor(253, 191, 111),
    RGBColor(202, 178, 214),
    RGBColor(120, 120, 120),
];

/// One named series of (x, y) points.
pub type Series = (String, Vec<(f64, f64)>);

fn font_candidates() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::env::var_os("GEOBATCH_FONT")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    for p in [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
        "/Library/Fonts/Arial.ttf",
        "/System/Library/Fonts/Supplemental/Arial.ttf",
        "C:\\\\Windows\\\\Fonts\\\\arial.ttf",
    ] {
        v.push(PathBuf::from(p));
    }
    v
}

/// Registers a TrueType font for figure text once; whether one was found.
pub fn font_available() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    *FOUND.get_or_init(|| {
        for p in font_candidates() {
            if let Ok(bytes) = std::fs::read(&p) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

fn fail(path: &Path) -> impl Fn(String) -> ResultsError + '_ {
    move |m| ResultsError::Write {
        path: path.to_path_buf(),
        message: m,
    }
}

/// Draws one figure into `<stem>.svg` and `<stem>.png` with `$draw(&root)` (a function generic
/// over the drawing backend); nothing without a font. Evaluates to the files written.
macro_rules! render {
    ($stem:expr, $draw:expr) => {{
        let stem: &Path = $stem;
        let mut files = Vec::new();
        if font_available() {
            let svg = stem.with_extension("svg");
            {
                let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
                $draw(&root).map_err(fail(&svg))?;
                root.present().map_err(|e| fail(&svg)(e.to_string()))?;
            }
            files.push(svg);
            let png = stem.with_extension("png");
            {
                let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
                $draw(&root).map_err(fail(&png))?;
                root.present().map_err(|e| fail(&png)(e.to_string()))?;
            }
            files.push(png);
        }
        Ok(files)
    }};
}

/// A line chart (x on a log2 axis when `log2_x`).
pub fn line_chart(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log2_x: bool,
) -> Result<Vec<PathBuf>, ResultsError> {
    render!(stem, |root| lines_on(
        root, title, x_label, y_label, series, log2_x
    ))
}

fn bounds(series: &[Series], log2_x: bool) -> ((f64, f64), (f64, f64)) {
    let tx = |x: f64| if log2_x { x.max(1e-9).log2() } else { x };
    let pts = series
        .iter()
        .flat_map(|s| s.1.iter())
        .filter(|p| p.0.is_finite() && p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(tx(x));
        x1 = x1.max(tx(x));
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    let pad = |a: f64, b: f64| {
        let d = if (b - a).abs() < 1e-9 * a.abs().max(1.0) {
            0.1 * a.abs().max(1.0)
        } else {
            (b - a) * 0.08
        };
        (a - d, b + d)
    };
    (pad(x0, x1), pad(y0.min(0.0f64.max(y0)), y1))
}

fn lines_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log2_x: bool,
) -> Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let ((x0, x1), (y0, y1)) = bounds(series, log2_x);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|x| {
            if log2_x {
                if (x - x.round()).abs() < 0.02 {
                    format!("{:.0}", 2f64.powf(x.round()))
                } else {
                    String::new()
                }
            } else if x.abs() >= 10.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.3}")
            }
        })
        .draw()
        .map_err(e)?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = pts
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|&(x, y)| (if log2_x { x.log2() } else { x }, y))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
            .map_err(e)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
            .map_err(e)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    Ok(())
}

/// A bar chart of (label, value) pairs.
pub fn bar_chart(
    stem: &Path,
    title: &str,
    y_label: &str,
    bars: &[(String, f64)],
) -> Result<Vec<PathBuf>, ResultsError> {
    render!(stem, |root| bars_on(root, title, y_label, bars))
}

fn bars_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    y_label: &str,
    bars: &[(String, f64)],
) -> Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let top = bars
        .iter()
        .map(|b| b.1)
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max)
        * 1.1;
    let n = bars.len().max(1) as i32;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((0..n).into_segmented(), 0f64..top)
        .map_err(e)?;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc(y_label)
        .draw()
        .map_err(e)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let c = PALETTE[i % PALETTE.len()];
            let mut r = Rectangle::new(
                [
                    (SegmentValue::Exact(i as i32), 0.0),
                    (SegmentValue::Exact(i as i32 + 1), v.max(0.0)),
                ],
                c.filled(),
            );
            r.set_margin(0, 0, 12, 12);
            r
        }))
        .map_err(e)?;
    Ok(())
}

/// A heat map of a square matrix of p-values (rows and columns named by `names`).
pub fn heatmap(
    stem: &Path,
    title: &str,
    names: &[String],
    p: &[Vec<Option<f64>>],
) -> Result<Vec<PathBuf>, ResultsError> {
    render!(stem, |root| heat_on(root, title, names, p))
}

fn heat_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    names: &[String],
    p: &[Vec<Option<f64>>],
) -> Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let n = names.len().max(1) as i32;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(110)
        .build_cartesian_2d((0..n).into_segmented(), (0..n).into_segmented())
        .map_err(e)?;
    let label = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_label_formatter(&label)
        .y_label_formatter(&label)
        .draw()
        .map_err(e)?;
    for (i, row) in p.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            let (fill, text) = match v {
                // dark for small p (strong evidence), light for p near 1
                Some(p) => {
                    let shade = (255.0 * p.clamp(0.0, 1.0)) as u8;
                    (RGBColor(255, shade, shade), format!("{p:.3}"))
                }
                None => (RGBColor(230, 230, 230), "-".to_string()),
            };
            let (x, y) = (j as i32, i as i32);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [
                        (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                    ],
                    fill.filled(),
                )))
                .map_err(e)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    text,
                    (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                    ("sans-serif", 16).into_font(),
                )))
                .map_err(e)?;
        }
    }
    Ok(())
}
