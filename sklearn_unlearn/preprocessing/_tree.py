"""Walking a fitted preprocessor: containers, leaves, column blocks, paths.

A fitted preprocessor is a tree: ``Pipeline`` (steps in sequence),
``ColumnTransformer`` (column blocks side by side) and ``FeatureUnion``
(whole-input blocks side by side) are containers; everything else is a leaf.
Every node has a *path*, its ``set_params`` prefix inside the preprocessor
(``"columntransformer__num__standardscaler"``).

:func:`traverse` visits the tree with a batch of rows given in the *old*
preprocessor's coordinates (it calls the old nodes' ``transform``) and
propagates per-column affine maps (:class:`ColumnMap`) from inputs to
outputs; a visitor decides what happens at each leaf.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import (
    Binarizer,
    FunctionTransformer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    SplineTransformer,
    StandardScaler,
)
from sklearn.utils import _safe_indexing

from ._affine import ColumnMap

# ------------------------------------------------------------------ node kinds
IDENTITY, DROP, PIPELINE, COLUMNS, UNION, SCALER, ENCODER, LEAF = (
    "identity",
    "drop",
    "pipeline",
    "columns",
    "union",
    "scaler",
    "encoder",
    "leaf",
)

#: Leaves whose fitted state does not depend on the values of the rows.
_ROW_FREE = (FunctionTransformer, Normalizer, Binarizer, PolynomialFeatures)

#: Unsupervised leaves (their fitted state never depends on ``y``).
_LABEL_FREE = (
    StandardScaler,
    MinMaxScaler,
    MaxAbsScaler,
    RobustScaler,
    Normalizer,
    Binarizer,
    OneHotEncoder,
    OrdinalEncoder,
    FunctionTransformer,
    PolynomialFeatures,
    SplineTransformer,
    KBinsDiscretizer,
    QuantileTransformer,
    PowerTransformer,
)
_LABEL_FREE_NAMES = {
    "SimpleImputer",
    "KNNImputer",
    "IterativeImputer",
    "MissingIndicator",
    "PCA",
    "TruncatedSVD",
    "IncrementalPCA",
    "KernelPCA",
    "Nystroem",
    "RBFSampler",
    "VarianceThreshold",
}


def node_kind(est) -> str:
    """The role of ``est`` in a preprocessor tree."""
    if est is None or (isinstance(est, str) and est == "passthrough"):
        return IDENTITY
    if isinstance(est, str) and est == "drop":
        return DROP
    if isinstance(est, Pipeline):
        return PIPELINE
    if isinstance(est, ColumnTransformer):
        return COLUMNS
    if isinstance(est, FeatureUnion):
        return UNION
    if type(est) is FunctionTransformer and est.func is None:
        return IDENTITY
    if type(est) is StandardScaler:
        return SCALER
    if type(est) in (OneHotEncoder, OrdinalEncoder):
        return ENCODER
    return LEAF


def join(prefix: str, name: str) -> str:
    return f"{prefix}__{name}" if prefix else str(name)


def describe(est, path: str) -> str:
    """``"StandardScaler 'num'"``: how notes name a step."""
    name = type(est).__name__
    return f"{name} '{path}'" if path else name


# ---------------------------------------------------------------- the batches
class Batch:
    """Groups of rows travelling together (``None`` for an empty group)."""

    __slots__ = ("parts",)

    def __init__(self, parts):
        self.parts = list(parts)

    def apply(self, fn: Callable) -> Batch:
        return Batch([None if p is None else fn(p) for p in self.parts])

    @property
    def width(self) -> int:
        for p in self.parts:
            if p is not None:
                return int(p.shape[1])
        raise ValueError("empty batch")


def _transform(est):
    return est.transform


# -------------------------------------------------------------- column blocks
def _input_indices(ct: ColumnTransformer) -> dict:
    try:
        return ct._transformer_to_input_indices
    except AttributeError as exc:  # pragma: no cover - scikit-learn internals
        raise TypeError(
            "This ColumnTransformer does not expose which input columns each "
            "transformer received (_transformer_to_input_indices); it cannot "
            "be downdated with this scikit-learn version."
        ) from exc


def column_blocks(ct: ColumnTransformer, new_ct: ColumnTransformer | None = None):
    """``(name, old, new, columns, input_indices, output_slice, weight)`` blocks.

    In output order; ``'drop'`` transformers and empty selections are left
    out, as in ``ColumnTransformer.transform``.
    """
    indices = _input_indices(ct)
    weights = ct.transformer_weights or {}
    new_list = ct.transformers_ if new_ct is None else new_ct.transformers_
    blocks = []
    for (name, trans, cols), (_, new_trans, _) in zip(
        ct.transformers_, new_list, strict=True
    ):
        idx = np.asarray(indices.get(name, []), dtype=np.intp)
        if node_kind(trans) == DROP or idx.size == 0:
            continue
        out = ct.output_indices_[name]
        blocks.append((name, trans, new_trans, cols, idx, out, weights.get(name)))
    blocks.sort(key=lambda b: b[5].start)
    return blocks


def select_columns(ct: ColumnTransformer, X, cols, idx):
    """The columns of ``X`` that ``ct`` hands to one transformer."""
    if hasattr(ct, "feature_names_in_") and hasattr(X, "columns"):
        key = list(ct.feature_names_in_[idx])
    else:
        key = [int(i) for i in idx]
    if np.isscalar(cols):
        key = key[0]
    return _safe_indexing(X, key, axis=1)


# ----------------------------------------------------------------- traversal
class Visitor:
    """What :func:`traverse` does at a leaf; override :meth:`leaf`."""

    def leaf(self, kind, old, new, batch, path, in_map):
        """Return the output map of a leaf (``None``: unchanged outputs)."""
        raise NotImplementedError

    def identity(self, old, path, in_map):
        """Called for identity steps (they pass ``in_map`` through)."""


def _normalised(m: ColumnMap | None) -> ColumnMap | None:
    if m is None or m.is_identity():
        return None
    return m


def traverse(old, new, batch: Batch, path: str, in_map, visitor: Visitor):
    """Visit ``old`` (and its copy ``new``) with rows in old coordinates.

    Returns ``(batch_out, out_map)``: the rows transformed by ``old`` and the
    map of ``old``'s outputs in terms of ``new``'s (``None`` when equal).
    """
    kind = node_kind(old)
    in_map = _normalised(in_map)
    if kind == IDENTITY:
        visitor.identity(old, path, in_map)
        out = (
            batch
            if isinstance(old, str) or old is None
            else batch.apply(_transform(old))
        )
        return out, in_map
    if kind == PIPELINE:
        for (name, o), (_, n) in zip(old.steps, new.steps, strict=True):
            batch, in_map = traverse(o, n, batch, join(path, name), in_map, visitor)
        return batch, in_map
    if kind == COLUMNS:
        maps = []
        for name, o, n, cols, idx, out_slice, weight in column_blocks(old, new):
            sub = batch.apply(lambda X, c=cols, i=idx: select_columns(old, X, c, i))
            sub_map = None if in_map is None else in_map.take(idx)
            _, m = traverse(o, n, sub, join(path, name), sub_map, visitor)
            maps.append(
                _block_map(m, out_slice.stop - out_slice.start, weight, path, name)
            )
        return batch.apply(_transform(old)), _normalised(ColumnMap.concat(maps))
    if kind == UNION:
        weights = old.transformer_weights or {}
        maps = []
        for (name, o), (_, n) in zip(
            old.transformer_list, new.transformer_list, strict=True
        ):
            if node_kind(o) == DROP:
                continue
            out, m = traverse(o, n, batch, join(path, name), in_map, visitor)
            maps.append(_block_map(m, out.width, weights.get(name), path, name))
        return batch.apply(_transform(old)), _normalised(ColumnMap.concat(maps))
    if kind == DROP:  # pragma: no cover - containers skip drops
        raise ValueError(f"'drop' step at {path!r} has no output")
    m = visitor.leaf(kind, old, new, batch, path, in_map)
    return batch.apply(_transform(old)), _normalised(m)


def _block_map(m, width, weight, path, name):
    if m is None:
        return ColumnMap.identity(width)
    if len(m) != width:  # pragma: no cover - defensive
        raise RuntimeError(
            f"block {join(path, name)!r}: map of {len(m)} columns for {width} outputs"
        )
    return m if weight is None else m.scaled_output(float(weight))


# ------------------------------------------------------------------ structure
def iter_nodes(est, path: str = "") -> Iterator[tuple[str, object]]:
    """Every node of the tree with its path, containers first."""
    yield path, est
    kind = node_kind(est)
    if kind == PIPELINE:
        for name, step in est.steps:
            yield from iter_nodes(step, join(path, name))
    elif kind == COLUMNS:
        trans = est.transformers_ if hasattr(est, "transformers_") else []
        for name, t, _ in trans:
            yield from iter_nodes(t, join(path, name))
    elif kind == UNION:
        for name, t in est.transformer_list:
            yield from iter_nodes(t, join(path, name))


def structure(est) -> tuple[tuple[str, str], ...]:
    """``(path, class name)`` of every node: a fingerprint of the tree's shape."""
    out = []
    for path, node in iter_nodes(est):
        label = node if isinstance(node, str) else type(node).__name__
        out.append((path, "None" if node is None else label))
    return tuple(out)


# -------------------------------------------------------------------- notes
_STATE_DESCRIPTIONS = {
    "MinMaxScaler": "data_min_/data_max_ still include forgotten rows",
    "MaxAbsScaler": "max_abs_ still includes forgotten rows",
    "RobustScaler": "center_/scale_ (medians, quantile ranges) still include "
    "forgotten rows",
    "QuantileTransformer": "quantiles_ (reference quantiles) still include "
    "forgotten rows",
    "PowerTransformer": "lambdas_ (and its standardisation) still include "
    "forgotten rows",
    "KBinsDiscretizer": "bin_edges_ still include forgotten rows",
    "SplineTransformer": "the knots still include forgotten rows",
    "KNNImputer": "the stored neighbour rows (_fit_X) still contain the forgotten rows",
    "IterativeImputer": "its imputation models were trained on forgotten rows",
    "MissingIndicator": "features_ (which features had missing values) still "
    "reflects forgotten rows",
    "TargetEncoder": "encodings_ (per-category target means) still include "
    "forgotten rows",
    "PCA": "mean_/components_ still include forgotten rows",
    "TruncatedSVD": "components_ still include forgotten rows",
    "VarianceThreshold": "variances_ (and the kept features) still include "
    "forgotten rows",
}


def leaf_state_note(est, path: str) -> str | None:
    """Plain-language note on a leaf whose state was not downdated.

    ``None`` for leaves whose fitted state does not depend on row values.
    """
    if type(est) in _ROW_FREE:
        return None
    name = type(est).__name__
    if name == "SimpleImputer":
        strategy = est.strategy if isinstance(est.strategy, str) else "callable"
        what = {
            "mean": "means",
            "median": "medians",
            "most_frequent": "most frequent values",
        }.get(strategy)
        parts = []
        if what is not None or strategy == "callable":
            parts.append(
                f"statistics_ ({what or 'values of the callable strategy'}) "
                "still include forgotten rows"
            )
        if est.add_indicator and getattr(est, "indicator_", None) is not None:
            if est.indicator_.features == "missing-only":
                parts.append(
                    "indicator_.features_ (which features had missing values) "
                    "still reflects forgotten rows"
                )
        return f"{describe(est, path)}: {'; '.join(parts)}" if parts else None
    if name == "MissingIndicator" and est.features == "all":
        return None
    detail = _STATE_DESCRIPTIONS.get(
        name,
        "unknown transformer: its fitted state was learned on rows that include "
        "the forgotten ones and was not downdated",
    )
    return f"{describe(est, path)}: {detail}"


def label_dependence_notes(preprocessor) -> list[str]:
    """Notes for the steps whose fitted state may depend on ``y``.

    A relabelling leaves the preprocessing untouched; these are the steps
    for which that may be wrong.
    """
    notes = []
    for path, node in iter_nodes(preprocessor):
        if node_kind(node) not in (LEAF, SCALER, ENCODER):
            continue
        if isinstance(node, _LABEL_FREE) or type(node).__name__ in _LABEL_FREE_NAMES:
            continue
        notes.append(
            f"{describe(node, path)}: its fitted state may depend on the labels "
            "of the relabelled rows and was not updated"
        )
    return notes
