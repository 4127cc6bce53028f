//! The CLI edge: argument types (clap) and one function per subcommand.
//! Holds no formulas: it parses, calls the core, and renders.

mod catalog;
mod estimate;
mod import;
mod plan;
mod plot;
pub mod probe;
mod serve;

use crate::error::{Error, Result};
use crate::request::{EstimateRequest, Tokens};
use crate::spec::model::ModelSpec;
use crate::spec::Catalog;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// kvplan — what fits on your GPUs, how fast it runs, and how to configure it.
#[derive(Debug, Parser)]
#[command(
    name = "kvplan",
    version,
    about = "Plan LLM serving on GPUs: memory per GPU, KV cache, speed and parallelism",
    after_help = "Examples:\n  kvplan estimate deepseek-v3 --ctx 100k --gpus 8xH800\n  kvplan estimate llama-3.1-70b --gpus 2xH100 --ctx 32k --batch 16 --weights fp8 --format json\n  kvplan plan qwen2.5-72b --gpus 8xA100-80GB --ctx 32k --users 64 --objective throughput\n  kvplan models\n  kvplan gpus\n  kvplan import path/to/config.json --name my-model"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Per-GPU memory, fit verdict, limits, speed and recommendations for one configuration.
    #[command(
        after_help = "Examples:\n  kvplan estimate deepseek-v3 --ctx 100k --gpus 8xH800\n  kvplan estimate deepseek-v3 --ctx 100k --gpus 2x8xH800 --weights fp8-block --tp 8 --pp 2\n  kvplan estimate qwen2.5-7b --gpus H100 --ctx 32k --batch 64 --kv-dtype fp8 --engine sglang\n  kvplan estimate ./config.json --gpus 4xL40S --ctx 8k --format json"
    )]
    Estimate(EstimateArgs),
    /// Search formats × parallelism × batch and rank the configurations.
    #[command(
        after_help = "Examples:\n  kvplan plan deepseek-v3 --gpus 2x8xH800 --ctx 32k --users 256\n  kvplan plan llama-3.1-8b --gpus 8xH100 --ctx 8k --max-tpot-ms 20 --objective gpus"
    )]
    Plan(PlanArgs),
    /// List the built-in models.
    Models(ListArgs),
    /// List the built-in GPUs.
    Gpus(ListArgs),
    /// List the engine profiles.
    Engines(ListArgs),
    /// Prove a plan on the real GPU: allocate its caches, time decode, calibrate.
    Probe(probe::ProbeArgs),
    /// Turn a Hugging Face config.json into a kvplan model spec (YAML).
    #[command(
        after_help = "Example:\n  kvplan import ../configs/Qwen2.5-7B.json --name qwen2.5-7b --display-name Qwen2.5-7B --alias qwen2.5-7b-instruct --out model-specs/qwen2.5-7b.yaml"
    )]
    Import(import::ImportArgs),
    /// Draw a chart (memory, attention, batch, throughput) into a .png or .svg file.
    #[command(after_help = plot::EXAMPLES)]
    Plot(plot::PlotArgs),
    /// Serve the web calculator and its JSON API.
    #[command(
        after_help = "Examples:\n  kvplan serve\n  kvplan serve --addr 0.0.0.0:8080\n  kvplan serve --allow-hub --hub-lookups-per-minute 10   # hf:org/name ids on the page"
    )]
    Serve(serve::ServeArgs),
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable table.
    Table,
    /// The stable JSON contract.
    Json,
    /// YAML of the same data.
    Yaml,
    /// Markdown.
    Markdown,
}

/// Options of list commands.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// The scenario flags shared by estimate, plan, probe and plot.
#[derive(Debug, Clone, Args)]
pub struct ScenarioArgs {
    /// Model: a built-in name or alias (`kvplan models`), hf:org/name[@revision], or a path to an HF config.json or a kvplan spec .yaml.
    pub model: String,
    /// GPUs: `H100`, `8xH800`, `8xH100-80GB`, `2x8xH100` (nodes × GPUs per node).
    #[arg(long)]
    pub gpus: String,
    /// Context tokens per sequence: 32768, 100k (=100,000), 128Ki (=131,072). Default: the model's maximum.
    #[arg(long)]
    pub ctx: Option<String>,
    /// Weight format: bf16, fp16, fp8, fp8-block, int8, int4 (AWQ g128), int4-gptq, nf4, mxfp4, nvfp4. Default: the checkpoint's.
    #[arg(long)]
    pub weights: Option<String>,
    /// KV cache dtype: bf16, fp16, fp8. Default: the model's 16-bit dtype.
    #[arg(long = "kv-dtype")]
    pub kv_dtype: Option<String>,
    /// Serving engine profile: vllm, sglang, trtllm, hf.
    #[arg(long, default_value = "vllm")]
    pub engine: String,
    /// Tensor-parallel degree (default: GPUs per node).
    #[arg(long)]
    pub tp: Option<u64>,
    /// Pipeline-parallel stages (default: nodes).
    #[arg(long)]
    pub pp: Option<u64>,
    /// Expert-parallel degree (MoE; must divide tp × dp).
    #[arg(long)]
    pub ep: Option<u64>,
    /// Data-parallel replicas (with --ep on MoE: data-parallel attention).
    #[arg(long)]
    pub dp: Option<u64>,
    /// vLLM / TRT-LLM memory fraction (vLLM default 0.9).
    #[arg(long = "gpu-memory-utilization")]
    pub gpu_memory_utilization: Option<f64>,
    /// SGLang memory fraction (default by TP size, 0.79–0.88).
    #[arg(long = "mem-fraction-static")]
    pub mem_fraction_static: Option<f64>,
    /// Prefill chunk size in tokens (engine default otherwise).
    #[arg(long = "max-num-batched-tokens")]
    pub max_num_batched_tokens: Option<u64>,
    /// KV block / page size in tokens.
    #[arg(long = "block-size")]
    pub block_size: Option<u64>,
    /// Engine max model length (same as --ctx when --ctx is absent).
    #[arg(long = "max-model-len")]
    pub max_model_len: Option<String>,
    /// Load the multi-token-prediction module and use it for speculative decoding.
    #[arg(long)]
    pub mtp: bool,
    /// Expected acceptance rate of MTP draft tokens (0–1, default 0.8).
    #[arg(long = "mtp-acceptance")]
    pub mtp_acceptance: Option<f64>,
    /// Calibration profile (profiles/gpus/NAME.yaml written by `kvplan probe`, or a path).
    #[arg(long)]
    pub profile: Option<String>,
    /// Attention what-if: mha, gqa:N (N KV heads), mqa, mla:RANK (latent rank, rope 64).
    #[arg(long)]
    pub attention: Option<String>,
}

impl ScenarioArgs {
    /// The request these flags describe, with `batch`.
    pub fn request(&self, batch: Option<u64>) -> EstimateRequest {
        EstimateRequest {
            model: self.model.clone(),
            gpus: self.gpus.clone(),
            ctx: self.ctx.clone().map(Tokens::Text),
            batch,
            weights: self.weights.clone(),
            kv_dtype: self.kv_dtype.clone(),
            engine: Some(self.engine.clone()),
            tp: self.tp,
            pp: self.pp,
            ep: self.ep,
            dp: self.dp,
            gpu_memory_utilization: self.gpu_memory_utilization,
            mem_fraction_static: self.mem_fraction_static,
            max_num_batched_tokens: self.max_num_batched_tokens,
            block_size: self.block_size,
            max_model_len: self.max_model_len.clone().map(Tokens::Text),
            mtp: Some(self.mtp),
            mtp_acceptance: self.mtp_acceptance,
            attention: self.attention.clone(),
        }
    }
}

/// `estimate` options.
#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// Scenario.
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Concurrent sequences (whole deployment).
    #[arg(long, default_value_t = 1)]
    pub batch: u64,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// `plan` options.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Scenario (formats and parallelism flags restrict the search).
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Concurrent users to serve (= batch).
    #[arg(long, conflicts_with = "batch")]
    pub users: Option<u64>,
    /// Batch to serve; without --users/--batch, each configuration runs at the largest batch that fits.
    #[arg(long)]
    pub batch: Option<u64>,
    /// Upper bound on time per output token, ms.
    #[arg(long = "max-tpot-ms")]
    pub max_tpot_ms: Option<f64>,
    /// Upper bound on time to first token, ms.
    #[arg(long = "max-ttft-ms")]
    pub max_ttft_ms: Option<f64>,
    /// What to optimise: throughput, latency, gpus.
    #[arg(long, default_value = "throughput")]
    pub objective: String,
    /// Candidates to show.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Load a model that is not built in: `hf:org/name[@revision]` from the
/// Hugging Face Hub (or its local cache), or a config.json / .yaml path.
pub fn load_model_path(path: &str) -> Result<ModelSpec> {
    if let Some(id) = path.strip_prefix("hf:") {
        return crate::spec::hub::load(id);
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::input("model", format!("cannot read '{path}': {e}; give a built-in name (`kvplan models`) or a config.json path"))
    })?;
    let mut m = crate::spec::model_from_file_text(path, &text)?;
    apply_sidecar(&mut m, path)?;
    Ok(m)
}

/// NVIDIA ModelOpt checkpoints keep their format in `hf_quant_config.json`
/// next to `config.json` (or `<name>.hf_quant_config.json` next to
/// `<name>.json`); without it they would be sized as 16-bit. Read it when
/// config.json says nothing about quantization.
pub fn apply_sidecar(m: &mut ModelSpec, config_path: &str) -> Result<()> {
    if m.checkpoint_format.is_some() || !config_path.to_ascii_lowercase().ends_with(".json") {
        return Ok(());
    }
    let p = std::path::Path::new(config_path);
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let dir = p.parent().unwrap_or_else(|| std::path::Path::new(""));
    for cand in [
        dir.join("hf_quant_config.json"),
        dir.join(format!("{stem}.hf_quant_config.json")),
    ] {
        if let Ok(text) = std::fs::read_to_string(&cand) {
            let note =
                crate::spec::hf::apply_modelopt_sidecar(m, &text, &cand.display().to_string())?;
            m.source = format!("{}; {note}", m.source);
            return Ok(());
        }
    }
    Ok(())
}

/// Dispatch a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let catalog = Catalog::builtin()?;
    match cli.command {
        Command::Estimate(a) => estimate::run(&catalog, &a),
        Command::Plan(a) => plan::run(&catalog, &a),
        Command::Models(a) => catalog::models(&catalog, a.format),
        Command::Gpus(a) => catalog::gpus(&catalog, a.format),
        Command::Engines(a) => catalog::engines(&catalog, a.format),
        Command::Import(a) => import::run(&a),
        Command::Probe(a) => probe::run(&catalog, &a),
        Command::Plot(a) => plot::run(&catalog, &a),
        Command::Serve(a) => serve::run(&a),
    }
}

/// Print serializable data in a machine format.
pub fn print_data<T: serde::Serialize>(value: &T, format: Format) -> Result<()> {
    match format {
        Format::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(value)
                    .map_err(|e| Error::Environment(e.to_string()))?
            );
        }
        Format::Yaml => print!("{}", crate::yaml::to_string(value)?),
        _ => unreachable!("callers render tables themselves"),
    }
    Ok(())
}
