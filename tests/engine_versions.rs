//! Versioned engine profiles: `--engine NAME` is the newest release kvplan
//! models, `NAME@VERSION` pins one; the pinned pre-versioning releases give
//! exactly the numbers kvplan gave before versions existed; each version's
//! own arithmetic (graph estimate in the budget, SGLang's tiered reserve,
//! `--kv-cache-memory`, decode context parallelism).

use kvplan::memory;
use kvplan::request::{resolve, EstimateRequest, Tokens};
use kvplan::scenario::Scenario;
use kvplan::spec::engine::EngineSpec;
use kvplan::spec::engine_id::EngineId;
use kvplan::spec::Catalog;
use std::process::Command;

fn request(model: &str, gpus: &str, engine: &str) -> EstimateRequest {
    EstimateRequest {
        model: model.into(),
        gpus: gpus.into(),
        ctx: Some(Tokens::Number(32768)),
        engine: Some(EngineId::parse(engine).unwrap()),
        ..Default::default()
    }
}

fn scenario(req: &EstimateRequest) -> Scenario {
    let c = Catalog::builtin().unwrap();
    resolve(req, &c, &|_| unreachable!()).unwrap().scenario
}

/// The base profile file as it stood before versions existed, parsed alone.
fn base_profile(name: &str) -> EngineSpec {
    let p = format!(
        "{}/profiles/engines/{name}.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    kvplan::yaml::from_str(&std::fs::read_to_string(&p).unwrap(), &p).unwrap()
}

#[test]
fn pinned_old_releases_reproduce_the_unversioned_numbers() {
    // vllm@0.10 and sglang@0.4 are the profiles kvplan shipped before
    // versioning (profiles/engines/vllm.yaml, sglang.yaml): same plan, byte
    // for byte, on several models and GPUs. (vllm@0.11 was this profile
    // until its sampler warm-up peak was measured: profiles/engines/vllm/0.11.yaml.)
    for (engine, base) in [
        ("vllm@0.10", "vllm"),
        ("sglang@0.4", "sglang"),
        ("trtllm@1.0", "trtllm"),
    ] {
        for (model, gpus) in [
            ("llama-3.1-8b", "H100"),
            ("llama-3.1-70b", "4xA100-80GB"),
            ("deepseek-v3", "8xH200"),
            ("qwen3-30b-a3b", "2xL40S"),
        ] {
            let pinned = scenario(&request(model, gpus, engine));
            let mut old = pinned.clone();
            old.deployment.engine =
                base_profile(base).for_gpu(&old.cluster.gpu.name, old.cluster.gpu.memory_bytes);
            let (a, b) = (memory::plan(&pinned), memory::plan(&old));
            assert_eq!(
                a.kv_cache_tokens, b.kv_cache_tokens,
                "{engine} {model} {gpus}"
            );
            assert_eq!(
                a.memory_fraction, b.memory_fraction,
                "{engine} {model} {gpus}"
            );
            assert_eq!(
                a.binding_stage().kv_budget_bytes,
                b.binding_stage().kv_budget_bytes,
                "{engine} {model} {gpus}"
            );
        }
    }
}

#[test]
fn bare_name_is_the_newest_release() {
    let c = Catalog::builtin().unwrap();
    let v = c.engine("vllm").unwrap();
    // vLLM 0.25 (first release with PR #44443, Model Runner V2 for dense
    // models) keeps 0.21's utilization 0.92 and graph estimate for MoE and
    // hybrid models; dense models get the dense runner's fields.
    assert_eq!(v.id(), "vllm@0.25");
    assert_eq!(v.memory_fraction, 0.92);
    assert!(v.cuda_graph_in_budget);
    let r = v
        .dense_runner
        .as_ref()
        .expect("vllm@0.25 has a dense runner");
    assert!(!r.cuda_graph_in_budget);
    assert_eq!(c.engine("vllm@0.27.1").unwrap().id(), "vllm@0.25");
    assert_eq!(c.engine("vllm@0.25.0").unwrap().id(), "vllm@0.25");
    assert_eq!(c.engine("vllm@0.24.1").unwrap().id(), "vllm@0.21");
    assert_eq!(c.engine("vllm@0.11.2").unwrap().id(), "vllm@0.11");
    assert_eq!(c.engine("vllm@0.10.1.1").unwrap().id(), "vllm@0.10");
    assert_eq!(c.engine("sglang@0.5").unwrap().id(), "sglang@0.5.3");
    assert_eq!(c.engine("sglang@0.5.1").unwrap().id(), "sglang@0.4");
    assert_eq!(c.engine("TensorRT-LLM@1.1").unwrap().id(), "trtllm@0.19");
    // Every version lists every sibling, with its releases and sources.
    assert!(v.versions.len() >= 2);
    assert!(v
        .versions
        .iter()
        .all(|i| !i.sources.is_empty() && !i.releases.is_empty()));
    // vllm@0.21: the graph estimate comes out of the budget: the 0.11 rule
    // with 0.92 − graphs.
    let new = scenario(&request("llama-3.1-8b", "H100", "vllm@0.21"));
    let old = scenario(&request("llama-3.1-8b", "H100", "vllm@0.11"));
    let (pn, po) = (memory::plan(&new), memory::plan(&old));
    let cap = new.cluster.gpu.engine_memory_bytes() as f64;
    let expect = po.binding_stage().kv_budget_bytes + ((cap * 0.92) as i128 - (cap * 0.9) as i128)
        - new.deployment.engine.cuda_graph_bytes as i128;
    assert_eq!(pn.binding_stage().kv_budget_bytes, expect);
}

#[test]
fn model_runner_v2_arithmetic_of_vllm_0_25_for_dense_models() {
    // Hand derivation from vLLM's Model Runner V2 source (vllm-project/vllm
    // vllm/v1/worker/gpu/model_runner.py profile_run / _dummy_sampler_run /
    // profile_cudagraph_memory, vllm/v1/worker/gpu/sample/sampler.py,
    // gumbel.py), Llama-3.1-8B (config.json: hidden 4096, intermediate
    // 14336, 32 heads, 8 KV heads × 128, vocab 128,256) on one H100
    // (≥ 70 GiB, not an A100: 8,192 batched tokens, 1,024 sequences):
    //  - forward of the profile run (kvplan's layer model, unchanged):
    //    (2 × 4096 residual + 3 × 14336 MLP) × 2 B × 8,192 = 838,860,800 B;
    //  - sampler warm-up: bf16 logits + their fp32 copy, 6 B × 1,024 ×
    //    128,256 = 788,004,864 B, with the forward's output (8,192 × 4096)
    //    and the sampled rows' hidden states (1,024 × 4096) alive in bf16:
    //    9,216 × 4096 × 2 = 75,497,472 B → 863,502,336 B, the larger phase;
    //  - no CUDA-graph estimate in the budget (V2 returns 0).
    let v25 = scenario(&request("llama-3.1-8b", "H100", "vllm"));
    let v21 = scenario(&request("llama-3.1-8b", "H100", "vllm@0.21"));
    let (p25, p21) = (memory::plan(&v25), memory::plan(&v21));
    let forward: u64 = (2 * 4096 + 3 * 14336) * 2 * 8192;
    assert_eq!(forward, 838_860_800);
    let sampler: u64 = 6 * 1024 * 128_256 + (8192 + 1024) * 4096 * 2;
    assert_eq!(sampler, 863_502_336);
    let a25 = p25.binding_stage().activation_bytes;
    assert_eq!(a25, sampler.max(forward));
    // vllm@0.21 (V1 runner): 9.7 fitted fp32 copies of the same logits.
    let a21 = p21.binding_stage().activation_bytes;
    assert_eq!(a21, (1024.0 * 128_256.0 * 4.0 * 9.7f64).ceil() as u64);
    // Same utilization; the budget gains the V1 activation surplus and the
    // graph estimate 0.21 subtracted.
    let graphs = v21.deployment.engine.cuda_graph_bytes as i128;
    assert!(graphs > 0);
    assert_eq!(
        p25.binding_stage().kv_budget_bytes,
        p21.binding_stage().kv_budget_bytes + (a21 as i128 - a25 as i128) + graphs
    );
    assert!(!v25.deployment.engine.cuda_graph_in_budget);
    // MoE models keep the V1 runner (_is_default_v2_model_runner_model:
    // not MoE): vllm@0.25 plans them exactly as vllm@0.21.
    for (model, gpus) in [("qwen3-30b-a3b", "2xL40S"), ("gpt-oss-20b", "H100")] {
        let a = memory::plan(&scenario(&request(model, gpus, "vllm")));
        let b = memory::plan(&scenario(&request(model, gpus, "vllm@0.21")));
        assert_eq!(
            a.binding_stage().kv_budget_bytes,
            b.binding_stage().kv_budget_bytes,
            "{model}"
        );
        assert_eq!(a.kv_cache_tokens, b.kv_cache_tokens, "{model}");
    }
}

#[test]
fn unknown_versions_are_clear_errors_listing_the_modelled_ones() {
    let c = Catalog::builtin().unwrap();
    for bad in ["vllm@0.3", "vllm@9.0", "vllm@latest"] {
        let e = c.engine(bad).unwrap_err();
        assert_eq!(e.field(), Some("engine"), "{bad}");
        let m = e.to_string();
        assert!(
            m.contains("vllm@0.10") && m.contains("vllm@0.21"),
            "{bad}: {m}"
        );
        assert!(m.contains("0.10.0–0.10.x"), "{bad}: {m}");
        assert!(m.contains("vllm@0.11 (0.11.0–0.20.x)"), "{bad}: {m}");
    }
    let m = c.engine("hf@5").unwrap_err().to_string();
    assert!(
        m.contains("no versions") && m.contains("--engine hf"),
        "{m}"
    );
    let m = c.engine("vlm@0.11").unwrap_err().to_string();
    assert!(m.contains("unknown engine") && m.contains("vllm"), "{m}");
}

#[test]
fn decode_context_parallelism_multiplies_mla_capacity() {
    // vLLM PR #23734: "kvcache token budget always increased by dcp times";
    // each rank of the DCP group keeps every dcp-th token, so the per-GPU
    // budget is unchanged and the logged capacity is ×dcp.
    let mut req = request("kimi-k2", "8xH200", "vllm");
    let one = memory::plan(&scenario(&req));
    assert!(
        one.kv_cache_tokens > 0,
        "Kimi-K2 must leave a KV pool on 8 × H200"
    );
    req.dcp = Some(8);
    let s8 = scenario(&req);
    let eight = memory::plan(&s8);
    assert_eq!(
        one.binding_stage().kv_budget_bytes,
        eight.binding_stage().kv_budget_bytes
    );
    assert_eq!(eight.kv_cache_tokens, 8 * one.kv_cache_tokens);
    // A sequence costs each GPU 1/8 of its KV: the batch that fits grows ~×8.
    assert!(
        eight.max_batch >= 8 * one.max_batch,
        "{} vs {}",
        eight.max_batch,
        one.max_batch
    );
    // dcp must divide tp, and engines without DCP refuse it (checked where
    // the operation validates the scenario, not in `resolve`).
    req.dcp = Some(3);
    let c = Catalog::builtin().unwrap();
    let e = resolve(&req, &c, &|_| unreachable!())
        .and_then(|r| r.scenario.validate())
        .unwrap_err();
    assert_eq!(e.field(), Some("dcp"), "{e}");
    req.dcp = Some(8);
    req.engine = Some(EngineId::parse("sglang").unwrap());
    let e = resolve(&req, &c, &|_| unreachable!())
        .and_then(|r| r.scenario.validate())
        .unwrap_err();
    assert_eq!(e.field(), Some("dcp"), "{e}");
}

/// vLLM's Kimi-K2-Thinking recipe (github.com/vllm-project/recipes
/// moonshotai/Kimi-K2-Think.md @ 4cd65a3, "DCP Gain Analysis"; also
/// tests/fixtures/engine-logs/vllm-kimi-k2-thinking-h200-*.yaml): 8 × H200,
/// TP 8, a nightly between v0.11.0 and v0.11.1. The logged capacity with
/// and without `--decode-context-parallel-size 8`, from the same 46.80 GiB
/// pool per GPU.
#[test]
fn decode_context_parallelism_matches_the_vllm_recipe_log() {
    const LOGGED_TP8: f64 = 715_072.0;
    const LOGGED_DCP8: f64 = 5_721_088.0;
    let mut req = request("kimi-k2-thinking", "8xH200", "vllm@0.11");
    req.ctx = Some(Tokens::Number(262_144));
    let one = memory::plan(&scenario(&req));
    req.dcp = Some(8);
    let eight = memory::plan(&scenario(&req));
    let (t1, t8) = (one.kv_cache_tokens as f64, eight.kv_cache_tokens as f64);
    assert!((t1 / LOGGED_TP8 - 1.0).abs() < 0.05, "TP 8: {t1}");
    assert!((t8 / LOGGED_DCP8 - 1.0).abs() < 0.05, "TP 8 DCP 8: {t8}");
    // The ×8 itself: the log's ratio is 8.0008 (its pool rounds to blocks
    // differently by 64 tokens of 715k); kvplan's is exactly 8.
    assert!((t8 / t1 - LOGGED_DCP8 / LOGGED_TP8).abs() < 0.001);
    // The CLI shows the factor and where the multiplied figure comes from.
    let out = Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args([
            "estimate", "kimi-k2", "--gpus", "8xH200", "--engine", "vllm", "--dcp", "8",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DP 1 DCP 8"), "{text}");
    assert!(
        text.contains("8,784 B per token of context per GPU"),
        "{text}"
    );
    assert!(
        text.contains("Multiplying the GPU KV cache size by the dcp_world_size 8"),
        "{text}"
    );
}

#[test]
fn sglang_tiered_reserve() {
    // sgl-project/sglang PR #10975 (server_args.py _handle_gpu_memory_settings),
    // by hand for 8 × H100 (80 GiB = 81,920 MiB, TP 8): tier < 160 GiB →
    // chunked_prefill 8192, cuda_graph_max_bs 512 (TP ≥ 4); reserved =
    // 512 + 1.5 × 8192 + 2 × 512 + 8 × 1 / 8 × 1024 = 14,848 MiB (≥ 10 GiB floor);
    // fraction = round((81,920 − 14,848) / 81,920, 3) = 0.819.
    let s = scenario(&request("llama-3.1-70b", "8xH100", "sglang@0.5.3"));
    assert_eq!(s.deployment.engine.max_num_batched_tokens, 8192);
    assert_eq!(memory::plan(&s).memory_fraction, 0.819);
    // L40S (48 GiB = 49,152 MiB, TP 1): tier < 60 GiB → chunk 4096, max_bs 32;
    // reserved = 512 + 6144 + 64 + 128 = 6,848 MiB (no floor below 60 GiB);
    // fraction = round(42,304 / 49,152, 3) = 0.861.
    let s = scenario(&request("llama-3.1-8b", "L40S", "sglang"));
    let gib = s.cluster.gpu.memory_bytes as f64 / (1u64 << 30) as f64;
    let mib = gib * 1024.0;
    let reserved = 512.0 + 1.5 * 4096.0 + 2.0 * 32.0 + 128.0;
    let want = ((mib - reserved) / mib * 1000.0).round() / 1000.0;
    assert_eq!(s.deployment.engine.max_num_batched_tokens, 4096);
    assert_eq!(memory::plan(&s).memory_fraction, want);
    // --mem-fraction-static overrides the rule.
    let mut req = request("llama-3.1-8b", "L40S", "sglang");
    req.mem_fraction_static = Some(0.7);
    assert_eq!(memory::plan(&scenario(&req)).memory_fraction, 0.7);
}

#[test]
fn kv_cache_memory_replaces_the_fraction_rule() {
    // vLLM PR #21489: --kv-cache-memory gives the pool directly.
    let mut req = request("llama-3.1-8b", "H100", "vllm");
    req.kv_cache_memory = Some(Tokens::Text("40GiB".into()));
    let p = memory::plan(&scenario(&req));
    assert_eq!(p.binding_stage().kv_budget_bytes, 40 << 30);
    // 40 GiB / (16 tokens × 131,072 B) blocks × 16 tokens.
    assert_eq!(p.kv_cache_tokens, (40u64 << 30) / (16 * 131_072) * 16);
    req.kv_cache_memory = Some(Tokens::Text("500GiB".into()));
    let c = Catalog::builtin().unwrap();
    let e = resolve(&req, &c, &|_| unreachable!())
        .and_then(|r| r.scenario.validate())
        .unwrap_err();
    assert_eq!(e.field(), Some("kv_cache_memory"), "{e}");
}

#[test]
fn engines_command_lists_versions_and_changes() {
    let o = Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args(["engines"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for want in [
        "vllm@0.10",
        "vllm@0.25 = vllm",
        "0.21.0–0.24.x",
        "0.25.0–0.27.x",
        "sglang@0.5.3 = sglang",
        "trtllm@0.19",
        "gpu_memory_utilization default 0.9 → 0.92",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    // An unknown version on the command line: exit 2 and the list.
    let o = Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args([
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--engine",
            "vllm@0.3",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("vllm@0.10") && e.contains("vllm@0.21"), "{e}");
}

#[test]
fn sampler_choice_sizes_the_vllm_warm_up() {
    // vllm/v1/sample/ops/topk_topp_sampler.py: with FlashInfer's kernel the
    // warm-up is the logits (vllm@0.10's arithmetic); the PyTorch path sorts
    // the vocabulary and peaks on its own at vllm@0.11's 9.7 fp32 copies of
    // max_num_seqs × vocabulary logits (FITTED, profiles/engines/vllm/0.11.yaml).
    // Qwen2.5-7B (vocab 152,064) on an A100: vllm serve's 256 sequences.
    let base = request("qwen2.5-7b", "A100-80GB", "vllm@0.10");
    let default = memory::plan(&scenario(&base));
    let mut torch = base.clone();
    torch.sampler = Some(kvplan::spec::engine::Sampler::Pytorch);
    let torch_plan = memory::plan(&scenario(&torch));
    let warm_up = (256.0f64 * 152_064.0 * 4.0 * 9.7).ceil() as u64;
    assert_eq!(torch_plan.binding_stage().activation_bytes, warm_up);
    assert!(default.binding_stage().activation_bytes < warm_up / 2);
    // The budget loses exactly the difference.
    assert_eq!(
        default.binding_stage().kv_budget_bytes - torch_plan.binding_stage().kv_budget_bytes,
        (warm_up - default.binding_stage().activation_bytes) as i128
    );
    // vllm@0.11 defaults to the PyTorch path (PR #26859); --sampler
    // flashinfer gives back vllm@0.10's warm-up.
    let mut fi = request("qwen2.5-7b", "A100-80GB", "vllm@0.11");
    assert_eq!(
        memory::plan(&scenario(&fi))
            .binding_stage()
            .activation_bytes,
        warm_up
    );
    fi.sampler = Some(kvplan::spec::engine::Sampler::Flashinfer);
    assert_eq!(
        memory::plan(&scenario(&fi))
            .binding_stage()
            .activation_bytes,
        default.binding_stage().activation_bytes
    );
    // Only vLLM has the switch.
    let mut sg = request("qwen2.5-7b", "A100-80GB", "sglang");
    sg.sampler = Some(kvplan::spec::engine::Sampler::Pytorch);
    let c = Catalog::builtin().unwrap();
    let e = resolve(&sg, &c, &|_| unreachable!()).unwrap_err();
    assert_eq!(e.field(), Some("sampler"), "{e}");
    assert!(e.to_string().contains("--engine vllm"), "{e}");
}

#[test]
fn sampler_flag_on_the_command_line() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kvplan"))
            .args(args)
            .output()
            .unwrap()
    };
    let ok = run(&[
        "estimate",
        "qwen2.5-7b",
        "--gpus",
        "A100-80GB",
        "--engine",
        "vllm@0.10",
        "--ctx",
        "16k",
        "--sampler",
        "pytorch",
        "--format",
        "json",
    ]);
    assert!(ok.status.code().is_some_and(|c| c == 0 || c == 1), "{ok:?}");
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(out.contains("PyTorch top-k/top-p path"), "{out}");
    let bad = run(&[
        "estimate",
        "qwen2.5-7b",
        "--gpus",
        "A100-80GB",
        "--sampler",
        "cuda",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--sampler") && err.contains("flashinfer"),
        "{err}"
    );
}

/// SGLang lowers its own memory fraction for a model with a vision tower
/// (`server_args.py` `adjust_mem_fraction_for_vlm`). The golden figures are
/// two logs of one SGLang 0.5.8.post1 ROCm image on 8 × MI355X at TP 8
/// (tests/fixtures/engine-logs/, SOURCES.md): GLM-5-FP8, text only, prints
/// `mem_fraction_static=0.908`; Kimi-K2.5, whose config's MoonViT tower has
/// 27 layers of width 1152, prints `mem_fraction_static=0.8260405859375`.
/// A launch that sets the fraction keeps it.
#[test]
fn sglang_lowers_its_fraction_for_a_vision_tower() {
    use kvplan::spec::engine::sglang_vlm_fraction_factor;
    use kvplan::spec::model::VisionTowerShape;
    let kimi_tower = VisionTowerShape {
        num_hidden_layers: 27,
        hidden_size: 1152,
    };
    assert!((0.908 * sglang_vlm_fraction_factor(kimi_tower) - 0.8260405859375).abs() < 1e-9);
    // A ViT-L/14-sized tower: the base 0.95; the clamp floors a huge one at 0.95 × 0.8.
    let vit_l = VisionTowerShape {
        num_hidden_layers: 24,
        hidden_size: 1024,
    };
    assert!((sglang_vlm_fraction_factor(vit_l) - 0.95).abs() < 1e-12);
    let huge = VisionTowerShape {
        num_hidden_layers: 64,
        hidden_size: 4096,
    };
    assert!((sglang_vlm_fraction_factor(huge) - 0.76).abs() < 1e-12);
    // End to end: the same tiered fraction for both models on 8 × MI355X at
    // TP 8, Kimi's lowered by the tower; an explicit fraction is kept.
    let mut glm = request("glm-5-fp8", "8xMI355X", "sglang@0.5.3");
    glm.tp = Some(8);
    let mut kimi = request("kimi-k2.5", "8xMI355X", "sglang@0.5.3");
    kimi.tp = Some(8);
    let f_glm = memory::plan(&scenario(&glm)).memory_fraction;
    let f_kimi = memory::plan(&scenario(&kimi)).memory_fraction;
    assert!((f_glm - 0.908).abs() < 1e-9, "{f_glm}");
    assert!((f_kimi - 0.8260405859375).abs() < 1e-9, "{f_kimi}");
    kimi.mem_fraction_static = Some(0.9);
    assert_eq!(memory::plan(&scenario(&kimi)).memory_fraction, 0.9);
}

#[test]
fn sglang_sizes_an_fp8_dsa_cache_smaller_than_it_stores() {
    // SGLang's cell size for an MLA model is (kv_lora_rank + qk_rope_head_dim)
    // × the KV dtype's bytes per layer, plus the DSA indexer's 128 + 128/128 × 4
    // = 132 B (model_runner.py profile_max_num_token; pool_configurator.py
    // _compute_cell_size later), while NSATokenToKVPool stores an fp8 latent
    // as 512 fp8 + 512/128 × 4 scale bytes + 64 bf16 rope values = 656 B
    // (mem_cache/memory_pool.py). GLM-5 (config.json: 78 layers, kv_lora_rank
    // 512, qk_rope_head_dim 64, index_head_dim 128, every layer with its own
    // indexer): sized 78 × (576 + 132) = 55,224 B/token, stored 78 × (656 + 132)
    // = 61,464 B/token. The two MI355X logs print 55,232 and 61,463 B/token.
    let s = scenario(&EstimateRequest {
        kv_dtype: Some(kvplan::spec::dtype::KvDtype::Fp8),
        ..request("glm-5-fp8", "8xH200", "sglang@0.5.3")
    });
    let plan = memory::plan(&s);
    let st = plan.binding_stage();
    assert_eq!(st.kv.bytes_per_token(), 61_464);
    let pool = st.kv_budget_bytes as u64;
    let own_budget = pool - st.kv_pool_over_budget_bytes;
    let tokens = plan.kv_cache_tokens / s.deployment.dp.max(1);
    assert_eq!(tokens, own_budget / 55_224, "tokens sized at 55,224 B");
    assert_eq!(pool, tokens * 61_464, "pool stored at 61,464 B");
    assert!(st.kv_pool_over_budget_bytes > 0);
    // A bf16 cache is sized as stored (576 × 2 B); so is DeepSeek-V3's fp8
    // latent (no indexer: MLATokenToKVPool stores 576 B).
    for (model, kv) in [
        ("glm-5-fp8", kvplan::spec::dtype::KvDtype::Bf16),
        ("deepseek-v3", kvplan::spec::dtype::KvDtype::Fp8),
    ] {
        let s = scenario(&EstimateRequest {
            kv_dtype: Some(kv),
            ..request(model, "8xH200", "sglang@0.5.3")
        });
        assert_eq!(
            memory::plan(&s).binding_stage().kv_pool_over_budget_bytes,
            0,
            "{model}"
        );
    }
    // vLLM sizes and stores fp8_ds_mla alike.
    let v = scenario(&EstimateRequest {
        kv_dtype: Some(kvplan::spec::dtype::KvDtype::Fp8),
        ..request("glm-5-fp8", "8xH200", "vllm")
    });
    assert_eq!(
        memory::plan(&v).binding_stage().kv_pool_over_budget_bytes,
        0
    );
}

#[test]
fn an_over_budget_pool_that_no_longer_fits_fails_the_verdict() {
    // GLM-5-FP8 on 8 × H200 (139.80 GiB each) with SGLang, fp8 KV: at
    // mem_fraction_static 0.95 the ~40 GiB budget becomes a pool 61,464/55,224
    // times larger (+4.5 GiB), which with ~92 GiB of weights, the activation
    // peak and the engine overhead exceeds the GPU; at 0.90 the reserve
    // absorbs it.
    let run = |f: f64| {
        let s = scenario(&EstimateRequest {
            kv_dtype: Some(kvplan::spec::dtype::KvDtype::Fp8),
            mem_fraction_static: Some(f),
            ..request("glm-5-fp8", "8xH200", "sglang@0.5.3")
        });
        memory::plan(&s)
    };
    let tight = run(0.95);
    assert!(!tight.fits);
    assert!(
        tight
            .verdict
            .iter()
            .any(|v| v.contains("overshoots its budget")),
        "{:?}",
        tight.verdict
    );
    let roomy = run(0.90);
    assert!(roomy.fits, "{:?}", roomy.verdict);
    assert!(roomy.binding_stage().kv_pool_over_budget_bytes > 0);
}
