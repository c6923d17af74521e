//! Loading definitions from files, folders or memory, in both syntaxes.

use crate::diag::{Diagnostic, SourceMap, Span, codes};
use crate::syntax::ast::Def;
use std::path::{Path, PathBuf};
use yingji_engine::ir::Program;

/// Where definitions come from: the file system, or text in memory.
pub trait Loader {
    /// Every `(name, text)` to load, or a diagnostic message for what failed.
    fn sources(&self) -> Vec<Result<(String, String), (String, String)>>;

    /// Reads `rel` (a `.rhai` file a policy imports) next to the policy
    /// named `policy`: its name and text, or why it cannot be read.
    fn read_beside(&self, policy: &str, rel: &str) -> Result<(String, String), String> {
        let _ = (policy, rel);
        Err("this loader cannot read imported files".into())
    }
}

/// Checks an import path: relative, no `..`, ending in `.rhai`.
fn import_path(rel: &str) -> Result<&Path, String> {
    let p = Path::new(rel);
    if !rel.ends_with(".rhai") {
        return Err("only `.rhai` files can be imported".into());
    }
    if p.is_absolute()
        || p.components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err("an import must be a path relative to the policy, without `..`".into());
    }
    Ok(p)
}

/// Files and folders (recursively: `*.yj`, `*.yaml`, `*.yml` but not the
/// scenario files `*.test.yaml` (see [`is_scenario_file`]), sorted by path),
/// kept inside the given paths: see [`FsFolders`] (this is `FsFolders` with
/// `allow_outside_roots: false`).
pub struct FsLoader(pub Vec<PathBuf>);

impl Loader for FsLoader {
    fn sources(&self) -> Vec<Result<(String, String), (String, String)>> {
        self.folders().sources()
    }

    fn read_beside(&self, policy: &str, rel: &str) -> Result<(String, String), String> {
        self.folders().read_beside(policy, rel)
    }
}

impl FsLoader {
    fn folders(&self) -> FsFolders {
        FsFolders {
            paths: self.0.clone(),
            allow_outside_roots: false,
        }
    }
}

/// Files and folders, read through symbolic links safely.
///
/// * Every file and folder is identified by its canonical path (links
///   resolved): a folder reached again (a link to `.` or to a parent) is not
///   walked again, so loops end; a file reached by several paths is loaded
///   once, under the first path in sorted order.
/// * The *roots* are the given folders and the folders of the given files.
///   A folder member or a `.rhai` import whose canonical path is outside
///   every root is not read (a diagnostic names it, never its content)
///   unless `allow_outside_roots` (`--allow-outside-roots` on the CLI).
///   The given paths themselves are always read.
pub struct FsFolders {
    /// Files and folders to load.
    pub paths: Vec<PathBuf>,
    /// Follow links (members and imports) to files outside the roots.
    pub allow_outside_roots: bool,
}

/// Why a linked path is not read.
fn outside(shown: &Path, canon: &Path) -> String {
    format!(
        "`{}` resolves to `{}`, outside the given files and folders: not read \
         (`--allow-outside-roots` allows it)",
        shown.display(),
        canon.display()
    )
}

struct Walk<'a> {
    roots: &'a [PathBuf],
    allow_outside_roots: bool,
    dirs: std::collections::HashSet<PathBuf>,
    /// `(shown path, canonical path)`
    files: Vec<(PathBuf, PathBuf)>,
    problems: Vec<(String, String)>,
}

impl Walk<'_> {
    fn inside(&self, canon: &Path) -> bool {
        self.allow_outside_roots || self.roots.iter().any(|r| canon.starts_with(r))
    }

    fn collect(&mut self, p: &Path, explicit: bool) {
        let canon = match std::fs::canonicalize(p) {
            Ok(c) => c,
            Err(_) if !explicit => return, // a dangling link among a folder's members
            Err(_) => {
                self.problems
                    .push((p.display().to_string(), "no such file or folder".into()));
                return;
            }
        };
        if canon.is_dir() {
            if !explicit && !self.inside(&canon) {
                self.problems
                    .push((p.display().to_string(), outside(p, &canon)));
                return;
            }
            if !self.dirs.insert(canon) {
                return; // walked already (a link loop, or given twice)
            }
            match std::fs::read_dir(p) {
                Ok(rd) => {
                    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
                    entries.sort();
                    for e in entries {
                        self.collect(&e, false);
                    }
                }
                Err(e) => self
                    .problems
                    .push((p.display().to_string(), format!("cannot read folder: {e}"))),
            }
        } else if canon.is_file() {
            if !(explicit || is_definition_file(p)) {
                return;
            }
            if !explicit && !self.inside(&canon) {
                self.problems
                    .push((p.display().to_string(), outside(p, &canon)));
                return;
            }
            self.files.push((p.to_path_buf(), canon));
        } else if explicit {
            self.problems
                .push((p.display().to_string(), "not a file or folder".into()));
        }
    }
}

impl FsFolders {
    /// The canonical roots: given folders, and the folders of given files.
    fn roots(&self) -> Vec<PathBuf> {
        self.paths
            .iter()
            .filter_map(|p| {
                let c = std::fs::canonicalize(p).ok()?;
                if c.is_dir() {
                    Some(c)
                } else {
                    c.parent().map(Path::to_path_buf)
                }
            })
            .collect()
    }
}

impl Loader for FsFolders {
    fn sources(&self) -> Vec<Result<(String, String), (String, String)>> {
        let roots = self.roots();
        let mut walk = Walk {
            roots: &roots,
            allow_outside_roots: self.allow_outside_roots,
            dirs: std::collections::HashSet::new(),
            files: Vec::new(),
            problems: Vec::new(),
        };
        for p in &self.paths {
            walk.collect(p, true);
        }
        let mut files = walk.files;
        files.sort();
        // one file reached by several paths loads once, under its first path
        let mut seen = std::collections::HashSet::new();
        files.retain(|(_, canon)| seen.insert(canon.clone()));
        let mut out: Vec<_> = walk.problems.into_iter().map(Err).collect();
        for (f, _) in files {
            let name = f.display().to_string();
            match std::fs::read_to_string(&f) {
                Ok(text) => out.push(Ok((name, text))),
                Err(e) => out.push(Err((name, format!("cannot read: {e}")))),
            }
        }
        out
    }

    fn read_beside(&self, policy: &str, rel: &str) -> Result<(String, String), String> {
        let p = Path::new(policy)
            .parent()
            .unwrap_or(Path::new(""))
            .join(import_path(rel)?);
        let canon =
            std::fs::canonicalize(&p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))?;
        if !self.allow_outside_roots && !self.roots().iter().any(|r| canon.starts_with(r)) {
            return Err(outside(&p, &canon));
        }
        let name = p.display().to_string();
        std::fs::read_to_string(&canon)
            .map(|t| (name, t))
            .map_err(|e| format!("cannot read `{}`: {e}", p.display()))
    }
}

fn is_definition_file(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yj" | "yaml" | "yml")
    ) && !is_scenario_file(p)
}

/// Whether `p` is an author's scenario file (`*.test.yaml`, `*.test.yml`:
/// events in, expected outputs out, run by `yingji test`). Folder walks
/// skip them: they sit next to the definitions they test but are none.
pub fn is_scenario_file(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".test.yaml") || n.ends_with(".test.yml"))
}

/// Text in memory: `(name, text)` pairs.
pub struct MemLoader(pub Vec<(String, String)>);

impl Loader for MemLoader {
    fn sources(&self) -> Vec<Result<(String, String), (String, String)>> {
        self.0
            .iter()
            .filter(|(n, _)| !n.ends_with(".rhai"))
            .cloned()
            .map(Ok)
            .collect()
    }

    /// Finds `rel` among the entries, next to `policy` or by its plain name.
    fn read_beside(&self, policy: &str, rel: &str) -> Result<(String, String), String> {
        let beside = Path::new(policy)
            .parent()
            .unwrap_or(Path::new(""))
            .join(import_path(rel)?);
        let beside = beside.display().to_string();
        self.0
            .iter()
            .find(|(n, _)| *n == beside || n == rel)
            .cloned()
            .ok_or_else(|| format!("no file `{rel}` next to `{policy}`"))
    }
}

/// Everything one load produced.
#[derive(Debug)]
pub struct Loaded {
    /// All source files, for rendering diagnostics.
    pub sources: SourceMap,
    /// The compiled program (complete only without errors).
    pub program: Program,
    /// Errors and warnings of all files.
    pub diagnostics: Vec<Diagnostic>,
    /// How many files were read.
    pub files: usize,
    /// Plans, chains and rosters (empty when no plan documents were loaded).
    pub plans: yingji_engine::workflow::PlanSet,
    /// Assessments, gradings, reporting deadlines and unit rosters.
    pub assess: yingji_engine::assess::AssessProgram,
    /// The partition field a worker group splits by (`event … partition by F`).
    pub partition: Option<crate::check::partition::Partition>,
}

impl Loaded {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
    /// All diagnostics rendered for a terminal.
    pub fn render(&self) -> String {
        self.diagnostics
            .iter()
            .map(|d| d.render(&self.sources))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A fresh engine over what was loaded: the signals, and the reporting
    /// deadlines and plans when there are any. The one place an engine is
    /// put together from definitions (`yingji::Definitions::engine_with`
    /// validates the settings first).
    pub fn engine_with(
        &self,
        config: yingji_engine::Config,
    ) -> Result<yingji_engine::Engine, yingji_engine::ir::ProgramError> {
        let engine = yingji_engine::Engine::with_config(self.program.clone(), config)?
            .with_deadlines(self.assess.clone());
        Ok(if self.plans.plans.is_empty() {
            engine
        } else {
            engine.with_plans(self.plans.clone())
        })
    }
}

/// Reads every `.rhai` file the definitions of `policy` import.
fn resolve_imports(
    loader: &dyn Loader,
    policy: &str,
    defs: &mut [Def],
    sources: &mut SourceMap,
    diags: &mut Vec<Diagnostic>,
) {
    for d in defs {
        let Def::Script(s) = d else { continue };
        let crate::syntax::ast::ScriptSource::Import { path, file } = &mut s.source else {
            continue;
        };
        match loader.read_beside(policy, &path.name) {
            Ok((name, text)) => {
                let f = sources.add(&name, &text);
                *file = Some(Span::new(f, 0, text.len()));
            }
            Err(why) => diags.push(
                Diagnostic::error(
                    codes::IO,
                    path.span,
                    format!("cannot import `{}`", path.name),
                )
                .label(why)
                .hint("the `.rhai` file must be next to the policy (a relative path)"),
            ),
        }
    }
}

/// Loads, parses, validates and lowers everything `loader` provides.
///
/// ```
/// use yingji_dsl::load::{load, MemLoader};
/// let src = "event rain { station: string, mm: number }\n\
///            signal 暴雨 { from rain key station let r3 = sum(mm, 3h) level red when r3 >= 100 }";
/// let loaded = load(&MemLoader(vec![("a.yj".into(), src.into())]));
/// assert!(!loaded.has_errors(), "{}", loaded.render());
/// assert_eq!(loaded.program.signals[0].name, "暴雨");
/// ```
pub fn load(loader: &dyn Loader) -> Loaded {
    let mut sources = SourceMap::default();
    let mut defs: Vec<Def> = Vec::new();
    let mut diagnostics = Vec::new();
    let mut files = 0;
    let mut plan_files = Vec::new();
    for item in loader.sources() {
        match item {
            Err((name, why)) => {
                let f = sources.add(&name, "");
                diagnostics.push(Diagnostic::error(
                    codes::IO,
                    Span::new(f, 0, 0),
                    format!("{name}: {why}"),
                ));
            }
            Ok((name, text)) => {
                files += 1;
                let f = sources.add(&name, &text);
                let (mut d, mut ds) = if name.ends_with(".yaml") || name.ends_with(".yml") {
                    let keys = crate::syntax::yaml::top_keys(&text);
                    if crate::syntax::yaml::plan::is_plan_yaml(&text) {
                        plan_files.push(f);
                        (Vec::new(), Vec::new())
                    } else if keys.len() == 1 && keys[0] == "cap" {
                        // a CAP mapping (policies/cap.yaml): read by yingji-serve's `cap`
                        (Vec::new(), Vec::new())
                    } else if keys
                        .iter()
                        .all(|k| k == "events" || k == "signals" || k == "tables")
                    {
                        crate::syntax::yaml::policy::parse_yaml(f, &text)
                    } else {
                        let unknown: Vec<&str> = keys
                            .iter()
                            .map(String::as_str)
                            .filter(|k| !["events", "signals", "tables"].contains(k))
                            .collect();
                        (
                            Vec::new(),
                            vec![
                                Diagnostic::error(codes::YAML, Span::new(f, 0, 0), format!("`{name}` is neither a policy nor a plan document"))
                                    .label(format!("unknown top-level key(s): {}", unknown.join(", ")))
                                    .hint("policy documents have `events:`/`signals:`/`tables:`; plan documents have `plan:`, `chains:`, `roster:`, `people:` or `areas:`"),
                            ],
                        )
                    }
                } else {
                    let (mut defs, mut ds) = crate::syntax::yj::parse_file(f, &text);
                    resolve_imports(loader, &name, &mut defs, &mut sources, &mut ds);
                    (defs, ds)
                };
                defs.append(&mut d);
                diagnostics.append(&mut ds);
            }
        }
    }
    let lowered = crate::lower::policy::lower(&defs, &sources);
    diagnostics.extend(lowered.diagnostics);
    let (partition, partition_diags) = crate::check::partition::partition(&defs);
    diagnostics.extend(partition_diags);
    let (assess, assess_diags) = crate::lower::assess::compile(&defs, &sources);
    diagnostics.extend(assess_diags);
    let mut program = lowered.program;
    let mut plans = yingji_engine::workflow::PlanSet::default();
    if !plan_files.is_empty() {
        let loaded = crate::lower::plan::load_plans(&sources, &plan_files, Some(&program));
        diagnostics.extend(loaded.diagnostics);
        yingji_engine::workflow::runtime::merge_kinds(&mut program, &loaded.set);
        plans = loaded.set;
    }
    Loaded {
        sources,
        program,
        diagnostics,
        files,
        plans,
        assess,
        partition,
    }
}

/// A load with the assessment program.
#[derive(Debug)]
pub struct AssessLoaded {
    /// Sources, signal program and every diagnostic (assessment ones included).
    pub loaded: Loaded,
    /// The compiled assessments, gradings, deadlines and rosters.
    pub program: yingji_engine::assess::AssessProgram,
}

/// Loads definitions like [`load`] and hands out the assessment side as well
/// (`yingji_dsl::assess::load`).
pub fn load_assess(loader: &dyn Loader) -> AssessLoaded {
    let loaded = load(loader);
    let program = loaded.assess.clone();
    AssessLoaded { loaded, program }
}
