//! Sources, spans and diagnostics rendered like rustc's.
//!
//! Every diagnostic points into a [`SourceMap`] by byte span; rendering turns
//! that into `file:line:col`, the source line, a caret under the span (wide
//! Chinese characters count two columns, so the caret lines up in a
//! terminal), the reason and an optional hint.

use serde::Serialize;
use std::fmt::Write as _;
use std::sync::Arc;
use unicode_width::UnicodeWidthStr;

/// Index of a file in a [`SourceMap`].
pub type FileId = u32;

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// The file.
    pub file: FileId,
    /// Start byte offset.
    pub start: u32,
    /// End byte offset (exclusive).
    pub end: u32,
}

impl Span {
    /// A span from byte offsets.
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span {
            file,
            start: start as u32,
            end: end.max(start) as u32,
        }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// One loaded source file.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The name shown in diagnostics (usually the path).
    pub name: Arc<str>,
    /// Its full text.
    pub text: Arc<str>,
    line_starts: Vec<u32>,
}

impl SourceFile {
    fn new(name: &str, text: &str) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i as u32 + 1));
        SourceFile {
            name: Arc::from(name),
            text: Arc::from(text),
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let line = self
            .line_starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.line_starts.get(line).copied().unwrap_or(0) as usize;
        let upto = (offset as usize).min(self.text.len());
        let col = self
            .text
            .get(start..upto)
            .map_or(1, |s| s.chars().count() + 1);
        (line + 1, col)
    }

    /// The text of 1-based line `n`, without its newline.
    pub fn line_text(&self, n: usize) -> &str {
        let start = self
            .line_starts
            .get(n.saturating_sub(1))
            .copied()
            .unwrap_or(0) as usize;
        let end = self
            .line_starts
            .get(n)
            .map_or(self.text.len(), |&e| e as usize);
        self.text
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }
}

/// All files of one load.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// Adds a file and returns its id.
    pub fn add(&mut self, name: &str, text: &str) -> FileId {
        self.files.push(SourceFile::new(name, text));
        (self.files.len() - 1) as FileId
    }
    /// A file by id.
    pub fn file(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id as usize)
    }
    /// The text a span covers.
    pub fn snippet(&self, span: Span) -> &str {
        self.file(span.file)
            .and_then(|f| f.text.get(span.start as usize..span.end as usize))
            .unwrap_or("")
    }
    /// `file:line:col` of a span's start.
    pub fn location(&self, span: Span) -> String {
        match self.file(span.file) {
            Some(f) => {
                let (l, c) = f.line_col(span.start);
                format!("{}:{l}:{c}", f.name)
            }
            None => "<unknown>".into(),
        }
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Suspicious but accepted.
    Warning,
    /// The definitions cannot be compiled.
    Error,
}

/// One problem found in a policy or plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable code (`E0101`), documented in `dsl/src/diag.rs`'s table.
    pub code: &'static str,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where.
    pub span: Span,
    /// A label under the caret (what was expected, or why it is wrong).
    pub label: String,
    /// A way to fix it ("did you mean `station`?").
    pub hint: Option<String>,
}

/// The diagnostic codes, one per kind of problem.
pub mod codes {
    /// The text does not follow the grammar.
    pub const SYNTAX: &str = "E0001";
    /// A number with an unknown unit suffix (`3x`).
    pub const BAD_DURATION: &str = "E0002";
    /// A YAML document that does not have the expected shape.
    pub const YAML: &str = "E0003";
    /// A file that cannot be read.
    pub const IO: &str = "E0004";
    /// An expression or guard nested too deeply or with too many operators
    /// (see [`crate::limits`]).
    pub const TOO_COMPLEX: &str = "E0005";
    /// A name that is neither a field, a `let` nor a function.
    pub const UNKNOWN_NAME: &str = "E0101";
    /// An event kind that no `event` declares.
    pub const UNKNOWN_KIND: &str = "E0102";
    /// A function that does not exist or is called wrongly.
    pub const BAD_CALL: &str = "E0103";
    /// An unknown level name.
    pub const UNKNOWN_LEVEL: &str = "E0104";
    /// A type that does not exist.
    pub const UNKNOWN_TYPE: &str = "E0105";
    /// Operands of the wrong type.
    pub const TYPE_MISMATCH: &str = "E0201";
    /// Two definitions with one name.
    pub const DUPLICATE: &str = "E0301";
    /// Level rules not from the highest down, or a level twice.
    pub const LEVEL_ORDER: &str = "E0302";
    /// A required clause is missing (`key`, `from`, a level rule).
    pub const MISSING: &str = "E0303";
    /// `partition by FIELD` wrong: the field is undeclared, not text or
    /// optional, kinds name different fields, or a kind names none.
    pub const PARTITION: &str = "E0304";
    /// A higher level that can never be reached before a lower one (warning).
    pub const IMPOSSIBLE_LEVEL: &str = "W0401";
    /// A key the definitions name (a roster) that has no row in its signal's table (warning).
    pub const TABLE_MISS: &str = "W0402";
    /// Plans: a step, chain, role (roster entry), signal or plan that is not defined.
    pub const PLAN_UNDEFINED: &str = "E0501";
    /// Plans: two steps, chains, plans or people with one id.
    pub const PLAN_DUPLICATE: &str = "E0502";
    /// Plans: a step, trigger, chain or person of the wrong shape (no kind, two
    /// kinds, a missing field, a bad level or duration).
    pub const PLAN_SHAPE: &str = "E0503";
    /// Plans: a guard that does not parse or compares mismatched things.
    pub const PLAN_COND: &str = "E0504";
    /// Plans: a step no path from the start reaches.
    pub const PLAN_UNREACHABLE: &str = "E0505";
    /// Plans: a cycle with no waiting step (no timeout, event or exit).
    pub const PLAN_CYCLE: &str = "E0506";
    /// Plans: a step from which no `close` step can be reached.
    pub const PLAN_NO_CLOSE: &str = "E0507";
    /// Plans: a chain whose last tier has no fallback.
    pub const PLAN_NO_FALLBACK: &str = "E0508";
    /// Plans: a response level that skips a level where the plan forbids it.
    pub const PLAN_SKIP: &str = "E0509";
    /// Plans: a `join` no parallel step leads to, a parallel step whose
    /// `join` is not a join step, or a branch that never reaches its join.
    pub const PLAN_JOIN: &str = "E0510";
    /// Plans: a roster that makes a plan impossible: an area enclosing
    /// itself, an area of a county-scoped plan under two roots (which
    /// county?), a relay tier that reaches nobody where the plan runs.
    pub const PLAN_ROSTER: &str = "E0511";
    /// Plans: a person holds the roles of two tiers of one chain (warning).
    pub const PLAN_TWO_TIERS: &str = "W0501";
    /// Plans: something accepted but ignored (warning).
    pub const PLAN_IGNORED: &str = "W0502";
    /// Plans: a chain tier or fallback that reaches nobody in an area the
    /// plans can run in (warning; at run time each such call is a
    /// `notify_failed` output).
    pub const PLAN_REACHES_NOBODY: &str = "W0503";
    /// Plans: a `wait` that cannot end (warning).
    pub const PLAN_ENDLESS_WAIT: &str = "W0504";
    /// Assessments: a malformed clause: unknown period, bands out of order,
    /// `after` an unknown stage, a bad time of day, `weight` on a bonus.
    pub const ASSESS_SHAPE: &str = "E0601";
    /// Assessments: the weights do not add up to the declared total, or a
    /// band is unreachable (warning).
    pub const ASSESS_WEIGHTS: &str = "W0601";
    /// Assessments: an assessment of a unit type that has no roster (warning).
    pub const ASSESS_NO_ROSTER: &str = "W0602";
}

impl Diagnostic {
    /// An error.
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            label: String::new(),
            hint: None,
        }
    }
    /// A warning.
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }
    /// With a label under the caret.
    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }
    /// With a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }
    /// With the hint "did you mean `X`?" when there is a suggestion `X`
    /// (from [`suggest`]), else with `otherwise`, when given.
    ///
    /// ```
    /// use yingji_dsl::diag::{Diagnostic, Span, codes, suggest};
    /// let d = Diagnostic::error(codes::UNKNOWN_NAME, Span::default(), "unknown field `staton`")
    ///     .did_you_mean(suggest("staton", ["station", "town"]), None);
    /// assert_eq!(d.hint.as_deref(), Some("did you mean `station`?"));
    /// let d = Diagnostic::error(codes::UNKNOWN_NAME, Span::default(), "unknown field `x`")
    ///     .did_you_mean(suggest("x", ["station"]), Some("fields: station".into()));
    /// assert_eq!(d.hint.as_deref(), Some("fields: station"));
    /// ```
    pub fn did_you_mean(self, suggestion: Option<&str>, otherwise: Option<String>) -> Diagnostic {
        match (suggestion, otherwise) {
            (Some(s), _) => self.hint(format!("did you mean `{s}`?")),
            (None, Some(h)) => self.hint(h),
            (None, None) => self,
        }
    }
    /// Is this an error (not a warning)?
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders like rustc:
    ///
    /// ```text
    /// error[E0101]: unknown name `stationn`
    ///   --> policies/bad.yj:4:7
    ///    |
    ///  4 |   key stationn
    ///    |       ^^^^^^^^ not a field of event `rain`
    ///    |
    ///    = help: did you mean `station`?
    /// ```
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut s = String::new();
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(s, "{sev}[{}]: {}", self.code, self.message);
        let Some(file) = sources.file(self.span.file) else {
            return s;
        };
        let (line, col) = file.line_col(self.span.start);
        let (end_line, _) = file.line_col(self.span.end);
        let num = line.to_string();
        let pad = " ".repeat(num.len());
        let _ = writeln!(s, "{pad}--> {}:{line}:{col}", file.name);
        let _ = writeln!(s, "{pad} |");
        let text = file.line_text(line);
        let _ = writeln!(s, "{num} | {text}");
        let before: String = text.chars().take(col.saturating_sub(1)).collect();
        let covered: String = if end_line == line {
            let n = self.span.end.saturating_sub(self.span.start) as usize;
            let start = (self.span.start as usize).min(file.text.len());
            file.text
                .get(start..(start + n).min(file.text.len()))
                .unwrap_or("")
                .to_string()
        } else {
            text.chars().skip(col.saturating_sub(1)).collect()
        };
        let carets = covered.width().max(1);
        let _ = write!(
            s,
            "{pad} | {}{}",
            " ".repeat(before.width()),
            "^".repeat(carets)
        );
        if !self.label.is_empty() {
            let _ = write!(s, " {}", self.label);
        }
        s.push('\n');
        if let Some(h) = &self.hint {
            let _ = writeln!(s, "{pad} |");
            let _ = writeln!(s, "{pad} = help: {h}");
        }
        s
    }

    /// A JSON object for machines: severity, code, message, file, line,
    /// column, end_line, end_column, label, hint.
    pub fn to_json(&self, sources: &SourceMap) -> serde_json::Value {
        let (file, (line, column), (end_line, end_column)) = match sources.file(self.span.file) {
            Some(f) => (
                f.name.to_string(),
                f.line_col(self.span.start),
                f.line_col(self.span.end),
            ),
            None => (String::new(), (0, 0), (0, 0)),
        };
        serde_json::json!({
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": file,
            "line": line,
            "column": column,
            "end_line": end_line,
            "end_column": end_column,
            "label": self.label,
            "hint": self.hint,
        })
    }
}

/// The byte offset of 1-based `line` and `col` (counted in characters) in
/// `text`, as YAML and script errors give them; past the end of a line, its
/// end; past the last line, the end of the text.
///
/// ```
/// assert_eq!(yingji_dsl::diag::offset_of("ab\n雨量: x\n", 2, 3), 9);
/// ```
pub fn offset_of(text: &str, line: usize, col: usize) -> usize {
    let mut off = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return off
                + l.char_indices()
                    .nth(col.saturating_sub(1))
                    .map_or(l.len(), |(b, _)| b);
        }
        off += l.len();
    }
    text.len()
}

/// The closest candidate to `name` within a small edit distance, for
/// "did you mean" hints.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (levenshtein(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Edit distance counting a swap of two neighbours as one edit
/// (optimal string alignment), so `rian` is one edit from `rain`.
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    let at = |i: usize, j: usize| i * w + j;
    for i in 0..=a.len() {
        if let Some(x) = d.get_mut(at(i, 0)) {
            *x = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(x) = d.get_mut(at(0, j)) {
            *x = j;
        }
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let get = |i: usize, j: usize| d.get(at(i, j)).copied().unwrap_or(usize::MAX / 2);
            let (ca, cb) = (a.get(i - 1), b.get(j - 1));
            let mut v = (get(i - 1, j) + 1)
                .min(get(i, j - 1) + 1)
                .min(get(i - 1, j - 1) + usize::from(ca != cb));
            if i > 1 && j > 1 && ca == b.get(j - 2) && a.get(i - 2) == cb {
                v = v.min(get(i - 2, j - 2) + 1);
            }
            if let Some(x) = d.get_mut(at(i, j)) {
                *x = v;
            }
        }
    }
    d.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_under_chinese_text() {
        let mut sm = SourceMap::default();
        let f = sm.add("a.yj", "signal 暴雨 {\n  key 站点号\n}\n");
        let start = "signal 暴雨 {\n  key ".len();
        let d = Diagnostic::error(
            codes::UNKNOWN_NAME,
            Span::new(f, start, start + "站点号".len()),
            "unknown name `站点号`",
        )
        .label("not a field")
        .hint("did you mean `站点`?");
        assert_eq!(
            d.render(&sm),
            "error[E0101]: unknown name `站点号`\n --> a.yj:2:7\n  |\n2 |   key 站点号\n  |       ^^^^^^ not a field\n  |\n  = help: did you mean `站点`?\n"
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("stationn", ["station", "town", "mm"]),
            Some("station")
        );
        assert_eq!(suggest("xyz", ["station", "town"]), None);
        assert_eq!(suggest("rian", ["rain", "river"]), Some("rain"));
    }
}
