"""Which training fold belongs to a test fold: ForgetSplit tells the scorers.

Scikit-learn hands a scorer only the test fold. Scorers that need the
training fold (oracle ensembles for KLoM, shadow models) look the split up
here by a digest of the test fold. An entry holds the fold's indices and
mask and only a *weak* reference to the caller's ``X`` and ``y`` where
possible, so no copy of any row is kept, and entries die with the data.
The registry lives in the process that called ``split``: a search whose
candidates run in other processes does not see it.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass
from hashlib import blake2b

import numpy as np
from sklearn.utils import _safe_indexing

from .._fingerprint import fingerprint_array

__all__ = ["SplitContext", "clear_split_registry", "lookup_split", "register_split"]

_MAX_ENTRIES = 64
_REGISTRY: OrderedDict[str, tuple] = OrderedDict()


@dataclass(frozen=True)
class SplitContext:
    """One split: the data it was drawn from and its folds.

    Attributes
    ----------
    key : str
        Digest of the test fold (rows, labels, mask).
    X, y : the data passed to ``split``
    train, test : ndarray of int
    forget : ndarray of bool, shape (n_samples,)
    """

    key: str
    X: object
    y: np.ndarray
    train: np.ndarray
    test: np.ndarray
    forget: np.ndarray


def split_key(X_test, y_test, forget_test) -> str:
    """Digest identifying a test fold.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.model_selection._registry import split_key
    >>> X = np.eye(3)
    >>> split_key(X, [0, 1, 0], np.array([True, False, False])) == split_key(
    ...     X.copy(), np.array([0, 1, 0]), np.array([True, False, False]))
    True
    """
    keys = fingerprint_array(X_test, np.asarray(y_test))
    h = blake2b(keys.tobytes(), digest_size=16)
    h.update(np.asarray(forget_test, dtype=bool).tobytes())
    return h.hexdigest()


def _ref(obj):
    try:
        return weakref.ref(obj)
    except TypeError:
        return lambda: obj


def register_split(X, y, train, test, forget) -> str:
    """Record a split; returns its key."""
    y_arr = np.asarray(y)
    key = split_key(_safe_indexing(X, test), y_arr[test], forget[test])
    _REGISTRY[key] = (
        _ref(X),
        _ref(y) if y is y_arr else (lambda: y_arr),
        train,
        test,
        forget,
    )
    _REGISTRY.move_to_end(key)
    while len(_REGISTRY) > _MAX_ENTRIES:
        _REGISTRY.popitem(last=False)
    return key


def lookup_split(X_test, y_test, forget_test) -> SplitContext | None:
    """The split whose test fold is ``(X_test, y_test, forget_test)``, or None."""
    key = split_key(X_test, y_test, forget_test)
    entry = _REGISTRY.get(key)
    if entry is None:
        return None
    X, y = entry[0](), entry[1]()
    if X is None or y is None:
        del _REGISTRY[key]
        return None
    return SplitContext(key, X, np.asarray(y), entry[2], entry[3], entry[4])


def clear_split_registry() -> None:
    """Forget every recorded split.

    :class:`ForgetSplit` records each split it makes so that scorers can find
    the training fold; call this to release them (e.g. between experiments).

    Examples
    --------
    >>> from sklearn_unlearn.model_selection import clear_split_registry
    >>> clear_split_registry()
    """
    _REGISTRY.clear()
