"""What a fitted preprocessor must remember, beyond its own state, to be downdated."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.sparsefuncs import mean_variance_axis

from ._stats import category_counts, group_stats
from ._tree import ENCODER, SCALER, Batch, Visitor, describe, structure, traverse

__all__ = ["PreprocessingRecord"]


class PreprocessingRecord:
    """Aggregate counts that a fitted preprocessor needs to be downdated.

    Build it with :meth:`from_fitted` right after fitting the preprocessor,
    from the same rows. It holds numbers of rows and, for every
    ``OneHotEncoder``/``OrdinalEncoder``, how many training rows hold each
    category; for every ``StandardScaler`` whether it was fitted with sample
    weights (its own ``n_samples_seen_``, ``mean_`` and ``var_`` are the
    sums it needs). It never stores a row.

    Records are immutable: :func:`downdate_preprocessing` returns a new one.

    Parameters
    ----------
    n_rows : int
        Number of training rows the preprocessor currently summarises.
    total_weight : float
        Their total sample weight (``n_rows`` without weights).
    scaler_weighted : dict of str to bool
        For each ``StandardScaler`` (by path), whether it used sample weights.
    category_counts : dict of str to tuple of ndarray
        For each encoder (by path), per input feature, the number of training
        rows holding each of its ``categories_``.
    structure : tuple of (str, str)
        ``(path, class name)`` of every step, to check that a record belongs
        to the preprocessor it is used with.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import OneHotEncoder
    >>> from sklearn_unlearn.preprocessing import PreprocessingRecord
    >>> X = np.array([["a"], ["b"], ["a"]], dtype=object)
    >>> record = PreprocessingRecord.from_fitted(OneHotEncoder().fit(X), X)
    >>> record.category_counts[""]
    (array([2, 1]),)
    """

    __slots__ = (
        "n_rows",
        "total_weight",
        "scaler_weighted",
        "category_counts",
        "structure",
    )

    def __init__(
        self,
        *,
        n_rows: int,
        total_weight: float,
        scaler_weighted: dict[str, bool],
        category_counts: dict[str, tuple[np.ndarray, ...]],
        structure: tuple[tuple[str, str], ...],
    ):
        self.n_rows = int(n_rows)
        self.total_weight = float(total_weight)
        self.scaler_weighted = dict(scaler_weighted)
        self.category_counts = {
            k: tuple(np.asarray(c, dtype=np.int64) for c in v)
            for k, v in category_counts.items()
        }
        self.structure = tuple(structure)

    def __repr__(self) -> str:
        return (
            f"PreprocessingRecord(n_rows={self.n_rows}, "
            f"scalers={len(self.scaler_weighted)}, "
            f"encoders={len(self.category_counts)})"
        )

    def evolve(self, **changes) -> PreprocessingRecord:
        """A copy with some fields replaced."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        return PreprocessingRecord(**fields)

    @classmethod
    def from_fitted(cls, preprocessor, X, sample_weight=None) -> PreprocessingRecord:
        """Record what ``preprocessor``, fitted on ``X``, needs to be downdated.

        Parameters
        ----------
        preprocessor : fitted transformer
            A ``StandardScaler``, ``ColumnTransformer``, ``FeatureUnion``, a
            ``Pipeline`` of transformers (``pipeline[:-1]``) or any
            combination of these.
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            The rows ``preprocessor`` was fitted on, as passed to its ``fit``.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights the rows were fitted with. Each ``StandardScaler``
            is checked against them: whether it used them is read off its
            ``n_samples_seen_`` (and ``mean_`` when that is ambiguous).

        Returns
        -------
        PreprocessingRecord

        Raises
        ------
        ValueError
            If a ``StandardScaler``'s ``n_samples_seen_`` matches neither the
            rows of ``X`` nor their weights: it was not fitted on them.
        """
        n = _num_rows(X)
        if n == 0:
            raise ValueError("X has no rows.")
        w = None
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            if w.shape != (n,):
                raise ValueError(
                    f"sample_weight has {w.shape[0]} entries for {n} rows of X."
                )
        visitor = _RecordVisitor(w)
        traverse(preprocessor, preprocessor, Batch([X]), "", None, visitor)
        return cls(
            n_rows=n,
            total_weight=float(n if w is None else w.sum()),
            scaler_weighted=visitor.scalers,
            category_counts=visitor.encoders,
            structure=structure(preprocessor),
        )


def _num_rows(X) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


class _RecordVisitor(Visitor):
    def __init__(self, w):
        self.w = w
        self.scalers: dict[str, bool] = {}
        self.encoders: dict[str, tuple] = {}

    def leaf(self, kind, old, new, batch, path, in_map):
        X = batch.parts[0]
        if kind == SCALER:
            self.scalers[path] = _scaler_weighted(old, X, self.w, path)
        elif kind == ENCODER:
            counts, _ = category_counts(old, X)
            self.encoders[path] = tuple(counts)
        return None


def _close(a, b) -> bool:
    return bool(np.allclose(a, b, rtol=1e-9, atol=1e-9))


def _scaler_weighted(scaler, X, w, path) -> bool:
    """Whether ``scaler`` was fitted on ``X`` with weights ``w`` (or without)."""
    d = X.shape[1]
    n_seen = np.broadcast_to(np.asarray(scaler.n_samples_seen_, np.float64), (d,))
    sparse = sp.issparse(X)
    if sparse:
        X = sp.csc_matrix(X)
        nan_mask = X.copy()
        nan_mask.data = np.isnan(nan_mask.data).astype(np.float64)
        nan_count = np.asarray(nan_mask.sum(axis=0)).ravel()
        count = X.shape[0] - nan_count
        W = None if w is None else w.sum() - np.asarray(nan_mask.T @ w).ravel()
    else:
        count, W_, _, _ = group_stats(X, w)
        W = None if w is None else W_
    name = describe(scaler, path)
    if w is None:
        if not _close(n_seen, count):
            raise ValueError(
                f"{name}: n_samples_seen_ does not match the rows of X; it was "
                "fitted with sample weights (pass them as sample_weight) or on "
                "other rows."
            )
        return False
    counts_only = not scaler.with_mean and not scaler.with_std and not sparse
    match_c, match_w = _close(n_seen, count), _close(n_seen, W)
    if counts_only:
        if not match_c:
            raise ValueError(f"{name}: n_samples_seen_ does not match the rows of X.")
        return False
    if match_w and not match_c:
        return True
    if match_c and not match_w:
        return False
    if not (match_c or match_w):
        raise ValueError(
            f"{name}: n_samples_seen_ matches neither the number of rows of X "
            "nor their total sample weight; it was fitted on other rows."
        )
    # weights summing to the number of rows: tell by the mean
    if getattr(scaler, "mean_", None) is None:
        return True
    if sparse:
        mean_w = mean_variance_axis(X, axis=0, weights=w)[0]
        mean_u = mean_variance_axis(X, axis=0)[0]
    else:
        mean_w = group_stats(X, w)[2]
        mean_u = group_stats(X, None)[2]
    err_w = np.max(np.abs(scaler.mean_ - mean_w), initial=0.0)
    err_u = np.max(np.abs(scaler.mean_ - mean_u), initial=0.0)
    return bool(err_w <= err_u)
