//! One `estimate` or one `plan` search of the benchmark scenarios
//! (benches/estimate.rs), run once, for deterministic instruction counts:
//!
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!         target/release/examples/estimate_once estimate
//!
//! `none` resolves the scenarios only (the baseline to subtract);
//! `estimate` adds one estimate of DeepSeek-V3 at 100k on 8×H800;
//! `plan` adds the whole plan search for DeepSeek-V3 on 2×8×H800 at 32k.

#[path = "../benches/scenarios/mod.rs"]
mod scenarios;

use kvplan::estimate::estimate;
use kvplan::perf::Efficiency;
use kvplan::plan::{search, Objective};
use kvplan::spec::Catalog;
use std::hint::black_box;

fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "none".into());
    let c = Catalog::builtin().unwrap();
    let eff = Efficiency::default();
    let seed = scenarios::deepseek_v3(&c, "8xH800", 100_000);
    let two = scenarios::deepseek_v3(&c, "2x8xH800", 32_000);
    match what.as_str() {
        "none" => {}
        "estimate" => {
            black_box(estimate(black_box(&seed), &eff, 1.0).unwrap());
        }
        "plan" => {
            let cons = scenarios::unconstrained();
            black_box(search(black_box(&two), &cons, Objective::Throughput, &eff));
        }
        other => {
            eprintln!("usage: estimate_once none|estimate|plan (got '{other}')");
            std::process::exit(2);
        }
    }
}
