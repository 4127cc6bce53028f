//! Spec types (model, GPU, engine) and the catalogue of built-in specs,
//! embedded at build time, with name resolution and "did you mean" hints.
//! Loading user files happens at the edges (`load_*_file`), never in the core.

pub mod dtype;
pub mod engine;
pub mod gpu;
pub mod hf;
pub mod hub;
pub mod model;
pub mod scheduler;
pub mod whatif;

use crate::error::{suggestion, Error, Result};
use crate::yaml;
use engine::EngineSpec;
use gpu::GpuSpec;
use model::ModelSpec;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The built-in YAML files of calibration profiles: (path, text).
pub fn builtin_gpu_profiles() -> &'static [(&'static str, &'static str)] {
    embedded::GPU_PROFILES
}

/// All built-in specs, parsed once.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Model specs.
    pub models: Vec<ModelSpec>,
    /// GPU specs.
    pub gpus: Vec<GpuSpec>,
    /// Engine profiles.
    pub engines: Vec<EngineSpec>,
}

fn parse_all<T: serde::de::DeserializeOwned>(files: &[(&str, &str)]) -> Result<Vec<T>> {
    files
        .iter()
        .map(|(path, text)| yaml::from_str(text, &format!("built-in {path}")))
        .collect()
}

impl Catalog {
    /// Parse the embedded specs (a broken built-in file is a bug; the error
    /// names it).
    pub fn builtin() -> Result<Self> {
        let models: Vec<ModelSpec> = parse_all(embedded::MODEL_SPECS)?;
        for (m, (path, _)) in models.iter().zip(embedded::MODEL_SPECS) {
            m.validate(path)?;
        }
        let engines: Vec<EngineSpec> = parse_all(embedded::ENGINE_PROFILES)?;
        for (e, (path, _)) in engines.iter().zip(embedded::ENGINE_PROFILES) {
            if let Some(sc) = &e.scheduler {
                sc.validate(&e.name).map_err(|m| Error::spec(*path, m))?;
            }
        }
        Ok(Catalog {
            models,
            gpus: parse_all(embedded::GPU_SPECS)?,
            engines,
        })
    }

    /// Find a built-in model by name or alias (case-insensitive).
    pub fn model(&self, name: &str) -> Result<&ModelSpec> {
        let n = name.trim().to_ascii_lowercase();
        self.models
            .iter()
            .find(|m| {
                m.name.eq_ignore_ascii_case(&n)
                    || m.aliases.iter().any(|a| a.eq_ignore_ascii_case(&n))
                    || m.hf_repo.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(&n))
            })
            .ok_or_else(|| {
                let names: Vec<&str> = self
                    .models
                    .iter()
                    .flat_map(|m| std::iter::once(m.name.as_str()).chain(m.aliases.iter().map(String::as_str)))
                    .collect();
                Error::input(
                    "model",
                    format!(
                        "unknown model '{name}'; {}. A path to a config.json or spec .yaml also works.",
                        suggestion(name, names, "kvplan models")
                    ),
                )
            })
    }

    /// Find a GPU by name or alias (case-insensitive; "-SXM", spaces ignored).
    pub fn gpu(&self, name: &str) -> Result<&GpuSpec> {
        let norm = |s: &str| s.trim().to_ascii_lowercase().replace([' ', '_'], "-");
        let n = norm(name);
        self.gpus
            .iter()
            .find(|g| norm(&g.name) == n || g.aliases.iter().any(|a| norm(a) == n))
            .ok_or_else(|| {
                let names: Vec<&str> = self
                    .gpus
                    .iter()
                    .flat_map(|g| {
                        std::iter::once(g.name.as_str()).chain(g.aliases.iter().map(String::as_str))
                    })
                    .collect();
                Error::input(
                    "gpus",
                    format!(
                        "unknown GPU '{name}'; {}",
                        suggestion(name, names, "kvplan gpus")
                    ),
                )
            })
    }

    /// Find an engine profile by name.
    pub fn engine(&self, name: &str) -> Result<&EngineSpec> {
        let n = name.trim().to_ascii_lowercase();
        let n = match n.as_str() {
            "transformers" | "huggingface" => "hf",
            "tensorrt-llm" | "trt-llm" | "tensorrt" => "trtllm",
            o => o,
        };
        self.engines.iter().find(|e| e.name == n).ok_or_else(|| {
            let names: Vec<&str> = self.engines.iter().map(|e| e.name.as_str()).collect();
            Error::input(
                "engine",
                format!("unknown engine '{name}'; valid: {}", names.join(", ")),
            )
        })
    }
}

/// Load a model from a file path: HF `config.json` (any `.json`) or a
/// kvplan spec (`.yaml`/`.yml`). The file's text is passed in by the edge.
pub fn model_from_file_text(path: &str, text: &str) -> Result<ModelSpec> {
    let lower = path.to_ascii_lowercase();
    let mut m = if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        let m: ModelSpec = yaml::from_str(text, path)?;
        m.validate(path)?;
        m
    } else {
        hf::parse_config(text, path)?
    };
    if m.name.is_empty() {
        m.name = std::path::Path::new(path)
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "model".into());
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_parses() {
        let c = Catalog::builtin().unwrap();
        assert!(c.gpus.len() >= 28);
        assert!(c.gpu("8xH800").is_err());
        assert_eq!(c.gpu("h800").unwrap().name, "H800");
        let e = c.gpu("H80").unwrap_err().to_string();
        assert!(e.contains("did you mean") && e.contains("H800"), "{e}");
    }
}
