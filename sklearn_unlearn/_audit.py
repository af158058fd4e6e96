"""Audit a fitted model: was a row forgotten, is it still trained on?"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ._fingerprint import as_key_array, fingerprint_array
from ._fingerprint_key import FingerprintKey, resolve_key

__all__ = ["audit_rows"]


def _words(fingerprints) -> np.ndarray:
    words = getattr(fingerprints, "_words", None)
    return words if words is not None else as_key_array(list(fingerprints))


def _ledger_of(model):
    ledger = getattr(model, "ledger_", None)
    if ledger is None and hasattr(model, "steps"):
        ledger = getattr(model.steps[-1][1], "ledger_", None)
    return ledger


def _occurrences(keys: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """How often each row of ``keys`` appears among the rows of ``pool``."""
    if not len(pool):
        return np.zeros(len(keys), dtype=np.int64)
    view = np.dtype((np.void, 16))
    p = np.ascontiguousarray(pool, dtype=np.uint64).view(view).ravel()
    k = np.ascontiguousarray(keys, dtype=np.uint64).view(view).ravel()
    values, counts = np.unique(p, return_counts=True)
    pos = np.searchsorted(values, k)
    pos = np.minimum(pos, len(values) - 1)
    return np.where(values[pos] == k, counts[pos], 0)


def audit_rows(model, X, y, *, fingerprint_key: FingerprintKey | None = None):
    """For each row: is the model still trained on it, and was it forgotten?

    Fingerprints are keyed (:class:`FingerprintKey`): the audit needs the
    model's key, read from the model (its default key, or the one given to
    it with ``set_params``) or passed here. Without it nobody can tell
    whether a row was trained on or forgotten, from the model or its ledger.

    Parameters
    ----------
    model : fitted UnlearningClassifier, UnlearningRegressor, UnlearnPipeline \
or SISAClassifier
    X : array-like, sparse matrix or DataFrame of shape (n_rows, n_features)
        The rows to check, as passed to ``fit`` (raw rows for a pipeline).
    y : array-like of shape (n_rows,)
        Their targets.
    fingerprint_key : FingerprintKey, default=None
        The model's key when it is held outside the model.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``X`` (a DataFrame's index, else positions), with
        columns ``held`` (copies trained on now), ``times_removed`` (copies
        the ledger records as taken out, by ``unlearn``, ``relabel`` or
        ``update``) and ``forgotten`` (removed at least once and no copy
        held).

    Raises
    ------
    ValueError
        When the key is not the model's; :class:`KeyUnavailableError` when
        it is held outside the model and was not given.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn import UnlearningClassifier, audit_rows
    >>> X, y = np.random.RandomState(0).randn(40, 3), np.arange(40) % 2
    >>> clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    >>> clf = clf.unlearn(X[:2], y[:2])
    >>> audit_rows(clf, X[:3], y[:3])[["held", "forgotten"]]
       held  forgotten
    0     0       True
    1     0       True
    2     1      False
    """
    check_is_fitted(model, "fingerprint_key_")
    secret = resolve_key(
        fingerprint_key
        if fingerprint_key is not None
        else getattr(model, "fingerprint_key", None),
        model.fingerprint_key_,
    )
    keys = fingerprint_array(X, np.asarray(y), secret)
    held = model.fingerprints_.count(keys) if hasattr(model, "fingerprints_") else None
    if held is None:  # SISA keeps its fingerprints per shard
        pool = np.concatenate(
            [k for shard in model.shards_ for k in shard.keys]
            or [np.zeros((0, 2), dtype=np.uint64)]
        )
        held = _occurrences(keys, pool.astype(np.uint64))
    ledger = _ledger_of(model)
    removed = [_words(e.removed) for e in ledger] if ledger is not None else []
    times_removed = _occurrences(
        keys, np.concatenate(removed + [np.zeros((0, 2), dtype=np.uint64)])
    )
    index = X.index if isinstance(X, pd.DataFrame) else None
    return pd.DataFrame(
        {
            "held": np.asarray(held, dtype=np.int64),
            "times_removed": times_removed,
            "forgotten": (times_removed > 0) & (np.asarray(held) == 0),
        },
        index=index,
    )
