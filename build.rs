//! Embeds the built-in spec files (model-specs/, gpu-specs/, profiles/) into
//! the binary, so kvplan works from any folder and offline.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let mut code = String::new();
    for (konst, dir) in [
        ("MODEL_SPECS", "model-specs"),
        ("GPU_SPECS", "gpu-specs"),
        ("ENGINE_PROFILES", "profiles/engines"),
        ("GPU_PROFILES", "profiles/gpus"),
    ] {
        println!("cargo:rerun-if-changed={dir}");
        let files: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                    .map(|p| p.to_string_lossy().replace('\\', "/"))
                    .collect()
            })
            .unwrap_or_default();
        let doc = format!("Built-in files of `{dir}/`: (path, contents).");
        embed_files(&mut code, konst, &doc, files);
    }
    // Versioned engine profiles: profiles/engines/<engine>/<version>.yaml.
    let mut versions: Vec<String> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("profiles/engines") {
        for dir in rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
        {
            println!("cargo:rerun-if-changed={}", dir.display());
            if let Ok(files) = std::fs::read_dir(&dir) {
                versions.extend(
                    files
                        .filter_map(|e| e.ok())
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                        .map(|p| p.to_string_lossy().replace('\\', "/")),
                );
            }
        }
    }
    embed_files(
        &mut code,
        "ENGINE_VERSIONS",
        "Built-in versioned engine profiles `profiles/engines/<engine>/<version>.yaml`: (path, contents).",
        versions,
    );
    std::fs::write(Path::new(&out).join("embedded.rs"), code).expect("write embedded.rs");
}

/// Writes `pub const {konst}: &[(&str, &str)]` of (path, contents) for the
/// files (sorted here, so the table does not depend on directory order), and
/// asks cargo to rebuild when any of them changes.
fn embed_files(code: &mut String, konst: &str, doc: &str, mut files: Vec<String>) {
    files.sort();
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    writeln!(code, "/// {doc}").unwrap();
    writeln!(code, "pub const {konst}: &[(&str, &str)] = &[").unwrap();
    for f in files {
        let abs = Path::new(&root).join(&f);
        println!("cargo:rerun-if-changed={}", abs.display());
        writeln!(
            code,
            "    ({f:?}, include_str!({:?})),",
            abs.display().to_string()
        )
        .unwrap();
    }
    writeln!(code, "];").unwrap();
}
