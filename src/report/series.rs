//! The data behind `kvplan plot`: pure functions from a Scenario to chart
//! figures (titles, axes, series of (x, y) points, guide lines). No drawing
//! and no I/O here, so the numbers can be unit-tested and reused by other
//! renderers (the web page) without plotters.

use super::chart::{Axis, Figure, Guide, Panel, Series, Style};
use crate::memory::{self, kv};
use crate::perf::{decode_step_at, Efficiency};
use crate::scenario::Scenario;
use crate::serving::{simulate, Arrival, Percentiles, ServingResult, ServingWorkload};
use crate::spec::dtype::{KvDtype, WeightFormat};
use crate::spec::engine::EngineSpec;
use crate::spec::model::{LayerType, ModelSpec};
use crate::spec::whatif::AttentionVariant;
use crate::units;

/// Bytes in a GiB (2^30): the unit engines and nvidia-smi print.
const GIB: f64 = 1_073_741_824.0;

/// Points sampled along a context axis.
const CONTEXT_POINTS: u64 = 64;

/// `n` + 1 contexts evenly spaced from 1 to `max` (the memory and KV curves
/// are piecewise linear in context, so a linear grid shows them exactly).
pub fn linear_contexts(max: u64, n: u64) -> Vec<u64> {
    let max = max.max(1);
    let n = n.max(1);
    let mut v: Vec<u64> = (0..=n).map(|i| (max * i / n).max(1)).collect();
    v.dedup();
    v
}

/// About `n` contexts spaced geometrically from `min` to `max`, both included.
pub fn geometric_contexts(min: u64, max: u64, n: u64) -> Vec<u64> {
    let (lo, hi) = (min.max(1).min(max.max(1)), max.max(1));
    let n = n.max(1);
    let ratio = (hi as f64 / lo as f64).powf(1.0 / n as f64);
    let mut v: Vec<u64> = (0..=n)
        .map(|i| ((lo as f64) * ratio.powi(i as i32)).round() as u64)
        .map(|c| c.clamp(lo, hi))
        .collect();
    v.push(hi);
    v.sort_unstable();
    v.dedup();
    v
}

/// "Llama-3.1-70B on 2 × H100 · weights bf16 · KV bf16 · TP2 · vllm".
pub fn scenario_title(s: &Scenario) -> String {
    let d = &s.deployment;
    let mut par = format!("TP{}", d.tp);
    for (name, v) in [("PP", d.pp), ("EP", d.ep), ("DP", d.dp)] {
        if v > 1 {
            par.push_str(&format!(" {name}{v}"));
        }
    }
    format!(
        "{} on {} × {} · weights {} · KV {} · {} · {}",
        s.model.display_name,
        s.cluster.total_gpus(),
        s.cluster.gpu.name,
        d.weights.name(),
        d.kv_dtype.name(),
        par,
        d.engine.name
    )
}

/// Memory per GPU (binding stage) at one context.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryPoint {
    /// Tokens per sequence.
    pub context: u64,
    /// Weight shard, bytes.
    pub weights: u64,
    /// KV cache of the workload's batch at this context, bytes.
    pub kv_cache: u64,
    /// Activation peak, bytes.
    pub activations: u64,
    /// CUDA context, non-torch, NCCL, CUDA graphs, bytes.
    pub overhead: u64,
    /// Whether the workload fits at this context.
    pub fits: bool,
}

impl MemoryPoint {
    /// Sum of the four components.
    pub fn total(&self) -> u64 {
        self.weights + self.kv_cache + self.activations + self.overhead
    }
}

/// Memory per GPU at each context, batch as in the scenario.
pub fn memory_points(s: &Scenario, contexts: &[u64]) -> Vec<MemoryPoint> {
    memory_plans(s, contexts)
        .iter()
        .map(|(c, p)| {
            let b = p.binding_stage();
            MemoryPoint {
                context: *c,
                weights: b.weights_bytes,
                kv_cache: b.kv_cache_bytes,
                activations: b.activation_bytes,
                overhead: b.overhead_bytes,
                fits: p.fits,
            }
        })
        .collect()
}

/// The whole memory plan at each context, batch as in the scenario: what
/// the memory chart draws and `ops::sweep` (the web page's chart) reports.
pub fn memory_plans(s: &Scenario, contexts: &[u64]) -> Vec<(u64, memory::MemoryPlan)> {
    contexts
        .iter()
        .map(|&c| {
            let mut sc = s.clone();
            sc.workload.context = c;
            (c, memory::plan(&sc))
        })
        .collect()
}

/// `memory`: per-GPU memory stacked by component against context, with the
/// GPU's capacity, the engine's budget and where the workload stops fitting.
pub fn memory_figure(s: &Scenario) -> Figure {
    let max_ctx = s.workload.context;
    let pts = memory_points(s, &linear_contexts(max_ctx, CONTEXT_POINTS));
    let plan = memory::plan(s);
    let gib = |b: u64| b as f64 / GIB;
    let x = |p: &MemoryPoint| p.context as f64;
    // Stack bottom to top: the fixed parts first, the growing KV cache on top.
    type Part = fn(&MemoryPoint) -> u64;
    let layers: [(&str, Part); 4] = [
        ("weights", |p| p.weights),
        ("activations (prefill peak)", |p| p.activations),
        ("overhead (CUDA context, NCCL, graphs)", |p| p.overhead),
        ("KV cache", |p| p.kv_cache),
    ];
    let mut base: Vec<(f64, f64)> = pts.iter().map(|p| (x(p), 0.0)).collect();
    let mut series = Vec::new();
    for (name, part) in layers {
        let top: Vec<(f64, f64)> = pts
            .iter()
            .zip(&base)
            .map(|(p, b)| (b.0, b.1 + gib(part(p))))
            .collect();
        let at_max = pts.last().map(|p| gib(part(p))).unwrap_or(0.0);
        series.push(Series {
            name: format!(
                "{name}: {at_max:.2} GiB at {} tokens",
                units::thousands(max_ctx)
            ),
            points: top.clone(),
            style: Style::Band { base: base.clone() },
        });
        base = top;
    }
    let mut guides = vec![
        Guide::horizontal(
            format!("GPU memory {}", units::gib(plan.capacity_bytes)),
            gib(plan.capacity_bytes),
        ),
        Guide::horizontal(
            format!(
                "engine budget {} ({:.0}%)",
                units::gib(plan.budget_bytes),
                plan.memory_fraction * 100.0
            ),
            gib(plan.budget_bytes),
        ),
    ];
    if s.model.max_context < max_ctx {
        guides.push(Guide::vertical(
            format!(
                "{}'s maximum context {} tokens",
                s.model.display_name,
                units::thousands(s.model.max_context)
            ),
            s.model.max_context as f64,
        ));
    }
    let batch = s.workload.batch;
    let b = plan.binding_stage();
    let fit_note = if plan.max_context_memory == 0 && b.kv_budget_bytes <= 0 {
        format!(
            "does not fit at any context: weights, activations and overhead alone take {} per GPU, over the engine budget of {}",
            units::gib(b.weights_bytes + b.activation_bytes + b.overhead_bytes),
            units::gib(plan.budget_bytes)
        )
    } else if plan.max_context_memory == 0 {
        format!("batch {batch} does not fit at any context")
    } else if plan.max_context_memory >= max_ctx {
        format!(
            "batch {batch} fits across the plotted range (memory limit {} tokens)",
            units::thousands(plan.max_context_memory)
        )
    } else {
        guides.push(Guide::vertical(
            format!(
                "stops fitting at {} tokens",
                units::thousands(plan.max_context_memory)
            ),
            plan.max_context_memory as f64,
        ));
        format!(
            "batch {batch} stops fitting at {} tokens per sequence",
            units::thousands(plan.max_context_memory)
        )
    };
    Figure {
        title: scenario_title(s),
        subtitle: format!(
            "memory per GPU (stage {}) against context · {fit_note}",
            plan.binding
        ),
        panels: vec![Panel {
            x: Axis::linear("context length (tokens per sequence)"),
            y: Axis::linear("memory per GPU (GiB)"),
            series,
            guides,
        }],
    }
}

/// One attention shape's KV cost.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionCase {
    /// Legend label ("MHA 128/128").
    pub label: String,
    /// The what-if, or None for the model as given.
    pub variant: Option<AttentionVariant>,
    /// The transformed model.
    pub model: ModelSpec,
    /// KV bytes per token, whole model, all layers, one sequence.
    pub bytes_per_token: u64,
    /// KV bytes each further token adds once sliding windows are full (the
    /// long-context slope; equals `bytes_per_token` without sliding layers).
    pub growing_bytes_per_token: u64,
}

/// KV layout of the whole model on one GPU (no TP split), exact tokens
/// (no block rounding): the per-sequence view the charts draw.
fn whole_model_layout(m: &ModelSpec, e: &EngineSpec, dtype: KvDtype) -> kv::KvLayout {
    kv::KvLayout::build(m, e, dtype, 1, 0..m.num_layers).with_policy(1, e.sliding_window_capped)
}

/// GQA group counts worth comparing for `heads` query heads: powers of two
/// that divide it, strictly between MQA and MHA, nearest to 8 first (the
/// common choice: Llama-3, Qwen2.5), at most three, ascending.
pub fn gqa_choices(heads: u64) -> Vec<u64> {
    let mut c: Vec<u64> = (1..=12)
        .map(|p| 1u64 << p)
        .filter(|g| *g < heads && heads % g == 0)
        .collect();
    c.sort_by_key(|g| (g.max(&8) / g.min(&8), *g));
    c.truncate(3);
    c.sort_unstable();
    c
}

/// The model as it is plus MHA, a few GQA group counts, MQA and MLA, with
/// their KV bytes per token, largest first. Variants whose shape equals the
/// model's own are left out.
pub fn attention_cases(m: &ModelSpec, e: &EngineSpec, dtype: KvDtype) -> Vec<AttentionCase> {
    let a = &m.attention;
    let mut variants = vec![AttentionVariant::Mha];
    variants.extend(
        gqa_choices(a.num_heads)
            .into_iter()
            .map(AttentionVariant::Gqa),
    );
    variants.push(AttentionVariant::Mqa);
    let rank = a.mla.as_ref().map(|x| x.kv_lora_rank).unwrap_or(512);
    variants.push(AttentionVariant::Mla(rank));
    let case = |label: String, variant: Option<AttentionVariant>, model: ModelSpec| {
        let layout = whole_model_layout(&model, e, dtype);
        AttentionCase {
            label,
            variant,
            bytes_per_token: layout.bytes_per_token(),
            growing_bytes_per_token: layout.growing_bytes_per_token(),
            model,
        }
    };
    // Linear / Mamba layers keep their state under every what-if; only
    // sliding layers turn full under kvplan's MLA.
    let sliding = m.layer_pattern.contains(&LayerType::Sliding);
    let mut cases = vec![case(
        format!("{} as is: {}", m.display_name, m.attention_label()),
        None,
        m.clone(),
    )];
    for v in variants {
        let Ok(t) = v.apply(m) else { continue };
        if t.attention == m.attention {
            continue;
        }
        // kvplan's MLA caches every layer in full (no sliding MLA layers).
        let label = match (&t.attention.mla, sliding) {
            (Some(_), true) => format!("{}, every layer full", t.attention_label()),
            _ => t.attention_label(),
        };
        cases.push(case(label, Some(v), t));
    }
    cases.sort_by_key(|c| std::cmp::Reverse(c.bytes_per_token));
    cases
}

/// `attention`: KV bytes per sequence against context for the model as it is
/// and as MHA / GQA / MQA / MLA what-ifs (the comparison behind DeepSeek's MLA).
pub fn attention_figure(s: &Scenario) -> Figure {
    let m = &s.model;
    let d = &s.deployment;
    let e = &d.engine;
    // Log-log: every kind is a straight line and the vertical gaps are the ratios.
    let contexts = geometric_contexts(1024.min(s.workload.context), s.workload.context, 32);
    let series = attention_cases(m, e, d.kv_dtype)
        .into_iter()
        .map(|c| {
            let layout = whole_model_layout(&c.model, e, d.kv_dtype);
            let points = contexts
                .iter()
                .map(|&ctx| {
                    let b = layout.sequence_bytes(ctx);
                    (ctx as f64, b as f64 / GIB)
                })
                .collect();
            let kib = |b: u64| b as f64 / 1024.0;
            let slope = if c.growing_bytes_per_token != c.bytes_per_token {
                format!(" ({:.1} past the windows)", kib(c.growing_bytes_per_token))
            } else {
                String::new()
            };
            Series {
                name: format!(
                    "{}: {:.1} KiB/token{slope}",
                    c.label,
                    kib(c.bytes_per_token)
                ),
                points,
                style: if c.variant.is_none() {
                    Style::Thick
                } else {
                    Style::Line
                },
            }
        })
        .collect();
    let mla_note = match e.mla_cache {
        crate::spec::engine::MlaCache::Latent => "MLA caches the latent",
        crate::spec::engine::MlaCache::Decompressed => {
            "this engine decompresses MLA to per-head K/V"
        }
    };
    Figure {
        title: format!(
            "{}: KV cache per sequence by attention kind",
            s.model.display_name
        ),
        subtitle: format!(
            "whole model ({} layers), one sequence, KV {}, {} ({mla_note}); what-ifs via --attention mha|gqa:N|mqa|mla:RANK",
            m.num_layers,
            d.kv_dtype.name(),
            e.name
        ),
        panels: vec![Panel {
            x: Axis::log("context length (tokens per sequence, log)"),
            y: Axis::log("KV cache per sequence (GiB, log)"),
            series,
            guides: vec![],
        }],
    }
}

/// The fp8 weight format for this model: its own block-scaled checkpoint
/// format when it has one, else per-tensor fp8.
fn fp8_for(m: &ModelSpec) -> WeightFormat {
    if m.checkpoint_format == Some(WeightFormat::Fp8Block) {
        WeightFormat::Fp8Block
    } else {
        WeightFormat::Fp8
    }
}

/// Largest batch at each context for one weights/KV combination.
pub fn max_batch_points(
    s: &Scenario,
    weights: WeightFormat,
    kv_dtype: KvDtype,
    contexts: &[u64],
) -> Vec<(u64, u64)> {
    let mut sc = s.clone();
    sc.deployment.weights = weights;
    sc.deployment.kv_dtype = kv_dtype;
    contexts
        .iter()
        .map(|&c| {
            sc.workload.context = c;
            (c, memory::plan(&sc).max_batch)
        })
        .collect()
}

/// `batch`: the largest batch against context for bf16/fp8/int4 weights ×
/// bf16/fp8 KV (combinations the GPU does not support are skipped and named).
pub fn batch_figure(s: &Scenario) -> Figure {
    let max_ctx = s.workload.context;
    let contexts = geometric_contexts(1024.min(max_ctx), max_ctx, 32);
    let gpu = &s.cluster.gpu;
    let mut series = Vec::new();
    let mut skipped = Vec::new();
    for w in [WeightFormat::Bf16, fp8_for(&s.model), WeightFormat::Int4] {
        for k in [KvDtype::Bf16, KvDtype::Fp8] {
            let label = format!("weights {} · KV {}", w.name(), k.name());
            if !gpu.supports_weights(w) || !gpu.supports_kv(k) {
                skipped.push(label);
                continue;
            }
            let pts = max_batch_points(s, w, k, &contexts);
            let points: Vec<(f64, f64)> = pts
                .iter()
                .filter(|(_, b)| *b > 0)
                .map(|&(c, b)| (c as f64, b as f64))
                .collect();
            let note = match pts.iter().rev().find(|(_, b)| *b > 0) {
                None => "does not fit".to_string(),
                Some(&(c, b)) if c == max_ctx => format!("{b} at {}", units::thousands(c)),
                Some(&(c, _)) => format!("none beyond {} tokens", units::thousands(c)),
            };
            series.push(Series {
                name: format!("{label}: {note}"),
                points,
                style: Style::Line,
            });
        }
    }
    let mut subtitle = format!(
        "largest batch (concurrent sequences, whole deployment) whose KV cache fits the engine's pool, per context; {} memory fraction {:.2}",
        s.deployment.engine.name,
        s.deployment.engine.default_fraction(s.deployment.tp)
    );
    if !skipped.is_empty() {
        subtitle.push_str(&format!(
            " · skipped ({} has no fp8): {}",
            gpu.name,
            skipped.join("; ")
        ));
    }
    Figure {
        title: format!(
            "{} on {} × {}: max batch by weights and KV format · TP{} · {}",
            s.model.display_name,
            s.cluster.total_gpus(),
            gpu.name,
            s.deployment.tp,
            s.deployment.engine.name
        ),
        subtitle,
        panels: vec![Panel {
            x: Axis::log("context length (tokens per sequence, log)"),
            y: Axis::log("max batch (sequences, log)"),
            series,
            guides: vec![],
        }],
    }
}

/// Decode speed at one batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedPoint {
    /// Concurrent sequences, whole deployment.
    pub batch: u64,
    /// Output tokens per second, whole deployment.
    pub tokens_per_second: f64,
    /// Time per output token, seconds.
    pub tpot_seconds: f64,
    /// Memory term of the step (weights + KV streamed), seconds.
    pub memory_seconds: f64,
    /// Compute term of the step, seconds.
    pub compute_seconds: f64,
}

/// Decode speed at each whole-deployment batch, at the scenario's context.
pub fn speed_points(
    s: &Scenario,
    eff: &Efficiency,
    tokens_per_step: f64,
    batches: &[u64],
) -> Vec<SpeedPoint> {
    let mem = memory::plan(s);
    let dp = s.deployment.dp.max(1);
    batches
        .iter()
        .map(|&b| {
            let step = decode_step_at(s, &mem, eff, b.div_ceil(dp), s.workload.context);
            SpeedPoint {
                batch: b,
                tokens_per_second: b as f64 * tokens_per_step / step.seconds,
                tpot_seconds: step.seconds / tokens_per_step,
                memory_seconds: step.memory_seconds,
                compute_seconds: step.compute_seconds,
            }
        })
        .collect()
}

/// Smallest whole-deployment batch at which a decode step's compute term
/// reaches its memory term (memory-bound → compute-bound), searched up to
/// `limit`; None when decode stays memory-bound (long contexts, where KV
/// reads grow with the batch as fast as the FLOPs do).
pub fn compute_bound_crossover(s: &Scenario, eff: &Efficiency, limit: u64) -> Option<u64> {
    let mem = memory::plan(s);
    let dp = s.deployment.dp.max(1);
    let compute_bound = |local: u64| {
        let st = decode_step_at(s, &mem, eff, local, s.workload.context);
        st.compute_seconds >= st.memory_seconds
    };
    let max_local = limit.div_ceil(dp).max(1);
    // Double until compute-bound, then bisect (the ratio grows with batch).
    let mut hi = 1u64;
    while !compute_bound(hi) {
        if hi >= max_local {
            return None;
        }
        hi = (hi * 2).min(max_local);
    }
    let mut lo = hi / 2;
    if lo == 0 {
        return Some(dp);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if compute_bound(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi * dp)
}

/// `throughput`: tokens/s and time per output token against batch, with the
/// memory and compute terms of the step and the batch where decode turns
/// compute-bound.
pub fn throughput_figure(s: &Scenario, eff: &Efficiency, tokens_per_step: f64) -> Figure {
    const SEARCH_LIMIT: u64 = 1 << 20;
    let plan = memory::plan(s);
    let crossover = compute_bound_crossover(s, eff, SEARCH_LIMIT);
    let dp = s.deployment.dp.max(1);
    let top = [crossover.unwrap_or(0) * 4, plan.max_batch, 256 * dp]
        .into_iter()
        .max()
        .unwrap_or(256)
        .clamp(dp, SEARCH_LIMIT);
    let mut batches: Vec<u64> = std::iter::successors(Some(dp), |b| Some(b * 2))
        .take_while(|b| *b <= top)
        .collect();
    batches.extend([crossover, Some(plan.max_batch)].into_iter().flatten());
    batches.retain(|b| *b >= 1 && *b <= top);
    batches.sort_unstable();
    batches.dedup();
    let pts = speed_points(s, eff, tokens_per_step, &batches);
    let xy = |f: fn(&SpeedPoint) -> f64| -> Vec<(f64, f64)> {
        pts.iter().map(|p| (p.batch as f64, f(p))).collect()
    };
    let mut guides = Vec::new();
    if let Some(c) = crossover {
        guides.push(Guide::vertical(
            format!("memory-bound → compute-bound at batch {c}"),
            c as f64,
        ));
    }
    if plan.max_batch > 0 {
        guides.push(Guide::vertical(
            format!(
                "memory limit: batch {} at {} tokens",
                plan.max_batch,
                units::thousands(s.workload.context)
            ),
            plan.max_batch as f64,
        ));
    }
    let crossover_note = match crossover {
        Some(c) => format!("decode turns compute-bound at batch {c}"),
        None => format!(
            "decode stays memory-bound up to batch {} (KV reads grow with batch)",
            units::thousands(SEARCH_LIMIT)
        ),
    };
    let fit_note = if plan.max_batch == 0 {
        " · does not fit at this context (speeds are what the GPUs would do if it did)".to_string()
    } else {
        String::new()
    };
    Figure {
        title: scenario_title(s),
        subtitle: format!(
            "decode at {} tokens of context against batch · {crossover_note}{fit_note}",
            units::thousands(s.workload.context)
        ),
        panels: vec![
            Panel {
                x: Axis::log("batch (concurrent sequences, log)"),
                y: Axis::log("decode throughput (tok/s, all sequences)"),
                series: vec![Series {
                    name: "output tokens/s (whole deployment)".into(),
                    points: xy(|p| p.tokens_per_second),
                    style: Style::Thick,
                }],
                guides: guides.clone(),
            },
            Panel {
                x: Axis::log("batch (concurrent sequences, log)"),
                y: Axis::log("time per output token (ms)"),
                series: vec![
                    Series {
                        name: "time per output token".into(),
                        points: xy(|p| p.tpot_seconds * 1e3),
                        style: Style::Thick,
                    },
                    Series {
                        name: "memory term (weights + KV read)".into(),
                        points: xy(|p| p.memory_seconds * 1e3),
                        style: Style::Dashed,
                    },
                    Series {
                        name: "compute term (FLOPs)".into(),
                        points: xy(|p| p.compute_seconds * 1e3),
                        style: Style::Dashed,
                    },
                ],
                guides,
            },
        ],
    }
}

// ---- serving (`kvplan plot serving`, the web page's serving chart) ----
// Latency against concurrency, and the Pareto picture operators use
// (tokens/s per GPU against tokens/s per user), from the serving simulator.

/// Concurrencies swept: powers of two from the DP degree up to `max`.
pub fn concurrency_sweep(dp: u64, max: u64) -> Vec<u64> {
    let mut v: Vec<u64> = std::iter::successors(Some(dp.max(1)), |c| Some(c * 2))
        .take_while(|c| *c <= max.max(dp))
        .collect();
    if v.last() != Some(&max) && max > dp {
        v.push(max);
    }
    v
}

/// Simulate `w` (closed loop) at each concurrency of the sweep.
pub fn serving_sweep(
    s: &Scenario,
    eff: &Efficiency,
    w: &ServingWorkload,
    concurrencies: &[u64],
) -> crate::error::Result<Vec<(u64, ServingResult)>> {
    let mem = memory::plan(s);
    concurrencies
        .iter()
        .map(|&c| {
            let mut wk = w.clone();
            wk.arrival = Arrival::Concurrency(c);
            simulate(s, &mem, eff, &wk).map(|r| (c, r))
        })
        .collect()
}

/// The chart of a sweep; `percentile` is the statistic drawn beside the median.
pub fn serving_figure(
    s: &Scenario,
    w: &ServingWorkload,
    points: &[(u64, ServingResult)],
    percentile: &str,
) -> Figure {
    let xy = |f: &dyn Fn(&ServingResult) -> f64| -> Vec<(f64, f64)> {
        points.iter().map(|(c, r)| (*c as f64, f(r))).collect()
    };
    let pct = if percentile == "p50" {
        "p90"
    } else {
        percentile
    };
    let at = |p: &Percentiles| p.at(pct).unwrap_or(p.p90);
    let best = points
        .iter()
        .max_by(|a, b| {
            a.1.output_tokens_per_second_per_gpu
                .total_cmp(&b.1.output_tokens_per_second_per_gpu)
        })
        .map(|(c, r)| {
            format!(
                "peak {:.0} tok/s per GPU at concurrency {c}",
                r.output_tokens_per_second_per_gpu
            )
        })
        .unwrap_or_default();
    Figure {
        title: scenario_title(s),
        subtitle: format!(
            "simulated serving, {} prompt + {} output tokens per request, closed loop · {best}",
            w.isl, w.osl
        ),
        panels: vec![
            Panel {
                x: Axis::log("concurrency (clients over the deployment, log)"),
                y: Axis::log("latency (ms, log)"),
                series: vec![
                    Series {
                        name: "TTFT p50".into(),
                        points: xy(&|r| r.ttft_ms.p50),
                        style: Style::Thick,
                    },
                    Series {
                        name: format!("TTFT {pct}"),
                        points: xy(&|r| at(&r.ttft_ms)),
                        style: Style::Dashed,
                    },
                    Series {
                        name: "TPOT p50".into(),
                        points: xy(&|r| r.tpot_ms.p50),
                        style: Style::Thick,
                    },
                    Series {
                        name: format!("TPOT {pct}"),
                        points: xy(&|r| at(&r.tpot_ms)),
                        style: Style::Dashed,
                    },
                ],
                guides: vec![],
            },
            Panel {
                x: Axis::linear("output tokens/s per user (1000 / mean TPOT)"),
                y: Axis::linear("output tokens/s per GPU"),
                series: vec![Series {
                    name: "concurrency sweep (right: fewer users)".into(),
                    points: {
                        let mut v: Vec<(f64, f64)> = points
                            .iter()
                            .map(|(_, r)| {
                                (
                                    r.output_tokens_per_second_per_user,
                                    r.output_tokens_per_second_per_gpu,
                                )
                            })
                            .collect();
                        v.sort_by(|a, b| a.0.total_cmp(&b.0));
                        v
                    },
                    style: Style::Thick,
                }],
                guides: vec![],
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{resolve, EstimateRequest, Tokens};
    use crate::spec::Catalog;

    fn scenario(model: &str, gpus: &str, ctx: &str) -> Scenario {
        let c = Catalog::builtin().unwrap();
        let req = EstimateRequest {
            model: model.into(),
            gpus: gpus.into(),
            ctx: Some(Tokens::Text(ctx.into())),
            ..Default::default()
        };
        resolve(&req, &c, &|_| unreachable!()).unwrap().scenario
    }

    #[test]
    fn context_grids() {
        let l = linear_contexts(1000, 4);
        assert_eq!(l, vec![1, 250, 500, 750, 1000]);
        let g = geometric_contexts(1024, 131_072, 7);
        assert_eq!(g.first(), Some(&1024));
        assert_eq!(g.last(), Some(&131_072));
        assert!(g.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            g,
            vec![1024, 2048, 4096, 8192, 16384, 32768, 65536, 131_072]
        );
    }

    #[test]
    fn memory_grows_with_context() {
        let s = scenario("llama-3.1-70b", "2xH100", "128k");
        let pts = memory_points(&s, &linear_contexts(131_072, 32));
        assert!(pts.windows(2).all(|w| w[0].total() <= w[1].total()));
        assert!(pts.windows(2).all(|w| w[0].kv_cache <= w[1].kv_cache));
        // Weights do not depend on context.
        assert!(pts.iter().all(|p| p.weights == pts[0].weights));
        // Fit is monotone: once it stops fitting it never fits again.
        let first_miss = pts.iter().position(|p| !p.fits).unwrap_or(pts.len());
        assert!(pts[first_miss..].iter().all(|p| !p.fits));
        // The figure's stacked top equals the total at each point.
        let f = memory_figure(&s);
        let top = f.panels[0].series.last().unwrap();
        assert_eq!(top.points.len(), 65);
    }

    #[test]
    fn memory_marker_where_it_stops_fitting() {
        // The line is the GPU memory CUDA shows (an H100's 79.18 GiB, its
        // spec's cuda_visible_bytes from a vLLM log).
        // Llama-3.1-70B bf16 on 2×H100, batch 1: weights 65.7 GiB per GPU
        // leave a few GiB of KV; 163,840 B/token per GPU (80 layers × 8/2 KV
        // heads × 128 × 2 (K,V) × 2 B) → some thousands of tokens, far below 128k.
        let s = scenario("llama-3.1-70b", "2xH100", "128k");
        let f = memory_figure(&s);
        let g = &f.panels[0].guides;
        let v: Vec<_> = g.iter().filter(|g| g.vertical).collect();
        assert_eq!(v.len(), 1, "{g:?}");
        let plan = memory::plan(&s);
        assert_eq!(v[0].value, plan.max_context_memory as f64);
        assert!(v[0].value > 1000.0 && v[0].value < 131_072.0);
        assert!(g
            .iter()
            .any(|g| g.label.starts_with("GPU memory 79.18 GiB")));
    }

    #[test]
    fn deepseek_v3_attention_kinds() {
        // DeepSeek-V2 paper (arXiv 2405.04434) Table 1, DeepSeek-V3 dims
        // (config.json: 128 heads, v_head_dim 128, kv_lora_rank 512,
        // qk_rope_head_dim 64, 61 layers), bf16 = 2 bytes:
        //   MHA: 2 · n_h · d_h · l · 2 B = 2·128·128·61·2 = 3,997,696 B/token
        //   GQA 8 groups: 2·8·128·61·2 = 249,856
        //   MQA: 2·1·128·61·2 = 31,232
        //   MLA: (d_c + d_h^R) · l · 2 B = (512 + 64)·61·2 = 70,272
        let s = scenario("deepseek-v3", "8xH800", "32k");
        let cases = attention_cases(&s.model, &s.deployment.engine, KvDtype::Bf16);
        let by = |v: Option<AttentionVariant>| {
            cases
                .iter()
                .find(|c| c.variant == v)
                .map(|c| c.bytes_per_token)
                .unwrap()
        };
        let mla_own = by(None);
        assert_eq!(mla_own, 70_272);
        assert_eq!(by(Some(AttentionVariant::Mha)), 3_997_696);
        assert_eq!(by(Some(AttentionVariant::Gqa(8))), 249_856);
        assert_eq!(by(Some(AttentionVariant::Mqa)), 31_232);
        assert!(mla_own < by(Some(AttentionVariant::Gqa(4))));
        assert!(by(Some(AttentionVariant::Gqa(4))) < by(Some(AttentionVariant::Mha)));
        // The paper: MLA's cache equals GQA with 2.25 groups.
        assert_eq!(mla_own * 4, by(Some(AttentionVariant::Mqa)) * 9);
        // The model's own MLA is not repeated as a what-if.
        assert!(!cases
            .iter()
            .any(|c| c.variant == Some(AttentionVariant::Mla(512))));
        assert_eq!(gqa_choices(128), vec![4, 8, 16]);
        assert_eq!(gqa_choices(64), vec![4, 8, 16]);
        assert_eq!(gqa_choices(14), vec![2]);
    }

    #[test]
    fn sliding_models_show_their_long_context_slope() {
        // Gemma-3-27B: 62 layers, 5 local (1024-token window) : 1 global, 16 KV
        // heads × 128 (config.json) → 2·16·128·2 B = 8,192 B per layer per token;
        // past the windows only the 10 global layers (62 = 10 × 6 + 2 local) grow.
        let s = scenario("gemma-3-27b", "8xH100", "32k");
        let cases = attention_cases(&s.model, &s.deployment.engine, KvDtype::Bf16);
        let own = cases.iter().find(|c| c.variant.is_none()).unwrap();
        assert_eq!(own.bytes_per_token, 62 * 8192);
        assert_eq!(own.growing_bytes_per_token, 10 * 8192);
        let mla = cases
            .iter()
            .find(|c| matches!(c.variant, Some(AttentionVariant::Mla(_))))
            .unwrap();
        assert!(mla.label.ends_with("every layer full"), "{}", mla.label);
    }

    #[test]
    fn attention_series_are_linear_in_context() {
        let s = scenario("deepseek-v3", "8xH800", "64k");
        let f = attention_figure(&s);
        let mla = &f.panels[0]
            .series
            .iter()
            .find(|x| x.name.contains("as is"))
            .unwrap();
        let (x, y) = *mla.points.last().unwrap();
        assert_eq!(x, 64_000.0);
        assert_eq!(mla.points[0].0, 1024.0);
        assert!((y - 64_000.0 * 70_272.0 / GIB).abs() < 1e-9);
    }

    #[test]
    fn batch_fp8_kv_doubles_room() {
        let s = scenario("llama-3.1-8b", "H100", "32k");
        let ctx = [32_000];
        let bf = max_batch_points(&s, WeightFormat::Bf16, KvDtype::Bf16, &ctx)[0].1;
        let f8 = max_batch_points(&s, WeightFormat::Bf16, KvDtype::Fp8, &ctx)[0].1;
        assert!(bf > 0);
        // Half the bytes per token: about twice the sequences (block rounding aside).
        assert!(f8 >= 2 * bf - 1 && f8 <= 2 * bf + 1, "{bf} {f8}");
        let int4 = max_batch_points(&s, WeightFormat::Int4, KvDtype::Bf16, &ctx)[0].1;
        assert!(int4 > bf);
        let f = batch_figure(&s);
        assert_eq!(f.panels[0].series.len(), 6);
        // A100 has no fp8: those combinations are skipped and named.
        let a = scenario("llama-3.1-8b", "A100-80GB", "32k");
        let f = batch_figure(&a);
        // Left: bf16 and int4 weights with bf16 KV.
        assert_eq!(f.panels[0].series.len(), 2);
        assert!(f.subtitle.contains("skipped"), "{}", f.subtitle);
    }

    #[test]
    fn throughput_turns_compute_bound() {
        // Short context: KV reads stay small next to the weights.
        let s = scenario("llama-3.1-8b", "H100", "256");
        let eff = Efficiency::default();
        let c = compute_bound_crossover(&s, &eff, 1 << 20).unwrap();
        let pts = speed_points(&s, &eff, 1.0, &[c - 1, c]);
        assert!(pts[0].compute_seconds < pts[0].memory_seconds);
        assert!(pts[1].compute_seconds >= pts[1].memory_seconds);
        // Roofline by hand for an 8B bf16 model on H100 at 256 tokens: weights
        // W ≈ 16.1 GB, 2 FLOPs per parameter per token, KV 131,072 B/token
        // (32 layers × 8 heads × 128 × 2 × 2 B) → 33.6 MB per sequence;
        // memory rate 3.35e12·0.85, matrix rate 989e12·0.7. Compute = memory at
        // b = (W/bw) / (2P/mm − KV/bw) ≈ 5.6 ms / (23.1 − 11.8) µs ≈ 500.
        assert!((350..700).contains(&c), "{c}");
        // At 4k tokens the KV per sequence (537 MB) outweighs the FLOPs per
        // token at the ridge point: decode never turns compute-bound.
        let long = scenario("llama-3.1-8b", "H100", "4k");
        assert_eq!(compute_bound_crossover(&long, &eff, 1 << 20), None);
        // Throughput grows with batch, TPOT too.
        let pts = speed_points(&s, &eff, 1.0, &[1, 8, 64, 512]);
        assert!(pts
            .windows(2)
            .all(|w| w[1].tokens_per_second > w[0].tokens_per_second));
        assert!(pts
            .windows(2)
            .all(|w| w[1].tpot_seconds >= w[0].tpot_seconds));
        let f = throughput_figure(&s, &eff, 1.0);
        assert_eq!(f.panels.len(), 2);
        assert!(f.panels[0]
            .guides
            .iter()
            .any(|g| g.label.contains(&format!("compute-bound at batch {c}"))));
    }
}
