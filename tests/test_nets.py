"""Unlearning estimators around skorch nets: the convex case, Retrain, safety."""

import copy
import functools
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.linear_model import LogisticRegression  # noqa: E402
from skorch import (  # noqa: E402
    NeuralNetBinaryClassifier,
    NeuralNetClassifier,
    NeuralNetRegressor,
)
from torch import nn  # noqa: E402

from sklearn_unlearn import UnlearningClassifier, UnlearningRegressor  # noqa: E402
from sklearn_unlearn.methods import SSSE, FirstOrder, Newton, Retrain  # noqa: E402

N, D, WD, K = 300, 4, 0.01, 15
TIGHT = dict(solver="newton-cholesky", tol=1e-12, max_iter=1000)
_FAST = {"rtol": 1e-5}


def _binary(seed=0, n=N):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    y = (X @ [1.0, -1.0, 0.5, 0.0] + rng.logistic(size=n) > 0).astype(int)
    return X, y


def _multiclass(seed=0, n=N):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    y = np.digitize(X @ [1.0, -1.0, 0.5, 0.0] + rng.logistic(size=n), [-1.0, 1.0])
    return X, y


def _linear_at(coef, intercept):
    """A float64 ``nn.Linear`` started at given weights (a converged start)."""
    coef = np.atleast_2d(coef)
    lin = nn.Linear(coef.shape[1], coef.shape[0]).double()
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(coef))
        lin.bias.copy_(torch.as_tensor(np.reshape(intercept, -1)))
    return lin


def _converged_binary_net(X, y, wd):
    """Logistic regression as a net, trained (full-batch SGD) from its optimum.

    The bias sits in a parameter group without weight decay, as
    scikit-learn leaves the intercept unpenalised.
    """
    C = np.inf if wd == 0 else 1.0 / (wd * len(y))
    ref = LogisticRegression(C=C, **TIGHT).fit(X, y)
    kw = {"optimizer__weight_decay": wd}
    if wd:
        kw["optimizer__param_groups"] = [("bias", {"weight_decay": 0.0})]
    net = NeuralNetBinaryClassifier(
        _linear_at(ref.coef_, ref.intercept_),
        max_epochs=2,
        batch_size=-1,
        lr=0.5,
        train_split=None,
        verbose=0,
        **kw,
    )
    return net, LogisticRegression(C=C, **TIGHT)


def _gradient_norm(model, X, y):
    a = model.adapter_
    theta = model.state_.theta
    g = a.gradient(theta, X, a.encode_target(y)) + a.penalty_gradient(theta, len(y))
    return float(torch.linalg.vector_norm(g))


# ------------------------------------------------------- the convex case
def test_convex_binary_relabel_equals_logistic_regression():
    """Same objective (n is unchanged), same Newton step, to rounding."""
    X, y = _binary()
    net, logreg = _converged_binary_net(X, y, WD)
    model = UnlearningClassifier(net, method=Newton()).fit(X, y)
    assert _gradient_norm(model, X, y) < 1e-10
    linear = UnlearningClassifier(logreg).fit(X, y)
    assert_allclose(model.state_.theta.numpy(), linear.state_.theta, atol=1e-10)
    model.relabel(X[:K], y[:K], 1 - y[:K])
    linear.relabel(X[:K], y[:K], 1 - y[:K])
    assert_allclose(model.state_.theta.numpy(), linear.state_.theta, atol=1e-10)
    assert_allclose(model.predict_proba(X), linear.predict_proba(X), atol=1e-10)


def test_convex_binary_unlearn_equals_logistic_regression_without_penalty():
    X, y = _binary()
    net, logreg = _converged_binary_net(X, y, 0.0)
    model = UnlearningClassifier(net).fit(X, y)
    linear = UnlearningClassifier(logreg).fit(X, y)
    model.unlearn(X[:K], y[:K])
    linear.unlearn(X[:K], y[:K])
    assert_allclose(model.state_.theta.numpy(), linear.state_.theta, atol=1e-10)


def test_convex_multiclass_relabel_equals_multinomial_logistic_regression():
    """Cross-entropy over 3 logits with decay on every parameter, bias included,
    is scikit-learn's multinomial model on ``[X, 1]`` without intercept."""
    X, y = _multiclass()
    Xa = np.hstack([X, np.ones((N, 1))])
    logreg = LogisticRegression(C=1.0 / (WD * N), fit_intercept=False, **TIGHT)
    ref = logreg.fit(Xa, y)
    net = NeuralNetClassifier(
        _linear_at(ref.coef_[:, :D], ref.coef_[:, D]),
        criterion=nn.CrossEntropyLoss,
        max_epochs=2,
        batch_size=-1,
        lr=0.5,
        train_split=None,
        verbose=0,
        optimizer__weight_decay=WD,
    )
    model = UnlearningClassifier(net).fit(X, y)
    assert _gradient_norm(model, X, y) < 1e-10
    linear = UnlearningClassifier(logreg).fit(Xa, y)
    y_new = (y[:K] + 1) % 3
    model.relabel(X[:K], y[:K], y_new)
    linear.relabel(Xa[:K], y[:K], y_new)
    W = model.state_.theta.numpy()  # [weight (3, D) row-major, bias (3,)]
    W = np.hstack([W[: 3 * D].reshape(3, D), W[3 * D :, None]]).ravel()
    assert_allclose(W, linear.state_.theta, atol=1e-10)


def test_convex_unlearn_is_close_to_exact_retrain():
    """skorch's mean loss keeps ``wd`` fixed, so the retrain is C = 1/(wd (n-k))."""
    X, y = _binary()
    net, _ = _converged_binary_net(X, y, WD)
    model = UnlearningClassifier(net).fit(X, y)
    before = model.state_.theta.numpy().copy()
    model.unlearn(X[:K], y[:K])
    exact = LogisticRegression(C=1.0 / (WD * (N - K)), **TIGHT).fit(X[K:], y[K:])
    exact = np.r_[exact.coef_.ravel(), exact.intercept_]
    err = np.linalg.norm(model.state_.theta.numpy() - exact)
    assert err < 0.05 * np.linalg.norm(before - exact)  # one step, 5% of rows
    assert err < 5e-3


# ---------------------------------------------------------------- helpers
def _mlp_net(out=3, **kw):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(D, 6), nn.Tanh(), nn.Linear(6, out))
    params = dict(
        criterion=nn.CrossEntropyLoss,
        max_epochs=3,
        lr=0.1,
        train_split=None,
        verbose=0,
        optimizer__weight_decay=1e-2,
    )
    params.update(kw)
    return NeuralNetClassifier(module, **params)


@functools.cache
def _fitted_once(method):
    X, y = _multiclass(n=120)
    return UnlearningClassifier(_mlp_net(), method=method).fit(X, y), X, y


def _fitted(method="newton"):
    """A fitted model (a private copy of one fitted per method), X and y."""
    return copy.deepcopy(_fitted_once(method))


# ---------------------------------------------------------------- Retrain
def test_retrain_equals_a_fresh_fit_with_the_same_seed():
    X, y = _multiclass(n=120)
    mask = np.zeros(120, dtype=bool)
    mask[:10] = True
    torch.manual_seed(123)
    model = UnlearningClassifier(_mlp_net(), method=Retrain()).fit(X, y, forget=mask)
    torch.manual_seed(123)
    ref = _mlp_net()
    ref.fit(X[~mask].astype(np.float32), y[~mask])
    assert_array_equal(
        model.state_.theta.numpy(), model.adapter_.get_theta(ref).numpy()
    )
    assert_allclose(model.predict_proba(X), ref.predict_proba(X.astype(np.float32)))
    assert model.ledger_[-1].n_remaining == 110


def test_fit_is_a_plain_skorch_fit():
    X, y = _multiclass(n=120)
    torch.manual_seed(7)
    model = UnlearningClassifier(_mlp_net()).fit(X, y)
    torch.manual_seed(7)
    ref = _mlp_net().fit(X.astype(np.float32), y)
    assert_array_equal(model.predict_proba(X), ref.predict_proba(X.astype(np.float32)))
    assert model.state_.theta.dtype == torch.float32
    assert model.score(X, y) == ref.score(X.astype(np.float32), y)


# ------------------------------------------------------ all or nothing
def _snapshot(model):
    return {
        "theta": model.state_.theta.clone(),
        "params": [p.detach().clone() for p in model.estimator_.module_.parameters()],
        "n_ledger": len(model.ledger_),
        "counts": dict(model.fingerprints_.counter()),
        "total_weight": model.state_.total_weight,
        "curvature": model.state_.curvature,
    }


def _assert_unchanged(model, snap):
    assert torch.equal(model.state_.theta, snap["theta"])
    for p, q in zip(model.estimator_.module_.parameters(), snap["params"], strict=True):
        assert torch.equal(p.detach(), q)
    assert len(model.ledger_) == snap["n_ledger"]
    assert dict(model.fingerprints_.counter()) == snap["counts"]
    assert model.state_.total_weight == snap["total_weight"]
    assert model.state_.curvature is snap["curvature"]


@pytest.mark.parametrize(
    "request_, match",
    [
        (lambda X, y: ("unlearn", (X[:2], np.array([0, 7])), {}), "not seen|never"),
        (
            lambda X, y: ("unlearn", (np.where(X[:2] > 0, np.nan, X[:2]), y[:2]), {}),
            "NaN",
        ),
        (lambda X, y: ("unlearn", (X[:2, :3], y[:2]), {}), "features"),
        (lambda X, y: ("unlearn", (X[:2] + 1e-3, y[:2]), {}), "never|not"),
        (lambda X, y: ("relabel", (X[:2], y[:2], np.array([0, 9])), {}), "not seen"),
    ],
)
@pytest.mark.parametrize("method", ["newton", "ssse", "first_order"])
def test_bad_input_changes_nothing(request_, match, method):
    model, X, y = _fitted(method)
    snap = _snapshot(model)
    verb, args, kw = request_(X, y)
    with pytest.raises(ValueError, match=match):
        getattr(model, verb)(*args, **kw)
    _assert_unchanged(model, snap)


def test_iterative_curvature_needs_the_retained_rows():
    X, y = _multiclass(n=120)
    model = UnlearningClassifier(
        _mlp_net(), method=Newton(curvature="cg", damping=1e-2, solver_options=_FAST)
    ).fit(X, y)
    snap = _snapshot(model)
    with pytest.raises(ValueError, match="X_retain"):
        model.unlearn(X[:2], y[:2])
    _assert_unchanged(model, snap)
    model.unlearn(X[:2], y[:2], X_retain=X[2:], y_retain=y[2:])
    assert model.state_.curvature.info_["converged"]


# ---------------------------------------------------------------- privacy
@pytest.mark.parametrize(
    "method",
    [
        "newton",
        "ssse",
        "first_order",
        "retrain",
        Newton(curvature="cg", damping=1e-2, solver_options=_FAST),
    ],
)
def test_pickle_holds_no_forgotten_row(method):
    X, y = _multiclass(n=120)
    X[:3] = [
        [1.23456789, -0.987654321, 0.314159265, 2.71828182],
        [-1.11111111, 0.22222222, -0.33333333, 0.44444444],
        [0.00512345, 1.777777, -0.666666, 0.987654],
    ]
    model = UnlearningClassifier(_mlp_net(), method=method).fit(X, y)
    model.unlearn(X[:3], y[:3], X_retain=X[3:], y_retain=y[3:])
    blob = pickle.dumps(model)
    for row in X[:3]:
        for dtype in (np.float64, np.float32):
            assert row.astype(dtype).tobytes() not in blob
            for value in row:
                assert np.array(value, dtype=dtype).tobytes() not in blob
    # skorch's history logged each batch's loss, the forgotten rows' included
    assert len(model.estimator_.history_) == 0
    assert "history" in model.ledger_[-1].notes[-1]


# ------------------------------------------------------------ the others
def test_binary_and_regressor_nets_unlearn():
    X, y = _binary(n=120)
    torch.manual_seed(0)
    net = NeuralNetBinaryClassifier(
        nn.Sequential(nn.Linear(D, 5), nn.ReLU(), nn.Linear(5, 1)),
        max_epochs=3,
        train_split=None,
        verbose=0,
        optimizer__weight_decay=1e-2,
    )
    clf = UnlearningClassifier(net, method=SSSE(block_size=8)).fit(X, y)
    clf.unlearn(X[:4], y[:4])
    assert clf.predict_proba(X).shape == (120, 2)
    assert 0.0 <= clf.score(X, y) <= 1.0
    yr = X @ [1.0, 2.0, 3.0, 4.0]
    reg = UnlearningRegressor(
        NeuralNetRegressor(
            nn.Linear(D, 1), max_epochs=3, train_split=None, verbose=0, lr=0.05
        ),
        method=FirstOrder(),
    ).fit(X, yr)
    reg.unlearn(X[:4], yr[:4])
    assert reg.predict(X).shape == (120, 1)
    assert [e.operation for e in reg.ledger_] == ["fit", "unlearn"]
    assert reg.ledger_[-1].n_remaining == 116


@pytest.mark.parametrize(
    "make, error, match",
    [
        (
            lambda: UnlearningClassifier(_mlp_net(train_split=5)),
            ValueError,
            "train_split",
        ),
        (lambda: UnlearningRegressor(_mlp_net()), TypeError, "NeuralNetRegressor"),
        (
            lambda: UnlearningClassifier(_mlp_net(), method=Newton(refine=1)),
            ValueError,
            "refine",
        ),
    ],
)
def test_refusals(make, error, match):
    X, y = _multiclass(n=60)
    with pytest.raises(error, match=match):
        make().fit(X, y)


def test_sample_weight_is_refused_for_nets():
    X, y = _multiclass(n=60)
    with pytest.raises(ValueError, match="sample_weight"):
        UnlearningClassifier(_mlp_net()).fit(X, y, sample_weight=np.full(60, 2.0))


def test_cg_is_refused_for_linear_models():
    X, y = _binary(n=60)
    with pytest.raises(ValueError, match="for nets"):
        UnlearningClassifier(LogisticRegression(), method=Newton(curvature="cg")).fit(
            X, y
        )
