//! Charts: rendering of the figure data model ([`super::chart`]) to PNG or
//! SVG with plotters (the `plot` feature). The numbers come from
//! [`super::series`] (pure, in the core); this module only draws what it is
//! given. Both are re-exported here, so `report::plot::series` and
//! `report::plot::Figure` keep working.
//!
//! Bitmap text needs a font: DejaVu Sans (assets/fonts/, Bitstream Vera
//! licence) is embedded and registered with plotters' ab_glyph backend, so
//! PNGs render the same on any machine, with no system fonts. SVG output
//! keeps every label as `<text>`.

pub use super::chart::{Axis, Figure, Guide, Panel, Series, Style};
pub use super::series;

use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_backend::{BackendColor, BackendCoord, DrawingErrorKind};
use std::path::Path;
use std::sync::Once;

/// The embedded font (DejaVu Sans 2.37; licence in assets/fonts/LICENSE-DejaVu.txt).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// Font family name the charts ask plotters for.
const FAMILY: &str = "sans-serif";
/// Image size, pixels.
const SIZE: (u32, u32) = (1280, 760);
/// Width of the legend column to the right of each panel, pixels.
const LEGEND_WIDTH: u32 = 380;

/// Output image formats, chosen by the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// Portable Network Graphics (bitmap, text rasterised with the embedded font).
    Png,
    /// Scalable Vector Graphics (text kept as text).
    Svg,
}

impl ImageFormat {
    /// The format for `path`'s extension (.png or .svg, any case); anything
    /// else is an error on the field `out`.
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("png") => Ok(ImageFormat::Png),
            Some("svg") => Ok(ImageFormat::Svg),
            other => Err(Error::input(
                "out",
                format!(
                    "'{}': {}; name the file .png (bitmap) or .svg (vector), e.g. --out memory.png",
                    path.display(),
                    match other {
                        None => "has no extension".to_string(),
                        Some(e) => format!("'.{e}' is not a supported image format"),
                    }
                ),
            )),
        }
    }
}

/// Series colours (Tableau 10: distinguishable, colour-blind friendly order).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
/// Guide colours: capacity-like lines dark, limits red, the rest grey.
const GUIDE_COLORS: [RGBColor; 4] = [
    RGBColor(20, 20, 20),
    RGBColor(200, 30, 30),
    RGBColor(120, 60, 160),
    RGBColor(90, 90, 90),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are compiled in and known to parse; a failure would show
        // up as a "font unavailable" drawing error, not a panic.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Draw `fig` into `path`, PNG or SVG by its extension.
pub fn render_to_file(fig: &Figure, path: &Path) -> Result<()> {
    let format = ImageFormat::from_path(path)?;
    register_font();
    let fail = |e: String| {
        Error::Environment(format!(
            "cannot draw the chart into '{}': {e}",
            path.display()
        ))
    };
    match format {
        ImageFormat::Png => {
            let root = BitMapBackend::new(path, SIZE).into_drawing_area();
            draw_figure(&root, fig, true).map_err(|e| fail(e.to_string()))?;
            root.present().map_err(|e| fail(e.to_string()))?;
        }
        ImageFormat::Svg => {
            let root = SVGBackend::new(path, SIZE).into_drawing_area();
            draw_figure(&root, fig, false).map_err(|e| fail(e.to_string()))?;
            root.present().map_err(|e| fail(e.to_string()))?;
        }
    }
    Ok(())
}

/// Draw `fig` as an SVG document in memory (for the web page and tests).
pub fn render_svg(fig: &Figure) -> Result<String> {
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw_figure(&root, fig, false)
            .map_err(|e| Error::Environment(format!("cannot draw the chart: {e}")))?;
        root.present()
            .map_err(|e| Error::Environment(format!("cannot draw the chart: {e}")))?;
    }
    Ok(out)
}

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Horizontal alignment of a label relative to its anchor point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Center,
    Right,
}

/// A line of text, drawn by kvplan itself: as `<text>` in SVG, and in
/// bitmaps rasterised straight from the embedded font with sub-pixel glyph
/// positions (plotters 0.3.7's ab_glyph path drops each glyph's side bearing
/// and rounds its top toward zero, which makes small text uneven).
#[derive(Debug, Clone)]
struct Label {
    text: String,
    /// Anchor, absolute backend pixels.
    at: (i32, i32),
    size: f32,
    color: RGBColor,
    align: Align,
    /// Anchor is the vertical middle of the text (else its top).
    middle: bool,
    /// Rotated 90° counter-clockwise (reads bottom to top).
    rotated: bool,
    /// Rasterise (bitmap backends) rather than emit text.
    raster: bool,
}

impl Label {
    fn new(text: impl Into<String>, at: (i32, i32), size: f32, raster: bool) -> Self {
        Label {
            text: text.into(),
            at,
            size,
            color: BLACK,
            align: Align::Left,
            middle: false,
            rotated: false,
            raster,
        }
    }
    fn align(mut self, a: Align) -> Self {
        self.align = a;
        self
    }
    fn middle(mut self) -> Self {
        self.middle = true;
        self
    }
    fn rotated(mut self) -> Self {
        self.rotated = true;
        self
    }
    fn color(mut self, c: RGBColor) -> Self {
        self.color = c;
        self
    }
}

fn font() -> Option<ab_glyph::FontRef<'static>> {
    ab_glyph::FontRef::try_from_slice(FONT).ok()
}

/// Width of `text` at `size` px in the embedded font.
fn text_width(text: &str, size: f32) -> f32 {
    use ab_glyph::{Font, ScaleFont};
    let Some(f) = font() else {
        return text.chars().count() as f32 * size * 0.55;
    };
    let sf = f.as_scaled(size);
    let mut w = 0.0;
    let mut prev = None;
    for c in text.chars() {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            w += sf.kern(p, id);
        }
        w += sf.h_advance(id);
        prev = Some(id);
    }
    w
}

impl<'a> PointCollection<'a, (i32, i32)> for &'a Label {
    type Point = &'a (i32, i32);
    type IntoIter = std::iter::Once<&'a (i32, i32)>;
    fn point_iter(self) -> std::iter::Once<&'a (i32, i32)> {
        std::iter::once(&self.at)
    }
}

impl<DB: DrawingBackend> Drawable<DB> for Label {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut pos: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> std::result::Result<(), DrawingErrorKind<DB::ErrorType>> {
        let Some((ax, ay)) = pos.next() else {
            return Ok(());
        };
        if !self.raster {
            let h = match self.align {
                Align::Left => HPos::Left,
                Align::Center => HPos::Center,
                Align::Right => HPos::Right,
            };
            let v = if self.middle { VPos::Center } else { VPos::Top };
            let mut style = TextStyle::from((FAMILY, self.size as f64).into_font())
                .color(&self.color)
                .pos(Pos::new(h, v));
            if self.rotated {
                style = style.transform(FontTransform::Rotate270);
            }
            return backend.draw_text(&self.text, &style, (ax, ay));
        }
        use ab_glyph::{point, Font, ScaleFont};
        let Some(f) = font() else {
            return Ok(());
        };
        let sf = f.as_scaled(self.size);
        let width = text_width(&self.text, self.size);
        // Text-space origin (u along the text, v down) of the baseline start.
        let u0 = match self.align {
            Align::Left => 0.0,
            Align::Center => -width / 2.0,
            Align::Right => -width,
        };
        let v0 = if self.middle {
            (sf.ascent() + sf.descent()) / 2.0
        } else {
            sf.ascent()
        };
        let mut caret = u0;
        let mut prev = None;
        let color = self.color;
        for c in self.text.chars() {
            let id = sf.glyph_id(c);
            if let Some(p) = prev {
                caret += sf.kern(p, id);
            }
            let glyph = id.with_scale_and_position(self.size, point(caret, v0));
            caret += sf.h_advance(id);
            prev = Some(id);
            let Some(outline) = f.outline_glyph(glyph) else {
                continue;
            };
            let b = outline.px_bounds();
            let mut result = Ok(());
            outline.draw(|x, y, cov| {
                if result.is_err() || cov <= 0.0 {
                    return;
                }
                let (u, v) = (b.min.x as i32 + x as i32, b.min.y as i32 + y as i32);
                let (px, py) = if self.rotated {
                    (ax + v, ay - u)
                } else {
                    (ax + u, ay + v)
                };
                let c = BackendColor {
                    alpha: cov.min(1.0) as f64,
                    rgb: (color.0, color.1, color.2),
                };
                result = backend.draw_pixel((px, py), c);
            });
            result?;
        }
        Ok(())
    }
}

fn draw_figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &Figure,
    raster: bool,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(68);
    let (w, _) = head.dim_in_pixel();
    root.draw(&Label::new(fig.title.clone(), (16, 10), 22.0, raster))?;
    root.draw(
        &Label::new(
            fit_text(&fig.subtitle, w.saturating_sub(32) as f32, 15.0),
            (16, 42),
            15.0,
            raster,
        )
        .color(RGBColor(70, 70, 70)),
    )?;
    let n = fig.panels.len().max(1);
    for (area, panel) in body.split_evenly((n, 1)).iter().zip(&fig.panels) {
        draw_panel(root, area, panel, raster)?;
    }
    Ok(())
}

/// Shorten `text` with an ellipsis so it fits `width` pixels at `size` px.
fn fit_text(text: &str, width: f32, size: f32) -> String {
    if text_width(text, size) <= width {
        return text.to_string();
    }
    let mut s: String = text.to_string();
    while !s.is_empty() && text_width(&format!("{s}…"), size) > width {
        s.pop();
    }
    format!("{}…", s.trim_end())
}

/// Data bounds of a panel on one axis (guides included), padded for display.
fn bounds(values: impl Iterator<Item = f64>, log: bool, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return if log { (1.0, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        let (lo, hi) = (lo / 1.3, hi * 1.3);
        if hi / lo < 10.0 {
            (lo / 2.0, hi * 2.0)
        } else {
            (lo, hi)
        }
    } else {
        let lo = if from_zero { lo.min(0.0) } else { lo };
        let span = (hi - lo).max(hi.abs() * 1e-3).max(1e-9);
        (lo, hi + span * 0.06)
    }
}

/// Compact tick labels: 1.5k, 32k, 1.2M, 0.25.
fn tick(v: f64) -> String {
    let a = v.abs();
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if a >= 1e6 {
        format!("{}M", trim(format!("{:.2}", v / 1e6)))
    } else if a >= 1e4 || (a >= 1e3 && v % 1e3 == 0.0) {
        format!("{}k", trim(format!("{:.1}", v / 1e3)))
    } else if a >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        trim(format!("{v:.1}"))
    } else {
        trim(format!("{v:.3}"))
    }
}

fn draw_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
    raster: bool,
) -> DrawResult<DB> {
    use plotters::coord::ranged1d::BoldPoints;
    let (w, _) = area.dim_in_pixel();
    let (plot, legend) = area.split_horizontally(w.saturating_sub(LEGEND_WIDTH));
    let xs = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|q| q.0))
        .chain(p.guides.iter().filter(|g| g.vertical).map(|g| g.value));
    let ys = p
        .series
        .iter()
        .flat_map(|s| {
            s.points.iter().map(|q| q.1).chain(match &s.style {
                Style::Band { base } => base.iter().map(|q| q.1).collect::<Vec<_>>(),
                _ => vec![],
            })
        })
        .chain(p.guides.iter().filter(|g| !g.vertical).map(|g| g.value));
    let (x0, x1) = bounds(xs, p.x.log, false);
    let (y0, y1) = bounds(ys, p.y.log, true);
    const X_TICKS: usize = 10;
    const Y_TICKS: usize = 8;
    // plotters gives log and linear axes different types: one generic body, four instantiations.
    macro_rules! with_axes {
        ($xr:expr, $yr:expr) => {{
            let mut chart = ChartBuilder::on(&plot)
                .margin(12)
                .margin_right(24)
                .x_label_area_size(56)
                .y_label_area_size(84)
                .build_cartesian_2d($xr, $yr)?;
            // Grid and axes from plotters; tick labels and axis titles drawn below as Labels.
            chart
                .configure_mesh()
                .x_label_formatter(&|_| String::new())
                .y_label_formatter(&|_| String::new())
                .x_labels(X_TICKS)
                .y_labels(Y_TICKS)
                .light_line_style(RGBColor(238, 238, 238))
                .bold_line_style(RGBColor(215, 215, 215))
                .draw()?;
            let keep = |q: &(f64, f64)| {
                q.0.is_finite()
                    && q.1.is_finite()
                    && (!p.x.log || q.0 > 0.0)
                    && (!p.y.log || q.1 > 0.0)
            };
            for (i, s) in p.series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(keep).collect();
                match &s.style {
                    Style::Band { base } => {
                        let mut poly = pts.clone();
                        poly.extend(base.iter().rev().copied().filter(keep));
                        chart.draw_series(std::iter::once(Polygon::new(
                            poly,
                            color.mix(0.55).filled(),
                        )))?;
                        chart.draw_series(LineSeries::new(pts, color.stroke_width(2)))?;
                    }
                    Style::Line => {
                        chart.draw_series(LineSeries::new(pts, color.stroke_width(2)))?;
                    }
                    Style::Thick => {
                        chart.draw_series(LineSeries::new(pts, color.stroke_width(4)))?;
                    }
                    Style::Dashed => {
                        chart.draw_series(DashedLineSeries::new(
                            pts,
                            8,
                            5,
                            color.stroke_width(2),
                        ))?;
                    }
                }
            }
            for (i, g) in p.guides.iter().enumerate() {
                let color = GUIDE_COLORS[i % GUIDE_COLORS.len()];
                let line = if g.vertical {
                    vec![(g.value, y0), (g.value, y1)]
                } else {
                    vec![(x0, g.value), (x1, g.value)]
                };
                chart.draw_series(DashedLineSeries::new(line, 10, 6, color.stroke_width(2)))?;
                if g.vertical {
                    // A marker at the top of the line (its label is in the legend).
                    chart.draw_series(std::iter::once(
                        EmptyElement::at((g.value, y1)) + Circle::new((0, 6), 5, color.filled()),
                    ))?;
                }
            }
            let (px, py) = chart.plotting_area().get_pixel_range();
            let spec = chart.as_coord_spec();
            for v in spec.x_spec().key_points(BoldPoints(X_TICKS)) {
                let (x, _) = chart.backend_coord(&(v, y0));
                root.draw(
                    &Label::new(tick(v), (x, py.end + 8), 14.0, raster).align(Align::Center),
                )?;
            }
            for v in spec.y_spec().key_points(BoldPoints(Y_TICKS)) {
                let (_, y) = chart.backend_coord(&(x0, v));
                root.draw(
                    &Label::new(tick(v), (px.start - 8, y), 14.0, raster)
                        .align(Align::Right)
                        .middle(),
                )?;
            }
            let mid_x = (px.start + px.end) / 2;
            let mid_y = (py.start + py.end) / 2;
            root.draw(
                &Label::new(p.x.label.clone(), (mid_x, py.end + 32), 15.0, raster)
                    .align(Align::Center),
            )?;
            let (bx, _) = plot.get_base_pixel();
            root.draw(
                &Label::new(p.y.label.clone(), (bx + 14, mid_y), 15.0, raster)
                    .align(Align::Center)
                    .rotated(),
            )?;
        }};
    }
    match (p.x.log, p.y.log) {
        (false, false) => with_axes!(x0..x1, y0..y1),
        (true, false) => with_axes!((x0..x1).log_scale(), y0..y1),
        (false, true) => with_axes!(x0..x1, (y0..y1).log_scale()),
        (true, true) => with_axes!((x0..x1).log_scale(), (y0..y1).log_scale()),
    }
    draw_legend(root, &legend, p, raster)
}

/// The legend column: one swatch and label per series, then per guide.
fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
    raster: bool,
) -> DrawResult<DB> {
    let (w, _) = area.dim_in_pixel();
    let (bx, by) = area.get_base_pixel();
    let text_w = w.saturating_sub(48) as f32;
    let mut y = by + 22;
    let swatch = |x0: i32, x1: i32| (bx + x0, bx + x1);
    let entries = p
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), Some((i, &s.style)), None))
        .chain(
            p.guides
                .iter()
                .enumerate()
                .map(|(i, g)| (g.label.as_str(), None, Some((i, g.vertical)))),
        );
    for (label, series, guide) in entries {
        let (a, b) = swatch(6, 30);
        if let Some((i, style)) = series {
            let color = PALETTE[i % PALETTE.len()];
            match style {
                Style::Band { .. } => {
                    root.draw(&Rectangle::new(
                        [(a, y - 6), (b, y + 6)],
                        color.mix(0.55).filled(),
                    ))?;
                }
                Style::Dashed => {
                    root.draw(&PathElement::new(
                        vec![(a, y), (a + 8, y)],
                        color.stroke_width(2),
                    ))?;
                    root.draw(&PathElement::new(
                        vec![(a + 14, y), (b, y)],
                        color.stroke_width(2),
                    ))?;
                }
                Style::Thick => {
                    root.draw(&PathElement::new(
                        vec![(a, y), (b, y)],
                        color.stroke_width(4),
                    ))?;
                }
                Style::Line => {
                    root.draw(&PathElement::new(
                        vec![(a, y), (b, y)],
                        color.stroke_width(2),
                    ))?;
                }
            }
        }
        if let Some((i, vertical)) = guide {
            let color = GUIDE_COLORS[i % GUIDE_COLORS.len()];
            if vertical {
                root.draw(&PathElement::new(
                    vec![(a + 12, y - 4), (a + 12, y + 9)],
                    color.stroke_width(2),
                ))?;
                root.draw(&Circle::new((a + 12, y - 5), 4, color.filled()))?;
            } else {
                root.draw(&PathElement::new(
                    vec![(a, y), (a + 8, y)],
                    color.stroke_width(2),
                ))?;
                root.draw(&PathElement::new(
                    vec![(a + 14, y), (b, y)],
                    color.stroke_width(2),
                ))?;
            }
        }
        let lines = wrap(label, text_w, 14.0);
        for (k, l) in lines.iter().enumerate() {
            root.draw(&Label::new(l.clone(), (bx + 38, y + 18 * k as i32), 14.0, raster).middle())?;
        }
        y += 18 * lines.len() as i32 + 10;
    }
    Ok(())
}

/// Split `text` at spaces into lines no wider than `width` px at `size` px.
fn wrap(text: &str, width: f32, size: f32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let candidate = if cur.is_empty() {
            word.to_string()
        } else {
            format!("{cur} {word}")
        };
        if !cur.is_empty() && text_width(&candidate, size) > width {
            lines.push(std::mem::replace(&mut cur, word.to_string()));
        } else {
            cur = candidate;
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_by_extension() {
        assert_eq!(
            ImageFormat::from_path(Path::new("a/b.PNG")).unwrap(),
            ImageFormat::Png
        );
        assert_eq!(
            ImageFormat::from_path(Path::new("x.svg")).unwrap(),
            ImageFormat::Svg
        );
        let e = ImageFormat::from_path(Path::new("x.jpg")).unwrap_err();
        assert_eq!(e.field(), Some("out"));
        assert!(e.to_string().contains(".png"), "{e}");
        assert!(ImageFormat::from_path(Path::new("plot")).is_err());
    }

    #[test]
    fn tick_labels() {
        assert_eq!(tick(32_000.0), "32k");
        assert_eq!(tick(131_072.0), "131.1k");
        assert_eq!(tick(1_500_000.0), "1.5M");
        assert_eq!(tick(80.0), "80");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(4096.0), "4096");
        assert_eq!(tick(1000.0), "1k");
    }

    #[test]
    fn svg_keeps_text() {
        let fig = Figure {
            title: "Title <&> here".into(),
            subtitle: "sub".into(),
            panels: vec![Panel {
                x: Axis::linear("context (tokens)"),
                y: Axis::log("memory (GiB)"),
                series: vec![Series {
                    name: "KV cache".into(),
                    points: vec![(0.0, 0.0), (1.0, 2.0), (2.0, 4.0)],
                    style: Style::Line,
                }],
                guides: vec![Guide::horizontal("GPU memory", 3.0)],
            }],
        };
        let svg = render_svg(&fig).unwrap();
        for t in ["context (tokens)", "memory (GiB)", "KV cache", "GPU memory"] {
            assert!(svg.contains(t), "{t} missing");
        }
        assert!(svg.contains("Title &lt;&amp;&gt; here"));
    }
}
