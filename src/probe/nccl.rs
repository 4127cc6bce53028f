//! NCCL all-reduce bandwidth over several GPUs of one host, one thread
//! driving every GPU (ncclCommInitAll + grouped calls).
//!
//! NVLink multicast (NVLS) is switched off (`NCCL_NVLS_ENABLE=0`) before NCCL
//! starts, and no multicast object is ever created: a program that uses
//! multicast can take a host's shared GPUs out of service.

use std::time::Instant;

use cudarc::driver::CudaContext;
use cudarc::nccl::{result as nr, sys as ns};

use super::gpu::{alloc, check_driver, DevBuf};
use super::math;
use super::{AllReduceSample, ProbeError};

/// Bus bandwidth of an in-place bf16 sum all-reduce over `devices` for each
/// message size in `sizes` (bytes per GPU, rounded down to whole bf16
/// elements). Median of 5 timed batches of iterations after warm-up.
pub fn allreduce_bandwidth(
    devices: &[usize],
    sizes: &[u64],
) -> Result<Vec<AllReduceSample>, ProbeError> {
    if devices.len() < 2 {
        return Err(ProbeError::InvalidRequest(
            "an all-reduce needs at least two GPUs".into(),
        ));
    }
    if sizes.iter().any(|&s| s < 2) {
        return Err(ProbeError::InvalidRequest(
            "all-reduce message sizes must be at least 2 bytes".into(),
        ));
    }
    check_driver()?;
    if !unsafe { ns::is_culib_present() } {
        return Err(ProbeError::MissingLibrary {
            library: "libnccl.so.2 (NCCL)".into(),
            hint: "install NCCL (e.g. the libnccl2 package or the nvidia-nccl wheel) and put it on the loader path".into(),
        });
    }
    // Before NCCL reads its environment: never use NVLink multicast.
    std::env::set_var("NCCL_NVLS_ENABLE", "0");

    cudarc::driver::result::init().map_err(|e| ProbeError::cuda("initialising CUDA", e))?;
    let count = CudaContext::device_count()
        .map_err(|e| ProbeError::cuda("counting GPUs", e))?
        .max(0) as usize;
    if let Some(&bad) = devices.iter().find(|&&d| d >= count) {
        return Err(ProbeError::NoSuchDevice {
            requested: bad,
            available: count,
        });
    }
    let max = *sizes.iter().max().unwrap_or(&2);
    let mut ctxs = vec![];
    let mut streams = vec![];
    let mut bufs: Vec<DevBuf> = vec![];
    for &d in devices {
        let ctx = CudaContext::new(d)
            .map_err(|e| ProbeError::cuda(format!("creating a context on GPU {d}"), e))?;
        let stream = ctx
            .new_stream()
            .map_err(|e| ProbeError::cuda("creating a stream", e))?;
        ctx.bind_to_thread()
            .map_err(|e| ProbeError::cuda("binding the context", e))?;
        let buf = alloc(max, &format!("all-reduce buffer on GPU {d}"))?;
        // Non-zero data: 1.0 in bf16 (0x3f80) everywhere.
        unsafe {
            cudarc::driver::result::memset_d8_sync(buf.ptr, 0x3f, max as usize)
                .map_err(|e| ProbeError::cuda("filling the all-reduce buffer", e))?;
        }
        bufs.push(buf);
        streams.push(stream);
        ctxs.push(ctx);
    }
    let n = devices.len();
    let mut comms: Vec<ns::ncclComm_t> = vec![std::ptr::null_mut(); n];
    let ordinals: Vec<i32> = devices.iter().map(|&d| d as i32).collect();
    unsafe { nr::comm_init_all(comms.as_mut_ptr(), n as i32, ordinals.as_ptr()) }
        .map_err(|e| ProbeError::nccl("creating communicators", e))?;

    let one = |bytes: u64| -> Result<(), ProbeError> {
        let elems = (bytes / 2) as usize;
        nr::group_start().map_err(|e| ProbeError::nccl("group start", e))?;
        for i in 0..n {
            unsafe {
                nr::all_reduce(
                    bufs[i].ptr as *const _,
                    bufs[i].ptr as *mut _,
                    elems,
                    ns::ncclDataType_t::ncclBfloat16,
                    ns::ncclRedOp_t::ncclSum,
                    comms[i],
                    streams[i].cu_stream() as ns::cudaStream_t,
                )
            }
            .map_err(|e| ProbeError::nccl("all-reduce", e))?;
        }
        nr::group_end().map_err(|e| ProbeError::nccl("group end", e))?;
        Ok(())
    };
    let sync_all = || -> Result<(), ProbeError> {
        for s in &streams {
            s.synchronize()
                .map_err(|e| ProbeError::cuda("waiting for the all-reduce", e))?;
        }
        Ok(())
    };
    let mut out = vec![];
    let result = (|| -> Result<(), ProbeError> {
        for &size in sizes {
            for _ in 0..5 {
                one(size)?;
            }
            sync_all()?;
            // Iterations per batch: ~2 ms worth, assuming ≥ 10 GB/s and ≥ 10 µs each.
            let iters = ((2e-3 / (size as f64 / 10e9).max(10e-6)).ceil() as usize).clamp(2, 200);
            let mut batch_s = vec![];
            for _ in 0..5 {
                let t0 = Instant::now();
                for _ in 0..iters {
                    one(size)?;
                }
                sync_all()?;
                batch_s.push(t0.elapsed().as_secs_f64() / iters as f64);
            }
            let s = math::median(&batch_s);
            let bytes = size / 2 * 2;
            out.push(AllReduceSample {
                devices: devices.to_vec(),
                bytes,
                seconds: s,
                algbw_bytes_per_s: bytes as f64 / s,
                busbw_bytes_per_s: math::allreduce_busbw(bytes, s, n),
            });
        }
        Ok(())
    })();
    for c in comms {
        unsafe {
            let _ = nr::comm_destroy(c);
        }
    }
    for (ctx, buf) in ctxs.iter().zip(bufs) {
        let _ = ctx.bind_to_thread();
        drop(buf);
    }
    result?;
    Ok(out)
}
