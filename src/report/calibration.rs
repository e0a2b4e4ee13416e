//! A calibration (`oomsday calibrate`) as Markdown and as text: each recording's measures
//! against the prediction of it, then, for recordings of one experiment, their distribution
//! beside the seeds'.

use std::fmt::Write as _;

use crate::predict::calibration::{Calibrated, Calibration, Campaign, Spread};
use crate::predict::{FirstRow, Measure, Row, Unit};

/// Whether a row says something: judged, and something happened on one side or it missed.
/// Measures that happened on neither side are counted, not listed.
fn shown(r: &Row) -> bool {
    let nonzero = |v: f64| v != 0.0;
    r.within == Some(false)
        || (r.within.is_some()
            && (r.observed.is_some_and(nonzero)
                || r.range.is_some_and(|(lo, hi)| nonzero(lo) || nonzero(hi))))
}

fn label(m: Measure) -> String {
    match m.tolerance_text() {
        // `±30% (±5 s under 15 s)` reads `±30%, ±5 s under 15 s` inside parentheses.
        Some(t) => format!("{} ({})", m.label(), t.replace(" (", ", ").replace(')', "")),
        None => m.label().to_string(),
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn mark(within: Option<bool>, text: String) -> String {
    match within {
        Some(false) => format!("**{text}**"),
        _ => text,
    }
}

/// Each measure's cells for one recording: measure, observed, predicted, error, within.
fn cells(c: &Calibrated) -> Vec<[String; 5]> {
    let k = &c.comparison;
    let mut out: Vec<[String; 5]> = k
        .rows
        .iter()
        .filter(|r| shown(r))
        .map(|r| {
            [
                label(r.measure),
                r.observed_text(),
                r.predicted_text(),
                r.error_text(),
                mark(r.within, r.within_text()),
            ]
        })
        .collect();
    let f = &k.target_first;
    if f.within.is_some() {
        out.push([
            FirstRow::LABEL.into(),
            f.observed_text(),
            f.predicted_text(),
            "—".into(),
            mark(f.within, f.within_text()),
        ]);
    }
    let agree = k.predicted_verdict == k.observed_verdict;
    out.push([
        "verdict".into(),
        format!("{:?}", k.observed_verdict),
        format!("{:?}", k.predicted_verdict),
        "—".into(),
        mark(Some(agree), if agree { "yes" } else { "no" }.into()),
    ]);
    out
}

fn spread(m: Measure, s: Option<Spread>) -> String {
    let v = |x: f64| match m.kind() {
        Unit::Time => format!("T{x:+.1} s"),
        Unit::Duration => format!("{x:.1} s"),
        Unit::Count | Unit::Points => format!("{x:.0}"),
    };
    match s {
        None => "none".into(),
        Some(s) if (s.hi - s.lo).abs() < 1e-9 => format!("{} ({} runs)", v(s.median), s.runs),
        Some(s) => format!("{} ({}–{}, {} runs)", v(s.median), v(s.lo), v(s.hi), s.runs),
    }
}

/// A campaign's two tables in Markdown: measures, then shares.
pub fn campaign(c: &Campaign) -> String {
    let mut md = String::new();
    campaign_markdown(&mut md, c);
    md
}

fn campaign_markdown(md: &mut String, c: &Campaign) {
    let n = c.recordings.len();
    let _ = write!(
        md,
        "**{n} recordings of {}** ({}) against {} seeds:\n\n\
         | measure (tolerance) | real, {n} runs: median (range) | simulated, {} seeds: median (range) | within |\n\
         | --- | ---: | ---: | :---: |\n",
        c.experiment,
        c.recordings.join(", "),
        c.seeds,
        c.seeds
    );
    for r in &c.distribution.rows {
        let zero = |s: Option<Spread>| s.is_none_or(|s| s.lo == 0.0 && s.hi == 0.0);
        if r.within.is_none() || (zero(r.real) && zero(r.simulated)) {
            continue;
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            label(r.measure),
            spread(r.measure, r.real),
            spread(r.measure, r.simulated),
            mark(
                r.within,
                if r.within == Some(true) { "yes" } else { "no" }.into()
            )
        );
    }
    md.push_str(
        "\n| history or verdict | real runs | seeds | difference | within 15 points |\n\
         | --- | ---: | ---: | ---: | :---: |\n",
    );
    for s in &c.distribution.shares {
        let _ = writeln!(
            md,
            "| {} | {} of {} | {} of {} | {:.1} points | {} |",
            s.what,
            s.real,
            s.of_real,
            s.sim,
            s.of_sim,
            s.points(),
            mark(
                Some(s.within()),
                if s.within() { "yes" } else { "no" }.into()
            )
        );
    }
    md.push('\n');
}

/// The calibration as Markdown: the headline, one table of every recording's measures, and
/// each campaign's distribution.
pub fn markdown(c: &Calibration) -> String {
    let seeds = c
        .recordings
        .first()
        .map_or(0, |r| r.comparison.rows.first().map_or(0, |r| r.of));
    let mut md = format!(
        "**{}.**\n\n\
         | recording | measure (tolerance) | observed | predicted: median of {seeds} seeds (range) | error | within |\n\
         | --- | --- | ---: | ---: | ---: | :---: |\n",
        c.headline()
    );
    for r in &c.recordings {
        for [m, o, p, e, w] in cells(r) {
            let _ = writeln!(
                md,
                "| {} | {m} | {} | {} | {} | {w} |",
                cell(&r.recording),
                cell(&o),
                cell(&p),
                cell(&e)
            );
        }
    }
    md.push_str(
        "\nMeasures that happened neither in the run nor in the seeds count as within and are \
         not listed.\n\n",
    );
    for camp in &c.campaigns {
        campaign_markdown(&mut md, camp);
    }
    md
}

/// The calibration as text for a terminal.
pub fn text(c: &Calibration) -> String {
    let mut t = format!("CALIBRATION — {}\n", c.headline());
    for r in &c.recordings {
        let k = &r.comparison;
        let _ = writeln!(
            t,
            "\n{} — {} on {}: {} of {} within",
            r.recording, r.experiment, r.model, k.within, k.judged
        );
        for [m, o, p, e, w] in cells(r) {
            let _ = writeln!(
                t,
                "  {m:<44} observed {o:<28} predicted {p:<44} {e:<20} {}",
                w.replace("**", "")
            );
        }
    }
    for camp in &c.campaigns {
        t.push('\n');
        t.push_str(&campaign(camp).replace("**", ""));
    }
    t
}

#[cfg(test)]
mod tests;
