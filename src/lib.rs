//! kvplan: plan LLM serving on GPUs — memory, KV cache, speed and parallelism.
//!
//! The crate is a pure core (spec types, memory and speed models, the plan
//! search) with thin edges (CLI, web server, renderers, GPU probe). Nothing in
//! the core reads files or prints; see README.md "Architecture".

pub mod calibration;
pub mod cli;
pub mod error;
pub mod estimate;
pub mod memory;
pub mod perf;
pub mod plan;
pub mod probe;
pub mod report;
pub mod request;
pub mod scenario;
pub mod server;
pub mod serving;
pub mod spec;
pub mod units;
pub mod yaml;

pub use error::{Error, Result};
