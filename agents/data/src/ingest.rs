//! Skill `ingest-data`: rows from the demo generator or an object in the
//! store → coerced, windowed, de-duplicated → a dataset version, and
//! optionally a deterministic train/holdout split as two more versions.
//!
//! Steps run in this order: load, coerce, time window, de-duplicate, split,
//! write. Everything is checked and computed before the first write, so a
//! refused or failed ingest leaves nothing behind but what it read.

use std::collections::BTreeMap;

use arrow_array::{BooleanArray, RecordBatch};
use chrono::{DateTime, SecondsFormat, Utc};
use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome, parse_input};
use mlops_demo_data::{DriftSpec, TransactionsConfig};
use mlops_mcp_storage::keys::{ObjectKey, dataset_name};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::DataConfig;
use crate::storage::{
    DatasetRef, DatasetVersion, LineageRecord, LineageSource, LineageSteps, ObjectFormat,
    SplitPart, SplitStep, Storage,
};
use crate::table::{self, ColumnCoercion, ColumnType, TypeChange};

/// The split parts' dataset names are `<dataset>-train` and `<dataset>-holdout`.
const HOLDOUT_SUFFIX: &str = "-holdout";
const TRAIN_SUFFIX: &str = "-train";
/// Dataset names are at most this long (the storage server's rule).
const MAX_DATASET_NAME: usize = 63;
/// Holdout fractions outside this range make a useless split.
const HOLDOUT_RANGE: std::ops::RangeInclusive<f64> = 0.05..=0.5;
/// More key columns than this is not de-duplication but a mistake.
const MAX_DEDUPE_COLUMNS: usize = 64;

/// Input of `ingest-data`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestInput {
    /// Where the rows come from.
    pub source: IngestSource,
    /// Name of the dataset version to write: 1-63 characters of a-z, 0-9
    /// and '-', starting with a letter (at most 55 with a holdout split).
    pub dataset: String,
    /// Column → type to convert it to. Rows with a value that does not
    /// convert are dropped and counted; nulls stay null.
    #[serde(default)]
    pub coerce: BTreeMap<String, ColumnType>,
    /// Keep only the first row of each distinct combination of these
    /// columns.
    #[serde(default)]
    pub dedupe_on: Vec<String>,
    /// Keep only rows whose time in `column` lies in [`from`, `to`).
    #[serde(default)]
    pub time_window: Option<TimeWindow>,
    /// Hold out this share (0.05-0.5) of the rows: writes
    /// `<dataset>-train` and `<dataset>-holdout` besides `<dataset>`.
    #[serde(default)]
    pub holdout_fraction: Option<f64>,
    /// Seed of the holdout split (default 0): the same rows and seed give
    /// the same split.
    #[serde(default)]
    pub split_seed: Option<u64>,
    /// Largest share (0-1) of rows that may fail coercion before the ingest
    /// fails; the agent's configured share by default.
    #[serde(default)]
    pub max_coercion_failure_share: Option<f64>,
}

/// The rows to ingest.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum IngestSource {
    /// The seeded fraud-detector transactions generator.
    Demo {
        seed: u64,
        /// Rows to generate (at most the agent's `max_rows`).
        rows: usize,
        /// `false` for none (default), `true` for the demo's drift, or a
        /// drift spec.
        #[serde(default)]
        drift: DriftChoice,
        /// 0-1: how strongly fraud depends on the age band (default 0).
        #[serde(default)]
        bias: f64,
        /// RFC 3339 time of the first row (default 2026-01-05T00:00:00Z).
        #[serde(default)]
        start: Option<String>,
        /// Milliseconds between rows (default 60 000).
        #[serde(default)]
        interval_ms: Option<u64>,
    },
    /// An object in the store, read through the storage server (at most
    /// 3 MiB).
    Object { key: String, format: ObjectFormat },
}

/// Drift of generated rows.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DriftChoice {
    /// `true`: the demo's drift (amounts +50 %, 15 km further from home,
    /// merchant mix 60 % towards online and travel); `false`: none.
    Preset(bool),
    Spec(DriftSettings),
}

impl Default for DriftChoice {
    fn default() -> Self {
        DriftChoice::Preset(false)
    }
}

/// A drift spec; fields left out mean no drift in that respect.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftSettings {
    /// Multiplies amounts, (0, 100] (default 1).
    #[serde(default = "one")]
    pub amount_scale: f64,
    /// Km added to distances from home, ±20 000 (default 0).
    #[serde(default)]
    pub distance_shift_km: f64,
    /// 0-1 of the way to the online and travel season's merchant mix.
    #[serde(default)]
    pub merchant_mix_shift: f64,
    /// Hours added to the hour of day, ±23.
    #[serde(default)]
    pub hour_shift: i64,
}

fn one() -> f64 {
    1.0
}

impl DriftChoice {
    fn spec(&self) -> DriftSpec {
        match self {
            DriftChoice::Preset(true) => DriftSpec::demo(),
            DriftChoice::Preset(false) => DriftSpec::none(),
            DriftChoice::Spec(s) => DriftSpec {
                amount_scale: s.amount_scale,
                distance_shift_km: s.distance_shift_km,
                merchant_mix_shift: s.merchant_mix_shift,
                hour_shift: s.hour_shift,
            },
        }
    }
}

/// A time window over one column.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// A timestamp column (or text / epoch-millisecond column).
    pub column: String,
    /// RFC 3339; rows at or after it are kept.
    #[serde(default)]
    pub from: Option<String>,
    /// RFC 3339; rows before it are kept.
    #[serde(default)]
    pub to: Option<String>,
}

/// Output of `ingest-data`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct IngestOutput {
    /// The ingested rows.
    pub dataset: DatasetVersion,
    /// `<dataset>-train`, with a holdout split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train: Option<DatasetVersion>,
    /// `<dataset>-holdout`, with a holdout split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout: Option<DatasetVersion>,
    pub stats: IngestStats,
}

/// Row counts of each step: `rows_out = rows_in - coercion_failures -
/// outside_window - duplicates_dropped`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct IngestStats {
    /// Rows loaded from the source.
    pub rows_in: u64,
    /// Rows written to `<dataset>`.
    pub rows_out: u64,
    /// Rows dropped because a value did not coerce.
    pub coercion_failures: u64,
    /// Per coerced column: values converted and failed, with examples.
    pub coercion: Vec<ColumnCoercion>,
    /// Rows outside the time window (or without a readable time).
    pub outside_window: u64,
    /// Repeats dropped by `dedupe_on`.
    pub duplicates_dropped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout_rows: Option<u64>,
    /// Columns the storage server stores with another kind of type than
    /// they had (CSV carries no types: text of digits reads as numbers).
    pub type_changes: Vec<TypeChange>,
}

/// A checked request: everything that can be refused without reading data.
struct IngestPlan {
    source: Source,
    dataset: String,
    coerce: BTreeMap<String, ColumnType>,
    dedupe_on: Vec<String>,
    window: Option<Window>,
    split: Option<(f64, u64)>,
    max_failure_share: f64,
}

enum Source {
    Demo(TransactionsConfig),
    Object { key: String, format: ObjectFormat },
}

struct Window {
    column: String,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

impl Window {
    fn describe(&self) -> String {
        let bound = |t: &Option<DateTime<Utc>>| {
            t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_else(|| "…".into())
        };
        format!(
            "{} in [{}, {})",
            self.column,
            bound(&self.from),
            bound(&self.to)
        )
    }
}

fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, SkillError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            SkillError::bad_field(
                field,
                format!("{raw:?} is not an RFC 3339 time such as 2026-01-05T00:00:00Z ({e})"),
            )
        })
}

impl IngestPlan {
    fn check(input: IngestInput, config: &DataConfig) -> Result<Self, SkillError> {
        let dataset =
            dataset_name(&input.dataset).map_err(|e| SkillError::bad_field("dataset", e))?;
        let split = match (input.holdout_fraction, input.split_seed) {
            (None, Some(_)) => {
                return Err(SkillError::bad_field(
                    "split_seed",
                    "only applies with `holdout_fraction`",
                ));
            }
            (None, None) => None,
            (Some(fraction), seed) => {
                if !(fraction.is_finite() && HOLDOUT_RANGE.contains(&fraction)) {
                    return Err(SkillError::bad_field(
                        "holdout_fraction",
                        format!(
                            "must be between {} and {}; got {fraction}",
                            HOLDOUT_RANGE.start(),
                            HOLDOUT_RANGE.end()
                        ),
                    ));
                }
                if dataset.len() + HOLDOUT_SUFFIX.len() > MAX_DATASET_NAME {
                    return Err(SkillError::bad_field(
                        "dataset",
                        format!(
                            "must be at most {} characters with a holdout split, to leave room for {HOLDOUT_SUFFIX:?}",
                            MAX_DATASET_NAME - HOLDOUT_SUFFIX.len()
                        ),
                    ));
                }
                Some((fraction, seed.unwrap_or(0)))
            }
        };
        let max_failure_share = match input.max_coercion_failure_share {
            Some(share) if !(0.0..=1.0).contains(&share) => {
                return Err(SkillError::bad_field(
                    "max_coercion_failure_share",
                    format!("must be a fraction between 0 and 1; got {share}"),
                ));
            }
            Some(share) => share,
            None => config.max_coercion_failure_share,
        };
        if let Some(column) = input.coerce.keys().find(|c| c.trim().is_empty()) {
            return Err(SkillError::bad_field(
                "coerce",
                format!("has an empty column name {column:?}"),
            ));
        }
        if input.dedupe_on.len() > MAX_DEDUPE_COLUMNS {
            return Err(SkillError::bad_field(
                "dedupe_on",
                format!(
                    "names {} columns; at most {MAX_DEDUPE_COLUMNS}",
                    input.dedupe_on.len()
                ),
            ));
        }
        for (i, column) in input.dedupe_on.iter().enumerate() {
            if input.dedupe_on[..i].contains(column) {
                return Err(SkillError::bad_field(
                    "dedupe_on",
                    format!("names {column:?} twice"),
                ));
            }
        }
        let window = match input.time_window {
            None => None,
            Some(w) => {
                let from = w
                    .from
                    .as_deref()
                    .map(|t| parse_time("time_window.from", t))
                    .transpose()?;
                let to =
                    w.to.as_deref()
                        .map(|t| parse_time("time_window.to", t))
                        .transpose()?;
                match (from, to) {
                    (None, None) => {
                        return Err(SkillError::bad_field(
                            "time_window",
                            "needs `from`, `to` or both",
                        ));
                    }
                    (Some(f), Some(t)) if f >= t => {
                        return Err(SkillError::bad_field(
                            "time_window.to",
                            "must be after `time_window.from`",
                        ));
                    }
                    _ => {}
                }
                Some(Window {
                    column: w.column,
                    from,
                    to,
                })
            }
        };
        let source = match input.source {
            IngestSource::Demo {
                seed,
                rows,
                drift,
                bias,
                start,
                interval_ms,
            } => {
                if rows > config.max_rows {
                    return Err(SkillError::bad_field(
                        "source.rows",
                        format!(
                            "{rows} is above this agent's limit of {} rows",
                            config.max_rows
                        ),
                    ));
                }
                let defaults = TransactionsConfig::default();
                let generator = TransactionsConfig {
                    seed,
                    rows,
                    start: match start {
                        Some(raw) => parse_time("source.start", &raw)?,
                        None => defaults.start,
                    },
                    interval_ms: interval_ms.unwrap_or(defaults.interval_ms),
                    drift: drift.spec(),
                    bias,
                };
                generator.validate().map_err(|e| {
                    SkillError::bad_field(&format!("source.{}", e.field), e.message)
                })?;
                Source::Demo(generator)
            }
            IngestSource::Object { key, format } => {
                ObjectKey::parse(&key).map_err(|e| SkillError::bad_field("source.key", e))?;
                Source::Object { key, format }
            }
        };
        Ok(IngestPlan {
            source,
            dataset,
            coerce: input.coerce,
            dedupe_on: input.dedupe_on,
            window,
            split,
            max_failure_share,
        })
    }

    /// Every column the request names exists in the loaded rows.
    fn check_columns(&self, batch: &RecordBatch) -> Result<(), SkillError> {
        let names = table::column_names(batch);
        let unknown = |field: &str, column: &str| {
            SkillError::bad_field(
                field,
                format!(
                    "names column {column:?}, which the source does not have; its columns are: {}",
                    names.join(", ")
                ),
            )
        };
        if let Some(column) = self.coerce.keys().find(|c| !names.contains(c)) {
            return Err(unknown(&format!("coerce.{column}"), column));
        }
        if let Some(column) = self.dedupe_on.iter().find(|c| !names.contains(c)) {
            return Err(unknown("dedupe_on", column));
        }
        if let Some(window) = &self.window
            && !names.contains(&window.column)
        {
            return Err(unknown("time_window.column", &window.column));
        }
        Ok(())
    }

    fn lineage_source(&self) -> LineageSource {
        match &self.source {
            Source::Demo(c) => LineageSource::Demo {
                seed: c.seed,
                rows: c.rows,
                start: c.start,
                interval_ms: c.interval_ms,
                amount_scale: c.drift.amount_scale,
                distance_shift_km: c.drift.distance_shift_km,
                merchant_mix_shift: c.drift.merchant_mix_shift,
                hour_shift: c.drift.hour_shift,
                bias: c.bias,
            },
            Source::Object { key, format } => LineageSource::Object {
                key: key.clone(),
                format: *format,
            },
        }
    }

    fn lineage_steps(&self) -> LineageSteps {
        LineageSteps {
            coerce: self.coerce.clone(),
            time_window: self.window.as_ref().map(Window::describe),
            dedupe_on: self.dedupe_on.clone(),
            split: None,
        }
    }
}

fn failed(reason: String) -> SkillError {
    SkillError::failed(reason)
}

/// Loads the source's rows.
async fn load(plan: &IngestPlan, storage: &Storage<'_>) -> Result<RecordBatch, SkillError> {
    match &plan.source {
        Source::Demo(config) => mlops_demo_data::generate(config)
            .map_err(|e| SkillError::bad_field(&format!("source.{}", e.field), e.message)),
        Source::Object { key, format } => {
            let bytes = storage.download(key).await?;
            match format {
                ObjectFormat::Csv => table::read_csv(bytes),
                ObjectFormat::Parquet => table::read_parquet(bytes),
            }
            .map_err(|e| failed(format!("{key}: {e}")))
        }
    }
}

pub async fn run(
    config: &DataConfig,
    input: Value,
    ctx: &SkillContext,
) -> Result<SkillOutcome, SkillError> {
    let plan = IngestPlan::check(parse_input::<IngestInput>(input)?, config)?;
    let storage = Storage::new(ctx, config);
    let mut stats = IngestStats::default();

    let source_label = match &plan.source {
        Source::Demo(c) => format!(
            "the demo generator (seed {}, {} rows{}{})",
            c.seed,
            c.rows,
            if c.drift.is_none() { "" } else { ", drifted" },
            if c.bias > 0.0 { ", biased" } else { "" }
        ),
        Source::Object { key, format } => format!("{key} ({format:?})"),
    };
    ctx.progress_with(
        format!("loading rows from {source_label}"),
        json!({ "stage": "load" }),
    );
    let loaded = load(&plan, &storage).await?;
    plan.check_columns(&loaded)?;
    if loaded.num_rows() > config.max_rows {
        return Err(failed(format!(
            "the source has {} rows, above this agent's limit of {}",
            loaded.num_rows(),
            config.max_rows
        )));
    }
    stats.rows_in = loaded.num_rows() as u64;
    ctx.progress_with(
        format!(
            "loaded {} rows × {} columns",
            loaded.num_rows(),
            loaded.num_columns()
        ),
        json!({ "stage": "load", "rows": stats.rows_in, "columns": table::column_names(&loaded) }),
    );
    ctx.check_canceled()?;

    let mut batch = loaded;
    if !plan.coerce.is_empty() {
        let coerced = table::coerce(&batch, &plan.coerce).map_err(failed)?;
        stats.coercion_failures = coerced.rows_dropped;
        stats.coercion = coerced.columns;
        let share = stats.coercion_failures as f64 / stats.rows_in as f64;
        ctx.progress_with(
            format!(
                "coerced {} columns; {} rows had values that did not convert",
                plan.coerce.len(),
                stats.coercion_failures
            ),
            json!({ "stage": "coerce", "rows_dropped": stats.coercion_failures, "columns": stats.coercion }),
        );
        if share > plan.max_failure_share {
            return Err(SkillError::failed_with(
                format!(
                    "{} of {} rows ({:.1} %) failed coercion, more than the allowed {:.1} %; nothing was written",
                    stats.coercion_failures,
                    stats.rows_in,
                    share * 100.0,
                    plan.max_failure_share * 100.0
                ),
                json!({ "rows_in": stats.rows_in, "coercion_failures": stats.coercion_failures,
                        "max_coercion_failure_share": plan.max_failure_share, "columns": stats.coercion }),
            ));
        }
        batch = coerced.batch;
    }

    if let Some(window) = &plan.window {
        let column = batch
            .column_by_name(&window.column)
            .ok_or_else(|| failed(format!("column {:?} disappeared", window.column)))?;
        let times = table::event_times(column).map_err(|e| {
            SkillError::bad_field("time_window.column", format!("{:?} {e}", window.column))
        })?;
        let keep = table::window_mask(
            &times,
            window.from.map(|t| t.timestamp_millis()),
            window.to.map(|t| t.timestamp_millis()),
        );
        stats.outside_window = (batch.num_rows() - keep.true_count()) as u64;
        batch = table::filter(&batch, &keep).map_err(failed)?;
        ctx.progress_with(
            format!(
                "time window {}: kept {} rows, {} outside",
                window.describe(),
                batch.num_rows(),
                stats.outside_window
            ),
            json!({ "stage": "time_window", "kept": batch.num_rows(), "outside_window": stats.outside_window }),
        );
    }

    if !plan.dedupe_on.is_empty() {
        let keep = table::first_occurrences(&batch, &plan.dedupe_on).map_err(failed)?;
        stats.duplicates_dropped = (batch.num_rows() - keep.true_count()) as u64;
        batch = table::filter(&batch, &keep).map_err(failed)?;
        ctx.progress_with(
            format!(
                "de-duplicated on {}: dropped {} repeats",
                plan.dedupe_on.join(", "),
                stats.duplicates_dropped
            ),
            json!({ "stage": "dedupe", "duplicates_dropped": stats.duplicates_dropped }),
        );
    }

    if batch.num_rows() == 0 {
        return Err(SkillError::failed_with(
            "no rows are left to write after coercion, the time window and de-duplication",
            &stats,
        ));
    }
    stats.rows_out = batch.num_rows() as u64;

    let parts = match plan.split {
        None => None,
        Some((fraction, seed)) => {
            let holdout = table::holdout_rows(batch.num_rows(), fraction, seed).map_err(failed)?;
            let holdout_mask = BooleanArray::from(holdout.clone());
            let train_mask = BooleanArray::from(holdout.iter().map(|h| !h).collect::<Vec<_>>());
            let train = table::filter(&batch, &train_mask).map_err(failed)?;
            let held = table::filter(&batch, &holdout_mask).map_err(failed)?;
            stats.train_rows = Some(train.num_rows() as u64);
            stats.holdout_rows = Some(held.num_rows() as u64);
            ctx.progress_with(
                format!(
                    "split with seed {seed}: {} train rows, {} holdout rows",
                    train.num_rows(),
                    held.num_rows()
                ),
                json!({ "stage": "split", "train_rows": train.num_rows(), "holdout_rows": held.num_rows() }),
            );
            Some((train, held, fraction, seed))
        }
    };
    ctx.check_canceled()?;

    let source = plan.lineage_source();
    let steps = plan.lineage_steps();
    let task_id = ctx.task_id().to_owned();
    let record =
        |dataset: DatasetRef, staged: String, steps: LineageSteps, parent: Option<DatasetRef>| {
            LineageRecord {
                dataset,
                source: source.clone(),
                steps,
                parent,
                staged_object: Some(staged),
                task_id: task_id.clone(),
                recorded_at: Utc::now(),
            }
        };

    ctx.progress_with(
        format!(
            "writing {} ({} rows) through the storage server",
            plan.dataset,
            batch.num_rows()
        ),
        json!({ "stage": "write", "dataset": plan.dataset }),
    );
    let main = storage
        .write_batch(&plan.dataset, &batch, |d, staged| {
            record(d, staged, steps.clone(), None)
        })
        .await?;
    stats.type_changes = main.type_changes.clone();
    report_written(ctx, &main.version, &main.type_changes);
    let parent = DatasetRef {
        name: main.version.name.clone(),
        version: main.version.version.clone(),
    };

    let (train, holdout) = match parts {
        None => (None, None),
        Some((train_batch, holdout_batch, fraction, seed)) => {
            let mut written = Vec::with_capacity(2);
            for (part, suffix, part_batch) in [
                (SplitPart::Train, TRAIN_SUFFIX, &train_batch),
                (SplitPart::Holdout, HOLDOUT_SUFFIX, &holdout_batch),
            ] {
                ctx.check_canceled()?;
                let name = format!("{}{suffix}", plan.dataset);
                let part_steps = LineageSteps {
                    split: Some(SplitStep {
                        part,
                        holdout_fraction: fraction,
                        split_seed: seed,
                    }),
                    ..steps.clone()
                };
                let part_written = storage
                    .write_batch(&name, part_batch, |d, staged| {
                        record(d, staged, part_steps, Some(parent.clone()))
                    })
                    .await?;
                report_written(ctx, &part_written.version, &[]);
                written.push(part_written.version);
            }
            let holdout = written.pop();
            let train = written.pop();
            (train, holdout)
        }
    };

    let summary = match (&train, &holdout) {
        (Some(t), Some(h)) => format!(
            "ingested {} {}: {} of {} rows ({} train, {} holdout)",
            main.version.name, main.version.digest, stats.rows_out, stats.rows_in, t.rows, h.rows
        ),
        _ => format!(
            "ingested {} {}: {} of {} rows",
            main.version.name, main.version.digest, stats.rows_out, stats.rows_in
        ),
    };
    let output = IngestOutput {
        dataset: main.version,
        train,
        holdout,
        stats,
    };
    Ok(SkillOutcome::single("ingest", output, summary))
}

fn report_written(ctx: &SkillContext, version: &DatasetVersion, changes: &[TypeChange]) {
    let verb = if version.created {
        "wrote"
    } else {
        "already had"
    };
    ctx.progress_with(
        format!(
            "{verb} {} {} ({} rows)",
            version.name, version.digest, version.rows
        ),
        json!({ "stage": "write", "dataset": version.name, "version": version.version,
                "rows": version.rows, "created": version.created }),
    );
    for change in changes {
        ctx.progress(format!(
            "note: column {} ({}) is stored as {}",
            change.column, change.ingested, change.stored
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: Value) -> Result<IngestPlan, String> {
        let input = parse_input::<IngestInput>(input).map_err(|e| e.to_string())?;
        IngestPlan::check(input, &DataConfig::default()).map_err(|e| e.to_string())
    }

    fn demo() -> Value {
        json!({ "kind": "demo", "seed": 1, "rows": 100 })
    }

    #[test]
    fn good_requests_are_planned() {
        let plan = check(json!({
            "source": { "kind": "demo", "seed": 7, "rows": 300, "drift": true, "bias": 0.5,
                        "start": "2026-02-01T00:00:00Z" },
            "dataset": "transactions",
            "coerce": { "amount": "float" },
            "dedupe_on": ["transaction_id"],
            "time_window": { "column": "event_time", "from": "2026-02-01T01:00:00Z" },
            "holdout_fraction": 0.2,
            "split_seed": 3
        }))
        .unwrap();
        let Source::Demo(config) = &plan.source else {
            panic!("a demo source")
        };
        assert_eq!(config.drift, DriftSpec::demo());
        assert_eq!(config.bias, 0.5);
        assert_eq!(plan.split, Some((0.2, 3)));
        let plan = check(json!({
            "source": { "kind": "demo", "seed": 7, "rows": 30, "drift": { "amount_scale": 2.0 } },
            "dataset": "t"
        }))
        .unwrap();
        let Source::Demo(config) = &plan.source else {
            panic!("a demo source")
        };
        assert_eq!(config.drift.amount_scale, 2.0);
        assert_eq!(config.drift.distance_shift_km, 0.0);
        let plan = check(json!({
            "source": { "kind": "object", "key": "uploads/tx.csv", "format": "csv" },
            "dataset": "uploaded"
        }))
        .unwrap();
        assert!(matches!(
            plan.source,
            Source::Object {
                format: ObjectFormat::Csv,
                ..
            }
        ));
    }

    #[test]
    fn bad_requests_name_the_field() {
        let cases = [
            (json!({ "source": demo() }), "`dataset`"),
            (
                json!({ "source": demo(), "dataset": "Bad Name" }),
                "`dataset`",
            ),
            (
                json!({ "source": demo(), "dataset": "d", "holdout_fraction": 2 }),
                "`holdout_fraction`",
            ),
            (
                json!({ "source": demo(), "dataset": "d", "holdout_fraction": 0.01 }),
                "`holdout_fraction`",
            ),
            (
                json!({ "source": demo(), "dataset": "d", "split_seed": 4 }),
                "`split_seed`",
            ),
            (
                json!({ "source": demo(), "dataset": "a".repeat(60), "holdout_fraction": 0.2 }),
                "`dataset`",
            ),
            (
                json!({ "source": demo(), "dataset": "d", "coerce": { "x": "decimal" } }),
                "coerce.x",
            ),
            (
                json!({ "source": demo(), "dataset": "d", "dedupe_on": ["a", "a"] }),
                "`dedupe_on`",
            ),
            (
                json!({ "source": demo(), "dataset": "d", "time_window": { "column": "t" } }),
                "`time_window`",
            ),
            (
                json!({ "source": demo(), "dataset": "d", "time_window": { "column": "t", "from": "yesterday" } }),
                "`time_window.from`",
            ),
            (
                json!({ "source": demo(), "dataset": "d", "time_window": { "column": "t",
                     "from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z" } }),
                "`time_window.to`",
            ),
            (
                json!({ "source": demo(), "dataset": "d", "max_coercion_failure_share": 1.5 }),
                "`max_coercion_failure_share`",
            ),
            (
                json!({ "source": { "kind": "demo", "seed": 1, "rows": 1_000_000 }, "dataset": "d" }),
                "`source.rows`",
            ),
            (
                json!({ "source": { "kind": "demo", "seed": 1, "rows": 0 }, "dataset": "d" }),
                "`source.rows`",
            ),
            (
                json!({ "source": { "kind": "demo", "seed": 1, "rows": 10, "bias": 3 }, "dataset": "d" }),
                "`source.bias`",
            ),
            (
                json!({ "source": { "kind": "demo", "seed": 1, "rows": 10, "drift": { "amount_scale": -1 } }, "dataset": "d" }),
                "`source.drift.amount_scale`",
            ),
            (
                json!({ "source": { "kind": "demo", "seed": 1, "rows": 10, "start": "soon" }, "dataset": "d" }),
                "`source.start`",
            ),
            (
                json!({ "source": { "kind": "object", "key": "../etc/passwd", "format": "csv" }, "dataset": "d" }),
                "`source.key`",
            ),
            (
                json!({ "source": { "kind": "object", "key": "a.csv", "format": "xlsx" }, "dataset": "d" }),
                "source",
            ),
            (
                json!({ "source": { "kind": "ftp" }, "dataset": "d" }),
                "source",
            ),
            (
                json!({ "source": demo(), "dataset": "d", "colour": "red" }),
                "`colour`",
            ),
        ];
        for (input, field) in cases {
            let err = match check(input.clone()) {
                Ok(_) => panic!("{input} should be refused"),
                Err(e) => e,
            };
            assert!(err.contains(field), "{input}: {err:?} should name {field}");
        }
    }

    #[test]
    fn columns_are_checked_against_the_loaded_rows() {
        let plan = check(json!({
            "source": demo(), "dataset": "d",
            "coerce": { "amount": "float", "nope": "int" }
        }))
        .unwrap();
        let batch = mlops_demo_data::generate(&TransactionsConfig {
            rows: 10,
            ..Default::default()
        })
        .unwrap();
        let err = plan.check_columns(&batch).unwrap_err().to_string();
        assert!(
            err.contains("`coerce.nope`") && err.contains("transaction_id"),
            "{err}"
        );
        let plan = check(json!({
            "source": demo(), "dataset": "d",
            "time_window": { "column": "when", "to": "2026-01-01T00:00:00Z" }
        }))
        .unwrap();
        assert!(
            plan.check_columns(&batch)
                .unwrap_err()
                .to_string()
                .contains("`time_window.column`")
        );
    }
}
