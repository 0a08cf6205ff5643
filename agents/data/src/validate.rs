//! Skill `validate-data`: runs an expectation suite over a dataset version
//! through the quality server's `run_checkpoint`. The default suite,
//! `fraud-transactions`, is created from a built-in definition the first
//! time it is needed; other suites must exist.

use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome, parse_input};
use mlops_demo_data::{
    AGE_BANDS, EVENT_TIME, LABEL, MERCHANT_CATEGORIES, PROTECTED_ATTRIBUTE,
    PROTECTED_ATTRIBUTE_CODE, TRANSACTION_ID,
};
use mlops_mcp_quality::{
    DatasetRef, Expectation, ExpectationResult, Statistics, SuiteName, SuiteRef,
};
use mlops_mcp_storage::keys::{dataset_name, dataset_version};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{BuiltinSuiteConfig, DataConfig};

const SERVER: &str = "quality";

/// Input of `validate-data`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateInput {
    /// Dataset name, as in storage.
    pub dataset: String,
    /// The dataset version: its content hash, with or without "sha256:".
    pub version: String,
    /// The expectation suite; the agent's default (`fraud-transactions`)
    /// when omitted, created from its built-in definition if missing.
    #[serde(default)]
    pub suite: Option<String>,
    /// A suite version; the latest when omitted.
    #[serde(default)]
    pub suite_version: Option<u32>,
}

/// Output of `validate-data` (and, when checks fail, its `evidence`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ValidationReport {
    /// Whether every expectation was met.
    pub passed: bool,
    /// The quality server's result id (`get_validation_result`).
    pub result_id: String,
    pub dataset: DatasetRef,
    pub suite: SuiteRef,
    /// True when this run created the suite from the built-in definition.
    pub suite_created: bool,
    pub statistics: Statistics,
    /// The expectations that failed, with observed values.
    pub failed: Vec<ExpectationResult>,
    /// Every expectation's result, in suite order.
    pub results: Vec<ExpectationResult>,
}

#[derive(Deserialize)]
struct CheckpointAnswer {
    id: String,
    dataset: DatasetRef,
    suite: SuiteRef,
    success: bool,
    statistics: Statistics,
    results: Vec<ExpectationResult>,
}

#[derive(Deserialize)]
struct SuiteListing {
    suites: Vec<ListedSuite>,
}

#[derive(Deserialize)]
struct ListedSuite {
    name: String,
}

/// Numeric model features that are measurements (any number type).
const MEASURES: &[&str] = &["amount", "distance_from_home_km", "merchant_risk"];
/// Integer model features and codes.
const COUNTS: &[&str] = &[
    "hour",
    "account_age_days",
    "txn_count_24h",
    "card_present",
    PROTECTED_ATTRIBUTE_CODE,
    LABEL,
];
/// Text columns.
const TEXTS: &[&str] = &[TRANSACTION_ID, "merchant_category", PROTECTED_ATTRIBUTE];

/// The built-in `fraud-transactions` suite: what a training set of the
/// demo's transactions must look like. Column names come from the
/// generator's crate, so the suite follows the data it describes.
pub fn builtin_suite(bounds: &BuiltinSuiteConfig) -> Vec<Expectation> {
    let exists = |column: &str, data_type: &str| Expectation::ColumnExists {
        column: column.to_owned(),
        data_type: Some(data_type.to_owned()),
    };
    let between = |column: &str, min: Option<f64>, max: Option<f64>| Expectation::ValuesBetween {
        column: column.to_owned(),
        min,
        max,
        mostly: None,
    };
    let in_set = |column: &str, values: Vec<Value>| Expectation::ValuesInSet {
        column: column.to_owned(),
        values,
        mostly: None,
    };
    let mut suite = Vec::new();
    suite.extend(TEXTS.iter().map(|c| exists(c, "string")));
    suite.push(exists(EVENT_TIME, "timestamp"));
    suite.extend(MEASURES.iter().map(|c| exists(c, "number")));
    suite.extend(COUNTS.iter().map(|c| exists(c, "integer")));
    suite.extend(
        TEXTS
            .iter()
            .chain([EVENT_TIME].iter())
            .chain(MEASURES)
            .chain(COUNTS)
            .map(|c| Expectation::NotNullFraction {
                column: (*c).to_owned(),
                min: 1.0,
            }),
    );
    suite.push(between("amount", Some(0.0), Some(bounds.max_amount)));
    suite.push(between("hour", Some(0.0), Some(23.0)));
    suite.push(between("distance_from_home_km", Some(0.0), None));
    suite.push(between("account_age_days", Some(0.0), None));
    suite.push(between("txn_count_24h", Some(0.0), None));
    suite.push(between("merchant_risk", Some(0.0), Some(1.0)));
    suite.push(in_set(LABEL, vec![json!(0), json!(1)]));
    suite.push(in_set("card_present", vec![json!(0), json!(1)]));
    suite.push(in_set(
        PROTECTED_ATTRIBUTE,
        AGE_BANDS.iter().map(|b| json!(b)).collect(),
    ));
    suite.push(in_set(
        PROTECTED_ATTRIBUTE_CODE,
        (0..AGE_BANDS.len()).map(|c| json!(c)).collect(),
    ));
    suite.push(in_set(
        "merchant_category",
        MERCHANT_CATEGORIES.iter().map(|c| json!(c)).collect(),
    ));
    suite.push(Expectation::ValuesUnique {
        column: TRANSACTION_ID.to_owned(),
    });
    suite.push(Expectation::RowCountBetween {
        min: Some(bounds.min_rows),
        max: Some(bounds.max_rows),
    });
    suite
}

pub async fn run(
    config: &DataConfig,
    input: Value,
    ctx: &SkillContext,
) -> Result<SkillOutcome, SkillError> {
    let input: ValidateInput = parse_input(input)?;
    let dataset = dataset_name(&input.dataset).map_err(|e| SkillError::bad_field("dataset", e))?;
    let version =
        dataset_version(&input.version).map_err(|e| SkillError::bad_field("version", e))?;
    let suite = input.suite.unwrap_or_else(|| config.default_suite.clone());
    let suite = SuiteName::parse(&suite).map_err(|e| SkillError::bad_field("suite", e))?;
    if input.suite_version == Some(0) {
        return Err(SkillError::bad_field("suite_version", "must be 1 or more"));
    }

    let listing: SuiteListing = ctx.mcp_as(SERVER, "list_suites", json!({})).await?;
    let exists = listing.suites.iter().any(|s| s.name == suite.as_str());
    let mut suite_created = false;
    if !exists {
        if suite.as_str() != config.default_suite || input.suite_version.is_some() {
            return Err(SkillError::failed(format!(
                "the quality server has no expectation suite {:?}{}; create it with put_suite, \
                 or validate against the default suite {:?}",
                suite.as_str(),
                input
                    .suite_version
                    .map(|v| format!(" (version {v})"))
                    .unwrap_or_default(),
                config.default_suite
            )));
        }
        let expectations = builtin_suite(&config.builtin_suite);
        ctx.progress_with(
            format!(
                "creating suite {} from the built-in definition ({} expectations)",
                suite.as_str(),
                expectations.len()
            ),
            json!({ "stage": "suite", "suite": suite.as_str(), "expectations": expectations.len() }),
        );
        ctx.mcp(
            SERVER,
            "put_suite",
            json!({ "name": suite.as_str(), "expectations": expectations }),
        )
        .await?;
        suite_created = true;
    }

    ctx.progress_with(
        format!("running suite {} over {dataset} sha256:{version}", suite.as_str()),
        json!({ "stage": "checkpoint", "suite": suite.as_str(), "dataset": dataset, "version": version }),
    );
    let mut args = json!({ "dataset": dataset, "version": version, "suite": suite.as_str() });
    if let Some(v) = input.suite_version {
        args["suite_version"] = json!(v);
    }
    let answer: CheckpointAnswer = ctx.mcp_as(SERVER, "run_checkpoint", args).await?;
    let failed: Vec<ExpectationResult> = answer
        .results
        .iter()
        .filter(|r| !r.success)
        .cloned()
        .collect();
    let report = ValidationReport {
        passed: answer.success,
        result_id: answer.id,
        dataset: answer.dataset,
        suite: answer.suite,
        suite_created,
        statistics: answer.statistics,
        failed,
        results: answer.results,
    };
    let tally = format!(
        "{}/{} expectations met",
        report.statistics.successful_expectations, report.statistics.evaluated_expectations
    );
    if report.passed {
        let summary = format!(
            "{} {} passed suite {} v{}: {tally}",
            report.dataset.name, report.dataset.digest, report.suite.name, report.suite.version
        );
        return Ok(SkillOutcome::single("validation", report, summary));
    }
    let labels: Vec<String> = report
        .failed
        .iter()
        .map(|r| r.expectation.label())
        .collect();
    Err(SkillError::failed_with(
        format!(
            "{} {} failed suite {} v{}: {tally}; failed: {}",
            report.dataset.name,
            report.dataset.digest,
            report.suite.name,
            report.suite.version,
            labels.join(", ")
        ),
        report,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlops_demo_data::{DriftSpec, TransactionsConfig, generate};
    use mlops_mcp_quality::{SuiteDefinition, evaluate};

    #[test]
    fn the_builtin_suite_is_valid_and_fits_the_demo_data() {
        let expectations = builtin_suite(&BuiltinSuiteConfig::default());
        // The quality server's own checks accept it.
        SuiteDefinition::new(expectations.clone()).unwrap();
        for drift in [DriftSpec::none(), DriftSpec::demo()] {
            // The size `mlops up` seeds the demo with.
            let batch = generate(&TransactionsConfig {
                rows: 20_000,
                drift,
                bias: 1.0,
                ..Default::default()
            })
            .unwrap();
            let results = evaluate(&batch, &expectations, chrono::Utc::now());
            let failed: Vec<_> = results.iter().filter(|r| !r.success).collect();
            assert!(failed.is_empty(), "{failed:#?}");
        }
    }

    #[test]
    fn the_builtin_suite_catches_broken_rows() {
        let expectations = builtin_suite(&BuiltinSuiteConfig {
            min_rows: 10,
            ..Default::default()
        });
        let batch = generate(&TransactionsConfig {
            rows: 50,
            ..Default::default()
        })
        .unwrap();
        // Few rows: only the row count fails.
        let small = evaluate(&batch.slice(0, 5), &expectations, chrono::Utc::now());
        let failed: Vec<String> = small
            .iter()
            .filter(|r| !r.success)
            .map(|r| r.expectation.label())
            .collect();
        assert_eq!(failed, vec!["row_count_between".to_owned()]);
        // A missing column fails its existence and every check on it.
        let without_amount = batch
            .project(&[0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
            .unwrap();
        let results = evaluate(&without_amount, &expectations, chrono::Utc::now());
        let failed: Vec<String> = results
            .iter()
            .filter(|r| !r.success)
            .map(|r| r.expectation.label())
            .collect();
        assert_eq!(
            failed,
            vec![
                "column_exists(amount)",
                "not_null_fraction(amount)",
                "values_between(amount)"
            ]
        );
    }
}
