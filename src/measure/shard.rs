//! Pure translation of a kvplan Scenario into the probe's request (what one
//! GPU of the plan holds and does in a decode step), and kvplan's own
//! prediction of each phase the probe times. No GPU, no I/O.

use super::{math, GemmShape, Peaks, Predicted, ProbeAttention, ProbeDtype, ProbeRequest};
use crate::memory::kv::KvLayer;
use crate::memory::weights::{layer_kinds, Role};
use crate::memory::MemoryPlan;
use crate::perf::{expected_distinct_experts, Efficiency};
use crate::scenario::Scenario;
use crate::spec::dtype::{KvDtype, WeightFormat};

/// The probe dtype that measures weights stored as `w` (fp8 formats run fp8
/// GEMMs; everything else is measured in bf16).
pub fn probe_weight_dtype(w: WeightFormat) -> ProbeDtype {
    match w {
        WeightFormat::Fp8 | WeightFormat::Fp8Block => ProbeDtype::Fp8,
        WeightFormat::Fp16 => ProbeDtype::Fp16,
        _ => ProbeDtype::Bf16,
    }
}

/// The attention of one layer on one GPU of the plan.
pub fn probe_attention(s: &Scenario) -> ProbeAttention {
    let a = &s.model.attention;
    let tp = s.deployment.tp;
    match &a.mla {
        Some(m) => ProbeAttention::Mla {
            heads: a.num_heads / tp,
            kv_lora_rank: m.kv_lora_rank,
            rope_dim: m.qk_rope_head_dim,
        },
        None => ProbeAttention::Gqa {
            q_heads: a.num_heads / tp,
            kv_heads: (a.num_kv_heads / tp).max(1),
            head_dim: a.head_dim,
        },
    }
}

/// One decode layer's weight GEMMs on the binding GPU: the linear layers of
/// the stage's most common layer kind, split by TP, plus the routed experts
/// the batch is expected to touch (rounded up).
pub fn layer_gemms(s: &Scenario, mem: &MemoryPlan, batch_local: u64) -> Vec<GemmShape> {
    let st = mem.binding_stage();
    let kinds = layer_kinds(&s.model, st.layers.clone());
    let Some((layer, _)) = kinds.into_iter().max_by_key(|(_, n)| *n) else {
        return Vec::new();
    };
    let d = &s.deployment;
    let shard = |t: &crate::memory::weights::Tensor, tp: u64| t.shard_shape(tp);
    // Engines run Q/K/V as one GEMM and gate/up as one (vLLM QKVParallelLinear,
    // MergedColumnParallelLinear); the probe measures the same fused shapes.
    let fuse = |names: &[&str],
                tensors: &[crate::memory::weights::Tensor],
                tp: u64|
     -> Option<(u64, u64)> {
        let parts: Vec<(u64, u64)> = tensors
            .iter()
            .filter(|t| names.contains(&t.name))
            .map(|t| shard(t, tp))
            .collect();
        (parts.len() == names.len() && parts.iter().all(|p| p.1 == parts[0].1))
            .then(|| (parts.iter().map(|p| p.0).sum(), parts[0].1))
    };
    let mut out = Vec::new();
    let mut fused: Vec<&str> = Vec::new();
    for (name, group) in [
        ("qkv_proj", &["q_proj", "k_proj", "v_proj"][..]),
        ("gate_up_proj", &["gate_proj", "up_proj"][..]),
    ] {
        if let Some((n, k)) = fuse(group, &layer.dense, d.tp) {
            out.push(GemmShape {
                name: name.into(),
                n,
                k,
                count: 1,
                rows: None,
            });
            fused.extend_from_slice(group);
        }
    }
    for t in layer
        .dense
        .iter()
        .filter(|t| t.role == Role::Linear && !fused.contains(&t.name))
    {
        let (n, k) = shard(t, d.tp);
        out.push(GemmShape {
            name: t.name.to_string(),
            n,
            k,
            count: 1,
            rows: None,
        });
    }
    if let (Some(moe), true) = (&s.model.moe, layer.num_experts > 0) {
        let group_tokens = if d.ep > 1 {
            batch_local * d.dp
        } else {
            batch_local
        } as f64;
        let e = moe.num_experts as f64;
        let k = moe.experts_per_token as f64;
        let local_share = st.experts_per_gpu as f64 / e;
        let touched = expected_distinct_experts(e, k, group_tokens) * local_share;
        let count = touched.ceil().max(1.0) as u64;
        // Token-expert pairs landing on this GPU, spread over the touched experts.
        let rows = ((group_tokens * k * local_share) / count as f64)
            .ceil()
            .max(1.0) as u64;
        let moe_tp = s.moe_tp();
        let mut push = |name: String, (n, kk): (u64, u64)| {
            out.push(GemmShape {
                name,
                n,
                k: kk,
                count,
                rows: Some(rows),
            })
        };
        let gate_up = fuse(&["gate_proj", "up_proj"], &layer.expert, moe_tp);
        if let Some(shape) = gate_up {
            push("expert.gate_up_proj".into(), shape);
        }
        for t in layer.expert.iter().filter(|t| t.role == Role::ExpertLinear) {
            if gate_up.is_some() && (t.name == "gate_proj" || t.name == "up_proj") {
                continue;
            }
            push(format!("expert.{}", t.name), shard(t, moe_tp));
        }
    }
    out
}

/// The probe request for the binding GPU of `s` at `batch_local` sequences
/// of `context` tokens, with kvplan's predictions under `eff`.
pub fn request(
    s: &Scenario,
    mem: &MemoryPlan,
    eff: &Efficiency,
    batch_local: u64,
    context: u64,
    margin_bytes: u64,
    device: usize,
) -> ProbeRequest {
    let st = mem.binding_stage();
    let att = probe_attention(s);
    let layers = st.layers.end - st.layers.start;
    // A hybrid's linear-attention / SSM layers keep a fixed state per
    // sequence, not a cache: they are timed as state traffic, the rest as
    // attention.
    let state_per_sequence: Vec<u64> = st
        .kv
        .layers
        .iter()
        .filter_map(|l| match l {
            KvLayer::State { bytes_per_sequence } => Some(*bytes_per_sequence),
            _ => None,
        })
        .collect();
    // (A stage of state layers only is refused by `math::validate`: the
    // probe times at least one attention layer.)
    let state_layers = state_per_sequence.len() as u64;
    let state_bytes = batch_local * state_per_sequence.iter().sum::<u64>();
    let attending = layers.saturating_sub(state_layers);
    let gemms = layer_gemms(s, mem, batch_local);
    let weight_dtype = probe_weight_dtype(s.deployment.weights);
    let kv_dtype = match s.deployment.kv_dtype {
        KvDtype::Fp8 => ProbeDtype::Fp8,
        KvDtype::Fp16 => ProbeDtype::Fp16,
        _ => ProbeDtype::Bf16,
    };
    let gpu = &s.cluster.gpu;
    let mut req = ProbeRequest {
        device_index: device,
        weights_bytes: st.weights_bytes,
        kv_cache_bytes: math::kv_layer_bytes(&att, batch_local, context) * attending + state_bytes,
        safety_margin_bytes: margin_bytes,
        batch: batch_local,
        context_tokens: context,
        layers,
        attention_layers: (state_layers > 0).then_some(attending),
        state_bytes,
        gemms,
        weight_dtype,
        attention: att,
        kv_dtype,
        predicted: None,
        peaks: Some(Peaks {
            memory_bandwidth_bytes_per_s: gpu.bandwidth_bytes_per_s(),
            bf16_flops_per_s: gpu.bf16_tflops * 1e12,
        }),
    };
    req.predicted = Some(predict(&req, s, eff));
    req
}

/// kvplan's roofline prediction of each phase the probe times: the same
/// formulas as `perf::decode_step` (bytes over achieved bandwidth, FLOPs
/// over achieved matrix rate), applied to exactly the probe's shapes.
pub fn predict(req: &ProbeRequest, s: &Scenario, eff: &Efficiency) -> Predicted {
    let gpu = &s.cluster.gpu;
    let bw = gpu.bandwidth_bytes_per_s() * eff.memory;
    let kv_bw = gpu.bandwidth_bytes_per_s() * eff.kv_memory;
    let mm = gpu.matmul_flops(s.deployment.weights) * eff.matmul;
    // Each GEMM call: its bytes or FLOPs, whichever binds, plus the calibrated
    // fixed cost of one decode-shaped GEMM (0 without a calibration profile).
    let gemm_layer_s: f64 = req
        .gemms
        .iter()
        .map(|g| {
            let one = std::slice::from_ref(g);
            let bytes = math::gemm_layer_bytes(one, req.weight_dtype, req.batch) as f64;
            let flops = math::gemm_layer_flops(one, req.batch) as f64;
            (bytes / bw).max(flops / mm) + eff.gemm_fixed_seconds
        })
        .sum();
    let att_bytes = math::attention_bytes(&req.attention, req.batch, req.context_tokens) as f64;
    let att_flops = math::attention_flops(&req.attention, req.batch, req.context_tokens) as f64;
    // The probe's attention runs as split + reduce (GQA) or GEMM, softmax, GEMM (MLA).
    let kernels = match req.attention {
        ProbeAttention::Gqa { .. } => 2.0,
        ProbeAttention::Mla { .. } => 3.0,
    };
    let attention_layer_s = (att_bytes / kv_bw)
        .max(att_flops / (gpu.bf16_tflops * 1e12 * eff.matmul))
        + kernels * eff.kernel_fixed_seconds;
    // A state layer reads and rewrites its share of the state (two device
    // copies of half of it each, as the probe runs it).
    let state_layer_s =
        2.0 * req.state_bytes_per_layer() as f64 / kv_bw + 2.0 * eff.kernel_fixed_seconds;
    Predicted {
        weights_read_s: Some(req.weights_bytes as f64 / (gpu.bandwidth_bytes_per_s() * eff.memory)),
        gemm_layer_s: Some(gemm_layer_s),
        attention_layer_s: Some(attention_layer_s),
        decode_step_s: Some(
            req.layers as f64 * gemm_layer_s
                + req.attending_layers() as f64 * attention_layer_s
                + req.state_layers() as f64 * state_layer_s,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{resolve, EstimateRequest, Tokens};
    use crate::spec::Catalog;

    fn scen(model: &str, gpus: &str, tp: u64) -> Scenario {
        let c = Catalog::builtin().unwrap();
        let req = EstimateRequest {
            model: model.into(),
            gpus: gpus.into(),
            ctx: Some(Tokens::Number(4096)),
            batch: Some(16),
            tp: Some(tp),
            weights: Some(WeightFormat::Bf16),
            ..Default::default()
        };
        resolve(&req, &c, &|_| unreachable!()).unwrap().scenario
    }

    #[test]
    fn llama_shapes_per_tp_rank() {
        // Llama-3.1-8B at TP 2, fused like vLLM: qkv (2048+512+512)×4096, gate_up 2·7168×4096,
        // then o 4096×2048 and down 4096×7168.
        let s = scen("llama-3.1-8b", "2xH100", 2);
        let mem = crate::memory::plan(&s);
        let g = layer_gemms(&s, &mem, 16);
        let shapes: Vec<(u64, u64)> = g.iter().map(|x| (x.n, x.k)).collect();
        assert_eq!(
            shapes,
            vec![(3072, 4096), (14336, 4096), (4096, 2048), (4096, 7168)]
        );
        let r = request(&s, &mem, &Efficiency::default(), 16, 4096, 1 << 30, 0);
        assert_eq!(r.layers, 32);
        // 4 KV heads per rank × 128 × 2 (K,V) × 2 bytes × 16 × 4096 tokens × 32 layers.
        assert_eq!(r.kv_cache_bytes, 4 * 128 * 2 * 2 * 16 * 4096 * 32);
        assert_eq!(
            r.attention,
            ProbeAttention::Gqa {
                q_heads: 16,
                kv_heads: 4,
                head_dim: 128
            }
        );
    }

    #[test]
    fn hybrid_state_layers_are_state_traffic_not_attention() {
        // Qwen3.5-35B-A3B (config.json text_config: 40 layers, full_attention_interval 4
        // → 10 gated full-attention layers of 2 KV heads × 256; 30 Gated DeltaNet layers of
        // 16 key heads × 128 and 32 value heads × 128, conv kernel 4, mamba_ssm_dtype
        // float32). One GPU, bf16 KV, batch 16 at 4,096 tokens.
        let s = scen("qwen3.5-35b-a3b", "H200", 1);
        let mem = crate::memory::plan(&s);
        let r = request(&s, &mem, &Efficiency::default(), 16, 4096, 1 << 30, 0);
        assert_eq!(r.layers, 40);
        assert_eq!(r.attention_layers, Some(10));
        assert_eq!(r.state_layers(), 30);
        // Per layer and sequence: conv window (kernel − 1 = 3) × (2·16·128 + 32·128)
        // channels in bf16, plus 32 × 128 × 128 fp32 recurrent state.
        let state_per_layer = 3 * (2 * 16 * 128 + 32 * 128) * 2 + 32 * 128 * 128 * 4;
        assert_eq!(r.state_bytes, 16 * 30 * state_per_layer);
        let cache_per_layer = 2 * 256 * 2 * 2 * 16 * 4096;
        assert_eq!(r.kv_cache_bytes, 10 * cache_per_layer + r.state_bytes);
        assert!(math::validate(&r).is_ok());
        // The prediction times 10 attention layers and 30 state copies, not 40 attention
        // layers over a cache those layers do not have.
        let p = r.predicted.unwrap();
        let attention_all = 40.0 * p.attention_layer_s.unwrap();
        let step = p.decode_step_s.unwrap() - 40.0 * p.gemm_layer_s.unwrap();
        assert!(step < attention_all, "{step} vs {attention_all}");
        // A model without state layers is unchanged.
        let d = scen("llama-3.1-8b", "H100", 1);
        let dm = crate::memory::plan(&d);
        let dr = request(&d, &dm, &Efficiency::default(), 16, 4096, 1 << 30, 0);
        assert_eq!((dr.attention_layers, dr.state_bytes), (None, 0));
    }

    #[test]
    fn moe_counts_touched_experts() {
        // Mixtral, 16 tokens, top-2 of 8: 8 × (1 − 0.75^16) = 7.92 → 8 experts per layer.
        let s = scen("mixtral-8x7b", "H200", 1);
        let mem = crate::memory::plan(&s);
        let g = layer_gemms(&s, &mem, 16);
        assert!(g
            .iter()
            .filter(|x| x.name.starts_with("expert."))
            .all(|x| x.count == 8));
        let s2 = scen("deepseek-v2-lite", "H200", 1);
        assert!(matches!(
            probe_attention(&s2),
            ProbeAttention::Mla {
                heads: 16,
                kv_lora_rank: 512,
                rope_dim: 64
            }
        ));
    }
}
