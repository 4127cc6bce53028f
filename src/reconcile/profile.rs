//! Deployment calibration profiles (`profiles/deployments/NAME.yaml`,
//! written by `kvplan reconcile --out`): what one real deployment measured —
//! the GPU memory CUDA showed, the activation peak, CUDA-graph and non-torch
//! memory, the decode step's fixed cost and the TTFT overhead — so that
//! `estimate`/`plan --profile FILE` of the same deployment start from its
//! own numbers instead of kvplan's assumptions.

use super::{log::EngineLog, Reconciliation, GIB};
use crate::error::{Error, Result};
use crate::estimate::estimate;
use crate::perf::Efficiency;
use crate::request::EstimateRequest;
use crate::scenario::Scenario;
use crate::spec::engine::BudgetRule;
use serde::{Deserialize, Serialize};

/// Marks a YAML file as a deployment profile (GPU calibration profiles have no `kind`).
pub const KIND: &str = "deployment";

/// One deployment's measured terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentProfile {
    /// Always `deployment`.
    pub kind: String,
    /// The log (and benchmark) this was measured from, as given.
    pub source: String,
    /// Engine and version the log came from.
    pub engine: String,
    /// Engine version the log printed.
    #[serde(default)]
    pub engine_version: Option<String>,
    /// The deployment, as an estimate request (model, GPUs, parallelism, lengths).
    pub request: EstimateRequest,
    /// GPU memory CUDA showed the engine, bytes (replaces the GPU spec's figure).
    #[serde(default)]
    pub gpu_memory_bytes: Option<u64>,
    /// Activation peak per GPU that makes kvplan's budget equal the logged KV
    /// pool, bytes (the log's own figure where it prints one; otherwise the
    /// non-KV remainder, which also absorbs any weights difference).
    #[serde(default)]
    pub activation_peak_bytes: Option<u64>,
    /// Non-torch memory per GPU (library workspaces + NCCL), bytes.
    #[serde(default)]
    pub non_torch_bytes: Option<u64>,
    /// CUDA-graph memory per GPU, bytes.
    #[serde(default)]
    pub cuda_graph_bytes: Option<u64>,
    /// The KV pool per GPU the engine logged, bytes.
    pub kv_budget_bytes: u64,
    /// KV tokens per replica the engine logged.
    #[serde(default)]
    pub kv_cache_tokens: Option<u64>,
    /// Fixed cost of one decode step measured by the benchmark, seconds.
    #[serde(default)]
    pub decode_overhead_per_step_seconds: Option<f64>,
    /// Serving overhead on top of one prefill in the measured TTFT, seconds.
    #[serde(default)]
    pub ttft_overhead_seconds: Option<f64>,
    /// How each number was derived.
    #[serde(default)]
    pub notes: Vec<String>,
}

impl DeploymentProfile {
    /// Apply to a scenario of the same deployment (same model and GPU);
    /// returns what was replaced, for the output's assumptions.
    pub fn apply(&self, s: &mut Scenario) -> Result<Vec<String>> {
        let model_ok = self.request.model.eq_ignore_ascii_case(&s.model.name)
            || s.model
                .aliases
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&self.request.model));
        let gpu = crate::units::parse_cluster(&self.request.gpus)?.gpu_name;
        let gpu_ok = gpu.eq_ignore_ascii_case(&s.cluster.gpu.name)
            || s.cluster
                .gpu
                .aliases
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&gpu));
        if !model_ok || !gpu_ok {
            return Err(Error::input(
                "profile",
                format!(
                    "deployment profile {} was measured for {} on {}, not {} on {}",
                    self.source,
                    self.request.model,
                    self.request.gpus,
                    s.model.name,
                    s.cluster.gpu.name
                ),
            ));
        }
        let e = &mut s.deployment.engine;
        let mut notes = vec![format!(
            "deployment profile from {} ({} {}) replaces kvplan's assumptions:",
            self.source,
            self.engine,
            self.engine_version.as_deref().unwrap_or("")
        )];
        if let Some(b) = self.gpu_memory_bytes {
            s.cluster.gpu.cuda_visible_bytes = Some(b);
            s.cluster.gpu.cuda_visible_source = Some(format!("deployment profile {}", self.source));
            notes.push(format!(
                "  GPU memory as CUDA showed it: {:.2} GiB",
                b as f64 / GIB
            ));
        }
        if let Some(b) = self.non_torch_bytes {
            e.non_torch_bytes = b;
            e.nccl_bytes = 0;
            notes.push(format!(
                "  non-torch memory (NCCL included): {:.2} GiB",
                b as f64 / GIB
            ));
        }
        if let Some(b) = self.cuda_graph_bytes {
            e.cuda_graph_bytes = b;
            notes.push(format!("  CUDA graphs: {:.2} GiB", b as f64 / GIB));
        }
        if let Some(b) = self.activation_peak_bytes {
            e.activation_peak_bytes = Some(b);
            notes.push(format!("  activation peak: {:.2} GiB", b as f64 / GIB));
        }
        if let Some(x) = self.decode_overhead_per_step_seconds {
            e.decode_overhead_per_step_seconds = x;
            notes.push(format!("  fixed decode cost: {:.2} ms per step", x * 1e3));
        }
        if let Some(x) = self.ttft_overhead_seconds {
            e.ttft_overhead_seconds = x;
            notes.push(format!("  TTFT overhead: {:.1} ms", x * 1e3));
        }
        Ok(notes)
    }
}

/// Whether a profile file's text is a deployment profile.
pub fn is_deployment_profile(text: &str) -> bool {
    text.lines()
        .any(|l| l.trim_start().starts_with("kind:") && l.contains(KIND))
}

/// Build the profile of a reconciled deployment: the logged terms, and an
/// activation peak (non-torch memory for SGLang, whose budget does not
/// subtract activations) solved so that kvplan's budget equals the logged
/// KV pool; then the benchmark's fixed decode and TTFT costs.
pub fn build(
    source: &str,
    l: &EngineLog,
    rec: &Reconciliation,
    scenario: &Scenario,
    eff: &Efficiency,
    tokens_per_step: f64,
) -> Result<DeploymentProfile> {
    let f = &l.figures;
    let Some(kv_gib) = f.available_kv_gib else {
        return Err(Error::input(
            "out",
            "the log gives KV tokens but not the KV pool in GiB; a profile needs the pool (\"Available KV cache memory\", K + V size, or the allocated KV GiB)",
        ));
    };
    let kv_bytes = (kv_gib * GIB).round() as u64;
    let mut notes = vec![format!(
        "measured from {source}; the KV pool {kv_gib:.2} GiB is as logged (2 decimals: ±5 MiB)"
    )];
    let mut p = DeploymentProfile {
        kind: KIND.into(),
        source: source.into(),
        engine: l.engine.clone(),
        engine_version: l.version.clone(),
        request: rec.request.clone(),
        gpu_memory_bytes: f.total_gib.map(|t| (t * GIB).round() as u64),
        activation_peak_bytes: None,
        non_torch_bytes: f.non_torch_gib.map(|x| (x * GIB).round() as u64),
        cuda_graph_bytes: f.cuda_graph_gib.map(|x| (x * GIB).round() as u64),
        kv_budget_bytes: kv_bytes,
        kv_cache_tokens: f.kv_cache_tokens,
        decode_overhead_per_step_seconds: None,
        ttft_overhead_seconds: None,
        notes: vec![],
    };
    // Solve the one unknown term so the budget comes out as logged.
    let mut s = scenario.clone();
    p.apply(&mut s)?;
    let rule = s.deployment.engine.budget_rule;
    let budget = |s: &Scenario| -> Result<i128> {
        Ok(estimate(s, eff, tokens_per_step)?
            .memory
            .binding_stage()
            .kv_budget_bytes)
    };
    if rule == BudgetRule::StaticFraction {
        // The solved figure stands for all non-torch memory, NCCL included.
        s.deployment.engine.nccl_bytes = 0;
        // Where the engine allocates more than its budget (an fp8 DSA cache,
        // `memory::allocated_kv_pool`), the logged pool is that allocation:
        // the budget that yields it is the logged pool × budget ÷ allocation.
        let st = estimate(&s, eff, tokens_per_step)?
            .memory
            .binding_stage()
            .clone();
        let b = st.kv_budget_bytes;
        let own_budget = b - st.kv_pool_over_budget_bytes as i128;
        let target = if st.kv_pool_over_budget_bytes > 0 && b > 0 {
            (kv_bytes as f64 * own_budget as f64 / b as f64).round() as i128
        } else {
            kv_bytes as i128
        };
        let solved = s.deployment.engine.non_torch_bytes as i128 + (own_budget - target);
        let nt = solved.max(0) as u64;
        if solved < 0 {
            notes.push(format!(
                "the profile cannot reproduce the logged pool: it is {:.2} GiB above what SGLang's budget (total × mem_fraction_static − weights) gives with no non-torch memory at all, so the engine sized its pool beyond that budget; non-torch memory set to 0",
                -solved as f64 / GIB
            ));
        } else {
            notes.push(format!(
                "non-torch memory {:.2} GiB: what SGLang's budget (total × mem_fraction_static − weights − non-torch) leaves as the logged pool",
                nt as f64 / GIB
            ));
        }
        p.non_torch_bytes = Some(nt);
        s.deployment.engine.non_torch_bytes = nt;
        s.deployment.engine.nccl_bytes = 0;
    } else {
        s.deployment.engine.activation_peak_bytes = Some(0);
        let b0 = budget(&s)?;
        let coef = if rule == BudgetRule::FractionOfFree {
            s.deployment.engine.memory_fraction.max(1e-9)
        } else {
            1.0
        };
        let a = ((b0 - kv_bytes as i128) as f64 / coef).max(0.0) as u64;
        let logged = f.peak_activation_gib.map(|x| x * GIB);
        notes.push(match logged {
            Some(x) => format!(
                "activation peak {:.2} GiB solved from the budget (the log prints {:.2} GiB; the difference absorbs the other terms' rounding and any weights gap)",
                a as f64 / GIB,
                x / GIB
            ),
            None => format!(
                "activation peak {:.2} GiB: the non-KV remainder of the budget (the log does not break it down; it also absorbs any weights gap)",
                a as f64 / GIB
            ),
        });
        p.activation_peak_bytes = Some(a);
        s.deployment.engine.activation_peak_bytes = Some(a);
        // Even with no activation peak kvplan's budget is below the logged
        // pool: its non-torch + NCCL assumption is larger than what the
        // engine used. The rest of the gap comes off that assumption (where
        // the log did not print non-torch memory itself).
        let short = kv_bytes as i128 - b0;
        if short > 0 && f.non_torch_gib.is_none() && rule == BudgetRule::FractionOfTotal {
            let e = &s.deployment.engine;
            let was = e.non_torch_bytes as i128 + e.nccl_bytes as i128;
            let nt = (was - short).max(0) as u64;
            notes.push(format!(
                "non-torch memory {:.2} GiB (NCCL included): kvplan's {:.2} GiB assumption less the {:.2} GiB the logged pool is above kvplan's budget with no activation peak",
                nt as f64 / GIB,
                was as f64 / GIB,
                short as f64 / GIB
            ));
            p.non_torch_bytes = Some(nt);
            s.deployment.engine.non_torch_bytes = nt;
            s.deployment.engine.nccl_bytes = 0;
        }
    }
    // Benchmark: fixed decode cost and TTFT overhead, from its terms.
    for t in &rec.bench {
        match t.quantity.as_str() {
            "tpot_ms" => {
                let x = (s.deployment.engine.decode_overhead_per_step_seconds
                    + (t.logged - t.predicted) / 1e3 * tokens_per_step)
                    .max(0.0);
                notes.push(format!(
                    "fixed decode cost {:.2} ms per step: kvplan's {:.2} ms + the measured TPOT gap at the benchmark's concurrency (includes interleaved prefills)",
                    x * 1e3,
                    s.deployment.engine.decode_overhead_per_step_seconds * 1e3
                ));
                p.decode_overhead_per_step_seconds = Some(x);
            }
            "ttft_ms" => {
                let x = (s.deployment.engine.ttft_overhead_seconds
                    + (t.logged - t.predicted) / 1e3)
                    .max(0.0);
                notes.push(format!(
                    "TTFT overhead {:.1} ms: measured TTFT − kvplan's prefill + first step",
                    x * 1e3
                ));
                p.ttft_overhead_seconds = Some(x);
            }
            _ => {}
        }
    }
    p.notes = notes;
    Ok(p)
}
