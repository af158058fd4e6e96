"""Rows that do not fit in memory: a ``numpy.memmap`` or a ``dask.array.Array``.

:class:`ChunkedRows` wraps such a matrix and never holds more than one
chunk of it as float64 at a time. Its one operation, :meth:`ChunkedRows.map_reduce`,
applies a function to each chunk (a float64 ndarray, with the matching
slices of any row-aligned vectors) and combines the results:

* a **memmap** is read chunk after chunk; inside
  ``joblib.parallel_config(n_jobs=k)`` the chunks run on ``k`` threads
  (NumPy's BLAS releases the GIL);
* a **dask array** becomes one ``dask.delayed`` task per block (each block
  is cut again into chunks before it is cast to float64) and a tree of
  partial sums, evaluated by a single ``dask.compute``: the same code runs
  on the threaded scheduler and on a ``dask.distributed`` cluster.

Everything that is linear in the rows (gradients, Hessians, Gram matrices,
loss values, row norms, fingerprints) is such a sum, so the estimators and
the linear adapter accept these rows wherever they accept an ndarray. Row
vectors (targets, weights) stay in memory: eight bytes per row, as little as
the fingerprints that must be kept anyway.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "ChunkedRows",
    "as_chunked",
    "check_chunked_rows",
    "is_out_of_core",
    "take_rows",
]

#: float64 bytes per chunk of rows: 32 MiB, 40,000 rows of 100 features
DEFAULT_CHUNK_BYTES = 32 * 2**20
_FAN_IN = 8  # partial results combined per task of the dask reduction tree


def _is_dask_array(X) -> bool:
    return type(X).__module__.startswith("dask.array") and hasattr(X, "chunks")


def is_out_of_core(X) -> bool:
    """Whether ``X`` is read in chunks: a memmap, a dask array or :class:`ChunkedRows`.

    Decided without importing dask.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.utils._out_of_core import is_out_of_core
    >>> is_out_of_core(np.zeros((2, 2)))
    False
    """
    return isinstance(X, ChunkedRows | np.memmap) or _is_dask_array(X)


class ChunkedRows:
    """The rows of a memmap or dask matrix, read as float64 one chunk at a time.

    Parameters
    ----------
    data : numpy.memmap or dask.array.Array of shape (n_samples, n_features)
        Any real dtype; every chunk is cast to float64 when it is read.
    index : ndarray of int, default=None
        Only these rows of a memmap, in this order (dask arrays are indexed
        lazily by dask instead).
    chunk_bytes : int, default=None
        Bytes of a float64 chunk; ``None`` uses ``DEFAULT_CHUNK_BYTES`` (32 MiB).
    validated : bool, default=False
        Set by :func:`check_chunked_rows` once every entry is known finite.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn_unlearn.utils._out_of_core import ChunkedRows
    >>> path = os.path.join(tempfile.mkdtemp(), "X.f32")
    >>> X = np.memmap(path, dtype=np.float32, mode="w+", shape=(1000, 3))
    >>> X[:] = 1.0
    >>> rows = ChunkedRows(X, chunk_bytes=3200)  # 100 rows of 4 float64 columns
    >>> rows.shape, rows.chunk_rows
    ((1000, 3), 100)
    >>> float(rows.map_reduce(lambda Xb: Xb.sum()))
    3000.0
    """

    ndim = 2
    dtype = np.dtype(np.float64)

    def __init__(self, data, *, index=None, chunk_bytes=None, validated=False):
        if isinstance(data, ChunkedRows):
            raise TypeError("data is already ChunkedRows.")
        self.data = data
        self.index = None if index is None else np.asarray(index, dtype=np.intp)
        self.chunk_bytes = int(chunk_bytes or DEFAULT_CHUNK_BYTES)
        self.validated = validated

    # ----------------------------------------------------------- geometry
    @property
    def is_dask(self) -> bool:
        return _is_dask_array(self.data)

    @property
    def shape(self) -> tuple[int, int]:
        n = len(self.index) if self.index is not None else self.data.shape[0]
        return (int(n), int(self.data.shape[1]))

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def chunk_rows(self) -> int:
        """Rows per float64 chunk: ``chunk_bytes / (8 (n_features + 1))``."""
        return max(1, self.chunk_bytes // (8 * (self.shape[1] + 1)))

    def __repr__(self) -> str:
        kind = "dask" if self.is_dask else "memmap"
        return f"ChunkedRows({kind}, shape={self.shape}, chunk_rows={self.chunk_rows})"

    # ------------------------------------------------------------- reading
    def _read(self, s: slice) -> np.ndarray:
        """Rows ``s`` of a memmap in their stored dtype (a view when possible)."""
        if self.index is None:
            return self.data[s]
        return self.data[self.index[s]]

    def take(self, index) -> np.ndarray:
        """The rows at positions ``index`` as a float64 ndarray (few rows only)."""
        index = np.asarray(index, dtype=np.intp)
        if self.is_dask:
            block = np.asarray(self.data[index].compute())
        else:
            pos = index if self.index is None else self.index[index]
            block = self.data[pos]
        return np.array(block, dtype=np.float64, copy=True).reshape(len(index), -1)

    def subset(self, index) -> ChunkedRows:
        """The rows at positions ``index``, still read chunk by chunk."""
        index = np.asarray(index, dtype=np.intp)
        if self.is_dask:
            return ChunkedRows(
                self.data[index],
                chunk_bytes=self.chunk_bytes,
                validated=self.validated,
            )
        pos = index if self.index is None else self.index[index]
        return ChunkedRows(
            self.data, index=pos, chunk_bytes=self.chunk_bytes, validated=self.validated
        )

    # ----------------------------------------------------------- reducing
    def map_reduce(self, fn: Callable, *row_arrays, how: str = "sum"):
        """Apply ``fn(X_chunk, *row_array_chunks)`` to every chunk and combine.

        Parameters
        ----------
        fn : callable
            Takes a float64 ndarray of rows and the matching slices of
            ``row_arrays``; returns a number, an ndarray or a tuple of them.
        *row_arrays : ndarray of length n_samples
            Row-aligned vectors (targets, weights), held in memory.
        how : {"sum", "max", "concat"}, default="sum"
            How chunk results are combined (a tuple entry by entry);
            ``"concat"`` stacks arrays along their first axis in row order.

        Returns
        -------
        The combined result.
        """
        if how not in _COMBINE:
            raise ValueError(f"how must be one of {sorted(_COMBINE)}, got {how!r}.")
        n = self.shape[0]
        for a in row_arrays:
            if len(a) != n:
                raise ValueError(
                    f"a row-aligned array has {len(a)} entries for {n} rows."
                )
        if self.is_dask:
            return self._map_reduce_dask(fn, row_arrays, how)
        return self._map_reduce_memmap(fn, row_arrays, how)

    def _slices(self) -> list[slice]:
        n, step = self.shape[0], self.chunk_rows
        return [slice(i, min(n, i + step)) for i in range(0, n, step)]

    def _map_reduce_memmap(self, fn, row_arrays, how):
        from joblib import Parallel, delayed

        tasks = (
            delayed(_apply_to_block)(
                fn,
                self._read(s),
                tuple(a[s] for a in row_arrays),
                self.chunk_rows,
                how,
            )
            for s in self._slices()
        )
        results = Parallel(prefer="threads", return_as="generator")(tasks)
        if how == "concat":
            return _COMBINE[how](list(results))
        total = None
        for r in results:  # fold as chunks finish: O(n_jobs) partials held
            total = r if total is None else _COMBINE[how]([total, r])
        return total

    def _map_reduce_dask(self, fn, row_arrays, how):
        import dask

        data = self.data
        if len(data.chunks[1]) > 1:  # a chunk holds whole rows
            data = data.rechunk({1: -1})
        blocks = data.to_delayed().ravel()
        bounds = np.cumsum((0,) + tuple(data.chunks[0]))
        parts = [
            dask.delayed(_apply_to_block, pure=False)(
                fn,
                block,
                tuple(a[lo:hi] for a in row_arrays),
                self.chunk_rows,
                how,
            )
            for block, lo, hi in zip(blocks, bounds[:-1], bounds[1:], strict=True)
            if hi > lo
        ]
        if how == "concat":
            return _COMBINE[how](list(dask.compute(*parts)))
        while len(parts) > 1:  # a tree: the client receives one result
            parts = [
                dask.delayed(_COMBINE[how], pure=False)(parts[i : i + _FAN_IN])
                for i in range(0, len(parts), _FAN_IN)
            ]
        return dask.compute(parts[0])[0]


def _apply_to_block(fn, block, row_parts, chunk_rows, how):
    """``fn`` on float64 chunks of one block (a memmap slice or a dask block)."""
    results = []
    total = None
    for i in range(0, block.shape[0], chunk_rows):
        Xc = np.asarray(block[i : i + chunk_rows], dtype=np.float64)
        r = fn(Xc, *(a[i : i + chunk_rows] for a in row_parts))
        if how == "concat":
            results.append(r)
        else:
            total = r if total is None else _COMBINE[how]([total, r])
    return _COMBINE[how](results) if how == "concat" else total


def _sum(parts):
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(_sum([p[k] for p in parts]) for k in range(len(first)))
    total = first.copy() if isinstance(first, np.ndarray) else first
    for p in parts[1:]:
        total = total + p
    return total


def _max(parts):
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(_max([p[k] for p in parts]) for k in range(len(first)))
    return max(parts)


def _concat(parts):
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(_concat([p[k] for p in parts]) for k in range(len(first)))
    return np.concatenate(parts)


_COMBINE = {"sum": _sum, "max": _max, "concat": _concat}


def as_chunked(X, *, chunk_bytes=None) -> ChunkedRows:
    """``X`` as :class:`ChunkedRows` (returned as is when it already is).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn_unlearn.utils._out_of_core import as_chunked
    >>> path = os.path.join(tempfile.mkdtemp(), "X.f32")
    >>> as_chunked(np.memmap(path, dtype=np.float32, mode="w+", shape=(10, 2))).shape
    (10, 2)
    """
    if isinstance(X, ChunkedRows):
        return X
    return ChunkedRows(X, chunk_bytes=chunk_bytes)


def check_chunked_rows(X, *, n_features: int | None = None) -> ChunkedRows:
    """Validate out-of-core rows chunk by chunk, as ``check_array`` would in memory.

    Checks the number of dimensions, a real numeric dtype, known dask chunk
    sizes, at least one row and one column, the width when ``n_features`` is
    given and, in one pass over the data, that every entry is finite.

    Parameters
    ----------
    X : numpy.memmap, dask.array.Array or ChunkedRows
    n_features : int, default=None
        The width the rows must have.

    Returns
    -------
    ChunkedRows
        Marked ``validated``; nothing is copied.

    Raises
    ------
    ValueError
        Naming what is wrong; ``TypeError`` for a non-numeric dtype.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn_unlearn.utils._out_of_core import check_chunked_rows
    >>> path = os.path.join(tempfile.mkdtemp(), "X.f64")
    >>> X = np.memmap(path, dtype=np.float64, mode="w+", shape=(2, 2))
    >>> X[0, 1] = np.nan
    >>> try:
    ...     check_chunked_rows(X)
    ... except ValueError as exc:
    ...     print(exc)
    Input X contains NaN or infinity (1 entries).
    """
    rows = as_chunked(X)
    data = rows.data
    if data.ndim != 2:
        raise ValueError(
            f"Expected a 2-dimensional array, got {data.ndim} dimension(s) "
            f"of shape {data.shape}."
        )
    if rows.is_dask and any(np.isnan(c) for c in data.chunks[0]):
        raise ValueError(
            "The dask array has unknown chunk sizes (after boolean indexing, say); "
            "call X.compute_chunk_sizes() first."
        )
    kind = data.dtype.kind
    if kind == "c":
        raise ValueError("Complex data not supported.")
    if kind not in "biuf":
        raise TypeError(
            f"Out-of-core X must have a real numeric dtype, got {data.dtype}."
        )
    n, d = rows.shape
    if n == 0 or d == 0:
        raise ValueError(
            f"Found array with {n} sample(s) and {d} feature(s) (shape={rows.shape}); "
            "at least 1 of each is required."
        )
    if n_features is not None and d != n_features:
        raise ValueError(
            f"X has {d} features, but the model is expecting {n_features} "
            "features as input."
        )
    if not rows.validated:
        if kind == "f":
            bad = rows.map_reduce(lambda Xb: np.count_nonzero(~np.isfinite(Xb)))
            if bad:
                raise ValueError(f"Input X contains NaN or infinity ({bad} entries).")
        rows.validated = True
    return rows


def take_rows(X, mask, *, max_rows: int | None = None):
    """Rows of ``X`` where the boolean ``mask`` is true.

    In memory: scikit-learn's ``_safe_indexing``. Out of core: a float64
    ndarray when at most ``max_rows`` rows (default: one chunk) are taken,
    otherwise :class:`ChunkedRows` over the selected rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.utils._out_of_core import take_rows
    >>> take_rows(np.arange(6.0).reshape(3, 2), np.array([True, False, True]))
    array([[0., 1.],
           [4., 5.]])
    """
    if not isinstance(X, ChunkedRows):
        from sklearn.utils import _safe_indexing

        return _safe_indexing(X, mask)
    index = np.flatnonzero(mask)
    limit = X.chunk_rows if max_rows is None else max_rows
    if len(index) <= limit:
        return X.take(index)
    return X.subset(index)
