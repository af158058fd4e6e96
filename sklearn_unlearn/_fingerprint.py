"""A multiset of row fingerprints: which rows were trained on, never the rows."""

from __future__ import annotations

from collections import Counter, deque
from hashlib import blake2b

import numpy as np
import pandas as pd

__all__ = ["RowMultiset", "fingerprint_rows"]


def fingerprint_rows(X, y) -> np.ndarray:
    """One 128-bit hex fingerprint per row of ``(X, y)``.

    Numeric values are hashed as float64 (so ``1`` and ``1.0``, an int and a
    float column, an array and a DataFrame agree; ``-0.0`` is ``0.0``):
    all-numeric rows get a 128-bit BLAKE2b of their bytes; tables with other
    columns are hashed by value through :func:`pandas.util.hash_pandas_object`
    with two independent 64-bit keys. The fingerprint identifies a row that
    is shown again; it does not let anyone rebuild a row they do not hold.

    Parameters
    ----------
    X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)

    Returns
    -------
    ndarray of str, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn._fingerprint import fingerprint_rows
    >>> a = fingerprint_rows(np.array([[1, 2]]), [0])
    >>> b = fingerprint_rows(np.array([[1.0, 2.0]]), [0.0])
    >>> bool(a[0] == b[0]), len(a[0])
    (True, 32)
    """
    n = len(y)
    Y = np.asarray(y).reshape(n, -1)
    if hasattr(X, "toarray") and X.shape[0] > _SPARSE_CHUNK:
        # densify a few rows at a time: memory stays bounded for wide data
        parts = [
            fingerprint_rows(X[i : i + _SPARSE_CHUNK], Y[i : i + _SPARSE_CHUNK])
            for i in range(0, n, _SPARSE_CHUNK)
        ]
        return np.concatenate(parts)
    A = None
    if not isinstance(X, pd.DataFrame | pd.Series) and Y.dtype.kind in "biuf":
        Xa = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        if Xa.dtype.kind in "biuf":
            A = np.hstack([Xa.reshape(n, -1), Y]).astype(np.float64) + 0.0
    if A is None:
        frame = pd.concat([_as_frame(X, n), _as_frame(Y, n)], axis=1, ignore_index=True)
        if all(t == np.float64 for t in frame.dtypes):
            A = frame.to_numpy(dtype=np.float64)
    out = np.empty(n, dtype=object)
    if A is not None:  # all numeric: BLAKE2b of each row's float64 bytes
        raw, w = memoryview(np.ascontiguousarray(A)).cast("B"), A.shape[1] * 8
        out[:] = [
            blake2b(raw[i * w : i * w + w], digest_size=16).hexdigest()
            for i in range(n)
        ]
        return out
    H = np.column_stack(
        [
            pd.util.hash_pandas_object(frame, index=False, hash_key=k).to_numpy()
            for k in _KEYS
        ]
    )
    raw = np.ascontiguousarray(H.astype("<u8")).tobytes()
    out[:] = [raw[16 * i : 16 * i + 16].hex() for i in range(n)]
    return out


_SPARSE_CHUNK = 4096
_KEYS = ("sklearn-unlearn1", "sklearn-unlearn2")  # 16 bytes each, as pandas wants


def _as_frame(X, n) -> pd.DataFrame:
    """Columns to hash: numeric ones as float64, the rest as they are."""
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, pd.DataFrame):
        cols = {}
        for j, (_, col) in enumerate(X.items()):
            if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                col = col.astype(np.float64) + 0.0
            cols[j] = col.to_numpy()
        return pd.DataFrame(cols)
    if hasattr(X, "toarray"):
        X = X.toarray()
    A = np.asarray(X).reshape(n, -1)
    if A.dtype.kind in "biuf":
        A = A.astype(np.float64) + 0.0  # -0.0 -> 0.0
    return pd.DataFrame(A)


class RowMultiset:
    """Counts of trained row fingerprints with each copy's sample weight.

    ``remove`` checks a whole request first and changes nothing unless every
    row is present as often as it is asked for; duplicate rows are separate
    copies, and one request removes one copy per occurrence.
    """

    def __init__(self):
        self._count: dict[str, int] = {}  # copies held per fingerprint
        # the weight of every copy, in insertion order, only for fingerprints
        # with at least one copy whose weight is not 1 (all others weigh 1)
        self._weights: dict[str, list[float]] = {}
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def copy(self) -> RowMultiset:
        new = RowMultiset()
        new._count = dict(self._count)
        new._weights = {k: list(v) for k, v in self._weights.items()}
        new._n = self._n
        return new

    def add(self, keys, weights) -> None:
        keys = list(keys)
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if len(w) != len(keys):
            raise ValueError("one weight per key is needed.")
        special, count = self._weights, self._count
        if np.all(w == 1.0) and not (special and any(k in special for k in keys)):
            for k in keys:  # the common case
                count[k] = count.get(k, 0) + 1
        else:
            for k, wk in zip(keys, w.tolist(), strict=True):
                if wk != 1.0 or k in special:
                    special.setdefault(k, [1.0] * count.get(k, 0)).append(wk)
                count[k] = count.get(k, 0) + 1
        self._n += len(keys)

    def _held(self, k) -> list[float]:
        return self._weights.get(k) or [1.0] * self._count.get(k, 0)

    def missing(self, keys, weights=None) -> np.ndarray:
        """Positions in ``keys`` asked for more often than they are held.

        With ``weights``, a position is missing too when no held copy of that
        row has that sample weight.
        """
        keys = list(keys)
        count = self._count
        if weights is None:
            need = Counter(keys)
            if len(need) == len(keys) and need.keys() <= count.keys():
                return np.zeros(0, dtype=int)  # distinct keys, all held (C-level)
            over = {k for k, c in need.items() if c > count.get(k, 0)}
            if not over:
                return np.zeros(0, dtype=int)
            seen: Counter = Counter()
            bad = []
            for i, k in enumerate(keys):
                if k in over:
                    seen[k] += 1
                    if seen[k] > count.get(k, 0):
                        bad.append(i)
            return np.asarray(bad, dtype=int)
        seen = Counter()
        bad = []
        wlist = np.asarray(weights, dtype=np.float64).reshape(-1).tolist()
        for i, (k, w) in enumerate(zip(keys, wlist, strict=True)):
            seen[(k, w)] += 1
            if seen[(k, w)] > sum(1 for h in self._held(k) if h == w):
                bad.append(i)
        return np.asarray(bad, dtype=int)

    def remove(self, keys, weights=None, *, checked: bool = False) -> np.ndarray:
        """Remove one copy per key and return the removed copies' weights.

        The whole request is checked first: if any row is missing, a
        ``KeyError`` carrying the positions is raised and nothing changes.
        With ``weights`` given, the copy with that weight is removed;
        otherwise the most recently added copy. ``checked=True`` skips the
        check when the caller has just made it.
        """
        keys = list(keys)
        bad = () if checked else self.missing(keys, weights)
        if len(bad):
            raise KeyError(bad)
        out = self.peek_weights(keys) if weights is None else None
        if weights is not None:
            out = np.asarray(weights, dtype=np.float64).reshape(-1).copy()
        special = self._weights
        if special:
            for k, w in zip(keys, out.tolist(), strict=True):
                held = special.get(k)
                if held is not None:
                    if weights is None:
                        held.pop()
                    else:
                        held.remove(w)
        count = self._count
        if not special and max(map(count.__getitem__, keys), default=0) == 1:
            deque(map(count.pop, keys), maxlen=0)  # one copy each: drop in C
        else:
            for k in keys:
                left = count[k] - 1
                if left:
                    count[k] = left
                else:
                    del count[k]
                    special.pop(k, None)
            for k in set(keys) & special.keys():
                if all(w == 1.0 for w in special[k]):
                    del special[k]
        self._n -= len(keys)
        return out

    def peek_weights(self, keys) -> np.ndarray:
        """The weights ``remove(keys)`` would return, without removing."""
        out = np.ones(len(keys))
        special = self._weights
        if special:
            taken: Counter = Counter()
            for i, k in enumerate(keys):
                held = special.get(k)
                if held is not None:
                    taken[k] += 1
                    out[i] = held[-taken[k]]
        return out

    def counter(self) -> Counter:
        """Fingerprint -> number of copies held."""
        return Counter(self._count)
