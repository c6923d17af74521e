//! The one table of the language's built-in functions: their names, their
//! signatures as authors read them, what they give and where they may be
//! used.
//!
//! The checker decides what a call means (`check::typeck`); this table is
//! what everything *around* it reads: the names a rhai function may not take
//! ([`reserved_in_signals`]), and the hover and completion texts of the
//! language server. A test (`every_signal_builtin_is_accepted`) checks that
//! each signal built-in named here is one the checker accepts, so the two
//! cannot drift apart.
//!
//! ```
//! use yingji_dsl::builtins::{self, Context};
//! let sum = builtins::find("sum").unwrap();
//! assert_eq!(sum.context, Context::Signals);
//! assert!(builtins::reserved_in_signals().any(|n| n == "days_since"));
//! assert!(builtins::find("unanswered").is_some_and(|b| b.context == Context::PlanGuards));
//! ```

/// Where a built-in may be called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Signal `let`s, level rules and `where` clauses (some only in parts of
    /// them: the checker says where).
    Signals,
    /// Assessment criteria.
    Assessments,
    /// Plan step guards.
    PlanGuards,
}

/// One built-in function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Builtin {
    /// Its name.
    pub name: &'static str,
    /// Its signature, as the reference writes it.
    pub signature: &'static str,
    /// What it gives.
    pub doc: &'static str,
    /// Where it may be called.
    pub context: Context,
}

const fn b(
    name: &'static str,
    signature: &'static str,
    doc: &'static str,
    context: Context,
) -> Builtin {
    Builtin {
        name,
        signature,
        doc,
        context,
    }
}

use Context::{Assessments, PlanGuards, Signals};

/// Every built-in function, in the reference's order.
pub const BUILTINS: &[Builtin] = &[
    b(
        "sum",
        "sum(x, D) -> number",
        "sum of the readings of `x` in the last `D` (a sliding window of event time)",
        Signals,
    ),
    b(
        "avg",
        "avg(x, D) -> number",
        "mean of the readings in the last `D`",
        Signals,
    ),
    b(
        "min",
        "min(x, D) -> number · min(a, b) -> number",
        "smallest reading in the last `D`, or the smaller of two numbers",
        Signals,
    ),
    b(
        "max",
        "max(x, D) -> number · max(a, b) -> number",
        "largest reading in the last `D`, or the larger of two numbers",
        Signals,
    ),
    b(
        "count",
        "count(x, D) -> number · count(kind where cond) -> number",
        "number of readings in the last `D`; in assessments, records of a kind",
        Signals,
    ),
    b(
        "first",
        "first(x, D) -> number?",
        "oldest reading in the last `D` (null when empty)",
        Signals,
    ),
    b(
        "last",
        "last(x, D) -> number?",
        "newest reading in the last `D` (null when empty)",
        Signals,
    ),
    b(
        "delta",
        "delta(x, D) -> number?",
        "newest minus oldest reading in the last `D`",
        Signals,
    ),
    b(
        "rate",
        "rate(x, D) -> number?",
        "change per hour between the oldest and newest reading in the last `D`",
        Signals,
    ),
    b(
        "count_if",
        "count_if(cond, D) -> number",
        "readings in the last `D` for which `cond` held",
        Signals,
    ),
    b("abs", "abs(x) -> number", "absolute value", Signals),
    b(
        "month",
        "month() -> number",
        "month of the reading's time, 1 … 12 (UTC+8 unless the signal says `timezone`)",
        Signals,
    ),
    b(
        "day",
        "day() -> number",
        "day of the month of the reading's time, 1 … 31",
        Signals,
    ),
    b(
        "hour",
        "hour() -> number",
        "hour of the reading's time, 0 … 23",
        Signals,
    ),
    b(
        "day_of_year",
        "day_of_year() -> number",
        "day of the year of the reading's time, 1 … 366",
        Signals,
    ),
    b(
        "weekday",
        "weekday() -> number",
        "ISO 8601 weekday of the reading's time: 1 (Monday) … 7 (Sunday)",
        Signals,
    ),
    b(
        "days_since",
        "days_since(cond) -> number?",
        "days since `cond` last held at a reading of this key (null before it ever held)",
        Signals,
    ),
    b(
        "max_of",
        "max_of(x) -> number?",
        "`via` signals: highest latest value of `x` over the area's members",
        Signals,
    ),
    b(
        "min_of",
        "min_of(x) -> number?",
        "`via` signals: lowest latest value of `x` over the area's members",
        Signals,
    ),
    b(
        "sum_of",
        "sum_of(x) -> number",
        "`via` signals: exact sum of the members' latest values of `x`",
        Signals,
    ),
    b(
        "mean_of",
        "mean_of(x) -> number?",
        "`via` signals: mean over the members that have a value of `x`",
        Signals,
    ),
    b(
        "count_of",
        "count_of(cond) -> number",
        "`via` signals: members whose latest `cond` held",
        Signals,
    ),
    b(
        "members",
        "members() -> number",
        "`via` signals: the number of members the table gives the area",
        Signals,
    ),
    b(
        "any",
        "any(kind where cond) -> bool",
        "assessments: some record of the kind satisfies `cond`",
        Assessments,
    ),
    b(
        "all",
        "all(kind where cond) -> bool",
        "assessments: every record of the kind satisfies `cond`",
        Assessments,
    ),
    b(
        "last_period",
        "last_period(expr) -> number",
        "assessments: `expr` over the previous period (上期)",
        Assessments,
    ),
    b(
        "unanswered",
        "unanswered(step) -> bool",
        "plan guards: someone notified by `step` has not answered",
        PlanGuards,
    ),
];

/// The built-in called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The names of the signal built-ins: a rhai function may not take one.
pub fn reserved_in_signals() -> impl Iterator<Item = &'static str> {
    BUILTINS
        .iter()
        .filter(|b| b.context == Signals)
        .map(|b| b.name)
}

/// Whether `name` is a signal built-in.
pub fn is_reserved_in_signals(name: &str) -> bool {
    reserved_in_signals().any(|n| n == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{MemLoader, load};

    fn unknown_function_errors(call: &str) -> Vec<String> {
        let src = format!(
            "event rain {{ station: string, mm: number }}\n\
             signal s {{ from rain key station let x = {call} level red when x >= 1 }}"
        );
        let loaded = load(&MemLoader(vec![("a.yj".into(), src)]));
        loaded
            .diagnostics
            .iter()
            .map(|d| d.message.clone())
            .filter(|m| m.starts_with("unknown function"))
            .collect()
    }

    #[test]
    fn every_signal_builtin_is_accepted() {
        // arity and context errors may come; "unknown function" must not
        for b in reserved_in_signals() {
            let errs = unknown_function_errors(&format!("{b}(mm, 1h)"));
            assert!(
                errs.is_empty(),
                "`{b}` is in the table but the checker does not know it: {errs:?}"
            );
        }
    }

    #[test]
    fn a_name_outside_the_table_is_unknown() {
        assert_eq!(unknown_function_errors("no_such_fn(mm)").len(), 1);
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in BUILTINS.iter().enumerate() {
            assert!(
                BUILTINS[i + 1..].iter().all(|b| b.name != a.name),
                "{} twice",
                a.name
            );
        }
    }
}
