//! `kvplan estimate`.

use super::{load_model_path, print_data, EstimateArgs, Format, ScenarioArgs};
use crate::calibration::Calibration;
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
    let gpu = &s.cluster.gpu;
    let Some(p) = &args.profile else {
        return Ok(Efficiency::default());
    };
    let builtin = crate::spec::builtin_gpu_profiles()
        .iter()
        .find(|(path, _)| {
            std::path::Path::new(path)
                .file_stem()
                .is_some_and(|s| s.to_string_lossy().eq_ignore_ascii_case(p))
        });
    let (origin, text) = match builtin {
        Some((path, text)) => (path.to_string(), text.to_string()),
        None => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                let names: Vec<String> = crate::spec::builtin_gpu_profiles()
                    .iter()
                    .map(|(path, _)| path.to_string())
                    .collect();
                Error::input(
                    "profile",
                    format!(
                        "cannot read '{p}': {e}; built-in profiles: {}",
                        names.join(", ")
                    ),
                )
            })?;
            (p.clone(), text)
        }
    };
    let cal: Calibration = crate::yaml::from_str(&text, &origin)?;
    if !cal.gpu.eq_ignore_ascii_case(&gpu.name) {
        return Err(Error::input(
            "profile",
            format!(
                "profile {origin} was measured on {} but --gpus names {}",
                cal.gpu, gpu.name
            ),
        ));
    }
    Ok(Efficiency::from_calibration(&cal, s, &origin))
}

/// Run `estimate`.
pub fn run(catalog: &Catalog, a: &EstimateArgs) -> Result<()> {
    let req = a.scenario.request(Some(a.batch));
    let r = resolve(&req, catalog, &load_model_path)?;
    let eff = efficiency_for(&a.scenario, &r.scenario)?;
    let est = estimate(&r.scenario, &eff, r.tokens_per_step)?;
    let recs = recommend(&est, &eff);
    let mut report = Report::new(&est, recs);
    report.assumptions.extend(r.notes);
    match a.format {
        Format::Table => print!("{}", table::render_text(&report)),
        Format::Markdown => print!("{}", table::render_markdown(&report)),
        f => print_data(&report, f)?,
    }
    Ok(())
}
