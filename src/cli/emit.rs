//! `--emit` on `estimate` and `plan`: the flags, and printing the launch
//! next to the usual output. The commands themselves come from `crate::emit`.

use super::ScenarioArgs;
use crate::emit::{EmitOptions, Launch, Target};
use crate::error::Result;
use crate::ops::{EmitRequest, Extras};
use clap::Args;

/// Flags of `--emit` (shared by estimate and plan).
#[derive(Debug, Clone, Default, Args)]
pub struct EmitArgs {
    /// Print the launch command(s) of this deployment for an engine (vllm, sglang, trtllm), the start-up lines kvplan expects it to log, and a matching benchmark command. Sets --engine to the same engine.
    #[arg(long)]
    pub emit: Option<String>,
    /// Benchmark prompt tokens for --emit (default: the context minus the output).
    #[arg(long = "input-len")]
    pub input_len: Option<u64>,
    /// Benchmark output tokens for --emit (default: min(1024, context / 4)).
    #[arg(long = "output-len")]
    pub output_len: Option<u64>,
}

impl EmitArgs {
    /// The engine to emit for, parsed.
    pub fn target(&self) -> Result<Option<Target>> {
        self.emit.as_deref().map(Target::parse).transpose()
    }

    /// What estimate/plan do beyond the report: `--emit`, and the
    /// deployment profile `--profile` names, if it is one.
    pub fn extras(&self, s: &ScenarioArgs) -> Result<Extras> {
        Ok(Extras {
            emit: self.target()?.map(|target| EmitRequest {
                target,
                options: self.options(),
            }),
            deployment: super::reconcile::deployment_profile(s)?,
            serving: None,
            disagg: None,
        })
    }

    /// The emit options these flags give.
    pub fn options(&self) -> EmitOptions {
        EmitOptions {
            input_len: self.input_len,
            output_len: self.output_len,
            ..EmitOptions::default()
        }
    }
}

/// The launch as the table/markdown outputs print it.
pub fn print_launch(l: &Launch, markdown: bool) -> crate::error::Result<()> {
    if markdown {
        crate::outln!("\n```sh\n{}```", l.to_text());
    } else {
        crate::outln!("\n{}", l.to_text());
    }
    Ok(())
}
