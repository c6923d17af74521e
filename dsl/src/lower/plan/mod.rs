//! Validation and lowering of plan documents: the roster and the chains
//! (here), each plan (`plans`: triggers, steps), its guards (`guards`)
//! and the checks on its graph (`graph_checks`).
//!
//! Checks, all reported at once with `file:line:col`: YAML shape; duplicate
//! plans, steps, chains and people; undefined steps, chains, roles (roster
//! entries), signals, fields and plans; steps with no kind or two kinds; bad
//! levels, durations and guards; a chain whose last tier has no fallback; and,
//! on each plan's graph, unreachable steps, cycles in which nothing waits,
//! steps from which no `close` can be reached, and response levels that skip
//! a level when `response.skip_levels` is false. Warnings: a person holding
//! the roles of two tiers of one chain; a fallback on a tier that is not last.

use crate::diag::{Diagnostic, FileId, SourceMap, Span, codes, suggest};
use crate::syntax::yaml::plan::{ChainYaml, PlanDoc, S};
use guards::GuardEnv;
use serde_saphyr::Spanned;
use std::collections::{BTreeSet, HashMap, HashSet};
use yingji_engine::ir::Program;
use yingji_engine::time::parse_duration;
use yingji_engine::value::Level;
use yingji_engine::workflow::ir::Cond;
use yingji_engine::workflow::ir::{
    AreaDef, ChainDef, ChainIdx, ChainKind, Person, PlanSet, Response, TierDef,
};

mod graph_checks;
pub mod guards;
mod plans;

use plans::lower_plan;

struct Ctx<'a> {
    sources: &'a SourceMap,
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn text(&self, file: FileId) -> &str {
        self.sources.file(file).map_or("", |f| &f.text)
    }

    /// The span of a located value (a string's span covers it, quotes included).
    fn span<T>(&self, file: FileId, s: &Spanned<T>) -> Span {
        let sp = s.referenced.span();
        let start = sp.byte_offset().unwrap_or(0) as usize;
        let len = sp.byte_len().unwrap_or(0) as usize;
        Span::new(file, start, start + len.max(1))
    }

    fn sspan(&self, file: FileId, s: &S) -> Span {
        let sp = self.span(file, s);
        let len = (sp.end - sp.start) as usize;
        Span::new(
            file,
            sp.start as usize,
            sp.start as usize + len.max(s.value.len()),
        )
    }

    /// Byte offset where a string scalar's content starts (after a quote).
    fn content_start(&self, file: FileId, s: &S) -> usize {
        let sp = self.span(file, s);
        let start = sp.start as usize;
        match self.text(file).as_bytes().get(start) {
            Some(b'"' | b'\'') => start + 1,
            _ => start,
        }
    }

    /// A guard written at byte `base` of `file` (see [`guards`]).
    fn guard(&mut self, file: FileId, base: usize, text: &str, env: &GuardEnv<'_>) -> Option<Cond> {
        guards::guard(self.sources, &mut self.diags, file, base, text, env)
    }

    fn at(&self, span: Span) -> String {
        self.sources.location(span)
    }

    fn err(
        &mut self,
        code: &'static str,
        span: Span,
        msg: impl Into<String>,
        label: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::error(code, span, msg).label(label));
    }

    /// An error with a label and a hint.
    fn err_hint(
        &mut self,
        code: &'static str,
        span: Span,
        msg: impl Into<String>,
        label: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::error(code, span, msg).label(label).hint(hint));
    }

    /// A second `what` (`chain `x` is defined twice`): points at the first.
    fn duplicate(&mut self, span: Span, what: String, first: Span, label: &str) {
        let msg = format!("{what} (first at {})", self.at(first));
        self.err(codes::PLAN_DUPLICATE, span, msg, label);
    }

    /// A name that is not defined, with "did you mean" when one is close,
    /// else `otherwise`.
    fn undefined(
        &mut self,
        span: Span,
        msg: String,
        label: &str,
        suggestion: Option<&str>,
        otherwise: Option<String>,
    ) {
        self.diags.push(
            Diagnostic::error(codes::PLAN_UNDEFINED, span, msg)
                .label(label)
                .did_you_mean(suggestion, otherwise),
        );
    }

    /// Something accepted but ignored (a warning).
    fn ignored(&mut self, span: Span, msg: &str, hint: Option<&str>) {
        let mut d = Diagnostic::warning(codes::PLAN_IGNORED, span, msg).label("ignored");
        if let Some(h) = hint {
            d = d.hint(h);
        }
        self.diags.push(d);
    }

    /// A level on `scale`; anything else is reported and read as the
    /// scale's fallback.
    fn level<L: PartialOrd + Copy>(&mut self, file: FileId, s: &S, scale: &Scale<L>) -> L {
        if let Some(l) = (scale.parse)(&s.value).filter(|l| *l > scale.none) {
            return l;
        }
        let span = self.sspan(file, s);
        let msg = format!("`{}` is not a {} level", s.value, scale.name);
        self.err(codes::PLAN_SHAPE, span, msg, scale.expected);
        scale.fallback
    }

    fn duration(&mut self, file: FileId, s: &S) -> Option<i64> {
        let d = parse_duration(&s.value).ok().filter(|&ms| ms > 0);
        if d.is_none() {
            let span = self.sspan(file, s);
            self.err_hint(
                codes::PLAN_SHAPE,
                span,
                format!("`{}` is not a duration", s.value),
                "expected e.g. 5m",
                "write a whole number and a unit: 30s, 5m, 2h, 1d",
            );
        }
        d
    }
}

/// A scale of levels a plan names: warning levels, response levels.
struct Scale<L> {
    /// `warning`, `response`.
    name: &'static str,
    parse: fn(&str) -> Option<L>,
    /// "No level", never valid in a plan.
    none: L,
    /// What an invalid level is read as (after it is reported).
    fallback: L,
    /// The label of the report.
    expected: &'static str,
}

const WARNING_LEVELS: Scale<Level> = Scale {
    name: "warning",
    parse: Level::parse,
    none: Level::None,
    fallback: Level::Blue,
    expected: "expected blue, yellow, orange or red",
};

const RESPONSE_LEVELS: Scale<Response> = Scale {
    name: "response",
    parse: Response::parse,
    none: Response::None,
    fallback: Response::IV,
    expected: "expected IV, III, II or I",
};

struct ChainSrc<'d> {
    file: FileId,
    name: &'d S,
    chain: &'d Spanned<ChainYaml>,
}

/// See the module documentation.
fn check(sources: &SourceMap, files: &[FileId], program: Option<&Program>) -> PlanLoad {
    let mut cx = Ctx {
        sources,
        diags: Vec::new(),
    };
    let mut docs: Vec<(FileId, PlanDoc)> = Vec::new();
    for &f in files {
        let text = cx.text(f).to_string();
        match serde_saphyr::from_str::<PlanDoc>(&text) {
            Ok(d) => docs.push((f, d)),
            Err(e) => {
                let r = crate::syntax::yaml::error_range(&text, &e);
                let msg = crate::syntax::yaml::error_message(&e);
                cx.err_hint(
                    codes::YAML,
                    Span::new(f, r.start, r.end),
                    format!("invalid plan YAML: {msg}"),
                    "here",
                    "a plan file has `plan:`, `triggers:`, `steps:`; chains go under `chains:`; a roster has `roster:`, `areas:`, `people:`",
                );
            }
        }
    }

    // ---- roster
    let mut set = PlanSet::default();
    let mut area_parent: Vec<(String, Option<String>)> = Vec::new();
    // further parents (a catchment, a rescue region) and where each area is
    // first written as a child
    let mut area_also: HashMap<String, Vec<String>> = HashMap::new();
    let mut area_spans: HashMap<String, Span> = HashMap::new();
    let mut person_ids: HashMap<String, Span> = HashMap::new();
    let mut person_spans: Vec<Span> = Vec::new();
    let mut stations: HashMap<String, Span> = HashMap::new();
    for (f, d) in &docs {
        for (parent, children) in d.areas.iter().flat_map(|m| m.0.iter()) {
            if !area_parent.iter().any(|(a, _)| *a == parent.value) {
                area_parent.push((parent.value.clone(), None));
            }
            for c in children {
                area_spans
                    .entry(c.value.clone())
                    .or_insert_with(|| cx.sspan(*f, c));
                match area_parent.iter_mut().find(|(a, _)| *a == c.value) {
                    Some((_, p @ None)) => *p = Some(parent.value.clone()),
                    Some((_, Some(first))) if *first != parent.value => {
                        // an area under several parents (its township and a
                        // catchment crossing townships): the first listed is
                        // the administrative one
                        let also = area_also.entry(c.value.clone()).or_default();
                        if also.contains(&parent.value) {
                            let span = cx.sspan(*f, c);
                            let msg = format!(
                                "area `{}` is listed under `{}` twice",
                                c.value, parent.value
                            );
                            cx.err(codes::PLAN_DUPLICATE, span, msg, "listed again");
                        } else {
                            also.push(parent.value.clone());
                        }
                    }
                    Some(_) => {}
                    None => area_parent.push((c.value.clone(), Some(parent.value.clone()))),
                }
            }
        }
        for p in d.people.iter().flatten() {
            let span = cx.sspan(*f, &p.value.id);
            if let Some(&first) = person_ids.get(&p.value.id.value) {
                let what = format!("person `{}` is listed twice", p.value.id.value);
                cx.duplicate(span, what, first, "duplicate id");
                continue;
            }
            person_ids.insert(p.value.id.value.clone(), span);
            let mut roles: Vec<String> = p.value.role.iter().map(|r| r.value.clone()).collect();
            roles.extend(p.value.roles.iter().map(|r| r.value.clone()));
            if roles.is_empty() {
                let msg = format!("person `{}` holds no role", p.value.id.value);
                cx.err(codes::PLAN_SHAPE, span, msg, "add `role:` or `roles:`");
            }
            set.roster.people.push(Person {
                id: p.value.id.value.clone(),
                name: p.value.name.value.clone(),
                roles,
                area: p.value.area.value.clone(),
                channels: p.value.channels.iter().map(|c| c.value.clone()).collect(),
            });
            person_spans.push(span);
        }
        for (st, area) in d.stations.iter().flat_map(|m| m.0.iter()) {
            let span = cx.sspan(*f, st);
            if stations.insert(st.value.clone(), span).is_some() {
                let msg = format!("station `{}` is listed twice", st.value);
                cx.err(codes::PLAN_DUPLICATE, span, msg, "duplicate station");
            }
            set.roster
                .stations
                .push((st.value.clone(), area.value.clone()));
        }
    }
    // names to suggest from, in the order written (so ties always pick the same one)
    let area_names: Vec<&str> = area_parent.iter().map(|(a, _)| a.as_str()).collect();
    let known_areas: HashSet<&str> = area_names.iter().copied().collect();
    if !known_areas.is_empty() {
        for (f, doc) in &docs {
            for p in doc.people.iter().flatten() {
                let area = &p.value.area.value;
                if !known_areas.contains(area.as_str()) {
                    let span = cx.sspan(*f, &p.value.area);
                    let msg = format!("area `{area}` is not in the roster's `areas`");
                    let near = suggest(area, area_names.iter().copied());
                    cx.undefined(span, msg, "undefined area", near, None);
                }
            }
        }
    }
    set.roster.areas = area_parent
        .iter()
        .map(|(name, parent)| AreaDef {
            name: name.clone(),
            parent: parent.clone(),
            also: area_also.get(name).cloned().unwrap_or_default(),
        })
        .collect();
    roster_cycles(&mut cx, &set, &area_spans);
    let roles: BTreeSet<String> = set
        .roster
        .people
        .iter()
        .flat_map(|p| p.roles.iter().cloned())
        .collect();
    let check_role = |cx: &mut Ctx<'_>, f: FileId, r: &S| {
        if !roles.contains(&r.value) {
            let span = cx.sspan(f, r);
            let msg = format!("no one in the roster holds the role `{}`", r.value);
            let near = suggest(&r.value, roles.iter().map(String::as_str));
            let add = "add a person with this role to a roster file (`people:`)";
            cx.undefined(span, msg, "missing roster entry", near, Some(add.into()));
        }
    };

    // ---- chains
    let mut chain_srcs: Vec<ChainSrc<'_>> = Vec::new();
    // per lowered chain: the spans of its tiers and of its fallback roles
    let mut chain_spans: Vec<(Vec<Span>, Vec<Span>)> = Vec::new();
    for (f, d) in &docs {
        for (name, chain) in d.chains.iter().flat_map(|m| m.0.iter()) {
            if let Some(first) = chain_srcs.iter().find(|c| c.name.value == name.value) {
                let span = cx.sspan(*f, name);
                let first = cx.sspan(first.file, first.name);
                let what = format!("chain `{}` is defined twice", name.value);
                cx.duplicate(span, what, first, "duplicate chain");
                continue;
            }
            chain_srcs.push(ChainSrc {
                file: *f,
                name,
                chain,
            });
        }
    }
    for src in &chain_srcs {
        let f = src.file;
        let ch = &src.chain.value;
        let kind = match ch.kind.as_ref().map(|k| k.value.as_str()) {
            None | Some("escalation" | "叫应") => ChainKind::Escalation,
            Some("responsibility" | "责任人") => ChainKind::Responsibility,
            Some("relay" | "接力") => ChainKind::Relay,
            Some("dispatch" | "派遣" | "就近") => ChainKind::Dispatch,
            Some(other) => {
                let span = ch.kind.as_ref().map_or(Span::default(), |k| cx.sspan(f, k));
                let msg = format!("unknown chain kind `{other}`");
                cx.err(
                    codes::PLAN_SHAPE,
                    span,
                    msg,
                    "expected `escalation`, `responsibility` or `relay`",
                );
                ChainKind::Escalation
            }
        };
        let name_span = cx.sspan(f, src.name);
        if ch.tiers.is_empty() {
            let msg = format!("chain `{}` has no tiers", src.name.value);
            cx.err(codes::PLAN_SHAPE, name_span, msg, "empty chain");
        }
        let mut tiers = Vec::new();
        let mut fallback = Vec::new();
        let (mut tier_spans, mut fallback_spans) = (Vec::new(), Vec::new());
        for (i, t) in ch.tiers.iter().enumerate() {
            let t_span = cx.sspan(f, &t.value.tier);
            tier_spans.push(t_span);
            check_role(&mut cx, f, &t.value.tier);
            let timeout = cx.duration(f, &t.value.timeout).unwrap_or(0);
            let mut need_n = None;
            let need_all = match t.value.need.as_ref().map(|n| n.value.as_str()) {
                None | Some("any" | "任一") => false,
                Some("all" | "全部") => true,
                Some(n) if n.parse::<u16>().is_ok_and(|n| n >= 1) => {
                    need_n = n.parse::<u16>().ok();
                    false
                }
                Some(other) => {
                    let span = t.value.need.as_ref().map_or(t_span, |n| cx.sspan(f, n));
                    cx.err(
                        codes::PLAN_SHAPE,
                        span,
                        format!("`need: {other}`"),
                        "expected `any`, `all` or a number of people (1 or more)",
                    );
                    false
                }
            };
            let last = i + 1 == ch.tiers.len();
            match (&t.value.fallback, last) {
                (Some(fb), true) => {
                    if fb.value.is_empty() {
                        let span = cx.span(f, fb);
                        cx.err(
                            codes::PLAN_NO_FALLBACK,
                            span,
                            "an empty fallback calls nobody",
                            "name a role",
                        );
                    }
                    for r in &fb.value {
                        check_role(&mut cx, f, r);
                        fallback.push(r.value.clone());
                        fallback_spans.push(cx.sspan(f, r));
                    }
                }
                (None, true) => {
                    cx.err_hint(
                        codes::PLAN_NO_FALLBACK,
                        t_span,
                        format!(
                            "the last tier of chain `{}` has no fallback",
                            src.name.value
                        ),
                        "nobody is told when this tier does not answer",
                        "add `fallback: [<role>]` to the last tier, e.g. the county duty office",
                    );
                }
                (Some(fb), false) => {
                    let span = cx.span(f, fb);
                    let msg = "a fallback on a tier that is not the last is ignored";
                    cx.ignored(span, msg, Some("move it to the last tier"));
                }
                (None, false) => {}
            }
            tiers.push(TierDef {
                role: t.value.tier.value.clone(),
                timeout_ms: timeout,
                need_all,
                need_n,
                per_affected: match t.value.in_.as_ref().map(|x| x.value.as_str()) {
                    None => false,
                    Some("affected" | "受影响乡镇") => true,
                    Some(other) => {
                        let span = t.value.in_.as_ref().map_or(t_span, |x| cx.sspan(f, x));
                        cx.err(
                            codes::PLAN_SHAPE,
                            span,
                            format!("`in: {other}`"),
                            "expected `affected`",
                        );
                        false
                    }
                },
                at: cx.at(t_span),
            });
        }
        // a person in two tiers of one chain
        for (pi, p) in set.roster.people.iter().enumerate() {
            let held: Vec<usize> = tiers
                .iter()
                .enumerate()
                .filter(|(_, t)| p.roles.contains(&t.role))
                .map(|(i, _)| i + 1)
                .collect();
            if held.len() > 1 {
                let span = person_spans.get(pi).copied().unwrap_or(name_span);
                let list: Vec<String> = held.iter().map(|t| t.to_string()).collect();
                cx.diags.push(
                    Diagnostic::warning(
                        codes::PLAN_TWO_TIERS,
                        span,
                        format!(
                            "`{}` ({}) is in tiers {} of chain `{}`",
                            p.id,
                            p.name,
                            list.join(" and "),
                            src.name.value
                        ),
                    )
                    .label("called twice when the chain escalates")
                    .hint(format!(
                        "chain `{}` is defined at {}",
                        src.name.value,
                        cx.at(name_span)
                    )),
                );
            }
        }
        chain_spans.push((tier_spans, fallback_spans));
        set.chains.push(ChainDef {
            name: src.name.value.clone(),
            at: cx.at(name_span),
            kind,
            tiers,
            fallback,
        });
    }
    let chain_idx: HashMap<&str, ChainIdx> = chain_srcs
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.value.as_str(), i as ChainIdx))
        .collect();

    // ---- plans
    let signals: Vec<String> = program
        .map(|p| p.signals.iter().map(|s| s.name.clone()).collect())
        .unwrap_or_default();
    let mut plan_names: Vec<(String, Span)> = Vec::new();
    for (f, d) in &docs {
        if let Some(name) = &d.plan {
            let span = cx.sspan(*f, name);
            if let Some(&(_, first)) = plan_names.iter().find(|(n, _)| *n == name.value) {
                let what = format!("plan `{}` is defined twice", name.value);
                cx.duplicate(span, what, first, "duplicate plan");
                continue;
            }
            plan_names.push((name.value.clone(), span));
        } else if d.triggers.is_some() || d.steps.is_some() || d.start.is_some() {
            let span = d
                .steps
                .as_ref()
                .map(|s| cx.span(*f, s))
                .or_else(|| d.triggers.as_ref().map(|t| cx.span(*f, t)))
                .unwrap_or(Span::new(*f, 0, 1));
            cx.err(
                codes::PLAN_SHAPE,
                span,
                "steps and triggers need a `plan:` name",
                "no `plan:` in this file",
            );
        }
    }
    let tables = supply_tables(&mut cx, &docs, &set);
    let mut done: HashSet<String> = HashSet::new();
    for (f, d) in &docs {
        let Some(name) = &d.plan else { continue };
        if !done.insert(name.value.clone()) {
            continue;
        }
        if let Some(p) = lower_plan(
            &mut cx,
            *f,
            d,
            name,
            &signals,
            program,
            &chain_idx,
            &set,
            &plan_names,
            &check_role,
            &tables,
        ) {
            set.plans.push(p);
        }
    }

    reach_checks(&mut cx, &set, &chain_spans);
    roster_possible(&mut cx, &set, &area_spans, &plan_names);

    PlanLoad {
        set,
        diagnostics: cx.diags,
        files: docs.len(),
    }
}

/// The areas plans can be known statically to run in: the townships (the
/// areas directly under a root of the roster's area tree) and the areas the
/// station table maps gauges to.
fn run_areas(set: &PlanSet) -> Vec<String> {
    let roots: HashSet<&str> = set
        .roster
        .areas
        .iter()
        .filter(|a| a.parent.is_none())
        .map(|a| a.name.as_str())
        .collect();
    // a grouping area (a catchment, a rescue region) is a further parent of
    // every area under it, the first parent of none: no plan runs there
    let primary: HashSet<&str> = set
        .roster
        .areas
        .iter()
        .filter_map(|a| a.parent.as_deref())
        .collect();
    let grouping: HashSet<&str> = set
        .roster
        .areas
        .iter()
        .flat_map(|a| a.also.iter().map(String::as_str))
        .filter(|g| !primary.contains(g))
        .collect();
    let mut v: Vec<String> = Vec::new();
    let townships = set
        .roster
        .areas
        .iter()
        .filter(|a| a.parent.as_deref().is_some_and(|p| roots.contains(p)))
        .filter(|a| !grouping.contains(a.name.as_str()))
        .map(|a| a.name.clone());
    let stations = set.roster.stations.iter().map(|(_, a)| a.clone());
    for a in townships.chain(stations) {
        if !v.contains(&a) {
            v.push(a);
        }
    }
    v
}

/// Warns about every tier and fallback role of a chain a plan started by a
/// signal or a response uses that nobody holds in one of the [`run_areas`] (W0503): at run time each such
/// call is a `notify_failed` output.
fn reach_checks(cx: &mut Ctx<'_>, set: &PlanSet, spans: &[(Vec<Span>, Vec<Span>)]) {
    use yingji_engine::workflow::ir::StepKind;
    let areas = run_areas(set);
    if areas.is_empty() || set.roster.people.is_empty() {
        return;
    }
    let index = yingji_engine::workflow::roster::RosterIndex::new(set);
    // a plan started only by hand runs where its `plan_start` says: unknown here
    let used: HashSet<ChainIdx> = set
        .plans
        .iter()
        .filter(|p| {
            p.triggers
                .iter()
                .any(|t| !matches!(t, yingji_engine::workflow::ir::Trigger::Manual))
        })
        .flat_map(|p| p.steps.iter())
        .filter_map(|s| match s.kind {
            StepKind::NotifyChain { chain } => Some(chain),
            _ => None,
        })
        .collect();
    for (ci, ch) in set.chains.iter().enumerate() {
        if !used.contains(&(ci as ChainIdx)) {
            continue;
        }
        let Some((tier_spans, fb_spans)) = spans.get(ci) else {
            continue;
        };
        let roles = ch
            .tiers
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("tier {}", i + 1), &t.role, tier_spans.get(i)))
            .chain(
                ch.fallback
                    .iter()
                    .enumerate()
                    .map(|(i, r)| ("the fallback".to_string(), r, fb_spans.get(i))),
            );
        for (what, role, span) in roles {
            let missing: Vec<&str> = areas
                .iter()
                .filter(|a| index.people_for(role, a).is_empty())
                .map(String::as_str)
                .collect();
            let (Some(&span), false) = (span, missing.is_empty()) else {
                continue;
            };
            let relay_tier = ch.kind == yingji_engine::workflow::ir::ChainKind::Relay
                && what.starts_with("tier");
            let message = format!(
                "{what} of chain `{}` (`{role}`) reaches nobody in {}",
                ch.name,
                missing.join(", ")
            );
            // a relay cannot pass a tier that reaches nobody: it can never complete
            let d = if relay_tier {
                Diagnostic::error(
                    codes::PLAN_ROSTER,
                    span,
                    format!("{message}: the relay can never complete there"),
                )
            } else {
                Diagnostic::warning(codes::PLAN_REACHES_NOBODY, span, message)
            };
            cx.diags.push(
                d.label("no person in the roster holds this role there, above it or below it")
                .hint(format!(
                    "add a person with role `{role}` for these areas to the roster; at run time each such call is a `notify_failed` output"
                )),
            );
        }
    }
}

/// What a plan load produced.
#[derive(Debug, Default)]
pub struct PlanLoad {
    /// The lowered plans, chains and roster (complete only without errors).
    pub set: PlanSet,
    /// Errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// How many plan documents were read.
    pub files: usize,
}

impl PlanLoad {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Validates and lowers the plan documents among `files` (already in
/// `sources`). With a `program`, signal names and area fields are checked
/// against it; without one, only the plan files themselves are checked.
pub fn load_plans(sources: &SourceMap, files: &[FileId], program: Option<&Program>) -> PlanLoad {
    check(sources, files, program)
}

/// Adds `(name, text)` pairs to `sources` and loads those that are plan
/// documents (see [`crate::syntax::yaml::plan::is_plan_yaml`]).
pub fn load_plan_texts(
    sources: &mut SourceMap,
    texts: &[(String, String)],
    program: Option<&Program>,
) -> PlanLoad {
    let ids: Vec<FileId> = texts
        .iter()
        .filter(|(_, t)| crate::syntax::yaml::plan::is_plan_yaml(t))
        .map(|(n, t)| sources.add(n, t))
        .collect();
    load_plans(sources, &ids, program)
}

/// Each area's parents, by name (the administrative one first).
fn parents_of(set: &PlanSet) -> HashMap<&str, Vec<&str>> {
    set.roster
        .areas
        .iter()
        .map(|a| {
            let v: Vec<&str> = a
                .parent
                .iter()
                .map(String::as_str)
                .chain(a.also.iter().map(String::as_str))
                .collect();
            (a.name.as_str(), v)
        })
        .collect()
}

/// The areas enclosing `area` (each once, nearest first).
fn enclosing<'a>(parents: &HashMap<&'a str, Vec<&'a str>>, area: &'a str) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    let mut level = vec![area];
    for _ in 0..yingji_engine::workflow::roster::MAX_DEPTH {
        let mut next = Vec::new();
        for a in level {
            for &p in parents.get(a).into_iter().flatten() {
                if !seen.contains(&p) {
                    seen.push(p);
                    next.push(p);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    seen
}

/// E0511: an area that encloses itself (through one or several parents).
/// Each cycle is reported once, at the first of its areas in roster order.
fn roster_cycles(cx: &mut Ctx<'_>, set: &PlanSet, spans: &HashMap<String, Span>) {
    let parents = parents_of(set);
    let mut reported: Vec<&str> = Vec::new();
    for a in &set.roster.areas {
        let name = a.name.as_str();
        let up = enclosing(&parents, name);
        if !up.contains(&name) || reported.contains(&name) {
            continue;
        }
        // the areas on its cycle: those it encloses and that enclose it
        let on_cycle: Vec<&str> = up
            .iter()
            .copied()
            .filter(|b| enclosing(&parents, b).contains(&name))
            .collect();
        reported.extend(on_cycle.iter().copied());
        let Some(&span) = spans.get(name) else {
            continue;
        };
        let mut path: Vec<&str> = on_cycle.iter().copied().filter(|b| *b != name).collect();
        path.insert(0, name);
        path.push(name);
        cx.err_hint(
            codes::PLAN_ROSTER,
            span,
            format!("area `{name}` encloses itself: {}", path.join(" → ")),
            "a cycle in the roster's areas",
            "an area's parents must lead up to the county, not back to the area",
        );
    }
}

/// E0511: a county-scoped plan needs the roster's areas, and each area it
/// can run in under exactly one root (its county).
fn roster_possible(
    cx: &mut Ctx<'_>,
    set: &PlanSet,
    spans: &HashMap<String, Span>,
    plan_names: &[(String, Span)],
) {
    let county_plans: Vec<&str> = set
        .plans
        .iter()
        .filter(|p| p.county)
        .map(|p| p.name.as_str())
        .collect();
    let Some(first) = county_plans.first() else {
        return;
    };
    if set.roster.areas.is_empty() {
        for p in &county_plans {
            let Some(&(_, span)) = plan_names.iter().find(|(n, _)| n == p) else {
                continue;
            };
            cx.err_hint(
                codes::PLAN_ROSTER,
                span,
                format!("plan `{p}` is county-scoped but the roster lists no areas"),
                "no county to run in",
                "list the county and its townships in a roster's `areas:`",
            );
        }
        return;
    }
    let parents = parents_of(set);
    for area in run_areas(set) {
        let roots: Vec<&str> = enclosing(&parents, &area)
            .into_iter()
            .filter(|a| parents.get(a).is_none_or(Vec::is_empty))
            .collect();
        if roots.len() < 2 {
            continue;
        }
        let Some(&span) = spans.get(&area) else {
            continue;
        };
        cx.err_hint(
            codes::PLAN_ROSTER,
            span,
            format!(
                "area `{area}` lies under {}: the county instance of plan `{first}` cannot be chosen",
                roots
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            "several roots",
            "put the further parents (catchments, rescue regions) under the county too",
        );
    }
}

/// The supplies tables (`supplies: <name>` with `townships:` and optional
/// `units:`): every township an area of the roster, each listed once, each
/// table named once and not empty.
fn supply_tables(
    cx: &mut Ctx<'_>,
    docs: &[(FileId, PlanDoc)],
    set: &PlanSet,
) -> Vec<(String, Vec<yingji_engine::workflow::ir::SupplyRow>)> {
    let known: Vec<&str> = set.roster.areas.iter().map(|a| a.name.as_str()).collect();
    let mut tables: Vec<(String, Vec<yingji_engine::workflow::ir::SupplyRow>)> = Vec::new();
    let mut spans: Vec<Span> = Vec::new();
    for (f, d) in docs {
        let Some(name) = &d.supplies else {
            if let Some(t) = d.townships.as_ref().and_then(|t| t.0.first()) {
                let span = cx.sspan(*f, &t.0);
                cx.err(
                    codes::PLAN_SHAPE,
                    span,
                    "`townships:` belongs to a supplies table",
                    "no `supplies: <name>` in this file",
                );
            }
            continue;
        };
        let span = cx.sspan(*f, name);
        if let Some(i) = tables.iter().position(|(n, _)| *n == name.value) {
            let first = spans.get(i).copied().unwrap_or(span);
            let what = format!("supplies table `{}` is defined twice", name.value);
            cx.duplicate(span, what, first, "duplicate table");
            continue;
        }
        let units: Vec<(&str, &str)> = d
            .units
            .iter()
            .flat_map(|m| m.0.iter())
            .map(|(k, v)| (k.value.as_str(), v.value.as_str()))
            .collect();
        let mut rows = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (town, items) in d.townships.iter().flat_map(|m| m.0.iter()) {
            let tspan = cx.sspan(*f, town);
            if seen.contains(&town.value.as_str()) {
                cx.err(
                    codes::PLAN_DUPLICATE,
                    tspan,
                    format!("township `{}` is listed twice", town.value),
                    "listed again",
                );
                continue;
            }
            seen.push(&town.value);
            if !known.is_empty() && !known.contains(&town.value.as_str()) {
                let msg = format!("area `{}` is not in the roster's `areas`", town.value);
                let near = suggest(&town.value, known.iter().copied());
                cx.undefined(tspan, msg, "undefined area", near, None);
            }
            for (item, qty) in &items.0 {
                rows.push(yingji_engine::workflow::ir::SupplyRow {
                    township: town.value.clone(),
                    item: item.value.clone(),
                    quantity: qty.value,
                    unit: units
                        .iter()
                        .find(|(k, _)| *k == item.value)
                        .map(|(_, u)| (*u).to_string()),
                });
            }
        }
        if rows.is_empty() {
            cx.err(
                codes::PLAN_SHAPE,
                span,
                format!("supplies table `{}` has no rows", name.value),
                "add `townships: { <township>: { <item>: <quantity> } }`",
            );
        }
        spans.push(span);
        tables.push((name.value.clone(), rows));
    }
    tables
}
