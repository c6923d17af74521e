//! # yingji — 应急
//!
//! A rule-and-workflow engine for county emergency management: warning
//! signals over sliding windows of sensor data, emergency plans, assessments.
//! This facade crate is the stable API; [`engine`] and [`dsl`] are the parts.
//!
//! ```
//! use yingji::Definitions;
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
//! let mut engine = defs.engine().unwrap();
//! let mut out = Vec::new();
//! for (i, mm) in [30.0, 25.0].iter().enumerate() {
//!     let line = format!(r#"{{"ts":"2024-07-29T0{i}:00:00+08:00","kind":"rain","station":"YY-001","mm":{mm}}}"#);
//!     engine.push_line(&line, i as u64 + 1, &mut out).unwrap();
//! }
//! engine.flush(&mut out); // end of input: release what the lateness held back
//! let json = out[0].to_json();
//! assert!(json.contains(r#""to":"orange""#), "{json}");
//! ```

pub use yingji_dsl as dsl;
pub use yingji_engine as engine;

pub mod api;
pub mod bench;

pub use yingji_dsl::diag::{Diagnostic, Severity, SourceMap};
pub use yingji_engine::{Engine, Event, Level, Output, Program, Timestamp, Value};

pub mod stream;

use std::path::PathBuf;
use yingji_dsl::load::{FsLoader, Loaded, Loader, MemLoader, load};

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

/// Validated, compiled definitions.
#[derive(Debug)]
pub struct Definitions {
    /// The compiled program.
    pub program: Program,
    /// Warnings (never errors).
    pub warnings: Vec<Diagnostic>,
    /// The source files, for rendering warnings.
    pub sources: SourceMap,
    /// How many files were loaded.
    pub files: usize,
    /// Emergency plans, chains and rosters.
    pub plans: yingji_engine::workflow::PlanSet,
    /// Assessments, accident gradings, reporting deadlines.
    pub assess: yingji_engine::assess::AssessProgram,
}

impl Definitions {
    /// Loads definitions from any [`Loader`].
    pub fn load(loader: &dyn Loader) -> Result<Definitions, LoadError> {
        Self::from_loaded(load(loader))
    }

    /// Loads `.yj` / YAML files and folders (links are followed only inside
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
        Ok(Definitions {
            program: l.program,
            warnings: l.diagnostics,
            sources: l.sources,
            files: l.files,
            plans: l.plans,
            assess: l.assess,
        })
    }

    /// A fresh engine over these definitions.
    ///
    /// Fails only if the program is structurally invalid, which the DSL never
    /// produces (see [`Program::validate`]).
    pub fn engine(&self) -> Result<Engine, yingji_engine::ir::ProgramError> {
        self.engine_with(yingji_engine::Config::default())
    }

    /// A fresh engine with explicit run settings (lateness, late policy, …).
    pub fn engine_with(
        &self,
        config: yingji_engine::Config,
    ) -> Result<Engine, yingji_engine::ir::ProgramError> {
        let engine =
            Engine::with_config(self.program.clone(), config)?.with_deadlines(self.assess.clone());
        Ok(if self.plans.plans.is_empty() {
            engine
        } else {
            engine.with_plans(self.plans.clone())
        })
    }
}
