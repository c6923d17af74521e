//! The YAML shape of plans, chains and rosters, with source locations.
//!
//! One document may hold a plan (`plan:`), chains (`chains:`) and a roster
//! (`roster:`), or any of them; names are global across files.
//!
//! ```yaml
//! plan: 县防汛应急预案
//! response: { skip_levels: false }
//! triggers:
//!   - { signal: 暴雨预警, level: blue, area: town }
//!   - { manual: true }
//! steps:
//!   - id: 叫应
//!     notify: chain/防汛叫应
//!   - id: 研判
//!     branch:
//!       - { when: "level >= red", goto: 二级响应 }
//!       - { else: 四级响应 }
//!   # ...
//! chains:
//!   防汛叫应:
//!     - { tier: 县防汛负责人, timeout: 5m }
//!     - { tier: 村防汛责任人, timeout: 10m, fallback: [县应急值班室] }
//! ```

use super::OrderedMap;
use serde::Deserialize;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// A string with its place.
pub type S = Spanned<String>;

/// One plan YAML document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanDoc {
    /// The plan's name.
    #[serde(default)]
    pub plan: Option<S>,
    /// What the plan is for (free text).
    #[serde(default)]
    pub description: Option<S>,
    /// Response-level rules.
    #[serde(default)]
    pub response: Option<ResponseRules>,
    /// `scope: county`: one instance for the whole county, whose affected
    /// townships grow as more of them reach the trigger (default `township`).
    #[serde(default)]
    pub scope: Option<S>,
    /// What starts an instance.
    #[serde(default)]
    pub triggers: Option<Spanned<Vec<Spanned<TriggerYaml>>>>,
    /// The first step (default: the first listed).
    #[serde(default)]
    pub start: Option<S>,
    /// The steps.
    #[serde(default)]
    pub steps: Option<Spanned<Vec<Spanned<StepYaml>>>>,
    /// Responsibility chains by name.
    #[serde(default)]
    pub chains: Option<OrderedMap<Spanned<ChainYaml>>>,
    /// The roster's name.
    #[serde(default)]
    pub roster: Option<S>,
    /// Areas and their sub-areas: `县: [青龙镇, 白马镇]`.
    #[serde(default)]
    pub areas: Option<OrderedMap<Vec<S>>>,
    /// Responsible persons.
    #[serde(default)]
    pub people: Option<Vec<Spanned<PersonYaml>>>,
    /// Monitoring station → area.
    #[serde(default)]
    pub stations: Option<OrderedMap<S>>,
    /// A supplies table's name (物资前置表).
    #[serde(default)]
    pub supplies: Option<S>,
    /// The table's units per item: `{ 帐篷: 顶 }`.
    #[serde(default)]
    pub units: Option<OrderedMap<S>>,
    /// The table's rows: township → item → quantity.
    #[serde(default)]
    pub townships: Option<OrderedMap<OrderedMap<Spanned<u64>>>>,
}

/// `response: { skip_levels: false }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseRules {
    /// Whether a declaration may raise the level by more than one step.
    pub skip_levels: Spanned<bool>,
}

/// One trigger.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerYaml {
    /// A signal reaching `level` …
    #[serde(default)]
    pub signal: Option<S>,
    /// … (warning level for signals, response level for `response`).
    #[serde(default)]
    pub level: Option<S>,
    /// The event field naming the area (`town`).
    #[serde(default)]
    pub area: Option<S>,
    /// Another plan declaring a response level (`any` for every plan).
    #[serde(default)]
    pub response: Option<S>,
    /// A manual start (`plan_start` event).
    #[serde(default)]
    pub manual: Option<Spanned<bool>>,
    /// A date of every year, local time: `"04-01"` or `"04-01 08:00"`.
    #[serde(default)]
    pub calendar: Option<S>,
    /// The areas a calendar trigger starts an instance in.
    #[serde(default)]
    pub areas: Option<Spanned<Vec<S>>>,
}

/// One step: `id`, exactly one kind key, and transitions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepYaml {
    /// The step's id.
    pub id: S,
    /// `chain/<name>` or `role/<name>`.
    #[serde(default)]
    pub notify: Option<S>,
    /// Wait for answers to an earlier notify step.
    #[serde(default)]
    pub await_ack: Option<AwaitYaml>,
    /// Measures to order.
    #[serde(default)]
    pub measures: Option<Spanned<Vec<S>>>,
    /// Target area of the measures (`"{{town}}"`).
    #[serde(default)]
    pub area: Option<S>,
    /// A response level (Ⅳ–Ⅰ).
    #[serde(default)]
    pub declare_response: Option<S>,
    /// Guarded transitions.
    #[serde(default)]
    pub branch: Option<Spanned<Vec<Spanned<ArmYaml>>>>,
    /// `if: <guard>` with `then: <step>` and optional `else: <step>` (default:
    /// the step that follows): a branch with one arm.
    #[serde(default, rename = "if")]
    pub if_: Option<S>,
    /// Where `if` goes when its guard holds.
    #[serde(default)]
    pub then: Option<S>,
    /// Where `if` goes otherwise.
    #[serde(default, rename = "else")]
    pub else_: Option<S>,
    /// Wait for time, a condition or an event.
    #[serde(default)]
    pub wait: Option<Spanned<WaitYaml>>,
    /// Close with the verification stages.
    #[serde(default)]
    pub close: Option<Spanned<CloseYaml>>,
    /// Start branches that run at the same time:
    /// `parallel: { branches: [叫应, 部门会商], join: 汇合 }`.
    #[serde(default)]
    pub parallel: Option<Spanned<ParallelYaml>>,
    /// `check: { name: 汛前排查, due: 30d }`: open a check that must be
    /// reported done (`check_report`) within `due`; the plan goes on at once.
    #[serde(default)]
    pub check: Option<Spanned<CheckYaml>>,
    /// `start_plan: { plan: 村级防汛预案, in: villages }`: start another plan
    /// here (or in each village of the area); the plan goes on at once.
    #[serde(default)]
    pub start_plan: Option<Spanned<StartPlanYaml>>,
    /// `supplies: 物资前置表`: pre-position the table's supplies.
    #[serde(default)]
    pub supplies: Option<S>,
    /// `join: all | any`: where the branches of a parallel step end; the
    /// instance goes on when all (or any) of them arrived.
    #[serde(default)]
    pub join: Option<S>,
    /// The step after this one (default: the next listed).
    #[serde(default)]
    pub next: Option<S>,
    /// Free text.
    #[serde(default)]
    pub note: Option<S>,
}

/// `await_ack: { of: 叫应, timeout: 15m, on_timeout: 三级响应 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwaitYaml {
    /// The notify step.
    pub of: S,
    /// How long.
    pub timeout: S,
    /// Where to go when nobody answers.
    pub on_timeout: S,
}

/// A branch arm: `{ when: "...", goto: X }` or `{ else: X }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmYaml {
    /// The guard.
    #[serde(default)]
    pub when: Option<S>,
    /// The target when it holds.
    #[serde(default)]
    pub goto: Option<S>,
    /// The target when no arm holds.
    #[serde(default, rename = "else")]
    pub otherwise: Option<S>,
}

/// `wait: { for: 30m }`, `{ until: "level < blue", timeout: 6h, on_timeout: X }`, `{ event: 灾情反馈 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitYaml {
    /// A duration.
    #[serde(default, rename = "for")]
    pub duration: Option<S>,
    /// A condition.
    #[serde(default)]
    pub until: Option<S>,
    /// An event kind.
    #[serde(default)]
    pub event: Option<S>,
    /// Give up after.
    #[serde(default)]
    pub timeout: Option<S>,
    /// Where to go on timeout.
    #[serde(default)]
    pub on_timeout: Option<S>,
}

/// `start_plan: { plan: 村级防汛预案, in: villages }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartPlanYaml {
    /// The plan started.
    pub plan: S,
    /// `villages`: in each village of the instance's area (default: the area).
    #[serde(default, rename = "in")]
    pub in_: Option<S>,
}

/// `check: { name: 汛前排查, due: 30d }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckYaml {
    /// The check's name (default: the step's id).
    #[serde(default)]
    pub name: Option<S>,
    /// How long after the step it is due.
    pub due: S,
}

/// `parallel: { branches: [A, B], join: 汇合 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParallelYaml {
    /// The entry step of each branch.
    pub branches: Spanned<Vec<S>>,
    /// The `join` step the branches end at.
    pub join: S,
}

/// `close: { verify: [预警, 响应, 反馈, 核实] }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseYaml {
    /// The stages checked.
    #[serde(default)]
    pub verify: Vec<S>,
}

/// One tier: `{ tier: 县防汛负责人, timeout: 5m, need: all, fallback: 县应急值班室 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierYaml {
    /// The role.
    pub tier: S,
    /// How long it has to answer.
    pub timeout: S,
    /// `any` (default) or `all`.
    #[serde(default)]
    pub need: Option<S>,
    /// `in: affected`: in a county-scoped plan, call the role in each affected
    /// township (and in each township that joins later), not in the county.
    #[serde(default, rename = "in")]
    pub in_: Option<S>,
    /// Who is called when this (last) tier does not answer: `[县应急值班室]`.
    #[serde(default)]
    pub fallback: Option<Spanned<Vec<S>>>,
}

/// A chain: a list of tiers, or `{ kind: responsibility, tiers: [...] }`.
#[derive(Debug)]
pub struct ChainYaml {
    /// `escalation` (default) or `responsibility`.
    pub kind: Option<S>,
    /// The tiers.
    pub tiers: Vec<Spanned<TierYaml>>,
}

impl<'de> Deserialize<'de> for ChainYaml {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ChainYaml;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of tiers, or a mapping with `kind` and `tiers`")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<ChainYaml, A::Error> {
                let mut tiers = Vec::new();
                while let Some(t) = a.next_element()? {
                    tiers.push(t);
                }
                Ok(ChainYaml { kind: None, tiers })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<ChainYaml, A::Error> {
                let mut kind = None;
                let mut tiers = None;
                while let Some(k) = m.next_key::<String>()? {
                    match k.as_str() {
                        "kind" => kind = Some(m.next_value()?),
                        "tiers" => tiers = Some(m.next_value()?),
                        other => {
                            return Err(serde::de::Error::unknown_field(other, &["kind", "tiers"]));
                        }
                    }
                }
                let tiers = tiers.ok_or_else(|| serde::de::Error::missing_field("tiers"))?;
                Ok(ChainYaml { kind, tiers })
            }
        }
        d.deserialize_any(V)
    }
}

/// A responsible person.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonYaml {
    /// Stable id (what acks carry).
    pub id: S,
    /// Name.
    pub name: S,
    /// One role …
    #[serde(default)]
    pub role: Option<S>,
    /// … or several.
    #[serde(default)]
    pub roles: Vec<S>,
    /// The area the person answers for.
    pub area: S,
    /// Contact channels.
    #[serde(default)]
    pub channels: Vec<S>,
    /// Phone number (kept for the roster; not used by the engine).
    #[serde(default)]
    pub phone: Option<S>,
    /// The person's post (职务), free text.
    #[serde(default)]
    pub post: Option<S>,
}

/// The top-level keys that make a YAML document a plan document.
pub const PLAN_KEYS: [&str; 6] = ["plan", "chains", "roster", "people", "areas", "supplies"];

/// Whether a YAML text is a plan, chain, roster or supplies-table document
/// (its top-level mapping has `plan`, `chains`, `roster`, `people`, `areas`
/// or `supplies`).
pub fn is_plan_yaml(text: &str) -> bool {
    super::top_keys(text)
        .iter()
        .any(|k| PLAN_KEYS.contains(&k.as_str()))
}
