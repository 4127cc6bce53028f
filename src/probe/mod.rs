//! The GPU probe: proves a plan on the real GPU.
//!
//! Three entry points, all of which return a [`ProbeError`] (never panic, never
//! hang) on a machine without an NVIDIA driver or GPU:
//!
//! - [`inventory`]: what NVML sees (driver, CUDA version, each GPU's memory,
//!   clocks, PCIe link, power limit, NVLinks).
//! - [`run`]: allocates this GPU's weight shard and KV cache for real, fills
//!   them with non-zero data, checks its attention kernels against a CPU float64
//!   reference, then times with CUDA events (median of many runs): memory
//!   bandwidth (a 16-byte-load read kernel and a device-to-device copy), the
//!   decode layer's GEMMs at M = batch (cuBLAS and cuBLASLt, autotuned), decode
//!   attention over the cache (GQA: a split-K flash-decoding kernel of our own;
//!   MLA: latent attention through cuBLAS batched GEMMs and a softmax kernel),
//!   and a whole synthetic decode step of the shard. It returns a
//!   [`ProbeReport`] with achieved bytes/s and FLOP/s, efficiencies, and
//!   measured-vs-predicted where the caller gave predictions.
//! - [`allreduce_bandwidth`]: NCCL all-reduce bus bandwidth over several GPUs.
//!
//! The pure parts (byte and FLOP accounting, weight layout, report building,
//! CPU references) live in [`math`] and [`reference`] and are unit-tested
//! everywhere; the GPU parts live in `gpu` and `nccl`.

mod blas;
mod error;
mod gpu;
mod inventory;
mod kernels;
pub mod math;
mod nccl;
pub mod reference;
pub mod shard;

pub use error::ProbeError;
pub use inventory::{inventory, GpuInfo, Inventory};
pub use nccl::allreduce_bandwidth;

use serde::{Deserialize, Serialize};

/// Element type of weights or KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeDtype {
    /// bfloat16 (2 bytes).
    Bf16,
    /// float16 (2 bytes).
    Fp16,
    /// float8 e4m3 (1 byte).
    Fp8,
}

impl ProbeDtype {
    /// Bytes per element.
    pub fn bytes(self) -> u64 {
        match self {
            ProbeDtype::Bf16 | ProbeDtype::Fp16 => 2,
            ProbeDtype::Fp8 => 1,
        }
    }
    /// Lower-case name as used in reports ("bf16", "fp16", "fp8").
    pub fn name(self) -> &'static str {
        match self {
            ProbeDtype::Bf16 => "bf16",
            ProbeDtype::Fp16 => "fp16",
            ProbeDtype::Fp8 => "fp8",
        }
    }
}

/// One kind of weight matrix of a decode layer, as a linear layer
/// `y[M×n] = x[M×k] · Wᵀ` with `W` stored `n × k` row-major (PyTorch layout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GemmShape {
    /// Free-form name ("qkv", "o", "gate_up", "down", "experts", ...).
    pub name: String,
    /// Output features.
    pub n: u64,
    /// Input features.
    pub k: u64,
    /// How many such matrices one layer multiplies (e.g. routed experts
    /// touched by the batch); each is a distinct matrix in memory.
    pub count: u64,
}

/// The attention of one decoder layer, counting only the heads on this GPU.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ProbeAttention {
    /// Full attention with grouped K/V heads (MHA when equal, MQA when 1).
    Gqa {
        /// Query heads on this GPU.
        q_heads: u64,
        /// K/V heads on this GPU.
        kv_heads: u64,
        /// Elements per head.
        head_dim: u64,
    },
    /// DeepSeek-style multi-head latent attention; the cache holds one latent
    /// of `kv_lora_rank + rope_dim` values per token, shared by all heads, and
    /// decode absorbs the up-projection into the query (`q_nope → latent`).
    Mla {
        /// Attention heads on this GPU.
        heads: u64,
        /// Latent rank (512 for DeepSeek-V2/V3).
        kv_lora_rank: u64,
        /// Decoupled RoPE key dims (64 for DeepSeek-V2/V3).
        rope_dim: u64,
    },
}

/// Predictions to compare against (seconds); any may be absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Predicted {
    /// Bandwidth-bound read of this GPU's whole weight shard (`weights_bytes`).
    /// Compared with `weights_bytes / measured read bandwidth`.
    pub weights_read_s: Option<f64>,
    /// One decode layer's GEMMs (all of `gemms`, each `count` times) at M = batch.
    pub gemm_layer_s: Option<f64>,
    /// One decode layer's attention over the cache.
    pub attention_layer_s: Option<f64>,
    /// One whole decode step of the shard (`layers` × (attention + GEMMs)).
    pub decode_step_s: Option<f64>,
}

/// Datasheet (or otherwise assumed) peaks to state efficiencies against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Peaks {
    /// Memory bandwidth, bytes/s (H200: 4.8e12).
    pub memory_bandwidth_bytes_per_s: f64,
    /// Dense bf16 matrix rate, FLOP/s (H200: ~989e12).
    pub bf16_flops_per_s: f64,
}

/// What to prove on one GPU: the shard a plan puts there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRequest {
    /// CUDA device index.
    pub device_index: usize,
    /// This GPU's weight shard, bytes (allocated for real, filled non-zero).
    pub weights_bytes: u64,
    /// This GPU's KV cache for the plan, bytes (allocated for real, filled
    /// non-zero). Must hold `layers × batch × context_tokens` tokens.
    pub kv_cache_bytes: u64,
    /// Leave this much free; the probe refuses cleanly when weights + KV +
    /// scratch + margin exceed free memory.
    pub safety_margin_bytes: u64,
    /// Decode batch (sequences).
    pub batch: u64,
    /// Tokens already in each sequence's cache.
    pub context_tokens: u64,
    /// Decoder layers on this GPU.
    pub layers: u64,
    /// One decode layer's weight matmuls on this GPU; M = batch.
    pub gemms: Vec<GemmShape>,
    /// Weight element type. Fp8 runs through cuBLASLt (e4m3 × e4m3 → bf16)
    /// where supported; otherwise bf16 is measured and a note says so.
    pub weight_dtype: ProbeDtype,
    /// Attention of one layer (heads on this GPU).
    pub attention: ProbeAttention,
    /// KV cache element type. Bf16 is measured; Fp16 and Fp8 are measured
    /// as bf16 (same kernel) and a note says so.
    pub kv_dtype: ProbeDtype,
    /// Predictions to print measured-vs-predicted for.
    #[serde(default)]
    pub predicted: Option<Predicted>,
    /// Peaks to state efficiencies against (the GPU's datasheet).
    #[serde(default)]
    pub peaks: Option<Peaks>,
}

/// Progress of a long probe, for the CLI's bars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ProbeEvent {
    /// A stage started (`index` of `total`, 1-based).
    Stage {
        /// Short name, e.g. "bandwidth".
        name: String,
        /// 1-based position.
        index: usize,
        /// Number of stages.
        total: usize,
    },
    /// Progress inside the current stage.
    Progress {
        /// Stage name.
        stage: String,
        /// Units done.
        done: u64,
        /// Units in all.
        total: u64,
    },
    /// Something worth telling the user (a fallback, a clamp).
    Note(String),
}

/// Statistics of repeated timings of one operation, seconds per operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Median (the figure every rate is computed from).
    pub median_s: f64,
    /// Fastest sample.
    pub min_s: f64,
    /// Slowest sample.
    pub max_s: f64,
    /// Number of samples.
    pub samples: usize,
    /// Operations timed back-to-back inside each sample.
    pub reps_per_sample: usize,
}

/// The device as the probe saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceSummary {
    /// CUDA device index.
    pub index: usize,
    /// Name as the driver reports it ("NVIDIA H200").
    pub name: String,
    /// Compute capability (9, 0).
    pub compute_capability: (i32, i32),
    /// Streaming multiprocessors.
    pub sm_count: u32,
    /// L2 cache bytes.
    pub l2_bytes: u64,
    /// Total device memory, bytes.
    pub total_bytes: u64,
}

/// Memory accounting of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryCheck {
    /// Weight shard allocated, bytes.
    pub weights_bytes: u64,
    /// KV cache allocated, bytes.
    pub kv_cache_bytes: u64,
    /// Probe scratch (activations, partial results, workspaces), bytes.
    pub scratch_bytes: u64,
    /// Margin the caller asked to keep free.
    pub safety_margin_bytes: u64,
    /// Free before allocating.
    pub free_before_bytes: u64,
    /// Free once everything was allocated.
    pub free_after_alloc_bytes: u64,
}

/// Streaming read and device-to-device copy over the same buffer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandwidthResult {
    /// Bytes read per read-kernel launch.
    pub read_bytes: u64,
    /// Read kernel timing.
    pub read: Timing,
    /// Achieved read bandwidth, bytes/s.
    pub read_bytes_per_s: f64,
    /// Bytes copied per `memcpy_dtod` (each counted twice below: read + write).
    pub copy_bytes: u64,
    /// Copy timing.
    pub copy: Timing,
    /// Copy bandwidth counting bytes read plus bytes written, bytes/s.
    pub copy_bytes_per_s: f64,
    /// read / copy bandwidth (target ≥ 0.9).
    pub read_vs_copy: f64,
    /// read / datasheet bandwidth, when peaks were given.
    pub read_vs_peak: Option<f64>,
}

/// One matmul shape, timed alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GemmResult {
    /// Shape name from the request ("ceiling" for the large square GEMM).
    pub name: String,
    /// Rows of x (the batch).
    pub m: u64,
    /// Output features.
    pub n: u64,
    /// Input features.
    pub k: u64,
    /// Matrices of this shape per layer.
    pub count: u64,
    /// Dtype asked for.
    pub dtype_requested: ProbeDtype,
    /// Dtype actually measured.
    pub dtype_measured: ProbeDtype,
    /// Which library path won the autotune ("cublas" or "cublaslt#i").
    pub backend: String,
    /// Seconds for one matrix.
    pub seconds: f64,
    /// FLOP/s achieved (2·m·n·k per matrix).
    pub flops_per_s: f64,
    /// Weight bytes streamed per second (n·k·bytes per matrix).
    pub weight_bytes_per_s: f64,
    /// weight_bytes_per_s / copy bandwidth.
    pub bandwidth_vs_copy: f64,
    /// flops_per_s / (datasheet bf16 rate, or the measured ceiling GEMM).
    pub flops_vs_peak: f64,
}

/// A group of operations measured together (one layer's GEMMs, one layer's
/// attention, one decode step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseResult {
    /// Timing.
    pub timing: Timing,
    /// Median seconds.
    pub seconds: f64,
    /// Bytes that must move through device memory (each input read once).
    pub bytes: u64,
    /// Floating-point operations.
    pub flops: u64,
    /// bytes / seconds.
    pub bytes_per_s: f64,
    /// flops / seconds.
    pub flops_per_s: f64,
    /// bytes_per_s / copy bandwidth.
    pub bandwidth_vs_copy: f64,
    /// Roofline floor: max(bytes / copy bandwidth, flops / matrix ceiling).
    pub roofline_s: f64,
    /// seconds / roofline_s (1.0 = at the floor).
    pub vs_roofline: f64,
}

/// A kernel's agreement with the CPU float64 reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfCheck {
    /// Which kernel.
    pub kernel: String,
    /// Shape checked, in words.
    pub shape: String,
    /// ‖out − ref‖ / ‖ref‖.
    pub relative_error: f64,
    /// Pass threshold.
    pub threshold: f64,
    /// relative_error < threshold (and no NaN, every element written).
    pub passed: bool,
}

/// Decode attention over the cache of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionResult {
    /// "gqa" or "mla".
    pub kind: String,
    /// Sequences.
    pub batch: u64,
    /// Tokens per sequence.
    pub context: u64,
    /// Implementation and its tuning ("split-k chunk 512 tokens, 2 kernels", ...).
    pub method: String,
    /// Measurement.
    pub phase: PhaseResult,
}

/// Measured against predicted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// What ("weights_read", "gemm_layer", "attention_layer", "decode_step").
    pub what: String,
    /// Predicted seconds.
    pub predicted_s: f64,
    /// Measured seconds.
    pub measured_s: f64,
    /// (predicted − measured) / measured: negative = the model is optimistic.
    pub relative_error: f64,
}

impl Comparison {
    /// Build a comparison; `relative_error = (predicted − measured) / measured`.
    pub fn new(what: &str, predicted_s: f64, measured_s: f64) -> Self {
        Comparison {
            what: what.to_string(),
            predicted_s,
            measured_s,
            relative_error: (predicted_s - measured_s) / measured_s,
        }
    }
}

/// Everything one [`run`] measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The request, echoed.
    pub request: ProbeRequest,
    /// The device.
    pub device: DeviceSummary,
    /// Memory accounting.
    pub memory: MemoryCheck,
    /// Kernels checked against the CPU reference before timing.
    pub self_checks: Vec<SelfCheck>,
    /// Read and copy bandwidth.
    pub bandwidth: BandwidthResult,
    /// Large square bf16 GEMM (8192³): the matrix ceiling of this GPU.
    pub gemm_ceiling: GemmResult,
    /// Each distinct layer GEMM alone.
    pub gemms: Vec<GemmResult>,
    /// One decode layer's GEMMs back to back (weights rotated over layers so
    /// that L2 does not hold them).
    pub gemm_layer: PhaseResult,
    /// One layer's decode attention over the allocated cache.
    pub attention: AttentionResult,
    /// One whole synthetic decode step of the shard.
    pub decode_step: PhaseResult,
    /// Decode tokens per second of this shard: batch / decode step seconds.
    pub decode_tokens_per_s: f64,
    /// Measured vs predicted, for each prediction given.
    pub comparisons: Vec<Comparison>,
    /// Fallbacks, clamps and caveats.
    pub notes: Vec<String>,
}

/// Probe one GPU with the shard a plan puts there; see the module docs.
///
/// `progress` receives [`ProbeEvent`]s for the CLI's progress display.
pub fn run(
    req: &ProbeRequest,
    progress: &mut dyn FnMut(ProbeEvent),
) -> Result<ProbeReport, ProbeError> {
    math::validate(req)?;
    gpu::run(req, progress)
}

/// Bus bandwidth of an all-reduce of one message size over several GPUs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllReduceSample {
    /// GPUs taking part.
    pub devices: Vec<usize>,
    /// Message bytes per GPU.
    pub bytes: u64,
    /// Median seconds per all-reduce.
    pub seconds: f64,
    /// Algorithm bandwidth: bytes / seconds.
    pub algbw_bytes_per_s: f64,
    /// Bus bandwidth: algbw × 2(n−1)/n (NCCL-tests' convention).
    pub busbw_bytes_per_s: f64,
}
