//! Spec types (model, GPU, engine) and the catalogue of built-in specs,
//! embedded at build time, with name resolution and "did you mean" hints.
//! Loading user files happens at the edges (`load_*_file`), never in the core.

pub mod bounds;
pub mod dtype;
pub mod engine;
pub mod engine_id;
pub mod gpu;
pub mod hf;
pub mod model;
pub mod scheduler;
pub mod whatif;

use crate::error::{suggestion, Error, Result};
use crate::yaml;
use engine::{parse_release, EngineSpec, EngineVersionFile, EngineVersionInfo};
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
    /// Engine profiles: the newest version of each engine (what `--engine
    /// NAME` means).
    pub engines: Vec<EngineSpec>,
    /// Every versioned engine profile, oldest first per engine (what
    /// `--engine NAME@VERSION` picks from).
    pub engine_versions: Vec<EngineSpec>,
    /// The version files behind `engine_versions`, in the same order.
    pub version_files: Vec<EngineVersionFile>,
}

/// Apply one version file on top of the previous version's profile.
fn apply_version(prev: &EngineSpec, vf: &EngineVersionFile, path: &str) -> Result<EngineSpec> {
    let mut v = serde_json::to_value(prev)
        .map_err(|e| Error::spec(path, format!("cannot apply version: {e}")))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| Error::spec(path, "engine profile is not a mapping"))?;
    for (k, val) in &vf.overrides {
        if matches!(
            k.as_str(),
            "name" | "version" | "releases" | "versions" | "sources" | "changes"
        ) {
            return Err(Error::spec(path, format!("overrides may not set '{k}'")));
        }
        if !obj.contains_key(k) && !is_optional_field(k) {
            return Err(Error::spec(
                path,
                format!("override of unknown field '{k}'"),
            ));
        }
        obj.insert(k.clone(), val.clone());
    }
    let mut e: EngineSpec = serde_json::from_value(v)
        .map_err(|e| Error::spec(path, format!("invalid override: {e}")))?;
    e.version = vf.version.clone();
    e.display_name = vf.display_name.clone();
    e.releases = vf.releases();
    e.changes = vf.changes.clone();
    e.sources = vf.sources.clone();
    Ok(e)
}

/// Engine fields that serialize only when set (so an override may add them).
fn is_optional_field(k: &str) -> bool {
    matches!(
        k,
        "kv_cache_memory_bytes"
            | "large_gpu_defaults"
            | "scheduler"
            | "fitted"
            | "platform_overrides"
            | "dense_runner"
    )
}

/// Resolve every engine's versions: each version file applies its overrides
/// to the previous version (the first to the base profile).
fn resolve_versions(
    bases: &[EngineSpec],
    files: &[(&str, &str)],
) -> Result<(Vec<EngineSpec>, Vec<EngineSpec>, Vec<EngineVersionFile>)> {
    let mut parsed: Vec<(EngineVersionFile, &str)> = Vec::new();
    for (path, text) in files {
        let vf: EngineVersionFile = yaml::from_str(text, &format!("built-in {path}"))?;
        if parse_release(&vf.version).is_none() || parse_release(&vf.last).is_none() {
            return Err(Error::spec(
                *path,
                "version and last must be release numbers like 0.26",
            ));
        }
        if !bases.iter().any(|b| b.name == vf.engine) {
            return Err(Error::spec(
                *path,
                format!("no base profile for engine '{}'", vf.engine),
            ));
        }
        parsed.push((vf, path));
    }
    parsed.sort_by(|a, b| {
        (a.0.engine.clone(), parse_release(&a.0.version))
            .cmp(&(b.0.engine.clone(), parse_release(&b.0.version)))
    });
    let mut newest = Vec::new();
    let mut all = Vec::new();
    let mut all_files = Vec::new();
    for base in bases {
        let mine: Vec<&(EngineVersionFile, &str)> = parsed
            .iter()
            .filter(|(vf, _)| vf.engine == base.name)
            .collect();
        if mine.is_empty() {
            newest.push(base.clone());
            continue;
        }
        let mut chain: Vec<EngineSpec> = Vec::new();
        for (vf, path) in &mine {
            let prev = chain.last().unwrap_or(base);
            chain.push(apply_version(prev, vf, path)?);
        }
        let infos: Vec<EngineVersionInfo> = chain
            .iter()
            .map(|e| EngineVersionInfo {
                id: e.id(),
                releases: e.releases.clone(),
                changes: e.changes.clone(),
                sources: e.sources.clone(),
            })
            .collect();
        for e in chain.iter_mut() {
            e.versions = infos.clone();
        }
        newest.push(chain.last().cloned().expect("at least one version"));
        all.extend(chain);
        all_files.extend(mine.iter().map(|(vf, _)| vf.clone()));
    }
    Ok((newest, all, all_files))
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
        let bases: Vec<EngineSpec> = parse_all(embedded::ENGINE_PROFILES)?;
        let (engines, engine_versions, version_files) =
            resolve_versions(&bases, embedded::ENGINE_VERSIONS)?;
        for e in bases.iter().chain(&engine_versions).chain(&engines) {
            if let Some(sc) = &e.scheduler {
                sc.validate(&e.name)
                    .map_err(|m| Error::spec(format!("engine profile {}", e.id()), m))?;
            }
        }
        Ok(Catalog {
            models,
            gpus: parse_all(embedded::GPU_SPECS)?,
            engines,
            engine_versions,
            version_files,
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
                    || m.hf_repo
                        .as_deref()
                        .is_some_and(|r| r.eq_ignore_ascii_case(&n))
            })
            .ok_or_else(|| {
                let names: Vec<&str> = self
                    .models
                    .iter()
                    .flat_map(|m| {
                        std::iter::once(m.name.as_str()).chain(m.aliases.iter().map(String::as_str))
                    })
                    .collect();
                Error::input(
                    "model",
                    format!(
                        "unknown model '{name}'; {}.",
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

    /// Find an engine profile: `NAME` is the newest version kvplan models,
    /// `NAME@VERSION` pins the profile whose release range holds VERSION
    /// (`vllm@0.11`, `vllm@0.11.2`, `sglang@0.5`).
    pub fn engine(&self, name: &str) -> Result<&EngineSpec> {
        let raw = name.trim().to_ascii_lowercase();
        let (base, version) = match raw.split_once('@') {
            Some((b, v)) => (b.trim().to_string(), Some(v.trim().to_string())),
            None => (raw.clone(), None),
        };
        let n = match base.as_str() {
            "transformers" | "huggingface" => "hf",
            "tensorrt-llm" | "trt-llm" | "tensorrt" => "trtllm",
            o => o,
        };
        let newest = self.engines.iter().find(|e| e.name == n).ok_or_else(|| {
            let names: Vec<&str> = self.engines.iter().map(|e| e.name.as_str()).collect();
            Error::input(
                "engine",
                format!(
                    "unknown engine '{name}'; valid: {} (pin a version with NAME@VERSION, e.g. vllm@0.11; `kvplan engines` lists them)",
                    names.join(", ")
                ),
            )
        })?;
        let Some(v) = version else {
            return Ok(newest);
        };
        let listing = || -> String {
            let list: Vec<String> = self
                .engine_versions
                .iter()
                .filter(|e| e.name == n)
                .map(|e| format!("{} ({})", e.id(), e.releases))
                .collect();
            list.join(", ")
        };
        if newest.releases.is_empty() {
            return Err(Error::input(
                "engine",
                format!(
                    "'{n}' has no versions in kvplan (its profile follows {} {}); use --engine {n}",
                    newest.display_name, newest.version
                ),
            ));
        }
        let wanted = parse_release(&v).ok_or_else(|| {
            Error::input(
                "engine",
                format!(
                    "'{v}' in '{name}' is not a release number; kvplan models {}",
                    listing()
                ),
            )
        })?;
        self.engine_versions
            .iter()
            .zip(&self.version_files)
            .filter(|(e, vf)| e.name == n && vf.covers(&wanted))
            .map(|(e, _)| e)
            .next_back()
            .ok_or_else(|| {
                Error::input(
                    "engine",
                    format!(
                        "kvplan does not model {n} {v}; it models {}; `--engine {n}` means the newest ({})",
                        listing(),
                        newest.id()
                    ),
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
