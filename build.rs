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
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                    .map(|p| p.to_string_lossy().replace('\\', "/"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        writeln!(code, "/// Built-in files of `{dir}/`: (path, contents).").unwrap();
        writeln!(code, "pub const {konst}: &[(&str, &str)] = &[").unwrap();
        for f in files {
            let abs = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join(&f);
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
    versions.sort();
    writeln!(
        code,
        "/// Built-in versioned engine profiles `profiles/engines/<engine>/<version>.yaml`: (path, contents)."
    )
    .unwrap();
    writeln!(code, "pub const ENGINE_VERSIONS: &[(&str, &str)] = &[").unwrap();
    for f in versions {
        let abs = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join(&f);
        println!("cargo:rerun-if-changed={}", abs.display());
        writeln!(
            code,
            "    ({f:?}, include_str!({:?})),",
            abs.display().to_string()
        )
        .unwrap();
    }
    writeln!(code, "];").unwrap();
    std::fs::write(Path::new(&out).join("embedded.rs"), code).expect("write embedded.rs");
}
