//! Generates `include/yingji.h` from `src/lib.rs` with cbindgen (the
//! header is checked in; `test.sh` fails if a build changes it), and gives
//! the shared library its SONAME on Linux.

use std::path::PathBuf;
use std::process::ExitCode;

/// The SONAME: `libyingji_c.so.<ABI>`, where the ABI version is the
/// crate's major version, or `0.<minor>` before 1.0 (0.1 → 0.2 may break
/// the C ABI, as semver allows for 0.x).
fn soname() -> String {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_else(|_| "0".into());
    let abi = if major == "0" {
        format!("0.{minor}")
    } else {
        major
    };
    format!("libyingji_c.so.{abi}")
}

fn main() -> ExitCode {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{}", soname());
    }
    println!("cargo:rerun-if-changed=src/lib.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let config = match cbindgen::Config::from_file(dir.join("cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cbindgen.toml: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => {
            bindings.write_to_file(dir.join("include/yingji.h"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cbindgen: {e}");
            ExitCode::FAILURE
        }
    }
}
