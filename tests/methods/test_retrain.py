"""Retrain: the refit itself, and nothing without the retained rows."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge

from sklearn_unlearn import UnlearningClassifier, UnlearningRegressor
from sklearn_unlearn.methods import Retrain

SEED = 0
N, D = 150, 4
N_DEL = 5
TIGHT = dict(solver="newton-cholesky", tol=1e-12, max_iter=1000)


def _data(kind):
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(N, D))
    lin = X @ np.array([1.0, -1.0, 0.5, 0.0])
    if kind == "binary":
        return X, (lin + rng.logistic(size=N) > 0).astype(int)
    if kind == "count":
        return X, rng.poisson(np.exp(0.3 * lin)).astype(float)
    return X, lin + rng.normal(size=N)


CASES = {
    "logistic": (UnlearningClassifier, LogisticRegression(C=1.0), "binary"),
    "ridge": (UnlearningRegressor, Ridge(alpha=1.0), "real"),
    "poisson": (UnlearningRegressor, PoissonRegressor(alpha=0.01), "count"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("method", [Retrain(), "retrain"])
def test_retrain_equals_the_refit(case, method):
    cls, est, kind = CASES[case]
    X, y = _data(kind)
    model = cls(est, method=method).fit(X, y)
    model.unlearn(X[:N_DEL], y[:N_DEL], X_retain=X[N_DEL:], y_retain=y[N_DEL:])
    # the same as fitting the wrapper on the remaining rows, bit for bit
    fresh = cls(est, method=method).fit(X[N_DEL:], y[N_DEL:])
    assert_array_equal(model.state_.theta, fresh.state_.theta)
    assert_array_equal(model.estimator_.coef_, fresh.estimator_.coef_)
    assert_array_equal(model.estimator_.intercept_, fresh.estimator_.intercept_)
    # and scikit-learn's own converged refit
    ref = est.__class__(**est.get_params())
    if not isinstance(ref, Ridge):
        ref.set_params(**TIGHT)
    ref.fit(X[N_DEL:], y[N_DEL:])
    assert_allclose(model.estimator_.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    assert_allclose(model.estimator_.intercept_, ref.intercept_, rtol=1e-8)
    entry = model.ledger_[-1]
    assert (entry.method, entry.n_remaining) == ("Retrain", N - N_DEL)
    assert entry.grad_residual_bound < 1e-8


@pytest.mark.parametrize("method", [Retrain(), "retrain"])
def test_retrain_without_retained_rows_raises_and_changes_nothing(method):
    X, y = _data("real")
    model = UnlearningRegressor(Ridge(), method=method).fit(X, y)
    before = pickle.dumps(model)
    with pytest.raises(ValueError, match="Retrain needs the rows that remain"):
        model.unlearn(X[:N_DEL], y[:N_DEL])
    assert pickle.dumps(model) == before


def test_retrain_step_alone_needs_retained_rows():
    # the method refuses on its own too, not only through the estimator
    from sklearn_unlearn.methods._base import Rows, UpdateRequest

    empty = Rows(np.zeros((0, D)), np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="X_retain and y_retain"):
        Retrain().step(None, None, UpdateRequest(remove=empty, add=empty))


def test_fit_with_forget_passes_the_retained_rows():
    X, y = _data("binary")
    forget = np.zeros(N, bool)
    forget[[3, 50, 77]] = True
    model = UnlearningClassifier(LogisticRegression(), method="retrain")
    model.fit(X, y, forget=forget)
    fresh = UnlearningClassifier(LogisticRegression(), method="retrain")
    fresh.fit(X[~forget], y[~forget])
    assert_array_equal(model.state_.theta, fresh.state_.theta)
    assert model.ledger_[-1].n_removed == 3
