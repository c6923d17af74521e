//! The rhai leg: the same threshold rules as one compiled rhai script,
//! evaluated once per event, in two forms:
//!
//! - [`Form::Ladders`] keeps yingji's structure: per signal one region test,
//!   then its thresholds as an `if … else if …` ladder;
//! - [`Form::Rules`] writes every rule as its own statement (`if region ==
//!   "R7" && value >= 42.5 { … }`), as a rule list is usually written for a
//!   script engine, plus one "no level" rule per signal.
//!
//! The script gets `region` and `value` and returns an array of
//! `signal * 8 + level rank` for every signal whose region matches; Rust keeps
//! each signal's current level (as any host of a scripting engine would),
//! takes the highest rank reported per signal and reports changes.

use super::{Checksum, Workload, level_at};
use rhai::{AST, Array, Engine, Scope};
use yingji_engine::Level;

/// Why the rhai leg failed.
#[derive(Debug, thiserror::Error)]
#[error("rhai: {0}")]
pub struct RhaiError(pub String);

/// A compiled rhai script for a thresholds workload.
pub struct RhaiThresholds {
    engine: Engine,
    ast: AST,
    levels: Vec<Level>,
    /// Per signal, the highest rank reported by this event's run.
    best: Vec<Option<usize>>,
    touched: Vec<usize>,
}

impl std::fmt::Debug for RhaiThresholds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RhaiThresholds")
            .field("signals", &self.levels.len())
            .finish()
    }
}

/// How the rules are written as rhai.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// Per signal a region test and an `if … else if …` ladder.
    Ladders,
    /// One statement per rule.
    Rules,
}

/// The rhai source for a workload's rules.
pub fn script(w: &Workload, form: Form) -> String {
    if form == Form::Rules {
        return rule_script(w);
    }
    let mut s = String::from("let out = [];\n");
    for (j, (key, ts)) in w.ladders.iter().enumerate() {
        s.push_str(&format!(
            "if region == \"R{key}\" {{\n  out.push({} + ",
            j * 8
        ));
        for (l, t) in ts.iter().enumerate() {
            let rank = 4 - l;
            s.push_str(&format!("if value >= {t:?} {{ {rank} }} else "));
        }
        s.push_str("{ 0 });\n}\n");
    }
    s.push_str("out\n");
    s
}

fn rule_script(w: &Workload) -> String {
    let mut s = String::from("let out = [];\n");
    for (j, (key, ts)) in w.ladders.iter().enumerate() {
        let code = j * 8;
        s.push_str(&format!(
            "if region == \"R{key}\" {{ out.push({code}); }}\n"
        ));
        for (l, t) in ts.iter().enumerate() {
            let rank = 4 - l;
            s.push_str(&format!(
                "if region == \"R{key}\" && value >= {t:?} {{ out.push({}); }}\n",
                code + rank
            ));
        }
    }
    s.push_str("out\n");
    s
}

impl RhaiThresholds {
    /// Compiles the script.
    pub fn new(w: &Workload, form: Form) -> Result<RhaiThresholds, RhaiError> {
        let mut engine = Engine::new();
        engine.set_max_expr_depths(0, 0);
        engine.set_max_operations(0);
        let ast = engine
            .compile(script(w, form))
            .map_err(|e| RhaiError(e.to_string()))?;
        Ok(RhaiThresholds {
            engine,
            ast,
            levels: vec![Level::None; w.ladders.len()],
            best: vec![None; w.ladders.len()],
            touched: Vec::new(),
        })
    }

    /// One reading.
    pub fn push(
        &mut self,
        seq: u64,
        key: &str,
        value: f64,
        sum: &mut Checksum,
    ) -> Result<(), RhaiError> {
        let mut scope = Scope::new();
        scope.push_constant("region", key.to_string());
        scope.push_constant("value", value);
        let out: Array = self
            .engine
            .eval_ast_with_scope(&mut scope, &self.ast)
            .map_err(|e| RhaiError(e.to_string()))?;
        for item in out {
            let code = item
                .as_int()
                .map_err(|t| RhaiError(format!("script returned a {t}")))?;
            let sig = usize::try_from(code / 8).unwrap_or(usize::MAX);
            let rank = usize::try_from(code % 8).unwrap_or(0);
            if let Some(best) = self.best.get_mut(sig) {
                if best.is_none() {
                    self.touched.push(sig);
                }
                *best = Some(best.map_or(rank, |b: usize| b.max(rank)));
            }
        }
        // signals in order, as yingji and the native loop report them
        self.touched.sort_unstable();
        for sig in self.touched.drain(..) {
            let Some(rank) = self.best.get_mut(sig).and_then(Option::take) else {
                continue;
            };
            let to = rank
                .checked_sub(1)
                .and_then(|r| level_at(3usize.saturating_sub(r)))
                .unwrap_or(Level::None);
            if let Some(level) = self.levels.get_mut(sig) {
                if *level != to {
                    sum.add(seq, u32::try_from(sig).unwrap_or(u32::MAX), key, *level, to);
                    *level = to;
                }
            }
        }
        Ok(())
    }
}
