//! Records: one JSON object per line, checked against the declared kinds.
//!
//! Every record carries `kind`, `id`, `unit` (the assessed unit: township,
//! department, enterprise) and `ts` (RFC 3339 with offset), plus the fields
//! its kind declares. Rules beyond types, so bad data is refused rather than
//! assessed:
//!
//! - numbers are counts, amounts and rates: a negative number is refused;
//! - money has an explicit unit: a kind declares `loss_wan` (万元, ten
//!   thousand yuan) or `loss_yuan` (元); a record may write either spelling
//!   (`loss_yuan: 10000000` is `loss_wan: 1000`), never both, and never a
//!   bare `loss`, which could be either;
//! - ids are unique within a file.

use super::{AssessProgram, RecordKindId};
use crate::time::{TimeError, Timestamp};
use crate::value::{Type, Value};
use serde_json::Value as J;
use std::collections::HashMap;
use std::sync::Arc;

/// Yuan in one 万元.
pub const YUAN_PER_WAN: f64 = 10_000.0;

/// A checked record.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// 1-based line in its file (0 for derived records).
    pub line: u64,
    /// Its kind.
    pub kind: RecordKindId,
    /// Its id (evidence cites it).
    pub id: Arc<str>,
    /// The unit it belongs to.
    pub unit: Arc<str>,
    /// When it happened (accident) or arrived (report).
    pub ts: Timestamp,
    /// Field values by slot of [`AssessProgram::fields`]; `null` where absent.
    pub fields: Vec<Value>,
}

/// Why a record line was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    /// Not a JSON object.
    #[error("not a JSON object: {0}")]
    NotJson(String),
    /// The line is not valid UTF-8.
    #[error("not UTF-8: {0}")]
    NotUtf8(String),
    /// `kind`, `id`, `unit` or `ts` is missing.
    #[error("missing `{0}`: every record needs kind, id, unit and ts")]
    Missing(&'static str),
    /// `kind`, `id`, `unit` or `ts` is not a non-empty string.
    #[error("`{0}` must be a non-empty string")]
    NotString(&'static str),
    /// No kind of that name is declared.
    #[error("unknown record kind `{0}`")]
    UnknownKind(String),
    /// The kind is produced by the engine, not read from files.
    #[error("`{0}` records are derived from reports and deadlines; they cannot be given as input")]
    DerivedKind(String),
    /// Bad timestamp.
    #[error("bad `ts`: {0}")]
    BadTime(#[from] TimeError),
    /// A declared field of the wrong type.
    #[error("field `{field}` of a `{kind}` record must be a {expected}, got {got}")]
    WrongType {
        /// Record kind.
        kind: String,
        /// Field.
        field: String,
        /// Declared type.
        expected: Type,
        /// What was written.
        got: String,
    },
    /// A required field is absent.
    #[error("a `{kind}` record needs field `{field}`")]
    MissingField {
        /// Record kind.
        kind: String,
        /// Field.
        field: String,
    },
    /// A negative count or amount.
    #[error("field `{field}` is {value}: counts and amounts cannot be negative")]
    Negative {
        /// Field.
        field: String,
        /// The value.
        value: f64,
    },
    /// Money without a unit.
    #[error("`{written}` is ambiguous: write `{base}_yuan` (元) or `{base}_wan` (万元)")]
    AmbiguousMoney {
        /// The member as written (`loss`).
        written: String,
        /// Its base name (`loss`).
        base: String,
    },
    /// Money given in both units.
    #[error("`{base}_yuan` and `{base}_wan` are both given; give the amount once")]
    BothMoneyUnits {
        /// Base name (`loss`).
        base: String,
    },
    /// An id used twice.
    #[error("id `{id}` is already used on line {first}")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where it was first used.
        first: u64,
    },
    /// Live deadlines: a report about a subject whose deadlines have closed
    /// (see [`crate::assess::deadline::Tracker`]).
    #[error(
        "report `{report}` is about {kind} `{subject}`, whose `{deadlines}` reporting deadlines closed at {closed_at} ({retention} after its last report or deadline); live deadline tracking no longer takes reports about it (a batch `yingji assess` over the records still counts this one)"
    )]
    SubjectClosed {
        /// The report's id.
        report: Arc<str>,
        /// The subject's kind (`accident`).
        kind: Arc<str>,
        /// The subject's id.
        subject: Arc<str>,
        /// The deadline set (`生产安全事故报送`).
        deadlines: Arc<str>,
        /// When the subject closed.
        closed_at: Timestamp,
        /// The retention, as policies write durations (`30d`).
        retention: Arc<str>,
    },
    /// Live deadlines: a subject record (an accident, a disaster) dated more
    /// than the retention behind the tracker's clock (see
    /// [`crate::assess::deadline::Tracker::admit`]).
    #[error(
        "record dated {ts} is more than {retention} behind the clock ({now}): {kind} `{subject}` would open reporting deadlines that closed before it arrived, so live deadline tracking refuses it (check the date, e.g. a mistyped year; a batch `yingji assess` over the records still decides it)"
    )]
    SubjectTooOld {
        /// The subject's kind (`accident`).
        kind: Arc<str>,
        /// The subject's id.
        subject: Arc<str>,
        /// The record's time.
        ts: Timestamp,
        /// The tracker's clock.
        now: Timestamp,
        /// The retention, as policies write durations (`30d`).
        retention: Arc<str>,
    },
    /// Live deadlines: a report about a subject not followed (never seen, or
    /// closed and no longer remembered) that is older than the retention.
    #[error(
        "report `{report}` at {ts} is about `{subject}`, which live deadline tracking does not follow (not seen yet, or closed and forgotten), and is more than {retention} older than the stream ({now}); it could never be matched (a batch `yingji assess` over the records still counts it)"
    )]
    TooOld {
        /// The report's id.
        report: Arc<str>,
        /// The subject id it names.
        subject: Arc<str>,
        /// The report's time.
        ts: Timestamp,
        /// The tracker's clock.
        now: Timestamp,
        /// The retention, as policies write durations (`30d`).
        retention: Arc<str>,
    },
}

/// A refused line.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// 1-based line number.
    pub line: u64,
    /// Why.
    pub error: RecordError,
}

/// The records of one file, and the lines refused.
#[derive(Debug, Clone, Default)]
pub struct RecordSet {
    /// Accepted records, in file order, graded.
    pub records: Vec<Record>,
    /// Refused lines.
    pub rejected: Vec<Rejected>,
}

fn describe(v: &J) -> String {
    match v {
        J::Null => "null".into(),
        J::Bool(b) => format!("the boolean {b}"),
        J::Number(n) => format!("the number {n}"),
        J::String(s) => format!("the string {s:?}"),
        J::Array(_) => "an array".into(),
        J::Object(_) => "an object".into(),
    }
}

fn builtin_str(
    obj: &serde_json::Map<String, J>,
    name: &'static str,
) -> Result<Arc<str>, RecordError> {
    match obj.get(name) {
        None | Some(J::Null) => Err(RecordError::Missing(name)),
        Some(J::String(s)) if !s.trim().is_empty() => Ok(Arc::from(s.trim())),
        Some(_) => Err(RecordError::NotString(name)),
    }
}

/// How a money amount written in one unit becomes the declared one.
#[derive(Clone, Copy)]
enum Conv {
    /// Already in the declared unit.
    Same,
    /// 元 → 万元: divide (exact for whole 万 amounts, correctly rounded otherwise,
    /// so `loss_yuan: 50000000` is exactly `5000` and meets `>= 5000`).
    DivWan,
    /// 万元 → 元.
    MulWan,
}

impl Conv {
    fn apply(self, x: f64) -> f64 {
        match self {
            Conv::Same => x,
            Conv::DivWan => x / YUAN_PER_WAN,
            Conv::MulWan => x * YUAN_PER_WAN,
        }
    }
}

/// The money spellings of a declared field: `(base, conversion of a value
/// written as `<base>_yuan`, conversion of one written as `<base>_wan`)`.
fn money(name: &str) -> Option<(&str, Conv, Conv)> {
    if let Some(base) = name.strip_suffix("_wan") {
        Some((base, Conv::DivWan, Conv::Same))
    } else {
        name.strip_suffix("_yuan")
            .map(|base| (base, Conv::Same, Conv::MulWan))
    }
}

/// Parses and checks one record line (not graded; see [`grade`]).
pub fn parse_record(p: &AssessProgram, text: &str, line: u64) -> Result<Record, RecordError> {
    let obj: serde_json::Map<String, J> = match serde_json::from_str::<J>(text) {
        Ok(J::Object(o)) => o,
        Ok(other) => return Err(RecordError::NotJson(format!("found {}", describe(&other)))),
        Err(e) => return Err(RecordError::NotJson(e.to_string())),
    };
    let kind_name = builtin_str(&obj, "kind")?;
    let kind = p
        .kind_id(&kind_name)
        .ok_or_else(|| RecordError::UnknownKind(kind_name.to_string()))?;
    let kdef = p
        .kinds
        .get(usize::from(kind))
        .ok_or_else(|| RecordError::UnknownKind(kind_name.to_string()))?;
    if kdef.derived {
        return Err(RecordError::DerivedKind(kind_name.to_string()));
    }
    let id = builtin_str(&obj, "id")?;
    let unit = builtin_str(&obj, "unit")?;
    let ts = match obj.get("ts") {
        None | Some(J::Null) => return Err(RecordError::Missing("ts")),
        Some(J::String(s)) => Timestamp::parse(s)?,
        Some(_) => return Err(RecordError::NotString("ts")),
    };
    let mut fields = vec![Value::Null; p.fields.len()];
    for f in &kdef.fields {
        let mut found: Option<(&str, &J, Conv)> =
            obj.get(&f.name).map(|v| (f.name.as_str(), v, Conv::Same));
        if let Some((base, from_yuan, from_wan)) = money(&f.name) {
            let yuan_name = format!("{base}_yuan");
            let wan_name = format!("{base}_wan");
            let y = obj.get_key_value(&yuan_name);
            let w = obj.get_key_value(&wan_name);
            if y.is_some() && w.is_some() {
                return Err(RecordError::BothMoneyUnits {
                    base: base.to_string(),
                });
            }
            if obj.contains_key(base) {
                return Err(RecordError::AmbiguousMoney {
                    written: base.to_string(),
                    base: base.to_string(),
                });
            }
            found = y
                .map(|(k, v)| (k.as_str(), v, from_yuan))
                .or(w.map(|(k, v)| (k.as_str(), v, from_wan)));
        }
        let value = match found {
            None | Some((_, J::Null, _)) => {
                if f.optional {
                    Value::Null
                } else {
                    return Err(RecordError::MissingField {
                        kind: kdef.name.clone(),
                        field: f.name.clone(),
                    });
                }
            }
            Some((written, v, factor)) => {
                let wrong = || RecordError::WrongType {
                    kind: kdef.name.clone(),
                    field: written.to_string(),
                    expected: f.ty,
                    got: describe(v),
                };
                match (f.ty, v) {
                    (Type::Number, J::Number(n)) => {
                        let x = n.as_f64().filter(|x| x.is_finite()).ok_or_else(wrong)?;
                        if x < 0.0 {
                            return Err(RecordError::Negative {
                                field: written.to_string(),
                                value: x,
                            });
                        }
                        Value::Num(factor.apply(x))
                    }
                    (Type::String, J::String(s)) => Value::from(s.as_str()),
                    (Type::Bool, J::Bool(b)) => Value::Bool(*b),
                    _ => return Err(wrong()),
                }
            }
        };
        if let Some(slot) = fields.get_mut(usize::from(f.slot)) {
            *slot = value;
        }
    }
    Ok(Record {
        line,
        kind,
        id,
        unit,
        ts,
        fields,
    })
}

/// Applies every grading of the record's kind: writes the grade's rank into
/// its slot.
pub fn grade(p: &AssessProgram, r: &mut Record) {
    for g in p.gradings.iter().filter(|g| g.kind == r.kind) {
        let scope = super::record_scope(&r.fields);
        let rank = g
            .rules
            .iter()
            .find(|rule| crate::eval::eval(&rule.when, &scope).is_true())
            .map_or(1, |rule| rule.rank);
        if let Some(slot) = r.fields.get_mut(usize::from(g.slot)) {
            *slot = Value::Num(f64::from(rank));
        }
    }
}

/// Reads a JSONL text: every line checked and graded; blank lines skipped;
/// refused lines collected with their reason.
pub fn read_records(p: &AssessProgram, text: &str) -> RecordSet {
    read_records_bytes(p, text.as_bytes())
}

/// [`read_records`] over raw bytes: a line that is not UTF-8 is refused on
/// its own (with its number, like any bad line) and the others are read, as
/// `yingji run` does.
pub fn read_records_bytes(p: &AssessProgram, bytes: &[u8]) -> RecordSet {
    let mut set = RecordSet::default();
    let mut ids: HashMap<Arc<str>, u64> = HashMap::new();
    let mut lines = bytes.split(|&b| b == b'\n').peekable();
    let mut i = 0u64;
    while let Some(raw) = lines.next() {
        i += 1;
        let line = i;
        if raw.is_empty() && lines.peek().is_none() {
            break; // the end after a last newline
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let raw = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(e) => {
                set.rejected.push(Rejected {
                    line,
                    error: RecordError::NotUtf8(e.to_string()),
                });
                continue;
            }
        };
        if raw.trim().is_empty() {
            continue;
        }
        match parse_record(p, raw, line) {
            Ok(mut r) => {
                if let Some(&first) = ids.get(&r.id) {
                    set.rejected.push(Rejected {
                        line,
                        error: RecordError::DuplicateId {
                            id: r.id.to_string(),
                            first,
                        },
                    });
                    continue;
                }
                ids.insert(r.id.clone(), line);
                grade(p, &mut r);
                set.records.push(r);
            }
            Err(error) => set.rejected.push(Rejected { line, error }),
        }
    }
    set
}
