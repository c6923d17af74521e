//! The canonical layout of definition files (`yingji fmt`, the language
//! server's formatting).
//!
//! `.yj` files ([`format_yj`]) are laid out from the grammar's own concrete
//! syntax tree ([`crate::syntax::yj`]): every token is kept as written and in
//! order, only the space between tokens changes, so the AST of the result is
//! the AST of the input. Comments are read from the text between the tree's
//! tokens and kept where they were (on their own line, or at the end of a
//! line). The layout:
//!
//! - two spaces per open bracket; a definition whose braces span lines has
//!   one clause (field, rule, row) per line and its `}` on a line of its own;
//!   one written on one line stays on one line;
//! - other line breaks are the author's (a long expression may go on over
//!   several lines, indented two more); runs of blank lines become one, none
//!   after `{` or before `}`;
//! - one space between tokens, none inside brackets, before `,` `:` `?` `)`,
//!   around `.`, after a unary `-` or before a call's `(`;
//! - ladders are aligned: consecutive one-line rules of a kind (`level`
//!   rows, `grade` rows, `due`/`repeat` rows, `let`s, criteria, vetoes, table
//!   rows, one-line definitions) line up their keywords (`when`, the
//!   comparison of a `level` condition, `or`/`and` terms, `for`/`clear`/`hold`,
//!   `within`, `after`, table columns) in columns by display width (a Chinese
//!   character counts two);
//! - end-of-line comments of consecutive lines start in one column, two
//!   spaces after the longest line that has one.
//!
//! Inline rhai bodies are kept verbatim. YAML files ([`format_yaml`]) get a
//! light canonical form: see there.
//!
//! A file that does not parse is not formatted: its diagnostics come back
//! instead.

use crate::diag::{Diagnostic, FileId, Span, codes};
use crate::syntax::yj::{Rule, concrete_tree, is_infix, parse_file};
use pest::iterators::Pair;
use std::collections::HashMap;
use unicode_width::UnicodeWidthStr;

/// Formats a definition file by its name: `.yaml`/`.yml` as YAML, anything
/// else as `.yj`. `Err` holds the diagnostics of a file that does not parse
/// (the text is then left as it is).
pub fn format_file(file: FileId, name: &str, text: &str) -> Result<String, Vec<Diagnostic>> {
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        format_yaml(file, text)
    } else {
        format_yj(file, text)
    }
}

/// The canonical layout of a `.yj` text (see the module documentation).
///
/// ```
/// let text = "signal s { from rain\nkey station\nlevel red when mm>=100\nlevel 橙色 when mm >= 50 }\n";
/// let out = yingji_dsl::fmt::format_yj(0, text).unwrap();
/// assert_eq!(
///     out,
///     "signal s {\n  from rain\n  key station\n  level red  when mm >= 100\n  level 橙色 when mm >= 50\n}\n"
/// );
/// ```
pub fn format_yj(file: FileId, text: &str) -> Result<String, Vec<Diagnostic>> {
    let (_, diags) = parse_file(file, text);
    let errors: Vec<Diagnostic> = diags.into_iter().filter(Diagnostic::is_error).collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let pairs = concrete_tree(file, text).map_err(|d| vec![d])?;
    let mut w = Walker {
        text,
        toks: Vec::new(),
        items: Vec::new(),
        expr_ops: HashMap::new(),
        next_id: 1,
        pending_nl: 0,
    };
    let mut pos = 0;
    for p in pairs {
        let s = p.as_span();
        w.gap(pos, s.start(), Rule::file, 0);
        w.walk(p);
        pos = s.end();
    }
    w.gap(pos, text.len(), Rule::file, 0);
    Ok(layout(&w))
}

/// The light canonical form of a YAML definition file (plans, chains,
/// rosters, YAML policies): block indentation two spaces per level (a
/// sequence's `- ` items stay where the author put them, at or under their
/// key; a block scalar's lines move with their key), `- ` followed by one
/// space, a comment line indented like the line it precedes when it was
/// written at that line's indentation; line ends `\n`, no trailing spaces,
/// no blank lines at the start, runs of blank lines made one, one newline at
/// the end. Keys and their order, flow collections (`{ ... }`, `[ ... ]`),
/// quoting and comments stay as written. What the document says is
/// compared before and after (as a YAML value): if re-indenting would change
/// it, only the line-level clean-up is done, and if even that would (a
/// block scalar's blank lines or trailing spaces), the text is returned
/// unchanged. A document that does not parse as YAML (or, for a policy
/// document, as a policy) gives its diagnostics.
pub fn format_yaml(file: FileId, text: &str) -> Result<String, Vec<Diagnostic>> {
    let before = yaml_value(file, text)?;
    let keys = crate::syntax::yaml::top_keys(text);
    if !keys.is_empty()
        && !crate::syntax::yaml::plan::is_plan_yaml(text)
        && keys
            .iter()
            .all(|k| k == "events" || k == "signals" || k == "tables")
    {
        let (_, diags) = crate::syntax::yaml::policy::parse_yaml(file, text);
        let errors: Vec<Diagnostic> = diags.into_iter().filter(Diagnostic::is_error).collect();
        if !errors.is_empty() {
            return Err(errors);
        }
    }
    for candidate in [clean_lines(&reindent(text)), clean_lines(text)] {
        if yaml_value(file, &candidate).is_ok_and(|after| after == before) {
            return Ok(candidate);
        }
    }
    Ok(text.to_string())
}

/// No trailing spaces, single blank lines, none at the start, one final newline.
fn clean_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = false;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push('\n');
            blank = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Where a line written at column `col` goes: the open blocks are
/// `(written column, new column)`, innermost last.
fn place(stack: &[(usize, usize)], col: usize) -> usize {
    let open: Vec<&(usize, usize)> = stack.iter().filter(|(c, _)| *c <= col).collect();
    match open.last() {
        Some((c, n)) if *c == col => *n,
        Some((_, n)) => n + 2,
        None => 0,
    }
}

/// Whether a line opens a block scalar (`key: |`, `- >-`, `|2`).
fn opens_block_scalar(content: &str) -> bool {
    let code = match content.find(" #") {
        Some(i) => &content[..i],
        None => content,
    };
    let last = code.trim_end().rsplit([' ', '\t']).next().unwrap_or("");
    let mut chars = last.chars();
    matches!(chars.next(), Some('|' | '>'))
        && chars.all(|c| matches!(c, '+' | '-') || c.is_ascii_digit())
}

/// Block indentation two spaces per level (see [`format_yaml`]).
fn reindent(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let mut out = String::with_capacity(text.len());
    let mut stack: Vec<(usize, usize)> = Vec::new();
    // inside a block scalar: its key's written column, and the shift
    let mut scalar: Option<(usize, isize)> = None;
    let indent_of = |l: &str| l.len() - l.trim_start_matches(' ').len();
    for (i, line) in lines.iter().enumerate() {
        let content = line.trim_start_matches(' ');
        let col = line.len() - content.len();
        if let Some((parent, shift)) = scalar {
            if content.is_empty() || col > parent {
                if !content.is_empty() {
                    let to = (col as isize + shift).max(0) as usize;
                    out.push_str(&" ".repeat(to));
                    out.push_str(content);
                }
                out.push('\n');
                continue;
            }
            scalar = None;
        }
        if content.is_empty() {
            out.push('\n');
            continue;
        }
        if content.starts_with('#') {
            let next = lines.get(i + 1..).into_iter().flatten().find(|l| {
                let c = l.trim_start_matches(' ');
                !c.is_empty() && !c.starts_with('#')
            });
            let to = match next {
                Some(n) if indent_of(n) == col => place(&stack, col),
                _ => col,
            };
            out.push_str(&" ".repeat(to));
            out.push_str(content);
            out.push('\n');
            continue;
        }
        while stack.last().is_some_and(|(c, _)| *c > col) {
            stack.pop();
        }
        let to = place(&stack, col);
        if stack.last().is_none_or(|(c, _)| *c != col) {
            stack.push((col, to));
        }
        out.push_str(&" ".repeat(to));
        let mut key_col = col;
        let mut key_to = to;
        match content.strip_prefix('-') {
            Some(rest) if rest.starts_with(' ') && !rest.trim_start().is_empty() => {
                let item = rest.trim_start_matches(' ');
                key_col = col + 1 + (rest.len() - item.len());
                key_to = to + 2;
                stack.push((key_col, key_to));
                out.push_str("- ");
                out.push_str(item);
            }
            _ => out.push_str(content),
        }
        out.push('\n');
        if opens_block_scalar(content) {
            scalar = Some((key_col, key_to as isize - key_col as isize));
        }
    }
    out
}

fn yaml_value(file: FileId, text: &str) -> Result<serde_json::Value, Vec<Diagnostic>> {
    serde_saphyr::from_str::<serde_json::Value>(text).map_err(|e| {
        vec![
            Diagnostic::error(codes::YAML, Span::new(file, 0, 0), format!("not YAML: {e}"))
                .label("the file does not parse"),
        ]
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A token kept verbatim (a name, a string, a number, a rhai body).
    Leaf,
    /// A keyword or punctuation written by the grammar.
    Lit,
    /// `# ...` to the end of the line.
    Comment,
}

#[derive(Debug)]
struct Tok<'a> {
    text: &'a str,
    kind: Kind,
    /// The token's own rule (a leaf) or the rule of the pair it is written in.
    rule: Rule,
    /// The id of the pair it is written in (a leaf: its own pair).
    owner: usize,
    /// Line breaks between the previous token and this one.
    nl_before: usize,
    /// The innermost item (clause of a multi-line block, or definition) it is part of.
    item: Option<usize>,
    /// The item it starts.
    item_start: Option<usize>,
    /// A block's `{`: whether the block spans lines.
    open: Option<bool>,
    /// The `}` of a block that spans lines.
    close: bool,
    /// Starts a column of its item's row: the column's tag and the item's pair id.
    cell: Option<(String, usize)>,
}

#[derive(Debug)]
struct Item {
    /// The block it is in (the block pair's id; 0 for the file).
    block: usize,
    rule: Rule,
    pair: usize,
    first: usize,
    end: usize,
}

struct Child {
    id: usize,
    rule: Rule,
    first: usize,
    end: usize,
}

struct Walker<'a> {
    text: &'a str,
    toks: Vec<Tok<'a>>,
    items: Vec<Item>,
    /// An expression pair's own infix operators (rule, token index).
    expr_ops: HashMap<usize, Vec<(Rule, usize)>>,
    next_id: usize,
    pending_nl: usize,
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{3000}')
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Pairs kept as one verbatim token.
fn verbatim(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::string
            | Rule::quantity
            | Rule::rhai_body
            | Rule::signed
            | Rule::int
            | Rule::ident
            | Rule::level_name
            | Rule::boolean
    )
}

/// Definitions whose `{ ... }` holds clauses.
fn block_rule(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::event_def
            | Rule::signal_def
            | Rule::table_def
            | Rule::grading_def
            | Rule::deadline_def
            | Rule::roster_def
            | Rule::assessment_def
            | Rule::import_def
    )
}

fn is_comparison(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::eq | Rule::ne | Rule::lt | Rule::le | Rule::gt | Rule::ge
    )
}

impl<'a> Walker<'a> {
    fn push(&mut self, text: &'a str, kind: Kind, rule: Rule, owner: usize) {
        let nl_before = std::mem::take(&mut self.pending_nl);
        self.toks.push(Tok {
            text,
            kind,
            rule,
            owner,
            nl_before,
            item: None,
            item_start: None,
            open: None,
            close: false,
            cell: None,
        });
    }

    /// The text between two pairs: whitespace, comments and the grammar's
    /// literal keywords and punctuation.
    fn gap(&mut self, from: usize, to: usize, rule: Rule, owner: usize) {
        let Some(mut rest) = self.text.get(from..to) else {
            return;
        };
        loop {
            let trimmed = rest.trim_start_matches(is_ws);
            self.pending_nl += rest
                .get(..rest.len() - trimmed.len())
                .map_or(0, |ws| ws.matches('\n').count());
            let Some(first) = trimmed.chars().next() else {
                return;
            };
            let (len, kind) = if first == '#' {
                (trimmed.find('\n').unwrap_or(trimmed.len()), Kind::Comment)
            } else if is_word(first) {
                (
                    trimmed.find(|c| !is_word(c)).unwrap_or(trimmed.len()),
                    Kind::Lit,
                )
            } else if ["->", ">=", "<=", "==", "!="]
                .iter()
                .any(|p| trimmed.starts_with(p))
            {
                (2, Kind::Lit)
            } else {
                (first.len_utf8(), Kind::Lit)
            };
            let (tok, after) = trimmed.split_at(len);
            let tok = if kind == Kind::Comment {
                tok.trim_end()
            } else {
                tok
            };
            self.push(tok, kind, rule, owner);
            rest = after;
        }
    }

    fn walk(&mut self, p: Pair<'a, Rule>) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        let rule = p.as_rule();
        let span = p.as_span();
        if span.start() == span.end() {
            return id;
        }
        let inner: Vec<Pair<'a, Rule>> = if verbatim(rule) {
            Vec::new()
        } else {
            p.clone().into_inner().collect()
        };
        if inner.is_empty() {
            if verbatim(rule) || span.as_str().contains(['"', '`', '{', '#']) {
                self.push(span.as_str(), Kind::Leaf, rule, id);
            } else {
                self.gap(span.start(), span.end(), rule, id);
            }
            return id;
        }
        let lo = self.toks.len();
        let mut pos = span.start();
        let mut children = Vec::with_capacity(inner.len());
        for c in inner {
            let cs = c.as_span();
            self.gap(pos, cs.start(), rule, id);
            let first = self.toks.len();
            let crule = c.as_rule();
            let cid = self.walk(c);
            children.push(Child {
                id: cid,
                rule: crule,
                first,
                end: self.toks.len(),
            });
            pos = cs.end();
        }
        self.gap(pos, span.end(), rule, id);
        let hi = self.toks.len();
        self.annotate(id, rule, &children, lo, hi);
        id
    }

    fn add_item(&mut self, block: usize, c: &Child) {
        if c.first >= c.end {
            return;
        }
        let k = self.items.len();
        self.items.push(Item {
            block,
            rule: c.rule,
            pair: c.id,
            first: c.first,
            end: c.end,
        });
        if let Some(t) = self.toks.get_mut(c.first) {
            t.item_start = Some(k);
        }
        for t in self.toks.get_mut(c.first..c.end).into_iter().flatten() {
            t.item.get_or_insert(k);
        }
    }

    fn lit(&self, owner: usize, text: &str, lo: usize, hi: usize) -> Option<usize> {
        (lo..hi).find(|&i| {
            self.toks
                .get(i)
                .is_some_and(|t| t.kind == Kind::Lit && t.owner == owner && t.text == text)
        })
    }

    fn tag(&mut self, at: Option<usize>, tag: &str, owner: usize) {
        if let Some(t) = at.and_then(|i| self.toks.get_mut(i)) {
            t.cell = Some((tag.to_string(), owner));
        }
    }

    fn tag_child(&mut self, children: &[Child], rule: Rule, tag: &str, owner: usize) {
        let at: Vec<usize> = children
            .iter()
            .filter(|c| c.rule == rule && c.first < c.end)
            .map(|c| c.first)
            .collect();
        for i in at {
            self.tag(Some(i), tag, owner);
        }
    }

    /// Columns inside a condition: its one comparison, or its `or` (`and`) terms.
    fn tag_expr(&mut self, children: &[Child], owner: usize) {
        let Some(e) = children.iter().find(|c| c.rule == Rule::expr) else {
            return;
        };
        let ops = self.expr_ops.get(&e.id).cloned().unwrap_or_default();
        // the operators of the lowest precedence present: `or`, else `and`,
        // else a single comparison
        for (r, tag) in [(Rule::or, "or"), (Rule::and, "and")] {
            let at: Vec<usize> = ops.iter().filter(|o| o.0 == r).map(|o| o.1).collect();
            if !at.is_empty() {
                for i in at {
                    self.tag(Some(i), tag, owner);
                }
                return;
            }
        }
        let cmps: Vec<usize> = ops
            .iter()
            .filter(|o| is_comparison(o.0))
            .map(|o| o.1)
            .collect();
        if let [i] = cmps.as_slice() {
            self.tag(Some(*i), "cmp", owner);
        }
    }

    fn annotate(&mut self, id: usize, rule: Rule, children: &[Child], lo: usize, hi: usize) {
        match rule {
            Rule::file => {
                for c in children {
                    self.add_item(0, c);
                }
            }
            Rule::expr => {
                let ops = children
                    .iter()
                    .filter(|c| c.first < c.end && is_infix(c.rule))
                    .map(|c| (c.rule, c.first))
                    .collect();
                self.expr_ops.insert(id, ops);
            }
            Rule::level_rule => {
                let when = self.lit(id, "when", lo, hi);
                self.tag(when, "when", id);
                self.tag_expr(children, id);
                for r in [Rule::for_opt, Rule::clear_opt, Rule::hold_opt] {
                    self.tag_child(children, r, "opt", id);
                }
            }
            Rule::grade_rule => {
                self.tag_child(children, Rule::k_when, "when", id);
                self.tag_expr(children, id);
            }
            Rule::due_rule | Rule::repeat_rule => {
                let kw = if rule == Rule::due_rule {
                    "within"
                } else {
                    "every"
                };
                let at = self.lit(id, kw, lo, hi);
                self.tag(at, kw, id);
                self.tag_child(children, Rule::due_after, "after", id);
                self.tag_child(children, Rule::due_at, "at", id);
                self.tag_child(children, Rule::due_until, "until", id);
                self.tag_child(children, Rule::due_when, "when", id);
            }
            Rule::criterion => self.tag_child(children, Rule::crit_max, "max", id),
            Rule::veto_rule => self.tag_child(children, Rule::k_when, "when", id),
            Rule::let_clause => {
                let at = self.lit(id, "=", lo, hi);
                self.tag(at, "=", id);
            }
            Rule::table_row => {
                let cells: Vec<(usize, String)> = children
                    .iter()
                    .filter(|c| c.rule == Rule::table_cell && c.first < c.end)
                    .filter_map(|c| Some((c.first, self.toks.get(c.first)?.text.to_string())))
                    .collect();
                for (i, name) in cells {
                    self.tag(Some(i), &format!("col:{name}"), id);
                }
            }
            r if block_rule(r) => {
                let open = self.lit(id, "{", lo, hi);
                let close = (lo..hi).rev().find(|&i| {
                    self.toks
                        .get(i)
                        .is_some_and(|t| t.kind == Kind::Lit && t.owner == id && t.text == "}")
                });
                if let (Some(o), Some(c)) = (open, close) {
                    let multiline = self
                        .toks
                        .get(o + 1..=c)
                        .is_some_and(|ts| ts.iter().any(|t| t.nl_before > 0));
                    if let Some(t) = self.toks.get_mut(o) {
                        t.open = Some(multiline);
                    }
                    self.tag(Some(o), "{", id);
                    if multiline {
                        if let Some(t) = self.toks.get_mut(c) {
                            t.close = true;
                        }
                        if r != Rule::roster_def {
                            for ch in children.iter().filter(|ch| ch.first > o && ch.first < c) {
                                self.add_item(id, ch);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether two tokens on one line are written with a space between them.
fn spaced(p: &Tok<'_>, t: &Tok<'_>) -> bool {
    let lit = |x: &Tok<'_>, s: &str| x.kind == Kind::Lit && x.text == s;
    if lit(p, "(") || lit(p, "[") || lit(p, ".") {
        return false;
    }
    if [")", "]", ",", ";", ":", ".", "?"]
        .iter()
        .any(|s| lit(t, s))
    {
        return false;
    }
    if lit(t, "(") && matches!(t.rule, Rule::call | Rule::fn_params) {
        return false;
    }
    if p.kind == Kind::Lit && p.rule == Rule::neg {
        return false;
    }
    !(lit(p, "{") && lit(t, "}"))
}

#[derive(Debug, Default)]
struct Line {
    indent: usize,
    /// `(tag, text)`: the first cell has no tag.
    cells: Vec<(String, String)>,
    comment: Option<String>,
    blank_before: bool,
    own_comment: bool,
    /// The item this line starts.
    item: Option<usize>,
}

fn layout(w: &Walker<'_>) -> String {
    let toks = &w.toks;
    let mut lines: Vec<Line> = Vec::new();
    let mut line_of = vec![0usize; toks.len()];
    // open brackets: (a block that spans lines, its pair id)
    let mut stack: Vec<(bool, usize)> = Vec::new();
    let mut after_comment = false;
    let mut prev: Option<&Tok<'_>> = None;
    for (i, t) in toks.iter().enumerate() {
        let closer = t.kind == Kind::Lit && matches!(t.text, "}" | "]" | ")");
        let opener = t.kind == Kind::Lit && matches!(t.text, "{" | "[" | "(");
        let newline = lines.is_empty()
            || after_comment
            || t.nl_before > 0
            || t.item_start.is_some()
            || t.close;
        if t.kind == Kind::Comment && !newline {
            if let Some(l) = lines.last_mut() {
                l.comment = Some(t.text.to_string());
            }
            line_of[i] = lines.len().saturating_sub(1);
            after_comment = true;
            continue;
        }
        if closer {
            stack.pop();
        }
        if newline {
            let after_open = i > 0 && toks.get(i - 1).is_some_and(|p| p.open == Some(true));
            let blank_before = !lines.is_empty() && t.nl_before >= 2 && !t.close && !after_open;
            let mut depth = stack.len();
            let continues = t.kind != Kind::Comment
                && !closer
                && t.item_start.is_none()
                && t.item
                    .and_then(|k| w.items.get(k))
                    .is_some_and(|it| match stack.last() {
                        None => it.block == 0,
                        Some(&(block, pair)) => block && pair == it.block,
                    });
            if continues {
                depth += 1;
            }
            lines.push(Line {
                indent: 2 * depth,
                cells: vec![(String::new(), String::new())],
                blank_before,
                own_comment: t.kind == Kind::Comment,
                item: t.item_start,
                ..Line::default()
            });
            prev = None;
        }
        let cur = lines.len() - 1;
        line_of[i] = cur;
        let Some(line) = lines.last_mut() else {
            continue;
        };
        if t.kind == Kind::Comment {
            if let Some(c) = line.cells.last_mut() {
                c.1.push_str(t.text);
            }
            after_comment = true;
            continue;
        }
        after_comment = false;
        let row_pair = line.item.and_then(|k| w.items.get(k)).map(|it| it.pair);
        match &t.cell {
            Some((tag, owner)) if Some(*owner) == row_pair && prev.is_some() => {
                line.cells.push((tag.clone(), t.text.to_string()));
            }
            _ => {
                if let Some(c) = line.cells.last_mut() {
                    if prev.is_some_and(|p| spaced(p, t)) {
                        c.1.push(' ');
                    }
                    c.1.push_str(t.text);
                }
            }
        }
        if opener {
            stack.push((t.open == Some(true), t.owner));
        }
        prev = Some(t);
    }
    // which lines hold a whole item (a row that may be aligned)
    let is_row = |l: &Line, n: usize| {
        l.item.and_then(|k| w.items.get(k)).is_some_and(|it| {
            (it.first..it.end).all(|i| {
                toks.get(i).is_none_or(|t| t.kind == Kind::Comment) || line_of.get(i) == Some(&n)
            })
        })
    };
    let rows: Vec<bool> = lines
        .iter()
        .enumerate()
        .map(|(n, l)| is_row(l, n))
        .collect();
    let mut texts: Vec<String> = lines
        .iter()
        .map(|l| {
            l.cells
                .iter()
                .map(|c| c.1.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    // align the columns of runs of rows
    let mut n = 0;
    while n < lines.len() {
        if !rows[n] {
            n += 1;
            continue;
        }
        let block = lines[n]
            .item
            .and_then(|k| w.items.get(k))
            .map(|it| it.block);
        let mut end = n + 1;
        while end < lines.len()
            && rows[end]
            && !lines[end].blank_before
            && lines[end]
                .item
                .and_then(|k| w.items.get(k))
                .map(|it| it.block)
                == block
        {
            end += 1;
        }
        align_rows(w, &lines[n..end], &mut texts[n..end]);
        n = end;
    }
    // end-of-line comments of consecutive lines in one column
    let mut out = String::new();
    let mut n = 0;
    while n < lines.len() {
        let mut end = n + 1;
        while end < lines.len() && !lines[end].blank_before && !lines[end].own_comment {
            end += 1;
        }
        let col = (n..end)
            .filter(|&i| lines[i].comment.is_some())
            .map(|i| lines[i].indent + texts[i].width())
            .max()
            .unwrap_or(0)
            + 2;
        for i in n..end {
            let l = &lines[i];
            if l.blank_before {
                out.push('\n');
            }
            let mut s = " ".repeat(l.indent);
            s.push_str(&texts[i]);
            if let Some(c) = &l.comment {
                let pad = col.saturating_sub(s.width()).max(1);
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
            out.push_str(s.trim_end());
            out.push('\n');
        }
        n = end;
    }
    out
}

/// Pads the columns of one run of rows: column `j` of a row lines up with
/// column `j` of every row of the same kind whose columns up to `j + 1`
/// have the same tags.
fn align_rows(w: &Walker<'_>, lines: &[Line], texts: &mut [String]) {
    type Key = (Option<Rule>, Vec<String>);
    let key = |l: &Line, j: usize| -> Key {
        let rule = l.item.and_then(|k| w.items.get(k)).map(|it| it.rule);
        (
            rule,
            l.cells.iter().take(j + 2).map(|c| c.0.clone()).collect(),
        )
    };
    let mut widths: HashMap<Key, usize> = HashMap::new();
    for l in lines {
        for j in 0..l.cells.len().saturating_sub(1) {
            let wd = l.cells[j].1.width();
            let e = widths.entry(key(l, j)).or_insert(0);
            *e = (*e).max(wd);
        }
    }
    for (l, text) in lines.iter().zip(texts.iter_mut()) {
        let mut s = String::new();
        for (j, c) in l.cells.iter().enumerate() {
            s.push_str(&c.1);
            if j + 1 < l.cells.len() {
                let wd = widths.get(&key(l, j)).copied().unwrap_or(0);
                s.push_str(&" ".repeat(wd.saturating_sub(c.1.width()) + 1));
            }
        }
        *text = s;
    }
}
