//! The compiled program: what the DSL lowers into and the evaluator runs.
//!
//! Names are gone at this level: event fields are slots, `let`s and windows
//! are indices. The IR is plain data (`serde`), so a compiled program can be
//! cached or shipped, and is validated once by [`Program::validate`].

use crate::value::{Level, Type, Value};
use serde::{Deserialize, Serialize};

/// Index of a field in the program's field table (one slot per distinct name).
pub type FieldId = u16;
/// Index of an event kind in the program's kind table.
pub type KindId = u16;

/// A whole compiled set of definitions.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Program {
    /// Every distinct field name any event kind declares, by slot.
    pub fields: Vec<String>,
    /// Declared event kinds.
    pub kinds: Vec<KindDef>,
    /// Warning signals.
    pub signals: Vec<SignalDef>,
    /// Per-key data tables (e.g. each hydrological station's 警戒/保证 levels).
    #[serde(default)]
    pub tables: Vec<TableDef>,
    /// Script functions (rhai) and their compilation units.
    #[serde(default)]
    pub scripts: crate::script::Scripts,
}

/// A table of per-key data: one row of numbers/strings per key value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TableDef {
    /// Its name.
    pub name: String,
    /// Column names, in row order.
    pub columns: Vec<String>,
    /// Rows by key value.
    pub rows: Vec<(String, Vec<Value>)>,
}

/// An event kind and the typed fields it carries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KindDef {
    /// The `kind` string events carry.
    pub name: String,
    /// Declared fields.
    pub fields: Vec<FieldDef>,
}

/// One declared field of an event kind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FieldDef {
    /// Slot in [`Program::fields`].
    pub id: FieldId,
    /// Declared type.
    pub ty: Type,
    /// Whether an event may leave it out.
    pub optional: bool,
}

/// A warning signal: windows and levels per key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignalDef {
    /// The signal's name (may be Chinese).
    pub name: String,
    /// Where it is defined (`file:line:col`).
    pub at: String,
    /// Event kinds that feed it.
    pub kinds: Vec<KindId>,
    /// Extra condition an event must meet to feed it.
    pub filter: Option<Expr>,
    /// The field whose value partitions state (one state per station).
    pub key: FieldId,
    /// Sliding windows, referenced by [`Expr::Window`].
    pub windows: Vec<WindowDef>,
    /// Named values, in order; each may use earlier ones ([`Expr::Let`]).
    pub lets: Vec<LetDef>,
    /// Level rules, highest level first; the first that holds wins.
    pub levels: Vec<LevelRule>,
    /// De-escalate one level at a time (red → orange → …) instead of
    /// straight to the level that now holds.
    #[serde(default)]
    pub step_down: bool,
    /// Report a key that sends nothing for this long (event time).
    #[serde(default)]
    pub missing_ms: Option<i64>,
    /// Keys expected to report even before their first event (for `missing`).
    #[serde(default)]
    pub roster: Vec<String>,
    /// Allowed lateness for this signal (overrides the run's).
    #[serde(default)]
    pub lateness_ms: Option<i64>,
    /// The per-key table its `Expr::Column`s read.
    #[serde(default)]
    pub table: Option<u16>,
    /// The conditions of its `days_since(cond)` calls, referenced by
    /// [`Expr::DaysSince`]: each is evaluated once per reading (like a
    /// window's input: fields, table cells, calendar functions), and the key
    /// remembers when it last held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<Expr>,
    /// `key FIELD via TABLE.COLUMN`: the key field names a *member* (a
    /// hazard point, a rain gauge) and each reading goes to every *area*
    /// the member belongs to (the signal's keys are areas); its table
    /// columns are read from the member's row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    /// Aggregates over an area's members ([`Expr::Group`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupDef>,
    /// This signal's level changes are events of this kind for the signals
    /// that read it (`from SIGNAL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feeds: Option<Feed>,
}

/// Membership of a `via` signal: member → areas.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Via {
    /// Each member's areas, in the order written.
    pub members: Vec<(String, Vec<String>)>,
}

impl Via {
    /// The areas of `member` (none when it has no row).
    pub fn areas(&self, member: &str) -> &[String] {
        self.members
            .iter()
            .find(|(m, _)| m == member)
            .map_or(&[], |(_, a)| a.as_slice())
    }

    /// The number of members of `area`.
    pub fn size(&self, area: &str) -> usize {
        self.members
            .iter()
            .filter(|(_, a)| a.iter().any(|x| x == area))
            .count()
    }
}

/// An aggregate over the members of an area: each member's latest value of
/// `input` (evaluated at its readings, like a window's input).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupDef {
    /// The aggregate.
    pub agg: GroupAgg,
    /// What each member's reading contributes (null: the member has no value).
    pub input: Expr,
}

/// Aggregates over members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupAgg {
    /// `max_of(x)`: the highest member value (null: none has one).
    Max,
    /// `min_of(x)`: the lowest.
    Min,
    /// `sum_of(x)`: the exact sum (0: none).
    Sum,
    /// `mean_of(x)`: the mean over the members with a value (null: none).
    Mean,
    /// `count_of(cond)`: members whose latest `cond` held.
    Count,
    /// `members()`: the number of members of the area (from the table).
    Size,
}

impl GroupAgg {
    /// The function name in the DSL.
    pub fn name(self) -> &'static str {
        match self {
            GroupAgg::Max => "max_of",
            GroupAgg::Min => "min_of",
            GroupAgg::Sum => "sum_of",
            GroupAgg::Mean => "mean_of",
            GroupAgg::Count => "count_of",
            GroupAgg::Size => "members",
        }
    }
}

/// How a signal's level changes become events (`from SIGNAL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feed {
    /// The kind of those events.
    pub kind: KindId,
    /// Slot of `key` (text: the key that changed).
    pub key: FieldId,
    /// Slot of `level` (number: the new level's rank, none 0 … red 4).
    pub level: FieldId,
    /// Slot of `from` (number: the previous level's rank).
    pub from: FieldId,
}

/// A named value.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LetDef {
    /// Its name, reported in outputs' `values`.
    pub name: String,
    /// How it is computed.
    pub expr: Expr,
}

/// An aggregate over a sliding event-time window `(t - duration, t]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowDef {
    /// The aggregate.
    pub agg: Agg,
    /// What each event contributes (an expression over its fields).
    pub input: Expr,
    /// Window length in milliseconds (> 0).
    pub duration_ms: i64,
    /// Tumbling (`every 1h`: aligned buckets) instead of sliding.
    #[serde(default)]
    pub tumbling: bool,
}

/// Window aggregates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agg {
    /// Exact sum (0 on an empty window).
    Sum,
    /// Mean (null on an empty window).
    Avg,
    /// Smallest value (null on an empty window).
    Min,
    /// Largest value (null on an empty window).
    Max,
    /// Number of readings.
    Count,
    /// Oldest reading in the window (null when empty).
    First,
    /// Newest reading in the window (null when empty).
    Last,
    /// Newest minus oldest (null when empty).
    Delta,
    /// Change per hour between the oldest and newest reading (null with fewer than two readings at different times).
    Rate,
    /// Number of readings whose (boolean) input is true.
    CountIf,
}

impl Agg {
    /// The function name in the DSL.
    pub fn name(self) -> &'static str {
        match self {
            Agg::Sum => "sum",
            Agg::Avg => "avg",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::Count => "count",
            Agg::First => "first",
            Agg::Last => "last",
            Agg::Delta => "delta",
            Agg::Rate => "rate",
            Agg::CountIf => "count_if",
        }
    }
}

/// A level rule: `level orange when r3 >= 50`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LevelRule {
    /// The level it raises.
    pub level: Level,
    /// When it holds.
    pub when: Expr,
    /// The rule as written, for explanations (`orange when r3 >= 50`).
    pub text: String,
    /// Where it is written (`file:line:col`).
    pub at: String,
    /// The condition must hold this long before the level is raised.
    #[serde(default)]
    pub for_ms: i64,
    /// The condition must hold for this many consecutive readings.
    #[serde(default)]
    pub for_readings: u32,
    /// Hysteresis: once raised, the level stays until this holds (instead
    /// of until `when` stops holding).
    #[serde(default)]
    pub clear: Option<Expr>,
    /// Delayed clear: the level stays until its condition has been false this long.
    #[serde(default)]
    pub hold_ms: i64,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `not x`
    Not,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (null when dividing by zero)
    Div,
    /// `%`
    Rem,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `and` (short-circuit)
    And,
    /// `or` (short-circuit)
    Or,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

/// Built-in functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    /// `abs(x)`
    Abs,
    /// `min(a, b, ...)`
    Min,
    /// `max(a, b, ...)`
    Max,
}

/// Local calendar functions of the reading's time (`month()`, `hour()`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Calendar {
    /// `month()`: 1 (January) … 12.
    Month,
    /// `day()`: day of the month, 1 … 31.
    Day,
    /// `hour()`: 0 … 23.
    Hour,
    /// `day_of_year()`: 1 (1 January) … 366.
    DayOfYear,
    /// `weekday()`: ISO 8601, 1 (Monday) … 7 (Sunday).
    Weekday,
}

impl Calendar {
    /// Every calendar function.
    pub const ALL: [Calendar; 5] = [
        Calendar::Month,
        Calendar::Day,
        Calendar::Hour,
        Calendar::DayOfYear,
        Calendar::Weekday,
    ];

    /// The function name in the DSL.
    pub fn name(self) -> &'static str {
        match self {
            Calendar::Month => "month",
            Calendar::Day => "day",
            Calendar::Hour => "hour",
            Calendar::DayOfYear => "day_of_year",
            Calendar::Weekday => "weekday",
        }
    }

    /// The function at `ms` (UTC) seen at `offset_min` east of UTC.
    pub fn at(self, ms: i64, offset_min: i16) -> f64 {
        let local = ms.saturating_add(i64::from(offset_min) * 60_000);
        let days = local.div_euclid(86_400_000);
        let (y, m, d) = crate::time::civil_from_days(days);
        let v = match self {
            Calendar::Month => m,
            Calendar::Day => d,
            Calendar::Hour => local.rem_euclid(86_400_000) / 3_600_000,
            Calendar::DayOfYear => days - crate::time::days_from_civil(y, 1, 1) + 1,
            // 1970-01-01 was a Thursday (ISO 4)
            Calendar::Weekday => (days + 3).rem_euclid(7) + 1,
        };
        v as f64
    }
}

/// An expression over slots.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// A constant.
    Const(Value),
    /// The current event's field.
    Field(FieldId),
    /// A `let` of the signal, by index.
    Let(u16),
    /// A window of the signal, by index.
    Window(u16),
    /// A column of the key's row in the signal's table.
    Column(u16),
    /// `-x`, `not x`.
    Unary(UnOp, Box<Expr>),
    /// `a op b`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `x in [..]`.
    In(Box<Expr>, Vec<Expr>),
    /// `abs(x)`, `min(..)`, `max(..)`.
    Call(Builtin, Vec<Expr>),
    /// A script function, by index into [`crate::script::Scripts::functions`].
    Script(u16, Vec<Expr>),
    /// A field of one kind (`rain.mm` in a signal reading several kinds):
    /// the event's field when the event is of that kind, else null.
    KindField(KindId, FieldId),
    /// A calendar function of the reading's time, seen at this offset
    /// (minutes east of UTC).
    Calendar(Calendar, i16),
    /// `days_since(cond)`: days (a decimal number) since the signal's mark
    /// `i` ([`SignalDef::marks`]) last held for this key; null before it
    /// ever held.
    DaysSince(u16),
    /// An aggregate over the area's members ([`SignalDef::groups`]).
    Group(u16),
}

impl Expr {
    /// Calls `f` on this expression and every sub-expression.
    pub fn walk(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Unary(_, e) => e.walk(f),
            Expr::Binary(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::In(e, list) => {
                e.walk(f);
                list.iter().for_each(|x| x.walk(f));
            }
            Expr::Call(_, args) | Expr::Script(_, args) => args.iter().for_each(|x| x.walk(f)),
            Expr::Const(_)
            | Expr::Field(_)
            | Expr::Let(_)
            | Expr::Window(_)
            | Expr::Column(_)
            | Expr::KindField(..)
            | Expr::Calendar(..)
            | Expr::DaysSince(_)
            | Expr::Group(_) => {}
        }
    }
}

/// The part of a signal an expression is in. Which parts may call script
/// functions is decided here, once, for both `yingji check` (the DSL's
/// lowering asks [`Place::scripts_allowed`] at every script call) and
/// [`Program::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The `where` filter: decides whether an event reaches the signal,
    /// before its key's state (and any script context) is involved.
    Filter,
    /// A window's input (`sum(f(x), 3h)`).
    WindowInput,
    /// A `let`.
    Let,
    /// A level rule's `when`.
    Level,
    /// A level rule's `clear when` (or `clear below`/`above`).
    Clear,
}

impl Place {
    /// Whether script functions may be called here: everywhere but in the
    /// `where` filter (which the engine evaluates without scripts).
    pub fn scripts_allowed(self) -> bool {
        !matches!(self, Place::Filter)
    }

    /// Why a script call is refused here (`None`: it is not).
    pub fn script_problem(self) -> Option<&'static str> {
        (!self.scripts_allowed()).then_some("script functions cannot be used in `where`")
    }
}

/// The longest window a program may use: 366 days (a leap year), in
/// milliseconds. `Program::validate` refuses a longer one (and a
/// non-positive one): a window is kept as the readings inside it, so its
/// length bounds the memory a key holds, and every time computation stays
/// far from `i64` overflow. The DSL should refuse longer windows at their
/// span with the same limit.
pub const MAX_WINDOW_MS: i64 = 366 * 24 * 3_600_000;

/// A structural problem in a program (the DSL never produces one; a
/// hand-built or deserialised program might).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid program: signal `{signal}`: {problem}")]
pub struct ProgramError {
    /// The signal concerned.
    pub signal: String,
    /// What is wrong.
    pub problem: String,
}

impl Program {
    /// Checks every index is in range and every `let` refers only to earlier ones,
    /// so evaluation never indexes out of bounds.
    pub fn validate(&self) -> Result<(), ProgramError> {
        let nfields = self.fields.len();
        for k in &self.kinds {
            if k.fields.iter().any(|f| usize::from(f.id) >= nfields) {
                return Err(ProgramError {
                    signal: String::new(),
                    problem: format!("kind `{}` has a field slot out of range", k.name),
                });
            }
        }
        for s in &self.signals {
            let err = |problem: String| ProgramError {
                signal: s.name.clone(),
                problem,
            };
            if usize::from(s.key) >= nfields {
                return Err(err("key slot out of range".into()));
            }
            if s.kinds.iter().any(|k| usize::from(*k) >= self.kinds.len()) {
                return Err(err("kind out of range".into()));
            }
            let check = |e: &Expr,
                         lets_visible: usize,
                         windows_ok: bool,
                         place: Place|
             -> Result<(), ProgramError> {
                let mut bad = None;
                e.walk(&mut |x| match x {
                    Expr::Field(f) if usize::from(*f) >= nfields => {
                        bad = Some("field slot out of range")
                    }
                    Expr::KindField(k, f) if usize::from(*f) >= nfields || !s.kinds.contains(k) => {
                        bad = Some("kind field out of range or of a kind the signal does not read")
                    }
                    Expr::DaysSince(i) if !windows_ok || usize::from(*i) >= s.marks.len() => {
                        bad = Some("days_since index out of range or used in an event expression")
                    }
                    Expr::Group(i) if !windows_ok || usize::from(*i) >= s.groups.len() => {
                        bad = Some("member aggregate out of range or used in an event expression")
                    }
                    Expr::Let(i) if usize::from(*i) >= lets_visible => {
                        bad = Some("let used before it is defined")
                    }
                    Expr::Window(i) if !windows_ok || usize::from(*i) >= s.windows.len() => {
                        bad = Some("window index out of range or used in an event expression")
                    }
                    Expr::Script(..) if place.script_problem().is_some() => {
                        bad = place.script_problem();
                    }
                    Expr::Script(i, args)
                        if self
                            .scripts
                            .functions
                            .get(usize::from(*i))
                            .is_none_or(|f| f.params.len() != args.len()) =>
                    {
                        bad = Some("script function out of range or called with the wrong arity")
                    }
                    _ => {}
                });
                bad.map_or(Ok(()), |p| Err(err(p.into())))
            };
            if let Some(f) = &s.filter {
                check(f, 0, false, Place::Filter)?;
            }
            for w in &s.windows {
                check(&w.input, 0, false, Place::WindowInput)?;
                if w.duration_ms <= 0 {
                    return Err(err("window duration must be positive".into()));
                }
                if w.duration_ms > MAX_WINDOW_MS {
                    return Err(err(format!(
                        "window length {} exceeds the maximum of 366d ({MAX_WINDOW_MS} ms, \
                         `yingji_engine::ir::MAX_WINDOW_MS`)",
                        crate::time::format_duration(w.duration_ms)
                    )));
                }
            }
            for m in &s.marks {
                check(m, 0, false, Place::WindowInput)?;
            }
            for g in &s.groups {
                check(&g.input, 0, false, Place::WindowInput)?;
            }
            if !s.groups.is_empty() && s.via.is_none() {
                return Err(err("member aggregates without `via`".into()));
            }
            if s.via.is_some() && (s.missing_ms.is_some() || !s.roster.is_empty()) {
                return Err(err("absence (`missing`, `roster`) with `via`".into()));
            }
            if let Some(f) = &s.feeds
                && (usize::from(f.kind) >= self.kinds.len()
                    || [f.key, f.level, f.from]
                        .iter()
                        .any(|x| usize::from(*x) >= nfields))
            {
                return Err(err("fed kind or slot out of range".into()));
            }
            for (i, l) in s.lets.iter().enumerate() {
                check(&l.expr, i, true, Place::Let)?;
            }
            for r in &s.levels {
                check(&r.when, s.lets.len(), true, Place::Level)?;
                if let Some(c) = &r.clear {
                    check(c, s.lets.len(), true, Place::Clear)?;
                }
                if r.for_ms < 0 || r.hold_ms < 0 {
                    return Err(err("negative `for` or `hold` duration".into()));
                }
            }
            if s.table.is_some_and(|t| usize::from(t) >= self.tables.len()) {
                return Err(err("table out of range".into()));
            }
            if s.levels
                .windows(2)
                .any(|w| matches!(w, [a, b] if a.level <= b.level))
            {
                return Err(err("level rules must go from the highest level down".into()));
            }
        }
        // a signal reads the level changes of signals before it only (no cycle)
        let fed: Vec<(usize, KindId)> = self
            .signals
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.feeds.map(|f| (i, f.kind)))
            .collect();
        for &(src, kind) in &fed {
            let early = self
                .signals
                .iter()
                .take(src + 1)
                .find(|s| s.kinds.contains(&kind));
            if let Some(s) = early {
                return Err(ProgramError {
                    signal: s.name.clone(),
                    problem: "reads the level changes of itself or of a later signal".into(),
                });
            }
        }
        Ok(())
    }
}
