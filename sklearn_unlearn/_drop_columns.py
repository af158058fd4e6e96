"""Dropping input columns of a fitted linear unlearning model.

When no remaining row has a non-zero in an input column (a one-hot column
of a category that only forgotten rows held), a refit on the remaining rows
would not have the column, and under an L2 penalty the model's coefficient
on it is exactly 0 at the optimum: the data term does not depend on it, so
only the penalty acts on it. Dropping the column and its coefficients is
then the refit's answer, and every cached quantity of the model restricts
exactly to the columns that stay:

* ``theta``: the rows of ``W`` lose the column (one entry per class);
* the cached curvature: its principal submatrix (the remaining rows'
  Hessian has no off-diagonal term in that column; the penalty's diagonal
  entry goes with it);
* the Gram matrix of the certificate: its principal submatrix (the
  remaining rows contribute nothing to the dropped row and column);
* the sampled third derivative: the maps between the fit's and the current
  columns lose the column (see ``SampledThirdDerivative.without_columns``);
* the certificate's scalars (gradient bound, drifts, radius, cache error,
  error estimate) stay valid bounds: a restriction never increases a norm,
  and the gradient on the columns that stay is unchanged.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np

from .adapters._linear import LinearAdapter
from .curvature._cholesky import CholeskyCurvature

__all__ = ["ColumnDropRefused", "drop_input_columns", "prepare_column_drop"]

#: a dropped coefficient must be this small, relative to max(1, ||theta||)
COEF_TOL = 1e-8

#: methods whose fitted state is only ``UnlearnState`` (nothing in the features)
_METHODS = ("Newton", "Retrain")


class ColumnDropRefused(ValueError):
    """The columns cannot be dropped exactly; nothing was changed."""


def _check_model(model, columns) -> tuple[np.ndarray, int]:
    adapter = getattr(model, "adapter_", None)
    if getattr(model, "_is_net", False) or type(adapter) is not LinearAdapter:
        raise ColumnDropRefused("the model is not a linear model")
    state = model.state_
    if adapter.penalty_strength(state.total_weight) <= 0:
        raise ColumnDropRefused("the model has no L2 penalty")
    if getattr(model.method_, "name", None) not in _METHODS:
        raise ColumnDropRefused(f"the method {model.method_.name} keeps other state")
    if state.curvature is not None and not isinstance(
        state.curvature, CholeskyCurvature
    ):
        raise ColumnDropRefused("the cached curvature is not an exact Hessian")
    d = adapter.n_features_in_
    cols = np.unique(np.asarray(columns, dtype=np.intp).reshape(-1))
    if len(cols) != np.size(columns) or not len(cols):
        raise ColumnDropRefused("columns must be distinct and not empty")
    if cols[0] < 0 or cols[-1] >= d or len(cols) >= d:
        raise ColumnDropRefused(f"columns out of range for {d} features")
    if model.n_features_in_ != d:  # pragma: no cover - defensive
        raise ColumnDropRefused("the model's width and its adapter's differ")
    return cols, d


def prepare_column_drop(model, columns):
    """Check and compute a model without input ``columns``; return the commit.

    Nothing of ``model`` changes until the returned callable is called, which
    swaps in the new adapter, state and wrapped estimator at once. Requests
    after the drop must name rows by fingerprints of their raw form (as
    :class:`~sklearn_unlearn.pipeline.UnlearnPipeline` does): a model fitted
    on its own fingerprints rows in its input columns, which changed.

    Parameters
    ----------
    model : fitted UnlearningClassifier or UnlearningRegressor
        A linear model with an L2 penalty whose method keeps no other state
        (``Newton``, ``Retrain``).
    columns : array-like of int
        Input columns (of ``model.n_features_in_``) that no remaining row
        uses.

    Returns
    -------
    commit : callable
        Takes no argument; applies the drop.

    Raises
    ------
    ColumnDropRefused
        When the drop would not be exact: another kind of model, no penalty,
        or a coefficient on a dropped column that is not ~0 (above
        ``1e-8 * max(1, ||theta||)``) or a remaining row that uses it.
    """
    cols, d = _check_model(model, columns)
    adapter, state = model.adapter_, model.state_
    K, m = adapter.n_outputs, adapter.n_cols
    W = np.asarray(state.theta, dtype=np.float64).reshape(K, m)
    largest = float(np.max(np.abs(W[:, cols])))
    scale = max(1.0, float(np.linalg.norm(state.theta)))
    if not largest <= COEF_TOL * scale:
        raise ColumnDropRefused(
            f"a coefficient on a dropped column is {largest:.2g}, not ~0"
        )
    gram = state.gram
    if gram is not None and np.all(np.isfinite(gram)):
        used = np.abs(np.diag(gram)[cols])
        if np.any(used > 1e-8 * max(1.0, float(np.max(np.abs(np.diag(gram)))))):
            raise ColumnDropRefused("a remaining row uses a dropped column")
    keep_cols = np.setdiff1d(np.arange(m), cols)
    keep = (np.arange(K)[:, None] * m + keep_cols[None, :]).ravel()

    new_adapter = copy.copy(adapter)
    new_adapter.n_features_in_ = d - len(cols)
    new_adapter.n_cols = m - len(cols)
    new_adapter.n_params = K * new_adapter.n_cols

    theta = W[:, keep_cols].ravel().copy()
    curvature = state.curvature
    if curvature is not None:
        curvature = curvature.without(keep)
    third = state.third
    if third is not None:
        third = third.without_columns(keep_cols)
    pending = state.pending_gradient
    new_state = replace(
        state,
        theta=theta,
        curvature=curvature,
        gram=None if gram is None else gram[np.ix_(keep_cols, keep_cols)].copy(),
        pending_gradient=None if pending is None else pending[keep].copy(),
        third=third,
    )

    est = copy.deepcopy(model.estimator_)
    est.coef_ = np.delete(np.asarray(est.coef_), cols, axis=-1)
    est.n_features_in_ = d - len(cols)
    names = getattr(model, "feature_names_in_", None)
    est_names = getattr(est, "feature_names_in_", None)
    if est_names is not None:
        est.feature_names_in_ = np.delete(est_names, cols)
    new_adapter.set_theta(est, theta)

    def commit():
        model.estimator_ = est
        model.adapter_ = new_adapter
        model.state_ = new_state
        model.n_features_in_ = d - len(cols)
        if names is not None:
            model.feature_names_in_ = np.delete(names, cols)

    return commit


def drop_input_columns(model, columns) -> None:
    """Drop input ``columns`` that no remaining row uses from a fitted model.

    All or nothing: see :func:`prepare_column_drop`.
    """
    prepare_column_drop(model, columns)()
