"""Influence of training rows on a performance criterion (PUMA eq. 9)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from ..adapters import LinearAdapter
from ..adapters._losses import BinomialLoss, MultinomialLoss
from ..curvature import CholeskyCurvature
from ..methods import Newton
from ..methods._base import Rows
from ..methods._puma import PumaCache, criterion_direction, influence
from ..methods._puma_criteria import model_outputs, resolve_criteria

__all__ = ["influence_scores", "self_influence"]


def fitted_parts(estimator, X, y):
    """The math of a fitted model, and ``(X, y)`` as its linear part sees them.

    ``estimator`` is a fitted :class:`~sklearn_unlearn.UnlearningClassifier` /
    ``UnlearningRegressor`` (its cached exact Hessian is reused when its
    method keeps one) or a fitted supported scikit-learn linear model. When
    no exact Hessian is cached it is computed on ``(X, y)``, which should
    then be the training rows.
    """
    check_is_fitted(estimator)
    model, curvature, theta = estimator, None, None
    if hasattr(estimator, "adapter_") and hasattr(estimator, "state_"):
        adapter = estimator.adapter_
        theta = estimator.state_.theta
        cached = estimator.state_.curvature
        if isinstance(cached, PumaCache):
            cached = cached.curvature
        if isinstance(cached, CholeskyCurvature):
            curvature = cached
        model = estimator.estimator_
    if isinstance(model, Pipeline):
        X = model[:-1].transform(X)
        model = model[-1]
    if theta is None:
        adapter = LinearAdapter(model)
        theta = adapter.get_theta(model)
    X = check_array(X, accept_sparse="csr", dtype=np.float64)
    if X.shape[1] != adapter.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features but the model expects "
            f"{adapter.n_features_in_}."
        )
    y = np.asarray(y)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} entries.")
    rows = Rows(X, adapter.encode_target(y), adapter.row_weights(y))
    if curvature is None:
        curvature = Newton().prepare(adapter, theta, rows)
    return SimpleNamespace(
        adapter=adapter, theta=theta, curvature=curvature, rows=rows, model=model
    )


def influence_scores(
    estimator, X, y, *, criterion="auto", validation=None, group_by=None
) -> np.ndarray:
    """Each row's influence ``psi_j = grad C^T H^{-1} grad loss_j`` (PUMA eq. 9).

    ``psi_j`` is the first-order change of the criterion ``C`` when row ``j``
    is deleted from the training set (``H`` is the Hessian of the summed
    training objective): negative values mark rows whose removal improves
    ``C``, i.e. harmful rows. All rows are scored by one product of the rows
    with the cached ``H^{-1} grad C``.

    Parameters
    ----------
    estimator : fitted UnlearningClassifier, UnlearningRegressor or linear model
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Rows to score (the training rows, usually).
    y : array-like of shape (n_samples,)
    criterion : str, callable or list, default="auto"
        As :class:`~sklearn_unlearn.methods.PUMA`'s ``criterion``.
    validation : tuple (X_val, y_val), default=None
        Rows on which ``C`` is measured; by default ``(X, y)``.
    group_by : None, "class" or callable, default=None
        As :class:`~sklearn_unlearn.methods.PUMA`'s ``group_by``.

    Returns
    -------
    ndarray of shape (n_samples,) or (n_samples, m)
        One column per criterion component when ``C`` is vector-valued.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.inspection import influence_scores
    >>> X, y = make_classification(n_samples=100, random_state=0)
    >>> clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    >>> influence_scores(clf, X, y).shape
    (100,)
    """
    parts = fitted_parts(estimator, X, y)
    a, theta, rows = parts.adapter, parts.theta, parts.rows
    criteria = resolve_criteria(criterion, a)
    X_c, y_c = rows.X, rows.y
    if validation is not None:
        val = fitted_parts(estimator, *validation).rows
        X_c, y_c = val.X, val.y
    V, _, _ = criterion_direction(
        a, theta, parts.curvature, X_c, y_c, criteria, group_by
    )
    psi = influence(a, theta, rows.X, rows.y, V)
    return psi[:, 0] if psi.shape[1] == 1 else psi


def self_influence(estimator, X, y) -> np.ndarray:
    """Koh & Liang's self-influence ``grad loss_j^T H^{-1} grad loss_j`` of each row.

    For a linear model ``grad loss_j = r_j (x) x~_j``; with the cached
    Cholesky factor ``L`` of ``H`` this is ``||L^{-1} grad loss_j||^2``, done
    for all rows by triangular solves in blocks.

    Parameters
    ----------
    estimator : fitted UnlearningClassifier, UnlearningRegressor or linear model
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.inspection import self_influence
    >>> X, y = make_classification(n_samples=100, random_state=0)
    >>> lr = LogisticRegression().fit(X, y)
    >>> bool((self_influence(lr, X, y) >= 0).all())
    True
    """
    parts = fitted_parts(estimator, X, y)
    a, theta, rows, H = parts.adapter, parts.theta, parts.rows, parts.curvature
    out = np.empty(rows.n)
    for start in range(0, rows.n, 4096):
        s = slice(start, start + 4096)
        G = a.per_sample_gradients(theta, rows.X[s], rows.y[s])  # (b, p)
        out[s] = np.einsum("bp,pb->b", G, H.solve(G.T))
    return out


def confidence(parts) -> np.ndarray:
    """Top-label confidence ``max_k p(k | x)`` of a probabilistic classifier."""
    if not isinstance(parts.adapter.loss, BinomialLoss | MultinomialLoss):
        raise TypeError(
            "This needs class probabilities; the model gives none (use a "
            "LogisticRegression)."
        )
    out, _ = model_outputs(parts.adapter, parts.theta, parts.rows.X)
    return out.max(axis=1)
