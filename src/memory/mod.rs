//! Memory per GPU: weights shard, KV cache, activations and engine overhead,
//! and the engine's own start-up arithmetic that turns what is left into a KV
//! pool (`kv_budget_bytes`, `kv_cache_tokens`).

pub mod activations;
pub mod hybrid;
pub mod kv;
pub mod weights;

use crate::scenario::Scenario;
use crate::spec::dtype::WeightFormat;
use crate::spec::engine::BudgetRule;
use kv::KvLayout;
use std::ops::Range;
use weights::{layer_kinds, mtp_tensors, outer_tensors, quantizes_dense, Split, Tensor};

/// Layers of each pipeline stage, as vLLM's `get_pp_indices`
/// (vllm/distributed/utils.py) assigns them: an even split, with the
/// remainder going to the stages just before the last one (the last stage
/// also holds the norm and lm_head).
pub fn pp_layer_ranges(num_layers: u64, pp: u64) -> Vec<Range<u64>> {
    let pp = pp.max(1);
    let base = num_layers / pp;
    let mut parts = vec![base; pp as usize];
    let rem = (num_layers % pp) as usize;
    for i in 2..rem + 2 {
        let idx = parts.len() - i.min(parts.len());
        parts[idx] += 1;
    }
    let mut start = 0;
    parts
        .into_iter()
        .map(|n| {
            let r = start..start + n;
            start += n;
            r
        })
        .collect()
}

/// One pipeline stage's memory on its largest GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct StageMemory {
    /// Stage index.
    pub stage: u64,
    /// Decoder layers held.
    pub layers: Range<u64>,
    /// Weight bytes on one GPU of the stage (the GPU with the most experts).
    pub weights_bytes: u64,
    /// Parameters on that GPU.
    pub params: u64,
    /// Routed experts per MoE layer on that GPU.
    pub experts_per_gpu: u64,
    /// KV layout of the stage on one GPU.
    pub kv: KvLayout,
    /// KV bytes of the workload on one GPU.
    pub kv_cache_bytes: u64,
    /// Activation peak on one GPU.
    pub activation_bytes: u64,
    /// Engine overhead (non-torch, NCCL, CUDA graphs) on one GPU.
    pub overhead_bytes: u64,
    /// The KV pool the engine allocates on one GPU: what its start-up
    /// arithmetic leaves for it (negative: weights and overheads alone exceed
    /// the engine's budget), or more where it sizes the pool with fewer bytes
    /// per token than it stores (`kv_pool_over_budget_bytes`).
    pub kv_budget_bytes: i128,
    /// Bytes by which the allocated pool exceeds the engine's own budget,
    /// taken out of the reserve it keeps for activations and CUDA graphs
    /// (SGLang with an fp8 DSA cache, `allocated_kv_pool`); 0 elsewhere.
    pub kv_pool_over_budget_bytes: u64,
}

impl StageMemory {
    /// Weights + KV + activations + overhead.
    pub fn total_bytes(&self) -> u64 {
        self.weights_bytes + self.kv_cache_bytes + self.activation_bytes + self.overhead_bytes
    }
}

/// The memory side of an estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryPlan {
    /// Every pipeline stage.
    pub stages: Vec<StageMemory>,
    /// Index of the stage whose GPU is tightest (least KV headroom).
    pub binding: usize,
    /// GPU memory, bytes.
    pub capacity_bytes: u64,
    /// What the engine allows itself (capacity × memory fraction).
    pub budget_bytes: u64,
    /// The memory fraction used.
    pub memory_fraction: f64,
    /// KV bytes one token costs on the binding GPU (all its layers, block rounding excluded).
    pub kv_bytes_per_token_gpu: u64,
    /// KV bytes per token for the whole model, one replica.
    pub kv_bytes_per_token_model: u64,
    /// Tokens the deployment's KV pools hold (all replicas), as engines log at start-up.
    pub kv_cache_tokens: u64,
    /// Largest batch at the workload's context.
    pub max_batch: u64,
    /// Largest context at the workload's batch, limited by memory only.
    pub max_context_memory: u64,
    /// Largest context: memory limit and the model's own maximum.
    pub max_context: u64,
    /// Whether the workload fits.
    pub fits: bool,
    /// Why it does or does not fit, one line each.
    pub verdict: Vec<String>,
}

impl MemoryPlan {
    /// The binding stage.
    pub fn binding_stage(&self) -> &StageMemory {
        &self.stages[self.binding]
    }
}

/// Weight bytes and params of `tensors` on one rank of `tp`.
fn shard(s: &Scenario, tensors: &[Tensor], tp: u64, qd: bool) -> (u64, u64) {
    let f = s.deployment.weights;
    let nat = s.model.native_dtype;
    tensors.iter().fold((0, 0), |(b, p), t| {
        let (o, i) = t.shard_shape(tp);
        (b + t.shard_bytes(tp, f, nat, qd), p + o * i)
    })
}

/// Weight bytes and params of one routed expert's `tensors` on one rank of
/// `tp`, in the shapes the engine allocates: MXFP4 experts padded to its MoE
/// kernel's tile on this GPU (`EngineSpec::mxfp4_moe_padding`); params stay
/// the checkpoint's.
fn expert_shard(s: &Scenario, tensors: &[Tensor], tp: u64, qd: bool) -> (u64, u64) {
    let d = &s.deployment;
    let pad = if d.weights == WeightFormat::Mxfp4 {
        d.engine
            .mxfp4_padding_for(s.cluster.gpu.arch, &s.cluster.gpu.name)
    } else {
        None
    };
    let Some((pi, ph, phd)) = pad else {
        return shard(s, tensors, tp, qd);
    };
    let h = s
        .model
        .moe
        .as_ref()
        .and_then(|m| m.latent_size)
        .unwrap_or(s.model.hidden_size);
    let up = |x: u64, m: u64| x.div_ceil(m) * m;
    let nat = s.model.native_dtype;
    tensors.iter().fold((0, 0), |(b, p), t| {
        let (o, i) = t.shard_shape(tp);
        // The split axis is the expert width; the other one, when it is the
        // hidden size, is padded to the hidden multiple.
        let (po, pi_) = match t.split {
            Split::Rows => (up(o, pi), if i == h { up(i, ph) } else { i }),
            Split::Cols => (if o == h { up(o, phd) } else { o }, up(i, pi)),
            _ if o == h && i == 1 => (up(o, phd), i),
            _ => (o, i),
        };
        let padded = Tensor {
            out: po,
            inp: pi_,
            split: Split::Replicated,
            ..t.clone()
        };
        (b + padded.shard_bytes(1, d.weights, nat, qd), p + o * i)
    })
}

/// Weights (bytes, params, experts per GPU) of one GPU in pipeline stage
/// `stage` holding `layers`: the GPU with the most experts when they do not
/// divide evenly.
pub fn stage_weights(s: &Scenario, stage: u64, layers: &Range<u64>) -> (u64, u64, u64) {
    let m = &s.model;
    let d = &s.deployment;
    let qd = quantizes_dense(m, d.weights);
    let (emb, final_norm, head) = outer_tensors(m);
    let (mut bytes, mut params) = (0u64, 0u64);
    let mut add = |(b, p): (u64, u64)| {
        bytes += b;
        params += p;
    };
    let last = stage + 1 == d.pp;
    if stage == 0 {
        add(shard(s, std::slice::from_ref(&emb), d.tp, qd));
        // The vision tower (Qwen3-VL, Qwen3.5) loads on the first stage, as vLLM runs
        // the encoder there; text decode never streams it.
        add(shard(s, &weights::vision_tensors(m), d.tp, qd));
    }
    if last {
        add(shard(s, &final_norm, d.tp, qd));
        match &head {
            Some(h) => add(shard(s, std::slice::from_ref(h), d.tp, qd)),
            // Tied head: the last stage needs its own copy when it is not stage 0.
            None if stage != 0 => add(shard(s, std::slice::from_ref(&emb), d.tp, qd)),
            None => {}
        }
    }
    let mut experts_per_gpu = 0;
    let moe_tp = s.moe_tp();
    for (l, n) in layer_kinds(m, layers.clone()) {
        let (b, p) = shard(s, &l.dense, d.tp, qd);
        add((b * n, p * n));
        if l.num_experts > 0 {
            let local = l.num_experts.div_ceil(d.ep);
            experts_per_gpu = experts_per_gpu.max(local);
            let (b, p) = expert_shard(s, &l.expert, moe_tp, qd);
            add((b * local * n, p * local * n));
        }
    }
    if last && d.mtp && m.mtp_layers > 0 {
        // MTP module lives with the head; its experts follow the same EP split.
        let t = mtp_tensors(m);
        let (b, p) = shard(s, &t, d.tp, qd);
        add((b * m.mtp_layers, p * m.mtp_layers));
    }
    (bytes, params, experts_per_gpu)
}

/// Overhead outside weights/KV/activations on one GPU: CUDA context,
/// non-torch memory, NCCL buffers (with any collective) and CUDA graphs.
pub fn overhead_bytes(s: &Scenario) -> u64 {
    let e = &s.deployment.engine;
    e.cuda_context_bytes + e.non_torch_bytes + nccl_bytes(s) + e.cuda_graph_bytes
}

fn nccl_bytes(s: &Scenario) -> u64 {
    let d = &s.deployment;
    let collective = d.tp > 1 || d.pp > 1 || d.ep > 1 || d.dp > 1;
    if collective {
        d.engine.nccl_bytes
    } else {
        0
    }
}

/// The memory fraction the engine applies in this scenario: the user's, or
/// the engine's default for this GPU, parallelism and draft model.
pub fn engine_fraction(s: &Scenario) -> f64 {
    let d = &s.deployment;
    let dp_attention = if d.ep > 1 { d.dp } else { 1 };
    let speculative = d.mtp && s.model.mtp_layers > 0;
    // SGLang's tiers read the GPU's size from nvidia-smi, not from CUDA's
    // total: the spec's figure.
    let f = d.engine.fraction_for(
        s.cluster.gpu.memory_bytes,
        d.tp,
        d.pp,
        dp_attention,
        speculative,
    );
    f * sglang_vision_adjustment(s).map_or(1.0, |(_, k)| k)
}

/// SGLang's lowering of its own (tiered) memory fraction for a model with a
/// vision tower: the tower as SGLang reads it and the factor
/// (`spec::engine::sglang_vlm_fraction_factor`); None for other engines,
/// an explicit fraction, or a text-only model.
pub fn sglang_vision_adjustment(
    s: &Scenario,
) -> Option<(crate::spec::model::VisionTowerShape, f64)> {
    (s.deployment.engine.fraction_rule == crate::spec::engine::FractionRule::SglangTieredReserve)
        .then(|| s.model.sglang_vision_tower_shape())
        .flatten()
        .map(|t| (t, crate::spec::engine::sglang_vlm_fraction_factor(t)))
}

/// The KV pool left on one GPU by the engine's start-up arithmetic.
fn kv_budget(s: &Scenario, capacity: u64, fraction: f64, weights: u64, activations: u64) -> i128 {
    let e = &s.deployment.engine;
    if let Some(b) = e.kv_cache_memory_bytes {
        // `--kv-cache-memory` (vLLM PR #21489): the pool is exactly this,
        // no profile-based budget.
        return b as i128;
    }
    let cap = capacity as i128;
    let (w, a) = (weights as i128, activations as i128);
    let ctx = e.cuda_context_bytes as i128;
    let non_torch = e.non_torch_bytes as i128 + nccl_bytes(s) as i128;
    let graphs = e.cuda_graph_bytes as i128;
    match e.budget_rule {
        // vLLM gpu_worker.determine_available_memory: requested (total × util)
        // − (weights + torch peak + non-torch increase). The CUDA context
        // predates the baseline snapshot, and graphs are captured after the
        // KV cache, so both come out of the (1 − util) headroom.
        // Since vLLM 0.21 the CUDA-graph estimate is taken out of the
        // budget too (`cuda_graph_in_budget`).
        BudgetRule::FractionOfTotal => {
            let g = if e.cuda_graph_in_budget { graphs } else { 0 };
            (capacity as f64 * fraction) as i128 - w - a - non_torch - g
        }
        // SGLang profile_max_num_token: free memory after weights (context and
        // NCCL already taken) − total × (1 − mem_fraction_static); activations
        // and graphs live in the reserved share.
        BudgetRule::StaticFraction => (capacity as f64 * fraction) as i128 - w - ctx - non_torch,
        // TRT-LLM: free_gpu_memory_fraction of what is free after weights,
        // activations and runtime buffers.
        BudgetRule::FractionOfFree => {
            (((cap - w - a - ctx - non_torch - graphs).max(0)) as f64 * fraction) as i128
        }
        // HF: whatever is left.
        BudgetRule::Dynamic => cap - w - a - ctx - non_torch - graphs,
    }
}

/// The KV pool the engine allocates from a `budget` of bytes on one GPU.
/// Where it sizes its token count with fewer bytes per token than it stores
/// (SGLang, a DSA model, an fp8 cache: a 576-byte latent sized, a 656-byte
/// fp8_ds_mla row stored, `EngineSpec::mla_sparse_fp8_sizing_bytes_per_token_layer`),
/// the pool is the token count it sizes times the bytes it stores, above the
/// budget; otherwise the budget itself.
pub fn allocated_kv_pool(s: &Scenario, kv: &KvLayout, budget: i128) -> i128 {
    let Some(sized_latent) = s
        .deployment
        .engine
        .mla_sparse_fp8_sizing_bytes_per_token_layer
    else {
        return budget;
    };
    if budget <= 0
        || s.model.indexer.is_none()
        || s.model.compressed_attention.is_some()
        || kv.dtype != crate::spec::dtype::KvDtype::Fp8
    {
        return budget;
    }
    let stored = kv.bytes_per_token();
    let sized: u64 = kv
        .layers
        .iter()
        .map(|l| match *l {
            kv::KvLayer::Mla { indexer_bytes, .. } => sized_latent + indexer_bytes,
            ref other => other.bytes_per_token(kv.dtype),
        })
        .sum();
    if sized == 0 || sized >= stored {
        return budget;
    }
    let block = kv.block_size.max(1) as u128;
    let tokens = budget as u128 / (sized as u128 * block) * block;
    (tokens * stored as u128).min(i128::MAX as u128) as i128
}

/// The layer an MTP module caches like: the model's last attention layer
/// (a Nemotron-H model ends in an MoE-only block; its MTP block has
/// attention, `mtp_hybrid_override_pattern` "*E").
fn mtp_kv_layer(m: &crate::spec::model::ModelSpec) -> u64 {
    (0..m.num_layers)
        .rev()
        .find(|&i| {
            matches!(
                m.layer_type(i),
                crate::spec::model::LayerType::Full | crate::spec::model::LayerType::Sliding
            )
        })
        .unwrap_or(m.num_layers - 1)
}

/// Compute the memory plan of a (validated) scenario.
pub fn plan(s: &Scenario) -> MemoryPlan {
    let m = &s.model;
    let d = &s.deployment;
    let e = &d.engine;
    // Engines size their budgets from the total CUDA shows them.
    let capacity = s.cluster.gpu.engine_memory_bytes();
    let fraction = engine_fraction(s);
    let budget = (capacity as f64 * fraction) as u64;
    let overhead = overhead_bytes(s);
    let activations = activations::prefill_peak_bytes(s);
    let batch_local = s.batch_per_replica();
    let ctx = s.workload.context;
    // Decode context parallelism: each rank of a DCP group holds every
    // dcp-th token of a sequence (interleaved, vLLM PR #23734).
    let dcp = d.dcp.max(1);
    let local = |c: u64| c.div_ceil(dcp);
    let mut stages = Vec::new();
    let mtp_layers = if d.mtp { m.mtp_layers } else { 0 };
    let ranges = pp_layer_ranges(m.num_layers, d.pp);
    for (idx, r) in ranges.iter().enumerate() {
        let stage = idx as u64;
        let (w, p, epg) = stage_weights(s, stage, r);
        let mut kv = KvLayout::build(m, e, d.kv_dtype, d.tp, r.clone());
        if stage + 1 == d.pp && mtp_layers > 0 {
            // The MTP layer caches like the model's last attention layer (a
            // Nemotron-H model ends in an MoE-only block; its MTP block has
            // attention, `mtp_hybrid_override_pattern` "*E").
            let extra = kv::layer(m, e, d.tp, mtp_kv_layer(m));
            kv.layers
                .extend(std::iter::repeat_n(extra, mtp_layers as usize));
        }
        let kv_bytes = batch_local * kv.sequence_bytes(local(ctx));
        let budget = kv_budget(s, capacity, fraction, w, activations);
        let budget_kv = allocated_kv_pool(s, &kv, budget);
        stages.push(StageMemory {
            stage,
            layers: r.clone(),
            weights_bytes: w,
            params: p,
            experts_per_gpu: epg,
            kv,
            kv_cache_bytes: kv_bytes,
            activation_bytes: activations,
            overhead_bytes: overhead,
            kv_budget_bytes: budget_kv,
            kv_pool_over_budget_bytes: (budget_kv - budget).max(0) as u64,
        });
    }
    // The binding stage: the one that can hold the fewest sequences (hybrid
    // models: as the engine pages or pools their state, `KvLayout::sequences_fit`).
    let seqs_fit =
        |st: &StageMemory, c: u64| -> u64 { st.kv.sequences_fit(st.kv_budget_bytes, local(c)) };
    let binding = (0..stages.len())
        .min_by_key(|&i| seqs_fit(&stages[i], ctx))
        .unwrap_or(0);
    let max_batch = stages
        .iter()
        .map(|st| seqs_fit(st, ctx))
        .min()
        .unwrap_or(0)
        .saturating_mul(d.dp);
    // Largest context at this batch: binary search over the monotone sequence size.
    let fits_ctx = |c: u64| {
        stages.iter().all(|st| {
            if batch_local == 0 {
                st.kv_budget_bytes >= 0
            } else {
                seqs_fit(st, c) >= batch_local
            }
        })
    };
    let max_context_memory = if !fits_ctx(1) {
        0
    } else {
        let (mut lo, mut hi) = (1u64, 1u64 << 40);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if fits_ctx(mid) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    };
    let max_context = max_context_memory.min(m.max_context);
    let kv_bytes_per_token_gpu = stages[binding].kv.bytes_per_token();
    let mut full = KvLayout::build(m, e, d.kv_dtype, 1, 0..m.num_layers);
    if mtp_layers > 0 {
        // The whole model includes the MTP layers the deployment loads
        // (issue 17: with --mtp the whole-model figure was below the
        // per-GPU one).
        let extra = kv::layer(m, e, 1, mtp_kv_layer(m));
        full.layers
            .extend(std::iter::repeat_n(extra, mtp_layers as usize));
    }
    let kv_bytes_per_token_model = full.bytes_per_token();
    // Start-up capacity in tokens, as the engine logs it: blocks of all layers held.
    let kv_cache_tokens = stages
        .iter()
        .map(|st| st.kv.pool_tokens(st.kv_budget_bytes))
        .min()
        .unwrap_or(0)
        .saturating_mul(dcp)
        .saturating_mul(d.dp);

    let b = &stages[binding];
    let mut verdict = Vec::new();
    let mut fits = true;
    let fixed = b.weights_bytes + b.activation_bytes + b.overhead_bytes;
    if b.kv_budget_bytes <= 0 {
        fits = false;
        verdict.push(format!(
            "weights ({}) + activations ({}) + overhead ({}) = {} per GPU already exceed the engine's budget of {} ({:.0}% of {})",
            crate::units::gib(b.weights_bytes),
            crate::units::gib(b.activation_bytes),
            crate::units::gib(b.overhead_bytes),
            crate::units::gib(fixed),
            crate::units::gib(budget),
            fraction * 100.0,
            crate::units::gib(capacity)
        ));
    } else if let Some(slots) =
        b.kv.state_slots(b.kv_budget_bytes)
            .filter(|&n| batch_local > n)
    {
        fits = false;
        verdict.push(format!(
            "the engine's separate state pool holds {} sequences per replica ({} B of linear-attention / SSM state each) but the workload runs {} (max batch at this context: {})",
            slots,
            crate::units::thousands(b.kv.state_bytes_per_sequence()),
            batch_local,
            max_batch
        ));
    } else if batch_local > seqs_fit(b, ctx) {
        fits = false;
        verdict.push(format!(
            "the KV cache for {} × {} tokens needs {} per GPU but only {} is left for it (max batch at this context: {})",
            s.workload.batch,
            crate::units::thousands(ctx),
            crate::units::gib(b.kv_cache_bytes),
            crate::units::gib_signed(b.kv_budget_bytes),
            max_batch
        ));
    } else {
        verdict.push(format!(
            "fits: {} of KV for the workload within {} available per GPU (room for batch {} at this context)",
            crate::units::gib(b.kv_cache_bytes),
            crate::units::gib_signed(b.kv_budget_bytes),
            max_batch
        ));
    }
    if ctx > m.max_context {
        fits = false;
        verdict.push(format!(
            "context {} exceeds {}'s maximum of {} tokens",
            crate::units::thousands(ctx),
            m.display_name,
            crate::units::thousands(m.max_context)
        ));
    }
    if b.total_bytes() > capacity {
        fits = false;
    }
    let pool_total = b.weights_bytes as i128
        + b.kv_budget_bytes
        + b.activation_bytes as i128
        + b.overhead_bytes as i128;
    if b.kv_pool_over_budget_bytes > 0 && pool_total > capacity as i128 {
        fits = false;
        verdict.push(format!(
            "the engine sizes its KV pool with fewer bytes per token than it stores, so the pool ({}) overshoots its budget by {}: weights + pool + activations + overhead = {} exceed the GPU's {} and start-up runs out of memory; lower the memory fraction",
            crate::units::gib_signed(b.kv_budget_bytes),
            crate::units::gib(b.kv_pool_over_budget_bytes),
            crate::units::gib_signed(pool_total),
            crate::units::gib(capacity)
        ));
    }
    MemoryPlan {
        stages,
        binding,
        capacity_bytes: capacity,
        budget_bytes: budget,
        memory_fraction: fraction,
        kv_bytes_per_token_gpu,
        kv_bytes_per_token_model,
        kv_cache_tokens,
        max_batch,
        max_context_memory,
        max_context,
        fits,
        verdict,
    }
}

/// A stage's weights as the speed model needs them: what every decode step
/// streams (dense part) and what one routed expert costs on this GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WeightsSplit {
    /// Bytes of the non-expert weights a decode step reads on one GPU
    /// (attention, dense MLPs, shared experts, routers, norms, lm_head; the
    /// embedding table is only gathered, not streamed).
    pub dense_bytes: u64,
    /// Parameters behind `dense_bytes` (2 FLOPs each per token).
    pub dense_params: u64,
    /// Bytes of one routed expert's shard on one GPU.
    pub expert_bytes: u64,
    /// Parameters of one routed expert's shard.
    pub expert_params: u64,
    /// MoE layers in the stage.
    pub moe_layers: u64,
}

/// Split a stage's weights into the streamed dense part and per-expert cost.
pub fn layer_weights_split(s: &Scenario, st: &StageMemory) -> WeightsSplit {
    let m = &s.model;
    let d = &s.deployment;
    let qd = quantizes_dense(m, d.weights);
    let (emb, final_norm, head) = outer_tensors(m);
    let mut out = WeightsSplit::default();
    let mut add = |(b, p): (u64, u64)| {
        out.dense_bytes += b;
        out.dense_params += p;
    };
    if st.stage + 1 == d.pp {
        add(shard(s, &final_norm, d.tp, qd));
        add(shard(
            s,
            std::slice::from_ref(head.as_ref().unwrap_or(&emb)),
            d.tp,
            qd,
        ));
    }
    let moe_tp = s.moe_tp();
    for (l, n) in layer_kinds(m, st.layers.clone()) {
        let (b, p) = shard(s, &l.dense, d.tp, qd);
        add((b * n, p * n));
        if l.num_experts > 0 {
            let (b, p) = expert_shard(s, &l.expert, moe_tp, qd);
            out.expert_bytes = b;
            out.expert_params = p;
            out.moe_layers += n;
        }
    }
    out
}

/// Weights one speculative-decoding draft pass streams on one GPU of the
/// last stage (`perf::speculative`): one MTP module (eh_proj, its norms and
/// its decoder layer, of the model's last layer type) and the output head it
/// shares with the model and applies again; its routed experts as one
/// expert's shard, like a main layer's. Zero for a model without MTP.
pub fn mtp_pass_split(s: &Scenario) -> WeightsSplit {
    let m = &s.model;
    let d = &s.deployment;
    let qd = quantizes_dense(m, d.weights);
    let mut out = WeightsSplit::default();
    if m.mtp_layers == 0 {
        return out;
    }
    let (emb, _, head) = outer_tensors(m);
    let dense: Vec<Tensor> = mtp_tensors(m)
        .into_iter()
        .filter(|t| t.role != weights::Role::ExpertLinear)
        .chain(std::iter::once(head.unwrap_or(emb)))
        .collect();
    let (b, p) = shard(s, &dense, d.tp, qd);
    out.dense_bytes = b;
    out.dense_params = p;
    let last = m.num_layers.max(1) - 1;
    if let Some((l, _)) = layer_kinds(m, last..last + 1).into_iter().next() {
        if l.num_experts > 0 {
            let (b, p) = shard(s, &l.expert, s.moe_tp(), qd);
            out.expert_bytes = b;
            out.expert_params = p;
            out.moe_layers = 1;
        }
    }
    out
}

/// The maximum concurrency the engine logs at start-up for requests of
/// `len` tokens ("Maximum concurrency for N tokens per request"), per
/// engine replica, from the binding stage's pool.
///
/// vLLM (vllm/v1/core/kv_cache_utils.py
/// `get_max_concurrency_for_kv_cache_config`) divides the pool's blocks by
/// the blocks one request may hold in every layer: ⌈len / block⌉ in a
/// full-attention or MLA layer, and in a sliding-window layer
/// ⌈min(window − 1 + max_num_batched_tokens, len) / block⌉ + 1
/// (vllm/v1/kv_cache_interface.py `SlidingWindowSpec.max_memory_usage_bytes`:
/// chunked prefill keeps the window plus one scheduled chunk, and the window
/// may straddle a block). Without sliding layers that is the pool's tokens ÷
/// the length in whole blocks, which is also the rule used for every other
/// engine and for layouts with recurrent state.
pub fn logged_max_concurrency(s: &Scenario, plan: &MemoryPlan, len: u64) -> f64 {
    let e = &s.deployment.engine;
    let d = &s.deployment;
    let block = e.block_size.max(1);
    let tokens = plan.kv_cache_tokens / d.dp.max(1);
    let whole = len.max(1).div_ceil(block) * block;
    let simple = tokens as f64 / whole as f64;
    let st = plan.binding_stage();
    let kv = &st.kv;
    let sliding = kv
        .layers
        .iter()
        .any(|l| matches!(l, kv::KvLayer::Sliding { .. }));
    if e.name != "vllm" || !sliding || kv.state_bytes_per_sequence() > 0 || d.dcp > 1 {
        return simple;
    }
    let chunk = e.max_num_batched_tokens.max(1);
    let per_request: u64 = kv
        .layers
        .iter()
        .map(|l| {
            let blocks = match l {
                kv::KvLayer::Sliding { window, .. } => {
                    (window.saturating_sub(1) + chunk).min(len).div_ceil(block) + 1
                }
                _ => len.div_ceil(block),
            };
            blocks * block * l.bytes_per_token(kv.dtype)
        })
        .sum();
    if per_request == 0 || st.kv_budget_bytes <= 0 {
        return simple;
    }
    st.kv_budget_bytes as f64 / per_request as f64
}
