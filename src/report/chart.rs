//! The figure data model of kvplan's charts (`Figure`, `Panel`, `Axis`,
//! `Series`, `Guide`): plain data that [`super::series`] fills with numbers
//! from the core and that `report::plot` (the `plot` feature) renders to PNG
//! or SVG. The web page's sweep reads the same series as JSON.

/// A whole chart: title, one line of context, one or more panels stacked vertically.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Top line: model, GPUs, formats.
    pub title: String,
    /// Second line: what is plotted and the headline finding.
    pub subtitle: String,
    /// Panels, top to bottom.
    pub panels: Vec<Panel>,
}

/// One set of axes with its series and guide lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// Data series, drawn in order (bands first makes later lines visible).
    pub series: Vec<Series>,
    /// Reference lines (capacity, budget, limits, crossovers).
    pub guides: Vec<Guide>,
}

/// An axis: its label (with units) and scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Label with units, e.g. "memory per GPU (GiB)".
    pub label: String,
    /// Logarithmic scale (values ≤ 0 are not drawn).
    pub log: bool,
}

impl Axis {
    /// A linear axis starting at zero.
    pub fn linear(label: impl Into<String>) -> Self {
        Axis {
            label: label.into(),
            log: false,
        }
    }

    /// A logarithmic axis.
    pub fn log(label: impl Into<String>) -> Self {
        Axis {
            label: label.into(),
            log: true,
        }
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Style {
    /// A plain line.
    Line,
    /// A heavier line for the series the chart is about.
    Thick,
    /// A dashed line (components, secondary quantities).
    Dashed,
    /// A filled band between `base` and the series' points (stacked areas;
    /// `base` has the same x values).
    Band {
        /// Lower edge of the band.
        base: Vec<(f64, f64)>,
    },
}

/// A named list of (x, y) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points in x order.
    pub points: Vec<(f64, f64)>,
    /// Drawing style.
    pub style: Style,
}

/// A horizontal or vertical reference line with a legend entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Guide {
    /// Legend entry (and, for vertical lines, the label at the top).
    pub label: String,
    /// x (vertical) or y (horizontal) position.
    pub value: f64,
    /// True: a vertical line at x = value.
    pub vertical: bool,
}

impl Guide {
    /// A horizontal line at y = `value`.
    pub fn horizontal(label: impl Into<String>, value: f64) -> Self {
        Guide {
            label: label.into(),
            value,
            vertical: false,
        }
    }

    /// A vertical line at x = `value`.
    pub fn vertical(label: impl Into<String>, value: f64) -> Self {
        Guide {
            label: label.into(),
            value,
            vertical: true,
        }
    }
}
