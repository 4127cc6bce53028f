//! The SLA plan's fast paths must not change its answer. `plan` simulates
//! with fast-forwarded decode runs, a memoised iteration cost, no ITL
//! percentiles and several threads; `plan_stepwise` costs every iteration
//! one by one on one thread. On a small space (Llama-3.1-8B on 2×H100,
//! bf16 and fp8) both must list the same candidates in the same order with
//! the same verdicts and figures (to rounding), for a closed loop and for a
//! request rate (where the plan also doubles the copies until one keeps up),
//! and every thread count must give the identical plan.

use kvplan::perf::Efficiency;
use kvplan::plan::{Constraints, Pinned};
use kvplan::request::{resolve, EstimateRequest, Tokens};
use kvplan::scenario::Scenario;
use kvplan::serving::plan::{plan_on_threads, plan_stepwise, ServingCandidate, ServingPlan, Sla};
use kvplan::serving::{Arrival, ServingWorkload};
use kvplan::spec::dtype::WeightFormat;
use kvplan::spec::Catalog;

fn scenario() -> Scenario {
    let req = EstimateRequest {
        model: "llama-3.1-8b".into(),
        gpus: "2xH100".into(),
        ctx: Some(Tokens::Number(4096)),
        batch: Some(1),
        ..Default::default()
    };
    resolve(&req, &Catalog::builtin().unwrap(), &|_| unreachable!())
        .unwrap()
        .scenario
}

fn constraints() -> Constraints {
    Constraints {
        batch: None,
        max_tpot_seconds: None,
        max_ttft_seconds: None,
        weights: vec![WeightFormat::Bf16, WeightFormat::Fp8],
        kv_dtypes: vec![],
        gpu_price_per_hour: None,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12)
}

/// Everything but the floats, and the floats to rounding.
fn same_candidate(a: &ServingCandidate, b: &ServingCandidate) -> Result<(), String> {
    let key = |x: &ServingCandidate| {
        (
            x.weights_dtype,
            x.kv_dtype,
            (x.tp, x.pp, x.ep, x.dp, x.gpus),
            (x.max_num_batched_tokens, x.max_num_seqs),
            (x.preemptions, x.meets_sla, x.pareto, x.copies, x.total_gpus),
        )
    };
    if key(a) != key(b) {
        return Err(format!("{:?} vs {:?}", key(a), key(b)));
    }
    for (name, x, y) in [
        ("ttft_ms", a.ttft_ms, b.ttft_ms),
        ("tpot_ms", a.tpot_ms, b.tpot_ms),
        (
            "tokens/s per GPU",
            a.output_tokens_per_second_per_gpu,
            b.output_tokens_per_second_per_gpu,
        ),
        (
            "tokens/s per user",
            a.output_tokens_per_second_per_user,
            b.output_tokens_per_second_per_user,
        ),
        ("requests/s", a.requests_per_second, b.requests_per_second),
        ("sla_ratio", a.sla_ratio, b.sla_ratio),
    ] {
        if !close(x, y) {
            return Err(format!("{:?}: {name} {x} vs {y}", key(a)));
        }
    }
    Ok(())
}

fn check(fast: &ServingPlan, reference: &ServingPlan) {
    assert_eq!(fast.evaluated, reference.evaluated, "evaluated");
    assert_eq!(fast.any_meets, reference.any_meets, "any_meets");
    assert_eq!(fast.candidates.len(), reference.candidates.len());
    for (i, (a, b)) in fast
        .candidates
        .iter()
        .zip(&reference.candidates)
        .enumerate()
    {
        if let Err(e) = same_candidate(a, b) {
            panic!("candidate {i} differs: {e}");
        }
    }
    assert_eq!(fast.pareto.len(), reference.pareto.len(), "Pareto front");
    for (a, b) in fast.pareto.iter().zip(&reference.pareto) {
        if let Err(e) = same_candidate(a, b) {
            panic!("Pareto front differs: {e}");
        }
    }
    assert_eq!(fast.nearest, reference.nearest);
}

fn plans(w: &ServingWorkload, sla: &Sla) -> (ServingPlan, ServingPlan, ServingPlan) {
    let s = scenario();
    let eff = Efficiency::default();
    let c = constraints();
    let pin = Pinned::default;
    let one = plan_on_threads(&s, &c, pin(), &eff, w, sla, 1).unwrap();
    let three = plan_on_threads(&s, &c, pin(), &eff, w, sla, 3).unwrap();
    let reference = plan_stepwise(&s, &c, pin(), &eff, w, sla).unwrap();
    (one, three, reference)
}

#[test]
fn closed_loop_plan_matches_the_stepwise_reference() {
    let mut w = ServingWorkload::closed(2048, 256, 32);
    w.num_requests = Some(96);
    let sla = Sla {
        max_ttft_ms: Some(800.0),
        max_tpot_ms: Some(10.0),
        percentile: "p90".into(),
    };
    let (one, three, reference) = plans(&w, &sla);
    // A meaningful check: several layouts and knobs, some meeting the SLA
    // and some not.
    assert!(reference.evaluated >= 12, "{}", reference.evaluated);
    let meets = reference.candidates.iter().filter(|x| x.meets_sla).count();
    assert!(
        meets > 0 && meets < reference.candidates.len(),
        "{meets} of {} meet",
        reference.candidates.len()
    );
    check(&one, &reference);
    assert_eq!(one, three, "the thread count changed the plan");
}

#[test]
fn request_rate_plan_matches_the_stepwise_reference() {
    let mut w = ServingWorkload::closed(2048, 256, 1);
    w.arrival = Arrival::Rate {
        per_second: 12.0,
        burstiness: 1.0,
        max_concurrency: None,
    };
    w.num_requests = Some(120);
    let sla = Sla {
        max_ttft_ms: Some(400.0),
        max_tpot_ms: Some(20.0),
        percentile: "p90".into(),
    };
    let (one, three, reference) = plans(&w, &sla);
    assert!(reference.evaluated >= 12, "{}", reference.evaluated);
    // Some deployment needs more than one copy to keep up at this rate.
    assert!(
        reference.candidates.iter().any(|x| x.copies > 1),
        "no candidate needed a second copy"
    );
    check(&one, &reference);
    assert_eq!(one, three, "the thread count changed the plan");
}

#[test]
fn a_plan_that_nothing_meets_gives_the_same_advice() {
    // TTFT under 1 ms is out of reach: the plan explains what comes nearest.
    let mut w = ServingWorkload::closed(2048, 256, 32);
    w.num_requests = Some(96);
    let sla = Sla {
        max_ttft_ms: Some(1.0),
        max_tpot_ms: None,
        percentile: "p50".into(),
    };
    let (one, three, reference) = plans(&w, &sla);
    assert!(!reference.any_meets);
    assert!(reference.nearest.is_some());
    check(&one, &reference);
    assert_eq!(one, three, "the thread count changed the plan");
}
