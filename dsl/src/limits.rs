//! Front-end limits: how deeply an expression may nest and how many
//! operators it may chain, so that no input can exhaust the stack.
//!
//! Every stage after parsing (the typer in `check/` and the lowering of its
//! scopes in `lower/`, constant folding, the engine's evaluators, serde of the
//! IR, even `Drop` of the trees) walks expressions recursively. The trees
//! are binary, so their depth is bounded by the nesting depth plus the number
//! of operators; both are bounded here, before anything recurses:
//!
//! - [`MAX_DEPTH`] levels of nesting: each `(`, `[`, `{` and each prefix
//!   operator (`not`, unary `-`) opens one level. It is checked by
//!   [`nesting_exceeds`], a linear scan of the raw text that runs *before*
//!   pest, because pest's generated parser (and the Pratt parser's prefix
//!   rule) recurses once per level.
//! - [`MAX_TERMS`] binary operators per expression (counted over the whole
//!   expression, nested parts included). Chains are parsed iteratively (the
//!   Pratt loop folds `a + b + c …` without recursing per term), but the tree
//!   they produce is as deep as the chain is long.
//! - YAML values and plan guards (`lower/plan/guards.rs`) are parsed by the
//!   same grammar entry (`syntax::yj::parse_expr`), so the same two numbers
//!   hold there, counted the same way (a guard's comparisons count).
//!
//! No real policy comes close: the bundled files nest 3 levels at most
//! (braces included) and their longest guard has 18 operators. With these
//! limits the deepest tree is about 200 nodes, which every recursive stage
//! walks within a 512 KiB thread stack even in a debug build (tested in
//! `tests/frontend_limits.rs`); the stages on that path keep their recursive
//! frames small for this (see `check/typeck.rs`).

use crate::diag::{Diagnostic, FileId, Span, codes};

/// Maximum nesting depth of brackets and prefix operators.
pub const MAX_DEPTH: usize = 64;

/// Maximum number of binary operators (`+`, `and`, `<`, …) in one expression.
pub const MAX_TERMS: usize = 128;

/// Words after which a `-` is a prefix (unary) minus, as after an operator.
const OPERATOR_WORDS: [&str; 12] = [
    "and", "or", "not", "in", "when", "where", "below", "above", "else", "let", "by", "within",
];

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// The byte offset and length of the first bracket or prefix operator of
/// `text` that opens level [`MAX_DEPTH`]` + 1`, if any.
///
/// The scan is linear and never recurses: it skips `"…"` strings and `#`
/// comments, counts `(`, `[`, `{` and the prefix operators `not` and unary
/// `-` (a `-` that does not follow an operand). A run of prefix operators
/// ends at the operand it applies to.
///
/// ```
/// use yingji_dsl::limits::{nesting_exceeds, MAX_DEPTH};
/// assert_eq!(nesting_exceeds("((a + b) * -c)"), None);
/// let deep = format!("{}a{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
/// assert_eq!(nesting_exceeds(&deep), Some((MAX_DEPTH, 1)));
/// assert_eq!(nesting_exceeds(&"not ".repeat(100)), Some((4 * MAX_DEPTH, 3)));
/// ```
pub fn nesting_exceeds(text: &str) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    // per open bracket: the depth it opened at, and the prefix operators
    // pending inside it
    let mut frames: Vec<(usize, usize)> = vec![(0, 0)];
    let mut after_operand = false;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let (base, prefix) = frames.last().copied().unwrap_or((0, 0));
        match c {
            b'#' => {
                while b.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i += 1;
                while let Some(&d) = b.get(i) {
                    i += 1;
                    match d {
                        b'\\' => i += 1,
                        b'"' | b'\n' => break,
                        _ => {}
                    }
                }
                operand_done(&mut frames);
                after_operand = true;
                continue;
            }
            b'(' | b'[' | b'{' => {
                let depth = base + prefix + 1;
                if depth > MAX_DEPTH {
                    return Some((i, 1));
                }
                frames.push((depth, 0));
                after_operand = false;
            }
            b')' | b']' | b'}' => {
                if frames.len() > 1 {
                    frames.pop();
                }
                operand_done(&mut frames);
                after_operand = true;
            }
            b'-' if !after_operand => {
                if base + prefix + 1 > MAX_DEPTH {
                    return Some((i, 1));
                }
                if let Some(f) = frames.last_mut() {
                    f.1 += 1;
                }
            }
            c if is_word_byte(c) => {
                let start = i;
                while b.get(i).copied().is_some_and(is_word_byte) {
                    i += 1;
                }
                let word = text.get(start..i).unwrap_or("");
                if word == "not" {
                    if base + prefix + 1 > MAX_DEPTH {
                        return Some((start, 3));
                    }
                    if let Some(f) = frames.last_mut() {
                        f.1 += 1;
                    }
                    after_operand = false;
                } else if OPERATOR_WORDS.contains(&word) {
                    after_operand = false;
                } else {
                    operand_done(&mut frames);
                    after_operand = true;
                }
                continue;
            }
            c if c.is_ascii_whitespace() => {}
            _ => after_operand = false,
        }
        i += 1;
    }
    None
}

/// An operand ends the run of prefix operators before it.
fn operand_done(frames: &mut [(usize, usize)]) {
    if let Some(f) = frames.last_mut() {
        f.1 = 0;
    }
}

/// The diagnostic for nesting deeper than [`MAX_DEPTH`] at `at..at + len`.
pub fn too_deep(file: FileId, at: usize, len: usize) -> Diagnostic {
    Diagnostic::error(
        codes::TOO_COMPLEX,
        Span::new(file, at, at + len),
        format!("expression nested more than {MAX_DEPTH} levels deep"),
    )
    .label(format!("level {} opens here", MAX_DEPTH + 1))
    .hint(
        "brackets and prefix operators (`not`, `-`) nest; name parts of the expression with `let`",
    )
}

/// The diagnostic for more than [`MAX_TERMS`] operators; `span` is the first
/// operator over the limit.
pub fn too_long(span: Span) -> Diagnostic {
    Diagnostic::error(
        codes::TOO_COMPLEX,
        span,
        format!("expression has more than {MAX_TERMS} operators"),
    )
    .label(format!("operator {} of this expression", MAX_TERMS + 1))
    .hint("split it into several `let`s (or plan steps) and combine those")
}
