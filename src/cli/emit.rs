//! `--emit` on `estimate` and `plan`: the flags, and printing the launch
//! next to the usual output. The commands themselves come from `crate::emit`.

use super::ScenarioArgs;
use crate::emit::{emit, EmitOptions, Launch, Target};
use crate::error::Result;
use crate::perf::Efficiency;
use crate::scenario::Scenario;
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

    /// The scenario flags with `--engine` set to the emitted engine, so the
    /// expected log lines follow that engine's arithmetic; a note when this
    /// replaced another `--engine`.
    pub fn align(&self, s: &ScenarioArgs) -> Result<(ScenarioArgs, Option<String>)> {
        let mut out = s.clone();
        let Some(t) = self.target()? else {
            return Ok((out, None));
        };
        let note = (!s.engine.name.eq_ignore_ascii_case(t.name())).then(|| {
            format!(
                "--emit {} uses kvplan's {} engine profile (not --engine {})",
                t.name(),
                t.name(),
                s.engine
            )
        });
        out.engine = crate::spec::engine_id::EngineId {
            name: t.name().into(),
            version: None,
        };
        Ok((out, note))
    }

    /// The emit options these flags give.
    pub fn options(&self) -> EmitOptions {
        EmitOptions {
            input_len: self.input_len,
            output_len: self.output_len,
            ..EmitOptions::default()
        }
    }

    /// Emit for `s` when `--emit` was given.
    pub fn launch(
        &self,
        s: &Scenario,
        eff: &Efficiency,
        tokens_per_step: f64,
    ) -> Result<Option<Launch>> {
        let Some(t) = self.target()? else {
            return Ok(None);
        };
        emit(s, eff, tokens_per_step, t, &self.options()).map(Some)
    }
}

/// A JSON value with the launch added under `launch`.
pub fn with_launch<T: serde::Serialize>(
    v: &T,
    launch: &Option<Launch>,
) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(v).map_err(|e| crate::Error::Environment(e.to_string()))?;
    if let (Some(l), serde_json::Value::Object(o)) = (launch, &mut v) {
        o.insert(
            "launch".into(),
            serde_json::to_value(l).map_err(|e| crate::Error::Environment(e.to_string()))?,
        );
    }
    Ok(v)
}

/// The launch as the table/markdown outputs print it.
pub fn print_launch(l: &Launch, markdown: bool) {
    if markdown {
        println!("\n```sh\n{}```", l.to_text());
    } else {
        println!("\n{}", l.to_text());
    }
}
