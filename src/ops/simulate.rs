//! The serving steps the operations share: a request's context for a
//! workload, and the concurrency sweep behind `kvplan plot serving` and the
//! web page's serving chart.

use super::{resolve_admitted, Env};
use crate::error::Result;
use crate::report::chart::Figure;
use crate::report::series;
use crate::request::{EstimateRequest, Tokens};
use crate::serving::{ServingResult, ServingWorkload};

/// The request with its context defaulting to the workload's longest
/// request (prompt + output at the top of the length spread), so the memory
/// is planned for what the simulation runs; a given `ctx` is kept.
pub(super) fn with_context(
    req: &EstimateRequest,
    serving: Option<&ServingWorkload>,
) -> EstimateRequest {
    let mut req = req.clone();
    if let (Some(w), None, None) = (serving, &req.ctx, &req.max_model_len) {
        req.ctx = Some(Tokens::Number(w.max_sequence_tokens()));
    }
    req
}

/// The serving simulation at each concurrency of a sweep (closed loop), and
/// the chart drawn from it.
#[derive(Debug, Clone)]
pub struct ServingSweep {
    /// (concurrency over the deployment, what the simulation predicts).
    pub points: Vec<(u64, ServingResult)>,
    /// The chart: TTFT/TPOT against concurrency, tokens/s per GPU against
    /// tokens/s per user.
    pub figure: Figure,
}

/// Simulate `w` in a closed loop at concurrencies from the DP degree up to
/// `max_concurrency` (powers of two, and the maximum itself); `percentile`
/// is the statistic the chart draws beside the median.
pub fn serving_sweep(
    env: &Env<'_>,
    req: &EstimateRequest,
    w: &ServingWorkload,
    max_concurrency: u64,
    percentile: &str,
) -> Result<ServingSweep> {
    let req = with_context(req, Some(w));
    let r = resolve_admitted(env, &req)?;
    let s = &r.scenario;
    s.validate()?;
    w.validate(s.model.max_context)?;
    let eff = (env.efficiency)(s)?;
    let concurrencies = series::concurrency_sweep(s.deployment.dp, max_concurrency);
    let points = series::serving_sweep(s, &eff, w, &concurrencies)?;
    let figure = series::serving_figure(s, w, &points, percentile);
    Ok(ServingSweep { points, figure })
}
