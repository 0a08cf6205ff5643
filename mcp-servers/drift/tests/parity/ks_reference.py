"""scipy's two-sample KS p-values and Kolmogorov distribution for
tests/scipy_parity.rs.

Usage: ks_reference.py INPUT_JSON -> JSON on stdout.
Input: {"pairs": [[a, b], ...], "grid": [[n, x], ...]}.
Output: {"ks_2samp": [[statistic, pvalue], ...], "kstwo_sf": [...],
"smirnov": [...]} (smirnov only where x >= 0.5 / n is meaningful).
"""

import json
import sys

import numpy as np
from scipy import special, stats


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    pairs = []
    for a, b in spec["pairs"]:
        result = stats.ks_2samp(np.asarray(a), np.asarray(b))
        pairs.append([float(result.statistic), float(result.pvalue)])
    kstwo = [float(stats.kstwo.sf(x, n)) for n, x in spec["grid"]]
    smirnov = [float(special.smirnov(n, x)) for n, x in spec["grid"]]
    json.dump({"ks_2samp": pairs, "kstwo_sf": kstwo, "smirnov": smirnov}, sys.stdout)


if __name__ == "__main__":
    main()
