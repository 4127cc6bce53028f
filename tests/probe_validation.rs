//! The probe's validation table, from checked-in H200 measurements
//! (probe/validation/*.json, written by `kvplan probe … --report` on an
//! H200; commands in probe/NOTES.md): after calibrating on the probe's own
//! component measurements (one GEMM time model, one attention bandwidth per
//! kernel shape, the graph kernel floor — a handful of numbers per GPU),
//! kvplan's kernel-by-kernel roofline must predict each measured whole decode
//! step (CUDA graph, all layers) within ±15%. Runs in CI; no GPU needed.

use kvplan::calibration::Calibration;
use kvplan::measure::shard;
use kvplan::measure::ProbeRun;
use kvplan::perf::Efficiency;
use kvplan::request::{resolve, EstimateRequest, Tokens};
use kvplan::spec::Catalog;

/// Points allowed outside ±15% (but within ±20%), each with its reason; the
/// test fails if one of them comes back inside ±15% (then remove it) or if
/// any other point leaves ±15%. Empty since the fused MLA run: with its
/// samples in the calibration every point is within ±15%.
const EXCEPTIONS: &[(&str, u64, u64, &str)] = &[];

fn runs() -> Vec<ProbeRun> {
    let mut all = Vec::new();
    for f in ["llama", "moe", "mla-fused"] {
        let p = format!("{}/probe/validation/{f}.json", env!("CARGO_MANIFEST_DIR"));
        let v: Vec<ProbeRun> = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        all.extend(v);
    }
    all
}

#[test]
fn calibrated_model_predicts_the_measured_decode_step() {
    let runs = runs();
    assert!(
        runs.len() >= 9,
        "a dense GQA, an MoE and an MLA model at several points"
    );
    let reports: Vec<_> = runs.iter().map(|r| r.report.clone()).collect();
    // H200 datasheet: 4.8 TB/s, 989 TFLOP/s dense bf16 (gpu-specs/H200.yaml).
    let cal = Calibration::from_reports(&reports, 4.8e12, 989e12);
    let catalog = Catalog::builtin().unwrap();
    let mut rows = Vec::new();
    let mut worst: f64 = 0.0;
    for r in &runs {
        let req = EstimateRequest {
            model: r.model.clone(),
            gpus: r.gpus.clone(),
            ctx: Some(Tokens::Number(r.context)),
            batch: Some(r.batch),
            weights: Some(kvplan::spec::dtype::WeightFormat::parse(&r.weights, "weights").unwrap()),
            tp: Some(r.tp),
            ..Default::default()
        };
        let s = resolve(&req, &catalog, &|_| unreachable!())
            .unwrap()
            .scenario;
        let calibrated = Efficiency::from_calibration(&cal, &s, "probe/validation");
        let default = Efficiency::default();
        let measured = r.report.decode_step.seconds;
        let pred = shard::predict(&r.report.request, &s, &calibrated)
            .decode_step_s
            .unwrap();
        let pred0 = shard::predict(&r.report.request, &s, &default)
            .decode_step_s
            .unwrap();
        let err = (pred - measured) / measured;
        let err0 = (pred0 - measured) / measured;
        let exception = EXCEPTIONS
            .iter()
            .find(|(m, b, c, _)| *m == r.model && *b == r.batch && *c == r.context);
        match exception {
            Some((_, _, _, why)) => {
                assert!(
                    err.abs() > 0.15,
                    "{} {}×{} is within ±15% now: drop it from EXCEPTIONS",
                    r.model,
                    r.batch,
                    r.context
                );
                assert!(
                    err.abs() <= 0.20,
                    "{} {}×{}: {:.1}% even beyond the exception's ±20% ({why})",
                    r.model,
                    r.batch,
                    r.context,
                    err * 100.0
                );
            }
            None => worst = worst.max(err.abs()),
        }
        rows.push(format!(
            "{:18} {:>3}×{:<6} measured {:7.2} ms  calibrated {:7.2} ms ({:+5.1}%)  uncalibrated {:7.2} ms ({:+5.1}%)",
            r.model,
            r.batch,
            r.context,
            measured * 1e3,
            pred * 1e3,
            err * 100.0,
            pred0 * 1e3,
            err0 * 100.0
        ));
    }
    println!("{}", rows.join("\n"));
    assert!(
        worst <= 0.15,
        "worst calibrated error {:.1}% exceeds ±15%:\n{}",
        worst * 100.0,
        rows.join("\n")
    );
}

#[test]
fn measured_allreduce_sets_the_link_efficiency() {
    // A profile with an NCCL sample: 360 GB/s bus bandwidth over H200 NVLink
    // (900 GB/s bidirectional = 450 GB/s one way, gpu-specs/H200.yaml) → 0.8.
    let text = std::fs::read_to_string(format!(
        "{}/profiles/gpus/H200.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut cal: Calibration = kvplan::yaml::from_str(&text, "H200.yaml").unwrap();
    cal.allreduce = vec![kvplan::calibration::AllReduceEntry {
        gpus: 2,
        bytes: 1 << 30,
        seconds: 0.003,
        busbw_bytes_per_s: 360e9,
    }];
    let catalog = Catalog::builtin().unwrap();
    let req = EstimateRequest {
        model: "llama-3.1-8b".into(),
        gpus: "2xH200".into(),
        ctx: Some(Tokens::Number(4096)),
        ..Default::default()
    };
    let s = resolve(&req, &catalog, &|_| unreachable!())
        .unwrap()
        .scenario;
    let eff = Efficiency::from_calibration(&cal, &s, "test");
    assert!((eff.link - 0.8).abs() < 1e-9, "{}", eff.link);
    cal.allreduce.clear();
    assert_eq!(
        Efficiency::from_calibration(&cal, &s, "test").link,
        Efficiency::default().link
    );
}

/// The hybrid points (probe/validation/hybrid.json, H200, `kvplan probe
/// qwen3.5-35b-a3b --points 16x4k,64x32k`, `qwen3-next-80b-a3b --weights fp8
/// --points 16x8k`, `nemotron-3-nano-30b-a3b --points 16x8k`): the probe
/// allocated each plan's attention cache for the attention layers only and
/// the linear-attention / Mamba2 state for the rest, the request kvplan
/// builds today is the one that was measured, and kvplan's uncalibrated
/// decode step is within ±35% of the measured one (the H200 calibration
/// holds no sample of these attention shapes; measured −0.1% to −32%).
#[test]
fn hybrid_points_allocate_the_state_and_time_the_attention_layers_only() {
    let p = format!(
        "{}/probe/validation/hybrid.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let runs: Vec<ProbeRun> = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    assert_eq!(runs.len(), 4);
    let catalog = Catalog::builtin().unwrap();
    for r in &runs {
        let q = &r.report.request;
        let req = EstimateRequest {
            model: r.model.clone(),
            gpus: r.gpus.clone(),
            ctx: Some(Tokens::Number(r.context)),
            batch: Some(r.batch),
            weights: Some(kvplan::spec::dtype::WeightFormat::parse(&r.weights, "weights").unwrap()),
            tp: Some(r.tp),
            ..Default::default()
        };
        let res = resolve(&req, &catalog, &|_| unreachable!()).unwrap();
        let s = &res.scenario;
        let mem = kvplan::memory::plan(s);
        let today = shard::request(
            s,
            &mem,
            &Efficiency::default(),
            s.batch_per_replica(),
            r.context,
            q.safety_margin_bytes,
            q.device_index,
        );
        assert_eq!(
            (
                today.layers,
                today.attention_layers,
                today.state_bytes,
                today.kv_cache_bytes
            ),
            (
                q.layers,
                q.attention_layers,
                q.state_bytes,
                q.kv_cache_bytes
            ),
            "{} {}×{}: the request changed since it was measured",
            r.model,
            r.batch,
            r.context
        );
        let measured = r.report.decode_step.seconds;
        let pred = shard::predict(q, s, &Efficiency::default())
            .decode_step_s
            .unwrap();
        let err = (pred - measured) / measured;
        println!(
            "{} {}×{}: {} of {} layers attend, state {:.2} GiB; decode step {:.2} ms measured, {:.2} ms predicted ({:+.1}%)",
            r.model,
            r.batch,
            r.context,
            q.attending_layers(),
            q.layers,
            q.state_bytes as f64 / (1u64 << 30) as f64,
            measured * 1e3,
            pred * 1e3,
            100.0 * err
        );
        assert!(
            err.abs() <= 0.35,
            "{} {}×{}: {err:+.3}",
            r.model,
            r.batch,
            r.context
        );
    }
    // Qwen3.5-35B-A3B at 16 × 4,000 by hand (config.json text_config: 40 layers, every
    // 4th full attention with 2 KV heads × 256; 30 Gated DeltaNet layers, 16 key and 32
    // value heads × 128, conv kernel 4, fp32 recurrent state): per sequence and state
    // layer 3 × (2·16·128 + 32·128) bf16 conv values + 32 × 128 × 128 fp32 values.
    let q = &runs[0].report.request;
    assert_eq!((runs[0].batch, runs[0].context), (16, 4000));
    let state = 16 * 30 * (3 * (2 * 16 * 128 + 32 * 128) * 2 + 32 * 128 * 128 * 4);
    assert_eq!(q.state_bytes, state);
    assert_eq!(q.kv_cache_bytes, 10 * (2 * 256 * 2 * 2) * 16 * 4000 + state);
    // The 64 × 32,000 point allocated 42.90 GiB of cache and state on the GPU, where
    // 40 layers of cache (156.25 GiB) would not fit it.
    let big = &runs[1].report.request;
    assert_eq!(
        big.kv_cache_bytes,
        10 * (2 * 256 * 2 * 2) * 64 * 32_000 + 64 * 30 * 2_146_304
    );
    assert!(runs[1].report.memory.kv_cache_bytes == big.kv_cache_bytes);
}
