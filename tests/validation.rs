//! kvplan's `--engine hf` / `--engine hf-graph` numbers against what
//! transformers 5.17 really allocated and how long its decode steps took on an
//! H200 (validation/measurements.json, produced by validation/hf_validate.py;
//! see validation/README.md). Runs in CI from the checked-in measurements; no
//! GPU needed. `cargo test --test validation -- --nocapture` prints the tables.

use kvplan::memory::{self, kv, weights::param_counts, weights::total_weight_bytes};
use kvplan::perf::{decode_step, Efficiency};
use kvplan::request::{resolve, EstimateRequest, Tokens};
use kvplan::scenario::Scenario;
use kvplan::spec::dtype::{KvDtype, WeightFormat};
use kvplan::spec::{hf, Catalog};
use serde_json::Value;

fn measurements() -> Value {
    let p = format!(
        "{}/validation/measurements.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b
}

#[test]
fn weights_and_kv_within_one_percent() {
    let m = measurements();
    let catalog = Catalog::builtin().unwrap();
    let hf_engine = catalog.engine("hf").unwrap();
    let cases = m["cases"].as_array().unwrap();
    assert!(cases.len() >= 8, "expected the 8 validation cases");
    let mut rows = Vec::new();
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let cfg_path = format!(
            "{}/validation/{}",
            env!("CARGO_MANIFEST_DIR"),
            c["config_file"].as_str().unwrap()
        );
        let spec =
            hf::parse_config(&std::fs::read_to_string(&cfg_path).unwrap(), &cfg_path).unwrap();
        // Parameters: PyTorch's numel over the built model (ties counted once).
        // transformers registers DeepSeek-V3's e_score_correction_bias as a buffer,
        // not a parameter; the checkpoint stores it, so kvplan counts it.
        let score_bias = spec
            .moe
            .as_ref()
            .filter(|m| m.router_score_bias)
            .map_or(0, |m| spec.moe_layers() * m.num_experts);
        let measured_params = c["build"]["param_count"].as_u64().unwrap() + score_bias;
        let counted = param_counts(&spec).total;
        assert_eq!(counted, measured_params, "{name}: parameter count");
        let measured_bytes = c["build"]["param_bytes"].as_u64().unwrap() as f64;
        let bytes = total_weight_bytes(&spec, WeightFormat::Bf16) as f64;
        assert!(
            rel(bytes, measured_bytes) < 0.01,
            "{name}: weights {bytes} vs {measured_bytes}"
        );
        for p in c["points"].as_array().unwrap() {
            let (b, s) = (
                p["batch"].as_u64().unwrap(),
                p["prompt_len"].as_u64().unwrap(),
            );
            let layout =
                kv::KvLayout::build(&spec, hf_engine, KvDtype::Bf16, 1, 0..spec.num_layers);
            // Right after prefill HF holds the whole prompt in every layer (sliding too).
            let predicted = b * layout
                .clone()
                .with_policy(1, hf_engine.sliding_window_capped)
                .sequence_bytes(s);
            let measured = p["kv_after_prefill"]["storage_bytes"].as_u64().unwrap();
            let err = rel(predicted as f64, measured as f64);
            rows.push(format!("{name:24} {b:>3}×{s:<5} KV predicted {predicted:>14} measured {measured:>14} error {:.3}%", err * 100.0));
            assert!(err < 0.01, "{name} {b}×{s}: KV {predicted} vs {measured}");
        }
    }
    println!("{}", rows.join("\n"));
}

/// A compared quantity and its tolerance (issue 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    /// Generate-style prefill: peak allocated above the base (activations + the KV built).
    Prefill,
    /// Default eager decode loop (DynamicCache), wall median.
    Eager,
    /// StaticCache decode step replayed as a CUDA graph, median.
    Graph,
}

impl Column {
    fn tolerance(self) -> f64 {
        match self {
            Column::Prefill => 0.15,
            Column::Eager | Column::Graph => 0.20,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Column::Prefill => "prefill peak",
            Column::Eager => "eager decode",
            Column::Graph => "graph decode",
        }
    }
}

/// Cases and columns where some point is outside its tolerance, and why
/// (README "How accurate is kvplan?" names each). The test fails when one of
/// these is no longer needed, or when any other point is out of tolerance.
const EXCEPTIONS: &[(&str, Column, &str)] = &[
    (
        "mistral-7b-v0.1",
        Column::Eager,
        "cuDNN SDPA's per-step host cost (32–89 ms for every other model) does not appear: eager ≈ the no-cuDNN loop",
    ),
    (
        "llama-3.1-8b",
        Column::Eager,
        "host-bound loop: 75–110 ms for near-identical host work between points",
    ),
    (
        "qwen2.5-7b",
        Column::Eager,
        "host-bound loop: 68–114 ms for near-identical host work between points",
    ),
    (
        "qwen2.5-0.5b-instruct",
        Column::Eager,
        "host-bound loop: 70–100 ms for near-identical host work between points",
    ),
    (
        "deepseek-v2-lite",
        Column::Eager,
        "host-bound loop: 119–193 ms between points",
    ),
    (
        "deepseek-v3-4layers",
        Column::Eager,
        "host time grows with batch (51 → 102 ms) while the GPU stays below it; a per-step + per-layer host cost cannot follow",
    ),
    (
        "gemma-2-9b",
        Column::Graph,
        "Gemma-2 layers run four fp32 RMSNorms (twice Llama's) and the per-layer fixed cost is one number for the engine",
    ),
];

fn scenario(catalog: &Catalog, config: &str, engine: &str, ctx: u64, batch: u64) -> Scenario {
    let req = EstimateRequest {
        model: config.into(),
        gpus: "H200".into(),
        ctx: Some(Tokens::Number(ctx)),
        batch: Some(batch),
        weights: Some(kvplan::spec::dtype::WeightFormat::Bf16),
        kv_dtype: Some(kvplan::spec::dtype::KvDtype::Bf16),
        engine: Some(kvplan::spec::engine_id::EngineId::parse(engine).unwrap()),
        ..Default::default()
    };
    let load = |path: &str| {
        let text = std::fs::read_to_string(path).unwrap();
        hf::parse_config(&text, path)
    };
    resolve(&req, catalog, &load).unwrap().scenario
}

struct Row {
    case: String,
    batch: u64,
    prompt: u64,
    /// (predicted, measured) per column.
    values: Vec<(Column, f64, f64)>,
}

fn compare() -> Vec<Row> {
    let m = measurements();
    let catalog = Catalog::builtin().unwrap();
    let eff = Efficiency::default();
    let mut rows = Vec::new();
    for c in m["cases"].as_array().unwrap() {
        let case = c["name"].as_str().unwrap();
        let cfg = format!(
            "{}/validation/{}",
            env!("CARGO_MANIFEST_DIR"),
            c["config_file"].as_str().unwrap()
        );
        for p in c["points"].as_array().unwrap() {
            let (b, s) = (
                p["batch"].as_u64().unwrap(),
                p["prompt_len"].as_u64().unwrap(),
            );
            let f = |path: &[&str]| {
                path.iter()
                    .fold(p, |v, k| &v[*k])
                    .as_f64()
                    .unwrap_or_else(|| panic!("{case} {b}×{s}: no {path:?}"))
            };
            // Prefill: the activation peak plus the KV cache it has built.
            let hf_s = scenario(&catalog, &cfg, "hf", s, b);
            let plan = memory::plan(&hf_s);
            let st = plan.binding_stage();
            let prefill = (st.activation_bytes + st.kv_cache_bytes) as f64;
            // Eager decode at the prompt length (DynamicCache).
            let eager = decode_step(&hf_s, &plan, &eff).seconds * 1e3;
            // Graph decode: a StaticCache attends over its whole max_cache_len.
            let max_cache_len = f(&["decode_graph", "max_cache_len"]) as u64;
            let g_s = scenario(&catalog, &cfg, "hf-graph", max_cache_len, b);
            let graph = decode_step(&g_s, &memory::plan(&g_s), &eff).seconds * 1e3;
            rows.push(Row {
                case: case.to_string(),
                batch: b,
                prompt: s,
                values: vec![
                    (Column::Prefill, prefill, f(&["prefill", "peak_minus_base"])),
                    (Column::Eager, eager, f(&["decode_eager", "wall_ms_median"])),
                    (
                        Column::Graph,
                        graph,
                        f(&["decode_graph", "replay_ms_median"]),
                    ),
                ],
            });
        }
    }
    rows
}

fn err(pred: f64, meas: f64) -> f64 {
    (pred - meas) / meas
}

fn excepted(case: &str, col: Column) -> bool {
    EXCEPTIONS.iter().any(|(c, k, _)| *c == case && *k == col)
}

#[test]
fn prefill_peak_and_decode_step_within_tolerance() {
    let rows = compare();
    assert_eq!(rows.len(), 34, "every measured point is compared");
    let gb = |x: f64| format!("{:.2}", x / 1e9);
    let ms = |x: f64| format!("{x:.1}");
    let mut table = vec![
        "| case | B×S | prefill peak GB: kvplan / measured | err | eager ms: kvplan / measured | err | graph ms: kvplan / measured | err |".to_string(),
        "|---|---|---|---|---|---|---|---|".to_string(),
    ];
    let mut failures = Vec::new();
    for r in &rows {
        let mut cells = vec![r.case.clone(), format!("{}×{}", r.batch, r.prompt)];
        for &(col, pred, meas) in &r.values {
            let e = err(pred, meas);
            let out = e.abs() > col.tolerance();
            let fmt = if col == Column::Prefill { gb } else { ms };
            cells.push(format!("{} / {}", fmt(pred), fmt(meas)));
            cells.push(format!("{:+.1}%{}", e * 100.0, if out { " ✗" } else { "" }));
            if out && !excepted(&r.case, col) {
                failures.push(format!(
                    "{} {}×{} {}: kvplan {pred:.4e} vs measured {meas:.4e} ({:+.1}%, tolerance {:.0}%)",
                    r.case,
                    r.batch,
                    r.prompt,
                    col.name(),
                    e * 100.0,
                    col.tolerance() * 100.0
                ));
            }
        }
        table.push(format!("| {} |", cells.join(" | ")));
    }
    // Each listed exception must still be needed.
    for (case, col, why) in EXCEPTIONS {
        let needed = rows.iter().filter(|r| r.case == *case).any(|r| {
            r.values
                .iter()
                .any(|&(c, p, m)| c == *col && err(p, m).abs() > col.tolerance())
        });
        if !needed {
            failures.push(format!(
                "exception ({case}, {}) is no longer needed: every point is within tolerance ({why})",
                col.name()
            ));
        }
    }
    println!("{}", table.join("\n"));
    println!("\n✗ = outside tolerance (prefill 15%, decode 20%). Known exceptions:");
    for (case, col, why) in EXCEPTIONS {
        println!("- {case}, {}: {why}", col.name());
    }
    // Per-column summary.
    for col in [Column::Prefill, Column::Eager, Column::Graph] {
        let errs: Vec<f64> = rows
            .iter()
            .flat_map(|r| r.values.iter())
            .filter(|v| v.0 == col)
            .map(|v| err(v.1, v.2).abs())
            .collect();
        let within = errs.iter().filter(|e| **e <= col.tolerance()).count();
        println!(
            "{}: {within}/{} points within {:.0}%, median |error| {:.1}%, max {:.1}%",
            col.name(),
            errs.len(),
            col.tolerance() * 100.0,
            median(&errs) * 100.0,
            errs.iter().cloned().fold(0.0, f64::max) * 100.0
        );
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
