//! Development driver for the GPU probe: inventory, then `probe::run` for a
//! few realistic shards, printing each report as JSON.
//!
//! ```text
//! cargo build --release --example probe_dev
//! probe_dev OUT.json            # every case
//! probe_dev OUT.json gqa        # only cases whose name contains "gqa"
//! ```
//!
//! Cases: a Llama-3.1-8B-like shard (32 layers, hidden 4096, GQA 32/8 heads ×
//! 128, MLP 14336; batch 1/16/64 × context 1k/8k/32k, the 64 × 32k case
//! must be refused cleanly for lack of memory) and a DeepSeek-V3-like MLA
//! layer shard (128 heads, latent 512 + 64; 8 layers with the experts of one
//! EP-8 rank; batch 16/64 × context 4k/32k; bf16, and one fp8 case).

use kvplan::probe::{
    self, GemmShape, Peaks, Predicted, ProbeAttention, ProbeDtype, ProbeEvent, ProbeReport,
    ProbeRequest,
};
use serde::Serialize;

/// H200 datasheet: 4.8 TB/s HBM3e, ~989 TFLOP/s dense bf16.
const H200: Peaks = Peaks {
    memory_bandwidth_bytes_per_s: 4.8e12,
    bf16_flops_per_s: 989e12,
};

fn g(name: &str, n: u64, k: u64, count: u64) -> GemmShape {
    GemmShape {
        name: name.into(),
        n,
        k,
        count,
        rows: None,
    }
}

/// Llama-3.1-8B: 8,030,261,248 parameters (bf16: 16.06 GB), 32 layers.
fn llama8b(batch: u64, ctx: u64) -> (String, ProbeRequest) {
    let att = ProbeAttention::Gqa {
        q_heads: 32,
        kv_heads: 8,
        head_dim: 128,
    };
    let layers = 32;
    let kv = probe::math::kv_layer_bytes(&att, batch, ctx) * layers;
    let gemms = vec![
        g("qkv", 6144, 4096, 1),
        g("o", 4096, 4096, 1),
        g("gate_up", 28672, 4096, 1),
        g("down", 4096, 14336, 1),
    ];
    // Naive roofline predictions at the datasheet bandwidth, so the report
    // shows measured vs predicted.
    let wb = 8_030_261_248u64 * 2;
    let gl = probe::math::gemm_layer_bytes(&gemms, ProbeDtype::Bf16, batch) as f64;
    let al = probe::math::attention_bytes(&att, batch, ctx) as f64;
    let bw = H200.memory_bandwidth_bytes_per_s;
    let predicted = Predicted {
        weights_read_s: Some(wb as f64 / bw),
        gemm_layer_s: Some(gl / bw),
        attention_layer_s: Some(al / bw),
        decode_step_s: Some(layers as f64 * (gl + al) / bw),
    };
    (
        format!("gqa-llama8b-b{batch}-t{ctx}"),
        ProbeRequest {
            device_index: 0,
            weights_bytes: wb,
            kv_cache_bytes: kv,
            safety_margin_bytes: 2 << 30,
            batch,
            context_tokens: ctx,
            layers,
            attention_layers: None,
            state_bytes: 0,
            gemms,
            weight_dtype: ProbeDtype::Bf16,
            attention: att,
            kv_dtype: ProbeDtype::Bf16,
            predicted: Some(predicted),
            peaks: Some(H200),
        },
    )
}

/// DeepSeek-V3 layer on one rank of EP-8 with data-parallel attention:
/// hidden 7168, q_lora 1536, 128 heads × (128 nope + 64 rope), kv_lora 512,
/// 256 routed experts (32 per rank, intermediate 2048, top-8) + 1 shared.
/// Experts a batch touches on the rank: 32·(1 − (1 − 8/256)^batch).
fn deepseek(batch: u64, ctx: u64, dtype: ProbeDtype) -> (String, ProbeRequest) {
    let att = ProbeAttention::Mla {
        heads: 128,
        kv_lora_rank: 512,
        rope_dim: 64,
    };
    let layers = 8;
    let touched = (32.0 * (1.0 - (1.0 - 8.0 / 256.0f64).powi(batch as i32))).ceil() as u64;
    let gemms = vec![
        g("q_a", 1536, 7168, 1),
        g("q_b", 128 * 192, 1536, 1),
        g("kv_a", 576, 7168, 1),
        g("o", 7168, 128 * 128, 1),
        g("shared_gate_up", 4096, 7168, 1),
        g("shared_down", 7168, 2048, 1),
        g("experts_gate_up", 4096, 7168, touched),
        g("experts_down", 7168, 2048, touched),
    ];
    let per_layer = probe::math::gemm_layer_weight_bytes(&gemms, dtype);
    let kv = probe::math::kv_layer_bytes(&att, batch, ctx) * layers;
    (
        format!("mla-deepseek-{}-b{batch}-t{ctx}", dtype.name()),
        ProbeRequest {
            device_index: 0,
            weights_bytes: per_layer * layers + (1 << 30),
            kv_cache_bytes: kv,
            safety_margin_bytes: 2 << 30,
            batch,
            context_tokens: ctx,
            layers,
            attention_layers: None,
            state_bytes: 0,
            gemms,
            weight_dtype: dtype,
            attention: att,
            kv_dtype: ProbeDtype::Bf16,
            predicted: None,
            peaks: Some(H200),
        },
    )
}

#[derive(Serialize)]
struct Out {
    inventory: Option<probe::Inventory>,
    inventory_error: Option<String>,
    reports: Vec<(String, ProbeReport)>,
    errors: Vec<(String, String)>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "probe_report.json".into());
    let filter = args.get(2).cloned().unwrap_or_default();
    let mut out = Out {
        inventory: None,
        inventory_error: None,
        reports: vec![],
        errors: vec![],
    };
    match probe::inventory() {
        Ok(inv) => {
            eprint!("{}", inv.table());
            out.inventory = Some(inv);
        }
        Err(e) => {
            eprintln!("inventory: {e}");
            out.inventory_error = Some(e.to_string());
        }
    }
    let mut cases = vec![];
    for (b, t) in [
        (64, 8192),
        (1, 1024),
        (1, 32768),
        (16, 8192),
        (16, 32768),
        (64, 1024),
        (64, 32768),
    ] {
        cases.push(llama8b(b, t));
    }
    for (b, t) in [(16, 4096), (64, 4096), (16, 32768), (64, 32768)] {
        cases.push(deepseek(b, t, ProbeDtype::Bf16));
    }
    cases.push(deepseek(64, 4096, ProbeDtype::Fp8));
    for (name, req) in cases {
        if !name.contains(&filter) {
            continue;
        }
        eprintln!("== {name}");
        let t0 = std::time::Instant::now();
        let mut progress = |e: ProbeEvent| {
            if let ProbeEvent::Stage { name, .. } = &e {
                eprintln!("   [{:6.2}s] {name}", t0.elapsed().as_secs_f64());
            } else if let ProbeEvent::Note(n) = &e {
                eprintln!("   note: {n}");
            }
        };
        match probe::run(&req, &mut progress) {
            Ok(r) => {
                eprintln!(
                    "   read {:.0} GB/s, copy {:.0} GB/s (read/copy {:.3}); ceiling {:.0} TFLOP/s; attention {:.3} ms = {:.0} GB/s ({:.3} of copy, {:.2}x roofline); gemm layer {:.3} ms ({:.0} GB/s); step {:.3} ms ({:.0} tok/s); checks {}",
                    r.bandwidth.read_bytes_per_s / 1e9,
                    r.bandwidth.copy_bytes_per_s / 1e9,
                    r.bandwidth.read_vs_copy,
                    r.gemm_ceiling.flops_per_s / 1e12,
                    r.attention.phase.seconds * 1e3,
                    r.attention.phase.bytes_per_s / 1e9,
                    r.attention.phase.bandwidth_vs_copy,
                    r.attention.phase.vs_roofline,
                    r.gemm_layer.seconds * 1e3,
                    r.gemm_layer.bytes_per_s / 1e9,
                    r.decode_step.seconds * 1e3,
                    r.decode_tokens_per_s,
                    r.self_checks
                        .iter()
                        .map(|c| format!("{:.1e}", c.relative_error))
                        .collect::<Vec<_>>()
                        .join("/")
                );
                out.reports.push((name, r));
            }
            Err(e) => {
                eprintln!("   error: {e}");
                out.errors.push((name, e.to_string()));
            }
        }
        // Write after every case so a timeout still leaves the results so far.
        let json = serde_json::to_string_pretty(&out).expect("serialize");
        if let Err(e) = std::fs::write(&path, &json) {
            eprintln!("cannot write {path}: {e}");
        }
    }
    println!("{}", serde_json::to_string(&out).expect("serialize"));
}
