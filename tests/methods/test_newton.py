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
    TweedieRegressor,
)

from sklearn_unlearn import (
    UnlearningBudgetWarning,
    UnlearningClassifier,
    UnlearningRegressor,
)
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
def test_quadratic_unlearn_is_exact(model_id, rows, kit):
    X, y = kit.data(MODELS[model_id][1], n=N)
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
def test_newton_is_much_closer_than_doing_nothing(model_id, kit):
    X, y = kit.data(MODELS[model_id][1], n=N)
    model = _wrapper(model_id).fit(X, y)
    before = _theta(model.adapter_, model.estimator_)
    model.unlearn(X[:N_DEL], y[:N_DEL])
    ref = _reference(model_id, X[N_DEL:], y[N_DEL:])
    d_newton, d_nothing = _distances(model, ref, before)
    assert d_nothing > 1e-3  # the deletion matters
    assert d_newton < 0.05 * d_nothing


@pytest.mark.parametrize("model_id", APPROX)
def test_newton_refine_matches_the_refit(model_id, kit):
    X, y = kit.data(MODELS[model_id][1], n=N)
    model = _wrapper(model_id, Newton(refine=2)).fit(X, y)
    model.unlearn(X[:N_DEL], y[:N_DEL], X_retain=X[N_DEL:], y_retain=y[N_DEL:])
    ref = _reference(model_id, X[N_DEL:], y[N_DEL:])
    a = model.adapter_
    assert_allclose(_theta(a, model.estimator_), _theta(a, ref), rtol=1e-8, atol=1e-10)
    # the model's predictions follow
    assert_allclose(model.predict(X[:20]), ref.predict(X[:20]), rtol=1e-8)


@pytest.mark.parametrize("model_id", EXACT + APPROX)
def test_predictions_follow_the_updated_parameters(model_id, kit):
    X, y = kit.data(MODELS[model_id][1], n=N)
    model = _wrapper(model_id).fit(X, y)
    model.unlearn(X[:N_DEL], y[:N_DEL])
    theta = model.state_.theta
    assert_allclose(model.adapter_.get_theta(model.estimator_), theta)
    assert_allclose(model.predict(X), model.estimator_.predict(X))
    if hasattr(model, "decision_function"):
        eta = model.adapter_.linear_predictor(theta, X)
        df = model.decision_function(X)
        assert_allclose(df, eta.reshape(df.shape), rtol=1e-12)


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
def test_relabel_matches_fit_on_corrected_labels(model_id, kit):
    kind = MODELS[model_id][1]
    X, y = kit.data(kind, n=N)
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
def test_feature_correction_with_update(model_id, kit):
    kind = MODELS[model_id][1]
    X, y = kit.data(kind, n=N)
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


def _assert_certified(model, X_rest, y_rest):
    bound = model.ledger_[-1].param_error_bound
    if bound is None:
        return
    a = model.adapter_
    Z = a.null_directions()
    theta = model.state_.theta
    exact = _exact_optimum(a, theta, X_rest, y_rest)
    dist = np.linalg.norm(theta - Z @ (Z.T @ theta) - exact)
    # the certificate must hold (up to floating-point round-off)
    assert bound + 1e-9 >= dist, (bound, dist)


@pytest.mark.parametrize(
    "model_id", ["ridge", "logistic-binary", "logistic-multinomial", "poisson"]
)
def test_stream_of_single_deletions_stays_close_and_certified(model_id, kit):
    X, y = kit.data(MODELS[model_id][1], n=N)
    model = _wrapper(model_id).fit(X, y)
    before = _theta(model.adapter_, model.estimator_)
    n_stream = 30
    for i in range(n_stream):
        model.unlearn(X[i : i + 1], y[i : i + 1])
        _assert_certified(model, X[i + 1 :], y[i + 1 :])
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
@pytest.mark.parametrize("damping", [0.1, 1.0])
def test_damped_newton_stays_certified(model_id, damping, kit):
    # a damped step is not exact, but the ledger's bound must still hold
    X, y = kit.data(MODELS[model_id][1], n=N)
    model = _wrapper(model_id, Newton(damping=damping)).fit(X, y)
    for i in range(5):
        model.unlearn(X[i : i + 1], y[i : i + 1])
        _assert_certified(model, X[i + 1 :], y[i + 1 :])


@pytest.mark.parametrize("model_id", ["logistic-binary", "logistic-multinomial"])
def test_mixed_stream_of_corrections_stays_certified(model_id, kit):
    kind = MODELS[model_id][1]
    X, y = kit.data(kind, n=N)
    rng = np.random.default_rng(SEED + 7)
    model = _wrapper(model_id).fit(X, y)
    X_cur, y_cur = X.copy(), y.copy()
    for i in range(12):
        row = slice(i, i + 1)
        if i % 3 == 0:
            y_new = _flip(y_cur[row], kind, 1)
            model.relabel(X_cur[row], y_cur[row], y_new)
            y_cur[row] = y_new
        elif i % 3 == 1:
            x_new = X_cur[row] + rng.normal(0, 1.0, (1, D))
            model.update(remove=(X_cur[row], y_cur[row]), add=(x_new, y_cur[row]))
            X_cur[row] = x_new
        else:
            model.unlearn(X_cur[row], y_cur[row])
            X_cur = np.delete(X_cur, i, axis=0)
            y_cur = np.delete(y_cur, i)
            X_cur = np.insert(X_cur, i, np.inf, axis=0)  # keep positions
            y_cur = np.insert(y_cur, i, y_cur[0])
        alive = np.all(np.isfinite(X_cur), axis=1)
        assert model.ledger_[-1].param_error_bound is not None
        _assert_certified(model, X_cur[alive], y_cur[alive])
        assert model.ledger_[-1].n_remaining == alive.sum()


# model, refit model, target kind, with sample_weight, refine
MORE = {
    "logistic-binary-noC": (LogisticRegression(C=np.inf), "binary", False, 0),
    "logistic-multinomial-noC": (LogisticRegression(C=np.inf), "multiclass", False, 0),
    "logistic-multinomial-noC-refine": (
        LogisticRegression(C=np.inf),
        "multiclass",
        False,
        2,
    ),
    "logistic-classweight-refine": (
        LogisticRegression(class_weight={0: 2.0, 1: 0.5}),
        "binary",
        False,
        2,
    ),
    "logistic-classweight-weighted": (
        LogisticRegression(class_weight={0: 2.0, 1: 0.5}),
        "binary",
        True,
        0,
    ),
    "ridge-classifier-classweight-weighted": (
        RidgeClassifier(class_weight={0: 2.0, 1: 0.5, 2: 3.0}),
        "multiclass",
        True,
        0,
    ),
    "poisson-weighted-refine": (PoissonRegressor(alpha=0.01), "count", True, 2),
    "poisson-weighted": (PoissonRegressor(alpha=0.01), "count", True, 0),
    "tweedie-1.5-weighted": (
        TweedieRegressor(power=1.5, alpha=0.01),
        "count",
        True,
        0,
    ),
    "tweedie-0-weighted": (TweedieRegressor(power=0, alpha=0.01), "real", True, 0),
    "linear-regression-no-intercept-weighted": (
        LinearRegression(fit_intercept=False),
        "real",
        True,
        0,
    ),
}


@pytest.mark.parametrize("case", list(MORE))
def test_more_configurations(case, kit):
    est, kind, weighted, refine = MORE[case]
    X, y = kit.data(kind, n=N)
    w = np.random.default_rng(SEED + 4).integers(1, 4, N).astype(float)
    w = w if weighted else None
    cls = UnlearningClassifier if kind in ("binary", "multiclass") else None
    model = (cls or UnlearningRegressor)(est, method=Newton(refine=refine))
    model.fit(X, y, sample_weight=w)
    a = model.adapter_
    before = _theta(a, model.estimator_)
    kwargs = {}
    if refine:
        kwargs = dict(
            X_retain=X[N_DEL:],
            y_retain=y[N_DEL:],
            sample_weight_retain=None if w is None else w[N_DEL:],
        )
    model.unlearn(X[:N_DEL], y[:N_DEL], **kwargs)
    ref = clone(est)
    if not isinstance(ref, LinearRegression | RidgeClassifier):
        ref.set_params(**TIGHT)
    ref.fit(X[N_DEL:], y[N_DEL:], sample_weight=None if w is None else w[N_DEL:])
    d_newton, d_nothing = _distances(model, ref, before)
    if refine or a.is_quadratic:
        assert d_newton <= 1e-8 * max(1.0, np.linalg.norm(_theta(a, ref)))
    else:
        assert d_newton < 0.05 * d_nothing


def test_adding_rows_only_learns_them(kit):
    X, y = kit.data("real", n=N)
    model = _wrapper("ridge").fit(X[:250], y[:250])
    model.update(add=(X[250:], y[250:]))
    _assert_same_model(model.estimator_, _reference("ridge", X, y), rtol=1e-8)
    assert model.ledger_[-1].n_remaining == N
    # the added rows can be forgotten again
    model.unlearn(X[250:], y[250:])
    _assert_same_model(
        model.estimator_, _reference("ridge", X[:250], y[:250]), rtol=1e-8
    )


def test_relabel_keeps_the_row_weight(kit):
    X, y = kit.data("real", n=N)
    w = np.random.default_rng(SEED + 6).integers(1, 4, N).astype(float)
    model = _wrapper("ridge").fit(X, y, sample_weight=w)
    y_new = y.copy()
    y_new[:N_DEL] += 3.0
    model.relabel(X[:N_DEL], y[:N_DEL], y_new[:N_DEL])
    ref = _reference("ridge", X, y_new, sample_weight=w)
    _assert_same_model(model.estimator_, ref, rtol=1e-8)
    # the relabelled copies kept their weights
    model.unlearn(X[:N_DEL], y_new[:N_DEL], sample_weight=w[:N_DEL])


@pytest.mark.parametrize("model_id", ["ridge", "logistic-binary"])
def test_sample_weight_rows_unlearn_with_their_recorded_weight(model_id, kit):
    X, y = kit.data(MODELS[model_id][1], n=N)
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


def test_wrong_sample_weight_is_refused(kit):
    X, y = kit.data("real", n=N)
    w = np.full(N, 2.0)
    model = _wrapper("ridge").fit(X, y, sample_weight=w)
    with pytest.raises(ValueError, match="never trained on"):
        model.unlearn(X[:2], y[:2], sample_weight=[2.0, 1.0])


def test_duplicate_rows_with_different_weights_remove_the_named_copy(kit):
    X, y = kit.data("real", n=60)
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
def test_sparse_input_unlearns_like_dense(model_id, kit):
    X, y = kit.data(MODELS[model_id][1], n=120)
    X = np.where(np.abs(X) > 0.5, X, 0.0)
    dense = _wrapper(model_id).fit(X, y).unlearn(X[:3], y[:3])
    Xs = sp.csr_matrix(X)
    sparse = _wrapper(model_id).fit(Xs, y).unlearn(Xs[:3], y[:3])
    assert_allclose(sparse.state_.theta, dense.state_.theta, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("model_id", ["logistic-binary", "poisson"])
def test_batch_of_many_rows_uses_the_refactor_path(model_id, kit):
    # 20 % at once: far past the rank-one limit
    X, y = kit.data(MODELS[model_id][1], n=N)
    n_del = N // 5
    model = _wrapper(model_id).fit(X, y)
    before = _theta(model.adapter_, model.estimator_)
    model.unlearn(X[:n_del], y[:n_del])
    ref = _reference(model_id, X[n_del:], y[n_del:])
    d_newton, d_nothing = _distances(model, ref, before)
    assert d_newton < 0.1 * d_nothing
    # the cached curvature is now exactly the Hessian of the remaining
    # objective at the point the step was taken from (the fitted optimum)
    adapter = model.adapter_
    theta_fit = _fit_theta(model_id, X, y)
    rest_c = np.ones(N - n_del)
    lam = adapter.penalty_strength(rest_c.sum())
    H_rest = adapter.hessian(
        theta_fit, X[n_del:], adapter.encode_target(y[n_del:]), rest_c
    ) + lam * np.diag(adapter.penalty_mask)
    H = model.state_.curvature.matrix_
    assert_allclose(H, H_rest, rtol=1e-10, atol=1e-10 * np.abs(H_rest).max())


def _fit_theta(model_id, X, y):
    return _wrapper(model_id).fit(X, y).state_.theta


def test_error_budget_warns_without_retained_rows_and_retrains_with_them(kit):
    X, y = kit.data("binary", n=N)
    model = _wrapper("logistic-binary", error_budget=1e-12).fit(X, y)
    with pytest.warns(UnlearningBudgetWarning, match="error_budget"):
        model.unlearn(X[:N_DEL], y[:N_DEL])
    assert "warned" in model.ledger_[-1].notes[0]
    model = _wrapper(
        "logistic-binary", error_budget=1e-12, method=Newton(refine=0)
    ).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnlearningBudgetWarning)
        model.unlearn(X[:N_DEL], y[:N_DEL], X_retain=X[N_DEL:], y_retain=y[N_DEL:])
    assert "retrained" in model.ledger_[-1].notes[0]
    ref = _reference("logistic-binary", X[N_DEL:], y[N_DEL:])
    _assert_same_model(model.estimator_, ref, rtol=1e-8)


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_rank_one_path_equals_the_explicit_newton_step(kind):
    # p = K * 65 >= 128: one row (rank K) is downdated by rank-one updates,
    # the multinomial's with its negative-eigenvalue factors
    rng = np.random.default_rng(SEED)
    n, d = 200, 64
    X = rng.normal(size=(n, d)) / np.sqrt(d)
    lin = 3.0 * X[:, :3].sum(axis=1) + rng.logistic(size=n)
    y = (lin > 0).astype(int) if kind == "binary" else np.digitize(lin, [-1, 1])
    model = UnlearningClassifier(LogisticRegression()).fit(X, y)
    a = model.adapter_
    assert a.n_outputs <= max(1, a.n_params // 64)  # the rank-one path is taken
    theta0 = model.state_.theta.copy()
    for i in range(2):
        model.unlearn(X[i : i + 1], y[i : i + 1])
    rest = slice(2, None)
    c = np.ones(n - 2)
    H = a.hessian(theta0, X[rest], a.encode_target(y[rest]), c)
    H += a.penalty_strength(c.sum()) * np.diag(a.penalty_mask)
    # first step exactly as written in the paper
    g1 = -a.gradient(theta0, X[:1], a.encode_target(y[:1]), np.ones(1))
    Z = a.null_directions()
    H1 = H + a.hessian(theta0, X[1:2], a.encode_target(y[1:2]), np.ones(1))
    theta1 = theta0 - np.linalg.solve(H1 + Z @ Z.T, g1)
    # the second step downdates row 1's curvature at theta1
    H2 = H1 - a.hessian(theta1, X[1:2], a.encode_target(y[1:2]), np.ones(1))
    g2 = -a.gradient(theta1, X[1:2], a.encode_target(y[1:2]), np.ones(1))
    theta2 = theta1 - np.linalg.solve(H2 + Z @ Z.T, g2)
    assert_allclose(model.state_.curvature.matrix_, H2, atol=1e-10)
    assert_allclose(model.state_.theta, theta2, rtol=1e-9, atol=1e-12)
