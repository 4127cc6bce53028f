//! cuBLAS and cuBLASLt on raw device pointers, for the probe's GEMMs.
//!
//! Every matmul is a linear layer `y[m×n] = x[m×k] · Wᵀ` with `W` stored
//! `n × k` row-major. In cuBLAS's column-major terms that is
//! `Yᵀ(n×m) = op(W)(n×k) · Xᵀ(k×m)` with `op = T` on W and `N` on X — the
//! "TN" layout, which is also the one cuBLASLt requires for fp8 on Hopper.
//!
//! cuBLASLt's heuristic is asked once per shape for several algorithms
//! ([`LtPlan`]); the probe times each and keeps the fastest (the safe cudarc
//! `matmul` re-runs the heuristic on every call, which costs time and may pick
//! a slower kernel).

use std::ffi::c_void;
use std::sync::Arc;

use cudarc::cublas::{result as br, sys as bs, CudaBlas};
use cudarc::cublaslt::{result as lr, sys as ls};
use cudarc::driver::CudaStream;

use super::gpu::DevBuf;
use super::{ProbeDtype, ProbeError};

/// cuBLASLt workspace (NVIDIA's recommendation for Hopper).
pub const LT_WORKSPACE: u64 = 32 << 20;

/// A cuBLAS handle, a cuBLASLt handle and its workspace, all on one stream.
pub struct Blas {
    blas: CudaBlas,
    lt: ls::cublasLtHandle_t,
    ws: DevBuf,
    stream: Arc<CudaStream>,
}

impl Drop for Blas {
    fn drop(&mut self) {
        if !self.lt.is_null() {
            unsafe {
                let _ = lr::destroy_handle(self.lt);
            }
        }
    }
}

fn cublas_type(d: ProbeDtype) -> bs::cudaDataType_t {
    match d {
        ProbeDtype::Bf16 => bs::cudaDataType_t::CUDA_R_16BF,
        ProbeDtype::Fp16 => bs::cudaDataType_t::CUDA_R_16F,
        ProbeDtype::Fp8 => bs::cudaDataType_t::CUDA_R_8F_E4M3,
    }
}

fn lt_type(d: ProbeDtype) -> ls::cudaDataType_t {
    match d {
        ProbeDtype::Bf16 => ls::cudaDataType_t::CUDA_R_16BF,
        ProbeDtype::Fp16 => ls::cudaDataType_t::CUDA_R_16F,
        ProbeDtype::Fp8 => ls::cudaDataType_t::CUDA_R_8F_E4M3,
    }
}

/// Output element type of a linear layer with inputs of `d`: the same 16-bit
/// type, or bf16 for fp8 inputs.
pub fn out_dtype(d: ProbeDtype) -> ProbeDtype {
    match d {
        ProbeDtype::Fp8 => ProbeDtype::Bf16,
        other => other,
    }
}

/// One matmul shape with the cuBLASLt algorithms its heuristic offered.
pub struct LtPlan {
    desc: ls::cublasLtMatmulDesc_t,
    a: ls::cublasLtMatrixLayout_t,
    b: ls::cublasLtMatrixLayout_t,
    c: ls::cublasLtMatrixLayout_t,
    /// Algorithms, best first by the heuristic.
    pub algos: Vec<ls::cublasLtMatmulAlgo_t>,
}

impl Drop for LtPlan {
    fn drop(&mut self) {
        unsafe {
            let _ = lr::destroy_matrix_layout(self.a);
            let _ = lr::destroy_matrix_layout(self.b);
            let _ = lr::destroy_matrix_layout(self.c);
            let _ = lr::destroy_matmul_desc(self.desc);
        }
    }
}

/// Which library call runs a matmul.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `cublasGemmEx` with the default algorithm.
    Cublas,
    /// `cublasLtMatmul` with the plan's algorithm `i`.
    Lt(usize),
}

impl Backend {
    /// Name for reports.
    pub fn name(self) -> String {
        match self {
            Backend::Cublas => "cublas".into(),
            Backend::Lt(i) => format!("cublaslt#{i}"),
        }
    }
}

impl Blas {
    /// Create both handles on `stream` and a 32 MiB cuBLASLt workspace.
    pub fn new(stream: Arc<CudaStream>, ws: DevBuf) -> Result<Self, ProbeError> {
        let blas =
            CudaBlas::new(stream.clone()).map_err(|e| ProbeError::blas("creating cuBLAS", e))?;
        let lt = lr::create_handle().map_err(|e| ProbeError::blas("creating cuBLASLt", e))?;
        Ok(Blas {
            blas,
            lt,
            ws,
            stream,
        })
    }

    /// A cuBLASLt plan for `y[m×n] = x[m×k]·Wᵀ` in `dtype`, with up to
    /// `max_algos` algorithms; `None` when the heuristic offers none (e.g. fp8
    /// on a GPU without fp8 tensor cores).
    pub fn lt_plan(
        &self,
        m: u64,
        n: u64,
        k: u64,
        dtype: ProbeDtype,
        max_algos: usize,
    ) -> Result<Option<LtPlan>, ProbeError> {
        let e = |what: &str| {
            let what = what.to_string();
            move |err| ProbeError::blas(format!("cuBLASLt {what} for {m}×{n}×{k}"), err)
        };
        let desc = lr::create_matmul_desc(
            ls::cublasComputeType_t::CUBLAS_COMPUTE_32F,
            ls::cudaDataType_t::CUDA_R_32F,
        )
        .map_err(e("descriptor"))?;
        let mut plan = LtPlan {
            desc,
            a: std::ptr::null_mut(),
            b: std::ptr::null_mut(),
            c: std::ptr::null_mut(),
            algos: Vec::new(),
        };
        let op_t: i32 = 1; // CUBLAS_OP_T
        let op_n: i32 = 0;
        unsafe {
            lr::set_matmul_desc_attribute(
                desc,
                ls::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSA,
                &op_t as *const i32 as *const c_void,
                4,
            )
            .map_err(e("transa"))?;
            lr::set_matmul_desc_attribute(
                desc,
                ls::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSB,
                &op_n as *const i32 as *const c_void,
                4,
            )
            .map_err(e("transb"))?;
        }
        let out = lt_type(out_dtype(dtype));
        plan.a = lr::create_matrix_layout(lt_type(dtype), k, n, k as i64).map_err(e("layout A"))?;
        plan.b = lr::create_matrix_layout(lt_type(dtype), k, m, k as i64).map_err(e("layout B"))?;
        plan.c = lr::create_matrix_layout(out, n, m, n as i64).map_err(e("layout C"))?;
        let pref = lr::create_matmul_pref().map_err(e("preference"))?;
        let ws = LT_WORKSPACE as usize;
        let mut results: Vec<ls::cublasLtMatmulHeuristicResult_t> =
            vec![unsafe { std::mem::zeroed() }; max_algos.max(1)];
        let mut returned: i32 = 0;
        let status = unsafe {
            lr::set_matmul_pref_attribute(
                pref,
                ls::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                &ws as *const usize as *const c_void,
                std::mem::size_of::<usize>(),
            )
            .map_err(e("workspace preference"))?;
            let s = ls::cublasLtMatmulAlgoGetHeuristic(
                self.lt,
                desc,
                plan.a,
                plan.b,
                plan.c,
                plan.c,
                pref,
                results.len() as i32,
                results.as_mut_ptr(),
                &mut returned,
            );
            let _ = lr::destroy_matmul_pref(pref);
            s
        };
        if status != ls::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
            // NOT_SUPPORTED: no algorithm for this type/shape on this GPU.
            return Ok(None);
        }
        plan.algos = results[..returned.max(0) as usize]
            .iter()
            .filter(|r| {
                r.state == ls::cublasStatus_t::CUBLAS_STATUS_SUCCESS && r.workspaceSize <= ws
            })
            .map(|r| r.algo)
            .collect();
        if plan.algos.is_empty() {
            return Ok(None);
        }
        Ok(Some(plan))
    }

    /// `y[m×n] = x[m×k]·Wᵀ` (raw device pointers) through `backend`.
    #[allow(clippy::too_many_arguments)]
    pub fn linear(
        &self,
        backend: Backend,
        plan: Option<&LtPlan>,
        dtype: ProbeDtype,
        m: u64,
        n: u64,
        k: u64,
        w: u64,
        x: u64,
        y: u64,
    ) -> Result<(), ProbeError> {
        let alpha: f32 = 1.0;
        let beta: f32 = 0.0;
        match backend {
            Backend::Cublas => unsafe {
                br::gemm_ex(
                    *self.blas.handle(),
                    bs::cublasOperation_t::CUBLAS_OP_T,
                    bs::cublasOperation_t::CUBLAS_OP_N,
                    n as i32,
                    m as i32,
                    k as i32,
                    &alpha as *const f32 as *const c_void,
                    w as *const c_void,
                    cublas_type(dtype),
                    k as i32,
                    x as *const c_void,
                    cublas_type(dtype),
                    k as i32,
                    &beta as *const f32 as *const c_void,
                    y as *mut c_void,
                    cublas_type(out_dtype(dtype)),
                    n as i32,
                    bs::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                    bs::cublasGemmAlgo_t::CUBLAS_GEMM_DFALT,
                )
                .map_err(|e| ProbeError::blas(format!("cublasGemmEx {m}×{n}×{k}"), e))
            },
            Backend::Lt(i) => {
                let plan = plan.ok_or_else(|| ProbeError::Blas {
                    during: "cuBLASLt matmul".into(),
                    message: "no plan".into(),
                })?;
                unsafe {
                    lr::matmul(
                        self.lt,
                        plan.desc,
                        &alpha as *const f32 as *const c_void,
                        &beta as *const f32 as *const c_void,
                        w as *const c_void,
                        plan.a,
                        x as *const c_void,
                        plan.b,
                        y as *const c_void,
                        plan.c,
                        y as *mut c_void,
                        plan.c,
                        &plan.algos[i],
                        self.ws.ptr as *mut c_void,
                        LT_WORKSPACE as usize,
                        self.stream.cu_stream() as ls::cudaStream_t,
                    )
                    .map_err(|e| ProbeError::blas(format!("cublasLtMatmul {m}×{n}×{k}"), e))
                }
            }
        }
    }

    /// Strided-batched bf16 GEMM in cuBLAS's column-major convention:
    /// `C_i(m×n) = alpha · op(A_i) · op(B_i)` for `i < batch`, f32 compute,
    /// output `c_type` (bf16 or f32).
    #[allow(clippy::too_many_arguments)]
    pub fn batched(
        &self,
        trans_a: bool,
        trans_b: bool,
        m: u64,
        n: u64,
        k: u64,
        alpha: f32,
        a: u64,
        lda: u64,
        stride_a: u64,
        b: u64,
        ldb: u64,
        stride_b: u64,
        c: u64,
        c_f32: bool,
        ldc: u64,
        stride_c: u64,
        batch: u64,
    ) -> Result<(), ProbeError> {
        let beta: f32 = 0.0;
        let op = |t: bool| {
            if t {
                bs::cublasOperation_t::CUBLAS_OP_T
            } else {
                bs::cublasOperation_t::CUBLAS_OP_N
            }
        };
        let c_type = if c_f32 {
            bs::cudaDataType_t::CUDA_R_32F
        } else {
            bs::cudaDataType_t::CUDA_R_16BF
        };
        unsafe {
            br::gemm_strided_batched_ex(
                *self.blas.handle(),
                op(trans_a),
                op(trans_b),
                m as i32,
                n as i32,
                k as i32,
                &alpha as *const f32 as *const c_void,
                a as *const c_void,
                bs::cudaDataType_t::CUDA_R_16BF,
                lda as i32,
                stride_a as i64,
                b as *const c_void,
                bs::cudaDataType_t::CUDA_R_16BF,
                ldb as i32,
                stride_b as i64,
                &beta as *const f32 as *const c_void,
                c as *mut c_void,
                c_type,
                ldc as i32,
                stride_c as i64,
                batch as i32,
                bs::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                bs::cublasGemmAlgo_t::CUBLAS_GEMM_DFALT,
            )
            .map_err(|e| {
                ProbeError::blas(format!("cublasGemmStridedBatchedEx {m}×{n}×{k}×{batch}"), e)
            })
        }
    }
}
