//! "Predicted vs observed": the prediction made on a snapshot of the cluster just before the run
//! (`run --predict`, `spec.predict`) beside what happened — a table of every measure with its
//! error, and in HTML the predicted series drawn on the same charts as the observed ones.

use std::fmt::Write as _;

use super::svg::{BOTTOM, H, LEFT, TOP, step_d, svg_open, x_at};
use super::{Report, escape};
use crate::predict::{Comparison, FirstRow, Prediction, Series};
use crate::sim::model::WorkingSetSource;

/// Most snapshot notes a report repeats (the JSON report has all of them).
const NOTES: usize = 6;

const OBSERVED: &str = "#2ca02c";
const PREDICTED: &str = "#6a3d9a";

fn parts(report: &Report) -> Option<(&Prediction, &Comparison)> {
    Some((report.prediction.as_ref()?, report.comparison.as_ref()?))
}

/// Where the prediction came from, in one sentence.
fn provenance(p: &Prediction) -> String {
    let seeds = match (p.seeds.first(), p.seeds.last()) {
        (Some(a), Some(b)) if a != b => format!("seeds {a}–{b}"),
        (Some(a), _) => format!("seed {a}"),
        _ => "no seed".into(),
    };
    let model = match &p.snapshot {
        Some(s) => format!(
            "a snapshot of {} taken {} (working sets {})",
            s.context,
            s.taken_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            match s.working_sets {
                WorkingSetSource::Measured => "measured",
                WorkingSetSource::Partly => "partly measured, partly estimated",
                WorkingSetSource::Estimated => "estimated from requests",
            }
        ),
        None => format!("the model {}", p.model),
    };
    format!(
        "Predicted before the run by simulating it {} times ({seeds}) on {model}: each measure \
         is the median of the simulated runs (of those where it happens, when most do), with \
         their range. The charts draw seed {}, the run nearest the medians.",
        p.seeds.len(),
        p.representative_seed
    )
}

fn notes(p: &Prediction) -> (Vec<&str>, usize) {
    // Warnings first: they say whether to trust the rest; then what the simulations assumed of
    // the kubelets' memory notifier, which decides when evictions come.
    let all: Vec<&String> = p
        .warnings
        .iter()
        .chain(&p.notifier)
        .chain(p.snapshot.iter().flat_map(|s| &s.notes))
        .collect();
    (
        all.iter().take(NOTES).map(|s| s.as_str()).collect(),
        all.len().saturating_sub(NOTES),
    )
}

fn verdict_cell(p: &Prediction) -> String {
    let n = p.verdicts.get(&p.verdict).copied().unwrap_or(0);
    format!("{:?} ({n} of {} runs)", p.verdict, p.seeds.len())
}

/// The Markdown section; empty without a prediction.
pub(super) fn markdown(report: &Report) -> String {
    let Some((p, c)) = parts(report) else {
        return String::new();
    };
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut md = String::from("## Predicted vs observed\n\n");
    let _ = write!(md, "{}\n\n**{}.**\n\n", provenance(p), c.headline());
    md.push_str(
        "| measure | predicted | observed | error | within tolerance |\n| --- | ---: | ---: | ---: | :---: |\n",
    );
    for r in &c.rows {
        let tol = r
            .measure
            .tolerance_text()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| {}{tol} | {} | {} | {} | {} |",
            r.measure.label(),
            cell(&r.predicted_text()),
            cell(&r.observed_text()),
            cell(&r.error_text()),
            r.within_text()
        );
    }
    let first = &c.target_first;
    let _ = writeln!(
        md,
        "| {} | {} | {} | — | {} |",
        FirstRow::LABEL,
        cell(&first.predicted_text()),
        cell(&first.observed_text()),
        first.within_text()
    );
    let _ = writeln!(
        md,
        "| verdict | {} | {:?} | — | {} |\n",
        verdict_cell(p),
        c.observed_verdict,
        if c.predicted_verdict == c.observed_verdict {
            "yes"
        } else {
            "no"
        }
    );
    if let Some(said) = first.sentence() {
        let _ = writeln!(md, "{said}\n");
    }
    let (shown, more) = notes(p);
    if !shown.is_empty() {
        md.push_str(
            "What the prediction stands on (warnings first, then what the simulations and the snapshot assumed):\n\n",
        );
        for n in shown {
            let _ = writeln!(md, "- {}", cell(n));
        }
        if more > 0 {
            let _ = writeln!(md, "- … {more} more in the JSON report");
        }
        md.push('\n');
    }
    md
}

/// The time axis of the comparison charts: seconds after the injection.
struct Axis {
    from: f64,
    to: f64,
}

impl Axis {
    fn x(&self, s: f64) -> f64 {
        x_at(s, self.from, self.to)
    }
}

fn label(s: f64) -> String {
    let sign = if s < 0.0 { "−" } else { "+" };
    let a = s.abs();
    if a < 120.0 {
        format!("T{sign}{a:.0}s")
    } else if a < 7200.0 {
        format!("T{sign}{:.0}m", a / 60.0)
    } else {
        format!("T{sign}{:.1}h", a / 3600.0)
    }
}

fn frame(out: &mut String, axis: &Axis, what: &str, max: u32, y: &dyn Fn(f64) -> f64) {
    svg_open(out, what, H);
    let bottom = H - BOTTOM;
    for i in 0..=5 {
        let s = axis.from + (axis.to - axis.from) * f64::from(i) / 5.0;
        let x = axis.x(s);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\" class=\"grid\"/><text x=\"{x:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
            bottom + 16.0,
            escape(&label(s))
        );
    }
    for n in [0, max / 2, max] {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{n}</text>",
            LEFT - 6.0,
            y(f64::from(n)) + 4.0
        );
    }
    let x0 = axis.x(0.0);
    let _ = write!(
        out,
        "<line x1=\"{x0:.1}\" y1=\"{TOP}\" x2=\"{x0:.1}\" y2=\"{bottom}\" class=\"m-phase\"><title>leak injected</title></line>"
    );
}

/// One series on a chart: a step line through `points` to `end`, dashed for the prediction.
struct Line<'a> {
    points: &'a [(f64, u32)],
    end: f64,
    color: &'a str,
    dashed: bool,
    title: String,
}

impl Line<'_> {
    fn draw(&self, out: &mut String, axis: &Axis, y: &dyn Fn(f64) -> f64) {
        let Some(&(last, _)) = self.points.last() else {
            return;
        };
        let xy: Vec<(f64, f64)> = self
            .points
            .iter()
            .map(|(t, n)| (axis.x(*t), y(f64::from(*n))))
            .collect();
        let d = step_d(&xy, axis.x(self.end.max(last)));
        let dash = if self.dashed {
            " stroke-dasharray=\"7 4\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2.2\"{dash}><title>{}</title></path>",
            self.color,
            escape(&self.title)
        );
    }
}

/// Cumulative count steps from event times.
fn cumulative(times: &[f64]) -> Vec<(f64, u32)> {
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    std::iter::once((t.first().copied().unwrap_or(0.0).min(0.0), 0))
        .chain(t.iter().enumerate().map(|(i, &s)| (s, i as u32 + 1)))
        .collect()
}

fn chart(axis: &Axis, what: &str, lines: &[Line<'_>], budget: Option<Line<'_>>) -> String {
    let max = lines
        .iter()
        .chain(budget.as_ref())
        .flat_map(|l| l.points.iter().map(|(_, n)| *n))
        .max()
        .unwrap_or(1)
        .max(1);
    let bottom = H - BOTTOM;
    let y = |n: f64| bottom - (n / f64::from(max)) * (bottom - TOP);
    let mut out = String::new();
    frame(&mut out, axis, what, max, &y);
    for l in budget.iter().chain(lines) {
        l.draw(&mut out, axis, &y);
    }
    out.push_str("</svg>");
    out
}

/// The HTML section; empty without a prediction.
pub(super) fn html(report: &Report) -> String {
    let Some((p, c)) = parts(report) else {
        return String::new();
    };
    let mut h = String::from("<h2>Predicted vs observed</h2>");
    let _ = write!(
        h,
        "<p><small>{}</small></p><p><b>{}.</b></p>",
        escape(&provenance(p)),
        escape(&c.headline())
    );
    h.push_str(&html_table(p, c));
    let observed = Series::of(&report.record);
    let charts = Charts::new(&observed, &p.series, p.representative_seed);
    h.push_str(&charts.ready());
    h.push_str(&charts.disruptions());
    h.push_str(&charts.nodes());
    h.push_str(&html_notes(p));
    h
}

/// Every measure predicted and observed with its error, then the verdicts.
fn html_table(p: &Prediction, c: &Comparison) -> String {
    let mut h = String::from(
        "<table><tr><th>measure</th><th>predicted</th><th>observed</th><th>error</th><th>within tolerance</th></tr>",
    );
    for r in &c.rows {
        let class = match r.within {
            Some(true) => "pass",
            Some(false) => "fail",
            None => "",
        };
        let _ = write!(
            h,
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td></tr>",
            escape(r.measure.label()),
            r.measure
                .tolerance_text()
                .map(|t| format!(" <small>({})</small>", escape(t)))
                .unwrap_or_default(),
            escape(&r.predicted_text()),
            escape(&r.observed_text()),
            escape(&r.error_text()),
            r.within_text()
        );
    }
    let first = &c.target_first;
    let _ = write!(
        h,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>—</td><td class=\"{}\">{}</td></tr>",
        FirstRow::LABEL,
        escape(&first.predicted_text()),
        escape(&first.observed_text()),
        match first.within {
            Some(true) => "pass",
            Some(false) => "fail",
            None => "",
        },
        escape(&first.within_text())
    );
    let agree = c.predicted_verdict == c.observed_verdict;
    let _ = write!(
        h,
        "<tr><td>verdict</td><td>{}</td><td>{:?}</td><td>—</td><td class=\"{}\">{}</td></tr></table>",
        escape(&verdict_cell(p)),
        c.observed_verdict,
        if agree { "pass" } else { "fail" },
        if agree { "yes" } else { "no" }
    );
    h
}

/// The legend of a chart of one measure: observed, predicted and the budget.
fn legend(a: &str, b: &str) -> String {
    format!(
        "<p class=\"legend\"><span><i class=\"sw\" style=\"background:{OBSERVED}\"></i>{a}</span><span><i class=\"sw\" style=\"background:{PREDICTED}\"></i>{b}</span><span><i class=\"sw\" style=\"background:#c62828\"></i>budget</span></p>"
    )
}

/// The observed and predicted series on one time axis, for the comparison charts.
struct Charts<'a> {
    observed: &'a Series,
    predicted: &'a Series,
    axis: Axis,
    /// The simulated run the predicted lines are drawn from.
    seed: u64,
}

impl<'a> Charts<'a> {
    fn new(observed: &'a Series, predicted: &'a Series, seed: u64) -> Self {
        let axis = Axis {
            from: observed.first().min(predicted.first()),
            to: observed.end.max(predicted.end).max(1.0),
        };
        Charts {
            observed,
            predicted,
            axis,
            seed,
        }
    }

    /// One series observed (solid) and predicted (dashed), in `colors`.
    fn both<'l>(
        &self,
        what: &str,
        colors: (&'l str, &'l str),
        observed: &'l [(f64, u32)],
        predicted: &'l [(f64, u32)],
    ) -> [Line<'l>; 2] {
        [
            Line {
                points: observed,
                end: self.observed.end,
                color: colors.0,
                dashed: false,
                title: format!("observed {what}"),
            },
            Line {
                points: predicted,
                end: self.predicted.end,
                color: colors.1,
                dashed: true,
                title: format!("predicted {what} (simulated, seed {})", self.seed),
            },
        ]
    }

    /// The target's ready pods against the budget (the observed budget, else the predicted).
    fn ready(&self) -> String {
        let (observed, predicted) = (self.observed, self.predicted);
        let budget = if observed.budget.is_empty() {
            &predicted.budget
        } else {
            &observed.budget
        };
        let mut h = String::from("<h3>Ready pods: predicted and observed</h3>");
        h.push_str(&legend("observed", "predicted (dashed)"));
        h.push_str(&chart(
            &self.axis,
            "ready pods, predicted and observed",
            &self.both(
                "ready pods",
                (OBSERVED, PREDICTED),
                &observed.ready,
                &predicted.ready,
            ),
            Some(Line {
                points: budget,
                end: self.axis.to,
                color: "#c62828",
                dashed: true,
                title: "budget (PDB desiredHealthy)".into(),
            }),
        ));
        h
    }

    /// OOM kills and evictions so far.
    fn disruptions(&self) -> String {
        let (od, pd) = (
            cumulative(&self.observed.disruptions),
            cumulative(&self.predicted.disruptions),
        );
        let mut h = String::from("<h3>OOM kills and evictions: predicted and observed</h3>");
        h.push_str(&legend("observed", "predicted (dashed)"));
        h.push_str(&chart(
            &self.axis,
            "OOM kills and evictions so far, predicted and observed",
            &self.both("OOM kills and evictions", (OBSERVED, PREDICTED), &od, &pd),
            None,
        ));
        h
    }

    /// Nodes under MemoryPressure and NotReady; nothing when no node was hit either way.
    fn nodes(&self) -> String {
        let (observed, predicted) = (self.observed, self.predicted);
        let nodes_hit = [
            &observed.pressure,
            &observed.not_ready,
            &predicted.pressure,
            &predicted.not_ready,
        ]
        .iter()
        .any(|s| s.iter().any(|(_, n)| *n > 0));
        if !nodes_hit {
            return String::new();
        }
        let mut h = String::from(
            "<h3>Nodes under MemoryPressure and NotReady: predicted and observed</h3><p class=\"legend\"><span><i class=\"sw\" style=\"background:#ff7f0e\"></i>MemoryPressure</span><span><i class=\"sw\" style=\"background:#d62728\"></i>NotReady</span> — observed solid, predicted dashed</p>",
        );
        h.push_str(&chart(
            &self.axis,
            "nodes under MemoryPressure and NotReady, predicted and observed",
            &[
                self.both(
                    "nodes under MemoryPressure",
                    ("#ff7f0e", "#ff7f0e"),
                    &observed.pressure,
                    &predicted.pressure,
                ),
                self.both(
                    "nodes NotReady",
                    ("#d62728", "#d62728"),
                    &observed.not_ready,
                    &predicted.not_ready,
                ),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>(),
            None,
        ));
        h
    }
}

/// The prediction's warnings and what the snapshot assumed, the first few; nothing without any.
fn html_notes(p: &Prediction) -> String {
    let (shown, more) = notes(p);
    let mut h = String::new();
    if !shown.is_empty() {
        h.push_str("<p><small>What the prediction stands on (warnings first, then what the simulations and the snapshot assumed):</small></p><ul>");
        for n in shown {
            let _ = write!(h, "<li><small>{}</small></li>", escape(n));
        }
        if more > 0 {
            let _ = write!(
                h,
                "<li><small>… {more} more in the JSON report</small></li>"
            );
        }
        h.push_str("</ul>");
    }
    h
}
