//! Seeded random draws for the simulator and the benchmarks: SplitMix64, a zipfian sampler, and a scatter of
//! ranks over the key space.

/// SplitMix64 (Steele, Lea and Flood): tiny, fast, and good enough to draw keys.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, bound)` (Lemire's multiply-shift; the bias is below 2^-64 * bound).
    pub fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// A bijection of `[0, n)`: `rank * multiplier mod n` with the multiplier coprime to n, so the hot zipfian ranks
/// land all over the key space (as YCSB's scrambled zipfian) rather than on the lowest keys.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scatter {
    n: u64,
    multiplier: u64,
}

impl Scatter {
    pub(crate) fn new(n: u64, random: u64) -> Self {
        // Start well away from 1 so neighbouring ranks do not stay neighbours.
        let mut multiplier = (random | 1) % n;
        while n > 1 && gcd(multiplier, n) != 1 {
            multiplier = (multiplier + 1) % n;
        }
        Scatter { n, multiplier }
    }

    pub(crate) fn apply(&self, rank: u64) -> u64 {
        ((u128::from(rank) * u128::from(self.multiplier)) % u128::from(self.n)) as u64
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Zipf(n, s) by rejection-inversion (Hörmann and Derflinger, 1996; Apache Commons' `ZipfSampler`): O(1)
/// memory and time per sample for any n. Returns ranks in `[1, n]`, rank k with probability proportional to
/// `k^-s`.
#[derive(Debug, Clone)]
pub struct ZipfSampler {
    n: u64,
    exponent: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    s: f64,
}

impl ZipfSampler {
    pub fn new(n: u64, exponent: f64) -> Self {
        debug_assert!(n >= 1 && exponent > 0.0);
        let mut sampler = ZipfSampler { n, exponent, h_integral_x1: 0.0, h_integral_n: 0.0, s: 0.0 };
        sampler.h_integral_x1 = sampler.h_integral(1.5) - 1.0;
        sampler.h_integral_n = sampler.h_integral(n as f64 + 0.5);
        sampler.s = 2.0 - sampler.h_integral_inverse(sampler.h_integral(2.5) - sampler.h(2.0));
        sampler
    }

    pub fn sample(&self, rng: &mut SplitMix64) -> u64 {
        loop {
            let u = self.h_integral_n + rng.next_f64() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = ((x + 0.5) as u64).clamp(1, self.n);
            let kf = k as f64;
            if kf - x <= self.s || u >= self.h_integral(kf + 0.5) - self.h(kf) {
                return k;
            }
        }
    }

    fn h(&self, x: f64) -> f64 {
        (-self.exponent * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        exp_m1_over_x((1.0 - self.exponent) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.exponent)).max(-1.0);
        (ln_1p_over_x(t) * x).exp()
    }
}

/// `ln(1 + x) / x`, exact near 0.
fn ln_1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// `(e^x - 1) / x`, exact near 0.
fn exp_m1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}
