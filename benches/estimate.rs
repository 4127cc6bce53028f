//! In-process benchmarks: one `estimate` of the seed case (with and without
//! recommendations) and the whole `plan` search for DeepSeek-V3 on 2×8×H800.
//! Run: cargo bench --bench estimate

mod scenarios;

use criterion::{criterion_group, criterion_main, Criterion};
use kvplan::estimate::estimate;
use kvplan::perf::Efficiency;
use kvplan::plan::{recommend, search, Objective};
use kvplan::spec::Catalog;
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let catalog = Catalog::builtin().unwrap();
    let eff = Efficiency::default();
    let seed = scenarios::deepseek_v3(&catalog, "8xH800", 100_000);
    c.bench_function("estimate deepseek-v3 100k 8xH800 (core)", |b| {
        b.iter(|| estimate(black_box(&seed), &eff, 1.0).unwrap())
    });
    c.bench_function(
        "estimate deepseek-v3 100k 8xH800 (+ recommendations)",
        |b| {
            b.iter(|| {
                let e = estimate(black_box(&seed), &eff, 1.0).unwrap();
                recommend(&e, &eff)
            })
        },
    );
    let two = scenarios::deepseek_v3(&catalog, "2x8xH800", 32_000);
    let cons = scenarios::unconstrained();
    c.bench_function("plan deepseek-v3 2x8xH800 whole search", |b| {
        b.iter(|| search(black_box(&two), &cons, Objective::Throughput, &eff))
    });
}

criterion_group! {
    name = group;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(group);
