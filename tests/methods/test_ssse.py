"""SSSE: the empirical-Fisher step, with epsilon tuned, beats doing nothing."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import (
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    RidgeClassifier,
)

from sklearn_unlearn.methods import SSSE

N = 200  # rows of the shared data (conftest.N)
N_DEL = 4
EPSILONS = [0.03, 0.1, 0.3, 1.0, 3.0]

MODELS = {
    "ridge": (Ridge(alpha=1.0), "real"),
    "ridge-classifier": (RidgeClassifier(alpha=1.0), "multiclass"),
    "logistic-binary": (LogisticRegression(C=1.0), "binary"),
    "logistic-multinomial": (LogisticRegression(C=1.0), "multiclass"),
    "poisson": (PoissonRegressor(alpha=0.01), "count"),
}


@pytest.mark.parametrize("model_id", list(MODELS))
def test_tuned_epsilon_is_closer_than_doing_nothing(model_id, kit):
    X, y = kit.data(MODELS[model_id][1])
    distances = []
    for eps in EPSILONS:
        model = kit.wrapper(MODELS[model_id], SSSE(epsilon=eps, block_rows=32)).fit(
            X, y
        )
        before = kit.project(model.adapter_, model.state_.theta)
        model.unlearn(X[:N_DEL], y[:N_DEL])
        ref = kit.reference_theta(model, X[N_DEL:], y[N_DEL:])
        distances.append(
            np.linalg.norm(kit.project(model.adapter_, model.state_.theta) - ref)
        )
    d_nothing = np.linalg.norm(before - ref)
    assert d_nothing > 1e-4
    assert min(distances) < 0.9 * d_nothing


def test_fitted_curvature_is_the_empirical_fisher_inverse(kit):
    X, y = kit.data("binary")
    model = kit.wrapper(
        MODELS["logistic-binary"], SSSE(damping=1e-3, block_rows=16)
    ).fit(X, y)
    a = model.adapter_
    theta = model.state_.theta
    G = a.per_sample_gradients(theta, X, a.encode_target(y))
    F = G.T @ G + np.diag(a.penalty_strength(N) * a.penalty_mask + 1e-3)
    assert_allclose(model.state_.curvature.inverse_, np.linalg.inv(F), rtol=1e-8)


def test_step_and_downdate_follow_the_paper(kit):
    X, y = kit.data("binary")
    eps = 0.7
    model = kit.wrapper(MODELS["logistic-binary"], SSSE(epsilon=eps)).fit(X, y)
    a = model.adapter_
    theta = model.state_.theta.copy()
    Finv = model.state_.curvature.inverse_.copy()
    y_enc = a.encode_target(y[:N_DEL])
    g = -a.gradient(theta, X[:N_DEL], y_enc, np.ones(N_DEL))
    model.unlearn(X[:N_DEL], y[:N_DEL])
    assert_allclose(model.state_.theta, theta - eps * Finv @ g, rtol=1e-10)
    # the erased rows' rank-one terms leave F^{-1}
    G = a.per_sample_gradients(theta, X[:N_DEL], y_enc)
    F_new = np.linalg.inv(Finv) - G.T @ G
    assert_allclose(model.state_.curvature.inverse_, np.linalg.inv(F_new), rtol=1e-7)
    assert model.ledger_[-1].param_error_bound is None


def test_grid_over_epsilon_with_set_params(kit):
    model = kit.wrapper(MODELS["logistic-binary"], SSSE())
    model.set_params(method__epsilon=0.25, method__damping=1e-3)
    params = model.get_params()
    assert (params["method__epsilon"], params["method__damping"]) == (0.25, 1e-3)


@pytest.mark.parametrize(
    "params, match",
    [({"epsilon": 0.0}, "epsilon"), ({"damping": 0.0}, "damping")],
)
def test_invalid_hyperparameters_are_refused(params, match, kit):
    X, y = kit.data("binary")
    with pytest.raises(ValueError, match=match):
        kit.wrapper(MODELS["logistic-binary"], SSSE(**params)).fit(X, y)
