//! Emergency plans, responsibility chains and rosters from YAML: loading with
//! source locations ([`crate::syntax::yaml::plan`]), validation with
//! `file:line:col` diagnostics (every problem at once) and lowering to
//! [`yingji_engine::workflow::ir`] ([`crate::lower::plan`]); guards are typed
//! by the one typer ([`crate::check`]). This module keeps the public paths.
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

pub use crate::lower::plan::{PlanLoad, load_plan_texts, load_plans};
pub use crate::syntax::yaml::plan as yaml;
pub use crate::syntax::yaml::plan::{PLAN_KEYS, is_plan_yaml};
