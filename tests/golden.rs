//! Golden numbers, each from a source independent of kvplan's code: the
//! parameter counts printed in docs/sources/models.md (counted by a separate
//! script and checked there against official figures), derivations from the
//! config.json written out in the test, the DeepSeek-V2 paper's KV formulas,
//! and the checkpoint tensor layouts of each quantization format.

mod common;
use common::{builtin, fixture};
use kvplan::memory::kv;
use kvplan::memory::weights::{param_counts, total_weight_bytes};
use kvplan::spec::dtype::{KvDtype, WeightFormat};
use kvplan::spec::Catalog;

/// Assert `got` rounds to `billions` at two decimals (docs/sources/models.md precision).
fn assert_billions(got: u64, billions: f64, what: &str) {
    let g = got as f64 / 1e9;
    assert!(
        (g - billions).abs() <= 0.0051,
        "{what}: counted {g:.4}B, reference {billions}B"
    );
}

#[test]
fn llama_3_1_8b_exact_param_count() {
    // Derivation from meta-llama--Meta-Llama-3.1-8B.json (HF LlamaForCausalLM tensors):
    // hidden 4096, 32 layers, 32 heads × 128, 8 KV heads, MLP 14336, vocab 128256, untied.
    let (h, l, kv, inter, vocab) = (4096u64, 32u64, 1024u64, 14336u64, 128256u64);
    let per_layer = h * h /*q*/ + 2 * h * kv /*k,v*/ + h * h /*o*/ + 3 * h * inter + 2 * h /*norms*/;
    let expected = l * per_layer + 2 * vocab * h + h;
    assert_eq!(expected, 8_030_261_248);
    let p = param_counts(&fixture("meta-llama--Meta-Llama-3.1-8B.json"));
    assert_eq!(p.total, expected);
    assert_eq!(p.active, expected);
}

#[test]
fn llama_2_7b_mha_exact_param_count() {
    // meta-llama--Llama-2-7b-hf.json: MHA 32×128, MLP 11008, vocab 32000.
    let (h, l, inter, vocab) = (4096u64, 32u64, 11008u64, 32000u64);
    let expected = l * (4 * h * h + 3 * h * inter + 2 * h) + 2 * vocab * h + h;
    assert_eq!(
        param_counts(&fixture("meta-llama--Llama-2-7b-hf.json")).total,
        expected
    );
    assert_billions(expected, 6.74, "Llama-2-7B");
}

#[test]
fn deepseek_v3_params_mla_moe_mtp() {
    // Derivation from deepseek-ai--DeepSeek-V3.json (HF DeepseekV3 tensors):
    let (h, vocab) = (7168u64, 129280u64);
    let mla = 7168 * 1536
        + 1536
        + 1536 * 128 * 192
        + 7168 * 576
        + 512
        + 512 * 128 * 256
        + 128 * 128 * 7168;
    let expert = 3 * h * 2048;
    let moe_layer = 256 * expert + expert /*shared*/ + 256 * h /*router*/ + 256 /*e_score_correction_bias*/;
    let dense_layer = 3 * h * 18432;
    let expected = 61 * (mla + 2 * h) + 3 * dense_layer + 58 * moe_layer + 2 * vocab * h + h;
    assert_eq!(expected, 671_026_419_200);
    let p = param_counts(&builtin("deepseek-v3"));
    assert_eq!(p.total, expected);
    // docs/sources/models.md: 671.03B total / 37.55B active (36.6B + 0.93B embedding per README_WEIGHTS).
    assert_billions(p.total, 671.03, "DeepSeek-V3 total");
    assert_billions(p.active, 37.55, "DeepSeek-V3 active");
    // MTP: eh_proj (2h→h) + 3 norms + one MoE decoder layer; README_WEIGHTS quotes
    // "11.5B unique" (rounded); the tensors below sum to 11.61B.
    let mtp = 2 * h * h + 3 * h + mla + 2 * h + moe_layer;
    assert_eq!(p.mtp, mtp);
    assert!((11.5e9..11.7e9).contains(&(mtp as f64)));
}

#[test]
fn reference_counts_from_models_md() {
    // (spec, counted total B, counted active B) from docs/sources/models.md.
    let cases = [
        ("qwen2.5-0.5b", 0.49, 0.49),
        ("qwen2.5-7b", 7.62, 7.62),
        ("qwen2.5-14b", 14.77, 14.77),
        ("qwen2.5-32b", 32.76, 32.76),
        ("qwen2.5-72b", 72.71, 72.71),
        ("qwen3-8b", 8.19, 8.19),
        ("qwen3-32b", 32.76, 32.76),
        ("qwen3-30b-a3b", 30.53, 3.35),
        ("qwen3-235b-a22b", 235.09, 22.19),
        ("llama-2-70b", 68.98, 68.98),
        ("llama-3.1-70b", 70.55, 70.55),
        ("llama-3.1-405b", 405.85, 405.85),
        ("mistral-7b", 7.24, 7.24),
        ("mixtral-8x7b", 46.70, 12.88),
        ("mixtral-8x22b", 140.62, 39.15),
        ("yi-1.5-34b", 34.39, 34.39),
        ("gemma-2-2b", 2.61, 2.61),
        ("gemma-2-9b", 9.24, 9.24),
        ("gemma-2-27b", 27.23, 27.23),
        ("deepseek-r1", 671.03, 37.55),
        ("kimi-k2", 1026.41, 32.86),
        ("gpt-oss-20b", 20.91, 4.19),
        ("gpt-oss-120b", 116.83, 5.71),
    ];
    for (name, total, active) in cases {
        let p = param_counts(&builtin(name));
        assert_billions(p.total, total, name);
        assert_billions(p.active, active, name);
    }
}

#[test]
fn kv_bytes_per_token_every_attention_kind() {
    let c = Catalog::builtin().unwrap();
    let vllm = c.engine("vllm").unwrap();
    let per_token = |name: &str, d: KvDtype| {
        let m = builtin(name);
        kv::KvLayout::build(&m, vllm, d, 1, 0..m.num_layers).bytes_per_token()
    };
    // GQA: 2 × layers × kv_heads × head_dim × 2 (docs/sources/models.md "KV bytes/token").
    assert_eq!(
        per_token("llama-3.1-8b", KvDtype::Bf16),
        2 * 32 * 8 * 128 * 2
    );
    assert_eq!(per_token("llama-3.1-8b", KvDtype::Bf16), 131_072);
    assert_eq!(per_token("qwen2.5-0.5b", KvDtype::Bf16), 12_288);
    assert_eq!(per_token("qwen3-32b", KvDtype::Bf16), 262_144); // explicit head_dim 128
                                                                // MHA: Llama-2-7B 524,288 B.
    assert_eq!(per_token("llama-2-7b", KvDtype::Bf16), 524_288);
    // MLA: (kv_lora_rank + rope) × layers × 2 — DeepSeek-V2 paper Table 1; V3: 70,272 B.
    assert_eq!(per_token("deepseek-v3", KvDtype::Bf16), 576 * 61 * 2);
    assert_eq!(per_token("deepseek-v3", KvDtype::Bf16), 70_272);
    assert_eq!(per_token("deepseek-v2", KvDtype::Bf16), 69_120);
    assert_eq!(per_token("kimi-k2", KvDtype::Bf16), 70_272);
    // fp8 KV halves it (1 byte per value; vLLM `--kv-cache-dtype fp8`).
    assert_eq!(per_token("llama-3.1-8b", KvDtype::Fp8), 65_536);
    assert_eq!(per_token("deepseek-v3", KvDtype::Fp8), 576 * 61);
    // Sliding-window models, all layers counted (docs/sources/models.md "if all layers full").
    assert_eq!(per_token("gemma-2-9b", KvDtype::Bf16), 344_064);
    assert_eq!(per_token("gpt-oss-120b", KvDtype::Bf16), 73_728);
    assert_eq!(per_token("mistral-7b", KvDtype::Bf16), 131_072);
}

#[test]
fn mqa_kv_bytes() {
    // MQA (falcon-7b shape per docs/sources/models.md: 71 heads, 1 KV head, head 64, 32 layers):
    // DeepSeek-V2 paper Table 1: MQA caches 2·d_h·l elements per token.
    let cfg = r#"{"model_type":"falcon_like","hidden_size":4544,"num_hidden_layers":32,"num_attention_heads":71,
        "num_key_value_heads":1,"head_dim":64,"intermediate_size":18176,"vocab_size":65024,"max_position_embeddings":2048}"#;
    let m = kvplan::spec::hf::parse_config(cfg, "mqa.json").unwrap();
    let c = Catalog::builtin().unwrap();
    let l = kv::KvLayout::build(&m, c.engine("vllm").unwrap(), KvDtype::Bf16, 1, 0..32);
    assert_eq!(l.bytes_per_token(), 2 * 64 * 32 * 2);
}

#[test]
fn sliding_window_caps_growth() {
    let c = Catalog::builtin().unwrap();
    let vllm = c.engine("vllm").unwrap();
    let hf = c.engine("hf").unwrap();
    // Mistral-7B-v0.1: window 4096 on all 32 layers, 8 KV heads × 128.
    let m = builtin("mistral-7b");
    let l = kv::KvLayout::build(&m, vllm, KvDtype::Bf16, 1, 0..32);
    let per_layer_token = 2 * 8 * 128 * 2;
    assert_eq!(
        l.clone().with_policy(1, true).sequence_bytes(10_000),
        32 * 4096 * per_layer_token
    );
    // HF keeps the whole prompt right after prefill (docs/sources/engines.md).
    let lh = kv::KvLayout::build(&m, hf, KvDtype::Bf16, 1, 0..32);
    assert_eq!(
        lh.clone().with_policy(1, false).sequence_bytes(10_000),
        32 * 10_000 * per_layer_token
    );
    // Gemma-2-9B at 8192: 21 local layers hold 4096 tokens, 21 global hold 8192.
    let g = builtin("gemma-2-9b");
    let lg = kv::KvLayout::build(&g, vllm, KvDtype::Bf16, 1, 0..42);
    let per = 2 * 8 * 256 * 2;
    assert_eq!(
        lg.clone().with_policy(1, true).sequence_bytes(8192),
        21 * 4096 * per + 21 * 8192 * per
    );
    // Gemma-3-27B: 5 local (1024) : 1 global → 52 local + 10 global layers (docs/sources/models.md).
    let g3 = builtin("gemma-3-27b");
    let l3 = kv::KvLayout::build(&g3, vllm, KvDtype::Bf16, 1, 0..62);
    let per3 = 2 * 16 * 128 * 2;
    assert_eq!(
        l3.clone().with_policy(1, true).sequence_bytes(100_000),
        52 * 1024 * per3 + 10 * 100_000 * per3
    );
}

#[test]
fn block_rounding() {
    // vLLM allocates whole blocks of 16 tokens: 100 tokens take 7 blocks = 112 token slots.
    let c = Catalog::builtin().unwrap();
    let m = builtin("llama-3.1-8b");
    let l = kv::KvLayout::build(&m, c.engine("vllm").unwrap(), KvDtype::Bf16, 1, 0..32);
    assert_eq!(
        l.clone().with_policy(16, true).sequence_bytes(100),
        112 * 131_072
    );
}

#[test]
fn tp_splits_kv_heads_with_replication_and_keeps_mla_whole() {
    let c = Catalog::builtin().unwrap();
    let vllm = c.engine("vllm").unwrap();
    let m = builtin("llama-3.1-70b"); // 8 KV heads
    let per_rank = |tp| kv::KvLayout::build(&m, vllm, KvDtype::Bf16, tp, 0..80).bytes_per_token();
    assert_eq!(per_rank(8), 327_680 / 8);
    // tp 16 > 8 KV heads: each rank still holds one head (vLLM replicates).
    assert_eq!(per_rank(16), 327_680 / 8);
    let ds = builtin("deepseek-v3");
    assert_eq!(
        kv::KvLayout::build(&ds, vllm, KvDtype::Bf16, 8, 0..61).bytes_per_token(),
        70_272
    );
}

#[test]
fn quantization_layouts_match_checkpoint_tensors() {
    let (o, i) = (4096u64, 4096u64);
    // AWQ GEMM (AutoAWQ WQLinear_GEMM): qweight int32 [in, out/8], qzeros int32 [in/128, out/8], scales fp16 [in/128, out].
    assert_eq!(
        WeightFormat::Int4.linear_bytes(o, i),
        i * (o / 8) * 4 + (i / 128) * (o / 8) * 4 + (i / 128) * o * 2
    );
    // GPTQ (AutoGPTQ QuantLinear): qweight int32 [in/8, out], qzeros int32 [in/128, out/8], scales fp16 [in/128, out], g_idx int32 [in].
    assert_eq!(
        WeightFormat::Int4Gptq.linear_bytes(o, i),
        (i / 8) * o * 4 + (i / 128) * (o / 8) * 4 + (i / 128) * o * 2 + i * 4
    );
    // DeepSeek-V3 fp8 (config weight_block_size [128,128]): e4m3 weight + fp32 weight_scale_inv [ceil(out/128), ceil(in/128)].
    // q_b_proj: out 128×192 = 24576, in 1536.
    assert_eq!(
        WeightFormat::Fp8Block.linear_bytes(24576, 1536),
        24576 * 1536 + 192 * 12 * 4
    );
    // kv_a_proj_with_mqa: out 576 (not a multiple of 128) → 5 row blocks.
    assert_eq!(
        WeightFormat::Fp8Block.linear_bytes(576, 7168),
        576 * 7168 + 5 * 56 * 4
    );
    // gpt-oss MXFP4 (checkpoint *_blocks uint8 [E, out, in/32, 16] + *_scales uint8 [E, out, in/32]):
    // one expert's gate_up_proj: out 2×2880, in 2880.
    assert_eq!(
        WeightFormat::Mxfp4.linear_bytes(5760, 2880),
        5760 * 90 * 16 + 5760 * 90
    );
    // bitsandbytes NF4 (Params4bit: packed uint8 n/2 + fp32 absmax per 64-value block).
    assert_eq!(
        WeightFormat::Nf4.linear_bytes(o, i),
        o * i / 2 + o * i / 64 * 4
    );
    // NVFP4 (ModelOpt: uint8 [out, in/2] + e4m3 weight_scale [out, in/16] + fp32 weight_scale_2).
    assert_eq!(
        WeightFormat::Nvfp4.linear_bytes(o, i),
        o * i / 2 + o * i / 16 + 4
    );
    // fp8 per-tensor (one fp32 weight scale) and int8 per-channel (one 16-bit scale per output row).
    assert_eq!(WeightFormat::Fp8.linear_bytes(o, i), o * i + 4);
    assert_eq!(WeightFormat::Int8.linear_bytes(o, i), o * i + o * 2);
    assert_eq!(WeightFormat::Bf16.linear_bytes(o, i), o * i * 2);
}

#[test]
fn whole_model_bytes_keep_16bit_parts() {
    // Llama-3.1-8B in int4 AWQ: every linear layer quantized; embeddings, lm_head and norms stay 16-bit.
    let m = builtin("llama-3.1-8b");
    let (h, kv, inter, vocab) = (4096u64, 1024u64, 14336u64, 128256u64);
    let awq = |o: u64, i: u64| i * o / 2 + (i / 128) * o / 2 + (i / 128) * o * 2;
    let layer = awq(h, h) * 2 + awq(kv, h) * 2 + awq(inter, h) * 2 + awq(h, inter) + 2 * h * 2;
    let expected = 32 * layer + 2 * vocab * h * 2 + h * 2;
    assert_eq!(total_weight_bytes(&m, WeightFormat::Int4), expected);
    // gpt-oss MXFP4 touches only the experts (quantization_config.modules_to_not_convert:
    // self_attn, router, embed_tokens, lm_head) — attention stays bf16.
    let g = builtin("gpt-oss-20b");
    assert_eq!(g.checkpoint_format, Some(WeightFormat::Mxfp4));
    let bf16 = total_weight_bytes(&g, WeightFormat::Bf16);
    let mx = total_weight_bytes(&g, WeightFormat::Mxfp4);
    let experts_params = 24 * 32 * (2 * 2880 * 2880 + 2880 * 2880) as u64; // gate_up + down, no biases
    let expert_mx = 24
        * 32
        * (WeightFormat::Mxfp4.linear_bytes(5760, 2880)
            + WeightFormat::Mxfp4.linear_bytes(2880, 2880));
    assert_eq!(bf16 - mx, experts_params * 2 - expert_mx);
}

#[test]
fn checkpoint_formats_are_read() {
    assert_eq!(
        builtin("deepseek-v3").checkpoint_format,
        Some(WeightFormat::Fp8Block)
    );
    assert_eq!(
        builtin("qwen3-32b-fp8").checkpoint_format,
        Some(WeightFormat::Fp8Block)
    );
    assert_eq!(builtin("qwen3-32b").checkpoint_format, None);
    let awq = r#"{"model_type":"qwen3","hidden_size":2560,"num_hidden_layers":36,"num_attention_heads":32,"num_key_value_heads":8,
      "head_dim":128,"intermediate_size":9728,"vocab_size":151936,"max_position_embeddings":40960,"torch_dtype":"float16",
      "quantization_config":{"bits":4,"group_size":128,"modules_to_not_convert":null,"quant_method":"awq","version":"gemm","zero_point":true}}"#;
    let m = kvplan::spec::hf::parse_config(awq, "awq.json").unwrap();
    assert_eq!(m.checkpoint_format, Some(WeightFormat::Int4));
}

#[test]
fn llama4_interleaved_moe_and_chunked_attention() {
    // meta-llama--Llama-4-Maverick-17B-128E-Instruct.json: MoE on every 2nd layer
    // (interleave_moe_layer_step 2) with 128 experts + 1 shared, dense layers of
    // intermediate_size_mlp 16384. Official (docs/sources/models.md, Llama 4 card): 400B total, 17B active.
    let m = fixture("meta-llama--Llama-4-Maverick-17B-128E-Instruct.json");
    assert_eq!(m.moe_layers(), 24);
    let p = param_counts(&m);
    assert!(
        (p.total as f64 / 400e9 - 1.0).abs() < 0.01,
        "total {}",
        p.total
    );
    assert!(
        (16.5e9..17.5e9).contains(&(p.active as f64)),
        "active {}",
        p.active
    );
    // KV: 48 layers × 8 KV heads × 128 × 2 × 2 = 196,608 B/token (docs/sources/models.md), with 36 of the
    // 48 layers chunked at 8192 tokens.
    let c = Catalog::builtin().unwrap();
    let l = kv::KvLayout::build(&m, c.engine("vllm").unwrap(), KvDtype::Bf16, 1, 0..48);
    assert_eq!(l.bytes_per_token(), 196_608);
    let per = 8 * 128 * 2 * 2;
    assert_eq!(
        l.clone().with_policy(1, true).sequence_bytes(100_000),
        36 * 8192 * per + 12 * 100_000 * per
    );
}
