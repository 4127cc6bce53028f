//! Scheduler policies as data: the `scheduler:` block of an engine profile
//! (profiles/engines/*.yaml). Each knob says which engine behaviour it
//! follows, and the YAML cites the engine source files. The serving
//! simulator (`crate::serving`) runs these policies; the token and sequence
//! budgets themselves are the engine's `max_num_batched_tokens` and
//! `max_num_seqs` (with their large-GPU defaults).

use serde::{Deserialize, Serialize};

/// How an iteration's batch is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchPolicy {
    /// vLLM v1 / TensorRT-LLM in-flight batching: every iteration runs the
    /// running decodes first, then prefill chunks of running and waiting
    /// requests up to the token budget, all in one forward pass.
    Mixed,
    /// SGLang: when waiting requests can be admitted, run a prefill batch
    /// (decodes wait, unless `mixed_chunk`); otherwise a decode batch.
    PrefillFirst,
}

/// When KV space is taken for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvAdmission {
    /// vLLM v1 `KVCacheManager.allocate_slots`: blocks for the tokens being
    /// computed this step only; a request is admitted when its chunk fits.
    OnDemand,
    /// SGLang `PrefillAdder`: admit when the prompt plus `new_token_ratio` ×
    /// the remaining output of every running request fits.
    ReserveOutputRatio,
    /// TensorRT-LLM `GUARANTEED_NO_EVICT`: admit only when prompt + the whole
    /// output fits beside what running requests will still need.
    ReserveFullOutput,
}

/// What happens when running requests outgrow the KV pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preemption {
    /// Free the most recently admitted requests' KV and recompute them later
    /// (vLLM v1 `Scheduler.schedule` → `_preempt_request`; SGLang
    /// `retract_decode`).
    Recompute,
    /// Admission guarantees it never happens (TensorRT-LLM GUARANTEED_NO_EVICT).
    None,
}

/// SGLang's estimate of how much of a running request's remaining output to
/// reserve KV for (`new_token_ratio`): starts at `init`, decays linearly
/// each decode step to `init × min_factor` over `decay_steps`, and resets
/// to `init` after a retraction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRatio {
    /// `SGLANG_INIT_NEW_TOKEN_RATIO`.
    pub init: f64,
    /// `SGLANG_MIN_NEW_TOKEN_RATIO_FACTOR`.
    pub min_factor: f64,
    /// `SGLANG_NEW_TOKEN_RATIO_DECAY_STEPS`.
    pub decay_steps: u64,
    /// `SGLANG_CLIP_MAX_NEW_TOKENS_ESTIMATION`: remaining output counted at most this many tokens.
    pub clip_max_new_tokens: u64,
}

/// TensorRT-LLM's attention-DP balancing (`attention_dp_config` with
/// `enable_balance: true`; tensorrt_llm/_torch/pyexecutor/py_executor.py
/// `_balance_adp_requests`): with attention data parallelism, new context
/// requests are held back until every DP rank has one to run (so the ranks
/// prefill together), for at most `timeout_iterations` iterations, and
/// then, while every rank also decodes, `batching_wait_iterations` more to
/// gather a larger context batch. A rank with nothing to decode releases
/// them at once. Off unless the deployment's config turns it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdpBalance {
    /// `attention_dp_config.timeout_iters`.
    pub timeout_iterations: u64,
    /// `attention_dp_config.batching_wait_iters`.
    pub batching_wait_iterations: u64,
}

/// One engine's scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSpec {
    /// Engine source files this block follows.
    pub sources: Vec<String>,
    /// How batches are formed.
    pub batch_policy: BatchPolicy,
    /// When KV is taken.
    pub kv_admission: KvAdmission,
    /// What happens when KV runs out.
    pub preemption: Preemption,
    /// PrefillFirst only: decodes join the prefill batch (SGLang `--enable-mixed-chunk`).
    #[serde(default)]
    pub mixed_chunk: bool,
    /// Requests that may be mid-prefill (chunked) at once; 0 = no limit
    /// (SGLang keeps one `chunked_req`).
    #[serde(default)]
    pub max_partial_prefills: u64,
    /// PrefillFirst: prompt tokens one prefill batch admits (SGLang
    /// `max_prefill_tokens`); 0 = the chunk budget.
    #[serde(default)]
    pub max_prefill_tokens: u64,
    /// SGLang's output reservation; required with `reserve_output_ratio`.
    #[serde(default)]
    pub new_token_ratio: Option<NewTokenRatio>,
    /// Decode batch sizes with a captured CUDA graph, as inclusive
    /// `[first, last, step]` ranges. Empty: no graphs (eager every step).
    #[serde(default)]
    pub cuda_graph_batch_sizes: Vec<[u64; 3]>,
    /// A decode batch between captured sizes replays the next larger graph
    /// (padded with dummy tokens); false: it runs eager.
    #[serde(default = "yes")]
    pub cuda_graph_padding: bool,
    /// The engine also captures graphs up to its max batch (`max_num_seqs`):
    /// beyond the listed sizes every this many sequences, and the max batch
    /// itself (TensorRT-LLM's `cuda_graph_config: {enable_padding: true,
    /// max_batch_size: B}`, which kvplan's launch command sets). 0: the listed
    /// sizes only.
    #[serde(default)]
    pub cuda_graph_extend_step: u64,
    /// FITTED (where the profile says so): extra fixed cost per decoder layer
    /// of an eager iteration (prefill chunks, or a decode batch without a
    /// graph) beyond the engine's per-step/per-layer decode overheads, seconds.
    #[serde(default)]
    pub eager_overhead_per_layer_seconds: f64,
    /// FITTED (where the profile says so): host cost per sequence that
    /// prefills in an iteration (input preparation, block tables), seconds.
    #[serde(default)]
    pub prefill_overhead_per_sequence_seconds: f64,
    /// FITTED (where the profile says so): fixed per-request latency outside
    /// the iterations (HTTP, tokenisation), seconds: a request becomes
    /// schedulable this long after it is sent, so it counts in TTFT and
    /// end-to-end latency and holds a closed-loop client's slot.
    #[serde(default)]
    pub request_overhead_seconds: f64,
    /// FITTED (where the profile says so): prefill FLOPs take this many times
    /// their time at the GEMM efficiency (varlen attention and prefill-shaped
    /// grouped expert GEMMs run below the decode GEMMs' share of the matrix
    /// rate); 1 = no extra cost.
    #[serde(default = "one")]
    pub prefill_compute_scale: f64,
    /// Attention-DP context balancing (TensorRT-LLM `enable_balance`); None = off.
    #[serde(default)]
    pub adp_balance: Option<AdpBalance>,
    /// SGLang `--scheduler-recv-interval` (default 1: every iteration):
    /// while it decodes, the scheduler takes new requests off its socket only
    /// once every this many decode iterations; after any other iteration
    /// (a prefill or mixed batch) and when idle it takes them at once
    /// (python/sglang/srt/managers/scheduler_recv_skipper.py: a counter
    /// weighted 1 per DECODE forward and 1000 otherwise, received and reset
    /// at `scheduler_recv_interval`). A request sent meanwhile waits there,
    /// which counts in its TTFT.
    #[serde(default = "one_u64")]
    pub recv_interval: u64,
}

fn one_u64() -> u64 {
    1
}

fn one() -> f64 {
    1.0
}

fn yes() -> bool {
    true
}

impl SchedulerSpec {
    /// Scheduler of an engine profile without a `scheduler:` block (HF
    /// transformers, custom profiles): whole batches, no graphs, no preemption
    /// tricks — vLLM-like mixed batching with on-demand KV.
    pub fn generic() -> Self {
        SchedulerSpec {
            sources: vec!["generic continuous batching (no engine-specific block)".into()],
            batch_policy: BatchPolicy::Mixed,
            kv_admission: KvAdmission::OnDemand,
            preemption: Preemption::Recompute,
            mixed_chunk: false,
            max_partial_prefills: 0,
            max_prefill_tokens: 0,
            new_token_ratio: None,
            cuda_graph_batch_sizes: Vec::new(),
            cuda_graph_padding: true,
            cuda_graph_extend_step: 0,
            eager_overhead_per_layer_seconds: 0.0,
            prefill_overhead_per_sequence_seconds: 0.0,
            request_overhead_seconds: 0.0,
            prefill_compute_scale: 1.0,
            adp_balance: None,
            recv_interval: 1,
        }
    }

    /// Largest captured decode batch (0: none).
    pub fn cuda_graph_max_batch(&self) -> u64 {
        self.cuda_graph_batch_sizes
            .iter()
            .map(|r| {
                if r[2] == 0 || r[1] < r[0] {
                    r[0]
                } else {
                    r[0] + (r[1] - r[0]) / r[2] * r[2]
                }
            })
            .max()
            .unwrap_or(0)
    }

    /// These knobs with the captured sizes extended up to the engine's max
    /// batch `max_batch` where the profile says the engine extends them
    /// (`cuda_graph_extend_step`); unchanged otherwise.
    pub fn with_graphs_to(mut self, max_batch: u64) -> Self {
        let step = self.cuda_graph_extend_step;
        let last = self.cuda_graph_max_batch();
        if step == 0 || max_batch <= last {
            return self;
        }
        if last + step <= max_batch {
            let top = last + (max_batch - last) / step * step;
            self.cuda_graph_batch_sizes.push([last + step, top, step]);
        }
        self.cuda_graph_batch_sizes.push([max_batch, max_batch, 1]);
        self
    }

    /// These knobs with no captured size above `max_batch` (an engine
    /// setting such as SGLang's `cuda_graph_max_bs` cuts its list there).
    pub fn with_graphs_up_to(mut self, max_batch: u64) -> Self {
        self.cuda_graph_batch_sizes.retain_mut(|r| {
            if r[0] > max_batch {
                return false;
            }
            r[1] = r[1].min(max_batch);
            true
        });
        self
    }

    /// The captured graph a decode batch of `n` sequences replays: the
    /// smallest captured size ≥ n (exactly n without padding); None: eager.
    pub fn cuda_graph_size(&self, n: u64) -> Option<u64> {
        let mut best: Option<u64> = None;
        for r in &self.cuda_graph_batch_sizes {
            let (first, last, step) = (r[0], r[1], r[2].max(1));
            if n > last || last < first {
                continue;
            }
            let size = if n <= first {
                first
            } else {
                first + (n - first).div_ceil(step) * step
            };
            if size > last {
                continue;
            }
            if !self.cuda_graph_padding && size != n {
                continue;
            }
            best = Some(best.map_or(size, |b: u64| b.min(size)));
        }
        best
    }

    /// Check the knobs; `engine` names the profile in the message.
    pub fn validate(&self, engine: &str) -> Result<(), String> {
        if self.kv_admission == KvAdmission::ReserveOutputRatio && self.new_token_ratio.is_none() {
            return Err(format!(
                "engine {engine}: kv_admission reserve_output_ratio needs a new_token_ratio block"
            ));
        }
        for r in &self.cuda_graph_batch_sizes {
            if r[0] == 0 || r[1] < r[0] || r[2] == 0 {
                return Err(format!(
                    "engine {engine}: cuda_graph_batch_sizes range {r:?} must be [first ≥ 1, last ≥ first, step ≥ 1]"
                ));
            }
        }
        for (name, v) in [
            (
                "eager_overhead_per_layer_seconds",
                self.eager_overhead_per_layer_seconds,
            ),
            (
                "prefill_overhead_per_sequence_seconds",
                self.prefill_overhead_per_sequence_seconds,
            ),
            ("request_overhead_seconds", self.request_overhead_seconds),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("engine {engine}: {name} = {v} must be ≥ 0"));
            }
        }
        let k = self.prefill_compute_scale;
        if !(k.is_finite() && k >= 1.0) {
            return Err(format!(
                "engine {engine}: prefill_compute_scale = {k} must be ≥ 1 (1 = prefill at the GEMM efficiency)"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_sizes() {
        // vLLM's default list: 1, 2, 4, 8..256 step 8, 272..512 step 16.
        let mut s = SchedulerSpec::generic();
        s.cuda_graph_batch_sizes =
            vec![[1, 1, 1], [2, 2, 1], [4, 4, 1], [8, 256, 8], [272, 512, 16]];
        assert_eq!(s.cuda_graph_max_batch(), 512);
        assert_eq!(s.cuda_graph_size(1), Some(1));
        assert_eq!(s.cuda_graph_size(3), Some(4));
        assert_eq!(s.cuda_graph_size(9), Some(16));
        assert_eq!(s.cuda_graph_size(257), Some(272));
        assert_eq!(s.cuda_graph_size(512), Some(512));
        assert_eq!(s.cuda_graph_size(513), None);
        s.cuda_graph_padding = false;
        assert_eq!(s.cuda_graph_size(3), None);
        assert_eq!(s.cuda_graph_size(16), Some(16));
    }

    #[test]
    fn graphs_extended_to_the_max_batch() {
        // TensorRT-LLM's padded list (tensorrt_llm/llmapi/llm_args.py
        // BaseCudaGraphConfig._generate_cuda_graph_batch_sizes @0004396720):
        // 1, 2, 4, 8..128 step 8, then +64 while ≤ max_batch_size, then
        // max_batch_size itself. For max_batch_size 300: ..., 128, 192, 256, 300.
        let mut s = SchedulerSpec::generic();
        s.cuda_graph_batch_sizes = vec![[1, 1, 1], [2, 2, 1], [4, 4, 1], [8, 128, 8]];
        s.cuda_graph_extend_step = 64;
        let t = s.clone().with_graphs_to(300);
        assert_eq!(t.cuda_graph_max_batch(), 300);
        assert_eq!(t.cuda_graph_size(111), Some(112));
        assert_eq!(t.cuda_graph_size(129), Some(192));
        assert_eq!(t.cuda_graph_size(256), Some(256));
        assert_eq!(t.cuda_graph_size(257), Some(300));
        assert_eq!(t.cuda_graph_size(301), None);
        // A max batch inside the list adds nothing; step 0 never extends.
        assert_eq!(s.clone().with_graphs_to(64).cuda_graph_batch_sizes.len(), 4);
        s.cuda_graph_extend_step = 0;
        assert_eq!(s.with_graphs_to(300).cuda_graph_size(200), None);
    }

    #[test]
    fn graphs_cut_at_a_ceiling() {
        // SGLang's list (server_args.py _generate_cuda_graph_batch_sizes):
        // ..., 16..256 step 8, 272..496 step 16, 512; cuda_graph_max_bs 256
        // keeps 256 and drops the rest.
        let mut s = SchedulerSpec::generic();
        s.cuda_graph_batch_sizes = vec![[1, 1, 1], [16, 256, 8], [272, 496, 16], [512, 512, 1]];
        let t = s.clone().with_graphs_up_to(256);
        assert_eq!(t.cuda_graph_max_batch(), 256);
        assert_eq!(t.cuda_graph_size(250), Some(256));
        assert_eq!(t.cuda_graph_size(257), None);
        let t = s.with_graphs_up_to(512);
        assert_eq!(t.cuda_graph_size(257), Some(272));
        assert_eq!(t.cuda_graph_size(500), Some(512));
    }
}
