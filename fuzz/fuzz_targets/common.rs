// Shared by the fuzz targets: run a model end to end and check the numbers.

use kvplan::estimate::estimate;
use kvplan::perf::Efficiency;
use kvplan::report::{table, Report};
use kvplan::request::{resolve, EstimateRequest, Tokens};
use kvplan::spec::model::ModelSpec;
use kvplan::spec::Catalog;
use std::sync::OnceLock;

/// The built-in catalogue, parsed once per process.
pub fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| Catalog::builtin().expect("built-in catalogue"))
}

/// Estimate `model` on `gpus` at `ctx` × `batch` (as `kvplan estimate`),
/// render it, and assert what must hold for any accepted input: finite,
/// non-negative speed figures; memory parts that add up.
pub fn run_model(model: &ModelSpec, gpus: &str, ctx: u64, batch: u64, mtp: bool) {
    let req = EstimateRequest {
        model: "fuzz.json".into(),
        gpus: gpus.into(),
        ctx: Some(Tokens::Number(ctx)),
        batch: Some(batch),
        mtp: Some(mtp),
        ..Default::default()
    };
    let load = |_: &str| Ok(model.clone());
    let Ok(r) = resolve(&req, catalog(), &load) else {
        return;
    };
    check(&r.scenario, r.tokens_per_step);
}

/// Run the core on a resolved scenario and check the report.
pub fn check(s: &kvplan::scenario::Scenario, tokens_per_step: f64) {
    let eff = Efficiency::default();
    let Ok(e) = estimate(s, &eff, tokens_per_step) else {
        return;
    };
    let rep = Report::new(&e, vec![]);
    let p = &rep.performance;
    for (name, v) in [
        ("decode_step_seconds", p.decode_step_seconds),
        ("decode_tokens_per_second", p.decode_tokens_per_second),
        ("prefill_seconds", p.prefill_seconds),
        ("ttft_seconds", p.ttft_seconds),
        ("decode_bytes_read", p.decode_bytes_read),
        ("decode_flops", p.decode_flops),
    ] {
        assert!(v.is_finite() && v >= 0.0, "{name} = {v}");
    }
    let m = &rep.memory_per_gpu;
    assert_eq!(
        m.total_bytes,
        m.weights_bytes + m.kv_cache_bytes + m.activation_bytes + m.overhead_bytes
    );
    assert!(m.kv_budget_bytes == 0 || m.kv_shortfall_bytes == 0);
    let _ = table::render_text(&rep);
    let _ = serde_json::to_string(&rep).expect("report serialises");
}
