//! The 应急处置流程图: a plan drawn as Graphviz DOT or Mermaid.
//!
//! Step kinds are told apart by shape (triggers `invhouse`, notify `box`
//! rounded, await_ack `hexagon`, measure `box3d`, declare_response
//! `doubleoctagon`, branch `diamond`, wait `parallelogram`, close
//! `doublecircle`); each chain a notify step starts is drawn beside it as a
//! cluster of its tiers. Escalation edges (timeouts) are dashed and labelled
//! with their timeout. Labels keep their Chinese text as UTF-8.
//!
//! The chart reads top-down by response level: each `declare_response` step
//! and the `measures` steps that follow it are drawn in a box of their level
//! (Ⅳ级响应 … Ⅰ级响应, filled blue, yellow, orange, red), the boxes ordered
//! from Ⅳ down to Ⅰ, and the DOT page is bounded to A4 portrait
//! (`size="7.5,10.5"`, scaled down when larger).

use crate::time::format_duration;
use crate::workflow::graph::{Edge, Node, PlanGraph, cond_text};
use crate::workflow::ir::{
    ChainDef, ChainKind, PlanDef, PlanSet, Response, StepDef, StepKind, Trigger, WaitFor,
};
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use std::fmt::Write as _;

/// The export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
    /// Mermaid `flowchart`.
    Mermaid,
}

/// Draws `plan` in `format`.
pub fn export(set: &PlanSet, plan: &PlanDef, format: Format) -> String {
    match format {
        Format::Dot => to_dot(set, plan),
        Format::Mermaid => to_mermaid(set, plan),
    }
}

fn trigger_label(plan: &PlanDef) -> String {
    let mut lines = vec!["触发".to_string()];
    for t in &plan.triggers {
        lines.push(match t {
            Trigger::Signal {
                signal, min_level, ..
            } => format!("{signal} ≥ {}", min_level.name()),
            Trigger::Response {
                plan: Some(p),
                min_level,
            } => format!("{p} 响应 ≥ {}", min_level.roman()),
            Trigger::Response {
                plan: None,
                min_level,
            } => format!("响应 ≥ {}", min_level.roman()),
            Trigger::Manual => "手动启动".into(),
            Trigger::Calendar { at, areas, .. } => format!("每年 {at}（{} 处）", areas.len()),
        });
    }
    lines.join("\n")
}

fn step_label(set: &PlanSet, plan: &PlanDef, s: &StepDef) -> String {
    let what = match &s.kind {
        StepKind::NotifyChain { chain } => format!(
            "叫应 {}",
            set.chains
                .get(usize::from(*chain))
                .map_or("?", |c| c.name.as_str())
        ),
        StepKind::NotifyRole { role } => format!("通知 {role}"),
        StepKind::AwaitAck { of, timeout_ms, .. } => format!(
            "等待 {} 应答 ≤ {}",
            plan.steps
                .get(usize::from(*of))
                .map_or("?", |x| x.id.as_str()),
            format_duration(*timeout_ms)
        ),
        StepKind::Measure { measures, area } => {
            let m = measures.join("、");
            match area {
                Some(a) => format!("{m}\n范围 {a}"),
                None => m,
            }
        }
        StepKind::DeclareResponse { level } => format!("启动 {}级响应", level.roman()),
        StepKind::Branch { .. } => "研判".into(),
        StepKind::Wait { until, .. } => match until {
            WaitFor::Duration(ms) => format!("等待 {}", format_duration(*ms)),
            WaitFor::Cond(c) => format!("等待 {}", cond_text(plan, c)),
            WaitFor::Event(k) => format!("等待 {k}"),
        },
        StepKind::Close { verify } => {
            let v: Vec<&str> = verify.iter().map(|v| v.name()).collect();
            if v.is_empty() {
                "结束".into()
            } else {
                format!("结束 {}", v.join("→"))
            }
        }
        StepKind::Parallel { branches, .. } => format!("并行 {} 路", branches.len()),
        StepKind::Check { name, due_ms } => format!("{name} 限 {}", format_duration(*due_ms)),
        StepKind::StartPlan { plan, villages } => {
            if *villages {
                format!("启动 {plan}（各村）")
            } else {
                format!("启动 {plan}")
            }
        }
        StepKind::Supplies { table, rows } => {
            let mut towns: Vec<&str> = Vec::new();
            for r in rows {
                if !towns.contains(&r.township.as_str()) {
                    towns.push(&r.township);
                }
            }
            format!("物资前置 {table}（{} 个乡镇）", towns.len())
        }
        StepKind::Join { all } => if *all {
            "汇合（全部完成）"
        } else {
            "汇合（任一完成）"
        }
        .into(),
    };
    format!("{}\n{what}", s.id)
}

fn dot_shape(k: &StepKind) -> &'static str {
    match k {
        StepKind::NotifyChain { .. } | StepKind::NotifyRole { .. } => "shape=box, style=rounded",
        StepKind::AwaitAck { .. } => "shape=hexagon",
        StepKind::Measure { .. } => "shape=box3d",
        StepKind::DeclareResponse { .. } => "shape=doubleoctagon",
        StepKind::Branch { .. } => "shape=diamond",
        StepKind::Wait { .. } => "shape=parallelogram",
        StepKind::Close { .. } => "shape=doublecircle",
        StepKind::Parallel { .. } | StepKind::Join { .. } => "shape=box, style=bold",
        StepKind::Check { .. } => "shape=note",
        StepKind::StartPlan { .. } => "shape=component",
        StepKind::Supplies { .. } => "shape=box3d",
    }
}

fn dot_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            _ => o.push(c),
        }
    }
    o.push('"');
    o
}

fn node_id(n: Node) -> String {
    match n {
        Node::Start => "start".into(),
        Node::Step(i) => format!("s{i}"),
    }
}

/// The chains a plan's notify steps start, with the step index.
/// Breaks each line of `text` at spaces so that no line is much longer than
/// `width` characters (long guards would otherwise make the chart too wide
/// for a page).
fn wrap(text: &str, width: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let mut cur = String::new();
        for word in line.split(' ') {
            if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
                out.push(std::mem::take(&mut cur));
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
        out.push(cur);
    }
    out.join("\n")
}

/// The response level whose box a step is drawn in: a `declare_response`
/// step's own level, and the `measures` steps following it by `next`.
fn response_of(plan: &PlanDef) -> Vec<Option<Response>> {
    let mut v = vec![None; plan.steps.len()];
    for (i, s) in plan.steps.iter().enumerate() {
        let StepKind::DeclareResponse { level } = s.kind else {
            continue;
        };
        if let Some(x) = v.get_mut(i) {
            *x = Some(level);
        }
        let mut next = s.next;
        for _ in 0..plan.steps.len() {
            let Some(n) = next else { break };
            let Some(step) = plan.steps.get(usize::from(n)) else {
                break;
            };
            if !matches!(step.kind, StepKind::Measure { .. }) {
                break;
            }
            match v.get_mut(usize::from(n)) {
                Some(x @ None) => *x = Some(level),
                _ => break,
            }
            next = step.next;
        }
    }
    v
}

/// The response levels drawn, lowest (Ⅳ) first, with their steps.
fn response_boxes(plan: &PlanDef) -> Vec<(Response, Vec<usize>)> {
    let of = response_of(plan);
    [Response::IV, Response::III, Response::II, Response::I]
        .into_iter()
        .map(|r| {
            let steps: Vec<usize> = of
                .iter()
                .enumerate()
                .filter(|(_, x)| **x == Some(r))
                .map(|(i, _)| i)
                .collect();
            (r, steps)
        })
        .filter(|(_, steps)| !steps.is_empty())
        .collect()
}

fn response_fill(r: Response) -> &'static str {
    match r {
        Response::IV => "#dbe9ff",
        Response::III => "#fff6c2",
        Response::II => "#ffe0b8",
        Response::I | Response::None => "#ffd0d0",
    }
}

fn chains_of<'a>(set: &'a PlanSet, plan: &PlanDef) -> Vec<(usize, &'a ChainDef)> {
    plan.steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s.kind {
            StepKind::NotifyChain { chain } => set.chains.get(usize::from(chain)).map(|c| (i, c)),
            _ => None,
        })
        .collect()
}

/// Graphviz DOT.
pub fn to_dot(set: &PlanSet, plan: &PlanDef) -> String {
    let g = PlanGraph::build(plan);
    let mut o = String::new();
    let font = "fontname=\"Noto Sans CJK SC\"";
    let _ = writeln!(o, "digraph {} {{", dot_str(&plan.name));
    let _ = writeln!(
        o,
        "  graph [{font}, rankdir=TB, labelloc=t, size=\"7.5,10.5\", ranksep=0.35, nodesep=0.25, label={}];",
        dot_str(&format!("{} 应急处置流程图", plan.name))
    );
    let _ = writeln!(o, "  node [{font}, fontsize=11];");
    let _ = writeln!(o, "  edge [{font}, fontsize=10];");
    let _ = writeln!(
        o,
        "  start [shape=invhouse, label={}];",
        dot_str(&trigger_label(plan))
    );
    let boxes = response_boxes(plan);
    let boxed: Vec<usize> = boxes.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    let node = |o: &mut String, i: usize, s: &StepDef, indent: &str| {
        let _ = writeln!(
            o,
            "{indent}s{i} [{}, label={}];",
            dot_shape(&s.kind),
            dot_str(&wrap(&step_label(set, plan, s), 22))
        );
    };
    for (i, s) in plan.steps.iter().enumerate() {
        if !boxed.contains(&i) {
            node(&mut o, i, s, "  ");
        }
    }
    for (r, steps) in &boxes {
        let _ = writeln!(o, "  subgraph cluster_r{} {{", r.rank());
        let _ = writeln!(
            o,
            "    label={}; style=filled; color=\"#999999\"; fillcolor=\"{}\";",
            dot_str(&format!("{}级响应", r.roman())),
            response_fill(*r)
        );
        for &i in steps {
            if let Some(s) = plan.steps.get(i) {
                node(&mut o, i, s, "    ");
            }
        }
        o.push_str("  }\n");
    }
    // the boxes top-down from Ⅳ to Ⅰ
    for w in boxes.windows(2) {
        if let (Some(a), Some(b)) = (w[0].1.first(), w[1].1.first()) {
            let _ = writeln!(o, "  s{a} -> s{b} [style=invis, weight=0];");
        }
    }
    for e in g.graph.edge_references() {
        let (Some(a), Some(b)) = (
            g.graph.node_weight(e.source()),
            g.graph.node_weight(e.target()),
        ) else {
            continue;
        };
        let w = e.weight();
        let mut attrs = Vec::new();
        let label = wrap(&w.label(), 18);
        if !label.is_empty() {
            attrs.push(format!("label={}", dot_str(&label)));
        }
        if matches!(w, Edge::Timeout(_)) {
            attrs.push("style=dashed, color=red".into());
        }
        if attrs.is_empty() {
            let _ = writeln!(o, "  {} -> {};", node_id(*a), node_id(*b));
        } else {
            let _ = writeln!(
                o,
                "  {} -> {} [{}];",
                node_id(*a),
                node_id(*b),
                attrs.join(", ")
            );
        }
    }
    for (i, ch) in chains_of(set, plan) {
        let kind = match ch.kind {
            ChainKind::Escalation => "叫应链",
            ChainKind::Responsibility => "责任人",
            ChainKind::Relay => "接力链",
            ChainKind::Dispatch => "就近派遣",
        };
        let _ = writeln!(o, "  subgraph cluster_s{i} {{");
        let _ = writeln!(
            o,
            "    label={}; style=dashed;",
            dot_str(&format!("{kind} {}", ch.name))
        );
        for (t, tier) in ch.tiers.iter().enumerate() {
            let need = match (tier.need_all, tier.need_n) {
                (true, _) => "（全部应答）".to_string(),
                (false, Some(n)) => format!("（至少 {n} 人应答）"),
                (false, None) => String::new(),
            };
            let _ = writeln!(
                o,
                "    s{i}_t{} [shape=box, label={}];",
                t + 1,
                dot_str(&format!(
                    "{}. {}{need}\n限时 {}",
                    t + 1,
                    tier.role,
                    format_duration(tier.timeout_ms)
                ))
            );
        }
        let _ = writeln!(
            o,
            "    s{i}_fb [shape=octagon, label={}];",
            dot_str(&format!("未应答 → {}", ch.fallback.join("、")))
        );
        let _ = writeln!(o, "  }}");
        let _ = writeln!(o, "  s{i} -> s{i}_t1 [style=dotted, label=\"呼叫\"];");
        match ch.kind {
            ChainKind::Relay => {
                for (t, tier) in ch.tiers.iter().enumerate() {
                    if t + 1 < ch.tiers.len() {
                        let _ = writeln!(
                            o,
                            "  s{i}_t{} -> s{i}_t{} [label=\"应答后转\"];",
                            t + 1,
                            t + 2
                        );
                    }
                    let _ = writeln!(
                        o,
                        "  s{i}_t{} -> s{i}_fb [style=dashed, color=red, label={}];",
                        t + 1,
                        dot_str(&format!("超时 {}", format_duration(tier.timeout_ms)))
                    );
                }
            }
            ChainKind::Escalation | ChainKind::Dispatch => {
                for (t, tier) in ch.tiers.iter().enumerate() {
                    let to = if t + 1 < ch.tiers.len() {
                        format!("s{i}_t{}", t + 2)
                    } else {
                        format!("s{i}_fb")
                    };
                    let _ = writeln!(
                        o,
                        "  s{i}_t{} -> {to} [style=dashed, color=red, label={}];",
                        t + 1,
                        dot_str(&format!(
                            "{} {}",
                            if ch.kind == ChainKind::Dispatch {
                                "超时或拒绝"
                            } else {
                                "超时"
                            },
                            format_duration(tier.timeout_ms)
                        ))
                    );
                }
            }
            ChainKind::Responsibility => {
                for (t, tier) in ch.tiers.iter().enumerate() {
                    if t > 0 {
                        let _ = writeln!(
                            o,
                            "  s{i} -> s{i}_t{} [style=dotted, label=\"呼叫\"];",
                            t + 1
                        );
                    }
                    let _ = writeln!(
                        o,
                        "  s{i}_t{} -> s{i}_fb [style=dashed, color=red, label={}];",
                        t + 1,
                        dot_str(&format!("超时 {}", format_duration(tier.timeout_ms)))
                    );
                }
            }
        }
    }
    o.push_str("}\n");
    o
}

fn mm_str(s: &str) -> String {
    let body: String = s
        .chars()
        .map(|c| match c {
            '"' => "#quot;".to_string(),
            '\n' => "<br/>".to_string(),
            c => c.to_string(),
        })
        .collect();
    format!("\"{body}\"")
}

fn mm_node(s: &StepKind, label: &str) -> String {
    let l = mm_str(label);
    match s {
        StepKind::NotifyChain { .. } | StepKind::NotifyRole { .. } => format!("({l})"),
        StepKind::AwaitAck { .. } => format!("{{{{{l}}}}}"),
        StepKind::Measure { .. } => format!("[[{l}]]"),
        StepKind::DeclareResponse { .. } => format!("[({l})]"),
        StepKind::Branch { .. } => format!("{{{l}}}"),
        StepKind::Wait { .. } => format!("[/{l}/]"),
        StepKind::Close { .. } => format!("((({l})))"),
        StepKind::Parallel { .. } | StepKind::Join { .. } => format!("[{l}]"),
        StepKind::Check { .. } => format!("[/{l}\\]"),
        StepKind::StartPlan { .. } => format!("[[{l}]]"),
        StepKind::Supplies { .. } => format!("[[{l}]]"),
    }
}

/// Mermaid `flowchart TD`.
pub fn to_mermaid(set: &PlanSet, plan: &PlanDef) -> String {
    let g = PlanGraph::build(plan);
    let mut o = String::new();
    let _ = writeln!(o, "---\ntitle: {} 应急处置流程图\n---", plan.name);
    o.push_str("flowchart TD\n");
    let _ = writeln!(o, "  start>{}]", mm_str(&trigger_label(plan)));
    for (i, s) in plan.steps.iter().enumerate() {
        let _ = writeln!(o, "  s{i}{}", mm_node(&s.kind, &step_label(set, plan, s)));
    }
    for e in g.graph.edge_references() {
        let (Some(a), Some(b)) = (
            g.graph.node_weight(e.source()),
            g.graph.node_weight(e.target()),
        ) else {
            continue;
        };
        let w = e.weight();
        let label = w.label();
        let arrow = match (matches!(w, Edge::Timeout(_)), label.is_empty()) {
            _ if matches!(w, Edge::Fork) => format!("==>|{}|", mm_str(&label)),
            (true, _) => format!("-.->|{}|", mm_str(&label)),
            (false, true) => "-->".to_string(),
            (false, false) => format!("-->|{}|", mm_str(&label)),
        };
        let _ = writeln!(o, "  {} {arrow} {}", node_id(*a), node_id(*b));
    }
    for (r, steps) in response_boxes(plan) {
        let _ = writeln!(
            o,
            "  subgraph r{}[{}]",
            r.rank(),
            mm_str(&format!("{}级响应", r.roman()))
        );
        for i in steps {
            let _ = writeln!(o, "    s{i}");
        }
        o.push_str("  end\n");
        let _ = writeln!(
            o,
            "  style r{} fill:{},stroke:#999999",
            r.rank(),
            response_fill(r)
        );
    }
    for (i, ch) in chains_of(set, plan) {
        let kind = match ch.kind {
            ChainKind::Escalation => "叫应链",
            ChainKind::Responsibility => "责任人",
            ChainKind::Relay => "接力链",
            ChainKind::Dispatch => "就近派遣",
        };
        let _ = writeln!(
            o,
            "  subgraph c{i}[{}]",
            mm_str(&format!("{kind} {}", ch.name))
        );
        for (t, tier) in ch.tiers.iter().enumerate() {
            let _ = writeln!(
                o,
                "    s{i}_t{}[{}]",
                t + 1,
                mm_str(&format!(
                    "{}. {}<br/>限时 {}",
                    t + 1,
                    tier.role,
                    format_duration(tier.timeout_ms)
                ))
            );
        }
        let _ = writeln!(
            o,
            "    s{i}_fb{{{{{}}}}}",
            mm_str(&format!("未应答 → {}", ch.fallback.join("、")))
        );
        o.push_str("  end\n");
        let _ = writeln!(o, "  s{i} -.-|\"呼叫\"| s{i}_t1");
        for (t, tier) in ch.tiers.iter().enumerate() {
            if ch.kind == ChainKind::Relay && t + 1 < ch.tiers.len() {
                let _ = writeln!(o, "  s{i}_t{} -->|\"应答后转\"| s{i}_t{}", t + 1, t + 2);
            }
            let to = match ch.kind {
                ChainKind::Escalation | ChainKind::Dispatch if t + 1 < ch.tiers.len() => {
                    format!("s{i}_t{}", t + 2)
                }
                _ => format!("s{i}_fb"),
            };
            if ch.kind == ChainKind::Responsibility && t > 0 {
                let _ = writeln!(o, "  s{i} -.-|\"呼叫\"| s{i}_t{}", t + 1);
            }
            let _ = writeln!(
                o,
                "  s{i}_t{} -.->|{}| {to}",
                t + 1,
                mm_str(&format!(
                    "{} {}",
                    if ch.kind == ChainKind::Dispatch {
                        "超时或拒绝"
                    } else {
                        "超时"
                    },
                    format_duration(tier.timeout_ms)
                ))
            );
        }
    }
    o
}

/// A node of [`FlowGraph`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FlowNode {
    /// The step's id (`@start` for the triggers).
    pub id: String,
    /// The label the DOT and Mermaid charts draw (the step id, then what it does).
    pub label: String,
    /// The step kind's name (`notify`, `measures`, …; `start` for the triggers).
    pub kind: &'static str,
    /// The response level whose box the charts draw it in (`Ⅱ`), if any.
    pub response: Option<&'static str>,
}

/// An edge of [`FlowGraph`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FlowEdge {
    /// From (a node id).
    pub from: String,
    /// To (a node id).
    pub to: String,
    /// The label the charts draw (a guard, `否则`, `超时 5m`, `并行`; empty for `next`).
    pub label: String,
    /// `start`, `next`, `guard`, `else`, `done`, `timeout` or `fork`.
    pub kind: &'static str,
}

/// The 应急处置流程图 as data (nodes and edges), for a page to lay out
/// itself: the same graph and labels as [`to_dot`] and [`to_mermaid`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FlowGraph {
    /// The triggers' node first, then the steps in plan order.
    pub nodes: Vec<FlowNode>,
    /// The transitions.
    pub edges: Vec<FlowEdge>,
}

/// `plan` as a [`FlowGraph`].
pub fn to_graph(set: &PlanSet, plan: &PlanDef) -> FlowGraph {
    let g = PlanGraph::build(plan);
    let of = response_of(plan);
    let id = |n: Node| match n {
        Node::Start => "@start".to_string(),
        Node::Step(i) => plan
            .steps
            .get(usize::from(i))
            .map_or_else(|| node_id(n), |s| s.id.clone()),
    };
    let mut nodes = vec![FlowNode {
        id: "@start".into(),
        label: trigger_label(plan),
        kind: "start",
        response: None,
    }];
    for (i, s) in plan.steps.iter().enumerate() {
        nodes.push(FlowNode {
            id: s.id.clone(),
            label: step_label(set, plan, s),
            kind: s.kind.name(),
            response: of.get(i).copied().flatten().map(|r| r.roman()),
        });
    }
    let mut edges = Vec::new();
    for e in g.graph.edge_references() {
        let (Some(a), Some(b)) = (
            g.graph.node_weight(e.source()),
            g.graph.node_weight(e.target()),
        ) else {
            continue;
        };
        let w = e.weight();
        edges.push(FlowEdge {
            from: id(*a),
            to: id(*b),
            label: w.label(),
            kind: match w {
                Edge::Start => "start",
                Edge::Next => "next",
                Edge::Guard(_) => "guard",
                Edge::Else => "else",
                Edge::Done(_) => "done",
                Edge::Timeout(_) => "timeout",
                Edge::Fork => "fork",
            },
        });
    }
    FlowGraph { nodes, edges }
}
