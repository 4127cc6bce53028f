//! kvplan's `--engine hf` numbers against what transformers 5.17 really
//! allocated on an H200 (validation/measurements.json, produced by
//! validation/hf_validate.py; see validation/README.md). Runs in CI from the
//! checked-in measurements; no GPU needed.

use kvplan::memory::{kv, weights::param_counts, weights::total_weight_bytes};
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
            let layout = kv::layout(&spec, hf_engine, 1, 0..spec.num_layers);
            // Right after prefill HF holds the whole prompt in every layer (sliding too).
            let predicted =
                b * layout.sequence_bytes(KvDtype::Bf16, s, 1, hf_engine.sliding_window_capped);
            let measured = p["kv_after_prefill"]["storage_bytes"].as_u64().unwrap();
            let err = rel(predicted as f64, measured as f64);
            rows.push(format!("{name:24} {b:>3}×{s:<5} KV predicted {predicted:>14} measured {measured:>14} error {:.3}%", err * 100.0));
            assert!(err < 0.01, "{name} {b}×{s}: KV {predicted} vs {measured}");
        }
    }
    println!("{}", rows.join("\n"));
}
