"""OracleMatching: toward a supplied oracle, datamodel-direct targets, safety."""

import copy

import numpy as np
import pytest
from numpy.testing import assert_allclose

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.base import clone  # noqa: E402
from skorch import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402
from torch import nn  # noqa: E402

from sklearn_unlearn import UnlearningClassifier, UnlearningRegressor  # noqa: E402
from sklearn_unlearn.methods import Newton, OracleMatching  # noqa: E402
from sklearn_unlearn.methods._net_oracle import linearized_scores  # noqa: E402

N, D, K, WD, SEED = 120, 4, 8, 1e-2, 11


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    y = np.digitize(X @ [1.0, -1.0, 0.5, 0.0] + rng.logistic(size=N), [-1.0, 1.0])
    y[:K] = (y[:K] + 1) % 3  # mislabelled rows: forgetting them shows
    return X, y


def _net(**kw):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(D, 6), nn.Tanh(), nn.Linear(6, 3))
    params = dict(
        criterion=nn.CrossEntropyLoss,
        max_epochs=20,
        lr=0.2,
        train_split=None,
        verbose=0,
        optimizer__weight_decay=WD,
    )
    params.update(kw)
    return NeuralNetClassifier(module, **params)


def _fit(method):
    X, y = _data()
    torch.manual_seed(SEED)
    return UnlearningClassifier(_net(), method=method).fit(X, y), X, y


def _plain_net(X, y):
    """The same net as ``_fit`` trains (same start and batch order)."""
    torch.manual_seed(SEED)
    return _net().fit(X.astype(np.float32), y)


def _kl(p, q):
    return float(np.sum(p * (np.log(p) - np.log(q)), axis=1).mean())


@pytest.mark.parametrize("loss", ["mse", "kl"])
def test_forget_outputs_move_toward_the_oracle(loss):
    X, y = _data()
    oracle = _plain_net(X[K:], y[K:])  # never saw the forget rows
    method = OracleMatching(
        epochs=30, lr=0.1, oracle=oracle, loss=loss, batch_size=32, random_state=0
    )
    model, _, _ = _fit(method)
    target = oracle.predict_proba(X[:K].astype(np.float32))
    before = _kl(target, model.predict_proba(X[:K]))
    model.unlearn(X[:K], y[:K], X_retain=X[K:], y_retain=y[K:])
    after = _kl(target, model.predict_proba(X[:K]))
    assert after < 0.5 * before


@pytest.mark.parametrize("loss", ["mse", "kl"])
def test_the_model_itself_as_oracle_changes_nothing(loss):
    X, y = _data()
    method = OracleMatching(epochs=3, lr=0.5, oracle=_plain_net(X, y), loss=loss)
    model, _, _ = _fit(method)
    theta = model.state_.theta.clone()
    model.unlearn(X[:K], y[:K], X_retain=X[K:], y_retain=y[K:])
    assert_allclose(model.state_.theta.numpy(), theta.numpy(), rtol=0, atol=1e-6)


def test_array_and_callable_oracles_give_the_net_oracles_result():
    X, y = _data()
    oracle = _plain_net(X[K:], y[K:])
    rows = np.concatenate([X[:K], X[K:]]).astype(np.float32)
    outputs = oracle.forward(rows, training=False).numpy()

    def run(o):
        method = OracleMatching(epochs=2, oracle=o, max_retain=50, random_state=0)
        model, _, _ = _fit(method)
        model.unlearn(X[:K], y[:K], X_retain=X[K:], y_retain=y[K:])
        return model.state_.theta.numpy()

    reference = run(oracle)
    assert_allclose(run(outputs), reference, atol=1e-6)
    assert_allclose(run(lambda Z: oracle.forward(Z, training=False)), reference)
    assert_allclose(run(copy.deepcopy(oracle.module_)), reference, atol=1e-6)


def test_linearized_scores_match_finite_differences():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(D, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    net = NeuralNetClassifier(module, criterion=nn.CrossEntropyLoss, max_epochs=0)
    from sklearn_unlearn.adapters._torch import SkorchAdapter

    adapter = SkorchAdapter(net.initialize())
    theta = adapter.get_theta(adapter._net)
    delta = torch.randn(adapter.n_params, dtype=torch.float64)
    X = torch.randn(7, D, dtype=torch.float64)
    eps = 1e-6
    with adapter._eval_mode() as m:
        t = linearized_scores(adapter, m, theta, delta, X)
        s0 = adapter._scores(m, theta, X)
        fd = (
            adapter._scores(m, theta + eps * delta, X)
            - adapter._scores(m, theta - eps * delta, X)
        ) / (2 * eps)
    assert_allclose((t - s0).numpy(), fd.numpy(), rtol=1e-6, atol=1e-8)


def test_datamodel_direct_moves_toward_the_newton_estimate():
    """With ``oracle=None`` the targets are the linearised outputs of the Newton
    step, so fine-tuning brings the forget rows' logits toward those of Newton."""
    attribution = Newton(damping=1e-3)
    newton, X, y = _fit(clone(attribution))
    newton.unlearn(X[:K], y[:K])
    model, _, _ = _fit(
        OracleMatching(
            epochs=40, lr=0.1, attribution=attribution, batch_size=32, random_state=0
        )
    )
    target = newton.predict_proba(X[:K])
    before = _kl(target, model.predict_proba(X[:K]))
    model.unlearn(X[:K], y[:K], X_retain=X[K:], y_retain=y[K:])
    after = _kl(target, model.predict_proba(X[:K]))
    assert after < 0.5 * before
    # the cached curvature was downdated by the forgotten rows, as Newton's
    assert_allclose(
        model.state_.curvature.solve(torch.ones(model.adapter_.n_params)).numpy(),
        newton.state_.curvature.solve(torch.ones(model.adapter_.n_params)).numpy(),
        rtol=1e-5,
    )


def test_clone_keeps_a_fitted_oracle():
    X, y = _data()
    oracle = _plain_net(X[K:], y[K:])
    est = UnlearningClassifier(_net(), method=OracleMatching(oracle=oracle))
    copy_ = clone(est).set_params(method__lr=0.5)
    assert copy_.method.oracle is oracle and copy_.method.lr == 0.5


def test_refusals():
    X, y = _data()
    reg = UnlearningRegressor(
        NeuralNetRegressor(nn.Linear(D, 1), max_epochs=1, train_split=None, verbose=0),
        method=OracleMatching(loss="kl"),
    )
    with pytest.raises(ValueError, match="loss='mse'"):
        reg.fit(X, y.astype(float))
    with pytest.raises(TypeError, match="oracle must be"):
        UnlearningClassifier(_net(), method=OracleMatching(oracle="nope")).fit(X, y)
    model, _, _ = _fit(OracleMatching(oracle=np.zeros((N - 1, 3))))
    theta, n = model.state_.theta.clone(), len(model.ledger_)
    with pytest.raises(ValueError, match="X_retain"):
        model.unlearn(X[:K], y[:K])
    with pytest.raises(ValueError, match="one output per row"):
        model.unlearn(X[:K], y[:K], X_retain=X[K:], y_retain=y[K:])
    assert torch.equal(model.state_.theta, theta)
    assert torch.equal(model.adapter_.get_theta(model.estimator_), theta)
    assert len(model.ledger_) == n
