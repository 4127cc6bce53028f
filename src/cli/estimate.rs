//! `kvplan estimate`.

use super::{print_data, CliModels, EstimateArgs, Format, ScenarioArgs, Verdict};
use crate::calibration::{builtin_profile, builtin_profile_names, efficiency_from_profile};
use crate::error::{Error, Result};
use crate::estimate::estimate;
use crate::perf::Efficiency;
use crate::plan::recommend;
use crate::report::{table, Report};
use crate::request::resolve_with;
use crate::scenario::Scenario;
use crate::spec::Catalog;

/// Efficiencies for the scenario: a calibration profile when `--profile`
/// names one (a built-in profiles/gpus/NAME.yaml or a path), else defaults.
pub fn efficiency_for(args: &ScenarioArgs, s: &Scenario) -> Result<Efficiency> {
    let Some(p) = &args.profile else {
        return Ok(Efficiency::default());
    };
    let (origin, text) = match builtin_profile(p) {
        Some((path, text)) => (path.to_string(), text.to_string()),
        None => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                Error::file(
                    "profile",
                    format!(
                        "cannot read '{p}': {e}; built-in profiles: {}",
                        builtin_profile_names().join(", ")
                    ),
                )
            })?;
            (p.clone(), text)
        }
    };
    if crate::reconcile::profile::is_deployment_profile(&text) {
        // A deployment profile changes the engine's terms, not the GPU's efficiencies.
        return Ok(Efficiency::default());
    }
    efficiency_from_profile(&text, &origin, s)
}

/// Run `estimate`; the verdict is whether the scenario fits.
pub fn run(catalog: &Catalog, a: &EstimateArgs) -> Result<Verdict> {
    let (scenario_args, engine_note) = a.emit.align(&a.scenario)?;
    let req = scenario_args.request(Some(a.batch));
    let mut r = resolve_with(&req, catalog, &CliModels)?;
    let profile_notes = super::reconcile::apply_profile(&scenario_args, &mut r.scenario)?;
    let eff = efficiency_for(&scenario_args, &r.scenario)?;
    let est = estimate(&r.scenario, &eff, r.tokens_per_step)?;
    let recs = recommend(&est, &eff);
    let mut report = Report::new(&est, recs);
    report.assumptions.extend(r.notes);
    report.assumptions.extend(engine_note);
    report.assumptions.extend(profile_notes);
    let launch = a.emit.launch(&r.scenario, &eff, r.tokens_per_step)?;
    match a.format {
        Format::Table => print!("{}", table::render_text(&report)),
        Format::Markdown => print!("{}", table::render_markdown(&report)),
        f => print_data(&super::emit::with_launch(&report, &launch)?, f)?,
    }
    if let (Some(l), Format::Table | Format::Markdown) = (&launch, a.format) {
        super::emit::print_launch(l, a.format == Format::Markdown);
    }
    Ok(Verdict::from_ok(report.fits))
}
