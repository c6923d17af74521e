//! `yingji lsp`: a language server over standard input and output
//! (JSON-RPC with `Content-Length` framing, one thread, as rust-analyzer's
//! `lsp-server` frames it).
//!
//! - Diagnostics as you type: every change checks all definition files of
//!   the workspace folder at once (open editors' texts over the disk), exactly
//!   as `yingji check` does, and publishes them per file, ranges in UTF-16
//!   columns (Chinese names count one unit each, as editors count them).
//! - Hover: a signal's levels and thresholds, a field's type, a table row, a
//!   roster role's people, a built-in's signature, a step, a chain.
//! - Go to definition: signals, levels, fields, `let`s, tables, rows,
//!   columns, functions, plans, steps, chains, roster roles.
//! - Completion: the fields and `let`s in scope (inside a signal: those of
//!   its `from` kinds), functions, levels, tables, keywords; in plan YAML,
//!   step ids, roles, chains, signals.
//! - Document symbols, and formatting by [`yingji_dsl::fmt`].
//!
//! Bad input never stops it: a body that is not JSON gets a JSON-RPC parse
//! error (-32700), a request with wrong parameters an invalid-params error
//! (-32602), an unknown method method-not-found (-32601); a position past
//! the end of a document (it changed under the request) is clamped.

mod index;

use index::{Analysis, LEVELS, Sym, SymKind, Workspace};
use lsp_server::{ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types as lt;
use serde_json::Value;
use std::collections::HashSet;
use std::io::{self, Write};
use std::process::ExitCode;
use yingji_dsl::builtins::BUILTINS;
use yingji_dsl::diag::Severity;

/// Runs the server until `exit` (or the end of input).
pub fn run() -> ExitCode {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut server = Server::default();
    loop {
        let msg = match Message::read(&mut input) {
            Ok(Some(m)) => m,
            Ok(None) => return ExitCode::from(u8::from(!server.shutdown)),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let body = serde_json::json!({
                    "jsonrpc": "2.0",
                    "id": null,
                    "error": { "code": ErrorCode::ParseError as i32, "message": format!("not a JSON-RPC message: {e}") }
                })
                .to_string();
                if write!(out, "Content-Length: {}\r\n\r\n{body}", body.len())
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    return ExitCode::from(1);
                }
                continue;
            }
            Err(e) => {
                eprintln!("yingji lsp: {e}");
                return ExitCode::from(1);
            }
        };
        let (replies, exit) = server.handle(msg);
        for r in replies {
            if r.write(&mut out).is_err() {
                return ExitCode::from(1);
            }
        }
        if let Some(code) = exit {
            return ExitCode::from(code);
        }
    }
}

#[derive(Default)]
struct Server {
    ws: Workspace,
    initialized: bool,
    shutdown: bool,
    analysis: Option<Analysis>,
    /// Files that were last published with diagnostics.
    published: HashSet<String>,
}

type Reply = Result<Value, (ErrorCode, String)>;

fn params<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, (ErrorCode, String)> {
    serde_json::from_value(v)
        .map_err(|e| (ErrorCode::InvalidParams, format!("invalid parameters: {e}")))
}

fn to_json<T: serde::Serialize>(v: T) -> Reply {
    serde_json::to_value(v).map_err(|e| (ErrorCode::InternalError, e.to_string()))
}

/// The file name the server uses for a document.
fn name_of(uri: &lt::Url) -> String {
    match uri.to_file_path() {
        Ok(p) => p.display().to_string(),
        Err(()) => uri.to_string(),
    }
}

fn uri_of(name: &str) -> Option<lt::Url> {
    if std::path::Path::new(name).is_absolute() {
        lt::Url::from_file_path(name).ok()
    } else {
        lt::Url::parse(name).ok()
    }
}

fn boundary(text: &str, mut b: usize) -> usize {
    b = b.min(text.len());
    while b > 0 && !text.is_char_boundary(b) {
        b -= 1;
    }
    b
}

/// A byte offset as an LSP position (UTF-16 columns).
fn position(text: &str, byte: usize) -> lt::Position {
    let b = boundary(text, byte);
    let before = text.get(..b).unwrap_or("");
    let line = before.matches('\n').count();
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(start..).map_or(0, |s| s.encode_utf16().count());
    lt::Position::new(line as u32, col as u32)
}

/// An LSP position as a byte offset, clamped to the text.
fn offset(text: &str, pos: lt::Position) -> usize {
    let mut at = 0;
    for _ in 0..pos.line {
        match text.get(at..).and_then(|r| r.find('\n')) {
            Some(i) => at += i + 1,
            None => return text.len(),
        }
    }
    let line_end = text
        .get(at..)
        .and_then(|r| r.find('\n'))
        .map_or(text.len(), |i| at + i);
    let mut units = 0u32;
    for (i, c) in text.get(at..line_end).unwrap_or("").char_indices() {
        if units >= pos.character {
            return at + i;
        }
        units += c.len_utf16() as u32;
    }
    line_end
}

fn range(text: &str, start: usize, end: usize) -> lt::Range {
    lt::Range::new(position(text, start), position(text, end))
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '+' | '-')
}

/// The name under (or just before) a byte offset.
fn word_at(text: &str, at: usize) -> Option<String> {
    let at = boundary(text, at);
    let start = text
        .get(..at)?
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word(*c))
        .last()
        .map_or(at, |(i, _)| i);
    let end = text
        .get(at..)?
        .char_indices()
        .find(|(_, c)| !is_word(*c))
        .map_or(text.len(), |(i, _)| at + i);
    let w = text.get(start..end)?.trim_matches(['-', '+']);
    (!w.is_empty()).then(|| w.to_string())
}

fn symbol_kind(k: SymKind) -> lt::SymbolKind {
    match k {
        SymKind::Event => lt::SymbolKind::STRUCT,
        SymKind::Field | SymKind::Column => lt::SymbolKind::FIELD,
        SymKind::Signal => lt::SymbolKind::EVENT,
        SymKind::Level => lt::SymbolKind::ENUM_MEMBER,
        SymKind::Let => lt::SymbolKind::VARIABLE,
        SymKind::Table => lt::SymbolKind::ARRAY,
        SymKind::Row => lt::SymbolKind::KEY,
        SymKind::Function => lt::SymbolKind::FUNCTION,
        SymKind::Assess => lt::SymbolKind::CLASS,
        SymKind::Plan => lt::SymbolKind::MODULE,
        SymKind::Step => lt::SymbolKind::METHOD,
        SymKind::Chain => lt::SymbolKind::INTERFACE,
        SymKind::Role => lt::SymbolKind::CONSTANT,
    }
}

impl Server {
    fn analysis(&mut self) -> &Analysis {
        self.analysis.get_or_insert_with(|| self.ws.analyse())
    }

    /// A document's text: the editor's, else the disk's.
    fn text(&self, name: &str) -> Option<String> {
        self.ws
            .open
            .get(name)
            .cloned()
            .or_else(|| std::fs::read_to_string(name).ok())
    }

    fn handle(&mut self, msg: Message) -> (Vec<Message>, Option<u8>) {
        match msg {
            Message::Request(req) => {
                let id = req.id.clone();
                let reply =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.request(req)))
                        .unwrap_or_else(|_| {
                            Err((
                                ErrorCode::InternalError,
                                "internal error (see the server's log)".into(),
                            ))
                        });
                (vec![respond(id, reply)], None)
            }
            Message::Notification(n) => {
                if n.method == "exit" {
                    return (Vec::new(), Some(u8::from(!self.shutdown)));
                }
                let out =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.notification(n)))
                        .unwrap_or_default();
                (out, None)
            }
            Message::Response(_) => (Vec::new(), None),
        }
    }

    fn request(&mut self, req: Request) -> Reply {
        if req.method == "initialize" {
            let p: lt::InitializeParams = params(req.params)?;
            #[allow(deprecated, reason = "root_uri is what older clients send")]
            let root = p
                .workspace_folders
                .as_ref()
                .and_then(|f| f.first())
                .map(|f| f.uri.clone())
                .or(p.root_uri);
            #[allow(deprecated, reason = "root_path is what the oldest clients send")]
            let root_path = p.root_path.map(std::path::PathBuf::from);
            self.ws.root = root.and_then(|u| u.to_file_path().ok()).or(root_path);
            self.initialized = true;
            self.analysis = None;
            return to_json(lt::InitializeResult {
                capabilities: capabilities(),
                server_info: Some(lt::ServerInfo {
                    name: "yingji".into(),
                    version: Some(env!("CARGO_PKG_VERSION").into()),
                }),
            });
        }
        if !self.initialized {
            return Err((ErrorCode::ServerNotInitialized, "initialize first".into()));
        }
        if self.shutdown {
            return Err((
                ErrorCode::InvalidRequest,
                "the server is shutting down".into(),
            ));
        }
        match req.method.as_str() {
            "shutdown" => {
                self.shutdown = true;
                Ok(Value::Null)
            }
            "textDocument/hover" => {
                let p: lt::HoverParams = params(req.params)?;
                to_json(self.hover(&p.text_document_position_params))
            }
            "textDocument/definition" => {
                let p: lt::GotoDefinitionParams = params(req.params)?;
                to_json(self.definition(&p.text_document_position_params))
            }
            "textDocument/completion" => {
                let p: lt::CompletionParams = params(req.params)?;
                to_json(self.completion(&p.text_document_position))
            }
            "textDocument/documentSymbol" => {
                let p: lt::DocumentSymbolParams = params(req.params)?;
                to_json(self.symbols(&p.text_document.uri))
            }
            "textDocument/formatting" => {
                let p: lt::DocumentFormattingParams = params(req.params)?;
                to_json(self.format(&p.text_document.uri))
            }
            other => Err((
                ErrorCode::MethodNotFound,
                format!("unknown method `{other}`"),
            )),
        }
    }

    fn notification(&mut self, n: Notification) -> Vec<Message> {
        if !self.initialized {
            return Vec::new();
        }
        match n.method.as_str() {
            "initialized" => {}
            "textDocument/didOpen" => {
                let Ok(p) = serde_json::from_value::<lt::DidOpenTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                self.ws
                    .open
                    .insert(name_of(&p.text_document.uri), p.text_document.text);
            }
            "textDocument/didChange" => {
                let Ok(p) = serde_json::from_value::<lt::DidChangeTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                // full sync: the last change holds the whole text
                if let Some(c) = p.content_changes.into_iter().last() {
                    self.ws.open.insert(name_of(&p.text_document.uri), c.text);
                }
            }
            "textDocument/didSave" => {
                let Ok(p) = serde_json::from_value::<lt::DidSaveTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                if let Some(t) = p.text {
                    self.ws.open.insert(name_of(&p.text_document.uri), t);
                }
            }
            "textDocument/didClose" => {
                let Ok(p) = serde_json::from_value::<lt::DidCloseTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                self.ws.open.remove(&name_of(&p.text_document.uri));
            }
            "workspace/didChangeWatchedFiles" => {}
            _ => return Vec::new(),
        }
        self.analysis = None;
        self.publish()
    }

    /// Diagnostics of every file, and empty lists for files that had some.
    fn publish(&mut self) -> Vec<Message> {
        let before = std::mem::take(&mut self.published);
        let a = self.analysis();
        let mut out = Vec::new();
        let mut now = HashSet::new();
        for (name, text) in &a.files {
            let list = a.diags.get(name).map(Vec::as_slice).unwrap_or(&[]);
            if list.is_empty() && !before.contains(name) {
                continue;
            }
            let Some(uri) = uri_of(name) else { continue };
            let diagnostics = list
                .iter()
                .map(|d| lt::Diagnostic {
                    range: range(text, d.start, d.end),
                    severity: Some(match d.severity {
                        Severity::Error => lt::DiagnosticSeverity::ERROR,
                        _ => lt::DiagnosticSeverity::WARNING,
                    }),
                    code: Some(lt::NumberOrString::String(d.code.clone())),
                    source: Some("yingji".into()),
                    message: d.message.clone(),
                    ..lt::Diagnostic::default()
                })
                .collect();
            if !list.is_empty() {
                now.insert(name.clone());
            }
            let p = lt::PublishDiagnosticsParams {
                uri,
                diagnostics,
                version: None,
            };
            out.push(Message::Notification(Notification::new(
                "textDocument/publishDiagnostics".into(),
                p,
            )));
        }
        // a file that went away with diagnostics: clear them
        for name in before.difference(&now) {
            if a.files.iter().any(|(n, _)| n == name) {
                continue;
            }
            if let Some(uri) = uri_of(name) {
                out.push(Message::Notification(Notification::new(
                    "textDocument/publishDiagnostics".into(),
                    lt::PublishDiagnosticsParams {
                        uri,
                        diagnostics: Vec::new(),
                        version: None,
                    },
                )));
            }
        }
        self.published = now;
        out
    }

    /// The document's name and text and the name under the position.
    fn at(&self, p: &lt::TextDocumentPositionParams) -> Option<(String, String, String)> {
        let name = name_of(&p.text_document.uri);
        let text = self.text(&name)?;
        let w = word_at(&text, offset(&text, p.position))?;
        Some((name, text, w))
    }

    fn matches(&mut self, name: &str, word: &str) -> Vec<Sym> {
        let a = self.analysis();
        let mut found: Vec<Sym> = a.syms.iter().filter(|s| s.name == word).cloned().collect();
        // this file's first, then definitions before their parts
        found.sort_by_key(|s| {
            (
                s.file != name,
                matches!(s.kind, SymKind::Column | SymKind::Row),
            )
        });
        found
    }

    fn hover(&mut self, p: &lt::TextDocumentPositionParams) -> Option<lt::Hover> {
        let (name, _, word) = self.at(p)?;
        let found = self.matches(&name, &word);
        let mut parts: Vec<String> = found.iter().take(6).map(|s| s.hover.clone()).collect();
        let mut seen = HashSet::new();
        parts.retain(|h| seen.insert(h.clone()));
        if parts.is_empty() {
            if let Some(b) = yingji_dsl::builtins::find(&word) {
                parts.push(format!("```yj\n{}\n```\nbuilt-in: {}", b.signature, b.doc));
            } else if LEVELS.contains(&word.as_str()) {
                parts.push(format!("level `{word}` (blue < yellow < orange < red; 蓝色…红色 and Ⅳ…Ⅰ name the same ladder)"));
            } else {
                return None;
            }
        }
        Some(lt::Hover {
            contents: lt::HoverContents::Markup(lt::MarkupContent {
                kind: lt::MarkupKind::Markdown,
                value: parts.join("\n\n---\n\n"),
            }),
            range: None,
        })
    }

    fn location(&mut self, s: &Sym) -> Option<lt::Location> {
        let uri = uri_of(&s.file)?;
        let a = self.analysis();
        let text = a
            .files
            .iter()
            .find(|(n, _)| *n == s.file)
            .map(|(_, t)| t.as_str())?;
        Some(lt::Location::new(uri, range(text, s.start, s.end)))
    }

    fn definition(
        &mut self,
        p: &lt::TextDocumentPositionParams,
    ) -> Option<lt::GotoDefinitionResponse> {
        let (name, _, word) = self.at(p)?;
        let found = self.matches(&name, &word);
        let locs: Vec<lt::Location> = found
            .iter()
            .take(10)
            .filter_map(|s| self.location(s))
            .collect();
        (!locs.is_empty()).then_some(lt::GotoDefinitionResponse::Array(locs))
    }

    fn completion(&mut self, p: &lt::TextDocumentPositionParams) -> Option<lt::CompletionResponse> {
        let name = name_of(&p.text_document.uri);
        let text = self.text(&name)?;
        let at = offset(&text, p.position);
        let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        // inside a signal: its `from` kinds and its own `let`s come first
        let mut scope_kinds: Vec<String> = Vec::new();
        let mut scope_signal: Option<String> = None;
        if !yaml {
            let (defs, _) = yingji_dsl::syntax::yj::parse_file(0, &text);
            for d in &defs {
                if let yingji_dsl::ast::Def::Signal(s) = d {
                    if (s.span.start as usize) <= at && at <= s.span.end as usize {
                        scope_kinds = s.from.iter().map(|f| f.name.clone()).collect();
                        scope_signal = Some(s.name.name.clone());
                    }
                }
            }
        }
        let mut items: Vec<lt::CompletionItem> = Vec::new();
        // one item per label, with its best rank
        let mut seen: std::collections::HashMap<String, (usize, u8)> =
            std::collections::HashMap::new();
        let mut add = |label: String, kind: lt::CompletionItemKind, rank: u8, detail: String| {
            let item = lt::CompletionItem {
                sort_text: Some(format!("{rank}{label}")),
                label: label.clone(),
                kind: Some(kind),
                detail: Some(detail),
                ..lt::CompletionItem::default()
            };
            match seen.get(&label).copied() {
                Some((i, best)) if rank < best => {
                    if let Some(slot) = items.get_mut(i) {
                        *slot = item;
                    }
                    seen.insert(label, (i, rank));
                }
                Some(_) => {}
                None => {
                    seen.insert(label, (items.len(), rank));
                    items.push(item);
                }
            }
        };
        let a = self.analysis();
        for s in &a.syms {
            let container = s.container.clone().unwrap_or_default();
            let (kind, rank) = match s.kind {
                SymKind::Field if scope_kinds.contains(&container) => {
                    (lt::CompletionItemKind::FIELD, 0)
                }
                SymKind::Let if scope_signal.as_deref() == Some(container.as_str()) => {
                    (lt::CompletionItemKind::VARIABLE, 0)
                }
                SymKind::Field => (
                    lt::CompletionItemKind::FIELD,
                    if yaml || scope_signal.is_none() { 2 } else { 5 },
                ),
                SymKind::Let => continue,
                SymKind::Function => (lt::CompletionItemKind::FUNCTION, 1),
                SymKind::Table => (lt::CompletionItemKind::STRUCT, 2),
                SymKind::Column => {
                    add(
                        format!("{container}.{}", s.name),
                        lt::CompletionItemKind::PROPERTY,
                        2,
                        format!("column of table {container}"),
                    );
                    continue;
                }
                SymKind::Step => (lt::CompletionItemKind::REFERENCE, if yaml { 0 } else { 6 }),
                SymKind::Role => (lt::CompletionItemKind::CONSTANT, if yaml { 1 } else { 6 }),
                SymKind::Chain => (lt::CompletionItemKind::INTERFACE, if yaml { 1 } else { 6 }),
                SymKind::Signal => (lt::CompletionItemKind::EVENT, if yaml { 1 } else { 4 }),
                SymKind::Level => (lt::CompletionItemKind::ENUM_MEMBER, 3),
                SymKind::Event => (lt::CompletionItemKind::STRUCT, 4),
                SymKind::Row | SymKind::Plan | SymKind::Assess => continue,
            };
            let detail = match s.kind {
                SymKind::Field | SymKind::Let | SymKind::Level | SymKind::Step => {
                    format!("{:?} of {container}", s.kind)
                }
                _ => format!("{:?}", s.kind),
            };
            add(s.name.clone(), kind, rank, detail);
        }
        for b in BUILTINS {
            add(
                b.name.to_string(),
                lt::CompletionItemKind::FUNCTION,
                1,
                b.signature.to_string(),
            );
        }
        for l in LEVELS {
            add(
                (*l).to_string(),
                lt::CompletionItemKind::ENUM_MEMBER,
                3,
                "level".into(),
            );
        }
        if !yaml {
            for k in yingji_dsl::syntax::yj::keywords() {
                add(
                    (*k).to_string(),
                    lt::CompletionItemKind::KEYWORD,
                    7,
                    "keyword".into(),
                );
            }
        }
        Some(lt::CompletionResponse::Array(items))
    }

    fn symbols(&mut self, uri: &lt::Url) -> Option<lt::DocumentSymbolResponse> {
        let name = name_of(uri);
        let a = self.analysis();
        let text = a
            .files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t.clone())?;
        let list = a
            .syms
            .iter()
            .filter(|s| s.file == name)
            .map(|s| {
                #[allow(deprecated, reason = "the field must be given; tags replace it")]
                lt::SymbolInformation {
                    name: s.name.clone(),
                    kind: symbol_kind(s.kind),
                    tags: None,
                    deprecated: None,
                    location: lt::Location::new(uri.clone(), range(&text, s.start, s.end)),
                    container_name: s.container.clone(),
                }
            })
            .collect();
        Some(lt::DocumentSymbolResponse::Flat(list))
    }

    fn format(&self, uri: &lt::Url) -> Option<Vec<lt::TextEdit>> {
        let name = name_of(uri);
        let text = self.text(&name)?;
        // a file that does not parse is not formatted (its diagnostics say why)
        let out = yingji_dsl::fmt::format_file(0, &name, &text).ok()?;
        if out == text {
            return Some(Vec::new());
        }
        Some(vec![lt::TextEdit::new(range(&text, 0, text.len()), out)])
    }
}

fn respond(id: RequestId, reply: Reply) -> Message {
    Message::Response(match reply {
        Ok(v) => Response::new_ok(id, v),
        Err((code, msg)) => Response::new_err(id, code as i32, msg),
    })
}

fn capabilities() -> lt::ServerCapabilities {
    lt::ServerCapabilities {
        text_document_sync: Some(lt::TextDocumentSyncCapability::Options(
            lt::TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(lt::TextDocumentSyncKind::FULL),
                save: Some(lt::TextDocumentSyncSaveOptions::SaveOptions(
                    lt::SaveOptions {
                        include_text: Some(true),
                    },
                )),
                ..lt::TextDocumentSyncOptions::default()
            },
        )),
        hover_provider: Some(lt::HoverProviderCapability::Simple(true)),
        definition_provider: Some(lt::OneOf::Left(true)),
        completion_provider: Some(lt::CompletionOptions {
            trigger_characters: Some(vec![".".into(), "/".into()]),
            ..lt::CompletionOptions::default()
        }),
        document_symbol_provider: Some(lt::OneOf::Left(true)),
        document_formatting_provider: Some(lt::OneOf::Left(true)),
        ..lt::ServerCapabilities::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units() {
        let t = "let 警戒 = 1\nlevel 𝄞x";
        assert_eq!(
            position(t, t.find('=').unwrap_or(0)),
            lt::Position::new(0, 7)
        );
        let x = t.find('x').unwrap_or(0);
        assert_eq!(position(t, x), lt::Position::new(1, 8));
        assert_eq!(offset(t, lt::Position::new(1, 8)), x);
        assert_eq!(offset(t, lt::Position::new(9, 9)), t.len());
        assert_eq!(word_at(t, 5).as_deref(), Some("警戒"));
    }
}
