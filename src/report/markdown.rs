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

    md.push_str("## Score\n\n| facet | points | weight | why |\n| --- | ---: | ---: | --- |\n");
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

    if !s.hypothesis.is_empty() {
        md.push_str("## Hypothesis\n\n| clause | result | observed |\n| --- | --- | --- |\n");
        for c in &s.hypothesis {
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
    }

    let base = super::text::baseline(report);
    if !base.is_empty() {
        md.push_str("## Baseline\n\n");
        for line in base {
            md.push_str(&format!("- {}\n", cell(&line)));
        }
        md.push('\n');
    }
    md.push_str(&super::prediction::markdown(report));

    let recs = recommendations(report);
    if !recs.is_empty() {
        md.push_str("## Recommendations\n\n");
        for rec in recs {
            md.push_str(&format!("- {rec}\n"));
        }
        md.push('\n');
    }

    let evidence: Vec<(Facet, &String)> = s
        .facets
        .iter()
        .flat_map(|f| f.evidence.iter().map(move |e| (f.facet, e)))
        .collect();
    if !evidence.is_empty() {
        md.push_str("## Evidence\n\n");
        for (facet, e) in evidence {
            md.push_str(&format!("- *{facet}*: {}\n", cell(e)));
        }
        md.push('\n');
    }

    let lines = story_folded(report);
    if !lines.is_empty() {
        let start = r.injected.unwrap_or(r.started);
        md.push_str("## Timeline\n\n");
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
    }
    if r.simulated {
        md.push_str("_Simulated with oomsday's cluster model._\n");
    }
    md
}
