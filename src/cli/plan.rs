//! `kvplan plan`.

use super::estimate::efficiency_for;
use super::{load_model_path, print_data, Format, PlanArgs};
use crate::error::{Error, Result};
use crate::plan::{constraints_from, plan_json, search_pinned, Candidate, Objective, Pinned};
use crate::request::resolve;
use crate::spec::Catalog;
use crate::units::{gib, seconds};
use comfy_table::{presets, Table};

/// Run `plan`.
pub fn run(catalog: &Catalog, a: &PlanArgs) -> Result<()> {
    let objective = Objective::parse(&a.objective)?;
    let batch = a.users.or(a.batch);
    if batch == Some(0) {
        return Err(Error::input("users", "must be at least 1"));
    }
    for (name, v) in [
        ("max-tpot-ms", a.max_tpot_ms),
        ("max-ttft-ms", a.max_ttft_ms),
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
    // Parallelism flags are searched over, so resolve the base with defaults.
    let mut base_args = a.scenario.clone();
    base_args.tp = None;
    base_args.pp = None;
    base_args.dp = None;
    base_args.ep = None;
    let mut req = base_args.request(Some(batch.unwrap_or(1)));
    let workload = a.workload.workload(batch.unwrap_or(1))?;
    if let (Some(w), None) = (&workload, &req.ctx) {
        req.ctx = Some(crate::request::Tokens::Number(w.max_sequence_tokens()));
    }
    let base = resolve(&req, catalog, &load_model_path)?.scenario;
    let c = constraints_from(
        batch,
        a.max_tpot_ms,
        a.max_ttft_ms,
        a.scenario.weights.as_deref(),
        a.scenario.kv_dtype.as_deref(),
    )?;
    let eff = efficiency_for(&a.scenario, &base)?;
    let sc = &a.scenario;
    if let Some(w) = workload {
        let sla = crate::serving::plan::Sla {
            max_ttft_ms: a.max_ttft_ms,
            max_tpot_ms: a.max_tpot_ms,
            percentile: a.workload.percentile.clone(),
        };
        let pinned = Pinned {
            tp: sc.tp,
            pp: sc.pp,
            dp: sc.dp,
            ep: sc.ep,
        };
        let sp = crate::serving::plan::plan(&base, &c, pinned, &eff, &w, &sla)?;
        match a.format {
            Format::Json | Format::Yaml => print_data(&sp, a.format)?,
            Format::Table | Format::Markdown => {
                println!(
                    "{} on {} GPUs ({}), {} serving {} prompt + {} output tokens per request",
                    base.model.display_name,
                    base.cluster.total_gpus(),
                    base.cluster.gpu.name,
                    base.deployment.engine.display_name,
                    w.isl,
                    w.osl
                );
                print!(
                    "{}",
                    crate::serving::render::plan_text(&sp, a.top, a.format == Format::Markdown)
                );
            }
        }
        return Ok(());
    }
    let all = search_pinned(
        &base,
        &c,
        objective,
        &eff,
        Pinned {
            tp: sc.tp,
            pp: sc.pp,
            dp: sc.dp,
            ep: sc.ep,
        },
    )?;
    let any_fit = all.iter().any(|x| x.fits);
    let shown: Vec<Candidate> = all.iter().take(a.top).cloned().collect();
    match a.format {
        Format::Json | Format::Yaml => {
            print_data(&plan_json(&a.objective, &all, a.top), a.format)?;
        }
        Format::Table | Format::Markdown => {
            println!(
                "{} on {} GPUs ({}), context {} tokens — {} configurations evaluated, objective {}",
                base.model.display_name,
                base.cluster.total_gpus(),
                base.cluster.gpu.name,
                crate::units::thousands(base.workload.context),
                all.len(),
                a.objective
            );
            let mut t = Table::new();
            t.load_style(if a.format == Format::Markdown {
                presets::ASCII_MARKDOWN
            } else {
                presets::UTF8_FULL_CONDENSED
            });
            t.set_header(vec![
                "#",
                "weights",
                "KV",
                "TP",
                "PP",
                "DP",
                "EP",
                "GPUs",
                "batch",
                "max batch",
                "weights/GPU",
                "tok/s",
                "TPOT",
                "TTFT",
                "pareto",
                "why",
            ]);
            for (i, x) in shown.iter().enumerate() {
                t.add_row(vec![
                    (i + 1).to_string(),
                    x.weights_dtype.clone(),
                    x.kv_dtype.clone(),
                    x.tp.to_string(),
                    x.pp.to_string(),
                    x.dp.to_string(),
                    x.ep.to_string(),
                    x.gpus.to_string(),
                    x.batch.to_string(),
                    x.max_batch.to_string(),
                    gib(x.weights_bytes_per_gpu),
                    format!("{:.0}", x.tokens_per_second),
                    seconds(x.tpot_seconds),
                    seconds(x.ttft_seconds),
                    if x.pareto {
                        "★".into()
                    } else {
                        String::new()
                    },
                    if x.fits {
                        x.reason.clone()
                    } else {
                        format!("✗ {}", x.reason)
                    },
                ]);
            }
            println!("{t}");
            if !any_fit {
                println!("\nnothing fits on these GPUs under these constraints. What would:");
                let est = crate::estimate::estimate(&base, &eff, 1.0)?;
                let recs = crate::plan::recommend(&est, &eff);
                if recs.is_empty() {
                    println!(
                        "  - fewer bits (--weights int4), a shorter --ctx, or more GPUs/nodes"
                    );
                }
                for r in recs {
                    println!("  - {}\n    {}", r.title, r.detail);
                }
            }
        }
    }
    Ok(())
}
