//! Training, artifacts and prediction through the crate's public face.

use mlops_models::{
    Algorithm, Model, ModelError, TrainingSet, binary_classification_metrics, stratified_split,
    train, train_with_progress,
};

/// A seeded problem with a learnable signal: label 1 when a noisy linear
/// score of the first two features is high; the third feature is noise.
fn synthetic(rows: usize, seed: u64) -> TrainingSet {
    let mut state = seed;
    let mut uniform = move || {
        // A 64-bit LCG (Knuth's MMIX constants) is plenty for test data.
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut x = Vec::with_capacity(rows);
    let mut y = Vec::with_capacity(rows);
    for _ in 0..rows {
        let amount = uniform() * 10.0;
        let velocity = uniform() * 5.0;
        let noise = uniform();
        let score = 0.8 * amount - 1.2 * velocity + (uniform() - 0.5) * 3.0;
        x.push(vec![amount, velocity, noise]);
        y.push(i64::from(score > 1.0));
    }
    TrainingSet {
        feature_names: vec!["amount".into(), "velocity".into(), "noise".into()],
        target: "is_fraud".into(),
        x,
        y,
    }
}

fn subset(data: &TrainingSet, rows: &[usize]) -> TrainingSet {
    TrainingSet {
        feature_names: data.feature_names.clone(),
        target: data.target.clone(),
        x: rows.iter().map(|&i| data.x[i].clone()).collect(),
        y: rows.iter().map(|&i| data.y[i]).collect(),
    }
}

fn small_forest() -> Algorithm {
    Algorithm::from_json(
        &serde_json::json!({"algorithm": "random_forest", "n_trees": 15, "max_depth": 5}),
    )
    .expect("valid spec")
}

#[test]
fn both_algorithms_learn_the_signal() {
    let data = synthetic(1500, 7);
    let (train_rows, validation_rows) = stratified_split(&data.y, 0.2, 7);
    let (train_set, validation) = (subset(&data, &train_rows), subset(&data, &validation_rows));
    for algorithm in [Algorithm::logistic_regression(), small_forest()] {
        let model = train(&algorithm, &train_set, 11).expect("trains");
        let probabilities = model.predict_proba(&validation.x).expect("predicts");
        let metrics = binary_classification_metrics(&validation.y, &probabilities).expect("scores");
        let auc = metrics.roc_auc.expect("both classes in validation");
        assert!(auc > 0.85, "{}: auc {auc}", algorithm.name());
        assert!(metrics.accuracy > 0.75, "{}: {metrics:?}", algorithm.name());
        let labels = model.predict(&validation.x).expect("predicts");
        let agree = labels
            .iter()
            .zip(&probabilities)
            .all(|(&label, &p)| label == i64::from(p >= 0.5));
        assert!(agree, "labels are probabilities at 0.5");
        assert_eq!(model.algorithm(), algorithm.name());
        assert_eq!(model.feature_names(), data.feature_names.as_slice());
        assert_eq!(model.target(), "is_fraud");
    }
}

#[test]
fn same_data_and_seed_give_identical_artifacts() {
    let data = synthetic(600, 3);
    for algorithm in [Algorithm::logistic_regression(), small_forest()] {
        let first = train(&algorithm, &data, 42)
            .expect("trains")
            .to_bytes()
            .expect("bytes");
        let second = train(&algorithm, &data, 42)
            .expect("trains")
            .to_bytes()
            .expect("bytes");
        assert_eq!(first, second, "{} is deterministic", algorithm.name());
    }
    let a = train(&small_forest(), &data, 1)
        .expect("trains")
        .to_bytes()
        .expect("bytes");
    let b = train(&small_forest(), &data, 2)
        .expect("trains")
        .to_bytes()
        .expect("bytes");
    assert_ne!(a, b, "the seed drives the forest's sampling");
}

#[test]
fn artifacts_round_trip_and_predict_the_same() {
    let data = synthetic(400, 5);
    for algorithm in [Algorithm::logistic_regression(), small_forest()] {
        let mut model = train(&algorithm, &data, 9).expect("trains");
        model.set_dataset("transactions", "abc123");
        let bytes = model.to_bytes().expect("bytes");
        let loaded = Model::from_bytes(&bytes).expect("loads");
        // serde_json's default float parsing may move a parameter by one
        // ulp, so probabilities agree to rounding and labels exactly.
        let before = model.predict_proba(&data.x).expect("predicts");
        let after = loaded.predict_proba(&data.x).expect("predicts");
        let drift = before
            .iter()
            .zip(&after)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(drift < 1e-12, "{}: drift {drift}", algorithm.name());
        assert_eq!(
            loaded.predict(&data.x).expect("predicts"),
            model.predict(&data.x).expect("predicts")
        );
        assert_eq!(loaded.training(), model.training());
        assert_eq!(loaded.algorithm_spec(), &algorithm);
        assert_eq!(loaded.feature_names(), model.feature_names());
    }
}

#[test]
fn bad_rows_are_errors_not_panics() {
    let data = synthetic(300, 1);
    let model = train(&Algorithm::logistic_regression(), &data, 1).expect("trains");
    let short = model
        .predict_proba(&[vec![1.0, 2.0]])
        .expect_err("short row");
    assert!(
        matches!(short, ModelError::InvalidRow { row: 0, .. }),
        "{short}"
    );
    let nan = model
        .predict(&[vec![1.0, 2.0, 3.0], vec![1.0, f64::NAN, 3.0]])
        .expect_err("NaN");
    assert!(nan.to_string().contains("velocity"), "{nan}");
    assert!(matches!(nan, ModelError::InvalidRow { row: 1, .. }));
    let forest = train(&small_forest(), &data, 1).expect("trains");
    assert!(forest.predict(&[vec![f64::INFINITY, 0.0, 0.0]]).is_err());
    assert!(forest.predict(&[vec![0.0; 4]]).is_err());
    assert_eq!(
        forest.predict_proba(&[]).expect("no rows"),
        Vec::<f64>::new()
    );
}

#[test]
fn bad_artifacts_are_refused() {
    assert!(matches!(
        Model::from_bytes(b"not json"),
        Err(ModelError::InvalidArtifact(_))
    ));
    let data = synthetic(200, 2);
    let model = train(&Algorithm::logistic_regression(), &data, 1).expect("trains");
    let mut value: serde_json::Value =
        serde_json::from_slice(&model.to_bytes().expect("bytes")).expect("json");
    value["format_version"] = serde_json::json!(99);
    let err = Model::from_bytes(&serde_json::to_vec(&value).expect("bytes")).expect_err("v99");
    assert!(err.to_string().contains("99"), "{err}");
    value["format_version"] = serde_json::json!(1);
    value["feature_names"] = serde_json::json!(["amount"]);
    assert!(Model::from_bytes(&serde_json::to_vec(&value).expect("bytes")).is_err());

    // A damaged tree (a child pointing back at the root would loop forever
    // in prediction) is refused at load.
    let forest = train(&small_forest(), &data, 1).expect("trains");
    let mut value: serde_json::Value =
        serde_json::from_slice(&forest.to_bytes().expect("bytes")).expect("json");
    let nodes = value["fitted"]["trees"][0]["tree"]["nodes"]
        .as_array_mut()
        .expect("nodes");
    let split = nodes
        .iter_mut()
        .find(|n| !n["true_child"].is_null())
        .expect("a split");
    split["true_child"] = serde_json::json!(0);
    let err = Model::from_bytes(&serde_json::to_vec(&value).expect("bytes")).expect_err("cycle");
    assert!(err.to_string().contains("tree 0"), "{err}");
}

#[test]
fn bad_training_data_is_refused() {
    let mut data = synthetic(100, 4);
    let one_class = TrainingSet {
        y: vec![0; data.y.len()],
        ..data.clone()
    };
    let err = train(&Algorithm::logistic_regression(), &one_class, 1).expect_err("one class");
    assert!(err.to_string().contains("one class"), "{err}");
    data.y[3] = 2;
    let err = train(&Algorithm::logistic_regression(), &data, 1).expect_err("label 2");
    assert!(err.to_string().contains("0 or 1"), "{err}");
    data.y[3] = 1;
    data.x[5][2] = f64::NAN;
    let err = train(&small_forest(), &data, 1).expect_err("NaN feature");
    assert!(err.to_string().contains("noise"), "{err}");
}

#[test]
fn forest_progress_reaches_one() {
    let data = synthetic(200, 8);
    let mut fractions = Vec::new();
    train_with_progress(&small_forest(), &data, 3, &mut |p| {
        fractions.push(p.fraction)
    })
    .expect("trains");
    assert_eq!(fractions.len(), 15, "one report per tree");
    assert!(fractions.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(fractions.last(), Some(&1.0));
}

#[test]
fn split_is_stratified_and_seeded() {
    let labels: Vec<i64> = (0..100).map(|i| i64::from(i % 10 == 0)).collect();
    let (train_rows, validation) = stratified_split(&labels, 0.2, 5);
    assert_eq!(train_rows.len() + validation.len(), 100);
    assert_eq!(validation.len(), 20);
    assert_eq!(validation.iter().filter(|&&i| labels[i] == 1).count(), 2);
    assert_eq!(stratified_split(&labels, 0.2, 5).1, validation);
    assert_ne!(stratified_split(&labels, 0.2, 6).1, validation);
}
