"""Reference drift scores for tests/scipy_parity.rs, computed with numpy,
pandas and scipy following Evidently 0.7's rules (column typing, default
test choice, binning, thresholds and drift conditions).

Usage: scipy_reference.py CASES_JSON  -> prints results as JSON on stdout.

Input: {"cases": [{"name", "columns": [{"name", "kind", "reference",
"current"}], "checks": [{"group", "column", "test" (null = default
choice), "threshold" (null = the test's default)}]}]}; a group is one
report run.
Output: {"results": [{"case", "group", "column", "test", "column_type",
"score", "threshold", "drift"}]}; non-finite scores are the strings "nan",
"inf".
"""

import json
import math
import sys

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

P_VALUE_TESTS = {"ks", "chisquare", "z"}


def series(values, kind):
    """The column as pandas would load it from Parquet."""
    has_null = any(v is None for v in values)
    if kind == "float" or (kind == "int" and has_null):
        return pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    if kind == "int":
        return pd.Series(values, dtype="int64")
    if kind == "bool":
        return pd.Series(values, dtype="bool")
    return pd.Series(values, dtype="object")


def column_type(current):
    """Evidently 0.7's infer_column_type on the current data."""
    dtype = current.dtype.name
    if dtype.startswith("float"):
        return "numerical"
    if dtype.startswith("int"):
        return "categorical" if current.nunique() <= 10 else "numerical"
    if dtype == "bool":
        return "categorical"
    if current.nunique() > current.count() * 0.5:
        return "text"
    return "categorical"


def clean(s):
    return s.replace([np.inf, -np.inf], np.nan).dropna()


def default_test(ref, cur, ctype):
    distinct = pd.concat([ref, cur]).nunique()
    if len(ref) <= 1000:
        if ctype == "numerical" and distinct > 5:
            return "ks"
        return "chisquare" if distinct > 2 else "z"
    if ctype == "numerical" and distinct > 5:
        return "wasserstein"
    return "jensenshannon"


def counts(s, keys):
    vc = s.value_counts()
    return np.array([vc.get(k, 0) for k in keys], dtype="int64")


def union_keys(ref, cur):
    return sorted(set(ref.unique()) | set(cur.unique()))


def shares(ref, cur, ctype, fill):
    if ctype == "numerical" and ref.nunique() > 20:
        pooled = np.concatenate([ref.to_numpy(), cur.to_numpy()])
        edges = np.histogram_bin_edges(pooled, bins="sturges")
        r = np.histogram(ref.to_numpy(), edges)[0] / len(ref)
        c = np.histogram(cur.to_numpy(), edges)[0] / len(cur)
    else:
        keys = union_keys(ref, cur)
        r = counts(ref, keys) / len(ref)
        c = counts(cur, keys) / len(cur)
    if fill:
        for arr in (r, c):
            smallest = arr[arr != 0].min()
            arr[arr == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return r, c


def z_p_value(ref, cur):
    if ref.nunique() == 1 and cur.nunique() == 1 and ref.unique()[0] == cur.unique()[0]:
        return 1.0
    first = union_keys(ref, cur)[0]
    n1, n2 = len(ref), len(cur)
    p1 = float((ref != first).sum()) / n1
    p2 = float((cur != first).sum()) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return 2 * (1 - stats.norm.cdf(np.abs(z)))


def hellinger(ref, cur, ctype):
    keys = list(set(ref.unique()) | set(cur.unique()))
    if ctype == "categorical":
        r = ref.value_counts() / len(ref)
        c = cur.value_counts() / len(cur)
        bc = 0.0
        for k in keys:
            bc += math.sqrt(float(r.get(k, 0)) * float(c.get(k, 0)))
    else:
        edges = np.histogram_bin_edges(keys, bins="sturges")
        f = np.histogram(ref.to_numpy(), bins=edges, density=True)[0]
        g = np.histogram(cur.to_numpy(), bins=edges, density=True)[0]
        width = (max(edges) - min(edges)) / (len(edges) - 1)
        bc = 0.0
        for a, b in zip(f, g):
            bc += math.sqrt(float(a) * float(b)) * width
    return math.sqrt(1 - np.clip(bc, 0, 1))


def score(test, ref, cur, ctype):
    if test == "ks":
        return stats.ks_2samp(ref, cur).pvalue
    if test == "chisquare":
        keys = union_keys(ref, cur)
        scale = cur.shape[0] / ref.shape[0]
        expected = [x * scale for x in counts(ref, keys)]
        with np.errstate(divide="ignore", invalid="ignore"):
            return stats.chisquare(counts(cur, keys), expected).pvalue
    if test == "z":
        return z_p_value(ref, cur)
    if test == "wasserstein":
        return stats.wasserstein_distance(ref, cur) / max(float(np.std(ref)), 0.001)
    if test == "jensenshannon":
        r, c = shares(ref, cur, ctype, False)
        return distance.jensenshannon(r, c)
    if test == "psi":
        r, c = shares(ref, cur, ctype, True)
        return np.sum((r - c) * np.log(r / c))
    if test == "kl_div":
        r, c = shares(ref, cur, ctype, True)
        return stats.entropy(r, c)
    if test == "hellinger":
        return hellinger(ref, cur, ctype)
    raise ValueError(test)


def drifted(test, value, threshold):
    if test == "ks":
        return bool(value <= threshold)
    if test in P_VALUE_TESTS:
        return bool(value < threshold)
    return bool(value >= threshold)


def encode(x):
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    results = []
    for case in spec["cases"]:
        columns = {c["name"]: c for c in case["columns"]}
        for check in case["checks"]:
            col = columns[check["column"]]
            ref_raw = series(col["reference"], col["kind"])
            cur_raw = series(col["current"], col["kind"])
            ctype = column_type(cur_raw)
            ref, cur = clean(ref_raw), clean(cur_raw)
            test = check["test"] or default_test(ref, cur, ctype)
            threshold = check["threshold"]
            if threshold is None:
                threshold = 0.05 if test in P_VALUE_TESTS else 0.1
            value = score(test, ref, cur, ctype)
            results.append({
                "case": case["name"],
                "group": check["group"],
                "column": check["column"],
                "test": test,
                "column_type": ctype,
                "score": encode(value),
                "threshold": threshold,
                "drift": drifted(test, value, threshold),
            })
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
