//! Guards of plan steps: `level >= orange`, `response < III`,
//! `暴雨预警 == red or unanswered(叫应)`, `event.灾情 == "有人员被困"`.
//!
//! ```text
//! cond    := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | "(" cond ")" | call | cmp | "true" | "false"
//! call    := ("answered" | "unanswered") "(" step ")"
//! cmp     := operand ("==" | "!=" | "<" | "<=" | ">" | ">=") operand
//! operand := "level" | "response" | "event." field | signal | level | response level | number | "text"
//! ```
//!
//! The parser is a recursive descent whose `and`/`or` chains are loops;
//! only `(` and `not` recurse, at most [`MAX_DEPTH`] levels, and a guard
//! holds at most [`MAX_TERMS`] `and`/`or`s (the limits of expressions, see
//! [`crate::limits`]).
//!
//! A bare name is a warning level (`blue` … `red`, `蓝色` …), a response
//! level (`IV` … `I`, `Ⅳ` … `Ⅰ`) or a signal; `IV`-style names count as
//! response levels when compared with `response`, as warning levels otherwise.

use crate::diag::{Diagnostic, FileId, Span, codes, suggest};
use crate::limits::{self, MAX_DEPTH, MAX_TERMS};
use std::collections::HashMap;
use yingji_engine::value::Level;
use yingji_engine::workflow::ir::{CmpOp, Cond, Operand, Response, StepIdx};

/// What names a guard may use.
pub struct CondEnv<'a> {
    /// Step ids of the plan, with whether each is a notify step.
    pub steps: &'a HashMap<String, (StepIdx, bool)>,
    /// Known signals.
    pub signals: &'a [String],
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Name(String),
    Num(f64),
    Str(String),
    Op(CmpOp),
    LParen,
    RParen,
    Dot,
}

fn lex(file: FileId, base: usize, text: &str) -> Result<Vec<(Tok, Span)>, Diagnostic> {
    let mut toks = Vec::new();
    let mut it = text.char_indices().peekable();
    let span = |a: usize, b: usize| Span::new(file, base + a, base + b);
    while let Some(&(i, c)) = it.peek() {
        if c.is_whitespace() {
            it.next();
            continue;
        }
        if c == '(' || c == ')' || c == '.' {
            it.next();
            let t = match c {
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                _ => Tok::Dot,
            };
            toks.push((t, span(i, i + 1)));
            continue;
        }
        if matches!(c, '=' | '!' | '<' | '>') {
            it.next();
            let eq = it.peek().is_some_and(|&(_, d)| d == '=');
            if eq {
                it.next();
            }
            let (op, len) = match (c, eq) {
                ('=', true) => (CmpOp::Eq, 2),
                ('!', true) => (CmpOp::Ne, 2),
                ('<', true) => (CmpOp::Le, 2),
                ('>', true) => (CmpOp::Ge, 2),
                ('<', false) => (CmpOp::Lt, 1),
                ('>', false) => (CmpOp::Gt, 1),
                _ => {
                    return Err(Diagnostic::error(
                        codes::PLAN_COND,
                        span(i, i + 1),
                        format!("unexpected `{c}`"),
                    )
                    .label("write `==` or `!=`"));
                }
            };
            toks.push((Tok::Op(op), span(i, i + len)));
            continue;
        }
        if c == '"' {
            it.next();
            let mut s = String::new();
            let mut end = None;
            for (j, d) in it.by_ref() {
                if d == '"' {
                    end = Some(j);
                    break;
                }
                s.push(d);
            }
            let Some(end) = end else {
                return Err(Diagnostic::error(
                    codes::PLAN_COND,
                    span(i, text.len()),
                    "unterminated text",
                )
                .label("missing closing `\"`"));
            };
            toks.push((Tok::Str(s), span(i, end + 1)));
            continue;
        }
        if c.is_ascii_digit() || c == '-' {
            let mut end = i;
            let mut s = String::new();
            while let Some(&(j, d)) = it.peek() {
                if d.is_ascii_digit() || d == '.' || (d == '-' && j == i) {
                    s.push(d);
                    end = j + d.len_utf8();
                    it.next();
                } else {
                    break;
                }
            }
            let n: f64 = s.parse().map_err(|_| {
                Diagnostic::error(
                    codes::PLAN_COND,
                    span(i, end.max(i + 1)),
                    format!("`{s}` is not a number"),
                )
            })?;
            toks.push((Tok::Num(n), span(i, end)));
            continue;
        }
        if c.is_alphanumeric() || c == '_' || !c.is_ascii() {
            let mut end = i;
            let mut s = String::new();
            while let Some(&(j, d)) = it.peek() {
                if d.is_alphanumeric() || d == '_' || (!d.is_ascii() && !d.is_whitespace()) {
                    s.push(d);
                    end = j + d.len_utf8();
                    it.next();
                } else {
                    break;
                }
            }
            toks.push((Tok::Name(s), span(i, end)));
            continue;
        }
        return Err(Diagnostic::error(
            codes::PLAN_COND,
            span(i, i + c.len_utf8()),
            format!("unexpected `{c}` in a condition"),
        ));
    }
    Ok(toks)
}

/// An operand before its literals are typed by the other side.
#[derive(Clone, Debug)]
enum Raw {
    Level,
    Response,
    Signal(String),
    Field(String),
    Bare(String),
    Num(f64),
    Str(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ty {
    Level,
    Response,
    Value,
    Unknown,
}

struct P<'a, 'e> {
    toks: Vec<(Tok, Span)>,
    pos: usize,
    env: &'a CondEnv<'e>,
    end: Span,
    /// Open `(` and `not` around the current position.
    depth: usize,
    /// `and`/`or` operators so far.
    terms: usize,
}

impl P<'_, '_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }
    fn span(&self) -> Span {
        self.toks.get(self.pos).map_or(self.end, |(_, s)| *s)
    }
    fn is_name(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Name(n)) if n == w)
    }
    fn err(&self, what: &str) -> Diagnostic {
        Diagnostic::error(codes::PLAN_COND, self.span(), format!("expected {what}"))
            .label(format!("expected {what}"))
    }

    /// Counts one `and`/`or`; chains are collected in a loop (never
    /// recursing per term) but their length is bounded like expressions'.
    fn term(&mut self) -> Result<(), Diagnostic> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(limits::too_long(self.span()));
        }
        self.pos += 1;
        Ok(())
    }

    /// Enters a `(` or `not`: the recursion below is bounded by [`MAX_DEPTH`].
    fn enter(&mut self) -> Result<(), Diagnostic> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let s = self.span();
            let len = (s.end - s.start) as usize;
            return Err(limits::too_deep(s.file, s.start as usize, len));
        }
        self.pos += 1;
        Ok(())
    }

    fn or(&mut self) -> Result<Cond, Diagnostic> {
        let mut v = vec![self.and()?];
        while self.is_name("or") {
            self.term()?;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Cond::Or(v)
        })
    }

    fn and(&mut self) -> Result<Cond, Diagnostic> {
        let mut v = vec![self.not()?];
        while self.is_name("and") {
            self.term()?;
            v.push(self.not()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Cond::And(v)
        })
    }

    fn not(&mut self) -> Result<Cond, Diagnostic> {
        if self.is_name("not") {
            self.enter()?;
            let c = Cond::Not(Box::new(self.not()?));
            self.depth -= 1;
            return Ok(c);
        }
        if self.peek() == Some(&Tok::LParen) {
            self.enter()?;
            let c = self.or()?;
            if self.peek() != Some(&Tok::RParen) {
                return Err(self.err("`)`"));
            }
            self.pos += 1;
            self.depth -= 1;
            return Ok(c);
        }
        self.atom()
    }

    /// A constant, a call or a comparison: no recursion, so its (large,
    /// diagnostic-building) frame is never stacked up by nesting.
    #[inline(never)]
    fn atom(&mut self) -> Result<Cond, Diagnostic> {
        for (w, b) in [("true", true), ("false", false)] {
            if self.is_name(w) {
                self.pos += 1;
                return Ok(Cond::Const(b));
            }
        }
        for call in ["answered", "unanswered"] {
            if self.is_name(call)
                && self.toks.get(self.pos + 1).map(|(t, _)| t) == Some(&Tok::LParen)
            {
                self.pos += 2;
                let at = self.span();
                let Some(Tok::Name(step)) = self.peek().cloned() else {
                    return Err(self.err("a step id"));
                };
                self.pos += 1;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.err("`)`"));
                }
                self.pos += 1;
                let Some(&(idx, notify)) = self.env.steps.get(&step) else {
                    let mut d = Diagnostic::error(
                        codes::PLAN_UNDEFINED,
                        at,
                        format!("no step `{step}` in this plan"),
                    )
                    .label("undefined step");
                    if let Some(s) = suggest(&step, self.env.steps.keys().map(String::as_str)) {
                        d = d.hint(format!("did you mean `{s}`?"));
                    }
                    return Err(d);
                };
                if !notify {
                    return Err(Diagnostic::error(
                        codes::PLAN_SHAPE,
                        at,
                        format!("`{call}({step})` needs a notify step; `{step}` calls nobody"),
                    )
                    .label("not a notify step"));
                }
                return Ok(if call == "answered" {
                    Cond::Answered(idx)
                } else {
                    Cond::Unanswered(idx)
                });
            }
        }
        let (a, sa) = self.operand()?;
        let Some(Tok::Op(op)) = self.peek().cloned() else {
            return Err(self.err("a comparison (`==`, `>=`, …)"));
        };
        self.pos += 1;
        let (b, sb) = self.operand()?;
        let (a, ta) = self.resolve(a, sa, self.hint_ty(&b))?;
        let (b, tb) = self.resolve(b, sb, ta)?;
        if ta != tb && ta != Ty::Unknown && tb != Ty::Unknown {
            let name = |t: Ty| match t {
                Ty::Level => "a warning level",
                Ty::Response => "a response level",
                _ => "a value",
            };
            return Err(Diagnostic::error(
                codes::PLAN_COND,
                sa.to(sb),
                format!("cannot compare {} with {}", name(ta), name(tb)),
            )
            .label("mismatched types")
            .hint("compare `level` or a signal with blue…red, and `response` with IV…I"));
        }
        Ok(Cond::Cmp(a, op, b))
    }

    fn operand(&mut self) -> Result<(Raw, Span), Diagnostic> {
        let at = self.span();
        let t = self.peek().cloned();
        self.pos += 1;
        Ok(match t {
            Some(Tok::Num(n)) => (Raw::Num(n), at),
            Some(Tok::Str(s)) => (Raw::Str(s), at),
            Some(Tok::Name(n)) if n == "level" => (Raw::Level, at),
            Some(Tok::Name(n)) if n == "response" => (Raw::Response, at),
            Some(Tok::Name(n)) if n == "event" => {
                if self.peek() != Some(&Tok::Dot) {
                    return Err(self.err("`.` and a field name after `event`"));
                }
                self.pos += 1;
                let fs = self.span();
                let Some(Tok::Name(f)) = self.peek().cloned() else {
                    return Err(self.err("a field name"));
                };
                self.pos += 1;
                (Raw::Field(f), at.to(fs))
            }
            Some(Tok::Name(n)) if self.env.signals.contains(&n) => (Raw::Signal(n), at),
            Some(Tok::Name(n)) => (Raw::Bare(n), at),
            _ => {
                self.pos -= 1;
                return Err(self.err("a value"));
            }
        })
    }

    fn hint_ty(&self, r: &Raw) -> Ty {
        match r {
            Raw::Level | Raw::Signal(_) => Ty::Level,
            Raw::Response => Ty::Response,
            Raw::Field(_) | Raw::Num(_) | Raw::Str(_) => Ty::Value,
            Raw::Bare(_) => Ty::Unknown,
        }
    }

    fn resolve(&self, r: Raw, at: Span, other: Ty) -> Result<(Operand, Ty), Diagnostic> {
        Ok(match r {
            Raw::Level => (Operand::Level, Ty::Level),
            Raw::Response => (Operand::Response, Ty::Response),
            Raw::Signal(s) => (Operand::SignalLevel(s), Ty::Level),
            Raw::Field(f) => (Operand::EventField(f), Ty::Unknown),
            Raw::Num(n) => (Operand::Num(n), Ty::Value),
            Raw::Str(s) => (Operand::Str(s), Ty::Value),
            Raw::Bare(n) => {
                let resp = Response::parse(&n);
                let lvl = Level::parse(&n);
                match (other, resp, lvl) {
                    (Ty::Response, Some(r), _) => (Operand::ResponseLit(r), Ty::Response),
                    (_, _, Some(l)) if other != Ty::Response => (Operand::LevelLit(l), Ty::Level),
                    (_, Some(r), None) => (Operand::ResponseLit(r), Ty::Response),
                    (_, _, Some(l)) => (Operand::LevelLit(l), Ty::Level),
                    _ => {
                        let mut d = Diagnostic::error(
                            codes::PLAN_UNDEFINED,
                            at,
                            format!(
                                "`{n}` is neither a signal, a warning level nor a response level"
                            ),
                        )
                        .label("unknown name");
                        let mut names: Vec<&str> =
                            self.env.signals.iter().map(String::as_str).collect();
                        names.extend([
                            "level", "response", "blue", "yellow", "orange", "red", "none",
                        ]);
                        if let Some(s) = suggest(&n, names) {
                            d = d.hint(format!("did you mean `{s}`?"));
                        } else {
                            d = d.hint(format!("known signals: {}", self.env.signals.join(", ")));
                        }
                        return Err(d);
                    }
                }
            }
        })
    }
}

/// Parses a guard written at byte `base` of `file`.
pub fn parse_cond(
    file: FileId,
    base: usize,
    text: &str,
    env: &CondEnv<'_>,
) -> Result<Cond, Diagnostic> {
    let toks = lex(file, base, text)?;
    let end = Span::new(file, base + text.len(), base + text.len());
    if toks.is_empty() {
        return Err(Diagnostic::error(
            codes::PLAN_COND,
            Span::new(file, base, base + text.len()),
            "empty condition",
        ));
    }
    let mut p = P {
        toks,
        pos: 0,
        env,
        end,
        depth: 0,
        terms: 0,
    };
    let c = p.or()?;
    if p.pos < p.toks.len() {
        return Err(p.err("`and`, `or` or the end of the condition"));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_parse(text: &str) -> Result<Cond, Diagnostic> {
        let steps: HashMap<String, (StepIdx, bool)> = [
            ("叫应".to_string(), (0, true)),
            ("研判".to_string(), (1, false)),
        ]
        .into();
        let signals = vec!["暴雨预警".to_string()];
        parse_cond(
            0,
            0,
            text,
            &CondEnv {
                steps: &steps,
                signals: &signals,
            },
        )
    }

    #[test]
    fn parses_levels_responses_and_calls() {
        assert_eq!(
            env_parse("level == red or unanswered(叫应)").ok(),
            Some(Cond::Or(vec![
                Cond::Cmp(Operand::Level, CmpOp::Eq, Operand::LevelLit(Level::Red)),
                Cond::Unanswered(0)
            ]))
        );
        assert_eq!(
            env_parse("response < III").ok(),
            Some(Cond::Cmp(
                Operand::Response,
                CmpOp::Lt,
                Operand::ResponseLit(Response::III)
            ))
        );
        assert_eq!(
            env_parse("暴雨预警 >= 橙色").ok(),
            Some(Cond::Cmp(
                Operand::SignalLevel("暴雨预警".into()),
                CmpOp::Ge,
                Operand::LevelLit(Level::Orange)
            ))
        );
        assert!(env_parse("not (event.灾情 == \"被困\") and level < blue").is_ok());
    }

    #[test]
    fn nesting_and_length_are_bounded() {
        let ok = format!(
            "{}level == red{}",
            "(".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        );
        assert!(env_parse(&ok).is_ok());
        let deep = format!("{}level == red{}", "(".repeat(50_000), ")".repeat(50_000));
        let d = env_parse(&deep).err();
        assert_eq!(
            d.as_ref().map(|d| (d.code, d.span.start)),
            Some((codes::TOO_COMPLEX, 64))
        );
        let nots = format!("{}level == red", "not ".repeat(10_000));
        let d = env_parse(&nots).err();
        assert_eq!(
            d.as_ref().map(|d| (d.code, d.span.start)),
            Some((codes::TOO_COMPLEX, 256))
        );
        let long = vec!["level == red"; 10_000].join(" and ");
        let d = env_parse(&long).err().map(|d| d.code);
        assert_eq!(d, Some(codes::TOO_COMPLEX));
        let fits = vec!["level == red"; MAX_TERMS + 1].join(" or ");
        assert!(env_parse(&fits).is_ok());
    }

    #[test]
    fn reports_with_spans() {
        let e = env_parse("level >= 紫色")
            .err()
            .map(|d| (d.code, d.span.start));
        assert_eq!(e, Some((codes::PLAN_UNDEFINED, 9)));
        let e = env_parse("answered(研判)").err().map(|d| d.code);
        assert_eq!(e, Some(codes::PLAN_SHAPE));
        let e = env_parse("response == red").err().map(|d| d.code);
        assert_eq!(e, Some(codes::PLAN_COND));
        assert!(env_parse("level >=").is_err());
    }
}
