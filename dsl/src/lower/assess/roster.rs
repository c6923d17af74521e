//! Unit rosters: `roster township { 双江街道, 青龙街道, … }`.

use super::Compiler;
use crate::diag::Span;
use crate::syntax::ast::assess::RosterDef;
use std::collections::HashMap;
use yingji_engine::assess::Roster;

impl Compiler<'_> {
    pub(super) fn roster(&mut self, r: &RosterDef, seen: &mut HashMap<String, Span>) {
        let again = format!("a roster of `{}` is already defined", r.unit_type.name);
        if !self.first_definition(seen, &r.unit_type, again) {
            return;
        }
        let mut units: Vec<String> = Vec::new();
        for u in &r.units {
            if units.contains(&u.name) {
                self.listed_twice(u, "unit");
                continue;
            }
            units.push(u.name.clone());
        }
        self.p.rosters.push(Roster {
            unit_type: r.unit_type.name.clone(),
            units,
            at: self.at(r.unit_type.span),
        });
    }
}
