//! The speed model against hand-derived rooflines (each derivation written
//! out here from the config's dimensions and the GPU datasheet), for a dense
//! GQA model, an MoE model and an MLA model.

use kvplan::memory;
use kvplan::perf::{decode_step, Efficiency};
use kvplan::request::{resolve, EstimateRequest, Tokens};
use kvplan::scenario::Scenario;
use kvplan::spec::Catalog;

fn scenario(model: &str, gpus: &str, ctx: u64, batch: u64) -> Scenario {
    let c = Catalog::builtin().unwrap();
    let req = EstimateRequest {
        model: model.into(),
        gpus: gpus.into(),
        ctx: Some(Tokens::Number(ctx)),
        batch: Some(batch),
        weights: Some(kvplan::spec::dtype::WeightFormat::Bf16),
        ..Default::default()
    };
    resolve(&req, &c, &|_| unreachable!()).unwrap().scenario
}

fn close(a: f64, b: f64) -> bool {
    ((a - b) / b).abs() < 1e-9
}

/// vLLM profile (profiles/engines/vllm.yaml, fitted to measured serving runs):
/// 1.2 ms per step + 49 µs per layer on top of the roofline.
const STEP: f64 = 1.2e-3;
const GAP: f64 = 49e-6;

#[test]
fn dense_gqa_roofline_llama_3_1_8b_h100() {
    let s = scenario("llama-3.1-8b", "H100", 1000, 1);
    let eff = Efficiency::default();
    let step = decode_step(&s, &memory::plan(&s), &eff);
    // Weights streamed: every parameter but the embedding table (gathered, not read):
    // 8,030,261,248 − 128,256 × 4096 = 7,504,924,672 params × 2 bytes.
    let params = 8_030_261_248f64 - 128_256.0 * 4096.0;
    let weights = params * 2.0;
    // KV read: 1000 tokens × 131,072 B.
    let kv = 1000.0 * 131_072.0;
    assert!(close(step.bytes_read, weights + kv));
    // H100 SXM: 3.35 TB/s × 0.85, 989 TFLOP/s × 0.7.
    let mem = (weights + kv) / (3.35e12 * 0.85);
    // FLOPs: 2 per parameter + attention 2 × heads × (d_k + d_v) × context per layer.
    let flops = 2.0 * params + 2.0 * 32.0 * 256.0 * 1000.0 * 32.0;
    assert!(close(step.flops, flops));
    let compute = flops / (989e12 * 0.7);
    assert!(close(step.seconds, mem.max(compute) + STEP + 32.0 * GAP));
    assert_eq!(step.bound.name(), "memory-bandwidth");
}

#[test]
fn moe_roofline_mixtral_8x7b_h100() {
    let s = scenario("mixtral-8x7b", "H100", 1000, 4);
    let step = decode_step(&s, &memory::plan(&s), &Efficiency::default());
    let (h, l) = (4096.0, 32.0);
    // Dense part per layer: q,o 4096² each; k,v 4096×1024 each; 2 norms; router 8×4096.
    let dense_layer = 2.0 * h * h + 2.0 * h * 1024.0 + 2.0 * h + 8.0 * h;
    let dense = l * dense_layer + 32_000.0 * h + h; // + lm_head + final norm
                                                    // Expected distinct experts for 4 tokens, top-2 of 8: 8 × (1 − (6/8)^4) = 5.46875.
    let touched = 8.0 * (1.0 - 0.75f64.powi(4));
    assert!((step.experts_touched_per_layer - 5.46875).abs() < 1e-12);
    let expert = 3.0 * h * 14336.0;
    let weights = 2.0 * (dense + l * touched * expert);
    let kv = 4.0 * 1000.0 * 131_072.0;
    assert!(close(step.bytes_read, weights + kv));
    // FLOPs: each token runs dense part + 2 experts per layer; attention as for GQA.
    let flops = 4.0 * 2.0 * (dense + l * 2.0 * expert) + 4.0 * 2.0 * 32.0 * 256.0 * 1000.0 * l;
    assert!(close(step.flops, flops));
    let t = ((weights + kv) / (3.35e12 * 0.85)).max(flops / (989e12 * 0.7)) + STEP + l * GAP;
    assert!(close(step.seconds, t));
}

#[test]
fn mla_roofline_deepseek_v2_lite_h200() {
    let s = scenario("deepseek-v2-lite", "H200", 10_000, 1);
    let step = decode_step(&s, &memory::plan(&s), &Efficiency::default());
    let h = 2048.0;
    // MLA without q compression: q_proj h×16·192, kv_a h×576, kv_a_norm 512, kv_b 512×16·256, o 16·128×h.
    let attn = h * 3072.0 + h * 576.0 + 512.0 + 512.0 * 4096.0 + 2048.0 * h;
    let norms = 2.0 * h;
    let dense_mlp = 3.0 * h * 10944.0; // layer 0
    let shared = 3.0 * h * 2816.0; // 2 shared experts × 1408
    let router = 64.0 * h;
    let expert = 3.0 * h * 1408.0;
    let dense = 27.0 * (attn + norms) + dense_mlp + 26.0 * (shared + router) + 102_400.0 * h + h;
    // One token touches exactly its 6 experts in each of the 26 MoE layers.
    let weights = 2.0 * (dense + 26.0 * 6.0 * expert);
    // Latent cache: 10,000 tokens × 27 layers × 576 values × 2 bytes.
    let kv = 10_000.0 * 27.0 * 576.0 * 2.0;
    assert!(close(step.bytes_read, weights + kv));
    // Absorbed MLA decode: per head, q·latent (576) and p·latent (512) per cached token.
    let flops =
        2.0 * (dense + 26.0 * 6.0 * expert) + 2.0 * 16.0 * (576.0 + 512.0) * 10_000.0 * 27.0;
    assert!(close(step.flops, flops));
    // H200: 4.8 TB/s × 0.85.
    let t = ((weights + kv) / (4.8e12 * 0.85)).max(flops / (989e12 * 0.7)) + STEP + 27.0 * GAP;
    assert!(close(step.seconds, t));
}

#[test]
fn tensor_parallel_adds_allreduces() {
    // Llama-3.1-70B on 8×H100, batch 1: two all-reduces of 8192 × 2 bytes per layer,
    // ring: 2 × 7/8 × bytes / (450 GB/s × 0.8) + 8 µs each.
    let s = scenario("llama-3.1-70b", "8xH100", 1000, 1);
    let step = decode_step(&s, &memory::plan(&s), &Efficiency::default());
    let ar = 2.0 * 7.0 / 8.0 * 16384.0 / (450e9 * 0.8) + 8e-6;
    assert!(close(step.communication_seconds, 80.0 * 2.0 * ar));
}

#[test]
fn decode_turns_compute_bound_at_large_batch() {
    // Short context so that weights, not KV, dominate the bytes: at batch 2048
    // 2·7.5e9·2048 FLOPs (31 TFLOP) outweigh ~19 GB of reads on an H100.
    let small = scenario("llama-3.1-8b", "H100", 16, 1);
    let big = scenario("llama-3.1-8b", "H100", 16, 2048);
    let eff = Efficiency::default();
    assert_eq!(
        decode_step(&small, &memory::plan(&small), &eff)
            .bound
            .name(),
        "memory-bandwidth"
    );
    assert_eq!(
        decode_step(&big, &memory::plan(&big), &eff).bound.name(),
        "compute"
    );
}

/// gpt-oss's MXFP4 checkpoint quantizes only the routed experts
/// (`quantization_config.modules_to_not_convert` in openai/gpt-oss-120b's
/// config.json lists self_attn, router, embed_tokens, lm_head), and engines
/// run those MXFP4 GEMMs with MXFP8 or 16-bit activations: on Blackwell a
/// mixed fp4 × fp8 MMA runs at the fp8 rate (PTX ISA, `tcgen05.mma`
/// kind::f8f6f4; the fp4 rate needs both operands in fp4, kind::mxf4). So an
/// 8,192-token prefill's GEMM time sits strictly between an all-fp8 and an
/// all-bf16 checkpoint of the same model (same FLOPs), and its excess over
/// the fp8 one is the dense layers' FLOPs at (1/bf16 − 1/fp8) — the B200
/// datasheet's 2,250 and 4,500 dense TFLOP/s at 70% — while an NVFP4
/// checkpoint (weights and activations in fp4) is faster than fp8.
#[test]
fn mxfp4_experts_run_at_the_fp8_rate_and_dense_layers_at_16_bit_on_b200() {
    use kvplan::perf::{BatchComposition, IterationModel};
    use kvplan::spec::dtype::WeightFormat;
    let c = Catalog::builtin().unwrap();
    let b200 = c.gpu("B200").unwrap();
    assert_eq!(b200.matmul_flops(WeightFormat::Mxfp4), 4500e12);
    assert_eq!(b200.matmul_flops(WeightFormat::Nvfp4), 9000e12);
    // Hopper has no MX math: weight-only at the 16-bit rate.
    assert_eq!(
        c.gpu("H100").unwrap().matmul_flops(WeightFormat::Mxfp4),
        989e12
    );
    let compute = |w: WeightFormat| {
        let req = EstimateRequest {
            model: "gpt-oss-120b".into(),
            gpus: "B200".into(),
            ctx: Some(Tokens::Number(8192)),
            batch: Some(1),
            weights: Some(w),
            ..Default::default()
        };
        let s = resolve(&req, &c, &|_| unreachable!()).unwrap().scenario;
        let mem = memory::plan(&s);
        let m = IterationModel::new(&s, &mem, &Efficiency::default());
        m.cost(&BatchComposition::prefill_chunk(8192, 0, m.window))
    };
    let (mx, fp8, bf16, nv) = (
        compute(WeightFormat::Mxfp4),
        compute(WeightFormat::Fp8),
        compute(WeightFormat::Bf16),
        compute(WeightFormat::Nvfp4),
    );
    assert!(close(mx.flops, fp8.flops) && close(mx.flops, bf16.flops));
    assert!(fp8.compute_seconds < mx.compute_seconds);
    assert!(mx.compute_seconds < bf16.compute_seconds);
    assert!(nv.compute_seconds < fp8.compute_seconds);
    // bf16 − fp8 = all linear FLOPs × (1/2250 − 1/4500) / 0.7 = linear / (4500e12 × 0.7);
    // mx − fp8 = the dense part of them over the same rate. By hand: OpenAI's
    // gpt-oss model card gives 5.13 B active parameters (embedding excluded);
    // the routed experts of config.json are 4 per token × 36 layers ×
    // 3 × 2880 × 2880 = 3.583 B, so the dense layers are 1.55 B: 0.302.
    let linear = (bf16.compute_seconds - fp8.compute_seconds) * 4500e12 * 0.7;
    let dense = (mx.compute_seconds - fp8.compute_seconds) * 4500e12 * 0.7;
    let share = dense / linear;
    assert!(
        (share - 0.302).abs() < 0.01,
        "dense share of linear FLOPs {share}"
    );
}
