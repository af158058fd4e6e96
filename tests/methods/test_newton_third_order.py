"""Newton(third_order=True): Chebyshev's correction from the sampled tensor."""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.special import expit
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler

from sklearn_unlearn import UnlearningClassifier, UnlearningRegressor
from sklearn_unlearn.methods import Newton
from sklearn_unlearn.pipeline import make_pipeline

SEED = 1
C = 1.0


def _data(n=600):
    X, y = make_classification(
        n_samples=n, n_features=6, n_informative=4, random_state=SEED
    )
    forget = np.zeros(n, dtype=bool)
    forget[np.argsort(X[:, 0])[: n // 10]] = True  # a 10% slab: a large change
    return X, y, forget


def _unlearned(X, y, forget, third_order):
    model = UnlearningClassifier(
        LogisticRegression(C=C), method=Newton(third_order=third_order)
    ).fit(X, y)
    before = model.state_.theta.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the estimate warns: a large change
        model.unlearn(X[forget], y[forget])
    return model, before


def _refit(X, y):
    ref = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12).fit(X, y)
    return np.r_[ref.coef_.ravel(), ref.intercept_]


def test_step_equals_chebyshev_with_a_finite_difference_third_derivative():
    """Every row sampled (n < 2,000): the tensor is the exact third derivative.

    Independent reference: the explicit Hessian of the remaining objective and
    ``T[s, s]`` as a central difference of Hessian-vector products.
    """
    X, y, forget = _data()
    model, theta0 = _unlearned(X, y, forget, True)
    Xk = np.hstack([X[~forget], np.ones((int((~forget).sum()), 1))])
    yk = y[~forget]
    mask = np.r_[np.ones(X.shape[1]), 0.0]

    def grad(th):
        return Xk.T @ (expit(Xk @ th) - yk) + mask * th / C

    def hess(th):
        p = expit(Xk @ th)
        return (Xk * (p * (1 - p))[:, None]).T @ Xk + np.diag(mask / C)

    H = hess(theta0)
    s = -np.linalg.solve(H, grad(theta0))
    eps = 1e-4
    Tss = (hess(theta0 + eps * s) @ s - hess(theta0 - eps * s) @ s) / (2 * eps)
    expected = theta0 + s - np.linalg.solve(H, 0.5 * Tss)
    assert_allclose(model.state_.theta, expected, rtol=1e-7, atol=1e-9)


def test_corrected_step_lands_closer_and_stays_certified():
    X, y, forget = _data()
    ref = _refit(X[~forget], y[~forget])
    plain, _ = _unlearned(X, y, forget, False)
    third, _ = _unlearned(X, y, forget, True)
    err_plain = np.linalg.norm(plain.state_.theta - ref)
    err_third = np.linalg.norm(third.state_.theta - ref)
    assert err_third < 0.25 * err_plain
    entry = third.ledger_[-1]
    assert entry.param_error_bound >= err_third  # still a bound
    # the ledger keeps the plain step's estimate: an overestimate here
    assert_allclose(entry.param_error_estimate, plain.ledger_[-1].param_error_estimate)
    assert entry.param_error_estimate >= err_third


def test_through_a_pipeline_on_a_dataframe():
    X, y, forget = _data()
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    errors = []
    for third_order in (False, True):
        pipe = make_pipeline(
            StandardScaler(),
            UnlearningClassifier(
                LogisticRegression(C=C), method=Newton(third_order=third_order)
            ),
        ).fit(frame, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipe.unlearn(frame[forget], y[forget])
        ref = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12),
        ).fit(frame[~forget], y[~forget])
        errors.append(
            np.abs(pipe.decision_function(frame) - ref.decision_function(frame)).max()
        )
    assert errors[1] < 0.5 * errors[0]


def test_models_without_a_tensor_take_the_plain_step():
    X, y, forget = _data()
    yr = X @ np.arange(1.0, 7.0)
    plain = UnlearningRegressor(Ridge(), method=Newton()).fit(X, yr)
    third = UnlearningRegressor(Ridge(), method=Newton(third_order=True)).fit(X, yr)
    plain.unlearn(X[forget], yr[forget])
    third.unlearn(X[forget], yr[forget])
    assert_allclose(third.state_.theta, plain.state_.theta, rtol=1e-12)


def test_third_order_is_validated():
    X, y, _ = _data(100)
    with pytest.raises(ValueError, match="third_order"):
        UnlearningClassifier(
            LogisticRegression(), method=Newton(third_order="yes")
        ).fit(X, y)
