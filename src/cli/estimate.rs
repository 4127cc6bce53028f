//! `kvplan estimate`.

use super::{load_model_path, print_data, EstimateArgs, Format, ScenarioArgs};
use crate::error::{Error, Result};
use crate::estimate::estimate;
use crate::perf::Efficiency;
use crate::plan::recommend;
use crate::report::{table, Report};
use crate::request::resolve;
use crate::spec::Catalog;

/// Efficiencies for the scenario: a calibration profile when `--profile` names one.
pub fn efficiency_for(args: &ScenarioArgs) -> Result<Efficiency> {
    match &args.profile {
        None => Ok(Efficiency::default()),
        Some(p) => Err(Error::input(
            "profile",
            format!("cannot use calibration profile '{p}': no profile loader in this build"),
        )),
    }
}

/// Run `estimate`.
pub fn run(catalog: &Catalog, a: &EstimateArgs) -> Result<()> {
    let req = a.scenario.request(Some(a.batch));
    let r = resolve(&req, catalog, &load_model_path)?;
    let eff = efficiency_for(&a.scenario)?;
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
