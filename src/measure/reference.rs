//! CPU float64 references for the probe's kernels, and the number formats
//! they use (bf16, fp16, fp8 e4m3 as raw bits). The GPU self-checks draw
//! random inputs here, run the kernel, and compare with these by
//! ‖out − ref‖ / ‖ref‖.

/// A small deterministic generator (SplitMix64), so the crate needs no
/// random-number dependency and checks are reproducible from the seed.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1), never exactly zero in magnitude below 1e-3.
    pub fn uniform(&mut self) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64; // [0,1)
        let x = 2.0 * u - 1.0;
        if x.abs() < 1e-3 {
            0.5
        } else {
            x
        }
    }
}

/// f32 → bf16 bits, round to nearest even (NaN stays NaN).
pub fn f32_to_bf16(x: f32) -> u16 {
    let u = x.to_bits();
    if (u & 0x7fff_ffff) > 0x7f80_0000 {
        return 0x7fc0;
    }
    let rounded = u.wrapping_add(0x7fff + ((u >> 16) & 1));
    (rounded >> 16) as u16
}

/// bf16 bits → f32 (exact).
pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// fp16 bits → f32 (exact, subnormals included).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let man = (h & 0x3ff) as f32;
    match exp {
        0 => sign * man * 2f32.powi(-24),
        31 => {
            if man == 0.0 {
                sign * f32::INFINITY
            } else {
                f32::NAN
            }
        }
        e => sign * (1.0 + man / 1024.0) * 2f32.powi(e - 15),
    }
}

/// fp8 e4m3 (OCP "e4m3fn": bias 7, no infinities, S.1111.111 = NaN) → f32.
pub fn e4m3_to_f32(b: u8) -> f32 {
    let sign = if b & 0x80 != 0 { -1.0f32 } else { 1.0 };
    let exp = ((b >> 3) & 0xf) as i32;
    let man = (b & 7) as f32;
    if exp == 15 && (b & 7) == 7 {
        return f32::NAN;
    }
    if exp == 0 {
        sign * man / 8.0 * 2f32.powi(-6)
    } else {
        sign * (1.0 + man / 8.0) * 2f32.powi(exp - 7)
    }
}

/// Random bf16 values in ±[0.25, 1) · scale (never zero), as bits.
pub fn random_bf16(rng: &mut SplitMix64, n: usize, scale: f64) -> Vec<u16> {
    (0..n)
        .map(|_| {
            let x = rng.uniform();
            let v = x.signum() * (0.25 + 0.75 * x.abs()) * scale;
            f32_to_bf16(v as f32)
        })
        .collect()
}

/// Random fp8 e4m3 values with exponent 2^-2..2^1 (never zero or NaN).
pub fn random_e4m3(rng: &mut SplitMix64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            let r = rng.next_u64() as u8;
            (r & 0x80) | ((5 + ((r >> 3) & 3)) << 3) | (r & 7)
        })
        .collect()
}

/// ‖out − ref‖₂ / ‖ref‖₂; infinite when `out` has a NaN or the lengths differ.
pub fn relative_error(out: &[f64], reference: &[f64]) -> f64 {
    if out.len() != reference.len() || out.iter().any(|x| !x.is_finite()) {
        return f64::INFINITY;
    }
    let num: f64 = out
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    let den: f64 = reference.iter().map(|b| b * b).sum();
    (num / den).sqrt()
}

/// Decode attention for GQA, float64: `q` is `[batch][q_heads][d]`, `k` and
/// `v` are `[batch][kv_heads][context][d]`; q head `i` reads KV head
/// `i / (q_heads / kv_heads)` (Hugging Face `repeat_kv` order). Scale 1/√d.
/// Returns `[batch][q_heads][d]`.
#[allow(clippy::too_many_arguments)]
pub fn gqa_decode(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    batch: usize,
    q_heads: usize,
    kv_heads: usize,
    context: usize,
    d: usize,
) -> Vec<f64> {
    let group = q_heads / kv_heads;
    let scale = 1.0 / (d as f64).sqrt();
    let mut out = vec![0.0; batch * q_heads * d];
    let mut s = vec![0.0; context];
    for b in 0..batch {
        for h in 0..q_heads {
            let kvh = h / group;
            let qv = &q[(b * q_heads + h) * d..][..d];
            let base = (b * kv_heads + kvh) * context * d;
            for (t, st) in s.iter_mut().enumerate() {
                let kr = &k[base + t * d..][..d];
                *st = qv.iter().zip(kr).map(|(a, c)| a * c).sum::<f64>() * scale;
            }
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let l: f64 = s.iter().map(|x| (x - m).exp()).sum();
            let o = &mut out[(b * q_heads + h) * d..][..d];
            for (t, st) in s.iter().enumerate() {
                let p = (st - m).exp() / l;
                let vr = &v[base + t * d..][..d];
                for (oi, vi) in o.iter_mut().zip(vr) {
                    *oi += p * vi;
                }
            }
        }
    }
    out
}

/// Decode attention for MLA with absorbed projections, float64: `q` is
/// `[batch][heads][rank + rope]`, `kv` is `[batch][context][rank + rope]`
/// (latent then RoPE part); scores use all `rank + rope` values, the output
/// is the probability-weighted sum of the first `rank` values (the latent).
/// `scale` is the softmax scale (DeepSeek: 1/√(128 + 64)). Returns
/// `[batch][heads][rank]`.
#[allow(clippy::too_many_arguments)]
pub fn mla_decode(
    q: &[f64],
    kv: &[f64],
    batch: usize,
    heads: usize,
    context: usize,
    rank: usize,
    rope: usize,
    scale: f64,
) -> Vec<f64> {
    let w = rank + rope;
    let mut out = vec![0.0; batch * heads * rank];
    let mut s = vec![0.0; context];
    for b in 0..batch {
        for h in 0..heads {
            let qv = &q[(b * heads + h) * w..][..w];
            for (t, st) in s.iter_mut().enumerate() {
                let kr = &kv[(b * context + t) * w..][..w];
                *st = qv.iter().zip(kr).map(|(a, c)| a * c).sum::<f64>() * scale;
            }
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let l: f64 = s.iter().map(|x| (x - m).exp()).sum();
            let o = &mut out[(b * heads + h) * rank..][..rank];
            for (t, st) in s.iter().enumerate() {
                let p = (st - m).exp() / l;
                let vr = &kv[(b * context + t) * w..][..rank];
                for (oi, vi) in o.iter_mut().zip(vr) {
                    *oi += p * vi;
                }
            }
        }
    }
    out
}

/// `y[m×n] = x[m×k] · wᵀ` with `w` stored `n × k` row-major, float64.
pub fn linear(x: &[f64], w: &[f64], m: usize, n: usize, k: usize) -> Vec<f64> {
    let mut y = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            y[i * n + j] = (0..k).map(|p| x[i * k + p] * w[j * k + p]).sum();
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_round_trip_and_rounding() {
        for x in [1.0f32, -2.5, 0.15625, 3.0e-3, 65504.0] {
            let b = f32_to_bf16(x);
            let y = bf16_to_f32(b);
            assert!((x - y).abs() <= x.abs() / 128.0, "{x} {y}");
        }
        // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: rounds to even (1.0).
        assert_eq!(f32_to_bf16(1.0 + 1.0 / 256.0), f32_to_bf16(1.0));
        assert_eq!(bf16_to_f32(0x3f80), 1.0);
        assert!(bf16_to_f32(f32_to_bf16(f32::NAN)).is_nan());
    }

    #[test]
    fn f16_and_e4m3_decode_known_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        // e4m3: 0x38 = 0.0111.000 = 1.0; 0x7e = 448 (max); 0x7f = NaN.
        assert_eq!(e4m3_to_f32(0x38), 1.0);
        assert_eq!(e4m3_to_f32(0x7e), 448.0);
        assert!(e4m3_to_f32(0x7f).is_nan());
        assert_eq!(e4m3_to_f32(0xb8), -1.0);
    }

    #[test]
    fn random_values_are_never_zero() {
        let mut r = SplitMix64(7);
        assert!(random_bf16(&mut r, 10_000, 1.0)
            .iter()
            .all(|&b| bf16_to_f32(b).abs() >= 0.24));
        assert!(random_e4m3(&mut r, 10_000).iter().all(|&b| {
            let x = e4m3_to_f32(b);
            x.is_finite() && x.abs() >= 0.25 && x.abs() < 4.0
        }));
    }

    #[test]
    fn gqa_reference_by_hand() {
        // One sequence, one head, two tokens, d = 1: scores q·k/1 = [1, 0];
        // p = [e/(e+1), 1/(e+1)]; out = p·v.
        let out = gqa_decode(&[1.0], &[1.0, 0.0], &[2.0, 4.0], 1, 1, 1, 2, 1);
        let e = std::f64::consts::E;
        let want = (2.0 * e + 4.0) / (e + 1.0);
        assert!((out[0] - want).abs() < 1e-12);
    }

    #[test]
    fn gqa_reference_groups_heads_in_repeat_kv_order() {
        // 2 q heads on 1 kv head must both read kv head 0; with 2 kv heads,
        // q head 1 reads kv head 1.
        let q = [1.0, 1.0];
        let k = [1.0, 1.0, 5.0, 5.0]; // [kvh][t][d=1]
        let v = [1.0, 3.0, 10.0, 30.0];
        let shared = gqa_decode(&q, &k[..2], &v[..2], 1, 2, 1, 2, 1);
        assert!((shared[0] - 2.0).abs() < 1e-12 && (shared[1] - 2.0).abs() < 1e-12);
        let split = gqa_decode(&q, &k, &v, 1, 2, 2, 2, 1);
        assert!((split[1] - 20.0).abs() < 1e-12);
    }

    #[test]
    fn mla_equals_gqa_with_one_shared_head_when_rope_is_zero_width() {
        // MLA with rope 0 is MQA whose K and V are the same latent.
        let mut r = SplitMix64(3);
        let (b, h, t, d) = (2, 3, 5, 4);
        let q: Vec<f64> = (0..b * h * d).map(|_| r.uniform()).collect();
        let kv: Vec<f64> = (0..b * t * d).map(|_| r.uniform()).collect();
        let scale = 1.0 / (d as f64).sqrt();
        let m = mla_decode(&q, &kv, b, h, t, d, 0, scale);
        let g = gqa_decode(&q, &kv, &kv, b, h, 1, t, d);
        assert!(relative_error(&m, &g) < 1e-12);
    }

    #[test]
    fn linear_and_relative_error() {
        // x = [1 2], w = [[1 0],[0 1],[1 1]] → y = [1 2 3].
        let y = linear(&[1.0, 2.0], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0], 1, 3, 2);
        assert_eq!(y, vec![1.0, 2.0, 3.0]);
        assert_eq!(relative_error(&y, &y), 0.0);
        assert!(relative_error(&[f64::NAN, 2.0, 3.0], &y).is_infinite());
        assert!((relative_error(&[1.0, 2.0, 3.3], &y) - 0.3 / 14f64.sqrt()).abs() < 1e-12);
    }
}
