//! Alert routing as policy: from the engine's warnings to messages for
//! people, with grouping, inhibition, silences, templates and rate limits.
//!
//! Pure logic over a clock given by the caller (ms since the epoch): the
//! service gives it the journaled wall-clock ticks and the outputs' times,
//! so a replay routes exactly as the live run did; the tests give it a fake
//! clock.
//!
//! **Alerts.** A `level_changed` to a level above `none` makes (or updates)
//! the alert `level/<signal>/<key>`; back to `none` resolves it. An
//! `absence` makes `absence/<signal>/<key>`; `recovered` resolves it. Each
//! alert has labels: `type` (`level` or `absence`), `signal`, `key` (also
//! as `station`), `township` (the roster's station table, else the key) and
//! `level` (`absence` alerts: `offline`).
//!
//! **Groups** (`group_by`, default `[township]`): a new group is sent
//! `group_wait` after its first alert; later changes at most every
//! `group_interval`; an unchanged group with alerts is sent again every
//! `repeat_interval`. A group whose alerts all resolved is sent once more
//! (the all-clear) and forgotten.
//!
//! **Inhibition**: an alert matching a rule's `target` is not shown while an
//! active alert matching its `source` has the same values of the `equal`
//! labels (a red suppresses the yellow of the same township; a station
//! offline suppresses its "no data").
//!
//! **Silences**: alerts matching every matcher of a silence are not shown
//! between its `starts` and `ends`, and, for a recurring silence
//! (maintenance window), only on its days between `from` and `to` (local
//! time at the configured offset; a window past midnight ends the next day).
//!
//! **Templates** per channel; `sms` texts are measured in UCS-2 characters
//! (Chinese text): one message holds 70, a long message 67 per segment up
//! to `max_segments` (default 1). A longer text is cut to fit and ends in
//! `…`, and the message says `truncated: true` (nothing is silently lost:
//! the full alert list is in the message's `alerts`).
//!
//! **Rate limits** per recipient: at most `max` messages per `per`; a
//! message over the limit is still written (for the record) with
//! `status: rate_limited` and is not to be sent.

use crate::config::Millis;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};

/// The routing policy.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Labels that make a group (default `[township]`).
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    /// Wait before sending a new group (default `30s`).
    #[serde(default = "default_group_wait")]
    pub group_wait: Millis,
    /// Least time between two messages of a group that changed (default `5m`).
    #[serde(default = "default_group_interval")]
    pub group_interval: Millis,
    /// Resend an unchanged group after this long (default `4h`).
    #[serde(default = "default_repeat")]
    pub repeat_interval: Millis,
    /// Inhibition rules.
    #[serde(default)]
    pub inhibit: Vec<InhibitRule>,
    /// Who gets messages.
    #[serde(default)]
    pub receivers: Vec<Receiver>,
    /// Message templates by channel (`sms`, `app`, …).
    #[serde(default)]
    pub templates: BTreeMap<String, Template>,
    /// Per-recipient rate limit.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// UTC offset of local time for recurring silences and texts (default 480).
    #[serde(default = "default_offset")]
    pub utc_offset_min: i16,
}

impl Default for RouteConfig {
    fn default() -> Self {
        RouteConfig {
            group_by: default_group_by(),
            group_wait: default_group_wait(),
            group_interval: default_group_interval(),
            repeat_interval: default_repeat(),
            inhibit: Vec::new(),
            receivers: Vec::new(),
            templates: BTreeMap::new(),
            rate_limit: None,
            utc_offset_min: default_offset(),
        }
    }
}

fn default_group_by() -> Vec<String> {
    vec!["township".into()]
}
fn default_group_wait() -> Millis {
    Millis(30_000)
}
fn default_group_interval() -> Millis {
    Millis(300_000)
}
fn default_repeat() -> Millis {
    Millis(4 * 3_600_000)
}
fn default_offset() -> i16 {
    480
}

/// Label matchers: every label named must have the value given.
pub type Matchers = BTreeMap<String, String>;

/// An inhibition rule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRule {
    /// What suppresses.
    pub source: Matchers,
    /// What is suppressed.
    pub target: Matchers,
    /// Labels both must share.
    #[serde(default)]
    pub equal: Vec<String>,
}

/// A recipient.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    /// Name (in messages).
    pub name: String,
    /// Channel (`sms`, …): selects the template.
    pub channel: String,
    /// Address (a phone number, a user id).
    pub to: String,
    /// Groups this receiver gets (matched on the labels all the group's
    /// alerts share, e.g. `township`); all when empty.
    #[serde(default)]
    pub matchers: Matchers,
}

/// A message template.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The text; `{township}`, `{signal}`, `{level}`, `{count}`,
    /// `{alerts}`, `{status}` are replaced.
    pub text: String,
    /// SMS segments allowed (default 1: 70 characters).
    #[serde(default = "one")]
    pub max_segments: u32,
}

fn one() -> u32 {
    1
}

/// A per-recipient rate limit.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Messages allowed …
    pub max: u32,
    /// … per this long.
    pub per: Millis,
}

/// A recurring window (maintenance).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recurring {
    /// Days (`mon` … `sun`); every day when empty.
    #[serde(default)]
    pub days: Vec<String>,
    /// Local start, `HH:MM`.
    pub from: String,
    /// Local end, `HH:MM` (earlier than `from`: the next day).
    pub to: String,
}

/// A silence as given by a file or `POST /silences`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceSpec {
    /// Alerts to silence (`station`, `township`, `signal`, `level`, …).
    pub matchers: Matchers,
    /// Start (RFC 3339 with offset); now when missing.
    #[serde(default)]
    pub starts: Option<String>,
    /// End (RFC 3339 with offset).
    pub ends: String,
    /// A recurring window within `starts`..`ends`.
    #[serde(default)]
    pub recurring: Option<Recurring>,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// Who.
    #[serde(default)]
    pub created_by: String,
}

/// A stored silence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// `silence-N`.
    pub id: String,
    /// Matchers.
    pub matchers: Matchers,
    /// Start, ms.
    pub starts_ms: i64,
    /// End, ms.
    pub ends_ms: i64,
    /// Recurring window.
    #[serde(default)]
    pub recurring: Option<Recurring>,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// Who.
    #[serde(default)]
    pub created_by: String,
}

/// One alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Labels.
    pub labels: Matchers,
    /// Still active.
    pub active: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Group {
    labels: Matchers,
    first_ms: i64,
    last_sent_ms: Option<i64>,
    /// Alert fingerprint → level at the last message.
    last_sent: BTreeMap<String, String>,
}

/// The routing state (in the checkpoint).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RouterState {
    alerts: BTreeMap<String, Alert>,
    groups: BTreeMap<String, Group>,
    silences: Vec<Silence>,
    next_msg: u64,
    next_silence: u64,
    sent: BTreeMap<String, VecDeque<i64>>,
    now: i64,
}

/// One alert in a message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertLine {
    /// Signal.
    pub signal: String,
    /// Key (station).
    pub key: String,
    /// Level (or `offline`).
    pub level: String,
}

/// `route_message`: a message for one receiver.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouteMessage {
    /// `route-N`.
    pub id: String,
    /// Always `route_message`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When (RFC 3339).
    pub ts: String,
    /// The group's labels.
    pub group: Matchers,
    /// Receiver.
    pub receiver: String,
    /// Channel.
    pub channel: String,
    /// Address.
    pub to: String,
    /// The text.
    pub text: String,
    /// SMS segments the text takes.
    pub segments: u32,
    /// Whether the text was cut to fit.
    pub truncated: bool,
    /// `send`, or `rate_limited` (written, not to be sent).
    pub status: &'static str,
    /// `firing` or `resolved` (every alert of the group cleared).
    pub state: &'static str,
    /// The alerts shown.
    pub alerts: Vec<AlertLine>,
}

/// The router.
pub struct Router {
    cfg: RouteConfig,
    st: RouterState,
}

fn matches(m: &Matchers, labels: &Matchers) -> bool {
    m.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn level_zh(l: &str) -> &str {
    match l {
        "red" => "红色",
        "orange" => "橙色",
        "yellow" => "黄色",
        "blue" => "蓝色",
        "offline" => "离线",
        other => other,
    }
}

fn level_rank(l: &str) -> u8 {
    match l {
        "red" => 4,
        "orange" => 3,
        "yellow" => 2,
        "blue" => 1,
        _ => 0,
    }
}

/// Parses `HH:MM` into minutes of the day.
fn hhmm(s: &str) -> Result<i64, String> {
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not HH:MM"))?;
    let h: i64 = h.parse().map_err(|_| format!("`{s}` is not HH:MM"))?;
    let m: i64 = m.parse().map_err(|_| format!("`{s}` is not HH:MM"))?;
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return Err(format!("`{s}` is not a time of day"));
    }
    Ok(h * 60 + m)
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Fits `text` in `max_segments` UCS-2 SMS segments: (text, segments, truncated).
pub fn fit_sms(text: &str, max_segments: u32) -> (String, u32, bool) {
    let n = text.chars().count();
    let segs = |n: usize| -> u32 { if n <= 70 { 1 } else { n.div_ceil(67) as u32 } };
    let max = max_segments.max(1);
    let limit = if max == 1 { 70 } else { 67 * max as usize };
    if n <= limit {
        return (text.to_string(), segs(n), false);
    }
    let mut cut: String = text.chars().take(limit - 1).collect();
    cut.push('…');
    (cut, segs(limit), true)
}

impl Router {
    /// A router with `cfg`, resuming `state`.
    pub fn new(cfg: RouteConfig, state: RouterState) -> Router {
        Router { cfg, st: state }
    }

    /// The state, for the checkpoint.
    pub fn state(&self) -> RouterState {
        self.st.clone()
    }

    /// The silences.
    pub fn silences(&self) -> &[Silence] {
        &self.st.silences
    }

    /// Checks a silence and gives it an id (not yet added).
    pub fn make_silence(&mut self, spec: SilenceSpec, now: i64) -> Result<Silence, String> {
        let starts = match &spec.starts {
            Some(s) => {
                yingji_engine::Timestamp::parse(s)
                    .map_err(|e| format!("starts: {e}"))?
                    .ms
            }
            None => now,
        };
        let ends = yingji_engine::Timestamp::parse(&spec.ends)
            .map_err(|e| format!("ends: {e}"))?
            .ms;
        if ends <= starts {
            return Err(format!(
                "ends ({}) is not after starts ({}): a silence must end after it starts",
                spec.ends,
                spec.starts.as_deref().unwrap_or("now")
            ));
        }
        if spec.matchers.is_empty() {
            return Err(
                "matchers is empty: a silence must name what it silences (station, township, signal, …)"
                    .into(),
            );
        }
        if let Some(r) = &spec.recurring {
            hhmm(&r.from).map_err(|e| format!("recurring.from: {e}"))?;
            hhmm(&r.to).map_err(|e| format!("recurring.to: {e}"))?;
            for d in &r.days {
                if !DAYS.contains(&d.as_str()) {
                    return Err(format!(
                        "recurring.days: `{d}` is not a day (mon, tue, wed, thu, fri, sat, sun)"
                    ));
                }
            }
        }
        self.st.next_silence += 1;
        Ok(Silence {
            id: format!("silence-{}", self.st.next_silence),
            matchers: spec.matchers,
            starts_ms: starts,
            ends_ms: ends,
            recurring: spec.recurring,
            comment: spec.comment,
            created_by: spec.created_by,
        })
    }

    /// Whether a silence like `spec` (same matchers, end, window and
    /// comment) is held already: the configuration's silences are given
    /// again at every start.
    pub fn has_silence_like(&self, spec: &SilenceSpec) -> bool {
        let ends = yingji_engine::Timestamp::parse(&spec.ends)
            .map(|t| t.ms)
            .ok();
        self.st.silences.iter().any(|s| {
            s.matchers == spec.matchers
                && Some(s.ends_ms) == ends
                && s.recurring == spec.recurring
                && s.comment == spec.comment
        })
    }

    /// Adds a silence made by [`Router::make_silence`] (or journaled).
    pub fn add_silence(&mut self, s: Silence) -> Result<(), String> {
        if self.st.silences.iter().any(|x| x.id == s.id) {
            return Ok(());
        }
        if let Some(n) =
            s.id.strip_prefix("silence-")
                .and_then(|n| n.parse::<u64>().ok())
        {
            self.st.next_silence = self.st.next_silence.max(n);
        }
        self.st.silences.push(s);
        Ok(())
    }

    fn silenced(&self, labels: &Matchers, now: i64) -> bool {
        let off = i64::from(self.cfg.utc_offset_min) * 60_000;
        self.st.silences.iter().any(|s| {
            if now < s.starts_ms || now >= s.ends_ms || !matches(&s.matchers, labels) {
                return false;
            }
            let Some(r) = &s.recurring else { return true };
            let (Ok(from), Ok(to)) = (hhmm(&r.from), hhmm(&r.to)) else {
                return false;
            };
            let local = now + off;
            let day = local.div_euclid(86_400_000);
            let minute = local.rem_euclid(86_400_000) / 60_000;
            // 1970-01-01 was a Thursday
            let weekday = |d: i64| DAYS[((d + 3).rem_euclid(7)) as usize];
            let day_ok = |d: i64| r.days.is_empty() || r.days.iter().any(|x| x == weekday(d));
            if from <= to {
                day_ok(day) && minute >= from && minute < to
            } else {
                (day_ok(day) && minute >= from) || (day_ok(day - 1) && minute < to)
            }
        })
    }

    fn inhibited(&self, labels: &Matchers) -> bool {
        self.cfg.inhibit.iter().any(|rule| {
            matches(&rule.target, labels)
                && self.st.alerts.values().any(|a| {
                    a.active
                        && a.labels != *labels
                        && matches(&rule.source, &a.labels)
                        && rule.equal.iter().all(|k| a.labels.get(k) == labels.get(k))
                })
        })
    }

    fn group_key(&self, labels: &Matchers) -> (String, Matchers) {
        let mut g = Matchers::new();
        for k in &self.cfg.group_by {
            g.insert(k.clone(), labels.get(k).cloned().unwrap_or_default());
        }
        let key = g
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        (key, g)
    }

    /// Applies one engine output (its JSON); `area` is the township of its
    /// key, when known. Returns the messages due by the output's time.
    pub fn on_output(&mut self, o: &Value, area: Option<&str>) -> Vec<RouteMessage> {
        let get = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let kind = get("type");
        let (ty, level, active) = match kind.as_str() {
            "level_changed" => {
                let to = get("to");
                ("level", to.clone(), to != "none")
            }
            "absence" => ("absence", "offline".to_string(), true),
            "recovered" => ("absence", "offline".to_string(), false),
            _ => return Vec::new(),
        };
        let t = o
            .get("ts")
            .and_then(Value::as_str)
            .and_then(|t| yingji_engine::Timestamp::parse(t).ok())
            .map_or(self.st.now, |t| t.ms);
        self.st.now = self.st.now.max(t);
        let (signal, key) = (get("signal"), get("key"));
        let fp = format!("{ty}/{signal}/{key}");
        let mut labels = Matchers::new();
        labels.insert("type".into(), ty.into());
        labels.insert("signal".into(), signal);
        labels.insert("key".into(), key.clone());
        labels.insert("station".into(), key.clone());
        labels.insert("township".into(), area.map_or(key.clone(), str::to_string));
        labels.insert("level".into(), level);
        if active {
            self.st.alerts.insert(fp, Alert { labels, active });
        } else if let Some(a) = self.st.alerts.get_mut(&fp) {
            a.active = false;
        } else {
            return Vec::new();
        }
        let labels = self.st.alerts.get(&fp_of(o, ty)).map(|a| a.labels.clone());
        if let Some(labels) = labels {
            let (gk, gl) = self.group_key(&labels);
            let now = self.st.now;
            self.st.groups.entry(gk).or_insert_with(|| Group {
                labels: gl,
                first_ms: now,
                ..Group::default()
            });
        }
        let now = self.st.now;
        self.tick(now)
    }

    /// Moves the router's clock to `now` (never back) and returns the
    /// messages due.
    pub fn tick(&mut self, now: i64) -> Vec<RouteMessage> {
        self.st.now = self.st.now.max(now);
        let now = self.st.now;
        let keys: Vec<String> = self.st.groups.keys().cloned().collect();
        let mut out = Vec::new();
        for gk in keys {
            self.flush_group(&gk, now, &mut out);
        }
        // resolved alerts no group shows any more are forgotten
        let groups = &self.st.groups;
        let cfg_group_by = &self.cfg.group_by;
        self.st.alerts.retain(|fp, a| {
            a.active || {
                let mut g = Matchers::new();
                for k in cfg_group_by {
                    g.insert(k.clone(), a.labels.get(k).cloned().unwrap_or_default());
                }
                groups
                    .values()
                    .any(|gr| gr.labels == g && gr.last_sent.contains_key(fp))
            }
        });
        out
    }

    fn flush_group(&mut self, gk: &str, now: i64, out: &mut Vec<RouteMessage>) {
        let Some(g) = self.st.groups.get(gk).cloned() else {
            return;
        };
        let members: Vec<(String, Alert)> = self
            .st
            .alerts
            .iter()
            .filter(|(_, a)| self.group_key(&a.labels).0 == gk)
            .map(|(k, a)| (k.clone(), a.clone()))
            .collect();
        let shown: BTreeMap<String, String> = members
            .iter()
            .filter(|(_, a)| {
                a.active && !self.inhibited(&a.labels) && !self.silenced(&a.labels, now)
            })
            .map(|(k, a)| {
                (
                    k.clone(),
                    a.labels.get("level").cloned().unwrap_or_default(),
                )
            })
            .collect();
        let due = match g.last_sent_ms {
            None => !shown.is_empty() && now >= g.first_ms + self.cfg.group_wait.0,
            Some(last) => {
                (shown != g.last_sent && now >= last + self.cfg.group_interval.0)
                    || (!shown.is_empty() && now >= last + self.cfg.repeat_interval.0)
            }
        };
        if !due {
            if g.last_sent_ms.is_none() && shown.is_empty() && members.iter().all(|m| !m.1.active) {
                self.st.groups.remove(gk);
            }
            return;
        }
        let state = if shown.is_empty() {
            "resolved"
        } else {
            "firing"
        };
        let lines: Vec<AlertLine> = members
            .iter()
            .filter(|(k, _)| shown.contains_key(k))
            .map(|(_, a)| AlertLine {
                signal: a.labels.get("signal").cloned().unwrap_or_default(),
                key: a.labels.get("key").cloned().unwrap_or_default(),
                level: a.labels.get("level").cloned().unwrap_or_default(),
            })
            .collect();
        // receivers match the labels every alert of the group shares
        let mut common = g.labels.clone();
        if let Some((_, first)) = members.first() {
            for (k, v) in &first.labels {
                if members.iter().all(|(_, a)| a.labels.get(k) == Some(v)) {
                    common.insert(k.clone(), v.clone());
                }
            }
        }
        self.messages(&g.labels, &common, &lines, state, now, out);
        if shown.is_empty() {
            self.st.groups.remove(gk);
        } else if let Some(g) = self.st.groups.get_mut(gk) {
            g.last_sent_ms = Some(now);
            g.last_sent = shown;
        }
    }

    fn messages(
        &mut self,
        group: &Matchers,
        common: &Matchers,
        lines: &[AlertLine],
        state: &'static str,
        now: i64,
        out: &mut Vec<RouteMessage>,
    ) {
        let top = lines
            .iter()
            .max_by_key(|l| level_rank(&l.level))
            .map(|l| (l.signal.clone(), l.level.clone()))
            .unwrap_or_default();
        let township = common.get("township").cloned().unwrap_or_default();
        let alerts_text = lines
            .iter()
            .map(|l| format!("{}{}{}", l.key, l.signal, level_zh(&l.level)))
            .collect::<Vec<_>>()
            .join("、");
        let status_text = if state == "resolved" {
            "解除"
        } else {
            "发布"
        };
        let receivers: Vec<Receiver> = self
            .cfg
            .receivers
            .iter()
            .filter(|r| matches(&r.matchers, common))
            .cloned()
            .collect();
        for r in receivers {
            let tpl = self.cfg.templates.get(&r.channel);
            let raw = tpl.map_or(
                "【应急】{township}{signal}{level}预警{status}：{alerts}",
                |t| t.text.as_str(),
            );
            let text = raw
                .replace("{township}", &township)
                .replace("{signal}", &top.0)
                .replace("{level}", level_zh(&top.1))
                .replace("{count}", &lines.len().to_string())
                .replace("{alerts}", &alerts_text)
                .replace("{status}", status_text);
            let (text, segments, truncated) = if r.channel == "sms" {
                fit_sms(&text, tpl.map_or(1, |t| t.max_segments))
            } else {
                (text, 1, false)
            };
            let mut status = "send";
            if let Some(rl) = &self.cfg.rate_limit {
                let q = self.st.sent.entry(r.to.clone()).or_default();
                while q.front().is_some_and(|&t| t <= now - rl.per.0) {
                    q.pop_front();
                }
                if q.len() >= rl.max as usize {
                    status = "rate_limited";
                } else {
                    q.push_back(now);
                }
            }
            self.st.next_msg += 1;
            out.push(RouteMessage {
                id: format!("route-{}", self.st.next_msg),
                kind: "route_message",
                ts: yingji_engine::Timestamp {
                    ms: now,
                    offset_min: self.cfg.utc_offset_min,
                }
                .to_string(),
                group: group.clone(),
                receiver: r.name.clone(),
                channel: r.channel.clone(),
                to: r.to.clone(),
                text,
                segments,
                truncated,
                status,
                state,
                alerts: lines.to_vec(),
            });
        }
    }
}

fn fp_of(o: &Value, ty: &str) -> String {
    let get = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("");
    format!("{ty}/{}/{}", get("signal"), get("key"))
}

#[cfg(test)]
mod tests;
