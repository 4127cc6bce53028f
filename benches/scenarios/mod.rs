//! The benchmark scenarios, shared by benches/estimate.rs (criterion timings)
//! and examples/estimate_once.rs (instruction counts), so both measure the
//! same work.

use kvplan::plan::Constraints;
use kvplan::request::{resolve, EstimateRequest, Tokens};
use kvplan::scenario::Scenario;
use kvplan::spec::Catalog;

/// DeepSeek-V3 from the built-in catalogue on `gpus` at `ctx_tokens`, batch 1
/// (the seed case is `8xH800` at 100k; the plan search uses `2x8xH800` at 32k).
pub fn deepseek_v3(catalog: &Catalog, gpus: &str, ctx_tokens: u64) -> Scenario {
    builtin(catalog, "deepseek-v3", gpus, ctx_tokens)
}

/// A built-in `model` on `gpus` at `ctx_tokens`, batch 1: the one way every
/// benchmark builds its scenario.
pub fn builtin(catalog: &Catalog, model: &str, gpus: &str, ctx_tokens: u64) -> Scenario {
    let req = EstimateRequest {
        model: model.into(),
        gpus: gpus.into(),
        ctx: Some(Tokens::Number(ctx_tokens)),
        batch: Some(1),
        ..Default::default()
    };
    resolve(&req, catalog, &|_| unreachable!("built-in model"))
        .expect("built-in scenario resolves")
        .scenario
}

/// No user limits: the plan search's whole space.
pub fn unconstrained() -> Constraints {
    Constraints {
        batch: None,
        max_tpot_seconds: None,
        max_ttft_seconds: None,
        weights: vec![],
        kv_dtypes: vec![],
        gpu_price_per_hour: None,
    }
}
