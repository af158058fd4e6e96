"""The public update methods shared by the unlearning estimators and the pipeline.

:class:`RequestMethodsMixin` holds ``unlearn``, ``relabel`` and ``update``.
They check the shape of a request and hand it to ``self._update(operation,
remove, add, retain)``, where each of ``remove``, ``add`` and ``retain`` is
``None`` or a triple ``(X, y, sample_weight)`` (``sample_weight`` may be
``None``, or :data:`KEEP_WEIGHTS` in ``add`` for a relabelling: each new copy
keeps the weight of the copy it replaces). The class that inherits them implements
``_update``. One estimator applies one request at a time: a second thread's
request waits for the first to commit (or fail), then is checked against the
new state.
"""

from __future__ import annotations

from ._request_lock import request_lock
from ._training_fold import forget_training_fold

__all__ = ["KEEP_WEIGHTS", "RequestMethodsMixin"]


class _KeepWeights:
    """The weight of rows added by ``relabel``: each keeps its old copy's."""

    _instance = None

    def __new__(cls):  # one object, also after unpickling
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __reduce__(self):
        return (_KeepWeights, ())

    def __repr__(self):
        return "KEEP_WEIGHTS"


#: ``add``'s weight in a relabelling: each new copy keeps its old copy's weight
KEEP_WEIGHTS = _KeepWeights()


def _num_rows(X) -> int | None:
    """Rows in ``X``, or ``None`` when that cannot be told (left to validation)."""
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape):
        return int(shape[0])
    try:
        return len(X)
    except TypeError:
        return None


def _as_triple(t, name):
    """``(X, y)`` or ``(X, y, sample_weight)`` as a triple."""
    if not isinstance(t, tuple | list) or len(t) not in (2, 3):
        raise TypeError(f"{name} must be a tuple (X, y) or (X, y, sample_weight).")
    return (t[0], t[1], t[2] if len(t) == 3 else None)


class RequestMethodsMixin:
    """``unlearn``, ``relabel`` and ``update``, delegating to ``self._update``.

    The inheriting class implements ``_update(operation, remove, add,
    retain)``: ``operation`` is ``"unlearn"``, ``"relabel"`` or ``"update"``;
    ``remove``, ``add`` and ``retain`` are ``None`` or ``(X, y,
    sample_weight)`` triples of rows as passed to ``fit``. It applies the
    request all at once or raises and changes nothing, and returns ``self``.
    """

    def _update(self, operation, remove, add, retain):  # pragma: no cover
        raise NotImplementedError

    def _apply(self, operation, remove, add, retain):
        """One request under the estimator's lock; the fit's rows are dropped."""
        with request_lock(self):  # one request at a time
            result = self._update(operation, remove=remove, add=add, retain=retain)
            forget_training_fold(self)  # the training rows changed
        return result

    def unlearn(
        self,
        X,
        y,
        sample_weight=None,
        *,
        X_retain=None,
        y_retain=None,
        sample_weight_retain=None,
    ):
        """Forget training rows: the fitted model becomes as if never trained on them.

        Any preprocessing fitted with the model (the steps of a pipeline
        before it) is downdated too.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_forget, n_features)
            Rows to forget, exactly as they were passed to ``fit``.
        y : array-like of shape (n_forget,)
            Their targets.
        sample_weight : array-like of shape (n_forget,), default=None
            Their training weights; by default the weights recorded at ``fit``.
        X_retain : {array-like, sparse matrix, DataFrame} of shape \
                (n_retain, n_features), default=None
            All rows that remain after this request, as passed to ``fit``.
            Needed by ``Retrain``, by ``Newton(refine=k)`` and to honour
            ``error_budget``; checked against the fingerprints of the
            training rows.
        y_retain : array-like of shape (n_retain,), default=None
            Their targets. Pass both ``X_retain`` and ``y_retain``, or neither.
        sample_weight_retain : array-like of shape (n_retain,), default=None
            Their training weights.

        Returns
        -------
        self : object
            The updated estimator.

        Raises
        ------
        ValueError
            If there is no row to forget; if a row was never trained on, was
            already forgotten, or is asked for more often than it was trained
            on; if the request would remove every training row; if the
            retained rows are not those that remain; on NaN/inf, wrong shapes
            or unseen classes; or if the model cannot apply the request.
            Nothing is changed then.
        """
        if _num_rows(X) == 0:
            raise ValueError("No rows to forget.")
        return self._apply(
            "unlearn",
            remove=(X, y, sample_weight),
            add=None,
            retain=self._retain_tuple(X_retain, y_retain, sample_weight_retain),
        )

    def relabel(
        self,
        X,
        y_old,
        y_new,
        *,
        X_retain=None,
        y_retain=None,
        sample_weight_retain=None,
    ):
        """Correct labels: rows trained with ``y_old`` are now labelled ``y_new``.

        Each corrected row keeps its training weight. Preprocessing fitted
        with the model is left as it is (a step whose fitted state may
        depend on the labels is named in a note).

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_rows, n_features)
            Rows to relabel, exactly as they were passed to ``fit``.
        y_old : array-like of shape (n_rows,)
            Labels the rows were trained with.
        y_new : array-like of shape (n_rows,)
            Corrected labels.
        X_retain : {array-like, sparse matrix, DataFrame} of shape \
                (n_retain, n_features), default=None
            All rows after the correction, as passed to ``fit``.
        y_retain : array-like of shape (n_retain,), default=None
            Their targets, holding ``y_new`` for the relabelled rows.
        sample_weight_retain : array-like of shape (n_retain,), default=None
            Their training weights.

        Returns
        -------
        self : object
            The updated estimator.

        Raises
        ------
        ValueError
            If there is no row to relabel; if a row was never trained on with
            ``y_old``; if the retained rows are not those after the
            correction; on NaN/inf, wrong shapes or unseen classes; or if the
            model cannot apply the request. Nothing is changed then.
        """
        if _num_rows(X) == 0:
            raise ValueError("No rows to relabel.")
        return self._apply(
            "relabel",
            remove=(X, y_old, None),
            add=(X, y_new, KEEP_WEIGHTS),
            retain=self._retain_tuple(X_retain, y_retain, sample_weight_retain),
        )

    def update(
        self,
        remove=None,
        add=None,
        *,
        X_retain=None,
        y_retain=None,
        sample_weight_retain=None,
    ):
        """The general operation: remove some training rows and add others.

        Feature corrections are ``update(remove=(X_old, y), add=(X_new, y))``.
        A part with no rows counts as absent.

        Parameters
        ----------
        remove : tuple ``(X, y)`` or ``(X, y, sample_weight)``, default=None
            Training rows to remove, as passed to ``fit``; without
            ``sample_weight``, the weights recorded at ``fit``.
        add : tuple ``(X, y)`` or ``(X, y, sample_weight)``, default=None
            Rows to add; without ``sample_weight``, each weighs 1.
        X_retain : {array-like, sparse matrix, DataFrame} of shape \
                (n_retain, n_features), default=None
            All rows after the update, as passed to ``fit``.
        y_retain : array-like of shape (n_retain,), default=None
            Their targets.
        sample_weight_retain : array-like of shape (n_retain,), default=None
            Their training weights.

        Returns
        -------
        self : object
            The updated estimator.

        Raises
        ------
        TypeError
            If ``remove`` or ``add`` is not a tuple of 2 or 3 items.
        ValueError
            If there is nothing to remove or add; if a row to remove was
            never trained on or already removed; if the request would remove
            every training row; if the retained rows are not those that
            remain; on NaN/inf, wrong shapes or unseen classes; or if the
            model cannot apply the request. Nothing is changed then.
        """
        remove = None if remove is None else _as_triple(remove, "remove")
        add = None if add is None else _as_triple(add, "add")
        if remove is not None and _num_rows(remove[0]) == 0:
            remove = None
        if add is not None and _num_rows(add[0]) == 0:
            add = None
        if remove is None and add is None:
            raise ValueError("Nothing to remove or add.")
        return self._apply(
            "update",
            remove=remove,
            add=add,
            retain=self._retain_tuple(X_retain, y_retain, sample_weight_retain),
        )

    @staticmethod
    def _retain_tuple(X, y, w):
        """``(X_retain, y_retain, sample_weight_retain)``, or ``None`` if not given."""
        if X is None and y is None:
            return None
        if X is None or y is None:
            raise ValueError("Pass both X_retain and y_retain, or neither.")
        return (X, y, w)
