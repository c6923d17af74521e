//! Checks on a plan's graph: unreachable steps, steps from which no `close`
//! can be reached, cycles in which nothing waits, and response levels that
//! skip a level where the plan forbids it.

use super::Ctx;
use crate::diag::{FileId, Span, codes};
use crate::syntax::yaml::plan::PlanDoc;
use yingji_engine::workflow::graph::PlanGraph;
use yingji_engine::workflow::ir::{
    Cond, Operand, PlanDef, Response, StepIdx, StepKind, Trigger, WaitFor,
};

pub(super) fn graph_checks(
    cx: &mut Ctx<'_>,
    plan: &PlanDef,
    id_spans: &[Span],
    plan_span: Span,
    d: &PlanDoc,
    f: FileId,
) {
    let g = PlanGraph::build(plan);
    let span_of = |i: StepIdx| id_spans.get(usize::from(i)).copied().unwrap_or(plan_span);
    let name_of = |i: StepIdx| {
        plan.steps
            .get(usize::from(i))
            .map_or("?", |s| s.id.as_str())
    };
    endless_waits(cx, plan, &span_of);
    for i in g.unreachable() {
        cx.err_hint(
            codes::PLAN_UNREACHABLE,
            span_of(i),
            format!("step `{}` can never run", name_of(i)),
            "no transition leads here",
            "point a `next`, `goto`, `else` or `on_timeout` at it, or remove it",
        );
    }
    let has_close = plan
        .steps
        .iter()
        .any(|s| matches!(s.kind, StepKind::Close { .. }));
    if !has_close {
        cx.err_hint(
            codes::PLAN_NO_CLOSE,
            plan_span,
            format!("plan `{}` has no `close` step", plan.name),
            "instances can never end",
            "add a step `close: { verify: [预警, 响应, 反馈, 核实] }`",
        );
    } else {
        for i in g.cannot_close(plan) {
            cx.err_hint(
                codes::PLAN_NO_CLOSE,
                span_of(i),
                format!("from step `{}` the plan can never close", name_of(i)),
                "no path to a `close` step",
                "give it a `next` (or a way out of its loop) that leads to a `close` step",
            );
        }
    }
    for cycle in g.endless_cycles(plan) {
        let names: Vec<&str> = cycle.iter().map(|i| name_of(*i)).collect();
        let first = cycle.first().copied().unwrap_or(0);
        cx.err_hint(
            codes::PLAN_CYCLE,
            span_of(first),
            format!(
                "steps {} loop without waiting",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
            "an instance entering this loop never stops",
            "put a `wait` (with a duration, condition or event) or an `await_ack` in the loop",
        );
    }
    if !plan.allow_skip {
        for (i, from, to) in g.response_skips(plan) {
            let span = d
                .steps
                .as_ref()
                .and_then(|s| s.value.get(usize::from(i)))
                .and_then(|s| s.value.declare_response.as_ref())
                .map_or(span_of(i), |r| cx.sspan(f, r));
            let from_text = if from == Response::None {
                "no response".to_string()
            } else {
                format!("{}级", from.roman())
            };
            cx.err_hint(
                codes::PLAN_SKIP,
                span,
                format!("step `{}` may raise the response from {from_text} straight to {}级", name_of(i), to.roman()),
                "skips a level",
                "this plan sets `response: { skip_levels: false }`; declare the level in between first",
            );
        }
    }
}

/// Whether a guard can change its value while an instance waits on it: it
/// reads a warning level the plan is woken for (`level`, or a signal the
/// plan is triggered by), or whether a notify step was answered. A response
/// level (only the instance's own steps declare one), an event field and a
/// constant cannot change while it waits.
fn can_change(c: &Cond, triggers: &[&str]) -> bool {
    let operand = |o: &Operand| match o {
        Operand::Level => !triggers.is_empty(),
        Operand::SignalLevel(s) => triggers.contains(&s.as_str()),
        _ => false,
    };
    match c {
        Cond::Const(_) => false,
        Cond::Cmp(a, _, b) => operand(a) || operand(b),
        Cond::Answered(_) | Cond::Unanswered(_) => true,
        Cond::And(v) | Cond::Or(v) => v.iter().any(|x| can_change(x, triggers)),
        Cond::Not(x) => can_change(x, triggers),
    }
}

/// W0504: a `wait: { until: .. }` with no timeout whose condition cannot
/// change while it waits (an instance reaching it while the condition is
/// false stays there for ever).
fn endless_waits(cx: &mut Ctx<'_>, plan: &PlanDef, span_of: &dyn Fn(StepIdx) -> Span) {
    let triggers: Vec<&str> = plan
        .triggers
        .iter()
        .filter_map(|t| match t {
            Trigger::Signal { signal, .. } => Some(signal.as_str()),
            _ => None,
        })
        .collect();
    for (i, st) in plan.steps.iter().enumerate() {
        let StepKind::Wait {
            until: WaitFor::Cond(c),
            timeout_ms: None,
            ..
        } = &st.kind
        else {
            continue;
        };
        if matches!(c, Cond::Const(true)) || can_change(c, &triggers) {
            continue;
        }
        cx.diags.push(
            crate::diag::Diagnostic::warning(
                codes::PLAN_ENDLESS_WAIT,
                span_of(i as StepIdx),
                format!("wait `{}` can never end once its condition is false", st.id),
                )
            .label("nothing this condition reads changes while the instance waits")
            .hint("add `timeout:` (and `on_timeout:`), or wait on `level`, a signal this plan is triggered by, or `answered(step)`"),
        );
    }
}
