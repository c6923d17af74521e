//! The level machine of a signal's key, shared by both evaluators (the
//! reference in [`crate::operators::signals`], the compiled one in
//! [`crate::compiled`]): which rules hold and for how long (`for`), the
//! stay condition of the current level (`clear below/above/when`), how long
//! it must be false before the level drops (`hold`, `clear after`), and
//! where it drops to (`step down`).
//!
//! Each evaluator keeps the per-key clocks in its own form ([`Clocks`]) and
//! evaluates conditions its own way ([`Conditions`]); the decisions are made
//! here only. A leaf next to [`crate::keys`].

use crate::keys::RuleState;
use crate::value::Level;

/// What the machine needs of one level rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The rule's level.
    pub level: Level,
    /// `for <duration>`: held this long before it fires.
    pub for_ms: i64,
    /// `for <n> readings`.
    pub for_readings: u32,
    /// `hold` / `clear after`: how long the stay condition must be false.
    pub hold_ms: i64,
}

impl Rule {
    /// The machine's view of `r`.
    pub fn of(r: &crate::ir::LevelRule) -> Rule {
        Rule {
            level: r.level,
            for_ms: r.for_ms,
            for_readings: r.for_readings,
            hold_ms: r.hold_ms,
        }
    }
}

/// The per-key clocks of the machine.
pub trait Clocks {
    /// Current level.
    fn level(&self) -> Level;
    /// Sets the current level.
    fn set_level(&mut self, l: Level);
    /// Since when the current level's stay condition has been false.
    fn stay_false_since(&self) -> Option<i64>;
    /// Sets it.
    fn set_stay_false_since(&mut self, t: Option<i64>);
    /// Since when rule `i` has held without a break.
    fn since(&self, i: usize) -> Option<i64>;
    /// Sets it.
    fn set_since(&mut self, i: usize, t: Option<i64>);
    /// Consecutive readings for which rule `i` has held.
    fn readings(&self, i: usize) -> u32;
    /// Sets it.
    fn set_readings(&mut self, i: usize, n: u32);
}

/// The conditions of one evaluation, evaluated when the machine asks (in
/// the reference's order: rule by rule, `when` then, for the current
/// level's rule, its `clear`).
pub trait Conditions {
    /// Whether rule `i`'s `when` holds.
    fn when(&mut self, i: usize) -> bool;
    /// Whether rule `i`'s `clear` condition holds (`None`: it has none).
    fn clear(&mut self, i: usize) -> Option<bool>;
}

/// What [`observe`] found.
#[derive(Clone, Copy, Debug, Default)]
pub struct Observed {
    /// The first rule armed (held long enough).
    pub up: Option<usize>,
    /// The rule of the current level.
    pub cur_rule: Option<usize>,
    /// Whether the current level's stay condition holds.
    pub cur_holds: bool,
}

/// A level change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Level before.
    pub from: Level,
    /// Level now.
    pub to: Level,
    /// `raise`, `clear` or `step_down`.
    pub reason: crate::output::ChangeReason,
    /// Since when the deciding condition has held (ms).
    pub since: i64,
    /// The rule of the new level, if any.
    pub fired: Option<usize>,
}

/// Phase one at `now`: evaluates every rule, moves the rules' clocks.
pub fn observe(
    rules: &[Rule],
    st: &mut impl Clocks,
    now: i64,
    cond: &mut impl Conditions,
) -> Observed {
    let mut o = Observed::default();
    let level = st.level();
    for (i, r) in rules.iter().enumerate() {
        let holds = cond.when(i);
        if holds {
            let since = st.since(i).unwrap_or(now);
            st.set_since(i, Some(since));
            let readings = st.readings(i).saturating_add(1);
            st.set_readings(i, readings);
            let armed = now.saturating_sub(since) >= r.for_ms && readings >= r.for_readings;
            if armed && o.up.is_none() {
                o.up = Some(i);
            }
        } else {
            st.set_since(i, None);
            st.set_readings(i, 0);
        }
        if r.level == level {
            o.cur_rule = Some(i);
            o.cur_holds = match cond.clear(i) {
                Some(c) => !c,
                None => holds,
            };
        }
    }
    o
}

/// Phase two: the change, if any. A level entered on the way down whose
/// own stay condition is already false starts its hold now (so each step
/// is held, not skipped); that re-check goes through `cond` like every
/// other condition.
pub fn decide(
    rules: &[Rule],
    step_down: bool,
    st: &mut impl Clocks,
    now: i64,
    o: Observed,
    cond: &mut impl Conditions,
) -> Option<Step> {
    let up_level =
        o.up.and_then(|i| rules.get(i))
            .map_or(Level::None, |r| r.level);
    let from = st.level();
    let (to, reason, since) = if up_level > from {
        let since = o.up.and_then(|i| st.since(i)).unwrap_or(now);
        (up_level, crate::output::ChangeReason::Raise, since)
    } else if from == Level::None || o.cur_holds {
        st.set_stay_false_since(None);
        return None;
    } else {
        let false_since = st.stay_false_since().unwrap_or(now);
        st.set_stay_false_since(Some(false_since));
        let hold = o
            .cur_rule
            .and_then(|i| rules.get(i))
            .map_or(0, |r| r.hold_ms);
        if now.saturating_sub(false_since) < hold {
            return None;
        }
        if step_down {
            (
                up_level.max(from.step_down()),
                crate::output::ChangeReason::StepDown,
                false_since,
            )
        } else {
            (up_level, crate::output::ChangeReason::Clear, false_since)
        }
    };
    if to == from {
        return None;
    }
    st.set_level(to);
    let fired = rules.iter().position(|r| r.level == to);
    let stay_false = match fired {
        Some(i) if reason != crate::output::ChangeReason::Raise => {
            let stays = match cond.clear(i) {
                Some(c) => !c,
                None => cond.when(i),
            };
            (!stays).then_some(now)
        }
        _ => None,
    };
    st.set_stay_false_since(stay_false);
    Some(Step {
        from,
        to,
        reason,
        since,
        fired,
    })
}

/// The level clocks of a reference [`crate::keys::KeyState`], borrowed apart from its
/// windows (which the conditions read meanwhile).
#[derive(Debug)]
pub struct KeyClocks<'a> {
    /// [`crate::keys::KeyState::level`].
    pub level: &'a mut Level,
    /// [`crate::keys::KeyState::stay_false_since`].
    pub stay_false_since: &'a mut Option<i64>,
    /// [`crate::keys::KeyState::rules`].
    pub rules: &'a mut [RuleState],
}

impl Clocks for KeyClocks<'_> {
    fn level(&self) -> Level {
        *self.level
    }
    fn set_level(&mut self, l: Level) {
        *self.level = l;
    }
    fn stay_false_since(&self) -> Option<i64> {
        *self.stay_false_since
    }
    fn set_stay_false_since(&mut self, t: Option<i64>) {
        *self.stay_false_since = t;
    }
    fn since(&self, i: usize) -> Option<i64> {
        self.rules.get(i).and_then(|r| r.since)
    }
    fn set_since(&mut self, i: usize, t: Option<i64>) {
        if let Some(r) = self.rules.get_mut(i) {
            r.since = t;
        }
    }
    fn readings(&self, i: usize) -> u32 {
        self.rules.get(i).map_or(0, |r| r.readings)
    }
    fn set_readings(&mut self, i: usize, n: u32) {
        if let Some(r) = self.rules.get_mut(i) {
            r.readings = n;
        }
    }
}
