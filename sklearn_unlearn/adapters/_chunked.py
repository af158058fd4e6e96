"""Fitting a linear model on rows that do not fit in memory.

scikit-learn's solvers load all rows, so for a ``numpy.memmap`` or a
``dask.array.Array`` the wrapped model is fitted by our own exact Newton
method over the chunked rows (:func:`minimize_newton_chunked`):

* **start**: the wrapped estimator's own ``coef_``/``intercept_`` when it is
  already fitted on the same features and classes and has
  ``warm_start=True`` (scikit-learn's meaning of that flag); otherwise the
  wrapped estimator fitted by scikit-learn on a seeded random subsample of
  20,000 rows (at most one chunk; plus the first row of each class), read
  into memory; the
  best constant model if that fit is not finite. Refits after a deletion
  (``Retrain``, an exceeded ``error_budget``) follow the same rule.
* **iterations**: exact Newton steps with Armijo backtracking until the step
  is at rounding level, as :func:`~._newton_solver.minimize_newton` does in
  memory; the start changes the time, never the result. Each step costs one
  pass over the rows (loss, gradient and Hessian are accumulated together, at
  the trial point), plus one per backtracking halving. ``polish`` has no
  effect: the fit *is* the polish.
* **the fitted object**: that subsample fit is a scikit-learn estimator with
  every attribute ``predict`` needs (``classes_``, a GLM's link); its
  ``coef_``/``intercept_`` are overwritten with the Newton solution and
  ``n_iter_`` with the number of Newton steps. Other attributes of the
  subsample fit (``LinearRegression.rank_``, ``singular_``) describe only
  the subsample.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from ..curvature import CholeskyCurvature
from ..utils._out_of_core import ChunkedRows
from ._linear import LinearAdapter
from ._losses import BinomialLoss, HalfTweedieLogLoss, MultinomialLoss

__all__ = [
    "check_out_of_core_method",
    "fit_out_of_core",
    "initial_theta",
    "minimize_newton_chunked",
]

#: methods whose fit and steps only need sums over the rows
OUT_OF_CORE_METHODS = ("Newton", "FirstOrder", "Retrain")

_SUBSAMPLE = 20_000  # random rows of the template fit, besides one per class


def minimize_newton_chunked(
    adapter, theta, X: ChunkedRows, y_enc, c, *, max_iter: int = 50, rtol=1e-12
):
    """:func:`~._newton_solver.minimize_newton` with one pass over the rows per step.

    The same iteration and stopping rules; the loss, gradient and Hessian at a
    trial point come from one pass over ``X`` (one read and one float64 cast of
    each chunk), and when the full step is accepted they serve the next
    iteration as well. Only a backtracking halving costs a pass of its own.

    Parameters
    ----------
    adapter : LinearAdapter
    theta : ndarray of shape (p,)
        Starting point.
    X : ChunkedRows
    y_enc, c : ndarray of shape (n_samples,) or (n_samples, K)
        Encoded targets and row weights, in memory.
    max_iter : int, default=50
    rtol : float, default=1e-12

    Returns
    -------
    theta, hessian, grad_norm, n_iter
        As :func:`~._newton_solver.minimize_newton`.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_unlearn.adapters import LinearAdapter
    >>> from sklearn_unlearn.adapters._chunked import minimize_newton_chunked
    >>> from sklearn_unlearn.utils._out_of_core import ChunkedRows
    >>> rng = np.random.default_rng(0)
    >>> path = os.path.join(tempfile.mkdtemp(), "X.f64")
    >>> X = np.memmap(path, dtype=np.float64, mode="w+", shape=(500, 3))
    >>> X[:] = rng.normal(size=(500, 3))
    >>> y = X @ [1.0, 2.0, 3.0]
    >>> adapter = LinearAdapter(Ridge().fit(X[:10], y[:10]))
    >>> theta, H, gnorm, n_iter = minimize_newton_chunked(
    ...     adapter, np.zeros(4), ChunkedRows(X, chunk_bytes=3200), y, np.ones(500))
    >>> ref = Ridge().fit(np.asarray(X), y)
    >>> bool(np.allclose(theta[:3], ref.coef_, rtol=1e-10))
    True
    """
    theta = np.array(theta, dtype=np.float64)
    P = adapter.penalty_mask
    lam = adapter.penalty_strength(float(np.sum(c)))
    Z = adapter.null_directions()

    def evaluate(th):  # one pass: (J, g, H) of the full objective
        def block(Xb, yb, cb):
            return (
                adapter.loss_value(th, Xb, yb, cb),
                adapter.gradient(th, Xb, yb, cb),
                adapter.hessian(th, Xb, yb, cb),
            )

        J, g, H = X.map_reduce(block, y_enc, c)
        J += 0.5 * lam * float(np.sum(P * th**2))
        return J, g + lam * P * th, H + lam * np.diag(P)

    J, g, H = evaluate(theta)
    n_iter = 0
    prev_gnorm, last_move = np.inf, np.inf
    while True:
        gnorm = float(np.linalg.norm(g))
        stalled = last_move <= 1e-6 and gnorm > 0.5 * prev_gnorm
        if n_iter >= max_iter or last_move <= rtol or stalled:
            break
        prev_gnorm = gnorm
        step = -CholeskyCurvature(H, null_directions=Z).solve(g)
        if Z.shape[1]:
            step -= Z @ (Z.T @ step)
        n_iter += 1
        if adapter.is_quadratic:  # one step is exact, a second one refines
            theta = theta + step
            J, g, H = evaluate(theta)
            max_iter = min(max_iter, 2)
            continue
        slope = float(g @ step)
        J_t, g_t, H_t = evaluate(theta + step)
        t = 1.0
        while J_t > J + 1e-4 * t * slope + 1e-15 * abs(J) and t > 1e-10:
            t *= 0.5
            J_t = adapter.objective(theta + t * step, X, y_enc, c)
        if t < 1.0:
            J_t, g_t, H_t = evaluate(theta + t * step)
        theta = theta + t * step
        J, g, H = J_t, g_t, H_t
        last_move = t * float(np.linalg.norm(step)) / (1 + float(np.linalg.norm(theta)))
    return theta, H, float(np.linalg.norm(g)), n_iter


def initial_theta(adapter, y_enc, c) -> np.ndarray:
    """The best constant model: zero coefficients, intercept from the mean target.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.adapters import LinearAdapter
    >>> from sklearn_unlearn.adapters._chunked import initial_theta
    >>> X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 1, 1, 1])
    >>> adapter = LinearAdapter(LogisticRegression().fit(X, y))
    >>> initial_theta(adapter, adapter.encode_target(y), np.ones(4)).round(4)
    array([0.    , 1.0986])
    """
    theta = np.zeros((adapter.n_outputs, adapter.n_cols))
    if not adapter.fit_intercept:
        return theta.ravel()
    w = float(np.sum(c))
    loss = adapter.loss
    if isinstance(loss, MultinomialLoss):
        idx = np.asarray(y_enc, dtype=np.intp)
        p = np.bincount(idx, weights=c, minlength=adapter.n_outputs) / w
        logp = np.log(np.clip(p, 1e-12, None))
        theta[:, -1] = logp - logp.mean()
        return theta.ravel()
    mean = np.asarray(c @ np.asarray(y_enc).reshape(len(c), -1)) / w
    if isinstance(loss, BinomialLoss):
        m = np.clip(mean, 1e-12, 1 - 1e-12)
        mean = np.log(m / (1 - m))
    elif isinstance(loss, HalfTweedieLogLoss):
        mean = np.log(np.clip(mean, 1e-12, None))
    theta[:, -1] = mean
    return theta.ravel()


def _template_rows(y, n, classifier: bool, limit: int) -> np.ndarray:
    """A seeded random subsample, with the first row of every class."""
    size = min(n, _SUBSAMPLE, limit)
    rows = np.sort(np.random.default_rng(0).choice(n, size=size, replace=False))
    if classifier:
        _, per_class = np.unique(y, return_index=True)
        rows = np.union1d(rows, per_class)
    return rows


def _warm_start_theta(template, adapter) -> np.ndarray | None:
    """The user's coefficients, when ``warm_start=True`` and they fit the data."""
    if not getattr(template, "warm_start", False) or not hasattr(template, "coef_"):
        return None
    if getattr(template, "n_features_in_", None) != adapter.n_features_in_:
        return None
    classes = getattr(template, "classes_", None)
    if (classes is None) != (adapter.classes_ is None) or (
        classes is not None and not np.array_equal(classes, adapter.classes_)
    ):
        return None
    if np.size(template.coef_) != adapter.n_outputs * adapter.n_features_in_:
        return None
    return adapter.get_theta(template)


def fit_out_of_core(
    template,
    X: ChunkedRows,
    y,
    sample_weight=None,
    *,
    classifier: bool,
    adapter: LinearAdapter | None = None,
    start=None,
    max_iter: int = 50,
):
    """Fit a clone of ``template`` on chunked rows by exact Newton steps.

    Parameters
    ----------
    template : estimator instance
        The (possibly fitted) supported linear model.
    X : ChunkedRows
        Validated rows.
    y : ndarray of shape (n_samples,)
        Targets, in memory.
    sample_weight : ndarray of shape (n_samples,), default=None
    classifier : bool
        Whether the template fit must see every class.
    adapter : LinearAdapter, default=None
        Reused when given (a refit); built from the template fit otherwise.
    start : ndarray of shape (p,), default=None
        Starting parameters; ``None`` applies the rule of the module docstring.
    max_iter : int, default=50

    Returns
    -------
    est : fitted estimator
    adapter : LinearAdapter
    theta : ndarray of shape (p,)
    hessian : ndarray of shape (p, p)
    grad_norm : float
    """
    idx = _template_rows(y, X.shape[0], classifier, X.chunk_rows)
    est = clone(template)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if sample_weight is None:
            est.fit(X.take(idx), y[idx])
        else:
            est.fit(X.take(idx), y[idx], sample_weight=sample_weight[idx])
    _check_target_range(est, y)
    if adapter is None:
        adapter = LinearAdapter(est)
    y_enc = adapter.encode_target(y)
    c = adapter.row_weights(y, sample_weight)
    if start is None:
        start = _warm_start_theta(template, adapter)
    if start is None:
        start = adapter.get_theta(est)  # the subsample's fit
        if not np.all(np.isfinite(start)):
            start = initial_theta(adapter, y_enc, c)
    theta, H, gnorm, n_iter = minimize_newton_chunked(
        adapter, start, X, y_enc, c, max_iter=max_iter
    )
    if n_iter >= max_iter and not adapter.is_quadratic:
        warnings.warn(
            f"The chunked Newton fit stopped after max_iter={max_iter} steps with a "
            f"gradient norm of {gnorm:.3g}.",
            ConvergenceWarning,
            stacklevel=3,
        )
    adapter.set_theta(est, theta)
    if getattr(est, "n_iter_", None) is not None:
        est.n_iter_ = (
            np.full(np.shape(est.n_iter_), n_iter, dtype=np.int32)
            if np.ndim(est.n_iter_)
            else n_iter
        )
    return est, adapter, theta, H, gnorm


def check_out_of_core_method(method) -> None:
    """Refuse a method that needs every row's gradient in memory (SSSE, PUMA).

    Examples
    --------
    >>> from sklearn_unlearn.methods import SSSE, Newton
    >>> from sklearn_unlearn.adapters._chunked import check_out_of_core_method
    >>> check_out_of_core_method(Newton())
    >>> try:
    ...     check_out_of_core_method(SSSE())
    ... except ValueError as exc:
    ...     print(str(exc)[:43])
    SSSE cannot work on out-of-core rows (a mem
    """
    if type(method).__name__ not in OUT_OF_CORE_METHODS:
        raise ValueError(
            f"{method.name} cannot work on out-of-core rows (a memmap or dask "
            "array): it needs per-row gradients in memory. Use one of "
            f"{', '.join(OUT_OF_CORE_METHODS)}, or load X into memory."
        )


def _check_target_range(est, y) -> None:
    """A GLM's targets must lie in its distribution's range (checked on all rows)."""
    loss = getattr(est, "_base_loss", None)  # set by scikit-learn's GLM fit
    if loss is not None and not loss.in_y_true_range(np.asarray(y, dtype=np.float64)):
        raise ValueError(
            f"Some value(s) of y are out of the valid range of the loss "
            f"{type(loss).__name__!r} of {type(est).__name__}."
        )
