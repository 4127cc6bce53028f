//! The one iteration-cost function. An engine iteration (a "step") runs one
//! forward pass over a batch that mixes prefill chunks (new prompt tokens
//! attending over their already-cached prefix) and decode sequences (one new
//! token each, attending over their whole context). Its cost on one replica:
//!
//! - weights read once per iteration (dense part always; for MoE, the
//!   distinct experts that all of the iteration's tokens touch),
//! - every decode sequence's KV read, and each chunk's prefix KV read,
//! - GEMM FLOPs of all tokens, attention FLOPs of the decode tokens over their
//!   contexts (absorbed MLA) and of the chunks over their prefixes and
//!   themselves (un-absorbed MLA, as engines prefill),
//! - tensor-parallel all-reduces, expert-parallel all-to-alls and pipeline
//!   hand-offs of all tokens,
//! - the engine's fixed per-iteration and per-layer costs.
//!
//! `decode_step_at` (a batch of decodes at one context) and `prefill_seconds`
//! (one prompt, chunk by chunk) are this function on special compositions.
//!
//! The batch is described by aggregates (`BatchComposition`), so the cost
//! does not grow with the number of sequences: the serving simulator keeps
//! these sums up to date as requests join, advance and leave.

use super::speculative::Speculation;
use super::{allreduce_seconds, kv_traffic, Bound, Efficiency};
use super::{COLLECTIVE_LATENCY_S, INTER_NODE_BYTES_PER_S};
use crate::memory::kv::{KvLayer, KvLayout};
use crate::memory::{layer_weights_split, mtp_pass_split, MemoryPlan, WeightsSplit};
use crate::scenario::Scenario;
use crate::spec::engine::DecodeCache;
use crate::spec::scheduler::SchedulerSpec;
use std::cell::Cell;

/// Attention pairs (query token, key token) of a causal chunk of `chunk`
/// tokens after `prefix` cached tokens, on a layer that attends to the last
/// `window` tokens (`u64::MAX`: the whole context): ∫ min(x, window) dx over
/// the chunk's positions (the continuous form, c·p + c²/2 on a full layer).
pub fn chunk_attention_pairs(chunk: u64, prefix: u64, window: u64) -> f64 {
    let (c, p, w) = (chunk as f64, prefix as f64, window as f64);
    if p + c <= w {
        c * p + c * c / 2.0
    } else if p >= w {
        c * w
    } else {
        (w * w - p * p) / 2.0 + w * (p + c - w)
    }
}

/// Matrix rate attention runs at, FLOP/s before efficiency: the 16-bit
/// tensor rate. Engines' prefill and decode attention kernels compute QKᵀ and
/// PV in bf16 whatever the weights (FlashAttention / FlashInfer prefill with
/// bf16 Q, K, V; an fp8 KV cache is dequantised on load; TensorRT-LLM's FMHA
/// in bf16 unless fp8 context FMHA is switched on), so an fp8 or fp4
/// checkpoint does not speed attention up the way it speeds its GEMMs
/// (fp32 weights keep their slower fp32 rate).
pub fn attention_matmul_flops(
    gpu: &crate::spec::gpu::GpuSpec,
    w: crate::spec::dtype::WeightFormat,
) -> f64 {
    gpu.matmul_flops(w).min(gpu.bf16_tflops * 1e12)
}

/// Rows of one M tile of a grouped (per-expert) GEMM at prefill: every
/// touched expert's token count is padded up to whole tiles, so a prefill
/// that gives each expert few tokens (1,024 tokens × top-8 over 256
/// experts: 32 each) runs the expert GEMMs at a fraction of their FLOPs.
/// The tile follows the tensor-core MMA shape the MoE kernels are built on:
/// Hopper's wgmma is M = 64 per warpgroup, Blackwell's tcgen05.mma M = 128
/// per CTA (NVIDIA PTX ISA, "Warpgroup MMA" and "tcgen05 MMA" shapes).
/// Other GPUs: 64 (an assumption: CUTLASS/Triton/CK MoE tiles of 64).
pub fn grouped_gemm_tile_tokens(arch: crate::spec::dtype::Arch) -> u64 {
    match arch {
        crate::spec::dtype::Arch::Blackwell => 128,
        _ => 64,
    }
}

/// What one iteration computes on one replica, as sums over its sequences.
/// Build it with `decode`, `prefill_chunk` and `add_*`; every field is a
/// total, so adding two compositions adds their work.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchComposition {
    /// New prompt tokens computed this iteration (Σ chunk lengths).
    pub prefill_tokens: f64,
    /// Prefill chunks in the iteration (one per sequence that prefills).
    pub prefill_chunks: f64,
    /// Σ prefix lengths of the chunks: cached tokens each chunk reads (full layers).
    pub prefill_prefix_tokens: f64,
    /// Σ min(prefix, window): cached tokens each chunk reads on sliding layers.
    pub prefill_window_prefix_tokens: f64,
    /// Σ attention pairs of the chunks on a full layer (c·p + c²/2 each).
    pub prefill_pairs: f64,
    /// Σ attention pairs of the chunks on a sliding layer.
    pub prefill_window_pairs: f64,
    /// Decode sequences (one new token each).
    pub decode_sequences: f64,
    /// Σ their context lengths: tokens each attends over on a full layer.
    pub decode_context_tokens: f64,
    /// Σ min(context, window): tokens each attends over on a sliding layer.
    pub decode_window_tokens: f64,
    /// Data-parallel replicas running this same composition at once. Their
    /// tokens meet in the shared expert pool under expert parallelism (DP
    /// attention), so MoE weights and FLOPs see `replicas ×` the tokens.
    pub replicas: f64,
}

impl Default for BatchComposition {
    /// An empty iteration on one replica.
    fn default() -> Self {
        BatchComposition {
            prefill_tokens: 0.0,
            prefill_chunks: 0.0,
            prefill_prefix_tokens: 0.0,
            prefill_window_prefix_tokens: 0.0,
            prefill_pairs: 0.0,
            prefill_window_pairs: 0.0,
            decode_sequences: 0.0,
            decode_context_tokens: 0.0,
            decode_window_tokens: 0.0,
            replicas: 1.0,
        }
    }
}

impl BatchComposition {
    /// `sequences` decodes, each attending over `context` tokens; `window` is
    /// the model's sliding window (`u64::MAX` when it has none).
    pub fn decode(sequences: u64, context: u64, window: u64) -> Self {
        let mut b = BatchComposition::default();
        b.add_decodes(
            sequences as f64,
            (sequences as f64) * context as f64,
            (sequences as f64) * context.min(window) as f64,
        );
        b
    }

    /// One prefill chunk of `chunk` tokens after `prefix` cached tokens.
    pub fn prefill_chunk(chunk: u64, prefix: u64, window: u64) -> Self {
        let mut b = BatchComposition::default();
        b.add_prefill_chunk(chunk, prefix, window);
        b
    }

    /// Add a prefill chunk.
    pub fn add_prefill_chunk(&mut self, chunk: u64, prefix: u64, window: u64) {
        if chunk == 0 {
            return;
        }
        self.prefill_tokens += chunk as f64;
        self.prefill_chunks += 1.0;
        self.prefill_prefix_tokens += prefix as f64;
        self.prefill_window_prefix_tokens += prefix.min(window) as f64;
        self.prefill_pairs += chunk_attention_pairs(chunk, prefix, u64::MAX);
        self.prefill_window_pairs += chunk_attention_pairs(chunk, prefix, window);
    }

    /// Add `sequences` decodes whose contexts sum to `context_tokens` (and,
    /// capped at the window, to `window_tokens`).
    pub fn add_decodes(&mut self, sequences: f64, context_tokens: f64, window_tokens: f64) {
        self.decode_sequences += sequences;
        self.decode_context_tokens += context_tokens;
        self.decode_window_tokens += window_tokens;
    }

    /// Tokens the iteration runs through the GEMMs on one replica.
    pub fn tokens(&self) -> f64 {
        self.prefill_tokens + self.decode_sequences
    }

    /// Whether the iteration does nothing.
    pub fn is_empty(&self) -> bool {
        self.tokens() <= 0.0
    }
}

/// One iteration on one GPU (the slowest of each pipeline stage), broken
/// down. `DecodeStep` is this type for a pure-decode iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct IterationCost {
    /// Bytes read per iteration on the binding GPU (weights touched + KV).
    pub bytes_read: f64,
    /// Weight bytes touched.
    pub weight_bytes_read: f64,
    /// KV bytes read.
    pub kv_bytes_read: f64,
    /// FLOPs per iteration on that GPU.
    pub flops: f64,
    /// bytes / achieved bandwidth.
    pub memory_seconds: f64,
    /// flops / achieved matrix rate.
    pub compute_seconds: f64,
    /// Collectives and hand-offs.
    pub communication_seconds: f64,
    /// Engine fixed costs (per iteration, per layer).
    pub overhead_seconds: f64,
    /// Engine-specific KV work outside the roofline (`kv_traffic`): strided
    /// copies and MLA latent re-expansion GEMMs.
    pub kv_extra_seconds: f64,
    /// The iteration: max(memory, compute) + kv extra + communication +
    /// overhead, summed over pipeline stages.
    pub seconds: f64,
    /// The dominant term.
    pub bound: Bound,
    /// Expected distinct routed experts touched per MoE layer on this GPU.
    pub experts_touched_per_layer: f64,
}

/// Per-stage constants of the cost, computed once per scenario.
#[derive(Debug, Clone)]
struct StageCoeffs {
    stage: u64,
    split: WeightsSplit,
    layers: f64,
    local_experts: f64,
    /// KV bytes per token summed over full and MLA layers.
    full_bpt: f64,
    /// KV bytes per token summed over sliding layers.
    sliding_bpt: f64,
    /// Recurrent state bytes per sequence.
    state_bytes: f64,
    /// Full + MLA layers (attend over the whole context).
    full_layers: f64,
    /// Sliding layers.
    sliding_layers: f64,
    mla_layers: f64,
    kv: KvLayout,
}

/// The iteration-cost function of one scenario: constants derived once
/// (weights split, KV bytes per token, bandwidths), then `cost` per batch in
/// time independent of the batch size.
#[derive(Debug, Clone)]
pub struct IterationModel<'a> {
    s: &'a Scenario,
    eff: Efficiency,
    stages: Vec<StageCoeffs>,
    /// Tokens a query reads on the windowed layers: the sliding window, or a
    /// DSA model's top-k (`ModelSpec::attention_window`; `u64::MAX`: none).
    pub window: u64,
    bw: f64,
    kv_bw: f64,
    /// Achieved matrix rate of the routed experts' GEMMs (and of every
    /// linear layer where the format quantizes them all), FLOP/s.
    mm: f64,
    /// Achieved matrix rate of the dense (non-expert) linear layers, FLOP/s:
    /// `mm`, or the 16-bit rate where the checkpoint quantizes only the
    /// experts (gpt-oss's MXFP4, `memory::weights::quantizes_dense`).
    dense_mm: f64,
    /// Achieved matrix rate of attention (QKᵀ and PV), FLOP/s: the 16-bit
    /// rate whatever the weight format (`attention_matmul_flops`).
    attn_mm: f64,
    tp_bw: f64,
    moe_bw: f64,
    pp_bw: f64,
    attn_flops_per_ctx: f64,
    prefill_flops_per_pair: f64,
    kv_extra_engine: bool,
    sched: SchedulerSpec,
    /// Decode context parallelism (1 = none) and its group's bandwidth.
    dcp: f64,
    dcp_bw: f64,
    /// M tile of a prefill iteration's grouped expert GEMM, tokens.
    moe_tile: f64,
    /// ln(1 − k/E) of the routing (0 for dense models): a token misses a
    /// given expert with probability 1 − k/E.
    moe_ln_keep: f64,
    /// Speculative decoding (`perf::speculative`): decode sequences verify
    /// `verify_tokens` tokens each and `draft_tokens` draft passes follow.
    spec: Speculation,
    /// One MTP module on the last stage's GPU, costed like a stage of one
    /// layer (None without speculation).
    draft: Option<StageCoeffs>,
    /// Each stage's class: stages of one class have the same constants and
    /// cost the same in every iteration (`StageCoeffs::same_cost`).
    stage_class: Vec<usize>,
    /// The last (decode batch, CUDA-graph size) looked up.
    last_graph: Cell<(u64, Option<u64>)>,
    /// The last two (expert-group tokens, experts touched) computed, newest
    /// first (a speculative iteration alternates target and draft passes).
    last_touched: Cell<[(f64, f64); 2]>,
}

impl StageCoeffs {
    /// Whether `self` and `other` cost the same in every iteration of a
    /// pipeline of `pp` stages: equal constants (bit for bit), both or
    /// neither the first stage (the per-step overhead), both or neither
    /// sending activations on (the hand-off).
    fn same_cost(&self, other: &StageCoeffs, pp: u64) -> bool {
        let bits = |c: &StageCoeffs| {
            [
                c.layers,
                c.local_experts,
                c.full_bpt,
                c.sliding_bpt,
                c.state_bytes,
                c.full_layers,
                c.sliding_layers,
                c.mla_layers,
            ]
            .map(f64::to_bits)
        };
        (self.stage == 0) == (other.stage == 0)
            && (self.stage + 1 < pp) == (other.stage + 1 < pp)
            && self.split == other.split
            && bits(self) == bits(other)
            && self.kv == other.kv
    }
}

/// Bandwidth of a collective among `group` GPUs (inter-node when the group
/// spans nodes).
fn group_bandwidth(s: &Scenario, group: u64, eff: &Efficiency) -> f64 {
    if group > s.cluster.gpus_per_node {
        INTER_NODE_BYTES_PER_S * eff.link
    } else {
        s.cluster.gpu.link_uni_bytes_per_s() * eff.link
    }
}

impl<'a> IterationModel<'a> {
    /// Derive the per-scenario constants.
    pub fn new(s: &'a Scenario, mem: &MemoryPlan, eff: &Efficiency) -> Self {
        let gpu = &s.cluster.gpu;
        let d = &s.deployment;
        let e = &d.engine;
        let a = &s.model.attention;
        let heads_local = (a.num_heads / d.tp.max(1)) as f64;
        // Decode: QK and PV per cached token (absorbed MLA attends over the latent).
        let attn_flops_per_ctx = match &a.mla {
            Some(m) => 2.0 * heads_local * (m.latent_dim() + m.kv_lora_rank) as f64,
            None => 2.0 * heads_local * (a.head_dim + a.v_dim()) as f64,
        };
        // Prefill runs MLA un-absorbed: per-head QK over nope+rope, PV over v.
        let prefill_flops_per_pair = match &a.mla {
            Some(m) => {
                2.0 * heads_local
                    * ((m.qk_nope_head_dim + m.qk_rope_head_dim) + m.v_head_dim) as f64
            }
            None => attn_flops_per_ctx,
        };
        let spec = Speculation::of(s);
        // The memory plan appends the MTP modules' KV layers to the last
        // stage's layout; with speculation on, the draft passes read them.
        let mtp_kv = if d.mtp {
            s.model.mtp_layers as usize
        } else {
            0
        };
        let coeffs =
            |st: &crate::memory::StageMemory, split: WeightsSplit, kv_layers: &[KvLayer]| {
                let mut c = StageCoeffs {
                    stage: st.stage,
                    split,
                    layers: (st.layers.end - st.layers.start) as f64,
                    local_experts: st.experts_per_gpu as f64,
                    full_bpt: 0.0,
                    sliding_bpt: 0.0,
                    state_bytes: 0.0,
                    full_layers: 0.0,
                    sliding_layers: 0.0,
                    mla_layers: 0.0,
                    kv: st.kv.clone(),
                };
                for l in kv_layers {
                    let bpt = l.bytes_per_token(st.kv.dtype) as f64;
                    match l {
                        KvLayer::Full { .. } => {
                            c.full_bpt += bpt;
                            c.full_layers += 1.0;
                        }
                        // DSA: the indexer scores every cached token (its keys
                        // are read over the whole context), attention reads the
                        // latent of the top-k selected ones (the model's window).
                        KvLayer::Mla { indexer_bytes, .. } if s.model.sparse_topk_attention() => {
                            c.full_bpt += *indexer_bytes as f64;
                            c.sliding_bpt += bpt - *indexer_bytes as f64;
                            c.sliding_layers += 1.0;
                            c.mla_layers += 1.0;
                        }
                        KvLayer::Mla { .. } => {
                            c.full_bpt += bpt;
                            c.full_layers += 1.0;
                            c.mla_layers += 1.0;
                        }
                        KvLayer::Sliding { .. } => {
                            c.sliding_bpt += bpt;
                            c.sliding_layers += 1.0;
                        }
                        KvLayer::State { .. } => {
                            c.state_bytes += l.state_bytes_per_sequence() as f64;
                        }
                        // MiniMax-M3: every index key is read over the context,
                        // the top-k blocks' K and V are a fixed read per sequence.
                        KvLayer::SparseIndexed {
                            index_bytes,
                            attended_tokens,
                            ..
                        } => {
                            c.full_bpt += *index_bytes as f64;
                            c.state_bytes += *attended_tokens as f64 * (bpt - *index_bytes as f64);
                        }
                        // DeepSeek-V4: every indexer key (and, without top-k,
                        // every compressed entry) is read over the context; the
                        // window and the top-k entries are a fixed read per
                        // sequence (their attention FLOPs are not counted).
                        KvLayer::Compressed {
                            ratio,
                            window,
                            topk,
                            ..
                        } => {
                            let e = l.entry_bytes(st.kv.dtype) as f64;
                            if *ratio > 1 {
                                let whole = if *topk == 0 { e } else { 0.0 };
                                let ix = l.indexer_key_bytes(st.kv.dtype) as f64;
                                c.full_bpt += (ix + whole) / *ratio as f64;
                            }
                            c.state_bytes += (*window + *topk) as f64 * e;
                        }
                    }
                }
                c
            };
        let last = mem.stages.len().saturating_sub(1);
        let stages: Vec<StageCoeffs> = mem
            .stages
            .iter()
            .enumerate()
            .map(|(i, st)| {
                let n = st.kv.layers.len();
                let cut = if spec.is_on() && i == last {
                    n.saturating_sub(mtp_kv)
                } else {
                    n
                };
                coeffs(st, layer_weights_split(s, st), &st.kv.layers[..cut])
            })
            .collect();
        // One draft pass: one MTP module (one layer, its KV layer) after the
        // last stage; marked as stage `pp` so it pays neither the per-step
        // cost nor a pipeline hand-off.
        let draft = mem.stages.get(last).filter(|_| spec.is_on()).map(|st| {
            let n = st.kv.layers.len();
            let mut c = coeffs(st, mtp_pass_split(s), &st.kv.layers[n.saturating_sub(1)..]);
            c.stage = d.pp.max(1);
            c.layers = 1.0;
            c
        });
        let mut stage_class: Vec<usize> = Vec::with_capacity(stages.len());
        for (i, st) in stages.iter().enumerate() {
            let class = (0..i).find(|&j| stages[j].same_cost(st, d.pp)).map_or_else(
                || stage_class.iter().max().map_or(0, |m| m + 1),
                |j| stage_class[j],
            );
            stage_class.push(class);
        }
        let sched = e.scheduler_on(gpu.memory_bytes, d.tp);
        let pp_bw = if s.cluster.nodes > 1 {
            INTER_NODE_BYTES_PER_S
        } else {
            gpu.link_uni_bytes_per_s()
        } * eff.link;
        IterationModel {
            s,
            eff: eff.clone(),
            stages,
            window: s.model.attention_window(),
            bw: gpu.bandwidth_bytes_per_s() * eff.memory,
            kv_bw: gpu.bandwidth_bytes_per_s() * eff.kv_memory,
            mm: gpu.matmul_flops(d.weights) * eff.matmul,
            dense_mm: if crate::memory::weights::quantizes_dense(&s.model, d.weights) {
                gpu.matmul_flops(d.weights)
            } else {
                gpu.matmul_flops(crate::spec::dtype::WeightFormat::Bf16)
            } * eff.matmul,
            attn_mm: attention_matmul_flops(gpu, d.weights) * eff.matmul,
            tp_bw: group_bandwidth(s, d.tp, eff),
            moe_bw: group_bandwidth(s, s.moe_group(), eff),
            pp_bw,
            attn_flops_per_ctx,
            prefill_flops_per_pair,
            kv_extra_engine: e.decode_cache != DecodeCache::Paged || e.mla_decode_expands_latent,
            last_graph: Cell::new((0, sched.cuda_graph_size(0))),
            sched,
            dcp: d.dcp.max(1) as f64,
            dcp_bw: group_bandwidth(s, d.dcp.max(1), eff),
            moe_tile: grouped_gemm_tile_tokens(gpu.arch) as f64,
            moe_ln_keep: s.model.moe.as_ref().map_or(0.0, |m| {
                if m.num_experts == 0 {
                    0.0
                } else {
                    (-(m.experts_per_token as f64) / m.num_experts as f64).ln_1p()
                }
            }),
            spec,
            draft,
            stage_class,
            last_touched: Cell::new([(0.0, 0.0); 2]),
        }
    }

    /// The speculative decoding this model costs (`Speculation::NONE` without MTP).
    pub fn speculation(&self) -> Speculation {
        self.spec
    }

    /// The efficiencies this model uses.
    pub fn efficiency(&self) -> &Efficiency {
        &self.eff
    }

    /// Cost of one iteration running `b` on every replica it names. With
    /// speculative decoding (`perf::speculative`) every decode sequence
    /// verifies k + 1 tokens in the target pass, and k draft passes of one
    /// MTP module follow (the first also over the iteration's prefill
    /// tokens, whose MTP-layer KV it writes); without it, one token each.
    pub fn cost(&self, b: &BatchComposition) -> IterationCost {
        let (mut total, mut top) = self.pass(
            b,
            self.spec.verify_tokens(),
            &self.stages,
            &self.stage_class,
        );
        if let Some(draft) = &self.draft {
            let decodes = BatchComposition {
                decode_sequences: b.decode_sequences,
                decode_context_tokens: b.decode_context_tokens,
                decode_window_tokens: b.decode_window_tokens,
                replicas: b.replicas,
                ..BatchComposition::default()
            };
            for i in 0..self.spec.draft_tokens {
                let pb = if i == 0 { *b } else { decodes };
                if pb.is_empty() {
                    break;
                }
                let (c, t) = self.pass(&pb, 1.0, std::slice::from_ref(draft), &[0]);
                total.accumulate(&c);
                if t.0 > top.0 {
                    top = t;
                }
            }
        }
        total.bound = top.1;
        total
    }

    /// One forward pass of `b` through `stages`, each decode sequence
    /// carrying `verify` query tokens; returns the cost and its largest
    /// single term with what it is.
    fn pass(
        &self,
        b: &BatchComposition,
        verify: f64,
        stages: &[StageCoeffs],
        classes: &[usize],
    ) -> (IterationCost, (f64, Bound)) {
        let d = &self.s.deployment;
        let tokens = b.prefill_tokens + b.decode_sequences * verify;
        let replicas = b.replicas.max(1.0);
        // A pure-decode batch with a captured CUDA graph replays the graph of
        // the next captured size (dummy tokens through the GEMMs and
        // collectives); any other iteration runs eager and pays the profile's
        // eager and per-prefill-sequence costs.
        let graph = if b.prefill_tokens <= 0.0 && b.decode_sequences > 0.0 {
            self.graph_size(b.decode_sequences.ceil() as u64)
                .map(|size| size as f64 * verify)
        } else {
            None
        };
        let gemm_tokens = graph.unwrap_or(tokens).max(tokens);
        let eager = graph.is_none();
        let mut total = IterationCost {
            bytes_read: 0.0,
            weight_bytes_read: 0.0,
            kv_bytes_read: 0.0,
            flops: 0.0,
            memory_seconds: 0.0,
            compute_seconds: 0.0,
            communication_seconds: 0.0,
            overhead_seconds: 0.0,
            kv_extra_seconds: 0.0,
            seconds: 0.0,
            bound: Bound::Memory,
            experts_touched_per_layer: 0.0,
        };
        let mut max_bound = (0.0, Bound::Memory);
        // Distinct routed experts the iteration's tokens touch in the expert
        // group (the same on every stage): E·(1 − (1 − k/E)^tokens), with
        // ln(1 − k/E) derived once per scenario.
        let (group_tokens, group_gemm_tokens) = if d.ep > 1 {
            (tokens * replicas, gemm_tokens * replicas)
        } else {
            (tokens, gemm_tokens)
        };
        let it = PassTerms {
            verify,
            gemm_tokens,
            eager,
            group_gemm_tokens,
            touched_all: self.experts_touched(group_tokens),
        };
        // Stages with the same constants cost the same: each distinct one is
        // priced once per pass (the first `CLASS_MEMO` of them), and the
        // totals still add stage by stage in pipeline order.
        let mut memo: [Option<StageCost>; CLASS_MEMO] = [None; CLASS_MEMO];
        for (st, &class) in stages.iter().zip(classes) {
            let c = match memo.get(class).copied().flatten() {
                Some(c) => c,
                None => {
                    let c = self.stage_cost(st, b, &it);
                    if let Some(slot) = memo.get_mut(class) {
                        *slot = Some(c);
                    }
                    c
                }
            };
            if c.bound.0 > max_bound.0 {
                max_bound = c.bound;
            }
            total.bytes_read += c.w_bytes + c.kv_bytes;
            total.weight_bytes_read += c.w_bytes;
            total.kv_bytes_read += c.kv_bytes;
            total.flops += c.flops;
            total.memory_seconds += c.mem_s;
            total.compute_seconds += c.cmp_s;
            total.communication_seconds += c.comm;
            total.overhead_seconds += c.overhead;
            total.kv_extra_seconds += c.kv_extra;
            total.seconds += c.stage_s;
            total.experts_touched_per_layer = total.experts_touched_per_layer.max(c.touched);
        }
        total.bound = max_bound.1;
        (total, max_bound)
    }

    /// The CUDA-graph size a pure-decode batch of `n` replays (the last
    /// answer is kept: consecutive decode steps mostly share their batch).
    fn graph_size(&self, n: u64) -> Option<u64> {
        let (last_n, last) = self.last_graph.get();
        if last_n == n {
            return last;
        }
        let size = self.sched.cuda_graph_size(n);
        self.last_graph.set((n, size));
        size
    }

    /// Distinct routed experts `group_tokens` touch in the expert group (0
    /// for dense models). The last two answers are kept: consecutive
    /// iterations often run the same token count (a full budget, an
    /// unchanged decode batch).
    fn experts_touched(&self, group_tokens: f64) -> f64 {
        let kept = self.last_touched.get();
        if let Some(&(_, touched)) = kept.iter().find(|k| k.0 == group_tokens) {
            return touched;
        }
        let touched = match &self.s.model.moe {
            Some(moe) if moe.num_experts > 0 && group_tokens > 0.0 => {
                -(moe.num_experts as f64) * (group_tokens * self.moe_ln_keep).exp_m1()
            }
            _ => 0.0,
        };
        self.last_touched.set([(group_tokens, touched), kept[0]]);
        touched
    }

    /// One pipeline stage's share of a pass.
    fn stage_cost(&self, st: &StageCoeffs, b: &BatchComposition, it: &PassTerms) -> StageCost {
        let s = self.s;
        let d = &s.deployment;
        let e = &d.engine;
        let gpu = &s.cluster.gpu;
        let PassTerms {
            verify,
            gemm_tokens,
            eager,
            group_gemm_tokens,
            touched_all,
        } = *it;
        let split = &st.split;
        let mut w_bytes = split.dense_bytes as f64;
        let dense_flops = 2.0 * split.dense_params as f64 * gemm_tokens;
        let mut flops = dense_flops;
        let mut touched = 0.0;
        if let Some(moe) = &s.model.moe {
            // Tokens routed into this GPU's expert group: with EP the DP
            // replicas share the experts (group_tokens above).
            let ef = moe.num_experts as f64;
            let k = moe.experts_per_token as f64;
            touched = touched_all * st.local_experts / ef;
            w_bytes += touched * split.expert_bytes as f64 * split.moe_layers as f64;
            // Rows each touched expert's GEMM runs. A prefill iteration's
            // grouped GEMM pads every expert's tokens up to whole M tiles
            // (`grouped_gemm_tile_tokens`); decode kernels use small-M tiles.
            let per_expert = if touched_all > 0.0 {
                group_gemm_tokens * k / touched_all
            } else {
                0.0
            };
            let rows = if b.prefill_tokens > 0.0 && self.moe_tile > 1.0 {
                (per_expert / self.moe_tile).ceil() * self.moe_tile
            } else {
                per_expert
            };
            flops += 2.0 * rows * touched * split.expert_params as f64 * split.moe_layers as f64;
        }
        // KV: decodes read their contexts; chunks read their prefixes.
        // With decode context parallelism each GPU holds and reads every
        // dcp-th token of a sequence.
        let mut kv_bytes = ((b.decode_context_tokens + b.prefill_prefix_tokens) * st.full_bpt
            + (b.decode_window_tokens + b.prefill_window_prefix_tokens) * st.sliding_bpt)
            / self.dcp
            + b.decode_sequences * st.state_bytes;
        // Linear-layer time at the GEMM rates: dense layers and routed
        // experts may run at different rates (an experts-only format).
        let linear_s = dense_flops / self.dense_mm + (flops - dense_flops) / self.mm;
        // The prefill tokens' share of it (for the prefill compute scale).
        let prefill_linear_s = if gemm_tokens > 0.0 {
            linear_s * b.prefill_tokens / gemm_tokens
        } else {
            0.0
        };
        // Every verified token of a sequence attends over its context.
        let decode_attn = self.attn_flops_per_ctx
            * verify
            * (b.decode_context_tokens * st.full_layers
                + b.decode_window_tokens * st.sliding_layers);
        let prefill_attn = self.prefill_flops_per_pair
            * (b.prefill_pairs * st.full_layers + b.prefill_window_pairs * st.sliding_layers);
        flops += decode_attn + prefill_attn;
        let scale_extra = (self.sched.prefill_compute_scale - 1.0).max(0.0);
        let mut kv_extra = 0.0;
        if self.kv_extra_engine && b.decode_sequences > 0.0 {
            // Eager-framework copies (HF): modelled for a uniform batch at the mean context.
            let n = b.decode_sequences.round().max(1.0) as u64;
            let ctx = (b.decode_context_tokens / b.decode_sequences).round() as u64;
            let extra = kv_traffic::decode_extra(
                e,
                &s.model,
                &st.kv,
                s.model.attention.num_heads / d.tp,
                n,
                ctx,
            );
            kv_bytes += extra.bytes;
            let copy_bw = gpu.bandwidth_bytes_per_s() * e.strided_copy_efficiency.max(1e-6);
            kv_extra = extra.copy_bytes / copy_bw
                + (extra.expand_flops / self.mm).max(extra.expand_bytes / self.bw);
        }
        let mem_s = w_bytes / self.bw + kv_bytes / self.kv_bw;
        // GEMMs run at the weight format's rate, attention at the 16-bit rate.
        let cmp_s = linear_s
            + scale_extra * prefill_linear_s
            + (decode_attn + prefill_attn * (1.0 + scale_extra)) / self.attn_mm;
        // Two all-reduces per layer (after attention and after the MLP).
        let act_bytes = gemm_tokens * s.model.hidden_size as f64 * 2.0;
        let mut comm = 2.0 * st.layers * allreduce_seconds(act_bytes, d.tp, self.tp_bw);
        if self.dcp > 1.0 {
            // DCP per layer (vLLM PR #23734): all-gather the query heads of
            // the DCP group, attend over the local 1/dcp of the tokens, then
            // exchange the partial outputs and their LSEs. Absorbed MLA
            // works in the latent width.
            let a = &s.model.attention;
            let (q_w, o_w) = match &a.mla {
                Some(m) => (m.latent_dim() as f64, m.kv_lora_rank as f64),
                None => (a.head_dim as f64, a.v_dim() as f64),
            };
            let n = self.dcp;
            let group_heads = (a.num_heads / d.tp.max(1)) as f64 * n;
            let q_bytes = gemm_tokens * group_heads * q_w * 2.0;
            let o_bytes = gemm_tokens * group_heads * (o_w * 2.0 + 4.0);
            comm += st.layers
                * ((n - 1.0) / n * (q_bytes + o_bytes) / self.dcp_bw + 2.0 * COLLECTIVE_LATENCY_S);
        }
        if d.ep > 1 {
            // Dispatch + combine all-to-all per MoE layer: each token's k copies of
            // the hidden state leave for other GPUs ((ep−1)/ep of them).
            let k = s.model.moe.as_ref().map_or(0, |m| m.experts_per_token) as f64;
            let per = gemm_tokens * k * s.model.hidden_size as f64 * 2.0;
            let frac = (d.ep - 1) as f64 / d.ep as f64;
            comm +=
                split.moe_layers as f64 * 2.0 * (per * frac / self.moe_bw + COLLECTIVE_LATENCY_S);
        }
        if d.pp > 1 && st.stage + 1 < d.pp {
            comm += act_bytes / self.pp_bw + COLLECTIVE_LATENCY_S;
        }
        // The per-iteration cost is paid once (charged to the first stage).
        let per_step = if st.stage == 0 {
            e.decode_overhead_per_step_seconds
                + b.prefill_chunks * self.sched.prefill_overhead_per_sequence_seconds
        } else {
            0.0
        };
        let eager_s = if eager {
            st.layers * self.sched.eager_overhead_per_layer_seconds
        } else {
            0.0
        };
        let overhead = per_step
            + eager_s
            + st.layers * e.decode_overhead_per_layer_seconds
            + split.moe_layers as f64 * e.decode_overhead_per_moe_layer_seconds
            + st.mla_layers * e.decode_overhead_per_mla_layer_seconds;
        let gpu_s = mem_s.max(cmp_s) + kv_extra;
        // Eager host overhead runs while the GPU works; graph-replay gaps add up.
        let stage_s = if e.decode_overhead_overlaps_gpu {
            gpu_s.max(overhead) + comm
        } else {
            gpu_s + comm + overhead
        };
        let bound = [
            (mem_s + kv_extra, Bound::Memory),
            (cmp_s, Bound::Compute),
            (comm, Bound::Communication),
            (overhead, Bound::Overhead),
        ]
        .into_iter()
        .fold(
            (0.0, Bound::Memory),
            |acc, x| if x.0 > acc.0 { x } else { acc },
        );
        StageCost {
            w_bytes,
            kv_bytes,
            flops,
            mem_s,
            cmp_s,
            comm,
            overhead,
            kv_extra,
            stage_s,
            bound,
            touched,
        }
    }
}

/// Distinct stage classes priced once per pass; stages of a class past
/// this many are priced one by one (same figures, more work).
const CLASS_MEMO: usize = 8;

/// What every stage of one pass shares.
#[derive(Debug, Clone, Copy)]
struct PassTerms {
    verify: f64,
    gemm_tokens: f64,
    eager: bool,
    group_gemm_tokens: f64,
    touched_all: f64,
}

/// One stage's share of a pass, before the totals add them up.
#[derive(Debug, Clone, Copy)]
struct StageCost {
    w_bytes: f64,
    kv_bytes: f64,
    flops: f64,
    mem_s: f64,
    cmp_s: f64,
    comm: f64,
    overhead: f64,
    kv_extra: f64,
    stage_s: f64,
    bound: (f64, Bound),
    touched: f64,
}

impl IterationCost {
    /// Add another pass's cost (bytes, FLOPs, seconds) into this one.
    fn accumulate(&mut self, o: &IterationCost) {
        self.bytes_read += o.bytes_read;
        self.weight_bytes_read += o.weight_bytes_read;
        self.kv_bytes_read += o.kv_bytes_read;
        self.flops += o.flops;
        self.memory_seconds += o.memory_seconds;
        self.compute_seconds += o.compute_seconds;
        self.communication_seconds += o.communication_seconds;
        self.overhead_seconds += o.overhead_seconds;
        self.kv_extra_seconds += o.kv_extra_seconds;
        self.seconds += o.seconds;
    }
}

/// Cost of one iteration of composition `b` (builds the `IterationModel`;
/// call `IterationModel::cost` directly when costing many iterations).
pub fn iteration_cost(
    s: &Scenario,
    mem: &MemoryPlan,
    eff: &Efficiency,
    b: &BatchComposition,
) -> IterationCost {
    IterationModel::new(s, mem, eff).cost(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attention is priced at the 16-bit tensor rate whatever the weights:
    /// B200's datasheet dense rates (NVIDIA B200 datasheet, gpu-specs/B200.yaml)
    /// are 2,250 TFLOP/s bf16 and 9,000 TFLOP/s FP4, so an NVFP4 checkpoint's
    /// attention runs at 2,250, not 9,000; H100's fp32 weights keep the fp32
    /// half rate (989 / 2 = 494.5 TFLOP/s).
    #[test]
    fn attention_runs_at_the_16_bit_rate() {
        use crate::spec::dtype::WeightFormat;
        let cat = crate::spec::Catalog::builtin().unwrap();
        let b200 = cat.gpu("B200").unwrap();
        assert_eq!(attention_matmul_flops(b200, WeightFormat::Nvfp4), 2250e12);
        assert_eq!(attention_matmul_flops(b200, WeightFormat::Fp8), 2250e12);
        assert_eq!(b200.matmul_flops(WeightFormat::Nvfp4), 9000e12);
        let h100 = cat.gpu("H100").unwrap();
        assert_eq!(attention_matmul_flops(h100, WeightFormat::Fp32), 494.5e12);
    }

    #[test]
    fn pairs_of_a_chunk() {
        // Full layer: a 4-token chunk after 10 cached tokens: 4·10 + 16/2.
        assert_eq!(chunk_attention_pairs(4, 10, u64::MAX), 48.0);
        // Chunks of a prompt add up to the whole prompt's t²/2.
        let whole = chunk_attention_pairs(1000, 0, u64::MAX);
        let parts: f64 = (0..10)
            .map(|i| chunk_attention_pairs(100, i * 100, u64::MAX))
            .sum();
        assert!((whole - parts).abs() < 1e-6);
        assert_eq!(whole, 500_000.0);
        // Past the window every query sees `window` keys.
        assert_eq!(chunk_attention_pairs(10, 500, 100), 1000.0);
        // Straddling the window: ∫₅₀^₁₀₀ x dx + 100·50 = 3750 + 5000.
        assert_eq!(chunk_attention_pairs(100, 50, 100), 8750.0);
        // Window split is additive too.
        let parts: f64 = (0..10)
            .map(|i| chunk_attention_pairs(100, i * 100, 250))
            .sum();
        assert!((chunk_attention_pairs(1000, 0, 250) - parts).abs() < 1e-6);
    }
}

#[cfg(test)]
mod stage_class_tests {
    use super::*;
    use crate::request::{resolve, EstimateRequest, Tokens};
    use crate::spec::Catalog;

    /// Stages priced once per class cost exactly what pricing every stage
    /// gives: DeepSeek-V3 on 16 pipeline stages (dense and MoE stages, the
    /// first with the per-step overhead, the last without a hand-off), with
    /// expert parallelism and with speculative decoding (MTP), over decode,
    /// prefill and mixed iterations.
    #[test]
    fn stage_classes_cost_what_every_stage_costs() {
        let req = EstimateRequest {
            model: "deepseek-v3".into(),
            gpus: "2x8xH800".into(),
            ctx: Some(Tokens::Number(9216)),
            batch: Some(1),
            ..Default::default()
        };
        let mut s = resolve(&req, &Catalog::builtin().unwrap(), &|_| unreachable!())
            .unwrap()
            .scenario;
        for (tp, pp, ep, dp, mtp) in [
            (1, 16, 1, 1, false),
            (1, 8, 2, 2, false),
            (2, 4, 4, 2, false),
            (1, 16, 1, 1, true),
        ] {
            s.deployment.mtp = mtp;
            s.deployment.tp = tp;
            s.deployment.pp = pp;
            s.deployment.ep = ep;
            s.deployment.dp = dp;
            s.validate().unwrap();
            let mem = crate::memory::plan(&s);
            let eff = Efficiency::default();
            let grouped = IterationModel::new(&s, &mem, &eff);
            let classes = grouped.stage_class.iter().max().unwrap() + 1;
            // Deep pipelines repeat stages (4 pipeline stages here are all distinct).
            if pp >= 8 {
                assert!(classes < grouped.stages.len(), "pp {pp}: {classes} classes");
            }
            let mut each = grouped.clone();
            each.stage_class = (0..each.stages.len()).collect();
            let w = grouped.window;
            let mut mixed = BatchComposition::decode(37, 5000, w);
            mixed.add_prefill_chunk(1500, 3000, w);
            mixed.replicas = dp as f64;
            for b in [
                BatchComposition::decode(64, 9000, w),
                BatchComposition::decode(1, 100, w),
                BatchComposition::prefill_chunk(8192, 0, w),
                mixed,
            ] {
                // Twice: the second call finds the kept expert count.
                for _ in 0..2 {
                    assert_eq!(grouped.cost(&b), each.cost(&b), "pp {pp}: {b:?}");
                }
            }
        }
    }
}
