//! GPU tests of the probe. Each one skips, with a printed reason, where no
//! NVIDIA driver or GPU exists (this machine and CI); on a GPU machine they
//! run the real kernels, whose outputs `probe::run` checks against the CPU
//! float64 reference before timing (relative error < 1e-2 for bf16).
#![cfg(feature = "gpu")]

use kvplan::probe::{
    self, GemmShape, ProbeAttention, ProbeDtype, ProbeError, ProbeEvent, ProbeRequest,
};

/// Returns true (and prints why) when the GPU tests cannot run here.
fn skip() -> bool {
    match probe::inventory() {
        Ok(inv) if !inv.gpus.is_empty() => false,
        Ok(_) => {
            eprintln!("skipping: the NVIDIA driver sees no GPU");
            true
        }
        Err(e) => {
            eprintln!("skipping: no NVIDIA driver ({e})");
            true
        }
    }
}

fn small(attention: ProbeAttention, weight_dtype: ProbeDtype) -> ProbeRequest {
    let (batch, ctx, layers) = (4, 1000, 2);
    ProbeRequest {
        device_index: 0,
        weights_bytes: 256 << 20,
        kv_cache_bytes: probe::math::kv_layer_bytes(&attention, batch, ctx) * layers,
        safety_margin_bytes: 1 << 30,
        batch,
        context_tokens: ctx,
        layers,
        attention_layers: None,
        state_bytes: 0,
        gemms: vec![
            GemmShape {
                name: "a".into(),
                n: 2048,
                k: 1024,
                count: 2,
                rows: Some(3),
            },
            GemmShape {
                name: "b".into(),
                n: 1024,
                k: 4096,
                count: 1,
                rows: None,
            },
        ],
        weight_dtype,
        attention,
        kv_dtype: ProbeDtype::Bf16,
        predicted: None,
        peaks: None,
    }
}

fn check_report(r: &probe::ProbeReport) {
    for c in &r.self_checks {
        eprintln!(
            "{}: {} relative error {:.2e} (threshold {:.0e})",
            c.kernel, c.shape, c.relative_error, c.threshold
        );
        assert!(c.passed);
        assert!(c.relative_error < 1e-2);
    }
    assert!(r.bandwidth.read_bytes_per_s > 1e11);
    assert!(r.bandwidth.copy_bytes_per_s > 1e11);
    assert!(r.gemm_ceiling.flops_per_s > 1e12);
    assert!(r.attention.phase.seconds > 0.0);
    assert!(r.decode_step.seconds >= r.attention.phase.seconds);
    // The step is replayed from a CUDA graph; the eager figure is kept.
    assert!(r.decode_step_graph, "notes: {:?}", r.notes);
    let eager = r.decode_step_eager.as_ref().unwrap();
    eprintln!(
        "decode step: graph {:.1} µs, eager {:.1} µs",
        r.decode_step.seconds * 1e6,
        eager.seconds * 1e6
    );
    assert!(r.gemm_layer_graph.is_some() && r.attention_layer_graph.is_some());
    let f = r.kernel_floors.as_ref().unwrap();
    eprintln!("kernel floors: {f:?}");
    assert!(f.kernel_graph_s > 0.0 && f.kernel_eager_s > 0.0);
    assert!(f.gemm_graph_s > 0.0 && f.gemm_eager_s > 0.0);
    // Shapes with several matrices run as one strided-batched GEMM at M = rows,
    // checked against the CPU reference first.
    for g in r.gemms.iter().filter(|g| g.count > 1) {
        assert!(g.batched, "{} ran unbatched: {:?}", g.name, r.notes);
        assert_eq!(g.m, 3);
    }
    assert!(r
        .self_checks
        .iter()
        .any(|c| c.kernel.contains("strided-batched")));
    let json = serde_json::to_string(r).unwrap();
    let back: probe::ProbeReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back.request, r.request);
}

#[test]
fn inventory_lists_gpus() {
    if skip() {
        return;
    }
    let inv = probe::inventory().unwrap();
    eprint!("{}", inv.table());
    assert!(inv.gpus.iter().all(|g| g.memory_total_bytes > 0));
}

#[test]
fn gqa_probe_runs_and_self_checks() {
    if skip() {
        return;
    }
    let req = small(
        ProbeAttention::Gqa {
            q_heads: 8,
            kv_heads: 2,
            head_dim: 128,
        },
        ProbeDtype::Bf16,
    );
    let mut stages = 0;
    let r = probe::run(&req, &mut |e| {
        if matches!(e, ProbeEvent::Stage { .. }) {
            stages += 1
        }
    })
    .unwrap();
    assert_eq!(stages, 7);
    check_report(&r);
}

#[test]
fn gqa_other_head_sizes_self_check() {
    if skip() {
        return;
    }
    // head_dim 64 with 8 q heads per KV head; head_dim 96 (padded lanes);
    // head_dim 256 with 16 q heads on one KV head (two head chunks per block row).
    for att in [
        ProbeAttention::Gqa {
            q_heads: 16,
            kv_heads: 2,
            head_dim: 64,
        },
        ProbeAttention::Gqa {
            q_heads: 4,
            kv_heads: 4,
            head_dim: 96,
        },
        ProbeAttention::Gqa {
            q_heads: 16,
            kv_heads: 1,
            head_dim: 256,
        },
    ] {
        let r = probe::run(&small(att, ProbeDtype::Bf16), &mut |_| {}).unwrap();
        check_report(&r);
    }
}

#[test]
fn mla_probe_runs_and_self_checks() {
    if skip() {
        return;
    }
    let req = small(
        ProbeAttention::Mla {
            heads: 16,
            kv_lora_rank: 512,
            rope_dim: 64,
        },
        ProbeDtype::Bf16,
    );
    let r = probe::run(&req, &mut |_| {}).unwrap();
    check_report(&r);
}

#[test]
fn fp8_weights_run_or_fall_back_with_a_note() {
    if skip() {
        return;
    }
    let req = small(
        ProbeAttention::Gqa {
            q_heads: 8,
            kv_heads: 2,
            head_dim: 128,
        },
        ProbeDtype::Fp8,
    );
    let r = probe::run(&req, &mut |_| {}).unwrap();
    check_report(&r);
    let measured = r.gemms[0].dtype_measured;
    assert!(measured == ProbeDtype::Fp8 || r.notes.iter().any(|n| n.contains("fp8")));
}

#[test]
fn a_plan_larger_than_the_gpu_is_refused_cleanly() {
    if skip() {
        return;
    }
    let mut req = small(
        ProbeAttention::Gqa {
            q_heads: 8,
            kv_heads: 2,
            head_dim: 128,
        },
        ProbeDtype::Bf16,
    );
    req.kv_cache_bytes = 1 << 44; // 16 TiB
    match probe::run(&req, &mut |_| {}) {
        Err(ProbeError::InsufficientMemory {
            requested_bytes,
            free_bytes,
            ..
        }) => {
            assert!(requested_bytes > free_bytes);
        }
        other => panic!("expected InsufficientMemory, got {other:?}"),
    }
}

#[test]
fn no_such_device_is_an_error() {
    if skip() {
        return;
    }
    let mut req = small(
        ProbeAttention::Gqa {
            q_heads: 8,
            kv_heads: 2,
            head_dim: 128,
        },
        ProbeDtype::Bf16,
    );
    req.device_index = 1000;
    assert!(matches!(
        probe::run(&req, &mut |_| {}),
        Err(ProbeError::NoSuchDevice { .. })
    ));
}

#[test]
fn allreduce_over_two_gpus() {
    if skip() {
        return;
    }
    let n = probe::inventory().unwrap().gpus.len();
    if n < 2 {
        eprintln!("skipping: all-reduce needs two GPUs, this machine has {n}");
        return;
    }
    let s = probe::allreduce_bandwidth(&[0, 1], &[1 << 20, 64 << 20]).unwrap();
    assert_eq!(s.len(), 2);
    assert!(s.iter().all(|x| x.busbw_bytes_per_s > 0.0));
}

#[test]
fn without_a_driver_every_entry_point_errors_cleanly() {
    if !skip() {
        eprintln!("skipping: a driver is present");
        return;
    }
    let req = small(
        ProbeAttention::Gqa {
            q_heads: 8,
            kv_heads: 2,
            head_dim: 128,
        },
        ProbeDtype::Bf16,
    );
    let e = probe::run(&req, &mut |_| {}).unwrap_err();
    assert!(matches!(e, ProbeError::MissingLibrary { .. }), "{e}");
    assert!(e.to_string().contains("driver"), "{e}");
    let e = probe::allreduce_bandwidth(&[0, 1], &[1 << 20]).unwrap_err();
    assert!(matches!(e, ProbeError::MissingLibrary { .. }), "{e}");
}
