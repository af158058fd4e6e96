"""A multiset of row fingerprints: which rows were trained on, never the rows.

A fingerprint is a 128-bit keyed digest of a row ``(x, y)`` (a keyed
universal hash of the row's float64 bytes, then keyed SipHash-2-4, all keys
drawn from the model's secret :class:`~sklearn_unlearn.FingerprintKey`, so
that nobody without the key can test a candidate row or rebuild a forgotten
one from a ledger), held as two unsigned 64-bit words (an ``(n, 2)`` ``uint64`` array,
the form every internal caller uses) or written as 32 hexadecimal
characters (the form shown to people: the ledger, :func:`fingerprint_rows`).
:class:`RowMultiset` keeps the words in sorted NumPy arrays, so that
checking and removing a request of ``k`` rows among ``n`` costs
``O(k log n)`` vectorised work rather than ``k`` Python dictionary probes.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache, partial
from hashlib import sha256, shake_256

import numpy as np
import pandas as pd

from .utils._out_of_core import as_chunked, is_out_of_core

try:  # pandas' vectorised SipHash-2-4, without hash_array's dispatch
    from pandas._libs.hashing import hash_object_array as _hash_object_array
except ImportError:  # pragma: no cover - a pandas without it
    _hash_object_array = None

__all__ = ["RowMultiset", "fingerprint_array", "fingerprint_rows", "to_hex"]

_SPARSE_CHUNK = 4096
_KEYS = ("sklearn-unlearn1", "sklearn-unlearn2")  # 16 bytes each, as pandas wants
_EMPTY = np.zeros((0, 2), dtype=np.uint64)


def fingerprint_rows(X, y, key: bytes | None = None) -> np.ndarray:
    """One 128-bit hex fingerprint per row of ``(X, y)``.

    Numeric values are hashed as float64 (so ``1`` and ``1.0``, an int and a
    float column, an array and a DataFrame agree; ``-0.0`` is ``0.0``):
    all-numeric rows get the first 128 bits of the SHA-256 of their bytes;
    tables with other columns are hashed by value through
    :func:`pandas.util.hash_pandas_object` with two independent 64-bit keys.
    With a ``key`` (what every fitted model uses) the digest is keyed: an
    all-numeric row's float64 bytes go through a keyed multilinear universal
    hash (five 13-bit-keyed sums, collision probability at most ``2**-65``),
    a mixed row through the 128-bit pandas digest, and that value through
    SipHash-2-4 under two 128-bit keys (a PRF: the output reveals neither
    the row nor the hash key); every key is derived from the secret with
    SHAKE-256, per row width. Without the key nobody can compute a fingerprint,
    so a ledger or a pickle without the key neither confirms a guessed row
    nor lets one rebuild a forgotten row by search. Unkeyed digests
    (``key=None``) serve only transient matching inside one computation.

    Parameters
    ----------
    X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    key : bytes, default=None
        The secret (16 to 64 bytes); None: an unkeyed digest.

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
    return to_hex(fingerprint_array(X, y, key))


# Keyed fingerprints of all-numeric rows: hash, then PRF.
#
# 1. A keyed universal hash of the row's float64 bytes read as 32-bit words
#    m_i: five sums h_c = sum_i K_ci * m_i over the integers (a multilinear
#    hash, Carter and Wegman 1979), with key words K_ci drawn uniformly from
#    [0, 2**13). For two distinct rows of one width some word differs, so each
#    sum collides with probability at most 2**-13 and the five together with
#    at most 2**-65. Sums over 256 words stay below 2**53, so BLAS computes
#    them exactly in float64, whatever its summation order; longer rows add
#    such partial sums modulo 2**64, which keeps the bound (a differing term
#    K_ci * d_i spans less than 2**46, so at most one K_ci hits a residue).
# 2. A PRF of the five 64-bit sums: SipHash-2-4 (Aumasson and Bernstein
#    2012), as pandas computes it on byte strings, under two independent
#    128-bit keys, for 128 bits of output. The stored value is thus a PRF of a
#    universal hash (the Wegman-Carter construction): it reveals nothing of
#    the hash key, and without the keys no one can compute or test a row.
#
# All keys are drawn from the secret with SHAKE-256, separately for each row
# width (rows of different widths go through independent keys) and for the
# digests of mixed tables, and cached.
_SEGMENT = 256  # words summed exactly in float64: 2**32 * 2**13 * 256 < 2**53
_KEY_BITS = 13
_STREAMS = 5  # 5 * 13 = 65 bits against collisions
_BLOCK_WORDS = 1 << 16  # 32-bit words per block of rows (fits in cache)
_ZERO_HI = float(1 << 31)  # high word of -0.0


@lru_cache(maxsize=64)
def _derive(key: bytes, domain: bytes, nbytes: int) -> bytes:
    """``nbytes`` pseudo-random bytes from the secret, for one use."""
    label = b"sklearn-unlearn fingerprint\x00" + domain + b"\x00"
    return shake_256(label + bytes([len(key)]) + key).digest(nbytes)


def _prf_keys(raw: bytes) -> tuple[str, str]:
    """Two 16-byte SipHash keys as the latin-1 strings pandas takes."""
    return raw[:16].decode("latin-1"), raw[16:32].decode("latin-1")


@lru_cache(maxsize=64)
def _row_keys(key: bytes, width: int):
    """The hash key matrix ``(2 * width, 5)`` and PRF keys for rows of ``width``."""
    n_words = 2 * width
    raw = _derive(key, b"rows %d" % width, 32 + 2 * n_words * _STREAMS)
    K = np.frombuffer(raw, dtype="<u2", offset=32).reshape(n_words, _STREAMS)
    K = (K & ((1 << _KEY_BITS) - 1)).astype(np.float64)
    K.setflags(write=False)
    return K, _prf_keys(raw)


_SPLITMIX = (np.uint64(30), np.uint64(0xBF58476D1CE4E5B9), np.uint64(27))
_SPLITMIX2 = (np.uint64(0x94D049BB133111EB), np.uint64(31))
_FEW = 8  # up to this many values, Python integers beat NumPy's fixed cost
_MASK64 = (1 << 64) - 1


def _finalise(z: int) -> int:
    """splitmix64's finaliser of one 64-bit integer, as pandas applies it."""
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & _MASK64
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _splitmix_finaliser(v: np.ndarray) -> np.ndarray:
    """pandas' last step of ``hash_array``: splitmix64's finaliser, per value."""
    if len(v) <= _FEW:
        return np.array([_finalise(z) for z in v.tolist()], dtype=np.uint64)
    a, b, c = _SPLITMIX
    d, e = _SPLITMIX2
    v ^= v >> a
    v *= b
    v ^= v >> c
    v *= d
    v ^= v >> e
    return v


def _siphash(obj: np.ndarray, key: str) -> np.ndarray:
    """``pandas.util.hash_array(obj, hash_key=key)`` of byte strings, lean.

    pandas' public function spends about 20 us per call on dispatch, which a
    single-row request would pay twice: its Cython SipHash-2-4 is called
    directly when present, followed by the same finaliser that
    ``hash_array`` applies; otherwise the public function.
    """
    if _hash_object_array is None:  # pragma: no cover - a pandas without it
        return pd.util.hash_array(
            obj, encoding="latin-1", hash_key=key, categorize=False
        )
    return _splitmix_finaliser(_hash_object_array(obj, key, "latin-1"))


def _prf(words: np.ndarray, keys: tuple[str, str]) -> np.ndarray:
    """SipHash-2-4 of each row of uint64 ``words`` under both keys: ``(n, 2)``."""
    words = np.ascontiguousarray(words, dtype="<u8")
    # fixed-width byte strings: NumPy drops their trailing NUL bytes, which
    # stays injective since every input has the same width
    if len(words) <= _FEW:  # the same strings, without NumPy's fixed cost
        obj = np.empty(len(words), dtype=object)
        obj[:] = [row.tobytes().rstrip(b"\x00") for row in words]
    else:
        obj = words.view(f"S{words.itemsize * words.shape[1]}").ravel().astype(object)
    out = np.empty((len(obj), 2), dtype=np.uint64)
    for j, k in enumerate(keys):
        out[:, j] = _siphash(obj, k)
    return out


def _keyed_rows(parts, key: bytes) -> np.ndarray:
    """Keyed fingerprints of the rows of numeric column blocks side by side."""
    n = len(parts[0])
    widths = [p.shape[1] for p in parts]
    width = sum(widths)
    n_words = 2 * width
    K, prf_keys = _row_keys(key, width)
    if n <= _FEW:  # the same sums without the blocked loop's fixed cost
        A = np.concatenate([np.asarray(p, dtype=np.float64) for p in parts], axis=1)
        f = np.add(A, 0.0, order="C").view("<u4").astype(np.float64)  # -0.0 -> 0
        H = np.zeros((n, _STREAMS), dtype=np.uint64)
        for s in range(0, n_words, _SEGMENT):
            H += (f[:, s : s + _SEGMENT] @ K[s : s + _SEGMENT]).astype(np.uint64)
        return _prf(H, prf_keys)
    rows = max(1, min(n, _BLOCK_WORDS // n_words))
    values = np.empty((rows, width), dtype="<f8")
    words = np.empty((rows, n_words))
    sums = np.empty((rows, _STREAMS))
    H = np.zeros((n, _STREAMS), dtype=np.uint64)
    for i in range(0, n, rows):
        m = min(rows, n - i)
        f = words[:m]
        col = 0
        for p, w in zip(parts, widths, strict=True):
            block = p[i : i + m]
            dest = f[:, 2 * col : 2 * (col + w)]
            if block.dtype == "<f8" and block.flags.c_contiguous:
                np.copyto(dest, block.view("<u4"))  # -0.0 is fixed below
                hi = dest[:, 1::2]
                neg_zero = hi == _ZERO_HI
                if neg_zero.any():
                    hi[neg_zero & (dest[:, 0::2] == 0.0)] = 0.0
            else:
                v = values[:m, :w]
                np.add(block, 0.0, out=v, dtype=np.float64)  # -0.0 -> 0.0
                np.copyto(dest, v.view("<u4"))
            col += w
        h = H[i : i + m]
        for s in range(0, n_words, _SEGMENT):
            np.matmul(f[:, s : s + _SEGMENT], K[s : s + _SEGMENT], out=sums[:m])
            h += sums[:m].astype(np.uint64)
    return _prf(H, prf_keys)


def keyed_row_fingerprint(row: np.ndarray, key: bytes) -> np.ndarray:
    """The keyed fingerprint of one all-numeric row ``[x, y]``, shape ``(1, 2)``.

    The value :func:`fingerprint_array` gives that row (``row`` is its
    features followed by its targets, finite, as float64), computed with a
    dozen NumPy calls instead of the blocked loop built for many rows: what a
    single-row request pays.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn._fingerprint import (
    ...     fingerprint_array, keyed_row_fingerprint)
    >>> key = bytes(16)
    >>> one = keyed_row_fingerprint(np.array([1.0, 2.0, 0.0]), key)
    >>> bool((one == fingerprint_array(np.array([[1.0, 2.0]]), [0], key)).all())
    True
    """
    K, prf_keys = _row_keys(key, len(row))
    f = np.add(row, 0.0, order="C").view("<u4").astype(np.float64)  # -0.0 -> 0
    if len(f) <= _SEGMENT:
        words = (f @ K).astype("<u8")
    else:
        words = np.zeros(_STREAMS, dtype=np.uint64)
        for s in range(0, len(f), _SEGMENT):
            words += (f[s : s + _SEGMENT] @ K[s : s + _SEGMENT]).astype(np.uint64)
        words = words.astype("<u8")
    obj = np.empty(1, dtype=object)
    obj[0] = words.tobytes().rstrip(b"\x00")  # as NumPy's fixed-width bytes
    if _hash_object_array is None:  # pragma: no cover - a pandas without it
        return np.array([[_siphash(obj, k)[0] for k in prf_keys]], dtype=np.uint64)
    # SipHash, then pandas' finaliser on a Python integer
    out = [_finalise(int(_hash_object_array(obj, k, "latin-1")[0])) for k in prf_keys]
    return np.array([out], dtype=np.uint64)


def _keyed(digests: np.ndarray, key: bytes) -> np.ndarray:
    """The PRF of each 128-bit digest: the key reaches every fingerprint."""
    return _prf(digests, _prf_keys(_derive(key, b"digests", 32)))


def fingerprint_array(X, y, key: bytes | None = None) -> np.ndarray:
    """The fingerprints of :func:`fingerprint_rows` as an ``(n, 2)`` uint64 array.

    A ``numpy.memmap`` or ``dask.array.Array`` ``X`` is hashed one float64
    chunk at a time (in parallel through dask for a dask array), with the
    same values as the same rows in memory.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn._fingerprint import fingerprint_array, to_hex
    >>> keys = fingerprint_array(np.eye(3), [0, 1, 2])
    >>> keys.shape, keys.dtype.name
    ((3, 2), 'uint64')
    >>> len(to_hex(keys)[0])
    32
    """
    n = len(y)
    if n == 0:
        return _EMPTY.copy()
    Y = np.asarray(y).reshape(n, -1)
    if is_out_of_core(X):  # a memmap or dask array: chunk by chunk, same values
        return as_chunked(X).map_reduce(
            partial(fingerprint_array, key=key), Y, how="concat"
        )
    if hasattr(X, "toarray") and X.shape[0] > _SPARSE_CHUNK:
        # densify a few rows at a time: memory stays bounded for wide data
        parts = [
            fingerprint_array(X[i : i + _SPARSE_CHUNK], Y[i : i + _SPARSE_CHUNK], key)
            for i in range(0, n, _SPARSE_CHUNK)
        ]
        return np.concatenate(parts)
    parts = None  # all numeric: column blocks whose rows are hashed as float64
    if not isinstance(X, pd.DataFrame | pd.Series) and Y.dtype.kind in "biuf":
        Xa = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        if Xa.dtype.kind in "biuf":
            parts = [Xa.reshape(n, -1), Y]
    elif Y.dtype.kind in "biuf" and _all_numeric_frame(X):
        # what _as_frame would give, without pandas arithmetic per column
        parts = [X.to_numpy(dtype=np.float64, na_value=np.nan).reshape(n, -1), Y]
    if parts is None:
        frame = pd.concat([_as_frame(X, n), _as_frame(Y, n)], axis=1, ignore_index=True)
        if all(t == np.float64 for t in frame.dtypes):
            parts = [frame.to_numpy(dtype=np.float64)]
    if parts is not None and key is not None:
        return _keyed_rows(parts, key)
    if parts is not None:
        # the first 128 bits of SHA-256 of each row's float64 bytes
        # (hardware-accelerated on current x86 and ARM cores, where it beats
        # BLAKE2b on rows of a few hundred bytes)
        A = np.concatenate([np.asarray(p, dtype=np.float64) for p in parts], axis=1)
        A += 0.0  # -0.0 -> 0.0
        raw, w = memoryview(np.ascontiguousarray(A)).cast("B"), A.shape[1] * 8
        rows = (raw[i : i + w] for i in range(0, n * w, w))
        digests = b"".join([sha256(r).digest()[:16] for r in rows])
        return np.frombuffer(digests, dtype=">u8").astype(np.uint64).reshape(n, 2)
    digests = np.column_stack(
        [
            pd.util.hash_pandas_object(frame, index=False, hash_key=k).to_numpy()
            for k in _KEYS
        ]
    ).astype(np.uint64)
    # pandas hashes numeric columns without its key: the secret enters here
    return digests if key is None else _keyed(digests, key)


def to_hex(keys) -> np.ndarray:
    """Fingerprint words ``(n, 2)`` as 32-character hex strings."""
    keys = np.asarray(keys, dtype=np.uint64).reshape(-1, 2)
    out = np.empty(len(keys), dtype=object)
    h = keys.astype(">u8").tobytes().hex()
    out[:] = [h[i : i + 32] for i in range(0, len(h), 32)]
    return out


def as_key_array(keys) -> np.ndarray:
    """Accept fingerprints as words ``(n, 2)`` or as hex strings; return words."""
    if isinstance(keys, np.ndarray) and keys.dtype == np.uint64:
        return keys if keys.ndim == 2 else keys.reshape(-1, 2)
    keys = list(keys)
    if not keys:
        return _EMPTY.copy()
    try:
        raw = bytes.fromhex("".join(keys))
    except (TypeError, ValueError) as exc:
        raise TypeError("fingerprints must be 32-character hex strings.") from exc
    if len(raw) != 16 * len(keys):
        raise TypeError("fingerprints must be 32-character hex strings.")
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(-1, 2)


def _numeric_column(dtype) -> bool:
    """Whether :func:`_as_frame` hashes a column of ``dtype`` as float64."""
    return pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)


def _all_numeric_frame(X) -> bool:
    """A DataFrame or Series whose every column is hashed as float64."""
    if isinstance(X, pd.Series):
        return _numeric_column(X.dtype) and X.dtype.kind != "c"
    return isinstance(X, pd.DataFrame) and all(
        _numeric_column(t) and t.kind != "c" for t in X.dtypes
    )


def _as_frame(X, n) -> pd.DataFrame:
    """Columns to hash: numeric ones as float64, the rest as they are."""
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, pd.DataFrame):
        cols = {}
        for j, (_, col) in enumerate(X.items()):
            if _numeric_column(col.dtype):  # in NumPy: a Series op costs ~0.1 ms
                cols[j] = col.to_numpy(dtype=np.float64, na_value=np.nan) + 0.0
            else:
                cols[j] = col.to_numpy()
        return pd.DataFrame(cols)
    if hasattr(X, "toarray"):
        X = X.toarray()
    A = np.asarray(X).reshape(n, -1)
    if A.dtype.kind in "biuf":
        A = A.astype(np.float64) + 0.0  # -0.0 -> 0.0
    return pd.DataFrame(A)


def _distinct(pos: np.ndarray) -> bool:
    """Whether no value repeats in ``pos``."""
    if len(pos) < 2:
        return True
    ordered = np.sort(pos)
    return not bool((ordered[1:] == ordered[:-1]).any())


def _occurrence(pos: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries hold the same value."""
    order = np.argsort(pos, kind="stable")
    sorted_pos = pos[order]
    idx = np.arange(len(pos))
    first = np.r_[True, sorted_pos[1:] != sorted_pos[:-1]] if len(pos) else idx > 0
    start = np.maximum.accumulate(np.where(first, idx, 0))
    rank = np.empty_like(idx)
    rank[order] = idx - start
    return rank


def _pairs(keys: np.ndarray, w: np.ndarray):
    """``(key as a tuple of two ints, weight)`` for each row; lengths must match."""
    if len(w) != len(keys):
        raise ValueError("one weight per key is needed.")
    return zip(map(tuple, keys.tolist()), w.tolist(), strict=True)


def _batch_occurrence(keys: np.ndarray) -> np.ndarray:
    """For each key, how many earlier keys of the batch are the same."""
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    k = keys[order]
    group = np.cumsum(np.r_[True, np.any(k[1:] != k[:-1], axis=1)])
    ids = np.empty(len(keys), dtype=np.intp)
    ids[order] = group
    return _occurrence(ids)


class RowMultiset:
    """Counts of trained row fingerprints with each copy's sample weight.

    Distinct fingerprints are kept sorted (two ``uint64`` words each) beside
    their number of copies; a fingerprint whose last copy is removed leaves a
    zero count that is dropped at the next compaction (and never pickled).
    ``remove`` checks a whole request first and changes nothing unless every
    row is present as often as it is asked for; duplicate rows are separate
    copies, and one request removes one copy per occurrence. Only copies whose
    weight is not 1 have their weight stored.

    Every method takes fingerprints as an ``(n, 2)`` uint64 array or as hex
    strings.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn._fingerprint import RowMultiset, fingerprint_array
    >>> keys = fingerprint_array(np.array([[1.0], [2.0], [1.0]]), [0, 0, 0])
    >>> ms = RowMultiset()
    >>> ms.add(keys, np.ones(3))
    >>> len(ms), sorted(ms.counter().values())
    (3, [1, 2])
    >>> ms.missing(keys[[0, 0, 0]]).tolist()  # only two copies of row 0
    [2]
    """

    def __init__(self):
        self._hi = np.zeros(0, dtype=np.uint64)
        self._lo = np.zeros(0, dtype=np.uint64)
        self._count = np.zeros(0, dtype=np.int64)
        # weights of every copy, in insertion order, for fingerprints with a
        # copy whose weight is not 1 (keyed by the two words)
        self._weights: dict[tuple[int, int], list[float]] = {}
        self._n = 0
        self._dead = 0
        self._version = 0  # bumped by every change

    def __len__(self) -> int:
        return self._n

    def copy(self) -> RowMultiset:
        new = RowMultiset()
        new._hi, new._lo = self._hi.copy(), self._lo.copy()
        new._count = self._count.copy()
        new._weights = {k: list(v) for k, v in self._weights.items()}
        new._n, new._dead, new._version = self._n, self._dead, self._version
        return new

    def __getstate__(self):
        self._compact()
        state = self.__dict__.copy()
        state.pop("_memo", None)
        return state

    # ------------------------------------------------------------ lookup
    def _locate(self, keys: np.ndarray) -> np.ndarray:
        """Index of each key in the sorted arrays, ``-1`` where it is absent.

        The last answer is remembered for the same key array until the
        multiset changes: an update checks, peeks and removes the same keys.
        """
        memo = self.__dict__.get("_memo")
        if memo is not None and memo[0] is keys and memo[1] == self._version:
            return memo[2]
        out = self._search(keys)
        self._memo = (keys, self._version, out)
        return out

    def _search(self, keys: np.ndarray) -> np.ndarray:
        if not len(self._hi) or not len(keys):
            return np.full(len(keys), -1, dtype=np.intp)
        if len(keys) == 1:  # one row: a scalar search, no sorting
            hi, lo = keys[0]
            j = int(self._hi.searchsorted(hi))
            while j < len(self._hi) and self._hi[j] == hi:
                if self._lo[j] == lo:
                    return np.array([j], dtype=np.intp)
                j += 1
            return np.array([-1], dtype=np.intp)
        hi, lo = keys[:, 0], keys[:, 1]
        order = np.argsort(hi)  # sorted needles walk the array once
        pos = np.empty(len(keys), dtype=np.intp)
        pos[order] = np.searchsorted(self._hi, hi[order])
        inside = pos < len(self._hi)
        pos_in = np.where(inside, pos, 0)
        same_hi = inside & (self._hi[pos_in] == hi)
        found = same_hi & (self._lo[pos_in] == lo)
        out = np.where(found, pos, -1)
        # two fingerprints sharing their first word: scan that run (rare)
        for i in np.flatnonzero(same_hi & ~found):
            j = pos[i] + 1
            while j < len(self._hi) and self._hi[j] == hi[i]:
                if self._lo[j] == lo[i]:
                    out[i] = j
                    break
                j += 1
        return out

    def _copies_at(self, pos: np.ndarray) -> np.ndarray:
        """Copies held at each located index (0 where absent)."""
        if not len(self._count):
            return np.zeros(len(pos), dtype=np.int64)
        return np.where(pos >= 0, self._count[np.maximum(pos, 0)], 0)

    def _held(self, key: tuple[int, int], count: int) -> list[float]:
        return self._weights.get(key) or [1.0] * count

    # ------------------------------------------------------------ queries
    def count(self, keys) -> np.ndarray:
        """Copies held of each fingerprint in ``keys`` (0 where absent)."""
        keys = as_key_array(keys)
        pos = self._locate(keys)
        if len(pos) == 1:  # one row: scalar indexing
            j = int(pos[0])
            return np.array([self._count[j] if j >= 0 else 0], dtype=np.int64)
        return self._copies_at(pos)

    def missing(self, keys, weights=None) -> np.ndarray:
        """Positions in ``keys`` asked for more often than they are held.

        With ``weights``, a position is missing too when no held copy of that
        row has that sample weight.
        """
        keys = as_key_array(keys)
        pos = self._locate(keys)
        have = self._copies_at(pos)
        if weights is None:
            if _distinct(pos):  # the common case: one sort, no ranks
                return np.flatnonzero((pos < 0) | (have < 1))
            bad = (pos < 0) | (_occurrence(pos) >= have)
            return np.flatnonzero(bad)
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        seen: Counter = Counter()
        bad = []
        for i, (k, wi) in enumerate(_pairs(keys, w)):
            seen[(k, wi)] += 1
            if seen[(k, wi)] > sum(1 for h in self._held(k, have[i]) if h == wi):
                bad.append(i)
        return np.asarray(bad, dtype=int)

    def peek_weights(self, keys) -> np.ndarray:
        """The weights ``remove(keys)`` would return, without removing."""
        keys = as_key_array(keys)
        out = np.ones(len(keys))
        if self._weights:
            taken: Counter = Counter()
            for i, k in enumerate(map(tuple, keys.tolist())):
                held = self._weights.get(k)
                if held is not None:
                    taken[k] += 1
                    out[i] = held[-taken[k]]
        return out

    def counter(self) -> Counter:
        """Hex fingerprint -> number of copies held."""
        alive = self._count > 0
        words = np.column_stack([self._hi[alive], self._lo[alive]])
        counts = self._count[alive].tolist()
        return Counter(dict(zip(to_hex(words), counts, strict=True)))

    def keys(self) -> np.ndarray:
        """Every held copy's fingerprint, ``(n, 2)``, sorted (copies repeated)."""
        alive = self._count > 0
        words = np.column_stack([self._hi[alive], self._lo[alive]])
        return np.repeat(words, self._count[alive], axis=0)

    # ---------------------------------------------------------- mutation
    def add(self, keys, weights) -> None:
        keys = as_key_array(keys)
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if len(w) != len(keys):
            raise ValueError("one weight per key is needed.")
        if not len(keys):
            return
        pos = self._locate(keys)
        self._version += 1
        if self._weights or np.any(w != 1.0):
            have = self._copies_at(pos)
            before = _batch_occurrence(keys)  # earlier copies in this batch
            for i, (k, wi) in enumerate(_pairs(keys, w)):
                if wi != 1.0 or k in self._weights:
                    held = self._weights.setdefault(k, [1.0] * int(have[i] + before[i]))
                    held.append(wi)
        old = pos >= 0
        if old.any():
            revived = np.sort(pos[old & (self._copies_at(pos) == 0)])
            self._dead -= int(len(revived) and 1 + np.count_nonzero(np.diff(revived)))
            np.add.at(self._count, pos[old], 1)
        if not old.all():
            new = keys[~old]
            order = np.lexsort((new[:, 1], new[:, 0]))
            new = new[order]
            first = np.r_[True, np.any(new[1:] != new[:-1], axis=1)]
            starts = np.flatnonzero(first)
            counts = np.diff(np.r_[starts, len(new)])
            self._insert(new[starts], counts)
        self._n += len(keys)

    def _insert(self, words: np.ndarray, counts: np.ndarray) -> None:
        """Insert distinct absent fingerprints (sorted) with their counts."""
        hi = np.concatenate([self._hi, words[:, 0]])
        lo = np.concatenate([self._lo, words[:, 1]])
        count = np.concatenate([self._count, counts.astype(np.int64)])
        order = np.lexsort((lo, hi))
        self._hi, self._lo, self._count = hi[order], lo[order], count[order]

    def remove(self, keys, weights=None, *, checked: bool = False) -> np.ndarray:
        """Remove one copy per key and return the removed copies' weights.

        The whole request is checked first: if any row is missing, a
        ``KeyError`` carrying the positions is raised and nothing changes.
        With ``weights`` given, the copy with that weight is removed;
        otherwise the most recently added copy. ``checked=True`` skips the
        check when the caller has just made it.
        """
        keys = as_key_array(keys)
        bad = () if checked else self.missing(keys, weights)
        if len(bad):
            raise KeyError(bad)
        if weights is None:
            out = self.peek_weights(keys)
        else:
            out = np.asarray(weights, dtype=np.float64).reshape(-1).copy()
        if not len(keys):
            return out
        if self._weights:
            for k, wi in zip(map(tuple, keys.tolist()), out.tolist(), strict=True):
                held = self._weights.get(k)
                if held is not None:
                    if weights is None:
                        held.pop()
                    else:
                        held.remove(wi)
                    if not held or all(h == 1.0 for h in held):
                        del self._weights[k]
        pos = self._locate(keys)
        self._version += 1
        if len(pos) == 1:  # one row: scalar indexing
            j = int(pos[0])
            self._count[j] -= 1
            self._dead += int(self._count[j] == 0)
        else:
            if _distinct(pos):  # fancy indexing; ufunc.at only for repeats
                self._count[pos] -= 1
            else:
                np.subtract.at(self._count, pos, 1)
            gone = np.sort(pos[self._count[pos] == 0])
            self._dead += int(len(gone) and 1 + np.count_nonzero(np.diff(gone)))
        self._n -= len(keys)
        if self._dead > max(64, len(self._count) // 8):
            self._compact()
        return out

    def _compact(self) -> None:
        """Drop fingerprints with no copy left."""
        if self._dead:
            alive = self._count > 0
            self._hi, self._lo = self._hi[alive], self._lo[alive]
            self._count = self._count[alive]
            self._dead = 0
            self._version += 1
