"""Fits reference models on the generated fraud data and prints what the
Rust test asserts: AUCs, fraud rates and fairness gaps.

Usage: fraud_models.py DIR, where DIR holds train.csv, holdout.csv,
train_biased.csv, holdout_biased.csv and holdout_drifted.csv (written by
tests/reference_models.rs). Prints one JSON object.
"""

import json
import os
import sys

import pandas as pd
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = json.loads(os.environ["FEATURES"])
BIASED_FEATURES = json.loads(os.environ["BIASED_FEATURES"])


def load(name):
    return pd.read_csv(os.path.join(sys.argv[1], name + ".csv"))


def logistic():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def boosted():
    return HistGradientBoostingClassifier(random_state=0)


def auc(model, data, features):
    return float(roc_auc_score(data.is_fraud, model.predict_proba(data[features])[:, 1]))


def fairness(model, data, features):
    predicted = model.predict(data[features])
    return {
        "demographic_parity_difference": float(
            demographic_parity_difference(
                data.is_fraud, predicted, sensitive_features=data.age_band
            )
        ),
        "equalized_odds_difference": float(
            equalized_odds_difference(data.is_fraud, predicted, sensitive_features=data.age_band)
        ),
    }


train, holdout, drifted = load("train"), load("holdout"), load("holdout_drifted")
train_biased, holdout_biased = load("train_biased"), load("holdout_biased")

out = {
    "fraud_rate": {
        "train": float(train.is_fraud.mean()),
        "holdout": float(holdout.is_fraud.mean()),
        "train_biased": float(train_biased.is_fraud.mean()),
        "holdout_drifted": float(drifted.is_fraud.mean()),
    },
    "fraud_rate_by_band": {
        "unbiased": train.groupby("age_band").is_fraud.mean().to_dict(),
        "biased": train_biased.groupby("age_band").is_fraud.mean().to_dict(),
    },
}
for name, make in [("logistic", logistic), ("boosted", boosted)]:
    model = make().fit(train[FEATURES], train.is_fraud)
    out[name] = {
        "auc_holdout": auc(model, holdout, FEATURES),
        "auc_drifted": auc(model, drifted, FEATURES),
    }
# The fairness demo: a model that sees the band code, on unbiased and on
# biased labels.
for name, data, test in [("unbiased", train, holdout), ("biased", train_biased, holdout_biased)]:
    model = logistic().fit(data[BIASED_FEATURES], data.is_fraud)
    out["fairness_" + name] = fairness(model, test, BIASED_FEATURES)
print(json.dumps(out))
