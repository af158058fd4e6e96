"""A one-row deletion's lean path: the same state as the general path, or none."""

import pickle

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge

from sklearn_unlearn import UnlearningClassifier, UnlearningRegressor
from sklearn_unlearn import _base as base_module
from sklearn_unlearn.methods import SSSE, Newton
from sklearn_unlearn.methods import _newton_one_row as one_row_module

SEED = 0


def _classifier(n=400, d=5, *, fit_intercept=True, labels=(0, 1), **kw):
    X, y = make_classification(
        n_samples=n, n_features=d, n_informative=3, n_redundant=0, random_state=SEED
    )
    y = np.asarray(labels)[y]
    model = UnlearningClassifier(
        LogisticRegression(C=0.5, fit_intercept=fit_intercept), **kw
    ).fit(X, y)
    return model, X, y


def _regressor(n=300, d=4, estimator=None):
    X, y = make_regression(n_samples=n, n_features=d, noise=1.0, random_state=SEED)
    if estimator is None:
        estimator = Ridge(alpha=2.0)
    else:
        y = np.exp(y / np.abs(y).max())
    return UnlearningRegressor(estimator).fit(X, y), X, y


def _three_classes():
    X, y = make_classification(
        n_samples=300, n_features=5, n_informative=3, n_classes=3, random_state=SEED
    )
    return UnlearningClassifier(LogisticRegression()).fit(X, y), X, y


def _general_only(monkeypatch):
    monkeypatch.setattr(base_module, "one_row_request", lambda *a: None)


def _count_lean_steps(monkeypatch):
    """A list that grows by one per state the lean step computes."""
    taken = []
    real = one_row_module.one_row_newton_state

    def spy(*args):
        out = real(*args)
        if out is not None:
            taken.append(1)
        return out

    monkeypatch.setattr(base_module, "one_row_newton_state", spy)
    return taken


def _assert_same_model(a, b, rtol=1e-9):
    sa, sb = a.state_, b.state_
    scale = np.abs(sb.theta).max()
    assert_allclose(sa.theta, sb.theta, rtol=rtol, atol=rtol * scale)
    assert_allclose(sa.curvature.matrix_, sb.curvature.matrix_, rtol=rtol, atol=1e-9)
    assert_allclose(sa.gram, sb.gram, rtol=rtol, atol=1e-9)
    for name in ("radius", "residual_bound", "drift_g", "drift_2", "cache_error"):
        va, vb = getattr(sa, name), getattr(sb, name)
        if va is None or vb is None or np.isinf(vb):
            assert va == vb, name
        else:
            assert_allclose(va, vb, rtol=1e-7, err_msg=name)
    assert_allclose(sa.total_weight, sb.total_weight, rtol=1e-12)
    if sb.error_estimate is None:
        assert sa.error_estimate is None
    else:
        assert_allclose(sa.error_estimate, sb.error_estimate, rtol=1e-7)
    if sb.third is not None:
        assert_allclose(sa.third.tensor_, sb.third.tensor_, rtol=1e-9, atol=1e-9)
        ca, cb = sa.third._coefficients, sb.third._coefficients
        assert ca.keys() == cb.keys()
        for key, values in cb.items():
            assert_allclose(ca[key], values, rtol=1e-12)
        assert_allclose(sa.third.sample_weight_, sb.third.sample_weight_)
    assert_allclose(
        sa.curvature.min_eigenvalue(), sb.curvature.min_eigenvalue(), rtol=1e-6
    )
    assert_array_equal(a.fingerprints_.keys(), b.fingerprints_.keys())
    if hasattr(b, "class_counts_"):
        assert_array_equal(a.class_counts_, b.class_counts_)
    assert len(a.ledger_) == len(b.ledger_)
    for ea, eb in zip(a.ledger_, b.ledger_, strict=True):
        assert (ea.operation, ea.method, ea.n_removed, ea.n_remaining) == (
            eb.operation,
            eb.method,
            eb.n_removed,
            eb.n_remaining,
        )
        assert list(ea.removed) == list(eb.removed)
        assert ea.notes == eb.notes
        for name in ("step_norm", "param_error_bound", "param_error_estimate"):
            va, vb = getattr(ea, name), getattr(eb, name)
            if va is None or vb is None or not np.isfinite(vb):
                assert va == vb, name
            else:
                assert_allclose(va, vb, rtol=1e-6, err_msg=name)


def _stream(model, X, y, rows):
    for i in rows:
        model.unlearn(X[i : i + 1], y[i : i + 1])
    return model


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: _classifier(), id="logistic"),
        pytest.param(lambda: _classifier(fit_intercept=False), id="no-intercept"),
        pytest.param(lambda: _classifier(labels=(-1.0, 7.0)), id="float-labels"),
        # every row sampled for the error estimate: sampled rows leave
        pytest.param(lambda: _classifier(n=150), id="all-rows-sampled"),
        pytest.param(lambda: _regressor(), id="ridge"),
    ],
)
def test_lean_path_computes_the_general_paths_state(make, monkeypatch):
    model, X, y = make()
    general = pickle.loads(pickle.dumps(model))
    rows = np.random.default_rng(SEED).choice(len(y), 25, replace=False)
    taken = _count_lean_steps(monkeypatch)
    _stream(model, X, y, rows)
    assert len(taken) == len(rows)
    _general_only(monkeypatch)
    _stream(general, X, y, rows)
    _assert_same_model(model, general)
    assert_allclose(
        model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X),
        general.predict_proba(X)
        if hasattr(general, "predict_proba")
        else general.predict(X),
        rtol=1e-9,
    )


def test_lean_stream_lands_near_a_tight_refit():
    """Against an independent reference: a converged scikit-learn refit."""
    model, X, y = _classifier(n=2000, d=6)
    rows = np.random.default_rng(SEED).choice(len(y), 40, replace=False)
    _stream(model, X, y, rows)
    keep = np.ones(len(y), dtype=bool)
    keep[rows] = False
    ref = LogisticRegression(C=0.5, solver="newton-cholesky", tol=1e-12).fit(
        X[keep], y[keep]
    )
    theta = np.r_[model.estimator_.coef_.ravel(), model.estimator_.intercept_]
    ref_theta = np.r_[ref.coef_.ravel(), ref.intercept_]
    before = np.r_[
        LogisticRegression(C=0.5, solver="newton-cholesky", tol=1e-12)
        .fit(X, y)
        .coef_.ravel(),
        0.0,
    ]
    dist = np.linalg.norm(theta - ref_theta) / np.linalg.norm(ref_theta)
    assert dist < 1e-4
    assert dist < 0.05 * np.linalg.norm(before[:-1] - ref_theta[:-1]) / np.linalg.norm(
        ref_theta
    )
    estimate = model.ledger_[-1].param_error_estimate
    true = np.linalg.norm(theta - ref_theta)
    assert true / 10 <= estimate <= 10 * true


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda: _classifier(method=SSSE()), "another method"),
        (lambda: _classifier(method=Newton(damping=0.1)), "a damped step"),
        (lambda: _regressor(estimator=PoissonRegressor(alpha=0.1)), "a GLM"),
        (lambda: _classifier(labels=("no", "yes")), "string labels"),
        (lambda: _three_classes(), "three classes"),
    ],
)
def test_other_models_take_the_general_path(make, why, monkeypatch):
    model, X, y = make()
    general = pickle.loads(pickle.dumps(model))
    taken = _count_lean_steps(monkeypatch)
    _stream(model, X, y, [3, 11])
    assert not taken, why
    _general_only(monkeypatch)
    _stream(general, X, y, [3, 11])
    assert_allclose(model.state_.theta, general.state_.theta, rtol=1e-12)


def test_dataframe_rows_and_sample_weights_take_the_general_path(monkeypatch):
    model, X, y = _classifier()
    taken = _count_lean_steps(monkeypatch)
    frame = pd.DataFrame(X)
    plain = UnlearningClassifier(LogisticRegression(C=0.5)).fit(frame, y)
    plain.unlearn(frame.iloc[[4]], y[[4]])
    model.unlearn(X[[5]], y[[5]], sample_weight=[1.0])
    assert not taken
    model.unlearn(X[[6]], y[[6]])
    assert len(taken) == 1


@pytest.mark.parametrize(
    "row, label, match",
    [
        ("trained", 1, "never trained on|not among|was not"),
        ("unseen", 0, "never trained on|not among|was not"),
        ("trained", 5, "not with the label given|not seen at fit"),
        ("nan", 0, "NaN|infinity|finite"),
    ],
)
def test_refused_rows_get_the_general_error_and_change_nothing(row, label, match):
    model, X, y = _classifier()
    i = int(np.flatnonzero(y == 0)[0])
    x = X[i : i + 1].copy()
    if row == "unseen":
        x = x + 1000.0
    if row == "nan":
        x[0, 1] = np.nan
    before = pickle.dumps(model)
    with pytest.raises(ValueError, match=match):
        model.unlearn(x, np.array([label]))
    assert pickle.dumps(model) == before


def test_a_row_held_once_cannot_be_forgotten_twice():
    model, X, y = _classifier()
    model.unlearn(X[:1], y[:1])
    before = pickle.dumps(model)
    with pytest.raises(ValueError):
        model.unlearn(X[:1], y[:1])
    assert pickle.dumps(model) == before


def test_the_last_row_of_a_class_is_refused_as_before():
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 0.5]])
    y = np.array([0, 1, 1, 1])
    model = UnlearningClassifier(LogisticRegression()).fit(X, y)
    before = pickle.dumps(model)
    with pytest.raises(ValueError, match="no training row of class"):
        model.unlearn(X[:1], y[:1])
    assert pickle.dumps(model) == before
