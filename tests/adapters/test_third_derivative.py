"""The sampled third derivative and the error estimate it gives."""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge
from sklearn.preprocessing import StandardScaler

from sklearn_unlearn import (
    UnlearningBudgetWarning,
    UnlearningClassifier,
    UnlearningRegressor,
)
from sklearn_unlearn.adapters._third_derivative import (
    SampledThirdDerivative,
    _cubes,
    _pairs,
)
from sklearn_unlearn.methods import SSSE, Newton
from sklearn_unlearn.pipeline import make_pipeline

TIGHT = dict(solver="newton-cholesky", tol=1e-12, max_iter=1000)


@pytest.fixture
def data():
    return make_classification(
        n_samples=1500, n_features=6, n_informative=4, random_state=0
    )


def _theta(est):
    return np.r_[np.ravel(est.coef_), np.ravel(est.intercept_)]


def _full(half, d):
    """The full ``(d, d, d)`` tensor from its ``k <= l`` half."""
    k, l = _pairs(d)
    T = np.zeros((d, d, d))
    T[:, k, l] = half
    T[:, l, k] = half
    return T


def test_the_tensor_is_the_third_derivative_by_finite_differences(data):
    """``T[s, s]`` is the derivative of the Hessian along ``s``, applied to ``s``."""
    X, y = data
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    adapter, theta = clf.adapter_, clf.state_.theta
    Xt = np.hstack([X, np.ones((len(X), 1))])
    c = np.ones(len(y))
    coef = adapter.loss.third_derivative((Xt @ theta)[:, None], y)
    T = _full(_cubes(Xt, coef), Xt.shape[1])
    s = np.random.default_rng(0).normal(size=theta.shape)
    h = 1e-5
    H = [adapter.hessian(theta + t * s, X, y.astype(float), c) for t in (h, -h)]
    assert_allclose(
        np.einsum("jkl,k,l->j", T, s, s), (H[0] - H[1]) @ s / (2 * h), rtol=1e-6
    )


@pytest.mark.parametrize("kind", ["random", "cluster", "stream"])
def test_estimate_is_within_ten_times_the_true_distance(data, kind):
    X, y = data
    rng = np.random.default_rng(1)
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    if kind == "random":
        gone = [rng.choice(len(y), 15, replace=False)]
    elif kind == "cluster":
        gone = [np.argsort(X[:, 0])[-30:]]  # the rows furthest along one axis
    else:
        gone = [[i] for i in rng.choice(len(y), 40, replace=False)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnlearningBudgetWarning)
        for rows in gone:
            clf.unlearn(X[rows], y[rows])
    keep = np.ones(len(y), dtype=bool)
    keep[np.concatenate(gone)] = False
    ref = _theta(LogisticRegression(**TIGHT).fit(X[keep], y[keep]))
    truth = np.linalg.norm(clf.state_.theta - ref)
    entry = clf.ledger_[-1]
    assert 0.1 * truth <= entry.param_error_estimate <= 10 * truth
    assert entry.param_error_bound >= truth  # the bound stays valid


def test_estimate_through_a_pipeline_on_a_dataframe(data):
    import pandas as pd

    X, y = data
    X = X * [1, 10, 100, 1, 1, 1] + [0, 5, -50, 0, 0, 0]
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    pipe = make_pipeline(StandardScaler(), UnlearningClassifier(LogisticRegression()))
    pipe.fit(frame, y)
    gone = np.arange(0, 1500, 60)
    pipe.unlearn(frame.iloc[gone], y[gone])
    keep = np.setdiff1d(np.arange(1500), gone)
    scaler = StandardScaler().fit(X[keep])
    ref = _theta(LogisticRegression(**TIGHT).fit(scaler.transform(X[keep]), y[keep]))
    truth = np.linalg.norm(pipe[-1].state_.theta - ref)
    estimate = pipe[-1].ledger_[-1].param_error_estimate
    assert 0.1 * truth <= estimate <= 10 * truth


def test_a_forgotten_sampled_row_leaves_the_tensor_as_it_entered(data):
    """After a request the tensor is the one built from the kept sample."""
    X, y = data
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    third = clf.state_.third
    assert third.selected(clf.fingerprints_.keys()).all()  # 1,500 < 2,000 rows
    before = third.tensor_.copy()
    theta_fit = clf.state_.theta.copy()
    gone = np.arange(40)
    clf.unlearn(X[gone], y[gone])
    Xt = np.hstack([X[40:], np.ones((len(X) - 40, 1))])
    coef = clf.adapter_.loss.third_derivative((Xt @ theta_fit)[:, None], y[40:])
    assert_allclose(clf.state_.third.tensor_, _cubes(Xt, coef), atol=1e-10)
    assert not np.allclose(before, clf.state_.third.tensor_)
    assert clf.state_.third.sample_weight_ == len(X) - 40


def test_a_refused_request_leaves_the_sample_unchanged(data):
    X, y = data
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    tensor = clf.state_.third.tensor_.copy()
    with pytest.raises(ValueError):
        clf.unlearn(X[:3] + 1e-3, y[:3])  # never trained on
    assert_allclose(clf.state_.third.tensor_, tensor, rtol=0, atol=0)
    assert not clf.state_.third._pending


def test_the_sample_is_a_fraction_of_a_large_table():
    X, y = make_classification(n_samples=8000, n_features=4, random_state=0)
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    chosen = clf.state_.third.selected(clf.fingerprints_.keys()).sum()
    assert 1700 <= chosen <= 2300
    assert clf.state_.third.sample_weight_ == chosen
    pickle.loads(pickle.dumps(clf))


def test_least_squares_estimate_is_zero_and_exact():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 4)), rng.normal(size=200)
    reg = UnlearningRegressor(Ridge(alpha=1.0)).fit(X, y)
    reg.unlearn(X[:20], y[:20])
    assert reg.state_.third is None
    assert reg.ledger_[-1].param_error_estimate < 1e-12


def test_poisson_gets_an_estimate():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3))
    y = rng.poisson(np.exp(0.3 * X[:, 0]))
    reg = UnlearningRegressor(PoissonRegressor(alpha=1e-2)).fit(X, y)
    reg.unlearn(X[:12], y[:12])
    ref = PoissonRegressor(alpha=1e-2, solver="newton-cholesky", tol=1e-12).fit(
        X[12:], y[12:]
    )
    truth = np.linalg.norm(reg.state_.theta - _theta(ref))
    assert 0.1 * truth <= reg.ledger_[-1].param_error_estimate <= 10 * truth


def test_no_estimate_where_no_tensor_or_method(data):
    X, y = data
    multi = make_classification(
        n_samples=300, n_features=5, n_informative=3, n_classes=3, random_state=0
    )
    clf = UnlearningClassifier(LogisticRegression()).fit(*multi)
    assert clf.state_.third is None
    clf.unlearn(multi[0][:2], multi[1][:2])
    assert clf.ledger_[-1].param_error_estimate is None
    ssse = UnlearningClassifier(LogisticRegression(), method=SSSE()).fit(X, y)
    ssse.unlearn(X[:2], y[:2])
    assert ssse.ledger_[-1].param_error_estimate is None
    assert not SampledThirdDerivative.supports(clf.adapter_)


def test_refine_auto_reaches_tol_in_one_pass_per_step(data, monkeypatch):
    X, y = data
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    cls = type(clf.adapter_)
    calls = {"newton_terms": 0, "hessian": 0}
    originals = {name: getattr(cls, name) for name in calls}

    def counting(name):
        def method(self, theta, X_, *args):
            if X_.shape[0] > 60:  # the retained rows, not the request's
                calls[name] += 1
            return originals[name](self, theta, X_, *args)

        return method

    for name in calls:
        monkeypatch.setattr(cls, name, counting(name))
    gone = np.arange(60)
    clf.unlearn(X[gone], y[gone], X_retain=X[60:], y_retain=y[60:])
    ref = _theta(LogisticRegression(**TIGHT).fit(X[60:], y[60:]))
    assert np.linalg.norm(clf.state_.theta - ref) <= 1e-8 * np.linalg.norm(ref)
    assert 1 <= calls["newton_terms"] <= 3  # one pass per refine step
    assert calls["hessian"] == 0
    assert clf.ledger_[-1].param_error_estimate <= 1e-9 * np.linalg.norm(ref)


def test_refine_does_nothing_for_least_squares_beyond_the_check(monkeypatch):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 4)), rng.normal(size=200)
    reg = UnlearningRegressor(Ridge(alpha=1.0), method=Newton(refine=3)).fit(X, y)
    original = type(reg.adapter_).hessian

    def only_the_request(self, theta, X, *args):
        assert X.shape[0] <= 20, "no Hessian of the retained rows"
        return original(self, theta, X, *args)

    monkeypatch.setattr(type(reg.adapter_), "hessian", only_the_request)
    reg.unlearn(X[:20], y[:20], X_retain=X[20:], y_retain=y[20:])
    with pytest.raises(ValueError, match="not the rows that remain"):
        reg.unlearn(X[20:22], y[20:22], X_retain=X[20:] + 1, y_retain=y[20:])
