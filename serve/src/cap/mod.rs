//! CAP 1.2 (OASIS) / GB/T 35965.1-2018 warnings from level changes.
//!
//! Each `level_changed` output of a signal and key becomes one `<alert>`:
//!
//! | change | `msgType` | `references` |
//! |---|---|---|
//! | from no warning to a level (a raise) | `Alert` | none |
//! | from a level to another level (up or down) | `Update` | every earlier alert of this warning |
//! | to no warning (a clear) | `Cancel` | every earlier alert of this warning |
//!
//! A warning is the run of alerts of one signal and key from its `Alert`
//! to its `Cancel`; `references` lists them as `sender,identifier,sent`
//! triples separated by spaces. A clear with no earlier alert known (the
//! state was lost) gives no alert.
//!
//! - `identifier`: `ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N` (GB/T 35965.1): the
//!   area, organisation, unit and extension codes of the mapping, the sent
//!   time in Beijing time, and `N`, the alert's number within that second
//!   (from 1);
//! - `sent`: the change's event time in Beijing time, `+08:00`, whole seconds;
//! - `<info>` in `zh-CN`: `category`, `event`, `urgency`, `severity`,
//!   `certainty` and optional `responseType`/`instruction` per signal and
//!   level from the mapping ([`CapConfig`], defaults in [`SignalInfo`]), a
//!   Cancel with urgency `Past` and responseType `AllClear`; a headline and
//!   description in Chinese; parameters `level` (`red`…, `none` on a
//!   Cancel), `预警级别` (`Ⅰ级（红色）`…, `解除`), `signal`, `key`,
//!   `output_id`;
//! - `<area>`: `areaDesc` the key's township (or the county), `geocode`
//!   `GB/T 2260` with its code.

pub mod config;
pub mod rules;
pub mod xml;

pub use config::{CapConfig, IdParts, SignalInfo};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use yingji_engine::output::{LevelChange, Output};
use yingji_engine::time::Timestamp;
use yingji_engine::value::Level;

/// Beijing time.
const OFFSET_MIN: i16 = 8 * 60;

/// One sent alert, as `references` names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// `<sender>`.
    pub sender: String,
    /// `<identifier>`.
    pub identifier: String,
    /// `<sent>`.
    pub sent: String,
}

impl Sent {
    /// `sender,identifier,sent`.
    pub fn triple(&self) -> String {
        format!("{},{},{}", self.sender, self.identifier, self.sent)
    }
}

/// What the alerts so far need remembered: the open warnings' alerts and
/// the identifier's serial. Serialisable, so it can be checkpointed with
/// the engine's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapState {
    /// Open warnings (`signal`, `key`) → their alerts, oldest first.
    pub open: BTreeMap<String, Vec<Sent>>,
    /// The second (Unix time) of the last identifier, and its `N`.
    pub last: (i64, u32),
}

/// `Alert`, `Update` or `Cancel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MsgType {
    /// A new warning.
    Alert,
    /// A warning's level changed.
    Update,
    /// A warning ended.
    Cancel,
}

impl MsgType {
    /// As CAP writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            MsgType::Alert => "Alert",
            MsgType::Update => "Update",
            MsgType::Cancel => "Cancel",
        }
    }
}

/// One CAP alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapAlert {
    /// `<identifier>`.
    pub identifier: String,
    /// `<sender>`.
    pub sender: String,
    /// `<sent>`.
    pub sent: String,
    /// `<msgType>`.
    pub msg_type: MsgType,
    /// The alerts referenced (Update and Cancel).
    pub references: Vec<Sent>,
    /// The signal.
    pub signal: String,
    /// The key.
    pub key: String,
    /// The document.
    pub xml: String,
}

fn colour(l: Level) -> &'static str {
    match l {
        Level::Red => "红色",
        Level::Orange => "橙色",
        Level::Yellow => "黄色",
        Level::Blue => "蓝色",
        Level::None => "",
    }
}

fn grade(l: Level) -> &'static str {
    match l {
        Level::Red => "Ⅰ级（红色）",
        Level::Orange => "Ⅱ级（橙色）",
        Level::Yellow => "Ⅲ级（黄色）",
        Level::Blue => "Ⅳ级（蓝色）",
        Level::None => "解除",
    }
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Red => "red",
        Level::Orange => "orange",
        Level::Yellow => "yellow",
        Level::Blue => "blue",
        Level::None => "none",
    }
}

/// `ts` in Beijing time, whole seconds (`2024-07-29T04:50:00+08:00`).
pub fn beijing(ts: Timestamp) -> (String, i64) {
    let secs = ts.ms.div_euclid(1000);
    let t = Timestamp {
        ms: secs * 1000,
        offset_min: OFFSET_MIN,
    };
    (t.to_string(), secs)
}

fn values_text(c: &LevelChange) -> String {
    c.values
        .0
        .iter()
        .map(|(k, v)| {
            let v = serde_json::to_string(v).unwrap_or_default();
            format!("{k} = {v}")
        })
        .collect::<Vec<_>>()
        .join("，")
}

/// The CAP alert for an output: `Some` for a `level_changed` (see the
/// module documentation), `None` for every other output and for a clear
/// whose warning was never alerted.
pub fn alert(output: &Output, cfg: &CapConfig, state: &mut CapState) -> Option<CapAlert> {
    let Output::LevelChanged(c) = output else {
        return None;
    };
    let chain_key = format!("{}\u{1F}{}", c.signal, c.key);
    let earlier = state.open.get(&chain_key).cloned().unwrap_or_default();
    let msg_type = if c.to == Level::None {
        if earlier.is_empty() {
            return None;
        }
        MsgType::Cancel
    } else if earlier.is_empty() {
        MsgType::Alert
    } else {
        MsgType::Update
    };
    let (sent, secs) = beijing(c.ts);
    let n = if state.last.0 == secs {
        state.last.1 + 1
    } else {
        1
    };
    state.last = (secs, n);
    let id = &cfg.identifier;
    let stamp: String = sent[..19].chars().filter(char::is_ascii_digit).collect();
    let identifier = format!(
        "{}{}{}{}_{stamp}_{n}",
        id.area, id.organisation, id.unit, id.extension
    );
    let this = Sent {
        sender: cfg.sender.clone(),
        identifier: identifier.clone(),
        sent: sent.clone(),
    };
    match msg_type {
        MsgType::Cancel => {
            state.open.remove(&chain_key);
        }
        _ => state.open.entry(chain_key).or_default().push(this),
    }

    let info = cfg.signal(&c.signal);
    let shown = if msg_type == MsgType::Cancel {
        c.from
    } else {
        c.to
    };
    let event = info.event.clone().unwrap_or_else(|| c.signal.to_string());
    let (area, code) = cfg.area(&c.key);
    let when = &sent[..16].replace('T', " ");
    let headline = match msg_type {
        MsgType::Alert => format!("{area}{event}{}预警", colour(c.to)),
        MsgType::Update => format!(
            "{area}{event}预警由{}调整为{}",
            colour(c.from),
            colour(c.to)
        ),
        MsgType::Cancel => format!("{area}{event}{}预警解除", colour(c.from)),
    };
    let description = match (&c.rule, msg_type) {
        (Some(rule), MsgType::Alert | MsgType::Update) => format!(
            "{} 于 {when} 达到{}预警条件（{rule}）：{}。",
            c.key,
            colour(c.to),
            values_text(c)
        ),
        _ => format!(
            "{} 于 {when} {}（{}）：{}。",
            c.key,
            if c.to == Level::None {
                format!("解除{}预警", colour(c.from))
            } else {
                format!("由{}预警降为{}预警", colour(c.from), colour(c.to))
            },
            c.reason,
            values_text(c)
        ),
    };

    let mut w = xml::Writer::new();
    w.open(
        "alert",
        &[("xmlns", "urn:oasis:names:tc:emergency:cap:1.2")],
    );
    w.text("identifier", &identifier);
    w.text("sender", &cfg.sender);
    w.text("sent", &sent);
    w.text("status", &cfg.status);
    w.text("msgType", msg_type.as_str());
    w.text("scope", &cfg.scope);
    if let Some(r) = &cfg.restriction {
        w.text("restriction", r);
    }
    if let Some(a) = &cfg.addresses {
        w.text("addresses", a);
    }
    if !earlier.is_empty() {
        let refs: Vec<String> = earlier.iter().map(Sent::triple).collect();
        w.text("references", &refs.join(" "));
    }
    w.open("info", &[]);
    w.text("language", "zh-CN");
    w.text("category", &info.category);
    w.text("event", &event);
    if msg_type == MsgType::Cancel {
        w.text("responseType", "AllClear");
    } else if let Some(r) = info.response.get(&shown) {
        w.text("responseType", r);
    }
    w.text(
        "urgency",
        if msg_type == MsgType::Cancel {
            "Past"
        } else {
            &info.urgency
        },
    );
    w.text(
        "severity",
        info.severity.get(&shown).map_or("Unknown", String::as_str),
    );
    w.text("certainty", &info.certainty);
    if let Some(n) = &cfg.sender_name {
        w.text("senderName", n);
    }
    w.text("headline", &headline);
    w.text("description", &description);
    if msg_type != MsgType::Cancel {
        if let Some(i) = info.instruction.get(&c.to) {
            w.text("instruction", i);
        }
    }
    for (name, value) in [
        ("level", level_name(c.to).to_string()),
        ("预警级别", grade(c.to).to_string()),
        ("signal", c.signal.to_string()),
        ("key", c.key.to_string()),
        ("output_id", c.id.to_string()),
    ] {
        w.open("parameter", &[]);
        w.text("valueName", name);
        w.text("value", &value);
        w.close("parameter");
    }
    w.open("area", &[]);
    w.text("areaDesc", &area);
    w.open("geocode", &[]);
    w.text("valueName", "GB/T 2260");
    w.text("value", &code);
    w.close("geocode");
    w.close("area");
    w.close("info");
    w.close("alert");
    Some(CapAlert {
        identifier,
        sender: cfg.sender.clone(),
        sent,
        msg_type,
        references: earlier,
        signal: c.signal.to_string(),
        key: c.key.to_string(),
        xml: w.finish(),
    })
}

/// [`alert`]'s document only.
pub fn alert_xml(output: &Output, cfg: &CapConfig, state: &mut CapState) -> Option<String> {
    alert(output, cfg, state).map(|a| a.xml)
}
