"""A scorer's view of one split: the test fold it is given, the training fold
the fitted candidate recorded.

A scorer called by a search gets the test fold; the candidate, fitted on the
training fold a moment before, holds weak references to it
(:mod:`sklearn_unlearn._training_fold`). Nothing here is process-wide: a
search on any joblib backend (loky, threads, dask worker processes) scores in
the call that fitted the candidate, where the training fold is alive.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import blake2b

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils import _safe_indexing

from .._fingerprint import _batch_occurrence, fingerprint_array
from .._training_fold import training_fold

__all__ = ["SplitContext", "split_context"]

NO_TRAINING_FOLD = (
    "{name} needs the rows the model was trained on and {model} did not record "
    "them. The library's estimators (UnlearningClassifier, UnlearningRegressor, "
    "an UnlearnPipeline, SISAClassifier) record weak references to the X and y "
    "passed to fit, alive while a search or cross_validate scores the model it "
    "has just fitted (or while you hold them); a copy, a pickle or a model that "
    "served a request since fit holds none. To score a plain scikit-learn model "
    "as the do-nothing baseline, wrap it: "
    "UnlearningClassifier(model).set_fit_request(forget=False)."
)


@dataclass(frozen=True)
class SplitContext:
    """One split as a scorer sees it.

    Attributes
    ----------
    key : str
        Digest of both folds' rows, labels and masks: equal splits share
        cached reference models, whichever candidate is scored.
    X_train, y_train : the training fold (``y_train`` as an ndarray)
    forget_train : ndarray of bool
        The training fold's rows to forget.
    X_test, y_test, forget_test : the test fold
    """

    key: str
    X_train: object
    y_train: np.ndarray
    forget_train: np.ndarray
    X_test: object
    y_test: np.ndarray
    forget_test: np.ndarray

    def retained(self):
        """``(X, y)`` of the training rows that remain after forgetting."""
        keep = np.flatnonzero(~self.forget_train)
        return _safe_indexing(self.X_train, keep), self.y_train[keep]

    def pool(self):
        """Every row of both folds once: ``(X, y, in_test)``.

        The training fold, then the test fold's held-out rows (its forget
        rows are those of the training fold). ``in_test`` marks the test
        fold's rows.
        """
        held = np.flatnonzero(~self.forget_test)
        X = _stack_rows(self.X_train, _safe_indexing(self.X_test, held))
        y = np.concatenate([self.y_train, self.y_test[held]])
        in_test = np.concatenate([self.forget_train, np.ones(len(held), dtype=bool)])
        return X, y, in_test


def _stack_rows(A, B):
    if isinstance(A, pd.DataFrame):
        return pd.concat([A, B])
    if sp.issparse(A):
        return sp.vstack([A, B], format="csr")
    return np.concatenate([np.asarray(A), np.asarray(B)])


def _sorted_keys(keys):
    return keys[np.lexsort(keys.T[::-1])] if len(keys) else keys


def _mark(keys, wanted):
    """Mark as many rows of ``keys`` per fingerprint as ``wanted`` holds.

    Equal rows are interchangeable, so which of several copies is marked
    does not change any model trained without the marked rows.
    """
    # a fingerprint's first 64-bit word identifies a row within one dataset
    values, counts = np.unique(wanted[:, 0], return_counts=True)
    pos = np.searchsorted(values, keys[:, 0])
    pos = np.minimum(pos, max(len(values) - 1, 0))
    hit = (values[pos] == keys[:, 0]) if len(values) else np.zeros(len(keys), bool)
    return hit & (_batch_occurrence(keys) < np.where(hit, counts[pos], 0))


def split_context(estimator, X, y, forget, name) -> SplitContext:
    """The split of a test fold ``(X, y, forget)`` scored on ``estimator``.

    Parameters
    ----------
    estimator : fitted estimator
        The candidate; it must have recorded its training fold.
    X, y, forget : the test fold and its mask (checked by the caller)
    name : str
        The scorer's name, for messages.

    Returns
    -------
    SplitContext

    Raises
    ------
    ValueError
        When the estimator holds no training fold, or when the test fold's
        forgotten rows are not the training fold's.
    """
    fold = training_fold(estimator)
    if fold is None:
        raise ValueError(
            NO_TRAINING_FOLD.format(name=name, model=type(estimator).__name__)
        )
    X_train, y_train = fold.X, np.asarray(fold.y)
    forget_idx = np.flatnonzero(forget)
    test_keys = fingerprint_array(X, y)
    wanted = _sorted_keys(test_keys[forget_idx])
    if fold.forget is None:
        # fitted without the mask (a do-nothing baseline): find the rows
        train_keys = fingerprint_array(X_train, y_train)
        forget_train = _mark(train_keys, wanted)
        found = _sorted_keys(train_keys[forget_train])
    else:
        forget_train = fold.forget
        train_keys = None
        found = _sorted_keys(
            fingerprint_array(
                _safe_indexing(X_train, np.flatnonzero(forget_train)),
                y_train[forget_train],
            )
        )
    if found.shape != wanted.shape or not np.array_equal(found, wanted):
        raise ValueError(
            f"{name}: the test fold's {len(wanted)} forgotten rows are not the "
            f"{len(found)} rows the model forgot at fit: a test fold must hold "
            "the same rows to forget as its training fold (ForgetSplit's folds "
            "do)."
        )
    if train_keys is None:
        train_keys = fingerprint_array(X_train, y_train)
    h = blake2b(np.ascontiguousarray(train_keys).tobytes(), digest_size=16)
    h.update(np.asarray(forget_train, dtype=bool).tobytes())
    h.update(np.ascontiguousarray(test_keys).tobytes())
    h.update(np.asarray(forget, dtype=bool).tobytes())
    return SplitContext(
        key=h.hexdigest(),
        X_train=X_train,
        y_train=y_train,
        forget_train=np.asarray(forget_train, dtype=bool),
        X_test=X,
        y_test=np.asarray(y),
        forget_test=np.asarray(forget, dtype=bool),
    )
