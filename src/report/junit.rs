//! JUnit XML: one testcase per hypothesis clause, so CI systems list each clause with its result.
//! An inconclusive run marks every clause as an error (not a pass, not a failure of the system
//! under test); a clause that could not be judged is skipped; a run without a hypothesis gets one
//! `verdict` testcase so the suite is never empty.

use super::{Report, escape};
use crate::spec::Verdict;

/// What became of one testcase.
enum Case {
    Passed,
    /// The clause failed: the system under test did not hold.
    Failure {
        message: String,
        text: String,
    },
    /// The run was inconclusive: nothing was shown either way.
    Error {
        message: String,
        text: String,
    },
    /// The clause could not be judged (what it needs was not measured).
    Skipped {
        message: String,
    },
}

pub(super) fn render(report: &Report) -> String {
    let r = &report.record;
    let s = &report.score;
    let class = escape(&format!("oomsday.{}", r.experiment));
    let seconds = r.finished.duration_since(r.started).as_secs_f64().max(0.0);
    let all = cases(report);
    let count = |f: fn(&Case) -> bool| all.iter().filter(|(_, c)| f(c)).count();
    let failures = count(|c| matches!(c, Case::Failure { .. }));
    let errors = count(|c| matches!(c, Case::Error { .. }));
    let skipped = count(|c| matches!(c, Case::Skipped { .. }));
    let tests = all.len();
    let cases: String = all
        .iter()
        .map(|(name, case)| testcase(&class, name, case))
        .collect();
    let suite_name = if r.simulated {
        format!("oomsday.{} (simulated)", r.experiment)
    } else {
        format!("oomsday.{}", r.experiment)
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"oomsday\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{seconds:.3}\">\n  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{seconds:.3}\" timestamp=\"{}\">\n    <properties>\n{}    </properties>\n{cases}    <system-out>{}</system-out>\n  </testsuite>\n</testsuites>\n",
        escape(&suite_name),
        escape(&r.started.to_string()),
        properties(report),
        escape(&format!(
            "score {}, verdict {:?}: {}{}",
            s.headline(),
            s.verdict,
            s.verdict_reason,
            if r.simulated { " [SIMULATED]" } else { "" }
        )),
    )
}

/// One testcase per clause, or a single `verdict` testcase for a run without a hypothesis.
fn cases(report: &Report) -> Vec<(String, Case)> {
    let s = &report.score;
    let inconclusive = || Case::Error {
        message: format!("inconclusive: {}", s.verdict_reason),
        text: s.verdict_reason.clone(),
    };
    if s.hypothesis.is_empty() {
        let case = match s.verdict {
            Verdict::Inconclusive => inconclusive(),
            Verdict::Failed => Case::Failure {
                message: s.verdict_reason.clone(),
                text: s.verdict_reason.clone(),
            },
            Verdict::Passed => Case::Passed,
        };
        return vec![("verdict".into(), case)];
    }
    s.hypothesis
        .iter()
        .map(|c| {
            let case = if s.verdict == Verdict::Inconclusive {
                inconclusive()
            } else if !c.judged {
                Case::Skipped {
                    message: format!("not judged: {}", c.detail),
                }
            } else if c.passed {
                Case::Passed
            } else {
                Case::Failure {
                    message: format!("{} failed: {}", c.clause, c.detail),
                    text: c.detail.clone(),
                }
            };
            (c.clause.clone(), case)
        })
        .collect()
}

fn testcase(class: &str, name: &str, case: &Case) -> String {
    let open = format!(
        "    <testcase classname=\"{class}\" name=\"{}\" time=\"0\"",
        escape(name)
    );
    let (tag, kind, message, text) = match case {
        Case::Passed => return format!("{open}/>\n"),
        Case::Skipped { message } => {
            return format!(
                "{open}>\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                escape(message)
            );
        }
        Case::Failure { message, text } => ("failure", "HypothesisFailed", message, text),
        Case::Error { message, text } => ("error", "Inconclusive", message, text),
    };
    format!(
        "{open}>\n      <{tag} message=\"{}\" type=\"{kind}\">{}</{tag}>\n    </testcase>\n",
        escape(message),
        escape(text)
    )
}

/// The score, grade, verdict and each facet's points, as suite properties.
fn properties(report: &Report) -> String {
    let (r, s) = (&report.record, &report.score);
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
    props
        .iter()
        .map(|(k, v)| {
            format!(
                "      <property name=\"{}\" value=\"{}\"/>\n",
                escape(k),
                escape(v)
            )
        })
        .collect()
}
