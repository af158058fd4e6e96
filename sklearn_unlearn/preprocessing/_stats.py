"""Column statistics of groups of rows and the exact pairwise (Chan) formulas.

A group of rows is summarised per column by ``(W, mean, M2)``: the total
weight of its non-missing entries, their weighted mean and their weighted
sum of squared deviations from that mean. Chan, Golub & LeVeque (1983)
combine two groups exactly; solving the same identity for one of the two
groups removes it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

EPS = float(np.finfo(np.float64).eps)


def as_dense_float(X) -> np.ndarray:
    if sp.issparse(X):
        X = X.toarray()
    return np.asarray(X, dtype=np.float64)


def group_stats(X, w=None):
    """Per-column ``(count, W, mean, M2)`` of the non-missing entries of ``X``.

    ``count`` is the unweighted number of non-missing entries and ``W`` their
    total weight (``count`` when ``w`` is None). Two passes, with the usual
    correction term, as scikit-learn computes them.
    """
    X = as_dense_float(X)
    mask = ~np.isnan(X)
    count = mask.sum(axis=0)
    ww = mask.astype(np.float64) if w is None else mask * np.asarray(w)[:, None]
    W = ww.sum(axis=0)
    Xz = np.where(mask, X, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(W > 0, (ww * Xz).sum(axis=0) / W, 0.0)
        D = np.where(mask, X - mean, 0.0)
        corr = (ww * D).sum(axis=0)
        M2 = (ww * D**2).sum(axis=0) - np.where(W > 0, corr**2 / W, 0.0)
    return count, W, mean, np.maximum(M2, 0.0)


def chan_remove(W, mean, M2, Wr, mean_r, M2r, n_rows):
    """Remove a group ``(Wr, mean_r, M2r)`` from ``(W, mean, M2)``.

    Returns ``(W_left, mean_left, M2_left, lost, tol)``: ``tol`` bounds the
    rounding error of ``M2_left`` (it grows with ``n_rows``, the number of
    rows summarised by ``M2``) and ``lost`` flags the columns whose remaining
    sum of squares is below it; they are set to 0 (the remaining entries are
    equal up to rounding).
    """
    W_left = W - Wr
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = W_left > 0
        d = mean_r - mean
        mean_left = np.where(safe, mean - Wr * d / np.where(safe, W_left, 1.0), 0.0)
        cross = np.where(safe, Wr * W / np.where(safe, W_left, 1.0) * d**2, 0.0)
    M2_left = M2 - M2r - cross
    tol = 4.0 * EPS * max(int(n_rows), 1) * (np.abs(M2) + M2r + cross)
    lost = M2_left <= tol
    M2_left = np.where(lost | ~safe, 0.0, M2_left)
    return W_left, mean_left, M2_left, lost & safe, tol


def chan_add(W, mean, M2, Wa, mean_a, M2a):
    """Add a group ``(Wa, mean_a, M2a)`` to ``(W, mean, M2)``."""
    W_new = W + Wa
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = W_new > 0
        d = mean_a - mean
        frac = np.where(safe, Wa / np.where(safe, W_new, 1.0), 0.0)
        mean_new = np.where(W > 0, mean + frac * d, mean_a)
        M2_new = M2 + M2a + np.where(safe, W * frac * d**2, 0.0)
    return W_new, mean_new, M2_new


def is_constant_feature(var, mean, n_samples):
    """scikit-learn's test for a variance that is zero up to rounding."""
    upper = n_samples * EPS * var + (n_samples * mean * EPS) ** 2
    return var <= upper


def scale_from_var(var, mean, n_samples):
    """``scale_`` as ``StandardScaler`` derives it, near-constant columns at 1."""
    with np.errstate(invalid="ignore"):
        const = is_constant_feature(var, mean, n_samples)
        scale = np.sqrt(var)
        scale[const | (scale < 10 * EPS)] = 1.0
    return scale


# ------------------------------------------------------------------ encoders
def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA


def category_codes(values, categories) -> np.ndarray:
    """Index of each value in ``categories``; -1 for values not in it.

    Missing values (``None``, ``NaN``) match a missing category, as in
    scikit-learn's encoders.
    """
    cats = list(categories)
    lookup = {}
    missing_code = -1
    for i, c in enumerate(cats):
        if _is_missing(c) or (isinstance(c, np.floating) and np.isnan(c)):
            missing_code = i
        else:
            lookup.setdefault(c, i)
    out = np.empty(len(values), dtype=np.intp)
    for k, v in enumerate(values):
        if _is_missing(v) or (isinstance(v, np.floating) and np.isnan(v)):
            out[k] = missing_code
            continue
        try:
            out[k] = lookup.get(v, -1)
        except TypeError:  # unhashable
            out[k] = -1
    return out


def encoder_input_columns(X) -> list[np.ndarray]:
    """The columns of an encoder's input as object arrays."""
    if hasattr(X, "iloc"):
        return [
            np.asarray(X.iloc[:, j].to_numpy(dtype=object)) for j in range(X.shape[1])
        ]
    A = np.asarray(X, dtype=object)
    if A.ndim == 1:
        A = A.reshape(-1, 1)
    return [A[:, j] for j in range(A.shape[1])]


def category_counts(encoder, X) -> tuple[list[np.ndarray], list[list]]:
    """Per feature: counts of each of ``encoder.categories_``; unknown values."""
    counts, unknown = [], []
    for j, col in enumerate(encoder_input_columns(X)):
        codes = category_codes(col, encoder.categories_[j])
        known = codes >= 0
        counts.append(np.bincount(codes[known], minlength=len(encoder.categories_[j])))
        unknown.append(list(dict.fromkeys(col[~known].tolist())))
    return counts, unknown
