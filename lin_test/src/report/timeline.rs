//! HTML timelines: one self-contained page per key (inline SVG, no scripts from elsewhere),
//! and an index page linking them.
//!
//! A key's page draws each operation on that key as a bar from its invocation to its
//! completion, one row per process, coloured by outcome; nemesis faults are shaded bands
//! across all rows. When the key is not linearizable, the operation whose completion ends the
//! smallest non-linearizable prefix is outlined in red (and scrolled into view), the
//! concurrent operations the checker could not place are outlined in dashed red, and the
//! last operations of the partial linearization in dashed blue; the counterexample is
//! printed above the chart.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::checker::{KeyReport, Verdict};
use crate::history::{Action, Datum, Key, Operation, Outcome};
use crate::recorder::Entry;

use super::{secs, RunReport};

/// Pixels per second of history (shrunk for long runs, see [`MAX_WIDTH`]).
const PX_PER_SEC: f64 = 100.0;
/// Widest chart, in pixels.
const MAX_WIDTH: f64 = 30_000.0;
/// Height of one process row.
const ROW: f64 = 22.0;
/// Width of the label column (drawn apart, so it stays in view while the chart scrolls).
const LABELS: f64 = 110.0;
/// Space left of time zero in the chart.
const LEFT: f64 = 8.0;
/// Height of the band above the rows (fault names and the time axis).
const TOP: f64 = 46.0;
/// How many operations of the partial linearization are outlined.
const LINEARIZED_TAIL: usize = 10;

/// Escapes text for HTML and SVG.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The file name of a key's page.
pub fn page_name(key: &Key) -> String {
    let name: String = key
        .to_string()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("key-{name}.html")
}

fn family_colour(family: &str) -> &'static str {
    match family {
        "kill" => "#d62728",
        "pause" => "#9467bd",
        "partition" => "#1f77b4",
        "partial" => "#17becf",
        "latency" => "#8c564b",
        _ => "#7f7f7f",
    }
}

fn outcome_colour(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "#86c98a",
        Outcome::Fail => "#ef9a9a",
        Outcome::Info => "#f6c85f",
    }
}

fn show(value: &Option<Datum>) -> String {
    value
        .as_ref()
        .map_or_else(|| "nil".to_string(), |d| d.to_string())
}

/// The short label drawn inside a bar.
fn label(op: &Operation) -> String {
    match &op.action {
        Action::Read(v) if op.outcome == Outcome::Ok => format!("R {}", show(v)),
        Action::Read(_) => "R".to_string(),
        Action::Write(v) => format!("W {}", show(v)),
        Action::Cas { expected, new } => format!("CAS {}→{}", show(expected), show(new)),
        Action::Delete => "DEL".to_string(),
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:16px;color:#222}\
h1{font-size:20px;margin:0 0 6px}pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}\
.row{display:flex;border:1px solid #ccc}.chart{overflow-x:auto;flex:1}\
.legend span{display:inline-block;margin-right:14px;font-size:13px}\
.sw{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle;border:1px solid #555}\
svg text{font-size:11px;font-family:ui-monospace,monospace}\
.good{color:#2e7d32;font-weight:bold}.bad{color:#c62828;font-weight:bold}.unknown{color:#ef6c00;font-weight:bold}\
table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}";

fn verdict_html(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Linearizable => "<span class=\"good\">linearizable: true</span>",
        Verdict::NotLinearizable(_) => "<span class=\"bad\">linearizable: false</span>",
        Verdict::Unknown(_) => "<span class=\"unknown\">linearizable: unknown</span>",
    }
}

/// The page of one key: the chart's data prepared, then the chart, the process labels and
/// the page around them.
pub fn key_page(report: &RunReport<'_>, key_report: &KeyReport) -> String {
    let chart = Chart::new(report, key_report);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0}\" height=\"{:.0}\">",
        chart.width, chart.height
    );
    chart.phase_bands(report, &mut svg);
    chart.fault_bands(report, &mut svg);
    chart.time_axis(&mut svg);
    chart.bars(&mut svg);
    chart.violation_line(key_report, &mut svg);
    svg.push_str("</svg>");
    let labels = chart.labels(report);
    page_around(key_report, &chart, &labels, &svg)
}

/// Which operations to outline (by their invocation :index) when the key is not
/// linearizable.
#[derive(Default)]
struct Outlines {
    /// The operation whose completion ends the smallest non-linearizable prefix.
    stuck: Option<i64>,
    /// Concurrent operations the checker could not place.
    concurrent: BTreeSet<i64>,
    /// The last operations of the partial linearization.
    tail: BTreeSet<i64>,
}

/// What a key's chart is drawn from: its operations, their errors, the time scale and the
/// rows.
struct Chart<'a> {
    /// The operations on the key.
    ops: Vec<&'a Operation>,
    /// Completion :index -> the completion's :error.
    errors: BTreeMap<i64, &'a str>,
    /// The end of the history (ns).
    end: i64,
    /// Its length in seconds (at least 1).
    duration: f64,
    /// Pixels per second.
    scale: f64,
    /// Row of each process.
    row_of: BTreeMap<i64, usize>,
    /// Size of the chart.
    width: f64,
    height: f64,
    /// The operations to outline.
    outlines: Outlines,
}

impl<'a> Chart<'a> {
    /// Prepares the chart of `key_report`'s key.
    fn new(report: &'a RunReport<'_>, key_report: &KeyReport) -> Chart<'a> {
        let ops: Vec<&Operation> = report
            .ops
            .iter()
            .filter(|op| op.key == key_report.key)
            .collect();
        let errors: BTreeMap<i64, &str> = report
            .run
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Op {
                    event,
                    error: Some(error),
                } => Some((event.index, error.as_str())),
                _ => None,
            })
            .collect();
        let end = report
            .run
            .entries
            .last()
            .map_or(0, |e| e.time())
            .max(report.run.phases.last().map_or(0, |p| p.end));
        let duration = secs(end).max(1.0);
        let scale = PX_PER_SEC.min(MAX_WIDTH / duration);
        let processes: BTreeSet<i64> = ops.iter().map(|op| op.process).collect();
        let row_of: BTreeMap<i64, usize> =
            processes.iter().enumerate().map(|(i, p)| (*p, i)).collect();
        let mut outlines = Outlines::default();
        if let Verdict::NotLinearizable(cex) = &key_report.verdict {
            outlines.stuck = Some(cex.stuck.invoke.index);
            outlines
                .concurrent
                .extend(cex.concurrent.iter().map(|op| op.invoke.index));
            let from = cex.linearized.len().saturating_sub(LINEARIZED_TAIL);
            outlines
                .tail
                .extend(cex.linearized[from..].iter().map(|op| op.invoke.index));
        }
        let mut chart = Chart {
            ops,
            errors,
            end,
            duration,
            scale,
            height: TOP + ROW * row_of.len().max(1) as f64 + 10.0,
            row_of,
            width: 0.0,
            outlines,
        };
        chart.width = chart.x(end) + 40.0;
        chart
    }

    /// The x coordinate of time `t` (ns).
    fn x(&self, t: i64) -> f64 {
        LEFT + secs(t) * self.scale
    }

    /// Phases other than the main workload get a grey band (recovery, final reads).
    fn phase_bands(&self, report: &RunReport<'_>, svg: &mut String) {
        let height = self.height;
        for phase in report
            .run
            .phases
            .iter()
            .filter(|p| !p.name.starts_with("healthy"))
        {
            if report.run.faults.iter().any(|f| f.start == phase.start) {
                continue;
            }
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#000\" fill-opacity=\"0.05\"><title>{}</title></rect>\
                 <text x=\"{:.1}\" y=\"12\" fill=\"#555\">{}</text>",
                self.x(phase.start),
                (self.x(phase.end) - self.x(phase.start)).max(1.0),
                height - TOP,
                escape(&phase.name),
                self.x(phase.start) + 2.0,
                escape(&phase.name)
            );
        }
    }

    /// A shaded band per fault, coloured by its family, with its details on hover.
    fn fault_bands(&self, report: &RunReport<'_>, svg: &mut String) {
        for fault in report.run.faults {
            let stop = fault.end.unwrap_or(self.end);
            let colour = family_colour(fault.fault.family());
            let text = format!(
                "{} ({:.3} s .. {:.3} s): {}",
                fault.fault,
                secs(fault.start),
                secs(stop),
                fault.description
            );
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"16\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\" fill-opacity=\"0.13\"><title>{}</title></rect>\
                 <text x=\"{:.1}\" y=\"12\" fill=\"{colour}\">{}</text>",
                self.x(fault.start),
                (self.x(stop) - self.x(fault.start)).max(1.0),
                self.height - 16.0,
                escape(&text),
                self.x(fault.start) + 2.0,
                escape(fault.fault.name())
            );
        }
    }

    /// Time axis: a tick every second (every 5 or 10 when zoomed out).
    fn time_axis(&self, svg: &mut String) {
        let (scale, height) = (self.scale, self.height);
        let step = if scale >= 40.0 {
            1
        } else if scale >= 10.0 {
            5
        } else {
            10
        };
        let mut second = 0;
        while (second as f64) <= self.duration {
            let tx = LEFT + second as f64 * scale;
            let _ = write!(
                svg,
                "<line x1=\"{tx:.1}\" y1=\"{:.1}\" x2=\"{tx:.1}\" y2=\"{height:.0}\" stroke=\"#000\" stroke-opacity=\"0.08\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#777\">{second}s</text>",
                TOP - 10.0,
                tx + 2.0,
                TOP - 4.0
            );
            second += step;
        }
    }

    /// The label column: which replica each process's client talks to.
    fn labels(&self, report: &RunReport<'_>) -> String {
        let mut labels = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{LABELS}\" height=\"{:.0}\">",
            self.height
        );
        for (process, row) in &self.row_of {
            let y = TOP + *row as f64 * ROW;
            let clients = report.clients.max(1) as i64;
            let node = (process % clients) % report.nodes.max(1) as i64 + 1;
            let _ = write!(
                labels,
                "<text x=\"4\" y=\"{:.1}\">p{process} → n{node}</text>",
                y + ROW * 0.7
            );
        }
        labels.push_str("</svg>");
        labels
    }

    /// One bar per operation, outlined as [`Outlines`] says, with its details on hover.
    fn bars(&self, svg: &mut String) {
        for op in &self.ops {
            let Some(row) = self.row_of.get(&op.process) else {
                continue;
            };
            let y = TOP + *row as f64 * ROW + 2.0;
            let start = self.x(op.invoke.time);
            let stop = op.completion.map_or(self.x(self.end), |c| self.x(c.time));
            let w = (stop - start).max(2.0);
            let (stroke, dash, stroke_width, id) = self.outline(op.invoke.index);
            let tip = self.tip(op);
            let _ = write!(
                svg,
                "<g{id}><title>{}</title><rect x=\"{start:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"2\" fill=\"{}\" stroke=\"{stroke}\" stroke-width=\"{stroke_width}\"{dash}/>",
                escape(&tip),
                ROW - 4.0,
                outcome_colour(op.outcome)
            );
            let text = label(op);
            if w >= 7.0 * text.chars().count() as f64 {
                let _ = write!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    start + 2.0,
                    y + ROW * 0.62,
                    escape(&text)
                );
            }
            svg.push_str("</g>");
        }
    }

    /// The stroke, dash, stroke width and id attribute of the operation invoked at `index`.
    fn outline(&self, index: i64) -> (&'static str, &'static str, f64, &'static str) {
        let outlines = &self.outlines;
        if outlines.stuck == Some(index) {
            ("#d00000", "", 3.0, " id=\"stuck\"")
        } else if outlines.concurrent.contains(&index) {
            ("#d00000", " stroke-dasharray=\"4 2\"", 2.0, "")
        } else if outlines.tail.contains(&index) {
            ("#0066cc", " stroke-dasharray=\"4 2\"", 2.0, "")
        } else {
            ("#555", "", 0.5, "")
        }
    }

    /// The hover text of a bar: the operation, its times, its error.
    fn tip(&self, op: &Operation) -> String {
        let error = op
            .completion
            .and_then(|c| self.errors.get(&c.index))
            .map(|e| format!("\nerror: {e}"))
            .unwrap_or_default();
        format!(
            "{op}\ninvoked {:.6} s, {}{error}",
            secs(op.invoke.time),
            op.completion.map_or_else(
                || "never completed".to_string(),
                |c| format!(
                    "completed {:.6} s ({:.1} ms)",
                    secs(c.time),
                    secs(c.time - op.invoke.time) * 1e3
                )
            ),
        )
    }

    /// A dashed red line where the smallest non-linearizable prefix ends.
    fn violation_line(&self, key_report: &KeyReport, svg: &mut String) {
        if let Verdict::NotLinearizable(cex) = &key_report.verdict {
            if let Some(c) = cex.stuck.completion {
                let _ = write!(
                    svg,
                    "<line x1=\"{0:.1}\" y1=\"16\" x2=\"{0:.1}\" y2=\"{1:.0}\" stroke=\"#d00000\" stroke-dasharray=\"6 3\"><title>the smallest non-linearizable prefix ends here</title></line>",
                    self.x(c.time),
                    self.height
                );
            }
        }
    }
}

/// The HTML page around a key's chart: heading and verdict, the counterexample or why the
/// checker gave up, the legend, the chart beside its labels, and the scroll to the violation.
fn page_around(key_report: &KeyReport, chart: &Chart<'_>, labels: &str, svg: &str) -> String {
    let mut page = String::new();
    let title = format!("key {}", key_report.key);
    let _ = write!(
        page,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>lin_test: {}</title><style>{STYLE}</style></head><body>",
        escape(&title)
    );
    let _ = write!(
        page,
        "<p><a href=\"../index.html\">← all keys</a></p><h1>{}: {}</h1><p>{} operations by {} processes; checked in {:.3} s.</p>",
        escape(&title),
        verdict_html(&key_report.verdict),
        chart.ops.len(),
        chart.row_of.len(),
        key_report.elapsed.as_secs_f64()
    );
    match &key_report.verdict {
        Verdict::NotLinearizable(_) => {
            let text = key_report.to_string();
            let _ = write!(
                page,
                "<p><a href=\"#\" onclick=\"show();return false\">Scroll to the violation</a></p><pre>{}</pre>",
                escape(&text)
            );
        }
        Verdict::Unknown(why) => {
            let _ = write!(
                page,
                "<p>The checker gave up: {}.</p>",
                escape(&why.to_string())
            );
        }
        Verdict::Linearizable => {}
    }
    page.push_str(&legend());
    let _ = write!(
        page,
        "<div class=\"row\">{labels}<div class=\"chart\" id=\"chart\">{svg}</div></div>"
    );
    page.push_str(
        "<script>function show(){var s=document.getElementById('stuck');\
         if(s){s.scrollIntoView({block:'center',inline:'center'});}}\
         window.addEventListener('load',show);</script></body></html>\n",
    );
    page
}

/// The legend of a key's chart.
fn legend() -> String {
    format!(
        "<div class=\"legend\"><span><i class=\"sw\" style=\"background:{}\"></i>ok</span>\
         <span><i class=\"sw\" style=\"background:{}\"></i>fail (did not happen)</span>\
         <span><i class=\"sw\" style=\"background:{}\"></i>info (unknown)</span>\
         <span><i class=\"sw\" style=\"background:#fff;border:3px solid #d00000\"></i>completion ends the smallest non-linearizable prefix</span>\
         <span><i class=\"sw\" style=\"background:#fff;border:2px dashed #d00000\"></i>concurrent, not placed</span>\
         <span><i class=\"sw\" style=\"background:#fff;border:2px dashed #0066cc\"></i>last of the partial linearization</span>\
         <span>shaded bands: faults (hover for details)</span></div>",
        outcome_colour(Outcome::Ok),
        outcome_colour(Outcome::Fail),
        outcome_colour(Outcome::Info)
    )
}

/// The index page: the summary and a link per key.
pub fn index_page(report: &RunReport<'_>, summary: &str) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>lin_test run</title><style>{STYLE}</style></head><body>\
         <h1>lin_test run</h1><p>{}</p><table><tr><th>key</th><th>operations</th><th>verdict</th><th>timeline</th></tr>",
        escape(&super::summary::verdict_line(&report.run.overall))
    );
    for key in report.reports {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><a href=\"timeline/{}\">timeline</a></td></tr>",
            escape(&key.key.to_string()),
            key.operations,
            verdict_html(&key.verdict),
            page_name(&key.key)
        );
    }
    let _ = writeln!(
        page,
        "</table><p>Files: <a href=\"history.edn\">history.edn</a>, <a href=\"history.jsonl\">history.jsonl</a>, \
         <a href=\"nemesis.log\">nemesis.log</a>, <a href=\"summary.txt\">summary.txt</a>, per-key EDN in <code>keys/</code>, \
         replica logs in <code>logs/</code>.</p><pre>{}</pre></body></html>",
        escape(summary)
    );
    page
}
