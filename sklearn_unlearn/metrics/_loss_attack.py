"""Loss / confidence threshold membership attack (Yeom et al., 2018)."""

from __future__ import annotations

import numpy as np

from ._margins import margins
from ._mia_base import MembershipAttack, _check_member

__all__ = ["LossAttack"]


class LossAttack(MembershipAttack):
    """Guess "member" when the model's loss on a row is low (Yeom et al., 2018).

    The score of a row is minus its cross-entropy loss
    ``log(1 + exp(-margin))`` (``statistic="loss"``) or the probability of
    its true class ``sigmoid(margin)`` (``"confidence"``); for a softmax
    model both equal the model's own loss and confidence, and they rank rows
    alike. The decision threshold is calibrated on held-out rows: the mean
    loss (or confidence) of rows the model never saw; ``evaluate`` on an
    attack that was not fitted calibrates on the non-members it is given.

    Parameters
    ----------
    statistic : {"loss", "confidence"}, default="loss"

    Attributes
    ----------
    threshold_ : float
        Rows scoring above it are called members (set by ``fit``, or by
        ``evaluate`` from its non-members when not fitted).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.metrics import LossAttack
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = LogisticRegression().fit(X[:100], y[:100])
    >>> attack = LossAttack().fit(clf, X[150:], y[150:])
    >>> res = attack.evaluate(clf, X[:150], y[:150], np.arange(150) < 100)
    >>> 0.3 < res["roc_auc"] < 0.8
    True
    """

    def __init__(self, statistic: str = "loss"):
        self.statistic = statistic

    def score_samples(self, model, X, y) -> np.ndarray:
        """Minus the loss (or the confidence) of each row under ``model``.

        Parameters
        ----------
        model : fitted classifier
        X : array-like of shape (n_rows, n_features)
        y : array-like of shape (n_rows,)

        Returns
        -------
        ndarray of shape (n_rows,)
        """
        if self.statistic not in ("loss", "confidence"):
            raise ValueError(
                f"statistic must be 'loss' or 'confidence', got {self.statistic!r}."
            )
        m = margins(model, X, y)
        if self.statistic == "loss":
            return -np.logaddexp(0.0, -m)
        return 1.0 / (1.0 + np.exp(-m))

    def fit(self, model, X_held_out, y_held_out):
        """Calibrate the threshold on rows ``model`` never saw.

        Parameters
        ----------
        model : fitted classifier
        X_held_out : array-like of shape (n_rows, n_features)
        y_held_out : array-like of shape (n_rows,)

        Returns
        -------
        self : LossAttack
        """
        s = self.score_samples(model, X_held_out, y_held_out)
        if len(s) == 0:
            raise ValueError("calibration needs at least one held-out row.")
        self.threshold_ = float(np.mean(s))
        return self

    def _evaluation_threshold(self, scores, member):
        """The fitted threshold, else the mean score of the non-members."""
        member = _check_member(member, len(scores))
        t = self._threshold()
        if t is None:
            t = float(np.mean(scores[~member]))
        return t
