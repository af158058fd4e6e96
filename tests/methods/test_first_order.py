"""FirstOrder: a safe gradient step on the new objective moves toward the refit."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.linear_model import (
    GammaRegressor,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    RidgeClassifier,
)

from sklearn_unlearn import UnlearningClassifier, UnlearningRegressor
from sklearn_unlearn.methods import FirstOrder

SEED = 0
N, D = 200, 4
N_DEL = 4
TIGHT = dict(solver="newton-cholesky", tol=1e-12, max_iter=1000)

# id -> (estimator, target kind, log-link offset)
MODELS = {
    "ridge": (Ridge(alpha=1.0), "real"),
    "ridge-classifier": (RidgeClassifier(alpha=1.0), "multiclass"),
    "logistic-binary": (LogisticRegression(C=1.0), "binary"),
    "logistic-multinomial": (LogisticRegression(C=1.0), "multiclass"),
    "poisson": (PoissonRegressor(alpha=0.01), "count"),
    # counts around 20: the curvature exp(eta) is far above 1
    "poisson-large-counts": (PoissonRegressor(alpha=0.01), "large-count"),
    "gamma": (GammaRegressor(alpha=0.01), "positive"),
}


def _data(kind, seed=SEED):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    lin = X @ np.array([1.0, -1.0, 0.5, 0.0])
    if kind == "binary":
        y = (lin + rng.logistic(size=N) > 0).astype(int)
    elif kind == "multiclass":
        y = np.digitize(lin + rng.logistic(size=N), [-1.0, 1.0])
    elif kind == "real":
        y = lin + rng.normal(size=N)
    elif kind == "count":
        y = rng.poisson(np.exp(0.3 * lin)).astype(float)
    elif kind == "large-count":
        y = rng.poisson(np.exp(3.0 + 0.3 * lin)).astype(float)
    else:
        y = rng.gamma(2.0, np.exp(0.3 * lin) / 2.0)
    return X, y


def _wrapper(model_id, method):
    est, kind = MODELS[model_id]
    cls = UnlearningClassifier if kind in ("binary", "multiclass") else None
    return (cls or UnlearningRegressor)(clone(est), method=method)


def _reference_theta(model, X, y):
    est = clone(model.estimator)
    if "solver" in est.get_params() and not isinstance(est, Ridge | RidgeClassifier):
        est.set_params(**TIGHT)
    est.fit(X, y)
    return _project(model.adapter_, model.adapter_.get_theta(est))


def _project(adapter, theta):
    Z = adapter.null_directions()
    return theta - Z @ (Z.T @ theta)


@pytest.mark.parametrize("model_id", list(MODELS))
def test_auto_tau_moves_toward_the_refit(model_id):
    X, y = _data(MODELS[model_id][1])
    model = _wrapper(model_id, FirstOrder()).fit(X, y)
    before = _project(model.adapter_, model.state_.theta)
    model.unlearn(X[:N_DEL], y[:N_DEL])
    after = _project(model.adapter_, model.state_.theta)
    ref = _reference_theta(model, X[N_DEL:], y[N_DEL:])
    d_nothing = np.linalg.norm(before - ref)
    d_first = np.linalg.norm(after - ref)
    assert d_nothing > 1e-4
    # tau = 1/L with L >= the curvature: a gradient step never moves away
    assert d_first < d_nothing


@pytest.mark.parametrize("tau", [1e-3, 0.01])
def test_explicit_tau_is_the_step_size(tau):
    X, y = _data("binary")
    model = _wrapper("logistic-binary", FirstOrder(tau=tau)).fit(X, y)
    a = model.adapter_
    theta = model.state_.theta.copy()
    g = -a.gradient(theta, X[:N_DEL], a.encode_target(y[:N_DEL]), np.ones(N_DEL))
    model.unlearn(X[:N_DEL], y[:N_DEL])
    assert_allclose(model.state_.theta, theta - tau * g, rtol=1e-12)
    entry = model.ledger_[-1]
    assert entry.method == "FirstOrder"
    assert entry.grad_residual_bound is None
    assert entry.param_error_bound is None
    assert_allclose(entry.step_norm, tau * np.linalg.norm(g))


def test_set_params_reaches_tau():
    model = _wrapper("ridge", FirstOrder())
    model.set_params(method__tau=0.25)
    assert model.get_params()["method__tau"] == 0.25
    X, y = _data("real")
    model.fit(X, y)
    assert model.method_.tau == 0.25


@pytest.mark.parametrize("tau", [0.0, -1.0, "fast"])
def test_invalid_tau_is_refused(tau):
    X, y = _data("real")
    with pytest.raises(ValueError, match="tau"):
        _wrapper("ridge", FirstOrder(tau=tau)).fit(X, y)
