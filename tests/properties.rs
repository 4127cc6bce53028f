//! Properties that must hold for any input: memory grows with context and
//! batch; per-GPU shards add up to the whole model; quantization never
//! grows weights; the vLLM start-up arithmetic follows the engine's formula.

mod common;
use common::builtin;
use kvplan::memory::{self, weights::total_weight_bytes};
use kvplan::request::{resolve, EstimateRequest, Tokens};
use kvplan::scenario::Scenario;
use kvplan::spec::dtype::WeightFormat;
use kvplan::spec::Catalog;
use proptest::prelude::*;

fn scenario(
    model: &str,
    gpus: &str,
    ctx: u64,
    batch: u64,
    extra: impl FnOnce(&mut EstimateRequest),
) -> Scenario {
    let c = Catalog::builtin().unwrap();
    let mut req = EstimateRequest {
        model: model.into(),
        gpus: gpus.into(),
        ctx: Some(Tokens::Number(ctx)),
        batch: Some(batch),
        ..Default::default()
    };
    extra(&mut req);
    resolve(&req, &c, &|_| unreachable!()).unwrap().scenario
}

const MODELS: [&str; 6] = [
    "llama-3.1-8b",
    "deepseek-v3",
    "gemma-2-9b",
    "mixtral-8x7b",
    "gpt-oss-20b",
    "mistral-7b",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn memory_monotonic_in_context_and_batch(mi in 0usize..6, ctx in 1u64..200_000, extra in 1u64..50_000, batch in 1u64..64, more in 1u64..64) {
        let m = MODELS[mi];
        let a = memory::plan(&scenario(m, "8xH100", ctx, batch, |_| {}));
        let b = memory::plan(&scenario(m, "8xH100", ctx + extra, batch, |_| {}));
        let c = memory::plan(&scenario(m, "8xH100", ctx, batch + more, |_| {}));
        let kv = |p: &memory::MemoryPlan| p.binding_stage().kv_cache_bytes;
        prop_assert!(kv(&b) >= kv(&a));
        prop_assert!(kv(&c) >= kv(&a));
        prop_assert!(b.binding_stage().total_bytes() >= a.binding_stage().total_bytes());
        prop_assert!(b.max_batch <= a.max_batch);
        prop_assert!(c.max_context_memory <= a.max_context_memory);
    }

    #[test]
    fn pipeline_shards_sum_to_whole(mi in 0usize..6, pp in 1u64..9) {
        let m = builtin(MODELS[mi]);
        prop_assume!(pp <= m.num_layers && !m.tie_word_embeddings);
        let s = scenario(MODELS[mi], &format!("{pp}xH100"), 4096, 1, |r| { r.tp = Some(1); r.pp = Some(pp); r.weights = Some(WeightFormat::Bf16); });
        let plan = memory::plan(&s);
        let sum: u64 = plan.stages.iter().map(|st| st.weights_bytes).sum();
        prop_assert_eq!(sum, total_weight_bytes(&m, WeightFormat::Bf16));
        let layers: u64 = plan.stages.iter().map(|st| st.layers.end - st.layers.start).sum();
        prop_assert_eq!(layers, m.num_layers);
    }
}

#[test]
fn expert_parallel_shards_sum_to_whole() {
    // DeepSeek-V3 on 8 GPUs with TP 1 / DP 8 / EP 8: each GPU holds 256/8 = 32 experts per layer
    // and a full copy of everything else, so GPU total − replicated part = experts / 8.
    let s = scenario("deepseek-v3", "8xH200", 4096, 8, |r| {
        r.tp = Some(1);
        r.dp = Some(8);
        r.ep = Some(8);
        r.weights = Some(WeightFormat::Bf16);
    });
    let plan = memory::plan(&s);
    assert_eq!(plan.stages[0].experts_per_gpu, 32);
    let m = builtin("deepseek-v3");
    let expert_bytes = 58 * 256 * 3 * 7168 * 2048 * 2u64;
    let total = total_weight_bytes(&m, WeightFormat::Bf16);
    assert_eq!(
        plan.stages[0].weights_bytes,
        total - expert_bytes + expert_bytes / 8
    );
    // 5 GPUs' worth of EP on 160 experts (DeepSeek-V2): uneven → the largest GPU holds ceil(160/…) experts.
    let s2 = scenario("deepseek-v2", "3xH200", 4096, 3, |r| {
        r.tp = Some(1);
        r.dp = Some(3);
        r.ep = Some(3);
        r.weights = Some(WeightFormat::Bf16);
    });
    assert_eq!(memory::plan(&s2).stages[0].experts_per_gpu, 54); // ceil(160 / 3)
}

#[test]
fn tensor_parallel_shards_sum_to_whole_plus_replicas() {
    // Llama-3.1-70B, TP 8: every tensor splits evenly except the replicated norms.
    let s = scenario("llama-3.1-70b", "8xH100", 4096, 1, |r| {
        r.weights = Some(WeightFormat::Bf16)
    });
    let plan = memory::plan(&s);
    let m = builtin("llama-3.1-70b");
    let norms = (80 * 2 + 1) * 8192 * 2u64;
    assert_eq!(
        8 * plan.stages[0].weights_bytes,
        total_weight_bytes(&m, WeightFormat::Bf16) + 7 * norms
    );
}

#[test]
fn vllm_startup_arithmetic() {
    // vllm/v1/worker/gpu_worker.py: available = total × util − (weights + peak activations + non-torch);
    // kv_cache_utils.py: num_blocks = available // (page × layers); tokens = num_blocks × block_size,
    // page = block_size × kv_heads × (head + head_v) × 2 bytes.
    // Pinned to the release this arithmetic follows (vLLM ≥ 0.21 also takes
    // a CUDA-graph estimate out and defaults to 0.92).
    let s = scenario("llama-3.1-8b", "H200", 8192, 1, |r| {
        r.engine = Some(kvplan::spec::engine_id::EngineId::parse("vllm@0.11").unwrap())
    });
    let p = memory::plan(&s);
    let st = &p.stages[0];
    let e = &s.deployment.engine;
    assert_eq!(
        e.max_num_batched_tokens, 8192,
        "vLLM picks 8192 on ≥70 GiB GPUs"
    );
    let available = (150_109_880_320f64 * 0.9) as i128
        - st.weights_bytes as i128
        - st.activation_bytes as i128
        - e.non_torch_bytes as i128;
    assert_eq!(st.kv_budget_bytes, available);
    let page = 16 * 8 * (128 + 128) * 2;
    assert_eq!(p.kv_cache_tokens as i128, available / (page * 32) * 16);
    // Weights: bf16 Llama-3.1-8B = 2 bytes × 8,030,261,248 params.
    assert_eq!(st.weights_bytes, 2 * 8_030_261_248);
}

#[test]
fn sglang_arithmetic_uses_tp_table() {
    // SGLang (v0.4.x server_args.py): mem_fraction_static 0.81 at tp 8;
    // rest = total × frac − weights − context/non-torch, tokens = rest // cell_size.
    // Pinned: SGLang ≥ 0.5.3 derives the fraction from a tiered reserve.
    let s = scenario("llama-3.1-70b", "8xH100", 8192, 1, |r| {
        r.engine = Some(kvplan::spec::engine_id::EngineId::parse("sglang@0.4").unwrap())
    });
    let p = memory::plan(&s);
    assert!((p.memory_fraction - 0.81).abs() < 1e-12);
    let st = &p.stages[0];
    let kv_heads_per_rank = 1; // 8 KV heads over tp 8
    let cell = kv_heads_per_rank * (128 + 128) * 80 * 2; // × layers × 2 bytes
    assert_eq!(p.kv_cache_tokens as i128, st.kv_budget_bytes / cell);
}

/// Every built-in model, a GPU list and a workload: resolved like the CLI
/// (None when the combination is refused), then the report.
fn report_of(
    c: &Catalog,
    mi: usize,
    gi: usize,
    ctx: u64,
    batch: u64,
    engine: &str,
    kv: &str,
) -> Option<kvplan::report::Report> {
    let m = &c.models[mi % c.models.len()];
    let gpus = [
        "H100",
        "8xH100",
        "2x8xH200",
        "4xA100-80GB",
        "8xMI300X",
        "L40S",
    ][gi % 6];
    let req = EstimateRequest {
        model: m.name.clone(),
        gpus: gpus.into(),
        ctx: Some(Tokens::Number(ctx)),
        batch: Some(batch),
        engine: Some(kvplan::spec::engine_id::EngineId::parse(engine).unwrap()),
        kv_dtype: Some(kvplan::spec::dtype::KvDtype::parse(kv, "kv-dtype").unwrap()),
        ..Default::default()
    };
    let r = resolve(&req, c, &|_| unreachable!()).ok()?;
    let eff = kvplan::perf::Efficiency::default();
    let e = kvplan::estimate::estimate(&r.scenario, &eff, r.tokens_per_step).ok()?;
    Some(kvplan::report::Report::new(&e, vec![]))
}

/// All numbers a report gives users: finite and non-negative; the memory
/// parts add up; a pool and a shortfall are never both non-zero.
fn assert_sane(r: &kvplan::report::Report) {
    let p = &r.performance;
    for (name, v) in [
        ("decode_step_seconds", p.decode_step_seconds),
        (
            "time_per_output_token_seconds",
            p.time_per_output_token_seconds,
        ),
        ("decode_tokens_per_second", p.decode_tokens_per_second),
        (
            "tokens_per_second_per_request",
            p.tokens_per_second_per_request,
        ),
        ("prefill_seconds", p.prefill_seconds),
        ("ttft_seconds", p.ttft_seconds),
        ("decode_bytes_read", p.decode_bytes_read),
        ("decode_flops", p.decode_flops),
        ("decode_memory_seconds", p.decode_memory_seconds),
        ("decode_compute_seconds", p.decode_compute_seconds),
        (
            "decode_communication_seconds",
            p.decode_communication_seconds,
        ),
        ("experts_touched_per_layer", p.experts_touched_per_layer),
    ] {
        assert!(v.is_finite() && v >= 0.0, "{name} = {v}");
    }
    let m = &r.memory_per_gpu;
    assert_eq!(
        m.total_bytes,
        m.weights_bytes + m.kv_cache_bytes + m.activation_bytes + m.overhead_bytes
    );
    assert!(m.kv_budget_bytes == 0 || m.kv_shortfall_bytes == 0, "{m:?}");
    assert!(m.budget_bytes <= m.capacity_bytes);
}

/// The report says its decode batch runs past the engine's CUDA graphs.
fn past_graphs(r: &kvplan::report::Report) -> bool {
    r.assumptions
        .iter()
        .any(|a| a.contains("past the largest CUDA graph"))
}

const ENGINES: [&str; 4] = ["vllm", "sglang", "trtllm", "hf"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random valid scenarios over every built-in model: sane numbers, and
    /// more context or more sequences never make a step faster, a prefill
    /// shorter or the largest batch larger.
    #[test]
    fn random_scenarios_are_finite_non_negative_and_monotonic(
        mi in 0usize..64, gi in 0usize..6, ei in 0usize..4, fp8 in any::<bool>(),
        ctx in 1u64..131_072, extra in 1u64..65_536, batch in 1u64..256, more in 1u64..256,
    ) {
        let c = Catalog::builtin().unwrap();
        let kv = if fp8 { "fp8" } else { "bf16" };
        let e = ENGINES[ei];
        let Some(a) = report_of(&c, mi, gi, ctx, batch, e, kv) else { return Ok(()) };
        assert_sane(&a);
        if let Some(b) = report_of(&c, mi, gi, ctx + extra, batch, e, kv) {
            assert_sane(&b);
            prop_assert!(b.performance.decode_step_seconds >= a.performance.decode_step_seconds);
            prop_assert!(b.performance.prefill_seconds >= a.performance.prefill_seconds);
            prop_assert!(b.memory_per_gpu.kv_cache_bytes >= a.memory_per_gpu.kv_cache_bytes);
            prop_assert!(b.limits.max_batch <= a.limits.max_batch);
        }
        if let Some(d) = report_of(&c, mi, gi, ctx, batch + more, e, kv) {
            assert_sane(&d);
            // Past the engine's largest CUDA graph a step runs eager and can
            // cost more than a smaller graphed one (engine behaviour; the
            // report says so, and `eager_past_the_graph_ceiling` checks the
            // jump): compare steps on the same side of the ceiling only.
            if past_graphs(&a) == past_graphs(&d) {
                prop_assert!(d.performance.decode_step_seconds >= a.performance.decode_step_seconds);
            } else {
                prop_assert!(!past_graphs(&a) && past_graphs(&d));
            }
            prop_assert!(d.performance.decode_tokens_per_second >= 0.0);
            prop_assert!(d.memory_per_gpu.total_bytes >= a.memory_per_gpu.total_bytes);
            prop_assert!(d.limits.max_context_memory <= a.limits.max_context_memory);
        }
    }
}

/// Decode step of Llama-3.1-8B on one H100 at 1k context, `batch` sequences.
fn llama_step(engine: &str, batch: u64) -> (f64, f64, kvplan::report::Report) {
    let s = scenario("llama-3.1-8b", "H100", 1024, batch, |r| {
        r.engine = Some(kvplan::spec::engine_id::EngineId::parse(engine).unwrap());
        r.kv_dtype = Some(kvplan::spec::dtype::KvDtype::parse("bf16", "kv-dtype").unwrap());
    });
    let eager = s
        .deployment
        .engine
        .scheduler_spec()
        .eager_overhead_per_layer_seconds;
    let e = kvplan::estimate::estimate(&s, &kvplan::perf::Efficiency::default(), 1.0).unwrap();
    let r = kvplan::report::Report::new(&e, vec![]);
    (r.performance.decode_step_seconds, eager, r)
}

/// The CUDA-graph ceiling. SGLang 0.5.3 on an 80 GiB GPU below TP 4 captures
/// decode graphs up to 256 sequences (python/sglang/srt/server_args.py
/// `_handle_gpu_memory_settings`, PR #10975: `cuda_graph_max_bs` 256 in that
/// tier; `_generate_cuda_graph_batch_sizes`); batch 257 runs eager, so its
/// step is the step at 256 plus the profile's eager cost on each of the 32
/// layers (Llama-3.1-8B config.json: num_hidden_layers 32) plus one more
/// sequence's reads (under 1% of the step here), and the report says so.
/// TensorRT-LLM as kvplan launches it (`cuda_graph_config: {enable_padding:
/// true, max_batch_size: B}`; tensorrt_llm/llmapi/llm_args.py pads to
/// 8..128 step 8) replays the 112 graph at batch 111: never slower than 128.
#[test]
fn eager_past_the_graph_ceiling() {
    let (at_256, eager, r256) = llama_step("sglang", 256);
    let (at_257, _, r257) = llama_step("sglang", 257);
    assert!(eager > 0.0);
    let jump = at_257 - at_256;
    assert!(
        jump >= 32.0 * eager && jump <= 32.0 * eager + 0.01 * at_256,
        "jump {jump} vs 32 × {eager}"
    );
    assert!(!past_graphs(&r256) && past_graphs(&r257));
    let (t111, _, r111) = llama_step("trtllm", 111);
    let (t128, _, _) = llama_step("trtllm", 128);
    assert!(t111 <= t128, "{t111} > {t128}");
    assert!(!past_graphs(&r111));
}
