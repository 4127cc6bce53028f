//! Number formats: how weights are stored (with real quantization layouts)
//! and how the KV cache is stored. Byte counts here are exact per tensor,
//! including scales, zero points and index tensors, so weight totals are right
//! to the byte for a given checkpoint layout.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Storage format of the model's weights (`--weights`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum WeightFormat {
    /// 32-bit float (a few base checkpoints, e.g. gemma-2-2b, ship this).
    Fp32,
    /// bfloat16, 2 bytes per parameter.
    Bf16,
    /// float16, 2 bytes per parameter.
    Fp16,
    /// FP8 e4m3 with one fp32 scale per tensor (vLLM `fp8`, ModelOpt FP8).
    Fp8,
    /// FP8 e4m3 with one fp32 scale per 128×128 block (DeepSeek-V3, Qwen3-FP8).
    Fp8Block,
    /// INT8 weights with one bf16 scale per output channel (W8A8/W8A16).
    Int8,
    /// 4-bit AWQ, group 128 along the input: fp16 scale + 4-bit zero per group.
    Int4,
    /// 4-bit GPTQ, group 128: fp16 scale + 4-bit zero per group + int32 g_idx per input row.
    Int4Gptq,
    /// bitsandbytes NF4: 4-bit codes + one fp32 absmax per 64 values (no double quantization).
    Nf4,
    /// OCP MXFP4: 4-bit e2m1 + one e8m0 (1 byte) scale per 32 values (gpt-oss).
    Mxfp4,
    /// NVIDIA NVFP4: 4-bit e2m1 + one fp8 scale per 16 values + an fp32 global scale per tensor.
    Nvfp4,
}

impl WeightFormat {
    /// Every format, for listings and the plan search.
    pub const ALL: [WeightFormat; 11] = [
        WeightFormat::Fp32,
        WeightFormat::Bf16,
        WeightFormat::Fp16,
        WeightFormat::Fp8,
        WeightFormat::Fp8Block,
        WeightFormat::Int8,
        WeightFormat::Int4,
        WeightFormat::Int4Gptq,
        WeightFormat::Nf4,
        WeightFormat::Mxfp4,
        WeightFormat::Nvfp4,
    ];

    /// The name users type (`--weights fp8-block`).
    pub fn name(self) -> &'static str {
        match self {
            WeightFormat::Fp32 => "fp32",
            WeightFormat::Bf16 => "bf16",
            WeightFormat::Fp16 => "fp16",
            WeightFormat::Fp8 => "fp8",
            WeightFormat::Fp8Block => "fp8-block",
            WeightFormat::Int8 => "int8",
            WeightFormat::Int4 => "int4",
            WeightFormat::Int4Gptq => "int4-gptq",
            WeightFormat::Nf4 => "nf4",
            WeightFormat::Mxfp4 => "mxfp4",
            WeightFormat::Nvfp4 => "nvfp4",
        }
    }

    /// Parse the user's spelling; errors list the valid names.
    pub fn parse(text: &str, field: &str) -> Result<Self> {
        let t = text.trim().to_ascii_lowercase().replace('_', "-");
        let alias = match t.as_str() {
            "bfloat16" => "bf16",
            "float16" | "half" => "fp16",
            "float32" => "fp32",
            "fp8-128" | "fp8-block128" | "fp8block" => "fp8-block",
            "awq" | "int4-awq" | "w4a16" => "int4",
            "gptq" | "gptq-int4" => "int4-gptq",
            "w8a8" | "w8a16" | "int8-channel" => "int8",
            "bnb-nf4" => "nf4",
            other => other,
        };
        WeightFormat::ALL
            .into_iter()
            .find(|f| f.name() == alias)
            .ok_or_else(|| {
                let names: Vec<&str> = WeightFormat::ALL.iter().map(|f| f.name()).collect();
                Error::input(
                    field,
                    format!(
                        "unknown weight format '{text}'; valid: {}",
                        names.join(", ")
                    ),
                )
            })
    }

    /// True when the format stores linear weights in fewer than 16 bits.
    pub fn is_quantized(self) -> bool {
        !matches!(
            self,
            WeightFormat::Fp32 | WeightFormat::Bf16 | WeightFormat::Fp16
        )
    }

    /// Exact bytes of one linear weight matrix of `out × inp` in this format,
    /// scales, zero points and index tensors included.
    pub fn linear_bytes(self, out: u64, inp: u64) -> u64 {
        let n = out * inp;
        let groups = |g: u64| inp.div_ceil(g) * out;
        match self {
            WeightFormat::Fp32 => n * 4,
            WeightFormat::Bf16 | WeightFormat::Fp16 => n * 2,
            // fp8 e4m3 + one fp32 weight scale per tensor (dynamic activation scales).
            WeightFormat::Fp8 => n + 4,
            // fp8 e4m3 + fp32 `weight_scale_inv` of shape [ceil(out/128), ceil(in/128)].
            WeightFormat::Fp8Block => n + out.div_ceil(128) * inp.div_ceil(128) * 4,
            // int8 + one bf16 scale per output channel.
            WeightFormat::Int8 => n + out * 2,
            // AWQ gemm layout: qweight int32 [in, out/8], qzeros int32 [in/128, out/8],
            // scales fp16 [in/128, out]  => 0.5 B/param + 2.5 B per group.
            WeightFormat::Int4 => n.div_ceil(2) + groups(128) * 2 + groups(128).div_ceil(2),
            // GPTQ: same packing plus g_idx int32 [in].
            WeightFormat::Int4Gptq => {
                n.div_ceil(2) + groups(128) * 2 + groups(128).div_ceil(2) + inp * 4
            }
            // bitsandbytes NF4, blocksize 64, fp32 absmax, no double quantization.
            WeightFormat::Nf4 => n.div_ceil(2) + n.div_ceil(64) * 4,
            // OCP MX: e2m1 pairs packed in bytes + one e8m0 byte per 32 along the input.
            WeightFormat::Mxfp4 => n.div_ceil(2) + groups(32),
            // NVFP4: e2m1 + one e4m3 scale per 16 along the input + fp32 global scale.
            WeightFormat::Nvfp4 => n.div_ceil(2) + groups(16) + 4,
        }
    }

    /// Bytes of a parameter that stays unquantized (embeddings, norms,
    /// routers, biases) when the checkpoint uses this format.
    pub fn unquantized_bytes_per_param(self, native: DType) -> u64 {
        match self {
            WeightFormat::Fp32 => 4,
            WeightFormat::Fp16 => 2,
            WeightFormat::Bf16 => 2,
            // Quantized checkpoints keep the rest in the model's 16-bit dtype
            // (AWQ/GPTQ checkpoints are fp16, others bf16); fp32 natives are cast.
            _ => native.bytes().min(2),
        }
    }

    /// Smallest GPU architecture with tensor-core math for this format (the
    /// format can still be *stored* on older GPUs and upcast, at a cost).
    pub fn native_math_arch(self) -> Arch {
        match self {
            WeightFormat::Fp8 | WeightFormat::Fp8Block => Arch::Ada,
            WeightFormat::Mxfp4 | WeightFormat::Nvfp4 => Arch::Blackwell,
            _ => Arch::Volta,
        }
    }

    /// Bits per weight element of the main payload (for the speed model's
    /// choice of matrix rate).
    pub fn payload_bits(self) -> u32 {
        match self {
            WeightFormat::Fp32 => 32,
            WeightFormat::Bf16 | WeightFormat::Fp16 => 16,
            WeightFormat::Fp8 | WeightFormat::Fp8Block | WeightFormat::Int8 => 8,
            _ => 4,
        }
    }
}

impl fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Plain element types (model native dtype, activation dtype).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 32-bit float.
    Fp32,
    /// bfloat16.
    Bf16,
    /// float16.
    Fp16,
}

impl DType {
    /// Bytes per element.
    pub fn bytes(self) -> u64 {
        match self {
            DType::Fp32 => 4,
            DType::Bf16 | DType::Fp16 => 2,
        }
    }

    /// The matching unquantized weight format.
    pub fn as_weight_format(self) -> WeightFormat {
        match self {
            DType::Fp32 => WeightFormat::Fp32,
            DType::Bf16 => WeightFormat::Bf16,
            DType::Fp16 => WeightFormat::Fp16,
        }
    }

    /// HF `torch_dtype` spelling → DType.
    pub fn from_torch(name: &str) -> Option<Self> {
        match name {
            "bfloat16" => Some(DType::Bf16),
            "float16" | "half" => Some(DType::Fp16),
            "float32" | "float" => Some(DType::Fp32),
            _ => None,
        }
    }
}

/// Element type of the KV cache (`--kv-dtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum KvDtype {
    /// 32-bit float (only HF transformers with an fp32 model).
    Fp32,
    /// bfloat16.
    Bf16,
    /// float16.
    Fp16,
    /// FP8 e4m3 (engines add their own scales; see the engine profile).
    Fp8,
}

impl KvDtype {
    /// Every KV dtype, for the plan search.
    pub const ALL: [KvDtype; 4] = [KvDtype::Fp32, KvDtype::Bf16, KvDtype::Fp16, KvDtype::Fp8];

    /// Bytes per cached element.
    pub fn bytes(self) -> u64 {
        match self {
            KvDtype::Fp32 => 4,
            KvDtype::Bf16 | KvDtype::Fp16 => 2,
            KvDtype::Fp8 => 1,
        }
    }

    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            KvDtype::Fp32 => "fp32",
            KvDtype::Bf16 => "bf16",
            KvDtype::Fp16 => "fp16",
            KvDtype::Fp8 => "fp8",
        }
    }

    /// Parse `--kv-dtype`.
    pub fn parse(text: &str, field: &str) -> Result<Self> {
        let t = text.trim().to_ascii_lowercase();
        let t = match t.as_str() {
            "bfloat16" => "bf16",
            "float16" | "half" => "fp16",
            "fp8-e4m3" | "fp8_e4m3" | "e4m3" | "fp8e4m3" => "fp8",
            "float32" => "fp32",
            o => o,
        };
        KvDtype::ALL
            .into_iter()
            .find(|k| k.name() == t)
            .ok_or_else(|| {
                Error::input(
                    field,
                    format!("unknown KV dtype '{text}'; valid: bf16, fp16, fp8 (fp32 for HF only)"),
                )
            })
    }

    /// KV dtype an engine uses by default for a model of native dtype `d`.
    pub fn from_native(d: DType) -> Self {
        match d {
            DType::Fp32 => KvDtype::Fp32,
            DType::Bf16 => KvDtype::Bf16,
            DType::Fp16 => KvDtype::Fp16,
        }
    }
}

impl fmt::Display for KvDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// GPU architecture generations, ordered, for feature checks (fp8 needs Ada or
/// Hopper, fp4 math needs Blackwell).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// V100 and older tensor-core GPUs.
    Volta,
    /// A100, A10, A40, RTX 30.
    Ampere,
    /// L4, L40, L40S, RTX 40, RTX 6000 Ada.
    Ada,
    /// H100, H200, H800, H20.
    Hopper,
    /// B100, B200, GB200, RTX 50, RTX PRO 6000.
    Blackwell,
    /// AMD MI300X / MI325X (fp8 as e4m3fnuz; no fp4).
    Cdna3,
}

impl Arch {
    /// Whether the GPU has FP8 tensor-core math.
    pub fn has_fp8(self) -> bool {
        matches!(
            self,
            Arch::Ada | Arch::Hopper | Arch::Blackwell | Arch::Cdna3
        )
    }

    /// Whether the GPU has FP4 tensor-core math.
    pub fn has_fp4(self) -> bool {
        matches!(self, Arch::Blackwell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names() {
        assert_eq!(
            WeightFormat::parse("fp8-block", "w").unwrap(),
            WeightFormat::Fp8Block
        );
        assert_eq!(WeightFormat::parse("AWQ", "w").unwrap(), WeightFormat::Int4);
        let e = WeightFormat::parse("int3", "weights")
            .unwrap_err()
            .to_string();
        assert!(e.contains("weights") && e.contains("int4-gptq"), "{e}");
        assert_eq!(KvDtype::parse("fp8", "k").unwrap(), KvDtype::Fp8);
        assert!(KvDtype::parse("int2", "kv-dtype").is_err());
    }

    /// Quantization never increases the bytes of a realistic weight matrix.
    #[test]
    fn quantization_never_grows() {
        for (o, i) in [
            (4096u64, 4096u64),
            (14336, 4096),
            (4096, 14336),
            (576, 7168),
            (128, 7168),
        ] {
            let bf16 = WeightFormat::Bf16.linear_bytes(o, i);
            for f in WeightFormat::ALL {
                if f != WeightFormat::Fp32 {
                    assert!(f.linear_bytes(o, i) <= bf16, "{f} grows {o}x{i}");
                }
            }
        }
    }
}
