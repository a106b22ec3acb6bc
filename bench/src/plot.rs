//! The SVG plots the bench binaries write next to their tables (plotters' SVG backend only: no
//! font files, no bitmap). Two kinds: lines over a logarithmic x axis with whiskers (echo CPU
//! against connections), and horizontal bars over a logarithmic axis (job round trips, whose
//! figures span four orders of magnitude). Every figure drawn is one the caller measured.
//!
//! Layout does not trust plotters' text measure (the SVG backend has no font, so it guesses):
//! the legend has a column of its own at the right and the captions are short lines, so
//! nothing depends on how wide a label really renders.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// A colour, `0xRRGGBB`.
pub type Rgb = u32;

fn rgb(c: Rgb) -> RGBColor {
    RGBColor((c >> 16) as u8, (c >> 8) as u8, c as u8)
}

/// One point of a line: the median `y` at `x`, and the spread of the repetitions (`lo..hi`).
#[derive(Clone, Copy, Debug)]
pub struct Point {
    /// Where on the x axis (greater than 0: the axis is logarithmic).
    pub x: f64,
    /// The median.
    pub y: f64,
    /// The lowest repetition (the whisker's bottom).
    pub lo: f64,
    /// The highest repetition (the whisker's top).
    pub hi: f64,
}

/// One line of a line plot.
#[derive(Clone, Debug)]
pub struct Series {
    /// The name in the legend.
    pub name: String,
    /// The line's colour.
    pub color: Rgb,
    /// The points, in x order.
    pub points: Vec<Point>,
}

/// What every plot has around its chart: a title, caption lines under it (date, machine,
/// settings), and axis descriptions with units.
pub struct Frame<'a> {
    /// The title, in bold at the top.
    pub title: &'a str,
    /// The caption, one short line each, under the charts.
    pub notes: &'a [String],
    /// The x axis description, with its unit.
    pub x_desc: &'a str,
    /// The y axis description, with its unit (unused by bar plots).
    pub y_desc: &'a str,
}

const WIDTH: u32 = 1000;
const LEGEND_W: u32 = 210;
const TITLE_H: u32 = 44;
const NOTE_H: u32 = 19;
const FONT: &str = "sans-serif";

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Draws the title at the top and the notes at the bottom of `root`; returns the area between.
fn frame<'a, DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    f: &Frame<'a>,
) -> Result<DrawingArea<DB, plotters::coord::Shift>, String> {
    root.fill(&WHITE).map_err(err)?;
    let (_, h) = root.dim_in_pixel();
    let notes_h = NOTE_H * f.notes.len() as u32 + 12;
    let (top, notes) = root.split_vertically(h - notes_h);
    let (title, body) = top.split_vertically(TITLE_H);
    title
        .draw(&Text::new(
            f.title,
            (16, 14),
            (FONT, 22).into_font().style(FontStyle::Bold),
        ))
        .map_err(err)?;
    for (i, n) in f.notes.iter().enumerate() {
        notes
            .draw(&Text::new(
                n.as_str(),
                (16, 4 + (NOTE_H * i as u32) as i32),
                (FONT, 14).into_font().color(&RGBColor(60, 60, 60)),
            ))
            .map_err(err)?;
    }
    Ok(body)
}

/// The legend, in a column of its own: one row per entry, a sample of the mark then the name.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    heading: &str,
    entries: &[(String, RGBColor, bool)],
) -> Result<(), String> {
    area.draw(&Text::new(
        heading,
        (12, 30),
        (FONT, 15).into_font().style(FontStyle::Bold),
    ))
    .map_err(err)?;
    for (i, (name, c, line)) in entries.iter().enumerate() {
        let y = 62 + 28 * i as i32;
        if *line {
            area.draw(&PathElement::new(vec![(12, y), (42, y)], c.stroke_width(3)))
                .map_err(err)?;
            area.draw(&Circle::new((27, y), 4, c.filled()))
                .map_err(err)?;
        } else {
            area.draw(&Rectangle::new([(14, y - 7), (40, y + 7)], c.filled()))
                .map_err(err)?;
        }
        area.draw(&Text::new(
            name.as_str(),
            (50, y),
            (FONT, 15)
                .into_font()
                .into_text_style(area)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// Two significant digits, without a trailing `.0` on round figures.
fn short(v: &f64) -> String {
    let v = *v;
    if v >= 10.0 || v == v.round() {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A second chart under a line plot: every series divided by one of them, point by point.
pub struct Ratio<'a> {
    /// The name of the series the others are divided by (drawn as a flat line at 1).
    pub to: &'a str,
    /// The y axis description of the ratio chart.
    pub y_desc: &'a str,
}

/// A line per series over a logarithmic x axis whose ticks are the measured x values, with a
/// whisker at each point from the fastest to the slowest repetition. The y axis is linear
/// from 0 when the figures are within 20x of each other (an honest picture of small
/// differences), logarithmic otherwise. With `ratio`, a second chart under the first shows
/// each series' medians over the reference series' (linear, around 1): the differences the
/// first chart's scale from 0 makes hard to read.
pub fn lines_log_x(
    path: &Path,
    f: &Frame,
    legend_heading: &str,
    series: &[Series],
    ratio: Option<Ratio>,
) -> Result<(), String> {
    let pts = || series.iter().flat_map(|s| s.points.iter());
    let mut xs: Vec<f64> = pts().map(|p| p.x).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    if xs.is_empty() {
        return Err("no points to plot".into());
    }
    let (x0, x1) = (xs[0] / 1.6, xs[xs.len() - 1] * 1.6);
    let ymin = pts().map(|p| p.lo.min(p.y)).fold(f64::INFINITY, f64::min);
    let ymax = pts().map(|p| p.hi.max(p.y)).fold(0.0, f64::max);
    // Each series over the reference, where both have a point at the same x.
    let ratios: Option<(Ratio, Vec<Series>)> = ratio.and_then(|r| {
        let base = series.iter().find(|s| s.name == r.to)?;
        let at = |x: f64| base.points.iter().find(|p| p.x == x).map(|p| p.y);
        let rs = series
            .iter()
            .map(|s| Series {
                name: s.name.clone(),
                color: s.color,
                points: s
                    .points
                    .iter()
                    .filter_map(|p| {
                        let y = p.y / at(p.x).filter(|b| *b > 0.0)?;
                        Some(Point {
                            x: p.x,
                            y,
                            lo: y,
                            hi: y,
                        })
                    })
                    .collect(),
            })
            .collect();
        Some((r, rs))
    });
    const MAIN_H: u32 = 560;
    const RATIO_H: u32 = 330;
    let height = TITLE_H
        + MAIN_H
        + if ratios.is_some() { RATIO_H } else { 0 }
        + NOTE_H * f.notes.len() as u32
        + 12;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    let body = frame(&root, f)?;
    let (plots, legend_area) = body.split_horizontally(WIDTH - LEGEND_W);
    let entries: Vec<_> = series
        .iter()
        .map(|s| (s.name.clone(), rgb(s.color), true))
        .collect();
    legend(&legend_area, legend_heading, &entries)?;
    let (main, lower) = plots.split_vertically(MAIN_H);

    // The same drawing over any y axis (their coordinate types differ).
    macro_rules! draw {
        ($area:expr, $series:expr, $yspec:expr, $ydesc:expr, $ylabel:expr) => {{
            let mut chart = ChartBuilder::on($area)
                .margin_left(16)
                .margin_right(24)
                .margin_top(10)
                .margin_bottom(6)
                .x_label_area_size(56)
                .y_label_area_size(78)
                .build_cartesian_2d((x0..x1).log_scale().with_key_points(xs.clone()), $yspec)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(f.x_desc)
                .y_desc($ydesc)
                .x_label_formatter(&short)
                .y_label_formatter(&$ylabel)
                .y_labels(10)
                .max_light_lines(1)
                .axis_desc_style((FONT, 16))
                .label_style((FONT, 14))
                .light_line_style(RGBColor(240, 240, 240))
                .bold_line_style(RGBColor(215, 215, 215))
                .draw()
                .map_err(err)?;
            for s in $series {
                let c = rgb(s.color);
                chart
                    .draw_series(LineSeries::new(
                        s.points.iter().map(|p| (p.x, p.y)),
                        c.stroke_width(2),
                    ))
                    .map_err(err)?;
                chart
                    .draw_series(s.points.iter().filter(|p| p.hi > p.lo).map(|p| {
                        PathElement::new(vec![(p.x, p.lo), (p.x, p.hi)], c.stroke_width(1))
                    }))
                    .map_err(err)?;
                chart
                    .draw_series(
                        s.points
                            .iter()
                            .map(|p| Circle::new((p.x, p.y), 4, c.filled())),
                    )
                    .map_err(err)?;
            }
        }};
    }
    if ymax <= 20.0 * ymin {
        draw!(&main, series, 0.0..ymax * 1.08, f.y_desc, short);
    } else {
        let desc = format!("{} (log scale)", f.y_desc);
        let spec = (ymin / 1.3..ymax * 1.3).log_scale();
        draw!(&main, series, spec, desc.as_str(), short);
    }
    if let Some((r, rs)) = &ratios {
        let all = || rs.iter().flat_map(|s| s.points.iter().map(|p| p.y));
        let lo = all().fold(1.0, f64::min);
        let hi = all().fold(1.0, f64::max);
        let pad = ((hi - lo) * 0.08).max(0.02);
        let two_places = |y: &f64| format!("{y:.2}");
        draw!(&lower, rs, (lo - pad)..(hi + pad), r.y_desc, two_places);
    }
    root.present().map_err(err)
}

/// One category of a bar plot: a label and one figure per measure (`None`: not measured).
#[derive(Clone, Debug)]
pub struct Bar {
    /// The category's label, left of its bars.
    pub label: String,
    /// One figure per measure, in the order of the plot's measures.
    pub values: Vec<Option<f64>>,
}

/// One chart of a bar plot: its caption and its categories, top to bottom.
#[derive(Clone, Debug)]
pub struct Panel {
    /// The chart's caption, above it.
    pub caption: String,
    /// The categories, top to bottom.
    pub bars: Vec<Bar>,
}

/// A time in nanoseconds as a person reads it: `2.7 ns`, `29 ns`, `1.07 µs`, `20.4 µs`.
pub fn fmt_ns(ns: f64) -> String {
    if ns < 10.0 {
        format!("{ns:.1} ns")
    } else if ns < 1000.0 {
        format!("{ns:.0} ns")
    } else if ns < 10_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// A tick of a logarithmic time axis (a power of ten of nanoseconds): `1 ns`, `100 µs`.
fn tick_ns(ns: f64) -> String {
    let (v, unit) = match ns {
        ns if ns < 1e3 => (ns, "ns"),
        ns if ns < 1e6 => (ns / 1e3, "µs"),
        ns if ns < 1e9 => (ns / 1e6, "ms"),
        ns => (ns / 1e9, "s"),
    };
    format!("{v:.0} {unit}")
}

/// Horizontal bars over a logarithmic time axis (values in ns, ticks at powers of ten), one
/// bar per measure in each category, its figure written at its end; one chart per panel, all
/// on the same axis so they compare. `measures` names and colours the bars of a category.
pub fn bars_log_ns(
    path: &Path,
    f: &Frame,
    legend_heading: &str,
    measures: &[(&str, Rgb)],
    panels: &[Panel],
) -> Result<(), String> {
    let vals = || {
        panels
            .iter()
            .flat_map(|p| p.bars.iter().flat_map(|b| b.values.iter().flatten()))
            .copied()
            .filter(|v| *v > 0.0)
    };
    let (vmin, vmax) = (
        vals().fold(f64::INFINITY, f64::min),
        vals().fold(0.0, f64::max),
    );
    if vmax <= 0.0 {
        return Err("no bars to plot".into());
    }
    // From the power of ten below half the smallest figure (so the shortest bar has a length
    // even when its figure is a power of ten) to one decade past the largest (room for the
    // figure written at the end of the longest bar).
    let (d0, d1) = (
        (vmin / 2.0).log10().floor() as i32,
        vmax.log10().ceil() as i32 + 1,
    );
    let (x0, x1) = (10f64.powi(d0), 10f64.powi(d1));
    let ticks: Vec<f64> = (d0..=d1).map(|d| 10f64.powi(d)).collect();
    let row_h = 34 * measures.len() as u32 + 16;
    let panel_h = |p: &Panel| row_h * p.bars.len() as u32 + 110;
    let body_h: u32 = panels.iter().map(panel_h).sum();
    let height = TITLE_H + body_h + NOTE_H * f.notes.len() as u32 + 12;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    let body = frame(&root, f)?;
    let (plots, legend_area) = body.split_horizontally(WIDTH - LEGEND_W);
    let entries: Vec<_> = measures
        .iter()
        .map(|(n, c)| (n.to_string(), rgb(*c), false))
        .collect();
    legend(&legend_area, legend_heading, &entries)?;
    let mut rest = plots;
    for p in panels {
        let (area, below) = rest.split_vertically(panel_h(p));
        rest = below;
        let k = p.bars.len() as i32;
        // Integer y (the float coordinate has no default label formatting): category i from
        // the top spans [(k-1-i) U, (k-i) U]; its label sits at the middle.
        const U: i32 = 1000;
        let mids: Vec<i32> = (0..k).map(|i| i * U + U / 2).collect();
        let label_of = |y: &i32| {
            let i = k - 1 - y.div_euclid(U);
            usize::try_from(i)
                .ok()
                .and_then(|i| p.bars.get(i))
                .map_or(String::new(), |b| b.label.clone())
        };
        let mut chart = ChartBuilder::on(&area)
            .caption(p.caption.as_str(), (FONT, 17))
            .margin_left(16)
            .margin_right(24)
            .margin_top(6)
            .x_label_area_size(56)
            .y_label_area_size(196)
            .build_cartesian_2d(
                (x0..x1).log_scale().with_key_points(ticks.clone()),
                (0..k * U).with_key_points(mids),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(f.x_desc)
            .x_label_formatter(&|x| tick_ns(*x))
            .y_label_formatter(&label_of)
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(210, 210, 210))
            .draw()
            .map_err(err)?;
        let slot = U * 8 / 10 / measures.len() as i32;
        let gap = slot / 16;
        for (i, b) in p.bars.iter().enumerate() {
            let top = (k - i as i32) * U - U / 10;
            for (j, v) in b.values.iter().enumerate() {
                let Some(v) = *v else { continue };
                let c = rgb(measures[j].1);
                let (y1, y0) = (top - slot * j as i32, top - slot * (j as i32 + 1));
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, y0 + gap), (v.max(x0), y1 - gap)],
                        c.filled(),
                    )))
                    .map_err(err)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        fmt_ns(v),
                        (v.max(x0) * 1.12, (y0 + y1) / 2),
                        (FONT, 14)
                            .into_font()
                            .into_text_style(&area)
                            .pos(Pos::new(HPos::Left, VPos::Center)),
                    )))
                    .map_err(err)?;
            }
        }
    }
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(fmt_ns(2.71), "2.7 ns");
        assert_eq!(fmt_ns(29.4), "29 ns");
        assert_eq!(fmt_ns(1070.0), "1.07 µs");
        assert_eq!(fmt_ns(20_400.0), "20.4 µs");
        assert_eq!(tick_ns(1.0), "1 ns");
        assert_eq!(tick_ns(1000.0), "1 µs");
        assert_eq!(tick_ns(100_000.0), "100 µs");
        assert_eq!(tick_ns(1e6), "1 ms");
    }

    #[test]
    fn plots_are_svg() {
        let dir = std::env::temp_dir().join(format!("lwt-bench-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let notes = ["a note".to_string()];
        let frame = Frame {
            title: "t",
            notes: &notes,
            x_desc: "x",
            y_desc: "y",
        };
        let p = Point {
            x: 1.0,
            y: 2.0,
            lo: 1.5,
            hi: 2.5,
        };
        let line = dir.join("l.svg");
        let s = Series {
            name: "s".into(),
            color: 0x1f77b4,
            points: vec![p, Point { x: 10.0, ..p }],
        };
        let ratio = Ratio {
            to: "s",
            y_desc: "r",
        };
        lines_log_x(&line, &frame, "h", &[s], Some(ratio)).unwrap();
        let bars = dir.join("b.svg");
        let panel = Panel {
            caption: "c".into(),
            bars: vec![Bar {
                label: "b".into(),
                values: vec![Some(3.0), Some(20_000.0)],
            }],
        };
        bars_log_ns(&bars, &frame, "h", &[("m", 0), ("n", 0xff0000)], &[panel]).unwrap();
        for f in [line, bars] {
            let svg = std::fs::read_to_string(&f).unwrap();
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
