"""The damping read from a skorch net's training run."""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from skorch import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402
from torch import nn  # noqa: E402

from sklearn_unlearn import UnlearningRegressor  # noqa: E402
from sklearn_unlearn.adapters._training_damping import training_damping  # noqa: E402
from sklearn_unlearn.methods import Newton  # noqa: E402

N, D = 60, 3


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D)).astype(np.float32)
    return X, (X[:, 0] + rng.logistic(size=N) > 0).astype(np.int64)


def _fitted(optimizer, epochs=3, **kw):
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        nn.Sequential(nn.Linear(D, 4), nn.ReLU(), nn.Linear(4, 2)),
        criterion=nn.CrossEntropyLoss,
        optimizer=optimizer,
        batch_size=20,
        max_epochs=epochs,
        train_split=None,
        verbose=0,
        **kw,
    )
    return net.fit(*_data())


def test_sgd_is_the_early_stopping_ridge():
    net = _fitted(torch.optim.SGD, lr=0.1, optimizer__momentum=0.5)
    found = training_damping(net, N, gradient_norm=1.0)
    steps = 3 * (N // 20)
    assert found.value == pytest.approx(N * (1 - 0.5) / (0.1 * steps))
    assert "SGD" in found.rule and f"{steps} steps" in found.rule


@pytest.mark.parametrize("optimizer", [torch.optim.Adam, torch.optim.AdamW])
def test_adam_divides_by_its_own_preconditioner(optimizer):
    net = _fitted(optimizer, lr=0.01)
    opt = net.optimizer_
    beta2, eps = opt.defaults["betas"][1], opt.defaults["eps"]
    roots = []
    for p in net.module_.parameters():
        state = opt.state[p]
        v_hat = state["exp_avg_sq"].double() / (1 - beta2 ** float(state["step"]))
        roots.append((v_hat.sqrt() + eps).reshape(-1))
    expected = N * float(torch.cat(roots).mean()) / (0.01 * 9)
    found = training_damping(net, N, gradient_norm=1.0)
    assert found.value == pytest.approx(expected, rel=1e-9)


def test_a_net_at_a_minimum_gets_no_damping():
    net = _fitted(torch.optim.SGD, lr=0.1)
    found = training_damping(net, N, gradient_norm=1e-9)
    assert found.value == 0.0 and "at a minimum" in found.rule


def test_an_unknown_optimizer_or_no_training_is_refused():
    with pytest.raises(ValueError, match="numeric damping"):
        training_damping(_fitted(torch.optim.RMSprop, lr=0.01), N, 1.0)
    with pytest.raises(ValueError, match="no training step"):
        training_damping(_fitted(torch.optim.SGD, epochs=0, lr=0.1), N, 1.0)


def test_the_rule_lands_near_the_early_stopped_retrain():
    """A linear net trained by full-batch gradient descent from a seeded start.

    The retrain (same start, same steps, on the retained rows) is known: it
    is run. The undamped step jumps to the optimum of the new objective,
    which gradient descent never reached; the damped one stays close.
    """
    rng = np.random.default_rng(0)
    n, d = 200, 6
    X = rng.normal(size=(n, d)) * np.logspace(0, -1.5, d)  # slow directions
    y = X @ rng.normal(size=d) * 3 + X[:, 0] ** 2 + 0.3 * rng.normal(size=n)
    forget = X[:, 0] > np.quantile(X[:, 0], 0.9)

    def net():
        torch.manual_seed(0)
        return NeuralNetRegressor(
            nn.Linear(d, 1).double(),
            max_epochs=30,
            lr=0.1,
            batch_size=-1,
            train_split=None,
            verbose=0,
            optimizer=torch.optim.SGD,
            optimizer__weight_decay=1e-4,
        )

    retrained = net().fit(X[~forget], y[~forget].reshape(-1, 1))
    target = torch.cat([p.detach().reshape(-1) for p in retrained.module_.parameters()])
    dist = {}
    for name, damping in (("auto", "auto"), ("none", 0.0)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = UnlearningRegressor(net(), method=Newton(damping=damping))
            model.fit(X, y)
        dist["nothing"] = float(torch.linalg.vector_norm(model.state_.theta - target))
        model.unlearn(X[forget], y[forget])
        dist[name] = float(torch.linalg.vector_norm(model.state_.theta - target))
    assert dist["auto"] < 0.4 * dist["nothing"]
    assert dist["none"] > dist["nothing"]  # the overshoot the damping prevents
