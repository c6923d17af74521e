//! Reading the YAML files of this crate (the SL 651 station table, the CAP
//! mapping) with serde-saphyr: errors name the file, line and column.

use serde::de::DeserializeOwned;

/// A YAML file that does not read, or a value in it that does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct YamlError {
    /// The file.
    pub file: String,
    /// 1-based line (`0` when unknown).
    pub line: usize,
    /// 1-based column (`0` when unknown).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl YamlError {
    /// An error at a place of a value read with `Spanned`.
    pub fn at(file: &str, loc: serde_saphyr::Location, message: impl Into<String>) -> YamlError {
        YamlError {
            file: file.to_string(),
            line: loc.line() as usize,
            column: loc.column() as usize,
            message: message.into(),
        }
    }
}

/// Parses `text` (named `file` in errors) into `T`.
pub fn parse<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str::<T>(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map_or((0, 0), |l| (l.line() as usize, l.column() as usize));
        YamlError {
            file: file.to_string(),
            line,
            column,
            message: yingji_dsl::syntax::yaml::error_message(&e),
        }
    })
}

/// Reads and parses a file.
pub fn load<T: DeserializeOwned>(path: &std::path::Path) -> Result<T, YamlError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| YamlError {
        file: name.clone(),
        line: 0,
        column: 0,
        message: e.to_string(),
    })?;
    parse(&text, &name)
}

/// A YAML mapping kept in order with each key's place: the DSL's one
/// [`OrderedMap`](yingji_dsl::syntax::yaml::OrderedMap).
pub use yingji_dsl::syntax::yaml::OrderedMap as Entries;
