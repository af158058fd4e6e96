"""The checks of a request that forgets one plain row, without their fixed costs.

``unlearn(X[i : i + 1], y[i : i + 1])`` on a linear model is the commonest
request and the one whose fixed costs dominate: scikit-learn's validation,
hashing and multiset searches vectorised for thousands of rows. When the row
is a finite float64 ndarray of the fitted width (what ``validate_data`` would
return unchanged), its target a number the model knows, and the row is held
once or more with weight 1, the checks here build the same
``_CheckedRequest`` as the general path with scalar work. Anything else (a
DataFrame, a sample weight, string labels, a row never trained on, the last
row of a class) returns None, and the general path checks the request again
and raises its error.
"""

from __future__ import annotations

import math

import numpy as np

from ._fingerprint import keyed_row_fingerprint
from .adapters._losses import BinomialLoss
from .methods._base import Rows, UpdateRequest

__all__ = ["one_row_request"]


def _encoded_target(est, y):
    """``(y (1,), encoded (1,), class index or None)``, or None to fall back.

    Numeric targets of a regressor, or of a logistic classifier (0/1 coded);
    other encodings go through the general path.
    """
    if type(y) is not np.ndarray:
        y = np.asarray(y)
    if y.shape != (1,) or y.dtype.kind not in "biuf":
        return None
    value = y[0]
    classes = getattr(est, "classes_", None)
    if classes is None:
        value = float(value)
        return (y, np.array([value]), None) if math.isfinite(value) else None
    if type(est.adapter_.loss) is not BinomialLoss:
        return None
    idx = 1 if value == classes[1] else 0 if value == classes[0] else None
    if idx is None:
        return None  # an unseen label: the general path names it
    return y, np.array([float(idx)]), idx


def one_row_request(est, remove, checked_request):
    """A checked request forgetting one plain held row, or None.

    Parameters
    ----------
    est : BaseUnlearner
        A fitted unlearning estimator.
    remove : tuple
        ``(X, y, sample_weight)`` as ``unlearn`` received them.
    checked_request : type
        The estimator's checked-request record (``_CheckedRequest``).

    Returns
    -------
    _CheckedRequest or None
    """
    X, y, weights = remove
    adapter = est.__dict__.get("adapter_")
    if (
        weights is not None
        or type(X) is not np.ndarray
        or X.shape != (1, getattr(est, "n_features_in_", -1))
        or X.dtype != np.float64
        or "feature_names_in_" in est.__dict__
        or type(adapter).__name__ != "LinearAdapter"
        or adapter.class_weight is not None
    ):
        return None
    if not math.isfinite(X.sum()):  # a finite sum: every entry is finite
        return None
    target = _encoded_target(est, y)
    if target is None:
        return None
    y, y_enc, idx = target
    held = est.fingerprints_
    if held._weights or len(held) <= 1:
        return None  # weighted copies or the last row: the general path
    keys = keyed_row_fingerprint(np.append(X[0], float(y[0])), est._key())
    if held.count(keys)[0] < 1:
        return None
    class_counts = getattr(est, "class_counts_", None)
    if class_counts is not None and idx is not None:
        if class_counts[idx] <= 1:
            return None  # the class's last row: refused by the general path
        class_counts = class_counts.copy()
        class_counts[idx] -= 1
    ones = np.ones(1)
    rows = Rows(X, y_enc, ones)
    return checked_request(
        request=UpdateRequest(remove=rows, add=Rows(X[:0], y_enc[:0], ones[:0])),
        keys_remove=keys,
        weights_remove=ones,
        keys_add=keys[:0],
        weights_add=ones[:0],
        n_remaining=len(held) - 1,
        class_counts=class_counts,
        raw_keep=None,
    )
