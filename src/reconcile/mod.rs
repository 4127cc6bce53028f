//! `kvplan reconcile`: read what an engine logged at start-up (and what a
//! benchmark measured), rebuild the same deployment in kvplan, and put each
//! term side by side — predicted, logged, error, and the likeliest reason
//! for the gap. A deployment profile (`--out`) carries the measured terms
//! into later estimates of the same deployment. Pure: text and catalogue in,
//! data out; the CLI reads the files.

pub mod bench;
pub mod log;
pub mod profile;

use crate::error::{Error, Result};
use crate::estimate::{estimate, Estimate};
use crate::perf::Efficiency;
use crate::request::{resolve, EstimateRequest, Tokens};
use crate::scenario::Scenario;
use crate::spec::model::ModelSpec;
use crate::spec::Catalog;
use bench::BenchResult;
use log::EngineLog;
use serde::Serialize;

/// GiB terms agree when within this fraction of the logged value…
pub const TOLERANCE_FRACTION: f64 = 0.05;
/// …or within this many GiB (small pools: a fixed error is a large fraction).
pub const TOLERANCE_GIB: f64 = 0.25;

const GIB: f64 = (1u64 << 30) as f64;

/// What the log does not say, given on the command line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// Model (a built-in name, path or `hf:` id) instead of the log's.
    pub model: Option<String>,
    /// GPUs (`H100`, `8xH100`); the count may come from the log's parallelism.
    pub gpus: Option<String>,
    /// Engine profile (`vllm`, `vllm@0.11`) instead of the log's engine and version.
    pub engine: Option<String>,
    /// Launch settings the log does not print (or that should replace what
    /// it prints): any field given here wins over the log.
    pub request: Option<EstimateRequest>,
}

/// One term, predicted against logged or measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Term {
    /// What it is (`available_kv_gib`, `kv_cache_tokens`, `tpot_ms`, …).
    pub quantity: String,
    /// Unit of both numbers.
    pub unit: String,
    /// kvplan's figure.
    pub predicted: f64,
    /// The log's or benchmark's figure.
    pub logged: f64,
    /// (predicted − logged) / logged, percent.
    pub error_percent: f64,
    /// Within the tolerance (`TOLERANCE_*`; benchmark terms are not judged).
    pub within_tolerance: Option<bool>,
    /// The likeliest reason for the gap.
    pub reason: String,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reconciliation {
    /// Engine, version and model as the log gives them.
    pub engine: String,
    /// Engine version from the log.
    pub engine_version: Option<String>,
    /// Engine profile kvplan used.
    pub engine_profile: String,
    /// Model as launched.
    pub model_launched: Option<String>,
    /// The deployment kvplan rebuilt, as an estimate request (same fields as the API).
    pub request: EstimateRequest,
    /// Start-up terms.
    pub terms: Vec<Term>,
    /// Benchmark terms (with `--bench`).
    pub bench: Vec<Term>,
    /// Whether every judged start-up term is within tolerance.
    pub all_within_tolerance: bool,
    /// How the deployment was rebuilt and what was assumed.
    pub notes: Vec<String>,
}

fn parse_u64(v: Option<&String>) -> Option<u64> {
    v.and_then(|x| x.trim().parse::<f64>().ok())
        .filter(|x| x.is_finite() && *x >= 0.0)
        .map(|x| x as u64)
}

fn parse_f64(v: Option<&String>) -> Option<f64> {
    v.and_then(|x| x.trim().parse::<f64>().ok())
        .filter(|x| x.is_finite())
}

fn parse_bool(v: Option<&String>) -> bool {
    v.is_some_and(|x| x.eq_ignore_ascii_case("true"))
}

/// The built-in model a launched id refers to: by Hugging Face repository,
/// else by the last path segment as a name or alias.
pub fn catalog_model_for(catalog: &Catalog, launched: &str) -> Option<String> {
    let id = launched.trim().trim_end_matches('/');
    let by_repo = catalog.models.iter().find(|m| {
        m.hf_repo.as_deref().is_some_and(|r| {
            r.eq_ignore_ascii_case(id)
                || id
                    .to_ascii_lowercase()
                    .ends_with(&format!("/{}", r.to_ascii_lowercase()))
        })
    });
    if let Some(m) = by_repo {
        return Some(m.name.clone());
    }
    let last = id.rsplit('/').next().unwrap_or(id).to_ascii_lowercase();
    let last = last.trim_end_matches("-instruct").to_string();
    catalog.model(&last).ok().map(|m| m.name.clone())
}

/// The engine profile for a log: `engine@major.minor` when the catalogue
/// has that version, else the engine's default profile.
fn engine_profile(catalog: &Catalog, engine: &str, version: Option<&str>) -> String {
    if let Some(v) = version {
        let mm: Vec<&str> = v.trim_start_matches('v').split('.').take(2).collect();
        if mm.len() == 2 {
            let name = format!("{engine}@{}.{}", mm[0], mm[1]);
            if catalog.engine(&name).is_ok() {
                return name;
            }
        }
    }
    engine.to_string()
}

/// Rebuild the launch of a logged deployment as an estimate request.
pub fn request_from_log(
    l: &EngineLog,
    o: &Overrides,
    catalog: &Catalog,
) -> Result<(EstimateRequest, Vec<String>)> {
    let st = &l.settings;
    let mut notes = Vec::new();
    let get = |k: &str| st.get(k).filter(|v| !v.eq_ignore_ascii_case("none"));
    let launched = get("model")
        .or_else(|| get("model_path"))
        .or_else(|| get("served_model_name"))
        .cloned()
        .or_else(|| l.model.clone());
    let user_model = o.model.clone().or(o
        .request
        .as_ref()
        .map(|r| r.model.clone())
        .filter(|m| !m.is_empty()));
    let model = match (&user_model, &launched) {
        (Some(m), _) => m.clone(),
        (None, Some(id)) => catalog_model_for(catalog, id).ok_or_else(|| {
            Error::input(
                "model",
                format!("the log launched '{id}', which is not a built-in model; pass --model NAME (a built-in with the same architecture), a config.json path, or hf:{id}"),
            )
        })?,
        (None, None) => {
            return Err(Error::input(
                "model",
                "the log does not name the model; pass --model NAME",
            ))
        }
    };
    // Parallelism in kvplan's terms.
    let mut kv = get("kv_cache_dtype").cloned();
    let (tp, pp, dp, ep, mut ctx, fraction, chunk, block) = match l.engine.as_str() {
        "vllm" => {
            let tp = parse_u64(get("tensor_parallel_size")).unwrap_or(1);
            let dp = parse_u64(get("data_parallel_size")).unwrap_or(1);
            let ep = if parse_bool(get("enable_expert_parallel")) {
                tp * dp
            } else {
                1
            };
            (
                tp,
                parse_u64(get("pipeline_parallel_size")).unwrap_or(1),
                dp,
                ep,
                parse_u64(get("max_model_len")).or(parse_u64(get("max_seq_len"))),
                parse_f64(get("gpu_memory_utilization")),
                parse_u64(get("max_num_batched_tokens")),
                parse_u64(get("block_size")),
            )
        }
        "sglang" => {
            let world = parse_u64(get("tp_size")).unwrap_or(1);
            let dp = parse_u64(get("dp_size")).unwrap_or(1).max(1);
            let dpa = parse_bool(get("enable_dp_attention"));
            let tp = if dpa && dp > 1 { world / dp } else { world };
            let ep = parse_u64(get("ep_size")).unwrap_or(1).max(1);
            if dpa && ep == 1 && dp > 1 {
                notes.push("SGLang DP attention without EP splits the experts by TP over all ranks; kvplan models the replicas as holding all experts (expert memory is overstated)".into());
            }
            (
                tp,
                parse_u64(get("pp_size")).unwrap_or(1),
                dp,
                ep,
                parse_u64(get("context_len")).or(parse_u64(get("context_length"))),
                parse_f64(get("mem_fraction_static")),
                parse_u64(get("chunked_prefill_size")),
                parse_u64(get("page_size")),
            )
        }
        _ => {
            if kv.is_none() {
                kv = get("dtype").cloned().filter(|d| d.contains("fp8"));
            }
            (
                parse_u64(get("tp_size")).unwrap_or(1),
                parse_u64(get("pp_size")).unwrap_or(1),
                1,
                1,
                parse_u64(get("max_seq_len")),
                parse_f64(get("free_gpu_memory_fraction")),
                parse_u64(get("max_num_tokens")),
                l.figures.block_size,
            )
        }
    };
    if ctx.is_none() {
        ctx = l.figures.max_concurrency_len;
    }
    let r0 = o.request.clone().unwrap_or_default();
    let (tp, pp, dp) = (
        r0.tp.unwrap_or(tp),
        r0.pp.unwrap_or(pp),
        r0.dp.unwrap_or(dp),
    );
    let ep = r0.ep.unwrap_or(ep);
    let n = tp * pp * dp;
    // Without parallelism in the log or from the user, kvplan's defaults
    // (TP over the GPUs given) apply.
    let par_known =
        r0.tp.is_some() || st.contains_key("tensor_parallel_size") || st.contains_key("tp_size");
    let user_gpus = o.gpus.clone().or(o
        .request
        .as_ref()
        .map(|r| r.gpus.clone())
        .filter(|g| !g.is_empty()));
    let gpus = match &user_gpus {
        None => {
            return Err(Error::input(
                "gpus",
                format!(
                    "the log does not name the GPUs; pass --gpus GPU (e.g. --gpus H100; the log's parallelism gives {n} of them)"
                ),
            ))
        }
        Some(g) => {
            let c = crate::units::parse_cluster(g)?;
            let given = c.nodes * c.gpus_per_node;
            if !par_known {
                g.clone()
            } else if given == 1 && n > 1 {
                notes.push(format!("{n} × {} from the log's parallelism (TP {tp} × PP {pp} × DP {dp})", c.gpu_name));
                format!("{n}x{}", c.gpu_name)
            } else if given != n {
                return Err(Error::input(
                    "gpus",
                    format!("--gpus {g} gives {given} GPUs but the log's parallelism (TP {tp} × PP {pp} × DP {dp}) uses {n}; pass --gpus {}", c.gpu_name),
                ));
            } else {
                g.clone()
            }
        }
    };
    let engine = o
        .engine
        .clone()
        .or(o
            .request
            .as_ref()
            .and_then(|r| r.engine.as_ref().map(|e| e.to_string())))
        .unwrap_or_else(|| engine_profile(catalog, &l.engine, l.version.as_deref()));
    let kv_dtype = kv.and_then(|k| {
        let k = k.to_ascii_lowercase();
        if k.contains("fp8") {
            Some("fp8".to_string())
        } else if k == "bfloat16" || k == "bf16" {
            Some("bf16".into())
        } else {
            None
        }
    });
    let (gmu, mfs) = match l.engine.as_str() {
        "sglang" => (None, fraction),
        _ => (fraction, None),
    };
    let weights = match get("quantization").map(|q| q.to_ascii_lowercase()) {
        Some(q) if q == "fp8" => {
            let m = catalog.model(&model).ok();
            if m.is_some_and(|m| m.checkpoint_format.is_none()) {
                Some("fp8".to_string())
            } else {
                None
            }
        }
        _ => None,
    };
    if ctx.is_none()
        && o.request
            .as_ref()
            .is_none_or(|r| r.ctx.is_none() && r.max_model_len.is_none())
    {
        notes.push("the log does not give the maximum length; kvplan plans for the model's maximum (give --ctx)".into());
    }
    let from_user = r0.ctx.is_some() || r0.max_model_len.is_some();
    let req = EstimateRequest {
        model,
        gpus,
        ctx: if from_user {
            r0.ctx.clone()
        } else {
            ctx.map(Tokens::Number)
        },
        max_model_len: r0.max_model_len.clone(),
        batch: Some(1),
        weights: r0.weights.or(weights
            .as_deref()
            .and_then(|w| crate::spec::dtype::WeightFormat::parse(w, "weights").ok())),
        kv_dtype: r0.kv_dtype.or(kv_dtype
            .as_deref()
            .and_then(|k| crate::spec::dtype::KvDtype::parse(k, "kv-dtype").ok())),
        engine: Some(crate::spec::engine_id::EngineId::parse(&engine)?),
        tp: par_known.then_some(tp),
        pp: par_known.then_some(pp),
        ep: par_known.then_some(ep),
        dp: par_known.then_some(dp),
        gpu_memory_utilization: if r0.mem_fraction_static.is_some() {
            None
        } else {
            r0.gpu_memory_utilization.or(gmu)
        },
        mem_fraction_static: if r0.gpu_memory_utilization.is_some() {
            None
        } else {
            r0.mem_fraction_static.or(mfs)
        },
        max_num_batched_tokens: r0.max_num_batched_tokens.or(chunk),
        block_size: r0.block_size.or(block.filter(|b| *b > 0)),
        mtp: r0.mtp,
        mtp_acceptance: r0.mtp_acceptance,
        mtp_draft_tokens: r0.mtp_draft_tokens,
        attention: r0.attention,
        dcp: r0
            .dcp
            .or(parse_u64(get("decode_context_parallel_size")).filter(|d| *d > 1)),
        kv_cache_memory: r0
            .kv_cache_memory
            .clone()
            .or(parse_u64(get("kv_cache_memory_bytes"))
                .or(parse_u64(get("kv_cache_memory")))
                .map(Tokens::Number)),
        max_num_seqs: r0.max_num_seqs.or(parse_u64(get("max_num_seqs"))),
        sampler: r0.sampler.or(get("sampler")
            .and_then(|t| crate::spec::engine::Sampler::parse(t).ok())
            .filter(|_| engine.starts_with("vllm"))),
        // SGLang's printed server_args carry `scheduler_recv_interval`.
        scheduler_recv_interval: r0
            .scheduler_recv_interval
            .or(parse_u64(get("scheduler_recv_interval"))
                .filter(|n| *n > 1 && engine.starts_with("sglang"))),
    };
    Ok((req, notes))
}

fn term(q: &str, unit: &str, predicted: f64, logged: f64, judged: bool, reason: String) -> Term {
    let err = if logged != 0.0 {
        (predicted - logged) / logged * 100.0
    } else {
        0.0
    };
    let within = judged.then(|| {
        let d = (predicted - logged).abs();
        if unit == "GiB" {
            d <= TOLERANCE_FRACTION * logged.abs() || d <= TOLERANCE_GIB
        } else {
            d <= TOLERANCE_FRACTION * logged.abs()
        }
    });
    Term {
        quantity: q.into(),
        unit: unit.into(),
        predicted,
        logged,
        error_percent: err,
        within_tolerance: within,
        reason,
    }
}

fn signed(x: f64) -> String {
    format!("{x:+.2}")
}

/// Reconcile: rebuild `l`'s deployment (`load_model` resolves paths and
/// `hf:` ids; the edge supplies it), estimate it, compare term by term.
pub fn reconcile(
    l: &EngineLog,
    b: Option<&BenchResult>,
    o: &Overrides,
    catalog: &Catalog,
    load_model: &dyn Fn(&str) -> Result<ModelSpec>,
    eff: &Efficiency,
) -> Result<(Reconciliation, Estimate)> {
    let (req, mut notes) = request_from_log(l, o, catalog)?;
    let r = resolve(&req, catalog, load_model)?;
    notes.extend(r.notes.iter().cloned());
    let mut s = r.scenario.clone();
    if let Some(seqs) = parse_u64(l.settings.get("max_num_seqs"))
        .or(parse_u64(l.settings.get("max_running_requests")))
    {
        s.deployment.engine.max_num_seqs = seqs.max(1);
    }
    let est = estimate(&s, eff, r.tokens_per_step)?;
    let terms = startup_terms(l, &s, &est);
    let bench = match b {
        Some(b) => bench_terms(b, &s, eff, r.tokens_per_step)?,
        None => Vec::new(),
    };
    let all = terms.iter().all(|t| t.within_tolerance != Some(false));
    Ok((
        Reconciliation {
            engine: l.engine.clone(),
            engine_version: l.version.clone(),
            engine_profile: format!(
                "{} {}",
                s.deployment.engine.name, s.deployment.engine.version
            ),
            model_launched: l
                .settings
                .get("model")
                .or(l.settings.get("model_path"))
                .cloned(),
            request: req,
            terms,
            bench,
            all_within_tolerance: all,
            notes,
        },
        est,
    ))
}

/// The start-up terms: each figure the log gave, against kvplan's.
pub fn startup_terms(l: &EngineLog, s: &Scenario, est: &Estimate) -> Vec<Term> {
    let f = &l.figures;
    let e = &s.deployment.engine;
    let d = &s.deployment;
    let mem = &est.memory;
    let b = mem.binding_stage();
    let fr = mem.memory_fraction;
    let g = |x: u64| x as f64 / GIB;
    let mut out = Vec::new();
    let cap = g(mem.capacity_bytes);
    let w = g(b.weights_bytes);
    let a = g(b.activation_bytes);
    let graphs = g(e.cuda_graph_bytes);
    let nccl = g(crate::memory::overhead_bytes(s))
        - g(e.cuda_context_bytes)
        - g(e.non_torch_bytes)
        - graphs;
    let nt = g(e.non_torch_bytes) + nccl.max(0.0);
    let kv = b.kv_budget_bytes.max(0) as f64 / GIB;
    // (effect on the logged KV pool relative to kvplan's, GiB; which term)
    let mut contributions: Vec<(f64, String)> = Vec::new();
    if let Some(t) = f.total_gib {
        let reason = if (cap - t).abs() < 0.01 {
            "as kvplan's GPU spec".to_string()
        } else {
            contributions.push((
                fr * (t - cap),
                format!("GPU size ({fr:.2} × {} GiB)", signed(t - cap)),
            ));
            format!(
                "CUDA shows {t:.2} GiB of the {cap:.2} GiB kvplan's {} spec holds (driver, ECC and firmware reserve the rest); the budget is the fraction of what CUDA shows",
                s.cluster.gpu.name
            )
        };
        out.push(term("total_gib", "GiB", cap, t, true, reason));
    }
    if let Some(x) = f.weights_gib {
        let dw = w - x;
        let reason = if dw.abs() <= 0.01 * x.max(1.0) {
            format!(
                "kvplan's tensor-by-tensor count of the {} weights",
                d.weights.name()
            )
        } else {
            contributions.push((dw, "weights".into()));
            if dw < 0.0 {
                format!("the loaded checkpoint holds {:.2} GiB per GPU more than kvplan counts for {} weights (unquantized or replicated layers, padded vocabulary, or a draft/MTP module)", -dw, d.weights.name())
            } else {
                format!("the loaded checkpoint holds {dw:.2} GiB per GPU less than kvplan counts for {} weights (a more compressed checkpoint, or layers kvplan places on this GPU that the engine does not)", d.weights.name())
            }
        };
        out.push(term("weights_gib", "GiB", w, x, true, reason));
    }
    if let Some(x) = f.peak_activation_gib {
        let da = a - x;
        let reason = format!(
            "activation peak {:.2} GiB {} kvplan's estimate: the profile run prefilled {} tokens (max_num_batched_tokens) with {} sampler rows (max_num_seqs); kvplan counts one layer's widest temporaries plus the logits",
            da.abs(),
            if da < 0.0 { "above" } else { "below" },
            e.max_num_batched_tokens,
            e.max_num_seqs
        );
        if da.abs() > 0.01 {
            contributions.push((da, "activation peak".into()));
        }
        out.push(term("peak_activation_gib", "GiB", a, x, true, reason));
    }
    if let Some(x) = f.non_torch_gib {
        let dn = nt - x;
        if dn.abs() > 0.01 {
            contributions.push((dn, "non-torch memory".into()));
        }
        out.push(term(
            "non_torch_gib",
            "GiB",
            nt,
            x,
            true,
            format!("kvplan assumes {:.2} GiB of library workspaces plus {:.2} GiB of NCCL buffers with TP/PP/EP/DP > 1 (an assumption, not measured)", g(e.non_torch_bytes), nccl.max(0.0)),
        ));
    }
    if let Some(x) = f.cuda_graph_gib {
        out.push(term(
            "cuda_graph_gib",
            "GiB",
            graphs,
            x,
            false,
            format!("kvplan assumes {graphs:.2} GiB of CUDA graphs (captured after the KV pool is sized in this engine profile, so not part of the KV budget); the log measured {x:.2} GiB"),
        ));
    }
    if let Some(x) = f.available_kv_gib {
        let dk = kv - x;
        let big: Vec<String> = contributions
            .iter()
            .filter(|(c, _)| c.abs() > 0.25)
            .map(|(c, what)| format!("{} GiB {what}", signed(*c)))
            .collect();
        let reason = if dk.abs() <= 0.01 * x.max(1.0) && !big.is_empty() {
            format!(
                "matches to {} GiB, but by compensation: the terms above disagree ({}) and cancel",
                signed(-dk),
                big.join("; ")
            )
        } else if dk.abs() <= 0.01 * x.max(1.0) {
            "the engine's budget arithmetic with the terms above".to_string()
        } else if contributions.is_empty() {
            format!("{} GiB: the log does not break down the non-KV memory; kvplan's weights + activations + overhead per GPU = {:.2} GiB", signed(-dk), w + a + g(b.overhead_bytes))
        } else {
            let explained: f64 = contributions.iter().map(|(x, _)| x).sum();
            let mut parts: Vec<String> = contributions
                .iter()
                .map(|(x, what)| format!("{} GiB {what}", signed(*x)))
                .collect();
            parts.push(format!(
                "{} GiB unexplained (the terms the log does not print: CUDA context, allocator slack, graphs where the engine reserves them)",
                signed(-dk - explained)
            ));
            format!(
                "logged − kvplan = {} GiB: {}",
                signed(-dk),
                parts.join("; ")
            )
        };
        out.push(term("available_kv_gib", "GiB", kv, x, true, reason));
    }
    let tokens = mem.kv_cache_tokens / d.dp.max(1);
    let logged_tokens = f.kv_cache_tokens.or(f
        .gpu_blocks
        .map(|n| n * f.block_size.unwrap_or(e.block_size)));
    if let Some(t) = logged_tokens {
        let per_pred = mem.kv_bytes_per_token_gpu as f64;
        let reason = match f.available_kv_gib {
            Some(x) if t > 0 => {
                let per_log = x * GIB / t as f64;
                if (per_log - per_pred).abs() / per_pred > 0.02 {
                    format!("the log's pool ÷ tokens is {per_log:.0} B per token per GPU, kvplan's layout {per_pred:.0} B: a different KV layout (page padding, hybrid or sliding layers, a draft model's cache, or a per-rank DP split)")
                } else {
                    format!(
                        "follows the KV pool: {per_pred:.0} B per token per GPU, in blocks of {}",
                        e.block_size
                    )
                }
            }
            _ => format!(
                "kvplan's pool ÷ {per_pred:.0} B per token per GPU, in blocks of {}",
                e.block_size
            ),
        };
        out.push(term(
            "kv_cache_tokens",
            "tokens",
            tokens as f64,
            t as f64,
            true,
            reason,
        ));
    }
    if let Some(c) = f.max_concurrency {
        let len = f.max_concurrency_len.unwrap_or(s.workload.context);
        let per = len.div_ceil(e.block_size) * e.block_size;
        let simple = tokens as f64 / per as f64;
        let pred = crate::memory::logged_max_concurrency(s, mem, len);
        let reason = if (pred - simple).abs() > 1e-9 {
            format!(
                "the pool ÷ the blocks one {len}-token request may hold in every layer (sliding-window layers: the window plus one {}-token prefill chunk, vLLM's SlidingWindowSpec)",
                e.max_num_batched_tokens
            )
        } else {
            format!(
                "KV tokens ÷ {per} tokens ({len} rounded up to whole blocks of {})",
                e.block_size
            )
        };
        out.push(term("max_concurrency", "requests", pred, c, true, reason));
    }
    out
}

/// The benchmark terms at the measured concurrency and lengths.
pub fn bench_terms(
    b: &BenchResult,
    s: &Scenario,
    eff: &Efficiency,
    tokens_per_step: f64,
) -> Result<Vec<Term>> {
    let c = b.concurrency.unwrap_or(1).max(1);
    let isl = b.input_len.unwrap_or(1024.0).max(1.0);
    let osl = b.output_len.unwrap_or(128.0).max(1.0);
    let mut x = s.clone();
    x.workload.batch = c;
    // Decode reads, on average, the prompt plus half the output.
    x.workload.context = (isl + osl / 2.0).ceil() as u64;
    let dec = estimate(&x, eff, tokens_per_step)?;
    let tpot_pred = dec.performance.decode.seconds / dec.performance.tokens_per_step * 1e3;
    let mut y = s.clone();
    y.workload.batch = c;
    y.workload.context = isl.ceil() as u64;
    let pre = estimate(&y, eff, tokens_per_step)?;
    let ttft_pred = (pre.performance.prefill_seconds
        + pre.performance.decode.seconds
        + s.deployment.engine.ttft_overhead_seconds)
        * 1e3;
    let mut out = Vec::new();
    if let Some(t) = b.tpot_ms.or(b.itl_ms) {
        let gap = tpot_pred - t;
        out.push(term(
            "tpot_ms",
            "ms",
            tpot_pred,
            t,
            false,
            if gap < 0.0 {
                format!("measured {:.2} ms per token slower than kvplan's decode step at batch {c}: fixed per-step cost (scheduling, sampling, graph gaps) and the other requests' prefills interleaved into the decode steps, which kvplan's TPOT does not include", -gap)
            } else {
                format!("kvplan's step is {gap:.2} ms slower than measured at batch {c}: its fixed per-step cost or bandwidth efficiency is set too high for this deployment")
            },
        ));
    }
    if let Some(t) = b.ttft_ms {
        out.push(term(
            "ttft_ms",
            "ms",
            ttft_pred,
            t,
            false,
            format!("kvplan's TTFT is one {isl:.0}-token prefill plus one decode step; the measured TTFT adds queueing behind {c} concurrent requests, tokenisation and the server's overhead ({:+.1} ms here)", t - ttft_pred),
        ));
    }
    if let Some(t) = b.output_throughput {
        let pred = c as f64 / (tpot_pred / 1e3);
        out.push(term(
            "output_tokens_per_s",
            "tokens/s",
            pred,
            t,
            false,
            format!("{c} sequences ÷ kvplan's time per token; the measured figure also pays each request's TTFT"),
        ));
    }
    Ok(out)
}

impl Reconciliation {
    /// The comparison as a text table.
    pub fn to_text(&self) -> String {
        let mut t = comfy_table::Table::new();
        t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
        t.set_header(vec![
            "term",
            "kvplan",
            "logged",
            "error",
            "ok",
            "likeliest reason",
        ]);
        let row = |t: &mut comfy_table::Table, x: &Term| {
            let fmt = |v: f64| {
                if x.unit == "tokens" {
                    crate::units::thousands(v.round() as u64)
                } else {
                    format!("{v:.2}")
                }
            };
            t.add_row(vec![
                format!("{} ({})", x.quantity, x.unit),
                fmt(x.predicted),
                fmt(x.logged),
                format!("{:+.1}%", x.error_percent),
                match x.within_tolerance {
                    Some(true) => "✓".into(),
                    Some(false) => "✗".into(),
                    None => String::new(),
                },
                x.reason.clone(),
            ]);
        };
        for x in self.terms.iter().chain(self.bench.iter()) {
            row(&mut t, x);
        }
        let mut o = format!(
            "{} {} log, {} ({}); kvplan profile {}\n",
            self.engine,
            self.engine_version
                .as_deref()
                .unwrap_or("(version not logged)"),
            self.request.model,
            self.request.gpus,
            self.engine_profile
        );
        o.push_str(&format!(
            "rebuilt as: kvplan estimate {} --gpus {} --engine {}{}{}{}{}\n",
            self.request.model,
            self.request.gpus,
            self.request
                .engine
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "vllm".into()),
            [
                ("tp", self.request.tp),
                ("pp", self.request.pp),
                ("dp", self.request.dp),
                ("ep", self.request.ep)
            ]
            .iter()
            .filter_map(|(k, v)| v.map(|v| format!(" --{k} {v}")))
            .collect::<String>(),
            match &self.request.ctx {
                Some(Tokens::Number(n)) => format!(" --ctx {n}"),
                Some(Tokens::Text(t)) => format!(" --ctx {t}"),
                None => String::new(),
            },
            self.request
                .kv_dtype
                .as_ref()
                .map(|k| format!(" --kv-dtype {k}"))
                .unwrap_or_default(),
            self.request
                .gpu_memory_utilization
                .or(self.request.mem_fraction_static)
                .map(|f| format!(
                    " --{} {f}",
                    if self.request.mem_fraction_static.is_some() {
                        "mem-fraction-static"
                    } else {
                        "gpu-memory-utilization"
                    }
                ))
                .unwrap_or_default()
        ));
        o.push_str(&format!("{t}\n"));
        o.push_str(&format!(
            "tolerance: ±{:.0}% (GiB terms also ±{} GiB); {}\n",
            TOLERANCE_FRACTION * 100.0,
            TOLERANCE_GIB,
            if self.all_within_tolerance {
                "every logged start-up figure is within it"
            } else {
                "✗ marks the figures outside it"
            }
        ));
        for n in &self.notes {
            o.push_str(&format!("note: {n}\n"));
        }
        o
    }
}
