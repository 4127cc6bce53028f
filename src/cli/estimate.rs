//! `kvplan estimate`.

use super::{print_data, CliModels, EstimateArgs, Format, ScenarioArgs, Verdict};
use crate::calibration::{builtin_profile, builtin_profile_names, efficiency_from_profile};
use crate::error::Result;
use crate::ops::{self, admit_all, Env, Extras};
use crate::perf::Efficiency;
use crate::report::table;
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
            let text = crate::files::read_limited(
                std::path::Path::new(p),
                crate::files::MAX_SPEC_FILE_BYTES,
            )
            .map_err(|e| {
                e.for_field(
                    "profile",
                    p,
                    &format!(
                        "; built-in profiles: {}",
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

/// The CLI's operation environment for `args` (models from files and the
/// Hub, the `--profile` it names, no limits), handed to `op`.
pub fn with_env<T>(
    catalog: &Catalog,
    args: &ScenarioArgs,
    op: impl FnOnce(&Env<'_>) -> Result<T>,
) -> Result<T> {
    let efficiency = |s: &Scenario| efficiency_for(args, s);
    let env = Env {
        catalog,
        models: &CliModels,
        efficiency: &efficiency,
        admit: &admit_all,
    };
    op(&env)
}

/// Run `estimate`; the verdict is whether the scenario fits. With
/// `--isl/--osl` the report adds the serving simulation.
pub fn run(catalog: &Catalog, a: &EstimateArgs) -> Result<Verdict> {
    let req = a.scenario.request(Some(a.batch));
    let extras = Extras {
        serving: a.workload.workload(a.batch)?,
        disagg: a.disagg.request()?,
        ..a.emit.extras(&a.scenario)?
    };
    let done = with_env(catalog, &a.scenario, |env| {
        ops::estimate_with(env, &req, &extras)
    })?;
    let (report, launch) = (&done.report, &done.launch);
    match a.format {
        Format::Table => crate::out!("{}", table::render_text(report)),
        Format::Markdown => crate::out!("{}", table::render_markdown(report)),
        f => print_data(&done.json()?, f)?,
    }
    if let (Some(d), Format::Table | Format::Markdown) = (&done.disagg, a.format) {
        crate::out!("{}", crate::serving::disagg::render_text(&d.result));
    }
    if let (Some(l), Format::Table | Format::Markdown) = (launch, a.format) {
        super::emit::print_launch(l, a.format == Format::Markdown)?;
    }
    Ok(Verdict::from_ok(report.fits))
}
