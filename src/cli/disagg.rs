//! The disaggregated-serving flags of `estimate` (`--disagg`, `--prefill-*`, `--decode-*`).

use crate::error::{Error, Result};
use crate::serving::disagg::{DisaggRequest, PoolRequest};
use clap::Args;

/// A disaggregated deployment: P prefill workers and D decode workers, each with its own layout.
#[derive(Debug, Clone, Default, Args)]
pub struct DisaggArgs {
    /// Serve disaggregated: prefill and decode on separate workers (--prefill-*/--decode-* give the pools; --gpus names the GPU kind and node size; needs --isl/--osl).
    #[arg(long)]
    pub disagg: bool,
    /// Prefill workers (with --disagg).
    #[arg(long = "prefill-workers")]
    pub prefill_workers: Option<u64>,
    /// Tensor parallel of one prefill worker (default 1).
    #[arg(long = "prefill-tp")]
    pub prefill_tp: Option<u64>,
    /// Pipeline stages of one prefill worker (default 1).
    #[arg(long = "prefill-pp")]
    pub prefill_pp: Option<u64>,
    /// Attention data-parallel ranks of one prefill worker (default 1).
    #[arg(long = "prefill-dp")]
    pub prefill_dp: Option<u64>,
    /// Expert parallel of one prefill worker (default 1).
    #[arg(long = "prefill-ep")]
    pub prefill_ep: Option<u64>,
    /// Running-sequence cap per attention-DP rank of a prefill worker (default: the engine's).
    #[arg(long = "prefill-batch")]
    pub prefill_batch: Option<u64>,
    /// Decode workers (with --disagg).
    #[arg(long = "decode-workers")]
    pub decode_workers: Option<u64>,
    /// Tensor parallel of one decode worker (default 1).
    #[arg(long = "decode-tp")]
    pub decode_tp: Option<u64>,
    /// Pipeline stages of one decode worker (default 1).
    #[arg(long = "decode-pp")]
    pub decode_pp: Option<u64>,
    /// Attention data-parallel ranks of one decode worker (default 1).
    #[arg(long = "decode-dp")]
    pub decode_dp: Option<u64>,
    /// Expert parallel of one decode worker (default 1).
    #[arg(long = "decode-ep")]
    pub decode_ep: Option<u64>,
    /// Running-sequence cap per attention-DP rank of a decode worker (default: the engine's).
    #[arg(long = "decode-batch")]
    pub decode_batch: Option<u64>,
}

impl DisaggArgs {
    fn any_pool_flag(&self) -> Option<&'static str> {
        [
            ("prefill-workers", self.prefill_workers),
            ("prefill-tp", self.prefill_tp),
            ("prefill-pp", self.prefill_pp),
            ("prefill-dp", self.prefill_dp),
            ("prefill-ep", self.prefill_ep),
            ("prefill-batch", self.prefill_batch),
            ("decode-workers", self.decode_workers),
            ("decode-tp", self.decode_tp),
            ("decode-pp", self.decode_pp),
            ("decode-dp", self.decode_dp),
            ("decode-ep", self.decode_ep),
            ("decode-batch", self.decode_batch),
        ]
        .into_iter()
        .find(|(_, v)| v.is_some())
        .map(|(n, _)| n)
    }

    /// The deployment, or None without --disagg; errors name the flag.
    pub fn request(&self) -> Result<Option<DisaggRequest>> {
        if !self.disagg {
            if let Some(flag) = self.any_pool_flag() {
                return Err(Error::input(
                    flag,
                    format!("--{flag} describes a disaggregated pool: add --disagg"),
                ));
            }
            return Ok(None);
        }
        let workers = |v: Option<u64>, pool: &str| -> Result<u64> {
            v.ok_or_else(|| {
                Error::input(
                    format!("{pool}-workers"),
                    format!("--disagg needs --{pool}-workers N (how many {pool} workers)"),
                )
            })
        };
        Ok(Some(DisaggRequest {
            prefill: PoolRequest {
                workers: workers(self.prefill_workers, "prefill")?,
                tp: self.prefill_tp,
                pp: self.prefill_pp,
                dp: self.prefill_dp,
                ep: self.prefill_ep,
                batch: self.prefill_batch,
            },
            decode: PoolRequest {
                workers: workers(self.decode_workers, "decode")?,
                tp: self.decode_tp,
                pp: self.decode_pp,
                dp: self.decode_dp,
                ep: self.decode_ep,
                batch: self.decode_batch,
            },
        }))
    }
}
