"""LinearAdapter: derivatives, scikit-learn's scaling, layout, refusals, chunking."""

import copy
import functools

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import (
    GammaRegressor,
    Lasso,
    LinearRegression,
    LogisticRegression,
    LogisticRegressionCV,
    PoissonRegressor,
    Ridge,
    RidgeClassifier,
    TweedieRegressor,
)
from sklearn.svm import SVC

from sklearn_unlearn import UnlearningClassifier, UnlearningRegressor
from sklearn_unlearn.adapters import LinearAdapter, check_linear_model

SEED = 0
N, D = 40, 3
TIGHT = dict(solver="newton-cholesky", tol=1e-12, max_iter=1000)
CLASS_WEIGHT = {0: 2.0, 1: 0.5, 2: 1.5}

# id -> (estimator, target kind)
MODELS = {
    "logistic-binary": (LogisticRegression(C=1.0, **TIGHT), "binary"),
    "logistic-multinomial": (LogisticRegression(C=0.5, **TIGHT), "multiclass"),
    "logistic-binary-noC": (LogisticRegression(C=np.inf, **TIGHT), "binary"),
    "logistic-multinomial-noC": (
        LogisticRegression(C=np.inf, **TIGHT),
        "multiclass",
    ),
    "logistic-binary-classweight": (
        LogisticRegression(C=1.0, class_weight={0: 2.0, 1: 0.5}, **TIGHT),
        "binary",
    ),
    "logistic-multinomial-classweight": (
        LogisticRegression(C=0.5, class_weight=CLASS_WEIGHT, **TIGHT),
        "multiclass",
    ),
    "linear-regression": (LinearRegression(), "real"),
    "ridge": (Ridge(alpha=2.0), "real"),
    "ridge-classifier-binary": (RidgeClassifier(alpha=2.0), "binary"),
    "ridge-classifier-multiclass": (RidgeClassifier(alpha=2.0), "multiclass"),
    "ridge-classifier-classweight": (
        RidgeClassifier(alpha=2.0, class_weight=CLASS_WEIGHT),
        "multiclass",
    ),
    "poisson": (PoissonRegressor(alpha=0.1, **TIGHT), "count"),
    "gamma": (GammaRegressor(alpha=0.1, **TIGHT), "positive"),
    "tweedie-0": (TweedieRegressor(power=0.0, alpha=0.1, **TIGHT), "real"),
    "tweedie-1.5": (TweedieRegressor(power=1.5, alpha=0.1, **TIGHT), "count"),
}


def _data(kind, seed=SEED):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    lin = X @ np.array([0.8, -0.6, 0.3])
    if kind == "binary":
        y = (lin + rng.logistic(size=N) > 0).astype(int)
    elif kind == "multiclass":
        y = np.digitize(lin + rng.logistic(size=N), [-0.7, 0.7])
    elif kind == "real":
        y = lin + rng.normal(size=N)
    elif kind == "count":
        y = rng.poisson(np.exp(0.5 * lin)).astype(float)
    else:
        y = rng.gamma(2.0, np.exp(0.5 * lin) / 2.0)
    w = rng.uniform(0.5, 2.0, N)
    return X, y, w


@functools.cache
def _fitted_cached(model_id, fit_intercept, weighted):
    est, kind = MODELS[model_id]
    est = clone(est).set_params(fit_intercept=fit_intercept)
    X, y, w = _data(kind)
    sw = w if weighted else None
    est.fit(X, y, sample_weight=sw)
    return est, X, y, sw


def _fitted(model_id, fit_intercept=True, weighted=False):
    """A fitted model (a fresh copy), its adapter, X, encoded y, weights, raw y."""
    est, X, y, sw = copy.deepcopy(_fitted_cached(model_id, fit_intercept, weighted))
    adapter = LinearAdapter(est)
    return est, adapter, X, adapter.encode_target(y), adapter.row_weights(y, sw), y


def _full_gradient(adapter, theta, X, y, c):
    return adapter.gradient(theta, X, y, c) + adapter.penalty_gradient(theta, c.sum())


def _full_hessian(adapter, theta, X, y, c):
    lam = adapter.penalty_strength(c.sum())
    return adapter.hessian(theta, X, y, c) + lam * np.diag(adapter.penalty_mask)


model_ids = pytest.mark.parametrize("model_id", list(MODELS))
intercepts = pytest.mark.parametrize("fit_intercept", [True, False])
weightings = pytest.mark.parametrize("weighted", [False, True])


@model_ids
@intercepts
@weightings
def test_gradient_and_hessian_match_finite_differences(
    model_id, fit_intercept, weighted
):
    est, adapter, X, y, c, _ = _fitted(model_id, fit_intercept, weighted)
    rng = np.random.default_rng(SEED + 1)
    theta = adapter.get_theta(est) + 0.3 * rng.normal(size=adapter.n_params)
    p = adapter.n_params
    h = 1e-6
    g_fd = np.empty(p)
    H_fd = np.empty((p, p))
    for j in range(p):
        e = np.zeros(p)
        e[j] = h
        g_fd[j] = (
            adapter.objective(theta + e, X, y, c)
            - adapter.objective(theta - e, X, y, c)
        ) / (2 * h)
        H_fd[:, j] = (
            _full_gradient(adapter, theta + e, X, y, c)
            - _full_gradient(adapter, theta - e, X, y, c)
        ) / (2 * h)
    g = _full_gradient(adapter, theta, X, y, c)
    H = _full_hessian(adapter, theta, X, y, c)
    scale = max(1.0, np.abs(g).max())
    assert_allclose(g, g_fd, rtol=1e-6, atol=1e-6 * scale)
    assert_allclose(H, H_fd, rtol=1e-5, atol=1e-6 * np.abs(H).max())
    assert_allclose(H, H.T, atol=1e-12 * np.abs(H).max())


@model_ids
@intercepts
@weightings
def test_gradient_vanishes_at_scikit_learn_optimum(model_id, fit_intercept, weighted):
    # our objective has the same minimiser as scikit-learn's own
    est, adapter, X, y, c, _ = _fitted(model_id, fit_intercept, weighted)
    theta = adapter.get_theta(est)
    g = _full_gradient(adapter, theta, X, y, c)
    # compare to the size of the data term's gradient at theta = 0
    g0 = np.abs(adapter.gradient(np.zeros_like(theta), X, y, c)).max()
    assert np.abs(g).max() <= 1e-9 * max(g0, 1.0)


@model_ids
@intercepts
def test_theta_round_trip_keeps_shapes_types_and_predictions(model_id, fit_intercept):
    est, adapter, X, *_ = _fitted(model_id, fit_intercept)
    before = {
        name: (type(getattr(est, name)), np.shape(getattr(est, name)))
        for name in ("coef_", "intercept_")
    }
    theta = adapter.get_theta(est)
    assert theta.shape == (adapter.n_params,)
    assert adapter.n_params == adapter.n_outputs * (D + fit_intercept)
    rng = np.random.default_rng(SEED + 2)
    new = theta + 0.1 * rng.normal(size=theta.shape)
    adapter.set_theta(est, new)
    for name, (typ, shape) in before.items():
        value = getattr(est, name)
        assert type(value) is typ, (name, type(value), typ)
        assert np.shape(value) == shape
    assert est.coef_.dtype == np.float64
    assert_array_equal(adapter.get_theta(est), new)
    # the layout really is the model's: eta agrees with scikit-learn's output
    eta = adapter.linear_predictor(new, X)
    if hasattr(est, "decision_function"):
        ref = est.decision_function(X)
    elif adapter.is_quadratic:
        ref = est.predict(X)
    else:
        ref = np.log(est.predict(X))
    assert_allclose(eta.reshape(np.shape(ref)), ref, rtol=1e-10, atol=1e-12)
    # theta is a copy: changing it does not change the model
    theta2 = adapter.get_theta(est)
    theta2[:] = 0.0
    assert_array_equal(adapter.get_theta(est), new)


@pytest.mark.parametrize(
    "estimator, error, match",
    [
        (Lasso(), TypeError, "Lasso"),
        (SVC(), TypeError, "SVC"),
        (LogisticRegressionCV(), TypeError, "LogisticRegressionCV"),
        (
            LogisticRegression(l1_ratio=1, solver="saga"),
            ValueError,
            "LogisticRegression.*'l1'",
        ),
        (
            LogisticRegression(l1_ratio=0.5, solver="saga"),
            ValueError,
            "LogisticRegression.*elasticnet",
        ),
        (
            LogisticRegression(solver="liblinear"),
            ValueError,
            r"LogisticRegression\(solver='liblinear'\)",
        ),
        (
            LogisticRegression(class_weight="balanced"),
            ValueError,
            r"LogisticRegression\(class_weight='balanced'\)",
        ),
        (
            RidgeClassifier(class_weight="balanced"),
            ValueError,
            r"RidgeClassifier\(class_weight='balanced'\)",
        ),
        (Ridge(positive=True), ValueError, r"Ridge\(positive=True\)"),
        (
            LinearRegression(positive=True),
            ValueError,
            r"LinearRegression\(positive=True\)",
        ),
        (Ridge(alpha=np.array([1.0, 2.0])), ValueError, "Ridge with one alpha"),
        (
            TweedieRegressor(power=1.5, link="identity"),
            ValueError,
            "TweedieRegressor with an identity link",
        ),
    ],
)
def test_unsupported_models_are_refused(estimator, error, match):
    with pytest.raises(error, match=match):
        check_linear_model(estimator)
    wrapper = (
        UnlearningRegressor
        if type(estimator).__name__ in ("Lasso", "Ridge", "LinearRegression")
        or "Tweedie" in type(estimator).__name__
        else UnlearningClassifier
    )
    X, y, _ = _data("binary")
    with pytest.raises(error, match=match):
        wrapper(estimator).fit(X, y)


def test_unfitted_model_is_refused():
    with pytest.raises(NotFittedError):
        LinearAdapter(Ridge())


def test_two_dimensional_target_is_refused():
    X, y, _ = _data("real")
    est = Ridge().fit(X, np.column_stack([y, -y]))
    with pytest.raises(ValueError, match="Ridge with a 2-d target"):
        LinearAdapter(est)


@pytest.mark.parametrize(
    "model_id", ["logistic-multinomial", "ridge-classifier-multiclass", "poisson"]
)
@weightings
def test_small_chunks_give_the_same_sums(model_id, weighted):
    est, adapter, X, y, c, _ = _fitted(model_id, True, weighted)
    chunked = LinearAdapter(est, chunk_size=7)
    theta = adapter.get_theta(est) + 0.1
    for name in ("gradient", "hessian", "loss_value", "objective"):
        assert_allclose(
            getattr(chunked, name)(theta, X, y, c),
            getattr(adapter, name)(theta, X, y, c),
            rtol=1e-12,
            atol=1e-12,
        )
    assert_allclose(chunked.gram(X, c), adapter.gram(X, c), rtol=1e-12)


@pytest.mark.parametrize(
    "model_id",
    ["logistic-binary", "logistic-multinomial", "ridge-classifier-multiclass", "gamma"],
)
@intercepts
def test_sparse_csr_equals_dense(model_id, fit_intercept):
    est, adapter, X, y, c, _ = _fitted(model_id, fit_intercept, weighted=True)
    X = np.where(np.abs(X) > 0.6, X, 0.0)
    Xs = sp.csr_matrix(X)
    small = LinearAdapter(est, chunk_size=7)
    theta = adapter.get_theta(est) + 0.05
    for a in (adapter, small):
        assert_allclose(a.gradient(theta, Xs, y, c), a.gradient(theta, X, y, c))
        assert_allclose(
            a.hessian(theta, Xs, y, c), a.hessian(theta, X, y, c), atol=1e-12
        )
        assert_allclose(a.objective(theta, Xs, y, c), a.objective(theta, X, y, c))
        assert_allclose(a.gram(Xs, c), a.gram(X, c), atol=1e-12)
    assert_allclose(
        adapter.linear_predictor(theta, Xs), adapter.linear_predictor(theta, X)
    )
    assert_allclose(
        adapter.per_sample_gradients(theta, Xs, y),
        adapter.per_sample_gradients(theta, X, y),
    )
    assert_allclose(adapter.max_row_norm(Xs), adapter.max_row_norm(X))


@pytest.mark.parametrize("model_id", list(MODELS))
def test_per_sample_gradients_sum_to_the_gradient(model_id):
    est, adapter, X, y, c, _ = _fitted(model_id, True, weighted=True)
    theta = adapter.get_theta(est) + 0.1
    G = adapter.per_sample_gradients(theta, X, y)
    assert G.shape == (N, adapter.n_params)
    assert_allclose(c @ G, adapter.gradient(theta, X, y, c), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "model_id", ["logistic-multinomial", "logistic-multinomial-noC"]
)
@intercepts
def test_multinomial_null_directions_are_flat(model_id, fit_intercept):
    est, adapter, X, y, c, _ = _fitted(model_id, fit_intercept)
    Z = adapter.null_directions()
    assert Z.shape[1] >= int(fit_intercept)
    assert_allclose(Z.T @ Z, np.eye(Z.shape[1]), atol=1e-14)
    theta = adapter.get_theta(est) + 0.2
    H = _full_hessian(adapter, theta, X, y, c)
    assert_allclose(H @ Z, 0.0, atol=1e-10)
    assert_allclose(Z.T @ _full_gradient(adapter, theta, X, y, c), 0.0, atol=1e-10)
    for t in (-1.0, 2.5):
        assert_allclose(
            adapter.objective(theta + t * Z.sum(axis=1), X, y, c),
            adapter.objective(theta, X, y, c),
            rtol=1e-12,
        )


@pytest.mark.parametrize("model_id", ["logistic-binary", "ridge", "poisson"])
def test_no_null_directions_for_other_models(model_id):
    _, adapter, *_ = _fitted(model_id)
    assert adapter.null_directions().shape == (adapter.n_params, 0)


def test_penalty_mask_leaves_intercepts_unpenalised():
    _, adapter, *_ = _fitted("logistic-multinomial")
    mask = adapter.penalty_mask.reshape(adapter.n_outputs, adapter.n_cols)
    assert_array_equal(mask[:, :-1], 1.0)
    assert_array_equal(mask[:, -1], 0.0)


@pytest.mark.parametrize(
    "model_id, lam",
    [
        ("logistic-binary", 1.0),
        ("logistic-multinomial", 2.0),
        ("logistic-binary-noC", 0.0),
        ("linear-regression", 0.0),
        ("ridge", 4.0),
        ("ridge-classifier-binary", 4.0),
        ("poisson", 0.1 * N),
        ("gamma", 0.1 * N),
    ],
)
def test_penalty_strength_in_scikit_learn_scaling(model_id, lam):
    _, adapter, *_ = _fitted(model_id)
    assert_allclose(adapter.penalty_strength(float(N)), lam)


def test_encode_target_refuses_unseen_labels():
    _, adapter, *_ = _fitted("logistic-binary")
    with pytest.raises(ValueError, match=r"labels \[7\] not seen at fit"):
        adapter.encode_target(np.array([0, 7, 1]))


def test_row_weights_multiply_class_weight_and_sample_weight():
    est, adapter, X, y_enc, c, y = _fitted("logistic-multinomial-classweight")
    sw = np.linspace(1.0, 2.0, N)
    expected = sw * np.array([CLASS_WEIGHT[label] for label in y])
    assert_allclose(adapter.row_weights(y, sw), expected)
    # the input is not modified
    assert_allclose(sw, np.linspace(1.0, 2.0, N))


@pytest.mark.parametrize("model_id", ["logistic-binary", "logistic-multi", "ridge"])
def test_newton_terms_are_value_gradient_and_hessian_in_one_pass(model_id):
    """One pass gives what three separate sums give."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression, Ridge

    from sklearn_unlearn.adapters import LinearAdapter

    n_classes = 3 if model_id == "logistic-multi" else 2
    X, y = make_classification(
        n_samples=300,
        n_features=6,
        n_informative=4,
        n_classes=n_classes,
        random_state=0,
    )
    est = Ridge().fit(X, y) if model_id == "ridge" else LogisticRegression().fit(X, y)
    adapter = LinearAdapter(est, chunk_size=128)
    theta = adapter.get_theta(est) + 0.1
    y_enc, c = adapter.encode_target(y), np.linspace(0.5, 2.0, len(y))
    value, g, H = adapter.newton_terms(theta, X, y_enc, c)
    np.testing.assert_allclose(value, adapter.loss_value(theta, X, y_enc, c))
    np.testing.assert_allclose(g, adapter.gradient(theta, X, y_enc, c))
    np.testing.assert_allclose(H, adapter.hessian(theta, X, y_enc, c))
