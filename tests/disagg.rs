//! Disaggregated serving against hand-derived expectations.
//!
//! KV bytes come from the models' config.json dimensions (Llama-3.1: 8 KV
//! heads of 128; DeepSeek-V3: kv_lora_rank 512 + qk_rope_head_dim 64 = 576
//! latent values per token per layer, 61 layers); link speeds from the
//! datasheets cited in docs/sources/kv-transfer.md (H100 NVLink 900 GB/s
//! bidirectional = 450 GB/s one way; one 400 Gb/s NIC per GPU = 50 GB/s).
//! Prefill and decode times are the one iteration cost
//! (`IterationModel::cost`) of the batch the scheduler must run, computed
//! here directly; the tests check how the disaggregated simulator composes them.

use kvplan::memory;
use kvplan::ops::{self, admit_all, Env, Extras};
use kvplan::perf::{BatchComposition, Efficiency, IterationModel};
use kvplan::request::{resolve, EstimateRequest, Tokens};
use kvplan::scenario::Scenario;
use kvplan::serving::disagg::{DisaggRequest, PoolRequest};
use kvplan::serving::ServingWorkload;
use kvplan::spec::dtype::{KvDtype, WeightFormat};
use kvplan::spec::engine_id::EngineId;
use kvplan::spec::Catalog;
use std::sync::OnceLock;

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| Catalog::builtin().unwrap())
}

fn req(model: &str, gpus: &str, engine: &str) -> EstimateRequest {
    EstimateRequest {
        model: model.into(),
        gpus: gpus.into(),
        engine: Some(EngineId::parse(engine).unwrap()),
        ..Default::default()
    }
}

fn pool(workers: u64, tp: u64, batch: Option<u64>) -> PoolRequest {
    PoolRequest {
        workers,
        tp: Some(tp),
        batch,
        ..Default::default()
    }
}

fn run(
    r: &EstimateRequest,
    d: DisaggRequest,
    w: ServingWorkload,
) -> kvplan::Result<ops::Estimated> {
    let eff = |_: &Scenario| Ok(Efficiency::default());
    let env = Env {
        catalog: catalog(),
        models: &kvplan::cli::CliModels,
        efficiency: &eff,
        admit: &admit_all,
    };
    ops::estimate_with(
        &env,
        r,
        &Extras {
            serving: Some(w),
            disagg: Some(d),
            ..Default::default()
        },
    )
}

/// One worker's scenario as the operation resolves it: `gpus` GPUs, TP
/// `tp`, context = the workload's longest request, batch 1.
fn worker(r: &EstimateRequest, gpus: &str, tp: u64, ctx: u64, seqs: Option<u64>) -> Scenario {
    let mut q = r.clone();
    q.gpus = gpus.into();
    q.tp = Some(tp);
    q.pp = Some(1);
    q.dp = Some(1);
    q.ep = Some(1);
    q.batch = Some(1);
    q.ctx = Some(Tokens::Number(ctx));
    q.max_num_seqs = seqs;
    let mut s = resolve(&q, catalog(), &|n: &str| {
        Err(kvplan::Error::input("model", n.to_string()))
    })
    .unwrap()
    .scenario;
    if let Some(n) = seqs {
        s.deployment.engine.max_num_seqs = n;
    }
    s
}

/// Seconds to prefill `isl` tokens alone, chunk by chunk as the engine's token budget splits them.
fn prefill_alone(s: &Scenario, isl: u64) -> f64 {
    let mem = memory::plan(s);
    let m = IterationModel::new(s, &mem, &Efficiency::default());
    let chunk = if s.deployment.engine.chunked_prefill {
        s.deployment.engine.max_num_batched_tokens
    } else {
        isl
    };
    let (mut done, mut t) = (0, 0.0);
    while done < isl {
        let c = chunk.min(isl - done);
        t += m
            .cost(&BatchComposition::prefill_chunk(c, done, u64::MAX))
            .seconds;
        done += c;
    }
    t
}

/// Seconds of one decode step of `n` sequences at context `ctx`.
fn decode_step(s: &Scenario, n: u64, ctx: u64) -> f64 {
    let mem = memory::plan(s);
    let m = IterationModel::new(s, &mem, &Efficiency::default());
    m.cost(&BatchComposition::decode(n, ctx, u64::MAX)).seconds
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    ((a - b) / b).abs() <= rel
}

#[test]
fn one_request_1p1d_ttft_is_prefill_plus_transfer_plus_first_decode_step_and_tpot_one_decode_step()
{
    // Llama-3.1-8B, bf16, one H100 per worker, both in one 8-GPU node (NVLink).
    let (isl, osl) = (2000u64, 64u64);
    let r = req("llama-3.1-8b", "8xH100", "vllm");
    let mut w = ServingWorkload::closed(isl, osl, 1);
    w.num_requests = Some(3);
    let d = DisaggRequest {
        prefill: pool(1, 1, None),
        decode: pool(1, 1, None),
    };
    let done = run(&r, d, w).unwrap();
    let dg = done.disagg.as_ref().unwrap();
    let sv = done.report.serving.as_ref().unwrap();
    let s = worker(&r, "1xH100", 1, isl + osl, None);
    let overhead = s
        .deployment
        .engine
        .scheduler_spec()
        .request_overhead_seconds;
    // KV of 2000 tokens: 32 layers × 2 (K, V) × 8 heads × 128 × 2 bytes =
    // 131,072 B per token (2000 = 125 whole blocks of 16) = 262,144,000 B,
    // over NVLink at 450 GB/s one way + 10 µs.
    assert_eq!(dg.result.kv_transfer.bytes_total, 262_144_000);
    assert_eq!(dg.result.link.kind, "nvlink");
    let transfer = 10e-6 + 262_144_000.0 / 450e9;
    assert!(close(dg.result.kv_transfer.seconds, transfer, 1e-9));
    // The client's stream comes from the decode worker (Dynamo's
    // disaggregated-serving design: the prefill worker returns the transfer
    // metadata, the decode worker streams the tokens), so the first token
    // reaches it after the decode worker's first step, at context isl + 1.
    let ttft = overhead + prefill_alone(&s, isl) + transfer + decode_step(&s, 1, isl + 1);
    assert!(
        close(sv.ttft_ms.mean / 1e3, ttft, 1e-6),
        "TTFT {} ms, expected {} ms",
        sv.ttft_ms.mean,
        ttft * 1e3
    );
    // TPOT = (e2e − TTFT) / (osl − 1): the decode worker's other osl − 2
    // steps of one sequence, contexts isl+2 … isl+osl−1, over osl − 1.
    let steps: f64 = (2..osl).map(|j| decode_step(&s, 1, isl + j)).sum();
    let tpot = steps / (osl - 1) as f64;
    assert!(
        close(sv.tpot_ms.mean / 1e3, tpot, 0.01),
        "TPOT {} ms, expected {} ms",
        sv.tpot_ms.mean,
        tpot * 1e3
    );
    // Two pools of one GPU each.
    assert_eq!(dg.total_gpus, 2);
    assert!(dg.prefill.fits && dg.decode.fits);
}

#[test]
fn a_closed_loop_starts_with_every_client_at_the_prefill_worker() {
    // Four clients send at once (the benchmark's start), the prefill worker
    // runs one request at a time (--prefill-batch 1): the k-th request's
    // first token leaves the prefill worker after k prefills, so over the
    // four requests (one each) TTFT = overhead + (1+2+3+4)/4 prefills +
    // transfer + the decode worker's first step. Each request reaches the
    // decode worker alone (a decode step is shorter than a prefill).
    let (isl, osl) = (2000u64, 2u64);
    let r = req("llama-3.1-8b", "8xH100", "vllm");
    let mut w = ServingWorkload::closed(isl, osl, 4);
    w.num_requests = Some(4);
    let d = DisaggRequest {
        prefill: pool(1, 1, Some(1)),
        decode: pool(1, 1, Some(8)),
    };
    let done = run(&r, d, w).unwrap();
    let dg = done.disagg.as_ref().unwrap();
    let sv = done.report.serving.as_ref().unwrap();
    let s = worker(&r, "1xH100", 1, isl + osl, None);
    let overhead = s
        .deployment
        .engine
        .scheduler_spec()
        .request_overhead_seconds;
    let (p, d1) = (prefill_alone(&s, isl), decode_step(&s, 1, isl + 1));
    assert!(d1 < p, "decode step {d1} s, prefill {p} s");
    let ttft = overhead + 2.5 * p + dg.result.kv_transfer.exposed_seconds + d1;
    assert!(
        close(sv.ttft_ms.mean / 1e3, ttft, 1e-6),
        "TTFT {} ms, expected {} ms",
        sv.ttft_ms.mean,
        ttft * 1e3
    );
    // The last request waited for the three before it (p99 lies between
    // the third request's TTFT and the last one's).
    let last = overhead + 4.0 * p + dg.result.kv_transfer.exposed_seconds + d1;
    let p99 = sv.ttft_ms.p99 / 1e3;
    assert!(
        p99 <= last * (1.0 + 1e-6) && p99 >= last - p,
        "TTFT p99 {} ms, the last request's {} ms",
        sv.ttft_ms.p99,
        last * 1e3
    );
}

#[test]
fn mla_transfer_moves_the_whole_latent_to_every_decode_rank() {
    // DeepSeek-V3, bf16 KV: 61 layers × 576 × 2 B = 70,272 B per token per
    // rank (the latent is not split by TP). 4096 tokens (whole blocks of any
    // engine's size up to 64). Two 8-GPU workers: two nodes, the network.
    let tokens = 4096u64;
    let mut r = req("deepseek-v3", "8xH200", "sglang");
    r.weights = Some(WeightFormat::parse("fp8-block", "weights").unwrap());
    r.kv_dtype = Some(KvDtype::parse("bf16", "kv-dtype").unwrap());
    let mut w = ServingWorkload::closed(tokens, 16, 1);
    w.num_requests = Some(2);
    let d = DisaggRequest {
        prefill: pool(1, 8, None),
        decode: pool(1, 8, None),
    };
    let done = run(&r, d, w).unwrap();
    let x = &done.disagg.as_ref().unwrap().result.kv_transfer;
    let per_rank = 61 * 576 * 2 * tokens;
    assert_eq!(x.bytes_per_receiver, per_rank);
    assert_eq!(x.receivers, 8);
    assert_eq!(x.bytes_total, 8 * per_rank);
    assert_eq!(x.senders, 8);
    assert_eq!(x.bytes_per_sender, per_rank);
    assert_eq!(done.disagg.as_ref().unwrap().result.link.kind, "network");
    // 25 µs + per-rank bytes over one 50 GB/s NIC.
    assert!(close(x.seconds, 25e-6 + per_rank as f64 / 50e9, 1e-9));
}

#[test]
fn gqa_transfer_follows_each_side_tp() {
    // Llama-3.1-70B, bf16 KV, 80 layers × 2 × 8 heads × 128 × 2 B = 327,680 B
    // per token. Prefill TP 2 (4 heads per GPU), decode TP 4 (2 heads per GPU).
    let tokens = 4096u64;
    let mut r = req("llama-3.1-70b", "8xH100", "vllm");
    r.weights = Some(WeightFormat::parse("fp8", "weights").unwrap());
    r.kv_dtype = Some(KvDtype::parse("bf16", "kv-dtype").unwrap());
    let mut w = ServingWorkload::closed(tokens, 16, 1);
    w.num_requests = Some(2);
    let d = DisaggRequest {
        prefill: pool(1, 2, None),
        decode: pool(1, 4, None),
    };
    let done = run(&r, d, w).unwrap();
    let x = &done.disagg.as_ref().unwrap().result.kv_transfer;
    let full = 327_680 * tokens;
    assert_eq!(x.bytes_total, full);
    assert_eq!(x.bytes_per_receiver, full / 4);
    assert_eq!(x.bytes_per_sender, full / 2);
    // 6 GPUs in one node: NVLink; the senders (2) are the busier side.
    assert!(close(x.seconds, 10e-6 + (full / 2) as f64 / 450e9, 1e-9));
}

#[test]
fn one_prefill_worker_for_long_prompts_is_the_bottleneck() {
    // 1P2D, 8k prompts, 32 output tokens, one prompt at a time per prefill
    // worker: its capacity is 1 / (one prefill alone).
    let (isl, osl) = (8000u64, 32u64);
    let r = req("llama-3.1-8b", "8xH100", "vllm");
    let mut w = ServingWorkload::closed(isl, osl, 32);
    w.num_requests = Some(320);
    let d = DisaggRequest {
        prefill: pool(1, 1, Some(1)),
        decode: pool(2, 1, None),
    };
    let done = run(&r, d, w).unwrap();
    let dg = &done.disagg.as_ref().unwrap().result;
    let s = worker(&r, "1xH100", 1, isl + osl, Some(1));
    let cap = 1.0 / prefill_alone(&s, isl);
    assert_eq!(dg.bottleneck, "prefill");
    assert!(
        close(dg.prefill_capacity_requests_per_second, cap, 0.02),
        "prefill capacity {} vs {cap}",
        dg.prefill_capacity_requests_per_second
    );
    // 32 clients saturate it: the deployment runs at the prefill rate, the
    // prefill worker is busy all the time, and prompts queue for it.
    let sv = done.report.serving.as_ref().unwrap();
    assert!(
        close(sv.requests_per_second, cap, 0.05),
        "{} vs {cap}",
        sv.requests_per_second
    );
    assert!(dg.prefill_utilization > 0.95);
    assert!(sv.ttft_ms.mean / 1e3 > 10.0 / cap);
}

#[test]
fn one_small_decode_worker_behind_four_prefill_workers_is_the_bottleneck() {
    // 4P1D, short prompts, 512 output tokens, 8 sequences per decode worker:
    // a full decode batch of 8 finishes 8 requests every 511 steps of
    // decode(8) at the mean context.
    let (isl, osl) = (256u64, 512u64);
    let r = req("llama-3.1-8b", "8xH100", "vllm");
    let mut w = ServingWorkload::closed(isl, osl, 16);
    w.num_requests = Some(160);
    let d = DisaggRequest {
        prefill: pool(4, 1, None),
        decode: pool(1, 1, Some(8)),
    };
    let done = run(&r, d, w).unwrap();
    let dg = &done.disagg.as_ref().unwrap().result;
    let s = worker(&r, "1xH100", 1, isl + osl, Some(8));
    let cap = 8.0 / ((osl - 1) as f64 * decode_step(&s, 8, isl + osl / 2));
    assert_eq!(dg.bottleneck, "decode");
    assert!(
        close(dg.decode_capacity_requests_per_second, cap, 0.05),
        "decode capacity {} vs {cap}",
        dg.decode_capacity_requests_per_second
    );
    // 16 clients for 8 slots: the decode batch stays full.
    assert!(dg.decode_utilization > 0.9, "{}", dg.decode_utilization);
    let sv = done.report.serving.as_ref().unwrap();
    assert!(
        close(sv.requests_per_second, cap, 0.08),
        "{} vs {cap}",
        sv.requests_per_second
    );
}

fn field_of(e: kvplan::Error) -> (String, String) {
    match e {
        kvplan::Error::Input { field, message } => (field.cli(), message),
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn bad_pools_name_the_pool_and_the_flag() {
    let r = req("llama-3.1-8b", "8xH100", "vllm");
    let w = ServingWorkload::closed(1000, 100, 4);
    // Zero workers.
    let d = DisaggRequest {
        prefill: pool(0, 1, None),
        decode: pool(1, 1, None),
    };
    let (f, m) = field_of(run(&r, d, w.clone()).unwrap_err());
    assert_eq!(f, "prefill-workers");
    assert!(m.contains("prefill"), "{m}");
    // A layout that does not divide the model: 32 attention heads over TP 3.
    let d = DisaggRequest {
        prefill: pool(1, 1, None),
        decode: pool(1, 3, None),
    };
    let (f, m) = field_of(run(&r, d, w.clone()).unwrap_err());
    assert_eq!(f, "decode-tp", "{m}");
    assert!(m.contains("decode worker"), "{m}");
    // A pool that does not fit: DeepSeek-V3 on one H100.
    let mut big = req("deepseek-v3", "8xH100", "vllm");
    big.weights = Some(WeightFormat::parse("fp8-block", "weights").unwrap());
    let d = DisaggRequest {
        prefill: pool(1, 1, None),
        decode: pool(1, 8, None),
    };
    let (f, m) = field_of(run(&big, d, w.clone()).unwrap_err());
    assert_eq!(f, "prefill-tp", "{m}");
    assert!(m.contains("prefill worker"), "{m}");
    // A worker that is not a whole number of nodes.
    let d = DisaggRequest {
        prefill: pool(1, 1, None),
        decode: pool(1, 12, None),
    };
    let (f, _) = field_of(run(&r, d, w).unwrap_err());
    assert_eq!(f, "decode-tp");
}

#[test]
fn cli_pool_flags_without_disagg_exit_2_naming_the_flag() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args([
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "8xH100",
            "--isl",
            "1k",
            "--osl",
            "100",
            "--decode-tp",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("decode-tp") && err.contains("--disagg"),
        "{err}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args([
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "8xH100",
            "--isl",
            "1k",
            "--osl",
            "100",
            "--concurrency",
            "8",
            "--disagg",
            "--prefill-workers",
            "1",
            "--decode-workers",
            "1",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in [
        "kv_transfer_ms",
        "prefill_utilization",
        "decode_utilization",
        "ttft_ms",
        "tpot_ms",
    ] {
        assert!(v["serving"].get(k).is_some(), "serving.{k} missing");
    }
    for k in ["prefill", "decode"] {
        assert!(
            v["disagg"][k]["memory_per_gpu"].is_object(),
            "disagg.{k}.memory_per_gpu missing"
        );
    }
}

#[test]
fn serving_plan_sets_disaggregated_deployments_beside_the_best_aggregated() {
    let eff = |_: &Scenario| Ok(Efficiency::default());
    let env = Env {
        catalog: catalog(),
        models: &kvplan::cli::CliModels,
        efficiency: &eff,
        admit: &admit_all,
    };
    let mut w = ServingWorkload::closed(2048, 128, 16);
    w.num_requests = Some(64);
    let p = ops::PlanRequest {
        request: req("llama-3.1-8b", "4xH100", "vllm"),
        max_ttft_ms: Some(5000.0),
        max_tpot_ms: Some(100.0),
        serving: Some(w),
        ..Default::default()
    };
    let planned = ops::plan(&env, &p).unwrap();
    let d = planned
        .disagg
        .as_ref()
        .expect("a serving plan on 4 GPUs searches disaggregated deployments");
    assert!(d.evaluated > 0 && !d.candidates.is_empty());
    // Every candidate is within the budget and has both pools.
    for c in &d.candidates {
        assert!(c.gpus <= 4 && c.prefill.workers >= 1 && c.decode.workers >= 1);
        assert_eq!(c.gpus, c.prefill.gpus() + c.decode.gpus());
    }
    let a = d.best_aggregated.as_ref().unwrap();
    let b = d.best_disaggregated.as_ref().unwrap();
    if a.meets_sla && b.meets_sla {
        let g = d.gain_tokens_per_second_per_gpu.unwrap();
        assert!(
            (g - (b.output_tokens_per_second_per_gpu - a.output_tokens_per_second_per_gpu)).abs()
                < 1e-9
        );
    }
    assert!(d.verdict.contains("tok/s/GPU"), "{}", d.verdict);
    // The plan's JSON carries it.
    assert!(planned.json(3)["disagg"]["candidates"].is_array());
}

#[test]
fn one_request_1p1d_with_mtp_decodes_in_verify_steps() {
    // DeepSeek-V3 with its MTP module, draft acceptance 0.75 (1.75 tokens per
    // verify step), one TP-8 H200 worker per pool. The decode worker takes
    // the request with its prompt and first token cached: its first step
    // (a one-token "prefill" costed as a verify step) ends the TTFT, then
    // ⌈(osl − 2) / 1.75⌉ verify steps emit the rest. osl = 37: ⌈35 / 1.75⌉
    // = 20 steps after the first token, so TPOT = 20 steps ÷ 36.
    let (isl, osl) = (1000u64, 37u64);
    let mut r = req("deepseek-v3", "8xH200", "sglang");
    r.mtp = Some(true);
    r.mtp_acceptance = Some(0.75);
    let mut w = ServingWorkload::closed(isl, osl, 1);
    w.num_requests = Some(3);
    let d = DisaggRequest {
        prefill: pool(1, 8, None),
        decode: pool(1, 8, None),
    };
    let done = run(&r, d, w).unwrap();
    let sv = done.report.serving.as_ref().unwrap();
    let s = worker(&r, "8xH200", 8, isl + osl, None);
    let mem = memory::plan(&s);
    let m = IterationModel::new(&s, &mem, &Efficiency::default());
    assert_eq!(m.speculation().tokens_per_step(), 1.75);
    // Contexts after the first token: isl + 2 + 1.75 j, j = 0…19.
    let step = |ctx: f64| {
        let mut b = BatchComposition::default();
        b.add_decodes(1.0, ctx, ctx);
        m.cost(&b).seconds
    };
    let total = (0..20)
        .map(|j| step((isl + 2) as f64 + 1.75 * j as f64))
        .sum::<f64>();
    let tpot = total / 36.0;
    assert!(
        close(sv.tpot_ms.mean / 1e3, tpot, 0.01),
        "TPOT {} ms, expected {} ms",
        sv.tpot_ms.mean,
        tpot * 1e3
    );
    // Against the same deployment without MTP: one token per (cheaper) step.
    let mut plain = r.clone();
    plain.mtp = Some(false);
    let mut w = ServingWorkload::closed(isl, osl, 1);
    w.num_requests = Some(3);
    let d = DisaggRequest {
        prefill: pool(1, 8, None),
        decode: pool(1, 8, None),
    };
    let base = run(&plain, d, w).unwrap();
    let base_tpot = base.report.serving.as_ref().unwrap().tpot_ms.mean;
    assert!(
        sv.tpot_ms.mean < base_tpot,
        "{} vs {}",
        sv.tpot_ms.mean,
        base_tpot
    );
    assert!(
        sv.assumptions
            .iter()
            .any(|a| a.contains("decode pool: speculative decoding")),
        "{:?}",
        sv.assumptions
    );
}

#[test]
fn a_long_closed_loop_reports_one_consistent_run_and_says_when_it_is_approximate() {
    // A closed loop of C clients over both pools settles by fixed-point
    // rounds of the two pools' runs. Its figures are of one run (each
    // request's send, first token and finish from the same round), so every
    // TTFT is positive and below its E2E; when the rounds run out the result
    // says so, with the run's mean requests in flight (Little's law: its
    // throughput × mean E2E), which is C for a faithful closed loop. Before,
    // the statistics took the send times of the next round: a 3,000-request
    // DeepSeek-R1 loop on H100s printed a mean TTFT of −18.9 s.
    let check = |r: &EstimateRequest, d: DisaggRequest, w: ServingWorkload, c: u64| {
        let done = run(r, d, w).unwrap();
        let sv = done.report.serving.clone().unwrap();
        assert!(
            sv.ttft_ms.p50 > 0.0 && sv.ttft_ms.mean > 0.0,
            "{:?}",
            sv.ttft_ms
        );
        assert!(
            sv.ttft_ms.mean < sv.e2e_ms.mean,
            "{:?} {:?}",
            sv.ttft_ms,
            sv.e2e_ms
        );
        let in_flight = sv.requests_per_second * sv.e2e_ms.mean / 1e3;
        let flag = sv
            .assumptions
            .iter()
            .find(|a| a.contains("had not settled"));
        if let Some(a) = flag {
            assert!(
                a.contains(&format!("holds {in_flight:.1} requests in flight")),
                "{a}"
            );
        } else {
            // Settled: Little's law within the settle tolerance (3%, ramps).
            assert!(
                close(in_flight, c as f64, 0.05),
                "{in_flight} in flight for {c} clients"
            );
        }
        (in_flight, flag.is_some())
    };
    // Llama-3.1-8B, one prefill and one decode worker of one H100 each:
    // `n` requests of `isl`/`osl` tokens from `c` clients.
    let llama_1p1d = |isl: u64, osl: u64, c: u64, n: u64| {
        let mut w = ServingWorkload::closed(isl, osl, c);
        w.num_requests = Some(n);
        let d = DisaggRequest {
            prefill: pool(1, 1, None),
            decode: pool(1, 1, None),
        };
        check(&req("llama-3.1-8b", "8xH100", "vllm"), d, w, c)
    };
    // 100 waves of 16 clients (an estimate allows a round per wave) settle
    // within 5% of C.
    let (in_flight, flagged) = llama_1p1d(2000, 64, 16, 1600);
    assert!(!flagged && close(in_flight, 16.0, 0.05), "{in_flight}");
    // DeepSeek-R1 on H100s, TensorRT-LLM: one attention-DP prefill worker and
    // three TP 16 decode workers, 50 waves of 30 clients (the launch that
    // printed a negative TTFT at 3,000 requests): settled.
    let mut r = req("deepseek-r1", "8xH100", "trtllm");
    r.weights = Some(WeightFormat::Fp8Block);
    let mut w = ServingWorkload::closed(1024, 1024, 30);
    w.num_requests = Some(1500);
    let d = DisaggRequest {
        prefill: PoolRequest {
            workers: 1,
            tp: Some(1),
            dp: Some(16),
            ep: Some(16),
            ..Default::default()
        },
        decode: PoolRequest {
            workers: 3,
            tp: Some(16),
            ep: Some(16),
            ..Default::default()
        },
    };
    let (in_flight, flagged) = check(&r, d, w, 30);
    assert!(!flagged && close(in_flight, 30.0, 0.05), "{in_flight}");
    // Two clients, 500 waves: more rounds than the estimate's budget of
    // simulated requests allows, and the result says so.
    let (_, flagged) = llama_1p1d(2000, 16, 2, 1000);
    assert!(flagged, "expected the approximate-loop assumption");
}
