//! The CLI edge: argument types (clap) and one function per subcommand.
//! Holds no formulas: it parses, calls the core, and renders.

mod catalog;
pub mod disagg;
pub mod emit;
mod estimate;
mod import;
mod plan;
mod plot;
pub mod probe;
pub mod reconcile;
mod serve;
pub mod workload;

use crate::error::{Error, Result, EXIT_NOT_MET, EXIT_OK};
use crate::plan::Objective;
use crate::request::{EstimateRequest, Tokens};
use crate::spec::dtype::{KvDtype, WeightFormat};
use crate::spec::engine_id::EngineId;
use crate::spec::model::ModelSpec;
use crate::spec::whatif::AttentionVariant;
use crate::spec::Catalog;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// kvplan — what fits on your GPUs, how fast it runs, and how to configure it.
#[derive(Debug, Parser)]
#[command(
    name = "kvplan",
    version,
    about = "Plan LLM serving on GPUs: memory per GPU, KV cache, speed and parallelism",
    after_help = "Examples:\n  kvplan estimate deepseek-v3 --ctx 100k --gpus 8xH800\n  kvplan estimate llama-3.1-70b --gpus 2xH100 --ctx 32k --batch 16 --weights fp8 --format json\n  kvplan plan qwen2.5-72b --gpus 8xA100-80GB --ctx 32k --users 64 --objective throughput\n  kvplan models\n  kvplan gpus\n  kvplan import path/to/config.json --name my-model\n\nExit codes:\n  0  it fits / a plan meets the constraints (other commands: done)\n  1  it does not fit / no configuration meets the constraints\n  2  bad input or spec (unknown name, impossible size, unreadable spec)\n  3  environment: no GPU or driver, no network, a file that cannot be read or written, a feature left out of this build"
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
        after_help = "Examples:\n  kvplan estimate deepseek-v3 --ctx 100k --gpus 8xH800\n  kvplan estimate deepseek-v3 --ctx 100k --gpus 2x8xH800 --weights fp8-block --tp 8 --pp 2\n  kvplan estimate qwen2.5-7b --gpus H100 --ctx 32k --batch 64 --kv-dtype fp8 --engine sglang\n  kvplan estimate kimi-k2 --gpus 8xH200 --ctx 128k --engine vllm --dcp 8\n  kvplan estimate llama-3.1-8b --gpus H100 --ctx 32k --engine vllm@0.11\n  kvplan estimate ./config.json --gpus 4xL40S --ctx 8k --format json\n  kvplan estimate llama-3.1-8b --gpus H100 --ctx 8k --batch 64 --emit vllm\n\nServing simulation (TTFT/TPOT/ITL percentiles, tokens/s at a load):\n  kvplan estimate llama-3.1-70b --gpus 8xH200 --weights fp8 --isl 8k --osl 1k --concurrency 64\n  kvplan estimate qwen2.5-7b --gpus H100 --isl 2k --osl 256 --request-rate 20 --burstiness 0.5 --num-requests 2000\n  kvplan estimate llama-3.1-8b --gpus H100 --isl 4k --osl 512 --concurrency 128 --random-range-ratio 0.2 --prefix-cache-hit 0.5 --engine sglang\n\nDisaggregated serving (prefill and decode workers; --gpus names the GPU kind and node size, the pools set the count):\n  kvplan estimate deepseek-v3 --gpus 8xH200 --weights fp8-block --kv-dtype fp8 --engine sglang --isl 8k --osl 1k --concurrency 64 --disagg --prefill-workers 1 --prefill-tp 8 --decode-workers 1 --decode-tp 8\n  kvplan estimate llama-3.1-70b --gpus 8xH100 --weights fp8 --isl 4k --osl 512 --concurrency 128 --disagg --prefill-workers 2 --prefill-tp 2 --prefill-batch 1 --decode-workers 1 --decode-tp 4 --decode-batch 128"
    )]
    Estimate(EstimateArgs),
    /// Search formats × parallelism × batch and rank the configurations.
    #[command(
        after_help = "Examples:\n  kvplan plan deepseek-v3 --gpus 2x8xH800 --ctx 32k --users 256\n  kvplan plan llama-3.1-8b --gpus 8xH100 --ctx 8k --max-tpot-ms 20 --objective gpus\n  kvplan plan deepseek-v3 --gpus 2x8xH800 --ctx 32k --emit vllm\n  kvplan plan qwen3-30b-a3b --gpus 4xH100 --ctx 16k --users 64 --emit sglang --output-len 512\n  kvplan plan llama-3.1-70b --gpus 8xH100 --ctx 8k --objective cost --gpu-price H100=2.49\n  kvplan plan qwen2.5-7b --gpus 4xL40S --ctx 16k --batch 1k --gpu-price prices.txt\n\nPlan to an SLA with the serving simulator (ranks by output tokens/s per GPU among those that meet it):\n  kvplan plan deepseek-v3 --gpus 2x8xH800 --isl 8k --osl 1k --concurrency 256 --max-ttft-ms 2000 --max-tpot-ms 50 --percentile p90\n  kvplan plan llama-3.1-70b --gpus 8xH100 --isl 2k --osl 512 --request-rate 10 --max-ttft-ms 1000 --percentile p99\n\nbatch = concurrent sequences of the whole deployment; with DP the table shows the share of one replica beside it."
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
    /// Compare an engine's start-up log (and a benchmark result) with kvplan's plan of the same deployment; --out writes a deployment profile.
    #[command(
        after_help = "Examples:\n  kvplan reconcile vllm.log --gpus H100\n  kvplan reconcile vllm.log --gpus 8xH100 --bench kvplan-bench.json --out profiles/deployments/llama70b-h100.yaml\n  kvplan estimate llama-3.1-70b --gpus 8xH100 --ctx 32k --profile profiles/deployments/llama70b-h100.yaml\n  kvplan reconcile sglang.log --gpus 4xL4 --model qwen2.5-32b --format json"
    )]
    Reconcile(reconcile::ReconcileArgs),
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
    #[arg(long, value_parser = parse_weights)]
    pub weights: Option<WeightFormat>,
    /// KV cache dtype: bf16, fp16, fp8. Default: the model's 16-bit dtype.
    #[arg(long = "kv-dtype", value_parser = parse_kv_dtype)]
    pub kv_dtype: Option<KvDtype>,
    /// Serving engine profile: vllm, sglang, trtllm, hf, hf-graph (HF generate, static cache, CUDA graph); NAME@VERSION pins a release (vllm@0.11, sglang@0.5.3); NAME alone is the newest kvplan models (`kvplan engines`).
    #[arg(long, default_value = "vllm", value_parser = parse_engine)]
    pub engine: EngineId,
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
    #[arg(long = "max-num-batched-tokens", value_parser = parse_count)]
    pub max_num_batched_tokens: Option<u64>,
    /// KV block / page size in tokens.
    #[arg(long = "block-size")]
    pub block_size: Option<u64>,
    /// Sequences the engine schedules at once (`--max-num-seqs`; sizes the profile's sampler run).
    #[arg(long = "max-num-seqs", value_parser = parse_count)]
    pub max_num_seqs: Option<u64>,
    /// vLLM's top-k/top-p sampler, which sizes the start-up sampler warm-up: `flashinfer` (FlashInfer installed and used: vLLM ≤ 0.11.0 by default, later with VLLM_USE_FLASHINFER_SAMPLER=1) or `pytorch` (the PyTorch-native path; a log line "Falling back to the PyTorch-native implementation" says so). Default: the version profile's.
    #[arg(long, value_parser = parse_sampler)]
    pub sampler: Option<crate::spec::engine::Sampler>,
    /// SGLang's `--scheduler-recv-interval` (default 1): while decoding, new requests are taken only once every N decode iterations (InferenceX's SGLang scripts pass 30 at concurrency ≥ 16, else 10); the serving simulator counts the wait in TTFT.
    #[arg(long = "scheduler-recv-interval", value_parser = parse_count)]
    pub scheduler_recv_interval: Option<u64>,
    /// KV pool per GPU given directly, replacing the memory fraction (vLLM `--kv-cache-memory`): 40GiB, 42949672960.
    #[arg(long = "kv-cache-memory")]
    pub kv_cache_memory: Option<String>,
    /// Decode context parallelism (vLLM `-dcp N`, must divide --tp): each GPU of a TP group keeps every N-th token, so KV capacity grows ×N and each GPU reads 1/N of the cache per step.
    #[arg(long)]
    pub dcp: Option<u64>,
    /// Engine max model length (same as --ctx when --ctx is absent).
    #[arg(long = "max-model-len")]
    pub max_model_len: Option<String>,
    /// Load the multi-token-prediction module and use it for speculative decoding.
    #[arg(long)]
    pub mtp: bool,
    /// Expected acceptance rate of MTP draft tokens (0–1, default 0.85: DeepSeek-V3 Technical Report §5.4.3).
    #[arg(long = "mtp-acceptance")]
    pub mtp_acceptance: Option<f64>,
    /// Draft tokens per decode step with --mtp (1–16; default: the checkpoint's MTP module count).
    #[arg(long = "mtp-draft-tokens")]
    pub mtp_draft_tokens: Option<u64>,
    /// Calibration profile: profiles/gpus/NAME.yaml written by `kvplan probe` (or a path), or a deployment profile written by `kvplan reconcile --out`.
    #[arg(long)]
    pub profile: Option<String>,
    /// Attention what-if: mha, gqa:N (N KV heads), mqa, mla:RANK (latent rank, rope 64).
    #[arg(long, value_parser = parse_attention)]
    pub attention: Option<AttentionVariant>,
}

// Typed flags: clap calls the core's own parsers, so a bad value is refused
// at parse time (exit 2) with the same words the API uses.
fn parse_weights(t: &str) -> std::result::Result<WeightFormat, String> {
    WeightFormat::parse(t, "weights").map_err(|e| e.to_string())
}
fn parse_kv_dtype(t: &str) -> std::result::Result<KvDtype, String> {
    KvDtype::parse(t, "kv-dtype").map_err(|e| e.to_string())
}
fn parse_engine(t: &str) -> std::result::Result<EngineId, String> {
    EngineId::parse(t).map_err(|e| e.to_string())
}
fn parse_attention(t: &str) -> std::result::Result<AttentionVariant, String> {
    AttentionVariant::parse(t).map_err(|e| e.to_string())
}
/// Counts (`--batch`, `--users`, `--max-num-seqs`, `--max-num-batched-tokens`)
/// take the same spellings as `--ctx`: 1024, 1k (=1,000), 1Ki (=1,024).
fn parse_count(t: &str) -> std::result::Result<u64, String> {
    crate::units::parse_tokens(t, "count").map_err(|e| e.message().to_string())
}
fn parse_sampler(t: &str) -> std::result::Result<crate::spec::engine::Sampler, String> {
    crate::spec::engine::Sampler::parse(t).map_err(|e| e.message().to_string())
}
fn parse_top(t: &str) -> std::result::Result<usize, String> {
    match crate::units::parse_tokens(t, "top").map_err(|e| e.message().to_string())? {
        0 => Err("must be at least 1 (the number of candidates to show)".into()),
        n => Ok(n as usize),
    }
}
fn parse_objective(t: &str) -> std::result::Result<Objective, String> {
    Objective::parse(t).map_err(|e| e.to_string())
}

impl ScenarioArgs {
    /// The request these flags describe, with `batch`.
    pub fn request(&self, batch: Option<u64>) -> EstimateRequest {
        EstimateRequest {
            model: self.model.clone(),
            gpus: self.gpus.clone(),
            ctx: self.ctx.clone().map(Tokens::Text),
            batch,
            weights: self.weights,
            kv_dtype: self.kv_dtype,
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
            mtp_draft_tokens: self.mtp_draft_tokens,
            attention: self.attention,
            dcp: self.dcp,
            kv_cache_memory: self.kv_cache_memory.clone().map(Tokens::Text),
            max_num_seqs: self.max_num_seqs,
            sampler: self.sampler,
            scheduler_recv_interval: self.scheduler_recv_interval,
        }
    }
}

/// `estimate` options.
#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// Scenario.
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Concurrent sequences of the whole deployment (with DP, split over the replicas): 64, 1k (=1,000), 1Ki (=1,024).
    #[arg(long, default_value = "1", value_parser = parse_count)]
    pub batch: u64,
    /// Serving simulation workload (--isl/--osl turn it on).
    #[command(flatten)]
    pub workload: workload::WorkloadArgs,
    /// Disaggregated serving (--disagg with --prefill-*/--decode-*).
    #[command(flatten)]
    pub disagg: disagg::DisaggArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Launch commands for this deployment (`--emit vllm`).
    #[command(flatten)]
    pub emit: emit::EmitArgs,
}

/// `plan` options.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Scenario (formats and parallelism flags restrict the search).
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Concurrent users to serve (= batch: concurrent sequences of the whole deployment): 64, 1k.
    #[arg(long, conflicts_with = "batch", value_parser = parse_count)]
    pub users: Option<u64>,
    /// Batch to serve (concurrent sequences, whole deployment); without --users/--batch, each configuration runs at the largest batch that meets every limit (memory, the engine's max_num_seqs, --max-tpot-ms, --max-ttft-ms).
    #[arg(long, value_parser = parse_count)]
    pub batch: Option<u64>,
    /// Upper bound on time per output token, ms.
    #[arg(long = "max-tpot-ms")]
    pub max_tpot_ms: Option<f64>,
    /// Upper bound on time to first token, ms.
    #[arg(long = "max-ttft-ms")]
    pub max_ttft_ms: Option<f64>,
    /// What to optimise: throughput, latency, gpus (fewest), cost (lowest $ per 1M output tokens; needs a GPU price).
    #[arg(long, default_value = "throughput", value_parser = parse_objective)]
    pub objective: Objective,
    /// GPU price in US dollars per GPU-hour, NAME=USD (repeatable, or comma-separated: H100=2.49,H200=3.5), or a file of NAME=USD lines. Built in (indicative, dated): H100, H200, A100-80GB.
    #[arg(long = "gpu-price")]
    pub gpu_price: Vec<String>,
    /// Candidates to show.
    #[arg(long, default_value = "10", value_parser = parse_top)]
    pub top: usize,
    /// Serving workload: with --isl/--osl the plan simulates each configuration and plans to the SLA.
    #[command(flatten)]
    pub workload: workload::WorkloadArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Launch commands for the best fitting configuration (`--emit vllm`).
    #[command(flatten)]
    pub emit: emit::EmitArgs,
}

/// The CLI's models beyond the catalogue: files and the Hugging Face Hub.
pub struct CliModels;

impl crate::request::ModelSource for CliModels {
    fn load(&self, name: &str) -> Result<ModelSpec> {
        load_model_path(name)
    }
    fn alternatives(&self) -> &str {
        "A path to a config.json or spec .yaml also works."
    }
    fn may_be_file(&self, name: &str) -> bool {
        std::path::Path::new(name).exists()
    }
}

/// Load a model that is not built in: `hf:org/name[@revision]` from the
/// Hugging Face Hub (or its local cache), or a config.json / .yaml path.
pub fn load_model_path(path: &str) -> Result<ModelSpec> {
    if let Some(id) = path.strip_prefix("hf:") {
        #[cfg(feature = "hub")]
        return crate::hub::load(id);
        #[cfg(not(feature = "hub"))]
        return Err(Error::missing_feature("hub", format!("hf:{id}").as_str()));
    }
    let text = crate::files::read_limited(std::path::Path::new(path), crate::files::MAX_SPEC_FILE_BYTES).map_err(|e| {
        let message = format!("cannot read '{path}': {e}; give a built-in name (`kvplan models`) or a config.json path");
        // A name with a dot in it ("llama-3.1-8bb") is a typo, not a missing file.
        let named_a_file = path.contains('/')
            || [".json", ".yaml", ".yml"].iter().any(|x| path.ends_with(x));
        // A device, FIFO, huge or binary file is bad input; a file that
        // cannot be opened is the environment's.
        let bad_content = !matches!(e, crate::files::ReadError::Io(_));
        if named_a_file && !bad_content {
            Error::file("model", message)
        } else {
            Error::input("model", message)
        }
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
        let text = match crate::files::read_limited(&cand, crate::files::MAX_SPEC_FILE_BYTES) {
            Ok(text) => text,
            // No sidecar next to the config: nothing to apply.
            Err(crate::files::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                continue
            }
            Err(e) => return Err(e.for_field("model", &cand.display().to_string(), "")),
        };
        let note = crate::spec::hf::apply_modelopt_sidecar(m, &text, &cand.display().to_string())?;
        m.source = format!("{}; {note}", m.source);
        return Ok(());
    }
    Ok(())
}

/// What a command concluded, for the exit code: whether the scenario fits
/// (`estimate`) or some configuration meets the constraints (`plan`).
/// Commands without a verdict report [`Verdict::Done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Fits / meets the constraints / done (exit 0).
    Done,
    /// Does not fit / nothing meets the constraints (exit 1).
    NotMet,
}

impl Verdict {
    /// `Done` when `ok`, else `NotMet`.
    pub fn from_ok(ok: bool) -> Self {
        if ok {
            Verdict::Done
        } else {
            Verdict::NotMet
        }
    }

    /// The process exit code (see `kvplan --help`).
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Done => EXIT_OK,
            Verdict::NotMet => EXIT_NOT_MET,
        }
    }
}

/// Dispatch a parsed command line.
pub fn run(cli: Cli) -> Result<Verdict> {
    let catalog = Catalog::builtin()?;
    let done = |r: Result<()>| r.map(|()| Verdict::Done);
    match cli.command {
        Command::Estimate(a) => estimate::run(&catalog, &a),
        Command::Plan(a) => plan::run(&catalog, &a),
        Command::Models(a) => done(catalog::models(&catalog, a.format)),
        Command::Gpus(a) => done(catalog::gpus(&catalog, a.format)),
        Command::Engines(a) => done(catalog::engines(&catalog, a.format)),
        Command::Import(a) => done(import::run(&a)),
        Command::Probe(a) => done(probe::run(&catalog, &a)),
        Command::Plot(a) => done(plot::run(&catalog, &a)),
        Command::Serve(a) => done(serve::run(&a)),
        Command::Reconcile(a) => done(reconcile::run(&catalog, &a)),
    }
}

/// Write to stdout without ever panicking (`print!` panics on a full disk
/// or a closed stream). A closed pipe (`kvplan models | head`) is quiet
/// success; any other failure is an environment error (exit 3) of one line.
pub fn write_out(args: std::fmt::Arguments) -> Result<()> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    match o.write_fmt(args).and_then(|()| o.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::Environment(format!(
            "cannot write the output to stdout: {e}"
        ))),
    }
}

/// `print!` that returns the write error (`?`) instead of panicking.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::write_out(format_args!($($t)*))? };
}

/// `println!` that returns the write error (`?`) instead of panicking.
#[macro_export]
macro_rules! outln {
    () => { $crate::cli::write_out(format_args!("\n"))? };
    ($($t:tt)*) => { $crate::cli::write_out(format_args!("{}\n", format_args!($($t)*)))? };
}

/// `eprintln!` that never panics (a closed or full stderr is ignored:
/// there is nowhere left to report it).
#[macro_export]
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// Print serializable data in a machine format.
pub fn print_data<T: serde::Serialize>(value: &T, format: Format) -> Result<()> {
    match format {
        Format::Json => {
            crate::outln!(
                "{}",
                serde_json::to_string_pretty(value)
                    .map_err(|e| Error::Environment(e.to_string()))?
            );
        }
        Format::Yaml => crate::out!("{}", crate::yaml::to_string(value)?),
        _ => unreachable!("callers render tables themselves"),
    }
    Ok(())
}
