//! Emergency plans, responsibility chains and rosters from YAML: loading with
//! source locations, validation with `file:line:col` diagnostics (every
//! problem at once), and lowering to [`yingji_engine::workflow::ir`].
//!
//! ```
//! use yingji_dsl::{SourceMap, plan::load_plan_texts};
//! let plan = "plan: 演练\ntriggers: [{ manual: true }]\nsteps:\n  - { id: 通知, notify: role/值班员 }\n  - { id: 结束, close: { verify: [核实] } }\n";
//! let roster = "roster: 名册\npeople:\n  - { id: P1, name: 张三, role: 值班员, area: 县 }\n";
//! let mut sources = SourceMap::default();
//! let loaded = load_plan_texts(&mut sources, &[("p.yaml".into(), plan.into()), ("r.yaml".into(), roster.into())], None);
//! assert!(!loaded.has_errors());
//! assert_eq!(loaded.set.plans[0].steps.len(), 2);
//! ```

pub mod check;
pub mod cond;
pub mod yaml;

use crate::diag::{Diagnostic, FileId, SourceMap};
use yingji_engine::ir::Program;
use yingji_engine::workflow::ir::PlanSet;

/// What a plan load produced.
#[derive(Debug, Default)]
pub struct PlanLoad {
    /// The lowered plans, chains and roster (complete only without errors).
    pub set: PlanSet,
    /// Errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// How many plan documents were read.
    pub files: usize,
}

impl PlanLoad {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// The top-level keys that make a YAML document a plan document.
pub const PLAN_KEYS: [&str; 5] = ["plan", "chains", "roster", "people", "areas"];

/// Whether a YAML text is a plan, chain or roster document (its top-level
/// mapping has `plan`, `chains`, `roster`, `people` or `areas`).
pub fn is_plan_yaml(text: &str) -> bool {
    serde_saphyr::from_str::<crate::yaml::OrderedMap<serde::de::IgnoredAny>>(text)
        .map(|m| {
            m.0.iter()
                .any(|(k, _)| PLAN_KEYS.contains(&k.value.as_str()))
        })
        .unwrap_or(false)
}

/// Validates and lowers the plan documents among `files` (already in
/// `sources`). With a `program`, signal names and area fields are checked
/// against it; without one, only the plan files themselves are checked.
pub fn load_plans(sources: &SourceMap, files: &[FileId], program: Option<&Program>) -> PlanLoad {
    check::check(sources, files, program)
}

/// Adds `(name, text)` pairs to `sources` and loads those that are plan
/// documents (see [`is_plan_yaml`]).
pub fn load_plan_texts(
    sources: &mut SourceMap,
    texts: &[(String, String)],
    program: Option<&Program>,
) -> PlanLoad {
    let ids: Vec<FileId> = texts
        .iter()
        .filter(|(_, t)| is_plan_yaml(t))
        .map(|(n, t)| sources.add(n, t))
        .collect();
    load_plans(sources, &ids, program)
}
