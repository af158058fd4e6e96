"""Downdate a fitted preprocessor: the state a refit on the remaining rows gives."""

from __future__ import annotations

import copy

import numpy as np
import scipy.sparse as sp

from ._affine import ColumnMap
from ._record import PreprocessingRecord, _num_rows
from ._stats import (
    category_counts,
    chan_add,
    chan_remove,
    group_stats,
    scale_from_var,
)
from ._tree import (
    SCALER,
    Batch,
    Visitor,
    describe,
    leaf_state_note,
    structure,
    traverse,
)

__all__ = ["PreprocessingStateWarning", "downdate_preprocessing"]

#: Relative rounding error of a downdated variance above which we say so.
_PRECISION_NOTE = 1e-6


class PreprocessingStateWarning(UserWarning):
    """A preprocessing step still holds statistics of forgotten rows.

    Raised by :class:`~sklearn_unlearn.pipeline.UnlearnPipeline` when a step
    could not be downdated exactly; the notes name each step and what it
    still holds.
    """


class _NotAffine(Exception):
    def __init__(self, sources: frozenset, culprit: str):
        super().__init__(culprit)
        self.sources = sources
        self.culprit = culprit


def downdate_preprocessing(
    preprocessor,
    record: PreprocessingRecord,
    X_remove,
    X_add=None,
    sample_weight_remove=None,
    sample_weight_add=None,
) -> tuple[object, PreprocessingRecord, np.ndarray, list[str]]:
    """A copy of a fitted preprocessor, refitted as if rows were removed or added.

    Every ``StandardScaler`` in ``preprocessor`` (alone, in a
    ``ColumnTransformer``, a ``FeatureUnion`` or a nested ``Pipeline``) gets
    exactly the ``mean_``, ``var_``, ``scale_`` and ``n_samples_seen_`` that
    fitting it on the remaining rows would give (up to rounding), computed
    with the pairwise formulas of Chan, Golub & LeVeque from the removed and
    added rows alone. Encoders' category counts are updated in the record.
    Every other step is left as it is, and ``notes`` says which of them
    still depend on the removed rows.

    The rows are passed through the *current* preprocessor for bookkeeping
    only. Nothing is modified: ``preprocessor`` and ``record`` are untouched
    and new objects are returned, so a caller can commit all or nothing.

    Parameters
    ----------
    preprocessor : fitted transformer
        A ``StandardScaler``, ``ColumnTransformer``, ``FeatureUnion``, a
        ``Pipeline`` of transformers (``pipeline[:-1]``) or any nesting of
        these, fitted on the rows summarised by ``record``.
    record : PreprocessingRecord
        Built with :meth:`PreprocessingRecord.from_fitted` at fit time (or
        returned by the previous call).
    X_remove : {array-like, sparse matrix, DataFrame} or None
        Training rows to remove, in the preprocessor's input format.
    X_add : {array-like, sparse matrix, DataFrame}, default=None
        Rows to add.
    sample_weight_remove : array-like of shape (n_remove,), default=None
        Weights the removed rows were fitted with. Required when a
        ``StandardScaler`` was fitted with sample weights.
    sample_weight_add : array-like of shape (n_add,), default=None
        Weights of the added rows (1 by default).

    Returns
    -------
    new_preprocessor : fitted transformer
        A deep copy of ``preprocessor`` with downdated scalers.
    new_record : PreprocessingRecord
        The record of the remaining rows.
    M : ndarray of shape (d_out + 1, d_out + 1)
        The affine map with ``[z_old, 1] = M @ [z_new, 1]`` for every row,
        ``z_old``/``z_new`` being the outputs of the old/new preprocessor.
        Diagonal plus a last column: a scaler column gives
        ``z_old = (s_new / s_old) z_new + (m_new - m_old) / s_old``; columns
        no scaler changed map to themselves.
    notes : list of str
        One plain sentence per step whose fitted state still depends on the
        removed rows (or misses the added ones).

    Raises
    ------
    ValueError
        If ``record`` does not belong to ``preprocessor``, if more rows are
        removed than remain, if weights are missing or badly shaped, or if a
        category count would turn negative (rows that were not trained on).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_unlearn.preprocessing import (
    ...     PreprocessingRecord, downdate_preprocessing)
    >>> X = np.array([[0.0], [1.0], [2.0], [7.0]])
    >>> scaler = StandardScaler().fit(X)
    >>> record = PreprocessingRecord.from_fitted(scaler, X)
    >>> new, record, M, notes = downdate_preprocessing(scaler, record, X[3:])
    >>> new.mean_, new.var_, new.n_samples_seen_
    (array([1.]), array([0.66666667]), np.float64(3.0))
    >>> z_old, z_new = scaler.transform(X), new.transform(X)
    >>> bool(np.allclose(np.c_[z_old, np.ones(4)], np.c_[z_new, np.ones(4)] @ M.T))
    True
    """
    if not isinstance(record, PreprocessingRecord):
        raise TypeError(
            f"record must be a PreprocessingRecord, got {type(record).__name__}."
        )
    if record.structure != structure(preprocessor):
        raise ValueError(
            "record was not built from this preprocessor (its steps differ); "
            "build it with PreprocessingRecord.from_fitted."
        )
    n_r = 0 if X_remove is None else _num_rows(X_remove)
    n_a = 0 if X_add is None else _num_rows(X_add)
    wr = _check_weights(sample_weight_remove, n_r, "sample_weight_remove")
    wa = _check_weights(sample_weight_add, n_a, "sample_weight_add")
    if n_r == 0 and n_a == 0:
        raise ValueError("Nothing to remove or add.")
    if n_r > record.n_rows or record.n_rows - n_r + n_a <= 0:
        raise ValueError(
            f"Cannot remove {n_r} rows from the {record.n_rows} the preprocessor "
            f"was fitted on{f' while adding {n_a}' if n_a else ''}: no row would "
            "remain."
        )
    if wa is None and n_a:
        wa = np.ones(n_a)
    batch = Batch([X_remove if n_r else None, X_add if n_a else None])
    frozen: dict[str, str] = {}
    while True:
        new = copy.deepcopy(preprocessor)
        visitor = _DowndateVisitor(record, wr, wa, frozen, n_r, n_a)
        try:
            out, out_map = traverse(preprocessor, new, batch, "", None, visitor)
        except _NotAffine as exc:
            fresh = set(exc.sources) - set(frozen)
            if not fresh:  # pragma: no cover - defensive
                raise RuntimeError(
                    f"{exc.culprit} receives changed inputs of unknown origin"
                ) from None
            for path in fresh:
                frozen[path] = exc.culprit
            continue
        break
    d = out.width
    M = (out_map if out_map is not None else ColumnMap.identity(d)).augmented()
    weight_delta = (0.0 if wa is None else float(wa.sum())) - (
        float(n_r) if wr is None else float(wr.sum())
    )
    new_record = record.evolve(
        n_rows=record.n_rows - n_r + n_a,
        total_weight=record.total_weight + weight_delta,
        category_counts={**record.category_counts, **visitor.counts},
    )
    return new, new_record, M, visitor.notes


def _check_weights(w, n, name):
    if w is None:
        return None
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    if w.shape != (n,):
        raise ValueError(f"{name} has {w.shape[0]} entries for {n} rows.")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return w


def _pack_n(n_new, old):
    """``n_samples_seen_`` in scikit-learn's form: dtype kept, scalar if uniform."""
    dtype = np.asarray(old).dtype
    if dtype.kind in "iu":
        n_new = np.rint(n_new).astype(dtype)
    else:
        n_new = np.asarray(n_new, dtype=dtype)
    if n_new.size and n_new.max() == n_new.min():
        return n_new[0]
    return n_new


def _feature_name(est, j) -> str:
    names = getattr(est, "feature_names_in_", None)
    return str(names[j]) if names is not None else f"x{j}"


def _show(values) -> str:
    return ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in values)


def category_residue_note(name: str, n_gone: int, feature: str) -> str:
    """The note for categories of an encoder seen only in forgotten rows.

    The count and the feature, never the values: they are data of forgotten
    rows.
    """
    many = n_gone > 1
    return (
        f"{name}: {n_gone} {'categories' if many else 'category'} "
        f"of feature {feature!r} {'were' if many else 'was'} seen only "
        "in forgotten rows; the encoder still holds "
        f"{'them' if many else 'it'}"
    )


class _DowndateVisitor(Visitor):
    def __init__(self, record, wr, wa, frozen, n_r, n_a):
        self.record = record
        self.wr, self.wa = wr, wa
        self.frozen = frozen
        self.n_left = record.n_rows - n_r + n_a
        self.notes: list[str] = []
        self.counts: dict[str, tuple] = {}

    def leaf(self, kind, old, new, batch, path, in_map):
        if kind == SCALER:
            return self._scaler(old, new, batch, path, in_map)
        if in_map is not None:
            raise _NotAffine(in_map.changed_sources(), f"{describe(old, path)}")
        if kind == "encoder":
            self._encoder(old, batch, path)
            return None
        note = leaf_state_note(old, path)
        if note is not None:
            self.notes.append(note)
        return None

    # ------------------------------------------------------------- scalers
    def _scaler(self, old, new, batch, path, in_map):
        name = describe(old, path)
        d = int(old.n_features_in_)
        a_in = np.ones(d) if in_map is None else in_map.a
        b_in = np.zeros(d) if in_map is None else in_map.b
        src_in = [frozenset()] * d if in_map is None else in_map.sources
        with_mean, with_std = old.with_mean, old.with_std
        if path in self.frozen:
            self.notes.append(
                f"{name}: not downdated because its output goes through "
                f"{self.frozen[path]}, which is not an affine map of its input; "
                "its mean_/var_/n_samples_seen_ still include forgotten rows"
            )
            if not (with_mean or with_std):
                return in_map
            m_new = old.mean_ if with_mean else np.zeros(d)
            s_new = old.scale_ if with_std else np.ones(d)
            # the frozen scaler sees new inputs; keep its output map affine
            return self._out_map(old, a_in, b_in, src_in, m_new, s_new, path)
        Xr, Xa = batch.parts
        sparse_in = any(sp.issparse(p) for p in batch.parts if p is not None)
        counts_only = not with_mean and not with_std and not sparse_in
        weighted = self.record.scaler_weighted.get(path, False) and not counts_only
        if weighted and Xr is not None and self.wr is None:
            raise ValueError(
                f"{name} was fitted with sample weights: pass "
                "sample_weight_remove (the weights the removed rows had)."
            )
        wr = self.wr if weighted else None
        wa = self.wa if weighted else None
        zeros = np.zeros(d)
        _, Wr, mr, M2r = (
            group_stats(Xr, wr) if Xr is not None else (0, zeros, zeros, zeros)
        )
        _, Wa, ma, M2a = (
            group_stats(Xa, wa) if Xa is not None else (0, zeros, zeros, zeros)
        )
        n_old = np.broadcast_to(np.asarray(old.n_samples_seen_, np.float64), (d,))
        if not with_mean and not with_std:
            new.n_samples_seen_ = _pack_n(n_old - Wr + Wa, old.n_samples_seen_)
            return in_map  # the output is the input
        mean_old = np.asarray(old.mean_, np.float64)
        M2_old = (np.asarray(old.var_, np.float64) if with_std else zeros) * n_old
        W, mean, M2 = n_old, mean_old, M2_old
        lost = np.zeros(d, dtype=bool)
        tol = np.zeros(d)
        if Xr is not None:
            W, mean, M2, lost, tol = chan_remove(
                W, mean, M2, Wr, mr, M2r, self.record.n_rows
            )
        if Xa is not None:
            W, mean, M2 = chan_add(W, mean, M2, Wa, ma, M2a)
        empty = W <= 0
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(empty, np.nan, M2 / np.where(empty, 1.0, W))
        mean = np.where(empty, np.nan, mean)
        # statistics of the new inputs: x_new = (x_old - b) / a
        mean_new = (mean - b_in) / a_in
        var_new = var / a_in**2
        new.mean_ = mean_new
        new.n_samples_seen_ = _pack_n(np.where(empty, 0.0, W), old.n_samples_seen_)
        if with_std:
            new.var_ = var_new
            new.scale_ = scale_from_var(var_new, mean_new, np.where(empty, 0.0, W))
        self._precision_notes(old, path, M2_old, M2, lost, tol, empty, with_std)
        m_eff = mean_new if with_mean else zeros
        s_eff = new.scale_ if with_std else np.ones(d)
        return self._out_map(old, a_in, b_in, src_in, m_eff, s_eff, path)

    @staticmethod
    def _out_map(old, a_in, b_in, src_in, m_new, s_new, path):
        d = len(a_in)
        m_old = old.mean_ if old.with_mean else np.zeros(d)
        s_old = old.scale_ if old.with_std else np.ones(d)
        with np.errstate(invalid="ignore", divide="ignore"):
            a = a_in * s_new / s_old
            b = (a_in * m_new + b_in - m_old) / s_old
        bad = ~(np.isfinite(a) & np.isfinite(b))
        a[bad], b[bad] = 1.0, 0.0
        m = ColumnMap(a, b, src_in)
        changed = m.changed
        m.sources = [
            s | {path} if c else s for s, c in zip(src_in, changed, strict=True)
        ]
        return m

    def _precision_notes(self, old, path, M2_old, M2, lost, tol, empty, with_std):
        name = describe(old, path)
        if empty.any():
            cols = [_feature_name(old, j) for j in np.flatnonzero(empty)]
            self.notes.append(
                f"{name}: no non-missing value of feature(s) {', '.join(cols)} "
                "remains; mean_/var_ are NaN as a refit would give, and the "
                "model input for them is left unmapped"
            )
        if not with_std:
            return
        was_varying = M2_old > tol
        for j in np.flatnonzero(lost & was_varying & ~empty):
            self.notes.append(
                f"{name}: feature {_feature_name(old, j)!r} is constant on the "
                "remaining rows up to rounding (the forgotten rows held its "
                "variance); var_ was set to 0 and scale_ to 1, which is what a "
                "refit gives only if the remaining values are all equal"
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(M2 > 0, tol / np.where(M2 > 0, M2, 1.0), 0.0)
        for j in np.flatnonzero((rel > _PRECISION_NOTE) & ~lost & ~empty):
            self.notes.append(
                f"{name}: the variance of feature {_feature_name(old, j)!r} on "
                f"the remaining rows is known only to a relative {rel[j]:.1g} "
                "(the forgotten rows held almost all of it); refit to be exact"
            )

    # ------------------------------------------------------------ encoders
    def _encoder(self, enc, batch, path):
        name = describe(enc, path)
        old_counts = self.record.category_counts[path]
        Xr, Xa = batch.parts
        delta = [np.zeros_like(c) for c in old_counts]
        unknown_added = [[] for _ in old_counts]
        if Xr is not None:
            cr, unknown_r = category_counts(enc, Xr)
            delta = [dl - c for dl, c in zip(delta, cr, strict=True)]
            if any(unknown_r):
                raise ValueError(
                    f"{name}: rows to remove hold categories the encoder never "
                    f"saw ({_show([v for u in unknown_r for v in u][:5])}); they "
                    "were not trained on."
                )
        if Xa is not None:
            ca, unknown_added = category_counts(enc, Xa)
            delta = [dl + c for dl, c in zip(delta, ca, strict=True)]
        new_counts = tuple(o + dl for o, dl in zip(old_counts, delta, strict=True))
        for j, c in enumerate(new_counts):
            if np.any(c < 0):
                cats = enc.categories_[j][c < 0]
                raise ValueError(
                    f"{name}: more rows with category {_show(cats)} of feature "
                    f"{_feature_name(enc, j)!r} are removed than were trained on."
                )
        self.counts[path] = new_counts
        auto = isinstance(enc.categories, str) and enc.categories == "auto"
        for j, (o, c) in enumerate(zip(old_counts, new_counts, strict=True)):
            feature = _feature_name(enc, j)
            gone = enc.categories_[j][(o > 0) & (c == 0)]
            if auto and len(gone):
                self.notes.append(category_residue_note(name, len(gone), feature))
            if unknown_added[j]:
                self.notes.append(
                    f"{name}: added rows hold {_show(unknown_added[j][:10])} of "
                    f"feature {feature!r}, unknown to the encoder, which ignores "
                    "them; a refit would learn them"
                )
        self._infrequent_note(enc, name, new_counts, auto)

    def _infrequent_note(self, enc, name, counts, auto):
        if not getattr(enc, "_infrequent_enabled", False):
            return
        identify = getattr(enc, "_identify_infrequent", None)
        current = getattr(enc, "infrequent_categories_", None)
        if identify is None or current is None:  # pragma: no cover
            return
        for j, c in enumerate(counts):
            cats = enc.categories_[j]
            kept = c > 0 if auto else np.ones(len(c), dtype=bool)
            idx = identify(c[kept], self.n_left, j)
            would = set() if idx is None else set(cats[kept][idx].tolist())
            now = set() if current[j] is None else set(np.asarray(current[j]).tolist())
            if would != now:
                # counts only: the sets may hold categories of forgotten rows
                self.notes.append(
                    f"{name}: the infrequent categories of feature "
                    f"{_feature_name(enc, j)!r} would differ after a refit "
                    f"({len(would)} instead of {len(now)}); refit to be exact"
                )
