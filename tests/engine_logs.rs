//! The engine-log fidelity set (issue 15): real start-up logs of vLLM,
//! SGLang and TensorRT-LLM deployments pasted in public issues, READMEs and
//! blog posts (tests/fixtures/engine-logs/*.yaml, each with its source URL;
//! tests/fixtures/engine-logs/SOURCES.md lists them). From the launch alone
//! (the record's `kvplan:` block, with the logged engine version's profile)
//! kvplan predicts the KV pool per GPU the engine sized ("Available KV cache
//! memory", SGLang's K + V size, TensorRT-LLM's allocated KV bytes), the KV
//! tokens and the maximum concurrency it logged.
//!
//! Tolerance (issue 15): KV capacity, KV tokens and maximum concurrency
//! within 5% for every record except the named outliers (each with its
//! reason, also tagged OUTLIER in the record's notes). Issue 15's set-wide
//! targets are a median |error| ≤ 2% and ≥ 90% of ≥ 30 records within 5%.
//! This 42-record set meets neither: its median is 2.94% and 30 of 42 are
//! within 5% (both asserted as regression guards, not accuracy claims).
//! Two vLLM logs print that FlashInfer is not installed; their requests say
//! `sampler: pytorch`, the start-up sampler path that those logs name.
//!
//! Nothing here is fitted to the records except what the profiles say is
//! FITTED (vllm@0.11's sampler warm-up copies, fitted on three of these
//! logs and checked on four others; the vLLM non-torch memory, the mean of
//! the figure six of these H100 logs print, checked on the A100 records). `cargo test --test engine_logs -- --nocapture`
//! prints the table the README's accuracy section carries.

use kvplan::memory;
use kvplan::request::{resolve, EstimateRequest};
use kvplan::spec::Catalog;
use serde::Deserialize;
use std::collections::BTreeMap;

const GIB: f64 = (1u64 << 30) as f64;

/// One record (format shared with tests/reconcile.rs; unknown keys allowed).
#[derive(Debug, Deserialize)]
struct Record {
    source_url: String,
    engine: String,
    version: String,
    model: String,
    gpu: String,
    gpu_count: u64,
    command: String,
    logged: BTreeMap<String, f64>,
    log: String,
    #[serde(default)]
    notes: String,
    /// The launch as a kvplan estimate request (the web API's field names).
    kvplan: serde_json::Value,
}

fn dir() -> String {
    format!("{}/tests/fixtures/engine-logs", env!("CARGO_MANIFEST_DIR"))
}

fn records() -> Vec<(String, Record)> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("tests/fixtures/engine-logs")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(format!("{}/{n}", dir())).unwrap();
            let r: Record =
                kvplan::yaml::from_str(&text, &n).unwrap_or_else(|e| panic!("{n}: {e}"));
            (n, r)
        })
        .collect()
}

/// What kvplan predicts for one record.
struct Prediction {
    /// KV pool per GPU, GiB.
    kv_gib: f64,
    /// KV tokens per engine instance, as the engine logs them.
    tokens: u64,
    /// Maximum concurrency at the record's maximum length, by the engine's
    /// rule (`memory::logged_max_concurrency`).
    concurrency: f64,
    /// Tokens kvplan's page arithmetic gets from the *logged* pool (full
    /// attention and MLA layouts only).
    tokens_from_logged_pool: Option<u64>,
    /// The profile used.
    engine_id: String,
}

fn predict(c: &Catalog, name: &str, r: &Record) -> Prediction {
    let req: EstimateRequest = serde_json::from_value(r.kvplan.clone())
        .unwrap_or_else(|e| panic!("{name}: kvplan block: {e}"));
    let res =
        resolve(&req, c, &kvplan::cli::load_model_path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let s = &res.scenario;
    let plan = memory::plan(s);
    let b = plan.binding_stage();
    let block = s.deployment.engine.block_size.max(1);
    let per_token = plan.kv_bytes_per_token_gpu;
    let all_full = b.kv.layers.iter().all(|l| {
        matches!(
            l,
            memory::kv::KvLayer::Full { .. } | memory::kv::KvLayer::Mla { .. }
        )
    });
    let tokens_from_logged_pool = r.logged.get("available_kv_gib").and_then(|g| {
        (all_full && per_token > 0).then(|| {
            let bytes = (g * GIB) as u64;
            bytes / (per_token * block) * block * s.deployment.dcp.max(1)
        })
    });
    let tokens = plan.kv_cache_tokens / s.deployment.dp.max(1);
    Prediction {
        kv_gib: b.kv_budget_bytes.max(0) as f64 / GIB,
        tokens,
        concurrency: memory::logged_max_concurrency(s, &plan, s.workload.context),
        tokens_from_logged_pool,
        engine_id: s.deployment.engine.id(),
    }
}

/// Records whose KV capacity kvplan misses by more than 5%, each with the
/// reason (also in the record's notes, tagged OUTLIER).
const OUTLIERS: &[(&str, &str)] = &[
    ("sglang-deepseek-r1-0528-nvfp4-4xb200", "SGLang 0.5.9 (flashinfer_trtllm MoE runner) logs 102.10 GB of weights per GPU at TP 4 where the checkpoint's tensors in ModelOpt's layout (attention and lm_head bf16, experts and dense MLPs NVFP4) come to 93.80 GiB and TensorRT-LLM logs 93.90 GiB for the same checkpoint; the extra 8.3 GiB (x 1.089, the ratio of its TP 8 log too: 52.16 vs 47.86, which stays within 5% on its larger pool) is not modelled, and the 48 GiB pool loses it"),
    ("trtllm-deepseek-r1-0528-nvfp4", "TensorRT-LLM 1.2/1.3 (PyTorch backend) holds 9.74 GiB (TP 4, EP 4) and 12.51 GiB (TP 8, EP 8) outside torch right after loading the weights (its own log line; NCCL, all-reduce and MoE all-to-all workspaces, kernel modules), where kvplan's trtllm profile assumes 1.75 GiB of context, non-torch, NCCL and CUDA graphs; the rule itself checks against the log, (178.35 total - 106.46 peak + 2.14 profiling pool) x 0.8 = 59.22 GiB logged 59.23, and two launches are too few to fit the term"),
    ("sglang-qwq-32b-l4", "SGLang's pool is 0.85 × the 21.63 GiB free at start − 15.54 GiB weights = 2.85 GiB; kvplan (L4 CUDA total 22.05 GiB from a vLLM log) subtracts 1.25 GiB of assumed context/non-torch/NCCL memory in full where SGLang scales the 0.42 GiB gone at start by 0.85, and its weights are 0.28 GiB low: 2.23 GiB on a 2.8 GiB pool"),
    ("trtllm-llama-3.1-8b", "TensorRT engine built for max_batch_size 2048: its activation and runtime buffers (31.84 − 17.83 GiB free = 14.0 GiB used, weights 8.5) are not in kvplan's activation estimate"),
    ("vllm-qwen3-235b-a22b-fp8-h100", "vLLM 0.9.2 (before kvplan's modelled range) with LMCache's KV connector: 4.8 GiB per GPU less pool than vllm@0.10's arithmetic; the issue's reply points at the profile order since vLLM PR #19312, not modelled"),
    ("vllm-mistral-small-3.2-24b-h100", "multimodal Mistral3: its logged peak activation (2.12 GiB) is 4.2 fp32 copies of the 1,024 × 131,072 sampler logits where vllm@0.11 assumes 9.7 (4.85 GiB, fitted on this page's text-only logs); the vision tower's weights (0.85 GiB) are missing the other way"),
    ("vllm-qwen3-vl-30b-a3b-4xrtx3090", "multimodal Qwen3-VL: vLLM's profile run also encodes one maximum-size video (the logged encoder-cache budget of 153,600 tokens) through the vision tower, a peak kvplan does not model (kvplan counts the tower's weights, split over TP 4: 14.49 GiB against the logged 14.77)"),
    ("vllm-gpt-oss-120b-h100", "the log's own terms do not add up: 71.26 − 64.38 weights − 7.38 peak − 0.13 non-torch GiB is −0.63 GiB, not its 3.33 GiB pool; kvplan matches the weights (64.18 GiB, −0.3%) and the peak (1%), so it predicts what those terms give, no pool"),
    ("vllm-qwen3-32b-2xrtx-pro-6000-pp2", "vLLM 0.27.1 at PP 2 (Model Runner V2, vllm@0.25): the pool is the first stage's, which runs no sampler warm-up; its 3.03 GiB of non-KV memory (40.47 budget − 30.52 weights − 6.92 KV) is 1.07 GiB more than kvplan's 1.96 GiB (the full-width forward of 8,192 tokens, 1.33 GiB, + 0.63 GiB non-torch and NCCL), while the TP 2 launch of the same post is within 2% with the same arithmetic; what a PP stage holds beyond its forward is not modelled (kvplan applies one activation peak to every stage) and is not fitted to this one record"),
];

fn rel(pred: f64, logged: f64) -> f64 {
    (pred - logged) / logged.abs()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn thousands(v: f64) -> String {
    if v.fract() != 0.0 || v < 1000.0 {
        return format!("{v}");
    }
    let s = format!("{}", v as u64);
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[test]
fn fixtures_are_complete_and_cite_public_sources() {
    let recs = records();
    let sources = std::fs::read_to_string(format!("{}/SOURCES.md", dir())).expect("SOURCES.md");
    for (n, r) in &recs {
        assert!(
            r.source_url.starts_with("https://"),
            "{n}: source_url must be a public URL"
        );
        assert!(
            sources.contains(n.as_str()) && sources.contains(r.source_url.as_str()),
            "{n}: not listed in SOURCES.md with its URL"
        );
        assert!(
            ["vllm", "sglang", "trtllm"].contains(&r.engine.as_str()),
            "{n}: engine {}",
            r.engine
        );
        assert!(
            !r.version.is_empty() && !r.model.is_empty() && !r.gpu.is_empty(),
            "{n}"
        );
        assert!(
            r.gpu_count >= 1 && !r.command.is_empty() && !r.log.is_empty(),
            "{n}"
        );
        assert!(
            r.logged.contains_key("available_kv_gib") || r.logged.contains_key("kv_cache_tokens"),
            "{n}: logs neither a KV pool nor KV tokens"
        );
        // Every logged figure appears in the quoted log lines (SGLang's pool
        // is K size + V size, TensorRT-LLM's free memory sits in its line).
        for (k, v) in &r.logged {
            if k == "total_gib" || k == "free_before_weights_gib" || k == "free_before_kv_gib" {
                continue;
            }
            let shown = [format!("{v}"), format!("{v:.2}"), thousands(*v)];
            let in_log = shown.iter().any(|s| r.log.contains(s.as_str()));
            let derived = k == "available_kv_gib" && r.engine == "sglang";
            assert!(
                in_log || derived,
                "{n}: logged {k} = {v} not in the quoted log"
            );
        }
    }
    // The set covers tensor parallelism and each engine.
    assert!(recs.iter().any(|(_, r)| r.gpu_count > 1));
    for e in ["vllm", "sglang", "trtllm"] {
        assert!(recs.iter().any(|(_, r)| r.engine == e), "{e}");
    }
}

#[test]
fn kv_capacity_matches_engine_logs() {
    let c = Catalog::builtin().unwrap();
    let recs = records();
    let mut errs = Vec::new();
    let mut rows = Vec::new();
    let mut outliers_seen = Vec::new();
    // Every mismatch, reported after the table is printed.
    let mut problems: Vec<String> = Vec::new();
    for (n, r) in &recs {
        let p = predict(&c, n, r);
        // KV capacity: the pool the engine logged (tokens where it logs no pool).
        let (err, logged_s, pred_s) = match r.logged.get("available_kv_gib") {
            Some(&g) => (
                rel(p.kv_gib, g),
                format!("{g:.2} GiB"),
                format!("{:.2} GiB", p.kv_gib),
            ),
            None => {
                let t = r.logged["kv_cache_tokens"];
                (
                    rel(p.tokens as f64, t),
                    format!("{} tok", thousands(t)),
                    format!("{} tok", thousands(p.tokens as f64)),
                )
            }
        };
        let tok = match r.logged.get("kv_cache_tokens") {
            Some(&t) => format!(
                "{} / {} ({:+.1}%)",
                thousands(t),
                thousands(p.tokens as f64),
                100.0 * rel(p.tokens as f64, t)
            ),
            None => "–".into(),
        };
        let conc = match r.logged.get("max_concurrency") {
            Some(&x) => format!(
                "{x:.2} / {:.2} ({:+.1}%)",
                p.concurrency,
                100.0 * rel(p.concurrency, x)
            ),
            None => "–".into(),
        };
        rows.push(format!(
            "| {} | {} {} ({}) | {} | {}×{} | {} | {} | {:+.1}% | {} | {} |",
            n.trim_end_matches(".yaml"),
            r.engine,
            r.version,
            p.engine_id,
            r.model,
            r.gpu_count,
            r.gpu,
            logged_s,
            pred_s,
            100.0 * err,
            tok,
            conc
        ));
        let named = OUTLIERS.iter().find(|(o, _)| n.starts_with(o));
        if err.abs() > 0.05 {
            if named.is_none() {
                problems.push(format!(
                    "{n}: KV capacity off by {:+.1}% ({} predicted {pred_s}, logged {logged_s}) and not a named outlier",
                    100.0 * err,
                    p.engine_id
                ));
            }
            if !r.notes.contains("OUTLIER") {
                problems.push(format!("{n}: outlier without a reason in its notes"));
            }
            outliers_seen.push(n.clone());
        } else {
            // Tokens and concurrency follow the pool: within 5% as well.
            if let Some(&t) = r.logged.get("kv_cache_tokens") {
                let e = rel(p.tokens as f64, t);
                if e.abs() > 0.05 {
                    problems.push(format!("{n}: {} tokens vs logged {t}", p.tokens));
                }
            }
            if let Some(&x) = r.logged.get("max_concurrency") {
                let e = rel(p.concurrency, x);
                if e.abs() > 0.05 {
                    problems.push(format!(
                        "{n}: concurrency {:.2} vs logged {x}",
                        p.concurrency
                    ));
                }
            }
        }
        errs.push(err.abs());
        // The page arithmetic alone: tokens from the logged pool, to the
        // log's rounding (pools print to 0.01 GiB); vLLM sizes every TP rank
        // from the smallest rank's pool, which a rank-0 line can hide (1.1%
        // in vllm-qwen3-235b, its notes).
        if let (Some(&t), Some(ft)) = (r.logged.get("kv_cache_tokens"), p.tokens_from_logged_pool) {
            let slack = 0.006 / r.logged["available_kv_gib"]
                + 0.002
                + if r.gpu_count > 1 { 0.012 } else { 0.0 };
            if rel(ft as f64, t).abs() > slack {
                problems.push(format!(
                    "{n}: tokens from the logged pool {ft} vs logged {t}"
                ));
            }
            // Concurrency is tokens ÷ the length in whole blocks, exactly.
            if let Some(&x) = r.logged.get("max_concurrency") {
                let len = r.kvplan["max_model_len"].as_f64().unwrap();
                let per = (len / 16.0).ceil() * 16.0;
                if (t / per - x).abs() >= 0.006 {
                    problems.push(format!("{n}: {t} / {per} vs {x}"));
                }
            }
        }
    }
    println!("| record | engine (kvplan profile) | model | GPUs | logged KV | kvplan | error | KV tokens logged / kvplan | max concurrency logged / kvplan |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    let n = errs.len();
    let within = errs.iter().filter(|e| **e <= 0.05).count();
    let med = median(&mut errs.clone());
    println!(
        "\n{n} records: median |error| {:.2}%, {within}/{n} within 5%; outliers: {outliers_seen:?}",
        100.0 * med
    );
    for (o, why) in OUTLIERS {
        println!("  {o}: {why}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(n >= 42, "the fidelity set has {n} records");
    // REGRESSION GUARD on the median: 2.94% on 42 records today. Issue 15's
    // target is at most 2%; the set met it at 27 records (1.88%), was at
    // 2.29% on 35 (once SGLang's over-budget DSA pool was modelled) and is at
    // 2.94% since the seven TensorRT-LLM 1.x / SGLang 0.5.9 logs of
    // DeepSeek-R1-NVFP4 on B200 and Qwen3 on H100 (five of them outliers).
    assert!(
        med <= 0.0300,
        "median |error| {:.2}% is past the 2.94% of the 42-record set (issue 15's target: 2%)",
        100.0 * med
    );
    // REGRESSION GUARD on the share within 5%: 30 of 42 today; issue 15 asks
    // for 90% of ≥ 30 records, which this set does not reach.
    assert!(within >= 30, "{within}/{n} within 5%");
    for (o, _) in OUTLIERS {
        assert!(
            outliers_seen.iter().any(|s| s.starts_with(o)),
            "{o} is listed as an outlier but kvplan now predicts it within 5%: remove it"
        );
    }
}

/// Records whose weights kvplan misses by more than 2%, each with the reason.
const WEIGHT_OUTLIERS: &[(&str, &str)] = &[
    ("sglang-deepseek-r1-0528-nvfp4", "SGLang 0.5.9 with the flashinfer_trtllm MoE runner logs 1.089 x the checkpoint's tensors at TP 4 and TP 8 (102.10 and 52.16 GB against 93.80 and 47.86 GiB in ModelOpt's layout), while TensorRT-LLM logs the same checkpoint at 93.90 GiB (TP 4); SGLang's 'mem usage' is the drop in free memory over the load, and what the runner keeps beside the weights is not modelled"),
    ("trtllm-deepseek-r1-0528-nvfp4-8xb200-tp8", "TensorRT-LLM 1.2.0rc6.post2 at TP 8 / EP 8 logs 49.13 GiB inside torch after loading against kvplan's 47.86 (-2.6%), while its 1.3.0rc10 TP 4 / EP 4 launches match to 0.1% (93.90 against 93.80): 1.27 GiB at TP 8 not explained"),
    ("vllm-gemma-4-26b-a4b-a100", "multimodal checkpoint (Gemma4ForConditionalGeneration): kvplan's spec is the text model, without the vision tower (47.00 GiB against 48.5)"),
    ("sglang-kimi-k2.5-8xmi355x", "multimodal checkpoint (KimiK25ForConditionalGeneration): kvplan's spec is the language model, without the MoonViT tower and projector (about 0.9 GiB in bf16 on every rank, from the config's 27 × 1152 tower); the other ~1.8 GiB of SGLang's ROCm 'mem usage' over the load (73.58 GiB against 70.95) is not explained"),
    ("sglang-glm-5-fp8-8xmi355x", "kvplan's GLM-5-FP8 weights are 91.88 GiB per rank at TP 8 against SGLang's logged 89.58 and 89.20 GiB for the same checkpoint in two images (+2.6%, +3.0%); SGLang's figure is the drop in free memory over the load, and the gap is not explained"),
];

/// The weights per GPU kvplan allocates match the engine's "Model loading
/// took" / "mem usage" line within 2% (the logged figure is the source, read
/// from each record), except the named outliers. Checks the weight shapes
/// behind the pool independently of the activation and overhead terms: the
/// MXFP4 expert padding of `profiles/engines/vllm.yaml` puts gpt-oss within
/// 0.6% on Marlin (A100; 15.23 and 12.82 GiB unpadded: −12% and −7%) and
/// on Hopper's Triton layout (H100; 60.77 and 12.82 unpadded: −6% and −5%).
#[test]
fn weights_match_the_logged_model_loading_line() {
    let c = Catalog::builtin().unwrap();
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    for (n, r) in records() {
        let Some(&logged) = r.logged.get("weights_gib") else {
            continue;
        };
        let req: EstimateRequest = serde_json::from_value(r.kvplan.clone()).unwrap();
        let res = resolve(&req, &c, &kvplan::cli::load_model_path).unwrap();
        let plan = memory::plan(&res.scenario);
        let w = plan.binding_stage().weights_bytes as f64 / GIB;
        let e = rel(w, logged);
        rows.push(format!("{n}: {w:.2} vs {logged} GiB ({:+.1}%)", 100.0 * e));
        let named = WEIGHT_OUTLIERS.iter().any(|(o, _)| n.starts_with(o));
        if e.abs() > 0.02 && !named {
            problems.push(format!(
                "{n}: weights {w:.2} GiB vs logged {logged} ({:+.1}%)",
                100.0 * e
            ));
        }
        if e.abs() <= 0.02 && named {
            problems.push(format!(
                "{n}: a named weight outlier now within 2% ({:+.1}%): remove it",
                100.0 * e
            ));
        }
    }
    println!("{}", rows.join("\n"));
    assert!(rows.len() >= 18, "{} records log their weights", rows.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
