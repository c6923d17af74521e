//! Loading the definitions the service runs, and building its engine.
//!
//! The same loader as `yingji check`/`run` ([`yingji_dsl::load`]); a load
//! with errors is refused with the rendered diagnostics and their JSON.

use std::path::PathBuf;
use yingji_dsl::load::{FsLoader, load};
use yingji_engine::Engine;

/// Definitions that failed to load (or to build an engine).
#[derive(Debug, thiserror::Error)]
#[error("{rendered}")]
pub struct DefsError {
    /// The diagnostics rendered (rustc style).
    pub rendered: String,
    /// The diagnostics as JSON objects.
    pub diagnostics: serde_json::Value,
}

/// Loaded definitions.
pub struct Defs {
    /// The paths they came from (reloads read them again).
    pub paths: Vec<PathBuf>,
    loaded: yingji_dsl::load::Loaded,
}

impl Defs {
    /// Loads `.yj`/YAML files and folders.
    pub fn load(paths: &[PathBuf]) -> Result<Defs, DefsError> {
        let loaded = load(&FsLoader(paths.to_vec()));
        if loaded.has_errors() {
            return Err(DefsError {
                rendered: loaded.render(),
                diagnostics: serde_json::Value::Array(
                    loaded
                        .diagnostics
                        .iter()
                        .map(|d| d.to_json(&loaded.sources))
                        .collect(),
                ),
            });
        }
        Ok(Defs {
            paths: paths.to_vec(),
            loaded,
        })
    }

    /// How many files were read.
    pub fn files(&self) -> usize {
        self.loaded.files
    }

    /// Warnings, rendered (empty when none).
    pub fn warnings(&self) -> String {
        self.loaded.render()
    }

    /// The roster's station table: station → area (township).
    pub fn stations(&self) -> std::collections::HashMap<String, String> {
        self.loaded.plans.roster.stations.iter().cloned().collect()
    }

    /// The partition field the definitions declare (`event … partition by F`).
    pub fn partition(&self) -> Option<&yingji_dsl::check::partition::Partition> {
        self.loaded.partition.as_ref()
    }

    /// The texts of the loaded files, in load order.
    pub fn texts(&self) -> Vec<String> {
        (0..)
            .map_while(|i| self.loaded.sources.file(i))
            .map(|f| f.text.to_string())
            .collect()
    }

    /// A fresh engine with `config`.
    pub fn engine(&self, config: yingji_engine::Config) -> Result<Engine, DefsError> {
        let l = &self.loaded;
        let engine = Engine::with_config(l.program.clone(), config).map_err(|e| DefsError {
            rendered: e.to_string(),
            diagnostics: serde_json::json!([{"severity":"error","message": e.to_string()}]),
        })?;
        let engine = engine.with_deadlines(l.assess.clone());
        Ok(if l.plans.plans.is_empty() {
            engine
        } else {
            engine.with_plans(l.plans.clone())
        })
    }
}
