//! The Markdown summary: what a pull request comment or a wiki page shows.

use super::{Report, recommendations, story_folded};
use crate::score::{Facet, offset};
use crate::spec::{MemoryLimit, Verdict};

/// Most story lines a Markdown summary shows; the HTML and JSON reports have them all.
const STORY_LINES: usize = 40;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub(super) fn render(report: &Report) -> String {
    let mut md = header(report);
    md.push_str(&score(report));
    md.push_str(&hypothesis(report));
    md.push_str(&bullets("Baseline", super::text::baseline(report), |l| {
        cell(&l)
    }));
    md.push_str(&super::prediction::markdown(report));
    md.push_str(&bullets("Recommendations", recommendations(report), |r| r));
    let evidence = report
        .score
        .facets
        .iter()
        .flat_map(|f| f.evidence.iter().map(move |e| (f.facet, e)));
    md.push_str(&bullets(
        "Evidence",
        evidence,
        |(facet, e): (Facet, &String)| format!("*{facet}*: {}", cell(e)),
    ));
    md.push_str(&timeline(report));
    if report.record.simulated {
        md.push_str("_Simulated with oomsday's cluster model._\n");
    }
    md
}

/// The title, the verdict and what was run.
fn header(report: &Report) -> String {
    let r = &report.record;
    let s = &report.score;
    let mut md = String::new();
    md.push_str(&format!(
        "# oomsday: {} — {}\n\n",
        r.experiment,
        match (s.grade, s.total) {
            (Some(g), Some(t)) => format!("{g} ({t}/100)"),
            _ => "not scored".to_string(),
        }
    ));
    if r.simulated {
        md.push_str(
            "> **SIMULATED RUN.** These results come from oomsday's cluster simulator, a model of \
             Kubernetes behaviour — not a measurement of a real cluster.\n\n",
        );
    }
    let verdict = match s.verdict {
        Verdict::Passed => "✅ Passed",
        Verdict::Failed => "❌ Failed",
        Verdict::Inconclusive => "⚠️ Inconclusive",
    };
    md.push_str(&format!(
        "**Verdict: {verdict}** — {}\n\n",
        cell(&s.verdict_reason)
    ));
    md.push_str(&format!(
        "- Target: {} `{}/{}` on {}\n- Run: `{}`, phase {:?}{}\n- Leak: {} from {} to {}, limit {}, for {}\n- Started {}, finished {}\n\n",
        r.spec.target.kind.as_str(),
        r.namespace,
        r.spec.target.name,
        r.cluster,
        r.run_id,
        r.phase,
        r.reason.map(|x| format!(" ({x})")).unwrap_or_default()
            + &r.message.as_deref().map(|m| format!(": {}", cell(m))).unwrap_or_default(),
        r.spec.leak.curve().map_or_else(|_| format!("{:?}", r.spec.leak.pattern), |c| c.pattern.to_string()),
        r.spec.leak.start,
        r.spec.leak.max.map_or("unbounded".to_string(), |m| m.to_string()),
        match r.spec.leak.limit {
            MemoryLimit::Bytes(q) => q.to_string(),
            MemoryLimit::None => "none".into(),
        },
        r.spec.duration,
        r.started,
        r.finished,
    ));
    md
}

/// The facets' table and the total.
fn score(report: &Report) -> String {
    let s = &report.score;
    let mut md = String::from(
        "## Score\n\n| facet | points | weight | why |\n| --- | ---: | ---: | --- |\n",
    );
    for f in &s.facets {
        let points = f
            .points
            .map_or("not measured".into(), |p| format!("{p:.0}"));
        let weight = if f.measured {
            format!("{:.1} (of {:.0})", f.effective_weight, f.weight)
        } else {
            format!("0 (of {:.0}, shared out)", f.weight)
        };
        md.push_str(&format!(
            "| {} | {points} | {weight} | {} |\n",
            f.facet,
            cell(&f.explanation)
        ));
    }
    md.push_str(&format!(
        "| **total** | **{}** | | grade **{}** |\n\n",
        s.total.map_or("–".to_string(), |t| t.to_string()),
        s.grade.map_or("–", |g| g.as_str())
    ));
    md
}

/// Each clause of the hypothesis and what was observed, or nothing without one.
fn hypothesis(report: &Report) -> String {
    let clauses = &report.score.hypothesis;
    if clauses.is_empty() {
        return String::new();
    }
    let mut md =
        String::from("## Hypothesis\n\n| clause | result | observed |\n| --- | --- | --- |\n");
    for c in clauses {
        md.push_str(&format!(
            "| `{}` | {} | {} |\n",
            cell(&c.clause),
            match (c.judged, c.passed) {
                (false, _) => "➖ not judged",
                (true, true) => "✅ held",
                (true, false) => "❌ failed",
            },
            cell(&c.detail)
        ));
    }
    md.push('\n');
    md
}

/// A section of bullets, or nothing when there are none.
fn bullets<T>(
    title: &str,
    items: impl IntoIterator<Item = T>,
    line: impl Fn(T) -> String,
) -> String {
    let mut body = String::new();
    for item in items {
        body.push_str(&format!("- {}\n", line(item)));
    }
    if body.is_empty() {
        return body;
    }
    format!("## {title}\n\n{body}\n")
}

/// The story, folded, at most [`STORY_LINES`] of it.
fn timeline(report: &Report) -> String {
    let r = &report.record;
    let lines = story_folded(report);
    if lines.is_empty() {
        return String::new();
    }
    let start = r.injected.unwrap_or(r.started);
    let mut md = String::from("## Timeline\n\n");
    for (at, line) in lines.iter().take(STORY_LINES) {
        md.push_str(&format!("- `{}` {}\n", offset(start, *at), cell(line)));
    }
    if lines.len() > STORY_LINES {
        md.push_str(&format!(
            "- … {} more in the JSON and HTML reports\n",
            lines.len() - STORY_LINES
        ));
    }
    md.push('\n');
    md
}
