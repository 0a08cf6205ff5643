//! The two-sample Kolmogorov–Smirnov test with scipy's p-values.
//!
//! `scipy.stats.ks_2samp` (two-sided, `method="auto"`) computes the exact
//! p-value when both samples have at most 10 000 values and the asymptotic
//! one otherwise:
//!
//! - **Exact.** D is rounded to a multiple of 1/lcm(n₁, n₂). With equal sizes
//!   the p-value is the reflection-principle sum over the two diagonals; with
//!   unequal sizes it counts lattice paths that leave the band
//!   |x/n₁ − y/n₂| < D, by Hodges' "inside" recursion arranged (after
//!   Viehmann) to carry the probability of having left the band, which stays
//!   accurate for small p-values.
//! - **Asymptotic.** The survival function of the one-sample two-sided
//!   statistic D_N with N = round(n₁n₂ / (n₁ + n₂)) (`kstwo.sf`), which scipy
//!   evaluates by Simard & L'Ecuyer's choice of methods: Ruben–Gambino's
//!   closed forms at the ends, twice the one-sided Smirnov survival function
//!   (Birnbaum–Tingey sum) in the upper tail, the Durbin matrix (Marsaglia,
//!   Tsang and Wang) or Pomeranz's recursion for small N, and the Pelz–Good
//!   series for large N. The same choice is made here with the same
//!   boundaries, so the approximations agree where scipy approximates.

/// Which p-value computation was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KsMethod {
    Exact,
    Asymptotic,
}

#[derive(Debug, Clone, Copy)]
pub struct KsOutcome {
    /// D = sup |F₁ − F₂|.
    pub statistic: f64,
    pub p_value: f64,
    pub method: KsMethod,
}

/// scipy's `ks_2samp` "auto" mode switches to the asymptotic p-value above
/// this many values in either sample.
const MAX_EXACT_N: usize = 10_000;

/// Two-sided two-sample KS test. Both samples are sorted, finite, non-empty.
pub fn ks_2samp(reference: &[f64], current: &[f64]) -> KsOutcome {
    let (n1, n2) = (reference.len(), current.len());
    if n1 == 0 || n2 == 0 {
        return KsOutcome {
            statistic: f64::NAN,
            p_value: f64::NAN,
            method: KsMethod::Exact,
        };
    }
    let d = ks_statistic(reference, current);
    if n1.max(n2) <= MAX_EXACT_N {
        let g = gcd(n1 as u64, n2 as u64);
        let lcm = (n1 as u64 / g) * n2 as u64;
        let h = (d * lcm as f64).round_ties_even() as u64;
        let d = h as f64 / lcm as f64;
        if h == 0 {
            return KsOutcome {
                statistic: d,
                p_value: 1.0,
                method: KsMethod::Exact,
            };
        }
        let p = if n1 == n2 {
            prob_outside_square(n1 as u64, h)
        } else {
            prob_outside_band(n1 as u64, n2 as u64, g, h)
        };
        if (0.0..=1.0).contains(&p) {
            return KsOutcome {
                statistic: d,
                p_value: p,
                method: KsMethod::Exact,
            };
        }
        // scipy falls back to the asymptotic p-value with the rounded D.
        return asymptotic(n1, n2, d);
    }
    asymptotic(n1, n2, d)
}

fn asymptotic(n1: usize, n2: usize, d: f64) -> KsOutcome {
    let (m, n) = if n1 >= n2 {
        (n1 as f64, n2 as f64)
    } else {
        (n2 as f64, n1 as f64)
    };
    let en = m * n / (m + n);
    let p = kolmogorov_sf(en.round_ties_even() as u64, d).clamp(0.0, 1.0);
    KsOutcome {
        statistic: d,
        p_value: p,
        method: KsMethod::Asymptotic,
    }
}

/// max over the pooled values of |F₁ − F₂|, with the ECDFs evaluated as
/// (count ≤ value) / n, as scipy does.
fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut max_diff = f64::NEG_INFINITY;
    let mut min_diff = f64::INFINITY;
    while i < a.len() || j < b.len() {
        let value = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        while i < a.len() && a[i] <= value {
            i += 1;
        }
        while j < b.len() && b[j] <= value {
            j += 1;
        }
        let diff = i as f64 / n1 - j as f64 / n2;
        max_diff = max_diff.max(diff);
        min_diff = min_diff.min(diff);
    }
    let min_s = (-min_diff).clamp(0.0, 1.0);
    if min_s > max_diff { min_s } else { max_diff }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// P(D_{n,n} ≥ h/n): 2 Σ_k (−1)^(k+1) C(2n, n − kh) / C(2n, n), summed as
/// nested products A₁(1 − A₂(1 − A₃(…))) so no term cancels another.
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let (n, h) = (n as i64, h as i64);
    let mut p = 0.0;
    let mut k = n / h;
    while k >= 0 {
        let mut ratio = 1.0;
        for j in 0..h {
            ratio = (n - k * h - j) as f64 * ratio / (n + k * h + j + 1) as f64;
        }
        p = ratio * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// P(D_{m,n} ≥ h/lcm) for m ≠ n: the share of monotone lattice paths from
/// (0,0) to (m,n) that touch a point with |x·n/g − y·m/g| ≥ h. Column by
/// column, Q(i,j) = (i·Q(i−1,j) + j·Q(i,j−1)) / (i+j) is the probability that
/// a uniformly random path to (i,j) has touched such a point; points outside
/// the band have Q = 1.
fn prob_outside_band(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (m, n, g, h) = (m as i64, n as i64, g as i64, h as i64);
    let (mg, ng) = (m / g, n / g);
    let ceil_div = |a: i64, b: i64| -(-a).div_euclid(b);
    let column_len = (n + 1) as usize;
    let mut q = vec![1.0f64; column_len];
    let mut max_j = ceil_div(h, mg).min(n + 1);
    for value in q.iter_mut().take(max_j as usize) {
        *value = 0.0;
    }
    for i in 1..=m {
        let min_j = ((ng * i - h).div_euclid(mg) + 1).clamp(0, n);
        max_j = ceil_div(ng * i + h, mg).min(n + 1);
        if max_j <= min_j {
            return 1.0;
        }
        let mut below = if min_j == 0 { 0.0 } else { 1.0 };
        let fi = i as f64;
        for j in min_j..max_j {
            let ju = j as usize;
            below = (q[ju] * fi + below * j as f64) / (i + j) as f64;
            q[ju] = below;
        }
    }
    q[(max_j - 1) as usize]
}

/// P(D_n ≥ x) for the one-sample two-sided statistic (scipy's `kstwo.sf`).
pub fn kolmogorov_sf(n: u64, x: f64) -> f64 {
    if x.is_nan() || n == 0 {
        return f64::NAN;
    }
    if x >= 1.0 {
        return 0.0;
    }
    let nf = n as f64;
    if x <= 0.5 / nf || x <= 0.0 {
        return 1.0;
    }
    let t = nf * x;
    if t <= 1.0 {
        // Ruben–Gambino: 1/2n < x ≤ 1/n, P(D_n ≤ x) = n!/n^n (2nx − 1)^n.
        if t <= 0.5 {
            return 1.0;
        }
        let cdf = if n <= 140 {
            let base = 2.0 * t - 1.0;
            let step = 1.0 / nf;
            (1..=n).fold(1.0, |p, i| p * (i as f64 * step * base))
        } else {
            (log_factorial_over_power(nf) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return (1.0 - cdf).clamp(0.0, 1.0);
    }
    if t >= nf - 1.0 {
        // Ruben–Gambino: x ≥ 1 − 1/n.
        return (2.0 * (1.0 - x).powf(nf)).clamp(0.0, 1.0);
    }
    if x >= 0.5 {
        // The two one-sided tails cannot both be exceeded.
        return (2.0 * smirnov_sf(n, x)).clamp(0.0, 1.0);
    }
    let nx_squared = t * x;
    if n <= 140 {
        if nx_squared <= 0.754693 {
            return (1.0 - durbin_matrix_cdf(n, x)).clamp(0.0, 1.0);
        }
        if nx_squared <= 4.0 {
            return (1.0 - pomeranz_cdf(n, x)).clamp(0.0, 1.0);
        }
        return (2.0 * smirnov_sf(n, x)).clamp(0.0, 1.0);
    }
    if nx_squared >= 370.0 {
        return 0.0;
    }
    if nx_squared >= 2.2 {
        return (2.0 * smirnov_sf(n, x)).clamp(0.0, 1.0);
    }
    let cdf = if n <= 100_000 && nf * x.powf(1.5) <= 1.4 {
        durbin_matrix_cdf(n, x)
    } else {
        pelz_good_cdf(nf, x)
    };
    (1.0 - cdf).clamp(0.0, 1.0)
}

/// ln(n! / n^n) by Stirling's series with its first eight correction terms.
fn log_factorial_over_power(n: f64) -> f64 {
    // The coefficients as published, to more digits than a double holds.
    #[allow(clippy::excessive_precision)]
    const COEFFS: [f64; 8] = [
        -2.955065359477124183e-2,
        6.4102564102564102564e-3,
        -1.9175269175269175269e-3,
        8.4175084175084175084e-4,
        -5.952380952380952381e-4,
        7.9365079365079365079e-4,
        -2.7777777777777777778e-3,
        8.3333333333333333333e-2,
    ];
    let rn = 1.0 / n;
    let y = rn / n;
    let series = COEFFS.iter().fold(0.0, |acc, &c| acc * y + c);
    n.ln() / 2.0 - n + (2.0 * std::f64::consts::PI).ln() / 2.0 + rn * series
}

const SCALE_EXPONENT: i32 = 128;

fn two_pow(e: i32) -> f64 {
    f64::powi(2.0, e)
}

/// P(D_n ≤ d) by the Durbin matrix: the (k,k) entry of Hⁿ times n!/nⁿ,
/// where k = ⌈nd⌉ and H is the (2k−1)² matrix of Marsaglia, Tsang and Wang.
/// Powers are rescaled by 2^128 with the exponent kept aside.
fn durbin_matrix_cdf(n: u64, d: f64) -> f64 {
    if d >= 1.0 {
        return 1.0;
    }
    let nf = n as f64;
    let nd = nf * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut v: Vec<f64> = (1..=m).map(|j| 1.0 - h.powf(j as f64)).collect();
    let mut w = vec![0.0; m];
    let mut factorial_inverse = 1.0;
    for j in 1..=m {
        w[j - 1] = factorial_inverse;
        factorial_inverse /= j as f64;
        v[j - 1] *= factorial_inverse;
    }
    let corner = (2.0 * h - 1.0).max(0.0).powf(m as f64) - 2.0 * h.powf(m as f64);
    v[m - 1] = (1.0 + corner) * factorial_inverse;

    let mut hm = Matrix::zeros(m);
    for col in 1..m {
        for row in (col - 1)..m {
            hm.set(row, col, w[row - (col - 1)]);
        }
    }
    for (row, &value) in v.iter().enumerate() {
        hm.set(row, 0, value);
    }
    for col in 0..m {
        hm.set(m - 1, col, v[m - 1 - col]);
    }

    let mut power = Matrix::identity(m);
    let mut exponent: i32 = 0;
    let mut h_exponent: i32 = 0;
    let mut remaining = n;
    while remaining > 0 {
        if remaining % 2 == 1 {
            power = power.mul(&hm);
            exponent += h_exponent;
        }
        hm = hm.mul(&hm);
        h_exponent *= 2;
        if hm.get(k - 1, k - 1).abs() > two_pow(SCALE_EXPONENT) {
            hm.scale(two_pow(-SCALE_EXPONENT));
            h_exponent += SCALE_EXPONENT;
        }
        remaining /= 2;
    }
    let mut p = power.get(k - 1, k - 1);
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < two_pow(-SCALE_EXPONENT) {
            p *= two_pow(SCALE_EXPONENT);
            exponent -= SCALE_EXPONENT;
        }
    }
    if exponent != 0 {
        p = ldexp(p, exponent);
    }
    p.clamp(0.0, 1.0)
}

/// x · 2^e without overflowing the intermediate power.
fn ldexp(mut x: f64, mut e: i32) -> f64 {
    while e > 1000 {
        x *= two_pow(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= two_pow(-1000);
        e += 1000;
    }
    x * two_pow(e)
}

struct Matrix {
    size: usize,
    cells: Vec<f64>,
}

impl Matrix {
    fn zeros(size: usize) -> Self {
        Matrix {
            size,
            cells: vec![0.0; size * size],
        }
    }

    fn identity(size: usize) -> Self {
        let mut m = Self::zeros(size);
        for i in 0..size {
            m.set(i, i, 1.0);
        }
        m
    }

    fn get(&self, row: usize, col: usize) -> f64 {
        self.cells[row * self.size + col]
    }

    fn set(&mut self, row: usize, col: usize, value: f64) {
        self.cells[row * self.size + col] = value;
    }

    fn scale(&mut self, factor: f64) {
        for c in &mut self.cells {
            *c *= factor;
        }
    }

    fn mul(&self, other: &Matrix) -> Matrix {
        let n = self.size;
        let mut out = Matrix::zeros(n);
        for row in 0..n {
            for inner in 0..n {
                let a = self.cells[row * n + inner];
                if a == 0.0 {
                    continue;
                }
                let other_row = &other.cells[inner * n..(inner + 1) * n];
                let out_row = &mut out.cells[row * n..(row + 1) * n];
                for (o, &b) in out_row.iter_mut().zip(other_row) {
                    *o += a * b;
                }
            }
        }
        out
    }
}

/// P(D_n ≤ x) by Pomeranz's recursion over the 2n+2 breakpoints of the
/// band: each step convolves the previous row with the powers (c/n)^k / k!
/// of the gap between breakpoints, as laid out by Simard & L'Ecuyer.
fn pomeranz_cdf(n: u64, x: f64) -> f64 {
    let n = n as i64;
    let nf = n as f64;
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let ceil_f = i64::from(f > 0.0);
    let round_f = i64::from(f > 0.5);
    let powers_len = (2 * (ll + 1)) as usize;
    let mut g_power = vec![0.0; powers_len];
    let mut two_g_power = vec![0.0; powers_len];
    let mut one_minus_two_g_power = vec![0.0; powers_len];
    g_power[0] = 1.0;
    two_g_power[0] = 1.0;
    one_minus_two_g_power[0] = 1.0;
    let (g_over_n, two_g_over_n, rest_over_n) = (g / nf, 2.0 * g / nf, (1.0 - 2.0 * g) / nf);
    for k in 1..powers_len {
        let kf = k as f64;
        g_power[k] = g_power[k - 1] * g_over_n / kf;
        two_g_power[k] = two_g_power[k - 1] * two_g_over_n / kf;
        one_minus_two_g_power[k] = one_minus_two_g_power[k - 1] * rest_over_n / kf;
    }

    let bounds = |i: i64| -> (i64, i64) {
        let (j1, j2) = if i == 0 {
            (-ll - ceil_f - 1, ll + ceil_f - 1)
        } else {
            let (half, odd_successor) = ((i + 1) / 2, (i + 1) % 2);
            if odd_successor == 0 {
                if half == n + 1 {
                    (n - ll - ceil_f - 1, n + ll + ceil_f - 1)
                } else {
                    (half - 1 - ll - round_f - 1, half + ll - 1 + ceil_f - 1)
                }
            } else {
                (half - 1 - ll - 1, half + ll + round_f - 1)
            }
        };
        ((j1 + 2).max(0), j2.min(n))
    };

    let mut previous = vec![0.0; powers_len];
    let mut row = vec![0.0; powers_len];
    row[0] = 1.0;
    let (mut previous_start, mut row_start) = (0i64, 0i64);
    let mut exponent: i32 = 0;
    let (mut j1, _) = bounds(0);
    for i in 1..=(2 * n + 1) {
        let k1 = j1;
        std::mem::swap(&mut previous, &mut row);
        std::mem::swap(&mut previous_start, &mut row_start);
        row.fill(0.0);
        let (new_j1, j2) = bounds(i);
        j1 = new_j1;
        let powers = if i == 1 || i == 2 * n + 1 {
            &g_power
        } else if i % 2 == 1 {
            &two_g_power
        } else {
            &one_minus_two_g_power
        };
        let len = j2 - k1 + 1;
        if len > 0 {
            // row[c] = Σ_s previous[k1 + s] · powers[(j1 − k1 + c) − s]
            let offset = (k1 - previous_start) as usize;
            let start = (j1 - k1) as usize;
            let count = (j2 - j1 + 1).max(0) as usize;
            let len = len as usize;
            for (c, out) in row.iter_mut().enumerate().take(count) {
                let target = start + c;
                let mut sum = 0.0;
                for s in 0..=target.min(len - 1) {
                    let p_index = target - s;
                    // numpy's slices stop at the array's end: missing terms are 0.
                    let (Some(value), Some(power)) = (
                        previous.get(offset + s).filter(|_| p_index < len),
                        powers.get(p_index),
                    ) else {
                        continue;
                    };
                    sum += value * power;
                }
                *out = sum;
            }
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if max > 0.0 && max < two_pow(-SCALE_EXPONENT) {
                for v in &mut row {
                    *v *= two_pow(SCALE_EXPONENT);
                }
                exponent -= SCALE_EXPONENT;
            }
            row_start = previous_start + j1 - k1;
        }
    }
    let mut answer = usize::try_from(n - row_start)
        .ok()
        .and_then(|i| row.get(i).copied())
        .unwrap_or(0.0);
    for k in 1..=n {
        if answer.abs() > two_pow(SCALE_EXPONENT) {
            answer *= two_pow(-SCALE_EXPONENT);
            exponent += SCALE_EXPONENT;
        }
        answer *= k as f64;
    }
    if exponent != 0 {
        answer = ldexp(answer, exponent);
    }
    answer.clamp(0.0, 1.0)
}

/// P(D_n ≤ x) by the Pelz–Good approximation: Li-Chien and Korolyuk's
/// expansion K₀ + K₁/√n + K₂/n + K₃/n^1.5 in z = x√n, each term rewritten
/// through Jacobi theta functions so it converges for small z.
fn pelz_good_cdf(n: f64, x: f64) -> f64 {
    use std::f64::consts::PI;
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let sqrt_2pi = (2.0 * PI).sqrt();
    let (pi2, pi4, pi6) = (PI.powf(2.0), PI.powf(4.0), PI.powf(6.0));
    let z = n.sqrt() * x;
    let (z2, z3, z4, z6) = (z.powf(2.0), z.powf(3.0), z.powf(4.0), z.powf(6.0));
    let q_log = -pi2 / 8.0 / z2;
    if q_log < -708.0 {
        return 0.0;
    }
    let q = q_log.exp();
    let k1a = -z2;
    let k1b = pi2 / 4.0;
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powf(8.0);
    let mut k = [0.0f64; 4];
    let max_k = (16.0 * z / PI).ceil() as i64;
    for kk in (1..=max_k).rev() {
        let m = (2 * kk - 1) as f64;
        let (m2, m4, m6) = (m.powf(2.0), m.powf(4.0), m.powf(6.0));
        let q_power = q.powf((8 * kk) as f64);
        let coeffs = [
            1.0,
            k1a + k1b * m2,
            k2a + k2b * m2 + k2c * m4,
            k3a + k3b * m2 + k3c * m4 + k3d * m6,
        ];
        for (acc, c) in k.iter_mut().zip(coeffs) {
            *acc = *acc * q_power + c;
        }
    }
    let divisors = [z, 6.0 * z4, 72.0 * z.powf(7.0), 6480.0 * z.powf(10.0)];
    for (acc, d) in k.iter_mut().zip(divisors) {
        *acc = *acc * q * sqrt_2pi / d;
    }
    let q = (-pi2 / 2.0 / z2).exp();
    let mut k2_extra = 0.0;
    let mut k3_extra = 0.0;
    let sqrt3_z = 3f64.sqrt() * z;
    for kk in (1..=max_k).rev() {
        let kf = kk as f64;
        let k_squared = kf * kf;
        let q_power = q.powf(k_squared);
        k2_extra += k_squared * q_power;
        let k_pi = PI * kf;
        k3_extra += (sqrt3_z + k_pi) * (sqrt3_z - k_pi) * k_squared * q_power;
    }
    k[2] += k2_extra * (pi2 * sqrt_2pi / (-36.0 * z3));
    k[3] += k3_extra * (pi2 * sqrt_2pi / (216.0 * z6));
    let mut total = 0.0;
    for (i, acc) in k.iter().enumerate() {
        total += acc / n.powf(i as f64 / 2.0);
    }
    total
}

/// The one-sided Smirnov survival function P(D⁺_n ≥ x) (scipy's
/// `smirnov`), by the Birnbaum–Tingey sum
/// x Σ_{j=0}^{⌊n(1−x)⌋} A_j,  A_j = C(n,j) (1 − x − j/n)^(n−j) (x + j/n)^(j−1).
///
/// For large n the sum spreads over most of its n(1−x) terms, each far
/// below the double range, so A_j is kept as a mantissa and a binary
/// exponent and advanced by the ratio A_{j+1}/A_j, whose factors are all of
/// order one; the error then grows like √n ulps rather than with the size
/// of the logarithms, which keeps n = 10⁶ within 1e-12 of the exact value.
pub fn smirnov_sf(n: u64, x: f64) -> f64 {
    if x.is_nan() || !(0.0..=1.0).contains(&x) || n == 0 {
        return f64::NAN;
    }
    if n == 1 {
        return 1.0 - x;
    }
    if x == 0.0 {
        return 1.0;
    }
    if x == 1.0 {
        return 0.0;
    }
    let ni = n as i64;
    let nf = n as f64;
    // n·x exactly, as a rounded product and its error.
    let nx_hi = nf * x;
    let nx_lo = nf.mul_add(x, -nx_hi);
    let (nx_floor, alpha) = {
        let mut floor = nx_hi.floor();
        let mut fraction = (nx_hi - floor) + nx_lo;
        if fraction < 0.0 {
            floor -= 1.0;
            fraction += 1.0;
        }
        if fraction >= 1.0 {
            floor += 1.0;
            fraction -= 1.0;
        }
        (floor as i64, fraction)
    };
    // x ≤ 1/n: only the j = 0 term of the complementary sum.
    if nx_floor == 0 || (nx_floor == 1 && alpha == 0.0) {
        let t = ((nf - 1.0) * x.ln_1p()).exp();
        return 1.0 - x * t;
    }
    // cephes' MINLOG, ln(2^-1075): the survival function underflows a double.
    if -2.0 * nf * x * x < -745.133_219_101_941_2 {
        return 0.0;
    }
    if nx_floor >= ni - 1 {
        return (nf * (-x).ln_1p()).exp();
    }
    if n > 1_000_000 {
        // scipy's approximation for very large n: e^(−(6nx+1)²/18n).
        let log_p = -(6.0 * nf * x + 1.0).powf(2.0) / 18.0 / nf;
        return if log_p < -std::f64::consts::LN_2 {
            log_p.exp()
        } else {
            1.0 + log_p.exp_m1()
        };
    }
    // The last index with 1 − x − j/n > 0.
    let mut last = ni - nx_floor - i64::from(alpha != 0.0);
    if alpha == 0.0 {
        last -= 1;
    }
    let terms = last + 1;

    // A_0 = (1 − x)^n / x as mantissa · 2^exponent.
    let log2_a0 = (nf * (-x).ln_1p() - x.ln()) / std::f64::consts::LN_2;
    let mut exponent = log2_a0.floor() as i64;
    let mut mantissa = (log2_a0 - exponent as f64).exp2();
    // The running sum, compensated, scaled by 2^sum_exponent.
    let mut sum_exponent = exponent;
    let mut sum = mantissa;
    let mut compensation = 0.0;
    for j in 0..last {
        // n(1 − x − j/n) = n − j − nx and n(x + j/n) = nx + j, in double-double.
        let upper = DoubleDouble::affine((ni - j) as f64, -1.0, nx_hi, nx_lo);
        let lower = DoubleDouble::affine(j as f64, 1.0, nx_hi, nx_lo);
        let lower_next = DoubleDouble::affine((j + 1) as f64, 1.0, nx_hi, nx_lo);
        let log_ratio = (ni - j - 1) as f64 * (-upper.reciprocal()).ln_1p()
            + (j - 1) as f64 * lower.reciprocal().ln_1p();
        let ratio =
            ((ni - j) as f64 / (j + 1) as f64) * log_ratio.exp() * lower_next.divide(&upper);
        mantissa *= ratio;
        let shift = binary_exponent(mantissa);
        if shift.abs() > 500 {
            mantissa *= pow2i(-shift);
            exponent += shift;
        }
        if exponent > sum_exponent {
            let scale = pow2i(sum_exponent - exponent);
            sum *= scale;
            compensation *= scale;
            sum_exponent = exponent;
        }
        let term = mantissa * pow2i(exponent - sum_exponent);
        // Neumaier's compensated addition.
        let t = sum + term;
        compensation += if sum.abs() >= term.abs() {
            (sum - t) + term
        } else {
            (term - t) + sum
        };
        sum = t;
        // scipy's stopping rule: the remaining terms cannot move the sum.
        let index = j + 1;
        if term != 0.0 {
            if 4.0 * (terms - index) as f64 * term < f64::EPSILON * (sum + compensation)
                && index != terms - 1
            {
                break;
            }
        } else if index > ni / 2 {
            break;
        }
    }
    let total = sum + compensation;
    ldexp(x * total, sum_exponent.clamp(-100_000, 100_000) as i32)
}

/// 2^k for any integer k, 0 below the subnormals and ∞ above the range.
fn pow2i(k: i64) -> f64 {
    if k < -1074 {
        0.0
    } else if k < -1022 {
        f64::from_bits(1u64 << (k + 1074))
    } else if k <= 1023 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else {
        f64::INFINITY
    }
}

/// The binary exponent of a positive finite x (x in [2^e, 2^(e+1))).
fn binary_exponent(x: f64) -> i64 {
    if x == 0.0 || !x.is_finite() {
        return 0;
    }
    x.log2().floor() as i64
}

/// A value as an unevaluated sum hi + lo of two doubles.
#[derive(Debug, Clone, Copy)]
struct DoubleDouble {
    hi: f64,
    lo: f64,
}

impl DoubleDouble {
    /// a + sign · (nx_hi + nx_lo) for an integer-valued `a`.
    fn affine(a: f64, sign: f64, nx_hi: f64, nx_lo: f64) -> Self {
        let b = sign * nx_hi;
        let s = a + b;
        let bb = s - a;
        let err = (a - (s - bb)) + (b - bb);
        let lo = err + sign * nx_lo;
        let hi = s + lo;
        DoubleDouble {
            hi,
            lo: lo - (hi - s),
        }
    }

    /// 1 / self, to double precision.
    fn reciprocal(&self) -> f64 {
        let r = 1.0 / self.hi;
        // One Newton step absorbs both the rounding of r and the low part.
        let residual = (-r).mul_add(self.hi, 1.0) - r * self.lo;
        r + r * residual
    }

    /// self / other, to double precision.
    fn divide(&self, other: &DoubleDouble) -> f64 {
        let q = self.hi / other.hi;
        let residual = (-q).mul_add(other.hi, self.hi) + self.lo - q * other.lo;
        q + residual / other.hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn equal_sizes_use_the_reflection_sum() {
        // D = 1 with n = 3: only the two extreme orderings of C(6,3) = 20.
        assert!(close(prob_outside_square(3, 3), 0.1, 1e-15));
        // The band method agrees with the reflection sum on equal sizes.
        for (n, h) in [(5u64, 2u64), (10, 3), (40, 7)] {
            let square = prob_outside_square(n, h);
            let band = prob_outside_band(n, n, n, h);
            assert!(close(band, square, 1e-12), "{n} {h}: {band} vs {square}");
        }
    }

    #[test]
    fn the_statistic_is_the_largest_ecdf_gap() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [3.0, 4.0, 5.0, 6.0];
        let outcome = ks_2samp(&a, &b);
        assert_eq!(outcome.statistic, 0.5);
        assert_eq!(outcome.method, KsMethod::Exact);
        // Identical samples: D = 0, p = 1.
        assert_eq!(ks_2samp(&a, &a).p_value, 1.0);
    }

    #[test]
    fn smirnov_matches_closed_forms() {
        // n = 1: 1 − x. Upper range: (1 − x)^n.
        assert!(close(smirnov_sf(1, 0.3), 0.7, 1e-15));
        assert!(close(smirnov_sf(10, 0.95), 0.05f64.powi(10), 1e-12));
        // Known value: scipy.special.smirnov(5, 0.5) = 0.05859375 · …
        assert!(close(smirnov_sf(5, 0.5), 0.056, 1e-12));
    }

    #[test]
    fn kolmogorov_sf_is_monotone_and_bounded() {
        let mut last = 1.0;
        for i in 1..200 {
            let x = i as f64 / 200.0;
            let p = kolmogorov_sf(100, x);
            assert!((0.0..=1.0).contains(&p));
            assert!(p <= last + 1e-12, "x {x}: {p} > {last}");
            last = p;
        }
    }
}
