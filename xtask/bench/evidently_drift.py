"""The drift benchmark's anchor: Evidently 0.7's DataDriftPreset over the
same column-major f64 files the Rust side reads.

Usage: evidently_drift.py REFERENCE.bin CURRENT.bin ROWS COLUMNS ROUNDS
Prints JSON: seconds per round, and per column the method, score and flag.
"""

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def frame(path, rows, columns):
    values = np.fromfile(path, dtype="<f8").reshape(columns, rows)
    return pd.DataFrame({f"f{i}": values[i] for i in range(columns)})


def main():
    warnings.simplefilter("ignore")
    reference_path, current_path, rows, columns, rounds = sys.argv[1:6]
    rows, columns, rounds = int(rows), int(columns), int(rounds)
    reference = frame(reference_path, rows, columns)
    current = frame(current_path, rows, columns)
    seconds, snapshot = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(current, reference)
        seconds.append(time.perf_counter() - started)
    out = {"seconds": seconds, "columns": {}}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            score = float(metric["value"])
            out["columns"][config["column"]] = {
                "method": config["method"],
                "threshold": config["threshold"],
                "score": score,
                # Distances drift at or above the threshold, p-values below it.
                "drift_detected": score >= config["threshold"]
                if "p_value" not in config["method"]
                else score < config["threshold"],
            }
        elif config["type"].endswith("DriftedColumnsCount"):
            out["drifted_columns"] = metric["value"]["count"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
