//! Payloads of the plan runtime's [`Output`](super::Output) variants
//! (see [`crate::workflow`]).
//!
//! Every record says which instance and step it concerns, what caused it (an
//! input event, a timer, a signal's level change, another plan) and when.

use super::closed;
use crate::time::Timestamp;
use crate::value::Level;
use crate::workflow::ir::Response;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What made something happen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// An input event, by position (line) in the input.
    Event(u64),
    /// A timer that came due: what it waited for and when it was due.
    Timer {
        /// What the timer was for (`叫应 tier 1 (县防汛负责人) 5m`).
        what: Arc<str>,
        /// When it was due.
        due: Timestamp,
    },
    /// A signal's level change.
    Level {
        /// The signal.
        signal: Arc<str>,
        /// Its key (station).
        key: Arc<str>,
        /// The input event behind the change.
        event: u64,
    },
    /// A response level another instance declared.
    Plan {
        /// That instance.
        instance: Arc<str>,
    },
}

/// Fields every instance-bound record carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Head {
    /// The output's id: deterministic (the same in every run of the same
    /// input and definitions), unique within a run, so a sink can
    /// deduplicate; `0` (not written) until the engine numbers it.
    #[serde(default, skip_serializing_if = "crate::id::unset")]
    pub id: u64,

    /// Event time.
    pub ts: Timestamp,
    /// The plan.
    pub plan: Arc<str>,
    /// The instance (`县防汛应急预案@青龙镇#1`).
    pub instance: Arc<str>,
    /// The instance's area.
    pub area: Arc<str>,
    /// The step concerned.
    pub step: Arc<str>,
    /// Why.
    pub cause: Cause,
}

/// `plan_started`: an instance began.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanStarted {
    /// Common fields (`step` is the first step).
    #[serde(flatten)]
    pub head: Head,
    /// The trigger that fired, as text.
    pub trigger: Arc<str>,
    /// The warning level at the start (`none` for manual starts).
    pub level: Level,
}

/// `notify`: a person is called.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notify {
    /// Common fields.
    #[serde(flatten)]
    pub head: Head,
    /// The chain, when the call is part of one.
    pub chain: Option<Arc<str>>,
    /// 1-based tier; 0 for a plain role notification or the chain's fallback.
    pub tier: u16,
    /// The role the person is called as.
    pub role: Arc<str>,
    /// The person's id (what an ack carries).
    pub person: Arc<str>,
    /// The person's name.
    pub name: Arc<str>,
    /// Channels used at once.
    pub channels: Vec<Arc<str>>,
    /// The call reference an ack should carry.
    #[serde(rename = "ref")]
    pub call_ref: Arc<str>,
    /// When the tier times out (none when no answer is awaited).
    pub deadline: Option<Timestamp>,
}

/// `escalated`: a tier did not answer in time, the next is called.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Escalated {
    /// Common fields.
    #[serde(flatten)]
    pub head: Head,
    /// The chain.
    pub chain: Arc<str>,
    /// The tier that timed out (1-based).
    pub from_tier: u16,
    /// Its role.
    pub from_role: Arc<str>,
    /// The tier now called (1-based; 0 means the fallback).
    pub to_tier: u16,
    /// Its role (or the fallback roles).
    pub to_role: Arc<str>,
    /// The timeout that passed (`5m`).
    pub timeout: String,
    /// Who of the timed-out tier has still not answered (they stay pending).
    pub pending: Vec<Arc<str>>,
}

/// `acked`: a call was answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Acked {
    /// Common fields.
    #[serde(flatten)]
    pub head: Head,
    /// Who answered.
    pub person: Arc<str>,
    /// The call.
    #[serde(rename = "ref")]
    pub call_ref: Arc<str>,
    /// The person's tier (1-based; 0 for role notifications and fallback).
    pub tier: u16,
    /// Time from the call to the answer (`3m`).
    pub after: String,
    /// Whether the answer came by the tier's deadline (an ack at exactly the
    /// deadline is in time).
    pub in_time: bool,
    /// Whether this answer made the chain answered.
    pub answers_chain: bool,
}

/// Why an ack changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckReject {
    /// No call has this reference (or the ack has no reference and the person
    /// has no open call).
    UnknownCall,
    /// The call exists but this person was not called by it.
    UnknownPerson,
    /// The person already answered this call.
    Duplicate,
    /// The instance has closed.
    Closed,
    /// No reference, and the person has several open calls.
    Ambiguous,
    /// The person is in a tier of an open chain that has not been called yet
    /// (the ack is earlier than its call).
    NotCalledYet,
}

/// `ack_rejected`: an ack that changed nothing, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AckRejected {
    /// The output's id: deterministic (the same in every run of the same
    /// input and definitions), unique within a run, so a sink can
    /// deduplicate; `0` (not written) until the engine numbers it.
    #[serde(default, skip_serializing_if = "crate::id::unset")]
    pub id: u64,

    /// Event time of the ack.
    pub ts: Timestamp,
    /// The instance, when the reference names one.
    pub instance: Option<Arc<str>>,
    /// The step, when the reference names one.
    pub step: Option<Arc<str>>,
    /// Who sent it.
    pub person: Arc<str>,
    /// The reference it carried.
    #[serde(rename = "ref")]
    pub call_ref: Option<Arc<str>>,
    /// Why it was rejected.
    pub reason: AckReject,
    /// The ack event.
    pub cause: Cause,
}

/// `unanswered`: a chain ran out of tiers (or a responsibility tier timed out).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unanswered {
    /// Common fields.
    #[serde(flatten)]
    pub head: Head,
    /// The chain.
    pub chain: Arc<str>,
    /// The roles that did not answer.
    pub roles: Vec<Arc<str>>,
    /// Everyone still pending, each person once.
    pub pending: Vec<Arc<str>>,
    /// Who is told (the fallback roles).
    pub fallback: Vec<Arc<str>>,
}

/// `measure`: a measure is ordered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    /// Common fields.
    #[serde(flatten)]
    pub head: Head,
    /// The measure (`撤离`).
    pub measure: Arc<str>,
    /// Where.
    pub target: Arc<str>,
    /// The response level in force.
    pub response: Response,
    /// The warning level in the area.
    pub level: Level,
}

/// `response_declared`: a response level is declared (up or down).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResponseDeclared {
    /// Common fields.
    #[serde(flatten)]
    pub head: Head,
    /// The new level.
    pub level: Response,
    /// The level before.
    pub from: Response,
    /// The warning level in the area.
    pub warning: Level,
}

/// `timed_out`: an `await_ack` or `wait` step gave up (an escalation edge).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimedOut {
    /// Common fields.
    #[serde(flatten)]
    pub head: Head,
    /// The timeout (`15m`).
    pub timeout: String,
    /// The step gone to.
    pub to: Arc<str>,
}

/// One stage of the closing verification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifyStage {
    /// 预警, 响应, 反馈 or 核实 ([`closed::VERIFY_STAGES`]).
    #[serde(deserialize_with = "closed::verify_stage")]
    pub stage: closed::Word,
    /// When it was reached (`null`: never).
    pub at: Option<Timestamp>,
    /// `done` or `missing` ([`closed::VERIFY_STATUSES`]).
    #[serde(deserialize_with = "closed::verify_status")]
    pub status: closed::Word,
    /// The input line of the event that satisfied it (预警: the reading that
    /// raised the warning; 响应: the event behind the declaration; 反馈: the
    /// first ack; 核实: the verification event a `wait: { event: .. }` step
    /// received); `null` when missing or when a timer did it.
    pub event: Option<u64>,
    /// What satisfied it, as text (`暴雨预警 orange (YY-003)`, `ack NX01`,
    /// `灾情核实`), or why it is missing.
    pub by: Arc<str>,
}

/// `notify_failed`: a call that reaches nobody (no person in the roster holds
/// the role in the instance's area, above it or below it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotifyFailed {
    /// Common fields (`area` is the area nobody was found for).
    #[serde(flatten)]
    pub head: Head,
    /// The chain, when the call is part of one.
    pub chain: Option<Arc<str>>,
    /// 1-based tier; 0 for a role notification or the chain's fallback.
    pub tier: u16,
    /// The role nobody holds there.
    pub role: Arc<str>,
    /// Why (`area_not_in_roster` or `no_holder`: [`closed::NOTIFY_FAILURES`]).
    #[serde(deserialize_with = "closed::notify_failure")]
    pub why: closed::Word,
    /// The same in words.
    pub message: Arc<str>,
}

/// Why a `plan_start` event started nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartReject {
    /// No plan has this name.
    UnknownPlan,
    /// The roster lists areas and this is not one of them.
    UnknownArea,
    /// The plan has no `manual` trigger.
    NotManual,
    /// An instance of the plan is already open in the area.
    AlreadyOpen,
}

/// `plan_start_rejected`: a manual start refused, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanStartRejected {
    /// The output's id (see [`Head::id`]).
    #[serde(default, skip_serializing_if = "crate::id::unset")]
    pub id: u64,
    /// Event time of the `plan_start`.
    pub ts: Timestamp,
    /// The plan it named.
    pub plan: Arc<str>,
    /// The area it named.
    pub area: Arc<str>,
    /// Why nothing started.
    pub reason: StartReject,
    /// The open instance (`already_open`).
    pub instance: Option<Arc<str>>,
    /// The known plans (`unknown_plan`), for the operator.
    pub known: Vec<Arc<str>>,
    /// The `plan_start` event.
    pub cause: Cause,
}

/// An open instance and the step it is at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceAt {
    /// The instance.
    pub instance: Arc<str>,
    /// Its current step.
    pub step: Arc<str>,
}

/// `event_refused`: an event of a kind a `wait` step awaits (a verification
/// report, 灾情核实) that no instance was waiting for. It is not kept: an
/// early report does not count when its step is reached later.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRefused {
    /// The output's id (see [`Head::id`]).
    #[serde(default, skip_serializing_if = "crate::id::unset")]
    pub id: u64,
    /// Event time.
    pub ts: Timestamp,
    /// Its kind.
    pub kind: Arc<str>,
    /// Its `area` field (`null`: none, so every area was looked at).
    pub area: Option<Arc<str>>,
    /// `no_open_instance` (no instance of a plan awaiting this kind is open
    /// there) or `not_awaited` (instances are open but not at a step awaiting it).
    /// (One of [`closed::REFUSALS`].)
    #[serde(deserialize_with = "closed::refusal")]
    pub reason: closed::Word,
    /// The open instances of plans that await this kind, and where they are.
    pub open: Vec<InstanceAt>,
    /// The event.
    pub cause: Cause,
}

/// `step_entered`: an instance entered a step (only with tracing on:
/// `yingji run --trace`, or `PlanSet::trace`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepEntered {
    /// Common fields (`step` is the step entered).
    #[serde(flatten)]
    pub head: Head,
    /// The step's kind (`notify`, `await_ack`, `measures`, `declare_response`,
    /// `branch`, `wait`, `close`: [`closed::STEP_KINDS`]).
    #[serde(deserialize_with = "closed::step_kind")]
    pub kind: closed::Word,
}

/// `plan_closed`: an instance ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanClosed {
    /// Common fields.
    #[serde(flatten)]
    pub head: Head,
    /// The closed loop 预警→响应→反馈→核实 as far as it was reached.
    pub verify: Vec<VerifyStage>,
    /// Whether every stage was reached.
    pub complete: bool,
    /// Calls still unanswered at closing.
    pub unanswered: Vec<Arc<str>>,
}

/// `area_joined`: a township reached the trigger of a county-scoped plan
/// whose instance is already open; it joins the instance (its people are
/// called for the tiers marked `in: affected` already called).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AreaJoined {
    /// Common fields (`area` is the county).
    #[serde(flatten)]
    pub head: Head,
    /// The township that joined.
    pub joined: Arc<str>,
    /// Every affected township now, in the order they joined.
    pub affected: Vec<Arc<str>>,
}
