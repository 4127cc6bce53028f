//! Speed model: a roofline per GPU. A decode step reads the weights it
//! touches and every sequence's KV cache (memory bound at small batch) and
//! does 2 FLOPs per parameter per token (compute bound at large batch), plus
//! tensor-parallel all-reduces, expert-parallel all-to-alls and pipeline
//! hand-offs over the GPU link. Prefill is compute bound with attention's
//! quadratic term. Efficiencies come from the GPU defaults below or from a
//! measured calibration profile.

pub mod iteration;
pub mod kv_traffic;
pub mod speculative;

pub use iteration::{iteration_cost, BatchComposition, IterationCost, IterationModel};
pub use speculative::Speculation;

use crate::memory::MemoryPlan;
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

/// One decode step on one GPU, broken down: the iteration cost of a
/// pure-decode batch.
pub type DecodeStep = IterationCost;

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

/// Decode step of the workload (batch, context) with `eff`.
pub fn decode_step(s: &Scenario, mem: &MemoryPlan, eff: &Efficiency) -> DecodeStep {
    decode_step_at(s, mem, eff, s.batch_per_replica(), s.workload.context)
}

/// Decode step at `batch_local` sequences per replica and `context` tokens:
/// the iteration cost of `batch_local` decodes on every DP replica at once.
pub fn decode_step_at(
    s: &Scenario,
    mem: &MemoryPlan,
    eff: &Efficiency,
    batch_local: u64,
    context: u64,
) -> DecodeStep {
    let model = IterationModel::new(s, mem, eff);
    let mut b = BatchComposition::decode(batch_local, context, model.window);
    b.replicas = s.deployment.dp.max(1) as f64;
    model.cost(&b)
}

/// Prefill of one request of `prompt` tokens alone on its replica: the sum
/// of the iterations that compute it, one chunk of `max_num_batched_tokens`
/// each (the whole prompt at once without chunked prefill), each over the
/// prefix before it. Returns the time and what bounds it.
pub fn prefill_seconds(
    s: &Scenario,
    mem: &MemoryPlan,
    eff: &Efficiency,
    prompt: u64,
) -> (f64, Bound) {
    let model = IterationModel::new(s, mem, eff);
    let chunk = if s.deployment.engine.chunked_prefill {
        s.deployment.engine.max_num_batched_tokens.max(1)
    } else {
        prompt.max(1)
    };
    let (mut total, mut compute, mut memory) = (0.0, 0.0, 0.0);
    let mut done = 0;
    while done < prompt.max(1) {
        let c = chunk.min(prompt.max(1) - done);
        let cost = model.cost(&BatchComposition::prefill_chunk(c, done, model.window));
        total += cost.seconds;
        compute += cost.compute_seconds;
        memory += cost.memory_seconds;
        done += c;
    }
    let bound = if compute >= memory {
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
