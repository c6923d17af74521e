//! A plan compiled to a `petgraph` [`StableDiGraph`], and the structural
//! analyses validation needs: reachability, ways to close, cycles without a
//! waiting step, and response levels that skip a level.

use crate::time::format_duration;
use crate::workflow::ir::{CmpOp, Cond, Operand, PlanDef, Response, StepIdx, StepKind, WaitFor};
use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::{Bfs, EdgeRef, Reversed};

/// A node of a plan graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    /// Where instances begin (the triggers).
    Start,
    /// A step, by index in [`PlanDef::steps`].
    Step(StepIdx),
}

/// A transition.
#[derive(Clone, Debug, PartialEq)]
pub enum Edge {
    /// From the triggers to the first step.
    Start,
    /// The step completed.
    Next,
    /// A branch arm's guard held (its text).
    Guard(String),
    /// No branch arm held.
    Else,
    /// An awaited answer came, or a wait ended (what ended it).
    Done(String),
    /// Escalation: nothing happened within this many milliseconds.
    Timeout(i64),
    /// A parallel step starts a branch here.
    Fork,
}

impl Edge {
    /// The label drawn on the edge.
    pub fn label(&self) -> String {
        match self {
            Edge::Start | Edge::Next => String::new(),
            Edge::Guard(g) => g.clone(),
            Edge::Else => "否则".into(),
            Edge::Done(d) => d.clone(),
            Edge::Timeout(ms) => format!("超时 {}", format_duration(*ms)),
            Edge::Fork => "并行".into(),
        }
    }
}

/// A plan as a graph.
#[derive(Clone, Debug)]
pub struct PlanGraph {
    /// The graph.
    pub graph: StableDiGraph<Node, Edge>,
    /// The start node.
    pub start: NodeIndex,
    /// Node of each step, by step index.
    pub steps: Vec<NodeIndex>,
}

/// A guard as text, with step names resolved.
pub fn cond_text(plan: &PlanDef, c: &Cond) -> String {
    let step = |i: &StepIdx| {
        plan.steps
            .get(usize::from(*i))
            .map_or("?", |s| s.id.as_str())
    };
    match c {
        Cond::Const(b) => b.to_string(),
        Cond::Cmp(a, op, b) => format!("{} {} {}", operand_text(a), op.symbol(), operand_text(b)),
        Cond::Answered(i) => format!("answered({})", step(i)),
        Cond::Unanswered(i) => format!("unanswered({})", step(i)),
        Cond::CheckDone(i) => format!("done({})", step(i)),
        Cond::And(v) => v
            .iter()
            .map(|x| paren(plan, x))
            .collect::<Vec<_>>()
            .join(" and "),
        Cond::Or(v) => v
            .iter()
            .map(|x| paren(plan, x))
            .collect::<Vec<_>>()
            .join(" or "),
        Cond::Not(x) => format!("not {}", paren(plan, x)),
    }
}

fn paren(plan: &PlanDef, c: &Cond) -> String {
    match c {
        Cond::And(_) | Cond::Or(_) => format!("({})", cond_text(plan, c)),
        _ => cond_text(plan, c),
    }
}

fn operand_text(o: &Operand) -> String {
    match o {
        Operand::Level => "level".into(),
        Operand::SignalLevel(s) => s.clone(),
        Operand::Response => "response".into(),
        Operand::EventField(f) => format!("event.{f}"),
        Operand::LevelLit(l) => l.name().into(),
        Operand::ResponseLit(r) => r.to_string(),
        Operand::Num(n) => n.to_string(),
        Operand::Str(s) => format!("{s:?}"),
    }
}

/// The response levels (bit set over ranks 0..=4) under which `c` may hold;
/// conditions that do not test `response` allow every level.
pub fn response_mask(c: &Cond) -> u8 {
    const ALL: u8 = 0b1_1111;
    match c {
        Cond::Cmp(a, op, b) => {
            let (r, op) = match (a, b) {
                (Operand::Response, Operand::ResponseLit(r)) => (*r, *op),
                (Operand::ResponseLit(r), Operand::Response) => (
                    *r,
                    match op {
                        CmpOp::Lt => CmpOp::Gt,
                        CmpOp::Le => CmpOp::Ge,
                        CmpOp::Gt => CmpOp::Lt,
                        CmpOp::Ge => CmpOp::Le,
                        o => *o,
                    },
                ),
                _ => return ALL,
            };
            (0..=4u8)
                .filter(|&x| {
                    let y = r.rank();
                    match op {
                        CmpOp::Eq => x == y,
                        CmpOp::Ne => x != y,
                        CmpOp::Lt => x < y,
                        CmpOp::Le => x <= y,
                        CmpOp::Gt => x > y,
                        CmpOp::Ge => x >= y,
                    }
                })
                .fold(0, |m, x| m | (1 << x))
        }
        Cond::And(v) => v.iter().fold(ALL, |m, x| m & response_mask(x)),
        Cond::Or(v) => v.iter().fold(0, |m, x| m | response_mask(x)),
        Cond::Const(false) => 0,
        // `not` and everything else: no narrowing (sound over-approximation)
        _ => ALL,
    }
}

/// Whether a step can hold an instance while time passes (so a cycle through it
/// is not an endless loop).
pub fn waits(kind: &StepKind) -> bool {
    matches!(kind, StepKind::AwaitAck { .. } | StepKind::Wait { .. })
}

impl PlanGraph {
    /// Builds the graph; transitions to step indices out of range are left out
    /// (validation reports them before lowering).
    pub fn build(plan: &PlanDef) -> PlanGraph {
        let mut graph = StableDiGraph::new();
        let start = graph.add_node(Node::Start);
        let steps: Vec<NodeIndex> = (0..plan.steps.len())
            .map(|i| graph.add_node(Node::Step(i as StepIdx)))
            .collect();
        let node = |i: StepIdx| steps.get(usize::from(i)).copied();
        if let Some(n) = node(plan.start) {
            graph.add_edge(start, n, Edge::Start);
        }
        for (i, s) in plan.steps.iter().enumerate() {
            let Some(from) = steps.get(i).copied() else {
                continue;
            };
            let mut edges: Vec<(StepIdx, Edge)> = Vec::new();
            match &s.kind {
                StepKind::Branch { arms, otherwise } => {
                    for (c, to) in arms {
                        edges.push((*to, Edge::Guard(cond_text(plan, c))));
                    }
                    edges.push((*otherwise, Edge::Else));
                }
                StepKind::AwaitAck {
                    timeout_ms,
                    on_timeout,
                    ..
                } => {
                    if let Some(n) = s.next {
                        edges.push((n, Edge::Done("已应答".into())));
                    }
                    edges.push((*on_timeout, Edge::Timeout(*timeout_ms)));
                }
                StepKind::Wait {
                    until,
                    timeout_ms,
                    on_timeout,
                } => {
                    let done = match until {
                        WaitFor::Duration(ms) => format!("等待 {}", format_duration(*ms)),
                        WaitFor::Cond(c) => format!("直到 {}", cond_text(plan, c)),
                        WaitFor::Event(k) => format!("收到 {k}"),
                    };
                    if let Some(n) = s.next {
                        edges.push((n, Edge::Done(done)));
                    }
                    if let Some(ms) = timeout_ms {
                        if let Some(t) = on_timeout.or(s.next) {
                            edges.push((t, Edge::Timeout(*ms)));
                        }
                    }
                }
                StepKind::Close { .. } => {}
                StepKind::Parallel { branches, .. } => {
                    for b in branches {
                        edges.push((*b, Edge::Fork));
                    }
                }
                StepKind::Join { all } => {
                    if let Some(n) = s.next {
                        let done = if *all { "全部完成" } else { "任一完成" };
                        edges.push((n, Edge::Done(done.into())));
                    }
                }
                StepKind::NotifyChain { .. }
                | StepKind::Check { .. }
                | StepKind::StartPlan { .. }
                | StepKind::Supplies { .. }
                | StepKind::NotifyRole { .. }
                | StepKind::Measure { .. }
                | StepKind::DeclareResponse { .. } => {
                    if let Some(n) = s.next {
                        edges.push((n, Edge::Next));
                    }
                }
            }
            for (to, e) in edges {
                if let Some(t) = node(to) {
                    graph.add_edge(from, t, e);
                }
            }
        }
        PlanGraph {
            graph,
            start,
            steps,
        }
    }

    fn step_of(&self, n: NodeIndex) -> Option<StepIdx> {
        match self.graph.node_weight(n) {
            Some(Node::Step(i)) => Some(*i),
            _ => None,
        }
    }

    /// Steps no path from the start reaches, in step order.
    pub fn unreachable(&self) -> Vec<StepIdx> {
        let mut seen = vec![false; self.steps.len()];
        let mut bfs = Bfs::new(&self.graph, self.start);
        while let Some(n) = bfs.next(&self.graph) {
            if let Some(i) = self.step_of(n).and_then(|i| seen.get_mut(usize::from(i))) {
                *i = true;
            }
        }
        (0..self.steps.len())
            .filter(|&i| !seen.get(i).copied().unwrap_or(true))
            .map(|i| i as StepIdx)
            .collect()
    }

    /// Reachable steps from which no `close` step can be reached, in step order.
    pub fn cannot_close(&self, plan: &PlanDef) -> Vec<StepIdx> {
        let mut can = vec![false; self.steps.len()];
        let rev = Reversed(&self.graph);
        for (i, s) in plan.steps.iter().enumerate() {
            if !matches!(s.kind, StepKind::Close { .. }) {
                continue;
            }
            let Some(&n) = self.steps.get(i) else {
                continue;
            };
            let mut bfs = Bfs::new(rev, n);
            while let Some(m) = bfs.next(rev) {
                if let Some(c) = self.step_of(m).and_then(|j| can.get_mut(usize::from(j))) {
                    *c = true;
                }
            }
        }
        let unreachable = self.unreachable();
        (0..self.steps.len())
            .map(|i| i as StepIdx)
            .filter(|i| {
                !can.get(usize::from(*i)).copied().unwrap_or(true) && !unreachable.contains(i)
            })
            .collect()
    }

    /// Cycles in which no step waits (no timeout, no event, no time passing):
    /// an instance entering one would loop forever. Each is listed in step order.
    pub fn endless_cycles(&self, plan: &PlanDef) -> Vec<Vec<StepIdx>> {
        let mut found = Vec::new();
        for scc in tarjan_scc(&self.graph) {
            let cyclic = scc.len() > 1
                || scc.first().is_some_and(|&n| {
                    self.graph
                        .edges_directed(n, Direction::Outgoing)
                        .any(|e| e.target() == n)
                });
            if !cyclic {
                continue;
            }
            let mut steps: Vec<StepIdx> = scc.iter().filter_map(|&n| self.step_of(n)).collect();
            steps.sort_unstable();
            let has_wait = steps.iter().any(|i| {
                plan.steps
                    .get(usize::from(*i))
                    .is_some_and(|s| waits(&s.kind))
            });
            if !has_wait {
                found.push(steps);
            }
        }
        found.sort();
        found
    }

    /// `declare_response` steps that may raise the response level by more than
    /// one level at once (Ⅳ → Ⅱ, or none → Ⅲ) on some path from the start:
    /// `(step, level possibly in force before, level declared)`.
    pub fn response_skips(&self, plan: &PlanDef) -> Vec<(StepIdx, Response, Response)> {
        // possible levels in force on entry to each node, as a bit set over ranks 0..=4
        let n = self.steps.len();
        let mut entry = vec![0u8; n];
        let mut work: Vec<NodeIndex> = Vec::new();
        let bit = |r: Response| 1u8 << r.rank();
        let exit_of = |i: usize, set: u8| -> u8 {
            match plan.steps.get(i).map(|s| &s.kind) {
                Some(StepKind::DeclareResponse { level }) => bit(*level),
                _ => set,
            }
        };
        for e in self.graph.edges_directed(self.start, Direction::Outgoing) {
            if let Some(i) = self.step_of(e.target()) {
                if let Some(s) = entry.get_mut(usize::from(i)) {
                    *s |= bit(Response::None);
                    work.push(e.target());
                }
            }
        }
        while let Some(node) = work.pop() {
            let Some(i) = self.step_of(node) else {
                continue;
            };
            let out = exit_of(
                usize::from(i),
                entry.get(usize::from(i)).copied().unwrap_or(0),
            );
            let arms = match plan.steps.get(usize::from(i)).map(|s| &s.kind) {
                Some(StepKind::Branch { arms, .. }) => Some(arms),
                _ => None,
            };
            for e in self.graph.edges_directed(node, Direction::Outgoing) {
                // a guard that tests `response` narrows the levels along its arm
                let out = match (e.weight(), arms) {
                    (Edge::Guard(text), Some(arms)) => arms
                        .iter()
                        .find(|(c, t)| {
                            self.steps.get(usize::from(*t)) == Some(&e.target())
                                && cond_text(plan, c) == *text
                        })
                        .map_or(out, |(c, _)| out & response_mask(c)),
                    _ => out,
                };
                if let Some(j) = self.step_of(e.target()) {
                    if let Some(s) = entry.get_mut(usize::from(j)) {
                        if *s | out != *s {
                            *s |= out;
                            work.push(e.target());
                        }
                    }
                }
            }
        }
        let mut skips = Vec::new();
        for (i, s) in plan.steps.iter().enumerate() {
            let StepKind::DeclareResponse { level } = s.kind else {
                continue;
            };
            let set = entry.get(i).copied().unwrap_or(0);
            // report the lowest level from which the jump is made
            if let Some(prev) = (0..=4u8)
                .filter(|r| set & (1 << r) != 0)
                .find(|&r| level.rank() > r + 1)
            {
                skips.push((i as StepIdx, Response::from_rank(prev), level));
            }
        }
        skips
    }
}
