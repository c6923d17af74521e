//! Outputs as a Chinese timeline for a duty officer, one line per output
//! (`yingji run --format text`, `yingji replay`, `yingji explain`, and the
//! timeline of `yingji serve`'s duty-officer screen: the one place these
//! words are written):
//!
//! ```text
//! 07-28 20:15  南溪镇    叫应  第2级 乡镇主要负责人 南溪镇镇长（示例）[NX01] 电话/短信/微信群，限 20:20 前应答
//! 07-28 20:17  南溪镇    应答  南溪镇镇长（示例）[NX01] 第2级，用时 2m，按时
//! ```
//!
//! Columns: time (month-day hour:minute, the event's own offset), township
//! (乡镇: the instance's area, or the gauge's township from the roster's
//! station table), what happened, and the details: who was called, who
//! answered and how long it took. A type without words of its own is shown
//! generically: its type name and its JSON.
//!
//! The one module of `output` that reads beyond the records: the roster of
//! a [`PlanSet`] (people's names, stations' townships).

use super::Output;
use crate::time::Timestamp;
use crate::value::Level;
use crate::workflow::ir::PlanSet;
use std::collections::HashMap;

/// Renders outputs as timeline lines.
pub struct Timeline {
    names: HashMap<String, String>,
    stations: HashMap<String, String>,
}

/// A warning level in Chinese (`红色`; `无预警` for none).
pub fn level_zh(l: Level) -> &'static str {
    match l {
        Level::None => "无预警",
        Level::Blue => "蓝色",
        Level::Yellow => "黄色",
        Level::Orange => "橙色",
        Level::Red => "红色",
    }
}

/// `07-28 20:15`: month-day hour:minute in the event's own offset.
pub fn time(ts: &Timestamp) -> String {
    let s = ts.to_string();
    // 2024-07-28T20:15:00+08:00 → 07-28 20:15
    match (s.get(5..10), s.get(11..16)) {
        (Some(d), Some(t)) => format!("{d} {t}"),
        _ => s,
    }
}

fn clock(ts: &Timestamp) -> String {
    let s = ts.to_string();
    s.get(11..16).map_or(s.clone(), str::to_string)
}

/// A reason as its JSON text (`not_called_yet`).
fn snake<T: serde::Serialize>(r: &T) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn reason_zh(r: &str) -> &str {
    match r {
        "not_called_yet" => "尚未呼叫到此人",
        "unknown_person" => "此人不在该呼叫中",
        "unknown_call" => "无此呼叫",
        "duplicate" => "重复应答",
        "closed" => "预案已结束",
        "ambiguous" => "此人有多个待答呼叫，未注明 ref",
        other => other,
    }
}

impl Timeline {
    /// A renderer that names people and townships from `plans`' roster.
    pub fn new(plans: &PlanSet) -> Timeline {
        Timeline {
            names: plans
                .roster
                .people
                .iter()
                .map(|p| (p.id.clone(), p.name.clone()))
                .collect(),
            stations: plans.roster.stations.iter().cloned().collect(),
        }
    }

    fn who(&self, id: &str) -> String {
        match self.names.get(id) {
            Some(n) => format!("{n}[{id}]"),
            None => format!("[{id}]"),
        }
    }

    fn town(&self, key: &str) -> String {
        self.stations
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_string())
    }

    fn people(&self, ids: &[std::sync::Arc<str>]) -> String {
        if ids.is_empty() {
            return "无".into();
        }
        ids.iter()
            .map(|p| self.who(p))
            .collect::<Vec<_>>()
            .join("、")
    }

    /// One line (no newline) for `o`.
    pub fn line(&self, o: &Output) -> String {
        let (area, what, detail) = self.parts(o);
        let ts = time(&o.ts());
        let pad = 8usize.saturating_sub(area.chars().count() * 2);
        format!("{ts}  {area}{}  {what}  {detail}", " ".repeat(pad))
    }

    /// The township column of `o`'s line (the instance's area, or the
    /// key's township from the roster's station table; empty when none).
    pub fn township(&self, o: &Output) -> String {
        self.parts(o).0
    }

    /// The township, what happened (with the plan's short name) and the
    /// details: the columns of [`Timeline::line`] after the time.
    pub fn parts(&self, o: &Output) -> (String, String, String) {
        let (area, what, detail): (String, &str, String) = match o {
            Output::LevelChanged(c) => (
                self.town(&c.key),
                "预警",
                format!(
                    "{} {} {}→{}（{}）",
                    c.signal,
                    c.key,
                    level_zh(c.from),
                    level_zh(c.to),
                    c.rule.as_deref().unwrap_or("解除")
                ),
            ),
            Output::Absence(a) => (
                self.town(&a.key),
                "失联",
                format!("{} {} 已 {} 无数据", a.signal, a.key, a.missing),
            ),
            Output::Recovered(r) => (
                self.town(&r.key),
                "恢复",
                format!("{} {} 恢复上报", r.signal, r.key),
            ),
            Output::TableMiss(m) => (
                self.town(&m.key),
                "缺表",
                format!("{} {} 不在表 {} 中，规则无法触发", m.signal, m.key, m.table),
            ),
            Output::Late(l) => (
                String::new(),
                "迟到",
                format!("{} 事件 第{}行", l.kind, l.event),
            ),
            Output::PlanStarted(p) => (
                p.head.area.to_string(),
                "启动",
                format!("{}（{}）", p.head.plan, p.trigger),
            ),
            Output::Notify(n) => (
                n.head.area.to_string(),
                "叫应",
                format!(
                    "{} {} {} {}{}",
                    if n.tier == 0 {
                        "兜底".to_string()
                    } else {
                        format!("第{}级", n.tier)
                    },
                    n.role,
                    self.who(&n.person),
                    n.channels
                        .iter()
                        .map(|c| c.as_ref())
                        .collect::<Vec<_>>()
                        .join("/"),
                    n.deadline
                        .map(|d| format!("，限 {} 前应答", clock(&d)))
                        .unwrap_or_default()
                ),
            ),
            Output::NotifyFailed(f) => (
                f.head.area.to_string(),
                "叫应失败",
                format!("第{}级 {} 无人可叫：{}", f.tier, f.role, f.message),
            ),
            Output::Escalated(e) => (
                e.head.area.to_string(),
                "升级",
                format!(
                    "第{}级 {} {}，转第{}级 {}；仍未应答：{}",
                    e.from_tier,
                    e.from_role,
                    match e.head.cause {
                        // a decline passed the call on (a timer did otherwise)
                        super::plan::Cause::Event(_) => "拒绝".to_string(),
                        _ => format!("{} 未应答", e.timeout),
                    },
                    e.to_tier,
                    e.to_role,
                    self.people(&e.pending)
                ),
            ),
            Output::Acked(a) => (
                a.head.area.to_string(),
                "应答",
                format!(
                    "{} {}，用时 {}，{}{}",
                    self.who(&a.person),
                    if a.tier == 0 {
                        "兜底".to_string()
                    } else {
                        format!("第{}级", a.tier)
                    },
                    a.after,
                    if a.in_time { "按时" } else { "超时" },
                    if a.answers_chain {
                        "（叫应完成）"
                    } else {
                        ""
                    }
                ),
            ),
            Output::AckRejected(r) => (
                String::new(),
                "应答无效",
                format!(
                    "{} {}：{}",
                    self.who(&r.person),
                    r.instance.as_deref().unwrap_or(""),
                    reason_zh(&snake(&r.reason))
                ),
            ),
            Output::Unanswered(u) => (
                u.head.area.to_string(),
                "无人应答",
                format!(
                    "{} {} 未应答，待答：{}；告知 {}",
                    u.chain,
                    u.roles
                        .iter()
                        .map(|r| r.as_ref())
                        .collect::<Vec<_>>()
                        .join("、"),
                    self.people(&u.pending),
                    u.fallback
                        .iter()
                        .map(|f| f.as_ref())
                        .collect::<Vec<_>>()
                        .join("、")
                ),
            ),
            Output::Measure(m) => (
                m.head.area.to_string(),
                "措施",
                format!("{} @ {}", m.measure, m.target),
            ),
            Output::ResponseDeclared(r) => (
                r.head.area.to_string(),
                "响应",
                format!(
                    "启动{}级响应（此前 {}，预警 {}）",
                    r.level.roman(),
                    if r.from.roman().is_empty() {
                        "无"
                    } else {
                        r.from.roman()
                    },
                    level_zh(r.warning)
                ),
            ),
            Output::TimedOut(t) => (
                t.head.area.to_string(),
                "超时",
                format!("{} 等待 {} 未果，转 {}", t.head.step, t.timeout, t.to),
            ),
            Output::PlanClosed(c) => (
                c.head.area.to_string(),
                "结束",
                format!(
                    "{}：{}{}",
                    if c.complete {
                        "闭环完整"
                    } else {
                        "闭环不完整"
                    },
                    c.verify
                        .iter()
                        .map(|s| format!("{}{}", s.stage, if s.at.is_some() { "✓" } else { "✗" }))
                        .collect::<Vec<_>>()
                        .join(" "),
                    if c.unanswered.is_empty() {
                        String::new()
                    } else {
                        format!("；始终未应答：{}", self.people(&c.unanswered))
                    }
                ),
            ),
            Output::PlanStartRejected(r) => (
                r.area.to_string(),
                "启动被拒",
                format!("{}：{}", r.plan, snake(&r.reason)),
            ),
            Output::EventRefused(e) => (
                e.area.as_deref().unwrap_or("").to_string(),
                "报告未用",
                format!("{}（{}）", e.kind, e.reason),
            ),
            Output::StepEntered(s) => (
                s.head.area.to_string(),
                "步骤",
                format!("{} → {}（{}）", s.head.instance, s.head.step, s.kind),
            ),
            Output::Joined(j) => (
                j.head.area.to_string(),
                "汇合",
                format!(
                    "{}（{}）：{}",
                    j.head.step,
                    if j.mode == "all" {
                        "全部完成"
                    } else {
                        "任一完成"
                    },
                    j.branches
                        .iter()
                        .map(|b| format!(
                            "{}{}",
                            b.branch,
                            match b.status {
                                "done" => "✓",
                                "stopped" => "（停止）",
                                _ => "✗",
                            }
                        ))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ),
            Output::CheckOverdue(c) => (
                c.head.area.to_string(),
                "逾期未报",
                format!("{}，限 {} 前报告完成", c.check, clock(&c.due)),
            ),
            Output::CheckDone(c) => (
                c.head.area.to_string(),
                "已报完成",
                format!(
                    "{}{}，用时 {}，{}",
                    c.check,
                    c.by.as_ref()
                        .map(|p| format!(" {}", self.who(p)))
                        .unwrap_or_default(),
                    c.after,
                    if c.in_time { "按时" } else { "逾期" }
                ),
            ),
            Output::Declined(d) => (
                d.head.area.to_string(),
                "拒绝",
                format!("{} 第{}级 {} 不能响应", self.who(&d.person), d.tier, d.role),
            ),
            Output::Supply(x) => (
                x.township.to_string(),
                "物资前置",
                format!(
                    "{} {}{}（{}）",
                    x.item,
                    x.quantity,
                    x.unit.as_deref().unwrap_or(""),
                    x.table
                ),
            ),
            other => (String::new(), other.type_name(), other.to_json()),
        };
        let plan = match o {
            Output::PlanStarted(x) => Some(&x.head.plan),
            Output::Notify(x) => Some(&x.head.plan),
            Output::NotifyFailed(x) => Some(&x.head.plan),
            Output::Escalated(x) => Some(&x.head.plan),
            Output::Acked(x) => Some(&x.head.plan),
            Output::Unanswered(x) => Some(&x.head.plan),
            Output::Measure(x) => Some(&x.head.plan),
            Output::ResponseDeclared(x) => Some(&x.head.plan),
            Output::TimedOut(x) => Some(&x.head.plan),
            Output::PlanClosed(x) => Some(&x.head.plan),
            Output::StepEntered(x) => Some(&x.head.plan),
            Output::Joined(x) => Some(&x.head.plan),
            Output::CheckOverdue(x) => Some(&x.head.plan),
            Output::CheckDone(x) => Some(&x.head.plan),
            Output::Declined(x) => Some(&x.head.plan),
            Output::Supply(x) => Some(&x.head.plan),
            _ => None,
        };
        let what = match plan {
            // 县防汛应急预案 → 【防汛】
            Some(p) => format!(
                "【{}】{what}",
                p.trim_start_matches('县')
                    .trim_end_matches("应急预案")
                    .trim_end_matches("预案")
            ),
            None => what.to_string(),
        };
        (area, what, detail)
    }
}
