"""Shared helpers of the method tests: data, wrappers, converged references."""

from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge, RidgeClassifier

from sklearn_unlearn import UnlearningClassifier, UnlearningRegressor

N, D = 200, 4
TIGHT = dict(solver="newton-cholesky", tol=1e-12, max_iter=1000)


def _data(kind, seed=0, n=N):
    """Rows of a known linear signal, with targets of the given ``kind``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    lin = X @ np.array([1.0, -1.0, 0.5, 0.0])
    if kind == "binary":
        y = (lin + rng.logistic(size=n) > 0).astype(int)
    elif kind == "multiclass":
        y = np.digitize(lin + rng.logistic(size=n), [-1.0, 1.0])
    elif kind == "real":
        y = lin + rng.normal(size=n)
    elif kind == "count":
        y = rng.poisson(np.exp(0.3 * lin)).astype(float)
    elif kind == "large-count":
        y = rng.poisson(np.exp(3.0 + 0.3 * lin)).astype(float)
    else:
        y = rng.gamma(2.0, np.exp(0.3 * lin) / 2.0)
    return X, y


def _wrapper(spec, method):
    """The unlearning estimator for ``spec = (estimator, target kind)``."""
    est, kind = spec
    cls = UnlearningClassifier if kind in ("binary", "multiclass") else None
    return (cls or UnlearningRegressor)(clone(est), method=method)


def _project(adapter, theta):
    """Drop the directions along which the objective is flat by design."""
    Z = adapter.null_directions()
    return theta - Z @ (Z.T @ theta)


def _reference_theta(model, X, y):
    """Parameters of a tightly converged scikit-learn refit on ``(X, y)``."""
    est = clone(model.estimator)
    if "solver" in est.get_params() and not isinstance(est, Ridge | RidgeClassifier):
        est.set_params(**TIGHT)
    est.fit(X, y)
    return _project(model.adapter_, model.adapter_.get_theta(est))


@pytest.fixture
def kit():
    """The helpers above, for tests in this folder."""
    return SimpleNamespace(
        data=_data, wrapper=_wrapper, project=_project, reference_theta=_reference_theta
    )
