//! # yingji — 应急
//!
//! A rule-and-workflow engine for county emergency management: warning
//! signals over sliding windows of sensor data, emergency plans (叫应 call
//! chains, measures, response levels), assessments and reporting deadlines.
//!
//! This crate is the stable API (see `docs/semver.md`). What a county system
//! needs is here, named deliberately:
//!
//! | item | what it is |
//! |---|---|
//! | [`Definitions`] | `.yj` / YAML definitions, loaded and checked ([`Definitions::from_str`], [`Definitions::from_paths`], [`Definitions::load`]); [`LoadError`] with every [`Diagnostic`] when they do not compile |
//! | [`Config`] | the one run configuration (lateness, late policy, far-ahead guard, idle expiry, duplicates, `max_line`): validated, with a JSON form ([`Config::from_json`]); a bad value is a [`ConfigError`] naming the setting |
//! | [`Engine`] | a running engine: [`Engine::push_line`], [`Engine::push`], [`Engine::flush`], [`Engine::advance_to`], [`Engine::finish`], [`Engine::level`], [`Engine::snapshot`] / [`Engine::restore`] |
//! | [`Output`] | what the engine says, one variant per output `type` ([`Output::type_name`]); the payloads are in [`output`] (e.g. [`output::LevelChange`], [`output::Notify`], [`output::Notice`]); `Serialize` and `Deserialize`, byte for byte |
//! | [`stream`] | (feature `stream`, on by default) the tokio API: sources of lines in, outputs out, with backpressure, typed rejections and a [`stream::Handle`] to query the engine while it runs |
//! | [`api`] | the text boundary the C, Python and Java bindings call: everything in and out is UTF-8 or JSON |
//! | [`unstable`] | the `yingji-engine` and `yingji-dsl` crates themselves: internals, no stability promise |
//!
//! ```
//! use yingji::{Config, Definitions};
//! let defs = Definitions::from_str("rain.yj", r#"
//!     event rain { station: string, mm: number }
//!     signal 暴雨 {
//!       from rain
//!       key station
//!       let r3 = sum(mm, 3h)
//!       level red    when r3 >= 100
//!       level orange when r3 >= 50
//!     }
//! "#).unwrap();
//! let mut engine = defs.engine_with(Config::from_json(r#"{"lateness":"0s"}"#)?)?;
//! let mut out = Vec::new();
//! for (i, mm) in [30.0, 25.0].iter().enumerate() {
//!     let line = format!(r#"{{"ts":"2024-07-29T0{i}:00:00+08:00","kind":"rain","station":"YY-001","mm":{mm}}}"#);
//!     engine.push_line(&line, i as u64 + 1, &mut out)?;
//! }
//! engine.flush(&mut out); // end of input: release what the lateness held back
//! assert_eq!(out[0].type_name(), "level_changed");
//! assert!(matches!(&out[0], yingji::Output::LevelChanged(c) if c.to == yingji::Level::Orange));
//! assert_eq!(engine.level("暴雨", "YY-001"), yingji::Level::Orange);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The engine, method by method
//!
//! Event positions (`seq`) are the caller's: `yingji run` uses line numbers,
//! and outputs name the event that caused them by it (`"event": 2`).
//!
//! ```
//! use yingji::{Definitions, Level, Output, Timestamp};
//! let defs = Definitions::from_str("a.yj",
//!     "event rain { station: string, mm: number }\n\
//!      signal 暴雨 { from rain key station let r = sum(mm, 1h) level red when r >= 10 }\n\
//!      signal 失联 { from rain key station missing 30m }")?;
//! let mut engine = defs.engine()?;
//! let mut out: Vec<Output> = Vec::new();
//!
//! // push_line: one JSON object; a refused line changes nothing
//! engine.push_line(r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":6}"#, 1, &mut out)?;
//! assert!(engine.push_line(r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":"x"}"#, 2, &mut out).is_err());
//!
//! // push: an event parsed already (Engine::parse_event)
//! let ev = engine.parse_event(r#"{"ts":"2024-07-29T01:10:00+08:00","kind":"rain","station":"A","mm":6}"#, 3)?;
//! engine.push(&ev, &mut out)?;
//! assert!(out.is_empty(), "held back for the allowed lateness (5 minutes)");
//!
//! // snapshot / restore: the complete state, as bytes (JSON)
//! let state = engine.snapshot();
//! let mut again = defs.engine()?;
//! let report = again.restore(&state)?;
//! assert_eq!(report.kept, ["失联", "暴雨"]); // by name
//!
//! // flush: release what the lateness holds back
//! engine.flush(&mut out);
//! assert_eq!(out.len(), 1);
//! assert_eq!(engine.level("暴雨", "A"), Level::Red);
//!
//! // advance_to: the clock moves without an event (absences, timers)
//! out.clear();
//! engine.advance_to(Timestamp::parse("2024-07-29T02:00:00+08:00")?, &mut out);
//! assert_eq!(out[0].type_name(), "absence");
//!
//! // finish: end of input, optionally running the clock on
//! out.clear();
//! engine.finish(Some(Timestamp::parse("2024-07-29T03:00:00+08:00")?), &mut out)?;
//! assert_eq!(engine.clock().map(|t| t.to_string()).as_deref(), Some("2024-07-29T03:00:00+08:00"));
//!
//! // the restored engine goes on as the first would have
//! out.clear();
//! again.flush(&mut out);
//! assert_eq!(again.level("暴雨", "A"), Level::Red);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A setting a saved state depends on (the lateness, duplicate detection by
//! kind, key and time) must be the same when it is restored:
//!
//! ```
//! use yingji::{Config, Definitions, StateError};
//! let defs = Definitions::from_str("a.yj", "event rain { station: string, mm: number }")?;
//! let state = defs.engine()?.snapshot();
//! let mut other = defs.engine_with(Config::from_json(r#"{"lateness":"10m"}"#)?)?;
//! let e = other.restore(&state).unwrap_err();
//! assert!(matches!(e, StateError::Settings { field: "lateness", .. }), "{e}");
//! // the far-ahead guard may change (after an outage longer than a day)
//! let mut relaxed = defs.engine_with(Config::from_json(r#"{"max_ahead":"7d"}"#)?)?;
//! assert!(relaxed.restore(&state).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Cargo features
//!
//! - `stream` (default): the tokio API ([`stream`]); pulls in tokio
//!   (current-thread runtime pieces) and futures.
//! - `cli` (default): the `yingji` command-line program (clap, indicatif,
//!   the bench harness `yingji-bench`). An embedder that needs neither
//!   writes `yingji = { version = "…", default-features = false }`.

pub mod api;
pub mod output;
pub mod partitioned;
#[cfg(feature = "stream")]
pub mod stream;

pub mod unstable {
    //! **Unstable**: the internal crates, for tools, tests and the CLI.
    //!
    //! Nothing under this module is covered by the semver policy
    //! (`docs/semver.md`): types, paths and signatures may change in any
    //! release. Use the items at the crate root instead; ask for what is
    //! missing there.
    pub use yingji_dsl as dsl;
    pub use yingji_engine as engine;
}

pub use yingji_dsl::diag::{Diagnostic, Severity, SourceMap};
pub use yingji_engine::config::ConfigError;
pub use yingji_engine::engine::ClockError;
pub use yingji_engine::ir::ProgramError;
pub use yingji_engine::state::{RestoreReport, StateError};
pub use yingji_engine::{
    Config, Engine, Event, EventError, LatePolicy, Level, LineError, Output, PushError, Stats,
    Timestamp, Value,
};

/// Why [`Definitions::engine_with`] made no engine.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A setting that cannot be used (alone, or with these definitions: an
    /// idle expiry shorter than a signal's `missing`).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A program the engine refuses (never one the DSL produced).
    #[error(transparent)]
    Program(#[from] ProgramError),
}

use std::path::PathBuf;
use yingji_dsl::load::{FsLoader, Loaded, load};
pub use yingji_dsl::load::{Loader, MemLoader};
use yingji_engine::ir::Program;

/// Definitions that failed to load: every diagnostic, renderable.
#[derive(thiserror::Error)]
#[error("{rendered}")]
pub struct LoadError {
    /// The rendered diagnostics (rustc style).
    pub rendered: String,
    /// The diagnostics themselves.
    pub diagnostics: Vec<Diagnostic>,
    /// The sources they point into.
    pub sources: SourceMap,
}

impl std::fmt::Debug for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the rendered diagnostics say everything; the source map would drown them
        write!(f, "LoadError:\n{}", self.rendered)
    }
}

impl LoadError {
    /// The diagnostics as a JSON array.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.diagnostics
                .iter()
                .map(|d| d.to_json(&self.sources))
                .collect(),
        )
    }
}

/// The span of signal `name`'s definition (from its `file:line:col`), or the
/// start of the first file.
fn signal_span(program: &Program, sources: &SourceMap, name: &str) -> yingji_dsl::diag::Span {
    let found = (|| {
        let at = &program.signals.iter().find(|s| s.name == name)?.at;
        let mut parts = at.rsplitn(3, ':');
        let col: usize = parts.next()?.parse().ok()?;
        let line: usize = parts.next()?.parse().ok()?;
        let file = parts.next()?;
        let id = (0..)
            .map_while(|i| sources.file(i).map(|f| (i, f)))
            .find(|(_, f)| &*f.name == file)?;
        let start = yingji_dsl::diag::offset_of(&id.1.text, line, col);
        Some(yingji_dsl::diag::Span::new(id.0, start, start))
    })();
    found.unwrap_or(yingji_dsl::diag::Span::new(0, 0, 0))
}

/// Validated, compiled definitions: signals, plans, assessments.
///
/// ```
/// use yingji::Definitions;
/// let defs = Definitions::from_str("rain.yj", "event rain { station: string, mm: number }\n\
///     signal 暴雨 { from rain key station level red when mm >= 50 }")?;
/// assert_eq!(defs.event_kinds().collect::<Vec<_>>(), ["rain"]);
/// assert_eq!(defs.signals().collect::<Vec<_>>(), ["暴雨"]);
/// assert!(defs.warnings().is_empty());
///
/// let bad = Definitions::from_str("bad.yj", "event rain { mm: numbr }").unwrap_err();
/// assert_eq!(bad.diagnostics[0].code, "E0105");
/// assert!(bad.rendered.contains("bad.yj:1:"), "{}", bad.rendered);
/// # Ok::<(), yingji::LoadError>(())
/// ```
#[derive(Debug)]
pub struct Definitions {
    /// What was loaded, without errors (its diagnostics are warnings).
    loaded: Loaded,
}

impl Definitions {
    /// Loads definitions from any [`Loader`]: files in memory
    /// ([`MemLoader`]: name and text), or a loader of your own (a database,
    /// an archive). `.yj`, YAML and `.rhai` files are told apart by name.
    ///
    /// ```
    /// use yingji::{Definitions, MemLoader};
    /// let defs = Definitions::load(&MemLoader(vec![
    ///     ("rain.yj".into(), "event rain { station: string, mm: number }".into()),
    ///     ("river.yj".into(), "event river { station: string, level_m: number }".into()),
    /// ]))?;
    /// assert_eq!(defs.files(), 2);
    /// assert_eq!(defs.event_kinds().collect::<Vec<_>>(), ["rain", "river"]);
    /// # Ok::<(), yingji::LoadError>(())
    /// ```
    pub fn load(loader: &dyn Loader) -> Result<Definitions, LoadError> {
        Self::from_loaded(load(loader))
    }

    /// Loads `.yj` / YAML files and folders (folders recursively); a path
    /// that cannot be read is an `E0004` diagnostic.
    ///
    /// ```
    /// let err = yingji::Definitions::from_paths(&["no/such/folder"]).unwrap_err();
    /// assert_eq!(err.diagnostics[0].code, "E0004");
    /// ```
    ///
    /// Links are followed only inside
    /// them: see [`yingji_dsl::load::FsFolders`]).
    pub fn from_paths<P: Into<PathBuf> + Clone>(paths: &[P]) -> Result<Definitions, LoadError> {
        Self::load(&FsLoader(paths.iter().cloned().map(Into::into).collect()))
    }

    /// [`Definitions::from_paths`], optionally following links (folder
    /// members, `.rhai` imports) to files outside the given paths.
    pub fn from_paths_with<P: Into<PathBuf> + Clone>(
        paths: &[P],
        allow_outside_roots: bool,
    ) -> Result<Definitions, LoadError> {
        Self::load(&yingji_dsl::load::FsFolders {
            paths: paths.iter().cloned().map(Into::into).collect(),
            allow_outside_roots,
        })
    }

    /// Loads one text; `name` ending in `.yaml`/`.yml` selects YAML, else `.yj`.
    /// The name appears in diagnostics and in outputs' `rule_at`.
    ///
    /// ```
    /// use yingji::Definitions;
    /// let defs = Definitions::from_str("rain.yj",
    ///     "event rain { station: string, mm: number }\n\
    ///      signal 暴雨 { from rain key station level red when mm >= 50 }")?;
    /// assert_eq!(defs.signals().collect::<Vec<_>>(), ["暴雨"]);
    ///
    /// let err = Definitions::from_str("bad.yj", "signal s { from nothing }").unwrap_err();
    /// assert!(err.diagnostics.iter().any(|d| d.is_error()));
    /// assert!(err.to_string().contains("bad.yj:1:"), "{err}");
    /// # Ok::<(), yingji::LoadError>(())
    /// ```
    #[allow(
        clippy::should_implement_trait,
        reason = "takes a file name as well as the text"
    )]
    pub fn from_str(name: &str, text: &str) -> Result<Definitions, LoadError> {
        Self::load(&MemLoader(vec![(name.to_string(), text.to_string())]))
    }

    fn from_loaded(mut l: Loaded) -> Result<Definitions, LoadError> {
        if !l.has_errors() {
            // what the engine would refuse is refused here, at load time, so
            // `check` agrees with `run` whatever the DSL missed (the DSL
            // reports a window longer than `ir::MAX_WINDOW_MS` at its span;
            // this is the safety net)
            if let Err(e) = l.program.validate() {
                let span = signal_span(&l.program, &l.sources, &e.signal);
                let d = if e.problem.starts_with("window length") {
                    Diagnostic::error(yingji_dsl::diag::codes::BAD_DURATION, span, e.to_string())
                        .label("a window of this signal is too long")
                        .hint("windows are at most 366d long (keep longer totals in a table or an assessment)")
                } else {
                    Diagnostic::error(yingji_dsl::diag::codes::SYNTAX, span, e.to_string())
                        .label("the lowered program is invalid (a bug in yingji; please report it)")
                };
                l.diagnostics.push(d);
            }
        }
        if l.has_errors() {
            return Err(LoadError {
                rendered: l.render(),
                diagnostics: l.diagnostics,
                sources: l.sources,
            });
        }
        Ok(Definitions { loaded: l })
    }

    /// Warnings (never errors): render them with [`Diagnostic::render`]
    /// and [`Definitions::sources`].
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.loaded.diagnostics
    }

    /// The source files, for rendering diagnostics.
    pub fn sources(&self) -> &SourceMap {
        &self.loaded.sources
    }

    /// How many files were loaded.
    pub fn files(&self) -> usize {
        self.loaded.files
    }

    /// The event kinds defined, in definition order.
    pub fn event_kinds(&self) -> impl Iterator<Item = &str> {
        self.loaded.program.kinds.iter().map(|k| k.name.as_str())
    }

    /// The signals defined, in definition order.
    pub fn signals(&self) -> impl Iterator<Item = &str> {
        self.loaded.program.signals.iter().map(|s| s.name.as_str())
    }

    /// The emergency plans defined.
    pub fn plans(&self) -> impl Iterator<Item = &str> {
        self.loaded.plans.plans.iter().map(|p| p.name.as_str())
    }

    /// How many 叫应 call chains are defined.
    pub fn chain_count(&self) -> usize {
        self.loaded.plans.chains.len()
    }

    /// Whether any `assessment` is defined (see [`api::Defs::assess`]).
    pub fn has_assessments(&self) -> bool {
        !self.loaded.assess.assessments.is_empty()
    }

    /// Also report every plan step an instance enters (`step_entered`
    /// outputs, as `yingji run --trace`), in engines made afterwards.
    pub fn set_trace(&mut self, on: bool) {
        self.loaded.plans.trace = on;
    }

    /// **Unstable**: the compiled program (an internal type, see [`unstable`]).
    pub fn unstable_program(&self) -> &Program {
        &self.loaded.program
    }

    /// **Unstable**: the compiled plans, chains and roster (see [`unstable`]).
    pub fn unstable_plans(&self) -> &yingji_engine::workflow::PlanSet {
        &self.loaded.plans
    }

    /// **Unstable**: the compiled assessments and deadlines (see [`unstable`]).
    pub fn unstable_assess(&self) -> &yingji_engine::assess::AssessProgram {
        &self.loaded.assess
    }

    /// A fresh engine over these definitions with the default [`Config`].
    ///
    /// ```
    /// let defs = yingji::Definitions::from_str("a.yj", "event rain { mm: number }")?;
    /// let engine = defs.engine()?;
    /// assert_eq!(engine.config(), &yingji::Config::default());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn engine(&self) -> Result<Engine, EngineError> {
        self.engine_with(Config::default())
    }

    /// A fresh engine with explicit settings. The settings are validated,
    /// alone and against these definitions: a bad value is a
    /// [`ConfigError`] naming the setting.
    ///
    /// ```
    /// use yingji::{Config, Definitions, EngineError};
    /// let defs = Definitions::from_str("a.yj", "event rain { station: string, mm: number }\n\
    ///     signal 失联 { from rain key station missing 2h }")?;
    /// let mut config = Config::default();
    /// config.max_ahead_ms = None; // no far-ahead guard
    /// assert!(defs.engine_with(config).is_ok());
    ///
    /// let short = Config::from_json(r#"{"idle_ttl":"1h"}"#)?; // fine alone …
    /// let Err(EngineError::Config(e)) = defs.engine_with(short) else { panic!() };
    /// assert_eq!(e.field(), Some("idle_ttl")); // … but shorter than `missing 2h`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn engine_with(&self, config: Config) -> Result<Engine, EngineError> {
        config.validate_for(&self.loaded.program)?;
        Ok(self.loaded.engine_with(config)?)
    }

    /// The partition field the definitions declare (`event rain partition
    /// by county { … }`), if any.
    pub fn partition_field(&self) -> Option<&str> {
        self.loaded.partition.as_ref().map(|p| p.field.as_str())
    }

    /// With a declared partition field, what makes one engine per
    /// partition value ([`partitioned::Partitioned`]) with these settings;
    /// `Ok(None)` without one.
    pub fn partitioned_kit(
        &self,
        config: Config,
    ) -> Result<Option<partitioned::EngineKit>, EngineError> {
        match self.partition_field() {
            None => Ok(None),
            Some(f) => partitioned::EngineKit::new(&self.loaded, f, config).map(Some),
        }
    }
}
