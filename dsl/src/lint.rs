//! Author lints: suspicious but legal definitions (warnings).

use crate::diag::{Diagnostic, codes};
use crate::syntax::ast::{BinOp, Expr, ExprKind, SignalDef};
use yingji_engine::value::Level;

/// `(value text, op, threshold)` of a rule `value >= c` / `value > c` /
/// `value <= c` / `value < c`.
fn threshold(e: &Expr, sig: &SignalDef) -> Option<(String, BinOp, f64)> {
    let ExprKind::Binary(op, a, b) = &e.kind else {
        return None;
    };
    let ExprKind::Num(c) = b.kind else {
        return None;
    };
    if !matches!(op, BinOp::Ge | BinOp::Gt | BinOp::Le | BinOp::Lt) {
        return None;
    }
    let ExprKind::Path(p) = &a.kind else {
        return None;
    };
    let name = p
        .iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(".");
    let _ = sig;
    Some((name, *op, c))
}

/// Warns when a higher level's threshold makes a lower level unreachable:
/// `level red when r3 >= 40` above `level orange when r3 >= 50` means orange
/// can never fire, because red already holds whenever orange would.
pub fn level_thresholds(sig: &SignalDef, out: &mut Vec<Diagnostic>) {
    let rules: Vec<_> = sig
        .levels
        .iter()
        .filter_map(|r| Some((r, Level::parse(&r.level.name)?, threshold(&r.when, sig)?)))
        .collect();
    for (i, (hi, hl, (hv, hop, hc))) in rules.iter().enumerate() {
        for (lo, ll, (lv, lop, lc)) in rules.iter().skip(i + 1) {
            if hv != lv || hl <= ll {
                continue;
            }
            let upward =
                matches!(hop, BinOp::Ge | BinOp::Gt) && matches!(lop, BinOp::Ge | BinOp::Gt);
            let downward =
                matches!(hop, BinOp::Le | BinOp::Lt) && matches!(lop, BinOp::Le | BinOp::Lt);
            let shadowed = (upward && hc < lc) || (downward && hc > lc);
            if shadowed {
                out.push(
                    Diagnostic::warning(
                        codes::IMPOSSIBLE_LEVEL,
                        lo.span,
                        format!("level `{}` can never fire: the higher level `{}` already holds whenever it would", ll.name(), hl.name()),
                    )
                    .label(format!("`{lv}` threshold {lc} is above the {} threshold {hc}", hl.name()))
                    .hint(format!(
                        "a higher level needs a stricter threshold; check `{}` at the `{}` rule",
                        hv,
                        hi.level.name
                    )),
                );
            }
        }
    }
}
