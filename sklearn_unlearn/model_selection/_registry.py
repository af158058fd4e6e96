"""Which training fold belongs to a test fold: ForgetSplit tells the scorers.

Scikit-learn hands a scorer only the test fold. Scorers that need the
training fold (oracle ensembles for KLoM, shadow models) look the split up
here by a digest of the test fold. An entry holds the fold's indices and
mask and only a *weak* reference to the caller's ``X`` and ``y`` where
possible, so no copy of any row is kept, and entries die with the data.

The registry lives in the process that called ``split``. A search with
``n_jobs > 1`` scores in other processes: with joblib's default ``loky``
backend the scorers that need the registry travel to the workers with a
snapshot of its live entries (:func:`snapshot_splits`, rows included) and
the worker merges it into its own registry (:func:`merge_splits`). Only
loky's pickler carries the snapshot; a plain :func:`pickle.dumps` of a
scorer, or of a search holding one, carries no row. A worker keeps at most
``_MAX_ENTRIES`` splits, as strong references (nothing else holds its
copy), until newer splits push them out or the worker exits. The
``threading`` backend shares this process's registry and needs nothing.
"""

from __future__ import annotations

import os
import uuid
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from hashlib import blake2b

import numpy as np
from sklearn.utils import _safe_indexing

from .._fingerprint import fingerprint_array

__all__ = [
    "SplitContext",
    "clear_split_registry",
    "lookup_split",
    "merge_splits",
    "register_split",
    "snapshot_splits",
]

_MAX_ENTRIES = 64
_REGISTRY: OrderedDict[str, tuple] = OrderedDict()
_PROCESS_UUID = uuid.uuid4().hex


def process_token() -> str:
    """Identifies this process (a forked child gets a token of its own)."""
    return f"{_PROCESS_UUID}-{os.getpid()}"


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


def _strong(obj):
    return lambda: obj


def _store(key, entry) -> None:
    _REGISTRY[key] = entry
    _REGISTRY.move_to_end(key)
    while len(_REGISTRY) > _MAX_ENTRIES:
        _REGISTRY.popitem(last=False)


def register_split(X, y, train, test, forget) -> str:
    """Record a split; returns its key."""
    y_arr = np.asarray(y)
    key = split_key(_safe_indexing(X, test), y_arr[test], forget[test])
    _store(
        key,
        (_ref(X), _ref(y) if y is y_arr else _strong(y_arr), train, test, forget),
    )
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


def snapshot_splits() -> dict:
    """The live entries, with strong references to their data, for a worker.

    Returns
    -------
    dict
        ``{"origin": process token, "entries": [(key, X, y, train, test,
        forget), ...]}``, oldest first. Entries sharing ``X`` share the
        object, so a pickle holds the rows once.
    """
    entries = []
    for key, (x_ref, y_ref, train, test, forget) in list(_REGISTRY.items()):
        X, y = x_ref(), y_ref()
        if X is not None and y is not None:
            entries.append((key, X, y, train, test, forget))
    return {"origin": process_token(), "entries": entries}


def merge_splits(snapshot) -> None:
    """Add a snapshot's entries to this process's registry (a worker's side).

    The process that took the snapshot is left alone: its registry already
    has the entries (or dropped them on purpose) and must not gain strong
    references. Entries already present are kept, so a worker holds one copy
    of the rows however many tasks bring them.

    Parameters
    ----------
    snapshot : dict
        As returned by :func:`snapshot_splits`.
    """
    if not snapshot or snapshot.get("origin") == process_token():
        return
    for key, X, y, train, test, forget in snapshot["entries"]:
        entry = _REGISTRY.get(key)
        if entry is not None and entry[0]() is not None and entry[1]() is not None:
            _REGISTRY.move_to_end(key)
            continue
        _store(key, (_strong(X), _strong(y), train, test, forget))


def clear_split_registry() -> None:
    """Forget every recorded split.

    :class:`ForgetSplit` records each split it makes so that scorers can find
    the training fold; call this to release them (e.g. between experiments).
    It clears this process's registry; the workers of a parallel search keep
    their copies (at most 64 splits) until they exit.

    Examples
    --------
    >>> from sklearn_unlearn.model_selection import clear_split_registry
    >>> clear_split_registry()
    """
    _REGISTRY.clear()
