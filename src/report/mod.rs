//! The estimate as data (the stable JSON contract of docs/sources/design.md) and its
//! renderings: JSON, YAML, Markdown and the terminal table.

pub mod chart;
#[cfg(feature = "plot")]
pub mod plot;
pub mod series;
pub mod table;

use crate::estimate::Estimate;
use crate::plan::Recommendation;
use serde::Serialize;

/// Root of `estimate --format json`. Keys are stable: add, never rename.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// kvplan version that produced the report.
    pub kvplan_version: &'static str,
    /// The model and its parameter counts.
    pub model: ModelReport,
    /// The GPUs.
    pub gpus: GpuReport,
    /// How the model is laid out.
    pub deployment: DeploymentReport,
    /// The workload planned for.
    pub workload: WorkloadReport,
    /// KV cache sizes.
    pub kv_cache: KvReport,
    /// Memory on the binding (fullest) GPU, bytes.
    pub memory_per_gpu: MemoryReport,
    /// Every pipeline stage's GPU.
    pub stages: Vec<StageReport>,
    /// Whether the workload fits.
    pub fits: bool,
    /// Why it fits or not, one sentence each.
    pub verdict: Vec<String>,
    /// Capacity limits.
    pub limits: LimitsReport,
    /// Speed figures.
    pub performance: PerformanceReport,
    /// Recommended changes, best first.
    pub recommendations: Vec<Recommendation>,
    /// Assumptions behind the numbers.
    pub assumptions: Vec<String>,
    /// The serving simulation, when a workload (isl/osl) was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving: Option<crate::serving::ServingResult>,
}

/// Model section.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    /// Canonical id.
    pub name: String,
    /// Human name.
    pub display_name: String,
    /// Where the architecture comes from.
    pub source: String,
    /// Attention kind label.
    pub attention: String,
    /// Parameters, MTP excluded.
    pub params_total: u64,
    /// Parameters one token uses.
    pub params_active: u64,
    /// Embedding parameters.
    pub params_embedding: u64,
    /// MTP module parameters (not in params_total).
    pub params_mtp: u64,
    /// Vision-tower parameters kvplan counts (not in params_total; 0 when
    /// none is counted): their weights are in the per-GPU memory.
    pub params_vision: u64,
    /// Exact weight bytes of the whole model in the chosen format.
    pub weights_bytes_total: u64,
    /// Decoder layers.
    pub layers: u64,
    /// Model's maximum context.
    pub max_context: u64,
    /// The checkpoint's own format, if quantized.
    pub checkpoint_format: Option<String>,
    /// What was read about that format: where from, which linear layers stay
    /// 16-bit, KV quantization.
    pub checkpoint_layout: Option<String>,
}

/// GPU section.
#[derive(Debug, Clone, Serialize)]
pub struct GpuReport {
    /// Canonical GPU name.
    pub name: String,
    /// Marketing name.
    pub display_name: String,
    /// GPUs in all.
    pub count: u64,
    /// Nodes.
    pub nodes: u64,
    /// GPUs per node.
    pub gpus_per_node: u64,
    /// Memory per GPU used for planning.
    pub memory_bytes: u64,
}

/// Deployment section.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentReport {
    /// Weight format.
    pub weights_dtype: String,
    /// KV dtype.
    pub kv_dtype: String,
    /// Tensor parallel.
    pub tp: u64,
    /// Pipeline parallel.
    pub pp: u64,
    /// Expert parallel.
    pub ep: u64,
    /// Data parallel (attention replicas).
    pub dp: u64,
    /// Engine id.
    pub engine: String,
    /// Engine release followed.
    pub engine_version: String,
    /// Memory fraction used.
    pub memory_fraction: f64,
    /// What the fraction is of: `fraction_of_total` (vLLM),
    /// `static_fraction` (SGLang), `fraction_of_free` (TensorRT-LLM: of the
    /// memory free after weights and activations), `dynamic` (HF).
    pub budget_rule: crate::spec::engine::BudgetRule,
    /// KV block size in tokens; for a hybrid model under vLLM, the attention
    /// block after the hybrid manager raised it so a state fits one page.
    pub block_size: u64,
    /// Prefill chunk.
    pub max_num_batched_tokens: u64,
    /// MTP module loaded.
    pub mtp: bool,
    /// Decode context parallelism (1 = none).
    pub dcp: u64,
}

/// Workload section.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadReport {
    /// Tokens per sequence.
    pub context: u64,
    /// Concurrent sequences.
    pub batch: u64,
}

/// KV section.
#[derive(Debug, Clone, Serialize)]
pub struct KvReport {
    /// Whole model, one token, one replica, chosen dtype, all layers.
    pub bytes_per_token: u64,
    /// On the binding GPU, one token.
    pub bytes_per_token_per_gpu: u64,
    /// One sequence at the workload context on the binding GPU (window caps and blocks applied).
    pub bytes_per_sequence_per_gpu: u64,
    /// Fixed-size state of one sequence (linear-attention / SSM layers), whole
    /// model, logical bytes before any page padding; 0 for pure attention models.
    pub state_bytes_per_sequence: u64,
}

/// Memory section (binding GPU).
#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    /// Weight shard.
    pub weights_bytes: u64,
    /// KV cache of the workload.
    pub kv_cache_bytes: u64,
    /// Activation peak (estimate).
    pub activation_bytes: u64,
    /// CUDA context, non-torch, NCCL, CUDA graphs.
    pub overhead_bytes: u64,
    /// Sum of the four.
    pub total_bytes: u64,
    /// GPU memory.
    pub capacity_bytes: u64,
    /// Engine budget (capacity × memory fraction).
    pub budget_bytes: u64,
    /// KV pool the engine would allocate (0 when the rest does not even fit
    /// the budget; see `kv_shortfall_bytes`). Never negative: a deficit is
    /// not a quantity of memory.
    pub kv_budget_bytes: u64,
    /// How far weights + activations + overhead exceed the engine's budget
    /// (0 when a KV pool is left). Integer bytes ≥ 0.
    pub kv_shortfall_bytes: u64,
    /// Pipeline stage of this GPU.
    pub stage: u64,
    /// Routed experts per MoE layer on this GPU.
    pub experts_per_gpu: u64,
}

/// One stage.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    /// Stage index.
    pub stage: u64,
    /// First layer.
    pub first_layer: u64,
    /// Layers held.
    pub layers: u64,
    /// Weights per GPU.
    pub weights_bytes: u64,
    /// KV per GPU.
    pub kv_cache_bytes: u64,
    /// Total per GPU.
    pub total_bytes: u64,
    /// KV pool per GPU (0 when there is none; see `kv_shortfall_bytes`).
    pub kv_budget_bytes: u64,
    /// Bytes by which this stage's GPU misses its budget before any KV (≥ 0).
    pub kv_shortfall_bytes: u64,
}

/// Limits section.
#[derive(Debug, Clone, Serialize)]
pub struct LimitsReport {
    /// Largest batch at the workload context (memory: the KV pool).
    pub max_batch: u64,
    /// Most sequences the engine runs at once: `max_num_seqs` × DP (vLLM,
    /// SGLang, TRT-LLM queue the rest); null for engines without a
    /// scheduler (HF).
    pub max_batch_engine: Option<u64>,
    /// Largest context at the workload batch (memory and model limits).
    pub max_context: u64,
    /// Largest context by memory alone.
    pub max_context_memory: u64,
    /// Model's own limit.
    pub model_max_context: u64,
    /// Tokens the deployment's KV pools hold (as vLLM logs "GPU KV cache size").
    pub kv_cache_tokens: u64,
}

/// Performance section.
#[derive(Debug, Clone, Serialize)]
pub struct PerformanceReport {
    /// One decode step (all sequences advance by one token).
    pub decode_step_seconds: f64,
    /// Time per output token per request (= step / tokens per step).
    pub time_per_output_token_seconds: f64,
    /// Output tokens/s, whole deployment.
    pub decode_tokens_per_second: f64,
    /// Output tokens/s for one request.
    pub tokens_per_second_per_request: f64,
    /// Prefill of one request at the workload context.
    pub prefill_seconds: f64,
    /// Time to first token without queueing (= prefill + one decode step).
    pub ttft_seconds: f64,
    /// What bounds decode.
    pub decode_bound: String,
    /// What bounds prefill.
    pub prefill_bound: String,
    /// Bytes read per decode step on the binding GPU.
    pub decode_bytes_read: f64,
    /// Of which weights.
    pub decode_weight_bytes_read: f64,
    /// Of which KV.
    pub decode_kv_bytes_read: f64,
    /// FLOPs per decode step.
    pub decode_flops: f64,
    /// Memory term.
    pub decode_memory_seconds: f64,
    /// Compute term.
    pub decode_compute_seconds: f64,
    /// Communication term.
    pub decode_communication_seconds: f64,
    /// Overhead term.
    pub decode_overhead_seconds: f64,
    /// Distinct routed experts touched per MoE layer on a GPU.
    pub experts_touched_per_layer: f64,
    /// Memory efficiency used.
    pub memory_efficiency: f64,
    /// Matmul efficiency used.
    pub matmul_efficiency: f64,
    /// Source of the efficiencies.
    pub efficiency_source: String,
}

impl MemoryReport {
    /// The memory section of the binding GPU of `mem`.
    pub fn of(mem: &crate::memory::MemoryPlan) -> MemoryReport {
        let b = mem.binding_stage();
        MemoryReport {
            weights_bytes: b.weights_bytes,
            kv_cache_bytes: b.kv_cache_bytes,
            activation_bytes: b.activation_bytes,
            overhead_bytes: b.overhead_bytes,
            total_bytes: b.total_bytes(),
            capacity_bytes: mem.capacity_bytes,
            budget_bytes: mem.budget_bytes,
            kv_budget_bytes: pool_bytes(b.kv_budget_bytes),
            kv_shortfall_bytes: shortfall_bytes(b.kv_budget_bytes),
            stage: b.stage,
            experts_per_gpu: b.experts_per_gpu,
        }
    }
}

/// A signed KV pool as the JSON contract's pool: 0 when there is none.
fn pool_bytes(v: i128) -> u64 {
    v.clamp(0, u64::MAX as i128) as u64
}

/// A signed KV pool's deficit (how far the rest exceeds the budget), ≥ 0.
fn shortfall_bytes(v: i128) -> u64 {
    (-v).clamp(0, u64::MAX as i128) as u64
}

impl Report {
    /// Build the report of an estimate.
    pub fn new(e: &Estimate, recommendations: Vec<Recommendation>) -> Report {
        let s = &e.scenario;
        let m = &s.model;
        let d = &s.deployment;
        let mem = &e.memory;
        let b = mem.binding_stage();
        let p = &e.performance;
        // A signed pool becomes two non-negative integers: pool and shortfall.
        let pool = pool_bytes;
        let short = shortfall_bytes;
        // vLLM's hybrid manager raises the attention block until a state fits
        // one page: report the block it runs with.
        let block_size =
            b.kv.vllm_pages()
                .map_or(d.engine.block_size, |p| p.block_size);
        let mut assumptions = vec![
            "memory in GiB = 2^30 bytes (as nvidia-smi and engines print)".to_string(),
            format!("GPU memory {}: {}", crate::units::gib(s.cluster.gpu.memory_bytes), s.cluster.gpu.memory_bytes_source),
            format!(
                "{} {}: memory fraction {:.2}{}, block {} tokens, prefill chunk {} tokens{}",
                d.engine.display_name,
                d.engine.version,
                mem.memory_fraction,
                match d.engine.budget_rule {
                    crate::spec::engine::BudgetRule::FractionOfFree => " of the memory still free after weights, activations and runtime buffers (TensorRT-LLM free_gpu_memory_fraction; not of the whole GPU)",
                    crate::spec::engine::BudgetRule::FractionOfTotal => " of the whole GPU",
                    crate::spec::engine::BudgetRule::StaticFraction => " of the whole GPU (mem_fraction_static), less what is not free after weights",
                    crate::spec::engine::BudgetRule::Dynamic => " (no pool: the cache grows until memory runs out)",
                },
                block_size,
                d.engine.max_num_batched_tokens,
                if crate::plan::engine_batch_cap(s).is_some() {
                    format!(", at most {} sequences at once per replica (max_num_seqs)", d.engine.max_num_seqs)
                } else {
                    String::new()
                }
            ),
            "activation peak is an estimate (one layer's widest temporaries × tokens in flight + sampler logits), typically within ±30%".to_string(),
            format!(
                "speed: roofline with {:.0}% of datasheet memory bandwidth and {:.0}% of the matrix rate ({}), plus the engine's fixed decode cost ({:.2} ms per step + {:.0} µs per layer); TPOT excludes prefills interleaved by the engine and queueing",
                p.efficiency.memory * 100.0,
                p.efficiency.matmul * 100.0,
                p.efficiency.source,
                d.engine.decode_overhead_per_step_seconds * 1e3,
                d.engine.decode_overhead_per_layer_seconds * 1e6
            ),
        ];
        // SGLang lowers its automatic fraction for a model with a vision tower.
        if let Some((t, k)) = crate::memory::sglang_vision_adjustment(s) {
            assumptions.push(format!(
                "SGLang vision-model memory fraction: its tiered fraction {:.3} × {k:.4} for a vision tower of {} layers × width {} (server_args.py adjust_mem_fraction_for_vlm; not applied with --language-only or an explicit --mem-fraction-static)",
                mem.memory_fraction / k,
                t.num_hidden_layers,
                t.hidden_size
            ));
        }
        // vLLM's V1 sampler warm-up depends on which top-k/top-p path runs
        // (`--sampler`): say which one the pool assumes. Model Runner V2 (the
        // one runner whose warm-up keeps the forward output) samples without
        // top-k/top-p, so nothing to say there.
        if d.engine.torch_sampler_logits_copies.is_some() && !d.engine.sampler_keeps_forward_output
        {
            assumptions.push(match d.engine.sampler_logits_copies {
                Some(copies) => format!(
                    "sampler warm-up at start-up: vLLM's PyTorch top-k/top-p path, {copies} fp32 copies of {} × {} logits ({}); give --sampler flashinfer where FlashInfer's sampler is on (the log says \"Using FlashInfer for top-p & top-k sampling\")",
                    crate::memory::activations::sampler_rows(&d.engine),
                    s.model.vocab_size,
                    crate::units::gib(crate::memory::activations::sampler_warmup_bytes(s, copies)),
                ),
                None => "sampler warm-up at start-up: FlashInfer's top-k/top-p kernel (FlashInfer installed); give --sampler pytorch where the log says \"Falling back to the PyTorch-native implementation of top-p & top-k sampling\"".to_string(),
            });
        }
        // Past the engine's largest captured CUDA graph a decode step runs
        // eager: say so, since the step cost jumps there.
        let sched = d.engine.scheduler_on(s.cluster.gpu.memory_bytes, d.tp);
        if sched.recv_interval > 1 {
            assumptions.push(format!(
                "SGLang --scheduler-recv-interval {}: while the replica decodes, new requests are taken only every {} decode iterations (at once after a prefill or when idle), and the serving simulation counts that wait in TTFT",
                sched.recv_interval, sched.recv_interval
            ));
        }
        let per_replica = s.batch_per_replica().max(1);
        if !sched.cuda_graph_batch_sizes.is_empty() && sched.cuda_graph_size(per_replica).is_none()
        {
            assumptions.push(format!(
                "decode batch {per_replica} per replica is past the largest CUDA graph {}@{} captures ({}): every decode step runs eager (+{:.0} µs per layer){}",
                d.engine.name,
                d.engine.version,
                sched.cuda_graph_max_batch(),
                sched.eager_overhead_per_layer_seconds * 1e6,
                if d.engine.name == "sglang" {
                    format!("; --cuda-graph-max-bs {per_replica} on the launch captures it (more graph memory)")
                } else {
                    String::new()
                }
            ));
        }
        if let Some(v) = s.cluster.gpu.cuda_visible_bytes {
            assumptions.push(format!(
                "the engine sizes its budget from the {} CUDA shows ({})",
                crate::units::gib(v),
                s.cluster
                    .gpu
                    .cuda_visible_source
                    .as_deref()
                    .unwrap_or("measured")
            ));
        }
        if d.engine.cuda_graph_in_budget {
            assumptions.push(format!(
                "the CUDA-graph memory estimate ({}) comes out of the KV budget, as {} does at start-up",
                crate::units::gib(d.engine.cuda_graph_bytes),
                d.engine.display_name
            ));
        }
        if let Some(b) = d.engine.kv_cache_memory_bytes {
            assumptions.push(format!(
                "--kv-cache-memory: the KV pool is {} per GPU, no profile-based budget",
                crate::units::gib(b)
            ));
        }
        if d.dcp > 1 {
            assumptions.push(format!(
                "decode context parallelism {}: each GPU of a TP group keeps every {}-th token (KV capacity ×{}, per-GPU KV reads ÷{}); each attention layer adds an all-gather of the query heads and an exchange of partial outputs + LSE across the {} GPUs",
                d.dcp, d.dcp, d.dcp, d.dcp, d.dcp
            ));
        }
        if m.moe.is_some() {
            assumptions.push("MoE decode reads the experts the batch touches, uniform routing: E·(1−(1−k/E)^tokens)".into());
        }
        // MXFP4 expert padding can add a third to the expert bytes (a 384-wide
        // shard padded to 512): say which rule sized them.
        let mxfp4_pad = (m.moe.is_some() && d.weights == crate::spec::dtype::WeightFormat::Mxfp4)
            .then(|| {
                d.engine
                    .mxfp4_padding_for(s.cluster.gpu.arch, &s.cluster.gpu.name)
            })
            .flatten();
        if let Some((width, hidden, down_hidden)) = mxfp4_pad {
            assumptions.push(format!(
                "MXFP4 routed experts in the shapes {}@{} allocates on {} (expert width per rank rounded up to a multiple of {width}, hidden size to {hidden}, down projection's to {down_hidden}): from the engine's MoE kernel source; engine logs check this only for gpt-oss",
                d.engine.name, d.engine.version, s.cluster.gpu.name
            ));
        }
        if s.cluster.nodes > 1 {
            assumptions.push("inter-node links: 50 GB/s per GPU (one 400 Gb/s NIC per GPU)".into());
        }
        if m.attention.mla.is_some() {
            assumptions.push(format!(
                "MLA cache: {} (every TP rank holds the whole latent of its sequences)",
                match d.engine.mla_cache {
                    crate::spec::engine::MlaCache::Latent => "compressed latent + rope key",
                    crate::spec::engine::MlaCache::Decompressed => "decompressed per-head K/V",
                }
            ));
        }
        if d.mtp && m.mtp_layers > 0 && m.family.starts_with("minimax_m3") {
            // The checkpoint names `model.mtp.layers.{i}`; no public source says what
            // a module holds, and SGLang loads none of it.
            assumptions.push(format!(
                "MiniMax-M3's {} MTP modules counted as full MoE decoder layers, as for other MTP models (what a module holds is not published); SGLang's minimax_m3.py skips these weights and runs M3 without MTP, so this memory and draft speed-up apply only to an engine that loads them",
                m.mtp_layers
            ));
        }
        if m.norm.attention_residuals {
            // Kimi-K3: what the public sources leave open (docs/sources/models.md).
            assumptions.push("Kimi-K3 blocks as ml-explore/mlx-lm `kimi_k3.py` builds them (full-rank KDA output gate, MLA output gate, latent routed experts with their norm, attention residuals); attention-residual norms and hidden → 1 projections counted 16-bit, A_log as one value per KDA head (reimplementations report the checkpoint pads it to 128), the attention-residual block snapshots (one hidden vector per token per 12 layers during a prefill) not counted in the activations".into());
        }
        if e.params.vision > 0 {
            assumptions.push(format!(
                "vision tower counted from vision_config ({} params, bf16, on the first pipeline stage, split over TP as vLLM's default mm_encoder_tp_mode=weights); text decode does not read it; the encoder's activations for images/videos are not counted",
                crate::units::thousands(e.params.vision)
            ));
        }
        if m.vision_tower_uncounted {
            assumptions.push("the checkpoint's vision tower is not counted: weights, parameters and speed cover the language model only (kvplan counts the vision towers of Qwen3-VL and Qwen3.5/3.6 only)".into());
        }
        if let Some(c) = &m.compressed_attention {
            assumptions.push(format!(
                "DeepSeek-V4 compressed KV as vLLM caches it: every layer keeps the last {} tokens' entries ({} B each in fp8: fp8 NoPE + bf16 RoPE + ue8m0 scales), CSA layers one entry + an indexer key (132 B in fp8, 128 values otherwise) per 4 tokens, HCA layers one entry per 128; the compressors' fp32 state ({} B per sequence) is the fixed part; no page padding counted",
                c.window,
                crate::memory::kv::v4_fp8_entry_bytes(m.attention.head_dim, c.rope_head_dim),
                crate::units::thousands(m.state_bytes_per_sequence())
            ));
        }
        if let Some(ix) = m
            .indexer
            .as_ref()
            .filter(|_| m.compressed_attention.is_none())
        {
            let own = m.num_layers - ix.shared_layers.len() as u64;
            let per_layer = crate::memory::hybrid::indexer_key_bytes(ix.head_dim);
            match d.engine.mla_cache {
                crate::spec::engine::MlaCache::Latent => assumptions.push(format!(
                    "DSA indexer keys in the KV: {per_layer} B per token per layer ({} fp8 + fp32 scales, kept in fp8 whatever the KV dtype, replicated on every TP rank) on the {own} layers with their own indexer = {} B/token whole model; an fp8 latent is stored as fp8_ds_mla ({} B per token per layer)",
                    ix.head_dim,
                    crate::units::thousands(per_layer * own),
                    d.engine.mla_sparse_fp8_bytes_per_token_layer
                )),
                crate::spec::engine::MlaCache::Decompressed => assumptions.push(
                    "DSA indexer keys are not counted with a decompressed (per-head) MLA cache".into(),
                ),
            }
            if b.kv_pool_over_budget_bytes > 0 {
                assumptions.push(format!(
                    "{} sizes the token count of a DSA fp8 cache at {} B per latent per layer but stores {}-byte fp8_ds_mla rows: the pool it allocates ({} per GPU) is {} over its own budget, taken from the reserve for activations and CUDA graphs (logged on GLM-5-FP8, SGLang 0.5.8/0.5.9); set --mem-fraction-static lower if start-up runs out of memory",
                    d.engine.display_name,
                    d.engine
                        .mla_sparse_fp8_sizing_bytes_per_token_layer
                        .unwrap_or_default(),
                    d.engine.mla_sparse_fp8_bytes_per_token_layer,
                    crate::units::gib(b.kv_budget_bytes.max(0) as u64),
                    crate::units::gib(b.kv_pool_over_budget_bytes)
                ));
            }
        }
        if m.state_bytes_per_sequence() > 0 && m.compressed_attention.is_none() {
            let kv = &b.kv;
            let note = if let Some(p) = kv.vllm_pages() {
                format!(
                    "hybrid paging as vLLM's hybrid KV-cache manager: the attention block is raised to {} tokens so one page ({} B per layer) holds a layer's state ({} B logical per GPU, padded by {} B); layers in groups of {} ({} attention + {} state groups share one pool), each sequence takes one page per state group (no prefix caching of the state); `kv_cache_tokens` = blocks ÷ groups × block size, as vLLM reports it",
                    p.block_size,
                    crate::units::thousands(p.page_bytes),
                    crate::units::thousands(p.page_bytes - p.state_padding_bytes),
                    crate::units::thousands(p.state_padding_bytes),
                    p.group_size,
                    p.attention_groups,
                    p.state_groups
                )
            } else if let Some(slots) = kv.state_slots(b.kv_budget_bytes) {
                format!(
                    "hybrid pools as SGLang's: the state has its own pool, the cache memory split KV : state = 1 : {} (mamba_full_memory_ratio); {} state slots per GPU ({} B each) cap the running sequences; `kv_cache_tokens` is the KV pool's share",
                    d.engine.state_pool_ratio,
                    crate::units::thousands(slots),
                    crate::units::thousands(kv.state_bytes_per_sequence())
                )
            } else {
                "linear-attention / SSM state: logical bytes per sequence beside the KV, split over TP by heads; this engine's paging of the state is not modelled (no padding counted)".to_string()
            };
            assumptions.push(note);
        }
        Report {
            kvplan_version: env!("CARGO_PKG_VERSION"),
            model: ModelReport {
                name: m.name.clone(),
                display_name: m.display_name.clone(),
                source: m.source.clone(),
                attention: m.attention_label(),
                params_total: e.params.total,
                params_active: e.params.active,
                params_embedding: e.params.embedding,
                params_mtp: e.params.mtp,
                params_vision: e.params.vision,
                weights_bytes_total: e.weights_bytes_total,
                layers: m.num_layers,
                max_context: m.max_context,
                checkpoint_format: m.checkpoint_format.map(|f| f.name().to_string()),
                checkpoint_layout: m.checkpoint_layout.as_ref().map(|l| l.summary()),
            },
            gpus: GpuReport {
                name: s.cluster.gpu.name.clone(),
                display_name: s.cluster.gpu.display_name.clone(),
                count: s.cluster.total_gpus(),
                nodes: s.cluster.nodes,
                gpus_per_node: s.cluster.gpus_per_node,
                memory_bytes: s.cluster.gpu.memory_bytes,
            },
            deployment: DeploymentReport {
                weights_dtype: d.weights.name().into(),
                kv_dtype: d.kv_dtype.name().into(),
                tp: d.tp,
                pp: d.pp,
                ep: d.ep,
                dp: d.dp,
                engine: d.engine.name.clone(),
                engine_version: d.engine.version.clone(),
                memory_fraction: mem.memory_fraction,
                budget_rule: d.engine.budget_rule,
                block_size,
                max_num_batched_tokens: d.engine.max_num_batched_tokens,
                mtp: d.mtp,
                dcp: d.dcp,
            },
            workload: WorkloadReport {
                context: s.workload.context,
                batch: s.workload.batch,
            },
            kv_cache: KvReport {
                bytes_per_token: mem.kv_bytes_per_token_model,
                bytes_per_token_per_gpu: mem.kv_bytes_per_token_gpu,
                bytes_per_sequence_per_gpu: b.kv.sequence_bytes(s.workload.context),
                state_bytes_per_sequence: m.state_bytes_per_sequence(),
            },
            memory_per_gpu: MemoryReport::of(mem),
            stages: mem
                .stages
                .iter()
                .map(|st| StageReport {
                    stage: st.stage,
                    first_layer: st.layers.start,
                    layers: st.layers.end - st.layers.start,
                    weights_bytes: st.weights_bytes,
                    kv_cache_bytes: st.kv_cache_bytes,
                    total_bytes: st.total_bytes(),
                    kv_budget_bytes: pool(st.kv_budget_bytes),
                    kv_shortfall_bytes: short(st.kv_budget_bytes),
                })
                .collect(),
            fits: mem.fits,
            verdict: mem.verdict.clone(),
            limits: LimitsReport {
                max_batch: mem.max_batch,
                max_batch_engine: crate::plan::engine_batch_cap(&e.scenario),
                max_context: mem.max_context,
                max_context_memory: mem.max_context_memory,
                model_max_context: m.max_context,
                kv_cache_tokens: mem.kv_cache_tokens,
            },
            performance: PerformanceReport {
                decode_step_seconds: p.decode.seconds,
                time_per_output_token_seconds: p.decode.seconds / p.tokens_per_step,
                decode_tokens_per_second: p.decode_tokens_per_second,
                tokens_per_second_per_request: p.tokens_per_second_per_request,
                prefill_seconds: p.prefill_seconds,
                ttft_seconds: p.prefill_seconds
                    + p.decode.seconds
                    + e.scenario.deployment.engine.ttft_overhead_seconds,
                decode_bound: p.decode.bound.name().into(),
                prefill_bound: p.prefill_bound.name().into(),
                decode_bytes_read: p.decode.bytes_read,
                decode_weight_bytes_read: p.decode.weight_bytes_read,
                decode_kv_bytes_read: p.decode.kv_bytes_read,
                decode_flops: p.decode.flops,
                decode_memory_seconds: p.decode.memory_seconds,
                decode_compute_seconds: p.decode.compute_seconds,
                decode_communication_seconds: p.decode.communication_seconds,
                decode_overhead_seconds: p.decode.overhead_seconds,
                experts_touched_per_layer: p.decode.experts_touched_per_layer,
                memory_efficiency: p.efficiency.memory,
                matmul_efficiency: p.efficiency.matmul,
                efficiency_source: p.efficiency.source.clone(),
            },
            recommendations,
            assumptions,
            serving: None,
        }
    }
}
