//! The seeded card-transactions generator behind the `fraud-detector` demo.
//!
//! Every row is drawn from one `fastrand` stream seeded with the config's
//! seed, and every row consumes the same number of draws whatever the drift
//! and bias settings are. So the same config gives byte-identical batches,
//! and a drifted batch is the clean batch with the same underlying draws
//! pushed through the drift: row *i* with drift is row *i* without it,
//! shifted.
//!
//! The label comes from a known logistic model of the features (plus an
//! unobserved noise term), so a fitted model has a real signal to find and
//! cannot be perfect. Features are independent of the protected attribute;
//! only `bias` ties the label to it.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// The demo model's name, as registered and served.
pub const MODEL_NAME: &str = "fraud-detector";
/// The numeric model features, in the order models are trained on them.
pub const FEATURES: &[&str] = &[
    "amount",
    "hour",
    "distance_from_home_km",
    "account_age_days",
    "txn_count_24h",
    "card_present",
    "merchant_risk",
];
/// [`FEATURES`] plus the protected attribute's numeric code: what a model
/// that *can* learn the bias is trained on.
pub const BIASED_FEATURES: &[&str] = &[
    "amount",
    "hour",
    "distance_from_home_km",
    "account_age_days",
    "txn_count_24h",
    "card_present",
    "merchant_risk",
    "age_band_code",
];
/// The label column: 1 for fraud.
pub const LABEL: &str = "is_fraud";
/// The protected attribute for fairness checks.
pub const PROTECTED_ATTRIBUTE: &str = "age_band";
/// Its numeric encoding (0, 1, 2 in [`AGE_BANDS`] order).
pub const PROTECTED_ATTRIBUTE_CODE: &str = "age_band_code";
/// The values of [`PROTECTED_ATTRIBUTE`]; the index is the code.
pub const AGE_BANDS: [&str; 3] = ["18-29", "30-49", "50+"];
/// The values of `merchant_category`.
pub const MERCHANT_CATEGORIES: [&str; 8] = [
    "grocery",
    "dining",
    "fuel",
    "retail",
    "online",
    "electronics",
    "travel",
    "gaming",
];
/// The event-time column, for time windows.
pub const EVENT_TIME: &str = "event_time";
/// The row key.
pub const TRANSACTION_ID: &str = "transaction_id";

/// Most rows one config may ask for (the storage server's per-version cap).
pub const MAX_ROWS: usize = 5_000_000;
/// Longest gap between rows: one day.
pub const MAX_INTERVAL_MS: u64 = 86_400_000;

/// Shares of the age bands among card holders (in `AGE_BANDS` order).
const AGE_BAND_SHARES: [f64; 3] = [0.25, 0.42, 0.33];
/// Category shares without drift (sum 1).
const CATEGORY_SHARES: [f64; 8] = [0.22, 0.16, 0.12, 0.16, 0.12, 0.08, 0.08, 0.06];
/// The mix that a full `merchant_mix_shift` moves to: an e-commerce and
/// travel season (sum 1).
const DRIFTED_CATEGORY_SHARES: [f64; 8] = [0.06, 0.06, 0.04, 0.08, 0.32, 0.22, 0.14, 0.08];
/// Each category's typical merchant risk score.
const CATEGORY_RISK: [f64; 8] = [0.10, 0.15, 0.20, 0.20, 0.45, 0.50, 0.40, 0.70];

/// The true fraud mechanism: logit coefficients. The intercept is chosen
/// so that about 10% of clean, unbiased rows are fraud.
mod truth {
    pub const INTERCEPT: f64 = -3.0;
    /// Per unit of ln(amount) above the typical ln(45).
    pub const LOG_AMOUNT: f64 = 1.6;
    /// Per unit of ln(1 + km) above the typical ln(7).
    pub const LOG_DISTANCE: f64 = 0.9;
    /// Transactions between 00:00 and 05:59.
    pub const NIGHT: f64 = 1.3;
    /// Per unit of ln(1 + days) above the typical ln(700): older accounts
    /// are safer.
    pub const LOG_ACCOUNT_AGE: f64 = -0.8;
    /// Per transaction in the last 24 h above the typical 2.5: card testing.
    pub const TXN_COUNT: f64 = 0.4;
    /// Chip-and-PIN in a shop is much safer than card-not-present.
    pub const CARD_PRESENT: f64 = -2.0;
    /// Per unit of merchant risk above the typical 0.25.
    pub const MERCHANT_RISK: f64 = 5.0;
    /// Far from home *and* card not present: stolen card details.
    pub const FAR_AND_NOT_PRESENT: f64 = 0.9;
    pub const FAR_KM: f64 = 100.0;
    /// Standard deviation of the unobserved part of the logit.
    pub const LATENT_SD: f64 = 0.3;
    /// Log odds added for "18-29" at bias 1: odds × 10.
    pub const BIAS_YOUNG: f64 = 2.303;
    /// Log odds taken from everyone at bias 1, so the overall fraud rate
    /// stays near the unbiased one while the gap opens.
    pub const BIAS_OFFSET: f64 = -0.5;
}

/// A covariate shift applied to generated rows. The label is drawn from
/// the shifted features by the same mechanism, so the signal stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftSpec {
    /// Multiplies every amount (1 = none).
    pub amount_scale: f64,
    /// Added to every distance from home, in km (0 = none); results are
    /// floored at 0.
    pub distance_shift_km: f64,
    /// 0 keeps the usual merchant mix; 1 moves it fully to the online and
    /// travel season mix.
    pub merchant_mix_shift: f64,
    /// Hours added to the transaction hour, modulo 24 (0 = none).
    pub hour_shift: i64,
}

impl DriftSpec {
    /// No drift.
    pub const fn none() -> Self {
        DriftSpec {
            amount_scale: 1.0,
            distance_shift_km: 0.0,
            merchant_mix_shift: 0.0,
            hour_shift: 0,
        }
    }

    /// The demo's drift: amounts up 50%, transactions 15 km further from
    /// home, the merchant mix 60% of the way to the online and travel
    /// season; hours are left alone. Under the drift server's rules
    /// (`tests/demo_drift.rs`) it flags exactly `amount`,
    /// `distance_from_home_km` and `merchant_category` among the features:
    /// on 1 000 rows by KS and chi-square p-values far below 0.05, on 5 000
    /// rows by normalised Wasserstein distances of about 0.38 and 0.84 and
    /// a Jensen–Shannon distance of about 0.19 (thresholds 0.1; clean data
    /// scores 0.02–0.04). `merchant_risk` follows the mix, and with the
    /// riskier features the fraud rate rises to about 27%.
    pub const fn demo() -> Self {
        DriftSpec {
            amount_scale: 1.5,
            distance_shift_km: 15.0,
            merchant_mix_shift: 0.6,
            hour_shift: 0,
        }
    }

    /// Whether this changes anything.
    pub fn is_none(&self) -> bool {
        *self == DriftSpec::none()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(self.amount_scale.is_finite() && self.amount_scale > 0.0 && self.amount_scale <= 100.0)
        {
            return Err(ConfigError::new(
                "drift.amount_scale",
                format!("{} is not in (0, 100]", self.amount_scale),
            ));
        }
        if !(self.distance_shift_km.is_finite() && self.distance_shift_km.abs() <= 20_000.0) {
            return Err(ConfigError::new(
                "drift.distance_shift_km",
                format!("{} is not in [-20000, 20000] km", self.distance_shift_km),
            ));
        }
        if !(0.0..=1.0).contains(&self.merchant_mix_shift) {
            return Err(ConfigError::new(
                "drift.merchant_mix_shift",
                format!("{} is not in [0, 1]", self.merchant_mix_shift),
            ));
        }
        if !(-23..=23).contains(&self.hour_shift) {
            return Err(ConfigError::new(
                "drift.hour_shift",
                format!("{} is not in [-23, 23]", self.hour_shift),
            ));
        }
        Ok(())
    }
}

impl Default for DriftSpec {
    fn default() -> Self {
        DriftSpec::none()
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionsConfig {
    pub seed: u64,
    /// 1..=[`MAX_ROWS`].
    pub rows: usize,
    /// The first row's `event_time`.
    pub start: DateTime<Utc>,
    /// Gap between consecutive rows' `event_time`, 1..=[`MAX_INTERVAL_MS`].
    pub interval_ms: u64,
    pub drift: DriftSpec,
    /// How strongly the label depends on `age_band`: 0 = not at all given
    /// the other features, 1 = fraud odds × 10 for "18-29" (about 23%
    /// fraud against 8% for the other bands; scaled linearly in log odds
    /// between).
    pub bias: f64,
}

impl Default for TransactionsConfig {
    fn default() -> Self {
        TransactionsConfig {
            seed: 42,
            rows: 5_000,
            start: Utc
                .with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
                .single()
                .expect("a fixed, valid UTC date"),
            interval_ms: 60_000,
            drift: DriftSpec::none(),
            bias: 0.0,
        }
    }
}

/// A config field that is out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// The field's name, dotted for nested fields (`drift.amount_scale`).
    pub field: &'static str,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            field,
            message: message.into(),
        }
    }
}

impl TransactionsConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.rows == 0 || self.rows > MAX_ROWS {
            return Err(ConfigError::new(
                "rows",
                format!("{} is not in 1..={MAX_ROWS}", self.rows),
            ));
        }
        if self.interval_ms == 0 || self.interval_ms > MAX_INTERVAL_MS {
            return Err(ConfigError::new(
                "interval_ms",
                format!("{} is not in 1..={MAX_INTERVAL_MS}", self.interval_ms),
            ));
        }
        if !(0.0..=1.0).contains(&self.bias) {
            return Err(ConfigError::new(
                "bias",
                format!("{} is not in [0, 1]", self.bias),
            ));
        }
        self.drift.validate()?;
        if self.last_event_ms().is_none() {
            return Err(ConfigError::new(
                "start",
                "the last row's event_time would be past the year 262143",
            ));
        }
        Ok(())
    }

    /// The last row's event time in epoch ms, if it is representable.
    fn last_event_ms(&self) -> Option<i64> {
        let span = i64::try_from(self.rows.saturating_sub(1))
            .ok()?
            .checked_mul(i64::try_from(self.interval_ms).ok()?)?;
        let last = self.start.timestamp_millis().checked_add(span)?;
        DateTime::<Utc>::from_timestamp_millis(last).map(|_| last)
    }
}

/// The seed of the holdout rows for a training seed: the traffic generator
/// sends these, so served traffic is never the training data.
pub fn holdout_seed(training_seed: u64) -> u64 {
    training_seed.wrapping_add(HOLDOUT_SEED_OFFSET)
}

/// Added to a training seed to get its holdout seed.
pub const HOLDOUT_SEED_OFFSET: u64 = 0x5EED_0000_0001;

/// The batch's schema.
pub fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new(TRANSACTION_ID, DataType::Utf8, false),
        Field::new(
            EVENT_TIME,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("amount", DataType::Float64, false),
        Field::new("hour", DataType::Int64, false),
        Field::new("distance_from_home_km", DataType::Float64, false),
        Field::new("account_age_days", DataType::Int64, false),
        Field::new("txn_count_24h", DataType::Int64, false),
        Field::new("card_present", DataType::Int64, false),
        Field::new("merchant_risk", DataType::Float64, false),
        Field::new("merchant_category", DataType::Utf8, false),
        Field::new(PROTECTED_ATTRIBUTE, DataType::Utf8, false),
        Field::new(PROTECTED_ATTRIBUTE_CODE, DataType::Int64, false),
        Field::new(LABEL, DataType::Int64, false),
    ]))
}

/// One generated row.
struct Transaction {
    amount: f64,
    hour: i64,
    distance_km: f64,
    account_age_days: i64,
    txn_count_24h: i64,
    card_present: i64,
    merchant_risk: f64,
    category: usize,
    age_band: usize,
    is_fraud: i64,
}

/// Generates the batch `config` describes.
pub fn generate(config: &TransactionsConfig) -> Result<RecordBatch, ConfigError> {
    config.validate()?;
    let mut rng = fastrand::Rng::with_seed(config.seed);
    let rows: Vec<Transaction> = (0..config.rows)
        .map(|_| draw(&mut rng, &config.drift, config.bias))
        .collect();

    let start_ms = config.start.timestamp_millis();
    let interval = i64::try_from(config.interval_ms).expect("validated to at most one day");
    // validate() proved the last timestamp fits, so every earlier one does.
    let event_times = (0..rows.len()).map(|i| start_ms + i as i64 * interval);
    let ids = (0..rows.len()).map(|i| format!("txn-{:016x}-{i:08}", config.seed));

    let float = |f: fn(&Transaction) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(rows.iter().map(f)))
    };
    let int = |f: fn(&Transaction) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(rows.iter().map(f)))
    };
    let text = |f: fn(&Transaction) -> &'static str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(ids)),
        Arc::new(TimestampMillisecondArray::from_iter_values(event_times).with_timezone("UTC")),
        float(|t| t.amount),
        int(|t| t.hour),
        float(|t| t.distance_km),
        int(|t| t.account_age_days),
        int(|t| t.txn_count_24h),
        int(|t| t.card_present),
        float(|t| t.merchant_risk),
        text(|t| MERCHANT_CATEGORIES[t.category]),
        text(|t| AGE_BANDS[t.age_band]),
        int(|t| t.age_band as i64),
        int(|t| t.is_fraud),
    ];
    Ok(RecordBatch::try_new(schema(), columns)
        .expect("the columns are built to match schema() in order, type and length"))
}

/// Draws one row. The number of draws from `rng` never depends on `drift`
/// or `bias`, which keeps drifted rows aligned with clean ones.
fn draw(rng: &mut fastrand::Rng, drift: &DriftSpec, bias: f64) -> Transaction {
    let age_band = pick(rng.f64(), &AGE_BAND_SHARES);

    let amount = (lognormal(rng, 45.0, 1.0) * drift.amount_scale).clamp(0.5, 50_000.0);
    let amount = round_to(amount, 2);

    // Most card use is in the day; a fifth is spread over all hours.
    let daytime = rng.f64() < 0.8;
    let hour_draw = rng.f64();
    let hour = if daytime {
        7 + (hour_draw * 16.0) as i64
    } else {
        (hour_draw * 24.0) as i64
    };
    let hour = (hour.min(23) + drift.hour_shift).rem_euclid(24);

    let distance_km = (lognormal(rng, 6.0, 1.2) + drift.distance_shift_km).clamp(0.0, 20_000.0);
    let distance_km = round_to(distance_km, 1);

    let account_age_days = lognormal(rng, 700.0, 1.0).clamp(1.0, 20_000.0).round() as i64;
    let txn_count_24h = poisson(rng.f64(), 2.5);
    let card_present = i64::from(rng.f64() < 0.6);

    let shares: [f64; 8] = std::array::from_fn(|i| {
        (1.0 - drift.merchant_mix_shift) * CATEGORY_SHARES[i]
            + drift.merchant_mix_shift * DRIFTED_CATEGORY_SHARES[i]
    });
    let category = pick(rng.f64(), &shares);
    let merchant_risk = round_to(
        (CATEGORY_RISK[category] + 0.1 * normal(rng)).clamp(0.0, 1.0),
        3,
    );

    let mut transaction = Transaction {
        amount,
        hour,
        distance_km,
        account_age_days,
        txn_count_24h,
        card_present,
        merchant_risk,
        category,
        age_band,
        is_fraud: 0,
    };
    let logit = observable_logit(&transaction, bias) + truth::LATENT_SD * normal(rng);
    let p_fraud = 1.0 / (1.0 + (-logit).exp());
    transaction.is_fraud = i64::from(rng.f64() < p_fraud);
    transaction
}

/// The part of the true fraud log odds that the columns determine (all of
/// it but the latent noise).
fn observable_logit(t: &Transaction, bias: f64) -> f64 {
    let far_and_not_present = t.distance_km > truth::FAR_KM && t.card_present == 0;
    let young = t.age_band == 0;
    truth::INTERCEPT
        + truth::LOG_AMOUNT * (t.amount.ln() - 45f64.ln())
        + truth::LOG_DISTANCE * (t.distance_km.ln_1p() - 7f64.ln())
        + if t.hour < 6 { truth::NIGHT } else { 0.0 }
        + truth::LOG_ACCOUNT_AGE * ((t.account_age_days as f64).ln_1p() - 700f64.ln())
        + truth::TXN_COUNT * (t.txn_count_24h as f64 - 2.5)
        + truth::CARD_PRESENT * t.card_present as f64
        + truth::MERCHANT_RISK * (t.merchant_risk - 0.25)
        + if far_and_not_present {
            truth::FAR_AND_NOT_PRESENT
        } else {
            0.0
        }
        + bias * (truth::BIAS_OFFSET + if young { truth::BIAS_YOUNG } else { 0.0 })
}

/// The index whose cumulative share first reaches `u` (the last index if
/// rounding leaves the shares a hair short of 1).
fn pick(u: f64, shares: &[f64]) -> usize {
    let mut cumulative = 0.0;
    for (i, share) in shares.iter().enumerate() {
        cumulative += share;
        if u < cumulative {
            return i;
        }
    }
    shares.len() - 1
}

/// A standard normal draw (Box–Muller, one of the pair; two uniforms).
fn normal(rng: &mut fastrand::Rng) -> f64 {
    // 1 - f64() is in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - rng.f64();
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal draw with the given median and log-space sigma.
fn lognormal(rng: &mut fastrand::Rng, median: f64, sigma: f64) -> f64 {
    (median.ln() + sigma * normal(rng)).exp()
}

/// A Poisson draw by inverting the CDF with one uniform, so it always
/// consumes exactly one draw.
fn poisson(u: f64, mean: f64) -> i64 {
    let mut k = 0;
    let mut pmf = (-mean).exp();
    let mut cdf = pmf;
    // The tail past 60 is below 1e-40 for the means used here.
    while u >= cdf && k < 60 {
        k += 1;
        pmf *= mean / k as f64;
        cdf += pmf;
    }
    k
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};

    fn config(seed: u64, rows: usize) -> TransactionsConfig {
        TransactionsConfig {
            seed,
            rows,
            ..TransactionsConfig::default()
        }
    }

    fn floats(batch: &RecordBatch, name: &str) -> Vec<f64> {
        let column = batch.column_by_name(name).expect("column exists");
        column.as_primitive::<Float64Type>().values().to_vec()
    }

    fn ints(batch: &RecordBatch, name: &str) -> Vec<i64> {
        let column = batch.column_by_name(name).expect("column exists");
        column.as_primitive::<Int64Type>().values().to_vec()
    }

    fn strings(batch: &RecordBatch, name: &str) -> Vec<String> {
        let column = batch.column_by_name(name).expect("column exists");
        column
            .as_string::<i32>()
            .iter()
            .map(|v| v.unwrap_or_default().to_owned())
            .collect()
    }

    fn mean(xs: &[f64]) -> f64 {
        xs.iter().sum::<f64>() / xs.len() as f64
    }

    fn median(xs: &[f64]) -> f64 {
        let mut sorted = xs.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    }

    /// Fraud rate per age band (in AGE_BANDS order).
    fn fraud_rate_by_band(batch: &RecordBatch) -> [f64; 3] {
        let bands = ints(batch, PROTECTED_ATTRIBUTE_CODE);
        let labels = ints(batch, LABEL);
        std::array::from_fn(|band| {
            let of_band: Vec<f64> = bands
                .iter()
                .zip(&labels)
                .filter(|(b, _)| **b == band as i64)
                .map(|(_, y)| *y as f64)
                .collect();
            mean(&of_band)
        })
    }

    #[test]
    fn the_same_seed_gives_the_same_batch_and_another_seed_does_not() {
        let a = generate(&config(7, 2_000)).unwrap();
        let b = generate(&config(7, 2_000)).unwrap();
        let c = generate(&config(8, 2_000)).unwrap();
        assert_eq!(a, b);
        assert_ne!(floats(&a, "amount"), floats(&c, "amount"));
        assert_ne!(ints(&a, LABEL), ints(&c, LABEL));
        assert_ne!(strings(&a, TRANSACTION_ID), strings(&c, TRANSACTION_ID));
    }

    #[test]
    fn ids_are_unique_and_event_times_step_by_the_interval() {
        let cfg = TransactionsConfig {
            interval_ms: 1_500,
            ..config(3, 3_000)
        };
        let batch = generate(&cfg).unwrap();
        let ids = strings(&batch, TRANSACTION_ID);
        let unique: std::collections::BTreeSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        let times = batch
            .column_by_name(EVENT_TIME)
            .unwrap()
            .as_primitive::<arrow_array::types::TimestampMillisecondType>()
            .values()
            .to_vec();
        assert_eq!(times[0], cfg.start.timestamp_millis());
        assert!(times.windows(2).all(|w| w[1] - w[0] == 1_500));
        assert_eq!(batch.schema().as_ref(), schema().as_ref());
        assert_eq!(batch.num_rows(), 3_000);
        for column in batch.columns() {
            assert_eq!(column.null_count(), 0);
        }
    }

    #[test]
    fn features_stay_in_their_ranges() {
        let batch = generate(&config(11, 5_000)).unwrap();
        assert!(ints(&batch, "hour").iter().all(|h| (0..24).contains(h)));
        assert!(floats(&batch, "amount").iter().all(|a| *a >= 0.5));
        assert!(
            floats(&batch, "merchant_risk")
                .iter()
                .all(|r| (0.0..=1.0).contains(r))
        );
        assert!(
            ints(&batch, "card_present")
                .iter()
                .all(|c| *c == 0 || *c == 1)
        );
        assert!(ints(&batch, "account_age_days").iter().all(|d| *d >= 1));
        let categories: std::collections::BTreeSet<_> =
            strings(&batch, "merchant_category").into_iter().collect();
        assert_eq!(categories.len(), MERCHANT_CATEGORIES.len());
        let bands = strings(&batch, PROTECTED_ATTRIBUTE);
        let codes = ints(&batch, PROTECTED_ATTRIBUTE_CODE);
        for (band, code) in bands.iter().zip(&codes) {
            assert_eq!(AGE_BANDS[*code as usize], band);
        }
        // A typical amount is tens of currency units, as on a real card.
        let amount_median = median(&floats(&batch, "amount"));
        assert!((30.0..70.0).contains(&amount_median), "{amount_median}");
    }

    #[test]
    fn the_fraud_rate_is_about_ten_percent() {
        for seed in [1, 2, 3] {
            let batch = generate(&config(seed, 20_000)).unwrap();
            let rate = mean(
                &ints(&batch, LABEL)
                    .iter()
                    .map(|y| *y as f64)
                    .collect::<Vec<_>>(),
            );
            assert!((0.08..=0.12).contains(&rate), "seed {seed}: rate {rate}");
        }
    }

    /// Area under the ROC curve of `scores` for `labels` (Mann–Whitney,
    /// ties counted half).
    fn auc(scores: &[f64], labels: &[i64]) -> f64 {
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
        let (mut rank_sum, mut i) = (0.0, 0);
        while i < order.len() {
            let mut j = i;
            while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
                j += 1;
            }
            let mid_rank = (i + j) as f64 / 2.0 + 1.0;
            rank_sum += mid_rank * order[i..=j].iter().filter(|k| labels[**k] == 1).count() as f64;
            i = j + 1;
        }
        let positives = labels.iter().filter(|y| **y == 1).count() as f64;
        let negatives = labels.len() as f64 - positives;
        (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
    }

    #[test]
    fn the_best_possible_model_is_good_but_not_perfect() {
        // The observable logit is what a perfect model of the columns would
        // score; the latent noise and the coin flip keep it below 1, and a
        // fitted model lands a little below this.
        let cfg = config(13, 20_000);
        let mut rng = fastrand::Rng::with_seed(cfg.seed);
        let rows: Vec<Transaction> = (0..cfg.rows)
            .map(|_| draw(&mut rng, &cfg.drift, cfg.bias))
            .collect();
        let scores: Vec<f64> = rows.iter().map(|t| observable_logit(t, 0.0)).collect();
        let labels: Vec<i64> = rows.iter().map(|t| t.is_fraud).collect();
        let oracle = auc(&scores, &labels);
        assert!((0.88..0.96).contains(&oracle), "oracle AUC {oracle}");
        assert_eq!(auc(&[0.1, 0.2, 0.3, 0.3], &[0, 0, 1, 1]), 1.0);
        assert_eq!(auc(&[0.5, 0.5], &[0, 1]), 0.5);
    }

    #[test]
    fn the_label_follows_the_features() {
        let batch = generate(&config(5, 20_000)).unwrap();
        let labels = ints(&batch, LABEL);
        let rate_where = |keep: &dyn Fn(usize) -> bool| {
            let picked: Vec<f64> = (0..labels.len())
                .filter(|i| keep(*i))
                .map(|i| labels[i] as f64)
                .collect();
            mean(&picked)
        };
        let present = ints(&batch, "card_present");
        assert!(rate_where(&|i| present[i] == 0) > 2.0 * rate_where(&|i| present[i] == 1));
        let amount = floats(&batch, "amount");
        let amount_median = median(&amount);
        assert!(
            rate_where(&|i| amount[i] > amount_median)
                > 1.5 * rate_where(&|i| amount[i] <= amount_median)
        );
    }

    #[test]
    fn bias_opens_a_gap_between_age_bands_and_no_bias_leaves_none() {
        let unbiased = fraud_rate_by_band(&generate(&config(9, 30_000)).unwrap());
        let biased = fraud_rate_by_band(
            &generate(&TransactionsConfig {
                bias: 1.0,
                ..config(9, 30_000)
            })
            .unwrap(),
        );
        // Unbiased: bands within sampling noise of each other (a few
        // tenths of a percentage point at these sizes).
        let spread = |r: [f64; 3]| {
            r.iter().copied().fold(f64::MIN, f64::max) - r.iter().copied().fold(f64::MAX, f64::min)
        };
        assert!(spread(unbiased) < 0.02, "unbiased rates {unbiased:?}");
        // Biased: the youngest band is hit far more often than the others.
        assert!(
            biased[0] > 2.0 * biased[1] && biased[0] > 2.0 * biased[2],
            "biased rates {biased:?}"
        );
        assert!(biased[0] - biased[1] > 0.1, "biased rates {biased:?}");
    }

    #[test]
    fn demo_drift_moves_amounts_distances_and_the_merchant_mix_up() {
        let clean = generate(&config(21, 5_000)).unwrap();
        let drifted = generate(&TransactionsConfig {
            drift: DriftSpec::demo(),
            ..config(21, 5_000)
        })
        .unwrap();
        // The same draws, shifted: row by row, amount scales by 1.5
        // (up to rounding to cents and the clamps).
        let a0 = floats(&clean, "amount");
        let a1 = floats(&drifted, "amount");
        let ratio = median(&a1) / median(&a0);
        assert!((1.45..1.55).contains(&ratio), "amount ratio {ratio}");
        assert!(a0.iter().zip(&a1).all(|(x, y)| y >= x));
        let d0 = mean(&floats(&clean, "distance_from_home_km"));
        let d1 = mean(&floats(&drifted, "distance_from_home_km"));
        assert!((d1 - d0 - 15.0).abs() < 0.5, "distance {d0} → {d1}");
        let share_online = |b: &RecordBatch| {
            let cats = strings(b, "merchant_category");
            cats.iter()
                .filter(|c| *c == "online" || *c == "electronics")
                .count() as f64
                / cats.len() as f64
        };
        assert!(share_online(&drifted) > share_online(&clean) + 0.15);
        // Hours, account ages and age bands are not touched by the demo.
        assert_eq!(ints(&clean, "hour"), ints(&drifted, "hour"));
        assert_eq!(
            ints(&clean, "account_age_days"),
            ints(&drifted, "account_age_days")
        );
        assert_eq!(
            ints(&clean, PROTECTED_ATTRIBUTE_CODE),
            ints(&drifted, PROTECTED_ATTRIBUTE_CODE)
        );
        // Riskier features, more fraud, but still a minority class.
        let rate =
            |b: &RecordBatch| mean(&ints(b, LABEL).iter().map(|y| *y as f64).collect::<Vec<_>>());
        assert!(rate(&drifted) > rate(&clean));
        assert!(rate(&drifted) < 0.35, "drifted rate {}", rate(&drifted));
    }

    #[test]
    fn hour_shift_wraps_around_midnight() {
        let clean = generate(&config(4, 1_000)).unwrap();
        let shifted = generate(&TransactionsConfig {
            drift: DriftSpec {
                hour_shift: 20,
                ..DriftSpec::none()
            },
            ..config(4, 1_000)
        })
        .unwrap();
        for (h0, h1) in ints(&clean, "hour").iter().zip(ints(&shifted, "hour")) {
            assert_eq!((h0 + 20) % 24, h1);
        }
    }

    #[test]
    fn bad_configs_are_refused_naming_the_field() {
        let field = |cfg: TransactionsConfig| cfg.validate().unwrap_err().field;
        let base = TransactionsConfig::default();
        assert!(base.validate().is_ok());
        assert_eq!(
            field(TransactionsConfig {
                rows: 0,
                ..base.clone()
            }),
            "rows"
        );
        assert_eq!(
            field(TransactionsConfig {
                rows: MAX_ROWS + 1,
                ..base.clone()
            }),
            "rows"
        );
        assert_eq!(
            field(TransactionsConfig {
                interval_ms: 0,
                ..base.clone()
            }),
            "interval_ms"
        );
        for bias in [-0.1, 1.5, f64::NAN] {
            assert_eq!(
                field(TransactionsConfig {
                    bias,
                    ..base.clone()
                }),
                "bias"
            );
        }
        let drift = |drift: DriftSpec| {
            field(TransactionsConfig {
                drift,
                ..base.clone()
            })
        };
        assert_eq!(
            drift(DriftSpec {
                amount_scale: 0.0,
                ..DriftSpec::none()
            }),
            "drift.amount_scale"
        );
        assert_eq!(
            drift(DriftSpec {
                distance_shift_km: f64::INFINITY,
                ..DriftSpec::none()
            }),
            "drift.distance_shift_km"
        );
        assert_eq!(
            drift(DriftSpec {
                merchant_mix_shift: 1.1,
                ..DriftSpec::none()
            }),
            "drift.merchant_mix_shift"
        );
        assert_eq!(
            drift(DriftSpec {
                hour_shift: 24,
                ..DriftSpec::none()
            }),
            "drift.hour_shift"
        );
        let far = TransactionsConfig {
            start: DateTime::<Utc>::MAX_UTC,
            rows: 10,
            ..base.clone()
        };
        assert_eq!(field(far), "start");
        // The message says what is allowed, and generate() refuses too.
        let err = generate(&TransactionsConfig { rows: 0, ..base }).unwrap_err();
        assert!(
            err.to_string().starts_with("rows: 0 is not in 1..="),
            "{err}"
        );
    }

    #[test]
    fn biased_features_extend_the_features_with_the_band_code() {
        assert_eq!(&BIASED_FEATURES[..FEATURES.len()], FEATURES);
        assert_eq!(BIASED_FEATURES.last(), Some(&PROTECTED_ATTRIBUTE_CODE));
        let schema = schema();
        for name in BIASED_FEATURES {
            let field = schema.field_with_name(name).unwrap();
            assert!(field.data_type().is_numeric(), "{name}");
        }
    }
}
