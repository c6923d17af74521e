//! Policy definitions: event kinds, signals, tables and script functions.

use super::expr::{Expr, Ident};
use crate::diag::Span;

/// Script functions in rhai: one inline function, or an imported `.rhai` file.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptDef {
    /// The function's name (inline) or the imported path (import).
    pub name: Ident,
    /// Where the rhai text is.
    pub source: ScriptSource,
    /// `limits { operations: 10000, ... }` as written: `(name, value text)`.
    pub limits: Vec<(Ident, Ident)>,
    /// Declared signatures (one for an inline function).
    pub functions: Vec<FnSig>,
    /// The whole definition.
    pub span: Span,
}

/// Where a script's rhai text is.
#[derive(Clone, Debug, PartialEq)]
pub enum ScriptSource {
    /// The body between the braces of an inline function.
    Inline(Span),
    /// `import "landslide.rhai"`: the path as written and, once the loader
    /// has read it, the whole file.
    Import {
        /// The path (unquoted) and where it is written.
        path: Ident,
        /// The file's text, once read.
        file: Option<Span>,
    },
}

/// `fn tangent_angle(v: number, v0: number) -> number`
#[derive(Clone, Debug, PartialEq)]
pub struct FnSig {
    /// The name policies call it by.
    pub name: Ident,
    /// Parameters with their declared types (a missing type is reported).
    pub params: Vec<(Ident, Option<Ident>)>,
    /// Declared return type.
    pub ret: Option<Ident>,
    /// The signature.
    pub span: Span,
}

/// Per-key data: one row per key value.
#[derive(Clone, Debug, PartialEq)]
pub struct TableDef {
    /// The table's name.
    pub name: Ident,
    /// `(key, [(column, value)])` rows (a value is a number, a string or a
    /// list of strings: a membership).
    pub rows: Vec<(Ident, Vec<(Ident, Expr)>)>,
    /// The whole definition.
    pub span: Span,
}

/// An event kind declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct EventDef {
    /// The `kind` value.
    pub name: Ident,
    /// Declared fields.
    pub fields: Vec<FieldDecl>,
    /// `partition by FIELD`: the field a worker group partitions by.
    pub partition: Option<Ident>,
    /// The whole definition.
    pub span: Span,
}

/// `name: type` or `name: type?` (optional).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldDecl {
    /// Field name.
    pub name: Ident,
    /// Type name (`number`, `string`, `bool`).
    pub ty: Ident,
    /// May events leave it out?
    pub optional: bool,
}

/// A warning signal.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalDef {
    /// Its name.
    pub name: Ident,
    /// `from` kinds.
    pub from: Vec<Ident>,
    /// `where` condition.
    pub filter: Option<Expr>,
    /// `key` field.
    pub key: Option<Ident>,
    /// `key FIELD via TABLE.COLUMN`: the key field names a member, the
    /// column its areas (the signal's keys).
    pub via: Option<(Ident, Ident)>,
    /// `timezone +08:00`: the offset (minutes east of UTC) calendar
    /// functions read local time at (default UTC+8).
    pub timezone: Option<(i16, Span)>,
    /// `let` bindings in order.
    pub lets: Vec<(Ident, Expr)>,
    /// `level` rules as written.
    pub levels: Vec<LevelRule>,
    /// `step down`: de-escalate one level at a time.
    pub step_down: bool,
    /// `clear after 2h`: default hold for every level.
    pub clear_after: Option<(i64, Span)>,
    /// `missing 30m`: absence detection.
    pub missing: Option<(i64, Span)>,
    /// `roster ["YY-001", ...]`: keys expected from the start.
    pub roster: Vec<Expr>,
    /// `lateness 10m`: this signal's allowed lateness.
    pub lateness: Option<(i64, Span)>,
    /// The whole definition.
    pub span: Span,
}

/// `for 30m` or `for 3 readings`.
#[derive(Clone, Debug, PartialEq)]
pub enum ForSpec {
    /// Held for this long (ms).
    Duration(i64),
    /// Held for this many consecutive readings.
    Readings(u32),
}

/// How a raised level clears (hysteresis).
#[derive(Clone, Debug, PartialEq)]
pub enum ClearSpec {
    /// `clear below x`: the tested value fell below `x` (for `>=`/`>` rules).
    Below(Expr),
    /// `clear above x`: the tested value rose above `x` (for `<=`/`<` rules).
    Above(Expr),
    /// `clear when cond`.
    When(Expr),
}

/// `level orange when r3 >= 50`.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelRule {
    /// The level as written (`orange`, `橙色`, `Ⅱ`).
    pub level: Ident,
    /// The condition.
    pub when: Expr,
    /// `for ...`: how long it must hold before the level is raised.
    pub for_: Option<ForSpec>,
    /// `clear ...`: hysteresis.
    pub clear: Option<ClearSpec>,
    /// `hold 2h`: delayed clear.
    pub hold: Option<(i64, Span)>,
    /// The whole rule.
    pub span: Span,
}
