//! The operations layer, in the spirit of cargo's `ops`: one function per
//! thing kvplan does — [`estimate`], [`plan`], [`sweep`] — taking typed
//! inputs and returning report types. The CLI and the server only translate
//! flags or JSON into these inputs and render what comes back, so every step
//! (resolve the request, validate the scenario once, pick the efficiencies,
//! search) is written here once.
//!
//! What differs between the edges is passed in as an [`Env`]: where models
//! that are not built in come from (files and the Hub for the CLI, a pasted
//! config for the server), where calibration profiles come from, and any
//! limits an edge puts on the work of one request.
//!
//! The serving simulator runs inside these operations: [`estimate_with`]
//! adds the `serving` section (a workload through the engine's scheduler
//! over time) and [`plan`] with [`PlanRequest::serving`] plans to an SLA;
//! `simulate.rs` holds the shared steps.

pub mod disagg;
mod simulate;
pub use simulate::{serving_sweep, ServingSweep};

use crate::emit::{EmitOptions, Launch, Target};
use crate::error::{Error, Result};
use crate::estimate::Estimate;
use crate::perf::Efficiency;
use crate::plan::{
    constraints_from, recommend, search_pinned, Candidate, Constraints, Objective, Pinned,
};
use crate::reconcile::profile::DeploymentProfile;
use crate::report::{MemoryReport, Report};
use crate::request::{resolve_with, EstimateRequest, ModelSource, Resolved};
use crate::scenario::Scenario;
use crate::serving::plan::ServingPlan;
use crate::serving::ServingWorkload;
use crate::spec::engine_id::EngineId;
use crate::spec::Catalog;
use serde::Serialize;

/// What an edge supplies to every operation.
pub struct Env<'a> {
    /// The built-in models, GPUs and engines.
    pub catalog: &'a Catalog,
    /// Models that are not built in (a path, an `hf:` id, a pasted config).
    pub models: &'a dyn ModelSource,
    /// The efficiencies for a resolved scenario: the defaults, or the
    /// calibration profile the user named (as far as this edge can read one).
    pub efficiency: &'a dyn Fn(&Scenario) -> Result<Efficiency>,
    /// Limits this edge puts on a resolved scenario before any arithmetic
    /// runs (the server bounds the work of one request); `Ok` to accept.
    pub admit: &'a dyn Fn(&Scenario) -> Result<()>,
}

/// Accept every scenario (the CLI's [`Env::admit`]).
pub fn admit_all(_: &Scenario) -> Result<()> {
    Ok(())
}

/// What `--emit` (the API's `emit`) asks for: the launch commands of the
/// deployment for one engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitRequest {
    /// The engine to emit for.
    pub target: Target,
    /// Benchmark lengths, head address, port.
    pub options: EmitOptions,
}

/// Optional steps of [`estimate_with`] and [`plan_with`] that both edges
/// offer: launch commands, and a deployment profile measured by
/// `kvplan reconcile --out`.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// Emit the launch for this engine; the engine profile becomes that
    /// engine's, at the release whose flags the launch is checked against
    /// (a version the user pinned for the same engine is kept).
    pub emit: Option<EmitRequest>,
    /// A deployment profile applied to the resolved scenario.
    pub deployment: Option<DeploymentProfile>,
    /// A serving workload to simulate on the estimated deployment (the
    /// report's `serving` section; [`PlanRequest::serving`] is the plan's).
    pub serving: Option<ServingWorkload>,
    /// Serve the workload disaggregated: prefill and decode pools, each
    /// with its own layout (`--disagg`, the API's `disagg`); needs `serving`.
    pub disagg: Option<crate::serving::disagg::DisaggRequest>,
}

impl Extras {
    /// The request as the operation runs it (`--emit` sets the engine), and
    /// a note when that replaced another engine.
    fn align(&self, req: &EstimateRequest) -> (EstimateRequest, Option<String>) {
        let mut out = req.clone();
        let Some(e) = &self.emit else {
            return (out, None);
        };
        let name = e.target.name();
        let pinned = e.target.checked_version();
        match &req.engine {
            Some(id)
                if id.name.eq_ignore_ascii_case(name)
                    && (id.version.is_some() || pinned.is_none()) =>
            {
                (out, None)
            }
            other => {
                let note = match (other, pinned) {
                    (Some(id), _) if !id.name.eq_ignore_ascii_case(name) => Some(format!(
                        "--emit {name} uses kvplan's {name} engine profile (not --engine {id})"
                    )),
                    (_, Some(v)) => Some(format!(
                        "--emit {name} follows {name}@{v}, the release whose argument list the flags are checked against (pin another with --engine {name}@VERSION)"
                    )),
                    _ => None,
                };
                out.engine = Some(EngineId {
                    name: name.into(),
                    version: e.target.checked_version().map(str::to_string),
                });
                (out, note)
            }
        }
    }

    /// Apply the deployment profile, if any, to a resolved scenario.
    fn apply(&self, s: &mut Scenario) -> Result<Vec<String>> {
        match &self.deployment {
            Some(p) => p.apply(s),
            None => Ok(vec![]),
        }
    }
}

/// The outcome of [`estimate`]: the report both edges print or return,
/// and what it was computed from.
#[derive(Debug, Clone)]
pub struct Estimated {
    /// The JSON contract (`estimate --format json`, `POST /api/estimate`).
    pub report: Report,
    /// The core's full result.
    pub estimate: Estimate,
    /// The efficiencies used.
    pub efficiency: Efficiency,
    /// The launch commands, when [`Extras::emit`] asked for them.
    pub launch: Option<Launch>,
    /// The disaggregated deployment's pools and figures, when
    /// [`Extras::disagg`] asked for it (the report is the decode worker's).
    pub disagg: Option<disagg::DisaggReport>,
}

impl Estimated {
    /// The report's JSON with `launch` added when there is one (the body of
    /// `estimate --format json` and `POST /api/estimate`).
    pub fn json(&self) -> Result<serde_json::Value> {
        let mut v = with_launch(&self.report, self.launch.as_ref())?;
        if let Some(d) = &self.disagg {
            disagg::merge_json(&mut v, d);
        }
        Ok(v)
    }
}

/// A JSON value with `launch` added at its top level.
pub fn with_launch<T: Serialize>(v: &T, launch: Option<&Launch>) -> Result<serde_json::Value> {
    let json = |e: serde_json::Error| Error::Environment(e.to_string());
    let mut v = serde_json::to_value(v).map_err(json)?;
    if let (Some(l), serde_json::Value::Object(o)) = (launch, &mut v) {
        o.insert("launch".into(), serde_json::to_value(l).map_err(json)?);
    }
    Ok(v)
}

/// Resolve the request and admit it (the first steps of every operation).
fn resolve_admitted(env: &Env<'_>, req: &EstimateRequest) -> Result<Resolved> {
    let r = resolve_with(req, env.catalog, env.models)?;
    (env.admit)(&r.scenario)?;
    Ok(r)
}

/// One configuration: per-GPU memory, fit verdict, limits, speed and
/// recommendations. The scenario is validated once, by the core estimate.
pub fn estimate(env: &Env<'_>, req: &EstimateRequest) -> Result<Estimated> {
    estimate_with(env, req, &Extras::default())
}

/// [`estimate`] with launch commands, a deployment profile and/or the
/// serving simulation ([`Extras::serving`]: the report's `serving` section;
/// without a `ctx` the memory is planned for the workload's longest request).
pub fn estimate_with(env: &Env<'_>, req: &EstimateRequest, x: &Extras) -> Result<Estimated> {
    estimate_prepare(env, req, x)?.run()
}

/// An estimate resolved and admitted, its arithmetic not yet done: an edge
/// that bounds work (the server) weighs [`EstimatePrepared::search_cost`]
/// before it calls [`EstimatePrepared::run`] ([`estimate_with`] does both).
#[derive(Debug, Clone)]
pub struct EstimatePrepared {
    /// The resolved request (deployment profile applied).
    pub resolved: Resolved,
    /// The efficiencies it will use.
    pub efficiency: Efficiency,
    /// Notes from [`Extras`] (engine replaced by `--emit`, deployment profile).
    pub notes: Vec<String>,
    /// The launch to emit, if asked for.
    pub emit: Option<EmitRequest>,
    /// The serving workload to simulate, if asked for.
    pub serving: Option<ServingWorkload>,
    /// The disaggregated deployment's pools, resolved (then `resolved` is
    /// the decode worker).
    pub disagg: Option<disagg::DisaggPrepared>,
}

/// The first half of [`estimate_with`]: resolve, admit, apply the extras,
/// pick the efficiencies.
pub fn estimate_prepare(
    env: &Env<'_>,
    req: &EstimateRequest,
    x: &Extras,
) -> Result<EstimatePrepared> {
    let (req, engine_note) = x.align(req);
    let req = simulate::with_context(&req, x.serving.as_ref());
    let disagg = match &x.disagg {
        Some(_) if x.emit.is_some() => {
            return Err(Error::input(
                "emit",
                "--emit writes one aggregated deployment's launch; it does not cover --disagg yet (drop one of the two)",
            ))
        }
        Some(d) => Some(disagg::prepare(env, &req, d, x.serving.as_ref())?),
        None => None,
    };
    let mut resolved = match &disagg {
        Some(d) => d.decode.clone(),
        None => resolve_admitted(env, &req)?,
    };
    let profile_notes = x.apply(&mut resolved.scenario)?;
    let efficiency = (env.efficiency)(&resolved.scenario)?;
    let mut notes: Vec<String> = engine_note.into_iter().collect();
    notes.extend(profile_notes);
    Ok(EstimatePrepared {
        resolved,
        efficiency,
        notes,
        emit: x.emit.clone(),
        serving: x.serving.clone(),
        disagg,
    })
}

impl EstimatePrepared {
    /// Upper estimate of the single-scenario estimates [`Self::run`] does:
    /// the estimate and its recommendation searches.
    pub fn search_cost(&self) -> u64 {
        let one = crate::plan::recommend_cost(&self.resolved.scenario)
            .saturating_mul(2)
            .saturating_add(1);
        // Disaggregated: two workers' estimates and the pools' simulations
        // (fixed-point rounds and capacity runs: about 20 pool runs).
        if self.disagg.is_some() {
            one.saturating_mul(2).saturating_add(20)
        } else {
            one
        }
    }

    /// The second half of [`estimate_with`]: the core estimate, its
    /// recommendations and the launch (stops with an error if this
    /// thread's deadline passes).
    pub fn run(self) -> Result<Estimated> {
        if let (Some(d), Some(w)) = (&self.disagg, &self.serving) {
            let (est, dr) = disagg::run(d, w)?;
            let recs = recommend(&est, &self.efficiency);
            let mut report = Report::new(&est, recs);
            report.assumptions.extend(self.resolved.notes.clone());
            report.assumptions.extend(self.notes.clone());
            report.assumptions.push(
                "disaggregated: the memory and speed above are one decode worker's; the disagg section has both pools".into(),
            );
            report.serving = Some(dr.result.serving.clone());
            return Ok(Estimated {
                report,
                estimate: est,
                efficiency: self.efficiency,
                launch: None,
                disagg: Some(dr),
            });
        }
        let (r, eff) = (self.resolved, self.efficiency);
        let est = crate::estimate::estimate(&r.scenario, &eff, r.tokens_per_step)?;
        let recs = recommend(&est, &eff);
        if crate::deadline::passed() {
            return Err(Error::Environment(
                "the estimate ran past its deadline and was stopped".into(),
            ));
        }
        let mut report = Report::new(&est, recs);
        report.assumptions.extend(r.notes);
        // A weight-only path (fp8 on Ampere, fp4 on Hopper) and the quality
        // caveat of a format the user quantized to.
        report
            .assumptions
            .extend(crate::plan::format_notes(&est.scenario));
        report.assumptions.extend(self.notes);
        if let Some(w) = &self.serving {
            report.serving = Some(crate::serving::simulate(&r.scenario, &est.memory, &eff, w)?);
        }
        let launch = match &self.emit {
            Some(e) => Some(crate::emit::emit(
                &r.scenario,
                &eff,
                r.tokens_per_step,
                e.target,
                &e.options,
            )?),
            None => None,
        };
        Ok(Estimated {
            report,
            estimate: est,
            efficiency: eff,
            launch,
            disagg: None,
        })
    }
}

/// Inputs of [`plan`]: the scenario (its formats and parallelism restrict
/// the search) and the plan's own options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanRequest {
    /// The scenario as for an estimate; `tp`/`pp`/`dp`/`ep` pin degrees,
    /// `weights`/`kv_dtype` restrict formats, `batch` is the batch to serve.
    pub request: EstimateRequest,
    /// Concurrent users to serve (= batch; give one of the two).
    pub users: Option<u64>,
    /// Upper bound on time per output token, ms.
    pub max_tpot_ms: Option<f64>,
    /// Upper bound on time to first token, ms.
    pub max_ttft_ms: Option<f64>,
    /// What to optimise (default throughput; ignored by a serving plan).
    pub objective: Option<Objective>,
    /// A serving workload: plan to the SLA (`max_ttft_ms`/`max_tpot_ms` at
    /// `percentile`) by simulating each deployment instead of the classic
    /// batch search.
    pub serving: Option<ServingWorkload>,
    /// Statistic the SLA limits apply to: p50, p90 (default), p99, mean.
    pub percentile: Option<String>,
    /// GPU prices the user gave (`--gpu-price`, a price file, the API's
    /// `gpu_price`); the built-in table fills in the rest.
    pub gpu_prices: Vec<crate::plan::cost::Price>,
}

/// The outcome of [`plan`].
#[derive(Debug, Clone)]
pub struct Planned {
    /// The scenario the search started from (degrees at their defaults).
    pub base: Scenario,
    /// The efficiencies used.
    pub efficiency: Efficiency,
    /// The objective ranked by.
    pub objective: Objective,
    /// Every evaluated configuration, best first (empty for a serving plan).
    pub candidates: Vec<Candidate>,
    /// The serving plan, when the request gave a workload.
    pub serving: Option<ServingPlan>,
    /// With a serving plan on two GPUs or more: the disaggregated
    /// deployments of the same budget beside the best aggregated one.
    pub disagg: Option<disagg::DisaggPlan>,
    /// The constraints searched under (for the fallback advice).
    pub constraints: crate::plan::Constraints,
    /// The GPU price used, when one is known.
    pub price: Option<crate::plan::cost::Price>,
    /// Notes from [`Extras`] (engine replaced by `--emit`, deployment profile).
    pub notes: Vec<String>,
    /// The launch of the best fitting configuration the engine can express
    /// (its index in `candidates`), when [`Extras::emit`] asked for it.
    pub launch: Option<(usize, Launch)>,
}

impl Planned {
    /// Whether some configuration fits and meets the constraints (for a
    /// serving plan: meets the SLA).
    pub fn any_fits(&self) -> bool {
        match &self.serving {
            Some(sp) => sp.any_meets,
            None => self.candidates.iter().any(|c| c.fits),
        }
    }

    /// The JSON of `plan --format json` and `POST /api/plan`, `top`
    /// candidates, with what was planned (kvplan version, model, GPUs,
    /// context, engine, the price used) so a saved answer says what it answers.
    pub fn json(&self, top: usize) -> serde_json::Value {
        let mut v = match &self.serving {
            Some(sp) => self.serving_json(sp, top),
            None => crate::plan::plan_json(self.objective, &self.candidates, top),
        };
        if let (Some(d), Some(o)) = (&self.disagg, v.as_object_mut()) {
            let mut d = d.clone();
            d.candidates.truncate(top);
            o.insert(
                "disagg".into(),
                serde_json::to_value(&d).unwrap_or(serde_json::Value::Null),
            );
        }
        let b = &self.base;
        if let Some(o) = v.as_object_mut() {
            o.insert("kvplan_version".into(), env!("CARGO_PKG_VERSION").into());
            o.insert("model".into(), b.model.name.clone().into());
            o.insert("gpu".into(), b.cluster.gpu.name.clone().into());
            o.insert("gpus".into(), b.cluster.total_gpus().into());
            o.insert("nodes".into(), b.cluster.nodes.into());
            o.insert("context".into(), b.workload.context.into());
            o.insert("engine".into(), b.deployment.engine.id().into());
            if self.serving.is_none() {
                o.insert(
                "batch_definition".into(),
                "concurrent sequences of the whole deployment; batch_per_replica is the share of the busiest data-parallel replica".into(),
            );
            }
            o.insert(
                "gpu_price".into(),
                serde_json::to_value(self.price.as_ref().map(|p| {
                    serde_json::json!({"gpu": p.gpu, "usd_per_hour": p.usd_per_hour, "source": p.source})
                }))
                .unwrap_or_default(),
            );
        }
        if self.serving.is_some() {
            return v;
        }
        match with_launch(&v, self.launch.as_ref().map(|(_, l)| l)) {
            Ok(with) => with,
            Err(_) => v,
        }
    }

    /// The serving plan's JSON, `top` candidates, each with its cost at
    /// the SLA (`usd_per_hour`, `usd_per_million_output_tokens`) when a GPU
    /// price is known, and `cheapest_meeting_sla` (an index into
    /// `candidates`, of those meeting the SLA the lowest $ per 1M output
    /// tokens; it may lie beyond `top`, so `cheapest` repeats it).
    fn serving_json(&self, sp: &ServingPlan, top: usize) -> serde_json::Value {
        let usd = self.price.as_ref().map(|p| p.usd_per_hour);
        let priced = |c: &crate::serving::plan::ServingCandidate| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            if let (Some(o), Some(usd)) = (v.as_object_mut(), usd) {
                let cost = crate::plan::cost::serving_cost(c, usd);
                o.insert("usd_per_hour".into(), cost.usd_per_hour.into());
                o.insert(
                    "usd_per_million_output_tokens".into(),
                    cost.usd_per_million_output_tokens.into(),
                );
            }
            v
        };
        let mut v = serde_json::to_value(sp).unwrap_or(serde_json::Value::Null);
        if let Some(o) = v.as_object_mut() {
            let list = |cs: &[crate::serving::plan::ServingCandidate], n: usize| {
                serde_json::Value::Array(cs.iter().take(n).map(priced).collect())
            };
            o.insert("candidates".into(), list(&sp.candidates, top));
            o.insert("pareto".into(), list(&sp.pareto, usize::MAX));
            if let Some(usd) = usd {
                let i = crate::plan::cost::cheapest_at_sla(&sp.candidates, usd);
                o.insert("cheapest_meeting_sla".into(), i.into());
                o.insert(
                    "cheapest".into(),
                    i.map(|i| priced(&sp.candidates[i])).unwrap_or_default(),
                );
            }
        }
        v
    }

    /// What to change when nothing meets the constraints: the advice of
    /// [`crate::plan::advise`] under the user's own limits, so each
    /// suggestion meets them or says which it relaxes.
    pub fn fallback(&self) -> Vec<crate::plan::Recommendation> {
        let current = crate::estimate::estimate(&self.base, &self.efficiency, 1.0).ok();
        crate::plan::advise(
            &self.base,
            &self.constraints,
            current.as_ref(),
            &self.efficiency,
        )
    }
}

/// Search formats × parallelism × batch and rank the configurations. The
/// plan's inputs are checked here, once for both edges.
pub fn plan(env: &Env<'_>, p: &PlanRequest) -> Result<Planned> {
    plan_with(env, p, &Extras::default())
}

/// [`plan`] with launch commands for the best configuration the engine can
/// express and/or a deployment profile.
pub fn plan_with(env: &Env<'_>, p: &PlanRequest, x: &Extras) -> Result<Planned> {
    plan_prepare(env, p, x)?.run()
}

/// A plan checked, resolved and admitted, its search not yet run: an edge
/// that bounds work (the server) weighs [`PlanPrepared::search_cost`]
/// before it calls [`PlanPrepared::run`] ([`plan_with`] does both).
#[derive(Debug, Clone)]
pub struct PlanPrepared {
    /// The scenario the search starts from (degrees at their defaults).
    pub base: Scenario,
    /// Tokens per decode step of the base (for the launch).
    pub tokens_per_step: f64,
    /// The plan's constraints.
    pub constraints: Constraints,
    /// The objective ranked by.
    pub objective: Objective,
    /// The efficiencies used.
    pub efficiency: Efficiency,
    /// Degrees the user fixed.
    pub pinned: Pinned,
    /// Notes from [`Extras`].
    pub notes: Vec<String>,
    /// The launch to emit, if asked for.
    pub emit: Option<EmitRequest>,
    /// A serving plan instead of the classic search: the workload and its SLA.
    pub serving: Option<(ServingWorkload, crate::serving::plan::Sla)>,
    /// The GPU price used, when one is known.
    pub price: Option<crate::plan::cost::Price>,
}

/// The first half of [`plan_with`]: check the plan's inputs, resolve the
/// base scenario, admit it and apply the extras.
pub fn plan_prepare(env: &Env<'_>, p: &PlanRequest, x: &Extras) -> Result<PlanPrepared> {
    let (aligned, engine_note) = x.align(&p.request);
    let req = &aligned;
    if p.users.is_some() && req.batch.is_some() {
        return Err(Error::input(
            "users",
            "give either users or batch, not both",
        ));
    }
    let batch = p.users.or(req.batch);
    if batch == Some(0) {
        let f = if p.users.is_some() { "users" } else { "batch" };
        return Err(Error::input(f, "must be at least 1"));
    }
    for (name, v) in [
        ("max-tpot-ms", p.max_tpot_ms),
        ("max-ttft-ms", p.max_ttft_ms),
    ] {
        if let Some(x) = v {
            if !(x > 0.0 && x.is_finite()) {
                return Err(Error::input(
                    name,
                    format!("{x} must be a positive number of milliseconds"),
                ));
            }
        }
    }
    // Parallelism is searched over, so resolve the base with defaults.
    let mut base_req = simulate::with_context(req, p.serving.as_ref());
    base_req.tp = None;
    base_req.pp = None;
    base_req.dp = None;
    base_req.ep = None;
    base_req.batch = Some(batch.unwrap_or(1));
    let resolved = resolve_admitted(env, &base_req)?;
    let mut base = resolved.scenario;
    let mut notes: Vec<String> = engine_note.into_iter().collect();
    notes.extend(x.apply(&mut base)?);
    base.validate()?;
    let mut c = constraints_from(
        batch,
        p.max_tpot_ms,
        p.max_ttft_ms,
        req.weights,
        req.kv_dtype,
    )?;
    let eff = (env.efficiency)(&base)?;
    let objective = p.objective.unwrap_or(Objective::Throughput);
    let gpu = &base.cluster.gpu;
    let price = crate::plan::cost::price_for(&gpu.name, &gpu.aliases, &p.gpu_prices);
    if objective == Objective::Cost && price.is_none() {
        return Err(Error::input(
            "gpu-price",
            format!(
                "the cost objective needs the price of one {}: give --gpu-price {}=USD_PER_HOUR (API: \"gpu_price\": {{\"{}\": 2.49}}); built in: {}",
                gpu.name,
                gpu.name,
                gpu.name,
                crate::plan::cost::BUILTIN_PRICES
                    .iter()
                    .map(|b| b.gpu)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    c.gpu_price_per_hour = price.as_ref().map(|p| p.usd_per_hour);
    let pinned = Pinned {
        tp: req.tp,
        pp: req.pp,
        dp: req.dp,
        ep: req.ep,
    };
    let serving = p.serving.clone().map(|w| {
        let sla = crate::serving::plan::Sla {
            max_ttft_ms: p.max_ttft_ms,
            max_tpot_ms: p.max_tpot_ms,
            percentile: p.percentile.clone().unwrap_or_else(|| "p90".into()),
        };
        (w, sla)
    });
    Ok(PlanPrepared {
        base,
        tokens_per_step: resolved.tokens_per_step,
        constraints: c,
        objective,
        efficiency: eff,
        pinned,
        price,
        notes,
        emit: x.emit.clone(),
        serving,
    })
}

impl PlanPrepared {
    /// Upper estimate of the configurations [`Self::run`] evaluates (each
    /// one or two estimates), computed without evaluating any.
    pub fn search_cost(&self) -> u64 {
        let classic = crate::plan::search_cost(&self.base, &self.constraints, self.objective);
        // A serving plan also simulates disaggregated deployments: each
        // costs up to RUNS_PER_SIMULATION pool runs.
        let disagg = match &self.serving {
            Some(_) if self.base.cluster.total_gpus() >= 2 => {
                crate::serving::disagg::plan_size(&self.base, self.base.cluster.total_gpus())
                    .saturating_mul(crate::serving::disagg::RUNS_PER_SIMULATION)
            }
            _ => 0,
        };
        classic.saturating_add(disagg)
    }

    /// The second half of [`plan_with`]: the search (refused when larger
    /// than [`crate::plan::MAX_SEARCH_CONFIGURATIONS`]; stopped when this
    /// thread's deadline passes) and the launch of the best configuration.
    pub fn run(self) -> Result<Planned> {
        if let Some((w, sla)) = &self.serving {
            let sp = crate::serving::plan::plan(
                &self.base,
                &self.constraints,
                self.pinned,
                &self.efficiency,
                w,
                sla,
            )?;
            let disagg = if self.base.cluster.total_gpus() >= 2 {
                Some(disagg::plan(&self.base, &self.efficiency, w, sla, &sp)?)
            } else {
                None
            };
            return Ok(Planned {
                base: self.base,
                efficiency: self.efficiency,
                objective: self.objective,
                candidates: Vec::new(),
                serving: Some(sp),
                disagg,
                notes: self.notes,
                launch: None,
                constraints: self.constraints,
                price: self.price,
            });
        }
        let candidates = search_pinned(
            &self.base,
            &self.constraints,
            self.objective,
            &self.efficiency,
            self.pinned,
        )?;
        let launch = match &self.emit {
            Some(e) => Some(crate::emit::emit_best(
                &self.base,
                &candidates,
                &self.efficiency,
                self.tokens_per_step,
                e.target,
                &e.options,
            )?),
            None => None,
        };
        Ok(Planned {
            base: self.base,
            efficiency: self.efficiency,
            objective: self.objective,
            candidates,
            serving: None,
            disagg: None,
            constraints: self.constraints,
            price: self.price,
            notes: self.notes,
            launch,
        })
    }
}

/// One context of a [`sweep`].
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    /// Tokens per sequence.
    pub context: u64,
    /// Whether the workload fits at this context.
    pub fits: bool,
    /// Largest batch at this context.
    pub max_batch: u64,
    /// Memory of the binding GPU, as in the estimate report.
    pub memory_per_gpu: MemoryReport,
}

/// Per-GPU memory against context (the web page's chart).
#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    /// The model's own maximum context.
    pub model_max_context: u64,
    /// Batch of every point.
    pub batch: u64,
    /// GPU memory, bytes.
    pub capacity_bytes: u64,
    /// The engine's budget, bytes.
    pub budget_bytes: u64,
    /// One point per context, ascending.
    pub points: Vec<SweepPoint>,
}

/// Memory per GPU at several contexts, nothing else changed: `contexts`, or
/// by default powers of two from 1Ki to the model's maximum; the request's
/// own context is always included. Each point is validated and admitted;
/// the numbers are the memory chart's ([`crate::report::series::memory_plans`]).
pub fn sweep(env: &Env<'_>, req: &EstimateRequest, contexts: Option<Vec<u64>>) -> Result<Sweep> {
    let r = resolve_admitted(env, req)?;
    // The request itself first (its errors name its own fields), then each point.
    r.scenario.validate()?;
    let max = r.scenario.model.max_context;
    let mut points = contexts.unwrap_or_else(|| {
        let mut v: Vec<u64> = (10..40)
            .map(|p| 1u64 << p)
            .take_while(|&c| c <= max)
            .collect();
        v.push(max);
        v
    });
    points.push(r.scenario.workload.context);
    points.sort_unstable();
    points.dedup();
    for &c in &points {
        let mut s = r.scenario.clone();
        s.workload.context = c;
        let as_contexts = |e: Error| match e {
            Error::Input { field, message } if field == "ctx" || field == "batch" => {
                Error::input("contexts", format!("{c}: {message}"))
            }
            e => e,
        };
        (env.admit)(&s).map_err(as_contexts)?;
        s.validate().map_err(as_contexts)?;
    }
    let plans = crate::report::series::memory_plans(&r.scenario, &points);
    let head = plans
        .first()
        .map(|(_, p)| (p.capacity_bytes, p.budget_bytes));
    let (capacity, budget) = head.unwrap_or_default();
    Ok(Sweep {
        model_max_context: max,
        batch: r.scenario.workload.batch,
        capacity_bytes: capacity,
        budget_bytes: budget,
        points: plans
            .iter()
            .map(|(c, p)| SweepPoint {
                context: *c,
                fits: p.fits,
                max_batch: p.max_batch,
                memory_per_gpu: MemoryReport::of(p),
            })
            .collect(),
    })
}
