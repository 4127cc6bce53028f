//! Golden numbers for the 2025–2026 families, each from a source independent
//! of kvplan's code: the checkpoint names and model cards (total / active
//! parameters, within the rounding the name uses), a count derived by hand in
//! the test from the config.json fields (tests/fixtures/hf-configs/2026, see
//! its SOURCES.md) and the HF modeling classes' tensor lists, KV bytes per
//! token and state bytes per sequence from the engines' cache shapes, and
//! checkpoint bytes from each format's tensor layout.

mod common;
use kvplan::memory::kv;
use kvplan::memory::weights::{param_counts, total_weight_bytes};
use kvplan::spec::dtype::{KvDtype, WeightFormat};
use kvplan::spec::model::ModelSpec;
use kvplan::spec::{hf, Catalog};

fn fixture26(name: &str) -> ModelSpec {
    let path = format!(
        "{}/tests/fixtures/hf-configs/2026/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    hf::parse_config(&text, &path).unwrap_or_else(|e| panic!("{e}"))
}

/// `got` is within `tol` billions of `billions`.
fn near_b(got: u64, billions: f64, tol: f64, what: &str) {
    let g = got as f64 / 1e9;
    assert!(
        (g - billions).abs() <= tol,
        "{what}: counted {g:.3}B, name/card {billions}B (±{tol}B)"
    );
}

/// Whole-model KV bytes per token and fixed state per sequence (one GPU, no TP).
fn kv_and_state(m: &ModelSpec, dtype: KvDtype) -> (u64, u64) {
    let c = Catalog::builtin().unwrap();
    let e = c.engine("vllm").unwrap();
    let l = kv::KvLayout::build(m, e, dtype, 1, 0..m.num_layers);
    (l.bytes_per_token(), l.state_bytes_per_sequence())
}

#[test]
fn qwen3_5_397b_gated_deltanet_hybrid() {
    // Qwen--Qwen3.5-397B-A17B.json text_config: hidden 4096, 60 layers, layer_types
    // 3 linear_attention : 1 full_attention; full attention 32 heads × 256, 2 KV heads,
    // attn_output_gate (q_proj emits query + gate), q/k RMSNorm of 256; Gated DeltaNet
    // 16 key heads × 128, 64 value heads × 128, conv kernel 4 (HF Qwen3NextGatedDeltaNet:
    // in_proj_qkvz, in_proj_ba, conv1d without bias, dt_bias, A_log, norm, out_proj);
    // MoE 512 experts top-10 of width 1024, one shared expert of 1024 with a sigmoid gate;
    // vocab 248320, untied.
    let h = 4096u64;
    let full = h * (2 * 32 * 256) + 2 * h * (2 * 256) + (32 * 256) * h + 2 * 256;
    let (kd, vd) = (16 * 128u64, 64 * 128u64);
    let conv_dim = 2 * kd + vd;
    let gdn = h * (2 * kd + 2 * vd) + h * (2 * 64) + conv_dim * 4 + 64 + 64 + 128 + vd * h;
    let expert = 3 * h * 1024;
    let moe = 512 * expert + expert + h /*shared gate*/ + 512 * h /*router*/;
    let norms = 2 * h;
    let expected = 15 * (full + moe + norms) + 45 * (gdn + moe + norms) + 2 * 248_320 * h + h;
    let m = fixture26("Qwen--Qwen3.5-397B-A17B.json");
    let p = param_counts(&m);
    assert_eq!(p.total, expected);
    assert_eq!(p.active, expected - 60 * (512 - 10) * expert);
    // Name "397B-A17B" (rounded; the name also counts the vision encoder, which
    // kvplan leaves out as it holds no KV and is small next to the LM).
    near_b(p.total, 397.0, 1.0, "Qwen3.5-397B total");
    near_b(p.active, 17.0, 0.5, "Qwen3.5-397B active");
    // KV: 15 full layers × 2 KV heads × (K+V) × 256 × 2 B.
    // State (vLLM gated_delta_net_state_shape): conv (kernel − 1) × conv_dim in bf16 +
    // recurrent 64 value heads × 128 × 128 in mamba_ssm_dtype float32, per linear layer.
    let (kv_tok, state) = kv_and_state(&m, KvDtype::Bf16);
    assert_eq!(kv_tok, 15 * 2 * 2 * 256 * 2);
    assert_eq!(state, 45 * (3 * conv_dim * 2 + 64 * 128 * 128 * 4));
    assert_eq!(state, 192_061_440);
    assert_eq!(m.state_bytes_per_sequence(), state);
}

#[test]
fn qwen3_5_family_names() {
    for (f, total, active) in [
        ("Qwen--Qwen3.5-122B-A10B.json", 122.0, 10.0),
        ("Qwen--Qwen3.5-35B-A3B.json", 35.0, 3.0),
        ("Qwen--Qwen3.6-35B-A3B.json", 35.0, 3.0),
        ("Qwen--Qwen3-Next-80B-A3B-Thinking.json", 80.0, 3.0),
        ("Qwen--Qwen3.8-2.4T-A95B.json", 2400.0, 95.0),
    ] {
        let m = fixture26(f);
        let p = param_counts(&m);
        near_b(p.total, total, total * 0.012, f);
        // Qwen's "A<n>B" rounds the active count with or without the embedding
        // and head (Qwen3-Next-80B-A3B: 3.25B without, 3.87B with): the name lies
        // between the two, give or take the rounding.
        let head = if m.tie_word_embeddings {
            0
        } else {
            p.embedding
        };
        let lo = (p.active - p.embedding - head) as f64 / 1e9 - 0.5;
        let hi = p.active as f64 / 1e9 + 0.5;
        assert!(
            lo <= active && active <= hi,
            "{f}: A{active}B outside [{lo:.2}, {hi:.2}]"
        );
    }
}

#[test]
fn minimax_m2_5_gqa_moe() {
    // MiniMaxAI--MiniMax-M2.5.json: hidden 3072, 62 layers, 48 heads × 128, 8 KV heads,
    // qk_norm_type per_layer (q_norm over 48 × 128, k_norm over 8 × 128), 256 experts
    // top-8 of width 1536 (intermediate_size), sigmoid router with e_score_correction_bias
    // (use_routing_bias), no shared expert, vocab 200064 untied; 3 MTP modules (not counted).
    let h = 3072u64;
    let attn = h * 48 * 128 + 2 * h * 8 * 128 + 48 * 128 * h + 48 * 128 + 8 * 128;
    let expert = 3 * h * 1536;
    let layer = attn + 256 * expert + 256 * h + 256 + 2 * h;
    let expected = 62 * layer + 2 * 200_064 * h + h;
    let m = fixture26("MiniMaxAI--MiniMax-M2.5.json");
    let p = param_counts(&m);
    assert_eq!(p.total, expected);
    assert_eq!(p.active, expected - 62 * (256 - 8) * expert);
    // MiniMax's card: 230B total, 10B active (non-embedding).
    near_b(p.total, 230.0, 1.5, "MiniMax-M2.5 total");
    near_b(p.active - 2 * 200_064 * h, 10.0, 0.3, "MiniMax-M2.5 active");
    assert_eq!(m.mtp_layers, 3);
    assert_eq!(kv_and_state(&m, KvDtype::Bf16), (62 * 8 * 2 * 128 * 2, 0));
    // The fp8 checkpoint: block-128 scales, lm_head kept 16-bit (modules_to_not_convert).
    assert_eq!(m.checkpoint_format, Some(WeightFormat::Fp8Block));
}

#[test]
fn glm_5_mla_with_dsa_indexer() {
    // zai-org--GLM-5.json: hidden 6144, 78 layers (first 3 dense, width 12288), MLA
    // q_lora 2048, kv_lora 512, qk_nope 192, rope 64, v 256, 64 heads; DSA indexer
    // 32 heads × 128 (DeepSeek-V3.2 Indexer: wq_b, wk, LayerNorm k_norm with bias,
    // weights_proj); 256 experts top-8 of 2048 + 1 shared; noaux_tc router bias;
    // vocab 154880 untied.
    let h = 6144u64;
    let mla =
        h * 2048 + 2048 + 2048 * 64 * 256 + h * 576 + 512 + 512 * 64 * (192 + 256) + 64 * 256 * h;
    let indexer = 2048 * 32 * 128 + h * 128 + 2 * 128 + h * 32;
    let expert = 3 * h * 2048;
    let moe = 256 * expert + expert + 256 * h + 256;
    let dense = 3 * h * 12288;
    let expected = 3 * (mla + indexer + dense + 2 * h)
        + 75 * (mla + indexer + moe + 2 * h)
        + 2 * 154_880 * h
        + h;
    let m = fixture26("zai-org--GLM-5.json");
    let p = param_counts(&m);
    assert_eq!(p.total, expected);
    // Z.ai: GLM-5 has 744B parameters, 40B active (non-embedding).
    near_b(p.total, 744.0, 1.0, "GLM-5 total");
    near_b(p.active - 2 * 154_880 * h, 40.0, 0.5, "GLM-5 active");
    // KV: the MLA latent (512 + 64) per layer, plus the DSA indexer's key cache on
    // every layer with its own indexer: 128 fp8 values + one fp32 scale per 128 =
    // 132 B (vLLM deepseek_v2.py DeepseekV32IndexerCache: MLAAttentionSpec, one head,
    // head_size = index_head_dim + index_head_dim / 128 × 4, uint8), fp8 whatever the
    // KV dtype. An fp8 latent is fp8_ds_mla: 512 fp8 + 4 fp32 scales + 64 bf16 = 656 B.
    assert_eq!(kv_and_state(&m, KvDtype::Bf16).0, 78 * (576 * 2 + 132));
    assert_eq!(
        kv_and_state(&m, KvDtype::Fp8).0,
        78 * (512 + 16 + 128 + 132)
    );
    // GLM-5.2 shares the indexer on `indexer_types: shared` layers: fewer weights.
    let p52 = param_counts(&fixture26("zai-org--GLM-5.2.json"));
    let shared = 57; // layers marked "shared" in indexer_types (counted in the file)
    let listed = fixture26("zai-org--GLM-5.2.json")
        .indexer
        .unwrap()
        .shared_layers
        .len() as u64;
    assert_eq!(listed, shared);
    assert_eq!(p.total - p52.total, shared * indexer);
    // …and no indexer keys on those layers.
    let m52 = fixture26("zai-org--GLM-5.2.json");
    assert_eq!(
        kv_and_state(&m52, KvDtype::Bf16).0,
        78 * 576 * 2 + (78 - shared) * 132
    );
}

#[test]
fn deepseek_v3_2_kv_with_indexer_keys() {
    // deepseek-ai--DeepSeek-V3.2.json: 61 layers, MLA kv_lora 512 + rope 64, indexer
    // index_head_dim 128 on every layer: bf16 61 × (1,152 + 132) = 78,324 B/token; the
    // MLA latent and the indexer keys are not split by TP (one KV head each).
    let m = fixture26("deepseek-ai--DeepSeek-V3.2.json");
    assert_eq!(kv_and_state(&m, KvDtype::Bf16), (61 * (1152 + 132), 0));
    assert_eq!(kv_and_state(&m, KvDtype::Bf16).0, 78_324);
    let c = Catalog::builtin().unwrap();
    let e = c.engine("vllm").unwrap();
    let tp8 = kv::KvLayout::build(&m, e, KvDtype::Fp8, 8, 0..m.num_layers);
    assert_eq!(tp8.bytes_per_token(), 61 * (656 + 132));
}

#[test]
fn kimi_k2_5_int4_group32_checkpoint_bytes() {
    // moonshotai--Kimi-K2.5.json text_config: the Kimi-K2 architecture (kvplan's reference
    // count 1026.41B / 32.86B, Kimi's card "1T total, 32B activated") and a
    // compressed-tensors pack-quantized int4 checkpoint: group 32, symmetric, targets
    // Linear, ignore lm_head, self_attn, shared_experts and the dense mlp projections —
    // so only the routed experts are int4.
    let m = fixture26("moonshotai--Kimi-K2.5.json");
    let p = param_counts(&m);
    near_b(p.total, 1026.41, 0.01, "Kimi-K2.5 total");
    near_b(p.active, 32.86, 0.01, "Kimi-K2.5 active");
    assert_eq!(m.checkpoint_format, Some(WeightFormat::Int4G32));
    // Tensor layout of one pack-quantized matrix (out × in): weight_packed int32
    // [out, in/8], weight_scale bf16 [out, in/32], weight_shape int64 [2].
    let packed = |o: u64, i: u64| o * (i / 8) * 4 + o * (i / 32) * 2 + 16;
    let (h, e) = (7168u64, 2048u64);
    let expert_bytes = 2 * packed(e, h) + packed(h, e);
    let expert_params = 3 * h * e;
    let routed = 60 * 384; // 61 layers, first_k_dense_replace 1
    let expected = routed * expert_bytes + (p.total - routed * expert_params) * 2;
    assert_eq!(total_weight_bytes(&m, WeightFormat::Int4G32), expected);
    // ≈ 595 GB, as the published checkpoint.
    assert!((expected as f64 / 1e9 - 594.0).abs() < 8.0, "{expected}");
}

#[test]
fn kimi_k2_thinking_is_sized_as_its_int4_checkpoint() {
    // The built-in spec reads the published checkpoint's compressed-tensors block (the
    // trimmed 2026 copy has none; see docs/sources/models.md): int4 group 32 on the
    // routed experts, everything else bf16 — the Kimi-K2 architecture of Kimi-K2.5.
    let c = Catalog::builtin().unwrap();
    let m = c.model("kimi-k2-thinking").unwrap();
    assert_eq!(m.checkpoint_format, Some(WeightFormat::Int4G32));
    let p = param_counts(m);
    // Card: 1T total, 32B activated.
    near_b(p.total, 1026.41, 0.01, "Kimi-K2-Thinking total");
    near_b(p.active, 32.86, 0.01, "Kimi-K2-Thinking active");
    // pack-quantized tensors of one (out × in) matrix: weight_packed int32 [out, in/8],
    // weight_scale bf16 [out, in/32], weight_shape int64 [2].
    let packed = |o: u64, i: u64| o * (i / 8) * 4 + o * (i / 32) * 2 + 16;
    let (h, e) = (7168u64, 2048u64);
    let routed = 60 * 384;
    let expected = routed * (2 * packed(e, h) + packed(h, e)) + (p.total - routed * 3 * h * e) * 2;
    assert_eq!(total_weight_bytes(m, WeightFormat::Int4G32), expected);
    // The published checkpoint is ≈ 594 GB (not the 2.05 TB of bf16).
    assert!((expected as f64 / 1e9 - 594.0).abs() < 8.0, "{expected}");
    assert!(m
        .checkpoint_layout
        .as_ref()
        .unwrap()
        .summary()
        .contains("attention"));
}

#[test]
fn nemotron_3_super_mamba2_latent_moe() {
    // nvidia--NVIDIA-Nemotron-3-Super-120B-A12B-FP8.json: 88 blocks from
    // hybrid_override_pattern (M Mamba2, * attention, E MoE), hidden 4096, one norm per
    // block; Mamba2 128 heads × 64, n_groups 8, state 128, conv 4 with bias (HF
    // NemotronHMamba2Mixer: in_proj, conv1d, dt_bias, A_log, D, norm, out_proj);
    // attention 32 heads × 128, 2 KV heads; latent MoE: 512 experts top-22 of width
    // 2688 on a 1024 latent (fc1/fc2_latent_proj), shared expert 5376, squared-ReLU
    // (two matrices), router with e_score_correction_bias; vocab 131072 untied.
    // The file writes `Infinity` in time_step_limit (not valid JSON).
    let pattern =
        "MEMEMEM*EMEMEMEM*EMEMEMEM*EMEMEMEMEM*EMEMEMEMEM*EMEMEMEMEM*EMEMEMEMEM*EMEMEMEM*EMEMEMEME";
    let count = |c: char| pattern.chars().filter(|x| *x == c).count() as u64;
    let (nm, na, ne) = (count('M'), count('*'), count('E'));
    assert_eq!((nm, na, ne), (40, 8, 40));
    let h = 4096u64;
    let inner = 128 * 64u64;
    let conv_dim = inner + 2 * 8 * 128;
    let mamba =
        h * (2 * inner + 2 * 8 * 128 + 128) + conv_dim * 4 + conv_dim + 3 * 128 + inner + inner * h;
    let attn = h * 4096 + 2 * h * 256 + 4096 * h;
    let expert = 2 * 1024 * 2688;
    let moe = 512 * expert + 2 * h * 1024 + 2 * h * 5376 + 512 * h + 512;
    let expected = nm * (mamba + h) + na * (attn + h) + ne * (moe + h) + 2 * 131_072 * h + h;
    let m = fixture26("nvidia--NVIDIA-Nemotron-3-Super-120B-A12B-FP8.json");
    let p = param_counts(&m);
    assert_eq!(p.total, expected);
    assert_eq!(p.active, expected - ne * (512 - 22) * expert);
    // Name "120B-A12B".
    near_b(p.total, 120.0, 1.0, "Nemotron-3-Super total");
    near_b(
        p.active - 2 * 131_072 * h,
        12.0,
        0.5,
        "Nemotron-3-Super active",
    );
    // KV: 8 attention layers × 2 KV heads × (K+V) × 128 × 2 B; state (vLLM
    // mamba2_state_shape): conv 3 × conv_dim in bf16 + SSM 128 × 64 × 128 float32.
    let (kv_tok, state) = kv_and_state(&m, KvDtype::Bf16);
    assert_eq!(kv_tok, 8 * 2 * 2 * 128 * 2);
    assert_eq!(state, 40 * (3 * conv_dim * 2 + 128 * 64 * 128 * 4));
    // The MTP block ("*E" in mtp_hybrid_override_pattern): enorm, hnorm, eh_proj
    // (2h → h), shared-head norm, one attention mixer and one MoE block (with its
    // block norm) — the last block of the model is MoE-only, so the attention is
    // the last attention layer's.
    assert_eq!(p.mtp, 3 * h + 2 * h * h + attn + moe + h);
    // Ultra gives the blocks as layers_block_type and no num_hidden_layers.
    let u = param_counts(&fixture26(
        "nvidia--NVIDIA-Nemotron-3-Ultra-550B-A55B-BF16.json",
    ));
    near_b(u.total, 550.0, 1.0, "Nemotron-3-Ultra total");
}

#[test]
fn modelopt_nvfp4_sidecar_exclusions() {
    // nvidia--Qwen3.5-397B-A17B-NVFP4: NVFP4 group 16 with attention (linear_attn and
    // self_attn of every layer) and the shared experts excluded: only routed experts
    // are 4-bit. NVFP4 tensor layout: e2m1 pairs [out, in/2], e4m3 scales [out, in/16],
    // fp32 global scale.
    let m = fixture26("nvidia--Qwen3.5-397B-A17B-NVFP4.json");
    assert_eq!(m.checkpoint_format, Some(WeightFormat::Nvfp4));
    let p = param_counts(&m);
    let nvfp4 = |o: u64, i: u64| o * i / 2 + o * (i / 16) + 4;
    let (h, e) = (4096u64, 1024u64);
    let expert_bytes = 2 * nvfp4(e, h) + nvfp4(h, e);
    let routed = 60 * 512;
    // The vision tower (456,010,480 params, counted by hand in
    // tests/golden_vision.rs) stays bf16: the sidecar excludes `model.visual*`.
    let tower = 456_010_480;
    let expected = routed * expert_bytes + (p.total - routed * 3 * h * e) * 2 + 2 * tower;
    assert_eq!(total_weight_bytes(&m, WeightFormat::Nvfp4), expected);
    let lay = m.checkpoint_layout.as_ref().unwrap();
    assert!(lay.summary().contains("attention"), "{}", lay.summary());
}

/// A family kvplan cannot model is refused naming the field (issue 12), never
/// sized wrongly: a synthetic config with Gemma-4 E2B's per-layer input
/// embeddings, and a Kimi layer list that leaves a layer out.
#[test]
fn unmodelled_families_name_the_field() {
    let mut v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/hf-configs/2026/moonshotai--Kimi-K3.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    v["text_config"]["hidden_size_per_layer_input"] = serde_json::json!(256);
    let e = hf::parse_config(&v.to_string(), "synthetic.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("field 'hidden_size_per_layer_input'"), "{e}");
    v["text_config"]["hidden_size_per_layer_input"] = serde_json::Value::Null;
    v["text_config"]["linear_attn_config"]["full_attn_layers"] = serde_json::json!([4, 8]);
    let e = hf::parse_config(&v.to_string(), "synthetic.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("field 'linear_attn_config'"), "{e}");
    assert!(e.contains("layer 12"), "{e}");
}

/// Every config of the 2026 set loads (issue 12 "Done when").
#[test]
fn every_2026_config_loads() {
    let dir = format!(
        "{}/tests/fixtures/hf-configs/2026",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".json") || name.ends_with(".hf_quant_config.json") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        match hf::parse_config(&text, &name) {
            Ok(m) => assert!(param_counts(&m).total > 0, "{name}"),
            Err(e) => panic!("{name} does not load: {e}"),
        }
        n += 1;
    }
    assert!(n >= 60, "only {n} configs found in {dir}");
}

/// Kimi-K3 (moonshotai--Kimi-K3.json text_config), counted by hand from the
/// tensor list that ml-explore/mlx-lm `mlx_lm/models/kimi_k3.py` @ b31bb21e04
/// builds (KimiK3DeltaAttention, KimiK3MLAAttention, KimiK3SparseMoE,
/// KimiK3DecoderLayer, KimiK3TextModel) and that a public synthetic-checkpoint
/// emitter lists with the same names and shapes (docs/sources/models.md):
/// hidden 7168, 93 layers numbered from 1 in linear_attn_config: 69 KDA layers
/// (kda_layers) and 24 MLA layers (full_attn_layers 4, 8, …, 92, 93); layer 0
/// (number 1, KDA) is the dense MLP of 33792, the other 92 are MoE.
#[test]
fn kimi_k3_kda_mla_latent_moe() {
    let m = fixture26("moonshotai--Kimi-K3.json");
    let h = 7168u64;
    let p_kda = 96 * 128u64; // KDA heads × head_dim
                             // KDA: q/k/v_proj (h → P each), q/k/v_conv1d (P × kernel 4), f_a_proj (h → 128),
                             // f_b_proj (128 → P), b_proj (h → 96), full-rank g_proj (h → P,
                             // use_full_rank_gate), A_log (96), dt_bias (P), o_norm (128), o_proj (P → h).
    let kda = 3 * p_kda * h
        + 3 * p_kda * 4
        + 128 * h
        + p_kda * 128
        + 96 * h
        + p_kda * h
        + 96
        + p_kda
        + 128
        + h * p_kda;
    // MLA (q_lora_rank 1536, kv_lora_rank 512, nope 128 + rope 64, v 128, 96 heads):
    // q_a_proj, q_a_layernorm, q_b_proj, kv_a_proj_with_mqa (h → 512 + 64),
    // kv_a_layernorm, kv_b_proj (512 → 96 × (128 + 128)), o_proj, and the output gate
    // g_proj (h → 96 × 128, mla_use_output_gate).
    let mla = 1536 * h
        + 1536
        + 96 * 192 * 1536
        + 576 * h
        + 512
        + 96 * 256 * 512
        + h * 96 * 128
        + 96 * 128 * h;
    // Every layer: input / post-attention norms + attention residuals
    // (self_attention_res and mlp_res: a norm of h and an h → 1 projection each).
    let per_layer = 2 * h + 4 * h;
    // MoE: router (896 × h) + e_score_correction_bias (896), 2 shared experts at full
    // width (3 × h × 2·3072), routed_expert_down_proj (h → 3584), routed_expert_norm
    // (3584), routed_expert_up_proj (3584 → h); 896 routed experts of gate/up/down
    // between 3584 and 3072.
    let expert = 3 * 3584 * 3072u64;
    let moe_fixed = 896 * h + 896 + 3 * h * 6144 + 3584 * h + 3584 + h * 3584;
    let dense = 3 * h * 33792;
    // Outside the layers: embedding and untied lm_head (163840 × h), final norm and
    // the output attention-residual pair (output_attn_res_norm, _proj).
    let expected = 2 * 163_840 * h
        + 3 * h
        + 93 * per_layer
        + 69 * kda
        + 24 * mla
        + dense
        + 92 * (moe_fixed + 896 * expert);
    let p = param_counts(&m);
    assert_eq!(p.total, expected);
    assert_eq!(p.total, 2_779_484_476_000);
    assert_eq!(p.active, expected - 92 * (896 - 16) * expert);
    // Moonshot's release as the Hugging Face overview gives it: "2.8 trillion
    // parameters" (https://huggingface.co/blog/ResterChed/kimi-k3-model-overview-mxfp4-quantization-open-wei),
    // rounded to 0.1T; the vision tower (MoonViT, 27 layers × 1024) is the small rest
    // kvplan leaves out. No card gives an active count to compare (that overview's
    // "~50B equivalent" is not a parameter count): 105.36B here, embeddings included.
    near_b(p.total, 2_800.0, 50.0, "Kimi-K3 total");
    // KV: the 24 MLA layers cache the latent 512 + rope key 64 per token (bf16).
    // State per sequence, per KDA layer (vLLM MambaStateShapeCalculator.kda_state_shape
    // and kda_state_dtype): q, k and v short-conv states of (kernel 4 − 1) × P in the
    // model dtype bf16 + the recurrent state 96 heads × 128 × 128 in float32.
    let (kv_tok, state) = kv_and_state(&m, KvDtype::Bf16);
    assert_eq!(kv_tok, 24 * (512 + 64) * 2);
    assert_eq!(state, 69 * (3 * 3 * p_kda * 2 + 96 * 128 * 128 * 4));
    assert_eq!(state, 449_372_160);
    // Checkpoint: compressed-tensors mxfp4-pack-quantized group 32 on the routed
    // experts only (ignore lists self_attn, shared_experts, mlp.*_proj, lm_head; the
    // latent projections are stored as plain `.weight`): weight_packed uint8
    // [out, in/2] + weight_scale (e8m0) uint8 [out, in/32]; the rest bf16.
    assert_eq!(m.checkpoint_format, Some(WeightFormat::Mxfp4));
    let mx4 = |o: u64, i: u64| o * i / 2 + o * (i / 32);
    let expert_bytes = 2 * mx4(3072, 3584) + mx4(3584, 3072);
    let routed = 92 * 896u64;
    let bytes = routed * expert_bytes + (p.total - routed * expert) * 2;
    assert_eq!(total_weight_bytes(&m, WeightFormat::Mxfp4), bytes);
    assert_eq!(bytes, 1_559_943_357_632);
    // The built-in spec (kvplan import of the same file) is the same model.
    let c = Catalog::builtin().unwrap();
    assert_eq!(param_counts(c.model("kimi-k3").unwrap()).total, p.total);
    assert_eq!(
        param_counts(c.model("moonshotai/Kimi-K3").unwrap()).total,
        p.total
    );
}

/// NVIDIA's MiniMax-M3-NVFP4 (ModelOpt MIXED_PRECISION in its config.json
/// quantization_config): q/k/v/o_proj of every layer, the sparse index's
/// index_q_proj / index_k_proj (one fused index_qkv_proj in kvplan), the dense
/// MLPs and the shared experts are MXFP8; the routed experts NVFP4 group 16;
/// lm_head, routers and norms stay bf16. MXFP8 as the OCP Microscaling Formats
/// spec v1.0 defines it (e4m3 elements, one E8M0 scale per block of 32) and
/// vLLM `modelopt.py` `ModelOptMxFp8LinearMethod.create_weights` stores it:
/// `weight` fp8 [out, in] + `weight_scale` uint8 [out, in / 32].
#[test]
fn minimax_m3_nvfp4_mxfp8_layers() {
    let m = fixture26("nvidia--MiniMax-M3-NVFP4.json");
    assert_eq!(m.checkpoint_format, Some(WeightFormat::Nvfp4));
    let h = 6144u64;
    let mx8 = |o: u64, i: u64| o * i + o * (i / 32);
    let nv4 = |o: u64, i: u64| o * i / 2 + o * (i / 16) + 4;
    // Shapes as in minimax_m3_block_sparse_index: 64 heads × 128, 4 KV heads.
    let attn = mx8(64 * 128, h) + 2 * mx8(4 * 128, h) + mx8(h, 64 * 128) + 2 * 128 * 2;
    let index = mx8(4 * 128 + 128, h) + 2 * 128 * 2;
    let dense = 2 * mx8(12288, h) + mx8(h, 12288);
    let shared = 2 * mx8(3072, h) + mx8(h, 3072);
    let routed = 128 * (2 * nv4(3072, h) + nv4(h, 3072));
    let router = (128 * h + 128) * 2;
    let norms = 2 * h * 2;
    let expected = 3 * (attn + dense + norms)
        + 57 * (attn + index + shared + routed + router + norms)
        + 2 * 200_064 * h * 2
        + h * 2;
    assert_eq!(total_weight_bytes(&m, WeightFormat::Nvfp4), expected);
    let lay = m.checkpoint_layout.as_ref().unwrap().summary();
    assert!(lay.contains("mxfp8"), "{lay}");
    let c = Catalog::builtin().unwrap();
    let b = c.model("minimax-m3-nvfp4").unwrap();
    assert_eq!(total_weight_bytes(b, WeightFormat::Nvfp4), expected);
}

#[test]
fn silicon_set_models_and_gpus_resolve() {
    let c = Catalog::builtin().unwrap();
    for name in [
        "qwen3.5-397b-a17b",
        "Qwen/Qwen3.5-397B-A17B",
        "glm-5",
        "zhipuai/GLM-5",
        "minimax-m2.5",
        "MiniMaxAI/MiniMax-M2.5",
        "kimi-k2.5",
        "moonshotai/Kimi-K2.5",
        "nemotron-3-super-120b-a12b",
        "nvidia/DeepSeek-R1-NVFP4",
        "nvidia/Qwen3-32B-NVFP4",
        "nvidia/DeepSeek-V3.1-NVFP4",
        "deepseek-ai/DeepSeek-R1-0528",
        "meta-llama/Llama-3.1-8B-Instruct",
        "meta-llama/Llama-3.1-70B",
        "meta-llama/Llama-2-70b-chat-hf",
        "meta-llama/Llama-3.1-405B-FP8",
    ] {
        assert!(c.model(name).is_ok(), "{name}");
    }
    for g in [
        "b300_sxm", "gb300", "b200_sxm", "h100_sxm", "gb200", "MI355X", "MI350X",
    ] {
        assert!(c.gpu(g).is_ok(), "{g}");
    }
}

#[test]
fn dsa_models_count_the_indexer_keys_in_the_kv() {
    // GLM-5: 78 layers with their own indexer, 128-wide fp8 keys + one fp32 scale =
    // 132 B per token per layer; fp8 KV stores the latent as fp8_ds_mla (656 B).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args([
            "estimate",
            "glm-5-fp8",
            "--gpus",
            "8xB200",
            "--ctx",
            "64k",
            "--kv-dtype",
            "fp8",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["kv_cache"]["bytes_per_token"].as_u64(),
        Some(78 * (656 + 132)),
        "{}",
        v["kv_cache"]
    );
    let notes = v["assumptions"].to_string();
    assert!(!notes.contains("NOT INCLUDED"), "{notes}");
    assert!(notes.contains("= 10,296 B/token whole model"), "{notes}");
}

/// `kvplan estimate … --format json` as a value.
fn estimate_json(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .arg("estimate")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn hybrid_state_is_paged_as_each_engine_does() {
    // Qwen--Qwen3.5-35B-A3B.json: 40 layers, full_attention_interval 4 → 10 full-attention
    // layers of 2 KV heads × 256 and 30 Gated DeltaNet layers (16 key heads × 128, 32 value
    // heads × 128, conv kernel 4, mamba_ssm_dtype float32). One H200, fp8 KV, 64k tokens.
    let attn_token: u64 = 2 * (256 + 256); // B per token per attention layer, fp8
    let conv_dim: u64 = 2 * 16 * 128 + 32 * 128;
    let state = 3 * conv_dim * 2 + 32 * 128 * 128 * 4; // bf16 conv window + fp32 recurrent state
    assert_eq!(state, 2_146_304);
    let ctx = 65_536u64;
    let base = [
        "qwen3.5-35b-a3b",
        "--gpus",
        "H200",
        "--ctx",
        "64Ki",
        "--kv-dtype",
        "fp8",
    ];

    // vLLM (HybridAttentionMambaModelConfig, no prefix caching): block = 16 × cdiv(state,
    // 16 × 1,024) = 2,096 tokens; page = 2,096 × 1,024 B = 2,146,304 B (the state fits
    // exactly: no padding); 10 : 30 layers → groups of 10: 1 attention + 3 state groups.
    let v = estimate_json(&[&base[..], &["--engine", "vllm"]].concat());
    let budget = v["memory_per_gpu"]["kv_budget_bytes"].as_i64().unwrap() as u64;
    let block = 16 * state.div_ceil(16 * attn_token);
    assert_eq!(block, 2096);
    let page = block * attn_token;
    let blocks = budget / page / 10;
    // "GPU KV cache size" = blocks ÷ 4 groups × block; a 64k sequence takes
    // cdiv(65,536, 2,096) = 32 attention blocks + 3 state blocks, each block 10 pages.
    assert_eq!(
        v["limits"]["kv_cache_tokens"].as_u64(),
        Some(blocks / 4 * block)
    );
    assert_eq!(v["limits"]["max_batch"].as_u64(), Some(blocks / 35));
    // The report shows the raised block, not the profile's 16.
    assert_eq!(v["deployment"]["block_size"].as_u64(), Some(block));
    assert_eq!(
        v["kv_cache"]["bytes_per_sequence_per_gpu"].as_u64(),
        Some(35 * 10 * page)
    );
    assert_eq!(
        v["kv_cache"]["state_bytes_per_sequence"].as_u64(),
        Some(30 * state)
    );
    let notes = v["assumptions"].to_string();
    assert!(notes.contains("raised to 2096 tokens"), "{notes}");

    // SGLang (handle_max_mamba_cache): state : KV memory = 0.9 : 1; KV pool of 10 layers ×
    // 1,024 B per token (page 1); state slots = state share ÷ (30 × 2,146,304 B).
    let s = estimate_json(&[&base[..], &["--engine", "sglang"]].concat());
    let budget = s["memory_per_gpu"]["kv_budget_bytes"].as_i64().unwrap() as u64;
    let kv = (budget as f64 / 1.9).floor() as u64;
    let slots = (budget - kv) / (30 * state);
    assert_eq!(
        s["limits"]["kv_cache_tokens"].as_u64(),
        Some(kv / (10 * attn_token))
    );
    assert_eq!(
        s["limits"]["max_batch"].as_u64(),
        Some((kv / (ctx * 10 * attn_token)).min(slots))
    );
    let notes = s["assumptions"].to_string();
    assert!(
        notes.contains(&format!("{} state slots", kvplan::units::thousands(slots))),
        "{notes}"
    );
}

#[test]
fn gemma_4_per_kind_head_shapes_and_k_eq_v() {
    // nvidia--Gemma-4-31B-IT-NVFP4.json text_config (HF modular_gemma4.py, transformers
    // 5.5: Gemma4TextAttention / Gemma4TextDecoderLayer): hidden 5376, 60 layers, 5 sliding
    // (window 1024) : 1 full; 32 query heads; sliding layers 16 KV heads × 256 with
    // q/k/v/o projections; full layers head size 512 (global_head_dim), 4 KV heads
    // (num_global_key_value_heads) and attention_k_eq_v: no v_proj; q_norm and k_norm of
    // the head size, v_norm without weights; 4 RMSNorms and a one-value layer_scalar per
    // layer; gated GeLU MLP of 21504; vocab 262144 tied; vision tower not counted.
    let h = 5376u64;
    let sliding = h * 32 * 256 + 2 * h * 16 * 256 + 32 * 256 * h + 2 * 256;
    let full = h * 32 * 512 + h * 4 * 512 + 32 * 512 * h + 2 * 512;
    let rest = 3 * h * 21504 + 4 * h + 1;
    let expected = 50 * (sliding + rest) + 10 * (full + rest) + 262_144 * h + h;
    let m = fixture26("nvidia--Gemma-4-31B-IT-NVFP4.json");
    let p = param_counts(&m);
    assert_eq!(p.total, expected);
    assert_eq!(expected, 30_697_345_340);
    // Name "31B".
    near_b(p.total, 31.0, 0.5, "Gemma-4-31B total");
    // KV (bf16): sliding 16 × (256 + 256) × 2 B on 50 layers, full 4 × (512 + 512) × 2 B
    // on 10 (K and V both cached: V = v_norm(k_proj x) differs from K = RoPE(k_norm(k_proj x))).
    let (kv_tok, state) = kv_and_state(&m, KvDtype::Bf16);
    assert_eq!(kv_tok, 50 * 16 * 512 * 2 + 10 * 4 * 1024 * 2);
    assert_eq!((kv_tok, state), (901_120, 0));

    // google--gemma-4-26B-A4B.json: hidden 2816, 30 layers (25 sliding : 5 full), 16 query
    // heads; sliding 8 KV heads × 256, full 2 KV heads × 512 with k_eq_v; every layer has
    // the dense MLP (2112) beside a 128-expert top-8 MoE of width 704 (fused gate_up_proj
    // [E, 2·704, H] + down_proj [E, H, 704]); router proj E × H, scale H, per_expert_scale
    // E; 7 RMSNorms (+ pre_feedforward_layernorm_2, post_feedforward_layernorm_1/_2).
    let h = 2816u64;
    let sliding = h * 16 * 256 + 2 * h * 8 * 256 + 16 * 256 * h + 2 * 256;
    let full = h * 16 * 512 + h * 2 * 512 + 16 * 512 * h + 2 * 512;
    let expert = 3 * h * 704;
    let rest = 3 * h * 2112 + 128 * h + h + 128 + 7 * h + 1;
    let embed = 262_144 * h;
    let expected = 25 * (sliding + rest) + 5 * (full + rest) + 30 * 128 * expert + embed + h;
    let m = fixture26("google--gemma-4-26B-A4B.json");
    let p = param_counts(&m);
    assert_eq!(p.total, expected);
    assert_eq!(p.active, expected - 30 * (128 - 8) * expert);
    // Name "26B-A4B".
    near_b(p.total, 26.0, 1.0, "Gemma-4-26B-A4B total");
    near_b(p.active, 4.0, 0.5, "Gemma-4-26B-A4B active");
    assert_eq!(
        kv_and_state(&m, KvDtype::Bf16),
        (25 * 8 * 512 * 2 + 5 * 2 * 1024 * 2, 0)
    );
    // The sliding layers hold only their window in the engines: past 1,024 tokens
    // each further token costs only the 5 full layers.
    let c = Catalog::builtin().unwrap();
    let e = c.engine("vllm").unwrap();
    let l = kv::KvLayout::build(&m, e, KvDtype::Bf16, 1, 0..m.num_layers);
    assert_eq!(l.growing_bytes_per_token(), 5 * 2 * 1024 * 2);
}

#[test]
fn gemma_4_nvfp4_checkpoint_bytes() {
    // nvidia--Gemma-4-31B-IT-NVFP4.hf_quant_config.json: NVFP4 group 16; the
    // exclusions it lists stay 16-bit (see the layout read from the file).
    let m = fixture26("nvidia--Gemma-4-31B-IT-NVFP4.json");
    assert_eq!(m.checkpoint_format, Some(WeightFormat::Nvfp4));
    let lay = m.checkpoint_layout.as_ref().unwrap();
    let bytes = total_weight_bytes(&m, WeightFormat::Nvfp4);
    // NVFP4 layout of an (out × in) matrix: e2m1 pairs [out, in/2], e4m3 scales
    // [out, in/16], one fp32 global scale.
    let nvfp4 = |o: u64, i: u64| o * i / 2 + o * (i / 16) + 4;
    let h = 5376u64;
    let mlp = 2 * nvfp4(21504, h) + nvfp4(h, 21504);
    let mlp_params = 3 * h * 21504;
    let p = param_counts(&m).total;
    // Every layer's self_attn is in exclude_modules (60 entries), as are lm_head and the
    // vision embedding: only the 60 MLPs are 4-bit.
    assert!(lay.summary().contains("attention"), "{}", lay.summary());
    assert_eq!(bytes, 60 * mlp + (p - 60 * mlp_params) * 2);
}

#[test]
fn nemotron_nas_49b_per_layer_blocks() {
    // nvidia--Llama-3_3-Nemotron-Super-49B-v1.json (DeciLM / Nemotron-NAS): hidden 8192,
    // 64 query heads of 128, vocab 128256 untied, 80 block_configs. Attention in 49
    // layers (n_heads_in_group 8 → 8 KV heads), a no-op in 31. FFN widths from
    // ffn_mult by vLLM/SGLang nemotron_nas.py `_ffn_mult_to_intermediate_size`:
    // int(2·mult·8192/3) rounded up to a multiple of 256.
    let width = |mult: f64| ((2.0 * mult * 8192.0 / 3.0) as u64).div_ceil(256) * 256;
    assert_eq!(width(5.25), 28672);
    assert_eq!(width(1.0), 5632);
    // Counted in the config: attention layers 48 × ffn_mult 5.25 + 1 × 2.625; no-op
    // attention layers 10 × 1.3125, 8 × 1.0, 6 × 0.5, 5 × 2.625, 1 × 3.28125, 1 × 5.25.
    let widths: u64 = 48 * width(5.25)
        + width(2.625)
        + 10 * width(1.3125)
        + 8 * width(1.0)
        + 6 * width(0.5)
        + 5 * width(2.625)
        + width(3.28125)
        + width(5.25);
    let h = 8192u64;
    let attention = 2 * h * h + 2 * h * (8 * 128);
    // Norms (DeciLMDecoderLayer): input_layernorm only where attention exists,
    // post_attention_layernorm on every FFN, plus the final norm.
    let norms = (49 + 80 + 1) * h;
    let expected = 2 * 128_256 * h + 49 * attention + 3 * h * widths + norms;
    let m = fixture26("nvidia--Llama-3_3-Nemotron-Super-49B-v1.json");
    let p = param_counts(&m);
    assert_eq!(p.total, expected);
    assert_eq!(p.active, p.total);
    // Model card: 49B in the name, "49.9B" parameters... within its rounding.
    near_b(p.total, 49.9, 0.05, "Nemotron-Super-49B total");
    // KV: 49 attention layers × 8 KV heads × (K + V) × 128 × 2 B; no fixed state.
    let (kv_tok, state) = kv_and_state(&m, KvDtype::Bf16);
    assert_eq!(kv_tok, 49 * 8 * 2 * 128 * 2);
    assert_eq!(state, 0);
    // bf16 checkpoint bytes: every parameter 2 bytes.
    assert_eq!(total_weight_bytes(&m, WeightFormat::Bf16), 2 * expected);
    // The built-in spec is the same model.
    let c = Catalog::builtin().unwrap();
    let b = c.model("nemotron-super-49b").unwrap();
    assert_eq!(param_counts(b).total, expected);
}

#[test]
fn nemotron_nas_variants_kvplan_does_not_model_are_named() {
    let blocks = |attn: &str, n: usize| {
        let b = format!("{{\"attention\": {attn}, \"ffn\": {{\"ffn_mult\": 1.0}}}}");
        vec![b; n].join(",")
    };
    let cfg = |bc: String| {
        format!("{{\"model_type\": \"nemotron-nas\", \"hidden_size\": 256, \"num_hidden_layers\": 2, \"num_attention_heads\": 8, \"vocab_size\": 1000, \"max_position_embeddings\": 4096, \"block_configs\": [{bc}]}}")
    };
    let e = hf::parse_config(&cfg(blocks("{\"replace_with_linear\": true}", 2)), "c.json")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("block_configs[0].attention.replace_with_linear"),
        "{e}"
    );
    let mixed = format!(
        "{},{}",
        blocks("{\"n_heads_in_group\": 8}", 1),
        blocks("{\"n_heads_in_group\": 4}", 1)
    );
    let e = hf::parse_config(&cfg(mixed), "c.json")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("block_configs[1].attention.n_heads_in_group"),
        "{e}"
    );
    let e = hf::parse_config(&cfg(blocks("{\"n_heads_in_group\": 8}", 3)), "c.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("block_configs lists 3"), "{e}");
}

#[test]
fn modelopt_mixed_precision_sizes_each_tensor_in_its_format() {
    // nvidia--Qwen3.6-27B-NVFP4.json quantization_config (ModelOpt MIXED_PRECISION,
    // quantized_layers): per layer, linear_attn in_proj_qkv / in_proj_z / out_proj and
    // self_attn q/k/v/o in FP8; mlp gate/up/down and lm_head W4A16_NVFP4 group 16;
    // in_proj_b / in_proj_a are not listed (16-bit). text_config: hidden 5120, 64
    // layers (every 4th full attention), 24 heads × 256 with 4 KV heads and an output
    // gate, Gated DeltaNet 16 key heads / 48 value heads × 128, conv 4, MLP 17408,
    // vocab 248320 untied.
    let m = fixture26("nvidia--Qwen3.6-27B-NVFP4.json");
    assert_eq!(m.checkpoint_format, Some(WeightFormat::Nvfp4));
    let lay = m.checkpoint_layout.as_ref().unwrap();
    assert!(
        lay.summary().contains("MIXED_PRECISION"),
        "{}",
        lay.summary()
    );
    assert!(
        lay.summary().contains("fp8: attention"),
        "{}",
        lay.summary()
    );
    // Tensor layouts: FP8 e4m3 [out, in] + fp32 weight scale; NVFP4 e2m1 pairs
    // [out, in/2] + e4m3 scales [out, in/16] + fp32 global scale; 16-bit 2 B.
    let fp8 = |o: u64, i: u64| o * i + 4;
    let nvfp4 = |o: u64, i: u64| o * i / 2 + o * (i / 16) + 4;
    let b16 = |n: u64| 2 * n;
    let (h, v, ff) = (5120u64, 248_320u64, 17_408u64);
    let full = fp8(2 * 24 * 256, h) + 2 * fp8(4 * 256, h) + fp8(h, 24 * 256) + b16(2 * 256);
    let (kd, vd) = (16 * 128u64, 48 * 128u64);
    let gdn = fp8(2 * kd + 2 * vd, h)
        + b16(2 * 48 * h)
        + b16((2 * kd + vd) * 4)
        + b16(48 + 48 + 128)
        + fp8(h, vd);
    let mlp = 2 * nvfp4(ff, h) + nvfp4(h, ff);
    let norms = b16(2 * h);
    // The vision tower stays 16-bit (quantized_layers does not list it): the
    // Qwen3.5 tower of tests/golden_vision.rs with out_hidden_size 5120 —
    // 456,010,480 + 4608 × (5120 − 4096) + (5120 − 4096) parameters.
    let tower = 456_010_480 + 4608 * 1024 + 1024;
    assert_eq!(tower, 460_730_096);
    let expected =
        16 * full + 48 * gdn + 64 * (mlp + norms) + b16(v * h) + nvfp4(v, h) + b16(h) + b16(tower);
    assert_eq!(total_weight_bytes(&m, WeightFormat::Nvfp4), expected);
    // Asked in another format, the mix does not apply: every linear layer fp8.
    assert!(total_weight_bytes(&m, WeightFormat::Fp8) > expected);
    // 27B in the name (the language model; the tower is counted apart).
    near_b(param_counts(&m).total, 27.0, 0.5, "Qwen3.6-27B total");
    // The KV-cache quantization the checkpoint was calibrated for.
    assert_eq!(lay.kv_cache_dtype, Some(KvDtype::Fp8));
}

#[test]
fn modelopt_mixed_precision_from_the_sidecar() {
    // nvidia--NVIDIA-Nemotron-3.5-Lightning-30B-A3B-NVFP4: config.json says nothing
    // about quantization; hf_quant_config.json is MIXED_PRECISION with Mamba in_proj /
    // out_proj FP8, experts and shared experts NVFP4, lm_head NVFP4, and the
    // attention layers unlisted (16-bit).
    let mut m = fixture26("nvidia--NVIDIA-Nemotron-3.5-Lightning-30B-A3B-NVFP4.json");
    assert_eq!(m.checkpoint_format, None);
    let bf16 = total_weight_bytes(&m, WeightFormat::Bf16);
    let path = format!(
        "{}/tests/fixtures/hf-configs/2026/nvidia--NVIDIA-Nemotron-3.5-Lightning-30B-A3B-NVFP4.hf_quant_config.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let note = hf::apply_modelopt_sidecar(&mut m, &std::fs::read_to_string(&path).unwrap(), &path)
        .unwrap();
    assert!(note.contains("MIXED_PRECISION"), "{note}");
    assert_eq!(m.checkpoint_format, Some(WeightFormat::Nvfp4));
    let mixed = total_weight_bytes(&m, WeightFormat::Nvfp4);
    // Every attention tensor stays 16-bit: the same bytes as in the bf16 count.
    let attn_layers: Vec<u64> = (0..m.num_layers)
        .filter(|&i| m.layer_type(i) == kvplan::spec::model::LayerType::Full)
        .collect();
    assert!(!attn_layers.is_empty());
    let lay = m.checkpoint_layout.as_ref().unwrap();
    for i in &attn_layers {
        assert_eq!(
            lay.mixed_format(
                kvplan::spec::dtype::ModulePart::Attention,
                "q_proj",
                Some(*i)
            ),
            Some(None),
            "layer {i}"
        );
    }
    // A checkpoint of 4-bit experts is well under a third of the bf16 bytes, and
    // more than a quarter (fp8 mixers, 16-bit attention and embedding).
    assert!(mixed * 3 < bf16 && mixed * 4 > bf16, "{mixed} vs {bf16}");
}

#[test]
fn modelopt_mixed_precision_fused_tensor_in_two_formats_is_refused() {
    let cfg = r#"{"model_type": "qwen3_next", "hidden_size": 256, "num_hidden_layers": 4,
      "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "vocab_size": 1000,
      "max_position_embeddings": 4096, "intermediate_size": 512,
      "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_key_head_dim": 32,
      "linear_value_head_dim": 32, "linear_conv_kernel_dim": 4,
      "quantization_config": {"quant_method": "modelopt", "quant_algo": "MIXED_PRECISION",
        "quantized_layers": {
          "model.layers.0.linear_attn.in_proj_qkv": {"quant_algo": "FP8"},
          "model.layers.0.linear_attn.in_proj_z": {"quant_algo": "NVFP4", "group_size": 16}}}}"#;
    let e = hf::parse_config(cfg, "c.json").unwrap_err().to_string();
    assert!(
        e.contains("in_proj_qkvz") && e.contains("quantized_layers"),
        "{e}"
    );
    let unknown = cfg.replace("linear_attn.in_proj_z", "mystery.thing");
    let e = hf::parse_config(&unknown, "c.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("mystery.thing"), "{e}");
}

#[test]
fn dsa_decode_reads_the_top_k_latents_and_every_indexer_key() {
    use kvplan::perf::{decode_step, Efficiency};
    use kvplan::request::{resolve, EstimateRequest, Tokens};
    // DeepSeek-V3.2 (deepseek-ai--DeepSeek-V3.2.json): 61 MLA layers, each with its own
    // indexer (index_head_dim 128, index_topk 2048). A decode query's indexer scores every
    // cached token (vLLM `sparse_attn_indexer` reads all indexer keys: 128 fp8 + one fp32
    // scale = 132 B per token per layer), then sparse MLA reads the latent of only the
    // 2048 selected tokens (vLLM `flashmla_sparse.py`, SGLang `nsa_backend.py`):
    // fp8_ds_mla entries of 656 B.
    let c = Catalog::builtin().unwrap();
    let req = EstimateRequest {
        model: "deepseek-v3.2".into(),
        gpus: "8xH200".into(),
        ctx: Some(Tokens::Number(131_072)),
        batch: Some(1),
        kv_dtype: Some(KvDtype::Fp8),
        ..Default::default()
    };
    let s = resolve(&req, &c, &|_| unreachable!()).unwrap().scenario;
    let step = decode_step(&s, &kvplan::memory::plan(&s), &Efficiency::default());
    let ctx = 131_072f64;
    let expected = 61.0 * (132.0 * ctx + 656.0 * 2048.0);
    assert!(
        (step.kv_bytes_read - expected).abs() < 1.0,
        "{} vs {expected}",
        step.kv_bytes_read
    );
    // Below the top-k every token is read, as dense MLA would.
    let req_short = EstimateRequest {
        ctx: Some(Tokens::Number(1000)),
        ..req
    };
    let s = resolve(&req_short, &c, &|_| unreachable!())
        .unwrap()
        .scenario;
    let step = decode_step(&s, &kvplan::memory::plan(&s), &Efficiency::default());
    assert!((step.kv_bytes_read - 61.0 * (132.0 + 656.0) * 1000.0).abs() < 1.0);
}

/// DeepSeek-V4 parameters of one config, counted by hand from HF transformers'
/// `modeling_deepseek_v4.py` (huggingface/transformers @ 0197608189) tensor list:
/// attention `q_a_proj`, `q_a_norm`, `q_b_proj`, `kv_proj`, `kv_norm`, grouped
/// `o_a_proj` (o_groups × (heads·head_dim/o_groups → o_lora_rank)), `o_b_proj`,
/// `sinks`; the CSA compressor (`kv_proj`/`gate_proj` hidden → 2·head_dim,
/// `position_bias` 4 × 2·head_dim, `kv_norm`) and its indexer (the same at
/// index_head_dim, `q_b_proj`, `weights_proj`), the HCA compressor (→ head_dim,
/// `position_bias` 128 × head_dim); two hyper-connections per layer (`fn` of
/// (2+4)·4 × 4·hidden, `base` 24, `scale` 3); two norms; the MoE (router, hash
/// layers' `tid2eid` vocab × top-k instead of the score bias, shared expert,
/// routed experts); embedding, untied head, final norm and `hc_head`.
#[allow(clippy::too_many_arguments)]
fn v4_hand_count(
    h: u64,
    layers: &[u64],
    heads: u64,
    q_lora: u64,
    o_groups: u64,
    experts: u64,
    expert_width: u64,
    topk: u64,
) -> (u64, u64) {
    let (hd, o_lora, ih, ihd, vocab, hash) = (512u64, 1024u64, 64u64, 128u64, 129_280u64, 3usize);
    let mut total = 2 * vocab * h + h + 4 * 4 * h + 4 + 1;
    let mut active = total;
    for (i, &r) in layers.iter().enumerate() {
        let mut attn = h * q_lora
            + q_lora
            + q_lora * heads * hd
            + h * hd
            + hd
            + (heads * hd / o_groups) * (o_groups * o_lora)
            + o_groups * o_lora * h
            + heads;
        if r == 4 {
            attn += 2 * h * 2 * hd + 4 * 2 * hd + hd;
            attn += 2 * h * 2 * ihd + 4 * 2 * ihd + ihd + q_lora * ih * ihd + h * ih;
        } else if r == 128 {
            attn += 2 * h * hd + 128 * hd + hd;
        }
        let hc = 2 * (24 * 4 * h + 24 + 3);
        let router = experts * h + if i < hash { vocab * topk } else { experts };
        let expert = 3 * h * expert_width;
        let fixed = attn + hc + 2 * h + router + expert;
        total += fixed + experts * expert;
        active += fixed + topk * expert;
    }
    (total, active)
}

/// The per-layer compress ratios of a config, counted from its file.
fn ratios_of(name: &str) -> Vec<u64> {
    let m = fixture26(name);
    m.compressed_attention.unwrap().compress_ratios
}

#[test]
fn deepseek_v4_flash_and_pro_parameters() {
    // deepseek-ai--DeepSeek-V4-Flash.json: hidden 4096, 43 layers (compress_ratios
    // 0, 0, then 4/128 alternating, last 4; the 44th entry is the MTP layer's),
    // 64 heads × 512 with one shared K=V head, q_lora 1024, o_groups 8 of rank 1024,
    // 256 experts top-6 of 2048 + 1 shared, 3 hash-routed layers, index 64 × 128.
    let flash = ratios_of("deepseek-ai--DeepSeek-V4-Flash.json");
    assert_eq!(flash.len(), 43);
    assert_eq!(
        (
            flash.iter().filter(|&&r| r == 4).count(),
            flash.iter().filter(|&&r| r == 128).count()
        ),
        (21, 20)
    );
    let m = fixture26("deepseek-ai--DeepSeek-V4-Flash.json");
    let p = param_counts(&m);
    let (total, active) = v4_hand_count(4096, &flash, 64, 1024, 8, 256, 2048, 6);
    assert_eq!((p.total, p.active), (total, active));
    // Model card (https://huggingface.co/deepseek-ai/DeepSeek-V4-Flash, quoted at
    // https://featherless.ai/models/deepseek-ai/DeepSeek-V4-Flash): "284B total
    // parameters (13B activated)".
    near_b(p.total, 284.0, 0.5, "DeepSeek-V4-Flash total");
    near_b(p.active, 13.0, 1.0, "DeepSeek-V4-Flash active");
    // Pro: hidden 7168, 61 layers (128, 128, then 4/128 alternating from 4), 128
    // heads, q_lora 1536, o_groups 16, 384 experts top-6 of 3072.
    let pro = ratios_of("deepseek-ai--DeepSeek-V4-Pro.json");
    assert_eq!(pro.len(), 61);
    let m = fixture26("deepseek-ai--DeepSeek-V4-Pro.json");
    let p = param_counts(&m);
    let (total, active) = v4_hand_count(7168, &pro, 128, 1536, 16, 384, 3072, 6);
    assert_eq!((p.total, p.active), (total, active));
    // Card (https://huggingface.co/deepseek-ai/DeepSeek-V4-Pro): "1.6T parameters
    // (49B activated)" — 1.6T rounds to 0.1T.
    near_b(p.total, 1600.0, 50.0, "DeepSeek-V4-Pro total");
    near_b(p.active, 49.0, 1.0, "DeepSeek-V4-Pro active");
    // The sgl-project FP8 and NVIDIA NVFP4 copies carry the same architecture.
    for f in [
        "sgl-project--DeepSeek-V4-Pro-FP8.json",
        "nvidia--DeepSeek-V4-Pro-NVFP4.json",
    ] {
        assert_eq!(param_counts(&fixture26(f)).total, total, "{f}");
    }
    // The built-in specs (kvplan import of those files) resolve by name and by repo.
    let c = Catalog::builtin().unwrap();
    for (name, f) in [
        ("deepseek-v4-pro", "deepseek-ai--DeepSeek-V4-Pro.json"),
        (
            "deepseek-ai/DeepSeek-V4-Flash",
            "deepseek-ai--DeepSeek-V4-Flash.json",
        ),
        (
            "deepseek-v4-flash-nvfp4",
            "nvidia--DeepSeek-V4-Flash-NVFP4.json",
        ),
        (
            "deepseek-v4-pro-nvfp4",
            "nvidia--DeepSeek-V4-Pro-NVFP4.json",
        ),
        (
            "deepseek-v4-flash-fp8",
            "sgl-project--DeepSeek-V4-Flash-FP8.json",
        ),
        (
            "sgl-project/DeepSeek-V4-Pro-FP8",
            "sgl-project--DeepSeek-V4-Pro-FP8.json",
        ),
    ] {
        let b = c.model(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let m = fixture26(f);
        assert_eq!(param_counts(b), param_counts(&m), "{name}");
        assert_eq!(b.checkpoint_format, m.checkpoint_format, "{name}");
        assert_eq!(b.compressed_attention, m.compressed_attention, "{name}");
    }
}

/// vLLM's DeepSeek-V4 cache, by hand: every layer keeps the last 128 tokens'
/// entries (vLLM `sparse_swa.py` @ 03dc564956 `DeepseekV4SWACache`: "584B per
/// token (448 NoPE + 128 RoPE + 8 fp8 scale)"; `deepseek_v4_attention.py` @
/// 0a291a2e10 `head_bytes` = 448 + 64·2 + 448/64 + 1); a CSA layer (ratio 4) one
/// entry and one indexer key (128 fp8 + one fp32 scale = 132 B,
/// `DeepseekV4Indexer` `k_cache_head_dim`) per 4 tokens, an HCA layer one entry per
/// 128; the compressors' fp32 state (`deepseek_compressor.py` @ 0de10a276e
/// `CompressorStateCache`: `coff·ratio` tokens × 2·coff·head_dim values, coff = 2
/// at ratio 4): CSA 8 × 2048 × 4 B + its indexer's 8 × 512 × 4 B, HCA 128 × 1024 × 4 B.
/// In a 16-bit cache (HF `DeepseekV4CSACache`) entries are 512 bf16 values and the
/// indexer keys 128 bf16 values.
fn v4_sequence_bytes_by_hand(csa: u64, hca: u64, window_only: u64, ctx: u64, entry: u64) -> u64 {
    let key = if entry == 584 { 132 } else { 256 };
    let window = (csa + hca + window_only) * ctx.min(128) * entry;
    let csa_b = csa * (ctx.div_ceil(4) * (entry + key) + 8 * 2048 * 4 + 8 * 512 * 4);
    let hca_b = hca * (ctx.div_ceil(128) * entry + 128 * 1024 * 4);
    window + csa_b + hca_b
}

#[test]
fn deepseek_v4_compressed_kv_per_sequence() {
    let c = Catalog::builtin().unwrap();
    let e = c.engine("vllm").unwrap();
    let m = fixture26("deepseek-ai--DeepSeek-V4-Flash.json");
    let exact = |m: &ModelSpec, d: KvDtype| {
        kv::KvLayout::build(m, e, d, 1, 0..m.num_layers).with_policy(1, true)
    };
    let l = exact(&m, KvDtype::Fp8);
    let ctx = 1 << 20;
    let flash_1m = v4_sequence_bytes_by_hand(21, 20, 2, ctx, 584);
    assert_eq!(l.sequence_bytes(ctx), flash_1m);
    // 4,052,700,160 B ≈ 3.77 GiB for one 1M-token sequence.
    assert_eq!(flash_1m, 4_052_700_160);
    // Fixed per sequence: the compressors' state (21 × 81,920 + 20 × 524,288 B).
    assert_eq!(l.state_bytes_per_sequence(), 21 * 81_920 + 20 * 524_288);
    // Per token past the window: 21 × (584 + 132) / 4 + 20 × 584 / 128 =
    // 3,850.25 B, rounded up; below it each layer also keeps the token's entry.
    assert_eq!(l.growing_bytes_per_token(), 3_851);
    assert_eq!(l.bytes_per_token(), 43 * 584 + 3_851);
    // A short sequence holds only what it has: 100 tokens fill part of the window.
    assert_eq!(
        l.sequence_bytes(100),
        v4_sequence_bytes_by_hand(21, 20, 2, 100, 584)
    );
    // A 16-bit cache (the HF engine) stores each entry's 512 values and each
    // indexer key's 128 in bf16.
    let b = exact(&m, KvDtype::Bf16);
    assert_eq!(
        b.sequence_bytes(ctx),
        v4_sequence_bytes_by_hand(21, 20, 2, ctx, 1024)
    );
    // The shared head is one KV head: TP does not split it.
    let tp8 = kv::KvLayout::build(&m, e, KvDtype::Fp8, 8, 0..m.num_layers).with_policy(1, true);
    assert_eq!(tp8.sequence_bytes(ctx), flash_1m);
    // Pro at 1M: 30 CSA + 31 HCA layers. DeepSeek's card says V4-Pro needs "10% of
    // the KV cache compared with DeepSeek-V3.2" at 1M tokens; V3.2 in vLLM's fp8
    // layout caches 61 × (656 + 132) B per token.
    let pro = fixture26("deepseek-ai--DeepSeek-V4-Pro.json");
    let pro_1m = exact(&pro, KvDtype::Fp8).sequence_bytes(ctx);
    assert_eq!(pro_1m, v4_sequence_bytes_by_hand(30, 31, 0, ctx, 584));
    let v32 = 61 * (656 + 132) * ctx;
    let ratio = pro_1m as f64 / v32 as f64;
    assert!(
        (0.08..0.13).contains(&ratio),
        "V4-Pro / V3.2 KV at 1M = {ratio:.3}"
    );
    // The V4 report's figure, as summarised at
    // https://news.triggerhive.com/entry/2026-04-25/ai-ainews-deepseek-v4-pro-16t-a49b-and-flash-284b-a13b-base-and :
    // "the 1M token context KV cache [is] reduced to 9.62 GiB/sequence (in bf16)" for
    // V4-Pro: the bf16 entries and indexer keys without the compressors' state.
    let b = exact(&pro, KvDtype::Bf16);
    let gib = (b.sequence_bytes(ctx) - b.state_bytes_per_sequence()) as f64 / (1u64 << 30) as f64;
    assert!(
        (gib - 9.62).abs() < 0.005,
        "V4-Pro bf16 KV at 1M = {gib:.4} GiB"
    );
}

#[test]
fn deepseek_v4_checkpoint_bytes() {
    // DeepSeek-V4-Flash as shipped: `quantization_config` fp8 128×128 blocks,
    // `expert_dtype: fp4` → routed experts MXFP4 (vLLM deepseek_v4.py @ 023da1fc82
    // `DeepseekV4FP8Config`: Mxfp4MoEMethod; `DeepseekV4MegaMoEExperts`: uint8
    // weights of in/2 and one uint8 scale per 32 inputs), attention and shared
    // experts fp8 block; the compressor / indexer kv, gate and weights projections
    // bf16 (HF `_keep_in_fp32_modules`: "ship in BF16 with no companion scale_inv");
    // norms, sinks, position biases, hyper-connections, routers, embedding and head
    // 16-bit here.
    // The fp8 block tensors' `scale` (one per 128×128 block) is one ue8m0 byte,
    // not fp32: the config says `scale_fmt: ue8m0`, and vLLM deepseek_v4.py @
    // 023da1fc82 `DeepseekV4FP8Config.is_scale_e8m0`: "FP4 checkpoints store FP8
    // linear scales as e8m0fnu; FP8 expert checkpoints (Flash-Base) store them as
    // float32".
    let m = fixture26("deepseek-ai--DeepSeek-V4-Flash.json");
    assert_eq!(m.checkpoint_format, Some(WeightFormat::Mxfp4));
    assert!(m.checkpoint_layout.as_ref().unwrap().ue8m0_block_scales);
    let h = 4096u64;
    let fp8 = |out: u64, inp: u64| out * inp + out.div_ceil(128) * inp.div_ceil(128);
    let mx = |out: u64, inp: u64| out * inp / 2 + out * inp / 32;
    let ratios = ratios_of("deepseek-ai--DeepSeek-V4-Flash.json");
    let mut bytes = 2 * (2 * 129_280 * h + h + 16 * h + 4 + 1);
    for (i, &r) in ratios.iter().enumerate() {
        let mut b = fp8(1024, h)
            + fp8(64 * 512, 1024)
            + fp8(512, h)
            + fp8(8 * 1024, 64 * 512 / 8)
            + fp8(h, 8 * 1024)
            + 2 * (1024 + 512 + 64);
        if r == 4 {
            b += 2 * (2 * h * 1024 + 4 * 1024 + 512);
            b += 2 * (2 * h * 256 + 4 * 256 + 128 + h * 64) + fp8(64 * 128, 1024);
        } else if r == 128 {
            b += 2 * (2 * h * 512 + 128 * 512 + 512);
        }
        b += 2 * (2 * (24 * 4 * h + 24 + 3) + 2 * h);
        b += 2 * (256 * h + if i < 3 { 129_280 * 6 } else { 256 });
        b += 2 * fp8(2048, h) + fp8(h, 2048);
        b += 256 * (2 * mx(2048, h) + mx(h, 2048));
        bytes += b;
    }
    assert_eq!(total_weight_bytes(&m, WeightFormat::Mxfp4), bytes);
    // The built-in spec (kvplan import of the same file) is sized the same.
    let c = Catalog::builtin().unwrap();
    let b = c.model("deepseek-v4-flash").unwrap();
    assert_eq!(total_weight_bytes(b, WeightFormat::Mxfp4), bytes);
    // NVIDIA's copy keeps that config and adds ModelOpt's `moe_quant_algo: NVFP4`
    // (group 16, fp8 scale per 16 + one fp32 global scale per tensor) for the experts.
    let nv = fixture26("nvidia--DeepSeek-V4-Flash-NVFP4.json");
    assert_eq!(nv.checkpoint_format, Some(WeightFormat::Nvfp4));
    let nvfp4 = |out: u64, inp: u64| out * inp / 2 + out * inp / 16 + 4;
    let per_layer = 256 * (2 * nvfp4(2048, h) + nvfp4(h, 2048) - 2 * mx(2048, h) - mx(h, 2048));
    assert_eq!(
        total_weight_bytes(&nv, WeightFormat::Nvfp4),
        bytes + 43 * per_layer
    );
    // With fp32 block scales the same tensors would weigh 3 B more per block.
    let blocks: u64 = ratios
        .iter()
        .map(|&r| {
            let b = |o: u64, i: u64| o.div_ceil(128) * i.div_ceil(128);
            let mut n = b(1024, h)
                + b(64 * 512, 1024)
                + b(512, h)
                + b(8 * 1024, 64 * 512 / 8)
                + b(h, 8 * 1024)
                + 2 * b(2048, h)
                + b(h, 2048);
            if r == 4 {
                n += b(64 * 128, 1024);
            }
            n
        })
        .sum();
    // Per layer: q_a 8·32 + q_b 256·8 + kv 4·32 + o_a 64·32 + o_b 32·64 + shared
    // expert 2·16·32 + 32·16 = 8,064 blocks, + 64·8 for a CSA layer's indexer q_b.
    assert_eq!(blocks, 21 * (8_064 + 512) + 22 * 8_064);
    assert_eq!(3 * blocks, 1_072_512);
    // sgl-project's FP8 copy has no expert_dtype (vLLM's float32-scale case): every
    // linear layer fp8 block with fp32 scales.
    let sgl = fixture26("sgl-project--DeepSeek-V4-Flash-FP8.json");
    assert_eq!(sgl.checkpoint_format, Some(WeightFormat::Fp8Block));
    assert!(sgl
        .checkpoint_layout
        .as_ref()
        .is_none_or(|l| !l.ue8m0_block_scales));
}

#[test]
fn deepseek_v4_configs_kvplan_cannot_model_name_the_field() {
    let path = format!(
        "{}/tests/fixtures/hf-configs/2026/deepseek-ai--DeepSeek-V4-Flash.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["compress_ratios"][5] = serde_json::json!(16);
    let e = hf::parse_config(&v.to_string(), "v4.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("compress_ratios[5]"), "{e}");
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["num_key_value_heads"] = serde_json::json!(8);
    let e = hf::parse_config(&v.to_string(), "v4.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("num_key_value_heads"), "{e}");
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["expert_dtype"] = serde_json::json!("int4");
    let e = hf::parse_config(&v.to_string(), "v4.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("expert_dtype"), "{e}");
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("o_groups");
    let e = hf::parse_config(&v.to_string(), "v4.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("o_groups"), "{e}");
    // vLLM and SGLang run the cache in fp8 only.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args(["estimate", &path, "--gpus", "8xH200", "--kv-dtype", "bf16"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kv-dtype"));
}

#[test]
fn minimax_m3_block_sparse_index() {
    // MiniMaxAI--MiniMax-M3.json: hidden 6144, 60 layers (first 3 dense MLPs of
    // dense_intermediate_size 12288, then MoE: 128 experts top-4 of 3072 + one shared
    // of 3072, sigmoid router with a routing bias), 64 heads × 128, 4 KV heads,
    // per-head Gemma q/k norms, vocab 200064 untied; sparse_attention_config: index 4
    // heads × 128 on the 57 layers of sparse_attention_freq, all with
    // sparse_disable_index_value 1 (no index value, no index_o_proj). Tensors as
    // SGLang `python/sglang/srt/models/minimax_m3.py` (sgl-project/sglang @ 01b5f572b7)
    // builds them: qkv_proj, o_proj, q_norm/k_norm of head_dim, on sparse layers
    // index_qkv_proj (hidden → 4 × 128 + 128) and index_q_norm / index_k_norm.
    let m = fixture26("MiniMaxAI--MiniMax-M3.json");
    let h = 6144u64;
    let attn = h * (64 + 2 * 4) * 128 + 64 * 128 * h + 2 * 128;
    let index = h * (4 * 128 + 128) + 2 * 128;
    let expert = 3 * h * 3072;
    let moe = 128 * h + 128 + expert + 128 * expert;
    let dense = 3 * h * 12288;
    let expected =
        3 * (attn + dense + 2 * h) + 57 * (attn + index + moe + 2 * h) + 2 * 200_064 * h + h;
    let p = param_counts(&m);
    assert_eq!(p.total, expected);
    // Model card (https://huggingface.co/MiniMaxAI/MiniMax-M3, mirrored at
    // https://huggingface.co/unsloth/MiniMax-M3): "~428B parameters and ~23B
    // activated" for the multimodal model: the language model counts 426.17B (the
    // vision tower is the rest), 23.50B active without the embedding and head.
    near_b(p.total, 428.0, 2.5, "MiniMax-M3 total");
    near_b(p.active - 2 * 200_064 * h, 23.0, 1.0, "MiniMax-M3 active");
    // MTP: the checkpoint ships `num_mtp_modules` 7 draft modules as
    // model.mtp.layers.{0..6}.* (SGLang minimax_m3.py @ 01b5f572b7
    // `get_spec_layer_idx_from_weight_name`, which skips them: SGLang builds no
    // NextN module for M3, so they hold no KV there); the config's
    // num_nextn_predict_layers 1 is not the module count. Each is counted as
    // kvplan counts the other MTP models' (DeepSeek-V3 style): enorm, hnorm,
    // eh_proj 2h → h, the shared head's norm, and a decoder layer like the last
    // (sparse-index MoE) one.
    assert_eq!(m.mtp_layers, 7);
    assert_eq!(p.mtp, 7 * (3 * h + 2 * h * h + attn + index + moe + 2 * h));
    let c = Catalog::builtin().unwrap();
    assert_eq!(c.model("minimax-m3").unwrap().mtp_layers, 7);
    // NVIDIA's NVFP4 copy says num_mtp_modules 1.
    assert_eq!(fixture26("nvidia--MiniMax-M3-NVFP4.json").mtp_layers, 1);
    // KV (SGLang pool_configurator `_compute_cell_size`, is_minimax_sparse): K + V of
    // every layer plus the index key of each sparse layer, in the model dtype even
    // under an fp8 KV cache.
    assert_eq!(
        kv_and_state(&m, KvDtype::Bf16),
        (60 * 2 * 4 * 128 * 2 + 57 * 128 * 2, 0)
    );
    assert_eq!(kv_and_state(&m, KvDtype::Bf16).0, 137_472);
    assert_eq!(
        kv_and_state(&m, KvDtype::Fp8).0,
        60 * 2 * 4 * 128 + 57 * 128 * 2
    );
    // A sparse layer that keeps the index value caches it too and has index_o_proj.
    let path = format!(
        "{}/tests/fixtures/hf-configs/2026/MiniMaxAI--MiniMax-M3.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["sparse_attention_config"]["sparse_disable_index_value"][10] = serde_json::json!(0);
    let m2 = hf::parse_config(&v.to_string(), "m3.json").unwrap();
    assert_eq!(param_counts(&m2).total - p.total, h * 128 + 4 * 128 * h);
    assert_eq!(kv_and_state(&m2, KvDtype::Bf16).0, 137_472 + 128 * 2);
    // The config as a string holding the object reads the same; a broken one names
    // the field.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let sc = v["sparse_attention_config"].to_string();
    v["sparse_attention_config"] = serde_json::json!(sc);
    assert_eq!(
        param_counts(&hf::parse_config(&v.to_string(), "m3.json").unwrap()).total,
        p.total
    );
    v["sparse_attention_config"] = serde_json::json!("{'use_sparse_attention': True}");
    let e = hf::parse_config(&v.to_string(), "m3.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("sparse_attention_config"), "{e}");
}

/// Qwen3 dense (HF transformers `models/qwen3/modeling_qwen3.py`, v4.51.0, the
/// release the configs name): per layer `q_proj`, `k_proj`, `v_proj`, `o_proj`
/// without biases (attention_bias false), `q_norm` / `k_norm` RMSNorms of
/// head_dim, `input_layernorm`, `post_attention_layernorm`, and the gated MLP
/// (`gate_proj`, `up_proj`, `down_proj`); then the final norm and the
/// embedding, which the 0.6B and 1.7B share with the head (tie_word_embeddings).
#[test]
fn qwen3_dense_hand_count_and_tied_head() {
    // (file, hidden, intermediate, card total, card non-embedding)
    // Cards (https://huggingface.co/Qwen/Qwen3-0.6B, quoted at
    // https://www.fitmyllm.com/model/qwen3-0.6b): "Number of Parameters: 0.6B",
    // "Number of Paramaters (Non-Embedding): 0.44B"; Qwen3-1.7B (card mirror quoted
    // at http://www.nshx.cn/Finance/32907.html): 1.7B, non-embedding 1.4B. The names
    // round to 0.1B; the non-embedding figures include the final norm.
    for (f, h, ff, card, card_non_emb) in [
        ("Qwen--Qwen3-0.6B.json", 1024u64, 3072u64, 0.6, 0.44),
        ("Qwen--Qwen3-1.7B.json", 2048, 6144, 1.7, 1.4),
    ] {
        // Both: 28 layers, 16 query heads × 128, 8 KV heads, vocab 151936.
        let attn = h * 16 * 128 + 2 * h * 8 * 128 + 16 * 128 * h + 2 * 128;
        let layer = attn + 3 * h * ff + 2 * h;
        let embedding = 151_936 * h;
        let expected = 28 * layer + embedding + h;
        let m = fixture26(f);
        assert!(m.tie_word_embeddings, "{f}");
        let p = param_counts(&m);
        assert_eq!(p.total, expected, "{f}");
        assert_eq!(p.active, expected, "{f}");
        assert_eq!(p.embedding, embedding, "{f}");
        near_b(p.total, card, 0.05, f);
        near_b(p.total - embedding, card_non_emb, 0.05, f);
        // KV (bf16): 28 layers × 8 KV heads × (K + V) × 128 × 2 B, no fixed state.
        assert_eq!(kv_and_state(&m, KvDtype::Bf16), (28 * 8 * 2 * 128 * 2, 0));
        // The tied head is stored once: a bf16 checkpoint is 2 B per parameter.
        assert_eq!(total_weight_bytes(&m, WeightFormat::Bf16), 2 * expected);
    }
    assert_eq!(
        param_counts(&fixture26("Qwen--Qwen3-0.6B.json")).total,
        596_049_920
    );
}

/// Qwen3-32B-FP8-Static-PerTensor: config.json's ModelOpt block (and the
/// hf_quant_config.json beside it) says FP8 per tensor with static activation
/// scales, `lm_head` excluded, FP8 KV cache.
#[test]
fn qwen3_32b_fp8_per_tensor_checkpoint_bytes() {
    let m = fixture26("Qwen--Qwen3-32B-FP8-Static-PerTensor.json");
    assert_eq!(m.checkpoint_format, Some(WeightFormat::Fp8));
    let lay = m.checkpoint_layout.as_ref().unwrap();
    assert_eq!(lay.kv_cache_dtype, Some(KvDtype::Fp8));
    // Qwen3 dense: hidden 5120, 64 layers, 64 query heads × 128, 8 KV heads, q/k
    // norms of 128, MLP 25600, vocab 151936 untied.
    let h = 5120u64;
    let (q, kv, ff, v) = (64 * 128u64, 8 * 128u64, 25_600u64, 151_936u64);
    let params = 64 * (h * q + 2 * h * kv + q * h + 2 * 128 + 3 * h * ff + 2 * h) + 2 * v * h + h;
    let p = param_counts(&m);
    assert_eq!(p.total, params);
    near_b(p.total, 32.8, 0.05, "Qwen3-32B total (card: 32.8B)");
    // ModelOpt FP8 per-tensor layout: each quantized linear stores `weight` as
    // float8_e4m3fn [out, in] (1 B per value) and `weight_scale` as one fp32
    // scalar; the 7 linears per layer are quantized. 16-bit: the embedding,
    // lm_head (exclude_modules), the norms.
    let fp8 = |o: u64, i: u64| o * i + 4;
    let layer = fp8(q, h) + 2 * fp8(kv, h) + fp8(h, q) + 2 * fp8(ff, h) + fp8(h, ff);
    let b16 = 2 * (64 * (2 * 128 + 2 * h) + 2 * v * h + h);
    let expected = 64 * layer + b16;
    assert_eq!(total_weight_bytes(&m, WeightFormat::Fp8), expected);
    // Not counted (4 B scalars, 2,304 B in all): each linear's static `input_scale`
    // and the attention's `k_scale` / `v_scale` of the FP8 KV cache.
    assert_eq!(expected, 34_318_626_560);
    // The sidecar alone (a local config.json without the block) reads the same.
    let path = format!(
        "{}/tests/fixtures/hf-configs/2026/Qwen--Qwen3-32B-FP8-Static-PerTensor.hf_quant_config.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let cfg_path = format!(
        "{}/tests/fixtures/hf-configs/2026/Qwen--Qwen3-32B-FP8-Static-PerTensor.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("quantization_config");
    let mut plain = hf::parse_config(&v.to_string(), "qwen3-32b.json").unwrap();
    assert_eq!(plain.checkpoint_format, None);
    hf::apply_modelopt_sidecar(&mut plain, &text, &path).unwrap();
    assert_eq!(plain.checkpoint_format, Some(WeightFormat::Fp8));
    assert_eq!(total_weight_bytes(&plain, WeightFormat::Fp8), expected);
}

/// Qwen3-MoE (HF `models/qwen3_moe/modeling_qwen3_moe.py`, v4.51.0): attention as
/// Qwen3 (q/k norms of head_dim, no biases), `mlp.gate` router (experts × hidden,
/// no bias), routed experts of gate/up/down; no shared expert
/// (shared_expert_intermediate_size 0), every layer MoE (decoder_sparse_step 1,
/// mlp_only_layers empty).
#[test]
fn qwen3_coder_480b_a35b_moe() {
    // Qwen--Qwen3-Coder-480B-A35B-Instruct.json: hidden 6144, 62 layers, 96 heads ×
    // 128, 8 KV heads, 160 experts top-8 of 2560, vocab 151936 untied.
    let h = 6144u64;
    let attn = h * 96 * 128 + 2 * h * 8 * 128 + 96 * 128 * h + 2 * 128;
    let expert = 3 * h * 2560;
    let layer = attn + 160 * expert + 160 * h + 2 * h;
    let expected = 62 * layer + 2 * 151_936 * h + h;
    let m = fixture26("Qwen--Qwen3-Coder-480B-A35B-Instruct.json");
    let p = param_counts(&m);
    assert_eq!(p.total, expected);
    assert_eq!(p.active, expected - 62 * (160 - 8) * expert);
    assert_eq!(p.total, 480_154_875_392);
    // Name "480B-A35B" (rounded to 1B; active with embedding and head).
    near_b(p.total, 480.0, 0.5, "Qwen3-Coder-480B total");
    near_b(p.active, 35.0, 0.5, "Qwen3-Coder-480B active");
    // KV (bf16): 62 layers × 8 KV heads × (K + V) × 128 × 2 B.
    assert_eq!(kv_and_state(&m, KvDtype::Bf16), (62 * 8 * 2 * 128 * 2, 0));
}

/// Qwen3-Next (HF `models/qwen3_next/modeling_qwen3_next.py`, v4.57.0): every 4th
/// layer gated full attention (q_proj emits query + gate, q/k norms of head_dim),
/// the others Gated DeltaNet (`in_proj_qkvz`, `in_proj_ba`, `conv1d` without bias,
/// `dt_bias`, `A_log`, gated `norm` of value_head_dim, `out_proj`); MoE on every
/// layer with one shared expert behind a sigmoid `shared_expert_gate`.
#[test]
fn qwen3_next_80b_a3b_gdn_state() {
    // Qwen--Qwen3-Next-80B-A3B-Thinking.json: hidden 2048, 48 layers
    // (full_attention_interval 4 → 12 full, 36 linear), 16 heads × 256, 2 KV heads;
    // GDN 16 key heads × 128, 32 value heads × 128, conv 4; 512 experts top-10 of
    // 512 + shared 512; vocab 151936 untied.
    let h = 2048u64;
    let full = h * (2 * 16 * 256) + 2 * h * (2 * 256) + (16 * 256) * h + 2 * 256;
    let (kd, vd) = (16 * 128u64, 32 * 128u64);
    let conv_dim = 2 * kd + vd;
    let gdn = h * (2 * kd + 2 * vd) + h * (2 * 32) + conv_dim * 4 + 32 + 32 + 128 + vd * h;
    let expert = 3 * h * 512;
    let moe = 512 * expert + expert + h + 512 * h;
    let expected = 12 * (full + moe + 2 * h) + 36 * (gdn + moe + 2 * h) + 2 * 151_936 * h + h;
    let m = fixture26("Qwen--Qwen3-Next-80B-A3B-Thinking.json");
    let p = param_counts(&m);
    assert_eq!(p.total, expected);
    assert_eq!(p.active, expected - 48 * (512 - 10) * expert);
    near_b(p.total, 80.0, 0.5, "Qwen3-Next-80B total");
    // The file has no MTP field (num_nextn_predict_layers): no MTP block is counted
    // (the names leave MTP out, as DeepSeek-V3's 671B does).
    assert_eq!(m.mtp_layers, 0);
    assert_eq!(p.mtp, 0);
    // KV (bf16): 12 full layers × 2 KV heads × (K + V) × 256 × 2 B. State per
    // linear layer (vLLM `MambaStateShapeCalculator.gated_delta_net_state_shape`):
    // conv (kernel − 1) × conv_dim + recurrent 32 value heads × 128 × 128, both in
    // the model dtype bf16 here — the config sets no mamba_ssm_dtype, and vLLM's
    // `MambaStateDtypeCalculator` keeps the state in the model dtype for "auto".
    let (kv_tok, state) = kv_and_state(&m, KvDtype::Bf16);
    assert_eq!(kv_tok, 12 * 2 * 2 * 256 * 2);
    assert_eq!(state, 36 * (3 * conv_dim * 2 + 32 * 128 * 128 * 2));
    assert_eq!(state, 39_518_208);
}

/// MiMo-7B (XiaomiMiMo--MiMo-7B-Base.json, `MiMoForCausalLM`: the Qwen2 decoder —
/// HF `models/qwen2/modeling_qwen2.py` — with q/k/v biases, attention_bias true):
/// hidden 4096, 36 layers, 32 heads × 128, 8 KV heads, MLP 11008, vocab 151680
/// untied; one MTP layer (num_nextn_predict_layers 1).
#[test]
fn mimo_7b_dense_with_mtp_layer() {
    let h = 4096u64;
    let attn = h * 32 * 128 + 2 * h * 8 * 128 + 32 * 128 * h + (32 * 128 + 2 * 8 * 128);
    let layer = attn + 3 * h * 11_008 + 2 * h;
    let (emb, head) = (151_680 * h, 151_680 * h);
    let expected = 36 * layer + emb + head + h;
    let m = fixture26("XiaomiMiMo--MiMo-7B-Base.json");
    let p = param_counts(&m);
    assert_eq!(p.total, expected);
    assert_eq!(p.total, 7_622_619_136);
    // Name "7B": between the non-embedding count (6.38B) and the total (7.62B),
    // rounded down (7.0B without the untied head).
    let lo = (p.total - emb - head) as f64 / 1e9;
    assert!(lo <= 7.0 && 7.0 <= p.total as f64 / 1e9, "{lo}");
    // The MTP layer (vLLM `models/mimo_mtp.py` MiMoMultiTokenPredictorLayer:
    // token_layernorm, hidden_layernorm, input_proj 2h → h without bias, one
    // Qwen2DecoderLayer `mtp_block`, final_layernorm; embedding and head shared
    // with the main model). kvplan counts it apart from the total, in
    // ParamCounts.mtp, and adds it to the weights with --mtp.
    assert_eq!(m.mtp_layers, 1);
    assert_eq!(p.mtp, 3 * h + 2 * h * h + layer);
    assert_eq!(p.mtp, 210_790_400);
    // KV (bf16): 36 layers × 8 KV heads × (K + V) × 128 × 2 B (the MTP layer's
    // own attention adds one more layer's worth when drafting with it).
    assert_eq!(kv_and_state(&m, KvDtype::Bf16), (36 * 8 * 2 * 128 * 2, 0));
}

/// GLM-4.x MoE (HF `models/glm4_moe/modeling_glm4_moe.py`, v4.57.0
/// Glm4MoeAttention / Glm4MoeMoE / Glm4MoeDecoderLayer) with the fields the
/// trimmed copy keeps: hidden 5120, 92 layers (first 3 dense of 12288), 96 heads
/// × 128, 8 KV heads, 160 routed experts top-8 of 1536 + 1 shared, vocab 151552
/// untied. The copy drops attention_bias, use_qk_norm, the router's score bias and
/// num_nextn_predict_layers (SOURCES.md: TRIMMED), so none of them is counted.
#[test]
fn glm_4_7_moe_and_flash_mla() {
    let h = 5120u64;
    let attn = h * 96 * 128 + 2 * h * 8 * 128 + 96 * 128 * h;
    let expert = 3 * h * 1536;
    let moe = 160 * expert + expert + 160 * h;
    let dense = 3 * h * 12_288;
    let expected = 3 * (attn + dense + 2 * h) + 89 * (attn + moe + 2 * h) + 2 * 151_552 * h + h;
    let m = fixture26("zai-org--GLM-4.7-FP8.json");
    let p = param_counts(&m);
    assert_eq!(p.total, expected);
    assert_eq!(p.active, expected - 89 * (160 - 8) * expert);
    // Z.ai's card (GLM-4.5/4.6/4.7 architecture): 355B total, 32B active. The
    // dropped fields are worth 1.3M (biases, q/k norms) — small next to the name's
    // rounding; the MTP layer (≈ 4B) is not in the name's count.
    near_b(p.total, 355.0, 2.5, "GLM-4.7 total");
    near_b(p.active - 2 * 151_552 * h, 32.0, 0.5, "GLM-4.7 active");
    assert_eq!(kv_and_state(&m, KvDtype::Bf16), (92 * 8 * 2 * 128 * 2, 0));

    // GLM-4.7-Flash (zai-org--GLM-4.7-Flash.json, glm4_moe_lite: MLA as DeepSeek-V3 —
    // q_lora 768, kv_lora 512, qk_nope 192, rope 64, v 256, 20 heads): hidden 2048, 47
    // layers (first dense of 10240), 64 experts top-4 of 1536 + 1 shared, vocab
    // 154880 untied.
    let h = 2048u64;
    let mla =
        h * 768 + 768 + 768 * 20 * 256 + h * 576 + 512 + 512 * 20 * (192 + 256) + 20 * 256 * h;
    let expert = 3 * h * 1536;
    let moe = 64 * expert + expert + 64 * h;
    let dense = 3 * h * 10_240;
    let expected = (mla + dense + 2 * h) + 46 * (mla + moe + 2 * h) + 2 * 154_880 * h + h;
    let f = fixture26("zai-org--GLM-4.7-Flash.json");
    let p = param_counts(&f);
    assert_eq!(p.total, expected);
    assert_eq!(p.active, expected - 46 * (64 - 4) * expert);
    // Card: "30B-A3B" MoE; the active count lies between the non-embedding count
    // and the total, give or take the rounding, as for Qwen's names.
    near_b(p.total, 30.0, 0.5, "GLM-4.7-Flash total");
    let lo = (p.active - 2 * 154_880 * h) as f64 / 1e9 - 0.5;
    let hi = p.active as f64 / 1e9 + 0.5;
    assert!(lo <= 3.0 && 3.0 <= hi, "A3B outside [{lo:.2}, {hi:.2}]");
    // KV (bf16): the MLA latent 512 + rope 64 per layer.
    assert_eq!(kv_and_state(&f, KvDtype::Bf16), (47 * 576 * 2, 0));
}

/// GLM-4.7-FP8's copy has no quantization_config (TRIMMED), so kvplan cannot know
/// the checkpoint's format: the estimate must say it sized the weights as the
/// model dtype.
#[test]
fn glm_4_7_fp8_unknown_format_is_stated() {
    let m = fixture26("zai-org--GLM-4.7-FP8.json");
    assert_eq!(m.checkpoint_format, None);
    let path = format!(
        "{}/tests/fixtures/hf-configs/2026/zai-org--GLM-4.7-FP8.json",
        env!("CARGO_MANIFEST_DIR")
    );
    for model in [path.as_str(), "glm-4.7-fp8"] {
        let v = estimate_json(&[model, "--gpus", "8xH200", "--ctx", "32k"]);
        assert_eq!(v["model"]["checkpoint_format"], serde_json::Value::Null);
        let notes = v["assumptions"].to_string();
        assert!(
            notes.contains("checkpoint format unknown: the name says 'FP8'")
                && notes.contains("sized as bf16"),
            "{model}: {notes}"
        );
        // Told the format, it says nothing of the kind.
        let v = estimate_json(&[
            model,
            "--gpus",
            "8xH200",
            "--ctx",
            "32k",
            "--weights",
            "fp8-block",
        ]);
        assert!(!v["assumptions"].to_string().contains("format unknown"));
    }
    // A bf16 model whose name announces nothing gets no such note.
    let v = estimate_json(&["qwen3-0.6b", "--gpus", "H200", "--ctx", "32k"]);
    assert!(!v["assumptions"].to_string().contains("format unknown"));
}

/// Nemotron-3 Nano (NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.json): the Super layout
/// (nemotron_super test above; HF NemotronHMamba2Mixer, NemotronH attention and
/// MoE) without the latent projections: hidden 2688, 52 blocks, Mamba2 64 heads ×
/// 64, n_groups 8, state 128, conv 4 with bias; attention 32 heads × 128, 2 KV
/// heads; 128 experts top-6 of 1856 + shared 3712, squared ReLU (up and down only),
/// router with score-correction bias; vocab 131072 untied.
#[test]
fn nemotron_3_nano_and_ultra_names() {
    let pattern = "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME";
    let count = |c: char| pattern.chars().filter(|x| *x == c).count() as u64;
    let (nm, na, ne) = (count('M'), count('*'), count('E'));
    assert_eq!((nm, na, ne), (23, 6, 23));
    let h = 2688u64;
    let inner = 64 * 64u64;
    let conv_dim = inner + 2 * 8 * 128;
    let mamba =
        h * (2 * inner + 2 * 8 * 128 + 64) + conv_dim * 4 + conv_dim + 3 * 64 + inner + inner * h;
    let attn = h * 4096 + 2 * h * 256 + 4096 * h;
    let expert = 2 * h * 1856;
    let moe = 128 * expert + 2 * h * 3712 + 128 * h + 128;
    let expected = nm * (mamba + h) + na * (attn + h) + ne * (moe + h) + 2 * 131_072 * h + h;
    let m = fixture26("nvidia--NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.json");
    let p = param_counts(&m);
    assert_eq!(p.total, expected);
    assert_eq!(p.active, expected - ne * (128 - 6) * expert);
    // Name "30B-A3B" (rounded to 1B / 0.5B).
    near_b(p.total, 30.0, 2.0, "Nemotron-3-Nano total");
    near_b(
        p.active - 2 * 131_072 * h,
        3.0,
        0.5,
        "Nemotron-3-Nano active",
    );
    // KV: 6 attention layers × 2 KV heads × (K + V) × 128 × 2 B; state (vLLM
    // mamba2_state_shape): conv 3 × conv_dim bf16 + SSM 64 × 64 × 128 float32.
    let (kv_tok, state) = kv_and_state(&m, KvDtype::Bf16);
    assert_eq!(kv_tok, 6 * 2 * 2 * 128 * 2);
    assert_eq!(state, 23 * (3 * conv_dim * 2 + 64 * 64 * 128 * 4));
    // The aiconfigurator copy under its older name is the same file.
    assert_eq!(param_counts(&fixture26("nvidia--Nemotron-3-Nano.json")), p);
    // Ultra: "550B-A55B".
    let u = param_counts(&fixture26(
        "nvidia--NVIDIA-Nemotron-3-Ultra-550B-A55B-BF16.json",
    ));
    near_b(u.total, 550.0, 5.0, "Nemotron-3-Ultra total");
    near_b(
        u.active - 2 * 131_072 * 8192,
        55.0,
        2.5,
        "Nemotron-3-Ultra active",
    );
}

/// NVIDIA's Kimi-K2.6-NVFP4 (hf_quant_config.json: NVFP4 group 16;
/// exclude_modules: lm_head, all of layer 0 (the dense layer), every layer's
/// self_attn and shared_experts): only the routed experts are 4-bit.
#[test]
fn kimi_k2_6_nvfp4_sidecar_bytes() {
    let mut m = fixture26("nvidia--Kimi-K2.6-NVFP4.json");
    let path = format!(
        "{}/tests/fixtures/hf-configs/2026/nvidia--Kimi-K2.6-NVFP4.hf_quant_config.json",
        env!("CARGO_MANIFEST_DIR")
    );
    if m.checkpoint_format.is_none() {
        hf::apply_modelopt_sidecar(&mut m, &std::fs::read_to_string(&path).unwrap(), &path)
            .unwrap();
    }
    assert_eq!(m.checkpoint_format, Some(WeightFormat::Nvfp4));
    let p = param_counts(&m);
    // The Kimi-K2 architecture (the K2.5 reference count above).
    near_b(p.total, 1026.41, 0.01, "Kimi-K2.6 total");
    near_b(p.active, 32.86, 0.01, "Kimi-K2.6 active");
    // NVFP4 layout (ModelOpt export): `weight` e2m1 pairs uint8 [out, in/2],
    // `weight_scale` e4m3 [out, in/16], `weight_scale_2` one fp32 scalar.
    let nvfp4 = |o: u64, i: u64| o * i / 2 + o * (i / 16) + 4;
    let (h, e) = (7168u64, 2048u64);
    let routed = 60 * 384u64; // 61 layers, first_k_dense_replace 1
    let expected = routed * (2 * nvfp4(e, h) + nvfp4(h, e)) + (p.total - routed * 3 * h * e) * 2;
    assert_eq!(total_weight_bytes(&m, WeightFormat::Nvfp4), expected);
    // ≈ 591 GB: 4.5 bits per routed-expert weight, 16 bits elsewhere.
    assert!((expected as f64 / 1e9 - 591.0).abs() < 8.0, "{expected}");
    // K2.7-Code and GLM-5.1 / 5.2 / 5.3 and DeepSeek-V3.1-NVFP4 by name.
    for (f, total) in [
        ("nvidia--Kimi-K2.7-Code-NVFP4.json", 1026.41),
        ("zai-org--GLM-5.1.json", 744.0),
        ("zai-org--GLM-5.3.json", 744.0),
        ("nvidia--DeepSeek-V3.1-NVFP4.json", 671.0),
    ] {
        near_b(param_counts(&fixture26(f)).total, total, total * 0.012, f);
    }
}

#[test]
fn minimax_m3_mtp_says_what_it_assumes() {
    // SGLang `minimax_m3.py` (@ 01b5f572b7) skips the `model.mtp.*` weights: with --mtp
    // the estimate must say its MTP memory rests on an assumption.
    let v = estimate_json(&["minimax-m3", "--gpus", "8xH200", "--ctx", "32k", "--mtp"]);
    let notes = v["assumptions"].to_string();
    assert!(
        notes.contains("MiniMax-M3's 7 MTP modules counted"),
        "{notes}"
    );
    let v = estimate_json(&["minimax-m3", "--gpus", "8xH200", "--ctx", "32k"]);
    assert!(!v["assumptions"].to_string().contains("MTP modules counted"));
}

/// The vision tower's shape as SGLang's memory fraction reads it, from the
/// configs: Kimi-K2.5's `vision_config` spells it `vt_num_hidden_layers` 27,
/// `vt_hidden_size` 1152 (moonshotai--Kimi-K2.5.json); Gemma 4's SigLIP
/// tower `num_hidden_layers` 27, `hidden_size` 1152
/// (google--gemma-4-26B-A4B.json); Qwen3-VL names its depth `depth`, which
/// SGLang does not read, so only the width 1152 is taken and the depth is
/// SGLang's default 24 (Qwen--Qwen3-VL-30B-A3B-Instruct.json). The built-in
/// Kimi-K2.5 spec carries the same shape as its config.
#[test]
fn vision_tower_shape_as_sglang_reads_it() {
    use kvplan::spec::model::VisionTowerShape;
    let shape = |l, w| {
        Some(VisionTowerShape {
            num_hidden_layers: l,
            hidden_size: w,
        })
    };
    assert_eq!(
        fixture26("moonshotai--Kimi-K2.5.json").vision_tower_shape,
        shape(27, 1152)
    );
    assert_eq!(
        fixture26("google--gemma-4-26B-A4B.json").vision_tower_shape,
        shape(27, 1152)
    );
    let qvl = fixture26("Qwen--Qwen3-VL-30B-A3B-Instruct.json");
    assert_eq!(qvl.sglang_vision_tower_shape(), shape(24, 1152));
    let c = kvplan::spec::Catalog::builtin().unwrap();
    assert_eq!(
        c.model("kimi-k2.5").unwrap().vision_tower_shape,
        shape(27, 1152)
    );
    // A text-only model has none.
    assert_eq!(
        c.model("glm-5-fp8").unwrap().sglang_vision_tower_shape(),
        None
    );
}

#[test]
fn out_of_range_deepseek_v4_ranks_are_rejected_not_overflowed() {
    // A fuzz finding (api_request, /api/config): a DeepSeek-V4 config with a
    // q_lora_rank far beyond any model overflowed the weight arithmetic. The
    // compressed-attention ranks, the DSA indexer and MiniMax's sparse index
    // are now bounded like MLA's (spec::bounds, LORA_RANK ≤ 65,536).
    let path = format!(
        "{}/tests/fixtures/hf-configs/2026/deepseek-ai--DeepSeek-V4-Flash.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(kvplan::spec::hf::parse_config(&text, "v4").is_ok());
    for (field, huge) in [
        (
            "\"q_lora_rank\": 1024",
            "\"q_lora_rank\": 15311111111111111111111111111116",
        ),
        ("\"q_lora_rank\": 1024", "\"q_lora_rank\": 70000"),
        ("\"o_lora_rank\": 1024", "\"o_lora_rank\": 1000000"),
        ("\"index_head_dim\": 128", "\"index_head_dim\": 100000"),
    ] {
        assert!(text.contains(field), "{field}");
        let bad = text.replacen(field, huge, 1);
        let e = kvplan::spec::hf::parse_config(&bad, "v4")
            .expect_err(huge)
            .to_string();
        let name = field.split('"').nth(1).unwrap();
        assert!(
            e.contains(name.trim_start_matches("index_")) || e.contains(name),
            "{huge}: {e}"
        );
    }
}
