//! Disaggregated serving in the operations: resolve each pool's worker
//! from the request (the `--gpus` GPU kind and node size, the pool's own
//! layout and batch), check that each fits, and run the disaggregated
//! simulator (`serving::disagg`).

use super::{resolve_admitted, Env};
use crate::error::{Error, Result};
use crate::estimate::Estimate;
use crate::perf::Efficiency;
use crate::report::MemoryReport;
use crate::request::{EstimateRequest, Resolved};
use crate::serving::disagg::{
    simulate_disagg, DisaggRequest, DisaggServing, KvLink, LinkData, Overlap, Pool, PoolRequest,
};
use crate::serving::ServingWorkload;
use serde::Serialize;

/// The two pools resolved and admitted, not yet estimated.
#[derive(Debug, Clone)]
pub struct DisaggPrepared {
    /// The request's pools.
    pub request: DisaggRequest,
    /// One prefill worker.
    pub prefill: Resolved,
    /// One decode worker.
    pub decode: Resolved,
    /// Efficiencies of each.
    pub efficiency: (Efficiency, Efficiency),
    /// The link between the pools.
    pub link: KvLink,
    /// How the prefill engine sends KV.
    pub overlap: Overlap,
}

/// One pool in the report: its layout, GPUs and memory per GPU.
#[derive(Debug, Clone, Serialize)]
pub struct PoolReport {
    /// Workers in the pool.
    pub workers: u64,
    /// Tensor parallel of a worker.
    pub tp: u64,
    /// Pipeline stages.
    pub pp: u64,
    /// Attention-DP ranks.
    pub dp: u64,
    /// Expert parallel.
    pub ep: u64,
    /// GPUs of one worker.
    pub gpus_per_worker: u64,
    /// GPUs of the pool.
    pub gpus: u64,
    /// Running-sequence cap per attention-DP rank.
    pub max_num_seqs: u64,
    /// Token budget per iteration.
    pub max_num_batched_tokens: u64,
    /// Whether one worker's memory plan fits its GPUs.
    pub fits: bool,
    /// KV pool of one worker, tokens.
    pub kv_cache_tokens_per_worker: u64,
    /// Memory of the worker's binding GPU.
    pub memory_per_gpu: MemoryReport,
}

/// The `disagg` object of the report.
#[derive(Debug, Clone, Serialize)]
pub struct DisaggReport {
    /// The prefill pool.
    pub prefill: PoolReport,
    /// The decode pool.
    pub decode: PoolReport,
    /// GPUs of both pools.
    pub total_gpus: u64,
    /// What the simulation found (serving figures are also the report's `serving`).
    #[serde(flatten)]
    pub result: DisaggServing,
}

/// Map an error of one pool's worker onto that pool's flags.
fn for_pool(e: Error, pool: &str) -> Error {
    match e {
        Error::Input { field, message } => {
            let f = field.json().to_string();
            let mapped = match f.as_str() {
                "tp" | "pp" | "dp" | "ep" | "batch" | "max_num_seqs" | "gpus" => {
                    let flag = match f.as_str() {
                        "batch" | "max_num_seqs" => "batch",
                        "gpus" => "tp",
                        x => x,
                    };
                    format!("{pool}-{flag}")
                }
                _ => return Error::Input { field, message },
            };
            Error::input(mapped, format!("{pool} worker: {message}"))
        }
        e => e,
    }
}

/// `--gpus` text for one worker of `n` GPUs of `gpu`, on nodes of `node`.
fn worker_gpus(gpu: &str, n: u64, node: u64, pool: &str) -> Result<String> {
    if n <= node.max(1) {
        Ok(format!("{n}x{gpu}"))
    } else if n % node == 0 {
        Ok(format!("{}x{node}x{gpu}", n / node))
    } else {
        Err(Error::input(
            format!("{pool}-tp"),
            format!(
                "a {pool} worker of {n} GPUs (tp × pp × dp) is not a whole number of {node}-GPU nodes; choose a layout of at most {node} GPUs or a multiple of {node}"
            ),
        ))
    }
}

fn check_pool(p: &PoolRequest, pool: &str) -> Result<()> {
    if p.workers == 0 {
        return Err(Error::input(
            format!("{pool}-workers"),
            format!(
                "a disaggregated deployment needs at least one {pool} worker (--{pool}-workers N)"
            ),
        ));
    }
    if p.workers > 1024 {
        return Err(Error::input(
            format!("{pool}-workers"),
            format!(
                "{} {pool} workers is beyond what kvplan simulates (≤ 1,024)",
                p.workers
            ),
        ));
    }
    for (flag, v) in [
        ("tp", p.tp),
        ("pp", p.pp),
        ("dp", p.dp),
        ("ep", p.ep),
        ("batch", p.batch),
    ] {
        if v == Some(0) {
            return Err(Error::input(
                format!("{pool}-{flag}"),
                "must be at least 1".to_string(),
            ));
        }
        if v.is_some_and(|x| x > 4096) {
            return Err(Error::input(
                format!("{pool}-{flag}"),
                "must be at most 4,096".to_string(),
            ));
        }
    }
    Ok(())
}

/// Resolve and admit both pools' workers for `req` (whose `--gpus` names
/// the GPU kind and node size); `serving` is required.
pub fn prepare(
    env: &Env<'_>,
    req: &EstimateRequest,
    d: &DisaggRequest,
    serving: Option<&ServingWorkload>,
) -> Result<DisaggPrepared> {
    if serving.is_none() {
        return Err(Error::input(
            "isl",
            "disaggregated serving is a serving simulation: give --isl and --osl (API: a \"serving\" object)",
        ));
    }
    for (flag, v) in [
        ("tp", req.tp),
        ("pp", req.pp),
        ("dp", req.dp),
        ("ep", req.ep),
    ] {
        if v.is_some() {
            return Err(Error::input(
                flag,
                format!("with --disagg each pool has its own layout: use --prefill-{flag} and --decode-{flag}"),
            ));
        }
    }
    check_pool(&d.prefill, "prefill")?;
    check_pool(&d.decode, "decode")?;
    let mut base = req.clone();
    base.batch = Some(1);
    let b = resolve_admitted(env, &base)?;
    let gpu = b.scenario.cluster.gpu.name.clone();
    let node = b.scenario.cluster.gpus_per_node.max(1);
    let side = |p: &PoolRequest, pool: &str| -> Result<(Resolved, Efficiency)> {
        let n = p.gpus_per_worker();
        let mut r = req.clone();
        r.gpus = worker_gpus(&gpu, n, node, pool)?;
        r.tp = Some(p.tp.unwrap_or(1));
        r.pp = Some(p.pp.unwrap_or(1));
        r.dp = Some(p.dp.unwrap_or(1));
        r.ep = Some(p.ep.unwrap_or(1));
        r.batch = Some(1);
        if p.batch.is_some() {
            r.max_num_seqs = p.batch;
        }
        let res = resolve_admitted(env, &r).map_err(|e| for_pool(e, pool))?;
        res.scenario.validate().map_err(|e| for_pool(e, pool))?;
        let eff = (env.efficiency)(&res.scenario)?;
        Ok((res, eff))
    };
    let (pr, pe) = side(&d.prefill, "prefill")?;
    let (mut dr, de) = side(&d.decode, "decode")?;
    if let Some(bsz) = d.decode.batch {
        dr.scenario.deployment.engine.max_num_seqs = bsz;
    }
    let mut pr = pr;
    if let Some(bsz) = d.prefill.batch {
        pr.scenario.deployment.engine.max_num_seqs = bsz;
    }
    let data = LinkData::builtin()?;
    let total = d.prefill.workers * d.prefill.gpus_per_worker()
        + d.decode.workers * d.decode.gpus_per_worker();
    let link = KvLink::between(&b.scenario.cluster.gpu, node, total, &data);
    let overlap = data.overlap_of(&pr.scenario.deployment.engine.name);
    Ok(DisaggPrepared {
        request: d.clone(),
        prefill: pr,
        decode: dr,
        efficiency: (pe, de),
        link,
        overlap,
    })
}

fn pool_report(p: &PoolRequest, est: &Estimate) -> PoolReport {
    let d = &est.scenario.deployment;
    let g = est.scenario.cluster.total_gpus();
    PoolReport {
        workers: p.workers,
        tp: d.tp,
        pp: d.pp,
        dp: d.dp,
        ep: d.ep,
        gpus_per_worker: g,
        gpus: g * p.workers,
        max_num_seqs: d.engine.max_num_seqs,
        max_num_batched_tokens: d.engine.max_num_batched_tokens,
        fits: est.memory.fits,
        kv_cache_tokens_per_worker: est.memory.kv_cache_tokens,
        memory_per_gpu: MemoryReport::of(&est.memory),
    }
}

/// Estimate both workers (each must fit), then simulate `w` on the
/// deployment; returns the decode worker's estimate (the report's body)
/// and the `disagg` section.
pub fn run(p: &DisaggPrepared, w: &ServingWorkload) -> Result<(Estimate, DisaggReport)> {
    let est = |r: &Resolved, eff: &Efficiency, pool: &str| -> Result<Estimate> {
        let e = crate::estimate::estimate(&r.scenario, eff, r.tokens_per_step)
            .map_err(|e| for_pool(e, pool))?;
        if !e.memory.fits || e.memory.kv_cache_tokens == 0 {
            let why = e.memory.verdict.join("; ");
            return Err(Error::input(
                format!("{pool}-tp"),
                format!(
                    "the {pool} worker (TP {} PP {} DP {} EP {} on {} GPUs) does not fit a request of {} tokens: {why}; give it more GPUs (--{pool}-tp/--{pool}-ep) or a smaller format",
                    r.scenario.deployment.tp,
                    r.scenario.deployment.pp,
                    r.scenario.deployment.dp,
                    r.scenario.deployment.ep,
                    r.scenario.cluster.total_gpus(),
                    r.scenario.workload.context
                ),
            ));
        }
        Ok(e)
    };
    let pe = est(&p.prefill, &p.efficiency.0, "prefill")?;
    let de = est(&p.decode, &p.efficiency.1, "decode")?;
    fn pool(e: &Estimate, n: u64) -> Pool<'_> {
        Pool {
            scenario: &e.scenario,
            memory: &e.memory,
            workers: n,
        }
    }
    let result = simulate_disagg(
        &pool(&pe, p.request.prefill.workers),
        &pool(&de, p.request.decode.workers),
        &p.link,
        p.overlap,
        &p.efficiency.1,
        w,
    )?;
    let report = DisaggReport {
        prefill: pool_report(&p.request.prefill, &pe),
        decode: pool_report(&p.request.decode, &de),
        total_gpus: result.prefill_gpus + result.decode_gpus,
        result,
    };
    Ok((de, report))
}

/// The report's JSON with the disaggregated fields: `serving` gains
/// `kv_transfer_ms`, `prefill_utilization`, `decode_utilization` and
/// `bottleneck`; `disagg` holds the pools and the rest.
pub fn merge_json(v: &mut serde_json::Value, d: &DisaggReport) {
    let Some(o) = v.as_object_mut() else {
        return;
    };
    if let Some(serde_json::Value::Object(s)) = o.get_mut("serving") {
        s.insert("kv_transfer_ms".into(), d.result.kv_transfer_ms.into());
        s.insert(
            "prefill_utilization".into(),
            d.result.prefill_utilization.into(),
        );
        s.insert(
            "decode_utilization".into(),
            d.result.decode_utilization.into(),
        );
        s.insert("bottleneck".into(), d.result.bottleneck.clone().into());
    }
    let mut dj = serde_json::to_value(d).unwrap_or_default();
    if let Some(m) = dj.as_object_mut() {
        // The serving figures are the report's `serving`; not twice.
        m.remove("serving");
    }
    o.insert("disagg".into(), dj);
}

/// The disaggregated half of a serving plan, side by side with the best
/// aggregated deployment (`disagg` in the plan's JSON).
#[derive(Debug, Clone, Serialize)]
pub struct DisaggPlan {
    /// Disaggregated deployments simulated.
    pub evaluated: usize,
    /// Best first (those meeting the SLA by tokens/s per GPU).
    pub candidates: Vec<crate::serving::disagg::DisaggCandidate>,
    /// The aggregated plan's best.
    pub best_aggregated: Option<crate::serving::plan::ServingCandidate>,
    /// The best disaggregated deployment.
    pub best_disaggregated: Option<crate::serving::disagg::DisaggCandidate>,
    /// Disaggregated − aggregated output tokens/s per GPU, both meeting the SLA.
    pub gain_tokens_per_second_per_gpu: Option<f64>,
    /// The same as a fraction of the aggregated figure.
    pub gain_fraction: Option<f64>,
    /// Which wins at the SLA and why, in one or two sentences.
    pub verdict: String,
}

/// Search disaggregated deployments for the plan's GPU budget and compare
/// the best with the aggregated plan's best.
pub fn plan(
    base: &crate::scenario::Scenario,
    eff: &Efficiency,
    w: &ServingWorkload,
    sla: &crate::serving::plan::Sla,
    agg: &crate::serving::plan::ServingPlan,
) -> Result<DisaggPlan> {
    let gpus = base.cluster.total_gpus();
    // The same formats as the aggregated plan's best, so the two compare
    // deployments, not quantizations.
    let mut b = base.clone();
    if let Some(a) = agg.candidates.first() {
        b.deployment.weights = a.weights_dtype;
        b.deployment.kv_dtype = a.kv_dtype;
    }
    let cands = crate::serving::disagg::plan_disagg(&b, gpus, eff, w, sla)?;
    let best_d = cands.first().cloned();
    let best_a = agg.candidates.first().cloned();
    let p = &sla.percentile;
    let (gain, frac, verdict) = match (&best_a, &best_d) {
        (_, None) => (
            None,
            None,
            format!("no disaggregated deployment fits {gpus} GPUs (each pool needs at least one worker that holds the model)"),
        ),
        (None, Some(_)) => (None, None, "only disaggregated deployments were simulated".into()),
        (Some(a), Some(d)) => {
            let (ga, gd) = (a.output_tokens_per_second_per_gpu, d.output_tokens_per_second_per_gpu);
            let numbers = format!(
                "aggregated TP {} EP {} DP {} on {} GPUs: {p} TTFT {:.0} ms, TPOT {:.1} ms, {ga:.0} tok/s/GPU; disaggregated {}×(TP {} DP {} EP {}) prefill + {}×(TP {} DP {} EP {}) decode on {} GPUs: {p} TTFT {:.0} ms (KV transfer {:.1} ms), TPOT {:.1} ms, {gd:.0} tok/s/GPU, {} pool the bottleneck (prefill {:.0}% busy, decode batch {:.0}% full)",
                a.tp, a.ep, a.dp, a.gpus, a.ttft_ms, a.tpot_ms,
                d.prefill.workers, d.prefill.tp, d.prefill.dp, d.prefill.ep,
                d.decode.workers, d.decode.tp, d.decode.dp, d.decode.ep,
                d.gpus, d.ttft_ms, d.kv_transfer_ms, d.tpot_ms, d.bottleneck,
                d.prefill_utilization * 100.0, d.decode_utilization * 100.0
            );
            match (a.meets_sla, d.meets_sla) {
                (true, true) => {
                    let g = gd - ga;
                    let why = if g > 0.0 {
                        "disaggregated wins: its decode iterations carry no prompt chunks, so TPOT stays low at a larger decode batch, and prefill runs at full batch on its own GPUs"
                    } else {
                        "aggregated wins: at this load the split pools cannot both be kept busy (one waits on the other), while one aggregated deployment uses all its GPUs for both phases"
                    };
                    (
                        Some(g),
                        Some(g / ga.max(1e-12)),
                        format!("{why} ({:+.0}% tokens/s per GPU at the SLA). {numbers}", 100.0 * g / ga.max(1e-12)),
                    )
                }
                (true, false) => (None, None, format!("only aggregated serving meets the SLA. {numbers}")),
                (false, true) => (None, None, format!("only disaggregated serving meets the SLA. {numbers}")),
                (false, false) => (None, None, format!("neither meets the SLA. {numbers}")),
            }
        }
    };
    Ok(DisaggPlan {
        evaluated: cands.len(),
        candidates: cands,
        best_aggregated: best_a,
        best_disaggregated: best_d,
        gain_tokens_per_second_per_gpu: gain,
        gain_fraction: frac,
        verdict,
    })
}

/// The disaggregated half of a plan as text.
pub fn plan_text(d: &DisaggPlan, top: usize) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nDisaggregated deployments ({} simulated), best first:",
        d.evaluated
    );
    for c in d.candidates.iter().take(top) {
        let _ = writeln!(
            o,
            "  {}P×(TP{} DP{} EP{}) + {}D×(TP{} DP{} EP{}) on {:>3} GPUs: TTFT {:>7.0} ms  TPOT {:>6.1} ms  {:>7.0} tok/s/GPU  {:>5.1} tok/s/user  bottleneck {}{}",
            c.prefill.workers, c.prefill.tp, c.prefill.dp, c.prefill.ep,
            c.decode.workers, c.decode.tp, c.decode.dp, c.decode.ep,
            c.gpus, c.ttft_ms, c.tpot_ms, c.output_tokens_per_second_per_gpu,
            c.output_tokens_per_second_per_user, c.bottleneck,
            if c.meets_sla { "  meets SLA" } else { "" }
        );
    }
    let _ = writeln!(o, "Aggregated vs disaggregated: {}", d.verdict);
    o
}
