//! The probe's GPU side: context, buffers, kernels, timing, and [`run`].
//!
//! cudarc panics when a CUDA library is missing, so every entry point first
//! checks `is_culib_present()` for the libraries it needs and turns absence
//! into a [`ProbeError::MissingLibrary`].
//!
//! Buffers are plain `cuMemAlloc` allocations (`malloc_sync`) addressed by raw
//! device pointers: an out-of-memory refusal comes back as an error with the
//! context still usable, and kernels take `u64` pointers as arguments.

use std::sync::Arc;

use cudarc::driver::{
    result as dr, sys as ds, CudaContext, CudaEvent, CudaFunction, CudaGraph, CudaModule,
    CudaStream, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};

use super::blas::{out_dtype, Backend, Blas, LtPlan, CUBLAS_WORKSPACE, LT_WORKSPACE};
use super::kernels::{
    mla_fused_smem, GQA_THREADS, MLA_FUSED_HEADS, MLA_FUSED_RANK, MLA_FUSED_ROPE, MLA_FUSED_STAGES,
    MLA_FUSED_THREADS, MLA_FUSED_TILE, SOURCE,
};
use super::math::{self, round_up};
use super::reference::{self as cref, SplitMix64};
use super::*;

const GIB: u64 = 1 << 30;

/// Prefetch depths the GQA kernel is compiled with (token steps of K/V held
/// in registers ahead of use); the probe times each and keeps the fastest.
const GQA_PF: [u32; 3] = [1, 2, 4];
const LOG2E: f64 = std::f64::consts::LOG2_E;

// ---------------------------------------------------------------- libraries

fn missing(library: &str, hint: &str) -> ProbeError {
    ProbeError::MissingLibrary {
        library: library.into(),
        hint: hint.into(),
    }
}

/// The NVIDIA driver library must be loadable before any cudarc call.
pub(crate) fn check_driver() -> Result<(), ProbeError> {
    if unsafe { ds::is_culib_present() } {
        Ok(())
    } else {
        Err(missing(
            "libcuda.so (NVIDIA driver)",
            "no NVIDIA driver on this machine; install the NVIDIA driver (e.g. 580 or newer) \
             on a machine with an NVIDIA GPU, or run `kvplan probe` there",
        ))
    }
}

fn check_nvrtc() -> Result<(), ProbeError> {
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(missing(
            "libnvrtc.so (CUDA runtime compiler)",
            "install the CUDA 13 toolkit (or the nvidia-cuda-nvrtc package) and put its lib \
             folder on the loader path (ldconfig or LD_LIBRARY_PATH)",
        ))
    }
}

fn check_blas() -> Result<(), ProbeError> {
    let hint = "install the CUDA 13 toolkit's cuBLAS (or the nvidia-cublas package) and put its \
                lib folder on the loader path (ldconfig or LD_LIBRARY_PATH)";
    if !unsafe { cudarc::cublas::sys::is_culib_present() } {
        return Err(missing("libcublas.so", hint));
    }
    if !unsafe { cudarc::cublaslt::sys::is_culib_present() } {
        return Err(missing("libcublasLt.so", hint));
    }
    Ok(())
}

// ------------------------------------------------------------------ buffers

/// A `cuMemAlloc` allocation, freed on drop.
pub struct DevBuf {
    /// Device address (the allocation is rounded up to 256 bytes).
    pub ptr: u64,
}

impl Drop for DevBuf {
    fn drop(&mut self) {
        unsafe {
            let _ = dr::free_sync(self.ptr);
        }
    }
}

fn free_bytes() -> u64 {
    dr::mem_get_info().map(|(f, _)| f as u64).unwrap_or(0)
}

/// Allocate `bytes` (rounded up to 256); OUT_OF_MEMORY becomes a clean error.
pub(crate) fn alloc(bytes: u64, what: &str) -> Result<DevBuf, ProbeError> {
    let size = round_up(bytes.max(16), 256);
    match unsafe { dr::malloc_sync(size as usize) } {
        Ok(ptr) => Ok(DevBuf { ptr }),
        Err(dr::DriverError(ds::cudaError_enum::CUDA_ERROR_OUT_OF_MEMORY)) => {
            Err(ProbeError::OutOfMemory {
                what: what.into(),
                requested_bytes: size,
                free_bytes: free_bytes(),
            })
        }
        Err(e) => Err(ProbeError::cuda(format!("allocating {what}"), e)),
    }
}

// -------------------------------------------------------------------- device

/// One GPU: its context, a stream, the compiled kernels, BLAS handles.
pub(crate) struct Gpu {
    pub blas: Option<Blas>,
    pub funcs: Option<Funcs>,
    pub stream: Arc<CudaStream>,
    pub ctx: Arc<CudaContext>,
    pub summary: DeviceSummary,
}

/// The compiled kernels.
pub(crate) struct Funcs {
    fill_bf16: CudaFunction,
    fill_e4m3: CudaFunction,
    read_bw: CudaFunction,
    /// GQA split kernels with prefetch depth 1, 2, 4 (see [`GQA_PF`]).
    gqa: Vec<CudaFunction>,
    reduce: CudaFunction,
    softmax: CudaFunction,
    softmax_bf16: CudaFunction,
    /// Fused MLA kernels, one per pipeline depth of [`MLA_FUSED_STAGES`].
    mla_fused: Vec<CudaFunction>,
    tiny: CudaFunction,
    _module: Arc<CudaModule>,
}

fn arch_for(cc: (i32, i32)) -> Option<&'static str> {
    Some(match cc {
        (7, 0) => "sm_70",
        (7, 5) => "sm_75",
        (8, 0) => "sm_80",
        (8, 6) => "sm_86",
        (8, 7) => "sm_87",
        (8, 9) => "sm_89",
        (9, 0) => "sm_90",
        (10, 0) => "sm_100",
        (12, 0) => "sm_120",
        _ => return None,
    })
}

impl Gpu {
    /// Open device `index`: driver check, context, stream.
    pub fn open(index: usize) -> Result<Gpu, ProbeError> {
        check_driver()?;
        if let Err(e) = dr::init() {
            return Err(match e.0 {
                ds::cudaError_enum::CUDA_ERROR_NO_DEVICE => ProbeError::NoSuchDevice {
                    requested: index,
                    available: 0,
                },
                _ => ProbeError::cuda(
                    "initialising the CUDA driver (is the nvidia kernel module loaded?)",
                    e,
                ),
            });
        }
        let count = CudaContext::device_count()
            .map_err(|e| ProbeError::cuda("counting GPUs", e))?
            .max(0) as usize;
        if index >= count {
            return Err(ProbeError::NoSuchDevice {
                requested: index,
                available: count,
            });
        }
        let ctx = CudaContext::new(index)
            .map_err(|e| ProbeError::cuda(format!("creating a context on GPU {index}"), e))?;
        // Raw pointers only: cudarc's per-allocation event tracking is overhead here.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx
            .new_stream()
            .map_err(|e| ProbeError::cuda("creating a stream", e))?;
        let attr = |a| {
            ctx.attribute(a)
                .map_err(|e| ProbeError::cuda("reading attributes", e))
        };
        let sm_count =
            attr(ds::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as u32;
        let l2_bytes = attr(ds::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)? as u64;
        let summary = DeviceSummary {
            index,
            name: ctx.name().unwrap_or_default(),
            compute_capability: ctx
                .compute_capability()
                .map_err(|e| ProbeError::cuda("reading the compute capability", e))?,
            sm_count,
            l2_bytes,
            total_bytes: ctx.total_mem().unwrap_or(0) as u64,
        };
        Ok(Gpu {
            blas: None,
            funcs: None,
            stream,
            ctx,
            summary,
        })
    }

    /// Compile the kernels for head size `hd` and `group` q heads per block.
    pub fn compile(&mut self, hd: u64, group: u64) -> Result<(), ProbeError> {
        check_nvrtc()?;
        let ptx = compile_ptx_with_opts(
            SOURCE,
            CompileOptions {
                arch: arch_for(self.summary.compute_capability),
                options: vec![format!("-DHD={hd}"), format!("-DGROUP={group}")],
                ..Default::default()
            },
        )
        .map_err(|e| ProbeError::Compile {
            log: format!("{e:?}"),
        })?;
        let module = self
            .ctx
            .load_module(ptx)
            .map_err(|e| ProbeError::cuda("loading the kernels", e))?;
        let f = |n: &str| {
            module
                .load_function(n)
                .map_err(|e| ProbeError::cuda(format!("loading kernel {n}"), e))
        };
        self.funcs = Some(Funcs {
            fill_bf16: f("fill_bf16")?,
            fill_e4m3: f("fill_e4m3")?,
            read_bw: f("read_bw")?,
            gqa: GQA_PF
                .iter()
                .map(|pf| f(&format!("gqa_decode_split_pf{pf}")))
                .collect::<Result<_, _>>()?,
            reduce: f("attn_reduce")?,
            softmax: f("softmax_rows")?,
            softmax_bf16: f("softmax_rows_bf16")?,
            mla_fused: MLA_FUSED_STAGES
                .iter()
                .map(|&st| {
                    let func = f(&format!("mla_fused_st{st}"))?;
                    func.set_attribute(
                        ds::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                        mla_fused_smem(st) as i32,
                    )
                    .map_err(|e| {
                        ProbeError::cuda("setting the fused MLA kernel's shared memory", e)
                    })?;
                    Ok(func)
                })
                .collect::<Result<_, ProbeError>>()?,
            tiny: f("tiny")?,
            _module: module,
        });
        Ok(())
    }

    fn funcs(&self) -> &Funcs {
        self.funcs.as_ref().expect("kernels compiled")
    }

    fn blas(&self) -> &Blas {
        self.blas.as_ref().expect("blas created")
    }

    fn sync(&self, during: &str) -> Result<(), ProbeError> {
        self.stream
            .synchronize()
            .map_err(|e| ProbeError::cuda(during.to_string(), e))
    }

    fn launch_err(name: &str) -> impl Fn(dr::DriverError) -> ProbeError + '_ {
        move |e| ProbeError::cuda(format!("launching {name}"), e)
    }

    /// Fill `bytes` at `ptr` with random non-zero values of `dtype`.
    pub fn fill(
        &self,
        ptr: u64,
        bytes: u64,
        dtype: ProbeDtype,
        seed: u32,
    ) -> Result<(), ProbeError> {
        let n16 = bytes / 16;
        if n16 == 0 {
            return Ok(());
        }
        let cfg = LaunchConfig {
            grid_dim: (self.summary.sm_count * 8, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let scale: f32 = 1.0;
        unsafe {
            match dtype {
                ProbeDtype::Fp8 => self
                    .stream
                    .launch_builder(&self.funcs().fill_e4m3)
                    .arg(&ptr)
                    .arg(&n16)
                    .arg(&seed)
                    .launch(cfg)
                    .map(|_| ())
                    .map_err(Self::launch_err("fill_e4m3")),
                _ => self
                    .stream
                    .launch_builder(&self.funcs().fill_bf16)
                    .arg(&ptr)
                    .arg(&n16)
                    .arg(&seed)
                    .arg(&scale)
                    .launch(cfg)
                    .map(|_| ())
                    .map_err(Self::launch_err("fill_bf16")),
            }
        }
    }

    fn read_kernel(&self, ptr: u64, bytes: u64, sink: u64) -> Result<(), ProbeError> {
        let n16 = bytes / 16;
        let cfg = LaunchConfig {
            grid_dim: (self.summary.sm_count * 8, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        unsafe {
            self.stream
                .launch_builder(&self.funcs().read_bw)
                .arg(&ptr)
                .arg(&n16)
                .arg(&sink)
                .launch(cfg)
                .map(|_| ())
                .map_err(Self::launch_err("read_bw"))
        }
    }

    /// One launch of the one-thread `tiny` kernel (bumps `*p`).
    fn tiny(&self, p: u64) -> Result<(), ProbeError> {
        let cfg = LaunchConfig {
            grid_dim: (1, 1, 1),
            block_dim: (32, 1, 1),
            shared_mem_bytes: 0,
        };
        unsafe {
            self.stream
                .launch_builder(&self.funcs().tiny)
                .arg(&p)
                .launch(cfg)
                .map(|_| ())
                .map_err(Self::launch_err("tiny"))
        }
    }

    /// Capture what `op` enqueues on the probe's stream into a CUDA graph
    /// (instantiated and uploaded). Nothing runs during capture. On failure
    /// the stream is left out of capture mode and the reason is returned.
    pub fn capture(
        &self,
        op: impl FnOnce() -> Result<(), ProbeError>,
    ) -> Result<CudaGraph, String> {
        self.sync("before a CUDA graph capture")
            .map_err(|e| e.to_string())?;
        self.stream
            .begin_capture(ds::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .map_err(|e| ProbeError::cuda("beginning a CUDA graph capture", e).to_string())?;
        let r = op();
        let g = self.stream.end_capture(ds::CUgraphInstantiate_flags(0));
        r.map_err(|e| format!("during capture: {e}"))?;
        let g = g
            .map_err(|e| ProbeError::cuda("ending the capture / instantiating", e).to_string())?
            .ok_or_else(|| "the captured graph is empty".to_string())?;
        g.upload()
            .map_err(|e| ProbeError::cuda("uploading the graph", e).to_string())?;
        Ok(g)
    }

    /// Time replays of `g` (warm-up included), like [`Gpu::measure`].
    pub fn measure_graph(
        &self,
        g: &CudaGraph,
        samples: usize,
        sample_target_s: f64,
    ) -> Result<Timing, ProbeError> {
        self.measure(samples, sample_target_s, |_| {
            g.launch()
                .map_err(|e| ProbeError::cuda("launching a CUDA graph", e))
        })
    }

    fn copy(&self, dst: u64, src: u64, bytes: u64) -> Result<(), ProbeError> {
        unsafe { dr::memcpy_dtod_async(dst, src, bytes as usize, self.stream.cu_stream()) }
            .map_err(|e| ProbeError::cuda("memcpy_dtod", e))
    }

    fn upload<T>(&self, dst: u64, data: &[T]) -> Result<(), ProbeError> {
        self.sync("before upload")?;
        unsafe { dr::memcpy_htod_sync(dst, data) }.map_err(|e| ProbeError::cuda("uploading", e))
    }

    fn download<T>(&self, dst: &mut [T], src: u64) -> Result<(), ProbeError> {
        self.sync("before download")?;
        unsafe { dr::memcpy_dtoh_sync(dst, src) }.map_err(|e| ProbeError::cuda("downloading", e))
    }

    fn event(&self) -> Result<CudaEvent, ProbeError> {
        self.ctx
            .new_event(Some(ds::CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(|e| ProbeError::cuda("creating an event", e))
    }

    /// Time `op` (called with a running index, so it can rotate buffers):
    /// warm-up, an estimate, then `samples` samples of enough back-to-back
    /// calls to last ~`sample_target_s` each; returns per-call statistics.
    pub fn measure(
        &self,
        samples: usize,
        sample_target_s: f64,
        mut op: impl FnMut(usize) -> Result<(), ProbeError>,
    ) -> Result<Timing, ProbeError> {
        let mut idx = 0usize;
        for _ in 0..2 {
            op(idx)?;
            idx += 1;
        }
        let (a, b) = (self.event()?, self.event()?);
        a.record(&self.stream)
            .map_err(|e| ProbeError::cuda("recording", e))?;
        for _ in 0..2 {
            op(idx)?;
            idx += 1;
        }
        b.record(&self.stream)
            .map_err(|e| ProbeError::cuda("recording", e))?;
        let est = a
            .elapsed_ms(&b)
            .map_err(|e| ProbeError::cuda("timing (estimate)", e))? as f64
            / 2e3;
        let reps = ((sample_target_s / est.max(1e-7)).ceil() as usize).clamp(1, 256);
        let mut evs = Vec::with_capacity(samples);
        for _ in 0..samples {
            let (s, e) = (self.event()?, self.event()?);
            s.record(&self.stream)
                .map_err(|e| ProbeError::cuda("recording", e))?;
            for _ in 0..reps {
                op(idx)?;
                idx += 1;
            }
            e.record(&self.stream)
                .map_err(|e| ProbeError::cuda("recording", e))?;
            evs.push((s, e));
        }
        self.sync("timing")?;
        let mut secs = Vec::with_capacity(samples);
        for (s, e) in &evs {
            secs.push(
                s.elapsed_ms(e)
                    .map_err(|e| ProbeError::cuda("reading event times", e))?
                    as f64
                    / 1e3,
            );
        }
        Ok(math::timing(&secs, reps))
    }

    // ---------------------------------------------------------- attention

    /// GQA decode: split kernel + reduce. `kv_heads` here may be smaller than
    /// the request's (self-check); `qpk` q heads per KV head; `group` q heads
    /// per block (compiled in).
    #[allow(clippy::too_many_arguments)]
    fn gqa(
        &self,
        q: u64,
        k: u64,
        v: u64,
        out: u64,
        part_o: u64,
        part_ml: u64,
        batch: u64,
        kv_heads: u64,
        qpk: u64,
        group: u64,
        hd: u64,
        ctx_tokens: u64,
        chunk: u64,
        pf: usize,
    ) -> Result<(), ProbeError> {
        let splits = ctx_tokens.div_ceil(chunk);
        let (kvh, qpk_i, ctx_i, chunk_i, splits_i) = (
            kv_heads as i32,
            qpk as i32,
            ctx_tokens as i32,
            chunk as i32,
            splits as i32,
        );
        let qscale = ((1.0 / (hd as f64).sqrt()) * LOG2E) as f32;
        let cfg = LaunchConfig {
            grid_dim: (
                splits as u32,
                (kv_heads * (qpk / group)) as u32,
                batch as u32,
            ),
            block_dim: (GQA_THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let hd_i = hd as i32;
        let rows = (batch * kv_heads * qpk) as u32;
        unsafe {
            self.stream
                .launch_builder(&self.funcs().gqa[pf])
                .arg(&q)
                .arg(&k)
                .arg(&v)
                .arg(&part_o)
                .arg(&part_ml)
                .arg(&kvh)
                .arg(&qpk_i)
                .arg(&ctx_i)
                .arg(&chunk_i)
                .arg(&splits_i)
                .arg(&qscale)
                .launch(cfg)
                .map_err(Self::launch_err("gqa_decode_split"))?;
            self.stream
                .launch_builder(&self.funcs().reduce)
                .arg(&part_o)
                .arg(&part_ml)
                .arg(&out)
                .arg(&splits_i)
                .arg(&hd_i)
                .launch(LaunchConfig {
                    grid_dim: (rows, 1, 1),
                    block_dim: (hd.clamp(32, 256) as u32, 1, 1),
                    shared_mem_bytes: 0,
                })
                .map_err(Self::launch_err("attn_reduce"))?;
        }
        Ok(())
    }

    /// Fused MLA decode (split-K flash-decoding with tensor cores) for `n`
    /// sequences of `t` tokens, [`MLA_FUSED_HEADS`] heads per block, then the
    /// split reduce. Only the compiled-in shape (see [`mla_fused_fits`]).
    #[allow(clippy::too_many_arguments)]
    fn mla_fused(
        &self,
        q: u64,
        kv: u64,
        out: u64,
        part_o: u64,
        part_ml: u64,
        heads: u64,
        t: u64,
        n: u64,
        chunk: u64,
        variant: usize,
    ) -> Result<(), ProbeError> {
        let splits = t.div_ceil(chunk);
        let w = MLA_FUSED_RANK + MLA_FUSED_ROPE;
        let qscale = ((1.0 / (w as f64).sqrt()) * LOG2E) as f32;
        let (heads_i, t_i, chunk_i, splits_i, hd_i) = (
            heads as i32,
            t as i32,
            chunk as i32,
            splits as i32,
            MLA_FUSED_RANK as i32,
        );
        unsafe {
            self.stream
                .launch_builder(&self.funcs().mla_fused[variant])
                .arg(&q)
                .arg(&kv)
                .arg(&part_o)
                .arg(&part_ml)
                .arg(&heads_i)
                .arg(&t_i)
                .arg(&chunk_i)
                .arg(&splits_i)
                .arg(&qscale)
                .launch(LaunchConfig {
                    grid_dim: (splits as u32, (heads / MLA_FUSED_HEADS) as u32, n as u32),
                    block_dim: (MLA_FUSED_THREADS, 1, 1),
                    shared_mem_bytes: mla_fused_smem(MLA_FUSED_STAGES[variant]),
                })
                .map_err(Self::launch_err("mla_fused"))?;
            self.stream
                .launch_builder(&self.funcs().reduce)
                .arg(&part_o)
                .arg(&part_ml)
                .arg(&out)
                .arg(&splits_i)
                .arg(&hd_i)
                .launch(LaunchConfig {
                    grid_dim: ((n * heads) as u32, 1, 1),
                    block_dim: (256, 1, 1),
                    shared_mem_bytes: 0,
                })
                .map_err(Self::launch_err("attn_reduce"))?;
        }
        Ok(())
    }

    /// MLA decode for sequences `[b0, b0 + n)`: scores GEMM (f32, scaled by
    /// softmax scale · log2 e), row softmax to bf16, weighted-sum GEMM.
    #[allow(clippy::too_many_arguments)]
    fn mla_group(
        &self,
        q: u64,
        kv: u64,
        out: u64,
        s: u64,
        p: u64,
        heads: u64,
        rank: u64,
        rope: u64,
        t: u64,
        n: u64,
        s_bf16: bool,
    ) -> Result<(), ProbeError> {
        let w = rank + rope;
        // With bf16 scores the softmax runs in place and P aliases S.
        let p = if s_bf16 { s } else { p };
        let scale = ((1.0 / (w as f64).sqrt()) * LOG2E) as f32;
        let blas = self.blas();
        // S^T (t × heads, col-major) = KV (w × t col-major)^T · Q (w × heads col-major)
        blas.batched(
            true,
            false,
            t,
            heads,
            w,
            scale,
            kv,
            w,
            t * w,
            q,
            w,
            heads * w,
            s,
            !s_bf16,
            t,
            heads * t,
            n,
        )?;
        let t_i = t as i32;
        unsafe {
            let f = if s_bf16 {
                &self.funcs().softmax_bf16
            } else {
                &self.funcs().softmax
            };
            self.stream
                .launch_builder(f)
                .arg(&s)
                .arg(&p)
                .arg(&t_i)
                .launch(LaunchConfig {
                    grid_dim: ((n * heads) as u32, 1, 1),
                    block_dim: (256, 1, 1),
                    shared_mem_bytes: 0,
                })
                .map_err(Self::launch_err("softmax_rows"))?;
        }
        // O (rank × heads col-major) = V (rank × t, ld w) · P (t × heads col-major)
        blas.batched(
            false,
            false,
            rank,
            heads,
            t,
            1.0,
            kv,
            w,
            t * w,
            p,
            t,
            heads * t,
            out,
            false,
            rank,
            heads * rank,
            n,
        )
    }
}

// --------------------------------------------------------------- self-checks

fn bf16_vec_to_f64(v: &[u16]) -> Vec<f64> {
    v.iter().map(|&b| cref::bf16_to_f32(b) as f64).collect()
}

fn check_result(kernel: &str, shape: String, err: f64, threshold: f64) -> SelfCheck {
    SelfCheck {
        kernel: kernel.into(),
        shape,
        relative_error: err,
        threshold,
        passed: err.is_finite() && err < threshold,
    }
}

const ATTN_THRESHOLD: f64 = 1e-2;

/// GQA kernels against the CPU reference on a small random case with the
/// request's head size and grouping (context not a multiple of the chunk, so
/// the tail and several splits are exercised).
fn self_check_gqa(
    gpu: &Gpu,
    qpk: u64,
    group: u64,
    hd: u64,
    seed: u64,
) -> Result<Vec<SelfCheck>, ProbeError> {
    let (b, kvh, t, chunk) = (2u64, 2u64, 1000u64, 256u64);
    let qh = kvh * qpk;
    let mut rng = SplitMix64(seed);
    let q = cref::random_bf16(&mut rng, (b * qh * hd) as usize, 3.0);
    let k = cref::random_bf16(&mut rng, (b * kvh * t * hd) as usize, 1.0);
    let v = cref::random_bf16(&mut rng, (b * kvh * t * hd) as usize, 1.0);
    let splits = t.div_ceil(chunk);
    let bq = alloc(q.len() as u64 * 2, "self-check q")?;
    let bk = alloc(k.len() as u64 * 2, "self-check k")?;
    let bv = alloc(v.len() as u64 * 2, "self-check v")?;
    let bo = alloc(b * qh * hd * 2, "self-check out")?;
    let po = alloc(b * qh * splits * hd * 4, "self-check partials")?;
    let pml = alloc(b * qh * splits * 2 * 4, "self-check partials")?;
    gpu.upload(bq.ptr, &q)?;
    gpu.upload(bk.ptr, &k)?;
    gpu.upload(bv.ptr, &v)?;
    let r = cref::gqa_decode(
        &bf16_vec_to_f64(&q),
        &bf16_vec_to_f64(&k),
        &bf16_vec_to_f64(&v),
        b as usize,
        qh as usize,
        kvh as usize,
        t as usize,
        hd as usize,
    );
    let mut checks = vec![];
    for (pf_i, pf) in GQA_PF.iter().enumerate() {
        gpu.upload(bo.ptr, &vec![0xffffu16; (b * qh * hd) as usize])?; // poison: NaN
        gpu.gqa(
            bq.ptr, bk.ptr, bv.ptr, bo.ptr, po.ptr, pml.ptr, b, kvh, qpk, group, hd, t, chunk, pf_i,
        )?;
        let mut out = vec![0u16; (b * qh * hd) as usize];
        gpu.download(&mut out, bo.ptr)?;
        let err = cref::relative_error(&bf16_vec_to_f64(&out), &r);
        checks.push(check_result(
            &format!("gqa_decode_split_pf{pf} + attn_reduce"),
            format!("batch {b}, {qh} q heads / {kvh} kv heads × {hd}, {t} tokens, chunk {chunk}"),
            err,
            ATTN_THRESHOLD,
        ));
    }
    Ok(checks)
}

/// Name prefix of the fused MLA self-checks: a failure there disables the
/// fused path (the cuBLAS path is the fallback) instead of stopping the probe.
const MLA_FUSED_CHECK: &str = "mla_fused_st";

/// Whether the fused MLA kernel's compiled-in shape fits the request.
fn mla_fused_fits(heads: u64, rank: u64, rope: u64) -> bool {
    rank == MLA_FUSED_RANK && rope == MLA_FUSED_ROPE && heads % MLA_FUSED_HEADS == 0 && heads > 0
}

/// Fused MLA chunk sizes (tokens per split) worth timing for `t` tokens.
fn mla_fused_chunks(t: u64) -> Vec<u64> {
    [128u64, 256, 512, 1024, 2048]
        .into_iter()
        .filter(|&c| c == 128 || c / 2 < t)
        .collect()
}

fn self_check_mla(
    gpu: &Gpu,
    heads: u64,
    rank: u64,
    rope: u64,
    seed: u64,
) -> Result<Vec<SelfCheck>, ProbeError> {
    // 304 tokens: the softmax's 16-byte vector path (T % 8 == 0); 300: its scalar path.
    let mut checks = vec![];
    for t in [304u64, 300] {
        checks.extend(self_check_mla_t(gpu, heads, rank, rope, t, seed)?);
    }
    Ok(checks)
}

fn self_check_mla_t(
    gpu: &Gpu,
    heads: u64,
    rank: u64,
    rope: u64,
    t: u64,
    seed: u64,
) -> Result<Vec<SelfCheck>, ProbeError> {
    let (b, h) = (2u64, heads.min(16));
    let w = rank + rope;
    let mut rng = SplitMix64(seed);
    let q = cref::random_bf16(&mut rng, (b * h * w) as usize, 3.0);
    let kv = cref::random_bf16(&mut rng, (b * t * w) as usize, 1.0);
    let bq = alloc(q.len() as u64 * 2, "self-check q")?;
    let bkv = alloc(kv.len() as u64 * 2, "self-check latent cache")?;
    let bo = alloc(b * h * rank * 2, "self-check out")?;
    let bs = alloc(b * h * t * 4, "self-check scores")?;
    let bp = alloc(b * h * t * 2, "self-check probabilities")?;
    gpu.upload(bq.ptr, &q)?;
    gpu.upload(bkv.ptr, &kv)?;
    let r = cref::mla_decode(
        &bf16_vec_to_f64(&q),
        &bf16_vec_to_f64(&kv),
        b as usize,
        h as usize,
        t as usize,
        rank as usize,
        rope as usize,
        1.0 / (w as f64).sqrt(),
    );
    let mut checks = vec![];
    if mla_fused_fits(h, rank, rope) {
        let chunk = 128;
        let splits = t.div_ceil(chunk);
        let po = alloc(b * h * splits * rank * 4, "self-check partials")?;
        let pml = alloc(b * h * splits * 2 * 4, "self-check partials")?;
        for (v, st) in MLA_FUSED_STAGES.iter().enumerate() {
            gpu.upload(bo.ptr, &vec![0xffffu16; (b * h * rank) as usize])?;
            gpu.mla_fused(bq.ptr, bkv.ptr, bo.ptr, po.ptr, pml.ptr, h, t, b, chunk, v)?;
            let mut out = vec![0u16; (b * h * rank) as usize];
            gpu.download(&mut out, bo.ptr)?;
            let err = cref::relative_error(&bf16_vec_to_f64(&out), &r);
            checks.push(check_result(
                &format!("{MLA_FUSED_CHECK}{st} (tensor-core flash-decoding) + attn_reduce"),
                format!("batch {b}, {h} heads, latent {rank}+{rope}, {t} tokens, chunk {chunk}"),
                err,
                ATTN_THRESHOLD,
            ));
        }
    }
    for s_bf16 in [false, true] {
        gpu.upload(bo.ptr, &vec![0xffffu16; (b * h * rank) as usize])?;
        gpu.mla_group(
            bq.ptr, bkv.ptr, bo.ptr, bs.ptr, bp.ptr, h, rank, rope, t, b, s_bf16,
        )?;
        let mut out = vec![0u16; (b * h * rank) as usize];
        gpu.download(&mut out, bo.ptr)?;
        let err = cref::relative_error(&bf16_vec_to_f64(&out), &r);
        checks.push(check_result(
            &format!(
                "mla (cuBLAS batched GEMM → {} scores + softmax kernel + GEMM)",
                if s_bf16 { "bf16" } else { "f32" }
            ),
            format!("batch {b}, {h} heads, latent {rank}+{rope}, {t} tokens"),
            err,
            ATTN_THRESHOLD,
        ));
    }
    Ok(checks)
}

fn decode_vals(bytes: &[u8], dtype: ProbeDtype) -> Vec<f64> {
    match dtype {
        ProbeDtype::Fp8 => bytes.iter().map(|&b| cref::e4m3_to_f32(b) as f64).collect(),
        ProbeDtype::Bf16 | ProbeDtype::Fp16 => bytes
            .chunks_exact(2)
            .map(|c| {
                let h = u16::from_le_bytes([c[0], c[1]]);
                if dtype == ProbeDtype::Bf16 {
                    cref::bf16_to_f32(h) as f64
                } else {
                    cref::f16_to_f32(h) as f64
                }
            })
            .collect(),
    }
}

/// The linear-layer layout (TN) through both cuBLAS and cuBLASLt, against the
/// CPU reference, on data the GPU's own fill kernel wrote: one matrix, and a
/// strided batch of 3 (the grouped expert GEMM; the matrices are padded
/// apart so a wrong stride shows).
fn self_check_gemm(gpu: &Gpu, dtype: ProbeDtype) -> Result<Vec<SelfCheck>, ProbeError> {
    let mut checks = self_check_linear(gpu, dtype, 1)?;
    checks.extend(self_check_linear(gpu, dtype, 3)?);
    Ok(checks)
}

fn self_check_linear(
    gpu: &Gpu,
    dtype: ProbeDtype,
    count: u64,
) -> Result<Vec<SelfCheck>, ProbeError> {
    let (m, n, k) = (5u64, 64u64, 256u64);
    let eb = dtype.bytes();
    // Weight stride in elements: the matrix plus 256 bytes of padding.
    let stride = n * k + 256 / eb;
    let w_elems = (count - 1) * stride + n * k;
    let w = alloc(w_elems * eb, "self-check W")?;
    let x = alloc(count * m * k * eb, "self-check x")?;
    let y = alloc(count * m * n * 2, "self-check y")?;
    gpu.fill(w.ptr, w_elems * eb, dtype, 11)?;
    gpu.fill(x.ptr, count * m * k * eb, dtype, 12)?;
    let mut wh = vec![0u8; (w_elems * eb) as usize];
    let mut xh = vec![0u8; (count * m * k * eb) as usize];
    gpu.download(&mut wh, w.ptr)?;
    gpu.download(&mut xh, x.ptr)?;
    let (wv, xv) = (decode_vals(&wh, dtype), decode_vals(&xh, dtype));
    let mut r = Vec::with_capacity((count * m * n) as usize);
    for i in 0..count as usize {
        let ws = i * stride as usize;
        let xs = i * (m * k) as usize;
        r.extend(cref::linear(
            &xv[xs..xs + (m * k) as usize],
            &wv[ws..ws + (n * k) as usize],
            m as usize,
            n as usize,
            k as usize,
        ));
    }
    let plan = gpu
        .blas()
        .lt_plan_batched(m, n, k, dtype, 1, count, stride)?;
    let mut backends = vec![];
    if dtype != ProbeDtype::Fp8 {
        backends.push(Backend::Cublas);
    }
    if plan.is_some() {
        backends.push(Backend::Lt(0));
    }
    let mut checks = vec![];
    for be in backends {
        gpu.upload(y.ptr, &vec![0xffffu16; (count * m * n) as usize])?;
        gpu.blas().linear_batched(
            be,
            plan.as_ref(),
            dtype,
            m,
            n,
            k,
            count,
            stride,
            w.ptr,
            x.ptr,
            y.ptr,
        )?;
        let mut yh = vec![0u8; (count * m * n * 2) as usize];
        gpu.download(&mut yh, y.ptr)?;
        let err = cref::relative_error(&decode_vals(&yh, out_dtype(dtype)), &r);
        let (what, shape) = if count > 1 {
            (
                format!(
                    "linear {} strided-batched ×{count} via {}",
                    dtype.name(),
                    be.name()
                ),
                format!("{count} × (m {m}, n {n}, k {k}), weight stride {stride}"),
            )
        } else {
            (
                format!("linear {} via {}", dtype.name(), be.name()),
                format!("m {m}, n {n}, k {k}"),
            )
        };
        checks.push(check_result(&what, shape, err, 1e-2));
    }
    Ok(checks)
}

// -------------------------------------------------------------------- run

struct Stages<'a> {
    progress: &'a mut dyn FnMut(ProbeEvent),
    index: usize,
    total: usize,
}

impl Stages<'_> {
    fn start(&mut self, name: &str) {
        self.index += 1;
        (self.progress)(ProbeEvent::Stage {
            name: name.into(),
            index: self.index,
            total: self.total,
        });
    }
    fn step(&mut self, stage: &str, done: u64, total: u64) {
        (self.progress)(ProbeEvent::Progress {
            stage: stage.into(),
            done,
            total,
        });
    }
    fn note(&mut self, notes: &mut Vec<String>, s: String) {
        (self.progress)(ProbeEvent::Note(s.clone()));
        notes.push(s);
    }
}

/// One timed MLA variant.
#[derive(Clone, Copy, Debug)]
enum MlaCfg {
    /// cuBLAS GEMM → softmax kernel → GEMM, `grp` sequences per launch.
    Unfused { grp: u64, s_bf16: bool },
    /// Fused kernel: `chunk` tokens per split, pipeline variant index.
    Fused { chunk: u64, variant: usize },
}

/// A GEMM shape with its chosen backend.
struct Tuned {
    plan: Option<LtPlan>,
    backend: Backend,
    timing: Timing,
    /// Matrices per call (1, or the shape's count when batched).
    count: u64,
    /// Weight stride between the batched matrices, elements.
    stride: u64,
}

impl Tuned {
    /// One call: `count` matrices from weight address `w`.
    #[allow(clippy::too_many_arguments)]
    fn call(
        &self,
        gpu: &Gpu,
        dtype: ProbeDtype,
        m: u64,
        n: u64,
        k: u64,
        w: u64,
        x: u64,
        y: u64,
    ) -> Result<(), ProbeError> {
        gpu.blas().linear_batched(
            self.backend,
            self.plan.as_ref(),
            dtype,
            m,
            n,
            k,
            self.count,
            self.stride,
            w,
            x,
            y,
        )
    }
}

fn phase(timing: Timing, bytes: u64, flops: u64, copy_bw: f64, ceiling: f64) -> PhaseResult {
    let s = timing.median_s;
    let roof = math::roofline_s(bytes, flops, copy_bw, ceiling);
    PhaseResult {
        seconds: s,
        bytes,
        flops,
        bytes_per_s: bytes as f64 / s,
        flops_per_s: flops as f64 / s,
        bandwidth_vs_copy: bytes as f64 / s / copy_bw,
        roofline_s: roof,
        vs_roofline: s / roof,
        timing,
    }
}

/// Time every backend for one linear shape (`count` matrices `stride`
/// elements apart per call: a strided batch when `count > 1`), rotating the
/// weights over `w_offsets`; keep the fastest.
#[allow(clippy::too_many_arguments)]
fn tune_linear(
    gpu: &Gpu,
    dtype: ProbeDtype,
    m: u64,
    n: u64,
    k: u64,
    count: u64,
    stride: u64,
    w_offsets: &[u64],
    x: u64,
    y: u64,
    samples: usize,
) -> Result<Tuned, ProbeError> {
    let plan = gpu
        .blas()
        .lt_plan_batched(m, n, k, dtype, 6, count, stride)?;
    let mut cands = vec![];
    if dtype != ProbeDtype::Fp8 {
        cands.push(Backend::Cublas);
    }
    if let Some(p) = &plan {
        cands.extend((0..p.algos.len()).map(Backend::Lt));
    }
    let mut best: Option<(Backend, Timing)> = None;
    for be in cands {
        let t = gpu.measure(3, 2e-4, |i| {
            let w = w_offsets[i % w_offsets.len()];
            gpu.blas()
                .linear_batched(be, plan.as_ref(), dtype, m, n, k, count, stride, w, x, y)
        });
        let t = match t {
            Ok(t) => t,
            Err(_) if be != Backend::Cublas => continue, // an algorithm that fails at run time is skipped
            Err(e) => return Err(e),
        };
        if best.as_ref().is_none_or(|(_, b)| t.median_s < b.median_s) {
            best = Some((be, t));
        }
    }
    let (backend, _) = best.ok_or_else(|| ProbeError::Blas {
        during: format!("tuning {m}×{n}×{k} {}", dtype.name()),
        message: "no backend could run this shape".into(),
    })?;
    let timing = gpu.measure(samples, 1e-3, |i| {
        let w = w_offsets[i % w_offsets.len()];
        gpu.blas().linear_batched(
            backend,
            plan.as_ref(),
            dtype,
            m,
            n,
            k,
            count,
            stride,
            w,
            x,
            y,
        )
    })?;
    Ok(Tuned {
        plan,
        backend,
        timing,
        count,
        stride,
    })
}

/// `t` with every figure multiplied by `f` (per-graph → per-layer).
fn scale_timing(t: Timing, f: f64) -> Timing {
    Timing {
        median_s: t.median_s * f,
        min_s: t.min_s * f,
        max_s: t.max_s * f,
        ..t
    }
}

/// Launches per graph for the kernel floors.
const FLOOR_NODES: usize = 200;

/// Fixed cost per kernel: a dependent chain of one-thread kernels, and of
/// tiny bf16 GEMMs (cuBLAS, m 1 × n 256 × k 256), launched eagerly back to
/// back and replayed from a graph of [`FLOOR_NODES`] launches.
fn kernel_floors(gpu: &Gpu) -> Result<KernelFloors, String> {
    let (m, n, k) = (1u64, 256u64, 256u64);
    let e = |e: ProbeError| e.to_string();
    let counter = alloc(256, "floor counter").map_err(e)?;
    let w = alloc(n * k * 2, "floor GEMM W").map_err(e)?;
    let x = alloc(m * k * 2, "floor GEMM x").map_err(e)?;
    let y = alloc(m * n * 2, "floor GEMM y").map_err(e)?;
    gpu.fill(w.ptr, n * k * 2, ProbeDtype::Bf16, 21)
        .map_err(e)?;
    gpu.fill(x.ptr, m * k * 2, ProbeDtype::Bf16, 22)
        .map_err(e)?;
    let gemm = || {
        gpu.blas().linear(
            Backend::Cublas,
            None,
            ProbeDtype::Bf16,
            m,
            n,
            k,
            w.ptr,
            x.ptr,
            y.ptr,
        )
    };
    let kernel_eager = gpu
        .measure(15, 2e-3, |_| gpu.tiny(counter.ptr))
        .map_err(e)?;
    let gemm_eager = gpu.measure(15, 2e-3, |_| gemm()).map_err(e)?;
    let kg = gpu.capture(|| (0..FLOOR_NODES).try_for_each(|_| gpu.tiny(counter.ptr)))?;
    let kernel_graph = gpu.measure_graph(&kg, 15, 2e-3).map_err(e)?;
    let gg = gpu.capture(|| (0..FLOOR_NODES).try_for_each(|_| gemm()))?;
    let gemm_graph = gpu.measure_graph(&gg, 15, 2e-3).map_err(e)?;
    gpu.sync("the kernel floors").map_err(e)?;
    Ok(KernelFloors {
        kernel_eager_s: kernel_eager.median_s,
        kernel_graph_s: kernel_graph.median_s / FLOOR_NODES as f64,
        gemm_eager_s: gemm_eager.median_s,
        gemm_graph_s: gemm_graph.median_s / FLOOR_NODES as f64,
        gemm_shape: format!("{m}×{n}×{k} bf16"),
        graph_nodes: FLOOR_NODES,
    })
}

/// What the "open" stage settled: the attention kernel shape it compiled
/// (`hd`, query heads per KV head, heads per block), the weight dtype really
/// measured, and where every layer's matrices live in the weight buffer.
struct Setup {
    hd: u64,
    qpk: u64,
    group: u64,
    wdt: ProbeDtype,
    layout: math::WeightLayout,
}

/// Side of the square bf16 GEMM that measures the matrix ceiling.
const CEILING_N: u64 = 8192;

/// Every device buffer of one run (freed on drop, before the context) and
/// the memory accounting of the "allocate" stage.
struct Buffers {
    weights: DevBuf,
    kv: DevBuf,
    x: DevBuf,
    y: DevBuf,
    q: DevBuf,
    o: DevBuf,
    /// GQA split partials (outputs, max/sum), or MLA scores and probabilities.
    part_o: DevBuf,
    part_ml: DevBuf,
    /// Fused MLA partials, when the fused kernel fits the shape.
    mla_parts: Option<(DevBuf, DevBuf)>,
    /// A separate 2 GiB buffer for the bandwidth stage when the weights are small.
    bw: Option<DevBuf>,
    /// MLA sequences per launch: L2-sized group and the largest group.
    mla_group_l2: u64,
    mla_group_max: u64,
    memory: MemoryCheck,
}

/// What the per-layer launches of the later stages need.
struct Ctx<'a> {
    gpu: &'a Gpu,
    req: &'a ProbeRequest,
    setup: &'a Setup,
    bufs: &'a Buffers,
}

/// The attention variant the "attention" stage found fastest.
#[derive(Clone, Copy, Debug)]
enum AttnChoice {
    /// GQA split-K kernel: tokens per split and prefetch variant index.
    Gqa { chunk: u64, pf: usize },
    /// One of the MLA paths.
    Mla(MlaCfg),
}

/// Results of the "gemm" stage, and the tuned calls later stages replay.
struct GemmStage {
    ceiling: GemmResult,
    gemms: Vec<GemmResult>,
    tuned: Vec<Tuned>,
    gemm_layer: PhaseResult,
    /// Bytes and FLOPs of one layer's GEMMs.
    bytes: u64,
    flops: u64,
}

/// Results of the "attention" stage.
struct AttentionStage {
    result: AttentionResult,
    choice: AttnChoice,
    /// Bytes and FLOPs of one layer's attention.
    bytes: u64,
    flops: u64,
}

/// Results of the "decode-step" stage.
struct DecodeStage {
    decode_step: PhaseResult,
    decode_step_graph: bool,
    decode_step_eager: PhaseResult,
    gemm_layer_graph: Option<PhaseResult>,
    attention_layer_graph: Option<PhaseResult>,
    kernel_floors: Option<KernelFloors>,
}

impl Ctx<'_> {
    /// One layer's weight GEMMs (layer `l`'s matrices).
    fn layer_gemms(&self, tuned: &[Tuned], l: usize) -> Result<(), ProbeError> {
        let (gpu, b, wdt) = (self.gpu, self.req.batch, self.setup.wdt);
        let (wp, xp, yp) = (self.bufs.weights.ptr, self.bufs.x.ptr, self.bufs.y.ptr);
        let offsets = &self.setup.layout.offsets[l];
        for (gi, g) in self.req.gemms.iter().enumerate() {
            let tu = &tuned[gi];
            let m = g.m(b);
            if tu.count > 1 {
                tu.call(gpu, wdt, m, g.n, g.k, wp + offsets[gi][0], xp, yp)?;
            } else {
                for &o in &offsets[gi] {
                    tu.call(gpu, wdt, m, g.n, g.k, wp + o, xp, yp)?;
                }
            }
        }
        Ok(())
    }

    /// State layer `j`'s decode-step traffic: it reads and rewrites its
    /// share of the fixed state, run as two device copies of half the share
    /// each (one there, one back), in the KV buffer after the attention
    /// layers' cache.
    fn state_layer(&self, j: usize) -> Result<(), ProbeError> {
        let req = self.req;
        let share = req.state_bytes_per_layer();
        let half = share / 2;
        if half == 0 {
            return Ok(());
        }
        let cache = math::kv_layer_bytes(&req.attention, req.batch, req.context_tokens)
            * req.attending_layers();
        let base = self.bufs.kv.ptr + cache + j as u64 * share;
        self.gpu.copy(base + half, base, half)?;
        self.gpu.copy(base, base + half, half)
    }

    /// One layer's decode attention over layer `l`'s cache with `choice`.
    fn attention_layer(&self, choice: AttnChoice, l: usize) -> Result<(), ProbeError> {
        let (gpu, req, bufs) = (self.gpu, self.req, self.bufs);
        let (b, t) = (req.batch, req.context_tokens);
        let layer_bytes = math::kv_layer_bytes(&req.attention, b, t);
        let base = bufs.kv.ptr + l as u64 * layer_bytes;
        let (qp, op, pop, pmlp) = (bufs.q.ptr, bufs.o.ptr, bufs.part_o.ptr, bufs.part_ml.ptr);
        match (req.attention, choice) {
            (ProbeAttention::Gqa { kv_heads, .. }, AttnChoice::Gqa { chunk, pf }) => {
                let Setup { hd, qpk, group, .. } = *self.setup;
                gpu.gqa(
                    qp,
                    base,
                    base + layer_bytes / 2,
                    op,
                    pop,
                    pmlp,
                    b,
                    kv_heads,
                    qpk,
                    group,
                    hd,
                    t,
                    chunk,
                    pf,
                )
            }
            (
                ProbeAttention::Mla {
                    heads,
                    kv_lora_rank,
                    rope_dim,
                },
                AttnChoice::Mla(cfg),
            ) => {
                let (grp, s_bf16) = match cfg {
                    MlaCfg::Fused { chunk, variant } => {
                        let (po, pml) = bufs
                            .mla_parts
                            .as_ref()
                            .map(|(o, ml)| (o.ptr, ml.ptr))
                            .expect("fused MLA partials allocated");
                        return gpu.mla_fused(qp, base, op, po, pml, heads, t, b, chunk, variant);
                    }
                    MlaCfg::Unfused { grp, s_bf16 } => (grp, s_bf16),
                };
                let w = kv_lora_rank + rope_dim;
                let mut s0 = 0;
                while s0 < b {
                    let n = grp.min(b - s0);
                    gpu.mla_group(
                        qp + s0 * heads * w * 2,
                        base + s0 * t * w * 2,
                        op + s0 * heads * kv_lora_rank * 2,
                        pop,
                        pmlp,
                        heads,
                        kv_lora_rank,
                        rope_dim,
                        t,
                        n,
                        s_bf16,
                    )?;
                    s0 += n;
                }
                Ok(())
            }
            _ => unreachable!("the attention choice follows the request's attention kind"),
        }
    }
}

/// Stage "open": driver and libraries, the device, the kernels for this
/// attention shape, the BLAS handles, and the weight dtype and layout.
fn open_stage(
    req: &ProbeRequest,
    st: &mut Stages<'_>,
    notes: &mut Vec<String>,
) -> Result<(Gpu, Setup), ProbeError> {
    st.start("open");
    check_driver()?;
    check_blas()?;
    let mut gpu = Gpu::open(req.device_index)?;

    // Attention shape and kernels.
    let (hd, qpk, group) = match req.attention {
        ProbeAttention::Gqa {
            q_heads,
            kv_heads,
            head_dim,
        } => {
            let qpk = q_heads / kv_heads;
            (head_dim, qpk, math::heads_per_block(qpk, 8))
        }
        ProbeAttention::Mla { .. } => (128, 1, 1),
    };
    gpu.compile(hd, group)?;

    // Decide the weight dtype actually measured (fp8 needs cuBLASLt support).
    let ws = alloc(LT_WORKSPACE, "cuBLASLt workspace")?;
    let cublas_ws = alloc(CUBLAS_WORKSPACE, "cuBLAS workspace")?;
    gpu.blas = Some(Blas::new(gpu.stream.clone(), ws, cublas_ws)?);
    let mut wdt = req.weight_dtype;
    if wdt == ProbeDtype::Fp8 {
        let g = &req.gemms[0];
        if gpu
            .blas()
            .lt_plan(req.batch, g.n, g.k, ProbeDtype::Fp8, 1)?
            .is_none()
        {
            st.note(
                notes,
                "cuBLASLt offers no fp8 (e4m3) matmul on this GPU: the GEMMs are measured in bf16"
                    .into(),
            );
            wdt = ProbeDtype::Bf16;
        }
    }
    if req.kv_dtype != ProbeDtype::Bf16 {
        st.note(
            notes,
            format!(
                "KV cache dtype {} is measured with the bf16 attention kernels (same layout, 2 bytes per value)",
                req.kv_dtype.name()
            ),
        );
    }
    let layout = math::weight_layout(req.weights_bytes, req.layers, &req.gemms, wdt)?;
    if layout.wrapped {
        st.note(
            notes,
            "the layers' matrices do not all fit in weights_bytes: placement wraps around, so some layers share weights".into(),
        );
    }
    let setup = Setup {
        hd,
        qpk,
        group,
        wdt,
        layout,
    };
    Ok((gpu, setup))
}

/// Stage "allocate": refuse cleanly when the plan does not fit the free
/// memory, then allocate every buffer and fill it with non-zero data.
fn allocate_stage(
    gpu: &Gpu,
    req: &ProbeRequest,
    setup: &Setup,
    st: &mut Stages<'_>,
) -> Result<Buffers, ProbeError> {
    st.start("allocate");
    let b = req.batch;
    let t = req.context_tokens;
    let wdt = setup.wdt;
    // Activations: a batched shape gives each of its matrices its own
    // rows × k block in and rows × n block out (2 bytes per value at most).
    let x_bytes = req
        .gemms
        .iter()
        .map(|g| g.count * g.m(b) * g.k * 2)
        .max()
        .unwrap_or(0);
    let y_bytes = req
        .gemms
        .iter()
        .map(|g| g.count * g.m(b) * g.n * 2)
        .max()
        .unwrap_or(0);
    let qh = math::q_heads(&req.attention);
    let (qd, od) = math::q_o_dims(&req.attention);
    // GQA partials sized for the smallest chunk tried (128 tokens).
    let (part_bytes, mla_group_l2, mla_group_max) = match req.attention {
        ProbeAttention::Gqa { .. } => {
            let splits = t.div_ceil(128);
            (b * qh * splits * (qd + 2) * 4, 0, 0)
        }
        ProbeAttention::Mla {
            heads,
            kv_lora_rank,
            rope_dim,
        } => {
            // Two launch groupings are timed: few sequences, so the second
            // GEMM re-reads the latent from L2; or many (up to 4 GiB of
            // scores), so each launch has enough tiles to fill the GPU.
            let l2 = math::mla_group(
                b,
                t,
                heads,
                kv_lora_rank + rope_dim,
                (gpu.summary.l2_bytes * 2 / 3).max(8 << 20),
            );
            let max = (4 * GIB / (heads * t * 6)).clamp(l2, b.max(l2));
            let fused = if mla_fused_fits(heads, kv_lora_rank, rope_dim) {
                b * heads * t.div_ceil(128) * (kv_lora_rank + 2) * 4
            } else {
                0
            };
            (max * heads * t * 6 + fused, l2, max)
        }
    };
    let bw_separate = req.weights_bytes < GIB;
    let scratch = LT_WORKSPACE
        + CUBLAS_WORKSPACE
        + x_bytes
        + y_bytes
        + b * qh * (qd + od) * 2
        + part_bytes
        + 3 * CEILING_N * CEILING_N * 2
        + if bw_separate { 2 * GIB } else { 0 };
    let free_before = free_bytes() + LT_WORKSPACE + CUBLAS_WORKSPACE; // workspaces already allocated
    let need = req.weights_bytes + req.kv_cache_bytes + scratch;
    if need + req.safety_margin_bytes > free_before {
        return Err(ProbeError::InsufficientMemory {
            requested_bytes: need,
            safety_margin_bytes: req.safety_margin_bytes,
            free_bytes: free_before,
        });
    }
    let weights = alloc(req.weights_bytes, "the weight shard")?;
    let kv = alloc(req.kv_cache_bytes, "the KV cache")?;
    let x = alloc(x_bytes, "activations in")?;
    let y = alloc(y_bytes, "activations out")?;
    let q = alloc(b * qh * qd * 2, "attention queries")?;
    let o = alloc(b * qh * od * 2, "attention outputs")?;
    let (part_o, part_ml) = match req.attention {
        ProbeAttention::Gqa { .. } => {
            let splits = t.div_ceil(128);
            (
                alloc(b * qh * splits * qd * 4, "attention partials")?,
                alloc(b * qh * splits * 2 * 4, "attention partials")?,
            )
        }
        ProbeAttention::Mla { heads, .. } => (
            alloc(mla_group_max * heads * t * 4, "MLA scores")?,
            alloc(mla_group_max * heads * t * 2, "MLA probabilities")?,
        ),
    };
    let mla_parts = match req.attention {
        ProbeAttention::Mla {
            heads,
            kv_lora_rank,
            rope_dim,
        } if mla_fused_fits(heads, kv_lora_rank, rope_dim) => {
            let splits = t.div_ceil(128);
            Some((
                alloc(b * heads * splits * kv_lora_rank * 4, "fused MLA partials")?,
                alloc(b * heads * splits * 2 * 4, "fused MLA partials")?,
            ))
        }
        _ => None,
    };
    let bw = if bw_separate {
        Some(alloc(2 * GIB, "bandwidth buffer")?)
    } else {
        None
    };
    let free_after = free_bytes();
    let memory = MemoryCheck {
        weights_bytes: req.weights_bytes,
        kv_cache_bytes: req.kv_cache_bytes,
        scratch_bytes: scratch,
        safety_margin_bytes: req.safety_margin_bytes,
        free_before_bytes: free_before,
        free_after_alloc_bytes: free_after,
    };
    let fill_dt = |d: ProbeDtype| {
        if d == ProbeDtype::Fp8 {
            ProbeDtype::Fp8
        } else {
            ProbeDtype::Bf16
        }
    };
    gpu.fill(weights.ptr, req.weights_bytes, fill_dt(wdt), 1)?;
    st.step("allocate", 1, 3);
    gpu.fill(kv.ptr, req.kv_cache_bytes, ProbeDtype::Bf16, 2)?;
    st.step("allocate", 2, 3);
    gpu.fill(x.ptr, x_bytes, fill_dt(wdt), 3)?;
    gpu.fill(q.ptr, b * qh * qd * 2, ProbeDtype::Bf16, 4)?;
    if let Some(bb) = &bw {
        gpu.fill(bb.ptr, 2 * GIB, ProbeDtype::Bf16, 5)?;
    }
    gpu.sync("filling buffers")?;
    st.step("allocate", 3, 3);
    Ok(Buffers {
        weights,
        kv,
        x,
        y,
        q,
        o,
        part_o,
        part_ml,
        mla_parts,
        bw,
        mla_group_l2,
        mla_group_max,
        memory,
    })
}

/// Stage "self-check": every kernel against the CPU float64 reference.
/// Returns the checks and whether the fused MLA kernel may be timed; any
/// other failed check ends the run.
fn self_check_stage(
    cx: &Ctx<'_>,
    st: &mut Stages<'_>,
    notes: &mut Vec<String>,
) -> Result<(Vec<SelfCheck>, bool), ProbeError> {
    st.start("self-check");
    let Setup {
        hd,
        qpk,
        group,
        wdt,
        ..
    } = *cx.setup;
    let mut self_checks = self_check_gemm(cx.gpu, wdt)?;
    self_checks.extend(match cx.req.attention {
        ProbeAttention::Gqa { .. } => self_check_gqa(cx.gpu, qpk, group, hd, 0x5eed)?,
        ProbeAttention::Mla {
            heads,
            kv_lora_rank,
            rope_dim,
        } => self_check_mla(cx.gpu, heads, kv_lora_rank, rope_dim, 0x5eed)?,
    });
    let fused_ok = !self_checks
        .iter()
        .any(|c| c.kernel.starts_with(MLA_FUSED_CHECK) && !c.passed);
    if !fused_ok {
        st.note(
            notes,
            "fused MLA kernel failed its self-check: timed with the cuBLAS path only".into(),
        );
    }
    if let Some(bad) = self_checks
        .iter()
        .find(|c| !c.passed && !c.kernel.starts_with(MLA_FUSED_CHECK))
    {
        return Err(ProbeError::SelfCheckFailed {
            kernel: format!("{} ({})", bad.kernel, bad.shape),
            relative_error: bad.relative_error,
            threshold: bad.threshold,
        });
    }
    Ok((self_checks, fused_ok))
}

/// Stage "bandwidth": a 16-byte-load read kernel and a device-to-device
/// copy over the same buffer.
fn bandwidth_stage(
    cx: &Ctx<'_>,
    st: &mut Stages<'_>,
    notes: &mut Vec<String>,
) -> Result<BandwidthResult, ProbeError> {
    st.start("bandwidth");
    let (gpu, req, bufs) = (cx.gpu, cx.req, cx.bufs);
    let (bw_ptr, bw_len) = match &bufs.bw {
        Some(bb) => (bb.ptr, 2 * GIB),
        None => (bufs.weights.ptr, req.weights_bytes.min(8 * GIB)),
    };
    let bw_len = bw_len / 4096 * 4096;
    if bw_len < 4 * gpu.summary.l2_bytes {
        st.note(
            notes,
            format!(
                "bandwidth buffer ({bw_len} B) is under 4× L2: the figure may include cache hits"
            ),
        );
    }
    let sink = bufs.y.ptr;
    let read = gpu.measure(15, 5e-3, |_| gpu.read_kernel(bw_ptr, bw_len, sink))?;
    st.step("bandwidth", 1, 2);
    let half = bw_len / 2;
    let copy = gpu.measure(15, 5e-3, |_| gpu.copy(bw_ptr + half, bw_ptr, half))?;
    st.step("bandwidth", 2, 2);
    let read_bps = bw_len as f64 / read.median_s;
    let copy_bps = 2.0 * half as f64 / copy.median_s;
    Ok(BandwidthResult {
        read_bytes: bw_len,
        read_bytes_per_s: read_bps,
        read,
        copy_bytes: half,
        copy_bytes_per_s: copy_bps,
        copy,
        read_vs_copy: read_bps / copy_bps,
        read_vs_peak: req.peaks.map(|p| read_bps / p.memory_bandwidth_bytes_per_s),
    })
}

/// The 8192³ bf16 GEMM that measures this GPU's matrix ceiling.
fn gemm_ceiling(gpu: &Gpu, req: &ProbeRequest, copy_bps: f64) -> Result<GemmResult, ProbeError> {
    let nn = CEILING_N;
    let a = alloc(nn * nn * 2, "ceiling GEMM A")?;
    let bm = alloc(nn * nn * 2, "ceiling GEMM B")?;
    let c = alloc(nn * nn * 2, "ceiling GEMM C")?;
    gpu.fill(a.ptr, nn * nn * 2, ProbeDtype::Bf16, 7)?;
    gpu.fill(bm.ptr, nn * nn * 2, ProbeDtype::Bf16, 8)?;
    let tuned = tune_linear(
        gpu,
        ProbeDtype::Bf16,
        nn,
        nn,
        nn,
        1,
        0,
        &[a.ptr],
        bm.ptr,
        c.ptr,
        10,
    )?;
    let s = tuned.timing.median_s;
    let flops = 2.0 * (nn * nn * nn) as f64 / s;
    Ok(GemmResult {
        name: "ceiling".into(),
        m: nn,
        n: nn,
        k: nn,
        count: 1,
        dtype_requested: ProbeDtype::Bf16,
        dtype_measured: ProbeDtype::Bf16,
        backend: tuned.backend.name(),
        batched: false,
        call_seconds: s,
        seconds: s,
        flops_per_s: flops,
        weight_bytes_per_s: (nn * nn * 2) as f64 / s,
        bandwidth_vs_copy: (nn * nn * 2) as f64 / s / copy_bps,
        flops_vs_peak: req.peaks.map(|p| flops / p.bf16_flops_per_s).unwrap_or(1.0),
    })
}

/// Stage "gemm": the matrix ceiling, each layer GEMM alone (autotuned;
/// several matrices as one strided-batched call where they lie back to
/// back), then one layer's GEMMs back to back, rotated over the layers.
fn gemm_stage(
    cx: &Ctx<'_>,
    copy_bps: f64,
    st: &mut Stages<'_>,
    notes: &mut Vec<String>,
) -> Result<GemmStage, ProbeError> {
    st.start("gemm");
    let (gpu, req, bufs) = (cx.gpu, cx.req, cx.bufs);
    let (b, wdt, layout) = (req.batch, cx.setup.wdt, &cx.setup.layout);
    let (wp, xp, yp) = (bufs.weights.ptr, bufs.x.ptr, bufs.y.ptr);
    let ceiling = gemm_ceiling(gpu, req, copy_bps)?;
    let ceiling_flops = ceiling.flops_per_s;
    let flops_peak = req
        .peaks
        .map(|p| p.bf16_flops_per_s)
        .unwrap_or(ceiling_flops);
    let mut tuned: Vec<Tuned> = vec![];
    let mut pending: Vec<String> = vec![];
    let mut gemms = vec![];
    let ng = req.gemms.len() as u64;
    for (gi, g) in req.gemms.iter().enumerate() {
        st.step("gemm", gi as u64, ng);
        let m = g.m(b);
        let stride = math::matrix_stride(g, wdt) / wdt.bytes();
        let mut tu = None;
        if g.count > 1 && layout.contiguous[gi] {
            // One strided-batched GEMM over the layer's `count` matrices,
            // rotated over the layers' groups.
            let bases: Vec<u64> = layout.offsets.iter().map(|l| wp + l[gi][0]).collect();
            match tune_linear(gpu, wdt, m, g.n, g.k, g.count, stride, &bases, xp, yp, 15) {
                Ok(t) => tu = Some(t),
                Err(e) => pending.push(format!(
                    "'{}': no strided-batched GEMM ran ({e}); its {} matrices run one call each",
                    g.name, g.count
                )),
            }
        } else if g.count > 1 {
            pending.push(format!(
                "'{}': its {} matrices do not fit back to back in the weight shard; they run one call each",
                g.name, g.count
            ));
        }
        let tu = match tu {
            Some(t) => t,
            None => {
                let offs: Vec<u64> = layout
                    .offsets
                    .iter()
                    .flat_map(|l| l[gi].iter().cloned())
                    .map(|o| wp + o)
                    .collect();
                tune_linear(gpu, wdt, m, g.n, g.k, 1, 0, &offs, xp, yp, 15)?
            }
        };
        let call = tu.timing.median_s;
        let s = call / tu.count as f64;
        let wbytes = math::matrix_bytes(g, wdt);
        let flops = 2.0 * (m * g.n * g.k) as f64 / s;
        gemms.push(GemmResult {
            name: g.name.clone(),
            m,
            n: g.n,
            k: g.k,
            count: g.count,
            dtype_requested: req.weight_dtype,
            dtype_measured: wdt,
            backend: if tu.count > 1 {
                format!("{}-batched", tu.backend.name())
            } else {
                tu.backend.name()
            },
            batched: tu.count > 1,
            call_seconds: call,
            seconds: s,
            flops_per_s: flops,
            weight_bytes_per_s: wbytes as f64 / s,
            bandwidth_vs_copy: wbytes as f64 / s / copy_bps,
            flops_vs_peak: flops / flops_peak,
        });
        tuned.push(tu);
    }
    st.step("gemm", ng, ng);
    // Notes wait for the end of a stage (the CLI draws a progress bar on the line).
    for n in pending.drain(..) {
        st.note(notes, n);
    }
    let layers = req.layers as usize;
    let timing = gpu.measure(11, 2e-3, |i| cx.layer_gemms(&tuned, i % layers))?;
    let bytes = math::gemm_layer_bytes(&req.gemms, wdt, b);
    let flops = math::gemm_layer_flops(&req.gemms, b);
    let gemm_layer = phase(timing, bytes, flops, copy_bps, ceiling_flops);
    Ok(GemmStage {
        ceiling,
        gemms,
        tuned,
        gemm_layer,
        bytes,
        flops,
    })
}

/// Stage "attention": time every attention variant that applies to the
/// shape over the allocated cache and keep the fastest.
fn attention_stage(
    cx: &Ctx<'_>,
    fused_ok: bool,
    copy_bps: f64,
    ceiling_flops: f64,
    st: &mut Stages<'_>,
) -> Result<AttentionStage, ProbeError> {
    st.start("attention");
    let (gpu, req, bufs) = (cx.gpu, cx.req, cx.bufs);
    let (b, t) = (req.batch, req.context_tokens);
    let layers = req.attending_layers() as usize;
    let sm = gpu.summary.sm_count as u64;
    let bytes = math::attention_bytes(&req.attention, b, t);
    let flops = math::attention_flops(&req.attention, b, t);
    let (result, choice) = match req.attention {
        ProbeAttention::Gqa { kv_heads, .. } => {
            let Setup { qpk, group, .. } = *cx.setup;
            let kvb = kv_heads * (qpk / group);
            let mut chunks: Vec<u64> = [8u64, 32, 128]
                .iter()
                .map(|w| math::gqa_chunk(b, kvb, t, sm * w, 128))
                .collect();
            chunks.sort();
            chunks.dedup();
            let combos: Vec<(u64, usize)> = chunks
                .iter()
                .flat_map(|&c| (0..GQA_PF.len()).map(move |p| (c, p)))
                .collect();
            let mut tried = vec![];
            let mut best: Option<(u64, usize, Timing)> = None;
            for (ci, &(c, pf)) in combos.iter().enumerate() {
                st.step("attention", ci as u64, combos.len() as u64);
                let choice = AttnChoice::Gqa { chunk: c, pf };
                let tm = gpu.measure(9, 2e-3, |i| cx.attention_layer(choice, i % layers))?;
                tried.push(format!(
                    "chunk {c} pf{}: {:.1} µs",
                    GQA_PF[pf],
                    tm.median_s * 1e6
                ));
                if best
                    .as_ref()
                    .is_none_or(|(_, _, bt)| tm.median_s < bt.median_s)
                {
                    best = Some((c, pf, tm));
                }
            }
            st.step("attention", combos.len() as u64, combos.len() as u64);
            let (chunk, pf, timing) = best.expect("at least one variant");
            let splits = t.div_ceil(chunk);
            let res = AttentionResult {
                kind: "gqa".into(),
                batch: b,
                context: t,
                method: format!(
                    "split-K flash-decoding kernel pf{} (K/V prefetched {} token steps ahead): chunk {chunk} tokens ({splits} splits, {} blocks of {GQA_THREADS} threads, {group} q heads per block) + reduce kernel; tried {}",
                    GQA_PF[pf],
                    GQA_PF[pf],
                    splits * b * kvb,
                    tried.join(", ")
                ),
                phase: phase(timing, bytes, flops, copy_bps, ceiling_flops),
            };
            (res, AttnChoice::Gqa { chunk, pf })
        }
        ProbeAttention::Mla { heads, .. } => {
            let mut groups = vec![bufs.mla_group_l2, bufs.mla_group_max];
            groups.dedup();
            let mut cfgs = vec![];
            for &grp in &groups {
                for s_bf16 in [false, true] {
                    cfgs.push(MlaCfg::Unfused { grp, s_bf16 });
                }
            }
            if bufs.mla_parts.is_some() && fused_ok {
                for variant in 0..MLA_FUSED_STAGES.len() {
                    for chunk in mla_fused_chunks(t) {
                        cfgs.push(MlaCfg::Fused { chunk, variant });
                    }
                }
            }
            let describe = |cfg: MlaCfg| match cfg {
                MlaCfg::Unfused { grp, s_bf16 } => format!(
                    "cuBLAS {grp} seq/launch, {} scores",
                    if s_bf16 { "bf16" } else { "f32" }
                ),
                MlaCfg::Fused { chunk, variant } => {
                    format!("fused st{} chunk {chunk}", MLA_FUSED_STAGES[variant])
                }
            };
            let mut tried = vec![];
            let mut best: Option<(MlaCfg, Timing)> = None;
            for &cfg in &cfgs {
                let choice = AttnChoice::Mla(cfg);
                let tm = gpu.measure(9, 2e-3, |i| cx.attention_layer(choice, i % layers))?;
                tried.push(format!("{}: {:.1} µs", describe(cfg), tm.median_s * 1e6));
                if best
                    .as_ref()
                    .is_none_or(|(_, bt)| tm.median_s < bt.median_s)
                {
                    best = Some((cfg, tm));
                }
            }
            let (cfg, timing) = best.expect("at least one variant");
            let method = match cfg {
                MlaCfg::Unfused { grp, s_bf16 } => format!(
                    "cuBLAS strided-batched bf16 GEMMs (scores {}, weighted sum bf16) + softmax kernel, {grp} sequence(s) per launch",
                    if s_bf16 { "bf16" } else { "f32" }
                ),
                MlaCfg::Fused { chunk, variant } => format!(
                    "fused split-K flash-decoding MLA kernel (mma.sync bf16 tensor cores, {} heads per block, {}-token tiles, {}-stage cp.async pipeline): chunk {chunk} tokens ({} splits, {} blocks of {MLA_FUSED_THREADS} threads) + reduce kernel",
                    MLA_FUSED_HEADS,
                    MLA_FUSED_TILE,
                    MLA_FUSED_STAGES[variant],
                    t.div_ceil(chunk),
                    t.div_ceil(chunk) * b * (heads / MLA_FUSED_HEADS)
                ),
            };
            let res = AttentionResult {
                kind: "mla".into(),
                batch: b,
                context: t,
                method: format!("{method}; tried {}", tried.join(", ")),
                phase: phase(timing, bytes, flops, copy_bps, ceiling_flops),
            };
            (res, AttnChoice::Mla(cfg))
        }
    };
    Ok(AttentionStage {
        result,
        choice,
        bytes,
        flops,
    })
}

/// Stage "decode-step": the whole synthetic step eager, then from CUDA
/// graphs (the whole step, all layers' GEMMs, all layers' attention), then
/// the per-kernel floors.
fn decode_step_stage(
    cx: &Ctx<'_>,
    g: &GemmStage,
    a: &AttentionStage,
    copy_bps: f64,
    st: &mut Stages<'_>,
    notes: &mut Vec<String>,
) -> Result<DecodeStage, ProbeError> {
    st.start("decode-step");
    let (gpu, req) = (cx.gpu, cx.req);
    let ceiling_flops = g.ceiling.flops_per_s;
    let layers = req.layers as usize;
    let attending = req.attending_layers() as usize;
    let layer_gemms = |l: usize| cx.layer_gemms(&g.tuned, l);
    let attn_layer = |l: usize| cx.attention_layer(a.choice, l);
    // A hybrid's attention layers come first in the cache buffer; the state
    // layers' traffic follows (the order inside a step does not change its
    // time).
    let step = || -> Result<(), ProbeError> {
        for l in 0..layers {
            if l < attending {
                attn_layer(l)?;
            } else {
                cx.state_layer(l - attending)?;
            }
            layer_gemms(l)?;
        }
        Ok(())
    };
    let state_traffic_bytes = 2 * (req.state_bytes_per_layer() / 2) * 2 * req.state_layers();
    let step_bytes = req.layers * g.bytes + req.attending_layers() * a.bytes + state_traffic_bytes;
    let step_flops = req.layers * g.flops + req.attending_layers() * a.flops;
    let eager_timing = gpu.measure(7, 1e-3, |_| step())?;
    let decode_step_eager = phase(
        eager_timing,
        step_bytes,
        step_flops,
        copy_bps,
        ceiling_flops,
    );
    gpu.sync("the decode step")?;
    st.step("decode-step", 1, 5);
    let per_layer = 1.0 / layers as f64;
    let mut pending: Vec<String> = vec![];
    if req.state_layers() > 0 {
        pending.push(format!(
            "{} of {} layers hold a fixed state (linear attention / SSM): their step is timed as reading and rewriting it ({:.1} MiB per layer) with device copies, not with their recurrence kernels",
            req.state_layers(),
            req.layers,
            req.state_bytes_per_layer() as f64 / (1u64 << 20) as f64
        ));
    }
    let graph_note = |what: &str, why: String, pending: &mut Vec<String>| {
        pending.push(format!(
            "CUDA graph of {what} not captured ({why}); eager figures only"
        ))
    };
    let (decode_step, decode_step_graph) = match gpu.capture(step) {
        Ok(gr) => {
            let tm = gpu.measure_graph(&gr, 15, 5e-3)?;
            (
                phase(tm, step_bytes, step_flops, copy_bps, ceiling_flops),
                true,
            )
        }
        Err(why) => {
            graph_note("the decode step", why, &mut pending);
            (decode_step_eager.clone(), false)
        }
    };
    st.step("decode-step", 2, 5);
    let gemm_layer_graph = match gpu.capture(|| (0..layers).try_for_each(layer_gemms)) {
        Ok(gr) => {
            let tm = scale_timing(gpu.measure_graph(&gr, 11, 2e-3)?, per_layer);
            Some(phase(tm, g.bytes, g.flops, copy_bps, ceiling_flops))
        }
        Err(why) => {
            graph_note("the layers' GEMMs", why, &mut pending);
            None
        }
    };
    st.step("decode-step", 3, 5);
    let attention_layer_graph = match gpu.capture(|| (0..attending).try_for_each(attn_layer)) {
        Ok(gr) => {
            let tm = scale_timing(gpu.measure_graph(&gr, 11, 2e-3)?, 1.0 / attending as f64);
            Some(phase(tm, a.bytes, a.flops, copy_bps, ceiling_flops))
        }
        Err(why) => {
            graph_note("the layers' attention", why, &mut pending);
            None
        }
    };
    st.step("decode-step", 4, 5);
    let mut floor_info = None;
    let kernel_floors = match kernel_floors(gpu) {
        Ok(f) => {
            floor_info = Some(format!(
                "kernel floor: one-thread kernel {:.2} µs eager, {:.2} µs in a graph; {} GEMM {:.2} µs eager, {:.2} µs in a graph",
                f.kernel_eager_s * 1e6,
                f.kernel_graph_s * 1e6,
                f.gemm_shape,
                f.gemm_eager_s * 1e6,
                f.gemm_graph_s * 1e6
            ));
            Some(f)
        }
        Err(why) => {
            pending.push(format!("kernel floors not measured ({why})"));
            None
        }
    };
    st.step("decode-step", 5, 5);
    for n in pending.drain(..) {
        st.note(notes, n);
    }
    if let Some(info) = floor_info {
        // Information, not a caveat: shown, not added to the report's notes.
        (st.progress)(ProbeEvent::Note(info));
    }
    Ok(DecodeStage {
        decode_step,
        decode_step_graph,
        decode_step_eager,
        gemm_layer_graph,
        attention_layer_graph,
        kernel_floors,
    })
}

/// Measured against predicted, for each prediction the request carries.
fn comparisons(
    req: &ProbeRequest,
    read_bps: f64,
    g: &GemmStage,
    a: &AttentionStage,
    d: &DecodeStage,
) -> Vec<Comparison> {
    let mut out = vec![];
    let Some(p) = &req.predicted else {
        return out;
    };
    if let Some(x) = p.weights_read_s {
        out.push(Comparison::new(
            "weights_read",
            x,
            req.weights_bytes as f64 / read_bps,
        ));
    }
    if let Some(x) = p.gemm_layer_s {
        out.push(Comparison::new("gemm_layer", x, g.gemm_layer.seconds));
        if let Some(gg) = &d.gemm_layer_graph {
            out.push(Comparison::new("gemm_layer_graph", x, gg.seconds));
        }
    }
    if let Some(x) = p.attention_layer_s {
        out.push(Comparison::new(
            "attention_layer",
            x,
            a.result.phase.seconds,
        ));
        if let Some(ag) = &d.attention_layer_graph {
            out.push(Comparison::new("attention_layer_graph", x, ag.seconds));
        }
    }
    if let Some(x) = p.decode_step_s {
        out.push(Comparison::new("decode_step", x, d.decode_step.seconds));
        if d.decode_step_graph {
            out.push(Comparison::new(
                "decode_step_eager",
                x,
                d.decode_step_eager.seconds,
            ));
        }
    }
    out
}

/// The timed run behind [`super::run`]: one function per stage, in order
/// (open, allocate, self-check, bandwidth, gemm, attention, decode-step),
/// then the comparison with kvplan's predictions.
pub(crate) fn run(
    req: &ProbeRequest,
    progress: &mut dyn FnMut(ProbeEvent),
) -> Result<ProbeReport, ProbeError> {
    let mut st = Stages {
        progress,
        index: 0,
        total: 7,
    };
    let mut notes: Vec<String> = vec![];
    let (gpu, setup) = open_stage(req, &mut st, &mut notes)?;
    let bufs = allocate_stage(&gpu, req, &setup, &mut st)?;
    let cx = Ctx {
        gpu: &gpu,
        req,
        setup: &setup,
        bufs: &bufs,
    };
    let (self_checks, fused_ok) = self_check_stage(&cx, &mut st, &mut notes)?;
    let bandwidth = bandwidth_stage(&cx, &mut st, &mut notes)?;
    let copy_bps = bandwidth.copy_bytes_per_s;
    let g = gemm_stage(&cx, copy_bps, &mut st, &mut notes)?;
    let a = attention_stage(&cx, fused_ok, copy_bps, g.ceiling.flops_per_s, &mut st)?;
    let d = decode_step_stage(&cx, &g, &a, copy_bps, &mut st, &mut notes)?;
    let comparisons = comparisons(req, bandwidth.read_bytes_per_s, &g, &a, &d);
    let decode_tokens_per_s = req.batch as f64 / d.decode_step.seconds;
    Ok(ProbeReport {
        request: req.clone(),
        device: gpu.summary.clone(),
        memory: bufs.memory.clone(),
        self_checks,
        bandwidth,
        gemm_ceiling: g.ceiling,
        gemms: g.gemms,
        gemm_layer: g.gemm_layer,
        attention: a.result,
        gemm_layer_graph: d.gemm_layer_graph,
        attention_layer_graph: d.attention_layer_graph,
        decode_step: d.decode_step,
        decode_step_graph: d.decode_step_graph,
        decode_step_eager: Some(d.decode_step_eager),
        kernel_floors: d.kernel_floors,
        decode_tokens_per_s,
        comparisons,
        notes,
    })
}

/// Compile the kernel source with NVRTC for several shapes (no GPU needed;
/// used by tests where libnvrtc is present).
#[cfg(test)]
pub fn compile_only(hd: u64, group: u64) -> Result<String, ProbeError> {
    check_nvrtc()?;
    let ptx = compile_ptx_with_opts(
        SOURCE,
        CompileOptions {
            arch: Some("sm_90"),
            options: vec![format!("-DHD={hd}"), format!("-DGROUP={group}")],
            ..Default::default()
        },
    )
    .map_err(|e| ProbeError::Compile {
        log: format!("{e:?}"),
    })?;
    Ok(ptx.to_src())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_compile_with_nvrtc_where_present() {
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            eprintln!("skipping: libnvrtc not found (CUDA toolkit not installed)");
            return;
        }
        for (hd, g) in [(128, 4), (64, 8), (256, 2), (96, 1), (128, 8)] {
            let ptx = compile_only(hd, g).unwrap_or_else(|e| panic!("HD={hd} GROUP={g}: {e}"));
            for k in super::super::kernels::KERNELS {
                assert!(ptx.contains(k), "{k} missing from PTX");
            }
            // 16-byte loads in the read and attention kernels.
            assert!(ptx.contains("ld.global.nc.v4.u32") || ptx.contains("ld.global.nc.v4.b32"));
        }
    }

    #[test]
    fn run_without_driver_is_a_clean_error() {
        if unsafe { ds::is_culib_present() } {
            eprintln!("skipping: an NVIDIA driver is present");
            return;
        }
        let e = Gpu::open(0).err().expect("error without a driver");
        assert!(e.to_string().contains("libcuda"), "{e}");
    }
}
