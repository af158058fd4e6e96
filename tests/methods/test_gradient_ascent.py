"""GradientAscent on skorch nets: steps against autograd, determinism, safety."""

import copy

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.base import clone  # noqa: E402
from skorch import NeuralNetClassifier  # noqa: E402
from torch import nn  # noqa: E402

from sklearn_unlearn import UnlearningClassifier  # noqa: E402
from sklearn_unlearn.methods import GradientAscent  # noqa: E402

N, D, K, WD = 120, 4, 6, 1e-2


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    y = np.digitize(X @ [1.0, -1.0, 0.5, 0.0] + rng.logistic(size=N), [-1.0, 1.0])
    return X, y


def _net(dropout=0.0, **kw):
    torch.manual_seed(0)
    layers = [nn.Linear(D, 6), nn.Tanh()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    params = dict(
        criterion=nn.CrossEntropyLoss,
        max_epochs=3,
        lr=0.1,
        train_split=None,
        verbose=0,
        optimizer__weight_decay=WD,
    )
    params.update(kw)
    return NeuralNetClassifier(nn.Sequential(*layers, nn.Linear(6, 3)), **params)


def _fit(method, dropout=0.0):
    X, y = _data()
    return UnlearningClassifier(_net(dropout), method=method).fit(X, y), X, y


def _grad(module, X, y):
    """Flat autograd gradient of the mean cross-entropy, in eval mode."""
    module = copy.deepcopy(module).eval()
    params = [p for p in module.parameters() if p.requires_grad]
    loss = nn.functional.cross_entropy(
        module(torch.as_tensor(X, dtype=torch.float32)), torch.as_tensor(y)
    )
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)])


def test_one_sgd_step_is_theta_plus_lr_times_the_forget_gradient():
    lr = 0.3
    model, X, y = _fit(GradientAscent(lr=lr, epochs=1, batch_size=None))
    theta = model.state_.theta.clone()
    expected = theta + lr * _grad(model.estimator_.module_, X[:K], y[:K])
    model.unlearn(X[:K], y[:K])
    assert_allclose(model.state_.theta.numpy(), expected.numpy(), rtol=1e-5, atol=1e-7)
    assert torch.equal(model.adapter_.get_theta(model.estimator_), model.state_.theta)


def test_one_step_with_retain_weight_descends_on_the_retained_rows():
    lr, rw = 0.2, 0.5
    method = GradientAscent(lr=lr, epochs=1, batch_size=None, retain_weight=rw)
    model, X, y = _fit(method)
    theta = model.state_.theta.clone()
    module = model.estimator_.module_
    g = -_grad(module, X[:K], y[:K]) + rw * (_grad(module, X[K:], y[K:]) + WD * theta)
    model.unlearn(X[:K], y[:K], X_retain=X[K:], y_retain=y[K:])
    assert_allclose(model.state_.theta.numpy(), (theta - lr * g).numpy(), atol=1e-6)


def test_ascent_raises_the_forget_loss():
    model, X, y = _fit(GradientAscent(lr=0.1, epochs=3, batch_size=2, random_state=0))
    before = model.adapter_.loss_value(model.state_.theta, X[:K], y[:K])
    model.unlearn(X[:K], y[:K])
    after = model.adapter_.loss_value(model.state_.theta, X[:K], y[:K])
    assert after > before


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_deterministic_given_random_state(optimizer):
    def run(seed):
        m = GradientAscent(lr=0.05, epochs=2, batch_size=2, optimizer=optimizer)
        model, X, y = _fit(m.set_params(random_state=seed), dropout=0.3)
        model.set_params(method__random_state=seed)
        model.unlearn(X[:K], y[:K])
        return model.state_.theta

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_dropout_is_off_unless_train_mode():
    """Eval mode by default: the step is the autograd step of the eval-mode net."""
    model, X, y = _fit(GradientAscent(lr=0.3, batch_size=None), dropout=0.5)
    drop = copy.deepcopy(model).set_params(
        method__train_mode=True, method__random_state=0
    )
    drop.method_ = clone(drop.method)
    theta = model.state_.theta.clone()
    expected = theta + 0.3 * _grad(model.estimator_.module_, X[:K], y[:K])
    mode = model.estimator_.module_.training
    model.unlearn(X[:K], y[:K])
    assert_allclose(model.state_.theta.numpy(), expected.numpy(), atol=1e-6)
    assert model.estimator_.module_.training == mode  # its mode is restored
    drop.unlearn(X[:K], y[:K])
    assert np.abs(drop.state_.theta.numpy() - expected.numpy()).max() > 1e-4


def _unchanged(model, theta, n_ledger):
    assert torch.equal(model.state_.theta, theta)
    assert torch.equal(model.adapter_.get_theta(model.estimator_), theta)
    assert len(model.ledger_) == n_ledger


def test_retain_weight_needs_the_retained_rows_and_changes_nothing():
    model, X, y = _fit(GradientAscent(retain_weight=1.0))
    theta, n = model.state_.theta.clone(), len(model.ledger_)
    with pytest.raises(ValueError, match="X_retain"):
        model.unlearn(X[:K], y[:K])
    _unchanged(model, theta, n)


def test_relabel_is_refused_and_changes_nothing():
    model, X, y = _fit(GradientAscent())
    theta, n = model.state_.theta.clone(), len(model.ledger_)
    with pytest.raises(ValueError, match="only forget"):
        model.relabel(X[:2], y[:2], (y[:2] + 1) % 3)
    _unchanged(model, theta, n)


def test_hyperparameters_are_reachable_by_grid_search():
    est = UnlearningClassifier(_net(), method=GradientAscent(lr=0.1))
    est2 = clone(est).set_params(method__lr=0.2, method__retain_weight=1.0)
    assert est2.method.lr == 0.2 and est.method.lr == 0.1
    assert est2.method.requires_retained_data
    names = sorted(est.method.get_params())
    assert_array_equal(sorted(est2.method.get_params()), names)
