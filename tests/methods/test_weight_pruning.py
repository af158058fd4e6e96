"""WeightPruning: the pruning rule by hand and by brute force, fine-tuning, safety."""

import copy

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from skorch import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402
from torch import nn  # noqa: E402

from sklearn_unlearn import UnlearningClassifier  # noqa: E402
from sklearn_unlearn.adapters._torch import SkorchAdapter  # noqa: E402
from sklearn_unlearn.methods import WeightPruning  # noqa: E402
from sklearn_unlearn.methods._base import Rows, UnlearnState, UpdateRequest  # noqa: E402
from sklearn_unlearn.methods._net_layers import pruning_mask  # noqa: E402

N, D, K, WD = 120, 4, 3, 1e-2


def _rows(X, y):
    X = np.asarray(X, dtype=np.float32)
    return Rows(X, np.asarray(y, dtype=np.float32), np.ones(len(X)))


def _hand_net():
    """2 -> 2 (ReLU) -> 1 with weights small enough to follow by hand."""
    module = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        module[0].weight.copy_(torch.tensor([[1.0, 2.0], [0.1, 0.5]]))
        module[0].bias.zero_()
        module[2].weight.copy_(torch.tensor([[1.0, -3.0]]))
        module[2].bias.zero_()
    net = NeuralNetRegressor(module, max_epochs=0, train_split=None).initialize()
    return SkorchAdapter(net)


@pytest.mark.parametrize("bias_value", [None, 0.01])
def test_hand_checked_case(bias_value):
    """Layer 1: x_t = (1, 2), nearest retained row (1, 1), Delta = (0, 1): with
    T = 0.4 the weights 2.0 and 0.5 on input 2 go. Layer 2 (activations of the
    original net): a_t = (5, 1.1), nearest (3, 0.6), Delta = (2, 0.5), |Delta w|
    = (2, 1.5): with T = 1.8 only the weight 1.0 goes."""
    adapter = _hand_net()
    theta = adapter.get_theta(adapter._net)
    state = UnlearnState(theta, None, 4.0, None, 0.0)
    retain = _rows([[0, 0], [1, 1], [5, 5]], [0, 0, 0])
    request = UpdateRequest(
        remove=_rows([[1, 2]], [0]), add=_rows(np.zeros((0, 2)), []), retain=retain
    )
    method = WeightPruning(
        thresholds=[0.4, 1.8], n_neighbors=1, finetune_epochs=0, bias_value=bias_value
    )
    new = method.step(adapter, state, request)
    b = 0.0 if bias_value is None else bias_value
    expected = [1.0, 0.0, 0.1, 0.0, b, b, 0.0, -3.0, b]
    assert_allclose(new.theta.numpy(), expected, rtol=1e-7)
    assert torch.equal(state.theta, theta)  # the state is not mutated
    assert new.total_weight == 3.0


def test_pruning_mask_equals_a_brute_force_reference():
    rng = np.random.default_rng(1)
    W, Af, Ar = (
        rng.normal(size=(5, 4)),
        rng.normal(size=(3, 4)),
        rng.normal(size=(20, 4)),
    )
    n, T = 3, 0.6
    expected = np.zeros(W.shape, dtype=bool)
    for a in Af:  # each forgotten row on its own, as in Algorithm 1
        nearest = np.argsort(((Ar - a) ** 2).sum(axis=1))[:n]
        delta = a - Ar[nearest].mean(axis=0)
        for i in range(W.shape[0]):
            for j in range(W.shape[1]):
                expected[i, j] |= abs(delta[j] * W[i, j]) > T
    as_t = [torch.as_tensor(A) for A in (W, Af, Ar)]
    mask = pruning_mask(*as_t, n, T)
    assert_array_equal(mask.numpy(), expected)
    assert 0 < expected.sum() < expected.size  # a case that prunes some


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    y = np.digitize(X @ [1.0, -1.0, 0.5, 0.0] + rng.logistic(size=N), [-1.0, 1.0])
    return X, y


def _model(method):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(D, 6), nn.Tanh(), nn.Linear(6, 3))
    net = NeuralNetClassifier(
        module,
        criterion=nn.CrossEntropyLoss,
        max_epochs=3,
        lr=0.1,
        train_split=None,
        verbose=0,
        optimizer__weight_decay=WD,
    )
    X, y = _data()
    return UnlearningClassifier(net, method=method).fit(X, y), X, y


def test_finetuning_is_skorchs_sgd_step_from_the_pruned_weights():
    lr = 0.2
    method = WeightPruning(
        thresholds=0.1, n_neighbors=4, finetune_epochs=1, lr=lr, batch_size=None
    )
    model, X, y = _model(method)
    pruned = copy.deepcopy(model).set_params(method__finetune_epochs=0)
    pruned.method_ = pruned.method
    pruned.unlearn(X[:K], y[:K], X_retain=X[K:], y_retain=y[K:])
    theta = pruned.state_.theta
    assert (theta == 0).sum() > (model.state_.theta == 0).sum()
    module = copy.deepcopy(pruned.estimator_.module_).eval()  # holds the pruned theta
    opt = torch.optim.SGD(module.parameters(), lr=lr, weight_decay=WD)
    loss = nn.functional.cross_entropy(
        module(torch.as_tensor(X[K:], dtype=torch.float32)), torch.as_tensor(y[K:])
    )
    loss.backward()
    opt.step()
    expected = torch.cat([p.detach().reshape(-1) for p in module.parameters()])
    model.unlearn(X[:K], y[:K], X_retain=X[K:], y_retain=y[K:])
    assert_allclose(model.state_.theta.numpy(), expected.numpy(), atol=1e-6)


def test_wrong_number_of_thresholds_is_refused_at_fit():
    with pytest.raises(ValueError, match="one per nn.Linear layer .2 in"):
        _model(WeightPruning(thresholds=[0.1, 0.2, 0.3]))


@pytest.mark.parametrize("n_retain", [None, 2])
def test_missing_or_too_few_retained_rows_change_nothing(n_retain):
    model, X, y = _model(WeightPruning(n_neighbors=5))
    theta, n = model.state_.theta.clone(), len(model.ledger_)
    kw = {}
    if n_retain is not None:  # a valid request, but too few rows remain
        model.fit(X[: K + n_retain], y[: K + n_retain])
        theta, n = model.state_.theta.clone(), len(model.ledger_)
        kw = dict(X_retain=X[K : K + n_retain], y_retain=y[K : K + n_retain])
    with pytest.raises(ValueError, match="X_retain"):
        model.unlearn(X[:K], y[:K], **kw)
    assert torch.equal(model.state_.theta, theta)
    assert torch.equal(model.adapter_.get_theta(model.estimator_), theta)
    assert len(model.ledger_) == n
