"""Drift results from Evidently 0.7 itself for tests/scipy_parity.rs.

Usage: evidently_reference.py CASES_JSON -> JSON on stdout. Same input as
scipy_reference.py. For each case it runs Evidently's DataDriftPreset once
per group of checks (the default choices, each explicit test over the
columns it applies to, custom thresholds), and reports per column the test
Evidently chose,
its score and threshold, the drift flag from Evidently's own StatTest, and
the preset's drifted-column count.
"""

import json
import sys
import warnings

import pandas as pd
from evidently import Dataset, Report
from evidently.legacy.calculations import stattests
from evidently.legacy.core import ColumnType
from evidently.presets import DataDriftPreset

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from scipy_reference import clean, encode, series  # noqa: E402

# ValueDrift names its method by display name when Evidently chose it and
# by registry name when it was given.
TESTS = {
    key: t
    for t in [
        stattests.ks_stat_test,
        stattests.chi_stat_test,
        stattests.z_stat_test,
        stattests.wasserstein_stat_test,
        stattests.jensenshannon_stat_test,
        stattests.psi_stat_test,
        stattests.kl_div_stat_test,
        stattests.hellinger_stat_test,
    ]
    for key in (t.display_name, t.name)
}


def run_preset(ref_df, cur_df, columns, method, thresholds):
    preset = DataDriftPreset(columns=columns, method=method, per_column_threshold=thresholds or None)
    snapshot = Report([preset]).run(cur_df, ref_df).dict()
    drifts, count = {}, None
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            drifts[config["column"]] = (config["method"], config["threshold"], metric["value"])
        elif config["type"].endswith("DriftedColumnsCount"):
            count = metric["value"]["count"]
    return drifts, count


def main():
    # scipy warns on the chi-square of a category the reference never saw.
    warnings.simplefilter("ignore")
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    results, counts = [], []
    for case in spec["cases"]:
        columns = {c["name"]: c for c in case["columns"]}
        ref_df = pd.DataFrame({n: series(c["reference"], c["kind"]) for n, c in columns.items()})
        cur_df = pd.DataFrame({n: series(c["current"], c["kind"]) for n, c in columns.items()})
        types = Dataset.from_pandas(cur_df)
        groups = {}
        for check in case["checks"]:
            group = groups.setdefault(check["group"], {"test": check["test"], "columns": [], "thresholds": {}})
            group["columns"].append(check["column"])
            if check["threshold"] is not None:
                group["thresholds"][check["column"]] = check["threshold"]
        for group_name, group in groups.items():
            names = group["columns"]
            drifts, count = run_preset(ref_df, cur_df, names, group["test"], group["thresholds"])
            counts.append({"case": case["name"], "group": group_name, "count": count})
            for name in names:
                display, threshold, value = drifts[name]
                stattest = TESTS[display]
                ctype = types.column(name).type
                verdict = stattest(clean(ref_df[name]), clean(cur_df[name]), ctype, threshold)
                results.append({
                    "case": case["name"],
                    "group": group_name,
                    "column": name,
                    "test": stattest.name,
                    "column_type": {"num": "numerical", "cat": "categorical"}.get(ctype.value, ctype.value),
                    "score": encode(value),
                    "threshold": threshold,
                    "drift": bool(verdict.drifted),
                })
    json.dump({"results": results, "counts": counts}, sys.stdout)


if __name__ == "__main__":
    main()
