//! `kvplan plan`.

use super::estimate::efficiency_for;
use super::{load_model_path, print_data, Format, PlanArgs};
use crate::error::{Error, Result};
use crate::plan::{search, Candidate, Constraints, Objective};
use crate::request::resolve;
use crate::spec::dtype::{KvDtype, WeightFormat};
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
    let req = base_args.request(Some(batch.unwrap_or(1)));
    let base = resolve(&req, catalog, &load_model_path)?.scenario;
    let c = Constraints {
        batch,
        max_tpot_seconds: a.max_tpot_ms.map(|x| x / 1e3),
        max_ttft_seconds: a.max_ttft_ms.map(|x| x / 1e3),
        weights: a
            .scenario
            .weights
            .iter()
            .map(|w| WeightFormat::parse(w, "weights"))
            .collect::<Result<_>>()?,
        kv_dtypes: a
            .scenario
            .kv_dtype
            .iter()
            .map(|k| KvDtype::parse(k, "kv-dtype"))
            .collect::<Result<_>>()?,
    };
    let eff = efficiency_for(&a.scenario, &base)?;
    let mut all = search(&base, &c, objective, &eff);
    // Honour parallelism the user pinned.
    all.retain(|x| {
        a.scenario.tp.is_none_or(|t| t == x.tp)
            && a.scenario.pp.is_none_or(|p| p == x.pp)
            && a.scenario.dp.is_none_or(|d| d == x.dp)
            && a.scenario.ep.is_none_or(|e| e == x.ep)
    });
    if all.is_empty() {
        return Err(Error::input(
            "tp",
            "no valid configuration: the pinned parallelism does not divide the model or the GPUs",
        ));
    }
    let any_fit = all.iter().any(|x| x.fits);
    let shown: Vec<Candidate> = all.iter().take(a.top).cloned().collect();
    match a.format {
        Format::Json | Format::Yaml => {
            let out = serde_json::json!({
                "objective": a.objective,
                "evaluated": all.len(),
                "any_fits": any_fit,
                "candidates": shown,
                "pareto": all.iter().filter(|x| x.pareto).collect::<Vec<_>>(),
            });
            print_data(&out, a.format)?;
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
