//! Disaggregated serving benchmarks (issue 14 target): the SLA plan
//! including disaggregated candidates (worker shapes × prefill:decode
//! ratios, each simulated) for DeepSeek-V3 on 4×8×H200 (< 2 s), and one
//! disaggregated simulation.
//! Run: cargo bench --bench disagg

#[allow(dead_code)] // this bench uses `builtin` and `unconstrained`
mod scenarios;

use criterion::{criterion_group, criterion_main, Criterion};
use kvplan::perf::Efficiency;
use kvplan::plan::Pinned;
use kvplan::serving::disagg::plan_disagg;
use kvplan::serving::plan::{plan, Sla};
use kvplan::serving::ServingWorkload;
use kvplan::spec::Catalog;
use std::hint::black_box;

fn scenario(model: &str, gpus: &str, ctx: u64) -> kvplan::scenario::Scenario {
    scenarios::builtin(&Catalog::builtin().unwrap(), model, gpus, ctx)
}

fn benches(c: &mut Criterion) {
    let eff = Efficiency::default();
    let s = scenario("deepseek-v3", "4x8xH200", 9216);
    let cons = scenarios::unconstrained();
    let w = ServingWorkload::closed(8192, 1024, 256);
    let sla = Sla {
        max_ttft_ms: Some(2000.0),
        max_tpot_ms: Some(50.0),
        percentile: "p90".into(),
    };
    // What `kvplan plan … --isl 8k --osl 1k --concurrency 256` runs: the
    // aggregated SLA plan, then the disaggregated search of the same budget.
    c.bench_function(
        "SLA plan incl. disaggregated deepseek-v3 4x8xH200 isl8k osl1k c256",
        |b| {
            b.iter(|| {
                let mut wa = w.clone();
                wa.num_requests = Some(512);
                let agg = plan(black_box(&s), &cons, Pinned::default(), &eff, &wa, &sla).unwrap();
                let dis = plan_disagg(black_box(&s), 32, &eff, &w, &sla).unwrap();
                (agg, dis)
            })
        },
    );
    c.bench_function(
        "disaggregated candidates only deepseek-v3 4x8xH200 isl8k osl1k c256",
        |b| b.iter(|| plan_disagg(black_box(&s), 32, &eff, &w, &sla).unwrap()),
    );
}

criterion_group! {
    name = group;
    config = Criterion::default().sample_size(10);
    targets = benches
}
criterion_main!(group);
