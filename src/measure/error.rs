//! The probe's one error type: every failure says what was missing or refused
//! and, where there is one, how to fix it. Nothing in the probe panics on a
//! machine without a GPU; it returns one of these instead.

use std::fmt;

/// Why a probe could not run (or could not finish).
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeError {
    /// A driver or CUDA library could not be loaded (no NVIDIA driver, or the
    /// CUDA toolkit library is not on the loader path).
    MissingLibrary {
        /// File name that was looked for, e.g. `libcuda.so`.
        library: String,
        /// What to do about it.
        hint: String,
    },
    /// The requested GPU index does not exist.
    NoSuchDevice {
        /// Index asked for.
        requested: usize,
        /// How many GPUs the driver sees.
        available: usize,
    },
    /// The plan (plus the safety margin) does not fit in the GPU's free memory;
    /// refused before allocating anything.
    InsufficientMemory {
        /// Bytes the probe would allocate (weights + KV cache + scratch).
        requested_bytes: u64,
        /// Bytes the caller asked to leave free.
        safety_margin_bytes: u64,
        /// Bytes free on the device when the probe started.
        free_bytes: u64,
    },
    /// The driver refused an allocation (CUDA_ERROR_OUT_OF_MEMORY).
    OutOfMemory {
        /// Which buffer.
        what: String,
        /// Bytes asked for.
        requested_bytes: u64,
        /// Bytes free at the moment of the refusal.
        free_bytes: u64,
    },
    /// The request itself is inconsistent (zero sizes, a KV cache too small
    /// for batch × context × layers, an unsupported head size, ...).
    InvalidRequest(String),
    /// A CUDA driver call failed.
    Cuda {
        /// What the probe was doing.
        during: String,
        /// The driver's error.
        message: String,
    },
    /// NVRTC failed to compile one of the probe's kernels.
    Compile {
        /// The compiler log.
        log: String,
    },
    /// A cuBLAS / cuBLASLt call failed.
    Blas {
        /// What the probe was doing.
        during: String,
        /// The library's status.
        message: String,
    },
    /// An NCCL call failed.
    Nccl {
        /// What the probe was doing.
        during: String,
        /// The library's status.
        message: String,
    },
    /// NVML failed (other than "library missing").
    Nvml {
        /// What the probe was doing.
        during: String,
        /// NVML's error.
        message: String,
    },
    /// A kernel's output disagreed with the CPU float64 reference: timings of
    /// a wrong kernel are meaningless, so the probe stops.
    SelfCheckFailed {
        /// Which kernel.
        kernel: String,
        /// ‖out − ref‖ / ‖ref‖.
        relative_error: f64,
        /// The threshold it had to stay under.
        threshold: f64,
    },
}

impl ProbeError {
    /// A failed CUDA driver call during `during` (used by the GPU side).
    pub fn cuda(during: impl Into<String>, err: impl fmt::Debug) -> Self {
        ProbeError::Cuda {
            during: during.into(),
            message: format!("{err:?}"),
        }
    }
    /// A failed cuBLAS / cuBLASLt call during `during`.
    pub fn blas(during: impl Into<String>, err: impl fmt::Debug) -> Self {
        ProbeError::Blas {
            during: during.into(),
            message: format!("{err:?}"),
        }
    }
    /// A failed NCCL call during `during`.
    pub fn nccl(during: impl Into<String>, err: impl fmt::Debug) -> Self {
        ProbeError::Nccl {
            during: during.into(),
            message: format!("{err:?}"),
        }
    }
}

fn gib(b: u64) -> f64 {
    b as f64 / (1u64 << 30) as f64
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::MissingLibrary { library, hint } => {
                write!(f, "{library} could not be loaded: {hint}")
            }
            ProbeError::NoSuchDevice {
                requested,
                available,
            } => write!(
                f,
                "GPU {requested} does not exist: the driver sees {available} GPU(s) (indices 0..{available})"
            ),
            ProbeError::InsufficientMemory {
                requested_bytes,
                safety_margin_bytes,
                free_bytes,
            } => write!(
                f,
                "the plan does not fit: it needs {:.2} GiB plus a {:.2} GiB safety margin, but only {:.2} GiB is free on the GPU (short by {:.2} GiB); \
                 lower the batch, the context or the KV cache, or shard over more GPUs",
                gib(*requested_bytes),
                gib(*safety_margin_bytes),
                gib(*free_bytes),
                gib((requested_bytes + safety_margin_bytes).saturating_sub(*free_bytes))
            ),
            ProbeError::OutOfMemory {
                what,
                requested_bytes,
                free_bytes,
            } => write!(
                f,
                "out of GPU memory allocating {what}: asked for {:.2} GiB ({requested_bytes} B) with {:.2} GiB ({free_bytes} B) free",
                gib(*requested_bytes),
                gib(*free_bytes)
            ),
            ProbeError::InvalidRequest(why) => write!(f, "invalid probe request: {why}"),
            ProbeError::Cuda { during, message } => write!(f, "CUDA error while {during}: {message}"),
            ProbeError::Compile { log } => write!(f, "NVRTC could not compile the probe kernels:\n{log}"),
            ProbeError::Blas { during, message } => write!(f, "cuBLAS error while {during}: {message}"),
            ProbeError::Nccl { during, message } => write!(f, "NCCL error while {during}: {message}"),
            ProbeError::Nvml { during, message } => write!(f, "NVML error while {during}: {message}"),
            ProbeError::SelfCheckFailed {
                kernel,
                relative_error,
                threshold,
            } => write!(
                f,
                "self-check failed for {kernel}: relative error {relative_error:.3e} against the CPU float64 reference exceeds {threshold:.1e}"
            ),
        }
    }
}

impl std::error::Error for ProbeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insufficient_memory_message_names_sizes_and_shortfall() {
        let e = ProbeError::InsufficientMemory {
            requested_bytes: 150 << 30,
            safety_margin_bytes: 2 << 30,
            free_bytes: 139 << 30,
        };
        let s = e.to_string();
        assert!(s.contains("150.00 GiB"), "{s}");
        assert!(s.contains("2.00 GiB"), "{s}");
        assert!(s.contains("139.00 GiB"), "{s}");
        assert!(s.contains("short by 13.00 GiB"), "{s}");
    }
}
