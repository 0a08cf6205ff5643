//! The model artifact: what was fitted, on which features, and how to
//! predict with it. The artifact file is this type as JSON.

use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::DecisionTreeClassifier;

use crate::{Algorithm, ModelError};

/// The artifact format this crate writes; `from_bytes` refuses others so a
/// model server never guesses at a format it does not know.
pub const FORMAT_VERSION: u32 = 1;

/// The fitted tree type: f64 features, 0/1 labels.
pub(crate) type Tree = DecisionTreeClassifier<f64, i64, DenseMatrix<f64>, Vec<i64>>;

/// A trained binary classifier and everything needed to use it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub(crate) format_version: u32,
    pub(crate) algorithm: Algorithm,
    pub(crate) feature_names: Vec<String>,
    pub(crate) target: String,
    pub(crate) fitted: FittedModel,
    pub(crate) training: TrainingMetadata,
    /// A defect the model carries into serving. Only the demo's
    /// deliberately faulty version has one (journey J4); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) serving_fault: Option<ServingFault>,
}

/// How a faulty model misbehaves when served: it fails on a share of the
/// requests and answers slowly. Model servers honour it, so a bad release
/// looks bad in the metrics the canary analysis reads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServingFault {
    /// Share of requests that fail, 0-1.
    pub error_share: f64,
    /// Extra time each request takes, in milliseconds (at most 30 000).
    pub added_latency_ms: u64,
}

/// How the model came to be. Holds nothing that differs between two runs on
/// the same data with the same seed (no timestamps, no job ids), so the
/// artifact's bytes are a function of data, algorithm and seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingMetadata {
    /// The library and version that fitted the model.
    pub library: String,
    pub seed: u64,
    pub train_rows: usize,
    /// Share of training rows with label 1.
    pub positive_rate: f64,
    /// The dataset version the rows came from, when the trainer knows it.
    pub dataset: Option<DatasetRef>,
}

/// A dataset version: its name and content digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetRef {
    pub name: String,
    pub version: String,
}

/// The fitted parameters, one variant per algorithm.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum FittedModel {
    LogisticRegression {
        /// Per-feature mean and scale the features were standardized with.
        means: Vec<f64>,
        scales: Vec<f64>,
        /// Coefficients on standardized features, and the intercept.
        coefficients: Vec<f64>,
        intercept: f64,
    },
    RandomForest {
        trees: Vec<ForestTree>,
    },
}

/// One tree of the forest and the feature columns (indices into
/// `feature_names`, ascending) it was grown on.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ForestTree {
    pub(crate) features: Vec<usize>,
    pub(crate) tree: Tree,
}

impl Model {
    /// Loads an artifact file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        let model: Model = serde_json::from_slice(bytes)
            .map_err(|err| ModelError::InvalidArtifact(err.to_string()))?;
        if model.format_version != FORMAT_VERSION {
            return Err(ModelError::InvalidArtifact(format!(
                "format version {} is not supported (this build reads {FORMAT_VERSION})",
                model.format_version
            )));
        }
        model.check_consistent()?;
        Ok(model)
    }

    /// The artifact file's bytes (JSON). Equal models give equal bytes.
    /// Loading parses floats with serde_json's default (fast, not always
    /// correctly rounded) parser, so a loaded parameter may differ from the
    /// fitted one in its last bit; predictions agree to ~1e-15.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        serde_json::to_vec(self).map_err(|err| ModelError::InvalidArtifact(err.to_string()))
    }

    /// The feature columns, in the order rows must give them.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The algorithm's name (`logistic_regression`, `random_forest`).
    pub fn algorithm(&self) -> &str {
        self.algorithm.name()
    }

    /// The algorithm with the hyperparameters it was trained with.
    pub fn algorithm_spec(&self) -> &Algorithm {
        &self.algorithm
    }

    /// The label column the model predicts.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn training(&self) -> &TrainingMetadata {
        &self.training
    }

    pub fn serving_fault(&self) -> Option<ServingFault> {
        self.serving_fault
    }

    /// Marks the model as faulty in serving (the demo's bad candidate).
    pub fn set_serving_fault(&mut self, fault: ServingFault) -> Result<(), ModelError> {
        if !(0.0..=1.0).contains(&fault.error_share) || fault.added_latency_ms > 30_000 {
            return Err(ModelError::InvalidArtifact(
                "a serving fault needs error_share in 0-1 and added_latency_ms at most 30000"
                    .into(),
            ));
        }
        self.serving_fault = Some(fault);
        Ok(())
    }

    /// Records the dataset version the model was trained on.
    pub fn set_dataset(&mut self, name: impl Into<String>, version: impl Into<String>) {
        self.training.dataset = Some(DatasetRef {
            name: name.into(),
            version: version.into(),
        });
    }

    /// P(class = 1) for each row; rows are feature vectors in
    /// `feature_names` order.
    pub fn predict_proba(&self, rows: &[Vec<f64>]) -> Result<Vec<f64>, ModelError> {
        self.check_rows(rows)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        match &self.fitted {
            FittedModel::LogisticRegression {
                means,
                scales,
                coefficients,
                intercept,
            } => Ok(rows
                .iter()
                .map(|row| {
                    let margin = row
                        .iter()
                        .zip(means.iter().zip(scales))
                        .zip(coefficients)
                        .map(|((value, (mean, scale)), weight)| (value - mean) / scale * weight)
                        .sum::<f64>()
                        + intercept;
                    sigmoid(margin)
                })
                .collect()),
            FittedModel::RandomForest { trees } => {
                let mut votes = vec![0u32; rows.len()];
                for forest_tree in trees {
                    let matrix = column_subset(rows, &forest_tree.features)?;
                    let labels =
                        forest_tree
                            .tree
                            .predict(&matrix)
                            .map_err(|err| ModelError::Library {
                                stage: "prediction",
                                reason: err.to_string(),
                            })?;
                    for (vote, label) in votes.iter_mut().zip(labels) {
                        *vote += u32::from(label == 1);
                    }
                }
                let n_trees = trees.len() as f64;
                Ok(votes.into_iter().map(|v| f64::from(v) / n_trees).collect())
            }
        }
    }

    /// Class labels (0/1) at threshold 0.5.
    pub fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<i64>, ModelError> {
        Ok(self
            .predict_proba(rows)?
            .into_iter()
            .map(|p| i64::from(p >= 0.5))
            .collect())
    }

    /// Every row must have one finite value per feature.
    fn check_rows(&self, rows: &[Vec<f64>]) -> Result<(), ModelError> {
        let width = self.feature_names.len();
        for (index, row) in rows.iter().enumerate() {
            if row.len() != width {
                return Err(ModelError::InvalidRow {
                    row: index,
                    reason: format!(
                        "has {} values, the model takes {width} ({})",
                        row.len(),
                        self.feature_names.join(", ")
                    ),
                });
            }
            if let Some(column) = row.iter().position(|value| !value.is_finite()) {
                return Err(ModelError::InvalidRow {
                    row: index,
                    reason: format!(
                        "feature `{}` is {}, values must be finite",
                        self.feature_names[column], row[column]
                    ),
                });
            }
        }
        Ok(())
    }

    /// A hand-edited or truncated artifact must fail at load, not at the
    /// first prediction.
    fn check_consistent(&self) -> Result<(), ModelError> {
        let width = self.feature_names.len();
        if width == 0 {
            return Err(ModelError::InvalidArtifact("no feature names".into()));
        }
        match &self.fitted {
            FittedModel::LogisticRegression {
                means,
                scales,
                coefficients,
                intercept,
            } => {
                if means.len() != width || scales.len() != width || coefficients.len() != width {
                    return Err(ModelError::InvalidArtifact(format!(
                        "logistic regression parameters do not match {width} features"
                    )));
                }
                let all_finite = means
                    .iter()
                    .chain(coefficients)
                    .chain(std::iter::once(intercept))
                    .all(|v| v.is_finite());
                if !all_finite || scales.iter().any(|s| !s.is_finite() || *s <= 0.0) {
                    return Err(ModelError::InvalidArtifact(
                        "logistic regression parameters must be finite, scales positive".into(),
                    ));
                }
            }
            FittedModel::RandomForest { trees } => {
                if trees.is_empty() {
                    return Err(ModelError::InvalidArtifact("forest has no trees".into()));
                }
                for (index, tree) in trees.iter().enumerate() {
                    let ascending = tree.features.windows(2).all(|w| w[0] < w[1]);
                    if tree.features.is_empty()
                        || !ascending
                        || tree.features.iter().any(|&f| f >= width)
                    {
                        return Err(ModelError::InvalidArtifact(format!(
                            "tree {index}'s feature indices {:?} do not fit {width} features",
                            tree.features
                        )));
                    }
                    check_tree(&tree.tree, tree.features.len()).map_err(|reason| {
                        ModelError::InvalidArtifact(format!("tree {index}: {reason}"))
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// smartcore walks a tree by indexing and unwrapping, so a damaged tree
/// would panic or loop at prediction. Checked once at load, through the
/// tree's serde form (smartcore 0.7.0, pinned exactly): labels are 0/1,
/// every split names one of the tree's features and has both children, and
/// children come after their parent (as `fit` builds them), so every walk
/// ends at a leaf.
fn check_tree(tree: &Tree, n_features: usize) -> Result<(), String> {
    let value = serde_json::to_value(tree).map_err(|e| e.to_string())?;
    let classes = value["classes"]
        .as_array()
        .ok_or("no classes")?
        .iter()
        .map(|c| c.as_i64().filter(|c| *c == 0 || *c == 1))
        .collect::<Option<Vec<i64>>>()
        .ok_or("classes must be 0 or 1")?;
    let nodes = value["nodes"].as_array().ok_or("no nodes")?;
    if nodes.is_empty() {
        return Err("no nodes".into());
    }
    let index_field = |node: &serde_json::Value, key: &str| -> Result<Option<usize>, String> {
        match &node[key] {
            serde_json::Value::Null => Ok(None),
            v => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| format!("node field {key} is {v}")),
        }
    };
    for (i, node) in nodes.iter().enumerate() {
        let output = index_field(node, "output")?.ok_or("a node has no output")?;
        if output >= classes.len() {
            return Err(format!(
                "node {i} outputs class {output} of {}",
                classes.len()
            ));
        }
        match (
            index_field(node, "true_child")?,
            index_field(node, "false_child")?,
        ) {
            (None, _) => {}
            (Some(left), Some(right)) => {
                let feature =
                    index_field(node, "split_feature")?.ok_or("a split has no feature")?;
                let in_order = |child: usize| child > i && child < nodes.len();
                if feature >= n_features || !in_order(left) || !in_order(right) {
                    return Err(format!(
                        "node {i} splits on feature {feature} into nodes {left} and {right}"
                    ));
                }
            }
            (Some(_), None) => return Err(format!("node {i} has one child")),
        }
    }
    Ok(())
}

/// The logistic function, written so neither tail overflows.
pub(crate) fn sigmoid(margin: f64) -> f64 {
    if margin >= 0.0 {
        1.0 / (1.0 + (-margin).exp())
    } else {
        let e = margin.exp();
        e / (1.0 + e)
    }
}

/// The rows' values at `features`, as a row-major smartcore matrix.
pub(crate) fn column_subset(
    rows: &[Vec<f64>],
    features: &[usize],
) -> Result<DenseMatrix<f64>, ModelError> {
    let mut values = Vec::with_capacity(rows.len() * features.len());
    for row in rows {
        values.extend(features.iter().map(|&f| row[f]));
    }
    DenseMatrix::new(rows.len(), features.len(), values, false).map_err(|err| ModelError::Library {
        stage: "matrix construction",
        reason: err.to_string(),
    })
}
