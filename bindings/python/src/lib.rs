//! `yingji._native`: the Python extension, a pyo3 shell over the JSON
//! boundary [`yingji::api`].
//!
//! This module only converts arguments (`str` or `bytes` → UTF-8 text) and
//! errors ([`ApiError`] → the exception classes of `yingji._errors`, chosen
//! there by code); JSON is parsed into Python objects by the pure-Python
//! package `yingji` around it. Panics are caught and raised as
//! `yingji.InternalError` (code `"panic"`).

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, TryLockError};
use yingji::api::{self, ApiError, ErrorCode};

/// Turns an [`ApiError`] into the matching `yingji` exception, built by
/// `yingji._errors.from_code(status, code, message, diagnostics_json, detail_json)`.
fn to_py(py: Python<'_>, e: &ApiError) -> PyErr {
    let made = py
        .import("yingji._errors")
        .and_then(|m| m.getattr("from_code"))
        .and_then(|f| {
            f.call1((
                e.code.as_i32(),
                e.code.name(),
                e.message.as_str(),
                e.diagnostics_json(),
                e.detail_json(),
            ))
        });
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(import_failed) => import_failed,
    }
}

/// Runs `f` with panics caught, converting failures to exceptions.
fn call<T>(py: Python<'_>, f: impl FnOnce() -> Result<T, ApiError>) -> PyResult<T> {
    let result = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(ApiError::new(
            ErrorCode::Panic,
            format!("internal error (panic): {what}"),
        ))
    });
    result.map_err(|e| to_py(py, &e))
}

/// Text from a `str` or `bytes` argument; `what` names it in errors.
fn text<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> Result<Cow<'a, str>, ApiError> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return api::utf8(b.as_bytes(), what).map(|s| Cow::Owned(s.to_string()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s.to_cow().map(|c| Cow::Owned(c.into_owned())).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidUtf8,
                format!("{what} is not valid UTF-8: {e}"),
            )
        });
    }
    let ty = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    Err(ApiError::new(
        ErrorCode::InvalidArgument,
        format!("{what} must be str or bytes, not {ty}"),
    ))
}

/// Loaded definitions (see `yingji.Definitions`).
#[pyclass(module = "yingji._native", name = "Definitions", frozen)]
struct Definitions {
    defs: api::Defs,
}

#[pymethods]
impl Definitions {
    /// Loads one text (`str` or `bytes`) named `name`.
    #[staticmethod]
    fn from_text(
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        text: &Bound<'_, PyAny>,
    ) -> PyResult<Definitions> {
        call(py, || {
            let name = self::text(name, "name")?;
            let text = self::text(text, "text")?;
            Ok(Definitions {
                defs: api::Defs::from_text(&name, &text),
            })
        })
    }

    /// Loads files and folders.
    #[staticmethod]
    fn from_paths(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<Definitions> {
        call(py, || {
            if paths.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::InvalidArgument,
                    "give at least one path",
                ));
            }
            Ok(Definitions {
                defs: py.detach(|| api::Defs::from_paths(&paths)),
            })
        })
    }

    /// Whether the definitions compiled.
    fn is_ok(&self) -> bool {
        self.defs.is_ok()
    }

    /// Warnings as JSON; raises `DefinitionError` when they did not compile.
    fn check(&self, py: Python<'_>) -> PyResult<String> {
        call(py, || self.defs.check())
    }

    /// Every diagnostic as JSON.
    fn diagnostics_json(&self) -> String {
        self.defs.diagnostics_json()
    }

    /// Every diagnostic rendered for a terminal.
    fn rendered(&self) -> String {
        self.defs.rendered()
    }

    /// What was loaded, as JSON.
    fn summary_json(&self) -> String {
        self.defs.summary_json()
    }

    /// A new engine; raises `DefinitionError` when they did not compile.
    /// `config`: run settings as a JSON object (`yingji.Config` writes it);
    /// a bad member raises `ConfigError` naming it.
    #[pyo3(signature = (config=None))]
    fn engine(&self, py: Python<'_>, config: Option<&Bound<'_, PyAny>>) -> PyResult<Engine> {
        call(py, || {
            let engine = match config {
                Some(c) => self.defs.engine_with(&text(c, "config")?)?,
                None => self.defs.engine()?,
            };
            Ok(Engine {
                engine: Mutex::new(Some(engine)),
            })
        })
    }

    /// Assesses records (JSON text).
    fn assess(&self, py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<String> {
        call(py, || self.defs.assess(&text(records, "records")?))
    }
}

/// A running engine (see `yingji.Engine`).
///
/// `frozen`: pyo3 never borrows it mutably, so a second thread's call while
/// one runs (the GIL is released while the engine works: push, batches,
/// flush, advance, finish) is not pyo3's generic
/// "Already borrowed" `RuntimeError`: the engine sits behind a mutex taken
/// with `try_lock`, and a call that finds it taken raises `yingji.BusyError`.
#[pyclass(module = "yingji._native", name = "Engine", frozen)]
struct Engine {
    engine: Mutex<Option<api::Engine>>,
}

/// The engine locked for one call (or why not).
struct Live<'a>(MutexGuard<'a, Option<api::Engine>>);

impl Live<'_> {
    fn get(&mut self) -> Result<&mut api::Engine, ApiError> {
        self.0
            .as_mut()
            .ok_or_else(|| ApiError::new(ErrorCode::BadHandle, "the engine is closed"))
    }
}

impl Engine {
    fn lock(&self) -> Result<Live<'_>, ApiError> {
        match self.engine.try_lock() {
            Ok(g) => Ok(Live(g)),
            // a panic inside a call is caught and reported; the engine's state
            // is then as unspecified as after a caught panic anywhere
            Err(TryLockError::Poisoned(p)) => Ok(Live(p.into_inner())),
            Err(TryLockError::WouldBlock) => Err(ApiError::new(
                ErrorCode::Busy,
                "the engine is in use by another call (another thread); nothing was done: \
                 use an engine from one thread at a time",
            )),
        }
    }
}

#[pymethods]
impl Engine {
    /// Applies one event (JSON text); its outputs as a JSON array.
    fn push(&self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<String> {
        call(py, || {
            let line = text(event, "event")?;
            let mut live = self.lock()?;
            let engine = live.get()?;
            py.detach(|| engine.push_json(&line))
        })
    }

    /// Applies a batch (JSONL or a JSON array); the result as JSON.
    fn push_batch(&self, py: Python<'_>, batch: &Bound<'_, PyAny>) -> PyResult<String> {
        call(py, || {
            let batch = text(batch, "batch")?;
            let mut live = self.lock()?;
            let engine = live.get()?;
            py.detach(|| engine.push_batch_json(&batch))
        })
    }

    /// The current level of `key` in `signal`.
    fn level(
        &self,
        py: Python<'_>,
        signal: &Bound<'_, PyAny>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<String> {
        call(py, || {
            let signal = text(signal, "signal")?;
            let key = text(key, "key")?;
            Ok(self.lock()?.get()?.level(&signal, &key))
        })
    }

    /// Events pushed so far.
    fn events(&self, py: Python<'_>) -> PyResult<u64> {
        call(py, || Ok(self.lock()?.get()?.events()))
    }

    /// The state as JSON.
    fn snapshot(&self, py: Python<'_>) -> PyResult<String> {
        call(py, || self.lock()?.get()?.snapshot())
    }

    /// End of stream: outputs of the events held back, as a JSON array.
    fn flush(&self, py: Python<'_>) -> PyResult<String> {
        call(py, || {
            let mut live = self.lock()?;
            let engine = live.get()?;
            Ok(py.detach(|| engine.flush_json()))
        })
    }

    /// Moves the clock to `ts` (RFC 3339 text); the outputs it releases as a
    /// JSON array.
    fn advance_to(&self, py: Python<'_>, ts: &Bound<'_, PyAny>) -> PyResult<String> {
        call(py, || {
            let ts = text(ts, "ts")?;
            let mut live = self.lock()?;
            let engine = live.get()?;
            py.detach(|| engine.advance_to_json(&ts))
        })
    }

    /// End of input, optionally running the clock to `until` (RFC 3339
    /// text); the outputs as a JSON array.
    #[pyo3(signature = (until=None))]
    fn finish(&self, py: Python<'_>, until: Option<&Bound<'_, PyAny>>) -> PyResult<String> {
        call(py, || {
            let until = until.map(|u| text(u, "until")).transpose()?;
            let mut live = self.lock()?;
            let engine = live.get()?;
            py.detach(|| engine.finish_json(until.as_deref()))
        })
    }

    /// The clock as RFC 3339 text, or `None` before the first event.
    fn clock(&self, py: Python<'_>) -> PyResult<Option<String>> {
        call(py, || Ok(self.lock()?.get()?.clock()))
    }

    /// Replaces the state with a snapshot; what was kept/reset as JSON.
    fn restore(&self, py: Python<'_>, snapshot: &Bound<'_, PyAny>) -> PyResult<String> {
        call(py, || {
            let snapshot = text(snapshot, "snapshot")?;
            self.lock()?.get()?.restore(&snapshot)
        })
    }

    /// Releases the engine's state; later calls raise `ClosedError`, and so
    /// does a second `close()`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        call(py, || {
            let mut live = self.lock()?;
            live.get()?;
            *live.0 = None;
            Ok(())
        })
    }

    /// Whether `close()` was called.
    fn is_closed(&self) -> bool {
        match self.engine.try_lock() {
            Ok(g) => g.is_none(),
            Err(TryLockError::Poisoned(p)) => p.into_inner().is_none(),
            // in use by a call right now, so not closed
            Err(TryLockError::WouldBlock) => false,
        }
    }
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Definitions>()?;
    m.add_class::<Engine>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
