//! Serving simulator: what users see when a deployment serves a workload.
//!
//! An iteration-level discrete-event simulation of each engine replica's
//! scheduler (`replica`), with the engine's policy from its profile
//! (`SchedulerSpec`), the KV pool the engine's start-up arithmetic computes
//! (`MemoryPlan::kv_cache_tokens`) and the one iteration-cost function
//! (`perf::IterationModel`). `simulate` is the entry point: a scenario, its
//! memory plan, efficiencies and a workload in; TTFT, TPOT, ITL, end-to-end
//! latency percentiles and throughput out, named as benchmark tools name them.

pub mod disagg;
pub mod plan;
pub mod render;
pub mod replica;
pub mod rng;

use crate::error::{Error, Result};
use crate::memory::MemoryPlan;
use crate::perf::{Bound, Efficiency, IterationModel};
use crate::scenario::Scenario;
use replica::{run_replica, Arrivals, ReplicaConfig, ReplicaError, ReplicaRun, RequestSpec};
use rng::Rng;
use serde::{Deserialize, Serialize};

/// How requests arrive at the deployment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    /// Closed loop: this many clients over the whole deployment, each sending
    /// its next request when its last one completes (`vllm bench serve
    /// --max-concurrency C`, genai-perf concurrency mode).
    Concurrency(u64),
    /// Open loop: requests per second over the whole deployment, gamma
    /// inter-arrival times (`vllm bench serve --request-rate R --burstiness B`:
    /// shape B, mean 1/R; B = 1 is Poisson), optionally capped in flight.
    Rate {
        /// Mean requests per second (deployment).
        per_second: f64,
        /// Gamma shape: 1 = Poisson, < 1 burstier, > 1 smoother.
        burstiness: f64,
        /// In-flight cap over the deployment (`--max-concurrency`), if any.
        max_concurrency: Option<u64>,
    },
}

/// The workload of a serving simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct ServingWorkload {
    /// Prompt tokens per request (the mean when `random_range_ratio` > 0).
    pub isl: u64,
    /// Output tokens per request (ditto), generated to the end (no early EOS).
    pub osl: u64,
    /// Lengths drawn uniformly in [len·(1 − r), len·(1 + r)] (vLLM
    /// `benchmarks/datasets.py RandomDataset`); 0 = fixed lengths.
    pub random_range_ratio: f64,
    /// How requests arrive.
    pub arrival: Arrival,
    /// Requests to simulate over the deployment; None = `default_num_requests`.
    pub num_requests: Option<u64>,
    /// Fraction of each prompt already in the prefix cache (not recomputed).
    pub prefix_cache_hit: f64,
    /// Seed of the random lengths and arrival times.
    pub seed: u64,
}

impl ServingWorkload {
    /// Fixed lengths, closed loop at `concurrency`, defaults elsewhere.
    pub fn closed(isl: u64, osl: u64, concurrency: u64) -> Self {
        ServingWorkload {
            isl,
            osl,
            random_range_ratio: 0.0,
            arrival: Arrival::Concurrency(concurrency),
            num_requests: None,
            prefix_cache_hit: 0.0,
            seed: 0,
        }
    }

    /// Requests simulated when none are given: ten per client in a closed
    /// loop (each client's first request sees the start-up burst; ten rounds
    /// make the steady state dominate), between 200 and 20,000; 1,000 for an
    /// open loop (`vllm bench serve`'s default `--num-prompts`).
    pub fn default_num_requests(&self) -> u64 {
        match self.arrival {
            Arrival::Concurrency(c) => c.saturating_mul(10).clamp(200, 20_000),
            Arrival::Rate { .. } => 1000,
        }
    }

    /// Requests this workload simulates.
    pub fn requests(&self) -> u64 {
        self.num_requests
            .unwrap_or_else(|| self.default_num_requests())
    }

    /// Longest prompt + output a request of this workload can have.
    pub fn max_sequence_tokens(&self) -> u64 {
        let hi = |n: u64| (n as f64 * (1.0 + self.random_range_ratio)).floor() as u64;
        hi(self.isl) + hi(self.osl)
    }

    /// Check the workload against a model's context; errors name the flag.
    pub fn validate(&self, max_context: u64) -> Result<()> {
        if self.isl == 0 {
            return Err(Error::input("isl", "input length must be at least 1 token"));
        }
        if self.osl == 0 {
            return Err(Error::input(
                "osl",
                "output length must be at least 1 token (TTFT needs one output token)",
            ));
        }
        let r = self.random_range_ratio;
        if !(r.is_finite() && (0.0..1.0).contains(&r)) {
            return Err(Error::input(
                "random-range-ratio",
                format!("{r} must be in [0, 1): lengths are drawn in [len·(1 − r), len·(1 + r)]"),
            ));
        }
        let longest = self.max_sequence_tokens();
        if longest > max_context {
            return Err(Error::input(
                "isl",
                format!(
                    "isl + osl reaches {longest} tokens but the model's context is {max_context}; shorten --isl/--osl (or the range ratio)"
                ),
            ));
        }
        let h = self.prefix_cache_hit;
        if !(h.is_finite() && (0.0..=1.0).contains(&h)) {
            return Err(Error::input(
                "prefix-cache-hit",
                format!("{h} must be a fraction in [0, 1]"),
            ));
        }
        match self.arrival {
            Arrival::Concurrency(0) => {
                return Err(Error::input(
                    "concurrency",
                    "concurrency must be at least 1 client",
                ))
            }
            Arrival::Concurrency(c) if c > 1_000_000 => {
                return Err(Error::input(
                    "concurrency",
                    format!("{c} clients is beyond what kvplan simulates (≤ 1,000,000)"),
                ))
            }
            Arrival::Rate {
                per_second,
                burstiness,
                max_concurrency,
            } => {
                if !(per_second.is_finite() && per_second > 0.0) {
                    return Err(Error::input(
                        "request-rate",
                        format!("{per_second} must be a positive number of requests per second"),
                    ));
                }
                if !(burstiness.is_finite() && burstiness > 0.0) {
                    return Err(Error::input(
                        "burstiness",
                        format!("{burstiness} must be positive (1 = Poisson)"),
                    ));
                }
                if max_concurrency == Some(0) {
                    return Err(Error::input("concurrency", "must be at least 1"));
                }
            }
            _ => {}
        }
        let n = self.requests();
        if n == 0 || n > 1_000_000 {
            return Err(Error::input(
                "num-requests",
                format!("{n} requests: choose between 1 and 1,000,000"),
            ));
        }
        Ok(())
    }
}

/// The serving workload as the API receives it (`"serving": {...}` in the
/// bodies of /api/estimate and /api/plan); the CLI's flags map onto it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServingRequest {
    /// Prompt tokens per request.
    pub isl: u64,
    /// Output tokens per request.
    pub osl: u64,
    /// Closed-loop clients over the deployment (default: the request's batch).
    #[serde(default)]
    pub concurrency: Option<u64>,
    /// Open-loop requests per second over the deployment.
    #[serde(default)]
    pub request_rate: Option<f64>,
    /// Gamma shape of arrivals (1 = Poisson).
    #[serde(default)]
    pub burstiness: Option<f64>,
    /// Requests to simulate.
    #[serde(default)]
    pub num_requests: Option<u64>,
    /// Length spread ratio.
    #[serde(default)]
    pub random_range_ratio: Option<f64>,
    /// Prefix-cache hit fraction.
    #[serde(default)]
    pub prefix_cache_hit: Option<f64>,
    /// Statistic SLA limits apply to: p50, p90, p99, mean (default p90).
    #[serde(default)]
    pub percentile: Option<String>,
    /// Seed.
    #[serde(default)]
    pub seed: Option<u64>,
}

impl ServingRequest {
    /// The workload; `default_concurrency` when neither concurrency nor rate is given.
    pub fn workload(&self, default_concurrency: u64) -> ServingWorkload {
        let arrival = match (self.request_rate, self.concurrency) {
            (Some(r), cap) => Arrival::Rate {
                per_second: r,
                burstiness: self.burstiness.unwrap_or(1.0),
                max_concurrency: cap,
            },
            (None, Some(c)) => Arrival::Concurrency(c),
            (None, None) => Arrival::Concurrency(default_concurrency.max(1)),
        };
        ServingWorkload {
            isl: self.isl,
            osl: self.osl,
            random_range_ratio: self.random_range_ratio.unwrap_or(0.0),
            arrival,
            num_requests: self.num_requests,
            prefix_cache_hit: self.prefix_cache_hit.unwrap_or(0.0),
            seed: self.seed.unwrap_or(0),
        }
    }
}

/// Mean and percentiles of one latency, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl Percentiles {
    /// The figure at `p` ("p50", "p90", "p99" or "mean").
    pub fn at(&self, p: &str) -> Option<f64> {
        match p {
            "p50" => Some(self.p50),
            "p90" => Some(self.p90),
            "p99" => Some(self.p99),
            "mean" => Some(self.mean),
            _ => None,
        }
    }
}

/// Weighted mean and percentiles (linear interpolation between closest ranks,
/// numpy's default, over the sample with each value repeated `weight` times).
pub fn percentiles(mut samples: Vec<(f64, f64)>) -> Percentiles {
    samples.retain(|s| s.1 > 0.0 && s.0.is_finite());
    if samples.is_empty() {
        return Percentiles::default();
    }
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = samples.iter().map(|s| s.1).sum();
    let mean = samples.iter().map(|s| s.0 * s.1).sum::<f64>() / total;
    // Value at 0-based rank `j` of the expanded sample.
    let at_rank = |j: f64| -> f64 {
        let mut acc = 0.0;
        for s in &samples {
            acc += s.1;
            if j < acc {
                return s.0;
            }
        }
        samples.last().map_or(0.0, |s| s.0)
    };
    let pct = |p: f64| {
        let h = p / 100.0 * (total - 1.0).max(0.0);
        let (lo, hi) = (h.floor(), h.ceil());
        let (a, b) = (at_rank(lo), at_rank(hi));
        a + (b - a) * (h - lo)
    };
    Percentiles {
        mean,
        p50: pct(50.0),
        p90: pct(90.0),
        p99: pct(99.0),
    }
}

/// What the simulation predicts (the `serving` section of the report).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServingResult {
    /// Time to first token: from sending the request to its first output token.
    pub ttft_ms: Percentiles,
    /// Time per output token per request: (e2e − ttft) / (osl − 1).
    pub tpot_ms: Percentiles,
    /// Inter-token latency: every gap between consecutive output tokens.
    pub itl_ms: Percentiles,
    /// End-to-end latency per request.
    pub e2e_ms: Percentiles,
    /// Output tokens per second, whole deployment.
    pub output_tokens_per_second: f64,
    /// The same per GPU.
    pub output_tokens_per_second_per_gpu: f64,
    /// Output tokens per second one user sees while decoding (1000 / mean TPOT).
    pub output_tokens_per_second_per_user: f64,
    /// Completed requests per second, whole deployment.
    pub requests_per_second: f64,
    /// Requests running per replica, averaged over the time iterations run.
    pub mean_running_batch: f64,
    /// Preemptions (recompute) over the run, whole deployment.
    pub preemptions: u64,
    /// What bounds the iterations most of the time (memory-bandwidth,
    /// compute, communication, launch-overhead), or `kv-capacity` when
    /// requests spent most iterations waiting for KV space.
    pub bound: String,
    /// Share of iteration time by bound.
    pub bound_time_share: BoundShare,
    /// Share of iterations in which a waiting request could not start for lack of KV.
    pub kv_blocked_iteration_share: f64,
    /// Share of iterations in which a waiting request could not start for lack of a sequence slot.
    pub seq_blocked_iteration_share: f64,
    /// KV pool of one replica, tokens.
    pub kv_pool_tokens_per_replica: u64,
    /// Most of the pool in use at once.
    pub peak_kv_use: f64,
    /// Requests simulated (deployment).
    pub requests: u64,
    /// Iterations simulated (all replicas simulated).
    pub iterations: u64,
    /// Simulated time, seconds.
    pub duration_seconds: f64,
    /// Replicas (data-parallel) the load was split over.
    pub replicas: u64,
    /// Concurrency (closed loop) or rate per replica.
    pub load_per_replica: String,
    /// The scheduler policy simulated and its knobs.
    pub scheduler: String,
    /// Assumptions behind the figures.
    pub assumptions: Vec<String>,
}

/// Share of iteration time by bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct BoundShare {
    /// Weights/KV streaming.
    pub memory: f64,
    /// Matrix arithmetic.
    pub compute: f64,
    /// Collectives.
    pub communication: f64,
    /// Fixed engine costs.
    pub overhead: f64,
}

fn lengths(rng: &mut Rng, mean: u64, r: f64) -> u64 {
    if r <= 0.0 {
        return mean;
    }
    let lo = ((mean as f64) * (1.0 - r)).floor().max(1.0) as u64;
    let hi = ((mean as f64) * (1.0 + r)).floor().max(1.0) as u64;
    rng.range_inclusive(lo, hi)
}

/// Requests of `w` for one replica.
fn request_specs(w: &ServingWorkload, n: u64, rng: &mut Rng) -> Vec<RequestSpec> {
    (0..n)
        .map(|_| {
            let prompt = lengths(rng, w.isl, w.random_range_ratio);
            let output = lengths(rng, w.osl, w.random_range_ratio).max(1);
            RequestSpec {
                prompt,
                output,
                cached: (prompt as f64 * w.prefix_cache_hit).floor() as u64,
            }
        })
        .collect()
}

/// One group of identical replicas: load, count and their run.
struct Group {
    replicas: u64,
    run: ReplicaRun,
}

/// Simulate the deployment of `s` serving `w`: each distinct replica load is
/// simulated once (a closed loop's clients split over the DP replicas as
/// evenly as a load balancer can: some replicas get one more), and the
/// results are combined with each replica's weight.
pub fn simulate(
    s: &Scenario,
    mem: &MemoryPlan,
    eff: &Efficiency,
    w: &ServingWorkload,
) -> Result<ServingResult> {
    simulate_with(s, mem, eff, w, true, true)
}

/// `simulate` with every iteration costed one by one
/// (`replica::run_replica_stepwise`): the reference for the fast path.
pub fn simulate_stepwise(
    s: &Scenario,
    mem: &MemoryPlan,
    eff: &Efficiency,
    w: &ServingWorkload,
) -> Result<ServingResult> {
    simulate_with(s, mem, eff, w, false, true)
}

/// `simulate` without the inter-token-latency percentiles (`itl_ms` left
/// at zero): the SLA plan ranks on TTFT, TPOT and throughput only, and
/// sorting every iteration's gap is a large share of a simulation.
pub(crate) fn simulate_without_itl(
    s: &Scenario,
    mem: &MemoryPlan,
    eff: &Efficiency,
    w: &ServingWorkload,
) -> Result<ServingResult> {
    simulate_with(s, mem, eff, w, true, false)
}

fn simulate_with(
    s: &Scenario,
    mem: &MemoryPlan,
    eff: &Efficiency,
    w: &ServingWorkload,
    fast: bool,
    with_itl: bool,
) -> Result<ServingResult> {
    s.validate()?;
    w.validate(s.model.max_context)?;
    let d = &s.deployment;
    let e = &d.engine;
    let dp = d.dp.max(1);
    let pool = mem.kv_cache_tokens / dp;
    if pool == 0 {
        return Err(Error::input(
            "gpus",
            "the engine leaves no KV pool on this deployment (weights and overheads fill the GPU); use more GPUs or a smaller format",
        ));
    }
    let sched = e.scheduler_spec();
    let spec = crate::perf::Speculation::of(s);
    let cfg = ReplicaConfig {
        sched: sched.clone(),
        max_num_batched_tokens: e.max_num_batched_tokens,
        max_num_seqs: e.max_num_seqs,
        chunked_prefill: e.chunked_prefill,
        kv_capacity_tokens: pool,
        block_size: e.block_size,
        window: s.model.attention_window(),
        lockstep_replicas: if d.ep > 1 { dp as f64 } else { 1.0 },
        max_iterations: 20_000_000,
        decode_tokens_per_step: spec.tokens_per_step(),
        decode_budget_tokens: spec.verify_tokens(),
    };
    let model = IterationModel::new(s, mem, eff);
    let n_total = w.requests();
    // Distinct loads: (replicas, arrivals, requests per replica).
    let mut loads: Vec<(u64, Arrivals, u64)> = Vec::new();
    let load_text = match w.arrival {
        Arrival::Concurrency(c) => {
            let (q, r) = (c / dp, c % dp);
            for (count, clients) in [(r, q + 1), (dp - r, q)] {
                if count == 0 || clients == 0 {
                    continue;
                }
                let n = ((n_total as f64) * clients as f64 / c as f64)
                    .round()
                    .max(1.0) as u64;
                loads.push((
                    count,
                    Arrivals::Closed {
                        concurrency: clients,
                    },
                    n.max(clients),
                ));
            }
            if r == 0 {
                format!("{q} concurrent requests")
            } else {
                format!("{q}–{} concurrent requests", q + 1)
            }
        }
        Arrival::Rate {
            per_second,
            burstiness,
            max_concurrency,
        } => {
            let rate = per_second / dp as f64;
            let n = n_total.div_ceil(dp).max(1);
            let mut rng = Rng::new(w.seed ^ 0xA5A5);
            let times = rng.send_times_seconds(n, rate, burstiness);
            let cap = max_concurrency.map(|c| c.div_ceil(dp).max(1));
            loads.push((
                dp,
                Arrivals::Open {
                    times,
                    max_concurrency: cap,
                },
                n,
            ));
            format!("{rate:.3} requests/s")
        }
    };
    let mut groups = Vec::new();
    for (i, (count, arrivals, n)) in loads.iter().enumerate() {
        let mut rng = Rng::new(w.seed.wrapping_add(i as u64 * 0x1000_0001));
        let specs = request_specs(w, *n, &mut rng);
        let run = if fast {
            run_replica(&cfg, &specs, arrivals, |b| model.cost(b))
        } else {
            replica::run_replica_stepwise(&cfg, &specs, arrivals, |b| model.cost(b))
        };
        let run = run.map_err(|err| match err {
            ReplicaError::DoesNotFit {
                needs_tokens,
                pool_tokens,
            } => Error::input(
                "isl",
                format!(
                    "one request needs {needs_tokens} KV tokens but a replica's pool holds {pool_tokens}; shorten --isl/--osl or give the engine more memory (more GPUs, fp8 KV)"
                ),
            ),
            ReplicaError::TooLong { iterations } => Error::input(
                "num-requests",
                format!(
                    "the simulation would run past {iterations} iterations; lower --num-requests"
                ),
            ),
            ReplicaError::PastDeadline => Error::Environment(
                "the serving simulation ran past its deadline and was stopped".into(),
            ),
        })?;
        let mut run = run;
        if !with_itl {
            run.itl.clear();
        }
        groups.push(Group {
            replicas: *count,
            run,
        });
    }
    Ok(combine(s, w, &sched, pool, &load_text, &groups))
}

/// The assumption line of a simulation with speculative decoding (None without).
pub(crate) fn speculation_note(spec: &crate::perf::Speculation) -> Option<String> {
    spec.is_on().then(|| {
        format!(
            "speculative decoding (MTP): each decode iteration verifies {} tokens per request after {} draft pass(es) of the MTP module and emits {:.2} on average (acceptance {:.2} per draft token)",
            spec.verify_tokens(),
            spec.draft_tokens,
            spec.tokens_per_step(),
            spec.acceptance
        )
    })
}

/// Combine replica groups into deployment figures.
fn combine(
    s: &Scenario,
    w: &ServingWorkload,
    sched: &crate::spec::scheduler::SchedulerSpec,
    pool: u64,
    load_text: &str,
    groups: &[Group],
) -> ServingResult {
    let (mut ttft, mut tpot, mut e2e, mut itl) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut tok_s, mut req_s, mut preempt) = (0.0, 0.0, 0u64);
    let (mut running, mut busy) = (0.0, 0.0);
    let mut bound = [0.0f64; 4];
    let (mut iters, mut kv_blocked, mut seq_blocked) = (0u64, 0.0, 0.0);
    let (mut requests, mut duration, mut peak) = (0u64, 0.0f64, 0.0f64);
    for g in groups {
        let wgt = g.replicas as f64;
        let r = &g.run;
        let dur = (r.end_seconds - r.start_seconds).max(1e-12);
        let out: u64 = r.records.iter().map(|x| x.output).sum();
        tok_s += wgt * out as f64 / dur;
        req_s += wgt * r.records.len() as f64 / dur;
        preempt += g.replicas * r.preemptions;
        running += wgt * r.running_seconds;
        busy += wgt * r.busy_seconds;
        for (i, b) in r.bound_seconds.iter().enumerate() {
            bound[i] += wgt * b;
        }
        iters += r.iterations;
        kv_blocked += wgt * r.kv_blocked_iterations as f64;
        seq_blocked += wgt * r.seq_blocked_iterations as f64;
        requests += g.replicas * r.records.len() as u64;
        duration = duration.max(dur);
        peak = peak.max(r.peak_kv_tokens / pool as f64);
        for x in &r.records {
            // From when the request is sent: the request overhead is inside.
            let t = (x.first_token - x.arrival) * 1e3;
            let e = (x.finish - x.arrival) * 1e3;
            ttft.push((t, wgt));
            e2e.push((e, wgt));
            if x.output > 1 {
                tpot.push(((e - t) / (x.output - 1) as f64, wgt));
            }
        }
        itl.extend(r.itl.iter().map(|&(dt, n)| (dt * 1e3, n * wgt)));
    }
    let total_iters: f64 = groups
        .iter()
        .map(|g| g.replicas as f64 * g.run.iterations as f64)
        .sum::<f64>()
        .max(1.0);
    let tpot = percentiles(tpot);
    let share = |x: f64| if busy > 0.0 { x / busy } else { 0.0 };
    let names = [
        Bound::Memory,
        Bound::Compute,
        Bound::Communication,
        Bound::Overhead,
    ];
    let top = (0..4)
        .max_by(|&a, &b| bound[a].total_cmp(&bound[b]))
        .unwrap_or(0);
    let kv_share = kv_blocked / total_iters;
    let bound_name = if kv_share > 0.5 {
        "kv-capacity".to_string()
    } else {
        names[top].name().to_string()
    };
    let gpus = s.cluster.total_gpus().max(1) as f64;
    let e = &s.deployment.engine;
    let mut assumptions = vec![
        format!(
            "every request generates exactly its output length (no early end-of-sequence), {} requests{}",
            w.requests(),
            if w.num_requests.is_none() { " (default)" } else { "" }
        ),
        "KV use counts every layer's tokens (sliding-window layers are not freed early) plus half a block of rounding per request".into(),
        "pipeline stages run one iteration at a time (no micro-batch overlap)".into(),
    ];
    if s.deployment.dp > 1 {
        assumptions.push(format!(
            "load split evenly over {} data-parallel replicas{}",
            s.deployment.dp,
            if s.deployment.ep > 1 {
                ", which run in lockstep and share the experts"
            } else {
                ""
            }
        ));
    }
    if let Some(note) = speculation_note(&crate::perf::Speculation::of(s)) {
        assumptions.push(note);
    }
    if sched.request_overhead_seconds == 0.0 {
        assumptions.push(
            "no per-request HTTP/tokenisation latency added (the profile's request_overhead_seconds is 0)".into(),
        );
    } else {
        assumptions.push(format!(
            "each request spends {:.1} ms between being sent and being schedulable (the profile's request_overhead_seconds: HTTP, tokenisation); it counts in TTFT and E2E, and a closed-loop client waits through it",
            sched.request_overhead_seconds * 1e3
        ));
    }
    ServingResult {
        ttft_ms: percentiles(ttft),
        output_tokens_per_second_per_user: if tpot.mean > 0.0 {
            1e3 / tpot.mean
        } else {
            0.0
        },
        tpot_ms: tpot,
        itl_ms: percentiles(itl),
        e2e_ms: percentiles(e2e),
        output_tokens_per_second: tok_s,
        output_tokens_per_second_per_gpu: tok_s / gpus,
        requests_per_second: req_s,
        mean_running_batch: if busy > 0.0 { running / busy } else { 0.0 },
        preemptions: preempt,
        bound: bound_name,
        bound_time_share: BoundShare {
            memory: share(bound[0]),
            compute: share(bound[1]),
            communication: share(bound[2]),
            overhead: share(bound[3]),
        },
        kv_blocked_iteration_share: kv_share,
        seq_blocked_iteration_share: seq_blocked / total_iters,
        kv_pool_tokens_per_replica: pool,
        peak_kv_use: peak,
        requests,
        iterations: iters,
        duration_seconds: duration,
        replicas: s.deployment.dp.max(1),
        load_per_replica: load_text.to_string(),
        scheduler: format!(
            "{} ({:?} batches, {:?} KV admission, preemption {:?}; max_num_batched_tokens {}, max_num_seqs {}{})",
            e.name,
            sched.batch_policy,
            sched.kv_admission,
            sched.preemption,
            e.max_num_batched_tokens,
            e.max_num_seqs,
            if e.chunked_prefill { ", chunked prefill" } else { "" }
        ),
        assumptions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_percentiles_match_numpy() {
        // numpy.percentile([1, 2, 3, 4], [50, 90, 99]) = 2.5, 3.7, 3.97.
        let p = percentiles(vec![(4.0, 1.0), (1.0, 1.0), (3.0, 1.0), (2.0, 1.0)]);
        assert!((p.p50 - 2.5).abs() < 1e-12);
        assert!((p.p90 - 3.7).abs() < 1e-12);
        assert!((p.p99 - 3.97).abs() < 1e-12);
        assert!((p.mean - 2.5).abs() < 1e-12);
        // Weights repeat values: [1, 1, 1, 5] → p50 = 1, mean = 2.
        let p = percentiles(vec![(1.0, 3.0), (5.0, 1.0)]);
        assert_eq!(p.p50, 1.0);
        assert_eq!(p.mean, 2.0);
    }
}
