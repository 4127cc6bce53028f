//! The serving-workload flags shared by `estimate` and `plan`.

use crate::error::{Error, Result};
use crate::serving::{Arrival, ServingWorkload};
use crate::units::parse_tokens;
use clap::Args;

/// Workload of the serving simulation (`--isl` and `--osl` turn it on).
#[derive(Debug, Clone, Default, Args)]
pub struct WorkloadArgs {
    /// Prompt tokens per request for the serving simulation: 8k = 8,000. With --osl, adds TTFT/TPOT/ITL percentiles and throughput.
    #[arg(long)]
    pub isl: Option<String>,
    /// Output tokens per request (generated to the end, as benchmarks run them).
    #[arg(long)]
    pub osl: Option<String>,
    /// Closed loop: concurrent clients over the whole deployment (split over DP replicas); each sends its next request when the last one ends.
    #[arg(long)]
    pub concurrency: Option<u64>,
    /// Open loop: requests per second over the whole deployment (gamma arrivals, see --burstiness); with --concurrency, that caps requests in flight.
    #[arg(long = "request-rate", allow_negative_numbers = true)]
    pub request_rate: Option<f64>,
    /// Gamma shape of inter-arrival times with --request-rate: 1 = Poisson, < 1 burstier.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub burstiness: f64,
    /// Requests to simulate (default: 10 per client, 200–20,000; 1,000 with --request-rate).
    #[arg(long = "num-requests")]
    pub num_requests: Option<u64>,
    /// Spread of lengths: each drawn uniformly in [len·(1−r), len·(1+r)] (vLLM's --random-range-ratio).
    #[arg(
        long = "random-range-ratio",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub random_range_ratio: f64,
    /// Fraction of each prompt already in the prefix cache (0–1).
    #[arg(
        long = "prefix-cache-hit",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub prefix_cache_hit: f64,
    /// Statistic the SLA limits apply to (and the plan shows): p50, p90, p99, mean.
    #[arg(long, default_value = "p90")]
    pub percentile: String,
    /// Seed of the random lengths and arrivals.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl WorkloadArgs {
    /// Whether the serving simulation was asked for.
    pub fn enabled(&self) -> bool {
        self.isl.is_some() || self.osl.is_some()
    }

    /// The workload, or None without --isl/--osl; `default_concurrency`
    /// applies when neither --concurrency nor --request-rate is given.
    pub fn workload(&self, default_concurrency: u64) -> Result<Option<ServingWorkload>> {
        if !self.enabled() {
            if self.concurrency.is_some() || self.request_rate.is_some() {
                return Err(Error::input(
                    "isl",
                    "--concurrency/--request-rate need --isl and --osl (e.g. --isl 8k --osl 1k)",
                ));
            }
            return Ok(None);
        }
        let (Some(isl), Some(osl)) = (&self.isl, &self.osl) else {
            let missing = if self.isl.is_none() { "isl" } else { "osl" };
            return Err(Error::input(
                missing,
                "the serving simulation needs both --isl and --osl (e.g. --isl 8k --osl 1k)",
            ));
        };
        let isl = parse_tokens(isl, "isl")?;
        let osl = parse_tokens(osl, "osl")?;
        let arrival = match (self.request_rate, self.concurrency) {
            (Some(r), cap) => Arrival::Rate {
                per_second: r,
                burstiness: self.burstiness,
                max_concurrency: cap,
            },
            (None, Some(c)) => Arrival::Concurrency(c),
            (None, None) => Arrival::Concurrency(default_concurrency.max(1)),
        };
        Ok(Some(ServingWorkload {
            isl,
            osl,
            random_range_ratio: self.random_range_ratio,
            arrival,
            num_requests: self.num_requests,
            prefix_cache_hit: self.prefix_cache_hit,
            seed: self.seed,
        }))
    }
}
