//! Embeds the output JSON Schemas (`docs/schemas/*.schema.json`) so that
//! `yingji test` knows every output type and its fields: a new type's schema
//! is picked up without editing the command.

use std::fmt::Write as _;
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::var("CARGO_MANIFEST_DIR")?;
    let dir = Path::new(&root).join("docs/schemas");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut found: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if let Some(ty) = name.strip_suffix(".schema.json") {
            found.push((ty.to_string(), path.display().to_string()));
        }
    }
    found.sort();
    let mut code = String::from(
        "/// Every output type and its JSON Schema text, from `docs/schemas/`.\npub(crate) const OUTPUT_SCHEMAS: &[(&str, &str)] = &[\n",
    );
    for (ty, path) in &found {
        writeln!(code, "    ({ty:?}, include_str!({path:?})),")?;
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR")?).join("output_schemas.rs");
    std::fs::write(out, code)?;
    Ok(())
}
