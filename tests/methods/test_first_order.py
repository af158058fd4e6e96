"""FirstOrder: a safe gradient step on the new objective moves toward the refit."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import (
    GammaRegressor,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    RidgeClassifier,
)

from sklearn_unlearn.methods import FirstOrder

N_DEL = 4

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


@pytest.mark.parametrize("model_id", list(MODELS))
def test_auto_tau_moves_toward_the_refit(model_id, kit):
    X, y = kit.data(MODELS[model_id][1])
    model = kit.wrapper(MODELS[model_id], FirstOrder()).fit(X, y)
    before = kit.project(model.adapter_, model.state_.theta)
    model.unlearn(X[:N_DEL], y[:N_DEL])
    after = kit.project(model.adapter_, model.state_.theta)
    ref = kit.reference_theta(model, X[N_DEL:], y[N_DEL:])
    d_nothing = np.linalg.norm(before - ref)
    d_first = np.linalg.norm(after - ref)
    assert d_nothing > 1e-4
    # tau = 1/L with L >= the curvature: a gradient step never moves away
    assert d_first < d_nothing


@pytest.mark.parametrize("tau", [1e-3, 0.01])
def test_explicit_tau_is_the_step_size(tau, kit):
    X, y = kit.data("binary")
    model = kit.wrapper(MODELS["logistic-binary"], FirstOrder(tau=tau)).fit(X, y)
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


def test_set_params_reaches_tau(kit):
    model = kit.wrapper(MODELS["ridge"], FirstOrder())
    model.set_params(method__tau=0.25)
    assert model.get_params()["method__tau"] == 0.25
    X, y = kit.data("real")
    model.fit(X, y)
    assert model.method_.tau == 0.25


@pytest.mark.parametrize("tau", [0.0, -1.0, "fast"])
def test_invalid_tau_is_refused(tau, kit):
    X, y = kit.data("real")
    with pytest.raises(ValueError, match="tau"):
        kit.wrapper(MODELS["ridge"], FirstOrder(tau=tau)).fit(X, y)
