//! Assessments (考核), accident grading and reporting deadlines as policy:
//! the `grading`, `deadlines`, `roster` and `assessment` definitions.
//!
//! ```text
//! grading 事故等级 of accident as grade {
//!   grade 特别重大 when deaths >= 30 or serious_injuries >= 100 or loss_wan >= 10000
//!   ...
//!   else 一般
//! }
//! assessment 乡镇安全生产年度考核 for township per year {
//!   total 100
//!   score 风险隐患排查到位 weight 20 = 20 * count(hazard where fixed) / count(hazard) else 20
//!   veto "较大及以上事故" when count(accident where grade >= 较大) >= 1
//!   grade 优秀 >= 90, 良好 >= 80, 合格 >= 60, else 不合格
//! }
//! ```
//!
//! Checking runs inside [`crate::lower::lower`] (so `yingji check` reports
//! these definitions' problems); [`load`] also returns the compiled
//! [`AssessProgram`].

pub mod ast;
mod lower;

pub use lower::{DERIVED_KINDS, compile};

use crate::load::{Loaded, Loader};
use yingji_engine::assess::AssessProgram;

/// Diagnostic codes of the assessment definitions.
pub mod codes {
    /// A malformed clause: unknown period, bands out of order, `after` an
    /// unknown stage, a bad time of day, `weight` on a bonus.
    pub const SHAPE: &str = "E0601";
    /// The weights do not add up to the declared total, or a band is
    /// unreachable (warning).
    pub const WEIGHTS: &str = "W0601";
    /// An assessment of a unit type that has no roster (warning).
    pub const NO_ROSTER: &str = "W0602";
}

/// A load with the assessment program.
#[derive(Debug)]
pub struct AssessLoaded {
    /// Sources, signal program and every diagnostic (assessment ones included).
    pub loaded: Loaded,
    /// The compiled assessments, gradings, deadlines and rosters.
    pub program: AssessProgram,
}

/// Loads definitions like [`crate::load::load`] and compiles the assessment
/// side as well.
pub fn load(loader: &dyn Loader) -> AssessLoaded {
    let loaded = crate::load::load(loader);
    let program = loaded.assess.clone();
    AssessLoaded { loaded, program }
}
