"""A multiset of row fingerprints: which rows were trained on, never the rows."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pandas as pd

__all__ = ["RowMultiset", "fingerprint_rows"]


def fingerprint_rows(X, y) -> np.ndarray:
    """One 128-bit hex fingerprint per row of ``(X, y)``.

    Numeric rows are hashed from their float64 bytes (so ``1`` and ``1.0``
    agree); other tables go through :func:`pandas.util.hash_pandas_object`.
    The fingerprint identifies a row that is shown again; it does not let
    anyone rebuild a row they do not already hold.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)

    Returns
    -------
    ndarray of str, shape (n_samples,)
    """
    n = len(y)
    x_keys = _row_keys(X, n)
    y_keys = _row_keys(np.asarray(y).reshape(n, -1), n)
    out = np.empty(n, dtype=object)
    for i in range(n):
        out[i] = hashlib.blake2b(
            x_keys[i] + b"|" + y_keys[i], digest_size=16
        ).hexdigest()
    return out


def _row_keys(X, n) -> list[bytes]:
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, pd.DataFrame) and all(
        pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t)
        for t in X.dtypes
    ):
        X = X.to_numpy(dtype=np.float64, na_value=np.nan)
    if isinstance(X, pd.DataFrame):
        h = pd.util.hash_pandas_object(pd.DataFrame(X), index=False).to_numpy()
        return [int(v).to_bytes(8, "little") for v in h]
    if hasattr(X, "toarray"):
        X = X.toarray()
    A = np.asarray(X).reshape(n, -1)
    if A.dtype.kind in "biuf":
        A = np.ascontiguousarray(A, dtype=np.float64) + 0.0  # -0.0 -> 0.0
        return [row.tobytes() for row in A]
    h = pd.util.hash_pandas_object(pd.DataFrame(A), index=False).to_numpy()
    return [int(v).to_bytes(8, "little") for v in h]


class RowMultiset:
    """Counts of trained row fingerprints with each copy's sample weight.

    ``remove`` checks a whole request first and changes nothing unless every
    row is present as often as it is asked for; duplicate rows are separate
    copies, and one request removes one copy per occurrence.
    """

    def __init__(self):
        self._weights: dict[str, list[float]] = {}
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def copy(self) -> RowMultiset:
        new = RowMultiset()
        new._weights = {k: list(v) for k, v in self._weights.items()}
        new._n = self._n
        return new

    def add(self, keys, weights) -> None:
        for k, w in zip(keys, weights, strict=True):
            self._weights.setdefault(k, []).append(float(w))
        self._n += len(keys)

    def missing(self, keys, weights=None) -> np.ndarray:
        """Positions in ``keys`` asked for more often than they are held.

        With ``weights``, a position is missing too when no held copy of that
        row has that sample weight.
        """
        need = Counter()
        bad = []
        for i, k in enumerate(keys):
            held = self._weights.get(k, ())
            key = (k, None if weights is None else float(weights[i]))
            need[key] += 1
            if weights is None:
                ok = need[key] <= len(held)
            else:
                ok = need[key] <= sum(1 for w in held if w == key[1])
            if not ok:
                bad.append(i)
        return np.asarray(bad, dtype=int)

    def remove(self, keys, weights=None) -> np.ndarray:
        """Remove one copy per key and return the removed copies' weights.

        The whole request is checked first: if any row is missing, a
        ``KeyError`` carrying the positions is raised and nothing changes.
        With ``weights`` given, the copy with that weight is removed;
        otherwise the most recently added copy.
        """
        bad = self.missing(keys, weights)
        if len(bad):
            raise KeyError(bad)
        self._n -= len(keys)
        out = np.empty(len(keys))
        for i, k in enumerate(keys):
            held = self._weights[k]
            if weights is None:
                out[i] = held.pop()
            else:
                out[i] = float(weights[i])
                held.remove(out[i])
            if not held:
                del self._weights[k]
        return out

    def peek_weights(self, keys) -> np.ndarray:
        """The weights ``remove(keys)`` would return, without removing."""
        taken = Counter()
        out = np.empty(len(keys))
        for i, k in enumerate(keys):
            taken[k] += 1
            out[i] = self._weights[k][-taken[k]]
        return out

    def counter(self) -> Counter:
        """Fingerprint -> number of copies held."""
        return Counter({k: len(v) for k, v in self._weights.items()})
