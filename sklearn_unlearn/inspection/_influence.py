"""Influence of training rows on a performance criterion (PUMA eq. 9)."""

from __future__ import annotations

import sys
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


def row_index(X, y):
    """The pandas index that names the rows: ``X``'s, else ``y``'s, else None."""
    pd = sys.modules.get("pandas")  # a DataFrame exists only if pandas was imported
    if pd is None:
        return None
    if isinstance(X, pd.DataFrame):
        return X.index
    if isinstance(y, pd.Series):
        return y.index
    return None


def label_rows(values, index):
    """Per-row ``values`` as a Series (DataFrame when 2-d) on ``index``, if any."""
    if index is None:
        return values
    import pandas as pd

    if values.ndim == 1:
        return pd.Series(values, index=index)
    return pd.DataFrame(values, index=index)


def label_positions(positions, index):
    """The labels in ``index`` of the rows at ``positions``, if there is an index."""
    return positions if index is None else index[positions]


def final_model(estimator, X):
    """The model at the end of any pipelines, and ``X`` in its input features.

    Each pipeline's fitted steps but the last transform ``X`` (held fixed:
    influence is taken on the parameters of the last step only).
    """
    for _ in range(8):
        if not isinstance(estimator, Pipeline):
            break
        check_is_fitted(estimator)
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator[-1]
    return estimator, X


def _direct_inverse(cached):
    """``cached`` if it applies the inverse of the exact or damped curvature.

    A linear model's Cholesky factor, a net's dense or low-rank damped
    Gauss-Newton inverse; None for an approximation that influence should
    not use (SSSE's Fisher, K-FAC) or a matrix-free operator.
    """
    forms = [CholeskyCurvature]
    if "torch" in sys.modules:  # a net's operators exist only if torch is loaded
        from ..curvature._low_rank import LowRankCurvature
        from ..curvature._torch_cholesky import TorchCholeskyCurvature

        forms += [TorchCholeskyCurvature, LowRankCurvature]
    return cached if isinstance(cached, tuple(forms)) else None


def fitted_parts(estimator, X, y, *, curvature: bool = True):
    """The math of a fitted model, and ``(X, y)`` as its adapter sees them.

    ``estimator`` is a fitted :class:`~sklearn_unlearn.UnlearningClassifier` /
    ``UnlearningRegressor`` (its cached curvature is reused when its method
    keeps one: the exact Hessian of a linear model, a net's dense or
    low-rank damped Gauss-Newton matrix), a fitted supported scikit-learn
    linear model, or a fitted pipeline (an ``UnlearnPipeline``) ending in
    one of them: ``X`` goes through its fitted preprocessing, which is held
    fixed. When no curvature is cached it is computed on ``(X, y)``, which
    should then be the training rows: the exact Hessian of a linear model,
    or for a net (``matrix_free_curvature``) conjugate gradients on the
    damped Gauss-Newton matrix with the method's ``damping`` (0 if it has
    none). ``curvature=False`` skips it (rows only). ``index`` is the
    pandas index naming the rows (:func:`row_index`), or None.
    """
    index = row_index(X, y)
    model, X = final_model(estimator, X)
    check_is_fitted(model)
    damping = 0.0
    if hasattr(model, "adapter_") and hasattr(model, "state_"):
        adapter, theta = model.adapter_, model.state_.theta
        cached = model.state_.curvature
        if isinstance(cached, PumaCache):
            cached = cached.curvature
        damping = getattr(model.method_, "damping", 0.0)
        inner = model.estimator_
    else:
        inner, cached = model, None
        adapter = LinearAdapter(model)
        theta = adapter.get_theta(model)
    X = check_array(X, **adapter.input_checks)
    n_features = adapter.n_features_in_
    if X.ndim == 2 and n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features but the model expects {n_features}."
        )
    rows = Rows(X, *_targets(adapter, X, y))
    H = _direct_inverse(cached)
    if H is None and curvature:
        if adapter.matrix_free_curvature:
            from ..curvature._net_operators import IterativeNetCurvature

            damping = 0.0 if damping == "auto" else float(damping)
            spec = IterativeNetCurvature("cg", damping=damping)
            H = adapter.curvature_solver(spec, theta, rows, rows.weight)
        else:
            H = Newton().prepare(adapter, theta, rows)
    return SimpleNamespace(
        adapter=adapter,
        theta=theta,
        curvature=H,
        rows=rows,
        model=inner,
        index=index,
    )


def _targets(adapter, X, y):
    y = np.asarray(y)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} entries.")
    return adapter.encode_target(y), adapter.row_weights(y)


def influence_scores(
    estimator, X, y, *, criterion="auto", validation=None, group_by=None
):
    """Each row's influence ``psi_j = grad C^T H^{-1} grad loss_j`` (PUMA eq. 9).

    ``psi_j`` is the first-order change of the criterion ``C`` when row ``j``
    is deleted from the training set (``H`` is the Hessian of the summed
    training objective): negative values mark rows whose removal improves
    ``C``, i.e. harmful rows. All rows are scored by one product of the rows
    with the cached ``H^{-1} grad C``.

    On a pipeline (such as an
    :class:`~sklearn_unlearn.pipeline.UnlearnPipeline`) the rows go through
    its fitted preprocessing, which is held fixed, and the influence is that
    on the parameters of its last step, in the features that step sees: the
    same values as this function on the last step and the transformed rows.

    Parameters
    ----------
    estimator : fitted estimator
        An :class:`~sklearn_unlearn.UnlearningClassifier` or
        :class:`~sklearn_unlearn.UnlearningRegressor` around a linear model
        or a skorch net (its cached curvature is used), a supported
        scikit-learn linear model, or a fitted pipeline ending in one of
        them (an ``UnlearnPipeline`` over a DataFrame, say).
    X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
        Rows to score (the training rows, usually), as ``estimator`` takes
        them (raw rows for a pipeline).
    y : array-like of shape (n_samples,)
    criterion : str, callable or list, default="auto"
        As :class:`~sklearn_unlearn.methods.PUMA`'s ``criterion``.
    validation : tuple (X_val, y_val), default=None
        Rows on which ``C`` is measured; by default ``(X, y)``.
    group_by : None, "class" or callable, default=None
        As :class:`~sklearn_unlearn.methods.PUMA`'s ``group_by``.

    Returns
    -------
    psi : ndarray, pandas.Series or pandas.DataFrame
        One value per row of ``X``, in the order of ``X``: an ndarray of
        shape (n_samples,), or (n_samples, m) with one column per criterion
        component when ``C`` is vector-valued. When ``X`` is a DataFrame (or
        else ``y`` a Series) a Series, or a DataFrame with columns
        ``0 .. m - 1``, indexed like it.

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

    On a DataFrame the scores are labelled by its index:

    >>> import pandas as pd
    >>> frame = pd.DataFrame(X, index=[f"row {i}" for i in range(100)])
    >>> clf = UnlearningClassifier(LogisticRegression()).fit(frame, y)
    >>> influence_scores(clf, frame, y).index[:2].tolist()
    ['row 0', 'row 1']
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
    return label_rows(psi[:, 0] if psi.shape[1] == 1 else psi, parts.index)


def self_influence(estimator, X, y):
    """Koh & Liang's self-influence ``grad loss_j^T H^{-1} grad loss_j`` of each row.

    For a linear model ``grad loss_j = r_j (x) x~_j``; with the cached
    Cholesky factor ``L`` of ``H`` this is ``||L^{-1} grad loss_j||^2``, done
    for all rows by triangular solves in blocks. On a pipeline the rows go
    through its fitted preprocessing, held fixed, as in
    :func:`influence_scores`.

    Parameters
    ----------
    estimator : fitted estimator
        As in :func:`influence_scores`: an unlearning estimator around a
        linear model or a skorch net, a supported linear model, or a fitted
        pipeline ending in one.
    X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)

    Returns
    -------
    ndarray of shape (n_samples,) or pandas.Series
        One non-negative value per row of ``X``, in its order; a Series
        indexed like ``X`` when ``X`` is a DataFrame (or else ``y`` a Series).

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
        out = np.concatenate(out) if out else np.zeros(0)
    else:
        out = np.empty(rows.n)
        for start in range(0, rows.n, 4096):
            s = slice(start, start + 4096)
            G = a.per_sample_gradients(theta, rows.X[s], rows.y[s])  # (b, p)
            out[s] = np.einsum("bp,pb->b", G, H.solve(G.T))
    return label_rows(out, parts.index)


def confidence(parts) -> np.ndarray:
    """Top-label confidence ``max_k p(k | x)`` of a probabilistic classifier."""
    if not parts.adapter.gives_probabilities:
        raise TypeError(
            "This needs class probabilities; the model gives none (use a "
            "LogisticRegression or a classifier net)."
        )
    out, _ = parts.adapter.output_pullback(parts.theta, parts.rows.X)
    return out.max(axis=1)
