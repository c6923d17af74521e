//! C ABI for yingji: opaque handles over the JSON boundary [`yingji::api`].
//!
//! Every function here only converts between C and Rust (pointers, NUL-
//! terminated UTF-8, status codes) and calls [`yingji::api`]; the header
//! `include/yingji.h` is generated from this file by `build.rs` (cbindgen)
//! and documents the ownership and threading rules.
//!
//! Handle checking: every handle and every string this library returns is
//! recorded in a registry (address → kind) until it is freed, and every call
//! looks its handle up before touching it. A second free, a use after free or
//! a handle of the wrong kind is therefore reported as `YJ_ERR_BAD_HANDLE`
//! without reading freed memory (unless the allocator has reused the address
//! for a newer handle of the same kind).
//!
//! Concurrent use: a call marks its handle in use in the same critical
//! section that checks it is live, and unmarks it when it returns. An engine
//! is used by one call at a time: a second call on it from another thread
//! meanwhile returns `YJ_ERR_BUSY` at once (it does not wait), and so does a
//! free of a handle in use; definitions may be read by several calls at once.
//! So misuse from several threads is an error code, never a data race or a
//! use after free.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, MutexGuard};
use yingji::api::{self, ApiError, ErrorCode};

/// Status of a call: `YJ_OK` or the kind of error (the numbers never change
/// meaning).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types, reason = "C naming in the generated header")]
pub enum YjStatus {
    /// Success.
    YJ_OK = 0,
    /// A NULL where a pointer is required, or an unusable argument.
    YJ_ERR_INVALID_ARGUMENT = 1,
    /// A string that is not valid UTF-8.
    YJ_ERR_INVALID_UTF8 = 2,
    /// Text that should be JSON (an event, a batch, a snapshot) and is not.
    YJ_ERR_MALFORMED_JSON = 3,
    /// Definitions that did not compile: see yj_last_error_diagnostics().
    YJ_ERR_DEFINITIONS = 4,
    /// A well-formed event the engine refused (wrong field type, missing
    /// field, too far ahead of the latest event time); nothing was applied.
    YJ_ERR_EVENT = 5,
    /// A feature this build does not provide yet (assessments).
    YJ_ERR_UNSUPPORTED = 6,
    /// A handle or string that is not live (freed already) or of the wrong
    /// kind.
    YJ_ERR_BAD_HANDLE = 7,
    /// A bug inside the library (a caught panic); the handle may be left in
    /// an unspecified but safe state.
    YJ_ERR_PANIC = 8,
    /// A bug inside the library (an internal invariant did not hold).
    YJ_ERR_INTERNAL = 9,
    /// A snapshot that cannot be restored (not a yingji state document, or
    /// another format version, or a checksum that does not match); the
    /// engine is unchanged.
    YJ_ERR_STATE = 10,
    /// The handle is in use by a call on another thread (two threads pushing
    /// to one engine, or a free while a call runs); nothing was done, nothing
    /// freed. Use each handle from one thread at a time, or retry.
    YJ_ERR_BUSY = 11,
    /// A run setting that cannot be used (yj_engine_new_with_config): not a
    /// JSON object, an unknown setting, or a bad value; the message and
    /// yj_last_error_detail() name the setting.
    YJ_ERR_CONFIG = 12,
}

impl From<ErrorCode> for YjStatus {
    fn from(c: ErrorCode) -> YjStatus {
        match c {
            ErrorCode::InvalidArgument => YjStatus::YJ_ERR_INVALID_ARGUMENT,
            ErrorCode::InvalidUtf8 => YjStatus::YJ_ERR_INVALID_UTF8,
            ErrorCode::MalformedJson => YjStatus::YJ_ERR_MALFORMED_JSON,
            ErrorCode::Definitions => YjStatus::YJ_ERR_DEFINITIONS,
            ErrorCode::Event => YjStatus::YJ_ERR_EVENT,
            ErrorCode::Unsupported => YjStatus::YJ_ERR_UNSUPPORTED,
            ErrorCode::BadHandle => YjStatus::YJ_ERR_BAD_HANDLE,
            ErrorCode::Panic => YjStatus::YJ_ERR_PANIC,
            ErrorCode::Internal => YjStatus::YJ_ERR_INTERNAL,
            ErrorCode::State => YjStatus::YJ_ERR_STATE,
            ErrorCode::Busy => YjStatus::YJ_ERR_BUSY,
            ErrorCode::Config => YjStatus::YJ_ERR_CONFIG,
        }
    }
}

/// Loaded definitions (opaque). They may have failed to compile; see
/// yj_definitions_check().
pub struct YjDefinitions {
    defs: api::Defs,
}

/// A running engine (opaque).
pub struct YjEngine {
    engine: api::Engine,
}

// ---------------------------------------------------------------- registry

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Definitions,
    Engine,
    String,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Definitions => "YjDefinitions",
            Kind::Engine => "YjEngine",
            Kind::String => "string",
        }
    }
}

/// A live object: its kind and how many calls are using it right now (an
/// engine at most one, definitions any number).
#[derive(Clone, Copy, Debug)]
struct Entry {
    kind: Kind,
    users: u32,
}

static LIVE: Mutex<Option<HashMap<usize, Entry>>> = Mutex::new(None);

fn live() -> MutexGuard<'static, Option<HashMap<usize, Entry>>> {
    // a panic while holding the lock cannot leave the map inconsistent
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn register(addr: usize, kind: Kind) {
    live()
        .get_or_insert_with(HashMap::new)
        .insert(addr, Entry { kind, users: 0 });
}

fn not_live(kind: Kind) -> ApiError {
    ApiError::new(
        ErrorCode::BadHandle,
        format!(
            "not a live {} (freed already, or never returned by yingji)",
            kind.name()
        ),
    )
}

fn wrong_kind(kind: Kind, got: Kind) -> ApiError {
    ApiError::new(
        ErrorCode::BadHandle,
        format!("expected a {}, got a {}", kind.name(), got.name()),
    )
}

fn busy(kind: Kind, doing: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Busy,
        format!(
            "the {} is in use by another call (another thread); {doing}: \
             use a handle from one thread at a time",
            kind.name()
        ),
    )
}

/// Checks `addr` is a live object of `kind` that no call is using and
/// forgets it (the caller then frees it). In use: `YJ_ERR_BUSY`, nothing
/// freed.
fn take(addr: usize, kind: Kind) -> Result<(), ApiError> {
    let mut guard = live();
    let map = guard.get_or_insert_with(HashMap::new);
    match map.get(&addr) {
        Some(e) if e.kind != kind => Err(wrong_kind(kind, e.kind)),
        Some(e) if e.users > 0 => Err(busy(kind, "not freed")),
        Some(_) => {
            map.remove(&addr);
            if map.is_empty() {
                // release the table once nothing is live, so a program
                // that frees everything ends with nothing of ours allocated
                *guard = None;
            }
            Ok(())
        }
        None => Err(not_live(kind)),
    }
}

/// A handle in use by the current call: marked in the registry (in the same
/// critical section as the liveness check, so no other call can free it or,
/// for an engine, use it at the same time) until this is dropped.
struct Held<T> {
    ptr: *mut T,
}

impl<T> Held<T> {
    /// Marks `addr` in use; `exclusive` refuses a second user (`YJ_ERR_BUSY`).
    fn acquire(ptr: *mut T, kind: Kind, exclusive: bool) -> Result<Held<T>, ApiError> {
        let mut guard = live();
        let map = guard.get_or_insert_with(HashMap::new);
        match map.get_mut(&(ptr as usize)) {
            Some(e) if e.kind != kind => Err(wrong_kind(kind, e.kind)),
            Some(e) if exclusive && e.users > 0 => Err(busy(kind, "nothing was done")),
            Some(e) => {
                e.users = e.users.saturating_add(1);
                Ok(Held { ptr })
            }
            None => Err(not_live(kind)),
        }
    }
}

impl<T> Drop for Held<T> {
    fn drop(&mut self) {
        if let Some(e) = live()
            .as_mut()
            .and_then(|m| m.get_mut(&(self.ptr as usize)))
        {
            e.users = e.users.saturating_sub(1);
        }
    }
}

impl<T> std::ops::Deref for Held<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: live in the registry and marked in use, so not freed while
        // this exists; a valid Box allocation of this type
        unsafe { &*self.ptr }
    }
}

impl<T> std::ops::DerefMut for Held<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as `deref`; only engines are dereferenced mutably, and
        // they are acquired exclusively
        unsafe { &mut *self.ptr }
    }
}

// ---------------------------------------------------------------- last error

struct LastError {
    code: YjStatus,
    message: CString,
    diagnostics: CString,
    reason: CString,
    detail: CString,
}

thread_local! {
    static LAST: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

fn c_text(s: String) -> CString {
    // messages come from Rust strings and JSON; a NUL cannot occur in JSON and
    // is replaced elsewhere, so the fallback never loses more than that byte
    CString::new(s).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        bytes.retain(|&b| b != 0);
        CString::new(bytes).unwrap_or_default()
    })
}

fn set_last(e: Option<&ApiError>) {
    let value = e.map(|e| LastError {
        code: e.code.into(),
        message: c_text(e.message.clone()),
        diagnostics: c_text(e.diagnostics_json()),
        reason: c_text(e.reason().unwrap_or_default().to_string()),
        detail: c_text(e.detail_json()),
    });
    LAST.with(|l| *l.borrow_mut() = value);
}

/// Runs `f` at the boundary: clears the last error, catches panics, records
/// the error of a failure and turns the result into a status.
fn guard(f: impl FnOnce() -> Result<(), ApiError>) -> YjStatus {
    set_last(None);
    let result = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(ApiError::new(
                ErrorCode::Panic,
                format!("internal error (panic): {what}"),
            ))
        }
    };
    match result {
        Ok(()) => YjStatus::YJ_OK,
        Err(e) => {
            let status = YjStatus::from(e.code);
            set_last(Some(&e));
            status
        }
    }
}

// ---------------------------------------------------------------- conversions

fn null(what: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidArgument, format!("`{what}` is NULL"))
}

/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
unsafe fn arg_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, ApiError> {
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-null and NUL-terminated by the caller's contract
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    api::utf8(bytes, &format!("`{what}`"))
}

/// Checks an out-pointer and sets it to NULL, so it is NULL on any failure.
///
/// # Safety
/// `out` is NULL or valid for writing one pointer.
unsafe fn out_ptr<'a, T>(out: *mut *mut T, what: &str) -> Result<&'a mut *mut T, ApiError> {
    if out.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-null and writable by the caller's contract
    let out = unsafe { &mut *out };
    *out = std::ptr::null_mut();
    Ok(out)
}

/// Hands a string to the caller (to be released with `yj_string_free`).
fn give_string(out: &mut *mut c_char, s: String) -> Result<(), ApiError> {
    let c = CString::new(s)
        .map_err(|_| ApiError::new(ErrorCode::Internal, "result contains a NUL byte"))?;
    let p = c.into_raw();
    register(p as usize, Kind::String);
    *out = p;
    Ok(())
}

fn give<T>(out: &mut *mut T, value: T, kind: Kind) {
    let p = Box::into_raw(Box::new(value));
    register(p as usize, kind);
    *out = p;
}

/// Definitions for the length of a call (shared: several calls may read
/// them at once; a free meanwhile is refused with `YJ_ERR_BUSY`).
///
/// # Safety
/// `p` is NULL, or any pointer (checked against the registry before it is
/// dereferenced).
unsafe fn defs_ref(p: *const YjDefinitions) -> Result<Held<YjDefinitions>, ApiError> {
    if p.is_null() {
        return Err(null("defs"));
    }
    Held::acquire(p.cast_mut(), Kind::Definitions, false)
}

/// An engine for the length of a call, exclusively: a second call on it
/// from another thread meanwhile gets `YJ_ERR_BUSY`, and so does a free.
///
/// # Safety
/// As [`defs_ref`].
unsafe fn engine_mut(p: *mut YjEngine) -> Result<Held<YjEngine>, ApiError> {
    if p.is_null() {
        return Err(null("engine"));
    }
    Held::acquire(p, Kind::Engine, true)
}

// ---------------------------------------------------------------- errors

/// The status of the most recent call on this thread (YJ_OK if it
/// succeeded).
#[unsafe(no_mangle)]
pub extern "C" fn yj_last_error_code() -> YjStatus {
    LAST.with(|l| l.borrow().as_ref().map_or(YjStatus::YJ_OK, |e| e.code))
}

/// Why the most recent call on this thread failed ("" if it succeeded).
/// Owned by the library; valid until the next yj_ call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn yj_last_error_message() -> *const c_char {
    LAST.with(|l| {
        l.borrow()
            .as_ref()
            .map_or(c"".as_ptr(), |e| e.message.as_ptr())
    })
}

/// The diagnostics of the most recent call on this thread, as a JSON array
/// of objects (severity, code, message, file, line, column, end_line,
/// end_column, label, hint); "[]" unless it failed with YJ_ERR_DEFINITIONS.
/// Owned by the library; valid until the next yj_ call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn yj_last_error_diagnostics() -> *const c_char {
    LAST.with(|l| {
        l.borrow()
            .as_ref()
            .map_or(c"[]".as_ptr(), |e| e.diagnostics.as_ptr())
    })
}

/// A stable lowercase reason that refines the status of the most recent
/// call on this thread, "" if there is none. Every YJ_ERR_EVENT and
/// YJ_ERR_MALFORMED_JSON of a push has one: "not_json", "missing_member",
/// "not_string", "bad_timestamp", "wrong_type", "missing_field",
/// "nested_value", "bad_value", "not_finite", "duplicate_member", "too_long",
/// "too_far_ahead", "clock_suspect", "no_key", "bad_record", "refused"; a bad
/// setting (YJ_ERR_CONFIG) is "bad_config", a snapshot taken with another
/// lateness or dedupe_kind_key_ts setting "config_mismatch". (Late and duplicate events are not errors: a
/// late one is a "late" output, a duplicate is left out.)
/// Owned by the library; valid until the next yj_ call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn yj_last_error_reason() -> *const c_char {
    LAST.with(|l| {
        l.borrow()
            .as_ref()
            .map_or(c"".as_ptr(), |e| e.reason.as_ptr())
    })
}

/// The structured detail of the most recent call's error on this thread, a
/// JSON object: {"reason":"missing_field","kind":"rain","field":"mm"},
/// {"reason":"bad_config","field":"lateness"}, ...; "{}" if there is none.
/// Owned by the library; valid until the next yj_ call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn yj_last_error_detail() -> *const c_char {
    LAST.with(|l| {
        l.borrow()
            .as_ref()
            .map_or(c"{}".as_ptr(), |e| e.detail.as_ptr())
    })
}

/// A constant name for a status ("YJ_ERR_EVENT"); "YJ_UNKNOWN" for a number
/// that is not a status. Owned by the library.
#[unsafe(no_mangle)]
pub extern "C" fn yj_status_name(status: i32) -> *const c_char {
    let name = match status {
        0 => c"YJ_OK",
        1 => c"YJ_ERR_INVALID_ARGUMENT",
        2 => c"YJ_ERR_INVALID_UTF8",
        3 => c"YJ_ERR_MALFORMED_JSON",
        4 => c"YJ_ERR_DEFINITIONS",
        5 => c"YJ_ERR_EVENT",
        6 => c"YJ_ERR_UNSUPPORTED",
        7 => c"YJ_ERR_BAD_HANDLE",
        8 => c"YJ_ERR_PANIC",
        9 => c"YJ_ERR_INTERNAL",
        10 => c"YJ_ERR_STATE",
        11 => c"YJ_ERR_BUSY",
        12 => c"YJ_ERR_CONFIG",
        _ => c"YJ_UNKNOWN",
    };
    name.as_ptr()
}

/// The library version ("0.1.0"). Owned by the library.
#[unsafe(no_mangle)]
pub extern "C" fn yj_version() -> *const c_char {
    const V: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    V.as_ptr()
}

/// Releases a string returned through a `char **out` argument. NULL is a
/// no-op; a string already freed is YJ_ERR_BAD_HANDLE.
///
/// # Safety
/// `s` is NULL or a string this library returned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_string_free(s: *mut c_char) -> YjStatus {
    guard(|| {
        if s.is_null() {
            return Ok(());
        }
        take(s as usize, Kind::String)?;
        // SAFETY: returned by CString::into_raw and removed from the registry
        drop(unsafe { CString::from_raw(s) });
        Ok(())
    })
}

// ---------------------------------------------------------------- definitions

/// Loads definitions from one text. `name` is the file name shown in
/// diagnostics and outputs (a name ending in .yaml or .yml selects YAML,
/// anything else the .yj language).
///
/// Succeeds even when the definitions do not compile, so that their
/// diagnostics can be read: check them with yj_definitions_check(). On
/// success *out is a new handle to release with yj_definitions_free().
///
/// # Safety
/// `name`, `text`: NULL or NUL-terminated; `out`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_definitions_from_text(
    name: *const c_char,
    text: *const c_char,
    out: *mut *mut YjDefinitions,
) -> YjStatus {
    guard(|| {
        // SAFETY: forwarded caller contract
        let out = unsafe { out_ptr(out, "out") }?;
        // SAFETY: forwarded caller contract
        let name = unsafe { arg_str(name, "name") }?;
        // SAFETY: forwarded caller contract
        let text = unsafe { arg_str(text, "text") }?;
        give(
            out,
            YjDefinitions {
                defs: api::Defs::from_text(name, text),
            },
            Kind::Definitions,
        );
        Ok(())
    })
}

/// Loads definitions from `count` paths (.yj / .yaml files, or folders read
/// recursively). A path that cannot be read is a diagnostic, as with
/// yj_definitions_from_text(): the call itself succeeds.
///
/// # Safety
/// `paths`: NULL or an array of `count` string pointers; `out`: NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_definitions_from_paths(
    paths: *const *const c_char,
    count: usize,
    out: *mut *mut YjDefinitions,
) -> YjStatus {
    guard(|| {
        // SAFETY: forwarded caller contract
        let out = unsafe { out_ptr(out, "out") }?;
        if paths.is_null() {
            return Err(null("paths"));
        }
        if count == 0 {
            return Err(ApiError::new(
                ErrorCode::InvalidArgument,
                "`count` is 0: give at least one path",
            ));
        }
        let mut list = Vec::with_capacity(count);
        for i in 0..count {
            // SAFETY: `paths` holds `count` pointers by the caller's contract
            let p = unsafe { *paths.add(i) };
            // SAFETY: each is NULL or NUL-terminated by the caller's contract
            list.push(unsafe { arg_str(p, &format!("paths[{i}]")) }?);
        }
        give(
            out,
            YjDefinitions {
                defs: api::Defs::from_paths(&list),
            },
            Kind::Definitions,
        );
        Ok(())
    })
}

/// YJ_OK when the definitions compiled, else YJ_ERR_DEFINITIONS with every
/// diagnostic in yj_last_error_diagnostics(). `warnings_json` may be NULL;
/// otherwise on success *warnings_json is a JSON array of warnings (often
/// "[]") to release with yj_string_free().
///
/// # Safety
/// `defs`: a live handle or NULL; `warnings_json`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_definitions_check(
    defs: *const YjDefinitions,
    warnings_json: *mut *mut c_char,
) -> YjStatus {
    guard(|| {
        let out = if warnings_json.is_null() {
            None
        } else {
            // SAFETY: forwarded caller contract
            Some(unsafe { out_ptr(warnings_json, "warnings_json") }?)
        };
        // SAFETY: forwarded caller contract
        let defs = unsafe { defs_ref(defs) }?;
        let warnings = defs.defs.check()?;
        if let Some(out) = out {
            give_string(out, warnings)?;
        }
        Ok(())
    })
}

/// Every diagnostic (errors and warnings) as a JSON array, whether or not
/// the definitions compiled. Release *out_json with yj_string_free().
///
/// # Safety
/// `defs`: a live handle or NULL; `out_json`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_definitions_diagnostics(
    defs: *const YjDefinitions,
    out_json: *mut *mut c_char,
) -> YjStatus {
    guard(|| {
        // SAFETY: forwarded caller contract
        let out = unsafe { out_ptr(out_json, "out_json") }?;
        // SAFETY: forwarded caller contract
        let defs = unsafe { defs_ref(defs) }?;
        give_string(out, defs.defs.diagnostics_json())
    })
}

/// What was loaded, as a JSON object: {"ok":true,"files":1,
/// "event_kinds":["rain"],"signals":["暴雨预警"],"warnings":0,"errors":0}.
/// Release *out_json with yj_string_free().
///
/// # Safety
/// `defs`: a live handle or NULL; `out_json`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_definitions_summary(
    defs: *const YjDefinitions,
    out_json: *mut *mut c_char,
) -> YjStatus {
    guard(|| {
        // SAFETY: forwarded caller contract
        let out = unsafe { out_ptr(out_json, "out_json") }?;
        // SAFETY: forwarded caller contract
        let defs = unsafe { defs_ref(defs) }?;
        give_string(out, defs.defs.summary_json())
    })
}

/// Assesses records (a JSON array, or JSONL text) against the definitions'
/// assessments: *out_json receives {"assessments":[...], "deadlines":[...],
/// "rejected":[...]} (scores, vetoes with evidence, grades); release it with
/// yj_string_free(). YJ_ERR_UNSUPPORTED when the definitions hold no
/// assessment; YJ_ERR_MALFORMED_JSON for records that are not JSON.
///
/// # Safety
/// `defs`: a live handle or NULL; `records_json`: NULL or NUL-terminated;
/// `out_json`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_definitions_assess(
    defs: *const YjDefinitions,
    records_json: *const c_char,
    out_json: *mut *mut c_char,
) -> YjStatus {
    guard(|| {
        // SAFETY: forwarded caller contract
        let out = unsafe { out_ptr(out_json, "out_json") }?;
        // SAFETY: forwarded caller contract
        let defs = unsafe { defs_ref(defs) }?;
        // SAFETY: forwarded caller contract
        let records = unsafe { arg_str(records_json, "records_json") }?;
        give_string(out, defs.defs.assess(records)?)
    })
}

/// Releases definitions. NULL is a no-op; a handle freed already is
/// YJ_ERR_BAD_HANDLE; definitions a call on another thread is reading right
/// now (yj_engine_new, yj_definitions_check, ...) are YJ_ERR_BUSY and not
/// freed.
///
/// # Safety
/// `defs`: NULL or a handle this library returned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_definitions_free(defs: *mut YjDefinitions) -> YjStatus {
    guard(|| {
        if defs.is_null() {
            return Ok(());
        }
        take(defs as usize, Kind::Definitions)?;
        // SAFETY: made by Box::into_raw and just removed from the registry
        drop(unsafe { Box::from_raw(defs) });
        Ok(())
    })
}

// ---------------------------------------------------------------- engine

/// Creates an engine over compiled definitions; YJ_ERR_DEFINITIONS (with the
/// diagnostics) if they did not compile. The engine does not keep a
/// reference to `defs`. Release *out with yj_engine_free().
///
/// # Safety
/// `defs`: a live handle or NULL; `out`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_engine_new(
    defs: *const YjDefinitions,
    out: *mut *mut YjEngine,
) -> YjStatus {
    guard(|| {
        // SAFETY: forwarded caller contract
        let out = unsafe { out_ptr(out, "out") }?;
        // SAFETY: forwarded caller contract
        let defs = unsafe { defs_ref(defs) }?;
        let engine = defs.defs.engine()?;
        give(out, YjEngine { engine }, Kind::Engine);
        Ok(())
    })
}

/// Creates an engine with run settings: `config_json` is a JSON object, every
/// member optional (the defaults shown), named like `yingji run`'s flags:
/// {"lateness":"5m","late":"emit","max_ahead":"1d","idle_ttl":"off",
///  "dedupe_kind_key_ts":false,"max_line":1048576}
/// - lateness: allowed lateness, a duration ("30s", "5m", "2h", "1d");
/// - late: "emit" a late output and leave the event out, or "apply" it;
/// - max_ahead: refuse events further ahead of the clock than this, or "off";
/// - idle_ttl: forget keys silent for this long, or "off" (never);
/// - dedupe_kind_key_ts: also treat events with the same kind, key and time
///   as duplicates (same id always are);
/// - max_line: the longest event accepted, in bytes.
///
/// A bad setting (or text that is not a JSON object) is YJ_ERR_CONFIG naming
/// it, with yj_last_error_reason() "bad_config" and yj_last_error_detail()
/// {"reason":"bad_config","field":"<setting>"}. A snapshot records the
/// settings its state depends on: restoring one taken with another lateness
/// or dedupe_kind_key_ts is YJ_ERR_STATE ("config_mismatch"). Release *out
/// with yj_engine_free().
///
/// # Safety
/// `defs`: a live handle or NULL; `config_json`: NULL or NUL-terminated;
/// `out`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_engine_new_with_config(
    defs: *const YjDefinitions,
    config_json: *const c_char,
    out: *mut *mut YjEngine,
) -> YjStatus {
    guard(|| {
        // SAFETY: forwarded caller contract
        let out = unsafe { out_ptr(out, "out") }?;
        // SAFETY: forwarded caller contract
        let config = unsafe { arg_str(config_json, "config_json") }?;
        // SAFETY: forwarded caller contract
        let defs = unsafe { defs_ref(defs) }?;
        let engine = defs.defs.engine_with(config)?;
        give(out, YjEngine { engine }, Kind::Engine);
        Ok(())
    })
}

/// Applies one event (a JSON object, as one JSONL line) and sets
/// *outputs_json to the outputs it caused, a JSON array (often "[]"), to
/// release with yj_string_free(). A refused event changes nothing:
/// YJ_ERR_MALFORMED_JSON when it is not a JSON object, YJ_ERR_EVENT when the
/// engine cannot use it; yj_last_error_reason() / yj_last_error_detail() say
/// which way ("missing_field", "too_far_ahead", ...). Every event pushed, refused or not, takes the next
/// number (from 1) that outputs' "event" member refers to.
///
/// The engine holds events back for the allowed lateness (5 minutes of event
/// time) to put late arrivals in order, so an event's outputs may come with
/// a later push or with yj_engine_flush() at the end of the stream.
///
/// # Safety
/// `engine`: a live handle or NULL (a call on it from another thread
/// meanwhile is refused with YJ_ERR_BUSY);
/// `event_json`: NULL or NUL-terminated; `outputs_json`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_engine_push(
    engine: *mut YjEngine,
    event_json: *const c_char,
    outputs_json: *mut *mut c_char,
) -> YjStatus {
    guard(|| {
        // SAFETY: forwarded caller contract
        let out = unsafe { out_ptr(outputs_json, "outputs_json") }?;
        // SAFETY: forwarded caller contract
        let mut engine = unsafe { engine_mut(engine) }?;
        // SAFETY: forwarded caller contract
        let line = unsafe { arg_str(event_json, "event_json") }?;
        give_string(out, engine.engine.push_json(line)?)
    })
}

/// Applies a batch of events: JSONL (blank lines skipped but numbered, as
/// `yingji run` numbers lines) or, if the text
/// starts with '[', a JSON array of event objects. Refused events do not stop
/// the batch. *result_json is a JSON object {"outputs":[...],"accepted":N,
/// "rejected":[{"event":N,"index":N,"code":"event","message":"...",
/// "detail":{"reason":"...",...}}]} to
/// release with yj_string_free(). Only an array batch that is not valid JSON
/// fails as a whole (YJ_ERR_MALFORMED_JSON, nothing applied).
///
/// # Safety
/// `engine`: a live handle or NULL (a call on it from another thread
/// meanwhile is refused with YJ_ERR_BUSY); `batch`:
/// NULL or NUL-terminated; `result_json`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_engine_push_batch(
    engine: *mut YjEngine,
    batch: *const c_char,
    result_json: *mut *mut c_char,
) -> YjStatus {
    guard(|| {
        // SAFETY: forwarded caller contract
        let out = unsafe { out_ptr(result_json, "result_json") }?;
        // SAFETY: forwarded caller contract
        let mut engine = unsafe { engine_mut(engine) }?;
        // SAFETY: forwarded caller contract
        let batch = unsafe { arg_str(batch, "batch") }?;
        give_string(out, engine.engine.push_batch_json(batch)?)
    })
}

/// Sets *out_level to the current level of `key` in `signal` ("none",
/// "blue", "yellow", "orange", "red"; "none" for an unknown signal or key).
/// Release it with yj_string_free().
///
/// # Safety
/// `engine`: a live handle or NULL (a call on it from another thread
/// meanwhile is refused with YJ_ERR_BUSY); `signal`,
/// `key`: NULL or NUL-terminated; `out_level`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_engine_level(
    engine: *mut YjEngine,
    signal: *const c_char,
    key: *const c_char,
    out_level: *mut *mut c_char,
) -> YjStatus {
    guard(|| {
        // SAFETY: forwarded caller contract
        let out = unsafe { out_ptr(out_level, "out_level") }?;
        // SAFETY: forwarded caller contract
        let engine = unsafe { engine_mut(engine) }?;
        // SAFETY: forwarded caller contract
        let signal = unsafe { arg_str(signal, "signal") }?;
        // SAFETY: forwarded caller contract
        let key = unsafe { arg_str(key, "key") }?;
        give_string(out, engine.engine.level(signal, key))
    })
}

/// Sets *out_count to the number of events pushed so far (accepted or
/// refused).
///
/// # Safety
/// `engine`: a live handle or NULL (a call on it from another thread
/// meanwhile is refused with YJ_ERR_BUSY);
/// `out_count`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_engine_event_count(
    engine: *mut YjEngine,
    out_count: *mut u64,
) -> YjStatus {
    guard(|| {
        if out_count.is_null() {
            return Err(null("out_count"));
        }
        // SAFETY: forwarded caller contract
        let engine = unsafe { engine_mut(engine) }?;
        // SAFETY: non-null and writable by the caller's contract
        unsafe { *out_count = engine.engine.events() };
        Ok(())
    })
}

/// End of stream: releases every event held back for lateness and sets
/// *outputs_json to the outputs they cause (a JSON array), to release with
/// yj_string_free(). Pushing may continue afterwards.
///
/// # Safety
/// `engine`: a live handle or NULL (a call on it from another thread
/// meanwhile is refused with YJ_ERR_BUSY);
/// `outputs_json`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_engine_flush(
    engine: *mut YjEngine,
    outputs_json: *mut *mut c_char,
) -> YjStatus {
    guard(|| {
        // SAFETY: forwarded caller contract
        let out = unsafe { out_ptr(outputs_json, "outputs_json") }?;
        // SAFETY: forwarded caller contract
        let mut engine = unsafe { engine_mut(engine) }?;
        give_string(out, engine.engine.flush_json())
    })
}

/// Moves the engine's clock to `ts` (an RFC 3339 timestamp with a UTC
/// offset, e.g. "2024-07-29T03:10:00+08:00") as if an empty event stamped
/// `ts` had arrived, and sets *outputs_json to what that releases (a JSON
/// array, often "[]"): events held back for lateness, timers, absences and
/// plan escalations due by then. Release it with yj_string_free(). A time at
/// or before the clock changes nothing ("[]"). YJ_ERR_INVALID_ARGUMENT for
/// text that is not a timestamp (the message quotes it); the engine is then
/// unchanged. No event number is taken.
///
/// # Safety
/// `engine`: a live handle or NULL (a call on it from another thread
/// meanwhile is refused with YJ_ERR_BUSY); `ts`:
/// NULL or NUL-terminated; `outputs_json`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_engine_advance_to(
    engine: *mut YjEngine,
    ts: *const c_char,
    outputs_json: *mut *mut c_char,
) -> YjStatus {
    guard(|| {
        // SAFETY: forwarded caller contract
        let out = unsafe { out_ptr(outputs_json, "outputs_json") }?;
        // SAFETY: forwarded caller contract
        let mut engine = unsafe { engine_mut(engine) }?;
        // SAFETY: forwarded caller contract
        let ts = unsafe { arg_str(ts, "ts") }?;
        give_string(out, engine.engine.advance_to_json(ts)?)
    })
}

/// End of input: releases every event held back for lateness, then, unless
/// `until` is NULL, runs the clock to `until` (an RFC 3339 timestamp) so that
/// timers, absences and escalations due by then fire. Sets *outputs_json to
/// the outputs (a JSON array), to release with yj_string_free().
/// YJ_ERR_INVALID_ARGUMENT when `until` is not a timestamp or is earlier
/// than the clock; the engine is then unchanged. Pushing may continue
/// afterwards.
///
/// # Safety
/// `engine`: a live handle or NULL (a call on it from another thread
/// meanwhile is refused with YJ_ERR_BUSY); `until`:
/// NULL or NUL-terminated; `outputs_json`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_engine_finish(
    engine: *mut YjEngine,
    until: *const c_char,
    outputs_json: *mut *mut c_char,
) -> YjStatus {
    guard(|| {
        // SAFETY: forwarded caller contract
        let out = unsafe { out_ptr(outputs_json, "outputs_json") }?;
        // SAFETY: forwarded caller contract
        let mut engine = unsafe { engine_mut(engine) }?;
        let until = if until.is_null() {
            None
        } else {
            // SAFETY: forwarded caller contract
            Some(unsafe { arg_str(until, "until") }?)
        };
        give_string(out, engine.engine.finish_json(until)?)
    })
}

/// Sets *out_ts to the engine's clock, the event time it has reached, as an
/// RFC 3339 timestamp (in the offset of the event that set it), to release
/// with yj_string_free(); before the first event (or yj_engine_advance_to())
/// there is no clock: the call succeeds and sets *out_ts to NULL (which
/// yj_string_free() accepts).
///
/// # Safety
/// `engine`: a live handle or NULL (a call on it from another thread
/// meanwhile is refused with YJ_ERR_BUSY); `out_ts`:
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_engine_clock(
    engine: *mut YjEngine,
    out_ts: *mut *mut c_char,
) -> YjStatus {
    guard(|| {
        // SAFETY: forwarded caller contract
        let out = unsafe { out_ptr(out_ts, "out_ts") }?;
        // SAFETY: forwarded caller contract
        let engine = unsafe { engine_mut(engine) }?;
        match engine.engine.clock() {
            Some(ts) => give_string(out, ts),
            None => Ok(()),
        }
    })
}

/// Sets *out_json to the engine's complete state (a JSON document: the
/// format `yingji run --state` writes), to resume later, possibly in another
/// process, with yj_engine_restore(). Release it with yj_string_free().
///
/// # Safety
/// `engine`: a live handle or NULL (a call on it from another thread
/// meanwhile is refused with YJ_ERR_BUSY);
/// `out_json`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_engine_snapshot(
    engine: *mut YjEngine,
    out_json: *mut *mut c_char,
) -> YjStatus {
    guard(|| {
        // SAFETY: forwarded caller contract
        let out = unsafe { out_ptr(out_json, "out_json") }?;
        // SAFETY: forwarded caller contract
        let engine = unsafe { engine_mut(engine) }?;
        give_string(out, engine.engine.snapshot()?)
    })
}

/// Replaces the engine's state with a snapshot from yj_engine_snapshot() (of
/// an engine over the same or changed definitions: a signal whose definition
/// changed starts afresh). `report_json` may be NULL; otherwise on success
/// *report_json is {"kept":[signal names],"reset":[signal names]}, to
/// release with yj_string_free(). YJ_ERR_MALFORMED_JSON for text that is not
/// JSON, YJ_ERR_STATE for a document that is not a usable snapshot; either
/// way the engine is unchanged.
///
/// # Safety
/// `engine`: a live handle or NULL (a call on it from another thread
/// meanwhile is refused with YJ_ERR_BUSY);
/// `snapshot_json`: NULL or NUL-terminated; `report_json`: NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_engine_restore(
    engine: *mut YjEngine,
    snapshot_json: *const c_char,
    report_json: *mut *mut c_char,
) -> YjStatus {
    guard(|| {
        let out = if report_json.is_null() {
            None
        } else {
            // SAFETY: forwarded caller contract
            Some(unsafe { out_ptr(report_json, "report_json") }?)
        };
        // SAFETY: forwarded caller contract
        let mut engine = unsafe { engine_mut(engine) }?;
        // SAFETY: forwarded caller contract
        let snapshot = unsafe { arg_str(snapshot_json, "snapshot_json") }?;
        let report = engine.engine.restore(snapshot)?;
        if let Some(out) = out {
            give_string(out, report)?;
        }
        Ok(())
    })
}

/// Releases an engine. NULL is a no-op; a handle freed already is
/// YJ_ERR_BAD_HANDLE; an engine a call on another thread is using right now
/// is YJ_ERR_BUSY and is not freed (free it once that call has returned).
///
/// # Safety
/// `engine`: NULL or any pointer (checked against the registry).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn yj_engine_free(engine: *mut YjEngine) -> YjStatus {
    guard(|| {
        if engine.is_null() {
            return Ok(());
        }
        take(engine as usize, Kind::Engine)?;
        // SAFETY: made by Box::into_raw and just removed from the registry
        drop(unsafe { Box::from_raw(engine) });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::panic,
        clippy::undocumented_unsafe_blocks,
        reason = "test"
    )]
    use super::*;

    #[test]
    fn panics_become_status_codes() {
        let status = guard(|| panic!("boom"));
        assert_eq!(status, YjStatus::YJ_ERR_PANIC);
        assert_eq!(yj_last_error_code(), YjStatus::YJ_ERR_PANIC);
        // SAFETY: the library's own NUL-terminated string
        let msg = unsafe { CStr::from_ptr(yj_last_error_message()) }
            .to_str()
            .unwrap();
        assert_eq!(msg, "internal error (panic): boom");
        assert_eq!(guard(|| Ok(())), YjStatus::YJ_OK);
        // SAFETY: as above
        assert_eq!(
            unsafe { CStr::from_ptr(yj_last_error_message()) }.to_bytes(),
            b""
        );
    }

    #[test]
    fn every_api_code_has_a_status_with_the_same_number() {
        for c in ErrorCode::ALL {
            assert_eq!(YjStatus::from(c) as i32, c.as_i32());
            // SAFETY: static NUL-terminated names
            let name = unsafe { CStr::from_ptr(yj_status_name(c.as_i32())) }
                .to_str()
                .unwrap();
            assert!(
                name.ends_with(&c.name().to_uppercase()),
                "{name} vs {}",
                c.name()
            );
        }
    }

    #[test]
    fn wrong_kind_of_handle_is_refused() {
        let mut defs = std::ptr::null_mut();
        // SAFETY: valid C strings and out-pointer
        let s = unsafe {
            yj_definitions_from_text(
                c"a.yj".as_ptr(),
                c"event rain { mm: number }".as_ptr(),
                &mut defs,
            )
        };
        assert_eq!(s, YjStatus::YJ_OK);
        let mut out = std::ptr::null_mut();
        // SAFETY: a definitions handle passed as an engine: caught by the registry
        let s = unsafe { yj_engine_push(defs.cast::<YjEngine>(), c"{}".as_ptr(), &mut out) };
        assert_eq!(s, YjStatus::YJ_ERR_BAD_HANDLE);
        assert!(out.is_null());
        // SAFETY: live handle, then a second free caught by the registry
        assert_eq!(unsafe { yj_definitions_free(defs) }, YjStatus::YJ_OK);
        // SAFETY: as above
        assert_eq!(
            unsafe { yj_definitions_free(defs) },
            YjStatus::YJ_ERR_BAD_HANDLE
        );
    }
}
