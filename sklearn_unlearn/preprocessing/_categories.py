"""Categories that only forgotten rows held: what dropping them takes.

When every row holding a category of a ``OneHotEncoder`` is forgotten, a
refit on the remaining rows would not learn the category, and its one-hot
column would not exist. Under an L2 penalty the model's coefficient on that
column is exactly 0 at the refit's optimum (no remaining row has a non-zero
there, so only the penalty acts on it): dropping the category from the
encoder and the column from the model is the refit's answer.

:func:`forgotten_categories` finds such categories in a downdated
preprocessor, says which can be dropped exactly, and :meth:`CategoryDrop.apply`
prunes the encoders (and the ``ColumnTransformer`` around them) in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from ._downdate import _feature_name, category_residue_note
from ._record import PreprocessingRecord
from ._tree import IDENTITY, PIPELINE, describe, join, node_kind

__all__ = ["CategoryDrop", "forgotten_categories"]


@dataclass
class _EncoderDrop:
    path: str
    encoder: OneHotEncoder
    keep: list  # per input feature, bool mask over categories_
    columns: np.ndarray  # the encoder's dropped columns in the model's inputs
    residue_notes: list
    drop_notes: list


@dataclass
class CategoryDrop:
    """Categories to drop from encoders, and the model columns that go with them.

    Attributes
    ----------
    columns : ndarray of int
        Indices of the preprocessor's output columns (the model's inputs) to
        drop, sorted.
    residue_notes : list of str
        The notes that said the encoders still hold these categories.
    drop_notes : list of str
        The notes that say they were dropped (counts and feature names only).
    """

    encoders: list = field(default_factory=list)
    ct: ColumnTransformer | None = None
    width: int = 0

    @property
    def columns(self) -> np.ndarray:
        cols = [e.columns for e in self.encoders]
        return np.sort(np.concatenate(cols)) if cols else np.zeros(0, np.intp)

    @property
    def residue_notes(self) -> list:
        return [n for e in self.encoders for n in e.residue_notes]

    @property
    def drop_notes(self) -> list:
        return [n for e in self.encoders for n in e.drop_notes]

    def new_record(self, record: PreprocessingRecord) -> PreprocessingRecord:
        """``record`` with the dropped categories' (zero) counts removed."""
        counts = dict(record.category_counts)
        for e in self.encoders:
            counts[e.path] = tuple(
                np.asarray(c)[k] for c, k in zip(counts[e.path], e.keep, strict=True)
            )
        return record.evolve(category_counts=counts)

    def apply(self) -> None:
        """Prune the encoders and their ``ColumnTransformer`` in place.

        Everything is computed first and assigned last, so that an error
        leaves them as they were.
        """
        dropped = self.columns
        ct = self.ct
        new_categories = []
        for e in self.encoders:
            new_categories.append(
                [c[k] for c, k in zip(e.encoder.categories_, e.keep, strict=True)]
            )

        def shift(i: int) -> int:
            return i - int(np.searchsorted(dropped, i))

        indices = {
            name: s if s.stop <= s.start else slice(shift(s.start), shift(s.stop))
            for name, s in ct.output_indices_.items()
        }
        names_out = getattr(ct, "_transformers_feature_names_out", None)
        if names_out is not None and len(names_out) == self.width:
            names_out = np.delete(names_out, dropped)
        else:
            names_out = None
        for e, cats in zip(self.encoders, new_categories, strict=True):
            e.encoder.categories_ = cats
            e.encoder._n_features_outs = e.encoder._compute_n_features_outs()
        ct.output_indices_ = indices
        if names_out is not None:
            ct._transformers_feature_names_out = names_out
        elif hasattr(ct, "_transformers_feature_names_out"):
            del ct._transformers_feature_names_out


def _droppable_encoder(enc) -> str | None:
    """Why ``enc`` cannot lose a category exactly (None when it can)."""
    if type(enc) is not OneHotEncoder:
        return "not a OneHotEncoder"
    if not (isinstance(enc.categories, str) and enc.categories == "auto"):
        return "categories are given"
    if enc.drop is not None:
        return "drop is set"
    if enc.max_categories is not None or enc.min_frequency is not None:
        return "infrequent categories are grouped"
    if enc.handle_unknown != "ignore":
        return "handle_unknown is not 'ignore'"
    if getattr(enc, "drop_idx_", None) is not None:  # pragma: no cover
        return "drop is set"
    return None


def _last_block(preprocessor):
    """The ``ColumnTransformer`` whose output the model sees, and its path."""
    if isinstance(preprocessor, ColumnTransformer):
        return preprocessor, ""
    if node_kind(preprocessor) != PIPELINE:
        return None, ""
    steps = [(n, s) for n, s in preprocessor.steps if node_kind(s) != IDENTITY]
    if not steps or not isinstance(steps[-1][1], ColumnTransformer):
        return None, ""
    return steps[-1][1], steps[-1][0]


def _encoders_of(ct: ColumnTransformer, ct_path: str):
    """``(path, encoder, output slice)`` of each encoder whose output is the CT's."""
    out = []
    for name, trans, _ in ct.transformers_:
        s = ct.output_indices_.get(name)
        if s is None or s.stop <= s.start:
            continue
        path = join(ct_path, name)
        if isinstance(trans, Pipeline):
            last_name, last = trans.steps[-1]
            out.append((join(path, last_name), last, s))
        else:
            out.append((path, trans, s))
    return out


def forgotten_categories(
    preprocessor, old_record, new_record, width: int
) -> CategoryDrop | None:
    """The categories that only forgotten rows held and can be dropped exactly.

    Parameters
    ----------
    preprocessor : fitted transformer
        The downdated preprocessor (still holding the categories).
    old_record, new_record : PreprocessingRecord
        Its record before and after the request.
    width : int
        The number of output columns of ``preprocessor`` (the model's inputs).

    Returns
    -------
    CategoryDrop or None
        None when no category can be dropped; categories of encoders that do
        not qualify are left out (their notes stay).
    """
    if old_record is None or new_record is None:
        return None
    ct, ct_path = _last_block(preprocessor)
    if ct is None or not hasattr(ct, "output_indices_"):
        return None
    total = max((s.stop for s in ct.output_indices_.values()), default=0)
    if total != width:
        return None
    plan = CategoryDrop(ct=ct, width=width)
    for path, enc, out_slice in _encoders_of(ct, ct_path):
        old_counts = old_record.category_counts.get(path)
        new_counts = new_record.category_counts.get(path)
        if old_counts is None or new_counts is None:
            continue
        gone = [
            (np.asarray(o) > 0) & (np.asarray(c) == 0)
            for o, c in zip(old_counts, new_counts, strict=True)
        ]
        if not any(g.any() for g in gone) or _droppable_encoder(enc) is not None:
            continue
        sizes = [len(c) for c in enc.categories_]
        if out_slice.stop - out_slice.start != sum(sizes) or len(gone) != len(sizes):
            continue
        name = describe(enc, path)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        cols, residue, dropped = [], [], []
        for j, g in enumerate(gone):
            if not g.any():
                continue
            n = int(g.sum())
            feature = _feature_name(enc, j)
            cols.append(out_slice.start + offsets[j] + np.flatnonzero(g))
            residue.append(category_residue_note(name, n, feature))
            dropped.append(_drop_note(name, n, feature))
        plan.encoders.append(
            _EncoderDrop(
                path=path,
                encoder=enc,
                keep=[~g for g in gone],
                columns=np.concatenate(cols).astype(np.intp),
                residue_notes=residue,
                drop_notes=dropped,
            )
        )
    return plan if plan.encoders else None


def _drop_note(name: str, n: int, feature: str) -> str:
    many = n > 1
    what = "categories" if many else "category"
    return (
        f"{name}: {n} {what} of feature {feature!r} seen only in forgotten rows "
        f"{'were' if many else 'was'} dropped from the encoder, with "
        f"{'their' if many else 'its'} model input "
        f"{'columns' if many else 'column'}, as a refit on the remaining rows "
        "would"
    )
