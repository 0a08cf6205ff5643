//! Special functions the p-values need: the normal CDF (for the Z test) and
//! the regularized upper incomplete gamma function (the chi-square survival
//! function). `erf`, `erfc` and `lgamma_r` come from the C maths library
//! that the Rust standard library already links; they are accurate to an ulp
//! or so, which is what parity with scipy to 1e-9 needs.

use std::f64::consts::FRAC_1_SQRT_2;
use std::os::raw::c_int;

unsafe extern "C" {
    safe fn erf(x: f64) -> f64;
    safe fn erfc(x: f64) -> f64;
    fn lgamma_r(x: f64, sign: *mut c_int) -> f64;
}

/// ln |Γ(x)|.
pub fn ln_gamma(x: f64) -> f64 {
    let mut sign: c_int = 0;
    // SAFETY: lgamma_r only writes the sign of Γ(x) through the pointer,
    // which points at a live local; it keeps no reference to it.
    unsafe { lgamma_r(x, &mut sign) }
}

/// The standard normal CDF Φ(a), evaluated as cephes' `ndtr` (scipy's
/// `norm.cdf`) does: through erf near zero and erfc in the tails, so the
/// rounding of `1 - Φ(|z|)` in the Z test matches scipy's.
pub fn normal_cdf(a: f64) -> f64 {
    if a.is_nan() {
        return f64::NAN;
    }
    let x = a * FRAC_1_SQRT_2;
    let z = x.abs();
    if z < FRAC_1_SQRT_2 {
        0.5 + 0.5 * erf(x)
    } else {
        let y = 0.5 * erfc(z);
        if x > 0.0 { 1.0 - y } else { y }
    }
}

/// Q(a, x) = Γ(a, x) / Γ(a), the regularized upper incomplete gamma function,
/// with cephes' conventions at the edges (Q(0, x>0) = 0, Q(a, 0) = 1).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if a.is_nan() || x.is_nan() || a < 0.0 || x < 0.0 {
        return f64::NAN;
    }
    if a == 0.0 {
        return if x > 0.0 { 0.0 } else { f64::NAN };
    }
    if x == 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    // The series converges fast below the mode, the continued fraction above.
    if x < 1.0 || x < a {
        1.0 - gamma_p_series(a, x)
    } else {
        gamma_q_continued_fraction(a, x)
    }
}

/// The chi-square survival function with `df` degrees of freedom (scipy's
/// `chdtrc`, which `chisquare` uses for its p-value).
pub fn chi2_sf(df: f64, statistic: f64) -> f64 {
    gamma_q(df / 2.0, statistic / 2.0)
}

/// P(a, x) by its power series: x^a e^-x / Γ(a+1) · Σ x^k / ((a+1)…(a+k)).
fn gamma_p_series(a: f64, x: f64) -> f64 {
    let log_prefactor = a * x.ln() - x - ln_gamma(a + 1.0);
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut denominator = a;
    for _ in 0..100_000 {
        denominator += 1.0;
        term *= x / denominator;
        sum += term;
        if term <= sum * f64::EPSILON / 4.0 {
            break;
        }
    }
    (log_prefactor.exp() * sum).clamp(0.0, 1.0)
}

/// Q(a, x) by Legendre's continued fraction, evaluated with the modified
/// Lentz method.
fn gamma_q_continued_fraction(a: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let log_prefactor = a * x.ln() - x - ln_gamma(a);
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..100_000 {
        let i = i as f64;
        let an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() <= f64::EPSILON / 2.0 {
            break;
        }
    }
    (log_prefactor.exp() * h).clamp(0.0, 1.0)
}

/// Sums as numpy's `add.reduce` does for a contiguous float64 array: the
/// first element, plus the rest summed pairwise with eight accumulators in
/// blocks of up to 128. Matching the order keeps sums of a few dozen binned
/// shares close to numpy's, where cancellation (KL divergence) would
/// magnify a difference.
pub fn numpy_sum(values: &[f64]) -> f64 {
    match values.split_first() {
        None => 0.0,
        Some((first, rest)) => first + pairwise_sum(rest),
    }
}

fn pairwise_sum(values: &[f64]) -> f64 {
    const BLOCK: usize = 128;
    let n = values.len();
    if n < 8 {
        let mut sum = -0.0;
        for &v in values {
            sum += v;
        }
        sum
    } else if n <= BLOCK {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&values[..8]);
        let mut i = 8;
        while i + 8 <= n {
            for (lane, acc) in r.iter_mut().enumerate() {
                *acc += values[i + lane];
            }
            i += 8;
        }
        let mut sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &values[i..] {
            sum += v;
        }
        sum
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&values[..half]) + pairwise_sum(&values[half..])
    }
}

/// A long sum with a bounded rounding error: plain sums over blocks of 1024,
/// then the block sums added pairwise. Used where numpy would sum millions
/// of terms (Wasserstein, the standard deviation).
pub fn long_sum(mut terms: impl Iterator<Item = f64>) -> f64 {
    let mut blocks: Vec<f64> = Vec::new();
    loop {
        let mut block = 0.0;
        let mut count = 0;
        for t in terms.by_ref().take(1024) {
            block += t;
            count += 1;
        }
        if count == 0 {
            break;
        }
        blocks.push(block);
        if count < 1024 {
            break;
        }
    }
    numpy_sum(&blocks)
}

/// x · ln(x / y), with scipy's `rel_entr` conventions: 0 when x = 0 and
/// y ≥ 0, infinity when x > 0 and y = 0 or either is negative.
pub fn rel_entr(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else if x == 0.0 && y >= 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn normal_cdf_matches_known_values() {
        assert!(close(normal_cdf(0.0), 0.5, 1e-15));
        assert!(close(normal_cdf(1.959963984540054), 0.975, 1e-12));
        assert!(close(normal_cdf(-3.0), 0.0013498980316300933, 1e-12));
        assert!(close(1.0 - normal_cdf(1.0), 0.15865525393145707, 1e-12));
    }

    #[test]
    fn chi_square_survival_matches_known_values() {
        // Reference values from scipy.special.chdtrc.
        assert!(close(
            chi2_sf(1.0, 3.841458820694124),
            0.04999999999999989,
            1e-12
        ));
        assert!(close(chi2_sf(2.0, 2.0), (-1.0f64).exp(), 1e-14));
        assert!(close(chi2_sf(10.0, 5.0), 0.8911780189141513, 1e-12));
        assert!(close(chi2_sf(10.0, 40.0), 1.694474393006737e-05, 1e-12));
        assert!(close(chi2_sf(3.0, 0.5), 0.9188914116546758, 1e-12));
        assert_eq!(chi2_sf(4.0, f64::INFINITY), 0.0);
        assert_eq!(chi2_sf(0.0, 1.0), 0.0);
        assert!(chi2_sf(0.0, 0.0).is_nan());
    }

    #[test]
    fn numpy_sum_adds_everything() {
        let values: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(numpy_sum(&values), 500_500.0);
        assert_eq!(numpy_sum(&values[..5]), 15.0);
        assert_eq!(long_sum(values.iter().copied()), 500_500.0);
        assert_eq!(long_sum(std::iter::empty()), 0.0);
    }
}
