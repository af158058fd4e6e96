"""PUMA criteria: values against scikit-learn, gradients by finite differences."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge
from sklearn.metrics import brier_score_loss, log_loss, mean_squared_error

from sklearn_unlearn.adapters import LinearAdapter
from sklearn_unlearn.adapters._linear_steps import model_outputs
from sklearn_unlearn.inspection import expected_calibration_error
from sklearn_unlearn.methods._puma_criteria import (
    SoftECE,
    criterion_gradient,
    resolve_criteria,
)


def _model(kind, seed=0, n=80):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    lin = X @ np.array([1.0, -1.0, 0.5])
    if kind == "binary":
        y = (lin + rng.logistic(size=n) > 0).astype(int)
        est = LogisticRegression().fit(X, y)
    elif kind == "multiclass":
        y = np.digitize(lin + rng.logistic(size=n), [-1.0, 1.0])
        est = LogisticRegression().fit(X, y)
    elif kind == "count":
        y = rng.poisson(np.exp(0.3 * lin)).astype(float)
        est = PoissonRegressor().fit(X, y)
    else:
        y = lin + rng.normal(size=n)
        est = Ridge().fit(X, y)
    a = LinearAdapter(est)
    return a, a.get_theta(est), X, y, est


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_values_match_sklearn_metrics(kind):
    a, theta, X, y, est = _model(kind)
    y_enc = a.encode_target(y)
    proba = est.predict_proba(X)
    out, _ = model_outputs(a, theta, X)
    np.testing.assert_allclose(out, proba, rtol=1e-10)
    ll, br = resolve_criteria(["log_loss", "brier"], a)
    assert ll.value_and_grad(y_enc, out)[0] == pytest.approx(log_loss(y, proba))
    ref = brier_score_loss(y, proba if kind == "multiclass" else proba[:, 1])
    assert br.value_and_grad(y_enc, out)[0] == pytest.approx(ref)


@pytest.mark.parametrize("kind", ["real", "count"])
def test_squared_error_matches_sklearn(kind):
    a, theta, X, y, est = _model(kind)
    (se,) = resolve_criteria("auto", a)
    out, _ = model_outputs(a, theta, X)
    value = se.value_and_grad(a.encode_target(y), out)[0]
    assert value == pytest.approx(mean_squared_error(y, est.predict(X)))


@pytest.mark.parametrize(
    "kind, names",
    [
        ("binary", ["log_loss", "brier", "ece"]),
        ("multiclass", ["log_loss", "brier", "ece"]),
        ("real", ["squared_error"]),
        ("count", ["squared_error"]),
    ],
)
def test_gradients_match_finite_differences(kind, names):
    a, theta, X, y, _ = _model(kind)
    y_enc = a.encode_target(y)
    crits = resolve_criteria(names, a)
    values, G = criterion_gradient(a, theta, X, y_enc, crits)

    def value(t):
        out, _ = model_outputs(a, t, X)
        return np.array([c.value_and_grad(y_enc, out)[0] for c in crits])

    np.testing.assert_allclose(values, value(theta))
    h = 1e-6
    fd = np.column_stack(
        [
            (value(theta + h * e) - value(theta - h * e)) / (2 * h)
            for e in np.eye(len(theta))
        ]
    ).T
    np.testing.assert_allclose(G, fd, rtol=1e-4, atol=1e-8)


def test_groups_give_one_column_per_group_and_criterion():
    a, theta, X, y, _ = _model("multiclass")
    y_enc = a.encode_target(y)
    crits = resolve_criteria(["log_loss", "brier"], a)
    labels = np.array([0.0, 1.0, 2.0, 7.0])  # 7: a group without rows
    values, G = criterion_gradient(a, theta, X, y_enc, crits, y_enc, labels)
    assert G.shape == (a.n_params, 8) and values.shape == (8,)
    mask = y_enc == 1
    v1, G1 = criterion_gradient(a, theta, X[mask], y_enc[mask], crits[:1])
    np.testing.assert_allclose(G[:, 1], G1[:, 0] * 1.0)
    assert values[1] == pytest.approx(v1[0])
    assert not G[:, 3].any() and values[3] == 0.0


def test_soft_ece_approaches_hard_ece():
    a, theta, X, y, est = _model("multiclass", n=400)
    proba = est.predict_proba(X)
    y_enc = a.encode_target(y)
    hard = expected_calibration_error(y_enc, proba, n_bins=10)
    soft = SoftECE(n_bins=10, bandwidth=0.01, delta=1e-9).value_and_grad(y_enc, proba)
    assert soft[0] == pytest.approx(hard, abs=2e-3)


def test_callable_criterion_gets_labels_and_gradient():
    a, theta, X, y, est = _model("binary")
    seen = {}

    def brier(y_true, proba):
        seen["labels"] = np.unique(y_true)
        d = proba[:, 1] - (y_true == 1)
        grad = np.zeros_like(proba)
        grad[:, 1] = 2 * d / len(d)
        return float(np.mean(d**2)), grad

    y_enc = a.encode_target(y)
    _, G = criterion_gradient(a, theta, X, y_enc, resolve_criteria(brier, a))
    _, G_ref = criterion_gradient(a, theta, X, y_enc, resolve_criteria("brier", a))
    np.testing.assert_allclose(G, G_ref)
    np.testing.assert_array_equal(seen["labels"], est.classes_)


def test_bad_criteria_are_refused():
    a, *_ = _model("real")
    with pytest.raises(ValueError, match="needs class probabilities"):
        resolve_criteria("log_loss", a)
    with pytest.raises(ValueError, match="Unknown criterion 'accuracy'"):
        resolve_criteria("accuracy", a)
    with pytest.raises(TypeError, match="criterion must be"):
        resolve_criteria(3, a)
    with pytest.raises(ValueError, match="empty"):
        resolve_criteria([], a)
    b, theta, X, y, _ = _model("binary")
    crit = resolve_criteria(lambda yt, yp: 0.0, b)
    with pytest.raises(TypeError, match=r"return \(value, gradient\)"):
        criterion_gradient(b, theta, X, b.encode_target(y), crit)
