//! Golden numbers for the vision towers of the Qwen3-VL family, from sources
//! independent of kvplan's code: counts derived by hand in the test from
//! `vision_config` (tests/fixtures/hf-configs/2026, see its SOURCES.md) and
//! the tensor list of HF transformers `models/qwen3_vl/modeling_qwen3_vl.py`
//! (`Qwen3VLVisionModel`: `Qwen3VLVisionPatchEmbed` is a Conv3d with bias,
//! `pos_embed` an nn.Embedding, each `Qwen3VLVisionBlock` two LayerNorms, a
//! fused qkv and a proj with biases and an MLP `linear_fc1`/`linear_fc2`
//! with biases; `Qwen3VLVisionPatchMerger` a LayerNorm over the ViT width,
//! or over the merged width for the DeepStack mergers, then
//! `linear_fc1` merged → merged and `linear_fc2` merged → out_hidden_size),
//! vLLM's `qwen3_vl.py` tensor-parallel split of the tower (default
//! `mm_encoder_tp_mode="weights"`: QKVParallelLinear / ColumnParallelLinear
//! for qkv and fc1, RowParallelLinear for proj and fc2, the Conv3d patch
//! embedding and the position table replicated), and the published
//! parameter totals of the checkpoints.

use kvplan::memory::weights::{param_counts, total_weight_bytes};
use kvplan::spec::dtype::WeightFormat;
use kvplan::spec::hf;
use kvplan::spec::model::ModelSpec;

fn fixture26(name: &str) -> ModelSpec {
    let path = format!(
        "{}/tests/fixtures/hf-configs/2026/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    hf::parse_config(&text, &path).unwrap_or_else(|e| panic!("{e}"))
}

/// `kvplan estimate … --format json` as a value.
fn estimate_json(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .arg("estimate")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Qwen3-VL-2B's `vision_config`: depth 24, hidden 1024, intermediate 4096,
/// patch 16, temporal patch 2, 3 channels, 2304 positions, merge 2,
/// out_hidden_size 2048, deepstack_visual_indexes [5, 11, 17].
/// Parameters of the tower on one GPU of a `tp`-way group.
fn qwen3_vl_2b_vision_params_by_hand(tp: u64) -> u64 {
    let (h, inter, out) = (1024u64, 4096u64, 2048u64);
    let kernel = 3 * 2 * 16 * 16; // Conv3d in_channels × temporal × patch × patch
    let patch_embed = h * kernel + h; // replicated
    let pos_embed = 2304 * h; // replicated
    let block = 2 * 2 * h // norm1, norm2: weight + bias, replicated
        + (3 * h * h + 3 * h) / tp // qkv, column-parallel with its bias
        + h * h / tp + h // proj, row-parallel; its bias replicated
        + (inter * h + inter) / tp // fc1, column-parallel with its bias
        + h * inter / tp + h; // fc2, row-parallel; its bias replicated
    let merged = h * 2 * 2;
    let merger = |norm_width: u64| {
        2 * norm_width + (merged * merged + merged) / tp + merged * out / tp + out
    };
    patch_embed + pos_embed + 24 * block + merger(h) + 3 * merger(merged)
}

/// Qwen3-VL-2B's language model (text_config: hidden 2048, 28 layers, 16
/// query / 8 KV heads of 128, intermediate 6144, vocab 151,936, tied
/// embeddings; Qwen3's per-head q_norm / k_norm) on one GPU of `tp`.
fn qwen3_vl_2b_text_params_by_hand(tp: u64) -> u64 {
    let (h, inter, vocab) = (2048u64, 6144u64, 151_936u64);
    let attn = (h * 16 * 128 + 2 * h * 8 * 128 + 16 * 128 * h) / tp + 2 * 128;
    let mlp = 3 * h * inter / tp;
    let layer = attn + mlp + 2 * h;
    vocab * h / tp + 28 * layer + h
}

#[test]
fn qwen3_vl_2b_vision_tower_counted_by_hand() {
    let vision = qwen3_vl_2b_vision_params_by_hand(1);
    // Written out: patch embed 1,573,888 + positions 2,359,296 + 24 blocks ×
    // 12,596,224 + merger 25,174,016 + 3 DeepStack mergers × 25,180,160.
    assert_eq!(vision, 406_957_056);
    let text = qwen3_vl_2b_text_params_by_hand(1);
    assert_eq!(text, 1_720_574_976);

    let m = fixture26("Qwen--Qwen3-VL-2B-Instruct.json");
    let p = param_counts(&m);
    assert_eq!(p.vision, vision, "vision tower");
    assert_eq!(p.total, text, "language model");
    assert!(!m.vision_tower_uncounted);
    // The bf16 checkpoint holds both, 2 bytes each.
    assert_eq!(
        total_weight_bytes(&m, WeightFormat::Bf16),
        2 * (text + vision)
    );
}

#[test]
fn qwen3_vl_vision_weights_are_on_the_gpu_split_as_vllm_splits_them() {
    for tp in [1u64, 2] {
        let v = estimate_json(&[
            "qwen3-vl-2b",
            "--gpus",
            &format!("{tp}xH100"),
            "--tp",
            &tp.to_string(),
            "--ctx",
            "8k",
        ]);
        let want =
            2 * (qwen3_vl_2b_text_params_by_hand(tp) + qwen3_vl_2b_vision_params_by_hand(tp));
        assert_eq!(
            v["memory_per_gpu"]["weights_bytes"].as_u64().unwrap(),
            want,
            "TP {tp}"
        );
        assert_eq!(v["model"]["params_vision"].as_u64().unwrap(), 406_957_056);
        let notes = v["assumptions"].to_string();
        assert!(
            notes.contains("vision tower counted from vision_config (406,957,056 params"),
            "{notes}"
        );
        assert!(!notes.contains("vision tower is not counted"), "{notes}");
    }
    // TP 2 by hand, written out: text 860,349,440 + vision 205,536,256 params.
    assert_eq!(qwen3_vl_2b_text_params_by_hand(2), 860_349_440);
    assert_eq!(qwen3_vl_2b_vision_params_by_hand(2), 205_536_256);
}

#[test]
fn qwen3_vl_totals_match_the_published_counts() {
    // Qwen3-VL-8B-Instruct (untied head): "about 8.77 billion" parameters in
    // the release coverage of 15 Oct 2025 (https://aisight.pl/?p=9918, from
    // the checkpoint's safetensors total; haimaker.ai lists 8.8B); the
    // checkpoint total is the language model plus the tower.
    let m = fixture26("Qwen--Qwen3-VL-8B-Instruct.json");
    let p = param_counts(&m);
    let both = (p.total + p.vision) as f64 / 1e9;
    assert!((both - 8.77).abs() <= 0.005, "counted {both:.4}B");
    // The 8B's tower (depth 27, hidden 1152, intermediate 4304, out 4096)
    // by hand: patch embed 1152 × 1536 + 1152, positions 2304 × 1152, 27
    // blocks, a merger and 3 DeepStack mergers over 4608.
    let (h, i, o, mg) = (1152u64, 4304u64, 4096u64, 4608u64);
    let block = 4 * h + 3 * h * h + 3 * h + h * h + h + i * h + i + h * i + h;
    let merger = |nw: u64| 2 * nw + mg * mg + mg + mg * o + o;
    let by_hand = h * 1536 + h + 2304 * h + 27 * block + merger(h) + 3 * merger(mg);
    assert_eq!(p.vision, by_hand);

    // The MoE names count the language model: 235B-A22B and 30B-A3B (to
    // the nearest billion, as the names round).
    for (file, total_b, active_b) in [
        ("Qwen--Qwen3-VL-235B-A22B-Instruct.json", 235.0, 22.0),
        ("Qwen--Qwen3-VL-30B-A3B-Instruct.json", 30.0, 3.0),
    ] {
        let p = param_counts(&fixture26(file));
        let (t, a) = (p.total as f64 / 1e9, p.active as f64 / 1e9);
        assert!((t - total_b).abs() <= 0.6, "{file}: total {t:.2}B");
        assert!((a - active_b).abs() <= 0.5, "{file}: active {a:.2}B");
        assert!(p.vision > 500_000_000, "{file}: tower {}", p.vision);
    }
}

#[test]
fn other_vision_language_models_say_their_tower_is_not_counted() {
    // Gemma-4 and Kimi-K2.5 carry a vision_config kvplan does not model.
    for name in ["gemma-4-26b-a4b", "kimi-k2.5"] {
        let v = estimate_json(&[name, "--gpus", "8xH200", "--ctx", "8k"]);
        assert_eq!(v["model"]["params_vision"].as_u64(), Some(0), "{name}");
        let notes = v["assumptions"].to_string();
        assert!(
            notes.contains("vision tower is not counted"),
            "{name}: {notes}"
        );
    }
    // A text-only model says neither.
    let v = estimate_json(&["qwen3-32b", "--gpus", "H200", "--ctx", "8k"]);
    let notes = v["assumptions"].to_string();
    assert!(!notes.contains("vision tower"), "{notes}");
}

#[test]
fn qwen3_5_vision_tower_is_qwen3_vl_without_deepstack() {
    // HF transformers `models/qwen3_5/modular_qwen3_5.py` (@ 009e78d6e8):
    // `Qwen3_5VisionModel(Qwen3VLVisionModel)` deletes
    // `deepstack_merger_list`; vLLM's `qwen3_5.py` runs the same
    // `Qwen3_VisionTransformer` as Qwen3-VL. Qwen3.5-397B-A17B's
    // vision_config: depth 27, hidden 1152, intermediate 4304, out 4096.
    let (h, i, o, mg) = (1152u64, 4304u64, 4096u64, 4608u64);
    let block = 4 * h + 3 * h * h + 3 * h + h * h + h + i * h + i + h * i + h;
    let merger = 2 * h + mg * mg + mg + mg * o + o;
    let by_hand = h * 1536 + h + 2304 * h + 27 * block + merger;
    assert_eq!(by_hand, 456_010_480);
    let m = fixture26("Qwen--Qwen3.5-397B-A17B.json");
    assert_eq!(param_counts(&m).vision, by_hand);

    // ModelOpt's NVFP4 checkpoint excludes `model.visual*` (its
    // hf_quant_config.json exclude_modules): the tower stays bf16, 2 bytes
    // per parameter, on top of the NVFP4 language model.
    let q = kvplan::spec::Catalog::builtin()
        .unwrap()
        .model("qwen3.5-397b-a17b-nvfp4")
        .unwrap()
        .clone();
    let format = q.checkpoint_format.expect("NVFP4 checkpoint");
    let mut text_only = q.clone();
    text_only.vision_encoder = None;
    assert_eq!(
        total_weight_bytes(&q, format) - total_weight_bytes(&text_only, format),
        2 * by_hand
    );
}
