//! Checks on a plan's graph: unreachable steps, steps from which no `close`
//! can be reached, cycles in which nothing waits, and response levels that
//! skip a level where the plan forbids it.

use super::Ctx;
use crate::diag::{FileId, Span, codes};
use crate::syntax::yaml::plan::PlanDoc;
use yingji_engine::workflow::graph::{Node, PlanGraph};
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
    parallel_checks(cx, plan, &g, &span_of, d, f);
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
        Cond::Answered(_) | Cond::Unanswered(_) | Cond::CheckDone(_) => true,
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

/// E0510: every `join` step is the join of some parallel step, every
/// parallel step's `join` is a join step, and every branch reaches its join
/// (from each step a branch can reach, without passing the join, the join is
/// still reachable; a branch meets no `close` or other parallel step first).
fn parallel_checks(
    cx: &mut Ctx<'_>,
    plan: &PlanDef,
    g: &PlanGraph,
    span_of: &dyn Fn(StepIdx) -> Span,
    d: &PlanDoc,
    f: FileId,
) {
    let name_of = |i: StepIdx| {
        plan.steps
            .get(usize::from(i))
            .map_or("?", |s| s.id.as_str())
    };
    let succ = |i: StepIdx| -> Vec<StepIdx> {
        let Some(&n) = g.steps.get(usize::from(i)) else {
            return Vec::new();
        };
        let mut v: Vec<StepIdx> = g
            .graph
            .neighbors(n)
            .filter_map(|m| match g.graph.node_weight(m) {
                Some(Node::Step(j)) => Some(*j),
                _ => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let mut joins_named: Vec<StepIdx> = Vec::new();
    for (pi, st) in plan.steps.iter().enumerate() {
        let StepKind::Parallel { branches, join } = &st.kind else {
            continue;
        };
        let py = d
            .steps
            .as_ref()
            .and_then(|s| s.value.get(pi))
            .and_then(|s| s.value.parallel.as_ref());
        let join_span = py.map_or(span_of(pi as StepIdx), |p| cx.sspan(f, &p.value.join));
        if !matches!(
            plan.steps.get(usize::from(*join)).map(|s| &s.kind),
            Some(StepKind::Join { .. })
        ) {
            cx.err_hint(
                codes::PLAN_JOIN,
                join_span,
                format!(
                    "`join: {}` of parallel step `{}` is not a join step",
                    name_of(*join),
                    st.id
                ),
                "not a `join` step",
                "the branches end at a step `join: all` (or `join: any`)",
            );
            continue;
        }
        joins_named.push(*join);
        for (bi, &b) in branches.iter().enumerate() {
            let b_span = py
                .and_then(|p| p.value.branches.value.get(bi))
                .map_or(span_of(pi as StepIdx), |s| cx.sspan(f, s));
            // the steps the branch can reach before its join
            let mut seen = vec![b];
            let mut work = vec![b];
            let mut reaches_join = b == *join;
            while let Some(x) = work.pop() {
                if x == *join {
                    continue;
                }
                for y in succ(x) {
                    if y == *join {
                        reaches_join = true;
                    } else if !seen.contains(&y) {
                        seen.push(y);
                        work.push(y);
                    }
                }
            }
            if !reaches_join {
                cx.err_hint(
                    codes::PLAN_JOIN,
                    b_span,
                    format!(
                        "branch `{}` of parallel step `{}` never reaches join `{}`",
                        name_of(b),
                        st.id,
                        name_of(*join)
                    ),
                    "no path from here to the join",
                    "end the branch with `next:` the join step",
                );
                continue;
            }
            seen.sort_unstable();
            if let Some(&o) = branches.iter().find(|&&o| o != b && seen.contains(&o)) {
                cx.err_hint(
                    codes::PLAN_JOIN,
                    b_span,
                    format!(
                        "branch `{}` of parallel step `{}` runs into branch `{}`",
                        name_of(b),
                        st.id,
                        name_of(o)
                    ),
                    "branches overlap",
                    "end each branch with `next:` the join step (a step falls through to the one listed after it)",
                );
            }
            for &x in &seen {
                let bad = match plan.steps.get(usize::from(x)).map(|s| &s.kind) {
                    Some(StepKind::Close { .. }) => Some("closes the instance"),
                    Some(StepKind::Parallel { .. }) => Some("starts parallel branches again"),
                    Some(StepKind::Join { .. }) => Some("is another join"),
                    _ => None,
                };
                // from x the join must still be reachable (not through x's own dead end)
                let mut w = vec![x];
                let mut s2 = vec![x];
                let mut ok = false;
                while let Some(y) = w.pop() {
                    for z in succ(y) {
                        if z == *join {
                            ok = true;
                        } else if !s2.contains(&z) {
                            s2.push(z);
                            w.push(z);
                        }
                    }
                }
                let why = match (bad, ok) {
                    (Some(b), _) => b,
                    (None, false) => "has no path to the join",
                    (None, true) => continue,
                };
                cx.err_hint(
                    codes::PLAN_JOIN,
                    span_of(x),
                    format!(
                        "step `{}` of branch `{}` {why}: the branch never reaches join `{}`",
                        name_of(x),
                        name_of(b),
                        name_of(*join)
                    ),
                    "in a parallel branch",
                    "a branch's steps lead to its join (a `close` comes after the join)",
                );
            }
        }
    }
    for (ji, st) in plan.steps.iter().enumerate() {
        if matches!(st.kind, StepKind::Join { .. }) && !joins_named.contains(&(ji as StepIdx)) {
            cx.err_hint(
                codes::PLAN_JOIN,
                span_of(ji as StepIdx),
                format!("join `{}` has no branches", st.id),
                "no parallel step ends here",
                "name it in a parallel step: `parallel: { branches: [..], join: <this step> }`",
            );
        }
    }
}
