//! The workflow IR: plans, responsibility chains and the roster, as plain data.
//!
//! Names are resolved to indices where the runtime needs speed (steps, chains);
//! people and roles stay as text because they are reported as text. Every
//! definition keeps where it was written (`at`: `file:line:col`) so outputs and
//! exports can point back to the source.

use crate::value::Level;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Index of a step inside its plan.
pub type StepIdx = u16;
/// Index of a chain in [`PlanSet::chains`].
pub type ChainIdx = u16;

/// Everything the workflow runtime runs: plans, chains and the roster.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PlanSet {
    /// The plans.
    pub plans: Vec<PlanDef>,
    /// Responsibility chains, referenced by [`StepKind::NotifyChain`].
    pub chains: Vec<ChainDef>,
    /// Who holds which role where.
    pub roster: Roster,
    /// Whether instances report every step they enter (`step_entered`
    /// outputs; `yingji run --trace`). Off by default; not part of the
    /// definitions (not written, so it changes no fingerprint).
    #[serde(skip)]
    pub trace: bool,
}

/// An emergency response level (应急响应), declared separately from warnings.
/// `None` is "no response declared"; `I` (Ⅰ) is the highest.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Response {
    /// No response declared.
    #[default]
    None = 0,
    /// Ⅳ级 (lowest).
    IV = 1,
    /// Ⅲ级.
    III = 2,
    /// Ⅱ级.
    II = 3,
    /// Ⅰ级 (highest).
    I = 4,
}

impl Response {
    /// Reads `IV`, `Ⅳ`, `四级`, `4` (and so on for the other levels).
    pub fn parse(s: &str) -> Option<Response> {
        Some(match s.trim() {
            "none" | "无" => Response::None,
            "IV" | "Ⅳ" | "四级" | "4" => Response::IV,
            "III" | "Ⅲ" | "三级" | "3" => Response::III,
            "II" | "Ⅱ" | "二级" | "2" => Response::II,
            "I" | "Ⅰ" | "一级" | "1" => Response::I,
            _ => return None,
        })
    }
    /// Rank from 0 (none) to 4 (Ⅰ).
    pub fn rank(self) -> u8 {
        self as u8
    }
    /// The level of a rank (out of range: `None`).
    pub fn from_rank(r: u8) -> Response {
        match r {
            1 => Response::IV,
            2 => Response::III,
            3 => Response::II,
            4 => Response::I,
            _ => Response::None,
        }
    }
    /// The Roman numeral as written in Chinese documents (`Ⅳ`), empty for none.
    pub fn roman(self) -> &'static str {
        match self {
            Response::None => "",
            Response::IV => "Ⅳ",
            Response::III => "Ⅲ",
            Response::II => "Ⅱ",
            Response::I => "Ⅰ",
        }
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Response::None => "none",
            Response::IV => "IV",
            Response::III => "III",
            Response::II => "II",
            Response::I => "I",
        })
    }
}

/// One emergency plan (预案): triggers, steps and their transitions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanDef {
    /// The plan's name (`县防汛应急预案`).
    pub name: String,
    /// Where it is defined.
    pub at: String,
    /// What starts an instance.
    pub triggers: Vec<Trigger>,
    /// The first step.
    pub start: StepIdx,
    /// Whether declared response levels may skip a level going up (Ⅳ → Ⅱ).
    pub allow_skip: bool,
    /// `scope: county`: one instance per root area of the roster (the county),
    /// started by the first township to reach the trigger; later townships
    /// join it (`area_joined`) and `level` is the highest over them.
    #[serde(default)]
    pub county: bool,
    /// The steps; transitions are stored on each step.
    pub steps: Vec<StepDef>,
}

/// What starts (or feeds) an instance of a plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Trigger {
    /// A signal reaching `min_level` or above in an area.
    Signal {
        /// The signal's name.
        signal: String,
        /// The lowest level that starts an instance.
        min_level: Level,
        /// How to find the area from a level change: the named field of the event
        /// that caused it, else the roster's station table, else the signal key.
        area_field: Option<String>,
    },
    /// A response level declared by another plan's instance in an area.
    Response {
        /// The plan whose declaration starts this one (any plan when `None`).
        plan: Option<String>,
        /// The lowest response level that starts an instance.
        min_level: Response,
    },
    /// A manual start: an event `{"kind":"plan_start","plan":<name>,"area":..}`.
    Manual,
    /// A date of the year (local time of the event stream): one instance per
    /// listed area starts when event time reaches it, every year (防汛三查
    /// from `04-01`). The first date considered is the first at or after the
    /// stream's first event.
    Calendar {
        /// As written (`04-01`, `04-01 08:00`).
        at: String,
        /// Month (1–12).
        month: u8,
        /// Day of the month.
        day: u8,
        /// Minutes after local midnight.
        minute: u16,
        /// The areas an instance starts in, in order.
        areas: Vec<String>,
    },
}

/// One step of a plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepDef {
    /// Its id, unique in the plan.
    pub id: String,
    /// Where it is written.
    pub at: String,
    /// What it does.
    pub kind: StepKind,
    /// The step that follows when this one completes (absent for branches and
    /// `close`, and for a last step).
    pub next: Option<StepIdx>,
}

impl StepKind {
    /// The kind's name as plans write it and `step_entered` reports it
    /// (`notify`, `await_ack`, `measures`, …).
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::NotifyChain { .. } | StepKind::NotifyRole { .. } => "notify",
            StepKind::AwaitAck { .. } => "await_ack",
            StepKind::Measure { .. } => "measures",
            StepKind::DeclareResponse { .. } => "declare_response",
            StepKind::Branch { .. } => "branch",
            StepKind::Wait { .. } => "wait",
            StepKind::Close { .. } => "close",
            StepKind::Parallel { .. } => "parallel",
            StepKind::Join { .. } => "join",
            StepKind::Check { .. } => "check",
            StepKind::StartPlan { .. } => "start_plan",
            StepKind::Supplies { .. } => "supplies",
        }
    }
}

/// What a step does.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum StepKind {
    /// Start a responsibility chain; it runs on its own (tiers, timeouts,
    /// escalation) while the plan goes on to `next`.
    NotifyChain {
        /// The chain.
        chain: ChainIdx,
    },
    /// Notify everyone holding a role in the instance's area (no waiting).
    NotifyRole {
        /// The role.
        role: String,
    },
    /// Wait until the calls of an earlier notify step are answered.
    AwaitAck {
        /// The notify step whose calls are awaited.
        of: StepIdx,
        /// How long to wait.
        timeout_ms: i64,
        /// Where to go when nobody answered in time (escalation edge).
        on_timeout: StepIdx,
    },
    /// Order measures (断路, 禁行, 停工停课, 撤离, 疏散) in an area.
    Measure {
        /// The measures, in order.
        measures: Vec<String>,
        /// Target area template; `{{area}}` (or `{{town}}`) is the instance's area.
        area: Option<String>,
    },
    /// Declare a response level.
    DeclareResponse {
        /// The level.
        level: Response,
    },
    /// Go to the first target whose condition holds, else to `otherwise`.
    Branch {
        /// Guarded transitions, in order.
        arms: Vec<(Cond, StepIdx)>,
        /// The transition when no guard holds.
        otherwise: StepIdx,
    },
    /// Wait for a duration, a condition or an event.
    Wait {
        /// What ends the wait.
        until: WaitFor,
        /// Give up after this long (escalation edge to `on_timeout`).
        timeout_ms: Option<i64>,
        /// Where to go on timeout (`next` when absent).
        on_timeout: Option<StepIdx>,
    },
    /// Close the instance, recording the closing verification.
    Close {
        /// The stages checked (预警, 响应, 反馈, 核实), in order.
        verify: Vec<Verify>,
    },
    /// Start branches that run concurrently (并行): each branch begins at
    /// its entry step and ends when it reaches `join`; the instance itself
    /// goes to `join` and waits there.
    Parallel {
        /// The entry step of each branch, in order (the order outputs of one
        /// instant follow).
        branches: Vec<StepIdx>,
        /// The join step the branches end at.
        join: StepIdx,
    },
    /// Open a check (排查, 巡查, 核查) that must be reported done (a
    /// `check_report` event naming it and the instance's area) within
    /// `due_ms`; the plan goes on at once. A check not reported by its
    /// deadline is a `check_overdue` output; a report is `check_done`.
    Check {
        /// The check's name (what reports carry in `check`).
        name: String,
        /// How long after the step the check is due.
        due_ms: i64,
    },
    /// Start another plan (三级预案: the county overall plan starting special
    /// plans and village plans): in the instance's own area, or in each
    /// village of it (`in: villages`: the areas named `…村` or `…社区` whose
    /// first parent is the instance's area, or for a county-scoped instance
    /// each affected township's). The plan goes on at once.
    StartPlan {
        /// The plan started.
        plan: String,
        /// In each village rather than in the instance's area.
        villages: bool,
    },
    /// Pre-position supplies (物资前置) from a table: one `supply` output per
    /// township and item, in the table's order. The plan goes on at once.
    Supplies {
        /// The table's name.
        table: String,
        /// Its rows, in order.
        rows: Vec<SupplyRow>,
    },
    /// Wait until all (or any) branches of a parallel step reached this step,
    /// then go on to `next`. With `any`, the branches still running stop.
    Join {
        /// Whether every branch must arrive (`all`) or one suffices (`any`).
        all: bool,
    },
}

/// One row of a supplies table: how much of an item goes to a township.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SupplyRow {
    /// The township.
    pub township: String,
    /// The item (帐篷, 棉被, 冲锋舟 …).
    pub item: String,
    /// How many.
    pub quantity: u64,
    /// Its unit, if the table gives one.
    pub unit: Option<String>,
}

/// What a `wait` step waits for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum WaitFor {
    /// A fixed time.
    Duration(i64),
    /// A condition becoming true (re-checked whenever the instance's state changes).
    Cond(Cond),
    /// An event of this kind for the instance's area.
    Event(String),
}

/// A stage of the closed loop 预警→响应→反馈→核实.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verify {
    /// 预警: the instance was started by a warning.
    Warning,
    /// 响应: a response level was declared.
    Response,
    /// 反馈: somebody answered a call.
    Feedback,
    /// 核实: the closing step itself.
    Verified,
}

impl Verify {
    /// Reads the Chinese stage name.
    pub fn parse(s: &str) -> Option<Verify> {
        Some(match s {
            "预警" => Verify::Warning,
            "响应" => Verify::Response,
            "反馈" => Verify::Feedback,
            "核实" => Verify::Verified,
            _ => return None,
        })
    }
    /// The Chinese stage name.
    pub fn name(self) -> &'static str {
        match self {
            Verify::Warning => "预警",
            Verify::Response => "响应",
            Verify::Feedback => "反馈",
            Verify::Verified => "核实",
        }
    }
}

/// A guard over the instance's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Cond {
    /// A constant.
    Const(bool),
    /// `a op b`.
    Cmp(Operand, CmpOp, Operand),
    /// The chain of a notify step was answered.
    Answered(StepIdx),
    /// The chain of a notify step ran out of tiers.
    Unanswered(StepIdx),
    /// All hold.
    And(Vec<Cond>),
    /// One holds.
    Or(Vec<Cond>),
    /// Does not hold.
    Not(Box<Cond>),
    /// The latest check a `check` step opened was reported done.
    CheckDone(StepIdx),
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// As written.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A value a guard compares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Operand {
    /// The highest level of the plan's trigger signals in the instance's area.
    Level,
    /// One signal's level in the instance's area.
    SignalLevel(String),
    /// The response level the instance has declared.
    Response,
    /// A field of the last event the instance consumed (manual start, awaited event).
    EventField(String),
    /// A warning level constant.
    LevelLit(Level),
    /// A response level constant.
    ResponseLit(Response),
    /// A number.
    Num(f64),
    /// Text.
    Str(String),
}

/// A responsibility chain (叫应链).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChainDef {
    /// Its name (`防汛叫应`).
    pub name: String,
    /// Where it is defined.
    pub at: String,
    /// How tiers are called.
    pub kind: ChainKind,
    /// The tiers, in calling order.
    pub tiers: Vec<TierDef>,
    /// Who is called when the last tier (or, for a responsibility chain, any tier)
    /// does not answer.
    pub fallback: Vec<String>,
}

/// How a chain calls its tiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainKind {
    /// 叫应: call tier 1; when it does not answer in time call tier 2 while tier 1
    /// stays pending; and so on. Answered when any called tier answers.
    Escalation,
    /// 四个责任人 (行政负责, 行业监管, 专业监管, 企业): every tier is called at once
    /// and each must answer within its own timeout; a tier that does not is
    /// reported to the fallback.
    Responsibility,
    /// 接力 (relay): tier 1 is called; its answer passes the call on to tier 2,
    /// and so on; the chain is answered when the last tier answers. A tier that
    /// does not answer within its timeout breaks the relay: the chain is
    /// unanswered and the fallback is called.
    Relay,
    /// 就近派遣 (four-tier rescue): the tiers are called one at a time,
    /// nearest first — by the fewest area links from the instance's area to
    /// the nearest holder of the tier's role (ties in the order written) —
    /// and the next is called when a tier declines (`"answer":"decline"`) or
    /// does not answer in time. Answered when a called tier accepts.
    Dispatch,
}

/// One tier of a chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TierDef {
    /// The role called (resolved through the roster for the instance's area).
    pub role: String,
    /// How long the tier has to answer.
    pub timeout_ms: i64,
    /// Whether every person of the tier must answer (otherwise one answer suffices).
    pub need_all: bool,
    /// `need: N`: at least this many of the tier's people must answer (capped
    /// at the number called). `None`: one (or all, with `need_all`).
    #[serde(default)]
    pub need_n: Option<u16>,
    /// `in: affected`: the role is called in each affected township of a
    /// county-scoped instance (and in each that joins while the tier is
    /// called), not in the instance's own area.
    #[serde(default)]
    pub per_affected: bool,
    /// Where it is written.
    pub at: String,
}

/// Who holds which role where.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Roster {
    /// Areas with their parent (`青龙镇` → `县`); roots have none.
    pub areas: Vec<AreaDef>,
    /// The people.
    pub people: Vec<Person>,
    /// Monitoring station → area, for signals keyed by station.
    pub stations: Vec<(String, String)>,
}

/// An area of the county's hierarchy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AreaDef {
    /// Its name.
    pub name: String,
    /// The enclosing area (the first listed: the administrative tree, which
    /// finds a county-scoped instance's county).
    pub parent: Option<String>,
    /// Further enclosing areas: an area may also lie in a catchment (流域)
    /// crossing townships, or a rescue region (区域救援中心). People of every
    /// enclosing area are found for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
}

/// A responsible person.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Person {
    /// Stable id that acks carry (`person`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Roles held.
    pub roles: Vec<String>,
    /// The area the person is responsible for.
    pub area: String,
    /// Contact channels (电话, 短信, 微信群, 广播, 敲门 ...), all used at once.
    pub channels: Vec<String>,
}
