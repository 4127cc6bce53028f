//! What the GPU probe measures, as plain data and pure arithmetic: the
//! request (what one GPU of a plan holds and does in a decode step), the
//! report and sample types, the byte/FLOP accounting of each measured phase
//! ([`math`]), the CPU float64 references the kernels are checked against
//! ([`reference`]), and the translation of a scenario into a request with
//! kvplan's own predictions ([`shard`]). Part of the core: no GPU, no I/O,
//! built without the `gpu` feature. The GPU side (NVML inventory, kernels,
//! cuBLAS, NCCL, the timed run) lives in `probe/`, behind the `gpu` feature.

mod error;
pub mod math;
pub mod reference;
pub mod shard;

pub use error::ProbeError;

use crate::memory::kv::KvLayer;
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
    /// touched by the batch); each is a distinct matrix in memory. With
    /// `count > 1` the probe lays the matrices out back to back and runs them
    /// as ONE strided-batched GEMM (like a serving engine's grouped MoE GEMM),
    /// each matrix on its own `rows × k` block of activations.
    pub count: u64,
    /// Rows (tokens) each of the `count` matrices multiplies. `None` = the
    /// decode batch (right for dense layers). For routed experts a plan
    /// should give the expected tokens per touched expert,
    /// `ceil(batch × top_k / count)`.
    #[serde(default)]
    pub rows: Option<u64>,
}

impl GemmShape {
    /// Rows each matrix multiplies: `rows`, or the batch when absent.
    pub fn m(&self, batch: u64) -> u64 {
        self.rows.unwrap_or(batch)
    }
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

/// Kind of attention a probe measured (calibration profiles store it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttentionKind {
    /// Full attention with grouped KV heads.
    Gqa,
    /// Multi-head latent attention.
    Mla,
}

impl ProbeAttention {
    /// The cache this attention keeps per layer, as the core's KV layer
    /// kind, so the per-token formula exists once (`memory::kv`). An MLA
    /// latent's fp8 form is taken as one byte per value (the probe measures
    /// bf16 caches).
    pub fn kv_layer(&self) -> KvLayer {
        match *self {
            ProbeAttention::Gqa {
                kv_heads, head_dim, ..
            } => KvLayer::Full {
                kv_heads,
                k_dim: head_dim,
                v_dim: head_dim,
            },
            ProbeAttention::Mla {
                kv_lora_rank,
                rope_dim,
                ..
            } => KvLayer::Mla {
                latent_dim: kv_lora_rank + rope_dim,
                fp8_bytes: kv_lora_rank + rope_dim,
                indexer_bytes: 0,
            },
        }
    }

    /// GQA or MLA.
    pub fn kind(&self) -> AttentionKind {
        match self {
            ProbeAttention::Gqa { .. } => AttentionKind::Gqa,
            ProbeAttention::Mla { .. } => AttentionKind::Mla,
        }
    }

    /// (query heads, KV heads) on this GPU; an MLA latent counts as one KV head.
    pub fn heads(&self) -> (u64, u64) {
        match *self {
            ProbeAttention::Gqa {
                q_heads, kv_heads, ..
            } => (q_heads, kv_heads),
            ProbeAttention::Mla { heads, .. } => (heads, 1),
        }
    }
}

/// Predictions to compare against (seconds); any may be absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Predicted {
    /// Bandwidth-bound read of this GPU's whole weight shard (`weights_bytes`).
    /// Compared with `weights_bytes / measured read bandwidth`.
    pub weights_read_s: Option<f64>,
    /// One decode layer's GEMMs (all of `gemms`, each `count` times) at
    /// M = each shape's `rows`, else the batch.
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
    /// non-zero). Must hold `attending layers × batch × context_tokens`
    /// tokens, then `state_bytes`.
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
    /// Layers of `layers` that run `attention` over the cache (a hybrid's
    /// attention layers); the rest are linear-attention / SSM layers that
    /// hold a fixed state instead. None: every layer attends.
    #[serde(default)]
    pub attention_layers: Option<u64>,
    /// Fixed recurrent state of the batch's sequences in the non-attending
    /// layers on this GPU, bytes (Gated DeltaNet, KDA, Mamba2: conv window +
    /// recurrent state), stored after the attention layers' cache. A decode
    /// step reads and rewrites each layer's share once, which the probe
    /// times as device copies of that many bytes.
    #[serde(default)]
    pub state_bytes: u64,
    /// One decode layer's weight matmuls on this GPU; M = each shape's
    /// `rows`, else the batch.
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

impl ProbeRequest {
    /// Layers that run the attention kernel over the cache.
    pub fn attending_layers(&self) -> u64 {
        self.attention_layers
            .unwrap_or(self.layers)
            .min(self.layers)
    }

    /// Layers that keep a fixed state instead of a cache.
    pub fn state_layers(&self) -> u64 {
        self.layers - self.attending_layers()
    }

    /// Bytes of one state layer's share of `state_bytes` (0 without state
    /// layers).
    pub fn state_bytes_per_layer(&self) -> u64 {
        self.state_bytes
            .checked_div(self.state_layers())
            .unwrap_or(0)
    }
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
    /// Rows of x per matrix (the shape's `rows`, else the batch).
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
    /// Which library path won the autotune ("cublas" or "cublaslt#i";
    /// "-batched" when one strided-batched call ran all `count` matrices).
    pub backend: String,
    /// True when the `count` matrices ran as one strided-batched GEMM.
    #[serde(default)]
    pub batched: bool,
    /// Seconds of one call: all `count` matrices when `batched`, else one.
    #[serde(default)]
    pub call_seconds: f64,
    /// Seconds per matrix (`call_seconds / count` when batched).
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

/// Fixed cost of one kernel launch: median seconds per launch of a chain of
/// dependent launches that do (almost) no work, launched eagerly one by one
/// from the host and replayed from a CUDA graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelFloors {
    /// A one-thread kernel, eager launches back to back.
    pub kernel_eager_s: f64,
    /// The same kernel, per node of a graph of `graph_nodes` launches.
    pub kernel_graph_s: f64,
    /// A tiny bf16 GEMM (`gemm_shape`), eager cuBLAS calls back to back.
    pub gemm_eager_s: f64,
    /// The same GEMM, per node of a graph of `graph_nodes` calls.
    pub gemm_graph_s: f64,
    /// The tiny GEMM, "m×n×k".
    pub gemm_shape: String,
    /// Launches per captured graph.
    pub graph_nodes: usize,
}

/// Measured against predicted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// What ("weights_read", "gemm_layer", "gemm_layer_graph",
    /// "attention_layer", "attention_layer_graph", "decode_step" (graph
    /// replays when captured), "decode_step_eager").
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

/// Everything one probe run (`probe::run`) measured.
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
    /// One decode layer's GEMMs inside a CUDA graph of all layers' GEMMs
    /// (graph time / layers); absent when capture failed.
    #[serde(default)]
    pub gemm_layer_graph: Option<PhaseResult>,
    /// One layer's attention inside a CUDA graph of all layers' attention
    /// (graph time / layers); absent when capture failed.
    #[serde(default)]
    pub attention_layer_graph: Option<PhaseResult>,
    /// One whole synthetic decode step of the shard: replays of a CUDA graph
    /// of the step when `decode_step_graph`, else eager launches.
    pub decode_step: PhaseResult,
    /// True when `decode_step` was timed as CUDA-graph replays.
    #[serde(default)]
    pub decode_step_graph: bool,
    /// The same step launched eagerly (one launch per kernel / cuBLAS call
    /// from the host), as serving without CUDA graphs would run it.
    #[serde(default)]
    pub decode_step_eager: Option<PhaseResult>,
    /// Fixed cost per kernel, inside and outside a CUDA graph.
    #[serde(default)]
    pub kernel_floors: Option<KernelFloors>,
    /// Decode tokens per second of this shard: batch / decode step seconds.
    pub decode_tokens_per_s: f64,
    /// Measured vs predicted, for each prediction given.
    pub comparisons: Vec<Comparison>,
    /// Fallbacks, clamps and caveats.
    pub notes: Vec<String>,
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

/// One probed point with the plan it came from, as `--report` writes it
/// (the validation test re-derives kvplan's prediction from these).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeRun {
    /// Model as given.
    pub model: String,
    /// GPUs as given.
    pub gpus: String,
    /// Weight format used.
    pub weights: String,
    /// Tensor parallel degree.
    pub tp: u64,
    /// Batch (whole deployment).
    pub batch: u64,
    /// Context tokens.
    pub context: u64,
    /// What the probe measured.
    pub report: ProbeReport,
}
