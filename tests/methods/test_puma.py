"""PUMA (eq. 9-12) against an explicit reference, and its contract."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_unlearn import UnlearningClassifier, UnlearningRegressor
from sklearn_unlearn.methods import METHOD_SHORTCUTS, PUMA
from sklearn_unlearn.methods._puma import influence
from sklearn_unlearn.methods._puma_criteria import criterion_gradient, resolve_criteria
from sklearn_unlearn.methods._puma_lambda import reweighting_cvxpy
from sklearn_unlearn.pipeline import make_pipeline


def _explicit_step(model, X, y, forget, eta, l1, l2, criterion="log_loss"):
    """PUMA's update with an explicit inverse, dense gradients and cvxpy."""
    a, theta = model.adapter_, model.state_.theta
    y_enc = a.encode_target(y)
    H = a.hessian(theta, X, y_enc, np.ones(len(y))) + np.diag(
        a.penalty_strength(len(y)) * a.penalty_mask
    )
    Z = a.null_directions()
    Hinv = np.linalg.pinv(H) if Z.shape[1] else np.linalg.inv(H)
    _, gC = criterion_gradient(a, theta, X, y_enc, resolve_criteria(criterion, a))
    G = a.per_sample_gradients(theta, X, y_enc)  # (n, p)
    psi = G @ Hinv @ gC  # eq. (9)
    keep = ~forget
    lam = reweighting_cvxpy(
        len(y) * psi[keep], len(y) * psi[forget].sum(axis=0), l1, l2
    )  # eq. (10), in the paper's mean scaling
    direction = G[forget].sum(axis=0) - lam @ G[keep]
    return theta + eta * Hinv @ direction  # eq. (11)-(12)


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
@pytest.mark.parametrize("l1, l2", [(0.0, 1e-2), (1e-3, 1e-2), (1e-3, 0.0)])
def test_step_matches_explicit_reference(kit, kind, l1, l2):
    X, y = kit.data(kind, n=120)
    forget = np.zeros(len(y), dtype=bool)
    forget[:12] = True
    method = PUMA(eta=0.7, l1=l1, l2=l2, pool_size=None)
    clf = UnlearningClassifier(LogisticRegression(), method=method).fit(X, y)
    ref = _explicit_step(clf, X, y, forget, 0.7, l1, l2)
    clf.unlearn(X[forget], y[forget], X_retain=X[~forget], y_retain=y[~forget])
    np.testing.assert_allclose(clf.state_.theta, ref, atol=1e-6)
    np.testing.assert_allclose(clf.adapter_.get_theta(clf.estimator_), ref, atol=1e-6)


def test_influence_matches_dense_gradients(kit):
    X, y = kit.data("multiclass", n=60)
    clf = UnlearningClassifier(LogisticRegression(), method="puma").fit(X, y)
    a, theta = clf.adapter_, clf.state_.theta
    V = np.random.default_rng(0).normal(size=(a.n_params, 3))
    y_enc = a.encode_target(y)
    G = a.per_sample_gradients(theta, X, y_enc)
    np.testing.assert_allclose(influence(a, theta, X, y_enc, V), G @ V, rtol=1e-12)


def test_reweighting_keeps_the_criterion_to_first_order(kit):
    X, y = kit.data("binary", n=150)
    clf = UnlearningClassifier(
        LogisticRegression(), method=PUMA(eta=1.0, l1=0.0, l2=1e-8, pool_size=None)
    ).fit(X, y)
    a, theta = clf.adapter_, clf.state_.theta
    y_enc = a.encode_target(y)
    _, gC = criterion_gradient(a, theta, X, y_enc, resolve_criteria("log_loss", a))
    clf.unlearn(X[:20], y[:20], X_retain=X[20:], y_retain=y[20:])
    newton = UnlearningClassifier(LogisticRegression(), method="newton").fit(X, y)
    newton.unlearn(X[:20], y[:20])
    puma_change = float(gC[:, 0] @ (clf.state_.theta - theta))
    newton_change = float(gC[:, 0] @ (newton.state_.theta - theta))
    assert abs(puma_change) < 1e-6 * abs(newton_change)


def test_eta_zero_leaves_theta_unchanged(kit):
    X, y = kit.data("binary", n=80)
    clf = UnlearningClassifier(LogisticRegression(), method=PUMA(eta=0.0)).fit(X, y)
    theta = clf.state_.theta.copy()
    coef = clf.estimator_.coef_.copy()
    clf.unlearn(X[:5], y[:5], X_retain=X[5:], y_retain=y[5:])
    np.testing.assert_array_equal(clf.state_.theta, theta)
    np.testing.assert_array_equal(clf.estimator_.coef_, coef)
    assert clf.ledger_[-1].n_remaining == 75


def test_empty_pool_is_the_influence_removal(kit):
    X, y = kit.data("binary", n=80)
    clf = UnlearningClassifier(
        LogisticRegression(), method=PUMA(eta=1.0, pool_size=0)
    ).fit(X, y)
    a, theta = clf.adapter_, clf.state_.theta
    y_enc = a.encode_target(y)
    H = a.hessian(theta, X, y_enc, np.ones(80)) + np.diag(a.penalty_mask)
    ref = theta + np.linalg.solve(H, a.gradient(theta, X[:6], y_enc[:6], np.ones(6)))
    clf.unlearn(X[:6], y[:6], X_retain=X[6:], y_retain=y[6:])
    np.testing.assert_allclose(clf.state_.theta, ref, rtol=1e-10)


def test_curvature_is_kept_current(kit):
    X, y = kit.data("binary", n=100)
    clf = UnlearningClassifier(LogisticRegression(), method=PUMA(eta=0.5)).fit(X, y)
    theta = clf.state_.theta
    clf.unlearn(X[:10], y[:10], X_retain=X[10:], y_retain=y[10:])
    a = clf.adapter_
    y_enc = a.encode_target(y[10:])
    H = a.hessian(theta, X[10:], y_enc, np.ones(90)) + np.diag(a.penalty_mask)
    np.testing.assert_allclose(clf.state_.curvature.curvature.matrix_, H, rtol=1e-10)


@pytest.mark.parametrize(
    "criterion, group_by, m",
    [("ece", None, 1), (["log_loss", "brier"], None, 2), ("log_loss", "class", 3)],
)
def test_criteria_and_groups(kit, criterion, group_by, m):
    X, y = kit.data("multiclass", n=120)
    method = PUMA(eta=0.5, criterion=criterion, group_by=group_by)
    clf = UnlearningClassifier(LogisticRegression(), method=method).fit(X, y)
    assert clf.state_.curvature.V.shape[1] == m
    clf.unlearn(X[:10], y[:10], X_retain=X[10:], y_retain=y[10:])
    assert np.all(np.isfinite(clf.state_.theta))


def test_validation_set_and_regressor(kit):
    X, y = kit.data("real", n=100)
    Xv, yv = kit.data("real", seed=1, n=40)
    method = PUMA(eta=1.0, validation=(Xv, yv), group_by=lambda Z: Z[:, 0] > 0)
    reg = UnlearningRegressor(Ridge(), method=method).fit(X, y)
    assert reg.state_.curvature.V.shape[1] == 2
    reg.unlearn(X[:10], y[:10], X_retain=X[10:], y_retain=y[10:])
    assert reg.score(Xv, yv) > 0.5


def test_grid_search_over_eta(kit):
    X, y = kit.data("binary", n=120)
    forget = np.zeros(len(y), dtype=bool)
    forget[:10] = True
    clf = UnlearningClassifier(LogisticRegression(), method=PUMA())
    search = GridSearchCV(clf, {"method__eta": [0.0, 0.5, 1.0]}, cv=3)
    search.fit(X, y, forget=forget)
    assert search.best_params_["method__eta"] in (0.0, 0.5, 1.0)
    assert clone(clf).get_params()["method__eta"] == 1.0
    assert isinstance(METHOD_SHORTCUTS["puma"](), PUMA)


def _holds(blob, rows):
    return [bytes(np.ascontiguousarray(r, dtype=np.float64)) in blob for r in rows]


def test_unlearned_rows_leave_the_pool(kit):
    X, y = kit.data("binary", n=60)
    method = PUMA(pool="fit", pool_size=None)
    clf = UnlearningClassifier(LogisticRegression(), method=method)
    clf.fit(X, y)
    assert all(_holds(pickle.dumps(clf), X[:8]))  # the pool does hold them
    clf.unlearn(X[:5], y[:5])
    clf.relabel(X[5:8], y[5:8], 1 - y[5:8])
    blob = pickle.dumps(clf)
    assert not any(_holds(blob, X[:8]))
    assert all(_holds(blob, X[8:12]))
    assert clf.state_.curvature.pool.n == 52


def test_fit_forget_purges_the_pool(kit):
    X, y = kit.data("binary", n=60)
    forget = np.arange(60) < 6
    method = PUMA(pool="fit", pool_size=None)
    clf = UnlearningClassifier(LogisticRegression(), method=method)
    clf.fit(X, y, forget=forget)
    assert not any(_holds(pickle.dumps(clf), X[forget]))


def test_pool_is_a_bounded_random_sample(kit):
    X, y = kit.data("binary", n=100)
    method = PUMA(pool="fit", pool_size=30, random_state=0)
    clf = UnlearningClassifier(LogisticRegression(), method=method).fit(X, y)
    pool = clf.state_.curvature.pool
    assert pool.n == 30
    again = UnlearningClassifier(LogisticRegression(), method=method).fit(X, y)
    np.testing.assert_array_equal(again.state_.curvature.pool.X, pool.X)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"eta": -1.0}, InvalidParameterError, "eta"),
        ({"pool_size": -2}, InvalidParameterError, "pool_size"),
        ({"pool": "all"}, InvalidParameterError, "pool"),
        ({"solver": "sgd"}, InvalidParameterError, "solver"),
        ({"bounds": (0.5, 1.0)}, ValueError, "lo <= 0 <= hi"),
        ({"criterion": "accuracy"}, ValueError, "Unknown criterion"),
        (
            {"criterion": ["log_loss", "ece"], "solver": "closed_form"},
            ValueError,
            "closed_form",
        ),
        ({"validation": (np.zeros((3, 2)), [0, 1, 0])}, ValueError, "features"),
    ],
)
def test_bad_parameters_leave_the_model_unchanged(kit, params, error, match):
    X, y = kit.data("binary", n=60)
    clf = UnlearningClassifier(LogisticRegression(), method=PUMA()).fit(X, y)
    theta = clf.state_.theta.copy()
    clf.set_params(**{f"method__{k}": v for k, v in params.items()})
    with pytest.raises(error, match=match):
        clf.fit(X[:30], y[:30])
    np.testing.assert_array_equal(clf.state_.theta, theta)
    assert clf.ledger_[-1].n_remaining == 60


def test_log_loss_on_a_regressor_is_refused(kit):
    X, y = kit.data("real", n=40)
    reg = UnlearningRegressor(Ridge(), method=PUMA(criterion="log_loss"))
    with pytest.raises(ValueError, match="needs class probabilities"):
        reg.fit(X, y)


def test_downdated_preprocessing_is_refused_atomically(kit):
    X, y = kit.data("binary", n=60)
    clf = UnlearningClassifier(LogisticRegression(), method=PUMA())
    pipe = make_pipeline(StandardScaler(), clf).fit(X, y)
    theta = clf.state_.theta.copy()
    scaler = pickle.dumps(pipe[0])
    with pytest.raises(ValueError, match="PUMA keeps"):
        pipe.unlearn(X[:3], y[:3], X_retain=X[3:], y_retain=y[3:])
    np.testing.assert_array_equal(clf.state_.theta, theta)
    assert pickle.dumps(pipe[0]) == scaler
    assert len(pipe.fingerprints_) == len(clf.fingerprints_) == 60


def test_validation_rows_given_at_fit(kit):
    X, y = kit.data("binary", n=120)
    X_val, y_val = kit.data("binary", n=40, seed=1)
    by_fit = UnlearningClassifier(LogisticRegression(), method=PUMA(pool_size=None))
    by_fit.fit(X, y, X_val=X_val, y_val=y_val)
    by_method = UnlearningClassifier(
        LogisticRegression(), method=PUMA(pool_size=None, validation=(X_val, y_val))
    ).fit(X, y)
    on_train = UnlearningClassifier(LogisticRegression(), method=PUMA(pool_size=None))
    on_train.fit(X, y)
    np.testing.assert_array_equal(
        by_fit.state_.curvature.V, by_method.state_.curvature.V
    )
    assert not np.allclose(by_fit.state_.curvature.V, on_train.state_.curvature.V)
    assert by_fit.get_params()["method"].validation is None  # the user's is untouched
    for model in (by_fit, by_method):
        model.unlearn(X[:10], y[:10], X_retain=X[10:], y_retain=y[10:])
    np.testing.assert_allclose(by_fit.state_.theta, by_method.state_.theta, rtol=1e-12)


@pytest.mark.parametrize(
    "method, kwargs, error, match",
    [
        ("newton", {"X_val": np.zeros((3, 4)), "y_val": [0, 1, 0]}, TypeError, "PUMA"),
        ("puma", {"X_val": np.zeros((3, 4))}, ValueError, "both or neither"),
        ("puma", {"X_val": np.zeros((3, 2)), "y_val": [0, 1, 0]}, ValueError, "feat"),
        ("puma", {"X_val": np.zeros((3, 4)), "y_val": [0, 1]}, ValueError, "targets"),
        ("puma", {"X_val": np.zeros((3, 4)), "y_val": [0, 1, 7]}, ValueError, "7"),
    ],
)
def test_bad_validation_rows_at_fit(kit, method, kwargs, error, match):
    X, y = kit.data("binary", n=60)
    with pytest.raises(error, match=match):
        UnlearningClassifier(LogisticRegression(), method=method).fit(X, y, **kwargs)


def _raw_rows(kit, n=80):
    X, y = kit.data("binary", n=n)
    return X + 1000.0, y  # distinctive values: no parameter equals them


def test_default_pickle_holds_no_training_row(kit):
    X, y = _raw_rows(kit)
    lr = LogisticRegression(solver="newton-cholesky")
    default = UnlearningClassifier(lr, method=PUMA(pool_size=None))
    default.fit(X, y)
    assert default.state_.curvature.pool is None
    assert not any(_holds(pickle.dumps(default), X))
    default.unlearn(X[:5], y[:5], X_retain=X[5:], y_retain=y[5:])
    assert not any(_holds(pickle.dumps(default), X))
    stored = UnlearningClassifier(lr, method=PUMA(pool="fit", pool_size=None)).fit(X, y)
    assert all(_holds(pickle.dumps(stored), X))  # the positive control


def test_default_refuses_a_request_without_retained_rows(kit):
    X, y = kit.data("binary", n=60)
    clf = UnlearningClassifier(LogisticRegression(), method=PUMA()).fit(X, y)
    assert clf.method_.requires_retained_data
    assert not PUMA(pool="fit").requires_retained_data
    before = pickle.dumps(clf)
    with pytest.raises(ValueError, match="needs the rows that remain"):
        clf.unlearn(X[:5], y[:5])
    assert pickle.dumps(clf) == before


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_both_pools_give_the_same_step(kit, kind):
    X, y = kit.data(kind, n=100)
    order = np.random.default_rng(0).permutation(np.arange(10, 100))
    models = {}
    for pool in ("fit", "retain"):
        method = PUMA(eta=0.7, pool=pool, pool_size=None)
        clf = UnlearningClassifier(LogisticRegression(), method=method).fit(X, y)
        clf.unlearn(X[:5], y[:5], X_retain=X[5:], y_retain=y[5:])
        # the stored pool is purged; the drawn one holds the rows in the given order
        clf.unlearn(X[5:10], y[5:10], X_retain=X[order], y_retain=y[order])
        y_new = np.concatenate([1 - y[10:15] if kind == "binary" else y[10:15], y[15:]])
        y_new[:5] = (y[10:15] + 1) % 3 if kind == "multiclass" else y_new[:5]
        clf.relabel(X[10:15], y[10:15], y_new[:5], X_retain=X[10:], y_retain=y_new)
        models[pool] = clf
    np.testing.assert_allclose(
        models["fit"].state_.theta, models["retain"].state_.theta, atol=1e-10
    )
    assert models["fit"].state_.curvature.pool.n == 85


def test_retained_pool_is_a_bounded_sample(kit):
    X, y = kit.data("binary", n=100)
    fits = []
    for _ in range(2):
        method = PUMA(pool_size=20, random_state=0)
        clf = UnlearningClassifier(LogisticRegression(), method=method).fit(X, y)
        fits.append(clf.unlearn(X[:5], y[:5], X_retain=X[5:], y_retain=y[5:]))
    np.testing.assert_array_equal(fits[0].state_.theta, fits[1].state_.theta)
    full = PUMA(pool_size=None)
    clf = UnlearningClassifier(LogisticRegression(), method=full).fit(X, y)
    clf.unlearn(X[:5], y[:5], X_retain=X[5:], y_retain=y[5:])
    assert not np.allclose(clf.state_.theta, fits[0].state_.theta)


def test_pool_parameter_round_trips(kit):
    method = PUMA(pool="fit", pool_size=7)
    assert clone(method).get_params()["pool"] == "fit"
    assert method.set_params(pool="retain").pool == "retain"
    clf = UnlearningClassifier(LogisticRegression(), method=PUMA())
    assert clf.get_params()["method__pool"] == "retain"
