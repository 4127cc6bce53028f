//! `kvplan estimate`.

use super::{load_model_path, print_data, EstimateArgs, Format, ScenarioArgs};
use crate::calibration::{builtin_profile, builtin_profile_names, efficiency_from_profile};
use crate::error::{Error, Result};
use crate::estimate::estimate;
use crate::perf::Efficiency;
use crate::plan::recommend;
use crate::report::{table, Report};
use crate::request::resolve;
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
                Error::input(
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
    efficiency_from_profile(&text, &origin, s)
}

/// Run `estimate`.
pub fn run(catalog: &Catalog, a: &EstimateArgs) -> Result<()> {
    let mut req = a.scenario.request(Some(a.batch));
    let workload = a.workload.workload(a.batch)?;
    if let (Some(w), None) = (&workload, &req.ctx) {
        // Plan the memory for the workload's longest request.
        req.ctx = Some(crate::request::Tokens::Number(w.max_sequence_tokens()));
    }
    let r = resolve(&req, catalog, &load_model_path)?;
    let eff = efficiency_for(&a.scenario, &r.scenario)?;
    let est = estimate(&r.scenario, &eff, r.tokens_per_step)?;
    let recs = recommend(&est, &eff);
    let mut report = Report::new(&est, recs);
    report.assumptions.extend(r.notes);
    if let Some(w) = &workload {
        report.serving = Some(crate::serving::simulate(&r.scenario, &est.memory, &eff, w)?);
    }
    match a.format {
        Format::Table => print!("{}", table::render_text(&report)),
        Format::Markdown => print!("{}", table::render_markdown(&report)),
        f => print_data(&report, f)?,
    }
    Ok(())
}
