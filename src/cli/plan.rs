//! `kvplan plan`.

use super::estimate::efficiency_for;
use super::{print_data, CliModels, Format, PlanArgs, Verdict};
use crate::error::{Error, Result};
use crate::plan::{constraints_from, plan_json, search_pinned, Candidate, Pinned};
use crate::request::resolve_with;
use crate::spec::Catalog;
use crate::units::{gib, seconds};
use comfy_table::{presets, Table};

/// Run `plan`; the verdict is whether any configuration meets the constraints.
pub fn run(catalog: &Catalog, a: &PlanArgs) -> Result<Verdict> {
    let objective = a.objective;
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
    let (scenario_args, engine_note) = a.emit.align(&a.scenario)?;
    // Parallelism flags are searched over, so resolve the base with defaults.
    let mut base_args = scenario_args.clone();
    base_args.tp = None;
    base_args.pp = None;
    base_args.dp = None;
    base_args.ep = None;
    let req = base_args.request(Some(batch.unwrap_or(1)));
    let resolved = resolve_with(&req, catalog, &CliModels)?;
    let mut base = resolved.scenario;
    let profile_notes = super::reconcile::apply_profile(&scenario_args, &mut base)?;
    for n in &profile_notes {
        eprintln!("note: {n}");
    }
    let c = constraints_from(
        batch,
        a.max_tpot_ms,
        a.max_ttft_ms,
        a.scenario.weights,
        a.scenario.kv_dtype,
    )?;
    let eff = efficiency_for(&scenario_args, &base)?;
    let sc = &a.scenario;
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
    // --emit: the launch of the best fitting configuration the engine can express.
    let launch = match a.emit.target()? {
        None => None,
        Some(t) => Some(crate::emit::emit_best(
            &base,
            &all,
            &eff,
            resolved.tokens_per_step,
            t,
            &a.emit.options(),
        )?),
    };
    match a.format {
        Format::Json | Format::Yaml => {
            print_data(
                &super::emit::with_launch(
                    &plan_json(objective, &all, a.top),
                    &launch.as_ref().map(|(_, l)| l.clone()),
                )?,
                a.format,
            )?;
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
            if let Some((i, l)) = &launch {
                if let Some(n) = &engine_note {
                    println!("\nnote: {n}");
                }
                println!("\nlaunch of configuration #{}:", i + 1);
                super::emit::print_launch(l, a.format == Format::Markdown);
            }
        }
    }
    Ok(Verdict::from_ok(any_fit))
}
