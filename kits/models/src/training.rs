//! Fitting a model on labelled rows. Deterministic: the same rows, algorithm
//! and seed give a byte-identical artifact.

use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};
use smartcore::tree::decision_tree_classifier::{DecisionTreeClassifierParameters, SplitCriterion};

use crate::model::{FORMAT_VERSION, FittedModel, ForestTree, Tree, column_subset};
use crate::{Algorithm, Model, ModelError, TrainingMetadata};

/// The library that fits the models, recorded in every artifact.
const LIBRARY: &str = "smartcore 0.7.0";

/// Labelled rows: `x[i]` holds one value per name in `feature_names`, `y[i]`
/// is 0 or 1.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    pub feature_names: Vec<String>,
    pub target: String,
    pub x: Vec<Vec<f64>>,
    pub y: Vec<i64>,
}

/// How far a fit has got, for job progress and logs.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingProgress {
    /// 0..=1.
    pub fraction: f64,
    pub message: String,
}

/// Fits `algorithm` on `data` with `seed`.
pub fn train(algorithm: &Algorithm, data: &TrainingSet, seed: u64) -> Result<Model, ModelError> {
    train_with_progress(algorithm, data, seed, &mut |_| {})
}

/// Fits `algorithm` on `data` with `seed`, reporting progress as it goes
/// (after every tree of a forest).
pub fn train_with_progress(
    algorithm: &Algorithm,
    data: &TrainingSet,
    seed: u64,
    progress: &mut dyn FnMut(TrainingProgress),
) -> Result<Model, ModelError> {
    algorithm.validate()?;
    check_training_set(data)?;
    let fitted = match *algorithm {
        Algorithm::LogisticRegression { l2 } => fit_logistic_regression(data, l2, progress)?,
        Algorithm::RandomForest {
            n_trees,
            max_depth,
            min_samples_split,
            min_samples_leaf,
            feature_fraction,
        } => fit_random_forest(
            data,
            ForestSettings {
                n_trees,
                max_depth,
                min_samples_split,
                min_samples_leaf,
                feature_fraction,
            },
            seed,
            progress,
        )?,
    };
    let positives = data.y.iter().filter(|&&label| label == 1).count();
    Ok(Model {
        format_version: FORMAT_VERSION,
        algorithm: algorithm.clone(),
        feature_names: data.feature_names.clone(),
        target: data.target.clone(),
        fitted,
        training: TrainingMetadata {
            library: LIBRARY.to_string(),
            seed,
            train_rows: data.y.len(),
            positive_rate: positives as f64 / data.y.len() as f64,
            dataset: None,
        },
        serving_fault: None,
    })
}

fn check_training_set(data: &TrainingSet) -> Result<(), ModelError> {
    let invalid = |reason: String| Err(ModelError::InvalidTrainingData(reason));
    let width = data.feature_names.len();
    if width == 0 {
        return invalid("no feature columns".into());
    }
    let mut names: Vec<&String> = data.feature_names.iter().collect();
    names.sort();
    if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        return invalid(format!("feature `{}` appears twice", pair[0]));
    }
    if data.feature_names.contains(&data.target) {
        return invalid(format!("the target `{}` is also a feature", data.target));
    }
    if data.x.len() != data.y.len() {
        return invalid(format!(
            "{} feature rows but {} labels",
            data.x.len(),
            data.y.len()
        ));
    }
    for (index, row) in data.x.iter().enumerate() {
        if row.len() != width {
            return invalid(format!(
                "row {index} has {} values, expected {width}",
                row.len()
            ));
        }
        if let Some(column) = row.iter().position(|v| !v.is_finite()) {
            return invalid(format!(
                "row {index}: feature `{}` is {}, values must be finite (no nulls or NaN)",
                data.feature_names[column], row[column]
            ));
        }
    }
    if let Some(index) = data.y.iter().position(|&label| label != 0 && label != 1) {
        return invalid(format!(
            "label {} at row {index}; labels must be 0 or 1",
            data.y[index]
        ));
    }
    let positives = data.y.iter().filter(|&&label| label == 1).count();
    if positives == 0 || positives == data.y.len() {
        return invalid(format!(
            "the labels hold only one class ({} rows); both 0 and 1 are needed",
            data.y.len()
        ));
    }
    Ok(())
}

fn fit_logistic_regression(
    data: &TrainingSet,
    l2: f64,
    progress: &mut dyn FnMut(TrainingProgress),
) -> Result<FittedModel, ModelError> {
    // L-BFGS converges far better when every feature has unit scale; the
    // scaling travels with the model so prediction applies the same one.
    let width = data.feature_names.len();
    let n = data.x.len() as f64;
    let mut means = vec![0.0; width];
    for row in &data.x {
        for (mean, value) in means.iter_mut().zip(row) {
            *mean += value / n;
        }
    }
    let mut scales = vec![0.0; width];
    for row in &data.x {
        for ((scale, value), mean) in scales.iter_mut().zip(row).zip(&means) {
            *scale += (value - mean) * (value - mean) / n;
        }
    }
    for scale in &mut scales {
        // A constant column carries no signal; scale 1 keeps it harmless.
        *scale = if *scale > 0.0 { scale.sqrt() } else { 1.0 };
    }
    let standardized: Vec<f64> = data
        .x
        .iter()
        .flat_map(|row| {
            row.iter()
                .zip(means.iter().zip(&scales))
                .map(|(value, (mean, scale))| (value - mean) / scale)
        })
        .collect();
    let matrix = DenseMatrix::new(data.x.len(), width, standardized, false).map_err(|err| {
        ModelError::Library {
            stage: "matrix construction",
            reason: err.to_string(),
        }
    })?;
    progress(TrainingProgress {
        fraction: 0.1,
        message: format!(
            "standardized {width} features over {} rows; fitting with L-BFGS (l2 = {l2})",
            data.x.len()
        ),
    });
    let fitted = LogisticRegression::fit(
        &matrix,
        &data.y,
        LogisticRegressionParameters::default().with_alpha(l2),
    )
    .map_err(|err| ModelError::Library {
        stage: "logistic regression fit",
        reason: err.to_string(),
    })?;
    let coefficients: Vec<f64> = (0..width)
        .map(|column| *fitted.coefficients().get((0, column)))
        .collect();
    let intercept = *fitted.intercept().get((0, 0));
    if coefficients
        .iter()
        .chain([&intercept])
        .any(|w| !w.is_finite())
    {
        return Err(ModelError::Library {
            stage: "logistic regression fit",
            reason: "the optimizer diverged (non-finite weights); raise l2".into(),
        });
    }
    progress(TrainingProgress {
        fraction: 1.0,
        message: format!("fitted logistic regression, intercept {intercept:.4}"),
    });
    Ok(FittedModel::LogisticRegression {
        means,
        scales,
        coefficients,
        intercept,
    })
}

struct ForestSettings {
    n_trees: u16,
    max_depth: u16,
    min_samples_split: usize,
    min_samples_leaf: usize,
    feature_fraction: f64,
}

fn fit_random_forest(
    data: &TrainingSet,
    settings: ForestSettings,
    seed: u64,
    progress: &mut dyn FnMut(TrainingProgress),
) -> Result<FittedModel, ModelError> {
    // smartcore's own forest keeps its trees private and predicts majority
    // votes only; growing smartcore trees here gives P(class = 1) as the vote
    // share. Feature randomness is per tree (random subspace) rather than per
    // split, because smartcore's per-split sampling is crate-private.
    let width = data.feature_names.len();
    let per_tree = ((settings.feature_fraction * width as f64).round() as usize).clamp(1, width);
    let (negatives, positives): (Vec<usize>, Vec<usize>) =
        (0..data.y.len()).partition(|&i| data.y[i] == 0);
    let mut rng = SplitMix64::new(seed);
    let mut trees = Vec::with_capacity(usize::from(settings.n_trees));
    for tree_index in 0..settings.n_trees {
        let mut features = rng.sample_without_replacement(width, per_tree);
        features.sort_unstable();
        // Bootstrap within each class so every tree sees both labels.
        let mut sample = Vec::with_capacity(data.y.len());
        for class_rows in [&negatives, &positives] {
            for _ in 0..class_rows.len() {
                sample.push(class_rows[rng.below(class_rows.len())]);
            }
        }
        let rows: Vec<Vec<f64>> = sample.iter().map(|&i| data.x[i].clone()).collect();
        let labels: Vec<i64> = sample.iter().map(|&i| data.y[i]).collect();
        let matrix = column_subset(&rows, &features)?;
        let parameters = DecisionTreeClassifierParameters {
            criterion: SplitCriterion::Gini,
            max_depth: Some(settings.max_depth),
            min_samples_leaf: settings.min_samples_leaf,
            min_samples_split: settings.min_samples_split,
            seed: Some(seed.wrapping_add(u64::from(tree_index))),
        };
        let tree: Tree =
            Tree::fit(&matrix, &labels, parameters).map_err(|err| ModelError::Library {
                stage: "decision tree fit",
                reason: err.to_string(),
            })?;
        trees.push(ForestTree { features, tree });
        progress(TrainingProgress {
            fraction: f64::from(tree_index + 1) / f64::from(settings.n_trees),
            message: format!(
                "grew tree {}/{} (depth {}, {per_tree} of {width} features)",
                tree_index + 1,
                settings.n_trees,
                trees.last().map_or(0, |t| t.tree.depth())
            ),
        });
    }
    Ok(FittedModel::RandomForest { trees })
}

/// Splits row indices into (train, validation), stratified by label so both
/// parts keep the class balance: within each class a seeded shuffle puts
/// `validation_fraction` of the rows (rounded, at least one when the class
/// has two or more) into validation. Both lists come back ascending.
pub fn stratified_split(
    labels: &[i64],
    validation_fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let fraction = if validation_fraction.is_finite() {
        validation_fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut classes: Vec<i64> = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    let mut rng = SplitMix64::new(seed);
    let mut train = Vec::new();
    let mut validation = Vec::new();
    for class in classes {
        let mut rows: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        rng.shuffle(&mut rows);
        let mut take = (fraction * rows.len() as f64).round() as usize;
        // A class with two or more rows keeps at least one on each side.
        if rows.len() >= 2 {
            take = take.clamp(usize::from(fraction > 0.0), rows.len() - 1);
        }
        validation.extend_from_slice(&rows[..take]);
        train.extend_from_slice(&rows[take..]);
    }
    train.sort_unstable();
    validation.sort_unstable();
    (train, validation)
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny, fully specified
/// generator, so the draws behind a seed never change with a dependency's
/// version.
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0), by rejection so there is no modulo bias.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let draw = self.next_u64();
            if draw < zone {
                return (draw % n) as usize;
            }
        }
    }

    /// Fisher–Yates.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// `k` distinct values from 0..n, in draw order.
    pub(crate) fn sample_without_replacement(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut pool: Vec<usize> = (0..n).collect();
        let k = k.min(n);
        for i in 0..k {
            let j = i + self.below(n - i);
            pool.swap(i, j);
        }
        pool.truncate(k);
        pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The artifact keeps only the logistic regression's coefficients and
    /// computes probabilities itself; its labels must agree with
    /// smartcore's own prediction on the same standardized rows.
    #[test]
    fn logistic_probabilities_agree_with_smartcore_labels() {
        let x: Vec<Vec<f64>> = (0..200)
            .map(|i| {
                let a = f64::from(i % 17) - 8.0;
                let b = f64::from((i * 7) % 13) - 6.0;
                vec![a, b]
            })
            .collect();
        let y: Vec<i64> = x
            .iter()
            .enumerate()
            .map(|(i, row)| {
                i64::from(row[0] - 0.5 * row[1] + if i % 5 == 0 { 3.0 } else { 0.0 } > 0.0)
            })
            .collect();
        let data = TrainingSet {
            feature_names: vec!["a".into(), "b".into()],
            target: "y".into(),
            x: x.clone(),
            y: y.clone(),
        };
        let model = train(&Algorithm::LogisticRegression { l2: 0.1 }, &data, 0).expect("trains");
        let FittedModel::LogisticRegression { means, scales, .. } = &model.fitted else {
            panic!("a logistic regression")
        };
        let standardized: Vec<f64> = x
            .iter()
            .flat_map(|row| {
                row.iter()
                    .zip(means.iter().zip(scales))
                    .map(|(v, (m, s))| (v - m) / s)
                    .collect::<Vec<_>>()
            })
            .collect();
        let matrix = DenseMatrix::new(x.len(), 2, standardized, false).expect("matrix");
        let reference = LogisticRegression::fit(
            &matrix,
            &y,
            LogisticRegressionParameters::default().with_alpha(0.1),
        )
        .expect("fits")
        .predict(&matrix)
        .expect("predicts");
        assert_eq!(model.predict(&x).expect("predicts"), reference);
    }

    #[test]
    fn the_generator_is_uniform_enough_and_seeded() {
        let mut a = SplitMix64::new(9);
        let mut b = SplitMix64::new(9);
        let draws: Vec<usize> = (0..10_000).map(|_| a.below(4)).collect();
        assert_eq!(draws, (0..10_000).map(|_| b.below(4)).collect::<Vec<_>>());
        for bucket in 0..4 {
            let count = draws.iter().filter(|&&d| d == bucket).count();
            assert!((2300..2700).contains(&count), "bucket {bucket}: {count}");
        }
        let sample = a.sample_without_replacement(10, 4);
        let mut unique = sample.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 4);
    }
}
