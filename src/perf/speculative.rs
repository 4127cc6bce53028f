//! Speculative decoding with the checkpoint's multi-token-prediction (MTP)
//! module, as every decode accounting in kvplan sees it: the per-step speed
//! model, the iteration-cost function and the serving simulators all read
//! it from here.
//!
//! With MTP on, one decode iteration of a sequence
//!
//! - runs `draft_tokens` draft passes of the MTP module (each one token per
//!   sequence through the MTP decoder layer and the shared output head),
//! - verifies `draft_tokens + 1` tokens per sequence in one forward pass of
//!   the target model (every GEMM and attention query sees k + 1 tokens; the
//!   cached context is read once per sequence),
//! - and keeps, on average, `tokens_per_step` of them.
//!
//! The acceptance model: each draft token is accepted with the deployment's
//! `mtp_acceptance` a, and only while every draft before it was accepted
//! (the first rejection ends the step), so a step emits the verified token
//! plus the accepted run: 1 + a + a² + … + a^k = (1 − a^(k+1)) / (1 − a)
//! (Leviathan, Kalman, Matias, "Fast Inference from Transformers via
//! Speculative Decoding", ICML 2023, eq. 1). With one draft, 1 + a.
//! The default acceptance, 0.85, is the lower end of the 85–90 % acceptance
//! of the second token that the DeepSeek-V3 Technical Report measured for
//! its one MTP module (arXiv:2412.19437, §5.4.3 "Multi-Token Prediction
//! Evaluation"). The number of drafts is the deployment's `mtp_draft_tokens`
//! (`--mtp-draft-tokens`: SGLang `--speculative-num-steps`, TensorRT-LLM
//! `num_nextn_predict_layers`), by default the checkpoint's MTP module count
//! (`num_nextn_predict_layers`, 1 for DeepSeek-V3/R1): what vLLM drafts for
//! `deepseek_mtp` when `num_speculative_tokens` is not given (it takes the
//! draft config's `n_predict`, vllm/config/speculative.py). More drafts than
//! modules re-apply the last module, one pass each.

use crate::scenario::Scenario;

/// Acceptance of each MTP draft token when none is given: the lower end of
/// the DeepSeek-V3 Technical Report's 85–90 % (arXiv:2412.19437, §5.4.3).
pub const DEFAULT_MTP_ACCEPTANCE: f64 = 0.85;

/// Speculative decoding of one deployment: how many tokens a decode
/// iteration drafts, verifies and keeps per sequence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speculation {
    /// Draft tokens proposed per sequence and iteration (k).
    pub draft_tokens: u64,
    /// Probability that one draft token is accepted (0–1).
    pub acceptance: f64,
}

impl Speculation {
    /// No speculation: one token per sequence and iteration.
    pub const NONE: Speculation = Speculation {
        draft_tokens: 0,
        acceptance: 0.0,
    };

    /// The speculation `s` runs: the MTP module's drafts when `--mtp` is on
    /// (and the model has one), none otherwise.
    pub fn of(s: &Scenario) -> Speculation {
        let d = &s.deployment;
        if d.mtp && s.model.mtp_layers > 0 {
            Speculation {
                draft_tokens: if d.mtp_draft_tokens > 0 {
                    d.mtp_draft_tokens
                } else {
                    s.model.mtp_layers
                },
                acceptance: d.mtp_acceptance.clamp(0.0, 1.0),
            }
        } else {
            Speculation::NONE
        }
    }

    /// Whether draft passes run.
    pub fn is_on(&self) -> bool {
        self.draft_tokens > 0
    }

    /// Expected output tokens per sequence and decode iteration:
    /// 1 + a + … + a^k for k drafts accepted with a each, in order (1
    /// without speculation, 1 + a with one draft).
    pub fn tokens_per_step(&self) -> f64 {
        let (mut total, mut run) = (1.0, 1.0);
        for _ in 0..self.draft_tokens {
            run *= self.acceptance;
            total += run;
        }
        total
    }

    /// Tokens per sequence the target model verifies in one decode
    /// iteration (k + 1; 1 without speculation).
    pub fn verify_tokens(&self) -> f64 {
        (self.draft_tokens + 1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_per_step_by_hand() {
        let s = Speculation {
            draft_tokens: 1,
            acceptance: 0.85,
        };
        assert!((s.tokens_per_step() - 1.85).abs() < 1e-12);
        assert_eq!(s.verify_tokens(), 2.0);
        assert_eq!(Speculation::NONE.tokens_per_step(), 1.0);
        // Three drafts at 0.5: 1 + 0.5 + 0.25 + 0.125 (a rejection ends the run).
        let three = Speculation {
            draft_tokens: 3,
            acceptance: 0.5,
        };
        assert_eq!(three.tokens_per_step(), 1.875);
        assert_eq!(three.verify_tokens(), 4.0);
        assert_eq!(Speculation::NONE.verify_tokens(), 1.0);
        assert!(!Speculation::NONE.is_on());
    }
}
