//! The drift tests, with Evidently 0.7's names, defaults and drift rules,
//! and scipy's formulas for the scores.

use std::borrow::Cow;
use std::cmp::Ordering;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kolmogorov::{KsMethod, ks_2samp};
use crate::special::{chi2_sf, long_sum, normal_cdf, numpy_sum, rel_entr};

/// How a column is compared: as numbers or as categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Numerical,
    Categorical,
}

/// A drift test, named as Evidently names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatTest {
    /// Two-sample Kolmogorov–Smirnov p-value (scipy `ks_2samp`).
    Ks,
    /// Chi-square goodness of fit of the current counts against the
    /// reference shares (scipy `chisquare`).
    Chisquare,
    /// Two-proportion Z test p-value.
    Z,
    /// Wasserstein-1 distance divided by the reference standard deviation.
    Wasserstein,
    /// Jensen–Shannon distance (natural log) between binned shares.
    Jensenshannon,
    /// Population stability index between binned shares.
    Psi,
    /// Kullback–Leibler divergence KL(reference ‖ current) of binned shares.
    KlDiv,
    /// Hellinger distance between shares or densities.
    Hellinger,
}

/// Whether a score is a p-value (drift when small) or a distance (drift when large).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    PValue,
    Distance,
}

impl StatTest {
    pub const ALL: [StatTest; 8] = [
        StatTest::Ks,
        StatTest::Chisquare,
        StatTest::Z,
        StatTest::Wasserstein,
        StatTest::Jensenshannon,
        StatTest::Psi,
        StatTest::KlDiv,
        StatTest::Hellinger,
    ];

    /// Evidently's registry name ("ks", "chisquare", …).
    pub fn name(self) -> &'static str {
        match self {
            StatTest::Ks => "ks",
            StatTest::Chisquare => "chisquare",
            StatTest::Z => "z",
            StatTest::Wasserstein => "wasserstein",
            StatTest::Jensenshannon => "jensenshannon",
            StatTest::Psi => "psi",
            StatTest::KlDiv => "kl_div",
            StatTest::Hellinger => "hellinger",
        }
    }

    /// Evidently's display name, as its reports label the score.
    pub fn display_name(self) -> &'static str {
        match self {
            StatTest::Ks => "K-S p_value",
            StatTest::Chisquare => "chi-square p_value",
            StatTest::Z => "Z-test p_value",
            StatTest::Wasserstein => "Wasserstein distance (normed)",
            StatTest::Jensenshannon => "Jensen-Shannon distance",
            StatTest::Psi => "PSI",
            StatTest::KlDiv => "Kullback-Leibler divergence",
            StatTest::Hellinger => "Hellinger distance",
        }
    }

    /// Parses a registry name; the error lists the names there are.
    pub fn parse(raw: &str) -> Result<StatTest, String> {
        StatTest::ALL
            .into_iter()
            .find(|t| t.name() == raw)
            .ok_or_else(|| {
                let names: Vec<&str> = StatTest::ALL.iter().map(|t| t.name()).collect();
                format!(
                    "unknown stattest {raw:?}; the tests are {}",
                    names.join(", ")
                )
            })
    }

    pub fn default_threshold(self) -> f64 {
        match self.score_kind() {
            ScoreKind::PValue => 0.05,
            ScoreKind::Distance => 0.1,
        }
    }

    pub fn score_kind(self) -> ScoreKind {
        match self {
            StatTest::Ks | StatTest::Chisquare | StatTest::Z => ScoreKind::PValue,
            _ => ScoreKind::Distance,
        }
    }

    /// Evidently's drift rule for this test. NaN never drifts.
    pub fn drifted(self, score: f64, threshold: f64) -> bool {
        match self {
            StatTest::Ks => score <= threshold,
            StatTest::Chisquare | StatTest::Z => score < threshold,
            _ => score >= threshold,
        }
    }

    /// The rule as text for reports.
    pub fn drift_condition(self) -> &'static str {
        match self {
            StatTest::Ks => "p_value <= threshold",
            StatTest::Chisquare | StatTest::Z => "p_value < threshold",
            _ => "distance >= threshold",
        }
    }

    /// The column types Evidently lets this test be chosen for.
    pub fn applies_to(self, column_type: ColumnType) -> bool {
        match self {
            StatTest::Ks | StatTest::Wasserstein => column_type == ColumnType::Numerical,
            StatTest::Chisquare | StatTest::Z => column_type == ColumnType::Categorical,
            _ => true,
        }
    }

    /// Evidently's default: by column type, reference size (≤ 1000 rows or
    /// not) and the number of distinct values in reference ∪ current.
    pub fn default_for(
        column_type: ColumnType,
        reference_rows: usize,
        distinct_values: usize,
    ) -> StatTest {
        let small_reference = reference_rows <= 1000;
        match (column_type, small_reference) {
            (ColumnType::Numerical, true) if distinct_values <= 5 => {
                if distinct_values > 2 {
                    StatTest::Chisquare
                } else {
                    StatTest::Z
                }
            }
            (ColumnType::Numerical, true) => StatTest::Ks,
            (ColumnType::Categorical, true) => {
                if distinct_values > 2 {
                    StatTest::Chisquare
                } else {
                    StatTest::Z
                }
            }
            (ColumnType::Numerical, false) if distinct_values <= 5 => StatTest::Jensenshannon,
            (ColumnType::Numerical, false) => StatTest::Wasserstein,
            (ColumnType::Categorical, false) => StatTest::Jensenshannon,
        }
    }
}

/// A category value. Keys of one column are of one kind.
#[derive(Debug, Clone)]
pub enum Category {
    Bool(bool),
    Number(f64),
    Text(String),
}

impl Category {
    fn rank(&self) -> u8 {
        match self {
            Category::Bool(_) => 0,
            Category::Number(_) => 1,
            Category::Text(_) => 2,
        }
    }

    /// The value as a label in reports.
    pub fn label(&self) -> String {
        match self {
            Category::Bool(b) => b.to_string(),
            Category::Number(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
            Category::Number(v) => v.to_string(),
            Category::Text(s) => s.clone(),
        }
    }
}

impl PartialEq for Category {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Category {}

impl PartialOrd for Category {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Category {
    /// Python's order within a kind (False < True, numbers by value, strings
    /// by code point), which is what the Z test's "first category" means.
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Category::Bool(a), Category::Bool(b)) => a.cmp(b),
            // Finite values only; 0.0 and −0.0 are one category, as in pandas.
            (Category::Number(a), Category::Number(b)) => {
                a.partial_cmp(b).unwrap_or(Ordering::Equal)
            }
            (Category::Text(a), Category::Text(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

/// Counts per category in reference and current. Keys are sorted and each
/// occurs in at least one of the two.
#[derive(Debug, Clone, Default)]
pub struct CategoryCounts {
    pub keys: Vec<Category>,
    pub reference: Vec<u64>,
    pub current: Vec<u64>,
}

impl CategoryCounts {
    pub fn reference_total(&self) -> u64 {
        self.reference.iter().sum()
    }

    pub fn current_total(&self) -> u64 {
        self.current.iter().sum()
    }

    pub fn reference_distinct(&self) -> usize {
        self.reference.iter().filter(|&&c| c > 0).count()
    }

    pub fn current_distinct(&self) -> usize {
        self.current.iter().filter(|&&c| c > 0).count()
    }

    /// The distinct values of two sorted numeric samples with their counts.
    pub fn of_sorted_numbers(reference: &[f64], current: &[f64]) -> CategoryCounts {
        let mut out = CategoryCounts::default();
        let (mut i, mut j) = (0, 0);
        while i < reference.len() || j < current.len() {
            let value = match (reference.get(i), current.get(j)) {
                (Some(&a), Some(&b)) => a.min(b),
                (Some(&a), None) => a,
                (None, Some(&b)) => b,
                (None, None) => break,
            };
            let (start_i, start_j) = (i, j);
            while i < reference.len() && reference[i] == value {
                i += 1;
            }
            while j < current.len() && current[j] == value {
                j += 1;
            }
            out.keys.push(Category::Number(value));
            out.reference.push((i - start_i) as u64);
            out.current.push((j - start_j) as u64);
        }
        out
    }
}

/// Two sorted, finite numeric samples.
#[derive(Debug, Clone, Default)]
pub struct NumericSamples {
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
    /// Both columns are integers with no missing values, so numpy would
    /// bin them as an integer array (bin width at least 1).
    pub integer: bool,
}

/// Distinct values of one sorted slice.
pub fn distinct_sorted(values: &[f64]) -> usize {
    if values.is_empty() {
        return 0;
    }
    1 + values.windows(2).filter(|w| w[0] != w[1]).count()
}

/// Distinct values of the union of two sorted slices.
pub fn distinct_union_sorted(a: &[f64], b: &[f64]) -> usize {
    let (mut i, mut j, mut count) = (0usize, 0usize, 0usize);
    let mut last = f64::NAN;
    // Branch-free merge while both sides have values: the comparison
    // outcome is random for overlapping samples, so a branch mispredicts.
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        let take_a = x <= y;
        // min compiles to a branch-free instruction; on ties either side
        // gives the same value.
        let value = x.min(y);
        i += usize::from(take_a);
        j += usize::from(!take_a);
        count += usize::from(value != last);
        last = value;
    }
    for &value in a[i..].iter().chain(&b[j..]) {
        count += usize::from(value != last);
        last = value;
    }
    count
}

/// A column ready for a test.
#[derive(Debug, Clone)]
pub enum ColumnData {
    Numeric(NumericSamples),
    Categorical(CategoryCounts),
}

impl ColumnData {
    pub fn column_type(&self) -> ColumnType {
        match self {
            ColumnData::Numeric(_) => ColumnType::Numerical,
            ColumnData::Categorical(_) => ColumnType::Categorical,
        }
    }

    pub fn reference_rows(&self) -> usize {
        match self {
            ColumnData::Numeric(n) => n.reference.len(),
            ColumnData::Categorical(c) => c.reference_total() as usize,
        }
    }

    /// Distinct values in reference ∪ current.
    pub fn distinct_values(&self) -> usize {
        match self {
            ColumnData::Numeric(n) => distinct_union_sorted(&n.reference, &n.current),
            ColumnData::Categorical(c) => c.keys.len(),
        }
    }

    fn counts(&self) -> Cow<'_, CategoryCounts> {
        match self {
            ColumnData::Numeric(n) => {
                Cow::Owned(CategoryCounts::of_sorted_numbers(&n.reference, &n.current))
            }
            ColumnData::Categorical(c) => Cow::Borrowed(c),
        }
    }
}

/// What a test computed.
#[derive(Debug, Clone, Copy)]
pub struct TestScore {
    /// The p-value or distance Evidently reports as the drift score.
    pub score: f64,
    /// The test statistic behind a p-value (KS D, chi-square, z).
    pub statistic: Option<f64>,
    /// For KS: exact or asymptotic p-value.
    pub ks_method: Option<KsMethod>,
}

impl TestScore {
    fn score(score: f64) -> Self {
        TestScore {
            score,
            statistic: None,
            ks_method: None,
        }
    }
}

/// Runs `test` on a column. Both sides are non-empty. The error says why a
/// score cannot be computed (a test on the wrong type, or data numpy would
/// refuse to bin).
pub fn run(test: StatTest, data: &ColumnData) -> Result<TestScore, String> {
    match test {
        StatTest::Ks => {
            let n = numeric(test, data)?;
            let outcome = ks_2samp(&n.reference, &n.current);
            Ok(TestScore {
                score: outcome.p_value,
                statistic: Some(outcome.statistic),
                ks_method: Some(outcome.method),
            })
        }
        StatTest::Wasserstein => Ok(TestScore::score(wasserstein_normed(numeric(test, data)?))),
        StatTest::Chisquare => {
            let (statistic, p) = chi_square(&data.counts());
            Ok(TestScore {
                score: p,
                statistic: Some(statistic),
                ks_method: None,
            })
        }
        StatTest::Z => {
            let (z, p) = z_test(&data.counts());
            Ok(TestScore {
                score: p,
                statistic: z,
                ks_method: None,
            })
        }
        StatTest::Jensenshannon => {
            let (reference, current) = binned_shares(data, false)?;
            Ok(TestScore::score(jensen_shannon(&reference, &current)))
        }
        StatTest::Psi => {
            let (reference, current) = binned_shares(data, true)?;
            let terms: Vec<f64> = reference
                .iter()
                .zip(&current)
                .map(|(r, c)| (r - c) * (r / c).ln())
                .collect();
            Ok(TestScore::score(numpy_sum(&terms)))
        }
        StatTest::KlDiv => {
            let (reference, current) = binned_shares(data, true)?;
            Ok(TestScore::score(kl_divergence(&reference, &current)))
        }
        StatTest::Hellinger => Ok(TestScore::score(hellinger(data)?)),
    }
}

fn numeric(test: StatTest, data: &ColumnData) -> Result<&NumericSamples, String> {
    match data {
        ColumnData::Numeric(n) => Ok(n),
        ColumnData::Categorical(_) => Err(format!(
            "{} needs numerical values; this column is categorical",
            test.name()
        )),
    }
}

/// W₁(reference, current) / max(std(reference), 0.001), with W₁ the area
/// between the two ECDFs (scipy `wasserstein_distance`) and std the
/// population standard deviation (numpy `std`).
fn wasserstein_normed(n: &NumericSamples) -> f64 {
    let norm = population_std(&n.reference).max(0.001);
    wasserstein_distance(&n.reference, &n.current) / norm
}

fn population_std(values: &[f64]) -> f64 {
    let count = values.len() as f64;
    let mean = long_sum(values.iter().copied()) / count;
    let squares = long_sum(values.iter().map(|v| (mean - v) * (mean - v)));
    (squares / count).sqrt()
}

/// Σ |U(x_k) − V(x_k)| (x_{k+1} − x_k) over the pooled sorted values, with
/// U and V the ECDFs as (count ≤ x) / n.
fn wasserstein_distance(a: &[f64], b: &[f64]) -> f64 {
    // Multiplying by 1/n instead of dividing differs from scipy by at most
    // an ulp per term and halves the cost of the loop.
    let (inv_a, inv_b) = (1.0 / a.len() as f64, 1.0 / b.len() as f64);
    let mut blocks: Vec<f64> = Vec::with_capacity((a.len() + b.len()) / 1024 + 2);
    let mut block = 0.0;
    let mut in_block = 0usize;
    // The first pooled value, consumed.
    let (mut i, mut j, mut previous) = if a[0] <= b[0] {
        (1usize, 0usize, a[0])
    } else {
        (0, 1, b[0])
    };
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        let take_a = x <= y;
        let value = x.min(y);
        block += (i as f64 * inv_a - j as f64 * inv_b).abs() * (value - previous);
        i += usize::from(take_a);
        j += usize::from(!take_a);
        previous = value;
        in_block += 1;
        if in_block == 1024 {
            blocks.push(block);
            block = 0.0;
            in_block = 0;
        }
    }
    // One side is exhausted: its ECDF is 1 from here on.
    let (rest, consumed_a) = if i < a.len() {
        (&a[i..], true)
    } else {
        (&b[j..], false)
    };
    for &value in rest {
        let gap = (i as f64 * inv_a - j as f64 * inv_b).abs();
        block += gap * (value - previous);
        if consumed_a {
            i += 1;
        } else {
            j += 1;
        }
        previous = value;
        in_block += 1;
        if in_block == 1024 {
            blocks.push(block);
            block = 0.0;
            in_block = 0;
        }
    }
    blocks.push(block);
    numpy_sum(&blocks)
}

/// Pearson's chi-square of the current counts against the reference shares
/// scaled to the current size; p from the chi-square law with k − 1
/// degrees of freedom. A category the reference never saw makes the
/// statistic infinite and p zero, as in scipy.
fn chi_square(counts: &CategoryCounts) -> (f64, f64) {
    let scale = counts.current_total() as f64 / counts.reference_total() as f64;
    let terms: Vec<f64> = counts
        .reference
        .iter()
        .zip(&counts.current)
        .map(|(&r, &c)| {
            let expected = r as f64 * scale;
            let diff = c as f64 - expected;
            diff * diff / expected
        })
        .collect();
    let statistic = numpy_sum(&terms);
    let df = counts.keys.len() as f64 - 1.0;
    (statistic, chi2_sf(df, statistic))
}

/// Two-proportion Z test of "not the first category" (in sorted order)
/// between reference and current; p = 2(1 − Φ(|z|)). Evidently answers 1
/// when both sides hold one and the same value.
fn z_test(counts: &CategoryCounts) -> (Option<f64>, f64) {
    if counts.reference_distinct() == 1 && counts.current_distinct() == 1 {
        let same = counts
            .reference
            .iter()
            .zip(&counts.current)
            .any(|(&r, &c)| r > 0 && c > 0);
        if same {
            return (None, 1.0);
        }
    }
    let (n1, n2) = (counts.reference_total(), counts.current_total());
    let first_reference = counts.reference.first().copied().unwrap_or(0);
    let first_current = counts.current.first().copied().unwrap_or(0);
    let p1 = (n1 - first_reference) as f64 / n1 as f64;
    let p2 = (n2 - first_current) as f64 / n2 as f64;
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let pooled = (p1 * n1f + p2 * n2f) / (n1 + n2) as f64;
    let z = (p1 - p2) / (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    (Some(z), 2.0 * (1.0 - normal_cdf(z.abs())))
}

/// Evidently's `get_binned_data`: numerical columns with more than 20
/// distinct reference values are cut into Sturges bins over reference ∪
/// current; everything else is split by value. Shares are count / rows.
/// With `fill_zeros`, empty shares become min(nonzero share)/10⁶ when that
/// minimum is ≤ 0.0001, else 0.0001, separately for each side (PSI and KL
/// need logs of every share; Jensen–Shannon does not fill).
fn binned_shares(data: &ColumnData, fill_zeros: bool) -> Result<(Vec<f64>, Vec<f64>), String> {
    let (mut reference, mut current) = match data {
        ColumnData::Numeric(n) if distinct_sorted(&n.reference) > 20 => {
            let min = n.reference[0].min(n.current[0]);
            let max = n.reference[n.reference.len() - 1].max(n.current[n.current.len() - 1]);
            let edges = sturges_edges(min, max, n.reference.len() + n.current.len(), n.integer)?;
            let shares = |sorted: &[f64]| -> Vec<f64> {
                bin_counts(sorted, &edges)
                    .into_iter()
                    .map(|c| c as f64 / sorted.len() as f64)
                    .collect()
            };
            (shares(&n.reference), shares(&n.current))
        }
        _ => {
            let counts = data.counts();
            let (nr, nc) = (
                counts.reference_total() as f64,
                counts.current_total() as f64,
            );
            (
                counts.reference.iter().map(|&c| c as f64 / nr).collect(),
                counts.current.iter().map(|&c| c as f64 / nc).collect(),
            )
        }
    };
    if fill_zeros {
        fill_empty_shares(&mut reference);
        fill_empty_shares(&mut current);
    }
    Ok((reference, current))
}

fn fill_empty_shares(shares: &mut [f64]) {
    let smallest = shares
        .iter()
        .copied()
        .filter(|&s| s != 0.0)
        .fold(f64::INFINITY, f64::min);
    if !smallest.is_finite() {
        return;
    }
    let fill = if smallest <= 0.0001 {
        smallest / 1_000_000.0
    } else {
        0.0001
    };
    for s in shares.iter_mut().filter(|s| **s == 0.0) {
        *s = fill;
    }
}

/// √(JS/2) with JS = KL(p‖m) + KL(q‖m), m = (p+q)/2, after normalizing p
/// and q to sum to one (scipy `jensenshannon`, natural log).
fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq) = (numpy_sum(p), numpy_sum(q));
    let p: Vec<f64> = p.iter().map(|v| v / sp).collect();
    let q: Vec<f64> = q.iter().map(|v| v / sq).collect();
    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
    let left: Vec<f64> = p.iter().zip(&m).map(|(&a, &b)| rel_entr(a, b)).collect();
    let right: Vec<f64> = q.iter().zip(&m).map(|(&a, &b)| rel_entr(a, b)).collect();
    let js = numpy_sum(&left) + numpy_sum(&right);
    (js / 2.0).sqrt()
}

/// KL(p‖q) after normalizing both (scipy `entropy(p, q)`).
fn kl_divergence(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq) = (numpy_sum(p), numpy_sum(q));
    let terms: Vec<f64> = p
        .iter()
        .zip(q)
        .map(|(a, b)| rel_entr(a / sp, b / sq))
        .collect();
    numpy_sum(&terms)
}

/// Evidently's Hellinger distance √(1 − BC), BC clipped to [0, 1]:
/// categorical columns use BC = Σ √(p_k q_k) over value shares; numerical
/// ones integrate √(f g) over density histograms whose Sturges edges are
/// computed from the distinct values of reference ∪ current.
fn hellinger(data: &ColumnData) -> Result<f64, String> {
    let coefficient = match data {
        ColumnData::Categorical(c) => {
            let (nr, nc) = (c.reference_total() as f64, c.current_total() as f64);
            let mut bc = 0.0;
            for (&r, &cur) in c.reference.iter().zip(&c.current) {
                bc += (r as f64 / nr * (cur as f64 / nc)).sqrt();
            }
            bc
        }
        ColumnData::Numeric(n) => {
            let counts = CategoryCounts::of_sorted_numbers(&n.reference, &n.current);
            let first = match counts.keys.first() {
                Some(Category::Number(v)) => *v,
                _ => return Err("no values to bin".into()),
            };
            let last = match counts.keys.last() {
                Some(Category::Number(v)) => *v,
                _ => return Err("no values to bin".into()),
            };
            let edges = sturges_edges(first, last, counts.keys.len(), n.integer)?;
            let density = |sorted: &[f64]| -> Vec<f64> {
                let counts = bin_counts(sorted, &edges);
                let total: u64 = counts.iter().sum();
                counts
                    .iter()
                    .zip(edges.windows(2))
                    .map(|(&c, w)| c as f64 / (w[1] - w[0]) / total as f64)
                    .collect()
            };
            let (f, g) = (density(&n.reference), density(&n.current));
            let bins = edges.len() - 1;
            let width = (edges[bins] - edges[0]) / bins as f64;
            let mut bc = 0.0;
            for (a, b) in f.iter().zip(&g) {
                bc += (a * b).sqrt() * width;
            }
            bc
        }
    };
    Ok((1.0 - coefficient.clamp(0.0, 1.0)).sqrt())
}

/// numpy's `histogram_bin_edges(values, bins="sturges")` for data with
/// this minimum, maximum and size: ⌈range / (range / (log₂ n + 1))⌉ equal
/// bins (width at least 1 for integer data), a constant column widened to
/// ±0.5, edges by `linspace`.
pub fn sturges_edges(min: f64, max: f64, size: usize, integer: bool) -> Result<Vec<f64>, String> {
    let (mut first, mut last) = (min, max);
    if first == last {
        first -= 0.5;
        last += 0.5;
    }
    let range = max - min;
    let mut width = range / ((size as f64).log2() + 1.0);
    let bins = if width != 0.0 {
        if integer && width < 1.0 {
            width = 1.0;
        }
        ((last - first) / width).ceil()
    } else {
        1.0
    };
    if !(1.0..=1e7).contains(&bins) {
        return Err(format!(
            "cannot cut the range [{first}, {last}] into {bins} Sturges bins"
        ));
    }
    let edges = linspace(first, last, bins as usize + 1);
    if edges.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!(
            "too many bins for the data range [{first}, {last}]: {bins} bins of equal width do not fit"
        ));
    }
    Ok(edges)
}

/// numpy's `linspace(start, stop, num)` with `endpoint=True`.
pub fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 0 {
        return Vec::new();
    }
    if num == 1 {
        return vec![start];
    }
    let div = (num - 1) as f64;
    let delta = stop - start;
    let step = delta / div;
    let mut edges: Vec<f64> = (0..num)
        .map(|i| {
            let i = i as f64;
            if step == 0.0 {
                i / div * delta + start
            } else {
                i * step + start
            }
        })
        .collect();
    edges[num - 1] = stop;
    edges
}

/// Counts per bin as numpy's `histogram` with explicit edges: bin i holds
/// e_i ≤ x < e_{i+1}, the last bin also x = e_last; values outside are
/// dropped.
pub fn bin_counts(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let below = |edge: f64| sorted.partition_point(|&v| v < edge);
    let bins = edges.len().saturating_sub(1);
    (0..bins)
        .map(|i| {
            let upper = if i + 1 == bins {
                sorted.partition_point(|&v| v <= edges[bins])
            } else {
                below(edges[i + 1])
            };
            (upper - below(edges[i])) as u64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(reference: &[f64], current: &[f64]) -> ColumnData {
        let mut r = reference.to_vec();
        let mut c = current.to_vec();
        r.sort_by(f64::total_cmp);
        c.sort_by(f64::total_cmp);
        ColumnData::Numeric(NumericSamples {
            reference: r,
            current: c,
            integer: false,
        })
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_tests() {
        for t in StatTest::ALL {
            assert_eq!(StatTest::parse(t.name()), Ok(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.name())
            );
        }
        let err = StatTest::parse("anderson").unwrap_err();
        assert!(err.contains("ks") && err.contains("hellinger"), "{err}");
    }

    #[test]
    fn default_selection_follows_evidently() {
        use ColumnType::*;
        assert_eq!(StatTest::default_for(Numerical, 1000, 100), StatTest::Ks);
        assert_eq!(
            StatTest::default_for(Numerical, 1000, 5),
            StatTest::Chisquare
        );
        assert_eq!(StatTest::default_for(Numerical, 1000, 2), StatTest::Z);
        assert_eq!(
            StatTest::default_for(Numerical, 1001, 6),
            StatTest::Wasserstein
        );
        assert_eq!(
            StatTest::default_for(Numerical, 1001, 5),
            StatTest::Jensenshannon
        );
        assert_eq!(
            StatTest::default_for(Categorical, 50, 3),
            StatTest::Chisquare
        );
        assert_eq!(StatTest::default_for(Categorical, 50, 2), StatTest::Z);
        assert_eq!(
            StatTest::default_for(Categorical, 5000, 2),
            StatTest::Jensenshannon
        );
    }

    #[test]
    fn drift_rules_and_thresholds() {
        assert!(StatTest::Ks.drifted(0.05, 0.05));
        assert!(!StatTest::Chisquare.drifted(0.05, 0.05));
        assert!(StatTest::Wasserstein.drifted(0.1, 0.1));
        assert!(!StatTest::Psi.drifted(f64::NAN, 0.1));
        assert_eq!(StatTest::Z.default_threshold(), 0.05);
        assert_eq!(StatTest::Hellinger.default_threshold(), 0.1);
    }

    #[test]
    fn wasserstein_of_a_shift_is_the_shift() {
        let a: Vec<f64> = (0..100).map(f64::from).collect();
        let b: Vec<f64> = a.iter().map(|v| v + 2.0).collect();
        assert!((wasserstein_distance(&a, &b) - 2.0).abs() < 1e-12);
        let data = numeric(&a, &b);
        let score = run(StatTest::Wasserstein, &data).unwrap().score;
        let std = population_std(&a);
        assert!((score - 2.0 / std).abs() < 1e-12);
    }

    #[test]
    fn sturges_edges_match_numpy() {
        // numpy.histogram_bin_edges(np.arange(10.), "sturges")
        let edges = sturges_edges(0.0, 9.0, 10, false).unwrap();
        assert_eq!(edges.len(), 6);
        assert_eq!(edges[0], 0.0);
        assert_eq!(edges[5], 9.0);
        assert!((edges[1] - 1.8).abs() < 1e-15);
        // Integers get bins at least one wide.
        let edges = sturges_edges(0.0, 3.0, 1000, true).unwrap();
        assert_eq!(edges, vec![0.0, 1.0, 2.0, 3.0]);
        // A constant column is widened to ±0.5.
        assert_eq!(sturges_edges(4.0, 4.0, 7, false).unwrap(), vec![3.5, 4.5]);
    }

    #[test]
    fn bin_counts_close_the_last_bin() {
        let sorted = [0.0, 1.0, 1.0, 2.0, 3.0];
        assert_eq!(bin_counts(&sorted, &[0.0, 1.0, 2.0, 3.0]), vec![1, 2, 2]);
    }

    #[test]
    fn identical_samples_do_not_drift() {
        let values: Vec<f64> = (0..200).map(|i| (i % 37) as f64 * 0.5).collect();
        let data = numeric(&values, &values);
        for test in [
            StatTest::Ks,
            StatTest::Wasserstein,
            StatTest::Jensenshannon,
            StatTest::Psi,
            StatTest::KlDiv,
            StatTest::Hellinger,
        ] {
            let score = run(test, &data).unwrap().score;
            assert!(
                !test.drifted(score, test.default_threshold()),
                "{test:?} {score}"
            );
        }
    }

    #[test]
    fn a_new_category_makes_chi_square_infinite() {
        let counts = CategoryCounts {
            keys: vec![
                Category::Text("a".into()),
                Category::Text("b".into()),
                Category::Text("c".into()),
            ],
            reference: vec![10, 10, 0],
            current: vec![10, 10, 1],
        };
        let (statistic, p) = chi_square(&counts);
        assert!(statistic.is_infinite());
        assert_eq!(p, 0.0);
    }
}
