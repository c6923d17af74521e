//! The CAP mapping file (`policies/cap.yaml`): who sends, the identifier's
//! codes, and per signal the CAP `<info>` values; the townships' GB/T 2260
//! codes and which township each key is in.
//!
//! ```yaml
//! cap:
//!   sender: yjj@yunyang.example       # <sender>
//!   sender_name: 云阳县应急管理局        # <senderName>
//!   status: Actual                    # default Actual
//!   scope: Public                     # default Public (Restricted needs `restriction`, Private `addresses`)
//!   county: 云阳县                     # areaDesc for a key in no township
//!   identifier: { area: "500235", organisation: "001", unit: "000", extension: "00" }
//!   defaults:                         # for every signal (these are the built-in defaults)
//!     category: Met
//!     urgency: Immediate
//!     certainty: Observed
//!     severity: { red: Extreme, orange: Severe, yellow: Moderate, blue: Minor }
//!   signals:
//!     暴雨预警: { event: 暴雨 }
//!     滑坡预警: { event: 滑坡, category: Geo, certainty: Likely }
//!   keys: { YY-001: 双江街道 }          # key → township
//!   townships: { 双江街道: "500235001" } # township → GB/T 2260 code
//! ```
//!
//! Every value is checked when the file is read; an error names its line
//! and column.

use crate::sl651::yaml::{Entries, YamlError, parse};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use yingji_engine::value::Level;

type S = Spanned<String>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    cap: CapDoc,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CapDoc {
    sender: S,
    #[serde(default)]
    sender_name: Option<String>,
    #[serde(default)]
    status: Option<S>,
    #[serde(default)]
    scope: Option<S>,
    #[serde(default)]
    restriction: Option<String>,
    #[serde(default)]
    addresses: Option<String>,
    #[serde(default)]
    county: Option<String>,
    identifier: IdDoc,
    #[serde(default)]
    defaults: Option<InfoDoc>,
    #[serde(default)]
    signals: Option<Entries<InfoDoc>>,
    #[serde(default)]
    keys: Option<Entries<S>>,
    #[serde(default)]
    townships: Option<Entries<S>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdDoc {
    area: S,
    organisation: S,
    unit: S,
    extension: S,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InfoDoc {
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    category: Option<S>,
    #[serde(default)]
    urgency: Option<S>,
    #[serde(default)]
    certainty: Option<S>,
    #[serde(default)]
    severity: Option<Entries<S>>,
    #[serde(default)]
    response: Option<Entries<S>>,
    #[serde(default)]
    instruction: Option<Entries<String>>,
}

/// CAP `<info>` values for one signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalInfo {
    /// `<event>` (default: the signal's name).
    pub event: Option<String>,
    /// `<category>`.
    pub category: String,
    /// `<urgency>`.
    pub urgency: String,
    /// `<certainty>`.
    pub certainty: String,
    /// `<severity>` per level.
    pub severity: BTreeMap<Level, String>,
    /// `<responseType>` per level (none by default).
    pub response: BTreeMap<Level, String>,
    /// `<instruction>` per level (none by default).
    pub instruction: BTreeMap<Level, String>,
}

impl Default for SignalInfo {
    /// The built-in defaults: `Met`, `Immediate`, `Observed`, severity red
    /// `Extreme`, orange `Severe`, yellow `Moderate`, blue `Minor`.
    fn default() -> Self {
        SignalInfo {
            event: None,
            category: "Met".into(),
            urgency: "Immediate".into(),
            certainty: "Observed".into(),
            severity: [
                (Level::Red, "Extreme"),
                (Level::Orange, "Severe"),
                (Level::Yellow, "Moderate"),
                (Level::Blue, "Minor"),
            ]
            .into_iter()
            .map(|(l, s)| (l, s.to_string()))
            .collect(),
            response: BTreeMap::new(),
            instruction: BTreeMap::new(),
        }
    }
}

/// The GB/T 35965.1 identifier's fixed part `ZZZZZZDDDUUUXX`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdParts {
    /// `ZZZZZZ`: the issuing area's 6-digit GB/T 2260 code.
    pub area: String,
    /// `DDD`: the organisation's 3-digit code.
    pub organisation: String,
    /// `UUU`: the internal 3-digit code.
    pub unit: String,
    /// `XX`: the 2-digit extension.
    pub extension: String,
}

/// The CAP mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapConfig {
    /// `<sender>`.
    pub sender: String,
    /// `<senderName>`.
    pub sender_name: Option<String>,
    /// `<status>`.
    pub status: String,
    /// `<scope>`.
    pub scope: String,
    /// `<restriction>` (scope Restricted).
    pub restriction: Option<String>,
    /// `<addresses>` (scope Private).
    pub addresses: Option<String>,
    /// The area named when a key is in no township (default `云阳县`).
    pub county: String,
    /// The identifier's codes.
    pub identifier: IdParts,
    /// Values for signals not listed.
    pub defaults: SignalInfo,
    /// Values per signal.
    pub signals: BTreeMap<String, SignalInfo>,
    /// Key → township.
    pub keys: BTreeMap<String, String>,
    /// Township → GB/T 2260 code (9 digits).
    pub townships: BTreeMap<String, String>,
}

const CATEGORIES: [&str; 12] = [
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
];
const URGENCIES: [&str; 5] = ["Immediate", "Expected", "Future", "Past", "Unknown"];
const SEVERITIES: [&str; 5] = ["Extreme", "Severe", "Moderate", "Minor", "Unknown"];
const CERTAINTIES: [&str; 5] = ["Observed", "Likely", "Possible", "Unlikely", "Unknown"];
const RESPONSES: [&str; 9] = [
    "Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None",
];
const STATUSES: [&str; 5] = ["Actual", "Exercise", "System", "Test", "Draft"];
const SCOPES: [&str; 3] = ["Public", "Restricted", "Private"];

fn one_of(file: &str, v: &S, what: &str, allowed: &[&str]) -> Result<String, YamlError> {
    if allowed.contains(&v.value.as_str()) {
        Ok(v.value.clone())
    } else {
        Err(YamlError::at(
            file,
            v.referenced,
            format!(
                "`{}` is not a CAP {what} (one of {})",
                v.value,
                allowed.join(", ")
            ),
        ))
    }
}

fn digits(file: &str, v: &S, what: &str, n: &[usize]) -> Result<String, YamlError> {
    if n.contains(&v.value.len()) && v.value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(v.value.clone())
    } else {
        let lens: Vec<String> = n.iter().map(usize::to_string).collect();
        Err(YamlError::at(
            file,
            v.referenced,
            format!(
                "{what} `{}` must be {} digits (quote it)",
                v.value,
                lens.join(" or ")
            ),
        ))
    }
}

fn per_level(
    file: &str,
    m: &Entries<S>,
    what: &str,
    allowed: &[&str],
) -> Result<BTreeMap<Level, String>, YamlError> {
    let mut out = BTreeMap::new();
    for (k, v) in &m.0 {
        let level = Level::parse(&k.value)
            .filter(|l| *l != Level::None)
            .ok_or_else(|| {
                YamlError::at(
                    file,
                    k.referenced,
                    format!(
                        "`{}` is not a warning level (red, orange, yellow, blue)",
                        k.value
                    ),
                )
            })?;
        out.insert(level, one_of(file, v, what, allowed)?);
    }
    Ok(out)
}

fn info(file: &str, d: &InfoDoc, base: &SignalInfo) -> Result<SignalInfo, YamlError> {
    let mut i = base.clone();
    if let Some(e) = &d.event {
        i.event = Some(e.clone());
    }
    if let Some(v) = &d.category {
        i.category = one_of(file, v, "category", &CATEGORIES)?;
    }
    if let Some(v) = &d.urgency {
        i.urgency = one_of(file, v, "urgency", &URGENCIES)?;
    }
    if let Some(v) = &d.certainty {
        i.certainty = one_of(file, v, "certainty", &CERTAINTIES)?;
    }
    if let Some(m) = &d.severity {
        i.severity
            .extend(per_level(file, m, "severity", &SEVERITIES)?);
    }
    if let Some(m) = &d.response {
        i.response
            .extend(per_level(file, m, "responseType", &RESPONSES)?);
    }
    if let Some(m) = &d.instruction {
        for (k, v) in &m.0 {
            let level = Level::parse(&k.value)
                .filter(|l| *l != Level::None)
                .ok_or_else(|| {
                    YamlError::at(
                        file,
                        k.referenced,
                        format!(
                            "`{}` is not a warning level (red, orange, yellow, blue)",
                            k.value
                        ),
                    )
                })?;
            i.instruction.insert(level, v.clone());
        }
    }
    Ok(i)
}

impl CapConfig {
    /// Reads the mapping from YAML text (`file` names it in errors).
    pub fn from_yaml(text: &str, file: &str) -> Result<CapConfig, YamlError> {
        let doc: Doc = parse(text, file)?;
        let c = doc.cap;
        let status = match &c.status {
            Some(v) => one_of(file, v, "status", &STATUSES)?,
            None => "Actual".into(),
        };
        let scope = match &c.scope {
            Some(v) => one_of(file, v, "scope", &SCOPES)?,
            None => "Public".into(),
        };
        let at = c
            .scope
            .as_ref()
            .map_or(c.sender.referenced, |s| s.referenced);
        if scope == "Restricted" && c.restriction.is_none() {
            return Err(YamlError::at(
                file,
                at,
                "scope Restricted needs `restriction`",
            ));
        }
        if scope == "Private" && c.addresses.is_none() {
            return Err(YamlError::at(file, at, "scope Private needs `addresses`"));
        }
        if c.sender.value.trim().is_empty() || c.sender.value.contains([' ', ',', '<', '&']) {
            return Err(YamlError::at(
                file,
                c.sender.referenced,
                "`sender` must be non-empty without spaces, commas, `<` or `&` (CAP 1.2 §3.2.1)",
            ));
        }
        let identifier = IdParts {
            area: digits(file, &c.identifier.area, "identifier area", &[6])?,
            organisation: digits(
                file,
                &c.identifier.organisation,
                "identifier organisation",
                &[3],
            )?,
            unit: digits(file, &c.identifier.unit, "identifier unit", &[3])?,
            extension: digits(file, &c.identifier.extension, "identifier extension", &[2])?,
        };
        let defaults = match &c.defaults {
            Some(d) => info(file, d, &SignalInfo::default())?,
            None => SignalInfo::default(),
        };
        let mut signals = BTreeMap::new();
        for (name, d) in c.signals.iter().flat_map(|m| &m.0) {
            signals.insert(name.value.clone(), info(file, d, &defaults)?);
        }
        let mut townships = BTreeMap::new();
        for (name, code) in c.townships.iter().flat_map(|m| &m.0) {
            townships.insert(
                name.value.clone(),
                digits(file, code, "GB/T 2260 code", &[6, 9, 12])?,
            );
        }
        let mut keys = BTreeMap::new();
        for (key, town) in c.keys.iter().flat_map(|m| &m.0) {
            let key = &key.value;
            if !townships.contains_key(&town.value) {
                return Err(YamlError::at(
                    file,
                    town.referenced,
                    format!(
                        "township `{}` of key `{key}` is not in `townships`",
                        town.value
                    ),
                ));
            }
            keys.insert(key.clone(), town.value.clone());
        }
        Ok(CapConfig {
            sender: c.sender.value,
            sender_name: c.sender_name,
            status,
            scope,
            restriction: c.restriction,
            addresses: c.addresses,
            county: c.county.unwrap_or_else(|| "云阳县".into()),
            identifier,
            defaults,
            signals,
            keys,
            townships,
        })
    }

    /// Reads a mapping file.
    pub fn load(path: &std::path::Path) -> Result<CapConfig, YamlError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| YamlError {
            file: name.clone(),
            line: 0,
            column: 0,
            message: e.to_string(),
        })?;
        CapConfig::from_yaml(&text, &name)
    }

    /// The `<info>` values of a signal.
    pub fn signal(&self, name: &str) -> &SignalInfo {
        self.signals.get(name).unwrap_or(&self.defaults)
    }

    /// The area of a key: its township and that township's code, or the
    /// county and the identifier's area code.
    pub fn area(&self, key: &str) -> (String, String) {
        match self
            .keys
            .get(key)
            .and_then(|t| self.townships.get(t).map(|c| (t, c)))
        {
            Some((t, c)) => (t.clone(), c.clone()),
            None => (self.county.clone(), self.identifier.area.clone()),
        }
    }
}
