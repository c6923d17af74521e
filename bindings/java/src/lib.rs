//! Java binding for yingji: the native half of `io.yingji.Native` (JNI, the
//! `jni` crate), a shell over the JSON boundary [`yingji::api`].
//!
//! Every native method takes and returns Java strings only (handles travel
//! as numbers), and never throws: its result is one string, `O<value>` on
//! success or `E<error>` on failure, which the Java side (`Native.java`)
//! turns into a value or a typed exception. That keeps the JNI surface to
//! reading and making strings, and the exception classes in Java.
//!
//! * Outputs: one JSON object per line (`Output::to_json`; JSON text holds
//!   no raw line breaks).
//! * A batch: `accepted` and the number of rejected events on the first two
//!   lines, then one JSON object per rejected event, then the outputs.
//! * An error: seven fields, one per line (status, code, reason, field,
//!   detail JSON, diagnostics JSON), the message last (it may span lines).
//!
//! Handles: `Box::into_raw` of an [`api::Defs`] or an [`api::Engine`]. The
//! Java classes own them, free them once (`close`), and never let two calls
//! use an engine at once (a second call gets a `BusyException` in Java,
//! before reaching this code), so the code here may take `&mut` of a live
//! engine. Panics are caught and reported as the `panic` code.

use jni::objects::{JClass, JString};
use jni::sys::jlong;
use jni::{Env, EnvUnowned};
use std::panic::{AssertUnwindSafe, catch_unwind};
use yingji::api::{self, ApiError, ErrorCode};

/// One line per field; the message last.
fn envelope(e: &ApiError) -> String {
    let field = e
        .detail
        .get("field")
        .and_then(|f| f.as_str())
        .unwrap_or_default();
    format!(
        "E{}\n{}\n{}\n{}\n{}\n{}\n{}",
        e.code.as_i32(),
        e.code.name(),
        e.reason().unwrap_or_default(),
        field.replace('\n', " "),
        e.detail_json(),
        e.diagnostics_json(),
        e.message
    )
}

/// Runs `f` with panics caught and hands its result to Java as a string.
fn reply<'l>(
    env: &mut Env<'l>,
    f: impl FnOnce(&mut Env<'l>) -> Result<String, ApiError>,
) -> jni::errors::Result<JString<'l>> {
    let result = catch_unwind(AssertUnwindSafe(|| f(env))).unwrap_or_else(|payload| {
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
    let text = match result {
        Ok(s) => format!("O{s}"),
        Err(e) => envelope(&e),
    };
    env.new_string(text)
}

/// A string argument; `None` for Java `null`.
fn opt_text(env: &Env<'_>, s: &JString<'_>, what: &str) -> Result<Option<String>, ApiError> {
    if s.is_null() {
        return Ok(None);
    }
    s.try_to_string(env).map(Some).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidArgument,
            format!("`{what}` could not be read: {e}"),
        )
    })
}

/// A string argument that must not be `null`.
fn text(env: &Env<'_>, s: &JString<'_>, what: &str) -> Result<String, ApiError> {
    opt_text(env, s, what)?
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidArgument, format!("`{what}` is null")))
}

fn closed(what: &str) -> ApiError {
    ApiError::new(ErrorCode::BadHandle, format!("the {what} is closed"))
}

/// The definitions behind a handle.
///
/// # Safety
/// `h` is 0 or a live handle made by [`defs_handle`] (the Java side frees it
/// only once, when no call uses it).
unsafe fn defs<'a>(h: jlong) -> Result<&'a api::Defs, ApiError> {
    let p = h as *const api::Defs;
    // SAFETY: live and not freed meanwhile, by the caller's contract
    unsafe { p.as_ref() }.ok_or_else(|| closed("definitions"))
}

/// The engine behind a handle.
///
/// # Safety
/// `h` is 0 or a live handle made by [`engine_handle`], used by this call
/// only (the Java side's lock).
unsafe fn engine<'a>(h: jlong) -> Result<&'a mut api::Engine, ApiError> {
    let p = h as *mut api::Engine;
    // SAFETY: live and used by this call alone, by the caller's contract
    unsafe { p.as_mut() }.ok_or_else(|| closed("engine"))
}

fn defs_handle(d: api::Defs) -> String {
    (Box::into_raw(Box::new(d)) as usize as u64).to_string()
}

fn engine_handle(e: api::Engine) -> String {
    (Box::into_raw(Box::new(e)) as usize as u64).to_string()
}

fn lines(outputs: &[yingji::Output]) -> String {
    outputs
        .iter()
        .map(|o| o.to_json())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Declares a native method of `io.yingji.Native` returning the envelope.
macro_rules! native {
    ($name:ident ( $env:ident $(, $arg:ident : $ty:ty)* ) $body:block) => {
        #[doc = concat!("`io.yingji.Native.", stringify!($name), "` (see Native.java).")]
        #[unsafe(no_mangle)]
        pub extern "system" fn $name<'local>(
            mut unowned: EnvUnowned<'local>,
            _class: JClass<'local>,
            $($arg: $ty),*
        ) -> JString<'local> {
            unowned
                .with_env(|env| reply(env, |$env| $body))
                .resolve::<jni::errors::ThrowRuntimeExAndDefault>()
        }
    };
}

native!(Java_io_yingji_Native_defsFromText(env, name: JString<'local>, source: JString<'local>) {
    let name = text(env, &name, "name")?;
    let source = text(env, &source, "text")?;
    Ok(defs_handle(api::Defs::from_text(&name, &source)))
});

native!(Java_io_yingji_Native_defsFromPaths(env, paths: JString<'local>) {
    // the paths joined by NUL (which no path holds)
    let paths = text(env, &paths, "paths")?;
    let list: Vec<&str> = paths.split('\0').filter(|p| !p.is_empty()).collect();
    if list.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidArgument, "give at least one path"));
    }
    Ok(defs_handle(api::Defs::from_paths(&list)))
});

native!(Java_io_yingji_Native_defsCheck(_env, h: jlong) {
    // SAFETY: the Java side's contract (see the module docs)
    unsafe { defs(h) }?.check()
});

native!(Java_io_yingji_Native_defsDiagnostics(_env, h: jlong) {
    // SAFETY: the Java side's contract
    Ok(unsafe { defs(h) }?.diagnostics_json())
});

native!(Java_io_yingji_Native_defsRendered(_env, h: jlong) {
    // SAFETY: the Java side's contract
    Ok(unsafe { defs(h) }?.rendered())
});

native!(Java_io_yingji_Native_defsSummary(_env, h: jlong) {
    // SAFETY: the Java side's contract
    Ok(unsafe { defs(h) }?.summary_json())
});

native!(Java_io_yingji_Native_defsFree(_env, h: jlong) {
    if h != 0 {
        // SAFETY: made by defs_handle; the Java side frees it once, unused
        drop(unsafe { Box::from_raw(h as *mut api::Defs) });
    }
    Ok(String::new())
});

native!(Java_io_yingji_Native_engineNew(env, h: jlong, config: JString<'local>) {
    let config = opt_text(env, &config, "config")?;
    // SAFETY: the Java side's contract
    let defs = unsafe { defs(h) }?;
    let engine = match config {
        Some(c) => defs.engine_with(&c)?,
        None => defs.engine()?,
    };
    Ok(engine_handle(engine))
});

native!(Java_io_yingji_Native_enginePush(env, h: jlong, event: JString<'local>) {
    let event = text(env, &event, "event")?;
    // SAFETY: the Java side's contract
    let out = unsafe { engine(h) }?.push(&event)?;
    Ok(lines(&out))
});

native!(Java_io_yingji_Native_enginePushBatch(env, h: jlong, batch: JString<'local>) {
    let batch = text(env, &batch, "batch")?;
    // SAFETY: the Java side's contract
    let b = unsafe { engine(h) }?.push_batch(&batch)?;
    let mut s = format!("{}\n{}", b.accepted, b.rejected.len());
    for r in &b.rejected {
        let json = serde_json_line(r)?;
        s.push('\n');
        s.push_str(&json);
    }
    for o in &b.outputs {
        s.push('\n');
        s.push_str(&o.to_json());
    }
    Ok(s)
});

fn serde_json_line(r: &api::Rejected) -> Result<String, ApiError> {
    serde_json::to_string(r)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("rejected event: {e}")))
}

native!(Java_io_yingji_Native_engineFlush(_env, h: jlong) {
    // SAFETY: the Java side's contract
    let out = unsafe { engine(h) }?.flush();
    Ok(lines(&out))
});

native!(Java_io_yingji_Native_engineAdvanceTo(env, h: jlong, ts: JString<'local>) {
    let ts = text(env, &ts, "ts")?;
    // SAFETY: the Java side's contract
    let out = unsafe { engine(h) }?.advance_to(&ts)?;
    Ok(lines(&out))
});

native!(Java_io_yingji_Native_engineFinish(env, h: jlong, until: JString<'local>) {
    let until = opt_text(env, &until, "until")?;
    // SAFETY: the Java side's contract
    let out = unsafe { engine(h) }?.finish(until.as_deref())?;
    Ok(lines(&out))
});

native!(Java_io_yingji_Native_engineClock(_env, h: jlong) {
    // SAFETY: the Java side's contract; "" before the first event
    Ok(unsafe { engine(h) }?.clock().unwrap_or_default())
});

native!(Java_io_yingji_Native_engineLevel(env, h: jlong, signal: JString<'local>, key: JString<'local>) {
    let signal = text(env, &signal, "signal")?;
    let key = text(env, &key, "key")?;
    // SAFETY: the Java side's contract
    Ok(unsafe { engine(h) }?.level(&signal, &key))
});

native!(Java_io_yingji_Native_engineEvents(_env, h: jlong) {
    // SAFETY: the Java side's contract
    Ok(unsafe { engine(h) }?.events().to_string())
});

native!(Java_io_yingji_Native_engineSnapshot(_env, h: jlong) {
    // SAFETY: the Java side's contract
    unsafe { engine(h) }?.snapshot()
});

native!(Java_io_yingji_Native_engineRestore(env, h: jlong, snapshot: JString<'local>) {
    let snapshot = text(env, &snapshot, "snapshot")?;
    // SAFETY: the Java side's contract
    unsafe { engine(h) }?.restore(&snapshot)
});

native!(Java_io_yingji_Native_engineFree(_env, h: jlong) {
    if h != 0 {
        // SAFETY: made by engine_handle; the Java side frees it once, unused
        drop(unsafe { Box::from_raw(h as *mut api::Engine) });
    }
    Ok(String::new())
});

native!(Java_io_yingji_Native_version(_env) {
    Ok(env!("CARGO_PKG_VERSION").to_string())
});
