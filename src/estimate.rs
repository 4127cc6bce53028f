//! One call that runs the whole pure core on a Scenario: validation, the
//! memory plan, parameter counts and the speed model.

use crate::error::Result;
use crate::memory::{self, weights, MemoryPlan};
use crate::perf::{self, Efficiency, Performance};
use crate::scenario::Scenario;

/// Everything computed for one scenario.
#[derive(Debug, Clone)]
pub struct Estimate {
    /// The input.
    pub scenario: Scenario,
    /// Parameter counts of the whole model.
    pub params: weights::ParamCounts,
    /// Exact weight bytes of the whole model under the chosen format.
    pub weights_bytes_total: u64,
    /// Memory per GPU and limits.
    pub memory: MemoryPlan,
    /// Speed figures.
    pub performance: Performance,
}

/// Run the core. `eff` are the efficiencies to use (defaults or a
/// calibration profile); `mtp_tokens_per_step` the speculative-decoding gain.
pub fn estimate(s: &Scenario, eff: &Efficiency, tokens_per_step: f64) -> Result<Estimate> {
    s.validate()?;
    let memory = memory::plan(s);
    let performance = perf::estimate(s, &memory, eff, tokens_per_step);
    Ok(Estimate {
        params: weights::param_counts(&s.model),
        weights_bytes_total: weights::total_weight_bytes(&s.model, s.deployment.weights),
        scenario: s.clone(),
        memory,
        performance,
    })
}
