//! The station table: which gauge is which key of the policies, in which
//! township, and which element feeds which event field. A report becomes
//! JSONL event lines the engine reads.
//!
//! ```yaml
//! key_field: station          # the event field that carries the key (default `station`)
//! town_field: town            # the event field that carries the township (default `town`)
//! elements:                   # element → kind.field, for every station
//!   "20": rain.mm             # PJ 当前降水量
//!   "39": river_level.level_m # Z 瞬时河道水位
//! stations:
//!   "0050023501": { key: YY-001, town: 双江街道 }
//!   "0050023511": { key: YY-H01, town: 双江街道, elements: { "39": river_level.level_m } }
//! ```
//!
//! Station addresses are 10 digits (quote them: YAML reads `0050023501`
//! unquoted as a number). A station's own `elements` replace the defaults.
//! Elements not in the map are decoded but not sent. The readings of one
//! report with the same time and kind make one event; an element mapped to
//! a field already filled for that time and kind with another value is a
//! conflict: the first value is kept and the conflict reported (the same
//! value twice, such as F5's last level and Z, is one reading).

use super::body::{ElementId, Report};
use super::frame::StationAddr;
use super::yaml::{Entries, YamlError, parse};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::HashMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableDoc {
    #[serde(default)]
    key_field: Option<String>,
    #[serde(default)]
    town_field: Option<String>,
    #[serde(default)]
    elements: Option<Entries<Spanned<String>>>,
    stations: Entries<StationDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StationDoc {
    key: String,
    #[serde(default)]
    town: Option<String>,
    #[serde(default)]
    elements: Option<Entries<Spanned<String>>>,
}

/// Where an element goes: an event kind and one of its fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The event kind (`rain`).
    pub kind: String,
    /// The numeric field (`mm`).
    pub field: String,
}

/// One station of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Station {
    /// The policies' key (`YY-001`).
    pub key: String,
    /// The township (乡镇/街道), if given.
    pub town: Option<String>,
    /// Element → target.
    pub elements: Vec<(ElementId, Target)>,
}

/// The station table.
#[derive(Clone, Debug, Default)]
pub struct StationTable {
    /// The event field that carries the key.
    pub key_field: String,
    /// The event field that carries the township.
    pub town_field: String,
    stations: HashMap<StationAddr, Station>,
}

/// The event lines of one report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Events {
    /// JSONL lines, in time order.
    pub lines: Vec<String>,
    /// Readings left out because their field was already filled
    /// (`element F4 at 2024-…: rain.mm already set by element 20`).
    pub conflicts: Vec<String>,
}

fn elements(
    file: &str,
    m: &Entries<Spanned<String>>,
) -> Result<Vec<(ElementId, Target)>, YamlError> {
    let mut out: Vec<(ElementId, Target)> = Vec::new();
    for (k, v) in &m.0 {
        let id = ElementId::parse(&k.value).ok_or_else(|| {
            YamlError::at(
                file,
                k.referenced,
                format!(
                    "`{}` is not an element identifier (two hex digits like `20`, `F4`, or `FF` and two more)",
                    k.value
                ),
            )
        })?;
        if out.iter().any(|(i, _)| *i == id) {
            return Err(YamlError::at(
                file,
                k.referenced,
                format!("element `{}` is mapped twice", k.value),
            ));
        }
        let (kind, field) = v
            .value
            .split_once('.')
            .filter(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains('.'))
            .ok_or_else(|| {
                YamlError::at(
                    file,
                    v.referenced,
                    format!("`{}` is not `kind.field` (e.g. `rain.mm`)", v.value),
                )
            })?;
        out.push((
            id,
            Target {
                kind: kind.to_string(),
                field: field.to_string(),
            },
        ));
    }
    Ok(out)
}

/// The fields of one (time, kind) of a report.
type Group<'a> = (
    yingji_engine::time::Timestamp,
    &'a str,
    Vec<(&'a str, f64, ElementId)>,
);

impl StationTable {
    /// Reads a table from YAML text (`file` names it in errors).
    pub fn from_yaml(text: &str, file: &str) -> Result<StationTable, YamlError> {
        let doc: TableDoc = parse(text, file)?;
        let defaults = match &doc.elements {
            Some(m) => elements(file, m)?,
            None => Vec::new(),
        };
        let mut stations = HashMap::new();
        for (k, s) in doc.stations.0 {
            let addr = StationAddr::parse(&k.value).ok_or_else(|| {
                YamlError::at(
                    file,
                    k.referenced,
                    format!(
                        "`{}` is not a station address (10 digits, quoted: \"0050023501\")",
                        k.value
                    ),
                )
            })?;
            let els = match &s.elements {
                Some(m) => elements(file, m)?,
                None => defaults.clone(),
            };
            let station = Station {
                key: s.key,
                town: s.town,
                elements: els,
            };
            if stations.insert(addr, station).is_some() {
                return Err(YamlError::at(
                    file,
                    k.referenced,
                    format!("station `{}` is listed twice", k.value),
                ));
            }
        }
        Ok(StationTable {
            key_field: doc.key_field.unwrap_or_else(|| "station".into()),
            town_field: doc.town_field.unwrap_or_else(|| "town".into()),
            stations,
        })
    }

    /// Reads a table file.
    pub fn load(path: &std::path::Path) -> Result<StationTable, YamlError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| YamlError {
            file: name.clone(),
            line: 0,
            column: 0,
            message: e.to_string(),
        })?;
        StationTable::from_yaml(&text, &name)
    }

    /// The station at an address.
    pub fn get(&self, addr: &StationAddr) -> Option<&Station> {
        self.stations.get(addr)
    }

    /// Every station with its address.
    pub fn stations(&self) -> impl Iterator<Item = (StationAddr, &Station)> {
        self.stations.iter().map(|(a, s)| (*a, s))
    }

    /// How many stations the table has.
    pub fn len(&self) -> usize {
        self.stations.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.stations.is_empty()
    }

    /// The event lines of a report from `station` at `addr`. Each line has
    /// `ts` (the observation time, `+08:00`), `kind`, the key and township
    /// fields, the mapped values, and an `id`
    /// (`sl651:ADDRESS:SERIAL:SENDTIME:KIND:TS`) so the engine drops a
    /// report it has seen even across restarts of the server.
    pub fn events(&self, addr: StationAddr, station: &Station, report: &Report) -> Events {
        // (ts, kind) → fields, in first-seen order
        let mut groups: Vec<Group<'_>> = Vec::new();
        let mut out = Events::default();
        for r in report.readings() {
            let Some((_, t)) = station.elements.iter().find(|(id, _)| *id == r.id) else {
                continue;
            };
            let g = match groups
                .iter_mut()
                .position(|(ts, k, _)| *ts == r.ts && *k == t.kind)
            {
                Some(i) => &mut groups[i],
                None => {
                    groups.push((r.ts, &t.kind, Vec::new()));
                    let last = groups.len() - 1;
                    &mut groups[last]
                }
            };
            if let Some((_, v, by)) = g.2.iter().find(|(f, _, _)| *f == t.field) {
                if *v == r.value {
                    // the same reading twice (F5's last value and Z): one value
                    continue;
                }
                out.conflicts.push(format!(
                    "element {} at {}: {}.{} already set by element {by}",
                    r.id, r.ts, t.kind, t.field
                ));
                continue;
            }
            g.2.push((&t.field, r.value, r.id));
        }
        groups.sort_by_key(|g| g.0);
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        for (ts, kind, fields) in groups {
            let mut line = format!(
                "{{\"ts\":\"{ts}\",\"kind\":{},{}:{}",
                q(kind),
                q(&self.key_field),
                q(&station.key)
            );
            if let Some(town) = &station.town {
                line.push_str(&format!(",{}:{}", q(&self.town_field), q(town)));
            }
            for (f, v, _) in fields {
                let num = serde_json::Number::from_f64(v)
                    .map_or_else(|| "null".to_string(), |n| n.to_string());
                line.push_str(&format!(",{}:{num}", q(f)));
            }
            let id = format!("sl651:{addr}:{}:{}:{kind}:{ts}", report.serial, report.sent);
            line.push_str(&format!(",\"id\":{}}}", q(&id)));
            out.lines.push(line);
        }
        out
    }
}
