"""Reference figures for tests/reference_metrics.rs, from scikit-learn and fairlearn.

Usage: python reference_metrics.py DATASETS.json

DATASETS.json holds {"classification": [...], "regression": [...], "fairness": [...]}
(see the Rust test for the fields). Prints one JSON object with the same three lists,
each entry carrying the case's "name" and the figures the libraries compute. NaN,
which these libraries return for undefined figures, is printed as null.
"""

import json
import math
import sys
import warnings

import numpy as np
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    count,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn import metrics as skm


def number(value):
    value = float(value)
    return None if math.isnan(value) else value


def classification(case):
    y_true = np.asarray(case["y_true"], dtype=np.int64)
    y_pred = np.asarray(case["y_pred"], dtype=np.int64)
    positive = case["positive"]
    labels = np.unique(np.concatenate([y_true, y_pred]))
    if len(labels) <= 2:
        # The canonical binary call.
        binary = dict(average="binary", pos_label=positive)
    else:
        # One-vs-rest for the positive label of a multiclass problem.
        binary = dict(average=None, labels=[positive])
    p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, **binary)
    mp, mr, mf, _ = skm.precision_recall_fscore_support(y_true, y_pred, average="macro")
    result = {
        "name": case["name"],
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "precision": number(np.ravel(p)[0]),
        "recall": number(np.ravel(r)[0]),
        "f1": number(np.ravel(f)[0]),
        "macro_precision": mp,
        "macro_recall": mr,
        "macro_f1": mf,
        "labels": labels.tolist(),
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred).tolist(),
        "roc_auc": None,
        "log_loss": None,
    }
    if case.get("scores") is not None:
        scores = np.asarray(case["scores"], dtype=np.float64)
        is_positive = y_true == positive
        result["roc_auc"] = number(skm.roc_auc_score(is_positive, scores))
        # labels= lets sklearn score a window that holds one class only.
        result["log_loss"] = skm.log_loss(is_positive, scores, labels=[False, True])
    return result


def regression(case):
    y_true = np.asarray(case["y_true"], dtype=np.float64)
    y_pred = np.asarray(case["y_pred"], dtype=np.float64)
    return {
        "name": case["name"],
        "mean_absolute_error": skm.mean_absolute_error(y_true, y_pred),
        "root_mean_squared_error": skm.root_mean_squared_error(y_true, y_pred),
        "r2": number(skm.r2_score(y_true, y_pred)),
    }


def fairness(case):
    positive = case["positive"]
    # fairlearn's rates want 0/1 labels; the positive label becomes 1.
    y_true = (np.asarray(case["y_true"], dtype=np.int64) == positive).astype(int)
    y_pred = (np.asarray(case["y_pred"], dtype=np.int64) == positive).astype(int)
    groups = np.asarray(case["sensitive_features"], dtype=object)
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
            "count": count,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
    )
    rates = ["selection_rate", "true_positive_rate", "false_positive_rate"]
    by_group = [
        {"group": str(group), "count": int(row["count"]), **{k: number(row[k]) for k in rates}}
        for group, row in frame.by_group.iterrows()
    ]
    ratios = frame.ratio()
    kwargs = dict(sensitive_features=groups)
    return {
        "name": case["name"],
        "groups": by_group,
        "demographic_parity_difference": number(demographic_parity_difference(y_true, y_pred, **kwargs)),
        "demographic_parity_ratio": number(demographic_parity_ratio(y_true, y_pred, **kwargs)),
        "equalized_odds_difference": number(equalized_odds_difference(y_true, y_pred, **kwargs)),
        "equalized_odds_ratio": number(equalized_odds_ratio(y_true, y_pred, **kwargs)),
        "true_positive_rate_ratio": number(ratios["true_positive_rate"]),
        "false_positive_rate_ratio": number(ratios["false_positive_rate"]),
    }


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    # Undefined figures are expected in some cases; they come back as null.
    warnings.simplefilter("ignore")
    out = {
        "classification": [classification(c) for c in cases.get("classification", [])],
        "regression": [regression(c) for c in cases.get("regression", [])],
        "fairness": [fairness(c) for c in cases.get("fairness", [])],
    }
    json.dump(out, sys.stdout, allow_nan=False)


if __name__ == "__main__":
    main()
