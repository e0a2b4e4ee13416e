//! The self-contained HTML report: inline CSS and SVG charts drawn here from the timeline, no
//! scripts, fonts or images from anywhere else, so it can be attached to a ticket or archived.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use oomsday_core::human_bytes;

use super::svg::{BOTTOM, H, LEFT, RIGHT, TOP, W, step_d, svg_open, x_at};
use super::{Report, escape, recommendations, story_folded};
use crate::engine::RunRecord;
use crate::observe::{AlertState, Happening, NodeConditionKind, Time};
use crate::score::{Analysis, offset};
use crate::spec::{MemoryLimit, Verdict};

/// Most timeline rows the page shows (after folding bursts); the JSON report has every one.
const HTML_STORY_LINES: usize = 2000;
const PALETTE: [&str; 8] = [
    "#1f77b4", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#2ca02c", "#7f7f7f",
];

/// The time axis shared by every chart.
struct Axis {
    t0: Time,
    span: f64,
}

impl Axis {
    fn of(report: &Report) -> Axis {
        let r = &report.record;
        let mut t0 = r.started;
        let mut t1 = r.finished;
        if let (Some(first), Some(last)) =
            (r.timeline.entries().first(), r.timeline.entries().last())
        {
            t0 = t0.min(first.at);
            t1 = t1.max(last.at);
        }
        let span = t1.duration_since(t0).as_secs_f64().max(1.0);
        Axis { t0, span }
    }
    fn x(&self, t: Time) -> f64 {
        x_at(t.duration_since(self.t0).as_secs_f64(), 0.0, self.span)
    }
    fn end(&self) -> f64 {
        W - RIGHT
    }
}

/// Time ticks along the bottom, as offsets from the leak's start.
fn time_ticks(out: &mut String, axis: &Axis, start: Time, y: f64) {
    for i in 0..=5 {
        let s = axis.span * f64::from(i) / 5.0;
        let t = axis
            .t0
            .checked_add(jiff::SignedDuration::from_secs_f64(s))
            .unwrap_or(axis.t0);
        let x = axis.x(t);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{y}\" class=\"grid\"/><text x=\"{x:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
            y + 16.0,
            escape(&offset(start, t))
        );
    }
}

/// Vertical markers for the moments that matter: injected, reverted, OOM kills, evictions, alerts.
/// One line per kind and pixel column, its tooltip counting what it stands for: a cascade of
/// thousands of evictions draws a band, not thousands of lines.
fn markers(out: &mut String, report: &Report, axis: &Axis, bottom: f64) {
    let r = &report.record;
    // (pixel column, class) → (count, first few names)
    let mut marks: BTreeMap<(i64, &'static str), (usize, Vec<String>)> = BTreeMap::new();
    let mut mark = |t: Time, class: &'static str, title: String| {
        let e = marks
            .entry(((axis.x(t) * 2.0).round() as i64, class))
            .or_default();
        e.0 += 1;
        if e.1.len() < 3 {
            e.1.push(title);
        }
    };
    if let Some(t) = r.injected {
        mark(t, "m-phase", "leak injected".into());
    }
    if let Some(t) = r.reverted {
        mark(t, "m-phase", "leak reverted".into());
    }
    for o in r.timeline.iter() {
        match &o.happening {
            Happening::OomKilled {
                pod,
                container,
                leaker,
                ..
            } => mark(
                o.at,
                if *leaker { "m-oom-leaker" } else { "m-oom" },
                format!("OOM kill {}/{container}", pod.name),
            ),
            Happening::PodEvicted { pod, cause, .. }
                if *cause != crate::observe::DisruptionCause::Deleted =>
            {
                mark(
                    o.at,
                    "m-evict",
                    format!("eviction of {} ({cause:?})", pod.name),
                )
            }
            Happening::Alert {
                name,
                state: AlertState::Firing,
            } => mark(o.at, "m-alert", format!("alert {name} firing")),
            _ => {}
        }
    }
    for ((px, class), (n, names)) in marks {
        let x = px as f64;
        let title = if n > names.len() {
            format!("{} … ({n} in all)", names.join("; "))
        } else {
            names.join("; ")
        };
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\" class=\"{class}\"><title>{}</title></line>",
            escape(&title)
        );
    }
}

/// One point per pixel column, the largest in it: an hour of samples from many pods would
/// otherwise make the page heavy, and the peaks are what matter.
fn per_pixel(points: &[(Time, u64)], axis: &Axis) -> Vec<(f64, u64)> {
    let mut out: Vec<(f64, u64)> = Vec::new();
    for (t, b) in points {
        let px = axis.x(*t).round();
        match out.last_mut() {
            Some((x, max)) if *x == px => *max = (*max).max(*b),
            _ => out.push((px, *b)),
        }
    }
    out
}

fn leak_chart(report: &Report, axis: &Axis, start: Time) -> String {
    let r = &report.record;
    let mut series: BTreeMap<&str, Vec<(Time, u64)>> = BTreeMap::new();
    for o in r.timeline.iter() {
        if let Happening::LeakerBytes { pod, bytes } = &o.happening {
            series.entry(pod.as_str()).or_default().push((o.at, *bytes));
        }
    }
    let limit = match r.spec.leak.limit {
        MemoryLimit::Bytes(q) => Some(q.bytes()),
        MemoryLimit::None => None,
    };
    let max = series
        .values()
        .flatten()
        .map(|(_, b)| *b)
        .chain(limit)
        .max()
        .unwrap_or(0)
        .max(1);
    let bottom = H - BOTTOM;
    let y = |b: u64| bottom - (b as f64 / max as f64) * (bottom - TOP);
    let mut out = String::new();
    svg_open(&mut out, "leaked memory per pod over time", H);
    time_ticks(&mut out, axis, start, bottom);
    for frac in [0.0, 0.5, 1.0] {
        let b = (max as f64 * frac) as u64;
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            y(b) + 4.0,
            escape(&human_bytes(b))
        );
    }
    if let Some(l) = limit {
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" class=\"budget\"><title>leaker limit {2}</title></line>",
            y(l),
            axis.end(),
            escape(&human_bytes(l))
        );
    }
    markers(&mut out, report, axis, bottom);
    if series.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"empty\" text-anchor=\"middle\">no leaker memory was observed</text>",
            W / 2.0,
            H / 2.0
        );
    }
    for (i, (pod, points)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let mut d = String::new();
        for (k, (px, b)) in per_pixel(points, axis).into_iter().enumerate() {
            let py = y(b);
            let _ = write!(d, "{}{px:.1},{py:.1}", if k == 0 { "M" } else { " L" });
        }
        let _ = write!(
            out,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\"><title>{}</title></path>",
            escape(pod)
        );
    }
    out.push_str("</svg>");
    out
}

/// Ready pods and desired replicas against the budget, as step lines over the run.
fn ready_chart(report: &Report, axis: &Axis, start: Time, a: &Analysis) -> String {
    let (ready, budget) = ready_series(&report.record);
    let static_budget = a.budget.and_then(|b| b.budget);
    let max = ready
        .iter()
        .map(|(_, n, d)| (*n).max(*d))
        .chain(budget.iter().map(|(_, b)| *b))
        .chain(static_budget)
        .max()
        .unwrap_or(1)
        .max(1);
    let bottom = H - BOTTOM;
    let y = |n: u32| bottom - (f64::from(n) / f64::from(max)) * (bottom - TOP);
    let step = |pts: &[(Time, u32)]| step_path(pts, axis, y);
    let mut out = String::new();
    svg_open(&mut out, "ready pods against the budget", H);
    time_ticks(&mut out, axis, start, bottom);
    for n in [0, max / 2, max] {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{n}</text>",
            LEFT - 6.0,
            y(n) + 4.0
        );
    }
    markers(&mut out, report, axis, bottom);
    if !budget.is_empty() {
        let _ = write!(
            out,
            "<path d=\"{}\" class=\"budget\"><title>budget (PDB desiredHealthy)</title></path>",
            step(&budget)
        );
    } else if let Some(b) = static_budget {
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" class=\"budget\"><title>budget {b} ({2})</title></line>",
            y(b),
            axis.end(),
            escape(a.budget_source.describe())
        );
    }
    ready_paths(&mut out, &ready, step);
    out.push_str("</svg>");
    out
}

/// A workload update: when, ready pods, desired replicas.
type ReadyPoint = (Time, u32, u32);

/// From the timeline: (time, ready, desired) per workload update, and the highest
/// desiredHealthy of the budgets seen so far at each budget update.
fn ready_series(r: &RunRecord) -> (Vec<ReadyPoint>, Vec<(Time, u32)>) {
    let mut ready: Vec<(Time, u32, u32)> = Vec::new();
    let mut budget: Vec<(Time, u32)> = Vec::new();
    let mut pdbs: BTreeMap<&str, u32> = BTreeMap::new();
    for o in r.timeline.iter() {
        match &o.happening {
            Happening::Workload {
                desired, ready: n, ..
            } => ready.push((o.at, *n, *desired)),
            Happening::Budget {
                name,
                desired_healthy,
                ..
            } => {
                pdbs.insert(name.as_str(), *desired_healthy);
                budget.push((o.at, pdbs.values().copied().max().unwrap_or(0)));
            }
            _ => {}
        }
    }
    (ready, budget)
}

/// An SVG path that holds each value until the next and the last to the axis's end.
fn step_path(pts: &[(Time, u32)], axis: &Axis, y: impl Fn(u32) -> f64) -> String {
    let xy: Vec<(f64, f64)> = pts.iter().map(|(t, n)| (axis.x(*t), y(*n))).collect();
    step_d(&xy, axis.end())
}

/// The desired and ready lines, or a note that ready pods were never observed.
fn ready_paths(
    out: &mut String,
    ready: &[(Time, u32, u32)],
    step: impl Fn(&[(Time, u32)]) -> String,
) {
    if ready.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"empty\" text-anchor=\"middle\">ready pods were not observed</text>",
            W / 2.0,
            H / 2.0
        );
    } else {
        let desired: Vec<(Time, u32)> = ready.iter().map(|(t, _, d)| (*t, *d)).collect();
        let readies: Vec<(Time, u32)> = ready.iter().map(|(t, n, _)| (*t, *n)).collect();
        let _ = write!(
            out,
            "<path d=\"{}\" class=\"desired\"><title>desired replicas</title></path><path d=\"{}\" class=\"ready\"><title>ready pods</title></path>",
            step(&desired),
            step(&readies)
        );
    }
}

fn node_chart(report: &Report, axis: &Axis, start: Time) -> Option<String> {
    let r = &report.record;
    // Per node: open and closed intervals of each condition.
    type Bands = Vec<(Time, Option<Time>)>;
    let mut nodes: BTreeMap<&str, (Bands, Bands)> = BTreeMap::new();
    for o in r.timeline.iter() {
        if let Happening::NodeCondition {
            node,
            condition,
            status,
            ..
        } = &o.happening
        {
            let entry = nodes.entry(node.as_str()).or_default();
            let (bands, bad) = match condition {
                NodeConditionKind::MemoryPressure => (&mut entry.0, *status),
                NodeConditionKind::Ready => (&mut entry.1, !*status),
            };
            let open = bands.last().is_some_and(|(_, end)| end.is_none());
            if bad && !open {
                bands.push((o.at, None));
            } else if !bad
                && open
                && let Some(last) = bands.last_mut()
            {
                last.1 = Some(o.at);
            }
        }
    }
    nodes.retain(|_, (p, n)| !p.is_empty() || !n.is_empty());
    if nodes.is_empty() {
        return None;
    }
    let row = 22.0;
    let height = TOP + row * nodes.len() as f64 + BOTTOM;
    let bottom = height - BOTTOM;
    let mut out = String::new();
    svg_open(&mut out, "node MemoryPressure and NotReady", height);
    time_ticks(&mut out, axis, start, bottom);
    for (i, (node, (pressure, not_ready))) in nodes.iter().enumerate() {
        let y = TOP + row * i as f64;
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            y + 15.0,
            escape(node)
        );
        for (class, bands, what) in [
            ("pressure", pressure, "MemoryPressure"),
            ("notready", not_ready, "NotReady"),
        ] {
            for (from, to) in bands {
                let x0 = axis.x(*from);
                let x1 = to.map_or(axis.end(), |t| axis.x(t));
                let (yy, hh) = if class == "notready" {
                    (y + 3.0, row - 6.0)
                } else {
                    (y + 1.0, row - 2.0)
                };
                let _ = write!(
                    out,
                    "<rect x=\"{x0:.1}\" y=\"{yy:.1}\" width=\"{:.1}\" height=\"{hh:.1}\" class=\"{class}\"><title>{} {what} from {}{}</title></rect>",
                    (x1 - x0).max(1.5),
                    escape(node),
                    escape(&offset(start, *from)),
                    to.map(|t| format!(" to {}", offset(start, t)))
                        .unwrap_or_else(|| " to the end".into())
                );
            }
        }
    }
    out.push_str("</svg>");
    Some(out)
}

const CSS: &str = "
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:960px;color:#1d232a;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde;padding-bottom:.2rem}
.banner{background:#fff3cd;border:2px solid #d39e00;padding:.8rem 1rem;font-weight:600;margin:1rem 0;border-radius:6px}
.verdict{display:inline-block;padding:.3rem .8rem;border-radius:4px;color:#fff;font-weight:700}
.Passed{background:#2e7d32}.Failed{background:#c62828}.Inconclusive{background:#6d6d6d}
.grade{font-size:3rem;font-weight:800;float:right;line-height:1}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border-bottom:1px solid #e6e8eb;padding:.35rem .5rem;text-align:left;vertical-align:top}
.bar{background:#e9ecef;height:.8rem;width:160px;border-radius:3px;overflow:hidden}.bar span{display:block;height:100%;background:#1f77b4}
.nm{color:#888;font-style:italic}.pass{color:#2e7d32;font-weight:600}.fail{color:#c62828;font-weight:600}
.grid{stroke:#eef0f2;stroke-width:1}.tick{font-size:11px;fill:#555}.empty{font-size:13px;fill:#999}
.m-phase{stroke:#555;stroke-dasharray:5 3;stroke-width:1.2}.m-oom{stroke:#d62728;stroke-width:1.6}.m-oom-leaker{stroke:#ff9896;stroke-width:1.4}
.m-evict{stroke:#ff7f0e;stroke-width:1.6}.m-alert{stroke:#1565c0;stroke-width:2;stroke-dasharray:2 2}
.budget{stroke:#c62828;stroke-dasharray:6 4;fill:none;stroke-width:1.5}.ready{stroke:#2ca02c;fill:none;stroke-width:2.2}.desired{stroke:#999;fill:none;stroke-width:1}
.pressure{fill:#ffcc80}.notready{fill:#d62728}
.legend span{margin-right:1rem;font-size:.85rem}.sw{display:inline-block;width:.9rem;height:.6rem;margin-right:.3rem;vertical-align:middle}
code{background:#f3f4f6;padding:0 .2rem;border-radius:3px}small{color:#666}
";

pub(super) fn render(report: &Report) -> String {
    let r = &report.record;
    let mut h = header(report);
    h.push_str(&score_table(report));
    h.push_str(&hypothesis(report));
    h.push_str(&bullets("Baseline", super::text::baseline(report)));
    h.push_str(&super::prediction::html(report));
    h.push_str(&bullets("Recommendations", recommendations(report)));
    h.push_str(&charts(report));
    h.push_str(&timeline(report));
    let _ = writeln!(
        h,
        "<p><small>oomsday {} · report schema {}{}</small></p></body></html>",
        env!("CARGO_PKG_VERSION"),
        report.schema_version,
        if report.score.verdict == Verdict::Inconclusive {
            " · inconclusive runs prove nothing either way"
        } else {
            ""
        }
    );
    if r.simulated {
        // Say it at the end too: people scroll.
        h = h.replace(
            "</body></html>",
            "<p class=\"banner\">Simulated run.</p></body></html>",
        );
    }
    h
}

/// The document's head, the grade, what was run and the verdict.
fn header(report: &Report) -> String {
    let r = &report.record;
    let s = &report.score;
    let mut h = String::new();
    let title = format!(
        "oomsday: {}{}",
        r.experiment,
        if r.simulated { " (SIMULATED)" } else { "" }
    );
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body>",
        escape(&title)
    );
    let _ = write!(
        h,
        "<div class=\"grade\" title=\"score {}\">{}</div><h1>{}</h1><p><small>{} <code>{}/{}</code> on {} · run <code>{}</code> · {} → {}</small></p>",
        escape(&s.headline()),
        s.grade.map_or("–", |g| g.as_str()),
        escape(&r.experiment),
        r.spec.target.kind.as_str(),
        escape(&r.namespace),
        escape(&r.spec.target.name),
        escape(&r.cluster),
        escape(&r.run_id),
        escape(&r.started.to_string()),
        escape(&r.finished.to_string()),
    );
    if r.simulated {
        h.push_str("<div class=\"banner\">SIMULATED RUN — these results come from oomsday's cluster simulator, a model of Kubernetes behaviour, not a measurement of a real cluster.</div>");
    }
    let _ = write!(
        h,
        "<p><span class=\"verdict {:?}\">{:?}</span> {} · score <b>{}</b> · phase {:?}{}</p>",
        s.verdict,
        s.verdict,
        escape(&s.verdict_reason),
        s.total
            .map_or("not scored".to_string(), |t| format!("{t}/100")),
        r.phase,
        r.reason
            .map(|x| format!(" ({})", escape(x.as_str())))
            .unwrap_or_default()
    );
    if let Some(m) = &r.message {
        let _ = write!(h, "<p>{}</p>", escape(m));
    }

    h
}

/// The facets with their points, weights and evidence, and the total.
fn score_table(report: &Report) -> String {
    let s = &report.score;
    let mut h = String::new();
    h.push_str("<h2>Score</h2><table><tr><th>facet</th><th></th><th>points</th><th>weight</th><th>why</th></tr>");
    for f in &s.facets {
        let (bar, pts) = match f.points {
            Some(p) => (
                format!("<div class=\"bar\"><span style=\"width:{p:.0}%\"></span></div>"),
                format!("{p:.0}"),
            ),
            None => (
                String::new(),
                "<span class=\"nm\">not measured</span>".into(),
            ),
        };
        let weight = if f.measured {
            format!(
                "{:.1} <small>(of {:.0})</small>",
                f.effective_weight, f.weight
            )
        } else {
            format!("0 <small>(of {:.0}, shared out)</small>", f.weight)
        };
        let evidence = if f.evidence.is_empty() {
            String::new()
        } else {
            format!(
                "<br><small>{}</small>",
                f.evidence
                    .iter()
                    .map(|e| escape(e))
                    .collect::<Vec<_>>()
                    .join("<br>")
            )
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{bar}</td><td>{pts}</td><td>{weight}</td><td>{}{evidence}</td></tr>",
            f.facet,
            escape(&f.explanation)
        );
    }
    let _ = write!(
        h,
        "<tr><th>total</th><th></th><th>{}</th><th></th><th>grade {}</th></tr></table>",
        s.total.map_or("–".to_string(), |t| t.to_string()),
        s.grade.map_or("–", |g| g.as_str())
    );

    h
}

/// Each clause and what was observed, or nothing without a hypothesis.
fn hypothesis(report: &Report) -> String {
    let s = &report.score;
    let mut h = String::new();
    if !s.hypothesis.is_empty() {
        h.push_str(
            "<h2>Hypothesis</h2><table><tr><th>clause</th><th>result</th><th>observed</th></tr>",
        );
        for c in &s.hypothesis {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td class=\"{}\">{}</td><td>{}</td></tr>",
                escape(&c.clause),
                if c.passed {
                    "pass"
                } else if c.judged {
                    "fail"
                } else {
                    "skip"
                },
                c.outcome(),
                escape(&c.detail)
            );
        }
        h.push_str("</table>");
    }

    h
}

/// A titled list, or nothing when it is empty.
fn bullets(title: &str, items: Vec<String>) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut h = format!("<h2>{title}</h2><ul>");
    for item in items {
        let _ = write!(h, "<li>{}</li>", escape(&item));
    }
    h.push_str("</ul>");
    h
}

/// Leaked memory, ready pods against the budget, and the nodes, on one time axis.
fn charts(report: &Report) -> String {
    let r = &report.record;
    let a = &report.analysis;
    let axis = Axis::of(report);
    let start = r.injected.unwrap_or(r.started);
    let mut h = String::new();
    h.push_str("<h2>What happened</h2><p class=\"legend\"><span><i class=\"sw\" style=\"background:#d62728\"></i>OOM kill</span><span><i class=\"sw\" style=\"background:#ff9896\"></i>leaker OOM kill</span><span><i class=\"sw\" style=\"background:#ff7f0e\"></i>eviction</span><span><i class=\"sw\" style=\"background:#1565c0\"></i>alert firing</span><span><i class=\"sw\" style=\"background:#555\"></i>inject / revert</span></p>");
    h.push_str("<h3>Leaked memory per pod</h3>");
    h.push_str(&leak_chart(report, &axis, start));
    h.push_str("<h3>Ready pods vs the budget</h3><p class=\"legend\"><span><i class=\"sw\" style=\"background:#2ca02c\"></i>ready</span><span><i class=\"sw\" style=\"background:#999\"></i>desired</span><span><i class=\"sw\" style=\"background:#c62828\"></i>budget</span></p>");
    h.push_str(&ready_chart(report, &axis, start, a));
    if let Some(nodes) = node_chart(report, &axis, start) {
        h.push_str("<h3>Nodes</h3><p class=\"legend\"><span><i class=\"sw\" style=\"background:#ffcc80\"></i>MemoryPressure</span><span><i class=\"sw\" style=\"background:#d62728\"></i>NotReady</span></p>");
        h.push_str(&nodes);
    }

    h
}

/// The story, folded, at most [`HTML_STORY_LINES`] of it.
fn timeline(report: &Report) -> String {
    let r = &report.record;
    let start = r.injected.unwrap_or(r.started);
    let mut h = String::new();
    let lines = story_folded(report);
    if !lines.is_empty() {
        h.push_str("<h2>Timeline</h2><table>");
        for (at, line) in lines.iter().take(HTML_STORY_LINES) {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td><small>{}</small></td><td>{}</td></tr>",
                escape(&offset(start, *at)),
                escape(&at.to_string()),
                escape(line)
            );
        }
        h.push_str("</table>");
        if lines.len() > HTML_STORY_LINES {
            let _ = write!(
                h,
                "<p><small>… {} more lines in the JSON report.</small></p>",
                lines.len() - HTML_STORY_LINES
            );
        }
    }
    h
}
