//! One summary across the experiments of a suite (`run DIR`, `simulate DIR`).

use super::Report;
use crate::spec::Verdict;

/// A Markdown summary of several runs: one row each, the failed clauses, and the totals. Reads
/// as plain text too.
pub fn suite_summary(reports: &[Report]) -> String {
    let mut md = String::from("# oomsday suite\n\n");
    if reports.iter().any(|r| r.record.simulated) {
        md.push_str("> **SIMULATED**: runs marked (sim) come from oomsday's cluster model, not a real cluster.\n\n");
    }
    if reports.is_empty() {
        md.push_str("No runs.\n");
        return md;
    }
    md.push_str(
        "| experiment | verdict | score | grade | why |\n| --- | --- | ---: | --- | --- |\n",
    );
    for r in reports {
        // An inconclusive run's clauses could not be judged: say why the run proved nothing.
        let failed: Vec<String> = if r.score.verdict == Verdict::Inconclusive {
            let mut why = vec![r.score.verdict_reason.clone()];
            why.extend(r.record.message.clone());
            why
        } else {
            r.score
                .failed_clauses()
                .map(|c| format!("`{}` ({})", c.clause, c.detail))
                .collect()
        };
        md.push_str(&format!(
            "| {}{} | {:?} | {} | {} | {} |\n",
            r.record.experiment.replace('|', "\\|"),
            if r.record.simulated { " (sim)" } else { "" },
            r.score.verdict,
            r.score.total.map_or("–".to_string(), |t| t.to_string()),
            r.score.grade.map_or("–", |g| g.as_str()),
            if failed.is_empty() {
                "—".to_string()
            } else {
                failed.join("; ").replace('|', "\\|").replace('\n', " ")
            }
        ));
    }
    let count = |v| reports.iter().filter(|r| r.score.verdict == v).count();
    // Runs that never injected have no score and do not drag the mean down.
    let scored: Vec<(&Report, u32)> = reports
        .iter()
        .filter_map(|r| r.score.total.map(|t| (r, t)))
        .collect();
    let scores = match scored.iter().min_by_key(|(_, t)| *t) {
        Some((worst, low)) => format!(
            " Mean score {:.0}, lowest {} ({low}).",
            scored.iter().map(|(_, t)| f64::from(*t)).sum::<f64>() / scored.len() as f64,
            worst.record.experiment
        ),
        None => " No run was scored.".to_string(),
    };
    md.push_str(&format!(
        "\n**{} runs: {} passed, {} failed, {} inconclusive.**{scores}\n",
        reports.len(),
        count(Verdict::Passed),
        count(Verdict::Failed),
        count(Verdict::Inconclusive),
    ));
    md
}
