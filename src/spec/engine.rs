//! Serving-engine profiles (profiles/engines/*.yaml): how an engine turns GPU
//! memory into KV capacity. Each number in the YAML cites the engine source
//! file and release it follows; the arithmetic lives in `memory::engine`.

use crate::error::{Error, Result};
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

/// How an engine holds the fixed per-sequence state of hybrid models
/// (linear-attention / Mamba2 layers next to attention layers), which decides
/// the KV pool, the number of sequences and the state's padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HybridPaging {
    /// The state sits beside the KV at its logical size, no padding (where an
    /// engine's own rule is not modelled).
    #[default]
    Logical,
    /// vLLM's hybrid KV-cache manager: one page size for every layer group,
    /// the attention block raised until a state fits one page, each state
    /// layer's page padded to it (`memory::hybrid::vllm_hybrid_pages`).
    UnifiedPages,
    /// SGLang: a separate state pool sized apart from the KV pool, the memory
    /// for caches split by `mamba_full_memory_ratio` (`state_pool_ratio`).
    SeparatePool,
}

/// How an engine pads the routed experts of an MXFP4 checkpoint on one
/// class of GPU: the shapes its MoE kernel allocates are larger than the
/// checkpoint's when the expert width per tensor-parallel rank or the
/// hidden size is not a multiple of the kernel's tile (vLLM
/// `Mxfp4MoEMethod.create_weights`), so the weights take more memory than
/// their parameter count says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mxfp4Padding {
    /// GPU architectures the rule applies to.
    pub arch: Vec<super::dtype::Arch>,
    /// GPU names (kvplan spec names) the rule is limited to; empty: every
    /// GPU of those architectures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpu_names: Vec<String>,
    /// The expert width per rank is rounded up to a multiple of this.
    pub intermediate_multiple: u64,
    /// The hidden size is rounded up to a multiple of this.
    pub hidden_multiple: u64,
    /// The hidden size of the down projection (the output of the expert's
    /// second GEMM) is rounded up to this instead, where the kernel's layout
    /// pads it differently from the first GEMM's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_hidden_multiple: Option<u64>,
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
    /// fp32 logit copies alive at the peak of a sampler warm-up that runs as
    /// its own phase after the profile forward (vLLM ≥ 0.11
    /// `_dummy_sampler_run`): when set, the activation peak is the larger of
    /// the forward's temporaries and this warm-up, not their sum, and
    /// `logits_copies` is not used.
    #[serde(default)]
    pub sampler_logits_copies: Option<f64>,
    /// fp32 logit copies at the warm-up peak when the V1 sampler takes its
    /// PyTorch top-k/top-p path (a sort of the whole vocabulary), for
    /// `--sampler pytorch`; `None`: the engine has no sampler switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_sampler_logits_copies: Option<f64>,
    /// How MLA is cached.
    pub mla_cache: MlaCache,
    /// Bytes per token per layer of an fp8 MLA latent cache (576 for a plain
    /// e4m3 latent; 656 for vLLM's `fp8_ds_mla`).
    pub mla_fp8_bytes_per_token_layer: u64,
    /// Bytes per token per layer of an fp8 MLA latent in the sparse-attention
    /// (DSA) backends of DeepSeek-V3.2 / GLM-5: 656 = 512 fp8 + 4 fp32 tile
    /// scales + 64 bf16 rope values (vLLM `fp8_ds_mla`, FlashMLA sparse;
    /// SGLang's NSA fp8 store).
    #[serde(default = "fp8_ds_mla")]
    pub mla_sparse_fp8_bytes_per_token_layer: u64,
    /// Bytes per token per layer the engine *sizes* its token count with for
    /// an fp8 DSA latent, where that differs from what it stores: SGLang's
    /// cell size counts (kv_lora_rank + qk_rope_head_dim) × 1 B = 576
    /// (`model_runner.py` `profile_max_num_token`, later
    /// `pool_configurator.py` `_compute_cell_size`) while its NSA pool stores
    /// the 656-byte fp8_ds_mla row, so the pool it allocates is 656/576 of its
    /// budget (`memory::allocated_kv_pool`). None: sized as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mla_sparse_fp8_sizing_bytes_per_token_layer: Option<u64>,
    /// How the state of hybrid models is paged.
    #[serde(default)]
    pub hybrid_paging: HybridPaging,
    /// State pool : KV pool memory for `separate_pool` (SGLang
    /// `mamba_full_memory_ratio`, default 0.9).
    #[serde(default = "state_pool_ratio")]
    pub state_pool_ratio: f64,
    /// Sliding-window layers keep only the window (true for vLLM/SGLang/TRT;
    /// HF holds the whole prompt right after prefill).
    pub sliding_window_capped: bool,
    /// Whether the engine can keep the KV cache in fp32 (HF transformers
    /// keeps the model's own dtype; serving engines cache 16 or 8 bits).
    #[serde(default)]
    pub fp32_kv: bool,
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
    /// A measured activation peak per GPU (a deployment profile written by
    /// `kvplan reconcile --out`), bytes; replaces the analytic estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_peak_bytes: Option<u64>,
    /// Serving overhead on top of one prefill in the time to first token
    /// (queueing, tokenisation, scheduling), seconds: measured by a
    /// deployment profile, 0 otherwise.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ttft_overhead_seconds: f64,
    /// Release range this profile follows, e.g. "0.26.0–0.27.x" (empty for
    /// an unversioned profile); filled from `profiles/engines/<name>/*.yaml`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub releases: String,
    /// What changed in this version against the previous one modelled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// Every version of this engine kvplan models, oldest first (for
    /// listings; filled by the catalogue).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<EngineVersionInfo>,
    /// The CUDA-graph memory estimate is taken out of the KV budget at
    /// start-up (vLLM ≥ 0.21: `VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS` on
    /// by default), rather than captured afterwards in the headroom.
    #[serde(default)]
    pub cuda_graph_in_budget: bool,
    /// The forward's output (`max_num_batched_tokens` × hidden) and the
    /// sampled rows' hidden states stay alive through the sampler warm-up
    /// (vLLM Model Runner V2 `profile_run`: `_dummy_run` returns both, they
    /// are freed only after `_dummy_sampler_run`), so the warm-up's peak
    /// carries them too.
    #[serde(default)]
    pub sampler_keeps_forward_output: bool,
    /// Start-up arithmetic of the model runner the engine picks for dense
    /// models (vLLM 0.25–0.27: Model Runner V2 is the default for dense,
    /// non-hybrid generative models, PR #44443; MoE and hybrid models keep
    /// the V1 runner and this profile's own fields): applied by
    /// [`EngineSpec::for_model`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dense_runner: Option<DenseRunner>,
    /// A KV budget per GPU given by the user (`--kv-cache-memory`, vLLM PR
    /// #21489), bytes: replaces the memory-fraction rule when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_memory_bytes: Option<u64>,
    /// How the default memory fraction is chosen (SGLang ≥ 0.5: a reserve
    /// tiered by GPU memory); `fixed` = `memory_fraction` / `_by_tp`.
    #[serde(default)]
    pub fraction_rule: FractionRule,
    /// Largest decode context parallelism (`-dcp`) the engine supports;
    /// 1 = none.
    #[serde(default = "one")]
    pub max_dcp: u64,
    /// Padding of MXFP4 routed experts by GPU, first matching rule wins
    /// (empty: the checkpoint's shapes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mxfp4_moe_padding: Vec<Mxfp4Padding>,
    /// Provenance of the profile's constants FITTED to measured serving runs
    /// (which fields, on what data, by what method, with what error in and
    /// out of sample); informational, read by no formula.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fitted: Vec<FittedConstants>,
    /// Per-step costs that differ on one GPU vendor's software stack (SGLang
    /// on ROCm runs DeepSeek's decode steps several times slower than on CUDA):
    /// applied by [`EngineSpec::for_platform`] when the GPU's vendor matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platform_overrides: Vec<PlatformOverride>,
}

/// Engine constants for GPUs of one vendor (`amd`), replacing the profile's
/// where set; FITTED values carry their record in the profile's `fitted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformOverride {
    /// GPU vendor as the GPU specs spell it (`amd`).
    pub vendor: String,
    /// What the override is and where its values come from, shown with the estimate.
    pub note: String,
    /// Replaces `decode_overhead_per_step_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_overhead_per_step_seconds: Option<f64>,
    /// Replaces `decode_overhead_per_layer_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_overhead_per_layer_seconds: Option<f64>,
    /// Replaces the scheduler's `request_overhead_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_overhead_seconds: Option<f64>,
    /// Replaces the scheduler's `eager_overhead_per_layer_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eager_overhead_per_layer_seconds: Option<f64>,
    /// Replaces the scheduler's `prefill_compute_scale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_compute_scale: Option<f64>,
}

/// Which top-k/top-p implementation vLLM's V1 sampler runs, which decides
/// the memory its start-up warm-up takes (`vllm/v1/sample/ops/topk_topp_sampler.py`):
/// FlashInfer's sampling kernel (PR #11394; used when FlashInfer is installed
/// until PR #26859 made it opt-in with `VLLM_USE_FLASHINFER_SAMPLER=1`) or the
/// PyTorch path that sorts the whole vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampler {
    /// FlashInfer's kernel: no vocabulary sort; the warm-up is the logits.
    Flashinfer,
    /// PyTorch-native top-k/top-p: the sort's copies peak as their own phase.
    Pytorch,
}

impl Sampler {
    /// Parse a `--sampler` value, naming the flag when it is wrong.
    pub fn parse(t: &str) -> Result<Sampler> {
        match t.trim().to_ascii_lowercase().as_str() {
            "flashinfer" => Ok(Sampler::Flashinfer),
            "pytorch" | "torch" => Ok(Sampler::Pytorch),
            other => Err(Error::input(
                "sampler",
                format!("unknown sampler `{other}`: use flashinfer (FlashInfer installed and VLLM_USE_FLASHINFER_SAMPLER on) or pytorch (the PyTorch-native top-k/top-p path)"),
            )),
        }
    }

    /// The flag's spelling.
    pub fn flag(self) -> &'static str {
        match self {
            Sampler::Flashinfer => "flashinfer",
            Sampler::Pytorch => "pytorch",
        }
    }
}

/// The fields a second model runner changes for the models it runs (vLLM
/// Model Runner V2 for dense models since 0.25.0), replacing the profile's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseRunner {
    /// What the runner is and where its arithmetic comes from, shown with
    /// the estimate when it applies.
    pub note: String,
    /// Replaces `sampler_logits_copies`: fp32-equivalent copies of the
    /// max_num_seqs × vocabulary logits alive at the sampler warm-up's peak.
    pub sampler_logits_copies: f64,
    /// Replaces `sampler_keeps_forward_output`.
    pub sampler_keeps_forward_output: bool,
    /// Replaces `cuda_graph_in_budget` (Model Runner V2's
    /// `profile_cudagraph_memory` returns 0 before PR #53306).
    pub cuda_graph_in_budget: bool,
}

/// One modelled version of an engine, as listings show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineVersionInfo {
    /// The id to pin it: `vllm@0.26`.
    pub id: String,
    /// Releases covered, e.g. "0.26.0–0.27.x".
    pub releases: String,
    /// What changed against the previous version.
    pub changes: Vec<String>,
    /// Source files and PRs of this version.
    pub sources: Vec<String>,
}

/// One version file, `profiles/engines/<engine>/<version>.yaml`: the
/// releases it covers, its sources, what changed, and the profile fields
/// that differ from the previous version (the oldest version's base is
/// `profiles/engines/<engine>.yaml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineVersionFile {
    /// Engine name (`vllm`).
    pub engine: String,
    /// The version id typed after `@` (`0.26`): the first release covered.
    pub version: String,
    /// Last release covered, as a prefix (`0.27` covers every 0.27.x).
    pub last: String,
    /// Display name of this version.
    pub display_name: String,
    /// Source files and PRs this version's arithmetic follows.
    pub sources: Vec<String>,
    /// What changed against the previous version modelled.
    pub changes: Vec<String>,
    /// Profile fields that differ from the previous version, by their YAML
    /// names (any `EngineSpec` field).
    #[serde(default)]
    pub overrides: serde_json::Map<String, serde_json::Value>,
}

/// A release number as numbers (`0.11.2` → [0, 11, 2]); `None` when a part
/// is not a number.
pub fn parse_release(v: &str) -> Option<Vec<u64>> {
    let v = v.trim().trim_start_matches('v');
    if v.is_empty() {
        return None;
    }
    v.split('.')
        .map(|p| p.trim_end_matches(".x").parse::<u64>().ok())
        .collect()
}

impl EngineVersionFile {
    /// Whether release `wanted` (already parsed) falls in this version's
    /// range: not before `version` and not after `last`, each compared on
    /// the parts both numbers give (`0.27` covers 0.27.9; `0.5` meets a
    /// range starting at 0.5.3).
    pub fn covers(&self, wanted: &[u64]) -> bool {
        let (Some(first), Some(last)) = (parse_release(&self.version), parse_release(&self.last))
        else {
            return false;
        };
        let cmp = |a: &[u64], b: &[u64]| {
            let n = a.len().min(b.len());
            a[..n].cmp(&b[..n])
        };
        cmp(wanted, &first).is_ge() && cmp(wanted, &last).is_le()
    }

    /// "0.26.0–0.27.x" for listings.
    pub fn releases(&self) -> String {
        let first = if self.version.matches('.').count() >= 2 {
            self.version.clone()
        } else {
            format!("{}.0", self.version)
        };
        if self.last.matches('.').count() >= 2 {
            format!("{first}–{}", self.last)
        } else {
            format!("{first}–{}.x", self.last)
        }
    }
}

/// How an engine picks its memory fraction when the user gives none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FractionRule {
    /// `memory_fraction` (or the `memory_fraction_by_tp` table).
    #[default]
    Fixed,
    /// SGLang ≥ 0.5 (`server_args.py` memory reserve): reserved MiB from the
    /// GPU's memory, the prefill chunk and the CUDA-graph batch; the
    /// fraction is `(gpu − reserved) / gpu`.
    SglangTieredReserve,
}

/// SGLang's tiered defaults by GPU memory: (chunked prefill size, CUDA-graph
/// max batch below TP 4, CUDA-graph max batch at TP ≥ 4) for a GPU of
/// `gpu_mib` MiB (sgl-project/sglang PR #10975, `server_args.py`
/// `_handle_gpu_memory_settings`, v0.5.x).
pub fn sglang_tier(gpu_mib: f64) -> (u64, u64, u64) {
    if gpu_mib < 20.0 * 1024.0 {
        (2048, 8, 8)
    } else if gpu_mib < 35.0 * 1024.0 {
        (2048, 24, 80)
    } else if gpu_mib < 60.0 * 1024.0 {
        (4096, 32, 160)
    } else if gpu_mib < 160.0 * 1024.0 {
        (8192, 256, 512)
    } else {
        (16384, 512, 512)
    }
}

/// SGLang ≥ 0.5's default `cuda_graph_max_bs` on a GPU of `gpu_mib` MiB at
/// tensor-parallel size `tp` (`sglang_tier`): the graphs it captures and the
/// batch its memory reserve counts.
pub fn sglang_cuda_graph_max_bs(gpu_mib: f64, tp: u64) -> u64 {
    let (_, bs, bs_tp4) = sglang_tier(gpu_mib);
    if tp >= 4 {
        bs_tp4
    } else {
        bs
    }
}

/// The launch settings SGLang ≥ 0.5's reserved-memory rule reads, kept
/// together so the rule and the fraction derived from it take one argument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SglangLaunch {
    /// Chunked-prefill size (`chunked_prefill_size`), tokens.
    pub chunk: u64,
    /// Tensor-parallel degree.
    pub tp: u64,
    /// Pipeline-parallel degree.
    pub pp: u64,
    /// DP-attention degree (1 without DP attention).
    pub dp_attention: u64,
    /// An EAGLE/MTP draft model runs beside the target.
    pub speculative: bool,
}

/// SGLang ≥ 0.5 reserved memory, MiB (same source as `sglang_tier`): 512 + 1.5 × max(chunk,
/// 2048) + 2 per CUDA-graph batch + tp × pp / 8 × 1024; with DP attention
/// 3 × max_bs × dp more (and 1.5 × max_bs × dp more above a max batch of
/// 300); at least 10 GiB on GPUs above 60 GiB; + 2 GiB for an EAGLE/MTP
/// draft.
pub fn sglang_reserved_mib(gpu_mib: f64, launch: &SglangLaunch) -> f64 {
    let SglangLaunch {
        chunk,
        tp,
        pp,
        dp_attention,
        speculative,
    } = *launch;
    let max_bs = sglang_cuda_graph_max_bs(gpu_mib, tp) as f64;
    let mut reserved = 512.0 + 1.5 * chunk.max(2048) as f64 + 2.0 * max_bs;
    reserved += (tp * pp) as f64 / 8.0 * 1024.0;
    if dp_attention > 1 {
        let dp = dp_attention as f64;
        reserved += 3.0 * max_bs * dp;
        if max_bs > 300.0 {
            reserved += 1.5 * max_bs * dp;
        }
    }
    if gpu_mib > 60.0 * 1024.0 {
        reserved = reserved.max(10.0 * 1024.0);
    }
    if speculative {
        reserved += 2.0 * 1024.0;
    }
    reserved
}

/// SGLang ≥ 0.5 default `mem_fraction_static`: `(gpu − reserved) / gpu`,
/// rounded to 3 decimals as the engine does.
pub fn sglang_tiered_fraction(gpu_bytes: u64, launch: &SglangLaunch) -> f64 {
    let gpu_mib = gpu_bytes as f64 / (1u64 << 20) as f64;
    let r = sglang_reserved_mib(gpu_mib, launch);
    ((gpu_mib - r) / gpu_mib * 1000.0).round() / 1000.0
}

/// SGLang's reduction of its automatic `mem_fraction_static` for a model
/// with a vision tower, to leave room for the image encoder
/// (sgl-project/sglang `python/sglang/srt/server_args.py`
/// `adjust_mem_fraction_for_vlm`, v0.5.x; applied only when the launch does
/// not set the fraction, and not with `--language-only`): the tower's
/// `layers × width²` against a ViT-L/14's `24 × 1024²`, 10% less per 100%
/// more, clamped to [0.8, 1.05], times 0.95.
pub fn sglang_vlm_fraction_factor(t: super::model::VisionTowerShape) -> f64 {
    let score = |v: super::model::VisionTowerShape| {
        v.num_hidden_layers as f64 * (v.hidden_size as f64).powi(2)
    };
    let ratio = score(t) / score(super::model::VisionTowerShape::VIT_L14);
    0.95 * (1.0 - 0.1 * (ratio - 1.0)).clamp(0.8, 1.05)
}

/// One set of engine-profile constants fitted to measurements: the record a
/// reader needs to judge them (docs/silicon.md has the tables).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedConstants {
    /// Profile fields set by this fit (dotted paths, e.g. `scheduler.request_overhead_seconds`).
    pub fields: Vec<String>,
    /// Which engine versions use these values, and whether the data came
    /// from those versions' releases (the values live in every versioned
    /// profile they apply to).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub applies_to: String,
    /// The measurements, with their public source.
    pub data: String,
    /// How the values were found.
    pub method: String,
    /// Error on the fitted data.
    pub in_sample: String,
    /// Error on data the fit did not see.
    pub out_of_sample: String,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
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

fn state_pool_ratio() -> f64 {
    0.9
}

fn fp8_ds_mla() -> u64 {
    crate::memory::hybrid::FP8_DS_MLA_BYTES
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
        if e.fraction_rule == FractionRule::SglangTieredReserve {
            // chunked_prefill_size follows the GPU's memory tier.
            e.max_num_batched_tokens = sglang_tier(gpu_memory_bytes as f64 / (1u64 << 20) as f64).0;
        }
        e
    }

    /// This profile as it runs `model`: the dense runner's fields where the
    /// engine runs the model on it (no routed experts, no linear-attention or
    /// Mamba layers), with its note; the profile unchanged otherwise.
    pub fn for_model(&self, model: &super::model::ModelSpec) -> (EngineSpec, Option<String>) {
        use super::model::LayerType;
        let mut e = self.clone();
        let Some(r) = e.dense_runner.take() else {
            return (e, None);
        };
        let hybrid = model
            .layer_pattern
            .iter()
            .any(|t| matches!(t, LayerType::Linear | LayerType::Mamba));
        if model.moe.is_some() || hybrid {
            return (e, None);
        }
        e.sampler_logits_copies = Some(r.sampler_logits_copies);
        e.sampler_keeps_forward_output = r.sampler_keeps_forward_output;
        e.cuda_graph_in_budget = r.cuda_graph_in_budget;
        (e, Some(r.note))
    }

    /// The (expert width, hidden size, down projection's hidden size)
    /// multiples this engine pads MXFP4 routed experts to on a GPU of `arch`
    /// named `gpu_name`, if any.
    pub fn mxfp4_padding_for(
        &self,
        arch: super::dtype::Arch,
        gpu_name: &str,
    ) -> Option<(u64, u64, u64)> {
        self.mxfp4_moe_padding
            .iter()
            .find(|r| {
                r.arch.contains(&arch)
                    && (r.gpu_names.is_empty()
                        || r.gpu_names.iter().any(|n| n.eq_ignore_ascii_case(gpu_name)))
            })
            .map(|r| {
                let h = r.hidden_multiple.max(1);
                (
                    r.intermediate_multiple.max(1),
                    h,
                    r.down_hidden_multiple.unwrap_or(h).max(1),
                )
            })
    }

    /// This profile as it runs on `gpu`: [`EngineSpec::for_gpu`] plus the
    /// overrides for the GPU's vendor, with a note for each one applied.
    pub fn for_platform(&self, gpu: &super::gpu::GpuSpec) -> (EngineSpec, Vec<String>) {
        let mut e = self.for_gpu(&gpu.name, gpu.memory_bytes);
        let mut notes = Vec::new();
        for o in &self.platform_overrides {
            if !o.vendor.eq_ignore_ascii_case(&gpu.vendor) {
                continue;
            }
            if let Some(v) = o.decode_overhead_per_step_seconds {
                e.decode_overhead_per_step_seconds = v;
            }
            if let Some(v) = o.decode_overhead_per_layer_seconds {
                e.decode_overhead_per_layer_seconds = v;
            }
            let scheduler_set = o.request_overhead_seconds.is_some()
                || o.eager_overhead_per_layer_seconds.is_some()
                || o.prefill_compute_scale.is_some();
            if scheduler_set {
                e.override_scheduler(|sp| {
                    if let Some(v) = o.request_overhead_seconds {
                        sp.request_overhead_seconds = v;
                    }
                    if let Some(v) = o.eager_overhead_per_layer_seconds {
                        sp.eager_overhead_per_layer_seconds = v;
                    }
                    if let Some(v) = o.prefill_compute_scale {
                        sp.prefill_compute_scale = v;
                    }
                });
            }
            notes.push(o.note.clone());
        }
        (e, notes)
    }

    /// Change some of the scheduler's knobs (the profile's, or the generic
    /// scheduler's where it has none) and keep the result as this profile's.
    pub fn override_scheduler(&mut self, change: impl FnOnce(&mut SchedulerSpec)) {
        let mut sp = self.scheduler_spec();
        change(&mut sp);
        self.scheduler = Some(sp);
    }

    /// The scheduler the serving simulator runs for this engine, its CUDA
    /// graphs extended to `max_num_seqs` where the engine captures them so.
    pub fn scheduler_spec(&self) -> SchedulerSpec {
        self.scheduler
            .clone()
            .unwrap_or_else(SchedulerSpec::generic)
            .with_graphs_to(self.max_num_seqs)
    }

    /// The scheduler as it runs on a GPU of `gpu_memory_bytes` (the spec's
    /// figure, as for the memory tiers) at tensor-parallel size `tp`: SGLang
    /// ≥ 0.5 captures decode graphs only up to its tiered `cuda_graph_max_bs`
    /// (`sglang_tier`, the value its memory reserve already counts).
    pub fn scheduler_on(&self, gpu_memory_bytes: u64, tp: u64) -> SchedulerSpec {
        let sched = self.scheduler_spec();
        if self.fraction_rule != FractionRule::SglangTieredReserve {
            return sched;
        }
        sched.with_graphs_up_to(sglang_cuda_graph_max_bs(
            gpu_memory_bytes as f64 / (1u64 << 20) as f64,
            tp,
        ))
    }

    /// The memory fraction this engine uses by default on a GPU of
    /// `gpu_memory_bytes` with `tp` × `pp` ranks, `dp_attention` attention
    /// replicas sharing experts (1 = none) and a speculative draft or not.
    pub fn fraction_for(
        &self,
        gpu_memory_bytes: u64,
        tp: u64,
        pp: u64,
        dp_attention: u64,
        speculative: bool,
    ) -> f64 {
        match self.fraction_rule {
            FractionRule::Fixed => self.default_fraction(tp),
            FractionRule::SglangTieredReserve => sglang_tiered_fraction(
                gpu_memory_bytes,
                &SglangLaunch {
                    chunk: self.max_num_batched_tokens,
                    tp,
                    pp,
                    dp_attention,
                    speculative,
                },
            ),
        }
    }

    /// The id that pins this profile: `vllm@0.26` (`vllm` when unversioned).
    pub fn id(&self) -> String {
        if self.releases.is_empty() {
            self.name.clone()
        } else {
            format!("{}@{}", self.name, self.version)
        }
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
