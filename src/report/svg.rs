//! The charts' primitives, shared by the run's charts (`html.rs`) and the predicted-vs-observed
//! ones (`prediction.rs`): the frame's size and margins, where a second is drawn, step lines.

use std::fmt::Write as _;

use super::escape;

/// The chart's width and height, and its margins, in SVG units.
pub(super) const W: f64 = 880.0;
pub(super) const H: f64 = 220.0;
pub(super) const LEFT: f64 = 110.0;
pub(super) const RIGHT: f64 = 30.0;
pub(super) const TOP: f64 = 14.0;
pub(super) const BOTTOM: f64 = 28.0;

/// Opens a chart `height` high, labelled for screen readers.
pub(super) fn svg_open(out: &mut String, label: &str, height: f64) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {height}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        escape(label)
    );
}

/// Where second `s` of an axis from `from` to `to` is drawn: every chart's one mapping.
pub(super) fn x_at(s: f64, from: f64, to: f64) -> f64 {
    let span = (to - from).max(1.0);
    LEFT + ((s - from) / span).clamp(0.0, 1.0) * (W - LEFT - RIGHT)
}

/// The `d` of a step line through points already in pixels: each value held until the next,
/// the last to `end_x`. Empty without points.
pub(super) fn step_d(pts: &[(f64, f64)], end_x: f64) -> String {
    let mut d = String::new();
    for (i, (x, y)) in pts.iter().enumerate() {
        if i == 0 {
            let _ = write!(d, "M{x:.1},{y:.1}");
        } else {
            let _ = write!(d, " H{x:.1} V{y:.1}");
        }
    }
    if !pts.is_empty() {
        let _ = write!(d, " H{end_x:.1}");
    }
    d
}
