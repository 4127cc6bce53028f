//! kvplan: plan LLM serving on GPUs — memory, KV cache, speed and parallelism.
//!
//! The crate is a pure core (spec types, memory and speed models, the plan
//! search, the probe's data and arithmetic in [`measure`], chart data in
//! [`report::series`]) with thin edges (CLI, web server, chart renderer, GPU
//! probe, Hugging Face Hub). Nothing in the core reads files or prints; see
//! README.md "Architecture".
//!
//! The edges sit behind cargo features, all on by default: `gpu` ([`probe`]:
//! NVML + cudarc), `server` ([`server`]: axum + tokio), `plot`
//! (`report::plot`: plotters), `hub` ([`hub`]: hf-hub + ureq). The compiler
//! enforces the layering: `cargo test --no-default-features` builds and tests
//! the core without any of them, so no core module can import an edge.

pub mod calibration;
pub mod cli;
pub mod deadline;
pub mod emit;
pub mod error;
pub mod estimate;
pub mod files;
#[cfg(feature = "hub")]
pub mod hub;
pub mod measure;
pub mod memory;
pub mod ops;
pub mod perf;
pub mod plan;
#[cfg(feature = "gpu")]
pub mod probe;
pub mod reconcile;
pub mod report;
pub mod request;
pub mod scenario;
#[cfg(feature = "server")]
pub mod server;
pub mod serving;
pub mod spec;
pub mod units;
pub mod yaml;

pub use error::{Error, Result};
