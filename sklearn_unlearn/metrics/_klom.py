"""KLoM: KL divergence of margins between unlearned and oracle ensembles."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral

import numpy as np

from ._margins import margins

__all__ = ["KLOM_FLOOR", "auto_n_bins", "klom", "klom_from_margins", "klom_summary"]

KLOM_FLOOR = 1e-5


def auto_n_bins(n_models: int) -> int:
    """Histogram bins for KLoM with ``n_models`` margins per ensemble.

    ``round(sqrt(n_models))`` between 3 and 20: 3 bins up to 12 models, 4
    for 16, 10 for 100, 20 from 400 on; about ``sqrt(n_models)`` margins
    per bin. More bins than a sample fills leave most of one ensemble's
    occupied bins empty in the other: KL is then dominated by the 1e-5 floor
    of those bins (up to ``log(1e5)``, about 11.5) and an unlearner as good
    as retraining (differing from the oracles only by their randomness)
    scores about as badly as one that forgot nothing. Two bins are too few
    the other way: a model that forgot nothing often falls in the oracles'
    bins and ties with retraining at 0.

    This is what ``n_bins="auto"`` (the default) means everywhere:
    :func:`~sklearn_unlearn.metrics.klom`,
    :func:`~sklearn_unlearn.metrics.klom_from_margins`,
    :func:`~sklearn_unlearn.metrics.make_klom_scorer`,
    :func:`~sklearn_unlearn.metrics.unlearning_report` and
    :class:`~sklearn_unlearn.plotting.MarginHistogramDisplay`.

    Parameters
    ----------
    n_models : int
        Margins per ensemble (the smaller ensemble when they differ).

    Returns
    -------
    int

    Examples
    --------
    >>> from sklearn_unlearn.metrics._klom import auto_n_bins
    >>> [auto_n_bins(n) for n in (2, 8, 16, 100, 1000)]
    [3, 3, 4, 10, 20]
    """
    return int(np.clip(round(float(np.sqrt(n_models))), 3, 20))


def resolve_n_bins(n_bins, n_models: int) -> int:
    """``n_bins`` checked, with ``"auto"`` replaced by ``auto_n_bins(n_models)``.

    Examples
    --------
    >>> from sklearn_unlearn.metrics._klom import resolve_n_bins
    >>> resolve_n_bins("auto", 100), resolve_n_bins(7, 100)
    (10, 7)
    """
    if isinstance(n_bins, str) and n_bins == "auto":
        return auto_n_bins(n_models)
    if (
        isinstance(n_bins, bool)
        or not isinstance(n_bins, Integral | float)
        or not np.isfinite(n_bins)
        or int(n_bins) != n_bins
        or n_bins < 1
    ):
        raise ValueError(f"n_bins must be 'auto' or an integer >= 1, got {n_bins!r}.")
    return int(n_bins)


def _ensemble_margins(models, X, y) -> np.ndarray:
    if isinstance(models, np.ndarray):
        M = np.asarray(models, dtype=np.float64)
        if M.ndim != 2:
            raise ValueError(
                f"margins of an ensemble must be 2-d (n_models, n_rows), got {M.shape}."
            )
        return M
    models = list(models)
    if not models:
        raise ValueError("an ensemble needs at least one model.")
    return np.stack([margins(m, X, y) for m in models])


def klom_from_margins(
    unlearned: np.ndarray, oracle: np.ndarray, n_bins: int | str = "auto"
) -> np.ndarray:
    """Per-row KL(unlearned || oracle) of two margin samples, histogram estimate.

    For each row (column of the inputs), both samples are binned into
    ``n_bins`` equal-width bins spanning the pooled range ``[min, max]`` of
    the two samples; the maximum lands in the last bin (closed on the right,
    as in :func:`numpy.histogram`; the reference code's ``np.digitize``
    drops it). Bin frequencies of empty bins are floored at ``1e-5`` (not
    renormalised), and ``sum_b p_b log(p_b / q_b)`` is returned, ``p`` the
    unlearned and ``q`` the oracle frequencies. Identical samples give 0;
    samples in disjoint bins give at most ``(1 - 1e-5) log(1e5)`` per bin
    pair, i.e. ``log(1e5)`` when each sample fills a single bin.

    Parameters
    ----------
    unlearned : ndarray of shape (n_unlearned, n_rows)
    oracle : ndarray of shape (n_oracle, n_rows)
    n_bins : int or "auto", default="auto"
        ``"auto"``: ``round(sqrt(min(n_unlearned, n_oracle)))`` between 3
        and 20 (``sklearn_unlearn.metrics._klom.auto_n_bins``).

    Returns
    -------
    ndarray of shape (n_rows,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.metrics import klom_from_margins
    >>> u = np.array([[0.0, 0.0], [1.0, 0.1]])
    >>> o = np.array([[0.0, 5.0], [1.0, 5.1]])
    >>> klom_from_margins(u, o, n_bins=2).round(3)
    array([ 0.   , 11.513])
    """
    U = np.asarray(unlearned, dtype=np.float64)
    O = np.asarray(oracle, dtype=np.float64)
    if U.ndim != 2 or O.ndim != 2 or U.shape[1] != O.shape[1]:
        raise ValueError(
            "unlearned and oracle margins must be 2-d with the same number of rows "
            f"(columns), got {U.shape} and {O.shape}."
        )
    if not (np.all(np.isfinite(U)) and np.all(np.isfinite(O))):
        raise ValueError("margins must be finite.")
    n_bins = resolve_n_bins(n_bins, min(U.shape[0], O.shape[0]))
    lo = np.minimum(U.min(axis=0), O.min(axis=0))
    hi = np.maximum(U.max(axis=0), O.max(axis=0))
    p = _frequencies(U, lo, hi, n_bins)
    q = _frequencies(O, lo, hi, n_bins)
    return np.sum(p * np.log(p / q), axis=1)


def _frequencies(S, lo, hi, n_bins) -> np.ndarray:
    """Bin frequencies ``(n_rows, n_bins)`` with the floor on empty bins."""
    m, n = S.shape
    width = hi - lo
    flat = width == 0
    scale = np.where(flat, 0.0, n_bins / np.where(flat, 1.0, width))
    idx = np.floor((S - lo) * scale).astype(np.int64)
    idx = np.clip(idx, 0, n_bins - 1)
    # numpy.histogram's correction for rounding at the inner edges
    edges = lo + width * (np.arange(n_bins + 1)[:, None] / n_bins)  # (n_bins+1, n)
    cols = np.broadcast_to(np.arange(n), S.shape)
    varies = ~flat
    idx -= (S < edges[idx, cols]) & (idx > 0) & varies
    idx += (S >= edges[idx + 1, cols]) & (idx < n_bins - 1) & varies
    counts = np.zeros((n, n_bins))
    np.add.at(counts, (cols.ravel(), idx.ravel()), 1.0)
    freq = counts / m
    return np.where(counts == 0, KLOM_FLOOR, freq)


def klom(unlearned, oracles, X=None, y=None, n_bins: int | str = "auto") -> np.ndarray:
    """KL divergence of margins (KLoM) of each row, unlearned vs oracle models.

    For each row, the margins (:func:`margins`) of the row under every model
    of the unlearned ensemble form one sample, under every oracle (a model
    that never saw the forget set) the other; :func:`klom_from_margins`
    compares them (equal-width bins over the pooled range, floor 1e-5,
    KL(unlearned || oracle)). 0 means the unlearned models are
    indistinguishable from retrained ones on that row. See
    :func:`fit_oracles` and :func:`fit_unlearned` for building the ensembles.

    Parameters
    ----------
    unlearned : list of fitted classifiers, or ndarray (n_models, n_rows)
        The unlearned ensemble, or its margins.
    oracles : list of fitted classifiers, or ndarray (n_models, n_rows)
        The oracle ensemble, or its margins.
    X : array-like of shape (n_rows, n_features), default=None
        Needed when models are given.
    y : array-like of shape (n_rows,), default=None
    n_bins : int or "auto", default="auto"
        Histogram bins; ``"auto"``: ``round(sqrt(n_models))`` between 3 and
        20 for the smaller ensemble (3 bins for 8 models, 10 for 100, 20
        from 400 on), the rule of every KLoM figure in the library.

    Returns
    -------
    ndarray of shape (n_rows,)

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.metrics import klom
    >>> X, y = make_classification(n_samples=60, random_state=0)
    >>> models = [LogisticRegression(C=c).fit(X, y) for c in (0.1, 0.2, 0.3)]
    >>> klom(models, models, X, y).max()
    np.float64(0.0)
    """
    needs_rows = not (
        isinstance(unlearned, np.ndarray) and isinstance(oracles, np.ndarray)
    )
    if needs_rows and (X is None or y is None):
        raise ValueError("X and y are needed to compute the margins of models.")
    U = _ensemble_margins(unlearned, X, y)
    O = _ensemble_margins(oracles, X, y)
    return klom_from_margins(U, O, n_bins=n_bins)


def klom_summary(values, groups: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Median and 95th percentile of KLoM values per group of rows.

    Parameters
    ----------
    values : ndarray of shape (n_rows,)
        Per-row KLoM, as returned by :func:`klom`.
    groups : mapping of str to boolean mask of shape (n_rows,)
        E.g. ``{"forget": ..., "retain": ..., "held_out": ...}``. Empty groups
        give NaN.

    Returns
    -------
    dict
        ``{"<group>_median": ..., "<group>_p95": ...}``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.metrics import klom_summary
    >>> v = np.arange(10.0)
    >>> klom_summary(v, {"forget": v < 5, "held_out": v >= 5})["forget_median"]
    2.0
    """
    values = np.asarray(values, dtype=np.float64)
    out = {}
    for name, mask in groups.items():
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != values.shape:
            raise ValueError(
                f"group {name!r} has shape {mask.shape}; values have {values.shape}."
            )
        v = values[mask]
        out[f"{name}_median"] = float(np.median(v)) if len(v) else float("nan")
        out[f"{name}_p95"] = float(np.percentile(v, 95)) if len(v) else float("nan")
    return out
