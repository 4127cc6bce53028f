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

/// What the search optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// Most output tokens/s for the whole deployment.
    Throughput,
    /// Lowest time per output token.
    Latency,
    /// Fewest GPUs that meet the constraints.
    Gpus,
}

impl Objective {
    /// The canonical name ("throughput", "latency", "gpus").
    pub fn name(self) -> &'static str {
        match self {
            Objective::Throughput => "throughput",
            Objective::Latency => "latency",
            Objective::Gpus => "gpus",
        }
    }

    /// Parse `--objective`.
    pub fn parse(t: &str) -> Result<Self> {
        match t.trim().to_ascii_lowercase().as_str() {
            "throughput" => Ok(Objective::Throughput),
            "latency" => Ok(Objective::Latency),
            "gpus" | "cost" => Ok(Objective::Gpus),
            o => Err(Error::input(
                "objective",
                format!("unknown objective '{o}'; valid: throughput, latency, gpus"),
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
#[derive(Debug, Clone, PartialEq)]
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
    /// Batch evaluated.
    pub batch: u64,
    /// Whether it fits at that batch and meets the constraints.
    pub fits: bool,
    /// Largest batch at the context.
    pub max_batch: u64,
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
    /// On the throughput/latency Pareto front.
    pub pareto: bool,
    /// Why it wins or loses.
    pub reason: String,
}

/// A recommended change, for `estimate`'s output and JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
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
/// more nodes in the current formats.
pub fn recommend_cost(base: &Scenario) -> u64 {
    let c = Constraints {
        batch: Some(base.workload.batch),
        max_tpot_seconds: None,
        max_ttft_seconds: None,
        weights: vec![],
        kv_dtypes: vec![],
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

fn candidate_of(e: &Estimate, constraints_ok: bool, reason: String) -> Candidate {
    let s = &e.scenario;
    let d = &s.deployment;
    let p = &e.performance;
    let b = e.memory.binding_stage();
    let tpot = p.decode.seconds / p.tokens_per_step;
    Candidate {
        weights_dtype: d.weights,
        kv_dtype: d.kv_dtype,
        tp: d.tp,
        pp: d.pp,
        ep: d.ep,
        dp: d.dp,
        nodes: s.cluster.nodes,
        gpus: s.cluster.total_gpus(),
        batch: s.workload.batch,
        fits: e.memory.fits && constraints_ok,
        max_batch: e.memory.max_batch,
        weights_bytes_per_gpu: b.weights_bytes,
        total_bytes_per_gpu: b.total_bytes(),
        tpot_seconds: tpot,
        ttft_seconds: p.prefill_seconds + p.decode.seconds + d.engine.ttft_overhead_seconds,
        tokens_per_second: p.decode_tokens_per_second,
        tokens_per_second_per_gpu: p.decode_tokens_per_second / s.cluster.total_gpus() as f64,
        pareto: false,
        reason,
    }
}

/// Evaluate one configuration: at the requested batch, or at the largest
/// batch that fits when none was requested.
fn evaluate(s: &mut Scenario, c: &Constraints, eff: &Efficiency) -> Option<Candidate> {
    if s.validate().is_err() {
        return None;
    }
    let wanted = c.batch;
    if wanted.is_none() {
        // Probe with batch = dp to learn max_batch, then evaluate there.
        s.workload.batch = s.deployment.dp;
        let probe = estimate(s, eff, 1.0).ok()?;
        s.workload.batch = probe.memory.max_batch.max(1).min(4096 * s.deployment.dp);
    } else {
        s.workload.batch = wanted.unwrap_or(1);
    }
    let e = estimate(s, eff, 1.0).ok()?;
    let p = &e.performance;
    let tpot = p.decode.seconds / p.tokens_per_step;
    let ttft = p.prefill_seconds + p.decode.seconds + s.deployment.engine.ttft_overhead_seconds;
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
    let ok = why.is_empty();
    let reason = if ok {
        format!(
            "{} weights/GPU, {:.0} tok/s total, {} per token",
            gib(e.memory.binding_stage().weights_bytes),
            p.decode_tokens_per_second,
            seconds(tpot)
        )
    } else {
        why.join("; ")
    };
    Some(candidate_of(&e, ok, reason))
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
    rank(&mut out, objective);
    out
}

/// For the `gpus` objective, also try fewer GPUs (powers of two up to the
/// cluster); otherwise the cluster as given.
fn clusters_for(base: &Scenario, objective: Objective) -> Vec<Cluster> {
    if objective != Objective::Gpus {
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
fn rank(v: &mut [Candidate], objective: Objective) {
    let key = |c: &Candidate| -> (bool, f64, f64) {
        if !c.fits {
            // Among configurations that do not fit, the nearest miss first.
            return (true, c.total_bytes_per_gpu as f64, c.tpot_seconds);
        }
        let primary = match objective {
            Objective::Throughput => -c.tokens_per_second,
            Objective::Latency => c.tpot_seconds,
            Objective::Gpus => c.gpus as f64,
        };
        let secondary = match objective {
            Objective::Gpus => -c.tokens_per_second,
            _ => c.tpot_seconds,
        };
        (!c.fits, primary, secondary)
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

fn describe(c: &Candidate) -> String {
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

fn detail(c: &Candidate) -> String {
    format!(
        "{} weights + total {} per GPU; max batch {} at this context; at batch {}: {} per token, {:.0} tok/s total, TTFT {}",
        gib(c.weights_bytes_per_gpu),
        gib(c.total_bytes_per_gpu),
        c.max_batch,
        c.batch,
        seconds(c.tpot_seconds),
        c.tokens_per_second,
        seconds(c.ttft_seconds)
    )
}

/// The short list `estimate` shows: the best configurations on the same
/// GPUs at the requested workload, and — when nothing fits there — the
/// fewest extra nodes that make it fit, and the longest context that fits.
pub fn recommend(current: &Estimate, eff: &Efficiency) -> Vec<Recommendation> {
    let base = &current.scenario;
    let c = Constraints {
        batch: Some(base.workload.batch),
        max_tpot_seconds: None,
        max_ttft_seconds: None,
        weights: vec![],
        kv_dtypes: vec![],
    };
    let mut recs = Vec::new();
    let same = search(base, &c, Objective::Throughput, eff);
    let cur_tps = current.performance.decode_tokens_per_second;
    let fitting: Vec<&Candidate> = same.iter().filter(|x| x.fits).collect();
    // Highest throughput, then the best that keeps the 16-bit/8-bit formats.
    for cand in fitting.iter().take(8) {
        let is_current = cand.weights_dtype == base.deployment.weights
            && cand.kv_dtype == base.deployment.kv_dtype
            && (cand.tp, cand.pp, cand.dp, cand.ep)
                == (
                    base.deployment.tp,
                    base.deployment.pp,
                    base.deployment.dp,
                    base.deployment.ep,
                );
        if is_current || recs.len() >= 3 {
            continue;
        }
        if current.memory.fits && cand.tokens_per_second <= cur_tps * 1.05 {
            continue;
        }
        if recs.iter().any(|r: &Recommendation| {
            r.candidate.weights_dtype == cand.weights_dtype && r.candidate.kv_dtype == cand.kv_dtype
        }) {
            continue;
        }
        recs.push(Recommendation {
            title: describe(cand),
            detail: detail(cand),
            candidate: (*cand).clone(),
        });
    }
    if fitting.is_empty() || !current.memory.fits {
        // More nodes with the current formats.
        for extra in 1..=3u64 {
            let mut s = base.clone();
            s.cluster.nodes = base.cluster.nodes + extra;
            let keep = Constraints {
                weights: vec![base.deployment.weights],
                kv_dtypes: vec![base.deployment.kv_dtype],
                ..c.clone()
            };
            if let Some(best) = search(&s, &keep, Objective::Throughput, eff)
                .into_iter()
                .find(|x| x.fits)
            {
                recs.push(Recommendation {
                    title: format!("keep {} weights: {}", best.weights_dtype, describe(&best)),
                    detail: detail(&best),
                    candidate: best,
                });
                break;
            }
        }
        if !current.memory.fits
            && current.memory.max_context > 0
            && current.memory.max_context < base.workload.context
        {
            let mut s = base.clone();
            s.workload.context = current.memory.max_context;
            if let Ok(e) = estimate(&s, eff, 1.0) {
                let cand = candidate_of(&e, e.memory.fits, "shorter context".into());
                recs.push(Recommendation {
                    title: format!(
                        "shorten the context to {} tokens (batch {})",
                        crate::units::thousands(current.memory.max_context),
                        base.workload.batch
                    ),
                    detail: detail(&cand),
                    candidate: cand,
                });
            }
        }
    }
    recs.truncate(4);
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
