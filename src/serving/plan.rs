//! Plan to a service-level objective: every deployment the plan searches
//! (formats × parallelism that fit) × the engine knobs that matter
//! (`max_num_batched_tokens`, the running-request cap per replica), each run
//! through the serving simulator, ranked by output tokens/s per GPU among
//! those that meet the SLA at the chosen percentile.

use super::{simulate_stepwise, simulate_without_itl, Arrival, ServingResult, ServingWorkload};
use crate::error::{Error, Result};
use crate::memory;
use crate::perf::Efficiency;
use crate::plan::{Candidate, Constraints, Objective, Pinned};
use crate::scenario::Scenario;
use crate::spec::dtype::{KvDtype, WeightFormat};
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The latency targets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sla {
    /// Time-to-first-token limit, ms.
    pub max_ttft_ms: Option<f64>,
    /// Time-per-output-token limit, ms.
    pub max_tpot_ms: Option<f64>,
    /// Which statistic must stay under the limits: mean, p50, p90, p99.
    pub percentile: String,
}

impl Sla {
    /// Check the targets; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        if !["mean", "p50", "p90", "p99"].contains(&self.percentile.as_str()) {
            return Err(Error::input(
                "percentile",
                format!("'{}': use p50, p90, p99 or mean", self.percentile),
            ));
        }
        for (name, v) in [
            ("max-ttft-ms", self.max_ttft_ms),
            ("max-tpot-ms", self.max_tpot_ms),
        ] {
            if let Some(x) = v {
                if !(x.is_finite() && x > 0.0) {
                    return Err(Error::input(
                        name,
                        format!("{x} must be a positive number of milliseconds"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// How far `r` is from the targets: the worst of measured / limit (≤ 1 meets them).
    pub fn ratio(&self, r: &ServingResult) -> f64 {
        let p = self.percentile.as_str();
        let mut worst: f64 = 0.0;
        if let Some(t) = self.max_ttft_ms {
            worst = worst.max(r.ttft_ms.at(p).unwrap_or(f64::INFINITY) / t);
        }
        if let Some(t) = self.max_tpot_ms {
            worst = worst.max(r.tpot_ms.at(p).unwrap_or(f64::INFINITY) / t);
        }
        worst
    }
}

/// One simulated configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServingCandidate {
    /// Weight format.
    pub weights_dtype: WeightFormat,
    /// KV dtype.
    pub kv_dtype: KvDtype,
    /// Tensor parallel.
    pub tp: u64,
    /// Pipeline parallel.
    pub pp: u64,
    /// Expert parallel.
    pub ep: u64,
    /// Data-parallel replicas.
    pub dp: u64,
    /// GPUs of one deployment.
    pub gpus: u64,
    /// Engine token budget per iteration.
    pub max_num_batched_tokens: u64,
    /// Running-request cap per replica.
    pub max_num_seqs: u64,
    /// TTFT at the SLA percentile, ms.
    pub ttft_ms: f64,
    /// TPOT at the SLA percentile, ms.
    pub tpot_ms: f64,
    /// Output tokens/s per GPU.
    pub output_tokens_per_second_per_gpu: f64,
    /// Output tokens/s per user.
    pub output_tokens_per_second_per_user: f64,
    /// Requests/s of one deployment.
    pub requests_per_second: f64,
    /// Preemptions in the run.
    pub preemptions: u64,
    /// Worst measured / limit over the SLA terms (≤ 1: meets it).
    pub sla_ratio: f64,
    /// Whether it meets the SLA.
    pub meets_sla: bool,
    /// On the tokens/s-per-GPU vs tokens/s-per-user Pareto front.
    pub pareto: bool,
    /// Copies of this deployment the target load needs (1 = one deployment serves it).
    pub copies: u64,
    /// GPUs those copies take.
    pub total_gpus: u64,
}

/// The result of a serving plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServingPlan {
    /// The targets.
    pub sla: Sla,
    /// Configurations simulated.
    pub evaluated: usize,
    /// Whether any meets the SLA.
    pub any_meets: bool,
    /// Best first: those meeting the SLA by tokens/s per GPU, then the rest by closeness.
    pub candidates: Vec<ServingCandidate>,
    /// The Pareto front (tokens/s per GPU against tokens/s per user), by tokens/s per user.
    pub pareto: Vec<ServingCandidate>,
    /// When nothing meets the SLA: the nearest and what would close the gap.
    pub nearest: Option<String>,
}

fn apply(base: &Scenario, c: &Candidate) -> Option<Scenario> {
    let mut s = base.clone();
    s.cluster.nodes = c.nodes;
    if c.nodes * s.cluster.gpus_per_node != c.gpus {
        s.cluster.gpus_per_node = c.gpus / c.nodes.max(1);
    }
    s.deployment.tp = c.tp;
    s.deployment.pp = c.pp;
    s.deployment.ep = c.ep;
    s.deployment.dp = c.dp;
    s.deployment.weights = c.weights_dtype;
    s.deployment.kv_dtype = c.kv_dtype;
    s.validate().ok()?;
    Some(s)
}

fn scaled(w: &ServingWorkload, copies: u64) -> ServingWorkload {
    let mut w = w.clone();
    if let Arrival::Rate {
        per_second,
        burstiness,
        max_concurrency,
    } = w.arrival
    {
        w.arrival = Arrival::Rate {
            per_second: per_second / copies as f64,
            burstiness,
            max_concurrency: max_concurrency.map(|c| c.div_ceil(copies)),
        };
        w.num_requests = w.num_requests.map(|n| n.div_ceil(copies).max(100));
    }
    w
}

/// Plan `w` under `sla` over the deployments of `base` (restricted by
/// `constraints` and `pinned` as `plan` does). The candidates are simulated
/// on as many threads as the machine offers (`plan_on_threads` with
/// `std::thread::available_parallelism`); the result does not depend on it.
pub fn plan(
    base: &Scenario,
    constraints: &Constraints,
    pinned: Pinned,
    eff: &Efficiency,
    w: &ServingWorkload,
    sla: &Sla,
) -> Result<ServingPlan> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    plan_on_threads(base, constraints, pinned, eff, w, sla, threads)
}

/// Every engine-knob variant of one deployment `cand`, simulated: the
/// candidates it yields (in a fixed order) and the first simulator error.
fn simulate_layout(
    base: &Scenario,
    cand: &Candidate,
    eff: &Efficiency,
    w: &ServingWorkload,
    sla: &Sla,
    fast: bool,
) -> (Vec<ServingCandidate>, Option<Error>) {
    let mut out = Vec::new();
    let mut first_err: Option<Error> = None;
    let Some(s0) = apply(base, cand) else {
        return (out, None);
    };
    let engine = &s0.deployment.engine;
    let default_tokens = engine.max_num_batched_tokens;
    let mut budgets = vec![default_tokens];
    for t in [2048, 16384] {
        if !budgets.contains(&t) {
            budgets.push(t);
        }
    }
    let per_replica = match w.arrival {
        Arrival::Concurrency(cc) => cc.div_ceil(s0.deployment.dp.max(1)),
        Arrival::Rate { .. } => engine.max_num_seqs,
    };
    let mut caps = vec![engine.max_num_seqs];
    let half = per_replica / 2;
    if half >= 4 && half < engine.max_num_seqs {
        caps.push(half);
    }
    for &tokens in &budgets {
        for &cap in &caps {
            let mut s = s0.clone();
            s.deployment.engine.max_num_batched_tokens = tokens;
            s.deployment.engine.max_num_seqs = cap;
            let mem = memory::plan(&s);
            if mem.kv_cache_tokens == 0 {
                continue;
            }
            let mut copies = 1u64;
            let r = loop {
                let wk = scaled(w, copies);
                let sim = if fast {
                    // The candidate carries no inter-token latency: skip its percentiles.
                    simulate_without_itl(&s, &mem, eff, &wk)
                } else {
                    simulate_stepwise(&s, &mem, eff, &wk)
                };
                match sim {
                    Ok(r) => {
                        let keeps_up = match wk.arrival {
                            Arrival::Rate { per_second, .. } => {
                                r.requests_per_second >= 0.95 * per_second
                            }
                            _ => true,
                        };
                        let meets = keeps_up && sla.ratio(&r) <= 1.0;
                        if meets || !matches!(w.arrival, Arrival::Rate { .. }) || copies >= 64 {
                            break Some(r);
                        }
                        copies *= 2;
                    }
                    Err(e) => {
                        first_err.get_or_insert(e);
                        break None;
                    }
                }
            };
            let Some(r) = r else { continue };
            let p = sla.percentile.as_str();
            let ratio = sla.ratio(&r);
            out.push(ServingCandidate {
                weights_dtype: cand.weights_dtype,
                kv_dtype: cand.kv_dtype,
                tp: cand.tp,
                pp: cand.pp,
                ep: cand.ep,
                dp: cand.dp,
                gpus: cand.gpus,
                max_num_batched_tokens: tokens,
                max_num_seqs: cap,
                ttft_ms: r.ttft_ms.at(p).unwrap_or(0.0),
                tpot_ms: r.tpot_ms.at(p).unwrap_or(0.0),
                output_tokens_per_second_per_gpu: r.output_tokens_per_second_per_gpu,
                output_tokens_per_second_per_user: r.output_tokens_per_second_per_user,
                requests_per_second: r.requests_per_second * copies as f64,
                preemptions: r.preemptions,
                sla_ratio: ratio,
                meets_sla: ratio <= 1.0,
                pareto: false,
                copies,
                total_gpus: copies * cand.gpus,
            });
        }
    }
    (out, first_err)
}

/// `plan` on at most `threads` threads (1: on the caller's thread). Each
/// thread takes the next deployment not yet taken, and the results are
/// joined in the search's order, so every thread count gives the same plan.
pub fn plan_on_threads(
    base: &Scenario,
    constraints: &Constraints,
    pinned: Pinned,
    eff: &Efficiency,
    w: &ServingWorkload,
    sla: &Sla,
    threads: usize,
) -> Result<ServingPlan> {
    plan_impl(base, constraints, pinned, eff, w, sla, threads, true)
}

/// `plan` on one thread with every iteration of every simulation costed one
/// by one (`simulate_stepwise`): the reference the fast paths are checked against.
pub fn plan_stepwise(
    base: &Scenario,
    constraints: &Constraints,
    pinned: Pinned,
    eff: &Efficiency,
    w: &ServingWorkload,
    sla: &Sla,
) -> Result<ServingPlan> {
    plan_impl(base, constraints, pinned, eff, w, sla, 1, false)
}

#[allow(clippy::too_many_arguments)]
fn plan_impl(
    base: &Scenario,
    constraints: &Constraints,
    pinned: Pinned,
    eff: &Efficiency,
    w: &ServingWorkload,
    sla: &Sla,
    threads: usize,
    fast: bool,
) -> Result<ServingPlan> {
    sla.validate()?;
    w.validate(base.model.max_context)?;
    let mut c = constraints.clone();
    c.batch = Some(1);
    c.max_tpot_seconds = None;
    c.max_ttft_seconds = None;
    let layouts = crate::plan::search_pinned(base, &c, Objective::Throughput, eff, pinned)?;
    let fitting: Vec<&Candidate> = layouts.iter().filter(|x| x.fits).collect();
    let run_one = |cand: &Candidate| simulate_layout(base, cand, eff, w, sla, fast);
    let threads = threads.clamp(1, fitting.len().max(1));
    let results: Vec<(Vec<ServingCandidate>, Option<Error>)> = if threads == 1 {
        fitting.iter().map(|cand| run_one(cand)).collect()
    } else {
        // Layouts differ in cost (pipeline depth, KV pool, knobs): each
        // thread takes the next unclaimed one, and the results go back to
        // the search's order before they are joined.
        let next = AtomicUsize::new(0);
        let work = || {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(cand) = fitting.get(i) else {
                    return done;
                };
                done.push((i, run_one(cand)));
            }
        };
        // The server's request deadline is per thread: carry it over.
        let deadline = crate::deadline::current();
        let mut slots: Vec<Option<(Vec<ServingCandidate>, Option<Error>)>> =
            (0..fitting.len()).map(|_| None).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| match deadline {
                        Some(t) => crate::deadline::with_deadline(t, work),
                        None => work(),
                    })
                })
                .collect();
            for h in handles {
                for (i, r) in h.join().expect("a plan thread panicked") {
                    slots[i] = Some(r);
                }
            }
        });
        slots
            .into_iter()
            .map(|r| r.expect("every layout was simulated"))
            .collect()
    };
    let mut out: Vec<ServingCandidate> = Vec::new();
    let mut first_err: Option<Error> = None;
    for (cands, err) in results {
        out.extend(cands);
        if let Some(e) = err {
            first_err.get_or_insert(e);
        }
    }
    if out.is_empty() {
        return Err(first_err.unwrap_or_else(|| {
            Error::input(
                "gpus",
                "no deployment of this model fits these GPUs with room for one request; add GPUs or use a smaller format",
            )
        }));
    }
    // Pareto front: no other candidate has both more tokens/s per GPU and per user.
    for i in 0..out.len() {
        let (g, u) = (
            out[i].output_tokens_per_second_per_gpu,
            out[i].output_tokens_per_second_per_user,
        );
        out[i].pareto = !out.iter().any(|o| {
            o.output_tokens_per_second_per_gpu >= g
                && o.output_tokens_per_second_per_user >= u
                && (o.output_tokens_per_second_per_gpu > g
                    || o.output_tokens_per_second_per_user > u)
        });
    }
    out.sort_by(|a, b| {
        b.meets_sla.cmp(&a.meets_sla).then_with(|| {
            if a.meets_sla {
                (b.output_tokens_per_second_per_gpu / b.copies as f64)
                    .total_cmp(&(a.output_tokens_per_second_per_gpu / a.copies as f64))
            } else {
                a.sla_ratio.total_cmp(&b.sla_ratio)
            }
        })
    });
    let any_meets = out.first().is_some_and(|x| x.meets_sla);
    let nearest = if any_meets {
        None
    } else {
        Some(advice(base, eff, w, sla, &out[0], &layouts))
    };
    let mut pareto: Vec<ServingCandidate> = out.iter().filter(|x| x.pareto).cloned().collect();
    pareto.sort_by(|a, b| {
        a.output_tokens_per_second_per_user
            .total_cmp(&b.output_tokens_per_second_per_user)
    });
    Ok(ServingPlan {
        sla: sla.clone(),
        evaluated: out.len(),
        any_meets,
        candidates: out,
        pareto,
        nearest,
    })
}

/// What comes nearest and what would close the gap: for a closed loop, the
/// largest concurrency at which the nearest configuration meets the SLA
/// (so that `ceil(C / that)` copies serve the load).
fn advice(
    base: &Scenario,
    eff: &Efficiency,
    w: &ServingWorkload,
    sla: &Sla,
    best: &ServingCandidate,
    layouts: &[Candidate],
) -> String {
    let p = &sla.percentile;
    let mut text = format!(
        "nothing meets the SLA; nearest: {} weights, {} KV, TP {} PP {} EP {} DP {}, max_num_batched_tokens {}, max_num_seqs {}: {p} TTFT {:.0} ms, {p} TPOT {:.1} ms ({:.2}× the limit)",
        best.weights_dtype,
        best.kv_dtype,
        best.tp,
        best.pp,
        best.ep,
        best.dp,
        best.max_num_batched_tokens,
        best.max_num_seqs,
        best.ttft_ms,
        best.tpot_ms,
        best.sla_ratio
    );
    let Arrival::Concurrency(c) = w.arrival else {
        text.push_str("; lower the request rate per deployment or add GPUs");
        return text;
    };
    let Some(cand) = layouts.iter().find(|x| {
        x.weights_dtype == best.weights_dtype
            && x.kv_dtype == best.kv_dtype
            && (x.tp, x.pp, x.ep, x.dp) == (best.tp, best.pp, best.ep, best.dp)
    }) else {
        return text;
    };
    let Some(mut s) = apply(base, cand) else {
        return text;
    };
    s.deployment.engine.max_num_batched_tokens = best.max_num_batched_tokens;
    s.deployment.engine.max_num_seqs = best.max_num_seqs;
    let mem = memory::plan(&s);
    let meets_at = |cc: u64| {
        let mut wk = w.clone();
        wk.arrival = Arrival::Concurrency(cc);
        wk.num_requests = Some((cc * 10).clamp(100, 2000));
        // The SLA reads TTFT and TPOT only: no ITL percentiles needed.
        simulate_without_itl(&s, &mem, eff, &wk).is_ok_and(|r| sla.ratio(&r) <= 1.0)
    };
    if !meets_at(1) {
        text.push_str(
            "; even one request alone misses it: the limit is below a lone prefill/decode step on these GPUs — loosen the SLA, shorten the prompt or use faster GPUs",
        );
        return text;
    }
    // Bisect the largest concurrency that meets it (monotone in concurrency).
    let (mut lo, mut hi) = (1u64, c);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if meets_at(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let copies = c.div_ceil(lo);
    text.push_str(&format!(
        "; it meets the SLA up to concurrency {lo}: serving {c} takes {copies} such deployments ({} GPUs)",
        copies * best.gpus
    ));
    text
}
