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
//! The pieces live along the pipeline: the AST in [`crate::syntax::ast::assess`],
//! checking and lowering in [`crate::lower::assess`], the load in
//! [`crate::load::load_assess`]. This module keeps their public paths.

pub use crate::load::{AssessLoaded, load_assess as load};
pub use crate::lower::assess::{DERIVED_KINDS, compile};
pub use crate::syntax::ast::assess as ast;

/// Diagnostic codes of the assessment definitions (kept in [`crate::diag::codes`]).
pub mod codes {
    pub use crate::diag::codes::{
        ASSESS_NO_ROSTER as NO_ROSTER, ASSESS_SHAPE as SHAPE, ASSESS_WEIGHTS as WEIGHTS,
    };
}
