//! The plan search: weights format × KV dtype × TP × PP × DP × EP (DP
//! attention for MoE/MLA) × batch, honouring what each GPU supports and the
//! model's divisibility limits; ranks candidates by an objective and
//! explains why each wins or loses. Also the short recommendation list that
//! `estimate` prints.

use crate::error::{Error, Result};
use crate::estimate::{estimate, Estimate};
use crate::perf::Efficiency;
use crate::scenario::{Cluster, Scenario};
use crate::spec::dtype::{KvDtype, WeightFormat};
use crate::units::{gib, seconds};
use serde::Serialize;

pub mod cost;

/// What the search optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// Most output tokens/s for the whole deployment.
    Throughput,
    /// Lowest time per output token.
    Latency,
    /// Fewest GPUs that meet the constraints.
    Gpus,
    /// Lowest dollars per million output tokens at the GPUs' hourly price
    /// (`--gpu-price`, or the built-in table in `src/plan/cost.rs`).
    Cost,
}

impl Objective {
    /// The canonical name ("throughput", "latency", "gpus").
    pub fn name(self) -> &'static str {
        match self {
            Objective::Throughput => "throughput",
            Objective::Latency => "latency",
            Objective::Gpus => "gpus",
            Objective::Cost => "cost",
        }
    }

    /// Parse `--objective`.
    pub fn parse(t: &str) -> Result<Self> {
        match t.trim().to_ascii_lowercase().as_str() {
            "throughput" => Ok(Objective::Throughput),
            "latency" => Ok(Objective::Latency),
            "gpus" => Ok(Objective::Gpus),
            "cost" | "price" | "dollars" => Ok(Objective::Cost),
            o => Err(Error::input(
                "objective",
                format!("unknown objective '{o}'; valid: throughput, latency, gpus, cost"),
            )),
        }
    }
}

impl std::str::FromStr for Objective {
    type Err = Error;
    fn from_str(t: &str) -> Result<Self> {
        Objective::parse(t)
    }
}

impl std::fmt::Display for Objective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Objective {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Objective {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Objective::parse(&text).map_err(|e| serde::de::Error::custom(e.message()))
    }
}

/// Constraints of a search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Constraints {
    /// Concurrent sequences to serve; None: as many as fit.
    pub batch: Option<u64>,
    /// Upper bound on time per output token, seconds.
    pub max_tpot_seconds: Option<f64>,
    /// Upper bound on time to first token, seconds.
    pub max_ttft_seconds: Option<f64>,
    /// Weight formats to consider (empty: all the GPU supports).
    pub weights: Vec<WeightFormat>,
    /// KV dtypes to consider (empty: all the GPU supports).
    pub kv_dtypes: Vec<KvDtype>,
    /// Price of one GPU of this kind, US dollars per hour (None: unknown;
    /// the `cost` objective needs it).
    pub gpu_price_per_hour: Option<f64>,
}

/// One evaluated configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// Weights format (serialised as its name, e.g. "fp8-block").
    pub weights_dtype: WeightFormat,
    /// KV dtype (serialised as its name, e.g. "fp8").
    pub kv_dtype: KvDtype,
    /// Tensor parallel.
    pub tp: u64,
    /// Pipeline parallel.
    pub pp: u64,
    /// Expert parallel.
    pub ep: u64,
    /// Data parallel.
    pub dp: u64,
    /// Nodes used.
    pub nodes: u64,
    /// GPUs used.
    pub gpus: u64,
    /// Batch evaluated: concurrent sequences of the whole deployment.
    pub batch: u64,
    /// The same batch per data-parallel replica (the busiest one).
    pub batch_per_replica: u64,
    /// Whether it fits at that batch and meets the constraints.
    pub fits: bool,
    /// Whether the weights and the batch's KV fit in memory (the
    /// constraints aside); speeds of configurations that do not are moot.
    pub fits_memory: bool,
    /// Largest batch the deployment runs at once at the context: what
    /// memory holds, capped by the engine's `max_num_seqs` per replica.
    pub max_batch: u64,
    /// Largest batch by memory alone (the KV pool).
    pub max_batch_memory: u64,
    /// What bounds `batch` when the search picked it: "memory",
    /// "max_num_seqs", "max_tpot", "max_ttft"; "requested" when the user
    /// gave it.
    pub batch_limit: String,
    /// Weights per GPU (fullest GPU).
    pub weights_bytes_per_gpu: u64,
    /// Total per GPU at the batch.
    pub total_bytes_per_gpu: u64,
    /// Time per output token.
    pub tpot_seconds: f64,
    /// Time to first token.
    pub ttft_seconds: f64,
    /// Output tokens/s, whole deployment.
    pub tokens_per_second: f64,
    /// Output tokens/s per GPU.
    pub tokens_per_second_per_gpu: f64,
    /// Dollars per hour of its GPUs (when a price is known).
    pub cost_per_hour_usd: Option<f64>,
    /// Dollars per million output tokens at this batch (when a price is known).
    pub usd_per_million_output_tokens: Option<f64>,
    /// Notes on the weights format on this GPU: a weight-only path where
    /// the GPU lacks the math, the quality caveat of a quantized format.
    pub notes: Vec<String>,
    /// On the throughput/latency Pareto front.
    pub pareto: bool,
    /// Why it wins or loses (what bounds it; never a repeat of the columns).
    pub reason: String,
}

/// A recommended change, for `estimate`'s output and JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    /// What kind of change, in the order an engineer tries them:
    /// "layout", "kv-dtype", "context", "quantization", "more-hardware",
    /// "relax" (a limit the user gave cannot be met; says which it relaxes).
    pub kind: String,
    /// The user's limits this suggestion does not meet (empty: it meets all).
    pub relaxes: Vec<String>,
    /// What it costs: quality caveat of a format (with its source), a
    /// shorter context, extra GPUs.
    pub cost: String,
    /// One line.
    pub title: String,
    /// Memory and speed of the recommended configuration.
    pub detail: String,
    /// The configuration itself.
    pub candidate: Candidate,
}

/// Formats worth trying on this GPU for this model.
fn formats(base: &Scenario, c: &Constraints) -> Vec<WeightFormat> {
    if !c.weights.is_empty() {
        return c.weights.clone();
    }
    let gpu = &base.cluster.gpu;
    let mut v = vec![base.model.native_dtype.as_weight_format()];
    if v[0] == WeightFormat::Fp32 {
        v[0] = WeightFormat::Bf16;
    }
    if let Some(f) = base.model.checkpoint_format {
        v.push(f);
    }
    for f in [
        WeightFormat::Fp8Block,
        WeightFormat::Int8,
        WeightFormat::Int4,
        WeightFormat::Nvfp4,
    ] {
        if gpu.supports_weights(f) && !v.contains(&f) {
            v.push(f);
        }
    }
    v.retain(|f| gpu.supports_weights(*f) || Some(*f) == base.model.checkpoint_format);
    v
}

fn kv_dtypes(base: &Scenario, c: &Constraints) -> Vec<KvDtype> {
    if !c.kv_dtypes.is_empty() {
        return c.kv_dtypes.clone();
    }
    let mut v = vec![base.deployment.kv_dtype];
    if base.cluster.gpu.supports_kv(KvDtype::Fp8) && !v.contains(&KvDtype::Fp8) {
        v.push(KvDtype::Fp8);
    }
    v
}

/// Divisors of `n` in increasing order, in O(√n) steps (n can be 10^6).
fn divisors(n: u64) -> Vec<u64> {
    let mut low = Vec::new();
    let mut high = Vec::new();
    let mut d = 1;
    while d * d <= n {
        if n % d == 0 {
            low.push(d);
            if d * d != n {
                high.push(n / d);
            }
        }
        d += 1;
    }
    low.extend(high.into_iter().rev());
    low
}

/// An upper estimate of the configurations [`search`] evaluates (each one
/// or two estimates), computed without evaluating any: the server refuses
/// or weighs a plan request by it before doing the work, and the CLI refuses
/// searches that would run for minutes.
pub fn search_cost(base: &Scenario, c: &Constraints, objective: Objective) -> u64 {
    let clusters = if objective == Objective::Gpus {
        // Powers of two inside a node, then every node count (clusters_for).
        let mut n = 0u64;
        let mut g = 1u64;
        while g <= base.cluster.gpus_per_node {
            n += 1;
            g *= 2;
        }
        n + base.cluster.nodes.saturating_sub(1)
    } else {
        1
    };
    let per_cluster = layouts(base, &base.cluster).len() as u64
        * formats(base, c).len() as u64
        * kv_dtypes(base, c).len() as u64;
    clusters.saturating_mul(per_cluster.max(1))
}

/// An upper estimate of the configurations [`recommend`] evaluates for
/// `base`: its search on the same GPUs, plus at most three searches with
/// more nodes in the current formats. [`advise`]'s searches are each
/// restricted to one weights format (and at most two KV dtypes) but one per
/// step and per larger cluster: together still under four full searches.
pub fn recommend_cost(base: &Scenario) -> u64 {
    let c = Constraints {
        batch: Some(base.workload.batch),
        ..Constraints::default()
    };
    search_cost(base, &c, Objective::Throughput).saturating_mul(4)
}

/// Most configurations one plan search may evaluate (about a minute of
/// work at the worst model size); larger searches are refused up front.
pub const MAX_SEARCH_CONFIGURATIONS: u64 = 20_000;

/// Every (tp, pp, dp, ep) layout of `gpus` GPUs that the model allows.
fn layouts(base: &Scenario, cluster: &Cluster) -> Vec<(u64, u64, u64, u64)> {
    let n = cluster.total_gpus();
    let mut out = Vec::new();
    for tp in divisors(n) {
        // Tensor parallelism beyond one node is rarely sane; keep it inside.
        if tp > cluster.gpus_per_node {
            continue;
        }
        for pp in divisors(n / tp) {
            let dp = n / tp / pp;
            let eps: Vec<u64> = if base.model.moe.is_some() {
                let mut e = vec![1];
                if tp * dp > 1 {
                    e.push(tp * dp);
                }
                e
            } else {
                vec![1]
            };
            for ep in eps {
                out.push((tp, pp, dp, ep));
            }
        }
    }
    out
}

/// The largest batch the engine runs at once on one replica: vLLM, SGLang
/// and TensorRT-LLM schedule at most `max_num_seqs` sequences per step and
/// queue the rest; HF `generate` (budget rule `dynamic`, no scheduler) runs
/// whatever batch it is given. `None`: no cap.
pub fn engine_batch_cap(s: &Scenario) -> Option<u64> {
    let e = &s.deployment.engine;
    (e.budget_rule != crate::spec::engine::BudgetRule::Dynamic && e.max_num_seqs > 0)
        .then(|| e.max_num_seqs.saturating_mul(s.deployment.dp))
}

/// Notes a weights format carries on a GPU: the weight-only path where the
/// GPU lacks the format's math, and the quality caveat of quantization.
pub fn format_notes(s: &Scenario) -> Vec<String> {
    let w = s.deployment.weights;
    let gpu = &s.cluster.gpu;
    let mut v = Vec::new();
    let checkpoint = s.model.checkpoint_format == Some(w)
        || (!w.is_quantized() && s.model.checkpoint_format.is_none());
    if w.is_quantized() && !gpu.supports_weights(w) {
        v.push(format!(
            "{w} weights on {} ({:?}): the GPU has no {w} math, so engines run them weight-only (vLLM's Marlin kernels dequantise to 16 bits inside the GEMM): memory and bandwidth at {w} bytes, matmuls at the {:.0} TFLOPS 16-bit rate",
            gpu.name, gpu.arch, gpu.bf16_tflops
        ));
    }
    if w == WeightFormat::Mxfp4 && gpu.supports_weights(w) {
        let dense = if crate::memory::weights::quantizes_dense(&s.model, w) {
            "every linear layer"
        } else {
            "the routed experts (the dense layers stay 16-bit, at the 16-bit rate)"
        };
        v.push(format!(
            "mxfp4 on {}: {dense} run at the {:.0} TFLOPS fp8 rate, not the fp4 one: engines pair MXFP4 weights with MXFP8 or 16-bit activations (assumption: MXFP8 activations, TensorRT-LLM's W4A8_MXFP4_MXFP8; vLLM's MXFP4 MoE backend, chosen by environment variables, may keep 16-bit activations, which makes prefill slower than this)",
            gpu.name,
            gpu.fp8_tflops.unwrap_or(gpu.bf16_tflops)
        ));
    }
    if w.is_quantized() && !checkpoint {
        v.push(quality_caveat(w).to_string());
    }
    v
}

/// The typical accuracy cost of quantizing a 16-bit checkpoint to `w`,
/// with its source (docs/sources/quantization.md).
pub fn quality_caveat(w: WeightFormat) -> &'static str {
    match w {
        WeightFormat::Fp8 | WeightFormat::Fp8Block | WeightFormat::Mxfp8 => {
            "quality: FP8 weights+activations (W8A8-FP) measured effectively lossless on Llama-3.1 8B–405B (Kurtic et al., arXiv:2411.02355, ACL 2025); check your own evals"
        }
        WeightFormat::Int8 => {
            "quality: INT8 weights+activations (W8A8-INT) lose 1–3% accuracy when well tuned (Kurtic et al., arXiv:2411.02355); check your own evals"
        }
        WeightFormat::Int4 | WeightFormat::Int4Gptq | WeightFormat::Int4G32 => {
            "quality: INT4 weight-only (W4A16) is close to 8-bit on average (Kurtic et al., arXiv:2411.02355) but loses more on small models and long reasoning/code; evaluate before serving"
        }
        WeightFormat::Nf4 => {
            "quality: NF4 (bitsandbytes) 4-bit weight-only; slower kernels and a larger accuracy drop than AWQ/GPTQ; evaluate before serving"
        }
        WeightFormat::Nvfp4 | WeightFormat::Mxfp4 => {
            "quality: 4-bit floating point (block-scaled); accuracy depends on the calibration of the checkpoint: use a published NVFP4/MXFP4 checkpoint and evaluate"
        }
        _ => "",
    }
}

fn candidate_of(e: &Estimate, constraints_ok: bool, reason: String) -> Candidate {
    let s = &e.scenario;
    let d = &s.deployment;
    let p = &e.performance;
    let b = e.memory.binding_stage();
    let tpot = p.decode.seconds / p.tokens_per_step;
    let cap = engine_batch_cap(s).unwrap_or(u64::MAX);
    let batch = s.workload.batch;
    Candidate {
        weights_dtype: d.weights,
        kv_dtype: d.kv_dtype,
        tp: d.tp,
        pp: d.pp,
        ep: d.ep,
        dp: d.dp,
        nodes: s.cluster.nodes,
        gpus: s.cluster.total_gpus(),
        batch,
        batch_per_replica: batch.div_ceil(d.dp.max(1)),
        fits: e.memory.fits && constraints_ok,
        fits_memory: e.memory.fits,
        max_batch: e.memory.max_batch.min(cap),
        max_batch_memory: e.memory.max_batch,
        batch_limit: "requested".into(),
        weights_bytes_per_gpu: b.weights_bytes,
        total_bytes_per_gpu: b.total_bytes(),
        tpot_seconds: tpot,
        ttft_seconds: p.prefill_seconds + p.decode.seconds + d.engine.ttft_overhead_seconds,
        tokens_per_second: p.decode_tokens_per_second,
        tokens_per_second_per_gpu: p.decode_tokens_per_second / s.cluster.total_gpus() as f64,
        cost_per_hour_usd: None,
        usd_per_million_output_tokens: None,
        notes: format_notes(s),
        pareto: false,
        reason,
    }
}

/// The limits of `c` that estimate `e` misses, as sentences.
fn missed(e: &Estimate, c: &Constraints) -> Vec<String> {
    let p = &e.performance;
    let tpot = p.decode.seconds / p.tokens_per_step;
    let ttft =
        p.prefill_seconds + p.decode.seconds + e.scenario.deployment.engine.ttft_overhead_seconds;
    let mut why = Vec::new();
    if !e.memory.fits {
        why.push(
            e.memory
                .verdict
                .first()
                .cloned()
                .unwrap_or_else(|| "does not fit".into()),
        );
    }
    if let Some(cap) = engine_batch_cap(&e.scenario) {
        if e.scenario.workload.batch > cap {
            why.push(format!(
                "batch {} is more than the engine runs at once ({} = max_num_seqs {} × DP {}; the rest would queue; --max-num-seqs raises it)",
                e.scenario.workload.batch,
                cap,
                e.scenario.deployment.engine.max_num_seqs,
                e.scenario.deployment.dp
            ));
        }
    }
    if let Some(t) = c.max_tpot_seconds {
        if tpot > t {
            why.push(format!(
                "time per token {} exceeds the {} limit",
                seconds(tpot),
                seconds(t)
            ));
        }
    }
    if let Some(t) = c.max_ttft_seconds {
        if ttft > t {
            why.push(format!(
                "TTFT {} exceeds the {} limit",
                seconds(ttft),
                seconds(t)
            ));
        }
    }
    why
}

/// Evaluate one configuration: at the requested batch, or — when none was
/// requested — at the largest batch that meets every limit: what memory
/// holds, the engine's `max_num_seqs` per replica, and the TPOT/TTFT limits
/// (both grow with the batch, so a bisection finds the largest that meets
/// them).
fn evaluate(s: &mut Scenario, c: &Constraints, eff: &Efficiency) -> Option<Candidate> {
    if s.validate().is_err() {
        return None;
    }
    let dp = s.deployment.dp.max(1);
    let run = |s: &mut Scenario, b: u64| -> Option<Estimate> {
        s.workload.batch = b;
        estimate(s, eff, 1.0).ok()
    };
    let (e, limit) = if let Some(b) = c.batch {
        (run(s, b)?, "requested")
    } else {
        // Probe with one sequence per replica to learn what memory holds.
        let probe = run(s, dp)?;
        let memory = probe.memory.max_batch;
        let cap = engine_batch_cap(s).unwrap_or(4096 * dp);
        let admitted = memory.min(cap).max(1);
        let by = if cap < memory {
            "max_num_seqs"
        } else {
            "memory"
        };
        let top = run(s, admitted)?;
        let limited = c.max_tpot_seconds.is_some() || c.max_ttft_seconds.is_some();
        if !limited || missed(&top, c).is_empty() {
            (top, by)
        } else {
            // Largest batch in [1, admitted) meeting the latency limits.
            let one = run(s, 1)?;
            let w = missed(&one, c);
            if !w.is_empty() {
                let tpot = w.iter().any(|x| x.starts_with("time per token"));
                (one, if tpot { "max_tpot" } else { "max_ttft" })
            } else {
                let (mut lo, mut hi) = (1u64, admitted);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if missed(&run(s, mid)?, c).is_empty() {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                let best = run(s, lo)?;
                let next = run(s, lo + 1)?;
                let p = &next.performance;
                let tpot_bound = c
                    .max_tpot_seconds
                    .is_some_and(|t| p.decode.seconds / p.tokens_per_step > t);
                (best, if tpot_bound { "max_tpot" } else { "max_ttft" })
            }
        }
    };
    let why = missed(&e, c);
    let ok = why.is_empty();
    let mut cand = candidate_of(&e, ok, String::new());
    cand.batch_limit = limit.to_string();
    cand.reason = if ok {
        match limit {
            "requested" => "meets every limit at the batch asked for".to_string(),
            "memory" => "batch bounded by the KV pool (memory)".to_string(),
            "max_num_seqs" => format!(
                "batch bounded by the engine's max_num_seqs ({} per replica; memory would hold {})",
                s.deployment.engine.max_num_seqs, cand.max_batch_memory
            ),
            "max_tpot" => format!(
                "largest batch under the {} TPOT limit; memory would hold more",
                seconds(c.max_tpot_seconds.unwrap_or(0.0)),
            ),
            _ => format!(
                "largest batch under the {} TTFT limit; memory would hold more",
                seconds(c.max_ttft_seconds.unwrap_or(0.0)),
            ),
        }
    } else if c.batch.is_none() && e.memory.fits {
        format!("even at batch {}: {}", cand.batch, why.join("; "))
    } else {
        why.join("; ")
    };
    if let Some(price) = c.gpu_price_per_hour {
        let hour = price * cand.gpus as f64;
        cand.cost_per_hour_usd = Some(hour);
        cand.usd_per_million_output_tokens =
            cost::usd_per_million_tokens(hour, cand.tokens_per_second);
    }
    Some(cand)
}

/// Search every configuration of `base`'s model on `base.cluster`. Returns
/// all candidates, best first (fitting ones first), with the Pareto front
/// of throughput against latency marked.
pub fn search(
    base: &Scenario,
    c: &Constraints,
    objective: Objective,
    eff: &Efficiency,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for cluster in clusters_for(base, objective) {
        for &(tp, pp, dp, ep) in &layouts(base, &cluster) {
            for w in formats(base, c) {
                for kv in kv_dtypes(base, c) {
                    // A caller past its deadline gets nothing (search_pinned
                    // reports it); the slot is freed now, not at the end.
                    if crate::deadline::passed() {
                        return Vec::new();
                    }
                    let mut s = base.clone();
                    s.cluster = cluster.clone();
                    s.deployment.tp = tp;
                    s.deployment.pp = pp;
                    s.deployment.dp = dp;
                    s.deployment.ep = ep;
                    s.deployment.weights = w;
                    s.deployment.kv_dtype = kv;
                    if let Some(cand) = evaluate(&mut s, c, eff) {
                        out.push(cand);
                    }
                }
            }
        }
    }
    rank(&mut out, objective, checkpoint_weights(base));
    out
}

/// For the `gpus` objective, also try fewer GPUs (powers of two up to the
/// cluster); otherwise the cluster as given.
fn clusters_for(base: &Scenario, objective: Objective) -> Vec<Cluster> {
    if !matches!(objective, Objective::Gpus | Objective::Cost) {
        return vec![base.cluster.clone()];
    }
    let mut v = Vec::new();
    let mut n = 1;
    while n <= base.cluster.gpus_per_node {
        v.push(Cluster {
            gpu: base.cluster.gpu.clone(),
            nodes: 1,
            gpus_per_node: n,
        });
        n *= 2;
    }
    for nodes in 2..=base.cluster.nodes {
        v.push(Cluster {
            gpu: base.cluster.gpu.clone(),
            nodes,
            gpus_per_node: base.cluster.gpus_per_node,
        });
    }
    v
}

/// Sort best first and mark the Pareto front (fitting candidates only).
fn rank(v: &mut [Candidate], objective: Objective, checkpoint: WeightFormat) {
    // Among equally good answers an engineer keeps the checkpoint's own
    // format: quantization ranks last at equal GPU count.
    let bits = |c: &Candidate| {
        if c.weights_dtype == checkpoint {
            0.0
        } else {
            1.0 + (32 - c.weights_dtype.payload_bits()) as f64
        }
    };
    let key = |c: &Candidate| -> (bool, f64, f64, f64) {
        if !c.fits {
            // Among configurations that do not meet the limits, the nearest
            // miss first: those that fit in memory (fastest first), then the
            // smallest memory overrun.
            return if c.fits_memory {
                (true, -1.0, c.tpot_seconds, 0.0)
            } else {
                (true, c.total_bytes_per_gpu as f64, c.tpot_seconds, 0.0)
            };
        }
        let primary = match objective {
            Objective::Throughput => -c.tokens_per_second,
            Objective::Latency => c.tpot_seconds,
            Objective::Gpus => c.gpus as f64,
            Objective::Cost => c.usd_per_million_output_tokens.unwrap_or(f64::INFINITY),
        };
        let (secondary, third) = match objective {
            Objective::Gpus => (bits(c), -c.tokens_per_second),
            Objective::Cost => (-c.tokens_per_second, 0.0),
            _ => (c.tpot_seconds, 0.0),
        };
        (!c.fits, primary, secondary, third)
    };
    v.sort_by(|a, b| {
        key(a)
            .partial_cmp(&key(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let fitting: Vec<(f64, f64)> = v
        .iter()
        .filter(|c| c.fits)
        .map(|c| (c.tokens_per_second, c.tpot_seconds))
        .collect();
    for c in v.iter_mut().filter(|c| c.fits) {
        c.pareto = !fitting.iter().any(|&(t, l)| {
            (t >= c.tokens_per_second && l < c.tpot_seconds)
                || (t > c.tokens_per_second && l <= c.tpot_seconds)
        });
    }
}

/// "bf16 weights, fp8 KV, TP2 DP4 on 8 GPUs".
pub fn describe(c: &Candidate) -> String {
    let mut par = format!("TP{}", c.tp);
    if c.pp > 1 {
        par.push_str(&format!(" PP{}", c.pp));
    }
    if c.dp > 1 {
        par.push_str(&format!(" DP{}", c.dp));
    }
    if c.ep > 1 {
        par.push_str(&format!(" EP{}", c.ep));
    }
    let where_ = if c.nodes > 1 {
        format!("{} nodes ({} GPUs)", c.nodes, c.gpus)
    } else {
        format!("{} GPUs", c.gpus)
    };
    format!(
        "{} weights, {} KV, {par} on {where_}",
        c.weights_dtype, c.kv_dtype
    )
}

/// Memory, then — only for a configuration that fits — its speed.
fn detail(c: &Candidate) -> String {
    let per_replica = if c.dp > 1 {
        format!(" ({} per replica)", c.batch_per_replica)
    } else {
        String::new()
    };
    let mut d = format!(
        "{} weights + total {} per GPU; max batch {} at this context",
        gib(c.weights_bytes_per_gpu),
        gib(c.total_bytes_per_gpu),
        c.max_batch,
    );
    if c.fits_memory {
        d.push_str(&format!(
            "; at batch {}{per_replica}: {} per token, {:.0} tok/s total, TTFT {}",
            c.batch,
            seconds(c.tpot_seconds),
            c.tokens_per_second,
            seconds(c.ttft_seconds)
        ));
    }
    if let (Some(h), Some(m)) = (c.cost_per_hour_usd, c.usd_per_million_output_tokens) {
        d.push_str(&format!("; ${h:.2}/hour, ${m:.2} per 1M output tokens"));
    }
    d
}

/// The limits the user gave, by their CLI names, that `c` leaves out.
fn limit_names(c: &Constraints) -> Vec<String> {
    let mut v = Vec::new();
    if c.max_tpot_seconds.is_some() {
        v.push("max-tpot-ms".to_string());
    }
    if c.max_ttft_seconds.is_some() {
        v.push("max-ttft-ms".to_string());
    }
    v
}

fn rec(kind: &str, title: String, cost: String, cand: Candidate) -> Recommendation {
    Recommendation {
        kind: kind.into(),
        relaxes: vec![],
        cost,
        title,
        detail: detail(&cand),
        candidate: cand,
    }
}

/// The checkpoint's own weights format (what the user downloads).
pub fn checkpoint_weights(s: &Scenario) -> WeightFormat {
    s.model
        .checkpoint_format
        .unwrap_or_else(|| match s.model.native_dtype.as_weight_format() {
            WeightFormat::Fp32 => WeightFormat::Bf16,
            w => w,
        })
}

/// The short list `estimate` shows, at the requested batch.
pub fn recommend(current: &Estimate, eff: &Efficiency) -> Vec<Recommendation> {
    let c = Constraints {
        batch: Some(current.scenario.workload.batch),
        max_tpot_seconds: None,
        max_ttft_seconds: None,
        weights: vec![],
        kv_dtypes: vec![],
        gpu_price_per_hour: None,
    };
    advise(&current.scenario, &c, Some(current), eff)
}

/// Recommendations in the order an engineer reasons about them, each
/// meeting the limits of `c` (or saying in `relaxes` which it does not):
///
/// 1. the weights format in use (the checkpoint's own unless the user
///    asked for another) on the user's GPUs: another parallel layout
///    (DP before PP inside a node), then fp8 KV;
/// 2. a shorter context, when memory is what fails;
/// 3. quantization — only when the format in use does not fit, or meets no
///    limit — mildest first (fp8, int8, int4), with its quality caveat;
/// 4. more hardware, last and labelled: a fuller node first, then nodes.
///
/// When the current configuration already meets everything, only changes
/// in the same format that are ≥ 5% faster are offered.
pub fn advise(
    base: &Scenario,
    c: &Constraints,
    current: Option<&Estimate>,
    eff: &Efficiency,
) -> Vec<Recommendation> {
    let w0 = base.deployment.weights;
    let kv0 = base.deployment.kv_dtype;
    let is_current = |x: &Candidate| {
        x.weights_dtype == w0
            && x.kv_dtype == kv0
            && (x.tp, x.pp, x.dp, x.ep)
                == (
                    base.deployment.tp,
                    base.deployment.pp,
                    base.deployment.dp,
                    base.deployment.ep,
                )
            && x.gpus == base.cluster.total_gpus()
    };
    let current_ok = current.is_some_and(|e| missed(e, c).is_empty());
    let cur_tps = current.map_or(0.0, |e| e.performance.decode_tokens_per_second);
    let with = |weights: Vec<WeightFormat>, kvs: Vec<KvDtype>| Constraints {
        weights,
        kv_dtypes: kvs,
        ..c.clone()
    };
    let best = |s: &Scenario, cc: &Constraints| -> Option<Candidate> {
        search(s, cc, Objective::Throughput, eff)
            .into_iter()
            .find(|x| x.fits && !is_current(x))
    };
    let mut recs: Vec<Recommendation> = Vec::new();
    // 1a. Same formats, another layout on the same GPUs.
    if let Some(x) = best(base, &with(vec![w0], vec![kv0])) {
        if !current_ok || x.tokens_per_second > cur_tps * 1.05 {
            recs.push(rec(
                "layout",
                format!("same formats, another layout: {}", describe(&x)),
                "none: same weights and KV".into(),
                x,
            ));
        }
    }
    // 1b. fp8 KV with the same weights.
    if kv0 != KvDtype::Fp8 && base.cluster.gpu.supports_kv(KvDtype::Fp8) {
        if let Some(x) = best(base, &with(vec![w0], vec![KvDtype::Fp8])) {
            let gain = x.tokens_per_second > cur_tps * 1.05;
            if (!current_ok || gain)
                && !recs.iter().any(|r| {
                    r.candidate.kv_dtype == KvDtype::Fp8
                        && r.candidate.tokens_per_second >= x.tokens_per_second
                })
            {
                recs.push(rec(
                    "kv-dtype",
                    format!("fp8 KV cache: {}", describe(&x)),
                    "KV bytes halved; fp8 KV usually costs little accuracy, but without calibrated scales engines use scale 1.0 — check long-context evals (docs/sources/quantization.md)".into(),
                    x,
                ));
            }
        }
    }
    if current_ok {
        recs.truncate(3);
        return recs;
    }
    let same_format_found = !recs.is_empty();
    // 2. A shorter context, same formats and layout (memory-bound only).
    if let Some(e) = current {
        if !e.memory.fits
            && e.memory.max_context > 0
            && e.memory.max_context < base.workload.context
        {
            let mut s = base.clone();
            s.workload.context = e.memory.max_context;
            if let Ok(e2) = estimate(&s, eff, 1.0) {
                let why = missed(&e2, c);
                let mut cand = candidate_of(&e2, why.is_empty(), "shorter context".into());
                cand.batch_limit = "requested".into();
                let mut r = rec(
                    "context",
                    format!(
                        "shorten the context to {} tokens (batch {})",
                        crate::units::thousands(e.memory.max_context),
                        s.workload.batch
                    ),
                    format!(
                        "requests longer than {} tokens are refused",
                        crate::units::thousands(e.memory.max_context)
                    ),
                    cand,
                );
                if !why.is_empty() {
                    r.relaxes = limit_names(c);
                }
                recs.push(r);
            }
        }
    }
    // 3. Quantization, mildest first, only when the format in use fails.
    if !same_format_found && c.weights.is_empty() {
        let gpu = &base.cluster.gpu;
        let bits = |w: WeightFormat| w.payload_bits();
        for w in [WeightFormat::Fp8, WeightFormat::Int8, WeightFormat::Int4] {
            if w == w0 || bits(w) >= bits(w0) {
                continue;
            }
            if w == WeightFormat::Fp8 && !gpu.supports_weights(w) {
                continue; // int8 (W8A8) is the 8-bit format with native math there
            }
            if let Some(x) = best(base, &with(vec![w], vec![])) {
                let cost = quality_caveat(w).to_string();
                recs.push(rec(
                    "quantization",
                    format!("quantize to {w}: {}", describe(&x)),
                    cost,
                    x,
                ));
                break;
            }
        }
    }
    // 4. More hardware, labelled: a fuller node, then more nodes.
    let keep = with(vec![w0], vec![kv0]);
    let mut bigger: Vec<crate::scenario::Cluster> = Vec::new();
    let per_node = base.cluster.gpus_per_node;
    let mut g = per_node * 2;
    while g <= 8 && base.cluster.nodes == 1 {
        let mut cl = base.cluster.clone();
        cl.gpus_per_node = g;
        bigger.push(cl);
        g *= 2;
    }
    let full = per_node.max(8);
    for nodes in (base.cluster.nodes + 1)..=(base.cluster.nodes + 3) {
        let mut cl = base.cluster.clone();
        cl.gpus_per_node = full;
        cl.nodes = nodes;
        bigger.push(cl);
    }
    for cl in bigger {
        let mut s = base.clone();
        s.cluster = cl;
        if let Some(x) = search(&s, &keep, Objective::Throughput, eff)
            .into_iter()
            .find(|x| x.fits)
        {
            let extra = x.gpus.saturating_sub(base.cluster.total_gpus());
            recs.push(rec(
                "more-hardware",
                format!("more hardware: {}", describe(&x)),
                format!("{extra} more {} GPUs", base.cluster.gpu.name),
                x,
            ));
            break;
        }
    }
    // Nothing meets the limits the user gave: the nearest miss, saying
    // which limit it relaxes.
    if recs.is_empty() && !limit_names(c).is_empty() {
        let loose = Constraints {
            max_tpot_seconds: None,
            max_ttft_seconds: None,
            ..c.clone()
        };
        let all = search(
            base,
            &Constraints {
                batch: c.batch.or(Some(1)),
                ..loose
            },
            Objective::Latency,
            eff,
        );
        if let Some(x) = all.into_iter().find(|x| x.fits) {
            let mut r = rec(
                "relax",
                format!("fastest that fits, over the limit: {}", describe(&x)),
                "the latency limits as given cannot be met on these GPUs at any batch".into(),
                x,
            );
            r.relaxes = limit_names(c);
            recs.push(r);
        }
    }
    recs.truncate(5);
    recs
}

/// Parallel degrees the user pinned (None: searched over).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pinned {
    /// Tensor parallel.
    pub tp: Option<u64>,
    /// Pipeline parallel.
    pub pp: Option<u64>,
    /// Data parallel.
    pub dp: Option<u64>,
    /// Expert parallel.
    pub ep: Option<u64>,
}

/// Constraints from the user's inputs as both edges (CLI, server) receive
/// them: batch, latency limits in milliseconds, an optional weights format
/// and KV dtype to restrict the search to.
pub fn constraints_from(
    batch: Option<u64>,
    max_tpot_ms: Option<f64>,
    max_ttft_ms: Option<f64>,
    weights: Option<WeightFormat>,
    kv_dtype: Option<KvDtype>,
) -> Result<Constraints> {
    Ok(Constraints {
        batch,
        max_tpot_seconds: max_tpot_ms.map(|x| x / 1e3),
        max_ttft_seconds: max_ttft_ms.map(|x| x / 1e3),
        weights: weights.into_iter().collect(),
        kv_dtypes: kv_dtype.into_iter().collect(),
        gpu_price_per_hour: None,
    })
}

/// `search`, keeping only the layouts whose degrees match those pinned;
/// an error when none is left.
pub fn search_pinned(
    base: &Scenario,
    c: &Constraints,
    objective: Objective,
    eff: &Efficiency,
    pinned: Pinned,
) -> Result<Vec<Candidate>> {
    let cost = search_cost(base, c, objective);
    if cost > MAX_SEARCH_CONFIGURATIONS {
        return Err(Error::input(
            "gpus",
            format!(
                "this search would evaluate about {} configurations (limit {}); use fewer nodes, or fix --weights / --kv-dtype, or a different --objective than gpus",
                crate::units::thousands(cost),
                crate::units::thousands(MAX_SEARCH_CONFIGURATIONS)
            ),
        ));
    }
    let mut all = search(base, c, objective, eff);
    if crate::deadline::passed() {
        return Err(Error::Environment(
            "the search ran past its deadline and was stopped".into(),
        ));
    }
    all.retain(|x| {
        pinned.tp.is_none_or(|t| t == x.tp)
            && pinned.pp.is_none_or(|p| p == x.pp)
            && pinned.dp.is_none_or(|d| d == x.dp)
            && pinned.ep.is_none_or(|e| e == x.ep)
    });
    if all.is_empty() {
        return Err(Error::input(
            "tp",
            "no valid configuration: the pinned parallelism does not divide the model or the GPUs",
        ));
    }
    Ok(all)
}

/// The JSON that `plan --format json` prints and `POST /api/plan` returns.
pub fn plan_json(objective: Objective, all: &[Candidate], top: usize) -> serde_json::Value {
    serde_json::json!({
        "objective": objective,
        "evaluated": all.len(),
        "any_fits": all.iter().any(|x| x.fits),
        "candidates": all.iter().take(top).collect::<Vec<_>>(),
        "pareto": all.iter().filter(|x| x.pareto).collect::<Vec<_>>(),
    })
}
