//! `kvplan plan`.

use super::estimate::with_env;
use super::{print_data, Format, PlanArgs, Verdict};
use crate::error::Result;
use crate::ops::{self, PlanRequest};
use crate::plan::Candidate;
use crate::spec::Catalog;
use crate::units::{gib, seconds};
use comfy_table::{presets, Table};

/// `--gpu-price` values: `NAME=USD` items, or paths of price files.
fn gpu_prices(values: &[String]) -> Result<Vec<crate::plan::cost::Price>> {
    let mut out = Vec::new();
    for v in values {
        if v.contains('=') || (v.contains(':') && !std::path::Path::new(v).exists()) {
            out.extend(crate::plan::cost::parse_prices(v, "--gpu-price")?);
        } else {
            let text = crate::files::read_limited(
                std::path::Path::new(v),
                crate::files::MAX_SPEC_FILE_BYTES,
            )
            .map_err(|e| {
                e.for_field(
                    "gpu-price",
                    v,
                    "; give NAME=USD (e.g. H100=2.49) or a file of such lines",
                )
            })?;
            out.extend(crate::plan::cost::parse_prices(&text, v)?);
        }
    }
    Ok(out)
}

/// The cost at the SLA under the serving table: the first configuration's
/// and, when another meeting the SLA costs less per token, the cheapest.
fn serving_cost_lines(
    sp: &crate::serving::plan::ServingPlan,
    p: &crate::plan::cost::Price,
) -> Vec<String> {
    use crate::plan::cost::{cheapest_at_sla, serving_cost};
    let line = |i: usize, what: &str| {
        let c = &sp.candidates[i];
        let cost = serving_cost(c, p.usd_per_hour);
        format!(
            "{what} (#{}, {} weights, TP{} PP{} DP{} EP{}): ${:.2}/hour for {} × {} GPUs, {} per 1M output tokens at the simulated load",
            i + 1,
            c.weights_dtype,
            c.tp,
            c.pp,
            c.dp,
            c.ep,
            cost.usd_per_hour,
            c.copies,
            c.gpus,
            cost.usd_per_million_output_tokens
                .map_or("—".into(), |m| format!("${m:.3}"))
        )
    };
    let mut out = vec![String::new()];
    if sp.candidates.is_empty() {
        return vec![];
    }
    let first = if sp.any_meets {
        "cost at the SLA"
    } else {
        "cost of the nearest (misses the SLA)"
    };
    out.push(line(0, first));
    if let Some(i) = cheapest_at_sla(&sp.candidates, p.usd_per_hour).filter(|&i| i > 0) {
        out.push(line(i, "cheapest meeting the SLA"));
    }
    out.push(format!(
        "price: ${:.2} per {} GPU-hour ({})",
        p.usd_per_hour, p.gpu, p.source
    ));
    out
}

/// Run `plan`; the verdict is whether any configuration meets the
/// constraints. With `--isl/--osl` each deployment is simulated and the plan
/// is to the SLA (`--max-ttft-ms`/`--max-tpot-ms` at `--percentile`).
pub fn run(catalog: &Catalog, a: &PlanArgs) -> Result<Verdict> {
    let workload = a.workload.workload(a.users.or(a.batch).unwrap_or(1))?;
    let extras = a.emit.extras(&a.scenario)?;
    let planned = with_env(catalog, &a.scenario, |env| {
        ops::plan_with(
            env,
            &PlanRequest {
                // Without --users/--batch each configuration runs at its largest batch.
                request: a.scenario.request(a.batch),
                users: a.users,
                max_tpot_ms: a.max_tpot_ms,
                max_ttft_ms: a.max_ttft_ms,
                objective: Some(a.objective),
                gpu_prices: gpu_prices(&a.gpu_price)?,
                serving: workload.clone(),
                percentile: Some(a.workload.percentile.clone()),
            },
            &extras,
        )
    })?;
    if let (Some(sp), Some(w)) = (&planned.serving, &workload) {
        let base = &planned.base;
        match a.format {
            Format::Json | Format::Yaml => print_data(&planned.json(usize::MAX), a.format)?,
            Format::Table | Format::Markdown => {
                crate::outln!(
                    "{} on {} GPUs ({}), {} serving {} prompt + {} output tokens per request",
                    base.model.display_name,
                    base.cluster.total_gpus(),
                    base.cluster.gpu.name,
                    base.deployment.engine.display_name,
                    w.isl,
                    w.osl
                );
                crate::out!(
                    "{}",
                    crate::serving::render::plan_text(sp, a.top, a.format == Format::Markdown)
                );
                if let Some(p) = &planned.price {
                    for line in serving_cost_lines(sp, p) {
                        crate::outln!("{line}");
                    }
                }
                if let Some(d) = &planned.disagg {
                    crate::out!("{}", crate::ops::disagg::plan_text(d, a.top));
                }
            }
        }
        return Ok(Verdict::from_ok(sp.any_meets));
    }
    let (base, all) = (&planned.base, &planned.candidates);
    let any_fit = planned.any_fits();
    let shown: Vec<Candidate> = all.iter().take(a.top).cloned().collect();
    let launch = &planned.launch;
    let engine_note = planned.notes.first().filter(|n| n.starts_with("--emit"));
    for n in planned.notes.iter().filter(|n| !n.starts_with("--emit")) {
        crate::errln!("note: {n}");
    }
    match a.format {
        Format::Json | Format::Yaml => {
            let mut v = planned.json(a.top);
            if !any_fit {
                // What would meet the limits (or which it relaxes), as the table lists it.
                if let Some(o) = v.as_object_mut() {
                    o.insert(
                        "fallback".into(),
                        serde_json::to_value(planned.fallback()).unwrap_or_default(),
                    );
                }
            }
            print_data(&v, a.format)?;
        }
        Format::Table | Format::Markdown => {
            let title = format!(
                "{} on {} GPUs ({}), context {} tokens — {} configurations evaluated, objective {}",
                base.model.display_name,
                base.cluster.total_gpus(),
                base.cluster.gpu.name,
                crate::units::thousands(base.workload.context),
                all.len(),
                a.objective
            );
            if a.format == Format::Markdown {
                crate::outln!("## {title}\n");
            } else {
                crate::outln!("{title}");
            }
            let priced = planned.price.is_some();
            let mut t = Table::new();
            t.load_style(if a.format == Format::Markdown {
                presets::ASCII_MARKDOWN
            } else {
                presets::UTF8_FULL_CONDENSED
            });
            let mut header = vec![
                "#",
                "weights",
                "KV",
                "TP",
                "PP",
                "DP",
                "EP",
                "GPUs",
                "batch (per replica)",
                "max batch",
                "weights/GPU",
                "tok/s",
                "TPOT",
                "TTFT",
            ];
            if priced {
                header.extend(["$/hour", "$/1M out"]);
            }
            header.extend(["pareto", "why"]);
            t.set_header(header);
            for (i, x) in shown.iter().enumerate() {
                // Speeds of a configuration that does not fit in memory are moot.
                let speed = |v: String| if x.fits_memory { v } else { "—".to_string() };
                let batch = if x.dp > 1 {
                    format!("{} ({})", x.batch, x.batch_per_replica)
                } else {
                    x.batch.to_string()
                };
                let mut row = vec![
                    (i + 1).to_string(),
                    x.weights_dtype.to_string(),
                    x.kv_dtype.to_string(),
                    x.tp.to_string(),
                    x.pp.to_string(),
                    x.dp.to_string(),
                    x.ep.to_string(),
                    x.gpus.to_string(),
                    batch,
                    x.max_batch.to_string(),
                    gib(x.weights_bytes_per_gpu),
                    speed(format!("{:.0}", x.tokens_per_second)),
                    speed(seconds(x.tpot_seconds)),
                    speed(seconds(x.ttft_seconds)),
                ];
                if priced {
                    row.push(
                        x.cost_per_hour_usd
                            .map_or("—".into(), |v| format!("{v:.2}")),
                    );
                    row.push(speed(
                        x.usd_per_million_output_tokens
                            .map_or("—".into(), |v| format!("{v:.3}")),
                    ));
                }
                row.push(if x.pareto {
                    "★".into()
                } else {
                    String::new()
                });
                row.push(if x.fits {
                    x.reason.clone()
                } else {
                    format!("✗ {}", x.reason)
                });
                t.add_row(row);
            }
            crate::outln!("{t}");
            let mut notes: Vec<&String> = shown.iter().flat_map(|x| x.notes.iter()).collect();
            notes.sort();
            notes.dedup();
            for n in notes {
                crate::outln!("  note: {n}");
            }
            if let Some(p) = &planned.price {
                crate::outln!(
                    "  price: ${:.2} per {} GPU-hour ({})",
                    p.usd_per_hour,
                    base.cluster.gpu.name,
                    p.source
                );
            }
            if !any_fit {
                crate::outln!("\nnothing meets these constraints on these GPUs. What would:");
                let recs = planned.fallback();
                if recs.is_empty() {
                    crate::outln!(
                        "  - fewer bits (--weights int4), a shorter --ctx, or more GPUs/nodes"
                    );
                }
                for r in recs {
                    let relaxes = if r.relaxes.is_empty() {
                        String::new()
                    } else {
                        format!(" [relaxes {}]", r.relaxes.join(", "))
                    };
                    crate::outln!(
                        "  - {}{relaxes}\n    {}\n    cost: {}",
                        r.title,
                        r.detail,
                        r.cost
                    );
                }
            }
            if let Some((i, l)) = launch {
                if let Some(n) = engine_note {
                    crate::outln!("\nnote: {n}");
                }
                crate::outln!("\nlaunch of configuration #{}:", i + 1);
                super::emit::print_launch(l, a.format == Format::Markdown)?;
            }
        }
    }
    Ok(Verdict::from_ok(any_fit))
}
