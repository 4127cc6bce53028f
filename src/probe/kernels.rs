//! CUDA C source of the probe's kernels, compiled at run time by NVRTC with
//! the attention shape as `-D` defines (`HD` head dim, `GROUP` q heads per
//! block). No CUDA headers are included, so NVRTC needs no include path:
//! bf16 is handled as raw 16-bit values (bf16 → f32 is a 16-bit shift).

/// Names of the kernels in [`SOURCE`].
#[cfg(test)]
pub const KERNELS: &[&str] = &[
    "fill_bf16",
    "fill_e4m3",
    "read_bw",
    "gqa_decode_split_pf1",
    "gqa_decode_split_pf2",
    "gqa_decode_split_pf4",
    "attn_reduce",
    "softmax_rows",
    "softmax_rows_bf16",
    "mla_fused_st2",
    "mla_fused_st3",
    "tiny",
];

/// Fused MLA kernel: compiled-in latent rank and rope width, heads per block,
/// tokens per tile, threads per block.
pub const MLA_FUSED_RANK: u64 = 512;
pub const MLA_FUSED_ROPE: u64 = 64;
pub const MLA_FUSED_HEADS: u64 = 16;
pub const MLA_FUSED_TILE: u64 = 32;
pub const MLA_FUSED_THREADS: u32 = 128;
/// Pipeline depths (shared-memory tile buffers) of the fused MLA variants.
pub const MLA_FUSED_STAGES: &[usize] = &[2, 3];

/// Dynamic shared memory of the fused MLA kernel with `stages` tile buffers.
pub const fn mla_fused_smem(stages: usize) -> u32 {
    let row = (MLA_FUSED_RANK + MLA_FUSED_ROPE + 8) * 2;
    (MLA_FUSED_HEADS * row
        + stages as u64 * MLA_FUSED_TILE * row
        + MLA_FUSED_HEADS * (MLA_FUSED_TILE + 4) * 4) as u32
}

/// Threads per GQA attention block (4 warps).
pub const GQA_THREADS: u32 = 128;

/// The kernels.
pub const SOURCE: &str = r#"
typedef unsigned short bf16_t;
typedef unsigned int u32;
typedef unsigned long long u64;

#ifndef HD
#define HD 128
#endif
#ifndef GROUP
#define GROUP 4
#endif

__device__ __forceinline__ float bf_lo(u32 w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float bf_hi(u32 w) { return __uint_as_float(w & 0xffff0000u); }
__device__ __forceinline__ u32 f2bf(float f) {
    u32 u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}
__device__ __forceinline__ u32 mix32(u64 x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (u32)x;
}
/* 16 random bits -> bf16 in +-[0.25, 1) * scale, never zero */
__device__ __forceinline__ u32 rand_bf16(u32 r, float scale) {
    float mag = 0.25f + 0.75f * (float)(r & 0x7fffu) * (1.0f / 32768.0f);
    float v = (r & 0x8000u) ? -mag : mag;
    return f2bf(v * scale);
}

/* Fill n16 16-byte words with random non-zero bf16 values. */
extern "C" __global__ void fill_bf16(uint4* __restrict__ p, u64 n16, u32 seed, float scale) {
    u64 stride = (u64)gridDim.x * blockDim.x;
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < n16; i += stride) {
        u32 w[4];
        #pragma unroll
        for (int j = 0; j < 4; ++j) {
            u32 r = mix32((i * 4 + j) * 0x9E3779B97F4A7C15ULL + seed);
            w[j] = rand_bf16(r & 0xffffu, scale) | (rand_bf16(r >> 16, scale) << 16);
        }
        p[i] = make_uint4(w[0], w[1], w[2], w[3]);
    }
}

/* Fill n16 16-byte words with random fp8 e4m3 values of exponent 2^-2..2^1 (never 0 or NaN). */
extern "C" __global__ void fill_e4m3(uint4* __restrict__ p, u64 n16, u32 seed) {
    u64 stride = (u64)gridDim.x * blockDim.x;
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < n16; i += stride) {
        u32 w[4];
        #pragma unroll
        for (int j = 0; j < 4; ++j) {
            u32 r = mix32((i * 4 + j) * 0x9E3779B97F4A7C15ULL + seed);
            u32 out = 0;
            #pragma unroll
            for (int b = 0; b < 4; ++b) {
                u32 x = (r >> (8 * b)) & 0xffu;
                u32 byte = (x & 0x80u) | ((5u + ((x >> 3) & 3u)) << 3) | (x & 7u);
                out |= byte << (8 * b);
            }
            w[j] = out;
        }
        p[i] = make_uint4(w[0], w[1], w[2], w[3]);
    }
}

/* Launch-floor probe: one thread bumps one counter (a dependent chain of
   these measures the fixed cost of a kernel, eager or in a CUDA graph). */
extern "C" __global__ void tiny(u32* p) {
    if (threadIdx.x == 0 && blockIdx.x == 0) p[0] += 1u;
}

/* Streaming read: 16-byte loads, 4 independent loads in flight per thread. */
extern "C" __global__ void read_bw(const uint4* __restrict__ p, u64 n16, u32* __restrict__ sink) {
    u64 stride = (u64)gridDim.x * blockDim.x;
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    u32 acc = 0;
    for (; i + 3 * stride < n16; i += 4 * stride) {
        uint4 a = __ldg(p + i);
        uint4 b = __ldg(p + i + stride);
        uint4 c = __ldg(p + i + 2 * stride);
        uint4 d = __ldg(p + i + 3 * stride);
        acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w;
        acc ^= c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
    }
    for (; i < n16; i += stride) {
        uint4 a = __ldg(p + i);
        acc ^= a.x ^ a.y ^ a.z ^ a.w;
    }
    if (acc == 0x9e3779b9u) sink[0] = acc; /* keeps the loads alive */
}

/* ---- GQA decode attention, split-K (flash-decoding) ----
   q:  [B][QH][HD] bf16        k, v: [B][KVH][ctx][HD] bf16 (one layer)
   block (split s, y = kv head * nhc + head chunk c, batch b); GROUP q heads per block,
   QH = KVH * qpk, q head = kvh * qpk + c * GROUP + g.
   Each token's HD values are spread over LPT lanes, 8 values (one 16-byte load) per lane;
   a warp handles TPW tokens at once; scores are reduced with shuffles; online softmax in base 2.
   part_o: [B*QH][splits][HD] f32 (unnormalised), part_ml: [B*QH][splits][2] (max, sum). */
#define VEC 8
#define LPT_RAW (HD / VEC)
#define LPT (LPT_RAW <= 1 ? 1 : LPT_RAW <= 2 ? 2 : LPT_RAW <= 4 ? 4 : LPT_RAW <= 8 ? 8 : LPT_RAW <= 16 ? 16 : 32)
#define TPW (32 / LPT)
#define WARPS 4
#define TPB (TPW * WARPS)
#define NEG_BIG (-1.0e30f)

__device__ __forceinline__ void unpack8(uint4 w, float* f) {
    f[0] = bf_lo(w.x); f[1] = bf_hi(w.x); f[2] = bf_lo(w.y); f[3] = bf_hi(w.y);
    f[4] = bf_lo(w.z); f[5] = bf_hi(w.z); f[6] = bf_lo(w.w); f[7] = bf_hi(w.w);
}

/* PF = tokens-steps of K/V prefetched into registers ahead of use (more bytes in flight). */
template <int PF>
__device__ __forceinline__ void gqa_body(const bf16_t* __restrict__ q, const bf16_t* __restrict__ k,
                 const bf16_t* __restrict__ v, float* __restrict__ part_o,
                 float* __restrict__ part_ml, int kvh, int qpk, int ctx, int chunk,
                 int splits, float qscale)
{
    const int s = blockIdx.x;
    const int nhc = qpk / GROUP;
    const int h = blockIdx.y / nhc;
    const int c = blockIdx.y % nhc;
    const int b = blockIdx.z;
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int sub = lane / LPT;
    const int li = lane % LPT;
    const bool active = li < LPT_RAW;
    const int d0 = li * VEC;
    const int qh_total = kvh * qpk;
    const int qh0 = h * qpk + c * GROUP;

    float qf[GROUP][VEC];
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {
        if (active) {
            uint4 w = *(const uint4*)(q + ((size_t)b * qh_total + qh0 + g) * HD + d0);
            unpack8(w, qf[g]);
            #pragma unroll
            for (int d = 0; d < VEC; ++d) qf[g][d] *= qscale;
        } else {
            #pragma unroll
            for (int d = 0; d < VEC; ++d) qf[g][d] = 0.f;
        }
    }
    float m[GROUP], l[GROUP], o[GROUP][VEC];
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {
        m[g] = NEG_BIG; l[g] = 0.f;
        #pragma unroll
        for (int d = 0; d < VEC; ++d) o[g][d] = 0.f;
    }

    const size_t head_base = ((size_t)b * kvh + h) * (size_t)ctx;  /* in tokens */
    const uint4* kp = (const uint4*)k + head_base * LPT_RAW;
    const uint4* vp = (const uint4*)v + head_base * LPT_RAW;
    const int t0 = s * chunk;
    const int t1 = min(ctx, t0 + chunk);
    const uint4 zero = make_uint4(0u, 0u, 0u, 0u);

    int tok = t0 + warp * TPW + sub;
    uint4 kb[PF], vb[PF];
    #pragma unroll
    for (int j = 0; j < PF; ++j) {
        const int tj = tok + j * TPB;
        kb[j] = zero; vb[j] = zero;
        if (active && tj < t1) { kb[j] = __ldg(kp + (size_t)tj * LPT_RAW + li); vb[j] = __ldg(vp + (size_t)tj * LPT_RAW + li); }
    }
    for (int base = t0; base < t1; base += TPB * PF) {
        #pragma unroll
        for (int j = 0; j < PF; ++j) {
            const int tj = tok + j * TPB;
            const uint4 kc = kb[j], vc = vb[j];
            const int tn = tj + PF * TPB;
            kb[j] = zero; vb[j] = zero;
            if (active && tn < t1) { kb[j] = __ldg(kp + (size_t)tn * LPT_RAW + li); vb[j] = __ldg(vp + (size_t)tn * LPT_RAW + li); }
            float kf[VEC];
            unpack8(kc, kf);
            float sc[GROUP];
            #pragma unroll
            for (int g = 0; g < GROUP; ++g) {
                float acc = 0.f;
                #pragma unroll
                for (int d = 0; d < VEC; ++d) acc = fmaf(qf[g][d], kf[d], acc);
                sc[g] = acc;
            }
            #pragma unroll
            for (int off = LPT / 2; off > 0; off >>= 1) {
                #pragma unroll
                for (int g = 0; g < GROUP; ++g) sc[g] += __shfl_xor_sync(0xffffffffu, sc[g], off);
            }
            if (tj < t1) {
                float vf[VEC];
                unpack8(vc, vf);
                #pragma unroll
                for (int g = 0; g < GROUP; ++g) {
                    if (sc[g] > m[g]) {
                        const float alpha = exp2f(m[g] - sc[g]);
                        l[g] *= alpha;
                        #pragma unroll
                        for (int d = 0; d < VEC; ++d) o[g][d] *= alpha;
                        m[g] = sc[g];
                    }
                    const float p = exp2f(sc[g] - m[g]);
                    l[g] += p;
                    #pragma unroll
                    for (int d = 0; d < VEC; ++d) o[g][d] = fmaf(p, vf[d], o[g][d]);
                }
            }
        }
        tok += PF * TPB;
    }

    /* combine the TPW token slots of the warp (lanes li, li + LPT, ...) */
    #pragma unroll
    for (int off = LPT; off < 32; off <<= 1) {
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) {
            const float mo = __shfl_xor_sync(0xffffffffu, m[g], off);
            const float lo = __shfl_xor_sync(0xffffffffu, l[g], off);
            const float mn = fmaxf(m[g], mo);
            const float a = exp2f(m[g] - mn);
            const float bb = exp2f(mo - mn);
            l[g] = l[g] * a + lo * bb;
            #pragma unroll
            for (int d = 0; d < VEC; ++d) {
                const float oo = __shfl_xor_sync(0xffffffffu, o[g][d], off);
                o[g][d] = o[g][d] * a + oo * bb;
            }
            m[g] = mn;
        }
    }

    /* combine the warps through shared memory */
    __shared__ float sm_o[WARPS][GROUP][HD];
    __shared__ float sm_m[WARPS][GROUP];
    __shared__ float sm_l[WARPS][GROUP];
    if (sub == 0 && active) {
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) {
            #pragma unroll
            for (int d = 0; d < VEC; ++d) sm_o[warp][g][d0 + d] = o[g][d];
        }
    }
    if (lane == 0) {
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) { sm_m[warp][g] = m[g]; sm_l[warp][g] = l[g]; }
    }
    __syncthreads();
    for (int e = threadIdx.x; e < GROUP * HD; e += WARPS * 32) {
        const int g = e / HD;
        const int d = e % HD;
        float M = NEG_BIG;
        #pragma unroll
        for (int w = 0; w < WARPS; ++w) M = fmaxf(M, sm_m[w][g]);
        float L = 0.f, O = 0.f;
        #pragma unroll
        for (int w = 0; w < WARPS; ++w) {
            const float a = exp2f(sm_m[w][g] - M);
            L += sm_l[w][g] * a;
            O += sm_o[w][g][d] * a;
        }
        const size_t row = ((size_t)b * qh_total + qh0 + g) * splits + s;
        part_o[row * HD + d] = O;
        if (d == 0) { part_ml[row * 2] = M; part_ml[row * 2 + 1] = L; }
    }
}

#define GQA_KERNEL(NAME, PFV) \
extern "C" __global__ void __launch_bounds__(WARPS * 32) NAME( \
    const bf16_t* __restrict__ q, const bf16_t* __restrict__ k, const bf16_t* __restrict__ v, \
    float* __restrict__ part_o, float* __restrict__ part_ml, int kvh, int qpk, int ctx, int chunk, \
    int splits, float qscale) \
{ gqa_body<PFV>(q, k, v, part_o, part_ml, kvh, qpk, ctx, chunk, splits, qscale); }
GQA_KERNEL(gqa_decode_split_pf1, 1)
GQA_KERNEL(gqa_decode_split_pf2, 2)
GQA_KERNEL(gqa_decode_split_pf4, 4)

/* Combine split-K partials: one block per (batch, q head) row. out: [rows][hd] bf16. */
extern "C" __global__ void attn_reduce(const float* __restrict__ part_o, const float* __restrict__ part_ml,
                                       bf16_t* __restrict__ out, int splits, int hd)
{
    const size_t row = blockIdx.x;
    const float* ml = part_ml + row * splits * 2;
    float M = NEG_BIG;
    for (int s = 0; s < splits; ++s) M = fmaxf(M, ml[2 * s]);
    float L = 0.f;
    for (int s = 0; s < splits; ++s) L += ml[2 * s + 1] * exp2f(ml[2 * s] - M);
    const float inv = 1.f / L;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float O = 0.f;
        for (int s = 0; s < splits; ++s) O += part_o[(row * splits + s) * hd + d] * exp2f(ml[2 * s] - M);
        out[row * hd + d] = (bf16_t)f2bf(O * inv);
    }
}


/* ---- Fused MLA decode (flash-decoding, split-K over tokens), mma.sync bf16 tensor cores ----
   q:  [B][H][MW] bf16 (absorbed: latent MR + rope), kv: [B][ctx][MW] bf16 (first MR values = latent c).
   Block (split s, head group hg of 16 heads, batch b), 4 warps. Each tile of MT tokens is copied once
   (cp.async, 16-byte, coalesced) into shared memory; warp w computes the scores of tokens [8w, 8w+8)
   for all 16 heads (m16n8k16, A = Q from smem, B = K rows), scores go through smem, every warp does
   the (redundant, cheap) online softmax for its fragment rows and accumulates O[16][MR/4] for its own
   slice of the latent dimension from the same tile (ldmatrix.trans for V).
   part_o: [B*H][splits][MR] f32 (unnormalised), part_ml: [B*H][splits][2] (max, sum), base 2. */
#define MR 512
#define MW 576
#define MSTR (MW + 8)          /* padded smem row (bf16): 1168 bytes, conflict-free ldmatrix */
#define MT 32                  /* tokens per tile */
#define MH 16                  /* heads per block */
#define MWARPS 4
#define DPW (MR / MWARPS)      /* latent columns per warp */
#define SSTR (MT + 4)

__device__ __forceinline__ u32 smem_u32(const void* p) {
    u32 a;
    asm volatile("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"((u64)p));
    return a;
}
__device__ __forceinline__ void cp16(u32 dst, const void* src, u32 bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"((u64)src), "r"(bytes) : "memory");
}
__device__ __forceinline__ void ldsm4(u32 addr, u32* r) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr) : "memory");
}
__device__ __forceinline__ void ldsm4t(u32 addr, u32* r) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr) : "memory");
}
__device__ __forceinline__ void mma16816(float* c, const u32* a, u32 b0, u32 b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ u32 pack_bf16x2(float lo, float hi) {
    u32 d;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
    return d;
}

template <int ST>
__device__ __forceinline__ void mla_fused_body(const bf16_t* __restrict__ q, const bf16_t* __restrict__ kv,
    float* __restrict__ part_o, float* __restrict__ part_ml, int heads, int ctx, int chunk, int splits, float qscale)
{
    extern __shared__ __attribute__((aligned(16))) unsigned char smem[];
    bf16_t* sQ = (bf16_t*)smem;
    bf16_t* sK = sQ + MH * MSTR;
    float* sS = (float*)(sK + ST * MT * MSTR);
    const int s = blockIdx.x, hg = blockIdx.y, b = blockIdx.z;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int t0 = s * chunk;
    const int t1 = min(ctx, t0 + chunk);
    const int ntiles = (t1 - t0 + MT - 1) / MT;
    const bf16_t* kvb = kv + (size_t)b * ctx * MW;

    /* queries of the block's 16 heads */
    const bf16_t* qb = q + ((size_t)b * heads + hg * MH) * MW;
    for (int c = tid; c < MH * (MW / 8); c += MWARPS * 32) {
        const int r = c / (MW / 8), col = (c % (MW / 8)) * 8;
        cp16(smem_u32(sQ + r * MSTR + col), qb + (size_t)r * MW + col, 16);
    }
    auto load_tile = [&](int it) {
        bf16_t* dst = sK + (it % ST) * MT * MSTR;
        const int tok0 = t0 + it * MT;
        #pragma unroll 2
        for (int c = tid; c < MT * (MW / 8); c += MWARPS * 32) {
            const int r = c / (MW / 8), col = (c % (MW / 8)) * 8;
            const int tok = tok0 + r;
            const bool ok = tok < t1;
            cp16(smem_u32(dst + r * MSTR + col), kvb + (size_t)(ok ? tok : t0) * MW + col, ok ? 16u : 0u);
        }
    };
    #pragma unroll
    for (int i = 0; i < ST - 1; ++i) {
        if (i < ntiles) load_tile(i);
        asm volatile("cp.async.commit_group;" ::: "memory");
    }

    float acc[DPW / 8][4];
    #pragma unroll
    for (int j = 0; j < DPW / 8; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
    float m0 = NEG_BIG, m1 = NEG_BIG, l0 = 0.f, l1 = 0.f;
    const int qd = lane & 3, r0 = lane >> 2;
    const int li = lane & 7, lm = lane >> 3;

    for (int it = 0; it < ntiles; ++it) {
        asm volatile("cp.async.wait_group %0;" :: "n"(ST - 2) : "memory");
        __syncthreads();
        if (it + ST - 1 < ntiles) load_tile(it + ST - 1);
        asm volatile("cp.async.commit_group;" ::: "memory");
        const bf16_t* tK = sK + (it % ST) * MT * MSTR;

        /* scores: 16 heads x tokens [8w, 8w+8) */
        {
            float c[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
            const u32 kaddr = smem_u32(tK + (warp * 8 + li) * MSTR + lm * 8);
            const u32 qaddr = smem_u32(sQ + (li + (lm & 1) * 8) * MSTR + (lm >> 1) * 8);
            #pragma unroll 6
            for (int k = 0; k < MW; k += 32) {
                u32 bb[4], a0[4], a1[4];
                ldsm4(kaddr + k * 2, bb);
                ldsm4(qaddr + k * 2, a0);
                ldsm4(qaddr + (k + 16) * 2, a1);
                mma16816(c[0], a0, bb[0], bb[1]);
                mma16816(c[1], a1, bb[2], bb[3]);
            }
            const int col = warp * 8 + 2 * qd;
            const int tok = t0 + it * MT + col;
            const bool v0 = tok < t1, v1 = tok + 1 < t1;
            sS[r0 * SSTR + col] = v0 ? (c[0][0] + c[1][0]) * qscale : NEG_BIG;
            sS[r0 * SSTR + col + 1] = v1 ? (c[0][1] + c[1][1]) * qscale : NEG_BIG;
            sS[(r0 + 8) * SSTR + col] = v0 ? (c[0][2] + c[1][2]) * qscale : NEG_BIG;
            sS[(r0 + 8) * SSTR + col + 1] = v1 ? (c[0][3] + c[1][3]) * qscale : NEG_BIG;
        }
        __syncthreads();

        /* online softmax on this thread's fragment rows r0, r0 + 8 */
        float p0[MT / 4], p1[MT / 4];
        float mx0 = NEG_BIG, mx1 = NEG_BIG;
        #pragma unroll
        for (int j = 0; j < MT / 8; ++j) {
            const int col = 8 * j + 2 * qd;
            p0[2 * j] = sS[r0 * SSTR + col]; p0[2 * j + 1] = sS[r0 * SSTR + col + 1];
            p1[2 * j] = sS[(r0 + 8) * SSTR + col]; p1[2 * j + 1] = sS[(r0 + 8) * SSTR + col + 1];
            mx0 = fmaxf(mx0, fmaxf(p0[2 * j], p0[2 * j + 1]));
            mx1 = fmaxf(mx1, fmaxf(p1[2 * j], p1[2 * j + 1]));
        }
        #pragma unroll
        for (int off = 1; off <= 2; off <<= 1) {
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, off));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, off));
        }
        const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
        const float al0 = exp2f(m0 - mn0), al1 = exp2f(m1 - mn1);
        m0 = mn0; m1 = mn1;
        float sum0 = 0.f, sum1 = 0.f;
        #pragma unroll
        for (int j = 0; j < MT / 4; ++j) {
            p0[j] = exp2f(p0[j] - mn0); sum0 += p0[j];
            p1[j] = exp2f(p1[j] - mn1); sum1 += p1[j];
        }
        l0 = l0 * al0 + sum0;
        l1 = l1 * al1 + sum1;
        #pragma unroll
        for (int j = 0; j < DPW / 8; ++j) {
            acc[j][0] *= al0; acc[j][1] *= al0; acc[j][2] *= al1; acc[j][3] *= al1;
        }
        /* O[16][DPW slice] += P[16][MT] . V[MT][slice] */
        #pragma unroll
        for (int kt = 0; kt < MT / 16; ++kt) {
            u32 a[4];
            a[0] = pack_bf16x2(p0[4 * kt], p0[4 * kt + 1]);
            a[1] = pack_bf16x2(p1[4 * kt], p1[4 * kt + 1]);
            a[2] = pack_bf16x2(p0[4 * kt + 2], p0[4 * kt + 3]);
            a[3] = pack_bf16x2(p1[4 * kt + 2], p1[4 * kt + 3]);
            const u32 vaddr = smem_u32(tK + (16 * kt + li + (lm & 1) * 8) * MSTR + warp * DPW + (lm >> 1) * 8);
            #pragma unroll
            for (int np = 0; np < DPW / 16; ++np) {
                u32 bb[4];
                ldsm4t(vaddr + np * 32, bb);
                mma16816(acc[2 * np], a, bb[0], bb[1]);
                mma16816(acc[2 * np + 1], a, bb[2], bb[3]);
            }
        }
    }
    asm volatile("cp.async.wait_group 0;" ::: "memory");

    #pragma unroll
    for (int off = 1; off <= 2; off <<= 1) {
        l0 += __shfl_xor_sync(0xffffffffu, l0, off);
        l1 += __shfl_xor_sync(0xffffffffu, l1, off);
    }
    const size_t row0 = ((size_t)b * heads + hg * MH + r0) * splits + s;
    const size_t row1 = row0 + (size_t)8 * splits;
    #pragma unroll
    for (int j = 0; j < DPW / 8; ++j) {
        const int d = warp * DPW + 8 * j + 2 * qd;
        *(float2*)(part_o + row0 * MR + d) = make_float2(acc[j][0], acc[j][1]);
        *(float2*)(part_o + row1 * MR + d) = make_float2(acc[j][2], acc[j][3]);
    }
    if (warp == 0 && qd == 0) {
        part_ml[row0 * 2] = m0; part_ml[row0 * 2 + 1] = l0;
        part_ml[row1 * 2] = m1; part_ml[row1 * 2 + 1] = l1;
    }
}

#define MLA_KERNEL(NAME, STV) \
extern "C" __global__ void __launch_bounds__(MWARPS * 32) NAME( \
    const bf16_t* __restrict__ q, const bf16_t* __restrict__ kv, float* __restrict__ part_o, \
    float* __restrict__ part_ml, int heads, int ctx, int chunk, int splits, float qscale) \
{ mla_fused_body<STV>(q, kv, part_o, part_ml, heads, ctx, chunk, splits, qscale); }
MLA_KERNEL(mla_fused_st2, 2)
MLA_KERNEL(mla_fused_st3, 3)

/* Row softmax in base 2 (scores already scaled by softmax scale * log2 e):
   s: [rows][T] (f32, or bf16 in place) -> p: [rows][T] bf16, normalised. One block (256 threads) per row.
   In place is safe: each thread rewrites only the elements it alone reads in the last pass. */
__device__ __forceinline__ float ld_score(const float* p, size_t i) { return p[i]; }
__device__ __forceinline__ float ld_score(const bf16_t* p, size_t i) { return __uint_as_float(((u32)p[i]) << 16); }
/* 8 consecutive scores starting at 8*i (16- or 32-byte loads; rows are 16-byte aligned when T % 8 == 0) */
__device__ __forceinline__ void ld_score8(const float* p, int i, float* x) {
    const float4 a = ((const float4*)p)[2 * i], b = ((const float4*)p)[2 * i + 1];
    x[0] = a.x; x[1] = a.y; x[2] = a.z; x[3] = a.w; x[4] = b.x; x[5] = b.y; x[6] = b.z; x[7] = b.w;
}
__device__ __forceinline__ void ld_score8(const bf16_t* p, int i, float* x) {
    unpack8(((const uint4*)p)[i], x);
}
template <typename S>
__device__ __forceinline__ void softmax_body(const S* s, bf16_t* p, int T)
{
    const S* row = s + (size_t)blockIdx.x * T;
    bf16_t* prow = p + (size_t)blockIdx.x * T;
    const bool vec = (T % 8) == 0;
    float m = NEG_BIG, l = 0.f;
    if (vec) {
        for (int i = threadIdx.x; i < T / 8; i += blockDim.x) {
            float x[8];
            ld_score8(row, i, x);
            float mx = x[0];
            #pragma unroll
            for (int j = 1; j < 8; ++j) mx = fmaxf(mx, x[j]);
            if (mx > m) { l *= exp2f(m - mx); m = mx; }
            #pragma unroll
            for (int j = 0; j < 8; ++j) l += exp2f(x[j] - m);
        }
    } else {
        for (int t = threadIdx.x; t < T; t += blockDim.x) {
            const float x = ld_score(row, t);
            if (x > m) { l *= exp2f(m - x); m = x; }
            l += exp2f(x - m);
        }
    }
    #pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        const float mo = __shfl_xor_sync(0xffffffffu, m, off);
        const float lo = __shfl_xor_sync(0xffffffffu, l, off);
        const float mn = fmaxf(m, mo);
        l = l * exp2f(m - mn) + lo * exp2f(mo - mn);
        m = mn;
    }
    __shared__ float sm[32], sl[32];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int nw = blockDim.x >> 5;
    if (lane == 0) { sm[warp] = m; sl[warp] = l; }
    __syncthreads();
    float M = NEG_BIG;
    for (int w = 0; w < nw; ++w) M = fmaxf(M, sm[w]);
    float L = 0.f;
    for (int w = 0; w < nw; ++w) L += sl[w] * exp2f(sm[w] - M);
    const float inv = 1.f / L;
    if (vec) {
        for (int i = threadIdx.x; i < T / 8; i += blockDim.x) {
            float x[8];
            ld_score8(row, i, x);
            u32 w[4];
            #pragma unroll
            for (int j = 0; j < 4; ++j)
                w[j] = f2bf(exp2f(x[2 * j] - M) * inv) | (f2bf(exp2f(x[2 * j + 1] - M) * inv) << 16);
            ((uint4*)prow)[i] = make_uint4(w[0], w[1], w[2], w[3]);
        }
    } else {
        for (int t = threadIdx.x; t < T; t += blockDim.x) prow[t] = (bf16_t)f2bf(exp2f(ld_score(row, t) - M) * inv);
    }
}
extern "C" __global__ void softmax_rows(const float* s, bf16_t* p, int T) { softmax_body<float>(s, p, T); }
extern "C" __global__ void softmax_rows_bf16(const bf16_t* s, bf16_t* p, int T) { softmax_body<bf16_t>(s, p, T); }
"#;
