//! Disaggregated serving (xPyD): P prefill workers and D decode workers,
//! each with its own layout and engine knobs, the KV cache of every request
//! moved from the one to the other.
//!
//! Each pool is a set of replicas of the one scheduler loop
//! ([`run_replica`]) priced by the one iteration cost
//! ([`IterationModel::cost`]): prefill replicas run requests that end with
//! their first token; decode replicas receive requests whose prompt (and
//! first token) is already in their KV cache and generate the rest. Between
//! the two, the request's KV crosses NVLink (both workers in one NVLink
//! domain) or the inter-node network, with bandwidth and latency from
//! `profiles/kv-transfer.yaml`, partly hidden where the engine sends each
//! prefill chunk as it finishes.
//!
//! A closed loop of C clients is a cyclic network of three stages (prefill,
//! transfer, decode). Each pool is simulated as a closed loop holding its
//! share of the clients; the shares follow Little's law (a stage holds
//! throughput × its residence time) and are iterated to a fixed point, so
//! the slower pool sets the rate and holds the queue. An open loop (request
//! rate) feeds forward: prefill arrivals as drawn, decode arrivals when each
//! request's KV has arrived.

use super::replica::{run_replica, Arrivals, ReplicaConfig, ReplicaError, ReplicaRun, RequestSpec};
use super::rng::Rng;
use super::{percentiles, Arrival, BoundShare, ServingResult, ServingWorkload};
use crate::error::{Error, Result};
use crate::memory::MemoryPlan;
use crate::perf::{BatchComposition, Bound, Efficiency, IterationModel};
use crate::scenario::Scenario;
use crate::spec::scheduler::BatchPolicy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The link data file (embedded).
const LINK_DATA: &str = include_str!("../../profiles/kv-transfer.yaml");

/// `profiles/kv-transfer.yaml` as parsed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkData {
    /// Latency of one transfer within an NVLink domain, µs.
    pub nvlink_latency_us: f64,
    /// Latency of one transfer over the network, µs.
    pub network_latency_us: f64,
    /// Network bandwidth per GPU, one direction, GB/s, unless `network_gb_per_s` names the GPU.
    pub network_gb_per_s_default: f64,
    /// Network bandwidth per GPU by GPU name.
    #[serde(default)]
    pub network_gb_per_s: BTreeMap<String, f64>,
    /// How each engine overlaps the transfer with its prefill.
    #[serde(default)]
    pub overlap: BTreeMap<String, Overlap>,
}

/// When a prefill worker sends a request's KV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overlap {
    /// Once the whole prompt is prefilled: the whole transfer is exposed.
    AfterPrefill,
    /// Each chunk as it finishes: only the last chunk's transfer is exposed
    /// (the earlier ones run under the later chunks' compute).
    PerChunk,
}

impl LinkData {
    /// The built-in link data.
    pub fn builtin() -> Result<LinkData> {
        crate::yaml::from_str(LINK_DATA, "built-in:profiles/kv-transfer.yaml")
    }

    /// How `engine` (a profile name) sends KV; after the prefill when not listed.
    pub fn overlap_of(&self, engine: &str) -> Overlap {
        self.overlap
            .get(engine)
            .copied()
            .unwrap_or(Overlap::AfterPrefill)
    }
}

/// The link a request's KV crosses between the pools.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KvLink {
    /// `nvlink` or `network`.
    pub kind: String,
    /// Bytes per second per GPU, one direction.
    pub bytes_per_second: f64,
    /// Fixed cost of one transfer, seconds.
    pub latency_seconds: f64,
}

impl KvLink {
    /// The link between pools of `total_gpus` GPUs of kind `gpu` on nodes of
    /// `node_gpus`: NVLink when both pools fit in one NVLink domain (the
    /// node, or the GPU's rack-scale domain), the network otherwise.
    pub fn between(
        gpu: &crate::spec::gpu::GpuSpec,
        node_gpus: u64,
        total_gpus: u64,
        data: &LinkData,
    ) -> KvLink {
        let domain = if gpu.interconnect.kind == "nvlink" && gpu.interconnect.max_gpus > 8 {
            gpu.interconnect.max_gpus
        } else if gpu.interconnect.kind == "nvlink" {
            node_gpus.min(gpu.interconnect.max_gpus.max(1))
        } else {
            1
        };
        if total_gpus <= domain && gpu.interconnect.kind == "nvlink" {
            KvLink {
                kind: "nvlink".into(),
                bytes_per_second: gpu.link_uni_bytes_per_s(),
                latency_seconds: data.nvlink_latency_us * 1e-6,
            }
        } else {
            let gb = data
                .network_gb_per_s
                .get(&gpu.name)
                .copied()
                .unwrap_or(data.network_gb_per_s_default);
            KvLink {
                kind: "network".into(),
                bytes_per_second: gb * 1e9,
                latency_seconds: data.network_latency_us * 1e-6,
            }
        }
    }
}

/// What moving one request's KV costs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KvTransfer {
    /// Prompt tokens whose KV moves.
    pub tokens: u64,
    /// Bytes on the wire: what every decode GPU holding the request receives, summed.
    pub bytes_total: u64,
    /// Prefill GPUs that hold the request's KV (one attention-DP rank: tp × pp).
    pub senders: u64,
    /// Decode GPUs that receive it (one attention-DP rank: tp × pp).
    pub receivers: u64,
    /// Bytes each sending GPU sends (the wire total shared over the senders).
    pub bytes_per_sender: u64,
    /// Bytes the busiest receiving GPU receives (its KV shard, block-rounded).
    pub bytes_per_receiver: u64,
    /// Seconds the whole transfer takes: latency + the busier side's bytes / bandwidth.
    pub seconds: f64,
    /// Of those, seconds not hidden under the prefill.
    pub exposed_seconds: f64,
}

/// The KV of `tokens` prompt tokens from a prefill replica (memory plan
/// `pm`, tensor parallel `p_tp`) to a decode replica (`dm`, `d_tp`): each
/// decode GPU receives its shard under its own layout (GQA heads split by
/// its TP, MLA latents whole on every rank); the senders share the wire
/// total. With `Overlap::PerChunk` only the last chunk of `chunk` tokens is
/// exposed.
#[allow(clippy::too_many_arguments)]
pub fn kv_transfer(
    pm: &MemoryPlan,
    p_tp: u64,
    dm: &MemoryPlan,
    d_tp: u64,
    tokens: u64,
    link: &KvLink,
    overlap: Overlap,
    chunk: u64,
) -> KvTransfer {
    let p_tp = p_tp.max(1);
    let d_tp = d_tp.max(1);
    let per_stage = |m: &MemoryPlan, t: u64| -> Vec<u64> {
        m.stages.iter().map(|st| st.kv.sequence_bytes(t)).collect()
    };
    let time = |t: u64| -> (u64, u64, u64, f64) {
        let recv = per_stage(dm, t);
        let total: u64 = recv.iter().sum::<u64>() * d_tp;
        let senders = p_tp * pm.stages.len().max(1) as u64;
        let per_sender = total.div_ceil(senders);
        let per_receiver = recv.iter().copied().max().unwrap_or(0);
        let secs = if t == 0 {
            0.0
        } else {
            link.latency_seconds
                + per_sender.max(per_receiver) as f64 / link.bytes_per_second.max(1.0)
        };
        (total, per_sender, per_receiver, secs)
    };
    let (total, per_sender, per_receiver, seconds) = time(tokens);
    let exposed_seconds = match overlap {
        Overlap::PerChunk if chunk > 0 && tokens > chunk => {
            let last = tokens - (tokens - 1) / chunk * chunk;
            time(last).3
        }
        _ => seconds,
    };
    KvTransfer {
        tokens,
        bytes_total: total,
        senders: p_tp * pm.stages.len().max(1) as u64,
        receivers: d_tp * dm.stages.len().max(1) as u64,
        bytes_per_sender: per_sender,
        bytes_per_receiver: per_receiver,
        seconds,
        exposed_seconds,
    }
}

/// One pool: its worker's scenario and memory plan, and how many workers.
#[derive(Debug, Clone, Copy)]
pub struct Pool<'a> {
    /// One worker's scenario (its GPUs, layout, engine knobs).
    pub scenario: &'a Scenario,
    /// That worker's memory plan.
    pub memory: &'a MemoryPlan,
    /// Identical workers in the pool.
    pub workers: u64,
}

impl Pool<'_> {
    /// Scheduler replicas of the pool: workers × attention-DP ranks.
    pub fn replicas(&self) -> u64 {
        self.workers.max(1) * self.scenario.deployment.dp.max(1)
    }

    /// GPUs of the pool.
    pub fn gpus(&self) -> u64 {
        self.workers.max(1) * self.scenario.cluster.total_gpus().max(1)
    }
}

/// The disaggregated section of a serving result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DisaggServing {
    /// The deployment figures, named as for aggregated serving (TTFT =
    /// client overhead + prefill queueing + prefill + exposed transfer;
    /// TPOT from the decode pool).
    pub serving: ServingResult,
    /// The reported run's mean requests in flight (Little's law) where the
    /// closed loop had not settled in the rounds allowed (the figures are
    /// then APPROXIMATE, as an assumption of `serving` says); `None` where it
    /// settled or arrivals are open. Not in the JSON: the assumption carries it.
    #[serde(skip)]
    pub unsettled_in_flight: Option<f64>,
    /// Mean exposed KV transfer per request, ms (in TTFT).
    pub kv_transfer_ms: f64,
    /// The KV transfer of a request of the mean prompt length.
    pub kv_transfer: KvTransfer,
    /// The link the KV crosses.
    pub link: KvLink,
    /// When the engine sends KV.
    pub overlap: Overlap,
    /// Share of time the prefill replicas run iterations.
    pub prefill_utilization: f64,
    /// Running sequences per decode replica / the most it can hold (its
    /// sequence cap, or its KV pool over one request's tokens).
    pub decode_utilization: f64,
    /// Requests/s the prefill pool completes when it never waits for work.
    pub prefill_capacity_requests_per_second: f64,
    /// Requests/s the decode pool completes at its fullest batch.
    pub decode_capacity_requests_per_second: f64,
    /// `prefill` or `decode`: the pool with the lower capacity, which sets
    /// the rate when the load grows.
    pub bottleneck: String,
    /// Why, in one sentence.
    pub bottleneck_reason: String,
    /// Clients (closed loop) held by each stage at the operating point:
    /// prefill (queue + running), transfer, decode.
    pub clients_by_stage: [f64; 3],
    /// Prefill workers, decode workers, GPUs of each pool and in all.
    pub prefill_workers: u64,
    /// Decode workers.
    pub decode_workers: u64,
    /// GPUs of the prefill pool.
    pub prefill_gpus: u64,
    /// GPUs of the decode pool.
    pub decode_gpus: u64,
}

/// One pool set up for simulation.
struct Station<'a> {
    cfg: ReplicaConfig,
    model: IterationModel<'a>,
    replicas: u64,
    /// Attention-DP ranks of one worker (replicas = workers × dp).
    dp: u64,
    /// Decode pool: a request arrives with its prompt cached; its one
    /// "prefill" token is the first decode step (priced as a decode).
    decode: bool,
}

/// One closed-loop (or open-loop) run of a station: groups of identical replicas.
struct StationRun {
    /// (replicas, weight as a count of replicas; their run).
    groups: Vec<(f64, ReplicaRun)>,
}

impl StationRun {
    fn requests_per_second(&self) -> f64 {
        self.groups
            .iter()
            .map(|(n, r)| {
                *n * r.records.len() as f64 / (r.end_seconds - r.start_seconds).max(1e-12)
            })
            .sum()
    }

    /// Mean time from arrival at the station to leaving it (first token on
    /// the prefill side, last token on the decode side), seconds.
    fn mean_residence(&self, decode: bool) -> f64 {
        let (mut s, mut w) = (0.0, 0.0);
        for (n, r) in &self.groups {
            for x in &r.records {
                let t = if decode { x.finish } else { x.first_token } - x.arrival;
                s += *n * t;
                w += *n;
            }
        }
        if w > 0.0 {
            s / w
        } else {
            0.0
        }
    }

    /// Busy seconds per completed request (iterations are shared by a batch).
    fn busy_per_request(&self) -> f64 {
        let (mut busy, mut done) = (0.0, 0.0);
        for (n, r) in &self.groups {
            busy += *n * r.busy_seconds;
            done += *n * r.records.len() as f64;
        }
        if done > 0.0 {
            busy / done
        } else {
            0.0
        }
    }
}

fn replica_config(s: &Scenario, mem: &MemoryPlan, pool: &str) -> Result<ReplicaConfig> {
    let d = &s.deployment;
    let e = &d.engine;
    let dp = d.dp.max(1);
    let kv = mem.kv_cache_tokens / dp;
    let spec = crate::perf::Speculation::of(s);
    if kv == 0 {
        return Err(Error::input(
            format!("{pool}-tp"),
            format!("the {pool} worker's engine has no KV pool left (weights and overheads fill its GPUs); give the {pool} workers more GPUs (--{pool}-tp/--{pool}-ep) or a smaller format"),
        ));
    }
    Ok(ReplicaConfig {
        sched: e.scheduler_spec(),
        max_num_batched_tokens: e.max_num_batched_tokens,
        max_num_seqs: e.max_num_seqs,
        chunked_prefill: e.chunked_prefill,
        kv_capacity_tokens: kv,
        block_size: e.block_size,
        window: s
            .model
            .sliding_window
            .filter(|&x| x > 0)
            .unwrap_or(u64::MAX),
        lockstep_replicas: if d.ep > 1 { dp as f64 } else { 1.0 },
        max_iterations: 20_000_000,
        decode_tokens_per_step: spec.tokens_per_step(),
        decode_budget_tokens: spec.verify_tokens(),
    })
}

impl<'a> Station<'a> {
    fn new(p: &Pool<'a>, eff: &Efficiency, decode: bool) -> Result<Station<'a>> {
        let name = if decode { "decode" } else { "prefill" };
        let mut cfg = replica_config(p.scenario, p.memory, name)?;
        if decode {
            // Arrivals join the running decode batch (no prefill pass of
            // their own), and the client's latency was paid on the prefill side.
            cfg.sched.batch_policy = BatchPolicy::Mixed;
            cfg.sched.request_overhead_seconds = 0.0;
            cfg.chunked_prefill = true;
        }
        Ok(Station {
            cfg,
            model: IterationModel::new(p.scenario, p.memory, eff),
            replicas: p.replicas(),
            dp: p.scenario.deployment.dp.max(1),
            decode,
        })
    }

    fn cost(&self, b: &BatchComposition) -> crate::perf::IterationCost {
        if self.decode && b.prefill_tokens > 0.0 && b.prefill_tokens <= b.prefill_chunks {
            // One-token "prefills" of requests whose prompt arrived cached:
            // their first decode step.
            let mut d = *b;
            d.decode_sequences += b.prefill_chunks;
            d.decode_context_tokens += b.prefill_prefix_tokens + b.prefill_tokens;
            d.decode_window_tokens += b.prefill_window_prefix_tokens + b.prefill_tokens;
            d.prefill_tokens = 0.0;
            d.prefill_chunks = 0.0;
            d.prefill_prefix_tokens = 0.0;
            d.prefill_window_prefix_tokens = 0.0;
            d.prefill_pairs = 0.0;
            d.prefill_window_pairs = 0.0;
            return self.model.cost(&d);
        }
        self.model.cost(b)
    }

    fn run(&self, specs: &[RequestSpec], arrivals: &Arrivals) -> Result<ReplicaRun> {
        let name = if self.decode { "decode" } else { "prefill" };
        run_replica(&self.cfg, specs, arrivals, |b| self.cost(b)).map_err(|e| match e {
            ReplicaError::DoesNotFit {
                needs_tokens,
                pool_tokens,
            } => Error::input(
                format!("{name}-tp"),
                format!(
                    "one request needs {needs_tokens} KV tokens but a {name} replica's pool holds {pool_tokens}; give the {name} workers more GPUs (--{name}-tp/--{name}-ep), fp8 KV, or shorten --isl/--osl"
                ),
            ),
            ReplicaError::TooLong { iterations } => Error::input(
                "num-requests",
                format!("the {name} pool's simulation would run past {iterations} iterations; lower --num-requests"),
            ),
            ReplicaError::PastDeadline => Error::Environment(format!(
                "the {name} pool's simulation ran past its deadline and was stopped"
            )),
        })
    }

    /// A closed loop of `clients` (a mean, at least one) over the
    /// replicas, `per_client` requests per client; `spec` makes the
    /// requests. A fractional mean per replica f is the mix of replicas
    /// holding ⌊f⌋ and ⌊f⌋ + 1 clients that averages to it.
    fn closed(
        &self,
        clients: f64,
        per_client: u64,
        spec: &dyn Fn(&mut Rng, u64) -> Vec<RequestSpec>,
        seed: u64,
    ) -> Result<StationRun> {
        let r = self.replicas.max(1) as f64;
        let f = (clients.max(1.0) / r).min(1e6);
        let q = f.floor() as u64;
        let frac = f - q as f64;
        let mut groups = Vec::new();
        for (i, (weight, k)) in [(r * frac, q + 1), (r * (1.0 - frac), q)]
            .into_iter()
            .enumerate()
        {
            if weight < 1e-9 || k == 0 {
                continue;
            }
            let mut rng = Rng::new(seed.wrapping_add(i as u64 * 0x1000_0001));
            let specs = spec(&mut rng, (k * per_client).max(k));
            let run = self.run(&specs, &Arrivals::Closed { concurrency: k })?;
            groups.push((weight, run));
        }
        Ok(StationRun { groups })
    }

    /// Most sequences one replica can hold at once for requests of `tokens`.
    fn slots(&self, tokens: u64) -> u64 {
        let waste = (self.cfg.block_size.max(1) - 1) / 2;
        let by_kv = self.cfg.kv_capacity_tokens / (tokens + waste).max(1);
        self.cfg.max_num_seqs.min(by_kv).max(1)
    }
}

/// A closed loop followed request by request: what [`closed_loop`] returns.
struct ClosedLoop {
    pre: StationRun,
    dec: Option<StationRun>,
    /// (TTFT ms, E2E ms) of every request.
    per_request: Vec<(f64, f64)>,
    stages: [f64; 3],
    requests_per_second: f64,
    /// Whether the send times settled within the rounds allowed, the last
    /// round's largest change of a send time (seconds), and the mean
    /// requests in flight of the reported run (Little's law; C when the run
    /// is a faithful closed loop).
    settled: bool,
    residual_seconds: f64,
    in_flight_mean: f64,
}

/// Most rounds of the closed loop for one estimate (it stops once settled;
/// the plan, which ranks many deployments, allows fewer).
const ESTIMATE_ROUNDS: usize = 16;

/// Requests × rounds one estimate's closed loop may simulate beyond its
/// first `ESTIMATE_ROUNDS` rounds (about a second of work).
const ESTIMATE_REQUEST_ROUNDS: u64 = 400_000;

/// The closed loop of `c` clients over both pools, every request followed
/// through them: client j sends its k-th request when its (k − 1)-th
/// finished (all C at once at the start, as the benchmark's clients do),
/// the router deals requests round-robin over the prefill replicas and,
/// independently, over the decode workers (each worker's attention-DP ranks
/// in turn) in send order, without looking at their load (NVIDIA Dynamo's
/// frontend, `--router-mode` default `round-robin`; SGLang's DP controller,
/// `--load-balance-method` default `round_robin`), and a decode replica
/// admits a request only when its sequence cap and KV pool have room (its
/// scheduler's waiting queue). Each replica is the one scheduler loop, run
/// open-loop on the times its requests reach it; the send times depend on
/// the finish times, so the runs are repeated (at most `max_rounds`) until
/// the send times settle: each round carries the finish times one wave of
/// requests further, so a loop of many waves per client may not settle in
/// the rounds allowed, and the result then says so (`settled`,
/// `in_flight_mean`). The figures are those of the last run.
fn closed_loop(
    pst: &Station<'_>,
    dst: &Station<'_>,
    exposed: &dyn Fn(u64) -> f64,
    w: &ServingWorkload,
    c: u64,
    max_rounds: usize,
) -> Result<ClosedLoop> {
    let c = c.max(1) as usize;
    let n = (w.requests().max(c as u64)) as usize;
    let r = w.random_range_ratio;
    let mut rng = Rng::new(w.seed);
    let lens: Vec<(u64, u64)> = (0..n)
        .map(|_| (draw(&mut rng, w.isl, r), draw(&mut rng, w.osl, r)))
        .collect();
    let decode = w.osl > 1;
    let pre_specs: Vec<RequestSpec> = lens
        .iter()
        .map(|&(prompt, _)| RequestSpec {
            prompt,
            output: 1,
            cached: (prompt as f64 * w.prefix_cache_hit).floor() as u64,
        })
        .collect();
    let dec_specs: Vec<RequestSpec> = lens
        .iter()
        .map(|&(prompt, output)| RequestSpec {
            prompt: prompt + 1,
            output: output.max(2) - 1,
            cached: prompt + 1,
        })
        .collect();
    let rp = pst.replicas.max(1) as usize;
    let rd = dst.replicas.max(1) as usize;
    let d_workers = (dst.replicas / dst.dp.max(1)).max(1) as usize;
    let d_dp = dst.dp.max(1) as usize;
    // A first guess of the cycle: one request alone through both pools.
    let alone = {
        let p = pst.run(&pre_specs[..1], &Arrivals::Closed { concurrency: 1 })?;
        let mut t = p.records.first().map_or(0.0, |x| x.first_token - x.arrival);
        t += exposed(lens[0].0);
        if decode {
            let d = dst.run(&dec_specs[..1], &Arrivals::Closed { concurrency: 1 })?;
            t += d.records.first().map_or(0.0, |x| x.finish - x.arrival);
        }
        t.max(1e-6)
    };
    let mut send: Vec<f64> = (0..n).map(|i| (i / c) as f64 * alone).collect();
    let mut sent = send.clone();
    let (mut settled, mut residual_seconds) = (false, 0.0f64);
    let mut in_flight_mean = 0.0f64;
    let mut first_pre = vec![0.0f64; n];
    let mut land = vec![0.0f64; n];
    let mut first_dec = vec![0.0f64; n];
    let mut finish = vec![0.0f64; n];
    let mut pre_runs = Vec::new();
    let mut dec_runs = Vec::new();
    let run_pool = |st: &Station<'_>,
                    specs: &[RequestSpec],
                    members: &[usize],
                    at: &[f64]|
     -> Result<ReplicaRun> {
        let mut order: Vec<usize> = members.to_vec();
        order.sort_by(|&a, &b| at[a].total_cmp(&at[b]).then(a.cmp(&b)));
        let sp: Vec<RequestSpec> = order.iter().map(|&i| specs[i]).collect();
        let times: Vec<f64> = order.iter().map(|&i| at[i]).collect();
        let mut run = st.run(
            &sp,
            &Arrivals::Open {
                times,
                max_concurrency: None,
            },
        )?;
        // Back to the caller's numbering.
        for x in &mut run.records {
            x.index = order[x.index];
        }
        Ok(run)
    };
    for _ in 0..max_rounds.max(1) {
        // Route in send order.
        let mut by_send: Vec<usize> = (0..n).collect();
        by_send.sort_by(|&a, &b| send[a].total_cmp(&send[b]).then(a.cmp(&b)));
        let mut pre_members = vec![Vec::new(); rp];
        let mut dec_members = vec![Vec::new(); rd];
        for (k, &i) in by_send.iter().enumerate() {
            pre_members[k % rp].push(i);
            dec_members[(k % d_workers) * d_dp + (k / d_workers) % d_dp].push(i);
        }
        pre_runs.clear();
        for m in pre_members.iter().filter(|m| !m.is_empty()) {
            let run = run_pool(pst, &pre_specs, m, &send)?;
            for x in &run.records {
                first_pre[x.index] = x.first_token;
                land[x.index] = x.first_token + exposed(x.prompt);
            }
            pre_runs.push((1.0, run));
        }
        dec_runs.clear();
        if decode {
            for m in dec_members.iter().filter(|m| !m.is_empty()) {
                let run = run_pool(dst, &dec_specs, m, &land)?;
                for x in &run.records {
                    first_dec[x.index] = x.first_token;
                    finish[x.index] = x.finish;
                }
                dec_runs.push((1.0, run));
            }
        } else {
            finish.copy_from_slice(&land);
            first_dec.copy_from_slice(&land);
        }
        sent.copy_from_slice(&send);
        // Each client's next request leaves when its last one finished.
        let mut moved = 0.0f64;
        for i in c..n {
            moved = moved.max((finish[i - c] - send[i]).abs());
            send[i] = finish[i - c];
        }
        let span = finish.iter().copied().fold(0.0, f64::max).max(1e-12);
        residual_seconds = moved;
        // Settled: the send times no longer move, or the run keeps the
        // clients' requests in flight as a closed loop does (Little's law:
        // mean in flight = Σ residence / span within 3% of C, the ends'
        // ramp allowed for).
        let in_flight = (0..n).map(|i| finish[i] - sent[i]).sum::<f64>() / span;
        let expected = c as f64 * (1.0 - 0.5 / (n / c).max(1) as f64);
        in_flight_mean = in_flight;
        if moved <= 1e-3 * span / (n / c).max(1) as f64
            || (in_flight - expected).abs() <= 0.03 * expected
        {
            settled = true;
            break;
        }
    }
    // Statistics from the send times the last run used, so every request's
    // times are of one consistent run (first token after its send).
    let per_request: Vec<(f64, f64)> = (0..n)
        .map(|i| ((first_dec[i] - sent[i]) * 1e3, (finish[i] - sent[i]) * 1e3))
        .collect();
    let span = finish.iter().copied().fold(0.0, f64::max).max(1e-12);
    let x = n as f64 / span;
    let mean = |f: &dyn Fn(usize) -> f64| (0..n).map(f).sum::<f64>() / n as f64;
    let tp = mean(&|i| first_pre[i] - sent[i]);
    let tx = mean(&|i| land[i] - first_pre[i]);
    let td = mean(&|i| finish[i] - land[i]);
    Ok(ClosedLoop {
        pre: StationRun { groups: pre_runs },
        dec: decode.then_some(StationRun { groups: dec_runs }),
        per_request,
        stages: [x * tp, x * tx, x * td],
        requests_per_second: x,
        settled,
        residual_seconds,
        in_flight_mean,
    })
}

fn draw(rng: &mut Rng, mean: u64, r: f64) -> u64 {
    if r <= 0.0 {
        return mean;
    }
    let lo = ((mean as f64) * (1.0 - r)).floor().max(1.0) as u64;
    let hi = ((mean as f64) * (1.0 + r)).floor().max(1.0) as u64;
    rng.range_inclusive(lo, hi)
}

/// Check a pool's worker count; errors name the pool's flag.
fn check_workers(n: u64, pool: &str) -> Result<()> {
    if n == 0 {
        return Err(Error::input(
            format!("{pool}-workers"),
            format!("a disaggregated deployment needs at least one {pool} worker"),
        ));
    }
    if n > 1024 {
        return Err(Error::input(
            format!("{pool}-workers"),
            format!("{n} {pool} workers is beyond what kvplan simulates (≤ 1,024)"),
        ));
    }
    Ok(())
}

/// Simulate the disaggregated deployment (`prefill`, `decode`) serving `w`,
/// the KV crossing `link` (the engine's `overlap`).
pub fn simulate_disagg(
    prefill: &Pool<'_>,
    decode: &Pool<'_>,
    link: &KvLink,
    overlap: Overlap,
    eff: &Efficiency,
    w: &ServingWorkload,
) -> Result<DisaggServing> {
    // A closed loop's rounds carry the finish times about one wave of
    // requests further each: allow a round per wave (and two), within a
    // budget of simulated requests.
    let rounds = match w.arrival {
        Arrival::Concurrency(c) => {
            let n = w.requests().max(c.max(1));
            let waves = n.div_ceil(c.max(1)) as usize + 2;
            let budget = (ESTIMATE_REQUEST_ROUNDS / n.max(1)) as usize;
            waves.min(budget).max(ESTIMATE_ROUNDS)
        }
        _ => ESTIMATE_ROUNDS,
    };
    simulate_disagg_rounds(prefill, decode, link, overlap, eff, w, rounds)
}

/// [`simulate_disagg`] with at most `max_rounds` fixed-point rounds of a
/// closed loop (the plan uses fewer: it ranks many deployments).
pub fn simulate_disagg_rounds(
    prefill: &Pool<'_>,
    decode: &Pool<'_>,
    link: &KvLink,
    overlap: Overlap,
    eff: &Efficiency,
    w: &ServingWorkload,
    max_rounds: usize,
) -> Result<DisaggServing> {
    check_workers(prefill.workers, "prefill")?;
    check_workers(decode.workers, "decode")?;
    prefill.scenario.validate()?;
    decode.scenario.validate()?;
    w.validate(
        prefill
            .scenario
            .model
            .max_context
            .min(decode.scenario.model.max_context),
    )?;
    let pst = Station::new(prefill, eff, false)?;
    let dst = Station::new(decode, eff, true)?;
    let pd = &prefill.scenario.deployment;
    let dd = &decode.scenario.deployment;
    let chunk = if pd.engine.chunked_prefill {
        pd.engine.max_num_batched_tokens
    } else {
        0
    };
    let transfer = |tokens: u64| {
        kv_transfer(
            prefill.memory,
            pd.tp,
            decode.memory,
            dd.tp,
            tokens,
            link,
            overlap,
            chunk,
        )
    };
    let r = w.random_range_ratio;
    let cache = w.prefix_cache_hit;
    let pre_spec = move |rng: &mut Rng, n: u64| -> Vec<RequestSpec> {
        (0..n)
            .map(|_| {
                let prompt = draw(rng, w.isl, r);
                RequestSpec {
                    prompt,
                    output: 1,
                    cached: (prompt as f64 * cache).floor() as u64,
                }
            })
            .collect()
    };
    // Decode side: prompt + first token arrive cached; the rest is generated.
    let dec_spec = move |rng: &mut Rng, n: u64| -> Vec<RequestSpec> {
        (0..n)
            .map(|_| {
                let prompt = draw(rng, w.isl, r);
                let output = draw(rng, w.osl, r).max(2);
                RequestSpec {
                    prompt: prompt + 1,
                    output: output - 1,
                    cached: prompt + 1,
                }
            })
            .collect()
    };
    let n_total = w.requests();
    let mean_x = transfer(w.isl);
    // Per request (TTFT ms, E2E ms) where the closed loop tracks each one.
    let mut paired: Option<Vec<(f64, f64)>> = None;
    let mut unsettled_in_flight: Option<f64> = None;
    let mut unsettled_note: Option<String> = None;
    let (pre_run, dec_run, stages, x_rps) = match w.arrival {
        Arrival::Concurrency(c) => {
            let run = closed_loop(
                &pst,
                &dst,
                &|p| transfer(p).exposed_seconds,
                w,
                c,
                max_rounds,
            )?;
            paired = Some(run.per_request);
            if !run.settled {
                unsettled_in_flight = Some(run.in_flight_mean);
                unsettled_note = Some(format!(
                    "APPROXIMATE: the closed loop of {c} clients over both pools had not settled after {max_rounds} rounds (a send time still moved by up to {:.0} ms): the reported run holds {:.1} requests in flight on average (Little's law) where the clients hold {c}, so its queueing and TTFT are {} (a smaller --num-requests, fewer requests per client, settles in fewer rounds)",
                    run.residual_seconds * 1e3,
                    run.in_flight_mean,
                    if run.in_flight_mean > c as f64 { "overstated" } else { "understated" }
                ));
            }
            (run.pre, run.dec, run.stages, run.requests_per_second)
        }
        Arrival::Rate {
            per_second,
            burstiness,
            max_concurrency,
        } => {
            // Feed forward: prefill arrivals as drawn (split over the
            // prefill replicas), decode arrivals when the KV has landed.
            let rp = pst.replicas.max(1);
            let rate = per_second / rp as f64;
            let n = n_total.div_ceil(rp).max(1);
            let mut rng = Rng::new(w.seed ^ 0xA5A5);
            let times = rng.send_times_seconds(n, rate, burstiness);
            let cap = max_concurrency.map(|c| c.div_ceil(rp).max(1));
            let mut rng = Rng::new(w.seed);
            let specs = pre_spec(&mut rng, n);
            let pr = pst.run(
                &specs,
                &Arrivals::Open {
                    times,
                    max_concurrency: cap,
                },
            )?;
            let pre = StationRun {
                groups: vec![(rp as f64, pr)],
            };
            let dr = if w.osl > 1 {
                // Every prefill replica's completions, KV-transfer later, dealt
                // round-robin to the decode replicas (all alike: simulate one).
                let rd = dst.replicas.max(1);
                let mut landed: Vec<(f64, u64)> = Vec::new();
                for _ in 0..rp {
                    for x in &pre.groups[0].1.records {
                        landed.push((x.first_token + transfer(x.prompt).exposed_seconds, x.prompt));
                    }
                }
                landed.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mine: Vec<(f64, u64)> = landed.into_iter().step_by(rd as usize).collect();
                let mut rng = Rng::new(w.seed ^ 0x5A5A);
                let specs: Vec<RequestSpec> = mine
                    .iter()
                    .map(|&(_, prompt)| {
                        let output = draw(&mut rng, w.osl, r).max(2);
                        RequestSpec {
                            prompt: prompt + 1,
                            output: output - 1,
                            cached: prompt + 1,
                        }
                    })
                    .collect();
                let times: Vec<f64> = mine.iter().map(|x| x.0).collect();
                let run = dst.run(
                    &specs,
                    &Arrivals::Open {
                        times,
                        max_concurrency: None,
                    },
                )?;
                Some(StationRun {
                    groups: vec![(rd as f64, run)],
                })
            } else {
                None
            };
            let x = dr
                .as_ref()
                .map_or_else(|| pre.requests_per_second(), |d| d.requests_per_second());
            let tp = pre.mean_residence(false);
            let td = dr.as_ref().map_or(0.0, |d| d.mean_residence(true));
            (pre, dr, [x * tp, x * mean_x.exposed_seconds, x * td], x)
        }
    };
    // Capacities: the prefill pool never short of work; the decode pool at
    // its fullest batch.
    let p_sat_clients = (pst.cfg.max_num_seqs.clamp(2, 64) * pst.replicas) as f64;
    let p_cap = pst
        .closed(p_sat_clients, 4, &pre_spec, w.seed ^ 0x77)?
        .requests_per_second();
    let d_slots = dst.slots(w.isl + w.osl);
    let d_cap = if w.osl > 1 {
        dst.closed((d_slots * dst.replicas) as f64, 2, &dec_spec, w.seed ^ 0x99)?
            .requests_per_second()
    } else {
        f64::INFINITY
    };
    let (bottleneck, reason) = if p_cap <= d_cap {
        (
            "prefill",
            format!(
                "the prefill pool completes at most {p_cap:.2} requests/s against the decode pool's {d_cap:.2}: add prefill workers (or give each more GPUs) to raise the rate"
            ),
        )
    } else {
        (
            "decode",
            format!(
                "the decode pool completes at most {d_cap:.2} requests/s at its fullest batch ({d_slots} sequences per replica) against the prefill pool's {p_cap:.2}: add decode workers to raise the rate"
            ),
        )
    };
    let prefill_utilization =
        (x_rps * pre_run.busy_per_request() / pst.replicas.max(1) as f64).min(1.0);
    let decode_utilization = dec_run.as_ref().map_or(0.0, |d| {
        let run: f64 = d.groups.iter().map(|(n, r)| *n * r.running_seconds).sum();
        let wall = d
            .groups
            .iter()
            .map(|(_, r)| r.end_seconds - r.start_seconds)
            .fold(0.0, f64::max)
            .max(1e-12);
        (run / wall / dst.replicas.max(1) as f64 / d_slots as f64).min(1.0)
    });
    let mut serving = combine(
        prefill,
        decode,
        w,
        &pre_run,
        dec_run.as_ref(),
        &dst,
        &|prompt| transfer(prompt).exposed_seconds,
        x_rps,
        stages,
        link,
        overlap,
        paired.as_deref(),
    );
    serving.assumptions.extend(unsettled_note);
    Ok(DisaggServing {
        serving,
        unsettled_in_flight,
        kv_transfer_ms: mean_x.exposed_seconds * 1e3,
        kv_transfer: mean_x,
        link: link.clone(),
        overlap,
        prefill_utilization,
        decode_utilization,
        prefill_capacity_requests_per_second: p_cap,
        decode_capacity_requests_per_second: if d_cap.is_finite() { d_cap } else { 0.0 },
        bottleneck: bottleneck.into(),
        bottleneck_reason: reason,
        clients_by_stage: stages,
        prefill_workers: prefill.workers,
        decode_workers: decode.workers,
        prefill_gpus: prefill.gpus(),
        decode_gpus: decode.gpus(),
    })
}

/// Deployment figures from the two pools' runs.
#[allow(clippy::too_many_arguments)]
fn combine(
    prefill: &Pool<'_>,
    decode: &Pool<'_>,
    w: &ServingWorkload,
    pre: &StationRun,
    dec: Option<&StationRun>,
    dst: &Station<'_>,
    exposed: &dyn Fn(u64) -> f64,
    x_rps: f64,
    stages: [f64; 3],
    link: &KvLink,
    overlap: Overlap,
    paired: Option<&[(f64, f64)]>,
) -> ServingResult {
    let mut ttft = Vec::new();
    for (n, r) in &pre.groups {
        for x in &r.records {
            ttft.push(((x.first_token - x.arrival + exposed(x.prompt)) * 1e3, *n));
        }
    }
    // Decode side per request: (wait until its first decode-pool token,
    // residence). The client's stream comes from the decode worker (the
    // prefill worker hands back only the KV's transfer metadata: Dynamo's
    // disaggregated-serving design, https://docs.nvidia.com/dynamo/design-docs/disaggregated-serving),
    // so the wait for a decode slot and that first step count in TTFT.
    let (mut tpot, mut resid, mut first, mut itl) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut running, mut busy, mut bound) = (0.0, 0.0, [0.0f64; 4]);
    let (mut iters, mut preempt, mut kv_blocked, mut seq_blocked, mut peak) = (
        pre.groups.iter().map(|g| g.1.iterations).sum::<u64>(),
        0u64,
        0.0,
        0.0,
        0.0f64,
    );
    let mut total_iters = 0.0;
    let mut duration = pre
        .groups
        .iter()
        .map(|(_, r)| r.end_seconds - r.start_seconds)
        .fold(0.0, f64::max);
    if let Some(d) = dec {
        for (n, r) in &d.groups {
            let wgt = *n;
            for x in &r.records {
                let t = (x.finish - x.arrival) * 1e3;
                let f = (x.first_token - x.arrival) * 1e3;
                resid.push(t);
                first.push(f);
                // (e2e − TTFT) / (osl − 1): the decode pool emits osl − 1 tokens.
                tpot.push(((t - f) / x.output.max(1) as f64, wgt));
                itl.push((f, wgt));
            }
            itl.extend(r.itl.iter().map(|&(dt, k)| (dt * 1e3, k * wgt)));
            running += wgt * r.running_seconds;
            busy += wgt * r.busy_seconds;
            for (i, b) in r.bound_seconds.iter().enumerate() {
                bound[i] += wgt * b;
            }
            iters += r.iterations;
            preempt += (wgt * r.preemptions as f64).round() as u64;
            kv_blocked += wgt * r.kv_blocked_iterations as f64;
            seq_blocked += wgt * r.seq_blocked_iterations as f64;
            total_iters += wgt * r.iterations as f64;
            peak = peak.max(r.peak_kv_tokens / dst.cfg.kv_capacity_tokens.max(1) as f64);
            duration = duration.max(r.end_seconds - r.start_seconds);
        }
    }
    // E2E: each prefill-side TTFT paired with a decode-side residence in
    // order; the pair's TTFT adds the decode side's wait for its first token.
    let mut e2e = Vec::new();
    if let Some(p) = paired {
        // The closed loop followed every request through both pools.
        ttft = p.iter().map(|&(t, _)| (t, 1.0)).collect();
        e2e = p.iter().map(|&(_, e)| (e, 1.0)).collect();
    } else {
        for (i, (t, wgt)) in ttft.iter_mut().enumerate() {
            let (d, f) = if resid.is_empty() {
                (0.0, 0.0)
            } else {
                (resid[i % resid.len()], first[i % first.len()])
            };
            e2e.push((*t + d, *wgt));
            *t += f;
        }
    }
    let tpot_p = percentiles(tpot);
    let names = [
        Bound::Memory,
        Bound::Compute,
        Bound::Communication,
        Bound::Overhead,
    ];
    let top = (0..4)
        .max_by(|&a, &b| bound[a].total_cmp(&bound[b]))
        .unwrap_or(0);
    let kv_share = kv_blocked / total_iters.max(1.0);
    let share = |x: f64| if busy > 0.0 { x / busy } else { 0.0 };
    let gpus = (prefill.gpus() + decode.gpus()).max(1) as f64;
    let tok_s = x_rps * w.osl as f64;
    let pe = &prefill.scenario.deployment.engine;
    let de = &decode.scenario.deployment.engine;
    let sched = pe.scheduler_spec();
    let mut assumptions = vec![
        format!(
            "disaggregated: {} prefill worker(s) of {} GPU(s) and {} decode worker(s) of {} GPU(s); each pool simulated as its engine's scheduler, {} requests",
            prefill.workers,
            prefill.scenario.cluster.total_gpus(),
            decode.workers,
            decode.scenario.cluster.total_gpus(),
            w.requests()
        ),
        format!(
            "KV moves over {} at {:.0} GB/s per GPU + {:.0} µs per transfer ({}); {}",
            link.kind,
            link.bytes_per_second / 1e9,
            link.latency_seconds * 1e6,
            "profiles/kv-transfer.yaml",
            match overlap {
                Overlap::PerChunk => "the prefill worker sends each chunk as it finishes, so only the last chunk's transfer adds to TTFT",
                Overlap::AfterPrefill => "the prefill worker sends it once the prompt is done, so the whole transfer adds to TTFT",
            }
        ),
        "TTFT = client overhead + prefill queueing + prefill + exposed transfer + the decode worker's wait for a slot and its first step (the client's stream comes from the decode worker); TPOT = the decode pool's time per token after that".into(),
        "closed loop: each pool runs as a closed loop holding its share of the clients (throughput × its residence time, Little's law), iterated to a fixed point; E2E pairs prefill and decode samples in order".into(),
        "every request generates exactly its output length (no early end-of-sequence)".into(),
    ];
    if let Some(note) = super::speculation_note(&crate::perf::Speculation::of(decode.scenario)) {
        assumptions.push(format!("decode pool: {note}"));
    }
    ServingResult {
        ttft_ms: percentiles(ttft),
        output_tokens_per_second_per_user: if tpot_p.mean > 0.0 {
            1e3 / tpot_p.mean
        } else {
            0.0
        },
        tpot_ms: tpot_p,
        itl_ms: percentiles(itl),
        e2e_ms: percentiles(e2e),
        output_tokens_per_second: tok_s,
        output_tokens_per_second_per_gpu: tok_s / gpus,
        requests_per_second: x_rps,
        mean_running_batch: if busy > 0.0 { running / busy } else { 0.0 },
        preemptions: preempt,
        bound: if kv_share > 0.5 {
            "kv-capacity".into()
        } else {
            names[top].name().to_string()
        },
        bound_time_share: BoundShare {
            memory: share(bound[0]),
            compute: share(bound[1]),
            communication: share(bound[2]),
            overhead: share(bound[3]),
        },
        kv_blocked_iteration_share: kv_share,
        seq_blocked_iteration_share: seq_blocked / total_iters.max(1.0),
        kv_pool_tokens_per_replica: dst.cfg.kv_capacity_tokens,
        peak_kv_use: peak,
        requests: w.requests(),
        iterations: iters,
        duration_seconds: duration,
        replicas: decode.replicas(),
        load_per_replica: match w.arrival {
            Arrival::Concurrency(c) => format!(
                "{c} clients: {:.1} at prefill, {:.1} in transfer, {:.1} at decode, over {} prefill and {} decode replicas",
                stages[0],
                stages[1],
                stages[2],
                prefill.replicas(),
                decode.replicas()
            ),
            Arrival::Rate { per_second, .. } => format!(
                "{:.3} requests/s per prefill replica",
                per_second / prefill.replicas() as f64
            ),
        },
        scheduler: format!(
            "prefill: {} ({:?} batches, max_num_batched_tokens {}, max_num_seqs {}); decode: {} (max_num_seqs {})",
            pe.name,
            sched.batch_policy,
            pe.max_num_batched_tokens,
            pe.max_num_seqs,
            de.name,
            de.max_num_seqs
        ),
        assumptions,
    }
}

/// One pool of a disaggregated deployment as the edges give it
/// (`--prefill-workers/--prefill-tp/…`, the API's `disagg.prefill`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolRequest {
    /// Identical workers in the pool.
    pub workers: u64,
    /// Tensor parallel of one worker (default 1).
    #[serde(default)]
    pub tp: Option<u64>,
    /// Pipeline stages of one worker (default 1).
    #[serde(default)]
    pub pp: Option<u64>,
    /// Attention data-parallel ranks of one worker (default 1).
    #[serde(default)]
    pub dp: Option<u64>,
    /// Expert parallel of one worker (default 1).
    #[serde(default)]
    pub ep: Option<u64>,
    /// Running-sequence cap of one attention-DP rank (the engine's
    /// `max_num_seqs` / `max_batch_size`; default: the profile's).
    #[serde(default)]
    pub batch: Option<u64>,
}

impl PoolRequest {
    /// GPUs of one worker: tp × pp × dp.
    pub fn gpus_per_worker(&self) -> u64 {
        self.tp.unwrap_or(1).max(1) * self.pp.unwrap_or(1).max(1) * self.dp.unwrap_or(1).max(1)
    }
}

/// A disaggregated deployment: its two pools.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisaggRequest {
    /// The prefill pool.
    pub prefill: PoolRequest,
    /// The decode pool.
    pub decode: PoolRequest,
}

/// The disaggregated section as text (after the aggregated serving block).
pub fn render_text(d: &DisaggServing) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Disaggregated: {} prefill worker(s) ({} GPUs) + {} decode worker(s) ({} GPUs)",
        d.prefill_workers, d.prefill_gpus, d.decode_workers, d.decode_gpus
    );
    let _ = writeln!(
        o,
        "  KV transfer per request ({} tokens): {:.1} MiB on the wire over {} ({:.0} GB/s per GPU), {:.2} ms, {:.2} ms exposed in TTFT",
        d.kv_transfer.tokens,
        d.kv_transfer.bytes_total as f64 / (1u64 << 20) as f64,
        d.link.kind,
        d.link.bytes_per_second / 1e9,
        d.kv_transfer.seconds * 1e3,
        d.kv_transfer_ms
    );
    let _ = writeln!(
        o,
        "  Prefill utilization {:.0}%, decode utilization {:.0}%; capacity: prefill {:.2} req/s, decode {:.2} req/s",
        d.prefill_utilization * 100.0,
        d.decode_utilization * 100.0,
        d.prefill_capacity_requests_per_second,
        d.decode_capacity_requests_per_second
    );
    let _ = writeln!(
        o,
        "  Bottleneck: {} — {}",
        d.bottleneck, d.bottleneck_reason
    );
    o
}

/// One pool's shape in a plan candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PoolShape {
    /// Workers.
    pub workers: u64,
    /// Tensor parallel of a worker.
    pub tp: u64,
    /// Pipeline stages.
    pub pp: u64,
    /// Attention-DP ranks.
    pub dp: u64,
    /// Expert parallel.
    pub ep: u64,
}

impl PoolShape {
    /// GPUs of one worker.
    pub fn gpus_per_worker(&self) -> u64 {
        self.tp * self.pp * self.dp
    }

    /// GPUs of the pool.
    pub fn gpus(&self) -> u64 {
        self.workers * self.gpus_per_worker()
    }
}

/// One disaggregated deployment the plan simulated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DisaggCandidate {
    /// The prefill pool.
    pub prefill: PoolShape,
    /// The decode pool.
    pub decode: PoolShape,
    /// GPUs of both pools.
    pub gpus: u64,
    /// TTFT at the SLA percentile, ms.
    pub ttft_ms: f64,
    /// TPOT at the SLA percentile, ms.
    pub tpot_ms: f64,
    /// Output tokens/s per GPU.
    pub output_tokens_per_second_per_gpu: f64,
    /// Output tokens/s per user.
    pub output_tokens_per_second_per_user: f64,
    /// Requests/s.
    pub requests_per_second: f64,
    /// Mean exposed KV transfer, ms.
    pub kv_transfer_ms: f64,
    /// `prefill` or `decode`.
    pub bottleneck: String,
    /// Share of time the prefill replicas compute.
    pub prefill_utilization: f64,
    /// Decode batch use.
    pub decode_utilization: f64,
    /// Worst measured / limit over the SLA terms (≤ 1: meets it).
    pub sla_ratio: f64,
    /// Whether it meets the SLA.
    pub meets_sla: bool,
}

/// A worker's (tp, pp, dp, ep).
type Shape = (u64, u64, u64, u64);

/// Worker shapes of up to one node (and whole nodes up to `max_gpus`) that
/// fit the model with room for one request: (tp, pp, dp, ep).
fn worker_shapes(base: &Scenario, max_gpus: u64) -> Vec<(u64, u64, u64, u64)> {
    let node = base.cluster.gpus_per_node.max(1);
    let moe = base.model.moe.is_some();
    let mut sizes = Vec::new();
    let mut n = 1;
    while n <= node.min(max_gpus) {
        sizes.push(n);
        n *= 2;
    }
    let mut out = Vec::new();
    for n in sizes {
        let mut shapes = vec![(n, 1, 1, if moe { n } else { 1 })];
        if moe && n > 1 {
            // DP attention with the experts spread over the worker.
            shapes.push((1, 1, n, n));
        }
        out.extend(shapes);
    }
    out
}

/// The worker scenario of a shape, if it is valid and fits one request.
fn worker_scenario(
    base: &Scenario,
    (tp, pp, dp, ep): (u64, u64, u64, u64),
) -> Option<(Scenario, MemoryPlan)> {
    let mut s = base.clone();
    let n = tp * pp * dp;
    let node = base.cluster.gpus_per_node.max(1);
    if n <= node {
        s.cluster.nodes = 1;
        s.cluster.gpus_per_node = n;
    } else if n % node == 0 {
        s.cluster.nodes = n / node;
    } else {
        return None;
    }
    s.deployment.tp = tp;
    s.deployment.pp = pp;
    s.deployment.dp = dp;
    s.deployment.ep = ep;
    s.workload.batch = 1;
    s.validate().ok()?;
    let mem = crate::memory::plan(&s);
    (mem.fits && mem.kv_cache_tokens > 0).then_some((s, mem))
}

/// Upper bound on the disaggregated deployments [`plan_disagg`] simulates
/// for a budget of `gpus` (no arithmetic beyond counting shapes).
pub fn plan_size(base: &Scenario, gpus: u64) -> u64 {
    let k = worker_shapes(base, gpus).len() as u64;
    let (mut pairs, smallest) = (0u64, 1u64);
    for p in 1..=MAX_PLAN_WORKERS {
        for d in 1..=MAX_PLAN_WORKERS {
            if (p + d) * smallest <= gpus {
                pairs += 1;
            }
        }
    }
    (k * k * pairs).min(MAX_PLAN_CANDIDATES as u64)
}

/// Most workers per pool the plan tries.
pub const MAX_PLAN_WORKERS: u64 = 8;
/// Most disaggregated deployments one plan simulates (largest GPU counts first).
pub const MAX_PLAN_CANDIDATES: usize = 64;
/// Pool runs one disaggregated simulation costs at most (fixed-point rounds
/// × two pools, the lone-request start, two capacity runs): the server's unit.
pub const RUNS_PER_SIMULATION: u64 = 12;

/// The disaggregated deployments of `base`'s model on at most `gpus` GPUs
/// (worker shapes of one node or less × prefill:decode worker counts), each
/// simulated on `w` and scored against `sla`; best first (meeting the SLA,
/// by tokens/s per GPU; then by closeness).
pub fn plan_disagg(
    base: &Scenario,
    gpus: u64,
    eff: &Efficiency,
    w: &ServingWorkload,
    sla: &super::plan::Sla,
) -> Result<Vec<DisaggCandidate>> {
    let data = LinkData::builtin()?;
    let shapes: Vec<(Shape, Scenario, MemoryPlan)> = worker_shapes(base, gpus)
        .into_iter()
        .filter_map(|sh| worker_scenario(base, sh).map(|(s, m)| (sh, s, m)))
        .collect();
    let mut todo = Vec::new();
    for (i, (ps, ..)) in shapes.iter().enumerate() {
        for (j, (ds, ..)) in shapes.iter().enumerate() {
            let (np, nd) = (ps.0 * ps.1 * ps.2, ds.0 * ds.1 * ds.2);
            for p in 1..=MAX_PLAN_WORKERS {
                for d in 1..=MAX_PLAN_WORKERS {
                    if p * np + d * nd <= gpus {
                        todo.push((p * np + d * nd, i, j, p, d));
                    }
                }
            }
        }
    }
    // Largest deployments first (they can meet the most), then the rest.
    todo.sort_by(|a, b| b.0.cmp(&a.0).then(a.3.cmp(&b.3)));
    todo.truncate(MAX_PLAN_CANDIDATES);
    let mut wk = w.clone();
    if wk.num_requests.is_none() {
        // A plan ranks many deployments: three requests per client.
        if let Arrival::Concurrency(c) = wk.arrival {
            wk.num_requests = Some((3 * c).clamp(100, 2000));
        }
    }
    let p = sla.percentile.as_str();
    let mut out = Vec::new();
    for (total, i, j, np, nd) in todo {
        if crate::deadline::passed() {
            break;
        }
        let (ps, s_p, m_p) = &shapes[i];
        let (ds, s_d, m_d) = &shapes[j];
        let link = KvLink::between(&base.cluster.gpu, base.cluster.gpus_per_node, total, &data);
        let overlap = data.overlap_of(&s_p.deployment.engine.name);
        let pool_p = Pool {
            scenario: s_p,
            memory: m_p,
            workers: np,
        };
        let pool_d = Pool {
            scenario: s_d,
            memory: m_d,
            workers: nd,
        };
        let Ok(r) = simulate_disagg_rounds(&pool_p, &pool_d, &link, overlap, eff, &wk, 4) else {
            continue;
        };
        let ratio = sla.ratio(&r.serving);
        let shape = |sh: &(u64, u64, u64, u64), n: u64| PoolShape {
            workers: n,
            tp: sh.0,
            pp: sh.1,
            dp: sh.2,
            ep: sh.3,
        };
        out.push(DisaggCandidate {
            prefill: shape(ps, np),
            decode: shape(ds, nd),
            gpus: total,
            ttft_ms: r.serving.ttft_ms.at(p).unwrap_or(0.0),
            tpot_ms: r.serving.tpot_ms.at(p).unwrap_or(0.0),
            output_tokens_per_second_per_gpu: r.serving.output_tokens_per_second_per_gpu,
            output_tokens_per_second_per_user: r.serving.output_tokens_per_second_per_user,
            requests_per_second: r.serving.requests_per_second,
            kv_transfer_ms: r.kv_transfer_ms,
            bottleneck: r.bottleneck,
            prefill_utilization: r.prefill_utilization,
            decode_utilization: r.decode_utilization,
            sla_ratio: ratio,
            meets_sla: ratio <= 1.0,
        });
    }
    out.sort_by(|a, b| {
        b.meets_sla.cmp(&a.meets_sla).then_with(|| {
            if a.meets_sla {
                b.output_tokens_per_second_per_gpu
                    .total_cmp(&a.output_tokens_per_second_per_gpu)
            } else {
                a.sla_ratio.total_cmp(&b.sla_ratio)
            }
        })
    });
    Ok(out)
}
