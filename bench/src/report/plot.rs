//! PNG plots with `plotters` (bitmap backend, pure-Rust font rendering with an embedded DejaVu
//! font: no system font libraries needed).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::markdown::{size, thousands};
use super::{Plot, Report, Section, SteadyResult};
use crate::cluster::System;
use crate::fault::{FaultResult, Scenario};
use crate::run::Shape;
use crate::workload::Workload;

const FONT: &str = "sans-serif";
const DDBB: RGBColor = RGBColor(31, 119, 180);
const DDBB_LIGHT: RGBColor = RGBColor(165, 205, 240);
const ETCD: RGBColor = RGBColor(230, 110, 0);
const ETCD_LIGHT: RGBColor = RGBColor(250, 190, 120);

/// The system's colour, lighter for lower `rank` among `of` client counts.
fn shade(system: System, rank: usize, of: usize) -> RGBColor {
    let (dark, light) = match system {
        System::Ddbb => (DDBB, DDBB_LIGHT),
        System::Etcd => (ETCD, ETCD_LIGHT),
    };
    let t = if of <= 1 {
        1.0
    } else {
        rank as f64 / (of - 1) as f64
    };
    let mix = |a: u8, b: u8| (b as f64 + (a as f64 - b as f64) * t).round() as u8;
    RGBColor(
        mix(dark.0, light.0),
        mix(dark.1, light.1),
        mix(dark.2, light.2),
    )
}

fn color(system: System) -> RGBColor {
    match system {
        System::Ddbb => DDBB,
        System::Etcd => ETCD,
    }
}

fn fonts() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // Cannot fail for the bundled font; if it did, drawing text reports the error.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("plot: {e}")
}

/// Draws every plot the report shows into `dir`.
pub fn draw_all(report: &Report, dir: &Path) -> Result<Vec<Plot>> {
    fonts();
    let mut plots = Vec::new();
    let groups: BTreeSet<(usize, usize)> = report
        .steady
        .iter()
        .map(|r| (r.shape.replicas, r.shape.value_size))
        .collect();
    for (replicas, value_size) in groups {
        let file = format!("throughput-{replicas}r-{value_size}B.png");
        let title = format!(
            "Throughput, {replicas} replicas, {} values",
            size(value_size)
        );
        let rows: Vec<&SteadyResult> = report
            .steady
            .iter()
            .filter(|r| r.shape.replicas == replicas && r.shape.value_size == value_size)
            .collect();
        throughput_bars(&dir.join(&file), &title, &rows)?;
        plots.push(Plot {
            file,
            title,
            section: Section::Throughput(replicas, value_size),
        });
    }
    // Latency CDFs of the main group: 3 replicas (or the smallest), the most common value size.
    if let Some((replicas, value_size)) = main_group(report) {
        for workload in Workload::ALL {
            let rows: Vec<&SteadyResult> = report
                .steady
                .iter()
                .filter(|r| {
                    r.shape.replicas == replicas
                        && r.shape.value_size == value_size
                        && r.shape.workload == workload
                        && !r.cdf.is_empty()
                })
                .collect();
            if rows.is_empty() {
                continue;
            }
            let file = format!("latency-{}-{replicas}r-{value_size}B.png", workload.name());
            let title = format!(
                "Latency CDF: {}, {replicas} replicas, {} values",
                workload.name(),
                size(value_size)
            );
            latency_cdf(&dir.join(&file), &title, &rows)?;
            plots.push(Plot {
                file,
                title,
                section: Section::Latency,
            });
        }
    }
    for scenario in Scenario::ALL {
        let rows: Vec<&FaultResult> = report
            .faults
            .iter()
            .filter(|f| f.scenario == scenario)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let file = format!("timeline-{}.png", scenario.name());
        let title = format!(
            "Writes/s under {} ({} replicas), per 100 ms",
            scenario.name(),
            rows[0].replicas
        );
        timeline(&dir.join(&file), &title, &rows)?;
        plots.push(Plot {
            file,
            title,
            section: Section::Faults,
        });
    }
    Ok(plots)
}

/// The (replicas, value size) group with the most runs, preferring 3 replicas.
fn main_group(report: &Report) -> Option<(usize, usize)> {
    let groups: BTreeSet<(usize, usize)> = report
        .steady
        .iter()
        .map(|r| (r.shape.replicas, r.shape.value_size))
        .collect();
    groups.into_iter().max_by_key(|&(replicas, value)| {
        let n = report
            .steady
            .iter()
            .filter(|r| r.shape.replicas == replicas && r.shape.value_size == value)
            .count();
        (replicas == 3, n)
    })
}

fn shape_label(s: &Shape) -> String {
    format!(
        "{} · {} client{}",
        s.workload.name(),
        s.clients,
        if s.clients == 1 { "" } else { "s" }
    )
}

/// Horizontal grouped bars: one group per shape, one bar per system.
fn throughput_bars(path: &Path, title: &str, rows: &[&SteadyResult]) -> Result<()> {
    let mut shapes: Vec<Shape> = rows
        .iter()
        .map(|r| r.shape)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    shapes.sort_by_key(|s| (s.workload, s.clients));
    let n = shapes.len().max(1);
    let height = 110 + 44 * n as u32;
    let root = BitMapBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let max = rows.iter().map(|r| r.throughput).fold(1.0, f64::max) * 1.18;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(230)
        .build_cartesian_2d(0f64..max, 0f64..n as f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("operations per second")
        .x_label_formatter(&|v| thousands(*v))
        .label_style((FONT, 14))
        .draw()
        .map_err(err)?;
    // Category i is drawn from the top down.
    let row_y = |i: usize| (n - 1 - i) as f64;
    for (k, system) in System::ALL.into_iter().enumerate() {
        let bars: Vec<(f64, f64, f64)> = shapes
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let r = rows.iter().find(|r| r.system == system && &r.shape == s)?;
                // DDBB in the upper half of the row, etcd in the lower half.
                let top = row_y(i) + 0.9 - 0.4 * k as f64;
                Some((r.throughput, top - 0.38, top))
            })
            .collect();
        if bars.is_empty() {
            continue;
        }
        let c = color(system);
        chart
            .draw_series(
                bars.iter()
                    .map(|&(v, y0, y1)| Rectangle::new([(0.0, y0), (v, y1)], c.filled())),
            )
            .map_err(err)?
            .label(system.to_string())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.filled()));
        let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        chart
            .draw_series(bars.iter().map(|&(v, y0, y1)| {
                Text::new(
                    format!(" {}", thousands(v)),
                    (v, (y0 + y1) / 2.0),
                    style.clone(),
                )
            }))
            .map_err(err)?;
    }
    let label_style =
        TextStyle::from((FONT, 15).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, s) in shapes.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(0.0, row_y(i) + 0.5));
        root.draw(&Text::new(shape_label(s), (x - 10, y), label_style.clone()))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 15))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Latency CDFs (log x axis), one line per system and client count.
fn latency_cdf(path: &Path, title: &str, rows: &[&SteadyResult]) -> Result<()> {
    let root = BitMapBackend::new(path, (1000, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let lo = rows
        .iter()
        .flat_map(|r| r.cdf.first().map(|p| p.0))
        .fold(f64::MAX, f64::min)
        .max(0.001)
        * 0.8;
    let hi = rows
        .iter()
        .flat_map(|r| r.cdf.last().map(|p| p.0))
        .fold(0.0, f64::max)
        .max(lo * 10.0)
        * 1.25;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..100.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log scale)")
        .y_desc("% of operations at or below")
        .x_label_formatter(&|v| format_ms(*v))
        .label_style((FONT, 14))
        .draw()
        .map_err(err)?;
    let mut rows: Vec<&&SteadyResult> = rows.iter().collect();
    rows.sort_by_key(|r| (r.system, r.shape.clients));
    let counts: Vec<usize> = rows
        .iter()
        .map(|r| r.shape.clients)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for r in rows {
        // Darker and thicker with more clients.
        let rank = counts
            .iter()
            .position(|&c| c == r.shape.clients)
            .unwrap_or(0);
        let c = shade(r.system, rank, counts.len());
        let width = if rank + 1 == counts.len() { 3 } else { 2 };
        let style = ShapeStyle::from(&c).stroke_width(width);
        chart
            .draw_series(LineSeries::new(
                r.cdf.iter().map(|&(x, y)| (x, y * 100.0)),
                style,
            ))
            .map_err(err)?
            .label(format!(
                "{}, {} client{}: p99 {} ms",
                r.system,
                r.shape.clients,
                if r.shape.clients == 1 { "" } else { "s" },
                format_ms(r.latency.p99_ms)
            ))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

fn format_ms(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Writes/s per 100 ms for each system, with the scenario's events as vertical lines.
fn timeline(path: &Path, title: &str, rows: &[&FaultResult]) -> Result<()> {
    let root = BitMapBackend::new(path, (1100, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (top, bottom) = root.split_vertically(464);
    let end = rows
        .iter()
        .flat_map(|r| r.timeline.last().map(|p| p.t_s + 0.1))
        .fold(1.0, f64::max);
    let max = rows
        .iter()
        .flat_map(|r| r.timeline.iter().map(|p| p.ok_per_s))
        .fold(10.0, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(&top)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..end, 0f64..max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the load started")
        .y_desc("successful writes per second")
        .y_label_formatter(&|v| thousands(*v))
        .label_style((FONT, 14))
        .draw()
        .map_err(err)?;
    for r in rows {
        let c = color(r.system);
        let style = ShapeStyle::from(&c).stroke_width(2);
        // Each bucket as a step, so a gap shows as a flat zero.
        let points = r
            .timeline
            .iter()
            .flat_map(|p| [(p.t_s, p.ok_per_s), (p.t_s + 0.1, p.ok_per_s)]);
        let recovery = r
            .recovery_ms
            .map(|v| format!("writes back after {v:.0} ms"))
            .unwrap_or_else(|| "no write succeeded during the fault".into());
        chart
            .draw_series(LineSeries::new(points, style))
            .map_err(err)?
            .label(format!("{}: {recovery}", r.system))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        for e in &r.events {
            let line = ShapeStyle::from(&c.mix(0.6)).stroke_width(1);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(e.t_s, 0.0), (e.t_s, max)],
                    6,
                    4,
                    line,
                ))
                .map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()
        .map_err(err)?;
    // The events, one line per system, under the chart.
    let lines: Vec<String> = rows
        .iter()
        .map(|r| {
            let events: Vec<String> = r
                .events
                .iter()
                .map(|e| format!("{:.1} s {}", e.t_s, e.what))
                .collect();
            format!("{}: {}", r.system, events.join("; "))
        })
        .collect();
    draw_footer(&bottom, &lines)?;
    root.present().map_err(err)?;
    Ok(())
}

fn draw_footer(area: &DrawingArea<BitMapBackend<'_>, Shift>, lines: &[String]) -> Result<()> {
    let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Top));
    for (i, line) in lines.iter().enumerate() {
        area.draw(&Text::new(
            line.clone(),
            (80, 4 + 17 * i as i32),
            style.clone(),
        ))
        .map_err(err)?;
    }
    Ok(())
}
