//! Serving-simulator benchmarks (issue 13 targets): one simulation of 1,000
//! requests at concurrency 256 with osl 1k (< 20 ms), and the SLA plan over
//! the whole DeepSeek-V3 space on 2×8×H800 (< 1 s).
//! Run: cargo bench --bench serving -- --warm-up-time 1 --measurement-time 3
//! (the plan runs on every core; the `(1 thread)` case is the single-core figure)

#[allow(dead_code)] // this bench uses `builtin` and `unconstrained`
mod scenarios;

use criterion::{criterion_group, criterion_main, Criterion};
use kvplan::memory;
use kvplan::perf::Efficiency;
use kvplan::plan::Pinned;
use kvplan::serving::plan::{plan, plan_on_threads, plan_stepwise, ServingPlan, Sla};
use kvplan::serving::{simulate, ServingWorkload};
use kvplan::spec::Catalog;
use std::hint::black_box;

fn scenario(model: &str, gpus: &str, ctx: u64) -> kvplan::scenario::Scenario {
    scenarios::builtin(&Catalog::builtin().unwrap(), model, gpus, ctx)
}

fn benches(c: &mut Criterion) {
    let eff = Efficiency::default();
    // 1,000 requests, concurrency 256, isl 1k / osl 1k: Llama-3.1-70B on 8×H100.
    let s = scenario("llama-3.1-70b", "8xH100", 2048);
    let mem = memory::plan(&s);
    let mut w = ServingWorkload::closed(1024, 1024, 256);
    w.num_requests = Some(1000);
    c.bench_function(
        "simulate 1000 requests c256 isl1k osl1k llama-3.1-70b 8xH100",
        |b| b.iter(|| simulate(black_box(&s), &mem, &eff, &w).unwrap()),
    );
    // The SLA plan over DeepSeek-V3's whole space on 2×8×H800.
    let two = scenario("deepseek-v3", "2x8xH800", 9216);
    let cons = scenarios::unconstrained();
    let mut w = ServingWorkload::closed(8192, 1024, 256);
    w.num_requests = Some(512);
    let sla = Sla {
        max_ttft_ms: Some(2000.0),
        max_tpot_ms: Some(50.0),
        percentile: "p90".into(),
    };
    // The fast paths (fast-forwarded decode runs, threads) must not change
    // the plan: the same candidates in the same order, the same verdicts.
    let key = |p: &ServingPlan| -> Vec<String> {
        p.candidates
            .iter()
            .map(|x| {
                format!(
                    "{} {} tp{} pp{} ep{} dp{} {} {} {}",
                    x.weights_dtype,
                    x.kv_dtype,
                    x.tp,
                    x.pp,
                    x.ep,
                    x.dp,
                    x.max_num_batched_tokens,
                    x.max_num_seqs,
                    x.meets_sla
                )
            })
            .collect()
    };
    let fast = plan(&two, &cons, Pinned::default(), &eff, &w, &sla).unwrap();
    let reference = plan_stepwise(&two, &cons, Pinned::default(), &eff, &w, &sla).unwrap();
    assert_eq!(
        key(&fast),
        key(&reference),
        "the fast plan ranks differently"
    );
    eprintln!(
        "plan: {} configurations simulated, {} meet the SLA; same ranking as the stepwise reference",
        fast.evaluated,
        fast.candidates.iter().filter(|x| x.meets_sla).count()
    );
    c.bench_function(
        "serving SLA plan deepseek-v3 2x8xH800 isl8k osl1k c256",
        |b| b.iter(|| plan(black_box(&two), &cons, Pinned::default(), &eff, &w, &sla).unwrap()),
    );
    // The same plan on one thread (the figure for a single core).
    c.bench_function(
        "serving SLA plan deepseek-v3 2x8xH800 isl8k osl1k c256 (1 thread)",
        |b| {
            b.iter(|| {
                plan_on_threads(black_box(&two), &cons, Pinned::default(), &eff, &w, &sla, 1)
                    .unwrap()
            })
        },
    );
}

criterion_group! {
    name = group;
    config = Criterion::default().sample_size(10);
    targets = benches
}
criterion_main!(group);
