//! A small deterministic random source for workloads (no global state, no
//! dependency): SplitMix64, uniform and gamma draws.

/// SplitMix64 (Steele, Lea & Flood 2014): fast, 64-bit state, good enough
/// for arrival times and length spreads; the same seed gives the same run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [lo, hi] (inclusive).
    pub fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Send times of `n` open-loop requests at `per_second` with gamma
    /// inter-arrival gaps of shape `burstiness` (1 = Poisson), the first at
    /// 0 s: one definition for the aggregated and the disaggregated
    /// simulator, as benchmark clients draw them.
    pub fn send_times_seconds(&mut self, n: u64, per_second: f64, burstiness: f64) -> Vec<f64> {
        let mut t = 0.0;
        (0..n)
            .map(|i| {
                if i > 0 {
                    t += self.gamma(burstiness, 1.0 / (per_second * burstiness));
                }
                t
            })
            .collect()
    }

    /// Gamma(shape, scale) (Marsaglia & Tsang 2000; shape < 1 boosted by U^(1/shape)).
    pub fn gamma(&mut self, shape: f64, scale: f64) -> f64 {
        if shape < 1.0 {
            let u = self.uniform().max(f64::MIN_POSITIVE);
            return self.gamma(shape + 1.0, scale) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform().max(f64::MIN_POSITIVE);
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v * scale;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_mean_and_variance() {
        // Gamma(k, θ): mean kθ, variance kθ².
        for (k, theta) in [(1.0, 2.0), (0.5, 1.0), (4.0, 0.25)] {
            let mut r = Rng::new(7);
            let n = 200_000;
            let xs: Vec<f64> = (0..n).map(|_| r.gamma(k, theta)).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            assert!(
                (mean / (k * theta) - 1.0).abs() < 0.02,
                "k {k}: mean {mean}"
            );
            assert!(
                (var / (k * theta * theta) - 1.0).abs() < 0.05,
                "k {k}: var {var}"
            );
        }
    }
}
