//! `kvplan reconcile LOG [--bench RESULT] [--out profiles/deployments/NAME.yaml]`:
//! reads the files, calls the core (`crate::reconcile`), prints or writes.

use super::{load_model_path, Format, ScenarioArgs};
use crate::error::{Error, Result};
use crate::perf::Efficiency;
use crate::reconcile::profile::{self, DeploymentProfile};
use crate::reconcile::{bench, log, reconcile, Overrides};
use crate::request::resolve;
use crate::scenario::Scenario;
use crate::spec::Catalog;
use clap::Args;

/// `reconcile` options.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The engine's start-up log (vLLM, SGLang or TensorRT-LLM), from launch until it serves.
    pub log: String,
    /// A benchmark result: `vllm bench serve --save-result` JSON, SGLang bench_serving output, genai-perf/aiperf JSON.
    #[arg(long)]
    pub bench: Option<String>,
    /// Write a deployment calibration profile here (e.g. profiles/deployments/NAME.yaml) for `estimate --profile`.
    #[arg(long)]
    pub out: Option<String>,
    /// The GPUs the log came from (H100, 8xH100): logs do not name them.
    #[arg(long)]
    pub gpus: Option<String>,
    /// The model, when the log's is not built in (a built-in name, config.json path or hf:org/name).
    #[arg(long)]
    pub model: Option<String>,
    /// Engine profile to use instead of the log's engine and version (vllm, sglang, trtllm).
    #[arg(long)]
    pub engine: Option<String>,
    /// Context (max model length) when the log does not print it.
    #[arg(long)]
    pub ctx: Option<String>,
    /// Tensor-parallel size when the log does not print it.
    #[arg(long)]
    pub tp: Option<u64>,
    /// Pipeline-parallel size when the log does not print it.
    #[arg(long)]
    pub pp: Option<u64>,
    /// Data-parallel size when the log does not print it.
    #[arg(long)]
    pub dp: Option<u64>,
    /// Expert-parallel size when the log does not print it.
    #[arg(long)]
    pub ep: Option<u64>,
    /// Weight format when the log does not make it clear.
    #[arg(long)]
    pub weights: Option<String>,
    /// KV dtype when the log does not print it.
    #[arg(long = "kv-dtype")]
    pub kv_dtype: Option<String>,
    /// vLLM / TRT-LLM memory fraction when the log does not print it.
    #[arg(long = "gpu-memory-utilization")]
    pub gpu_memory_utilization: Option<f64>,
    /// SGLang memory fraction when the log does not print it.
    #[arg(long = "mem-fraction-static")]
    pub mem_fraction_static: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

fn read(path: &str, field: &str) -> Result<String> {
    crate::files::read_text(path, field, crate::files::MAX_LOG_FILE_BYTES)
}

/// Run `reconcile`.
pub fn run(catalog: &Catalog, a: &ReconcileArgs) -> Result<()> {
    let text = read(&a.log, "log")?;
    let l = log::parse(&text).map_err(|e| match e {
        Error::Input { field, message } => Error::Input {
            field,
            message: format!("{}: {message}", a.log),
        },
        e => e,
    })?;
    let b = a
        .bench
        .as_deref()
        .map(|p| read(p, "bench").and_then(|t| bench::parse(&t)))
        .transpose()?;
    let o = Overrides {
        model: a.model.clone(),
        gpus: a.gpus.clone(),
        engine: a.engine.clone(),
        request: Some(crate::request::EstimateRequest {
            ctx: a.ctx.clone().map(crate::request::Tokens::Text),
            tp: a.tp,
            pp: a.pp,
            dp: a.dp,
            ep: a.ep,
            weights: a
                .weights
                .as_deref()
                .map(|w| crate::spec::dtype::WeightFormat::parse(w, "weights"))
                .transpose()?,
            kv_dtype: a
                .kv_dtype
                .as_deref()
                .map(|k| crate::spec::dtype::KvDtype::parse(k, "kv-dtype"))
                .transpose()?,
            gpu_memory_utilization: a.gpu_memory_utilization,
            mem_fraction_static: a.mem_fraction_static,
            ..Default::default()
        }),
    };
    let eff = Efficiency::default();
    let (rec, est) = reconcile(&l, b.as_ref(), &o, catalog, &load_model_path, &eff)?;
    match a.format {
        Format::Table | Format::Markdown => crate::out!("{}", rec.to_text()),
        f => super::print_data(&rec, f)?,
    }
    if let Some(out) = &a.out {
        let source = match &a.bench {
            Some(bp) => format!("{} + {}", a.log, bp),
            None => a.log.clone(),
        };
        let p = profile::build(
            &source,
            &l,
            &rec,
            &est.scenario,
            &eff,
            est.performance.tokens_per_step,
        )?;
        let y = crate::yaml::to_string(&p)?;
        if let Some(dir) = std::path::Path::new(out).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::input("out", format!("cannot create {}: {e}", dir.display()))
                })?;
            }
        }
        std::fs::write(
            out,
            format!(
                "# kvplan deployment profile (kvplan reconcile); use with --profile {out}\n{y}"
            ),
        )
        .map_err(|e| Error::input("out", format!("cannot write '{out}': {e}")))?;
        crate::errln!("wrote {out}: use it with `kvplan estimate … --profile {out}`");
    }
    Ok(())
}

/// The deployment profile `--profile` names, if it is one (a path to a
/// file with `kind: deployment`).
pub fn deployment_profile(args: &ScenarioArgs) -> Result<Option<DeploymentProfile>> {
    let Some(p) = &args.profile else {
        return Ok(None);
    };
    if crate::calibration::builtin_profile(p).is_some() {
        return Ok(None);
    }
    // Bounded like every read; an unreadable path is reported by the
    // calibration profile's read of the same `--profile`.
    let Ok(text) =
        crate::files::read_limited(std::path::Path::new(p), crate::files::MAX_SPEC_FILE_BYTES)
    else {
        return Ok(None);
    };
    if !profile::is_deployment_profile(&text) {
        return Ok(None);
    }
    crate::yaml::from_str(&text, p).map(Some)
}

/// Apply `--profile` when it is a deployment profile; the notes go to the assumptions.
pub fn apply_profile(args: &ScenarioArgs, s: &mut Scenario) -> Result<Vec<String>> {
    match deployment_profile(args)? {
        Some(p) => p.apply(s),
        None => Ok(vec![]),
    }
}

/// Resolve a deployment profile's own request (used by tests and docs).
pub fn profile_scenario(catalog: &Catalog, p: &DeploymentProfile) -> Result<Scenario> {
    let mut s = resolve(&p.request, catalog, &load_model_path)?.scenario;
    p.apply(&mut s)?;
    Ok(s)
}
