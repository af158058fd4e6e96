"""Influence of training rows on a performance criterion (PUMA eq. 9)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from ..adapters import LinearAdapter
from ..curvature import CholeskyCurvature
from ..methods import Newton
from ..methods._base import Rows
from ..methods._puma import PumaCache, criterion_direction, influence
from ..methods._puma_criteria import resolve_criteria

__all__ = ["influence_scores", "self_influence"]


def fitted_parts(estimator, X, y, *, curvature: bool = True):
    """The math of a fitted model, and ``(X, y)`` as its adapter sees them.

    ``estimator`` is a fitted :class:`~sklearn_unlearn.UnlearningClassifier` /
    ``UnlearningRegressor`` (its cached curvature is reused when its method
    keeps one: the exact Hessian of a linear model, a net's dense damped
    Gauss-Newton matrix) or a fitted supported scikit-learn linear model.
    When no curvature is cached it is computed on ``(X, y)``, which should
    then be the training rows; ``curvature=False`` skips it (rows only).
    """
    check_is_fitted(estimator)
    model, cached, theta = estimator, None, None
    if hasattr(estimator, "adapter_") and hasattr(estimator, "state_"):
        adapter = estimator.adapter_
        theta = estimator.state_.theta
        cached = estimator.state_.curvature
        if isinstance(cached, PumaCache):
            cached = cached.curvature
        model = estimator.estimator_
        if getattr(adapter, "is_net", False):
            return _net_parts(estimator, adapter, theta, cached, X, y, curvature)
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
    rows = Rows(X, *_targets(adapter, X, y))
    H = cached if isinstance(cached, CholeskyCurvature) else None
    if H is None and curvature:
        H = Newton().prepare(adapter, theta, rows)
    return SimpleNamespace(
        adapter=adapter, theta=theta, curvature=H, rows=rows, model=model
    )


def _targets(adapter, X, y):
    y = np.asarray(y)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} entries.")
    return adapter.encode_target(y), adapter.row_weights(y)


def _net_parts(estimator, adapter, theta, cached, X, y, curvature):
    """``fitted_parts`` of a skorch net: its cached curvature, or a new one.

    Without a dense or low-rank cache (a method that keeps none, or a matrix-free one)
    the damped Gauss-Newton matrix is inverted by conjugate gradients over
    ``(X, y)`` with the method's ``damping`` (0 if it has none).
    """
    from ..curvature._low_rank import LowRankCurvature
    from ..curvature._torch_cholesky import TorchCholeskyCurvature

    X = check_array(X, dtype=adapter.numpy_dtype, allow_nd=True)
    n_features = adapter.n_features_in_
    if X.ndim == 2 and n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features but the model expects {n_features}."
        )
    rows = Rows(X, *_targets(adapter, X, y))
    dense_or_factored = (TorchCholeskyCurvature, LowRankCurvature)
    H = cached if isinstance(cached, dense_or_factored) else None
    if H is None and curvature:
        from ..curvature._net_operators import IterativeNetCurvature

        damping = getattr(estimator.method_, "damping", 0.0)
        damping = 0.0 if damping == "auto" else float(damping)
        spec = IterativeNetCurvature("cg", damping=damping)
        H = adapter.curvature_solver(spec, theta, rows, rows.weight)
    return SimpleNamespace(
        adapter=adapter, theta=theta, curvature=H, rows=rows, model=estimator
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
        Around a linear model or a skorch net (its cached curvature is used).
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
        val = fitted_parts(estimator, *validation, curvature=False).rows
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
        Around a linear model or a skorch net (its cached curvature is used).
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
    if getattr(a, "is_net", False):  # chunks of per-row gradients, in torch
        out = [
            (G.double() * H.solve(G.double().T).T).sum(dim=1).cpu().numpy()
            for G in a.per_sample_gradients(theta, rows.X, rows.y)
        ]
        return np.concatenate(out) if out else np.zeros(0)
    out = np.empty(rows.n)
    for start in range(0, rows.n, 4096):
        s = slice(start, start + 4096)
        G = a.per_sample_gradients(theta, rows.X[s], rows.y[s])  # (b, p)
        out[s] = np.einsum("bp,pb->b", G, H.solve(G.T))
    return out


def confidence(parts) -> np.ndarray:
    """Top-label confidence ``max_k p(k | x)`` of a probabilistic classifier."""
    if not parts.adapter.gives_probabilities:
        raise TypeError(
            "This needs class probabilities; the model gives none (use a "
            "LogisticRegression or a classifier net)."
        )
    out, _ = parts.adapter.output_pullback(parts.theta, parts.rows.X)
    return out.max(axis=1)
