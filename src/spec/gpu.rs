//! GPU specifications (gpu-specs/*.yaml): memory, bandwidth, dense matrix
//! rates per dtype and the GPU-to-GPU link. All rates are DENSE datasheet
//! figures; measured efficiencies come from calibration profiles.

use super::dtype::{Arch, KvDtype, WeightFormat};
use serde::{Deserialize, Serialize};

/// One GPU model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuSpec {
    /// Canonical name typed in `--gpus` (e.g. `H800`).
    pub name: String,
    /// Full marketing name.
    pub display_name: String,
    /// Other spellings that resolve to this GPU.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `nvidia` or `amd`.
    pub vendor: String,
    /// Architecture generation (decides fp8/fp4 support).
    pub arch: Arch,
    /// Memory as the vendor labels it, GB.
    pub memory_gb_vendor: f64,
    /// Memory used for planning, bytes (measured CUDA-visible where known).
    pub memory_bytes: u64,
    /// How `memory_bytes` was obtained.
    pub memory_bytes_source: String,
    /// The device total CUDA reports (`cudaMemGetInfo`, `torch.cuda.mem_get_info`
    /// — what vLLM, SGLang and TensorRT-LLM size their budgets from), bytes,
    /// where a real engine log gives it; the driver keeps the rest of
    /// `memory_bytes`. Engines' arithmetic uses this; displays keep the
    /// datasheet figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_visible_bytes: Option<u64>,
    /// Where `cuda_visible_bytes` was read (the log line and its source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_visible_source: Option<String>,
    /// Peak memory bandwidth, decimal TB/s.
    pub memory_bandwidth_tbps: f64,
    /// Dense bf16 tensor rate, TFLOP/s.
    pub bf16_tflops: f64,
    /// Dense fp16 tensor rate (fp32 accumulate), TFLOP/s.
    pub fp16_tflops: f64,
    /// Dense fp8 tensor rate, TFLOP/s (None: no fp8 tensor cores).
    #[serde(default)]
    pub fp8_tflops: Option<f64>,
    /// Dense int8 tensor rate, TOP/s.
    #[serde(default)]
    pub int8_tops: Option<f64>,
    /// Dense fp4 tensor rate, TFLOP/s (Blackwell only).
    #[serde(default)]
    pub fp4_tflops: Option<f64>,
    /// GPU-to-GPU link inside a node.
    pub interconnect: Interconnect,
    /// PCIe generation (None where the GPU hangs off a C2C link).
    #[serde(default)]
    pub pcie_gen: Option<u32>,
    /// PCIe lanes.
    #[serde(default)]
    pub pcie_lanes: Option<u32>,
    /// Board power, W.
    pub power_w: f64,
    /// How well the row is backed (V vendor, M measured, P press, R recalled).
    pub backing: String,
}

/// The intra-node GPU link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interconnect {
    /// `nvlink`, `nvlink-bridge`, `infinity-fabric` or `pcie`.
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Vendor's bidirectional per-GPU figure, GB/s.
    pub bidir_gb_per_s: f64,
    /// GPUs in one link domain.
    pub max_gpus: u64,
}

impl GpuSpec {
    /// The memory an engine sizes its budget from: the CUDA-visible total
    /// where known, else `memory_bytes`.
    pub fn engine_memory_bytes(&self) -> u64 {
        self.cuda_visible_bytes.unwrap_or(self.memory_bytes)
    }

    /// Peak memory bandwidth in bytes/s.
    pub fn bandwidth_bytes_per_s(&self) -> f64 {
        self.memory_bandwidth_tbps * 1e12
    }

    /// One-direction link bandwidth in bytes/s (half the bidirectional figure).
    pub fn link_uni_bytes_per_s(&self) -> f64 {
        self.interconnect.bidir_gb_per_s * 1e9 / 2.0
    }

    /// Dense matrix rate (FLOP/s) for GEMMs whose weights are stored in
    /// `w` with activations in 16 bits: fp8 math where the GPU has it and
    /// the format is fp8, fp4 math on Blackwell for NVFP4 (weights and
    /// activations in fp4), fp8 math for MXFP4 (8-bit activations), int8 where
    /// available; weight-only formats (int4, nf4, or fp8 on Ampere) run at
    /// the 16-bit rate after dequantization.
    pub fn matmul_flops(&self, w: WeightFormat) -> f64 {
        let bf16 = self.bf16_tflops * 1e12;
        let t = |x: Option<f64>| x.map(|v| v * 1e12);
        match w {
            WeightFormat::Fp8 | WeightFormat::Fp8Block => t(self.fp8_tflops).unwrap_or(bf16),
            WeightFormat::Int8 => t(self.int8_tops).unwrap_or(bf16),
            // MXFP4 checkpoints (gpt-oss) run their GEMMs with MXFP8 or
            // 16-bit activations, not fp4 ones: a mixed fp4 × fp8 MMA runs
            // at the fp8 rate (PTX `tcgen05.mma` kind::f8f6f4), the fp4
            // rate needs both operands in fp4 (kind::mxf4). Engines:
            // TensorRT-LLM's W4A8_MXFP4_MXFP8 MoE, vLLM's
            // mxfp4_mxfp8 / mxfp4_w4a16 MoE quant configs (mxfp4.py).
            WeightFormat::Mxfp4 if self.arch.has_fp4() => t(self.fp8_tflops).unwrap_or(bf16),
            // MX block-scaled fp8 GEMMs need Blackwell / CDNA 4 (the GPUs
            // with MX formats); elsewhere engines dequantize to 16 bits.
            WeightFormat::Mxfp8 if self.arch.has_fp4() => t(self.fp8_tflops).unwrap_or(bf16),
            WeightFormat::Nvfp4 if self.arch == Arch::Blackwell => {
                t(self.fp4_tflops).unwrap_or(bf16)
            }
            WeightFormat::Fp32 => bf16 / 2.0,
            _ => bf16,
        }
    }

    /// Whether the GPU computes natively in `w` (not just stores it).
    pub fn supports_weights(&self, w: WeightFormat) -> bool {
        match w {
            WeightFormat::Fp8 | WeightFormat::Fp8Block => self.arch.has_fp8(),
            WeightFormat::Mxfp4 | WeightFormat::Mxfp8 => self.arch.has_fp4(),
            // NVFP4 (block 16, fp8 scales) is NVIDIA's; CDNA 4 runs MXFP4 only.
            WeightFormat::Nvfp4 => self.arch == Arch::Blackwell,
            _ => true,
        }
    }

    /// Whether engines offer this KV dtype on the GPU (fp8 KV needs fp8 support).
    pub fn supports_kv(&self, k: KvDtype) -> bool {
        match k {
            KvDtype::Fp8 => self.arch.has_fp8(),
            _ => true,
        }
    }
}
