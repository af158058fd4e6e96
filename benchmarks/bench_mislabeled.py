"""Which ranking finds flipped labels: loss, self-influence or PUMA's Algorithm 2.

Logistic regression (``UnlearningClassifier``) on one-hot German credit and
on 5,000 Adult rows with 10% of the labels flipped at random; each ranking
inspects ``k`` = 20% of the rows. Printed: the share of the flipped rows
found by ``find_mislabeled`` with each ``rank`` (and how many rows it
returned), all in one run. This is the measurement behind its default.

Usage::

    python benchmarks/bench_mislabeled.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).parent))
from _tabular import categorical_as_object, column_encoder  # noqa: E402

from sklearn_unlearn import UnlearningClassifier  # noqa: E402
from sklearn_unlearn.datasets import load_adult, load_german_credit  # noqa: E402
from sklearn_unlearn.inspection import find_mislabeled  # noqa: E402

RANKS = ("loss", "self_influence", "influence", "auto")


def encoded(bunch):
    """The table through the benchmarks' column encoder, and its labels."""
    X = column_encoder(bunch).fit_transform(categorical_as_object(bunch))
    return X, np.asarray(bunch.target)


def main():
    sets = {
        "German credit": encoded(load_german_credit(as_frame=True)),
        "Adult (5,000 rows)": encoded(load_adult(as_frame=True)),
    }
    print("| data | rows | " + " | ".join(RANKS) + " |")
    print("|---|---:|" + "---:|" * len(RANKS))
    for name, (X, y) in sets.items():
        if len(y) > 5000:
            rows = np.random.default_rng(0).choice(len(y), 5000, replace=False)
            X, y = X[rows], y[rows]
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
        print(f"| {name} | {len(y):,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
