//! Serving-simulator benchmarks (issue 13 targets): one simulation of 1,000
//! requests at concurrency 256 with osl 1k (< 20 ms), and the SLA plan over
//! the whole DeepSeek-V3 space on 2×8×H800 (< 1 s).
//! Run: cargo bench --bench serving

#[allow(dead_code)] // this bench uses only `unconstrained`
mod scenarios;

use criterion::{criterion_group, criterion_main, Criterion};
use kvplan::memory;
use kvplan::perf::Efficiency;
use kvplan::plan::Pinned;
use kvplan::request::{resolve, EstimateRequest, Tokens};
use kvplan::serving::plan::{plan, Sla};
use kvplan::serving::{simulate, ServingWorkload};
use kvplan::spec::Catalog;
use std::hint::black_box;

fn scenario(model: &str, gpus: &str, ctx: u64) -> kvplan::scenario::Scenario {
    let c = Catalog::builtin().unwrap();
    let req = EstimateRequest {
        model: model.into(),
        gpus: gpus.into(),
        ctx: Some(Tokens::Number(ctx)),
        batch: Some(1),
        ..Default::default()
    };
    resolve(&req, &c, &|_| unreachable!()).unwrap().scenario
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
    c.bench_function(
        "serving SLA plan deepseek-v3 2x8xH800 isl8k osl1k c256",
        |b| b.iter(|| plan(black_box(&two), &cons, Pinned::default(), &eff, &w, &sla).unwrap()),
    );
}

criterion_group! {
    name = group;
    config = Criterion::default().sample_size(10);
    targets = benches
}
criterion_main!(group);
