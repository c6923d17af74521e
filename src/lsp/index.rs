//! What the language server knows of a workspace: every definition file's
//! text (open editors over the disk), the diagnostics `check` gives for all
//! of them at once, and the names they define (signals, levels, fields,
//! tables and their rows, functions, plans, steps, chains, roster roles)
//! with where they are written and what a hover says of them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use yingji_dsl::ast::{ClearSpec, Def, ForSpec, ScriptSource};
use yingji_dsl::diag::{Diagnostic, Severity, SourceMap};
use yingji_dsl::syntax::yaml::plan::PlanDoc;

/// Kinds of named things.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymKind {
    /// An event kind.
    Event,
    /// A field of an event kind.
    Field,
    /// A warning signal.
    Signal,
    /// A level of a signal.
    Level,
    /// A `let` of a signal.
    Let,
    /// A per-key table.
    Table,
    /// One row of a table.
    Row,
    /// A column of a table.
    Column,
    /// A script function.
    Function,
    /// A grading, deadline set, unit roster or assessment.
    Assess,
    /// A plan.
    Plan,
    /// A step of a plan.
    Step,
    /// A responsibility chain.
    Chain,
    /// A roster role (the people who hold it).
    Role,
}

/// A named thing and where it is written.
#[derive(Clone, Debug)]
pub struct Sym {
    /// The name.
    pub name: String,
    /// What it is.
    pub kind: SymKind,
    /// The file's path (as in [`Workspace::files`]).
    pub file: String,
    /// Byte range of the name.
    pub start: usize,
    /// End of that range.
    pub end: usize,
    /// The definition or signal it belongs to.
    pub container: Option<String>,
    /// Markdown for a hover.
    pub hover: String,
}

/// A diagnostic mapped to its file.
#[derive(Clone, Debug)]
pub struct FileDiag {
    /// Byte range in the file.
    pub start: usize,
    /// End of that range.
    pub end: usize,
    /// Error or warning.
    pub severity: Severity,
    /// `E0101` etc.
    pub code: String,
    /// Message, label and hint.
    pub message: String,
}

/// Level names every signal may use.
pub const LEVELS: &[&str] = &[
    "red", "orange", "yellow", "blue", "红色", "橙色", "黄色", "蓝色", "Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ",
];

/// Whether a path names a file the server reads.
pub fn is_definition(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|x| x.to_str()),
        Some("yj" | "yaml" | "yml" | "rhai")
    )
}

/// At most this many files are read from a workspace folder.
const MAX_FILES: usize = 5000;

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 16 || out.len() >= MAX_FILES {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.') || n == "target" || n == "node_modules");
        if hidden {
            continue;
        }
        if p.is_dir() {
            walk(&p, out, depth + 1);
        } else if is_definition(&p) && out.len() < MAX_FILES {
            out.push(p);
        }
    }
}

/// The workspace as the server sees it.
#[derive(Default)]
pub struct Workspace {
    /// The workspace folder, if the client named one.
    pub root: Option<PathBuf>,
    /// Texts of the documents open in the editor, by path.
    pub open: HashMap<String, String>,
}

/// One analysis of the whole workspace.
pub struct Analysis {
    /// Every file's text, by path.
    pub files: Vec<(String, String)>,
    /// Diagnostics per file path.
    pub diags: HashMap<String, Vec<FileDiag>>,
    /// Every named thing.
    pub syms: Vec<Sym>,
}

impl Workspace {
    /// The files: definition files under the folder, then open documents
    /// elsewhere; an open document's text replaces the file's.
    pub fn files(&self) -> Vec<(String, String)> {
        let mut paths = Vec::new();
        if let Some(root) = &self.root {
            walk(root, &mut paths, 0);
        }
        let mut out: Vec<(String, String)> = Vec::new();
        for p in paths {
            let name = p.display().to_string();
            if let Some(t) = self.open.get(&name) {
                out.push((name, t.clone()));
            } else if let Ok(t) = std::fs::read_to_string(&p) {
                // a file that vanished or is not text is skipped
                out.push((name, t));
            }
        }
        let mut extra: Vec<(&String, &String)> = self
            .open
            .iter()
            .filter(|(n, _)| !out.iter().any(|(m, _)| m == *n))
            .collect();
        extra.sort();
        out.extend(extra.into_iter().map(|(n, t)| (n.clone(), t.clone())));
        out
    }

    /// Checks everything (as `yingji check` does) and indexes the names.
    pub fn analyse(&self) -> Analysis {
        let files = self.files();
        let loader = yingji_dsl::load::MemLoader(files.clone());
        let (diagnostics, sources): (Vec<Diagnostic>, SourceMap) =
            match yingji::Definitions::load(&loader) {
                Ok(d) => (d.warnings().to_vec(), d.sources().clone()),
                Err(e) => (e.diagnostics, e.sources),
            };
        let mut diags: HashMap<String, Vec<FileDiag>> = HashMap::new();
        for d in &diagnostics {
            let Some(f) = sources.file(d.span.file) else {
                continue;
            };
            let mut message = d.message.clone();
            if !d.label.is_empty() {
                message.push_str(&format!(" ({})", d.label));
            }
            if let Some(h) = &d.hint {
                message.push_str(&format!("\nhint: {h}"));
            }
            diags.entry(f.name.to_string()).or_default().push(FileDiag {
                start: d.span.start as usize,
                end: d.span.end as usize,
                severity: d.severity,
                code: d.code.to_string(),
                message,
            });
        }
        let mut syms = Vec::new();
        for (name, text) in &files {
            index_file(name, text, &mut syms);
        }
        Analysis { files, diags, syms }
    }
}

fn snippet(text: &str, start: u32, end: u32) -> String {
    text.get(start as usize..end as usize)
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn push(
    syms: &mut Vec<Sym>,
    file: &str,
    id: &yingji_dsl::ast::Ident,
    kind: SymKind,
    container: Option<&str>,
    hover: String,
) {
    syms.push(Sym {
        name: id.name.clone(),
        kind,
        file: file.to_string(),
        start: id.span.start as usize,
        end: id.span.end as usize,
        container: container.map(str::to_string),
        hover,
    });
}

fn duration(ms: i64) -> String {
    yingji_engine::time::format_duration(ms)
}

fn index_file(file: &str, text: &str, syms: &mut Vec<Sym>) {
    let yaml = file.ends_with(".yaml") || file.ends_with(".yml");
    if file.ends_with(".rhai") {
        return;
    }
    if yaml && yingji_dsl::syntax::yaml::plan::is_plan_yaml(text) {
        index_plan(file, text, syms);
        return;
    }
    let (defs, _) = if yaml {
        yingji_dsl::syntax::yaml::policy::parse_yaml(0, text)
    } else {
        yingji_dsl::syntax::yj::parse_file(0, text)
    };
    for d in &defs {
        match d {
            Def::Event(e) => {
                let fields: Vec<String> = e
                    .fields
                    .iter()
                    .map(|f| {
                        format!(
                            "{}: {}{}",
                            f.name.name,
                            f.ty.name,
                            if f.optional { "?" } else { "" }
                        )
                    })
                    .collect();
                push(
                    syms,
                    file,
                    &e.name,
                    SymKind::Event,
                    None,
                    format!(
                        "```yj\nevent {} {{ {} }}\n```",
                        e.name.name,
                        fields.join(", ")
                    ),
                );
                for f in &e.fields {
                    push(
                        syms,
                        file,
                        &f.name,
                        SymKind::Field,
                        Some(&e.name.name),
                        format!(
                            "field `{}`: **{}**{} — of event `{}`",
                            f.name.name,
                            f.ty.name,
                            if f.optional {
                                " (optional: events may leave it out)"
                            } else {
                                ""
                            },
                            e.name.name
                        ),
                    );
                }
            }
            Def::Signal(s) => {
                let from: Vec<&str> = s.from.iter().map(|f| f.name.as_str()).collect();
                let mut h = format!("**signal {}** — from {}", s.name.name, from.join(", "));
                if let Some(k) = &s.key {
                    h.push_str(&format!(", key `{}`", k.name));
                }
                h.push_str("\n\n| level | when | |\n|---|---|---|\n");
                for l in &s.levels {
                    let mut extra = Vec::new();
                    match &l.for_ {
                        Some(ForSpec::Duration(ms)) => extra.push(format!("for {}", duration(*ms))),
                        Some(ForSpec::Readings(n)) => extra.push(format!("for {n} readings")),
                        None => {}
                    }
                    match &l.clear {
                        Some(ClearSpec::Below(e)) => extra.push(format!(
                            "clear below {}",
                            snippet(text, e.span.start, e.span.end)
                        )),
                        Some(ClearSpec::Above(e)) => extra.push(format!(
                            "clear above {}",
                            snippet(text, e.span.start, e.span.end)
                        )),
                        Some(ClearSpec::When(e)) => extra.push(format!(
                            "clear when {}",
                            snippet(text, e.span.start, e.span.end)
                        )),
                        None => {}
                    }
                    if let Some((ms, _)) = l.hold {
                        extra.push(format!("hold {}", duration(ms)));
                    }
                    h.push_str(&format!(
                        "| {} | `{}` | {} |\n",
                        l.level.name,
                        snippet(text, l.when.span.start, l.when.span.end).replace('|', "\\|"),
                        extra.join(", ")
                    ));
                }
                if s.step_down {
                    h.push_str("\nsteps down one level at a time");
                }
                if let Some((ms, _)) = s.clear_after {
                    h.push_str(&format!("\nclear after {}", duration(ms)));
                }
                if let Some((ms, _)) = s.missing {
                    h.push_str(&format!(
                        "\nmissing after {} without a reading",
                        duration(ms)
                    ));
                }
                push(syms, file, &s.name, SymKind::Signal, None, h.clone());
                for l in &s.levels {
                    push(
                        syms,
                        file,
                        &l.level,
                        SymKind::Level,
                        Some(&s.name.name),
                        format!(
                            "level **{}** of `{}`: `{}`",
                            l.level.name,
                            s.name.name,
                            snippet(text, l.span.start, l.span.end)
                        ),
                    );
                }
                for (n, e) in &s.lets {
                    push(
                        syms,
                        file,
                        n,
                        SymKind::Let,
                        Some(&s.name.name),
                        format!(
                            "```yj\nlet {} = {}\n```\nin signal `{}`",
                            n.name,
                            snippet(text, e.span.start, e.span.end),
                            s.name.name
                        ),
                    );
                }
            }
            Def::Table(t) => {
                let mut cols: Vec<&str> = Vec::new();
                for (_, cells) in &t.rows {
                    for (c, _) in cells {
                        if !cols.contains(&c.name.as_str()) {
                            cols.push(&c.name);
                        }
                    }
                }
                push(
                    syms,
                    file,
                    &t.name,
                    SymKind::Table,
                    None,
                    format!(
                        "**table {}**: {} row(s), columns {}",
                        t.name.name,
                        t.rows.len(),
                        cols.join(", ")
                    ),
                );
                let mut seen_cols = Vec::new();
                for (key, cells) in &t.rows {
                    let row: Vec<String> = cells
                        .iter()
                        .map(|(c, v)| {
                            format!("{}: {}", c.name, snippet(text, v.span.start, v.span.end))
                        })
                        .collect();
                    push(
                        syms,
                        file,
                        key,
                        SymKind::Row,
                        Some(&t.name.name),
                        format!(
                            "row `{}` of table `{}`: {{ {} }}",
                            key.name,
                            t.name.name,
                            row.join(", ")
                        ),
                    );
                    for (c, _) in cells {
                        if !seen_cols.contains(&c.name) {
                            seen_cols.push(c.name.clone());
                            push(
                                syms,
                                file,
                                c,
                                SymKind::Column,
                                Some(&t.name.name),
                                format!(
                                    "column `{}` of table `{}` (`{}.{}`)",
                                    c.name, t.name.name, t.name.name, c.name
                                ),
                            );
                        }
                    }
                }
            }
            Def::Script(s) => {
                for f in &s.functions {
                    let params: Vec<String> = f
                        .params
                        .iter()
                        .map(|(n, t)| {
                            format!(
                                "{}: {}",
                                n.name,
                                t.as_ref().map_or("?", |t| t.name.as_str())
                            )
                        })
                        .collect();
                    let from = match &s.source {
                        ScriptSource::Inline(_) => "inline rhai".to_string(),
                        ScriptSource::Import { path, .. } => {
                            format!("rhai, imported from `{}`", path.name)
                        }
                    };
                    push(
                        syms,
                        file,
                        &f.name,
                        SymKind::Function,
                        None,
                        format!(
                            "```yj\nfn {}({}) -> {}\n```\nscript function ({from})",
                            f.name.name,
                            params.join(", "),
                            f.ret.as_ref().map_or("?", |r| r.name.as_str())
                        ),
                    );
                }
            }
            Def::Grading(g) => push(
                syms,
                file,
                &g.name,
                SymKind::Assess,
                None,
                format!(
                    "**grading {}** of `{}` as `{}`",
                    g.name.name, g.kind.name, g.field.name
                ),
            ),
            Def::Deadlines(dl) => push(
                syms,
                file,
                &dl.name,
                SymKind::Assess,
                None,
                format!(
                    "**deadlines {}** for `{}`: {} rule(s)",
                    dl.name.name,
                    dl.subject.name,
                    dl.rules.len()
                ),
            ),
            Def::Roster(r) => {
                let units: Vec<&str> = r.units.iter().map(|u| u.name.as_str()).collect();
                push(
                    syms,
                    file,
                    &r.unit_type,
                    SymKind::Assess,
                    None,
                    format!("**roster {}**: {}", r.unit_type.name, units.join(", ")),
                );
            }
            Def::Assessment(a) => push(
                syms,
                file,
                &a.name,
                SymKind::Assess,
                None,
                format!(
                    "**assessment {}** for `{}` per {}: {} criteria, {} veto(es)",
                    a.name.name,
                    a.unit_type.name,
                    a.period.name,
                    a.criteria.len(),
                    a.vetoes.len()
                ),
            ),
        }
    }
}

fn yspan<T>(s: &serde_saphyr::Spanned<T>) -> (usize, usize) {
    let sp = s.referenced.span();
    let start = sp.byte_offset().unwrap_or(0) as usize;
    let len = sp.byte_len().unwrap_or(0) as usize;
    (start, start + len)
}

/// The name's own range inside a YAML value's range (quotes left out).
fn name_range(text: &str, name: &str, (start, end): (usize, usize)) -> (usize, usize) {
    let from = start.saturating_sub(0);
    let hay = text
        .get(from..end.max(from + name.len()).min(text.len()))
        .unwrap_or("");
    match hay.find(name) {
        Some(i) => (from + i, from + i + name.len()),
        None => (start, start + name.len()),
    }
}

fn index_plan(file: &str, text: &str, syms: &mut Vec<Sym>) {
    let Ok(doc) = serde_saphyr::from_str::<PlanDoc>(text) else {
        return;
    };
    let add = |syms: &mut Vec<Sym>,
               s: &serde_saphyr::Spanned<String>,
               kind,
               container: Option<&str>,
               hover: String| {
        let (start, end) = name_range(text, &s.value, yspan(s));
        syms.push(Sym {
            name: s.value.clone(),
            kind,
            file: file.to_string(),
            start,
            end,
            container: container.map(str::to_string),
            hover,
        });
    };
    let plan_name = doc.plan.as_ref().map(|p| p.value.clone());
    if let Some(p) = &doc.plan {
        let desc = doc
            .description
            .as_ref()
            .map_or(String::new(), |d| format!(": {}", d.value));
        let n = doc.steps.as_ref().map_or(0, |s| s.value.len());
        add(
            syms,
            p,
            SymKind::Plan,
            None,
            format!("**plan {}**{desc} — {n} step(s)", p.value),
        );
    }
    if let Some(steps) = &doc.steps {
        for st in &steps.value {
            let s = &st.value;
            let what = if let Some(n) = &s.notify {
                format!("notify `{}`", n.value)
            } else if let Some(r) = &s.declare_response {
                format!("declare response {}", r.value)
            } else if let Some(m) = &s.measures {
                let m: Vec<&str> = m.value.iter().map(|x| x.value.as_str()).collect();
                format!("measures {}", m.join(", "))
            } else if s.branch.is_some() {
                "branch".to_string()
            } else {
                "step".to_string()
            };
            add(
                syms,
                &s.id,
                SymKind::Step,
                plan_name.as_deref(),
                format!(
                    "step **{}** of plan `{}`: {what}",
                    s.id.value,
                    plan_name.as_deref().unwrap_or("?")
                ),
            );
        }
    }
    if let Some(chains) = &doc.chains {
        for (name, chain) in &chains.0 {
            let tiers = chain.value.tiers.len();
            let kind = chain
                .value
                .kind
                .as_ref()
                .map_or("escalation", |k| k.value.as_str());
            add(
                syms,
                name,
                SymKind::Chain,
                None,
                format!("chain **{}** ({kind}): {tiers} tier(s)", name.value),
            );
        }
    }
    if let Some(people) = &doc.people {
        let mut roles: Vec<(serde_saphyr::Spanned<String>, Vec<String>)> = Vec::new();
        for p in people {
            let p = &p.value;
            for r in p.role.iter().chain(p.roles.iter()) {
                let who = format!("{} ({}, {})", p.name.value, p.id.value, p.area.value);
                match roles.iter_mut().find(|(n, _)| n.value == r.value) {
                    Some((_, v)) => v.push(who),
                    None => roles.push((r.clone(), vec![who])),
                }
            }
        }
        for (r, who) in &roles {
            let list: Vec<String> = who.iter().map(|w| format!("- {w}")).collect();
            add(
                syms,
                r,
                SymKind::Role,
                doc.roster.as_ref().map(|x| x.value.as_str()),
                format!(
                    "role **{}**: {} person(s)\n\n{}",
                    r.value,
                    who.len(),
                    list.join("\n")
                ),
            );
        }
    }
}
