//! Serving-engine profiles (profiles/engines/*.yaml): how an engine turns GPU
//! memory into KV capacity. Each number in the YAML cites the engine source
//! file and release it follows; the arithmetic lives in `memory::engine`.

use serde::{Deserialize, Serialize};

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
