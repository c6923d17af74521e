//! Script functions (rhai): signatures, limits and compile checks.
//!
//! Every script unit is compiled here, at `yingji check` time, in the same
//! sandbox the engine runs it in ([`yingji_engine::script::compile`]), so a
//! rhai syntax error is a diagnostic at its own line and column: inside the
//! policy for an inline body, inside the `.rhai` file for an import.

use crate::diag::{Diagnostic, SourceMap, Span, codes, offset_of, suggest};
use crate::syntax::ast::{Def, FnSig, Ident, ScriptDef, ScriptSource};
use std::collections::HashMap;
use yingji_engine::script::{
    ScriptFn, ScriptLimits, ScriptUnit, Scripts, SyntaxError, compile, defines, refused_calls,
};
use yingji_engine::value::Type;

/// A declared script function, as call sites see it.
#[derive(Clone, Debug)]
pub struct Sig {
    /// Index into [`Scripts::functions`].
    pub index: u16,
    /// Parameters and their types.
    pub params: Vec<(String, Type)>,
    /// Return type.
    pub ret: Type,
    /// Where it is declared.
    pub span: Span,
}

/// The type a script signature names, if it is one scripts support.
fn script_type(t: &str) -> Option<Type> {
    match t {
        "number" | "数值" => Some(Type::Number),
        "string" | "text" | "文本" => Some(Type::String),
        "bool" | "布尔" => Some(Type::Bool),
        _ => None,
    }
}

fn is_rhai_ident(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// Checks a signature's types; `None` after reporting what is wrong.
fn signature(sig: &FnSig, diags: &mut Vec<Diagnostic>) -> Option<(Vec<(String, Type)>, Type)> {
    let mut ok = true;
    let mut params = Vec::new();
    for (n, t) in &sig.params {
        match t {
            None => {
                diags.push(
                    Diagnostic::error(
                        codes::UNKNOWN_TYPE,
                        n.span,
                        format!(
                            "parameter `{}` of `{}` has no declared type",
                            n.name, sig.name.name
                        ),
                    )
                    .label("declare its type")
                    .hint(format!(
                        "write `{}: number` (script parameters are number, string or bool)",
                        n.name
                    )),
                );
                ok = false;
            }
            Some(t) => match script_type(&t.name) {
                Some(ty) => {
                    if params.iter().any(|(p, _)| p == &n.name) {
                        diags.push(
                            Diagnostic::error(
                                codes::DUPLICATE,
                                n.span,
                                format!("parameter `{}` is declared twice", n.name),
                            )
                            .label("second declaration"),
                        );
                        ok = false;
                    }
                    params.push((n.name.clone(), ty));
                }
                None => {
                    diags.push(unsupported_type(t));
                    ok = false;
                }
            },
        }
    }
    let ret = match &sig.ret {
        None => {
            diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_TYPE,
                    sig.name.span,
                    format!(
                        "script function `{}` has no declared return type",
                        sig.name.name
                    ),
                )
                .label("what does it return?")
                .hint("add `-> number`, `-> string` or `-> bool` after the parameters"),
            );
            None
        }
        Some(t) => {
            let r = script_type(&t.name);
            if r.is_none() {
                diags.push(unsupported_type(t));
            }
            r
        }
    };
    if ok { ret.map(|r| (params, r)) } else { None }
}

fn unsupported_type(t: &Ident) -> Diagnostic {
    let mut d = Diagnostic::error(
        codes::UNKNOWN_TYPE,
        t.span,
        format!("`{}` is not a type script functions support", t.name),
    )
    .label("expected number, string or bool");
    if let Some(s) = suggest(&t.name, ["number", "string", "bool"]) {
        d = d.hint(format!("did you mean `{s}`?"));
    }
    d
}

/// Where in the policy (or `.rhai` file) a rhai syntax error is.
///
/// `header` is the generated text that precedes the body on rhai's first
/// line (inline functions); `body` is the text's span.
fn error_span(body: Span, text: &str, header_chars: usize, e: &SyntaxError) -> Span {
    let (line, col) = if e.line == 0 {
        (1, header_chars + 1)
    } else {
        (e.line, e.col.max(1))
    };
    let col = if line == 1 {
        col.saturating_sub(header_chars).max(1)
    } else {
        col
    };
    let off = offset_of(text, line, col).min(text.len());
    let start = body.start as usize + off;
    let end = (start
        + text
            .get(off..)
            .and_then(|r| r.chars().next())
            .map_or(0, char::len_utf8))
    .max(start);
    Span::new(body.file, start, end)
}

fn limits(def: &ScriptDef, diags: &mut Vec<Diagnostic>) -> ScriptLimits {
    let mut l = ScriptLimits::default();
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in &def.limits {
        if seen.contains(&k.name.as_str()) {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE,
                    k.span,
                    format!("limit `{}` is set twice", k.name),
                )
                .label("second setting"),
            );
            continue;
        }
        seen.push(&k.name);
        let value = v.name.parse::<u64>().unwrap_or(u64::MAX);
        if let Err(msg) = l.set(&k.name, value) {
            let known = ScriptLimits::KEYS.iter().any(|(n, _)| *n == k.name);
            let span = if known { v.span } else { k.span };
            let mut d = Diagnostic::error(codes::BAD_CALL, span, msg).label(if known {
                "out of range"
            } else {
                "unknown limit"
            });
            if !known {
                if let Some(s) = suggest(&k.name, ScriptLimits::KEYS.iter().map(|(n, _)| *n)) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
            }
            diags.push(d);
        }
    }
    l
}

/// Reports every call in a unit's `source` of a function scripts cannot call
/// ([`refused_calls`]), at the called name in the policy or `.rhai` file.
///
/// `text` is the part of `source` written by the user (all of it for an
/// import; the body after the generated `header` for an inline function)
/// and `body` its span.
fn refuse_impure(
    def: &ScriptDef,
    source: &str,
    text: &str,
    body: Span,
    header: Option<&(String, String)>,
    inline_name: Option<&str>,
    diags: &mut Vec<Diagnostic>,
) {
    let skip = header.map_or(0, |(h, _)| h.len());
    for call in refused_calls(source) {
        let Some(off) = call.offset.checked_sub(skip).filter(|o| *o < text.len()) else {
            continue;
        };
        let start = body.start as usize + off;
        let span = Span::new(body.file, start, start + call.name.len());
        let who = match (header.and(inline_name), call.in_fn.as_deref()) {
            (Some(f), _) | (None, Some(f)) => format!("script function `{f}`"),
            (None, None) => format!("script `{}`", def.name.name),
        };
        diags.push(
            Diagnostic::error(
                codes::BAD_CALL,
                span,
                format!(
                    "{who} calls `{}`, which is not available to scripts: {}",
                    call.name, call.why
                ),
            )
            .label("not available to scripts")
            .hint("scripts get rhai's standard library without its time functions and its core-language package (`sleep`, `exit`, ...); pass what the function needs as arguments"),
        );
    }
}

/// Checks, compiles and collects every script definition.
pub fn lower_scripts(
    defs: &[Def],
    sources: &SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> (Scripts, HashMap<String, Sig>) {
    let mut scripts = Scripts::default();
    let mut sigs: HashMap<String, Sig> = HashMap::new();
    for d in defs {
        let Def::Script(def) = d else { continue };
        let limits = limits(def, diags);
        // the signatures, checked before the body
        let mut checked = Vec::new();
        for sig in &def.functions {
            if crate::builtins::is_reserved_in_signals(&sig.name.name) {
                diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE,
                        sig.name.span,
                        format!("`{}` is a built-in function", sig.name.name),
                    )
                    .label("choose another name"),
                );
                continue;
            }
            if let Some(first) = sigs.get(&sig.name.name) {
                let at = sources.location(first.span);
                diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE,
                        sig.name.span,
                        format!("script function `{}` is declared twice", sig.name.name),
                    )
                    .label(format!("first declared at {at}")),
                );
                continue;
            }
            let Some((params, ret)) = signature(sig, diags) else {
                continue;
            };
            checked.push((sig, params, ret));
        }
        let inline = matches!(def.source, ScriptSource::Inline(_));
        let (text, body, header) = match &def.source {
            ScriptSource::Inline(body) => {
                let Some((sig, params, _)) = checked.first() else {
                    continue;
                };
                if let Some((bad, _)) = sig.params.iter().find(|(n, _)| !is_rhai_ident(&n.name)) {
                    diags.push(
                        Diagnostic::error(
                            codes::BAD_CALL,
                            bad.span,
                            format!("`{}` cannot be a rhai parameter name", bad.name),
                        )
                        .label("rhai names are ASCII letters, digits and `_`"),
                    );
                    continue;
                }
                let rhai_name = if is_rhai_ident(&sig.name.name) {
                    sig.name.name.clone()
                } else {
                    "yj_fn".to_string()
                };
                let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
                let header = format!("fn {rhai_name}({}) {{", names.join(", "));
                (
                    sources.snippet(*body).to_string(),
                    *body,
                    Some((header, rhai_name)),
                )
            }
            ScriptSource::Import { file: Some(f), .. } => {
                (sources.snippet(*f).to_string(), *f, None)
            }
            // the loader reported why the file could not be read
            ScriptSource::Import { file: None, .. } => continue,
        };
        let (source, header_chars) = match &header {
            Some((h, _)) => (format!("{h}{text}\n}}\n"), h.chars().count()),
            None => (text.clone(), 0),
        };
        let ast = match compile(&source, &limits) {
            Ok((_, ast)) => ast,
            Err(e) => {
                let in_header = header.is_some() && e.line == 1 && e.col <= header_chars;
                let span = if in_header {
                    def.name.span
                } else {
                    error_span(body, &text, header_chars, &e)
                };
                diags.push(
                    Diagnostic::error(codes::SYNTAX, span, format!("rhai: {}", e.message))
                        .label(if in_header { "in this function's signature" } else { "in this script" })
                        .hint("script functions are rhai (https://rhai.rs); `eval` and `import` are not available"),
                );
                continue;
            }
        };
        let inline_name = checked.first().map(|(sig, _, _)| sig.name.name.as_str());
        refuse_impure(
            def,
            &source,
            &text,
            body,
            header.as_ref(),
            inline_name,
            diags,
        );
        let unit = scripts.units.len() as u16;
        let origin = match &def.source {
            ScriptSource::Import { path, .. } => path.name.clone(),
            ScriptSource::Inline(_) => sources.location(def.span),
        };
        scripts.units.push(ScriptUnit {
            source,
            origin,
            limits,
        });
        for (sig, params, ret) in checked {
            let rhai_name = match &header {
                Some((_, n)) => n.clone(),
                None => sig.name.name.clone(),
            };
            if !inline && !defines(&ast, &rhai_name, params.len()) {
                let path = def.name.name.as_str();
                diags.push(
                    Diagnostic::error(
                        codes::UNKNOWN_NAME,
                        sig.name.span,
                        format!(
                            "`{path}` defines no function `{}` with {} parameter(s)",
                            sig.name.name,
                            params.len()
                        ),
                    )
                    .label("declared here")
                    .hint(format!("define `fn {}(...)` in `{path}`", sig.name.name)),
                );
                continue;
            }
            let index = scripts.functions.len() as u16;
            scripts.functions.push(ScriptFn {
                name: sig.name.name.clone(),
                rhai_name,
                params: params.clone(),
                ret,
                unit,
                at: sources.location(sig.name.span),
            });
            sigs.insert(
                sig.name.name.clone(),
                Sig {
                    index,
                    params,
                    ret,
                    span: sig.name.span,
                },
            );
        }
    }
    (scripts, sigs)
}

#[cfg(test)]
mod tests {
    use crate::diag::offset_of;

    #[test]
    fn offsets_count_characters() {
        let t = "ab\n雨c d\n";
        assert_eq!(offset_of(t, 1, 2), 1);
        assert_eq!(offset_of(t, 2, 2), 6);
        assert_eq!(offset_of(t, 2, 99), 9);
        assert_eq!(offset_of(t, 9, 1), t.len());
    }
}
