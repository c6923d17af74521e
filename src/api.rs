//! The embedding boundary: everything in and out is UTF-8 text or JSON.
//!
//! The C and Python bindings (`bindings/c`, `bindings/python`) are thin
//! shells over this module; other languages should be too. It has three
//! parts:
//!
//! * [`Defs`] — definitions loaded from text or paths. Loading never fails
//!   as such: a `Defs` whose definitions did not compile keeps its
//!   diagnostics ([`Defs::diagnostics_json`]) and refuses to make an engine
//!   ([`Defs::engine`] returns [`ErrorCode::Definitions`]).
//! * [`JsonEngine`] — a running engine: push one event line
//!   ([`JsonEngine::push`]) or a batch of them ([`JsonEngine::push_batch`]),
//!   get outputs as JSON. It is the one engine ([`crate::Engine`]) behind a
//!   text boundary ([`JsonEngine::inner`]); `api::Engine` is the same type
//!   under the name the bindings use.
//! * Settings: [`Defs::engine_with`] takes the [`Config`](crate::Config) as
//!   JSON (`{"lateness":"10m","max_ahead":"7d"}`, see
//!   [`Config::from_json`](crate::Config::from_json)); a bad value is
//!   [`ErrorCode::Config`], naming the setting.
//! * [`ApiError`] — every failure: a stable [`ErrorCode`], a message, and
//!   diagnostics (a JSON array, empty unless definitions failed).
//!
//! Event positions: every event given to an engine, accepted or rejected, is
//! numbered from 1 in the order it was pushed (a blank line of a batch is
//! skipped but takes a number, as in `yingji run`), and outputs name the
//! event that caused them by that number (`"event": 729`).
//!
//! End of stream: the engine holds events back for the allowed lateness (to
//! put late arrivals in time order), so the last outputs come from
//! [`JsonEngine::flush`]. Pushing a JSONL file line by line, or as one batch, and
//! then flushing gives exactly the outputs of `yingji run` on that file.
//!
//! Event time without events: [`JsonEngine::advance_to`] moves the clock as if
//! an empty event had arrived (absences, timers and plan escalations due by
//! then come out), [`JsonEngine::finish`] ends the input and can run the clock on
//! to a given time, and [`JsonEngine::clock`] reads the clock.
//!
//! ```
//! use yingji::api::{Defs, ErrorCode};
//! let defs = Defs::from_text("rain.yj", r#"
//!     event rain { station: string, mm: number }
//!     signal 暴雨 {
//!       from rain
//!       key station
//!       let r3 = sum(mm, 3h)
//!       level red    when r3 >= 100
//!       level orange when r3 >= 50
//!     }
//! "#);
//! assert!(defs.is_ok());
//! let mut engine = defs.engine()?;
//! engine.push_json(r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":60}"#)?;
//! // held back for the allowed lateness (5 minutes) until later events or the end
//! let out = engine.flush_json();
//! assert!(out.starts_with(r#"[{"type":"level_changed""#), "{out}");
//! assert!(out.contains(r#""to":"orange""#), "{out}");
//!
//! // a malformed line is refused with a code and changes nothing
//! let err = engine.push_json("{not json").unwrap_err();
//! assert_eq!(err.code, ErrorCode::MalformedJson);
//! # Ok::<(), yingji::api::ApiError>(())
//! ```

use crate::{Definitions, LoadError};
use std::fmt::Write as _;
use std::path::Path;
use yingji_engine::{EventError, LineError, Output};

/// What kind of failure an [`ApiError`] is. The numbers are part of the C ABI
/// (`YJ_ERR_*` in `yingji.h`) and never change meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorCode {
    /// A required argument is missing (a null pointer in C) or unusable.
    InvalidArgument = 1,
    /// Text that is not valid UTF-8.
    InvalidUtf8 = 2,
    /// Text that should be JSON and is not (or is not the JSON expected).
    MalformedJson = 3,
    /// Definitions that did not compile; the diagnostics say why.
    Definitions = 4,
    /// A well-formed event the engine refused (wrong field type, missing
    /// field, out of time order for its key, ...); nothing was applied.
    Event = 5,
    /// A feature this build does not provide yet.
    Unsupported = 6,
    /// A handle that is not live: freed already, or of another type (C only).
    BadHandle = 7,
    /// A bug: a panic was caught at the boundary (C and Python only).
    Panic = 8,
    /// A bug: an internal invariant did not hold.
    Internal = 9,
    /// A snapshot that cannot be restored (not a yingji state document, or
    /// another format version); the engine is unchanged.
    State = 10,
    /// The handle is in use by another call right now (another thread is
    /// pushing to the same engine, or freeing it); nothing was done. Retry,
    /// or give each thread its own engine (C and Python only).
    Busy = 11,
    /// A configuration that cannot be used: not a JSON object, an unknown
    /// setting, or a bad value; the message names the setting.
    Config = 12,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::InvalidArgument,
        ErrorCode::InvalidUtf8,
        ErrorCode::MalformedJson,
        ErrorCode::Definitions,
        ErrorCode::Event,
        ErrorCode::Unsupported,
        ErrorCode::BadHandle,
        ErrorCode::Panic,
        ErrorCode::Internal,
        ErrorCode::State,
        ErrorCode::Busy,
        ErrorCode::Config,
    ];

    /// A stable lowercase name (`"malformed_json"`), used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::InvalidUtf8 => "invalid_utf8",
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::Definitions => "definitions",
            ErrorCode::Event => "event",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::BadHandle => "bad_handle",
            ErrorCode::Panic => "panic",
            ErrorCode::Internal => "internal",
            ErrorCode::State => "state",
            ErrorCode::Busy => "busy",
            ErrorCode::Config => "config",
        }
    }

    /// The number (as in the C header).
    pub fn as_i32(self) -> i32 {
        self as i32
    }
}

/// A failure at the boundary: a code, a one-paragraph message and, for
/// definitions that did not compile, their diagnostics.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// Diagnostics as a JSON array of objects (see
    /// [`Diagnostic::to_json`](crate::Diagnostic::to_json)); empty unless
    /// `code` is [`ErrorCode::Definitions`].
    pub diagnostics: serde_json::Value,
    /// Structured detail: `null`, or an object with a stable `reason` (for
    /// event errors `"missing_field"`, `"bad_timestamp"`, `"too_far_ahead"`,
    /// ... see [`ApiError::reason`]; `"bad_config"` for a bad
    /// [`Config`](crate::Config), `"config_mismatch"` for a snapshot taken
    /// with other settings) and the members that reason names (`field`,
    /// `kind`, `member`, `sender`).
    pub detail: serde_json::Value,
}

impl ApiError {
    /// An error without diagnostics.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            diagnostics: serde_json::Value::Array(Vec::new()),
            detail: serde_json::Value::Null,
        }
    }

    /// This error with a [`detail`](ApiError::detail) object: `reason` and
    /// the given members.
    pub fn with_detail(mut self, reason: &str, members: &[(&str, &str)]) -> ApiError {
        let mut m = serde_json::Map::new();
        m.insert("reason".into(), reason.into());
        for (k, v) in members {
            m.insert((*k).into(), (*v).into());
        }
        self.detail = serde_json::Value::Object(m);
        self
    }

    /// The detail's `reason` (`"missing_field"`, `"bad_config"`, ...), if any.
    ///
    /// Event errors (code [`ErrorCode::Event`] or
    /// [`ErrorCode::MalformedJson`]) always have one: `not_json`,
    /// `missing_member`, `not_string`, `bad_timestamp`, `wrong_type`,
    /// `missing_field`, `nested_value`, `bad_value`, `not_finite`,
    /// `duplicate_member`, `too_long`, `too_far_ahead`, `clock_suspect`,
    /// `no_key`, `bad_record`, `refused`. Late and duplicate events are not
    /// errors: a late one is a `late` output, a duplicate is left out and
    /// counted.
    ///
    /// ```
    /// use yingji::api::{Defs, ErrorCode};
    /// let mut engine = Defs::from_text("a.yj", "event rain { mm: number }").engine()?;
    /// let err = engine.push(r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain"}"#).unwrap_err();
    /// assert_eq!((err.code, err.reason()), (ErrorCode::Event, Some("missing_field")));
    /// assert_eq!(err.detail["field"], "mm");
    /// # Ok::<(), yingji::api::ApiError>(())
    /// ```
    pub fn reason(&self) -> Option<&str> {
        self.detail
            .get("reason")
            .and_then(serde_json::Value::as_str)
    }

    /// [`ApiError::detail`] as JSON text (`{}` when there is none).
    pub fn detail_json(&self) -> String {
        if self.detail.is_null() {
            "{}".into()
        } else {
            self.detail.to_string()
        }
    }

    /// The diagnostics as JSON text (`[]` when there are none).
    pub fn diagnostics_json(&self) -> String {
        self.diagnostics.to_string()
    }

    /// The whole error as one JSON object:
    /// `{"code":"definitions","status":4,"message":"...","diagnostics":[...]}`
    /// (and `"detail":{...}` when there is one).
    ///
    /// ```
    /// use yingji::api::{ApiError, ErrorCode};
    /// let e = ApiError::new(ErrorCode::MalformedJson, "not JSON");
    /// assert_eq!(e.to_json(), r#"{"code":"malformed_json","diagnostics":[],"message":"not JSON","status":3}"#);
    /// ```
    pub fn to_json(&self) -> String {
        let mut v = serde_json::json!({
            "code": self.code.name(),
            "status": self.code.as_i32(),
            "message": self.message,
            "diagnostics": self.diagnostics,
        });
        if let (false, Some(m)) = (self.detail.is_null(), v.as_object_mut()) {
            m.insert("detail".into(), self.detail.clone());
        }
        v.to_string()
    }
}

impl From<&LoadError> for ApiError {
    fn from(e: &LoadError) -> ApiError {
        let errors: Vec<_> = e.diagnostics.iter().filter(|d| d.is_error()).collect();
        let first = errors
            .first()
            .map(|d| format!("; first: {} {}", d.code, d.message))
            .unwrap_or_default();
        ApiError {
            code: ErrorCode::Definitions,
            message: format!(
                "the definitions did not compile: {} error(s){first}",
                errors.len()
            ),
            diagnostics: e.to_json(),
            detail: serde_json::Value::Null,
        }
    }
}

/// Checks that `bytes` are UTF-8; `what` names them in the error
/// ("event line", "definitions text").
///
/// ```
/// use yingji::api::{utf8, ErrorCode};
/// assert_eq!(utf8(b"mm", "field").unwrap(), "mm");
/// let e = utf8(b"\xff\xfe", "event line").unwrap_err();
/// assert_eq!(e.code, ErrorCode::InvalidUtf8);
/// assert!(e.message.starts_with("event line is not valid UTF-8"), "{}", e.message);
/// ```
pub fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, ApiError> {
    std::str::from_utf8(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidUtf8,
            format!("{what} is not valid UTF-8: {e}"),
        )
    })
}

/// Loaded definitions: compiled, or the diagnostics that say why not.
#[derive(Debug)]
pub struct Defs {
    result: Result<Definitions, LoadError>,
}

impl Defs {
    /// Loads one text; a `name` ending in `.yaml`/`.yml` selects YAML, else
    /// the `.yj` language. The name appears in diagnostics and in outputs'
    /// `rule_at`.
    ///
    /// ```
    /// use yingji::api::Defs;
    /// let defs = Defs::from_text("bad.yj", "event rain { mm: numbr }");
    /// assert!(!defs.is_ok());
    /// assert!(defs.diagnostics_json().contains(r#""code":"E0105""#), "{}", defs.diagnostics_json());
    /// ```
    pub fn from_text(name: &str, text: &str) -> Defs {
        Defs {
            result: Definitions::from_str(name, text),
        }
    }

    /// Loads `.yj` / YAML files and folders (folders recursively). A path
    /// that cannot be read is an `E0004` diagnostic.
    ///
    /// ```
    /// use yingji::api::{Defs, ErrorCode};
    /// let defs = Defs::from_paths(&["no/such/folder"]);
    /// let err = defs.check().unwrap_err();
    /// assert_eq!(err.code, ErrorCode::Definitions);
    /// assert_eq!(err.diagnostics[0]["code"], "E0004");
    /// ```
    pub fn from_paths<P: AsRef<Path>>(paths: &[P]) -> Defs {
        let paths: Vec<&Path> = paths.iter().map(AsRef::as_ref).collect();
        Defs {
            result: Definitions::from_paths(&paths),
        }
    }

    /// Whether the definitions compiled.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// The compiled definitions, if they compiled.
    pub fn definitions(&self) -> Option<&Definitions> {
        self.result.as_ref().ok()
    }

    /// Every diagnostic (errors and warnings) as a JSON array.
    pub fn diagnostics(&self) -> serde_json::Value {
        match &self.result {
            Ok(d) => serde_json::Value::Array(
                d.loaded
                    .diagnostics
                    .iter()
                    .map(|w| w.to_json(&d.loaded.sources))
                    .collect(),
            ),
            Err(e) => e.to_json(),
        }
    }

    /// [`Defs::diagnostics`] as text.
    pub fn diagnostics_json(&self) -> String {
        self.diagnostics().to_string()
    }

    /// Every diagnostic rendered for a terminal (rustc style), or `""`.
    pub fn rendered(&self) -> String {
        match &self.result {
            Ok(d) => d
                .loaded
                .diagnostics
                .iter()
                .map(|w| w.render(&d.loaded.sources))
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => e.rendered.clone(),
        }
    }

    /// `Ok` with the warnings (a JSON array, often `[]`) when the definitions
    /// compiled, else an [`ErrorCode::Definitions`] error carrying every
    /// diagnostic.
    pub fn check(&self) -> Result<String, ApiError> {
        match &self.result {
            Ok(_) => Ok(self.diagnostics_json()),
            Err(e) => Err(ApiError::from(e)),
        }
    }

    /// What was loaded, as JSON:
    /// `{"ok":true,"files":1,"event_kinds":["rain"],"signals":["暴雨"],"warnings":0,"errors":0}`
    /// (`event_kinds` and `signals` are empty when the definitions did not
    /// compile).
    ///
    /// ```
    /// use yingji::api::Defs;
    /// let defs = Defs::from_text("a.yj", "event rain { station: string, mm: number }");
    /// assert_eq!(defs.summary_json(),
    ///     r#"{"errors":0,"event_kinds":["rain"],"files":1,"ok":true,"signals":[],"warnings":0}"#);
    /// ```
    pub fn summary_json(&self) -> String {
        let v = match &self.result {
            Ok(d) => serde_json::json!({
                "ok": true,
                "files": d.loaded.files,
                "event_kinds": d.loaded.program.kinds.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
                "signals": d.loaded.program.signals.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
                "warnings": d.loaded.diagnostics.len(),
                "errors": 0,
            }),
            Err(e) => {
                let errors = e.diagnostics.iter().filter(|d| d.is_error()).count();
                serde_json::json!({
                    "ok": false,
                    "files": files_read(e),
                    "event_kinds": [],
                    "signals": [],
                    "warnings": e.diagnostics.len() - errors,
                    "errors": errors,
                })
            }
        };
        v.to_string()
    }

    /// A fresh engine over these definitions; an [`ErrorCode::Definitions`]
    /// error (with the diagnostics) when they did not compile.
    ///
    /// ```
    /// use yingji::api::{Defs, ErrorCode};
    /// let defs = Defs::from_text("bad.yj", "signal s { from nothing }");
    /// let err = defs.engine().unwrap_err();
    /// assert_eq!(err.code, ErrorCode::Definitions);
    /// assert!(err.message.starts_with("the definitions did not compile"), "{}", err.message);
    /// assert!(!err.diagnostics.as_array().unwrap().is_empty());
    /// ```
    pub fn engine(&self) -> Result<JsonEngine, ApiError> {
        self.engine_config(crate::Config::default())
    }

    /// A fresh engine with explicit settings, given as the JSON form of
    /// [`Config`](crate::Config) (`{"lateness":"10m","late":"apply",
    /// "max_ahead":"7d","idle_ttl":"30d","dedupe_kind_key_ts":true,
    /// "max_line":65536}`; a missing member keeps its default). A bad
    /// configuration is [`ErrorCode::Config`] with a message naming the
    /// setting; definitions that did not compile are
    /// [`ErrorCode::Definitions`].
    ///
    /// ```
    /// use yingji::api::{Defs, ErrorCode};
    /// let defs = Defs::from_text("a.yj", "event rain { station: string, mm: number }");
    /// let engine = defs.engine_with(r#"{"lateness":"0s","max_ahead":"off"}"#)?;
    /// assert!(engine.config_json().contains(r#""max_ahead":"off""#));
    ///
    /// let err = defs.engine_with(r#"{"max_ahead":"3 days"}"#).unwrap_err();
    /// assert_eq!(err.code, ErrorCode::Config);
    /// assert!(err.message.starts_with("setting `max_ahead`"), "{}", err.message);
    /// # Ok::<(), yingji::api::ApiError>(())
    /// ```
    pub fn engine_with(&self, config_json: &str) -> Result<JsonEngine, ApiError> {
        let config = crate::Config::from_json(config_json).map_err(|e| config_error(&e))?;
        self.engine_config(config)
    }

    fn engine_config(&self, config: crate::Config) -> Result<JsonEngine, ApiError> {
        let defs = self.result.as_ref().map_err(ApiError::from)?;
        let engine = defs.engine_with(config).map_err(|e| match e {
            crate::EngineError::Config(e) => config_error(&e),
            e => ApiError::new(
                ErrorCode::Internal,
                format!("compiled program is invalid: {e}"),
            ),
        })?;
        Ok(JsonEngine { engine, seq: 0 })
    }

    /// Assesses records against the definitions' assessments: `records`
    /// is JSONL (one record per line) or a JSON array of records; the result
    /// is the JSON document `yingji assess --format json` prints
    /// (`assessments` with scores, vetoes and evidence, `deadlines`,
    /// `rejected` record lines).
    ///
    /// ```
    /// use yingji::api::{Defs, ErrorCode};
    /// let defs = Defs::from_text("a.yj", "event rain { mm: number }");
    /// assert_eq!(defs.assess("[]").unwrap_err().code, ErrorCode::Unsupported); // no assessment defined
    /// assert_eq!(defs.assess("[1,").unwrap_err().code, ErrorCode::MalformedJson);
    /// ```
    pub fn assess(&self, records_json: &str) -> Result<String, ApiError> {
        let defs = self.result.as_ref().map_err(ApiError::from)?;
        let trimmed = records_json.trim_start();
        let text = if trimmed.starts_with('[') {
            let items: Vec<serde_json::Value> = serde_json::from_str(trimmed).map_err(|e| {
                ApiError::new(
                    ErrorCode::MalformedJson,
                    format!("records are not a JSON array: {e}"),
                )
            })?;
            items
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            records_json.to_string()
        };
        if defs.loaded.assess.assessments.is_empty() {
            return Err(ApiError::new(
                ErrorCode::Unsupported,
                "these definitions hold no `assessment`: there is nothing to assess records against",
            ));
        }
        let set = yingji_engine::assess::records::read_records(&defs.loaded.assess, &text);
        let report =
            yingji_engine::assess::eval::run(&defs.loaded.assess, &set.records, None, None)
                .map_err(|e| ApiError::new(ErrorCode::InvalidArgument, e))?;
        Ok(yingji_engine::assess::report_json(&report, &set).to_string())
    }
}

/// Files of a failed load that were read (an unreadable path adds an empty
/// source and an `E0004` diagnostic).
fn files_read(e: &LoadError) -> usize {
    let unreadable = e
        .diagnostics
        .iter()
        .filter(|d| d.code == yingji_dsl::diag::codes::IO)
        .count();
    let sources = (0..).take_while(|&i| e.sources.file(i).is_some()).count();
    sources.saturating_sub(unreadable)
}

/// One event of a batch that the engine refused.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Rejected {
    /// Its position in the engine's input (as in outputs' `event`).
    pub event: u64,
    /// Its position in the batch, from 1 (lines for JSONL, elements for an
    /// array; blank lines count).
    pub index: u64,
    /// `"malformed_json"` or `"event"` (see [`ErrorCode::name`]).
    pub code: &'static str,
    /// Why.
    pub message: String,
    /// The error's [`ApiError::detail`] (`reason` and what it names).
    pub detail: serde_json::Value,
}

/// What a batch produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// Outputs, in order.
    pub outputs: Vec<Output>,
    /// Events applied.
    pub accepted: u64,
    /// Events refused (each changed nothing).
    pub rejected: Vec<Rejected>,
}

impl Batch {
    /// `{"outputs":[...],"accepted":N,"rejected":[{"event":..,"index":..,"code":..,"message":..,"detail":{"reason":..}}]}`.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\"outputs\":");
        s.push_str(&outputs_json(&self.outputs));
        let _ = write!(s, ",\"accepted\":{},\"rejected\":", self.accepted);
        s.push_str(&serde_json::to_string(&self.rejected).unwrap_or_else(|_| "[]".into()));
        s.push('}');
        s
    }
}

/// Outputs as a JSON array, each as [`Output::to_json`] writes it.
pub fn outputs_json(outputs: &[Output]) -> String {
    let mut s = String::from("[");
    for (i, o) in outputs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&o.to_json());
    }
    s.push(']');
    s
}

fn line_error(e: LineError) -> ApiError {
    use yingji_engine::PushError;
    let code = match &e {
        LineError::Event(EventError::NotJson(_)) => ErrorCode::MalformedJson,
        _ => ErrorCode::Event,
    };
    let err = ApiError::new(code, e.to_string());
    match &e {
        LineError::Event(ev) => match ev {
            EventError::NotJson(_) => err.with_detail("not_json", &[]),
            EventError::Missing(m) => err.with_detail("missing_member", &[("member", m)]),
            EventError::BadTime(_) => err.with_detail("bad_timestamp", &[("member", "ts")]),
            EventError::NotString(m) => err.with_detail("not_string", &[("member", m)]),
            EventError::WrongType { kind, field, .. } => {
                err.with_detail("wrong_type", &[("kind", kind), ("field", field)])
            }
            EventError::MissingField { kind, field } => {
                err.with_detail("missing_field", &[("kind", kind), ("field", field)])
            }
            EventError::Nested(f, _) => err.with_detail("nested_value", &[("field", f)]),
            EventError::BadValue(f, _) => err.with_detail("bad_value", &[("field", f)]),
            EventError::NotFinite(f) => err.with_detail("not_finite", &[("field", f)]),
            EventError::Duplicate(m) => err.with_detail("duplicate_member", &[("member", m)]),
        },
        LineError::Push(p) => match p {
            PushError::TooFarAhead { .. } => err.with_detail("too_far_ahead", &[]),
            PushError::ClockSuspect { sender, .. } => {
                err.with_detail("clock_suspect", &[("sender", sender)])
            }
            PushError::Refused(_) => err.with_detail("refused", &[]),
            PushError::NoKey { signal, field } => {
                err.with_detail("no_key", &[("signal", signal), ("field", field)])
            }
        },
        LineError::Record(_) => err.with_detail("bad_record", &[]),
    }
}

/// Reads an RFC 3339 timestamp argument; `what` names it in the error, which
/// quotes the text.
fn timestamp(text: &str, what: &str) -> Result<yingji_engine::Timestamp, ApiError> {
    yingji_engine::Timestamp::parse(text.trim()).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidArgument,
            format!("{what} is not a usable timestamp: {e}"),
        )
    })
}

fn config_error(e: &crate::ConfigError) -> ApiError {
    let field = e.field().unwrap_or_default().to_string();
    let err = ApiError::new(ErrorCode::Config, e.to_string());
    if field.is_empty() {
        err.with_detail("bad_config", &[])
    } else {
        err.with_detail("bad_config", &[("field", &field)])
    }
}

/// The name the bindings use for [`JsonEngine`].
pub type Engine = JsonEngine;

/// A running engine behind the text boundary (see the [module docs](self)
/// for event numbering).
pub struct JsonEngine {
    engine: yingji_engine::Engine,
    seq: u64,
}

impl std::fmt::Debug for JsonEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("events", &self.seq)
            .field("keys", &self.engine.key_count())
            .finish_non_exhaustive()
    }
}

impl JsonEngine {
    /// The engine itself.
    pub fn inner(&self) -> &crate::Engine {
        &self.engine
    }

    /// The engine itself, to call what this boundary does not offer.
    pub fn inner_mut(&mut self) -> &mut crate::Engine {
        &mut self.engine
    }

    /// The engine's settings in their JSON form ([`crate::Config::to_json`]).
    pub fn config_json(&self) -> String {
        self.engine.config().to_json()
    }

    /// Applies one event (one JSON object, as in a JSONL line) and returns
    /// its outputs. A refused event changes nothing: [`ErrorCode::MalformedJson`]
    /// for text that is not a JSON object, [`ErrorCode::Event`] for the rest
    /// (a line longer than the `max_line` setting included).
    ///
    /// ```
    /// use yingji::api::{Defs, ErrorCode};
    /// let defs = Defs::from_text("a.yj", "event rain { station: string, mm: number }");
    /// let mut engine = defs.engine_with(r#"{"max_line":64}"#)?;
    /// let long = format!(r#"{{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"{}","mm":1}}"#, "A".repeat(64));
    /// let err = engine.push(&long).unwrap_err();
    /// assert_eq!(err.code, ErrorCode::Event);
    /// assert!(err.message.contains("max_line"), "{}", err.message);
    /// assert_eq!(engine.events(), 1);
    /// # Ok::<(), yingji::api::ApiError>(())
    /// ```
    pub fn push(&mut self, line: &str) -> Result<Vec<Output>, ApiError> {
        self.seq += 1;
        self.check_length(line)?;
        let mut out = Vec::new();
        self.engine
            .push_line(line, self.seq, &mut out)
            .map_err(line_error)?;
        Ok(out)
    }

    fn check_length(&self, line: &str) -> Result<(), ApiError> {
        let max = self.engine.config().max_line;
        if line.len() > max {
            return Err(ApiError::new(
                ErrorCode::Event,
                format!(
                    "the event is {} bytes long, longer than the max_line setting ({max} bytes); nothing was applied",
                    line.len()
                ),
            )
            .with_detail("too_long", &[]));
        }
        Ok(())
    }

    /// [`JsonEngine::push`] with the outputs as a JSON array.
    pub fn push_json(&mut self, line: &str) -> Result<String, ApiError> {
        self.push(line).map(|o| outputs_json(&o))
    }

    /// Applies a batch: JSONL (one event per line; blank lines skipped but
    /// numbered) or,
    /// when the text starts with `[`, a JSON array of event objects. Refused
    /// events are listed in [`Batch::rejected`] and do not stop the batch;
    /// only an array that is not valid JSON fails as a whole (nothing applied).
    ///
    /// ```
    /// use yingji::api::Defs;
    /// let defs = Defs::from_text("a.yj",
    ///     "event rain { station: string, mm: number }\n\
    ///      signal s { from rain key station let r = sum(mm, 1h) level red when r >= 10 }");
    /// let mut engine = defs.engine()?;
    /// let batch = engine.push_batch(concat!(
    ///     r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":4}"#, "\n",
    ///     "\n",
    ///     r#"{"ts":"2024-07-29T01:10:00+08:00","kind":"rain","station":"A","mm":"lots"}"#, "\n",
    ///     r#"{"ts":"2024-07-29T01:20:00+08:00","kind":"rain","station":"A","mm":6}"#, "\n",
    /// ))?;
    /// assert_eq!(batch.accepted, 2);
    /// assert_eq!(batch.outputs.len() + engine.flush().len(), 1);
    /// assert_eq!((batch.rejected[0].event, batch.rejected[0].index), (3, 3));
    ///
    /// // the same as an array
    /// let mut engine = defs.engine()?;
    /// let batch = engine.push_batch(r#"[{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":12}, 7]"#)?;
    /// assert_eq!((batch.accepted, batch.rejected[0].code), (1, "malformed_json"));
    /// assert_eq!(engine.flush().len(), 1);
    /// # Ok::<(), yingji::api::ApiError>(())
    /// ```
    pub fn push_batch(&mut self, batch: &str) -> Result<Batch, ApiError> {
        let mut result = Batch::default();
        if batch.trim_start().starts_with('[') {
            let items: Vec<serde_json::Value> = serde_json::from_str(batch).map_err(|e| {
                ApiError::new(
                    ErrorCode::MalformedJson,
                    format!("the batch is not a JSON array: {e}"),
                )
            })?;
            for (i, item) in items.iter().enumerate() {
                let line = if item.is_object() {
                    item.to_string()
                } else {
                    // let the engine word the refusal, as for a JSONL line
                    format!("{item}")
                };
                self.push_into(&line, i as u64 + 1, &mut result);
            }
        } else {
            for (i, line) in batch.split('\n').enumerate() {
                let line = line.strip_suffix('\r').unwrap_or(line);
                if line.trim().is_empty() {
                    // numbered like `yingji run` numbers lines (not after a final newline)
                    if i + 1 < batch.split('\n').count() {
                        self.seq += 1;
                    }
                    continue;
                }
                self.push_into(line, i as u64 + 1, &mut result);
            }
        }
        Ok(result)
    }

    fn push_into(&mut self, line: &str, index: u64, result: &mut Batch) {
        self.seq += 1;
        let pushed = self.check_length(line).and_then(|()| {
            self.engine
                .push_line(line, self.seq, &mut result.outputs)
                .map_err(line_error)
        });
        match pushed {
            Ok(()) => result.accepted += 1,
            Err(e) => {
                result.rejected.push(Rejected {
                    event: self.seq,
                    index,
                    code: e.code.name(),
                    message: e.message,
                    detail: e.detail,
                });
            }
        }
    }

    /// [`JsonEngine::push_batch`] as JSON ([`Batch::to_json`]).
    pub fn push_batch_json(&mut self, batch: &str) -> Result<String, ApiError> {
        self.push_batch(batch).map(|b| b.to_json())
    }

    /// How many events have been pushed (accepted or refused).
    pub fn events(&self) -> u64 {
        self.seq
    }

    /// The current level of `key` in `signal` (`"none"`, `"blue"`, ...
    /// `"red"`); `"none"` for unknown signals and keys.
    pub fn level(&self, signal: &str, key: &str) -> String {
        serde_json::to_value(self.engine.level(signal, key))
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// End of stream: releases every event held back for lateness and
    /// returns the outputs they cause. Pushing may continue afterwards (later
    /// events older than the flushed ones are then late).
    pub fn flush(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        self.engine.flush(&mut out);
        out
    }

    /// [`JsonEngine::flush`] with the outputs as a JSON array.
    pub fn flush_json(&mut self) -> String {
        outputs_json(&self.flush())
    }

    /// The stream's clock: the event time the engine has reached, as RFC
    /// 3339 text in the offset the event that set it was written in; `None`
    /// before the first event (or [`JsonEngine::advance_to`]).
    ///
    /// ```
    /// use yingji::api::Defs;
    /// let defs = Defs::from_text("a.yj",
    ///     "event rain { station: string, mm: number }\n\
    ///      signal s { from rain key station level red when mm >= 10 }");
    /// let mut engine = defs.engine()?;
    /// assert_eq!(engine.clock(), None);
    /// engine.push(r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":1}"#)?;
    /// assert_eq!(engine.clock().as_deref(), Some("2024-07-29T01:00:00+08:00"));
    /// # Ok::<(), yingji::api::ApiError>(())
    /// ```
    pub fn clock(&self) -> Option<String> {
        self.engine.clock().map(|t| t.to_string())
    }

    /// Moves the clock to `ts` (RFC 3339 text with an offset) as if an empty
    /// event stamped `ts` had arrived, and returns what that releases: events
    /// held back for the lateness, timers and absences due by then. A time at
    /// or before the clock changes nothing (and returns no outputs). Text that
    /// is not a timestamp is [`ErrorCode::InvalidArgument`], naming the text;
    /// the engine is unchanged. No event number is taken.
    ///
    /// ```
    /// use yingji::api::{Defs, ErrorCode};
    /// let defs = Defs::from_text("a.yj",
    ///     "event rain { station: string, mm: number }\n\
    ///      signal 失联 { from rain key station missing 30m }");
    /// let mut engine = defs.engine()?;
    /// engine.push(r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":0}"#)?;
    /// let out = engine.advance_to("2024-07-29T02:00:00+08:00")?;
    /// assert_eq!(out.len(), 1);
    /// assert!(out[0].to_json().contains(r#""type":"absence""#), "{}", out[0].to_json());
    /// let err = engine.advance_to("tomorrow").unwrap_err();
    /// assert_eq!(err.code, ErrorCode::InvalidArgument);
    /// assert!(err.message.contains("`tomorrow`"), "{}", err.message);
    /// # Ok::<(), yingji::api::ApiError>(())
    /// ```
    pub fn advance_to(&mut self, ts: &str) -> Result<Vec<Output>, ApiError> {
        let ts = timestamp(ts, "the time to advance to")?;
        let mut out = Vec::new();
        self.engine.advance_to(ts, &mut out);
        Ok(out)
    }

    /// [`JsonEngine::advance_to`] with the outputs as a JSON array.
    pub fn advance_to_json(&mut self, ts: &str) -> Result<String, ApiError> {
        self.advance_to(ts).map(|o| outputs_json(&o))
    }

    /// End of input: releases every event held back for lateness (as
    /// [`JsonEngine::flush`]), then, with `until` (RFC 3339 text), runs the clock
    /// to `until` so that timers and absences due by then fire. `until`
    /// earlier than the clock, or text that is not a timestamp, is
    /// [`ErrorCode::InvalidArgument`] and changes nothing.
    ///
    /// ```
    /// use yingji::api::{Defs, ErrorCode};
    /// let defs = Defs::from_text("a.yj",
    ///     "event rain { station: string, mm: number }\n\
    ///      signal 失联 { from rain key station missing 30m }");
    /// let mut engine = defs.engine()?;
    /// engine.push(r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":0}"#)?;
    /// let err = engine.finish(Some("2024-07-29T00:00:00+08:00")).unwrap_err();
    /// assert_eq!(err.code, ErrorCode::InvalidArgument);
    /// let out = engine.finish(Some("2024-07-29T01:45:00+08:00"))?;
    /// assert_eq!(out.len(), 1); // the absence due at 01:30
    /// # Ok::<(), yingji::api::ApiError>(())
    /// ```
    pub fn finish(&mut self, until: Option<&str>) -> Result<Vec<Output>, ApiError> {
        let until = until
            .map(|u| timestamp(u, "the end-of-input time"))
            .transpose()?;
        let mut out = Vec::new();
        self.engine
            .finish(until, &mut out)
            .map_err(|e| ApiError::new(ErrorCode::InvalidArgument, e.to_string()))?;
        Ok(out)
    }

    /// [`JsonEngine::finish`] with the outputs as a JSON array.
    pub fn finish_json(&mut self, until: Option<&str>) -> Result<String, ApiError> {
        self.finish(until).map(|o| outputs_json(&o))
    }

    /// The engine's complete state as a JSON document (the engine's state
    /// format, as `yingji run --state` writes it, plus this boundary's event
    /// count as `"api_events"`), to resume with [`JsonEngine::restore`].
    ///
    /// ```
    /// use yingji::api::Defs;
    /// let defs = Defs::from_text("a.yj",
    ///     "event rain { station: string, mm: number }\n\
    ///      signal s { from rain key station let r = sum(mm, 1h) level red when r >= 10 }");
    /// let mut first = defs.engine()?;
    /// first.push(r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":6}"#)?;
    /// let snapshot = first.snapshot()?;
    ///
    /// let mut second = defs.engine()?;
    /// assert_eq!(second.restore(&snapshot)?, r#"{"kept":["s"],"reset":[]}"#);
    /// second.push(r#"{"ts":"2024-07-29T01:10:00+08:00","kind":"rain","station":"A","mm":6}"#)?;
    /// let out = second.flush();
    /// assert_eq!(out.len(), 1);
    /// assert!(out[0].to_json().contains(r#""to":"red""#));
    /// assert_eq!(second.events(), 2);
    /// # Ok::<(), yingji::api::ApiError>(())
    /// ```
    pub fn snapshot(&self) -> Result<String, ApiError> {
        let bytes = self.engine.snapshot();
        let mut doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("the engine wrote an unreadable snapshot: {e}"),
            )
        })?;
        let Some(members) = doc.as_object_mut() else {
            return Err(ApiError::new(
                ErrorCode::Internal,
                "the engine's snapshot is not a JSON object",
            ));
        };
        members.insert("api_events".into(), serde_json::Value::from(self.seq));
        // the document changed: its checksum covers `api_events` too
        let sum = yingji_engine::state::checksum(&doc);
        if let Some(members) = doc.as_object_mut() {
            members.insert("checksum".into(), sum.into());
        }
        Ok(doc.to_string())
    }

    /// Replaces the engine's state with a snapshot taken from an engine over
    /// the same (or changed) definitions; returns what was kept and what was
    /// reset, as JSON: `{"kept":["暴雨预警"],"reset":[]}` (a signal whose
    /// definition changed starts afresh). [`ErrorCode::MalformedJson`] for
    /// text that is not JSON, [`ErrorCode::State`] for a document that is not
    /// a usable snapshot; either way the engine is unchanged.
    ///
    /// ```
    /// use yingji::api::{Defs, ErrorCode};
    /// let mut engine = Defs::from_text("a.yj", "event rain { mm: number }").engine()?;
    /// assert_eq!(engine.restore("{").unwrap_err().code, ErrorCode::MalformedJson);
    /// assert_eq!(engine.restore("{}").unwrap_err().code, ErrorCode::State);
    /// # Ok::<(), yingji::api::ApiError>(())
    /// ```
    pub fn restore(&mut self, snapshot_json: &str) -> Result<String, ApiError> {
        let doc: serde_json::Value = serde_json::from_str(snapshot_json).map_err(|e| {
            ApiError::new(
                ErrorCode::MalformedJson,
                format!("the snapshot is not JSON: {e}"),
            )
        })?;
        let report = self.engine.restore(snapshot_json.as_bytes()).map_err(|e| {
            let err = ApiError::new(ErrorCode::State, e.to_string());
            match e {
                yingji_engine::state::StateError::Settings { field, .. } => {
                    err.with_detail("config_mismatch", &[("field", field)])
                }
                _ => err,
            }
        })?;
        if let Some(n) = doc.get("api_events").and_then(serde_json::Value::as_u64) {
            self.seq = n;
        }
        serde_json::to_string(&report)
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("restore report: {e}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]
    use super::*;

    const RAIN: &str = "event rain { station: string, mm: number }\n\
        signal s { from rain key station let r = sum(mm, 1h) level red when r >= 10 }";

    #[test]
    fn codes_are_stable() {
        let nums: Vec<i32> = ErrorCode::ALL.iter().map(|c| c.as_i32()).collect();
        assert_eq!(nums, (1..=12).collect::<Vec<_>>());
    }

    #[test]
    fn refused_event_changes_nothing_and_is_numbered() {
        let mut e = Defs::from_text("a.yj", RAIN).engine().unwrap();
        let ok = r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":12}"#;
        let other = r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"B","mm":1}"#;
        let ahead = r#"{"ts":"2024-08-29T00:00:00+08:00","kind":"rain","station":"A","mm":0}"#;
        assert_eq!(e.push(ok).unwrap().len(), 0);
        assert_eq!(e.push(other).unwrap().len(), 0);
        let err = e.push(ahead).unwrap_err();
        assert_eq!(err.code, ErrorCode::Event);
        assert!(
            err.message.starts_with("clock_suspect: A sent"),
            "{}",
            err.message
        );
        assert_eq!(e.flush().len(), 1);
        assert_eq!(e.level("s", "A"), "red");
        assert_eq!(e.events(), 3);
        let err =
            e.push(r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":"x"}"#);
        assert_eq!(err.unwrap_err().code, ErrorCode::Event);
        assert_eq!(e.push("[1,2]").unwrap_err().code, ErrorCode::MalformedJson);
    }

    #[test]
    fn bad_array_batch_applies_nothing() {
        let mut e = Defs::from_text("a.yj", RAIN).engine().unwrap();
        let err = e.push_batch("[{\"ts\":").unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedJson);
        assert_eq!(e.events(), 0);
    }

    #[test]
    fn summary_of_failed_definitions() {
        let d = Defs::from_text("bad.yj", "event rain { mm: numbr }");
        let s: serde_json::Value = serde_json::from_str(&d.summary_json()).unwrap();
        assert_eq!(s["ok"], false);
        assert_eq!(s["files"], 1);
        assert_eq!(s["errors"], 1);
        let s: serde_json::Value =
            serde_json::from_str(&Defs::from_paths(&["/no/such"]).summary_json()).unwrap();
        assert_eq!(s["files"], 0);
    }

    #[test]
    fn failed_restore_changes_nothing() {
        let mut e = Defs::from_text("a.yj", RAIN).engine().unwrap();
        e.push(r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":12}"#)
            .unwrap();
        assert_eq!(e.restore("{").unwrap_err().code, ErrorCode::MalformedJson);
        let err = e
            .restore(r#"{"format":"yingji-state","version":999}"#)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::State);
        assert!(err.message.contains("version 999"), "{}", err.message);
        assert_eq!(e.events(), 1);
        assert_eq!(e.flush().len(), 1);
        assert_eq!(e.level("s", "A"), "red");
    }

    const SILENT: &str = "event rain { station: string, mm: number }\n\
        signal 失联 { from rain key station missing 30m }";

    fn kinds(out: &[Output]) -> Vec<String> {
        out.iter()
            .map(|o| {
                let v: serde_json::Value = serde_json::from_str(&o.to_json()).unwrap();
                format!(
                    "{} {}",
                    v["type"].as_str().unwrap(),
                    v["ts"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn advance_to_fires_absences_and_earlier_times_change_nothing() {
        let mut e = Defs::from_text("a.yj", SILENT).engine().unwrap();
        assert_eq!(e.clock(), None);
        e.push(r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":0}"#)
            .unwrap();
        assert_eq!(e.advance_to("2024-07-29T01:20:00+08:00").unwrap(), vec![]);
        assert_eq!(e.clock().as_deref(), Some("2024-07-29T01:20:00+08:00"));
        // earlier than the clock: nothing, and the clock stays
        assert_eq!(e.advance_to("2024-07-29T00:00:00+08:00").unwrap(), vec![]);
        assert_eq!(e.clock().as_deref(), Some("2024-07-29T01:20:00+08:00"));
        let out = e.advance_to("2024-07-29T02:00:00+08:00").unwrap();
        assert_eq!(kinds(&out), ["absence 2024-07-29T01:30:00+08:00"]);
        let id: serde_json::Value = serde_json::from_str(&out[0].to_json()).unwrap();
        assert_eq!(id["id"], 1);
        // the same time again: nothing more
        assert_eq!(
            e.advance_to_json("2024-07-29T02:00:00+08:00").unwrap(),
            "[]"
        );
        assert_eq!(e.events(), 1, "advancing takes no event number");
    }

    #[test]
    fn bad_timestamps_name_the_text_and_change_nothing() {
        let mut e = Defs::from_text("a.yj", SILENT).engine().unwrap();
        e.push(r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":0}"#)
            .unwrap();
        for bad in ["soon", "2024-07-29T02:00:00", "2024-13-01T00:00:00Z"] {
            let err = e.advance_to(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument);
            assert!(err.message.contains(&format!("`{bad}`")), "{}", err.message);
            let err = e.finish(Some(bad)).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument);
            assert!(err.message.contains(&format!("`{bad}`")), "{}", err.message);
        }
        assert_eq!(e.clock().as_deref(), Some("2024-07-29T01:00:00+08:00"));
    }

    #[test]
    fn finish_until_runs_the_clock_and_refuses_earlier_times() {
        let mut e = Defs::from_text("a.yj", SILENT).engine().unwrap();
        e.push(r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":0}"#)
            .unwrap();
        let err = e.finish(Some("2024-07-29T00:59:59+08:00")).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(err.message.contains("already at"), "{}", err.message);
        assert_eq!(e.clock().as_deref(), Some("2024-07-29T01:00:00+08:00"));
        let out = e.finish(Some("2024-07-29T03:00:00+08:00")).unwrap();
        assert_eq!(kinds(&out), ["absence 2024-07-29T01:30:00+08:00"]);
        assert_eq!(e.clock().as_deref(), Some("2024-07-29T03:00:00+08:00"));
        assert_eq!(e.finish(None).unwrap(), vec![]);
    }

    #[test]
    fn blank_lines_are_numbered_like_the_cli() {
        let mut e = Defs::from_text("a.yj", RAIN).engine().unwrap();
        let b = e
            .push_batch("\n{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"mm\":12}\n")
            .unwrap();
        let out = [b.outputs, e.flush()].concat();
        assert!(
            out[0].to_json().contains(r#""event":2"#),
            "{}",
            out[0].to_json()
        );
        assert_eq!(e.events(), 2);
    }

    #[test]
    fn config_errors_name_the_setting() {
        let d = Defs::from_text("a.yj", SILENT);
        for (json, field) in [
            (r#"{"lateness":"5 minutes"}"#, "lateness"),
            (r#"{"late":"drop"}"#, "late"),
            (r#"{"max_ahead":"never"}"#, "max_ahead"),
            // shorter than the signal's `missing 30m`
            (r#"{"idle_ttl":"10m"}"#, "idle_ttl"),
            (r#"{"dedupe_kind_key_ts":"yes"}"#, "dedupe_kind_key_ts"),
            (r#"{"max_line":0}"#, "max_line"),
            (r#"{"lateness":"5m","colour":"red"}"#, "colour"),
        ] {
            let err = d.engine_with(json).unwrap_err();
            assert_eq!(err.code, ErrorCode::Config, "{json}");
            assert_eq!(err.reason(), Some("bad_config"), "{json}");
            assert_eq!(err.detail["field"], field, "{json}: {}", err.message);
            assert!(
                err.message.contains(&format!("`{field}`")),
                "{json}: {}",
                err.message
            );
        }
        assert_eq!(d.engine_with("[1]").unwrap_err().code, ErrorCode::Config);
    }

    #[test]
    fn restore_refusing_a_setting_names_it() {
        let d = Defs::from_text("a.yj", RAIN);
        let mut e = d.engine().unwrap();
        e.push(r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":12}"#)
            .unwrap();
        let snap = e.snapshot().unwrap();
        for (json, field) in [
            (r#"{"lateness":"10m"}"#, "lateness"),
            (r#"{"dedupe_kind_key_ts":true}"#, "dedupe_kind_key_ts"),
        ] {
            let mut other = d.engine_with(json).unwrap();
            let err = other.restore(&snap).unwrap_err();
            assert_eq!(err.code, ErrorCode::State, "{json}");
            assert_eq!(err.reason(), Some("config_mismatch"));
            assert_eq!(err.detail["field"], field);
            assert_eq!(other.events(), 0, "unchanged");
        }
        let mut other = d
            .engine_with(r#"{"max_ahead":"7d","late":"apply"}"#)
            .unwrap();
        other.restore(&snap).unwrap();
        assert_eq!(other.flush().len(), 1);
    }

    #[test]
    fn event_errors_have_reasons() {
        let mut e = Defs::from_text("a.yj", RAIN)
            .engine_with(r#"{"max_line":200}"#)
            .unwrap();
        let long = format!(
            r#"{{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"{}","mm":1}}"#,
            "A".repeat(200)
        );
        let cases = [
            ("{not json", "not_json"),
            (r#"{"kind":"rain","station":"A","mm":1}"#, "missing_member"),
            (
                r#"{"ts":"yesterday","kind":"rain","station":"A","mm":1}"#,
                "bad_timestamp",
            ),
            (
                r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":"x"}"#,
                "wrong_type",
            ),
            (
                r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A"}"#,
                "missing_field",
            ),
            (
                r#"{"ts":"2024-07-29T01:00:00+08:00","ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":1}"#,
                "duplicate_member",
            ),
            (long.as_str(), "too_long"),
        ];
        for (line, reason) in cases {
            let err = e.push(line).unwrap_err();
            assert_eq!(err.reason(), Some(reason), "{line}: {}", err.message);
            assert!(err.to_json().contains(&format!(r#""reason":"{reason}""#)));
        }
        let b = e.push_batch("{oops\n").unwrap();
        assert_eq!(b.rejected[0].detail["reason"], "not_json");
    }
}
