//! Serving-engine profiles (profiles/engines/*.yaml): how an engine turns GPU
//! memory into KV capacity. Each number in the YAML cites the engine source
//! file and release it follows; the arithmetic lives in `memory::engine`.

use serde::{Deserialize, Serialize};

pub use super::scheduler::SchedulerSpec;

/// How the engine sizes its KV pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetRule {
    /// vLLM: `total × fraction − (weights + activation peak + non-torch [+ graphs])`.
    FractionOfTotal,
    /// SGLang: `free_after_weights − total × (1 − fraction)`.
    StaticFraction,
    /// TensorRT-LLM: `fraction × memory still free after weights and activations`.
    FractionOfFree,
    /// HF transformers: no pool; the cache grows per request until memory runs out.
    Dynamic,
}

/// How MLA layers are cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MlaCache {
    /// The compressed latent + rotary key (kv_lora_rank + qk_rope_head_dim).
    Latent,
    /// Per-head decompressed K (nope+rope) and V.
    Decompressed,
}

/// Scheduler defaults an engine switches to on large GPUs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LargeGpuDefaults {
    /// GPU memory at or above which these apply, bytes.
    pub min_memory_bytes: u64,
    /// GPU names (lower-case substrings) excluded even when large.
    #[serde(default)]
    pub exclude_names: Vec<String>,
    /// `max_num_batched_tokens` on such GPUs.
    pub max_num_batched_tokens: u64,
    /// `max_num_seqs` on such GPUs.
    pub max_num_seqs: u64,
}

/// One serving engine's memory behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    /// Id typed in `--engine`.
    pub name: String,
    /// Display name with version followed.
    pub display_name: String,
    /// Release whose arithmetic this profile reproduces.
    pub version: String,
    /// Source files and notes.
    pub sources: Vec<String>,
    /// How the KV budget is computed.
    pub budget_rule: BudgetRule,
    /// Default memory fraction (`gpu_memory_utilization`, `mem_fraction_static`,
    /// `free_gpu_memory_fraction`); 1.0 for HF.
    pub memory_fraction: f64,
    /// Defaults that depend on the tensor-parallel size, as `[min_tp, fraction]`
    /// pairs (SGLang's older `mem_fraction_static` table); the largest
    /// `min_tp` not above tp wins. Empty: `memory_fraction` always.
    #[serde(default)]
    pub memory_fraction_by_tp: Vec<(u64, f64)>,
    /// Tokens per KV block/page (1 = no rounding).
    pub block_size: u64,
    /// Tokens of one prefill chunk in the start-up profile run
    /// (`max_num_batched_tokens`, `chunked_prefill_size`).
    pub max_num_batched_tokens: u64,
    /// Whether prefill runs in chunks of `max_num_batched_tokens` (vLLM,
    /// SGLang, TRT-LLM) rather than whole prompts at once (HF generate).
    pub chunked_prefill: bool,
    /// Sequences in the profile's sampler run (`max_num_seqs`).
    pub max_num_seqs: u64,
    /// Larger defaults the engine picks on big GPUs (vLLM
    /// `EngineArgs.get_batch_defaults`: ≥ 70 GiB and not an A100).
    #[serde(default)]
    pub large_gpu_defaults: Option<LargeGpuDefaults>,
    /// CUDA context and library handles: real memory on every GPU, bytes.
    pub cuda_context_bytes: u64,
    /// Memory outside the framework allocator that the engine's profile
    /// measures and subtracts (cuBLAS workspaces, allocator slack), bytes.
    pub non_torch_bytes: u64,
    /// Extra non-torch memory per GPU when tensor/expert parallel > 1 (NCCL
    /// buffers), bytes.
    pub nccl_bytes: u64,
    /// CUDA-graph memory per GPU, bytes (0 where graphs are off or not counted).
    pub cuda_graph_bytes: u64,
    /// Bytes per logit in the sampler (fp32 = 4).
    pub logits_bytes_per_value: u64,
    /// Logit copies alive at the sampler peak (logits, softmax/probs, …).
    pub logits_copies: u64,
    /// Whether a prefill computes logits for every prompt token (plain HF
    /// forward) rather than the last one per sequence.
    pub logits_all_positions: bool,
    /// How MLA is cached.
    pub mla_cache: MlaCache,
    /// Bytes per token per layer of an fp8 MLA latent cache (576 for a plain
    /// e4m3 latent; 656 for vLLM's `fp8_ds_mla`).
    pub mla_fp8_bytes_per_token_layer: u64,
    /// Sliding-window layers keep only the window (true for vLLM/SGLang/TRT;
    /// HF holds the whole prompt right after prefill).
    pub sliding_window_capped: bool,
    /// Fixed host/launch cost per decoder layer in a decode step, seconds
    /// (small with CUDA graphs; large for eager PyTorch).
    #[serde(default)]
    pub decode_overhead_per_layer_seconds: f64,
    /// Multiplier on the analytic activation estimate of a prefill chunk
    /// (fused kernels, allocator slack); 1.0 = as modelled.
    pub activation_factor: f64,
    /// Hidden-sized tensors per token alive through a layer at the prefill
    /// peak: residual + normed input (2) for engines with fused add-norm; HF
    /// keeps 4 (the embedding output, the layer input, the post-attention
    /// residual and the normed MLP input).
    #[serde(default = "two")]
    pub activation_hidden_copies: u64,
    /// MoE prefill: intermediate-sized tensors per routed (token, expert) copy
    /// at the expert GEMMs' peak (vLLM fused_moe: intermediate_cache1 (2I) +
    /// intermediate_cache2 (I) = 3).
    #[serde(default = "three")]
    pub moe_intermediate_copies: u64,
    /// MoE prefill: hidden-sized tensors per routed copy alive beside them
    /// (vLLM fused_moe: intermediate_cache3 = 1).
    #[serde(default = "one")]
    pub moe_hidden_copies: u64,
    /// MoE prefill: hidden-sized elements (in 16-bit units) per routed copy
    /// at the combine step (weighting and un-permuting the expert outputs),
    /// when that is a separate peak; 0 = folded into the GEMM peak.
    #[serde(default)]
    pub moe_combine_hidden_copies: u64,
    /// Shared experts run concurrently with the routed ones (vLLM's
    /// SharedFusedMoE overlaps them), so both sets of temporaries are alive;
    /// false: one after the other, with only the first one's output kept.
    #[serde(default = "yes")]
    pub moe_shared_concurrent: bool,
    /// MLA prefill: per-head copies alive at the attention call.
    #[serde(default)]
    pub mla_prefill_head_copies: MlaHeadCopies,
    /// Bytes per (query, key) pair of the attention mask a whole-prompt
    /// prefill materialises once the prompt reaches a sliding window (HF
    /// sdpa: one bool `[1, 1, S, S]` mask, shared by the batch); 0 = none
    /// (fused kernels take the window as an argument).
    #[serde(default)]
    pub sliding_mask_bytes_per_pair: u64,
    /// How the decode step reads and writes the KV cache.
    #[serde(default)]
    pub decode_cache: DecodeCache,
    /// MLA decode re-expands every cached latent to per-head K and V
    /// (`kv_b_proj`) on each step, rather than attending over the latent
    /// with absorbed weights (vLLM/SGLang/TRT-LLM).
    #[serde(default)]
    pub mla_decode_expands_latent: bool,
    /// Achieved fraction of the datasheet bandwidth, counting bytes read +
    /// written, of the generic strided-copy kernels an engine runs at decode
    /// (HF `repeat_kv`, MLA key assembly, the static sliding window's roll).
    #[serde(default = "copy_efficiency")]
    pub strided_copy_efficiency: f64,
    /// Fixed host/launch cost of one decode step, seconds.
    #[serde(default)]
    pub decode_overhead_per_step_seconds: f64,
    /// Extra fixed cost per MoE layer in a decode step, seconds.
    #[serde(default)]
    pub decode_overhead_per_moe_layer_seconds: f64,
    /// Extra fixed cost per MLA layer in a decode step, seconds.
    #[serde(default)]
    pub decode_overhead_per_mla_layer_seconds: f64,
    /// The decode overheads are host (CPU) time that runs while the GPU works
    /// (eager PyTorch: step = max(GPU, host)), rather than GPU-side gaps
    /// added to the kernels (CUDA graphs: step = GPU + overhead).
    #[serde(default)]
    pub decode_overhead_overlaps_gpu: bool,
    /// The engine's scheduler policy for the serving simulator; absent:
    /// `SchedulerSpec::generic()`.
    #[serde(default)]
    pub scheduler: Option<SchedulerSpec>,
    /// Provenance of the profile's constants FITTED to measured serving runs
    /// (which fields, on what data, by what method, with what error in and
    /// out of sample); informational, read by no formula.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fitted: Vec<FittedConstants>,
}

/// One set of engine-profile constants fitted to measurements: the record a
/// reader needs to judge them (docs/silicon.md has the tables).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedConstants {
    /// Profile fields set by this fit (dotted paths, e.g. `scheduler.request_overhead_seconds`).
    pub fields: Vec<String>,
    /// The measurements, with their public source.
    pub data: String,
    /// How the values were found.
    pub method: String,
    /// Error on the fitted data.
    pub in_sample: String,
    /// Error on data the fit did not see.
    pub out_of_sample: String,
}

/// Per-head tensors alive at an MLA prefill's attention call, in units of
/// one head's Q/K width (`qk_nope + qk_rope`) or V width (`v_head_dim`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlaHeadCopies {
    /// Query copies (qk width).
    pub q: u64,
    /// Key copies (qk width).
    pub k: u64,
    /// Value copies (v width).
    pub v: u64,
    /// Attention-output copies (v width).
    pub out: u64,
}

impl Default for MlaHeadCopies {
    /// One of each: Q, K, V and the output, as a fused prefill kernel sees them.
    fn default() -> Self {
        MlaHeadCopies {
            q: 1,
            k: 1,
            v: 1,
            out: 1,
        }
    }
}

/// How a decode step touches the KV cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecodeCache {
    /// A paged pool read in place by fused attention kernels (vLLM, SGLang,
    /// TRT-LLM): each layer reads its cached tokens once (sliding layers:
    /// the window), GQA heads shared natively.
    #[default]
    Paged,
    /// HF `DynamicCache`: `torch.cat` re-writes each layer's whole cache every
    /// step (read + write); layers whose attention gets an explicit mask
    /// (sliding layers once the window is full) expand K/V to every query
    /// head (`repeat_kv`) before attention.
    Dynamic,
    /// HF `StaticCache` (preallocated `max_cache_len`, the context kvplan is
    /// given): updated in place, but every step passes a mask, so K/V are
    /// expanded to every query head on every layer; full sliding layers roll
    /// their window each step.
    Static,
}

fn two() -> u64 {
    2
}

fn three() -> u64 {
    3
}

fn one() -> u64 {
    1
}

fn yes() -> bool {
    true
}

/// PyTorch's generic elementwise copy kernel on strided (expanded or
/// sliced) inputs: 1.19–1.36 TB/s of bytes read + written on an H200 in the
/// eager profiles of validation/measurements.json (Mistral and Gemma-2
/// `repeat_kv`, DeepSeek key assembly), ≈ 0.26 of 4.8 TB/s.
fn copy_efficiency() -> f64 {
    0.26
}

impl EngineSpec {
    /// This profile with the scheduler defaults the engine would pick on `gpu`.
    pub fn for_gpu(&self, gpu_name: &str, gpu_memory_bytes: u64) -> EngineSpec {
        let mut e = self.clone();
        if let Some(l) = &self.large_gpu_defaults {
            let name = gpu_name.to_ascii_lowercase();
            if gpu_memory_bytes >= l.min_memory_bytes
                && !l.exclude_names.iter().any(|x| name.contains(x.as_str()))
            {
                e.max_num_batched_tokens = l.max_num_batched_tokens;
                e.max_num_seqs = l.max_num_seqs;
            }
        }
        e
    }

    /// The scheduler the serving simulator runs for this engine.
    pub fn scheduler_spec(&self) -> SchedulerSpec {
        self.scheduler
            .clone()
            .unwrap_or_else(SchedulerSpec::generic)
    }

    /// The default memory fraction for tensor-parallel size `tp`.
    pub fn default_fraction(&self, tp: u64) -> f64 {
        self.memory_fraction_by_tp
            .iter()
            .filter(|(min_tp, _)| *min_tp <= tp)
            .max_by_key(|(min_tp, _)| *min_tp)
            .map(|(_, f)| *f)
            .unwrap_or(self.memory_fraction)
    }
}
