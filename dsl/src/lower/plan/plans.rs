//! One plan: its step ids, triggers and steps (notify, await_ack, measures,
//! declare_response, branch, wait, close, with their guards), then the
//! checks on its graph ([`super::graph_checks`]).

use super::graph_checks::graph_checks;
use super::guards::GuardEnv;
use super::{Ctx, RESPONSE_LEVELS, WARNING_LEVELS};
use crate::diag::{Diagnostic, FileId, Span, codes, suggest};
use crate::syntax::yaml::plan::{PlanDoc, S, StepYaml};
use serde_saphyr::Spanned;
use std::collections::HashMap;
use yingji_engine::ir::Program;
use yingji_engine::value::Level;
use yingji_engine::workflow::ir::{
    ChainIdx, PlanDef, PlanSet, Response, StepDef, StepIdx, StepKind, SupplyRow, Trigger, Verify,
    WaitFor,
};

/// How many of `flags` are set (a step, trigger or wait takes exactly one kind).
fn how_many(flags: &[bool]) -> usize {
    flags.iter().filter(|b| **b).count()
}

fn step_kind_count(s: &StepYaml) -> usize {
    how_many(&[
        s.notify.is_some(),
        s.await_ack.is_some(),
        s.measures.is_some(),
        s.declare_response.is_some(),
        s.branch.is_some(),
        s.if_.is_some(),
        s.wait.is_some(),
        s.close.is_some(),
        s.parallel.is_some(),
        s.join.is_some(),
        s.check.is_some(),
        s.start_plan.is_some(),
        s.supplies.is_some(),
    ])
}

#[allow(
    clippy::too_many_arguments,
    reason = "the plan and every table it is checked against"
)]
pub(super) fn lower_plan(
    cx: &mut Ctx<'_>,
    f: FileId,
    d: &PlanDoc,
    name: &S,
    signals: &[String],
    program: Option<&Program>,
    chain_idx: &HashMap<&str, ChainIdx>,
    set: &PlanSet,
    plan_names: &[(String, Span)],
    check_role: &dyn Fn(&mut Ctx<'_>, FileId, &S),
    tables: &[(String, Vec<SupplyRow>)],
) -> Option<PlanDef> {
    let plan_span = cx.sspan(f, name);
    let empty = Vec::new();
    let steps_y: &Vec<Spanned<StepYaml>> = d.steps.as_ref().map_or(&empty, |s| &s.value);
    if steps_y.is_empty() {
        cx.err(
            codes::PLAN_SHAPE,
            plan_span,
            format!("plan `{}` has no steps", name.value),
            "add `steps:`",
        );
        return None;
    }
    // step ids
    let mut ids: HashMap<String, (StepIdx, bool)> = HashMap::new();
    let mut id_spans: Vec<Span> = Vec::new();
    for (i, s) in steps_y.iter().enumerate() {
        let span = cx.sspan(f, &s.value.id);
        id_spans.push(span);
        if let Some(&(j, _)) = ids.get(&s.value.id.value) {
            let first = id_spans.get(usize::from(j)).copied().unwrap_or(span);
            let what = format!("step `{}` is defined twice", s.value.id.value);
            cx.duplicate(span, what, first, "duplicate step id");
            continue;
        }
        ids.insert(
            s.value.id.value.clone(),
            (i as StepIdx, s.value.notify.is_some()),
        );
    }
    let mut undefined_step = false;
    let mut target = |cx: &mut Ctx<'_>, s: &S| -> Option<StepIdx> {
        match ids.get(&s.value) {
            Some(&(i, _)) => Some(i),
            None => {
                undefined_step = true;
                let span = cx.sspan(f, s);
                let msg = format!("no step `{}` in plan `{}`", s.value, name.value);
                let near = suggest(&s.value, steps_y.iter().map(|x| x.value.id.value.as_str()));
                cx.undefined(span, msg, "undefined step", near, None);
                None
            }
        }
    };

    // triggers
    let mut triggers = Vec::new();
    let mut trigger_signals: Vec<String> = Vec::new();
    for t in d.triggers.iter().flat_map(|t| t.value.iter()) {
        let tv = &t.value;
        let t_span = cx.span(f, t);
        let kinds = how_many(&[
            tv.signal.is_some(),
            tv.response.is_some(),
            tv.manual.is_some(),
            tv.calendar.is_some(),
        ]);
        if kinds != 1 {
            cx.err(
                codes::PLAN_SHAPE,
                t_span,
                "a trigger needs exactly one of `signal`, `response`, `manual`, `calendar`",
                "ambiguous or empty trigger",
            );
            continue;
        }
        if tv.areas.is_some() && tv.calendar.is_none() {
            let span = tv.areas.as_ref().map_or(t_span, |a| cx.span(f, a));
            cx.ignored(span, "`areas` only applies to a `calendar` trigger", None);
        }
        if let Some(cal) = &tv.calendar {
            if let Some(t) = calendar_trigger(cx, f, cal, tv.areas.as_ref(), t_span, set) {
                triggers.push(t);
            }
        } else if let Some(sig) = &tv.signal {
            let span = cx.sspan(f, sig);
            if program.is_some() && !signals.contains(&sig.value) {
                let msg = format!("no signal `{}` is defined", sig.value);
                let near = suggest(&sig.value, signals.iter().map(String::as_str));
                let all = format!("defined signals: {}", signals.join(", "));
                cx.undefined(span, msg, "undefined signal", near, Some(all));
            }
            let level = match &tv.level {
                None => Level::Blue,
                Some(l) => cx.level(f, l, &WARNING_LEVELS),
            };
            if let (Some(a), Some(p)) = (&tv.area, program) {
                if !p.fields.contains(&a.value) {
                    let span = cx.sspan(f, a);
                    cx.err_hint(
                        codes::PLAN_UNDEFINED,
                        span,
                        format!("no event declares a field `{}`", a.value),
                        "undefined field",
                        "the area comes from this field of the event that raised the level",
                    );
                }
            }
            trigger_signals.push(sig.value.clone());
            triggers.push(Trigger::Signal {
                signal: sig.value.clone(),
                min_level: level,
                area_field: tv.area.as_ref().map(|a| a.value.clone()),
            });
        } else if let Some(r) = &tv.response {
            let plan = match r.value.as_str() {
                "any" | "任一" => None,
                p => {
                    if !plan_names.iter().any(|(n, _)| n == p) {
                        let span = cx.sspan(f, r);
                        cx.err(
                            codes::PLAN_UNDEFINED,
                            span,
                            format!("no plan `{p}` is defined"),
                            "undefined plan",
                        );
                    }
                    Some(p.to_string())
                }
            };
            let level = match &tv.level {
                None => Response::IV,
                Some(l) => cx.level(f, l, &RESPONSE_LEVELS),
            };
            triggers.push(Trigger::Response {
                plan,
                min_level: level,
            });
        } else {
            if tv.area.is_some() || tv.level.is_some() {
                cx.diags.push(
                    Diagnostic::warning(
                        codes::PLAN_IGNORED,
                        t_span,
                        "`level` and `area` are ignored on a manual trigger",
                    )
                    .label("the `plan_start` event names the area"),
                );
            }
            triggers.push(Trigger::Manual);
        }
    }
    if triggers.is_empty() {
        cx.err(
            codes::PLAN_SHAPE,
            plan_span,
            format!("plan `{}` has no triggers", name.value),
            "add `triggers:`",
        );
    }
    let cond_signals: Vec<String> = if program.is_some() {
        signals.to_vec()
    } else {
        trigger_signals.clone()
    };
    let env_steps = ids.clone();
    let check_steps: Vec<String> = steps_y
        .iter()
        .filter(|s| s.value.check.is_some())
        .map(|s| s.value.id.value.clone())
        .collect();
    let env = GuardEnv {
        steps: &env_steps,
        signals: &cond_signals,
        checks: &check_steps,
    };

    // steps
    let mut steps = Vec::new();
    for (i, s) in steps_y.iter().enumerate() {
        let sv = &s.value;
        let id_span = id_spans.get(i).copied().unwrap_or(plan_span);
        let n = step_kind_count(sv);
        if n != 1 {
            let msg = if n == 0 {
                format!("step `{}` does nothing", sv.id.value)
            } else {
                format!("step `{}` has {n} kinds", sv.id.value)
            };
            cx.err_hint(
                codes::PLAN_SHAPE,
                id_span,
                msg,
                "one kind per step",
                "use exactly one of notify, await_ack, measures, declare_response, branch, if, wait, close, parallel, join, check, start_plan, supplies",
            );
            continue;
        }
        if sv.area.is_some() && sv.measures.is_none() {
            let span = sv.area.as_ref().map_or(id_span, |a| cx.sspan(f, a));
            cx.ignored(span, "`area` only applies to `measures`", None);
        }
        let mut next = match &sv.next {
            Some(n) => target(cx, n),
            None => steps_y
                .get(i + 1)
                .and_then(|x| ids.get(&x.value.id.value))
                .map(|(j, _)| *j),
        };
        let kind = if let Some(n) = &sv.notify {
            let span = cx.sspan(f, n);
            if let Some(c) = n.value.strip_prefix("chain/") {
                match chain_idx.get(c) {
                    Some(&ci) => StepKind::NotifyChain { chain: ci },
                    None => {
                        let msg = format!("no chain `{c}` is defined");
                        let near = suggest(c, set.chains.iter().map(|c| c.name.as_str()))
                            .map(|h| format!("chain/{h}"));
                        cx.undefined(span, msg, "undefined chain", near.as_deref(), None);
                        StepKind::NotifyChain { chain: 0 }
                    }
                }
            } else if let Some(r) = n.value.strip_prefix("role/") {
                let role = Spanned::new(r.to_string(), n.referenced, n.defined);
                check_role(cx, f, &role);
                StepKind::NotifyRole {
                    role: r.to_string(),
                }
            } else {
                cx.diags.push(
                    Diagnostic::error(codes::PLAN_SHAPE, span, format!("`notify: {}`", n.value))
                        .label("expected `chain/<name>` or `role/<name>`"),
                );
                StepKind::NotifyRole {
                    role: n.value.clone(),
                }
            }
        } else if let Some(a) = &sv.await_ack {
            let of = target(cx, &a.of).unwrap_or(0);
            if let Some(&(_, false)) = ids.get(&a.of.value) {
                let span = cx.sspan(f, &a.of);
                cx.err(
                    codes::PLAN_SHAPE,
                    span,
                    format!("`{}` is not a notify step", a.of.value),
                    "await_ack needs a notify step",
                );
            }
            let timeout_ms = cx.duration(f, &a.timeout).unwrap_or(0);
            let on_timeout = target(cx, &a.on_timeout).unwrap_or(0);
            StepKind::AwaitAck {
                of,
                timeout_ms,
                on_timeout,
            }
        } else if let Some(m) = &sv.measures {
            if m.value.is_empty() {
                let span = cx.span(f, m);
                cx.err(
                    codes::PLAN_SHAPE,
                    span,
                    "no measures listed",
                    "e.g. [断路, 禁行, 停工停课, 撤离, 疏散]",
                );
            }
            StepKind::Measure {
                measures: m.value.iter().map(|x| x.value.clone()).collect(),
                area: sv.area.as_ref().map(|a| a.value.clone()),
            }
        } else if let Some(r) = &sv.declare_response {
            StepKind::DeclareResponse {
                level: cx.level(f, r, &RESPONSE_LEVELS),
            }
        } else if let Some(b) = &sv.branch {
            let mut arms = Vec::new();
            let mut otherwise = None;
            for arm in &b.value {
                let av = &arm.value;
                let a_span = cx.span(f, arm);
                match (&av.when, &av.goto, &av.otherwise) {
                    (Some(w), Some(g), None) => {
                        let base = cx.content_start(f, w);
                        let c = cx.guard(f, base, &w.value, &env);
                        let t = target(cx, g);
                        if let (Some(c), Some(t)) = (c, t) {
                            arms.push((c, t));
                        }
                    }
                    (None, None, Some(e)) if otherwise.is_none() => otherwise = target(cx, e).or(Some(0)),
                    (None, None, Some(_)) => {
                        cx.err(codes::PLAN_DUPLICATE, a_span, "a branch has one `else`", "second `else`");
                    }
                    _ => cx.err(
                        codes::PLAN_SHAPE,
                        a_span,
                        "a branch arm is `{ when: <condition>, goto: <step> }` or `{ else: <step> }`",
                        "malformed arm",
                    ),
                }
            }
            let otherwise = match otherwise {
                Some(o) => o,
                None => {
                    let span = cx.span(f, b);
                    cx.err(
                        codes::PLAN_SHAPE,
                        span,
                        format!("branch `{}` has no `else`", sv.id.value),
                        "add `{ else: <step> }`",
                    );
                    0
                }
            };
            next = None;
            StepKind::Branch { arms, otherwise }
        } else if let Some(cond) = &sv.if_ {
            let base = cx.content_start(f, cond);
            let c = cx.guard(f, base, &cond.value, &env);
            let then = match &sv.then {
                Some(t) => target(cx, t),
                None => {
                    let span = cx.sspan(f, cond);
                    cx.err(
                        codes::PLAN_SHAPE,
                        span,
                        format!("`if` of step `{}` has no `then`", sv.id.value),
                        "add `then: <step>`",
                    );
                    None
                }
            };
            let otherwise = match &sv.else_ {
                Some(e) => target(cx, e),
                None => next,
            };
            if sv.next.is_some() {
                let span = sv.next.as_ref().map_or(id_span, |n| cx.sspan(f, n));
                cx.ignored(
                    span,
                    "`if` goes to `then` or `else`; `next` is ignored",
                    None,
                );
            }
            next = None;
            match (c, then, otherwise) {
                (Some(c), Some(t), Some(o)) => StepKind::Branch {
                    arms: vec![(c, t)],
                    otherwise: o,
                },
                (_, _, None) if sv.else_.is_none() => {
                    cx.err(
                        codes::PLAN_SHAPE,
                        id_span,
                        format!("`if` step `{}` is last and has no `else`", sv.id.value),
                        "add `else: <step>`",
                    );
                    continue;
                }
                _ => continue,
            }
        } else if let Some(w) = &sv.wait {
            let wv = &w.value;
            let w_span = cx.span(f, w);
            let n = how_many(&[
                wv.duration.is_some(),
                wv.until.is_some(),
                wv.event.is_some(),
            ]);
            let until = if n != 1 {
                cx.err(
                    codes::PLAN_SHAPE,
                    w_span,
                    "a wait needs exactly one of `for`, `until`, `event`",
                    "what ends the wait?",
                );
                WaitFor::Duration(1)
            } else if let Some(d) = &wv.duration {
                WaitFor::Duration(cx.duration(f, d).unwrap_or(1))
            } else if let Some(u) = &wv.until {
                let base = cx.content_start(f, u);
                match cx.guard(f, base, &u.value, &env) {
                    Some(c) => WaitFor::Cond(c),
                    None => WaitFor::Duration(1),
                }
            } else {
                WaitFor::Event(
                    wv.event
                        .as_ref()
                        .map(|e| e.value.clone())
                        .unwrap_or_default(),
                )
            };
            let timeout_ms = wv.timeout.as_ref().and_then(|t| cx.duration(f, t));
            let on_timeout = wv.on_timeout.as_ref().and_then(|t| target(cx, t));
            if wv.on_timeout.is_some() && wv.timeout.is_none() {
                let span = wv.on_timeout.as_ref().map_or(w_span, |t| cx.sspan(f, t));
                cx.err(
                    codes::PLAN_SHAPE,
                    span,
                    "`on_timeout` without `timeout`",
                    "add `timeout: <duration>`",
                );
            }
            // (a guard that failed to lower is not a timed wait: no echo)
            if wv.duration.is_some() && wv.timeout.is_some() {
                let span = wv.timeout.as_ref().map_or(w_span, |t| cx.sspan(f, t));
                cx.ignored(span, "a timed wait needs no timeout", None);
            }
            StepKind::Wait {
                until,
                timeout_ms,
                on_timeout,
            }
        } else if let Some(p) = &sv.parallel {
            let pv = &p.value;
            if pv.branches.value.is_empty() {
                let span = cx.span(f, &pv.branches);
                cx.err(
                    codes::PLAN_JOIN,
                    span,
                    format!("parallel step `{}` has no branches", sv.id.value),
                    "list the first step of each branch",
                );
            }
            let branches: Vec<StepIdx> = pv
                .branches
                .value
                .iter()
                .filter_map(|b| target(cx, b))
                .collect();
            let join = target(cx, &pv.join).unwrap_or(0);
            if let Some(n) = &sv.next {
                let span = cx.sspan(f, n);
                cx.ignored(
                    span,
                    "a parallel step goes on at its `join`; `next` is ignored",
                    None,
                );
            }
            next = None;
            StepKind::Parallel { branches, join }
        } else if let Some(c) = &sv.check {
            let name = c
                .value
                .name
                .as_ref()
                .map_or_else(|| sv.id.value.clone(), |n| n.value.clone());
            let due_ms = cx.duration(f, &c.value.due).unwrap_or(1);
            StepKind::Check { name, due_ms }
        } else if let Some(sp) = &sv.start_plan {
            let spv = &sp.value;
            let pspan = cx.sspan(f, &spv.plan);
            if !plan_names.iter().any(|(n, _)| *n == spv.plan.value) {
                let near = suggest(&spv.plan.value, plan_names.iter().map(|(n, _)| n.as_str()));
                let msg = format!("no plan `{}` is defined", spv.plan.value);
                cx.undefined(pspan, msg, "undefined plan", near, None);
            } else if spv.plan.value == name.value {
                cx.err(
                    codes::PLAN_SHAPE,
                    pspan,
                    format!("plan `{}` starts itself", name.value),
                    "a plan starts other plans",
                );
            }
            let villages = match spv.in_.as_ref().map(|x| x.value.as_str()) {
                None | Some("area" | "本区域") => false,
                Some("villages" | "村") => true,
                Some(other) => {
                    let span = spv.in_.as_ref().map_or(pspan, |x| cx.sspan(f, x));
                    cx.err(
                        codes::PLAN_SHAPE,
                        span,
                        format!("`in: {other}`"),
                        "expected `area` or `villages`",
                    );
                    false
                }
            };
            StepKind::StartPlan {
                plan: spv.plan.value.clone(),
                villages,
            }
        } else if let Some(t) = &sv.supplies {
            let rows = match tables.iter().find(|(n, _)| *n == t.value) {
                Some((_, rows)) => rows.clone(),
                None => {
                    let span = cx.sspan(f, t);
                    let near = suggest(&t.value, tables.iter().map(|(n, _)| n.as_str()));
                    let msg = format!("no supplies table `{}` is defined", t.value);
                    let add = "define it in a file with `supplies: <name>` and `townships:`";
                    cx.undefined(span, msg, "undefined table", near, Some(add.into()));
                    Vec::new()
                }
            };
            StepKind::Supplies {
                table: t.value.clone(),
                rows,
            }
        } else if let Some(j) = &sv.join {
            let all = match j.value.as_str() {
                "all" | "全部" => true,
                "any" | "任一" => false,
                other => {
                    let span = cx.sspan(f, j);
                    cx.err(
                        codes::PLAN_SHAPE,
                        span,
                        format!("`join: {other}`"),
                        "expected `all` or `any`",
                    );
                    true
                }
            };
            StepKind::Join { all }
        } else if let Some(c) = &sv.close {
            let mut verify = Vec::new();
            for v in &c.value.verify {
                match Verify::parse(&v.value) {
                    Some(x) => verify.push(x),
                    None => {
                        let span = cx.sspan(f, v);
                        cx.err(
                            codes::PLAN_SHAPE,
                            span,
                            format!("unknown verification stage `{}`", v.value),
                            "expected 预警, 响应, 反馈 or 核实",
                        );
                    }
                }
            }
            if let Some(n) = &sv.next {
                let span = cx.sspan(f, n);
                cx.ignored(span, "`close` ends the instance; `next` is ignored", None);
            }
            next = None;
            StepKind::Close { verify }
        } else {
            continue;
        };
        steps.push(StepDef {
            id: sv.id.value.clone(),
            at: cx.at(id_span),
            kind,
            next,
        });
    }
    let start = match &d.start {
        Some(s) => target(cx, s).unwrap_or(0),
        None => 0,
    };
    let skip_levels = d.response.as_ref().is_none_or(|r| r.skip_levels.value);
    let county = match d.scope.as_ref().map(|x| x.value.as_str()) {
        None | Some("township" | "乡镇") => false,
        Some("county" | "县") => true,
        Some(other) => {
            let span = d.scope.as_ref().map_or(plan_span, |x| cx.sspan(f, x));
            cx.err(
                codes::PLAN_SHAPE,
                span,
                format!("`scope: {other}`"),
                "expected `county` or `township`",
            );
            false
        }
    };
    if steps.len() != steps_y.len() || undefined_step {
        // step indices are not reliable; graph checks would only echo the errors above
        return None;
    }
    let plan = PlanDef {
        name: name.value.clone(),
        at: cx.at(plan_span),
        triggers,
        start,
        allow_skip: skip_levels,
        county,
        steps,
    };
    graph_checks(cx, &plan, &id_spans, plan_span, d, f);
    Some(plan)
}

/// Days in each month of a year that has no 29 February (calendar dates
/// must exist every year).
const MONTH_DAYS: [u8; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// `calendar: "04-01"` (or `"04-01 08:00"`) with its `areas`: a date that
/// exists every year, and areas the roster knows.
fn calendar_trigger(
    cx: &mut Ctx<'_>,
    f: FileId,
    cal: &S,
    areas: Option<&Spanned<Vec<S>>>,
    t_span: Span,
    set: &PlanSet,
) -> Option<Trigger> {
    let span = cx.sspan(f, cal);
    let text = cal.value.trim();
    let (date, time) = match text.split_once(' ') {
        Some((d, t)) => (d, Some(t.trim())),
        None => (text, None),
    };
    let num = |s: &str| -> Option<u32> {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let md = date
        .split_once('-')
        .and_then(|(m, d)| Some((num(m)?, num(d)?)))
        .filter(|&(m, d)| {
            (1..=12).contains(&m)
                && d >= 1
                && MONTH_DAYS
                    .get(m as usize - 1)
                    .is_some_and(|&n| d <= u32::from(n))
        });
    let minute = match time {
        None => Some(0),
        Some(t) => t
            .split_once(':')
            .and_then(|(h, m)| Some((num(h)?, num(m)?)))
            .filter(|&(h, m)| h < 24 && m < 60)
            .map(|(h, m)| h * 60 + m),
    };
    let (Some((month, day)), Some(minute)) = (md, minute) else {
        cx.err_hint(
            codes::PLAN_SHAPE,
            span,
            format!("`calendar: {}` is not a date of every year", cal.value),
            "expected `MM-DD` or `MM-DD HH:MM`",
            "a date that exists every year, local time of the event stream (29 February does not)",
        );
        return None;
    };
    let Some(areas) = areas.filter(|a| !a.value.is_empty()) else {
        cx.err(
            codes::PLAN_SHAPE,
            t_span,
            "a calendar trigger needs `areas: [..]`",
            "where do its instances start?",
        );
        return None;
    };
    let known: Vec<&str> = set.roster.areas.iter().map(|a| a.name.as_str()).collect();
    if !known.is_empty() {
        for a in &areas.value {
            if !known.contains(&a.value.as_str()) {
                let s = cx.sspan(f, a);
                let msg = format!("area `{}` is not in the roster's `areas`", a.value);
                let near = suggest(&a.value, known.iter().copied());
                cx.undefined(s, msg, "undefined area", near, None);
            }
        }
    }
    Some(Trigger::Calendar {
        at: text.to_string(),
        month: month as u8,
        day: day as u8,
        minute: minute as u16,
        areas: areas.value.iter().map(|a| a.value.clone()).collect(),
    })
}
