"""Expected calibration error (Guo et al., 2017), with hard bins."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array, column_or_1d

__all__ = ["expected_calibration_error"]


def expected_calibration_error(y_true, y_proba, *, n_bins: int = 15) -> float:
    """Top-label ECE: ``sum_b |B_b| / n * |acc(B_b) - conf(B_b)|``.

    Rows are put in ``n_bins`` equal-width bins of their confidence
    ``max_k p_k`` (right-closed, as Guo et al.); ``acc`` is the fraction of
    rows whose most probable class is the true one. The differentiable
    version used as a PUMA criterion is :class:`SoftECE`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Class indices ``0 .. n_classes - 1`` (the columns of ``y_proba``).
    y_proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities, e.g. ``predict_proba``'s output.
    n_bins : int, default=15

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.inspection import expected_calibration_error
    >>> proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    >>> round(expected_calibration_error([0, 1, 1], proba, n_bins=10), 4)
    0.4
    """
    y_proba = check_array(y_proba, dtype=np.float64)
    y_true = column_or_1d(y_true)
    if len(y_true) != len(y_proba):
        raise ValueError(
            f"y_true has {len(y_true)} entries but y_proba has {len(y_proba)} rows."
        )
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}.")
    conf = y_proba.max(axis=1)
    correct = (np.argmax(y_proba, axis=1) == y_true).astype(np.float64)
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    gap = np.bincount(bins, weights=correct - conf, minlength=n_bins)
    return float(np.sum(np.abs(gap)) / len(conf))
