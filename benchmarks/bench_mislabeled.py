"""Which ranking finds flipped labels: loss, self-influence or PUMA's Algorithm 2.

Logistic regression (``UnlearningClassifier``) on one-hot German credit and
on 5,000 Adult rows with 10% of the labels flipped at random; each ranking
inspects ``k`` = 20% of the rows. Printed: the share of the flipped rows
found by ``find_mislabeled`` with each ``rank`` (and how many rows it
returned), all in one run. This is the measurement behind its default.

Usage::

    python benchmarks/bench_mislabeled.py
    python benchmarks/bench_mislabeled.py --quick   # 500 rows of each table
"""

from __future__ import annotations

import numpy as np
from _common import (
    categorical_as_object,
    column_encoder,
    limit_threads,
    machine_header,
    markdown_table,
    script_parser,
)
from sklearn.linear_model import LogisticRegression

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.datasets import load_adult, load_german_credit
from sklearn_unlearn.inspection import find_mislabeled

RANKS = ("loss", "self_influence", "influence", "auto")


def encoded(bunch):
    """The table through the benchmarks' column encoder, and its labels."""
    X = column_encoder(bunch).fit_transform(categorical_as_object(bunch))
    return X, np.asarray(bunch.target)


def main(argv=None):
    parser = script_parser(__doc__, "500 rows per table")
    args = parser.parse_args(argv)
    max_rows = 500 if args.quick else 5000
    print(machine_header(args.threads) + "\n")
    with limit_threads(args.threads):
        rows = measure(max_rows)
    print(markdown_table(["data", "rows", *RANKS], rows, numeric=True))


def measure(max_rows):
    sets = {
        "German credit": encoded(load_german_credit(as_frame=True)),
        f"Adult ({max_rows:,} rows)": encoded(load_adult(as_frame=True)),
    }
    rows = []
    for name, (X, y) in sets.items():
        if len(y) > max_rows:
            keep = np.random.default_rng(0).choice(len(y), max_rows, replace=False)
            X, y = X[keep], y[keep]
        rng = np.random.default_rng(1)
        flipped = np.zeros(len(y), dtype=bool)
        flipped[rng.choice(len(y), len(y) // 10, replace=False)] = True
        noisy = np.where(flipped, 1 - y, y)
        clf = UnlearningClassifier(LogisticRegression()).fit(X, noisy)
        k = len(y) // 5
        cells = []
        for rank in RANKS:
            found = find_mislabeled(clf, X, noisy, k, rank=rank)
            share = flipped[found].sum() / flipped.sum()
            cells.append(f"{share:.2f} ({len(found)} rows)")
        rows.append([name, f"{len(y):,}", *cells])
    return rows


if __name__ == "__main__":
    main()
