//! JUnit XML: one testcase per hypothesis clause, so CI systems list each clause with its result.
//! An inconclusive run marks every clause as an error (not a pass, not a failure of the system
//! under test); a run without a hypothesis gets one `verdict` testcase so the suite is never empty.

use super::{Report, escape};
use crate::spec::Verdict;

pub(super) fn render(report: &Report) -> String {
    let r = &report.record;
    let s = &report.score;
    let class = escape(&format!("oomsday.{}", r.experiment));
    let seconds = r.finished.duration_since(r.started).as_secs_f64().max(0.0);
    let inconclusive = s.verdict == Verdict::Inconclusive;

    let mut cases = String::new();
    let (mut failures, mut errors) = (0, 0);
    let mut case = |name: &str, body: Option<(&str, String, String)>| {
        cases.push_str(&format!(
            "    <testcase classname=\"{class}\" name=\"{}\" time=\"0\"",
            escape(name)
        ));
        match body {
            None => cases.push_str("/>\n"),
            Some((tag, message, text)) => {
                if tag == "failure" {
                    failures += 1;
                } else {
                    errors += 1;
                }
                cases.push_str(&format!(
                    ">\n      <{tag} message=\"{}\" type=\"{}\">{}</{tag}>\n    </testcase>\n",
                    escape(&message),
                    if tag == "failure" {
                        "HypothesisFailed"
                    } else {
                        "Inconclusive"
                    },
                    escape(&text)
                ));
            }
        }
    };
    let inconclusive_body = || {
        (
            "error",
            format!("inconclusive: {}", s.verdict_reason),
            s.verdict_reason.clone(),
        )
    };
    if s.hypothesis.is_empty() {
        let body = match s.verdict {
            Verdict::Inconclusive => Some(inconclusive_body()),
            Verdict::Failed => Some((
                "failure",
                s.verdict_reason.clone(),
                s.verdict_reason.clone(),
            )),
            Verdict::Passed => None,
        };
        case("verdict", body);
    }
    for c in &s.hypothesis {
        let body = if inconclusive {
            Some(inconclusive_body())
        } else if c.passed {
            None
        } else {
            Some((
                "failure",
                format!("{} failed: {}", c.clause, c.detail),
                c.detail.clone(),
            ))
        };
        case(&c.clause, body);
    }
    let tests = s.hypothesis.len().max(1);

    let mut props = vec![
        (
            "score",
            s.total.map_or("not scored".into(), |t| t.to_string()),
        ),
        ("grade", s.grade.map_or("-".into(), |g| g.to_string())),
        ("verdict", format!("{:?}", s.verdict)),
        ("simulated", r.simulated.to_string()),
        ("cluster", r.cluster.clone()),
        ("runId", r.run_id.clone()),
    ];
    for f in &s.facets {
        props.push((
            f.facet.name(),
            f.points
                .map_or("not measured".into(), |p| format!("{p:.0}")),
        ));
    }
    let props: String = props
        .iter()
        .map(|(k, v)| {
            format!(
                "      <property name=\"{}\" value=\"{}\"/>\n",
                escape(k),
                escape(v)
            )
        })
        .collect();
    let suite_name = if r.simulated {
        format!("oomsday.{} (simulated)", r.experiment)
    } else {
        format!("oomsday.{}", r.experiment)
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"oomsday\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{seconds:.3}\">\n  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{seconds:.3}\" timestamp=\"{}\">\n    <properties>\n{props}    </properties>\n{cases}    <system-out>{}</system-out>\n  </testsuite>\n</testsuites>\n",
        escape(&suite_name),
        escape(&r.started.to_string()),
        escape(&format!(
            "score {}, verdict {:?}: {}{}",
            s.headline(),
            s.verdict,
            s.verdict_reason,
            if r.simulated { " [SIMULATED]" } else { "" }
        )),
    )
}
