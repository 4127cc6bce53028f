//! `kvplan plan`.

use super::estimate::efficiency_for;
use super::{print_data, CliModels, Format, PlanArgs, Verdict};
use crate::error::Result;
use crate::ops::{self, admit_all, Env, PlanRequest};
use crate::plan::Candidate;
use crate::scenario::Scenario;
use crate::spec::Catalog;
use crate::units::{gib, seconds};
use comfy_table::{presets, Table};

/// Run `plan`; the verdict is whether any configuration meets the constraints.
pub fn run(catalog: &Catalog, a: &PlanArgs) -> Result<Verdict> {
    let efficiency = |s: &Scenario| efficiency_for(&a.scenario, s);
    let env = Env {
        catalog,
        models: &CliModels,
        efficiency: &efficiency,
        admit: &admit_all,
    };
    let planned = ops::plan_with(
        &env,
        &PlanRequest {
            // Without --users/--batch each configuration runs at its largest batch.
            request: a.scenario.request(a.batch),
            users: a.users,
            max_tpot_ms: a.max_tpot_ms,
            max_ttft_ms: a.max_ttft_ms,
            objective: Some(a.objective),
        },
        &a.emit.extras(&a.scenario)?,
    )?;
    let (base, eff, all) = (&planned.base, &planned.efficiency, &planned.candidates);
    let any_fit = planned.any_fits();
    let shown: Vec<Candidate> = all.iter().take(a.top).cloned().collect();
    let launch = &planned.launch;
    let engine_note = planned.notes.first().filter(|n| n.starts_with("--emit"));
    for n in planned.notes.iter().filter(|n| !n.starts_with("--emit")) {
        crate::errln!("note: {n}");
    }
    match a.format {
        Format::Json | Format::Yaml => {
            print_data(&planned.json(a.top), a.format)?;
        }
        Format::Table | Format::Markdown => {
            crate::outln!(
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
                    x.weights_dtype.to_string(),
                    x.kv_dtype.to_string(),
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
            crate::outln!("{t}");
            if !any_fit {
                crate::outln!("\nnothing fits on these GPUs under these constraints. What would:");
                let est = crate::estimate::estimate(base, eff, 1.0)?;
                let recs = crate::plan::recommend(&est, eff);
                if recs.is_empty() {
                    crate::outln!(
                        "  - fewer bits (--weights int4), a shorter --ctx, or more GPUs/nodes"
                    );
                }
                for r in recs {
                    crate::outln!("  - {}\n    {}", r.title, r.detail);
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
