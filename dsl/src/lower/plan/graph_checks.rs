//! Checks on a plan's graph: unreachable steps, steps from which no `close`
//! can be reached, cycles in which nothing waits, and response levels that
//! skip a level where the plan forbids it.

use super::Ctx;
use crate::diag::{FileId, Span, codes};
use crate::syntax::yaml::plan::PlanDoc;
use yingji_engine::workflow::graph::PlanGraph;
use yingji_engine::workflow::ir::{PlanDef, Response, StepIdx, StepKind};

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
