"""The error budget: warn, or retrain when the retained rows are at hand."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression, PoissonRegressor

from sklearn_unlearn import (
    UnlearningBudgetWarning,
    UnlearningClassifier,
    UnlearningRegressor,
)
from sklearn_unlearn.methods import Newton


@pytest.fixture
def data():
    return make_classification(n_samples=300, n_features=5, random_state=0)


def test_budget_warns_without_data_and_leaves_a_note(data):
    X, y = data
    clf = UnlearningClassifier(LogisticRegression(), error_budget=1e-12).fit(X, y)
    with pytest.warns(UnlearningBudgetWarning, match="estimated distance") as rec:
        clf.unlearn(X[:10], y[:10])
    assert "Pass X_retain/y_retain" in str(rec[0].message)
    assert rec[0].filename == __file__
    entry = clf.ledger_[-1]
    assert entry.param_error_estimate > 1e-12
    assert any("warned" in note for note in entry.notes)


def test_budget_on_the_bound_warns_on_the_bound(data):
    X, y = data
    clf = UnlearningClassifier(
        LogisticRegression(), error_budget=1e-3, error_budget_on="bound"
    ).fit(X, y)
    with pytest.warns(UnlearningBudgetWarning, match="bound on the distance"):
        clf.unlearn(X[:3], y[:3])
    assert clf.ledger_[-1].param_error_bound > 1e-3


def test_budget_retrains_with_data(data):
    X, y = data
    clf = UnlearningClassifier(
        LogisticRegression(), method=Newton(refine=0), error_budget=1e-12
    ).fit(X, y)
    clf.unlearn(X[:10], y[:10], X_retain=X[10:], y_retain=y[10:])
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-12).fit(X[10:], y[10:])
    np.testing.assert_allclose(clf.estimator_.coef_, ref.coef_, rtol=1e-8)
    assert any("retrained" in note for note in clf.ledger_[-1].notes)
    # after the retrain the certificate is the measured gradient norm: tiny
    assert clf.ledger_[-1].grad_residual_bound < 1e-8
    assert clf.ledger_[-1].param_error_estimate == 0.0


def test_default_newton_refines_on_the_retained_rows_within_the_budget(data):
    X, y = data
    clf = UnlearningClassifier(LogisticRegression(), error_budget=1e-6).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnlearningBudgetWarning)
        clf.unlearn(X[:30], y[:30], X_retain=X[30:], y_retain=y[30:])
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-12).fit(X[30:], y[30:])
    np.testing.assert_allclose(clf.estimator_.coef_, ref.coef_, rtol=1e-8)
    entry = clf.ledger_[-1]
    assert not any("retrained" in note for note in entry.notes)
    assert entry.param_error_estimate <= 1e-6


def test_budget_at_ten_times_the_truth_is_silent_and_a_large_relabel_warns(data):
    X, y = data
    gone = np.arange(3)
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-12).fit(X[3:], y[3:])
    probe = UnlearningClassifier(LogisticRegression()).fit(X, y)
    probe.unlearn(X[gone], y[gone])
    truth = np.linalg.norm(
        probe.state_.theta - np.r_[ref.coef_.ravel(), ref.intercept_]
    )
    clf = UnlearningClassifier(LogisticRegression(), error_budget=10 * truth)
    clf.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnlearningBudgetWarning)
        clf.unlearn(X[gone], y[gone])
    flip = np.arange(5, 300, 10)
    with pytest.warns(UnlearningBudgetWarning, match="exceeds error_budget"):
        clf.relabel(X[flip], y[flip], 1 - y[flip])


def test_a_large_request_warns_without_a_budget(data):
    X, y = data
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    flip = np.arange(0, 300, 10)
    with pytest.warns(UnlearningBudgetWarning, match="of the parameters' norm"):
        clf.relabel(X[flip], y[flip], 1 - y[flip])
    assert any("warned" in note for note in clf.ledger_[-1].notes)
    with warnings.catch_warnings():  # with the retained rows: refined, silent
        warnings.simplefilter("error", UnlearningBudgetWarning)
        clf.relabel(X[flip], 1 - y[flip], y[flip], X_retain=X, y_retain=y)


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
            "SSSE's steps carry no error estimate",
        ),
        (
            lambda: UnlearningClassifier(
                LogisticRegression(),
                method="ssse",
                error_budget=0.1,
                error_budget_on="bound",
            ),
            "SSSE's steps carry no error bound",
        ),
        (
            lambda: UnlearningRegressor(
                PoissonRegressor(), error_budget=0.1, error_budget_on="bound"
            ),
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
