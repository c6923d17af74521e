//! Window functions: `sum(mm, 3h)`, `max(level_m, every 1h)`, `count_if(x > 0, 30m)`.

use super::scope::SignalScope;
use crate::check::{Ty, Typer};
use crate::diag::{Diagnostic, codes};
use crate::syntax::ast::{self, Arg, ExprKind, Ident};
use yingji_engine::ir::{Agg, Expr, WindowDef};

/// The window aggregate `name(args)` calls, if it is one (`min` and `max`
/// are windows with a duration second, built-ins otherwise).
pub(super) fn aggregate(name: &Ident, args: &[Arg]) -> Option<Agg> {
    match name.name.as_str() {
        "sum" => Some(Agg::Sum),
        "avg" => Some(Agg::Avg),
        "count" => Some(Agg::Count),
        "first" => Some(Agg::First),
        "last" => Some(Agg::Last),
        "delta" => Some(Agg::Delta),
        "rate" => Some(Agg::Rate),
        "count_if" => Some(Agg::CountIf),
        "min" | "max" => {
            let is_window = args.len() == 2
                && args.get(1).is_some_and(|a| {
                    matches!(
                        a.expr.kind,
                        ExprKind::Duration(_) | ExprKind::Every(_) | ExprKind::Invalid
                    )
                });
            if is_window {
                Some(if name.name == "min" {
                    Agg::Min
                } else {
                    Agg::Max
                })
            } else {
                None
            }
        }
        _ => None,
    }
}

impl SignalScope<'_> {
    /// A window function's call: its input typed at the window's input
    /// (fields only), its length a positive duration literal; equal windows
    /// are shared.
    pub(super) fn window(
        &mut self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        name: &Ident,
        agg: Agg,
        args: &[Arg],
    ) -> Option<(Expr, Ty)> {
        let [input, dur] = args else {
            ty.err_with(|| {
                Diagnostic::error(
                    codes::BAD_CALL,
                    e.span,
                    format!("`{}` takes 2 arguments, got {}", name.name, args.len()),
                )
                .label("expected a value and a window length")
                .hint(format!("e.g. `{}(mm, 3h)`", name.name))
            });
            return None;
        };
        if dur.expr.kind == ExprKind::Invalid {
            return None;
        }
        let (ms, tumbling) = match dur.expr.kind {
            ExprKind::Duration(ms) => (ms, false),
            ExprKind::Every(ms) => (ms, true),
            _ => (0, false),
        };
        if !matches!(dur.expr.kind, ExprKind::Duration(_) | ExprKind::Every(_)) {
            ty.err_with(|| {
                Diagnostic::error(
                    codes::BAD_CALL,
                    dur.expr.span,
                    format!("the second argument of `{}` must be a duration", name.name),
                )
                .label("expected a window length like `3h`, or `every 1h` for a tumbling window")
            });
            return None;
        }
        if ms <= 0 {
            ty.err_with(|| {
                Diagnostic::error(
                    codes::BAD_DURATION,
                    dur.expr.span,
                    "a window must be longer than zero",
                )
                .label("zero-length window")
            });
            return None;
        }
        if ms > yingji_engine::ir::MAX_WINDOW_MS {
            ty.err_with(|| {
                Diagnostic::error(
                    codes::BAD_DURATION,
                    dur.expr.span,
                    format!(
                        "a window of {} is longer than the maximum of 366d",
                        yingji_engine::time::format_duration(ms)
                    ),
                )
                .label("window too long")
                .hint("windows hold every reading they cover; 366d is the longest (`yingji_engine::ir::MAX_WINDOW_MS`)")
            });
            return None;
        }
        let (ie, it) = ty.expr(&mut self.window_input(), &input.expr)?;
        let want = if agg == Agg::CountIf {
            Ty::Bool
        } else {
            Ty::Number
        };
        if it != want {
            let what = if want == Ty::Bool {
                "a condition"
            } else {
                "numbers"
            };
            ty.err_with(|| {
                Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    input.expr.span,
                    format!("`{}` needs {what}, but this is a {it}", name.name),
                )
                .label(format!("this is a {it}"))
                .hint("window functions aggregate a numeric field, e.g. `sum(mm, 3h)`")
            });
            return None;
        }
        let Some(windows) = self.windows.as_deref_mut() else {
            ty.err_with(|| {
                Diagnostic::error(codes::BAD_CALL, e.span, "windows cannot be used here")
                    .label("only `let`s and level rules can use windows")
            });
            return None;
        };
        let def = WindowDef {
            agg,
            input: ie,
            duration_ms: ms,
            tumbling,
        };
        let idx = match windows.iter().position(|w| *w == def) {
            Some(i) => i,
            None => {
                windows.push(def);
                windows.len() - 1
            }
        };
        Some((Expr::Window(idx as u16), Ty::Number))
    }
}
