"""The training rows a fitted estimator saw, for scorers that need them.

Scikit-learn hands a scorer only the test fold. Scorers that also need the
training fold (oracle ensembles for KLoM, a retrained reference, shadow
models) find it through the fitted estimator: the library's estimators keep
*weak* references to the ``X`` and ``y`` passed to ``fit`` and a copy of its
``forget`` mask. A search (``GridSearchCV``, ``cross_validate``) holds the
training fold while it scores the model it has just fitted on it, so the
references are alive exactly then, on any joblib backend (loky, threads,
dask worker processes), with no process-wide state. The handle keeps no row
alive, is never pickled, copied or cloned (a copy holds ``None``) and is
dropped by the first request after ``fit``, which changes the training rows.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

__all__ = [
    "TrainingFold",
    "forget_training_fold",
    "record_training_fold",
    "training_fold",
]

_ATTR = "_training_fold"


def _weak(obj):
    """A weak reference to ``obj``, or None when it cannot have one (a list)."""
    try:
        return weakref.ref(obj)
    except TypeError:
        return None


def _no_handle():
    return None


class _FoldHandle:
    """Weak references to a fit's ``X`` and ``y`` and its ``forget`` mask."""

    __slots__ = ("_X", "_y", "forget")

    def __init__(self, X, y, forget):
        self._X = _weak(X)
        self._y = None if y is None else _weak(y)
        self.forget = None if forget is None else np.array(forget, dtype=bool)

    def __reduce__(self):
        # pickling and deepcopy give None: a copy of the model is not fitted
        # on rows its holder can reach, and the references cannot travel
        return (_no_handle, ())

    def rows(self):
        """``(X, y)`` if both are still alive, else None."""
        X = None if self._X is None else self._X()
        y = None if self._y is None else self._y()
        if X is None or y is None:
            return None
        return X, y


@dataclass(frozen=True)
class TrainingFold:
    """The rows an estimator was fitted on.

    Attributes
    ----------
    X : array-like, sparse matrix or DataFrame
        The ``X`` passed to ``fit`` (the caller's object, not a copy).
    y : array-like
        The ``y`` passed to ``fit``.
    forget : ndarray of bool or None
        The ``forget`` mask ``fit`` honoured; None when ``fit`` was not asked
        to forget (e.g. a do-nothing baseline that did not request it).
    """

    X: object
    y: object
    forget: np.ndarray | None


def record_training_fold(estimator, X, y, forget) -> None:
    """Let scorers find the rows ``estimator`` was just fitted on.

    Parameters
    ----------
    estimator : estimator instance
        The estimator whose ``fit`` received the rows.
    X, y : the ``X`` and ``y`` passed to ``fit`` (the caller's objects)
    forget : ndarray of bool or None
        The checked ``forget`` mask.
    """
    setattr(estimator, _ATTR, _FoldHandle(X, y, forget))


def forget_training_fold(estimator) -> None:
    """Drop the handle: the estimator's training rows changed (a request)."""
    if getattr(estimator, _ATTR, None) is not None:
        setattr(estimator, _ATTR, None)


def training_fold(estimator) -> TrainingFold | None:
    """The rows ``estimator`` was fitted on, if it recorded them and they live.

    Parameters
    ----------
    estimator : estimator instance

    Returns
    -------
    TrainingFold or None
        None for an estimator that keeps no handle (a scikit-learn model, a
        copy, one that served a request since ``fit``) or whose training data
        no longer exist.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn._training_fold import training_fold
    >>> X, y = np.random.RandomState(0).randn(20, 2), np.arange(20) % 2
    >>> clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    >>> training_fold(clf).X is X
    True
    >>> del X
    >>> training_fold(clf) is None
    True
    """
    handle = getattr(estimator, _ATTR, None)
    if handle is None:
        return None
    rows = handle.rows()
    if rows is None:
        return None
    return TrainingFold(X=rows[0], y=rows[1], forget=handle.forget)
