//! The `kvplan plot serving` chart: latency against concurrency, and the
//! Pareto picture operators use (tokens/s per GPU against tokens/s per user).

use super::{simulate, Arrival, ServingResult, ServingWorkload};
use crate::error::Result;
use crate::memory;
use crate::perf::Efficiency;
use crate::report::plot::{Axis, Figure, Panel, Series, Style};
use crate::scenario::Scenario;

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
pub fn sweep(
    s: &Scenario,
    eff: &Efficiency,
    w: &ServingWorkload,
    concurrencies: &[u64],
) -> Result<Vec<(u64, ServingResult)>> {
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
    let at = |p: &super::Percentiles| p.at(pct).unwrap_or(p.p90);
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
        title: crate::report::plot::series::scenario_title(s),
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
