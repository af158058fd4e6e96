"""What every membership attack shares: scores, decisions and their summary."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.utils.validation import _num_samples

from .._fingerprint import fingerprint_array

__all__ = ["MembershipAttack", "PoolIndex", "membership_summary"]

SUMMARY_KEYS = ("roc_auc", "balanced_accuracy", "tpr_at_0.1pct_fpr", "tpr_at_1pct_fpr")


def _check_member(member, n) -> np.ndarray:
    member = np.asarray(member)
    if member.dtype != bool or member.shape != (n,):
        raise ValueError(
            f"member must be a boolean mask of length {n}, got dtype {member.dtype} "
            f"and shape {member.shape}."
        )
    if member.all() or not member.any():
        raise ValueError(
            "member must mark both members and non-members: an attack is judged "
            "by telling the two apart."
        )
    return member


def _check_rows(X, y):
    """``y`` as an array and the row count, refusing a ``y`` of another length."""
    y = np.asarray(y)
    n = _num_samples(X)
    if len(y) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)}.")
    return y, n


def membership_summary(scores, member, threshold: float | None = None) -> dict:
    """ROC AUC, balanced accuracy and TPR at 0.1% and 1% FPR of an attack.

    As the LiRA paper recommends (Carlini et al., 2022), the true-positive
    rate at a low false-positive rate is reported beside the AUC: the largest
    TPR on the ROC curve whose FPR does not exceed the level.

    Parameters
    ----------
    scores : ndarray of shape (n_rows,)
        Membership scores, higher meaning "member".
    member : ndarray of bool, shape (n_rows,)
        Ground truth.
    threshold : float, default=None
        The attack's decision rule (``score > threshold``) for the balanced
        accuracy; ``None`` takes the best threshold on these rows (an upper
        bound).

    Returns
    -------
    dict
        Keys ``roc_auc``, ``balanced_accuracy``, ``tpr_at_0.1pct_fpr``,
        ``tpr_at_1pct_fpr``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.metrics import membership_summary
    >>> s = membership_summary(np.array([0.9, 0.8, 0.3, 0.1]),
    ...                        np.array([True, True, False, False]))
    >>> s["roc_auc"], s["balanced_accuracy"]
    (1.0, 1.0)
    """
    scores = np.asarray(scores, dtype=np.float64)
    member = _check_member(member, len(scores))
    if not np.all(np.isfinite(scores)):
        raise ValueError("membership scores must be finite.")
    fpr, tpr, _ = roc_curve(member, scores)
    if threshold is None:
        bal = float(np.max((tpr + 1 - fpr) / 2))
    else:
        pred = scores > threshold
        bal = float((pred[member].mean() + (~pred[~member]).mean()) / 2)
    return {
        "roc_auc": float(roc_auc_score(member, scores)),
        "balanced_accuracy": bal,
        "tpr_at_0.1pct_fpr": float(tpr[fpr <= 1e-3].max()),
        "tpr_at_1pct_fpr": float(tpr[fpr <= 1e-2].max()),
    }


class PoolIndex:
    """Find rows of a query in a pool by their fingerprints (never the rows).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.metrics._mia_base import PoolIndex
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> PoolIndex(X, [0, 1, 0]).lookup(X[::-1], [0, 1, 0])
    array([2, 1, 0])
    """

    def __init__(self, X, y):
        keys = fingerprint_array(X, np.asarray(y))
        self._index = {k.tobytes(): i for i, k in enumerate(keys)}

    def lookup(self, X, y) -> np.ndarray:
        """Pool position of each query row, -1 where it is not in the pool."""
        keys = fingerprint_array(X, np.asarray(y))
        return np.array([self._index.get(k.tobytes(), -1) for k in keys], dtype=int)


class MembershipAttack(BaseEstimator):
    """Base class: ``score_samples`` (higher = member), ``predict``, ``evaluate``.

    Subclasses implement ``score_samples(model, X, y)`` and set
    ``threshold_`` (the decision rule ``score > threshold_``).

    Examples
    --------
    >>> from sklearn_unlearn.metrics import LossAttack, MembershipAttack
    >>> isinstance(LossAttack(), MembershipAttack)
    True
    """

    needs_shadows = False

    def score_samples(self, model, X, y) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _threshold(self):
        return getattr(self, "threshold_", None)

    def _check_fitted(self, attribute: str) -> None:
        """Refuse to score before ``fit`` has set ``attribute``."""
        if not hasattr(self, attribute):
            raise ValueError(f"{type(self).__name__} is not fitted: call fit first.")

    def predict(self, model, X, y) -> np.ndarray:
        """The attack's guess, ``True`` for member.

        Parameters
        ----------
        model : fitted classifier
        X : array-like of shape (n_rows, n_features)
        y : array-like of shape (n_rows,)

        Returns
        -------
        ndarray of bool, shape (n_rows,)
        """
        t = self._threshold()
        if t is None:
            raise ValueError(
                f"{type(self).__name__} has no decision threshold yet: fit it first."
            )
        return self.score_samples(model, X, y) > t

    def evaluate(self, model, X, y, member) -> dict:
        """Attack ``model`` on rows whose membership is known; summarise.

        Parameters
        ----------
        model : fitted classifier
        X : array-like of shape (n_rows, n_features)
        y : array-like of shape (n_rows,)
        member : ndarray of bool, shape (n_rows,)
            ``True`` for rows the model was trained on (or trained on and
            then told to forget).

        Returns
        -------
        dict
            :func:`membership_summary` of the scores, plus ``scores``.
        """
        scores = self.score_samples(model, X, y)
        threshold = self._evaluation_threshold(scores, member)
        out = membership_summary(scores, member, threshold)
        out["scores"] = scores
        return out

    def _evaluation_threshold(self, scores, member):
        """The threshold ``evaluate`` judges by: the fitted one (or None)."""
        return self._threshold()
