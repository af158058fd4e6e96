"""One update of a model with fitted preprocessing in front of it.

Used by :class:`~sklearn_unlearn.pipeline.UnlearnPipeline`, which keeps
fingerprints of the *raw* rows and a
:class:`~sklearn_unlearn.preprocessing.PreprocessingRecord` of what the
preprocessing was fitted on, and updates in this order:

1. check the request on the raw rows against the fingerprints;
2. downdate a copy of the preprocessing (a relabelling leaves it as it is);
3. let the model take its own update on the rows seen through the *new*
   preprocessing, re-expressed by the affine map between old and new features.

Nothing of the caller's is changed here: :func:`update_through_preprocessing`
returns what the caller commits (the new preprocessing and record, the notes,
the fingerprints' changes) once the model's update succeeded.
"""

from __future__ import annotations

import inspect
import time
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ._fingerprint import RowMultiset, as_key_array, fingerprint_array
from ._request_methods import KEEP_WEIGHTS
from ._request_rows import explain_missing
from .preprocessing import (
    PreprocessingRecord,
    PreprocessingStateWarning,
    affine_map_is_identity,
    downdate_preprocessing,
)
from .preprocessing._tree import label_dependence_notes

__all__ = [
    "PreprocessedUpdate",
    "check_remaining",
    "check_retained_rows",
    "missing_rows_error",
    "update_through_preprocessing",
    "warn_preprocessing_once",
]


def _num_rows(X) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


def _weights(w, n) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    if w.shape != (n,):
        raise ValueError(f"sample_weight has {w.shape[0]} entries for {n} rows.")
    return w


def missing_rows_error(bad, n, why: str = "") -> ValueError:
    """The error for rows to remove that the fingerprints do not hold."""
    more = " ..." if len(bad) > 20 else ""
    return ValueError(
        f"{len(bad)} of the {n} rows to remove were never trained on, were already "
        "forgotten, or are asked for more often than they were trained on "
        f"(positions {bad[:20].tolist()}{more}). {why + ' ' if why else ''}"
        "Nothing was changed."
    )


def check_remaining(n_remaining) -> None:
    """Refuse a request that would leave no training row."""
    if n_remaining <= 0:
        raise ValueError(
            "The request would remove every training row; nothing was changed."
        )


def _by_first_word(keys: np.ndarray) -> np.ndarray:
    """Fingerprints sorted by their first word: a quarter of a lexsort's time.

    Equal sorted sequences prove equal multisets. Rows sharing a first word
    are copies of one row (the words are a keyed PRF's output), so their
    order within a tie does not matter; two different rows with the same
    first word (probability 2**-64) could only make a valid request be
    refused, never a wrong one pass.
    """
    return keys[np.argsort(keys[:, 0], kind="stable")]


def check_retained_rows(fingerprints: RowMultiset, keys_k, keys_r, keys_a) -> None:
    """Check that ``keys_k`` are the rows held after removing and adding rows.

    ``keys_r`` is known to be held, so ``held - r + a == k`` is the multiset
    equation ``held + a == k + r``, checked on sorted fingerprint words.
    """
    left = np.concatenate([fingerprints.keys(), as_key_array(keys_a)])
    right = np.concatenate([as_key_array(keys_k), as_key_array(keys_r)])
    if len(left) == len(right) and np.array_equal(
        _by_first_word(left), _by_first_word(right)
    ):
        return
    got, expected = (
        Counter(map(tuple, right.tolist())),
        Counter(map(tuple, left.tolist())),
    )
    extra = sum((got - expected).values())
    lacking = sum((expected - got).values())
    raise ValueError(
        "X_retain/y_retain are not the rows that remain after this request: "
        f"{extra} rows too many, {lacking} rows missing. Nothing was changed."
    )


@dataclass(frozen=True)
class PreprocessedUpdate:
    """What the caller commits after :func:`update_through_preprocessing`.

    Attributes
    ----------
    preprocessor : transformer or None
        The new fitted preprocessing (the one passed in when ``changed`` is
        false).
    record : PreprocessingRecord or None
        Its record.
    notes : list of str
        Steps whose fitted state still depends on removed rows (or on the
        old labels).
    changed : bool
        Whether ``preprocessor`` is a new object that must be swapped in.
    keys_remove, weights_remove, keys_add, weights_add : ndarray
        Fingerprints and weights of the raw rows removed and added.
    """

    preprocessor: object
    record: PreprocessingRecord | None
    notes: list
    changed: bool
    keys_remove: np.ndarray
    weights_remove: np.ndarray | None
    keys_add: np.ndarray
    weights_add: np.ndarray | None

    def commit_fingerprints(self, fingerprints: RowMultiset) -> None:
        """Apply the request's rows to a multiset of raw-row fingerprints."""
        if len(self.keys_remove):
            fingerprints.remove(self.keys_remove, self.weights_remove)
        if len(self.keys_add):
            fingerprints.add(self.keys_add, self.weights_add)


def update_through_preprocessing(
    *,
    preprocessor,
    record,
    fingerprints: RowMultiset,
    update_model,
    operation,
    remove,
    add,
    retain,
    key: bytes,
    row_keys=True,
    classes=None,
) -> PreprocessedUpdate:
    """Check a request on raw rows, downdate the preprocessing, update the model.

    The ledger entry's duration covers all of it (``started`` is passed on).

    Parameters
    ----------
    preprocessor : fitted transformer or None
        The preprocessing in front of the model (``pipeline[:-1]``); ``None``
        when there is none. It is never modified.
    record : PreprocessingRecord or None
        The record of ``preprocessor``.
    fingerprints : RowMultiset
        Fingerprints and weights of the raw training rows; only read.
    update_model : callable
        ``update_model(operation, remove, add, retain, feature_map=M,
        notes=notes, row_keys=keys)``, the model's own update (as
        :meth:`BaseUnlearner._update`) on rows in the new features, with
        ``[z_old, 1] = M [z_new, 1]``. ``feature_map`` is passed only when
        the features moved (``M`` is not the identity); ``notes`` only when
        ``update_model`` takes it.
    operation : {"unlearn", "relabel", "update"}
    remove, add, retain : tuple ``(X, y, sample_weight)`` or None
        Raw rows, as passed to ``fit``; ``add``'s weight may be
        ``KEEP_WEIGHTS`` (a relabelling).
    key : bytes
        The secret of ``fingerprints`` (see :class:`FingerprintKey`).
    row_keys : bool, default=True
        Whether to give ``update_model`` the raw rows' fingerprints.
    classes : ndarray, default=None
        A classifier's classes, to say which rows match with another label.

    Returns
    -------
    PreprocessedUpdate

    Raises
    ------
    ValueError
        If the request does not fit the fingerprints, or the downdate or
        the model's update refuse it. Nothing has changed then.
    TypeError
        If ``update_model`` takes no ``feature_map`` but the features moved.
    """
    started = time.perf_counter()
    # 1. check the request on the raw rows, before anything changes
    n_r = n_a = 0
    keys_r = keys_a = np.zeros((0, 2), dtype=np.uint64)
    w_r = w_a = None
    if remove is not None:
        Xr, yr, wr_user = remove
        n_r = _num_rows(Xr)
        if wr_user is not None:
            wr_user = _weights(wr_user, n_r)
        keys_r = fingerprint_array(Xr, yr, key)
        bad = fingerprints.missing(keys_r, wr_user)
        if len(bad):
            why = explain_missing(bad, Xr, yr, fingerprints, key, classes)
            raise missing_rows_error(bad, n_r, why)
        w_r = wr_user if wr_user is not None else fingerprints.peek_weights(keys_r)
    if add is not None:
        Xa, ya, wa_user = add
        n_a = _num_rows(Xa)
        if wa_user is KEEP_WEIGHTS:  # relabel: each copy keeps its weight
            w_a = w_r
        elif wa_user is not None:
            w_a = _weights(wa_user, n_a)
        else:
            w_a = np.ones(n_a)
        keys_a = fingerprint_array(Xa, ya, key)
    check_remaining(len(fingerprints) - n_r + n_a)
    keys_k = None
    if retain is not None:
        keys_k = fingerprint_array(retain[0], retain[1], key)
        check_retained_rows(fingerprints, keys_k, keys_r, keys_a)

    # 2. the new preprocessing, computed aside
    M, notes, new_pre, new_record = None, [], preprocessor, record
    if preprocessor is not None and operation == "relabel":
        notes = label_dependence_notes(preprocessor)
    elif preprocessor is not None:
        new_pre, new_record, M, notes = downdate_preprocessing(
            preprocessor,
            record,
            remove[0] if n_r else None,
            add[0] if n_a else None,
            sample_weight_remove=w_r if n_r else None,
            sample_weight_add=w_a if n_a else None,
        )
        if affine_map_is_identity(M):
            M = None

    # 3. every row in the new features, then the model's own update
    def features(t):
        if t is None:
            return None
        X = t[0] if new_pre is None else new_pre.transform(t[0])
        return (X, *t[1:])

    keys = None
    if row_keys:
        keys = {"remove": keys_r, "add": keys_a}
        if keys_k is not None:
            keys["retain"] = keys_k
    update_model(
        operation,
        remove=features(remove),
        add=features(add),
        retain=features(retain),
        **_hook_kwargs(update_model, M, notes, keys, started),
    )
    return PreprocessedUpdate(
        preprocessor=new_pre,
        record=new_record,
        notes=list(notes),
        changed=new_pre is not preprocessor,
        keys_remove=keys_r,
        weights_remove=w_r,
        keys_add=keys_a,
        weights_add=w_a,
    )


def _hook_kwargs(update_model, M, notes, row_keys, started=None):
    """The keywords ``update_model`` takes, refusing to drop a feature map."""
    params = inspect.signature(update_model).parameters
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    owner = getattr(update_model, "__self__", update_model)
    name = f"{type(owner).__name__}.{getattr(update_model, '__name__', '_update')}"
    kwargs = {}
    if M is not None:
        if "feature_map" not in params and not var_kw:
            raise TypeError(
                f"{name} takes no feature_map, so the model cannot be "
                "re-expressed in the downdated preprocessing's features. "
                "Nothing was changed."
            )
        kwargs["feature_map"] = M
    if "notes" in params or var_kw:
        kwargs["notes"] = list(notes)
    if "started" in params or var_kw:
        kwargs["started"] = started
    if row_keys is not None:
        if "row_keys" not in params and not var_kw:
            raise TypeError(  # pragma: no cover - _set_row_keys implies row_keys
                f"{name} takes no row_keys."
            )
        kwargs["row_keys"] = row_keys
    return kwargs


def warn_preprocessing_once(owner, notes, message, stacklevel=1) -> None:
    """Raise a :class:`PreprocessingStateWarning` once per fitted ``owner``.

    ``owner._preprocessing_warned`` remembers that it was raised; a new
    ``fit`` resets it. ``stacklevel`` counts from the caller.
    """
    if notes and not getattr(owner, "_preprocessing_warned", False):
        owner._preprocessing_warned = True
        warnings.warn(
            message + "; ".join(notes),
            PreprocessingStateWarning,
            stacklevel=stacklevel + 1,
        )
