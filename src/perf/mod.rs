//! Speed model: a roofline per GPU. A decode step reads the weights it
//! touches and every sequence's KV cache (memory bound at small batch) and
//! does 2 FLOPs per parameter per token (compute bound at large batch), plus
//! tensor-parallel all-reduces, expert-parallel all-to-alls and pipeline
//! hand-offs over the GPU link. Prefill is compute bound with attention's
//! quadratic term. Efficiencies come from the GPU defaults below or from a
//! measured calibration profile.

pub mod kv_traffic;

use crate::memory::kv::KvLayer;
use crate::memory::{layer_weights_split, MemoryPlan};
use crate::scenario::Scenario;

/// Fractions of datasheet peaks that real kernels reach.
#[derive(Debug, Clone, PartialEq)]
pub struct Efficiency {
    /// Achieved / datasheet memory bandwidth for streaming weights.
    pub memory: f64,
    /// Achieved / datasheet memory bandwidth for reading the KV cache in
    /// decode attention (a different kernel from the GEMMs).
    pub kv_memory: f64,
    /// Achieved / datasheet dense matrix rate for decode/prefill GEMMs.
    pub matmul: f64,
    /// Achieved / datasheet link bandwidth for collectives.
    pub link: f64,
    /// Fixed time of one decode-shaped GEMM inside a CUDA graph beyond its
    /// bytes (calibrated; 0 by default). Used for the probe's kernel-by-kernel
    /// prediction; in serving the engine profile's per-layer overhead stands for it.
    pub gemm_fixed_seconds: f64,
    /// Fixed time of one small kernel inside a CUDA graph (calibrated; 0 by default).
    pub kernel_fixed_seconds: f64,
    /// Where these figures come from.
    pub source: String,
}

impl Default for Efficiency {
    /// Defaults from the H200 measurements in docs/sources/gpu-notes.md: a 16-byte read
    /// kernel reached 4,553 of 4,800 GB/s (0.95) but a decode-shaped GEMM
    /// streamed weights at 4.25 TB/s (0.89) → 0.85 allows for attention and
    /// small kernels; cuBLAS bf16 8192³ reached 799 of 989 TFLOP/s (0.81) →
    /// 0.7 for mixed shapes; NVLink pairwise copy reached 88% of spec → 0.8
    /// for NCCL bus bandwidth.
    fn default() -> Self {
        Efficiency {
            memory: 0.85,
            kv_memory: 0.85,
            matmul: 0.7,
            link: 0.8,
            gemm_fixed_seconds: 0.0,
            kernel_fixed_seconds: 0.0,
            source: "defaults (H200 ceilings in docs/sources/gpu-notes.md)".into(),
        }
    }
}

/// Inter-node bandwidth per GPU when a collective crosses nodes: one 400
/// Gb/s NDR InfiniBand NIC per GPU (assumption), bytes/s.
pub const INTER_NODE_BYTES_PER_S: f64 = 50e9;
/// Latency of one collective operation inside a node, seconds (assumption).
pub const COLLECTIVE_LATENCY_S: f64 = 8e-6;

/// Which resource bounds a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Streaming weights/KV from memory.
    Memory,
    /// Matrix arithmetic.
    Compute,
    /// GPU-to-GPU communication.
    Communication,
    /// Kernel launch / host overhead.
    Overhead,
}

impl Bound {
    /// Lower-case name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Bound::Memory => "memory-bandwidth",
            Bound::Compute => "compute",
            Bound::Communication => "communication",
            Bound::Overhead => "launch-overhead",
        }
    }
}

/// One decode step on one GPU, broken down.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeStep {
    /// Bytes read per step on the binding GPU (weights touched + KV).
    pub bytes_read: f64,
    /// Weight bytes touched.
    pub weight_bytes_read: f64,
    /// KV bytes read.
    pub kv_bytes_read: f64,
    /// FLOPs per step on that GPU.
    pub flops: f64,
    /// bytes / achieved bandwidth.
    pub memory_seconds: f64,
    /// flops / achieved matrix rate.
    pub compute_seconds: f64,
    /// Collectives and hand-offs.
    pub communication_seconds: f64,
    /// Launch overhead.
    pub overhead_seconds: f64,
    /// Engine-specific KV work outside the roofline (`kv_traffic`): strided
    /// copies and MLA latent re-expansion GEMMs.
    pub kv_extra_seconds: f64,
    /// The step: max(memory, compute) + communication + overhead, all stages.
    pub seconds: f64,
    /// The dominant term.
    pub bound: Bound,
    /// Expected distinct routed experts touched per MoE layer on this GPU.
    pub experts_touched_per_layer: f64,
}

/// Speed figures of an estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Performance {
    /// Decode step at the workload's batch and context.
    pub decode: DecodeStep,
    /// Output tokens per second per sequence (1 / step, × MTP gain).
    pub tokens_per_second_per_request: f64,
    /// Output tokens per second, whole deployment.
    pub decode_tokens_per_second: f64,
    /// Prefill of one request of the workload's context (TTFT without queueing).
    pub prefill_seconds: f64,
    /// What bounds prefill.
    pub prefill_bound: Bound,
    /// Efficiencies used.
    pub efficiency: Efficiency,
    /// Speculative decoding gain (tokens per step), 1.0 without.
    pub tokens_per_step: f64,
}

/// Expected distinct experts hit when `tokens` tokens each pick `k` of `e`
/// experts uniformly: e × (1 − (1 − k/e)^tokens).
pub fn expected_distinct_experts(e: f64, k: f64, tokens: f64) -> f64 {
    if e <= 0.0 {
        return 0.0;
    }
    e * (1.0 - (1.0 - k / e).powf(tokens))
}

/// Ring all-reduce time for `bytes` over `n` GPUs at `bw` bytes/s.
pub fn allreduce_seconds(bytes: f64, n: u64, bw: f64) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    let n = n as f64;
    2.0 * (n - 1.0) / n * bytes / bw + COLLECTIVE_LATENCY_S
}

/// Bandwidth of a collective among `group` GPUs (inter-node when the group
/// spans nodes).
fn group_bandwidth(s: &Scenario, group: u64, eff: &Efficiency) -> f64 {
    let intra = s.cluster.gpu.link_uni_bytes_per_s() * eff.link;
    if group > s.cluster.gpus_per_node {
        INTER_NODE_BYTES_PER_S * eff.link
    } else {
        intra
    }
}

/// Decode step of the workload (batch, context) with `eff`.
pub fn decode_step(s: &Scenario, mem: &MemoryPlan, eff: &Efficiency) -> DecodeStep {
    decode_step_at(s, mem, eff, s.batch_per_replica(), s.workload.context)
}

/// Decode step at `batch_local` sequences per replica and `context` tokens.
pub fn decode_step_at(
    s: &Scenario,
    mem: &MemoryPlan,
    eff: &Efficiency,
    batch_local: u64,
    context: u64,
) -> DecodeStep {
    let gpu = &s.cluster.gpu;
    let d = &s.deployment;
    let e = &d.engine;
    let bw = gpu.bandwidth_bytes_per_s() * eff.memory;
    let mm = gpu.matmul_flops(d.weights) * eff.matmul;
    let b = batch_local as f64;
    let mut total = DecodeStep {
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
    let tp_bw = group_bandwidth(s, d.tp, eff);
    let moe_group = s.moe_group();
    let moe_bw = group_bandwidth(s, moe_group, eff);
    let a = &s.model.attention;
    let heads_local = (a.num_heads / d.tp) as f64;
    // Attention FLOPs per token per layer per cached token (QK and PV).
    let attn_flops_per_ctx = match &a.mla {
        Some(m) => 2.0 * heads_local * (m.latent_dim() + m.kv_lora_rank) as f64,
        None => 2.0 * heads_local * (a.head_dim + a.v_dim()) as f64,
    };
    let mut max_bound = (0.0, Bound::Memory);
    for st in &mem.stages {
        let split = layer_weights_split(s, st);
        // Tokens routed into this GPU's expert group per step.
        let group_tokens = if d.ep > 1 { b * d.dp as f64 } else { b };
        let (mut w_bytes, mut flops) = (
            split.dense_bytes as f64,
            2.0 * split.dense_params as f64 * b,
        );
        let mut touched = 0.0;
        if let Some(moe) = &s.model.moe {
            let ef = moe.num_experts as f64;
            let k = moe.experts_per_token as f64;
            let local = st.experts_per_gpu as f64;
            let distinct_all = expected_distinct_experts(ef, k, group_tokens);
            touched = distinct_all * local / ef;
            w_bytes += touched * split.expert_bytes as f64 * split.moe_layers as f64;
            // Each token's k experts, the share of them that lives here.
            flops += 2.0
                * group_tokens
                * k
                * (local / ef)
                * split.expert_params as f64
                * split.moe_layers as f64;
        }
        // Decode attends over the window of a sliding layer in every engine
        // (even where the memory after prefill holds the whole prompt).
        let extra = kv_traffic::decode_extra(
            e,
            &s.model,
            &st.kv,
            a.num_heads / d.tp,
            batch_local,
            context,
        );
        // With decode context parallelism each GPU reads its 1/dcp of every
        // sequence's cache.
        let dcp = d.dcp.max(1);
        let kv_bytes = b * st.kv.attended_bytes(context.div_ceil(dcp)) as f64 + extra.bytes;
        let attn_tokens = st.kv.attended_tokens(context) as f64;
        flops += b * attn_flops_per_ctx * attn_tokens;
        let layers = st.layers.end - st.layers.start;
        let mem_s = w_bytes / bw + kv_bytes / (gpu.bandwidth_bytes_per_s() * eff.kv_memory);
        let cmp_s = flops / mm;
        let copy_bw = gpu.bandwidth_bytes_per_s() * e.strided_copy_efficiency.max(1e-6);
        let kv_extra =
            extra.copy_bytes / copy_bw + (extra.expand_flops / mm).max(extra.expand_bytes / bw);
        // Two all-reduces per layer (after attention and after the MLP).
        let act_bytes = b * s.model.hidden_size as f64 * 2.0;
        let mut comm = 2.0 * layers as f64 * allreduce_seconds(act_bytes, d.tp, tp_bw);
        if dcp > 1 {
            // DCP per attention layer (vLLM PR #23734): all-gather the query
            // heads of the DCP group, attend over the local 1/dcp of the
            // tokens, then exchange the partial outputs and their LSEs
            // (reduce-scatter). Absorbed MLA works in the latent width.
            let (q_w, o_w) = match &a.mla {
                Some(m) => (m.latent_dim() as f64, m.kv_lora_rank as f64),
                None => (a.head_dim as f64, a.v_dim() as f64),
            };
            let group_heads = heads_local * dcp as f64;
            let n = dcp as f64;
            let dcp_bw = group_bandwidth(s, dcp, eff);
            let q_bytes = b * group_heads * q_w * 2.0;
            let o_bytes = b * group_heads * (o_w * 2.0 + 4.0);
            let per_layer =
                (n - 1.0) / n * (q_bytes + o_bytes) / dcp_bw + 2.0 * COLLECTIVE_LATENCY_S;
            comm += layers as f64 * per_layer;
        }
        if d.ep > 1 {
            // Dispatch + combine all-to-all per MoE layer: each token's k copies of
            // the hidden state leave for other GPUs ((ep−1)/ep of them).
            let per = b
                * s.model
                    .moe
                    .as_ref()
                    .map(|m| m.experts_per_token)
                    .unwrap_or(0) as f64
                * s.model.hidden_size as f64
                * 2.0;
            let frac = (d.ep - 1) as f64 / d.ep as f64;
            comm += split.moe_layers as f64 * 2.0 * (per * frac / moe_bw + COLLECTIVE_LATENCY_S);
        }
        if d.pp > 1 && st.stage + 1 < d.pp {
            let pp_bw = if s.cluster.nodes > 1 {
                INTER_NODE_BYTES_PER_S
            } else {
                s.cluster.gpu.link_uni_bytes_per_s()
            } * eff.link;
            comm += act_bytes / pp_bw + COLLECTIVE_LATENCY_S;
        }
        let mla_layers = st
            .kv
            .layers
            .iter()
            .filter(|l| matches!(l, KvLayer::Mla { .. }))
            .count() as f64;
        // The per-step cost is paid once per step (charged to the first stage).
        let per_step = if st.stage == 0 {
            e.decode_overhead_per_step_seconds
        } else {
            0.0
        };
        let overhead = per_step
            + layers as f64 * e.decode_overhead_per_layer_seconds
            + split.moe_layers as f64 * e.decode_overhead_per_moe_layer_seconds
            + mla_layers * e.decode_overhead_per_mla_layer_seconds;
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
        if bound.0 > max_bound.0 {
            max_bound = bound;
        }
        total.bytes_read += w_bytes + kv_bytes;
        total.weight_bytes_read += w_bytes;
        total.kv_bytes_read += kv_bytes;
        total.flops += flops;
        total.memory_seconds += mem_s;
        total.compute_seconds += cmp_s;
        total.communication_seconds += comm;
        total.overhead_seconds += overhead;
        total.kv_extra_seconds += kv_extra;
        total.seconds += stage_s;
        total.experts_touched_per_layer = total.experts_touched_per_layer.max(touched);
    }
    total.bound = max_bound.1;
    total
}

/// Prefill of one request of `prompt` tokens: FLOPs at the matrix rate,
/// with weights re-read once per chunk, plus the TP all-reduces.
pub fn prefill_seconds(
    s: &Scenario,
    mem: &MemoryPlan,
    eff: &Efficiency,
    prompt: u64,
) -> (f64, Bound) {
    let gpu = &s.cluster.gpu;
    let d = &s.deployment;
    let bw = gpu.bandwidth_bytes_per_s() * eff.memory;
    let mm = gpu.matmul_flops(d.weights) * eff.matmul;
    let t = prompt as f64;
    let a = &s.model.attention;
    let heads_local = (a.num_heads / d.tp) as f64;
    let per_pair = match &a.mla {
        // Prefill runs MLA un-absorbed: per-head QK over nope+rope, PV over v.
        Some(m) => {
            2.0 * heads_local * ((m.qk_nope_head_dim + m.qk_rope_head_dim) + m.v_head_dim) as f64
        }
        None => 2.0 * heads_local * (a.head_dim + a.v_dim()) as f64,
    };
    let chunk = if d.engine.chunked_prefill {
        d.engine.max_num_batched_tokens.max(1)
    } else {
        prompt.max(1)
    };
    let chunks = prompt.div_ceil(chunk).max(1) as f64;
    let tp_bw = group_bandwidth(s, d.tp, eff);
    let (mut total, mut compute_total, mut mem_total) = (0.0, 0.0, 0.0);
    for st in &mem.stages {
        let split = layer_weights_split(s, st);
        let mut flops = 2.0 * split.dense_params as f64 * t;
        let mut w_bytes = split.dense_bytes as f64 * chunks;
        if let Some(moe) = &s.model.moe {
            let ef = moe.num_experts as f64;
            let local = st.experts_per_gpu as f64;
            flops += 2.0
                * t
                * moe.experts_per_token as f64
                * (local / ef)
                * split.expert_params as f64
                * split.moe_layers as f64;
            let touched = expected_distinct_experts(
                ef,
                moe.experts_per_token as f64,
                chunk.min(prompt) as f64,
            ) * local
                / ef;
            w_bytes += touched * split.expert_bytes as f64 * split.moe_layers as f64 * chunks;
        }
        // Causal attention over the prompt: Σ_i i ≈ t²/2 pairs per layer (sliding layers capped).
        let pairs: f64 = st
            .kv
            .layers
            .iter()
            .map(|l| {
                let w = l.cached_tokens(prompt, true) as f64;
                if w < t {
                    w * t - w * w / 2.0
                } else {
                    t * t / 2.0
                }
            })
            .sum();
        flops += per_pair * pairs;
        let cmp = flops / mm;
        let mem_s = w_bytes / bw;
        let layers = (st.layers.end - st.layers.start) as f64;
        let comm =
            2.0 * layers * allreduce_seconds(t * s.model.hidden_size as f64 * 2.0, d.tp, tp_bw);
        compute_total += cmp;
        mem_total += mem_s;
        total += cmp.max(mem_s) + comm;
    }
    let bound = if compute_total >= mem_total {
        Bound::Compute
    } else {
        Bound::Memory
    };
    (total, bound)
}

/// The speed side of an estimate.
pub fn estimate(
    s: &Scenario,
    mem: &MemoryPlan,
    eff: &Efficiency,
    tokens_per_step: f64,
) -> Performance {
    let decode = decode_step(s, mem, eff);
    let per_req = tokens_per_step / decode.seconds;
    let (prefill, prefill_bound) = prefill_seconds(s, mem, eff, s.workload.context);
    Performance {
        tokens_per_second_per_request: per_req,
        decode_tokens_per_second: per_req * s.workload.batch as f64,
        decode,
        prefill_seconds: prefill,
        prefill_bound,
        efficiency: eff.clone(),
        tokens_per_step,
    }
}

impl Efficiency {
    /// Efficiencies measured by `kvplan probe` on `gpu`: memory = bytes the
    /// decode-shaped GEMMs (batch ≤ 16) streamed per second, over all of them,
    /// against the datasheet bandwidth; matmul = the large bf16 GEMM's share
    /// of the datasheet rate.
    pub fn from_calibration(
        c: &crate::calibration::Calibration,
        s: &Scenario,
        origin: &str,
    ) -> Efficiency {
        let gpu = &s.cluster.gpu;
        let datasheet = gpu.bandwidth_bytes_per_s();
        let (gemm_fixed, stream) = c
            .gemm_time_model()
            .unwrap_or((0.0, c.bandwidth_efficiency * datasheet));
        let memory = stream / datasheet;
        let att = crate::measure::shard::probe_attention(s);
        let (q, kv) = att.heads();
        let kv_memory = c
            .attention_bytes_per_s(att.kind(), q, kv)
            .map_or(memory, |b| b / datasheet);
        Efficiency {
            memory: memory.clamp(0.05, 1.0),
            kv_memory: kv_memory.clamp(0.02, 1.0),
            matmul: c.gemm_efficiency_bf16.clamp(0.05, 1.0),
            // NCCL bus bandwidth of the largest measured all-reduce (when the probe
            // ran on several GPUs) against the link's one-way datasheet figure.
            link: c
                .allreduce
                .iter()
                .max_by_key(|a| a.bytes)
                .map(|a| (a.busbw_bytes_per_s / gpu.link_uni_bytes_per_s()).clamp(0.05, 1.0))
                .unwrap_or(Efficiency::default().link),
            gemm_fixed_seconds: gemm_fixed,
            kernel_fixed_seconds: c.kernel_floor_seconds_graph.unwrap_or(0.0),
            source: format!(
                "calibration profile {origin} ({}, {})",
                c.device_name, c.date
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_experts_limits() {
        // One token touches exactly k experts; many tokens touch all of them.
        assert!((expected_distinct_experts(256.0, 8.0, 1.0) - 8.0).abs() < 1e-9);
        assert!((expected_distinct_experts(256.0, 8.0, 1e6) - 256.0).abs() < 1e-6);
    }
}
