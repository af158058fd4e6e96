"""SISA: sharded, isolated, sliced and aggregated training (Bourtoule et al., 2021).

The exact-unlearning baseline. The training rows are split at random into
``n_shards`` disjoint shards and each shard into ``n_slices`` slices. One
model is trained per shard, slice after slice, on the growing union of its
slices, with a checkpoint after every slice. Forgetting a row retrains only
its shard, and only from the checkpoint taken before the row's slice: every
checkpoint that saw the row is discarded, so what remains is exactly what
training without the row would have produced. Predictions aggregate the
shard models (mean probability or majority vote).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._fingerprint import fingerprint_array
from .._fingerprint_key import FingerprintKey, resolve_key
from .._ledger import Ledger
from .._request_lock import request_lock
from .._training_fold import forget_training_fold, record_training_fold
from ..utils._compat import HasMethods, Interval, StrOptions, _fit_context
from ..utils._validation import check_forget_mask

__all__ = ["SISAClassifier"]


@dataclass
class _Shard:
    """One shard: its slices of rows, their fingerprints, a checkpoint per slice.

    ``checkpoints[r]`` is the model trained on slices ``0..r``; ``None`` when
    those slices hold no row yet.
    """

    X: list = field(default_factory=list)
    y: list = field(default_factory=list)
    keys: list = field(default_factory=list)
    checkpoints: list = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return sum(len(y) for y in self.y)

    @property
    def model(self):
        return self.checkpoints[-1] if self.checkpoints else None


def _incremental_mode(estimator, requested: str) -> str:
    if requested != "auto":
        return requested
    if hasattr(estimator, "partial_fit"):
        return "partial_fit"
    if "warm_start" in estimator.get_params():
        return "warm_start"
    return "refit"


def _train_slices(template, shard: _Shard, start: int, mode: str, classes, epochs):
    """Retrain ``shard`` from the checkpoint before slice ``start``; return checkpoints.

    Slice ``r`` is trained on the union of slices ``0..r``: ``epochs`` passes
    of ``partial_fit``, or one warm-started ``fit``. Without incremental
    training (``refit``) the shard model is fit once on all its slices.
    """
    if mode == "refit":  # no incremental training: only the last checkpoint counts
        y = np.concatenate(shard.y)
        model = clone(template).fit(np.concatenate(shard.X), y) if len(y) else None
        return [None] * (len(shard.y) - 1) + [model]
    kept = list(shard.checkpoints[:start])
    model = copy.deepcopy(kept[-1]) if kept and kept[-1] is not None else None
    for r in range(start, len(shard.y)):
        X = np.concatenate(shard.X[: r + 1])
        y = np.concatenate(shard.y[: r + 1])
        if not len(y):
            kept.append(None)
            continue
        if mode == "partial_fit":
            model = clone(template) if model is None else model
            for _ in range(epochs):
                model.partial_fit(X, y, classes=classes)
        elif mode == "warm_start":
            if model is None:
                model = clone(template).set_params(warm_start=True)
            model.fit(X, y)
        kept.append(copy.deepcopy(model))
    return kept


class SISAClassifier(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """Exact unlearning by sharded, sliced training (SISA).

    Parameters
    ----------
    estimator : classifier
        Trained once per shard. With ``partial_fit`` (e.g. ``SGDClassifier``,
        skorch nets) slices are trained incrementally; with a ``warm_start``
        parameter each slice warm-starts from the previous checkpoint;
        otherwise every shard model is refit from scratch and slicing saves
        nothing.
    n_shards : int, default=5
        Disjoint shards, one model each.
    n_slices : int, default=1
        Slices per shard; a deletion retrains from the slice holding the row.
    aggregation : {"mean_proba", "vote"}, default="mean_proba"
        Mean of the shard models' probabilities, or a majority vote.
    incremental : {"auto", "partial_fit", "warm_start", "refit"}, default="auto"
        How a shard moves from one slice to the next.
    epochs_per_slice : int, default=1
        ``partial_fit`` passes over the cumulative slices at each slice.
    random_state : int, RandomState instance or None, default=None
        Draws the assignment of rows to shards and slices.
    n_jobs : int, default=None
        Shards trained in parallel through joblib.
    progress : bool, default=None
        tqdm bar over the shards trained by ``fit`` and ``unlearn`` (``None``:
        on a terminal or in a notebook).
    fingerprint_key : FingerprintKey, default=None
        The secret keying the fingerprints of the training rows (the ledger's
        and those that check requests); ``None`` draws a random key at
        ``fit``, kept in the model. See :class:`~sklearn_unlearn.FingerprintKey`
        for a key held outside the model (and its pickles).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    shards_ : list
        Per shard: its rows by slice (the data SISA must keep to retrain),
        their fingerprints and the checkpoints.
    ledger_ : Ledger
        One entry per fit and deletion, with the fingerprints of removed rows.
    last_retrain_fraction_ : float
        Rows trained on by the last deletion's retraining (with repeats over
        cumulative slices) divided by the rows a full retrain touches.

    Notes
    -----
    SISA's guarantee is exact: after ``unlearn`` every shard model is one that
    the training procedure could have produced without the forgotten rows.
    The price is that SISA keeps the training rows (it must retrain from
    them), and that each shard model sees only ``1 / n_shards`` of the data.

    References
    ----------
    L. Bourtoule et al., "Machine Unlearning", IEEE S&P 2021.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import SGDClassifier
    >>> from sklearn_unlearn.ensemble import SISAClassifier
    >>> X, y = make_classification(300, 5, random_state=0)
    >>> sisa = SISAClassifier(SGDClassifier(loss="log_loss", random_state=0),
    ...                       n_shards=3, n_slices=2, random_state=0).fit(X, y)
    >>> sisa.unlearn(X[:2], y[:2]).ledger_[-1].n_removed
    2
    >>> sisa.score(X, y) > 0.8
    True
    """

    __metadata_request__fit = {"forget": True}

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"])],
        "n_shards": [Interval(Integral, 1, None, closed="left")],
        "n_slices": [Interval(Integral, 1, None, closed="left")],
        "aggregation": [StrOptions({"mean_proba", "vote"})],
        "incremental": [StrOptions({"auto", "partial_fit", "warm_start", "refit"})],
        "epochs_per_slice": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "progress": ["boolean", None],
        "fingerprint_key": [FingerprintKey, None],
    }

    def __init__(
        self,
        estimator,
        n_shards: int = 5,
        n_slices: int = 1,
        *,
        aggregation: str = "mean_proba",
        incremental: str = "auto",
        epochs_per_slice: int = 1,
        random_state=None,
        n_jobs: int | None = None,
        progress: bool | None = None,
        fingerprint_key=None,
    ):
        self.estimator = estimator
        self.n_shards = n_shards
        self.n_slices = n_slices
        self.aggregation = aggregation
        self.incremental = incremental
        self.epochs_per_slice = epochs_per_slice
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress
        self.fingerprint_key = fingerprint_key

    def _key(self) -> bytes:
        return resolve_key(self.fingerprint_key, self.fingerprint_key_)

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, forget=None):
        """Split the rows into shards and slices and train every shard.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        forget : array-like of bool, shape (n_samples,), default=None
            Rows to forget right after fitting (see
            :meth:`UnlearningClassifier.fit`).

        Returns
        -------
        self : object
        """
        X_arg, y_arg = X, y
        X, y = validate_data(self, X, y, reset=True, dtype="numeric")
        check_classification_targets(y)
        forget = check_forget_mask(forget, len(y))
        if self.aggregation == "mean_proba" and not hasattr(
            self.estimator, "predict_proba"
        ):
            raise ValueError(
                f"aggregation='mean_proba' needs predict_proba, which "
                f"{type(self.estimator).__name__} lacks; use aggregation='vote'."
            )
        t0 = time.perf_counter()
        self.classes_ = np.unique(y)
        self._mode = _incremental_mode(self.estimator, self.incremental)
        rng = np.random.default_rng(
            self.random_state
            if not isinstance(self.random_state, np.random.RandomState)
            else self.random_state.randint(2**31)
        )
        # deal each class's rows in turn to the shards (stratified shards)
        dealt = [[] for _ in range(self.n_shards)]
        start = 0
        for c in self.classes_:
            rows = rng.permutation(np.flatnonzero(y == c))
            for j in range(self.n_shards):
                dealt[(start + j) % self.n_shards].append(rows[j :: self.n_shards])
            start += len(rows)
        self.fingerprint_key_ = self.fingerprint_key or FingerprintKey.generate()
        keys = fingerprint_array(X, y, self._key())
        shards = []
        for parts in dealt:
            rows = rng.permutation(np.concatenate(parts))
            shard = _Shard()
            for part in np.array_split(rows, self.n_slices):
                part = np.sort(part)
                shard.X.append(X[part])
                shard.y.append(y[part])
                shard.keys.append(keys[part])
            shards.append(shard)
        self.shards_ = self._train(shards, [0] * len(shards))
        self.ledger_ = Ledger()
        self.ledger_.record(
            operation="fit",
            method="SISA",
            duration_s=time.perf_counter() - t0,
            n_removed=0,
            n_added=len(y),
            n_remaining=len(y),
        )
        self.last_retrain_fraction_ = 1.0
        if forget is not None and forget.any():
            self.unlearn(X[forget], y[forget])
        record_training_fold(self, X_arg, y_arg, forget)
        return self

    def _train(self, shards, starts):
        """Retrain each shard from its start slice (in parallel); new shards."""
        from ..metrics._parallel import parallel_map

        todo = [i for i, s in enumerate(starts) if s is not None]
        results = parallel_map(
            _train_slices,
            [
                (
                    self.estimator,
                    shards[i],
                    starts[i],
                    self._mode,
                    self.classes_,
                    self.epochs_per_slice,
                )
                for i in todo
            ],
            n_jobs=self.n_jobs,
            progress=self.progress,
            desc="SISA shards",
        )
        out = list(shards)
        for i, checkpoints in zip(todo, results, strict=True):
            out[i] = _Shard(shards[i].X, shards[i].y, shards[i].keys, checkpoints)
        if all(s.model is None for s in out):
            raise ValueError("No shard holds any row; nothing was changed.")
        return out

    # -------------------------------------------------------------- unlearn
    def unlearn(self, X, y):
        """Forget rows exactly: retrain their shards from the slice before them.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
        y : array-like of shape (n_rows,)

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            If a row was never trained on (or is asked for more often than it
            was); nothing is changed.
        """
        with request_lock(self):  # one request at a time
            return self._unlearn(X, y)

    def _unlearn(self, X, y):
        check_is_fitted(self)
        t0 = time.perf_counter()
        X = validate_data(self, X, reset=False, dtype="numeric")
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"X has {X.shape[0]} rows but y has shape {y.shape}.")
        keys = fingerprint_array(X, y, self._key())
        where = self._locate(keys)
        shards = [
            _Shard(list(s.X), list(s.y), list(s.keys), s.checkpoints)
            for s in self.shards_
        ]
        starts: list = [None] * len(shards)
        for (i, r), idx in where.items():
            keep = np.ones(len(shards[i].y[r]), dtype=bool)
            keep[idx] = False
            shards[i].X[r] = shards[i].X[r][keep]
            shards[i].y[r] = shards[i].y[r][keep]
            shards[i].keys[r] = shards[i].keys[r][keep]
            starts[i] = r if starts[i] is None else min(starts[i], r)
        new = self._train(shards, starts)
        touched = [i for i, r in enumerate(starts) if r is not None]
        cost = [self._training_cost(shard, 0) for shard in new]
        redone = sum(self._training_cost(new[i], starts[i]) for i in touched)
        self.shards_ = new
        self.last_retrain_fraction_ = redone / max(sum(cost), 1)
        self.ledger_.record(
            operation="unlearn",
            method="SISA",
            duration_s=time.perf_counter() - t0,
            n_removed=len(y),
            n_added=0,
            n_remaining=sum(s.n_rows for s in new),
            removed=keys,
            notes=(f"retrained shards {touched}",),
        )
        forget_training_fold(self)
        return self

    def _training_cost(self, shard: _Shard, start: int) -> int:
        """Rows visited when ``shard`` is retrained from slice ``start``."""
        sizes = np.cumsum([len(y) for y in shard.y])
        if self._mode == "refit":
            return int(sizes[-1])
        return int(sizes[start:].sum())

    def _locate(self, keys: np.ndarray) -> dict:
        """``{(shard, slice): positions}`` for each requested row, or raise.

        A duplicated row is taken from the latest slice that holds a copy,
        which keeps the retraining short.
        """
        held, where = [], []
        for i, shard in enumerate(self.shards_):
            for r, k in enumerate(shard.keys):
                held.append(k)
                where.append(
                    np.column_stack(
                        [np.full(len(k), r), np.full(len(k), i), np.arange(len(k))]
                    )
                )
        held, where = np.concatenate(held), np.concatenate(where)
        order = np.lexsort((held[:, 1], held[:, 0]))
        held, where = held[order], where[order]
        first = np.searchsorted(held[:, 0], keys[:, 0], side="left")
        last = np.searchsorted(held[:, 0], keys[:, 0], side="right")
        used: set = set()
        taken: dict = {}
        missing = []
        for j in range(len(keys)):
            run = [
                tuple(where[t])
                for t in range(first[j], last[j])
                if held[t, 1] == keys[j, 1] and tuple(where[t]) not in used
            ]
            if not run:
                missing.append(j)
                continue
            r, i, pos = max(run)  # the latest slice first
            used.add((r, i, pos))
            taken.setdefault((int(i), int(r)), []).append(int(pos))
        if missing:
            more = " ..." if len(missing) > 20 else ""
            raise ValueError(
                f"{len(missing)} of the {len(keys)} rows to remove were never trained "
                f"on or were already forgotten (positions {missing[:20]}{more}). "
                "Nothing was changed."
            )
        return {k: np.asarray(v) for k, v in taken.items()}

    # -------------------------------------------------------------- predict
    def _models(self):
        check_is_fitted(self)
        return [s.model for s in self.shards_ if s.model is not None]

    def predict_proba(self, X):
        """Mean of the shard models' class probabilities (vote shares for "vote").

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        models = self._models()
        X = validate_data(self, X, reset=False, dtype="numeric")
        P = np.zeros((X.shape[0], len(self.classes_)))
        for model in models:
            cols = np.searchsorted(self.classes_, model.classes_)
            if self.aggregation == "mean_proba":
                P[:, cols] += model.predict_proba(X)
            else:
                pred = np.searchsorted(self.classes_, model.predict(X))
                P[np.arange(len(P)), pred] += 1.0
        return P / P.sum(axis=1, keepdims=True)

    def predict(self, X):
        """The class with the largest aggregated probability (or vote).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
