"""The error budget: warn, or retrain when the retained rows are at hand."""

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression, PoissonRegressor

from sklearn_unlearn import (
    UnlearningBudgetWarning,
    UnlearningClassifier,
    UnlearningRegressor,
)


@pytest.fixture
def data():
    return make_classification(n_samples=300, n_features=5, random_state=0)


def test_budget_warns_without_data_and_leaves_a_note(data):
    X, y = data
    clf = UnlearningClassifier(LogisticRegression(), error_budget=1e-12).fit(X, y)
    with pytest.warns(UnlearningBudgetWarning, match="only a retrain is honest"):
        clf.unlearn(X[:10], y[:10])
    entry = clf.ledger_[-1]
    assert entry.param_error_bound > 1e-12
    assert any("warned" in note for note in entry.notes)


def test_budget_retrains_with_data(data):
    X, y = data
    clf = UnlearningClassifier(LogisticRegression(), error_budget=1e-12).fit(X, y)
    clf.unlearn(X[:10], y[:10], X_retain=X[10:], y_retain=y[10:])
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-12).fit(X[10:], y[10:])
    np.testing.assert_allclose(clf.estimator_.coef_, ref.coef_, rtol=1e-8)
    assert any("retrained" in note for note in clf.ledger_[-1].notes)
    # after the retrain the certificate is the measured gradient norm: tiny
    assert clf.ledger_[-1].grad_residual_bound < 1e-8


def test_generous_budget_is_silent(data, recwarn):
    X, y = data
    clf = UnlearningClassifier(LogisticRegression(), error_budget=1e6).fit(X, y)
    clf.unlearn(X[:3], y[:3])
    assert not [w for w in recwarn if issubclass(w.category, UnlearningBudgetWarning)]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda: UnlearningClassifier(
                LogisticRegression(), method="ssse", error_budget=0.1
            ),
            "SSSE's steps carry no error bound",
        ),
        (
            lambda: UnlearningRegressor(PoissonRegressor(), error_budget=0.1),
            "PoissonRegressor has no bounded third derivative",
        ),
    ],
)
def test_a_budget_nothing_would_check_is_refused_at_fit(make, reason):
    rng = np.random.RandomState(0)
    X = rng.randn(50, 3)
    y = rng.poisson(2, 50).astype(float) + (np.arange(50) % 2)
    if "SSSE" in reason:
        y = np.arange(50) % 2
    model = make()
    with pytest.raises(ValueError, match=reason):
        model.fit(X, y)
    assert not hasattr(model, "state_")
