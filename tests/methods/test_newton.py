"""Newton unlearning against a converged refit on the rows that remain."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.linear_model import (
    GammaRegressor,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    RidgeClassifier,
)

from sklearn_unlearn import (
    UnlearningBudgetWarning,
    UnlearningClassifier,
    UnlearningRegressor,
)
from sklearn_unlearn.adapters import LinearAdapter
from sklearn_unlearn.methods import Newton

SEED = 0
N, D = 300, 4
N_DEL = 6  # 2 %
TIGHT = dict(solver="newton-cholesky", tol=1e-12, max_iter=1000)

MODELS = {
    "ridge": (Ridge(alpha=1.0), "real"),
    "linear-regression": (LinearRegression(), "real"),
    "ridge-classifier-binary": (RidgeClassifier(alpha=1.0), "binary"),
    "ridge-classifier-multiclass": (RidgeClassifier(alpha=1.0), "multiclass"),
    "logistic-binary": (LogisticRegression(C=1.0), "binary"),
    "logistic-multinomial": (LogisticRegression(C=1.0), "multiclass"),
    "poisson": (PoissonRegressor(alpha=0.01), "count"),
    "gamma": (GammaRegressor(alpha=0.01), "positive"),
}
EXACT = ["ridge", "linear-regression", "ridge-classifier-binary"]
EXACT += ["ridge-classifier-multiclass"]
APPROX = ["logistic-binary", "logistic-multinomial", "poisson", "gamma"]


def _data(kind, seed=SEED, n=N):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    lin = X @ np.array([1.0, -1.0, 0.5, 0.0])
    if kind == "binary":
        y = (lin + rng.logistic(size=n) > 0).astype(int)
    elif kind == "multiclass":
        y = np.digitize(lin + rng.logistic(size=n), [-1.0, 1.0])
    elif kind == "real":
        y = lin + rng.normal(size=n)
    elif kind == "count":
        y = rng.poisson(np.exp(0.3 * lin)).astype(float)
    else:
        y = rng.gamma(2.0, np.exp(0.3 * lin) / 2.0)
    return X, y


def _wrapper(model_id, method=None, **kwargs):
    est, kind = MODELS[model_id]
    cls = UnlearningClassifier if kind in ("binary", "multiclass") else None
    cls = cls or UnlearningRegressor
    return cls(clone(est), method=method or Newton(), **kwargs)


def _reference(model_id, X, y, sample_weight=None):
    """scikit-learn's own converged fit (exact solvers for the quadratic ones)."""
    est = clone(MODELS[model_id][0])
    if "solver" in est.get_params() and not isinstance(est, Ridge | RidgeClassifier):
        est.set_params(**TIGHT)
    return est.fit(X, y, sample_weight=sample_weight)


def _theta(adapter, est):
    """Parameters with the multinomial's flat directions projected out."""
    theta = adapter.get_theta(est)
    Z = adapter.null_directions()
    return theta - Z @ (Z.T @ theta)


def _distances(model, ref, before):
    a = model.adapter_
    t_ref = _theta(a, ref)
    return (
        np.linalg.norm(_theta(a, model.estimator_) - t_ref),
        np.linalg.norm(before - t_ref),
    )


def _assert_same_model(est, ref, rtol):
    assert_allclose(est.coef_, ref.coef_, rtol=rtol, atol=rtol * 1e-2)
    assert_allclose(est.intercept_, ref.intercept_, rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("model_id", EXACT)
@pytest.mark.parametrize("rows", ["first", "scattered"])
def test_quadratic_unlearn_is_exact(model_id, rows):
    X, y = _data(MODELS[model_id][1])
    forget = np.zeros(N, bool)
    forget[:N_DEL] = rows == "first"
    forget[:: N // N_DEL] |= rows == "scattered"
    model = _wrapper(model_id).fit(X, y)
    model.unlearn(X[forget], y[forget])
    ref = _reference(model_id, X[~forget], y[~forget])
    _assert_same_model(model.estimator_, ref, rtol=1e-8)
    entry = model.ledger_[-1]
    assert (entry.operation, entry.n_removed) == ("unlearn", forget.sum())
    assert entry.n_remaining == N - forget.sum()


@pytest.mark.parametrize("model_id", APPROX)
def test_newton_is_much_closer_than_doing_nothing(model_id):
    X, y = _data(MODELS[model_id][1])
    model = _wrapper(model_id).fit(X, y)
    before = _theta(model.adapter_, model.estimator_)
    model.unlearn(X[:N_DEL], y[:N_DEL])
    ref = _reference(model_id, X[N_DEL:], y[N_DEL:])
    d_newton, d_nothing = _distances(model, ref, before)
    assert d_nothing > 1e-3  # the deletion matters
    assert d_newton < 0.05 * d_nothing


@pytest.mark.parametrize("model_id", APPROX)
def test_newton_refine_matches_the_refit(model_id):
    X, y = _data(MODELS[model_id][1])
    model = _wrapper(model_id, Newton(refine=2)).fit(X, y)
    model.unlearn(X[:N_DEL], y[:N_DEL], X_retain=X[N_DEL:], y_retain=y[N_DEL:])
    ref = _reference(model_id, X[N_DEL:], y[N_DEL:])
    a = model.adapter_
    assert_allclose(_theta(a, model.estimator_), _theta(a, ref), rtol=1e-8, atol=1e-10)
    # the model's predictions follow
    assert_allclose(model.predict(X[:20]), ref.predict(X[:20]), rtol=1e-8)


@pytest.mark.parametrize("model_id", EXACT + APPROX)
def test_predictions_follow_the_updated_parameters(model_id):
    X, y = _data(MODELS[model_id][1])
    model = _wrapper(model_id).fit(X, y)
    model.unlearn(X[:N_DEL], y[:N_DEL])
    est = clone(MODELS[model_id][0])
    model.adapter_.set_theta(est, model.state_.theta)
    for attr in ("classes_", "n_features_in_"):
        if hasattr(model.estimator_, attr):
            setattr(est, attr, getattr(model.estimator_, attr))
    assert_allclose(model.predict(X), est.predict(X))
    assert_allclose(model.adapter_.get_theta(model.estimator_), model.state_.theta)


def _flip(y, kind, n_flip):
    y_bad = y.copy()
    if kind == "real":
        y_bad[:n_flip] = y[:n_flip] + 3.0
    else:
        n_classes = len(np.unique(y))
        y_bad[:n_flip] = (y[:n_flip] + 1) % n_classes
    return y_bad


@pytest.mark.parametrize(
    "model_id", ["ridge", "ridge-classifier-multiclass"] + APPROX[:2]
)
def test_relabel_matches_fit_on_corrected_labels(model_id):
    kind = MODELS[model_id][1]
    X, y = _data(kind)
    y_bad = _flip(y, kind, N_DEL)
    model = _wrapper(model_id).fit(X, y_bad)
    before = _theta(model.adapter_, model.estimator_)
    model.relabel(X[:N_DEL], y_bad[:N_DEL], y[:N_DEL])
    ref = _reference(model_id, X, y)
    entry = model.ledger_[-1]
    assert (entry.operation, entry.n_removed, entry.n_added) == (
        "relabel",
        N_DEL,
        N_DEL,
    )
    assert entry.n_remaining == N
    if model_id in EXACT:
        _assert_same_model(model.estimator_, ref, rtol=1e-8)
    else:
        d_newton, d_nothing = _distances(model, ref, before)
        assert d_newton < 0.05 * d_nothing
    # the corrected rows are now the ones trained on
    model.unlearn(X[:1], y[:1])
    with pytest.raises(ValueError, match="never trained on"):
        model.unlearn(X[1:2], y_bad[1:2])


@pytest.mark.parametrize("model_id", ["ridge", "logistic-binary", "poisson"])
def test_feature_correction_with_update(model_id):
    kind = MODELS[model_id][1]
    X, y = _data(kind)
    rng = np.random.default_rng(SEED + 5)
    X_bad = X.copy()
    X_bad[:N_DEL] += rng.normal(0, 2.0, (N_DEL, D))
    model = _wrapper(model_id).fit(X_bad, y)
    before = _theta(model.adapter_, model.estimator_)
    model.update(remove=(X_bad[:N_DEL], y[:N_DEL]), add=(X[:N_DEL], y[:N_DEL]))
    ref = _reference(model_id, X, y)
    entry = model.ledger_[-1]
    assert (entry.operation, entry.n_removed, entry.n_added, entry.n_remaining) == (
        "update",
        N_DEL,
        N_DEL,
        N,
    )
    if model_id in EXACT:
        _assert_same_model(model.estimator_, ref, rtol=1e-8)
    else:
        d_newton, d_nothing = _distances(model, ref, before)
        assert d_newton < 0.05 * d_nothing
    # refine=2 with the retained rows lands on the refit
    model = _wrapper(model_id, Newton(refine=2)).fit(X_bad, y)
    model.update(
        remove=(X_bad[:N_DEL], y[:N_DEL]),
        add=(X[:N_DEL], y[:N_DEL]),
        X_retain=X,
        y_retain=y,
    )
    a = model.adapter_
    assert_allclose(_theta(a, model.estimator_), _theta(a, ref), rtol=1e-8, atol=1e-10)


def _exact_optimum(adapter, theta, X, y):
    """Minimiser on (X, y) by plain Newton iterations written out here."""
    y_enc = adapter.encode_target(y)
    c = np.ones(len(y))
    lam = adapter.penalty_strength(c.sum())
    P = np.diag(adapter.penalty_mask)
    Z = adapter.null_directions()
    for _ in range(30):
        g = adapter.gradient(theta, X, y_enc, c) + lam * adapter.penalty_mask * theta
        H = adapter.hessian(theta, X, y_enc, c) + lam * P + Z @ Z.T
        step = np.linalg.solve(H, g)
        theta = theta - step
        if np.linalg.norm(step) < 1e-14 * (1 + np.linalg.norm(theta)):
            break
    return theta - Z @ (Z.T @ theta)


@pytest.mark.parametrize(
    "model_id", ["ridge", "logistic-binary", "logistic-multinomial", "poisson"]
)
def test_stream_of_single_deletions_stays_close_and_certified(model_id):
    X, y = _data(MODELS[model_id][1])
    model = _wrapper(model_id).fit(X, y)
    a = model.adapter_
    Z = a.null_directions()
    before = _theta(a, model.estimator_)
    n_stream = 30
    for i in range(n_stream):
        model.unlearn(X[i : i + 1], y[i : i + 1])
        bound = model.ledger_[-1].param_error_bound
        if bound is None:
            continue
        theta = model.state_.theta
        exact = _exact_optimum(a, theta, X[i + 1 :], y[i + 1 :])
        dist = np.linalg.norm(theta - Z @ (Z.T @ theta) - exact)
        # the certificate must hold (up to floating-point round-off)
        assert bound + 1e-9 >= dist, (i, bound, dist)
    assert len(model.ledger_) == n_stream + 1
    assert model.ledger_[-1].n_remaining == N - n_stream
    ref = _reference(model_id, X[n_stream:], y[n_stream:])
    d_stream, d_nothing = _distances(model, ref, before)
    if model_id in EXACT:
        _assert_same_model(model.estimator_, ref, rtol=1e-8)
    else:
        assert d_stream < 0.1 * d_nothing
        assert d_stream < 1e-2


@pytest.mark.parametrize("model_id", ["ridge", "logistic-binary"])
def test_sample_weight_rows_unlearn_with_their_recorded_weight(model_id):
    X, y = _data(MODELS[model_id][1])
    w = np.random.default_rng(SEED + 3).integers(1, 4, N).astype(float)
    model = _wrapper(model_id).fit(X, y, sample_weight=w)
    before = _theta(model.adapter_, model.estimator_)
    model.unlearn(X[:N_DEL], y[:N_DEL])  # no weights given: the recorded ones
    ref = _reference(model_id, X[N_DEL:], y[N_DEL:], sample_weight=w[N_DEL:])
    if model_id in EXACT:
        _assert_same_model(model.estimator_, ref, rtol=1e-8)
    else:
        d_newton, d_nothing = _distances(model, ref, before)
        assert d_newton < 0.05 * d_nothing
    # passing the right weights explicitly gives the same result
    other = _wrapper(model_id).fit(X, y, sample_weight=w)
    other.unlearn(X[:N_DEL], y[:N_DEL], sample_weight=w[:N_DEL])
    assert_allclose(other.state_.theta, model.state_.theta, rtol=1e-12)


def test_wrong_sample_weight_is_refused():
    X, y = _data("real")
    w = np.full(N, 2.0)
    model = _wrapper("ridge").fit(X, y, sample_weight=w)
    with pytest.raises(ValueError, match="never trained on"):
        model.unlearn(X[:2], y[:2], sample_weight=[2.0, 1.0])


def test_duplicate_rows_with_different_weights_remove_the_named_copy():
    X, y = _data("real", n=60)
    X = np.vstack([X, X[:1]])
    y = np.concatenate([y, y[:1]])
    w = np.ones(61)
    w[-1] = 3.0  # second copy of row 0 has weight 3
    model = _wrapper("ridge").fit(X, y, sample_weight=w)
    model.unlearn(X[:1], y[:1], sample_weight=[3.0])
    ref = _reference("ridge", X[:-1], y[:-1])  # the weight-1 copy stays
    _assert_same_model(model.estimator_, ref, rtol=1e-8)
    with pytest.raises(ValueError, match="never trained on"):
        model.unlearn(X[:1], y[:1], sample_weight=[3.0])
    model.unlearn(X[:1], y[:1])
    ref = _reference("ridge", X[1:-1], y[1:-1])
    _assert_same_model(model.estimator_, ref, rtol=1e-8)


@pytest.mark.parametrize("model_id", ["ridge", "logistic-binary"])
def test_sparse_input_unlearns_like_dense(model_id):
    X, y = _data(MODELS[model_id][1], n=120)
    X = np.where(np.abs(X) > 0.5, X, 0.0)
    dense = _wrapper(model_id).fit(X, y).unlearn(X[:3], y[:3])
    Xs = sp.csr_matrix(X)
    sparse = _wrapper(model_id).fit(Xs, y).unlearn(Xs[:3], y[:3])
    assert_allclose(sparse.state_.theta, dense.state_.theta, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("model_id", ["logistic-binary", "poisson"])
def test_batch_of_many_rows_uses_the_refactor_path(model_id):
    # 20 % at once: far past the rank-one limit
    X, y = _data(MODELS[model_id][1])
    n_del = N // 5
    model = _wrapper(model_id).fit(X, y)
    before = _theta(model.adapter_, model.estimator_)
    model.unlearn(X[:n_del], y[:n_del])
    ref = _reference(model_id, X[n_del:], y[n_del:])
    d_newton, d_nothing = _distances(model, ref, before)
    assert d_newton < 0.1 * d_nothing
    H = model.state_.curvature.matrix_
    adapter = LinearAdapter(model.estimator_)
    theta = model.state_.theta
    rest_c = np.ones(N - n_del)
    lam = adapter.penalty_strength(rest_c.sum())
    H_rest = adapter.hessian(
        theta, X[n_del:], adapter.encode_target(y[n_del:]), rest_c
    ) + lam * np.diag(adapter.penalty_mask)
    # cached curvature ~ the Hessian of the remaining objective
    assert np.linalg.norm(H - H_rest, 2) < 0.05 * np.linalg.norm(H_rest, 2)


def test_error_budget_warns_without_retained_rows_and_retrains_with_them():
    X, y = _data("binary")
    model = _wrapper("logistic-binary", error_budget=1e-12).fit(X, y)
    with pytest.warns(UnlearningBudgetWarning, match="error_budget"):
        model.unlearn(X[:N_DEL], y[:N_DEL])
    assert "warned" in model.ledger_[-1].notes[0]
    model = _wrapper("logistic-binary", error_budget=1e-12).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnlearningBudgetWarning)
        model.unlearn(
            X[:N_DEL], y[:N_DEL], X_retain=X[N_DEL:], y_retain=y[N_DEL:]
        )
    assert "retrained" in model.ledger_[-1].notes[0]
    ref = _reference("logistic-binary", X[N_DEL:], y[N_DEL:])
    _assert_same_model(model.estimator_, ref, rtol=1e-8)
