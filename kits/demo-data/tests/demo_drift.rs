//! `DriftSpec::demo()` against the project's drift report (Evidently's
//! tests and default thresholds, as the drift server runs them): the demo
//! drift must be flagged on `amount`, `distance_from_home_km` and
//! `merchant_category`, at both Evidently regimes (≤ 1000 reference rows:
//! KS / chi-square; more: Wasserstein / Jensen–Shannon), and clean data
//! from another seed must not be.

use mlops_demo_data::{DriftSpec, TransactionsConfig, generate};
use mlops_mcp_drift::{DriftOptions, DriftReport, StatTest, drift_report};

const COLUMNS: &[&str] = &[
    "amount",
    "distance_from_home_km",
    "merchant_category",
    "hour",
    "account_age_days",
    "txn_count_24h",
    "card_present",
];

fn report(rows: usize, drift: DriftSpec) -> DriftReport {
    let reference = generate(&TransactionsConfig {
        seed: 100,
        rows,
        ..TransactionsConfig::default()
    })
    .unwrap();
    let current = generate(&TransactionsConfig {
        seed: 200,
        rows,
        drift,
        ..TransactionsConfig::default()
    })
    .unwrap();
    drift_report(
        &reference,
        &current,
        &DriftOptions {
            columns: Some(COLUMNS.iter().map(|c| (*c).to_owned()).collect()),
            ..DriftOptions::default()
        },
    )
    .unwrap()
}

fn drifted(report: &DriftReport) -> Vec<&str> {
    report
        .columns
        .iter()
        .filter(|c| c.drift_detected)
        .map(|c| c.column.as_str())
        .collect()
}

fn test_of<'a>(report: &'a DriftReport, column: &str) -> &'a StatTest {
    &report
        .columns
        .iter()
        .find(|c| c.column == column)
        .unwrap()
        .stattest
}

#[test]
fn demo_drift_is_flagged_on_the_three_shifted_columns_only() {
    for rows in [1_000, 5_000] {
        let report = report(rows, DriftSpec::demo());
        assert_eq!(
            drifted(&report),
            ["amount", "distance_from_home_km", "merchant_category"],
            "{rows} rows: {:#?}",
            report
                .columns
                .iter()
                .map(|c| (&c.column, c.stattest, c.score))
                .collect::<Vec<_>>()
        );
    }
    // The two regimes really are different tests.
    assert_eq!(
        *test_of(&report(1_000, DriftSpec::demo()), "amount"),
        StatTest::Ks
    );
    assert_eq!(
        *test_of(&report(5_000, DriftSpec::demo()), "amount"),
        StatTest::Wasserstein
    );
}

#[test]
fn clean_data_from_another_seed_is_not_flagged() {
    for rows in [1_000, 5_000] {
        let report = report(rows, DriftSpec::none());
        assert!(
            drifted(&report).is_empty(),
            "{rows} rows: {:?}",
            drifted(&report)
        );
    }
}
