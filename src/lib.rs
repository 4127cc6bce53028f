//! kvplan: plan LLM serving on GPUs — memory, KV cache, speed and parallelism.
//!
//! The crate is a pure core (spec types, memory and speed models, the plan
//! search) with thin edges (CLI, web server, renderers, GPU probe). Nothing in
//! the core reads files or prints; see README.md "Architecture".

pub mod calibration;
pub mod probe;
