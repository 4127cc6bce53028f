//! kvplan: plan LLM serving on GPUs — memory, KV cache, speed and parallelism.
//!
//! The crate is a pure core (spec types, memory and speed models, the plan
//! search) with thin edges (CLI, web server, renderers, GPU probe). Nothing in
//! the core reads files or prints; see README.md "Architecture".

pub mod error;
pub mod memory;
pub mod scenario;
pub mod spec;
pub mod units;
pub mod yaml;

pub use error::{Error, Result};
pub mod cli;
pub mod estimate;
pub mod perf;
pub mod plan;
pub mod report;
pub mod request;
pub mod server;
