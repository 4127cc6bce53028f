//! The GPU probe: proves a plan on the real GPU.
//!
//! Three entry points, all of which return a [`ProbeError`] (never panic, never
//! hang) on a machine without an NVIDIA driver or GPU:
//!
//! - [`inventory`]: what NVML sees (driver, CUDA version, each GPU's memory,
//!   clocks, PCIe link, power limit, NVLinks).
//! - [`run`]: allocates this GPU's weight shard and KV cache for real, fills
//!   them with non-zero data, checks its attention kernels against a CPU float64
//!   reference, then times with CUDA events (median of many runs): memory
//!   bandwidth (a 16-byte-load read kernel and a device-to-device copy), the
//!   decode layer's GEMMs at M = batch (cuBLAS and cuBLASLt, autotuned; a
//!   shape with several matrices, e.g. routed experts, as one strided-batched
//!   GEMM at M = its `rows`), decode attention over the cache (GQA: a split-K
//!   flash-decoding kernel of our own; MLA: latent attention through cuBLAS
//!   batched GEMMs and a softmax kernel), a whole synthetic decode step of the
//!   shard (eager, and replayed from a CUDA graph), and the fixed cost of one
//!   kernel inside and outside a graph. It returns a
//!   [`ProbeReport`] with achieved bytes/s and FLOP/s, efficiencies, and
//!   measured-vs-predicted where the caller gave predictions.
//! - [`allreduce_bandwidth`]: NCCL all-reduce bus bandwidth over several GPUs.
//!
//! The pure parts (request, report and sample types, byte and FLOP
//! accounting, weight layout, CPU references, the scenario → request
//! translation) live in the core, [`crate::measure`], re-exported here; this
//! module holds only the GPU side (NVML, NVRTC kernels, cuBLAS, NCCL) and is
//! built with the `gpu` feature.

mod blas;
mod gpu;
mod inventory;
mod kernels;
mod nccl;

pub use crate::measure::*;
pub use inventory::{inventory, GpuInfo, Inventory};
pub use nccl::allreduce_bandwidth;

/// Probe one GPU with the shard a plan puts there; see the module docs.
///
/// `progress` receives [`ProbeEvent`]s for the CLI's progress display.
pub fn run(
    req: &ProbeRequest,
    progress: &mut dyn FnMut(ProbeEvent),
) -> Result<ProbeReport, ProbeError> {
    math::validate(req)?;
    gpu::run(req, progress)
}
