//! The serving simulator against hand-derived expectations.
//!
//! Two kinds of check: (1) the replica scheduler alone with a synthetic cost
//! of exactly 1 ms per iteration, where every timestamp follows by counting
//! iterations (derivations written out below); (2) the whole simulator on a
//! real model, against rooflines derived here from the config's dimensions
//! and the H100 datasheet (as tests/speed.rs does), and against queueing laws.

use kvplan::memory;
use kvplan::perf::{BatchComposition, Bound, Efficiency, IterationCost};
use kvplan::request::{resolve, EstimateRequest, Tokens};
use kvplan::scenario::Scenario;
use kvplan::serving::replica::{run_replica, Arrivals, ReplicaConfig, RequestSpec};
use kvplan::serving::{simulate, simulate_stepwise, Arrival, ServingWorkload};
use kvplan::spec::dtype::WeightFormat;
use kvplan::spec::engine_id::EngineId;
use kvplan::spec::scheduler::{BatchPolicy, KvAdmission, Preemption, SchedulerSpec};
use kvplan::spec::Catalog;

const MS: f64 = 1e-3;

fn flat_cost(_: &BatchComposition) -> IterationCost {
    IterationCost {
        bytes_read: 0.0,
        weight_bytes_read: 0.0,
        kv_bytes_read: 0.0,
        flops: 0.0,
        memory_seconds: MS,
        compute_seconds: 0.0,
        communication_seconds: 0.0,
        overhead_seconds: 0.0,
        kv_extra_seconds: 0.0,
        seconds: MS,
        bound: Bound::Memory,
        experts_touched_per_layer: 0.0,
    }
}

fn config(admission: KvAdmission, preemption: Preemption, pool: u64) -> ReplicaConfig {
    let mut sched = SchedulerSpec::generic();
    sched.kv_admission = admission;
    sched.preemption = preemption;
    ReplicaConfig {
        sched,
        max_num_batched_tokens: 8192,
        max_num_seqs: 256,
        chunked_prefill: true,
        kv_capacity_tokens: pool,
        block_size: 1,
        window: u64::MAX,
        lockstep_replicas: 1.0,
        max_iterations: 1_000_000,
        decode_tokens_per_step: 1.0,
        decode_budget_tokens: 1.0,
    }
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    ((a - b) / b).abs() <= rel
}

#[test]
fn replica_one_request_counts_iterations() {
    // isl 3000 with a 1024-token budget: chunks 1024, 1024, 952 (iterations 0–2);
    // the third ends at 3 ms with the first token; tokens 2..10 take one
    // decode iteration each: the last ends at 12 ms.
    let mut cfg = config(KvAdmission::OnDemand, Preemption::Recompute, 100_000);
    cfg.max_num_batched_tokens = 1024;
    let reqs = [RequestSpec {
        prompt: 3000,
        output: 10,
        cached: 0,
    }];
    let run = run_replica(&cfg, &reqs, &Arrivals::Closed { concurrency: 1 }, flat_cost).unwrap();
    let r = run.records[0];
    assert!((r.first_token - 3.0 * MS).abs() < 1e-12);
    assert!((r.finish - 12.0 * MS).abs() < 1e-12);
    assert_eq!(run.iterations, 12);
    assert_eq!(run.prefill_iterations, 3);
}

/// 1 ms per iteration plus 1 ms per 1,000 prompt tokens in it: a burst of
/// prompts costs more the more of them share an iteration.
fn prefill_priced_cost(b: &BatchComposition) -> IterationCost {
    let s = MS * (1.0 + b.prefill_tokens / 1000.0);
    IterationCost {
        memory_seconds: s,
        seconds: s,
        ..flat_cost(b)
    }
}

#[test]
fn a_token_budget_of_one_prompt_spreads_a_closed_loops_burst() {
    // Two clients, six requests of 1,000 prompt and 3 output tokens, no
    // chunked prefill, cost 1 ms + 1 ms per 1,000 prompt tokens.
    let reqs = [RequestSpec {
        prompt: 1000,
        output: 3,
        cached: 0,
    }; 6];
    let ttfts = |budget: u64| -> Vec<f64> {
        let mut cfg = config(KvAdmission::OnDemand, Preemption::Recompute, 100_000);
        cfg.chunked_prefill = false;
        cfg.max_num_batched_tokens = budget;
        let run = run_replica(
            &cfg,
            &reqs,
            &Arrivals::Closed { concurrency: 2 },
            prefill_priced_cost,
        )
        .unwrap();
        let mut t: Vec<(usize, f64)> = run
            .records
            .iter()
            .map(|r| (r.index, (r.first_token - r.arrival) / MS))
            .collect();
        t.sort_by_key(|x| x.0);
        t.into_iter().map(|x| x.1).collect()
    };
    // Budget 8192 holds both prompts: every wave is one 3 ms iteration of
    // 2,000 prompt tokens, then 2 decode iterations; both requests finish
    // together and the next two arrive together — lockstep, TTFT 3 ms each.
    for t in ttfts(8192) {
        assert!((t - 3.0).abs() < 1e-9, "{t}");
    }
    // Budget 1001 (one prompt beside a decode): A prefills alone 0–2 ms;
    // B's prompt joins A's first decode 2–4 ms (TTFT 4); a decode 4–5 ms ends
    // A, whose client sends C at 5; C's prefill rides B's last decode 5–7
    // (TTFT 2), D (sent at 7) rides C's decode 7–9 (TTFT 2), a decode 9–10
    // ends C; E rides D's last decode 10–12, F rides E's 12–14 (TTFT 2 each).
    // After the first wave no two prompts share an iteration.
    let spread = ttfts(1001);
    let by_hand = [2.0, 4.0, 2.0, 2.0, 2.0, 2.0];
    for (t, h) in spread.iter().zip(by_hand) {
        assert!((t - h).abs() < 1e-9, "{spread:?} vs {by_hand:?}");
    }
}

#[test]
fn replica_preempts_the_latest_request_when_kv_runs_out() {
    // Pool 3000 tokens, two requests of isl 1000 / osl 1000, block 1.
    // Iteration 0 prefills both (2000 ≤ 8192 budget): first tokens at 1 ms.
    // Before decode iteration k each holds 1000 + k − 1 tokens and needs one
    // more: 2·(1000 + k) ≤ 3000 holds up to k = 500. At k = 501 the pool is
    // full, so the later request B (501 tokens generated) is preempted.
    // A decodes alone to token 1000 at iteration 999 (ends at 1000 ms); B
    // cannot re-enter before (1500 + 1501 > 3000). Iteration 1000 re-prefills
    // B's 1501 tokens and yields token 502; iterations 1001–1498 yield 503–1000:
    // B ends at 1499 ms.
    let cfg = config(KvAdmission::OnDemand, Preemption::Recompute, 3000);
    let reqs = [RequestSpec {
        prompt: 1000,
        output: 1000,
        cached: 0,
    }; 2];
    let run = run_replica(&cfg, &reqs, &Arrivals::Closed { concurrency: 2 }, flat_cost).unwrap();
    assert_eq!(run.preemptions, 1);
    assert_eq!(run.records.len(), 2);
    let (a, b) = (run.records[0], run.records[1]);
    assert!((a.first_token - MS).abs() < 1e-12 && (b.first_token - MS).abs() < 1e-12);
    assert!((a.finish - 1000.0 * MS).abs() < 1e-9, "{}", a.finish);
    assert!((b.finish - 1499.0 * MS).abs() < 1e-9, "{}", b.finish);
    assert_eq!((a.preemptions, b.preemptions), (0, 1));
    assert_eq!(run.iterations, 1499);
    assert!(run.peak_kv_tokens <= 3000.0);
    // B's gap between token 501 (501 ms) and token 502 (1001 ms) is one ITL sample.
    assert!(run
        .itl
        .iter()
        .any(|&(dt, n)| n == 1.0 && (dt - 500.0 * MS).abs() < 1e-9));
}

#[test]
fn replica_reserving_the_whole_output_queues_instead() {
    // TensorRT-LLM GUARANTEED_NO_EVICT with the same pool: admitting a request
    // reserves 1000 + 1000 tokens, so B waits for A. A: prefill at iteration 0,
    // decodes 1–999, done at 1000 ms. B: prefill at iteration 1000 (first token
    // at 1001 ms), decodes to 2000 ms. Nothing is preempted.
    let cfg = config(KvAdmission::ReserveFullOutput, Preemption::None, 3000);
    let reqs = [RequestSpec {
        prompt: 1000,
        output: 1000,
        cached: 0,
    }; 2];
    let run = run_replica(&cfg, &reqs, &Arrivals::Closed { concurrency: 2 }, flat_cost).unwrap();
    assert_eq!(run.preemptions, 0);
    let (a, b) = (run.records[0], run.records[1]);
    assert!((a.finish - 1000.0 * MS).abs() < 1e-9);
    assert!((b.first_token - 1001.0 * MS).abs() < 1e-9);
    assert!((b.finish - 2000.0 * MS).abs() < 1e-9);
    assert!(run.kv_blocked_iterations >= 1000);
}

#[test]
fn replica_attention_dp_balance_holds_a_lone_context_request() {
    // TensorRT-LLM attention-DP balancing (py_executor.py
    // `_balance_adp_requests`, timeout 60 iterations, no batching wait) on a
    // replica standing for 8 lockstep DP ranks. A (isl 100, osl 200) arrives
    // alone at 0 with nothing decoding: released at once, prefilled in
    // iteration 0, first token at 1 ms. B (isl 100, osl 2) arrives at 10.5 ms
    // and waits from the batch formed at 11 ms; one request waiting is fewer
    // than H(8) = 1 + 1/2 + … + 1/8 = 2.72 (not every rank has one) while A
    // decodes, so B is held: the counter reaches 60 at the 60th formation
    // (11 + 59 = 70 ms), B prefills in 70–71 ms: first token at 71 ms
    // (TTFT 60.5 ms), its second at 72 ms. Without DP ranks B's first token
    // comes at 12 ms.
    let mut cfg = config(KvAdmission::OnDemand, Preemption::Recompute, 100_000);
    cfg.lockstep_replicas = 8.0;
    cfg.sched.adp_balance = Some(kvplan::spec::scheduler::AdpBalance {
        timeout_iterations: 60,
        batching_wait_iterations: 0,
    });
    let reqs = [
        RequestSpec {
            prompt: 100,
            output: 200,
            cached: 0,
        },
        RequestSpec {
            prompt: 100,
            output: 2,
            cached: 0,
        },
    ];
    let arrivals = Arrivals::Open {
        times: vec![0.0, 10.5 * MS],
        max_concurrency: None,
    };
    let run = run_replica(&cfg, &reqs, &arrivals, flat_cost).unwrap();
    let a = run.records.iter().find(|r| r.output == 200).unwrap();
    let b = run.records.iter().find(|r| r.output == 2).unwrap();
    assert!((a.first_token - MS).abs() < 1e-9, "{}", a.first_token);
    assert!(
        (b.first_token - 71.0 * MS).abs() < 1e-9,
        "{}",
        b.first_token
    );
    assert!((b.finish - 72.0 * MS).abs() < 1e-9, "{}", b.finish);
    cfg.lockstep_replicas = 1.0;
    let run = run_replica(&cfg, &reqs, &arrivals, flat_cost).unwrap();
    let b = run.records.iter().find(|r| r.output == 2).unwrap();
    assert!(
        (b.first_token - 12.0 * MS).abs() < 1e-9,
        "{}",
        b.first_token
    );
}

#[test]
fn replica_prefill_first_stalls_decodes() {
    // SGLang-style: request A (isl 100, osl 5) alone, then, in the open loop,
    // B (isl 3000) arrives at 1.5 ms with a 1024-token chunk budget. A prefills
    // at iteration 0 (token 1 at 1 ms) and decodes at iteration 1 (token 2 at
    // 2 ms). From 2 ms B's three chunks run alone (2–5 ms), A waiting; then
    // both decode: A's tokens 3, 4, 5 at 6, 7, 8 ms.
    let mut cfg = config(KvAdmission::OnDemand, Preemption::Recompute, 100_000);
    cfg.max_num_batched_tokens = 1024;
    cfg.sched.batch_policy = BatchPolicy::PrefillFirst;
    cfg.sched.max_partial_prefills = 1;
    let reqs = [
        RequestSpec {
            prompt: 100,
            output: 5,
            cached: 0,
        },
        RequestSpec {
            prompt: 3000,
            output: 2,
            cached: 0,
        },
    ];
    let arrivals = Arrivals::Open {
        times: vec![0.0, 1.5 * MS],
        max_concurrency: None,
    };
    let run = run_replica(&cfg, &reqs, &arrivals, flat_cost).unwrap();
    let a = run.records.iter().find(|r| r.prompt == 100).unwrap();
    let b = run.records.iter().find(|r| r.prompt == 3000).unwrap();
    assert!((a.finish - 8.0 * MS).abs() < 1e-9, "{}", a.finish);
    // B: first token at 5 ms (TTFT 3.5 ms), second at 6 ms.
    assert!((b.first_token - 5.0 * MS).abs() < 1e-9);
    assert!((b.finish - 6.0 * MS).abs() < 1e-9);
    // Mixed batching (vLLM) runs A's decodes inside B's chunks instead:
    // A's tokens 3, 4, 5 at 3, 4, 5 ms.
    cfg.sched.batch_policy = BatchPolicy::Mixed;
    let run = run_replica(&cfg, &reqs, &arrivals, flat_cost).unwrap();
    let a = run.records.iter().find(|r| r.prompt == 100).unwrap();
    assert!((a.finish - 5.0 * MS).abs() < 1e-9, "{}", a.finish);
}

fn scenario(model: &str, gpus: &str, engine: &str) -> Scenario {
    let c = Catalog::builtin().unwrap();
    let req = EstimateRequest {
        model: model.into(),
        gpus: gpus.into(),
        ctx: Some(Tokens::Number(4096)),
        batch: Some(1),
        weights: Some(WeightFormat::Bf16),
        engine: Some(EngineId::parse(engine).unwrap()),
        ..Default::default()
    };
    resolve(&req, &c, &|_| unreachable!()).unwrap().scenario
}

/// vLLM profile: 1.2 ms per step + 49 µs per layer on top of the roofline
/// (profiles/engines/vllm.yaml).
const STEP: f64 = 1.2e-3;
const GAP: f64 = 49e-6;

/// Llama-3.1-8B on one H100 (bf16): streamed parameters (all but the
/// embedding table) 8,030,261,248 − 128,256 × 4096; KV 131,072 B per token;
/// attention 2 × 32 heads × (128 + 128) FLOPs per (query, key) pair per layer.
const PARAMS: f64 = 8_030_261_248.0 - 128_256.0 * 4096.0;
const KV_PER_TOKEN: f64 = 131_072.0;
const ATTN: f64 = 2.0 * 32.0 * 256.0;
const LAYERS: f64 = 32.0;
const BW: f64 = 3.35e12 * 0.85;
const MM: f64 = 989e12 * 0.7;

/// The vLLM profile's FITTED prefill knobs (docs/silicon.md): the eager cost
/// per layer of an iteration with prefill and the prefill FLOPs slowdown.
fn vllm_prefill_knobs() -> (f64, f64) {
    let c = Catalog::builtin().unwrap();
    let sp = c.engine("vllm").unwrap().scheduler_spec();
    (
        sp.eager_overhead_per_layer_seconds,
        sp.prefill_compute_scale,
    )
}

/// The vLLM profile's FITTED request overhead (HTTP, tokenisation): every
/// request reaches the scheduler this long after it is sent.
fn vllm_request_overhead() -> f64 {
    let c = Catalog::builtin().unwrap();
    c.engine("vllm")
        .unwrap()
        .scheduler_spec()
        .request_overhead_seconds
}

fn prefill_by_hand(prompts: f64, isl: f64) -> f64 {
    // One iteration of `prompts` whole prompts: GEMMs over every token,
    // causal attention isl²/2 pairs per prompt per layer; compute-bound,
    // at the profile's prefill compute scale; eager (no CUDA graph).
    let (eager, scale) = vllm_prefill_knobs();
    let flops = 2.0 * PARAMS * prompts * isl + ATTN * prompts * isl * isl / 2.0 * LAYERS;
    let mem = PARAMS * 2.0 / BW;
    (flops * scale / MM).max(mem) + STEP + LAYERS * GAP + LAYERS * eager
}

fn decode_by_hand(batch: f64, ctx: f64) -> f64 {
    // Memory-bound at small batch: weights once + every sequence's KV.
    let bytes = PARAMS * 2.0 + batch * ctx * KV_PER_TOKEN;
    let flops = 2.0 * PARAMS * batch + ATTN * batch * ctx * LAYERS;
    (bytes / BW).max(flops / MM) + STEP + LAYERS * GAP
}

#[test]
fn one_request_alone_is_one_prefill_then_decode_steps() {
    let s = scenario("llama-3.1-8b", "H100", "vllm");
    let mem = memory::plan(&s);
    let mut w = ServingWorkload::closed(1000, 100, 1);
    w.num_requests = Some(1);
    let r = simulate(&s, &mem, &Efficiency::default(), &w).unwrap();
    // TTFT: the engine's fixed cost per request, then one 1000-token
    // prefill (≤ the 8192-token budget of a large GPU).
    let ttft = vllm_request_overhead() + prefill_by_hand(1.0, 1000.0);
    assert!(
        close(r.ttft_ms.mean / 1e3, ttft, 1e-9),
        "{} vs {}",
        r.ttft_ms.mean,
        ttft * 1e3
    );
    // TPOT: decode steps at contexts 1001..1099; the step is linear in the
    // context, so their mean is the step at 1050.
    let tpot = decode_by_hand(1.0, 1050.0);
    assert!(
        close(r.tpot_ms.mean / 1e3, tpot, 1e-9),
        "{} vs {}",
        r.tpot_ms.mean,
        tpot * 1e3
    );
    assert!(close(r.e2e_ms.mean / 1e3, ttft + 99.0 * tpot, 1e-9));
    assert!(close(r.itl_ms.mean, r.tpot_ms.mean, 1e-9));
    assert_eq!(r.preemptions, 0);
    assert_eq!(r.bound, "memory-bandwidth");
}

#[test]
fn two_requests_share_one_prefill_when_the_budget_holds_both() {
    // Budget 8192 ≥ 2 × 1000: both prompts in iteration 0, so both see the
    // same TTFT (one iteration of 2000 tokens), then decode as a batch of 2.
    let s = scenario("llama-3.1-8b", "H100", "vllm");
    let mem = memory::plan(&s);
    let mut w = ServingWorkload::closed(1000, 100, 2);
    w.num_requests = Some(2);
    let r = simulate(&s, &mem, &Efficiency::default(), &w).unwrap();
    let ttft = vllm_request_overhead() + prefill_by_hand(2.0, 1000.0);
    assert!(close(r.ttft_ms.p50 / 1e3, ttft, 1e-9));
    assert!(close(r.ttft_ms.p99 / 1e3, ttft, 1e-9));
    let tpot = decode_by_hand(2.0, 1050.0);
    assert!(close(r.tpot_ms.mean / 1e3, tpot, 1e-9));
    assert!(close(r.mean_running_batch, 2.0, 1e-9));
}

#[test]
fn a_small_kv_pool_queues_or_preempts_as_the_engine_does() {
    // Llama-3.1-70B bf16 on 2×H100 leaves a small pool (a few thousand
    // tokens: the budget is 0.92 of the 79.18 GiB CUDA shows); 64 clients of
    // 2k + 1k tokens need far more than it holds, while a few prompts fit at
    // once. (SGLang ≥ 0.5.3 reserves at least 10 GiB per GPU and leaves no
    // pool at all here, so its 0.4 profile — the same scheduler — is the one
    // with a small pool.)
    let (isl, osl) = (2000u64, 1000u64);
    let whole = (isl + osl) as f64;
    for engine in ["vllm", "sglang@0.4", "trtllm"] {
        let s = scenario("llama-3.1-70b", "2xH100", engine);
        let mem = memory::plan(&s);
        let pool = mem.kv_cache_tokens;
        assert!(
            pool as f64 > 2.0 * isl as f64 && pool < 64 * (isl + osl),
            "{engine}: pool {pool}"
        );
        let mut w = ServingWorkload::closed(isl, osl, 64);
        w.num_requests = Some(192);
        let r = simulate(&s, &mem, &Efficiency::default(), &w).unwrap();
        // The running set is bounded by the pool: at most pool / isl requests
        // hold their prompts at once (fewer once outputs grow).
        let most = pool as f64 / isl as f64;
        assert!(
            r.mean_running_batch <= most,
            "{engine}: {} > {most}",
            r.mean_running_batch
        );
        assert!(r.peak_kv_use <= 1.0 + 1e-9, "{engine}: {}", r.peak_kv_use);
        assert!(r.kv_blocked_iteration_share > 0.0, "{engine}");
        match engine {
            // Reserving the whole output: never preempts, runs ≤ pool / (isl + osl).
            "trtllm" => {
                assert_eq!(r.preemptions, 0);
                assert!(r.mean_running_batch <= pool as f64 / whole);
            }
            // On-demand allocation admits on the prompt and preempts as outputs grow.
            "vllm" => assert!(r.preemptions > 0, "vllm did not preempt"),
            _ => {}
        }
        // Queueing shows in TTFT: far above one prefill of the prompt.
        assert!(r.ttft_ms.p90 > 10.0 * r.ttft_ms.p50.min(r.ttft_ms.mean) || r.ttft_ms.p90 > 1e3);
    }
}

#[test]
fn littles_law_holds_on_a_closed_loop() {
    // Closed loop: C requests always in flight, so throughput = C / mean E2E
    // (Little's law), up to the ramp-down at the end (~C/(2N) ≈ 0.3%) — also
    // with a per-request overhead outside the iterations, which holds the
    // client's slot (it is in E2E and delays the client's next request).
    let base = scenario("llama-3.1-8b", "H100", "vllm");
    let mut prev_e2e = 0.0;
    for overhead in [0.0, 0.040] {
        let mut s = base.clone();
        let mut sched = s.deployment.engine.scheduler_spec();
        sched.request_overhead_seconds = overhead;
        s.deployment.engine.scheduler = Some(sched);
        let mem = memory::plan(&s);
        let c = 16;
        let mut w = ServingWorkload::closed(512, 64, c);
        w.num_requests = Some(100 * c);
        w.random_range_ratio = 0.5;
        let r = simulate(&s, &mem, &Efficiency::default(), &w).unwrap();
        let little = c as f64 / (r.e2e_ms.mean / 1e3);
        assert!(
            close(r.requests_per_second, little, 0.02),
            "overhead {overhead}: {} req/s vs C / E2E = {little}",
            r.requests_per_second
        );
        // The overhead is in every request's TTFT: at least 40 ms more than
        // without it (the batch is also smaller, so decode is no slower).
        assert!(r.ttft_ms.p50 >= overhead * 1e3, "{}", r.ttft_ms.p50);
        assert!(r.e2e_ms.mean > prev_e2e, "{} vs {prev_e2e}", r.e2e_ms.mean);
        prev_e2e = r.e2e_ms.mean;
    }
}

#[test]
fn request_overhead_delays_a_lone_request_by_exactly_itself() {
    // One request alone: the overhead shifts its whole life, so TTFT and
    // E2E grow by exactly the overhead and TPOT does not change.
    let base = scenario("llama-3.1-8b", "H100", "vllm");
    let run = |overhead: f64| {
        let mut s = base.clone();
        let mut sched = s.deployment.engine.scheduler_spec();
        sched.request_overhead_seconds = overhead;
        s.deployment.engine.scheduler = Some(sched);
        let mem = memory::plan(&s);
        let mut w = ServingWorkload::closed(1000, 50, 1);
        w.num_requests = Some(3);
        simulate(&s, &mem, &Efficiency::default(), &w).unwrap()
    };
    let (a, b) = (run(0.0), run(0.025));
    assert!(close(b.ttft_ms.mean - a.ttft_ms.mean, 25.0, 1e-6));
    assert!(close(b.e2e_ms.mean - a.e2e_ms.mean, 25.0, 1e-6));
    assert!(close(b.tpot_ms.mean, a.tpot_ms.mean, 1e-9));
    // Three requests one after another: the run lasts 3 × 25 ms longer.
    assert!(close(
        b.duration_seconds - a.duration_seconds,
        3.0 * 0.025,
        1e-6
    ));
}

#[test]
fn latency_and_throughput_are_monotonic_in_concurrency() {
    let s = scenario("llama-3.1-8b", "H100", "vllm");
    let mem = memory::plan(&s);
    let mut last: Option<kvplan::serving::ServingResult> = None;
    for c in [1, 4, 16, 64, 256] {
        // Lengths spread ±30%: with identical requests a closed loop can lock
        // into waves (all C prompts prefilled in one iteration every round).
        let mut w = ServingWorkload::closed(2048, 256, c);
        w.num_requests = Some(4 * c.max(50));
        w.random_range_ratio = 0.3;
        let r = simulate(&s, &mem, &Efficiency::default(), &w).unwrap();
        if let Some(p) = &last {
            assert!(r.tpot_ms.mean >= p.tpot_ms.mean, "tpot at {c}");
            assert!(r.ttft_ms.mean >= p.ttft_ms.mean, "ttft at {c}");
            assert!(
                r.output_tokens_per_second >= p.output_tokens_per_second,
                "tok/s at {c}"
            );
            assert!(r.e2e_ms.mean >= p.e2e_ms.mean, "e2e at {c}");
            assert!(r.output_tokens_per_second_per_user <= p.output_tokens_per_second_per_user);
        }
        last = Some(r);
    }
}

#[test]
fn data_parallel_splits_the_concurrency() {
    // 2×H100 with dp 2: 3 clients → one replica with 2, one with 1.
    let c = Catalog::builtin().unwrap();
    let req = EstimateRequest {
        model: "llama-3.1-8b".into(),
        gpus: "2xH100".into(),
        tp: Some(1),
        dp: Some(2),
        ..Default::default()
    };
    let s = resolve(&req, &c, &|_| unreachable!()).unwrap().scenario;
    let mem = memory::plan(&s);
    let r = simulate(
        &s,
        &mem,
        &Efficiency::default(),
        &ServingWorkload::closed(1000, 100, 3),
    )
    .unwrap();
    assert_eq!(r.replicas, 2);
    assert_eq!(r.load_per_replica, "1–2 concurrent requests");
    // The deployment's throughput is the two replicas' sum; per GPU half of it.
    assert!(close(
        r.output_tokens_per_second_per_gpu * 2.0,
        r.output_tokens_per_second,
        1e-12
    ));
}

#[test]
fn open_loop_rate_below_capacity_keeps_up() {
    // 2 requests/s of 1000 + 100 tokens on an H100: each takes ~0.6 s alone,
    // so the server keeps up and completes requests at the offered rate.
    let s = scenario("llama-3.1-8b", "H100", "vllm");
    let mem = memory::plan(&s);
    let mut w = ServingWorkload::closed(1000, 100, 1);
    w.arrival = Arrival::Rate {
        per_second: 2.0,
        burstiness: 1.0,
        max_concurrency: None,
    };
    w.num_requests = Some(2000);
    let r = simulate(&s, &mem, &Efficiency::default(), &w).unwrap();
    assert!(
        close(r.requests_per_second, 2.0, 0.05),
        "{}",
        r.requests_per_second
    );
}

#[test]
fn bad_workloads_name_the_flag() {
    let s = scenario("llama-3.1-8b", "H100", "vllm");
    let mem = memory::plan(&s);
    let eff = Efficiency::default();
    let field = |w: ServingWorkload| {
        simulate(&s, &mem, &eff, &w)
            .unwrap_err()
            .field()
            .map(str::to_string)
    };
    assert_eq!(
        field(ServingWorkload::closed(1000, 0, 1)).as_deref(),
        Some("osl")
    );
    assert_eq!(
        field(ServingWorkload::closed(0, 10, 1)).as_deref(),
        Some("isl")
    );
    // Llama-3.1 holds 131,072 tokens.
    assert_eq!(
        field(ServingWorkload::closed(131_000, 100, 1)).as_deref(),
        Some("isl")
    );
    assert_eq!(
        field(ServingWorkload::closed(1000, 100, 0)).as_deref(),
        Some("concurrency")
    );
    let mut w = ServingWorkload::closed(1000, 100, 1);
    w.arrival = Arrival::Rate {
        per_second: -1.0,
        burstiness: 1.0,
        max_concurrency: None,
    };
    assert_eq!(field(w).as_deref(), Some("request_rate"));
    let mut w = ServingWorkload::closed(1000, 100, 1);
    w.random_range_ratio = 1.5;
    assert_eq!(field(w).as_deref(), Some("random_range_ratio"));
}

/// The fast path (runs of pure-decode iterations interpolated where their
/// cost is linear in the context) gives what costing every iteration gives:
/// the same requests, the same latencies to rounding, on engines of every
/// batch policy, a sliding-window model, a preempting small pool, an open
/// loop, and data parallelism.
#[test]
fn fast_forwarded_decodes_match_the_stepwise_reference() {
    let eff = Efficiency::default();
    let cases: Vec<(Scenario, ServingWorkload)> = {
        let mut v = Vec::new();
        let mut w = ServingWorkload::closed(1024, 1024, 64);
        w.num_requests = Some(200);
        v.push((scenario("llama-3.1-70b", "8xH100", "vllm"), w.clone()));
        v.push((scenario("llama-3.1-70b", "8xH100", "sglang"), w.clone()));
        v.push((scenario("llama-3.1-70b", "8xH100", "trtllm"), w.clone()));
        let mut spread = w.clone();
        spread.random_range_ratio = 0.1;
        v.push((scenario("gpt-oss-120b", "4xH100", "vllm"), spread));
        let mut open = ServingWorkload::closed(2048, 512, 1);
        open.arrival = Arrival::Rate {
            per_second: 4.0,
            burstiness: 1.0,
            max_concurrency: None,
        };
        open.num_requests = Some(100);
        v.push((scenario("llama-3.1-8b", "1xH100", "vllm"), open));
        v
    };
    for (s, w) in &cases {
        let mem = memory::plan(s);
        let fast = simulate(s, &mem, &eff, w).unwrap();
        let slow = simulate_stepwise(s, &mem, &eff, w).unwrap();
        let what = format!("{} on {}", s.model.name, s.deployment.engine.name);
        for (a, b, name) in [
            (fast.ttft_ms.mean, slow.ttft_ms.mean, "mean TTFT"),
            (fast.ttft_ms.p90, slow.ttft_ms.p90, "p90 TTFT"),
            (fast.tpot_ms.mean, slow.tpot_ms.mean, "mean TPOT"),
            (fast.tpot_ms.p99, slow.tpot_ms.p99, "p99 TPOT"),
            (fast.itl_ms.p50, slow.itl_ms.p50, "p50 ITL"),
            (
                fast.output_tokens_per_second,
                slow.output_tokens_per_second,
                "tokens/s",
            ),
            (
                fast.mean_running_batch,
                slow.mean_running_batch,
                "mean batch",
            ),
        ] {
            assert!(close(a, b, 1e-6), "{what}: {name} {a} vs {b}");
        }
        assert_eq!(fast.preemptions, slow.preemptions, "{what}");
        assert_eq!(fast.bound, slow.bound, "{what}");
    }
}

#[test]
fn replica_with_speculation_finishes_in_fewer_decode_steps() {
    // 1.75 output tokens per decode iteration (1 + 0.75 × one draft), 1 ms
    // per iteration: the 100-token prompt is iteration 0 (first token at
    // 1 ms); the other 35 tokens take ⌈35 / 1.75⌉ = 20 decode iterations,
    // so the request ends at 21 ms and TPOT = 20 ms / 35 = 1 ms ÷ 1.75.
    let mut cfg = config(KvAdmission::OnDemand, Preemption::Recompute, 100_000);
    cfg.decode_tokens_per_step = 1.75;
    cfg.decode_budget_tokens = 2.0;
    let reqs = [RequestSpec {
        prompt: 100,
        output: 36,
        cached: 0,
    }];
    let run = run_replica(&cfg, &reqs, &Arrivals::Closed { concurrency: 1 }, flat_cost).unwrap();
    let r = &run.records[0];
    assert!((r.first_token - MS).abs() < 1e-12, "{}", r.first_token);
    assert!((r.finish - 21.0 * MS).abs() < 1e-12, "{}", r.finish);
    assert_eq!(run.iterations, 21);
    let tpot = (r.finish - r.first_token) / 35.0;
    assert!((tpot - MS / 1.75).abs() < 1e-15);
}

fn mtp_scenario(engine: &str, acceptance: f64) -> Scenario {
    let c = Catalog::builtin().unwrap();
    let req = EstimateRequest {
        model: "deepseek-v3".into(),
        gpus: "8xH200".into(),
        ctx: Some(Tokens::Number(4096)),
        batch: Some(1),
        engine: Some(EngineId::parse(engine).unwrap()),
        mtp: Some(true),
        mtp_acceptance: Some(acceptance),
        ..Default::default()
    };
    resolve(&req, &c, &|_| unreachable!()).unwrap().scenario
}

#[test]
fn one_request_alone_with_mtp_is_one_verify_step_per_expected_tokens() {
    // DeepSeek-V3 (one MTP module) with draft acceptance 0.75: each decode
    // iteration verifies 2 tokens and emits 1 + 0.75 = 1.75 on average.
    // isl 1000, osl 36: the first token is the prefill's, the other 35 take
    // ⌈35 / 1.75⌉ = 20 verify iterations at contexts 1001 + 1.75 j
    // (j = 0…19); the step is linear in the context (memory-bound at one
    // sequence), so TPOT = 20 × step(1017.625) / 35 = step(1017.625) / 1.75.
    let s = mtp_scenario("trtllm", 0.75);
    let spec = kvplan::perf::Speculation::of(&s);
    assert_eq!(spec.draft_tokens, 1);
    assert_eq!(spec.tokens_per_step(), 1.75);
    let mem = memory::plan(&s);
    let eff = Efficiency::default();
    let mut w = ServingWorkload::closed(1000, 36, 1);
    w.num_requests = Some(1);
    let r = simulate(&s, &mem, &eff, &w).unwrap();
    let model = kvplan::perf::IterationModel::new(&s, &mem, &eff);
    let mut b = BatchComposition::default();
    b.add_decodes(1.0, 1017.625, 1017.625);
    let verify = model.cost(&b);
    let tpot = verify.seconds / 1.75;
    assert!(
        close(r.tpot_ms.mean / 1e3, tpot, 1e-6),
        "{} vs {}",
        r.tpot_ms.mean,
        tpot * 1e3
    );
    // The verify step is dearer than a one-token step of the same scenario
    // without MTP (two tokens per sequence through the GEMMs, more experts
    // touched, the draft pass), but less than twice as dear at one sequence.
    let mut plain = s.clone();
    plain.deployment.mtp = false;
    let plain_mem = memory::plan(&plain);
    let one = kvplan::perf::IterationModel::new(&plain, &plain_mem, &eff).cost(&b);
    assert!(verify.seconds > one.seconds && verify.seconds < 2.0 * one.seconds);
    assert!(verify.flops > 2.0 * one.flops * 0.99);
    assert!(
        r.assumptions
            .iter()
            .any(|a| a.contains("verifies 2 tokens") && a.contains("1.75")),
        "{:?}",
        r.assumptions
    );
}

/// Mean TTFT, mean TPOT, mean E2E and output tokens/s of `kvplan estimate … --format json`.
fn cli_serving(args: &[&str]) -> (f64, f64, f64, f64) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["serving"];
    (
        s["ttft_ms"]["mean"].as_f64().unwrap(),
        s["tpot_ms"]["mean"].as_f64().unwrap(),
        s["e2e_ms"]["mean"].as_f64().unwrap(),
        s["output_tokens_per_second"].as_f64().unwrap(),
    )
}

#[test]
fn mtp_off_reproduces_the_simulator_before_speculative_decoding() {
    // Regression pin, not an accuracy claim: the figures main printed at
    // commit cf12a8a (before the simulators modelled speculative decoding)
    // for a model that has an MTP module, served without it, aggregated
    // and disaggregated. Without --mtp nothing may move, bit for bit —
    // except what a later change moved on purpose: the disaggregated TTFT
    // now ends at the decode worker's first step (it streams the tokens),
    // so there only E2E and throughput stay pinned; and attention is now
    // priced at the 16-bit tensor rate, not the fp8 GEMM rate of the
    // checkpoint (`perf::attention_matmul_flops`), which moved the
    // aggregated figures from (172.891, 15.0078, 1023.311): re-pinned at
    // that change; and TensorRT-LLM's scheduler knobs were refit (request
    // overhead 0 → 25 ms, eager cost 320 → 160 µs per layer: the aiperf rows
    // now run at aiconfigurator's generated token budget instead of in
    // lockstep), which moved them from (174.852, 15.0146, 1022.367).
    let agg = cli_serving(&[
        "estimate",
        "deepseek-v3",
        "--gpus",
        "8xH200",
        "--engine",
        "trtllm",
        "--isl",
        "1024",
        "--osl",
        "256",
        "--concurrency",
        "16",
        "--num-requests",
        "64",
    ]);
    assert_eq!(
        (agg.0, agg.1, agg.3),
        (252.1163029297321, 14.679765457040611, 1024.4260568260358)
    );
    let disagg = cli_serving(&[
        "estimate",
        "deepseek-v3",
        "--gpus",
        "8xH200",
        "--engine",
        "sglang",
        "--disagg",
        "--prefill-workers",
        "1",
        "--prefill-tp",
        "8",
        "--decode-workers",
        "1",
        "--decode-tp",
        "8",
        "--isl",
        "1024",
        "--osl",
        "256",
        "--concurrency",
        "16",
        "--num-requests",
        "64",
    ]);
    // The disaggregated closed loop is now followed request by request (all
    // clients start at once, round-robin routing), which moved its figures on
    // purpose (cf12a8a: E2E 3875.4 ms, 1052.5 tok/s). What must still hold:
    // E2E = TTFT + (osl − 1) × TPOT (fixed lengths), the rate within 5 % of
    // cf12a8a's (16 clients, one decode worker with room for all: the start
    // is the only queue), and TTFT above cf12a8a's prefill-side 314.85 ms.
    assert!((disagg.2 - (disagg.0 + 255.0 * disagg.1)).abs() < 1e-6 * disagg.2);
    assert!(
        (disagg.3 / 1052.504525970839 - 1.0).abs() < 0.05,
        "{disagg:?}"
    );
    assert!(disagg.0 > 314.8524300856197, "{disagg:?}");
}

#[test]
fn mtp_draft_tokens_chain_the_acceptance_and_bad_counts_name_the_flag() {
    // Three drafts at acceptance 0.8: a step keeps the verified token and the
    // accepted run, 1 + 0.8 + 0.64 + 0.512 = 2.952 (a rejection ends it),
    // and verifies 4 tokens per sequence.
    let c = Catalog::builtin().unwrap();
    let mut req = EstimateRequest {
        model: "deepseek-v3".into(),
        gpus: "8xH200".into(),
        mtp: Some(true),
        mtp_acceptance: Some(0.8),
        mtp_draft_tokens: Some(3),
        ..Default::default()
    };
    let r = resolve(&req, &c, &|_| unreachable!()).unwrap();
    let spec = kvplan::perf::Speculation::of(&r.scenario);
    assert_eq!(spec.draft_tokens, 3);
    assert_eq!(spec.verify_tokens(), 4.0);
    assert!(
        (r.tokens_per_step - 2.952).abs() < 1e-12,
        "{}",
        r.tokens_per_step
    );
    for bad in [0, 17] {
        req.mtp_draft_tokens = Some(bad);
        let e = resolve(&req, &c, &|_| unreachable!()).unwrap_err();
        assert_eq!(e.field(), Some("mtp_draft_tokens"), "{e}");
        assert!(e.to_string().contains("mtp-draft-tokens"), "{e}");
    }
}

#[test]
fn replica_receives_only_every_recv_interval_decode_iterations() {
    // SGLang `--scheduler-recv-interval 30` (scheduler_recv_skipper.py: a
    // counter weighted 1 per decode forward and 1000 per other forward,
    // polled and reset at 30). A (isl 100, osl 100) alone prefills at
    // iteration 0 (token 1 at 1 ms); the prefill's weight makes the next
    // loop poll (nothing there) and reset the counter at 1 ms. B (isl 100,
    // osl 2) is sent at 10.5 ms, during A's decodes: the scheduler polls
    // again only after 30 decode iterations, at 31 ms; B prefills alone
    // (31–32 ms: token 1 at 32 ms, TTFT 21.5 ms) and decodes with A (token
    // 2 at 33 ms). With the default interval (1) B is taken at 11 ms and its
    // first token comes at 12 ms. Sent at 62.5 ms instead, just after the
    // poll at 61 ms (1 + 2 × 30), B waits for the next one, at 91 ms (token 1
    // at 92 ms, token 2 at 93 ms); at interval 1 it is taken at 63 ms.
    let mut cfg = config(KvAdmission::OnDemand, Preemption::Recompute, 100_000);
    cfg.sched.batch_policy = BatchPolicy::PrefillFirst;
    cfg.sched.max_partial_prefills = 1;
    let reqs = [
        RequestSpec {
            prompt: 100,
            output: 100,
            cached: 0,
        },
        RequestSpec {
            prompt: 100,
            output: 2,
            cached: 0,
        },
    ];
    for (sent, interval, first, finish) in [
        (10.5, 30, 32.0, 33.0),
        (10.5, 1, 12.0, 13.0),
        (62.5, 30, 92.0, 93.0),
        (62.5, 1, 64.0, 65.0),
    ] {
        let arrivals = Arrivals::Open {
            times: vec![0.0, sent * MS],
            max_concurrency: None,
        };
        cfg.sched.recv_interval = interval;
        let run = run_replica(&cfg, &reqs, &arrivals, flat_cost).unwrap();
        let b = run.records.iter().find(|r| r.output == 2).unwrap();
        assert!(
            (b.first_token - first * MS).abs() < 1e-9,
            "sent {sent} ms, interval {interval}: {}",
            b.first_token
        );
        assert!((b.finish - finish * MS).abs() < 1e-9, "{}", b.finish);
        // The stepwise reference (no fast-forwarding) agrees.
        let step =
            kvplan::serving::replica::run_replica_stepwise(&cfg, &reqs, &arrivals, flat_cost)
                .unwrap();
        let bs = step.records.iter().find(|r| r.output == 2).unwrap();
        assert!((bs.first_token - b.first_token).abs() < 1e-9);
    }
    // Engines without the flag take requests every iteration.
    for e in ["vllm", "sglang", "trtllm"] {
        let c = Catalog::builtin().unwrap();
        let sp = c.engine(e).unwrap().scheduler_on(80 << 30, 1);
        assert_eq!(sp.recv_interval, 1, "{e}");
    }
}
